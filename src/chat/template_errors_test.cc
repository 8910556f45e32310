// Error tests: malformed templates and runtime failures return Errors that name the place and
// the problem; hostile templates hit a limit instead of hanging or crashing.
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "chat/template.h"

namespace hangar::chat {
namespace {

using Json = nlohmann::ordered_json;

std::string parse_error(const std::string& src) {
  auto t = Template::parse(src);
  return t.ok() ? std::string("(parsed)") : t.error().message();
}

std::string render_error(const std::string& src, const RenderLimits& limits = RenderLimits{}) {
  auto t = Template::parse(src);
  if (!t.ok()) return "parse: " + t.error().message();
  auto r = t->render(Value::dict(), limits);
  return r.ok() ? std::string("(rendered)") : r.error().message();
}

// ---- parse errors ----

TEST(TemplateParseError, UnclosedBlockNamesTheBlockAndExpectedTag) {
  EXPECT_EQ(
      parse_error("line one\n{% for m in messages %}\n{{ m }}"),
      "template syntax error at line 3, column 8: unexpected end of template: 'for' block opened near line 2 "
      "is not closed (expected 'else' or 'endfor')");
  EXPECT_NE(parse_error("{% macro m() %}x").find("'macro' block"), std::string::npos);
  EXPECT_NE(parse_error("{% set x %}x").find("expected 'endset'"), std::string::npos);
}

TEST(TemplateParseError, MismatchedEndTag) {
  EXPECT_EQ(parse_error("{% for x in y %}{% endif %}"),
            "template syntax error at line 1, column 20: unexpected 'endif' inside the 'for' block opened "
            "near line 1 "
            "(expected 'endfor')");
  EXPECT_EQ(parse_error("{% endfor %}"),
            "template syntax error at line 1, column 4: unexpected 'endfor' with no open block");
}

TEST(TemplateParseError, BadExpressionSaysWhatWasExpected) {
  EXPECT_EQ(parse_error("{{ 1 + }}"),
            "template syntax error at line 1, column 8: expected an expression, got '}}'");
  EXPECT_EQ(parse_error("{% if x %}{{ a b }}{% endif %}"),
            "template syntax error at line 1, column 16: expected '}}', got 'b'");
  EXPECT_EQ(parse_error("{% for in x %}{% endfor %}"),
            "template syntax error at line 1, column 11: expected 'in', got 'x'");
}

TEST(TemplateParseError, UnterminatedLexemes) {
  EXPECT_EQ(parse_error("{{ 'abc }}"),
            "template syntax error at line 1, column 4: unterminated string literal");
  EXPECT_EQ(parse_error("a\n{# note"),
            "template syntax error at line 2, column 1: unterminated comment: expected '#}'");
  EXPECT_EQ(parse_error("{{ x "),
            "template syntax error at line 1, column 1: unterminated tag: expected '}}'");
  EXPECT_EQ(parse_error("{% raw %}x"),
            "template syntax error at line 1, column 1: unterminated raw block: expected '{% endraw %}'");
}

TEST(TemplateParseError, UnknownAndUnsupportedTags) {
  EXPECT_EQ(parse_error("{% frobnicate %}"),
            "template syntax error at line 1, column 4: unknown or misplaced tag 'frobnicate'");
  EXPECT_EQ(parse_error("{% include 'x' %}"),
            "template syntax error at line 1, column 4: 'include' is not supported in chat templates");
  EXPECT_EQ(parse_error("{% break %}"),
            "template syntax error at line 1, column 10: 'break' outside of a loop");
}

TEST(TemplateParseError, DeepNestingIsRejectedNotOverflowed) {
  const std::string deep_expr = "{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}";
  EXPECT_NE(parse_error(deep_expr).find("nested too deeply"), std::string::npos);
  std::string deep_blocks;
  for (int i = 0; i < 5000; ++i) deep_blocks += "{% if x %}";
  EXPECT_NE(parse_error(deep_blocks).find("nested too deeply"), std::string::npos);
}

// ---- runtime errors ----

TEST(TemplateRuntimeError, UnknownFilterAndTest) {
  EXPECT_EQ(render_error("ok\n{{ x|frob }}"), "template error at line 2, column 1: unknown filter 'frob'");
  EXPECT_EQ(render_error("{{ x is frob }}"), "template error at line 1, column 1: unknown test 'frob'");
}

TEST(TemplateRuntimeError, TypeErrors) {
  EXPECT_EQ(render_error("{{ 1 - 'a' }}"),
            "template error at line 1, column 1: unsupported operand types for '-': int and string");
  EXPECT_EQ(render_error("{{ 1 < 'a' }}"),
            "template error at line 1, column 1: '<' is not supported between int and string");
  EXPECT_EQ(render_error("{{ 5 // 0 }}"),
            "template error at line 1, column 1: integer division or modulo by zero");
  EXPECT_EQ(render_error("{% for a, b in [1] %}{% endfor %}"),
            "template error at line 1, column 4: cannot unpack int into 2 names");
  EXPECT_EQ(render_error("{{ nothing() }}"),
            "template error at line 1, column 1: 'nothing' is undefined and cannot be called");
  EXPECT_EQ(render_error("{{ 'a'.frob() }}"),
            "template error at line 1, column 1: 'frob' is undefined and cannot be called");
  EXPECT_EQ(render_error("{% set x = {[1]: 2} %}"),
            "template error at line 1, column 4: unhashable type 'list' used as a dict key");
}

TEST(TemplateRuntimeError, ErrorInsideMacroPointsAtTheFailingStatement) {
  EXPECT_EQ(render_error("{% macro m() %}\n  {{ 1 - none }}\n{% endmacro %}{{ m() }}"),
            "template error at line 2, column 3: unsupported operand types for '-': int and none");
}

// ---- limits ----

TEST(TemplateLimit, StepBudgetStopsHugeLoops) {
  RenderLimits limits;
  limits.max_steps = 100'000;
  EXPECT_EQ(
      render_error("{% for a in range(1000) %}{% for b in range(1000) %}{% endfor %}{% endfor %}", limits),
      "template error at line 1, column 30: template exceeded its step budget of 100000 (infinite or very "
      "large loop?)");
}

TEST(TemplateLimit, TimeBudgetStopsSlowTemplates) {
  RenderLimits limits;
  limits.max_seconds = 0.0;
  EXPECT_NE(render_error("{% for a in range(100000) %}{% endfor %}", limits).find("time budget"),
            std::string::npos);
}

TEST(TemplateLimit, RangeSizeIsBounded) {
  EXPECT_EQ(
      render_error("{% for i in range(1000000000) %}{% endfor %}"),
      "template error at line 1, column 4: range() of 1000000000 elements exceeds the limit of 1000000");
}

TEST(TemplateLimit, RunawayMacroRecursion) {
  EXPECT_EQ(
      render_error("{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}"),
      "template error at line 1, column 16: macro 'm' nested deeper than 64 calls (runaway recursion?)");
}

TEST(TemplateLimit, StringSizeIsBounded) {
  EXPECT_NE(render_error("{{ 'x' * 100000000000 }}").find("memory budget"), std::string::npos);
  EXPECT_NE(render_error("{% set ns = namespace(s='0123456789abcdef') %}{% for i in range(40) %}"
                         "{% set ns.s = ns.s ~ ns.s %}{% endfor %}")
                .find("memory budget"),
            std::string::npos);
}

TEST(TemplateLimit, ContainersCannotHoldThemselves) {
  // A cycle would leak (shared ownership) and could never print, so inserts that make one fail.
  EXPECT_EQ(render_error("{% set l = [] %}{% do l.append(l) %}"),
            "template error at line 1, column 20: append(): a container cannot hold itself");
  EXPECT_EQ(render_error("{% set a = [] %}{% set b = [a] %}{% do a.extend([b]) %}"),
            "template error at line 1, column 37: extend(): a container cannot hold itself");
  EXPECT_EQ(render_error("{% set ns = namespace(x=1) %}{% set ns.me = [ns] %}"),
            "template error at line 1, column 33: cannot set 'me': a namespace cannot hold itself");
  EXPECT_EQ(render_error("{% set d = {} %}{% do d.update(x=d) %}"),
            "template error at line 1, column 20: update(): a container cannot hold itself");
}

TEST(TemplateLimit, SharedButAcyclicValuesAreFine) {
  EXPECT_EQ(render_error("{% set a = [1] %}{% set b = [a, a] %}{% do b.append(a) %}{{ b }}"), "(rendered)");
}

TEST(TemplateLimit, DeeplyNestedJsonInputIsRejected) {
  std::string deep;
  for (int i = 0; i < 1000; ++i) deep += "[";
  for (int i = 0; i < 1000; ++i) deep += "]";
  const Json j = Json::parse(deep);
  bool threw = false;
  try {
    value_from_json(j);
  } catch (const std::exception&) {
    threw = true;
  }
  EXPECT_TRUE(threw);
}

// Cuts and splices the golden templates at many points: each result must parse or fail with
// an Error, and render or fail with an Error, never crash or hang.
TEST(TemplateRobustness, MangledRealTemplatesNeverCrash) {
  std::ifstream f(std::string(HANGAR_SHARED_DIR) + "/golden/chat_templates.json");
  std::stringstream ss;
  ss << f.rdbuf();
  const Json golden = Json::parse(ss.str());
  std::mt19937 rng(1234);
  const char* const kJunk[] = {"{%", "%}", "{{", "}}",     "(",           ")",  "[",
                               "'",  "\"", "|",  "endfor", "{% endif %}", "-%}"};
  Value globals = value_from_json(Json::parse(
      R"({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}], "add_generation_prompt": true})"));
  RenderLimits limits;
  limits.max_steps = 200'000;
  int parsed = 0;
  int failed = 0;
  for (const auto& t : golden["templates"]) {
    const std::string src = t["source"].get<std::string>();
    for (int k = 0; k < 20; ++k) {
      const size_t cut = std::uniform_int_distribution<size_t>(0, src.size())(rng);
      std::string mangled = src.substr(0, cut);
      if (k % 2 == 1) mangled += kJunk[rng() % (sizeof(kJunk) / sizeof(kJunk[0]))] + src.substr(cut);
      auto tmpl = Template::parse(mangled);
      if (!tmpl.ok()) {
        EXPECT_FALSE(tmpl.error().message().empty());
        ++failed;
        continue;
      }
      ++parsed;
      auto r = tmpl->render(globals, limits);
      if (!r.ok()) {
        EXPECT_FALSE(r.error().message().empty());
      }
    }
  }
  EXPECT_GT(parsed, 0);
  EXPECT_GT(failed, 0);
}

TEST(TemplateThreads, ConcurrentRendersOfOneTemplateAgree) {
  auto t = Template::parse(
      "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{{ m.content|upper }}{% "
      "endfor %}"
      "{{ ns.n }}");
  ASSERT_TRUE(t.ok());
  const Value globals = value_from_json(Json::parse(R"({"messages": [{"content": "a"}, {"content": "b"}]})"));
  std::vector<std::thread> threads;
  std::vector<std::string> outs(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      // Each thread converts its own globals: Values are not shared across threads.
      const Value mine =
          value_from_json(Json::parse(R"({"messages": [{"content": "a"}, {"content": "b"}]})"));
      for (int k = 0; k < 200; ++k) {
        auto r = t->render(mine);
        outs[i] = r.ok() ? *r : r.error().message();
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const auto& o : outs) EXPECT_EQ(o, "AB2");
}

}  // namespace
}  // namespace hangar::chat
