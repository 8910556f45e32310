// Limit tests: hostile templates (as a GGUF may carry) end with an Error naming the budget they
// exceeded, quickly and within the render's memory budget, never hanging or exhausting memory.
#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include "chat/chat_template.h"
#include "chat/template.h"

namespace hangar::chat {
namespace {

using Json = nlohmann::ordered_json;

struct Outcome {
  std::string text;  // the output, or the error message
  bool ok = false;
  RenderStats stats;
};

Outcome render(const std::string& src, const RenderLimits& limits = RenderLimits{},
               const Value& globals = Value::dict()) {
  auto t = Template::parse(src);
  if (!t.ok()) return {"parse: " + t.error().message(), false, {}};
  Outcome o;
  auto r = t->render(globals, limits, &o.stats);
  o.ok = r.ok();
  o.text = r.ok() ? *r : r.error().message();
  return o;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// Every hostile render must fail on a limit having stayed inside its memory budget.
void expect_limit(const std::string& src, const std::string& budget, const RenderLimits& limits = RenderLimits{}) {
  SCOPED_TRACE(src);
  const Outcome o = render(src, limits);
  EXPECT_FALSE(o.ok);
  EXPECT_TRUE(o.stats.exceeded_limit) << o.text;
  EXPECT_TRUE(contains(o.text, budget)) << o.text;
  EXPECT_LE(o.stats.peak_memory_bytes, limits.max_memory_bytes);
}

// Smaller budgets where a test only needs to reach one, so it runs in milliseconds.
RenderLimits small() {
  RenderLimits limits;
  limits.max_memory_bytes = size_t{4} << 20;
  limits.max_output_bytes = size_t{2} << 20;
  return limits;
}

// A clock that moves one second each time it is read: the time budget trips after a few
// reads however fast the machine, so the test needs no sleeping and no timing threshold.
class SteppingClock final : public Clock {
 public:
  int64_t now_ms() const override { return now_ += 1000; }

 private:
  mutable std::atomic<int64_t> now_{0};
};

// ---- repetition: the width or count is checked before anything is built ----

TEST(TemplateLimits, RepeatingAnEmptyStringAHugeNumberOfTimesIsInstant) {
  // Used to loop 9.2e18 times appending nothing.
  const Outcome o = render("{{ ('' * 9223372036854775807) | length }}");
  EXPECT_TRUE(o.ok) << o.text;
  EXPECT_EQ(o.text, "0");
}

TEST(TemplateLimits, RepeatingAnEmptyListAHugeNumberOfTimesIsInstant) {
  const Outcome o = render("{{ ([] * 9223372036854775807) | length }}");
  EXPECT_TRUE(o.ok) << o.text;
  EXPECT_EQ(o.text, "0");
}

TEST(TemplateLimits, RepeatingIntoAHugeValueFailsBeforeAllocating) {
  expect_limit("{{ 'ab' * 4611686018427387904 }}", "memory budget");
  expect_limit("{{ [1, 2] * 4611686018427387904 }}", "step budget");
  expect_limit("{{ ['x'] * 5000000 }}", "memory budget");
}

TEST(TemplateLimits, PaddingNeedsOneFillCharacterAndABoundedWidth) {
  // ljust with an empty fill used to loop forever; Python refuses such a fill.
  EXPECT_TRUE(contains(render("{{ 'a'.ljust(9223372036854775807, '') }}").text,
                       "fill character must be exactly one character"));
  for (const char* m : {"ljust", "rjust", "center", "zfill"}) {
    expect_limit("{{ 'a'." + std::string(m) + "(9223372036854775807) }}", "memory budget");
  }
  expect_limit("{{ 'a' | center(4000000000) }}", "memory budget");
  EXPECT_EQ(render("{{ 'ab'.center(6, '*') }}|{{ '5'.zfill(3) }}|{{ 'x'|center(5) }}").text, "**ab**|005|  x  ");
}

TEST(TemplateLimits, IndentAndFormatWidthsAreCheckedBeforeAllocating) {
  expect_limit("{{ 'a\nb' | indent(4000000000) }}", "memory budget");
  expect_limit("{{ ('a\n' * 1000000) | indent(100) }}", "memory budget");
  expect_limit("{{ '{:>9999999999}'.format('x') }}", "memory budget");
  expect_limit("{{ '{:.2f}{:>4000000000}'.format(1.5, 'x') }}", "memory budget");
  EXPECT_TRUE(contains(render("{{ '%9999999999d' % 5 }}").text, "format width or precision"));
  EXPECT_EQ(render("{{ '{:>5}|{:.3}|{:^7.2f}'.format('ab', 'abcdef', 3.14159) }}").text, "   ab|abc| 3.14  ");
  EXPECT_EQ(render("{{ '%5s|%-4s|%.2s|%05.1f' % ('ab', 'c', 'xyz', 2.25) }}").text, "   ab|c   |xy|002.2");
  EXPECT_EQ(render("{{ 'a\nb\n' | indent(2, true) }}").text, "  a\n  b\n");
}

TEST(TemplateLimits, ReplaceAndEscapeCheckTheirResultFirst) {
  expect_limit("{% set s = 'x' * 100000 %}{{ s.replace('', s) }}", "memory budget", small());
  expect_limit("{% set s = 'x' * 100000 %}{{ s | replace('x', s) }}", "memory budget", small());
  expect_limit("{% set s = '<' * 1000000 %}{{ s | e }}", "memory budget", small());
  EXPECT_EQ(render("{{ 'a-b'.replace('-', '+') }}{{ '<&>' | e }}").text, "a+b&lt;&amp;&gt;");
}

// ---- totals: memory and output are budgets for the whole render, not per string ----

TEST(TemplateLimits, MemoryIsBoundedAcrossManyStrings) {
  // Each string is small; together they are not. The per-string check of old let this
  // take gigabytes.
  expect_limit("{% set ns = namespace(l=[]) %}{% set s = 'x' * 100000 %}"
               "{% for i in range(100000) %}{% do ns.l.append(s ~ i) %}{% endfor %}",
               "memory budget", small());
  // Lists of small values count too.
  expect_limit("{% set l = [] %}{% for i in range(1000000) %}{% do l.append([i]) %}{% endfor %}",
               "memory budget", small());
}

TEST(TemplateLimits, OutputIsBoundedAcrossCapturedBlocksAndMacros) {
  expect_limit("{% set s = 'x' * 100000 %}{% for i in range(100) %}{{ s }}{% endfor %}", "output exceeded", small());
  expect_limit("{% macro m(s) %}{{ s }}{% endmacro %}{% set s = 'x' * 100000 %}"
               "{% for i in range(100) %}{% set t = m(s) %}{% endfor %}",
               "output exceeded", small());
}

TEST(TemplateLimits, SharedSublistsCannotPrintExponentially) {
  // 2^40 leaves reachable through 40 shared levels: printing, tojson and comparing must stop.
  const std::string build =
      "{% set ns = namespace(l=['x']) %}{% for i in range(40) %}{% set ns.l = [ns.l, ns.l] %}{% endfor %}";
  expect_limit(build + "{{ ns.l }}", "memory budget", small());
  expect_limit(build + "{{ ns.l | tojson }}", "memory budget", small());
  expect_limit(build + "{{ ns.l | string | length }}", "memory budget", small());
  RenderLimits limits;
  SteppingClock clock;
  limits.clock = &clock;
  expect_limit(build + "{{ ns.l == ns.l }}", "time budget", limits);
}

// ---- time and recursion ----

TEST(TemplateLimits, TimeBudgetIsReadOftenEvenWhenEachStepIsSlow) {
  SteppingClock clock;
  RenderLimits limits;
  limits.clock = &clock;
  // Few steps, each scanning a long string: the work, not the step count, paces the clock.
  expect_limit("{% set s = 'x' * 2000000 %}{% for i in range(1000) %}{% if 'y' in s %}{% endif %}{% endfor %}",
               "time budget", limits);
  expect_limit("{% for i in range(1000000) %}{% endfor %}", "time budget", limits);
}

TEST(TemplateLimits, DeepRecursionStopsBeforeTheStackRunsOut) {
  expect_limit("{% macro m(n) %}{{ m(n + 1) }}{% endmacro %}{{ m(0) }}", "nested deeper");
  expect_limit("{% macro m() %}{% call m() %}{% endcall %}{% endmacro %}{{ m() }}", "nested deeper");
  expect_limit("{% macro m() %}{{ caller() }}{% endmacro %}"
               "{% macro r() %}{% call m() %}{{ r() }}{% endcall %}{% endmacro %}{{ r() }}",
               "nested deeper");
}

TEST(TemplateLimits, DeeplyNestedValuesAreRefused) {
  // A chain of lists nested 100,000 deep would overflow the stack when ordered, printed or freed:
  // storing one level more than Value::kMaxDepth is refused.
  const Outcome o = render(
      "{% set ns = namespace(a=[]) %}{% for i in range(100000) %}{% set ns.a = [ns.a] %}{% endfor %}");
  EXPECT_FALSE(o.ok);
  EXPECT_TRUE(contains(o.text, "nested too deeply")) << o.text;
}

TEST(TemplateLimits, SplitCountsItsPartsBeforeBuildingThem) {
  expect_limit("{% set s = ',' * 3000000 %}{{ s.split(',') | length }}", "budget", small());
  expect_limit("{% set s = '\n' * 3000000 %}{{ s.splitlines() | length }}", "budget", small());
  EXPECT_EQ(render("{{ 'a,b,,c'.split(',') }}{{ ' a  b '.split() }}{{ 'a,b,c'.rsplit(',', 1) }}").text,
            "['a', 'b', '', 'c']['a', 'b']['a,b', 'c']");
}

TEST(TemplateLimits, LongStringIndexingDoesNotBuildOffsetTables) {
  // The old code built an 8-bytes-per-byte table for every index into a string.
  RenderLimits limits;
  limits.max_memory_bytes = 16 << 20;
  const Outcome o = render("{% set s = 'x' * 8000000 %}{{ s[-1] }}{{ s[5:8] }}{{ s[::4000000] }}", limits);
  EXPECT_TRUE(o.ok) << o.text;
  EXPECT_EQ(o.text, "xxxxxx");
  EXPECT_EQ(render("{{ 'héllo'[1] }}|{{ 'héllo'[1:3] }}|{{ 'héllo'[::-2] }}|{{ 'héllo'[-4] }}").text, "é|él|olh|é");
}

TEST(TemplateLimits, BatchFillIsCounted) {
  expect_limit("{{ [1] | batch(9223372036854775807, 0) | list }}", "step budget");
  EXPECT_EQ(render("{{ [1, 2, 3] | batch(2, 0) | list }}").text, "[[1, 2], [3, 0]]");
}

TEST(TemplateLimits, ValuesKeptByTheCallerAreStillAccountedFor) {
  // A template may append to a list the caller passed in; those values outlive the render
  // and give their bytes back to its meter when freed, after the render is gone.
  Value globals = value_from_json(Json::parse(R"({"messages": []})"));
  const Outcome o = render("{% do messages.append('x' * 1000) %}{{ messages | length }}", RenderLimits{}, globals);
  EXPECT_TRUE(o.ok) << o.text;
  EXPECT_GT(o.stats.peak_memory_bytes, 1000u);
  globals = Value();  // frees the appended string after the render's budget is gone
}

TEST(TemplateLimits, ALegitimateLargeConversationStillRenders) {
  // An 8 MB message (the default request body limit) through a ChatML-style template with a
  // few copies of it must fit the default budgets.
  auto tmpl = ChatTemplate::parse(
      "{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content | trim + '<|im_end|>\\n' }}"
      "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}");
  ASSERT_TRUE(tmpl.ok()) << tmpl.error().message();
  ChatTemplateInputs in;
  in.messages = Json::array({{{"role", "user"}, {"content", std::string(8 << 20, 'a')}}});
  auto out = tmpl->apply(in);
  ASSERT_TRUE(out.ok()) << out.error().message();
  EXPECT_EQ(out->size(), (8u << 20) + 50);
}

}  // namespace
}  // namespace hangar::chat
