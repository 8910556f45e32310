// The limits a prompt must meet before it is queued: the API (a 400) and the scheduler ask the
// same function, so each limit and its message has one home.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "engine/sequence.h"

namespace hangar::engine {

struct PromptError {
  enum class Kind { kEmpty, kTokenOutOfRange, kTooLong };
  Kind kind;
  std::string message;  // names the limit and the numbers
};

// Non-empty, every id in [0, n_vocab), and shorter than n_ctx (one position must be left to
// generate into). nullopt when the prompt is fine.
std::optional<PromptError> check_prompt(std::span<const TokenId> prompt, int32_t n_vocab, int32_t n_ctx);

}  // namespace hangar::engine
