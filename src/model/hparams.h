// HParams: a transformer's hyper-parameters as read from GGUF metadata.
#pragma once

#include <cstdint>
#include <string>

namespace hangar::model {

// How rotary embeddings pair up dimensions: kNormal rotates (x[2i], x[2i+1]) as Llama does;
// kNeox rotates (x[i], x[i + n_rot/2]) as GPT-NeoX, Qwen2 and Qwen3 do.
enum class RopeStyle { kNormal, kNeox };

struct HParams {
  std::string arch;          // general.architecture
  int32_t n_vocab = 0;
  int32_t n_ctx_train = 0;   // <arch>.context_length
  int32_t n_embd = 0;
  int32_t n_layer = 0;
  int32_t n_head = 0;
  int32_t n_head_kv = 0;
  int32_t head_dim = 0;      // <arch>.attention.key_length (= value_length here)
  int32_t n_ff = 0;
  int32_t n_rot = 0;         // rotated dimensions per head
  float rms_eps = 1e-5f;
  float rope_base = 10000.0f;
  float rope_freq_scale = 1.0f;  // 1 / linear scaling factor
  RopeStyle rope_style = RopeStyle::kNormal;
  bool qkv_bias = false;     // Qwen2
  bool qk_norm = false;      // Qwen3: RMS norm of each head's q and k before rope

  int32_t q_dim() const { return n_head * head_dim; }
  int32_t kv_dim() const { return n_head_kv * head_dim; }
};

}  // namespace hangar::model
