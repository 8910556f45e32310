// Request parsing for /v1/chat/completions and /v1/completions.
#include "api/request.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "api/json_fields.h"
#include "api/structured_output.h"
#include "manager/units.h"
#include "sampling/sampler.h"

namespace hangar::api {
namespace {

constexpr int kMaxChoices = 16;      // n
constexpr int kMaxTopLogprobs = 20;  // OpenAI's limit for chat; also ours for completions
constexpr int kMaxStops = 16;
constexpr int64_t kMaxTokensLimit = int64_t{1} << 30;

MaybeError parse_stop(const Json& body, std::vector<std::string>* out) {
  auto it = body.find("stop");
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) {
    if (!it->get<std::string>().empty()) out->push_back(it->get<std::string>());
    return std::nullopt;
  }
  if (!it->is_array())
    return bad_request("stop", "'stop' must be a string or an array of strings, got " + json_type_name(*it));
  if (it->size() > kMaxStops)
    return bad_request("stop", "'stop' may hold at most " + std::to_string(kMaxStops) + " strings, got " +
                                   std::to_string(it->size()));
  for (size_t i = 0; i < it->size(); ++i) {
    const Json& s = (*it)[i];
    if (!s.is_string())
      return bad_request("stop", "'stop[" + std::to_string(i) + "]' must be a string, got " + json_type_name(s));
    if (!s.get<std::string>().empty()) out->push_back(s.get<std::string>());
  }
  return std::nullopt;
}

MaybeError parse_logit_bias(const Json& body, SamplingParams* sp) {
  auto it = body.find("logit_bias");
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_object())
    return bad_request("logit_bias", "'logit_bias' must be an object mapping token ids to numbers, got " +
                                         json_type_name(*it));
  for (auto kv = it->begin(); kv != it->end(); ++kv) {
    const std::string& key = kv.key();
    // Canonical decimal only: " 1", "+1" or "01" would name token 1 too, and a client that
    // sends them has probably made a mistake.
    const bool canonical = !key.empty() && key.size() <= 10 && (key == "0" || key[0] != '0') &&
                           std::all_of(key.begin(), key.end(), [](char c) { return c >= '0' && c <= '9'; });
    const long long id = canonical ? std::stoll(key) : -1;
    if (id < 0 || id > std::numeric_limits<int32_t>::max())
      return bad_request("logit_bias", "'logit_bias' keys must be token ids written as decimal integers (no sign, "
                                       "spaces or leading zeros), got \"" + key + "\"");
    if (!kv.value().is_number())
      return bad_request("logit_bias", "'logit_bias[\"" + key + "\"]' must be a number, got " +
                                           json_type_name(kv.value()));
    const double b = kv.value().get<double>();
    if (!(b >= -100 && b <= 100))
      return bad_request("logit_bias", "'logit_bias[\"" + key + "\"]' must be between -100 and 100");
    // OpenAI: -100 should ban the token, which a plain -100 on a logit may not.
    const float bias = b <= -100 ? -std::numeric_limits<float>::infinity() : static_cast<float>(b);
    sp->logit_bias.emplace_back(static_cast<int32_t>(id), bias);
  }
  return std::nullopt;
}

MaybeError parse_common(const Json& body, CommonParams* out) {
  FieldReader f(body);
  SamplingParams& sp = out->gen.sampling;
  HANGAR_API_TRY(f.number("temperature", 0, 2, &sp.temperature));
  HANGAR_API_TRY(f.number("top_p", 0, 1, &sp.top_p));
  HANGAR_API_TRY(f.number("presence_penalty", -2, 2, &sp.presence_penalty));
  HANGAR_API_TRY(f.number("frequency_penalty", -2, 2, &sp.frequency_penalty));
  // llama.cpp's extensions.
  HANGAR_API_TRY(f.integer("top_k", 0, std::numeric_limits<int32_t>::max(), &sp.top_k));
  HANGAR_API_TRY(f.number("min_p", 0, 1, &sp.min_p));
  HANGAR_API_TRY(f.number("repeat_penalty", 0, 100, &sp.repeat_penalty));
  if (f.has("repeat_penalty") && sp.repeat_penalty <= 0)
    return bad_request("repeat_penalty", "'repeat_penalty' must be greater than 0");
  HANGAR_API_TRY(f.integer("repeat_last_n", -1, std::numeric_limits<int32_t>::max(), &sp.repeat_last_n));
  HANGAR_API_TRY(f.boolean("ignore_eos", &out->gen.ignore_eos));
  if (f.has("seed")) {
    const Json& s = f.at("seed");
    if (!s.is_number_integer())
      return bad_request("seed", "'seed' must be an integer, got " + json_type_name(s));
    if (s.is_number_unsigned()) {
      sp.seed = s.get<uint64_t>();
    } else if (s.get<int64_t>() == -1) {
      sp.seed = kRandomSeed;  // llama.cpp: -1 asks for a random seed
    } else if (s.get<int64_t>() < 0) {
      return bad_request("seed", "'seed' must be -1 (random) or a non-negative integer, got " +
                                     std::to_string(s.get<int64_t>()));
    } else {
      sp.seed = static_cast<uint64_t>(s.get<int64_t>());
    }
  }
  HANGAR_API_TRY(parse_logit_bias(body, &sp));
  // max_completion_tokens replaced max_tokens in OpenAI's chat API; it wins when both are set.
  int64_t max_tokens = -1;
  HANGAR_API_TRY(f.integer("max_tokens", 1, kMaxTokensLimit, &max_tokens));
  HANGAR_API_TRY(f.integer("max_completion_tokens", 1, kMaxTokensLimit, &max_tokens));
  out->gen.max_tokens = static_cast<int32_t>(max_tokens);
  HANGAR_API_TRY(parse_stop(body, &out->gen.stop));
  HANGAR_API_TRY(f.integer("n", 1, kMaxChoices, &out->n));
  if (f.has("best_of")) {
    int64_t best_of = 1;
    HANGAR_API_TRY(f.integer("best_of", 1, kMaxChoices, &best_of));
    if (best_of != 1 && best_of != out->n)
      return bad_request("best_of", "'best_of' other than 1 or n is not supported");
  }
  HANGAR_API_TRY(f.boolean("stream", &out->stream));
  if (f.has("stream_options")) {
    const Json& so = f.at("stream_options");
    if (!so.is_object())
      return bad_request("stream_options", "'stream_options' must be an object, got " + json_type_name(so));
    if (!out->stream)
      return bad_request("stream_options", "'stream_options' is only allowed when 'stream' is true");
    HANGAR_API_TRY(FieldReader(so, "stream_options.").boolean("include_usage", &out->include_usage));
  }
  HANGAR_API_TRY(parse_response_format(body, &out->grammar));
  HANGAR_API_TRY(parse_keep_alive(body, &out->keep_alive_ms));
  return std::nullopt;
}

MaybeError parse_tools(const Json& body, ChatRequest* out) {
  FieldReader f(body);
  if (f.has("tools")) {
    const Json& tools = f.at("tools");
    if (!tools.is_array()) return bad_request("tools", "'tools' must be an array, got " + json_type_name(tools));
    for (size_t i = 0; i < tools.size(); ++i) {
      const Json& t = tools[i];
      const std::string at = "'tools[" + std::to_string(i) + "]'";
      if (!t.is_object() || t.value("type", Json()) != "function" || !t.contains("function") || !t["function"].is_object())
        return bad_request("tools", at + " must be {\"type\": \"function\", \"function\": {...}}");
      const Json& fn = t["function"];
      if (!fn.contains("name") || !fn["name"].is_string() || fn["name"].get<std::string>().empty())
        return bad_request("tools", at + " needs a function 'name' string");
      if (fn.contains("parameters") && !fn["parameters"].is_null() && !fn["parameters"].is_object())
        return bad_request("tools", at + " 'parameters' must be a JSON schema object");
    }
    if (!tools.empty()) out->tools = tools;
  }
  HANGAR_API_TRY(f.boolean("parallel_tool_calls", &out->parallel_tool_calls));
  if (!f.has("tool_choice")) return std::nullopt;
  const Json& tc = f.at("tool_choice");
  ToolChoice& choice = out->tool_choice;
  if (tc.is_string()) {
    const std::string s = tc.get<std::string>();
    if (s == "auto") choice.kind = ToolChoice::Kind::kAuto;
    else if (s == "none") choice.kind = ToolChoice::Kind::kNone;
    else if (s == "required") choice.kind = ToolChoice::Kind::kRequired;
    else return bad_request("tool_choice", "'tool_choice' must be \"auto\", \"none\", \"required\" or a function, got \"" + s + "\"");
  } else if (tc.is_object() && tc.value("type", Json()) == "function" && tc.contains("function") &&
             tc["function"].is_object() && tc["function"].contains("name") && tc["function"]["name"].is_string()) {
    choice.kind = ToolChoice::Kind::kFunction;
    choice.function = tc["function"]["name"].get<std::string>();
  } else {
    return bad_request("tool_choice", "'tool_choice' must be \"auto\", \"none\", \"required\" or "
                                      "{\"type\": \"function\", \"function\": {\"name\": ...}}");
  }
  if (choice.kind == ToolChoice::Kind::kRequired || choice.kind == ToolChoice::Kind::kFunction) {
    if (out->tools.is_null()) return bad_request("tool_choice", "'tool_choice' asks for a tool call but 'tools' is empty");
  }
  if (choice.kind == ToolChoice::Kind::kFunction) {
    bool known = false;
    for (const Json& t : out->tools) known = known || t["function"]["name"] == choice.function;
    if (!known) return bad_request("tool_choice", "'tool_choice' names the function '" + choice.function + "', which is not in 'tools'");
  }
  return std::nullopt;
}

MaybeError parse_token_array(const Json& arr, const std::string& param, const std::string& field,
                             std::vector<int32_t>* out) {
  for (size_t i = 0; i < arr.size(); ++i) {
    const Json& t = arr[i];
    if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() > std::numeric_limits<int32_t>::max())
      return bad_request(param, "'" + field + "[" + std::to_string(i) + "]' must be a token id (a non-negative integer)");
    out->push_back(static_cast<int32_t>(t.get<int64_t>()));
  }
  return std::nullopt;
}

}  // namespace

MaybeError parse_inputs(const Json& body, const std::string& param, size_t max_inputs, std::vector<PromptInput>* out) {
  auto it = body.find(param);
  if (it == body.end() || it->is_null()) return bad_request(param, "'" + param + "' is required");
  const Json& p = *it;
  auto bad_shape = [&] {
    return bad_request(param, "'" + param + "' must be a string, an array of token ids, or an array of those, got " +
                                  json_type_name(p));
  };
  if (p.is_string()) {
    out->push_back({false, p.get<std::string>(), {}});
    return std::nullopt;
  }
  if (!p.is_array()) return bad_shape();
  if (p.empty()) return bad_request(param, "'" + param + "' must not be empty");
  if (p[0].is_number()) {  // one input as token ids
    PromptInput in{true, "", {}};
    HANGAR_API_TRY(parse_token_array(p, param, param, &in.tokens));
    out->push_back(std::move(in));
    return std::nullopt;
  }
  for (size_t i = 0; i < p.size(); ++i) {  // a batch of inputs
    const std::string field = param + "[" + std::to_string(i) + "]";
    if (p[i].is_string()) {
      out->push_back({false, p[i].get<std::string>(), {}});
    } else if (p[i].is_array() && !p[i].empty()) {
      PromptInput in{true, "", {}};
      HANGAR_API_TRY(parse_token_array(p[i], param, field, &in.tokens));
      out->push_back(std::move(in));
    } else {
      return bad_request(param, "'" + field + "' must be a string or a non-empty array of token ids, got " +
                                    json_type_name(p[i]));
    }
  }
  if (out->size() > max_inputs)
    return bad_request(param, "'" + param + "' may hold at most " + std::to_string(max_inputs) + " inputs");
  return std::nullopt;
}

namespace {

// Deeper bodies are refused before parsing: copying, printing or templating a JSON value
// recurses once per level, and a few megabytes of '[' would overflow the thread's stack.
constexpr int kMaxJsonDepth = 128;

// The deepest nesting of arrays and objects in `text`, counted outside strings; stops early
// once past `limit`.
int json_depth(const std::string& text, int limit) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) break;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

}  // namespace

MaybeError parse_json_body(const std::string& body, Json* out) {
  if (json_depth(body, kMaxJsonDepth) > kMaxJsonDepth)
    return bad_request("", "the request body nests arrays and objects deeper than " + std::to_string(kMaxJsonDepth) +
                               " levels");
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return bad_request("", "the request body is not valid JSON");
  if (!j.is_object())
    return bad_request("", "the request body must be a JSON object, got " + json_type_name(j));
  *out = std::move(j);
  return std::nullopt;
}

MaybeError parse_keep_alive(const Json& body, std::optional<int64_t>* out) {
  auto it = body.find("keep_alive");
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (it->is_number()) {
    const double s = it->get<double>();
    if (!std::isfinite(s) || std::fabs(s) > 1e12)
      return bad_request("keep_alive", "'keep_alive' must be a duration or a number of seconds");
    *out = s < 0 ? -1 : static_cast<int64_t>(std::llround(s * 1000.0));  // Ollama: negative = forever
    return std::nullopt;
  }
  if (!it->is_string())
    return bad_request("keep_alive", "'keep_alive' must be a duration string (\"5m\", \"-1\") or a number of seconds, got " +
                                         json_type_name(*it));
  Result<int64_t> ms = manager::parse_duration_ms(it->get<std::string>(), "keep_alive");
  if (!ms.ok()) return bad_request("keep_alive", ms.error().message());
  *out = *ms;
  return std::nullopt;
}

MaybeError parse_chat_request(const Json& body, ChatRequest* out) {
  FieldReader f(body);
  HANGAR_API_TRY(f.string("model", &out->model));  // none: the default model (resolve_default_model)
  if (!f.has("messages")) return bad_request("messages", "'messages' is required (an array of messages)");
  const Json& messages = f.at("messages");
  if (!messages.is_array())
    return bad_request("messages", "'messages' must be an array, got " + json_type_name(messages));
  if (messages.empty()) return bad_request("messages", "'messages' must hold at least one message");
  for (size_t i = 0; i < messages.size(); ++i)
    if (!messages[i].is_object())
      return bad_request("messages", "'messages[" + std::to_string(i) + "]' must be an object, got " +
                                         json_type_name(messages[i]));
  out->messages = messages;
  HANGAR_API_TRY(parse_tools(body, out));
  HANGAR_API_TRY(f.boolean("add_generation_prompt", &out->add_generation_prompt));
  if (f.has("chat_template_kwargs")) {
    if (!f.at("chat_template_kwargs").is_object())
      return bad_request("chat_template_kwargs", "'chat_template_kwargs' must be an object");
    out->chat_template_kwargs = f.at("chat_template_kwargs");
  }
  HANGAR_API_TRY(f.boolean("logprobs", &out->logprobs));
  HANGAR_API_TRY(f.integer("top_logprobs", 0, kMaxTopLogprobs, &out->top_logprobs));
  if (f.has("top_logprobs") && !out->logprobs)
    return bad_request("top_logprobs", "'top_logprobs' requires 'logprobs' to be true");
  HANGAR_API_TRY(parse_common(body, &out->common));
  out->common.gen.top_logprobs = out->logprobs ? out->top_logprobs : -1;
  return std::nullopt;
}

MaybeError parse_completion_request(const Json& body, CompletionRequest* out) {
  FieldReader f(body);
  HANGAR_API_TRY(f.string("model", &out->model));  // none: the default model (resolve_default_model)
  HANGAR_API_TRY(parse_inputs(body, "prompt", kMaxChoices, &out->prompts));
  HANGAR_API_TRY(f.boolean("echo", &out->echo));
  HANGAR_API_TRY(f.integer("logprobs", 0, kMaxTopLogprobs, &out->logprobs));
  if (f.has("suffix")) {
    std::string suffix;
    HANGAR_API_TRY(f.string("suffix", &suffix));
    if (!suffix.empty()) return bad_request("suffix", "'suffix' (fill-in-the-middle) is not supported");
  }
  HANGAR_API_TRY(parse_common(body, &out->common));
  // Each prompt runs n times: the choices of one request are bounded, not each factor alone.
  if (out->prompts.size() * static_cast<size_t>(out->common.n) > static_cast<size_t>(kMaxChoices))
    return bad_request("n", "'n' times the number of prompts may be at most " + std::to_string(kMaxChoices) + ", got " +
                                std::to_string(out->common.n) + " x " + std::to_string(out->prompts.size()));
  out->common.gen.top_logprobs = out->logprobs;
  // Echo with logprobs lists the prompt's tokens with their log-probabilities too.
  out->common.gen.prompt_logprobs = out->echo ? out->logprobs : -1;
  return std::nullopt;
}

MaybeError validate_for_model(const CommonParams& params, int32_t n_vocab) {
  for (const auto& [id, bias] : params.gen.sampling.logit_bias)
    if (id >= n_vocab)
      return bad_request("logit_bias", "'logit_bias' token id " + std::to_string(id) +
                                           " is outside the model's vocabulary of " + std::to_string(n_vocab));
  Status st = validate_sampling_params(params.gen.sampling, n_vocab);
  if (!st.ok()) return bad_request("", st.error().message());
  return std::nullopt;
}

}  // namespace hangar::api
