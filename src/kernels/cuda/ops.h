// Launchers of the CUDA backend's kernels, callable from plain C++ (model/cuda_backend.cc).
//
// All pointers are device memory unless said otherwise; every launcher queues work on `stream`
// (a cudaStream_t) and returns at once; kernels::cuda::check_launch reports launch errors.
// Matrices and activations are row-major with one row per token.
#pragma once

#include <cstdint>

#include "kernels/cuda/layout.h"

namespace hangar::kernels::cuda {

using StreamHandle = void*;

// How a matmul wants its input: F32 (F16 weights, up to kGemvMaxTokens tokens), F16 (F16 weights,
// tensor-core tiles), or 8-bit codes with one scale per 32 elements (Q8_0/Q4_0/Q5_0: as the CPU
// backend's activations, scale rounded to F16) or per 256 (Q4_K/Q6_K: Q8_K).
enum class ActFormat : int32_t { kF32, kF16, kQ8_32, kQ8_K };

// Up to this many tokens a matmul is a matrix-vector product per token (weights read once,
// dp4a on 8-bit activations); above, tensor-core tiles (int8 mma, or f16 mma for F16).
constexpr int kGemvMaxTokens = 8;

ActFormat act_format(WType t, int n_tokens);

// A matmul's input in the format it needs, for n rows of K elements: q[n][K] codes, d[n][K/32]
// scales and s[n][K/32] scale * sum of the 32 codes (Q4_K's mins), h[n][K] halves; f is the F32
// input itself (row stride K), read by F16 matrix-vector products.
struct Acts {
  int8_t* q = nullptr;
  float* d = nullptr;
  float* s = nullptr;
  uint16_t* h = nullptr;
  const float* f = nullptr;
};

// x[i][:] = embedding row tokens[i] (dequantized), for i < n.
void embed(const MatrixView& emb, const int32_t* tokens, int n, float* x, StreamHandle stream);

// For i < n, with row = gather ? gather[i] : i: xb[i] = rms_norm(x[row]) * w (as the CPU's
// kernels::rms_norm), then xb[i] converted into `a` in format f (kF32: only xb is written).
void rms_norm_act(const float* x, const int32_t* gather, int n, int K, const float* w, float eps, float* xb,
                  ActFormat f, const Acts& a, StreamHandle stream);
// x (n rows of K) converted into `a` in format f.
void convert_act(const float* x, int n, int K, ActFormat f, const Acts& a, StreamHandle stream);
// out[i][j] = silu(gu[i][j]) * gu[i][ff + j] for j < ff, then converted into `a` in format f.
void swiglu_act(const float* gu, int n, int ff, float* out, ActFormat f, const Acts& a, StreamHandle stream);

// y[t][r] (+)= sum_k W[r][k] * x[t][k] for t < n, r < w.rows (row stride y_stride); with
// accumulate, y += (the residual add). `a` holds x in act_format(w.type, n).
void matmul(const MatrixView& w, const Acts& a, int n, float* y, int y_stride, bool accumulate, StreamHandle stream);

// The batch's per-token data in device memory.
struct BatchView {
  const int32_t* tokens = nullptr;  // [n]
  const int32_t* pos = nullptr;     // [n]
  const int32_t* blocks = nullptr;  // [n][blocks_stride]: the token's sequence's block table
  int32_t blocks_stride = 0;
  int32_t n = 0;
};

// The KV cache of one layer: [n_blocks][block_tokens][kv_dim] halves for K and for V.
struct KvLayer {
  uint16_t* k = nullptr;
  uint16_t* v = nullptr;
  int32_t block_tokens = 0;
  int32_t kv_dim = 0;
};

// After the q/k/v projections (qkv: n rows of q_dim + 2 kv_dim floats), in place: biases (if
// given), per-head RMS norm of q and k (if q_norm given), rotary embedding of q and k (pairs
// (2j, 2j+1), or (j, j + n_rot/2) with neox; cos/sin from rope[pos][j] as float2), then each
// token's k and v rounded to F16 into the cache at its position.
struct QkvPost {
  float* qkv = nullptr;
  int32_t n_head = 0, n_head_kv = 0, head_dim = 0, n_rot = 0;
  bool neox = false;
  const float* bias = nullptr;    // [q_dim + 2 kv_dim] or null
  const float* q_norm = nullptr;  // [head_dim] or null (then k_norm is null too)
  const float* k_norm = nullptr;
  float eps = 0;
  const float* rope = nullptr;    // [max_pos][n_rot / 2][2] cos, sin
};
void qkv_post(const QkvPost& p, const BatchView& b, const KvLayer& kv, StreamHandle stream);

// Attention of every token's query heads over its sequence's positions [0, pos] (GQA: query
// head h reads kv head h / (n_head / n_head_kv)), in F32 with an online softmax. Each token's
// positions are split into n_splits parts computed in parallel (flash decoding) and combined.
// out: n rows of q_dim floats. part: scratch of attention_part_floats(n, n_head, head_dim, n_splits).
struct AttentionArgs {
  const float* q = nullptr;  // row stride q_stride
  int32_t q_stride = 0;
  int32_t n_head = 0, n_head_kv = 0, head_dim = 0;
  float scale = 0;
  int32_t n_splits = 1;
  float* part = nullptr;
  float* out = nullptr;
};
size_t attention_part_floats(int n, int n_head, int head_dim, int n_splits);
// Whether attention() handles this shape (at most 16 query heads per kv head, an even head_dim
// of at most 256).
bool attention_supported(int n_head, int n_head_kv, int head_dim);
void attention(const AttentionArgs& a, const BatchView& b, const KvLayer& kv, StreamHandle stream);

}  // namespace hangar::kernels::cuda
