// CudaWeights: a model's weights in the CUDA backend's layouts, in one block of memory.
//
// Host code (built with or without CUDA), so that the layout of every shared model is checked
// on any machine; the CUDA backend copies the block to the GPU and rebases the pointers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/thread_pool.h"
#include "kernels/cuda/layout.h"
#include "model/model.h"

namespace hangar::model {

namespace kc = kernels::cuda;

struct CudaLayer {
  const float* attn_norm = nullptr;  // (n_embd)
  const float* ffn_norm = nullptr;   // (n_embd)
  const float* qkv_bias = nullptr;   // (q_dim + 2 kv_dim) or null
  const float* q_norm = nullptr;     // (head_dim) or null
  const float* k_norm = nullptr;
  // q, k and v as one matrix (rows q_dim + 2 kv_dim) when their types agree, else three.
  std::vector<kc::MatrixView> qkv;
  kc::MatrixView wo;
  // gate and up as one matrix (rows 2 n_ff) when their types agree, else two.
  std::vector<kc::MatrixView> gate_up;
  kc::MatrixView down;
};

// Pointers into one block of `bytes` bytes (host memory while staged, then the GPU's).
struct CudaWeights {
  size_t bytes = 0;
  kc::MatrixView token_embd, output;
  const float* output_norm = nullptr;
  const float* rope = nullptr;  // [n_pos][n_rot / 2] (cos, sin) pairs
  int32_t rope_positions = 0;
  std::vector<CudaLayer> layers;
  // Matrices whose file type the kernels lack, converted to F16 at load ("q5_K", ...).
  std::vector<std::string> converted_types;
};

// Moves every pointer of `w` from one copy of its block to another (after a reallocation).
void rebase_weights(CudaWeights& w, const uint8_t* old_base, const uint8_t* new_base);

// The weights re-laid out on the host (in parallel on `pool`): `data` holds the block and the
// views point into it. `rope_positions` rows of rotary cos/sin are computed as the CPU backend
// computes them. Errors: a matrix whose row length the kernels cannot take.
struct StagedWeights {
  std::unique_ptr<uint8_t[]> data;
  CudaWeights weights;
};
Result<StagedWeights> stage_weights(const Model& model, int32_t rope_positions, ThreadPool& pool);

// Row `row` of a matrix in its CUDA layout (host memory), dequantized as the kernels read it.
void dequantize_view_row(const kc::MatrixView& m, int64_t row, float* out);

}  // namespace hangar::model
