// The hangar command line, run as a real process: exact greedy output, score JSON, errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "process_util.h"

namespace hangar {
namespace {

using testing::hangar_binary;
using testing::run_process;

const std::string kShared = HANGAR_SHARED_DIR;
const std::string kF16 = kShared + "/models/llama-spm-d256-f16.gguf";

nlohmann::json load_golden(const std::string& model) {
  std::ifstream in(kShared + "/golden/completions/" + model + ".json");
  return nlohmann::json::parse(in);
}

// Every case of the F16 model whose steps all lead by >= 0.02 must come out byte for byte.
TEST(CliRun, GreedyReproducesLlamaCppContent) {
  nlohmann::json golden = load_golden("llama-spm-d256-f16.gguf");
  int checked = 0;
  for (const auto& c : golden["cases"]) {
    bool decisive = true;
    for (const auto& s : c["steps"])
      decisive &= s["top"][0][1].get<double>() - s["top"][1][1].get<double>() >= 0.02;
    if (!decisive) continue;
    auto r = run_process({hangar_binary(), "run", "-m", kF16, "-p", c["prompt"].get<std::string>(), "-n",
                          std::to_string(golden["n_predict"].get<int>()), "--temp", "0", "--threads", "2"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_FALSE(r.out.empty());
    EXPECT_EQ(r.out.substr(0, r.out.size() - 1), c["content"].get<std::string>())
        << "prompt: " << c["prompt"];
    EXPECT_NE(r.err.find("tokens/s"), std::string::npos);
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

TEST(CliScore, PrintsTopKPerPositionAsJson) {
  nlohmann::json golden = load_golden("llama-spm-d256-f16.gguf");
  const auto& c = golden["cases"][0];
  std::string tokens;
  for (int t : c["prompt_tokens"]) tokens += (tokens.empty() ? "" : ",") + std::to_string(t);
  auto r = run_process({hangar_binary(), "score", "-m", kF16, "--tokens", tokens, "--top", "3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["top"].size(), c["prompt_tokens"].size());
  const auto& last = j["top"].back();
  ASSERT_EQ(last.size(), 3u);
  // After the prompt, the best next token is llama.cpp's first generated token.
  EXPECT_EQ(last[0][0].get<int>(), c["steps"][0]["top"][0][0].get<int>());
  EXPECT_NEAR(last[0][1].get<double>(), c["steps"][0]["top"][0][1].get<double>(), 0.02);
  EXPECT_GE(last[0][1].get<double>(), last[1][1].get<double>());
}

TEST(CliTokenize, RoundTripsThroughDetokenize) {
  auto tok = run_process({hangar_binary(), "tokenize", "-m", kF16}, "Hello world, ünïcode 北京");
  ASSERT_EQ(tok.exit_code, 0) << tok.err;
  auto ids = nlohmann::json::parse(tok.out);
  ASSERT_TRUE(ids.is_array());
  EXPECT_EQ(ids[0].get<int>(), 1);  // BOS
  auto no_bos = run_process({hangar_binary(), "tokenize", "-m", kF16, "--no-bos"}, "Hello world, ünïcode 北京");
  auto ids2 = nlohmann::json::parse(no_bos.out);
  EXPECT_EQ(ids2.size() + 1, ids.size());
  auto detok = run_process({hangar_binary(), "detokenize", "-m", kF16}, ids2.dump());
  ASSERT_EQ(detok.exit_code, 0) << detok.err;
  EXPECT_EQ(detok.out, "Hello world, ünïcode 北京");
}

TEST(CliErrors, BadInputGivesOneLineErrorAndNonZeroExit) {
  auto tmp = std::filesystem::temp_directory_path() / "hangar_cli_test_truncated.gguf";
  {
    std::ifstream src(kF16, std::ios::binary);
    std::vector<char> head(4096);
    src.read(head.data(), head.size());
    std::ofstream(tmp, std::ios::binary).write(head.data(), head.size());
  }
  const std::vector<std::vector<std::string>> cases = {
      {hangar_binary(), "run", "-m", "/nonexistent.gguf", "-p", "hi"},
      {hangar_binary(), "run", "-m", kF16, "-p", "hi", "--bogus-flag"},
      {hangar_binary(), "run", "-m", tmp.string(), "-p", "hi"},
      {hangar_binary(), "run", "-m", kF16, "-p", "hi", "--ctx", "-5"},
      {hangar_binary(), "score", "-m", kF16, "--tokens", "1,x,3"},
      {hangar_binary(), "score", "-m", kF16, "--tokens", "1,99999999"},
      {hangar_binary(), "inspect", "/nonexistent.gguf"},
      {hangar_binary(), "frobnicate"},
  };
  for (const auto& argv : cases) {
    auto r = run_process(argv);
    std::string cmd;
    for (const auto& a : argv) cmd += a + " ";
    EXPECT_NE(r.exit_code, 0) << cmd;
    EXPECT_EQ(r.err.find("hangar: error: "), 0u) << cmd << "\n" << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << cmd << "\n" << r.err;
  }
  std::filesystem::remove(tmp);
}

TEST(CliRun, PromptLongerThanContextIsAnError) {
  auto r = run_process({hangar_binary(), "run", "-m", kF16, "-p", std::string(400, 'a') + " b c d e f",
                        "--ctx", "16", "-n", "4"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("context"), std::string::npos) << r.err;
}

TEST(CliInspect, ReportsArchitectureAndMemory) {
  auto r = run_process({hangar_binary(), "inspect", kF16, "--ctx", "1024", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["architecture"], "llama");
  EXPECT_EQ(j["n_layer"], 4);
  EXPECT_EQ(j["context_length"], 2048);
  // KV cache at 1024 tokens: 4 layers x 1024 x 128 kv dims x K,V x 2 bytes.
  EXPECT_EQ(j["memory"]["kv_cache"], 4 * 1024 * 128 * 2 * 2);
  EXPECT_EQ(j["tensor_types"]["f16"]["tensors"].get<int>() + j["tensor_types"]["f32"]["tensors"].get<int>(),
            3 + 4 * 9);
}

TEST(CliBench, JsonHasThroughputFigures) {
  auto r = run_process({hangar_binary(), "bench", "-m", kF16, "-p", "32", "-n", "8", "-r", "1", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_GT(j["pp_tps"].get<double>(), 0);
  EXPECT_GT(j["tg_tps"].get<double>(), 0);
}

TEST(CliBench, BatchBandwidthAndProfile) {
  auto r = run_process({hangar_binary(), "bench", "-m", kF16, "-p", "16", "-n", "4", "-r", "1", "--batch", "3",
                        "--batch-prompt", "8", "--batch-gen", "4", "--profile", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["batch"], 3);
  EXPECT_GT(j["batch_tg_tps"].get<double>(), 0);
  EXPECT_GT(j["bytes_per_token"].get<double>(), 0);
  EXPECT_GT(j["read_bandwidth_gbps"].get<double>(), 0);
  EXPECT_GT(j["tg_bandwidth_percent"].get<double>(), 0);
  EXPECT_EQ(j["device"], "cpu");
  // The per-op breakdown goes to stderr, one row per op.
  for (const char* op : {"matmul f16", "matmul output", "attention", "norm", "rope", "swiglu"})
    EXPECT_NE(r.err.find(op), std::string::npos) << op << " missing from:\n" << r.err;
}

TEST(CliBench, BatchListRunsEachSize) {
  auto r = run_process({hangar_binary(), "bench", "-m", kF16, "-p", "0", "-n", "0", "-r", "1", "--batch", "1,2",
                        "--batch-prompt", "4", "--batch-gen", "2", "--json", "--device", "cpu"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["batched"].size(), 2u);
  EXPECT_EQ(j["batched"][0]["sequences"], 1);
  EXPECT_EQ(j["batched"][1]["sequences"], 2);
  EXPECT_GT(j["batched"][1]["tg_tps"].get<double>(), 0);
}

TEST(CliDevice, UnknownDeviceIsAnError) {
  auto r = run_process({hangar_binary(), "run", "-m", kF16, "-p", "hi", "-n", "1", "--device", "tpu"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("device \"tpu\": expected auto, cpu or cuda"), std::string::npos) << r.err;
}

// Without a GPU (or a CUDA build) --device cuda fails and says which is missing; with one it runs.
TEST(CliDevice, CudaRunsOrSaysWhy) {
  auto r = run_process({hangar_binary(), "run", "-m", kF16, "-p", "hi", "-n", "2", "--device", "cuda"});
  if (r.exit_code == 0) {
    EXPECT_FALSE(r.out.empty());
    return;
  }
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(r.err.find("device cuda: no CUDA GPU found") != std::string::npos ||
              r.err.find("device cuda: this hangar was built without CUDA") != std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace hangar
