// The CUDA layouts on the host: every unit decodes to the CPU's dequantized values, and the
// per-unit integer dot products add up to the CPU reference's quantized dot product.
#include "kernels/cuda/layout.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/dispatch.h"
#include "kernels/kernels.h"
#include "kernels/reference/reference.h"

namespace hangar::kernels::cuda {
namespace {

struct Case {
  TensorType ggml;
  WType type;
};

class CudaLayout : public ::testing::TestWithParam<Case> {};

// A matrix in ggml layout and in the CUDA layout, with host pointers in its view.
struct Both {
  std::vector<uint8_t> ggml, q;
  std::vector<uint16_t> d;
  std::vector<uint32_t> h;
  size_t row_bytes = 0;
  MatrixView view;
};

Both make(const Case& c, int64_t rows, int64_t cols, std::mt19937& rng) {
  Both b;
  std::normal_distribution<float> dist(0.0f, 1.0f);
  b.row_bytes = static_cast<size_t>(tensor_row_bytes(c.ggml, cols));
  b.ggml.resize(b.row_bytes * rows);
  std::vector<float> x(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (auto& v : x) v = dist(rng);
    quantize_row(c.ggml, x.data(), b.ggml.data() + r * b.row_bytes, cols);
  }
  const LayoutSizes s = layout_sizes(c.type, rows, cols);
  b.q.resize(s.q);
  b.d.resize(s.d / 2);
  b.h.resize(s.h / 4);
  relayout_rows(c.type, b.ggml.data(), b.row_bytes, cols, 0, rows, b.q.data(), b.d.data(), b.h.data());
  b.view = {c.type, static_cast<int32_t>(rows), static_cast<int32_t>(cols), b.q.data(), b.d.data(), b.h.data()};
  return b;
}

template <WType T>
void decode_all(const MatrixView& m, int64_t row, std::vector<float>& out, std::vector<int>& seen) {
  using Tr = Traits<T>;
  for (int u = 0; u < m.cols / Tr::kUnitElems; ++u) {
    Unit un;
    Tr::decode(m, row, u, un);
    for (int r = 0; r < Tr::kRuns; ++r)
      for (int e = 0; e < Tr::kRunLen; ++e) {
        const int k = Tr::run_start(u, r) + e;
        out[k] = un.scale[r] * static_cast<float>(unit_code(un, Tr::kRunLen, r, e)) - un.min[r];
        ++seen[k];
      }
  }
}

template <WType T>
float dot_all(const MatrixView& m, int64_t row, const int8_t* qx, const float* dx, const float* sx) {
  float acc = 0;
  for (int u = 0; u < m.cols / Traits<T>::kUnitElems; ++u) {
    Unit un;
    Traits<T>::decode(m, row, u, un);
    acc += unit_dot<T>(un, u, qx, dx, sx);
  }
  return acc;
}

void decode_row(WType t, const MatrixView& m, int64_t row, std::vector<float>& out, std::vector<int>& seen) {
  switch (t) {
    case WType::kQ8_0: return decode_all<WType::kQ8_0>(m, row, out, seen);
    case WType::kQ4_0: return decode_all<WType::kQ4_0>(m, row, out, seen);
    case WType::kQ5_0: return decode_all<WType::kQ5_0>(m, row, out, seen);
    case WType::kQ4_K: return decode_all<WType::kQ4_K>(m, row, out, seen);
    case WType::kQ6_K: return decode_all<WType::kQ6_K>(m, row, out, seen);
    case WType::kF16: break;
  }
  FAIL() << "no units for F16";
}

float dot_row(WType t, const MatrixView& m, int64_t row, const int8_t* qx, const float* dx, const float* sx) {
  switch (t) {
    case WType::kQ8_0: return dot_all<WType::kQ8_0>(m, row, qx, dx, sx);
    case WType::kQ4_0: return dot_all<WType::kQ4_0>(m, row, qx, dx, sx);
    case WType::kQ5_0: return dot_all<WType::kQ5_0>(m, row, qx, dx, sx);
    case WType::kQ4_K: return dot_all<WType::kQ4_K>(m, row, qx, dx, sx);
    case WType::kQ6_K: return dot_all<WType::kQ6_K>(m, row, qx, dx, sx);
    case WType::kF16: break;
  }
  return NAN;
}

TEST_P(CudaLayout, UnitsDecodeToTheCpuDequantizedValues) {
  const Case c = GetParam();
  std::mt19937 rng(7);
  const int64_t rows = 5, cols = 768;
  const Both b = make(c, rows, cols, rng);
  EXPECT_EQ(wtype_for_ggml(static_cast<uint32_t>(c.ggml)), static_cast<int>(c.type));
  std::vector<float> want(static_cast<size_t>(cols)), got(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    dequantize_row(c.ggml, b.ggml.data() + r * b.row_bytes, want.data(), cols);
    std::vector<int> seen(static_cast<size_t>(cols), 0);
    decode_row(c.type, b.view, r, got, seen);
    for (int64_t k = 0; k < cols; ++k) {
      ASSERT_EQ(seen[k], 1) << "element " << k << " of row " << r;
      // The CPU's SIMD dequantization may fuse the multiply and subtract of Q4_K.
      ASSERT_NEAR(got[k], want[k], 1e-6f * (1.0f + std::fabs(want[k]))) << "element " << k << " of row " << r;
    }
  }
}

TEST_P(CudaLayout, UnitDotsMatchTheCpuQuantizedDotProduct) {
  const Case c = GetParam();
  std::mt19937 rng(11);
  const int64_t rows = 4, cols = 1024;
  const Both b = make(c, rows, cols, rng);
  const bool k_quant = c.type == WType::kQ4_K || c.type == WType::kQ6_K;
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(cols));
  for (auto& v : x) v = dist(rng);
  std::vector<int8_t> qs(static_cast<size_t>(cols));
  std::vector<float> d32(static_cast<size_t>(cols / 32)), s32(static_cast<size_t>(cols / 32));
  std::vector<int16_t> s16(static_cast<size_t>(cols / 16));
  if (k_quant) ref::quantize_acts_q8_k(x.data(), cols, qs.data(), d32.data(), s32.data(), s16.data());
  else ref::quantize_acts_q8_32(x.data(), cols, qs.data(), d32.data(), s32.data(), s16.data());
  detail::QuantActs acts;
  acts.cols = cols;
  acts.qs = qs.data();
  acts.d32 = d32.data();
  acts.s32 = s32.data();
  acts.s16 = s16.data();
  for (int64_t r = 0; r < rows; ++r) {
    const float want = ref::dot_quant(detail::weight_kind(c.ggml), b.ggml.data() + r * b.row_bytes, cols, acts, 0);
    const float got = dot_row(c.type, b.view, r, qs.data(), d32.data(), s32.data());
    EXPECT_NEAR(got, want, 1e-4f * (1.0f + std::fabs(want))) << "row " << r;
  }
}

INSTANTIATE_TEST_SUITE_P(Types, CudaLayout,
                         ::testing::Values(Case{TensorType::kQ8_0, WType::kQ8_0}, Case{TensorType::kQ4_0, WType::kQ4_0},
                                           Case{TensorType::kQ5_0, WType::kQ5_0}, Case{TensorType::kQ4_K, WType::kQ4_K},
                                           Case{TensorType::kQ6_K, WType::kQ6_K}),
                         [](const auto& info) { return tensor_type_name(info.param.ggml); });

TEST(CudaLayoutTypes, OtherTypesAreConvertedToF16) {
  for (TensorType t : {TensorType::kF32, TensorType::kBF16, TensorType::kQ4_1, TensorType::kQ5_1, TensorType::kQ5_K})
    EXPECT_EQ(wtype_for_ggml(static_cast<uint32_t>(t)), -1) << tensor_type_name(t);
  EXPECT_EQ(wtype_for_ggml(static_cast<uint32_t>(TensorType::kF16)), static_cast<int>(WType::kF16));
}

}  // namespace
}  // namespace hangar::kernels::cuda
