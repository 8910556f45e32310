// Helpers shared by the kernels tests.
#include "kernels/kernels_test_util.h"

#include <cmath>
#include <cstring>

namespace hangar::kernels::testing {

std::vector<Isa> available_isas() {
  std::vector<Isa> out;
  for (Isa i : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kAvx512Vnni})
    if (static_cast<int>(i) <= static_cast<int>(best_isa())) out.push_back(i);
  return out;
}

std::vector<TensorType> weight_types() {
  using T = TensorType;
  return {T::kF32, T::kF16, T::kBF16, T::kQ8_0, T::kQ4_0, T::kQ4_1,
          T::kQ5_0, T::kQ5_1, T::kQ4_K, T::kQ5_K, T::kQ6_K};
}

int64_t block_elems(TensorType t) { return tensor_type_info(t).block_elems; }

std::vector<float> random_floats(int64_t n, uint32_t seed, float sigma) {
  // xorshift32 and a sum of uniforms: reproducible everywhere, no <random> distribution quirks.
  uint32_t s = seed * 2654435761u + 12345u;
  auto next = [&s] {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    return static_cast<float>(s) * 0x1p-32f;
  };
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) {
    float g = next() + next() + next() + next() - 2.0f;  // ~N(0, 1/3)
    g *= 1.7320508f * sigma;
    if (next() < 0.01f) g *= 8.0f;  // outliers
    x = g;
  }
  return v;
}

TestMatrix make_matrix(TensorType t, int64_t rows, int64_t cols, uint32_t seed, size_t offset,
                       size_t pad) {
  TestMatrix tm;
  const size_t row_bytes = static_cast<size_t>(tensor_row_bytes(t, cols)) + pad;
  tm.storage.assign(offset + row_bytes * static_cast<size_t>(rows) + 64, 0xAB);
  uint8_t* base = tm.storage.data() + offset;
  tm.dequantized.resize(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    // Rows with different scales, as in real weight matrices.
    const float sigma = 0.02f * (1.0f + static_cast<float>(r % 7));
    const auto w = random_floats(cols, seed + static_cast<uint32_t>(r) * 7919u, sigma);
    quantize_row(t, w.data(), base + static_cast<size_t>(r) * row_bytes, cols);
    dequantize_row(t, base + static_cast<size_t>(r) * row_bytes, tm.dequantized.data() + r * cols, cols);
  }
  tm.m.type = t;
  tm.m.data = base;
  tm.m.rows = rows;
  tm.m.cols = cols;
  tm.m.row_bytes = row_bytes;
  return tm;
}

std::string type_name(TensorType t) { return tensor_type_name(t); }

}  // namespace hangar::kernels::testing
