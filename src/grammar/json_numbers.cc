// JSON numbers as grammar rules: integers (within minimum/maximum), numbers; and the entry points.
#include <cmath>
#include <limits>
#include <optional>

#include "grammar/json_schema.h"

namespace hangar::grammar {
namespace {

using Seq = GrammarBuilder::Seq;

constexpr int kMaxDigits = 18;                     // integer parts: 1..18 digits
constexpr int64_t kMaxMagnitude = 999999999999999999;  // 18 nines

// Sequences of digit classes matching exactly the decimal numbers lo..hi, both written with
// the same number of digits.
void same_length(const std::string& lo, const std::string& hi, Seq prefix, GrammarBuilder& b,
                 std::vector<Seq>* out) {
  auto digit = [&](char from, char to) {
    ByteSet s;
    s.add_range(uint8_t(from), uint8_t(to));
    return b.bytes(s);
  };
  if (lo.empty()) {
    out->push_back(std::move(prefix));
    return;
  }
  if (lo[0] == hi[0]) {
    prefix.push_back(digit(lo[0], lo[0]));
    same_length(lo.substr(1), hi.substr(1), std::move(prefix), b, out);
    return;
  }
  const std::string lo_rest = lo.substr(1), hi_rest = hi.substr(1);
  const bool lo_full = lo_rest.find_first_not_of('0') == std::string::npos;
  const bool hi_full = hi_rest.find_first_not_of('9') == std::string::npos;
  if (!lo_full) {
    Seq p = prefix;
    p.push_back(digit(lo[0], lo[0]));
    same_length(lo_rest, std::string(lo_rest.size(), '9'), std::move(p), b, out);
  }
  const char from = lo_full ? lo[0] : char(lo[0] + 1), to = hi_full ? hi[0] : char(hi[0] - 1);
  if (from <= to) {
    Seq p = prefix;
    p.push_back(digit(from, to));
    for (size_t i = 0; i < lo_rest.size(); ++i) p.push_back(digit('0', '9'));
    out->push_back(std::move(p));
  }
  if (!hi_full) {
    Seq p = prefix;
    p.push_back(digit(hi[0], hi[0]));
    same_length(std::string(hi_rest.size(), '0'), hi_rest, std::move(p), b, out);
  }
}

// Decimal magnitudes lo..hi (0 <= lo <= hi <= kMaxMagnitude), without leading zeros.
void magnitudes(int64_t lo, int64_t hi, const Seq& prefix, GrammarBuilder& b, std::vector<Seq>* out) {
  int64_t pow = 1;  // 10^(len-1)
  for (int len = 1; len <= kMaxDigits; ++len, pow *= 10) {
    const int64_t first = len == 1 ? 0 : pow;
    const int64_t last = pow * 10 - 1;
    const int64_t a = std::max(lo, first), z = std::min(hi, last);
    if (a > z) continue;
    same_length(std::to_string(a), std::to_string(z), prefix, b, out);
  }
}

// Reads an integer bound; a non-integer bound rounds inwards (minimum 1.5 -> 2).
Result<std::optional<int64_t>> bound(const Json& s, const char* key, bool lower, const std::string& path) {
  if (!s.contains(key)) return std::optional<int64_t>();
  const Json& v = s[key];
  if (!v.is_number()) return Error(path + ": '" + key + "' must be a number");
  const double d = v.get<double>();
  if (!std::isfinite(d) || std::fabs(d) > double(kMaxMagnitude))
    return Error(path + ": '" + key + "' is out of the supported range");
  double r = lower ? std::ceil(d) : std::floor(d);
  const bool exclusive = std::string(key).rfind("exclusive", 0) == 0;
  if (exclusive && r == d) r += lower ? 1 : -1;
  return std::optional<int64_t>(static_cast<int64_t>(r));
}

}  // namespace

Result<uint32_t> JsonGrammar::integer_rule(const Json& s, const std::string& path, std::string_view name) {
  std::optional<int64_t> lo, hi;
  for (const char* key : {"minimum", "exclusiveMinimum"}) {
    HANGAR_ASSIGN(std::optional<int64_t> v, bound(s, key, true, path));
    if (v && (!lo || *v > *lo)) lo = v;
  }
  for (const char* key : {"maximum", "exclusiveMaximum"}) {
    HANGAR_ASSIGN(std::optional<int64_t> v, bound(s, key, false, path));
    if (v && (!hi || *v < *hi)) hi = v;
  }
  const int64_t a = lo ? *lo : -kMaxMagnitude, z = hi ? *hi : kMaxMagnitude;
  if (a > z) return Error(path + ": no integer lies between 'minimum' and 'maximum'");
  std::vector<Seq> alts;
  const Seq minus = b_.literal("-");
  if (a < 0) magnitudes(std::max<int64_t>(1, z < 0 ? -z : 1), -a, minus, b_, &alts);
  if (z >= 0) magnitudes(std::max<int64_t>(a, 0), z, {}, b_, &alts);
  return b_.choice(alts, std::string(name) + "-integer");
}

Result<uint32_t> JsonGrammar::number_rule(const Json& s, const std::string& path, std::string_view name) {
  bool non_negative = false;
  for (const char* key : {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}) {
    if (!s.contains(key)) continue;
    // A decimal range is not a few digit classes as an integer range is; only the common
    // "minimum": 0 is.
    if (std::string(key) == "minimum" && s[key].is_number() && s[key].get<double>() == 0) {
      non_negative = true;
      continue;
    }
    return Error(path + ": '" + key + "' on a number (not an integer) is not supported, except minimum 0");
  }
  ByteSet nonzero;
  nonzero.add_range('1', '9');
  const uint32_t int_part =
      b_.choice({b_.literal("0"), {b_.bytes(nonzero), GrammarBuilder::ref(digits(0, kMaxDigits - 1))}}, "int-part");
  const uint32_t frac = b_.choice({{}, {b_.byte('.'), GrammarBuilder::ref(digits(1, 16))}}, "fraction");
  ByteSet e, sign;
  e.add('e');
  e.add('E');
  sign.add('+');
  sign.add('-');
  const uint32_t opt_sign = b_.choice({{}, {b_.bytes(sign)}}, "exp-sign");
  const uint32_t exp = b_.choice({{}, {b_.bytes(e), GrammarBuilder::ref(opt_sign), GrammarBuilder::ref(digits(1, 2))}},
                                 "exponent");
  const Seq body = {GrammarBuilder::ref(int_part), GrammarBuilder::ref(frac), GrammarBuilder::ref(exp)};
  std::vector<Seq> alts = {body};
  if (!non_negative) alts.push_back(concat(b_.literal("-"), body));
  return b_.choice(alts, std::string(name) + "-number");
}

Result<Grammar> compile_json_schema(const Json& schema) {
  GrammarBuilder b;
  JsonGrammar json(b);
  HANGAR_ASSIGN(uint32_t root, json.schema(schema, schema));
  return std::move(b).build(root);
}

Grammar any_json_object_grammar() {
  GrammarBuilder b;
  JsonGrammar json(b);
  Result<Grammar> g = std::move(b).build(json.any_object());
  HANGAR_ASSERT(g.ok());
  return std::move(g).value();
}

}  // namespace hangar::grammar
