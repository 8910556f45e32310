// sampling_bench: prints the time per sample() for common settings on a 150k vocabulary.
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <vector>

#include "sampling/logprobs.h"
#include "sampling/sampler.h"

namespace {

// CPU time of this thread: the development machine is shared, and wall time there mostly
// measures the other users.
double thread_ms() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

using hangar::SamplingParams;

void bench(const char* name, SamplingParams params, const std::vector<std::vector<float>>& rows) {
  const int32_t n_vocab = static_cast<int32_t>(rows[0].size());
  params.seed = 1;
  hangar::Sampler sampler(params, n_vocab);
  for (int i = 0; i < 64; ++i) sampler.accept(i * 7);
  // The machine is shared, so report the best of several rounds rather than the mean.
  const int iters = 50;
  double best_ms = 1e30;
  int64_t sink = 0;
  for (int round = 0; round < 7; ++round) {
    const double start = thread_ms();
    for (int i = 0; i < iters; ++i) sink += sampler.sample(rows[i % rows.size()].data());
    best_ms = std::min(best_ms, (thread_ms() - start) / iters);
  }
  std::printf("%-44s %8.3f ms/token  (checksum %lld)\n", name, best_ms,
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
    {
      // For scale: what a full sort of the vocabulary per token would cost.
      double best_sort = 1e30;
      std::vector<hangar::Candidate> c(n_vocab);
      for (int round = 0; round < 3; ++round) {
        const double start = thread_ms();
        for (int i = 0; i < 10; ++i) {
          const auto& row = (*rows)[i % 8];
          for (int32_t t = 0; t < n_vocab; ++t) c[t] = {t, row[t], 0.0f};
          std::sort(c.begin(), c.end(), hangar::ranks_before);
        }
        best_sort = std::min(best_sort, (thread_ms() - start) / 10);
      }
      std::printf("%-44s %8.3f ms/token\n", "(reference: std::sort of the vocabulary)", best_sort);
    }
    double best_ms = 1e30;
    float sink = 0;
    for (int round = 0; round < 7; ++round) {
      const double start = thread_ms();
      for (int i = 0; i < 50; ++i) {
        sink += hangar::top_logprobs((*rows)[i % 8].data(), n_vocab, 5)[0].second;
      }
      best_ms = std::min(best_ms, (thread_ms() - start) / 50);
    }
    std::printf("%-44s %8.3f ms/token  (checksum %.1f)\n", "top_logprobs k=5", best_ms, sink);
  }
  return 0;
}
