// Scalar emulation of llama.cpp's float evaluation order in its quantized dot products: the x86
// (AVX2 and up) kernels, and the generic C code it runs elsewhere.
//
// These models are sensitive enough that the rounding of one float sum can flip an 8-bit
// activation downstream, so the x86 kernels reproduce llama.cpp's order bit for bit; this file
// spells that order out in plain code and is the oracle their tests compare with exactly.
// Integer sums are exact in any order, so only the float steps and the grouping of the integer
// sums that feed them matter.
#include <cmath>
#include <cstring>

#include "base/assert.h"
#include "kernels/blocks.h"
#include "kernels/fp16.h"
#include "kernels/reference/reference.h"

namespace hangar::kernels::ref {
namespace {

using detail::QuantActs;

// hsum_float_8: (hi128 + lo128), then + movehl, then the two remaining lanes.
float hsum8(const float* a) {
  const float s0 = a[0] + a[4], s1 = a[1] + a[5], s2 = a[2] + a[6], s3 = a[3] + a[7];
  return (s0 + s2) + (s1 + s3);
}


// Sum of the 4 products of group g (elements 4g .. 4g+3) of c and q.
int dot4(const int* c, const int8_t* q, int g) {
  int s = 0;
  for (int i = 4 * g; i < 4 * g + 4; ++i) s += c[i] * q[i];
  return s;
}

// ggml_vec_dot_{q8_0,q4_0,q5_0}_q8_0, ggml_vec_dot_{q4_1,q5_1}_q8_1 (AVX2) and tinyBLAS_Q0_AVX.
float dot32_lanes(int kind, const uint8_t* row, int64_t nb, const int8_t* q, const float* d32,
                  const float* s32) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  float summs = 0;
  int c[32];
  for (int64_t b = 0; b < nb; ++b) {
    float d, m;
    codes_32(kind, row + b * block_bytes_32(kind), c, &d, &m);
    const float dd = d * d32[b];
    for (int g = 0; g < 8; ++g) acc[g] = std::fma(dd, static_cast<float>(dot4(c, q + 32 * b, g)), acc[g]);
    // The C compiler contracts `summs += m * s` into one fma.
    summs = std::fma(m, s32[b], summs);
  }
  const bool has_min = kind == detail::kWQ4_1 || kind == detail::kWQ5_1;
  return has_min ? hsum8(acc) + summs : hsum8(acc);
}

// ggml_gemv/gemm_q4_0_8x8_q8_0: one chain per output over whole-block integer sums.
float dot32_repacked(int kind, const uint8_t* row, int64_t nb, const int8_t* q, const float* d32) {
  HANGAR_ASSERT(kind == detail::kWQ4_0);
  float acc = 0;
  int c[32];
  for (int64_t b = 0; b < nb; ++b) {
    float d, m;
    codes_32(kind, row + b * block_bytes_32(kind), c, &d, &m);
    int s = 0;
    for (int i = 0; i < 32; ++i) s += c[i] * q[32 * b + i];
    acc = std::fma(static_cast<float>(s), d * d32[b], acc);
  }
  return acc;
}


float dotk(int kind, const uint8_t* row, int64_t nsb, const int8_t* q, const float* d32,
           const int16_t* s16, GgmlOrder order) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0}, acc_m[4] = {0, 0, 0, 0};
  float chain = 0, chain_m = 0, summs = 0;
  int c[kQKK];
  for (int64_t sb = 0; sb < nsb; ++sb, q += kQKK, s16 += 16) {
    const float yd = d32[8 * sb];
    if (kind == detail::kWQ6_K) {
      HANGAR_ASSERT(order == GgmlOrder::kLanes);
      const auto* b = reinterpret_cast<const BlockQ6_K*>(row) + sb;
      codes_q6k(b, c);
      const float d = yd * fp16_to_fp32(b->d);
      for (int g = 0; g < 8; ++g) {
        // Lane g: group g of every 32-element chunk, scaled by its 16-element sub-block, minus
        // 32 * (sc * bsum) of sub-blocks 2g and 2g+1 (a different grouping, exact in integers).
        int s = 0;
        for (int ch = 0; ch < 8; ++ch) s += b->scales[2 * ch + g / 4] * dot4(c + 32 * ch, q + 32 * ch, g);
        s -= 32 * (s16[2 * g] * b->scales[2 * g] + s16[2 * g + 1] * b->scales[2 * g + 1]);
        acc[g] = std::fma(d, static_cast<float>(s), acc[g]);
      }
      continue;
    }
    int sc[8], mn[8];
    float xd, xdmin;
    codes_q45k(kind, row + sb * (kind == detail::kWQ4_K ? 144 : 176), c, sc, mn, &xd, &xdmin);
    int bsum32[8];
    for (int j = 0; j < 8; ++j) bsum32[j] = s16[2 * j] + s16[2 * j + 1];
    if (order == GgmlOrder::kRepacked) {
      // ggml_gemv/gemm_q4_K_8x8_q8_K.
      HANGAR_ASSERT(kind == detail::kWQ4_K);
      int s = 0, m = 0;
      for (int j = 0; j < 8; ++j) {
        int dj = 0;
        for (int i = 0; i < 32; ++i) dj += c[32 * j + i] * q[32 * j + i];
        s += sc[j] * dj;
        m += mn[j] * bsum32[j];
      }
      chain = std::fma(static_cast<float>(s), xd * yd, chain);
      chain_m = std::fma(static_cast<float>(m), xdmin * yd, chain_m);
      continue;
    }
    const float d = yd * xd, dmin = -yd * xdmin;
    for (int g = 0; g < 8; ++g) {
      int s = 0;
      for (int j = 0; j < 8; ++j) s += sc[j] * dot4(c + 32 * j, q + 32 * j, g);
      acc[g] = std::fma(d, static_cast<float>(s), acc[g]);
    }
    int prod[4];
    for (int i = 0; i < 4; ++i) prod[i] = mn[2 * i] * bsum32[2 * i] + mn[2 * i + 1] * bsum32[2 * i + 1];
    if (kind == detail::kWQ4_K) {
      for (int i = 0; i < 4; ++i) acc_m[i] = std::fma(dmin, static_cast<float>(prod[i]), acc_m[i]);
    } else {
      summs = std::fma(dmin, static_cast<float>(prod[0] + prod[1] + prod[2] + prod[3]), summs);
    }
  }
  if (order == GgmlOrder::kRepacked) return chain - chain_m;
  if (kind == detail::kWQ4_K) return hsum8(acc) + ((acc_m[0] + acc_m[2]) + (acc_m[1] + acc_m[3]));
  if (kind == detail::kWQ5_K) return hsum8(acc) + summs;
  return hsum8(acc);
}

// ggml's generic C vec_dot (llama.cpp on CPUs without AVX2, where nothing is fused): one float
// sum over blocks for the 32-block types; for the K-quants 8 float lanes, lane l fed
// d * (integer sum over elements = l mod 8, times their sub-block scales), Q4_K/Q5_K's min term
// subtracted from a separate sum that then adds the lanes in order.
float dot32_generic(int kind, const uint8_t* row, int64_t nb, const int8_t* q, const float* d32,
                    const float* s32) {
  float sumf = 0;
  int c[32];
  for (int64_t b = 0; b < nb; ++b) {
    float d, m;
    codes_32(kind, row + b * block_bytes_32(kind), c, &d, &m);
    int sumi = 0;
    for (int i = 0; i < 32; ++i) sumi += c[i] * q[32 * b + i];
    const float fs = static_cast<float>(sumi);
    switch (kind) {
      case detail::kWQ4_0: sumf += fs * d * d32[b]; break;
      case detail::kWQ8_0: sumf += fs * (d * d32[b]); break;
      case detail::kWQ5_0: sumf += (d * d32[b]) * fs; break;
      default: sumf += (d * d32[b]) * fs + m * s32[b]; break;  // Q4_1, Q5_1
    }
  }
  return sumf;
}

float dotk_generic(int kind, const uint8_t* row, int64_t nsb, const int8_t* q, const float* d32,
                   const int16_t* s16) {
  float sums[8] = {0, 0, 0, 0, 0, 0, 0, 0}, sumf = 0;
  int c[kQKK], sc16[16];
  for (int64_t sb = 0; sb < nsb; ++sb, q += kQKK, s16 += 16) {
    float xd, xdmin = 0;
    int mins[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    if (kind == detail::kWQ6_K) {
      const auto* b = reinterpret_cast<const BlockQ6_K*>(row) + sb;
      codes_q6k(b, c);
      for (int i = 0; i < kQKK; ++i) c[i] -= 32;
      for (int j = 0; j < 16; ++j) sc16[j] = b->scales[j];
      xd = fp16_to_fp32(b->d);
    } else {
      int sc[8];
      codes_q45k(kind, row + sb * (kind == detail::kWQ4_K ? 144 : 176), c, sc, mins, &xd, &xdmin);
      for (int j = 0; j < 16; ++j) sc16[j] = sc[j / 2];
    }
    int aux32[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int i = 0; i < kQKK; ++i) aux32[i % 8] += sc16[i / 16] * (q[i] * c[i]);
    const float d = xd * d32[8 * sb];
    for (int l = 0; l < 8; ++l) sums[l] += d * static_cast<float>(aux32[l]);
    if (kind != detail::kWQ6_K) {
      int sumi = 0;
      for (int j = 0; j < 16; ++j) sumi += s16[j] * mins[j / 2];
      sumf -= xdmin * d32[8 * sb] * static_cast<float>(sumi);
    }
  }
  for (int l = 0; l < 8; ++l) sumf += sums[l];
  return sumf;
}

}  // namespace

float dot_quant_generic(int kind, const void* row, int64_t n, const QuantActs& acts, int64_t t) {
  HANGAR_ASSERT(n == acts.cols);
  const int8_t* q = acts.qs + t * n;
  const float* d32 = acts.d32 + t * (n / 32);
  const auto* r = static_cast<const uint8_t*>(row);
  if (detail::is_k_quant(kind)) return dotk_generic(kind, r, n / kQKK, q, d32, acts.s16 + t * (n / 16));
  return dot32_generic(kind, r, n / kQK, q, d32, acts.s32 + t * (n / 32));
}

float dot_quant_ggml(int kind, const void* row, int64_t n, const QuantActs& acts, int64_t t,
                     GgmlOrder order) {
  HANGAR_ASSERT(n == acts.cols);
  HANGAR_ASSERT(order == GgmlOrder::kLanes || kind == detail::kWQ4_0 || kind == detail::kWQ4_K);
  const int8_t* q = acts.qs + t * n;
  const float* d32 = acts.d32 + t * (n / 32);
  const auto* r = static_cast<const uint8_t*>(row);
  if (detail::is_k_quant(kind)) return dotk(kind, r, n / kQKK, q, d32, acts.s16 + t * (n / 16), order);
  if (order == GgmlOrder::kRepacked) return dot32_repacked(kind, r, n / kQK, q, d32);
  return dot32_lanes(kind, r, n / kQK, q, d32, acts.s32 + t * (n / 32));
}

}  // namespace hangar::kernels::ref
