// Tests for the registry: scanning real GGUF files, persistence across restarts, state errors.
#include "manager/registry.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>

#include "manager/integrity.h"
#include "manager/model_inspect.h"
#include "manager/test_support.h"

namespace hangar::manager {
namespace {

namespace fs = std::filesystem;
using testing::FakeClock;
using testing::TempDir;
using testing::write_model;

class RegistryTest : public ::testing::Test {
 protected:
  Result<std::unique_ptr<Registry>> open() {
    return Registry::open({dir_.path("state"), dir_.path("models"), &wall_});
  }
  std::string model_path(const std::string& id) { return dir_.path("models/" + id + ".gguf"); }
  void copy_shared(const std::string& name) {
    fs::create_directories(dir_.path("models"));
    fs::copy_file(std::string(HANGAR_SHARED_DIR) + "/models/" + name, dir_.path("models/" + name));
  }

  TempDir dir_;
  FakeClock wall_{1'700'000'000'000};
};

TEST_F(RegistryTest, ScanReadsRealModelHeaders) {
  copy_shared("llama-spm-d256-q4_k_m.gguf");
  copy_shared("qwen3-d256-q4_k_m.gguf");
  auto reg = open();
  ASSERT_TRUE(reg.ok()) << reg.error().message();
  auto report = (*reg)->scan();
  ASSERT_TRUE(report.ok()) << report.error().message();
  EXPECT_EQ(report->added, (std::vector<std::string>{"llama-spm-d256-q4_k_m", "qwen3-d256-q4_k_m"}));
  EXPECT_TRUE(report->failed.empty());

  // Expected values were read from the files with an independent Python GGUF header parser.
  auto llama = (*reg)->get("llama-spm-d256-q4_k_m");
  ASSERT_TRUE(llama.has_value());
  EXPECT_TRUE(llama->present);
  EXPECT_EQ(llama->architecture, "llama");
  EXPECT_EQ(llama->context_length, 2048);
  EXPECT_EQ(llama->n_params, 19532032);
  EXPECT_FALSE(llama->has_chat_template);
  EXPECT_EQ(llama->tensor_types, (std::vector<std::pair<std::string, int64_t>>{
                                     {"f32", 9}, {"q4_K", 25}, {"q6_K", 5}}));
  EXPECT_EQ(llama->kv_elems_per_token, 4 * 4 * (32 + 32));  // layers x kv heads x (k + v dims)
  EXPECT_EQ(llama->file_size, fs::file_size(model_path("llama-spm-d256-q4_k_m")));
  EXPECT_GT(llama->tensor_bytes, 0u);
  EXPECT_LT(llama->tensor_bytes, llama->file_size);
  EXPECT_EQ(llama->added_ms, 1'700'000'000'000);

  auto qwen3 = (*reg)->get("qwen3-d256-q4_k_m");
  ASSERT_TRUE(qwen3.has_value());
  EXPECT_EQ(qwen3->architecture, "qwen3");
  EXPECT_EQ(qwen3->n_params, 42044160);
  EXPECT_TRUE(qwen3->has_chat_template);
  EXPECT_EQ(qwen3->kv_elems_per_token, 4 * 2 * (64 + 64));
}

TEST_F(RegistryTest, EstimateIsWeightsPlusKvCache) {
  ModelRecord rec;
  ASSERT_TRUE(inspect_model_file(std::string(HANGAR_SHARED_DIR) +
                                     "/models/llama-spm-d256-q4_k_m.gguf", &rec).ok());
  EXPECT_EQ(estimate_load_bytes(rec, 512), rec.tensor_bytes + 512u * 1024 * 2);
  EXPECT_EQ(estimate_load_bytes(rec, 0, 4, 1000), rec.tensor_bytes + 2048u * 1024 * 4 + 1000);
}

TEST_F(RegistryTest, ScanTracksAddedChangedRemovedAndBrokenFiles) {
  fs::create_directories(dir_.path("models"));
  write_model(model_path("a"));
  write_model(model_path("b"));
  std::ofstream(model_path("junk")) << "not a gguf file";
  std::ofstream(dir_.path("models/notes.txt")) << "ignored";
  auto reg = open();
  ASSERT_TRUE(reg.ok()) << reg.error().message();
  auto first = (*reg)->scan();
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->added, (std::vector<std::string>{"a", "b", "junk"}));
  ASSERT_EQ(first->failed.size(), 1u);
  EXPECT_EQ(first->failed[0].first, "junk");
  EXPECT_NE((*reg)->get("junk")->scan_error.find("junk.gguf"), std::string::npos);

  auto again = (*reg)->scan();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->unchanged, 3);
  EXPECT_TRUE(again->added.empty() && again->updated.empty());

  ASSERT_TRUE((*reg)->record_access("b").ok());
  write_model(model_path("b"), "qwen2", 16, 4);  // replaced with a different model
  fs::remove(model_path("a"));
  auto third = (*reg)->scan();
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->updated, (std::vector<std::string>{"b"}));
  EXPECT_EQ(third->removed, (std::vector<std::string>{"a"}));
  EXPECT_EQ((*reg)->get("b")->architecture, "qwen2");
  EXPECT_EQ((*reg)->get("b")->n_params, 16 + 32 * 4);
  EXPECT_EQ((*reg)->get("b")->access_count, 1);  // history survives a changed file
  EXPECT_FALSE((*reg)->get("a")->present);
  EXPECT_EQ((*reg)->list().size(), 2u);       // b, junk
  EXPECT_EQ((*reg)->list(true).size(), 3u);   // and the absent a
}

TEST_F(RegistryTest, CountsDigestsAndPreloadListSurviveRestart) {
  fs::create_directories(dir_.path("models"));
  write_model(model_path("a"));
  write_model(model_path("b"), "llama", 8, 3);
  std::string digest;
  {
    auto reg = open();
    ASSERT_TRUE(reg.ok()) << reg.error().message();
    ASSERT_TRUE((*reg)->scan().ok());
    for (int i = 0; i < 3; ++i) ASSERT_TRUE((*reg)->record_access("a").ok());
    wall_.advance(5000);
    ASSERT_TRUE((*reg)->record_access("b").ok());
    ASSERT_TRUE((*reg)->record_load("a", 1234).ok());
    auto d = verify_model(**reg, "b");
    ASSERT_TRUE(d.ok()) << d.error().message();
    digest = *d;
    ASSERT_TRUE((*reg)->set_preload_list({"b", "a"}).ok());
  }
  auto reg = open();
  ASSERT_TRUE(reg.ok()) << reg.error().message();
  auto a = (*reg)->get("a");
  auto b = (*reg)->get("b");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->access_count, 3);
  EXPECT_EQ(a->last_access_ms, 1'700'000'000'000);
  EXPECT_EQ(a->load_count, 1);
  EXPECT_EQ(a->last_load_ms, 1234);
  EXPECT_EQ(b->access_count, 1);
  EXPECT_EQ(b->last_access_ms, 1'700'000'005'000);
  EXPECT_EQ(b->sha256, digest);
  EXPECT_EQ(b->sha256.size(), 64u);
  EXPECT_EQ(b->sha256_size, fs::file_size(model_path("b")));
  EXPECT_EQ((*reg)->preload_list(), (std::vector<std::string>{"b", "a"}));
  // A rescan of unchanged files keeps everything.
  ASSERT_TRUE((*reg)->scan().ok());
  EXPECT_EQ((*reg)->get("b")->sha256, digest);
  EXPECT_EQ((*reg)->get("a")->access_count, 3);
}

TEST_F(RegistryTest, PreloadListRejectsUnknownModels) {
  fs::create_directories(dir_.path("models"));
  write_model(model_path("a"));
  auto reg = open();
  ASSERT_TRUE(reg.ok());
  ASSERT_TRUE((*reg)->scan().ok());
  auto st = (*reg)->add_preload("nope");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("'nope'"), std::string::npos);
  ASSERT_TRUE((*reg)->add_preload("a").ok());
  ASSERT_TRUE((*reg)->add_preload("a").ok());  // no duplicates
  EXPECT_EQ((*reg)->preload_list(), (std::vector<std::string>{"a"}));
  ASSERT_TRUE((*reg)->remove_preload("a").ok());
  EXPECT_FALSE((*reg)->remove_preload("a").ok());
  EXPECT_FALSE((*reg)->record_access("nope").ok());
}

TEST_F(RegistryTest, CorruptStateFileIsAClearError) {
  fs::create_directories(dir_.path("state"));
  std::ofstream(dir_.path("state/hangar.db"), std::ios::binary)
      << std::string(4096, '\x5a') << "definitely not sqlite";
  auto reg = open();
  ASSERT_FALSE(reg.ok());
  const std::string& msg = reg.error().message();
  EXPECT_NE(msg.find(dir_.path("state/hangar.db")), std::string::npos) << msg;
  EXPECT_NE(msg.find("not a database"), std::string::npos) << msg;
  EXPECT_NE(msg.find("move it away"), std::string::npos) << msg;
}

TEST_F(RegistryTest, DamagedPagesInsideAHangarStateFileAreAClearError) {
  fs::create_directories(dir_.path("models"));
  for (const char* id : {"a", "b", "c"}) write_model(model_path(id));
  {
    auto reg = open();
    ASSERT_TRUE(reg.ok()) << reg.error().message();
    ASSERT_TRUE((*reg)->scan().ok());
  }
  ASSERT_GE(fs::file_size(dir_.path("state/hangar.db")), 3u * 4096);
  {
    // Page 1 (the header and schema) stays intact; page 2 holds table data.
    std::fstream f(dir_.path("state/hangar.db"), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096);
    const std::string garbage(4096, '\x7f');
    f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  auto reg = open();
  ASSERT_FALSE(reg.ok());
  EXPECT_NE(reg.error().message().find("corrupt"), std::string::npos) << reg.error().message();
  EXPECT_NE(reg.error().message().find(dir_.path("state/hangar.db")), std::string::npos);
}

TEST_F(RegistryTest, ForeignSqliteFileIsAClearError) {
  fs::create_directories(dir_.path("state"));
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(dir_.path("state/hangar.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE photos(id INTEGER, path TEXT)", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto reg = open();
  ASSERT_FALSE(reg.ok());
  EXPECT_NE(reg.error().message().find("another program"), std::string::npos)
      << reg.error().message();
}

TEST_F(RegistryTest, SecondOpenOfTheSameStateDirIsRefused) {
  auto first = open();
  ASSERT_TRUE(first.ok()) << first.error().message();
  auto second = open();
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().message().find("in use by another hangar process"), std::string::npos);
  first->reset();
  EXPECT_TRUE(open().ok());
}

TEST_F(RegistryTest, EmptyModelsDirIsFine) {
  auto reg = open();
  ASSERT_TRUE(reg.ok()) << reg.error().message();
  auto report = (*reg)->scan();
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE((*reg)->list().empty());
  EXPECT_TRUE(fs::is_directory(dir_.path("models")));
}

}  // namespace
}  // namespace hangar::manager
