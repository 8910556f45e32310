// Vocab loading: tokenizer.ggml.* keys, llama.cpp's defaults per model type, and the
// rendered-piece table.
#include "tokenizer/vocab.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "base/log.h"
#include "tokenizer/unicode.h"

namespace hangar::tok {
namespace {

constexpr std::string_view kSpaceEscape = "\xE2\x96\x81";  // U+2581, SentencePiece's space

Error key_error(const gguf::File& file, std::string_view key, const std::string& what) {
  return Error(file.path() + ": " + std::string(key) + ": " + what);
}

// An array value of `key`, or nullptr when the key is absent. Present with another type is
// an error.
Result<const gguf::Array*> find_array(const gguf::File& file, std::string_view key) {
  const gguf::Value* v = file.find(key);
  if (!v) return static_cast<const gguf::Array*>(nullptr);
  const gguf::Array* a = v->as_array();
  if (!a)
    return key_error(file, key,
                     std::string("expected an array, found ") + gguf::value_type_name(v->type()));
  return a;
}

uint32_t attr_from_token_type(int64_t type) {
  switch (type) {
    case 1: return kAttrNormal;
    case 2: return kAttrUnknown;
    case 3: return kAttrControl;
    case 4: return kAttrUserDefined;
    case 5: return kAttrUnused;
    case 6: return kAttrByte;
    default: return kAttrUndefined;
  }
}

Status read_tokens(const gguf::File& file, Vocab& v) {
  constexpr std::string_view kTokens = "tokenizer.ggml.tokens";
  HANGAR_ASSIGN(const gguf::Array* tokens, find_array(file, kTokens));
  if (!tokens) return key_error(file, kTokens, "missing: the file has no vocabulary");
  if (tokens->element_type != gguf::ValueType::kString)
    return key_error(file, kTokens, "expected an array of strings");
  if (tokens->items.empty()) return key_error(file, kTokens, "the vocabulary is empty");
  if (tokens->items.size() > static_cast<size_t>(INT32_MAX))
    return key_error(file, kTokens, "too many tokens");
  const size_t n = tokens->items.size();
  v.texts.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const std::string& text = *tokens->items[i].as_string();
    // llama.cpp renames empty tokens so that every text is a distinct key.
    v.texts.push_back(text.empty() ? "[EMPTY_" + std::to_string(i) + "]" : text);
  }

  constexpr std::string_view kScores = "tokenizer.ggml.scores";
  HANGAR_ASSIGN(const gguf::Array* scores, find_array(file, kScores));
  v.scores.assign(n, 0.0f);
  if (scores) {
    const auto et = scores->element_type;
    if (et != gguf::ValueType::kFloat32 && et != gguf::ValueType::kInt32)
      return key_error(file, kScores, "expected an array of float32 or int32");
    if (scores->items.size() < n)
      return key_error(file, kScores, std::to_string(scores->items.size()) + " scores for " +
                                          std::to_string(n) + " tokens");
    for (size_t i = 0; i < n; ++i) v.scores[i] = static_cast<float>(*scores->items[i].as_number());
  }

  constexpr std::string_view kTypes = "tokenizer.ggml.token_type";
  HANGAR_ASSIGN(const gguf::Array* types, find_array(file, kTypes));
  v.attrs.assign(n, kAttrNormal);
  if (types) {
    if (!types->items.empty() && !types->items[0].is_integer())
      return key_error(file, kTypes, "expected an array of int32");
    if (types->items.size() < n)
      return key_error(file, kTypes, std::to_string(types->items.size()) + " token types for " +
                                         std::to_string(n) + " tokens");
    for (size_t i = 0; i < n; ++i) {
      auto t = types->items[i].as_int();
      if (!t) return key_error(file, kTypes, "expected an array of int32");
      v.attrs[i] = attr_from_token_type(*t);
    }
  }

  const TokenId duplicate = v.index.build(v.texts);
  if (duplicate != kNoToken)
    return key_error(file, kTokens, "duplicate token '" + v.texts[duplicate] + "' at ids " +
                                        std::to_string(v.index.find(v.texts[duplicate])) + " and " +
                                        std::to_string(duplicate));
  return Status::Ok();
}

Status read_merges(const gguf::File& file, Vocab& v) {
  constexpr std::string_view kMerges = "tokenizer.ggml.merges";
  HANGAR_ASSIGN(const gguf::Array* merges, find_array(file, kMerges));
  if (!merges) return key_error(file, kMerges, "missing: a gpt2 (BPE) vocabulary needs merges");
  if (merges->element_type != gguf::ValueType::kString)
    return key_error(file, kMerges, "expected an array of strings");
  std::vector<const std::string*> strings;
  strings.reserve(merges->items.size());
  for (const auto& m : merges->items) strings.push_back(m.as_string());
  v.bpe = BpeModel::build(v.index, v.n_vocab(), strings);
  return Status::Ok();
}

// Special ids from the file override the defaults; an id outside the vocabulary is
// ignored with a warning, as llama.cpp does.
Status read_special_ids(const gguf::File& file, Vocab& v) {
  SpecialIds& s = v.special;
  const std::pair<std::string_view, TokenId*> keys[] = {
      {"tokenizer.ggml.bos_token_id", &s.bos},
      {"tokenizer.ggml.eos_token_id", &s.eos},
      {"tokenizer.ggml.eot_token_id", &s.eot},
      {"tokenizer.ggml.eom_token_id", &s.eom},
      {"tokenizer.ggml.unknown_token_id", &s.unk},
      {"tokenizer.ggml.seperator_token_id", &s.sep},  // sic: llama.cpp's spelling
      {"tokenizer.ggml.padding_token_id", &s.pad},
      {"tokenizer.ggml.mask_token_id", &s.mask},
      {"tokenizer.ggml.fim_pre_token_id", &s.fim_pre},
      {"tokenizer.ggml.fim_suf_token_id", &s.fim_suf},
      {"tokenizer.ggml.fim_mid_token_id", &s.fim_mid},
      {"tokenizer.ggml.fim_pad_token_id", &s.fim_pad},
      {"tokenizer.ggml.fim_rep_token_id", &s.fim_rep},
      {"tokenizer.ggml.fim_sep_token_id", &s.fim_sep},
      {"tokenizer.ggml.prefix_token_id", &s.fim_pre},  // older names for the FIM ids
      {"tokenizer.ggml.suffix_token_id", &s.fim_suf},
      {"tokenizer.ggml.middle_token_id", &s.fim_mid},
  };

  for (const auto& [key, id] : keys) {
    if (*id != kNoToken && !v.valid(*id)) *id = kNoToken;  // a default beyond a small vocab
    if (!file.has(key)) continue;
    HANGAR_ASSIGN(int64_t value, file.get_int(key));
    if (value < 0 || value >= v.n_vocab()) {
      log_warn(file.path() + ": " + std::string(key) + " = " + std::to_string(value) +
               " is outside the vocabulary; ignored");
      continue;
    }
    *id = static_cast<TokenId>(value);
  }
  HANGAR_ASSIGN(v.add_bos, file.get_bool_or("tokenizer.ggml.add_bos_token", v.add_bos));
  HANGAR_ASSIGN(v.add_eos, file.get_bool_or("tokenizer.ggml.add_eos_token", v.add_eos));
  if (v.add_bos && s.bos == kNoToken)
    return key_error(file, "tokenizer.ggml.add_bos_token", "is true, but there is no BOS token id");
  if (v.add_eos && s.eos == kNoToken)
    return key_error(file, "tokenizer.ggml.add_eos_token", "is true, but there is no EOS token id");
  return Status::Ok();
}

// llama.cpp's llama_decode_text: each code point of a byte-level token stands for a byte.
// llama.cpp appends the whole token text after every code point that stands for no byte, so a
// crafted 30 KB token of such code points renders to hundreds of MB (quadratic). The text is
// appended after the first one only: the same piece for any token with at most one such code
// point (every real vocabulary), and a piece at most a few times the text's size otherwise.
void append_byte_level_decoded(std::string& out, const std::string& text) {
  bool text_appended = false;
  for (size_t i = 0; i < text.size();) {
    // Fast path: nearly every stand-in is printable ASCII or a 2-byte sequence.
    const auto b0 = static_cast<uint8_t>(text[i]);
    uint32_t cpt;
    if (b0 < 0x80) {
      cpt = b0;
      ++i;
    } else if (b0 >= 0xC2 && b0 <= 0xDF && i + 1 < text.size() &&
               (static_cast<uint8_t>(text[i + 1]) & 0xC0) == 0x80) {
      cpt = ((b0 & 0x1Fu) << 6) | (static_cast<uint8_t>(text[i + 1]) & 0x3Fu);
      i += 2;
    } else {
      cpt = decode_one_lenient(text, i);
    }
    const int b = unicode_to_byte(cpt);
    if (b >= 0) {
      out.push_back(static_cast<char>(b));
      continue;
    }
    std::string utf8;
    append_utf8(utf8, cpt);
    out += "[UNK_BYTE_0x";
    for (unsigned char c : utf8) {
      char hex[4];
      std::snprintf(hex, sizeof(hex), "%02x", c);
      out += hex;
    }
    if (!text_appended) out += text;
    text_appended = true;
    out += "]";
  }
}

// The byte of an SPM "<0xXX>" token (llama.cpp reads the two hex digits with strtol).
char byte_of_token(const std::string& text) {
  if (text.size() < 5) return 0;
  return static_cast<char>(std::strtol(text.substr(3, 2).c_str(), nullptr, 16));
}

// The rendered pieces of a crafted vocabulary can be several times its text; past this the
// file is refused rather than the offsets (uint32) overflowing or memory running out.
constexpr size_t kMaxPiecesBytes = size_t{256} << 20;

Status build_pieces(const gguf::File& file, Vocab& v) {
  v.piece_offsets.reserve(v.texts.size() + 1);
  v.piece_offsets.push_back(0);
  for (size_t id = 0; id < v.texts.size(); ++id) {
    const std::string& text = v.texts[id];
    const uint32_t attr = v.attrs[id];
    if (attr & (kAttrUnknown | kAttrControl | kAttrUserDefined)) {
      v.pieces += text;
    } else if (attr & kAttrNormal) {
      if (v.type == VocabType::kBpe) {
        append_byte_level_decoded(v.pieces, text);
      } else {
        for (size_t i = 0; i < text.size();) {
          if (text.compare(i, kSpaceEscape.size(), kSpaceEscape) == 0) {
            v.pieces.push_back(' ');
            i += kSpaceEscape.size();
          } else {
            v.pieces.push_back(text[i++]);
          }
        }
      }
    } else if (attr & kAttrByte) {
      v.pieces.push_back(byte_of_token(text));
    }
    // Unused and undefined tokens render as nothing.
    if (v.pieces.size() > kMaxPiecesBytes)
      return key_error(file, "tokenizer.ggml.tokens",
                       "the rendered tokens take more than " + std::to_string(kMaxPiecesBytes >> 20) +
                           " MiB (at token " + std::to_string(id) + ")");
    v.piece_offsets.push_back(static_cast<uint32_t>(v.pieces.size()));
  }
  return Status::Ok();
}

}  // namespace

Result<std::shared_ptr<const Vocab>> Vocab::load(const gguf::File& file) {
  auto v = std::make_shared<Vocab>();
  constexpr std::string_view kModel = "tokenizer.ggml.model";
  if (!file.has(kModel)) return key_error(file, kModel, "missing: the file has no tokenizer");
  HANGAR_ASSIGN(v->model, file.get_string(kModel));
  HANGAR_ASSIGN(v->pre_name, file.get_string_or("tokenizer.ggml.pre", ""));

  if (v->model == "llama") {
    v->type = VocabType::kSpm;
    v->special.bos = 1;  // SentencePiece's conventional ids, as llama.cpp assumes
    v->special.eos = 2;
    v->special.unk = 0;
    v->add_bos = true;
    v->add_space_prefix = true;
  } else if (v->model == "gpt2") {
    v->type = VocabType::kBpe;
    auto pre = PreTokenizer::create(v->pre_name);
    if (!pre.ok()) return pre.error().context(file.path());
    if (v->pre_name.empty())
      log_warn(file.path() + ": no tokenizer.ggml.pre; using the default pre-tokenizer");
    const PreTypeFlags& f = pre->flags();
    v->ignore_merges = f.ignore_merges;
    v->clean_spaces = f.clean_spaces;
    v->add_bos = f.add_bos;
    v->pre = std::move(pre).value();
  } else {
    return key_error(file, kModel,
                     "unsupported tokenizer model '" + v->model +
                         "', expected 'llama' (SentencePiece) or 'gpt2' (byte-level BPE)");
  }
  HANGAR_ASSIGN(v->add_space_prefix,
                file.get_bool_or("tokenizer.ggml.add_space_prefix", v->add_space_prefix));

  HANGAR_TRY(read_tokens(file, *v));
  if (v->type == VocabType::kBpe) {
    HANGAR_TRY(read_merges(file, *v));
  }
  HANGAR_TRY(read_special_ids(file, *v));
  if (v->type == VocabType::kSpm) {
    v->spm = SpmModel::build(v->index, v->special.unk);
    v->special.nl = v->spm->byte_token('\n');
  } else {
    std::vector<std::string> words;
    std::vector<TokenId> ids;
    BpeScratch scratch;
    v->pre->split("\n", words);
    for (const auto& w : words) v->bpe->encode_word(w, v->index, v->ignore_merges, scratch, ids);
    v->special.nl = ids.empty() ? v->special.pad : ids[0];
  }

  detect_special_tokens(*v);
  for (TokenId id = 0; id < v->n_vocab(); ++id) {
    if (v->attrs[id] & (kAttrControl | kAttrUserDefined | kAttrUnknown))
      v->special_tokens.push_back(id);
  }
  // Longest first, so that a special token is never split by a shorter one inside it.
  std::stable_sort(v->special_tokens.begin(), v->special_tokens.end(), [&](TokenId a, TokenId b) {
    return v->texts[a].size() > v->texts[b].size();
  });
  HANGAR_TRY(build_pieces(file, *v));

  HANGAR_ASSIGN(std::string name, file.get_string_or("general.name", ""));
  apply_model_attributes(*v, name, v->pre_name);
  return std::shared_ptr<const Vocab>(std::move(v));
}

}  // namespace hangar::tok
