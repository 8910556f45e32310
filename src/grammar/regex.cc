// Regex to grammar: a recursive-descent parser of an ECMAScript subset that emits rules directly.
#include "grammar/regex.h"

#include <algorithm>
#include <string>

namespace hangar::grammar {
namespace {

using Seq = GrammarBuilder::Seq;
constexpr uint32_t kMaxCode = 0x10FFFF;
constexpr int32_t kMaxRepeat = 1000;

CodeRanges normalize(CodeRanges r) {
  std::sort(r.begin(), r.end());
  CodeRanges out;
  for (const auto& [lo, hi] : r) {
    if (!out.empty() && lo <= out.back().second + 1) {
      out.back().second = std::max(out.back().second, hi);
    } else {
      out.emplace_back(lo, hi);
    }
  }
  return out;
}

CodeRanges complement(const CodeRanges& r) {
  CodeRanges out;
  uint32_t next = 0;
  for (const auto& [lo, hi] : r) {
    if (lo > next) out.emplace_back(next, lo - 1);
    next = hi + 1;
  }
  if (next <= kMaxCode) out.emplace_back(next, kMaxCode);
  return out;
}

void encode_utf8(uint32_t c, std::string* out) {
  if (c < 0x80) {
    out->push_back(char(c));
  } else if (c < 0x800) {
    out->push_back(char(0xC0 | (c >> 6)));
    out->push_back(char(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out->push_back(char(0xE0 | (c >> 12)));
    out->push_back(char(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(char(0x80 | (c & 0x3F)));
  } else {
    out->push_back(char(0xF0 | (c >> 18)));
    out->push_back(char(0x80 | ((c >> 12) & 0x3F)));
    out->push_back(char(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(char(0x80 | (c & 0x3F)));
  }
}

// The JSON escape of a character that cannot appear raw in a string, or "" when it can.
std::string json_escape(uint32_t c) {
  switch (c) {
    case '"': return "\\\"";
    case '\\': return "\\\\";
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    case '\b': return "\\b";
    case '\f': return "\\f";
    default: break;
  }
  if (c < 0x20) {
    static const char kHex[] = "0123456789abcdef";
    return std::string("\\u00") + kHex[c >> 4] + kHex[c & 15];
  }
  return "";
}

class Parser {
 public:
  Parser(GrammarBuilder& b, std::string_view p) : b_(b), p_(p) {}

  Result<Seq> parse() {
    bool nullable = false;
    HANGAR_ASSIGN(Seq body, alternation(&nullable, /*top=*/true));
    if (pos_ < p_.size()) return fail("unexpected ')'");
    return body;
  }

 private:
  Error fail(const std::string& what) const {
    return Error("pattern: " + what + " at offset " + std::to_string(pos_) + " is not supported");
  }
  bool done() const { return pos_ >= p_.size(); }
  char peek() const { return p_[pos_]; }

  // What an unanchored side allows: any string, line breaks included.
  Elem any_star() {
    const uint32_t any = b_.choice({code_set_elems(b_, {{0, kMaxCode}})}, "pattern-any");
    return GrammarBuilder::ref(b_.repeat({GrammarBuilder::ref(any)}, 0, -1, "pattern-any-star"));
  }

  // Reads one UTF-8 encoded code point.
  Result<uint32_t> code_point() {
    const auto c0 = static_cast<uint8_t>(p_[pos_]);
    int len = c0 < 0x80 ? 1 : c0 >= 0xF0 ? 4 : c0 >= 0xE0 ? 3 : c0 >= 0xC0 ? 2 : 0;
    if (len == 0 || pos_ + len > p_.size()) return Error("pattern: invalid UTF-8");
    uint32_t c = len == 1 ? c0 : c0 & (0x7F >> len);
    for (int i = 1; i < len; ++i) c = (c << 6) | (static_cast<uint8_t>(p_[pos_ + i]) & 0x3F);
    pos_ += len;
    return c;
  }

  // Each parser reports whether what it read can match the empty string. At the top level an
  // alternative may start with ^ and end with $; a side without one may hold anything.
  Result<Seq> alternation(bool* nullable, bool top = false) {
    std::vector<Seq> alts;
    HANGAR_ASSIGN(Seq first, concatenation(nullable, top));
    alts.push_back(std::move(first));
    while (!done() && peek() == '|') {
      ++pos_;
      bool n = false;
      HANGAR_ASSIGN(Seq next, concatenation(&n, top));
      *nullable = *nullable || n;
      alts.push_back(std::move(next));
    }
    if (alts.size() == 1) return alts[0];
    return Seq{GrammarBuilder::ref(b_.choice(alts, "pattern-alt"))};
  }

  Result<Seq> concatenation(bool* nullable, bool top) {
    Seq out;
    *nullable = true;
    bool anchored_start = false, anchored_end = false;
    if (top && !done() && peek() == '^') {
      anchored_start = true;
      ++pos_;
    }
    while (!done() && peek() != '|' && peek() != ')') {
      if (top && peek() == '$' && (pos_ + 1 == p_.size() || p_[pos_ + 1] == '|')) {
        anchored_end = true;
        ++pos_;
        break;
      }
      bool n = false;
      HANGAR_ASSIGN(Seq atom, this->atom(&n));
      HANGAR_ASSIGN(Seq q, quantified(std::move(atom), &n));
      *nullable = *nullable && n;
      out.insert(out.end(), q.begin(), q.end());
    }
    if (top && !anchored_start) out.insert(out.begin(), any_star());
    if (top && !anchored_end) out.push_back(any_star());
    return out;
  }

  Result<Seq> quantified(Seq atom, bool* nullable) {
    if (done()) return atom;
    int32_t min = 1, max = 1;
    const char c = peek();
    if (c == '*') min = 0, max = -1, ++pos_;
    else if (c == '+') min = 1, max = -1, ++pos_;
    else if (c == '?') min = 0, max = 1, ++pos_;
    else if (c == '{') {
      const size_t close = p_.find('}', pos_);
      if (close == std::string_view::npos) return fail("'{' without '}'");
      const std::string body(p_.substr(pos_ + 1, close - pos_ - 1));
      const size_t comma = body.find(',');
      auto number = [](const std::string& s, int32_t* out) {
        if (s.empty() || s.size() > 6 || !std::all_of(s.begin(), s.end(), ::isdigit)) return false;
        *out = std::stoi(s);
        return true;
      };
      if (comma == std::string::npos) {
        if (!number(body, &min)) return fail("quantifier {" + body + "}");
        max = min;
      } else {
        if (!number(body.substr(0, comma), &min)) return fail("quantifier {" + body + "}");
        if (comma + 1 == body.size()) max = -1;
        else if (!number(body.substr(comma + 1), &max) || max < min) return fail("quantifier {" + body + "}");
      }
      pos_ = close + 1;
    } else {
      return atom;
    }
    if (!done() && peek() == '?') ++pos_;  // lazy: the same strings
    if (!done() && peek() == '+') return fail("possessive quantifier");
    if ((max < 0 ? min : max) > kMaxRepeat) return fail("a repetition count above " + std::to_string(kMaxRepeat));
    if (*nullable && max < 0) return fail("repeating what can match the empty string");
    *nullable = *nullable || min == 0;
    if (atom.empty()) return atom;
    return Seq{GrammarBuilder::ref(b_.repeat(atom, min, max, "pattern-rep"))};
  }

  Result<Seq> atom(bool* nullable) {
    const char c = peek();
    if (c == '(') {
      ++pos_;
      if (!done() && peek() == '?') {
        if (pos_ + 1 < p_.size() && p_[pos_ + 1] == ':') {
          pos_ += 2;
        } else {
          return fail("lookaround or named group");
        }
      }
      HANGAR_ASSIGN(Seq inner, alternation(nullable));
      if (done() || peek() != ')') return fail("'(' without ')'");
      ++pos_;
      return inner;
    }
    if (c == '[') {
      HANGAR_ASSIGN(CodeRanges set, char_class());
      if (set.empty()) return fail("an empty class");
      return code_set_elems(b_, set);
    }
    if (c == '.') {
      ++pos_;
      return code_set_elems(b_, complement({{'\n', '\n'}, {'\r', '\r'}}));
    }
    if (c == '^' || c == '$') return fail("an anchor inside the pattern");
    if (c == '*' || c == '+' || c == '?' || c == '{') return fail(std::string("a quantifier '") + c + "' with nothing to repeat");
    CodeRanges set;
    if (c == '\\') {
      HANGAR_ASSIGN(set, escape(false));
    } else {
      HANGAR_ASSIGN(uint32_t cp, code_point());
      set = {{cp, cp}};
    }
    return code_set_elems(b_, set);
  }

  // After a backslash. In a class, \b is a backspace; outside it is a word boundary.
  Result<CodeRanges> escape(bool in_class) {
    ++pos_;
    if (done()) return fail("a trailing backslash");
    const char c = p_[pos_++];
    const CodeRanges digit = {{'0', '9'}};
    const CodeRanges word = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
    const CodeRanges space = normalize({{'\t', '\r'}, {' ', ' '}, {0xA0, 0xA0}, {0x1680, 0x1680}, {0x2000, 0x200A},
                                        {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000},
                                        {0xFEFF, 0xFEFF}});
    auto one = [](uint32_t v) { return CodeRanges{{v, v}}; };
    auto hex = [&](int n) -> Result<CodeRanges> {
      if (pos_ + n > p_.size()) return fail("a short hex escape");
      uint32_t v = 0;
      for (int i = 0; i < n; ++i) {
        const char h = p_[pos_ + i];
        if (!std::isxdigit(static_cast<unsigned char>(h))) return fail("a bad hex escape");
        v = v * 16 + static_cast<uint32_t>(std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (h | 0x20) - 'a' + 10);
      }
      pos_ += n;
      if (v >= 0xD800 && v <= 0xDFFF) return fail("a surrogate escape");
      return one(v);
    };
    switch (c) {
      case 'd': return digit;
      case 'D': return complement(digit);
      case 'w': return word;
      case 'W': return complement(word);
      case 's': return space;
      case 'S': return complement(space);
      case 'n': return one('\n');
      case 't': return one('\t');
      case 'r': return one('\r');
      case 'f': return one('\f');
      case 'v': return one('\v');
      case '0': return one(0);
      case 'x': return hex(2);
      case 'u': return hex(4);
      case 'b':
        if (in_class) return one('\b');
        return fail("a word boundary \\b");
      default: break;
    }
    if (std::isalnum(static_cast<unsigned char>(c))) return fail(std::string("the escape \\") + c);
    return one(static_cast<uint8_t>(c));
  }

  Result<CodeRanges> char_class() {
    ++pos_;  // '['
    bool negate = false;
    if (!done() && peek() == '^') {
      negate = true;
      ++pos_;
    }
    CodeRanges set;
    bool first = true;
    while (!done() && (peek() != ']' || first)) {
      first = false;
      CodeRanges lo_set;
      if (peek() == '\\') {
        HANGAR_ASSIGN(lo_set, escape(true));
      } else {
        HANGAR_ASSIGN(uint32_t cp, code_point());
        lo_set = {{cp, cp}};
      }
      const bool single = lo_set.size() == 1 && lo_set[0].first == lo_set[0].second;
      if (single && pos_ + 1 < p_.size() && peek() == '-' && p_[pos_ + 1] != ']') {
        ++pos_;
        CodeRanges hi_set;
        if (peek() == '\\') {
          HANGAR_ASSIGN(hi_set, escape(true));
        } else {
          HANGAR_ASSIGN(uint32_t cp, code_point());
          hi_set = {{cp, cp}};
        }
        if (hi_set.size() != 1 || hi_set[0].first != hi_set[0].second || hi_set[0].first < lo_set[0].first)
          return fail("a bad class range");
        set.emplace_back(lo_set[0].first, hi_set[0].first);
      } else {
        set.insert(set.end(), lo_set.begin(), lo_set.end());
      }
    }
    if (done()) return fail("'[' without ']'");
    ++pos_;  // ']'
    set = normalize(set);
    return negate ? complement(set) : set;
  }

  GrammarBuilder& b_;
  std::string_view p_;
  size_t pos_ = 0;
};

}  // namespace

std::vector<std::vector<std::pair<uint8_t, uint8_t>>> utf8_sequences(uint32_t lo, uint32_t hi) {
  std::vector<std::vector<std::pair<uint8_t, uint8_t>>> out;
  std::vector<std::pair<uint32_t, uint32_t>> todo = {{lo, hi}};
  while (!todo.empty()) {
    auto [s, e] = todo.back();
    todo.pop_back();
    if (s > e) continue;
    if (s <= 0xDFFF && e >= 0xD800) {  // surrogates are not characters
      if (e > 0xDFFF) todo.emplace_back(0xE000, e);
      if (s < 0xD800) todo.emplace_back(s, 0xD7FF);
      continue;
    }
    bool split = false;
    for (uint32_t max : {0x7Fu, 0x7FFu, 0xFFFFu}) {
      if (s <= max && max < e) {
        todo.emplace_back(max + 1, e);
        todo.emplace_back(s, max);
        split = true;
        break;
      }
    }
    if (split) continue;
    if (e <= 0x7F) {
      out.push_back({{uint8_t(s), uint8_t(e)}});
      continue;
    }
    for (int i = 1; i < 4 && !split; ++i) {
      const uint32_t m = (1u << (6 * i)) - 1;
      if ((s & ~m) != (e & ~m)) {
        if ((s & m) != 0) {
          todo.emplace_back((s | m) + 1, e);
          todo.emplace_back(s, s | m);
          split = true;
        } else if ((e & m) != m) {
          todo.emplace_back(e & ~m, e);
          todo.emplace_back(s, (e & ~m) - 1);
          split = true;
        }
      }
    }
    if (split) continue;
    std::string bs, be;
    encode_utf8(s, &bs);
    encode_utf8(e, &be);
    std::vector<std::pair<uint8_t, uint8_t>> seq;
    for (size_t i = 0; i < bs.size(); ++i) seq.emplace_back(uint8_t(bs[i]), uint8_t(be[i]));
    out.push_back(std::move(seq));
  }
  return out;
}

GrammarBuilder::Seq code_set_elems(GrammarBuilder& b, const CodeRanges& set) {
  HANGAR_ASSERT(!set.empty());
  std::vector<Seq> alts;
  ByteSet raw;
  for (const auto& [lo, hi] : set) {
    for (uint32_t c = lo; c <= std::min<uint32_t>(hi, 0x7F); ++c) {
      const std::string esc = json_escape(c);
      if (esc.empty()) raw.add(uint8_t(c));
      else alts.push_back(b.literal(esc));
    }
    if (hi < 0x80) continue;
    for (const auto& seq : utf8_sequences(std::max<uint32_t>(lo, 0x80), hi)) {
      Seq s;
      for (const auto& [blo, bhi] : seq) {
        ByteSet bs;
        bs.add_range(blo, bhi);
        s.push_back(b.bytes(bs));
      }
      alts.push_back(std::move(s));
    }
  }
  if (!raw.empty()) alts.insert(alts.begin(), Seq{b.bytes(raw)});
  if (alts.size() == 1) return alts[0];
  return Seq{GrammarBuilder::ref(b.choice(alts, "pattern-char"))};
}

Result<GrammarBuilder::Seq> regex_to_grammar(GrammarBuilder& b, std::string_view pattern) {
  return Parser(b, pattern).parse();
}

}  // namespace hangar::grammar
