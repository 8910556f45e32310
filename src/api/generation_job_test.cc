// GenerationJob over a real model's scheduler: events in order, several choices, cancellation.
#include "api/generation_job.h"

#include <gtest/gtest.h>

#include "manager/engine_loader.h"
#include "manager/model_inspect.h"

namespace hangar::api {
namespace {

std::shared_ptr<manager::LoadedModel> load_tiny(ThreadPool& pool, int parallel) {
  manager::EngineLoader loader(pool, {.ctx = 256, .parallel = parallel});
  manager::ModelRecord rec;
  rec.id = "tiny";
  rec.path = std::string(HANGAR_SHARED_DIR) + "/models/llama-2-tiny-random.gguf";
  auto loaded = loader.load(rec, {});
  EXPECT_TRUE(loaded.ok()) << loaded.error().message();
  return *loaded;
}

engine::GenerationParams greedy(int max_tokens) {
  engine::GenerationParams p;
  p.sampling.temperature = 0;
  p.max_tokens = max_tokens;
  p.ignore_eos = true;
  return p;
}

TEST(GenerationJob, DeliversStepsThenDonePerChoice) {
  ThreadPool pool(2);
  auto model = load_tiny(pool, 2);
  auto& m = dynamic_cast<manager::EngineModel&>(*model);
  std::vector<int32_t> prompt = m.tokenizer().encode("Once upon a time", true, false);
  GenerationJob job(m.scheduler());
  job.submit(0, prompt, greedy(5));
  job.submit(1, prompt, greedy(3));
  std::vector<std::vector<int32_t>> tokens(2);
  std::vector<bool> done(2, false);
  ChoiceEvent ev;
  while (job.next(&ev)) {
    ASSERT_FALSE(done[ev.index]) << "event after done";
    if (ev.done) {
      done[ev.index] = true;
      EXPECT_EQ(ev.result.reason, engine::FinishReason::kLength);
      EXPECT_EQ(ev.result.timings.generated_tokens, static_cast<int>(tokens[ev.index].size()));
    } else {
      tokens[ev.index].push_back(ev.step.token);
    }
  }
  EXPECT_TRUE(done[0] && done[1]);
  ASSERT_EQ(tokens[0].size(), 5u);
  ASSERT_EQ(tokens[1].size(), 3u);
  // Greedy: the shorter choice is a prefix of the longer one.
  EXPECT_TRUE(std::equal(tokens[1].begin(), tokens[1].end(), tokens[0].begin()));
  EXPECT_FALSE(job.next(&ev));
}

TEST(GenerationJob, CancelStopsTheGenerationEarly) {
  ThreadPool pool(2);
  auto model = load_tiny(pool, 1);
  auto& m = dynamic_cast<manager::EngineModel&>(*model);
  GenerationJob job(m.scheduler());
  job.submit(0, m.tokenizer().encode("Hello", true, false), greedy(200));
  ChoiceEvent ev;
  ASSERT_TRUE(job.next(&ev));
  job.cancel();
  int steps = ev.done ? 0 : 1;
  engine::RequestResult result;
  while (job.next(&ev)) {
    if (ev.done) result = ev.result;
    else ++steps;
  }
  EXPECT_EQ(result.reason, engine::FinishReason::kCancelled);
  EXPECT_LT(steps, 200);
}

TEST(GenerationJob, SchedulerRejectionArrivesAsDone) {
  ThreadPool pool(1);
  auto model = load_tiny(pool, 1);
  auto& m = dynamic_cast<manager::EngineModel&>(*model);
  GenerationJob job(m.scheduler());
  job.submit(0, {}, greedy(4));  // empty prompt
  ChoiceEvent ev;
  ASSERT_TRUE(job.next(&ev));
  EXPECT_TRUE(ev.done);
  EXPECT_EQ(ev.result.reason, engine::FinishReason::kError);
  EXPECT_FALSE(ev.result.error.empty());
  EXPECT_FALSE(job.next(&ev));
}

TEST(GenerationJob, DestroyingARunningJobWaitsForTheScheduler) {
  ThreadPool pool(2);
  auto model = load_tiny(pool, 2);
  auto& m = dynamic_cast<manager::EngineModel&>(*model);
  {
    GenerationJob job(m.scheduler());
    job.submit(0, m.tokenizer().encode("A", true, false), greedy(200));
    job.submit(1, m.tokenizer().encode("B", true, false), greedy(200));
  }  // no events taken: the destructor cancels and waits
  m.scheduler().wait_idle();
  EXPECT_EQ(m.scheduler().stats().running, 0);
}

}  // namespace
}  // namespace hangar::api
