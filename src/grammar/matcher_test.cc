// Matcher: the trie-walk mask equals token-by-token checks, on real vocabularies and many states.
#include "grammar/matcher.h"

#include <gtest/gtest.h>

#include "grammar/grammar_test_util.h"
#include "grammar/json_schema.h"

namespace hangar::grammar {
namespace {

using json = nlohmann::ordered_json;

// The mask a token-by-token check gives: each token tried on a copy of the matcher.
std::vector<uint64_t> brute_force_mask(const Matcher& m, int32_t n_vocab) {
  std::vector<uint64_t> mask((n_vocab + 63) / 64, 0);
  for (int32_t id = 0; id < n_vocab; ++id) {
    Matcher copy = m;
    if (copy.accept(id)) mask[id >> 6] |= uint64_t{1} << (id & 63);
  }
  return mask;
}

void expect_masks_agree(const Grammar& g, const std::string& vocab_name, const std::vector<std::string>& prefixes) {
  auto c = testing::constraint(g, vocab_name);
  const int32_t n_vocab = c->vocab->n_vocab();
  for (const std::string& prefix : prefixes) {
    Matcher m(c);
    ASSERT_TRUE(m.accept_bytes(prefix)) << prefix;
    std::vector<uint64_t> fast((n_vocab + 63) / 64);
    m.fill_mask(fast.data());
    const std::vector<uint64_t> slow = brute_force_mask(m, n_vocab);
    size_t allowed = 0, differ = 0;
    for (size_t w = 0; w < fast.size(); ++w) {
      allowed += __builtin_popcountll(slow[w]);
      differ += __builtin_popcountll(fast[w] ^ slow[w]);
    }
    EXPECT_EQ(differ, 0u) << vocab_name << " after '" << prefix << "': " << allowed << " allowed";
    EXPECT_GT(allowed, 0u) << prefix;
  }
}

TEST(Matcher, MaskEqualsTokenByTokenChecksQwen2) {
  const json schema = json::parse(R"({"type": "object", "properties": {
      "name": {"type": "string"}, "short": {"type": "string", "maxLength": 3},
      "n": {"type": "integer", "minimum": -5, "maximum": 300}, "xs": {"type": "array", "items": {"type": "number"}},
      "code": {"type": "string", "pattern": "^[A-Z]{2}-\\d+$"}}, "required": ["name"]})");
  Result<Grammar> g = compile_json_schema(schema);
  ASSERT_TRUE(g.ok());
  expect_masks_agree(*g, "qwen2",
                     {"", "{", "{\"na", "{\"name\": \"", "{\"name\": \"ab\\", "{\"name\": \"x\\u00",
                      "{\"name\": \"\xC3", "{\"name\": \"\xE2\x82", "{\"name\": \"a\"", "{\"name\": \"a\", \"short\": \"ab",
                      "{\"name\": \"a\", \"n\": 2", "{\"name\": \"a\", \"xs\": [1.5, ", "{\"name\":\"\",\"code\":\"AB-1"});
}

TEST(Matcher, MaskEqualsTokenByTokenChecksSpmVocab) {
  Result<Grammar> g = compile_json_schema(json::parse(R"({"type": "array", "items": {"type": "string"}})"));
  ASSERT_TRUE(g.ok());
  expect_masks_agree(*g, "llama-spm", {"", "[", "[\"", "[\"a b", "[\"x\", "});
  expect_masks_agree(any_json_object_grammar(), "llama-bpe", {"", "{\"k\": [tr", "{\"k\": {\"", "{\"k\": -0."});
}

TEST(Matcher, EndOfGenerationOnlyWhenComplete) {
  Result<Grammar> g = compile_json_schema(json::parse(R"({"type": "integer", "minimum": 0, "maximum": 50})"));
  ASSERT_TRUE(g.ok());
  auto c = testing::constraint(*g);
  const int32_t eos = c->vocab->eog().front();
  Matcher m(c);
  EXPECT_FALSE(m.accept(eos));
  ASSERT_TRUE(m.accept_bytes("4"));
  EXPECT_TRUE(m.can_end());
  EXPECT_FALSE(m.must_end());  // 40..49 may follow
  Matcher copy = m;
  ASSERT_TRUE(copy.accept_bytes("9"));
  EXPECT_TRUE(copy.must_end());
  EXPECT_TRUE(m.accept(eos));
  EXPECT_FALSE(m.accept_bytes("1"));
}

TEST(Matcher, RefusedTokensLeaveTheStateAlone) {
  Result<Grammar> g = compile_json_schema(json::parse(R"({"enum": ["alpha", "beta"]})"));
  ASSERT_TRUE(g.ok());
  Matcher m(testing::constraint(*g));
  ASSERT_TRUE(m.accept_bytes("\"al"));
  EXPECT_FALSE(m.accept_bytes("pz"));
  EXPECT_TRUE(m.accept_bytes("pha\""));
  EXPECT_TRUE(m.must_end());
}

}  // namespace
}  // namespace hangar::grammar
