// Interpreter statements: output, if, for, set, macros, call blocks, limits and errors.
#include "chat/interpreter.h"

#include "chat/builtins.h"
#include "chat/render_error.h"

namespace hangar::chat {
namespace {

// A RenderError that already names its source position, so outer statements keep it as is.
class PositionedError : public RenderError {
 public:
  using RenderError::RenderError;
};

// Binds `targets` to `item`, unpacking sequences when there are several names.
template <typename SetFn>
void bind_targets(const std::vector<std::string>& targets, const Value& item, SetFn&& set) {
  if (targets.size() == 1) {
    set(targets[0], item);
    return;
  }
  if (!item.is_list()) {
    throw RenderError("cannot unpack " + item.type_name() + " into " + std::to_string(targets.size()) +
                      " names");
  }
  const auto& items = item.list_data().items;
  if (items.size() != targets.size()) {
    throw RenderError("cannot unpack " + std::to_string(items.size()) + " values into " +
                      std::to_string(targets.size()) + " names");
  }
  for (size_t i = 0; i < targets.size(); ++i) set(targets[i], items[i]);
}

}  // namespace

Interpreter::~Interpreter() {
  for (auto& scope : closures_) scope->vars.clear();
  if (closure_charge_ > 0) budget_.meter()->release(closure_charge_);
}

void Interpreter::check_stack() {
  // Deep expressions inside deeply nested macro calls can outgrow a thread's stack before
  // the call-depth limit; measure the stack this render has used instead of guessing.
  const auto here = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  if (stack_base_ > here && stack_base_ - here > kMaxStackBytes) {
    fail_limit("template recursion too deep (more than " + std::to_string(kMaxStackBytes >> 10) +
               " KB of stack)");
  }
}

void Interpreter::keep_closure(const ScopePtr& scope) {
  // Kept scopes live until the render ends, so a macro defined in a loop is charged each time.
  budget_.meter()->charge(kClosureBytes);
  closure_charge_ += kClosureBytes;
  closures_.push_back(scope);
}

void Interpreter::append_output(std::string& out, std::string_view s) {
  budget_.charge_output(s.size());
  out += s;
}

void Interpreter::fail(const SourcePos& pos, const std::string& what) const {
  throw PositionedError("template error at line " + std::to_string(pos.line) + ", column " +
                        std::to_string(pos.column) + ": " + what);
}

std::string Interpreter::render(const Program& program, const Value& globals) {
  RenderBudget::Scope installed(&budget_);
  stack_base_ = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  auto root = std::make_shared<Scope>();
  if (globals.is_dict()) {
    for (const auto& [k, v] : globals.dict_data().entries) {
      if (k.is_string()) root->vars[k.as_string()] = v;
    }
  } else if (!globals.is_undefined() && !globals.is_none()) {
    throw RenderError("template globals must be a dict, got " + globals.type_name());
  }
  keep_closure(root);
  std::string out;
  exec_body(program.body, root, out);
  return out;
}

Interpreter::Flow Interpreter::exec_body(const Body& body, const ScopePtr& scope, std::string& out) {
  for (const auto& node : body) {
    const Flow f = exec(*node, scope, out);
    if (f != Flow::kNormal) return f;
  }
  return Flow::kNormal;
}

Interpreter::Flow Interpreter::exec(const Node& node, const ScopePtr& scope, std::string& out) {
  count_steps();
  check_stack();
  try {
    switch (node.kind) {
      case NodeKind::kText:
        append_output(out, node.text);
        return Flow::kNormal;
      case NodeKind::kOutput: {
        const Value v = eval(*node.expr, scope);
        if (v.is_string()) {
          append_output(out, v.as_string());
        } else {
          append_output(out, v.str());
        }
        return Flow::kNormal;
      }
      case NodeKind::kIf:
        for (const auto& [cond, body] : node.branches) {
          if (eval(*cond, scope).truthy()) return exec_body(body, scope, out);
        }
        return exec_body(node.else_body, scope, out);
      case NodeKind::kFor:
        return exec_for(node, scope, out);
      case NodeKind::kSet:
        exec_set(node, scope);
        return Flow::kNormal;
      case NodeKind::kSetBlock: {
        std::string captured;
        exec_body(node.body, scope, captured);
        Value v(std::move(captured));
        if (node.filter) v = apply_filter_chain(*node.filter, std::move(v), scope);
        scope->vars[node.targets[0]] = std::move(v);
        return Flow::kNormal;
      }
      case NodeKind::kMacro:
        define_macro(node, scope);
        return Flow::kNormal;
      case NodeKind::kCallBlock:
        exec_call_block(node, scope, out);
        return Flow::kNormal;
      case NodeKind::kFilterBlock: {
        std::string captured;
        exec_body(node.body, scope, captured);
        const Value v = apply_filter_chain(*node.filter, Value(std::move(captured)), scope);
        append_output(out, v.str());
        return Flow::kNormal;
      }
      case NodeKind::kWith: {
        auto inner = std::make_shared<Scope>();
        inner->parent = scope;
        for (const auto& p : node.params) inner->vars[p.name] = eval(*p.default_value, scope);
        return exec_body(node.body, inner, out);
      }
      case NodeKind::kBreak:
        return Flow::kBreak;
      case NodeKind::kContinue:
        return Flow::kContinue;
      case NodeKind::kDo:
        eval(*node.expr, scope);
        return Flow::kNormal;
      case NodeKind::kGeneration:
        return exec_body(node.body, scope, out);
    }
  } catch (const PositionedError&) {
    throw;
  } catch (const RenderError& e) {
    fail(node.pos, e.what());
  }
  return Flow::kNormal;
}

Interpreter::Flow Interpreter::exec_for(const Node& node, const ScopePtr& scope, std::string& out) {
  if (node.recursive) throw RenderError("recursive for-loops are not supported");
  const Value iterable = eval(*node.expr, scope);
  std::vector<Value> items;
  if (iterable.is_undefined()) {
    // Iterating an undefined value yields nothing, as in Jinja2 and llama.cpp.
  } else if (iterable.is_dict() && node.targets.size() > 1) {
    // llama.cpp unpacks (key, value) pairs when a dict is iterated with several names.
    for (const auto& [k, v] : iterable.dict_data().entries) items.push_back(Value::tuple({k, v}));
  } else {
    items = iterate_value(iterable, "for-loop iterable");
  }
  count_steps(static_cast<int64_t>(items.size()));

  auto bind = [&](const ScopePtr& s, const Value& item) {
    bind_targets(node.targets, item, [&](const std::string& name, const Value& v) { s->vars[name] = v; });
  };
  if (node.filter) {
    std::vector<Value> kept;
    for (auto& item : items) {
      auto probe = std::make_shared<Scope>();
      probe->parent = scope;
      bind(probe, item);
      if (eval(*node.filter, probe).truthy()) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  if (items.empty()) return exec_body(node.else_body, scope, out);

  const int64_t n = static_cast<int64_t>(items.size());
  // One cycle() per loop, reading the current index, saves a function per iteration.
  auto current = std::make_shared<int64_t>(0);
  const Value cycle = Value::function("loop.cycle", [current](Interpreter&, CallArgs& args) -> Value {
    if (args.positional.empty()) throw RenderError("loop.cycle() needs at least one argument");
    return args.positional[static_cast<size_t>(*current) % args.positional.size()];
  });
  // One loop object per loop, updated in place each iteration, as Jinja2's LoopContext is.
  Value loop = Value::namespace_object();
  DictData& d = loop.dict_data();
  static const char* const kFields[] = {"index",  "index0", "revindex", "revindex0", "first",    "last",
                                        "length", "depth",  "depth0",   "previtem",  "nextitem", "cycle"};
  for (const char* f : kFields) d.set(Value(f), Value());
  d.entries[6].second = Value(n);
  d.entries[7].second = Value(1);
  d.entries[8].second = Value(0);
  d.entries[11].second = cycle;
  // The loop object refers to items; clear those references when the loop ends so a template
  // that stored `loop` inside an item cannot leave a reference cycle behind.
  struct ClearLoopItems {
    DictData& d;
    ~ClearLoopItems() {
      d.entries[9].second = Value();
      d.entries[10].second = Value();
    }
  } clear_items{d};
  for (int64_t i = 0; i < n; ++i) {
    *current = i;
    count_steps();
    auto iter_scope = std::make_shared<Scope>();
    iter_scope->parent = scope;
    d.entries[0].second = Value(i + 1);
    d.entries[1].second = Value(i);
    d.entries[2].second = Value(n - i);
    d.entries[3].second = Value(n - i - 1);
    d.entries[4].second = Value(i == 0);
    d.entries[5].second = Value(i == n - 1);
    d.entries[9].second = i > 0 ? items[i - 1] : Value::undefined("loop.previtem");
    d.entries[10].second = i + 1 < n ? items[i + 1] : Value::undefined("loop.nextitem");
    iter_scope->vars["loop"] = loop;
    bind(iter_scope, items[i]);
    const Flow f = exec_body(node.body, iter_scope, out);
    if (f == Flow::kBreak) break;
  }
  return Flow::kNormal;
}

void Interpreter::exec_set(const Node& node, const ScopePtr& scope) {
  Value v = eval(*node.value, scope);
  if (!node.attr.empty()) {
    const Value target = eval(*node.expr, scope);
    if (!target.is_dict()) {
      throw RenderError("cannot set attribute '" + node.attr + "' on " + target.type_name() +
                        " (expected a namespace)");
    }
    if (would_create_cycle(target, v))
      throw RenderError("cannot set '" + node.attr + "': a namespace cannot hold itself");
    target.dict_data().set(Value(node.attr), std::move(v));
    return;
  }
  bind_targets(node.targets, v, [&](const std::string& name, const Value& x) { scope->vars[name] = x; });
}

void Interpreter::define_macro(const Node& node, const ScopePtr& scope) {
  const Node* macro = &node;
  ScopePtr closure = scope;
  keep_closure(scope);
  scope->vars[node.text] = Value::function(node.text, [this, macro, closure](Interpreter&, CallArgs& args) {
    return call_macro(*macro, closure, args);
  });
}

Value Interpreter::call_macro(const Node& macro, const ScopePtr& closure, CallArgs& args) {
  if (call_depth_ >= limits().max_call_depth) {
    fail_limit("macro '" + macro.text + "' nested deeper than " +
                      std::to_string(limits().max_call_depth) + " calls (runaway recursion?)");
  }
  count_steps();
  auto scope = std::make_shared<Scope>();
  scope->parent = closure;
  std::vector<bool> bound(macro.params.size(), false);
  std::vector<Value> varargs;
  for (size_t i = 0; i < args.positional.size(); ++i) {
    if (i < macro.params.size()) {
      scope->vars[macro.params[i].name] = args.positional[i];
      bound[i] = true;
    } else {
      varargs.push_back(args.positional[i]);
    }
  }
  Value kwargs = Value::dict();
  for (auto& [key, value] : args.keyword) {
    bool matched = false;
    for (size_t i = 0; i < macro.params.size(); ++i) {
      if (macro.params[i].name == key) {
        if (bound[i])
          throw RenderError("macro '" + macro.text + "' got multiple values for argument '" + key + "'");
        scope->vars[key] = value;
        bound[i] = true;
        matched = true;
        break;
      }
    }
    if (matched) continue;
    if (key == "caller") {
      scope->vars["caller"] = value;
    } else {
      kwargs.dict_data().set(Value(key), value);
    }
  }
  for (size_t i = 0; i < macro.params.size(); ++i) {
    if (bound[i]) continue;
    // Jinja2 leaves missing arguments undefined rather than failing the call.
    const Param& p = macro.params[i];
    scope->vars[p.name] = p.default_value ? eval(*p.default_value, scope) : Value::undefined(p.name);
  }
  scope->vars["varargs"] = Value::list(std::move(varargs));
  scope->vars["kwargs"] = std::move(kwargs);
  std::string out;
  ++call_depth_;
  try {
    exec_body(macro.body, scope, out);
  } catch (...) {
    --call_depth_;
    throw;
  }
  --call_depth_;
  return Value(std::move(out));
}

void Interpreter::exec_call_block(const Node& node, const ScopePtr& scope, std::string& out) {
  const Node* block = &node;
  ScopePtr closure = scope;
  keep_closure(scope);
  Value caller = Value::function("caller", [this, block, closure](Interpreter&, CallArgs& args) {
    if (call_depth_ >= limits().max_call_depth) {
      fail_limit("caller() nested deeper than " + std::to_string(limits().max_call_depth) +
                        " calls (runaway recursion?)");
    }
    count_steps();
    auto s = std::make_shared<Scope>();
    s->parent = closure;
    for (size_t i = 0; i < block->params.size(); ++i) {
      const Param& p = block->params[i];
      if (i < args.positional.size()) {
        s->vars[p.name] = args.positional[i];
      } else {
        s->vars[p.name] = p.default_value ? eval(*p.default_value, s) : Value::undefined(p.name);
      }
    }
    for (auto& [k, v] : args.keyword) s->vars[k] = v;
    std::string body;
    ++call_depth_;
    try {
      exec_body(block->body, s, body);
    } catch (...) {
      --call_depth_;
      throw;
    }
    --call_depth_;
    return Value(std::move(body));
  });
  const Expr& call = *node.expr;
  const Value callee = eval(*call.items[0], scope);
  CallArgs args = eval_args(call, 1, scope);
  args.keyword.emplace_back("caller", std::move(caller));
  const Value v = this->call(callee, args, "call block target");
  append_output(out, v.str());
}

Value Interpreter::call(const Value& callee, CallArgs& args, const std::string& what) {
  if (!callee.is_function()) {
    if (callee.is_undefined()) {
      throw RenderError("'" + (callee.undefined_hint().empty() ? what : callee.undefined_hint()) +
                        "' is undefined and cannot be called");
    }
    throw RenderError(what + " is a " + callee.type_name() + ", not a function");
  }
  // Keep the function alive even if the call reassigns the variable holding it.
  const Value keep = callee;
  return keep.function_data().fn(*this, args);
}

Value Interpreter::apply_filter(const std::string& name, const Value& input, CallArgs& args) {
  const FilterFn f = find_filter(name);
  if (f == nullptr) throw RenderError("unknown filter '" + name + "'");
  // Filters are at most linear in their input (sorts charge their compares): charging its
  // size paces the clock reads for long strings and lists.
  if (input.is_string()) {
    add_work(input.as_string().size());
  } else if (input.is_list()) {
    add_work(input.list_data().items.size());
  } else if (input.is_dict()) {
    add_work(input.dict_data().size());
  }
  count_steps();
  return f(*this, input, args);
}

bool Interpreter::apply_test(const std::string& name, const Value& input, CallArgs& args) {
  const TestFn t = find_test(name);
  if (t == nullptr) throw RenderError("unknown test '" + name + "'");
  return t(*this, input, args);
}

Value Interpreter::apply_filter_chain(const Expr& chain, Value input, const ScopePtr& scope) {
  if (chain.kind != ExprKind::kFilter) return input;  // the placeholder at the bottom
  Value inner = apply_filter_chain(*chain.items[0], std::move(input), scope);
  CallArgs args = eval_args(chain, 1, scope);
  return apply_filter(chain.name, inner, args);
}

}  // namespace hangar::chat
