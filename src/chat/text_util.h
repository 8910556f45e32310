// Text helpers with Python str semantics over UTF-8: code point indexing, case mapping,
// whitespace splitting and stripping.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hangar::chat {

// Byte offsets of each code point start in `s`, plus s.size() at the end. Invalid bytes
// count as one code point each, so every input has a well-defined length.
std::vector<size_t> utf8_offsets(std::string_view s);
// Number of code points (Python len()).
size_t utf8_length(std::string_view s);
// Byte offset where code point `index` starts (s.size() when index is at or past the end);
// one pass, no table, for indexing strings too large for utf8_offsets' 8 bytes per byte.
size_t utf8_offset(std::string_view s, size_t index);
bool is_ascii(std::string_view s);

// Python str.upper()/lower() for ASCII and Latin-1/Greek/Cyrillic letters; other code
// points are kept as they are.
std::string to_upper(std::string_view s);
std::string to_lower(std::string_view s);
// Python str.capitalize(): first code point upper, the rest lower.
std::string capitalize(std::string_view s);
// Python str.title(): upper after a non-letter, lower after a letter.
std::string title_case(std::string_view s);

// Python whitespace (ASCII set plus \x1c-\x1f).
bool is_py_space(char c);
// Python str.strip/lstrip/rstrip; `chars` == nullopt strips whitespace, otherwise any of
// the code points in *chars.
std::string py_strip(std::string_view s, const std::optional<std::string>& chars, bool left, bool right);
// Python str.split(): sep == nullopt splits on whitespace runs and drops empty parts.
// maxsplit < 0 means no limit.
std::vector<std::string> py_split(std::string_view s, const std::optional<std::string>& sep,
                                  int64_t maxsplit);
// How many parts py_split (or py_rsplit) returns, counted without building them.
size_t py_split_count(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit);
// Python str.rsplit().
std::vector<std::string> py_rsplit(std::string_view s, const std::optional<std::string>& sep,
                                   int64_t maxsplit);
// Python str.replace(old, new, count); count < 0 replaces all.
std::string py_replace(std::string_view s, std::string_view from, std::string_view to, int64_t count);
// The size in bytes py_replace returns, computed without building it (SIZE_MAX on overflow).
size_t py_replace_size(std::string_view s, std::string_view from, std::string_view to, int64_t count);
// Python str.splitlines() without keepends.
std::vector<std::string> py_splitlines(std::string_view s);
// How many lines py_splitlines returns.
size_t py_splitlines_count(std::string_view s);

// Appends the UTF-8 encoding of `cp`.
void append_utf8(std::string& out, uint32_t cp);

}  // namespace hangar::chat
