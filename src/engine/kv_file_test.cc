// kv_file: round trip, and every kind of damage (truncation, flipped bits, magic, version) is
// reported, never read as data.
#include "engine/kv_file.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

namespace hangar::engine {
namespace {

namespace fs = std::filesystem;

class KvFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kv_file_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "a.kv").string();
    header_.model = {"/models/m.gguf", "", 12345, 678};
    header_.layout = "arch=test";
    header_.block_tokens = 32;
    header_.n_layer = 2;
    header_.kv_dim = 8;
    for (int i = 0; i < 70; ++i) header_.tokens.push_back(1000 + i);  // 3 blocks: 32, 32, 6 slots
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Byte j of block b: a pattern no two blocks share.
  static uint8_t pattern(int32_t b, size_t j) { return static_cast<uint8_t>(b * 31 + j * 7 + (j >> 8)); }
  Result<KvFileHeader> write() {
    return write_kv_file(path_, header_, [](int32_t b, int32_t slots, uint8_t* dst) {
      const size_t n = static_cast<size_t>(2) * 2 * slots * 8 * sizeof(uint16_t);
      for (size_t j = 0; j < n; ++j) dst[j] = pattern(b, j);
    });
  }
  void flip_byte(uint64_t offset) {
    std::fstream f(path_, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(offset));
    char c = 0;
    f.read(&c, 1);
    c ^= 0x10;
    f.seekp(static_cast<std::streamoff>(offset));
    f.write(&c, 1);
  }

  fs::path dir_;
  std::string path_;
  KvFileHeader header_;
};

TEST_F(KvFileTest, RoundTripKeepsHeaderAndEveryBlockByte) {
  Result<KvFileHeader> written = write();
  ASSERT_TRUE(written.ok()) << written.error().message();
  Result<KvFileReader> r = KvFileReader::open(path_);
  ASSERT_TRUE(r.ok()) << r.error().message();
  const KvFileHeader& h = r->header();
  // The writer's header is the one read back (the store indexes it without reading the file).
  EXPECT_EQ(written->header_bytes, h.header_bytes);
  EXPECT_EQ(written->block_sums, h.block_sums);
  EXPECT_EQ(written->tokens, h.tokens);
  EXPECT_EQ(written->file_bytes(), h.file_bytes());
  EXPECT_EQ(h.model.path, "/models/m.gguf");
  EXPECT_EQ(h.model.file_size, 12345u);
  EXPECT_EQ(h.model.mtime_ns, 678);
  EXPECT_EQ(h.layout, "arch=test");
  EXPECT_EQ(h.tokens, header_.tokens);
  ASSERT_EQ(h.n_blocks(), 3);
  EXPECT_EQ(h.slots_in(2), 6);
  EXPECT_EQ(fs::file_size(path_), h.file_bytes());
  int seen = 0;
  Status st = r->read_blocks(3, [&](int32_t b, int32_t slots, const uint8_t* data) {
    EXPECT_EQ(slots, b < 2 ? 32 : 6);
    const size_t n = static_cast<size_t>(2) * 2 * slots * 8 * sizeof(uint16_t);
    for (size_t j = 0; j < n; ++j) ASSERT_EQ(data[j], pattern(b, j)) << "block " << b << " byte " << j;
    ++seen;
  });
  EXPECT_TRUE(st.ok()) << st.error().message();
  EXPECT_EQ(seen, 3);
}

TEST_F(KvFileTest, LeavesNoTemporaryFile) {
  ASSERT_TRUE(write().ok());
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir_)) {
    EXPECT_EQ(e.path().filename(), "a.kv");
    ++files;
  }
  EXPECT_EQ(files, 1);
}

TEST_F(KvFileTest, TruncatedFileIsRefusedAtOpen) {
  ASSERT_TRUE(write().ok());
  fs::resize_file(path_, fs::file_size(path_) - 1);
  Result<KvFileReader> r = KvFileReader::open(path_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("truncated"), std::string::npos) << r.error().message();
  fs::resize_file(path_, 20);  // inside the header
  EXPECT_FALSE(KvFileReader::open(path_).ok());
}

TEST_F(KvFileTest, FlippedPayloadBitFailsThatBlocksChecksum) {
  ASSERT_TRUE(write().ok());
  uint64_t offset = 0;
  {
    Result<KvFileReader> r = KvFileReader::open(path_);
    ASSERT_TRUE(r.ok());
    offset = r->header().block_offset(1) + 100;
  }
  flip_byte(offset);
  Result<KvFileReader> r = KvFileReader::open(path_);
  ASSERT_TRUE(r.ok()) << "the header is intact";
  EXPECT_TRUE(r->read_blocks(1, [](int32_t, int32_t, const uint8_t*) {}).ok()) << "block 0 is intact";
  Status st = r->read_blocks(3, [](int32_t, int32_t, const uint8_t*) {});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("checksum mismatch in block 1"), std::string::npos) << st.error().message();
}

TEST_F(KvFileTest, FlippedHeaderBitIsRefused) {
  ASSERT_TRUE(write().ok());
  flip_byte(40);  // inside the model identity
  Result<KvFileReader> r = KvFileReader::open(path_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("header checksum"), std::string::npos) << r.error().message();
}

TEST_F(KvFileTest, ForeignFileAndOtherVersionAreRefused) {
  {
    std::ofstream f(path_, std::ios::binary);
    f << "GGUF this is not a KV file at all, but long enough to hold a header";
  }
  Result<KvFileReader> r = KvFileReader::open(path_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("bad magic"), std::string::npos) << r.error().message();
  ASSERT_TRUE(write().ok());
  std::fstream f(path_, std::ios::in | std::ios::out | std::ios::binary);
  const uint32_t version = kKvFileVersion + 1;
  f.seekp(8);
  f.write(reinterpret_cast<const char*>(&version), 4);
  f.close();
  r = KvFileReader::open(path_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("format version"), std::string::npos) << r.error().message();
}

TEST(KvChecksum, EveryBitAndLengthMatters) {
  std::vector<uint8_t> data(1000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 13);
  const uint64_t base = kv_checksum(data.data(), data.size());
  // Each length (every tail path: 32-byte lanes, 8-byte words, bytes) and each single bit.
  for (size_t n = 0; n < 70; ++n) EXPECT_NE(kv_checksum(data.data(), n), kv_checksum(data.data(), n + 1)) << n;
  for (size_t i = 0; i < data.size(); i += 37) {
    for (int bit = 0; bit < 8; bit += 3) {
      data[i] ^= static_cast<uint8_t>(1 << bit);
      EXPECT_NE(kv_checksum(data.data(), data.size()), base) << i << ":" << bit;
      data[i] ^= static_cast<uint8_t>(1 << bit);
    }
  }
  EXPECT_EQ(kv_checksum(data.data(), data.size()), base);
  EXPECT_NE(kv_checksum(data.data(), data.size(), 1), base) << "the seed (block index) matters";
}

TEST(KvIdentity, ShaWhenBothKnowItElsePathAndMtime) {
  KvModelIdentity saved{"/m/a.gguf", "", 100, 5};
  EXPECT_TRUE(same_model(saved, {"/m/a.gguf", "", 100, 5}));
  EXPECT_FALSE(same_model(saved, {"/m/a.gguf", "", 100, 6})) << "mtime changed, hash pending";
  EXPECT_FALSE(same_model(saved, {"/m/a.gguf", "", 101, 5})) << "size changed";
  EXPECT_FALSE(same_model(saved, {"/m/b.gguf", "", 100, 5})) << "another file, hash pending";
  EXPECT_TRUE(same_model(saved, {"/m/a.gguf", "ab", 100, 5})) << "hash known on one side only";
  saved.sha256 = "ab";
  EXPECT_TRUE(same_model(saved, {"/m/b.gguf", "ab", 100, 9})) << "same digest: a copy of the model";
  EXPECT_FALSE(same_model(saved, {"/m/a.gguf", "cd", 100, 5})) << "same path and mtime, other digest";
}

}  // namespace
}  // namespace hangar::engine
