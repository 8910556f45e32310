// `hangar run`: generate a continuation of a prompt, streamed to stdout.
#include <cstdio>

#include "base/clock.h"
#include "cli/common.h"
#include "engine/generation.h"

namespace hangar::cli {
namespace {

struct RunOptions {
  ModelOptions model;
  std::string prompt;
  int n_predict = 128;
  float temp = 0.8f;
  uint64_t seed = kRandomSeed;
  int top_k = 40;
  float top_p = 0.95f;
  float min_p = 0.05f;
  float repeat_penalty = 1.0f;
};

int run(const RunOptions& o) {
  ThreadPool pool(o.model.resolved_threads());
  Result<engine::EngineOptions> opts = o.model.engine_options();
  if (!opts.ok()) return fail(opts.error().message());
  engine::EngineOptions eo = *opts;
  auto loaded = engine::Engine::load(o.model.model_path, eo, pool);
  if (!loaded.ok()) return fail(loaded.error().message());
  engine::Engine& e = **loaded;
  const Tokenizer& tok = e.tokenizer();

  std::vector<TokenId> prompt = tok.encode(o.prompt, /*add_special=*/true, /*parse_special=*/true);
  if (prompt.empty()) return fail("the prompt is empty and the model adds no BOS token");
  if (static_cast<int32_t>(prompt.size()) >= e.n_ctx())
    return fail("the prompt has " + std::to_string(prompt.size()) + " tokens, which does not fit the context of " +
                std::to_string(e.n_ctx()) + " tokens (use --ctx)");

  engine::GenerationParams gp;
  gp.max_tokens = o.n_predict;
  gp.sampling.temperature = o.temp;
  gp.sampling.seed = o.seed;
  gp.sampling.top_k = o.top_k;
  gp.sampling.top_p = o.top_p;
  gp.sampling.min_p = o.min_p;
  gp.sampling.repeat_penalty = o.repeat_penalty;
  if (auto st = validate_sampling_params(gp.sampling, e.n_vocab()); !st.ok())
    return fail(st.error().message());
  engine::GenerationState gen(tok, gp, e.n_vocab());
  gen.accept_prompt(prompt);

  engine::Sequence seq;
  std::vector<float> logits(e.n_vocab());
  Stopwatch prompt_time;
  engine::EvalItem item{&seq, prompt, logits.data()};
  if (auto st = e.eval({&item, 1}); !st.ok()) return fail(st.error().message());
  const double prompt_s = prompt_time.elapsed_s();

  Stopwatch decode_time;
  int32_t n_decoded = 0;
  while (!gen.finished()) {
    engine::StepOutput out = gen.step(logits.data(), e.n_ctx() - seq.n_past());
    if (!out.text.empty()) {
      std::fwrite(out.text.data(), 1, out.text.size(), stdout);
      std::fflush(stdout);
    }
    if (out.finished) break;
    TokenId next = out.token;
    engine::EvalItem step{&seq, {&next, 1}, logits.data()};
    if (auto st = e.eval({&step, 1}); !st.ok()) return fail(st.error().message());
    ++n_decoded;
  }
  const double decode_s = decode_time.elapsed_s();
  std::fputc('\n', stdout);
  std::fflush(stdout);
  std::fprintf(stderr, "prompt: %zu tokens in %.1f ms, %.2f tokens/s\n", prompt.size(), prompt_s * 1e3,
               prompt.size() / prompt_s);
  std::fprintf(stderr, "decode: %d tokens in %.1f ms, %.2f tokens/s (%s)\n", gen.n_generated(),
               decode_s * 1e3, n_decoded > 0 ? n_decoded / decode_s : 0.0,
               engine::finish_reason_name(gen.reason()));
  seq.release(e.kv_cache());
  return 0;
}

}  // namespace

void add_run_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "generate a continuation of a prompt, streamed to stdout");
  opts->model.add_to(*cmd);
  cmd->add_option("-p,--prompt", opts->prompt, "prompt text")->required();
  cmd->add_option("-n,--n-predict", opts->n_predict, "tokens to generate (-1: until end or context full)")
      ->check(CLI::Range(-1, 1 << 30));
  cmd->add_option("--temp", opts->temp, "temperature (0: greedy)")->check(CLI::Range(0.0f, 100.0f));
  cmd->add_option("--seed", opts->seed, "sampling seed (default: random)");
  cmd->add_option("--top-k", opts->top_k, "top-k (0: off)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-p", opts->top_p, "top-p (1: off)")->check(CLI::Range(0.0f, 1.0f));
  cmd->add_option("--min-p", opts->min_p, "min-p (0: off)")->check(CLI::Range(0.0f, 1.0f));
  cmd->add_option("--repeat-penalty", opts->repeat_penalty, "repetition penalty (1: off)")
      ->check(CLI::PositiveNumber);
  cmd->callback([opts, &exit_code] { exit_code = run(*opts); });
}

}  // namespace hangar::cli
