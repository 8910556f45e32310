// MappedFile: both backings give the file's bytes; the memory copy is huge-page aligned and
// resident; errors name the file.
#include "base/mapped_file.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace hangar {
namespace {

std::string temp_file(const std::vector<uint8_t>& bytes) {
  char path[] = "/tmp/hangar-mapped-XXXXXX";
  const int fd = ::mkstemp(path);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  ::close(fd);
  return path;
}

TEST(MappedFile, BothBackingsHoldTheFileBytes) {
  // Larger than the 16 MiB read chunk and not a multiple of any page size.
  std::vector<uint8_t> bytes((size_t{17} << 20) + 12345);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 2654435761u >> 13);
  const std::string path = temp_file(bytes);
  for (auto backing : {MappedFile::Backing::kMap, MappedFile::Backing::kMemory}) {
    auto f = MappedFile::open(path, backing);
    ASSERT_TRUE(f.ok()) << f.error().message();
    EXPECT_EQ(f->backing(), backing);
    ASSERT_EQ(f->size(), bytes.size());
    EXPECT_EQ(std::memcmp(f->data(), bytes.data(), bytes.size()), 0);
    if (backing == MappedFile::Backing::kMemory) {
      EXPECT_EQ(reinterpret_cast<uintptr_t>(f->data()) % (size_t{2} << 20), 0u);
      EXPECT_GE(f->resident_bytes(), bytes.size());  // read in: every page is present
    }
    MappedFile moved = std::move(*f);  // the bytes follow a move
    EXPECT_EQ(std::memcmp(moved.data(), bytes.data(), 4096), 0);
  }
  std::remove(path.c_str());
}

TEST(MappedFile, EmptyAndMissingFiles) {
  const std::string path = temp_file({});
  for (auto backing : {MappedFile::Backing::kMap, MappedFile::Backing::kMemory}) {
    auto f = MappedFile::open(path, backing);
    ASSERT_TRUE(f.ok()) << f.error().message();
    EXPECT_EQ(f->size(), 0u);
    auto missing = MappedFile::open(path + ".missing", backing);
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.error().message().find(path + ".missing"), std::string::npos);
  }
  std::remove(path.c_str());
}

TEST(HugePageBuffer, AlignedWritableAndMovable) {
  auto b = HugePageBuffer::allocate(3u << 20);
  ASSERT_TRUE(b.ok()) << b.error().message();
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b->data()) % (size_t{2} << 20), 0u);
  std::memset(b->data(), 7, b->size());
  HugePageBuffer c = std::move(*b);
  EXPECT_EQ(b->data(), nullptr);
  EXPECT_EQ(c.data()[c.size() - 1], 7);
}

TEST(MappedFile, WeightsMappingIsHugePageAlignedAndSurvivesTruncation) {
  const long page = ::sysconf(_SC_PAGESIZE);
  std::vector<uint8_t> bytes(static_cast<size_t>(page) * 5 + 100, 7);
  const std::string path = temp_file(bytes);
  auto f = MappedFile::open(path, MappedFile::Backing::kWeights);
  ASSERT_TRUE(f.ok()) << f.error().message();
  EXPECT_EQ(f->backing(), MappedFile::Backing::kWeights);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(f->data()) % (size_t{2} << 20), 0u);
  EXPECT_EQ(f->data()[page * 3], 7);
  EXPECT_FALSE(f->pulled_away());
  // `cp other x.gguf` truncates x.gguf in place: its pages leave the mapping. Reading them
  // must not kill the process (SIGBUS); they read as zeros and the mapping says so.
  ASSERT_EQ(::truncate(path.c_str(), page), 0);
  volatile const uint8_t* d = f->data();
  EXPECT_EQ(d[page * 3], 0);
  EXPECT_EQ(d[page * 5 + 50], 0);
  EXPECT_TRUE(f->pulled_away());
  EXPECT_EQ(d[0], 7);  // what the file still holds is unchanged
  std::remove(path.c_str());
}

TEST(MappedFileDeathTest, TruncationUnderAnUnguardedMappingStillKills) {
  // The guard only absorbs faults in its own ranges: a plain mapping dies as it always did.
  const long page = ::sysconf(_SC_PAGESIZE);
  const std::string path = temp_file(std::vector<uint8_t>(static_cast<size_t>(page) * 4, 1));
  auto guarded = MappedFile::open(path, MappedFile::Backing::kWeights);  // installs the handler
  ASSERT_TRUE(guarded.ok());
  EXPECT_DEATH(
      {
        auto f = MappedFile::open(path, MappedFile::Backing::kMap);
        if (::truncate(path.c_str(), 0) != 0) std::abort();
        volatile const uint8_t* d = f->data();
        if (d[page * 2] == 42) std::puts("");
      },
      "");
  std::remove(path.c_str());
}

}  // namespace
}  // namespace hangar
