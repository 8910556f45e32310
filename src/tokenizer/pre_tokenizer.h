// Pre-tokenizers for byte-level BPE: the regex cascade named by tokenizer.ggml.pre, run with
// PCRE2 the way llama.cpp's unicode_regex_split runs its regexes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace hangar::tok {

// What a pre-tokenizer name implies besides its regexes (llama.cpp's per-type flags).
struct PreTypeFlags {
  bool ignore_merges = false;  // a word that is itself a token skips the merges (llama3)
  bool clean_spaces = true;    // detokenize removes spaces before punctuation (" ," -> ",")
  bool add_bos = false;        // default for add_bos when the file does not say
  bool no_bos = false;         // the type has no BOS token (chatglm)
};

class Regex;

// One compiled cascade. Immutable after create(); split() is thread-safe.
class PreTokenizer {
 public:
  // `name` is tokenizer.ggml.pre ("" and "default" give llama.cpp's default cascade).
  // Returns an error naming the type when it is not supported.
  static Result<PreTokenizer> create(std::string_view name);

  // Splits `text` into words: each regex of the cascade splits every piece the previous one
  // produced; text between matches is kept as its own piece. Invalid UTF-8 is decoded as
  // llama.cpp does (each bad byte is U+FFFD), so the words are valid UTF-8 re-encodings.
  // `words` is cleared first.
  void split(std::string_view text, std::vector<std::string>& words) const;

  const std::string& name() const { return name_; }
  const PreTypeFlags& flags() const { return flags_; }

  PreTokenizer(PreTokenizer&&) noexcept;
  PreTokenizer& operator=(PreTokenizer&&) noexcept;
  ~PreTokenizer();

 private:
  PreTokenizer() = default;
  std::string name_;
  PreTypeFlags flags_;
  std::vector<std::unique_ptr<Regex>> regexes_;
};

}  // namespace hangar::tok
