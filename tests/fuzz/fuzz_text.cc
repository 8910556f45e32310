// Fuzz targets for text a client or a model file controls: chat templates (parsed, probed and
// rendered under budgets that must hold) and OpenAI request bodies (which must never be a 5xx).
#include <fstream>
#include <sstream>

#include "api/request.h"
#include "chat/chat_template.h"
#include "fuzz_targets.h"

namespace hangar::fuzz {
namespace {

using Json = nlohmann::ordered_json;
using chat::ChatTemplate;
using chat::ChatTemplateInputs;
using chat::RenderLimits;
using chat::RenderStats;
using chat::Template;
using chat::Value;
using chat::value_from_json;

Json read_json(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return Json::parse(ss.str(), nullptr, false);
}

// Templates that reached a limit in the past, so mutations start near the edges.
const char* const kHostileSeeds[] = {
    "{{ '' * 9223372036854775807 }}",
    "{{ 'a'.ljust(9223372036854775807, '') }}",
    "{% set ns = namespace(l=['x']) %}{% for i in range(40) %}{% set ns.l = [ns.l, ns.l] %}{% endfor %}{{ ns.l }}",
    "{% macro m(n) %}{{ m(n + 1) }}{% endmacro %}{{ m(0) }}",
    "{% for a in range(1000) %}{% for b in range(1000) %}{{ a ~ b }}{% endfor %}{% endfor %}",
    "{{ '{:>999}'.format('x') | indent(99) | center(999) | tojson(indent=9) }}",
    "{% set s = 'x' * 100000 %}{{ s.split('') }}{{ s.replace('x', s) }}{{ s[::-1] | e }}",
};

Target template_target(const std::string& shared) {
  Target t;
  t.name = "template";
  const Json golden = read_json(shared + "/golden/chat_templates.json");
  if (golden.is_object()) {
    for (const auto& tmpl : golden["templates"]) t.seeds.push_back(tmpl["source"].get<std::string>());
  }
  for (const char* s : kHostileSeeds) t.seeds.emplace_back(s);
  t.dictionary = {"{%", "%}", "{{", "}}", "{#", "#}", "-%}", "{%-", " for x in ", " endfor ", " if ", " endif ",
                  " set ", " macro m(a) ", " endmacro ", " call ", " endcall ", "range(", "*", " ~ ", "|", "(", ")",
                  "[", "]", "'", "\"", "9223372036854775807", "-1", "messages", "loop.", "namespace(", ".append(",
                  "|tojson", "|join", "|indent(", ".split(", ".format(", "caller()", "raise_exception("};
  t.run = [](const std::string& input) -> std::string {
    // Tight budgets keep each case fast; the budgets' own accounting is what is checked.
    RenderLimits limits;
    limits.max_steps = 200'000;
    limits.max_memory_bytes = size_t{8} << 20;
    limits.max_output_bytes = size_t{1} << 20;
    limits.max_seconds = 1.0;
    auto tmpl = Template::parse(input);
    if (!tmpl.ok()) return {};
    const Value globals = value_from_json(Json::parse(
        R"({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello", "tool_calls": [{"type": "function",
             "function": {"name": "f", "arguments": {"a": 1}}}]}, {"role": "user", "content": "Bye"}],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>"})"));
    RenderStats stats;
    auto out = tmpl->render(globals, limits, &stats);
    if (stats.peak_memory_bytes > limits.max_memory_bytes)
      return "render held " + std::to_string(stats.peak_memory_bytes) + " bytes over its budget";
    if (stats.output_bytes > limits.max_output_bytes) return "render wrote past its output budget";
    if (out.ok() && out->size() > limits.max_output_bytes) return "render returned past its output budget";
    // The server's path: probing at parse, then a request render.
    if (input.size() % 8 == 0) {
      auto chat = ChatTemplate::parse(input);
      if (chat.ok()) {
        ChatTemplateInputs in;
        in.messages = Json::parse(R"([{"role": "user", "content": "Hi"}])");
        (void)chat->apply(in);
      }
    }
    return {};
  };
  return t;
}

// Replaces one node of a JSON document with a value clients get wrong.
void mutate_json(Mutator& m, Json& doc) {
  Json* node = &doc;
  for (int depth = 0; depth < 4 && (node->is_object() || node->is_array()) && !node->empty() && !m.one_in(3); ++depth) {
    auto it = node->begin();
    std::advance(it, static_cast<std::ptrdiff_t>(m.below(node->size())));
    node = &*it;
  }
  switch (m.below(8)) {
    case 0: *node = static_cast<int64_t>(m.interesting()); break;
    case 1: *node = static_cast<uint64_t>(m.interesting()); break;
    case 2: *node = m.one_in(2) ? 1e308 : -0.0; break;
    case 3: *node = nullptr; break;
    case 4: *node = std::string(m.one_in(4) ? 70000 : 3, static_cast<char>('a' + m.below(26))); break;
    case 5: *node = Json::array({*node, *node}); break;
    case 6: *node = Json::object({{"x", *node}}); break;
    default: *node = m.one_in(2); break;
  }
}

Target request_target() {
  Target t;
  t.name = "request";
  t.seeds = {
      R"({"model": "m", "messages": [{"role": "user", "content": "hi"}]})",
      R"({"model": "m", "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": [{"type": "text", "text": "x"}]}],
          "temperature": 0.7, "top_p": 0.9, "top_k": 40, "min_p": 0.05, "max_tokens": 16, "stop": ["\n", "END"],
          "seed": 42, "n": 2, "stream": true, "stream_options": {"include_usage": true}, "logprobs": true,
          "top_logprobs": 3, "presence_penalty": 0.5, "frequency_penalty": 0.5, "repeat_penalty": 1.1,
          "logit_bias": {"15": -100, "2": 5}, "keep_alive": "5m", "tools": [{"type": "function",
          "function": {"name": "f", "parameters": {}}}], "tool_choice": "auto",
          "chat_template_kwargs": {"enable_thinking": false}, "response_format": {"type": "text"}})",
      R"({"model": "m", "prompt": "Once upon a time", "max_tokens": 8, "echo": true, "logprobs": 2,
          "suffix": null, "best_of": 1, "ignore_eos": true, "keep_alive": -1})",
      R"({"model": "m", "prompt": [[1, 2, 3], "text", [4]], "n": 1, "stop": "x"})",
  };
  t.dictionary = {"{", "}", "[", "]", ",", ":", "\"", "null", "true", "1e999", "-0", "\\u0000", "\\ud800",
                  "\"max_tokens\":", "\"messages\":", "\"logit_bias\":", "\"keep_alive\":", "\"stop\":"};
  t.generate = [](Mutator& m, const std::vector<std::string>& seeds) {
    std::string body = seeds[m.below(seeds.size())];
    if (m.one_in(2)) {
      Json doc = Json::parse(body, nullptr, false);
      const int edits = 1 + static_cast<int>(m.below(3));
      for (int e = 0; e < edits; ++e) mutate_json(m, doc);
      return doc.dump();
    }
    m.mutate(body, seeds[m.below(seeds.size())]);
    return body;
  };
  t.run = [](const std::string& input) -> std::string {
    api::Json body;
    if (api::MaybeError e = api::parse_json_body(input, &body)) {
      return e->status >= 500 ? "a body error was a " + std::to_string(e->status) : "";
    }
    api::ChatRequest chat;
    if (api::MaybeError e = api::parse_chat_request(body, &chat); e && e->status >= 500) {
      return "chat request error was a " + std::to_string(e->status) + ": " + e->message;
    }
    api::CompletionRequest completion;
    if (api::MaybeError e = api::parse_completion_request(body, &completion); e && e->status >= 500) {
      return "completion request error was a " + std::to_string(e->status) + ": " + e->message;
    }
    if (!api::parse_chat_request(body, &chat)) {
      if (api::MaybeError e = api::validate_for_model(chat.common, 32000); e && e->status >= 500) {
        return "model validation error was a " + std::to_string(e->status);
      }
    }
    return {};
  };
  return t;
}

}  // namespace

std::vector<Target> make_text_targets(const std::string& shared_dir) {
  return {template_target(shared_dir), request_target()};
}

}  // namespace hangar::fuzz
