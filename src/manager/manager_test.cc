// Tests for the Manager facade: opening state, --preload validation, start/stop of its threads.
#include "manager/manager.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "manager/test_support.h"

namespace hangar::manager {
namespace {

using namespace testing;

TEST(Manager, OpensScansAndPersistsPreloadIds) {
  TempDir dir;
  std::filesystem::create_directories(dir.path("models"));
  write_model(dir.path("models/a.gguf"));
  write_model(dir.path("models/b.gguf"));
  FakeClock clock, wall(1'700'000'000'000);
  FakeLoader loader(&clock);
  FakeMemoryReader memory;
  ManagerConfig config;
  config.models_dir = dir.path("models");
  config.state_dir = dir.path("state");
  config.preload_ids = {"b"};
  {
    auto m = Manager::open(config, loader, memory, clock, wall);
    ASSERT_TRUE(m.ok()) << m.error().message();
    EXPECT_EQ((*m)->registry().list().size(), 2u);
    EXPECT_EQ((*m)->registry().preload_list(), (std::vector<std::string>{"b"}));
    auto digest = (*m)->verify("a");
    ASSERT_TRUE(digest.ok()) << digest.error().message();
    EXPECT_EQ(*digest, sha256_file(dir.path("models/a.gguf")).value());
    EXPECT_EQ((*m)->registry().get("a")->sha256, *digest);
  }
  config.preload_ids = {"zzz"};
  auto bad = Manager::open(config, loader, memory, clock, wall);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("--preload"), std::string::npos);
  EXPECT_NE(bad.error().message().find("'zzz'"), std::string::npos);
}

TEST(Manager, StartAndStopJoinTheThreads) {
  TempDir dir;
  FakeClock clock, wall;
  FakeLoader loader(&clock);
  FakeMemoryReader memory;
  ManagerConfig config;
  config.models_dir = dir.path("models");
  config.state_dir = dir.path("state");
  auto m = Manager::open(config, loader, memory, clock, wall);
  ASSERT_TRUE(m.ok()) << m.error().message();
  (*m)->start();
  (*m)->start();  // idempotent
  (*m)->stop();
  (*m)->stop();
  EXPECT_FALSE((*m)->hasher().progress().running);
}

}  // namespace
}  // namespace hangar::manager
