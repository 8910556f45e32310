// Scheduler: continuous batching of many requests over one Engine, on its own thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/scratch_buffer.h"
#include "engine/engine.h"
#include "engine/generation.h"
#include "engine/kv_store.h"
#include "engine/prefix_cache.h"

namespace hangar::engine {

struct RequestTimings {
  int32_t prompt_tokens = 0;
  int32_t cached_tokens = 0;     // prompt tokens reused from the KV cache (not recomputed)
  int32_t disk_tokens = 0;       // of cached_tokens, those restored from the disk store
  int32_t generated_tokens = 0;
  double queue_ms = 0;           // submitted -> admitted
  double prompt_ms = 0;          // admitted -> first token sampled
  double decode_ms = 0;          // first token -> finished
  double prompt_tps() const { return prompt_ms > 0 ? (prompt_tokens - cached_tokens) * 1e3 / prompt_ms : 0; }
  double decode_tps() const {
    return decode_ms > 0 && generated_tokens > 1 ? (generated_tokens - 1) * 1e3 / decode_ms : 0;
  }
};

struct RequestResult {
  FinishReason reason = FinishReason::kNone;
  std::string error;             // set when reason == kError
  RequestTimings timings;
  // Embedding requests (params.pooling), finished with kStop: the pooled hidden state
  // (n_embd floats, not normalised).
  std::vector<float> embedding;
};

struct Request {
  std::vector<TokenId> prompt;   // must be non-empty
  GenerationParams params;       // params.pooling set: an embedding request (no on_token calls)
  // Both run on the scheduler thread and must not block for long. on_token returns false when
  // the consumer is gone (client disconnected): the request is then cancelled.
  std::function<bool(const StepOutput&)> on_token;
  std::function<void(const RequestResult&)> on_done;
};

// Cancels a submitted request from any thread.
class RequestHandle {
 public:
  void cancel() { cancelled_.store(true); }
  bool cancelled() const { return cancelled_.load(); }

 private:
  std::atomic<bool> cancelled_{false};
};

struct SchedulerStats {
  int32_t running = 0, queued = 0;
  int64_t completed = 0, reused_prompt_tokens = 0, computed_prompt_tokens = 0;
  int64_t trimmed_prefixes = 0;  // finished sequences dropped by trim_prefixes
  uint64_t trimmed_bytes = 0;    // KV memory returned to the system by trim_prefixes
  int64_t disk_prompt_tokens = 0;  // of reused_prompt_tokens, restored from the disk store
  // KV blocks held now (running sequences and prefixes kept for reuse), as of the last pass:
  // the KV cache itself belongs to the scheduler thread.
  uint64_t kv_used_bytes = 0;
};

// Where a scheduler's prefixes outlive it: the disk store (null: nothing is saved or restored)
// and the identity of the model file, which the saved files are keyed by. The store must
// outlive the scheduler.
struct KvPersistence {
  KvStore* store = nullptr;
  KvModelIdentity model;
};

// One thread owns the engine. Each iteration it admits queued requests into free slots (FIFO, up
// to the engine's n_seq), reuses the longest cached prefix of each new prompt, and runs one
// forward pass holding the decode token of every running request plus prefill chunks of new
// ones, up to batch_tokens, so a long new prompt never stalls running streams for its length.
// submit() and stats() are thread-safe.
class Scheduler {
 public:
  // Prompt tokens per pass for a scored prompt (params.prompt_logprobs): each keeps a row of
  // n_vocab logits.
  static constexpr int32_t kScoredChunk = 16;

  // `clock` (null: the steady clock) times how long finished sequences' prefixes sit unused.
  // With a store, a new prompt that extends a saved prefix longer than any in memory starts
  // from the saved blocks, and prefixes are saved before they are freed: by the destructor
  // (most valuable first) and by trim_prefixes.
  explicit Scheduler(Engine& engine, const Clock* clock = nullptr, KvPersistence persistence = {});
  // Bytes of the logits rows a scheduler keeps for sampling (one per sequence), for estimates.
  static uint64_t logits_bytes(int32_t n_vocab, int32_t n_seq) {
    return static_cast<uint64_t>(n_vocab) * static_cast<uint64_t>(n_seq) * sizeof(float);
  }
  // Cancels everything still queued or running (on_done with kCancelled), then saves the
  // prefixes when there is a store.
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a request. Errors (reported through on_done, never thrown): empty prompt, prompt
  // longer than the context.
  std::shared_ptr<RequestHandle> submit(Request request);
  SchedulerStats stats() const;
  // Releases the KV blocks of finished sequences whose prefix no prompt used for
  // `unused_for_ms`, and returns the memory of every free block to the system; returns those
  // bytes. Runs on the scheduler thread between passes: waits for the current pass to end,
  // never for queued requests. 0 once the scheduler is stopping.
  uint64_t trim_prefixes(int64_t unused_for_ms);
  // Blocks until no request is queued or running (tests, shutdown).
  void wait_idle();
  // GPU tiers, run on the scheduler thread between passes. offload_engine() drops every kept
  // prefix (saved to the store first, as at an unload) and moves the engine's weights to host
  // memory (Engine::offload): an error while a request is queued or running. reload_engine()
  // copies them back (Engine::reload). Errors too once the scheduler is stopping.
  Status offload_engine();
  Status reload_engine();

 private:
  struct Active;
  void loop();
  void run_trim_locked(std::unique_lock<std::mutex>& lock);
  void admit_locked(std::vector<std::unique_ptr<Active>>& admitted);
  // One forward pass: the decode token of every running request, then prefill chunks, up to
  // batch_tokens; items[i] belongs to owners[i].
  struct Batch {
    std::vector<EvalItem> items;
    std::vector<Active*> owners;
    int32_t blocks_needed = 0;  // KV blocks the pass allocates (new and copied-on-write)
  };
  void step();
  void plan_batch(Batch& b);
  // Points each item at the rows its logits go to: every position of a scored prompt chunk,
  // else the last position of an item that samples a token.
  void assign_logits(Batch& b);
  // Scores prompt chunks, samples tokens and hands them to the requests' callbacks.
  void deliver(const Batch& b);
  // Finishes and removes the running requests for which reason_of returns a reason.
  void retire_if(const std::function<std::optional<FinishReason>(const Active&)>& reason_of,
                 const std::string& error = "");
  void finish(Active& a, FinishReason reason, const std::string& error = "");
  bool ensure_free_blocks(int32_t n);
  // Starts `a` from the disk store's longest prefix of its prompt when that beats the memory's.
  void restore_from_disk(Active& a, int32_t max_reuse);
  void save_to_disk(const std::vector<const Sequence*>& seqs);
  // The running sequences, whose cached tokens a new prompt may share.
  std::vector<const Sequence*> live_sequences() const;
  // Appends the log-probabilities of the prompt tokens that the chunk's n positions predict.
  void score_prompt_chunk(Active& a, const float* logits, int32_t n);
  // Adds a chunk's n hidden states (n_embd floats each) to an embedding request's pooling.
  void pool_chunk(Active& a, const float* embd, int32_t n);

  Engine& engine_;
  SteadyClock steady_clock_;
  const Clock& clock_;
  const KvPersistence persist_;
  const std::string kv_layout_;
  PrefixCache prefix_cache_;
  mutable std::mutex mutex_;
  std::condition_variable cv_, idle_cv_;
  std::deque<std::unique_ptr<Active>> queue_;
  std::vector<std::unique_ptr<Active>> running_;
  ScratchBuffer<float> logits_;  // a row per sequence, written by the forward pass before it is read
  std::vector<float> prompt_logits_;  // every position of prompt chunks that are being scored
  std::vector<float> embd_;           // hidden states of embedding requests' chunks in a pass
  bool stop_ = false;
  // trim_prefixes' hand-off: a pending age (-1: none) and a count of trims done.
  int64_t trim_unused_for_ms_ = -1;
  int64_t trims_done_ = 0;
  uint64_t last_trim_bytes_ = 0;
  std::condition_variable trim_cv_;
  // run_on_thread's hand-off: the pending task (null: none), whether it is running, and a count
  // of tasks done with the last one's result.
  Status run_on_thread(const std::function<Status()>& task);
  void run_task_locked(std::unique_lock<std::mutex>& lock);
  const std::function<Status()>* task_ = nullptr;
  bool task_running_ = false;
  int64_t tasks_done_ = 0;
  Status task_result_ = Status::Ok();
  std::condition_variable task_cv_;
  SchedulerStats stats_;
  std::thread thread_;
};

}  // namespace hangar::engine
