// HParams: a transformer's hyper-parameters as read from GGUF metadata.
#pragma once

#include <cstdint>
#include <string>

namespace hangar::model {

// How rotary embeddings pair up dimensions: kNormal rotates (x[2i], x[2i+1]) as Llama does;
// kNeox rotates (x[i], x[i + n_rot/2]) as GPT-NeoX, Qwen2 and Qwen3 do.
enum class RopeStyle { kNormal, kNeox };

// The largest values a file may declare. They lie far above every released model (the largest
// have n_embd 16384, 128 heads of 128-256 dimensions, n_ff 53248, 126 layers and 262144 tokens)
// and keep every size derived from them (q_dim, kv_dim, scratch of a batch) within the int32
// and size_t arithmetic of the forward pass. read_common_hparams checks them in 64 bits.
constexpr int64_t kMaxEmbd = int64_t{1} << 16;
constexpr int64_t kMaxLayers = int64_t{1} << 12;
constexpr int64_t kMaxHeads = int64_t{1} << 12;
constexpr int64_t kMaxHeadDim = int64_t{1} << 12;
constexpr int64_t kMaxQDim = int64_t{1} << 17;  // n_head * head_dim, and n_head_kv * head_dim
constexpr int64_t kMaxFf = int64_t{1} << 20;
constexpr int64_t kMaxVocab = int64_t{1} << 22;
constexpr int64_t kMaxCtxTrain = int64_t{1} << 30;

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
  // <arch>.pooling_type as llama.cpp numbers it (0 none, 1 mean, 2 cls, 3 last, 4 rank): how
  // embedding models pool their hidden states; -1 when the file does not say.
  int32_t pooling_type = -1;

  // At most kMaxQDim for hyper-parameters that read_common_hparams accepted.
  int32_t q_dim() const { return static_cast<int32_t>(int64_t{n_head} * head_dim); }
  int32_t kv_dim() const { return static_cast<int32_t>(int64_t{n_head_kv} * head_dim); }
};

}  // namespace hangar::model
