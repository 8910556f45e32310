// ggml's quantized block layouts (bit-compatible with GGUF files), as plain structs.
#pragma once

#include <cstdint>

namespace hangar::kernels {

constexpr int kQK = 32;    // elements per block of the 32-block types
constexpr int kQKK = 256;  // elements per super-block of the K-quants
constexpr int kKScaleBytes = 12;  // Q4_K/Q5_K: 8 scales + 8 mins, 6 bits each

// Scales are fp16 bit patterns (uint16_t). This header holds only plain data (no inline
// functions) because the per-instruction-set translation units include it: an inline function
// compiled there with AVX-512 flags could be the copy the linker keeps for everyone.

// w = d * (q - 8); element i < 16 in the low nibble of qs[i], element i + 16 in its high nibble.
struct BlockQ4_0 { uint16_t d; uint8_t qs[kQK / 2]; };
// w = d * q + m.
struct BlockQ4_1 { uint16_t d; uint16_t m; uint8_t qs[kQK / 2]; };
// w = d * (q - 16); bit 4 of element i is bit i of the little-endian 32-bit qh.
struct BlockQ5_0 { uint16_t d; uint8_t qh[4]; uint8_t qs[kQK / 2]; };
// w = d * q + m.
struct BlockQ5_1 { uint16_t d; uint16_t m; uint8_t qh[4]; uint8_t qs[kQK / 2]; };
// w = d * q.
struct BlockQ8_0 { uint16_t d; int8_t qs[kQK]; };

// Eight 32-element sub-blocks: w = d * sc[j] * q - dmin * m[j], with 6-bit sc/m packed in
// `scales`. qs holds 64 elements per 32 bytes: sub-block 2i in low nibbles, 2i+1 in high.
struct BlockQ4_K { uint16_t d; uint16_t dmin; uint8_t scales[kKScaleBytes]; uint8_t qs[kQKK / 2]; };
// As Q4_K plus a fifth bit: bit 2i / 2i+1 of qh[l] for element l of sub-block 2i / 2i+1.
struct BlockQ5_K {
  uint16_t d; uint16_t dmin; uint8_t scales[kKScaleBytes]; uint8_t qh[kQKK / 8]; uint8_t qs[kQKK / 2];
};
// Sixteen 16-element sub-blocks: w = d * scales[j] * (q - 32), q 6 bits (4 in ql, 2 in qh).
struct BlockQ6_K { uint8_t ql[kQKK / 2]; uint8_t qh[kQKK / 4]; int8_t scales[kQKK / 16]; uint16_t d; };
// Activations for the K-quant dot products: x = d * q, bsums = sums of q over each 16.
struct BlockQ8_K { float d; int8_t qs[kQKK]; int16_t bsums[kQKK / 16]; };

static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 &&
              sizeof(BlockQ5_1) == 24 && sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ4_K) == 144 && sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210 &&
              sizeof(BlockQ8_K) == 292);

}  // namespace hangar::kernels
