// GenerationJob: one HTTP request's generations on a model's scheduler, handed to the HTTP thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/scheduler.h"

namespace hangar::api {

// What the scheduler reported for one choice: a step, or the end of that choice.
struct ChoiceEvent {
  int index = 0;
  bool done = false;
  engine::StepOutput step;       // when !done
  engine::RequestResult result;  // when done
};

// The scheduler's callbacks run on its thread and must not block, so they only append to a
// queue here; the HTTP thread takes events with next(). Submit, next and cancel are called by
// the one HTTP thread that owns the job; the callbacks may run concurrently with them.
// Destroying the job cancels what still runs and waits until the scheduler has let go of every
// choice (a few milliseconds: one scheduler step), so no callback outlives the request and the
// model's lease can be released safely afterwards. The scheduler must outlive the job.
class GenerationJob {
 public:
  explicit GenerationJob(engine::Scheduler& scheduler) : scheduler_(scheduler), shared_(std::make_shared<Shared>()) {}
  ~GenerationJob();
  GenerationJob(const GenerationJob&) = delete;
  GenerationJob& operator=(const GenerationJob&) = delete;

  // Queues choice `index`. Scheduler-side validation errors arrive as a done event.
  void submit(int index, std::vector<int32_t> prompt, const engine::GenerationParams& params);
  // Blocks for the next event and returns true; false once every submitted choice's done event
  // has been taken.
  bool next(ChoiceEvent* out);
  // Like next(), but waits at most `timeout` (so the caller can check on its client meanwhile).
  enum class Wait { kEvent, kTimeout, kFinished };
  Wait next_for(ChoiceEvent* out, std::chrono::milliseconds timeout);
  // Stops every choice (the client went away); their done events still follow.
  void cancel();

 private:
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<ChoiceEvent> events;
    int finished = 0;  // on_done calls so far
    bool cancelled = false;
  };

  engine::Scheduler& scheduler_;
  std::shared_ptr<Shared> shared_;
  std::vector<std::shared_ptr<engine::RequestHandle>> handles_;
  int submitted_ = 0;
  int taken_done_ = 0;
};

}  // namespace hangar::api
