// `hangar perplexity`: perplexity over a text, and KL divergence from a base model's distributions.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/clock.h"
#include "base/progress.h"
#include "cli/common.h"
#include "quant/quality.h"

namespace hangar::cli {
namespace {

struct PerplexityOptions {
  ModelOptions model;
  std::string text_path, kl_base;
  int chunks = 0;  // 0: every whole window of the text
  bool json = false;
  bool quiet = false;
};

Result<std::string> read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(path + ": cannot read the text file");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (ss.str().empty()) return Error(path + ": the text file is empty; expected text to score");
  return ss.str();
}

Result<std::unique_ptr<engine::Engine>> load(const std::string& path, int ctx, const ModelOptions& mo, ThreadPool& pool) {
  HANGAR_ASSIGN(engine::EngineOptions eo, mo.engine_options());
  eo.n_ctx = ctx;
  eo.batch_tokens = std::min(ctx, 512);
  HANGAR_ASSIGN(auto e, engine::Engine::load(path, eo, pool));
  if (e->n_ctx() < ctx)
    return Error("--ctx " + std::to_string(ctx) + " exceeds the context of " + path + " (" +
                 std::to_string(e->n_ctx()) + " tokens)");
  return e;
}

// Evaluates one window: the first half without logits, then the second half with the logits of
// every position (rows of n_vocab floats in `logits`).
Status eval_window(engine::Engine& e, std::span<const TokenId> window, size_t first, float* logits) {
  engine::Sequence seq;
  engine::EvalItem context{&seq, window.subspan(0, first), nullptr, false};
  Status st = e.eval({&context, 1});
  if (st.ok()) {
    engine::EvalItem scored{&seq, window.subspan(first), logits, true};
    st = e.eval({&scored, 1});
  }
  seq.release(e.kv_cache());
  return st;
}

int perplexity(const PerplexityOptions& o) {
  const int ctx = o.model.ctx;
  if (ctx < 4) return fail("--ctx: expected at least 4 tokens per window");
  auto text = read_text(o.text_path);
  if (!text.ok()) return fail(text.error().message());
  ThreadPool pool(o.model.resolved_threads());
  auto model = load(o.model.model_path, ctx, o.model, pool);
  if (!model.ok()) return fail(model.error().message());
  engine::Engine& e = **model;
  std::unique_ptr<engine::Engine> base;
  if (!o.kl_base.empty()) {
    auto b = load(o.kl_base, ctx, o.model, pool);
    if (!b.ok()) return fail(b.error().message());
    base = std::move(*b);
    if (base->n_vocab() != e.n_vocab())
      return fail("--kl-base: " + o.kl_base + " has " + std::to_string(base->n_vocab()) + " tokens but " +
                  o.model.model_path + " has " + std::to_string(e.n_vocab()) +
                  "; expected the same vocabulary");
  }

  // As llama-perplexity: tokenize the whole text once (with BOS when the vocabulary asks for it),
  // cut it into windows of ctx tokens whose first token becomes BOS, and score only the second
  // half of each window so that every scored token has at least ctx/2 tokens of context.
  const Tokenizer& tok = e.tokenizer();
  std::vector<TokenId> tokens = tok.encode(*text, true, false);
  size_t n_windows = tokens.size() / static_cast<size_t>(ctx);
  if (o.chunks > 0) n_windows = std::min(n_windows, static_cast<size_t>(o.chunks));
  if (n_windows == 0)
    return fail(o.text_path + ": " + std::to_string(tokens.size()) + " tokens; expected at least --ctx (" +
                std::to_string(ctx) + ")");
  const size_t first = static_cast<size_t>(ctx) / 2;
  const size_t n_rows = static_cast<size_t>(ctx) - first;
  const int32_t nv = e.n_vocab();
  std::vector<float> logits(n_rows * nv), base_logits(base ? n_rows * nv : 0);
  if (!o.quiet)
    std::fprintf(stderr, "perplexity: %zu tokens, %zu windows of %d, scoring %zu tokens per window%s\n",
                 tokens.size(), n_windows, ctx, n_rows - 1, base ? " (with KL divergence)" : "");

  // Windows done and the running figures, redrawn in place on a terminal only: the result is
  // the final estimate on stdout.
  SteadyClock clock;
  Progress bar(clock, std::cerr, !o.quiet && stderr_is_terminal(), "perplexity chunks");
  bar.set_total(double(n_windows));
  bar.update(0);
  quant::QualityAccumulator acc;
  Stopwatch sw;
  for (size_t w = 0; w < n_windows; ++w) {
    std::vector<TokenId> window(tokens.begin() + w * ctx, tokens.begin() + (w + 1) * ctx);
    if (tok.add_bos() && tok.bos() >= 0) window[0] = tok.bos();
    if (auto st = eval_window(e, window, first, logits.data()); !st.ok()) return fail(st.error().message());
    if (base)
      if (auto st = eval_window(*base, window, first, base_logits.data()); !st.ok())
        return fail(st.error().message());
    for (size_t j = 0; j + 1 < n_rows; ++j) {
      float* row = &logits[j * nv];
      quant::log_softmax_inplace(row, nv);
      float* base_row = base ? &base_logits[j * nv] : nullptr;
      if (base_row) quant::log_softmax_inplace(base_row, nv);
      acc.add(row, base_row, nv, window[first + j + 1]);
    }
    auto s = acc.summary();
    const double tps = double((w + 1) * ctx * (base ? 2 : 1)) / sw.elapsed_s();
    char note[160];
    if (base)
      std::snprintf(note, sizeof(note), "ppl %.4f  kl %.6f  same top %.2f%%  %.1f tokens/s", s.ppl, s.kl_mean,
                    100 * s.top1_agreement, tps);
    else
      std::snprintf(note, sizeof(note), "ppl %.4f  %.1f tokens/s", s.ppl, tps);
    bar.update(double(w + 1), note);
  }
  bar.finish();

  const auto s = acc.summary();
  if (o.json) {
    nlohmann::json j = {{"model", o.model.model_path}, {"text", o.text_path},  {"ctx", ctx},
                        {"windows", n_windows},        {"tokens", s.n_tokens}, {"ppl", s.ppl},
                        {"ppl_stderr", s.ppl_stderr}};
    if (s.has_base) {
      j["base"] = o.kl_base;
      j["base_ppl"] = s.base_ppl;
      j["base_ppl_stderr"] = s.base_ppl_stderr;
      j["kl_mean"] = s.kl_mean;
      j["kl_stderr"] = s.kl_stderr;
      j["kl_median"] = s.kl_median;
      j["kl_p99"] = s.kl_p99;
      j["kl_max"] = s.kl_max;
      j["top1_agreement"] = s.top1_agreement;
      j["top1_stderr"] = s.top1_stderr;
    }
    std::printf("%s\n", json_text(j).c_str());
    return 0;
  }
  std::printf("Final estimate: PPL = %.4f +/- %.4f  (%lld tokens in %zu windows of %d)\n", s.ppl,
              s.ppl_stderr, static_cast<long long>(s.n_tokens), n_windows, ctx);
  if (s.has_base) {
    std::printf("Base PPL:       %.4f +/- %.4f\n", s.base_ppl, s.base_ppl_stderr);
    std::printf("Mean KLD:       %.6f +/- %.6f\n", s.kl_mean, s.kl_stderr);
    std::printf("Median KLD:     %.6f   99%% KLD: %.6f   max KLD: %.6f\n", s.kl_median, s.kl_p99, s.kl_max);
    std::printf("Same top:       %.3f +/- %.3f %%\n", 100 * s.top1_agreement, 100 * s.top1_stderr);
  }
  return 0;
}

}  // namespace

void add_perplexity_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<PerplexityOptions>();
  opts->model.ctx = 512;
  CLI::App* cmd = app.add_subcommand("perplexity", "perplexity over a text; KL divergence from a base model");
  opts->model.add_to(*cmd);
  cmd->add_option("-f,--file", opts->text_path, "text file to score")->required();
  cmd->add_option("--kl-base", opts->kl_base,
                  "base model (e.g. the F16 original) to compare distributions with");
  cmd->add_option("--chunks", opts->chunks, "score at most this many windows (default: all)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--json", opts->json, "print one JSON object on stdout");
  cmd->add_flag("-q,--quiet", opts->quiet, "no header or progress line on stderr");
  cmd->callback([opts, &exit_code] { exit_code = perplexity(*opts); });
}

}  // namespace hangar::cli
