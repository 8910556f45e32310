// Vocab: everything read from tokenizer.ggml.* plus the tables the encoders need.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "gguf/gguf_file.h"
#include "tokenizer/bpe.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/spm.h"
#include "tokenizer/token_index.h"

namespace hangar::tok {

enum class VocabType { kSpm, kBpe };

// llama.cpp's llama_token_attr bits (a token may carry several).
enum TokenAttr : uint32_t {
  kAttrUndefined = 0,
  kAttrUnknown = 1u << 0,
  kAttrUnused = 1u << 1,
  kAttrNormal = 1u << 2,
  kAttrControl = 1u << 3,
  kAttrUserDefined = 1u << 4,
  kAttrByte = 1u << 5,
  kAttrNormalized = 1u << 6,
  kAttrLstrip = 1u << 7,
  kAttrRstrip = 1u << 8,
  kAttrSingleWord = 1u << 9,
};

struct SpecialIds {
  TokenId bos = kNoToken, eos = kNoToken, eot = kNoToken, eom = kNoToken, unk = kNoToken;
  TokenId sep = kNoToken, pad = kNoToken, mask = kNoToken, nl = kNoToken;
  TokenId fim_pre = kNoToken, fim_suf = kNoToken, fim_mid = kNoToken;
  TokenId fim_pad = kNoToken, fim_rep = kNoToken, fim_sep = kNoToken;
};

// Built once by load() and then only read, by any number of threads. Not copyable or
// movable: the index keys and the piece views point into its own storage.
struct Vocab {
  Vocab() = default;
  Vocab(const Vocab&) = delete;
  Vocab& operator=(const Vocab&) = delete;

  // Reads the tokenizer from `file`. Returns an error naming the file and key when the
  // vocabulary is missing or malformed, or the model / pre-tokenizer type is unsupported.
  static Result<std::shared_ptr<const Vocab>> load(const gguf::File& file);

  int32_t n_vocab() const { return static_cast<int32_t>(texts.size()); }
  bool valid(TokenId id) const { return id >= 0 && id < n_vocab(); }
  bool has_attr(TokenId id, uint32_t attr) const { return valid(id) && (attrs[id] & attr) != 0; }
  // The piece as llama.cpp renders it with special=true (see token_to_piece).
  std::string_view piece(TokenId id) const {
    return std::string_view(pieces).substr(piece_offsets[id],
                                           piece_offsets[id + 1] - piece_offsets[id]);
  }

  VocabType type = VocabType::kSpm;
  std::string model;     // tokenizer.ggml.model
  std::string pre_name;  // tokenizer.ggml.pre
  std::vector<std::string> texts;
  std::vector<float> scores;
  std::vector<uint32_t> attrs;
  TokenIndex index;
  SpecialIds special;
  std::vector<TokenId> eog;             // sorted
  std::vector<TokenId> special_tokens;  // control/user-defined/unknown, longest text first
  std::string pieces;                   // all rendered pieces, back to back
  std::vector<uint32_t> piece_offsets;  // n_vocab + 1 offsets into `pieces`

  bool add_bos = false, add_eos = false, add_space_prefix = false;
  bool clean_spaces = false, ignore_merges = false;

  std::optional<SpmModel> spm;
  std::optional<BpeModel> bpe;
  std::optional<PreTokenizer> pre;
};

// vocab_special.cc: the text-based fix-ups llama.cpp applies after reading the ids
// (EOT/EOM/FIM detection, the end-of-generation set, per-model strip attributes).
void detect_special_tokens(Vocab& v);
void apply_model_attributes(Vocab& v, std::string_view general_name, std::string_view pre);

}  // namespace hangar::tok
