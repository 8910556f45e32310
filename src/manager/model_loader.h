// The manager's view of the engine: a loaded model and the loader that makes one (injected).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/result.h"
#include "manager/model_record.h"

namespace hangar::manager {

// A model resident in memory. The engine's model object implements this; the cache owns it
// through shared_ptr and destroys it when it is evicted and the last lease is gone.
class LoadedModel {
 public:
  virtual ~LoadedModel() = default;
  // Bytes this model holds now: resident weights, KV cache and buffers, as measured after
  // load (not an estimate). Called under the cache's lock; must be cheap and thread-safe.
  virtual uint64_t memory_bytes() const = 0;
  // Returns to the system the memory of cached state that nothing used for `unused_for_ms`
  // (the KV blocks of finished sequences kept for prefix reuse); returns the bytes. Called by
  // the background worker, never under the cache's lock; may wait for one forward pass.
  virtual uint64_t trim_idle(int64_t unused_for_ms) { return 0; }
  // True when the weights were pulled away under the model (its mapped file was truncated):
  // its answers are garbage from then on and it should be unloaded.
  virtual bool weights_lost() const { return false; }
};

// One model's engine sizes from its settings (settings.h); a 0 leaves the loader's own option.
struct ModelLoadSettings {
  int32_t ctx = 0, parallel = 0, batch_tokens = 0, threads = 0;
  uint64_t memory_limit = 0;  // a load whose estimate or measured bytes exceed it is refused
};
using LoadSettingsFn = std::function<ModelLoadSettings(const std::string& id)>;

// Loads model files. Implementations must be thread-safe: the cache calls load() for
// different models from several threads at once (never twice at once for one model).
class ModelLoader {
 public:
  virtual ~ModelLoader() = default;
  // Bytes the model is expected to take once loaded with a context of `ctx` tokens (0 = the
  // model's own context length); decides admission before the load. See estimate_load_bytes().
  virtual uint64_t estimate_bytes(const ModelRecord& rec, int ctx) = 0;
  // Loads rec.path. An Error names the file and what was wrong with it.
  virtual Result<std::shared_ptr<LoadedModel>> load(const ModelRecord& rec) = 0;
  // Where per-model sizes come from (the manager installs its settings before any load);
  // estimates and loads then use them. Loaders without per-model sizes ignore it.
  virtual void set_load_settings(LoadSettingsFn fn) {}
};

}  // namespace hangar::manager
