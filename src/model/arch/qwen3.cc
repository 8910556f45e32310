// Qwen3 (dense): NeoX-style rope and an RMS norm over each head's q and k (QK-norm), no biases.
#include "model/architecture.h"

namespace hangar::model {
namespace {
Status load_hparams(const gguf::File&, HParams& hp) {
  hp.rope_style = RopeStyle::kNeox;
  hp.qk_norm = true;
  return Status::Ok();
}

Status bind_weights(const WeightBinder& b, const HParams& hp, Weights& w) {
  HANGAR_TRY(bind_llama_like(b, hp, w));
  for (int32_t i = 0; i < hp.n_layer; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    LayerWeights& l = w.layers[i];
    HANGAR_ASSIGN(l.q_norm, b.vector(p + "attn_q_norm.weight", hp.head_dim));
    HANGAR_ASSIGN(l.k_norm, b.vector(p + "attn_k_norm.weight", hp.head_dim));
  }
  return Status::Ok();
}
}  // namespace

extern const Architecture kQwen3Architecture = {"qwen3", load_hparams, bind_weights};

}  // namespace hangar::model
