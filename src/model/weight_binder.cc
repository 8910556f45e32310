// WeightBinder: tensor lookup with type and shape checks.
#include "model/weight_binder.h"

namespace hangar::model {
namespace {
std::string shape_string(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}
}  // namespace

Result<const gguf::TensorInfo*> WeightBinder::find(const std::string& name) const {
  const gguf::TensorInfo* t = file_.find_tensor(name);
  if (!t) return Error(file_.path() + ": missing tensor " + name);
  return t;
}

Result<kernels::Matrix> WeightBinder::matrix(const std::string& name, int64_t rows, int64_t cols) const {
  HANGAR_ASSIGN(const gguf::TensorInfo* t, find(name));
  if (t->dims.size() != 2 || t->dims[0] != cols || t->dims[1] != rows)
    return Error(file_.path() + ": tensor " + name + " has shape " + shape_string(t->dims) +
                 ", expected " + shape_string({cols, rows}));
  if (!kernels::is_supported_weight_type(t->type))
    return Error(file_.path() + ": tensor " + name + " has type " + tensor_type_name(t->type) +
                 ", which hangar cannot compute with (supported: f32, f16, bf16, q8_0, q4_0, q4_1, "
                 "q5_0, q5_1, q4_K, q5_K, q6_K)");
  kernels::Matrix m;
  m.type = t->type;
  m.data = t->data;
  m.rows = rows;
  m.cols = cols;
  m.row_bytes = static_cast<size_t>(tensor_row_bytes(t->type, cols));
  return m;
}

Result<std::vector<float>> WeightBinder::vector(const std::string& name, int64_t n) const {
  HANGAR_ASSIGN(const gguf::TensorInfo* t, find(name));
  if (t->n_elements != n)
    return Error(file_.path() + ": tensor " + name + " has shape " + shape_string(t->dims) +
                 ", expected [" + std::to_string(n) + "]");
  if (t->type != TensorType::kF32 && t->type != TensorType::kF16 && t->type != TensorType::kBF16)
    return Error(file_.path() + ": tensor " + name + " has type " + tensor_type_name(t->type) +
                 ", expected f32, f16 or bf16");
  std::vector<float> out(static_cast<size_t>(n));
  kernels::dequantize_row(t->type, t->data, out.data(), n);
  return out;
}

}  // namespace hangar::model
