// constrained_bench: prints what grammar-constrained sampling costs next to a model's decode step.
//
//   constrained_bench MODEL.gguf [TOKENS] [THREADS]
//
// For each case (unconstrained, any JSON object, JSON schemas, a pattern) it decodes TOKENS
// tokens with the default sampler (temperature 0.8, top-k 40, top-p 0.95, min-p 0.05), starting
// fresh sequences when a constrained output completes, and prints per token: the forward pass
// (wall), the sampling step (this thread's CPU time: mask, sampler, grammar advance), decode
// t/s, and the overhead against the unconstrained case. Cases alternate over rounds so that
// drift in a shared machine's speed hits all of them; the best round of each is printed.
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "base/clock.h"
#include "engine/engine.h"
#include "engine/generation.h"
#include "grammar/json_schema.h"

namespace {

using namespace hangar;

double thread_ms() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

struct Case {
  const char* name;
  const char* schema;  // nullptr: unconstrained; "": any JSON object
};

struct Figures {
  double forward_ms = 0, sample_ms = 0;  // per token
  int tokens = 0, outputs = 0;
};

// Decodes `n` tokens after `prompt`, new sequences as outputs complete.
Result<Figures> run(engine::Engine& e, const std::vector<TokenId>& prompt, engine::GenerationParams params,
                    int n) {
  Figures f;
  std::vector<float> logits(e.n_vocab());
  double forward_ms = 0, sample_ms = 0;
  while (f.tokens < n) {
    engine::Sequence seq;
    engine::EvalItem first{&seq, prompt, logits.data()};
    HANGAR_TRY(e.eval({&first, 1}));
    params.sampling.seed = 42 + static_cast<uint64_t>(f.outputs);  // a different output each time
    engine::GenerationState gen(e.tokenizer(), params, e.n_vocab());
    ++f.outputs;
    while (f.tokens < n) {
      const double t0 = thread_ms();
      engine::StepOutput out = gen.step(logits.data(), e.n_ctx() - seq.n_past());
      sample_ms += thread_ms() - t0;
      ++f.tokens;
      if (out.finished) break;
      Stopwatch sw;
      TokenId t = out.token;
      engine::EvalItem item{&seq, {&t, 1}, logits.data()};
      Status st = e.eval({&item, 1});
      forward_ms += sw.elapsed_ms();
      if (!st.ok()) {
        seq.release(e.kv_cache());
        return st.error();
      }
      if (seq.n_past() + 2 >= e.n_ctx()) break;
    }
    seq.release(e.kv_cache());
  }
  f.forward_ms = forward_ms / f.tokens;
  f.sample_ms = sample_ms / f.tokens;
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: constrained_bench MODEL.gguf [TOKENS=256] [THREADS=2]\n");
    return 2;
  }
  const int n = argc > 2 ? std::atoi(argv[2]) : 256;
  const int threads = argc > 3 ? std::atoi(argv[3]) : 2;
  ThreadPool pool(threads);
  engine::EngineOptions eo;
  eo.n_ctx = 2048;
  auto loaded = engine::Engine::load(argv[1], eo, pool);
  if (!loaded.ok()) {
    std::fprintf(stderr, "%s\n", loaded.error().message().c_str());
    return 1;
  }
  engine::Engine& e = **loaded;
  e.prefault_weights();
  const double t0 = thread_ms();
  auto vocab = e.grammar_vocab();
  std::printf("model %s: %d tokens in the vocabulary, %zu trie nodes, built in %.1f ms (once per model)\n", argv[1],
              e.n_vocab(), vocab->nodes().size(), thread_ms() - t0);

  const std::vector<Case> cases = {
      {"unconstrained", nullptr},
      {"json_object", ""},
      {"schema: records", R"({"type": "array", "items": {"type": "object", "properties": {
          "id": {"type": "integer", "minimum": 0}, "name": {"type": "string", "maxLength": 24},
          "email": {"type": "string", "format": "email"},
          "tags": {"type": "array", "items": {"enum": ["red", "green", "blue"]}, "maxItems": 4},
          "score": {"type": "number"}, "active": {"type": "boolean"}},
          "required": ["id", "name", "email", "tags", "score", "active"]}, "minItems": 1})"},
      {"schema: pattern", R"({"type": "object", "properties": {"code": {"type": "string",
          "pattern": "^[A-Z]{3}-[0-9]{4}$"}, "note": {"type": "string", "pattern": "^[a-z ]{0,40}$"}},
          "required": ["code", "note"]})"},
  };
  std::vector<engine::GenerationParams> params(cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    params[i].ignore_eos = cases[i].schema == nullptr;
    if (cases[i].schema == nullptr) continue;
    auto c = std::make_shared<grammar::Constraint>();
    if (std::string(cases[i].schema).empty()) {
      c->grammar = std::make_shared<const grammar::Grammar>(grammar::any_json_object_grammar());
    } else {
      auto g = grammar::compile_json_schema(grammar::Json::parse(cases[i].schema));
      if (!g.ok()) {
        std::fprintf(stderr, "%s: %s\n", cases[i].name, g.error().message().c_str());
        return 1;
      }
      c->grammar = std::make_shared<const grammar::Grammar>(std::move(g).value());
    }
    c->vocab = vocab;
    params[i].constraint = c;
  }
  const std::vector<TokenId> prompt = e.tokenizer().encode("Write the answer as JSON:", true, false);
  std::map<size_t, Figures> best;
  for (int round = 0; round < 3; ++round) {
    for (size_t i = 0; i < cases.size(); ++i) {
      Result<Figures> f = run(e, prompt, params[i], n);
      if (!f.ok()) {
        std::fprintf(stderr, "%s: %s\n", cases[i].name, f.error().message().c_str());
        return 1;
      }
      auto it = best.find(i);
      if (it == best.end() || f->forward_ms + f->sample_ms < it->second.forward_ms + it->second.sample_ms) best[i] = *f;
    }
  }
  const Figures& base = best[0];
  std::printf("%-18s %12s %12s %10s %9s %9s\n", "case", "forward ms", "sample ms", "decode t/s", "outputs",
              "overhead");
  for (size_t i = 0; i < cases.size(); ++i) {
    const Figures& f = best[i];
    const double tps = 1e3 / (f.forward_ms + f.sample_ms);
    // The cost of constraining: the extra sampling time per token against the whole step.
    const double overhead = (f.sample_ms - base.sample_ms) / (base.forward_ms + base.sample_ms) * 100.0;
    std::printf("%-18s %12.3f %12.3f %10.1f %9d %8.1f%%\n", cases[i].name, f.forward_ms, f.sample_ms, tps, f.outputs,
                overhead);
  }
  return 0;
}
