// Shared fixture for cache, preloader and monitor tests: a registry over small real GGUF files.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "manager/model_cache.h"
#include "manager/registry.h"
#include "manager/test_support.h"

namespace hangar::manager::testing {

class CacheFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_.path("models"));
    // Different tensor sizes give the models different file sizes (for the size strategy).
    int rows = 1;
    for (const char* id : {"a", "b", "c", "d"}) write_model(model_path(id), "llama", 8, rows++);
    auto reg = Registry::open({dir_.path("state"), dir_.path("models"), &wall_});
    ASSERT_TRUE(reg.ok()) << reg.error().message();
    registry_ = std::move(*reg);
    ASSERT_TRUE(registry_->scan().ok());
  }
  void TearDown() override {
    cache_.reset();
    registry_.reset();
  }

  std::string model_path(const std::string& id) { return dir_.path("models/" + id + ".gguf"); }
  ModelCache& make_cache(CacheOptions options, EventBus* events = nullptr) {
    cache_.reset();
    cache_ = std::make_unique<ModelCache>(*registry_, loader_, clock_, options, events);
    return *cache_;
  }
  // Acquires and releases at once (one request).
  void use(const std::string& id, std::optional<int64_t> keep_alive = std::nullopt) {
    AcquireOptions o;
    o.keep_alive_ms = keep_alive;
    auto lease = cache_->acquire(id, o);
    ASSERT_TRUE(lease.ok()) << lease.error().message();
  }
  std::vector<std::string> loaded() {
    std::vector<std::string> ids;
    for (const ModelStatus& m : cache_->stats().models) {
      if (m.state == ModelState::kLoaded) ids.push_back(m.id);
    }
    return ids;
  }

  TempDir dir_;
  FakeClock clock_{1'000'000};
  FakeWallClock wall_{1'700'000'000'000};
  FakeLoader loader_{&clock_};
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<ModelCache> cache_;
};

}  // namespace hangar::manager::testing
