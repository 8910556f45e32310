// Tokenizer: text <-> token ids for a GGUF model's vocabulary, matching llama.cpp exactly
// (SentencePiece-style "llama" vocabularies and byte-level BPE "gpt2" ones).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "gguf/gguf_file.h"
#include "tokenizer/token_index.h"

namespace hangar {

namespace tok {
struct Vocab;
}

// A cheap handle on an immutable vocabulary: copies share it. Every method is const and
// thread-safe. Ids outside [0, n_vocab) are tolerated where noted (never undefined).
class Tokenizer {
 public:
  // Reads tokenizer.ggml.* from `file` (model, pre, tokens, scores, token_type, merges,
  // special ids, add_bos_token/add_eos_token, add_space_prefix). The result does not refer
  // to `file` afterwards. Returns an error naming the file and key when the vocabulary is
  // missing or malformed, or the model or pre-tokenizer type is unsupported.
  static Result<Tokenizer> from_gguf(const gguf::File& file);

  // add_special: prepend BOS / append EOS as the vocabulary's metadata says (llama.cpp's
  // add_special). parse_special: recognise control/unknown token texts such as
  // "<|im_start|>" in `text`; user-defined tokens are recognised either way, as in llama.cpp.
  // Invalid UTF-8 is tokenized the way llama.cpp does (never an error).
  std::vector<TokenId> encode(std::string_view text, bool add_special, bool parse_special) const;

  // The text of one token as llama.cpp's token_to_piece renders it (byte tokens "<0x0A>" ->
  // "\n", SPM "▁" -> " ", byte-level BPE stand-ins -> their bytes). special=false renders
  // control and unknown tokens as "". Out-of-range ids render as "". May be a partial
  // UTF-8 sequence.
  std::string token_to_piece(TokenId id, bool special) const;
  // Concatenated pieces, as llama.cpp's llama_detokenize(remove_special=false,
  // unparse_special=special): for SPM the first piece loses one leading space, and BPE
  // vocabularies with clean_spaces tidy " ," / " 's" and similar. Ids outside the
  // vocabulary are skipped. Raw bytes: may be invalid UTF-8 (byte tokens cut mid-character);
  // use StreamingDetokenizer for text that must be valid.
  std::string decode(const std::vector<TokenId>& ids, bool special) const;

  int32_t n_vocab() const;
  TokenId bos() const;  // kNoToken (-1) when absent
  TokenId eos() const;
  TokenId eot() const;
  TokenId unk() const;
  TokenId pad() const;
  TokenId nl() const;   // the token llama.cpp uses for "\n"
  bool add_bos() const;
  bool add_eos() const;
  bool is_eog(TokenId id) const;  // end of generation: eos, eot, eom and llama.cpp's EOG set
  const std::vector<TokenId>& eog_ids() const;  // sorted
  bool is_control(TokenId id) const;
  bool is_byte(TokenId id) const;
  // "llama" or "gpt2" (tokenizer.ggml.model), and tokenizer.ggml.pre ("" when absent).
  const std::string& model() const;
  const std::string& pre() const;

  // Bounds for checking a text's size before encoding it. The most input bytes one token can
  // stand for: its text's length (SPM's "▁" and byte-level stand-ins are longer than the bytes
  // they cover). And whether encoding can drop input: special tokens that strip the ASCII
  // whitespace beside them (Phi-3's and a few others). Both O(n_vocab).
  size_t longest_token_bytes() const;
  bool strips_whitespace() const;

  // Raw vocabulary string; `id` must be in [0, n_vocab) (asserted).
  const std::string& token_text(TokenId id) const;
  std::optional<TokenId> find_token(std::string_view text) const;

 private:
  explicit Tokenizer(std::shared_ptr<const tok::Vocab> vocab) : vocab_(std::move(vocab)) {}
  std::shared_ptr<const tok::Vocab> vocab_;
};

// Streams text for generated tokens. It holds back an incomplete UTF-8 sequence until the
// following byte tokens complete it, and replaces bytes that can never form a valid
// sequence with U+FFFD, so every returned string is valid UTF-8. Pieces keep their
// leading space (SPM "▁Hello" -> " Hello"): like llama.cpp's streamed output, generated
// tokens continue the prompt, so no first-token space is stripped and no clean-up applies.
// Not thread-safe; one per sequence.
class StreamingDetokenizer {
 public:
  explicit StreamingDetokenizer(const Tokenizer& tok, bool special = false);
  // The text that is now complete (may be empty).
  std::string push(TokenId id);
  // Whatever is held back, with the incomplete sequence as U+FFFD; resets the state.
  std::string flush();
  // Bytes currently held back (0..3).
  size_t pending_bytes() const { return pending_.size(); }

 private:
  Tokenizer tok_;  // shares the vocabulary, so the detokenizer may outlive the caller's copy
  bool special_;
  std::string pending_;
};

}  // namespace hangar
