// GGUF writer -> reader round trips, and reading the real model files in ../shared/models.
#include <gtest/gtest.h>

#include <filesystem>

#include "gguf/gguf_file.h"
#include "gguf/gguf_test_util.h"
#include "gguf/gguf_writer.h"

namespace hangar::gguf {
namespace {

using testing::temp_path;

TEST(GgufRoundTrip, EveryValueTypeAndNestedArrays) {
  Writer w;
  w.set("general.architecture", Value::string("llama"));
  w.set("u8", Value::u8(200));
  w.set("i8", Value::i8(-100));
  w.set("u16", Value::u16(60000));
  w.set("i16", Value::i16(-30000));
  w.set("u32", Value::u32(4000000000u));
  w.set("i32", Value::i32(-2000000000));
  w.set("u64", Value::u64(1ull << 40));
  w.set("i64", Value::i64(-(1ll << 40)));
  w.set("f32", Value::f32(1.5f));
  w.set("f64", Value::f64(-2.25));
  w.set("flag", Value::boolean(true));
  w.set("tokens", Value::string_array({"a", "", "ünï"}));
  w.set("nested", Value::array(ValueType::kArray, {Value::i32_array({1, 2}), Value::i32_array({})}));
  std::string path = temp_path("values.gguf");
  ASSERT_TRUE(w.write_file(path).ok());

  auto f = File::open(path);
  ASSERT_TRUE(f.ok()) << f.error().message();
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->get_string("general.architecture").value(), "llama");
  EXPECT_EQ(f->get_int("u8").value(), 200);
  EXPECT_EQ(f->get_int("i8").value(), -100);
  EXPECT_EQ(f->get_int("u16").value(), 60000);
  EXPECT_EQ(f->get_int("i16").value(), -30000);
  EXPECT_EQ(f->get_int("u32").value(), 4000000000ll);
  EXPECT_EQ(f->get_int("i32").value(), -2000000000);
  EXPECT_EQ(f->get_int("u64").value(), 1ll << 40);
  EXPECT_EQ(f->get_int("i64").value(), -(1ll << 40));
  EXPECT_EQ(f->get_number("f32").value(), 1.5);
  EXPECT_EQ(f->get_number("f64").value(), -2.25);
  EXPECT_TRUE(f->get_bool("flag").value());
  EXPECT_EQ(f->get_string_array("tokens").value(), (std::vector<std::string>{"a", "", "ünï"}));
  const Array* nested = f->find("nested")->as_array();
  ASSERT_NE(nested, nullptr);
  ASSERT_EQ(nested->items.size(), 2u);
  EXPECT_EQ(nested->items[0].as_array()->items[1].as_int(), 2);
  EXPECT_TRUE(nested->items[1].as_array()->items.empty());
  EXPECT_EQ(f->metadata()[0].first, "general.architecture");  // file order kept
}

TEST(GgufRoundTrip, TensorsAreAlignedAndReadable) {
  Writer w;
  w.set_version(2);
  w.set_alignment(64);
  std::vector<uint8_t> a(3 * 4), b(2 * 34);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<uint8_t>(i);
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(255 - i);
  w.add_tensor({"a", TensorType::kF32, {3}}, a);
  w.add_tensor({"b", TensorType::kQ8_0, {32, 2}}, b);
  std::string path = temp_path("tensors.gguf");
  ASSERT_TRUE(w.write_file(path).ok());

  auto f = File::open(path);
  ASSERT_TRUE(f.ok()) << f.error().message();
  EXPECT_EQ(f->version(), 2u);
  EXPECT_EQ(f->alignment(), 64u);
  const TensorInfo* tb = f->find_tensor("b");
  ASSERT_NE(tb, nullptr);
  EXPECT_EQ(tb->type, TensorType::kQ8_0);
  EXPECT_EQ(tb->dims, (std::vector<int64_t>{32, 2}));
  EXPECT_EQ(tb->n_elements, 64);
  EXPECT_EQ(tb->n_bytes, 68u);
  EXPECT_EQ(tb->offset % 64, 0u);
  EXPECT_EQ(std::vector<uint8_t>(tb->data, tb->data + tb->n_bytes), b);
  EXPECT_EQ(std::vector<uint8_t>(f->find_tensor("a")->data, f->find_tensor("a")->data + 12), a);
}

TEST(GgufRoundTrip, StreamingWriteLeavesNoPartialOnAbandon) {
  std::string path = temp_path("abandoned.gguf");
  std::filesystem::remove(path);
  {
    Writer w;
    w.add_tensor_spec({"x", TensorType::kF32, {4}});
    ASSERT_TRUE(w.begin(path).ok());
    // Destroyed before finish(): neither the file nor its partial may remain.
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".partial"));
}

TEST(GgufRoundTrip, UnwritablePathIsAnError) {
  Writer w;
  auto st = w.write_file("/nonexistent-dir/x.gguf");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("/nonexistent-dir/x.gguf"), std::string::npos);
}

TEST(GgufRealFiles, EveryModelInSharedParses) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(HANGAR_SHARED_DIR "/models")) {
    if (e.path().extension() != ".gguf") continue;
    auto f = File::open(e.path().string());
    ASSERT_TRUE(f.ok()) << f.error().message();
    EXPECT_TRUE(f->get_string("general.architecture").ok());
    EXPECT_FALSE(f->tensors().empty());
    EXPECT_TRUE(f->get_string_array("tokenizer.ggml.tokens").ok());
    ++n;
  }
  EXPECT_GE(n, 8);
}

TEST(GgufRealFiles, HeaderOnlyOpenAgreesWithFullOpen) {
  for (const auto& e : std::filesystem::directory_iterator(HANGAR_SHARED_DIR "/models")) {
    if (e.path().extension() != ".gguf") continue;
    auto full = File::open(e.path().string());
    auto head = File::open_header(e.path().string());
    ASSERT_TRUE(full.ok() && head.ok()) << e.path();
    EXPECT_EQ(head->data_offset(), full->data_offset());
    ASSERT_EQ(head->metadata().size(), full->metadata().size());
    int unread = 0;
    for (size_t i = 0; i < full->metadata().size(); ++i) {
      const auto& [key, v] = full->metadata()[i];
      EXPECT_EQ(head->metadata()[i].first, key);
      const Array* a = v.as_array();
      if (a && a->size() > File::kHeaderArrayItems) {
        const Array* h = head->metadata()[i].second.as_array();
        ASSERT_NE(h, nullptr) << key;
        EXPECT_TRUE(h->items.empty()) << key;
        EXPECT_EQ(h->size(), a->size()) << key;
        EXPECT_EQ(h->element_type, a->element_type) << key;
        ++unread;
      } else {
        EXPECT_EQ(head->metadata()[i].second.to_display(1000), v.to_display(1000)) << key;
      }
    }
    EXPECT_GT(unread, 0) << e.path() << ": the vocabulary should have been skipped";
    ASSERT_EQ(head->tensors().size(), full->tensors().size());
    for (size_t i = 0; i < full->tensors().size(); ++i) {
      EXPECT_EQ(head->tensors()[i].name, full->tensors()[i].name);
      EXPECT_EQ(head->tensors()[i].dims, full->tensors()[i].dims);
      EXPECT_EQ(head->tensors()[i].offset, full->tensors()[i].offset);
      EXPECT_EQ(head->tensors()[i].n_bytes, full->tensors()[i].n_bytes);
    }
  }
}

TEST(GgufRealFiles, SkippedLongArraysAreReadOnDemand) {
  for (const auto& e : std::filesystem::directory_iterator(HANGAR_SHARED_DIR "/models")) {
    if (e.path().extension() != ".gguf") continue;
    auto full = File::open(e.path().string());
    auto lazy = File::open(e.path().string(), MappedFile::Backing::kMap, File::LongArrays::kSkip);
    ASSERT_TRUE(full.ok() && lazy.ok()) << e.path();
    const Array* tokens = lazy->find("tokenizer.ggml.tokens")->as_array();
    ASSERT_NE(tokens, nullptr);
    EXPECT_TRUE(tokens->items.empty()) << e.path();
    EXPECT_EQ(tokens->size(), full->get_string_array("tokenizer.ggml.tokens")->size());
    EXPECT_EQ(lazy->tensors().size(), full->tensors().size());
    EXPECT_EQ(lazy->tensors()[0].data, lazy->mapped().data() + lazy->data_offset() + lazy->tensors()[0].offset);
    ASSERT_TRUE(lazy->read_long_arrays().ok());
    ASSERT_EQ(lazy->metadata().size(), full->metadata().size());
    for (size_t i = 0; i < full->metadata().size(); ++i) {
      EXPECT_EQ(lazy->metadata()[i].first, full->metadata()[i].first);
      EXPECT_EQ(lazy->metadata()[i].second.to_display(1u << 20), full->metadata()[i].second.to_display(1u << 20));
    }
    EXPECT_EQ(*lazy->get_string_array("tokenizer.ggml.tokens"), *full->get_string_array("tokenizer.ggml.tokens"));
    EXPECT_TRUE(lazy->read_long_arrays().ok());  // nothing left to read
  }
}

TEST(GgufRealFiles, ReportsArchitectureKeys) {
  auto f = File::open(HANGAR_SHARED_DIR "/models/qwen2-d256-q4_k_m.gguf");
  ASSERT_TRUE(f.ok()) << f.error().message();
  EXPECT_EQ(f->get_string("general.architecture").value(), "qwen2");
  EXPECT_GT(f->get_int("qwen2.context_length").value(), 0);
  EXPECT_NE(f->find_tensor("token_embd.weight"), nullptr);
}

}  // namespace
}  // namespace hangar::gguf
