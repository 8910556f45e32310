// gguf::File: parses the header, metadata and tensor infos with every read bounds-checked.
#include "gguf/gguf_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <numeric>
#include <string_view>
#include <vector>

#include "base/assert.h"

namespace hangar::gguf {
namespace {
constexpr int kMaxArrayDepth = 8;
constexpr uint32_t kMaxDims = 4;  // ggml's GGML_MAX_DIMS
constexpr uint64_t kMaxNameLength = 64 * 1024;
constexpr uint64_t kReadChunk = uint64_t{1} << 20;  // pread window for headers
// What a parsed item costs beyond its own bytes: the Value, and an array's shared block.
constexpr uint64_t kValueCost = sizeof(Value);
constexpr uint64_t kArrayCost = sizeof(Array) + 32;

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

// An open file descriptor, closed on scope exit.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// The bytes the parser reads: the whole file already in memory, or a window that pread(2)
// fills on demand. Reading a header never goes through a shared mapping, so a file truncated
// meanwhile (`cp new.gguf x.gguf` over it) is a short read and an error, not SIGBUS.
class ByteSource {
 public:
  ByteSource(const uint8_t* data, uint64_t size) : in_memory_(true), memory_(data), size_(size) {}
  ByteSource(int fd, uint64_t size) : fd_(fd), size_(size) {}
  uint64_t size() const { return size_; }

  // n bytes at `pos` (pos + n <= size()), valid until the next call.
  Result<const uint8_t*> get(uint64_t pos, uint64_t n) {
    if (in_memory_) return memory_ + pos;
    if (pos >= window_pos_ && pos + n <= window_pos_ + window_.size())
      return window_.data() + (pos - window_pos_);
    const uint64_t len = std::min(size_ - pos, std::max(n, kReadChunk));
    window_.resize(len);
    window_.shrink_to_fit();  // one large string must not keep its window for the rest
    window_pos_ = pos;
    for (uint64_t done = 0; done < len;) {
      const ssize_t r = ::pread(fd_, window_.data() + done, len - done, static_cast<off_t>(pos + done));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return Error(std::string("cannot read: ") + std::strerror(errno));
      if (r == 0) return Error("the file became shorter while it was read (was it replaced?)");
      done += static_cast<uint64_t>(r);
    }
    return window_.data();
  }

 private:
  bool in_memory_ = false;
  const uint8_t* memory_ = nullptr;
  int fd_ = -1;
  uint64_t size_;
  std::vector<uint8_t> window_;
  uint64_t window_pos_ = 0;
};

// Indexes of `items` sorted by name (File's lookup tables), and in `repeated` the first name
// that occurs twice (null: none).
template <typename T, typename NameOf>
std::vector<uint32_t> index_by_name(const std::vector<T>& items, NameOf name_of, const std::string*& repeated) {
  std::vector<uint32_t> index(items.size());
  std::iota(index.begin(), index.end(), 0u);
  std::stable_sort(index.begin(), index.end(),
                   [&](uint32_t a, uint32_t b) { return name_of(items[a]) < name_of(items[b]); });
  repeated = nullptr;
  for (size_t i = 1; i < index.size() && !repeated; ++i)
    if (name_of(items[index[i]]) == name_of(items[index[i - 1]])) repeated = &name_of(items[index[i]]);
  return index;
}

}  // namespace

// Reads little-endian fields; every failure names the file and the field.
class Parser {
 public:
  // skip_long_arrays: arrays longer than File::kHeaderArrayItems are checked and skipped
  // (Array::n_unread), as File::open_header and a LongArrays::kSkip open want.
  Parser(ByteSource& src, const std::string& path, bool skip_long_arrays)
      : src_(src), size_(src.size()), path_(path), skip_long_arrays_(skip_long_arrays) {}

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
    HANGAR_ASSIGN(const uint8_t* p, bytes(sizeof(T)));
    T v;
    std::memcpy(&v, p, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  Result<std::string> read_string(const std::string& field) {
    HANGAR_ASSIGN(uint64_t n, read<uint64_t>(field, " length"));
    if (n > remaining())
      return error(field + ": string length " + std::to_string(n) + " runs past the end of the file");
    HANGAR_TRY(charge(n, field));
    HANGAR_ASSIGN(const uint8_t* p, bytes(n));
    std::string s(reinterpret_cast<const char*>(p), n);
    pos_ += n;
    return s;
  }

  // Counts `bytes` of memory against kMaxHeaderMemory.
  Status charge(uint64_t bytes, const std::string& what) {
    used_ += bytes;
    if (used_ > kMaxHeaderMemory)
      return error(what + ": the metadata would take more than " +
                   std::to_string(kMaxHeaderMemory >> 20) + " MiB of memory once read");
    return Status::Ok();
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
        // Charged before reserving, so that the reservation itself is bounded.
        HANGAR_TRY(charge(kArrayCost + n * kValueCost, key));
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
    HANGAR_TRY(charge(n_kv * (sizeof(std::pair<std::string, Value>) + sizeof(uint32_t)), "metadata count"));
    HANGAR_TRY(charge(n_tensors * (sizeof(TensorInfo) + sizeof(uint32_t) + kMaxDims * sizeof(int64_t)),
                      "tensor count"));

    f.metadata_.reserve(n_kv);
    for (uint64_t i = 0; i < n_kv; ++i) {
      HANGAR_ASSIGN(std::string key, read_string("metadata key #" + std::to_string(i)));
      if (key.empty()) return error("metadata key #" + std::to_string(i) + " is empty");
      HANGAR_ASSIGN(uint32_t t, read<uint32_t>(key, " value type"));
      if (!is_valid_value_type(t))
        return error("key " + key + ": unknown value type " + std::to_string(t) + ", expected 0..12");
      HANGAR_ASSIGN(Value v, read_value(static_cast<ValueType>(t), "key " + key, 0));
      f.metadata_.emplace_back(std::move(key), std::move(v));
    }
    const std::string* repeated = nullptr;
    f.metadata_index_ =
        index_by_name(f.metadata_, [](const auto& kv) -> const std::string& { return kv.first; }, repeated);
    if (repeated) return error("duplicate metadata key " + *repeated);

    if (const Value* a = f.find("general.alignment")) {
      auto n = a->as_int();
      if (a->type() != ValueType::kUint32 || !n || *n == 0 || (*n & (*n - 1)) != 0)
        return error("general.alignment must be a uint32 power of two, got " + a->to_display());
      f.alignment_ = static_cast<uint64_t>(*n);
    }

    f.tensors_.reserve(n_tensors);
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
      const auto n_blocks = static_cast<uint64_t>(n_elements / info->block_elems);
      const auto block_bytes = static_cast<uint64_t>(info->block_bytes);
      if (n_blocks > std::numeric_limits<uint64_t>::max() / block_bytes)
        return error(what + ": " + std::to_string(n_elements) + " " + info->name +
                     " elements overflow a 64-bit byte size");
      ti.n_bytes = n_blocks * block_bytes;
      HANGAR_ASSIGN(ti.offset, read<uint64_t>(what, " data offset"));
      if (ti.offset % f.alignment_ != 0)
        return error(what + ": data offset " + std::to_string(ti.offset) +
                     " is not a multiple of the alignment " + std::to_string(f.alignment_));
      f.tensors_.push_back(std::move(ti));
    }
    f.tensor_index_ =
        index_by_name(f.tensors_, [](const TensorInfo& t) -> const std::string& { return t.name; }, repeated);
    if (repeated) return error("duplicate tensor name " + *repeated);

    uint64_t data_offset = (pos_ + f.alignment_ - 1) / f.alignment_ * f.alignment_;
    if (n_tensors > 0 && data_offset > size_)
      return error("truncated file: the tensor data section starts past the end");
    f.data_offset_ = data_offset;
    for (auto& ti : f.tensors_) {
      uint64_t avail = size_ >= data_offset ? size_ - data_offset : 0;
      if (ti.offset > avail || ti.n_bytes > avail - ti.offset)
        return Error(path_ + ": tensor " + ti.name + ": data (offset " + std::to_string(ti.offset) +
                     ", " + std::to_string(ti.n_bytes) + " bytes) runs past the end of the file (" +
                     std::to_string(size_) + " bytes)");
    }
    return Status::Ok();
  }

 private:
  Result<const uint8_t*> bytes(uint64_t n) {
    auto p = src_.get(pos_, n);
    if (!p.ok()) return error(p.error().message());
    return p;
  }

  ByteSource& src_;
  uint64_t size_;
  uint64_t pos_ = 0;
  uint64_t used_ = 0;  // memory charged so far
  const std::string& path_;
  bool skip_long_arrays_ = false;
};

Result<File> File::open_header(const std::string& path) { return read_header(path, /*skip_long_arrays=*/true); }

Result<File> File::read_header(const std::string& path, bool skip_long_arrays) {
  // pread, not a mapping: a file truncated meanwhile is a short read rather than SIGBUS, and
  // copying a header costs a fraction of the page faults that mapping it would (3-4x less for a
  // 4 MiB vocabulary in a VM).
  Fd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (fd.fd < 0) return Error(path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd.fd, &st) != 0) return Error(path + ": cannot stat: " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return Error(path + ": not a regular file");
  File f;
  f.path_ = path;
  f.file_size_ = static_cast<uint64_t>(st.st_size);
  ByteSource src(fd.fd, f.file_size_);
  Parser p(src, path, skip_long_arrays);
  HANGAR_TRY(p.parse(f));
  return f;
}

Status File::read_long_arrays() {
  bool skipped = false;
  for (const auto& [key, v] : metadata_)
    if (const Array* a = v.as_array(); a && a->n_unread > 0) skipped = true;
  if (!skipped) return Status::Ok();
  HANGAR_ASSERT_MSG(mapped_.data() != nullptr, "read_long_arrays on a header-only File");
  // The header is parsed again, whole, from the bytes the tensors are read from (a private copy,
  // or weights mapped so that a truncation reads zeros rather than raising SIGBUS); only the
  // metadata is taken from it (the tensor infos are the same).
  File whole;
  whole.path_ = path_;
  ByteSource src(mapped_.data(), mapped_.size());
  Parser p(src, path_, /*skip_long_arrays=*/false);
  HANGAR_TRY(p.parse(whole));
  metadata_ = std::move(whole.metadata_);
  metadata_index_ = std::move(whole.metadata_index_);
  return Status::Ok();
}

Result<File> File::open(const std::string& path, MappedFile::Backing backing, LongArrays arrays,
                        const ByteProgress& progress) {
  const bool skip = arrays == LongArrays::kSkip;
  if (backing == MappedFile::Backing::kMemory) {
    // The copy is one snapshot of the file: parse it, not the file, which may change.
    HANGAR_ASSIGN(MappedFile memory, MappedFile::open(path, backing, progress));
    File f;
    f.path_ = path;
    f.file_size_ = memory.size();
    f.mapped_ = std::move(memory);
    ByteSource src(f.mapped_.data(), f.file_size_);
    Parser p(src, path, skip);
    HANGAR_TRY(p.parse(f));
    for (auto& ti : f.tensors_) ti.data = f.mapped_.data() + f.data_offset_ + ti.offset;
    return f;
  }
  HANGAR_ASSIGN(File f, read_header(path, skip));
  HANGAR_ASSIGN(f.mapped_, MappedFile::open(path, backing));
  if (f.mapped_.size() != f.file_size_)
    return Error(path + ": the file changed size while it was opened (from " +
                 std::to_string(f.file_size_) + " to " + std::to_string(f.mapped_.size()) +
                 " bytes); was it replaced?");
  for (auto& ti : f.tensors_) ti.data = f.mapped_.data() + f.data_offset_ + ti.offset;
  return f;
}

const Value* File::find(std::string_view key) const {
  auto it = std::lower_bound(metadata_index_.begin(), metadata_index_.end(), key,
                             [&](uint32_t i, std::string_view k) { return metadata_[i].first < k; });
  return it != metadata_index_.end() && metadata_[*it].first == key ? &metadata_[*it].second : nullptr;
}

const TensorInfo* File::find_tensor(std::string_view name) const {
  auto it = std::lower_bound(tensor_index_.begin(), tensor_index_.end(), name,
                             [&](uint32_t i, std::string_view n) { return tensors_[i].name < n; });
  return it != tensor_index_.end() && tensors_[*it].name == name ? &tensors_[*it] : nullptr;
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
  HANGAR_ASSERT(a->n_unread == 0);  // a header-only open does not read long arrays
  std::vector<float> out;
  out.reserve(a->items.size());
  for (const auto& item : a->items) out.push_back(static_cast<float>(*item.as_number()));
  return out;
}

Result<std::vector<int32_t>> File::get_i32_array(std::string_view key) const {
  const Value* v = find(key);
  const Array* a = v ? v->as_array() : nullptr;
  if (!a) return key_error(key, "an array of integers");
  HANGAR_ASSERT(a->n_unread == 0);  // a header-only open does not read long arrays
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
