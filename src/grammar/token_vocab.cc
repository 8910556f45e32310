// TokenVocab: the sorted token texts, their trie, and the string fast-path bits per node.
#include "grammar/token_vocab.h"

#include <algorithm>
#include <numeric>

#include "grammar/json_string.h"

namespace hangar::grammar {

std::shared_ptr<const TokenVocab> TokenVocab::build(const Tokenizer& tok) {
  auto v = std::make_shared<TokenVocab>();
  v->n_vocab_ = tok.n_vocab();
  v->eog_ = tok.eog_ids();
  v->texts_.resize(static_cast<size_t>(v->n_vocab_));
  std::vector<int32_t> ids;
  for (int32_t id = 0; id < v->n_vocab_; ++id) {
    v->texts_[id] = tok.is_control(id) ? std::string() : tok.token_to_piece(id, /*special=*/false);
    if (!v->texts_[id].empty()) ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) {
    const int c = v->texts_[a].compare(v->texts_[b]);
    return c < 0 || (c == 0 && a < b);
  });
  v->sorted_ = ids;

  // Sorted texts give the trie in depth-first order: each text shares a prefix with the one
  // before it, closes the nodes below that prefix and opens nodes for its own rest.
  std::vector<Node>& nodes = v->nodes_;
  nodes.emplace_back();  // root
  std::vector<uint32_t> path = {0};  // open nodes, root first; path[d] is at depth d
  const std::string* prev = nullptr;
  auto close_to = [&](size_t depth, uint32_t tok_index) {
    while (path.size() > depth + 1) {
      Node& n = nodes[path.back()];
      n.end = static_cast<uint32_t>(nodes.size());
      n.tok_end = tok_index;
      path.pop_back();
    }
  };
  for (uint32_t i = 0; i < ids.size(); ++i) {
    const std::string& t = v->texts_[ids[i]];
    v->max_token_bytes_ = std::max(v->max_token_bytes_, t.size());
    size_t common = 0;
    if (prev) {
      const size_t limit = std::min(prev->size(), t.size());
      while (common < limit && (*prev)[common] == t[common]) ++common;
    }
    close_to(common, i);
    for (size_t d = common; d < t.size(); ++d) {
      Node n;
      n.byte = static_cast<uint8_t>(t[d]);
      n.tok_begin = i;
      path.push_back(static_cast<uint32_t>(nodes.size()));
      nodes.push_back(n);
    }
    Node& leaf = nodes[path.back()];
    if (leaf.n_own < 255) ++leaf.n_own;  // duplicates past 255 are not expected in any vocabulary
    prev = &t;
  }
  close_to(0, static_cast<uint32_t>(ids.size()));
  nodes[0].end = static_cast<uint32_t>(nodes.size());
  nodes[0].tok_end = static_cast<uint32_t>(ids.size());

  // Children come after their parent, so a reverse sweep sees every child first.
  const StringSpec unlimited;
  for (uint32_t n = static_cast<uint32_t>(nodes.size()); n-- > 1;) {
    Node& node = nodes[n];
    uint32_t below = 0;
    for (uint32_t c = n + 1; c < node.end; c = nodes[c].end) below = std::max<uint32_t>(below, nodes[c].bytes_below);
    node.bytes_below = static_cast<uint16_t>(std::min<uint32_t>(below + 1, UINT16_MAX));
    for (uint32_t p = str::kBody; p < str::kPhases; ++p) {
      const int32_t next = str::step(unlimited, str::make(p, 0), node.byte);
      if (next < 0) continue;
      const uint32_t q = str::phase(static_cast<uint32_t>(next));
      bool safe = true;
      for (uint32_t c = n + 1; c < node.end && safe; c = nodes[c].end) safe = (nodes[c].string_safe >> q) & 1;
      if (safe) node.string_safe |= static_cast<uint16_t>(1u << p);
    }
  }
  // Tokens that stay inside a string from each phase.
  v->words_ = (static_cast<size_t>(v->n_vocab_) + 63) / 64;
  v->inside_.assign(v->words_ * str::kPhases, 0);
  for (int32_t id : ids) {
    const std::string& t = v->texts_[id];
    for (uint32_t p = str::kBody; p < str::kPhases; ++p) {
      int32_t state = static_cast<int32_t>(str::make(p, 0));
      for (size_t i = 0; i < t.size() && state >= 0; ++i) state = str::step(unlimited, static_cast<uint32_t>(state), uint8_t(t[i]));
      if (state >= 0) v->inside_[p * v->words_ + (static_cast<uint32_t>(id) >> 6)] |= uint64_t{1} << (id & 63);
    }
  }
  return v;
}

}  // namespace hangar::grammar
