// Prints tokenizer figures: vocabulary load time and encode/decode speed on the shared
// vocab files, in thread CPU time (steadier than wall time on a shared machine).
// Usage: tokenizer_bench [vocab-dir] [repeats]
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "tokenizer/tokenizer.h"

namespace {

// Thread CPU time since construction or reset().
class CpuTimer {
 public:
  CpuTimer() { reset(); }
  void reset() { start_ = now(); }
  double elapsed_ms() const { return (now() - start_) * 1e3; }

 private:
  static double now() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
  }
  double start_;
};
using hangar::TokenId;
using hangar::Tokenizer;

// About a thousand tokens of mixed English prose, code and a little non-Latin text.
std::string make_prompt() {
  const std::string para =
      "The quick brown fox jumps over the lazy dog. In 2024, researchers measured 3.14159 "
      "units of latency across 12,345 requests; the median was 87 ms and the p99 was 412 ms. "
      "def tokenize(text: str) -> list[int]:\n    return [ord(c) for c in text if c.isalnum()]\n"
      "Ça va très bien, merci! Привет, мир. 你好，世界。 🦙 llamas are great.\n";
  std::string s;
  for (int i = 0; i < 12; ++i) s += para;
  return s;
}

double ms_since(const CpuTimer& sw) { return sw.elapsed_ms(); }

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : std::string(HANGAR_SHARED_DIR) + "/vocab";
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 200;
  const std::string prompt = make_prompt();
  const std::string long_run(2000, 'a');
  std::string accents;
  for (int i = 0; i < 2000; ++i) accents += "\xC3\xA0";  // "à" x 2000

  std::printf("%-15s %8s %9s %9s %7s %10s %10s %10s %10s\n", "vocab", "n_vocab", "open_ms",
              "load_ms", "tokens", "enc_us", "tok/s", "aaa_us", "dec_us");
  for (const char* name :
       {"llama-spm", "phi-3", "llama-bpe", "qwen2", "qwen35", "gpt-2", "deepseek-coder"}) {
    const std::string path = dir + "/ggml-vocab-" + name + ".gguf";
    CpuTimer sw;
    auto file = hangar::gguf::File::open(path);
    const double open_ms = ms_since(sw);
    if (!file.ok()) {
      std::fprintf(stderr, "%s\n", file.error().message().c_str());
      return 1;
    }
    sw.reset();
    auto tok = Tokenizer::from_gguf(*file);
    const double load_ms = ms_since(sw);
    if (!tok.ok()) {
      std::fprintf(stderr, "%s\n", tok.error().message().c_str());
      return 1;
    }
    std::vector<TokenId> ids;
    sw.reset();
    for (int r = 0; r < repeats; ++r) ids = tok->encode(prompt, true, false);
    const double enc_us = ms_since(sw) * 1e3 / repeats;
    sw.reset();
    size_t n_long = 0;
    for (int r = 0; r < repeats / 10 + 1; ++r) {
      n_long +=
          tok->encode(long_run, false, false).size() + tok->encode(accents, false, false).size();
    }
    const double long_us = ms_since(sw) * 1e3 / (repeats / 10 + 1);
    std::string text;
    sw.reset();
    for (int r = 0; r < repeats; ++r) text = tok->decode(ids, false);
    const double dec_us = ms_since(sw) * 1e3 / repeats;
    std::printf("%-15s %8d %9.1f %9.1f %7zu %10.1f %10.0f %10.1f %10.1f\n", name, tok->n_vocab(),
                open_ms, load_ms, ids.size(), enc_us, ids.size() / (enc_us * 1e-6), long_us,
                dec_us);
    (void)n_long;
  }
  std::printf("prompt: %zu bytes; aaa_us encodes 2000 'a' and 2000 'à' runs\n", prompt.size());
  return 0;
}
