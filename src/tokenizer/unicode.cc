// UTF-8 decoding/encoding with llama.cpp's leniency, GPT-2's byte table, and strict checks
// for streamed output.
#include "tokenizer/unicode.h"

#include <array>

namespace hangar::tok {
namespace {

// GPT-2's bytes_to_unicode: printable bytes keep their value, the other 68 bytes take
// U+0100.. in byte order so that every byte has a visible stand-in.
constexpr std::array<uint32_t, 256> make_byte_table() {
  std::array<uint32_t, 256> t{};
  uint32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    t[b] = printable ? static_cast<uint32_t>(b) : next++;
  }
  return t;
}
constexpr std::array<uint32_t, 256> kByteToUnicode = make_byte_table();
constexpr uint32_t kByteTableEnd = 256 + 68;  // one past the largest stand-in code point

constexpr std::array<int16_t, kByteTableEnd> make_inverse_table() {
  std::array<int16_t, kByteTableEnd> t{};
  for (auto& v : t) v = -1;
  for (int b = 0; b < 256; ++b) t[kByteToUnicode[b]] = static_cast<int16_t>(b);
  return t;
}
constexpr std::array<int16_t, kByteTableEnd> kUnicodeToByte = make_inverse_table();

struct ByteUtf8 {
  char bytes[2];
  uint8_t length;
};
constexpr std::array<ByteUtf8, 256> make_byte_utf8_table() {
  std::array<ByteUtf8, 256> t{};
  for (int b = 0; b < 256; ++b) {
    uint32_t c = kByteToUnicode[b];
    if (c < 0x80) {
      t[b] = {{static_cast<char>(c), 0}, 1};
    } else {
      t[b] = {{static_cast<char>(0xC0 | (c >> 6)), static_cast<char>(0x80 | (c & 0x3F))}, 2};
    }
  }
  return t;
}
constexpr std::array<ByteUtf8, 256> kByteUtf8 = make_byte_utf8_table();

enum class SeqKind { kValid, kIncomplete, kInvalid };
struct Seq {
  SeqKind kind;
  size_t length;  // bytes of the valid sequence, of the invalid subpart, or available so far
};

// Classifies the sequence at s[0] by Unicode's table of well-formed UTF-8 (no overlongs,
// no surrogates, nothing above U+10FFFF).
Seq examine(const uint8_t* s, size_t n) {
  const uint8_t b0 = s[0];
  if (b0 < 0x80) return {SeqKind::kValid, 1};
  size_t need = 0;
  uint8_t lo = 0x80, hi = 0xBF;  // bounds for the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return {SeqKind::kInvalid, 1};
  }
  for (size_t i = 1; i < need; ++i) {
    if (i >= n) return {SeqKind::kIncomplete, i};
    const uint8_t min = i == 1 ? lo : 0x80, max = i == 1 ? hi : 0xBF;
    if (s[i] < min || s[i] > max) return {SeqKind::kInvalid, i};
  }
  return {SeqKind::kValid, need};
}

}  // namespace

uint32_t decode_one_lenient(std::string_view text, size_t& i) {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const size_t n = text.size();
  auto cont = [&](size_t k) { return i + k < n && (s[i + k] & 0xC0) == 0x80; };
  const uint8_t b = s[i];
  uint32_t cpt = kReplacementChar;
  size_t len = 1;  // an invalid or truncated sequence skips one byte
  if (!(b & 0x80)) {
    cpt = b;
  } else if (!(b & 0x40)) {
    // stray continuation byte
  } else if (!(b & 0x20)) {
    if (cont(1)) cpt = ((b & 0x1Fu) << 6) | (s[i + 1] & 0x3Fu), len = 2;
  } else if (!(b & 0x10)) {
    if (cont(1) && cont(2))
      cpt = ((b & 0x0Fu) << 12) | ((s[i + 1] & 0x3Fu) << 6) | (s[i + 2] & 0x3Fu), len = 3;
  } else if (!(b & 0x08)) {
    if (cont(1) && cont(2) && cont(3)) {
      cpt = ((b & 0x07u) << 18) | ((s[i + 1] & 0x3Fu) << 12) | ((s[i + 2] & 0x3Fu) << 6) |
            (s[i + 3] & 0x3Fu);
      len = 4;
    }
  }
  i += len;
  return cpt;
}

std::vector<uint32_t> decode_utf8_lenient(std::string_view text) {
  std::vector<uint32_t> out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) out.push_back(decode_one_lenient(text, i));
  return out;
}

void append_utf8(std::string& out, uint32_t cpt) {
  if (cpt > kMaxCodepoint) cpt = kReplacementChar;
  if (cpt < 0x80) {
    out.push_back(static_cast<char>(cpt));
  } else if (cpt < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cpt >> 6)));
    out.push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
  } else if (cpt < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cpt >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cpt >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cpt >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cpt >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cpt >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
  }
}

bool is_whitespace(uint32_t cpt) {
  if (cpt < 0x80) return cpt == ' ' || (cpt >= 0x09 && cpt <= 0x0D);
  switch (cpt) {
    case 0x0085: case 0x00A0: case 0x1680: case 0x2028: case 0x2029: case 0x202F:
    case 0x205F: case 0x3000:
      return true;
    default:
      return cpt >= 0x2000 && cpt <= 0x200A;
  }
}

uint32_t byte_to_unicode(uint8_t b) { return kByteToUnicode[b]; }

std::string_view byte_to_unicode_utf8(uint8_t b) {
  const ByteUtf8& e = kByteUtf8[b];
  return std::string_view(e.bytes, e.length);
}

int unicode_to_byte(uint32_t cpt) { return cpt < kByteTableEnd ? kUnicodeToByte[cpt] : -1; }

size_t incomplete_utf8_suffix(std::string_view text) {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const size_t n = text.size();
  // Lead bytes are never continuation bytes, so a lead within the last 3 bytes starts a
  // sequence; it is held back only when everything after it is a valid continuation.
  for (size_t k = 1; k <= 3 && k <= n; ++k) {
    const uint8_t b = s[n - k];
    if ((b & 0xC0) == 0x80) continue;
    Seq seq = examine(s + n - k, k);
    return seq.kind == SeqKind::kIncomplete && seq.length == k ? k : 0;
  }
  return 0;
}

std::string sanitize_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    Seq seq = examine(s + i, n - i);
    if (seq.kind == SeqKind::kValid) {
      out.append(text.data() + i, seq.length);
    } else {
      append_utf8(out, kReplacementChar);
    }
    i += seq.length;
  }
  return out;
}

}  // namespace hangar::tok
