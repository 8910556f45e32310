// Attention over the paged F16 KV cache: one block per (kv head, token, split) computes the
// query heads that share the kv head over its part of the positions (flash decoding), with an
// online softmax over chunks of 128 positions; a second kernel combines the parts.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/ops.h"

namespace hangar::kernels::cuda {
namespace {

constexpr int kThreads = 128;  // also the positions of one chunk
constexpr int kMaxGroup = 16;  // query heads per kv head
constexpr int kMaxPairs = 16;  // (head, dimension pair) outputs per thread: kMaxGroup * 256 / 2 / kThreads

// Shared memory: row offsets[kThreads], then floats q[group][hd], p[group][kThreads],
// m/l/alpha[group].
size_t smem_bytes(int group, int hd) {
  return sizeof(int64_t) * kThreads +
         sizeof(float) * (static_cast<size_t>(group) * hd + static_cast<size_t>(group) * kThreads + 3 * group);
}

__global__ void __launch_bounds__(kThreads) attention_kernel(AttentionArgs a, BatchView b, KvLayer kv) {
  extern __shared__ int64_t smem[];
  const int hd = a.head_dim, group = a.n_head / a.n_head_kv;
  int64_t* off_s = smem;                                    // [kThreads]
  float* q_s = reinterpret_cast<float*>(off_s + kThreads);  // [group][hd]
  float* p_s = q_s + group * hd;                            // [group][kThreads]
  float* m_s = p_s + group * kThreads;                      // [group]
  float* l_s = m_s + group;
  float* alpha_s = l_s + group;
  const int kvh = blockIdx.x, t = blockIdx.y, split = blockIdx.z, tid = threadIdx.x;
  const int n_pos = b.pos[t] + 1;
  const int len = (n_pos + a.n_splits - 1) / a.n_splits;
  const int begin = split * len, end = min(n_pos, begin + len);
  const float* q = a.q + static_cast<size_t>(t) * a.q_stride + static_cast<size_t>(kvh) * group * hd;
  for (int i = tid; i < group * hd; i += kThreads) q_s[i] = q[i];
  if (tid < group) m_s[tid] = -INFINITY, l_s[tid] = 0;
  const int pairs = group * hd / 2;  // (head, dimension pair) outputs, spread over the threads
  float2 acc[kMaxPairs];
#pragma unroll
  for (int j = 0; j < kMaxPairs; ++j) acc[j] = make_float2(0, 0);
  const int bt = kv.block_tokens, kvd = kv.kv_dim;
  const int32_t* blocks = b.blocks + static_cast<size_t>(t) * b.blocks_stride;
  const int64_t head_off = static_cast<int64_t>(kvh) * hd;
  __syncthreads();
  for (int c0 = begin; c0 < end; c0 += kThreads) {
    const int n = min(kThreads, end - c0);
    // Scores: one position per thread, every query head of the group.
    float sc[kMaxGroup];
#pragma unroll
    for (int g = 0; g < kMaxGroup; ++g) sc[g] = 0;
    if (tid < n) {
      const int p = c0 + tid;
      const int64_t off = (static_cast<int64_t>(blocks[p / bt]) * bt + p % bt) * kvd + head_off;
      off_s[tid] = off;
      if (hd % 8 == 0 && kvd % 8 == 0) {  // 16-byte loads
        const uint4* krow = reinterpret_cast<const uint4*>(kv.k + off);
        for (int d8 = 0; d8 < hd / 8; ++d8) {
          const uint4 raw = krow[d8];
          const __half2* h2 = reinterpret_cast<const __half2*>(&raw);
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const float2 k = __half22float2(h2[e]);
            const int d = 8 * d8 + 2 * e;
#pragma unroll
            for (int g = 0; g < kMaxGroup; ++g)
              if (g < group) sc[g] += q_s[g * hd + d] * k.x + q_s[g * hd + d + 1] * k.y;
          }
        }
      } else {  // head_dim is even (checked by the backend)
        const __half2* krow = reinterpret_cast<const __half2*>(kv.k + off);
        for (int d2 = 0; d2 < hd / 2; ++d2) {
          const float2 k = __half22float2(krow[d2]);
#pragma unroll
          for (int g = 0; g < kMaxGroup; ++g)
            if (g < group) sc[g] += q_s[g * hd + 2 * d2] * k.x + q_s[g * hd + 2 * d2 + 1] * k.y;
        }
      }
    }
#pragma unroll
    for (int g = 0; g < kMaxGroup; ++g)
      if (g < group) p_s[g * kThreads + tid] = tid < n ? sc[g] * a.scale : -INFINITY;
    __syncthreads();
    // Online softmax: one warp per head.
    const int lane = tid & 31;
    for (int g = tid >> 5; g < group; g += kThreads / 32) {
      float* pg = p_s + g * kThreads;
      float mx = -INFINITY;
      for (int j = lane; j < kThreads; j += 32) mx = fmaxf(mx, pg[j]);
      mx = warp_max(mx);
      const float m_old = m_s[g], m_new = fmaxf(m_old, mx);
      float sum = 0;
      for (int j = lane; j < kThreads; j += 32) {
        const float e = j < n ? expf(pg[j] - m_new) : 0.0f;
        pg[j] = e;
        sum += e;
      }
      sum = warp_sum(sum);
      if (lane == 0) {
        const float alpha = expf(m_old - m_new);  // 0 for the first chunk (m_old = -inf)
        alpha_s[g] = alpha;
        l_s[g] = l_s[g] * alpha + sum;
        m_s[g] = m_new;
      }
    }
    __syncthreads();
    // Weighted values: thread owns outputs (head, dimension pair) tid, tid + kThreads, ...
#pragma unroll
    for (int j = 0; j < kMaxPairs; ++j) {
      const int idx = tid + j * kThreads;
      if (idx < pairs) {
        const float al = alpha_s[idx / (hd / 2)];
        acc[j].x *= al;
        acc[j].y *= al;
      }
    }
    for (int p = 0; p < n; ++p) {
      const __half2* vrow = reinterpret_cast<const __half2*>(kv.v + off_s[p]);
#pragma unroll
      for (int j = 0; j < kMaxPairs; ++j) {
        const int idx = tid + j * kThreads;
        if (idx < pairs) {
          const int g = idx / (hd / 2), d2 = idx % (hd / 2);
          const float w = p_s[g * kThreads + p];
          const float2 v = __half22float2(vrow[d2]);
          acc[j].x += w * v.x;
          acc[j].y += w * v.y;
        }
      }
    }
    __syncthreads();
  }
  // This split's unnormalised outputs and (max, sum) per head.
  const int h0 = kvh * group;
  float* part = a.part;
  const size_t n_tok = b.n, ns = a.n_splits;
  float* ml = part + n_tok * a.n_head * ns * hd;  // [t][h][split][2] after the outputs
#pragma unroll
  for (int j = 0; j < kMaxPairs; ++j) {
    const int idx = tid + j * kThreads;
    if (idx < pairs) {
      const int g = idx / (hd / 2), d2 = idx % (hd / 2);
      float* o = part + ((static_cast<size_t>(t) * a.n_head + h0 + g) * ns + split) * hd;
      o[2 * d2] = acc[j].x;
      o[2 * d2 + 1] = acc[j].y;
    }
  }
  if (tid < group) {
    float* o = ml + ((static_cast<size_t>(t) * a.n_head + h0 + tid) * ns + split) * 2;
    o[0] = m_s[tid];
    o[1] = l_s[tid];
  }
}

// One block per (head, token): out = sum_s e^(m_s - M) o_s / sum_s e^(m_s - M) l_s.
__global__ void combine_kernel(AttentionArgs a, int n_tok) {
  const int h = blockIdx.x, t = blockIdx.y, hd = a.head_dim, ns = a.n_splits;
  const float* o = a.part + (static_cast<size_t>(t) * a.n_head + h) * ns * hd;
  const float* ml = a.part + static_cast<size_t>(n_tok) * a.n_head * ns * hd +
                    (static_cast<size_t>(t) * a.n_head + h) * ns * 2;
  float mx = -INFINITY;
  for (int s = 0; s < ns; ++s) mx = fmaxf(mx, ml[2 * s]);
  float den = 0;
  for (int s = 0; s < ns; ++s) den += ml[2 * s] == -INFINITY ? 0.0f : expf(ml[2 * s] - mx) * ml[2 * s + 1];
  const float inv = den > 0 ? 1.0f / den : 0.0f;
  float* out = a.out + static_cast<size_t>(t) * a.n_head * hd + static_cast<size_t>(h) * hd;
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float num = 0;
    for (int s = 0; s < ns; ++s)
      if (ml[2 * s] != -INFINITY) num += expf(ml[2 * s] - mx) * o[static_cast<size_t>(s) * hd + d];
    out[d] = num * inv;
  }
}

}  // namespace

size_t attention_part_floats(int n, int n_head, int head_dim, int n_splits) {
  return static_cast<size_t>(n) * n_head * n_splits * (head_dim + 2);
}

bool attention_supported(int n_head, int n_head_kv, int head_dim) {
  return n_head_kv > 0 && n_head % n_head_kv == 0 && n_head / n_head_kv <= kMaxGroup && head_dim % 2 == 0 &&
         head_dim <= 256 && smem_bytes(n_head / n_head_kv, head_dim) <= 48 * 1024;
}

void attention(const AttentionArgs& a, const BatchView& b, const KvLayer& kv, StreamHandle stream) {
  if (b.n <= 0) return;
  const cudaStream_t s = as_stream(stream);
  const int group = a.n_head / a.n_head_kv;
  const size_t smem = smem_bytes(group, a.head_dim);
  static_assert(kMaxPairs * kThreads * 2 >= kMaxGroup * 256, "outputs per thread");
  attention_kernel<<<dim3(a.n_head_kv, b.n, a.n_splits), kThreads, smem, s>>>(a, b, kv);
  combine_kernel<<<dim3(a.n_head, b.n), 64, 0, s>>>(a, b.n);
}

}  // namespace hangar::kernels::cuda
