// `hangar score`: teacher-forced scoring; the top-K next tokens with log-probabilities per position.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "sampling/logprobs.h"

namespace hangar::cli {
namespace {

struct ScoreOptions {
  ModelOptions model;
  std::string tokens;
  int top = 5;
};

Result<std::vector<TokenId>> parse_token_list(const std::string& s) {
  std::vector<TokenId> ids;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    std::string item = s.substr(i, j - i);
    char* end = nullptr;
    long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < 0 || v > INT32_MAX)
      return Error("--tokens: \"" + item + "\" is not a token id (expected comma-separated integers)");
    ids.push_back(static_cast<TokenId>(v));
    i = j + 1;
  }
  if (ids.empty()) return Error("--tokens: expected at least one token id");
  return ids;
}

int score(const ScoreOptions& o) {
  auto ids = parse_token_list(o.tokens);
  if (!ids.ok()) return fail(ids.error().message());
  ThreadPool pool(o.model.resolved_threads());
  Result<engine::EngineOptions> opts = o.model.engine_options();
  if (!opts.ok()) return fail(opts.error().message());
  engine::EngineOptions eo = *opts;
  eo.n_ctx = std::max<int32_t>(o.model.ctx, static_cast<int32_t>(ids->size()));
  eo.batch_tokens = 64;
  auto loaded = engine::Engine::load(o.model.model_path, eo, pool);
  if (!loaded.ok()) return fail(loaded.error().message());
  engine::Engine& e = **loaded;
  const int32_t nv = e.n_vocab();
  engine::Sequence seq;
  nlohmann::json top = nlohmann::json::array();
  // Evaluate in chunks so that the logits buffer stays at chunk x n_vocab floats.
  const size_t chunk = static_cast<size_t>(eo.batch_tokens);
  std::vector<float> logits(chunk * nv);
  for (size_t start = 0; start < ids->size(); start += chunk) {
    size_t n = std::min(chunk, ids->size() - start);
    engine::EvalItem item{&seq, std::span<const TokenId>(ids->data() + start, n), logits.data(), true};
    if (auto st = e.eval({&item, 1}); !st.ok()) return fail(st.error().message());
    for (size_t i = 0; i < n; ++i) {
      nlohmann::json row = nlohmann::json::array();
      for (const auto& [id, lp] : top_logprobs(&logits[i * nv], nv, o.top)) row.push_back({id, lp});
      top.push_back(std::move(row));
    }
  }
  seq.release(e.kv_cache());
  std::printf("%s\n", nlohmann::json{{"top", top}}.dump().c_str());
  return 0;
}

}  // namespace

void add_score_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<ScoreOptions>();
  CLI::App* cmd = app.add_subcommand("score", "teacher-forced scoring of a token sequence");
  opts->model.add_to(*cmd);
  cmd->add_option("--tokens", opts->tokens, "comma-separated token ids")->required();
  cmd->add_option("--top", opts->top, "how many of the most likely next tokens to print per position")
      ->check(CLI::Range(1, 1000));
  cmd->callback([opts, &exit_code] { exit_code = score(*opts); });
}

}  // namespace hangar::cli
