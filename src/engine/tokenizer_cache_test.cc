// TokenizerCache with real model files: a second load of an unchanged file reuses the tokenizer
// (its vocabulary left undecoded), and a replaced or rewritten file is read again.
#include "engine/tokenizer_cache.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "engine/engine.h"

namespace hangar::engine {
namespace {

namespace fs = std::filesystem;
const std::string kModels = std::string(HANGAR_SHARED_DIR) + "/models/";

class TokenizerCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("hangar-tokcache-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::unique_ptr<Engine> load(const std::string& path) {
    EngineOptions o;
    o.n_ctx = 64;
    o.batch_tokens = 8;
    o.weights_in_memory = false;
    o.tokenizers = &cache_;
    auto e = Engine::load(path, o, pool_);
    EXPECT_TRUE(e.ok()) << e.error().message();
    return e.ok() ? std::move(*e) : nullptr;
  }
  // Replaces `to` with a copy of the shared model `name`, in place (same inode) or as a new file.
  void put(const std::string& name, const fs::path& to) {
    fs::copy_file(kModels + name, to, fs::copy_options::overwrite_existing);
  }

  fs::path dir_;
  ThreadPool pool_{1};
  TokenizerCache cache_;
};

TEST_F(TokenizerCacheTest, ASecondLoadOfTheSameFileReusesItsTokenizer) {
  const std::string path = kModels + "qwen2-d256-q4_k_m.gguf";
  auto first = load(path);
  ASSERT_TRUE(first);
  EXPECT_EQ(cache_.stats().misses, 1);
  EXPECT_EQ(cache_.stats().hits, 0);
  auto second = load(path);
  ASSERT_TRUE(second);
  EXPECT_EQ(cache_.stats().hits, 1);
  // The second model's vocabulary stayed undecoded in its file; its tokenizer is the same.
  const gguf::Array* tokens = second->model().file().find("tokenizer.ggml.tokens")->as_array();
  EXPECT_GT(tokens->n_unread, 0u);
  const std::string text = "Hello, world! Tokenizers are shared across loads.";
  EXPECT_EQ(second->tokenizer().encode(text, true, false), first->tokenizer().encode(text, true, false));
  EXPECT_EQ(second->tokenizer().n_vocab(), first->tokenizer().n_vocab());
  EXPECT_GT(second->tokenizer().encode(text, true, false).size(), 5u);
}

TEST_F(TokenizerCacheTest, AFileReplacedOrRewrittenIsReadAgain) {
  const fs::path m = dir_ / "m.gguf";
  put("llama-spm-d256-q4_k_m.gguf", m);
  auto llama = load(m.string());
  ASSERT_TRUE(llama);
  const int32_t llama_vocab = llama->tokenizer().n_vocab();
  llama.reset();

  // Rewritten in place with another model (same inode, other size and mtime).
  put("qwen2-d256-q4_k_m.gguf", m);
  auto qwen = load(m.string());
  ASSERT_TRUE(qwen);
  EXPECT_EQ(cache_.stats().hits, 0);
  EXPECT_EQ(qwen->tokenizer().model(), "gpt2");
  EXPECT_NE(qwen->tokenizer().n_vocab(), llama_vocab);
  EXPECT_EQ(qwen->tokenizer().n_vocab(), qwen->hparams().n_vocab);

  // Replaced by a new file (another inode) holding the first model again.
  const fs::path tmp = dir_ / "m.gguf.new";
  put("llama-spm-d256-q4_k_m.gguf", tmp);
  fs::rename(tmp, m);
  auto again = load(m.string());
  ASSERT_TRUE(again);
  EXPECT_EQ(cache_.stats().hits, 0);
  EXPECT_EQ(again->tokenizer().model(), "llama");
  EXPECT_EQ(again->tokenizer().n_vocab(), llama_vocab);
  EXPECT_EQ(cache_.stats().misses, 3);
}

TEST(TokenizerCache, KeepsTheMostRecentlyUsedEntries) {
  auto file = gguf::File::open(kModels + "llama-spm-d256-q4_k_m.gguf");
  ASSERT_TRUE(file.ok()) << file.error().message();
  auto tok = Tokenizer::from_gguf(*file);
  ASSERT_TRUE(tok.ok());
  TokenizerCache cache(2);
  const FileIdentity a{1, 1, 10, 5}, b{1, 2, 10, 5}, c{1, 3, 10, 5};
  cache.put(a, *tok);
  cache.put(b, *tok);
  EXPECT_TRUE(cache.find(a).has_value());  // a is now the most recent
  cache.put(c, *tok);                       // b goes
  EXPECT_FALSE(cache.find(b).has_value());
  EXPECT_TRUE(cache.find(a).has_value());
  EXPECT_TRUE(cache.find(c).has_value());
  EXPECT_FALSE(cache.find(FileIdentity{1, 1, 10, 6}).has_value());  // another mtime
  EXPECT_EQ(cache.stats().entries, 2u);
  EXPECT_EQ(cache.stats().hits, 3);
  EXPECT_EQ(cache.stats().misses, 2);
}

}  // namespace
}  // namespace hangar::engine
