// matmul on every ISA and weight type against the scalar reference dot products, plus a check
// against the float product of the dequantized weights (bounded by the activation rounding).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "kernels/dispatch.h"
#include "kernels/kernels.h"
#include "kernels/kernels_test_util.h"
#include "kernels/reference/reference.h"

namespace hangar::kernels {
namespace {

using testing::available_isas;
using testing::ScopedIsa;

constexpr int64_t kMaxTokens = 20;

// One weight matrix, kMaxTokens activation rows and everything the checks need.
struct Fixture {
  testing::TestMatrix w;
  std::vector<float> x;        // kMaxTokens rows of x_stride floats, starting at x[1]
  int64_t x_stride = 0;
  std::vector<float> ref;      // [t][r] reference dot products
  std::vector<float> tol;      // [t][r] allowed difference from ref
  std::vector<float> truth;    // [t][r] float product of dequantized weights and x
  std::vector<float> truth_tol;
};

Fixture make_fixture(TensorType type, int64_t rows, int64_t cols, uint32_t seed) {
  Fixture f;
  f.w = testing::make_matrix(type, rows, cols, seed, seed % 3, seed % 2 ? 6 : 0);
  f.x_stride = cols + 3;
  f.x.assign(static_cast<size_t>(1 + kMaxTokens * f.x_stride), 0.0f);
  for (int64_t t = 0; t < kMaxTokens; ++t) {
    const auto v = testing::random_floats(cols, seed * 31 + static_cast<uint32_t>(t), 1.0f + t % 3);
    std::memcpy(f.x.data() + 1 + t * f.x_stride, v.data(), static_cast<size_t>(cols) * 4);
  }
  const int kind = detail::weight_kind(type);
  const bool quant = !detail::is_float_kind(kind);
  // Reference activations for all tokens.
  std::vector<int8_t> qs(static_cast<size_t>(kMaxTokens * cols));
  std::vector<float> d32(static_cast<size_t>(kMaxTokens * cols / 32)), s32(d32.size());
  std::vector<int16_t> s16(static_cast<size_t>(kMaxTokens * cols / 16));
  detail::QuantActs acts{cols, qs.data(), d32.data(), s32.data(), s16.data()};
  if (quant) {
    for (int64_t t = 0; t < kMaxTokens; ++t) {
      const float* xt = f.x.data() + 1 + t * f.x_stride;
      if (detail::is_k_quant(kind))
        ref::quantize_acts_q8_k(xt, cols, acts.qs + t * cols, acts.d32 + t * cols / 32, acts.s32 + t * cols / 32, acts.s16 + t * cols / 16);
      else
        ref::quantize_acts_q8_32(xt, cols, acts.qs + t * cols, acts.d32 + t * cols / 32, acts.s32 + t * cols / 32, acts.s16 + t * cols / 16);
    }
  }
  const size_t n = static_cast<size_t>(kMaxTokens * rows);
  f.ref.resize(n);
  f.tol.resize(n);
  f.truth.resize(n);
  f.truth_tol.resize(n);
  const auto* base = static_cast<const uint8_t*>(f.w.m.data);
  for (int64_t t = 0; t < kMaxTokens; ++t) {
    const float* xt = f.x.data() + 1 + t * f.x_stride;
    for (int64_t r = 0; r < rows; ++r) {
      const uint8_t* row = base + r * f.w.m.row_bytes;
      const float* wd = f.w.dequantized.data() + r * cols;
      double truth = 0, mag = 0, act_err = 0;
      for (int64_t k = 0; k < cols; ++k) {
        truth += static_cast<double>(wd[k]) * xt[k];
        mag += std::fabs(static_cast<double>(wd[k]) * xt[k]);
        if (quant) act_err += std::fabs(wd[k]) * 0.5 * std::fabs(acts.d32[t * cols / 32 + k / 32]);
      }
      const size_t i = static_cast<size_t>(t * rows + r);
      f.ref[i] = quant ? ref::dot_quant(kind, row, cols, acts, t) : ref::dot_float(kind, row, xt, cols);
      // Only the float summation order differs from the reference.
      f.tol[i] = static_cast<float>(2e-6 * mag * std::sqrt(static_cast<double>(cols)) + 1e-30);
      f.truth[i] = static_cast<float>(truth);
      f.truth_tol[i] = static_cast<float>(act_err * 1.0001 + 1e-5 * mag + 1e-30);
    }
  }
  return f;
}

void check_matmul(const Fixture& f, int64_t n_tokens, ThreadPool& pool, MatmulScratch& scratch,
                  const char* what) {
  const int64_t rows = f.w.m.rows;
  const int64_t y_stride = rows + 5;
  const float sentinel = -12345.0f;
  std::vector<float> y(static_cast<size_t>(n_tokens * y_stride + 1), sentinel);
  matmul(f.w.m, f.x.data() + 1, n_tokens, f.x_stride, y.data() + 1, y_stride, pool, scratch);
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t r = 0; r < rows; ++r) {
      const size_t i = static_cast<size_t>(t * rows + r);
      const float got = y[static_cast<size_t>(1 + t * y_stride + r)];
      ASSERT_NEAR(got, f.ref[i], f.tol[i]) << what << " token " << t << " row " << r << " of "
                                           << n_tokens << " tokens";
      ASSERT_NEAR(got, f.truth[i], f.truth_tol[i]) << what << " (float truth) token " << t << " row " << r;
    }
    for (int64_t r = rows; r < y_stride && t + 1 < n_tokens; ++r)
      ASSERT_EQ(y[static_cast<size_t>(1 + t * y_stride + r)], sentinel) << what << ": wrote past the rows";
  }
  ASSERT_EQ(y[0], sentinel) << what << ": wrote before y";
}

class MatmulTest : public ::testing::TestWithParam<TensorType> {};

TEST_P(MatmulTest, MatchesReferenceOnEveryIsaShapeAndTokenCount) {
  const TensorType type = GetParam();
  const int64_t be = testing::block_elems(type);
  // (rows, cols): single rows, rows that leave partial row groups, columns that end inside and
  // cross the prefill kernels' column chunks.
  std::vector<std::pair<int64_t, int64_t>> shapes;
  if (be == 256) shapes = {{1, 256}, {7, 768}, {37, 256}, {37, 1280}};
  else if (be == 32) shapes = {{1, 32}, {7, 544}, {37, 96}, {37, 1056}};
  else shapes = {{1, 1}, {7, 300}, {37, 37}, {37, 700}};
  ThreadPool pool1(1), pool3(3);
  MatmulScratch scratch;
  uint32_t seed = 1;
  for (const auto& [rows, cols] : shapes) {
    const Fixture f = make_fixture(type, rows, cols, seed++);
    for (Isa isa : available_isas()) {
      ScopedIsa scoped(isa);
      for (int64_t nt : {1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 17, 20}) {
        const std::string what = std::string(isa_name(isa)) + " " + testing::type_name(type) + " " +
                                 std::to_string(rows) + "x" + std::to_string(cols);
        check_matmul(f, nt, nt % 2 ? pool3 : pool1, scratch, what.c_str());
        if (HasFatalFailure()) return;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, MatmulTest, ::testing::ValuesIn(testing::weight_types()),
                         [](const auto& info) { return testing::type_name(info.param); });

TEST(Matmul, LargerBatchUsesEveryRowAndToken) {
  // A shape where every ISA takes its tiled path over several row groups and chunks.
  for (TensorType type : {TensorType::kQ4_K, TensorType::kQ8_0, TensorType::kF16}) {
    const int64_t rows = 67, cols = 1024, n_tokens = 19;
    testing::TestMatrix w = testing::make_matrix(type, rows, cols, 77);
    const auto x = testing::random_floats(n_tokens * cols, 78);
    ThreadPool pool(2);
    MatmulScratch scratch;
    std::vector<float> y_scalar(static_cast<size_t>(n_tokens * rows));
    {
      ScopedIsa scoped(Isa::kScalar);
      matmul(w.m, x.data(), n_tokens, cols, y_scalar.data(), rows, pool, scratch);
    }
    for (Isa isa : available_isas()) {
      ScopedIsa scoped(isa);
      std::vector<float> y(y_scalar.size(), std::numeric_limits<float>::quiet_NaN());
      matmul(w.m, x.data(), n_tokens, cols, y.data(), rows, pool, scratch);
      for (size_t i = 0; i < y.size(); ++i)
        ASSERT_NEAR(y[i], y_scalar[i], 1e-4f * (1.0f + std::fabs(y_scalar[i])))
            << isa_name(isa) << " " << testing::type_name(type) << " at " << i;
    }
  }
}

TEST(Matmul, ZeroTokensOrRowsDoNothing) {
  testing::TestMatrix w = testing::make_matrix(TensorType::kQ4_0, 3, 64, 1);
  ThreadPool pool(1);
  MatmulScratch scratch;
  float y = 7.0f;
  const std::vector<float> x(64, 1.0f);
  matmul(w.m, x.data(), 0, 64, &y, 3, pool, scratch);
  EXPECT_EQ(y, 7.0f);
}

}  // namespace
}  // namespace hangar::kernels
