// StreamingDetokenizer: token pieces to valid UTF-8 text, holding back split sequences.
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace hangar {

StreamingDetokenizer::StreamingDetokenizer(const Tokenizer& tok, bool special)
    : tok_(tok), special_(special) {}

std::string StreamingDetokenizer::push(TokenId id) {
  pending_ += tok_.token_to_piece(id, special_);
  const size_t keep = tok::incomplete_utf8_suffix(pending_);
  std::string out =
      tok::sanitize_utf8(std::string_view(pending_).substr(0, pending_.size() - keep));
  pending_.erase(0, pending_.size() - keep);
  return out;
}

std::string StreamingDetokenizer::flush() {
  std::string out = tok::sanitize_utf8(pending_);
  pending_.clear();
  return out;
}

}  // namespace hangar
