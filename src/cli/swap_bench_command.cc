// `hangar bench-swap`: more models than the budget holds, a seeded request trace (Zipf popularity,
// bursts per model) through the real server on loopback, and what each scheduling choice costs:
// time to first token, swaps, hit rate and requests served, per swap window and eviction policy.
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "api/server.h"
#include "base/clock.h"
#include "base/log.h"
#include "cli/common.h"
#include "manager/engine_loader.h"
#include "manager/manager.h"
#include "manager/memory_reader.h"
#include "manager/units.h"

namespace hangar::cli {
namespace {

namespace fs = std::filesystem;

struct SwapBenchOptions {
  std::vector<std::string> models;  // GGUF paths
  int hold = 2;                     // the budget holds this many of the largest models
  int requests = 120;
  uint64_t seed = 1;
  double zipf = 1.0;                // popularity of the k-th model ~ 1 / k^zipf
  double burst = 4;                 // mean requests per burst (all for one model)
  double burst_gap_ms = 250;        // mean time between bursts
  double in_burst_gap_ms = 15;      // mean time between the requests of a burst
  int max_tokens = 16;
  std::vector<std::string> windows = {"0", "500ms"};
  std::vector<std::string> policies = {"lru", "lfu", "fifo", "cost"};
  int ctx = 512, parallel = 2, threads = 2;
  std::string weights = "map";      // as serve: map (in place) or copy
};

struct TraceItem {
  double at_ms = 0;
  int model = 0;
};

// Bursts: a model drawn by Zipf popularity, then a geometric number of requests for it.
std::vector<TraceItem> make_trace(const SwapBenchOptions& o, int n_models) {
  std::mt19937_64 rng(o.seed);
  std::vector<double> weights;
  for (int k = 1; k <= n_models; ++k) weights.push_back(1.0 / std::pow(k, o.zipf));
  std::discrete_distribution<int> pick(weights.begin(), weights.end());
  std::geometric_distribution<int> extra(1.0 / std::max(o.burst, 1.0));
  std::exponential_distribution<double> burst_gap(1.0 / o.burst_gap_ms), in_gap(1.0 / o.in_burst_gap_ms);
  std::vector<TraceItem> trace;
  double t = 0;
  while (static_cast<int>(trace.size()) < o.requests) {
    const int m = pick(rng);
    const int n = 1 + extra(rng);
    for (int i = 0; i < n && static_cast<int>(trace.size()) < o.requests; ++i) {
      trace.push_back({t, m});
      t += in_gap(rng);
    }
    t += burst_gap(rng);
  }
  return trace;
}

struct Outcome {
  int status = 0;
  double ttft_ms = -1;
};

// One streamed completion; the first data chunk is the first token (no echo).
Outcome send(int port, const std::string& model, int max_tokens, int i) {
  const std::string body = "{\"model\":\"" + model + "\",\"prompt\":\"Request " + std::to_string(i) +
                           ": once upon a time\",\"max_tokens\":" + std::to_string(max_tokens) +
                           ",\"temperature\":0,\"ignore_eos\":true,\"stream\":true}";
  Outcome out;
  const auto t0 = std::chrono::steady_clock::now();
  httplib::Client cli("127.0.0.1", port);
  cli.set_read_timeout(600, 0);
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.body = body;
  req.set_header("Content-Type", "application/json");
  req.response_handler = [&](const httplib::Response& r) {
    out.status = r.status;
    return true;
  };
  req.content_receiver = [&](const char* data, size_t len, uint64_t, uint64_t) {
    if (out.ttft_ms < 0 && out.status == 200 && std::string_view(data, len).find("data: {") != std::string_view::npos)
      out.ttft_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return true;
  };
  httplib::Response res;
  httplib::Error err = httplib::Error::Success;
  if (!cli.send(req, res, err)) out.status = -1;
  return out;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(std::ceil(p * static_cast<double>(v.size())) - 1));
  return v[i];
}

std::string loadavg() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

struct Row {
  std::string window, policy;
  int served = 0, full = 0, timeouts = 0, other = 0;
  double p50 = 0, p95 = 0;
  int64_t loads = 0, evictions = 0;
  double hit_rate = 0, wall_s = 0;
  std::string load_before, load_after;
};

// As `hangar serve` sets the loader up; the layout cache is shared by every run.
manager::EngineLoaderOptions loader_options(const SwapBenchOptions& o, const fs::path& root) {
  manager::EngineLoaderOptions lo;
  lo.ctx = o.ctx;
  lo.parallel = o.parallel;
  lo.weights_in_memory = o.weights == "copy";
  lo.layout_cache_dir = (root / "layouts").string();
  return lo;
}

manager::ManagerConfig base_config(const fs::path& root, const std::string& state) {
  manager::ManagerConfig c;
  c.models_dir = (root / "models").string();
  c.state_dir = (root / state).string();
  c.hash_in_background = false;
  c.cache.keep_alive_ms = -1;
  c.cache.max_queue = 100000;
  c.cache.queue_timeout_ms = 10 * 60 * 1000;
  c.settings.path = (root / "none.toml").string();
  return c;
}

Result<Row> run_one(const SwapBenchOptions& o, const fs::path& root, const std::vector<std::string>& ids,
                    uint64_t budget, const std::vector<TraceItem>& trace, const std::string& window,
                    const std::string& policy, ThreadPool& pool) {
  Row row;
  row.window = window;
  row.policy = policy;
  const std::string state = "state-" + window + "-" + policy;
  fs::create_directories(root / state);
  fs::copy_file(root / "warm" / manager::Registry::kDbFileName, root / state / manager::Registry::kDbFileName,
                fs::copy_options::overwrite_existing);
  manager::ManagerConfig config = base_config(root, state);
  config.cache.budget_bytes = budget;
  std::optional<manager::EvictionPolicy> p = manager::parse_eviction_policy(policy);
  if (!p) return Error("--policies: unknown policy '" + policy + "'");
  config.cache.policy = *p;
  HANGAR_ASSIGN(config.cache.swap_window_ms, manager::parse_duration_ms(window, "--windows"));
  manager::EngineLoader loader(pool, loader_options(o, root));
  manager::ProcMemoryReader memory;
  SteadyClock clock;
  SystemWallClock wall;
  HANGAR_ASSIGN(std::unique_ptr<manager::Manager> mgr, manager::Manager::open(config, loader, memory, clock, wall));
  api::ServerOptions so;
  so.port = 0;
  so.http_threads = std::max(64, o.requests + 8);
  api::Server server(*mgr, so);
  HANGAR_TRY(server.bind());
  mgr->start();
  std::thread serving([&] { server.run(); });

  row.load_before = loadavg();
  std::vector<Outcome> outcomes(trace.size());
  std::vector<std::thread> clients;
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < trace.size(); ++i) {
    clients.emplace_back([&, i] {
      std::this_thread::sleep_until(start + std::chrono::microseconds(static_cast<int64_t>(trace[i].at_ms * 1000)));
      outcomes[i] = send(server.port(), ids[trace[i].model], o.max_tokens, static_cast<int>(i));
    });
  }
  for (std::thread& t : clients) t.join();
  row.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  row.load_after = loadavg();

  std::vector<double> ttft;
  for (const Outcome& out : outcomes) {
    if (out.status == 200) {
      row.served += 1;
      if (out.ttft_ms >= 0) ttft.push_back(out.ttft_ms);
    } else if (out.status == 429) {
      row.full += 1;
    } else if (out.status == 503) {
      row.timeouts += 1;
    } else {
      row.other += 1;
    }
  }
  row.p50 = percentile(ttft, 0.50);
  row.p95 = percentile(ttft, 0.95);
  const manager::CacheStats s = mgr->cache().stats();
  row.loads = s.loads;
  row.evictions = s.unloads_for(manager::EvictionReason::kPolicy);
  row.hit_rate = s.hit_rate();
  server.stop();
  serving.join();
  mgr->stop();
  return row;
}

int bench_swap(const SwapBenchOptions& o) {
  set_log_level(LogLevel::kWarn);
  if (o.models.size() < 2) return fail("bench-swap: give at least two --models");
  if (o.hold < 1 || o.hold >= static_cast<int>(o.models.size()))
    return fail("bench-swap: --hold must be at least 1 and fewer than the models");
  const fs::path root = fs::temp_directory_path() / ("hangar-bench-swap-" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "models");
  std::vector<std::string> ids;
  for (const std::string& path : o.models) {
    if (!fs::exists(path)) return fail("bench-swap: no such model file '" + path + "'");
    const std::string id = fs::path(path).stem().string();
    fs::create_symlink(fs::absolute(path), root / "models" / (id + ".gguf"));
    ids.push_back(id);
  }
  ThreadPool pool(o.threads);

  // Warm-up: each model loaded once, so every run admits on measured footprints and reads the
  // files from the page cache.
  std::vector<uint64_t> sizes;
  {
    const manager::ManagerConfig config = base_config(root, "warm");
    manager::EngineLoader loader(pool, loader_options(o, root));
    manager::ProcMemoryReader memory;
    SteadyClock clock;
    SystemWallClock wall;
    auto mgr = manager::Manager::open(config, loader, memory, clock, wall);
    if (!mgr.ok()) return fail(mgr.error().message());
    for (const std::string& id : ids) {
      manager::AcquireOptions ao;
      ao.count_access = false;
      Status st = (*mgr)->cache().load(id, ao);
      if (!st.ok()) return fail(st.error().message());
      sizes.push_back((*mgr)->cache().admission(id)->bytes);
      (void)(*mgr)->cache().unload(id);
    }
  }
  std::vector<uint64_t> desc = sizes;
  std::sort(desc.rbegin(), desc.rend());
  uint64_t budget = 0;
  for (int i = 0; i < o.hold; ++i) budget += desc[i];
  budget += budget / 100;

  const std::vector<TraceItem> trace = make_trace(o, static_cast<int>(ids.size()));
  std::vector<int> per_model(ids.size(), 0);
  for (const TraceItem& t : trace) per_model[t.model] += 1;
  std::printf("machine: %u hardware threads, %d compute threads; load average before: %s\n",
              std::thread::hardware_concurrency(), o.threads, loadavg().c_str());
  std::printf("models (footprint, requests):");
  for (size_t i = 0; i < ids.size(); ++i)
    std::printf(" %s (%s, %d)", ids[i].c_str(), manager::format_bytes(sizes[i]).c_str(), per_model[i]);
  std::printf("\nbudget %s (holds %d); %d requests over %.1f s, seed %llu, zipf %.2f, bursts of %.1f, "
              "%d tokens each, ctx %d x %d, weights %s\n\n",
              manager::format_bytes(budget).c_str(), o.hold, o.requests, trace.back().at_ms / 1000.0,
              static_cast<unsigned long long>(o.seed), o.zipf, o.burst, o.max_tokens, o.ctx, o.parallel,
              o.weights.c_str());
  std::printf("| swap window | policy | served | 429 | 503 | TTFT p50 ms | TTFT p95 ms | loads | evictions | hit rate | wall s | load avg before → after |\n");
  std::printf("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
  for (const std::string& window : o.windows) {
    for (const std::string& policy : o.policies) {
      Result<Row> r = run_one(o, root, ids, budget, trace, window, policy, pool);
      if (!r.ok()) return fail(r.error().message());
      std::printf("| %s | %s | %d/%d | %d | %d | %.0f | %.0f | %lld | %lld | %.2f | %.1f | %s → %s |\n",
                  r->window.c_str(), r->policy.c_str(), r->served, o.requests, r->full, r->timeouts, r->p50, r->p95,
                  static_cast<long long>(r->loads), static_cast<long long>(r->evictions), r->hit_rate, r->wall_s,
                  r->load_before.c_str(), r->load_after.c_str());
      std::fflush(stdout);
    }
  }
  fs::remove_all(root);
  return 0;
}

}  // namespace

void add_swap_bench_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<SwapBenchOptions>();
  auto models = std::make_shared<std::string>();
  auto windows = std::make_shared<std::string>("0,500ms");
  auto policies = std::make_shared<std::string>("lru,lfu,fifo,cost");
  CLI::App* cmd = app.add_subcommand(
      "bench-swap", "more models than the budget holds under a seeded trace: TTFT, swaps and hit rate per swap window "
                    "and eviction policy (a benchmark that prints a markdown table)");
  cmd->add_option("--models", *models, "comma-separated GGUF files (at least two)")->required();
  cmd->add_option("--hold", o->hold, "the budget holds this many of the largest models")->capture_default_str();
  cmd->add_option("--requests", o->requests, "requests in the trace")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--seed", o->seed, "trace seed")->capture_default_str();
  cmd->add_option("--zipf", o->zipf, "popularity exponent")->capture_default_str();
  cmd->add_option("--burst", o->burst, "mean requests per burst")->capture_default_str();
  cmd->add_option("--burst-gap-ms", o->burst_gap_ms, "mean time between bursts")->capture_default_str();
  cmd->add_option("--in-burst-gap-ms", o->in_burst_gap_ms, "mean time between a burst's requests")
      ->capture_default_str();
  cmd->add_option("--max-tokens", o->max_tokens, "tokens per request")->capture_default_str();
  cmd->add_option("--windows", *windows, "swap windows to compare")->capture_default_str();
  cmd->add_option("--policies", *policies, "eviction policies to compare")->capture_default_str();
  cmd->add_option("--ctx", o->ctx, "context per sequence")->capture_default_str();
  cmd->add_option("--parallel", o->parallel, "sequences per model")->capture_default_str();
  cmd->add_option("--threads", o->threads, "compute threads")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--weights", o->weights, "map (in place, as serve's default) or copy")
      ->check(CLI::IsMember({"map", "copy"}))->capture_default_str();
  cmd->callback([o, models, windows, policies, &exit_code] {
    o->models = split_list(*models);
    o->windows = split_list(*windows);
    o->policies = split_list(*policies);
    exit_code = bench_swap(*o);
  });
}

}  // namespace hangar::cli
