// hangar_fuzz: a seeded mutation fuzzer for hangar's untrusted-input parsers, no extra toolchain
// needed. Runs each target for a number of cases or seconds, saves any input that crashes,
// hangs or breaks an invariant, and prints per-target figures.
//   hangar_fuzz --shared ../shared [--target gguf|tokenizer|template|request|http|all]
//               [--cases N | --seconds S] [--seed K] [--out DIR] [--hang-seconds H]
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "base/log.h"
#include "fuzz_targets.h"

extern "C" void __sanitizer_set_death_callback(void (*)(void)) __attribute__((weak));

namespace hangar::fuzz {
namespace {

using Clock = std::chrono::steady_clock;

// What the crash and hang handlers save: the case being run. Written only between cases.
struct Current {
  std::string input;
  char path[4096] = {};
  std::atomic<int64_t> started_ms{0};  // 0: no case running
};
Current g_current;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
}

// Async-signal-safe: saves the running case where the report says it is.
void save_current() {
  const int fd = open(g_current.path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return;
  size_t done = 0;
  while (done < g_current.input.size()) {
    const ssize_t n = write(fd, g_current.input.data() + done, g_current.input.size() - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  close(fd);
  const char msg[] = "\nhangar_fuzz: the input that crashed was saved to ";
  (void)!write(2, msg, sizeof(msg) - 1);
  (void)!write(2, g_current.path, strlen(g_current.path));
  (void)!write(2, "\n", 1);
}

void on_crash(int sig) {
  save_current();
  signal(sig, SIG_DFL);
  raise(sig);
}

struct Options {
  std::string shared = "../shared";
  std::string target = "all";
  std::string out = ".";
  long long cases = 0;
  double seconds = 0;
  unsigned long long seed = 1;
  double hang_seconds = 20;
};

bool parse_args(int argc, char** argv, Options& o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--shared") o.shared = v;
    else if (k == "--target") o.target = v;
    else if (k == "--out") o.out = v;
    else if (k == "--cases") o.cases = std::stoll(v);
    else if (k == "--seconds") o.seconds = std::stod(v);
    else if (k == "--seed") o.seed = std::stoull(v);
    else if (k == "--hang-seconds") o.hang_seconds = std::stod(v);
    else return false;
  }
  return argc % 2 == 1 && (o.cases > 0 || o.seconds > 0);
}

// Runs one target; returns the number of findings.
int fuzz(Target& t, const Options& o, uint64_t seed) {
  Mutator m(seed);
  m.set_dictionary(t.dictionary);
  std::snprintf(g_current.path, sizeof(g_current.path), "%s/crash-%s.bin", o.out.c_str(), t.name.c_str());
  const auto start = Clock::now();
  long long cases = 0;
  int findings = 0;
  int64_t slowest_ms = 0;
  auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
  while ((o.cases > 0 && cases < o.cases) || (o.cases == 0 && elapsed() < o.seconds)) {
    std::string input;
    if (static_cast<size_t>(cases) < t.seeds.size()) {
      input = t.seeds[static_cast<size_t>(cases)];  // every seed as it is, first
    } else if (t.generate) {
      input = t.generate(m, t.seeds);
    } else {
      input = t.seeds[m.below(t.seeds.size())];
      m.mutate(input, t.seeds[m.below(t.seeds.size())]);
    }
    g_current.input = input;
    const int64_t begin = now_ms();
    g_current.started_ms = begin;
    const std::string finding = t.run(input);
    g_current.started_ms = 0;
    slowest_ms = std::max(slowest_ms, now_ms() - begin);
    ++cases;
    if (!finding.empty()) {
      const std::string path = o.out + "/finding-" + t.name + "-" + std::to_string(cases) + ".bin";
      std::ofstream(path, std::ios::binary) << input;
      std::fprintf(stderr, "hangar_fuzz: %s case %lld: %s (saved to %s)\n", t.name.c_str(), cases, finding.c_str(),
                   path.c_str());
      ++findings;
    }
  }
  const double secs = elapsed();
  std::printf("fuzz %-9s %8lld cases in %6.1f s (%7.0f/s), 0 crashes, 0 hangs, %d findings, slowest case %lld ms\n",
              t.name.c_str(), cases, secs, static_cast<double>(cases) / std::max(secs, 1e-9), findings,
              static_cast<long long>(slowest_ms));
  std::fflush(stdout);
  return findings;
}

}  // namespace
}  // namespace hangar::fuzz

int main(int argc, char** argv) {
  using namespace hangar::fuzz;
  Options o;
  if (!parse_args(argc, argv, o)) {
    std::fprintf(stderr,
                 "usage: hangar_fuzz --shared DIR [--target gguf|tokenizer|template|request|http|all] "
                 "(--cases N | --seconds S) [--seed K] [--out DIR] [--hang-seconds H]\n");
    return 2;
  }
  std::filesystem::create_directories(o.out);
  hangar::set_log_level(hangar::LogLevel::kOff);  // mutated vocabularies warn on every case
  // The GGUF reader reads paths: cases go through a RAM-backed directory when there is one.
  char scratch_template[] = "/dev/shm/hangar-fuzz-XXXXXX";
  char fallback_template[] = "/tmp/hangar-fuzz-XXXXXX";
  const char* scratch = mkdtemp(scratch_template);
  if (scratch == nullptr) scratch = mkdtemp(fallback_template);
  if (scratch == nullptr) return 2;
  for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL}) signal(sig, on_crash);
  if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(save_current);

  // A case running past --hang-seconds is a hang: save it and stop the run.
  std::thread([&o] {
    for (;;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      const int64_t started = g_current.started_ms.load();
      if (started != 0 && now_ms() - started > static_cast<int64_t>(o.hang_seconds * 1000)) {
        std::strncat(g_current.path, ".hang", sizeof(g_current.path) - std::strlen(g_current.path) - 1);
        save_current();
        std::fprintf(stderr, "hangar_fuzz: a case ran over %.0f s (a hang)\n", o.hang_seconds);
        _exit(3);
      }
    }
  }).detach();

  std::vector<Target> targets = make_file_targets(o.shared, scratch);
  for (auto& t : make_text_targets(o.shared)) targets.push_back(std::move(t));
  targets.push_back(http_target());
  int findings = 0;
  bool ran = false;
  for (size_t i = 0; i < targets.size(); ++i) {
    Target& t = targets[i];
    if (o.target != "all" && o.target != t.name) continue;
    t.seeds.erase(std::remove(t.seeds.begin(), t.seeds.end(), std::string()), t.seeds.end());
    if (t.seeds.empty()) {
      std::fprintf(stderr, "hangar_fuzz: no seeds for %s (is --shared %s right?)\n", t.name.c_str(), o.shared.c_str());
      return 2;
    }
    ran = true;
    findings += fuzz(t, o, o.seed * 1000003 + i);
  }
  std::filesystem::remove_all(scratch);
  if (!ran) {
    std::fprintf(stderr, "hangar_fuzz: no target named %s\n", o.target.c_str());
    return 2;
  }
  return findings == 0 ? 0 : 1;
}
