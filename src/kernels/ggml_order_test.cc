// The x86 quantized kernels reproduce llama.cpp's float evaluation order bit for bit: every
// output equals ref::dot_quant_ggml (a scalar spelling-out of llama.cpp's x86 order) exactly.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "kernels/blocks.h"
#include "kernels/dispatch.h"
#include "kernels/kernels.h"
#include "kernels/kernels_test_util.h"
#include "kernels/reference/reference.h"

namespace hangar::kernels {
namespace {

using testing::ScopedIsa;

constexpr int64_t kMaxTokens = 20;

struct Case {
  testing::TestMatrix w;
  std::vector<float> x;  // kMaxTokens rows of cols floats
  std::vector<float> expect;  // [t][r]
};

Case make_case(TensorType type, int64_t rows, int64_t cols, uint32_t seed) {
  Case c;
  c.w = testing::make_matrix(type, rows, cols, seed, seed % 3, seed % 2 ? 6 : 0);
  c.x = testing::random_floats(kMaxTokens * cols, seed * 131 + 7, 1.5f);
  const int kind = detail::weight_kind(type);
  std::vector<int8_t> qs(static_cast<size_t>(kMaxTokens * cols));
  std::vector<float> d32(static_cast<size_t>(kMaxTokens * cols / 32)), s32(d32.size());
  std::vector<int16_t> s16(static_cast<size_t>(kMaxTokens * cols / 16));
  const detail::QuantActs acts{cols, qs.data(), d32.data(), s32.data(), s16.data()};
  for (int64_t t = 0; t < kMaxTokens; ++t) {
    auto fn = detail::is_k_quant(kind) ? ref::quantize_acts_q8_k : ref::quantize_acts_q8_32;
    fn(c.x.data() + t * cols, cols, acts.qs + t * cols, acts.d32 + t * cols / 32, acts.s32 + t * cols / 32,
       acts.s16 + t * cols / 16);
  }
  const detail::GgmlOrder order = detail::ggml_order(kind, rows);
  c.expect.resize(static_cast<size_t>(kMaxTokens * rows));
  const auto* base = static_cast<const uint8_t*>(c.w.m.data);
  for (int64_t t = 0; t < kMaxTokens; ++t)
    for (int64_t r = 0; r < rows; ++r)
      c.expect[static_cast<size_t>(t * rows + r)] =
          ref::dot_quant_ggml(kind, base + r * c.w.m.row_bytes, cols, acts, t, order);
  return c;
}

class GgmlOrderTest : public ::testing::TestWithParam<TensorType> {};

TEST_P(GgmlOrderTest, EveryOutputMatchesLlamaCppOrderExactly) {
  const TensorType type = GetParam();
  const int kind = detail::weight_kind(type);
  const int64_t be = testing::block_elems(type);
  // Row counts that are and are not multiples of 8 (llama.cpp repacks Q4_0/Q4_K only when they
  // are), and column counts that span the tiled kernel's column chunks.
  std::vector<std::pair<int64_t, int64_t>> shapes;
  if (be == 256) shapes = {{8, 256}, {13, 512}, {40, 768}, {24, 1280}};
  else shapes = {{8, 32}, {13, 544}, {40, 96}, {24, 1056}, {7, 512}, {9, 896}};
  ThreadPool pool(2);
  MatmulScratch scratch;
  uint32_t seed = 11;
  for (const auto& [rows, cols] : shapes) {
    const Case c = make_case(type, rows, cols, seed++);
    for (Isa isa : testing::available_isas()) {
      if (isa == Isa::kScalar) continue;  // the scalar table follows llama.cpp's generic C order
      ScopedIsa scoped(isa);
      const detail::TypeKernels& tk = detail::active_table().types[kind];
      for (int64_t nt : {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 13, 17, 20}) {
        const bool tiled = nt >= detail::gemm_min_tokens(tk, kind, rows);
        if (tiled && !(tk.gemm_repacked && detail::ggml_order(kind, rows) == detail::GgmlOrder::kRepacked)) continue;
        std::vector<float> y(static_cast<size_t>(nt * rows), -1.0f);
        matmul(c.w.m, c.x.data(), nt, cols, y.data(), rows, pool, scratch);
        for (int64_t t = 0; t < nt; ++t)
          for (int64_t r = 0; r < rows; ++r) {
            const size_t i = static_cast<size_t>(t * rows + r);
            ASSERT_EQ(y[i], c.expect[i]) << isa_name(isa) << " " << testing::type_name(type) << " " << rows << "x"
                                         << cols << " with " << nt << " tokens: token " << t << " row " << r;
          }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(QuantTypes, GgmlOrderTest,
                         ::testing::Values(TensorType::kQ8_0, TensorType::kQ4_0, TensorType::kQ4_1,
                                           TensorType::kQ5_0, TensorType::kQ5_1, TensorType::kQ4_K,
                                           TensorType::kQ5_K, TensorType::kQ6_K),
                         [](const auto& info) { return testing::type_name(info.param); });

// The oracle itself, on one hand-checkable block: a Q8_0 row of ones times activations that
// quantize exactly, where every lane sum and the final sum are small integers.
TEST(GgmlOrderReference, Q8_0LanesOfOnes) {
  BlockQ8_0 blk;
  blk.d = fp32_to_fp16(1.0f);
  for (int i = 0; i < 32; ++i) blk.qs[i] = 1;
  std::vector<float> x(32);
  for (int i = 0; i < 32; ++i) x[i] = static_cast<float>(i % 8 == 0 ? 127 : i % 5);  // amax 127 -> d = 1
  int8_t qs[32];
  float d32, s32;
  int16_t s16[2];
  ref::quantize_acts_q8_32(x.data(), 32, qs, &d32, &s32, s16);
  const detail::QuantActs acts{32, qs, &d32, &s32, s16};
  float sum = 0;
  for (float v : x) sum += v;
  EXPECT_EQ(ref::dot_quant_ggml(detail::kWQ8_0, &blk, 32, acts, 0, detail::GgmlOrder::kLanes), sum);
}

}  // namespace
}  // namespace hangar::kernels
