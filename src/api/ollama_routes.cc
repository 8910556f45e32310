// Ollama's model routes (/api/tags, ps, show, version, copy, delete) and /api/embed, over our
// registry, cache and embeddings; the request mapping /api/chat and /api/generate share.
#include <cctype>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <regex>
#include <system_error>

#include "api/embeddings.h"
#include "api/json_fields.h"
#include "api/model_settings.h"
#include "api/ollama.h"
#include "api/routes.h"

namespace hangar::api {

void send_ollama_error(httplib::Response& res, const ApiError& e) {
  if (e.retry_after_s > 0) res.set_header("Retry-After", std::to_string(e.retry_after_s));
  send_json(res, e.status, {{"error", e.message}});
}

std::string rfc3339_from_ms(int64_t unix_ms) {
  const std::time_t s = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(unix_ms % 1000));
  return buf;
}

std::string rfc3339_now() {
  using namespace std::chrono;
  return rfc3339_from_ms(duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

std::string ollama_model_name(const std::string& name) {
  const std::string latest = ":latest";
  if (name.size() > latest.size() && name.compare(name.size() - latest.size(), latest.size(), latest) == 0)
    return name.substr(0, name.size() - latest.size());
  return name;
}

MaybeError ollama_to_openai(const Json& body, Json* openai) {
  Json& o = *openai;
  o = Json::object();
  if (body.contains("model") && !body["model"].is_null()) {
    if (!body["model"].is_string())
      return bad_request("model", "'model' must be a string, got " + json_type_name(body["model"]));
    o["model"] = ollama_model_name(body["model"]);
  }
  if (body.contains("messages")) {
    if (!body["messages"].is_array()) return bad_request("messages", "'messages' must be an array");
    Json messages = Json::array();
    for (Json m : body["messages"]) {
      // No model here reads images: refused, as /api/generate refuses them, not dropped unseen.
      if (m.is_object() && m.contains("images")) {
        if (!(m["images"].is_null() || (m["images"].is_array() && m["images"].empty()))) {
          const std::string param = "messages[" + std::to_string(messages.size()) + "].images";
          return bad_request(param, "'" + param + "': images are not supported by hangar");
        }
        m.erase("images");
      }
      // Ollama's calls have no type or id; the templates and our parser expect OpenAI's shape.
      if (m.is_object() && m.contains("tool_calls") && m["tool_calls"].is_array()) {
        for (size_t i = 0; i < m["tool_calls"].size(); ++i) {
          Json& c = m["tool_calls"][i];
          if (!c.is_object()) continue;
          if (!c.contains("type")) c["type"] = "function";
          if (!c.contains("id")) c["id"] = "call_" + std::to_string(i);
        }
      }
      messages.push_back(std::move(m));
    }
    o["messages"] = std::move(messages);
  }
  // tool_choice and parallel_tool_calls are OpenAI's; /api/chat takes them as extensions.
  for (const char* key : {"tools", "tool_choice", "parallel_tool_calls"})
    if (body.contains(key)) o[key] = body[key];
  if (body.contains("keep_alive")) o["keep_alive"] = body["keep_alive"];
  o["stream"] = true;  // Ollama streams unless told not to
  if (body.contains("stream") && !body["stream"].is_null()) {
    if (!body["stream"].is_boolean()) return bad_request("stream", "'stream' must be a boolean");
    o["stream"] = body["stream"];
  }
  if (body.contains("think") && body["think"].is_boolean())
    o["chat_template_kwargs"] = {{"enable_thinking", body["think"]}};
  if (body.contains("format") && !body["format"].is_null()) {
    const Json& f = body["format"];
    if (f.is_string() && f.get<std::string>() == "json") o["response_format"] = {{"type", "json_object"}};
    else if (f.is_object()) o["response_format"] = {{"type", "json_schema"}, {"json_schema", {{"name", "format"}, {"schema", f}}}};
    else if (!(f.is_string() && f.get<std::string>().empty()))
      return bad_request("format", "'format' must be \"json\" or a JSON schema object, got " + f.dump());
  }
  if (body.contains("options") && !body["options"].is_null()) {
    const Json& opts = body["options"];
    if (!opts.is_object()) return bad_request("options", "'options' must be an object, got " + json_type_name(opts));
    for (const char* key : {"temperature", "top_p", "top_k", "min_p", "seed", "repeat_penalty", "repeat_last_n",
                            "presence_penalty", "frequency_penalty", "stop"})
      if (opts.contains(key)) o[key] = opts[key];
    if (opts.contains("num_predict") && !opts["num_predict"].is_null()) {
      const Json& n = opts["num_predict"];
      if (!n.is_number_integer()) return bad_request("options.num_predict", "'options.num_predict' must be an integer");
      if (n.get<int64_t>() > 0) o["max_tokens"] = n;  // -1 (no limit) and -2 (fill the context) alike
    }
  }
  return std::nullopt;
}

namespace {

std::string parameter_size(int64_t n) {
  char buf[32];
  if (n >= 1'000'000'000) std::snprintf(buf, sizeof buf, "%.1fB", n / 1e9);
  else if (n >= 1'000'000) std::snprintf(buf, sizeof buf, "%.2fM", n / 1e6);
  else std::snprintf(buf, sizeof buf, "%.2fK", n / 1e3);
  return buf;
}

Json details(const manager::ModelRecord& rec) {
  // The quantization: the type most of the tensors have, past the F32 norms and biases.
  std::string quant;
  int64_t best = 0;
  for (const auto& [type, count] : rec.tensor_types)
    if (type != "f32" && count > best) {
      best = count;
      quant = type;
    }
  for (char& c : quant) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return {{"parent_model", ""},
          {"format", "gguf"},
          {"family", rec.architecture},
          {"families", Json::array({rec.architecture})},
          {"parameter_size", parameter_size(rec.n_params)},
          {"quantization_level", quant}};
}

Json tag(const manager::ModelRecord& rec) {
  return {{"name", rec.id},
          {"model", rec.id},
          {"modified_at", rfc3339_from_ms(rec.mtime_ns / 1'000'000)},
          {"size", rec.file_size},
          {"digest", rec.sha256},
          {"details", details(rec)}};
}

// The model a body names in `model` (or the older `name`); a 404 in Ollama's words.
MaybeError record_for(ServerContext& ctx, const Json& body, manager::ModelRecord* out) {
  std::string name;
  if (body.contains("model") && body["model"].is_string()) name = body["model"];
  else if (body.contains("name") && body["name"].is_string()) name = body["name"];
  if (name.empty()) return bad_request("model", "'model' is required");
  std::optional<manager::ModelRecord> rec =
      ctx.manager.registry().get_with_header(resolve_model_name(ctx, ollama_model_name(name)));
  if (!rec || !rec->present) return not_found("model '" + name + "' not found");
  *out = std::move(*rec);
  return std::nullopt;
}

void handle_show(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  Json body;
  if (MaybeError e = parse_json_body(req.body, &body)) return send_ollama_error(res, *e);
  manager::ModelRecord rec;
  if (MaybeError e = record_for(ctx, body, &rec)) return send_ollama_error(res, *e);
  const std::string& a = rec.architecture;
  Json info = {{"general.architecture", a}, {"general.parameter_count", rec.n_params}, {a + ".context_length", rec.context_length},
               {a + ".block_count", rec.n_layer}};
  if (rec.hparams) {
    info[a + ".embedding_length"] = rec.hparams->n_embd;
    info[a + ".attention.head_count"] = rec.hparams->n_head;
    info[a + ".attention.head_count_kv"] = rec.hparams->n_head_kv;
    info[a + ".feed_forward_length"] = rec.hparams->n_ff;
  }
  // Every model generates; embeddings pool any model's hidden states.
  Json caps = Json::array({"completion", "embedding"});
  const std::optional<std::string> own = ctx.manager.settings().model(rec.id).chat_template;
  std::string tmpl = own ? *own : "";
  if (!own && rec.has_chat_template) {
    std::shared_ptr<const chat::ChatTemplate> parsed;
    if (auto loaded = ctx.manager.cache().status(rec.id); loaded && loaded->state == manager::ModelState::kLoaded) {
      // Only a resident model's template is at hand without reading the file. Showing it is no
      // use of the model (no access, history or hit counted) and never waits nor evicts for it.
      manager::AcquireOptions peek;
      peek.count_access = false;
      peek.allow_evict = false;
      Result<manager::Lease> lease = ctx.manager.cache().acquire(rec.id, peek);
      if (const manager::EngineModel* model = lease.ok() ? lease->model().engine_model() : nullptr) {
        tmpl = model->chat_template();
        if (!chat_template_for(ctx, *model, &parsed) && parsed->caps().supports_tools) caps.push_back("tools");
      }
    }
  }
  Json out = {{"license", ""},
              {"modelfile", "# hangar serves the GGUF file " + rec.path + "\nFROM " + rec.path + "\n"},
              {"parameters", ""},
              {"template", tmpl},
              {"details", details(rec)},
              {"model_info", std::move(info)},
              {"capabilities", std::move(caps)},
              {"modified_at", rfc3339_from_ms(rec.mtime_ns / 1'000'000)}};
  send_json(res, 200, out);
}

// A name a copy may take: a plain file name in the models dir.
bool valid_model_id(const std::string& id) {
  static const std::regex ok("[A-Za-z0-9][A-Za-z0-9._-]{0,200}");
  return std::regex_match(id, ok) && id.find("..") == std::string::npos;
}

void handle_copy(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  Json body;
  if (MaybeError e = parse_json_body(req.body, &body)) return send_ollama_error(res, *e);
  if (!body.contains("source") || !body["source"].is_string())
    return send_ollama_error(res, bad_request("source", "'source' is required"));
  manager::ModelRecord rec;
  if (MaybeError e = record_for(ctx, {{"model", body["source"]}}, &rec)) return send_ollama_error(res, *e);
  const std::string dest = body.contains("destination") && body["destination"].is_string()
                               ? ollama_model_name(body["destination"].get<std::string>()) : "";
  if (!valid_model_id(dest))
    return send_ollama_error(res, bad_request("destination", "'destination' must be a model name of letters, digits, '.', '_' and '-'"));
  const std::filesystem::path to = std::filesystem::path(ctx.manager.config().models_dir) / (dest + ".gguf");
  std::error_code ec;
  if (std::filesystem::exists(to, ec))
    return send_ollama_error(res, bad_request("destination", "model '" + dest + "' already exists"));
  std::filesystem::copy_file(rec.path, to, ec);
  if (ec) return send_ollama_error(res, server_error("copying " + rec.path + " to " + to.string() + ": " + ec.message()));
  if (Result<manager::ScanReport> r = ctx.manager.refresh(); !r.ok()) return send_ollama_error(res, server_error(r.error().message()));
  res.status = 200;
}

void handle_delete(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  Json body;
  if (MaybeError e = parse_json_body(req.body, &body)) return send_ollama_error(res, *e);
  manager::ModelRecord rec;
  if (MaybeError e = record_for(ctx, body, &rec)) return send_ollama_error(res, *e);
  if (Status st = ctx.manager.cache().unload(rec.id); !st.ok()) return send_ollama_error(res, server_error(st.error().message()));
  std::error_code ec;
  std::filesystem::remove(rec.path, ec);
  if (ec) return send_ollama_error(res, server_error("removing " + rec.path + ": " + ec.message()));
  if (Result<manager::ScanReport> r = ctx.manager.refresh(); !r.ok()) return send_ollama_error(res, server_error(r.error().message()));
  res.status = 200;
}

void handle_embed(ServerContext& ctx, const httplib::Request& req, httplib::Response& res, bool legacy) {
  Json body;
  if (MaybeError e = parse_json_body(req.body, &body)) return send_ollama_error(res, *e);
  EmbeddingRequest er;
  FieldReader f(body);
  if (MaybeError e = f.string("model", &er.model)) return send_ollama_error(res, *e);
  er.model = ollama_model_name(er.model);
  // /api/embed: a string or strings, cut to the context unless truncate is false, normalised.
  // /api/embeddings (the older route): one prompt, the raw pooled vector.
  er.truncate = !legacy;
  er.normalize = !legacy;
  for (MaybeError e : {parse_inputs(body, legacy ? "prompt" : "input", kMaxEmbeddingInputs, &er.inputs), f.boolean("truncate", &er.truncate),
                       f.integer("dimensions", 1, 1 << 20, &er.dimensions), parse_keep_alive(body, &er.keep_alive_ms),
                       parse_pooling(body, &er.pooling)})
    if (e) return send_ollama_error(res, *e);
  EmbeddingResult r;
  if (MaybeError e = compute_embeddings(ctx, req, er, &r)) return send_ollama_error(res, *e);
  if (legacy) return send_json(res, 200, {{"embedding", r.vectors.at(0)}});
  send_json(res, 200, {{"model", body.value("model", r.model_id)},
                       {"embeddings", r.vectors},
                       {"total_duration", static_cast<int64_t>(r.total_ms * 1e6)},
                       {"load_duration", static_cast<int64_t>(r.load_ms * 1e6)},
                       {"prompt_eval_count", r.prompt_tokens}});
}

}  // namespace

void add_ollama_routes(httplib::Server& http, ServerContext& ctx) {
  add_ollama_generation_routes(http, ctx);
  // The Ollama API version whose routes these follow (clients compare it with their minimum).
  http.Get("/api/version", [](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, {{"version", "0.12.0"}});
  });
  http.Get("/api/tags", [&ctx](const httplib::Request&, httplib::Response& res) {
    Json models = Json::array();
    for (const manager::ModelRecord& listed : ctx.manager.registry().list()) {
      // Ollama's list has each model's details: a header not read yet is read now.
      std::optional<manager::ModelRecord> rec =
          listed.header_pending() ? ctx.manager.registry().get_with_header(listed.id) : listed;
      if (rec && rec->present && rec->scan_error.empty()) models.push_back(tag(*rec));
    }
    send_json(res, 200, {{"models", std::move(models)}});
  });
  http.Get("/api/ps", [&ctx](const httplib::Request&, httplib::Response& res) {
    Json models = Json::array();
    const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch()).count();
    for (const manager::ModelRecord& rec : ctx.manager.registry().list()) {
      std::optional<manager::ModelStatus> st = ctx.manager.cache().status(rec.id);
      if (!st || st->state != manager::ModelState::kLoaded) continue;
      Json m = tag(rec);
      m.erase("modified_at");
      m["size"] = st->bytes;
      m["size_vram"] = 0;
      // No expiry pending (in use, pinned or kept forever): Ollama shows a far date.
      m["expires_at"] = rfc3339_from_ms(st->expires_in_ms >= 0 ? now_ms + st->expires_in_ms : 253402300799000);
      models.push_back(std::move(m));
    }
    send_json(res, 200, {{"models", std::move(models)}});
  });
  http.Post("/api/show", [&ctx](const httplib::Request& req, httplib::Response& res) { handle_show(ctx, req, res); });
  http.Post("/api/copy", [&ctx](const httplib::Request& req, httplib::Response& res) { handle_copy(ctx, req, res); });
  http.Delete("/api/delete", [&ctx](const httplib::Request& req, httplib::Response& res) { handle_delete(ctx, req, res); });
  http.Post("/api/embed", [&ctx](const httplib::Request& req, httplib::Response& res) { handle_embed(ctx, req, res, false); });
  http.Post("/api/embeddings", [&ctx](const httplib::Request& req, httplib::Response& res) { handle_embed(ctx, req, res, true); });
  for (const char* route : {"/api/pull", "/api/push", "/api/create"})
    http.Post(route, [](const httplib::Request& req, httplib::Response& res) {
      send_ollama_error(res, api_error(501, req.path + " is not supported: hangar serves the GGUF files in its models dir"));
    });
}

}  // namespace hangar::api
