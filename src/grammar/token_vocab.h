// TokenVocab: a model's token texts as a byte trie, built once per model for grammar masks.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace hangar::grammar {

// Every token whose text the detokenizer emits (token_to_piece without special tokens; control
// tokens and empty pieces are left out) in a trie laid out in depth-first order, so that a
// node's subtree is a contiguous range of nodes and of tokens. Immutable and thread-safe.
//
// Per node it also keeps what the JSON string fast path needs: for each phase of the string
// automaton (json_string.h), whether every token below stays inside an unlimited string from
// there, and the most bytes any token below adds.
class TokenVocab {
 public:
  struct Node {
    uint32_t end = 0;        // index past the last node of the subtree
    uint32_t tok_begin = 0;  // tokens of the subtree: sorted()[tok_begin, tok_end)
    uint32_t tok_end = 0;
    uint16_t string_safe = 0;  // bit p: from string phase p, every token below stays inside
    uint16_t bytes_below = 0;  // the longest token below adds this many bytes (this node's included)
    uint8_t byte = 0;          // the byte that leads here from the parent
    uint8_t n_own = 0;         // tokens whose text ends here: sorted()[tok_begin, tok_begin + n_own)
  };

  // O(n_vocab log n_vocab); a few tens of milliseconds for a 150k vocabulary.
  static std::shared_ptr<const TokenVocab> build(const Tokenizer& tok);

  int32_t n_vocab() const { return n_vocab_; }
  const std::vector<Node>& nodes() const { return nodes_; }  // nodes()[0] is the root
  const std::vector<int32_t>& sorted() const { return sorted_; }
  const std::vector<int32_t>& eog() const { return eog_; }
  // Bit t is set when token t, read from string phase `phase` of an unlimited JSON string with
  // escapes, stays inside the string: most of the vocabulary, ORed into a mask in one sweep.
  const uint64_t* inside_string(uint32_t phase) const { return &inside_[static_cast<size_t>(phase) * words_]; }
  size_t mask_words() const { return words_; }
  // The text of a token as emitted ("" for control tokens).
  const std::string& text(int32_t id) const { return texts_[static_cast<size_t>(id)]; }
  size_t max_token_bytes() const { return max_token_bytes_; }

 private:
  int32_t n_vocab_ = 0;
  std::vector<Node> nodes_;
  std::vector<int32_t> sorted_;
  std::vector<int32_t> eog_;
  std::vector<uint64_t> inside_;  // per string phase, mask_words() words
  size_t words_ = 0;
  std::vector<std::string> texts_;
  size_t max_token_bytes_ = 0;
};

}  // namespace hangar::grammar
