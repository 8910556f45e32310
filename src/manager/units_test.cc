// Tests for flag parsing (byte sizes, durations), enum names, and sha256 of bytes and files.
#include <gtest/gtest.h>

#include <fstream>

#include "manager/model_record.h"
#include "manager/sha256.h"
#include "manager/test_support.h"
#include "manager/units.h"

namespace hangar::manager {
namespace {

TEST(Units, ParseBytesSuffixes) {
  EXPECT_EQ(parse_bytes("1024").value(), 1024u);
  EXPECT_EQ(parse_bytes("8G").value(), 8000000000u);
  EXPECT_EQ(parse_bytes("8g").value(), 8000000000u);
  EXPECT_EQ(parse_bytes("512Mi").value(), 512u * 1024 * 1024);
  EXPECT_EQ(parse_bytes("2GiB").value(), 2ull << 30);
  EXPECT_EQ(parse_bytes("1.5Gi").value(), 3ull << 29);
  EXPECT_EQ(parse_bytes("4K").value(), 4000u);
  EXPECT_EQ(parse_bytes("18446744073709551615").value(), UINT64_MAX);
}

TEST(Units, ParseBytesRejectsBadInputNamingTheFlag) {
  for (const char* bad : {"", "G", "-1", "12X", "1.5", "99999999999999999999", "1e9"}) {
    auto r = parse_bytes(bad, "--memory-budget");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().message().find("--memory-budget"), std::string::npos);
  }
}

TEST(Units, ParseDurations) {
  EXPECT_EQ(parse_duration_ms("5m").value(), 300000);
  EXPECT_EQ(parse_duration_ms("30s").value(), 30000);
  EXPECT_EQ(parse_duration_ms("30").value(), 30000);  // plain numbers are seconds
  EXPECT_EQ(parse_duration_ms("500ms").value(), 500);
  EXPECT_EQ(parse_duration_ms("1.5h").value(), 5400000);
  EXPECT_EQ(parse_duration_ms("0").value(), 0);
  EXPECT_EQ(parse_duration_ms("-1").value(), -1);
  EXPECT_FALSE(parse_duration_ms("-2").ok());
  EXPECT_FALSE(parse_duration_ms("-1m").ok());
  EXPECT_FALSE(parse_duration_ms("5d").ok());
  EXPECT_FALSE(parse_duration_ms("soon").ok());
}

TEST(Units, EnumNamesRoundTrip) {
  EXPECT_EQ(parse_eviction_policy("LRU"), EvictionPolicy::kLru);
  EXPECT_EQ(parse_eviction_policy("cost"), EvictionPolicy::kCost);
  EXPECT_FALSE(parse_eviction_policy("random").has_value());
  EXPECT_EQ(parse_preload_strategy("Recency"), PreloadStrategy::kRecency);
  EXPECT_FALSE(parse_preload_strategy("fastest").has_value());
  EXPECT_STREQ(model_state_name(ModelState::kLoading), "loading");
}

// Digests are the FIPS 180-2 example vectors.
TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_bytes(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_bytes("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256, FileAcrossChunkBoundariesWithProgress) {
  testing::TempDir dir;
  std::string path = dir.path("million_a");
  {
    std::ofstream out(path, std::ios::binary);
    out << std::string(1000000, 'a');
  }
  std::vector<uint64_t> seen;
  auto digest = sha256_file(path, [&](uint64_t done, uint64_t total) {
    EXPECT_EQ(total, 1000000u);
    seen.push_back(done);
  }, nullptr, 65537);  // an odd chunk size, so chunks straddle SHA-256's 64-byte blocks
  ASSERT_TRUE(digest.ok()) << digest.error().message();
  EXPECT_EQ(*digest, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  ASSERT_EQ(seen.size(), 16u);  // ceil(1e6 / 65537)
  EXPECT_EQ(seen.back(), 1000000u);
}

TEST(Sha256, MissingFileAndCancelAreErrors) {
  auto missing = sha256_file("/nonexistent/hangar/file.gguf");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message().find("/nonexistent/hangar/file.gguf"), std::string::npos);
  testing::TempDir dir;
  {
    std::ofstream out(dir.path("f"), std::ios::binary);
    out << "data";
  }
  std::atomic<bool> cancel{true};
  auto cancelled = sha256_file(dir.path("f"), {}, &cancel);
  ASSERT_FALSE(cancelled.ok());
  EXPECT_NE(cancelled.error().message().find("cancelled"), std::string::npos);
}

}  // namespace
}  // namespace hangar::manager
