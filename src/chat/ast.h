// AST of a parsed template: expressions and statements, immutable after parsing.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/value.h"

namespace hangar::chat {

struct SourcePos {
  int line = 0;
  int column = 0;
};

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

enum class ExprKind {
  kLiteral,  // literal
  kName,     // name
  kList,     // items
  kTuple,    // items
  kDict,     // items as key, value, key, value...
  kAttr,     // items[0].name
  kIndex,    // items[0][items[1]]
  kSlice,    // items[0][items[1]:items[2]:items[3]], absent parts are nullptr
  kCall,     // items[0](items[1..], kwargs)
  kFilter,   // items[0] | name(items[1..], kwargs)
  kTest,     // items[0] is [not] name(items[1..], kwargs); negated
  kUnary,    // op items[0]: "-", "+", "not"
  kBinary,   // items[0] op items[1]: + - * / // % ** ~ == != < > <= >= in "not in" and or
  kCond,     // items[1] if items[0] else items[2] (items[2] may be nullptr)
};

struct Expr {
  ExprKind kind;
  SourcePos pos;
  Value literal;
  std::string name;  // name, attribute, filter/test name, or operator
  bool negated = false;
  std::vector<ExprPtr> items;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
};

struct Node;
using NodePtr = std::unique_ptr<Node>;
using Body = std::vector<NodePtr>;

enum class NodeKind {
  kText,         // text
  kOutput,       // {{ expr }}
  kIf,           // branches (cond, body); else_body
  kFor,          // targets in expr [if filter] body [else else_body]
  kSet,          // targets = expr, or expr(object).attr = value (attr_target)
  kSetBlock,     // {% set targets[0] %}body{% endset %}, optional filter expression
  kMacro,        // name(params) body
  kCallBlock,    // {% call(params) expr %}body{% endcall %}
  kFilterBlock,  // {% filter f %}body{% endfilter %}: expr is a kFilter on a placeholder
  kWith,         // {% with a = x %}body{% endwith %}: params hold the assignments
  kBreak,
  kContinue,
  kDo,          // {% do expr %}
  kGeneration,  // {% generation %}body{% endgeneration %}: renders body unchanged
};

struct Param {
  std::string name;
  ExprPtr default_value;  // nullptr when required
};

struct Node {
  NodeKind kind;
  SourcePos pos;
  std::string text;
  ExprPtr expr;
  ExprPtr filter;    // for-loop filter, or block-set filter
  ExprPtr value;     // kSet: assigned value; kSet attr target: the object expression is `expr`
  std::string attr;  // kSet on namespace attribute
  std::vector<std::string> targets;
  std::vector<std::pair<ExprPtr, Body>> branches;
  Body body;
  Body else_body;
  std::vector<Param> params;
  bool recursive = false;
};

// The parsed template; shared by every render.
struct Program {
  Body body;
};

}  // namespace hangar::chat
