// Plan tests: per-tensor types against llama-quantize's files and its observed choices.
#include "quant/quant_plan.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace hangar::quant {
namespace {

using T = TensorType;
const std::string kModels = std::string(HANGAR_SHARED_DIR) + "/models/";

SchemeInfo scheme(const char* name) {
  auto s = parse_scheme(name);
  EXPECT_TRUE(s.ok());
  return *s;
}

gguf::TensorInfo info(const std::string& name, std::vector<int64_t> dims, T type = T::kF16) {
  gguf::TensorInfo t;
  t.name = name;
  t.type = type;
  t.dims = std::move(dims);
  return t;
}

// The tensors of a llama/qwen2-style model in the order convert_hf_to_gguf writes them.
std::vector<gguf::TensorInfo> model_tensors(int n_layer, int64_t n_embd, int64_t n_kv, int64_t n_ff,
                                            int64_t n_vocab, bool tied, bool qkv_bias) {
  std::vector<gguf::TensorInfo> ts;
  ts.push_back(info("token_embd.weight", {n_embd, n_vocab}));
  for (int i = 0; i < n_layer; ++i) {
    std::string b = "blk." + std::to_string(i) + ".";
    ts.push_back(info(b + "attn_norm.weight", {n_embd}, T::kF32));
    ts.push_back(info(b + "attn_q.weight", {n_embd, n_embd}));
    ts.push_back(info(b + "attn_k.weight", {n_embd, n_kv}));
    ts.push_back(info(b + "attn_v.weight", {n_embd, n_kv}));
    if (qkv_bias) {
      ts.push_back(info(b + "attn_q.bias", {n_embd}, T::kF32));
      ts.push_back(info(b + "attn_k.bias", {n_kv}, T::kF32));
      ts.push_back(info(b + "attn_v.bias", {n_kv}, T::kF32));
    }
    ts.push_back(info(b + "attn_output.weight", {n_embd, n_embd}));
    ts.push_back(info(b + "ffn_norm.weight", {n_embd}, T::kF32));
    ts.push_back(info(b + "ffn_gate.weight", {n_embd, n_ff}));
    ts.push_back(info(b + "ffn_up.weight", {n_embd, n_ff}));
    ts.push_back(info(b + "ffn_down.weight", {n_ff, n_embd}));
  }
  ts.push_back(info("output_norm.weight", {n_embd}, T::kF32));
  if (!tied) ts.push_back(info("output.weight", {n_embd, n_vocab}));
  return ts;
}

std::map<std::string, TensorPlan> by_name(const std::vector<TensorPlan>& plans) {
  std::map<std::string, TensorPlan> m;
  for (const auto& p : plans) m[p.name] = p;
  return m;
}

// llama-quantize wrote the shared Q8_0, Q4_0 and Q4_K_M files from the shared F16 model: our plan
// must give every tensor the type it gave.
TEST(QuantPlan, MatchesLlamaQuantizeFilesOfSharedModel) {
  auto f16 = gguf::File::open(kModels + "llama-spm-d256-f16.gguf");
  ASSERT_TRUE(f16.ok()) << f16.error().message();
  for (auto [type, file] :
       {std::pair{"Q8_0", "llama-spm-d256-q8_0.gguf"}, std::pair{"Q4_0", "llama-spm-d256-q4_0.gguf"},
        std::pair{"Q4_K_M", "llama-spm-d256-q4_k_m.gguf"}}) {
    auto ref = gguf::File::open(kModels + file);
    ASSERT_TRUE(ref.ok()) << ref.error().message();
    auto plans = plan_file(*f16, scheme(type), {});
    ASSERT_TRUE(plans.ok()) << plans.error().message();
    ASSERT_EQ(plans->size(), ref->tensors().size());
    for (const auto& p : *plans) {
      const gguf::TensorInfo* r = ref->find_tensor(p.name);
      ASSERT_NE(r, nullptr) << p.name;
      EXPECT_EQ(tensor_type_name(p.dst_type), tensor_type_name(r->type)) << type << " " << p.name;
      EXPECT_TRUE(p.note.empty()) << p.note;
    }
    EXPECT_EQ(scheme(type).file_type, *ref->get_int("general.file_type")) << type;
  }
}

// Observed with llama-quantize on the shared 4-layer F16 model (docs/QUANTIZATION.md): the
// expected type of each tensor kind per scheme; `more` is the type of attn_v/ffn_down in the
// layers that get more bits (2 and 3 of 4 for the _M mixes).
struct Observed {
  const char* scheme;
  T base, output, attn_v_low, attn_v_more, ffn_down_more;
  uint32_t file_type;
};

TEST(QuantPlan, MixesAssignObservedTypesOnSmallModel) {
  const Observed cases[] = {
      {"Q4_1", T::kQ4_1, T::kQ6_K, T::kQ4_1, T::kQ4_1, T::kQ4_1, 3},
      {"Q5_0", T::kQ5_0, T::kQ6_K, T::kQ5_0, T::kQ5_0, T::kQ5_0, 8},
      {"Q5_1", T::kQ5_1, T::kQ6_K, T::kQ5_1, T::kQ5_1, T::kQ5_1, 9},
      {"Q4_K_S", T::kQ4_K, T::kQ6_K, T::kQ5_K, T::kQ5_K, T::kQ4_K, 14},
      {"Q4_K_M", T::kQ4_K, T::kQ6_K, T::kQ4_K, T::kQ6_K, T::kQ6_K, 15},
      {"Q5_K_S", T::kQ5_K, T::kQ6_K, T::kQ5_K, T::kQ5_K, T::kQ5_K, 16},
      {"Q5_K_M", T::kQ5_K, T::kQ6_K, T::kQ5_K, T::kQ6_K, T::kQ6_K, 17},
      {"Q6_K", T::kQ6_K, T::kQ6_K, T::kQ6_K, T::kQ6_K, T::kQ6_K, 18},
      {"Q8_0", T::kQ8_0, T::kQ8_0, T::kQ8_0, T::kQ8_0, T::kQ8_0, 7},
  };
  auto f16 = gguf::File::open(kModels + "llama-spm-d256-f16.gguf");
  ASSERT_TRUE(f16.ok());
  for (const auto& c : cases) {
    SCOPED_TRACE(c.scheme);
    EXPECT_EQ(scheme(c.scheme).file_type, c.file_type);
    auto plans = plan_file(*f16, scheme(c.scheme), {});
    ASSERT_TRUE(plans.ok());
    for (const auto& p : *plans) {
      T want = c.base;
      const bool more = p.name.starts_with("blk.2.") || p.name.starts_with("blk.3.");
      if (p.dims.size() == 1)
        want = T::kF32;
      else if (p.name == "output.weight")
        want = c.output;
      else if (p.name.ends_with("attn_v.weight"))
        want = more ? c.attn_v_more : c.attn_v_low;
      else if (p.name.ends_with("ffn_down.weight") && more)
        want = c.ffn_down_more;
      EXPECT_EQ(tensor_type_name(p.dst_type), tensor_type_name(want)) << p.name;
    }
  }
}

// llama-1b shape (16 layers, tied embeddings), as llama-quantize's Q4_K_M file of the bench
// model has it: the tied token_embd is the output (Q6_K) and layers 0,1,4,7,10,13,14,15 get Q6_K.
TEST(QuantPlan, Q4KMOnTiedSixteenLayerModel) {
  auto plans = plan_tensors(model_tensors(16, 2048, 512, 8192, 128256, true, false), scheme("Q4_K_M"), {});
  ASSERT_TRUE(plans.ok());
  auto m = by_name(*plans);
  EXPECT_EQ(m["token_embd.weight"].dst_type, T::kQ6_K);
  const std::set<int> more = {0, 1, 4, 7, 10, 13, 14, 15};
  for (int i = 0; i < 16; ++i) {
    std::string b = "blk." + std::to_string(i) + ".";
    T want = more.count(i) ? T::kQ6_K : T::kQ4_K;
    EXPECT_EQ(m[b + "attn_v.weight"].dst_type, want) << i;
    EXPECT_EQ(m[b + "ffn_down.weight"].dst_type, want) << i;
    EXPECT_EQ(m[b + "attn_q.weight"].dst_type, T::kQ4_K);
    EXPECT_EQ(m[b + "attn_norm.weight"].dst_type, T::kF32);
  }
}

// qwen2-0.5b shape (896 wide: no 256-block fits a row), as in llama-quantize's Q4_K_M file of the
// bench model: Q4_K falls back to Q5_0, Q6_K to Q8_0, and the 4864-wide ffn_down keeps K-quants.
TEST(QuantPlan, Q4KMFallsBackOnRowsThatA256BlockDoesNotDivide) {
  auto plans = plan_tensors(model_tensors(24, 896, 128, 4864, 151936, true, true), scheme("Q4_K_M"), {});
  ASSERT_TRUE(plans.ok());
  auto m = by_name(*plans);
  EXPECT_EQ(m["token_embd.weight"].dst_type, T::kQ8_0);
  EXPECT_NE(m["token_embd.weight"].note.find("fallback from q6_K"), std::string::npos);
  const std::set<int> more = {0, 1, 2, 5, 8, 11, 14, 17, 20, 21, 22, 23};
  for (int i = 0; i < 24; ++i) {
    std::string b = "blk." + std::to_string(i) + ".";
    EXPECT_EQ(m[b + "attn_v.weight"].dst_type, more.count(i) ? T::kQ8_0 : T::kQ5_0) << i;
    EXPECT_EQ(m[b + "ffn_down.weight"].dst_type, more.count(i) ? T::kQ6_K : T::kQ4_K) << i;
    EXPECT_TRUE(m[b + "ffn_down.weight"].note.empty());
    for (const char* n :
         {"attn_q.weight", "attn_k.weight", "attn_output.weight", "ffn_gate.weight", "ffn_up.weight"}) {
      EXPECT_EQ(m[b + n].dst_type, T::kQ5_0) << b << n;
      EXPECT_NE(m[b + n].note.find("896"), std::string::npos) << m[b + n].note;
    }
    EXPECT_EQ(m[b + "attn_q.bias"].dst_type, T::kF32);
  }
}

// Observed with llama-quantize Q4_K_S on the llama-1b bench model: attn_v of layers 0-3 and
// ffn_down of layers 0-1 (n_layer / 8) get Q5_K; the tied embedding is the output (Q6_K).
TEST(QuantPlan, Q4KSOnSixteenLayerModel) {
  auto plans = plan_tensors(model_tensors(16, 2048, 512, 8192, 128256, true, false), scheme("Q4_K_S"), {});
  ASSERT_TRUE(plans.ok());
  auto m = by_name(*plans);
  EXPECT_EQ(m["token_embd.weight"].dst_type, T::kQ6_K);
  for (int i = 0; i < 16; ++i) {
    std::string b = "blk." + std::to_string(i) + ".";
    EXPECT_EQ(m[b + "attn_v.weight"].dst_type, i < 4 ? T::kQ5_K : T::kQ4_K) << i;
    EXPECT_EQ(m[b + "ffn_down.weight"].dst_type, i < 2 ? T::kQ5_K : T::kQ4_K) << i;
    EXPECT_EQ(m[b + "ffn_up.weight"].dst_type, T::kQ4_K) << i;
  }
}

// Observed with llama-quantize Q5_K_M on the qwen2-0.5b bench model: Q5_K falls back to Q5_1.
TEST(QuantPlan, Q5KMOnQwen2Shape) {
  auto plans = plan_tensors(model_tensors(24, 896, 128, 4864, 151936, true, true), scheme("Q5_K_M"), {});
  ASSERT_TRUE(plans.ok());
  auto m = by_name(*plans);
  EXPECT_EQ(m["token_embd.weight"].dst_type, T::kQ8_0);
  const std::set<int> more = {0, 1, 2, 5, 8, 11, 14, 17, 20, 21, 22, 23};
  for (int i = 0; i < 24; ++i) {
    std::string b = "blk." + std::to_string(i) + ".";
    EXPECT_EQ(m[b + "attn_v.weight"].dst_type, more.count(i) ? T::kQ8_0 : T::kQ5_1) << i;
    EXPECT_EQ(m[b + "ffn_down.weight"].dst_type, more.count(i) ? T::kQ6_K : T::kQ5_K) << i;
    EXPECT_EQ(m[b + "attn_q.weight"].dst_type, T::kQ5_1) << i;
  }
}

TEST(QuantPlan, Q5KFallsBackToQ5_1) {
  auto plans = plan_tensors({info("blk.0.attn_q.weight", {96, 64})}, scheme("Q5_K_S"), {});
  ASSERT_TRUE(plans.ok());
  EXPECT_EQ((*plans)[0].dst_type, T::kQ5_1);
  EXPECT_TRUE((*plans)[0].quantized);
}

TEST(QuantPlan, RowsNoBlockDividesKeepTheirType) {
  auto plans =
      plan_tensors({info("blk.0.attn_q.weight", {100, 64}), info("blk.0.ffn_up.weight", {100, 64}, T::kF32)},
                   scheme("Q8_0"), {});
  ASSERT_TRUE(plans.ok());
  EXPECT_EQ((*plans)[0].dst_type, T::kF16);
  EXPECT_EQ((*plans)[1].dst_type, T::kF32);
  EXPECT_FALSE((*plans)[0].quantized);
  EXPECT_NE((*plans)[0].note.find("100"), std::string::npos);
}

TEST(QuantPlan, PureKQuantsPutEveryMatrixInOneType) {
  auto plans = plan_tensors(model_tensors(4, 256, 128, 768, 1000, false, false), scheme("q4_k"), {});
  ASSERT_TRUE(plans.ok());
  for (const auto& p : *plans) EXPECT_EQ(p.dst_type, p.dims.size() == 1 ? T::kF32 : T::kQ4_K) << p.name;
}

TEST(QuantPlan, VectorsBecomeF32) {
  auto plans = plan_tensors(
      {info("blk.0.attn_norm.weight", {256}, T::kF16), info("blk.0.attn_q.bias", {256}, T::kBF16)},
      scheme("Q4_0"), {});
  ASSERT_TRUE(plans.ok());
  for (const auto& p : *plans) {
    EXPECT_EQ(p.dst_type, T::kF32);
    EXPECT_FALSE(p.quantized);
  }
}

TEST(QuantPlan, KeepOutputAndTokenEmbeddingType) {
  PlanOptions o;
  o.keep_output = true;
  o.token_embedding_type = T::kQ8_0;
  auto plans = plan_tensors(model_tensors(2, 256, 128, 768, 1000, false, false), scheme("Q4_K_M"), o);
  ASSERT_TRUE(plans.ok());
  auto m = by_name(*plans);
  EXPECT_EQ(m["output.weight"].dst_type, T::kF16);
  EXPECT_FALSE(m["output.weight"].quantized);
  EXPECT_EQ(m["token_embd.weight"].dst_type, T::kQ8_0);
}

TEST(QuantPlan, QuantizedInputIsAnErrorNamingTheTensor) {
  auto plans =
      plan_tensors({info("token_embd.weight", {256, 10}), info("blk.0.attn_q.weight", {256, 256}, T::kQ4_K)},
                   scheme("Q8_0"), {});
  ASSERT_FALSE(plans.ok());
  EXPECT_NE(plans.error().message().find("blk.0.attn_q.weight"), std::string::npos);
  EXPECT_NE(plans.error().message().find("q4_K"), std::string::npos);
}

TEST(QuantPlan, MixtureOfExpertsIsRefused) {
  auto plans = plan_tensors({info("blk.0.attn_q.weight", {256, 256})}, scheme("Q8_0"), {}, 8);
  ASSERT_FALSE(plans.ok());
  EXPECT_NE(plans.error().message().find("expert"), std::string::npos);
}

TEST(QuantPlan, ParsesSchemeNames) {
  EXPECT_EQ(parse_scheme("q4_k_m")->scheme, Scheme::kQ4_K_M);
  EXPECT_EQ(parse_scheme("Q8_0")->base, T::kQ8_0);
  auto bad = parse_scheme("Q3_K");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("Q3_K"), std::string::npos);
  EXPECT_NE(bad.error().message().find("Q4_K_M"), std::string::npos);
  EXPECT_EQ(all_schemes().size(), 12u);
}

}  // namespace
}  // namespace hangar::quant
