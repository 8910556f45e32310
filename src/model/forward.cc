// The CPU backend's decoder-only transformer forward pass over a batch of tokens (llama, qwen2, qwen3).
#include <cmath>
#include <cstring>

#include "model/cpu_backend.h"

namespace hangar::model {
namespace {
// Output rows computed per output matmul, bounding the logits buffer (rows x n_vocab floats).
constexpr int32_t kLogitsChunk = 16;

const char* matmul_op_name(TensorType t) {
  switch (t) {
    case TensorType::kF32: return "matmul f32";
    case TensorType::kF16: return "matmul f16";
    case TensorType::kBF16: return "matmul bf16";
    case TensorType::kQ8_0: return "matmul q8_0";
    case TensorType::kQ4_0: return "matmul q4_0";
    case TensorType::kQ4_1: return "matmul q4_1";
    case TensorType::kQ5_0: return "matmul q5_0";
    case TensorType::kQ5_1: return "matmul q5_1";
    case TensorType::kQ4_K: return "matmul q4_K";
    case TensorType::kQ5_K: return "matmul q5_K";
    case TensorType::kQ6_K: return "matmul q6_K";
    default: return "matmul other";
  }
}
}  // namespace

ForwardContext::ForwardContext(const HParams& hp, ThreadPool& pool, int32_t max_batch_tokens,
                               int32_t max_ctx)
    : pool_(pool), max_batch_(max_batch_tokens), max_ctx_(max_ctx) {
  size_t b = static_cast<size_t>(max_batch_tokens);
  x_.resize(b * hp.n_embd);
  xb_.resize(b * hp.n_embd);
  q_.resize(b * hp.q_dim());
  k_.resize(b * hp.kv_dim());
  v_.resize(b * hp.kv_dim());
  attn_.resize(b * hp.q_dim());
  gate_.resize(b * hp.n_ff);
  up_.resize(b * hp.n_ff);
  rope_cos_.resize(b * hp.n_rot / 2);
  rope_sin_.resize(b * hp.n_rot / 2);
  size_t out_rows = std::min<size_t>(b, kLogitsChunk);
  out_x_.resize(out_rows * hp.n_embd);
  out_logits_.resize(out_rows * hp.n_vocab);
  // Per-thread attention scratch, sized by each attention path as it needs (reserve_scores).
  scores_.resize(pool.size());
}

uint64_t ForwardContext::bytes() const {
  uint64_t floats = 0;
  for (const auto* v : {&x_, &xb_, &q_, &k_, &v_, &attn_, &gate_, &up_, &rope_cos_, &rope_sin_, &out_x_, &out_logits_})
    floats += v->size();
  for (const auto& s : scores_) floats += s.size();
  return floats * sizeof(float) + kv_rows_.capacity() * sizeof(kv_rows_[0]) + matmul_scratch_.capacity_bytes();
}

void CpuBackend::matmul(const kernels::Matrix& w, const float* x, int64_t n, int64_t x_stride, float* y,
                   int64_t y_stride, ForwardContext& ctx, const char* op) const {
  ProfileScope scope(ctx.profiler, op ? op : matmul_op_name(w.type));
  kernels::matmul(w, x, n, x_stride, y, y_stride, ctx.pool_, ctx.matmul_scratch_);
}

Status CpuBackend::forward(std::span<const BatchToken> batch) {
  KvCache& kv = kv_;
  ForwardContext& ctx = ctx_;
  const int32_t n = static_cast<int32_t>(batch.size());
  if (n == 0) return Status::Ok();
  if (n > ctx.max_batch_)
    return Error("batch of " + std::to_string(n) + " tokens exceeds the " +
                 std::to_string(ctx.max_batch_) + " the context was sized for");
  for (const auto& t : batch) {
    if (t.token < 0 || t.token >= hp_.n_vocab)
      return Error("token id " + std::to_string(t.token) + " is outside the vocabulary [0, " +
                   std::to_string(hp_.n_vocab) + ")");
    if (t.pos < 0 || t.pos >= ctx.max_ctx_)
      return Error("position " + std::to_string(t.pos) + " is outside the context of " +
                   std::to_string(ctx.max_ctx_) + " tokens");
  }
  const int32_t d = hp_.n_embd;
  {
    ProfileScope scope(ctx.profiler, "embed");
    for (int32_t i = 0; i < n; ++i) {
      const auto* row = static_cast<const uint8_t*>(w_.token_embd.data) +
                        static_cast<size_t>(batch[i].token) * w_.token_embd.row_bytes;
      kernels::dequantize_row(w_.token_embd.type, row, &ctx.x_[static_cast<size_t>(i) * d], d);
    }
  }
  {
    // Rotation angles depend only on the position, so compute them once for all layers. The
    // angles follow ggml's float recurrence (theta *= base^(-2/n_rot) per pair) rather than an
    // exact power: the golden outputs are sensitive to the last bits of q and k.
    ProfileScope scope(ctx.profiler, "rope");
    const int32_t half = hp_.n_rot / 2;
    const float theta_scale = std::pow(hp_.rope_base, -2.0f / static_cast<float>(hp_.n_rot));
    for (int32_t i = 0; i < n; ++i) {
      float theta = static_cast<float>(batch[i].pos);
      for (int32_t j = 0; j < half; ++j) {
        const float ff = w_.rope_freq_factors.empty() ? 1.0f : w_.rope_freq_factors[j];
        const float angle = hp_.rope_freq_scale * (theta / ff);
        ctx.rope_cos_[static_cast<size_t>(i) * half + j] = std::cos(angle);
        ctx.rope_sin_[static_cast<size_t>(i) * half + j] = std::sin(angle);
        theta *= theta_scale;
      }
    }
  }
  for (int32_t il = 0; il < hp_.n_layer; ++il) run_layer(il, batch, kv, ctx);
  compute_logits(batch, ctx);
  return Status::Ok();
}

void CpuBackend::run_layer(int32_t il, std::span<const BatchToken> batch, KvCache& kv,
                      ForwardContext& ctx) const {
  const LayerWeights& l = w_.layers[il];
  const int32_t n = static_cast<int32_t>(batch.size());
  const int32_t d = hp_.n_embd, qd = hp_.q_dim(), kvd = hp_.kv_dim(), hd = hp_.head_dim;
  float* x = ctx.x_.data();
  float* xb = ctx.xb_.data();
  {
    ProfileScope scope(ctx.profiler, "norm");
    for (int32_t i = 0; i < n; ++i)
      kernels::rms_norm(x + static_cast<size_t>(i) * d, l.attn_norm.data(), xb + static_cast<size_t>(i) * d,
                        d, hp_.rms_eps);
  }
  matmul(l.wq, xb, n, d, ctx.q_.data(), qd, ctx);
  matmul(l.wk, xb, n, d, ctx.k_.data(), kvd, ctx);
  matmul(l.wv, xb, n, d, ctx.v_.data(), kvd, ctx);
  {
    ProfileScope scope(ctx.profiler, "rope");
    const int32_t half = hp_.n_rot / 2;
    for (int32_t i = 0; i < n; ++i) {
      float* q = &ctx.q_[static_cast<size_t>(i) * qd];
      float* k = &ctx.k_[static_cast<size_t>(i) * kvd];
      float* v = &ctx.v_[static_cast<size_t>(i) * kvd];
      if (hp_.qkv_bias) {
        kernels::add(q, l.bq.data(), q, qd);
        kernels::add(k, l.bk.data(), k, kvd);
        kernels::add(v, l.bv.data(), v, kvd);
      }
      if (hp_.qk_norm) {
        for (int32_t h = 0; h < hp_.n_head; ++h)
          kernels::rms_norm(q + h * hd, l.q_norm.data(), q + h * hd, hd, hp_.rms_eps);
        for (int32_t h = 0; h < hp_.n_head_kv; ++h)
          kernels::rms_norm(k + h * hd, l.k_norm.data(), k + h * hd, hd, hp_.rms_eps);
      }
      const float* c = &ctx.rope_cos_[static_cast<size_t>(i) * half];
      const float* s = &ctx.rope_sin_[static_cast<size_t>(i) * half];
      const bool neox = hp_.rope_style == RopeStyle::kNeox;
      kernels::rope(q, hp_.n_head, hd, hp_.n_rot, neox, c, s);
      kernels::rope(k, hp_.n_head_kv, hd, hp_.n_rot, neox, c, s);
      const int32_t pos = batch[i].pos, bt = kv.block_tokens();
      const int32_t block = batch[i].blocks[pos / bt];
      kernels::f32_to_f16_row(k, kv.k(il, block, pos % bt), kvd);
      kernels::f32_to_f16_row(v, kv.v(il, block, pos % bt), kvd);
    }
  }
  attention(il, batch, kv, ctx);
  // x += attn @ Wo^T, via xb as the projection's output.
  matmul(l.wo, ctx.attn_.data(), n, qd, xb, d, ctx);
  {
    ProfileScope scope(ctx.profiler, "norm");
    kernels::add(x, xb, x, static_cast<int64_t>(n) * d);
    for (int32_t i = 0; i < n; ++i)
      kernels::rms_norm(x + static_cast<size_t>(i) * d, l.ffn_norm.data(), xb + static_cast<size_t>(i) * d,
                        d, hp_.rms_eps);
  }
  const int32_t ff = hp_.n_ff;
  matmul(l.w_gate, xb, n, d, ctx.gate_.data(), ff, ctx);
  matmul(l.w_up, xb, n, d, ctx.up_.data(), ff, ctx);
  {
    ProfileScope scope(ctx.profiler, "swiglu");
    kernels::silu_mul(ctx.gate_.data(), ctx.up_.data(), ctx.gate_.data(), static_cast<int64_t>(n) * ff);
  }
  matmul(l.w_down, ctx.gate_.data(), n, ff, xb, d, ctx);
  {
    ProfileScope scope(ctx.profiler, "norm");
    kernels::add(x, xb, x, static_cast<int64_t>(n) * d);
  }
}

void CpuBackend::compute_logits(std::span<const BatchToken> batch, ForwardContext& ctx) const {
  const int32_t d = hp_.n_embd, nv = hp_.n_vocab;
  std::vector<float*> dest;
  const int32_t n = static_cast<int32_t>(batch.size());
  for (int32_t i = 0; i <= n; ++i) {
    if (i < n && (batch[i].logits || batch[i].embd)) {
      ProfileScope scope(ctx.profiler, "norm");
      float* normed = batch[i].logits ? &ctx.out_x_[dest.size() * d] : batch[i].embd;
      kernels::rms_norm(&ctx.x_[static_cast<size_t>(i) * d], w_.output_norm.data(), normed, d, hp_.rms_eps);
      if (batch[i].logits && batch[i].embd) std::memcpy(batch[i].embd, normed, sizeof(float) * d);
      if (batch[i].logits) dest.push_back(batch[i].logits);
    }
    const bool flush = !dest.empty() && (i == n || dest.size() == static_cast<size_t>(kLogitsChunk) ||
                                         dest.size() * d >= ctx.out_x_.size());
    if (!flush) continue;
    matmul(w_.output, ctx.out_x_.data(), static_cast<int64_t>(dest.size()), d, ctx.out_logits_.data(), nv,
           ctx, "matmul output");
    for (size_t r = 0; r < dest.size(); ++r)
      std::memcpy(dest[r], &ctx.out_logits_[r * nv], sizeof(float) * nv);
    dest.clear();
  }
}

}  // namespace hangar::model
