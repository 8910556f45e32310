// Architecture: the per-architecture hooks (read hyper-parameters, bind weights); one file each.
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"
#include "gguf/gguf_file.h"
#include "model/hparams.h"
#include "model/weight_binder.h"
#include "model/weights.h"

namespace hangar::model {

// A new architecture is one new file under arch/ defining one of these, plus a line in the table
// in architecture.cc. The forward pass (forward.cc) is shared: the differences between llama,
// qwen2 and qwen3 are captured by HParams flags (rope style, qkv bias, qk norm).
struct Architecture {
  const char* name;  // general.architecture
  // Fills the architecture-specific fields after the common ones were read from `<name>.*` keys.
  Status (*load_hparams)(const gguf::File& file, HParams& hp);
  // Binds every tensor the forward pass needs; errors name the missing or mis-shaped tensor.
  Status (*bind_weights)(const WeightBinder& binder, const HParams& hp, Weights& w);
};

// Returns the architecture named `name`, or nullptr.
const Architecture* find_architecture(std::string_view name);
// "llama, qwen2, qwen3", for error messages.
std::string supported_architectures();

// Reads the hyper-parameters shared by all decoder-only transformers (`<arch>.block_count`, ...).
Result<HParams> read_common_hparams(const gguf::File& file, const std::string& arch);

// Binds the tensors every llama-like block has (norms, q/k/v/o, gate/up/down) and the model's
// embedding, final norm and output (tied to token_embd when output.weight is absent).
Status bind_llama_like(const WeightBinder& binder, const HParams& hp, Weights& w);

}  // namespace hangar::model
