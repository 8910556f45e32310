// `hangar serve`: many models behind one OpenAI-compatible HTTP API, within a memory budget.
#include <pthread.h>
#include <signal.h>

#include <sys/resource.h>
#include <sys/stat.h>

#include <cstdio>
#include <set>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <thread>

#include "api/server.h"
#include "base/log.h"
#include "chat/chat_template.h"
#include "cli/common.h"
#include "manager/engine_loader.h"
#include "manager/manager.h"
#include "manager/memory_reader.h"
#include "manager/units.h"

namespace hangar::cli {
namespace {

struct ServeOptions {
  std::string models_dir = "./models";
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string state_dir = "./state";
  std::string memory_budget = "auto";
  std::string gpu_memory_budget = "auto";
  int max_loaded = 0;
  int queue_size = 64;
  std::string queue_timeout = "60s";
  std::string swap_window = "0";
  std::string eviction = "lru";
  std::string keep_alive = "5m";
  std::string preload;
  std::string preload_strategy = "sequential";
  int preload_batch = 1;
  std::string preload_delay = "100ms";
  int parallel = 4;
  int batch_tokens = 512;
  int ctx = 4096;
  int threads = 0;
  std::string api_key;
  std::string api_key_file;
  std::string cors_origin;
  std::string default_model;
  std::string max_body = "8Mi";
  int http_threads = 64;
  int max_connections = 1024;
  std::string read_timeout = "10s";
  std::string shutdown_grace = "10s";
  std::string kv_disk_budget = "4G";
  bool profile = false;
  std::string weights = "map";
  bool mmap = false;
  bool verbose = false;
  std::string presets;              // --presets FILE; empty: <models-dir>/hangar.toml if present
  std::set<std::string> given;      // the flags on the command line (settings source "flag")
  std::string device = "auto";
};

// The flags that are also per-model settings: those given on the command line form the "flag"
// layer, the defaults of the others the "builtin" one (settings.h has the precedence).
manager::SettingsOptions settings_options(const ServeOptions& o) {
  manager::SettingsOptions s;
  s.path = o.presets;
  s.required = !o.presets.empty();
  auto put = [&](const char* flag, manager::SettingKey key, manager::SettingValue v) {
    (o.given.count(flag) ? s.flags : s.builtin).set(key, std::move(v));
  };
  put("--ctx", manager::SettingKey::kCtx, {int64_t{o.ctx}, {}});
  put("--parallel", manager::SettingKey::kParallel, {int64_t{o.parallel}, {}});
  put("--batch-tokens", manager::SettingKey::kBatchTokens, {int64_t{o.batch_tokens}, {}});
  put("--threads", manager::SettingKey::kThreads, {int64_t{o.threads}, {}});
  put("--keep-alive", manager::SettingKey::kKeepAlive, {o.keep_alive, {}});
  // A chat_template that does not parse is a bad settings file, not a 500 at the first chat.
  s.check_template = [](const std::string& text) -> Status {
    Result<chat::ChatTemplate> t = chat::ChatTemplate::parse(text);
    return t.ok() ? Status::Ok() : Status(t.error());
  };
  return s;
}

// The API key from --api-key (or HANGAR_API_KEY) or --api-key-file; errors name the source.
Result<std::string> api_key(const ServeOptions& o) {
  const char* env = std::getenv("HANGAR_API_KEY");
  if (o.api_key_file.empty()) {
    if (!o.api_key.empty() && (env == nullptr || o.api_key != env))
      log_info("note: --api-key is visible to other users in the process list; prefer HANGAR_API_KEY or "
               "--api-key-file");
    return o.api_key;
  }
  if (!o.api_key.empty()) return Error("--api-key-file: the key is also given by --api-key or HANGAR_API_KEY; give one");
  std::ifstream in(o.api_key_file, std::ios::binary);
  if (!in) return Error("--api-key-file: cannot read '" + o.api_key_file + "'");
  std::string key((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (key.size() > 4096) return Error("--api-key-file: '" + o.api_key_file + "' is larger than 4096 bytes");
  if (!key.empty() && key.back() == '\n') key.pop_back();  // the file's line end is not part of the key
  if (!key.empty() && key.back() == '\r') key.pop_back();
  if (key.empty()) return Error("--api-key-file: '" + o.api_key_file + "' is empty");
  for (char c : key)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      return Error("--api-key-file: '" + o.api_key_file + "' holds control characters or several lines; expected one key");
  struct stat st {};
  if (::stat(o.api_key_file.c_str(), &st) == 0 && (st.st_mode & 0077))
    log_info("note: --api-key-file '" + o.api_key_file + "' is readable by other users (chmod 600 it)");
  return key;
}

// Each connection is a file descriptor: raise the soft limit to the hard one, and keep the
// connection cap below it with room for models, the database and the listener.
int fit_connections_to_fd_limit(int wanted) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return wanted;
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
    ::getrlimit(RLIMIT_NOFILE, &lim);
  }
  constexpr rlim_t kReserve = 256;
  if (lim.rlim_cur == RLIM_INFINITY || lim.rlim_cur >= static_cast<rlim_t>(wanted) + kReserve) return wanted;
  const int fit = static_cast<int>(lim.rlim_cur > 2 * kReserve ? lim.rlim_cur - kReserve : lim.rlim_cur / 2);
  log_info("note: --max-connections " + std::to_string(wanted) + " lowered to " + std::to_string(fit) +
           " to fit the open-file limit of " + std::to_string(lim.rlim_cur) + " (ulimit -n)");
  return fit;
}

// Turns the flags into the manager's configuration; errors name the flag.
// Free GPU memory for --gpu-memory-budget, from the CUDA runtime; without a GPU (or in a build
// without CUDA) the error says why: auto then means no GPU tier, a size is refused.
Result<uint64_t> free_gpu_memory() {
  HANGAR_ASSIGN(model::GpuMemory m, model::cuda_memory());
  return m.free_bytes;
}

Result<manager::ManagerConfig> manager_config(const ServeOptions& o, manager::MemoryReader& memory,
                                              const manager::GpuMemoryReader& free_gpu) {
  manager::ManagerConfig c;
  c.models_dir = o.models_dir;
  c.state_dir = o.state_dir;
  if (o.memory_budget == "auto") {
    c.pressure.auto_budget = true;
    c.cache.budget_bytes = manager::auto_memory_budget(memory.read(), c.pressure.auto_fraction);
  } else {
    HANGAR_ASSIGN(c.cache.budget_bytes, manager::parse_bytes(o.memory_budget, "--memory-budget"));
  }
  HANGAR_ASSIGN(c.cache.gpu_budget_bytes,
                manager::gpu_memory_budget(o.gpu_memory_budget, free_gpu, &c.cache.gpu_budget_reason));
  log_info("GPU memory budget: " + c.cache.gpu_budget_reason);
  c.cache.max_loaded = o.max_loaded;
  std::optional<manager::EvictionPolicy> policy = manager::parse_eviction_policy(o.eviction);
  if (!policy) return Error("--eviction: expected lru, lfu, fifo or cost, got '" + o.eviction + "'");
  c.cache.policy = *policy;
  HANGAR_ASSIGN(c.cache.keep_alive_ms, manager::parse_duration_ms(o.keep_alive, "--keep-alive"));
  c.cache.max_queue = o.queue_size;
  HANGAR_ASSIGN(c.cache.queue_timeout_ms, manager::parse_duration_ms(o.queue_timeout, "--queue-timeout"));
  if (c.cache.queue_timeout_ms < 0)
    return Error("--queue-timeout: expected a duration >= 0, got '" + o.queue_timeout + "'");
  HANGAR_ASSIGN(c.cache.swap_window_ms, manager::parse_duration_ms(o.swap_window, "--swap-window"));
  if (c.cache.swap_window_ms < 0) return Error("--swap-window: expected a duration >= 0, got '" + o.swap_window + "'");
  std::optional<manager::PreloadStrategy> strategy = manager::parse_preload_strategy(o.preload_strategy);
  if (!strategy)
    return Error("--preload-strategy: expected sequential, frequency, recency, size or learned, got '" + o.preload_strategy + "'");
  c.preload.strategy = *strategy;
  c.preload.batch = o.preload_batch;
  HANGAR_ASSIGN(c.preload.delay_ms, manager::parse_duration_ms(o.preload_delay, "--preload-delay"));
  if (c.preload.delay_ms < 0) return Error("--preload-delay: expected a duration >= 0, got '" + o.preload_delay + "'");
  c.preload_ids = split_list(o.preload);
  c.settings = settings_options(o);
  return c;
}

// On SIGTERM or SIGINT: refuse new connections and requests, give the requests in flight up
// to `grace_ms` to finish (a second signal cuts it short), then stop the server, which
// cancels what still runs. The caller then stops the manager: models unload and save their
// prompt prefixes to the KV store, and the registry writes its pending history.
void stop_gracefully(api::Server& server, const sigset_t& stop_signals, int sig, int64_t grace_ms,
                     const std::string& grace_text) {
  const char* name = sig == SIGINT ? "SIGINT" : "SIGTERM";
  server.drain();
  log_info(std::string("hangar serve: ") + name + ", shutting down: new connections refused, " +
           std::to_string(server.in_flight()) + " requests in flight may finish within " + grace_text +
           " (--shutdown-grace)");
  SteadyClock clock;
  const int64_t deadline = clock.now_ms() + grace_ms;
  constexpr int64_t kSlice = 100;  // how often a second signal is looked for
  for (;;) {
    const int64_t left = deadline - clock.now_ms();
    if (server.wait_drained(std::min(left, kSlice))) break;
    if (left <= kSlice) {
      log_info("hangar serve: --shutdown-grace " + grace_text + " passed; cancelling " +
               std::to_string(server.in_flight()) + " requests still in flight");
      break;
    }
    const timespec now{0, 0};
    if (sigtimedwait(&stop_signals, nullptr, &now) > 0) {
      log_info("hangar serve: second stop signal; cancelling " + std::to_string(server.in_flight()) +
               " requests still in flight");
      break;
    }
  }
  server.stop();
}

int serve(const ServeOptions& o) {
  if (o.verbose) set_log_level(LogLevel::kDebug);
  // Block the stop signals before any thread starts, so every thread inherits the mask and
  // only the watcher below receives them (with sigwait, outside any signal handler).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  // A client that goes away mid-response must not kill the server.
  signal(SIGPIPE, SIG_IGN);

  manager::ProcMemoryReader memory;
  Result<manager::ManagerConfig> config = manager_config(o, memory, free_gpu_memory);
  if (!config.ok()) return fail(config.error().message());
  Result<uint64_t> max_body = manager::parse_bytes(o.max_body, "--max-body-size");
  if (!max_body.ok()) return fail(max_body.error().message());
  Result<int64_t> read_timeout = manager::parse_duration_ms(o.read_timeout, "--read-timeout");
  if (!read_timeout.ok()) return fail(read_timeout.error().message());
  if (*read_timeout <= 0) return fail("--read-timeout: expected a duration > 0, got '" + o.read_timeout + "'");
  Result<int64_t> grace_ms = manager::parse_duration_ms(o.shutdown_grace, "--shutdown-grace");
  if (!grace_ms.ok()) return fail(grace_ms.error().message());
  if (*grace_ms < 0) return fail("--shutdown-grace: expected a duration >= 0, got '" + o.shutdown_grace + "'");
  Result<std::string> key = api_key(o);
  if (!key.ok()) return fail(key.error().message());
  Result<api::CorsPolicy> cors = api::CorsPolicy::parse(o.cors_origin);
  if (!cors.ok()) return fail(cors.error().message());
  Result<uint64_t> kv_budget = manager::parse_bytes(o.kv_disk_budget, "--kv-disk-budget");
  if (!kv_budget.ok()) return fail(kv_budget.error().message());

  Profiler profiler;
  ThreadPool pool(o.threads > 0 ? o.threads : ThreadPool::physical_cores());
  manager::EngineLoaderOptions lo;
  lo.ctx = o.ctx;
  lo.parallel = o.parallel;
  lo.batch_tokens = o.batch_tokens;
  lo.profiler = o.profile ? &profiler : nullptr;
  if (o.weights != "map" && o.weights != "copy") return fail("--weights: expected map or copy, got '" + o.weights + "'");
  lo.weights_in_memory = o.weights == "copy" && !o.mmap;
  // Mapped weights' rearranged matrices live beside the registry, keyed by each file's identity.
  lo.layout_cache_dir = o.state_dir + "/layouts";
  // Saved prompt prefixes: declared before the manager, so that models unloaded when it goes
  // can still save theirs.
  std::unique_ptr<engine::KvStore> kv_store;
  if (*kv_budget > 0) {
    Result<std::unique_ptr<engine::KvStore>> opened_store =
        engine::KvStore::open({o.state_dir + "/kv-cache", *kv_budget});
    if (!opened_store.ok()) return fail(opened_store.error().message());
    kv_store = std::move(*opened_store);
    lo.kv_store = kv_store.get();
    const engine::KvStoreStats ks = kv_store->stats();
    log_info("KV store: " + std::to_string(ks.files) + " saved prompt prefixes (" + manager::format_bytes(ks.bytes) +
             ") in '" + kv_store->options().dir + "', budget " + manager::format_bytes(*kv_budget));
  }
  Result<model::Device> device = model::resolve_device(o.device);
  if (!device.ok()) return fail(device.error().message());
  lo.device = *device;
  manager::EngineLoader loader(pool, lo);
  SteadyClock clock;
  SystemWallClock wall_clock;
  Result<std::unique_ptr<manager::Manager>> opened = manager::Manager::open(*config, loader, memory, clock, wall_clock);
  if (!opened.ok()) return fail(opened.error().message());
  manager::Manager& mgr = **opened;

  if (!o.default_model.empty()) {
    const std::optional<manager::ModelRecord> rec = mgr.registry().get(mgr.settings().resolve_name(o.default_model));
    if (!rec || !rec->present)
      return fail("--default-model: no model '" + o.default_model + "' in the models dir (an id or an alias)");
  }
  api::ServerOptions so;
  so.host = o.host;
  so.cors = *cors;
  so.default_model = o.default_model;
  so.port = o.port;
  so.api_key = *key;
  so.max_body_bytes = *max_body;
  so.http_threads = o.http_threads;
  so.max_connections = fit_connections_to_fd_limit(o.max_connections);
  so.read_timeout_ms = *read_timeout;
  so.profiler = o.profile ? &profiler : nullptr;
  so.kv_store = kv_store.get();
  api::Server server(mgr, so);
  if (Status st = server.bind(); !st.ok()) return fail(st.error().message());
  mgr.start();

  const auto& cache = config->cache;
  log_info("hangar serve: listening on http://" + o.host + ":" + std::to_string(server.port()) + " (" +
           std::to_string(mgr.registry().list().size()) + " models in '" + o.models_dir + "', budget " +
           (cache.budget_bytes ? manager::format_bytes(mgr.cache().budget_bytes()) : std::string("none")) +
           (config->pressure.auto_budget ? " (auto)" : "") +
           (cache.gpu_budget_bytes ? ", GPU budget " + manager::format_bytes(cache.gpu_budget_bytes) : std::string()) +
           ", eviction " +
           manager::eviction_policy_name(cache.policy) + ", ctx " + std::to_string(o.ctx) + " x " +
           std::to_string(o.parallel) + " sequences, " + std::to_string(pool.size()) + " threads" +
           (key->empty() ? "" : ", API key required") + ")");
  if (mgr.registry().list().empty())
    log_info("to add a model: copy or link a .gguf file into '" + o.models_dir +
             "', then POST /v1/models/refresh (or restart)");

  std::atomic<bool> done{false};
  std::thread watcher([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    if (done) return;  // woken by us after the server stopped on its own
    stop_gracefully(server, stop_signals, sig, *grace_ms, o.shutdown_grace);
  });
  server.run();
  done = true;
  pthread_kill(watcher.native_handle(), SIGTERM);  // no-op effect if it already returned
  watcher.join();
  mgr.stop();
  if (o.profile) std::fprintf(stderr, "%s", profiler.report().c_str());
  log_info("hangar serve: stopped");
  return 0;
}

}  // namespace

void add_serve_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<ServeOptions>();
  CLI::App* cmd = app.add_subcommand("serve", "serve the models of a directory over an OpenAI-compatible HTTP API");
  cmd->add_option("--models-dir", o->models_dir, "directory of .gguf models (id = file name without .gguf)")
      ->capture_default_str();
  cmd->add_option("--host", o->host, "address to listen on")->capture_default_str();
  cmd->add_option("--port", o->port, "port to listen on (0: any free port)")->check(CLI::Range(0, 65535))
      ->capture_default_str();
  cmd->add_option("--state-dir", o->state_dir, "directory of the model registry (SQLite)")->capture_default_str();
  cmd->add_option("--memory-budget", o->memory_budget,
                  "bytes all loaded models may take: auto (80% of what the machine or cgroup gives, followed "
                  "while it runs) or a size such as 8G, 512Mi; either shrinks when the machine runs short")
      ->capture_default_str();
  cmd->add_option("--gpu-memory-budget", o->gpu_memory_budget,
                  "GPU bytes GPU models may take (the first tier: an idle GPU model that must make room is "
                  "demoted to host memory, not unloaded): auto (free GPU memory less 5%, at least 512 MiB; no GPU: "
                  "no GPU tier) or a size such as 40G; 0: no GPU tier")
      ->capture_default_str();
  cmd->add_option("--max-loaded", o->max_loaded, "most models loaded at once (0: no count cap)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("--eviction", o->eviction, "eviction policy: lru, lfu, fifo or cost")->capture_default_str();
  cmd->add_option("--queue-size", o->queue_size,
                  "requests per model that may wait for memory; more get 429 with Retry-After")
      ->check(CLI::Range(0, 1 << 20))->capture_default_str();
  cmd->add_option("--queue-timeout", o->queue_timeout,
                  "longest wait for memory before a 503 with Retry-After (e.g. 30s, 2m)")->capture_default_str();
  cmd->add_option("--swap-window", o->swap_window,
                  "how long busy models keep taking requests while another model waits for their memory "
                  "(0: swap at once; e.g. 500ms: serve alternating models in larger batches)")
      ->capture_default_str();
  cmd->add_option("--keep-alive", o->keep_alive,
                  "unload a model idle this long (e.g. 30s, 5m, 1h; 0: after each request; -1: never)")
      ->capture_default_str();
  cmd->add_option("--preload", o->preload, "comma-separated model ids to add to the persisted preload list");
  cmd->add_option("--preload-strategy", o->preload_strategy, "preload order of the preload list: sequential, frequency, recency or size; learned: the list in sequence, "
                  "then the models the request history predicts (README: Learned preloading)")
      ->capture_default_str();
  cmd->add_option("--preload-batch", o->preload_batch, "models preloaded per batch")->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--preload-delay", o->preload_delay, "pause between preload batches")->capture_default_str();
  cmd->add_option("--parallel", o->parallel, "concurrent sequences per model")->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->add_option("--batch-tokens", o->batch_tokens,
                  "most tokens per forward pass: decode tokens of running requests plus prefill chunks")
      ->check(CLI::Range(1, 1 << 16))
      ->capture_default_str();
  cmd->add_option("--ctx", o->ctx, "context tokens per sequence (capped by each model's training context)")
      ->check(CLI::Range(16, 1 << 20))->capture_default_str();
  cmd->add_option("--threads", o->threads, "compute threads shared by all models (0: physical cores)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("--presets", o->presets,
                  "per-model settings file (TOML; default: hangar.toml in the models dir, when present)");
  cmd->add_option("--api-key", o->api_key,
                  "require 'Authorization: Bearer KEY' on every route but /health (visible in the process list: "
                  "prefer the HANGAR_API_KEY variable or --api-key-file)")
      ->envname("HANGAR_API_KEY");
  cmd->add_option("--api-key-file", o->api_key_file, "read the API key from this file (one line)");
  cmd->add_option("--cors-origin", o->cors_origin,
                  "browser origins allowed to call the API, comma-separated (http://localhost:3000,https://app.example), "
                  "or * for any; preflights are answered without the API key (default: none)");
  cmd->add_option("--default-model", o->default_model,
                  "the model (id or alias) of requests that name none; without it, the only model when there is one");
  cmd->add_option("--max-body-size", o->max_body, "largest request body accepted (413 beyond, chunked or not)")
      ->capture_default_str();
  cmd->add_option("--http-threads", o->http_threads,
                  "requests served at once (a streamed generation holds one until it ends; idle and slow "
                  "connections hold none)")
      ->check(CLI::Range(4, 4096))->capture_default_str();
  cmd->add_option("--max-connections", o->max_connections,
                  "open connections; past it the longest-idle one is closed")
      ->check(CLI::Range(8, 1 << 20))->capture_default_str();
  cmd->add_option("--read-timeout", o->read_timeout,
                  "a request's head and body must arrive within this (408), and a request waits this long at most "
                  "for a free HTTP thread (503)")
      ->capture_default_str();
  cmd->add_option("--shutdown-grace", o->shutdown_grace,
                  "on SIGTERM or SIGINT, how long requests in flight may take to finish (new ones are refused; "
                  "then the rest are cancelled; a second signal cancels at once)")
      ->capture_default_str();
  cmd->add_option("--weights", o->weights,
                  "map: use each model file in place (huge-page folios of the page cache; a switch between "
                  "cached models takes milliseconds); copy: read it into private huge-page memory (the "
                  "file cannot change it, ~0.1-0.2 s a GB per load)")
      ->capture_default_str();
  cmd->add_flag("--mmap", o->mmap, "same as --weights map (the default)");
  cmd->add_option("--kv-disk-budget", o->kv_disk_budget,
                  "disk space for prompt prefixes saved when a model is unloaded, restored when a later prompt "
                  "extends one (in <state-dir>/kv-cache; least recently used go first; 0: off)")
      ->capture_default_str();
  cmd->add_flag("--profile", o->profile, "print a per-op time breakdown at exit (forward-pass ops, sampling, chat templates, tokenization, HTTP)");
  cmd->add_flag("-v,--verbose", o->verbose, "log every request and load detail");
  add_device_option(*cmd, o->device);
  cmd->callback([o, cmd, &exit_code] {
    for (const char* flag : {"--ctx", "--parallel", "--batch-tokens", "--threads", "--keep-alive"})
      if (cmd->count(flag) > 0) o->given.insert(flag);
    exit_code = serve(*o);
  });
}

}  // namespace hangar::cli
