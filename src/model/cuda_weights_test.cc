// The CUDA backend's weight block, staged on the host for every shared model: each matrix (fused
// or not) reads back as the file's rows, norms and biases are in place, and the rotary table is
// the CPU's. Runs everywhere: the block is plain host memory until the backend copies it.
#include "model/cuda_weights.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "kernels/kernels.h"

namespace hangar::model {
namespace {

class CudaWeightsStaging : public ::testing::TestWithParam<std::string> {};

// Rows 0, the middle and the last of `part` against rows row0 + those of the staged view.
void expect_rows_match(const kc::MatrixView& v, int64_t row0, const Matrix& part, const std::string& what) {
  ASSERT_EQ(v.cols, part.cols) << what;
  ASSERT_LE(row0 + part.rows, v.rows) << what;
  std::vector<float> want(static_cast<size_t>(part.cols)), got(want.size());
  const bool converted = kc::wtype_for_ggml(static_cast<uint32_t>(part.type)) < 0;
  for (int64_t r : {int64_t{0}, part.rows / 2, part.rows - 1}) {
    kernels::dequantize_row(part.type, static_cast<const uint8_t*>(part.data) + r * part.row_bytes, want.data(),
                            part.cols);
    if (converted)  // stored as F16
      for (float& x : want) x = kernels::fp16_to_fp32(kernels::fp32_to_fp16(x));
    dequantize_view_row(v, row0 + r, got.data());
    for (int64_t k = 0; k < part.cols; ++k)
      ASSERT_NEAR(got[k], want[k], 1e-6f * (1.0f + std::fabs(want[k]))) << what << " row " << r << " column " << k;
  }
}

// A matrix stored as `views` (one fused view, or one per part) holds the parts in order.
void expect_parts(const std::vector<kc::MatrixView>& views, const std::vector<const Matrix*>& parts,
                  const std::string& what) {
  if (views.size() == 1) {
    int64_t row0 = 0;
    for (const Matrix* p : parts) {
      expect_rows_match(views[0], row0, *p, what + " (fused)");
      row0 += p->rows;
    }
    EXPECT_EQ(row0, views[0].rows) << what;
    return;
  }
  ASSERT_EQ(views.size(), parts.size()) << what;
  for (size_t i = 0; i < parts.size(); ++i) expect_rows_match(views[i], 0, *parts[i], what + " part " + std::to_string(i));
}

void expect_floats(const float* got, const std::vector<float>& want, const std::string& what) {
  ASSERT_NE(got, nullptr) << what;
  for (size_t i = 0; i < want.size(); ++i) ASSERT_EQ(got[i], want[i]) << what << " element " << i;
}

TEST_P(CudaWeightsStaging, EveryMatrixReadsBackAsTheFileHasIt) {
  const std::string path = std::string(HANGAR_SHARED_DIR) + "/models/" + GetParam();
  auto loaded = Model::load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  const Model& m = **loaded;
  const Weights& w = m.weights();
  const HParams& hp = m.hparams();
  ThreadPool pool(2);
  auto staged = stage_weights(m, 40, pool);
  ASSERT_TRUE(staged.ok()) << staged.error().message();
  const CudaWeights& cw = staged->weights;
  const uint8_t* base = staged->data.get();
  auto inside = [&](const void* p) {
    return p != nullptr && static_cast<const uint8_t*>(p) >= base &&
           static_cast<const uint8_t*>(p) < base + cw.bytes;
  };
  EXPECT_TRUE(inside(cw.token_embd.q));
  expect_rows_match(cw.token_embd, 0, w.token_embd, "token_embd");
  expect_rows_match(cw.output, 0, w.output, "output");
  expect_floats(cw.output_norm, w.output_norm, "output_norm");
  ASSERT_EQ(cw.layers.size(), w.layers.size());
  for (size_t il = 0; il < w.layers.size(); ++il) {
    const LayerWeights& l = w.layers[il];
    const CudaLayer& cl = cw.layers[il];
    const std::string at = "layer " + std::to_string(il) + " ";
    expect_parts(cl.qkv, {&l.wq, &l.wk, &l.wv}, at + "q/k/v");
    expect_parts(cl.gate_up, {&l.w_gate, &l.w_up}, at + "gate/up");
    expect_rows_match(cl.wo, 0, l.wo, at + "output projection");
    expect_rows_match(cl.down, 0, l.w_down, at + "down");
    expect_floats(cl.attn_norm, l.attn_norm, at + "attn_norm");
    expect_floats(cl.ffn_norm, l.ffn_norm, at + "ffn_norm");
    if (hp.qkv_bias) {
      std::vector<float> bias = l.bq;
      bias.insert(bias.end(), l.bk.begin(), l.bk.end());
      bias.insert(bias.end(), l.bv.begin(), l.bv.end());
      expect_floats(cl.qkv_bias, bias, at + "q/k/v bias");
    } else {
      EXPECT_EQ(cl.qkv_bias, nullptr);
    }
    if (hp.qk_norm) {
      expect_floats(cl.q_norm, l.q_norm, at + "q_norm");
      expect_floats(cl.k_norm, l.k_norm, at + "k_norm");
    } else {
      EXPECT_EQ(cl.q_norm, nullptr);
    }
  }
  // The rotary table: position p, pair j as the CPU backend's recurrence gives them.
  ASSERT_EQ(cw.rope_positions, 40);
  const int32_t half = hp.n_rot / 2;
  const float theta_scale = std::pow(hp.rope_base, -2.0f / static_cast<float>(hp.n_rot));
  for (int32_t p : {0, 1, 39}) {
    float theta = static_cast<float>(p);
    for (int32_t j = 0; j < half; ++j) {
      const float ff = w.rope_freq_factors.empty() ? 1.0f : w.rope_freq_factors[j];
      const float angle = hp.rope_freq_scale * (theta / ff);
      ASSERT_EQ(cw.rope[(static_cast<size_t>(p) * half + j) * 2], std::cos(angle)) << "position " << p << " pair " << j;
      ASSERT_EQ(cw.rope[(static_cast<size_t>(p) * half + j) * 2 + 1], std::sin(angle)) << "position " << p << " pair " << j;
      theta *= theta_scale;
    }
  }
}

// Rebasing moves every pointer by the same distance (the backend's upload and reload).
TEST_P(CudaWeightsStaging, RebaseMovesEveryPointer) {
  auto loaded = Model::load(std::string(HANGAR_SHARED_DIR) + "/models/" + GetParam());
  ASSERT_TRUE(loaded.ok());
  ThreadPool pool(1);
  auto staged = stage_weights(**loaded, 4, pool);
  ASSERT_TRUE(staged.ok());
  CudaWeights w = staged->weights;
  std::unique_ptr<uint8_t[]> copy(new uint8_t[w.bytes]);
  std::memcpy(copy.get(), staged->data.get(), w.bytes);
  rebase_weights(w, staged->data.get(), copy.get());
  const ptrdiff_t delta = copy.get() - staged->data.get();
  EXPECT_EQ(w.token_embd.q - staged->weights.token_embd.q, delta);
  EXPECT_EQ(reinterpret_cast<const uint8_t*>(w.rope) - reinterpret_cast<const uint8_t*>(staged->weights.rope), delta);
  for (size_t il = 0; il < w.layers.size(); ++il) {
    EXPECT_EQ(w.layers[il].down.q - staged->weights.layers[il].down.q, delta);
    EXPECT_EQ(reinterpret_cast<const uint8_t*>(w.layers[il].ffn_norm) -
                  reinterpret_cast<const uint8_t*>(staged->weights.layers[il].ffn_norm),
              delta);
  }
  // The copy reads back the same as the original.
  std::vector<float> a(static_cast<size_t>(w.output.cols)), b(a.size());
  dequantize_view_row(staged->weights.output, 1, a.data());
  dequantize_view_row(w.output, 1, b.data());
  EXPECT_EQ(a, b);
}

std::vector<std::string> shared_models() {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(std::string(HANGAR_SHARED_DIR) + "/models"))
    if (e.path().extension() == ".gguf") out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

INSTANTIATE_TEST_SUITE_P(SharedModels, CudaWeightsStaging, ::testing::ValuesIn(shared_models()),
                         [](const auto& info) {
                           std::string n = info.param.substr(0, info.param.size() - 5);
                           for (char& c : n)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

}  // namespace
}  // namespace hangar::model
