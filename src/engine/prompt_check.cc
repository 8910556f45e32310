// check_prompt: the prompt limits shared by the API and the scheduler.
#include "engine/prompt_check.h"

namespace hangar::engine {

std::optional<PromptError> check_prompt(std::span<const TokenId> prompt, int32_t n_vocab, int32_t n_ctx) {
  using Kind = PromptError::Kind;
  if (prompt.empty()) return PromptError{Kind::kEmpty, "the prompt is empty (no tokens) and the model adds no BOS token"};
  for (TokenId t : prompt)
    if (t < 0 || t >= n_vocab)
      return PromptError{Kind::kTokenOutOfRange, "token id " + std::to_string(t) +
                                                     " is outside the model's vocabulary of " + std::to_string(n_vocab)};
  if (static_cast<int64_t>(prompt.size()) >= n_ctx)
    return PromptError{Kind::kTooLong, "the prompt has " + std::to_string(prompt.size()) +
                                           " tokens, which does not fit the context of " + std::to_string(n_ctx) +
                                           " tokens"};
  return std::nullopt;
}

}  // namespace hangar::engine
