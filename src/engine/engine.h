// Engine: a loaded model with its tokenizer, KV cache and scratch; evaluates tokens of sequences.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/profiler.h"
#include "base/result.h"
#include "base/thread_pool.h"
#include "engine/sequence.h"
#include "engine/tokenizer_cache.h"
#include "grammar/token_vocab.h"
#include "model/backend.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace hangar::engine {

struct EngineOptions {
  int32_t n_ctx = 4096;          // tokens per sequence (capped by the model's training context)
  int32_t n_seq = 1;             // sequences the KV cache is sized for (--parallel)
  int32_t batch_tokens = 512;    // most tokens per forward pass (prefill chunk)
  int32_t extra_kv_blocks = 0;   // blocks beyond n_seq * n_ctx, kept for reusable prefixes
  // Weights copied into huge-page memory (private: the file cannot change them; the copy costs
  // ~0.1-0.2 s a GB); false: the file mapped in place (MappedFile::Backing::kWeights: huge-page
  // folios of the page cache, loads in milliseconds when the file is cached). The CUDA
  // backend always maps the file: it reads it once, to upload.
  bool weights_in_memory = true;
  // Mapped weights: where the matrices rearranged for the decode kernels are kept
  // (model::LayoutCache); empty: mapped weights keep the file's layout.
  std::string layout_cache_dir;
  // Tokenizers of earlier loads, by file identity (the manager's loader keeps one); null:
  // every load decodes the vocabulary. Must outlive the load call.
  TokenizerCache* tokenizers = nullptr;
  // Mapped weights: whether populating the weights and the layout cache file checks their
  // page-cache folio size (MappedFile::populate reads /proc/self/smaps, several ms in a big
  // process). A caller that checked this file version at an earlier load may turn it off.
  bool check_folios = true;
  model::Device device = model::Device::kCpu;  // where the forward pass runs
};

// Memory of a loaded model by kind: weights, KV cache (F16 keys and values, all layers) and
// forward scratch. Engine::memory() measures it; estimate_memory() predicts it.
struct MemoryEstimate {
  uint64_t weights = 0, kv_cache = 0, scratch = 0;
  uint64_t total() const { return weights + kv_cache + scratch; }
};
// One sequence's part of an evaluation: append `tokens` to `seq` and, if `logits` is set, write
// the logits after the last token (n_vocab floats), or after every token when `all_logits`.
struct EvalItem {
  Sequence* seq = nullptr;
  std::span<const TokenId> tokens;
  float* logits = nullptr;
  bool all_logits = false;
  // When set: n_embd floats per token of the item, each token's final-normed hidden state.
  float* embd = nullptr;
};

// Not thread-safe: one thread (the CLI, or the scheduler's loop) drives an Engine.
class Engine {
 public:
  // Loads the model and its tokenizer; errors name the file and what was wrong. `progress`
  // (optional) follows the copy of the weights (weights_in_memory).
  static Result<std::unique_ptr<Engine>> load(const std::string& path, const EngineOptions& opts,
                                              ThreadPool& pool, const ByteProgress& progress = {});
  ~Engine();

  const model::Model& model() const { return *model_; }
  const model::HParams& hparams() const { return model_->hparams(); }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  // The token data that grammar-constrained sampling needs, built on first use (tens of
  // milliseconds for a 150k vocabulary) and kept with the model. Thread-safe.
  std::shared_ptr<const grammar::TokenVocab> grammar_vocab() const;
  model::KvCache& kv_cache() { return backend_->kv_cache(); }
  model::Backend& backend() { return *backend_; }
  model::Device device() const { return backend_->device(); }
  const EngineOptions& options() const { return opts_; }
  int32_t n_ctx() const { return opts_.n_ctx; }
  int32_t n_vocab() const { return model_->hparams().n_vocab; }
  ThreadPool& pool() { return pool_; }
  // Every setting that changes what the KV cache holds for a given token prefix of this model
  // file: the attention shape, the rotary settings, the KV type and block size, the device and
  // the version of the forward pass's numerics. Saved prefixes (KvStore) are used only under
  // the same string.
  std::string kv_layout() const;
  // Collects per-op times of forward passes (and, through the scheduler, sampling); null = off.
  void set_profiler(Profiler* p) { backend_->set_profiler(p); }
  Profiler* profiler() const { return backend_->profiler(); }

  // Runs the items together (decode steps of many sequences and prefill chunks of others share
  // forward passes of up to batch_tokens tokens). Error, with no sequence changed, when a
  // sequence would exceed n_ctx or the KV cache has no room; or on an invalid token id.
  Status eval(std::span<const EvalItem> items);

  // Bytes the engine holds beyond the mapped weights: KV cache in use and scratch buffers.
  uint64_t kv_bytes_used() const { return backend_->kv_cache().used_bytes(); }
  uint64_t kv_bytes_capacity() const { return backend_->kv_cache().capacity_bytes(); }
  uint64_t scratch_bytes() const { return backend_->scratch_bytes(); }
  // Bytes of the weight file resident in RAM now (mincore over the mapping; O(pages), so call
  // it after a load, not per request).
  // On a GPU the weights live in device memory: the mapping read at load is not counted.
  uint64_t weights_resident_bytes() const {
    return device() == model::Device::kCpu ? model_->file().mapped().resident_bytes() : 0;
  }
  // What this engine holds in host memory now: resident weight pages (mincore: call it after a
  // load, not per request), the KV cache's capacity and the scratch buffers.
  MemoryEstimate memory() const;
  // Maps every page of the weights so that the first request does not pay for page faults and
  // the resident size can be measured (one madvise; on old kernels the pool's threads touch them).
  // The folio size is checked as EngineOptions::check_folios says. `progress` (optional) is
  // told as the pages come in. Nothing to do off the CPU.
  void prefault_weights(const ByteProgress& progress = {});
  // True when the weights file was truncated under the mapping: the lost pages read as zeros
  // and the model's output is garbage. The owner should stop using the engine.
  bool weights_pulled_away() const { return model_->file().mapped().pulled_away(); }
  // True when the weights are the file's pages (mapped), not a private copy.
  bool weights_mapped() const { return model_->file().mapped().backing() != MappedFile::Backing::kMemory; }
  // The version of the file these weights came from (the same stat before and after the open);
  // nullopt when the file changed during the load or could not be stat'ed.
  const std::optional<FileIdentity>& weights_identity() const { return identity_; }

  // GPU tiers (model::Backend::offload / reload): offload needs every sequence released.
  Status offload() { return backend_->offload(); }
  Status reload() { return backend_->reload(); }
  bool offloaded() const { return backend_->offloaded(); }
  // Bytes in device memory (0 on the CPU) and page-locked host bytes of offloaded weights.
  uint64_t device_bytes() const { return backend_->device_bytes(); }
  uint64_t host_tier_bytes() const { return backend_->host_tier_bytes(); }
  // The page-locked host bytes offload() takes (0 on the CPU).
  uint64_t offload_bytes() const { return backend_->offload_bytes(); }

 private:
  Engine(ThreadPool& pool) : pool_(pool) {}
  ThreadPool& pool_;
  EngineOptions opts_;
  std::unique_ptr<model::Model> model_;
  std::optional<FileIdentity> identity_;
  std::unique_ptr<Tokenizer> tokenizer_;
  mutable std::once_flag grammar_vocab_once_;
  mutable std::shared_ptr<const grammar::TokenVocab> grammar_vocab_;
  std::unique_ptr<model::Backend> backend_;
};

// The KV blocks Engine::load allocates with `opts` for a model trained on n_ctx_train tokens.
int32_t kv_blocks_for(const EngineOptions& opts, int32_t n_ctx_train);
// Before a load, for admission and `inspect`: weights as `weight_bytes` (the file's tensors),
// the KV cache Engine::load would allocate, and the forward scratch at opts.batch_tokens.
MemoryEstimate estimate_memory(const model::HParams& hp, uint64_t weight_bytes, const EngineOptions& opts);

}  // namespace hangar::engine
