// GenerationState: sampling, end-of-generation, stop strings and streamed text for one request.
#include "engine/generation.h"

#include "sampling/logprobs.h"

namespace hangar::engine {

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "cancelled";
    case FinishReason::kError: return "error";
    default: return "";
  }
}

GenerationState::GenerationState(const Tokenizer& tok, const GenerationParams& params, int32_t n_vocab)
    : tok_(tok),
      params_(params),
      n_vocab_(n_vocab),
      sampler_(params.sampling, n_vocab),
      stops_(params.stop),
      detok_(tok, false) {}

void GenerationState::accept_prompt(const std::vector<int32_t>& prompt) {
  for (int32_t t : prompt) sampler_.accept(t);
}

std::string GenerationState::finish(FinishReason reason) {
  finished_ = true;
  reason_ = reason;
  std::string tail;
  if (!stops_.stopped()) {
    auto st = stops_.push(detok_.flush());
    tail = st.emit;
    if (!st.stopped) tail += stops_.flush();
  }
  text_ += tail;
  return tail;
}

void GenerationState::cancel() {
  if (!finished_) {
    finished_ = true;
    reason_ = FinishReason::kCancelled;
  }
}

StepOutput GenerationState::step(const float* logits, int32_t room) {
  StepOutput out;
  if (finished_) {
    out.finished = true;
    out.reason = reason_;
    return out;
  }
  const int32_t id = sampler_.sample(logits);
  sampler_.accept(id);
  out.token = id;
  ++n_generated_;
  if (params_.top_logprobs >= 0) {
    TokenLogprob lp;
    lp.token = id;
    lp.logprob = token_logprob(logits, n_vocab_, id);
    if (params_.top_logprobs > 0) lp.top = top_logprobs(logits, n_vocab_, params_.top_logprobs);
    out.logprob = std::move(lp);
  }
  if (!params_.ignore_eos && tok_.is_eog(id)) {
    out.text = finish(FinishReason::kStop);
    out.finished = true;
    out.reason = reason_;
    return out;
  }
  generated_.push_back(id);
  auto st = stops_.push(detok_.push(id));
  out.text = st.emit;
  text_ += st.emit;
  if (st.stopped) {
    finished_ = true;
    reason_ = FinishReason::kStop;
  } else if ((params_.max_tokens >= 0 && n_generated_ >= params_.max_tokens) || room <= 0) {
    out.text += finish(FinishReason::kLength);
  }
  out.finished = finished_;
  out.reason = reason_;
  return out;
}

}  // namespace hangar::engine
