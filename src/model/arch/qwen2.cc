// Qwen2 / Qwen2.5: NeoX-style rope and biases on the q, k and v projections.
#include "model/architecture.h"

namespace hangar::model {
namespace {
Status load_hparams(const gguf::File&, HParams& hp) {
  hp.rope_style = RopeStyle::kNeox;
  hp.qkv_bias = true;
  return Status::Ok();
}

Status bind_weights(const WeightBinder& b, const HParams& hp, Weights& w) {
  HANGAR_TRY(bind_llama_like(b, hp, w));
  for (int32_t i = 0; i < hp.n_layer; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    LayerWeights& l = w.layers[i];
    HANGAR_ASSIGN(l.bq, b.vector(p + "attn_q.bias", hp.q_dim()));
    HANGAR_ASSIGN(l.bk, b.vector(p + "attn_k.bias", hp.kv_dim()));
    HANGAR_ASSIGN(l.bv, b.vector(p + "attn_v.bias", hp.kv_dim()));
  }
  return Status::Ok();
}
}  // namespace

extern const Architecture kQwen2Architecture = {"qwen2", load_hparams, bind_weights};

}  // namespace hangar::model
