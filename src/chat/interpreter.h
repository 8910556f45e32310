// Interpreter: renders a parsed Program with Jinja2 semantics (and llama.cpp's leniencies),
// bounded by RenderLimits so a hostile template cannot hang or exhaust the server.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "chat/ast.h"
#include "chat/render_budget.h"
#include "chat/value.h"

namespace hangar::chat {

// One render at a time: an Interpreter is single-use and not thread-safe. Builtins
// (builtins.h) call back into it for filters, tests and callables.
class Interpreter {
 public:
  explicit Interpreter(const RenderLimits& limits) : budget_(limits) {}
  ~Interpreter();
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;

  // Renders `program` with `globals` (a dict, or undefined for none) as top-level variables.
  // Throws RenderError.
  std::string render(const Program& program, const Value& globals);

  // Calls a function value; throws RenderError if it is not callable.
  Value call(const Value& callee, CallArgs& args, const std::string& what);
  // Applies a named filter/test, as `x|name(args)` / `x is name(args)` would.
  Value apply_filter(const std::string& name, const Value& input, CallArgs& args);
  bool apply_test(const std::string& name, const Value& input, CallArgs& args);
  // Attribute lookup as `obj.name` does (methods first for builtin types, then keys).
  Value get_attr(const Value& obj, const std::string& name);

  // Accounts for `n` units of work; throws when the step budget is spent.
  void count_steps(int64_t n = 1) { budget_.count_steps(n); }
  // Accounts for touching `units` bytes or elements (paces the clock reads).
  void add_work(size_t units) { budget_.add_work(units); }
  // Throws unless a string or buffer of `bytes` fits in the memory budget; call it before
  // building anything whose size the template controls.
  void check_size(size_t bytes) const { budget_.reserve(bytes); }
  const RenderLimits& limits() const { return budget_.limits(); }
  RenderStats stats() const { return budget_.stats(); }
  // Throws RenderError(`what`), recording that a limit ended the render.
  [[noreturn]] void fail_limit(const std::string& what) { budget_.fail_limit(what); }

 private:
  struct Scope {
    std::unordered_map<std::string, Value> vars;
    std::shared_ptr<Scope> parent;
  };
  using ScopePtr = std::shared_ptr<Scope>;
  enum class Flow { kNormal, kBreak, kContinue };

  Flow exec_body(const Body& body, const ScopePtr& scope, std::string& out);
  Flow exec(const Node& node, const ScopePtr& scope, std::string& out);
  Flow exec_for(const Node& node, const ScopePtr& scope, std::string& out);
  void exec_set(const Node& node, const ScopePtr& scope);
  void define_macro(const Node& node, const ScopePtr& scope);
  Value call_macro(const Node& macro, const ScopePtr& closure, CallArgs& args);
  void exec_call_block(const Node& node, const ScopePtr& scope, std::string& out);

  Value eval(const Expr& e, const ScopePtr& scope);
  Value eval_call(const Expr& e, const ScopePtr& scope);
  Value eval_binary(const Expr& e, const ScopePtr& scope);
  Value concat(const Value& a, const Value& b);
  Value eval_slice(const Expr& e, const ScopePtr& scope);
  Value get_item(const Value& obj, const Value& key);
  // Applies the filter chain `chain` (ending in a placeholder literal) to `input`.
  Value apply_filter_chain(const Expr& chain, Value input, const ScopePtr& scope);
  CallArgs eval_args(const Expr& e, size_t first, const ScopePtr& scope);
  Value lookup(const ScopePtr& scope, const std::string& name);
  void append_output(std::string& out, std::string_view s);
  void check_stack();
  void keep_closure(const ScopePtr& scope);
  [[noreturn]] void fail(const SourcePos& pos, const std::string& what) const;

  // Stack a render may use; worker threads have 8 MB, sanitizer builds use more per frame.
  static constexpr uintptr_t kMaxStackBytes = uintptr_t{1} << 20;
  // What one scope kept alive by a macro or call block is charged.
  static constexpr size_t kClosureBytes = 256;

  RenderBudget budget_;
  uintptr_t stack_base_ = 0;
  size_t closure_charge_ = 0;
  int call_depth_ = 0;
  // Scopes captured by macros; cleared after rendering to break reference cycles
  // (a scope holding a macro that holds the scope).
  std::vector<ScopePtr> closures_;
};

}  // namespace hangar::chat
