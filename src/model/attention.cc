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

#include <algorithm>
#include <vector>

#include "kernels/small_gemm.h"
#include "model/cpu_backend.h"

namespace hangar::model {
namespace {

constexpr int32_t kTiledMinQueries = 64;  // llama.cpp's GGML_FA_TILE_Q
constexpr int32_t kKvTile = 64;           // GGML_FA_TILE_KV

// Prefill path: for a tile of up to kQTile consecutive tokens of one sequence and one kv head
// (rows = tokens x the query heads sharing it), scores and weighted values are small F32 matrix
// products over tiles of kKvTile positions, with an online softmax per row, as llama.cpp's tiled
// flash attention does.
constexpr int32_t kQTile = 32;

struct TileJob {
  const BatchToken* tokens;  // tq consecutive tokens of one sequence
  int32_t first;             // index of tokens[0] in the batch
  int32_t tq;
  int32_t kv_head;
};

// Scratch floats one thread needs for attend_tile.
size_t tile_scratch_floats(int32_t group, int32_t hd) {
  const size_t m = static_cast<size_t>(kQTile) * group;
  return m * hd * 2 + m * kKvTile + 2 * static_cast<size_t>(kKvTile) * hd + 2 * m;
}

void attend_tile(const TileJob& job, int32_t il, const KvCache& kv, const HParams& hp, const float* q_all,
                 float* out_all, float scale, float* scratch) {
  const int32_t hd = hp.head_dim, qd = hp.q_dim(), group = hp.n_head / hp.n_head_kv;
  const int32_t bt = kv.block_tokens(), m = job.tq * group;
  float* q = scratch;                                      // (m, hd)
  float* acc = q + static_cast<size_t>(m) * hd;            // (m, hd)
  float* s = acc + static_cast<size_t>(m) * hd;            // (m, kKvTile)
  float* kt = s + static_cast<size_t>(m) * kKvTile;        // (hd, kKvTile): keys transposed
  float* v = kt + static_cast<size_t>(hd) * kKvTile;       // (kKvTile, hd)
  float* row_max = v + static_cast<size_t>(kKvTile) * hd;  // (m)
  float* row_sum = row_max + m;                            // (m)
  for (int32_t t = 0; t < job.tq; ++t)
    for (int32_t g = 0; g < group; ++g) {
      const int32_t h = job.kv_head * group + g;
      std::memcpy(q + static_cast<size_t>(t * group + g) * hd,
                  q_all + static_cast<size_t>(job.first + t) * qd + static_cast<size_t>(h) * hd, sizeof(float) * hd);
    }
  std::memset(acc, 0, sizeof(float) * m * hd);
  for (int32_t r = 0; r < m; ++r) row_max[r] = -INFINITY, row_sum[r] = 0;
  const int32_t* blocks = job.tokens[0].blocks;
  const int32_t last_pos = job.tokens[job.tq - 1].pos;
  for (int32_t p0 = 0; p0 <= last_pos; p0 += kKvTile) {
    const int32_t n = std::min(kKvTile, last_pos + 1 - p0);
    for (int32_t j = 0; j < kKvTile; ++j) {
      if (j < n) {
        const int32_t p = p0 + j;
        const size_t off = static_cast<size_t>(job.kv_head) * hd;
        const uint16_t* k16 = kv.k(il, blocks[p / bt], p % bt) + off;
        for (int32_t d = 0; d < hd; ++d) kt[static_cast<size_t>(d) * kKvTile + j] = kernels::fp16_to_fp32(k16[d]);
        kernels::f16_to_f32_row(kv.v(il, blocks[p / bt], p % bt) + off, v + static_cast<size_t>(j) * hd, hd);
      } else {
        for (int32_t d = 0; d < hd; ++d) kt[static_cast<size_t>(d) * kKvTile + j] = 0;
        std::memset(v + static_cast<size_t>(j) * hd, 0, sizeof(float) * hd);
      }
    }
    std::memset(s, 0, sizeof(float) * m * kKvTile);
    kernels::gemm_f32_acc(q, hd, kt, kKvTile, s, kKvTile, m, kKvTile, hd);
    for (int32_t r = 0; r < m; ++r) {
      const int32_t pos = job.tokens[r / group].pos;
      float* sr = s + static_cast<size_t>(r) * kKvTile;
      const int32_t visible = std::clamp(pos + 1 - p0, 0, n);  // causal mask
      float tile_max = -INFINITY;
      for (int32_t j = 0; j < visible; ++j) tile_max = std::max(tile_max, sr[j] *= scale);
      if (visible == 0) {
        std::memset(sr, 0, sizeof(float) * kKvTile);
        continue;
      }
      const float m_new = std::max(row_max[r], tile_max);
      if (m_new > row_max[r]) {
        const float ms = std::exp(row_max[r] - m_new);
        kernels::scale(acc + static_cast<size_t>(r) * hd, ms, hd);
        row_sum[r] *= ms;
        row_max[r] = m_new;
      }
      double sum = 0;
      for (int32_t j = 0; j < visible; ++j) sum += (sr[j] = std::exp(sr[j] - m_new));
      for (int32_t j = visible; j < kKvTile; ++j) sr[j] = 0;
      row_sum[r] += static_cast<float>(sum);
    }
    kernels::gemm_f32_acc(s, kKvTile, v, hd, acc, hd, m, hd, kKvTile);
  }
  for (int32_t t = 0; t < job.tq; ++t)
    for (int32_t g = 0; g < group; ++g) {
      const int32_t r = t * group + g, h = job.kv_head * group + g;
      float* out = out_all + static_cast<size_t>(job.first + t) * qd + static_cast<size_t>(h) * hd;
      const float inv = row_sum[r] == 0 ? 0.0f : 1.0f / row_sum[r];
      for (int32_t d = 0; d < hd; ++d) out[d] = acc[static_cast<size_t>(r) * hd + d] * inv;
    }
}

// Batched-decode path: one token, all heads, in F32. The token's keys, then its values (all kv
// heads, contiguous in the cache) are converted once, in order, into `rows` for every query
// head that reads them; a decode token sees at most the context, so all its scores are kept
// and the softmax needs no online rescaling. `scratch`: attend_token_floats.
size_t attend_token_floats(const HParams& hp, int32_t n_pos) {
  return (static_cast<size_t>(hp.n_head_kv) * hp.head_dim + hp.n_head) * static_cast<size_t>(n_pos);
}

void attend_token_f32(const BatchToken& token, int32_t il, const KvCache& kv, const HParams& hp, const float* q,
                      float* out, float scale, float* scratch) {
  const int32_t hd = hp.head_dim, group = hp.n_head / hp.n_head_kv, bt = kv.block_tokens();
  const int32_t n_pos = token.pos + 1, kv_dim = hp.n_head_kv * hd;
  float* rows = scratch;                                           // n_pos x kv_dim
  float* scores = rows + static_cast<size_t>(n_pos) * kv_dim;     // n_head x n_pos
  for (int32_t p = 0; p < n_pos; ++p)
    kernels::f16_to_f32_row(kv.k(il, token.blocks[p / bt], p % bt), rows + static_cast<size_t>(p) * kv_dim, kv_dim);
  for (int32_t h = 0; h < hp.n_head; ++h) {
    float* sh = scores + static_cast<size_t>(h) * n_pos;
    kernels::dot_rows_f32(rows + static_cast<size_t>(h / group) * hd, n_pos, kv_dim, q + static_cast<size_t>(h) * hd,
                          hd, sh);
    kernels::scale(sh, scale, n_pos);
    kernels::softmax(sh, n_pos);
  }
  for (int32_t p = 0; p < n_pos; ++p)
    kernels::f16_to_f32_row(kv.v(il, token.blocks[p / bt], p % bt), rows + static_cast<size_t>(p) * kv_dim, kv_dim);
  std::memset(out, 0, sizeof(float) * hp.n_head * hd);
  for (int32_t h = 0; h < hp.n_head; ++h)
    kernels::axpy_rows_f32(rows + static_cast<size_t>(h / group) * hd, n_pos, kv_dim,
                           scores + static_cast<size_t>(h) * n_pos, out + static_cast<size_t>(h) * hd, hd);
}

}  // namespace

void CpuBackend::attention(int32_t il, std::span<const BatchToken> batch, KvCache& kv, ForwardContext& ctx) const {
  ProfileScope scope(ctx.profiler, "attention");
  const int32_t n = static_cast<int32_t>(batch.size());
  const int32_t hd = hp_.head_dim, qd = hp_.q_dim(), group = hp_.n_head / hp_.n_head_kv;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  if (n >= kTiledMinQueries) {
    // Tiles of consecutive tokens of one sequence (same block table, consecutive positions).
    std::vector<TileJob> jobs;
    for (int32_t i = 0; i < n;) {
      int32_t j = i + 1;
      while (j < n && j - i < kQTile && batch[j].blocks == batch[i].blocks && batch[j].pos == batch[j - 1].pos + 1) ++j;
      for (int32_t kvh = 0; kvh < hp_.n_head_kv; ++kvh) jobs.push_back({&batch[i], i, j - i, kvh});
      i = j;
    }
    ctx.reserve_scores(tile_scratch_floats(group, hd));
    ctx.pool_.parallel_for(static_cast<int64_t>(jobs.size()), 1, [&](int64_t begin, int64_t end, int ith) {
      for (int64_t k = begin; k < end; ++k)
        attend_tile(jobs[k], il, kv, hp_, ctx.q_.data(), ctx.attn_.data(), scale, ctx.scores_[ith].data());
    });
    return;
  }
  // Several sequences' tokens in one pass (batched decode) take the F32 path above: the F16
  // path converts each key and value once per query head (~100 cycles per head and position)
  // and took 16% of an 8-sequence decode step; F32 accumulation is also the more precise. A
  // lone sequence keeps llama.cpp's choice, so single-stream output matches it.
  bool several_sequences = false;
  int32_t max_pos = 0;
  for (int32_t i = 0; i < n; ++i) {
    several_sequences = several_sequences || batch[i].blocks != batch[0].blocks;
    max_pos = std::max(max_pos, batch[i].pos);
  }
  if (several_sequences) {
    ctx.reserve_scores(attend_token_floats(hp_, max_pos + 1));
    ctx.pool_.parallel_for(n, 1, [&](int64_t begin, int64_t end, int ith) {
      for (int64_t i = begin; i < end; ++i)
        attend_token_f32(batch[i], il, kv, hp_, &ctx.q_[static_cast<size_t>(i) * qd], &ctx.attn_[static_cast<size_t>(i) * qd],
                         scale, ctx.scores_[ith].data());
    });
    return;
  }
  // One sequence: its cached rows, looked up once for all heads and tokens of the pass.
  const int32_t bt = kv.block_tokens();
  ctx.kv_rows_.resize(2 * static_cast<size_t>(max_pos + 1));
  const uint16_t** k_rows = ctx.kv_rows_.data();
  const uint16_t** v_rows = k_rows + max_pos + 1;
  for (int32_t p = 0; p <= max_pos; ++p) {
    k_rows[p] = kv.k(il, batch[0].blocks[p / bt], p % bt);
    v_rows[p] = kv.v(il, batch[0].blocks[p / bt], p % bt);
  }
  ctx.reserve_scores((kernels::attend_f16_head_scratch_bytes(hd) + sizeof(float) - 1) / sizeof(float));
  ctx.pool_.parallel_for(static_cast<int64_t>(n) * hp_.n_head, 1, [&](int64_t begin, int64_t end, int ith) {
    for (int64_t item = begin; item < end; ++item) {
      const int32_t i = static_cast<int32_t>(item / hp_.n_head), h = static_cast<int32_t>(item % hp_.n_head);
      const size_t at = static_cast<size_t>(i) * qd + static_cast<size_t>(h) * hd;
      kernels::attend_f16_head(k_rows, v_rows, static_cast<int64_t>(h / group) * hd, batch[i].pos + 1, &ctx.q_[at], hd,
                               scale, &ctx.attn_[at], ctx.scores_[ith].data());
    }
  });
}

}  // namespace hangar::model
