// Tests of quantization: error bounds of quantize -> dequantize round trips, exact cases, and
// the SIMD activation quantizers against the reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/blocks.h"
#include "kernels/dispatch.h"
#include "kernels/kernels.h"
#include "kernels/kernels_test_util.h"
#include "kernels/reference/reference.h"

namespace hangar::kernels {
namespace {

using testing::available_isas;
using testing::random_floats;

std::vector<float> round_trip(TensorType t, const std::vector<float>& x) {
  const auto n = static_cast<int64_t>(x.size());
  std::vector<uint8_t> q(static_cast<size_t>(tensor_row_bytes(t, n)));
  quantize_row(t, x.data(), q.data(), n);
  std::vector<float> y(x.size());
  dequantize_row(t, q.data(), y.data(), n);
  return y;
}

// Per 32-block bounds that follow from each format's definition (plus fp16 rounding of d/m).
TEST(Quantize, ThirtyTwoBlockTypesStayWithinTheirBounds) {
  const auto x = random_floats(32 * 400, 11);
  for (TensorType t : {TensorType::kQ8_0, TensorType::kQ4_0, TensorType::kQ4_1, TensorType::kQ5_0,
                       TensorType::kQ5_1}) {
    const auto y = round_trip(t, x);
    for (size_t b = 0; b < x.size() / 32; ++b) {
      float amax = 0, mn = x[32 * b], mx = x[32 * b];
      for (int j = 0; j < 32; ++j) {
        amax = std::max(amax, std::fabs(x[32 * b + j]));
        mn = std::min(mn, x[32 * b + j]);
        mx = std::max(mx, x[32 * b + j]);
      }
      float bound = 0;
      switch (t) {
        case TensorType::kQ8_0: bound = 0.5f * amax / 127 + amax * 0x1p-10f; break;
        // The value of largest magnitude maps to -8 (-16); its opposite clamps at 7 (15).
        case TensorType::kQ4_0: bound = amax / 8 + amax * 0x1p-9f; break;
        case TensorType::kQ5_0: bound = amax / 16 + amax * 0x1p-9f; break;
        case TensorType::kQ4_1: bound = 0.5f * (mx - mn) / 15 + (std::fabs(mn) + mx - mn) * 0x1p-10f; break;
        default: bound = 0.5f * (mx - mn) / 31 + (std::fabs(mn) + mx - mn) * 0x1p-10f; break;
      }
      for (int j = 0; j < 32; ++j)
        ASSERT_LE(std::fabs(y[32 * b + j] - x[32 * b + j]), bound)
            << testing::type_name(t) << " block " << b << " element " << j;
    }
  }
}

double rel_rmse(const std::vector<float>& x, const std::vector<float>& y) {
  double e = 0, s = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    e += (static_cast<double>(x[i]) - y[i]) * (static_cast<double>(x[i]) - y[i]);
    s += static_cast<double>(x[i]) * x[i];
  }
  return std::sqrt(e / s);
}

// K-quant errors relative to the data's RMS (on data with 1% outliers, which set the scales of
// their blocks); measured 0.091, 0.046, 0.025 and 0.019. Bit-exactness with llama.cpp's
// quantizers is checked on real tensors in gguf_oracle_test.cc.
TEST(Quantize, KQuantsRoundTripWithinTheirErrorLevel) {
  const auto x = random_floats(256 * 64, 5);
  EXPECT_LT(rel_rmse(x, round_trip(TensorType::kQ4_K, x)), 0.1);
  EXPECT_LT(rel_rmse(x, round_trip(TensorType::kQ5_K, x)), 0.05);
  EXPECT_LT(rel_rmse(x, round_trip(TensorType::kQ6_K, x)), 0.028);
  EXPECT_LT(rel_rmse(x, round_trip(TensorType::kQ8_K, x)), 0.021);
  // The scale search must beat plain min/max scaling of the same format (Q4_1 is that, with
  // 32-element blocks and fp16 scales instead of 6-bit ones).
  EXPECT_LT(rel_rmse(x, round_trip(TensorType::kQ4_K, x)), rel_rmse(x, round_trip(TensorType::kQ4_1, x)));
}

TEST(Quantize, FloatTypesRoundTrip) {
  const auto x = random_floats(999, 2);
  EXPECT_EQ(round_trip(TensorType::kF32, x), x);
  const auto h = round_trip(TensorType::kF16, x);
  const auto b = round_trip(TensorType::kBF16, x);
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(h[i], fp16_to_fp32(fp32_to_fp16(x[i])));
    EXPECT_EQ(b[i], bf16_to_fp32(fp32_to_bf16(x[i])));
  }
}

// Values already on a format's grid must come back exactly.
TEST(Quantize, ValuesOnTheGridAreExact) {
  // Q8_0: multiples of 0.5 with amax = 127 * 0.5, so d is exactly 0.5.
  std::vector<float> q8(32);
  for (int j = 0; j < 32; ++j) q8[j] = 0.5f * static_cast<float>((j * 7) % 255 - 127);
  q8[3] = 63.5f;
  EXPECT_EQ(round_trip(TensorType::kQ8_0, q8), q8);
  // Q4_1: min -4, max 3.5 over 15 steps of 0.5.
  std::vector<float> q41(32);
  for (int j = 0; j < 32; ++j) q41[j] = -4.0f + 0.5f * static_cast<float>(j % 16);
  EXPECT_EQ(round_trip(TensorType::kQ4_1, q41), q41);
  // Q4_0: the largest magnitude -4 is -8 * d with d = 0.5.
  std::vector<float> q40(32);
  for (int j = 0; j < 32; ++j) q40[j] = 0.5f * static_cast<float>(j % 16 - 8);
  EXPECT_EQ(round_trip(TensorType::kQ4_0, q40), q40);
}

TEST(Quantize, ZeroRowsStayZero) {
  const std::vector<float> z(512, 0.0f);
  for (TensorType t : testing::weight_types()) EXPECT_EQ(round_trip(t, z), z) << testing::type_name(t);
  EXPECT_EQ(round_trip(TensorType::kQ8_K, z), z);
}

TEST(Quantize, Q8_KBlockSumsAndSign) {
  auto x = random_floats(512, 9);
  x[77] = -50.0f;  // the largest magnitude is negative: it must map to -127 exactly
  std::vector<BlockQ8_K> b(2);
  quantize_row(TensorType::kQ8_K, x.data(), b.data(), 512);
  EXPECT_EQ(b[0].qs[77], -127);
  for (const auto& blk : b)
    for (int j = 0; j < 16; ++j) {
      int s = 0;
      for (int l = 0; l < 16; ++l) s += blk.qs[16 * j + l];
      EXPECT_EQ(blk.bsums[j], s);
    }
}

// The SIMD activation quantizers must be bit-identical to the reference (the matmul tests
// compare against reference dot products computed from reference activations).
TEST(QuantizeActs, SimdMatchesReferenceBitExactly) {
  for (Isa isa : available_isas()) {
    const auto& tab = isa == Isa::kScalar   ? detail::scalar_table()
                      : isa == Isa::kAvx2   ? detail::avx2_table()
                      : isa == Isa::kAvx512 ? detail::avx512_table()
                                            : detail::avx512_vnni_table();
    for (int64_t n : {256, 512, 2048}) {
      auto x = random_floats(n + 1, static_cast<uint32_t>(n), 3.0f);
      x[5] = 0.0f;
      std::fill(x.begin() + 33, x.begin() + 65, 0.0f);  // an all-zero 32-block
      x[300 % n] = 100.0f;  // a +/- tie for Q8_K's signed max
      x[200 % n] = -100.0f;
      for (bool k : {false, true}) {
        std::vector<int8_t> q1(n), q2(n);
        std::vector<float> d1(n / 32), d2(n / 32), s1(n / 32), s2(n / 32);
        std::vector<int16_t> h1(n / 16), h2(n / 16);
        const float* src = x.data() + 1;  // misaligned
        if (k) {
          ref::quantize_acts_q8_k(src, n, q1.data(), d1.data(), s1.data(), h1.data());
          tab.quantize_q8_k(src, n, q2.data(), d2.data(), s2.data(), h2.data());
        } else {
          ref::quantize_acts_q8_32(src, n, q1.data(), d1.data(), s1.data(), h1.data());
          tab.quantize_q8_32(src, n, q2.data(), d2.data(), s2.data(), h2.data());
        }
        EXPECT_EQ(q1, q2) << isa_name(isa) << " n=" << n << " k=" << k;
        EXPECT_EQ(d1, d2) << isa_name(isa);
        EXPECT_EQ(s1, s2) << isa_name(isa);
        EXPECT_EQ(h1, h2) << isa_name(isa);
      }
    }
  }
}

}  // namespace
}  // namespace hangar::kernels
