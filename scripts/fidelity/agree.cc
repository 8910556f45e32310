// Agreement of hangar's log-probs with an oracle json (oracle.mjs), as golden_agreement_test
// measures it: hangar batched (prompt, then the completion as one batch), seq (prompt, then one
// token at a time) and token by token (every token alone), against the oracle's sequential
// steps and its batched ones. Built by build.sh; docs/HARDENING.md has the figures.
//   agree MODEL.gguf ORACLE.json
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include "engine/engine.h"
#include "sampling/logprobs.h"
using namespace hangar;
struct Agg { int steps=0, decisive=0, agree=0, ref=0, found=0; double sum=0; };
void add(Agg& a, const std::vector<std::pair<int32_t,float>>& ours, const nlohmann::json& ref) {
  std::map<int32_t,float> by(ours.begin(), ours.end());
  ++a.steps;
  double lead = ref[0][1].get<double>() - ref[1][1].get<double>();
  if (lead >= 0.1) { ++a.decisive; if (ours[0].first == ref[0][0].get<int32_t>()) ++a.agree; }
  for (auto& r : ref) { ++a.ref; auto it = by.find(r[0].get<int32_t>()); if (it == by.end()) continue; ++a.found; a.sum += std::fabs(it->second - r[1].get<double>()); }
}
void print(const char* what, const Agg& a) {
  std::printf("%-28s top-1 %d/%d  top5-in-10 %.3f  mean|d| %.4f\n", what, a.agree, a.decisive, double(a.found)/a.ref, a.sum/a.found);
}
int main(int argc, char** argv) {
  nlohmann::json g = nlohmann::json::parse(std::ifstream(argv[2]));
  ThreadPool pool(2);
  engine::EngineOptions eo; eo.n_ctx = 512; eo.batch_tokens = 256;
  auto e = engine::Engine::load(argv[1], eo, pool);
  if (!e.ok()) { std::fprintf(stderr, "%s\n", e.error().message().c_str()); return 1; }
  const int32_t nv = (*e)->n_vocab();
  Agg bs, bb, ss, sb, ts;
  for (auto& c : g["cases"]) {
    auto prompt = c["prompt_tokens"].get<std::vector<int32_t>>();
    auto comp = c["completion_tokens"].get<std::vector<int32_t>>();
    // batched
    {
      std::vector<float> lg((prompt.size() + comp.size()) * nv);
      engine::Sequence seq;
      engine::EvalItem a{&seq, prompt, lg.data(), true};
      if (!(*e)->eval({&a,1}).ok()) return 2;
      std::vector<int32_t> rest(comp.begin(), comp.end() - 1);
      engine::EvalItem b{&seq, rest, lg.data() + prompt.size() * nv, true};
      if (!(*e)->eval({&b,1}).ok()) return 2;
      seq.release((*e)->kv_cache());
      for (size_t i = 0; i < comp.size(); ++i) {
        auto ours = top_logprobs(&lg[(prompt.size() - 1 + i) * nv], nv, 10);
        add(bs, ours, c["steps"][i]["top"]); add(bb, ours, c.contains("batched") ? c["batched"][i]["top"] : c["steps"][i]["top"]);
      }
    }
    // token by token, the prompt too: every matmul takes the direct (gemv) kernels
    {
      std::vector<float> lg(nv);
      engine::Sequence seq;
      for (size_t j = 0; j < prompt.size(); ++j) {
        std::vector<int32_t> one{prompt[j]};
        engine::EvalItem a{&seq, one, lg.data(), false};
        if (!(*e)->eval({&a,1}).ok()) return 2;
      }
      for (size_t i = 0; i < comp.size(); ++i) {
        add(ts, top_logprobs(lg.data(), nv, 10), c["steps"][i]["top"]);
        std::vector<int32_t> one{comp[i]};
        engine::EvalItem b{&seq, one, lg.data(), false};
        if (!(*e)->eval({&b,1}).ok()) return 2;
      }
      seq.release((*e)->kv_cache());
    }
    // sequential
    {
      std::vector<float> lg(nv);
      engine::Sequence seq;
      engine::EvalItem a{&seq, prompt, lg.data(), false};
      if (!(*e)->eval({&a,1}).ok()) return 2;
      for (size_t i = 0; i < comp.size(); ++i) {
        auto ours = top_logprobs(lg.data(), nv, 10);
        add(ss, ours, c["steps"][i]["top"]); add(sb, ours, c.contains("batched") ? c["batched"][i]["top"] : c["steps"][i]["top"]);
        std::vector<int32_t> one{comp[i]};
        engine::EvalItem b{&seq, one, lg.data(), false};
        if (!(*e)->eval({&b,1}).ok()) return 2;
      }
      seq.release((*e)->kv_cache());
    }
  }
  print("hangar batched vs ref seq", bs); print("hangar batched vs ref batched", bb);
  print("hangar seq vs ref seq", ss); print("hangar seq vs ref batched", sb);
  print("hangar tokenwise vs ref seq", ts);
  Agg rr;  // the oracle's own batched vs sequential
  for (auto& c : g["cases"]) for (size_t i = 0; c.contains("batched") && i < c["steps"].size(); ++i) {
    std::vector<std::pair<int32_t,float>> o; for (auto& r : c["batched"][i]["top"]) o.push_back({r[0].get<int32_t>(), r[1].get<float>()});
    add(rr, o, c["steps"][i]["top"]);
  }
  print("ref batched vs ref seq (top5)", rr);
}
