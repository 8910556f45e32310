// GGUF header inspection for the registry.
#include "manager/model_inspect.h"

#include <algorithm>
#include <map>

#include "gguf/gguf_file.h"

namespace hangar::manager {
namespace {

// head_count_kv may be one integer or one per layer; the cache is sized by the largest.
int64_t int_or_max(const gguf::Value* v, int64_t def) {
  if (v == nullptr) return def;
  if (auto i = v->as_int()) return *i;
  if (const gguf::Array* a = v->as_array()) {
    int64_t best = 0;
    for (const auto& item : a->items) best = std::max(best, item.as_int().value_or(0));
    return best;
  }
  return def;
}

}  // namespace

Status inspect_model_file(const std::string& path, ModelRecord* rec) {
  HANGAR_ASSIGN(gguf::File file, gguf::File::open(path));
  HANGAR_ASSIGN(std::string arch, file.get_string("general.architecture"));
  rec->architecture = arch;
  HANGAR_ASSIGN(rec->context_length, file.get_int_or(arch + ".context_length", 0));
  rec->has_chat_template = file.has("tokenizer.chat_template");

  std::map<std::string, int64_t> type_counts;
  rec->n_params = 0;
  rec->tensor_bytes = 0;
  for (const gguf::TensorInfo& t : file.tensors()) {
    rec->n_params += t.n_elements;
    rec->tensor_bytes += t.n_bytes;
    type_counts[tensor_type_name(t.type)] += 1;
  }
  rec->tensor_types.assign(type_counts.begin(), type_counts.end());

  HANGAR_ASSIGN(int64_t n_layer, file.get_int_or(arch + ".block_count", 0));
  HANGAR_ASSIGN(int64_t n_embd, file.get_int_or(arch + ".embedding_length", 0));
  int64_t n_head = int_or_max(file.find(arch + ".attention.head_count"), 0);
  int64_t n_head_kv = int_or_max(file.find(arch + ".attention.head_count_kv"), n_head);
  int64_t head_dim = n_head > 0 ? n_embd / n_head : 0;
  HANGAR_ASSIGN(int64_t key_len, file.get_int_or(arch + ".attention.key_length", head_dim));
  HANGAR_ASSIGN(int64_t value_len, file.get_int_or(arch + ".attention.value_length", head_dim));
  rec->n_layer = n_layer;
  rec->kv_elems_per_token = n_layer * n_head_kv * (key_len + value_len);
  return Status::Ok();
}

uint64_t estimate_load_bytes(const ModelRecord& rec, int64_t ctx, int kv_elem_bytes,
                             uint64_t overhead_bytes) {
  int64_t n_ctx = ctx > 0 ? ctx : rec.context_length;
  uint64_t kv = static_cast<uint64_t>(std::max<int64_t>(n_ctx, 0)) *
                static_cast<uint64_t>(std::max<int64_t>(rec.kv_elems_per_token, 0)) *
                static_cast<uint64_t>(kv_elem_bytes);
  return rec.tensor_bytes + kv + overhead_bytes;
}

}  // namespace hangar::manager
