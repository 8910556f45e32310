// ServerContext helpers: model acquisition with status mapping, JSON responses, chat prompts.
#include "api/context.h"

#include "api/model_settings.h"
#include "api/sse.h"
#include "base/assert.h"
#include "manager/units.h"

namespace hangar::api {

Result<std::shared_ptr<const chat::ChatTemplate>> TemplateCache::get(const std::string& model_id,
                                                                     const std::string& source) {
  const std::string& src = source.empty() ? chat::chatml_fallback_template() : source;
  using Entry = Result<std::shared_ptr<const chat::ChatTemplate>>;
  auto named = [&](const Entry& e) -> Entry {
    if (e.ok()) return e;
    return e.error().context("model '" + model_id + "': its chat template cannot be used");
  };
  {
    std::lock_guard lock(mu_);
    auto it = parsed_.find(src);
    if (it != parsed_.end()) return named(it->second);
  }
  // Parsing (and probing the template's capabilities) happens outside the lock; two requests
  // racing on a new template both parse it and the first one stored wins.
  Result<chat::ChatTemplate> parsed = chat::ChatTemplate::parse(src);
  Entry entry = parsed.ok() ? Entry(std::make_shared<const chat::ChatTemplate>(std::move(parsed).value()))
                            : Entry(parsed.error());
  std::lock_guard lock(mu_);
  return named(parsed_.emplace(src, std::move(entry)).first->second);
}

ApiError acquire_error(const std::string& message, const manager::AcquireFailure& failure) {
  switch (failure.kind) {
    case manager::FailureKind::kUnknownModel: return not_found(message, "model_not_found");
    case manager::FailureKind::kInsufficientMemory: return api_error(507, message, "insufficient_memory");
    case manager::FailureKind::kQueueFull: {
      ApiError e = api_error(429, message, "queue_full");
      e.retry_after_s = static_cast<int>(failure.retry_after_s);
      return e;
    }
    case manager::FailureKind::kQueueTimeout: {
      ApiError e = api_error(503, message, "queue_timeout");
      e.retry_after_s = static_cast<int>(failure.retry_after_s);
      return e;
    }
    case manager::FailureKind::kIntegrity: return api_error(409, message, "integrity_mismatch");
    default: return api_error(500, message, "model_load_failed");
  }
}

MaybeError acquire_model(ServerContext& ctx, const std::string& name, std::optional<int64_t> keep_alive_ms,
                         ModelHold* out) {
  const std::string id = resolve_model_name(ctx, name);
  manager::AcquireOptions opts;
  opts.keep_alive_ms = keep_alive_ms;
  manager::AcquireFailure failure;
  Result<manager::Lease> lease = ctx.manager.cache().acquire(id, opts, &failure);
  if (!lease.ok()) return acquire_error(lease.error().message(), failure);
  manager::EngineModel* model = lease->model().engine_model();
  HANGAR_ASSERT_MSG(model != nullptr, "the server's loader makes engine models");
  out->lease = std::move(lease).value();
  out->model = model;
  return std::nullopt;
}

MaybeError resolve_default_model(ServerContext& ctx, std::string* model) {
  if (!model->empty()) return std::nullopt;
  if (!ctx.options.default_model.empty()) {
    *model = ctx.options.default_model;
    return std::nullopt;
  }
  std::vector<std::string> present;
  for (const manager::ModelRecord& rec : ctx.manager.registry().list())
    if (rec.present && rec.scan_error.empty()) present.push_back(rec.id);
  if (present.size() == 1) {
    *model = present[0];
    return std::nullopt;
  }
  return bad_request("model", "'model' is required: the server has " + std::to_string(present.size()) +
                                  " models and no --default-model");
}

void send_json(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(dump_json(body), "application/json; charset=utf-8");
}

void send_error(httplib::Response& res, const ApiError& error) {
  if (error.retry_after_s > 0) res.set_header("Retry-After", std::to_string(error.retry_after_s));
  send_json(res, error.status, error.to_json());
}

bool read_json_body(const httplib::Request& req, httplib::Response& res, Json* out) {
  if (MaybeError e = parse_json_body(req.body, out)) {
    send_error(res, *e);
    return false;
  }
  return true;
}

MaybeError chat_template_for(ServerContext& ctx, const manager::EngineModel& model,
                             std::shared_ptr<const chat::ChatTemplate>* out) {
  // The model's settings may replace the file's template.
  const manager::ModelSettings settings = ctx.manager.settings().model(model.id());
  Result<std::shared_ptr<const chat::ChatTemplate>> tmpl =
      ctx.templates.get(model.id(), settings.chat_template ? *settings.chat_template : model.chat_template());
  if (!tmpl.ok()) return server_error(tmpl.error().message());
  *out = std::move(tmpl).value();
  return std::nullopt;
}

MaybeError render_chat_prompt(ServerContext& ctx, const manager::EngineModel& model, const chat::ChatTemplate& tmpl,
                              const Json& messages, const Json& tools, bool add_generation_prompt,
                              const Json& template_kwargs, std::string* prompt) {
  // The model's settings may add a system prompt.
  const manager::ModelSettings settings = ctx.manager.settings().model(model.id());
  const Tokenizer& tok = model.tokenizer();
  chat::ChatTemplateInputs in;
  in.messages = settings.system_prompt ? with_system_prompt(messages, *settings.system_prompt) : messages;
  in.tools = tools;
  in.add_generation_prompt = add_generation_prompt;
  in.bos_token = tok.bos() >= 0 ? tok.token_text(tok.bos()) : "";
  in.eos_token = tok.eos() >= 0 ? tok.token_text(tok.eos()) : "";
  in.add_bos = tok.add_bos();
  in.add_eos = tok.add_eos();
  if (!template_kwargs.is_null()) in.extra_context = template_kwargs;
  Result<std::string> r = tmpl.apply(in);
  // Malformed messages and the template's own raise_exception() are the request's fault.
  if (!r.ok()) return bad_request("messages", r.error().message());
  *prompt = std::move(r).value();
  return std::nullopt;
}

}  // namespace hangar::api
