// quantize_file: the streaming, multi-threaded GGUF quantizer behind `hangar quantize`.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "base/result.h"
#include "base/thread_pool.h"
#include "quant/quant_plan.h"

namespace hangar::quant {

// One finished tensor, reported in file order.
struct TensorProgress {
  size_t index = 0;  // 0-based
  size_t count = 0;
  const TensorPlan* plan = nullptr;  // valid during the callback only
  uint64_t bytes_in = 0, bytes_out = 0;
  double seconds = 0;
  uint64_t bytes_in_done = 0, bytes_in_total = 0;  // input tensor data so far (this one included), and in all
};

struct QuantizeSummary {
  size_t n_tensors = 0, n_quantized = 0, n_fallback = 0;
  int64_t n_elements = 0;
  uint64_t bytes_in = 0, bytes_out = 0;  // tensor data, before and after
  double seconds = 0;
  double bits_per_weight() const { return n_elements ? 8.0 * double(bytes_out) / double(n_elements) : 0.0; }
};

using ProgressFn = std::function<void(const TensorProgress&)>;

// Writes `out_path`: every metadata key of `in_path` (general.file_type and
// general.quantization_version = 2 set), tensors in input order with the planned types. Rows
// are converted and quantized in parallel on `pool`; one tensor's output is buffered at a time
// and input pages are released from the process as their rows are converted, so memory stays
// near the largest tensor's quantized size. The file is written as "<out_path>.partial" and renamed at the
// end: any error (missing or malformed input, quantized input, an unwritable path, a full disk) returns an
// Error naming the file and leaves neither OUT nor the partial file behind. `on_tensor` (optional) runs on
// the calling thread after each tensor is written.
Result<QuantizeSummary> quantize_file(const std::string& in_path, const std::string& out_path,
                                      const SchemeInfo& scheme, const PlanOptions& opts, ThreadPool& pool,
                                      const ProgressFn& on_tensor = {});

}  // namespace hangar::quant
