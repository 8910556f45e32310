// StreamingDetokenizer: UTF-8 split across byte tokens, emoji, CJK, invalid bytes.
#include <gtest/gtest.h>

#include "tokenizer/tokenizer_test_util.h"
#include "tokenizer/unicode.h"

namespace hangar {
namespace {

using testing::shared_tokenizer;

std::vector<std::string> stream_all(const Tokenizer& tok, const std::vector<TokenId>& ids) {
  StreamingDetokenizer stream(tok);
  std::vector<std::string> parts;
  for (TokenId id : ids) parts.push_back(stream.push(id));
  parts.push_back(stream.flush());
  return parts;
}

TEST(StreamingDetokenizer, HoldsAnEmojiUntilItsLastByteToken) {
  const Tokenizer& spm = shared_tokenizer("llama-spm");
  // 🦙 (F0 9F A6 99) is not in the SPM vocabulary: four byte tokens.
  const std::vector<TokenId> ids = spm.encode("\xF0\x9F\xA6\x99", false, false);
  ASSERT_EQ(ids.size(), 5u);  // "▁" + four bytes
  EXPECT_EQ(stream_all(spm, ids),
            (std::vector<std::string>{" ", "", "", "", "\xF0\x9F\xA6\x99", ""}));
}

TEST(StreamingDetokenizer, KeepsTheLeadingSpaceOfGeneratedText) {
  const Tokenizer& spm = shared_tokenizer("llama-spm");
  StreamingDetokenizer stream(spm);
  EXPECT_EQ(stream.push(15043), " Hello");  // decode() would strip this space
  EXPECT_EQ(stream.push(3186), " world");
}

TEST(StreamingDetokenizer, CjkSplitAcrossByteLevelTokens) {
  const Tokenizer& qwen = shared_tokenizer("qwen2");
  // 我想在京都
  const std::string text = "\xE6\x88\x91\xE6\x83\xB3\xE5\x9C\xA8\xE4\xBA\xAC\xE9\x83\xBD";
  std::string joined;
  StreamingDetokenizer stream(qwen);
  for (TokenId id : qwen.encode(text, false, false)) {
    std::string part = stream.push(id);
    EXPECT_EQ(tok::sanitize_utf8(part), part);  // every part is valid UTF-8 on its own
    joined += part;
  }
  EXPECT_EQ(stream.pending_bytes(), 0u);
  EXPECT_EQ(joined + stream.flush(), text);
}

TEST(StreamingDetokenizer, FlushReplacesAnUnfinishedSequence) {
  const Tokenizer& spm = shared_tokenizer("llama-spm");
  StreamingDetokenizer stream(spm);
  EXPECT_EQ(stream.push(3 + 0xF0), "");  // <0xF0>
  EXPECT_EQ(stream.push(3 + 0x9F), "");  // <0x9F>
  EXPECT_EQ(stream.pending_bytes(), 2u);
  EXPECT_EQ(stream.flush(), "\xEF\xBF\xBD");
  EXPECT_EQ(stream.pending_bytes(), 0u);
  EXPECT_EQ(stream.push(15043), " Hello");
}

TEST(StreamingDetokenizer, BytesThatCannotCompleteAreReplacedAtOnce) {
  const Tokenizer& spm = shared_tokenizer("llama-spm");
  StreamingDetokenizer stream(spm);
  EXPECT_EQ(stream.push(3 + 0xE4), "");            // lead of a 3-byte sequence
  EXPECT_EQ(stream.push(3 + 0x41), "\xEF\xBF\xBD" "A");  // 'A' breaks it
  EXPECT_EQ(stream.push(3 + 0xFF), "\xEF\xBF\xBD");      // never valid
}

TEST(StreamingDetokenizer, SpecialTokensOnlyWhenAsked) {
  const Tokenizer& qwen = shared_tokenizer("qwen2");
  StreamingDetokenizer hidden(qwen);
  StreamingDetokenizer shown(qwen, true);
  EXPECT_EQ(hidden.push(151645), "");
  EXPECT_EQ(shown.push(151645), "<|im_end|>");
}

// For every vector input, streaming the ids reproduces the input (SPM: after the space
// the tokenizer prefixed).
TEST(StreamingDetokenizer, ReproducesTheVectorInputs) {
  for (const char* name : {"llama-spm", "qwen2", "qwen35", "deepseek-coder"}) {
    const Tokenizer& tok = shared_tokenizer(name);
    const bool spm = tok.model() == "llama";
    for (const auto& c : testing::read_vocab_cases(name)) {
      std::string joined;
      for (const auto& part : stream_all(tok, c.ids)) joined += part;
      const std::string expected = spm && !c.text.empty() ? " " + c.text : c.text;
      EXPECT_EQ(joined, tok::sanitize_utf8(expected)) << name;
    }
  }
}

}  // namespace
}  // namespace hangar
