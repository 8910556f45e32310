// Embeddings: request parsing, batched pooling through the scheduler, and POST /v1/embeddings.
#include "api/embeddings.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "api/generation_job.h"
#include "api/generation_route.h"
#include "api/json_fields.h"
#include "api/model_settings.h"
#include "api/routes.h"
#include "base/clock.h"
#include "base/log.h"
#include "engine/prompt_check.h"

namespace hangar::api {
namespace {

// llama.cpp's numbering of <arch>.pooling_type.
Result<engine::Pooling> pooling_of_file(int32_t type) {
  switch (type) {
    case 2: return engine::Pooling::kCls;
    case 3: return engine::Pooling::kLast;
    case 4: return Error("the model is a reranker (pooling type rank), which has no embeddings");
    default: return engine::Pooling::kMean;  // mean, or none / not given: one vector per input is asked for
  }
}

void finish_vector(std::vector<float>& v, int32_t dimensions, bool normalize) {
  if (dimensions > 0 && static_cast<size_t>(dimensions) < v.size()) v.resize(static_cast<size_t>(dimensions));
  if (!normalize) return;
  double sum = 0;
  for (float x : v) sum += static_cast<double>(x) * x;
  const double norm = std::sqrt(sum);
  if (norm > 0)
    for (float& x : v) x = static_cast<float>(x / norm);
}

// An input's token ids against the model, with the scheduler's own check (engine::check_prompt):
// in its vocabulary, and shorter than its context unless cut to it (`truncate`, Ollama's
// default). A 400 naming the input.
MaybeError check_input(const std::vector<int32_t>& tokens, int32_t n_vocab, int32_t n_ctx, bool truncate,
                       const std::string& param) {
  const int32_t limit = truncate ? std::numeric_limits<int32_t>::max() : n_ctx;  // a cut input fits
  const std::optional<engine::PromptError> bad = engine::check_prompt(tokens, n_vocab, limit);
  if (!bad) return std::nullopt;
  const bool too_long = bad->kind == engine::PromptError::Kind::kTooLong;
  return bad_request(param, "'" + param + "': " + bad->message, too_long ? "context_length_exceeded" : "");
}

std::string input_param(const EmbeddingRequest& r, size_t i) {
  return r.inputs.size() > 1 ? "input[" + std::to_string(i) + "]" : "input";
}

}  // namespace

MaybeError parse_pooling(const Json& body, engine::Pooling* out) {
  auto it = body.find("pooling");
  if (it == body.end() || it->is_null()) return std::nullopt;
  const std::string s = it->is_string() ? it->get<std::string>() : "";
  if (s == "mean") *out = engine::Pooling::kMean;
  else if (s == "cls") *out = engine::Pooling::kCls;
  else if (s == "last") *out = engine::Pooling::kLast;
  else return bad_request("pooling", "'pooling' must be \"mean\", \"cls\" or \"last\", got " + it->dump());
  return std::nullopt;
}

MaybeError parse_embedding_request(const Json& body, EmbeddingRequest* out) {
  FieldReader f(body);
  HANGAR_API_TRY(f.string("model", &out->model));  // none: the default model
  HANGAR_API_TRY(parse_inputs(body, "input", kMaxEmbeddingInputs, &out->inputs));
  std::string encoding = "float";
  HANGAR_API_TRY(f.string("encoding_format", &encoding));
  if (encoding != "float" && encoding != "base64")
    return bad_request("encoding_format", "'encoding_format' must be \"float\" or \"base64\", got \"" + encoding + "\"");
  out->base64 = encoding == "base64";
  HANGAR_API_TRY(f.integer("dimensions", 1, 1 << 20, &out->dimensions));
  HANGAR_API_TRY(parse_pooling(body, &out->pooling));
  return parse_keep_alive(body, &out->keep_alive_ms);
}

std::string base64_floats(const std::vector<float>& v) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string bytes(v.size() * sizeof(float), '\0');
  for (size_t i = 0; i < v.size(); ++i) {
    uint32_t u;
    std::memcpy(&u, &v[i], sizeof u);
    for (int b = 0; b < 4; ++b) bytes[i * 4 + b] = static_cast<char>((u >> (8 * b)) & 0xff);  // little-endian
  }
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t chunk = 0;
    for (size_t j = 0; j < 3; ++j)
      chunk = (chunk << 8) | (j < n ? static_cast<unsigned char>(bytes[i + j]) : 0u);
    for (size_t j = 0; j < 4; ++j) out += j <= n ? kAlphabet[(chunk >> (18 - 6 * j)) & 63] : '=';
  }
  return out;
}

MaybeError compute_embeddings(ServerContext& ctx, const httplib::Request& req, const EmbeddingRequest& r,
                              EmbeddingResult* out) {
  Stopwatch total;
  std::string name = r.model;
  HANGAR_API_TRY(resolve_default_model(ctx, &name));
  // Token ids are checked against the model's header before it is acquired, as completions'
  // are (hold_model_for): a bad request never loads a model, nor evicts another, to be refused.
  Result<manager::AdmissionFigure> figure = ctx.manager.cache().admission(resolve_model_name(ctx, name));
  if (!figure.ok()) return not_found("The model '" + name + "' does not exist", "model_not_found");
  if (const manager::LoadPlan& plan = figure->plan; plan.n_vocab > 0 && plan.n_ctx > 0)
    for (size_t i = 0; i < r.inputs.size(); ++i)
      if (r.inputs[i].is_tokens)
        HANGAR_API_TRY(check_input(r.inputs[i].tokens, plan.n_vocab, plan.n_ctx, r.truncate, input_param(r, i)));
  ModelHold hold;
  HANGAR_API_TRY(acquire_model(ctx, name, r.keep_alive_ms, &hold));
  out->load_ms = total.elapsed_ms();
  out->model_id = hold.model->id();
  const model::HParams& hp = hold.model->hparams();
  engine::Pooling pooling = r.pooling;
  if (pooling == engine::Pooling::kNone) {
    Result<engine::Pooling> p = pooling_of_file(hp.pooling_type);
    if (!p.ok()) return bad_request("model", "model '" + out->model_id + "': " + p.error().message());
    pooling = *p;
  }
  if (r.dimensions > hp.n_embd)
    return bad_request("dimensions", "'dimensions' may be at most the model's embedding size " +
                                         std::to_string(hp.n_embd) + ", got " + std::to_string(r.dimensions));

  const Tokenizer& tok = hold.model->tokenizer();
  const int32_t n_ctx = hold.model->n_ctx();
  std::vector<std::vector<int32_t>> prompts;
  for (size_t i = 0; i < r.inputs.size(); ++i) {
    const PromptInput& in = r.inputs[i];
    const std::string param = input_param(r, i);
    std::vector<int32_t> tokens = in.tokens;
    if (!in.is_tokens) {
      if (!r.truncate) HANGAR_API_TRY(check_prompt_bytes(in.text, *hold.model, param));
      tokens = tok.encode(in.text, /*add_special=*/true, /*parse_special=*/true);
    }
    HANGAR_API_TRY(check_input(tokens, hold.model->n_vocab(), n_ctx, r.truncate, param));
    if (static_cast<int32_t>(tokens.size()) >= n_ctx) tokens.resize(static_cast<size_t>(n_ctx - 1));
    out->prompt_tokens += static_cast<int64_t>(tokens.size());
    prompts.push_back(std::move(tokens));
  }

  engine::GenerationParams params;
  params.pooling = pooling;
  out->vectors.assign(prompts.size(), {});
  std::string error;
  bool client_gone = false;
  {
    GenerationJob job(hold.model->scheduler());
    for (size_t i = 0; i < prompts.size(); ++i) job.submit(static_cast<int>(i), std::move(prompts[i]), params);
    client_gone = !collect_events(ctx, req, job, [&](ChoiceEvent& ev) {
      if (!ev.done) return;
      if (ev.result.reason == engine::FinishReason::kStop && !ev.result.embedding.empty())
        out->vectors[static_cast<size_t>(ev.index)] = std::move(ev.result.embedding);
      else if (error.empty())
        error = ev.result.error.empty() ? finish_reason_name(ev.result.reason) : ev.result.error;
    });
  }
  // Cut by a stop (--shutdown-grace passed): no vectors to answer with, and the client, still
  // there, may send the request again elsewhere.
  const bool stopped = !client_gone && !error.empty() && ctx.stopping;
  GenerationSample s;
  s.model = out->model_id;
  s.endpoint = "embeddings";
  s.outcome = client_gone || stopped ? "cancelled" : error.empty() ? "ok" : "error";
  s.prompt_tokens = out->prompt_tokens;
  ctx.metrics.record_generation(s);
  if (client_gone) return api_error(499, "the client closed the connection");
  if (stopped) {
    ApiError e = api_error(503, "the server stopped before the embeddings were done; retry", "shutting_down");
    e.retry_after_s = 1;
    return e;
  }
  if (!error.empty()) return server_error("embedding failed: " + error);
  for (auto& v : out->vectors) finish_vector(v, r.dimensions, r.normalize);
  out->total_ms = total.elapsed_ms();
  return std::nullopt;
}

namespace {

void handle_embeddings(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  Json body;
  if (!read_json_body(req, res, &body)) return;
  EmbeddingRequest er;
  if (MaybeError e = parse_embedding_request(body, &er)) return send_error(res, *e);
  EmbeddingResult result;
  if (MaybeError e = compute_embeddings(ctx, req, er, &result)) return send_error(res, *e);
  Json data = Json::array();
  for (size_t i = 0; i < result.vectors.size(); ++i) {
    Json item;
    item["object"] = "embedding";
    item["index"] = i;
    item["embedding"] = er.base64 ? Json(base64_floats(result.vectors[i])) : Json(result.vectors[i]);
    data.push_back(std::move(item));
  }
  Json out;
  out["object"] = "list";
  out["data"] = std::move(data);
  out["model"] = result.model_id;
  out["usage"] = {{"prompt_tokens", result.prompt_tokens}, {"total_tokens", result.prompt_tokens}};
  send_json(res, 200, out);
}

}  // namespace

void add_embedding_routes(httplib::Server& http, ServerContext& ctx) {
  auto handler = [&ctx](const httplib::Request& req, httplib::Response& res) { handle_embeddings(ctx, req, res); };
  http.Post("/v1/embeddings", handler);
  http.Post("/embeddings", handler);  // llama.cpp's server accepts both
}

}  // namespace hangar::api
