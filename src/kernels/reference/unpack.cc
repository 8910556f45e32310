// Weight-block unpacking shared by the scalar reference dot products (dot.cc, dot_ggml.cc).
#include "base/assert.h"
#include "kernels/blocks.h"
#include "kernels/fp16.h"
#include "kernels/reference/reference.h"

namespace hangar::kernels::ref {

// Codes of one 32-block of the 32-block types, with the offset removed for Q4_0/Q5_0.
void codes_32(int kind, const uint8_t* blk, int* c, float* d, float* m) {
  switch (kind) {
    case detail::kWQ4_0: {
      const auto* b = reinterpret_cast<const BlockQ4_0*>(blk);
      for (int j = 0; j < 16; ++j) {
        c[j] = (b->qs[j] & 0xF) - 8;
        c[j + 16] = (b->qs[j] >> 4) - 8;
      }
      *d = fp16_to_fp32(b->d);
      *m = 0;
      return;
    }
    case detail::kWQ4_1: {
      const auto* b = reinterpret_cast<const BlockQ4_1*>(blk);
      for (int j = 0; j < 16; ++j) {
        c[j] = b->qs[j] & 0xF;
        c[j + 16] = b->qs[j] >> 4;
      }
      *d = fp16_to_fp32(b->d);
      *m = fp16_to_fp32(b->m);
      return;
    }
    case detail::kWQ5_0: {
      const auto* b = reinterpret_cast<const BlockQ5_0*>(blk);
      const uint32_t qh = load_u32(b->qh);
      for (int j = 0; j < 16; ++j) {
        c[j] = ((b->qs[j] & 0xF) | (((qh >> j) & 1) << 4)) - 16;
        c[j + 16] = ((b->qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16;
      }
      *d = fp16_to_fp32(b->d);
      *m = 0;
      return;
    }
    case detail::kWQ5_1: {
      const auto* b = reinterpret_cast<const BlockQ5_1*>(blk);
      const uint32_t qh = load_u32(b->qh);
      for (int j = 0; j < 16; ++j) {
        c[j] = (b->qs[j] & 0xF) | (((qh >> j) & 1) << 4);
        c[j + 16] = (b->qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
      }
      *d = fp16_to_fp32(b->d);
      *m = fp16_to_fp32(b->m);
      return;
    }
    case detail::kWQ8_0: {
      const auto* b = reinterpret_cast<const BlockQ8_0*>(blk);
      for (int j = 0; j < 32; ++j) c[j] = b->qs[j];
      *d = fp16_to_fp32(b->d);
      *m = 0;
      return;
    }
    default: HANGAR_ASSERT_MSG(false, "codes_32: not a 32-block type");
  }
}

int block_bytes_32(int kind) {
  switch (kind) {
    case detail::kWQ4_0: return sizeof(BlockQ4_0);
    case detail::kWQ4_1: return sizeof(BlockQ4_1);
    case detail::kWQ5_0: return sizeof(BlockQ5_0);
    case detail::kWQ5_1: return sizeof(BlockQ5_1);
    case detail::kWQ8_0: return sizeof(BlockQ8_0);
    default: HANGAR_ASSERT_MSG(false, "block_bytes_32: not a 32-block type"); return 0;
  }
}

// Codes (0..15 / 0..31), 6-bit scales and mins of a Q4_K/Q5_K super-block.
void codes_q45k(int kind, const uint8_t* sb, int* c, int* sc, int* mn, float* d, float* dmin) {
  const uint8_t* scales;
  if (kind == detail::kWQ4_K) {
    const auto* b = reinterpret_cast<const BlockQ4_K*>(sb);
    for (int j = 0; j < 4; ++j)
      for (int l = 0; l < 32; ++l) c[64 * j + l] = b->qs[32 * j + l] & 0xF, c[64 * j + l + 32] = b->qs[32 * j + l] >> 4;
    scales = b->scales;
    *d = fp16_to_fp32(b->d);
    *dmin = fp16_to_fp32(b->dmin);
  } else {
    const auto* b = reinterpret_cast<const BlockQ5_K*>(sb);
    for (int j = 0; j < 4; ++j)
      for (int l = 0; l < 32; ++l) {
        c[64 * j + l] = (b->qs[32 * j + l] & 0xF) | (((b->qh[l] >> (2 * j)) & 1) << 4);
        c[64 * j + l + 32] = (b->qs[32 * j + l] >> 4) | (((b->qh[l] >> (2 * j + 1)) & 1) << 4);
      }
    scales = b->scales;
    *d = fp16_to_fp32(b->d);
    *dmin = fp16_to_fp32(b->dmin);
  }
  for (int j = 0; j < 8; ++j) k_scale_min(scales, j, &sc[j], &mn[j]);
}

// Q6_K codes 0..63 (the -32 offset is applied through the activation sums, as llama.cpp does).
void codes_q6k(const BlockQ6_K* b, int* c) {
  for (int h = 0; h < 2; ++h)
    for (int l = 0; l < 32; ++l) {
      const uint8_t* ql = b->ql + 64 * h;
      const uint8_t* qh = b->qh + 32 * h;
      c[128 * h + l] = (ql[l] & 0xF) | ((qh[l] & 3) << 4);
      c[128 * h + l + 32] = (ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4);
      c[128 * h + l + 64] = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
      c[128 * h + l + 96] = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
    }
}

}  // namespace hangar::kernels::ref
