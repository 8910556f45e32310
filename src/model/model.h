// Model: a loaded GGUF transformer (hyper-parameters + weights in the mapping) and its forward pass.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/profiler.h"
#include "base/result.h"
#include "base/scratch_buffer.h"
#include "base/thread_pool.h"
#include "gguf/gguf_file.h"
#include "kernels/kernels.h"
#include "model/architecture.h"
#include "model/hparams.h"
#include "model/kv_cache.h"
#include "model/layout_cache.h"
#include "model/weights.h"

namespace hangar::model {

// One token of a forward batch. Tokens of one sequence appear in increasing position order;
// `blocks` is that sequence's block table and must already cover positions [0, pos]. The token's
// key and value are written at `pos`; it attends to positions [0, pos] of its own sequence.
struct BatchToken {
  int32_t token = 0;
  int32_t pos = 0;
  const int32_t* blocks = nullptr;
  float* logits = nullptr;  // n_vocab floats to fill, or nullptr when not needed
  // n_embd floats: the hidden state after the output norm (what llama.cpp's embeddings pool),
  // or nullptr when not needed.
  float* embd = nullptr;
};

// Scratch memory for forward passes, sized once; one per engine thread. Not thread-safe.
class ForwardContext {
 public:
  ForwardContext(const HParams& hp, ThreadPool& pool, int32_t max_batch_tokens, int32_t max_ctx);
  ThreadPool& pool() { return pool_; }
  int32_t max_batch_tokens() const { return max_batch_; }
  // Bytes of the scratch buffers (activations, logits, quantized activations).
  uint64_t bytes() const;
  // Set to collect a per-op time breakdown; null (the default) costs nothing.
  Profiler* profiler = nullptr;

 private:
  friend class Model;
  ThreadPool& pool_;
  int32_t max_batch_, max_ctx_;
  // Sized for a whole batch but never written at construction (ScratchBuffer): a load costs no
  // memset and no page faults, and a short prompt touches only the rows it uses.
  ScratchBuffer<float> x_, xb_, q_, k_, v_, attn_, gate_, up_, rope_cos_, rope_sin_, out_x_, out_logits_;
  std::vector<ScratchBuffer<float>> scores_;  // per thread: attention scratch
  // Grows every thread's attention scratch to at least `floats`.
  void reserve_scores(size_t floats) {
    for (auto& s : scores_)
      if (s.size() < floats) s.resize(floats);
  }
  std::vector<const uint16_t*> kv_rows_;    // a lone sequence's cached key, then value rows
  kernels::MatmulScratch matmul_scratch_;
};

class Model {
 public:
  // Opens and validates the file: known architecture, every tensor present with the right shape
  // and a supported type. Errors name the file and the tensor, key or type at fault.
  // kMemory copies the file into huge-page memory (inference); kMap uses it in place.
  // LongArrays::kSkip leaves the vocabulary undecoded (a tokenizer kept from an earlier load
  // of the same file needs none) until read_long_arrays().
  // `progress` (optional) follows kMemory's copy.
  static Result<std::unique_ptr<Model>> load(const std::string& path,
                                             MappedFile::Backing backing = MappedFile::Backing::kMap,
                                             gguf::File::LongArrays arrays = gguf::File::LongArrays::kRead,
                                             const ByteProgress& progress = {});

  const HParams& hparams() const { return hp_; }
  const gguf::File& file() const { return file_; }
  // Decodes the metadata arrays a kSkip load left (see gguf::File::read_long_arrays).
  Status read_long_arrays() { return file_.read_long_arrays(); }
  // Bytes of tensor data the forward pass reads (all weights).
  uint64_t weight_bytes() const { return weight_bytes_; }
  // Bytes of the weights read per decoded token (everything but the unused embedding rows).
  uint64_t bytes_per_token() const;

  // Runs the batch through the network, writing keys/values into `kv` and logits where asked.
  // Thread-safe for distinct (kv, ctx) pairs. Errors: a token id outside the vocabulary, a
  // batch larger than the context was sized for.
  Status forward(std::span<const BatchToken> batch, KvCache& kv, ForwardContext& ctx) const;

  // Puts the layers' matrices into the layouts this CPU's decode kernels read fastest
  // (kernels::pack_row_pairs); returns how many. With weights in memory they are rewritten in
  // place; with mapped weights (read-only) they come from a LayoutCache file in
  // `layout_cache_dir` (built on first use), or stay in the file's layout when that is empty or
  // cannot be written. Call once, before any forward pass. The embedding table and output
  // matrix keep ggml layout. `check_folios`: see LayoutCache::open_or_build.
  int pack_for_decode(ThreadPool& pool, const std::string& layout_cache_dir = "", bool check_folios = true);
  // The layout cache of a mapped model (empty path: none in use).
  const LayoutCache& layout_cache() const { return layouts_; }

 private:
  Model() = default;
  void run_layer(int32_t il, std::span<const BatchToken> batch, KvCache& kv, ForwardContext& ctx) const;
  void attention(int32_t il, std::span<const BatchToken> batch, KvCache& kv, ForwardContext& ctx) const;
  void compute_logits(std::span<const BatchToken> batch, ForwardContext& ctx) const;
  void matmul(const kernels::Matrix& w, const float* x, int64_t n, int64_t x_stride, float* y,
              int64_t y_stride, ForwardContext& ctx, const char* op = nullptr) const;

  gguf::File file_;
  const Architecture* arch_ = nullptr;
  HParams hp_;
  Weights w_;
  LayoutCache layouts_;  // owns the mapping that rearranged matrices point into
  uint64_t weight_bytes_ = 0;
};

}  // namespace hangar::model
