// Tokenizers built from small synthetic GGUF vocabularies: merge order, SPM scores, byte
// fallback, and the errors for malformed tokenizer metadata.
#include <gtest/gtest.h>

#include <cstdio>

#include "gguf/gguf_test_util.h"
#include "gguf/gguf_writer.h"
#include "tokenizer/tokenizer.h"

namespace hangar {
namespace {

using gguf::Value;
using Ids = std::vector<TokenId>;

Result<Tokenizer> load(gguf::Writer& w, const std::string& name) {
  const std::string path = gguf::testing::temp_path(name + ".gguf");
  auto status = w.write_file(path);
  EXPECT_TRUE(status.ok()) << status.error().message();
  auto file = gguf::File::open(path);
  EXPECT_TRUE(file.ok()) << file.error().message();
  return Tokenizer::from_gguf(*file);
}

void set_bpe(gguf::Writer& w, const std::vector<std::string>& tokens,
             const std::vector<std::string>& merges) {
  w.set("tokenizer.ggml.model", Value::string("gpt2"));
  w.set("tokenizer.ggml.pre", Value::string("gpt-2"));
  w.set("tokenizer.ggml.tokens", Value::string_array(tokens));
  w.set("tokenizer.ggml.merges", Value::string_array(merges));
}

// An SPM vocabulary: <unk> <s> </s>, the 256 byte tokens, then `pieces` with `scores`.
void set_spm(gguf::Writer& w, const std::vector<std::string>& pieces,
             const std::vector<float>& scores) {
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<int32_t> types = {2, 3, 3};
  for (int b = 0; b < 256; ++b) {
    char hex[8];
    std::snprintf(hex, sizeof(hex), "<0x%02X>", b);
    tokens.push_back(hex);
    types.push_back(6);
  }
  std::vector<float> all_scores(tokens.size(), 0.0f);
  for (size_t i = 0; i < pieces.size(); ++i) {
    tokens.push_back(pieces[i]);
    types.push_back(1);
    all_scores.push_back(scores[i]);
  }
  w.set("tokenizer.ggml.model", Value::string("llama"));
  w.set("tokenizer.ggml.tokens", Value::string_array(tokens));
  w.set("tokenizer.ggml.scores", Value::f32_array(all_scores));
  w.set("tokenizer.ggml.token_type", Value::i32_array(types));
}

constexpr TokenId kSpmFirst = 259;  // id of the first piece after the byte tokens

TEST(SyntheticBpe, MergesApplyInRankOrder) {
  {
    gguf::Writer w;
    set_bpe(w, {"a", "b", "ab", "ba"}, {"a b", "b a"});
    auto tok = load(w, "rank_ab");
    ASSERT_TRUE(tok.ok()) << tok.error().message();
    EXPECT_EQ(tok->encode("aba", false, false), (Ids{2, 0}));  // "ab" "a"
  }
  {
    gguf::Writer w;
    set_bpe(w, {"a", "b", "ab", "ba"}, {"b a", "a b"});
    auto tok = load(w, "rank_ba");
    ASSERT_TRUE(tok.ok()) << tok.error().message();
    EXPECT_EQ(tok->encode("aba", false, false), (Ids{0, 3}));  // "a" "ba"
  }
}

TEST(SyntheticBpe, MergePartsNeedNotBeTokens) {
  gguf::Writer w;
  set_bpe(w, {"x", "y", "z", "xyz"}, {"x y", "xy z"});  // "xy" is only an intermediate
  auto tok = load(w, "extra_part");
  ASSERT_TRUE(tok.ok()) << tok.error().message();
  EXPECT_EQ(tok->encode("xyz", false, false), (Ids{3}));
  EXPECT_EQ(tok->encode("xy", false, false), (Ids{0, 1}));  // "xy" is not a token: its chars
}

TEST(SyntheticBpe, UnknownBytesAreDropped) {
  gguf::Writer w;
  set_bpe(w, {"a", "b"}, {"a b"});
  auto tok = load(w, "no_bytes");
  ASSERT_TRUE(tok.ok()) << tok.error().message();
  EXPECT_EQ(tok->encode("acb", false, false), (Ids{0, 1}));  // 'c' has no token
  EXPECT_EQ(tok->bos(), kNoToken);
  EXPECT_FALSE(tok->add_bos());
}

// 11, 43, 171... distinct merges: n + n / 2 rounds down to a power of two, which the rank table
// took as room enough, and the last insert broke its load-factor assertion (a crafted or
// unlucky vocabulary aborted the server at load; found by hangar_fuzz).
TEST(SyntheticBpe, EveryMergeCountFitsTheRankTable) {
  for (int n : {1, 2, 3, 10, 11, 12, 42, 43, 44, 171, 683}) {
    std::vector<std::string> tokens = {"a"}, merges;
    std::string word = "a";
    for (int i = 0; i < n; ++i) {
      merges.push_back(word + " a");
      word += "a";
      tokens.push_back(word);
    }
    gguf::Writer w;
    set_bpe(w, tokens, merges);
    auto tok = load(w, "merges_" + std::to_string(n));
    ASSERT_TRUE(tok.ok()) << n << " merges: " << tok.error().message();
    EXPECT_EQ(tok->encode("aa", false, false), (Ids{1})) << n << " merges";
  }
}

// A byte-level token made of 10,000 code points that stand for no byte (30 KB of CJK): its
// piece used to repeat the whole text after each one (300 MB, seconds to load).
TEST(SyntheticBpe, UnmappedCodePointsRenderInLinearSpace) {
  std::string long_token;
  for (int i = 0; i < 10000; ++i) long_token += "\xE4\xB8\xAD";  // U+4E2D
  gguf::Writer w;
  set_bpe(w, {"a", "b", long_token}, {"a b"});
  auto tok = load(w, "long_token");
  ASSERT_TRUE(tok.ok()) << tok.error().message();
  const std::string piece = tok->token_to_piece(2, true);
  EXPECT_LE(piece.size(), 8 * long_token.size());
  // The first unmapped code point renders as llama.cpp renders it.
  EXPECT_EQ(piece.substr(0, 18 + long_token.size() + 1), "[UNK_BYTE_0xe4b8ad" + long_token + "]");
}

// Texts crafted so that the unseeded hash puts every one in slot 0: with the per-index seed
// they spread like any others. (Each step of the hash is invertible, so for a known seed an
// attacker can pick 8-byte texts with any hash values.)
TEST(TokenIndexSeed, CraftedCollisionsDoNotCluster) {
  constexpr uint64_t kM1 = 0xBF58476D1CE4E5B9ull;
  auto inverse = [](uint64_t a) {
    uint64_t x = a;
    for (int i = 0; i < 6; ++i) x *= 2 - a * x;
    return x;
  };
  const uint64_t h0 = 0x9E3779B97F4A7C15ull ^ (8 * 0xC2B2AE3D27D4EB4Full);
  std::vector<std::string> texts;
  for (uint64_t j = 1; j <= 4096; ++j) {
    const uint64_t out = j << 40;                             // slot bits all zero
    uint64_t h = (out ^ (out >> 32)) * inverse(kM1);          // undo the final mix and multiply
    h ^= (h >> 31) ^ (h >> 62);                               // undo h ^= h >> 31
    const uint64_t w = (h * inverse(kM1)) ^ h0;               // undo (h0 ^ w) * M1
    texts.emplace_back(reinterpret_cast<const char*>(&w), 8);
  }
  tok::TokenIndex fixed;
  ASSERT_EQ(fixed.build(texts, 0), kNoToken);
  ASSERT_GE(fixed.max_probe(), texts.size());  // the crafted texts do collide without a seed
  tok::TokenIndex seeded;
  ASSERT_EQ(seeded.build(texts), kNoToken);
  EXPECT_LT(seeded.max_probe(), 100u);
  for (size_t i = 0; i < texts.size(); ++i) EXPECT_EQ(seeded.find(texts[i]), static_cast<TokenId>(i));
}

TEST(SyntheticSpm, HigherScoreMergesFirst) {
  // "ab" -> "▁ab": bigrams "▁a" and "ab" compete; neither "▁ab" nor "▁" is a token.
  {
    gguf::Writer w;
    set_spm(w, {"\xE2\x96\x81" "a", "ab", "b"}, {-1.0f, -0.5f, -3.0f});
    auto tok = load(w, "spm_ab_first");
    ASSERT_TRUE(tok.ok()) << tok.error().message();
    // "▁" falls back to its three bytes <0xE2><0x96><0x81>.
    EXPECT_EQ(tok->encode("ab", false, false), (Ids{3 + 0xE2, 3 + 0x96, 3 + 0x81, kSpmFirst + 1}));
  }
  {
    gguf::Writer w;
    set_spm(w, {"\xE2\x96\x81" "a", "ab", "b"}, {-0.5f, -1.0f, -3.0f});
    auto tok = load(w, "spm_a_first");
    ASSERT_TRUE(tok.ok()) << tok.error().message();
    EXPECT_EQ(tok->encode("ab", false, false), (Ids{kSpmFirst, kSpmFirst + 2}));
    EXPECT_EQ(tok->decode(tok->encode("ab", true, false), false), " ab");
  }
}

TEST(SyntheticSpm, AddSpacePrefixCanBeTurnedOff) {
  gguf::Writer w;
  set_spm(w, {"\xE2\x96\x81" "a", "a"}, {-1.0f, -2.0f});
  w.set("tokenizer.ggml.add_space_prefix", Value::boolean(false));
  auto tok = load(w, "spm_no_prefix");
  ASSERT_TRUE(tok.ok()) << tok.error().message();
  EXPECT_EQ(tok->encode("a", false, false), (Ids{kSpmFirst + 1}));
  EXPECT_EQ(tok->decode({kSpmFirst}, false), " a");  // nothing to strip either
}

TEST(SyntheticSpm, SpecialIdsComeFromMetadata) {
  gguf::Writer w;
  set_spm(w, {"x"}, {0.0f});
  w.set("tokenizer.ggml.eos_token_id", Value::u32(kSpmFirst));
  w.set("tokenizer.ggml.add_eos_token", Value::boolean(true));
  w.set("tokenizer.ggml.add_bos_token", Value::boolean(false));
  w.set("tokenizer.ggml.padding_token_id", Value::u32(100000));  // out of range: ignored
  auto tok = load(w, "spm_ids");
  ASSERT_TRUE(tok.ok()) << tok.error().message();
  EXPECT_EQ(tok->bos(), 1);  // SentencePiece default
  EXPECT_EQ(tok->eos(), kSpmFirst);
  EXPECT_EQ(tok->pad(), kNoToken);
  EXPECT_TRUE(tok->is_eog(kSpmFirst));
  EXPECT_EQ(tok->encode("", true, false), (Ids{kSpmFirst}));
}

// Each malformed vocabulary fails with a message naming the offending key.
void expect_error(gguf::Writer& w, const std::string& name, const std::string& needle) {
  auto tok = load(w, name);
  ASSERT_FALSE(tok.ok()) << name;
  EXPECT_NE(tok.error().message().find(needle), std::string::npos) << tok.error().message();
}

TEST(TokenizerErrors, NameTheProblem) {
  {
    gguf::Writer w;
    w.set("general.architecture", Value::string("llama"));
    expect_error(w, "no_model", "tokenizer.ggml.model");
  }
  {
    gguf::Writer w;
    set_bpe(w, {"a"}, {});
    w.set("tokenizer.ggml.model", Value::string("bert"));
    expect_error(w, "bert", "bert");
  }
  {
    gguf::Writer w;
    set_bpe(w, {"a"}, {});
    w.set("tokenizer.ggml.pre", Value::string("martian"));
    expect_error(w, "martian", "martian");
  }
  {
    gguf::Writer w;
    w.set("tokenizer.ggml.model", Value::string("gpt2"));
    w.set("tokenizer.ggml.pre", Value::string("gpt-2"));
    expect_error(w, "no_tokens", "tokenizer.ggml.tokens");
  }
  {
    gguf::Writer w;
    set_bpe(w, {"a", "b", "a"}, {});
    expect_error(w, "duplicate", "duplicate token 'a'");
  }
  {
    gguf::Writer w;
    set_bpe(w, {"a", "b"}, {});
    w.remove("tokenizer.ggml.merges");
    expect_error(w, "no_merges", "tokenizer.ggml.merges");
  }
  {
    gguf::Writer w;
    set_spm(w, {"x"}, {0.0f});
    w.set("tokenizer.ggml.scores", Value::f32_array({0.0f, 1.0f}));
    expect_error(w, "short_scores", "tokenizer.ggml.scores");
  }
  {
    gguf::Writer w;
    set_spm(w, {"x"}, {0.0f});
    w.set("tokenizer.ggml.token_type", Value::string_array({"normal"}));
    expect_error(w, "bad_types", "tokenizer.ggml.token_type");
  }
  {
    gguf::Writer w;
    set_bpe(w, {"a"}, {});
    w.set("tokenizer.ggml.add_bos_token", Value::boolean(true));
    expect_error(w, "bos_missing", "tokenizer.ggml.add_bos_token");
  }
}

}  // namespace
}  // namespace hangar
