// matmul: quantizes activations once, then splits weight rows across the pool's threads.
#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "base/assert.h"
#include "kernels/dispatch.h"
#include "kernels/row_pairs.h"

namespace hangar::kernels {
namespace detail {
namespace {

constexpr size_t kAlign = 64;

// A 64-byte aligned byte buffer that only grows.
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  AlignedBuffer(AlignedBuffer&& o) noexcept : p_(o.p_), size_(o.size_) {
    o.p_ = nullptr;
    o.size_ = 0;
  }
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(size_, o.size_);
    return *this;
  }
  ~AlignedBuffer() { std::free(p_); }

  // Returns at least n bytes; earlier contents are not kept when it grows.
  uint8_t* reserve(size_t n) {
    if (n > size_) {
      std::free(p_);
      size_ = (n + kAlign - 1) / kAlign * kAlign;
      p_ = static_cast<uint8_t*>(std::aligned_alloc(kAlign, size_));
      HANGAR_ASSERT_MSG(p_ != nullptr, "out of memory for matmul scratch");
    }
    return p_;
  }
  size_t size() const { return size_; }

 private:
  uint8_t* p_ = nullptr;
  size_t size_ = 0;
};

size_t round_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

}  // namespace

struct ScratchState {
  AlignedBuffer acts;
  AlignedBuffer sub;
  AlignedBuffer pair_acts;
  std::vector<AlignedBuffer> threads;
  std::vector<AlignedBuffer> unpaired;  // rows of a row-pairs matrix converted back, per thread
};

ScratchState& scratch_state(MatmulScratch& s) { return *s.state_; }

namespace {

// Lays out and fills the quantized activations of all tokens, and (when tk is given) the
// SubActs of the tiled kernel, in parallel over tokens for large batches.
QuantActs quantize_acts(const IsaTable& tab, bool want_lanes, bool k_quant, const float* x,
                        int64_t n_tokens, int64_t x_stride, int64_t cols, const TypeKernels* tk, ScratchState& st,
                        ThreadPool& pool, MatmulJob& job) {
  const size_t nt = static_cast<size_t>(n_tokens), k = static_cast<size_t>(cols);
  const size_t qs_bytes = round_up(nt * k), d_bytes = round_up(nt * (k / 32) * 4);
  const size_t s16_bytes = round_up(nt * (k / 16) * 2);
  const bool lanes = !tk && want_lanes && tab.lane_sums16 != nullptr;
  const size_t lanes_bytes = lanes ? round_up(nt * (k / 4) * 4) : 0;
  uint8_t* p = st.acts.reserve(qs_bytes + 2 * d_bytes + s16_bytes + lanes_bytes);
  QuantActs a;
  a.cols = cols;
  a.qs = reinterpret_cast<int8_t*>(p);
  a.d32 = reinterpret_cast<float*>(p + qs_bytes);
  a.s32 = reinterpret_cast<float*>(p + qs_bytes + d_bytes);
  a.s16 = reinterpret_cast<int16_t*>(p + qs_bytes + 2 * d_bytes);
  if (lanes) a.lanes16 = reinterpret_cast<int32_t*>(p + qs_bytes + 2 * d_bytes + s16_bytes);
  SubAct* sub = nullptr;
  const int64_t n_sub = tk ? cols / tk->sub : 0;
  if (tk) {
    sub = reinterpret_cast<SubAct*>(st.sub.reserve(static_cast<size_t>(n_tokens * n_sub) * sizeof(SubAct)));
    job.sub = sub;
    job.sub_stride = n_sub;
  }
  const QuantizeActsFn fn = k_quant ? tab.quantize_q8_k : tab.quantize_q8_32;
  auto run = [&](int64_t t0, int64_t t1, int) {
    for (int64_t t = t0; t < t1; ++t) {
      const float* d32 = a.d32 + t * (cols / 32);
      const int16_t* s16 = a.s16 + t * (cols / 16);
      const float* s32 = a.s32 + t * (cols / 32);
      fn(x + t * x_stride, cols, a.qs + t * cols, a.d32 + t * (cols / 32), a.s32 + t * (cols / 32),
         a.s16 + t * (cols / 16));
      if (lanes) tab.lane_sums16(a.qs + t * cols, cols, a.lanes16 + t * (cols / 4));
      if (!tk) continue;
      // Per-token, per-sub-block terms of the tiled integer kernel (see SubAct).
      const int per16 = tk->sub / 16;
      SubAct* out = sub + t * n_sub;
      auto isum = [&](int64_t j) {
        int v = 0;
        for (int i = 0; i < per16; ++i) v += s16[j * per16 + i];
        return v;
      };
      for (int64_t j = 0; j < n_sub; ++j) {
        out[j].d = d32[j * tk->sub / 32];
        if (tk->sub_pairs) {
          const int next = j + 1 < n_sub ? isum(j + 1) : 0;
          out[j].term = static_cast<int32_t>((static_cast<uint32_t>(isum(j)) & 0xFFFFu) | (static_cast<uint32_t>(next) << 16));
        } else if (tk->sub_min) {
          // Min terms take the activation sum as llama.cpp's Q8_1 / Q8_K carry it (s32).
          out[j].term = std::bit_cast<int32_t>(s32[j * tk->sub / 32]);
        } else {
          out[j].term = -tk->ibias_mul * isum(j);
        }
      }
    }
  };
  // Small batches are not worth waking the pool for.
  if (n_tokens * cols < 64 * 1024) {
    run(0, n_tokens, 0);
  } else {
    pool.parallel_for(n_tokens, std::max<int64_t>(1, 16 * 1024 / cols), run);
  }
  return a;
}

// matmul of a Q5_0 matrix in row pairs (row_pairs.h), its activations quantized in job.
void matmul_row_pairs(const IsaTable& tab, const TypeKernels& tk, bool tiled, MatmulJob& job, ThreadPool& pool,
                      ScratchState& st) {
  const Matrix& w = job.w;
  HANGAR_ASSERT(w.type == TensorType::kQ5_0 && w.row_bytes == static_cast<size_t>(w.cols / 32 * 22));
  const int nth = pool.size();
  if (!tiled && tk.gemv_pairs != nullptr) {
    HANGAR_ASSERT(job.acts.lanes16 != nullptr && job.n_tokens <= kPairsMaxTokens);
    const size_t nb = static_cast<size_t>(w.cols / 32) * static_cast<size_t>(job.n_tokens);
    uint8_t* p = st.pair_acts.reserve(nb * (64 + 64 + 8));
    auto* q2 = reinterpret_cast<int8_t*>(p);
    auto* start2 = reinterpret_cast<int32_t*>(p + 64 * nb);
    auto* d2 = reinterpret_cast<float*>(p + 128 * nb);
    for (int64_t t = 0; t < job.n_tokens; ++t) tab.pair_acts(job.acts, t, q2, start2, d2);
    job.pairs = PairActs{q2, start2, d2};
    // As the ggml-layout kernels: two contiguous chunks per thread, of whole pairs.
    const int64_t chunk = 2 * std::max<int64_t>(8, (w.rows / 2 + 2 * nth - 1) / (2 * nth));
    pool.parallel_for(w.rows, chunk, [&](int64_t r0, int64_t r1, int) { tk.gemv_pairs(job, r0, r1, nullptr); });
    return;
  }
  // Tiled batches and tables without the pairs kernel: each thread converts a few rows at a time back
  // to ggml layout (in L1/L2) and runs the usual kernel on them.
  const int64_t step = 64;  // a multiple of every gemm_rows, and even
  HANGAR_ASSERT(step % tk.gemm_rows == 0);
  if (st.unpaired.size() < static_cast<size_t>(nth)) st.unpaired.resize(static_cast<size_t>(nth));
  if (st.threads.size() < static_cast<size_t>(nth)) st.threads.resize(static_cast<size_t>(nth));
  std::vector<uint8_t*> rows_buf(static_cast<size_t>(nth)), gemm_buf(static_cast<size_t>(nth), nullptr);
  for (int i = 0; i < nth; ++i) {
    rows_buf[static_cast<size_t>(i)] = st.unpaired[static_cast<size_t>(i)].reserve(static_cast<size_t>(step) * w.row_bytes);
    if (tiled) gemm_buf[static_cast<size_t>(i)] = st.threads[static_cast<size_t>(i)].reserve(tk.buf_bytes(w.cols, job.n_tokens));
  }
  const auto* base = static_cast<const uint8_t*>(w.data);
  const int64_t n_steps = (w.rows + step - 1) / step;
  pool.parallel_for(n_steps, 1, [&](int64_t s0, int64_t s1, int ith) {
    uint8_t* rows = rows_buf[static_cast<size_t>(ith)];
    for (int64_t s = s0; s < s1; ++s) {
      const int64_t r0 = s * step, r1 = std::min(w.rows, r0 + step);
      unpair_rows_q5_0(base, w.rows, w.cols / 32, r0, r1, rows);
      MatmulJob part = job;
      part.w.data = rows;
      part.w.rows = r1 - r0;
      part.w.row_pairs = false;
      part.y = job.y + r0;
      if (tiled) tk.gemm(part, 0, r1 - r0, gemm_buf[static_cast<size_t>(ith)]);
      else tk.gemv(part, 0, r1 - r0, nullptr);
    }
  });
}

}  // namespace
}  // namespace detail

MatmulScratch::MatmulScratch() : state_(std::make_unique<detail::ScratchState>()) {}
MatmulScratch::~MatmulScratch() = default;
MatmulScratch::MatmulScratch(MatmulScratch&&) noexcept = default;
MatmulScratch& MatmulScratch::operator=(MatmulScratch&&) noexcept = default;

size_t MatmulScratch::capacity_bytes() const {
  size_t n = state_->acts.size() + state_->sub.size() + state_->pair_acts.size();
  for (const auto& b : state_->threads) n += b.size();
  for (const auto& b : state_->unpaired) n += b.size();
  return n;
}

void matmul(const Matrix& w, const float* x, int64_t n_tokens, int64_t x_stride, float* y,
            int64_t y_stride, ThreadPool& pool, MatmulScratch& scratch) {
  using namespace detail;
  const int kind = weight_kind(w.type);
  HANGAR_ASSERT_MSG(kind >= 0, "matmul: unsupported weight type");
  HANGAR_ASSERT(w.data != nullptr && w.rows >= 0 && w.cols > 0);
  HANGAR_ASSERT(static_cast<int64_t>(w.row_bytes) >= tensor_row_bytes(w.type, w.cols));
  HANGAR_ASSERT(n_tokens <= 1 || (x_stride >= w.cols && y_stride >= w.rows));
  if (n_tokens <= 0 || w.rows == 0) return;

  const IsaTable& tab = active_table();
  const TypeKernels& tk = tab.types[kind];
  ScratchState& st = scratch_state(scratch);
  MatmulJob job;
  job.w = w;
  job.n_tokens = n_tokens;
  job.x = x;
  job.x_stride = x_stride;
  job.y = y;
  job.y_stride = y_stride;
  // A row-pairs matrix has its own direct kernel up to kPairsMaxTokens (where the table has it).
  const bool tiled = tk.gemm != nullptr && (w.row_pairs && tk.gemv_pairs != nullptr
                                                ? n_tokens > kPairsMaxTokens
                                                : n_tokens >= gemm_min_tokens(tk, kind, w.rows));
  if (!is_float_kind(kind)) {
    // Only the lanes-order direct kernel reads lanes16 (Q4_0's repacked one does not).
    const bool want_lanes = tk.gemv_lanes && ggml_order(kind, w.rows) == GgmlOrder::kLanes;
    job.acts = quantize_acts(tab, want_lanes, is_k_quant(kind), x, n_tokens, x_stride, w.cols,
                             tiled ? &tk : nullptr, st, pool, job);
  }

  const int nth = pool.size();
  if (w.row_pairs) return matmul_row_pairs(tab, tk, tiled, job, pool, st);
  if (tiled) {
    // Each call takes several row groups, so that one chunk of activations (kept in L2 by the
    // kernel's loop order) serves many weight panels; four calls per thread balance the load.
    const int64_t n_groups_total = (w.rows + tk.gemm_rows - 1) / tk.gemm_rows;
    const int64_t groups_per_call = std::max<int64_t>(1, n_groups_total / (nth * 4));
    const int64_t group = tk.gemm_rows * groups_per_call;
    const int64_t n_groups = (w.rows + group - 1) / group;
    if (st.threads.size() < static_cast<size_t>(nth)) st.threads.resize(static_cast<size_t>(nth));
    std::vector<uint8_t*> bufs(static_cast<size_t>(nth));
    const size_t buf_bytes = tk.buf_bytes(w.cols, n_tokens);
    for (int i = 0; i < nth; ++i) bufs[static_cast<size_t>(i)] = st.threads[static_cast<size_t>(i)].reserve(buf_bytes);
    pool.parallel_for(n_groups, 1, [&](int64_t g0, int64_t g1, int ith) {
      tk.gemm(job, g0 * group, std::min(w.rows, g1 * group), bufs[static_cast<size_t>(ith)]);
    });
    return;
  }
  // Contiguous row chunks handed out dynamically, two per thread: each thread streams its own
  // long weight slice. Each chunk start costs a prefetch ramp, so many small chunks (16 per
  // thread before) cost qwen2-0.5b decode, whose matrices are small, 5% (A/B, 2 threads).
  const int64_t chunk = std::max<int64_t>(16, (w.rows + 2 * nth - 1) / (2 * nth));
  pool.parallel_for(w.rows, chunk, [&](int64_t r0, int64_t r1, int) { tk.gemv(job, r0, r1, nullptr); });
}

}  // namespace hangar::kernels
