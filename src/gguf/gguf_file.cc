// gguf::File: parses the header, metadata and tensor infos with every read bounds-checked.
#include "gguf/gguf_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <string_view>
#include <vector>
#include <unordered_set>

#include "base/assert.h"

namespace hangar::gguf {
namespace {
constexpr int kMaxArrayDepth = 8;
constexpr uint32_t kMaxDims = 4;  // ggml's GGML_MAX_DIMS
constexpr uint64_t kMaxNameLength = 64 * 1024;

// Smallest encoded size of one value of type t; lets us reject counts that cannot fit.
uint64_t min_encoded_size(ValueType t) {
  switch (t) {
    case ValueType::kUint8: case ValueType::kInt8: case ValueType::kBool: return 1;
    case ValueType::kUint16: case ValueType::kInt16: return 2;
    case ValueType::kUint32: case ValueType::kInt32: case ValueType::kFloat32: return 4;
    case ValueType::kString: case ValueType::kUint64: case ValueType::kInt64:
    case ValueType::kFloat64: return 8;
    case ValueType::kArray: return 12;
  }
  return 1;
}
}  // namespace

// Reads little-endian fields from the mapping; every failure names the file and the field.
class Parser {
 public:
  // `data` holds the first `size` bytes of a file of `file_size` bytes: all of it for a mapped
  // open, a prefix for a header-only one (whose tensor data pointers stay null).
  Parser(const uint8_t* data, uint64_t size, const std::string& path, bool header_only = false,
         uint64_t file_size = 0, bool skip_long_arrays = false)
      : data_(data), size_(size), file_size_(header_only ? file_size : size), path_(path), header_only_(header_only),
        skip_long_arrays_(header_only || skip_long_arrays) {}

  Error error(const std::string& what) const {
    return Error(path_ + ": " + what + " (at byte " + std::to_string(pos_) + " of " +
                 std::to_string(size_) + ")");
  }
  uint64_t remaining() const { return size_ - pos_; }
  uint64_t pos() const { return pos_; }

  // The field's name comes in two parts that are joined only for an error: a vocabulary's
  // strings are read hundreds of thousands at a time, and building "<key> length" for each
  // cost a heap allocation apiece (most of a 128k-token model's header parse).
  template <typename T>
  Result<T> read(std::string_view field, std::string_view suffix = {}) {
    if (remaining() < sizeof(T))
      return error("truncated file: expected " + std::to_string(sizeof(T)) + " bytes for " + std::string(field) +
                   std::string(suffix));
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  Result<std::string> read_string(const std::string& field) {
    HANGAR_ASSIGN(uint64_t n, read<uint64_t>(field, " length"));
    if (n > remaining())
      return error(field + ": string length " + std::to_string(n) + " runs past the end of the file");
    std::string s(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return s;
  }

  Result<Value> read_value(ValueType t, const std::string& key, int depth) {
    switch (t) {
      case ValueType::kUint8: { HANGAR_ASSIGN(auto v, read<uint8_t>(key)); return Value::u8(v); }
      case ValueType::kInt8: { HANGAR_ASSIGN(auto v, read<int8_t>(key)); return Value::i8(v); }
      case ValueType::kUint16: { HANGAR_ASSIGN(auto v, read<uint16_t>(key)); return Value::u16(v); }
      case ValueType::kInt16: { HANGAR_ASSIGN(auto v, read<int16_t>(key)); return Value::i16(v); }
      case ValueType::kUint32: { HANGAR_ASSIGN(auto v, read<uint32_t>(key)); return Value::u32(v); }
      case ValueType::kInt32: { HANGAR_ASSIGN(auto v, read<int32_t>(key)); return Value::i32(v); }
      case ValueType::kUint64: { HANGAR_ASSIGN(auto v, read<uint64_t>(key)); return Value::u64(v); }
      case ValueType::kInt64: { HANGAR_ASSIGN(auto v, read<int64_t>(key)); return Value::i64(v); }
      case ValueType::kFloat32: { HANGAR_ASSIGN(auto v, read<float>(key)); return Value::f32(v); }
      case ValueType::kFloat64: { HANGAR_ASSIGN(auto v, read<double>(key)); return Value::f64(v); }
      case ValueType::kBool: {
        HANGAR_ASSIGN(auto v, read<uint8_t>(key));
        if (v > 1) return error(key + ": bool value " + std::to_string(v) + ", expected 0 or 1");
        return Value::boolean(v != 0);
      }
      case ValueType::kString: {
        HANGAR_ASSIGN(auto s, read_string(key));
        return Value::string(std::move(s));
      }
      case ValueType::kArray: {
        if (depth >= kMaxArrayDepth)
          return error(key + ": arrays nested deeper than " + std::to_string(kMaxArrayDepth));
        HANGAR_ASSIGN(uint32_t et, read<uint32_t>(key, " array element type"));
        if (!is_valid_value_type(et))
          return error(key + ": unknown array element type " + std::to_string(et) +
                       ", expected 0..12");
        auto elem = static_cast<ValueType>(et);
        HANGAR_ASSIGN(uint64_t n, read<uint64_t>(key, " array length"));
        if (n > remaining() / min_encoded_size(elem))
          return error(key + ": array of " + std::to_string(n) + " " + value_type_name(elem) +
                       " values runs past the end of the file");
        if (skip_long_arrays_ && n > File::kHeaderArrayItems && elem != ValueType::kArray) {
          HANGAR_TRY(skip_items(elem, n, key));
          return Value::unread_array(elem, n);
        }
        std::vector<Value> items;
        items.reserve(n);
        for (uint64_t i = 0; i < n; ++i) {
          HANGAR_ASSIGN(Value v, read_value(elem, key, depth + 1));
          items.push_back(std::move(v));
        }
        return Value::array(elem, std::move(items));
      }
    }
    return error(key + ": unknown value type");
  }

  // Moves past n scalars or strings of type t with the same bounds checks as reading them.
  Status skip_items(ValueType t, uint64_t n, const std::string& key) {
    if (t != ValueType::kString) {
      if (t == ValueType::kBool) {  // each must still be 0 or 1
        for (uint64_t i = 0; i < n; ++i) HANGAR_TRY(read_value(t, key, 1));
        return Status::Ok();
      }
      pos_ += n * min_encoded_size(t);  // the caller checked that n of them fit
      return Status::Ok();
    }
    for (uint64_t i = 0; i < n; ++i) {
      HANGAR_ASSIGN(uint64_t len, read<uint64_t>(key, " length"));
      if (len > remaining())
        return error(key + ": string length " + std::to_string(len) + " runs past the end of the file");
      pos_ += len;
    }
    return Status::Ok();
  }

  Status parse(File& f) {
    HANGAR_ASSIGN(uint32_t magic, read<uint32_t>("magic"));
    if (magic != kMagic) return error("not a GGUF file: bad magic, expected \"GGUF\"");
    HANGAR_ASSIGN(f.version_, read<uint32_t>("version"));
    if (f.version_ != 2 && f.version_ != 3) {
      std::string hint = (f.version_ & 0xFFFF) == 0 ? " (a big-endian file?)" : "";
      return error("unsupported GGUF version " + std::to_string(f.version_) + hint +
                   ", expected 2 or 3");
    }
    HANGAR_ASSIGN(uint64_t n_tensors, read<uint64_t>("tensor count"));
    HANGAR_ASSIGN(uint64_t n_kv, read<uint64_t>("metadata count"));
    // A key/value pair takes at least 8 (key length) + 4 (type) + 1 bytes, a tensor info 8+4+4+8.
    if (n_kv > remaining() / 13)
      return error("metadata count " + std::to_string(n_kv) + " is larger than the file can hold");
    if (n_tensors > remaining() / 24)
      return error("tensor count " + std::to_string(n_tensors) + " is larger than the file can hold");

    for (uint64_t i = 0; i < n_kv; ++i) {
      HANGAR_ASSIGN(std::string key, read_string("metadata key #" + std::to_string(i)));
      if (key.empty()) return error("metadata key #" + std::to_string(i) + " is empty");
      HANGAR_ASSIGN(uint32_t t, read<uint32_t>(key, " value type"));
      if (!is_valid_value_type(t))
        return error("key " + key + ": unknown value type " + std::to_string(t) + ", expected 0..12");
      HANGAR_ASSIGN(Value v, read_value(static_cast<ValueType>(t), "key " + key, 0));
      if (f.metadata_index_.count(key)) return error("duplicate metadata key " + key);
      f.metadata_index_[key] = f.metadata_.size();
      f.metadata_.emplace_back(std::move(key), std::move(v));
    }

    if (const Value* a = f.find("general.alignment")) {
      auto n = a->as_int();
      if (a->type() != ValueType::kUint32 || !n || *n == 0 || (*n & (*n - 1)) != 0)
        return error("general.alignment must be a uint32 power of two, got " + a->to_display());
      f.alignment_ = static_cast<uint64_t>(*n);
    }

    for (uint64_t i = 0; i < n_tensors; ++i) {
      TensorInfo ti;
      HANGAR_ASSIGN(ti.name, read_string("tensor #" + std::to_string(i) + " name"));
      if (ti.name.size() > kMaxNameLength) return error("tensor #" + std::to_string(i) + ": name too long");
      const std::string what = "tensor " + ti.name;
      HANGAR_ASSIGN(uint32_t n_dims, read<uint32_t>(what, " dimension count"));
      if (n_dims == 0 || n_dims > kMaxDims)
        return error(what + ": " + std::to_string(n_dims) + " dimensions, expected 1 to 4");
      int64_t n_elements = 1;
      for (uint32_t d = 0; d < n_dims; ++d) {
        HANGAR_ASSIGN(int64_t dim, read<int64_t>(what, " dimension"));
        if (dim < 0) return error(what + ": negative dimension " + std::to_string(dim));
        if (dim != 0 && n_elements > std::numeric_limits<int64_t>::max() / dim)
          return error(what + ": dimensions overflow a 64-bit element count");
        n_elements *= dim;
        ti.dims.push_back(dim);
      }
      ti.n_elements = n_elements;
      HANGAR_ASSIGN(uint32_t type_id, read<uint32_t>(what, " type"));
      auto info = tensor_type_info(type_id);
      if (!info)
        return error(what + ": unknown tensor type id " + std::to_string(type_id) +
                     ", expected one of ggml's types");
      ti.type = info->type;
      if (ti.dims[0] % info->block_elems != 0)
        return error(what + ": row length " + std::to_string(ti.dims[0]) +
                     " is not a multiple of the " + info->name + " block size " +
                     std::to_string(info->block_elems));
      ti.n_bytes = static_cast<uint64_t>(n_elements / info->block_elems) * info->block_bytes;
      HANGAR_ASSIGN(ti.offset, read<uint64_t>(what, " data offset"));
      if (ti.offset % f.alignment_ != 0)
        return error(what + ": data offset " + std::to_string(ti.offset) +
                     " is not a multiple of the alignment " + std::to_string(f.alignment_));
      if (f.tensor_index_.count(ti.name)) return error("duplicate tensor name " + ti.name);
      f.tensor_index_[ti.name] = f.tensors_.size();
      f.tensors_.push_back(std::move(ti));
    }

    uint64_t data_offset = (pos_ + f.alignment_ - 1) / f.alignment_ * f.alignment_;
    if (n_tensors > 0 && data_offset > file_size_)
      return error("truncated file: the tensor data section starts past the end");
    f.data_offset_ = data_offset;
    for (auto& ti : f.tensors_) {
      uint64_t avail = file_size_ >= data_offset ? file_size_ - data_offset : 0;
      if (ti.offset > avail || ti.n_bytes > avail - ti.offset)
        return Error(path_ + ": tensor " + ti.name + ": data (offset " + std::to_string(ti.offset) +
                     ", " + std::to_string(ti.n_bytes) + " bytes) runs past the end of the file (" +
                     std::to_string(file_size_) + " bytes)");
      ti.data = header_only_ ? nullptr : data_ + data_offset + ti.offset;
    }
    return Status::Ok();
  }

 private:
  const uint8_t* data_;
  uint64_t size_, file_size_;
  uint64_t pos_ = 0;
  const std::string& path_;
  bool header_only_ = false;
  bool skip_long_arrays_ = false;
};

Result<File> File::open(const std::string& path, MappedFile::Backing backing, LongArrays arrays) {
  HANGAR_ASSIGN(MappedFile mapped, MappedFile::open(path, backing));
  File f;
  f.mapped_ = std::move(mapped);
  f.path_ = path;
  f.file_size_ = f.mapped_.size();
  Parser p(f.mapped_.data(), f.mapped_.size(), path, /*header_only=*/false, 0, arrays == LongArrays::kSkip);
  HANGAR_TRY(p.parse(f));
  return f;
}

Status File::read_long_arrays() {
  bool skipped = false;
  for (const auto& [key, v] : metadata_)
    if (const Array* a = v.as_array(); a && a->n_unread > 0) skipped = true;
  if (!skipped) return Status::Ok();
  HANGAR_ASSERT_MSG(mapped_.data() != nullptr, "read_long_arrays on a header-only File");
  // The header is parsed again, whole, from the mapping; only the metadata is taken from it
  // (the tensor infos are the same).
  File whole;
  whole.path_ = path_;
  Parser p(mapped_.data(), mapped_.size(), path_);
  HANGAR_TRY(p.parse(whole));
  metadata_ = std::move(whole.metadata_);
  metadata_index_ = std::move(whole.metadata_index_);
  return Status::Ok();
}

Result<File> File::open_header(const std::string& path) {
  // pread, not a mapping: a header is read once, and copying it costs a fraction of the page
  // faults that mapping it would (3-4x less for a 4 MiB vocabulary in a VM).
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error(path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Error(path + ": not a regular file");
  }
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  std::vector<uint8_t> buf;
  // The header's length is known only once parsed: read a prefix, and a longer one if it ends
  // inside the header (any error before the whole file was read may be that).
  for (uint64_t want = uint64_t{2} << 20;; want *= 4) {
    const uint64_t n = std::min(want, file_size);
    const uint64_t had = buf.size();
    buf.resize(n);
    for (uint64_t off = had; off < n;) {
      const ssize_t r = ::pread(fd, buf.data() + off, n - off, static_cast<off_t>(off));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        const int e = errno;
        ::close(fd);
        return Error(path + ": cannot read: " + (r < 0 ? std::strerror(e) : "the file shrank while it was read"));
      }
      off += static_cast<uint64_t>(r);
    }
    File f;
    f.path_ = path;
    f.file_size_ = file_size;
    Parser p(buf.data(), n, path, /*header_only=*/true, file_size);
    Status parsed = p.parse(f);
    if (parsed.ok() || n == file_size) {
      ::close(fd);
      if (!parsed.ok()) return parsed.error();
      return f;
    }
  }
}

const Value* File::find(std::string_view key) const {
  auto it = metadata_index_.find(std::string(key));
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

const TensorInfo* File::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(std::string(name));
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

Error File::key_error(std::string_view key, const char* expected) const {
  const Value* v = find(key);
  std::string got = v ? std::string("a ") + value_type_name(v->type()) : "nothing (missing key)";
  return Error(path() + ": metadata key " + std::string(key) + ": expected " + expected + ", found " + got);
}

Result<int64_t> File::get_int(std::string_view key) const {
  const Value* v = find(key);
  if (!v || !v->as_int()) return key_error(key, "an integer");
  return *v->as_int();
}

Result<double> File::get_number(std::string_view key) const {
  const Value* v = find(key);
  if (!v || !v->as_number() || v->type() == ValueType::kBool) return key_error(key, "a number");
  return *v->as_number();
}

Result<std::string> File::get_string(std::string_view key) const {
  const Value* v = find(key);
  if (!v || !v->as_string()) return key_error(key, "a string");
  return *v->as_string();
}

Result<bool> File::get_bool(std::string_view key) const {
  const Value* v = find(key);
  if (!v || !v->as_bool()) return key_error(key, "a bool");
  return *v->as_bool();
}

Result<std::vector<std::string>> File::get_string_array(std::string_view key) const {
  const Value* v = find(key);
  const Array* a = v ? v->as_array() : nullptr;
  if (!a || a->element_type != ValueType::kString) return key_error(key, "an array of strings");
  HANGAR_ASSERT(a->n_unread == 0);  // a header-only open does not read long arrays
  std::vector<std::string> out;
  out.reserve(a->items.size());
  for (const auto& item : a->items) out.push_back(*item.as_string());
  return out;
}

Result<std::vector<float>> File::get_f32_array(std::string_view key) const {
  const Value* v = find(key);
  const Array* a = v ? v->as_array() : nullptr;
  if (!a || !(a->element_type == ValueType::kFloat32 || a->element_type == ValueType::kFloat64))
    return key_error(key, "an array of floats");
  HANGAR_ASSERT(a->n_unread == 0);
  std::vector<float> out;
  out.reserve(a->items.size());
  for (const auto& item : a->items) out.push_back(static_cast<float>(*item.as_number()));
  return out;
}

Result<std::vector<int32_t>> File::get_i32_array(std::string_view key) const {
  const Value* v = find(key);
  const Array* a = v ? v->as_array() : nullptr;
  if (!a) return key_error(key, "an array of integers");
  HANGAR_ASSERT(a->n_unread == 0);
  std::vector<int32_t> out;
  out.reserve(a->items.size());
  for (const auto& item : a->items) {
    auto i = item.as_int();
    if (!i || *i < std::numeric_limits<int32_t>::min() || *i > std::numeric_limits<int32_t>::max())
      return key_error(key, "an array of 32-bit integers");
    out.push_back(static_cast<int32_t>(*i));
  }
  return out;
}

Result<int64_t> File::get_int_or(std::string_view key, int64_t def) const {
  return has(key) ? get_int(key) : Result<int64_t>(def);
}
Result<double> File::get_number_or(std::string_view key, double def) const {
  return has(key) ? get_number(key) : Result<double>(def);
}
Result<bool> File::get_bool_or(std::string_view key, bool def) const {
  return has(key) ? get_bool(key) : Result<bool>(def);
}
Result<std::string> File::get_string_or(std::string_view key, std::string def) const {
  return has(key) ? get_string(key) : Result<std::string>(std::move(def));
}

}  // namespace hangar::gguf
