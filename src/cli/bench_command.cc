// `hangar bench`: prompt-processing and decode throughput, like llama-bench's pp512 / tg128.
#include <cmath>
#include <cstdio>
#include <random>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "cli/common.h"

namespace hangar::cli {
namespace {

struct BenchOptions {
  ModelOptions model;
  int n_prompt = 512;
  int n_gen = 128;
  int reps = 3;
  bool json = false;
  bool profile = false;
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

int bench(const BenchOptions& o) {
  const int threads = o.model.resolved_threads();
  ThreadPool pool(threads);
  engine::EngineOptions eo;
  eo.n_ctx = std::max(o.n_prompt, o.n_gen) + 1;
  eo.batch_tokens = std::max(1, std::min(o.n_prompt, 512));
  auto loaded = engine::Engine::load(o.model.model_path, eo, pool);
  if (!loaded.ok()) return fail(loaded.error().message());
  engine::Engine& e = **loaded;
  if (e.n_ctx() < eo.n_ctx) return fail("the model's context is smaller than the benchmark needs");
  Profiler profiler;
  std::mt19937 rng(1234);
  // Warm-up: fault the weights in and let the clocks settle.
  if (o.n_prompt > 0) (void)run_prompt(e, std::min(o.n_prompt, 32), rng);
  if (o.n_gen > 0) (void)run_decode(e, 4, rng);
  if (o.profile) e.set_profiler(&profiler);

  std::vector<double> pp, tg;
  for (int r = 0; r < o.reps; ++r) {
    if (o.n_prompt > 0) {
      auto v = run_prompt(e, o.n_prompt, rng);
      if (!v.ok()) return fail(v.error().message());
      pp.push_back(*v);
    }
    if (o.n_gen > 0) {
      auto v = run_decode(e, o.n_gen, rng);
      if (!v.ok()) return fail(v.error().message());
      tg.push_back(*v);
    }
  }
  Stats p = stats(pp), g = stats(tg);
  const double gb_per_token = e.model().bytes_per_token() / 1e9;
  if (o.json) {
    nlohmann::json j = {{"model", o.model.model_path}, {"threads", threads}, {"n_prompt", o.n_prompt},
                        {"n_gen", o.n_gen}, {"reps", o.reps}, {"pp_tps", p.mean}, {"pp_stddev", p.stddev},
                        {"tg_tps", g.mean}, {"tg_stddev", g.stddev},
                        {"bytes_per_token", e.model().bytes_per_token()},
                        {"tg_read_gbps", g.mean * gb_per_token}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("model: %s, threads: %d\n", o.model.model_path.c_str(), threads);
    if (o.n_prompt > 0) std::printf("pp%d: %8.2f ± %.2f tokens/s\n", o.n_prompt, p.mean, p.stddev);
    if (o.n_gen > 0)
      std::printf("tg%d: %8.2f ± %.2f tokens/s  (%.1f MB read per token, %.2f GB/s)\n", o.n_gen, g.mean,
                  g.stddev, gb_per_token * 1e3, g.mean * gb_per_token);
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
  cmd->add_flag("--json", opts->json, "print one JSON object");
  cmd->add_flag("--profile", opts->profile, "print a per-op time breakdown to stderr");
  cmd->callback([opts, &exit_code] { exit_code = bench(*opts); });
}

}  // namespace hangar::cli
