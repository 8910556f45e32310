// GrammarBuilder: rules to a flat Grammar, with the left-recursion check; readable printing.
#include "grammar/grammar.h"

#include <algorithm>
#include <functional>

namespace hangar::grammar {
namespace {

std::string byte_text(int b) {
  if (b == '\\' || b == ']' || b == '[' || b == '-' || b == '"' || b == '^') return std::string("\\") + char(b);
  if (b >= 0x20 && b < 0x7f) return std::string(1, char(b));
  static const char kHex[] = "0123456789ABCDEF";
  return std::string("\\x") + kHex[b >> 4] + kHex[b & 15];
}

std::string set_text(const ByteSet& s) {
  int count = 0, only = -1;
  for (int b = 0; b < 256; ++b)
    if (s.has(uint8_t(b))) ++count, only = b;
  if (count == 1) return "\"" + byte_text(only) + "\"";
  std::string out = "[";
  for (int b = 0; b < 256;) {
    if (!s.has(uint8_t(b))) {
      ++b;
      continue;
    }
    int e = b;
    while (e + 1 < 256 && s.has(uint8_t(e + 1))) ++e;
    out += byte_text(b);
    if (e > b) out += (e > b + 1 ? "-" : "") + byte_text(e);
    b = e + 1;
  }
  return out + "]";
}

}  // namespace

std::string Grammar::to_string() const {
  std::string out;
  for (size_t r = 0; r < rule_alts.size(); ++r) {
    out += rule_names[r] + " ::=";
    for (size_t a = 0; a < rule_alts[r].size(); ++a) {
      if (a > 0) out += " |";
      for (uint32_t p = rule_alts[r][a]; elems[p].kind != ElemKind::kEnd; ++p) {
        const Elem& e = elems[p];
        out += " ";
        switch (e.kind) {
          case ElemKind::kBytes: out += set_text(byte_sets[e.arg]); break;
          case ElemKind::kRule: out += rule_names[e.arg]; break;
          case ElemKind::kToken: out += "<[" + std::to_string(e.arg) + "]>"; break;
          case ElemKind::kString: {
            const StringSpec& s = strings[e.arg];
            out += "string{" + std::to_string(s.min_chars) + "," + std::to_string(s.max_chars) +
                   (s.open ? "" : ",inside") + (s.escapes ? "" : ",raw") + "}";
            break;
          }
          case ElemKind::kEnd: break;
        }
      }
      if (elems[rule_alts[r][a]].kind == ElemKind::kEnd) out += " \"\"";
    }
    out += "\n";
  }
  return out;
}

uint32_t GrammarBuilder::add_rule(std::string_view name) {
  std::string unique(name);
  if (std::find(names_.begin(), names_.end(), unique) != names_.end())
    unique += "-" + std::to_string(names_.size());
  names_.push_back(std::move(unique));
  rules_.emplace_back();
  return static_cast<uint32_t>(rules_.size() - 1);
}

void GrammarBuilder::add_alt(uint32_t rule, Seq seq) {
  HANGAR_ASSERT(rule < rules_.size());
  rules_[rule].push_back(std::move(seq));
}

Elem GrammarBuilder::bytes(const ByteSet& set) {
  HANGAR_ASSERT(!set.empty());
  auto it = std::find(byte_sets_.begin(), byte_sets_.end(), set);
  if (it == byte_sets_.end()) it = byte_sets_.insert(byte_sets_.end(), set);
  return {ElemKind::kBytes, static_cast<uint32_t>(it - byte_sets_.begin())};
}

Elem GrammarBuilder::byte(uint8_t b) {
  ByteSet s;
  s.add(b);
  return bytes(s);
}

Elem GrammarBuilder::string(const StringSpec& spec) {
  auto it = std::find(strings_.begin(), strings_.end(), spec);
  if (it == strings_.end()) it = strings_.insert(strings_.end(), spec);
  return {ElemKind::kString, static_cast<uint32_t>(it - strings_.begin())};
}

GrammarBuilder::Seq GrammarBuilder::literal(std::string_view text) {
  Seq s;
  for (char c : text) s.push_back(byte(static_cast<uint8_t>(c)));
  return s;
}

uint32_t GrammarBuilder::repeat(const Seq& seq, int32_t min, int32_t max, std::string_view name) {
  HANGAR_ASSERT(min >= 0 && (max < 0 || max >= min));
  const uint32_t rule = add_rule(name);
  Seq head;
  for (int32_t i = 0; i < min; ++i) head.insert(head.end(), seq.begin(), seq.end());
  if (max < 0) {
    // tail ::= seq tail | "" (right recursion: the matcher reuses the frame, no growth).
    const uint32_t tail = add_rule(std::string(name) + "-more");
    add_alt(tail, concat(seq, {ref(tail)}));
    add_alt(tail, {});
    head.push_back(ref(tail));
  } else if (max > min) {
    // Nested optionals: opt_k ::= seq opt_{k+1} | "", so the count stays unambiguous.
    uint32_t next = UINT32_MAX;
    for (int32_t i = max - min; i > 0; --i) {
      const uint32_t opt = add_rule(std::string(name) + "-opt");
      add_alt(opt, next == UINT32_MAX ? seq : concat(seq, {ref(next)}));
      add_alt(opt, {});
      next = opt;
    }
    head.push_back(ref(next));
  }
  add_alt(rule, std::move(head));
  return rule;
}

uint32_t GrammarBuilder::choice(const std::vector<Seq>& alts, std::string_view name) {
  const uint32_t rule = add_rule(name);
  for (const Seq& a : alts) add_alt(rule, a);
  return rule;
}

Result<Grammar> GrammarBuilder::build(uint32_t root) && {
  HANGAR_ASSERT(root < rules_.size());
  const size_t n = rules_.size();
  for (size_t r = 0; r < n; ++r)
    if (rules_[r].empty()) return Error("grammar rule '" + names_[r] + "' has no alternative");
  // Nullable rules (can match the empty string), by fixpoint.
  std::vector<bool> nullable(n, false);
  auto elem_nullable = [&](const Elem& e) { return e.kind == ElemKind::kRule && nullable[e.arg]; };
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t r = 0; r < n; ++r) {
      if (nullable[r]) continue;
      for (const Seq& alt : rules_[r])
        if (std::all_of(alt.begin(), alt.end(), elem_nullable)) {
          nullable[r] = changed = true;
          break;
        }
    }
  }
  // Left edges: rules reachable at the start of an alternative without consuming a byte. A
  // cycle there would make the matcher expand forever.
  std::vector<std::vector<uint32_t>> left(n);
  for (size_t r = 0; r < n; ++r)
    for (const Seq& alt : rules_[r])
      for (const Elem& e : alt) {
        if (e.kind == ElemKind::kRule) left[r].push_back(e.arg);
        if (!elem_nullable(e)) break;
      }
  std::vector<int> mark(n, 0);  // 0 new, 1 on the path, 2 done
  std::string cycle;
  std::function<bool(uint32_t)> visit = [&](uint32_t r) {
    mark[r] = 1;
    for (uint32_t c : left[r]) {
      if (mark[c] == 1) {
        cycle = names_[c];
        return false;
      }
      if (mark[c] == 0 && !visit(c)) return false;
    }
    mark[r] = 2;
    return true;
  };
  for (size_t r = 0; r < n; ++r)
    if (mark[r] == 0 && !visit(static_cast<uint32_t>(r)))
      return Error("grammar rule '" + cycle + "' is left-recursive");

  Grammar g;
  g.rule_alts.resize(n);
  for (size_t r = 0; r < n; ++r)
    for (const Seq& alt : rules_[r]) {
      g.rule_alts[r].push_back(static_cast<uint32_t>(g.elems.size()));
      g.elems.insert(g.elems.end(), alt.begin(), alt.end());
      g.elems.push_back({ElemKind::kEnd, 0});
    }
  g.rule_names = std::move(names_);
  g.byte_sets = std::move(byte_sets_);
  g.strings = std::move(strings_);
  g.root = root;
  return g;
}

GrammarBuilder::Seq concat(GrammarBuilder::Seq a, const GrammarBuilder::Seq& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace hangar::grammar
