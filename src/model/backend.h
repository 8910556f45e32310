// Backend: a model placed on one device (weights in that device's layout, KV storage, scratch).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "base/profiler.h"
#include "base/result.h"
#include "base/thread_pool.h"
#include "model/kv_cache.h"
#include "model/model.h"

namespace hangar::model {

// Where a model computes. kCpu is the SIMD kernels on the host; kCuda an NVIDIA GPU.
enum class Device { kCpu, kCuda };

// "cpu" or "cuda".
const char* device_name(Device d);
// True when this build has the CUDA backend and the driver reports at least one GPU.
bool cuda_device_present();
// True when this build has the CUDA backend (HANGAR_CUDA found the toolkit).
bool cuda_built();
// Why no GPU is usable ("no CUDA device", the driver's error), or the GPU's name when one is.
std::string cuda_probe_message();
// The first GPU's memory now (the driver's free and total bytes); an error naming why when
// there is none or the build has no CUDA.
struct GpuMemory {
  uint64_t free_bytes = 0, total_bytes = 0;
};
Result<GpuMemory> cuda_memory();
// "cpu", "cuda", or "auto" (CUDA when cuda_device_present(), else the CPU). Errors name the
// value and the accepted ones; "cuda" without a GPU (or a build without CUDA) is an error that
// says which of the two is missing.
Result<Device> resolve_device(std::string_view name);

// One token of a forward batch. Tokens of one sequence appear in increasing position order;
// `blocks` is that sequence's block table and must already cover positions [0, pos]. The token's
// key and value are written at `pos`; it attends to positions [0, pos] of its own sequence.
struct BatchToken {
  int32_t token = 0;
  int32_t pos = 0;
  const int32_t* blocks = nullptr;
  float* logits = nullptr;  // n_vocab floats to fill, or nullptr when not needed
  // n_embd floats: the hidden state after the output norm (what llama.cpp's embeddings pool),
  // or nullptr when not needed.
  float* embd = nullptr;
};

struct BackendOptions {
  int32_t max_batch_tokens = 512;  // most tokens per forward pass
  int32_t max_ctx = 4096;          // positions a sequence may reach
  int32_t n_kv_blocks = 1;         // KV cache blocks (shared by all sequences)
  int32_t kv_block_tokens = KvCache::kDefaultBlockTokens;
  // CPU, mapped weights: where the matrices rearranged for the decode kernels are kept
  // (model::LayoutCache); empty: mapped weights keep the file's layout.
  std::string layout_cache_dir;
  // Whether building or opening that file checks its page-cache folio size (see
  // LayoutCache::open_or_build).
  bool check_folios = true;
};

// Not thread-safe: the engine's thread drives it. The Model it was made from must outlive it.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  // "cpu", or the GPU's name and memory, for logs and benchmarks.
  virtual std::string description() const = 0;

  // The KV cache's block table; the keys and values themselves live where the backend computes.
  virtual KvCache& kv_cache() = 0;

  // Runs the batch through the network, writing keys/values into the KV cache and logits where
  // asked. Errors: a token id outside the vocabulary, a position outside the context, a batch
  // larger than max_batch_tokens, a device failure (named).
  virtual Status forward(std::span<const BatchToken> batch) = 0;

  // Bytes of host memory held for forward passes (activations, logits, staging).
  virtual uint64_t scratch_bytes() const = 0;
  // Bytes held in device memory now (weights, KV cache, scratch); 0 for the CPU.
  virtual uint64_t device_bytes() const { return 0; }

  // The device memory's copy bandwidth in GB/s (bytes read plus written), measured now; an
  // error on the CPU (hangar bench measures host memory itself).
  virtual Result<double> memory_bandwidth_gbps() { return Error("not a GPU backend"); }

  // Tiers of a GPU backend. offload() copies the weights to page-locked host memory and frees
  // all of the backend's device memory (the KV cache's contents go: no block may be in use);
  // reload() copies them back and reallocates the rest. Both are no-ops when already there;
  // the CPU backend has no tiers (an error).
  virtual Status offload() { return Error("the " + description() + " backend has no GPU tier"); }
  virtual Status reload() { return Error("the " + description() + " backend has no GPU tier"); }
  virtual bool offloaded() const { return false; }
  // Bytes of page-locked host memory held for offloaded weights.
  virtual uint64_t host_tier_bytes() const { return 0; }
  // The page-locked host bytes offload() takes (the weights' device copy), known before it runs.
  virtual uint64_t offload_bytes() const { return 0; }

  // Collects per-op times of forward passes; null (the default) is off.
  virtual void set_profiler(Profiler* p) = 0;
  virtual Profiler* profiler() const = 0;
};

// The CPU backend (model/cpu_backend.h). Rearranges the bytes of a model whose weights are in
// memory into the CPU kernels' layouts (see CpuBackend).
std::unique_ptr<Backend> make_cpu_backend(Model& model, ThreadPool& pool, const BackendOptions& opts);

// The CUDA backend: uploads the weights in its own layout and keeps the KV cache in GPU memory.
// Errors: a build without CUDA, no GPU, too little GPU memory, a tensor type it cannot compute
// with (named). `pool` serves host-side work at load (re-laying out the weights).
Result<std::unique_ptr<Backend>> make_cuda_backend(const Model& model, ThreadPool& pool,
                                                   const BackendOptions& opts);

// The backend of `device`.
Result<std::unique_ptr<Backend>> make_backend(Device device, Model& model, ThreadPool& pool,
                                              const BackendOptions& opts);

}  // namespace hangar::model
