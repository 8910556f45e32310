// Lexer: splits template source into text and tag tokens, applying Jinja2 whitespace control
// as HF transformers and llama.cpp configure it (trim_blocks, lstrip_blocks, no trailing newline).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace hangar::chat {

struct Token {
  enum class Kind {
    kText,        // literal template text, whitespace control already applied
    kVarBegin,    // {{
    kVarEnd,      // }}
    kBlockBegin,  // {%
    kBlockEnd,    // %}
    kName,        // identifiers and keywords
    kString,      // string literal, escapes decoded
    kInt,
    kFloat,
    kOp,  // operators and punctuation
    kEof,
  };
  Kind kind;
  std::string text;
  int line = 1;
  int column = 1;
};

// Tokenizes `source`. Throws RenderError naming the line/column on unterminated tags,
// comments or strings and on characters that cannot start a token.
std::vector<Token> tokenize_template(std::string_view source);

}  // namespace hangar::chat
