// EngineLoader: loading, measuring and estimating engine-backed models.
#include "manager/engine_loader.h"

#include <algorithm>

#include "base/clock.h"
#include "base/log.h"
#include "gguf/gguf_file.h"
#include "manager/load_reporter.h"
#include "manager/model_inspect.h"
#include "manager/units.h"
#include "model/architecture.h"

namespace hangar::manager {

namespace {

// Saved prefixes are keyed by the file's sha256 when the registry has it for this very version
// of the file, else by its path, size and mtime (kv_file.h says how the two are matched).
engine::KvModelIdentity kv_identity(const ModelRecord& rec) {
  engine::KvModelIdentity id{rec.path, "", rec.file_size, rec.mtime_ns};
  if (!rec.sha256.empty() && rec.sha256_size == rec.file_size && rec.sha256_mtime_ns == rec.mtime_ns)
    id.sha256 = rec.sha256;
  return id;
}

}  // namespace

EngineModel::EngineModel(std::string id, std::unique_ptr<engine::Engine> engine, std::string chat_template,
                         std::unique_ptr<ThreadPool> own_pool, engine::KvPersistence persist)
    : id_(std::move(id)),
      own_pool_(std::move(own_pool)),
      engine_(std::move(engine)),
      scheduler_(std::make_unique<engine::Scheduler>(*engine_, nullptr, std::move(persist))),
      chat_template_(std::move(chat_template)) {
  const engine::MemoryEstimate m = engine_->memory();
  memory_.weights_resident = m.weights;
  memory_.kv_capacity = m.kv_cache;
  memory_.scratch = m.scratch + engine::Scheduler::logits_bytes(engine_->n_vocab(), engine_->options().n_seq);
  gpu_bytes_ = engine_->device_bytes();
  host_copy_bytes_ = engine_->offload_bytes();
}

Status EngineModel::demote() {
  if (!has_gpu_tier()) return Error("model '" + id_ + "' computes on the CPU: it has no GPU tier");
  if (demoted_.load()) return Status::Ok();
  HANGAR_TRY(scheduler_->offload_engine());
  demoted_ = true;
  return Status::Ok();
}

Status EngineModel::promote() {
  if (!has_gpu_tier()) return Error("model '" + id_ + "' computes on the CPU: it has no GPU tier");
  if (!demoted_.load()) return Status::Ok();
  HANGAR_TRY(scheduler_->reload_engine());
  demoted_ = false;
  return Status::Ok();
}

EngineModel::~EngineModel() {
  scheduler_.reset();  // joins the scheduler thread before the engine it drives goes away
}

Result<model::HParams> EngineLoader::header_hparams(const ModelRecord& rec) {
  if (rec.hparams) return *rec.hparams;  // read at scan: no file access
  {
    std::lock_guard lock(mu_);
    auto it = headers_.find(rec.path);
    if (it != headers_.end() && it->second.size == rec.file_size && it->second.mtime_ns == rec.mtime_ns)
      return it->second.hp;
  }
  // Outside the lock: estimates for other models must not wait for a file read.
  HANGAR_ASSIGN(gguf::File file, gguf::File::open_header(rec.path));
  HANGAR_ASSIGN(std::string arch, file.get_string("general.architecture"));
  const model::Architecture* a = model::find_architecture(arch);
  if (a == nullptr)
    return Error(rec.path + ": unknown architecture \"" + arch + "\" (supported: " +
                 model::supported_architectures() + ")");
  HANGAR_ASSIGN(model::HParams hp, model::read_common_hparams(file, arch));
  HANGAR_TRY(a->load_hparams(file, hp));
  std::lock_guard lock(mu_);
  headers_[rec.path] = HeaderFacts{rec.file_size, rec.mtime_ns, hp};
  return hp;
}

void EngineLoader::set_load_settings(LoadSettingsFn fn) {
  std::lock_guard lock(mu_);
  load_settings_ = std::move(fn);
}

EngineLoaderOptions EngineLoader::options_for(const std::string& id, ModelLoadSettings* settings) {
  LoadSettingsFn fn;
  {
    std::lock_guard lock(mu_);
    fn = load_settings_;
  }
  EngineLoaderOptions o = options_;
  *settings = fn ? fn(id) : ModelLoadSettings{};
  if (settings->ctx > 0) o.ctx = settings->ctx;
  if (settings->parallel > 0) o.parallel = settings->parallel;
  if (settings->batch_tokens > 0) o.batch_tokens = settings->batch_tokens;
  if (!settings->device.empty()) {
    Result<model::Device> d = model::resolve_device(settings->device);
    if (d.ok()) o.device = *d;  // else load() reports why
  }
  return o;
}

engine::EngineOptions EngineLoader::engine_options(const EngineLoaderOptions& o) {
  engine::EngineOptions eo;
  eo.n_ctx = o.ctx;
  eo.n_seq = o.parallel;
  eo.batch_tokens = o.batch_tokens;
  eo.extra_kv_blocks = o.extra_kv_blocks;
  eo.weights_in_memory = o.weights_in_memory;
  eo.layout_cache_dir = o.layout_cache_dir;
  eo.device = o.device;
  return eo;
}

LoadPlan EngineLoader::plan(const ModelRecord& rec) {
  ModelLoadSettings settings;
  const engine::EngineOptions eo = engine_options(options_for(rec.id, &settings));  // this model's
  const int threads = settings.threads > 0 ? settings.threads : pool_.size();
  LoadPlan p;
  p.settings = "ctx=" + std::to_string(eo.n_ctx) + " parallel=" + std::to_string(eo.n_seq) +
               " batch_tokens=" + std::to_string(eo.batch_tokens) + " extra_kv_blocks=" +
               std::to_string(eo.extra_kv_blocks) + " threads=" + std::to_string(threads) +
               " weights=" + (eo.weights_in_memory ? "memory" : "mmap");
  // Off the CPU the host holds other bytes (no weight pages, no KV cache); CPU strings stay as they were.
  if (eo.device != model::Device::kCpu) p.settings += std::string(" device=") + model::device_name(eo.device);
  p.memory_limit = settings.memory_limit;
  Result<model::HParams> hp = header_hparams(rec);
  if (!hp.ok()) {
    p.estimate_bytes = rec.file_size;
    return p;
  }
  const engine::MemoryEstimate m = engine::estimate_memory(*hp, rec.tensor_bytes, eo);
  const uint64_t logits = engine::Scheduler::logits_bytes(hp->n_vocab, eo.n_seq);
  if (eo.device == model::Device::kCpu) {
    p.estimate_bytes = m.total() + logits;
  } else {
    // Weights, KV cache and activations go to the GPU (the CPU's scratch figure stands in for
    // the GPU's activations); the host keeps the sampling rows and the batch descriptions.
    p.gpu_estimate_bytes = m.total();
    const uint64_t bt = model::KvCache::kDefaultBlockTokens;
    const uint64_t blocks_per_seq = (static_cast<uint64_t>(std::min(eo.n_ctx, hp->n_ctx_train)) + bt - 1) / bt;
    p.estimate_bytes = logits + static_cast<uint64_t>(eo.batch_tokens) * 4 * (3 + blocks_per_seq);
  }
  p.n_vocab = hp->n_vocab;
  p.n_ctx = std::min(eo.n_ctx, hp->n_ctx_train);
  return p;
}

Result<std::shared_ptr<LoadedModel>> EngineLoader::load(const ModelRecord& rec, const LoadProgress& progress) {
  Stopwatch watch;
  static const SteadyClock steady;
  LoadReporter report(options_.clock ? *options_.clock : steady, progress, rec.id);
  // memory_limit is the cache's to enforce (before the load on the admission figure, after
  // it on the measurement), so that a refusal is a 507 and the measurement is learned.
  ModelLoadSettings settings;
  const EngineLoaderOptions o = options_for(rec.id, &settings);  // this model's
  if (!settings.device.empty()) {
    // A device the settings name but this machine lacks fails the load with the reason.
    Result<model::Device> d = model::resolve_device(settings.device);
    if (!d.ok()) return Error("model '" + rec.id + "': " + d.error().message());
  }
  std::unique_ptr<ThreadPool> own_pool;
  if (settings.threads > 0 && settings.threads != pool_.size()) own_pool = std::make_unique<ThreadPool>(settings.threads);
  ThreadPool& pool = own_pool ? *own_pool : pool_;
  engine::EngineOptions eo = engine_options(o);
  eo.tokenizers = &tokenizers_;
  log_info("loading model '" + rec.id + "': " + format_bytes(rec.file_size) + " from '" + rec.path + "' (weights " +
           (eo.weights_in_memory ? "copied" : "mapped") + ")");
  // The folio check of the weights and of their layout cache file reads /proc/self/smaps
  // (~6 ms of CPU a load, perf): once per file version. A file changed on disk has a new
  // identity and is checked again; one changed during a load is not remembered as checked.
  // (Pages of a checked version that the kernel drops and a later read() brings back in small
  // folios are not noticed until the file changes.)
  const std::optional<engine::FileIdentity> before = engine::file_identity(rec.path);
  if (before && o.prefault) {
    std::lock_guard lock(mu_);
    eo.check_folios = std::find(folios_checked_.begin(), folios_checked_.end(), *before) == folios_checked_.end();
  }
  // Where the time goes: copying the file (weights in memory), or faulting in its pages (mapped).
  const double read_end = eo.weights_in_memory ? 0.9 : 0.1;
  report.stage(0.0, "reading weights");
  HANGAR_ASSIGN(std::unique_ptr<engine::Engine> eng,
                engine::Engine::load(rec.path, eo, pool, report.span(0.0, read_end)));
  if (o.prefault) {
    report.stage(read_end, "prefaulting weights");
    eng->prefault_weights(report.span(read_end, 0.9));
    if (eo.check_folios) {
      folio_checks_ += 1;
      if (before && eng->weights_identity() == before) {
        std::lock_guard lock(mu_);
        if (folios_checked_.size() >= kFolioChecksKept) folios_checked_.erase(folios_checked_.begin());
        folios_checked_.push_back(*before);
      }
    }
  }
  eng->set_profiler(o.profiler);
  report.stage(0.95, "starting scheduler");
  // A template of the wrong type is treated as absent (ChatML is used), as llama.cpp does.
  Result<std::string> tmpl_r = eng->model().file().get_string_or("tokenizer.chat_template", "");
  std::string tmpl = tmpl_r.ok() ? *tmpl_r : std::string();
  const int32_t n_ctx = eng->n_ctx(), n_seq = eng->options().n_seq;
  auto model = std::make_shared<EngineModel>(rec.id, std::move(eng), std::move(tmpl), std::move(own_pool),
                                             engine::KvPersistence{o.kv_store, kv_identity(rec)});
  const MemoryBreakdown& mem = model->memory();
  log_debug("model '" + rec.id + "': weights resident " + format_bytes(mem.weights_resident) + ", KV " +
            format_bytes(mem.kv_capacity) + ", scratch " + format_bytes(mem.scratch) + ", ctx " +
            std::to_string(n_ctx) + " x " + std::to_string(n_seq) + " sequences, " + std::to_string(pool.size()) +
            " threads, " + std::to_string(static_cast<int64_t>(watch.elapsed_ms())) + " ms");
  report.stage(1.0, "done");
  return std::shared_ptr<LoadedModel>(std::move(model));
}

}  // namespace hangar::manager
