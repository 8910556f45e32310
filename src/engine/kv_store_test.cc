// KvStore over a real directory and real KV caches: round trip across a reopen, partial
// prefixes, identity rules, damaged files deleted, the budget, and a real model's output with a
// restored prefix bit-identical to the output computed without it.
#include "engine/kv_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <bit>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>

#include "engine/scheduler.h"

namespace hangar::engine {
namespace {

namespace fs = std::filesystem;

model::HParams small_hparams() {
  model::HParams hp;
  hp.n_layer = 2;
  hp.n_head_kv = 2;
  hp.head_dim = 4;
  return hp;
}

// The value a test writes at (layer, position, element, K or V) of a conversation `salt`.
uint16_t value_at(int32_t l, int32_t pos, int32_t j, int kv, int salt) {
  return static_cast<uint16_t>(salt * 7919 + l * 4001 + pos * 17 + j * 3 + kv);
}

// A sequence of `n` tokens whose keys and values are value_at(...).
Sequence make_sequence(model::KvCache& kv, int32_t n, int salt) {
  Sequence s;
  EXPECT_TRUE(s.reserve(kv, n).ok());
  for (int32_t p = 0; p < n; ++p) {
    const int32_t b = s.blocks()[p / kv.block_tokens()], slot = p % kv.block_tokens();
    for (int32_t l = 0; l < 2; ++l)
      for (int32_t j = 0; j < kv.kv_dim(); ++j) {
        kv.k(l, b, slot)[j] = value_at(l, p, j, 0, salt);
        kv.v(l, b, slot)[j] = value_at(l, p, j, 1, salt);
      }
    s.push(salt * 1000 + p);
  }
  return s;
}

// Whether `s`'s first n positions in `kv` hold conversation `salt`'s values.
bool holds(model::KvCache& kv, const Sequence& s, int32_t n, int salt) {
  for (int32_t p = 0; p < n; ++p) {
    const int32_t b = s.blocks()[p / kv.block_tokens()], slot = p % kv.block_tokens();
    for (int32_t l = 0; l < 2; ++l)
      for (int32_t j = 0; j < kv.kv_dim(); ++j)
        if (kv.k(l, b, slot)[j] != value_at(l, p, j, 0, salt) || kv.v(l, b, slot)[j] != value_at(l, p, j, 1, salt))
          return false;
  }
  return true;
}

std::vector<TokenId> prompt_of(int salt, int32_t n, int32_t extra) {
  std::vector<TokenId> p;
  for (int32_t i = 0; i < n; ++i) p.push_back(salt * 1000 + i);
  for (int32_t i = 0; i < extra; ++i) p.push_back(7);
  return p;
}

class KvStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kv_store_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::unique_ptr<KvStore> open(uint64_t budget = 1 << 30) {
    auto s = KvStore::open({dir_.string(), budget, 32});
    EXPECT_TRUE(s.ok());
    return s.ok() ? std::move(*s) : nullptr;
  }
  int files() const {
    int n = 0;
    for (const auto& e : fs::directory_iterator(dir_)) n += e.is_regular_file();
    return n;
  }
  std::string file_of(int salt, int32_t n) const {
    return (dir_ / KvStore::file_name(model_, kLayout, prompt_of(salt, n, 0))).string();
  }

  static constexpr const char* kLayout = "arch=test";
  fs::path dir_;
  model::HParams hp_ = small_hparams();
  model::KvCache kv_{hp_, 64, 32};
  KvModelIdentity model_{"/models/a.gguf", "", 1000, 42};
};

TEST_F(KvStoreTest, SavedPrefixIsRestoredBitForBitAfterReopen) {
  Sequence s = make_sequence(kv_, 70, 1);
  const Sequence* seqs[] = {&s};
  EXPECT_EQ(open()->save(model_, kLayout, seqs, kv_), 1);
  s.release(kv_);

  auto store = open();  // a restart: the index comes from the directory
  EXPECT_EQ(store->stats().files, 1);
  const std::vector<TokenId> prompt = prompt_of(1, 70, 5);
  KvMatch m = store->find(model_, kLayout, prompt, static_cast<int32_t>(prompt.size()) - 1);
  ASSERT_EQ(m.n_tokens, 70);
  model::KvCache other(hp_, 16, 32);
  Sequence out;
  Status st = store->restore(m, model_, kLayout, other, out);
  ASSERT_TRUE(st.ok()) << st.error().message();
  EXPECT_EQ(out.tokens(), prompt_of(1, 70, 0));
  EXPECT_TRUE(holds(other, out, 70, 1));
  EXPECT_EQ(other.n_used_blocks(), 3);
  EXPECT_EQ(store->stats().restores, 1);
  EXPECT_EQ(store->stats().restored_tokens, 70);
  out.release(other);
}

TEST_F(KvStoreTest, APromptSharingPartOfAPrefixRestoresThatPart) {
  Sequence s = make_sequence(kv_, 70, 1);
  const Sequence* seqs[] = {&s};
  auto store = open();
  store->save(model_, kLayout, seqs, kv_);
  std::vector<TokenId> prompt = prompt_of(1, 40, 30);  // diverges at 40
  KvMatch m = store->find(model_, kLayout, prompt, 100);
  ASSERT_EQ(m.n_tokens, 40);
  EXPECT_EQ(store->find(model_, kLayout, prompt, 35).n_tokens, 35) << "max_len caps it";
  EXPECT_EQ(store->find(model_, kLayout, prompt_of(1, 20, 30), 100).n_tokens, 0) << "below min_tokens";
  EXPECT_EQ(store->find(model_, "arch=other", prompt, 100).n_tokens, 0) << "another KV layout";
  model::KvCache other(hp_, 16, 32);
  Sequence out;
  ASSERT_TRUE(store->restore(m, model_, kLayout, other, out).ok());
  EXPECT_EQ(out.n_past(), 40);
  EXPECT_TRUE(holds(other, out, 40, 1));
  out.release(other);
  s.release(kv_);
}

TEST_F(KvStoreTest, StaleFileOfAChangedModelIsDeletedOtherModelsKept) {
  Sequence s = make_sequence(kv_, 64, 1);
  const Sequence* seqs[] = {&s};
  auto store = open();
  store->save(model_, kLayout, seqs, kv_);
  const std::vector<TokenId> prompt = prompt_of(1, 64, 1);
  EXPECT_EQ(store->find({"/models/b.gguf", "", 1000, 42}, kLayout, prompt, 64).n_tokens, 0);
  EXPECT_EQ(files(), 1) << "another model's file stays";
  EXPECT_EQ(store->find({"/models/a.gguf", "", 1000, 43}, kLayout, prompt, 64).n_tokens, 0);
  EXPECT_EQ(files(), 0) << "the model file changed: its prefix is stale";
  EXPECT_EQ(store->stats().rejected, 1);
  s.release(kv_);
}

TEST_F(KvStoreTest, DigestIdentityFollowsACopyOfTheModel) {
  model_.sha256 = "abcd";
  Sequence s = make_sequence(kv_, 64, 1);
  const Sequence* seqs[] = {&s};
  auto store = open();
  store->save(model_, kLayout, seqs, kv_);
  KvModelIdentity copy{"/elsewhere/a.gguf", "abcd", 1000, 99};
  EXPECT_EQ(store->find(copy, kLayout, prompt_of(1, 64, 1), 64).n_tokens, 64);
  copy.sha256 = "ef01";
  EXPECT_EQ(store->find(copy, kLayout, prompt_of(1, 64, 1), 64).n_tokens, 0);
  s.release(kv_);
}

TEST_F(KvStoreTest, CorruptBlockIsDeletedAtRestoreAndNothingIsHeld) {
  Sequence s = make_sequence(kv_, 70, 1);
  const Sequence* seqs[] = {&s};
  auto store = open();
  store->save(model_, kLayout, seqs, kv_);
  {
    std::fstream f(file_of(1, 70), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-10, std::ios::end);
    f.put('\x7f');
  }
  model::KvCache other(hp_, 16, 32);
  Sequence out;
  KvMatch m = store->find(model_, kLayout, prompt_of(1, 70, 1), 70);
  ASSERT_EQ(m.n_tokens, 70);
  Status st = store->restore(m, model_, kLayout, other, out);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("checksum mismatch in block 2"), std::string::npos) << st.error().message();
  EXPECT_EQ(out.n_past(), 0);
  EXPECT_EQ(other.n_used_blocks(), 0);
  EXPECT_EQ(files(), 0);
  EXPECT_EQ(store->stats().rejected, 1);
  EXPECT_EQ(store->find(model_, kLayout, prompt_of(1, 70, 1), 70).n_tokens, 0);
  s.release(kv_);
}

TEST_F(KvStoreTest, TruncatedForeignAndMisnamedFilesAreDeletedAtOpen) {
  Sequence a = make_sequence(kv_, 64, 1), b = make_sequence(kv_, 64, 2), c = make_sequence(kv_, 64, 3);
  const Sequence* seqs[] = {&a, &b, &c};
  open()->save(model_, kLayout, seqs, kv_);
  ASSERT_EQ(files(), 3);
  fs::resize_file(file_of(1, 64), fs::file_size(file_of(1, 64)) - 100);         // truncated
  fs::rename(file_of(2, 64), dir_ / "0123456789abcdef.kv");                      // misnamed
  { std::ofstream(dir_ / "fedcba9876543210.kv") << "not a KV file, but a .kv name"; }  // foreign
  { std::ofstream(dir_ / "1111111111111111.kv.1.2.tmp") << "a save cut short"; }
  { std::ofstream(dir_ / "README") << "not ours: left alone"; }
  auto store = open();
  EXPECT_EQ(store->stats().rejected, 3);
  EXPECT_EQ(store->stats().files, 1);
  EXPECT_EQ(files(), 2);
  EXPECT_TRUE(fs::exists(file_of(3, 64)));
  EXPECT_TRUE(fs::exists(dir_ / "README"));
  a.release(kv_), b.release(kv_), c.release(kv_);
}

TEST_F(KvStoreTest, BudgetKeepsTheMostRecentlyUsedFiles) {
  Sequence a = make_sequence(kv_, 64, 1), b = make_sequence(kv_, 64, 2), c = make_sequence(kv_, 64, 3);
  const Sequence* sa[] = {&a};
  const Sequence* sb[] = {&b};
  const Sequence* sc[] = {&c};
  // Room for two files of 64 tokens (2 layers x K,V x 64 x 8 x 2 bytes + header) but not three.
  const uint64_t one = 2 * 2 * 64 * 8 * 2 + 1024;
  auto store = open(2 * one + 100);
  store->save(model_, kLayout, sa, kv_);
  store->save(model_, kLayout, sb, kv_);
  model::KvCache other(hp_, 16, 32);
  Sequence out;
  ASSERT_TRUE(store->restore(store->find(model_, kLayout, prompt_of(1, 64, 1), 64), model_, kLayout, other, out).ok());
  out.release(other);
  store->save(model_, kLayout, sc, kv_);  // a (just used) and c stay, b goes
  EXPECT_TRUE(fs::exists(file_of(1, 64)));
  EXPECT_FALSE(fs::exists(file_of(2, 64)));
  EXPECT_TRUE(fs::exists(file_of(3, 64)));
  EXPECT_EQ(store->stats().evicted, 1);
  uint64_t on_disk = 0;
  for (const auto& e : fs::directory_iterator(dir_)) on_disk += e.file_size();
  EXPECT_LE(on_disk, 2 * one + 100);
  EXPECT_EQ(on_disk, store->stats().bytes);
  // The order survives a reopen (file times), and a smaller budget applies at once.
  auto smaller = open(one);
  EXPECT_EQ(smaller->stats().files, 1);
  EXPECT_TRUE(fs::exists(file_of(3, 64)));
  a.release(kv_), b.release(kv_), c.release(kv_);
}

TEST_F(KvStoreTest, ALongerConversationReplacesItsSavedPrefix) {
  Sequence shorter = make_sequence(kv_, 40, 1), longer = make_sequence(kv_, 70, 1), tiny = make_sequence(kv_, 10, 2);
  const Sequence* s1[] = {&shorter};
  const Sequence* s2[] = {&longer};
  const Sequence* s3[] = {&shorter, &tiny};
  auto store = open();
  EXPECT_EQ(store->save(model_, kLayout, s1, kv_), 1);
  EXPECT_EQ(store->save(model_, kLayout, s2, kv_), 1);
  EXPECT_EQ(files(), 1);
  EXPECT_TRUE(fs::exists(file_of(1, 70)));
  EXPECT_EQ(store->save(model_, kLayout, s3, kv_), 0) << "a saved prefix, and one below min_tokens";
  EXPECT_EQ(files(), 1);
  shorter.release(kv_), longer.release(kv_), tiny.release(kv_);
}

// --- Through the scheduler, with a real model -------------------------------------------------

const std::string kModel = std::string(HANGAR_SHARED_DIR) + "/models/llama-spm-d256-q4_k_m.gguf";

struct Outcome {
  std::vector<TokenId> tokens;
  std::vector<float> logprobs;
  RequestTimings timings;
};

Outcome run(Scheduler& sched, std::vector<TokenId> prompt, int max_tokens) {
  auto result = std::make_shared<Outcome>();
  auto done = std::make_shared<std::promise<void>>();
  Request r;
  r.prompt = std::move(prompt);
  r.params.max_tokens = max_tokens;
  r.params.sampling.temperature = 0;
  r.params.top_logprobs = 2;
  r.on_token = [result](const StepOutput& out) {
    if (out.token >= 0) result->tokens.push_back(out.token);
    if (out.logprob) {
      result->logprobs.push_back(out.logprob->logprob);
      for (const auto& [t, lp] : out.logprob->top) result->logprobs.push_back(lp);
    }
    return true;
  };
  r.on_done = [result, done](const RequestResult& res) {
    result->timings = res.timings;
    done->set_value();
  };
  auto f = done->get_future();
  sched.submit(std::move(r));
  f.wait();
  return *result;
}

// A real model with room for one sequence of 512 positions, prefilled 64 tokens at a time.
std::unique_ptr<Engine> load_engine(ThreadPool& pool) {
  EngineOptions eo;
  eo.n_ctx = 512;
  eo.n_seq = 1;
  eo.batch_tokens = 64;
  auto loaded = Engine::load(kModel, eo, pool);
  EXPECT_TRUE(loaded.ok()) << loaded.error().message();
  return loaded.ok() ? std::move(*loaded) : nullptr;
}

// A prompt of n tokens (first + (i * step) % 800), and a next turn that extends it by `extra`.
struct Conversation {
  std::vector<TokenId> prefix, turn;
};
Conversation conversation(int32_t n, TokenId first, int32_t step, int32_t extra) {
  Conversation c;
  for (int32_t i = 0; i < n; ++i) c.prefix.push_back(first + (i * step) % 800);
  c.turn = c.prefix;
  for (int32_t i = 0; i < extra; ++i) c.turn.push_back(50 + i * 11);
  return c;
}

const KvModelIdentity kModelId{kModel, "", 1, 2};

TEST_F(KvStoreTest, RestoredPrefixGivesTheSameTokensAndLogprobsAsComputingIt) {
  ThreadPool pool(2);
  std::unique_ptr<Engine> engine = load_engine(pool);
  ASSERT_NE(engine, nullptr);
  // A prefix of two whole prefill chunks, then a new turn: computed in the same chunks either way.
  const Conversation c = conversation(128, 100, 37, 20);

  Outcome cold;
  {
    Scheduler sched(*engine);
    cold = run(sched, c.turn, 12);
  }
  EXPECT_EQ(cold.timings.cached_tokens, 0);
  auto store = open();
  {
    Scheduler sched(*engine, nullptr, {store.get(), kModelId});
    run(sched, c.prefix, 1);
  }  // the model goes: its prefix is saved
  EXPECT_EQ(store->stats().saves, 1);
  Outcome restored;
  {
    Scheduler sched(*engine, nullptr, {store.get(), kModelId});  // a fresh KV cache: nothing in memory
    restored = run(sched, c.turn, 12);
    EXPECT_EQ(sched.stats().disk_prompt_tokens, 128);
  }
  EXPECT_EQ(restored.timings.cached_tokens, 128);
  EXPECT_EQ(restored.timings.disk_tokens, 128);
  EXPECT_EQ(restored.tokens, cold.tokens);
  ASSERT_EQ(restored.logprobs.size(), cold.logprobs.size());
  for (size_t i = 0; i < cold.logprobs.size(); ++i)
    EXPECT_EQ(std::bit_cast<uint32_t>(restored.logprobs[i]), std::bit_cast<uint32_t>(cold.logprobs[i])) << i;
}

class StepClock final : public Clock {
 public:
  int64_t now_ms() const override { return now.load(); }
  std::atomic<int64_t> now{1000};
};

// The idle trim frees a finished sequence's blocks; with a store it saves them first, so the
// conversation comes back from disk rather than being computed again.
TEST_F(KvStoreTest, TrimSavesWhatItDropsAndAKeptPrefixIsNotSaved) {
  ThreadPool pool(2);
  std::unique_ptr<Engine> engine = load_engine(pool);
  ASSERT_NE(engine, nullptr);
  const Conversation c = conversation(96, 200, 53, 10);
  auto store = open();
  StepClock clock;
  Scheduler sched(*engine, &clock, {store.get(), kModelId});
  run(sched, c.prefix, 1);
  sched.wait_idle();
  clock.now += 1000;
  EXPECT_EQ(sched.trim_prefixes(5000), 0u);  // used 1 s ago: kept in memory, not saved
  EXPECT_EQ(store->stats().saves, 0);
  clock.now += 5000;
  EXPECT_GT(sched.trim_prefixes(5000), 0u);
  EXPECT_EQ(store->stats().saves, 1);
  EXPECT_EQ(engine->kv_cache().n_used_blocks(), 0);
  const Outcome again = run(sched, c.turn, 2);
  EXPECT_EQ(again.timings.disk_tokens, 96);
  EXPECT_EQ(again.timings.cached_tokens, 96);
}

// A longer prefix on disk that fails to restore (a corrupt block) gives way to the shorter one in
// memory, which then counts as used now: the next idle trim keeps it.
TEST_F(KvStoreTest, FailedRestoreFallsBackToMemoryAndMarksItUsed) {
  ThreadPool pool(2);
  std::unique_ptr<Engine> engine = load_engine(pool);
  ASSERT_NE(engine, nullptr);
  const Conversation c = conversation(96, 300, 41, 10);
  auto store = open();
  {
    // The disk holds all 96 tokens (contents unwritten: the file is corrupted below anyway).
    model::KvCache side(engine->hparams(), 4);
    Sequence s;
    ASSERT_TRUE(s.reserve(side, 96).ok());
    for (TokenId t : c.prefix) s.push(t);
    const Sequence* seqs[] = {&s};
    ASSERT_EQ(store->save(kModelId, engine->kv_layout(), seqs, side), 1);
    s.release(side);
    std::fstream f(dir_ / KvStore::file_name(kModelId, engine->kv_layout(), c.prefix),
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-10, std::ios::end);
    f.put('\x7f');
  }
  StepClock clock;
  Scheduler sched(*engine, &clock, {store.get(), kModelId});
  std::vector<TokenId> first(c.prefix.begin(), c.prefix.begin() + 20);
  first.push_back(9);  // shares 20 tokens with the saved prefix: below the store's min_tokens
  run(sched, first, 1);
  sched.wait_idle();
  clock.now += 1000;
  const Outcome turn = run(sched, c.turn, 1);
  EXPECT_EQ(turn.timings.disk_tokens, 0);
  EXPECT_EQ(turn.timings.cached_tokens, 20);
  EXPECT_EQ(store->stats().rejected, 1);
  sched.wait_idle();
  clock.now += 1000;
  sched.trim_prefixes(1500);  // the first conversation served the turn 1 s ago
  EXPECT_EQ(sched.stats().trimmed_prefixes, 0);
}

}  // namespace
}  // namespace hangar::engine
