// gemm_f32_acc against a plain triple loop over shapes that hit every blocking remainder.
#include "kernels/small_gemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace hangar::kernels {
namespace {

TEST(SmallGemm, AccumulatesLikeATripleLoop) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1, 1);
  for (int64_t m : {1, 3, 4, 7, 16, 33})
    for (int64_t n : {1, 15, 16, 17, 64, 80, 130})
      for (int64_t k : {1, 8, 64, 65}) {
        const int64_t lda = k + 3, ldb = n + 5, ldc = n + 2;
        std::vector<float> a(m * lda), b(k * ldb), c(m * ldc), want;
        for (auto& x : a) x = u(rng);
        for (auto& x : b) x = u(rng);
        for (auto& x : c) x = u(rng);
        want = c;
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {
            double s = want[i * ldc + j];
            for (int64_t p = 0; p < k; ++p) s += double(a[i * lda + p]) * b[p * ldb + j];
            want[i * ldc + j] = static_cast<float>(s);
          }
        gemm_f32_acc(a.data(), lda, b.data(), ldb, c.data(), ldc, m, n, k);
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < ldc; ++j) {
            // Padding columns past n must be untouched.
            ASSERT_NEAR(c[i * ldc + j], want[i * ldc + j], 1e-4 * (1 + std::sqrt(double(k))))
                << "m=" << m << " n=" << n << " k=" << k << " at " << i << "," << j;
          }
      }
}

}  // namespace
}  // namespace hangar::kernels
