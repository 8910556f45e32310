// GenerationState: sampling, end-of-generation, stop strings and streamed text for one request.
#include "engine/generation.h"

#include <algorithm>

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
      detok_(tok, false) {
  if (params_.constraint) {
    matcher_.emplace(params_.constraint);
    mask_.resize((static_cast<size_t>(n_vocab) + 63) / 64);
  }
}

int32_t GenerationState::draw(const float* logits) {
  if (!matcher_) return sampler_.sample(logits);
  matcher_->fill_mask(mask_.data());
  bool any = false;
  for (uint64_t w : mask_) any = any || w != 0;
  if (!any) {
    error_ = "the output grammar allows no token of this model's vocabulary here";
    return -1;
  }
  const int32_t id = sampler_.sample(logits, mask_.data());
  const bool accepted = matcher_->accept(id);
  HANGAR_ASSERT_MSG(accepted, "the grammar refused a token its own mask allowed");
  return id;
}

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
  const int32_t id = draw(logits);
  if (id < 0) {
    out.text = finish(FinishReason::kError);
    out.finished = true;
    out.reason = reason_;
    return out;
  }
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
  if ((!params_.ignore_eos || matcher_) && tok_.is_eog(id)) {
    out.text = finish(FinishReason::kStop);
    out.finished = true;
    out.reason = reason_;
    return out;
  }
  generated_.push_back(id);
  const bool preserved = std::find(params_.preserved_tokens.begin(), params_.preserved_tokens.end(), id) !=
                         params_.preserved_tokens.end();
  auto st = stops_.push(preserved ? detok_.flush() + tok_.token_text(id) : detok_.push(id));
  out.text = st.emit;
  text_ += st.emit;
  if (st.stopped) {
    finished_ = true;
    reason_ = FinishReason::kStop;
  } else if (matcher_ && matcher_->must_end()) {
    out.text += finish(FinishReason::kStop);  // the grammar is complete: nothing may follow
  } else if ((params_.max_tokens >= 0 && n_generated_ >= params_.max_tokens) || room <= 0) {
    out.text += finish(FinishReason::kLength);
  }
  out.finished = finished_;
  out.reason = reason_;
  return out;
}

}  // namespace hangar::engine
