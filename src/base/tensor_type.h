// TensorType: ggml's tensor type ids and block geometry, shared by the GGUF format and kernels.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hangar {

// Ids are ggml's, as stored in GGUF tensor infos. Every id ggml has ever written is listed so
// that a file with a type we cannot compute with still parses and fails with a clear message.
enum class TensorType : uint32_t {
  kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ4_1 = 3, kQ5_0 = 6, kQ5_1 = 7, kQ8_0 = 8, kQ8_1 = 9,
  kQ2_K = 10, kQ3_K = 11, kQ4_K = 12, kQ5_K = 13, kQ6_K = 14, kQ8_K = 15,
  kIQ2_XXS = 16, kIQ2_XS = 17, kIQ3_XXS = 18, kIQ1_S = 19, kIQ4_NL = 20, kIQ3_S = 21,
  kIQ2_S = 22, kIQ4_XS = 23, kI8 = 24, kI16 = 25, kI32 = 26, kI64 = 27, kF64 = 28,
  kIQ1_M = 29, kBF16 = 30, kTQ1_0 = 34, kTQ2_0 = 35, kMXFP4 = 39,
};

struct TensorTypeInfo {
  TensorType type;
  const char* name;        // ggml's name, e.g. "q4_K"
  int64_t block_elems;     // elements per block (1 for plain types)
  int64_t block_bytes;     // bytes per block
};

// Returns the geometry of a known type id, or nullopt for an id ggml never defined.
std::optional<TensorTypeInfo> tensor_type_info(uint32_t id);
// Same for a typed value; asserts that it is known.
const TensorTypeInfo& tensor_type_info(TensorType type);
// ggml's name ("f16", "q4_K", ...), or "type#<id>" when unknown.
std::string tensor_type_name(uint32_t id);
inline std::string tensor_type_name(TensorType t) { return tensor_type_name(static_cast<uint32_t>(t)); }
// Parses a name case-insensitively ("Q4_K", "q8_0", "bf16").
std::optional<TensorType> tensor_type_from_name(std::string_view name);

// Bytes of one row of n elements; n must be a multiple of the block size.
int64_t tensor_row_bytes(TensorType type, int64_t n);

}  // namespace hangar
