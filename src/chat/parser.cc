// Recursive-descent parser for the Jinja2 subset chat templates use (see parser.h).
#include "chat/parser.h"

#include <cstdlib>
#include <string>
#include <vector>

#include "chat/lexer.h"
#include "chat/render_error.h"

namespace hangar::chat {
namespace {

using TK = Token::Kind;

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
      case TK::kText: return "template text";
      case TK::kVarBegin: return "'{{'";
      case TK::kVarEnd: return "'}}'";
      case TK::kBlockBegin: return "'{%'";
      case TK::kBlockEnd: return "'%}'";
      case TK::kName: return "'" + t.text + "'";
      case TK::kString: return "string literal";
      case TK::kInt:
      case TK::kFloat: return "number " + t.text;
      case TK::kOp: return "'" + t.text + "'";
      case TK::kEof: return "end of template";
    }
    return "?";
  }

  [[noreturn]] void fail(const std::string& what) const { fail_at(cur(), what); }
  [[noreturn]] static void fail_at(const Token& t, const std::string& what) {
    throw RenderError("template syntax error at line " + std::to_string(t.line) + ", column " +
                      std::to_string(t.column) + ": " + what);
  }
  [[noreturn]] void expected(const std::string& what) const { fail("expected " + what + ", got " + describe(cur())); }

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

  // ---- statements ----

  // Parses nodes until a block tag whose name is in `end_tags`; consumes that name and stores
  // it in *found (the caller parses the rest of the tag). `opener` names the block for errors.
  Body parse_body(const std::vector<std::string>& end_tags, std::string* found, const std::string& opener,
                  int opener_line = 0) {
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

  static bool is_closing_tag(const std::string& name) {
    return name == "elif" || name == "else" || name.rfind("end", 0) == 0;
  }

  NodePtr parse_statement() {
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

  std::vector<std::string> parse_assign_names() {
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
  std::vector<Param> parse_params() {
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

  // ---- expressions ----

  // A comma-separated list becomes a tuple; `with_condexpr` false leaves a trailing
  // "if" to the for-loop filter.
  ExprPtr parse_tuple(bool with_condexpr) {
    const SourcePos pos = here();
    ExprPtr first = parse_expression(with_condexpr);
    if (!is_op(",")) return first;
    auto t = make(ExprKind::kTuple, pos);
    t->items.push_back(std::move(first));
    while (accept_op(",")) {
      if (cur().kind == TK::kVarEnd || cur().kind == TK::kBlockEnd || is_name("if") || is_op(")")) break;
      t->items.push_back(parse_expression(with_condexpr));
    }
    return t;
  }

  ExprPtr parse_expression(bool with_condexpr) {
    DepthGuard guard(*this);
    const SourcePos pos = here();
    ExprPtr e = parse_or();
    if (!with_condexpr) return e;
    while (is_name("if")) {
      advance();
      auto c = make(ExprKind::kCond, pos);
      ExprPtr cond = parse_or();
      ExprPtr otherwise;
      if (accept_name("else")) otherwise = parse_expression(true);
      c->items.push_back(std::move(cond));
      c->items.push_back(std::move(e));
      c->items.push_back(std::move(otherwise));
      e = std::move(c);
    }
    return e;
  }

  ExprPtr parse_or() {
    const SourcePos pos = here();
    ExprPtr left = parse_and();
    while (accept_name("or")) left = make_binary("or", std::move(left), parse_and(), pos);
    return left;
  }

  ExprPtr parse_and() {
    const SourcePos pos = here();
    ExprPtr left = parse_not();
    while (accept_name("and")) left = make_binary("and", std::move(left), parse_not(), pos);
    return left;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      DepthGuard guard(*this);
      const SourcePos pos = here();
      advance();
      auto e = make(ExprKind::kUnary, pos);
      e->name = "not";
      e->items.push_back(parse_not());
      return e;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    const SourcePos pos = here();
    ExprPtr left = parse_math1();
    while (true) {
      std::string op;
      if (cur().kind == TK::kOp && (cur().text == "==" || cur().text == "!=" || cur().text == "<" ||
                                    cur().text == ">" || cur().text == "<=" || cur().text == ">=")) {
        op = cur().text;
        advance();
      } else if (is_name("in")) {
        op = "in";
        advance();
      } else if (is_name("not") && peek().kind == TK::kName && peek().text == "in") {
        op = "not in";
        advance();
        advance();
      } else {
        return left;
      }
      left = make_binary(op, std::move(left), parse_math1(), pos);
    }
  }

  ExprPtr parse_math1() {
    const SourcePos pos = here();
    ExprPtr left = parse_concat();
    while (is_op("+") || is_op("-")) {
      const std::string op = cur().text;
      advance();
      left = make_binary(op, std::move(left), parse_concat(), pos);
    }
    return left;
  }

  ExprPtr parse_concat() {
    const SourcePos pos = here();
    ExprPtr left = parse_math2();
    while (accept_op("~")) left = make_binary("~", std::move(left), parse_math2(), pos);
    return left;
  }

  ExprPtr parse_math2() {
    const SourcePos pos = here();
    ExprPtr left = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const std::string op = cur().text;
      advance();
      left = make_binary(op, std::move(left), parse_pow(), pos);
    }
    return left;
  }

  ExprPtr parse_pow() {
    const SourcePos pos = here();
    ExprPtr left = parse_unary(true);
    while (accept_op("**")) left = make_binary("**", std::move(left), parse_unary(true), pos);
    return left;
  }

  ExprPtr parse_unary(bool with_filter) {
    DepthGuard guard(*this);
    const SourcePos pos = here();
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      const std::string op = cur().text;
      advance();
      e = make(ExprKind::kUnary, pos);
      e->name = op;
      e->items.push_back(parse_unary(false));
    } else {
      e = parse_postfix(parse_primary());
    }
    if (with_filter) e = parse_filter_expr(std::move(e));
    return e;
  }

  ExprPtr parse_primary() {
    const Token& t = cur();
    const SourcePos pos = here();
    switch (t.kind) {
      case TK::kName: {
        auto e = make(ExprKind::kLiteral, pos);
        if (t.text == "true" || t.text == "True") {
          e->literal = Value(true);
        } else if (t.text == "false" || t.text == "False") {
          e->literal = Value(false);
        } else if (t.text == "none" || t.text == "None") {
          e->literal = Value::none();
        } else {
          e->kind = ExprKind::kName;
          e->name = t.text;
        }
        advance();
        return e;
      }
      case TK::kString: {
        std::string s = t.text;
        advance();
        while (cur().kind == TK::kString) {  // adjacent literals concatenate
          s += cur().text;
          advance();
        }
        auto e = make(ExprKind::kLiteral, pos);
        e->literal = Value(std::move(s));
        return e;
      }
      case TK::kInt: {
        auto e = make(ExprKind::kLiteral, pos);
        errno = 0;
        const long long v = std::strtoll(t.text.c_str(), nullptr, 10);
        if (errno == ERANGE) {
          e->literal = Value(std::strtod(t.text.c_str(), nullptr));
        } else {
          e->literal = Value(static_cast<int64_t>(v));
        }
        advance();
        return e;
      }
      case TK::kFloat: {
        auto e = make(ExprKind::kLiteral, pos);
        e->literal = Value(std::strtod(t.text.c_str(), nullptr));
        advance();
        return e;
      }
      case TK::kOp:
        if (t.text == "(") {
          advance();
          if (accept_op(")")) return make(ExprKind::kTuple, pos);
          ExprPtr first = parse_expression(true);
          if (accept_op(")")) return first;
          auto tup = make(ExprKind::kTuple, pos);
          tup->items.push_back(std::move(first));
          while (accept_op(",")) {
            if (is_op(")")) break;
            tup->items.push_back(parse_expression(true));
          }
          expect_op(")");
          return tup;
        }
        if (t.text == "[") {
          advance();
          auto list = make(ExprKind::kList, pos);
          while (!accept_op("]")) {
            if (!list->items.empty()) {
              expect_op(",");
              if (accept_op("]")) break;
            }
            list->items.push_back(parse_expression(true));
          }
          return list;
        }
        if (t.text == "{") {
          advance();
          auto dict = make(ExprKind::kDict, pos);
          while (!accept_op("}")) {
            if (!dict->items.empty()) {
              expect_op(",");
              if (accept_op("}")) break;
            }
            dict->items.push_back(parse_expression(true));
            expect_op(":");
            dict->items.push_back(parse_expression(true));
          }
          return dict;
        }
        break;
      default:
        break;
    }
    expected("an expression");
  }

  ExprPtr parse_postfix(ExprPtr e) {
    while (true) {
      const SourcePos pos = here();
      if (is_op(".")) {
        advance();
        auto a = make(ExprKind::kAttr, pos);
        if (cur().kind == TK::kName) {
          a->name = cur().text;
          advance();
        } else if (cur().kind == TK::kInt) {
          // x.0 is x[0] in Jinja2.
          a->kind = ExprKind::kIndex;
          a->items.push_back(std::move(e));
          auto idx = make(ExprKind::kLiteral, pos);
          idx->literal = Value(static_cast<int64_t>(std::strtoll(cur().text.c_str(), nullptr, 10)));
          a->items.push_back(std::move(idx));
          advance();
          e = std::move(a);
          continue;
        } else {
          expected("an attribute name");
        }
        a->items.push_back(std::move(e));
        e = std::move(a);
      } else if (is_op("[")) {
        advance();
        e = parse_subscript(std::move(e), pos);
      } else if (is_op("(")) {
        e = parse_call(std::move(e));
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr obj, SourcePos pos) {
    ExprPtr parts[3];
    bool is_slice = false;
    for (int i = 0; i < 3; ++i) {
      if (!is_op(":") && !is_op("]")) parts[i] = parse_expression(true);
      if (i < 2 && accept_op(":")) {
        is_slice = true;
        continue;
      }
      break;
    }
    expect_op("]");
    if (!is_slice) {
      if (!parts[0]) fail("expected an index inside '[]'");
      auto e = make(ExprKind::kIndex, pos);
      e->items.push_back(std::move(obj));
      e->items.push_back(std::move(parts[0]));
      return e;
    }
    auto e = make(ExprKind::kSlice, pos);
    e->items.push_back(std::move(obj));
    for (auto& p : parts) e->items.push_back(std::move(p));
    return e;
  }

  // Parses "(args)" into e->items[1..] and e->kwargs.
  void parse_call_args(Expr& e) {
    expect_op("(");
    bool first = true;
    while (!accept_op(")")) {
      if (!first) {
        expect_op(",");
        if (accept_op(")")) break;
      }
      first = false;
      if (cur().kind == TK::kName && peek().kind == TK::kOp && peek().text == "=") {
        std::string key = cur().text;
        advance();
        advance();
        e.kwargs.emplace_back(std::move(key), parse_expression(true));
      } else {
        if (!e.kwargs.empty()) fail("positional argument after keyword argument");
        e.items.push_back(parse_expression(true));
      }
    }
  }

  ExprPtr parse_call(ExprPtr callee) {
    auto e = make(ExprKind::kCall, here());
    e->items.push_back(std::move(callee));
    parse_call_args(*e);
    return e;
  }

  ExprPtr parse_one_filter(ExprPtr input) {
    auto f = make(ExprKind::kFilter, here());
    f->name = expect_name("a filter name");
    f->items.push_back(std::move(input));
    if (is_op("(")) parse_call_args(*f);
    return f;
  }

  ExprPtr parse_filters(ExprPtr e) {
    while (accept_op("|")) e = parse_one_filter(std::move(e));
    return e;
  }

  ExprPtr parse_filter_expr(ExprPtr e) {
    while (true) {
      if (accept_op("|")) {
        e = parse_one_filter(std::move(e));
      } else if (is_name("is")) {
        const SourcePos pos = here();
        advance();
        auto t = make(ExprKind::kTest, pos);
        t->negated = accept_name("not");
        t->name = expect_name("a test name");
        t->items.push_back(std::move(e));
        if (is_op("(")) {
          parse_call_args(*t);
        } else if (starts_test_argument()) {
          t->items.push_back(parse_postfix(parse_primary()));
        }
        e = std::move(t);
      } else if (is_op("(")) {
        e = parse_call(std::move(e));
      } else {
        return e;
      }
    }
  }

  bool starts_test_argument() const {
    const Token& t = cur();
    if (t.kind == TK::kString || t.kind == TK::kInt || t.kind == TK::kFloat) return true;
    if (t.kind == TK::kOp) return t.text == "[" || t.text == "{";
    if (t.kind != TK::kName) return false;
    static const char* const kStop[] = {"else", "or", "and", "if", "in", "not", "is", "recursive"};
    for (const char* s : kStop) {
      if (t.text == s) return false;
    }
    return true;
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;  // enclosing for-loop bodies, to reject break/continue outside one
};

}  // namespace

std::shared_ptr<const Program> parse_template(std::string_view source) {
  return Parser(tokenize_template(source)).parse();
}

}  // namespace hangar::chat
