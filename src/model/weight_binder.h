// WeightBinder: looks tensors up by name and checks their type and shape against the model's.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "gguf/gguf_file.h"
#include "kernels/kernels.h"

namespace hangar::model {

// Errors name the file, the tensor, and the expected vs found shape or type.
class WeightBinder {
 public:
  explicit WeightBinder(const gguf::File& file) : file_(file) {}

  bool has(const std::string& name) const { return file_.find_tensor(name) != nullptr; }
  // A 2-D weight matrix of `rows` rows of `cols` elements (ggml dims {cols, rows}), of a type the
  // kernels can multiply with.
  Result<kernels::Matrix> matrix(const std::string& name, int64_t rows, int64_t cols) const;
  // A 1-D vector of n values (F32, F16 or BF16 in the file), converted to float.
  Result<std::vector<float>> vector(const std::string& name, int64_t n) const;

 private:
  Result<const gguf::TensorInfo*> find(const std::string& name) const;
  const gguf::File& file_;
};

}  // namespace hangar::model
