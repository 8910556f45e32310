// UTF-8 helpers: llama.cpp's lenient decoding, GPT-2's byte table, strict streaming checks.
#include "tokenizer/unicode.h"

#include <gtest/gtest.h>

namespace hangar::tok {
namespace {

TEST(Utf8Lenient, DecodesValidText) {
  EXPECT_EQ(decode_utf8_lenient("a\xC3\xA9\xE4\xB8\xAD\xF0\x9F\xA6\x99"),
            (std::vector<uint32_t>{'a', 0xE9, 0x4E2D, 0x1F999}));
}

TEST(Utf8Lenient, EachBadByteBecomesOneReplacementChar) {
  // A stray continuation byte, a lead byte cut short, and an 0xFF byte.
  EXPECT_EQ(decode_utf8_lenient("\x80" "a" "\xE4\xB8" "b" "\xFF"),
            (std::vector<uint32_t>{0xFFFD, 'a', 0xFFFD, 0xFFFD, 'b', 0xFFFD}));
}

TEST(Utf8Lenient, AcceptsOverlongFormsAndSurrogatesLikeLlamaCpp) {
  EXPECT_EQ(decode_utf8_lenient("\xC1\x81"), (std::vector<uint32_t>{'A'}));
  EXPECT_EQ(decode_utf8_lenient("\xED\xA0\x80"), (std::vector<uint32_t>{0xD800}));
}

TEST(Utf8Encode, EncodesEveryLengthAndReplacesOutOfRange) {
  std::string s;
  for (uint32_t c : {0x41u, 0xE9u, 0x4E2Du, 0x1F999u, 0x110000u}) append_utf8(s, c);
  EXPECT_EQ(s, "A\xC3\xA9\xE4\xB8\xAD\xF0\x9F\xA6\x99\xEF\xBF\xBD");
}

TEST(Whitespace, FollowsUnicodeWhiteSpace) {
  for (uint32_t c : {0x09u, 0x0Du, 0x20u, 0x85u, 0xA0u, 0x1680u, 0x2000u, 0x200Au, 0x2028u,
                     0x3000u})
    EXPECT_TRUE(is_whitespace(c)) << std::hex << c;
  for (uint32_t c : {0x08u, 0x1Cu, 0x41u, 0x180Eu, 0x200Bu, 0xFEFFu})
    EXPECT_FALSE(is_whitespace(c)) << std::hex << c;
}

TEST(ByteTable, MatchesGpt2) {
  EXPECT_EQ(byte_to_unicode('A'), 'A');
  EXPECT_EQ(byte_to_unicode(' '), 0x120u);   // "Ġ"
  EXPECT_EQ(byte_to_unicode('\n'), 0x10Au);  // "Ċ"
  EXPECT_EQ(byte_to_unicode(0x00), 0x100u);
  EXPECT_EQ(byte_to_unicode(0xAD), 0x143u);  // the last of the 68 remapped bytes
  EXPECT_EQ(byte_to_unicode_utf8(' '), "\xC4\xA0");
  for (int b = 0; b < 256; ++b)
    EXPECT_EQ(unicode_to_byte(byte_to_unicode(static_cast<uint8_t>(b))), b);
  EXPECT_EQ(unicode_to_byte(0x20), -1);  // a space is not a stand-in
  EXPECT_EQ(unicode_to_byte(0x144), -1);
}

TEST(IncompleteSuffix, CountsOnlyAValidUnfinishedSequence) {
  EXPECT_EQ(incomplete_utf8_suffix(""), 0u);
  EXPECT_EQ(incomplete_utf8_suffix("abc"), 0u);
  EXPECT_EQ(incomplete_utf8_suffix("a\xF0"), 1u);
  EXPECT_EQ(incomplete_utf8_suffix("a\xF0\x9F"), 2u);
  EXPECT_EQ(incomplete_utf8_suffix("a\xF0\x9F\xA6"), 3u);
  EXPECT_EQ(incomplete_utf8_suffix("a\xF0\x9F\xA6\x99"), 0u);   // complete
  EXPECT_EQ(incomplete_utf8_suffix("\xE4\xB8"), 2u);
  EXPECT_EQ(incomplete_utf8_suffix("\xC3"), 1u);
  EXPECT_EQ(incomplete_utf8_suffix("\xE0\x80"), 0u);  // overlong: can never complete
  EXPECT_EQ(incomplete_utf8_suffix("\xED\xA0"), 0u);  // surrogate
  EXPECT_EQ(incomplete_utf8_suffix("\xF5"), 0u);      // beyond U+10FFFF
  EXPECT_EQ(incomplete_utf8_suffix("\x80"), 0u);      // stray continuation
}

TEST(Sanitize, ReplacesEachMaximalInvalidSubpart) {
  EXPECT_EQ(sanitize_utf8("ok \xC3\xA9"), "ok \xC3\xA9");
  EXPECT_EQ(sanitize_utf8("a\x80" "b"), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(sanitize_utf8("\xF0\x9F\xA6" "b"), "\xEF\xBF\xBD" "b");  // truncated 4-byte: one U+FFFD
  EXPECT_EQ(sanitize_utf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong: two
  EXPECT_EQ(sanitize_utf8("\xE4\xB8"), "\xEF\xBF\xBD");
}

}  // namespace
}  // namespace hangar::tok
