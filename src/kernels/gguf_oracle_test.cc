// Real-data oracle: llama.cpp quantized the same F16 weights into the q8_0/q4_0/q4_k_m model
// files. Our dequantization of each quantized tensor must be close to the F16 tensor, and our
// quantizers must reproduce llama.cpp's blocks bit for bit (they do, for every block).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "kernels/kernels.h"
#include "kernels/kernels_test_util.h"

namespace hangar::kernels {
namespace {

std::string model_path(const std::string& name) {
  return std::string(HANGAR_SHARED_DIR) + "/models/" + name;
}

struct TypeStats {
  int64_t tensors = 0, blocks = 0, identical_blocks = 0, elements = 0;
  double err2 = 0, ref2 = 0;
};

// Compares every quantized tensor of `quant_file` with the same tensor of the F16 file.
std::map<TensorType, TypeStats> compare_with_f16(const std::string& quant_file) {
  auto f16 = gguf::File::open(model_path("llama-spm-d256-f16.gguf"));
  auto q = gguf::File::open(model_path(quant_file));
  EXPECT_TRUE(f16.ok()) << (f16.ok() ? "" : f16.error().message());
  EXPECT_TRUE(q.ok()) << (q.ok() ? "" : q.error().message());
  std::map<TensorType, TypeStats> stats;
  if (!f16.ok() || !q.ok()) return stats;
  for (const auto& t : q->tensors()) {
    if (!is_supported_weight_type(t.type) || t.type == TensorType::kF32 || t.type == TensorType::kF16)
      continue;
    const gguf::TensorInfo* src = f16->find_tensor(t.name);
    EXPECT_NE(src, nullptr) << t.name;
    if (!src) continue;
    EXPECT_EQ(src->dims, t.dims) << t.name;
    EXPECT_EQ(src->type, TensorType::kF16) << t.name;
    const int64_t cols = t.dims[0], rows = t.n_elements / cols;
    const int64_t be = tensor_type_info(t.type).block_elems, bb = tensor_type_info(t.type).block_bytes;
    const size_t row_bytes = static_cast<size_t>(tensor_row_bytes(t.type, cols));
    TypeStats& s = stats[t.type];
    ++s.tensors;
    std::vector<float> ref(static_cast<size_t>(cols)), got(static_cast<size_t>(cols));
    std::vector<uint8_t> requant(row_bytes);
    for (int64_t r = 0; r < rows; ++r) {
      dequantize_row(TensorType::kF16, src->data + r * cols * 2, ref.data(), cols);
      const uint8_t* qrow = t.data + static_cast<size_t>(r) * row_bytes;
      dequantize_row(t.type, qrow, got.data(), cols);
      for (int64_t b = 0; b < cols / be; ++b) {
        // Bounds that follow from the format: half a step (a whole one where Q4_0/Q5_0 clamp
        // the opposite extreme), plus fp16 rounding of the scales.
        float amax = 0, mn = ref[b * be], mx = ref[b * be];
        for (int64_t j = b * be; j < (b + 1) * be; ++j) {
          amax = std::max(amax, std::fabs(ref[j]));
          mn = std::min(mn, ref[j]);
          mx = std::max(mx, ref[j]);
        }
        float bound = 0;
        switch (t.type) {
          case TensorType::kQ8_0: bound = 0.5f * amax / 127 + amax * 0x1p-10f; break;
          case TensorType::kQ4_0: bound = amax / 8 + amax * 0x1p-9f; break;
          case TensorType::kQ5_0: bound = amax / 16 + amax * 0x1p-9f; break;
          // K-quants: a sub-block's step is at most its range over 15/31/63 steps, from 6- or
          // 8-bit scales: allow the whole range of the super-block over the code count.
          case TensorType::kQ4_K: bound = (mx - mn) / 15; break;
          case TensorType::kQ5_K: bound = (mx - mn) / 31; break;
          case TensorType::kQ6_K: bound = amax / 31; break;
          default: bound = (mx - mn) / 15; break;
        }
        for (int64_t j = b * be; j < (b + 1) * be; ++j) {
          EXPECT_LE(std::fabs(got[j] - ref[j]), bound) << t.name << " row " << r << " element " << j;
          s.err2 += (static_cast<double>(got[j]) - ref[j]) * (got[j] - ref[j]);
          s.ref2 += static_cast<double>(ref[j]) * ref[j];
        }
      }
      s.elements += cols;
      quantize_row(t.type, ref.data(), requant.data(), cols);
      for (int64_t b = 0; b < cols / be; ++b) {
        ++s.blocks;
        if (std::memcmp(requant.data() + b * bb, qrow + b * bb, static_cast<size_t>(bb)) == 0) ++s.identical_blocks;
      }
    }
  }
  for (const auto& [type, s] : stats)
    std::printf("[ oracle ] %s %s: %lld tensors, rel rmse %.5f, %lld/%lld blocks identical to llama.cpp (%.4f%%)\n",
                quant_file.c_str(), tensor_type_name(type).c_str(), static_cast<long long>(s.tensors),
                std::sqrt(s.err2 / s.ref2), static_cast<long long>(s.identical_blocks),
                static_cast<long long>(s.blocks), 100.0 * s.identical_blocks / s.blocks);
  return stats;
}

TEST(GgufOracle, Q8_0MatchesF16AndLlamaCppBlocks) {
  const auto stats = compare_with_f16("llama-spm-d256-q8_0.gguf");
  ASSERT_TRUE(stats.count(TensorType::kQ8_0));
  const auto& s = stats.at(TensorType::kQ8_0);
  EXPECT_LT(std::sqrt(s.err2 / s.ref2), 0.006);
  EXPECT_EQ(s.identical_blocks, s.blocks);  // measured: all 610304
}

TEST(GgufOracle, Q4_0MatchesF16AndLlamaCppBlocks) {
  const auto stats = compare_with_f16("llama-spm-d256-q4_0.gguf");
  ASSERT_TRUE(stats.count(TensorType::kQ4_0));
  const auto& s = stats.at(TensorType::kQ4_0);
  EXPECT_LT(std::sqrt(s.err2 / s.ref2), 0.12);
  EXPECT_EQ(s.identical_blocks, s.blocks);  // measured: all 354304
}

TEST(GgufOracle, Q4_K_MMatchesF16AndLlamaCppBlocks) {
  const auto stats = compare_with_f16("llama-spm-d256-q4_k_m.gguf");
  ASSERT_TRUE(stats.count(TensorType::kQ4_K));
  ASSERT_TRUE(stats.count(TensorType::kQ6_K));
  for (const auto& [type, s] : stats) {
    EXPECT_LT(std::sqrt(s.err2 / s.ref2), type == TensorType::kQ6_K ? 0.03 : 0.1) << tensor_type_name(type);
    EXPECT_EQ(s.identical_blocks, s.blocks) << tensor_type_name(type);  // measured: all
  }
}

}  // namespace
}  // namespace hangar::kernels
