// Quantization plan: which type each tensor of a model gets for a quantization scheme.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "base/tensor_type.h"
#include "gguf/gguf_file.h"

namespace hangar::quant {

// What `hangar quantize` accepts as TYPE. The plain types put every matrix in that type, except
// that Q4_0/Q4_1/Q5_0/Q5_1 give the output projection Q6_K as llama-quantize does; Q4_K and Q5_K
// are "pure" (every matrix, output included, like llama-quantize --pure). The mixes follow
// llama-quantize's choices (see docs/QUANTIZATION.md).
enum class Scheme {
  kQ8_0,
  kQ4_0,
  kQ4_1,
  kQ5_0,
  kQ5_1,
  kQ4_K,
  kQ5_K,
  kQ6_K,
  kQ4_K_S,
  kQ4_K_M,
  kQ5_K_S,
  kQ5_K_M
};

struct SchemeInfo {
  Scheme scheme;
  const char* name;    // "Q4_K_M"
  TensorType base;     // the type most matrices get
  uint32_t file_type;  // llama.cpp's LLAMA_FTYPE_MOSTLY_* id, written as general.file_type
};

// Parses a scheme name case-insensitively; the error lists the accepted names.
Result<SchemeInfo> parse_scheme(std::string_view name);
// Every accepted scheme, in the order of the enum.
const std::vector<SchemeInfo>& all_schemes();

struct PlanOptions {
  bool keep_output = false;                        // output.weight keeps its input type
  std::optional<TensorType> token_embedding_type;  // overrides token_embd.weight's type
};

// One tensor's destination. `note` is empty when the tensor got the type the scheme chose for
// it; otherwise it says why not (a row length no block of that type divides).
struct TensorPlan {
  std::string name;
  TensorType src_type = TensorType::kF32;
  std::vector<int64_t> dims;  // ggml order
  TensorType dst_type = TensorType::kF32;
  bool quantized = false;  // dst_type is a block-quantized type
  std::string note;
  int64_t n_elements() const;
};

// Plans every tensor of `tensors` (in their order). Inputs must be F32, F16 or BF16: an
// already-quantized tensor is an error that names it. 1-D tensors, norms and biases become F32;
// other matrices that a block of their planned type does not divide fall back to a smaller block
// (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, as llama-quantize does) or, when even 32 does not
// divide the row, keep their input type. `expert_count` > 0 is refused (mixture-of-experts rules
// are not implemented). Pure function of its inputs; thread-safe.
Result<std::vector<TensorPlan>> plan_tensors(const std::vector<gguf::TensorInfo>& tensors,
                                             const SchemeInfo& scheme, const PlanOptions& opts,
                                             int64_t expert_count = 0);

// plan_tensors over a file's tensors, reading "<arch>.expert_count" from its metadata.
Result<std::vector<TensorPlan>> plan_file(const gguf::File& file, const SchemeInfo& scheme,
                                          const PlanOptions& opts);

}  // namespace hangar::quant
