// Quantizer tests: round-trip error per type, llama-quantize's exact bytes, metadata, bad input.
#include "quant/quantizer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>

#include "gguf/gguf_writer.h"
#include "kernels/kernels.h"

namespace hangar::quant {
namespace {

namespace fs = std::filesystem;
using T = TensorType;
const std::string kModels = std::string(HANGAR_SHARED_DIR) + "/models/";

class QuantizerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("hangar-quant-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
  ThreadPool pool_{2};
};

SchemeInfo scheme(const char* name) { return *parse_scheme(name); }

std::vector<float> gaussian(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

std::vector<uint8_t> encode(T type, const std::vector<float>& x) {
  std::vector<uint8_t> out(static_cast<size_t>(tensor_row_bytes(type, static_cast<int64_t>(x.size()))));
  kernels::quantize_row(type, x.data(), out.data(), static_cast<int64_t>(x.size()));
  return out;
}

std::vector<float> decode(const gguf::TensorInfo& t) {
  std::vector<float> x(static_cast<size_t>(t.n_elements));
  const int64_t cols = t.dims[0];
  for (int64_t r = 0; r < t.n_elements / cols; ++r)
    kernels::dequantize_row(t.type, t.data + r * tensor_row_bytes(t.type, cols), x.data() + r * cols, cols);
  return x;
}

// Writes a one-layer model whose matrices come in F32, F16 and BF16; returns the source values
// each tensor holds (after the input type's own rounding).
std::map<std::string, std::vector<float>> write_small_model(const std::string& path) {
  gguf::Writer w;
  w.set("general.architecture", gguf::Value::string("llama"));
  w.set("general.name", gguf::Value::string("round-trip"));
  std::map<std::string, std::vector<float>> values;
  const std::pair<const char*, T> mats[] = {{"blk.0.attn_q.weight", T::kF32},
                                            {"blk.0.attn_v.weight", T::kF16},
                                            {"blk.0.ffn_down.weight", T::kBF16},
                                            {"output.weight", T::kF16}};
  uint32_t seed = 1;
  for (auto [name, type] : mats) {
    auto x = gaussian(512 * 24, seed++);
    auto bytes = encode(type, x);
    w.add_tensor({name, type, {512, 24}}, bytes);
    kernels::dequantize_row(type, bytes.data(), x.data(), static_cast<int64_t>(x.size()));
    values[name] = x;
  }
  auto norm = gaussian(512, 99);
  w.add_tensor({"blk.0.attn_norm.weight", T::kF16, {512}}, encode(T::kF16, norm));
  kernels::f16_to_f32_row(reinterpret_cast<const uint16_t*>(encode(T::kF16, norm).data()), norm.data(), 512);
  values["blk.0.attn_norm.weight"] = norm;
  EXPECT_TRUE(w.write_file(path).ok());
  return values;
}

// Root-mean-square error over the RMS of the values, for unit Gaussian data: about a step over
// sqrt(12), the step being a block's range over its levels (Q4_1: 4 sigma / 15 -> 0.077). The
// bounds are 15% above what llama.cpp's reference quantizers reach on this data (measured).
double rms_bound(T t) {
  switch (t) {
    case T::kF32:
      return 0.0;
    case T::kQ8_0:
      return 0.0062;
    case T::kQ6_K:
      return 0.0205;
    case T::kQ5_K:
      return 0.042;
    case T::kQ5_1:
      return 0.044;
    case T::kQ5_0:
      return 0.05;
    case T::kQ4_K:
      return 0.083;
    case T::kQ4_1:
      return 0.091;
    case T::kQ4_0:
      return 0.1;
    default:
      ADD_FAILURE() << "no bound for " << tensor_type_name(t);
      return 0.0;
  }
}

TEST_F(QuantizerTest, EveryTypeRoundTripsWithinItsErrorBound) {
  auto values = write_small_model(path("in.gguf"));
  for (const auto& sc : all_schemes()) {
    SCOPED_TRACE(sc.name);
    const std::string out = path(std::string(sc.name) + ".gguf");
    auto sum = quantize_file(path("in.gguf"), out, sc, {}, pool_);
    ASSERT_TRUE(sum.ok()) << sum.error().message();
    auto f = gguf::File::open(out);
    ASSERT_TRUE(f.ok()) << f.error().message();
    ASSERT_EQ(f->tensors().size(), values.size());
    bool saw_base = false;
    for (const auto& t : f->tensors()) {
      const auto& src = values[t.name];
      auto got = decode(t);
      double se = 0, ss = 0, worst = 0;
      for (size_t i = 0; i < src.size(); ++i) {
        se += (got[i] - src[i]) * (got[i] - src[i]);
        ss += src[i] * src[i];
        worst = std::max(worst, double(std::fabs(got[i] - src[i])));
      }
      const double rel = std::sqrt(se / ss);
      EXPECT_LE(rel, rms_bound(t.type)) << t.name << " " << tensor_type_name(t.type);
      if (t.type == T::kQ8_0) {
        // Each value is within half a step (max|x| / 127 per 32-block), plus the FP16 scale's rounding.
        for (size_t b = 0; b < src.size(); b += 32) {
          float amax = 0;
          for (size_t i = b; i < b + 32; ++i) amax = std::max(amax, std::fabs(src[i]));
          for (size_t i = b; i < b + 32; ++i)
            ASSERT_LE(std::fabs(got[i] - src[i]), 0.57f * amax / 127) << t.name;
        }
      }
      saw_base |= t.type == sc.base;
    }
    EXPECT_TRUE(saw_base);
    EXPECT_EQ(f->find_tensor("blk.0.attn_norm.weight")->type, T::kF32);
    EXPECT_EQ(*f->get_int("general.file_type"), sc.file_type);
    EXPECT_EQ(*f->get_int("general.quantization_version"), 2);
  }
}

// The kernels reproduce llama.cpp's reference quantizers, and the plan its type choices, so the
// tensors must equal llama-quantize's byte for byte (it uses the reference code without an
// importance matrix).
TEST_F(QuantizerTest, OutputEqualsLlamaQuantizeByteForByte) {
  for (auto [type, file] :
       {std::pair{"Q8_0", "llama-spm-d256-q8_0.gguf"}, std::pair{"Q4_0", "llama-spm-d256-q4_0.gguf"},
        std::pair{"Q4_K_M", "llama-spm-d256-q4_k_m.gguf"}}) {
    SCOPED_TRACE(type);
    const std::string out = path(std::string(type) + ".gguf");
    auto sum = quantize_file(kModels + "llama-spm-d256-f16.gguf", out, scheme(type), {}, pool_);
    ASSERT_TRUE(sum.ok()) << sum.error().message();
    auto ours = gguf::File::open(out);
    auto ref = gguf::File::open(kModels + file);
    ASSERT_TRUE(ours.ok() && ref.ok());
    ASSERT_EQ(ours->tensors().size(), ref->tensors().size());
    for (const auto& t : ours->tensors()) {
      const gguf::TensorInfo* r = ref->find_tensor(t.name);
      ASSERT_NE(r, nullptr) << t.name;
      ASSERT_EQ(t.type, r->type) << t.name;
      ASSERT_EQ(t.n_bytes, r->n_bytes) << t.name;
      EXPECT_EQ(std::memcmp(t.data, r->data, t.n_bytes), 0) << t.name;
    }
  }
}

TEST_F(QuantizerTest, CopiesAllMetadataAndReportsEveryTensor) {
  const std::string in = kModels + "llama-spm-d256-f16.gguf";
  std::vector<std::string> seen;
  uint64_t bytes_out = 0;
  auto sum = quantize_file(in, path("out.gguf"), scheme("Q8_0"), {}, pool_, [&](const TensorProgress& p) {
    EXPECT_EQ(p.index, seen.size());
    seen.push_back(p.plan->name);
    bytes_out += p.bytes_out;
  });
  ASSERT_TRUE(sum.ok()) << sum.error().message();
  auto src = gguf::File::open(in);
  auto out = gguf::File::open(path("out.gguf"));
  ASSERT_TRUE(src.ok() && out.ok());
  ASSERT_EQ(seen.size(), src->tensors().size());
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], src->tensors()[i].name);
  EXPECT_EQ(sum->bytes_out, bytes_out);
  EXPECT_EQ(sum->n_tensors, seen.size());
  EXPECT_NEAR(sum->bits_per_weight(), 8.5, 0.1);  // Q8_0 is 34 bytes per 32 weights
  for (const auto& [key, value] : src->metadata()) {
    const gguf::Value* v = out->find(key);
    ASSERT_NE(v, nullptr) << key;
    if (key == "general.file_type") continue;
    EXPECT_EQ(v->type(), value.type()) << key;
    EXPECT_EQ(v->to_display(1u << 20), value.to_display(1u << 20)) << key;
  }
  EXPECT_EQ(*out->get_int("general.file_type"), 7);
  EXPECT_EQ(*out->get_int("general.quantization_version"), 2);
}

void expect_nothing_written(const std::string& out) {
  EXPECT_FALSE(fs::exists(out)) << out;
  EXPECT_FALSE(fs::exists(out + ".partial")) << out;
}

TEST_F(QuantizerTest, MissingInputIsAnError) {
  auto sum = quantize_file(path("nope.gguf"), path("out.gguf"), scheme("Q8_0"), {}, pool_);
  ASSERT_FALSE(sum.ok());
  EXPECT_NE(sum.error().message().find("nope.gguf"), std::string::npos);
  expect_nothing_written(path("out.gguf"));
}

TEST_F(QuantizerTest, QuantizedInputIsAnErrorNamingTheTensor) {
  auto sum = quantize_file(kModels + "llama-spm-d256-q4_0.gguf", path("out.gguf"), scheme("Q8_0"), {}, pool_);
  ASSERT_FALSE(sum.ok());
  EXPECT_NE(sum.error().message().find("tensor output.weight is q6_K"), std::string::npos)
      << sum.error().message();
  expect_nothing_written(path("out.gguf"));
}

TEST_F(QuantizerTest, UnwritablePathIsAnErrorAndLeavesNothing) {
  const std::string out = "/proc/hangar-no-such-dir/out.gguf";
  auto sum = quantize_file(kModels + "llama-spm-d256-f16.gguf", out, scheme("Q8_0"), {}, pool_);
  ASSERT_FALSE(sum.ok());
  EXPECT_NE(sum.error().message().find(out), std::string::npos) << sum.error().message();
  expect_nothing_written(out);
}

TEST_F(QuantizerTest, OutputOverTheInputIsRefused) {
  write_small_model(path("in.gguf"));
  auto before = fs::file_size(path("in.gguf"));
  auto sum = quantize_file(path("in.gguf"), path("in.gguf"), scheme("Q8_0"), {}, pool_);
  ASSERT_FALSE(sum.ok());
  EXPECT_NE(sum.error().message().find("input"), std::string::npos);
  EXPECT_EQ(fs::file_size(path("in.gguf")), before);
}

}  // namespace
}  // namespace hangar::quant
