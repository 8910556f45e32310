// ModelList over a real manager and registry: the kept per-model JSON is rendered again exactly
// where a record, the settings or the live state changed, and the list always equals a fresh
// rendering of every model.
#include "api/model_list.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "api/real_manager_test_support.h"
#include "api/routes.h"

namespace hangar::api {
namespace {

namespace fs = std::filesystem;

class ModelListTest : public testing::RealManagerTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(open({.name = "modellist",
                                  .models = {"a", "b", "c"},
                                  .loader = {.ctx = 128, .parallel = 1},
                                  .threads = 1,
                                  // no expiry counting down between two renderings
                                  .configure = [](manager::ManagerConfig& c) { c.cache.keep_alive_ms = -1; }}));
  }

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
