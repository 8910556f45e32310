// SettingsStore with the real registry (SQLite file): hot reload through the mtime poll (an
// injected stat, no sleeping), last good settings kept on a bad file, API overrides persisted
// across a restart, aliases.
#include "manager/settings_store.h"

#include <gtest/gtest.h>

#include <fstream>

#include "manager/test_support.h"

namespace hangar::manager {
namespace {

using testing::FakeClock;
using testing::FakeWallClock;
using testing::TempDir;
using testing::write_model;

class SettingsStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_.path("models"));
    write_model(dir_.path("models/qwen.gguf"));
    write_model(dir_.path("models/llama.gguf"));
    open_registry();
  }
  void open_registry() {
    auto reg = Registry::open(
        {.state_dir = dir_.path("state"), .models_dir = dir_.path("models"), .wall_clock = &wall_, .inspect = nullptr});
    ASSERT_TRUE(reg.ok()) << reg.error().message();
    registry_ = std::move(reg).value();
    ASSERT_TRUE(registry_->scan().ok());
  }
  SettingsOptions options() {
    SettingsOptions o;
    o.path = dir_.path("models/hangar.toml");
    o.stat = [this](const std::string& path) -> std::optional<FileStamp> {
      if (!std::filesystem::exists(path)) return std::nullopt;
      return FileStamp{stamp_, 0};
    };
    o.builtin.set(SettingKey::kCtx, SettingValue{int64_t{4096}, {}});
    return o;
  }
  Result<std::unique_ptr<SettingsStore>> open() { return SettingsStore::open(options(), *registry_, wall_); }
  // Writes the file and moves its fake mtime, as an editor saving it would.
  void write(const std::string& text) {
    std::ofstream(dir_.path("models/hangar.toml"), std::ios::trunc) << text;
    stamp_ += 1;
  }

  TempDir dir_;
  FakeWallClock wall_{1'700'000'000'000};
  std::unique_ptr<Registry> registry_;
  int64_t stamp_ = 1;
};

TEST_F(SettingsStoreTest, NoFileMeansBuiltinsAndFlagsOnly) {
  auto s = open();
  ASSERT_TRUE(s.ok()) << s.error().message();
  EffectiveSettings e = (*s)->effective("qwen");
  EXPECT_EQ(e.get(SettingKey::kCtx).source, "builtin");
  EXPECT_EQ(e.get(SettingKey::kTemperature).source, "builtin");
  EXPECT_EQ(std::get<double>(e.get(SettingKey::kTemperature).value->v), 0.8);
  EXPECT_FALSE((*s)->status().file_present);
  EXPECT_FALSE((*s)->poll());  // still no file: nothing to read
}

TEST_F(SettingsStoreTest, PollReloadsAChangedFileAndReportsWhichModelsChanged) {
  write("[models.qwen]\nctx = 1024\n");
  auto s = open();
  ASSERT_TRUE(s.ok()) << s.error().message();
  std::vector<SettingsChange> changes;
  (*s)->set_listener([&](const SettingsChange& c) { changes.push_back(c); });
  EXPECT_EQ((*s)->model("qwen").ctx, 1024);
  EXPECT_FALSE((*s)->poll());  // unchanged stamp: not read again

  write("[models.qwen]\nctx = 1024\n[models.\"ll*\"]\ntemperature = 0.1\npin = true\n");
  EXPECT_TRUE((*s)->poll());
  EXPECT_EQ((*s)->model("llama").temperature, 0.1);
  EXPECT_TRUE((*s)->model("llama").pin);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].ids, std::vector<std::string>{"llama"});
  EXPECT_TRUE(changes[0].reload_ids.empty());  // no engine size changed
  EXPECT_EQ(changes[0].cause, "file");
  write("[models.qwen]\nctx = 2048\n[models.\"ll*\"]\ntemperature = 0.1\npin = true\n");
  EXPECT_TRUE((*s)->poll());
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[1].ids, std::vector<std::string>{"qwen"});
  EXPECT_EQ(changes[1].reload_ids, std::vector<std::string>{"qwen"});
  EXPECT_EQ((*s)->model("qwen").ctx, 2048);
  EXPECT_EQ((*s)->status().reloads, 3);
  EXPECT_EQ((*s)->status().version, 2);
}

TEST_F(SettingsStoreTest, ABadFileKeepsTheLastGoodSettingsWhole) {
  write("[defaults]\ntemperature = 0.5\n[models.qwen]\nctx = 1024\n");
  auto s = open();
  ASSERT_TRUE(s.ok()) << s.error().message();
  // The first section is fine, the second is not: nothing of the new file applies.
  write("[defaults]\ntemperature = 0.9\n[models.qwen]\nctx = 99999999\n");
  EXPECT_TRUE((*s)->poll());
  EXPECT_EQ((*s)->model("qwen").temperature, 0.5);
  EXPECT_EQ((*s)->model("qwen").ctx, 1024);
  SettingsStatus st = (*s)->status();
  ASSERT_TRUE(st.last_error.has_value());
  EXPECT_EQ(st.last_error->line, 4);
  EXPECT_EQ(st.last_error->key, "models.qwen.ctx");
  EXPECT_EQ(st.failed_reloads, 1);
  EXPECT_NE(st.last_error_message.find("hangar.toml:4: models.qwen.ctx: expected an integer"), std::string::npos)
      << st.last_error_message;
  EXPECT_FALSE((*s)->poll());  // the same bad file is not read (nor reported) again
  EXPECT_FALSE((*s)->reload().ok());
  EXPECT_EQ((*s)->status().failed_reloads, 2);

  write("[defaults]\ntemperature = 0.9\n");
  EXPECT_TRUE((*s)->poll());
  EXPECT_EQ((*s)->model("qwen").temperature, 0.9);
  EXPECT_EQ((*s)->model("qwen").ctx, 4096);
  EXPECT_FALSE((*s)->status().last_error.has_value());
}

TEST_F(SettingsStoreTest, ABadFileAtOpenIsAnErrorNamingFileLineAndKey) {
  write("[models.qwen]\nalias = [\"llama\"]\n");  // the id of another model
  auto s = open();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("hangar.toml:2: models.qwen.alias:"), std::string::npos) << s.error().message();
}

TEST_F(SettingsStoreTest, AMissingPresetsFileIsAnError) {
  SettingsOptions o = options();
  o.path = dir_.path("elsewhere.toml");
  o.required = true;
  auto s = SettingsStore::open(o, *registry_, wall_);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("elsewhere.toml"), std::string::npos);
}

TEST_F(SettingsStoreTest, ApiOverridesPersistAcrossARestartAndDeleteRevertsToTheFile) {
  write("[models.qwen]\ntemperature = 0.5\ntop_k = 5\n");
  {
    auto s = open();
    ASSERT_TRUE(s.ok()) << s.error().message();
    EXPECT_EQ((*s)->model("qwen").temperature, 0.5);  // model() keeps this until a change
    SettingsLayer changes;
    changes.set(SettingKey::kTemperature, SettingValue{0.25, {}});
    changes.set(SettingKey::kAlias, SettingValue{std::vector<std::string>{"coder"}, {}});
    ASSERT_TRUE((*s)->patch("qwen", changes, {}).ok());
    EXPECT_EQ((*s)->effective("qwen").get(SettingKey::kTemperature).source, "api");
    EXPECT_EQ((*s)->model("qwen").temperature, 0.25);
  }
  // A restart: a new registry on the same SQLite file and a new store.
  registry_.reset();
  open_registry();
  auto s = open();
  ASSERT_TRUE(s.ok()) << s.error().message();
  EffectiveSettings e = (*s)->effective("qwen");
  EXPECT_EQ(std::get<double>(e.get(SettingKey::kTemperature).value->v), 0.25);
  EXPECT_EQ(e.get(SettingKey::kTemperature).source, "api");
  EXPECT_EQ(e.get(SettingKey::kTopK).source, "models.qwen");
  EXPECT_EQ((*s)->resolve_name("coder"), "qwen");

  // Removing one key, then all of them.
  ASSERT_TRUE((*s)->patch("qwen", {}, {SettingKey::kAlias}).ok());
  EXPECT_EQ((*s)->resolve_name("coder"), "coder");
  EXPECT_EQ((*s)->model("qwen").temperature, 0.25);
  ASSERT_TRUE((*s)->clear("qwen").ok());
  EXPECT_EQ((*s)->effective("qwen").get(SettingKey::kTemperature).source, "models.qwen");
  EXPECT_EQ((*s)->model("qwen").temperature, 0.5);
  registry_.reset();
  open_registry();
  auto again = open();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->effective("qwen").get(SettingKey::kTemperature).source, "models.qwen");
  EXPECT_TRUE(registry_->api_settings().empty());
}

TEST_F(SettingsStoreTest, AliasesResolveAndClashesThroughTheApiAreRefused) {
  write("[models.qwen]\nalias = [\"coder\", \"gpt-4o-mini\"]\n");
  auto s = open();
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ((*s)->resolve_name("gpt-4o-mini"), "qwen");
  EXPECT_EQ((*s)->resolve_name("qwen"), "qwen");
  EXPECT_EQ((*s)->resolve_name("nobody"), "nobody");
  SettingsLayer clash;
  clash.set(SettingKey::kAlias, SettingValue{std::vector<std::string>{"coder"}, {}});
  Status st = (*s)->patch("llama", clash, {});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("also an alias of 'qwen'"), std::string::npos) << st.error().message();
  EXPECT_TRUE(registry_->api_settings().empty());  // nothing stored
  // A file that would clash with an API alias is refused, and the old file stays.
  SettingsLayer mine;
  mine.set(SettingKey::kAlias, SettingValue{std::vector<std::string>{"writer"}, {}});
  ASSERT_TRUE((*s)->patch("llama", mine, {}).ok());
  write("[models.qwen]\nalias = [\"writer\"]\n");
  EXPECT_TRUE((*s)->poll());
  EXPECT_TRUE((*s)->status().last_error.has_value());
  EXPECT_EQ((*s)->resolve_name("coder"), "qwen");
  EXPECT_EQ((*s)->resolve_name("writer"), "llama");
}

}  // namespace
}  // namespace hangar::manager
