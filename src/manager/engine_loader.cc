// EngineLoader: loading, measuring and estimating engine-backed models.
#include "manager/engine_loader.h"

#include <algorithm>

#include "base/clock.h"
#include "base/log.h"
#include "gguf/gguf_file.h"
#include "manager/model_inspect.h"
#include "manager/units.h"
#include "model/architecture.h"

namespace hangar::manager {
namespace {

// The scheduler keeps one row of logits per sequence for sampling.
uint64_t scheduler_bytes(int32_t n_vocab, int32_t parallel) {
  return static_cast<uint64_t>(n_vocab) * static_cast<uint64_t>(parallel) * sizeof(float);
}

}  // namespace

EngineModel::EngineModel(std::string id, std::unique_ptr<engine::Engine> engine,
                         std::string chat_template, MemoryBreakdown memory,
                         std::unique_ptr<ThreadPool> own_pool)
    : id_(std::move(id)),
      own_pool_(std::move(own_pool)),
      engine_(std::move(engine)),
      scheduler_(std::make_unique<engine::Scheduler>(*engine_)),
      chat_template_(std::move(chat_template)),
      memory_(memory) {}

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
  return o;
}

uint64_t EngineLoader::estimate_bytes(const ModelRecord& rec, int ctx) {
  ModelLoadSettings settings;
  const EngineLoaderOptions o = options_for(rec.id, &settings);  // this model's
  const int32_t want_ctx = settings.ctx > 0 ? settings.ctx : ctx > 0 ? ctx : o.ctx;
  Result<model::HParams> hp = header_hparams(rec);
  if (!hp.ok()) {
    const int64_t n_ctx = std::min<int64_t>(want_ctx, rec.context_length > 0 ? rec.context_length : want_ctx);
    return estimate_load_bytes(rec, n_ctx * o.parallel);
  }
  const int32_t n_ctx = std::min(want_ctx, hp->n_ctx_train);
  engine::MemoryEstimate m =
      engine::estimate_memory(*hp, rec.tensor_bytes, n_ctx, o.parallel, o.batch_tokens);
  // estimate_memory counts whole sequences; the extra prefix blocks come on top.
  const uint64_t block_kv = static_cast<uint64_t>(model::KvCache::kDefaultBlockTokens) * hp->n_layer *
                            hp->kv_dim() * 2 /*K and V*/ * 2 /*f16*/;
  return m.total() + block_kv * static_cast<uint64_t>(o.extra_kv_blocks) +
         scheduler_bytes(hp->n_vocab, o.parallel);
}

Result<std::shared_ptr<LoadedModel>> EngineLoader::load(const ModelRecord& rec) {
  Stopwatch watch;
  ModelLoadSettings settings;
  const EngineLoaderOptions o = options_for(rec.id, &settings);  // this model's
  if (settings.memory_limit > 0) {
    const uint64_t estimate = estimate_bytes(rec, o.ctx);
    if (estimate > settings.memory_limit)
      return Error("model '" + rec.id + "' needs an estimated " + format_bytes(estimate) +
                   ", more than its memory_limit setting of " + format_bytes(settings.memory_limit));
  }
  std::unique_ptr<ThreadPool> own_pool;
  if (settings.threads > 0 && settings.threads != pool_.size()) own_pool = std::make_unique<ThreadPool>(settings.threads);
  ThreadPool& pool = own_pool ? *own_pool : pool_;
  engine::EngineOptions eo;
  eo.n_ctx = o.ctx;
  eo.n_seq = o.parallel;
  eo.batch_tokens = o.batch_tokens;
  eo.extra_kv_blocks = o.extra_kv_blocks;
  eo.weights_in_memory = o.weights_in_memory;
  eo.layout_cache_dir = o.layout_cache_dir;
  HANGAR_ASSIGN(std::unique_ptr<engine::Engine> eng, engine::Engine::load(rec.path, eo, pool));
  if (o.prefault) eng->prefault_weights();
  eng->set_profiler(o.profiler);
  MemoryBreakdown mem;
  mem.weights_resident = eng->weights_resident_bytes();
  mem.kv_capacity = eng->kv_bytes_capacity();
  mem.scratch = eng->scratch_bytes() + scheduler_bytes(eng->n_vocab(), eng->options().n_seq);
  // A template of the wrong type is treated as absent (ChatML is used), as llama.cpp does.
  Result<std::string> tmpl_r = eng->model().file().get_string_or("tokenizer.chat_template", "");
  std::string tmpl = tmpl_r.ok() ? *tmpl_r : std::string();
  log_debug("model '" + rec.id + "': weights resident " + format_bytes(mem.weights_resident) + ", KV " +
            format_bytes(mem.kv_capacity) + ", scratch " + format_bytes(mem.scratch) + ", ctx " +
            std::to_string(eng->n_ctx()) + " x " + std::to_string(eng->options().n_seq) + " sequences, " +
            std::to_string(pool.size()) + " threads, " + std::to_string(static_cast<int64_t>(watch.elapsed_ms())) +
            " ms");
  if (settings.memory_limit > 0 && mem.total() > settings.memory_limit)
    return Error("model '" + rec.id + "' took " + format_bytes(mem.total()) + " once loaded, more than its " +
                 "memory_limit setting of " + format_bytes(settings.memory_limit));
  return std::shared_ptr<LoadedModel>(
      std::make_shared<EngineModel>(rec.id, std::move(eng), std::move(tmpl), mem, std::move(own_pool)));
}

}  // namespace hangar::manager
