// Test fixture for api tests that need loadable models: a real manager and ServerContext on tiny GGUFs.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "api/context.h"
#include "base/clock.h"
#include "base/thread_pool.h"
#include "manager/engine_loader.h"
#include "manager/manager.h"
#include "manager/memory_reader.h"

namespace hangar::api::testing {

// Each test gets a fresh temp dir holding the shared tiny random model under the ids it names,
// a manager over it with the real engine loader (no background hashing), and a ServerContext.
class RealManagerTest : public ::testing::Test {
 protected:
  struct Setup {
    std::string name;                 // names the temp dir, with the process id
    std::vector<std::string> models;  // ids: each a copy of llama-2-tiny-random.gguf
    manager::EngineLoaderOptions loader;
    int threads = 1;
    std::function<void(manager::ManagerConfig&)> configure = {};  // more settings, may be empty
  };

  // Call from SetUp() inside ASSERT_NO_FATAL_FAILURE.
  void open(const Setup& s) {
    dir_ = std::filesystem::temp_directory_path() / ("hangar-" + s.name + "-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_ / "models");
    for (const std::string& id : s.models)
      std::filesystem::copy_file(std::string(HANGAR_SHARED_DIR) + "/models/llama-2-tiny-random.gguf", model(id),
                                 std::filesystem::copy_options::overwrite_existing);
    manager::ManagerConfig config;
    config.models_dir = (dir_ / "models").string();
    config.state_dir = (dir_ / "state").string();
    config.hash_in_background = false;
    if (s.configure) s.configure(config);
    pool_ = std::make_unique<ThreadPool>(s.threads);
    loader_ = std::make_unique<manager::EngineLoader>(*pool_, s.loader);
    auto opened = manager::Manager::open(config, *loader_, memory_, clock_, wall_clock_);
    ASSERT_TRUE(opened.ok()) << opened.error().message();
    manager_ = std::move(opened).value();
    ctx_ = std::make_unique<ServerContext>(*manager_, ServerOptions{});
  }

  void TearDown() override {
    ctx_.reset();
    manager_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::filesystem::path model(const std::string& id) const { return dir_ / "models" / (id + ".gguf"); }

  std::filesystem::path dir_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<manager::EngineLoader> loader_;
  manager::ProcMemoryReader memory_;
  SteadyClock clock_;
  SystemWallClock wall_clock_;
  std::unique_ptr<manager::Manager> manager_;
  std::unique_ptr<ServerContext> ctx_;
};

}  // namespace hangar::api::testing
