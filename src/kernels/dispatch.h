// Per-ISA function tables behind the public kernels API, and the data their kernels exchange.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/kernels.h"

namespace hangar::kernels::detail {

// Index of a weight type in IsaTable::types.
enum WeightKind : int {
  kWF32, kWF16, kWBF16, kWQ8_0, kWQ4_0, kWQ4_1, kWQ5_0, kWQ5_1, kWQ4_K, kWQ5_K, kWQ6_K,
  kNumWeightKinds
};
// Returns the WeightKind of a supported weight type, or -1.
int weight_kind(TensorType t);

// The helpers of this header have internal linkage (an anonymous namespace): the per-ISA
// translation units include it, and an inline function with external linkage would be one
// symbol to the linker, which may keep the copy compiled for AVX-512 and run it on an AVX2 CPU.
// scripts/check-isa-symbols.sh (ctest isa_symbols) checks that no per-ISA object shares one.
namespace {
// True for the K-quants, whose activations are Q8_K (one scale per 256 elements).
inline bool is_k_quant(int kind) { return kind >= kWQ4_K; }
inline bool is_float_kind(int kind) { return kind <= kWBF16; }
}  // namespace

// The float evaluation order of llama.cpp's x86 (AVX2 and up) quantized products, which the x86
// kernels reproduce bit for bit (reference/dot_ggml.cc spells both out):
//  kLanes: ggml_vec_dot_* and tinyBLAS: per output 8 float lanes, lane g fed each block's (or
//    super-block's) integer sum of products 4g..4g+3, reduced by hsum_float_8 at the end;
//  kRepacked: the 8-row interleaved kernels llama.cpp switches to for Q4_0 and Q4_K tensors
//    whose row count is a multiple of 8 (its default CPU_REPACK buffers): one float chain per
//    output fed with whole-block integer sums.
enum class GgmlOrder { kLanes, kRepacked };
namespace {
inline GgmlOrder ggml_order(int kind, int64_t rows) {
  return (kind == kWQ4_0 || kind == kWQ4_K) && rows % 8 == 0 ? GgmlOrder::kRepacked : GgmlOrder::kLanes;
}
}  // namespace

// 8-bit activations of one matmul, token-major; cols is a multiple of 32 (256 for K-quants).
// Token t's values are x[k] ~= d32[k / 32] * qs[k].
struct QuantActs {
  int64_t cols = 0;
  int8_t* qs = nullptr;    // [t * cols + k]
  float* d32 = nullptr;    // [t * cols/32 + b] scale of 32-block b, an fp16 value as in llama.cpp
                           // (K-quants: its super-block's fp32 Q8_K scale)
  float* s32 = nullptr;    // [t * cols/32 + b] 32-blocks: fp16(amax/127 * sum of the block's qs),
                           // llama.cpp's Q8_1 `s`; K-quants: d32[b] * sum of the block's qs
  int16_t* s16 = nullptr;  // [t * cols/16 + j] sum of qs[16j .. 16j+15]
  // [t * cols/4 + i] -16 * (qs[4i] + ... + qs[4i+3]), for the direct kernels of the offset-code
  // types (TypeKernels::gemv_lanes): the offset enters as the integer dot's starting value.
  int32_t* lanes16 = nullptr;
};

// Activation terms per token and weight sub-block (16 or 32 elements) for the tiled integer
// kernel. With weights stored as w = s * (code - offset) + m, a sub-block's dot product is
// d * (sum(code * q) + ibias) * s + sx * m, where ibias = -offset * sum(q) and sx = d * sum(q).
// No type has both an offset and a min, so one field holds whichever the type needs.
struct SubAct {
  float d;
  int32_t term;  // ibias, or the bit pattern of the float sx for types with a min
};

// Activations rearranged for the row-pairs direct kernel (row_pairs.h), per token t and 32-block
// b (nb blocks a row; index i = nb * t + b): q2[64i ..] and start2[16i ..] hold, in dword j, the
// activation dword and the lanes16 value of ggml lane 4 * (j / 8) + (j % 8) / 2 (each twice,
// once per row); d2[2i], d2[2i+1] = d32 of the block.
struct PairActs {
  const int8_t* q2 = nullptr;
  const int32_t* start2 = nullptr;
  const float* d2 = nullptr;
};

// The most tokens TypeKernels::gemv_pairs takes; batches above it unpair rows for the tiled
// kernel (each weight then serves many tokens, so the conversion is paid for).
constexpr int kPairsMaxTokens = 8;

// One matmul as the kernels see it. Float weights read x; quantized ones read acts (and sub
// for the tiled kernel).
struct MatmulJob {
  Matrix w;
  int64_t n_tokens = 0;
  const float* x = nullptr;
  int64_t x_stride = 0;
  QuantActs acts;
  const SubAct* sub = nullptr;  // [t * sub_stride + j]
  int64_t sub_stride = 0;
  float* y = nullptr;
  int64_t y_stride = 0;
  PairActs pairs;  // Q5_0 in row pairs, up to kPairsMaxTokens tokens
};

// Computes y for rows [r0, r1) and every token; buf is this thread's scratch of buf_bytes.
using RowsFn = void (*)(const MatmulJob& job, int64_t r0, int64_t r1, uint8_t* buf);

struct TypeKernels {
  RowsFn gemv = nullptr;  // direct: weight blocks unpacked in registers for up to 8 tokens at a time
  RowsFn gemm = nullptr;  // tiled: weight panels unpacked once per thread for all tokens
  int gemm_rows = 1;      // gemm's r0 must be a multiple of this
  int gemm_min_tokens = 1 << 30;  // below this many tokens gemv is faster
  int gemm_min_tokens_repacked = 0;  // the same for matrices in the kRepacked order, if nonzero
  // gemm computes in the kRepacked order (so exactly as llama.cpp for matrices ggml_order maps
  // there); otherwise its float order is its own, whereas gemv always follows llama.cpp.
  bool gemm_repacked = false;
  int sub = 32;           // SubAct granularity of gemm (16 or 32)
  int ibias_mul = 0;      // SubAct.term = -ibias_mul * sum(q)
  bool sub_min = false;   // SubAct.term = the bits of d * sum(q) instead
  bool sub_pairs = false;  // SubAct.term of sub-block j = int16 pair (sum(q) of j, of j + 1)
  size_t (*buf_bytes)(int64_t cols, int64_t n_tokens) = nullptr;  // gemm's per-thread buffer
  bool gemv_lanes = false;  // gemv in the kLanes order reads QuantActs::lanes16
  // Direct kernel (1 to kPairsMaxTokens tokens) of a Q5_0 matrix in row pairs (row_pairs.h),
  // reading MatmulJob::pairs; null where the table has none (other types, other ISAs), which
  // then unpair rows first.
  RowsFn gemv_pairs = nullptr;
};

namespace {
// The token count from which matmul takes tk's tiled kernel for a matrix of `rows` rows.
inline int gemm_min_tokens(const TypeKernels& tk, int kind, int64_t rows) {
  return tk.gemm_min_tokens_repacked != 0 && ggml_order(kind, rows) == GgmlOrder::kRepacked
             ? tk.gemm_min_tokens_repacked
             : tk.gemm_min_tokens;
}
}  // namespace

using QuantizeActsFn = void (*)(const float* x, int64_t n, int8_t* qs, float* d32, float* s32,
                                int16_t* s16);

struct IsaTable {
  Isa isa = Isa::kScalar;
  TypeKernels types[kNumWeightKinds];
  QuantizeActsFn quantize_q8_32 = nullptr;  // one scale per 32 elements
  QuantizeActsFn quantize_q8_k = nullptr;   // Q8_K: one scale per 256 elements
  void (*lane_sums16)(const int8_t* qs, int64_t n, int32_t* out) = nullptr;  // QuantActs::lanes16
  // Fills token t's part of PairActs (per token q2: 2 * cols bytes, start2: cols / 2 int32, d2:
  // cols / 16 floats); set with TypeKernels::gemv_pairs.
  void (*pair_acts)(const QuantActs& a, int64_t t, int8_t* q2, int32_t* start2, float* d2) = nullptr;
  void (*bf16_to_f32)(const uint16_t* x, float* y, int64_t n) = nullptr;
  float (*dot_f32)(const float* a, const float* b, int64_t n) = nullptr;
  float (*dot_f16_f32)(const uint16_t* a, const float* b, int64_t n) = nullptr;
  void (*axpy_f16)(float alpha, const uint16_t* x, float* y, int64_t n) = nullptr;
  float (*dot_f16_f16)(const uint16_t* a, const uint16_t* b, int64_t n) = nullptr;
  void (*scale_f16)(uint16_t* y, float v, int64_t n) = nullptr;
  void (*mad_f16)(uint16_t* y, const uint16_t* x, float v, int64_t n) = nullptr;
  void (*attend_f16_head)(const uint16_t* const* k_rows, const uint16_t* const* v_rows, int64_t offset,
                          int64_t n_pos, const float* q, int64_t n, float scale, float* out, void* scratch) = nullptr;
  void (*axpy_f32)(float alpha, const float* x, float* y, int64_t n) = nullptr;
  void (*f32_to_f16)(const float* x, uint16_t* y, int64_t n) = nullptr;
  void (*f16_to_f32)(const uint16_t* x, float* y, int64_t n) = nullptr;
  void (*rms_norm)(const float* x, const float* w, float* y, int64_t n, float eps) = nullptr;
  void (*scale)(float* x, float s, int64_t n) = nullptr;
  void (*add)(const float* a, const float* b, float* y, int64_t n) = nullptr;
  void (*silu_mul)(const float* g, const float* u, float* y, int64_t n) = nullptr;
  float (*softmax)(float* x, int64_t n) = nullptr;
  void (*dot_rows_f32)(const float* rows, int64_t n_rows, int64_t stride, const float* x, int64_t n,
                       float* out) = nullptr;
  void (*axpy_rows_f32)(const float* rows, int64_t n_rows, int64_t stride, const float* w, float* y,
                        int64_t n) = nullptr;
  void (*rope)(float* x, int32_t n_heads, int32_t head_dim, int32_t n_rot, bool neox, const float* cos,
               const float* sin) = nullptr;
};

// Each table is defined in its own translation unit, compiled for its instruction set; call
// one only when best_isa() reaches its level.
const IsaTable& scalar_table();
const IsaTable& avx2_table();
const IsaTable& avx512_table();
const IsaTable& avx512_vnni_table();
// The table of active_isa().
const IsaTable& active_table();

}  // namespace hangar::kernels::detail
