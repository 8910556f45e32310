// The control flow of one query head's F16 decode attention, shared by every kernel table.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace hangar::kernels::detail {
// Internal linkage, and builtins rather than std::exp / std::fma (inline functions of <cmath>):
// each per-ISA translation unit that includes this keeps its own copy (see dispatch.h).
namespace {

// llama.cpp's CPU flash attention for a single query row (see model/attention.cc): the query
// rounded to F16; per position, score = dot_f16_f16(key, q16) * scale; an online softmax whose
// value accumulator is F16 (rescaled with scale_f16 when the max grows, then mad_f16 of the
// value); out = f32(acc) / sum. Ops supplies the table's primitives: dot(k, q16, qf, n) with
// qf the query's F16 values as floats (either operand gives the same sum), scale_h, mad_h,
// to_f16, to_f32 and scale. scratch: 2 * n halves and n floats. One call per head keeps the
// per-position work free of indirect calls and of converting the query again.
template <class Ops>
void attend_f16_head_impl(const uint16_t* const* k_rows, const uint16_t* const* v_rows, int64_t offset,
                          int64_t n_pos, const float* q, int64_t n, float scale, float* out, void* scratch) {
  auto* q16 = static_cast<uint16_t*>(scratch);
  uint16_t* acc16 = q16 + n;
  auto* qf = reinterpret_cast<float*>(acc16 + n);
  Ops::to_f16(q, q16, n);
  Ops::to_f32(q16, qf, n);
  std::memset(acc16, 0, sizeof(uint16_t) * static_cast<size_t>(n));
  float m = -INFINITY, s = 0;
  for (int64_t p = 0; p < n_pos; ++p) {
    const float score = Ops::dot(k_rows[p] + offset, q16, qf, n) * scale;
    float ms = 1.0f, vs = 1.0f;
    if (score > m) {
      ms = __builtin_expf(m - score);
      m = score;
      Ops::scale_h(acc16, ms, n);
    } else {
      vs = __builtin_expf(score - m);
    }
    Ops::mad_h(acc16, v_rows[p] + offset, vs, n);
    // llama.cpp's S = S*ms + vs, contracted to an FMA as the build that wrote ../shared's goldens
    // does (node-llama-cpp 3.21.1's GCC 11 build rounds S*ms first: docs/HARDENING.md).
    s = __builtin_fmaf(s, ms, vs);
  }
  Ops::to_f32(acc16, out, n);
  Ops::scale(out, s == 0 ? 0.0f : 1.0f / s, n);
}

// Bytes of scratch attend_f16_head_impl needs for head size n (rounded for alignment).
inline size_t attend_f16_scratch_bytes(int64_t n) { return static_cast<size_t>(n) * 8 + 64; }

}  // namespace

}  // namespace hangar::kernels::detail
