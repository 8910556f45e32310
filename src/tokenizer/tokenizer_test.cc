// Tokenizer behaviour on the shared vocabularies: special tokens, BOS/EOS, pieces, decode.
#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include "tokenizer/tokenizer_test_util.h"

namespace hangar {
namespace {

using Ids = std::vector<TokenId>;
using testing::shared_tokenizer;

TEST(TokenizerSpecial, AddSpecialFollowsTheVocabulary) {
  const Tokenizer& spm = shared_tokenizer("llama-spm");
  EXPECT_TRUE(spm.add_bos());
  EXPECT_FALSE(spm.add_eos());
  EXPECT_EQ(spm.encode("Hello world", true, false), (Ids{1, 15043, 3186}));
  EXPECT_EQ(spm.encode("Hello world", false, false), (Ids{15043, 3186}));
  EXPECT_EQ(spm.encode("", true, false), (Ids{1}));
  EXPECT_EQ(spm.encode("", false, false), (Ids{}));

  // llama-bpe has no add_bos_token key; the llama3 pre-tokenizer type implies it.
  const Tokenizer& llama3 = shared_tokenizer("llama-bpe");
  EXPECT_TRUE(llama3.add_bos());
  EXPECT_EQ(llama3.encode("Hello", true, false), (Ids{128000, 9906}));

  const Tokenizer& qwen = shared_tokenizer("qwen2");
  EXPECT_FALSE(qwen.add_bos());
  EXPECT_EQ(qwen.encode("Hello", true, false), (Ids{9707}));

  EXPECT_TRUE(shared_tokenizer("deepseek-coder").add_bos());  // add_bos_token = true
  EXPECT_EQ(shared_tokenizer("deepseek-coder").encode("", true, false), (Ids{32013}));
}

TEST(TokenizerSpecial, ParseSpecialRecognisesControlTokens) {
  const Tokenizer& qwen = shared_tokenizer("qwen2");
  EXPECT_EQ(qwen.encode("<|im_start|>user\nHi<|im_end|>", false, true),
            (Ids{151644, 872, 198, 13048, 151645}));
  const Ids plain = qwen.encode("<|im_start|>user", false, false);
  EXPECT_GT(plain.size(), 2u);
  for (TokenId id : plain) EXPECT_NE(id, 151644);
}

TEST(TokenizerSpecial, UserDefinedTokensAreAlwaysRecognised) {
  const Tokenizer& qwen = shared_tokenizer("qwen2");
  EXPECT_EQ(qwen.encode("Hi[PAD151646]Hi", false, false), (Ids{13048, 151646, 13048}));
}

TEST(TokenizerSpecial, SpmPrefixesASpaceAfterEachSpecialToken) {
  const Tokenizer& spm = shared_tokenizer("llama-spm");
  EXPECT_EQ(spm.encode("<s>Hello", false, true), (Ids{1, 15043}));
  EXPECT_EQ(spm.encode("Hello<s>Hello", false, true), (Ids{15043, 1, 15043}));
}

TEST(TokenizerSpecial, Phi3SpecialTokensSwallowFollowingWhitespace) {
  const Tokenizer& phi = shared_tokenizer("phi-3");
  // <|user|> strips the "\n" after it (rstrip), then the text gets its space prefix.
  EXPECT_EQ(phi.encode("<|user|>\nHi", false, true), (Ids{32010, 6324}));
  // llama-spm's <s> has no strip attribute: the newline stays.
  EXPECT_EQ(shared_tokenizer("llama-spm").encode("<s>\nHi", false, true).size(), 4u);
}

TEST(TokenizerBounds, NoTokenCoversMoreInputThanItsText) {
  for (const char* name : {"llama-spm", "qwen2", "phi-3", "gpt-2"}) {
    const Tokenizer& tok = shared_tokenizer(name);
    const size_t longest = tok.longest_token_bytes();
    const std::string text = "Hello,   world!\n\t<|user|> <s> 12345 \xe4\xbd\xa0\xe5\xa5\xbd  \xff end";
    const auto ids = tok.encode(text, false, true);
    // The bound the server checks before encoding: ceil(bytes / longest) tokens at least.
    EXPECT_GE(ids.size() * longest, tok.strips_whitespace() ? text.size() - 12 : text.size()) << name;
    for (int32_t id = 0; id < tok.n_vocab(); ++id) ASSERT_LE(tok.token_text(id).size(), longest) << name;
  }
  EXPECT_TRUE(shared_tokenizer("phi-3").strips_whitespace());
  EXPECT_FALSE(shared_tokenizer("llama-spm").strips_whitespace());
  EXPECT_FALSE(shared_tokenizer("qwen2").strips_whitespace());
}

TEST(TokenizerSpecial, EndOfGenerationSets) {
  const Tokenizer& llama3 = shared_tokenizer("llama-bpe");
  EXPECT_EQ(llama3.eos(), 128001);
  EXPECT_EQ(llama3.eog_ids(), (Ids{128001, 128009}));  // <|end_of_text|>, <|eot_id|>
  EXPECT_FALSE(llama3.is_eog(128000));
  EXPECT_EQ(llama3.eot(), 128009);

  const Tokenizer& qwen = shared_tokenizer("qwen2");
  EXPECT_TRUE(qwen.is_eog(151643));
  EXPECT_TRUE(qwen.is_eog(151645));  // <|im_end|>
  EXPECT_FALSE(qwen.is_eog(151644));

  const Tokenizer& phi = shared_tokenizer("phi-3");
  EXPECT_TRUE(phi.is_eog(32000));  // eos <|endoftext|>
  EXPECT_TRUE(phi.is_eog(32007));  // <|end|>
  EXPECT_FALSE(phi.is_eog(32010));
  EXPECT_FALSE(phi.is_eog(-1));
}

TEST(TokenizerPieces, RenderLikeLlamaCpp) {
  const Tokenizer& spm = shared_tokenizer("llama-spm");
  EXPECT_EQ(spm.token_to_piece(13, false), "\n");  // <0x0A>
  EXPECT_EQ(spm.token_to_piece(15043, false), " Hello");
  EXPECT_EQ(spm.token_to_piece(1, false), "");
  EXPECT_EQ(spm.token_to_piece(1, true), "<s>");
  EXPECT_EQ(spm.token_to_piece(229, false), "\xE2");  // a lone byte token
  EXPECT_EQ(spm.token_to_piece(-1, true), "");
  EXPECT_EQ(spm.token_to_piece(32000, true), "");
  EXPECT_TRUE(spm.is_byte(13));
  EXPECT_TRUE(spm.is_control(1));
  EXPECT_EQ(spm.nl(), 13);

  const Tokenizer& gpt2 = shared_tokenizer("gpt-2");
  EXPECT_EQ(gpt2.token_to_piece(995, false), " world");  // "Ġworld"
  EXPECT_EQ(gpt2.token_to_piece(50256, false), "");
  EXPECT_EQ(gpt2.token_to_piece(50256, true), "<|endoftext|>");
  EXPECT_EQ(shared_tokenizer("llama-bpe").nl(), 198);  // "Ċ"
}

TEST(TokenizerDecode, SpmDropsOnlyTheFirstLeadingSpace) {
  const Tokenizer& spm = shared_tokenizer("llama-spm");
  EXPECT_EQ(spm.decode({15043, 3186}, false), "Hello world");
  // A hidden BOS still counts as the first token, as in llama_detokenize.
  EXPECT_EQ(spm.decode({1, 15043, 3186}, false), " Hello world");
  EXPECT_EQ(spm.decode({1, 15043, 3186}, true), "<s> Hello world");
  EXPECT_EQ(spm.decode(spm.encode("  two spaces", false, false), false), "  two spaces");
}

TEST(TokenizerDecode, CleanSpacesOnlyForTypesThatAskForIt) {
  const Tokenizer& gpt2 = shared_tokenizer("gpt-2");
  EXPECT_EQ(gpt2.decode(gpt2.encode("Hello , world ! it 's", false, false), false),
            "Hello, world! it's");
  EXPECT_EQ(gpt2.decode(gpt2.encode("a ' b", false, false), false), "a'b");
  EXPECT_EQ(gpt2.decode(gpt2.encode("I 'm, you 're, it 'd", false, false), false),
            "I'm, you're, it 'd");
  const Tokenizer& qwen = shared_tokenizer("qwen2");
  EXPECT_EQ(qwen.decode(qwen.encode("Hello , world ! it 's", false, false), false),
            "Hello , world ! it 's");
}

TEST(TokenizerDecode, ControlTokensOnlyWhenSpecial) {
  const Tokenizer& qwen = shared_tokenizer("qwen2");
  const Ids ids = qwen.encode("<|im_start|>user<|im_end|>", false, true);
  EXPECT_EQ(qwen.decode(ids, false), "user");
  EXPECT_EQ(qwen.decode(ids, true), "<|im_start|>user<|im_end|>");
}

TEST(TokenizerVocab, LooksUpTokens) {
  const Tokenizer& qwen = shared_tokenizer("qwen2");
  EXPECT_EQ(qwen.n_vocab(), 151936);
  EXPECT_EQ(qwen.find_token("<|im_end|>"), 151645);
  EXPECT_EQ(qwen.find_token("no such token at all"), std::nullopt);
  EXPECT_EQ(qwen.token_text(198), "\xC4\x8A");  // "Ċ"
  EXPECT_EQ(qwen.model(), "gpt2");
  EXPECT_EQ(qwen.pre(), "qwen2");
  EXPECT_EQ(shared_tokenizer("llama-spm").model(), "llama");
}

TEST(TokenizerEncode, InvalidUtf8NeverFails) {
  for (const char* name : {"llama-spm", "llama-bpe", "qwen2", "gpt-2"}) {
    const Tokenizer& tok = shared_tokenizer(name);
    const Ids ids = tok.encode("ok \xFF\xC3 bad \xE4\xB8", false, false);
    EXPECT_FALSE(ids.empty()) << name;
    for (TokenId id : ids) EXPECT_TRUE(id >= 0 && id < tok.n_vocab()) << name;
  }
  // SPM keeps the raw bytes as byte tokens, so they decode back exactly.
  const Tokenizer& spm = shared_tokenizer("llama-spm");
  EXPECT_EQ(spm.decode(spm.encode("ok \xFF\xC3", false, false), false), "ok \xFF\xC3");
}

}  // namespace
}  // namespace hangar
