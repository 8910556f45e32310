// Shared helpers of the kernels tests: ISA iteration, random data, quantized test matrices.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/kernels.h"

namespace hangar::kernels::testing {

// Every level this CPU supports, scalar first.
std::vector<Isa> available_isas();

// Sets the active ISA for a scope and restores the previous one.
class ScopedIsa {
 public:
  explicit ScopedIsa(Isa isa) : saved_(active_isa()) { set_active_isa(isa); }
  ~ScopedIsa() { set_active_isa(saved_); }
  ScopedIsa(const ScopedIsa&) = delete;
  ScopedIsa& operator=(const ScopedIsa&) = delete;

 private:
  Isa saved_;
};

// The weight types matmul supports.
std::vector<TensorType> weight_types();
// Block size (1 for float types) and the smallest row length tests may use.
int64_t block_elems(TensorType t);

// Deterministic pseudo-random floats: roughly normal with scale `sigma`, plus rare outliers
// (as real activations have), from a fixed seed.
std::vector<float> random_floats(int64_t n, uint32_t seed, float sigma = 1.0f);

// A quantized rows x cols matrix of random weights stored at byte `offset` of `storage` (to
// test misaligned data), with rows padded by `pad` bytes.
struct TestMatrix {
  std::vector<uint8_t> storage;
  Matrix m;
  std::vector<float> dequantized;  // rows * cols, the weights as the kernels see them
};
TestMatrix make_matrix(TensorType t, int64_t rows, int64_t cols, uint32_t seed, size_t offset = 0,
                       size_t pad = 0);

std::string type_name(TensorType t);

}  // namespace hangar::kernels::testing
