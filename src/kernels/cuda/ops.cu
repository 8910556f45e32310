// Element-wise and per-row kernels of the CUDA backend: embedding, RMS norm, activation
// quantization, SwiGLU, and the q/k/v post-processing (bias, QK-norm, RoPE, KV cache write).
//
// Where the CPU backend's numerics are cheap to follow they are followed exactly: RMS norm sums
// float squares in double; activations are quantized as kernels::matmul quantizes them (the
// 32-block scale from 127 / amax, kept as F16; Q8_K's signed maximum), so the integer dot
// products see the same codes; RoPE is one fused multiply-add of a rounded product per output.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/ops.h"

namespace hangar::kernels::cuda {
namespace {

constexpr int kRowThreads = 256;

// ---- activation formats ----

// One warp per 32-block: as kernels::ref::quantize_acts_q8_32.
__device__ void quantize_q8_32(const float* y, int K, int8_t* q, float* d, float* s) {
  const int lane = threadIdx.x & 31, nw = blockDim.x >> 5;
  for (int b = threadIdx.x >> 5; b < K / 32; b += nw) {
    const float x = y[32 * b + lane];
    const float amax = warp_max(fabsf(x));
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    int qi = __float2int_rn(__fmul_rn(x, id));
    qi = min(127, max(-127, qi));
    q[32 * b + lane] = static_cast<int8_t>(qi);
    const int sum = warp_sum(qi);
    if (lane == 0) {
      const float dd = amax / 127.0f;
      d[b] = __half2float(__float2half_rn(dd));
      s[b] = __half2float(__float2half_rn(__fmul_rn(dd, static_cast<float>(sum))));
    }
  }
}

// One warp per 256-block, 8 consecutive elements a lane: as kernels::ref::quantize_row_q8_k
// (the scale from the first element of largest magnitude, with its sign).
__device__ void quantize_q8_k(const float* y, int K, int8_t* q, float* d, float* s) {
  const int lane = threadIdx.x & 31, nw = blockDim.x >> 5;
  for (int sb = threadIdx.x >> 5; sb < K / 256; sb += nw) {
    const float* x = y + 256 * sb + 8 * lane;
    float v[8];
#pragma unroll
    for (int j = 0; j < 8; ++j) v[j] = x[j];
    float amax = 0, mx = 0;
    int idx = 1 << 30;
#pragma unroll
    for (int j = 0; j < 8; ++j)
      if (fabsf(v[j]) > amax) amax = fabsf(v[j]), mx = v[j], idx = 8 * lane + j;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      const float oa = __shfl_xor_sync(0xffffffffu, amax, o), om = __shfl_xor_sync(0xffffffffu, mx, o);
      const int oi = __shfl_xor_sync(0xffffffffu, idx, o);
      if (oa > amax || (oa == amax && oi < idx)) amax = oa, mx = om, idx = oi;
    }
    int8_t* qo = q + 256 * sb + 8 * lane;
    if (amax == 0.0f) {
#pragma unroll
      for (int j = 0; j < 8; ++j) qo[j] = 0;
      if (lane < 8) d[8 * sb + lane] = 0, s[8 * sb + lane] = 0;
      continue;
    }
    const float iscale = -127.0f / mx;
    int sum = 0;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const int qi = min(127, __float2int_rn(__fmul_rn(iscale, v[j])));
      qo[j] = static_cast<int8_t>(qi);
      sum += qi;
    }
    // The 32-block of lanes 4i .. 4i + 3.
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    sum += __shfl_xor_sync(0xffffffffu, sum, 2);
    const float dd = 1.0f / iscale;
    if ((lane & 3) == 0) {
      d[8 * sb + lane / 4] = dd;
      s[8 * sb + lane / 4] = __fmul_rn(dd, static_cast<float>(sum));
    }
  }
}

// Converts row i (y, K floats, written by this block before a barrier) into `a`.
__device__ void convert_row(const float* y, int K, ActFormat f, const Acts& a, int i) {
  const size_t qoff = static_cast<size_t>(i) * K, doff = static_cast<size_t>(i) * (K / 32);
  switch (f) {
    case ActFormat::kQ8_32: quantize_q8_32(y, K, a.q + qoff, a.d + doff, a.s + doff); break;
    case ActFormat::kQ8_K: quantize_q8_k(y, K, a.q + qoff, a.d + doff, a.s + doff); break;
    case ActFormat::kF16:
      for (int k = threadIdx.x; k < K; k += blockDim.x) a.h[qoff + k] = f2h_bits(y[k]);
      break;
    case ActFormat::kF32: break;
  }
}

__global__ void rms_norm_act_kernel(const float* x, const int32_t* gather, int K, const float* w, float eps,
                                    float* xb, ActFormat f, Acts a) {
  __shared__ double red[32];
  const int i = blockIdx.x;
  const int row = gather ? gather[i] : i;
  const float* xr = x + static_cast<size_t>(row) * K;
  float* yr = xb + static_cast<size_t>(i) * K;
  double ss = 0;
  for (int k = threadIdx.x; k < K; k += blockDim.x) {
    const float v = xr[k];
    ss += static_cast<double>(__fmul_rn(v, v));
  }
  ss = block_sum(ss, red);
  const float mean = static_cast<float>(ss / static_cast<double>(K));
  const float sc = 1.0f / sqrtf(__fadd_rn(mean, eps));
  for (int k = threadIdx.x; k < K; k += blockDim.x) yr[k] = __fmul_rn(__fmul_rn(xr[k], sc), w[k]);
  __syncthreads();
  convert_row(yr, K, f, a, i);
}

__global__ void convert_act_kernel(const float* x, int K, ActFormat f, Acts a) {
  convert_row(x + static_cast<size_t>(blockIdx.x) * K, K, f, a, blockIdx.x);
}

__global__ void swiglu_act_kernel(const float* gu, int ff, float* out, ActFormat f, Acts a) {
  const int i = blockIdx.x;
  const float* g = gu + static_cast<size_t>(i) * 2 * ff;
  float* o = out + static_cast<size_t>(i) * ff;
  for (int j = threadIdx.x; j < ff; j += blockDim.x) {
    const float gv = g[j];
    o[j] = __fmul_rn(__fdiv_rn(gv, __fadd_rn(1.0f, expf(-gv))), g[ff + j]);
  }
  __syncthreads();
  convert_row(o, ff, f, a, i);
}

// ---- embedding ----

template <WType T>
__global__ void embed_kernel(MatrixView m, const int32_t* tokens, float* x) {
  using Tr = Traits<T>;
  const int i = blockIdx.x, K = m.cols;
  const int64_t row = tokens[i];
  float* xr = x + static_cast<size_t>(i) * K;
  for (int u = threadIdx.x; u < K / Tr::kUnitElems; u += blockDim.x) {
    Unit un;
    Tr::decode(m, row, u, un);
#pragma unroll
    for (int r = 0; r < Tr::kRuns; ++r) {
      const int start = Tr::run_start(u, r);
#pragma unroll
      for (int e = 0; e < Tr::kRunLen; ++e)
        xr[start + e] = __fsub_rn(__fmul_rn(un.scale[r], static_cast<float>(unit_code(un, Tr::kRunLen, r, e))), un.min[r]);
    }
  }
}

__global__ void embed_f16_kernel(MatrixView m, const int32_t* tokens, float* x) {
  const int i = blockIdx.x, K = m.cols;
  const auto* src = reinterpret_cast<const __half*>(m.q) + static_cast<size_t>(tokens[i]) * K;
  float* xr = x + static_cast<size_t>(i) * K;
  for (int k = threadIdx.x; k < K; k += blockDim.x) xr[k] = __half2float(src[k]);
}

// ---- q/k/v post-processing ----

__global__ void qkv_post_kernel(QkvPost p, BatchView b, KvLayer kv) {
  const int i = blockIdx.x, hd = p.head_dim;
  const int qd = p.n_head * hd, kvd = p.n_head_kv * hd, width = qd + 2 * kvd;
  float* row = p.qkv + static_cast<size_t>(i) * width;
  if (p.bias) {
    for (int k = threadIdx.x; k < width; k += blockDim.x) row[k] = __fadd_rn(row[k], p.bias[k]);
    __syncthreads();
  }
  if (p.q_norm) {
    // One warp per head (q heads, then k heads): as kernels::rms_norm over head_dim values.
    const int lane = threadIdx.x & 31, nw = blockDim.x >> 5;
    for (int h = threadIdx.x >> 5; h < p.n_head + p.n_head_kv; h += nw) {
      float* v = row + (h < p.n_head ? h * hd : qd + (h - p.n_head) * hd);
      const float* w = h < p.n_head ? p.q_norm : p.k_norm;
      double ss = 0;
      for (int d = lane; d < hd; d += 32) ss += static_cast<double>(__fmul_rn(v[d], v[d]));
      ss = warp_sum(ss);
      const float sc = 1.0f / sqrtf(__fadd_rn(static_cast<float>(ss / static_cast<double>(hd)), p.eps));
      for (int d = lane; d < hd; d += 32) v[d] = __fmul_rn(__fmul_rn(v[d], sc), w[d]);
    }
    __syncthreads();
  }
  const int pos = b.pos[i], half = p.n_rot / 2;
  const float* cs = p.rope + static_cast<size_t>(pos) * half * 2;
  for (int idx = threadIdx.x; idx < (p.n_head + p.n_head_kv) * half; idx += blockDim.x) {
    const int h = idx / half, j = idx % half;
    float* v = row + (h < p.n_head ? h * hd : qd + (h - p.n_head) * hd);
    const int i0 = p.neox ? j : 2 * j, i1 = p.neox ? j + half : 2 * j + 1;
    const float c = cs[2 * j], s = cs[2 * j + 1], x0 = v[i0], x1 = v[i1];
    v[i0] = __fmaf_rn(x0, c, -__fmul_rn(x1, s));
    v[i1] = __fmaf_rn(x0, s, __fmul_rn(x1, c));  // as kernels::rope (and llama.cpp's build) round it
  }
  __syncthreads();
  const int bt = kv.block_tokens;
  const int blk = b.blocks[static_cast<size_t>(i) * b.blocks_stride + pos / bt];
  const size_t off = (static_cast<size_t>(blk) * bt + pos % bt) * kvd;
  for (int k = threadIdx.x; k < kvd; k += blockDim.x) {
    kv.k[off + k] = f2h_bits(row[qd + k]);
    kv.v[off + k] = f2h_bits(row[qd + kvd + k]);
  }
}

}  // namespace

ActFormat act_format(WType t, int n_tokens) {
  switch (t) {
    case WType::kF16: return n_tokens <= kGemvMaxTokens ? ActFormat::kF32 : ActFormat::kF16;
    case WType::kQ8_0:
    case WType::kQ4_0:
    case WType::kQ5_0: return ActFormat::kQ8_32;
    case WType::kQ4_K:
    case WType::kQ6_K: return ActFormat::kQ8_K;
  }
  return ActFormat::kF32;
}

void embed(const MatrixView& emb, const int32_t* tokens, int n, float* x, StreamHandle stream) {
  if (n <= 0) return;
  const cudaStream_t s = as_stream(stream);
  switch (emb.type) {
    case WType::kF16: embed_f16_kernel<<<n, kRowThreads, 0, s>>>(emb, tokens, x); break;
    case WType::kQ8_0: embed_kernel<WType::kQ8_0><<<n, 64, 0, s>>>(emb, tokens, x); break;
    case WType::kQ4_0: embed_kernel<WType::kQ4_0><<<n, 64, 0, s>>>(emb, tokens, x); break;
    case WType::kQ5_0: embed_kernel<WType::kQ5_0><<<n, 64, 0, s>>>(emb, tokens, x); break;
    case WType::kQ4_K: embed_kernel<WType::kQ4_K><<<n, 64, 0, s>>>(emb, tokens, x); break;
    case WType::kQ6_K: embed_kernel<WType::kQ6_K><<<n, 64, 0, s>>>(emb, tokens, x); break;
  }
}

void rms_norm_act(const float* x, const int32_t* gather, int n, int K, const float* w, float eps, float* xb,
                  ActFormat f, const Acts& a, StreamHandle stream) {
  if (n <= 0) return;
  rms_norm_act_kernel<<<n, kRowThreads, 0, as_stream(stream)>>>(x, gather, K, w, eps, xb, f, a);
}

void convert_act(const float* x, int n, int K, ActFormat f, const Acts& a, StreamHandle stream) {
  if (n <= 0 || f == ActFormat::kF32) return;
  convert_act_kernel<<<n, kRowThreads, 0, as_stream(stream)>>>(x, K, f, a);
}

void swiglu_act(const float* gu, int n, int ff, float* out, ActFormat f, const Acts& a, StreamHandle stream) {
  if (n <= 0) return;
  swiglu_act_kernel<<<n, kRowThreads, 0, as_stream(stream)>>>(gu, ff, out, f, a);
}

void qkv_post(const QkvPost& p, const BatchView& b, const KvLayer& kv, StreamHandle stream) {
  if (b.n <= 0) return;
  qkv_post_kernel<<<b.n, 128, 0, as_stream(stream)>>>(p, b, kv);
}

}  // namespace hangar::kernels::cuda
