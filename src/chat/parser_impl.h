// Parser internals shared by parser.cc (statements) and parser_expr.cc (expressions); not
// part of the chat API.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "chat/ast.h"
#include "chat/lexer.h"
#include "chat/parser.h"
#include "chat/render_error.h"

namespace hangar::chat::detail {

using TK = Token::Kind;

// Recursive-descent parser over lexer tokens; single-use, throws RenderError on bad input.
class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  std::shared_ptr<const Program> parse() {
    auto program = std::make_shared<Program>();
    std::string found;
    program->body = parse_body({}, &found, "");
    return program;
  }

 private:
  // ---- token helpers ----
  const Token& cur() const { return tokens_[pos_]; }
  const Token& peek(size_t n = 1) const {
    const size_t i = pos_ + n;
    return i < tokens_.size() ? tokens_[i] : tokens_.back();
  }
  SourcePos here() const { return {cur().line, cur().column}; }
  void advance() {
    if (pos_ + 1 < tokens_.size()) ++pos_;
  }
  bool is_op(const char* op) const { return cur().kind == TK::kOp && cur().text == op; }
  bool is_name(const char* name) const { return cur().kind == TK::kName && cur().text == name; }
  bool accept_op(const char* op) {
    if (!is_op(op)) return false;
    advance();
    return true;
  }
  bool accept_name(const char* name) {
    if (!is_name(name)) return false;
    advance();
    return true;
  }

  static std::string describe(const Token& t) {
    switch (t.kind) {
      case TK::kText:
        return "template text";
      case TK::kVarBegin:
        return "'{{'";
      case TK::kVarEnd:
        return "'}}'";
      case TK::kBlockBegin:
        return "'{%'";
      case TK::kBlockEnd:
        return "'%}'";
      case TK::kName:
        return "'" + t.text + "'";
      case TK::kString:
        return "string literal";
      case TK::kInt:
      case TK::kFloat:
        return "number " + t.text;
      case TK::kOp:
        return "'" + t.text + "'";
      case TK::kEof:
        return "end of template";
    }
    return "?";
  }

  [[noreturn]] void fail(const std::string& what) const { fail_at(cur(), what); }
  [[noreturn]] static void fail_at(const Token& t, const std::string& what) {
    throw RenderError("template syntax error at line " + std::to_string(t.line) + ", column " +
                      std::to_string(t.column) + ": " + what);
  }
  [[noreturn]] void expected(const std::string& what) const {
    fail("expected " + what + ", got " + describe(cur()));
  }

  void expect_op(const char* op) {
    if (!accept_op(op)) expected(std::string("'") + op + "'");
  }
  std::string expect_name(const char* what) {
    if (cur().kind != TK::kName) expected(what);
    std::string n = cur().text;
    advance();
    return n;
  }
  void expect_block_end() {
    if (cur().kind != TK::kBlockEnd) expected("'%}'");
    advance();
  }

  struct DepthGuard {
    explicit DepthGuard(Parser& p) : p_(p) {
      if (++p_.depth_ > kMaxParseDepth) p_.fail("template nested too deeply");
    }
    ~DepthGuard() { --p_.depth_; }
    Parser& p_;
  };

  static ExprPtr make(ExprKind kind, SourcePos pos) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->pos = pos;
    return e;
  }
  static ExprPtr make_binary(const std::string& op, ExprPtr a, ExprPtr b, SourcePos pos) {
    auto e = make(ExprKind::kBinary, pos);
    e->name = op;
    e->items.push_back(std::move(a));
    e->items.push_back(std::move(b));
    return e;
  }

  // ---- statements (parser.cc) ----
  // Parses nodes until a block tag whose name is in `end_tags`; consumes that name and stores
  // it in *found (the caller parses the rest of the tag). `opener` names the block for errors.
  Body parse_body(const std::vector<std::string>& end_tags, std::string* found, const std::string& opener,
                  int opener_line = 0);
  static bool is_closing_tag(const std::string& name);
  NodePtr parse_statement();
  std::vector<std::string> parse_assign_names();
  // After '(' of a macro or call block: "a, b=1)".
  std::vector<Param> parse_params();

  // ---- expressions (parser_expr.cc) ----
  // A comma-separated list becomes a tuple; `with_condexpr` false leaves a trailing
  // "if" to the for-loop filter.
  ExprPtr parse_tuple(bool with_condexpr);
  ExprPtr parse_expression(bool with_condexpr);
  ExprPtr parse_or();
  ExprPtr parse_and();
  ExprPtr parse_not();
  ExprPtr parse_compare();
  ExprPtr parse_math1();
  ExprPtr parse_concat();
  ExprPtr parse_math2();
  ExprPtr parse_pow();
  ExprPtr parse_unary(bool with_filter);
  ExprPtr parse_primary();
  ExprPtr parse_postfix(ExprPtr e);
  ExprPtr parse_subscript(ExprPtr obj, SourcePos pos);
  // Parses "(args)" into e->items[1..] and e->kwargs.
  void parse_call_args(Expr& e);
  ExprPtr parse_call(ExprPtr callee);
  ExprPtr parse_one_filter(ExprPtr input);
  ExprPtr parse_filters(ExprPtr e);
  ExprPtr parse_filter_expr(ExprPtr e);
  bool starts_test_argument() const;

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;  // enclosing for-loop bodies, to reject break/continue outside one
};

}  // namespace hangar::chat::detail
