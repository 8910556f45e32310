// Recursive-descent parser for the Jinja2 subset chat templates use: entry point, token
// helpers and statements (expressions are in parser_expr.cc).
#include <cstdlib>
#include <string>
#include <vector>

#include "chat/parser_impl.h"

namespace hangar::chat {
namespace detail {

// Parses nodes until a block tag whose name is in `end_tags`; consumes that name and stores
// it in *found (the caller parses the rest of the tag). `opener` names the block for errors.
Body Parser::parse_body(const std::vector<std::string>& end_tags, std::string* found,
                        const std::string& opener, int opener_line) {
  DepthGuard guard(*this);
  Body body;
  while (true) {
    const Token& t = cur();
    if (t.kind == TK::kEof) {
      if (!end_tags.empty()) {
        std::string list;
        for (const auto& e : end_tags) list += (list.empty() ? "'" : " or '") + e + "'";
        fail("unexpected end of template: '" + opener + "' block opened near line " +
             std::to_string(opener_line) + " is not closed (expected " + list + ")");
      }
      return body;
    }
    if (t.kind == TK::kText) {
      auto n = std::make_unique<Node>();
      n->kind = NodeKind::kText;
      n->pos = here();
      n->text = t.text;
      body.push_back(std::move(n));
      advance();
    } else if (t.kind == TK::kVarBegin) {
      auto n = std::make_unique<Node>();
      n->kind = NodeKind::kOutput;
      n->pos = here();
      advance();
      n->expr = parse_tuple(true);
      if (cur().kind != TK::kVarEnd) expected("'}}'");
      advance();
      body.push_back(std::move(n));
    } else if (t.kind == TK::kBlockBegin) {
      advance();
      if (cur().kind != TK::kName) expected("a tag name");
      const std::string& name = cur().text;
      for (const auto& e : end_tags) {
        if (name == e) {
          *found = name;
          advance();
          return body;
        }
      }
      if (is_closing_tag(name)) {
        std::string what = "unexpected '" + name + "'";
        if (end_tags.empty()) {
          what += " with no open block";
        } else {
          what += " inside the '" + opener + "' block opened near line " + std::to_string(opener_line) +
                  " (expected '" + end_tags.back() + "')";
        }
        fail(what);
      }
      body.push_back(parse_statement());
    } else {
      expected("template text or a tag");
    }
  }
}

bool Parser::is_closing_tag(const std::string& name) {
  return name == "elif" || name == "else" || name.rfind("end", 0) == 0;
}

NodePtr Parser::parse_statement() {
  const Token tag = cur();
  const std::string name = tag.text;
  auto n = std::make_unique<Node>();
  n->pos = here();
  advance();
  if (name == "if") {
    n->kind = NodeKind::kIf;
    ExprPtr cond = parse_tuple(true);
    expect_block_end();
    while (true) {
      std::string found;
      Body body = parse_body({"elif", "else", "endif"}, &found, "if", tag.line);
      n->branches.emplace_back(std::move(cond), std::move(body));
      if (found == "elif") {
        cond = parse_tuple(true);
        expect_block_end();
        continue;
      }
      if (found == "else") {
        expect_block_end();
        n->else_body = parse_body({"endif"}, &found, "if", tag.line);
      }
      expect_block_end();
      return n;
    }
  }
  if (name == "for") {
    n->kind = NodeKind::kFor;
    n->targets = parse_assign_names();
    if (!accept_name("in")) expected("'in'");
    n->expr = parse_tuple(false);
    if (accept_name("if")) n->filter = parse_expression(true);
    if (accept_name("recursive")) n->recursive = true;
    expect_block_end();
    std::string found;
    ++loop_depth_;
    n->body = parse_body({"else", "endfor"}, &found, "for", tag.line);
    --loop_depth_;
    if (found == "else") {
      expect_block_end();
      n->else_body = parse_body({"endfor"}, &found, "for", tag.line);
    }
    expect_block_end();
    return n;
  }
  if (name == "set") {
    if (cur().kind == TK::kName && peek().kind == TK::kOp && peek().text == ".") {
      // {% set ns.attr = value %}
      n->kind = NodeKind::kSet;
      auto obj = make(ExprKind::kName, here());
      obj->name = cur().text;
      n->expr = std::move(obj);
      advance();
      advance();
      n->attr = expect_name("an attribute name");
      expect_op("=");
      n->value = parse_tuple(true);
      expect_block_end();
      return n;
    }
    n->targets = parse_assign_names();
    if (accept_op("=")) {
      n->kind = NodeKind::kSet;
      n->value = parse_tuple(true);
      expect_block_end();
      return n;
    }
    n->kind = NodeKind::kSetBlock;
    if (n->targets.size() != 1) fail("a block set assigns exactly one name");
    if (is_op("|")) {
      auto placeholder = make(ExprKind::kLiteral, here());
      n->filter = parse_filters(std::move(placeholder));
    }
    expect_block_end();
    std::string found;
    n->body = parse_body({"endset"}, &found, "set", tag.line);
    expect_block_end();
    return n;
  }
  if (name == "macro") {
    n->kind = NodeKind::kMacro;
    n->text = expect_name("a macro name");
    expect_op("(");
    n->params = parse_params();
    expect_block_end();
    std::string found;
    const int saved_loop_depth = loop_depth_;
    loop_depth_ = 0;  // a loop outside the macro does not enclose its body
    n->body = parse_body({"endmacro"}, &found, "macro", tag.line);
    loop_depth_ = saved_loop_depth;
    if (cur().kind == TK::kName) advance();  // optional name after endmacro
    expect_block_end();
    return n;
  }
  if (name == "call") {
    n->kind = NodeKind::kCallBlock;
    if (accept_op("(")) n->params = parse_params();
    n->expr = parse_expression(true);
    if (n->expr->kind != ExprKind::kCall) fail("expected a macro call after 'call'");
    expect_block_end();
    std::string found;
    n->body = parse_body({"endcall"}, &found, "call", tag.line);
    expect_block_end();
    return n;
  }
  if (name == "filter") {
    n->kind = NodeKind::kFilterBlock;
    auto placeholder = make(ExprKind::kLiteral, here());
    // The first filter has no leading '|'.
    n->filter = parse_one_filter(std::move(placeholder));
    n->filter = parse_filters(std::move(n->filter));
    expect_block_end();
    std::string found;
    n->body = parse_body({"endfilter"}, &found, "filter", tag.line);
    expect_block_end();
    return n;
  }
  if (name == "with") {
    n->kind = NodeKind::kWith;
    while (cur().kind != TK::kBlockEnd) {
      if (!n->params.empty()) expect_op(",");
      Param p;
      p.name = expect_name("a variable name");
      expect_op("=");
      p.default_value = parse_expression(true);
      n->params.push_back(std::move(p));
    }
    expect_block_end();
    std::string found;
    n->body = parse_body({"endwith"}, &found, "with", tag.line);
    expect_block_end();
    return n;
  }
  if (name == "generation") {
    n->kind = NodeKind::kGeneration;
    expect_block_end();
    std::string found;
    n->body = parse_body({"endgeneration"}, &found, "generation", tag.line);
    expect_block_end();
    return n;
  }
  if (name == "break" || name == "continue") {
    if (loop_depth_ == 0) fail("'" + name + "' outside of a loop");
    n->kind = name == "break" ? NodeKind::kBreak : NodeKind::kContinue;
    expect_block_end();
    return n;
  }
  if (name == "do") {
    n->kind = NodeKind::kDo;
    n->expr = parse_tuple(true);
    expect_block_end();
    return n;
  }
  if (name == "extends" || name == "include" || name == "import" || name == "from" || name == "block") {
    fail_at(tag, "'" + name + "' is not supported in chat templates");
  }
  fail_at(tag, "unknown or misplaced tag '" + name + "'");
}

std::vector<std::string> Parser::parse_assign_names() {
  std::vector<std::string> names;
  const bool paren = accept_op("(");
  names.push_back(expect_name("a variable name"));
  while (accept_op(",")) {
    if (cur().kind != TK::kName) break;
    names.push_back(expect_name("a variable name"));
  }
  if (paren) expect_op(")");
  return names;
}

// After '(' of a macro or call block: "a, b=1)".
std::vector<Param> Parser::parse_params() {
  std::vector<Param> params;
  while (!accept_op(")")) {
    if (!params.empty()) expect_op(",");
    if (accept_op(")")) break;
    Param p;
    p.name = expect_name("a parameter name");
    if (accept_op("=")) p.default_value = parse_expression(true);
    params.push_back(std::move(p));
  }
  return params;
}

}  // namespace detail

std::shared_ptr<const Program> parse_template(std::string_view source) {
  return detail::Parser(tokenize_template(source)).parse();
}

}  // namespace hangar::chat
