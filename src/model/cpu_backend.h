// CpuBackend: the forward pass on the host's SIMD kernels (forward.cc, attention.cc).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/profiler.h"
#include "base/scratch_buffer.h"
#include "base/thread_pool.h"
#include "kernels/kernels.h"
#include "model/backend.h"
#include "model/hparams.h"
#include "model/kv_cache.h"
#include "model/layout_cache.h"
#include "model/weights.h"

namespace hangar::model {

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
  friend class CpuBackend;
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

// The weight layouts are this backend's business: construction puts the layers' matrices into
// the layouts this CPU's decode kernels read fastest (kernels::pack_row_pairs, Q5_0 on
// AVX-512), recorded in the backend's own Weights views. With the model's weights in memory
// they are rewritten in place (after which the model's ggml views of them are stale: one
// model, one CPU backend); with mapped weights (read-only) they come from a LayoutCache file in
// opts.layout_cache_dir (built on first use), or stay in the file's layout when that is empty
// or cannot be written. The embedding table and output matrix keep ggml layout.
class CpuBackend final : public Backend {
 public:
  CpuBackend(Model& model, ThreadPool& pool, const BackendOptions& opts);

  Device device() const override { return Device::kCpu; }
  std::string description() const override { return "cpu"; }
  KvCache& kv_cache() override { return kv_; }
  Status forward(std::span<const BatchToken> batch) override;
  uint64_t scratch_bytes() const override { return ctx_.bytes(); }
  void set_profiler(Profiler* p) override { ctx_.profiler = p; }
  Profiler* profiler() const override { return ctx_.profiler; }

  // Matrices put into another layout at construction.
  int packed_matrices() const { return packed_; }
  // The layout cache of a mapped model (empty path: none in use).
  const LayoutCache& layout_cache() const { return layouts_; }

 private:
  void run_layer(int32_t il, std::span<const BatchToken> batch, KvCache& kv, ForwardContext& ctx) const;
  void attention(int32_t il, std::span<const BatchToken> batch, KvCache& kv, ForwardContext& ctx) const;
  void compute_logits(std::span<const BatchToken> batch, ForwardContext& ctx) const;
  void matmul(const kernels::Matrix& w, const float* x, int64_t n, int64_t x_stride, float* y,
              int64_t y_stride, ForwardContext& ctx, const char* op = nullptr) const;

  HParams hp_;
  Weights w_;  // the model's views, with this backend's layouts recorded
  KvCache kv_;
  ForwardContext ctx_;
  LayoutCache layouts_;  // owns the mapping that rearranged matrices of mapped weights point into
  int packed_ = 0;
};

}  // namespace hangar::model
