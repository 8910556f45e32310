// The manager's view of the engine: a loaded model and the loader that makes one (injected).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"
#include "manager/model_record.h"

namespace hangar::manager {

class EngineModel;

// Where a model's weights are. A loaded model is on the GPU (serving from GPU memory) or on the
// host (a CPU model, or a GPU model demoted to page-locked host memory); an unloaded one is on disk.
enum class ModelTier { kDisk, kHost, kGpu };
inline const char* model_tier_name(ModelTier t) {
  return t == ModelTier::kGpu ? "gpu" : t == ModelTier::kHost ? "host" : "disk";
}

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
  // The engine behind it; null for test fakes (the server's loader always makes one).
  virtual EngineModel* engine_model() { return nullptr; }
  // True when the weights are used in place from the file (mapped, not copied): rewriting the
  // file changes the model, so the cache refuses a loaded model whose file changed.
  virtual bool weights_from_file() const { return false; }

  // The GPU tier. A CPU model has none (these defaults). memory_bytes() counts host memory
  // only (a demoted model's page-locked copy included) and gpu_bytes() GPU memory, so that the
  // cache's two budgets each count their own bytes. The queries are read under the cache's
  // lock, possibly while another thread is inside demote()/promote() of the same model, so they
  // must be cheap and thread-safe; demote() and promote() copy outside the lock (a copy of one
  // model holds up no other), never two at once for one model.
  virtual bool has_gpu_tier() const { return false; }
  virtual ModelTier tier() const { return ModelTier::kHost; }
  virtual uint64_t gpu_bytes() const { return 0; }  // held in GPU memory now
  // The host bytes demote() adds (the page-locked copy of the weights), known before it runs.
  virtual uint64_t host_copy_bytes() const { return 0; }
  // GPU -> page-locked host memory, freeing the GPU copy (and the KV cache's contents): only
  // for an idle model (the cache holds no lease on it). A no-op when already on the host.
  virtual Status demote() { return Error("the model has no GPU tier"); }
  // Host -> GPU: a copy over the bus, not a load. A no-op when already on the GPU.
  virtual Status promote() { return Error("the model has no GPU tier"); }
};

// One model's engine sizes from its settings (settings.h); a 0 leaves the loader's own option.
struct ModelLoadSettings {
  int32_t ctx = 0, parallel = 0, batch_tokens = 0, threads = 0;
  uint64_t memory_limit = 0;  // the cache refuses a model whose footprint exceeds it (507)
  std::string device;         // "auto", "cpu" or "cuda"; empty: the loader's own
};
using LoadSettingsFn = std::function<ModelLoadSettings(const std::string& id)>;

// What a loader will do for one model, decided from its header before any load.
struct LoadPlan {
  uint64_t estimate_bytes = 0;  // expected footprint: weights + KV cache + scratch
  // The load settings the footprint depends on, in one canonical string ("ctx=4096
  // parallel=4 ..."). A footprint measured under other settings does not apply.
  std::string settings;
  int32_t n_vocab = 0;  // 0: unknown (the header could not be read)
  int32_t n_ctx = 0;    // tokens per sequence the model will get; 0: unknown
  // The model's memory_limit setting (0: none). The cache refuses a model whose admission
  // figure, or whose footprint once loaded, exceeds it: it can never fit.
  uint64_t memory_limit = 0;
  // GPU bytes the model will hold once loaded (weights, KV cache, scratch); 0: it loads on the
  // host and has no GPU tier. Its host bytes (estimate_bytes) are what it keeps in host memory.
  uint64_t gpu_estimate_bytes = 0;
};

// Reports how far a load is (0..1) and what it is doing; called on the loading thread.
using LoadProgress = std::function<void(double fraction, std::string_view stage)>;

// Loads model files. Implementations must be thread-safe: the cache calls load() for
// different models from several threads at once (never twice at once for one model).
class ModelLoader {
 public:
  virtual ~ModelLoader() = default;
  // The plan for `rec` under the current settings; cheap after the first call per file version.
  virtual LoadPlan plan(const ModelRecord& rec) = 0;
  // Loads rec.path. An Error names the file and what was wrong with it. `progress` may be empty.
  virtual Result<std::shared_ptr<LoadedModel>> load(const ModelRecord& rec, const LoadProgress& progress) = 0;
  // Where per-model sizes come from (the manager installs its settings before any load);
  // plans and loads then use them. Loaders without per-model sizes ignore it.
  virtual void set_load_settings(LoadSettingsFn fn) {}
};

}  // namespace hangar::manager
