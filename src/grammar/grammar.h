// Grammar: a context-free grammar over bytes (plus JSON strings and special tokens as terminals).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace hangar::grammar {

// A set of bytes, one bit each.
struct ByteSet {
  std::array<uint64_t, 4> bits{};
  bool has(uint8_t b) const { return (bits[b >> 6] >> (b & 63)) & 1; }
  void add(uint8_t b) { bits[b >> 6] |= uint64_t{1} << (b & 63); }
  void add_range(uint8_t lo, uint8_t hi) {
    for (int b = lo; b <= hi; ++b) add(static_cast<uint8_t>(b));
  }
  bool empty() const { return (bits[0] | bits[1] | bits[2] | bits[3]) == 0; }
  bool operator==(const ByteSet&) const = default;
};

// A JSON string terminal: the opening quote (unless `open` is false: it was already matched),
// characters (raw UTF-8, or escapes) counted in code points within [min_chars, max_chars],
// and the closing quote. Without escapes, only raw characters (keys compared byte by byte).
struct StringSpec {
  int32_t min_chars = 0;
  int32_t max_chars = -1;  // -1: no limit
  bool open = true;
  bool escapes = true;
  bool operator==(const StringSpec&) const = default;
};

enum class ElemKind : uint8_t {
  kEnd,     // ends an alternative
  kBytes,   // one byte of byte_sets[arg]
  kRule,    // the rule with id arg
  kToken,   // the special token with id arg (matched as a whole token, never by its text)
  kString,  // a JSON string as strings[arg] describes
};

struct Elem {
  ElemKind kind = ElemKind::kEnd;
  uint32_t arg = 0;
};

// An immutable grammar. Each rule is a list of alternatives; an alternative is a run of
// elements in `elems` ending with kEnd. Built by GrammarBuilder, which checks that no rule
// can reach itself without consuming input (no left recursion), so matching always terminates.
struct Grammar {
  std::vector<Elem> elems;
  std::vector<std::vector<uint32_t>> rule_alts;  // per rule: where each alternative starts in elems
  std::vector<std::string> rule_names;
  std::vector<ByteSet> byte_sets;
  std::vector<StringSpec> strings;
  uint32_t root = 0;

  // Readable form for tests and errors: one line per rule, "name ::= alt | alt".
  std::string to_string() const;
};

// Builds a Grammar. Elements are added to alternatives of rules created with add_rule.
class GrammarBuilder {
 public:
  using Seq = std::vector<Elem>;

  // A new rule with no alternatives yet; `name` is for to_string only (made unique).
  uint32_t add_rule(std::string_view name);
  // Appends an alternative (empty: matches nothing, i.e. optional).
  void add_alt(uint32_t rule, Seq seq);

  // Element makers.
  Elem bytes(const ByteSet& set);
  Elem byte(uint8_t b);
  Elem string(const StringSpec& spec);
  static Elem ref(uint32_t rule) { return {ElemKind::kRule, rule}; }
  static Elem token(int32_t id) { return {ElemKind::kToken, static_cast<uint32_t>(id)}; }
  // The bytes of `text`, one element each.
  Seq literal(std::string_view text);

  // A rule matching `seq` repeated between min and max times (max -1: unbounded).
  uint32_t repeat(const Seq& seq, int32_t min, int32_t max, std::string_view name);
  // A rule with one alternative per sequence.
  uint32_t choice(const std::vector<Seq>& alts, std::string_view name);

  // Finishes with `root` as the start rule. An Error when a rule has no alternative or a rule
  // can reach itself without consuming a byte (the builder's user made a mistake).
  Result<Grammar> build(uint32_t root) &&;

 private:
  std::vector<std::vector<Seq>> rules_;
  std::vector<std::string> names_;
  std::vector<ByteSet> byte_sets_;
  std::vector<StringSpec> strings_;
};

// Concatenation helper: a + b.
GrammarBuilder::Seq concat(GrammarBuilder::Seq a, const GrammarBuilder::Seq& b);

}  // namespace hangar::grammar
