// llama.cpp's tokenizer vectors for the seven shared vocabularies: ids and round trips.
#include <gtest/gtest.h>

#include "tokenizer/tokenizer_test_util.h"

namespace hangar {
namespace {

using testing::read_vocab_cases;
using testing::shared_tokenizer;

class VocabVectors : public ::testing::TestWithParam<std::string> {};

std::string ids_to_string(const std::vector<TokenId>& ids) {
  std::string s;
  for (TokenId id : ids) s += " " + std::to_string(id);
  return s;
}

// test-tokenizer-0 tokenizes with add_special=false, parse_special=false.
TEST_P(VocabVectors, EncodeMatchesLlamaCpp) {
  const Tokenizer& tok = shared_tokenizer(GetParam());
  const auto cases = read_vocab_cases(GetParam());
  ASSERT_GE(cases.size(), 40u);
  for (const auto& c : cases) {
    EXPECT_EQ(ids_to_string(tok.encode(c.text, false, false)), ids_to_string(c.ids))
        << "input: '" << c.text << "'";
  }
}

// Decoding gives the input back, except where llama.cpp's decoder does not either: the
// gpt-2 and llama-bpe types clean up spaces, which in these inputs only turns " ?" into "?".
TEST_P(VocabVectors, DecodeRoundTrips) {
  const Tokenizer& tok = shared_tokenizer(GetParam());
  const bool cleans_spaces = GetParam() == "gpt-2" || GetParam() == "llama-bpe";
  int changed = 0;
  for (const auto& c : read_vocab_cases(GetParam())) {
    std::string expected = c.text;
    for (size_t p; cleans_spaces && (p = expected.find(" ?")) != std::string::npos;) {
      expected.erase(p, 1);
      ++changed;
    }
    EXPECT_EQ(tok.decode(c.ids, false), expected) << "ids:" << ids_to_string(c.ids);
  }
  EXPECT_EQ(changed, cleans_spaces ? 2 : 0);
}

INSTANTIATE_TEST_SUITE_P(SharedVocabs, VocabVectors,
                         ::testing::Values("llama-spm", "phi-3", "llama-bpe", "qwen2", "qwen35",
                                           "gpt-2", "deepseek-coder"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& ch : n) if (ch == '-') ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace hangar
