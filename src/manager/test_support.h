// Fakes and fixtures for the manager tests: clock, loader, memory reader, temp dirs, GGUF files.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <unistd.h>

#include "base/clock.h"
#include "gguf/gguf_writer.h"
#include "manager/memory_reader.h"
#include "manager/model_loader.h"

namespace hangar::manager::testing {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t start_ms = 1'000'000) : now_(start_ms) {}
  int64_t now_ms() const override { return now_.load(); }
  void advance(int64_t ms) { now_ += ms; }
  void set(int64_t ms) { now_ = ms; }

 private:
  std::atomic<int64_t> now_;
};

class FakeWallClock final : public WallClock {
 public:
  explicit FakeWallClock(int64_t start_ms = 1'700'000'000'000) : now_(start_ms) {}
  int64_t now_unix_ms() const override { return now_.load(); }
  void advance(int64_t ms) { now_ += ms; }

 private:
  std::atomic<int64_t> now_;
};

// The fake device's record: every demote and promote, in call order ("demote a", "promote a").
// Its gates hold demotions or promotions (the copy) until opened, so that tests can overlap
// them with other requests deterministically.
class FakeDevice {
 public:
  // Records the call, then waits while its kind's gate is closed.
  void enter(const std::string& call, bool promotion) {
    std::unique_lock lock(mu_);
    calls_.push_back(call);
    cv_.notify_all();
    cv_.wait(lock, [&] { return !(promotion ? promote_gate_ : demote_gate_); });
  }
  void set_gates(bool demotions_closed, bool promotions_closed) {
    std::lock_guard lock(mu_);
    demote_gate_ = demotions_closed;
    promote_gate_ = promotions_closed;
    cv_.notify_all();
  }
  // Blocks until `call` has been entered.
  void wait_entered(const std::string& call) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return std::find(calls_.begin(), calls_.end(), call) != calls_.end(); });
  }
  std::vector<std::string> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> calls_;
  bool demote_gate_ = false, promote_gate_ = false;
};

struct FakeGpu {
  std::string id;
  uint64_t gpu = 0, host_copy = 0;
  std::string fail_demote, fail_promote;  // non-empty: that call fails with this message
  FakeDevice* device = nullptr;
};

class FakeModel final : public LoadedModel {
 public:
  using Gpu = FakeGpu;
  explicit FakeModel(uint64_t bytes, std::atomic<int>* live, bool mapped = false, Gpu gpu = {})
      : bytes_(bytes), live_(live), mapped_(mapped), gpu_(std::move(gpu)) {
    if (live_) ++*live_;
  }
  ~FakeModel() override {
    if (live_) --*live_;
  }
  uint64_t memory_bytes() const override { return bytes_ + (on_gpu_ ? 0 : gpu_.host_copy); }
  bool weights_from_file() const override { return mapped_; }
  bool has_gpu_tier() const override { return gpu_.gpu != 0; }
  ModelTier tier() const override { return on_gpu_ ? ModelTier::kGpu : ModelTier::kHost; }
  uint64_t gpu_bytes() const override { return on_gpu_ ? gpu_.gpu : 0; }
  uint64_t host_copy_bytes() const override { return gpu_.host_copy; }
  Status demote() override {
    if (!has_gpu_tier()) return LoadedModel::demote();
    if (gpu_.device) gpu_.device->enter("demote " + gpu_.id, false);
    if (!gpu_.fail_demote.empty()) return Error(gpu_.fail_demote);
    on_gpu_ = false;
    return Status::Ok();
  }
  Status promote() override {
    if (!has_gpu_tier()) return LoadedModel::promote();
    if (gpu_.device) gpu_.device->enter("promote " + gpu_.id, true);
    if (!gpu_.fail_promote.empty()) return Error(gpu_.fail_promote);
    on_gpu_ = true;
    return Status::Ok();
  }

 private:
  uint64_t bytes_;
  std::atomic<int>* live_;
  bool mapped_;
  Gpu gpu_;
  std::atomic<bool> on_gpu_{gpu_.gpu != 0};  // a GPU model loads onto the GPU
};

// Reports configured estimates and sizes, advances the fake clock by a model's load time,
// counts calls, and can hold loads at a gate so tests can overlap them deterministically.
class FakeLoader final : public ModelLoader {
 public:
  struct Spec {
    uint64_t estimate = 100;
    uint64_t actual = 100;  // what memory_bytes() reports after load
    int64_t load_ms = 0;   // the fake clock advances by this much during load()
    std::string fail;       // non-empty: load fails with this message
    bool mapped = false;    // the model's weights_from_file()
    // A GPU model on the fake device: its GPU bytes once loaded (also the plan's GPU estimate
    // unless gpu_estimate is set), and the host bytes its demoted copy adds. 0: a CPU model.
    uint64_t gpu = 0, gpu_estimate = 0, host_copy = 0;
    std::string fail_demote{}, fail_promote{};
  };
  explicit FakeLoader(FakeClock* clock) : clock_(clock) {}

  void set(const std::string& id, Spec spec) {
    std::lock_guard lock(mu_);
    specs_[id] = spec;
  }
  LoadPlan plan(const ModelRecord& rec) override {
    std::lock_guard lock(mu_);
    LoadPlan p;
    p.estimate_bytes = specs_[rec.id].estimate;
    p.settings = settings_;
    p.n_vocab = 1000;
    p.n_ctx = 2048;
    const Spec& spec = specs_[rec.id];
    p.gpu_estimate_bytes = spec.gpu_estimate ? spec.gpu_estimate : spec.gpu;
    return p;
  }
  Result<std::shared_ptr<LoadedModel>> load(const ModelRecord& rec, const LoadProgress& progress) override {
    if (progress) progress(0.5, "halfway");
    Spec spec;
    {
      std::unique_lock lock(mu_);
      spec = specs_[rec.id];
      calls_.push_back(rec.id);
      entered_ += 1;
      cv_.notify_all();
      cv_.wait(lock, [&] { return !gated_; });
    }
    if (spec.load_ms) clock_->advance(spec.load_ms);
    if (!spec.fail.empty()) return Error(spec.fail);
    FakeModel::Gpu gpu{rec.id, spec.gpu, spec.host_copy, spec.fail_demote, spec.fail_promote, &device_};
    return std::shared_ptr<LoadedModel>(std::make_shared<FakeModel>(spec.actual, &live_, spec.mapped, gpu));
  }

  // The settings string plans carry (footprints are stored per settings).
  void set_settings(const std::string& settings) {
    std::lock_guard lock(mu_);
    settings_ = settings;
  }
  // Loads block until open_gate().
  void close_gate() {
    std::lock_guard lock(mu_);
    gated_ = true;
  }
  void open_gate() {
    std::lock_guard lock(mu_);
    gated_ = false;
    cv_.notify_all();
  }
  // Blocks until `n` loads have started in total.
  void wait_entered(int n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return entered_ >= n; });
  }
  std::vector<std::string> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  int calls_for(const std::string& id) const {
    std::lock_guard lock(mu_);
    int n = 0;
    for (const auto& c : calls_) n += c == id;
    return n;
  }
  int live_models() const { return live_.load(); }
  // Every demote and promote of the models it loaded.
  std::vector<std::string> device_calls() const { return device_.calls(); }
  FakeDevice& device() { return device_; }

 private:
  FakeClock* clock_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Spec> specs_;
  std::string settings_ = "fake";
  std::vector<std::string> calls_;
  int entered_ = 0;
  bool gated_ = false;
  std::atomic<int> live_{0};
  FakeDevice device_;
};

class FakeMemoryReader final : public MemoryReader {
 public:
  FakeMemoryReader() {
    snapshot_.system_total = uint64_t{64} << 30;
    snapshot_.system_available = uint64_t{32} << 30;
    snapshot_.process_rss = uint64_t{1} << 30;
  }
  MemorySnapshot read() override {
    std::lock_guard lock(mu_);
    reads_ += 1;
    return snapshot_;
  }
  void set(const MemorySnapshot& s) {
    std::lock_guard lock(mu_);
    snapshot_ = s;
  }
  void set_available(uint64_t bytes) {
    std::lock_guard lock(mu_);
    snapshot_.system_available = bytes;
  }

 private:
  std::mutex mu_;
  MemorySnapshot snapshot_;
  int reads_ = 0;
};

// A fresh directory, removed with everything in it at destruction.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("hangar_manager_test_" + std::to_string(::getpid()) + "_" +
             std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string path(const std::string& rel = "") const { return (path_ / rel).string(); }

 private:
  std::filesystem::path path_;
};

// Writes a small valid GGUF: one f32 tensor of `n_f32` elements and one q8_0 tensor of
// 32 x `q8_rows` elements, with llama-style hyper-parameters.
inline void write_model(const std::string& path, const std::string& arch = "llama",
                        int64_t n_f32 = 8, int64_t q8_rows = 2, bool chat_template = false,
                        uint8_t fill = 1) {
  gguf::Writer w;
  w.set("general.architecture", gguf::Value::string(arch));
  w.set(arch + ".context_length", gguf::Value::u32(2048));
  w.set(arch + ".block_count", gguf::Value::u32(4));
  w.set(arch + ".embedding_length", gguf::Value::u32(64));
  w.set(arch + ".attention.head_count", gguf::Value::u32(8));
  w.set(arch + ".attention.head_count_kv", gguf::Value::u32(2));
  if (chat_template) w.set("tokenizer.chat_template", gguf::Value::string("{{ messages }}"));
  w.add_tensor({"a", TensorType::kF32, {n_f32}}, std::vector<uint8_t>(n_f32 * 4, fill));
  w.add_tensor({"b", TensorType::kQ8_0, {32, q8_rows}}, std::vector<uint8_t>(q8_rows * 34, fill));
  HANGAR_ASSERT(w.write_file(path).ok());
}

}  // namespace hangar::manager::testing
