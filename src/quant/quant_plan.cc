// Per-tensor type choice for each scheme; the rules reproduce llama-quantize's observed output.
#include "quant/quant_plan.h"

#include <algorithm>
#include <cctype>

namespace hangar::quant {
namespace {

using T = TensorType;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

// llama-quantize's "use more bits" layers for the _M mixes: the first and last eighth of the
// layers and every third layer in between (observed: layers 0,1,4,7,10,13,14,15 of 16).
bool use_more_bits(int64_t i, int64_t n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

// The layer number of "blk.<N>.*" names, or -1.
int64_t layer_of(std::string_view name) {
  if (!name.starts_with("blk.")) return -1;
  int64_t v = 0;
  size_t i = 4;
  if (i >= name.size() || !std::isdigit(static_cast<unsigned char>(name[i]))) return -1;
  for (; i < name.size() && std::isdigit(static_cast<unsigned char>(name[i])); ++i)
    v = v * 10 + (name[i] - '0');
  return v;
}

int n_dims(const std::vector<int64_t>& dims) {
  int n = static_cast<int>(dims.size());
  while (n > 1 && dims[n - 1] == 1) --n;  // trailing 1s do not make a matrix
  return n;
}

// Tensors that must keep full precision even when they are 2-D.
bool never_quantized(std::string_view name) {
  return name.ends_with("norm.weight") || name.ends_with(".bias") || contains(name, "rope_freqs") ||
         contains(name, "pos_embd") || contains(name, "token_types") || contains(name, "ssm_conv1d") ||
         name.ends_with("ssm_a") || name.ends_with("ssm_d");
}

// The type llama-quantize falls back to when a K-quant's 256-element block does not divide a row.
std::optional<T> fallback_for(T t) {
  switch (t) {
    case T::kQ4_K:
      return T::kQ5_0;
    case T::kQ5_K:
      return T::kQ5_1;
    case T::kQ6_K:
      return T::kQ8_0;
    default:
      return std::nullopt;
  }
}

bool is_mix(Scheme s) {
  return s == Scheme::kQ4_K_S || s == Scheme::kQ4_K_M || s == Scheme::kQ5_K_S || s == Scheme::kQ5_K_M;
}
bool is_pure(Scheme s) { return s == Scheme::kQ4_K || s == Scheme::kQ5_K; }

// Category counts for the layer-dependent rules.
struct Counts {
  int64_t attn_v = 0, ffn_down = 0;
};

T choose_type(const gguf::TensorInfo& t, const SchemeInfo& sc, bool has_output, const Counts& counts,
              int64_t order_v, int64_t order_down) {
  const std::string& name = t.name;
  const Scheme s = sc.scheme;
  T type = sc.base;
  if (is_pure(s)) return type;
  const bool is_output = name == "output.weight" || (!has_output && name == "token_embd.weight");
  if (is_output) return type == T::kQ8_0 ? type : T::kQ6_K;
  if (!is_mix(s)) return type;
  const bool m = s == Scheme::kQ4_K_M || s == Scheme::kQ5_K_M;
  if (contains(name, "attn_v.weight")) {
    int64_t i = layer_of(name) >= 0 ? layer_of(name) : order_v;
    if (m && use_more_bits(i, counts.attn_v)) return T::kQ6_K;
    if (s == Scheme::kQ4_K_S && i < 4) return T::kQ5_K;
  } else if (contains(name, "ffn_down")) {
    int64_t i = layer_of(name) >= 0 ? layer_of(name) : order_down;
    if (m && use_more_bits(i, counts.ffn_down)) return T::kQ6_K;
    if (s == Scheme::kQ4_K_S && i < counts.ffn_down / 8) return T::kQ5_K;
  } else if (contains(name, "attn_qkv.weight")) {
    if (s == Scheme::kQ4_K_M) return T::kQ5_K;
    if (s == Scheme::kQ5_K_M) return T::kQ6_K;
  }
  return type;
}

bool is_block_quantized(T t) { return tensor_type_info(t).block_elems > 1; }

}  // namespace

int64_t TensorPlan::n_elements() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

const std::vector<SchemeInfo>& all_schemes() {
  static const std::vector<SchemeInfo> kSchemes = {
      {Scheme::kQ8_0, "Q8_0", T::kQ8_0, 7},      {Scheme::kQ4_0, "Q4_0", T::kQ4_0, 2},
      {Scheme::kQ4_1, "Q4_1", T::kQ4_1, 3},      {Scheme::kQ5_0, "Q5_0", T::kQ5_0, 8},
      {Scheme::kQ5_1, "Q5_1", T::kQ5_1, 9},      {Scheme::kQ4_K, "Q4_K", T::kQ4_K, 14},
      {Scheme::kQ5_K, "Q5_K", T::kQ5_K, 16},     {Scheme::kQ6_K, "Q6_K", T::kQ6_K, 18},
      {Scheme::kQ4_K_S, "Q4_K_S", T::kQ4_K, 14}, {Scheme::kQ4_K_M, "Q4_K_M", T::kQ4_K, 15},
      {Scheme::kQ5_K_S, "Q5_K_S", T::kQ5_K, 16}, {Scheme::kQ5_K_M, "Q5_K_M", T::kQ5_K, 17},
  };
  return kSchemes;
}

Result<SchemeInfo> parse_scheme(std::string_view name) {
  std::string names;
  for (const auto& s : all_schemes()) {
    if (iequals(name, s.name)) return s;
    names += (names.empty() ? "" : ", ") + std::string(s.name);
  }
  return Error("quantization type \"" + std::string(name) + "\" is not supported (expected one of " + names +
               ")");
}

Result<std::vector<TensorPlan>> plan_tensors(const std::vector<gguf::TensorInfo>& tensors,
                                             const SchemeInfo& scheme, const PlanOptions& opts,
                                             int64_t expert_count) {
  if (expert_count > 0)
    return Error("mixture-of-experts models (expert_count " + std::to_string(expert_count) +
                 ") are not supported by hangar quantize");
  bool has_output = false;
  Counts counts;
  for (const auto& t : tensors) {
    if (t.type != T::kF32 && t.type != T::kF16 && t.type != T::kBF16)
      return Error("tensor " + t.name + " is " + tensor_type_name(t.type) +
                   "; expected F32, F16 or BF16 input (re-quantizing a quantized model is not supported)");
    has_output |= t.name == "output.weight";
    counts.attn_v += contains(t.name, "attn_v.weight");
    counts.ffn_down += contains(t.name, "ffn_down");
  }
  std::vector<TensorPlan> plans;
  plans.reserve(tensors.size());
  int64_t order_v = 0, order_down = 0;
  for (const auto& t : tensors) {
    TensorPlan p;
    p.name = t.name;
    p.src_type = t.type;
    p.dims = t.dims;
    const bool matrix = n_dims(t.dims) >= 2 && !never_quantized(t.name);
    if (!matrix) {
      // Vectors, norm weights and biases are few and sensitive; F32 costs nothing.
      const bool f32 = n_dims(t.dims) == 1 || t.name.ends_with("norm.weight") || t.name.ends_with(".bias");
      p.dst_type = f32 ? T::kF32 : t.type;
      plans.push_back(std::move(p));
      continue;
    }
    T want = choose_type(t, scheme, has_output, counts, order_v, order_down);
    order_v += contains(t.name, "attn_v.weight");
    order_down += contains(t.name, "ffn_down");
    if (t.name == "token_embd.weight" && opts.token_embedding_type) want = *opts.token_embedding_type;
    if (t.name == "output.weight" && opts.keep_output) {
      p.dst_type = t.type;
      p.note = "kept (--keep-output)";
      plans.push_back(std::move(p));
      continue;
    }
    const int64_t cols = t.dims[0];
    T got = want;
    if (cols % tensor_type_info(got).block_elems != 0) {
      auto fb = fallback_for(got);
      got = fb && cols % tensor_type_info(*fb).block_elems == 0 ? *fb : t.type;
      p.note = "fallback from " + tensor_type_name(want) + ": rows of " + std::to_string(cols) +
               " are not a multiple of its block of " + std::to_string(tensor_type_info(want).block_elems);
    }
    p.dst_type = got;
    p.quantized = is_block_quantized(got);
    plans.push_back(std::move(p));
  }
  return plans;
}

Result<std::vector<TensorPlan>> plan_file(const gguf::File& file, const SchemeInfo& scheme,
                                          const PlanOptions& opts) {
  HANGAR_ASSIGN(std::string arch, file.get_string_or("general.architecture", ""));
  HANGAR_ASSIGN(int64_t experts, file.get_int_or(arch + ".expert_count", 0));
  auto plans = plan_tensors(file.tensors(), scheme, opts, experts);
  if (!plans.ok()) return plans.error().context(file.path());
  return plans;
}

}  // namespace hangar::quant
