// RenderError: the exception that carries a template error inside the chat module; the public
// entry points (Template::parse/render) catch it and return hangar::Error instead.
#pragma once

#include <stdexcept>
#include <string>

namespace hangar::chat {

// Thrown for bad templates and runtime errors (unknown filter, type error, raise_exception).
// Never escapes src/chat: Template converts it into an Error with the same message.
class RenderError : public std::runtime_error {
 public:
  explicit RenderError(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace hangar::chat
