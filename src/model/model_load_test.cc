// Crafted hyper-parameters: every size the file declares is bounded and computed in 64 bits,
// so a file cannot make the forward pass index out of bounds.
#include <gtest/gtest.h>

#include <filesystem>
#include <cmath>
#include <limits>
#include <map>

#include <unistd.h>

#include "gguf/gguf_writer.h"
#include "model/model.h"

namespace hangar::model {
namespace {

using gguf::Value;

std::string temp_path(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("hangar_model_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

// A llama file with F32 zero tensors. `q_rows` / `kv_rows` are the row counts written for the
// q and k/v projections: what a writer computing n_head * head_dim in 32 bits would write.
struct TinyLlama {
  int64_t n_embd = 32, n_layer = 1, n_ff = 64, n_vocab = 16, ctx = 128;
  int64_t n_head = 4, n_head_kv = 2, key_length = 0;  // 0: no key_length key
  int64_t q_rows = 32, kv_rows = 16;
  std::map<std::string, Value> extra;

  std::string write(const std::string& name) const {
    gguf::Writer w;
    w.set("general.architecture", Value::string("llama"));
    w.set("llama.context_length", Value::u32(static_cast<uint32_t>(ctx)));
    w.set("llama.embedding_length", Value::u32(static_cast<uint32_t>(n_embd)));
    w.set("llama.block_count", Value::u32(static_cast<uint32_t>(n_layer)));
    w.set("llama.feed_forward_length", Value::u32(static_cast<uint32_t>(n_ff)));
    w.set("llama.attention.head_count", Value::u32(static_cast<uint32_t>(n_head)));
    w.set("llama.attention.head_count_kv", Value::u32(static_cast<uint32_t>(n_head_kv)));
    if (key_length > 0) w.set("llama.attention.key_length", Value::u32(static_cast<uint32_t>(key_length)));
    for (const auto& [k, v] : extra) w.set(k, v);
    auto add = [&](const std::string& t, std::vector<int64_t> dims) {
      gguf::TensorSpec spec{t, TensorType::kF32, dims};
      w.add_tensor(spec, std::vector<uint8_t>(spec.n_bytes()));
    };
    add("token_embd.weight", {n_embd, n_vocab});
    add("output_norm.weight", {n_embd});
    for (int64_t i = 0; i < n_layer; ++i) {
      const std::string p = "blk." + std::to_string(i) + ".";
      add(p + "attn_norm.weight", {n_embd});
      add(p + "attn_q.weight", {n_embd, q_rows});
      add(p + "attn_k.weight", {n_embd, kv_rows});
      add(p + "attn_v.weight", {n_embd, kv_rows});
      add(p + "attn_output.weight", {q_rows, n_embd});
      add(p + "ffn_norm.weight", {n_embd});
      add(p + "ffn_gate.weight", {n_embd, n_ff});
      add(p + "ffn_up.weight", {n_embd, n_ff});
      add(p + "ffn_down.weight", {n_ff, n_embd});
    }
    const std::string path = temp_path(name);
    EXPECT_TRUE(w.write_file(path).ok());
    return path;
  }
};

std::string load_error(const TinyLlama& m, const std::string& name) {
  auto loaded = Model::load(m.write(name));
  return loaded.ok() ? "" : loaded.error().message();
}

TEST(ModelLoad, TinyModelLoads) {
  TinyLlama m;
  auto loaded = Model::load(m.write("tiny.gguf"));
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  EXPECT_EQ((*loaded)->hparams().q_dim(), 32);
  EXPECT_EQ((*loaded)->hparams().kv_dim(), 16);
}

// 65536 heads of 65536 dimensions: 2^32 wraps to 0 in 32 bits, so a file with zero-row q/k/v
// matrices used to load and the forward pass wrote past its buffers.
TEST(ModelLoad, HeadCountTimesHeadSizeThatWrapsIsRefused) {
  TinyLlama m;
  m.n_head = m.n_head_kv = 65536;
  m.key_length = 65536;
  m.q_rows = m.kv_rows = 0;
  const std::string msg = load_error(m, "wrap.gguf");
  EXPECT_NE(msg.find("llama.attention.head_count = 65536"), std::string::npos) << msg;
}

// Each value within its own bound, the product beyond kMaxQDim.
TEST(ModelLoad, QueryWidthIsBoundedIn64Bits) {
  TinyLlama m;
  m.n_head = m.n_head_kv = 4096;
  m.key_length = 4096;
  m.q_rows = m.kv_rows = 0;
  const std::string msg = load_error(m, "wide.gguf");
  EXPECT_NE(msg.find("attention.head_count 4096 x head size 4096"), std::string::npos) << msg;
  EXPECT_NE(msg.find("16777216"), std::string::npos) << msg;
}

TEST(ModelLoad, EachHyperParameterIsBounded) {
  struct Case {
    const char* key;
    int64_t value;
  };
  for (const Case& c : {Case{"llama.embedding_length", kMaxEmbd + 1}, Case{"llama.block_count", kMaxLayers + 1},
                        Case{"llama.feed_forward_length", kMaxFf + 1},
                        Case{"llama.context_length", kMaxCtxTrain + 1},
                        Case{"llama.attention.key_length", kMaxHeadDim + 1},
                        Case{"llama.rope.dimension_count", kMaxHeadDim + 1}}) {
    TinyLlama m;
    m.extra[c.key] = Value::u64(static_cast<uint64_t>(c.value));
    const std::string msg = load_error(m, "bound.gguf");
    EXPECT_NE(msg.find(std::string(c.key) + " = " + std::to_string(c.value)), std::string::npos) << msg;
  }
}

// n_embd / n_head is 0 when there are more heads than dimensions (and no key_length).
TEST(ModelLoad, ZeroHeadSizeIsRefused) {
  TinyLlama m;
  m.n_head = m.n_head_kv = 64;
  m.q_rows = m.kv_rows = 0;
  const std::string msg = load_error(m, "zero_head.gguf");
  EXPECT_NE(msg.find("head size 0"), std::string::npos) << msg;
}

TEST(ModelLoad, NonFiniteFloatsAreRefused) {
  TinyLlama m;
  m.extra["llama.rope.freq_base"] = Value::f32(std::numeric_limits<float>::infinity());
  EXPECT_NE(load_error(m, "inf.gguf").find("llama.rope.freq_base"), std::string::npos);
  TinyLlama n;
  n.extra["llama.attention.layer_norm_rms_epsilon"] = Value::f32(std::nanf(""));
  EXPECT_NE(load_error(n, "nan.gguf").find("layer_norm_rms_epsilon"), std::string::npos);
}

}  // namespace
}  // namespace hangar::model
