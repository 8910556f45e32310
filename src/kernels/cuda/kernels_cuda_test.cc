// The CUDA kernels against the CPU kernels (skipped, with the reason, where no GPU is present).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cuda/layout.h"
#include "kernels/cuda/ops.h"
#include "kernels/cuda/runtime.h"
#include "kernels/kernels.h"
#include "kernels/reference/reference.h"

namespace hangar::kernels::cuda {
namespace {

class CudaKernels : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<DeviceInfo> d = probe_device();
    if (!d.ok()) GTEST_SKIP() << "no GPU: " << d.error().message();
    auto s = Stream::create();
    ASSERT_TRUE(s.ok()) << s.error().message();
    stream_ = std::move(*s);
  }
  // Device copy of a host vector, kept alive by the fixture.
  template <typename T>
  T* upload(const std::vector<T>& v) {
    auto b = DeviceBuffer::allocate(std::max<size_t>(1, v.size() * sizeof(T)), "a test");
    EXPECT_TRUE(b.ok());
    if (!v.empty()) {
      EXPECT_TRUE(copy_to_device(b->data(), v.data(), v.size() * sizeof(T), stream_).ok());
    }
    buffers_.push_back(std::move(*b));
    return static_cast<T*>(buffers_.back().data());
  }
  template <typename T>
  T* alloc(size_t n) {
    auto b = DeviceBuffer::allocate(std::max<size_t>(1, n * sizeof(T)), "a test");
    EXPECT_TRUE(b.ok());
    EXPECT_TRUE(fill_zero(b->data(), n * sizeof(T), stream_).ok());
    buffers_.push_back(std::move(*b));
    return static_cast<T*>(buffers_.back().data());
  }
  template <typename T>
  std::vector<T> download(const T* p, size_t n) {
    std::vector<T> v(n);
    EXPECT_TRUE(check_launch("a test kernel").ok());
    EXPECT_TRUE(copy_to_host(v.data(), p, n * sizeof(T), stream_).ok());
    Status st = stream_.synchronize();
    EXPECT_TRUE(st.ok()) << st.error().message();
    return v;
  }
  Acts acts(int n, int K) {
    Acts a;
    a.q = alloc<int8_t>(static_cast<size_t>(n) * K);
    a.d = alloc<float>(static_cast<size_t>(n) * K / 32 + 1);
    a.s = alloc<float>(static_cast<size_t>(n) * K / 32 + 1);
    a.h = alloc<uint16_t>(static_cast<size_t>(n) * K);
    return a;
  }
  Stream stream_;
  std::vector<DeviceBuffer> buffers_;
};

std::vector<float> randn(size_t n, uint32_t seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, sigma);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// ||a - b|| / ||b||.
double rel_error(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    num += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    den += static_cast<double>(b[i]) * b[i];
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

TEST_F(CudaKernels, ActivationsQuantizeAsTheCpuDoes) {
  const int n = 3, K = 1024;
  std::vector<float> x = randn(static_cast<size_t>(n) * K, 1);
  x[5] = 0;  // a zero and a block of zeros
  for (int k = 256; k < 512; ++k) x[k] = 0;
  const float* dx = upload(x);
  for (bool k_quant : {false, true}) {
    Acts a = acts(n, K);
    convert_act(dx, n, K, k_quant ? ActFormat::kQ8_K : ActFormat::kQ8_32, a, stream_.handle());
    const auto q = download(a.q, static_cast<size_t>(n) * K);
    const auto d = download(a.d, static_cast<size_t>(n) * K / 32);
    const auto s = download(a.s, static_cast<size_t>(n) * K / 32);
    std::vector<int8_t> rq(K);
    std::vector<float> rd(K / 32), rs(K / 32);
    std::vector<int16_t> r16(K / 16);
    for (int t = 0; t < n; ++t) {
      if (k_quant) ref::quantize_acts_q8_k(&x[static_cast<size_t>(t) * K], K, rq.data(), rd.data(), rs.data(), r16.data());
      else ref::quantize_acts_q8_32(&x[static_cast<size_t>(t) * K], K, rq.data(), rd.data(), rs.data(), r16.data());
      for (int k = 0; k < K; ++k) ASSERT_EQ(q[static_cast<size_t>(t) * K + k], rq[k]) << "token " << t << " element " << k;
      for (int b = 0; b < K / 32; ++b) {
        ASSERT_EQ(d[static_cast<size_t>(t) * K / 32 + b], rd[b]) << "token " << t << " block " << b;
        ASSERT_EQ(s[static_cast<size_t>(t) * K / 32 + b], rs[b]) << "token " << t << " block " << b;
      }
    }
  }
}

TEST_F(CudaKernels, RmsNormMatchesTheCpu) {
  const int n = 4, K = 2048;
  const std::vector<float> x = randn(static_cast<size_t>(n) * K, 2), w = randn(K, 3);
  float* y = alloc<float>(static_cast<size_t>(n) * K);
  const std::vector<int32_t> gather = {3, 1};
  Acts a;
  rms_norm_act(upload(x), upload(gather), 2, K, upload(w), 1e-5f, y, ActFormat::kF32, a, stream_.handle());
  const auto got = download(y, 2 * static_cast<size_t>(K));
  std::vector<float> want(K);
  for (int i = 0; i < 2; ++i) {
    ref::rms_norm(&x[static_cast<size_t>(gather[i]) * K], w.data(), want.data(), K, 1e-5f);
    // Squares summed in double in another order: the float result may move by an ulp.
    for (int k = 0; k < K; ++k)
      ASSERT_NEAR(got[static_cast<size_t>(i) * K + k], want[k], 1e-6f * std::fabs(want[k])) << "row " << i << " element " << k;
  }
}

TEST_F(CudaKernels, SwigluMatchesTheCpu) {
  const int n = 3, ff = 768;
  const std::vector<float> gu = randn(static_cast<size_t>(n) * 2 * ff, 4, 3.0f);
  float* out = alloc<float>(static_cast<size_t>(n) * ff);
  Acts a;
  swiglu_act(upload(gu), n, ff, out, ActFormat::kF32, a, stream_.handle());
  const auto got = download(out, static_cast<size_t>(n) * ff);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < ff; ++j) {
      const float g = gu[static_cast<size_t>(i) * 2 * ff + j], u = gu[static_cast<size_t>(i) * 2 * ff + ff + j];
      const float want = g / (1.0f + std::exp(-g)) * u;
      ASSERT_NEAR(got[static_cast<size_t>(i) * ff + j], want, 1e-6f * (1 + std::fabs(want)));
    }
}

// A random matrix in ggml layout and the CUDA layout (on the device).
struct DevMatrix {
  std::vector<uint8_t> ggml;
  Matrix cpu;
  MatrixView view;
};

struct MatmulCase {
  TensorType type;
  int rows, cols;
};

class CudaMatmul : public CudaKernels, public ::testing::WithParamInterface<MatmulCase> {
 protected:
  DevMatrix make(const MatmulCase& c) {
    DevMatrix m;
    const size_t rb = static_cast<size_t>(tensor_row_bytes(c.type, c.cols));
    m.ggml.resize(rb * c.rows);
    const std::vector<float> w = randn(static_cast<size_t>(c.rows) * c.cols, 5, 0.05f);
    for (int r = 0; r < c.rows; ++r) quantize_row(c.type, &w[static_cast<size_t>(r) * c.cols], m.ggml.data() + r * rb, c.cols);
    m.cpu.type = c.type;
    m.cpu.data = m.ggml.data();
    m.cpu.rows = c.rows;
    m.cpu.cols = c.cols;
    m.cpu.row_bytes = rb;
    const auto t = static_cast<WType>(wtype_for_ggml(static_cast<uint32_t>(c.type)));
    const LayoutSizes s = layout_sizes(t, c.rows, c.cols);
    std::vector<uint8_t> q(s.q);
    std::vector<uint16_t> d(s.d / 2 + 1);
    std::vector<uint32_t> h(s.h / 4 + 1);
    relayout_rows(t, m.ggml.data(), rb, c.cols, 0, c.rows, q.data(), d.data(), h.data());
    m.view = {t, c.rows, c.cols, upload(q), upload(d), upload(h)};
    return m;
  }
};

TEST_P(CudaMatmul, MatchesTheCpuForEveryBatchSize) {
  const MatmulCase c = GetParam();
  const DevMatrix m = make(c);
  ThreadPool pool(2);
  MatmulScratch scratch;
  for (int n : {1, 2, 3, 8, 9, 64, 100}) {
    const std::vector<float> x = randn(static_cast<size_t>(n) * c.cols, 100 + n);
    std::vector<float> want(static_cast<size_t>(n) * c.rows);
    kernels::matmul(m.cpu, x.data(), n, c.cols, want.data(), c.rows, pool, scratch);
    const float* dx = upload(x);
    Acts a = acts(n, c.cols);
    a.f = dx;
    const ActFormat f = act_format(m.view.type, n);
    convert_act(dx, n, c.cols, f, a, stream_.handle());
    // Into a strided output with a residual, as the forward pass uses it.
    const int stride = c.rows + 3;
    std::vector<float> base = randn(static_cast<size_t>(n) * stride, 7);
    float* y = upload(base);
    matmul(m.view, a, n, y, stride, true, stream_.handle());
    const auto got_all = download(y, static_cast<size_t>(n) * stride);
    std::vector<float> got(want.size());
    for (int t = 0; t < n; ++t)
      for (int r = 0; r < c.rows; ++r)
        got[static_cast<size_t>(t) * c.rows + r] =
            got_all[static_cast<size_t>(t) * stride + r] - base[static_cast<size_t>(t) * stride + r];
    for (int t = 0; t < n; ++t)
      for (int r = c.rows; r < stride; ++r)
        ASSERT_EQ(got_all[static_cast<size_t>(t) * stride + r], base[static_cast<size_t>(t) * stride + r]) << "wrote past the rows";
    // Exact integer products and float scaling in another order; F16 tiles round the
    // activations to F16 (the CPU multiplies F32 ones).
    const double tol = f == ActFormat::kF16 ? 2e-3 : 1e-4;
    EXPECT_LT(rel_error(got, want), tol) << tensor_type_name(c.type) << " with " << n << " tokens";
  }
}

INSTANTIATE_TEST_SUITE_P(Types, CudaMatmul,
                         ::testing::Values(MatmulCase{TensorType::kF16, 200, 512}, MatmulCase{TensorType::kQ8_0, 200, 512},
                                           MatmulCase{TensorType::kQ4_0, 130, 896}, MatmulCase{TensorType::kQ5_0, 200, 512},
                                           MatmulCase{TensorType::kQ4_K, 200, 1024}, MatmulCase{TensorType::kQ6_K, 70, 768},
                                           MatmulCase{TensorType::kF16, 10, 8}),
                         [](const auto& info) {
                           return tensor_type_name(info.param.type) + "_" + std::to_string(info.param.rows) + "x" +
                                  std::to_string(info.param.cols);
                         });

TEST_F(CudaKernels, EmbeddingRowsAreDequantized) {
  for (TensorType type : {TensorType::kF16, TensorType::kQ4_K, TensorType::kQ6_K, TensorType::kQ5_0}) {
    const int rows = 20, cols = 512;
    const size_t rb = static_cast<size_t>(tensor_row_bytes(type, cols));
    std::vector<uint8_t> ggml(rb * rows);
    const std::vector<float> w = randn(static_cast<size_t>(rows) * cols, 9);
    for (int r = 0; r < rows; ++r) quantize_row(type, &w[static_cast<size_t>(r) * cols], ggml.data() + r * rb, cols);
    const auto t = static_cast<WType>(wtype_for_ggml(static_cast<uint32_t>(type)));
    const LayoutSizes s = layout_sizes(t, rows, cols);
    std::vector<uint8_t> q(s.q);
    std::vector<uint16_t> d(s.d / 2 + 1);
    std::vector<uint32_t> h(s.h / 4 + 1);
    relayout_rows(t, ggml.data(), rb, cols, 0, rows, q.data(), d.data(), h.data());
    const MatrixView v{t, rows, cols, upload(q), upload(d), upload(h)};
    const std::vector<int32_t> tokens = {7, 0, 19};
    float* x = alloc<float>(tokens.size() * cols);
    embed(v, upload(tokens), 3, x, stream_.handle());
    const auto got = download(x, tokens.size() * cols);
    std::vector<float> want(cols);
    for (size_t i = 0; i < tokens.size(); ++i) {
      dequantize_row(type, ggml.data() + tokens[i] * rb, want.data(), cols);
      for (int k = 0; k < cols; ++k)
        ASSERT_NEAR(got[i * cols + k], want[k], 1e-6f * (1 + std::fabs(want[k]))) << tensor_type_name(type) << " element " << k;
    }
  }
}

// Rotary tables as the CUDA backend builds them (and the CPU backend computes them).
std::vector<float> rope_table(int n_rot, int n_pos, float base) {
  std::vector<float> t(static_cast<size_t>(n_pos) * n_rot);
  const float theta_scale = std::pow(base, -2.0f / static_cast<float>(n_rot));
  for (int p = 0; p < n_pos; ++p) {
    float theta = static_cast<float>(p);
    for (int j = 0; j < n_rot / 2; ++j) {
      t[(static_cast<size_t>(p) * n_rot / 2 + j) * 2] = std::cos(theta);
      t[(static_cast<size_t>(p) * n_rot / 2 + j) * 2 + 1] = std::sin(theta);
      theta *= theta_scale;
    }
  }
  return t;
}

TEST_F(CudaKernels, QkvPostMatchesTheCpuAndFillsTheCache) {
  for (bool neox : {false, true}) {
    const int n_head = 4, n_kv = 2, hd = 64, n_rot = 64, n = 3, bt = 4, n_blocks = 8;
    const int qd = n_head * hd, kvd = n_kv * hd, width = qd + 2 * kvd;
    const std::vector<float> qkv = randn(static_cast<size_t>(n) * width, 11), bias = randn(width, 12, 0.1f);
    const std::vector<float> qn = randn(hd, 13), kn = randn(hd, 14);
    const std::vector<float> rope = rope_table(n_rot, 64, 10000.0f);
    const std::vector<int32_t> tokens = {0, 0, 0}, pos = {0, 5, 13};
    const std::vector<int32_t> blocks = {6, 2, 5, 1};  // every token in one sequence: positions 0..15
    std::vector<int32_t> table;
    for (int i = 0; i < n; ++i) table.insert(table.end(), blocks.begin(), blocks.end());
    QkvPost p;
    p.qkv = upload(qkv);
    p.n_head = n_head;
    p.n_head_kv = n_kv;
    p.head_dim = hd;
    p.n_rot = n_rot;
    p.neox = neox;
    p.bias = upload(bias);
    p.q_norm = upload(qn);
    p.k_norm = upload(kn);
    p.eps = 1e-6f;
    p.rope = upload(rope);
    const BatchView b{upload(tokens), upload(pos), upload(table), 4, n};
    KvLayer kv{alloc<uint16_t>(static_cast<size_t>(n_blocks) * bt * kvd), alloc<uint16_t>(static_cast<size_t>(n_blocks) * bt * kvd),
               bt, kvd};
    qkv_post(p, b, kv, stream_.handle());
    const auto got = download(p.qkv, qkv.size());
    const auto kc = download(kv.k, static_cast<size_t>(n_blocks) * bt * kvd);
    const auto vc = download(kv.v, static_cast<size_t>(n_blocks) * bt * kvd);
    for (int i = 0; i < n; ++i) {
      std::vector<float> row(qkv.begin() + static_cast<size_t>(i) * width, qkv.begin() + static_cast<size_t>(i + 1) * width);
      ref::add(row.data(), bias.data(), row.data(), width);
      for (int h = 0; h < n_head; ++h) ref::rms_norm(&row[h * hd], qn.data(), &row[h * hd], hd, 1e-6f);
      for (int h = 0; h < n_kv; ++h) ref::rms_norm(&row[qd + h * hd], kn.data(), &row[qd + h * hd], hd, 1e-6f);
      std::vector<float> c(n_rot / 2), s(n_rot / 2);
      for (int j = 0; j < n_rot / 2; ++j) c[j] = rope[(pos[i] * n_rot / 2 + j) * 2], s[j] = rope[(pos[i] * n_rot / 2 + j) * 2 + 1];
      ref::rope(row.data(), n_head, hd, n_rot, neox, c.data(), s.data());
      ref::rope(&row[qd], n_kv, hd, n_rot, neox, c.data(), s.data());
      for (int k = 0; k < qd; ++k)
        ASSERT_NEAR(got[static_cast<size_t>(i) * width + k], row[k], 1e-5f * (1 + std::fabs(row[k]))) << "q element " << k;
      const size_t at = (static_cast<size_t>(blocks[pos[i] / bt]) * bt + pos[i] % bt) * kvd;
      for (int k = 0; k < kvd; ++k) {
        ASSERT_NEAR(fp16_to_fp32(kc[at + k]), row[qd + k], 1e-3f * (1 + std::fabs(row[qd + k]))) << "key element " << k;
        ASSERT_NEAR(fp16_to_fp32(vc[at + k]), row[qd + kvd + k], 1e-3f * (1 + std::fabs(row[qd + kvd + k])))
            << "value element " << k;
      }
    }
  }
}

struct AttnCase {
  int n_head, n_kv, hd, n_splits;
  std::vector<int32_t> pos;
};

TEST_F(CudaKernels, AttentionMatchesADoubleReference) {
  const std::vector<AttnCase> cases = {{8, 2, 64, 1, {0, 1, 130, 300}}, {8, 2, 64, 4, {0, 7, 130, 300}},
                                       {14, 2, 64, 2, {17, 200}},       {4, 4, 32, 8, {3, 64, 65}},
                                       {2, 2, 4, 1, {0, 5}},            {32, 8, 128, 4, {511}}};
  for (const AttnCase& c : cases) {
    const int n = static_cast<int>(c.pos.size()), bt = 32, kvd = c.n_kv * c.hd, qd = c.n_head * c.hd;
    const int max_blocks = 20, n_blocks = n * max_blocks;
    std::vector<int32_t> table(static_cast<size_t>(n) * max_blocks);
    std::mt19937 rng(21);
    std::vector<int32_t> perm(n_blocks);
    for (int i = 0; i < n_blocks; ++i) perm[i] = i;
    std::shuffle(perm.begin(), perm.end(), rng);
    for (size_t i = 0; i < table.size(); ++i) table[i] = perm[i];
    const std::vector<float> kf = randn(static_cast<size_t>(n_blocks) * bt * kvd, 22), vf = randn(static_cast<size_t>(n_blocks) * bt * kvd, 23);
    std::vector<uint16_t> kh(kf.size()), vh(vf.size());
    for (size_t i = 0; i < kf.size(); ++i) kh[i] = fp32_to_fp16(kf[i]), vh[i] = fp32_to_fp16(vf[i]);
    const std::vector<float> q = randn(static_cast<size_t>(n) * qd, 24);
    const std::vector<int32_t> tokens(n, 0);
    AttentionArgs a;
    a.q = upload(q);
    a.q_stride = qd;
    a.n_head = c.n_head;
    a.n_head_kv = c.n_kv;
    a.head_dim = c.hd;
    a.scale = 1.0f / std::sqrt(static_cast<float>(c.hd));
    a.n_splits = c.n_splits;
    a.part = alloc<float>(attention_part_floats(n, c.n_head, c.hd, c.n_splits));
    a.out = alloc<float>(static_cast<size_t>(n) * qd);
    ASSERT_TRUE(attention_supported(c.n_head, c.n_kv, c.hd));
    const BatchView b{upload(tokens), upload(c.pos), upload(table), max_blocks, n};
    KvLayer kv{upload(kh), upload(vh), bt, kvd};
    attention(a, b, kv, stream_.handle());
    const auto got = download(a.out, static_cast<size_t>(n) * qd);
    std::vector<float> want(got.size());
    for (int t = 0; t < n; ++t)
      for (int h = 0; h < c.n_head; ++h) {
        const int kvh = h / (c.n_head / c.n_kv), np = c.pos[t] + 1;
        std::vector<double> sc(np);
        double mx = -INFINITY;
        for (int p = 0; p < np; ++p) {
          const size_t at = (static_cast<size_t>(table[t * max_blocks + p / bt]) * bt + p % bt) * kvd + kvh * c.hd;
          double s = 0;
          for (int d = 0; d < c.hd; ++d) s += static_cast<double>(q[static_cast<size_t>(t) * qd + h * c.hd + d]) * fp16_to_fp32(kh[at + d]);
          sc[p] = s * a.scale;
          mx = std::max(mx, sc[p]);
        }
        double den = 0;
        for (double& s : sc) den += (s = std::exp(s - mx));
        for (int d = 0; d < c.hd; ++d) {
          double o = 0;
          for (int p = 0; p < np; ++p) {
            const size_t at = (static_cast<size_t>(table[t * max_blocks + p / bt]) * bt + p % bt) * kvd + kvh * c.hd;
            o += sc[p] * fp16_to_fp32(vh[at + d]);
          }
          want[static_cast<size_t>(t) * qd + h * c.hd + d] = static_cast<float>(o / den);
        }
      }
    EXPECT_LT(rel_error(got, want), 1e-5) << c.n_head << " heads, " << c.n_kv << " kv heads of " << c.hd << ", "
                                          << c.n_splits << " splits";
  }
}

TEST_F(CudaKernels, GraphReplaysWhatItCaptured) {
  const int n = 2, K = 256;
  std::vector<float> x = randn(static_cast<size_t>(n) * K, 31);
  const std::vector<float> w(K, 1.0f);
  float* dx = upload(x);
  float* y = alloc<float>(static_cast<size_t>(n) * K);
  Graph g;
  ASSERT_TRUE(g.begin_capture(stream_).ok());
  Acts a;
  rms_norm_act(dx, nullptr, n, K, upload(w), 1e-5f, y, ActFormat::kF32, a, stream_.handle());
  Status end = g.end_capture(stream_);
  ASSERT_TRUE(end.ok()) << end.error().message();
  for (int rep = 0; rep < 2; ++rep) {
    for (auto& v : x) v *= 2;  // new input each replay: the graph reads the buffer, not a copy
    ASSERT_TRUE(copy_to_device(dx, x.data(), x.size() * 4, stream_).ok());
    ASSERT_TRUE(g.launch(stream_).ok());
    const auto got = download(y, x.size());
    std::vector<float> want(K);
    ref::rms_norm(x.data(), w.data(), want.data(), K, 1e-5f);
    for (int k = 0; k < K; ++k) ASSERT_NEAR(got[k], want[k], 1e-6f * std::fabs(want[k]));
  }
}

}  // namespace
}  // namespace hangar::kernels::cuda
