// Attention of each (token, head) over its sequence's cached keys and values, with llama.cpp's numerics.
//
// llama.cpp's CPU flash attention (its default) has two paths, and the golden outputs we are
// held to follow both: batches of at least kTiledMinQueries query rows use F32 queries and F32
// accumulation over tiles of 64 positions; smaller batches (decode) round the query to F16,
// accumulate the weighted values in an F16 buffer and rescale it as the running maximum grows.
// The F16 rounding changes the last bits of the attention output, which the 8-bit activation
// quantization of the next matmul can amplify, so we reproduce the choice instead of always
// using the more precise path.
#include <cmath>
#include <cstring>

#include "model/model.h"

namespace hangar::model {
namespace {

constexpr int32_t kTiledMinQueries = 64;  // llama.cpp's GGML_FA_TILE_Q
constexpr int32_t kKvTile = 64;           // GGML_FA_TILE_KV

// F16 helpers with ggml's rounding: products summed in double for the dot (its scalar order for
// short heads), fused multiply-add rounded once to F16 for the accumulator.
// TODO(kernels): SIMD versions in kernels/ once decode attention shows up in profiles.
float dot_f16_f16(const uint16_t* a, const uint16_t* b, int32_t n) {
  double sum = 0;
  for (int32_t i = 0; i < n; ++i) sum += kernels::fp16_to_fp32(a[i]) * kernels::fp16_to_fp32(b[i]);
  return static_cast<float>(sum);
}
void scale_f16(uint16_t* y, float v, int32_t n) {
  for (int32_t i = 0; i < n; ++i) y[i] = kernels::fp32_to_fp16(kernels::fp16_to_fp32(y[i]) * v);
}
void mad_f16(uint16_t* y, const uint16_t* x, float v, int32_t n) {
  for (int32_t i = 0; i < n; ++i)
    y[i] = kernels::fp32_to_fp16(std::fma(kernels::fp16_to_fp32(x[i]), v, kernels::fp16_to_fp32(y[i])));
}

struct HeadJob {
  const float* q;           // head_dim floats
  float* out;               // head_dim floats
  const BatchToken* token;
  int32_t kv_head;
};

// Online softmax over tiles of positions, F32 throughout.
void attend_f32(const HeadJob& j, int32_t il, const KvCache& kv, int32_t hd, float scale, float* tile,
                float* acc) {
  const int32_t bt = kv.block_tokens(), n_pos = j.token->pos + 1;
  float m = -INFINITY, s = 0;
  std::memset(acc, 0, sizeof(float) * hd);
  for (int32_t p0 = 0; p0 < n_pos; p0 += kKvTile) {
    const int32_t n = std::min(kKvTile, n_pos - p0);
    float tile_max = -INFINITY;
    for (int32_t t = 0; t < n; ++t) {
      const int32_t p = p0 + t;
      const uint16_t* k = kv.k(il, j.token->blocks[p / bt], p % bt) + static_cast<size_t>(j.kv_head) * hd;
      tile[t] = kernels::dot_f16_f32(k, j.q, hd) * scale;
      tile_max = std::max(tile_max, tile[t]);
    }
    const float m_new = std::max(m, tile_max);
    if (m_new > m) {
      const float ms = std::exp(m - m_new);
      kernels::scale(acc, ms, hd);
      s *= ms;
    }
    m = m_new;
    double sum = 0;
    for (int32_t t = 0; t < n; ++t) {
      tile[t] = std::exp(tile[t] - m);
      sum += tile[t];
    }
    s += static_cast<float>(sum);
    for (int32_t t = 0; t < n; ++t) {
      const int32_t p = p0 + t;
      const uint16_t* v = kv.v(il, j.token->blocks[p / bt], p % bt) + static_cast<size_t>(j.kv_head) * hd;
      kernels::axpy_f16(tile[t], v, acc, hd);
    }
  }
  kernels::scale(acc, s == 0 ? 0.0f : 1.0f / s, hd);
  std::memcpy(j.out, acc, sizeof(float) * hd);
}

// Position by position with an F16 query and an F16 value accumulator.
void attend_f16(const HeadJob& j, int32_t il, const KvCache& kv, int32_t hd, float scale, uint16_t* q16,
                uint16_t* acc16) {
  const int32_t bt = kv.block_tokens(), n_pos = j.token->pos + 1;
  kernels::f32_to_f16_row(j.q, q16, hd);
  std::memset(acc16, 0, sizeof(uint16_t) * hd);
  float m = -INFINITY, s = 0;
  for (int32_t p = 0; p < n_pos; ++p) {
    const uint16_t* k = kv.k(il, j.token->blocks[p / bt], p % bt) + static_cast<size_t>(j.kv_head) * hd;
    const float score = dot_f16_f16(k, q16, hd) * scale;
    float ms = 1.0f, vs = 1.0f;
    if (score > m) {
      ms = std::exp(m - score);
      m = score;
      scale_f16(acc16, ms, hd);
    } else {
      vs = std::exp(score - m);
    }
    const uint16_t* v = kv.v(il, j.token->blocks[p / bt], p % bt) + static_cast<size_t>(j.kv_head) * hd;
    mad_f16(acc16, v, vs, hd);
    s = s * ms + vs;
  }
  kernels::f16_to_f32_row(acc16, j.out, hd);
  kernels::scale(j.out, s == 0 ? 0.0f : 1.0f / s, hd);
}

}  // namespace

void Model::attention(int32_t il, std::span<const BatchToken> batch, KvCache& kv, ForwardContext& ctx) const {
  ProfileScope scope(ctx.profiler, "attention");
  const int32_t n = static_cast<int32_t>(batch.size());
  const int32_t hd = hp_.head_dim, qd = hp_.q_dim(), group = hp_.n_head / hp_.n_head_kv;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const bool tiled = n >= kTiledMinQueries;
  const int64_t items = static_cast<int64_t>(n) * hp_.n_head;
  ctx.pool_.parallel_for(items, 1, [&](int64_t begin, int64_t end, int ith) {
    float* scratch = ctx.scores_[ith].data();  // kKvTile + head_dim floats
    for (int64_t item = begin; item < end; ++item) {
      const int32_t i = static_cast<int32_t>(item / hp_.n_head), h = static_cast<int32_t>(item % hp_.n_head);
      HeadJob j;
      j.q = &ctx.q_[static_cast<size_t>(i) * qd + static_cast<size_t>(h) * hd];
      j.out = &ctx.attn_[static_cast<size_t>(i) * qd + static_cast<size_t>(h) * hd];
      j.token = &batch[i];
      j.kv_head = h / group;
      if (tiled) {
        attend_f32(j, il, kv, hd, scale, scratch, scratch + kKvTile);
      } else {
        auto* half = reinterpret_cast<uint16_t*>(scratch);
        attend_f16(j, il, kv, hd, scale, half, half + hd);
      }
    }
  });
}

}  // namespace hangar::model
