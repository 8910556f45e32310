// Agreement with llama.cpp: teacher-forced scoring of every golden case of every shared model.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <tuple>

#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "sampling/logprobs.h"

namespace hangar {
namespace {

struct Agreement {
  int steps = 0, decisive = 0, top1_agree = 0;
  int ref_top5 = 0, ref_top5_found = 0;
  double abs_diff_sum = 0;
  double top1_rate() const { return decisive ? double(top1_agree) / decisive : 1.0; }
  double top5_rate() const { return ref_top5 ? double(ref_top5_found) / ref_top5 : 1.0; }
  double mean_abs_diff() const { return ref_top5_found ? abs_diff_sum / ref_top5_found : 0.0; }
};

struct GoldenModel {
  std::string file;
  double max_mean_diff;  // 0.02 for F16/Q8_0, 0.05 for 4-bit
};

void PrintTo(const GoldenModel& m, std::ostream* os) { *os << m.file; }

// The same criteria on every device: the CUDA instances skip where no GPU is present.
class GoldenAgreement : public ::testing::TestWithParam<std::tuple<model::Device, GoldenModel>> {};

TEST_P(GoldenAgreement, ScoresMatchLlamaCpp) {
  const model::Device device = std::get<0>(GetParam());
  const GoldenModel& gm = std::get<1>(GetParam());
  if (device == model::Device::kCuda && !model::cuda_device_present())
    GTEST_SKIP() << "no CUDA GPU: " << model::cuda_probe_message();
  std::ifstream in(std::string(HANGAR_SHARED_DIR) + "/golden/completions/" + gm.file + ".json");
  ASSERT_TRUE(in.good());
  nlohmann::json golden = nlohmann::json::parse(in);

  ThreadPool pool(2);
  engine::EngineOptions eo;
  eo.n_ctx = 1024;
  eo.batch_tokens = 256;
  eo.device = device;
  auto loaded = engine::Engine::load(std::string(HANGAR_SHARED_DIR) + "/models/" + gm.file, eo, pool);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  engine::Engine& e = **loaded;
  const int32_t nv = e.n_vocab();

  Agreement a;
  for (const auto& c : golden["cases"]) {
    std::vector<int32_t> prompt = c["prompt_tokens"].get<std::vector<int32_t>>();
    std::vector<int32_t> completion = c["completion_tokens"].get<std::vector<int32_t>>();
    // The prompt as one batch, then the completion as a second one, both teacher-forced: the
    // same split as llama.cpp's run that wrote the golden (prompt, then generated tokens).
    std::vector<float> logits((prompt.size() + completion.size()) * nv);
    engine::Sequence seq;
    engine::EvalItem first{&seq, prompt, logits.data(), true};
    ASSERT_TRUE(e.eval({&first, 1}).ok());
    engine::EvalItem second{&seq, completion, logits.data() + prompt.size() * nv, true};
    ASSERT_TRUE(e.eval({&second, 1}).ok());
    seq.release(e.kv_cache());

    const auto& steps = c["steps"];
    for (size_t i = 0; i < steps.size(); ++i) {
      const float* row = &logits[(prompt.size() - 1 + i) * nv];
      auto ours = top_logprobs(row, nv, 10);
      std::map<int32_t, float> ours_by_id(ours.begin(), ours.end());
      const auto& ref = steps[i]["top"];
      ++a.steps;
      const double lead = ref[0][1].get<double>() - ref[1][1].get<double>();
      if (lead >= 0.1) {
        ++a.decisive;
        if (ours[0].first == ref[0][0].get<int32_t>()) ++a.top1_agree;
      }
      for (const auto& r : ref) {
        ++a.ref_top5;
        auto it = ours_by_id.find(r[0].get<int32_t>());
        if (it == ours_by_id.end()) continue;
        ++a.ref_top5_found;
        a.abs_diff_sum += std::fabs(it->second - r[1].get<double>());
      }
    }
  }
  std::printf("[agreement] %-4s %-28s steps %d  top-1 %.2f%% (%d/%d decisive)  top-5 in top-10 %.2f%%  "
              "mean |dlogprob| %.4f\n",
              model::device_name(device), gm.file.c_str(), a.steps, 100 * a.top1_rate(), a.top1_agree, a.decisive,
              100 * a.top5_rate(), a.mean_abs_diff());
  EXPECT_GT(a.steps, 0);
  EXPECT_GE(a.top1_rate(), 0.98);
  EXPECT_GE(a.top5_rate(), 0.99);
  EXPECT_LE(a.mean_abs_diff(), gm.max_mean_diff);
}

INSTANTIATE_TEST_SUITE_P(
    SharedModels, GoldenAgreement,
    ::testing::Combine(::testing::Values(model::Device::kCpu, model::Device::kCuda), ::testing::Values(GoldenModel{"llama-2-tiny-random.gguf", 0.02},
                      GoldenModel{"llama-spm-d256-f16.gguf", 0.02},
                      GoldenModel{"llama-spm-d256-q8_0.gguf", 0.02},
                      GoldenModel{"llama-spm-d256-q4_0.gguf", 0.05},
                      GoldenModel{"llama-spm-d256-q4_k_m.gguf", 0.05},
                      GoldenModel{"llama3-d256-q4_k_m.gguf", 0.05},
                      GoldenModel{"qwen2-d256-q4_k_m.gguf", 0.05},
                      GoldenModel{"qwen3-d256-q4_k_m.gguf", 0.05})),
    [](const auto& info) {
      const GoldenModel& m = std::get<1>(info.param);
      std::string n = m.file.substr(0, m.file.size() - 5);
      for (char& ch : n)
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return std::string(model::device_name(std::get<0>(info.param))) + "_" + n;
    });

}  // namespace
}  // namespace hangar
