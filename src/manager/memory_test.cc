// Tests for memory readings (/proc and cgroup v2 parsing), pressure decisions and the monitor.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "manager/cache_fixture.h"
#include "manager/memory_monitor.h"
#include "manager/memory_reader.h"

namespace hangar::manager {
namespace {

using testing::FakeMemoryReader;
using testing::TempDir;
constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kGiB = uint64_t{1} << 30;

void write_file(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path) << text;
}

TEST(MemoryReader, ParsesProcFiles) {
  const char* meminfo = "MemTotal:       16314216 kB\nMemFree:         1000 kB\n"
                        "MemAvailable:    8000000 kB\nBuffers: 5 kB\n";
  EXPECT_EQ(parse_meminfo_kb(meminfo, "MemTotal"), uint64_t{16314216} * 1024);
  EXPECT_EQ(parse_meminfo_kb(meminfo, "MemAvailable"), uint64_t{8000000} * 1024);
  EXPECT_FALSE(parse_meminfo_kb(meminfo, "Mem").has_value());  // whole key only
  EXPECT_FALSE(parse_meminfo_kb(meminfo, "SwapTotal").has_value());
  EXPECT_EQ(parse_cgroup_v2_path("12:memory:/docker/x\n0::/user.slice/app.scope\n"),
            "/user.slice/app.scope");
  EXPECT_FALSE(parse_cgroup_v2_path("4:cpu:/a\n").has_value());
  EXPECT_EQ(parse_cgroup_bytes("1073741824\n"), kGiB);
  EXPECT_FALSE(parse_cgroup_bytes("max\n").has_value());
}

TEST(MemoryReader, ReadsAFakeProcAndCgroupTreeAndPicksTheTightestAncestor) {
  TempDir dir;
  write_file(dir.path("proc/self/status"), "Name: hangar\nVmRSS:\t  204800 kB\nThreads: 4\n");
  write_file(dir.path("proc/meminfo"), "MemTotal: 33554432 kB\nMemAvailable: 16777216 kB\n");
  write_file(dir.path("proc/self/cgroup"), "0::/outer/inner\n");
  write_file(dir.path("cg/outer/inner/memory.max"), "max\n");
  write_file(dir.path("cg/outer/inner/memory.current"), "1000\n");
  write_file(dir.path("cg/outer/memory.max"), std::to_string(4 * kGiB) + "\n");
  write_file(dir.path("cg/outer/memory.current"), std::to_string(3 * kGiB) + "\n");
  ProcMemoryReader reader(dir.path("proc"), dir.path("cg"));
  MemorySnapshot s = reader.read();
  EXPECT_EQ(s.process_rss, 200 * kMiB);
  EXPECT_EQ(s.system_total, 32 * kGiB);
  EXPECT_EQ(s.system_available, 16 * kGiB);
  EXPECT_EQ(s.cgroup_limit, 4 * kGiB);
  EXPECT_EQ(s.cgroup_current, 3 * kGiB);
  EXPECT_EQ(s.headroom(), 1 * kGiB);  // the cgroup binds before the machine does
  EXPECT_EQ(auto_memory_budget(s), static_cast<uint64_t>(double(200 * kMiB + kGiB) * 0.8));
}

TEST(MemoryReader, RealProcOfThisProcessIsPlausible) {
  ProcMemoryReader reader;
  MemorySnapshot s = reader.read();
  EXPECT_GT(s.process_rss, 0u);
  EXPECT_GT(s.system_total, s.system_available);
  EXPECT_GT(s.system_available, 0u);
}

TEST(GpuMemoryBudget, AutoIsTheFreeGpuMemoryLessAMarginAndNoTierWithoutAGpu) {
  constexpr uint64_t kGiB = uint64_t{1} << 30;
  std::string reason;
  uint64_t free_now = 80 * kGiB;
  GpuMemoryReader gpu = [&free_now]() -> Result<uint64_t> { return free_now; };
  // 5% of 80 GiB is over the 512 MiB floor.
  EXPECT_EQ(*gpu_memory_budget("auto", gpu, &reason), 76 * kGiB);
  EXPECT_NE(reason.find("free less a margin of 4.00 GiB"), std::string::npos) << reason;
  free_now = 4 * kGiB;  // 5% is 204.8 MiB: the floor applies
  EXPECT_EQ(*gpu_memory_budget("auto", gpu), 4 * kGiB - 512 * kMiB);
  free_now = 100 * kMiB;  // less than the margin: no tier
  EXPECT_EQ(*gpu_memory_budget("auto", gpu, &reason), 0u);
  EXPECT_NE(reason.find("no GPU tier"), std::string::npos) << reason;
  GpuMemoryReader none = []() -> Result<uint64_t> { return Error("no CUDA device"); };
  EXPECT_EQ(*gpu_memory_budget("auto", none, &reason), 0u);
  EXPECT_EQ(reason, "auto: no GPU (no CUDA device), no GPU tier");
  EXPECT_EQ(*gpu_memory_budget("auto", nullptr), 0u);
  // A size is taken as given on a GPU; without one it is an error naming why, and 0 (no GPU
  // tier) is fine anywhere.
  EXPECT_EQ(*gpu_memory_budget("24Gi", gpu), 24 * kGiB);
  Result<uint64_t> no_gpu = gpu_memory_budget("24Gi", none);
  ASSERT_FALSE(no_gpu.ok());
  EXPECT_EQ(no_gpu.error().message(), "--gpu-memory-budget 24Gi: no GPU (no CUDA device)");
  EXPECT_EQ(*gpu_memory_budget("0", gpu), 0u);
  EXPECT_EQ(*gpu_memory_budget("0", none), 0u);
  Result<uint64_t> bad = gpu_memory_budget("lots", gpu);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message().rfind("--gpu-memory-budget: 'lots' is not a byte size", 0), 0u) << bad.error().message();
}

TEST(MemoryPressure, Decisions) {
  MemorySnapshot s;
  s.system_total = 16 * kGiB;
  s.system_available = 8 * kGiB;
  PressureOptions o;  // auto threshold: 5% of 16 GiB = 819.2 MiB
  EXPECT_FALSE(assess_pressure(s, o).under_pressure);
  s.system_available = 500 * kMiB;
  PressureDecision d = assess_pressure(s, o);
  EXPECT_TRUE(d.under_pressure);
  EXPECT_EQ(d.bytes_to_free, 16 * kGiB / 20 - 500 * kMiB);
  EXPECT_NE(d.reason.find("below"), std::string::npos);

  o.min_available_bytes = 100 * kMiB;
  EXPECT_FALSE(assess_pressure(s, o).under_pressure);
  s.cgroup_limit = 10 * kGiB;
  s.cgroup_current = 9 * kGiB + 512 * kMiB;  // above 90% of the limit
  d = assess_pressure(s, o);
  EXPECT_TRUE(d.under_pressure);
  EXPECT_EQ(d.bytes_to_free, s.cgroup_current.value() - uint64_t(double(10 * kGiB) * 0.9));
  EXPECT_NE(d.reason.find("cgroup"), std::string::npos);
}

class MonitorTest : public testing::CacheFixture {};

TEST_F(MonitorTest, UnloadsIdleModelsByPolicyUnderPressureOnly) {
  for (const char* id : {"a", "b", "c", "d"}) loader_.set(id, {.estimate = 100, .actual = 100});
  CacheOptions o;
  o.keep_alive_ms = -1;
  make_cache(o);
  use("a");
  clock_.advance(10);
  use("b");
  clock_.advance(10);
  use("c");
  ASSERT_TRUE(cache_->pin("a").ok());
  auto held = cache_->acquire("d");  // in flight
  ASSERT_TRUE(held.ok());

  FakeMemoryReader memory;
  PressureOptions p;
  p.min_available_bytes = 1000;
  MemoryMonitor monitor(*cache_, memory, p);
  memory.set_available(5000);
  EXPECT_FALSE(monitor.check().under_pressure);
  EXPECT_EQ(loaded(), (std::vector<std::string>{"a", "b", "c", "d"}));

  memory.set_available(950);  // 50 bytes short: one idle model is enough, LRU picks b
  std::vector<std::string> unloaded;
  PressureDecision d = monitor.check(&unloaded);
  EXPECT_TRUE(d.under_pressure);
  EXPECT_EQ(d.bytes_to_free, 50u);
  EXPECT_EQ(unloaded, (std::vector<std::string>{"b"}));

  memory.set_available(0);  // far short: everything idle goes, never pinned or in flight
  unloaded.clear();
  monitor.check(&unloaded);
  EXPECT_EQ(unloaded, (std::vector<std::string>{"c"}));
  EXPECT_EQ(loaded(), (std::vector<std::string>{"a", "d"}));
  MonitorStats s = monitor.stats();
  EXPECT_EQ(s.checks, 3);
  EXPECT_EQ(s.pressure_events, 2);
  EXPECT_EQ(s.models_unloaded, 2);
  EXPECT_EQ(cache_->stats().unloads_for(EvictionReason::kPressure), 2);
}

TEST(MemoryBudget, TheOneRuleCapsByTheMachineAndTheAutoFraction) {
  MemorySnapshot s;
  s.system_total = 16 * kGiB;
  s.system_available = 9 * kGiB;
  s.process_rss = 1 * kGiB;
  PressureOptions o;  // reserve: 5% of 16 GiB
  const uint64_t reserve = 16 * kGiB / 20;
  // Fixed budget under what the machine gives: the budget.
  BudgetDecision b = decide_budget(s, 4 * kGiB, 500 * kMiB, o);
  EXPECT_EQ(b.effective, 4 * kGiB);
  EXPECT_NE(b.reason.find("fixed"), std::string::npos) << b.reason;
  // Auto: 80% of RSS + available.
  o.auto_budget = true;
  b = decide_budget(s, 0, 500 * kMiB, o);
  EXPECT_EQ(b.effective, static_cast<uint64_t>(double(10 * kGiB) * 0.8));
  EXPECT_NE(b.reason.find("auto: 80%"), std::string::npos) << b.reason;
  // Others took memory: what the machine gives (resident + available - reserve) binds.
  s.system_available = 2 * kGiB;
  b = decide_budget(s, 0, 500 * kMiB, o);
  EXPECT_EQ(b.effective, 500 * kMiB + 2 * kGiB - reserve);
  EXPECT_NE(b.reason.find("what the machine can give"), std::string::npos) << b.reason;
  // Under the reserve: below what is resident by exactly the shortfall.
  s.system_available = reserve - 100 * kMiB;
  b = decide_budget(s, 4 * kGiB, 500 * kMiB, o);
  EXPECT_EQ(b.effective, 400 * kMiB);
  EXPECT_NE(b.reason.find("memory pressure"), std::string::npos) << b.reason;
  // Nothing known (no /proc): the configured cap alone.
  o.auto_budget = false;
  EXPECT_EQ(decide_budget(MemorySnapshot{}, 4 * kGiB, 0, o).effective, 4 * kGiB);
}

// A real process takes memory: the budget must shrink below what the cache holds and grow back
// once it exits. Runs only where the machine has room for the balloon.
class BalloonTest : public testing::CacheFixture {};

TEST_F(BalloonTest, ARealBalloonShrinksTheBudgetAndItGrowsBackWhenItExits) {
  ProcMemoryReader reader;
  const MemorySnapshot start = reader.read();
  const uint64_t balloon = 1 * kGiB;
  if (start.system_total == 0 || start.system_available < 8 * balloon)
    GTEST_SKIP() << "needs " << 8 * balloon / kGiB << " GiB available for a " << balloon / kGiB << " GiB balloon";
  // The reserve sits a quarter balloon below what is available now: the balloon crosses it by
  // three quarters, more than other processes move the figure in the seconds this takes.
  PressureOptions p;
  p.min_available_bytes = start.system_available - balloon / 4;
  make_cache({.keep_alive_ms = -1});
  use("a");
  MemoryMonitor monitor(*cache_, reader, p);
  if (monitor.check().under_pressure) GTEST_SKIP() << "available memory fell before the balloon was filled";
  const uint64_t before = cache_->budget_bytes();

  int ready[2], release[2];
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_EQ(pipe(release), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Only async-signal-safe calls after fork: map (huge pages: few faults), touch, report, wait.
    void* m = mmap(nullptr, balloon, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) _exit(1);
    madvise(m, balloon, MADV_HUGEPAGE);
    for (uint64_t off = 0; off < balloon; off += 4096) static_cast<volatile char*>(m)[off] = 1;
    char c = 1;
    if (write(ready[1], &c, 1) != 1) _exit(1);
    if (read(release[0], &c, 1) < 0) _exit(1);
    _exit(0);
  }
  char c = 0;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  std::vector<std::string> unloaded;
  const PressureDecision during = monitor.check(&unloaded);
  const uint64_t shrunk = cache_->budget_bytes();
  ASSERT_EQ(write(release[1], &c, 1), 1);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  for (int fd : {ready[0], ready[1], release[0], release[1]}) close(fd);
  // Other processes on a shared machine move MemAvailable by GiBs in the seconds a balloon
  // takes to fill; the test means something only when the monitor saw the balloon's drop.
  const uint64_t seen = monitor.stats().last.system_available;
  if (seen + balloon / 2 > start.system_available)
    GTEST_SKIP() << "available memory moved too much to see the balloon: " << start.system_available << " before, "
                 << seen << " with it";
  EXPECT_TRUE(during.under_pressure) << during.reason;
  EXPECT_EQ(unloaded, std::vector<std::string>{"a"});
  EXPECT_EQ(cache_->status("a")->last_eviction, "memory_pressure");
  EXPECT_LT(shrunk, before);
  monitor.check();
  // Grew back once the balloon was gone (when the others left the reserve free again).
  if (monitor.stats().last.system_available > p.min_available_bytes + balloon / 4)
    EXPECT_GT(cache_->budget_bytes(), shrunk);
}

}  // namespace
}  // namespace hangar::manager
