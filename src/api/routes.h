// Route registration: each file adds its concern's handlers to the server.
#pragma once

#include <httplib.h>

#include <string_view>

#include "api/context.h"

namespace hangar::api {

void add_chat_routes(httplib::Server& http, ServerContext& ctx);         // openai_chat.cc
void add_completion_routes(httplib::Server& http, ServerContext& ctx);   // openai_completions.cc
void add_model_routes(httplib::Server& http, ServerContext& ctx);        // models_routes.cc
void add_management_routes(httplib::Server& http, ServerContext& ctx);   // management.cc
void add_utility_routes(httplib::Server& http, ServerContext& ctx);      // utility_routes.cc
void add_metrics_routes(httplib::Server& http, ServerContext& ctx);      // metrics_route.cc
void add_settings_routes(httplib::Server& http, ServerContext& ctx);     // settings_routes.cc
void add_event_routes(httplib::Server& http, ServerContext& ctx);        // events_route.cc
void add_ui_routes(httplib::Server& http, ServerContext& ctx);           // ui_route.cc
void add_embedding_routes(httplib::Server& http, ServerContext& ctx);    // embeddings.cc
void add_ollama_routes(httplib::Server& http, ServerContext& ctx);       // ollama_routes.cc
void add_ollama_generation_routes(httplib::Server& http, ServerContext& ctx);  // ollama_generation.cc
// The dashboard's page and files: public (they hold no data; the page asks for the API key).
bool is_ui_path(std::string_view path);

}  // namespace hangar::api

namespace hangar::api {

// The model object of GET /v1/models and /v1/models/{id}: OpenAI's fields (id, object,
// created, owned_by) plus state, memory (measured bytes when resident, the admission estimate
// always), pin, requests in flight, keep-alive expiry, facts from the file, and the registry
// record (sha256, access count, last access, loads, last load time).
Json model_object(ServerContext& ctx, const manager::ModelRecord& rec);
// Its two parts, disjoint keys: what the cache's live state says (`st` null: no entry) and what
// the registry record and the settings say (see ModelList).
Json model_live_json(const manager::ModelStatus* st);
Json model_record_json(ServerContext& ctx, const manager::ModelRecord& rec);

}  // namespace hangar::api
