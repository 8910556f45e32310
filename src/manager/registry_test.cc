// Tests for the registry: scanning real GGUF files, persistence across restarts, state errors.
#include "manager/registry.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <filesystem>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <thread>

#include <sys/stat.h>

#include "manager/integrity.h"
#include "manager/model_inspect.h"
#include "manager/test_support.h"

namespace hangar::manager {
namespace {

namespace fs = std::filesystem;
using testing::FakeClock;
using testing::FakeWallClock;
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
  FakeWallClock wall_{1'700'000'000'000};
};

TEST_F(RegistryTest, ScanReadsRealModelHeaders) {
  copy_shared("llama-spm-d256-q4_k_m.gguf");
  copy_shared("qwen3-d256-q4_k_m.gguf");
  auto reg = open();
  ASSERT_TRUE(reg.ok()) << reg.error().message();
  auto report = (*reg)->scan();
  ASSERT_TRUE(report.ok()) << report.error().message();
  EXPECT_EQ(report->added, (std::vector<std::string>{"llama-spm-d256-q4_k_m", "qwen3-d256-q4_k_m"}));
  auto headers = (*reg)->read_headers();
  ASSERT_TRUE(headers.ok()) << headers.error().message();
  EXPECT_EQ(headers->read, report->added);
  EXPECT_TRUE(headers->failed.empty());
  EXPECT_EQ(headers->pending, 0);

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

TEST_F(RegistryTest, FootprintsPersistPerSettingsAndApplyOnlyToTheSameFile) {
  fs::create_directories(dir_.path("models"));
  write_model(model_path("a"));
  Footprint f;
  f.settings = "ctx=512";
  {
    auto reg = open();
    ASSERT_TRUE(reg.ok()) << reg.error().message();
    ASSERT_TRUE((*reg)->scan().ok());
    const ModelRecord rec = *(*reg)->get("a");
    f.file_size = rec.file_size;
    f.mtime_ns = rec.mtime_ns;
    f.measured_bytes = 1234;
    f.estimated_bytes = 1000;
    ASSERT_TRUE((*reg)->record_footprint("a", f).ok());
    f.measured_bytes = 1300;  // a later load under the same settings replaces the figure
    ASSERT_TRUE((*reg)->record_footprint("a", f).ok());
    EXPECT_FALSE((*reg)->record_footprint("zzz", f).ok());
  }
  auto reg = open();
  ASSERT_TRUE(reg.ok()) << reg.error().message();
  auto got = (*reg)->footprint("a", "ctx=512");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->measured_bytes, 1300u);
  EXPECT_EQ(got->estimated_bytes, 1000u);
  EXPECT_EQ(got->measured_at_ms, 1'700'000'000'000);
  EXPECT_FALSE((*reg)->footprint("a", "ctx=1024").has_value());  // other settings
  EXPECT_EQ((*reg)->footprints("a").size(), 1u);
  // A rewritten file is a new version: its old footprint no longer applies.
  write_model(model_path("a"), "llama", 8, 7);
  ASSERT_TRUE((*reg)->scan().ok());
  EXPECT_FALSE((*reg)->footprint("a", "ctx=512").has_value());
  EXPECT_TRUE((*reg)->footprints("a").empty());
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
  EXPECT_TRUE((*reg)->get("junk")->header_pending());
  auto headers = (*reg)->read_headers();
  ASSERT_TRUE(headers.ok());
  ASSERT_EQ(headers->failed.size(), 1u);
  EXPECT_EQ(headers->failed[0].first, "junk");
  EXPECT_NE((*reg)->get("junk")->scan_error.find("junk.gguf"), std::string::npos);
  EXPECT_FALSE((*reg)->get("junk")->header_pending());  // not read again until it changes

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
  // The changed file's old facts are gone; its header is read at the first need.
  EXPECT_TRUE((*reg)->get("b")->header_pending());
  EXPECT_EQ((*reg)->get("b")->architecture, "");
  EXPECT_EQ((*reg)->get_with_header("b")->architecture, "qwen2");
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

TEST_F(RegistryTest, ScanStoresHyperParametersForEstimates) {
  copy_shared("qwen2-d256-q4_k_m.gguf");
  auto reg = open();
  ASSERT_TRUE(reg.ok()) << reg.error().message();
  ASSERT_TRUE((*reg)->scan().ok());
  ASSERT_TRUE((*reg)->read_headers().ok());
  auto rec = (*reg)->get("qwen2-d256-q4_k_m");
  ASSERT_TRUE(rec && rec->hparams);
  // The shape of the qwen2-d256 shared model (synth_gguf.py: 256 wide, 4 layers, 4/2 heads).
  EXPECT_EQ(rec->hparams->arch, "qwen2");
  EXPECT_EQ(rec->hparams->n_embd, 256);
  EXPECT_EQ(rec->hparams->n_layer, 4);
  EXPECT_EQ(rec->hparams->n_head, 4);
  EXPECT_EQ(rec->hparams->n_head_kv, 2);
  EXPECT_EQ(rec->hparams->n_ff, 768);
  EXPECT_TRUE(rec->hparams->qkv_bias);
  EXPECT_EQ(rec->hparams->rope_style, model::RopeStyle::kNeox);
  EXPECT_EQ(rec->hparams->rope_base, 1000000.0f);
  reg->reset();
  // They survive a restart, and a record of a file of an unknown architecture has none.
  write_model(model_path("odd"), "mamba");
  reg = open();
  ASSERT_TRUE(reg.ok()) << reg.error().message();
  ASSERT_TRUE((*reg)->scan().ok());
  ASSERT_TRUE((*reg)->read_headers().ok());
  auto again = (*reg)->get("qwen2-d256-q4_k_m");
  ASSERT_TRUE(again && again->hparams);
  EXPECT_EQ(encode_hparams(*again->hparams), encode_hparams(*rec->hparams));
  EXPECT_FALSE((*reg)->get("odd")->hparams.has_value());
}

TEST_F(RegistryTest, HparamsTextRoundTripsAndDamagedTextIsRefused) {
  model::HParams hp;
  hp.arch = "llama";
  hp.n_vocab = 128256, hp.n_ctx_train = 8192, hp.n_embd = 2048, hp.n_layer = 16, hp.n_head = 32;
  hp.n_head_kv = 8, hp.head_dim = 64, hp.n_ff = 8192, hp.n_rot = 64;
  hp.rms_eps = 1e-5f, hp.rope_base = 500000.0f, hp.rope_freq_scale = 0.25f;
  auto back = decode_hparams(encode_hparams(hp));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(encode_hparams(*back), encode_hparams(hp));
  EXPECT_EQ(back->rms_eps, hp.rms_eps);
  EXPECT_EQ(back->kv_dim(), 512);
  EXPECT_FALSE(decode_hparams("").has_value());
  EXPECT_FALSE(decode_hparams("v0;llama;1;2;3;4;5;6;7;8;9;1;1;1;0;0;0").has_value());
  EXPECT_FALSE(decode_hparams("v1;llama;1;2;3;-4;5;6;7;8;9;1;1;1;0;0;0").has_value());
  EXPECT_FALSE(decode_hparams("v1;llama;1;2;3;4;5;6;7;8;9;1;1;1;0;0").has_value());
}

TEST_F(RegistryTest, StateWithoutTheNewColumnsGetsThemAndItsRecordsGetHyperParameters) {
  copy_shared("llama-spm-d256-q4_k_m.gguf");
  {
    auto reg = open();
    ASSERT_TRUE(reg.ok()) << reg.error().message();
    ASSERT_TRUE((*reg)->scan().ok());
    ASSERT_TRUE((*reg)->read_headers().ok());
  }
  // Turn the file back into what hangar wrote before these columns existed.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(dir_.path("state/hangar.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "ALTER TABLE models DROP COLUMN hparams; ALTER TABLE models DROP COLUMN absent_since_ms;",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto reg = open();
  ASSERT_TRUE(reg.ok()) << reg.error().message();
  auto before = (*reg)->get("llama-spm-d256-q4_k_m");
  ASSERT_TRUE(before.has_value());
  EXPECT_FALSE(before->hparams.has_value());
  EXPECT_TRUE(before->header_pending());
  auto report = (*reg)->read_headers();
  ASSERT_TRUE(report.ok()) << report.error().message();
  EXPECT_EQ(report->read, (std::vector<std::string>{"llama-spm-d256-q4_k_m"}));
  ASSERT_TRUE((*reg)->get("llama-spm-d256-q4_k_m")->hparams.has_value());
  EXPECT_EQ((*reg)->get("llama-spm-d256-q4_k_m")->hparams->n_embd, 256);
}

TEST_F(RegistryTest, PruneForgetsOnlyFilesGoneLongerThanTheGracePeriod) {
  fs::create_directories(dir_.path("models"));
  for (const char* id : {"a", "b", "c"}) write_model(model_path(id));
  auto reg = open();
  ASSERT_TRUE(reg.ok()) << reg.error().message();
  ASSERT_TRUE((*reg)->scan().ok());
  ASSERT_TRUE((*reg)->set_preload_list({"a", "c"}).ok());
  fs::remove(model_path("a"));
  ASSERT_TRUE((*reg)->scan().ok());
  const int64_t a_gone = wall_.now_unix_ms();
  wall_.advance(1000);
  fs::remove(model_path("b"));
  ASSERT_TRUE((*reg)->scan().ok());
  EXPECT_EQ((*reg)->get("a")->absent_since_ms, a_gone);
  auto pruned = (*reg)->prune_absent(a_gone);  // nothing gone before that instant
  ASSERT_TRUE(pruned.ok());
  EXPECT_TRUE(pruned->empty());
  pruned = (*reg)->prune_absent(a_gone + 1);
  ASSERT_TRUE(pruned.ok()) << pruned.error().message();
  EXPECT_EQ(*pruned, (std::vector<std::string>{"a"}));
  EXPECT_FALSE((*reg)->get("a").has_value());
  EXPECT_TRUE((*reg)->get("b").has_value());
  EXPECT_EQ((*reg)->preload_list(), (std::vector<std::string>{"c"}));
  reg->reset();
  reg = open();  // persisted
  ASSERT_TRUE(reg.ok()) << reg.error().message();
  EXPECT_FALSE((*reg)->get("a").has_value());
  EXPECT_TRUE((*reg)->get("b").has_value());
  EXPECT_EQ((*reg)->preload_list(), (std::vector<std::string>{"c"}));
  // A file that comes back is present again and no longer counted as gone.
  write_model(model_path("b"));
  ASSERT_TRUE((*reg)->scan().ok());
  EXPECT_EQ((*reg)->get("b")->absent_since_ms, 0);
  EXPECT_TRUE((*reg)->prune_absent(wall_.now_unix_ms() + 1).value().empty());
}

TEST_F(RegistryTest, MaintenanceVacuumsFreedPagesAndTruncatesTheLog) {
  fs::create_directories(dir_.path("models"));
  for (int i = 0; i < 200; ++i) write_model(model_path("m" + std::to_string(i)));
  auto reg = open();
  ASSERT_TRUE(reg.ok()) << reg.error().message();
  ASSERT_TRUE((*reg)->scan().ok());
  for (int i = 0; i < 200; ++i) fs::remove(model_path("m" + std::to_string(i)));
  ASSERT_TRUE((*reg)->scan().ok());
  ASSERT_EQ((*reg)->prune_absent(wall_.now_unix_ms() + 1).value().size(), 200u);
  auto m = (*reg)->maintain();
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_GT(m->pages_freed, 0);
  EXPECT_GT(m->page_size, 0);
  EXPECT_GT(m->wal_bytes_before, 0);
  EXPECT_EQ(m->wal_bytes_after, 0);
  auto again = (*reg)->maintain();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->pages_freed, 0);
}

TEST_F(RegistryTest, LookupsWritesAndScansAreNotBlockedWhileHeadersAreRead) {
  fs::create_directories(dir_.path("models"));
  write_model(model_path("known"));
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false, release = false;
  Registry::Options opts{dir_.path("state"), dir_.path("models"), &wall_};
  opts.inspect = [&](const std::string& path, ModelRecord* rec) {
    if (path.find("slow") != std::string::npos) {
      std::unique_lock lock(mu);
      entered = true;
      cv.notify_all();
      cv.wait(lock, [&] { return release; });  // held until the calls below are done
    }
    return inspect_model_file(path, rec);
  };
  auto reg = Registry::open(opts);
  ASSERT_TRUE(reg.ok()) << reg.error().message();
  ASSERT_TRUE((*reg)->scan().ok());
  ASSERT_TRUE((*reg)->read_headers().ok());
  write_model(model_path("slow"));
  ASSERT_TRUE((*reg)->scan().ok());
  std::thread reader([&] { ASSERT_TRUE((*reg)->read_headers().ok()); });
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return entered; });
  }
  // The reader is inside a header read now. Were any of these to wait for it, the test would
  // never release it (and would hang rather than pass).
  EXPECT_EQ((*reg)->list().size(), 2u);
  EXPECT_TRUE((*reg)->get("known").has_value());
  EXPECT_EQ((*reg)->get_with_header("known")->architecture, "llama");
  EXPECT_TRUE((*reg)->record_access("known").ok());
  EXPECT_TRUE((*reg)->prune_absent(0).ok());
  EXPECT_TRUE((*reg)->maintain().ok());
  write_model(model_path("new"));
  auto scan = (*reg)->scan();
  ASSERT_TRUE(scan.ok());
  EXPECT_EQ(scan->added, (std::vector<std::string>{"new"}));
  {
    std::lock_guard lock(mu);
    release = true;
    cv.notify_all();
  }
  reader.join();
  EXPECT_EQ((*reg)->list().size(), 3u);
  EXPECT_EQ((*reg)->get("slow")->architecture, "llama");
  EXPECT_EQ((*reg)->get("known")->access_count, 1);
}

TEST_F(RegistryTest, ScanRegistersFromStatAloneAndHeadersAreReadLaterOrOnDemand) {
  fs::create_directories(dir_.path("models"));
  for (int i = 0; i < 5; ++i) write_model(model_path("m" + std::to_string(i)), "llama", 8, i + 1);
  std::atomic<int> reads{0};
  Registry::Options opts{dir_.path("state"), dir_.path("models"), &wall_};
  opts.inspect = [&](const std::string& path, ModelRecord* rec) {
    reads += 1;
    return inspect_model_file(path, rec);
  };
  auto reg = Registry::open(opts);
  ASSERT_TRUE(reg.ok()) << reg.error().message();
  const uint64_t v0 = (*reg)->version();
  auto scan = (*reg)->scan();
  ASSERT_TRUE(scan.ok());
  EXPECT_EQ(scan->added.size(), 5u);
  EXPECT_EQ(reads.load(), 0);  // no model file was opened
  EXPECT_GT((*reg)->version(), v0);
  EXPECT_EQ((*reg)->pending_headers(), 5);
  for (const ModelRecord& r : (*reg)->list()) {
    EXPECT_TRUE(r.header_pending());
    EXPECT_EQ(r.file_size, fs::file_size(r.path));
    EXPECT_EQ(r.tensor_bytes, 0u);
  }
  // One model's facts on demand: read once, stored, not read again.
  auto m3 = (*reg)->get_with_header("m3");
  ASSERT_TRUE(m3.has_value());
  EXPECT_FALSE(m3->header_pending());
  EXPECT_EQ(m3->n_params, 8 + 32 * 4);
  EXPECT_EQ(reads.load(), 1);
  EXPECT_EQ((*reg)->get("m3")->n_params, 8 + 32 * 4);
  EXPECT_EQ((*reg)->get_with_header("m3")->n_params, 8 + 32 * 4);
  EXPECT_EQ(reads.load(), 1);
  // The background reads the rest in batches.
  auto batch = (*reg)->read_headers(2);
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->read, (std::vector<std::string>{"m0", "m1"}));
  EXPECT_EQ(batch->pending, 2);
  auto rest = (*reg)->read_headers();
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(rest->read, (std::vector<std::string>{"m2", "m4"}));
  EXPECT_EQ(rest->pending, 0);
  EXPECT_EQ(reads.load(), 5);
  // What was read survives a restart: nothing is pending, nothing is read again.
  reg->reset();
  reg = Registry::open(opts);
  ASSERT_TRUE(reg.ok()) << reg.error().message();
  ASSERT_TRUE((*reg)->scan().ok());
  EXPECT_EQ((*reg)->pending_headers(), 0);
  EXPECT_EQ((*reg)->get("m4")->n_params, 8 + 32 * 5);
  EXPECT_EQ(reads.load(), 5);
}

TEST_F(RegistryTest, AHeaderReadOfAFileThatChangesMeanwhileIsNotStored) {
  fs::create_directories(dir_.path("models"));
  write_model(model_path("m"), "llama", 8, 1);
  bool changed = false;
  Registry* registry = nullptr;
  Registry::Options opts{dir_.path("state"), dir_.path("models"), &wall_};
  opts.inspect = [&](const std::string& path, ModelRecord* rec) {
    Status st = inspect_model_file(path, rec);
    if (!changed) {
      // Replaced by a bigger model between this read and its store; a scan notices.
      changed = true;
      write_model(model_path("m"), "qwen2", 16, 4);
      EXPECT_EQ(registry->scan().value().updated, (std::vector<std::string>{"m"}));
    }
    return st;
  };
  auto reg = Registry::open(opts);
  ASSERT_TRUE(reg.ok()) << reg.error().message();
  registry = reg->get();
  ASSERT_TRUE((*reg)->scan().ok());
  auto first = (*reg)->read_headers();
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first->read.empty());  // the llama facts belong to a file that is gone
  EXPECT_EQ(first->pending, 1);
  EXPECT_TRUE((*reg)->get("m")->header_pending());
  auto second = (*reg)->read_headers();
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->read, (std::vector<std::string>{"m"}));
  EXPECT_EQ((*reg)->get("m")->architecture, "qwen2");
}

// The registry tells who uses which models: the state dir is 0700 and its files 0600, also
// when an older hangar (or a umask) left them readable by others.
TEST_F(RegistryTest, StateDirAndFilesArePrivate) {
  auto mode = [](const std::string& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
    return st.st_mode & 07777;
  };
  copy_shared("llama-spm-d256-q4_k_m.gguf");
  {
    auto reg = open();
    ASSERT_TRUE(reg.ok()) << reg.error().message();
    ASSERT_TRUE((*reg)->scan().ok());
    EXPECT_EQ(mode(dir_.path("state")), 0700u);
    for (const char* f : {"hangar.db", "hangar.db-wal", "hangar.db-shm", "hangar.lock"})
      EXPECT_EQ(mode(dir_.path(std::string("state/") + f)), 0600u) << f;
  }
  ASSERT_EQ(::chmod(dir_.path("state").c_str(), 0755), 0);
  ASSERT_EQ(::chmod(dir_.path("state/hangar.db").c_str(), 0644), 0);
  auto reg = open();
  ASSERT_TRUE(reg.ok()) << reg.error().message();
  EXPECT_EQ(mode(dir_.path("state")), 0700u);
  EXPECT_EQ(mode(dir_.path("state/hangar.db")), 0600u);
  EXPECT_TRUE((*reg)->get("llama-spm-d256-q4_k_m").has_value());
}

TEST_F(RegistryTest, PinsSurviveRestart) {
  fs::create_directories(dir_.path("models"));
  write_model(model_path("a"));
  write_model(model_path("b"), "llama", 8, 3);
  {
    auto reg = open();
    ASSERT_TRUE(reg.ok()) << reg.error().message();
    ASSERT_TRUE((*reg)->scan().ok());
    ASSERT_TRUE((*reg)->set_pinned("b", true).ok());
    ASSERT_TRUE((*reg)->set_pinned("a", true).ok());
    ASSERT_TRUE((*reg)->set_pinned("a", true).ok());  // again: no change
    EXPECT_FALSE((*reg)->set_pinned("nope", true).ok());
    EXPECT_EQ((*reg)->pinned(), (std::vector<std::string>{"a", "b"}));
  }
  {
    auto reg = open();
    ASSERT_TRUE(reg.ok()) << reg.error().message();
    EXPECT_EQ((*reg)->pinned(), (std::vector<std::string>{"a", "b"}));
    ASSERT_TRUE((*reg)->set_pinned("a", false).ok());
    ASSERT_TRUE((*reg)->set_pinned("a", false).ok());  // not pinned: no-op
  }
  auto reg = open();
  ASSERT_TRUE(reg.ok()) << reg.error().message();
  EXPECT_EQ((*reg)->pinned(), (std::vector<std::string>{"b"}));
}

// The history is written kHistoryBatch rows at a time (a request does not cost a SQLite
// write); a second connection sees the rows only once a batch is written.
TEST_F(RegistryTest, RequestHistoryIsWrittenInBatchesAndFlushedAtClose) {
  auto rows_on_disk = [&] {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(dir_.path("state/hangar.db").c_str(), &db), SQLITE_OK);
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, "SELECT count(*) FROM request_history", -1, &s, nullptr), SQLITE_OK);
    EXPECT_EQ(sqlite3_step(s), SQLITE_ROW);
    const int64_t n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return n;
  };
  const int64_t batch = static_cast<int64_t>(Registry::kHistoryBatch);
  {
    auto reg = open();
    ASSERT_TRUE(reg.ok()) << reg.error().message();
    for (int64_t i = 0; i < batch - 1; ++i) ASSERT_TRUE((*reg)->record_request("a", i).ok());
    EXPECT_EQ(rows_on_disk(), 0);
    EXPECT_EQ((*reg)->history_size(), batch - 1);
    auto rows = (*reg)->request_history();  // buffered rows included
    ASSERT_TRUE(rows.ok()) << rows.error().message();
    ASSERT_EQ(rows->size(), static_cast<size_t>(batch - 1));
    EXPECT_EQ(rows->back().at_ms, batch - 2);
    ASSERT_TRUE((*reg)->record_request("b", batch - 1).ok());
    EXPECT_EQ(rows_on_disk(), batch);
    ASSERT_TRUE((*reg)->record_request("c", batch).ok());
    ASSERT_TRUE((*reg)->record_request("c", batch + 1).ok());
    EXPECT_EQ(rows_on_disk(), batch);
    EXPECT_EQ(*(*reg)->prune_history(batch), 2);  // writes the buffer first, then trims
    EXPECT_EQ(rows_on_disk(), batch);
    ASSERT_TRUE((*reg)->record_request("d", batch + 2).ok());
    ASSERT_TRUE((*reg)->clear_history().ok());  // buffered rows go too
    EXPECT_EQ((*reg)->history_size(), 0);
    ASSERT_TRUE((*reg)->record_request("e", batch + 3).ok());
  }
  EXPECT_EQ(rows_on_disk(), 1);  // written at close
  auto reg = open();
  ASSERT_TRUE(reg.ok()) << reg.error().message();
  EXPECT_EQ((*reg)->history_size(), 1);
  auto rows = (*reg)->request_history();
  ASSERT_TRUE(rows.ok()) << rows.error().message();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(rows->front().id, "e");
  EXPECT_EQ(rows->front().at_ms, batch + 3);
}

// A file replaced on purpose: verify keeps refusing it, accept makes it the expected one.
TEST_F(RegistryTest, AcceptMakesAReplacedFileTheExpectedOne) {
  fs::create_directories(dir_.path("models"));
  write_model(model_path("a"));
  auto reg = open();
  ASSERT_TRUE(reg.ok()) << reg.error().message();
  ASSERT_TRUE((*reg)->scan().ok());
  auto first = verify_model(**reg, "a");
  ASSERT_TRUE(first.ok()) << first.error().message();
  write_model(model_path("a"), "llama", 8, 2, false, /*fill=*/7);  // same size, other bytes
  ASSERT_TRUE((*reg)->scan().ok());
  ASSERT_FALSE(verify_model(**reg, "a").ok());
  ASSERT_FALSE(check_before_load(**reg, *(*reg)->get("a")).ok());
  auto accepted = accept_model(**reg, "a");
  ASSERT_TRUE(accepted.ok()) << accepted.error().message();
  EXPECT_NE(*accepted, *first);
  EXPECT_EQ((*reg)->get("a")->sha256, *accepted);
  EXPECT_TRUE(check_before_load(**reg, *(*reg)->get("a")).ok());
  EXPECT_TRUE(verify_model(**reg, "a").ok());
  EXPECT_FALSE(accept_model(**reg, "nope").ok());
}

}  // namespace
}  // namespace hangar::manager
