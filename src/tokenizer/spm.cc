// SPM merge loop: UTF-8 characters as symbols, a score-ordered heap of adjacent pairs.
#include "tokenizer/spm.h"

#include <algorithm>
#include <cstdio>
#include <queue>

#include "tokenizer/unicode.h"

namespace hangar::tok {
namespace {

struct Symbol {
  uint32_t start;
  uint32_t length;  // 0 once merged into its left neighbour
  int32_t prev, next;
};

struct Bigram {
  float score;
  int32_t left, right;
  uint32_t length;  // left.length + right.length when queued; a mismatch means stale
};

// Highest score first, then leftmost.
struct BigramAfter {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

}  // namespace

SpmModel SpmModel::build(const TokenIndex& index, TokenId unk) {
  SpmModel m;
  for (int b = 0; b < 256; ++b) {
    char hex[8];
    std::snprintf(hex, sizeof(hex), "<0x%02X>", b);
    TokenId id = index.find(hex);
    if (id == kNoToken) {
      const char c = static_cast<char>(b);
      id = index.find(std::string_view(&c, 1));
    }
    m.byte_tokens_[b] = id == kNoToken ? unk : id;
  }
  return m;
}

void SpmModel::encode(std::string_view text, const TokenIndex& index,
                      const std::vector<float>& scores, std::vector<TokenId>& out) const {
  if (text.empty()) return;
  std::vector<Symbol> symbols;
  symbols.reserve(text.size());
  for (size_t offset = 0; offset < text.size();) {
    const size_t len =
        std::min(utf8_sequence_length(static_cast<uint8_t>(text[offset])), text.size() - offset);
    const int32_t n = static_cast<int32_t>(symbols.size());
    offset += len;
    symbols.push_back({static_cast<uint32_t>(offset - len), static_cast<uint32_t>(len), n - 1,
                       offset < text.size() ? n + 1 : -1});
  }

  std::priority_queue<Bigram, std::vector<Bigram>, BigramAfter> queue;
  auto try_add = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const uint32_t length = symbols[left].length + symbols[right].length;
    const TokenId id = index.find(text.substr(symbols[left].start, length));
    if (id == kNoToken) return;
    queue.push({scores[id], left, right, length});
  };
  for (int32_t i = 1; i < static_cast<int32_t>(symbols.size()); ++i) try_add(i - 1, i);

  while (!queue.empty()) {
    const Bigram bg = queue.top();
    queue.pop();
    Symbol& left = symbols[bg.left];
    Symbol& right = symbols[bg.right];
    if (left.length == 0 || right.length == 0 || left.length + right.length != bg.length) continue;
    left.length += right.length;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = bg.left;
    try_add(left.prev, bg.left);
    try_add(bg.left, left.next);
  }

  for (int32_t i = 0; i >= 0; i = symbols[i].next) {
    const Symbol& s = symbols[i];
    const std::string_view piece = text.substr(s.start, s.length);
    // Merged pieces are tokens by construction; only single characters can miss.
    const TokenId id = index.find(piece);
    if (id != kNoToken) {
      out.push_back(id);
      continue;
    }
    for (char c : piece) {
      const TokenId b = byte_tokens_[static_cast<uint8_t>(c)];
      if (b != kNoToken) out.push_back(b);
    }
  }
}

}  // namespace hangar::tok
