// Tests of fp16/bf16 conversions and of dequantization of hand-built ggml blocks.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/blocks.h"
#include "kernels/kernels.h"
#include "kernels/kernels_test_util.h"

namespace hangar::kernels {
namespace {

using testing::available_isas;
using testing::ScopedIsa;

bool is_nan16(uint16_t h) { return (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0; }

TEST(Fp16, EveryHalfRoundTripsThroughFloat) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const auto v = static_cast<uint16_t>(h);
    const float f = fp16_to_fp32(v);
    if (is_nan16(v)) {
      EXPECT_TRUE(std::isnan(f));
      EXPECT_TRUE(is_nan16(fp32_to_fp16(f)));
    } else {
      ASSERT_EQ(fp32_to_fp16(f), v) << "half 0x" << std::hex << h;
    }
  }
}

TEST(Fp16, KnownValuesAndRoundToNearestEven) {
  EXPECT_EQ(fp16_to_fp32(0x3C00), 1.0f);
  EXPECT_EQ(fp16_to_fp32(0x7BFF), 65504.0f);
  EXPECT_EQ(fp16_to_fp32(0x0001), 0x1p-24f);
  EXPECT_EQ(fp16_to_fp32(0x0400), 0x1p-14f);
  EXPECT_EQ(fp16_to_fp32(0xC000), -2.0f);
  EXPECT_TRUE(std::isinf(fp16_to_fp32(0x7C00)));
  EXPECT_EQ(fp32_to_fp16(65519.0f), 0x7BFF);
  EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7C00);  // the tie rounds to even: infinity
  EXPECT_EQ(fp32_to_fp16(1.0f + 0x1p-11f), 0x3C00);      // tie, even stays
  EXPECT_EQ(fp32_to_fp16(1.0f + 3 * 0x1p-11f), 0x3C02);  // tie, odd rounds up
  EXPECT_EQ(fp32_to_fp16(0x1p-25f), 0x0000);             // half the smallest subnormal
  EXPECT_EQ(fp32_to_fp16(3 * 0x1p-25f), 0x0002);
  EXPECT_EQ(fp32_to_fp16(0x1p-14f - 0x1p-26f), 0x0400);  // rounds up into the normals
  EXPECT_EQ(fp32_to_fp16(-0.0f), 0x8000);
  EXPECT_EQ(fp32_to_fp16(1e-10f), 0x0000);
  EXPECT_EQ(fp32_to_fp16(std::numeric_limits<float>::infinity()), 0x7C00);
}

TEST(Fp16, RowConversionsMatchScalarOnEveryIsa) {
  std::vector<uint16_t> all(65536);
  for (uint32_t h = 0; h < 65536; ++h) all[h] = static_cast<uint16_t>(h);
  std::vector<float> floats = testing::random_floats(4099, 3, 1000.0f);
  for (float f : {0.0f, -0.0f, 65504.0f, 65520.0f, 1e-8f, 6.1e-5f, 3e-7f, 1e30f,
                  std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()})
    floats.push_back(f);
  for (uint32_t i = 0; i < 2000; ++i) floats.push_back(std::bit_cast<float>(0x33000000u + i * 0x3b9acau));
  for (Isa isa : available_isas()) {
    ScopedIsa scoped(isa);
    std::vector<float> f(all.size());
    f16_to_f32_row(all.data(), f.data(), static_cast<int64_t>(all.size()));
    for (uint32_t h = 0; h < 65536; ++h) {
      if (is_nan16(all[h])) continue;
      ASSERT_EQ(std::bit_cast<uint32_t>(f[h]), std::bit_cast<uint32_t>(fp16_to_fp32(all[h])))
          << isa_name(isa) << " half 0x" << std::hex << h;
    }
    std::vector<uint16_t> h(floats.size());
    f32_to_f16_row(floats.data(), h.data(), static_cast<int64_t>(floats.size()));
    for (size_t i = 0; i < floats.size(); ++i)
      ASSERT_EQ(h[i], fp32_to_fp16(floats[i])) << isa_name(isa) << " value " << floats[i];
  }
}

TEST(Bf16, KnownValuesAndRounding) {
  EXPECT_EQ(fp32_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(bf16_to_fp32(0x3F80), 1.0f);
  EXPECT_EQ(bf16_to_fp32(0xC040), -3.0f);
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x3F808000u)), 0x3F80);  // tie to even
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x3F818000u)), 0x3F82);  // tie to even (up)
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x3F808001u)), 0x3F81);
  EXPECT_TRUE(std::isnan(bf16_to_fp32(fp32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  std::vector<uint16_t> h(37);
  for (size_t i = 0; i < h.size(); ++i) h[i] = static_cast<uint16_t>(0x3F00 + 97 * i);
  for (Isa isa : available_isas()) {
    ScopedIsa scoped(isa);
    std::vector<float> f(h.size());
    dequantize_row(TensorType::kBF16, h.data(), f.data(), static_cast<int64_t>(h.size()));
    for (size_t i = 0; i < h.size(); ++i) EXPECT_EQ(f[i], bf16_to_fp32(h[i]));
  }
}

// ---- dequantization of blocks built by hand from the documented layouts.

void put16(uint16_t v, uint8_t* p) { std::memcpy(p, &v, 2); }

TEST(Dequantize, Q4_0AndQ4_1Nibbles) {
  BlockQ4_0 b0;
  BlockQ4_1 b1;
  b0.d = 0x3800;  // 0.5
  b1.d = 0x3400;  // 0.25
  b1.m = 0xBC00;  // -1
  for (int j = 0; j < 16; ++j) b0.qs[j] = b1.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  float y0[32], y1[32];
  dequantize_row(TensorType::kQ4_0, &b0, y0, 32);
  dequantize_row(TensorType::kQ4_1, &b1, y1, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y0[j], 0.5f * (j - 8));
    EXPECT_EQ(y0[j + 16], 0.5f * (7 - j));
    EXPECT_EQ(y1[j], 0.25f * j - 1.0f);
    EXPECT_EQ(y1[j + 16], 0.25f * (15 - j) - 1.0f);
  }
}

TEST(Dequantize, Q5_0AndQ5_1FifthBit) {
  BlockQ5_0 b0;
  BlockQ5_1 b1;
  b0.d = 0x3C00;  // 1
  b1.d = 0x4000;  // 2
  b1.m = 0x3800;  // 0.5
  const uint32_t qh = 0xA5C3F00Fu;
  std::memcpy(b0.qh, &qh, 4);
  std::memcpy(b1.qh, &qh, 4);
  for (int j = 0; j < 16; ++j) b0.qs[j] = b1.qs[j] = static_cast<uint8_t>((j * 5 % 16) | ((j * 3 % 16) << 4));
  float y0[32], y1[32];
  dequantize_row(TensorType::kQ5_0, &b0, y0, 32);
  dequantize_row(TensorType::kQ5_1, &b1, y1, 32);
  for (int e = 0; e < 32; ++e) {
    const int low4 = e < 16 ? (e * 5 % 16) : ((e - 16) * 3 % 16);
    const int q = low4 | static_cast<int>(((qh >> e) & 1) << 4);
    EXPECT_EQ(y0[e], static_cast<float>(q - 16)) << e;
    EXPECT_EQ(y1[e], 2.0f * q + 0.5f) << e;
  }
}

TEST(Dequantize, Q8_0) {
  BlockQ8_0 b;
  b.d = 0x4000;  // 2
  for (int j = 0; j < 32; ++j) b.qs[j] = static_cast<int8_t>(j * 8 - 128);
  float y[32];
  dequantize_row(TensorType::kQ8_0, &b, y, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], 2.0f * static_cast<float>(j * 8 - 128));
}

// Packs eight 6-bit scales and mins the way Q4_K/Q5_K store them.
void pack_k_scales(const int* sc, const int* m, uint8_t* out) {
  std::memset(out, 0, 12);
  for (int j = 0; j < 4; ++j) {
    out[j] = static_cast<uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
    out[j + 4] = static_cast<uint8_t>(m[j] | ((m[j + 4] >> 4) << 6));
    out[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0xF) | ((m[j + 4] & 0xF) << 4));
  }
}

TEST(Dequantize, Q4_KAndQ5_KSubBlockScales) {
  int sc[8], mn[8];
  for (int j = 0; j < 8; ++j) {
    sc[j] = 63 - 5 * j;
    mn[j] = 7 * j + 1;
  }
  BlockQ4_K b4;
  BlockQ5_K b5;
  put16(0x3C00, reinterpret_cast<uint8_t*>(&b4.d));     // 1
  put16(0x3800, reinterpret_cast<uint8_t*>(&b4.dmin));  // 0.5
  b5.d = b4.d;
  b5.dmin = b4.dmin;
  pack_k_scales(sc, mn, b4.scales);
  pack_k_scales(sc, mn, b5.scales);
  auto code4 = [](int e) { return (e * 7 + e / 32) % 16; };
  auto code5 = [](int e) { return (e * 11 + 3) % 32; };
  std::memset(b5.qh, 0, sizeof(b5.qh));
  for (int e = 0; e < 256; ++e) {
    // Sub-block j = e / 32 lives in byte 32 * (j / 2) + e % 32, low nibble if j is even;
    // Q5_K's fifth bit is bit j of qh[e % 32].
    const int j = e / 32, l = e % 32;
    uint8_t& q4 = b4.qs[32 * (j / 2) + l];
    uint8_t& q5 = b5.qs[32 * (j / 2) + l];
    if (j % 2 == 0) {
      q4 = static_cast<uint8_t>(code4(e));
      q5 = static_cast<uint8_t>(code5(e) & 0xF);
    } else {
      q4 = static_cast<uint8_t>(q4 | (code4(e) << 4));
      q5 = static_cast<uint8_t>(q5 | ((code5(e) & 0xF) << 4));
    }
    if (code5(e) & 16) b5.qh[l] = static_cast<uint8_t>(b5.qh[l] | (1 << j));
  }
  float y4[256], y5[256];
  dequantize_row(TensorType::kQ4_K, &b4, y4, 256);
  dequantize_row(TensorType::kQ5_K, &b5, y5, 256);
  for (int e = 0; e < 256; ++e) {
    const int j = e / 32;
    EXPECT_FLOAT_EQ(y4[e], static_cast<float>(sc[j] * code4(e)) - 0.5f * mn[j]) << e;
    EXPECT_FLOAT_EQ(y5[e], static_cast<float>(sc[j] * code5(e)) - 0.5f * mn[j]) << e;
  }
}

TEST(Dequantize, Q6_KSixBitCodes) {
  BlockQ6_K b;
  std::memset(&b, 0, sizeof(b));
  put16(0x3000, reinterpret_cast<uint8_t*>(&b.d));  // 0.125
  for (int j = 0; j < 16; ++j) b.scales[j] = static_cast<int8_t>(9 * j - 70);
  auto code = [](int e) { return (e * 37 + 5) % 64; };
  for (int e = 0; e < 256; ++e) {
    // Half h = e / 128; within it quarter k = (e % 128) / 32 and l = e % 32: the low nibble
    // sits in ql[64h + l + 32 (k & 1)] (high nibble when k >= 2), the top two bits in
    // qh[32h + l] at bit 2k.
    const int h = e / 128, k = (e % 128) / 32, l = e % 32, c = code(e);
    uint8_t& ql = b.ql[64 * h + l + 32 * (k & 1)];
    ql = static_cast<uint8_t>(ql | ((c & 0xF) << (k >= 2 ? 4 : 0)));
    b.qh[32 * h + l] = static_cast<uint8_t>(b.qh[32 * h + l] | ((c >> 4) << (2 * k)));
  }
  float y[256];
  dequantize_row(TensorType::kQ6_K, &b, y, 256);
  for (int e = 0; e < 256; ++e)
    EXPECT_FLOAT_EQ(y[e], 0.125f * b.scales[e / 16] * (code(e) - 32)) << e;
}

TEST(Dequantize, F16RowsOnEveryIsa) {
  std::vector<uint16_t> h(77);
  for (size_t i = 0; i < h.size(); ++i) h[i] = fp32_to_fp16(0.37f * static_cast<float>(i) - 9.0f);
  for (Isa isa : available_isas()) {
    ScopedIsa scoped(isa);
    std::vector<float> f(h.size() + 1);
    dequantize_row(TensorType::kF16, h.data(), f.data() + 1, static_cast<int64_t>(h.size()));
    for (size_t i = 0; i < h.size(); ++i) EXPECT_EQ(f[i + 1], fp16_to_fp32(h[i])) << isa_name(isa);
  }
}

}  // namespace
}  // namespace hangar::kernels
