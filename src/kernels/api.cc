// The public kernels entry points: type support, row conversions and vector ops, dispatched.
#include "base/assert.h"
#include "kernels/attend_f16.h"
#include "kernels/dispatch.h"
#include "kernels/reference/reference.h"

namespace hangar::kernels {

namespace detail {
int weight_kind(TensorType t) {
  switch (t) {
    case TensorType::kF32: return kWF32;
    case TensorType::kF16: return kWF16;
    case TensorType::kBF16: return kWBF16;
    case TensorType::kQ8_0: return kWQ8_0;
    case TensorType::kQ4_0: return kWQ4_0;
    case TensorType::kQ4_1: return kWQ4_1;
    case TensorType::kQ5_0: return kWQ5_0;
    case TensorType::kQ5_1: return kWQ5_1;
    case TensorType::kQ4_K: return kWQ4_K;
    case TensorType::kQ5_K: return kWQ5_K;
    case TensorType::kQ6_K: return kWQ6_K;
    default: return -1;
  }
}
}  // namespace detail

bool is_supported_weight_type(TensorType t) { return detail::weight_kind(t) >= 0; }

void dequantize_row(TensorType t, const void* src, float* dst, int64_t n) {
  const auto& tab = detail::active_table();
  if (t == TensorType::kF16) return tab.f16_to_f32(static_cast<const uint16_t*>(src), dst, n);
  if (t == TensorType::kBF16) return tab.bf16_to_f32(static_cast<const uint16_t*>(src), dst, n);
  ref::dequantize_row(t, src, dst, n);
}

void quantize_row(TensorType t, const float* src, void* dst, int64_t n) {
  ref::quantize_row(t, src, dst, n);
}

float dot_f32(const float* a, const float* b, int64_t n) {
  return detail::active_table().dot_f32(a, b, n);
}
float dot_f16_f32(const uint16_t* a, const float* b, int64_t n) {
  return detail::active_table().dot_f16_f32(a, b, n);
}
void axpy_f16(float alpha, const uint16_t* x, float* y, int64_t n) {
  detail::active_table().axpy_f16(alpha, x, y, n);
}
float dot_f16_f16(const uint16_t* a, const uint16_t* b, int64_t n) {
  return detail::active_table().dot_f16_f16(a, b, n);
}
void scale_f16(uint16_t* y, float v, int64_t n) { detail::active_table().scale_f16(y, v, n); }
void mad_f16(uint16_t* y, const uint16_t* x, float v, int64_t n) { detail::active_table().mad_f16(y, x, v, n); }
void attend_f16_head(const uint16_t* const* k_rows, const uint16_t* const* v_rows, int64_t offset, int64_t n_pos,
                     const float* q, int64_t n, float scale, float* out, void* scratch) {
  detail::active_table().attend_f16_head(k_rows, v_rows, offset, n_pos, q, n, scale, out, scratch);
}
size_t attend_f16_head_scratch_bytes(int64_t n) { return detail::attend_f16_scratch_bytes(n); }
void axpy_f32(float alpha, const float* x, float* y, int64_t n) {
  detail::active_table().axpy_f32(alpha, x, y, n);
}
void f32_to_f16_row(const float* x, uint16_t* y, int64_t n) {
  detail::active_table().f32_to_f16(x, y, n);
}
void f16_to_f32_row(const uint16_t* x, float* y, int64_t n) {
  detail::active_table().f16_to_f32(x, y, n);
}
void rms_norm(const float* x, const float* weight, float* y, int64_t n, float eps) {
  HANGAR_ASSERT(n > 0);
  detail::active_table().rms_norm(x, weight, y, n, eps);
}
void scale(float* x, float s, int64_t n) { detail::active_table().scale(x, s, n); }
void add(const float* a, const float* b, float* y, int64_t n) {
  detail::active_table().add(a, b, y, n);
}
void silu_mul(const float* gate, const float* up, float* y, int64_t n) {
  detail::active_table().silu_mul(gate, up, y, n);
}
void dot_rows_f32(const float* rows, int64_t n_rows, int64_t stride, const float* x, int64_t n, float* out) {
  detail::active_table().dot_rows_f32(rows, n_rows, stride, x, n, out);
}
void axpy_rows_f32(const float* rows, int64_t n_rows, int64_t stride, const float* w, float* y, int64_t n) {
  detail::active_table().axpy_rows_f32(rows, n_rows, stride, w, y, n);
}
void rope(float* x, int32_t n_heads, int32_t head_dim, int32_t n_rot, bool neox, const float* cos,
          const float* sin) {
  HANGAR_ASSERT(n_rot % 2 == 0 && n_rot <= head_dim);
  detail::active_table().rope(x, n_heads, head_dim, n_rot, neox, cos, sin);
}
float softmax(float* x, int64_t n) {
  HANGAR_ASSERT(n > 0);
  return detail::active_table().softmax(x, n);
}

}  // namespace hangar::kernels
