// Pre-tokenizer cascades: word splits that follow from llama.cpp's regexes and its
// treatment of whitespace, categories and invalid bytes.
#include "tokenizer/pre_tokenizer.h"

#include <gtest/gtest.h>

namespace hangar::tok {
namespace {

using Words = std::vector<std::string>;

Words split(const std::string& pre, const std::string& text) {
  auto p = PreTokenizer::create(pre);
  EXPECT_TRUE(p.ok()) << p.error().message();
  Words words;
  p->split(text, words);
  return words;
}

TEST(PreTokenizer, Gpt2SplitsWordsNumbersAndSpaces) {
  EXPECT_EQ(split("gpt-2", "Hello world"), (Words{"Hello", " world"}));
  EXPECT_EQ(split("gpt-2", "Hello  world"), (Words{"Hello", " ", " world"}));
  EXPECT_EQ(split("gpt-2", "I'm 12345!!"), (Words{"I", "'m", " 12345", "!!"}));
  // A lone newline before a word matches nothing and stays a piece of its own.
  EXPECT_EQ(split("gpt-2", "a\n\nb"), (Words{"a", "\n", "\n", "b"}));
  EXPECT_EQ(split("gpt-2", "a  "), (Words{"a", "  "}));
}

TEST(PreTokenizer, Llama3GroupsDigitsInThreesAndNewlines) {
  EXPECT_EQ(split("llama-bpe", "  Hello"), (Words{" ", " Hello"}));
  EXPECT_EQ(split("llama-bpe", "12345"), (Words{"123", "45"}));
  EXPECT_EQ(split("llama-bpe", "HELLO'S don't"), (Words{"HELLO", "'S", " don", "'t"}));
  EXPECT_EQ(split("llama-bpe", "\n\n  x"), (Words{"\n\n", " ", " x"}));
  EXPECT_EQ(split("llama-bpe", "hello!!\n\nworld"), (Words{"hello", "!!\n\n", "world"}));
}

TEST(PreTokenizer, Qwen2SplitsSingleDigits) {
  EXPECT_EQ(split("qwen2", "12345"), (Words{"1", "2", "3", "4", "5"}));
}

TEST(PreTokenizer, Qwen35KeepsCombiningMarksWithTheirLetter) {
  const std::string e_acute = "e\xCC\x81";  // e + U+0301
  EXPECT_EQ(split("qwen2", e_acute), (Words{"e", "\xCC\x81"}));
  EXPECT_EQ(split("qwen35", e_acute), (Words{e_acute}));
}

TEST(PreTokenizer, DeepseekCoderCascadesRegexes) {
  EXPECT_EQ(split("deepseek-coder", "a1b"), (Words{"a", "1", "b"}));
  EXPECT_EQ(split("deepseek-coder", "x\ny"), (Words{"x", "\n", "y"}));
  EXPECT_EQ(split("deepseek-coder", "12"), (Words{"1", "2"}));
  // CJK letters join the letter run first; the CJK regex then splits them off.
  EXPECT_EQ(split("deepseek-coder", "\xE4\xBD\xA0\xE5\xA5\xBD" "a"),
            (Words{"\xE4\xBD\xA0\xE5\xA5\xBD", "a"}));
}

TEST(PreTokenizer, DeepseekLlmSplitsLettersThenNumbers) {
  EXPECT_EQ(split("deepseek-llm", "Hello world 123"), (Words{"Hello", " world", " ", "123"}));
  EXPECT_EQ(split("deepseek-llm", "a!? b"), (Words{"a", "!?", " b"}));
}

TEST(PreTokenizer, EverySupportedTypeCompiles) {
  for (const char* name :
       {"", "default", "llama3", "llama-bpe", "dbrx", "smaug-bpe", "chatglm-bpe", "gpt-2", "mpt",
        "olmo", "trillion", "starcoder", "refact", "command-r", "smollm", "qwen2", "stablelm2",
        "qwen35", "deepseek-llm", "deepseek-coder", "deepseek-v3", "falcon", "poro-chat", "bloom",
        "viking"}) {
    auto p = PreTokenizer::create(name);
    ASSERT_TRUE(p.ok()) << name << ": " << p.error().message();
    Words words;
    p->split("Hello, world! 12345 \xE4\xBD\xA0\xE5\xA5\xBD\n", words);
    std::string joined;
    for (const auto& w : words) joined += w;
    EXPECT_EQ(joined, "Hello, world! 12345 \xE4\xBD\xA0\xE5\xA5\xBD\n") << name;
  }
}

TEST(PreTokenizer, DeepseekV3TreatsTildeAsNeitherPunctuationNorSymbol) {
  // llama.cpp's collapsed \p{S} lacks '~', so '~' may prefix a letter run; '!' may not.
  EXPECT_EQ(split("deepseek-v3", "~\xC3\xA9"), (Words{"~\xC3\xA9"}));
  EXPECT_EQ(split("deepseek-v3", "!\xC3\xA9"), (Words{"!", "\xC3\xA9"}));
}

TEST(PreTokenizer, NonAsciiWhitespaceIsWhitespace) {
  // U+3000 and U+0085 count as \s, as in llama.cpp (PCRE2 alone does not count U+0085).
  EXPECT_EQ(split("llama-bpe", "a\xE3\x80\x80" "b"), (Words{"a", "\xE3\x80\x80" "b"}));
  EXPECT_EQ(split("llama-bpe", "a\xC2\x85\xC2\x85" "b"), (Words{"a", "\xC2\x85", "\xC2\x85" "b"}));
}

TEST(PreTokenizer, InvalidBytesBecomeReplacementChars) {
  EXPECT_EQ(split("gpt-2", "a\xFF" "b"), (Words{"a", "\xEF\xBF\xBD", "b"}));
}

TEST(PreTokenizer, LongRunsSplitInOnePass) {
  std::string accents;
  for (int i = 0; i < 5000; ++i) accents += "\xC3\xA0";
  EXPECT_EQ(split("qwen35", accents), (Words{accents}));
  EXPECT_EQ(split("llama-bpe", std::string(10000, ' ') + "x").size(), 2u);
}

TEST(PreTokenizer, UnknownTypeIsAnError) {
  auto p = PreTokenizer::create("no-such-pre");
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().message().find("no-such-pre"), std::string::npos);
}

TEST(PreTokenizer, FlagsFollowLlamaCpp) {
  EXPECT_TRUE(PreTokenizer::create("llama-bpe")->flags().ignore_merges);
  EXPECT_TRUE(PreTokenizer::create("llama-bpe")->flags().add_bos);
  EXPECT_TRUE(PreTokenizer::create("gpt-2")->flags().clean_spaces);
  EXPECT_FALSE(PreTokenizer::create("qwen2")->flags().clean_spaces);
  EXPECT_FALSE(PreTokenizer::create("qwen2")->flags().ignore_merges);
}

}  // namespace
}  // namespace hangar::tok
