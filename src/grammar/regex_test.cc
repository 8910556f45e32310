// Regex to grammar: agreement with std::regex (ECMAScript) on random strings, UTF-8 ranges, errors.
#include "grammar/regex.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <regex>

#include "grammar/grammar_test_util.h"

namespace hangar::grammar {
namespace {

// A JSON string whose content matches `pattern`.
Grammar pattern_grammar(const std::string& pattern) {
  GrammarBuilder b;
  Result<GrammarBuilder::Seq> seq = regex_to_grammar(b, pattern);
  EXPECT_TRUE(seq.ok()) << pattern << ": " << (seq.ok() ? "" : seq.error().message());
  const uint32_t root = b.choice({concat(concat({b.byte('"')}, *seq), {b.byte('"')})}, "root");
  Result<Grammar> g = std::move(b).build(root);
  EXPECT_TRUE(g.ok()) << pattern;
  return std::move(g).value();
}

std::string json_string(const std::string& s) { return nlohmann::json(s).dump(); }

TEST(Regex, AgreesWithStdRegexOnRandomStrings) {
  const std::vector<std::string> patterns = {
      "^[a-c]+$", "^a|b$", "ab*c", "^(ab|cd){2,3}$", "^[^a]*$", "^\\d{3}-\\d{2}$", "^(a|b)+$", "x?d+",
      "^[a\\-c]$", "^.{2,4}$", "^\"\\\\", "^(?:a|)b$", "^[\\w]+$", "^\\s*\\S\\s*$", "^a{2,}$", "^(a(b|c)?)*$",
      "^[^\\\\\"]+$", "0$", "^[\\x61-\\x63]{1,2}$", "^a\\.b$", "^[.]$"};
  const std::string alphabet = "abcd01-\"\\ .\n";
  std::mt19937 rng(7);
  for (const std::string& p : patterns) {
    const Grammar g = pattern_grammar(p);
    const std::regex re(p, std::regex::ECMAScript);
    for (int i = 0; i < 400; ++i) {
      std::string s;
      const int len = static_cast<int>(rng() % 7);
      for (int k = 0; k < len; ++k) s += alphabet[rng() % alphabet.size()];
      const bool want = std::regex_search(s, re);
      EXPECT_EQ(testing::matches(g, json_string(s)), want) << "pattern " << p << " on " << json_string(s);
    }
  }
}

TEST(Regex, NonAsciiCharactersAndClasses) {
  const Grammar g = pattern_grammar("^[à-ÿ]+é$");
  EXPECT_TRUE(testing::matches(g, "\"àÿé\""));
  EXPECT_FALSE(testing::matches(g, "\"aé\""));
  EXPECT_FALSE(testing::matches(g, "\"é\""));
  const Grammar any = pattern_grammar("^.$");
  EXPECT_TRUE(testing::matches(any, "\"€\""));
  EXPECT_TRUE(testing::matches(any, "\"😀\""));
  EXPECT_FALSE(testing::matches(any, "\"\\n\""));
  EXPECT_TRUE(testing::matches(any, "\"\\u0001\""));
}

TEST(Regex, UnsupportedConstructsNameThemselves) {
  for (const auto& [p, what] : std::vector<std::pair<std::string, std::string>>{
           {"(?=a)b", "lookaround"}, {"a\\1", "\\1"}, {"\\bword", "word boundary"}, {"a^b", "anchor"},
           {"(a", "without ')'"}, {"[a", "without ']'"}, {"(a*)*", "empty string"}, {"a{5001}", "repetition"}}) {
    GrammarBuilder b;
    Result<GrammarBuilder::Seq> r = regex_to_grammar(b, p);
    ASSERT_FALSE(r.ok()) << p;
    EXPECT_NE(r.error().message().find(what), std::string::npos) << p << ": " << r.error().message();
    EXPECT_NE(r.error().message().find("pattern"), std::string::npos);
  }
}

std::string utf8(uint32_t c) {
  std::string s;
  if (c < 0x80) s += char(c);
  else if (c < 0x800) s += {char(0xC0 | (c >> 6)), char(0x80 | (c & 0x3F))};
  else if (c < 0x10000) s += {char(0xE0 | (c >> 12)), char(0x80 | ((c >> 6) & 0x3F)), char(0x80 | (c & 0x3F))};
  else s += {char(0xF0 | (c >> 18)), char(0x80 | ((c >> 12) & 0x3F)), char(0x80 | ((c >> 6) & 0x3F)), char(0x80 | (c & 0x3F))};
  return s;
}

TEST(Regex, Utf8SequencesCoverExactlyTheRange) {
  std::mt19937 rng(3);
  for (int trial = 0; trial < 60; ++trial) {
    uint32_t lo = rng() % 0x110000, hi = rng() % 0x110000;
    if (trial % 3 == 0) hi = lo + rng() % 3000;
    if (lo > hi) std::swap(lo, hi);
    hi = std::min<uint32_t>(hi, 0x10FFFF);
    const auto seqs = utf8_sequences(lo, hi);
    auto covered = [&](uint32_t c) {
      const std::string s = utf8(c);
      int n = 0;
      for (const auto& seq : seqs) {
        if (seq.size() != s.size()) continue;
        bool all = true;
        for (size_t i = 0; i < s.size(); ++i)
          all = all && uint8_t(s[i]) >= seq[i].first && uint8_t(s[i]) <= seq[i].second;
        n += all;
      }
      return n;
    };
    for (int k = 0; k < 3000; ++k) {
      uint32_t c = k < 20 ? (k < 10 ? lo + k : hi - (k - 10)) : lo + rng() % (hi - lo + 1);
      if (k % 7 == 0) c = rng() % 0x110000;
      if ((c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF) continue;
      EXPECT_EQ(covered(c), c >= lo && c <= hi ? 1 : 0) << std::hex << c << " in " << lo << ".." << hi;
    }
  }
}

}  // namespace
}  // namespace hangar::grammar
