// Vector ops on every ISA against the scalar reference, over many lengths and misalignments.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <utility>
#include <limits>
#include <vector>

#include "kernels/kernels.h"
#include "kernels/kernels_test_util.h"
#include "kernels/reference/reference.h"

namespace hangar::kernels {
namespace {

using testing::available_isas;
using testing::random_floats;
using testing::ScopedIsa;

std::vector<int64_t> lengths() {
  std::vector<int64_t> n;
  for (int64_t i = 0; i <= 70; ++i) n.push_back(i);
  for (int64_t i : {127, 128, 129, 255, 1000, 4099}) n.push_back(i);
  return n;
}

// Runs body(isa, n, offset) for every ISA, length and element offset 0..2.
template <typename F>
void for_all(F&& body) {
  for (Isa isa : available_isas()) {
    ScopedIsa scoped(isa);
    for (int64_t n : lengths())
      for (int off = 0; off < 3; ++off) body(isa, n, off);
  }
}

std::vector<uint16_t> to_f16(const std::vector<float>& x) {
  std::vector<uint16_t> h(x.size());
  for (size_t i = 0; i < x.size(); ++i) h[i] = fp32_to_fp16(x[i]);
  return h;
}

double abs_dot(const float* a, const float* b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += std::fabs(static_cast<double>(a[i]) * b[i]);
  return s;
}

TEST(VecOps, DotProducts) {
  const auto a = random_floats(5000, 1), b = random_floats(5000, 2);
  const auto ah = to_f16(a);
  std::vector<float> af(a.size());
  for (size_t i = 0; i < a.size(); ++i) af[i] = fp16_to_fp32(ah[i]);
  for_all([&](Isa isa, int64_t n, int off) {
    const double tol = 1e-6 * abs_dot(a.data() + off, b.data() + off, n) + 1e-30;
    EXPECT_NEAR(dot_f32(a.data() + off, b.data() + off, n), ref::dot_f32(a.data() + off, b.data() + off, n), tol)
        << isa_name(isa) << " n=" << n;
    EXPECT_NEAR(dot_f16_f32(ah.data() + off, b.data() + off, n),
                ref::dot_f32(af.data() + off, b.data() + off, n), tol)
        << isa_name(isa) << " n=" << n;
  });
}

// ggml_vec_dot_f16's summation order for vectors of `lanes` floats (0: the build without SIMD),
// spelled out in scalar code.
float ggml_dot_f16(const uint16_t* a, const uint16_t* b, int64_t n, int lanes) {
  double sum = 0;
  int64_t np = 0;
  if (lanes > 0) {
    np = n & ~static_cast<int64_t>(4 * lanes - 1);
    float acc[4][16] = {};
    for (int64_t i = 0; i < np; i += 4 * lanes)
      for (int j = 0; j < 4; ++j)
        for (int l = 0; l < lanes; ++l) {
          const int64_t k = i + j * lanes + l;
          acc[j][l] = std::fma(fp16_to_fp32(a[k]), fp16_to_fp32(b[k]), acc[j][l]);
        }
    float x[16];
    for (int l = 0; l < lanes; ++l) x[l] = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]);
    if (lanes == 16) {  // GCC's _mm512_reduce_add_ps
      float t3[8], t6[4];
      for (int l = 0; l < 8; ++l) t3[l] = x[8 + l] + x[l];
      for (int l = 0; l < 4; ++l) t6[l] = t3[4 + l] + t3[l];
      sum = (t6[0] + t6[2]) + (t6[1] + t6[3]);
    } else {  // 128-bit halves added, then two hadds
      float t[4];
      for (int l = 0; l < 4; ++l) t[l] = x[l] + x[l + 4];
      sum = (t[0] + t[1]) + (t[2] + t[3]);
    }
  }
  for (int64_t i = np; i < n; ++i) sum += static_cast<double>(fp16_to_fp32(a[i]) * fp16_to_fp32(b[i]));
  return static_cast<float>(sum);
}

TEST(VecOps, DotF16F16FollowsGgmlOrderExactly) {
  const auto a = to_f16(random_floats(5000, 3)), b = to_f16(random_floats(5000, 4));
  for_all([&](Isa isa, int64_t n, int off) {
    const int lanes = isa == Isa::kScalar ? 0 : isa == Isa::kAvx2 ? 8 : 16;
    EXPECT_EQ(dot_f16_f16(a.data() + off, b.data() + off, n), ggml_dot_f16(a.data() + off, b.data() + off, n, lanes))
        << isa_name(isa) << " n=" << n << " off=" << off;
  });
}

TEST(VecOps, ScaleAndMadF16RoundEachElementOnce) {
  const auto y0 = to_f16(random_floats(5000, 5)), x = to_f16(random_floats(5000, 6));
  const float v = 0.7131f;
  for_all([&](Isa isa, int64_t n, int off) {
    std::vector<uint16_t> ys = y0, ym = y0;
    scale_f16(ys.data() + off, v, n);
    mad_f16(ym.data() + off, x.data() + off, v, n);
    for (int64_t i = 0; i < static_cast<int64_t>(y0.size()); ++i) {
      const bool in = i >= off && i < off + n;
      const float y = fp16_to_fp32(y0[i]), xv = fp16_to_fp32(x[i]);
      // SIMD levels fuse the multiply-add, as llama.cpp's FMA builds; the scalar table does not.
      const float mad = isa == Isa::kScalar ? y + xv * v : std::fma(xv, v, y);
      ASSERT_EQ(ys[i], in ? fp32_to_fp16(y * v) : y0[i]) << isa_name(isa) << " scale n=" << n << " i=" << i;
      ASSERT_EQ(ym[i], in ? fp32_to_fp16(mad) : y0[i]) << isa_name(isa) << " mad n=" << n << " i=" << i;
    }
  });
}

TEST(VecOps, AxpyScaleAdd) {
  const auto x = random_floats(5000, 3), y0 = random_floats(5000, 4);
  const auto xh = to_f16(x);
  for_all([&](Isa isa, int64_t n, int off) {
    std::vector<float> y1(y0), y2(y0);
    axpy_f32(0.75f, x.data() + off, y1.data() + off, n);
    ref::axpy_f32(0.75f, x.data() + off, y2.data() + off, n);
    for (size_t i = 0; i < y1.size(); ++i) ASSERT_NEAR(y1[i], y2[i], 1e-6f * (1 + std::fabs(y2[i]))) << isa_name(isa);
    y1 = y0;
    y2 = y0;
    axpy_f16(-1.5f, xh.data() + off, y1.data() + off, n);
    ref::axpy_f16(-1.5f, xh.data() + off, y2.data() + off, n);
    for (size_t i = 0; i < y1.size(); ++i) ASSERT_NEAR(y1[i], y2[i], 1e-6f * (1 + std::fabs(y2[i]))) << isa_name(isa);
    y1 = y0;
    scale(y1.data() + off, 3.0f, n);
    for (size_t i = 0; i < y1.size(); ++i) {
      const bool in = static_cast<int64_t>(i) >= off && static_cast<int64_t>(i) < off + n;
      ASSERT_EQ(y1[i], in ? y0[i] * 3.0f : y0[i]) << isa_name(isa) << " n=" << n;
    }
    y1 = y0;
    add(y1.data() + off, x.data() + off, y1.data() + off, n);  // in place (y aliases a)
    for (size_t i = 0; i < y1.size(); ++i) {
      const bool in = static_cast<int64_t>(i) >= off && static_cast<int64_t>(i) < off + n;
      ASSERT_EQ(y1[i], in ? y0[i] + x[i] : y0[i]) << isa_name(isa) << " n=" << n;
    }
  });
}

TEST(VecOps, HalfRowConversionsDoNotTouchNeighbours) {
  const auto x = random_floats(300, 5, 100.0f);
  for_all([&](Isa isa, int64_t n, int off) {
    if (n > 290) return;
    std::vector<uint16_t> h(300, 0xFFFF);
    f32_to_f16_row(x.data() + off, h.data() + off, n);
    for (int64_t i = 0; i < 300; ++i) {
      const bool in = i >= off && i < off + n;
      ASSERT_EQ(h[static_cast<size_t>(i)], in ? fp32_to_fp16(x[static_cast<size_t>(i)]) : 0xFFFF) << isa_name(isa);
    }
    std::vector<float> f(300, -1.0f);
    f16_to_f32_row(h.data() + off, f.data() + off, n);
    for (int64_t i = 0; i < 300; ++i) {
      const bool in = i >= off && i < off + n;
      ASSERT_EQ(f[static_cast<size_t>(i)], in ? fp16_to_fp32(h[static_cast<size_t>(i)]) : -1.0f) << isa_name(isa);
    }
  });
}

TEST(VecOps, RmsNorm) {
  const auto x = random_floats(5000, 6, 4.0f), w = random_floats(5000, 7);
  for_all([&](Isa isa, int64_t n, int off) {
    if (n == 0) return;
    std::vector<float> y1(x.size()), y2(x.size());
    rms_norm(x.data() + off, w.data() + off, y1.data() + off, n, 1e-5f);
    ref::rms_norm(x.data() + off, w.data() + off, y2.data() + off, n, 1e-5f);
    for (int64_t i = off; i < off + n; ++i)
      ASSERT_NEAR(y1[static_cast<size_t>(i)], y2[static_cast<size_t>(i)], 2e-6f * (1 + std::fabs(y2[static_cast<size_t>(i)])))
          << isa_name(isa) << " n=" << n;
    // In place.
    std::vector<float> z(x);
    rms_norm(z.data() + off, w.data() + off, z.data() + off, n, 1e-5f);
    for (int64_t i = off; i < off + n; ++i) ASSERT_EQ(z[static_cast<size_t>(i)], y1[static_cast<size_t>(i)]);
  });
}

TEST(VecOps, SiluMul) {
  auto g = random_floats(5000, 8, 6.0f);
  const auto u = random_floats(5000, 9);
  g[10] = 100.0f;
  g[11] = -100.0f;
  g[12] = -87.5f;
  g[13] = 0.0f;
  for_all([&](Isa isa, int64_t n, int off) {
    std::vector<float> y1(g.size(), 5.0f), y2(g.size(), 5.0f);
    silu_mul(g.data() + off, u.data() + off, y1.data() + off, n);
    ref::silu_mul(g.data() + off, u.data() + off, y2.data() + off, n);
    for (size_t i = 0; i < y1.size(); ++i)
      ASSERT_NEAR(y1[i], y2[i], 1e-6f * std::fabs(y2[i]) + 1e-30f) << isa_name(isa) << " g=" << g[i];
  });
}

// ggml_v_expf spelled out in scalar code for |x| < 87 (no overflow handling): AVX-512 builds add
// the 1 inside the polynomial and scale exactly, AVX2 builds add it in the final fma.
float ggml_expf(float x, bool avx512) {
  const float r = 0x1.8p23f;
  const float z = std::fma(x, 0x1.715476p+0f, r);
  const float n = z - r;
  const float b = std::fma(-n, 0x1.7f7d1cp-20f, std::fma(-n, 0x1.62e4p-1f, x));
  const float u = b * b;
  const float p = std::fma(std::fma(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, std::fma(0x1.555e66p-3f, b, 0x1.fffdb6p-2f));
  const float k = std::ldexp(1.0f, static_cast<int>(n));
  if (avx512) return std::fma(p, u, std::fma(0x1.ffffecp-1f, b, 1.0f)) * k;
  return std::fma(std::fma(p, u, 0x1.ffffecp-1f * b), k, k);
}

TEST(VecOps, SiluMulMatchesGgmlExactly) {
  const auto g = random_floats(4099, 18, 6.0f), u = random_floats(4099, 19);  // the longest n below
  for (Isa isa : available_isas()) {
    if (isa == Isa::kScalar) continue;
    ScopedIsa scoped(isa);
    for (int64_t n : {int64_t{16}, int64_t{4096}, int64_t{4099}}) {
      std::vector<float> y(static_cast<size_t>(n));
      silu_mul(g.data(), u.data(), y.data(), n);
      const int64_t vec_end = n / 16 * 16;  // whole vectors on every level (16 = 2 AVX2 vectors)
      for (int64_t i = 0; i < n; ++i) {
        if (std::fabs(g[i]) > 80.0f) continue;  // the emulation leaves out the overflow branches
        const float e = i < vec_end ? ggml_expf(-g[i], isa != Isa::kAvx2) : std::exp(-g[i]);
        ASSERT_EQ(y[i], g[i] / (1.0f + e) * u[i]) << isa_name(isa) << " i=" << i << " g=" << g[i];
      }
    }
  }
}

// Many rows against one vector (attention scores) and many weighted rows into one vector
// (weighted values), for the register-resident sizes and the fallback ones.
TEST(VecOps, DotRowsAndAxpyRows) {
  for (Isa isa : available_isas()) {
    ScopedIsa scoped(isa);
    for (int64_t n : {8, 16, 32, 64, 128, 256, 13}) {
      const int64_t n_rows = 37, stride = 3 * n + 5;
      const auto rows = random_floats(n_rows * stride, 11 + n);
      const auto x = random_floats(n, 12 + n);
      std::vector<float> got(n_rows), want(n_rows);
      dot_rows_f32(rows.data(), n_rows, stride, x.data(), n, got.data());
      ref::dot_rows_f32(rows.data(), n_rows, stride, x.data(), n, want.data());
      for (int64_t r = 0; r < n_rows; ++r) ASSERT_NEAR(got[r], want[r], 1e-4f * n) << isa_name(isa) << " n " << n;
      const auto w = random_floats(n_rows, 14 + n);
      auto y = random_floats(n, 13 + n), y_ref = y;
      axpy_rows_f32(rows.data(), n_rows, stride, w.data(), y.data(), n);
      ref::axpy_rows_f32(rows.data(), n_rows, stride, w.data(), y_ref.data(), n);
      for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(y[i], y_ref[i], 1e-4f * n_rows) << isa_name(isa) << " n " << n;
    }
  }
}

// The fused decode-attention head gives, on every ISA, exactly what the step-by-step form with
// the same ISA's F16 helpers gives (the form model/attention.cc used and the golden outputs
// hold): rows behind an offset, head sizes with and without a vector tail, scores that rise
// (rescaling the accumulator) and fall, and a single position.
TEST(VecOps, AttendF16HeadEqualsStepByStepHelpers) {
  for (Isa isa : available_isas()) {
    ScopedIsa scoped(isa);
    for (int64_t n : {64, 128, 80, 8}) {
      for (int64_t n_pos : {1, 7, 70}) {
        const int64_t offset = 3 * n, stride = 5 * n;
        std::vector<uint16_t> k(static_cast<size_t>(n_pos * stride)), v(k.size());
        const auto q = random_floats(n, 41 + n, 1.5f);
        // Keys along the query, growing for 40 positions then shrinking, plus noise: scores
        // that keep rising (each a rescale) and then fall.
        auto kf = random_floats(n_pos * stride, 31 + n + n_pos, 0.3f);
        for (int64_t p = 0; p < n_pos; ++p)
          for (int64_t i = 0; i < n; ++i) kf[p * stride + offset + i] += 0.05f * (p < 40 ? p : 80 - p) * q[i];
        const auto vf = random_floats(n_pos * stride, 37 + n + n_pos);
        f32_to_f16_row(kf.data(), k.data(), static_cast<int64_t>(k.size()));
        f32_to_f16_row(vf.data(), v.data(), static_cast<int64_t>(v.size()));
        std::vector<const uint16_t*> k_rows, v_rows;
        for (int64_t p = 0; p < n_pos; ++p) {
          k_rows.push_back(k.data() + p * stride);
          v_rows.push_back(v.data() + p * stride);
        }
        const float scale = 1.0f / std::sqrt(static_cast<float>(n));
        std::vector<float> got(static_cast<size_t>(n)), want(static_cast<size_t>(n));
        std::vector<uint8_t> scratch(attend_f16_head_scratch_bytes(n));
        attend_f16_head(k_rows.data(), v_rows.data(), offset, n_pos, q.data(), n, scale, got.data(), scratch.data());

        std::vector<uint16_t> q16(static_cast<size_t>(n)), acc(static_cast<size_t>(n), 0);
        f32_to_f16_row(q.data(), q16.data(), n);
        float m = -INFINITY, s = 0;
        int rescales = 0;
        for (int64_t p = 0; p < n_pos; ++p) {
          const float score = dot_f16_f16(k_rows[p] + offset, q16.data(), n) * scale;
          float ms = 1.0f, vs = 1.0f;
          if (score > m) {
            ms = std::exp(m - score);
            m = score;
            scale_f16(acc.data(), ms, n);
            ++rescales;
          } else {
            vs = std::exp(score - m);
          }
          mad_f16(acc.data(), v_rows[p] + offset, vs, n);
          s = std::fma(s, ms, vs);
        }
        f16_to_f32_row(acc.data(), want.data(), n);
        kernels::scale(want.data(), 1.0f / s, n);
        if (n_pos == 70) {
          ASSERT_GT(rescales, 10);
        }
        for (int64_t i = 0; i < n; ++i)
          ASSERT_EQ(got[i], want[i]) << isa_name(isa) << " head " << n << " positions " << n_pos << " element " << i;
      }
    }
  }
}

// Every ISA rotates bit for bit as the reference (one fma of a rounded product per output),
// for both pairings, partial rotation (n_rot < head_dim) and pair counts that leave tails.
TEST(VecOps, RopeMatchesReferenceExactly) {
  for (Isa isa : available_isas()) {
    ScopedIsa scoped(isa);
    for (bool neox : {false, true})
      for (auto [head_dim, n_rot] : {std::pair{64, 64}, std::pair{80, 48}, std::pair{128, 128}, std::pair{22, 14}}) {
        const int32_t n_heads = 3, half = n_rot / 2;
        auto x = random_floats(n_heads * head_dim, 5 + head_dim, 3.0f);
        std::vector<float> cos(half), sin(half);
        for (int32_t j = 0; j < half; ++j) {
          const float a = 17.0f * std::pow(10000.0f, -2.0f * j / n_rot);
          cos[j] = std::cos(a);
          sin[j] = std::sin(a);
        }
        auto want = x;
        ref::rope(want.data(), n_heads, head_dim, n_rot, neox, cos.data(), sin.data());
        rope(x.data(), n_heads, head_dim, n_rot, neox, cos.data(), sin.data());
        for (size_t i = 0; i < x.size(); ++i)
          ASSERT_EQ(std::bit_cast<uint32_t>(x[i]), std::bit_cast<uint32_t>(want[i]))
              << isa_name(isa) << (neox ? " neox" : " normal") << " head_dim " << head_dim << " at " << i;
      }
  }
}

// Pairs that llama.cpp's CPU build (node-llama-cpp 3.21.1's prebuilt libggml-cpu, the oracle of
// golden_agreement_test) rotated, read back from its graph with an eval callback: head_dim 64,
// position 1, pair j; inputs x0, x1 and its outputs. Its compiler fuses x0's product in both
// outputs, x0' = fma(x0, c, -r(x1 * s)) and x1' = fma(x0, s, r(x1 * c)); each x1' below differs
// in the last bit from fma(x1, c, r(x0 * s)), the form used before, which moved 1 in 10 rotated
// values by an ulp and the logits of 8-bit models through the next activation quantization.
struct LlamaRopePair {
  int32_t j;
  float x0, x1, y0, y1;
};

void expect_llama_rope(bool neox, float base, const std::vector<LlamaRopePair>& cases) {
  constexpr int32_t kHeadDim = 64, kHalf = kHeadDim / 2;
  // Angles as model/forward.cc (and ggml's rope cache) compute them for position 1.
  std::vector<float> cos(kHalf), sin(kHalf);
  const float theta_scale = std::pow(base, -2.0f / kHeadDim);
  float theta = 1.0f;
  for (int32_t j = 0; j < kHalf; ++j) {
    cos[j] = std::cos(theta);
    sin[j] = std::sin(theta);
    theta *= theta_scale;
  }
  for (Isa isa : available_isas()) {
    ScopedIsa scoped(isa);
    for (const auto& c : cases) {
      std::vector<float> x(kHeadDim, 0.0f);
      const int32_t i0 = neox ? c.j : 2 * c.j, i1 = neox ? c.j + kHalf : 2 * c.j + 1;
      x[i0] = c.x0;
      x[i1] = c.x1;
      rope(x.data(), 1, kHeadDim, kHeadDim, neox, cos.data(), sin.data());
      EXPECT_EQ(x[i0], c.y0) << isa_name(isa) << (neox ? " neox" : " normal") << " pair " << c.j;
      EXPECT_EQ(x[i1], c.y1) << isa_name(isa) << (neox ? " neox" : " normal") << " pair " << c.j;
    }
  }
}

TEST(VecOps, RopeMatchesLlamaCppOutputs) {
  // llama, rope base 10000 (a synthetic d512 model, layer 0 queries).
  expect_llama_rope(false, 10000.0f,
                    {{1, 0x1.12e578p-1f, -0x1.13442cp-1f, 0x1.84c4fp-1f, -0x1.c240bcp-6f},
                     {2, -0x1.d4ac6p-3f, 0x1.79d96ep-2f, -0x1.8fb554p-2f, 0x1.857238p-3f},
                     {3, -0x1.29aa32p-2f, 0x1.6f095p-1f, -0x1.1e067ep-1f, 0x1.11f6ccp-1f},
                     {6, 0x1.c5946cp-4f, -0x1.773926p-1f, 0x1.e8b5bp-3f, -0x1.6746d8p-1f}});
  // qwen2 (neox pairing), rope base 1e6 (../shared/models/qwen2-d256-q4_k_m.gguf, layer 0 queries).
  expect_llama_rope(true, 1000000.0f,
                    {{0, 0x1.9be8cp-5f, -0x1.02caep+0f, 0x1.c17144p-1f, -0x1.01fd4p-1f},
                     {1, -0x1.0199d2p+1f, 0x1.b877p-4f, -0x1.aafbaep+0f, -0x1.219d18p+0f},
                     {5, -0x1.1a1202p+0f, 0x1.366bcp-1f, -0x1.2a1348p+0f, 0x1.e6b44ep-2f},
                     {6, 0x1.6919p-2f, 0x1.571cp-5f, 0x1.64deap-2f, 0x1.1748fap-4f}});
}

TEST(VecOps, SoftmaxWithMaskedEntries) {
  auto x = random_floats(5000, 10, 8.0f);
  for (size_t i = 0; i < x.size(); i += 7) x[i] = -std::numeric_limits<float>::infinity();
  for_all([&](Isa isa, int64_t n, int off) {
    if (n == 0 || (n == 1 && off == 0)) return;  // needs a finite entry
    std::vector<float> y1(x), y2(x);
    const float m1 = softmax(y1.data() + off, n);
    const float m2 = ref::softmax(y2.data() + off, n);
    EXPECT_EQ(m1, m2);
    double sum = 0;
    for (size_t i = 0; i < y1.size(); ++i) {
      if (static_cast<int64_t>(i) >= off && static_cast<int64_t>(i) < off + n) sum += y1[i];
      if (y1[i] == y2[i]) continue;  // includes the -inf entries outside the row
      ASSERT_NEAR(y1[i], y2[i], 1e-6f * std::fabs(y2[i]) + 1e-12f) << isa_name(isa) << " n=" << n;
    }
    EXPECT_NEAR(sum, 1.0, 1e-5) << isa_name(isa) << " n=" << n << " off=" << off;
  });
}

}  // namespace
}  // namespace hangar::kernels
