// gguf::Value: one GGUF metadata value (scalar, string or nested array).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace hangar::gguf {

// Value type ids as stored in the file.
enum class ValueType : uint32_t {
  kUint8 = 0, kInt8 = 1, kUint16 = 2, kInt16 = 3, kUint32 = 4, kInt32 = 5, kFloat32 = 6,
  kBool = 7, kString = 8, kArray = 9, kUint64 = 10, kInt64 = 11, kFloat64 = 12,
};
const char* value_type_name(ValueType t);
bool is_valid_value_type(uint32_t t);

class Value;
struct Array {
  ValueType element_type = ValueType::kUint8;
  std::vector<Value> items;
  // Elements a header-only open (File::Parse::kHeader) checked but did not read; then `items`
  // is empty. size() counts both.
  uint64_t n_unread = 0;
  uint64_t size() const { return items.size() + n_unread; }
};

// Immutable-ish value; integers keep their declared width in type() but are stored widened.
class Value {
 public:
  Value() : type_(ValueType::kUint8), v_(uint64_t{0}) {}
  static Value u8(uint8_t v) { return Value(ValueType::kUint8, uint64_t{v}); }
  static Value i8(int8_t v) { return Value(ValueType::kInt8, int64_t{v}); }
  static Value u16(uint16_t v) { return Value(ValueType::kUint16, uint64_t{v}); }
  static Value i16(int16_t v) { return Value(ValueType::kInt16, int64_t{v}); }
  static Value u32(uint32_t v) { return Value(ValueType::kUint32, uint64_t{v}); }
  static Value i32(int32_t v) { return Value(ValueType::kInt32, int64_t{v}); }
  static Value u64(uint64_t v) { return Value(ValueType::kUint64, v); }
  static Value i64(int64_t v) { return Value(ValueType::kInt64, v); }
  static Value f32(float v) { return Value(ValueType::kFloat32, double{v}); }
  static Value f64(double v) { return Value(ValueType::kFloat64, v); }
  static Value boolean(bool v) { return Value(ValueType::kBool, v); }
  static Value string(std::string v) { return Value(ValueType::kString, std::move(v)); }
  static Value array(ValueType element_type, std::vector<Value> items);
  static Value unread_array(ValueType element_type, uint64_t n);
  static Value string_array(const std::vector<std::string>& items);
  static Value f32_array(const std::vector<float>& items);
  static Value i32_array(const std::vector<int32_t>& items);

  ValueType type() const { return type_; }
  bool is_integer() const;
  bool is_float() const { return type_ == ValueType::kFloat32 || type_ == ValueType::kFloat64; }

  // Integer of any width that fits in int64 (nullopt otherwise, or for non-integers).
  std::optional<int64_t> as_int() const;
  // Float of either width, or any integer converted.
  std::optional<double> as_number() const;
  std::optional<bool> as_bool() const;
  const std::string* as_string() const;
  const Array* as_array() const;

  // A short human-readable rendering (arrays abbreviated), for `inspect` and errors.
  std::string to_display(size_t max_items = 8) const;

 private:
  using Storage = std::variant<uint64_t, int64_t, double, bool, std::string, std::shared_ptr<Array>>;
  Value(ValueType t, Storage v) : type_(t), v_(std::move(v)) {}
  ValueType type_;
  Storage v_;
};

}  // namespace hangar::gguf
