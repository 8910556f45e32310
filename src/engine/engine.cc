// Engine: loading and batched evaluation of sequences.
#include "engine/engine.h"

#include <algorithm>
#include <atomic>
#include <new>
#include <sstream>

namespace hangar::engine {

Result<std::unique_ptr<Engine>> Engine::load(const std::string& path, const EngineOptions& opts,
                                             ThreadPool& pool, const ByteProgress& progress) {
  std::unique_ptr<Engine> e(new Engine(pool));
  // With a tokenizer cache the vocabulary (hundreds of thousands of metadata values) is left
  // undecoded, and decoded below only when no earlier load of this file version left one.
  // The file's identity before and after the open must agree: a file replaced between the two
  // has none, so it is not matched with another version's tokenizer (nor taken as checked).
  // The CUDA backend reads the file once, to upload it: a plain mapping. On the CPU, copied
  // weights are rearranged in place; mapped ones come from the layout cache file.
  const bool cpu = opts.device == model::Device::kCpu;
  const std::optional<FileIdentity> before = file_identity(path);
  const auto arrays = before && opts.tokenizers ? gguf::File::LongArrays::kSkip : gguf::File::LongArrays::kRead;
  HANGAR_ASSIGN(e->model_, model::Model::load(path, !cpu ? MappedFile::Backing::kMap
                                                    : opts.weights_in_memory ? MappedFile::Backing::kMemory
                                                                             : MappedFile::Backing::kWeights,
                                              arrays, progress));
  e->identity_ = before && before == file_identity(path) ? before : std::nullopt;
  const std::optional<FileIdentity>& identity = e->identity_;
  std::optional<Tokenizer> tok = identity && opts.tokenizers ? opts.tokenizers->find(*identity) : std::nullopt;
  if (!tok) {
    HANGAR_TRY(e->model_->read_long_arrays());
    HANGAR_ASSIGN(tok, Tokenizer::from_gguf(e->model_->file()));
    if (identity && opts.tokenizers) opts.tokenizers->put(*identity, *tok);
  }
  e->tokenizer_ = std::make_unique<Tokenizer>(std::move(*tok));
  const model::HParams& hp = e->model_->hparams();
  e->opts_ = opts;
  if (opts.n_ctx <= 0) return Error("context size must be positive, got " + std::to_string(opts.n_ctx));
  if (opts.n_seq <= 0) return Error("sequence count must be positive, got " + std::to_string(opts.n_seq));
  if (opts.batch_tokens <= 0)
    return Error("batch size must be positive, got " + std::to_string(opts.batch_tokens));
  e->opts_.n_ctx = std::min(opts.n_ctx, hp.n_ctx_train);
  model::BackendOptions bo;
  bo.max_batch_tokens = opts.batch_tokens;
  bo.max_ctx = e->opts_.n_ctx;
  bo.n_kv_blocks = kv_blocks_for(opts, hp.n_ctx_train);
  bo.kv_block_tokens = model::KvCache::kDefaultBlockTokens;
  bo.layout_cache_dir = opts.layout_cache_dir;
  bo.check_folios = opts.check_folios;
  // Sized by the file's hyper-parameters and the options: a model too large for this machine
  // is an error for the caller, not an exception through it.
  try {
    HANGAR_ASSIGN(e->backend_, model::make_backend(opts.device, *e->model_, pool, bo));
  } catch (const std::bad_alloc&) {
    const MemoryEstimate m = estimate_memory(hp, 0, opts);
    return Error(path + ": cannot allocate the KV cache and scratch (about " +
                 std::to_string((m.kv_cache + m.scratch) >> 20) + " MiB for --ctx " +
                 std::to_string(e->opts_.n_ctx) + " x " + std::to_string(opts.n_seq) + " sequences)");
  }
  return e;
}

Engine::~Engine() = default;

std::string Engine::kv_layout() const {
  // Bump when a change of the forward pass moves any key or value bit: files saved before it
  // would then no longer equal what this build computes.
  constexpr int kKvNumerics = 1;
  const model::HParams& hp = hparams();
  std::ostringstream s;
  s.precision(9);
  s << "arch=" << hp.arch << " n_layer=" << hp.n_layer << " n_embd=" << hp.n_embd << " n_head=" << hp.n_head
    << " n_head_kv=" << hp.n_head_kv << " head_dim=" << hp.head_dim << " n_rot=" << hp.n_rot
    << " rope=" << (hp.rope_style == model::RopeStyle::kNeox ? "neox" : "normal") << " rope_base=" << hp.rope_base
    << " rope_freq_scale=" << hp.rope_freq_scale << " qk_norm=" << hp.qk_norm << " qkv_bias=" << hp.qkv_bias
    << " kv=f16 block_tokens=" << backend_->kv_cache().block_tokens() << " device=" << model::device_name(device()) << " numerics=" << kKvNumerics;
  return s.str();
}

void Engine::prefault_weights(const ByteProgress& progress) {
  const MappedFile& m = model_->file().mapped();
  if (m.backing() == MappedFile::Backing::kMemory || device() != model::Device::kCpu) return;  // read in at load
  if (m.populate(opts_.check_folios, progress)) return;
  const uint8_t* data = m.data();
  const int64_t size = static_cast<int64_t>(m.size());
  constexpr int64_t kPage = 4096, kChunk = 1 << 22;
  std::atomic<uint64_t> sink{0};
  pool_.parallel_for((size + kChunk - 1) / kChunk, 1, [&](int64_t b, int64_t e, int) {
    uint64_t acc = 0;
    for (int64_t off = b * kChunk; off < std::min(size, e * kChunk); off += kPage) acc += data[off];
    sink.fetch_add(acc, std::memory_order_relaxed);
  });
}

Status Engine::eval(std::span<const EvalItem> items) {
  // Validate and reserve first, so that an error leaves every sequence as it was.
  for (const EvalItem& it : items) {
    const int32_t end = it.seq->n_past() + static_cast<int32_t>(it.tokens.size());
    if (end > opts_.n_ctx)
      return Error("context overflow: " + std::to_string(end) + " tokens exceed the context of " +
                   std::to_string(opts_.n_ctx));
    for (TokenId t : it.tokens)
      if (t < 0 || t >= n_vocab())
        return Error("token id " + std::to_string(t) + " is outside the vocabulary [0, " +
                     std::to_string(n_vocab()) + ")");
  }
  for (size_t i = 0; i < items.size(); ++i) {
    const EvalItem& it = items[i];
    Status st = it.seq->reserve(kv_cache(), it.seq->n_past() + static_cast<int32_t>(it.tokens.size()));
    if (!st.ok()) {
      for (size_t j = 0; j <= i; ++j) items[j].seq->truncate(kv_cache(), items[j].seq->n_past());
      return st;
    }
  }
  // Flatten into forward batches of at most batch_tokens tokens.
  std::vector<model::BatchToken> batch;
  batch.reserve(opts_.batch_tokens);
  const int32_t nv = n_vocab();
  for (const EvalItem& it : items) {
    const int32_t n = static_cast<int32_t>(it.tokens.size());
    for (int32_t j = 0; j < n; ++j) {
      model::BatchToken bt;
      bt.token = it.tokens[j];
      bt.pos = it.seq->n_past();
      bt.blocks = it.seq->blocks().data();
      if (it.logits && it.all_logits) bt.logits = it.logits + static_cast<size_t>(j) * nv;
      else if (it.logits && j == n - 1) bt.logits = it.logits;
      if (it.embd) bt.embd = it.embd + static_cast<size_t>(j) * hparams().n_embd;
      it.seq->push(bt.token);
      batch.push_back(bt);
      if (static_cast<int32_t>(batch.size()) == opts_.batch_tokens) {
        HANGAR_TRY(backend_->forward(batch));
        batch.clear();
      }
    }
  }
  if (!batch.empty()) HANGAR_TRY(backend_->forward(batch));
  return Status::Ok();
}

int32_t kv_blocks_for(const EngineOptions& opts, int32_t n_ctx_train) {
  const int32_t bt = model::KvCache::kDefaultBlockTokens;
  const int32_t n_ctx = std::min(opts.n_ctx, n_ctx_train);
  return (n_ctx + bt - 1) / bt * opts.n_seq + opts.extra_kv_blocks;
}

MemoryEstimate Engine::memory() const {
  MemoryEstimate m;
  // Host memory only: a GPU backend's KV cache is in device memory, its weights too unless
  // offloaded to (page-locked) host memory.
  m.weights = weights_resident_bytes() + host_tier_bytes();
  m.kv_cache = device() == model::Device::kCpu ? kv_bytes_capacity() : 0;
  m.scratch = scratch_bytes();
  return m;
}

MemoryEstimate estimate_memory(const model::HParams& hp, uint64_t weight_bytes, const EngineOptions& opts) {
  MemoryEstimate m;
  m.weights = weight_bytes;
  m.kv_cache = model::KvCache::bytes_for(hp, kv_blocks_for(opts, hp.n_ctx_train));
  const uint64_t b = static_cast<uint64_t>(opts.batch_tokens);
  const uint64_t floats = b * (2ull * hp.n_embd + 2ull * hp.q_dim() + 2ull * hp.kv_dim() + 2ull * hp.n_ff) +
                          std::min<uint64_t>(b, 16) * (hp.n_embd + hp.n_vocab);
  // Activations quantized to 8 bits for the integer matmuls: about one byte per float input.
  m.scratch = floats * 4 + b * std::max(hp.n_embd, hp.n_ff) * 2;
  return m;
}

std::shared_ptr<const grammar::TokenVocab> Engine::grammar_vocab() const {
  std::call_once(grammar_vocab_once_, [this] { grammar_vocab_ = grammar::TokenVocab::build(*tokenizer_); });
  return grammar_vocab_;
}

}  // namespace hangar::engine
