// Parser: turns lexer tokens into the AST (ast.h) following Jinja2's grammar and precedence.
#pragma once

#include <memory>
#include <string_view>

#include "chat/ast.h"

namespace hangar::chat {

// Parses a whole template. Throws RenderError "template syntax error at line L, column C:
// expected X, got Y" on malformed input, including unclosed blocks and nesting deeper than
// kMaxParseDepth.
std::shared_ptr<const Program> parse_template(std::string_view source);

inline constexpr int kMaxParseDepth = 200;

}  // namespace hangar::chat
