// Matrix products of the CUDA backend: matrix-vector kernels for up to kGemvMaxTokens tokens
// (decode) and tensor-core tiles above (prefill, batches).
//
// Quantized weights multiply 8-bit activations exactly as integers (dp4a, or int8 mma.sync
// m16n8k16), scaled per run in float, so a product sees the codes the CPU backend's kernels
// see; F16 weights multiply F32 activations (matrix-vector) or F16 ones (f16 mma, F32 sums).
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/ops.h"

namespace hangar::kernels::cuda {
namespace {

// ---- matrix-vector: one warp per row, lanes over units, NT tokens at once ----

constexpr int kGemvWarps = 4;

template <WType T, int NT>
__global__ void __launch_bounds__(32 * kGemvWarps) gemv_q_kernel(MatrixView w, Acts a, int n, float* y, int y_stride,
                                                                 int accumulate) {
  using Tr = Traits<T>;
  const int row = blockIdx.x * kGemvWarps + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (row >= w.rows) return;
  const int K = w.cols, n_units = K / Tr::kUnitElems;
  float acc[NT];
#pragma unroll
  for (int t = 0; t < NT; ++t) acc[t] = 0;
  for (int u = lane; u < n_units; u += 32) {
    Unit un;
    Tr::decode(w, row, u, un);
#pragma unroll
    for (int t = 0; t < NT; ++t)
      acc[t] += unit_dot<T>(un, u, a.q + static_cast<size_t>(t) * K, a.d + static_cast<size_t>(t) * (K / 32),
                            a.s + static_cast<size_t>(t) * (K / 32));
  }
#pragma unroll
  for (int t = 0; t < NT; ++t) acc[t] = warp_sum(acc[t]);
  if (lane == 0) {
#pragma unroll
    for (int t = 0; t < NT; ++t)
      if (t < n) {
        float* o = y + static_cast<size_t>(t) * y_stride + row;
        *o = accumulate ? *o + acc[t] : acc[t];
      }
  }
}

template <int NT>
__global__ void __launch_bounds__(32 * kGemvWarps) gemv_f16_kernel(MatrixView w, Acts a, int n, float* y, int y_stride,
                                                                   int accumulate) {
  const int row = blockIdx.x * kGemvWarps + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (row >= w.rows) return;
  const int K = w.cols;
  const uint8_t* wr = w.q + static_cast<size_t>(row) * K * 2;
  float acc[NT];
#pragma unroll
  for (int t = 0; t < NT; ++t) acc[t] = 0;
  for (int c = lane; c < K / 8; c += 32) {
    const Words4 v = load16(wr + 16 * c);
    const uint32_t vw[4] = {v.x, v.y, v.z, v.w};
    float wf[8];
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&vw[e]));
      wf[2 * e] = f.x;
      wf[2 * e + 1] = f.y;
    }
#pragma unroll
    for (int t = 0; t < NT; ++t) {
      const float4* x = reinterpret_cast<const float4*>(a.f + static_cast<size_t>(t) * K + 8 * c);
      const float4 x0 = __ldg(x), x1 = __ldg(x + 1);
      acc[t] += wf[0] * x0.x + wf[1] * x0.y + wf[2] * x0.z + wf[3] * x0.w + wf[4] * x1.x + wf[5] * x1.y +
                wf[6] * x1.z + wf[7] * x1.w;
    }
  }
#pragma unroll
  for (int t = 0; t < NT; ++t) acc[t] = warp_sum(acc[t]);
  if (lane == 0) {
#pragma unroll
    for (int t = 0; t < NT; ++t)
      if (t < n) {
        float* o = y + static_cast<size_t>(t) * y_stride + row;
        *o = accumulate ? *o + acc[t] : acc[t];
      }
  }
}

// ---- tensor-core tiles: 64 rows x 64 tokens per block of 4 warps, each warp 32 x 32 ----

constexpr int kBM = 64, kBN = 64;
constexpr int kLds = 144;  // bytes per shared-memory row: 128 of data + 16, so that the eight
                           // rows a fragment load touches fall in distinct banks

__device__ __forceinline__ void mma_s8(int (&c)[4], uint32_t a0, uint32_t a1, uint32_t b) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5}, {%6}, {%0,%1,%2,%3};\n"
               : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
               : "r"(a0), "r"(a1), "r"(b));
}

__device__ __forceinline__ void mma_f16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t lds32(const uint8_t* p) { return *reinterpret_cast<const uint32_t*>(p); }

// Writes the tile's outputs: element e of fragment (mi, ni) is row wm + 16 mi + g + 8 (e / 2),
// token wn + 8 ni + 2 tig + (e % 2).
__device__ __forceinline__ void store_tile(const float (&acc)[2][4][4], int m0, int n0, int wm, int wn, int g, int tig,
                                           int rows, int n, float* y, int y_stride, int accumulate) {
#pragma unroll
  for (int mi = 0; mi < 2; ++mi)
#pragma unroll
    for (int ni = 0; ni < 4; ++ni)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int row = m0 + wm + 16 * mi + g + 8 * (e / 2), tok = n0 + wn + 8 * ni + 2 * tig + (e % 2);
        if (row < rows && tok < n) {
          float* o = y + static_cast<size_t>(tok) * y_stride + row;
          *o = accumulate ? *o + acc[mi][ni][e] : acc[mi][ni][e];
        }
      }
}

// Quantized weights: each 128-element k-tile's units decoded to int8 codes in shared memory
// with a scale per 16 elements (and a min per 32 for Q4_K); int8 mma per run, the integer sums
// scaled into float accumulators at each run's end.
template <WType T>
__global__ void __launch_bounds__(128) gemm_q_kernel(MatrixView w, Acts a, int n, float* y, int y_stride,
                                                     int accumulate) {
  using Tr = Traits<T>;
  constexpr int kBK = 128, kUpt = kBK / Tr::kUnitElems;
  __shared__ __align__(16) uint8_t ws[kBM * kLds];
  __shared__ __align__(16) uint8_t xs[kBN * kLds];
  __shared__ float sw[kBM][kBK / 16];
  __shared__ float mw[kBM][kBK / 32];
  __shared__ float dxs[kBN][kBK / 32];
  __shared__ float sxs[kBN][kBK / 32];
  const int K = w.cols, m0 = blockIdx.x * kBM, n0 = blockIdx.y * kBN;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, tig = lane & 3;
  const int wm = (warp >> 1) * 32, wn = (warp & 1) * 32;
  const int n_units = K / Tr::kUnitElems;
  float acc[2][4][4];
#pragma unroll
  for (int mi = 0; mi < 2; ++mi)
#pragma unroll
    for (int ni = 0; ni < 4; ++ni)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[mi][ni][e] = 0;
  for (int k0 = 0; k0 < K; k0 += kBK) {
    for (int i = tid; i < kBM * kUpt; i += 128) {
      const int r = i / kUpt, u = k0 / Tr::kUnitElems + i % kUpt, row = m0 + r;
      Unit un;
      const bool live = row < w.rows && u < n_units;
      if (live) Tr::decode(w, row, u, un);
#pragma unroll
      for (int run = 0; run < Tr::kRuns; ++run) {
        const int start = Tr::run_start(u, run) - k0;
#pragma unroll
        for (int j = 0; j < Tr::kRunLen / 4; ++j)
          *reinterpret_cast<uint32_t*>(ws + r * kLds + start + 4 * j) = live ? un.w[run * (Tr::kRunLen / 4) + j] : 0u;
#pragma unroll
        for (int j = 0; j < Tr::kRunLen / 16; ++j) sw[r][start / 16 + j] = live ? un.scale[run] : 0.0f;
        if (Tr::kHasMin) mw[r][start / 32] = live ? un.min[run] : 0.0f;
      }
    }
    for (int i = tid; i < kBN * (kBK / 16); i += 128) {
      const int nn = i / (kBK / 16), c = i % (kBK / 16), tok = n0 + nn, k = k0 + 16 * c;
      uint4 v = make_uint4(0, 0, 0, 0);
      if (tok < n && k < K) v = __ldg(reinterpret_cast<const uint4*>(a.q + static_cast<size_t>(tok) * K + k));
      *reinterpret_cast<uint4*>(xs + nn * kLds + 16 * c) = v;
    }
    for (int i = tid; i < kBN * (kBK / 32); i += 128) {
      const int nn = i / (kBK / 32), c = i % (kBK / 32), tok = n0 + nn, b = k0 / 32 + c;
      const bool live = tok < n && b < K / 32;
      dxs[nn][c] = live ? a.d[static_cast<size_t>(tok) * (K / 32) + b] : 0.0f;
      if (Tr::kHasMin) sxs[nn][c] = live ? a.s[static_cast<size_t>(tok) * (K / 32) + b] : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int kg = 0; kg < kBK; kg += Tr::kRunLen) {
      int c[2][4][4];
#pragma unroll
      for (int mi = 0; mi < 2; ++mi)
#pragma unroll
        for (int ni = 0; ni < 4; ++ni)
#pragma unroll
          for (int e = 0; e < 4; ++e) c[mi][ni][e] = 0;
#pragma unroll
      for (int kk = kg; kk < kg + Tr::kRunLen; kk += 16) {
        uint32_t af[2][2], bf[4];
#pragma unroll
        for (int mi = 0; mi < 2; ++mi) {
          af[mi][0] = lds32(ws + (wm + 16 * mi + g) * kLds + kk + 4 * tig);
          af[mi][1] = lds32(ws + (wm + 16 * mi + g + 8) * kLds + kk + 4 * tig);
        }
#pragma unroll
        for (int ni = 0; ni < 4; ++ni) bf[ni] = lds32(xs + (wn + 8 * ni + g) * kLds + kk + 4 * tig);
#pragma unroll
        for (int mi = 0; mi < 2; ++mi)
#pragma unroll
          for (int ni = 0; ni < 4; ++ni) mma_s8(c[mi][ni], af[mi][0], af[mi][1], bf[ni]);
      }
#pragma unroll
      for (int mi = 0; mi < 2; ++mi)
#pragma unroll
        for (int ni = 0; ni < 4; ++ni)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int r = wm + 16 * mi + g + 8 * (e / 2), t = wn + 8 * ni + 2 * tig + (e % 2);
            acc[mi][ni][e] += sw[r][kg / 16] * dxs[t][kg / 32] * static_cast<float>(c[mi][ni][e]);
            if (Tr::kHasMin) acc[mi][ni][e] -= mw[r][kg / 32] * sxs[t][kg / 32];
          }
    }
    __syncthreads();
  }
  store_tile(acc, m0, n0, wm, wn, g, tig, w.rows, n, y, y_stride, accumulate);
}

// F16 weights and F16 activations, 64-element k-tiles.
__global__ void __launch_bounds__(128) gemm_f16_kernel(MatrixView w, Acts a, int n, float* y, int y_stride,
                                                       int accumulate) {
  constexpr int kBK = 64;  // halves: 128 bytes a row
  __shared__ __align__(16) uint8_t ws[kBM * kLds];
  __shared__ __align__(16) uint8_t xs[kBN * kLds];
  const int K = w.cols, m0 = blockIdx.x * kBM, n0 = blockIdx.y * kBN;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, tig = lane & 3;
  const int wm = (warp >> 1) * 32, wn = (warp & 1) * 32;
  float acc[2][4][4];
#pragma unroll
  for (int mi = 0; mi < 2; ++mi)
#pragma unroll
    for (int ni = 0; ni < 4; ++ni)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[mi][ni][e] = 0;
  const auto* wq = reinterpret_cast<const uint16_t*>(w.q);
  for (int k0 = 0; k0 < K; k0 += kBK) {
    for (int i = tid; i < kBM * 8; i += 128) {
      const int r = i / 8, c = i % 8, row = m0 + r, k = k0 + 8 * c;
      uint4 v = make_uint4(0, 0, 0, 0);
      if (row < w.rows && k < K) v = __ldg(reinterpret_cast<const uint4*>(wq + static_cast<size_t>(row) * K + k));
      *reinterpret_cast<uint4*>(ws + r * kLds + 16 * c) = v;
    }
    for (int i = tid; i < kBN * 8; i += 128) {
      const int nn = i / 8, c = i % 8, tok = n0 + nn, k = k0 + 8 * c;
      uint4 v = make_uint4(0, 0, 0, 0);
      if (tok < n && k < K) v = __ldg(reinterpret_cast<const uint4*>(a.h + static_cast<size_t>(tok) * K + k));
      *reinterpret_cast<uint4*>(xs + nn * kLds + 16 * c) = v;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kBK; kk += 16) {
      const int kb = 2 * kk;  // byte offset
      uint32_t af[2][4], bf[4][2];
#pragma unroll
      for (int mi = 0; mi < 2; ++mi) {
        const uint8_t* r0 = ws + (wm + 16 * mi + g) * kLds + kb + 4 * tig;
        const uint8_t* r8 = r0 + 8 * kLds;
        af[mi][0] = lds32(r0);
        af[mi][1] = lds32(r8);
        af[mi][2] = lds32(r0 + 16);
        af[mi][3] = lds32(r8 + 16);
      }
#pragma unroll
      for (int ni = 0; ni < 4; ++ni) {
        const uint8_t* c0 = xs + (wn + 8 * ni + g) * kLds + kb + 4 * tig;
        bf[ni][0] = lds32(c0);
        bf[ni][1] = lds32(c0 + 16);
      }
#pragma unroll
      for (int mi = 0; mi < 2; ++mi)
#pragma unroll
        for (int ni = 0; ni < 4; ++ni) mma_f16(acc[mi][ni], af[mi], bf[ni][0], bf[ni][1]);
    }
    __syncthreads();
  }
  store_tile(acc, m0, n0, wm, wn, g, tig, w.rows, n, y, y_stride, accumulate);
}

template <WType T>
void launch_q(const MatrixView& w, const Acts& a, int n, float* y, int y_stride, int acc, cudaStream_t s) {
  if (n <= kGemvMaxTokens) {
    const dim3 grid((w.rows + kGemvWarps - 1) / kGemvWarps);
    const int threads = 32 * kGemvWarps;
    if (n == 1) gemv_q_kernel<T, 1><<<grid, threads, 0, s>>>(w, a, n, y, y_stride, acc);
    else if (n == 2) gemv_q_kernel<T, 2><<<grid, threads, 0, s>>>(w, a, n, y, y_stride, acc);
    else if (n <= 4) gemv_q_kernel<T, 4><<<grid, threads, 0, s>>>(w, a, n, y, y_stride, acc);
    else gemv_q_kernel<T, 8><<<grid, threads, 0, s>>>(w, a, n, y, y_stride, acc);
    return;
  }
  const dim3 grid((w.rows + kBM - 1) / kBM, (n + kBN - 1) / kBN);
  gemm_q_kernel<T><<<grid, 128, 0, s>>>(w, a, n, y, y_stride, acc);
}

void launch_f16(const MatrixView& w, const Acts& a, int n, float* y, int y_stride, int acc, cudaStream_t s) {
  if (n <= kGemvMaxTokens) {
    const dim3 grid((w.rows + kGemvWarps - 1) / kGemvWarps);
    const int threads = 32 * kGemvWarps;
    if (n == 1) gemv_f16_kernel<1><<<grid, threads, 0, s>>>(w, a, n, y, y_stride, acc);
    else if (n == 2) gemv_f16_kernel<2><<<grid, threads, 0, s>>>(w, a, n, y, y_stride, acc);
    else if (n <= 4) gemv_f16_kernel<4><<<grid, threads, 0, s>>>(w, a, n, y, y_stride, acc);
    else gemv_f16_kernel<8><<<grid, threads, 0, s>>>(w, a, n, y, y_stride, acc);
    return;
  }
  const dim3 grid((w.rows + kBM - 1) / kBM, (n + kBN - 1) / kBN);
  gemm_f16_kernel<<<grid, 128, 0, s>>>(w, a, n, y, y_stride, acc);
}

}  // namespace

void matmul(const MatrixView& w, const Acts& a, int n, float* y, int y_stride, bool accumulate, StreamHandle stream) {
  if (n <= 0 || w.rows <= 0) return;
  const cudaStream_t s = as_stream(stream);
  const int acc = accumulate ? 1 : 0;
  switch (w.type) {
    case WType::kF16: launch_f16(w, a, n, y, y_stride, acc, s); break;
    case WType::kQ8_0: launch_q<WType::kQ8_0>(w, a, n, y, y_stride, acc, s); break;
    case WType::kQ4_0: launch_q<WType::kQ4_0>(w, a, n, y, y_stride, acc, s); break;
    case WType::kQ5_0: launch_q<WType::kQ5_0>(w, a, n, y, y_stride, acc, s); break;
    case WType::kQ4_K: launch_q<WType::kQ4_K>(w, a, n, y, y_stride, acc, s); break;
    case WType::kQ6_K: launch_q<WType::kQ6_K>(w, a, n, y, y_stride, acc, s); break;
  }
}

}  // namespace hangar::kernels::cuda
