// The CUDA backend's weight layouts, and how one "unit" of each type decodes to 8-bit codes.
//
// Plain C++ that nvcc also compiles for the device (HANGAR_HD): the host builds the layouts at
// load and its tests check the decoding against the CPU kernels' dequantization, so the code the
// GPU kernels run is the code the CPU tests exercised.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define HANGAR_HD __host__ __device__ __forceinline__
#define HANGAR_UNROLL _Pragma("unroll")
#else
#define HANGAR_HD inline
#define HANGAR_UNROLL
#endif

namespace hangar::kernels::cuda {

// Matrix types the kernels compute with. Any other weight type is dequantized to kF16 at load.
enum class WType : int32_t { kF16, kQ8_0, kQ4_0, kQ5_0, kQ4_K, kQ6_K };

// A weight matrix of `rows` x `cols` in the layout of its type (all arrays 16-byte aligned, rows
// contiguous, nb = cols / 32 blocks, ns = cols / 256 super-blocks per row):
//   kF16:  q = halves [rows][cols]
//   kQ8_0: q = int8 [rows][cols];                         d = f16 [rows][nb]
//   kQ4_0: q = [rows][nb][16] (ggml's qs of each block);  d = f16 [rows][nb]
//   kQ5_0: q as kQ4_0; h = u32 [rows][nb] (ggml's qh);    d = f16 [rows][nb]
//   kQ4_K: q = [rows][ns][144] (ggml's blocks: a row is a whole number of 16-byte words)
//   kQ6_K: q = [rows][ns][208] (ggml's ql, qh, scales);   d = f16 [rows][ns]
// Splitting the scales off the odd-sized ggml blocks lets every lane load 16 aligned bytes.
struct MatrixView {
  WType type = WType::kF16;
  int32_t rows = 0, cols = 0;
  const uint8_t* q = nullptr;
  const uint16_t* d = nullptr;
  const uint32_t* h = nullptr;
};

// Byte sizes of the arrays of one matrix (0 for arrays the type lacks).
struct LayoutSizes {
  size_t q = 0, d = 0, h = 0;
};
inline LayoutSizes layout_sizes(WType t, int64_t rows, int64_t cols) {
  const size_t r = static_cast<size_t>(rows), nb = static_cast<size_t>(cols / 32), ns = static_cast<size_t>(cols / 256);
  switch (t) {
    case WType::kF16: return {r * cols * 2, 0, 0};
    case WType::kQ8_0: return {r * cols, r * nb * 2, 0};
    case WType::kQ4_0: return {r * nb * 16, r * nb * 2, 0};
    case WType::kQ5_0: return {r * nb * 16, r * nb * 2, r * nb * 4};
    case WType::kQ4_K: return {r * ns * 144, 0, 0};
    case WType::kQ6_K: return {r * ns * 208, r * ns * 2, 0};
  }
  return {};
}

// ---- helpers that compile for both sides ----

HANGAR_HD float half_to_float(uint16_t h) {
#if defined(__CUDA_ARCH__)
  return __half2float(__ushort_as_half(h));
#else
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else if (exp == 0) {
    const float v = static_cast<float>(mant) * 0x1p-24f;
    return sign ? -v : v;
  } else {
    bits = sign | ((exp + 112u) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
#endif
}

// Four 32-bit words from 16 bytes (16-byte aligned on the device).
struct Words4 {
  uint32_t x, y, z, w;
};
HANGAR_HD Words4 load16(const uint8_t* p) {
#if defined(__CUDA_ARCH__)
  const uint4 v = __ldg(reinterpret_cast<const uint4*>(p));
  return {v.x, v.y, v.z, v.w};
#else
  Words4 v;
  std::memcpy(&v, p, 16);
  return v;
#endif
}
HANGAR_HD uint32_t load4(const void* p) {
#if defined(__CUDA_ARCH__)
  return __ldg(reinterpret_cast<const uint32_t*>(p));
#else
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
#endif
}
HANGAR_HD uint16_t load2(const uint16_t* p) {
#if defined(__CUDA_ARCH__)
  return __ldg(p);
#else
  return *p;
#endif
}

// Per-byte a - b without borrows between bytes (every byte of a is >= its byte of b here).
HANGAR_HD uint32_t sub_bytes(uint32_t a, uint32_t b) {
#if defined(__CUDA_ARCH__)
  return __vsub4(a, b);
#else
  uint32_t r = 0;
  for (int i = 0; i < 4; ++i) r |= ((((a >> (8 * i)) & 0xFF) - ((b >> (8 * i)) & 0xFF)) & 0xFF) << (8 * i);
  return r;
#endif
}

// Four signed byte products summed into c (dp4a).
HANGAR_HD int32_t dot4(uint32_t a, uint32_t b, int32_t c) {
#if defined(__CUDA_ARCH__)
  return __dp4a(static_cast<int>(a), static_cast<int>(b), c);
#else
  for (int i = 0; i < 4; ++i)
    c += static_cast<int8_t>(a >> (8 * i)) * static_cast<int8_t>(b >> (8 * i));
  return c;
#endif
}

// Bits 0..3 of x as the low bit of each byte (element i's fifth bit of Q5_0 into byte i).
HANGAR_HD uint32_t spread4(uint32_t x) { return ((x & 0xF) * 0x00204081u) & 0x01010101u; }

// ---- units ----
//
// A unit is what one lane of a kernel decodes at once: kRuns runs of kRunLen consecutive
// elements of a row, each with its own scale (and min, for Q4_K). Its codes are signed bytes
// such that element = scale * code - min. A row has cols / kUnitElems units; run r of unit u
// starts at element run_start(u, r). Every 128 elements starting at a multiple k0 of 128 hold
// exactly the 128 / kUnitElems whole units numbered from k0 / kUnitElems (the GEMM's k-tile).
struct Unit {
  uint32_t w[16];   // codes, 4 per word; run r's at words [r * kRunLen / 4, (r + 1) * kRunLen / 4)
  float scale[4];   // per run
  float min[4];     // per run; 0 except Q4_K
};

template <WType T>
struct Traits;

template <>
struct Traits<WType::kQ8_0> {
  static constexpr int kUnitElems = 32, kRuns = 1, kRunLen = 32;
  static constexpr bool kHasMin = false;
  HANGAR_HD static int run_start(int u, int) { return 32 * u; }
  HANGAR_HD static void decode(const MatrixView& m, int64_t row, int u, Unit& o) {
    const int nb = m.cols / 32;
    const uint8_t* p = m.q + static_cast<size_t>(row) * m.cols + 32 * u;
    const Words4 a = load16(p), b = load16(p + 16);
    o.w[0] = a.x, o.w[1] = a.y, o.w[2] = a.z, o.w[3] = a.w;
    o.w[4] = b.x, o.w[5] = b.y, o.w[6] = b.z, o.w[7] = b.w;
    o.scale[0] = half_to_float(load2(m.d + static_cast<size_t>(row) * nb + u));
    o.min[0] = 0;
  }
};

template <>
struct Traits<WType::kQ4_0> {
  static constexpr int kUnitElems = 32, kRuns = 1, kRunLen = 32;
  static constexpr bool kHasMin = false;
  HANGAR_HD static int run_start(int u, int) { return 32 * u; }
  HANGAR_HD static void decode(const MatrixView& m, int64_t row, int u, Unit& o) {
    const int nb = m.cols / 32;
    const size_t blk = static_cast<size_t>(row) * nb + u;
    const Words4 a = load16(m.q + blk * 16);
    const uint32_t v[4] = {a.x, a.y, a.z, a.w};
    for (int i = 0; i < 4; ++i) {
      o.w[i] = sub_bytes(v[i] & 0x0F0F0F0Fu, 0x08080808u);
      o.w[i + 4] = sub_bytes((v[i] >> 4) & 0x0F0F0F0Fu, 0x08080808u);
    }
    o.scale[0] = half_to_float(load2(m.d + blk));
    o.min[0] = 0;
  }
};

template <>
struct Traits<WType::kQ5_0> {
  static constexpr int kUnitElems = 32, kRuns = 1, kRunLen = 32;
  static constexpr bool kHasMin = false;
  HANGAR_HD static int run_start(int u, int) { return 32 * u; }
  HANGAR_HD static void decode(const MatrixView& m, int64_t row, int u, Unit& o) {
    const int nb = m.cols / 32;
    const size_t blk = static_cast<size_t>(row) * nb + u;
    const Words4 a = load16(m.q + blk * 16);
    const uint32_t qh = load4(m.h + blk);
    const uint32_t v[4] = {a.x, a.y, a.z, a.w};
    for (int i = 0; i < 4; ++i) {
      const uint32_t lo = (v[i] & 0x0F0F0F0Fu) | (spread4(qh >> (4 * i)) << 4);
      const uint32_t hi = ((v[i] >> 4) & 0x0F0F0F0Fu) | (spread4(qh >> (16 + 4 * i)) << 4);
      o.w[i] = sub_bytes(lo, 0x10101010u);
      o.w[i + 4] = sub_bytes(hi, 0x10101010u);
    }
    o.scale[0] = half_to_float(load2(m.d + blk));
    o.min[0] = 0;
  }
};

// Unit u: sub-blocks 2j and 2j + 1 (j = u % 4) of super-block u / 4: elements 64u .. 64u + 63,
// which share the 32 bytes of qs that hold them (low nibbles, then high).
template <>
struct Traits<WType::kQ4_K> {
  static constexpr int kUnitElems = 64, kRuns = 2, kRunLen = 32;
  static constexpr bool kHasMin = true;
  HANGAR_HD static int run_start(int u, int r) { return 64 * u + 32 * r; }
  HANGAR_HD static void scale_min(const uint8_t* s, int j, int* sc, int* mn) {
    if (j < 4) {
      *sc = s[j] & 63;
      *mn = s[j + 4] & 63;
    } else {
      *sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
      *mn = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
  }
  HANGAR_HD static void decode(const MatrixView& m, int64_t row, int u, Unit& o) {
    const int ns = m.cols / 256, j = u % 4;
    const uint8_t* blk = m.q + (static_cast<size_t>(row) * ns + u / 4) * 144;
    const Words4 head = load16(blk);  // d, dmin, 12 bytes of scales
    const Words4 a = load16(blk + 16 + 32 * j), b = load16(blk + 32 + 32 * j);
    const uint32_t v[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
    for (int i = 0; i < 8; ++i) {
      o.w[i] = v[i] & 0x0F0F0F0Fu;
      o.w[i + 8] = (v[i] >> 4) & 0x0F0F0F0Fu;
    }
    uint8_t s[12];
    const uint32_t sw[3] = {head.y, head.z, head.w};
    for (int i = 0; i < 12; ++i) s[i] = static_cast<uint8_t>(sw[i / 4] >> (8 * (i % 4)));
    const float d = half_to_float(static_cast<uint16_t>(head.x)), dmin = half_to_float(static_cast<uint16_t>(head.x >> 16));
    for (int r = 0; r < 2; ++r) {
      int sc, mn;
      scale_min(s, 2 * j + r, &sc, &mn);
      o.scale[r] = d * static_cast<float>(sc);
      o.min[r] = dmin * static_cast<float>(mn);
    }
  }
};

// Unit u of super-block u / 4: half h = (u % 4) / 2, l0 = 16 * (u % 2): the four runs of 16
// elements 128h + l0 + 32r + (0..15), r = 0..3, which share 16 bytes of ql at 64h + l0, 16 at
// 64h + 32 + l0 and 16 of qh at 32h + l0 (ggml's Q6_K bit layout).
template <>
struct Traits<WType::kQ6_K> {
  static constexpr int kUnitElems = 64, kRuns = 4, kRunLen = 16;
  static constexpr bool kHasMin = false;
  HANGAR_HD static int run_start(int u, int r) {
    return 256 * (u / 4) + 128 * ((u % 4) / 2) + 16 * (u % 2) + 32 * r;
  }
  HANGAR_HD static void decode(const MatrixView& m, int64_t row, int u, Unit& o) {
    const int ns = m.cols / 256, h = (u % 4) / 2, l0 = 16 * (u % 2);
    const size_t sb = static_cast<size_t>(row) * ns + u / 4;
    const uint8_t* blk = m.q + sb * 208;
    const Words4 a = load16(blk + 64 * h + l0), b = load16(blk + 64 * h + 32 + l0);
    const Words4 c = load16(blk + 128 + 32 * h + l0);
    const uint32_t av[4] = {a.x, a.y, a.z, a.w}, bv[4] = {b.x, b.y, b.z, b.w}, cv[4] = {c.x, c.y, c.z, c.w};
    for (int i = 0; i < 4; ++i) {
      o.w[i] = sub_bytes((av[i] & 0x0F0F0F0Fu) | ((cv[i] & 0x03030303u) << 4), 0x20202020u);
      o.w[4 + i] = sub_bytes((bv[i] & 0x0F0F0F0Fu) | ((cv[i] & 0x0C0C0C0Cu) << 2), 0x20202020u);
      o.w[8 + i] = sub_bytes(((av[i] >> 4) & 0x0F0F0F0Fu) | (cv[i] & 0x30303030u), 0x20202020u);
      o.w[12 + i] = sub_bytes(((bv[i] >> 4) & 0x0F0F0F0Fu) | ((cv[i] >> 2) & 0x30303030u), 0x20202020u);
    }
    const float d = half_to_float(load2(m.d + sb));
    const uint32_t sc = load4(blk + 192 + 8 * h);  // scales of sub-blocks 8h .. 8h + 3
    const uint32_t sc2 = load4(blk + 196 + 8 * h); // 8h + 4 .. 8h + 7
    const uint32_t scw[2] = {sc, sc2};
    for (int r = 0; r < 4; ++r) {
      const int j = u % 2 + 2 * r;  // sub-block 8h + j
      o.scale[r] = d * static_cast<float>(static_cast<int8_t>(scw[j / 4] >> (8 * (j % 4))));
      o.min[r] = 0;
    }
  }
};

// One unit's part of the dot product of its row with one token's 8-bit activations (qx: the
// token's codes, dx: its scale per 32 elements, sx: scale * sum of the 32 codes), as the
// matrix-vector kernels compute it: per run an exact integer sum of products, scaled in float.
template <WType T>
HANGAR_HD float unit_dot(const Unit& un, int u, const int8_t* qx, const float* dx, const float* sx) {
  using Tr = Traits<T>;
  float acc = 0;
  HANGAR_UNROLL
  for (int r = 0; r < Tr::kRuns; ++r) {
    const int start = Tr::run_start(u, r);
    int32_t isum = 0;
    HANGAR_UNROLL
    for (int i = 0; i < Tr::kRunLen / 16; ++i) {
      const Words4 x = load16(reinterpret_cast<const uint8_t*>(qx) + start + 16 * i);
      const int w0 = r * (Tr::kRunLen / 4) + 4 * i;
      isum = dot4(un.w[w0], x.x, isum);
      isum = dot4(un.w[w0 + 1], x.y, isum);
      isum = dot4(un.w[w0 + 2], x.z, isum);
      isum = dot4(un.w[w0 + 3], x.w, isum);
    }
    acc += un.scale[r] * dx[start / 32] * static_cast<float>(isum);
    if (Tr::kHasMin) acc -= un.min[r] * sx[start / 32];
  }
  return acc;
}

// The code of element i (0 .. kRunLen - 1) of run r.
HANGAR_HD int unit_code(const Unit& un, int run_len, int r, int i) {
  const int e = r * run_len + i;
  return static_cast<int8_t>(un.w[e / 4] >> (8 * (e % 4)));
}

// ---- host-side re-layout (layout.cc) ----

// The kernels' type for a ggml type id (base/tensor_type.h's numbering), or -1 for the types
// the backend dequantizes to kF16 at load (F32, BF16, Q4_1, Q5_1, Q5_K).
int wtype_for_ggml(uint32_t ggml_type);
// Writes rows [r0, r1) of a ggml-layout matrix of type `t` into the arrays of `dst` (host
// memory laid out as MatrixView says, q/d/h pointing at the whole matrix's arrays). For kF16
// `src` must already be F16.
void relayout_rows(WType t, const uint8_t* src, size_t src_row_bytes, int64_t cols, int64_t r0, int64_t r1,
                   uint8_t* q, uint16_t* d, uint32_t* h);

}  // namespace hangar::kernels::cuda
