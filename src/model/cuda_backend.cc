// CudaBackend: the forward pass on an NVIDIA GPU; weights, KV cache and activations in GPU memory.
//
// The layer loop mirrors the CPU backend's (forward.cc) kernel for kernel, with fusions where
// they save a pass over memory: RMS norm writes the next matmul's 8-bit activations, the output
// and down projections add into the residual stream, q/k/v post-processing writes the cache.
// A forward pass of up to kGraphMaxTokens tokens is captured once per shape as a CUDA graph
// and replayed (decode steps are ~200 small kernels; launching them one by one would cost more
// than running them). Sampling stays on the host: logits are copied back per token.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <tuple>

#include "base/log.h"
#include "kernels/cuda/ops.h"
#include "kernels/cuda/runtime.h"
#include "model/backend.h"
#include "model/cuda_weights.h"

namespace hangar::model {
namespace {

constexpr int32_t kGraphMaxTokens = 64;
constexpr int32_t kLogitsRows = 64;      // output rows per pass of the output matmul
constexpr int32_t kPositionsPerSplit = 64;  // attention: positions per parallel part (decode)
constexpr int32_t kMinSplitFloatsTokens = 4;  // attention scratch: 4 parts for a full batch

size_t align_up(size_t n) { return (n + 255) / 256 * 256; }

class CudaBackend final : public Backend {
 public:
  CudaBackend(const Model& model, const BackendOptions& opts) : hp_(model.hparams()), opts_(opts) {}

  Status init(const Model& model, ThreadPool& pool);

  Device device() const override { return Device::kCuda; }
  std::string description() const override { return description_; }
  Result<double> memory_bandwidth_gbps() override { return kc::measure_copy_bandwidth(size_t{1} << 30); }
  KvCache& kv_cache() override { return *kv_; }
  Status forward(std::span<const BatchToken> batch) override;
  uint64_t scratch_bytes() const override { return info_host_.size(); }
  uint64_t device_bytes() const override { return blob_.size() + kv_mem_.size() + scratch_.size(); }
  Status offload() override;
  Status reload() override;
  bool offloaded() const override { return host_weights_.size() > 0; }
  uint64_t host_tier_bytes() const override { return host_weights_.size(); }
  uint64_t offload_bytes() const override { return offloaded() ? host_weights_.size() : blob_.size(); }
  void set_profiler(Profiler* p) override { profiler_ = p; }
  Profiler* profiler() const override { return profiler_; }

 private:
  // The batch's per-token data, contiguous for a batch of n tokens (one copy to the device):
  // host mirror (pinned) and device copy have the same layout.
  struct Info {
    int32_t* tokens;   // [n]
    int32_t* pos;      // [n]
    int32_t* out_idx;  // [n] token index of each logits row
    int32_t* blocks;   // [n][blocks_stride]
    size_t bytes;
  };
  Info info_at(uint8_t* base, int32_t n) const;
  // The KV cache and activations in device memory (at init, and again at reload).
  Status allocate_state();
  void enqueue_layers(int32_t n, int32_t n_splits);
  void enqueue_logits(int32_t n, int32_t first, int32_t rows);
  Status copy_block(int32_t from, int32_t to, int32_t n_slots);
  // One block's host image (KvCache::read_block's layout) out of or into the device's cache.
  Status block_image(int32_t block, int32_t n_slots, uint8_t* out, const uint8_t* in);

  HParams hp_;
  BackendOptions opts_;
  std::string description_;
  Profiler* profiler_ = nullptr;
  kc::Stream stream_;
  CudaWeights w_;          // pointers into blob_
  kc::DeviceBuffer blob_;
  kc::DeviceBuffer kv_mem_;  // K then V: [layer][block][slot][kv_dim] halves each
  std::unique_ptr<KvCache> kv_;
  kc::DeviceBuffer scratch_;
  kc::PinnedBuffer info_host_;
  int32_t blocks_stride_ = 0;
  size_t info_bytes_ = 0;
  uint8_t* info_dev_ = nullptr;
  float *x_ = nullptr, *xb_ = nullptr, *qkv_ = nullptr, *attn_ = nullptr, *gu_ = nullptr, *ff_ = nullptr;
  float *part_ = nullptr, *logits_ = nullptr;
  size_t part_floats_ = 0;
  kc::Acts acts_;
  kc::PinnedBuffer host_weights_;  // the weights while offloaded
  const uint8_t* blob_base_ = nullptr;  // where the weights were on the device before offload
  std::map<std::tuple<int32_t, int32_t, int32_t>, kc::Graph> graphs_;  // (tokens, logits rows, splits)
  bool graphs_enabled_ = true;  // off after a capture failed (HANGAR_CUDA_GRAPHS=0 too)
};

Status CudaBackend::init(const Model& model, ThreadPool& pool) {
  const HParams& hp = hp_;
  if (!kc::attention_supported(hp.n_head, hp.n_head_kv, hp.head_dim))
    return Error("device cuda: attention with " + std::to_string(hp.n_head) + " heads over " +
                 std::to_string(hp.n_head_kv) + " kv heads of " + std::to_string(hp.head_dim) +
                 " dimensions is not supported (at most 16 query heads per kv head, an even head size up to 256)");
  if (hp.n_rot % 2 != 0 || hp.n_rot > hp.head_dim)
    return Error("device cuda: rotary dimension count " + std::to_string(hp.n_rot) + " is not supported");
  HANGAR_ASSIGN(kc::DeviceInfo dev, kc::probe_device());
  description_ = "cuda: " + dev.name;
  // For measuring what the graphs save, and a way around them should a driver refuse one.
  if (const char* g = std::getenv("HANGAR_CUDA_GRAPHS"); g != nullptr && std::string(g) == "0") graphs_enabled_ = false;
  HANGAR_ASSIGN(stream_, kc::Stream::create());
  {
    HANGAR_ASSIGN(StagedWeights staged, stage_weights(model, opts_.max_ctx, pool));
    HANGAR_ASSIGN(blob_, kc::DeviceBuffer::allocate(staged.weights.bytes, "the weights"));
    HANGAR_TRY(kc::copy_to_device(blob_.data(), staged.data.get(), staged.weights.bytes, stream_));
    HANGAR_TRY(stream_.synchronize());
    w_ = std::move(staged.weights);
    rebase_weights(w_, staged.data.get(), static_cast<const uint8_t*>(blob_.data()));
  }

  // The block table lives on the host; copies of blocks (copy-on-write of shared prefixes) run
  // on the stream, before the next forward pass. Block images (the engine's disk store of
  // prefixes) are copied over the bus, synchronously.
  KvCache::DeviceBlocks blocks;
  blocks.copy = [this](int32_t from, int32_t to, int32_t n) {
    Status st = copy_block(from, to, n);
    HANGAR_ASSERT_MSG(st.ok(), "copying a KV block on the GPU failed");
  };
  blocks.read = [this](int32_t block, int32_t n, uint8_t* out) {
    Status st = block_image(block, n, out, nullptr);
    HANGAR_ASSERT_MSG(st.ok(), "reading a KV block from the GPU failed");
  };
  blocks.write = [this](int32_t block, int32_t n, const uint8_t* in) {
    Status st = block_image(block, n, nullptr, in);
    HANGAR_ASSERT_MSG(st.ok(), "writing a KV block to the GPU failed");
  };
  kv_ = std::make_unique<KvCache>(hp, opts_.n_kv_blocks, opts_.kv_block_tokens, std::move(blocks));
  return allocate_state();
}

Status CudaBackend::allocate_state() {
  const HParams& hp = hp_;
  // KV cache.
  const size_t kv_half = static_cast<size_t>(hp.n_layer) * opts_.n_kv_blocks * opts_.kv_block_tokens * hp.kv_dim();
  HANGAR_ASSIGN(kv_mem_, kc::DeviceBuffer::allocate(kv_half * 2 * sizeof(uint16_t), "the KV cache"));

  // Activations and scratch, in one allocation.
  const size_t B = static_cast<size_t>(opts_.max_batch_tokens);
  const int32_t qd = hp.q_dim(), kvd = hp.kv_dim();
  const size_t kmax = static_cast<size_t>(std::max({hp.n_embd, qd, hp.n_ff}));
  const size_t logit_rows = std::min<size_t>(B, kLogitsRows);
  part_floats_ = std::max(kc::attention_part_floats(static_cast<int>(B), hp.n_head, hp.head_dim, kMinSplitFloatsTokens),
                          kc::attention_part_floats(kGraphMaxTokens, hp.n_head, hp.head_dim,
                                                    (opts_.max_ctx + kPositionsPerSplit - 1) / kPositionsPerSplit));
  const size_t sizes[] = {
      B * hp.n_embd * 4,                      // x
      B * kmax * 4,                           // xb
      B * (qd + 2 * kvd) * 4,                 // qkv
      B * qd * 4,                             // attn
      B * 2 * hp.n_ff * 4,                    // gate, up
      B * hp.n_ff * 4,                        // swiglu out
      part_floats_ * 4,                       // attention parts
      logit_rows * hp.n_vocab * 4,            // logits
      B * kmax,                               // acts q
      B * (kmax / 32) * 4,                    // acts d
      B * (kmax / 32) * 4,                    // acts s
      B * kmax * 2,                           // acts h
  };
  size_t total = 0;
  for (size_t s : sizes) total += align_up(s);
  blocks_stride_ = (opts_.max_ctx + opts_.kv_block_tokens - 1) / opts_.kv_block_tokens;
  info_bytes_ = 3 * align_up(B * 4) + B * blocks_stride_ * 4;
  total += info_bytes_;
  HANGAR_ASSIGN(scratch_, kc::DeviceBuffer::allocate(total, "activations"));
  auto* p = static_cast<uint8_t*>(scratch_.data());
  auto take = [&p](size_t n) {
    uint8_t* at = p;
    p += align_up(n);
    return at;
  };
  x_ = reinterpret_cast<float*>(take(sizes[0]));
  xb_ = reinterpret_cast<float*>(take(sizes[1]));
  qkv_ = reinterpret_cast<float*>(take(sizes[2]));
  attn_ = reinterpret_cast<float*>(take(sizes[3]));
  gu_ = reinterpret_cast<float*>(take(sizes[4]));
  ff_ = reinterpret_cast<float*>(take(sizes[5]));
  part_ = reinterpret_cast<float*>(take(sizes[6]));
  logits_ = reinterpret_cast<float*>(take(sizes[7]));
  acts_.q = reinterpret_cast<int8_t*>(take(sizes[8]));
  acts_.d = reinterpret_cast<float*>(take(sizes[9]));
  acts_.s = reinterpret_cast<float*>(take(sizes[10]));
  acts_.h = reinterpret_cast<uint16_t*>(take(sizes[11]));
  info_dev_ = take(info_bytes_);
  if (info_host_.data() == nullptr) {
    HANGAR_ASSIGN(info_host_, kc::PinnedBuffer::allocate(info_bytes_, "batch descriptions"));
    std::memset(info_host_.data(), 0, info_bytes_);
  }
  return Status::Ok();
}

Status CudaBackend::offload() {
  if (offloaded()) return Status::Ok();
  if (kv_->n_used_blocks() != 0)
    return Error("device cuda: cannot offload a model whose KV cache holds " + std::to_string(kv_->n_used_blocks()) +
                 " blocks in use");
  HANGAR_ASSIGN(kc::PinnedBuffer host, kc::PinnedBuffer::allocate(blob_.size(), "offloaded weights"));
  HANGAR_TRY(kc::copy_to_host(host.data(), blob_.data(), blob_.size(), stream_));
  HANGAR_TRY(stream_.synchronize());
  graphs_.clear();  // they hold device addresses
  blob_base_ = static_cast<const uint8_t*>(blob_.data());
  blob_.reset();
  kv_mem_.reset();
  scratch_.reset();
  host_weights_ = std::move(host);
  return Status::Ok();
}

Status CudaBackend::reload() {
  if (!offloaded()) return Status::Ok();
  HANGAR_ASSIGN(kc::DeviceBuffer blob, kc::DeviceBuffer::allocate(host_weights_.size(), "the weights"));
  HANGAR_TRY(kc::copy_to_device(blob.data(), host_weights_.data(), host_weights_.size(), stream_));
  HANGAR_TRY(stream_.synchronize());
  rebase_weights(w_, blob_base_, static_cast<const uint8_t*>(blob.data()));
  blob_ = std::move(blob);
  HANGAR_TRY(allocate_state());
  host_weights_.reset();
  return Status::Ok();
}

CudaBackend::Info CudaBackend::info_at(uint8_t* base, int32_t n) const {
  const size_t row = (static_cast<size_t>(n) * 4 + 15) / 16 * 16;
  Info i;
  i.tokens = reinterpret_cast<int32_t*>(base);
  i.pos = reinterpret_cast<int32_t*>(base + row);
  i.out_idx = reinterpret_cast<int32_t*>(base + 2 * row);
  i.blocks = reinterpret_cast<int32_t*>(base + 3 * row);
  i.bytes = 3 * row + static_cast<size_t>(n) * blocks_stride_ * 4;
  return i;
}

Status CudaBackend::copy_block(int32_t from, int32_t to, int32_t n_slots) {
  const size_t bt = opts_.kv_block_tokens, kvd = hp_.kv_dim();
  const size_t per_layer = static_cast<size_t>(opts_.n_kv_blocks) * bt * kvd;
  const size_t kv_half = per_layer * hp_.n_layer;
  auto* base = static_cast<uint16_t*>(kv_mem_.data());
  for (int32_t l = 0; l < hp_.n_layer; ++l)
    for (size_t half : {size_t{0}, kv_half}) {
      uint16_t* layer = base + half + l * per_layer;
      HANGAR_TRY(kc::copy_on_device(layer + to * bt * kvd, layer + from * bt * kvd, n_slots * kvd * 2, stream_));
    }
  return Status::Ok();
}

Status CudaBackend::block_image(int32_t block, int32_t n_slots, uint8_t* out, const uint8_t* in) {
  if (offloaded()) return Error("device cuda: the model is offloaded to host memory (reload it first)");
  const size_t bt = opts_.kv_block_tokens, kvd = hp_.kv_dim();
  const size_t per_layer = static_cast<size_t>(opts_.n_kv_blocks) * bt * kvd;
  const size_t kv_half = per_layer * hp_.n_layer;
  const size_t bytes = static_cast<size_t>(n_slots) * kvd * sizeof(uint16_t);
  auto* base = static_cast<uint16_t*>(kv_mem_.data());
  for (int32_t l = 0; l < hp_.n_layer; ++l)
    for (size_t half : {size_t{0}, kv_half}) {  // K rows, then V rows
      uint16_t* at = base + half + l * per_layer + block * bt * kvd;
      if (out != nullptr) {
        HANGAR_TRY(kc::copy_to_host(out, at, bytes, stream_));
        out += bytes;
      } else {
        HANGAR_TRY(kc::copy_to_device(at, in, bytes, stream_));
        in += bytes;
      }
    }
  return stream_.synchronize();
}

// Queues the embedding and every layer for the first n tokens of the batch in info_dev_.
void CudaBackend::enqueue_layers(int32_t n, int32_t n_splits) {
  const HParams& hp = hp_;
  void* s = stream_.handle();
  const Info dev = info_at(info_dev_, n);
  const int32_t d = hp.n_embd, qd = hp.q_dim(), kvd = hp.kv_dim(), width = qd + 2 * kvd, ff = hp.n_ff;
  kc::BatchView bv{dev.tokens, dev.pos, dev.blocks, blocks_stride_, n};
  kc::embed(w_.token_embd, dev.tokens, n, x_, s);
  const size_t per_layer = static_cast<size_t>(opts_.n_kv_blocks) * opts_.kv_block_tokens * kvd;
  auto* kv_base = static_cast<uint16_t*>(kv_mem_.data());
  const size_t kv_half = per_layer * hp.n_layer;
  kc::Acts a = acts_;
  for (int32_t il = 0; il < hp.n_layer; ++il) {
    const CudaLayer& l = w_.layers[il];
    // Attention block.
    kc::ActFormat f = kc::act_format(l.qkv[0].type, n);
    a.f = xb_;
    kc::rms_norm_act(x_, nullptr, n, d, l.attn_norm, hp.rms_eps, xb_, f, a, s);
    int32_t col = 0;
    for (const kc::MatrixView& m : l.qkv) {
      const kc::ActFormat fm = kc::act_format(m.type, n);
      if (fm != f) kc::convert_act(xb_, n, d, fm, a, s), f = fm;
      kc::matmul(m, a, n, qkv_ + col, width, false, s);
      col += m.rows;
    }
    kc::KvLayer kvl{kv_base + il * per_layer, kv_base + kv_half + il * per_layer, opts_.kv_block_tokens, kvd};
    kc::QkvPost post;
    post.qkv = qkv_;
    post.n_head = hp.n_head;
    post.n_head_kv = hp.n_head_kv;
    post.head_dim = hp.head_dim;
    post.n_rot = hp.n_rot;
    post.neox = hp.rope_style == RopeStyle::kNeox;
    post.bias = l.qkv_bias;
    post.q_norm = l.q_norm;
    post.k_norm = l.k_norm;
    post.eps = hp.rms_eps;
    post.rope = w_.rope;
    kc::qkv_post(post, bv, kvl, s);
    kc::AttentionArgs aa;
    aa.q = qkv_;
    aa.q_stride = width;
    aa.n_head = hp.n_head;
    aa.n_head_kv = hp.n_head_kv;
    aa.head_dim = hp.head_dim;
    aa.scale = 1.0f / std::sqrt(static_cast<float>(hp.head_dim));
    aa.n_splits = n_splits;
    aa.part = part_;
    aa.out = attn_;
    kc::attention(aa, bv, kvl, s);
    f = kc::act_format(l.wo.type, n);
    a.f = attn_;
    kc::convert_act(attn_, n, qd, f, a, s);
    kc::matmul(l.wo, a, n, x_, d, true, s);
    // Feed-forward block.
    f = kc::act_format(l.gate_up[0].type, n);
    a.f = xb_;
    kc::rms_norm_act(x_, nullptr, n, d, l.ffn_norm, hp.rms_eps, xb_, f, a, s);
    col = 0;
    for (const kc::MatrixView& m : l.gate_up) {
      const kc::ActFormat fm = kc::act_format(m.type, n);
      if (fm != f) kc::convert_act(xb_, n, d, fm, a, s), f = fm;
      kc::matmul(m, a, n, gu_ + col, 2 * ff, false, s);
      col += m.rows;
    }
    a.f = ff_;
    kc::swiglu_act(gu_, n, ff, ff_, kc::act_format(l.down.type, n), a, s);
    kc::matmul(l.down, a, n, x_, d, true, s);
  }
}

// Queues the final norm and output matmul of logits rows [first, first + rows) into logits_.
void CudaBackend::enqueue_logits(int32_t n, int32_t first, int32_t rows) {
  void* s = stream_.handle();
  const Info dev = info_at(info_dev_, n);
  kc::Acts a = acts_;
  a.f = xb_;
  kc::rms_norm_act(x_, dev.out_idx + first, rows, hp_.n_embd, w_.output_norm, hp_.rms_eps, xb_,
                   kc::act_format(w_.output.type, rows), a, s);
  kc::matmul(w_.output, a, rows, logits_, hp_.n_vocab, false, s);
}

Status CudaBackend::forward(std::span<const BatchToken> batch) {
  const int32_t n = static_cast<int32_t>(batch.size());
  if (n == 0) return Status::Ok();
  if (offloaded()) return Error("device cuda: the model is offloaded to host memory (reload it first)");
  if (n > opts_.max_batch_tokens)
    return Error("batch of " + std::to_string(n) + " tokens exceeds the " + std::to_string(opts_.max_batch_tokens) +
                 " the context was sized for");
  const Info host = info_at(static_cast<uint8_t*>(info_host_.data()), n);
  int32_t n_out = 0, max_pos = 0;
  const int32_t bt = opts_.kv_block_tokens;
  for (int32_t i = 0; i < n; ++i) {
    const BatchToken& t = batch[i];
    if (t.token < 0 || t.token >= hp_.n_vocab)
      return Error("token id " + std::to_string(t.token) + " is outside the vocabulary [0, " +
                   std::to_string(hp_.n_vocab) + ")");
    if (t.pos < 0 || t.pos >= opts_.max_ctx)
      return Error("position " + std::to_string(t.pos) + " is outside the context of " +
                   std::to_string(opts_.max_ctx) + " tokens");
    host.tokens[i] = t.token;
    host.pos[i] = t.pos;
    std::memcpy(host.blocks + static_cast<size_t>(i) * blocks_stride_, t.blocks, sizeof(int32_t) * (t.pos / bt + 1));
    if (t.logits != nullptr || t.embd != nullptr) host.out_idx[n_out++] = i;
    max_pos = std::max(max_pos, t.pos);
  }
  // Split each token's positions so that the GPU has work for long contexts; a power of two,
  // so that few graphs cover all context lengths.
  int32_t n_splits = 1;
  const int32_t want = (max_pos + kPositionsPerSplit) / kPositionsPerSplit;
  const int64_t cap = static_cast<int64_t>(part_floats_ / kc::attention_part_floats(n, hp_.n_head, hp_.head_dim, 1));
  while (n_splits < want && 2 * n_splits <= cap) n_splits *= 2;

  bool graphed = graphs_enabled_ && n <= kGraphMaxTokens && n_out <= kLogitsRows;
  if (graphed) {
    const auto key = std::make_tuple(n, n_out, n_splits);
    kc::Graph& g = graphs_[key];
    if (!g.ready()) {
      HANGAR_TRY(g.begin_capture(stream_));
      Status st = kc::copy_to_device(info_dev_, info_host_.data(), host.bytes, stream_);
      if (st.ok()) {
        enqueue_layers(n, n_splits);
        if (n_out > 0) enqueue_logits(n, 0, n_out);
      }
      Status end = g.end_capture(stream_);
      // Read (and so clear) the launch error even when the capture failed, or the eager run below reports it.
      Status launched = kc::check_launch("the forward pass");
      HANGAR_TRY(st);
      if (end.ok()) HANGAR_TRY(launched);
      if (!end.ok()) {
        // Run eagerly from now on rather than fail requests: slower, not wrong.
        log_warn("device cuda: " + end.error().message() + "; running without CUDA graphs");
        graphs_.erase(key);
        graphs_enabled_ = false;
        graphed = false;
      }
    }
    if (graphed) HANGAR_TRY(g.launch(stream_));
  }
  if (!graphed) {
    HANGAR_TRY(kc::copy_to_device(info_dev_, info_host_.data(), host.bytes, stream_));
    enqueue_layers(n, n_splits);
  }
  const size_t row_bytes = sizeof(float) * hp_.n_vocab;
  for (int32_t first = 0; first < n_out; first += kLogitsRows) {
    const int32_t rows = std::min(kLogitsRows, n_out - first);
    if (!graphed) enqueue_logits(n, first, rows);
    // The normed hidden states are xb_'s first rows (enqueue_logits), before the next chunk.
    const size_t embd_bytes = sizeof(float) * hp_.n_embd;
    for (int32_t r = 0; r < rows; ++r)
      if (float* embd = batch[host.out_idx[first + r]].embd; embd != nullptr)
        HANGAR_TRY(kc::copy_to_host(embd, xb_ + static_cast<size_t>(r) * hp_.n_embd, embd_bytes, stream_));
    for (int32_t r = 0; r < rows;) {
      // Rows whose destinations are contiguous go in one copy.
      int32_t e = r + 1;
      float* dst = batch[host.out_idx[first + r]].logits;
      if (dst == nullptr) {  // a row for the hidden state only
        r = e;
        continue;
      }
      while (e < rows && batch[host.out_idx[first + e]].logits == dst + static_cast<size_t>(e - r) * hp_.n_vocab) ++e;
      HANGAR_TRY(kc::copy_to_host(dst, logits_ + static_cast<size_t>(r) * hp_.n_vocab, row_bytes * (e - r), stream_));
      r = e;
    }
  }
  HANGAR_TRY(kc::check_launch("the forward pass"));
  return stream_.synchronize();
}

}  // namespace

bool cuda_built() { return true; }

bool cuda_device_present() { return kc::probe_device().ok(); }

std::string cuda_probe_message() {
  Result<kc::DeviceInfo> d = kc::probe_device();
  if (!d.ok()) return d.error().message();
  return d->name + " (compute " + std::to_string(d->major) + "." + std::to_string(d->minor) + ", " +
         std::to_string(d->free_bytes >> 20) + " MiB free of " + std::to_string(d->total_bytes >> 20) + ")";
}

Result<GpuMemory> cuda_memory() {
  HANGAR_ASSIGN(kc::DeviceInfo d, kc::probe_device());
  return GpuMemory{d.free_bytes, d.total_bytes};
}

Result<std::unique_ptr<Backend>> make_cuda_backend(const Model& model, ThreadPool& pool, const BackendOptions& opts) {
  Result<kc::DeviceInfo> dev = kc::probe_device();
  if (!dev.ok()) return Error("device cuda: " + dev.error().message());
  auto b = std::make_unique<CudaBackend>(model, opts);
  Status st = b->init(model, pool);
  if (!st.ok()) return Error("device cuda: " + st.error().message());
  return std::unique_ptr<Backend>(std::move(b));
}

}  // namespace hangar::model
