// Llama (Llama 2/3/3.x, Mistral, TinyLlama, SmolLM): normal-style rope, optional llama3 rope_freqs.
#include "model/architecture.h"

namespace hangar::model {
namespace {
Status load_hparams(const gguf::File&, HParams& hp) {
  hp.rope_style = RopeStyle::kNormal;
  return Status::Ok();
}
}  // namespace

extern const Architecture kLlamaArchitecture = {"llama", load_hparams, bind_llama_like};

}  // namespace hangar::model
