// UTF-8 and GPT-2 byte-level helpers that follow llama.cpp's (lenient) rules exactly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hangar::tok {

constexpr uint32_t kReplacementChar = 0xFFFD;
constexpr uint32_t kMaxCodepoint = 0x10FFFF;

// Length of the UTF-8 sequence that `lead` announces, by its high nibble (1 for ASCII and
// for stray continuation bytes, as llama.cpp's unicode_len_utf8).
inline size_t utf8_sequence_length(uint8_t lead) {
  static constexpr uint8_t kLengths[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLengths[lead >> 4];
}

// Decodes like llama.cpp's unicode_cpts_from_utf8: an invalid or truncated sequence yields
// U+FFFD and skips one byte; overlong forms and surrogates are accepted as decoded (so the
// tokenizers see the same code points llama.cpp does). Returns one entry per code point.
std::vector<uint32_t> decode_utf8_lenient(std::string_view text);
// One step of decode_utf8_lenient: the code point at text[i], advancing i past it.
uint32_t decode_one_lenient(std::string_view text, size_t& i);

// Appends the UTF-8 encoding of `cpt`; values above U+10FFFF become U+FFFD (llama.cpp
// throws there). Surrogates are encoded as their 3-byte form, as llama.cpp does.
void append_utf8(std::string& out, uint32_t cpt);

// llama.cpp's whitespace set (Unicode White_Space): \t..\r, space, U+0085, U+00A0, U+1680,
// U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000.
bool is_whitespace(uint32_t cpt);

// GPT-2's byte-to-unicode table: the code point that stands for byte `b` in byte-level BPE
// vocabularies (printable Latin-1 bytes map to themselves, the rest to U+0100..U+0143).
uint32_t byte_to_unicode(uint8_t b);
// UTF-8 text of byte_to_unicode(b): 1 or 2 bytes.
std::string_view byte_to_unicode_utf8(uint8_t b);
// The byte that code point `cpt` stands for, or -1 when it is not in the table.
int unicode_to_byte(uint32_t cpt);

// For streaming: the number of bytes at the end of `text` that form the start of a UTF-8
// sequence that is valid so far but not complete (0..3). Completed or invalid sequences
// are not counted, so the caller can emit everything before them.
size_t incomplete_utf8_suffix(std::string_view text);

// Returns `text` with every ill-formed sequence replaced by U+FFFD, one per maximal
// invalid subpart (the Unicode/WHATWG practice); valid text is returned unchanged.
std::string sanitize_utf8(std::string_view text);

}  // namespace hangar::tok
