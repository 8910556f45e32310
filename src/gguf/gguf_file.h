// gguf::File: a bounds-checked GGUF (v2/v3) reader; headers are read with pread(2), tensor
// data is mapped or copied into memory.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/mapped_file.h"
#include "base/result.h"
#include "base/tensor_type.h"
#include "gguf/gguf_value.h"

namespace hangar::gguf {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" little-endian
constexpr uint64_t kDefaultAlignment = 32;
// The most memory a file's metadata and tensor infos may take once parsed. A value costs far
// more in memory than in the file (a one-byte array element becomes a Value), so without a
// cap a small file could ask for gigabytes. The largest real vocabularies take about 50 MiB.
constexpr uint64_t kMaxHeaderMemory = uint64_t{256} << 20;

struct TensorInfo {
  std::string name;
  TensorType type;
  std::vector<int64_t> dims;  // ggml order: dims[0] is the contiguous (row) length
  int64_t n_elements = 0;
  uint64_t offset = 0;        // from the start of the data section
  uint64_t n_bytes = 0;
  const uint8_t* data = nullptr;  // points into the mapping (null after open_header); valid
                                  // while the File lives
};

// Owns the mapping; movable. Every offset and count was checked against the file size, so
// tensor data pointers are safe to read for n_bytes.
class File {
 public:
  // What open() does with metadata arrays longer than kHeaderArrayItems (vocabularies,
  // merges): decode them, or check and skip them (Array::n_unread) until read_long_arrays().
  enum class LongArrays { kRead, kSkip };
  // Returns an error naming the file and what was malformed: truncation, counts past the end,
  // unknown value or tensor types, overflowing dims or byte sizes, misaligned or out-of-range
  // tensor data, metadata that would take more than kMaxHeaderMemory. With kMap the header is
  // read with pread and only the data is mapped; with kMemory the whole file is copied first.
  // `progress` (optional) follows kMemory's copy.
  static Result<File> open(const std::string& path, MappedFile::Backing backing = MappedFile::Backing::kMap,
                           LongArrays arrays = LongArrays::kRead, const ByteProgress& progress = {});
  // Decodes the arrays a LongArrays::kSkip open skipped (from the mapping; a no-op when none
  // was). Invalidates Value pointers from find(). Asserts on a header-only File.
  Status read_long_arrays();
  // Hyper-parameters and tensor infos only: the header is read with pread (no mapping: mapped()
  // is empty and every TensorInfo::data is null, and a file truncated or rewritten meanwhile is
  // an error, never SIGBUS), every check of open() is made, but arrays longer than
  // kHeaderArrayItems (vocabularies, merges) are skipped over, not decoded (Array::n_unread).
  // For scans and estimates; asking for such an array's contents is a bug.
  static Result<File> open_header(const std::string& path);
  static constexpr uint64_t kHeaderArrayItems = 64;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  // Empty (no data) after open_header.
  const MappedFile& mapped() const { return mapped_; }
  uint64_t file_size() const { return file_size_; }

  const std::vector<std::pair<std::string, Value>>& metadata() const { return metadata_; }
  const Value* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }

  // Required keys: an error names the file, the key, and the expected type when missing or wrong.
  Result<int64_t> get_int(std::string_view key) const;
  Result<double> get_number(std::string_view key) const;
  Result<std::string> get_string(std::string_view key) const;
  Result<bool> get_bool(std::string_view key) const;
  Result<std::vector<std::string>> get_string_array(std::string_view key) const;
  Result<std::vector<float>> get_f32_array(std::string_view key) const;
  Result<std::vector<int32_t>> get_i32_array(std::string_view key) const;
  // Optional keys: the default when missing; an error when present with the wrong type.
  Result<int64_t> get_int_or(std::string_view key, int64_t def) const;
  Result<double> get_number_or(std::string_view key, double def) const;
  Result<bool> get_bool_or(std::string_view key, bool def) const;
  Result<std::string> get_string_or(std::string_view key, std::string def) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;

 private:
  Error key_error(std::string_view key, const char* expected) const;

  // Parses the header read with pread, skipping long arrays or not (open_header skips them).
  static Result<File> read_header(const std::string& path, bool skip_long_arrays);
  std::string path_;
  MappedFile mapped_;
  uint64_t file_size_ = 0;
  uint32_t version_ = 0;
  uint64_t alignment_ = kDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, Value>> metadata_;
  // Indexes of metadata_ / tensors_ sorted by name: lookups cost O(log n) whatever names a
  // file chooses (a hash table keyed by file-chosen strings can be made to collide).
  std::vector<uint32_t> metadata_index_;
  std::vector<TensorInfo> tensors_;
  std::vector<uint32_t> tensor_index_;
  friend class Parser;
};

}  // namespace hangar::gguf
