// Response pieces: ids, usage, timings and log-probabilities.
#include "api/response.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace hangar::api {
namespace {

Json bytes_json(const std::string& s) {
  Json b = Json::array();
  for (unsigned char c : s) b.push_back(static_cast<int>(c));
  return b;
}

double round3(double v) { return std::round(v * 1000.0) / 1000.0; }

}  // namespace

std::string make_response_id(const std::string& prefix) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char kHex[] = "0123456789abcdef";
  std::string id = prefix + "-";
  for (int i = 0; i < 24; ++i) id += kHex[rng() & 15];
  return id;
}

Json usage_json(int64_t prompt_tokens, int64_t completion_tokens, int64_t cached_tokens) {
  Json u;
  u["prompt_tokens"] = prompt_tokens;
  u["completion_tokens"] = completion_tokens;
  u["total_tokens"] = prompt_tokens + completion_tokens;
  u["prompt_tokens_details"] = {{"cached_tokens", cached_tokens}};
  return u;
}

Json timings_json(std::span<const engine::RequestTimings> timings) {
  int64_t cache_n = 0, cache_n_disk = 0, prompt_n = 0, predicted_n = 0, decoded_after_first = 0;
  double prompt_ms = 0, predicted_ms = 0;
  for (const auto& t : timings) {
    cache_n += t.cached_tokens;
    cache_n_disk += t.disk_tokens;
    prompt_n += t.prompt_tokens - t.cached_tokens;
    predicted_n += t.generated_tokens;
    decoded_after_first += std::max(0, t.generated_tokens - 1);
    prompt_ms = std::max(prompt_ms, t.prompt_ms);
    predicted_ms = std::max(predicted_ms, t.decode_ms);
  }
  Json j;
  j["cache_n"] = cache_n;
  j["cache_n_disk"] = cache_n_disk;  // of cache_n, restored from the disk store
  j["prompt_n"] = prompt_n;
  j["prompt_ms"] = round3(prompt_ms);
  j["prompt_per_token_ms"] = prompt_n > 0 ? round3(prompt_ms / double(prompt_n)) : 0.0;
  j["prompt_per_second"] = prompt_ms > 0 ? round3(double(prompt_n) * 1e3 / prompt_ms) : 0.0;
  j["predicted_n"] = predicted_n;
  j["predicted_ms"] = round3(predicted_ms);
  j["predicted_per_token_ms"] = decoded_after_first > 0 ? round3(predicted_ms / double(decoded_after_first)) : 0.0;
  j["predicted_per_second"] =
      predicted_ms > 0 && decoded_after_first > 0 ? round3(double(decoded_after_first) * 1e3 / predicted_ms) : 0.0;
  return j;
}

bool step_is_content(const engine::StepOutput& step, const Tokenizer& tok, bool ignore_eos) {
  return !(step.finished && !ignore_eos && step.token >= 0 && tok.is_eog(step.token));
}

Json chat_logprobs_json(const Tokenizer& tok, std::span<const engine::TokenLogprob> lps) {
  Json content = Json::array();
  for (const auto& lp : lps) {
    const std::string piece = tok.token_to_piece(lp.token, /*special=*/true);
    Json e;
    e["token"] = piece;
    e["logprob"] = lp.logprob;
    e["bytes"] = bytes_json(piece);
    Json top = Json::array();
    for (const auto& [id, logprob] : lp.top) {
      const std::string p = tok.token_to_piece(id, true);
      top.push_back({{"token", p}, {"logprob", logprob}, {"bytes", bytes_json(p)}});
    }
    e["top_logprobs"] = std::move(top);
    content.push_back(std::move(e));
  }
  return {{"content", std::move(content)}};
}

namespace {

// The four parallel arrays of a completions logprobs object, built token by token.
class CompletionLogprobs {
 public:
  // special: whether special tokens show their text (generated tokens) or none (an echoed
  // prompt, whose text has no such markers).
  CompletionLogprobs(const Tokenizer& tok, size_t text_offset, bool special)
      : tok_(tok), offset_(text_offset), special_(special) {}

  void add(int32_t id, Json logprob, Json alternatives) {
    const std::string piece = tok_.token_to_piece(id, special_);
    tokens_.push_back(piece);
    token_logprobs_.push_back(std::move(logprob));
    top_.push_back(std::move(alternatives));
    offsets_.push_back(offset_);
    offset_ += piece.size();
  }
  void add(const engine::TokenLogprob& lp) {
    Json t = Json::object();
    for (const auto& [id, logprob] : lp.top) t[tok_.token_to_piece(id, true)] = logprob;
    add(lp.token, lp.logprob, std::move(t));
  }
  Json json() && {
    Json j;
    j["tokens"] = std::move(tokens_);
    j["token_logprobs"] = std::move(token_logprobs_);
    j["top_logprobs"] = std::move(top_);
    j["text_offset"] = std::move(offsets_);
    return j;
  }

 private:
  const Tokenizer& tok_;
  size_t offset_;
  bool special_;
  Json tokens_ = Json::array(), token_logprobs_ = Json::array(), top_ = Json::array(), offsets_ = Json::array();
};

}  // namespace

Json completion_logprobs_json(const Tokenizer& tok, std::span<const engine::TokenLogprob> lps,
                              size_t text_offset) {
  CompletionLogprobs out(tok, text_offset, /*special=*/true);
  for (const auto& lp : lps) out.add(lp);
  return std::move(out).json();
}

Json completion_prompt_logprobs_json(const Tokenizer& tok, int32_t first_token,
                                     std::span<const engine::TokenLogprob> lps) {
  CompletionLogprobs out(tok, 0, /*special=*/false);
  out.add(first_token, nullptr, nullptr);
  for (const auto& lp : lps) out.add(lp);
  return std::move(out).json();
}

Json concat_completion_logprobs(Json a, const Json& b) {
  for (const char* field : {"tokens", "token_logprobs", "top_logprobs", "text_offset"})
    for (const auto& v : b[field]) a[field].push_back(v);
  return a;
}

const char* finish_reason_json(engine::FinishReason reason) {
  return reason == engine::FinishReason::kLength ? "length" : "stop";
}

}  // namespace hangar::api
