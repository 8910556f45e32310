// Q5_0 row pairs: the in-memory layout hangar's AVX-512 decode kernel reads (see row_pairs.cc).
#pragma once

#include <cstddef>
#include <cstdint>

namespace hangar::kernels::detail {

// A Q5_0 matrix "in row pairs" keeps every byte of rows 2p and 2p+1 in the same 2 * row_bytes
// they occupy in ggml layout, rearranged so that one 512-bit vector holds a block of both rows
// with no shuffles in the decode loop. Each run of n <= 8 blocks (blocks 8g .. 8g+n-1, at byte
// 44 * 8g of the pair) is stored as:
//   [0, 4n)      fp16 scales, interleaved: d of row 2p then of row 2p+1, for each block;
//   [4n, 12n)    per block, a 64-bit mask: bit i is bit 4 of the code at byte i of the block's
//                codes vector (below);
//   [12n, 44n)   per block, 32 bytes of nibbles: 4-byte group k (0..7) is bytes 4(k/2) ..
//                4(k/2)+3 of qs of row 2p + (k & 1).
// Loading those 32 bytes into both halves of a zmm and keeping the low nibbles of the low half
// and the high nibbles of the high half gives the codes vector: its dword j holds 4 codes of
// row 2p + (j & 1), elements 16 * (j / 8) + 4 * ((j % 8) / 2) .. +3, i.e. the elements of
// ggml's 8-lane integer sum lane(j) = 4 * (j / 8) + (j % 8) / 2. An odd last row stays in ggml
// layout after the pairs.
constexpr int kPairBlocks = 8;

// Elements of a block feeding dword j, byte e of the codes vector.
inline int pair_code_element(int byte) {
  const int j = byte / 4, e = byte % 4;
  return 16 * (j / 8) + 4 * ((j % 8) / 2) + e;
}
inline int pair_code_row(int byte) { return (byte / 4) & 1; }

// Rewrites rows [r0, r1) (r0 even) of a Q5_0 matrix with nb blocks per row from ggml layout
// into row pairs, in place; tmp holds 2 * nb * 22 bytes.
void pair_rows_q5_0(uint8_t* base, int64_t rows, int64_t nb, int64_t r0, int64_t r1, uint8_t* tmp);
// Writes rows [r0, r1) (r0 even) of a Q5_0 matrix in row pairs to dst in ggml layout
// (row r0 at dst). rows is the matrix's row count (an odd last row is copied as it is).
void unpair_rows_q5_0(const uint8_t* base, int64_t rows, int64_t nb, int64_t r0, int64_t r1, uint8_t* dst);

}  // namespace hangar::kernels::detail
