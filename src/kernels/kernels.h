// kernels: weight types, quantization, runtime-dispatched SIMD dot products and matrix products.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "base/tensor_type.h"
#include "base/thread_pool.h"
#include "kernels/fp16.h"

namespace hangar::kernels {

// Instruction-set levels, each a superset of the one before. kAvx2 means AVX2+FMA+F16C,
// kAvx512 adds AVX-512 F/BW/VL/DQ, kAvx512Vnni adds VNNI (vpdpbusd).
enum class Isa { kScalar, kAvx2, kAvx512, kAvx512Vnni };

// The best level this CPU and OS support; detected once (cpuid/xgetbv), thread-safe.
Isa best_isa();
// The level every function below dispatches to; starts as best_isa(), or as the lower level
// named by the environment variable HANGAR_ISA ("scalar", "avx2", "avx512", "avx512vnni").
Isa active_isa();
// Forces a level <= best_isa() (tests and benchmarks); asserts otherwise. Not meant to race with
// running kernels: call it while no other thread computes.
void set_active_isa(Isa isa);
// "scalar", "avx2", "avx512", "avx512vnni".
const char* isa_name(Isa isa);

// F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K: the types matmul accepts.
bool is_supported_weight_type(TensorType t);

// Converts n elements (a multiple of the type's block size) of a row in ggml layout to floats.
// Accepts every supported weight type and Q8_K; asserts on others. src needs no alignment.
// Thread-safe (as are all functions here except set_active_isa).
void dequantize_row(TensorType t, const void* src, float* dst, int64_t n);

// Quantizes n floats (a multiple of the block size) into ggml blocks, reproducing llama.cpp's
// reference quantizers (quantize_row_*_ref): same block layouts and the same scale search for
// the K-quants; bit-identical blocks on llama.cpp's own files. Accepts every supported weight
// type and Q8_K. Scalar, and the K-quant scale search is slow (the sums keep llama.cpp's order
// so that results match bit for bit): parallelize over rows.
void quantize_row(TensorType t, const float* src, void* dst, int64_t n);

// A weight matrix in ggml layout: `rows` rows of `cols` elements, row r at data + r * row_bytes.
// Non-owning; data must stay valid while kernels use it.
struct Matrix {
  TensorType type = TensorType::kF32;
  const void* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  size_t row_bytes = 0;
  // Set by pack_row_pairs: rows 2p and 2p+1 share their 2 * row_bytes in another layout, which
  // only matmul reads (not dequantize_row).
  bool row_pairs = false;
};

// Rewrites a Q5_0 matrix in place (data is m.data, writable) into the row-pairs layout that this
// CPU's decode kernel reads faster (AVX-512 only; figures in docs/PERFORMANCE.md), and sets
// m.row_pairs. Returns false and changes nothing for other types, padded rows, fewer than 2
// rows, or without AVX-512. matmul reads the layout
// directly up to 8 tokens (in llama.cpp's per-token order, as ggml layout's one-token kernel);
// larger batches and other ISAs convert rows back as they go, which slows batches of 9-64
// tokens (docs/PERFORMANCE.md, "Row pairs cost mid-size batches"). Splits the work over pool.
bool pack_row_pairs(Matrix& m, void* data, ThreadPool& pool);

class MatmulScratch;
namespace detail {
struct ScratchState;
ScratchState& scratch_state(MatmulScratch& s);
}  // namespace detail

// Buffers a matmul needs (quantized activations, per-thread weight panels). Keep one per calling
// thread of control and reuse it: it grows to the largest call and is never shrunk. Not
// thread-safe: two concurrent matmuls need two scratches.
class MatmulScratch {
 public:
  MatmulScratch();
  ~MatmulScratch();
  MatmulScratch(MatmulScratch&&) noexcept;
  MatmulScratch& operator=(MatmulScratch&&) noexcept;
  // Bytes currently held.
  size_t capacity_bytes() const;

 private:
  friend detail::ScratchState& detail::scratch_state(MatmulScratch& s);
  std::unique_ptr<detail::ScratchState> state_;
};

// y[t*y_stride + r] = sum_k W[r][k] * x[t*x_stride + k] for t < n_tokens, r < w.rows.
// Runs on the pool (the caller's thread takes part as thread 0); the pool must not be running
// another job on this thread. Quantized weights multiply 8-bit quantized activations (Q8_0-style
// 32-blocks, or Q8_K for the K-quants) with integer dot products; F16/BF16/F32 multiply the
// float activations. n_tokens == 1 is decode (one pass over the weights at memory bandwidth);
// larger n_tokens use a cache-tiled kernel that reuses each weight block across tokens.
// x and y must not overlap.
// Numerics follow llama.cpp's CPU backend on the same instruction set (detail::GgmlOrder): the
// direct kernel (decode, and batches below the type's crossover: 4 tokens for the 32-blocks, 6
// for Q4_K/Q5_K (9 for Q4_K with rows % 8 == 0 and for Q5_0 in row pairs on AVX-512), 10 for
// Q6_K and the float types) reproduces its quantized dot products bit for bit, as does the
// tiled kernel for Q4_0 and Q4_K matrices with a multiple of 8 rows (llama.cpp's repacked
// kernels); the tiled kernel of the other types sums in its own order (reproducing llama.cpp's
// 8-lane order there would cost about 2x in prefill). So a token's logits can move in the last
// bits when it shares a forward pass with other sequences, as in llama.cpp.
void matmul(const Matrix& w, const float* x, int64_t n_tokens, int64_t x_stride, float* y,
            int64_t y_stride, ThreadPool& pool, MatmulScratch& scratch);

// Vector ops on float rows, dispatched to the active ISA. Pointers need no alignment; n >= 0.
float dot_f32(const float* a, const float* b, int64_t n);
float dot_f16_f32(const uint16_t* a, const float* b, int64_t n);  // KV cache is F16
void axpy_f16(float alpha, const uint16_t* x, float* y, int64_t n);  // y += alpha * x
void axpy_f32(float alpha, const float* x, float* y, int64_t n);     // y += alpha * x
void f32_to_f16_row(const float* x, uint16_t* y, int64_t n);         // round to nearest even
void f16_to_f32_row(const uint16_t* x, float* y, int64_t n);
// F16 helpers of decode attention (F16 query, keys, values and accumulator), with llama.cpp's
// results on the same instruction set: dot_f16_f16 sums in ggml_vec_dot_f16's order (AVX-512:
// 4 accumulators of 16 lanes per 64 elements, AVX2: of 8 lanes per 32, reduced as ggml does,
// the leftover elements and the scalar build in double); scale_f16 is y = f16(f32(y) * v) and
// mad_f16 is y = f16(fma(f32(x), v, f32(y))) element by element (ggml_vec_scale_f16 /
// ggml_vec_mad_f16; without FMA hardware, as the scalar table, multiply then add).
float dot_f16_f16(const uint16_t* a, const uint16_t* b, int64_t n);
void scale_f16(uint16_t* y, float v, int64_t n);
void mad_f16(uint16_t* y, const uint16_t* x, float v, int64_t n);
// One query head's decode attention over n_pos cached positions with the helpers above, in
// llama.cpp's F16 flash-attention order (query rounded to F16, online softmax, F16 value
// accumulator; see model/attention.cc): key p is k_rows[p] + offset, value p v_rows[p] +
// offset, each n halves; out gets n floats. scratch: attend_f16_head_scratch_bytes(n).
void attend_f16_head(const uint16_t* const* k_rows, const uint16_t* const* v_rows, int64_t offset, int64_t n_pos,
                     const float* q, int64_t n, float scale, float* out, void* scratch);
size_t attend_f16_head_scratch_bytes(int64_t n);
// y = x / sqrt(mean(x^2) + eps) * weight; y may alias x. As llama.cpp: squares summed in
// double, the mean rounded to float, y = x * (1 / sqrtf(mean + eps)) * weight.
void rms_norm(const float* x, const float* weight, float* y, int64_t n, float eps);
void scale(float* x, float s, int64_t n);                            // x *= s
void add(const float* a, const float* b, float* y, int64_t n);       // y = a + b; y may alias a
// y = gate * sigmoid(gate) * up (SwiGLU); y may alias gate or up. Element by element as
// llama.cpp's ggml_vec_swiglu_f32 on the same instruction set (its vectorised expf on whole
// vectors, libm expf on the n % vector-width last elements; llama.cpp applies that per row).
void silu_mul(const float* gate, const float* up, float* y, int64_t n);
// out[r] = dot(rows + r * stride, x) over n elements, for r < n_rows (attention scores of one
// query against many keys); y += sum_r w[r] * (rows + r * stride) over n elements (weighted
// values). One call for many rows: x or y stays in registers when n is small.
void dot_rows_f32(const float* rows, int64_t n_rows, int64_t stride, const float* x, int64_t n, float* out);
void axpy_rows_f32(const float* rows, int64_t n_rows, int64_t stride, const float* w, float* y, int64_t n);
// Rotary embedding in place: the first n_rot dims of each of n_heads heads (head_dim apart) are
// rotated pairwise by the angles whose cos/sin are given (n_rot / 2 each); pairs are (2j, 2j+1),
// or (j, j + n_rot/2) with neox. Each output is one fused multiply-add of a rounded product,
// x0' = fma(x0, c, -(x1 * s)), x1' = fma(x0, s, x1 * c), as llama.cpp's build computes it.
void rope(float* x, int32_t n_heads, int32_t head_dim, int32_t n_rot, bool neox, const float* cos,
          const float* sin);
// In place: x = exp(x - max) / sum; returns the max. -inf entries (masked) become 0; at least
// one entry must be finite.
float softmax(float* x, int64_t n);

}  // namespace hangar::kernels
