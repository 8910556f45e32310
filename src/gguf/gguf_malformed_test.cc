// Malformed GGUF files: each must give an error that names the file and the problem, never a crash.
#include <gtest/gtest.h>

#include <limits>

#include "gguf/gguf_file.h"
#include "gguf/gguf_test_util.h"
#include "gguf/gguf_writer.h"

namespace hangar::gguf {
namespace {

using testing::temp_path;
using testing::write_bytes;

// Opens a file made of `bytes` and returns the error message (empty when it opened).
std::string open_error(const std::vector<uint8_t>& bytes, const std::string& name = "bad.gguf",
                       bool header_only = false) {
  std::string path = temp_path(name);
  write_bytes(path, bytes);
  auto f = header_only ? File::open_header(path) : File::open(path);
  if (f.ok()) return "";
  EXPECT_NE(f.error().message().find(path), std::string::npos) << "error does not name the file";
  return f.error().message();
}

Encoder header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
  Encoder e;
  e.u32(kMagic);
  e.u32(version);
  e.u64(n_tensors);
  e.u64(n_kv);
  return e;
}

void tensor_info(Encoder& e, const std::string& name, std::vector<int64_t> dims, uint32_t type,
                 uint64_t offset) {
  e.string(name);
  e.u32(static_cast<uint32_t>(dims.size()));
  for (int64_t d : dims) e.i64(d);
  e.u32(type);
  e.u64(offset);
}

TEST(GgufMalformed, EmptyAndTruncatedHeader) {
  EXPECT_NE(open_error({}).find("truncated"), std::string::npos);
  Encoder e;
  e.u32(kMagic);
  e.u32(3);
  e.u32(0);  // half a tensor count
  EXPECT_NE(open_error(e.bytes()).find("tensor count"), std::string::npos);
}

TEST(GgufMalformed, BadMagicAndVersion) {
  EXPECT_NE(open_error({'G', 'G', 'M', 'L', 0, 0, 0, 0}).find("bad magic"), std::string::npos);
  auto v1 = header(0, 0, 1);
  EXPECT_NE(open_error(v1.bytes()).find("unsupported GGUF version 1"), std::string::npos);
  auto be = header(0, 0, 0x03000000);
  EXPECT_NE(open_error(be.bytes()).find("big-endian"), std::string::npos);
}

TEST(GgufMalformed, HugeCounts) {
  auto e = header(0, std::numeric_limits<uint64_t>::max());
  EXPECT_NE(open_error(e.bytes()).find("metadata count"), std::string::npos);
  auto t = header(1ull << 60, 0);
  EXPECT_NE(open_error(t.bytes()).find("tensor count"), std::string::npos);
}

TEST(GgufMalformed, StringLengthPastEnd) {
  auto e = header(0, 1);
  e.u64(1000);  // key length
  e.raw("abcdefghijklmnopqrstuvwxyz", 26);
  EXPECT_NE(open_error(e.bytes()).find("runs past the end"), std::string::npos);
}

TEST(GgufMalformed, HugeArrayLength) {
  auto e = header(0, 1);
  e.string("tokenizer.ggml.tokens");
  e.u32(static_cast<uint32_t>(ValueType::kArray));
  e.u32(static_cast<uint32_t>(ValueType::kString));
  e.u64(1ull << 62);
  std::string msg = open_error(e.bytes());
  EXPECT_NE(msg.find("tokenizer.ggml.tokens"), std::string::npos);
  EXPECT_NE(msg.find("runs past the end"), std::string::npos);
}

TEST(GgufMalformed, UnknownValueType) {
  auto e = header(0, 1);
  e.string("general.name");
  e.u32(99);
  std::string msg = open_error(e.bytes());
  EXPECT_NE(msg.find("general.name"), std::string::npos);
  EXPECT_NE(msg.find("unknown value type 99"), std::string::npos);
}

TEST(GgufMalformed, DuplicateKey) {
  auto e = header(0, 2);
  for (int i = 0; i < 2; ++i) {
    e.string("general.name");
    e.u32(static_cast<uint32_t>(ValueType::kString));
    e.string("x");
  }
  EXPECT_NE(open_error(e.bytes()).find("duplicate metadata key general.name"), std::string::npos);
}

TEST(GgufMalformed, UnknownTensorType) {
  auto e = header(1, 0);
  tensor_info(e, "blk.0.attn_q.weight", {32, 2}, 77, 0);
  e.pad_to(32);
  e.bytes().resize(e.bytes().size() + 1024);
  std::string msg = open_error(e.bytes());
  EXPECT_NE(msg.find("blk.0.attn_q.weight"), std::string::npos);
  EXPECT_NE(msg.find("unknown tensor type id 77"), std::string::npos);
}

TEST(GgufMalformed, DimsProductOverflows) {
  auto e = header(1, 0);
  tensor_info(e, "huge", {1ll << 32, 1ll << 32, 1ll << 32}, 0, 0);
  std::string msg = open_error(e.bytes());
  EXPECT_NE(msg.find("huge"), std::string::npos);
  EXPECT_NE(msg.find("overflow"), std::string::npos);
}

// 2^62 f32 elements are 2^64 bytes: a size that wraps to 0 would pass the end-of-file check.
TEST(GgufMalformed, TensorByteSizeOverflows) {
  for (std::vector<int64_t> dims : {std::vector<int64_t>{1ll << 62}, {1ll << 61, 2}, {3, 1ll << 61}}) {
    auto e = header(1, 0);
    tensor_info(e, "wraps", dims, static_cast<uint32_t>(TensorType::kF32), 0);
    e.pad_to(32);
    e.bytes().resize(e.bytes().size() + 64);
    std::string msg = open_error(e.bytes());
    EXPECT_NE(msg.find("wraps"), std::string::npos) << msg;
    EXPECT_NE(msg.find("overflow a 64-bit byte size"), std::string::npos) << msg;
  }
}

// One byte of uint8 array is a whole Value in memory: a file of a few MiB must not become
// gigabytes. The limit names the key.
TEST(GgufMalformed, MetadataMemoryIsBounded) {
  const uint64_t n = (kMaxHeaderMemory / sizeof(Value)) + 1024;
  auto e = header(0, 1);
  e.string("general.blob");
  e.u32(static_cast<uint32_t>(ValueType::kArray));
  e.u32(static_cast<uint32_t>(ValueType::kUint8));
  e.u64(n);
  e.bytes().resize(e.bytes().size() + n, 7);
  std::string msg = open_error(e.bytes());
  EXPECT_NE(msg.find("general.blob"), std::string::npos) << msg;
  EXPECT_NE(msg.find("MiB of memory"), std::string::npos) << msg;
}

TEST(GgufMalformed, TooManyDims) {
  auto e = header(1, 0);
  tensor_info(e, "t", {1, 1, 1, 1, 1}, 0, 0);
  EXPECT_NE(open_error(e.bytes()).find("expected 1 to 4"), std::string::npos);
}

TEST(GgufMalformed, RowNotMultipleOfBlock) {
  auto e = header(1, 0);
  tensor_info(e, "q", {33}, static_cast<uint32_t>(TensorType::kQ8_0), 0);
  EXPECT_NE(open_error(e.bytes()).find("not a multiple of the q8_0 block size 32"), std::string::npos);
}

TEST(GgufMalformed, TensorDataPastEnd) {
  auto e = header(1, 0);
  tensor_info(e, "output.weight", {64, 64}, 0, 0);  // 16 KiB of f32, file has ~100 bytes
  e.pad_to(32);
  std::string msg = open_error(e.bytes());
  EXPECT_NE(msg.find("output.weight"), std::string::npos);
  EXPECT_NE(msg.find("runs past the end of the file"), std::string::npos);
}

TEST(GgufMalformed, MisalignedTensorOffset) {
  auto e = header(1, 0);
  tensor_info(e, "t", {4}, 0, 3);
  e.pad_to(32);
  e.bytes().resize(e.bytes().size() + 64);
  EXPECT_NE(open_error(e.bytes()).find("not a multiple of the alignment"), std::string::npos);
}

TEST(GgufMalformed, BadAlignmentValue) {
  auto e = header(0, 1);
  e.string("general.alignment");
  e.u32(static_cast<uint32_t>(ValueType::kUint32));
  e.u32(24);
  EXPECT_NE(open_error(e.bytes()).find("power of two"), std::string::npos);
}

TEST(GgufMalformed, MissingOrWrongTypedRequiredKey) {
  Writer w;
  w.set("llama.block_count", Value::string("sixteen"));
  std::string path = temp_path("keys.gguf");
  ASSERT_TRUE(w.write_file(path).ok());
  auto f = File::open(path);
  ASSERT_TRUE(f.ok());
  auto missing = f->get_int("llama.context_length");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message().find("llama.context_length"), std::string::npos);
  EXPECT_NE(missing.error().message().find("missing"), std::string::npos);
  auto wrong = f->get_int("llama.block_count");
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.error().message().find("expected an integer, found a string"), std::string::npos);
}

TEST(GgufMalformed, EveryTruncationOfARealHeaderFailsCleanly) {
  // Cut a real model's header at many points: each must be an error, never a crash.
  auto f = File::open(HANGAR_SHARED_DIR "/models/llama-2-tiny-random.gguf");
  ASSERT_TRUE(f.ok());
  std::vector<uint8_t> bytes(f->mapped().data(), f->mapped().data() + f->data_offset());
  for (size_t cut = 0; cut < bytes.size(); cut += 1 + cut / 16) {
    std::vector<uint8_t> part(bytes.begin(), bytes.begin() + cut);
    EXPECT_FALSE(open_error(part, "cut.gguf").empty()) << "cut at " << cut;
    // A header-only open skips the vocabulary's strings but checks every length.
    EXPECT_FALSE(open_error(part, "cut.gguf", /*header_only=*/true).empty()) << "cut at " << cut;
  }
}

// open_header reads the header through pread and maps nothing.
TEST(GgufHeader, OpenHeaderMatchesOpenWithoutMapping) {
  const std::string path = HANGAR_SHARED_DIR "/models/qwen2-d256-q4_k_m.gguf";
  auto full = File::open(path);
  auto head = File::open_header(path);
  ASSERT_TRUE(full.ok() && head.ok());
  EXPECT_EQ(head->mapped().size(), 0u);
  EXPECT_EQ(head->file_size(), full->file_size());
  EXPECT_EQ(head->data_offset(), full->data_offset());
  ASSERT_EQ(head->metadata().size(), full->metadata().size());
  ASSERT_EQ(head->tensors().size(), full->tensors().size());
  for (size_t i = 0; i < head->tensors().size(); ++i) {
    const TensorInfo& a = head->tensors()[i];
    EXPECT_EQ(a.name, full->tensors()[i].name);
    EXPECT_EQ(a.n_bytes, full->tensors()[i].n_bytes);
    EXPECT_EQ(a.data, nullptr);
    EXPECT_EQ(full->find_tensor(a.name), &full->tensors()[i]);
  }
  const Array* tokens = head->find("tokenizer.ggml.tokens")->as_array();  // skipped, counted
  ASSERT_NE(tokens, nullptr);
  EXPECT_EQ(tokens->size(), full->find("tokenizer.ggml.tokens")->as_array()->size());
  EXPECT_EQ(head->find("no.such.key"), nullptr);
}

TEST(GgufMalformed, DuplicateTensorName) {
  auto e = header(2, 0);
  tensor_info(e, "b", {4}, 0, 0);
  tensor_info(e, "b", {4}, 0, 32);
  e.pad_to(32);
  e.bytes().resize(e.bytes().size() + 64);
  EXPECT_NE(open_error(e.bytes()).find("duplicate tensor name b"), std::string::npos);
}

TEST(GgufMalformed, MissingFile) {
  auto f = File::open("/nonexistent/model.gguf");
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.error().message().find("/nonexistent/model.gguf"), std::string::npos);
}

}  // namespace
}  // namespace hangar::gguf
