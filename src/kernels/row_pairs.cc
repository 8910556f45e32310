// Q5_0 row pairs: conversion between ggml layout and the layout of row_pairs.h, both ways.
#include "kernels/row_pairs.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/blocks.h"
#include "kernels/dispatch.h"

namespace hangar::kernels::detail {
namespace {

constexpr int64_t kBlock = sizeof(BlockQ5_0);  // 22

// Nibble n of x (n < 8) into the low half of byte n.
uint64_t spread_nibbles(uint32_t x) {
  uint64_t u = x;
  u = (u | (u << 16)) & 0x0000FFFF0000FFFFull;
  u = (u | (u << 8)) & 0x00FF00FF00FF00FFull;
  u = (u | (u << 4)) & 0x0F0F0F0F0F0F0F0Full;
  return u;
}
// Inverse of spread_nibbles for the low (shift 0) or high (shift 4) halves of each byte.
uint32_t gather_nibbles(uint64_t u, int shift) {
  u = (u >> shift) & 0x0F0F0F0F0F0F0F0Full;
  u = (u | (u >> 4)) & 0x00FF00FF00FF00FFull;
  u = (u | (u >> 8)) & 0x0000FFFF0000FFFFull;
  u = (u | (u >> 16)) & 0x00000000FFFFFFFFull;
  return static_cast<uint32_t>(u);
}

// The 2 * nb ggml blocks of rows a and b (nb each) into one pair at dst.
void pack_pair(const uint8_t* a, const uint8_t* b, int64_t nb, uint8_t* dst) {
  for (int64_t b0 = 0; b0 < nb; b0 += kPairBlocks) {
    const int n = static_cast<int>(std::min<int64_t>(kPairBlocks, nb - b0));
    uint8_t* g = dst + 2 * kBlock * b0;
    for (int j = 0; j < n; ++j) {
      const uint8_t* x[2] = {a + (b0 + j) * kBlock, b + (b0 + j) * kBlock};
      std::memcpy(g + 4 * j, x[0], 2);
      std::memcpy(g + 4 * j + 2, x[1], 2);
      uint32_t qh[2];
      std::memcpy(&qh[0], x[0] + 2, 4);
      std::memcpy(&qh[1], x[1] + 2, 4);
      // Byte i of the codes vector is element pair_code_element(i) of row pair_code_row(i):
      // nibble n of a row's qh lands in byte n, row 2p in its low half, 2p+1 in its high half.
      const uint64_t mask = spread_nibbles(qh[0]) | (spread_nibbles(qh[1]) << 4);
      std::memcpy(g + 4 * n + 8 * j, &mask, 8);
      for (int k = 0; k < 8; ++k) std::memcpy(g + 12 * n + 32 * j + 4 * k, x[k & 1] + 6 + 4 * (k / 2), 4);
    }
  }
}

void unpack_pair(const uint8_t* src, int64_t nb, uint8_t* a, uint8_t* b) {
  for (int64_t b0 = 0; b0 < nb; b0 += kPairBlocks) {
    const int n = static_cast<int>(std::min<int64_t>(kPairBlocks, nb - b0));
    const uint8_t* g = src + 2 * kBlock * b0;
    for (int j = 0; j < n; ++j) {
      uint8_t* x[2] = {a + (b0 + j) * kBlock, b + (b0 + j) * kBlock};
      std::memcpy(x[0], g + 4 * j, 2);
      std::memcpy(x[1], g + 4 * j + 2, 2);
      uint64_t mask;
      std::memcpy(&mask, g + 4 * n + 8 * j, 8);
      const uint32_t qh[2] = {gather_nibbles(mask, 0), gather_nibbles(mask, 4)};
      std::memcpy(x[0] + 2, &qh[0], 4);
      std::memcpy(x[1] + 2, &qh[1], 4);
      for (int k = 0; k < 8; ++k) std::memcpy(x[k & 1] + 6 + 4 * (k / 2), g + 12 * n + 32 * j + 4 * k, 4);
    }
  }
}

}  // namespace

void pair_rows_q5_0(uint8_t* base, int64_t rows, int64_t nb, int64_t r0, int64_t r1, uint8_t* tmp) {
  const int64_t row_bytes = nb * kBlock;
  for (int64_t r = r0; r + 2 <= std::min(r1, rows); r += 2) {
    uint8_t* p = base + r * row_bytes;
    std::memcpy(tmp, p, static_cast<size_t>(2 * row_bytes));
    pack_pair(tmp, tmp + row_bytes, nb, p);
  }
}

void unpair_rows_q5_0(const uint8_t* base, int64_t rows, int64_t nb, int64_t r0, int64_t r1, uint8_t* dst) {
  const int64_t row_bytes = nb * kBlock;
  int64_t r = r0;
  for (; r + 2 <= r1 && r + 2 <= rows; r += 2) {
    uint8_t* d = dst + (r - r0) * row_bytes;
    unpack_pair(base + r * row_bytes, nb, d, d + row_bytes);
  }
  if (r < r1) std::memcpy(dst + (r - r0) * row_bytes, base + r * row_bytes, static_cast<size_t>(row_bytes));
}

}  // namespace hangar::kernels::detail

namespace hangar::kernels {

bool pack_row_pairs(Matrix& m, void* data, ThreadPool& pool) {
  using namespace detail;
  if (m.row_pairs || m.type != TensorType::kQ5_0 || m.rows < 2 || m.cols % 32 != 0 ||
      m.row_bytes != static_cast<size_t>(m.cols / 32 * kBlock) || data != m.data ||
      active_table().types[kWQ5_0].gemv_pairs == nullptr)
    return false;
  const int64_t nb = m.cols / 32;
  const int64_t n_pairs = m.rows / 2;
  pool.parallel_for(n_pairs, 64, [&](int64_t p0, int64_t p1, int) {
    std::vector<uint8_t> tmp(static_cast<size_t>(2 * m.row_bytes));
    pair_rows_q5_0(static_cast<uint8_t*>(data), m.rows, nb, 2 * p0, 2 * p1, tmp.data());
  });
  m.row_pairs = true;
  return true;
}

}  // namespace hangar::kernels
