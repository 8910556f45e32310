// Scalar reference kernels: the plain-C++ definition every SIMD kernel is tested against.
#pragma once

#include <cstdint>

#include "base/tensor_type.h"
#include "kernels/blocks.h"
#include "kernels/dispatch.h"

namespace hangar::kernels::ref {

// The 4 bytes at p as a little-endian word (Q5_0/Q5_1's fifth bits).
inline uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  __builtin_memcpy(&v, p, 4);
  return v;
}

// Unpacks the 6-bit scale and min of sub-block j (0..7) from a Q4_K/Q5_K `scales` array.
inline void k_scale_min(const uint8_t* s, int j, int* sc, int* m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// Weight-block unpacking (unpack.cc). codes_32: the 32 codes of a 32-block type as the integer
// dot sees them (Q4_0/Q5_0 offset removed), its scale and min (0 without). codes_q45k: the 256
// codes (0..15 / 0..31) of a Q4_K/Q5_K super-block, its 6-bit scales and mins, d and dmin.
// codes_q6k: the 256 codes of a Q6_K super-block, 0..63 (offset 32 not removed).
void codes_32(int kind, const uint8_t* blk, int* c, float* d, float* m);
int block_bytes_32(int kind);
void codes_q45k(int kind, const uint8_t* sb, int* c, int* sc, int* mn, float* d, float* dmin);
void codes_q6k(const BlockQ6_K* b, int* c);

// Round half to even, like the FPU's default mode and vcvtps2dq.
int nearest_int(float f);

// Row conversions (see kernels.h); every supported weight type and Q8_K.
void dequantize_row(TensorType t, const void* src, float* dst, int64_t n);
void quantize_row(TensorType t, const float* src, void* dst, int64_t n);

// K-quant quantizers (quantize_k.cc).
void quantize_row_q4_k(const float* x, void* dst, int64_t n);
void quantize_row_q5_k(const float* x, void* dst, int64_t n);
void quantize_row_q6_k(const float* x, void* dst, int64_t n);
void quantize_row_q8_k(const float* x, void* dst, int64_t n);

// Activation quantizers with the QuantActs layout for one token (see dispatch.h). The SIMD
// versions must produce bit-identical results.
void quantize_acts_q8_32(const float* x, int64_t n, int8_t* qs, float* d32, float* s32, int16_t* s16);
void quantize_acts_q8_k(const float* x, int64_t n, int8_t* qs, float* d32, float* s32, int16_t* s16);

// Dot product of one weight row of n elements with token t of acts (integer sums per block,
// scaled in float), the quantity every SIMD matmul kernel computes.
float dot_quant(int kind, const void* row, int64_t n, const detail::QuantActs& acts, int64_t t);
// The same dot product in llama.cpp's x86 float order (see detail::GgmlOrder); kRepacked only
// for Q4_0 and Q4_K. Bit-identical to what the x86 kernels compute.
float dot_quant_ggml(int kind, const void* row, int64_t n, const detail::QuantActs& acts, int64_t t,
                     detail::GgmlOrder order);
using detail::GgmlOrder;
// The same dot product in the order of ggml's generic C vec_dot (llama.cpp on CPUs without
// AVX2); the scalar table's matmul.
float dot_quant_generic(int kind, const void* row, int64_t n, const detail::QuantActs& acts, int64_t t);
// Dot product of a float-type (F32/F16/BF16) weight row with x, accumulated in double.
float dot_float(int kind, const void* row, const float* x, int64_t n);

// The scalar IsaTable's entries.
void gemv_rows(const detail::MatmulJob& job, int64_t r0, int64_t r1, uint8_t* buf);
float dot_f32(const float* a, const float* b, int64_t n);
float dot_f16_f32(const uint16_t* a, const float* b, int64_t n);
void axpy_f16(float alpha, const uint16_t* x, float* y, int64_t n);
float dot_f16_f16(const uint16_t* a, const uint16_t* b, int64_t n);
void scale_f16(uint16_t* y, float v, int64_t n);
void mad_f16(uint16_t* y, const uint16_t* x, float v, int64_t n);
void attend_f16_head(const uint16_t* const* k_rows, const uint16_t* const* v_rows, int64_t offset, int64_t n_pos,
                     const float* q, int64_t n, float scale, float* out, void* scratch);
void axpy_f32(float alpha, const float* x, float* y, int64_t n);
void f32_to_f16_row(const float* x, uint16_t* y, int64_t n);
void f16_to_f32_row(const uint16_t* x, float* y, int64_t n);
void bf16_to_f32_row(const uint16_t* x, float* y, int64_t n);
void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps);
void scale(float* x, float s, int64_t n);
void add(const float* a, const float* b, float* y, int64_t n);
void silu_mul(const float* g, const float* u, float* y, int64_t n);
void dot_rows_f32(const float* rows, int64_t n_rows, int64_t stride, const float* x, int64_t n, float* out);
void axpy_rows_f32(const float* rows, int64_t n_rows, int64_t stride, const float* w, float* y, int64_t n);
void rope(float* x, int32_t n_heads, int32_t head_dim, int32_t n_rot, bool neox, const float* cos,
          const float* sin);
float softmax(float* x, int64_t n);

}  // namespace hangar::kernels::ref
