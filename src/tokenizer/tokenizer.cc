// Tokenizer: special-token partitioning, SPM/BPE dispatch, and llama.cpp's detokenizer.
#include "tokenizer/tokenizer.h"

#include <algorithm>

#include "tokenizer/vocab.h"

namespace hangar {
namespace {

using tok::Vocab;

// A piece of the input: raw text [offset, offset + length), or a special token.
struct Fragment {
  TokenId token;  // kNoToken for raw text
  size_t offset, length;
};

// C-locale isspace, which llama.cpp uses for the strip attributes.
bool is_c_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

// Splits `text` at every occurrence of the vocabulary's special tokens, longest tokens
// first, like llama.cpp's tokenizer_st_partition. Without parse_special only user-defined
// tokens are split out.
std::vector<Fragment> partition(const Vocab& v, std::string_view text, bool parse_special) {
  std::vector<Fragment> frags{{kNoToken, 0, text.size()}}, next;
  for (TokenId id : v.special_tokens) {
    const uint32_t attr = v.attrs[id];
    if (!parse_special && (attr & (tok::kAttrControl | tok::kAttrUnknown))) continue;
    const std::string_view special = v.texts[id];
    next.clear();
    bool any_raw = false;
    for (const Fragment& f : frags) {
      if (f.token != kNoToken) {
        next.push_back(f);
        continue;
      }
      size_t base = f.offset;
      const size_t end = f.offset + f.length;
      const std::string_view window = text.substr(0, end);
      for (size_t match;
           base < end && (match = window.find(special, base)) != std::string_view::npos;) {
        size_t left = match - base;
        if (attr & tok::kAttrLstrip) {
          while (left > 0 && is_c_space(text[base + left - 1])) --left;
        }
        if (left > 0) {
          next.push_back({kNoToken, base, left});
          any_raw = true;
        }
        next.push_back({id, 0, 0});
        base = match + special.size();
        if (attr & tok::kAttrRstrip) {
          while (base < end && is_c_space(text[base])) ++base;
        }
      }
      if (base < end) {
        next.push_back({kNoToken, base, end - base});
        any_raw = true;
      }
    }
    frags.swap(next);
    if (!any_raw) break;  // nothing left to split
  }
  return frags;
}

void escape_spaces(std::string_view text, std::string& out) {
  for (char c : text) {
    if (c == ' ') {
      out += "\xE2\x96\x81";
    } else {
      out.push_back(c);
    }
  }
}

// llama.cpp's clean_up_tokenization_spaces passes, ported index for index (they run in
// place and read bytes the previous pass has already moved).
void clean_spaces(std::string& text) {
  int32_t total = static_cast<int32_t>(text.size());
  char* t = text.data();
  // " ?", " !", " .", " ," lose the space.
  const int32_t total1 = total;
  total = total ? 1 : 0;
  for (int32_t i = 1; i < total1; ++i) {
    const char x = t[i];
    if (t[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) total--;
    t[total++] = x;
  }
  // " ' " becomes "'".
  const int32_t total2 = total;
  total = total ? 1 : 0;
  for (int32_t i = 1; i < total2; ++i) {
    const char x = t[i];
    if (x == '\'' && i + 1 < total2 && t[i - 1] == ' ' && t[i + 1] == ' ') {
      total--;
      t[++i] = '\0';
    }
    t[total++] = x;
  }
  // " 's", " 'm", " 're", " 've" lose the space (" 't", " 'd", " 'll" keep it).
  const int32_t total3 = total;
  total = total ? 1 : 0;
  for (int32_t i = 1; i < total3; ++i) {
    const char x = t[i];
    if (t[i - 1] == ' ' && x == '\'' && i + 1 < total3) {
      const char x1 = t[i + 1];
      if (x1 == 's' || x1 == 'm') {
        total--;
      } else if (x1 != 't' && x1 != 'd' && i + 2 < total3) {
        const char x2 = t[i + 2];
        if ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')) total--;
      }
    }
    t[total++] = x;
  }
  text.resize(total);
}

}  // namespace

Result<Tokenizer> Tokenizer::from_gguf(const gguf::File& file) {
  HANGAR_ASSIGN(auto vocab, Vocab::load(file));
  return Tokenizer(std::move(vocab));
}

std::vector<TokenId> Tokenizer::encode(std::string_view text, bool add_special,
                                       bool parse_special) const {
  const Vocab& v = *vocab_;
  std::vector<TokenId> out;
  out.reserve(text.size() / 3 + 4);
  std::vector<Fragment> frags;
  if (!text.empty()) frags = partition(v, text, parse_special);

  if (add_special && v.add_bos) out.push_back(v.special.bos);
  if (v.type == tok::VocabType::kSpm) {
    // SentencePiece prefixes a space to text at the start and after each special token.
    bool after_special = true;
    std::string escaped;
    for (const Fragment& f : frags) {
      if (f.token != kNoToken) {
        out.push_back(f.token);
        after_special = true;
        continue;
      }
      escaped.clear();
      if (v.add_space_prefix && after_special) escaped += "\xE2\x96\x81";
      escape_spaces(text.substr(f.offset, f.length), escaped);
      v.spm->encode(escaped, v.index, v.scores, out);
      after_special = false;
    }
  } else {
    std::vector<std::string> words;
    tok::BpeScratch scratch;
    for (const Fragment& f : frags) {
      if (f.token != kNoToken) {
        out.push_back(f.token);
        continue;
      }
      v.pre->split(text.substr(f.offset, f.length), words);
      for (const std::string& w : words)
        v.bpe->encode_word(w, v.index, v.ignore_merges, scratch, out);
    }
  }
  if (add_special && v.add_eos) out.push_back(v.special.eos);
  return out;
}

std::string Tokenizer::token_to_piece(TokenId id, bool special) const {
  const Vocab& v = *vocab_;
  if (!v.valid(id)) return {};
  if (!special && (v.attrs[id] & (tok::kAttrUnknown | tok::kAttrControl))) return {};
  return std::string(v.piece(id));
}

std::string Tokenizer::decode(const std::vector<TokenId>& ids, bool special) const {
  const Vocab& v = *vocab_;
  std::string out;
  // The space SentencePiece added in front of the text comes off the first piece only.
  bool remove_space = v.add_space_prefix;
  for (TokenId id : ids) {
    const bool hidden =
        !v.valid(id) || (!special && (v.attrs[id] & (tok::kAttrUnknown | tok::kAttrControl)));
    if (!hidden) {
      std::string_view piece = v.piece(id);
      if (remove_space && !piece.empty() && piece[0] == ' ') piece.remove_prefix(1);
      out += piece;
    }
    remove_space = false;
  }
  if (v.clean_spaces) clean_spaces(out);
  return out;
}

int32_t Tokenizer::n_vocab() const { return vocab_->n_vocab(); }
TokenId Tokenizer::bos() const { return vocab_->special.bos; }
TokenId Tokenizer::eos() const { return vocab_->special.eos; }
TokenId Tokenizer::eot() const { return vocab_->special.eot; }
TokenId Tokenizer::unk() const { return vocab_->special.unk; }
TokenId Tokenizer::pad() const { return vocab_->special.pad; }
TokenId Tokenizer::nl() const { return vocab_->special.nl; }
bool Tokenizer::add_bos() const { return vocab_->add_bos; }
bool Tokenizer::add_eos() const { return vocab_->add_eos; }
bool Tokenizer::is_eog(TokenId id) const {
  return std::binary_search(vocab_->eog.begin(), vocab_->eog.end(), id);
}
const std::vector<TokenId>& Tokenizer::eog_ids() const { return vocab_->eog; }
bool Tokenizer::is_control(TokenId id) const { return vocab_->has_attr(id, tok::kAttrControl); }
bool Tokenizer::is_byte(TokenId id) const { return vocab_->has_attr(id, tok::kAttrByte); }
const std::string& Tokenizer::model() const { return vocab_->model; }
const std::string& Tokenizer::pre() const { return vocab_->pre_name; }

size_t Tokenizer::longest_token_bytes() const {
  size_t longest = 1;
  for (const std::string& t : vocab_->texts) longest = std::max(longest, t.size());
  return longest;
}

bool Tokenizer::strips_whitespace() const {
  return std::any_of(vocab_->attrs.begin(), vocab_->attrs.end(),
                     [](uint32_t a) { return (a & (tok::kAttrLstrip | tok::kAttrRstrip)) != 0; });
}

const std::string& Tokenizer::token_text(TokenId id) const {
  HANGAR_ASSERT(vocab_->valid(id));
  return vocab_->texts[id];
}

std::optional<TokenId> Tokenizer::find_token(std::string_view text) const {
  const TokenId id = vocab_->index.find(text);
  if (id == kNoToken) return std::nullopt;
  return id;
}

}  // namespace hangar
