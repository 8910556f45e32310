// EngineLoader: the real ModelLoader; loads an Engine and starts its Scheduler for the cache.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/profiler.h"
#include "base/thread_pool.h"
#include "engine/engine.h"
#include "engine/scheduler.h"
#include "engine/tokenizer_cache.h"
#include "manager/model_loader.h"

namespace hangar::manager {

struct EngineLoaderOptions {
  int32_t ctx = 4096;           // tokens per sequence (capped by each model's training context)
  int32_t parallel = 4;         // sequences per model (--parallel)
  int32_t batch_tokens = 512;   // tokens per forward pass
  int32_t extra_kv_blocks = 0;  // KV blocks beyond parallel * ctx, kept for reusable prefixes
  bool prefault = true;         // read every weight page at load (measured, no first-request faults)
  bool weights_in_memory = true;  // false: the file mapped in place (see engine::EngineOptions)
  std::string layout_cache_dir;   // mapped weights' rearranged matrices (serve: <state>/layouts)
  model::Device device = model::Device::kCpu;  // serve --device
  Profiler* profiler = nullptr; // shared by every model's engine (serve --profile); may be null
  // Where models' prompt prefixes go when they are unloaded and come back from on a later load
  // (serve --kv-disk-budget); null: nowhere. Must outlive every model loaded.
  engine::KvStore* kv_store = nullptr;
  // Paces load progress (events at most every 250 ms, log lines every 5 s); null: a steady
  // clock. Must outlive the loader.
  const Clock* clock = nullptr;
};

// Where a loaded model's bytes go, as measured right after the load.
struct MemoryBreakdown {
  uint64_t weights_resident = 0, kv_capacity = 0, scratch = 0;
  uint64_t total() const { return weights_resident + kv_capacity + scratch; }
};

// A model resident for serving: its Engine and the Scheduler thread that owns it. Destroying it
// stops the scheduler (cancelling whatever it still held) before the engine goes. Requests
// reach the engine only through scheduler(); everything else here is immutable after load and
// thread-safe to read.
class EngineModel final : public LoadedModel {
 public:
  // Measures the engine (and the scheduler it starts) once, here. `own_pool` (may be null) is
  // the pool of a model whose settings give it its own thread count; it outlives the engine
  // that computes on it.
  EngineModel(std::string id, std::unique_ptr<engine::Engine> engine, std::string chat_template,
              std::unique_ptr<ThreadPool> own_pool = nullptr, engine::KvPersistence persist = {});
  // Stops the scheduler, which first saves its prefixes to the KV store (when there is one).
  ~EngineModel() override;

  // The measured host total; fixed after load (the KV cache and scratch are allocated up
  // front), plus the page-locked copy of the weights while a GPU model is demoted.
  uint64_t memory_bytes() const override { return memory_.total() + (demoted_.load() ? host_copy_bytes_ : 0); }
  // The GPU tier of a model computing on the GPU (a CPU model has none): the engine's
  // offload/reload on the scheduler thread (Scheduler::offload_engine, reload_engine). GPU
  // bytes are measured at load; a reload allocates the same buffers again.
  bool has_gpu_tier() const override { return gpu_bytes_ > 0; }
  ModelTier tier() const override { return has_gpu_tier() && !demoted_.load() ? ModelTier::kGpu : ModelTier::kHost; }
  uint64_t gpu_bytes() const override { return demoted_.load() ? 0 : gpu_bytes_; }
  uint64_t host_copy_bytes() const override { return host_copy_bytes_; }
  Status demote() override;
  Status promote() override;
  EngineModel* engine_model() override { return this; }
  const MemoryBreakdown& memory() const { return memory_; }
  // Drops finished sequences' KV blocks unused that long and gives their memory back.
  uint64_t trim_idle(int64_t unused_for_ms) override { return scheduler_->trim_prefixes(unused_for_ms); }
  bool weights_lost() const override { return engine_->weights_pulled_away(); }
  bool weights_from_file() const override { return engine_->weights_mapped(); }
  const std::string& id() const { return id_; }
  engine::Scheduler& scheduler() { return *scheduler_; }
  const Tokenizer& tokenizer() const { return engine_->tokenizer(); }
  // Token data for grammar-constrained sampling, built on first use. Thread-safe.
  std::shared_ptr<const grammar::TokenVocab> grammar_vocab() const { return engine_->grammar_vocab(); }
  int32_t n_ctx() const { return engine_->n_ctx(); }
  int32_t n_vocab() const { return engine_->n_vocab(); }
  const model::HParams& hparams() const { return engine_->hparams(); }
  int32_t parallel() const { return engine_->options().n_seq; }
  model::Device device() const { return engine_->device(); }
  // tokenizer.chat_template from the file; empty when the model has none.
  const std::string& chat_template() const { return chat_template_; }

 private:
  std::string id_;
  std::unique_ptr<ThreadPool> own_pool_;  // declared before engine_: destroyed after it
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<engine::Scheduler> scheduler_;  // declared after engine_: destroyed first
  std::string chat_template_;
  MemoryBreakdown memory_;
  uint64_t gpu_bytes_ = 0, host_copy_bytes_ = 0;  // measured at load; 0 on the CPU
  std::atomic<bool> demoted_{false};
};

// Loads models with one shared ThreadPool, so that models computing at the same time take
// turns on the cores instead of oversubscribing them (the pool runs one job at a time).
// Thread-safe: the cache calls load() and plan() from several threads at once.
// The pool and profiler must outlive the loader and every model it loaded.
class EngineLoader final : public ModelLoader {
 public:
  EngineLoader(ThreadPool& pool, EngineLoaderOptions options) : pool_(pool), options_(options) {}

  // engine::estimate_memory for the model's hyper-parameters (read once per file version from
  // its header, then cached) plus the scheduler's logits; the settings string names ctx,
  // parallel, batch tokens, extra KV blocks and the weights' backing. When the header cannot be
  // read the estimate is the file size (the load will then report why).
  LoadPlan plan(const ModelRecord& rec) override;
  // Loads rec.path, prefaults the weights, measures the memory and starts the scheduler.
  Result<std::shared_ptr<LoadedModel>> load(const ModelRecord& rec, const LoadProgress& progress) override;
  // Per-model ctx, parallel, batch_tokens, threads and memory_limit (the model's settings):
  // a threads count other than the shared pool's gives that model a pool of its own.
  void set_load_settings(LoadSettingsFn fn) override;

  const EngineLoaderOptions& options() const { return options_; }
  // Tokenizers kept across loads of unchanged files (a switch back to a model skips its
  // vocabulary).
  engine::TokenizerCache& tokenizers() { return tokenizers_; }
  // Loads that checked the page cache's folio size of their weights and layout cache file:
  // once per file version, not at every switch back to it.
  int64_t folio_checks() const { return folio_checks_.load(); }

 private:
  struct HeaderFacts {
    uint64_t size = 0;
    int64_t mtime_ns = 0;
    model::HParams hp;
  };
  Result<model::HParams> header_hparams(const ModelRecord& rec);
  // The options for one model: its settings over the loader's own.
  EngineLoaderOptions options_for(const std::string& id, ModelLoadSettings* settings);
  static engine::EngineOptions engine_options(const EngineLoaderOptions& o);

  ThreadPool& pool_;
  const EngineLoaderOptions options_;
  std::mutex mu_;
  std::map<std::string, HeaderFacts> headers_;  // by path
  LoadSettingsFn load_settings_;  // guarded by mu_
  engine::TokenizerCache tokenizers_;
  static constexpr size_t kFolioChecksKept = 64;
  std::vector<engine::FileIdentity> folios_checked_;  // guarded by mu_; the last few
  std::atomic<int64_t> folio_checks_{0};
};

}  // namespace hangar::manager
