// Python str operations over UTF-8 (see text_util.h).
#include "chat/text_util.h"

#include <cstdint>

namespace hangar::chat {
namespace {

// Decodes one code point at s[i]; sets `len` to its byte length (1 for invalid bytes).
uint32_t decode_at(std::string_view s, size_t i, size_t& len) {
  const auto c = static_cast<unsigned char>(s[i]);
  int n = 0;
  uint32_t cp = 0;
  if (c < 0x80) {
    len = 1;
    return c;
  } else if ((c & 0xE0) == 0xC0) {
    n = 1;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 2;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 3;
    cp = c & 0x07;
  } else {
    len = 1;
    return c;
  }
  if (i + n >= s.size()) {
    len = 1;
    return c;
  }
  for (int k = 1; k <= n; ++k) {
    const auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) {
      len = 1;
      return c;
    }
    cp = (cp << 6) | (cc & 0x3F);
  }
  len = static_cast<size_t>(n) + 1;
  return cp;
}

uint32_t upper_cp(uint32_t cp) {
  if (cp >= 'a' && cp <= 'z') return cp - 32;
  if (cp < 0x80) return cp;
  if ((cp >= 0xE0 && cp <= 0xFE && cp != 0xF7)) return cp - 32;
  if (cp >= 0x100 && cp <= 0x17F && (cp & 1) == 1 && cp != 0x131) return cp - 1;
  if (cp >= 0x3B1 && cp <= 0x3C9 && cp != 0x3C2) return cp - 32;
  if (cp >= 0x430 && cp <= 0x44F) return cp - 32;
  if (cp >= 0x450 && cp <= 0x45F) return cp - 80;
  return cp;
}

uint32_t lower_cp(uint32_t cp) {
  if (cp >= 'A' && cp <= 'Z') return cp + 32;
  if (cp < 0x80) return cp;
  if ((cp >= 0xC0 && cp <= 0xDE && cp != 0xD7)) return cp + 32;
  if (cp >= 0x100 && cp <= 0x17F && (cp & 1) == 0 && cp != 0x130) return cp + 1;
  if (cp >= 0x391 && cp <= 0x3A9 && cp != 0x3A2) return cp + 32;
  if (cp >= 0x410 && cp <= 0x42F) return cp + 32;
  if (cp >= 0x400 && cp <= 0x40F) return cp + 80;
  return cp;
}

bool is_cased(uint32_t cp) { return upper_cp(cp) != cp || lower_cp(cp) != cp; }

template <typename F>
std::string map_code_points(std::string_view s, F&& f) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  size_t index = 0;
  while (i < s.size()) {
    size_t len = 1;
    const uint32_t cp = decode_at(s, i, len);
    if (len == 1 && static_cast<unsigned char>(s[i]) >= 0x80) {
      out.push_back(s[i]);  // keep invalid bytes untouched
    } else {
      append_utf8(out, f(cp, index));
    }
    i += len;
    ++index;
  }
  return out;
}

bool in_chars(uint32_t cp, const std::string& chars) {
  size_t i = 0;
  while (i < chars.size()) {
    size_t len = 1;
    if (decode_at(chars, i, len) == cp) return true;
    i += len;
  }
  return false;
}

}  // namespace

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::vector<size_t> utf8_offsets(std::string_view s) {
  std::vector<size_t> offsets;
  offsets.reserve(s.size() + 1);
  size_t i = 0;
  while (i < s.size()) {
    offsets.push_back(i);
    size_t len = 1;
    decode_at(s, i, len);
    i += len;
  }
  offsets.push_back(s.size());
  return offsets;
}

size_t utf8_length(std::string_view s) {
  size_t n = 0;
  size_t i = 0;
  while (i < s.size()) {
    size_t len = 1;
    decode_at(s, i, len);
    i += len;
    ++n;
  }
  return n;
}

size_t utf8_offset(std::string_view s, size_t index) {
  size_t i = 0;
  for (size_t n = 0; n < index && i < s.size(); ++n) {
    size_t len = 1;
    decode_at(s, i, len);
    i += len;
  }
  return i;
}

bool is_ascii(std::string_view s) {
  for (const char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

std::string to_upper(std::string_view s) {
  return map_code_points(s, [](uint32_t cp, size_t) { return upper_cp(cp); });
}

std::string to_lower(std::string_view s) {
  return map_code_points(s, [](uint32_t cp, size_t) { return lower_cp(cp); });
}

std::string capitalize(std::string_view s) {
  return map_code_points(s, [](uint32_t cp, size_t i) { return i == 0 ? upper_cp(cp) : lower_cp(cp); });
}

std::string title_case(std::string_view s) {
  bool prev_cased = false;
  return map_code_points(s, [&](uint32_t cp, size_t) {
    const bool cased = is_cased(cp);
    const uint32_t r = cased ? (prev_cased ? lower_cp(cp) : upper_cp(cp)) : cp;
    prev_cased = cased;
    return r;
  });
}

bool is_py_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' ||
         (c >= 0x1c && c <= 0x1f);
}

std::string py_strip(std::string_view s, const std::optional<std::string>& chars, bool left, bool right) {
  if (!chars) {
    size_t b = 0;
    size_t e = s.size();
    if (left) {
      while (b < e && is_py_space(s[b])) ++b;
    }
    if (right) {
      while (e > b && is_py_space(s[e - 1])) --e;
    }
    return std::string(s.substr(b, e - b));
  }
  const std::vector<size_t> off = utf8_offsets(s);
  size_t b = 0;
  size_t e = off.size() - 1;  // code point indices [b, e)
  auto cp_at = [&](size_t k) {
    size_t len = 1;
    return decode_at(s, off[k], len);
  };
  if (left) {
    while (b < e && in_chars(cp_at(b), *chars)) ++b;
  }
  if (right) {
    while (e > b && in_chars(cp_at(e - 1), *chars)) --e;
  }
  return std::string(s.substr(off[b], off[e] - off[b]));
}

std::vector<std::string> py_split(std::string_view s, const std::optional<std::string>& sep,
                                  int64_t maxsplit) {
  std::vector<std::string> parts;
  if (!sep) {
    size_t i = 0;
    while (i < s.size()) {
      while (i < s.size() && is_py_space(s[i])) ++i;
      if (i >= s.size()) break;
      if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
        size_t e = s.size();
        while (e > i && is_py_space(s[e - 1])) --e;
        parts.emplace_back(s.substr(i, e - i));
        return parts;
      }
      size_t j = i;
      while (j < s.size() && !is_py_space(s[j])) ++j;
      parts.emplace_back(s.substr(i, j - i));
      i = j;
    }
    return parts;
  }
  size_t start = 0;
  while (true) {
    if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) break;
    const size_t pos = s.find(*sep, start);
    if (pos == std::string_view::npos) break;
    parts.emplace_back(s.substr(start, pos - start));
    start = pos + sep->size();
  }
  parts.emplace_back(s.substr(start));
  return parts;
}

size_t py_split_count(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit) {
  size_t parts = 0;
  const auto limit_reached = [&] { return maxsplit >= 0 && static_cast<int64_t>(parts) == maxsplit; };
  if (!sep) {
    size_t i = 0;
    while (i < s.size()) {
      while (i < s.size() && is_py_space(s[i])) ++i;
      if (i >= s.size()) break;
      if (limit_reached()) return parts + 1;
      while (i < s.size() && !is_py_space(s[i])) ++i;
      ++parts;
    }
    return parts;
  }
  if (sep->empty()) return 1;
  for (size_t pos = s.find(*sep); pos != std::string_view::npos && !limit_reached();
       pos = s.find(*sep, pos + sep->size())) {
    ++parts;
  }
  return parts + 1;
}

std::vector<std::string> py_rsplit(std::string_view s, const std::optional<std::string>& sep,
                                   int64_t maxsplit) {
  if (maxsplit < 0) return py_split(s, sep, maxsplit);
  std::vector<std::string> parts;
  if (!sep) {
    size_t e = s.size();
    while (e > 0) {
      while (e > 0 && is_py_space(s[e - 1])) --e;
      if (e == 0) break;
      if (static_cast<int64_t>(parts.size()) == maxsplit) {
        size_t b = 0;
        while (b < e && is_py_space(s[b])) ++b;
        parts.emplace_back(s.substr(b, e - b));
        break;
      }
      size_t b = e;
      while (b > 0 && !is_py_space(s[b - 1])) --b;
      parts.emplace_back(s.substr(b, e - b));
      e = b;
    }
  } else {
    size_t end = s.size();
    while (static_cast<int64_t>(parts.size()) < maxsplit) {
      if (end < sep->size()) break;
      const size_t pos = s.rfind(*sep, end - sep->size());
      if (pos == std::string_view::npos) break;
      parts.emplace_back(s.substr(pos + sep->size(), end - pos - sep->size()));
      end = pos;
    }
    parts.emplace_back(s.substr(0, end));
  }
  return {parts.rbegin(), parts.rend()};
}

std::string py_replace(std::string_view s, std::string_view from, std::string_view to, int64_t count) {
  std::string out;
  if (from.empty()) {
    // Python inserts `to` between every code point and at both ends.
    const std::vector<size_t> off = utf8_offsets(s);
    int64_t n = 0;
    for (size_t k = 0; k < off.size(); ++k) {
      if (count < 0 || n < count) {
        out += to;
        ++n;
      }
      if (k + 1 < off.size()) out += s.substr(off[k], off[k + 1] - off[k]);
    }
    return out;
  }
  size_t start = 0;
  int64_t n = 0;
  while (count < 0 || n < count) {
    const size_t pos = s.find(from, start);
    if (pos == std::string_view::npos) break;
    out += s.substr(start, pos - start);
    out += to;
    start = pos + from.size();
    ++n;
  }
  out += s.substr(start);
  return out;
}

size_t py_replace_size(std::string_view s, std::string_view from, std::string_view to, int64_t count) {
  size_t n = 0;
  if (from.empty()) {
    n = utf8_length(s) + 1;
  } else {
    for (size_t pos = s.find(from); pos != std::string_view::npos; pos = s.find(from, pos + from.size())) ++n;
  }
  if (count >= 0 && static_cast<size_t>(count) < n) n = static_cast<size_t>(count);
  const size_t removed = n * from.size();
  size_t added = 0;
  if (__builtin_mul_overflow(n, to.size(), &added)) return SIZE_MAX;
  size_t total = 0;
  if (__builtin_add_overflow(s.size() - removed, added, &total)) return SIZE_MAX;
  return total;
}

size_t py_splitlines_count(std::string_view s) {
  size_t lines = 0;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\n' || c == '\r' || c == '\v' || c == '\f' || (c >= 0x1c && c <= 0x1e)) {
      ++lines;
      if (c == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
      start = i + 1;
    }
  }
  return lines + (start < s.size() ? 1 : 0);
}

std::vector<std::string> py_splitlines(std::string_view s) {
  std::vector<std::string> lines;
  size_t start = 0;
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (c == '\n' || c == '\r' || c == '\v' || c == '\f' || (c >= 0x1c && c <= 0x1e)) {
      lines.emplace_back(s.substr(start, i - start));
      if (c == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
      start = i + 1;
    }
    ++i;
  }
  if (start < s.size()) lines.emplace_back(s.substr(start));
  return lines;
}

}  // namespace hangar::chat
