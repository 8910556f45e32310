// Matcher: parse stacks over the grammar, advanced byte by byte; token masks by a pruned trie walk.
#include "grammar/matcher.h"

#include <algorithm>
#include <unordered_map>

#include "grammar/json_string.h"

namespace hangar::grammar {

Matcher::Matcher(std::shared_ptr<const Constraint> constraint)
    : constraint_(std::move(constraint)), g_(*constraint_->grammar), vocab_(*constraint_->vocab) {
  for (uint32_t alt : g_.rule_alts[g_.root]) expand(alt, kNone, tops_);
  levels_.resize(vocab_.max_token_bytes() + 2);
}

uint32_t Matcher::new_frame(uint32_t pos, uint32_t aux, uint32_t parent) {
  frames_.push_back({pos, aux, parent});
  return static_cast<uint32_t>(frames_.size() - 1);
}

void Matcher::push_top(Tops& tops, Top top) {
  for (const Top& t : tops) {
    if (t.covered != top.covered) continue;
    if (t.frame == top.frame) return;
    if (t.frame == kAccept || top.frame == kAccept) continue;
    const Frame& a = frames_[t.frame];
    const Frame& b = frames_[top.frame];
    if (a.pos == b.pos && a.aux == b.aux && a.parent == b.parent) return;
  }
  tops.push_back(top);
}

void Matcher::expand(uint32_t pos, uint32_t parent, Tops& out) {
  const Elem e = g_.elems[pos];
  switch (e.kind) {
    case ElemKind::kEnd: {
      if (parent == kNone) {
        push_top(out, {kAccept});
        return;
      }
      const Frame p = frames_[parent];
      const ElemKind k = g_.elems[p.pos].kind;
      // The return frame itself is the new top when it waits on a plain terminal.
      if (k == ElemKind::kBytes || k == ElemKind::kToken) {
        push_top(out, {parent});
        return;
      }
      expand(p.pos, p.parent, out);
      return;
    }
    case ElemKind::kRule: {
      // A rule ref that ends its alternative needs no return frame (a tail call), so right
      // recursion such as repetition does not grow the stack.
      const uint32_t ret = g_.elems[pos + 1].kind == ElemKind::kEnd ? parent : new_frame(pos + 1, 0, parent);
      for (uint32_t alt : g_.rule_alts[e.arg]) expand(alt, ret, out);
      return;
    }
    case ElemKind::kString:
      push_top(out, {new_frame(pos, str::initial(g_.strings[e.arg]), parent)});
      return;
    default: push_top(out, {new_frame(pos, 0, parent)}); return;
  }
}

void Matcher::advance(const Tops& in, uint8_t b, Tops& out) {
  out.clear();
  for (const Top& t : in) {
    if (t.frame == kAccept) continue;
    const Frame f = frames_[t.frame];
    const Elem e = g_.elems[f.pos];
    if (e.kind == ElemKind::kBytes) {
      if (g_.byte_sets[e.arg].has(b)) expand(f.pos + 1, f.parent, out);
    } else if (e.kind == ElemKind::kString) {
      const int32_t r = str::step(g_.strings[e.arg], f.aux, b);
      if (r == str::kClosed) expand(f.pos + 1, f.parent, out);
      else if (r >= 0) push_top(out, {new_frame(f.pos, static_cast<uint32_t>(r), f.parent), t.covered});
    }
  }
}

Matcher::Subtree Matcher::subtree_in_string(const Tops& tops, uint32_t n) const {
  const TokenVocab::Node& node = vocab_.nodes()[n];
  Subtree result = Subtree::kWalk;
  for (const Top& t : tops) {
    if (t.frame == kAccept) continue;
    const Frame& f = frames_[t.frame];
    const Elem& e = g_.elems[f.pos];
    if (e.kind != ElemKind::kString) continue;
    const StringSpec& s = g_.strings[e.arg];
    const uint32_t phase = str::phase(f.aux);
    if (!s.escapes || phase == str::kOpen || !((node.string_safe >> phase) & 1)) continue;
    if (s.max_chars >= 0 && str::count(f.aux) + node.bytes_below > static_cast<uint32_t>(s.max_chars)) continue;
    if (t.covered) return Subtree::kSkip;
    result = Subtree::kSet;
  }
  return result;
}

void Matcher::set_range(uint32_t begin, uint32_t end, uint64_t* allowed) const {
  const int32_t* ids = vocab_.sorted().data();
  for (uint32_t i = begin; i < end; ++i) {
    const uint32_t id = static_cast<uint32_t>(ids[i]);
    allowed[id >> 6] |= uint64_t{1} << (id & 63);
  }
}

void Matcher::walk(uint32_t node, size_t depth, uint64_t* allowed) {
  const std::vector<TokenVocab::Node>& nodes = vocab_.nodes();
  const Tops& cur = levels_[depth];
  Tops& next = levels_[depth + 1];
  for (uint32_t c = node + 1; c < nodes[node].end; c = nodes[c].end) {
    const TokenVocab::Node& child = nodes[c];
    const Subtree sub = subtree_in_string(cur, c);
    if (sub != Subtree::kWalk) {
      if (sub == Subtree::kSet) set_range(child.tok_begin, child.tok_end, allowed);
      continue;
    }
    const size_t mark = frames_.size();
    advance(cur, child.byte, next);
    if (!next.empty()) {
      set_range(child.tok_begin, child.tok_begin + child.n_own, allowed);
      if (child.end > c + 1) walk(c, depth + 1, allowed);
    }
    frames_.resize(mark);
  }
}

void Matcher::fill_mask(uint64_t* allowed) {
  const size_t words = vocab_.mask_words();
  std::fill(allowed, allowed + words, 0);
  if (ended_) return;
  levels_[0].clear();
  for (const Top& t : tops_) {
    Top top = t;
    if (t.frame == kAccept) {
      for (int32_t id : vocab_.eog()) allowed[id >> 6] |= uint64_t{1} << (id & 63);
    } else {
      const Frame& f = frames_[t.frame];
      const Elem& e = g_.elems[f.pos];
      if (e.kind == ElemKind::kToken && e.arg < static_cast<uint32_t>(vocab_.n_vocab()))
        allowed[e.arg >> 6] |= uint64_t{1} << (e.arg & 63);
      // Inside an unlimited string most tokens stay inside: take them all in one sweep, and
      // let the walk look only for the tokens that leave the string.
      if (e.kind == ElemKind::kString && g_.strings[e.arg].escapes && g_.strings[e.arg].max_chars < 0 &&
          str::phase(f.aux) != str::kOpen) {
        const uint64_t* inside = vocab_.inside_string(str::phase(f.aux));
        for (size_t w = 0; w < words; ++w) allowed[w] |= inside[w];
        top.covered = true;
      }
    }
    levels_[0].push_back(top);
  }
  const size_t mark = frames_.size();
  walk(0, 0, allowed);
  frames_.resize(mark);
}

bool Matcher::accept(int32_t token) {
  if (ended_ || token < 0 || token >= vocab_.n_vocab()) return false;
  const auto& eog = vocab_.eog();
  if (std::binary_search(eog.begin(), eog.end(), token)) {
    if (!can_end()) return false;
    ended_ = true;
    return true;
  }
  Tops next;
  const size_t mark = frames_.size();
  for (const Top& t : tops_) {
    if (t.frame == kAccept) continue;
    const Frame f = frames_[t.frame];
    const Elem e = g_.elems[f.pos];
    if (e.kind == ElemKind::kToken && e.arg == static_cast<uint32_t>(token)) expand(f.pos + 1, f.parent, next);
  }
  if (!next.empty()) {
    tops_ = std::move(next);
    compact();
    return true;
  }
  frames_.resize(mark);
  const std::string& text = vocab_.text(token);
  return !text.empty() && accept_bytes(text);
}

bool Matcher::accept_bytes(std::string_view bytes) {
  if (ended_) return false;
  const size_t mark = frames_.size();
  Tops cur = tops_, next;
  for (char c : bytes) {
    advance(cur, static_cast<uint8_t>(c), next);
    if (next.empty()) {
      frames_.resize(mark);
      return false;
    }
    cur.swap(next);
  }
  tops_ = std::move(cur);
  compact();
  return true;
}

bool Matcher::can_end() const {
  return ended_ || std::any_of(tops_.begin(), tops_.end(), [](const Top& t) { return t.frame == kAccept; });
}

bool Matcher::must_end() const { return ended_ || (tops_.size() == 1 && tops_[0].frame == kAccept); }

void Matcher::compact() {
  std::vector<Frame> fresh;
  std::unordered_map<uint32_t, uint32_t> moved;
  // Stacks are as deep as the output is nested; the recursion follows one stack at a time.
  auto copy = [&](auto&& self, uint32_t idx) -> uint32_t {
    if (idx == kNone) return kNone;
    auto it = moved.find(idx);
    if (it != moved.end()) return it->second;
    Frame f = frames_[idx];
    f.parent = self(self, f.parent);
    fresh.push_back(f);
    const uint32_t at = static_cast<uint32_t>(fresh.size() - 1);
    moved.emplace(idx, at);
    return at;
  };
  for (Top& t : tops_)
    if (t.frame != kAccept) t.frame = copy(copy, t.frame);
  frames_ = std::move(fresh);
}

}  // namespace hangar::grammar
