// gguf::Writer: encodes metadata and tensor infos, then streams aligned tensor data.
#include "gguf/gguf_writer.h"

#include <cerrno>
#include <cstring>
#include <unistd.h>

#include "base/assert.h"

namespace hangar::gguf {

void Encoder::value(const Value& v) {
  switch (v.type()) {
    case ValueType::kUint8: { uint8_t x = static_cast<uint8_t>(*v.as_int()); raw(&x, 1); break; }
    case ValueType::kInt8: { int8_t x = static_cast<int8_t>(*v.as_int()); raw(&x, 1); break; }
    case ValueType::kUint16: { uint16_t x = static_cast<uint16_t>(*v.as_int()); raw(&x, 2); break; }
    case ValueType::kInt16: { int16_t x = static_cast<int16_t>(*v.as_int()); raw(&x, 2); break; }
    case ValueType::kUint32: { uint32_t x = static_cast<uint32_t>(*v.as_int()); raw(&x, 4); break; }
    case ValueType::kInt32: { int32_t x = static_cast<int32_t>(*v.as_int()); raw(&x, 4); break; }
    case ValueType::kUint64: {
      uint64_t x = v.as_int() ? static_cast<uint64_t>(*v.as_int()) : static_cast<uint64_t>(*v.as_number());
      raw(&x, 8);
      break;
    }
    case ValueType::kInt64: { int64_t x = *v.as_int(); raw(&x, 8); break; }
    case ValueType::kFloat32: { float x = static_cast<float>(*v.as_number()); raw(&x, 4); break; }
    case ValueType::kFloat64: { double x = *v.as_number(); raw(&x, 8); break; }
    case ValueType::kBool: { uint8_t x = *v.as_bool() ? 1 : 0; raw(&x, 1); break; }
    case ValueType::kString: string(*v.as_string()); break;
    case ValueType::kArray: {
      const Array* a = v.as_array();
      u32(static_cast<uint32_t>(a->element_type));
      u64(a->items.size());
      for (const auto& item : a->items) value(item);
      break;
    }
  }
}

uint64_t TensorSpec::n_bytes() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  const auto& info = tensor_type_info(type);
  return static_cast<uint64_t>(n / info.block_elems * info.block_bytes);
}

Writer::~Writer() { abandon(); }

void Writer::set_alignment(uint64_t a) {
  HANGAR_ASSERT(a > 0 && (a & (a - 1)) == 0);
  alignment_ = a;
  set("general.alignment", Value::u32(static_cast<uint32_t>(a)));
}

void Writer::set(const std::string& key, Value v) {
  for (auto& kv : metadata_)
    if (kv.first == key) {
      kv.second = std::move(v);
      return;
    }
  metadata_.emplace_back(key, std::move(v));
}

void Writer::remove(const std::string& key) {
  std::erase_if(metadata_, [&](const auto& kv) { return kv.first == key; });
}

void Writer::add_tensor(TensorSpec spec, std::vector<uint8_t> data) {
  HANGAR_ASSERT(data.size() == spec.n_bytes());
  specs_.push_back(std::move(spec));
  data_.resize(specs_.size());
  data_.back() = std::move(data);
}

void Writer::add_tensor_spec(TensorSpec spec) { specs_.push_back(std::move(spec)); }

std::vector<uint8_t> Writer::encode_header() const {
  Encoder e;
  e.u32(kMagic);
  e.u32(version_);
  e.u64(specs_.size());
  e.u64(metadata_.size());
  for (const auto& [key, v] : metadata_) {
    e.string(key);
    e.u32(static_cast<uint32_t>(v.type()));
    e.value(v);
  }
  uint64_t offset = 0;
  for (const auto& s : specs_) {
    e.string(s.name);
    e.u32(static_cast<uint32_t>(s.dims.size()));
    for (int64_t d : s.dims) e.i64(d);
    e.u32(static_cast<uint32_t>(s.type));
    e.u64(offset);
    offset += (s.n_bytes() + alignment_ - 1) / alignment_ * alignment_;
  }
  e.pad_to(alignment_);
  return std::move(e.bytes());
}

Status Writer::fail(const std::string& what) {
  std::string msg = path_ + ": " + what + ": " + std::strerror(errno);
  abandon();
  return Error(msg);
}

void Writer::abandon() {
  if (out_) {
    std::fclose(out_);
    out_ = nullptr;
    ::unlink(partial_path_.c_str());
  }
}

Status Writer::begin(const std::string& path) {
  HANGAR_ASSERT(!out_);
  path_ = path;
  partial_path_ = path + ".partial";
  next_tensor_ = 0;
  out_ = std::fopen(partial_path_.c_str(), "wb");
  if (!out_) return Error(path + ": cannot create " + partial_path_ + ": " + std::strerror(errno));
  auto header = encode_header();
  if (std::fwrite(header.data(), 1, header.size(), out_) != header.size()) return fail("write failed");
  return Status::Ok();
}

Status Writer::write_tensor_data(const void* data, size_t n_bytes) {
  HANGAR_ASSERT(out_ && next_tensor_ < specs_.size());
  HANGAR_ASSERT(n_bytes == specs_[next_tensor_].n_bytes());
  // An empty tensor may come with no buffer at all (data null): fwrite must not see it (UBSan).
  if (n_bytes > 0 && std::fwrite(data, 1, n_bytes, out_) != n_bytes) return fail("write failed");
  static const uint8_t kZeros[256] = {};
  size_t pad = (alignment_ - n_bytes % alignment_) % alignment_;
  if (pad && std::fwrite(kZeros, 1, pad, out_) != pad) return fail("write failed");
  ++next_tensor_;
  return Status::Ok();
}

Status Writer::finish() {
  HANGAR_ASSERT(out_ && next_tensor_ == specs_.size());
  if (std::fflush(out_) != 0 || ::fsync(fileno(out_)) != 0) return fail("flush failed");
  if (std::fclose(out_) != 0) {
    out_ = nullptr;
    ::unlink(partial_path_.c_str());
    return Error(path_ + ": close failed: " + std::strerror(errno));
  }
  out_ = nullptr;
  if (std::rename(partial_path_.c_str(), path_.c_str()) != 0) {
    std::string msg = path_ + ": cannot rename " + partial_path_ + ": " + std::strerror(errno);
    ::unlink(partial_path_.c_str());
    return Error(msg);
  }
  return Status::Ok();
}

Status Writer::write_file(const std::string& path) {
  HANGAR_ASSERT(data_.size() == specs_.size());
  HANGAR_TRY(begin(path));
  for (const auto& d : data_) HANGAR_TRY(write_tensor_data(d.data(), d.size()));
  return finish();
}

}  // namespace hangar::gguf
