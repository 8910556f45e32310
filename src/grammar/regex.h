// Regular expressions (JSON schema "pattern") to grammar rules over JSON string content.
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "grammar/grammar.h"

namespace hangar::grammar {

// A set of Unicode code points as sorted, disjoint, inclusive ranges.
using CodeRanges = std::vector<std::pair<uint32_t, uint32_t>>;

// The grammar elements that match, as JSON string content (between the quotes, escaped as
// JSON requires: \" \\ \n \t \r \b \f, other control characters as \u00XX, everything else
// raw UTF-8), exactly the strings that the ECMAScript regular expression `pattern` matches
// somewhere; a side without an anchor (^ or $) gets ".*" there. Supported: literals,
// escapes (\d \w \s \D \W \S \n \t \r \f \v \0 \xHH \uHHHH and escaped punctuation), ".",
// classes with ranges and negation, groups (capturing or (?:...)), alternation, and the
// quantifiers * + ? {n} {n,} {n,m} (lazy forms behave alike). Errors name what is not
// supported: backreferences, lookarounds, word boundaries, anchors inside the pattern.
Result<GrammarBuilder::Seq> regex_to_grammar(GrammarBuilder& b, std::string_view pattern);

// The elements matching one code point of `set` as JSON string content (a rule when it needs
// alternatives). `set` must not be empty.
GrammarBuilder::Seq code_set_elems(GrammarBuilder& b, const CodeRanges& set);

// UTF-8 byte-range sequences covering exactly the code points lo..hi (no surrogates): each
// entry is one sequence of 1-4 byte ranges.
std::vector<std::vector<std::pair<uint8_t, uint8_t>>> utf8_sequences(uint32_t lo, uint32_t hi);

}  // namespace hangar::grammar
