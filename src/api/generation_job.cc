// GenerationJob: scheduler callbacks into a queue the HTTP thread drains.
#include "api/generation_job.h"

namespace hangar::api {

GenerationJob::~GenerationJob() {
  cancel();
  std::unique_lock lock(shared_->mu);
  shared_->cv.wait(lock, [&] { return shared_->finished >= submitted_; });
}

void GenerationJob::submit(int index, std::vector<int32_t> prompt, const engine::GenerationParams& params) {
  engine::Request req;
  req.prompt = std::move(prompt);
  req.params = params;
  // The callbacks hold the shared state, not the job: they stay valid whatever happens here.
  std::shared_ptr<Shared> shared = shared_;
  req.on_token = [shared, index](const engine::StepOutput& out) {
    std::lock_guard lock(shared->mu);
    if (shared->cancelled) return false;
    ChoiceEvent ev;
    ev.index = index;
    ev.step = out;
    shared->events.push_back(std::move(ev));
    shared->cv.notify_all();
    return true;
  };
  req.on_done = [shared, index](const engine::RequestResult& result) {
    std::lock_guard lock(shared->mu);
    ChoiceEvent ev;
    ev.index = index;
    ev.done = true;
    ev.result = result;
    shared->events.push_back(std::move(ev));
    shared->finished += 1;
    shared->cv.notify_all();
  };
  ++submitted_;
  handles_.push_back(scheduler_.submit(std::move(req)));
}

bool GenerationJob::next(ChoiceEvent* out) {
  if (taken_done_ >= submitted_) return false;
  std::unique_lock lock(shared_->mu);
  shared_->cv.wait(lock, [&] { return !shared_->events.empty(); });
  *out = std::move(shared_->events.front());
  shared_->events.pop_front();
  if (out->done) ++taken_done_;
  return true;
}

GenerationJob::Wait GenerationJob::next_for(ChoiceEvent* out, std::chrono::milliseconds timeout) {
  if (taken_done_ >= submitted_) return Wait::kFinished;
  std::unique_lock lock(shared_->mu);
  if (!shared_->cv.wait_for(lock, timeout, [&] { return !shared_->events.empty(); })) return Wait::kTimeout;
  *out = std::move(shared_->events.front());
  shared_->events.pop_front();
  if (out->done) ++taken_done_;
  return Wait::kEvent;
}

void GenerationJob::cancel() {
  {
    std::lock_guard lock(shared_->mu);
    shared_->cancelled = true;
  }
  for (auto& h : handles_) h->cancel();
}

}  // namespace hangar::api
