// GGUF header inspection for the registry.
#include "manager/model_inspect.h"

#include <algorithm>
#include <map>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "gguf/gguf_file.h"
#include "model/architecture.h"

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
  HANGAR_ASSIGN(gguf::File file, gguf::File::open_header(path));
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
  // Values from the file: a product that overflows 64 bits is an error, not a wrapped estimate.
  int64_t kv = 0;
  if (n_layer < 0 || n_head_kv < 0 || key_len < 0 || value_len < 0 ||
      __builtin_add_overflow(key_len, value_len, &kv) || __builtin_mul_overflow(kv, n_head_kv, &kv) ||
      __builtin_mul_overflow(kv, n_layer, &kv))
    return Error(path + ": " + arch + ".block_count " + std::to_string(n_layer) + " x head_count_kv " +
                 std::to_string(n_head_kv) + " x (key_length " + std::to_string(key_len) +
                 " + value_length " + std::to_string(value_len) +
                 ") is negative or overflows 64 bits");
  rec->n_layer = n_layer;
  rec->kv_elems_per_token = kv;
  rec->hparams.reset();
  rec->hparams_read = true;
  if (const model::Architecture* a = model::find_architecture(arch)) {
    Result<model::HParams> hp = model::read_common_hparams(file, arch);
    if (hp.ok() && a->load_hparams(file, *hp).ok()) rec->hparams = *hp;
  }
  return Status::Ok();
}

namespace {
// Field order of the text form; a version tag first so a different layout is refused.
constexpr const char* kHparamsTag = "v1";
}  // namespace

std::string encode_hparams(const model::HParams& hp) {
  char buf[512];
  std::snprintf(buf, sizeof buf, "%s;%s;%d;%d;%d;%d;%d;%d;%d;%d;%d;%.9g;%.9g;%.9g;%d;%d;%d", kHparamsTag,
                hp.arch.c_str(), hp.n_vocab, hp.n_ctx_train, hp.n_embd, hp.n_layer, hp.n_head, hp.n_head_kv,
                hp.head_dim, hp.n_ff, hp.n_rot, hp.rms_eps, hp.rope_base, hp.rope_freq_scale,
                hp.rope_style == model::RopeStyle::kNeox ? 1 : 0, hp.qkv_bias ? 1 : 0, hp.qk_norm ? 1 : 0);
  return buf;
}

std::optional<model::HParams> decode_hparams(const std::string& text) {
  std::vector<std::string> f;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i)
    if (i == text.size() || text[i] == ';') f.push_back(text.substr(start, i - start)), start = i + 1;
  if (f.size() != 17 || f[0] != kHparamsTag || f[1].empty()) return std::nullopt;
  model::HParams hp;
  hp.arch = f[1];
  int32_t* ints[] = {&hp.n_vocab, &hp.n_ctx_train, &hp.n_embd, &hp.n_layer, &hp.n_head,
                     &hp.n_head_kv, &hp.head_dim, &hp.n_ff, &hp.n_rot};
  for (size_t i = 0; i < std::size(ints); ++i) {
    char* end = nullptr;
    const long v = std::strtol(f[2 + i].c_str(), &end, 10);
    if (end == f[2 + i].c_str() || *end != 0 || v <= 0 || v > (1 << 30)) return std::nullopt;
    *ints[i] = static_cast<int32_t>(v);
  }
  float* floats[] = {&hp.rms_eps, &hp.rope_base, &hp.rope_freq_scale};
  for (size_t i = 0; i < std::size(floats); ++i) {
    char* end = nullptr;
    *floats[i] = std::strtof(f[11 + i].c_str(), &end);
    if (end == f[11 + i].c_str() || *end != 0) return std::nullopt;
  }
  for (size_t i = 14; i < 17; ++i)
    if (f[i] != "0" && f[i] != "1") return std::nullopt;
  hp.rope_style = f[14] == "1" ? model::RopeStyle::kNeox : model::RopeStyle::kNormal;
  hp.qkv_bias = f[15] == "1";
  hp.qk_norm = f[16] == "1";
  return hp;
}

}  // namespace hangar::manager
