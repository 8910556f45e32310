// Building the CUDA backend's weight block: plan the layout, fill it on the host, copy it over.
#include "model/cuda_weights.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <set>

#include "kernels/kernels.h"

namespace hangar::model {
namespace {

constexpr size_t kAlign = 256;
size_t align_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// One device matrix: ggml matrices of the same kernel type and width stacked by rows.
struct MatrixPlan {
  std::vector<const Matrix*> parts;
  kc::WType type = kc::WType::kF16;
  bool convert = false;  // dequantize the file's type to F16
  int64_t rows = 0, cols = 0;
  size_t q = 0, d = 0, h = 0;  // offsets in the block
  kc::MatrixView* out = nullptr;
};

struct VectorPlan {
  const float* src = nullptr;
  size_t n = 0, off = 0;
  const float** out = nullptr;
};

class Planner {
 public:
  size_t size() const { return size_; }
  size_t take(size_t bytes) {
    const size_t at = size_;
    size_ = align_up(size_ + bytes);
    return at;
  }
  // The kernels' type for a ggml type, or F16 when it must be converted.
  static kc::WType kernel_type(TensorType t, bool* convert) {
    const int wt = kc::wtype_for_ggml(static_cast<uint32_t>(t));
    *convert = wt < 0;
    return wt < 0 ? kc::WType::kF16 : static_cast<kc::WType>(wt);
  }
  Status matrix(std::vector<const Matrix*> parts, kc::MatrixView* out, std::set<std::string>* converted) {
    MatrixPlan p;
    p.type = kernel_type(parts[0]->type, &p.convert);
    p.cols = parts[0]->cols;
    for (const Matrix* m : parts) p.rows += m->rows;
    if (p.convert) converted->insert(tensor_type_name(parts[0]->type));
    if (p.cols % 8 != 0 || (p.type != kc::WType::kF16 && p.cols % 32 != 0))
      return Error("a matrix of " + std::to_string(p.cols) + " columns of type " + tensor_type_name(parts[0]->type) +
                   ": the CUDA kernels need a multiple of 8 (32 for quantized types)");
    const kc::LayoutSizes s = kc::layout_sizes(p.type, p.rows, p.cols);
    p.q = take(s.q);
    p.d = take(s.d);
    p.h = take(s.h);
    p.parts = std::move(parts);
    p.out = out;
    matrices_.push_back(std::move(p));
    return Status::Ok();
  }
  void vector(const std::vector<float>& v, const float** out) {
    if (v.empty()) return;
    vectors_.push_back({v.data(), v.size(), take(v.size() * sizeof(float)), out});
  }
  void floats(const float* src, size_t n, const float** out) { vectors_.push_back({src, n, take(n * sizeof(float)), out}); }

  // Fills `host` (size() bytes) and points the views at `device`.
  void fill(uint8_t* host, uint8_t* device, ThreadPool& pool) const {
    for (const MatrixPlan& p : matrices_) {
      const kc::LayoutSizes row = kc::layout_sizes(p.type, 1, p.cols);
      int64_t r_base = 0;
      for (const Matrix* m : p.parts) {
        uint8_t* q = host + p.q + r_base * row.q;
        auto* d = reinterpret_cast<uint16_t*>(host + p.d + r_base * row.d);
        auto* h = reinterpret_cast<uint32_t*>(host + p.h + r_base * row.h);
        const auto* src = static_cast<const uint8_t*>(m->data);
        pool.parallel_for(m->rows, 64, [&](int64_t r0, int64_t r1, int) {
          if (!p.convert) {
            kc::relayout_rows(p.type, src, m->row_bytes, p.cols, r0, r1, q, d, h);
            return;
          }
          std::vector<float> tmp(static_cast<size_t>(p.cols));
          for (int64_t r = r0; r < r1; ++r) {
            kernels::dequantize_row(m->type, src + static_cast<size_t>(r) * m->row_bytes, tmp.data(), p.cols);
            kernels::f32_to_f16_row(tmp.data(), reinterpret_cast<uint16_t*>(q + static_cast<size_t>(r) * row.q), p.cols);
          }
        });
        r_base += m->rows;
      }
      kc::MatrixView v;
      v.type = p.type;
      v.rows = static_cast<int32_t>(p.rows);
      v.cols = static_cast<int32_t>(p.cols);
      v.q = device + p.q;
      v.d = reinterpret_cast<const uint16_t*>(device + p.d);
      v.h = reinterpret_cast<const uint32_t*>(device + p.h);
      *p.out = v;
    }
    for (const VectorPlan& v : vectors_) {
      std::memcpy(host + v.off, v.src, v.n * sizeof(float));
      *v.out = reinterpret_cast<const float*>(device + v.off);
    }
  }

 private:
  size_t size_ = 0;
  std::vector<MatrixPlan> matrices_;
  std::vector<VectorPlan> vectors_;
};

bool same_kernel_type(const std::vector<const Matrix*>& ms) {
  bool c;
  const kc::WType t = Planner::kernel_type(ms[0]->type, &c);
  for (const Matrix* m : ms)
    if (Planner::kernel_type(m->type, &c) != t || m->cols != ms[0]->cols) return false;
  return true;
}

// Rotary cos/sin per position, by the CPU backend's float recurrence (forward.cc).
std::vector<float> rope_table(const HParams& hp, const std::vector<float>& freq_factors, int32_t n_pos) {
  const int32_t half = hp.n_rot / 2;
  std::vector<float> t(static_cast<size_t>(n_pos) * half * 2);
  const float theta_scale = std::pow(hp.rope_base, -2.0f / static_cast<float>(hp.n_rot));
  for (int32_t p = 0; p < n_pos; ++p) {
    float theta = static_cast<float>(p);
    for (int32_t j = 0; j < half; ++j) {
      const float ff = freq_factors.empty() ? 1.0f : freq_factors[j];
      const float angle = hp.rope_freq_scale * (theta / ff);
      t[(static_cast<size_t>(p) * half + j) * 2] = std::cos(angle);
      t[(static_cast<size_t>(p) * half + j) * 2 + 1] = std::sin(angle);
      theta *= theta_scale;
    }
  }
  return t;
}

template <typename T>
void rebase(const T*& p, const uint8_t* old_base, const uint8_t* new_base) {
  if (p) p = reinterpret_cast<const T*>(new_base + (reinterpret_cast<const uint8_t*>(p) - old_base));
}
void rebase(kc::MatrixView& m, const uint8_t* old_base, const uint8_t* new_base) {
  rebase(m.q, old_base, new_base);
  rebase(m.d, old_base, new_base);
  rebase(m.h, old_base, new_base);
}

}  // namespace

void rebase_weights(CudaWeights& w, const uint8_t* o, const uint8_t* n) {
  rebase(w.token_embd, o, n);
  rebase(w.output, o, n);
  rebase(w.output_norm, o, n);
  rebase(w.rope, o, n);
  for (CudaLayer& l : w.layers) {
    for (const float** p : {&l.attn_norm, &l.ffn_norm, &l.qkv_bias, &l.q_norm, &l.k_norm}) rebase(*p, o, n);
    for (kc::MatrixView& m : l.qkv) rebase(m, o, n);
    for (kc::MatrixView& m : l.gate_up) rebase(m, o, n);
    rebase(l.wo, o, n);
    rebase(l.down, o, n);
  }
}

Result<StagedWeights> stage_weights(const Model& model, int32_t rope_positions, ThreadPool& pool) {
  const Weights& w = model.weights();
  const HParams& hp = model.hparams();
  CudaWeights cw;
  Planner plan;
  std::set<std::string> converted;
  cw.layers.resize(w.layers.size());
  HANGAR_TRY(plan.matrix({&w.token_embd}, &cw.token_embd, &converted));
  const bool tied = w.output.data == w.token_embd.data;
  if (!tied) HANGAR_TRY(plan.matrix({&w.output}, &cw.output, &converted));
  plan.vector(w.output_norm, &cw.output_norm);
  // Biases of q, k and v side by side, as the fused projection's output row.
  std::vector<std::vector<float>> biases(w.layers.size());
  for (size_t il = 0; il < w.layers.size(); ++il) {
    const LayerWeights& l = w.layers[il];
    CudaLayer& cl = cw.layers[il];
    std::vector<const Matrix*> qkv = {&l.wq, &l.wk, &l.wv};
    if (same_kernel_type(qkv)) {
      cl.qkv.resize(1);
      HANGAR_TRY(plan.matrix(qkv, &cl.qkv[0], &converted));
    } else {
      cl.qkv.resize(3);
      for (int i = 0; i < 3; ++i) HANGAR_TRY(plan.matrix({qkv[i]}, &cl.qkv[i], &converted));
    }
    HANGAR_TRY(plan.matrix({&l.wo}, &cl.wo, &converted));
    std::vector<const Matrix*> gu = {&l.w_gate, &l.w_up};
    if (same_kernel_type(gu)) {
      cl.gate_up.resize(1);
      HANGAR_TRY(plan.matrix(gu, &cl.gate_up[0], &converted));
    } else {
      cl.gate_up.resize(2);
      for (int i = 0; i < 2; ++i) HANGAR_TRY(plan.matrix({gu[i]}, &cl.gate_up[i], &converted));
    }
    HANGAR_TRY(plan.matrix({&l.w_down}, &cl.down, &converted));
    plan.vector(l.attn_norm, &cl.attn_norm);
    plan.vector(l.ffn_norm, &cl.ffn_norm);
    if (!l.bq.empty()) {
      biases[il] = l.bq;
      biases[il].insert(biases[il].end(), l.bk.begin(), l.bk.end());
      biases[il].insert(biases[il].end(), l.bv.begin(), l.bv.end());
      plan.vector(biases[il], &cl.qkv_bias);
    }
    plan.vector(l.q_norm, &cl.q_norm);
    plan.vector(l.k_norm, &cl.k_norm);
  }
  const std::vector<float> rope = rope_table(hp, w.rope_freq_factors, rope_positions);
  plan.vector(rope, &cw.rope);
  cw.rope_positions = rope_positions;

  StagedWeights staged;
  staged.data.reset(new uint8_t[std::max<size_t>(plan.size(), 1)]);
  plan.fill(staged.data.get(), staged.data.get(), pool);
  if (tied) cw.output = cw.token_embd;
  cw.bytes = plan.size();
  cw.converted_types.assign(converted.begin(), converted.end());
  staged.weights = std::move(cw);
  return staged;
}

namespace {
template <kc::WType T>
void decode_row(const kc::MatrixView& m, int64_t row, float* out) {
  using Tr = kc::Traits<T>;
  for (int u = 0; u < m.cols / Tr::kUnitElems; ++u) {
    kc::Unit un;
    Tr::decode(m, row, u, un);
    for (int r = 0; r < Tr::kRuns; ++r)
      for (int e = 0; e < Tr::kRunLen; ++e)
        out[Tr::run_start(u, r) + e] =
            un.scale[r] * static_cast<float>(kc::unit_code(un, Tr::kRunLen, r, e)) - un.min[r];
  }
}
}  // namespace

void dequantize_view_row(const kc::MatrixView& m, int64_t row, float* out) {
  switch (m.type) {
    case kc::WType::kF16:
      kernels::f16_to_f32_row(reinterpret_cast<const uint16_t*>(m.q) + static_cast<size_t>(row) * m.cols, out, m.cols);
      return;
    case kc::WType::kQ8_0: return decode_row<kc::WType::kQ8_0>(m, row, out);
    case kc::WType::kQ4_0: return decode_row<kc::WType::kQ4_0>(m, row, out);
    case kc::WType::kQ5_0: return decode_row<kc::WType::kQ5_0>(m, row, out);
    case kc::WType::kQ4_K: return decode_row<kc::WType::kQ4_K>(m, row, out);
    case kc::WType::kQ6_K: return decode_row<kc::WType::kQ6_K>(m, row, out);
  }
}

}  // namespace hangar::model
