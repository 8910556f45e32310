// The architecture table and the hyper-parameter and weight binding shared by llama-like models.
#include "model/architecture.h"

#include <cmath>

namespace hangar::model {

extern const Architecture kLlamaArchitecture;
extern const Architecture kQwen2Architecture;
extern const Architecture kQwen3Architecture;

namespace {
const Architecture* const kArchitectures[] = {&kLlamaArchitecture, &kQwen2Architecture,
                                              &kQwen3Architecture};

// A required integer in [1, max].
Result<int32_t> read_positive(const gguf::File& f, const std::string& key, int64_t max) {
  const gguf::Value* v = f.find(key);
  if (v && v->as_array())
    return Error(f.path() + ": metadata key " + key +
                 " is a per-layer array, which hangar does not support (expected one integer)");
  HANGAR_ASSIGN(int64_t n, f.get_int(key));
  if (n <= 0 || n > max)
    return Error(f.path() + ": metadata key " + key + " = " + std::to_string(n) +
                 ", expected an integer from 1 to " + std::to_string(max));
  return static_cast<int32_t>(n);
}

// A float that must be finite and within [lo, hi].
Result<float> read_float(const gguf::File& f, const std::string& key, double def, double lo, double hi) {
  HANGAR_ASSIGN(double x, f.get_number_or(key, def));
  if (!std::isfinite(x) || x < lo || x > hi)
    return Error(f.path() + ": metadata key " + key + " = " + std::to_string(x) +
                 ", expected a finite number from " + std::to_string(lo) + " to " + std::to_string(hi));
  return static_cast<float>(x);
}

// n_head * head_dim (or n_head_kv * head_dim), computed in 64 bits.
Status check_width(const gguf::File& f, const std::string& p, const char* heads_key, int64_t heads,
                   int64_t head_dim) {
  const int64_t width = heads * head_dim;
  if (width > kMaxQDim)
    return Error(f.path() + ": metadata " + p + heads_key + " " + std::to_string(heads) + " x head size " +
                 std::to_string(head_dim) + " (" + p + "attention.key_length or embedding_length / " +
                 "head_count) = " + std::to_string(width) + ", expected at most " + std::to_string(kMaxQDim));
  return Status::Ok();
}
}  // namespace

const Architecture* find_architecture(std::string_view name) {
  for (const Architecture* a : kArchitectures)
    if (name == a->name) return a;
  return nullptr;
}

std::string supported_architectures() {
  std::string s;
  for (const Architecture* a : kArchitectures) s += (s.empty() ? "" : ", ") + std::string(a->name);
  return s;
}

Result<HParams> read_common_hparams(const gguf::File& f, const std::string& arch) {
  HParams hp;
  hp.arch = arch;
  const std::string p = arch + ".";
  HANGAR_ASSIGN(hp.n_ctx_train, read_positive(f, p + "context_length", kMaxCtxTrain));
  HANGAR_ASSIGN(hp.n_embd, read_positive(f, p + "embedding_length", kMaxEmbd));
  HANGAR_ASSIGN(hp.n_layer, read_positive(f, p + "block_count", kMaxLayers));
  HANGAR_ASSIGN(hp.n_ff, read_positive(f, p + "feed_forward_length", kMaxFf));
  HANGAR_ASSIGN(hp.n_head, read_positive(f, p + "attention.head_count", kMaxHeads));
  hp.n_head_kv = hp.n_head;
  if (f.has(p + "attention.head_count_kv")) {
    HANGAR_ASSIGN(hp.n_head_kv, read_positive(f, p + "attention.head_count_kv", kMaxHeads));
  }
  if (hp.n_head % hp.n_head_kv != 0)
    return Error(f.path() + ": attention.head_count " + std::to_string(hp.n_head) +
                 " is not a multiple of attention.head_count_kv " + std::to_string(hp.n_head_kv));
  hp.head_dim = hp.n_embd / hp.n_head;
  if (f.has(p + "attention.key_length")) {
    HANGAR_ASSIGN(hp.head_dim, read_positive(f, p + "attention.key_length", kMaxHeadDim));
  }
  if (hp.head_dim <= 0 || hp.head_dim > kMaxHeadDim)
    return Error(f.path() + ": head size " + std::to_string(hp.head_dim) + " (" + p +
                 "embedding_length / attention.head_count), expected 1 to " + std::to_string(kMaxHeadDim));
  HANGAR_TRY(check_width(f, p, "attention.head_count", hp.n_head, hp.head_dim));
  HANGAR_TRY(check_width(f, p, "attention.head_count_kv", hp.n_head_kv, hp.head_dim));
  if (f.has(p + "attention.value_length")) {
    HANGAR_ASSIGN(int32_t v_dim, read_positive(f, p + "attention.value_length", kMaxHeadDim));
    if (v_dim != hp.head_dim)
      return Error(f.path() + ": attention.value_length " + std::to_string(v_dim) +
                   " differs from key_length " + std::to_string(hp.head_dim) + "; not supported");
  }
  hp.n_rot = hp.head_dim;
  if (f.has(p + "rope.dimension_count")) {
    HANGAR_ASSIGN(hp.n_rot, read_positive(f, p + "rope.dimension_count", kMaxHeadDim));
  }
  if (hp.n_rot > hp.head_dim || hp.n_rot % 2 != 0)
    return Error(f.path() + ": rope.dimension_count " + std::to_string(hp.n_rot) +
                 ", expected an even number <= the head size " + std::to_string(hp.head_dim));
  HANGAR_ASSIGN(hp.rms_eps, read_float(f, p + "attention.layer_norm_rms_epsilon", 1e-5, 0.0, 1.0));
  HANGAR_ASSIGN(hp.rope_base, read_float(f, p + "rope.freq_base", 10000.0, 1e-3, 1e12));
  if (f.has(p + "pooling_type")) {
    HANGAR_ASSIGN(int64_t pooling, f.get_int(p + "pooling_type"));
    if (pooling < 0 || pooling > 4)
      return Error(f.path() + ": metadata key " + p + "pooling_type = " + std::to_string(pooling) +
                   ", expected 0 (none), 1 (mean), 2 (cls), 3 (last) or 4 (rank)");
    hp.pooling_type = static_cast<int32_t>(pooling);
  }

  HANGAR_ASSIGN(std::string scaling, f.get_string_or(p + "rope.scaling.type", "none"));
  HANGAR_ASSIGN(double factor, f.get_number_or(p + "rope.scaling.factor", 0.0));
  if (f.has(p + "rope.scale_linear")) {  // older key for linear scaling
    HANGAR_ASSIGN(factor, f.get_number(p + "rope.scale_linear"));
    scaling = "linear";
  }
  if (scaling == "linear") {
    if (!std::isfinite(factor) || factor < 0 || factor > 1e6)
      return Error(f.path() + ": " + p + "rope scaling factor " + std::to_string(factor) +
                   ", expected a finite number from 0 to 1e6");
    if (factor > 0) hp.rope_freq_scale = static_cast<float>(1.0 / factor);
  } else if (scaling != "none") {
    return Error(f.path() + ": rope scaling type \"" + scaling +
                 "\" is not supported (expected none or linear)");
  }

  const gguf::TensorInfo* embd = f.find_tensor("token_embd.weight");
  if (!embd || embd->dims.size() != 2)
    return Error(f.path() + ": missing tensor token_embd.weight (expected [n_embd, n_vocab])");
  if (embd->dims[1] <= 0 || embd->dims[1] > kMaxVocab)
    return Error(f.path() + ": tensor token_embd.weight has " + std::to_string(embd->dims[1]) +
                 " rows (the vocabulary size), expected 1 to " + std::to_string(kMaxVocab));
  hp.n_vocab = static_cast<int32_t>(embd->dims[1]);
  return hp;
}

Status bind_llama_like(const WeightBinder& b, const HParams& hp, Weights& w) {
  HANGAR_ASSIGN(w.token_embd, b.matrix("token_embd.weight", hp.n_vocab, hp.n_embd));
  HANGAR_ASSIGN(w.output_norm, b.vector("output_norm.weight", hp.n_embd));
  if (b.has("output.weight")) {
    HANGAR_ASSIGN(w.output, b.matrix("output.weight", hp.n_vocab, hp.n_embd));
  } else {
    w.output = w.token_embd;
  }
  if (b.has("rope_freqs.weight")) {
    HANGAR_ASSIGN(w.rope_freq_factors, b.vector("rope_freqs.weight", hp.n_rot / 2));
  }
  w.layers.resize(hp.n_layer);
  for (int32_t i = 0; i < hp.n_layer; ++i) {
    LayerWeights& l = w.layers[i];
    const std::string p = "blk." + std::to_string(i) + ".";
    HANGAR_ASSIGN(l.attn_norm, b.vector(p + "attn_norm.weight", hp.n_embd));
    HANGAR_ASSIGN(l.wq, b.matrix(p + "attn_q.weight", hp.q_dim(), hp.n_embd));
    HANGAR_ASSIGN(l.wk, b.matrix(p + "attn_k.weight", hp.kv_dim(), hp.n_embd));
    HANGAR_ASSIGN(l.wv, b.matrix(p + "attn_v.weight", hp.kv_dim(), hp.n_embd));
    HANGAR_ASSIGN(l.wo, b.matrix(p + "attn_output.weight", hp.n_embd, hp.q_dim()));
    HANGAR_ASSIGN(l.ffn_norm, b.vector(p + "ffn_norm.weight", hp.n_embd));
    HANGAR_ASSIGN(l.w_gate, b.matrix(p + "ffn_gate.weight", hp.n_ff, hp.n_embd));
    HANGAR_ASSIGN(l.w_up, b.matrix(p + "ffn_up.weight", hp.n_ff, hp.n_embd));
    HANGAR_ASSIGN(l.w_down, b.matrix(p + "ffn_down.weight", hp.n_embd, hp.n_ff));
  }
  return Status::Ok();
}

}  // namespace hangar::model
