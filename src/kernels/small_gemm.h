// Small single-threaded F32 matrix products for attention tiles (called inside a pool job).
#pragma once

#include <cstdint>

namespace hangar::kernels {

// C[m x n] += A[m x k] * B[k x n], all row-major with leading dimensions lda, ldb, ldc.
// Single-threaded (callers run it inside their own parallel_for), dispatched at run time to the
// widest vector unit. No alignment needed. Best when n is a multiple of 16.
void gemm_f32_acc(const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc,
                  int64_t m, int64_t n, int64_t k);

}  // namespace hangar::kernels
