// Model: a loaded GGUF transformer: hyper-parameters and weights in the mapping (ggml layout).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "gguf/gguf_file.h"
#include "kernels/kernels.h"
#include "model/architecture.h"
#include "model/hparams.h"
#include "model/weights.h"

namespace hangar::model {

class Model {
 public:
  // Opens and validates the file: known architecture, every tensor present with the right shape
  // and a supported type. Errors name the file and the tensor, key or type at fault.
  // kMemory copies the file into huge-page memory (inference); kMap uses it in place.
  // LongArrays::kSkip leaves the vocabulary undecoded (a tokenizer kept from an earlier load
  // of the same file needs none) until read_long_arrays().
  // `progress` (optional) follows kMemory's copy.
  static Result<std::unique_ptr<Model>> load(const std::string& path,
                                             MappedFile::Backing backing = MappedFile::Backing::kMap,
                                             gguf::File::LongArrays arrays = gguf::File::LongArrays::kRead,
                                             const ByteProgress& progress = {});

  const HParams& hparams() const { return hp_; }
  const gguf::File& file() const { return file_; }
  // Decodes the metadata arrays a kSkip load left (see gguf::File::read_long_arrays).
  Status read_long_arrays() { return file_.read_long_arrays(); }
  // Bytes of tensor data the forward pass reads (all weights).
  uint64_t weight_bytes() const { return weight_bytes_; }
  // Bytes of the weights read per decoded token (everything but the unused embedding rows).
  uint64_t bytes_per_token() const;

  // The weights as the file lays them out (ggml blocks), views into the mapping. A backend
  // reads them to build its own copy; the CPU backend may rearrange the bytes of a model whose
  // weights are in memory (see CpuBackend), after which only it reads them.
  const Weights& weights() const { return w_; }
  // The file's bytes may be rewritten in place (weights read into memory, not mapped).
  bool weights_writable() const { return file_.mapped().backing() == MappedFile::Backing::kMemory; }

 private:
  Model() = default;

  gguf::File file_;
  const Architecture* arch_ = nullptr;
  HParams hp_;
  Weights w_;
  uint64_t weight_bytes_ = 0;
};

}  // namespace hangar::model
