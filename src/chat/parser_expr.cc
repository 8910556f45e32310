// Expression parsing with Jinja2's precedence: conditional, or/and/not, comparisons, + -,
// ~, * / // %, **, unary, then primaries with attribute/index/call postfixes and filters/tests.
#include <cstdlib>
#include <string>

#include "chat/parser_impl.h"

namespace hangar::chat::detail {

// A comma-separated list becomes a tuple; `with_condexpr` false leaves a trailing
// "if" to the for-loop filter.
ExprPtr Parser::parse_tuple(bool with_condexpr) {
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

ExprPtr Parser::parse_expression(bool with_condexpr) {
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

ExprPtr Parser::parse_or() {
  const SourcePos pos = here();
  ExprPtr left = parse_and();
  while (accept_name("or")) left = make_binary("or", std::move(left), parse_and(), pos);
  return left;
}

ExprPtr Parser::parse_and() {
  const SourcePos pos = here();
  ExprPtr left = parse_not();
  while (accept_name("and")) left = make_binary("and", std::move(left), parse_not(), pos);
  return left;
}

ExprPtr Parser::parse_not() {
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

ExprPtr Parser::parse_compare() {
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

ExprPtr Parser::parse_math1() {
  const SourcePos pos = here();
  ExprPtr left = parse_concat();
  while (is_op("+") || is_op("-")) {
    const std::string op = cur().text;
    advance();
    left = make_binary(op, std::move(left), parse_concat(), pos);
  }
  return left;
}

ExprPtr Parser::parse_concat() {
  const SourcePos pos = here();
  ExprPtr left = parse_math2();
  while (accept_op("~")) left = make_binary("~", std::move(left), parse_math2(), pos);
  return left;
}

ExprPtr Parser::parse_math2() {
  const SourcePos pos = here();
  ExprPtr left = parse_pow();
  while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
    const std::string op = cur().text;
    advance();
    left = make_binary(op, std::move(left), parse_pow(), pos);
  }
  return left;
}

ExprPtr Parser::parse_pow() {
  const SourcePos pos = here();
  ExprPtr left = parse_unary(true);
  while (accept_op("**")) left = make_binary("**", std::move(left), parse_unary(true), pos);
  return left;
}

ExprPtr Parser::parse_unary(bool with_filter) {
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

ExprPtr Parser::parse_primary() {
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

ExprPtr Parser::parse_postfix(ExprPtr e) {
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

ExprPtr Parser::parse_subscript(ExprPtr obj, SourcePos pos) {
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
void Parser::parse_call_args(Expr& e) {
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

ExprPtr Parser::parse_call(ExprPtr callee) {
  auto e = make(ExprKind::kCall, here());
  e->items.push_back(std::move(callee));
  parse_call_args(*e);
  return e;
}

ExprPtr Parser::parse_one_filter(ExprPtr input) {
  auto f = make(ExprKind::kFilter, here());
  f->name = expect_name("a filter name");
  f->items.push_back(std::move(input));
  if (is_op("(")) parse_call_args(*f);
  return f;
}

ExprPtr Parser::parse_filters(ExprPtr e) {
  while (accept_op("|")) e = parse_one_filter(std::move(e));
  return e;
}

ExprPtr Parser::parse_filter_expr(ExprPtr e) {
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

bool Parser::starts_test_argument() const {
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

}  // namespace hangar::chat::detail
