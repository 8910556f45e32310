// Template: a parsed Jinja chat template that renders many times (see chat_template.h for
// rendering a conversation the way llama.cpp's server does).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"
#include "chat/interpreter.h"
#include "chat/value.h"

namespace hangar::chat {

struct Program;

// Immutable after parse; render() is const and safe to call from several threads at once
// (each call uses its own interpreter state).
class Template {
 public:
  // Parses `source` once. Errors name the line/column and what was expected, e.g.
  // "template syntax error at line 3, column 9: expected 'endfor' ...".
  static Result<Template> parse(std::string_view source);

  // Renders with `globals` (a dict Value) as top-level variables. Lists and dicts inside
  // `globals` are shared with the template, which may mutate them (x.append(...)).
  // Runtime errors (unknown filter, type errors, raise_exception(...) called by the
  // template, an exceeded limit) return Error with the message and the line/column of the
  // failing statement.
  Result<std::string> render(const Value& globals) const;
  // As above under `limits`; `stats`, when given, receives what the render spent and whether
  // a limit (rather than the template's own error) ended it.
  Result<std::string> render(const Value& globals, const RenderLimits& limits, RenderStats* stats = nullptr) const;

  const std::string& source() const { return *source_; }

 private:
  Template(std::shared_ptr<const Program> program, std::shared_ptr<const std::string> source)
      : program_(std::move(program)), source_(std::move(source)) {}

  std::shared_ptr<const Program> program_;
  std::shared_ptr<const std::string> source_;
};

}  // namespace hangar::chat
