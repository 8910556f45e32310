// sampling_bench: prints the time per sample() for common settings on a 150k vocabulary.
#include <cstdio>
#include <random>
#include <vector>

#include "base/clock.h"
#include "sampling/logprobs.h"
#include "sampling/sampler.h"

namespace {

using hangar::SamplingParams;

void bench(const char* name, SamplingParams params, const std::vector<std::vector<float>>& rows) {
  const int32_t n_vocab = static_cast<int32_t>(rows[0].size());
  params.seed = 1;
  hangar::Sampler sampler(params, n_vocab);
  for (int i = 0; i < 64; ++i) sampler.accept(i * 7);
  const int iters = 200;
  hangar::Stopwatch watch;
  int64_t sink = 0;
  for (int i = 0; i < iters; ++i) sink += sampler.sample(rows[i % rows.size()].data());
  std::printf("%-44s %8.3f ms/token  (checksum %lld)\n", name, watch.elapsed_ms() / iters,
              static_cast<long long>(sink));
}

}  // namespace

int main() {
  const int32_t n_vocab = 151936;  // Qwen2's vocabulary
  std::mt19937 rng(5);
  // Peaked rows look like a trained model; flat rows like the random-weight test models.
  std::vector<std::vector<float>> peaked(8, std::vector<float>(n_vocab));
  std::vector<std::vector<float>> flat(8, std::vector<float>(n_vocab));
  std::normal_distribution<float> wide(0.0f, 3.0f), narrow(0.0f, 0.3f);
  for (auto& row : peaked) for (float& x : row) x = wide(rng);
  for (auto& row : flat) for (float& x : row) x = narrow(rng);

  for (const auto* rows : {&peaked, &flat}) {
    std::printf("%s logits, n_vocab %d\n", rows == &peaked ? "peaked" : "flat", n_vocab);
    SamplingParams p;
    bench("default (k40 p0.95 minp0.05 t0.8)", p, *rows);
    p.temperature = 0.0f;
    bench("greedy", p, *rows);
    p = SamplingParams{};
    p.top_k = 0;
    bench("top_k off, top_p 0.95, min_p 0.05", p, *rows);
    p.min_p = 0.0f;
    bench("top_k off, top_p 0.95", p, *rows);
    p.top_p = 1.0f;
    bench("top_k off, top_p off (full softmax)", p, *rows);
    p = SamplingParams{};
    p.repeat_penalty = 1.1f;
    p.presence_penalty = 0.5f;
    bench("default + penalties", p, *rows);
    hangar::Stopwatch watch;
    float sink = 0;
    for (int i = 0; i < 200; ++i) sink += hangar::top_logprobs((*rows)[i % 8].data(), n_vocab, 5)[0].second;
    std::printf("%-44s %8.3f ms/token  (checksum %.1f)\n", "top_logprobs k=5", watch.elapsed_ms() / 200, sink);
  }
  return 0;
}
