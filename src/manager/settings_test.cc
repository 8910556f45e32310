// The settings file parser (every kind of bad file) and the precedence resolver.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "manager/settings.h"
#include "manager/settings_file.h"

namespace hangar::manager {
namespace {

SettingValue val(int64_t i) { return SettingValue{i, {}}; }
SettingValue val(double d) { return SettingValue{d, {}}; }
SettingValue val(const char* s) { return SettingValue{std::string(s), {}}; }

SettingsFile parse_ok(const std::string& text) {
  Result<SettingsFile> f = parse_settings_file(text, "/models/hangar.toml", "/models");
  EXPECT_TRUE(f.ok()) << (f.ok() ? "" : f.error().message());
  return f.ok() ? std::move(f).value() : SettingsFile{};
}

// Parses a bad file and returns its error in parts.
SettingsFileError parse_bad(const std::string& text) {
  SettingsFileError e;
  Result<SettingsFile> f = parse_settings_file(text, "/models/hangar.toml", "/models", &e);
  EXPECT_FALSE(f.ok());
  if (!f.ok()) {
    EXPECT_EQ(f.error().message(), e.message());
  }
  return e;
}

TEST(SettingsFile, ReadsTheIssueExample) {
  SettingsFile f = parse_ok(R"(
[defaults]                      # every model
keep_alive = "10m"
temperature = 0.7
[models.qwen2-d256-q4_k_m]      # one model id
alias = ["coder", "gpt-4o-mini"]
temperature = 0.0
ctx = 1024
[models."llama*"]               # a glob
priority = 5
)");
  ASSERT_EQ(f.models.size(), 2u);
  EXPECT_EQ(f.models[0].pattern, "qwen2-d256-q4_k_m");
  EXPECT_FALSE(f.models[0].is_glob);
  EXPECT_EQ(f.models[0].line, 5);
  EXPECT_EQ(f.models[1].pattern, "llama*");
  EXPECT_TRUE(f.models[1].is_glob);
  EXPECT_EQ(*f.defaults.get(SettingKey::kKeepAlive), val("10m"));
  EXPECT_EQ(f.defaults.lines[static_cast<int>(SettingKey::kKeepAlive)], 3);
  EXPECT_EQ(*f.models[0].layer.get(SettingKey::kCtx), val(int64_t{1024}));
  const auto alias = std::get<std::vector<std::string>>(f.models[0].layer.get(SettingKey::kAlias)->v);
  EXPECT_EQ(alias, (std::vector<std::string>{"coder", "gpt-4o-mini"}));
}

TEST(SettingsFile, SyntaxErrorNamesFileLineAndColumn) {
  SettingsFileError e = parse_bad("[defaults]\ntemperature = 0.5\nctx = = 3\n");
  EXPECT_EQ(e.file, "/models/hangar.toml");
  EXPECT_EQ(e.line, 3);
  EXPECT_GT(e.column, 0);
  EXPECT_NE(e.message().find("/models/hangar.toml:3:"), std::string::npos) << e.message();
  EXPECT_NE(e.message().find("syntax error"), std::string::npos) << e.message();
}

TEST(SettingsFile, UnknownKeyListsTheKnownOnes) {
  SettingsFileError e = parse_bad("[models.qwen]\ntemprature = 0.5\n");
  EXPECT_EQ(e.line, 2);
  EXPECT_EQ(e.key, "models.qwen.temprature");
  EXPECT_NE(e.expected.find("unknown key"), std::string::npos);
  EXPECT_NE(e.expected.find("temperature"), std::string::npos);
  EXPECT_EQ(e.message().rfind("/models/hangar.toml:2: models.qwen.temprature: unknown key", 0), 0u) << e.message();
}

TEST(SettingsFile, UnknownTopLevelKeyAndSettingOutsideASection) {
  SettingsFileError e = parse_bad("temperature = 0.5\n");
  EXPECT_EQ(e.line, 1);
  EXPECT_NE(e.expected.find("[defaults]"), std::string::npos) << e.expected;
  e = parse_bad("[model.qwen]\nctx = 512\n");
  EXPECT_EQ(e.key, "model");
  EXPECT_NE(e.expected.find("unknown key"), std::string::npos);
}

TEST(SettingsFile, DottedIdWithoutQuotesGetsAHint) {
  SettingsFileError e = parse_bad("[models.qwen2.5-0.5b]\nctx = 512\n");
  EXPECT_NE(e.expected.find("[models.\"qwen2.5-0.5b\"]"), std::string::npos) << e.expected;
}

TEST(SettingsFile, WrongTypeSaysWhatWasExpected) {
  SettingsFileError e = parse_bad("[defaults]\nctx = \"big\"\n");
  EXPECT_EQ(e.line, 2);
  EXPECT_EQ(e.key, "defaults.ctx");
  EXPECT_EQ(e.expected, "expected an integer from 16 to 1048576, got a string");
  e = parse_bad("[defaults]\npin = 1\n");
  EXPECT_EQ(e.expected, "expected true or false, got an integer");
  e = parse_bad("[defaults]\nstop = [\"a\", 3]\n");
  EXPECT_EQ(e.key, "defaults.stop");
  EXPECT_NE(e.expected.find("got an array"), std::string::npos) << e.expected;
  e = parse_bad("[defaults]\nkeep_alive = \"soon\"\n");
  EXPECT_NE(e.expected.find("keep_alive"), std::string::npos) << e.expected;
  e = parse_bad("[models]\nqwen = 3\n");
  EXPECT_EQ(e.key, "models.qwen");
  EXPECT_NE(e.expected.find("expected a table"), std::string::npos) << e.expected;
}

TEST(SettingsFile, OutOfRangeValuesAreRefused) {
  SettingsFileError e = parse_bad("[defaults]\n\ntemperature = 3.5\n");
  EXPECT_EQ(e.line, 3);
  EXPECT_EQ(e.message(), "/models/hangar.toml:3: defaults.temperature: expected a number from 0 to 2, got 3.5");
  EXPECT_EQ(parse_bad("[defaults]\nparallel = 0\n").expected, "expected an integer from 1 to 256, got 0");
  EXPECT_EQ(parse_bad("[defaults]\nrepeat_penalty = 0\n").expected,
            "expected a number greater than 0 and at most 100, got 0");
  EXPECT_EQ(parse_bad("[defaults]\nseed = -2\n").expected, "expected an integer -1 or more, got -2");
  EXPECT_NE(parse_bad("[defaults]\nmemory_limit = -5\n").expected.find("got -5"), std::string::npos);
  EXPECT_EQ(parse_bad("[defaults]\ndevice = \"tpu\"\n").expected, "expected auto, cpu or cuda, got \"tpu\"");
  EXPECT_EQ(parse_bad("[defaults]\ndevice = 1\n").expected, "expected a string, got an integer");
}

TEST(SettingsFile, AliasClashesAreRefused) {
  // Twice the same alias.
  SettingsFileError e = parse_bad("[models.a]\nalias = [\"x\"]\n[models.b]\nalias = \"x\"\n");
  EXPECT_EQ(e.line, 4);
  EXPECT_EQ(e.key, "models.b.alias");
  EXPECT_NE(e.expected.find("also an alias of 'a' (line 2)"), std::string::npos) << e.expected;
  // In a glob or [defaults].
  e = parse_bad("[models.\"ll*\"]\nalias = [\"x\"]\n");
  EXPECT_EQ(e.key, "models.\"ll*\".alias");
  EXPECT_NE(e.expected.find("only in a section of one model id"), std::string::npos);
  parse_bad("[defaults]\nalias = [\"x\"]\n");
  // An alias with a slash cannot be used in a URL path.
  parse_bad("[models.a]\nalias = [\"x/y\"]\n");
}

TEST(SettingsFile, AliasThatIsAModelIdIsRefused) {
  SettingsFile f = parse_ok("[models.a]\nalias = [\"b\"]\n");
  SettingsFileError e;
  Status st = check_aliases(f, {}, {"a", "b"}, "", &e);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(e.line, 2);
  EXPECT_NE(st.error().message().find("a model has that id"), std::string::npos);
  EXPECT_TRUE(check_aliases(f, {}, {"a", "c"}, "").ok());
  // An API alias list replaces the file's; a clash with another model's API alias is named.
  SettingsLayer api;
  api.set(SettingKey::kAlias, SettingValue{std::vector<std::string>{"y"}, {}});
  std::map<std::string, SettingsLayer> apis{{"a", api}, {"c", api}};
  st = check_aliases(f, apis, {"a", "c"}, "a");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("set through the API"), std::string::npos) << st.error().message();
}

TEST(SettingsFile, ChatTemplateIsInlineOrAFileBesideTheSettings) {
  const auto dir = std::filesystem::temp_directory_path() / ("hangar-settings-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "t.jinja") << "{{ messages[0]['content'] }}";
  Result<SettingsFile> f = parse_settings_file(
      "[models.a]\nchat_template = \"t.jinja\"\n[models.b]\nchat_template = \"{% for m in messages %}{% endfor %}\"\n",
      (dir / "hangar.toml").string(), dir.string());
  ASSERT_TRUE(f.ok()) << f.error().message();
  EXPECT_EQ(f->models[0].layer.get(SettingKey::kChatTemplate)->template_text, "{{ messages[0]['content'] }}");
  EXPECT_EQ(f->models[1].layer.get(SettingKey::kChatTemplate)->template_text, "{% for m in messages %}{% endfor %}");
  SettingsFileError e;
  Result<SettingsFile> bad = parse_settings_file("[models.a]\nchat_template = \"missing.jinja\"\n",
                                                 (dir / "hangar.toml").string(), dir.string(), &e);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(e.line, 2);
  EXPECT_NE(e.expected.find("missing.jinja"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(SettingsFile, ATemplateThatDoesNotParseIsRefusedAtItsLine) {
  const TemplateCheck check = [](const std::string& text) -> Status {
    if (text.find("{% if %}") != std::string::npos) return Error("expected a condition after 'if'");
    return Status::Ok();
  };
  SettingsFileError e;
  Result<SettingsFile> f = parse_settings_file("[models.a]\nctx = 64\nchat_template = \"{% if %}\"\n",
                                               "/models/hangar.toml", "/models", &e, check);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(e.line, 3);
  EXPECT_EQ(e.key, "models.a.chat_template");
  EXPECT_EQ(e.expected, "expected a chat template that parses: expected a condition after 'if'");
  EXPECT_TRUE(parse_settings_file("[models.a]\nchat_template = \"{{ x }}\"\n", "/m/h.toml", "/m", nullptr, check).ok());
}

TEST(SettingsFile, LayersRoundTripThroughTheRegistryText) {
  SettingsLayer l;
  l.set(SettingKey::kTemperature, val(0.2));
  l.set(SettingKey::kTopK, val(int64_t{7}));
  l.set(SettingKey::kPin, SettingValue{true, {}});
  l.set(SettingKey::kStop, SettingValue{std::vector<std::string>{"\n\n", "END \"quoted\""}, {}});
  l.set(SettingKey::kSystemPrompt, val("line one\nline \\two\t"));
  l.set(SettingKey::kKeepAlive, val("90s"));
  l.set(SettingKey::kRepeatPenalty, val(1.0));
  Result<SettingsLayer> back = decode_settings_layer(encode_settings_layer(l), "");
  ASSERT_TRUE(back.ok()) << back.error().message() << "\n" << encode_settings_layer(l);
  EXPECT_TRUE(*back == l) << encode_settings_layer(*back);
}

// The precedence: builtin < flag < [defaults] < globs (later over earlier) < [models.ID] < api.
TEST(SettingsResolver, PrecedenceAndSources) {
  SettingsFile f = parse_ok(R"(
[defaults]
temperature = 0.7
ctx = 2048
top_k = 10
[models."q*"]
top_k = 20
min_p = 0.1
[models."qw*"]
top_k = 30
[models.qwen]
ctx = 1024
[models.llama]
ctx = 512
)");
  SettingsLayer builtin, flags, api;
  builtin.set(SettingKey::kCtx, val(int64_t{4096}));
  builtin.set(SettingKey::kParallel, val(int64_t{4}));
  builtin.set(SettingKey::kTemperature, val(0.8));
  builtin.set(SettingKey::kSeed, val(int64_t{-1}));
  flags.set(SettingKey::kParallel, val(int64_t{2}));
  flags.set(SettingKey::kCtx, val(int64_t{8192}));
  api.set(SettingKey::kTemperature, val(0.1));
  const SettingsInputs in{&builtin, &flags, &f, &api};

  EffectiveSettings q = resolve_settings("qwen", in);
  EXPECT_EQ(*q.get(SettingKey::kTemperature).value, val(0.1));
  EXPECT_EQ(q.get(SettingKey::kTemperature).source, "api");
  EXPECT_EQ(*q.get(SettingKey::kCtx).value, val(int64_t{1024}));
  EXPECT_EQ(q.get(SettingKey::kCtx).source, "models.qwen");
  EXPECT_EQ(*q.get(SettingKey::kTopK).value, val(int64_t{30}));
  EXPECT_EQ(q.get(SettingKey::kTopK).source, "models.\"qw*\"");
  EXPECT_EQ(q.get(SettingKey::kMinP).source, "models.\"q*\"");
  EXPECT_EQ(*q.get(SettingKey::kParallel).value, val(int64_t{2}));
  EXPECT_EQ(q.get(SettingKey::kParallel).source, "flag");
  EXPECT_EQ(q.get(SettingKey::kSeed).source, "builtin");
  EXPECT_FALSE(q.get(SettingKey::kSystemPrompt).value.has_value());
  EXPECT_EQ(q.get(SettingKey::kSystemPrompt).source, "builtin");

  // Without the API layer and outside the globs: [defaults] over the flags.
  EffectiveSettings l = resolve_settings("llama", {&builtin, &flags, &f, nullptr});
  EXPECT_EQ(*l.get(SettingKey::kTemperature).value, val(0.7));
  EXPECT_EQ(l.get(SettingKey::kTemperature).source, "defaults");
  EXPECT_EQ(l.get(SettingKey::kCtx).source, "models.llama");
  EXPECT_EQ(*l.get(SettingKey::kTopK).value, val(int64_t{10}));
  EffectiveSettings other = resolve_settings("mistral", {&builtin, &flags, &f, nullptr});
  EXPECT_EQ(*other.get(SettingKey::kCtx).value, val(int64_t{2048}));
  EXPECT_EQ(other.get(SettingKey::kCtx).source, "defaults");
  EffectiveSettings bare = resolve_settings("mistral", {&builtin, &flags, nullptr, nullptr});
  EXPECT_EQ(*bare.get(SettingKey::kCtx).value, val(int64_t{8192}));
  EXPECT_EQ(bare.get(SettingKey::kCtx).source, "flag");
}

TEST(SettingsResolver, TypedViewConvertsAndKeepsRequestDefaultsUnset) {
  SettingsFile f = parse_ok(R"(
[defaults]
keep_alive = "10m"
memory_limit = "1Ki"
temperature = 0
[models.a]
keep_alive = -1
device = "cpu"
stop = "END"
seed = 42
system_prompt = "Be brief."
)");
  SettingsLayer builtin;
  builtin.set(SettingKey::kTopK, val(int64_t{40}));
  ModelSettings a = typed_settings(resolve_settings("a", {&builtin, nullptr, &f, nullptr}));
  EXPECT_EQ(a.keep_alive_ms, -1);
  EXPECT_EQ(a.memory_limit, 1024u);
  EXPECT_EQ(a.temperature, 0.0);  // an integer 0 for a number
  EXPECT_FALSE(a.top_k.has_value());  // only the builtin layer has it: the request's default stays
  EXPECT_EQ(a.stop, std::vector<std::string>{"END"});
  EXPECT_EQ(a.seed, 42);
  EXPECT_EQ(a.system_prompt, "Be brief.");
  EXPECT_EQ(a.device, "cpu");
  ModelSettings b = typed_settings(resolve_settings("b", {&builtin, nullptr, &f, nullptr}));
  EXPECT_EQ(b.keep_alive_ms, 600000);
  EXPECT_EQ(b.device, "");  // the server's --device
  EXPECT_FALSE(b.system_prompt.has_value());
}

TEST(SettingsResolver, SourceLabelsQuoteIdsThatAreNotBareKeys) {
  EXPECT_EQ(model_source("qwen2-d256-q4_k_m", false), "models.qwen2-d256-q4_k_m");
  EXPECT_EQ(model_source("qwen2.5-0.5b", false), "models.\"qwen2.5-0.5b\"");
  EXPECT_EQ(model_source("llama*", true), "models.\"llama*\"");
  EXPECT_TRUE(glob_matches("llama*", "llama-spm-d256-q4_0"));
  EXPECT_TRUE(glob_matches("*q4_?", "llama-spm-d256-q4_0"));
  EXPECT_FALSE(glob_matches("qwen*", "llama-spm-d256-q4_0"));
}

}  // namespace
}  // namespace hangar::manager
