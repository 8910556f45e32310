// GrammarBuilder: repetition counts, alternatives, special tokens and the left-recursion check.
#include "grammar/grammar.h"

#include <gtest/gtest.h>

#include "grammar/grammar_test_util.h"

namespace hangar::grammar {
namespace {

using testing::matches;

Grammar build(GrammarBuilder& b, uint32_t root) {
  Result<Grammar> g = std::move(b).build(root);
  EXPECT_TRUE(g.ok()) << (g.ok() ? "" : g.error().message());
  return std::move(g).value();
}

TEST(Grammar, RepeatHonoursMinAndMax) {
  GrammarBuilder b;
  const uint32_t r = b.repeat(b.literal("ab"), 2, 4, "ab");
  const Grammar g = build(b, r);
  EXPECT_FALSE(matches(g, "ab"));
  EXPECT_TRUE(matches(g, "abab"));
  EXPECT_TRUE(matches(g, "ababab"));
  EXPECT_TRUE(matches(g, "abababab"));
  EXPECT_FALSE(matches(g, "ababababab"));
  EXPECT_FALSE(matches(g, "aba"));
}

TEST(Grammar, UnboundedRepeatDoesNotGrowTheStack) {
  GrammarBuilder b;
  const uint32_t r = b.repeat({b.byte('x')}, 0, -1, "xs");
  const Grammar g = build(b, r);
  Matcher m(testing::constraint(g));
  for (int i = 0; i < 10000; ++i) ASSERT_TRUE(m.accept_bytes("x"));
  EXPECT_TRUE(m.can_end());
  EXPECT_EQ(m.n_stacks(), 2u);  // another x, or the end
}

TEST(Grammar, ChoiceAndNesting) {
  GrammarBuilder b;
  const uint32_t inner = b.choice({b.literal("cat"), b.literal("car"), {}}, "inner");
  const uint32_t root = b.choice({concat(b.literal("<"), {GrammarBuilder::ref(inner), b.byte('>')})}, "root");
  const Grammar g = build(b, root);
  EXPECT_TRUE(matches(g, "<cat>"));
  EXPECT_TRUE(matches(g, "<car>"));
  EXPECT_TRUE(matches(g, "<>"));
  EXPECT_FALSE(matches(g, "<ca>"));
  EXPECT_FALSE(matches(g, "<cat"));
  EXPECT_NE(g.to_string().find("inner ::= \"c\" \"a\" \"t\" | \"c\" \"a\" \"r\" | \"\""), std::string::npos)
      << g.to_string();
}

TEST(Grammar, LeftRecursionIsAnError) {
  GrammarBuilder b;
  const uint32_t a = b.add_rule("a");
  const uint32_t opt = b.choice({{}, b.literal("-")}, "opt");
  b.add_alt(a, {GrammarBuilder::ref(opt), GrammarBuilder::ref(a), b.byte('x')});
  b.add_alt(a, b.literal("y"));
  Result<Grammar> g = std::move(b).build(a);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.error().message().find("left-recursive"), std::string::npos);
}

TEST(Grammar, RuleWithoutAlternativeIsAnError) {
  GrammarBuilder b;
  const uint32_t a = b.add_rule("a");
  Result<Grammar> g = std::move(b).build(a);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.error().message().find("'a'"), std::string::npos);
}

TEST(Grammar, SpecialTokensMatchOnlyAsTokens) {
  // Qwen2's <|im_start|> is a control token: its text is not emitted, so only the token fits.
  auto v = testing::vocab("qwen2");
  const int32_t im_start = testing::tokenizer("qwen2").find_token("<|im_start|>").value_or(-1);
  ASSERT_GE(im_start, 0);
  ASSERT_TRUE(v->text(im_start).empty());
  GrammarBuilder b;
  const uint32_t root = b.choice({{GrammarBuilder::token(im_start), b.byte('x')}}, "root");
  const Grammar g = build(b, root);
  Matcher m(testing::constraint(g));
  std::vector<uint64_t> mask((v->n_vocab() + 63) / 64);
  m.fill_mask(mask.data());
  size_t allowed = 0;
  for (uint64_t w : mask) allowed += __builtin_popcountll(w);
  EXPECT_EQ(allowed, 1u);
  EXPECT_TRUE((mask[im_start >> 6] >> (im_start & 63)) & 1);
  EXPECT_FALSE(m.accept_bytes("x"));
  EXPECT_TRUE(m.accept(im_start));
  EXPECT_TRUE(m.accept_bytes("x"));
  EXPECT_TRUE(m.must_end());
}

}  // namespace
}  // namespace hangar::grammar
