// `hangar inspect`: what a GGUF model is and how much memory it needs at a given context.
#include <cstdio>
#include <map>

#include "cli/common.h"
#include "model/model.h"

namespace hangar::cli {
namespace {

struct InspectOptions {
  std::string path;
  int ctx = 0;  // 0: the model's training context, capped at 4096 like `run`
  int parallel = 1;
  bool json = false;
};

std::string human_bytes(uint64_t b) {
  char buf[32];
  if (b >= (1ull << 30)) std::snprintf(buf, sizeof buf, "%.2f GiB", b / double(1ull << 30));
  else if (b >= (1ull << 20)) std::snprintf(buf, sizeof buf, "%.1f MiB", b / double(1ull << 20));
  else std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024.0);
  return buf;
}

int inspect(const InspectOptions& o) {
  auto m = model::Model::load(o.path);
  if (!m.ok()) return fail(m.error().message());
  const model::HParams& hp = (*m)->hparams();
  const gguf::File& f = (*m)->file();
  int64_t n_params = 0;
  std::map<std::string, std::pair<int, uint64_t>> types;  // type -> (tensors, bytes)
  for (const auto& t : f.tensors()) {
    n_params += t.n_elements;
    auto& e = types[tensor_type_name(t.type)];
    e.first += 1;
    e.second += t.n_bytes;
  }
  const int32_t ctx = o.ctx > 0 ? std::min(o.ctx, hp.n_ctx_train) : std::min(4096, hp.n_ctx_train);
  engine::EngineOptions eo;
  eo.n_ctx = ctx;
  eo.n_seq = o.parallel;
  eo.batch_tokens = 512;
  engine::MemoryEstimate mem = engine::estimate_memory(hp, (*m)->weight_bytes(), eo);
  Result<std::string> name_r = f.get_string_or("general.name", "");
  if (!name_r.ok()) return fail(name_r.error().message());
  const std::string& name = *name_r;
  bool has_template = f.has("tokenizer.chat_template");

  if (o.json) {
    nlohmann::json j;
    j["file"] = o.path;
    j["name"] = name;
    j["architecture"] = hp.arch;
    j["parameters"] = n_params;
    j["file_bytes"] = f.file_size();
    j["context_length"] = hp.n_ctx_train;
    j["n_vocab"] = hp.n_vocab;
    j["n_embd"] = hp.n_embd;
    j["n_layer"] = hp.n_layer;
    j["n_head"] = hp.n_head;
    j["n_head_kv"] = hp.n_head_kv;
    j["n_ff"] = hp.n_ff;
    j["head_dim"] = hp.head_dim;
    j["rope_base"] = hp.rope_base;
    j["has_chat_template"] = has_template;
    for (const auto& [t, e] : types) j["tensor_types"][t] = {{"tensors", e.first}, {"bytes", e.second}};
    j["memory"] = {{"ctx", ctx},          {"parallel", o.parallel},  {"weights", mem.weights},
                   {"kv_cache", mem.kv_cache}, {"scratch", mem.scratch}, {"total", mem.total()}};
    std::printf("%s\n", json_text(j, 2).c_str());
    return 0;
  }
  std::printf("file:          %s (%s)\n", o.path.c_str(), human_bytes(f.file_size()).c_str());
  if (!name.empty()) std::printf("name:          %s\n", name.c_str());
  std::printf("architecture:  %s\n", hp.arch.c_str());
  std::printf("parameters:    %lld (%.2f B)\n", static_cast<long long>(n_params), n_params / 1e9);
  std::printf("layers:        %d, embedding %d, feed-forward %d\n", hp.n_layer, hp.n_embd, hp.n_ff);
  std::printf("attention:     %d heads, %d kv heads, head size %d, rope base %g\n", hp.n_head,
              hp.n_head_kv, hp.head_dim, hp.rope_base);
  std::printf("vocabulary:    %d tokens\n", hp.n_vocab);
  std::printf("context:       %d tokens (trained)\n", hp.n_ctx_train);
  std::printf("chat template: %s\n", has_template ? "yes" : "no (ChatML is used)");
  std::printf("tensor types:\n");
  for (const auto& [t, e] : types)
    std::printf("  %-8s %4d tensors %12s\n", t.c_str(), e.first, human_bytes(e.second).c_str());
  std::printf("memory at --ctx %d x %d sequence(s):\n", ctx, o.parallel);
  std::printf("  weights   %12s\n  kv cache  %12s\n  scratch   %12s\n  total     %12s\n",
              human_bytes(mem.weights).c_str(), human_bytes(mem.kv_cache).c_str(),
              human_bytes(mem.scratch).c_str(), human_bytes(mem.total()).c_str());
  return 0;
}

}  // namespace

void add_inspect_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<InspectOptions>();
  CLI::App* cmd = app.add_subcommand("inspect", "show a model's architecture, tensors and memory needs");
  cmd->add_option("file", opts->path, "GGUF model file")->required();
  cmd->add_option("-c,--ctx", opts->ctx, "context size for the memory estimate")->check(CLI::PositiveNumber);
  cmd->add_option("--parallel", opts->parallel, "sequences for the memory estimate")->check(CLI::PositiveNumber);
  cmd->add_flag("--json", opts->json, "print one JSON object");
  cmd->callback([opts, &exit_code] { exit_code = inspect(*opts); });
}

}  // namespace hangar::cli
