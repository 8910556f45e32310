// ModelList over a real manager and registry: the kept per-model JSON is rendered again exactly
// where a record, the settings or the live state changed, and the list always equals a fresh
// rendering of every model.
#include "api/model_list.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "api/context.h"
#include "api/routes.h"
#include "manager/engine_loader.h"
#include "manager/memory_reader.h"
#include "base/clock.h"

namespace hangar::api {
namespace {

namespace fs = std::filesystem;

class ModelListTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("hangar-modellist-" + std::to_string(::getpid()));
    fs::create_directories(dir_ / "models");
    for (const char* id : {"a", "b", "c"})
      fs::copy_file(std::string(HANGAR_SHARED_DIR) + "/models/llama-2-tiny-random.gguf", model(id),
                    fs::copy_options::overwrite_existing);
    manager::ManagerConfig config;
    config.models_dir = (dir_ / "models").string();
    config.state_dir = (dir_ / "state").string();
    config.hash_in_background = false;
    config.cache.keep_alive_ms = -1;  // no expiry counting down between two renderings
    auto opened = manager::Manager::open(config, loader_, memory_, clock_, wall_clock_);
    ASSERT_TRUE(opened.ok()) << opened.error().message();
    manager_ = std::move(opened).value();
    ctx_ = std::make_unique<ServerContext>(*manager_, ServerOptions{});
  }
  void TearDown() override {
    ctx_.reset();
    manager_.reset();
    fs::remove_all(dir_);
  }
  fs::path model(const std::string& id) { return dir_ / "models" / (id + ".gguf"); }

  // The list, checked against model_object() of every present record, rendered afresh.
  Json list_and_check() {
    Json got = Json::parse(ctx_->model_list.render(*ctx_));
    Json want = Json::array();
    for (const manager::ModelRecord& rec : manager_->registry().list()) want.push_back(model_object(*ctx_, rec));
    EXPECT_EQ(got["object"], "list");
    EXPECT_EQ(got["data"], want);
    return got["data"];
  }
  int64_t rendered() const { return ctx_->model_list.last_rendered(); }

  fs::path dir_;
  ThreadPool pool_{1};
  manager::EngineLoader loader_{pool_, {.ctx = 128, .parallel = 1}};
  manager::ProcMemoryReader memory_;
  SteadyClock clock_;
  SystemWallClock wall_clock_;
  std::unique_ptr<manager::Manager> manager_;
  std::unique_ptr<ServerContext> ctx_;
};

TEST_F(ModelListTest, RendersAgainOnlyWhatChanged) {
  Json data = list_and_check();
  ASSERT_EQ(data.size(), 3u);
  EXPECT_TRUE(data[0]["meta"]["header_pending"].get<bool>());
  EXPECT_EQ(rendered(), 3);
  list_and_check();
  EXPECT_EQ(rendered(), 0);

  // A header read on demand changes one record.
  ASSERT_EQ(manager_->registry().get_with_header("b")->architecture, "llama");
  data = list_and_check();
  EXPECT_EQ(rendered(), 1);
  EXPECT_EQ(data[1]["meta"]["architecture"], "llama");
  EXPECT_TRUE(data[1]["estimated_bytes"].get<uint64_t>() > 0);

  // The others in the background.
  ASSERT_TRUE(manager_->registry().read_headers().ok());
  list_and_check();
  EXPECT_EQ(rendered(), 2);

  // A load changes the live state (no record part is rendered for it) and the registry's
  // usage counters of that model.
  {
    auto lease = manager_->cache().acquire("a", {});
    ASSERT_TRUE(lease.ok()) << lease.error().message();
    data = list_and_check();
    EXPECT_EQ(data[0]["state"], "loaded");
    EXPECT_EQ(data[0]["in_flight"], 1);
    EXPECT_EQ(rendered(), 1);
  }
  data = list_and_check();
  EXPECT_EQ(data[0]["in_flight"], 0);
  EXPECT_EQ(rendered(), 0);
  ASSERT_TRUE(manager_->cache().unload("a").ok());
  EXPECT_EQ(list_and_check()[0]["state"], "unloaded");
  EXPECT_EQ(rendered(), 0);

  // A settings change may change any model's settings and estimate: all are rendered again.
  manager::SettingsLayer change;
  change.set(manager::SettingKey::kTemperature, manager::SettingValue{0.5, {}});
  ASSERT_TRUE(manager_->settings().patch("c", change, {}).ok());
  data = list_and_check();
  EXPECT_EQ(rendered(), 3);
  EXPECT_EQ(data[2]["settings"]["temperature"]["value"], 0.5);

  // Files removed and added.
  fs::remove(model("a"));
  fs::copy_file(model("b"), model("d"));
  ASSERT_TRUE(manager_->registry().scan().ok());
  data = list_and_check();
  ASSERT_EQ(data.size(), 3u);
  EXPECT_EQ(data[0]["id"], "b");
  EXPECT_EQ(data[2]["id"], "d");
  EXPECT_EQ(rendered(), 1);
}

}  // namespace
}  // namespace hangar::api
