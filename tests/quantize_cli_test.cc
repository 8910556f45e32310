// `hangar quantize` and `hangar perplexity` run as processes: golden agreement of a quantized
// model, llama-perplexity's figures, and bad input that must leave no output file behind.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "model/cpu_backend.h"
#include "process_util.h"
#include "sampling/logprobs.h"

namespace hangar {
namespace {

namespace fs = std::filesystem;
using testing::hangar_binary;
using testing::run_process;

const std::string kShared = HANGAR_SHARED_DIR;
const std::string kF16 = kShared + "/models/llama-spm-d256-f16.gguf";
const std::string kQ4KM = kShared + "/models/llama-spm-d256-q4_k_m.gguf";
// Debian's base-files text of the GPL 3 (md5 1ebbd3e34237af26da5dc08a4e440464).
const std::string kText = "/usr/share/common-licenses/GPL-3";

class QuantizeCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("hangar-qcli-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  static void expect_no_output(const std::string& out) {
    EXPECT_FALSE(fs::exists(out)) << out;
    EXPECT_FALSE(fs::exists(out + ".partial")) << out;
  }
  fs::path dir_;
};

int count_lines_with(const std::string& s, const std::string& part) {
  int n = 0;
  size_t pos = 0;
  while ((pos = s.find(part, pos)) != std::string::npos) ++n, ++pos;
  return n;
}

struct Agreement {
  int steps = 0, decisive = 0, top1_agree = 0, ref_top5 = 0, ref_top5_found = 0;
  double abs_diff_sum = 0;
};

// Teacher-forced agreement with llama.cpp's golden steps, as tests/golden_agreement_test.cc does.
Agreement agreement(const std::string& model, const std::string& golden_file) {
  std::ifstream in(kShared + "/golden/completions/" + golden_file);
  nlohmann::json golden = nlohmann::json::parse(in);
  ThreadPool pool(2);
  engine::EngineOptions eo;
  eo.n_ctx = 1024;
  eo.batch_tokens = 256;
  auto loaded = engine::Engine::load(model, eo, pool);
  EXPECT_TRUE(loaded.ok()) << loaded.error().message();
  Agreement a;
  if (!loaded.ok()) return a;
  engine::Engine& e = **loaded;
  const int32_t nv = e.n_vocab();
  for (const auto& c : golden["cases"]) {
    auto prompt = c["prompt_tokens"].get<std::vector<int32_t>>();
    auto completion = c["completion_tokens"].get<std::vector<int32_t>>();
    std::vector<float> logits((prompt.size() + completion.size()) * nv);
    engine::Sequence seq;
    engine::EvalItem first{&seq, prompt, logits.data(), true};
    EXPECT_TRUE(e.eval({&first, 1}).ok());
    engine::EvalItem second{&seq, completion, logits.data() + prompt.size() * nv, true};
    EXPECT_TRUE(e.eval({&second, 1}).ok());
    seq.release(e.kv_cache());
    const auto& steps = c["steps"];
    for (size_t i = 0; i < steps.size(); ++i) {
      auto ours = top_logprobs(&logits[(prompt.size() - 1 + i) * nv], nv, 10);
      std::map<int32_t, float> by_id(ours.begin(), ours.end());
      const auto& ref = steps[i]["top"];
      ++a.steps;
      if (ref[0][1].get<double>() - ref[1][1].get<double>() >= 0.1) {
        ++a.decisive;
        a.top1_agree += ours[0].first == ref[0][0].get<int32_t>();
      }
      for (const auto& r : ref) {
        ++a.ref_top5;
        auto it = by_id.find(r[0].get<int32_t>());
        if (it == by_id.end()) continue;
        ++a.ref_top5_found;
        a.abs_diff_sum += std::fabs(it->second - r[1].get<double>());
      }
    }
  }
  return a;
}

// Our Q4_K_M of the shared F16 model meets the 4-bit golden tolerance against llama.cpp's run of
// its own Q4_K_M of the same model.
TEST_F(QuantizeCli, Q4KMOfSharedModelMeetsGoldenAgreement) {
  const std::string out = path("q4_k_m.gguf");
  auto r = run_process({hangar_binary(), "quantize", kF16, out, "Q4_K_M", "--threads", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count_lines_with(r.out, " MiB -> "), 40);  // 39 tensors and the summary
  EXPECT_NE(r.out.find("blk.3.ffn_down.weight"), std::string::npos);
  EXPECT_NE(r.out.find("bits per weight"), std::string::npos);
  Agreement a = agreement(out, "llama-spm-d256-q4_k_m.gguf.json");
  std::printf("[agreement] ours Q4_K_M: steps %d  top-1 %d/%d  top-5 in top-10 %d/%d  mean |dlogprob| %.4f\n",
              a.steps, a.top1_agree, a.decisive, a.ref_top5_found, a.ref_top5,
              a.abs_diff_sum / std::max(1, a.ref_top5_found));
  ASSERT_GT(a.steps, 0);
  EXPECT_GE(a.top1_agree, 0.98 * a.decisive);
  EXPECT_GE(a.ref_top5_found, 0.99 * a.ref_top5);
  EXPECT_LE(a.abs_diff_sum / a.ref_top5_found, 0.05);
}

// Logits of a prompt, then of each following token decoded alone (the one-token kernels).
// With `layout_cache`, mapped weights take their rearranged matrices from that directory, and
// `built` (when given) says whether this load built the cache file.
std::vector<float> prompt_then_decode(const std::string& model, bool in_memory, const std::vector<int32_t>& prompt,
                                      const std::vector<int32_t>& next, const std::string& layout_cache = "",
                                      bool* built = nullptr, int* rearranged = nullptr) {
  ThreadPool pool(2);
  engine::EngineOptions eo;
  eo.n_ctx = 256;
  eo.weights_in_memory = in_memory;
  eo.layout_cache_dir = layout_cache;
  auto loaded = engine::Engine::load(model, eo, pool);
  EXPECT_TRUE(loaded.ok()) << loaded.error().message();
  if (!loaded.ok()) return {};
  engine::Engine& e = **loaded;
  const auto& cpu = dynamic_cast<const model::CpuBackend&>(e.backend());
  if (built) *built = cpu.layout_cache().built();
  if (rearranged) *rearranged = cpu.layout_cache().matrices();
  const size_t nv = static_cast<size_t>(e.n_vocab());
  std::vector<float> logits((prompt.size() + next.size()) * nv);
  engine::Sequence seq;
  engine::EvalItem first{&seq, prompt, logits.data(), true};
  EXPECT_TRUE(e.eval({&first, 1}).ok());
  for (size_t i = 0; i < next.size(); ++i) {
    engine::EvalItem step{&seq, {&next[i], 1}, logits.data() + (prompt.size() + i) * nv, true};
    EXPECT_TRUE(e.eval({&step, 1}).ok());
  }
  seq.release(e.kv_cache());
  return logits;
}

// A Q5_0 model loaded into memory has its matrices rearranged for the AVX-512 decode kernel
// (kernels::pack_row_pairs); mapped, it is used as the file has it. Both give the same bits.
TEST_F(QuantizeCli, Q5_0ModelGivesTheSameLogitsRearrangedAsMapped) {
  const std::string out = path("q5_0.gguf");
  auto r = run_process({hangar_binary(), "quantize", kF16, out, "Q5_0", "--threads", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  {
    ThreadPool pool(2);
    auto m = model::Model::load(out, MappedFile::Backing::kMemory);
    ASSERT_TRUE(m.ok()) << m.error().message();
    // 4 layers x 7 matrices; without AVX-512 nothing is rearranged.
    model::CpuBackend cpu(**m, pool, model::BackendOptions{});
    EXPECT_EQ(cpu.packed_matrices(), kernels::active_isa() >= kernels::Isa::kAvx512 ? 28 : 0);
  }
  const std::vector<int32_t> prompt = {1, 450, 4996, 17354, 1701, 432, 17204, 975, 278, 17366, 11203};
  const std::vector<int32_t> next = {29889, 13, 1576, 338, 263, 1243};
  const auto packed = prompt_then_decode(out, true, prompt, next);
  const auto mapped = prompt_then_decode(out, false, prompt, next);
  ASSERT_EQ(packed.size(), mapped.size());
  ASSERT_FALSE(packed.empty());
  EXPECT_EQ(std::memcmp(packed.data(), mapped.data(), packed.size() * sizeof(float)), 0);
}

// Mapped weights cannot be rewritten in place: the rearranged matrices come from a layout cache
// file, built at the first load, reused after, and built again when the model file changes.
TEST_F(QuantizeCli, MappedQ5_0ModelTakesItsLayoutFromACacheFileKeyedByTheModelFile) {
  const std::string out = path("q5_0_cached.gguf");
  auto r = run_process({hangar_binary(), "quantize", kF16, out, "Q5_0", "--threads", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string cache = path("layouts");
  const std::vector<int32_t> prompt = {1, 450, 4996, 17354, 1701, 432, 17204, 975, 278, 17366, 11203};
  const std::vector<int32_t> next = {29889, 13, 1576, 338, 263, 1243};
  const auto packed = prompt_then_decode(out, true, prompt, next);
  const int expected = kernels::active_isa() >= kernels::Isa::kAvx512 ? 28 : 0;
  bool built = false;
  int rearranged = -1;
  auto logits = prompt_then_decode(out, false, prompt, next, cache, &built, &rearranged);
  EXPECT_TRUE(built);
  EXPECT_EQ(rearranged, expected);
  ASSERT_EQ(logits.size(), packed.size());
  EXPECT_EQ(std::memcmp(logits.data(), packed.data(), packed.size() * sizeof(float)), 0);
  const std::string file = model::LayoutCache::path_for(cache, out);
  ASSERT_TRUE(std::filesystem::exists(file));

  logits = prompt_then_decode(out, false, prompt, next, cache, &built, &rearranged);
  EXPECT_FALSE(built);  // reused
  EXPECT_EQ(rearranged, expected);
  EXPECT_EQ(std::memcmp(logits.data(), packed.data(), packed.size() * sizeof(float)), 0);

  // The model file is rewritten (same bytes, new mtime): the cache no longer matches it.
  const auto mtime = std::filesystem::last_write_time(out);
  std::filesystem::last_write_time(out, mtime + std::chrono::seconds(5));
  logits = prompt_then_decode(out, false, prompt, next, cache, &built, &rearranged);
  EXPECT_TRUE(built);
  EXPECT_EQ(rearranged, expected);
  EXPECT_EQ(std::memcmp(logits.data(), packed.data(), packed.size() * sizeof(float)), 0);

  // A damaged cache file is not trusted: it is built again.
  std::filesystem::resize_file(file, 10);
  logits = prompt_then_decode(out, false, prompt, next, cache, &built, &rearranged);
  EXPECT_TRUE(built);
  EXPECT_EQ(std::memcmp(logits.data(), packed.data(), packed.size() * sizeof(float)), 0);
}

TEST_F(QuantizeCli, MissingInputFails) {
  auto r = run_process({hangar_binary(), "quantize", path("none.gguf"), path("out.gguf"), "Q8_0"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("hangar: error: " + path("none.gguf")), std::string::npos) << r.err;
  expect_no_output(path("out.gguf"));
}

TEST_F(QuantizeCli, UnsupportedTypeFails) {
  auto r = run_process({hangar_binary(), "quantize", kF16, path("out.gguf"), "IQ2_XS"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("\"IQ2_XS\" is not supported"), std::string::npos) << r.err;
  expect_no_output(path("out.gguf"));
}

TEST_F(QuantizeCli, QuantizedInputFailsNamingTheTensor) {
  auto r = run_process({hangar_binary(), "quantize", kQ4KM, path("out.gguf"), "Q8_0"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("tensor output.weight is q6_K"), std::string::npos) << r.err;
  expect_no_output(path("out.gguf"));
}

TEST_F(QuantizeCli, UnwritablePathFails) {
  const std::string out = "/proc/hangar-no-such-dir/out.gguf";
  auto r = run_process({hangar_binary(), "quantize", kF16, out, "Q8_0"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("cannot create"), std::string::npos) << r.err;
  expect_no_output(out);
}

// A full disk, simulated by a file-size limit of 12 MiB: the write fails part way through (EFBIG,
// with SIGXFSZ ignored) and the partial file is removed.
TEST_F(QuantizeCli, FullDiskFailsAndLeavesNothing) {
  const std::string out = path("out.gguf");
  auto r = run_process({"/bin/bash", "-c",
                        "trap '' XFSZ; ulimit -f 12288; exec \"$0\" quantize \"$1\" \"$2\" Q8_0",
                        hangar_binary(), kF16, out});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("write failed"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("[ 1/39]"), std::string::npos);  // it had started writing tensors
  expect_no_output(out);
}

// Progress is for people at a terminal: with stderr to a file there is none (no redrawn line),
// --quiet leaves only the summary, and on a terminal the line shows bytes, rate and ETA.
TEST_F(QuantizeCli, ProgressOnlyOnATerminal) {
  const std::string out = path("q8.gguf"), err = path("stderr.txt");
  auto r = run_process({"/bin/sh", "-c", "exec \"$0\" quantize \"$1\" \"$2\" Q8_0 --threads 2 2>\"$3\"",
                        hangar_binary(), kF16, out, err});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  std::ifstream in(err);
  const std::string err_text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(err_text, "");
  EXPECT_EQ(count_lines_with(r.out, " MiB -> "), 40);  // the report itself is unchanged
  EXPECT_EQ(r.out.find('\r'), std::string::npos);

  fs::remove(out);
  auto quiet = run_process({hangar_binary(), "quantize", kF16, out, "Q8_0", "--threads", "2", "--quiet"});
  ASSERT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_EQ(quiet.err, "");
  EXPECT_EQ(count_lines_with(quiet.out, "\n"), 1) << quiet.out;  // the summary alone
  EXPECT_NE(quiet.out.find("bits per weight"), std::string::npos);

  fs::remove(out);
  auto tty = testing::run_on_terminal({hangar_binary(), "quantize", kF16, out, "Q8_0", "--threads", "2"});
  ASSERT_EQ(tty.exit_code, 0) << tty.out;
  EXPECT_NE(tty.out.find("\rquantize ["), std::string::npos) << tty.out;
  EXPECT_NE(tty.out.find("MiB/s  ETA "), std::string::npos) << tty.out;
  EXPECT_NE(tty.out.find("tensor 39/39"), std::string::npos) << tty.out;
  EXPECT_NE(tty.out.find("bits per weight"), std::string::npos);

  fs::remove(out);
  auto tty_quiet =
      testing::run_on_terminal({hangar_binary(), "quantize", kF16, out, "Q8_0", "--threads", "2", "--quiet"});
  ASSERT_EQ(tty_quiet.exit_code, 0) << tty_quiet.out;
  EXPECT_EQ(tty_quiet.out.find("quantize ["), std::string::npos) << tty_quiet.out;
  EXPECT_EQ(count_lines_with(tty_quiet.out, "\n"), 1) << tty_quiet.out;
}

// Figures from llama.cpp's llama-perplexity on the same text and windows
// (-c 256 --chunks 6, then --kl-divergence against the F16 model's saved logits).
TEST_F(QuantizeCli, PerplexityAndKlMatchLlamaPerplexity) {
  ASSERT_TRUE(fs::exists(kText));
  auto r = run_process({hangar_binary(), "perplexity", "-m", kQ4KM, "--kl-base", kF16, "-f", kText, "--ctx",
                        "256", "--chunks", "6", "--threads", "2", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["tokens"].get<int>(), 6 * 127);
  EXPECT_NEAR(j["ppl"].get<double>(), 112862.29, 112862.29 * 0.002);
  EXPECT_NEAR(j["ppl_stderr"].get<double>(), 6302.51, 6302.51 * 0.01);
  EXPECT_NEAR(j["base_ppl"].get<double>(), 117939.56, 117939.56 * 0.002);
  EXPECT_NEAR(j["kl_mean"].get<double>(), 0.149182, 0.149182 * 0.01);
  EXPECT_NEAR(j["kl_stderr"].get<double>(), 0.00128, 0.00005);
  EXPECT_NEAR(j["top1_agreement"].get<double>(), 0.40814, 0.02);
}

TEST_F(QuantizeCli, PerplexityAgainstItselfHasNoDivergence) {
  auto r = run_process({hangar_binary(), "perplexity", "-m", kF16, "--kl-base", kF16, "-f", kText, "--ctx",
                        "128", "--chunks", "2", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_NEAR(j["kl_mean"].get<double>(), 0.0, 1e-9);
  EXPECT_EQ(j["top1_agreement"].get<double>(), 1.0);
  EXPECT_EQ(j["ppl"].get<double>(), j["base_ppl"].get<double>());
}

TEST_F(QuantizeCli, PerplexityNeedsAWholeWindowOfText) {
  std::ofstream(path("short.txt")) << "Too short.";
  auto r = run_process({hangar_binary(), "perplexity", "-m", kF16, "-f", path("short.txt")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("expected at least --ctx (512)"), std::string::npos) << r.err;
  r = run_process({hangar_binary(), "perplexity", "-m", kF16, "-f", path("missing.txt")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("missing.txt: cannot read"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace hangar
