// Language tests: each renders a small template and checks the exact output Jinja2 (with
// HF's trim_blocks/lstrip_blocks and tojson) gives, or llama.cpp where the two differ.
#include "chat/template.h"

#include <gtest/gtest.h>

namespace hangar::chat {
namespace {

using Json = nlohmann::ordered_json;

// Renders `src` with `globals` (JSON text); failures show up as "ERROR: <message>".
std::string render(const std::string& src, const std::string& globals = "{}") {
  auto t = Template::parse(src);
  if (!t.ok()) return "ERROR: " + t.error().message();
  auto r = t->render(value_from_json(Json::parse(globals)));
  if (!r.ok()) return "ERROR: " + r.error().message();
  return *r;
}

// ---- text and whitespace control ----

TEST(TemplateText, PlainTextPassesThrough) { EXPECT_EQ(render("Hello, world!"), "Hello, world!"); }

TEST(TemplateText, DropsOneTrailingNewline) { EXPECT_EQ(render("a\n\n"), "a\n"); }

TEST(TemplateText, DashStripsWhitespaceAroundTags) {
  EXPECT_EQ(render("a  \n {{- 'b' -}} \n  c"), "abc");
  EXPECT_EQ(render("a \n{%- if true -%}\n b {%- endif %}"), "ab");
}

TEST(TemplateText, TrimBlocksRemovesNewlineAfterBlockTag) {
  EXPECT_EQ(render("{% if true %}\nx\n{% endif %}\ny"), "x\ny");
}

TEST(TemplateText, LstripBlocksRemovesIndentBeforeBlockTag) {
  EXPECT_EQ(render("<\n    {% if true %}\n    x\n    {% endif %}\n>"), "<\n    x\n>");
}

TEST(TemplateText, LstripBlocksLeavesIndentBeforeExpressions) { EXPECT_EQ(render("  {{ 'x' }}"), "  x"); }

TEST(TemplateText, PlusDisablesLstrip) { EXPECT_EQ(render("a\n  {%+ if true %}b{% endif %}"), "a\n  b"); }

TEST(TemplateText, CommentsVanishWithTheirWhitespaceControl) {
  EXPECT_EQ(render("a {#- note -#} b"), "ab");
  EXPECT_EQ(render("a\n{# note #}\nb"), "a\nb");
}

TEST(TemplateText, RawBlockIsNotInterpreted) { EXPECT_EQ(render("{% raw %}{{ x }}{% endraw %}"), "{{ x }}"); }

TEST(TemplateText, GenerationBlockRendersItsBody) {
  EXPECT_EQ(render("{% generation %}hi{% endgeneration %}"), "hi");
}

// ---- printing values ----

TEST(TemplatePrint, ScalarsPrintLikePython) {
  EXPECT_EQ(render("{{ none }}|{{ true }}|{{ False }}|{{ 3 }}|{{ -2 }}"), "None|True|False|3|-2");
  EXPECT_EQ(render("{{ 0.1 }}|{{ 1.0 }}|{{ 2.5e-5 }}|{{ 1e16 }}|{{ 1 / 4 }}"), "0.1|1.0|2.5e-05|1e+16|0.25");
}

TEST(TemplatePrint, ContainersPrintAsPythonRepr) {
  EXPECT_EQ(render("{{ [1, 'a', none, true] }}"), "[1, 'a', None, True]");
  EXPECT_EQ(render("{{ {'k': \"it's\"} }}"), "{'k': \"it's\"}");
  EXPECT_EQ(render("{{ (1,) }}|{{ (1, 2) }}"), "(1,)|(1, 2)");
}

TEST(TemplatePrint, UndefinedPrintsNothing) {
  EXPECT_EQ(render("[{{ missing }}][{{ missing.attr }}]"), "[][]");
}

// ---- literals ----

TEST(TemplateLiteral, StringEscapesAreDecoded) {
  EXPECT_EQ(render(R"({{ 'a\nb\t\'c\' \"d\" \\ \u00e9 \x41' }})"), "a\nb\t'c' \"d\" \\ \xC3\xA9 A");
}

TEST(TemplateLiteral, AdjacentStringsConcatenate) { EXPECT_EQ(render("{{ 'a' 'b' \"c\" }}"), "abc"); }

TEST(TemplateLiteral, NumbersWithUnderscoresAndExponents) {
  EXPECT_EQ(render("{{ 1_000 + 1 }}|{{ 1e3 }}|{{ 2.50 }}"), "1001|1000.0|2.5");
}

// ---- operators ----

TEST(TemplateOperator, ArithmeticFollowsPython) {
  EXPECT_EQ(
      render("{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 7 / 2 }} {{ 1 + 2.0 }}"),
      "3 -4 1 2 1024 3.5 3.0");
}

TEST(TemplateOperator, ConcatenationAndRepetition) {
  EXPECT_EQ(render("{{ 'a' ~ 1 ~ none }}|{{ 'ab' * 3 }}|{{ [1] + [2] }}|{{ 'x' + 'y' }}"),
            "a1None|ababab|[1, 2]|xy");
}

TEST(TemplateOperator, PlusTreatsNoneAndUndefinedAsEmptyNextToStrings) {
  // llama.cpp's leniency: Jinja2 would raise here.
  EXPECT_EQ(render("{{ 'a' + none }}|{{ missing + 'b' }}"), "a|b");
}

TEST(TemplateOperator, ComparisonsAndMembership) {
  EXPECT_EQ(render("{{ 1 < 2 }} {{ 'a' < 'b' }} {{ 1 == 1.0 }} {{ [1, 2] == [1, 2] }} {{ 'b' in 'abc' }} "
                   "{{ 3 not in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 1 in missing }}"),
            "True True True True True True True False");
}

TEST(TemplateOperator, AndOrReturnOperands) {
  EXPECT_EQ(render("{{ 0 or 'x' }}|{{ 'a' and 'b' }}|{{ '' and 'b' }}|{{ not 0 }}"), "x|b||True");
}

TEST(TemplateOperator, TernaryWithAndWithoutElse) {
  EXPECT_EQ(render("{{ 'y' if 1 else 'n' }}|{{ 'y' if 0 else 'n' }}|{{ 'y' if 0 }}"), "y|n|");
}

TEST(TemplateOperator, NotBindsLooserThanIsTest) {
  EXPECT_EQ(render("{{ not x is defined }}|{{ not 'a' is string }}"), "True|False");
}

TEST(TemplateOperator, UnaryMinusAppliesBeforeFilters) { EXPECT_EQ(render("{{ -3|abs }}"), "3"); }

TEST(TemplateOperator, PercentFormatsStrings) {
  EXPECT_EQ(render("{{ '%s=%d (%.2f)' % ('x', 3, 1.5) }}|{{ '%5s|' % 'ab' }}"), "x=3 (1.50)|   ab|");
}

// ---- indexing and slicing ----

TEST(TemplateIndex, ListAndStringIndexingIncludesNegative) {
  EXPECT_EQ(render("{{ [1, 2, 3][-1] }}{{ 'héllo'[1] }}{{ [1][5] }}"), "3é");
}

TEST(TemplateIndex, SlicesFollowPython) {
  EXPECT_EQ(render("{{ [1, 2, 3, 4][1:3] }}|{{ [1, 2, 3, 4][::-1] }}|{{ 'héllo'[1:] }}|{{ 'abcdef'[::2] "
                   "}}|{{ [1, 2, 3][-2:] }}"),
            "[2, 3]|[4, 3, 2, 1]|éllo|ace|[2, 3]");
}

TEST(TemplateIndex, DictKeysByAttributeAndSubscript) {
  EXPECT_EQ(render("{{ m.role }}/{{ m['content'] }}/{{ m.missing }}",
                   R"({"m": {"role": "user", "content": "hi"}})"),
            "user/hi/");
}

TEST(TemplateIndex, DictMethodsWinOverKeysForAttributes) {
  EXPECT_EQ(render("{{ d['items'] }} {{ d.items()|list|length }}", R"({"d": {"items": 5}})"), "5 1");
}

// ---- control flow ----

TEST(TemplateControl, IfElifElse) {
  const std::string t = "{% if x > 2 %}big{% elif x > 0 %}small{% else %}none{% endif %}";
  EXPECT_EQ(render(t, R"({"x": 3})"), "big");
  EXPECT_EQ(render(t, R"({"x": 1})"), "small");
  EXPECT_EQ(render(t, R"({"x": 0})"), "none");
}

TEST(TemplateControl, LoopVariables) {
  EXPECT_EQ(
      render("{% for x in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}"
             "{{ loop.first|int }}{{ loop.last|int }}{{ loop.length }} {% endfor %}"),
      "1032103 2121003 3210013 ");
}

TEST(TemplateControl, LoopPrevAndNextItem) {
  EXPECT_EQ(render("{% for x in [1, 2, 3] %}({{ loop.previtem }},{{ loop.nextitem }}){% endfor %}"),
            "(,2)(1,3)(2,)");
}

TEST(TemplateControl, LoopCycle) {
  EXPECT_EQ(render("{% for x in range(4) %}{{ loop.cycle('a', 'b') }}{% endfor %}"), "abab");
}

TEST(TemplateControl, ForElseRunsOnlyWhenEmpty) {
  EXPECT_EQ(
      render("{% for x in [] %}x{% else %}empty{% endfor %}|{% for x in [1] %}x{% else %}empty{% endfor %}"),
      "empty|x");
}

TEST(TemplateControl, ForFilterComputesLoopOverKeptItems) {
  EXPECT_EQ(render("{% for x in range(6) if x is odd %}{{ x }}/{{ loop.length }} {% endfor %}"),
            "1/3 3/3 5/3 ");
}

TEST(TemplateControl, ForUnpacksPairs) {
  EXPECT_EQ(
      render("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for k in d %}{{ k }}{% endfor %}",
             R"({"d": {"a": 1, "b": 2}})"),
      "a=1;b=2;ab");
}

TEST(TemplateControl, BreakAndContinue) {
  EXPECT_EQ(
      render("{% for x in range(10) %}{% if x == 1 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}"
             "{% endif %}{{ x }}{% endfor %}"),
      "023");
}

TEST(TemplateControl, LoopOverUndefinedIsEmpty) {
  EXPECT_EQ(render("{% for x in missing %}x{% endfor %}ok"), "ok");
}

// ---- assignment and scope ----

TEST(TemplateSet, SetInsideLoopDoesNotLeakButNamespaceDoes) {
  EXPECT_EQ(render("{% set x = 1 %}{% set ns = namespace(n=0) %}{% for i in range(3) %}{% set x = i %}"
                   "{% set ns.n = ns.n + i %}{% endfor %}{{ x }} {{ ns.n }}"),
            "1 3");
}

TEST(TemplateSet, TupleAssignment) { EXPECT_EQ(render("{% set a, b = 1, 2 %}{{ b }}{{ a }}"), "21"); }

TEST(TemplateSet, BlockSetCapturesOutputAndAppliesFilter) {
  EXPECT_EQ(
      render("{% set x %}  Hi {{ 'there' }}  {% endset %}[{{ x }}]{% set y | upper %}ab{% endset %}{{ y }}"),
      "[  Hi there  ]AB");
}

TEST(TemplateSet, ListsAreSharedReferences) {
  EXPECT_EQ(render("{% set a = [] %}{% set b = a %}{% do b.append(1) %}{{ a }}{% set ns = namespace(l=[]) %}"
                   "{% set _ = ns.l.append(2) %}{{ ns.l }}"),
            "[1][2]");
}

TEST(TemplateSet, WithBlockScopesItsVariables) {
  EXPECT_EQ(render("{% set a = 1 %}{% with a = 2 %}{{ a }}{% endwith %}{{ a }}"), "21");
}

// ---- macros ----

TEST(TemplateMacro, ArgumentsDefaultsAndKeywords) {
  EXPECT_EQ(render("{% macro m(a, b='B', c=none) %}{{ a }}{{ b }}{{ c }}{% endmacro %}{{ m(1) }}|{{ m(1, "
                   "c=3) }}|{{ m(b=2, a=0) }}"),
            "1BNone|1B3|02None");
}

TEST(TemplateMacro, RecursionAndOuterVariables) {
  EXPECT_EQ(
      render(
          "{% set sep = ',' %}{% macro count(n) %}{{ n }}{% if n > 0 %}{{ sep }}{{ count(n - 1) }}{% endif %}"
          "{% endmacro %}{{ count(3) }}"),
      "3,2,1,0");
}

TEST(TemplateMacro, CallBlockPassesCaller) {
  EXPECT_EQ(render("{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}"
                   "{% call wrap('b') %}bold{% endcall %}"),
            "<b>bold</b>");
}

TEST(TemplateMacro, MissingArgumentsAreUndefinedAndExtrasGoToVarargs) {
  EXPECT_EQ(
      render("{% macro m(a, b) %}[{{ b }}]{{ varargs|length }}{% endmacro %}{{ m(1) }}{{ m(1, 2, 3, 4) }}"),
      "[]0[2]2");
}

// ---- filters ----

TEST(TemplateFilter, StringFilters) {
  EXPECT_EQ(
      render("{{ '  x  '|trim }}|{{ 'xxaxx'|trim('x') }}|{{ 'aBc'|upper }}|{{ 'aBc'|lower }}|"
             "{{ 'hello world'|capitalize }}|{{ \"they're bill's\"|title }}|{{ 'a-b-a'|replace('a', 'o') }}|"
             "{{ 'a-b-a'|replace('a', 'o', 1) }}|{{ 'one two  three'|wordcount }}|{{ '<&>'|e }}"),
      "x|a|ABC|abc|Hello world|They'Re Bill'S|o-b-o|o-b-a|3|&lt;&amp;&gt;");
}

TEST(TemplateFilter, LengthCountsCodePoints) {
  EXPECT_EQ(render("{{ 'héllo'|length }} {{ [1, 2]|count }} {{ {'a': 1}|length }} {{ missing|length }}"),
            "5 2 1 0");
}

TEST(TemplateFilter, DefaultOnlyReplacesUndefinedUnlessBoolean) {
  // llama.cpp replaces none as well as undefined.
  EXPECT_EQ(render("{{ missing|default('d') }}|{{ none|default('d') }}|{{ ''|default('d') }}|{{ "
                   "''|default('d', true) }}|{{ x|d(5) }}"),
            "d|d||d|5");
}

TEST(TemplateFilter, ConversionFilters) {
  EXPECT_EQ(render("{{ '42'|int + 1 }} {{ 'x'|int }} {{ 3.9|int }} {{ '1.5'|float }} {{ 2|float }} {{ "
                   "5|string ~ 'a' }} "
                   "{{ 'ff'|int(0, 16) }}"),
            "43 0 3 1.5 2.0 5a 255");
}

TEST(TemplateFilter, JoinFirstLastListReverse) {
  EXPECT_EQ(render("{{ [1, 2, 3]|join(', ') }}|{{ users|join('/', attribute='name') }}|{{ [1, 2]|first }}{{ "
                   "[1, 2]|last }}|"
                   "{{ 'ab'|list }}|{{ [1, 2]|reverse|list }}|{{ 'abc'|reverse }}",
                   R"({"users": [{"name": "a"}, {"name": "b"}]})"),
            "1, 2, 3|a/b|12|['a', 'b']|[2, 1]|cba");
}

TEST(TemplateFilter, SelectRejectAndAttributeVariants) {
  const std::string g = R"({"ms": [{"role": "system", "x": 1}, {"role": "user"}, {"role": "user", "x": 0}]})";
  EXPECT_EQ(render("{{ ms|selectattr('role', 'equalto', 'user')|list|length }} {{ ms|rejectattr('role', "
                   "'eq', 'user')|map(attribute='role')|join }} "
                   "{{ ms|selectattr('x')|list|length }} {{ ms|selectattr('x', 'defined')|list|length }} "
                   "{{ [1, 2, 3, 4]|select('even')|list }} {{ [0, 1, '', 'a']|reject|list }} {{ [1, "
                   "2]|select('in', [2, 3])|list }}",
                   g),
            "2 system 1 2 [2, 4] [0, ''] [2]");
}

TEST(TemplateFilter, MapWithFilterNameAndDefault) {
  EXPECT_EQ(render("{{ ['a', 'b']|map('upper')|join }} {{ xs|map(attribute='k', default='?')|join }}",
                   R"({"xs": [{"k": 1}, {}]})"),
            "AB 1?");
}

TEST(TemplateFilter, SortUniqueDictsortItems) {
  EXPECT_EQ(
      render("{{ ['b', 'A', 'c']|sort }} {{ [3, 1, 2]|sort(reverse=true) }} {{ "
             "us|sort(attribute='n')|map(attribute='n')|list }} "
             "{{ ['a', 'A', 'b']|unique|list }} {{ {'b': 1, 'a': 2}|dictsort }} {{ {'a': 1}|items|list }}",
             R"({"us": [{"n": 2}, {"n": 1}]})"),
      "['A', 'b', 'c'] [3, 2, 1] [1, 2] ['a', 'b'] [('a', 2), ('b', 1)] [('a', 1)]");
}

TEST(TemplateFilter, NumericFilters) {
  EXPECT_EQ(render("{{ 2.567|round(2) }} {{ 2.5|round }} {{ 2.1|round(method='ceil') }} {{ -3|abs }} {{ [1, "
                   "2.5]|sum }} "
                   "{{ [3, 1, 2]|max }} {{ [3, 1, 2]|min }}"),
            "2.57 3.0 3.0 3 3.5 3 1");
}

TEST(TemplateFilter, IndentMatchesJinja2) {
  EXPECT_EQ(
      render("{{ 'a\nb\n\nc'|indent(2) }}|{{ 'a\nb'|indent(2, true) }}|{{ 'a\n\nb'|indent(2, blank=true) }}"),
      "a\n  b\n\n  c|  a\n  b|a\n  \n  b");
}

TEST(TemplateFilter, ToJsonMatchesPythonJsonDumps) {
  const std::string g = R"({"v": {"s": "é\"\n", "n": [1, 2.5, true, null], "e": {}, "l": []}})";
  EXPECT_EQ(render("{{ v|tojson }}", g), R"({"s": "é\"\n", "n": [1, 2.5, true, null], "e": {}, "l": []})");
  EXPECT_EQ(render("{{ v.n|tojson(indent=2) }}", g), "[\n  1,\n  2.5,\n  true,\n  null\n]");
  EXPECT_EQ(render("{{ v.s|tojson(ensure_ascii=true) }}", g), R"("\u00e9\"\n")");
  EXPECT_EQ(render("{{ v.n|tojson(separators=(',', ':')) }}", g), "[1,2.5,true,null]");
}

TEST(TemplateFilter, FromJsonParses) { EXPECT_EQ(render("{{ ('{\"a\": [1, 2]}'|from_json).a[1] }}"), "2"); }

TEST(TemplateFilter, FilterBlock) {
  EXPECT_EQ(render("{% filter upper %}ab{{ 'c' }}{% endfilter %}"), "ABC");
}

TEST(TemplateFilter, SequenceFiltersTreatNoneAsEmpty) {
  EXPECT_EQ(render("{{ none|selectattr('type', 'equalto', 'x')|list|length }}"), "0");
}

// ---- tests ----

TEST(TemplateTest, TypeTests) {
  EXPECT_EQ(
      render("{{ 'a' is string }}{{ 1 is number }}{{ 1.5 is float }}{{ 1 is integer }}{{ {} is mapping }}"
             "{{ [] is iterable }}{{ 'a' is sequence }}{{ true is boolean }}{{ none is none }}{{ range is "
             "callable }}"),
      "TrueTrueTrueTrueTrueTrueTrueTrueTrueTrue");
}

TEST(TemplateTest, TypeTestsFollowLlamaCppWhereJinja2Differs) {
  EXPECT_EQ(render("{{ true is number }}{{ {} is iterable }}{{ {} is sequence }}{{ missing is iterable }}"),
            "FalseFalseFalseTrue");
}

TEST(TemplateTest, DefinedUndefinedAndNone) {
  EXPECT_EQ(render("{{ x is defined }}{{ x is undefined }}{{ x is none }}{{ y is not none }}{{ z is none }}",
                   R"({"y": 0, "z": null})"),
            "FalseTrueFalseTrueTrue");
}

TEST(TemplateTest, ValueTests) {
  EXPECT_EQ(render("{{ true is true }}{{ 0 is false }}{{ 2 is even }}{{ 3 is odd }}{{ 9 is divisibleby 3 }}"
                   "{{ 'a' is in 'cat' }}{{ 1 is eq 1 }}{{ 1 is ne 2 }}{{ 3 is gt 2 }}{{ 'AB' is upper }}"
                   "{{ 'abc' is startingwith('ab') }}{{ 'x' is not sameas 'y' }}"),
            "TrueFalseTrueTrueTrueTrueTrueTrueTrueTrueTrueTrue");
}

// ---- methods ----

TEST(TemplateMethod, StringMethods) {
  EXPECT_EQ(
      render(
          "{{ ' a '.strip() }}|{{ 'xax'.lstrip('x') }}|{{ 'xax'.rstrip('x') }}|{{ 'a,b,,c'.split(',') }}|"
          "{{ ' a  b '.split() }}|{{ 'a-b-c'.split('-', 1) }}|{{ 'a-b-c'.rsplit('-', 1) }}|"
          "{{ 'abc'.startswith(('x', 'a')) }}|{{ 'abc'.endswith('bc') }}|{{ 'héllo'.find('l') }}|"
          "{{ 'aaa'.count('a') }}|{{ '-'.join(['a', 'b']) }}|{{ 'a\\nb'.splitlines() }}|{{ 'ab'.upper() }}|"
          "{{ 'k=v'.partition('=') }}"),
      "a|ax|xa|['a', 'b', '', 'c']|['a', 'b']|['a', 'b-c']|['a-b', 'c']|True|True|2|3|a-b|['a', "
      "'b']|AB|('k', '=', 'v')");
}

TEST(TemplateMethod, StrFormat) {
  EXPECT_EQ(render("{{ '<{}|{}>'.format('a', 1) }} {{ '{1}{0}'.format('a', 'b') }} {{ '{x}!'.format(x=2) }} "
                   "{{ '{:.2f}'.format(1.234) }} {{ '{{}}'.format() }}"),
            "<a|1> ba 2! 1.23 {}");
}

TEST(TemplateMethod, ListMethodsMutateInPlace) {
  EXPECT_EQ(
      render("{% set l = [1, 2, 3] %}{% set p = l.pop(0) %}{% do l.insert(0, 9) %}{% do l.extend([7]) %}"
             "{{ p }} {{ l }} {{ l.index(7) }} {{ l.count(2) }}"),
      "1 [9, 2, 3, 7] 3 1");
}

TEST(TemplateMethod, DictMethods) {
  EXPECT_EQ(
      render(
          "{{ d.get('a') }} {{ d.get('z') }} {{ d.get('z', 0) }} {{ d.keys()|list }} {{ d.values()|list }} "
          "{% do d.update({'c': 3}) %}{{ d.pop('a') }} {{ d }}",
          R"({"d": {"a": 1, "b": 2}})"),
      "1 None 0 ['a', 'b'] [1, 2] 1 {'b': 2, 'c': 3}");
}

// ---- globals ----

TEST(TemplateGlobal, RangeNamespaceDictZip) {
  EXPECT_EQ(render("{{ range(3)|list }} {{ range(1, 7, 2)|list }} {{ range(3, 0, -1)|list }} "
                   "{{ namespace(a=1).a }} {{ dict(a=1) }} {{ zip([1, 2], 'ab')|list }}"),
            "[0, 1, 2] [1, 3, 5] [3, 2, 1] 1 {'a': 1} [(1, 'a'), (2, 'b')]");
}

TEST(TemplateGlobal, RaiseExceptionReturnsTheMessage) {
  const std::string out = render("{% if true %}{{ raise_exception('Roles must alternate!') }}{% endif %}");
  EXPECT_EQ(out, "ERROR: template error at line 1, column 14: Roles must alternate!");
}

TEST(TemplateGlobal, GlobalsAreVisibleInMacros) {
  EXPECT_EQ(render("{% macro m() %}{{ bos_token }}{% endmacro %}{{ m() }}", R"({"bos_token": "<s>"})"),
            "<s>");
}

}  // namespace
}  // namespace hangar::chat
