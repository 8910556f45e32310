// Scalar reference dot products of weight rows with activations, and the scalar vector ops.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "base/assert.h"
#include "kernels/attend_f16.h"
#include "kernels/blocks.h"
#include "kernels/fp16.h"
#include "kernels/reference/reference.h"

namespace hangar::kernels::ref {
namespace {

using detail::QuantActs;

// Integer dot of 32 weight codes (already offset) with 32 activation values.
int idot(const int* w, const int8_t* q, int n) {
  int s = 0;
  for (int i = 0; i < n; ++i) s += w[i] * q[i];
  return s;
}


double dot_32_blocks(int kind, const uint8_t* row, int64_t n, const int8_t* q, const float* d32,
                     const float* s32) {
  const int64_t block_bytes = block_bytes_32(kind);
  double sum = 0;
  int c[32];
  for (int64_t b = 0; b < n / kQK; ++b) {
    float d, m;
    codes_32(kind, row + b * block_bytes, c, &d, &m);
    sum += static_cast<double>(d) * d32[b] * idot(c, q + b * kQK, kQK) +
           static_cast<double>(m) * s32[b];
  }
  return sum;
}

double dot_k_blocks(int kind, const uint8_t* row, int64_t n, const int8_t* q, const float* d32,
                    const int16_t* s16) {
  double sum = 0;
  int c[kQKK];
  for (int64_t sb = 0; sb < n / kQKK; ++sb, q += kQKK, s16 += 16) {
    const double dx = d32[sb * 8];
    if (kind == detail::kWQ6_K) {
      const auto* b = reinterpret_cast<const BlockQ6_K*>(row) + sb;
      codes_q6k(b, c);
      int64_t sumi = 0;
      for (int j = 0; j < 16; ++j) {
        for (int l = 0; l < 16; ++l) c[16 * j + l] -= 32;
        sumi += b->scales[j] * idot(c + 16 * j, q + 16 * j, 16);
      }
      sum += fp16_to_fp32(b->d) * dx * static_cast<double>(sumi);
      continue;
    }
    HANGAR_ASSERT(kind == detail::kWQ4_K || kind == detail::kWQ5_K);
    const size_t sb_bytes = kind == detail::kWQ4_K ? sizeof(BlockQ4_K) : sizeof(BlockQ5_K);
    int sc[8], mn[8];
    float d, dmin;
    codes_q45k(kind, row + sb * sb_bytes, c, sc, mn, &d, &dmin);
    int64_t sumi = 0, summ = 0;
    for (int j = 0; j < 8; ++j) {
      sumi += sc[j] * idot(c + 32 * j, q + 32 * j, 32);
      summ += mn[j] * (s16[2 * j] + s16[2 * j + 1]);
    }
    sum += d * dx * static_cast<double>(sumi) - dmin * dx * static_cast<double>(summ);
  }
  return sum;
}

}  // namespace

float dot_quant(int kind, const void* row, int64_t n, const QuantActs& acts, int64_t t) {
  HANGAR_ASSERT(n == acts.cols);
  const int8_t* q = acts.qs + t * n;
  const float* d32 = acts.d32 + t * (n / 32);
  const float* s32 = acts.s32 + t * (n / 32);
  const int16_t* s16 = acts.s16 + t * (n / 16);
  const auto* r = static_cast<const uint8_t*>(row);
  if (detail::is_k_quant(kind)) return static_cast<float>(dot_k_blocks(kind, r, n, q, d32, s16));
  return static_cast<float>(dot_32_blocks(kind, r, n, q, d32, s32));
}

float dot_float(int kind, const void* row, const float* x, int64_t n) {
  double s = 0;
  if (kind == detail::kWF32) {
    const auto* w = static_cast<const float*>(row);
    for (int64_t i = 0; i < n; ++i) s += static_cast<double>(w[i]) * x[i];
  } else if (kind == detail::kWF16) {
    const auto* w = static_cast<const uint16_t*>(row);
    for (int64_t i = 0; i < n; ++i) s += static_cast<double>(fp16_to_fp32(w[i])) * x[i];
  } else {
    HANGAR_ASSERT(kind == detail::kWBF16);
    const auto* w = static_cast<const uint16_t*>(row);
    for (int64_t i = 0; i < n; ++i) s += static_cast<double>(bf16_to_fp32(w[i])) * x[i];
  }
  return static_cast<float>(s);
}

void gemv_rows(const detail::MatmulJob& job, int64_t r0, int64_t r1, uint8_t*) {
  const int kind = detail::weight_kind(job.w.type);
  const auto* base = static_cast<const uint8_t*>(job.w.data);
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* row = base + static_cast<size_t>(r) * job.w.row_bytes;
    for (int64_t t = 0; t < job.n_tokens; ++t) {
      job.y[t * job.y_stride + r] =
          detail::is_float_kind(kind) ? dot_float(kind, row, job.x + t * job.x_stride, job.w.cols)
                                      : dot_quant_generic(kind, row, job.w.cols, job.acts, t);
    }
  }
}

float dot_f32(const float* a, const float* b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(a[i]) * b[i];
  return static_cast<float>(s);
}

float dot_f16_f32(const uint16_t* a, const float* b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(fp16_to_fp32(a[i])) * b[i];
  return static_cast<float>(s);
}

void axpy_f16(float alpha, const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * fp16_to_fp32(x[i]);
}

// ggml_vec_dot_f16 of a build without SIMD: float products summed in double.
float dot_f16_f16(const uint16_t* a, const uint16_t* b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(fp16_to_fp32(a[i]) * fp16_to_fp32(b[i]));
  return static_cast<float>(s);
}

void scale_f16(uint16_t* y, float v, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fp32_to_fp16(fp16_to_fp32(y[i]) * v);
}

// Multiply, then add: what llama.cpp computes on CPUs without FMA, the ones this table serves.
void mad_f16(uint16_t* y, const uint16_t* x, float v, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float p = fp16_to_fp32(x[i]) * v;
    y[i] = fp32_to_fp16(fp16_to_fp32(y[i]) + p);
  }
}

namespace {
struct AttendOpsRef {
  static float dot(const uint16_t* k, const uint16_t* q16, const float*, int64_t n) { return dot_f16_f16(k, q16, n); }
  static void scale_h(uint16_t* y, float v, int64_t n) { scale_f16(y, v, n); }
  static void mad_h(uint16_t* y, const uint16_t* x, float v, int64_t n) { mad_f16(y, x, v, n); }
  static void to_f16(const float* x, uint16_t* y, int64_t n) { f32_to_f16_row(x, y, n); }
  static void to_f32(const uint16_t* x, float* y, int64_t n) { f16_to_f32_row(x, y, n); }
  static void scale(float* x, float s, int64_t n) { ref::scale(x, s, n); }
};
}  // namespace

void attend_f16_head(const uint16_t* const* k_rows, const uint16_t* const* v_rows, int64_t offset, int64_t n_pos,
                     const float* q, int64_t n, float scale, float* out, void* scratch) {
  detail::attend_f16_head_impl<AttendOpsRef>(k_rows, v_rows, offset, n_pos, q, n, scale, out, scratch);
}

void axpy_f32(float alpha, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

void f32_to_f16_row(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fp32_to_fp16(x[i]);
}

void f16_to_f32_row(const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fp16_to_fp32(x[i]);
}

void bf16_to_f32_row(const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_fp32(x[i]);
}

// As ggml_compute_forward_rms_norm_f32: float squares summed in double, the mean as a float.
void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps) {
  double ss = 0;
  for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[i] * x[i]);
  const float s = 1.0f / std::sqrt(static_cast<float>(ss / static_cast<double>(n)) + eps);
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * s * w[i];
}

void scale(float* x, float s, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}

void add(const float* a, const float* b, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

void silu_mul(const float* g, const float* u, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

void rope(float* x, int32_t n_heads, int32_t head_dim, int32_t n_rot, bool neox, const float* cos,
          const float* sin) {
  const int32_t half = n_rot / 2;
  for (int32_t h = 0; h < n_heads; ++h) {
    float* v = x + static_cast<size_t>(h) * head_dim;
    for (int32_t j = 0; j < half; ++j) {
      const int32_t i0 = neox ? j : 2 * j, i1 = neox ? j + half : 2 * j + 1;
      const float x0 = v[i0], x1 = v[i1];
      // The fused forms llama.cpp's build compiles x0*c - x1*s and x0*s + x1*c to (one rounding
      // per output): in both, x0's product is the fused one and x1's is rounded first.
      v[i0] = std::fma(x0, cos[j], -(x1 * sin[j]));
      v[i1] = std::fma(x0, sin[j], x1 * cos[j]);
    }
  }
}

void dot_rows_f32(const float* rows, int64_t n_rows, int64_t stride, const float* x, int64_t n, float* out) {
  for (int64_t r = 0; r < n_rows; ++r) out[r] = dot_f32(rows + r * stride, x, n);
}

void axpy_rows_f32(const float* rows, int64_t n_rows, int64_t stride, const float* w, float* y, int64_t n) {
  for (int64_t r = 0; r < n_rows; ++r)
    for (int64_t i = 0; i < n; ++i) y[i] += w[r] * rows[r * stride + i];
}

float softmax(float* x, int64_t n) {
  float max = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) max = std::max(max, x[i]);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
  return max;
}

}  // namespace hangar::kernels::ref
