// Crafted model files through the hangar binary: each is a one-line "hangar: error: ..." naming
// the field, or (where the file is fine) output that never aborts on odd bytes.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "process_util.h"

namespace hangar {
namespace {

namespace fs = std::filesystem;
using gguf::Value;
using testing::hangar_binary;
using testing::run_process;

const std::string kShared = HANGAR_SHARED_DIR;
const std::string kModel = kShared + "/models/llama-spm-d256-q4_0.gguf";

fs::path temp_dir() {
  fs::path d = fs::temp_directory_path() / ("hangar_crafted_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

// A copy of the shared model with metadata keys replaced (or added).
std::string copy_with(const std::string& name, const std::vector<std::pair<std::string, Value>>& changes) {
  auto src = gguf::File::open(kModel);
  EXPECT_TRUE(src.ok());
  gguf::Writer w;
  for (const auto& [k, v] : src->metadata()) w.set(k, v);
  for (const auto& [k, v] : changes) w.set(k, v);
  for (const auto& t : src->tensors())
    w.add_tensor({t.name, t.type, t.dims}, std::vector<uint8_t>(t.data, t.data + t.n_bytes));
  const std::string path = (temp_dir() / name).string();
  EXPECT_TRUE(w.write_file(path).ok());
  return path;
}

void expect_one_line_error(const testing::ProcessResult& r, const std::string& needle) {
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.err.find("hangar: error: "), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
}

TEST(CraftedInspect, NonUtf8NameIsPrintedNotFatal) {
  const std::string path = copy_with("bad_name.gguf", {{"general.name", Value::string("caf\xE9 \xFF")}});
  auto r = run_process({hangar_binary(), "inspect", path, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["name"], "caf\xEF\xBF\xBD \xEF\xBF\xBD");  // each bad byte became U+FFFD
}

TEST(CraftedInspect, NonUtf8PathIsPrintedNotFatal) {
  const fs::path path = temp_dir() / "model-\xFF.gguf";
  fs::copy_file(kModel, path, fs::copy_options::overwrite_existing);
  auto r = run_process({hangar_binary(), "inspect", path.string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_NE(j["file"].get<std::string>().find("model-\xEF\xBF\xBD.gguf"), std::string::npos);
  EXPECT_EQ(j["architecture"], "llama");
}

TEST(CraftedInspect, NonStringNameIsAnErrorNamingTheKey) {
  const std::string path = copy_with("int_name.gguf", {{"general.name", Value::u32(7)}});
  for (const char* cmd : {"inspect", "run"}) {
    std::vector<std::string> argv = {hangar_binary(), cmd};
    if (std::string(cmd) == "run") argv.insert(argv.end(), {"-m", path, "-p", "hi", "-n", "1"});
    else argv.insert(argv.end(), {path, "--json"});
    expect_one_line_error(run_process(argv), "general.name: expected a string, found a uint32");
  }
}

// 65,536 heads of 65,536: the 32-bit product wraps to 0, so zero-row q/k/v matrices "fit".
TEST(CraftedHyperParameters, WrappingHeadCountIsAnErrorNamingTheKey) {
  auto src = gguf::File::open(kModel);
  ASSERT_TRUE(src.ok());
  gguf::Writer w;
  for (const auto& [k, v] : src->metadata()) w.set(k, v);
  w.set("llama.attention.head_count", Value::u32(65536));
  w.set("llama.attention.head_count_kv", Value::u32(65536));
  w.set("llama.attention.key_length", Value::u32(65536));
  w.set("llama.attention.value_length", Value::u32(65536));
  for (const auto& t : src->tensors()) {
    std::vector<int64_t> dims = t.dims;
    const bool qkv = t.name.find("attn_q.") != std::string::npos || t.name.find("attn_k.") != std::string::npos ||
                     t.name.find("attn_v.") != std::string::npos;
    if (qkv) dims[1] = 0;                                                  // q_dim() == 0
    if (t.name.find("attn_output.") != std::string::npos) dims[0] = 0;
    gguf::TensorSpec spec{t.name, t.type, dims};
    w.add_tensor(spec, std::vector<uint8_t>(t.data, t.data + spec.n_bytes()));
  }
  const std::string path = (temp_dir() / "wrap.gguf").string();
  ASSERT_TRUE(w.write_file(path).ok());
  expect_one_line_error(run_process({hangar_binary(), "inspect", path}), "llama.attention.head_count = 65536");
  expect_one_line_error(run_process({hangar_binary(), "run", "-m", path, "-p", "hi", "-n", "4"}),
                        "llama.attention.head_count = 65536");
}

}  // namespace
}  // namespace hangar
