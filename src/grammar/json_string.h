// The JSON string terminal as a byte automaton: escapes, UTF-8 validity and a character count.
#pragma once

#include <cstdint>

#include "grammar/grammar.h"

namespace hangar::grammar {

// The state of a string terminal: a phase in the low 4 bits, the characters so far above.
namespace str {

enum Phase : uint32_t {
  kOpen = 0,   // before the opening quote
  kBody,       // between characters
  kEsc,        // after a backslash
  kHex4,       // \u: four hex digits to go (the first may not start a surrogate)
  kHex3Low,    // \uD: the next digit must be 0-7 (no surrogates: they must come in pairs)
  kHex3,
  kHex2,
  kHex1,
  kCont1,      // UTF-8: continuation bytes to go
  kCont2,
  kCont3,
  kE0,         // after E0: A0-BF (no overlong forms)
  kED,         // after ED: 80-9F (no surrogates)
  kF0,         // after F0: 90-BF
  kF4,         // after F4: 80-8F (nothing past U+10FFFF)
  kPhases
};

inline constexpr int32_t kDead = -1;    // the byte is not allowed
inline constexpr int32_t kClosed = -2;  // the byte was the closing quote

inline uint32_t phase(uint32_t aux) { return aux & 15; }
inline uint32_t count(uint32_t aux) { return aux >> 4; }
inline uint32_t make(uint32_t phase, uint32_t count) { return phase | (count << 4); }

// The state a string terminal starts in.
inline uint32_t initial(const StringSpec& s) { return make(s.open ? kOpen : kBody, 0); }

// The state after byte `b`, kDead, or kClosed. O(1).
inline int32_t step(const StringSpec& s, uint32_t aux, uint8_t b) {
  const uint32_t n = count(aux);
  const bool room = s.max_chars < 0 || n < static_cast<uint32_t>(s.max_chars);
  auto to = [&](uint32_t p, uint32_t c) { return static_cast<int32_t>(make(p, c)); };
  auto hex = [](uint8_t c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); };
  auto cont = [](uint8_t c, uint8_t lo, uint8_t hi) { return c >= lo && c <= hi; };
  switch (phase(aux)) {
    case kOpen: return b == '"' ? to(kBody, 0) : kDead;
    case kBody:
      if (b == '"') return static_cast<int32_t>(n) >= s.min_chars ? kClosed : kDead;
      if (!room) return kDead;
      if (b == '\\') return s.escapes ? to(kEsc, n) : kDead;
      if (b < 0x20) return kDead;
      if (b < 0x80) return to(kBody, n + 1);
      if (b >= 0xC2 && b <= 0xDF) return to(kCont1, n);
      if (b == 0xE0) return to(kE0, n);
      if (b == 0xED) return to(kED, n);
      if (b >= 0xE1 && b <= 0xEF) return to(kCont2, n);
      if (b == 0xF0) return to(kF0, n);
      if (b >= 0xF1 && b <= 0xF3) return to(kCont3, n);
      if (b == 0xF4) return to(kF4, n);
      return kDead;
    case kEsc:
      switch (b) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't': return to(kBody, n + 1);
        case 'u': return to(kHex4, n);
        default: return kDead;
      }
    case kHex4:
      if (b == 'd' || b == 'D') return to(kHex3Low, n);
      return hex(b) ? to(kHex3, n) : kDead;
    case kHex3Low: return b >= '0' && b <= '7' ? to(kHex2, n) : kDead;
    case kHex3: return hex(b) ? to(kHex2, n) : kDead;
    case kHex2: return hex(b) ? to(kHex1, n) : kDead;
    case kHex1: return hex(b) ? to(kBody, n + 1) : kDead;
    case kCont1: return cont(b, 0x80, 0xBF) ? to(kBody, n + 1) : kDead;
    case kCont2: return cont(b, 0x80, 0xBF) ? to(kCont1, n) : kDead;
    case kCont3: return cont(b, 0x80, 0xBF) ? to(kCont2, n) : kDead;
    case kE0: return cont(b, 0xA0, 0xBF) ? to(kCont1, n) : kDead;
    case kED: return cont(b, 0x80, 0x9F) ? to(kCont1, n) : kDead;
    case kF0: return cont(b, 0x90, 0xBF) ? to(kCont2, n) : kDead;
    case kF4: return cont(b, 0x80, 0x8F) ? to(kCont2, n) : kDead;
    default: return kDead;
  }
}

}  // namespace str
}  // namespace hangar::grammar
