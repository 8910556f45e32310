// Scheduler: the engine thread's loop of admission, batched evaluation and token delivery.
#include "engine/scheduler.h"

#include <algorithm>
#include <limits>
#include <optional>

#include "base/assert.h"
#include "base/clock.h"
#include "base/log.h"
#include "engine/prompt_check.h"
#include "sampling/logprobs.h"

namespace hangar::engine {

struct Scheduler::Active {
  Request request;
  std::shared_ptr<RequestHandle> handle;
  std::unique_ptr<GenerationState> gen;
  Sequence seq;
  int32_t n_prompt_done = 0;  // prompt tokens whose KV is in the cache
  TokenId next_token = -1;    // sampled, not yet evaluated
  Stopwatch clock;            // since submission
  double admitted_ms = 0, first_token_ms = -1;
  RequestTimings timings;
  std::vector<TokenLogprob> prompt_logprobs;  // when the prompt is scored; sent with the first step
  std::vector<float> pooled;                   // embedding requests: the pooling so far
  bool scores_prompt() const { return request.params.prompt_logprobs >= 0; }
  bool embeds() const { return request.params.pooling != Pooling::kNone; }
  bool prefilling() const { return n_prompt_done < static_cast<int32_t>(request.prompt.size()); }
};

Scheduler::Scheduler(Engine& engine, const Clock* clock, KvPersistence persistence)
    : engine_(engine),
      clock_(clock ? *clock : steady_clock_),
      persist_(std::move(persistence)),
      kv_layout_(engine.kv_layout()),
      prefix_cache_(engine.kv_cache()),
      thread_([this] { loop(); }) {}

Scheduler::~Scheduler() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  trim_cv_.notify_all();
  task_cv_.notify_all();
  thread_.join();
}

std::shared_ptr<RequestHandle> Scheduler::submit(Request request) {
  auto a = std::make_unique<Active>();
  a->handle = std::make_shared<RequestHandle>();
  auto handle = a->handle;
  a->timings.prompt_tokens = static_cast<int32_t>(request.prompt.size());
  std::string error;
  if (auto bad = check_prompt(request.prompt, engine_.n_vocab(), engine_.n_ctx())) error = bad->message;
  else if (auto st = validate_sampling_params(request.params.sampling, engine_.n_vocab()); !st.ok())
    error = st.error().message();
  a->request = std::move(request);
  if (!error.empty()) {
    RequestResult r;
    r.reason = FinishReason::kError;
    r.error = error;
    r.timings = a->timings;
    if (a->request.on_done) a->request.on_done(r);
    return handle;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(std::move(a));
    stats_.queued = static_cast<int32_t>(queue_.size());
  }
  cv_.notify_all();
  return handle;
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void Scheduler::wait_idle() {
  std::unique_lock<std::mutex> lock(mutex_);
  idle_cv_.wait(lock, [&] { return queue_.empty() && stats_.running == 0; });
}

void Scheduler::loop() {
  logits_.resize(static_cast<size_t>(engine_.n_vocab()) * engine_.options().n_seq);
  for (;;) {
    std::vector<std::unique_ptr<Active>> admitted;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      if (queue_.empty() && running_.empty()) idle_cv_.notify_all();
      cv_.wait(lock, [&] {
        return stop_ || !queue_.empty() || !running_.empty() || trim_unused_for_ms_ >= 0 || task_ != nullptr;
      });
      if (stop_) break;
      if (trim_unused_for_ms_ >= 0) run_trim_locked(lock);
      if (task_ != nullptr) run_task_locked(lock);
      admit_locked(admitted);
    }
    for (auto& a : admitted) {
      if (a->handle->cancelled()) {  // cancelled while queued
        finish(*a, FinishReason::kCancelled);
        continue;
      }
      a->admitted_ms = a->clock.elapsed_ms();
      a->timings.queue_ms = a->admitted_ms;
      a->gen = std::make_unique<GenerationState>(engine_.tokenizer(), a->request.params, engine_.n_vocab());
      a->gen->accept_prompt(a->request.prompt);
      // Keep at least the last prompt token to evaluate: its logits start the generation. A
      // scored prompt is computed whole: cached tokens kept no logits.
      // Embeddings pooled over the first or every token need those tokens' hidden states.
      const Pooling pooling = a->request.params.pooling;
      const bool needs_all = a->scores_prompt() || pooling == Pooling::kMean || pooling == Pooling::kCls;
      const int32_t max_reuse = needs_all ? 0 : static_cast<int32_t>(a->request.prompt.size()) - 1;
      a->n_prompt_done = prefix_cache_.reuse(a->request.prompt, max_reuse, live_sequences(), a->seq, clock_.now_ms());
      if (persist_.store && max_reuse > a->n_prompt_done) restore_from_disk(*a, max_reuse);
      a->timings.cached_tokens = a->n_prompt_done;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        stats_.reused_prompt_tokens += a->n_prompt_done;
        stats_.disk_prompt_tokens += a->timings.disk_tokens;
        stats_.computed_prompt_tokens += static_cast<int64_t>(a->request.prompt.size()) - a->n_prompt_done;
      }
      running_.push_back(std::move(a));
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stats_.running = static_cast<int32_t>(running_.size());
    }
    step();
  }
  // Shutdown: everything still known is cancelled.
  std::deque<std::unique_ptr<Active>> queued;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queued.swap(queue_);
  }
  for (auto& a : queued) finish(*a, FinishReason::kCancelled);
  for (auto& a : running_) finish(*a, FinishReason::kCancelled);
  running_.clear();
  save_to_disk(prefix_cache_.by_value());
  prefix_cache_.clear();
}

uint64_t Scheduler::trim_prefixes(int64_t unused_for_ms) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (stop_) return 0;
  const int64_t ticket = trims_done_ + 1;
  trim_unused_for_ms_ = std::max<int64_t>(unused_for_ms, 0);
  cv_.notify_all();
  trim_cv_.wait(lock, [&] { return stop_ || trims_done_ >= ticket; });
  return trims_done_ >= ticket ? last_trim_bytes_ : 0;
}

void Scheduler::run_trim_locked(std::unique_lock<std::mutex>& lock) {
  const int64_t cutoff = clock_.now_ms() - trim_unused_for_ms_;
  trim_unused_for_ms_ = -1;
  lock.unlock();  // the prefix cache and KV cache belong to this thread
  // What the trim drops goes to disk first (when there is a store), as at an unload.
  if (persist_.store) save_to_disk(prefix_cache_.unused_before(cutoff));
  const int n = prefix_cache_.trim_unused_before(cutoff);
  const uint64_t bytes = engine_.kv_cache().discard_free_blocks();
  const uint64_t kv_used = engine_.kv_cache().used_bytes();
  lock.lock();
  stats_.kv_used_bytes = kv_used;
  stats_.trimmed_prefixes += n;
  stats_.trimmed_bytes += bytes;
  last_trim_bytes_ = bytes;
  ++trims_done_;
  trim_cv_.notify_all();
}

Status Scheduler::run_on_thread(const std::function<Status()>& task) {
  std::unique_lock<std::mutex> lock(mutex_);
  task_cv_.wait(lock, [&] { return stop_ || task_ == nullptr; });
  if (stop_) return Error("the model's scheduler is stopping");
  const int64_t ticket = tasks_done_ + 1;
  task_ = &task;
  cv_.notify_all();
  // Once it runs, `task` (on this stack) is used until it is done, stopping or not.
  task_cv_.wait(lock, [&] { return tasks_done_ >= ticket || (stop_ && !task_running_); });
  if (tasks_done_ < ticket) {
    task_ = nullptr;
    return Error("the model's scheduler is stopping");
  }
  return task_result_;
}

void Scheduler::run_task_locked(std::unique_lock<std::mutex>& lock) {
  const std::function<Status()>& task = *task_;
  task_running_ = true;
  lock.unlock();  // the engine belongs to this thread
  Status st = task();
  lock.lock();
  task_running_ = false;
  task_ = nullptr;
  task_result_ = std::move(st);
  ++tasks_done_;
  task_cv_.notify_all();
}

Status Scheduler::offload_engine() {
  return run_on_thread([this]() -> Status {
    if (engine_.device() == model::Device::kCpu) return engine_.offload();  // no tier: an error, nothing dropped
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!queue_.empty() || !running_.empty())
        return Error("cannot move the model off the GPU while it has requests (" + std::to_string(queue_.size()) +
                     " queued, " + std::to_string(running_.size()) + " running)");
    }
    // Every kept prefix goes (to disk first, as at an unload): the KV cache's contents do not
    // survive the move.
    const int64_t all = std::numeric_limits<int64_t>::max();
    if (persist_.store) save_to_disk(prefix_cache_.unused_before(all));
    prefix_cache_.trim_unused_before(all);
    return engine_.offload();
  });
}

Status Scheduler::reload_engine() {
  return run_on_thread([this] { return engine_.reload(); });
}

void Scheduler::restore_from_disk(Active& a, int32_t max_reuse) {
  const KvMatch match = persist_.store->find(persist_.model, kv_layout_, a.request.prompt, max_reuse);
  if (match.n_tokens <= a.n_prompt_done) return;
  model::KvCache& kv = engine_.kv_cache();
  const int32_t bt = kv.block_tokens();
  // The shorter prefix from memory gives way; its blocks stay with the prefix cache.
  a.seq.release(kv);
  Sequence restored;
  Status st = ensure_free_blocks((match.n_tokens + bt - 1) / bt)
                  ? persist_.store->restore(match, persist_.model, kv_layout_, kv, restored)
                  : Status(Error("no room in the KV cache for " + std::to_string(match.n_tokens) + " tokens"));
  if (!st.ok()) {
    log_warn("scheduler: prefix not restored from disk, computing it: " + st.error().message());
    a.n_prompt_done = prefix_cache_.reuse(a.request.prompt, max_reuse, live_sequences(), a.seq, clock_.now_ms());
    return;
  }
  a.seq = std::move(restored);
  a.n_prompt_done = match.n_tokens;
  a.timings.disk_tokens = match.n_tokens;
}

std::vector<const Sequence*> Scheduler::live_sequences() const {
  std::vector<const Sequence*> live;
  for (const auto& r : running_) live.push_back(&r->seq);
  return live;
}

void Scheduler::save_to_disk(const std::vector<const Sequence*>& seqs) {
  if (!persist_.store || seqs.empty()) return;
  Stopwatch watch;
  const int n = persist_.store->save(persist_.model, kv_layout_, seqs, engine_.kv_cache());
  log_debug("scheduler: saved " + std::to_string(n) + " of " + std::to_string(seqs.size()) + " prefixes of '" +
            persist_.model.path + "' to the KV store in " + std::to_string(static_cast<int64_t>(watch.elapsed_ms())) +
            " ms");
}

void Scheduler::admit_locked(std::vector<std::unique_ptr<Active>>& admitted) {
  const size_t slots = static_cast<size_t>(engine_.options().n_seq);
  while (!queue_.empty() && running_.size() + admitted.size() < slots) {
    admitted.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  stats_.queued = static_cast<int32_t>(queue_.size());
  stats_.running = static_cast<int32_t>(running_.size() + admitted.size());
}

bool Scheduler::ensure_free_blocks(int32_t n) {
  model::KvCache& kv = engine_.kv_cache();
  while (kv.n_free_blocks() < n)
    if (!prefix_cache_.evict_one()) return false;
  return true;
}

void Scheduler::finish(Active& a, FinishReason reason, const std::string& error) {
  if (a.gen && !a.gen->finished()) a.gen->cancel();
  RequestResult r;
  r.reason = reason;
  r.error = error;
  // A generation that failed by itself (its grammar allowed no token) says why.
  if (r.error.empty() && reason == FinishReason::kError && a.gen) r.error = a.gen->error();
  r.timings = a.timings;
  r.timings.generated_tokens = a.gen && !a.embeds() ? a.gen->n_generated() : 0;
  if (a.embeds() && reason == FinishReason::kStop) {
    const int32_t n_embd = engine_.hparams().n_embd;
    if (a.request.params.pooling == Pooling::kMean)
      for (float& v : a.pooled) v /= static_cast<float>(a.request.prompt.size());
    a.pooled.resize(static_cast<size_t>(n_embd));
    r.embedding = std::move(a.pooled);
  }
  const double now = a.clock.elapsed_ms();
  if (a.first_token_ms >= 0) {
    r.timings.prompt_ms = a.first_token_ms - a.admitted_ms;
    r.timings.decode_ms = now - a.first_token_ms;
  } else if (a.admitted_ms > 0) {
    r.timings.prompt_ms = now - a.admitted_ms;
  }
  if (a.request.on_done) a.request.on_done(r);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++stats_.completed;
  }
  // The sequence's cache stays available for later prompts that share its prefix.
  if (a.seq.n_past() > 0) prefix_cache_.put(std::move(a.seq), clock_.now_ms());
}

void Scheduler::score_prompt_chunk(Active& a, const float* logits, int32_t n) {
  const int32_t n_vocab = engine_.n_vocab(), k = a.request.params.prompt_logprobs;
  const auto& prompt = a.request.prompt;
  for (int32_t j = 0; j < n; ++j) {
    const size_t next = static_cast<size_t>(a.n_prompt_done + j + 1);  // the token this position predicts
    if (next >= prompt.size()) break;
    const float* row = logits + static_cast<size_t>(j) * n_vocab;
    TokenLogprob lp;
    lp.token = prompt[next];
    lp.logprob = token_logprob(row, n_vocab, lp.token);
    if (k > 0) lp.top = top_logprobs(row, n_vocab, k);
    a.prompt_logprobs.push_back(std::move(lp));
  }
}

void Scheduler::pool_chunk(Active& a, const float* embd, int32_t n) {
  const size_t d = static_cast<size_t>(engine_.hparams().n_embd);
  if (a.pooled.empty()) a.pooled.assign(d, 0.0f);
  const bool chunk_ends_prompt = a.n_prompt_done + n == static_cast<int32_t>(a.request.prompt.size());
  switch (a.request.params.pooling) {
    case Pooling::kMean:
      for (int32_t j = 0; j < n; ++j)
        for (size_t c = 0; c < d; ++c) a.pooled[c] += embd[static_cast<size_t>(j) * d + c];
      break;
    case Pooling::kCls:
      if (a.n_prompt_done == 0) std::copy(embd, embd + d, a.pooled.begin());
      break;
    case Pooling::kLast:
      if (chunk_ends_prompt) std::copy(embd + static_cast<size_t>(n - 1) * d, embd + static_cast<size_t>(n) * d, a.pooled.begin());
      break;
    case Pooling::kNone: HANGAR_ASSERT(false);
  }
}

void Scheduler::retire_if(const std::function<std::optional<FinishReason>(const Active&)>& reason_of,
                          const std::string& error) {
  for (auto it = running_.begin(); it != running_.end();) {
    if (std::optional<FinishReason> reason = reason_of(**it)) {
      finish(**it, *reason, error);
      it = running_.erase(it);
    } else {
      ++it;
    }
  }
}

void Scheduler::plan_batch(Batch& b) {
  const int32_t budget = engine_.options().batch_tokens;
  model::KvCache& kv = engine_.kv_cache();
  int32_t used = 0;
  auto add = [&](Active* a, std::span<const TokenId> tokens) {
    b.items.push_back({&a->seq, tokens, nullptr});
    b.owners.push_back(a);
    used += static_cast<int32_t>(tokens.size());
    b.blocks_needed += a->seq.blocks_to_append(kv, static_cast<int32_t>(tokens.size()));
  };
  // Decode tokens first: running streams never wait behind a long prompt.
  for (auto& a : running_)
    if (!a->prefilling() && used < budget) add(a.get(), {&a->next_token, 1});
  for (auto& a : running_) {
    if (!a->prefilling() || used >= budget) continue;
    const int32_t remaining = static_cast<int32_t>(a->request.prompt.size()) - a->n_prompt_done;
    // A scored prompt goes in small chunks: each of its positions keeps n_vocab logits.
    const int32_t n = std::min({remaining, budget - used, a->scores_prompt() ? kScoredChunk : remaining});
    add(a.get(), {a->request.prompt.data() + a->n_prompt_done, static_cast<size_t>(n)});
  }
}

void Scheduler::assign_logits(Batch& b) {
  const size_t n_vocab = static_cast<size_t>(engine_.n_vocab());
  const size_t n_embd = static_cast<size_t>(engine_.hparams().n_embd);
  size_t embd_rows = 0;
  for (size_t i = 0; i < b.items.size(); ++i)
    if (b.owners[i]->embeds()) embd_rows += b.items[i].tokens.size();
  if (embd_.size() < embd_rows * n_embd) embd_.resize(embd_rows * n_embd);
  embd_rows = 0;
  size_t scored_rows = 0;
  for (size_t i = 0; i < b.items.size(); ++i)
    if (b.owners[i]->prefilling() && b.owners[i]->scores_prompt()) scored_rows += b.items[i].tokens.size();
  if (prompt_logits_.size() < scored_rows * n_vocab) prompt_logits_.resize(scored_rows * n_vocab);
  scored_rows = 0;
  for (size_t i = 0; i < b.items.size(); ++i) {
    Active* a = b.owners[i];
    EvalItem& item = b.items[i];
    if (a->embeds()) {  // hidden states only: no logits (the output matmul is skipped)
      item.embd = &embd_[embd_rows * n_embd];
      embd_rows += item.tokens.size();
    } else if (a->prefilling() && a->scores_prompt()) {  // every position's logits, for the prompt's scores
      item.logits = &prompt_logits_[scored_rows * n_vocab];
      item.all_logits = true;
      scored_rows += item.tokens.size();
    } else if (!a->prefilling() ||
               a->n_prompt_done + static_cast<int32_t>(item.tokens.size()) ==
                   static_cast<int32_t>(a->request.prompt.size())) {
      item.logits = &logits_[i * n_vocab];  // the last position samples the next token
    }
  }
}

void Scheduler::deliver(const Batch& b) {
  const size_t n_vocab = static_cast<size_t>(engine_.n_vocab());
  for (size_t i = 0; i < b.items.size(); ++i) {
    Active* a = b.owners[i];
    const float* logits = b.items[i].logits;
    if (a->prefilling()) {
      const int32_t n = static_cast<int32_t>(b.items[i].tokens.size());
      if (a->embeds()) {
        pool_chunk(*a, b.items[i].embd, n);
        a->n_prompt_done += n;
        continue;  // done when its prompt is (retired after delivery)
      }
      if (b.items[i].all_logits) {
        score_prompt_chunk(*a, logits, n);
        logits += static_cast<size_t>(n - 1) * n_vocab;  // the chunk's last position
      }
      a->n_prompt_done += n;
      if (a->prefilling()) continue;
    }
    if (!logits) continue;
    StepOutput out;
    {
      ProfileScope scope(engine_.profiler(), "sampling");
      out = a->gen->step(logits, engine_.n_ctx() - a->seq.n_past());
    }
    if (a->scores_prompt() && a->first_token_ms < 0) out.prompt_logprobs = std::move(a->prompt_logprobs);
    if (a->first_token_ms < 0) a->first_token_ms = a->clock.elapsed_ms();
    a->next_token = out.token;
    const bool keep = a->request.on_token ? a->request.on_token(out) : true;
    if (!keep) a->handle->cancel();
    else if (out.finished) a->timings.generated_tokens = a->gen->n_generated();
  }
}

void Scheduler::step() {
  // Drop cancelled requests first so their slots and blocks are free for this pass.
  retire_if([](const Active& a) {
    return a.handle->cancelled() ? std::optional(FinishReason::kCancelled) : std::nullopt;
  });
  Batch batch;
  plan_batch(batch);
  if (batch.items.empty()) return;
  assign_logits(batch);
  ensure_free_blocks(batch.blocks_needed);
  if (Status st = engine_.eval(batch.items); !st.ok()) {
    // A whole-batch problem (the cache is exhausted): fail the requests of this pass.
    log_warn("scheduler: evaluation failed: " + st.error().message());
    retire_if(
        [&](const Active& a) {
          const bool in_pass = std::find(batch.owners.begin(), batch.owners.end(), &a) != batch.owners.end();
          return in_pass || a.handle->cancelled() ? std::optional(FinishReason::kError) : std::nullopt;
        },
        st.error().message());
  } else {
    deliver(batch);
    retire_if([](const Active& a) -> std::optional<FinishReason> {
      if (a.embeds() && !a.prefilling()) return FinishReason::kStop;
      if (a.gen->finished()) return a.gen->reason();
      if (a.handle->cancelled()) return FinishReason::kCancelled;
      return std::nullopt;
    });
  }
  const uint64_t kv_used = engine_.kv_cache().used_bytes();
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.running = static_cast<int32_t>(running_.size());
  stats_.kv_used_bytes = kv_used;
  if (running_.empty() && queue_.empty()) idle_cv_.notify_all();
}

}  // namespace hangar::engine
