// CpuBackend construction: the KV cache in host memory and the CPU kernels' weight layouts.
#include "model/cpu_backend.h"

#include <set>

#include "base/log.h"

namespace hangar::model {

CpuBackend::CpuBackend(Model& model, ThreadPool& pool, const BackendOptions& opts)
    : hp_(model.hparams()),
      w_(model.weights()),
      kv_(model.hparams(), opts.n_kv_blocks, opts.kv_block_tokens),
      ctx_(model.hparams(), pool, opts.max_batch_tokens, opts.max_ctx) {
  std::vector<Matrix*> matrices;
  for (LayerWeights& l : w_.layers)
    for (Matrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down})
      if (m->data != nullptr) matrices.push_back(m);
  if (!model.weights_writable()) {  // read-only mapping
    if (opts.layout_cache_dir.empty()) return;
    const MappedFile& file = model.file().mapped();
    Result<LayoutCache> c = LayoutCache::open_or_build(opts.layout_cache_dir, file.path(), file.data(), matrices, pool,
                                                         opts.check_folios);
    if (!c.ok()) {
      log_warn("layout cache: " + c.error().message() + "; decoding from the file's layout");
      return;
    }
    layouts_ = std::move(*c);
    packed_ = layouts_.matrices();
    return;
  }
  std::set<const void*> seen;  // a file could name one tensor's data twice: rearrange it once
  for (Matrix* m : matrices)
    if (seen.insert(m->data).second && kernels::pack_row_pairs(*m, const_cast<void*>(m->data), pool)) ++packed_;
}

std::unique_ptr<Backend> make_cpu_backend(Model& model, ThreadPool& pool, const BackendOptions& opts) {
  return std::make_unique<CpuBackend>(model, pool, opts);
}

}  // namespace hangar::model
