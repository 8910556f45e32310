// gguf::Writer: writes GGUF v3 (or v2) files, in memory or streaming one tensor at a time.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "base/tensor_type.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_value.h"

namespace hangar::gguf {

// Appends GGUF's little-endian encodings to a byte buffer. Public so tests can build
// deliberately malformed files field by field.
class Encoder {
 public:
  std::vector<uint8_t>& bytes() { return bytes_; }
  void u32(uint32_t v) { raw(&v, 4); }
  void u64(uint64_t v) { raw(&v, 8); }
  void i64(int64_t v) { raw(&v, 8); }
  void string(const std::string& s) { u64(s.size()); raw(s.data(), s.size()); }
  void value(const Value& v);  // the payload only (no type id)
  void raw(const void* p, size_t n) {
    auto b = static_cast<const uint8_t*>(p);
    bytes_.insert(bytes_.end(), b, b + n);
  }
  void pad_to(uint64_t alignment) {
    while (bytes_.size() % alignment) bytes_.push_back(0);
  }

 private:
  std::vector<uint8_t> bytes_;
};

struct TensorSpec {
  std::string name;
  TensorType type = TensorType::kF32;
  std::vector<int64_t> dims;  // ggml order
  uint64_t n_bytes() const;
};

// Usage, in memory:   w.set(...); w.add_tensor(spec, bytes); w.write_file(path);
// Usage, streaming:   w.set(...); w.add_tensor_spec(spec)...; w.begin(path);
//                     w.write_tensor_data(bytes) once per tensor, in order; w.finish();
// The file is written to "<path>.partial" and renamed on finish(), so a failure never leaves a
// half-written file at `path`; abandoning a streaming write (destructor) removes the partial.
class Writer {
 public:
  Writer() = default;
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  void set_version(uint32_t v) { version_ = v; }
  void set_alignment(uint64_t a);  // also written as general.alignment
  // Sets a key, replacing an earlier value in place (metadata order is kept).
  void set(const std::string& key, Value v);
  void remove(const std::string& key);
  const std::vector<std::pair<std::string, Value>>& metadata() const { return metadata_; }

  void add_tensor(TensorSpec spec, std::vector<uint8_t> data);
  void add_tensor_spec(TensorSpec spec);

  // The header, metadata and tensor infos exactly as they will be written.
  std::vector<uint8_t> encode_header() const;

  Status write_file(const std::string& path);
  Status begin(const std::string& path);
  Status write_tensor_data(const void* data, size_t n_bytes);
  Status finish();

 private:
  Status fail(const std::string& what);
  void abandon();

  uint32_t version_ = 3;
  uint64_t alignment_ = 32;
  std::vector<std::pair<std::string, Value>> metadata_;
  std::vector<TensorSpec> specs_;
  std::vector<std::vector<uint8_t>> data_;  // in-memory mode only
  std::string path_, partial_path_;
  std::FILE* out_ = nullptr;
  size_t next_tensor_ = 0;
};

}  // namespace hangar::gguf
