// SentencePiece-style BPE: bigrams merged by vocabulary score with byte fallback, as
// llama.cpp's SPM tokenizer does.
#pragma once

#include <array>
#include <string_view>
#include <vector>

#include "tokenizer/token_index.h"

namespace hangar::tok {

// Immutable after build(); encode() is thread-safe.
class SpmModel {
 public:
  // `byte_token(b)`: the "<0xXX>" token, else the token whose text is that one byte, else
  // `unk` (llama.cpp aborts there; an unknown id keeps the output aligned instead).
  static SpmModel build(const TokenIndex& index, TokenId unk);

  // Tokenizes `text` (spaces already escaped to U+2581 by the caller) and appends the ids.
  // `scores[id]` ranks the merges: the highest-scoring adjacent pair that is a token merges
  // first, leftmost on ties. A piece that is not a token is emitted as byte tokens.
  void encode(std::string_view text, const TokenIndex& index, const std::vector<float>& scores,
              std::vector<TokenId>& out) const;

  TokenId byte_token(uint8_t b) const { return byte_tokens_[b]; }

 private:
  std::array<TokenId, 256> byte_tokens_{};
};

}  // namespace hangar::tok
