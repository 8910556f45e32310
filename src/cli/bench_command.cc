// `hangar bench`: prompt-processing and decode throughput, like llama-bench's pp512 / tg128.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <random>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/mapped_file.h"
#include "base/progress.h"
#include "cli/common.h"

namespace hangar::cli {
namespace {

struct BenchOptions {
  ModelOptions model;
  int n_prompt = 512;
  int n_gen = 128;
  std::vector<int> batches;  // concurrent sequences for the batched decode tests (empty: skip)
  int batch_prompt = 128;
  int batch_gen = 64;
  int reps = 3;
  bool json = false;
  bool profile = false;
  bool quiet = false;
  int switches = 0;  // GPU: times the model goes to host memory and back (--switch)
};

struct Stats {
  double mean = 0, stddev = 0;
};

Stats stats(const std::vector<double>& v) {
  Stats s;
  if (v.empty()) return s;
  for (double x : v) s.mean += x;
  s.mean /= v.size();
  for (double x : v) s.stddev += (x - s.mean) * (x - s.mean);
  s.stddev = v.size() > 1 ? std::sqrt(s.stddev / (v.size() - 1)) : 0;
  return s;
}

// Tokens per second of evaluating `n` random tokens as one prompt.
Result<double> run_prompt(engine::Engine& e, int n, std::mt19937& rng) {
  std::uniform_int_distribution<int32_t> dist(0, e.n_vocab() - 1);
  std::vector<TokenId> tokens(n);
  for (auto& t : tokens) t = dist(rng);
  std::vector<float> logits(e.n_vocab());
  engine::Sequence seq;
  Stopwatch sw;
  engine::EvalItem item{&seq, tokens, logits.data()};
  Status st = e.eval({&item, 1});
  double s = sw.elapsed_s();
  seq.release(e.kv_cache());
  if (!st.ok()) return st.error();
  return n / s;
}

// Tokens per second of decoding `n` tokens one at a time from an empty context.
Result<double> run_decode(engine::Engine& e, int n, std::mt19937& rng) {
  std::uniform_int_distribution<int32_t> dist(0, e.n_vocab() - 1);
  std::vector<float> logits(e.n_vocab());
  engine::Sequence seq;
  Stopwatch sw;
  for (int i = 0; i < n; ++i) {
    TokenId t = dist(rng);
    engine::EvalItem item{&seq, {&t, 1}, logits.data()};
    if (Status st = e.eval({&item, 1}); !st.ok()) {
      seq.release(e.kv_cache());
      return st.error();
    }
  }
  double s = sw.elapsed_s();
  seq.release(e.kv_cache());
  return n / s;
}

// Aggregate decode tokens/s of `n_seq` sequences decoding together after `n_prompt`-token prompts
// (llama-batched-bench's S_TG for -npp n_prompt -ntg n_gen -npl n_seq).
Result<double> run_batched_decode(engine::Engine& e, int n_seq, int n_prompt, int n_gen, std::mt19937& rng) {
  std::uniform_int_distribution<int32_t> dist(0, e.n_vocab() - 1);
  std::vector<engine::Sequence> seqs(n_seq);
  std::vector<std::vector<TokenId>> prompts(n_seq, std::vector<TokenId>(n_prompt));
  std::vector<float> logits(static_cast<size_t>(e.n_vocab()) * n_seq);
  auto release = [&] {
    for (auto& s : seqs) s.release(e.kv_cache());
  };
  std::vector<engine::EvalItem> items;
  for (int i = 0; i < n_seq; ++i) {
    for (auto& t : prompts[i]) t = dist(rng);
    items.push_back({&seqs[i], prompts[i], &logits[static_cast<size_t>(i) * e.n_vocab()]});
  }
  if (Status st = e.eval(items); !st.ok()) {
    release();
    return st.error();
  }
  std::vector<TokenId> next(n_seq);
  Stopwatch sw;
  for (int step = 0; step < n_gen; ++step) {
    items.clear();
    for (int i = 0; i < n_seq; ++i) {
      next[i] = dist(rng);
      items.push_back({&seqs[i], {&next[i], 1}, &logits[static_cast<size_t>(i) * e.n_vocab()]});
    }
    if (Status st = e.eval(items); !st.ok()) {
      release();
      return st.error();
    }
  }
  double s = sw.elapsed_s();
  release();
  return static_cast<double>(n_seq) * n_gen / s;
}

// A GPU model's return from host memory, as a request would meet it after the model was
// evicted from the GPU: reload (the copy back) then the first token of a 16-token prompt.
struct SwitchTimes {
  std::vector<double> reload_ms, first_token_ms;
};
Result<SwitchTimes> run_switches(engine::Engine& e, int n, std::mt19937& rng) {
  std::uniform_int_distribution<int32_t> dist(0, e.n_vocab() - 1);
  std::vector<float> logits(e.n_vocab());
  SwitchTimes t;
  for (int i = 0; i < n; ++i) {
    HANGAR_TRY(e.offload());
    std::vector<TokenId> prompt(16);
    for (auto& tok : prompt) tok = dist(rng);
    Stopwatch sw;
    HANGAR_TRY(e.reload());
    const double reloaded = sw.elapsed_ms();
    engine::Sequence seq;
    engine::EvalItem item{&seq, prompt, logits.data()};
    Status st = e.eval({&item, 1});
    const double first = sw.elapsed_ms();
    seq.release(e.kv_cache());
    HANGAR_TRY(st);
    t.reload_ms.push_back(reloaded);
    t.first_token_ms.push_back(first);
  }
  return t;
}

// Read bandwidth of this machine with `pool`'s threads: the best of a few passes summing a
// buffer far larger than the caches, in GB/s. The buffer is the same kind of memory as the
// weights (huge pages, as the copy has and a map of the file in huge-page folios), so the
// percentage compares like with like.
double measure_read_bandwidth(ThreadPool& pool, bool huge_pages) {
  const size_t n = (size_t{1} << 30) / sizeof(uint64_t);  // 1 GiB
  std::vector<uint64_t> small;
  HugePageBuffer huge;
  uint64_t* buf = nullptr;
  if (huge_pages) {
    auto b = HugePageBuffer::allocate(n * sizeof(uint64_t));
    if (b.ok()) {
      huge = std::move(*b);
      buf = reinterpret_cast<uint64_t*>(huge.data());
    }
  }
  if (!buf) {
    small.resize(n);
    buf = small.data();
  }
  pool.parallel_for(static_cast<int64_t>(n), 1 << 20, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) buf[i] = static_cast<uint64_t>(i);
  });
  double best = 0;
  std::atomic<uint64_t> sink{0};
  for (int pass = 0; pass < 3; ++pass) {
    Stopwatch sw;
    pool.parallel_for(static_cast<int64_t>(n), 1 << 20, [&](int64_t b, int64_t e, int) {
      uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
      int64_t i = b;
      for (; i + 4 <= e; i += 4) {
        a0 += buf[i];
        a1 += buf[i + 1];
        a2 += buf[i + 2];
        a3 += buf[i + 3];
      }
      for (; i < e; ++i) a0 += buf[i];
      sink.fetch_add(a0 + a1 + a2 + a3, std::memory_order_relaxed);
    });
    best = std::max(best, n * sizeof(uint64_t) / sw.elapsed_s() / 1e9);
  }
  return best;
}

int bench(const BenchOptions& o) {
  const int threads = o.model.resolved_threads();
  ThreadPool pool(threads);
  Result<engine::EngineOptions> opts = o.model.engine_options();
  if (!opts.ok()) return fail(opts.error().message());
  engine::EngineOptions eo = *opts;
  const int max_batch = o.batches.empty() ? 0 : *std::max_element(o.batches.begin(), o.batches.end());
  eo.n_ctx = std::max({o.n_prompt, o.n_gen, max_batch > 0 ? o.batch_prompt + o.batch_gen : 0}) + 1;
  eo.n_seq = std::max(1, max_batch);
  eo.batch_tokens = std::max({1, max_batch, std::min(std::max(o.n_prompt, o.batch_prompt), 512)});
  auto loaded = engine::Engine::load(o.model.model_path, eo, pool);
  if (!loaded.ok()) return fail(loaded.error().message());
  engine::Engine& e = **loaded;
  e.prefault_weights();  // as the server does: mapped weights in huge-page folios before timing
  if (e.n_ctx() < eo.n_ctx) return fail("the model's context is smaller than the benchmark needs");
  Profiler profiler;
  std::mt19937 rng(1234);
  // Warm-up: fault the weights in and let the clocks settle.
  if (o.n_prompt > 0) (void)run_prompt(e, std::min(o.n_prompt, 32), rng);
  if (o.n_gen > 0) (void)run_decode(e, 4, rng);
  if (o.profile) e.set_profiler(&profiler);

  // Which test runs now, on a terminal only: the figures are printed at the end.
  SteadyClock clock;
  Progress bar(clock, std::cerr, !o.quiet && stderr_is_terminal(), "bench runs");
  const int tests = (o.n_prompt > 0) + (o.n_gen > 0) + static_cast<int>(o.batches.size());
  bar.set_total(double(tests * o.reps));
  int runs_done = 0;
  auto running = [&](const std::string& test, int r) {
    bar.update(double(runs_done++), test + " run " + std::to_string(r + 1) + "/" + std::to_string(o.reps),
               /*now=*/true);
  };
  std::vector<double> pp, tg;
  for (int r = 0; r < o.reps; ++r) {
    if (o.n_prompt > 0) {
      running("pp" + std::to_string(o.n_prompt), r);
      auto v = run_prompt(e, o.n_prompt, rng);
      if (!v.ok()) return fail(v.error().message());
      pp.push_back(*v);
    }
    if (o.n_gen > 0) {
      running("tg" + std::to_string(o.n_gen), r);
      auto v = run_decode(e, o.n_gen, rng);
      if (!v.ok()) return fail(v.error().message());
      tg.push_back(*v);
    }
  }
  std::vector<Stats> btg;
  for (int batch : o.batches) {
    std::vector<double> v;
    (void)run_batched_decode(e, batch, 8, 2, rng);  // warm-up
    for (int r = 0; r < o.reps; ++r) {
      running("batched decode x" + std::to_string(batch), r);
      auto t = run_batched_decode(e, batch, o.batch_prompt, o.batch_gen, rng);
      if (!t.ok()) return fail(t.error().message());
      v.push_back(*t);
    }
    btg.push_back(stats(v));
  }
  SwitchTimes sw;
  if (o.switches > 0) {
    bar.update(double(runs_done), "timing " + std::to_string(o.switches) + " switches", /*now=*/true);
    auto t = run_switches(e, o.switches, rng);
    if (!t.ok()) return fail(t.error().message());
    sw = *t;
  }
  if (o.n_gen > 0) bar.update(double(runs_done), "measuring read bandwidth", /*now=*/true);
  Stats p = stats(pp), g = stats(tg);
  const double gb_per_token = e.model().bytes_per_token() / 1e9;
  // On the GPU: the card's copy bandwidth (bytes read plus written), against the weights read.
  const bool gpu = e.device() != model::Device::kCpu;
  double bandwidth = 0;
  if (o.n_gen > 0) {
    if (!gpu) {
      bandwidth = measure_read_bandwidth(pool, true);
    } else {
      Result<double> bw = e.backend().memory_bandwidth_gbps();
      if (bw.ok()) bandwidth = *bw;
    }
  }
  bar.finish();
  const double bw_share = bandwidth > 0 ? 100.0 * g.mean * gb_per_token / bandwidth : 0;
  if (o.json) {
    nlohmann::json j = {{"model", o.model.model_path}, {"threads", threads}, {"n_prompt", o.n_prompt},
                        {"n_gen", o.n_gen}, {"reps", o.reps}, {"pp_tps", p.mean}, {"pp_stddev", p.stddev},
                        {"tg_tps", g.mean}, {"tg_stddev", g.stddev},
                        {"bytes_per_token", e.model().bytes_per_token()},
                        {"tg_read_gbps", g.mean * gb_per_token}, {"read_bandwidth_gbps", bandwidth},
                        {"tg_bandwidth_percent", bw_share}};
    j["device"] = model::device_name(e.device());
    for (size_t i = 0; i < o.batches.size(); ++i)
      j["batched"].push_back({{"sequences", o.batches[i]}, {"tg_tps", btg[i].mean}, {"tg_stddev", btg[i].stddev}});
    if (o.switches > 0)
      j["switch"] = {{"reload_ms", stats(sw.reload_ms).mean}, {"first_token_ms", stats(sw.first_token_ms).mean},
                     {"first_token_ms_max", *std::max_element(sw.first_token_ms.begin(), sw.first_token_ms.end())}};
    if (!o.batches.empty()) {  // the first (or only) batch size, as before lists were accepted
      j["batch"] = o.batches[0];
      j["batch_tg_tps"] = btg[0].mean;
      j["batch_tg_stddev"] = btg[0].stddev;
    }
    std::printf("%s\n", json_text(j).c_str());
  } else {
    if (gpu) std::printf("model: %s, device: %s\n", o.model.model_path.c_str(), e.backend().description().c_str());
    else std::printf("model: %s, threads: %d\n", o.model.model_path.c_str(), threads);
    if (o.n_prompt > 0) std::printf("pp%d: %8.2f ± %.2f tokens/s\n", o.n_prompt, p.mean, p.stddev);
    if (o.n_gen > 0)
      std::printf("tg%d: %8.2f ± %.2f tokens/s  (%.1f MB read per token, %.2f GB/s = %.0f%% of the "
                  "measured %.2f GB/s %s bandwidth)\n",
                  o.n_gen, g.mean, g.stddev, gb_per_token * 1e3, g.mean * gb_per_token, bw_share, bandwidth,
                  gpu ? "GPU copy" : "read");
    for (size_t i = 0; i < o.batches.size(); ++i)
      std::printf("batched decode, %d sequences (pp%d, tg%d each): %8.2f ± %.2f tokens/s aggregate\n", o.batches[i],
                  o.batch_prompt, o.batch_gen, btg[i].mean, btg[i].stddev);
  }
  if (o.switches > 0 && !o.json) {
    const Stats r = stats(sw.reload_ms), f = stats(sw.first_token_ms);
    std::printf("switch from host memory (%d times): reload %.1f ± %.1f ms, first token %.1f ± %.1f ms "
                "(%.2f GB of weights)\n",
                o.switches, r.mean, r.stddev, f.mean, f.stddev, static_cast<double>(e.model().weight_bytes()) / 1e9);
  }
  if (o.profile) std::fprintf(stderr, "%s", profiler.report().c_str());
  return 0;
}

}  // namespace

void add_bench_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand("bench", "measure prompt processing and decode tokens/s");
  opts->model.add_to(*cmd, /*with_ctx=*/false);
  cmd->add_option("-p,--n-prompt", opts->n_prompt, "prompt tokens (0: skip)")->check(CLI::Range(0, 1 << 20));
  cmd->add_option("-n,--n-gen", opts->n_gen, "generated tokens (0: skip)")->check(CLI::Range(0, 1 << 20));
  cmd->add_option("-r,--repetitions", opts->reps, "repetitions")->check(CLI::Range(1, 1000));
  cmd->add_option("--batch", opts->batches,
                  "also decode this many sequences together (aggregate tokens/s); a comma-separated list runs each")
      ->delimiter(',')
      ->check(CLI::Range(1, 256));
  cmd->add_option("--batch-prompt", opts->batch_prompt, "prompt tokens per sequence for --batch")
      ->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--batch-gen", opts->batch_gen, "tokens generated per sequence for --batch")
      ->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--switch", opts->switches,
                  "GPU: move the model to host memory and back N times, timing the reload and the first token")
      ->check(CLI::Range(0, 100));
  cmd->add_flag("--json", opts->json, "print one JSON object");
  cmd->add_flag("--profile", opts->profile, "print a per-op time breakdown to stderr");
  cmd->add_flag("-q,--quiet", opts->quiet, "no progress line on stderr");
  cmd->callback([opts, &exit_code] { exit_code = bench(*opts); });
}

}  // namespace hangar::cli
