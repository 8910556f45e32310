// gemm_f32_acc: a register-blocked 4-row x 64-column micro-kernel in GCC vector extensions,
// cloned per instruction set (target_clones) so the 512-bit copy runs where AVX-512 exists.
#include "kernels/small_gemm.h"

#include <cstring>

namespace hangar::kernels {
namespace {

typedef float V16 __attribute__((vector_size(64)));

inline V16 load(const float* p) {
  V16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float* p, V16 v) { std::memcpy(p, &v, sizeof v); }

}  // namespace

__attribute__((target_clones("avx512f", "arch=haswell", "default")))
void gemm_f32_acc(const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc,
                  int64_t m, int64_t n, int64_t k) {
  const int64_t n64 = n / 64 * 64, n16 = n / 16 * 16;
  int64_t i = 0;
  // 4 rows x 64 columns: 16 vector accumulators, each B row loaded once per 4 rows of A.
  for (; i + 4 <= m; i += 4) {
    for (int64_t j = 0; j < n64; j += 64) {
      V16 acc[4][4];
      for (int r = 0; r < 4; ++r)
        for (int v = 0; v < 4; ++v) acc[r][v] = load(c + (i + r) * ldc + j + 16 * v);
      for (int64_t p = 0; p < k; ++p) {
        const float* bp = b + p * ldb + j;
        const V16 b0 = load(bp), b1 = load(bp + 16), b2 = load(bp + 32), b3 = load(bp + 48);
        for (int r = 0; r < 4; ++r) {
          const float s = a[(i + r) * lda + p];
          acc[r][0] += s * b0;
          acc[r][1] += s * b1;
          acc[r][2] += s * b2;
          acc[r][3] += s * b3;
        }
      }
      for (int r = 0; r < 4; ++r)
        for (int v = 0; v < 4; ++v) store(c + (i + r) * ldc + j + 16 * v, acc[r][v]);
    }
    for (int64_t j = n64; j < n16; j += 16) {
      V16 acc[4];
      for (int r = 0; r < 4; ++r) acc[r] = load(c + (i + r) * ldc + j);
      for (int64_t p = 0; p < k; ++p) {
        const V16 bv = load(b + p * ldb + j);
        for (int r = 0; r < 4; ++r) acc[r] += a[(i + r) * lda + p] * bv;
      }
      for (int r = 0; r < 4; ++r) store(c + (i + r) * ldc + j, acc[r]);
    }
  }
  // Remaining rows, and columns past the last multiple of 16, element by element.
  for (int64_t r = 0; r < m; ++r) {
    const int64_t j0 = r < i ? n16 : 0;
    for (int64_t j = j0; j < n; ++j) {
      float s = c[r * ldc + j];
      for (int64_t p = 0; p < k; ++p) s += a[r * lda + p] * b[p * ldb + j];
      c[r * ldc + j] = s;
    }
  }
}

}  // namespace hangar::kernels
