// Byte-size and duration parsing for flags and request fields.
#include "manager/units.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <string>

namespace hangar::manager {
namespace {

std::string lower(std::string_view s) {
  std::string out;
  for (char c : s) out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Splits "12.5Gi" into the number part and the unit part; false when the number is malformed.
bool split_number(std::string_view s, double* number, std::string* unit, bool* has_fraction) {
  size_t i = 0;
  if (i < s.size() && s[i] == '-') ++i;
  size_t digits = 0;
  *has_fraction = false;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) {
    if (s[i] == '.') {
      if (*has_fraction) return false;
      *has_fraction = true;
    } else {
      ++digits;
    }
    ++i;
  }
  if (digits == 0) return false;
  std::string num(s.substr(0, i));
  char* end = nullptr;
  *number = std::strtod(num.c_str(), &end);
  if (end != num.c_str() + num.size()) return false;
  *unit = lower(trim(s.substr(i)));
  return true;
}

}  // namespace

Result<uint64_t> parse_bytes(std::string_view text, std::string_view what) {
  std::string_view s = trim(text);
  auto bad = [&](const std::string& why) {
    return Error(std::string(what) + ": '" + std::string(text) + "' is not a byte size (" + why +
                 "; expected e.g. 1073741824, 8G or 512Mi)");
  };
  double number = 0;
  std::string unit;
  bool fraction = false;
  if (!split_number(s, &number, &unit, &fraction)) return bad("no number");
  if (number < 0) return bad("negative");
  if (!unit.empty() && unit.back() == 'b') unit.pop_back();
  double scale = 1;
  if (unit.empty()) scale = 1;
  else if (unit == "k") scale = 1e3;
  else if (unit == "m") scale = 1e6;
  else if (unit == "g") scale = 1e9;
  else if (unit == "t") scale = 1e12;
  else if (unit == "ki") scale = 1024.0;
  else if (unit == "mi") scale = 1024.0 * 1024;
  else if (unit == "gi") scale = 1024.0 * 1024 * 1024;
  else if (unit == "ti") scale = 1024.0 * 1024 * 1024 * 1024;
  else return bad("unknown suffix '" + unit + "'");
  if (fraction && unit.empty()) return bad("a fraction needs a suffix");
  if (!fraction && unit.empty()) {
    // Exact integer path: doubles lose precision above 2^53.
    uint64_t v = 0;
    for (char c : s) {
      if (!std::isdigit(static_cast<unsigned char>(c))) break;
      const auto digit = static_cast<uint64_t>(c - '0');
      if (v > (UINT64_MAX - digit) / 10) return bad("too large");
      v = v * 10 + digit;
    }
    return v;
  }
  const double bytes = number * scale;
  if (bytes >= 1.8e19) return bad("too large");
  return static_cast<uint64_t>(bytes + 0.5);
}

Result<int64_t> parse_duration_ms(std::string_view text, std::string_view what) {
  std::string_view s = trim(text);
  auto bad = [&](const std::string& why) {
    return Error(std::string(what) + ": '" + std::string(text) + "' is not a duration (" + why +
                 "; expected e.g. 30s, 5m, 1h, 0 or -1)");
  };
  double number = 0;
  std::string unit;
  bool fraction = false;
  if (!split_number(s, &number, &unit, &fraction)) return bad("no number");
  double scale = 0;
  if (unit.empty() || unit == "s") scale = 1e3;
  else if (unit == "ms") scale = 1;
  else if (unit == "m") scale = 60e3;
  else if (unit == "h") scale = 3600e3;
  else return bad("unknown unit '" + unit + "'");
  double ms = number * scale;
  if (number < 0) {
    // Any negative value means "never" in Ollama's API; we accept only the canonical -1.
    if (number == -1 && unit.empty()) return int64_t{-1};
    return bad("only -1 may be negative");
  }
  if (ms > 9.0e15) return bad("too large");
  return static_cast<int64_t>(std::llround(ms));
}

std::string format_bytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[96];
  if (u == 0) std::snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(bytes));
  else
    std::snprintf(buf, sizeof buf, "%.2f %s (%llu bytes)", v, units[u],
                  static_cast<unsigned long long>(bytes));
  return buf;
}

}  // namespace hangar::manager
