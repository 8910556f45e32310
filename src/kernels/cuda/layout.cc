// Host-side re-layout of ggml weight rows into the CUDA backend's layouts (layout.h).
#include "kernels/cuda/layout.h"

#include "base/assert.h"
#include "base/tensor_type.h"

namespace hangar::kernels::cuda {

int wtype_for_ggml(uint32_t ggml_type) {
  switch (static_cast<TensorType>(ggml_type)) {
    case TensorType::kF16: return static_cast<int>(WType::kF16);
    case TensorType::kQ8_0: return static_cast<int>(WType::kQ8_0);
    case TensorType::kQ4_0: return static_cast<int>(WType::kQ4_0);
    case TensorType::kQ5_0: return static_cast<int>(WType::kQ5_0);
    case TensorType::kQ4_K: return static_cast<int>(WType::kQ4_K);
    case TensorType::kQ6_K: return static_cast<int>(WType::kQ6_K);
    default: return -1;
  }
}

void relayout_rows(WType t, const uint8_t* src, size_t src_row_bytes, int64_t cols, int64_t r0, int64_t r1,
                   uint8_t* q, uint16_t* d, uint32_t* h) {
  const int64_t nb = cols / 32, ns = cols / 256;
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* row = src + static_cast<size_t>(r) * src_row_bytes;
    switch (t) {
      case WType::kF16:
        std::memcpy(q + static_cast<size_t>(r) * cols * 2, row, static_cast<size_t>(cols) * 2);
        break;
      case WType::kQ4_K:
        std::memcpy(q + static_cast<size_t>(r) * ns * 144, row, static_cast<size_t>(ns) * 144);
        break;
      case WType::kQ8_0:  // blocks of {f16 d; int8 qs[32]}
        for (int64_t b = 0; b < nb; ++b) {
          std::memcpy(&d[r * nb + b], row + 34 * b, 2);
          std::memcpy(q + static_cast<size_t>(r) * cols + 32 * b, row + 34 * b + 2, 32);
        }
        break;
      case WType::kQ4_0:  // {f16 d; qs[16]}
        for (int64_t b = 0; b < nb; ++b) {
          std::memcpy(&d[r * nb + b], row + 18 * b, 2);
          std::memcpy(q + static_cast<size_t>(r * nb + b) * 16, row + 18 * b + 2, 16);
        }
        break;
      case WType::kQ5_0:  // {f16 d; u8 qh[4]; qs[16]}
        for (int64_t b = 0; b < nb; ++b) {
          std::memcpy(&d[r * nb + b], row + 22 * b, 2);
          std::memcpy(&h[r * nb + b], row + 22 * b + 2, 4);
          std::memcpy(q + static_cast<size_t>(r * nb + b) * 16, row + 22 * b + 6, 16);
        }
        break;
      case WType::kQ6_K:  // {ql[128]; qh[64]; int8 scales[16]; f16 d}
        for (int64_t s = 0; s < ns; ++s) {
          std::memcpy(q + static_cast<size_t>(r * ns + s) * 208, row + 210 * s, 208);
          std::memcpy(&d[r * ns + s], row + 210 * s + 208, 2);
        }
        break;
    }
  }
}

}  // namespace hangar::kernels::cuda
