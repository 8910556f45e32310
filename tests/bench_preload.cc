// Replays seeded request traces through the real registry, cache, preloader and learned
// preloader (a simulated clock; loads take size / 1 GB/s) and prints hit rate, TTFT p50/p95 and
// bytes loaded for no preloading, each static strategy and learned.
// Usage: bench_preload [--days 14] [--seed 42]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "base/log.h"
#include "manager/learned_preloader.h"
#include "manager/preloader.h"
#include "manager/test_support.h"

using namespace hangar::manager;
using hangar::manager::testing::FakeClock;
using hangar::manager::testing::FakeLoader;
using hangar::manager::testing::FakeMemoryReader;
using hangar::manager::testing::TempDir;

namespace {

// The replay's wall clock reads the simulated time of its monotonic one.
class SimulatedWallClock final : public hangar::WallClock {
 public:
  explicit SimulatedWallClock(const hangar::Clock& clock) : clock_(clock) {}
  int64_t now_unix_ms() const override { return clock_.now_ms(); }

 private:
  const hangar::Clock& clock_;
};

constexpr int64_t kSec = 1000, kMin = 60 * kSec, kHour = 60 * kMin, kDay = 24 * kHour;
constexpr int64_t kMonday = 1'699'833'600'000;  // 2023-11-13 00:00 UTC
constexpr int64_t kComputeMs = 100;              // time to first token once loaded
constexpr uint64_t kGB = 1'000'000'000;

struct Model {
  std::string id;
  double gb;
};
const std::vector<Model> kModels = {{"chat", 2.0},      {"coder", 3.0},     {"embed", 0.5},
                                    {"vision", 2.5},    {"summarize", 1.5}, {"translate", 1.0}};
constexpr uint64_t kBudget = 5 * kGB;  // about two of them

struct Request {
  int64_t at_ms;
  std::string id;
};

// Working days: sessions of chat, then coder (80%) a few seconds later, then chat again; vision
// in the morning, summarize in the afternoon; translate in the evening; a nightly embed burst.
std::vector<Request> patterned(int days, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<Request> out;
  for (int d = 0; d < days; ++d) {
    const int64_t day = kMonday + d * kDay;
    const bool weekday = d % 7 < 5;
    for (int i = 0; i < 10; ++i) out.push_back({day + 2 * kHour + i * 6 * kSec, "embed"});
    for (int64_t t = day + 8 * kHour; t < day + 23 * kHour;) {
      const int hour = static_cast<int>((t - day) / kHour);
      const double per_hour = hour < 18 ? (weekday ? 12 : 2) : 4;
      t += static_cast<int64_t>(-std::log(1 - u(rng)) * kHour / per_hour);
      if (t >= day + 23 * kHour) break;
      int64_t s = t;
      if (hour >= 18) {
        out.push_back({s, u(rng) < 0.7 ? "translate" : "chat"});
        continue;
      }
      out.push_back({s, hour < 12 && u(rng) < 0.4 ? "vision" : "chat"});
      if (u(rng) < 0.8) out.push_back({s += 5 * kSec + static_cast<int64_t>(u(rng) * 25 * kSec), "coder"});
      if (hour >= 13 && u(rng) < 0.5) out.push_back({s += 10 * kSec, "summarize"});
      if (u(rng) < 0.6) out.push_back({s += 20 * kSec, "chat"});
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const Request& a, const Request& b) { return a.at_ms < b.at_ms; });
  return out;
}

// The same number of requests over the same span, models and times uniformly random.
std::vector<Request> uniform(size_t n, int days, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int64_t> when(kMonday, kMonday + days * kDay);
  std::uniform_int_distribution<size_t> which(0, kModels.size() - 1);
  std::vector<Request> out;
  for (size_t i = 0; i < n; ++i) out.push_back({when(rng), kModels[which(rng)].id});
  std::sort(out.begin(), out.end(), [](const Request& a, const Request& b) { return a.at_ms < b.at_ms; });
  return out;
}

struct Result {
  double hit_rate = 0;
  int64_t misses = 0;
  double p50 = 0, p95 = 0;
  double gb_loaded = 0;
  int64_t preloads = 0;
};

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

// strategy: "none", a static strategy's name, or "learned".
Result replay(const std::vector<Request>& trace, const std::string& strategy, const std::string& models_dir) {
  TempDir state;
  FakeClock clock(trace.front().at_ms - kMin);
  SimulatedWallClock wall(clock);
  FakeLoader loader(&clock);
  for (const Model& m : kModels) {
    const uint64_t bytes = static_cast<uint64_t>(m.gb * kGB);
    loader.set(m.id, {.estimate = bytes, .actual = bytes, .load_ms = static_cast<int64_t>(m.gb * 1000), .fail = ""});
  }
  auto reg =
      Registry::open({.state_dir = state.path("state"), .models_dir = models_dir, .wall_clock = &wall, .inspect = nullptr});
  if (!reg.ok() || !(*reg)->scan().ok()) std::abort();
  Registry& registry = **reg;
  CacheOptions co;
  co.budget_bytes = kBudget;
  co.keep_alive_ms = 30 * kMin;
  std::unique_ptr<LearnedPreloader> learned;
  co.on_request = [&](const std::string& id) {
    if (learned) learned->on_request(id);
  };
  ModelCache cache(registry, loader, clock, co);
  LearnedOptions lo;
  lo.predict = strategy == "learned";
  learned = std::make_unique<LearnedPreloader>(registry, cache, wall, PredictorOptions{}, lo);
  FakeMemoryReader memory;
  PreloadOptions po;
  po.delay_ms = 0;
  const bool is_static = strategy != "none" && strategy != "learned";
  if (is_static) po.strategy = *parse_preload_strategy(strategy);
  Preloader preloader(registry, cache, memory, clock, po);

  // The server's preload thread looks every second; between requests the replay looks one
  // second after a request and then every 10 s (the predictions change slowly in between).
  auto tick = [&] {
    cache.tick();
    if (is_static) {
      for (const Model& m : kModels) (void)preloader.enqueue(m.id);  // the list: every model
      preloader.step();
    }
    if (strategy == "learned") learned->step();
  };
  std::vector<double> ttft;
  int64_t last = clock.now_ms();
  for (const Request& r : trace) {
    for (int64_t t = last + kSec; t < r.at_ms && clock.now_ms() < r.at_ms; t += 10 * kSec) {
      clock.set(std::max(clock.now_ms(), t));
      tick();
    }
    const int64_t wait = std::max<int64_t>(clock.now_ms() - r.at_ms, 0);  // a preload still loading
    clock.set(std::max(clock.now_ms(), r.at_ms));
    const int64_t start = clock.now_ms();
    {
      auto lease = cache.acquire(r.id);
      if (!lease.ok()) std::abort();
    }
    ttft.push_back(static_cast<double>(wait + clock.now_ms() - start + kComputeMs));
    last = clock.now_ms();
  }
  Result out;
  const CacheStats s = cache.stats();
  out.hit_rate = s.hit_rate();
  out.misses = s.misses;
  out.p50 = percentile(ttft, 0.5);
  out.p95 = percentile(ttft, 0.95);
  for (const std::string& id : loader.calls())
    for (const Model& m : kModels)
      if (m.id == id) out.gb_loaded += m.gb;
  out.preloads = strategy == "learned" ? learned->stats().preloads : is_static ? preloader.stats().loaded : 0;
  return out;
}

void table(const char* name, const std::vector<Request>& trace, const std::string& models_dir) {
  std::printf("\n%s trace: %zu requests\n\n", name, trace.size());
  std::printf("| strategy | hit rate | misses | TTFT p50 ms | TTFT p95 ms | GB loaded | preloads |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  for (const char* s : {"none", "sequential", "frequency", "recency", "size", "learned"}) {
    const Result r = replay(trace, s, models_dir);
    std::printf("| %s | %.3f | %lld | %.0f | %.0f | %.1f | %lld |\n", s, r.hit_rate, static_cast<long long>(r.misses),
                r.p50, r.p95, r.gb_loaded, static_cast<long long>(r.preloads));
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  int days = 14;
  uint32_t seed = 42;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--days")) days = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--seed")) seed = static_cast<uint32_t>(std::atoi(argv[i + 1]));
  }
  hangar::set_log_level(hangar::LogLevel::kWarn);
  TempDir dir;
  std::filesystem::create_directories(dir.path("models"));
  for (const Model& m : kModels) testing::write_model(dir.path("models/" + m.id + ".gguf"));
  std::printf("models (GB): ");
  for (const Model& m : kModels) std::printf("%s %.1f  ", m.id.c_str(), m.gb);
  std::printf("\nbudget %.1f GB, load at 1 GB/s, %lld ms to first token once loaded, keep-alive 30 min, %d days, seed %u\n",
              double(kBudget) / kGB, static_cast<long long>(kComputeMs), days, seed);
  const std::vector<Request> p = patterned(days, seed);
  table("patterned", p, dir.path("models"));
  table("uniform", uniform(p.size(), days, seed), dir.path("models"));
  return 0;
}
