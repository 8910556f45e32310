// Scalar dequantization of every supported ggml block type to floats.
#include <cstring>

#include "base/assert.h"
#include "kernels/blocks.h"
#include "kernels/fp16.h"
#include "kernels/reference/reference.h"

namespace hangar::kernels::ref {
namespace {

void dequant_q4_0(const BlockQ4_0* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK) {
    const float d = fp16_to_fp32(b[i].d);
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = d * ((b[i].qs[j] & 0xF) - 8);
      y[j + 16] = d * ((b[i].qs[j] >> 4) - 8);
    }
  }
}

void dequant_q4_1(const BlockQ4_1* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK) {
    const float d = fp16_to_fp32(b[i].d), m = fp16_to_fp32(b[i].m);
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = d * (b[i].qs[j] & 0xF) + m;
      y[j + 16] = d * (b[i].qs[j] >> 4) + m;
    }
  }
}

void dequant_q5_0(const BlockQ5_0* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK) {
    const float d = fp16_to_fp32(b[i].d);
    const uint32_t qh = load_u32(b[i].qh);
    for (int j = 0; j < kQK / 2; ++j) {
      const int lo = (b[i].qs[j] & 0xF) | (((qh >> j) & 1) << 4);
      const int hi = (b[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
      y[j] = d * (lo - 16);
      y[j + 16] = d * (hi - 16);
    }
  }
}

void dequant_q5_1(const BlockQ5_1* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK) {
    const float d = fp16_to_fp32(b[i].d), m = fp16_to_fp32(b[i].m);
    const uint32_t qh = load_u32(b[i].qh);
    for (int j = 0; j < kQK / 2; ++j) {
      const int lo = (b[i].qs[j] & 0xF) | (((qh >> j) & 1) << 4);
      const int hi = (b[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
      y[j] = d * lo + m;
      y[j + 16] = d * hi + m;
    }
  }
}

void dequant_q8_0(const BlockQ8_0* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK) {
    const float d = fp16_to_fp32(b[i].d);
    for (int j = 0; j < kQK; ++j) y[j] = d * b[i].qs[j];
  }
}

void dequant_q4_k(const BlockQ4_K* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(b[i].d), dmin = fp16_to_fp32(b[i].dmin);
    const uint8_t* q = b[i].qs;
    for (int j = 0; j < 8; j += 2, q += 32) {
      int sc0, m0, sc1, m1;
      k_scale_min(b[i].scales, j, &sc0, &m0);
      k_scale_min(b[i].scales, j + 1, &sc1, &m1);
      for (int l = 0; l < 32; ++l) *y++ = d * sc0 * (q[l] & 0xF) - dmin * m0;
      for (int l = 0; l < 32; ++l) *y++ = d * sc1 * (q[l] >> 4) - dmin * m1;
    }
  }
}

void dequant_q5_k(const BlockQ5_K* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(b[i].d), dmin = fp16_to_fp32(b[i].dmin);
    const uint8_t* q = b[i].qs;
    for (int j = 0; j < 8; j += 2, q += 32) {
      int sc0, m0, sc1, m1;
      k_scale_min(b[i].scales, j, &sc0, &m0);
      k_scale_min(b[i].scales, j + 1, &sc1, &m1);
      for (int l = 0; l < 32; ++l)
        *y++ = d * sc0 * ((q[l] & 0xF) | (((b[i].qh[l] >> j) & 1) << 4)) - dmin * m0;
      for (int l = 0; l < 32; ++l)
        *y++ = d * sc1 * ((q[l] >> 4) | (((b[i].qh[l] >> (j + 1)) & 1) << 4)) - dmin * m1;
    }
  }
}

void dequant_q6_k(const BlockQ6_K* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(b[i].d);
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = b[i].ql + 64 * h;
      const uint8_t* qh = b[i].qh + 32 * h;
      const int8_t* sc = b[i].scales + 8 * h;
      float* o = y + 128 * (i * 2 + h);
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        o[l] = d * sc[is + 0] * q1;
        o[l + 32] = d * sc[is + 2] * q2;
        o[l + 64] = d * sc[is + 4] * q3;
        o[l + 96] = d * sc[is + 6] * q4;
      }
    }
  }
}

void dequant_q8_k(const BlockQ8_K* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i)
    for (int j = 0; j < kQKK; ++j) *y++ = b[i].d * b[i].qs[j];
}

}  // namespace

void dequantize_row(TensorType t, const void* src, float* dst, int64_t n) {
  const auto& info = tensor_type_info(t);
  HANGAR_ASSERT_MSG(n % info.block_elems == 0, "row length is not a multiple of the block size");
  const int64_t nb = n / info.block_elems;
  switch (t) {
    case TensorType::kF32: std::memcpy(dst, src, static_cast<size_t>(n) * 4); return;
    case TensorType::kF16: f16_to_f32_row(static_cast<const uint16_t*>(src), dst, n); return;
    case TensorType::kBF16: bf16_to_f32_row(static_cast<const uint16_t*>(src), dst, n); return;
    case TensorType::kQ4_0: dequant_q4_0(static_cast<const BlockQ4_0*>(src), dst, nb); return;
    case TensorType::kQ4_1: dequant_q4_1(static_cast<const BlockQ4_1*>(src), dst, nb); return;
    case TensorType::kQ5_0: dequant_q5_0(static_cast<const BlockQ5_0*>(src), dst, nb); return;
    case TensorType::kQ5_1: dequant_q5_1(static_cast<const BlockQ5_1*>(src), dst, nb); return;
    case TensorType::kQ8_0: dequant_q8_0(static_cast<const BlockQ8_0*>(src), dst, nb); return;
    case TensorType::kQ4_K: dequant_q4_k(static_cast<const BlockQ4_K*>(src), dst, nb); return;
    case TensorType::kQ5_K: dequant_q5_k(static_cast<const BlockQ5_K*>(src), dst, nb); return;
    case TensorType::kQ6_K: dequant_q6_k(static_cast<const BlockQ6_K*>(src), dst, nb); return;
    case TensorType::kQ8_K: dequant_q8_k(static_cast<const BlockQ8_K*>(src), dst, nb); return;
    default: HANGAR_ASSERT_MSG(false, "dequantize_row: unsupported tensor type");
  }
}

}  // namespace hangar::kernels::ref
