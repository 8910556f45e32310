// Table of ggml tensor types: names and block sizes as ggml defines them.
#include "base/tensor_type.h"

#include <cctype>

#include "base/assert.h"

namespace hangar {
namespace {
using T = TensorType;
constexpr TensorTypeInfo kTypes[] = {
    {T::kF32, "f32", 1, 4},        {T::kF16, "f16", 1, 2},          {T::kQ4_0, "q4_0", 32, 18},
    {T::kQ4_1, "q4_1", 32, 20},    {T::kQ5_0, "q5_0", 32, 22},      {T::kQ5_1, "q5_1", 32, 24},
    {T::kQ8_0, "q8_0", 32, 34},    {T::kQ8_1, "q8_1", 32, 36},      {T::kQ2_K, "q2_K", 256, 84},
    {T::kQ3_K, "q3_K", 256, 110},  {T::kQ4_K, "q4_K", 256, 144},    {T::kQ5_K, "q5_K", 256, 176},
    {T::kQ6_K, "q6_K", 256, 210},  {T::kQ8_K, "q8_K", 256, 292},    {T::kIQ2_XXS, "iq2_xxs", 256, 66},
    {T::kIQ2_XS, "iq2_xs", 256, 74}, {T::kIQ3_XXS, "iq3_xxs", 256, 98}, {T::kIQ1_S, "iq1_s", 256, 50},
    {T::kIQ4_NL, "iq4_nl", 32, 18}, {T::kIQ3_S, "iq3_s", 256, 110},  {T::kIQ2_S, "iq2_s", 256, 82},
    {T::kIQ4_XS, "iq4_xs", 256, 136}, {T::kI8, "i8", 1, 1},          {T::kI16, "i16", 1, 2},
    {T::kI32, "i32", 1, 4},        {T::kI64, "i64", 1, 8},          {T::kF64, "f64", 1, 8},
    {T::kIQ1_M, "iq1_m", 256, 56}, {T::kBF16, "bf16", 1, 2},        {T::kTQ1_0, "tq1_0", 256, 54},
    {T::kTQ2_0, "tq2_0", 256, 66}, {T::kMXFP4, "mxfp4", 32, 17},
};
}  // namespace

std::optional<TensorTypeInfo> tensor_type_info(uint32_t id) {
  for (const auto& t : kTypes)
    if (static_cast<uint32_t>(t.type) == id) return t;
  return std::nullopt;
}

const TensorTypeInfo& tensor_type_info(TensorType type) {
  for (const auto& t : kTypes)
    if (t.type == type) return t;
  HANGAR_ASSERT_MSG(false, "unknown tensor type");
  __builtin_unreachable();
}

std::string tensor_type_name(uint32_t id) {
  auto info = tensor_type_info(id);
  return info ? std::string(info->name) : "type#" + std::to_string(id);
}

std::optional<TensorType> tensor_type_from_name(std::string_view name) {
  for (const auto& t : kTypes) {
    std::string_view n = t.name;
    if (n.size() != name.size()) continue;
    bool eq = true;
    for (size_t i = 0; i < n.size() && eq; ++i)
      eq = std::tolower(static_cast<unsigned char>(n[i])) ==
           std::tolower(static_cast<unsigned char>(name[i]));
    if (eq) return t.type;
  }
  return std::nullopt;
}

int64_t tensor_row_bytes(TensorType type, int64_t n) {
  const auto& info = tensor_type_info(type);
  HANGAR_ASSERT(n % info.block_elems == 0);
  return n / info.block_elems * info.block_bytes;
}

}  // namespace hangar
