// Q5_0 row pairs: the layout is what row_pairs.h says, converts back losslessly, and matmul
// gives the same bits on it as on ggml layout, on every ISA, token count and shape.
#include "kernels/row_pairs.h"

#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <vector>

#include "kernels/blocks.h"
#include "kernels/dispatch.h"
#include "kernels/kernels_test_util.h"

namespace hangar::kernels {
namespace {

using testing::ScopedIsa;

// A Q5_0 test matrix and a copy of its bytes in row pairs.
struct Paired {
  testing::TestMatrix ggml;
  std::vector<uint8_t> bytes;
  Matrix m;
};

Paired make_paired(int64_t rows, int64_t cols, uint32_t seed) {
  Paired p;
  p.ggml = testing::make_matrix(TensorType::kQ5_0, rows, cols, seed);
  const size_t n = static_cast<size_t>(rows) * p.ggml.m.row_bytes;
  p.bytes.assign(static_cast<const uint8_t*>(p.ggml.m.data), static_cast<const uint8_t*>(p.ggml.m.data) + n);
  std::vector<uint8_t> tmp(2 * p.ggml.m.row_bytes);
  detail::pair_rows_q5_0(p.bytes.data(), rows, cols / 32, 0, rows, tmp.data());
  p.m = p.ggml.m;
  p.m.data = p.bytes.data();
  p.m.row_pairs = true;
  return p;
}

// Code (0..31) of element e of a ggml Q5_0 block.
int ggml_code(const uint8_t* blk, int e) {
  uint32_t qh;
  std::memcpy(&qh, blk + 2, 4);
  const int nib = e < 16 ? blk[6 + e] & 0x0F : blk[6 + e - 16] >> 4;
  return nib | static_cast<int>(((qh >> e) & 1) << 4);
}

TEST(RowPairs, LayoutIsAsDocumented) {
  const int64_t rows = 4, cols = 352;  // 11 blocks: a run of 8 and one of 3
  Paired p = make_paired(rows, cols, 5);
  const auto* g = static_cast<const uint8_t*>(p.ggml.m.data);
  const size_t rb = p.ggml.m.row_bytes;
  for (int64_t pair = 0; pair < rows / 2; ++pair) {
    const uint8_t* base = p.bytes.data() + 2 * pair * rb;
    for (int64_t b = 0; b < cols / 32; ++b) {
      const int64_t b0 = b / detail::kPairBlocks * detail::kPairBlocks;
      const int n = static_cast<int>(std::min<int64_t>(detail::kPairBlocks, cols / 32 - b0));
      const int j = static_cast<int>(b - b0);
      const uint8_t* run = base + 44 * b0;
      for (int r = 0; r < 2; ++r) {
        const uint8_t* blk = g + (2 * pair + r) * rb + b * 22;
        EXPECT_EQ(std::memcmp(run + 4 * j + 2 * r, blk, 2), 0) << "scale of block " << b << " row " << r;
      }
      uint64_t mask;
      std::memcpy(&mask, run + 4 * n + 8 * j, 8);
      const uint8_t* nib = run + 12 * n + 32 * j;
      for (int i = 0; i < 64; ++i) {
        const int code = (i < 32 ? nib[i] & 0x0F : nib[i - 32] >> 4) | static_cast<int>(((mask >> i) & 1) << 4);
        const uint8_t* blk = g + (2 * pair + detail::pair_code_row(i)) * rb + b * 22;
        ASSERT_EQ(code, ggml_code(blk, detail::pair_code_element(i))) << "block " << b << " byte " << i;
      }
    }
  }
}

TEST(RowPairs, UnpairGivesBackEveryByte) {
  for (auto [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{2, 32}, {7, 96}, {10, 896}, {5, 4864}}) {
    Paired p = make_paired(rows, cols, static_cast<uint32_t>(rows * cols));
    const size_t rb = p.ggml.m.row_bytes;
    ASSERT_NE(std::memcmp(p.bytes.data(), p.ggml.m.data, 2 * rb), 0) << "pairing changed nothing";
    // Whole matrix, and a range that starts past the first pair.
    std::vector<uint8_t> back(static_cast<size_t>(rows) * rb);
    detail::unpair_rows_q5_0(p.bytes.data(), rows, cols / 32, 0, rows, back.data());
    EXPECT_EQ(std::memcmp(back.data(), p.ggml.m.data, back.size()), 0) << rows << "x" << cols;
    detail::unpair_rows_q5_0(p.bytes.data(), rows, cols / 32, 2, rows, back.data());
    EXPECT_EQ(std::memcmp(back.data(), static_cast<const uint8_t*>(p.ggml.m.data) + 2 * rb, (rows - 2) * rb), 0);
  }
}

TEST(RowPairs, MatmulGivesTheSameBitsAsGgmlLayout) {
  ThreadPool pool1(1), pool2(2);
  MatmulScratch scratch;
  const std::vector<std::pair<int64_t, int64_t>> shapes = {
      {2, 32}, {7, 96}, {9, 256}, {66, 352}, {33, 896}, {130, 1024}};
  for (auto [rows, cols] : shapes) {
    Paired p = make_paired(rows, cols, static_cast<uint32_t>(3 * rows + cols));
    for (int64_t n_tokens : {1, 2, 3, 5, 19}) {
      const auto x = testing::random_floats(n_tokens * cols, static_cast<uint32_t>(rows + n_tokens), 1.5f);
      for (Isa isa : testing::available_isas()) {
        ScopedIsa scoped(isa);
        for (ThreadPool* pool : {&pool1, &pool2}) {
          std::vector<float> want(static_cast<size_t>(n_tokens * rows)), got(want.size(), std::numeric_limits<float>::quiet_NaN());
          // Up to kPairsMaxTokens the pairs kernel is a direct one, in llama.cpp's per-token
          // order: the ggml-layout reference is then each token decoded alone (its direct
          // kernel), not the tiled kernel a ggml-layout batch of 4+ tokens takes.
          const bool pairs_direct = detail::active_table().types[detail::kWQ5_0].gemv_pairs != nullptr &&
                                    n_tokens <= detail::kPairsMaxTokens;
          if (pairs_direct) {
            for (int64_t t = 0; t < n_tokens; ++t)
              matmul(p.ggml.m, x.data() + t * cols, 1, cols, want.data() + t * rows, rows, *pool, scratch);
          } else {
            matmul(p.ggml.m, x.data(), n_tokens, cols, want.data(), rows, *pool, scratch);
          }
          matmul(p.m, x.data(), n_tokens, cols, got.data(), rows, *pool, scratch);
          ASSERT_EQ(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)), 0)
              << isa_name(isa) << " " << rows << "x" << cols << " tokens " << n_tokens << " threads " << pool->size();
        }
      }
    }
  }
}

TEST(RowPairs, PackRowPairsOnlyTakesQ5_0WhereAKernelReadsIt) {
  ThreadPool pool(2);
  testing::TestMatrix q8 = testing::make_matrix(TensorType::kQ8_0, 4, 64, 1);
  EXPECT_FALSE(pack_row_pairs(q8.m, const_cast<void*>(q8.m.data), pool));
  EXPECT_FALSE(q8.m.row_pairs);
  testing::TestMatrix q5 = testing::make_matrix(TensorType::kQ5_0, 6, 288, 2);
  const std::vector<uint8_t> before(static_cast<const uint8_t*>(q5.m.data),
                                    static_cast<const uint8_t*>(q5.m.data) + 6 * q5.m.row_bytes);
  const bool has_kernel = active_isa() >= Isa::kAvx512;
  EXPECT_EQ(pack_row_pairs(q5.m, const_cast<void*>(q5.m.data), pool), has_kernel);
  EXPECT_EQ(q5.m.row_pairs, has_kernel);
  if (has_kernel) {
    std::vector<uint8_t> back(before.size());
    detail::unpair_rows_q5_0(static_cast<const uint8_t*>(q5.m.data), 6, 9, 0, 6, back.data());
    EXPECT_EQ(back, before);
  }
}

}  // namespace
}  // namespace hangar::kernels
