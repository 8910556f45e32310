// Weights: views of a model's tensors inside the mapped GGUF file, bound by name.
#pragma once

#include <vector>

#include "kernels/kernels.h"

namespace hangar::model {

using kernels::Matrix;

struct LayerWeights {
  std::vector<float> attn_norm;      // (n_embd)
  Matrix wq, wk, wv, wo;             // (q_dim, n_embd) (kv_dim, n_embd) (kv_dim, n_embd) (n_embd, q_dim)
  std::vector<float> bq, bk, bv;     // (q_dim) (kv_dim) (kv_dim), empty without qkv_bias
  std::vector<float> q_norm, k_norm; // (head_dim), empty without qk_norm
  std::vector<float> ffn_norm;       // (n_embd)
  Matrix w_gate, w_up, w_down;       // (n_ff, n_embd) (n_ff, n_embd) (n_embd, n_ff)
};

struct Weights {
  Matrix token_embd;                 // (n_vocab, n_embd), rows looked up per token
  std::vector<float> output_norm;    // (n_embd)
  Matrix output;                     // (n_vocab, n_embd); token_embd when tied
  std::vector<float> rope_freq_factors;  // (n_rot/2) llama3-style frequency divisors, or empty
  std::vector<LayerWeights> layers;  // (n_layer)
};

}  // namespace hangar::model
