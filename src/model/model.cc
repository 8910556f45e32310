// Model loading: architecture lookup, hyper-parameters, weight binding.
#include "model/model.h"

namespace hangar::model {

Result<std::unique_ptr<Model>> Model::load(const std::string& path, MappedFile::Backing backing,
                                           gguf::File::LongArrays arrays, const ByteProgress& progress) {
  std::unique_ptr<Model> m(new Model());
  HANGAR_ASSIGN(m->file_, gguf::File::open(path, backing, arrays, progress));
  HANGAR_ASSIGN(std::string arch, m->file_.get_string("general.architecture"));
  m->arch_ = find_architecture(arch);
  if (!m->arch_)
    return Error(path + ": unknown architecture \"" + arch + "\" (supported: " +
                 supported_architectures() + ")");
  HANGAR_ASSIGN(m->hp_, read_common_hparams(m->file_, arch));
  HANGAR_TRY(m->arch_->load_hparams(m->file_, m->hp_));
  WeightBinder binder(m->file_);
  HANGAR_TRY(m->arch_->bind_weights(binder, m->hp_, m->w_));
  // Every tensor of a supported model must be usable, even ones the forward pass skips, so that a
  // file with an unknown or unsupported type fails here with the tensor named.
  for (const auto& t : m->file_.tensors()) {
    if (!kernels::is_supported_weight_type(t.type))
      return Error(path + ": tensor " + t.name + " has type " + tensor_type_name(t.type) +
                   ", which hangar cannot compute with");
    m->weight_bytes_ += t.n_bytes;
  }
  // Not for kWeights: readahead by madvise fills the page cache with 4 KiB folios, where page
  // faults on a huge-page mapping read 2 MiB ones (MappedFile::populate, at prefault).
  if (backing == MappedFile::Backing::kMap)
    m->file_.mapped().advise_willneed(m->file_.data_offset(), m->file_.file_size());
  return m;
}

uint64_t Model::bytes_per_token() const {
  uint64_t embd = static_cast<uint64_t>(w_.token_embd.rows) * w_.token_embd.row_bytes;
  bool tied = w_.output.data == w_.token_embd.data;
  // The embedding table is read one row per token, except when it doubles as the output matrix.
  return tied ? weight_bytes_ : weight_bytes_ - embd + w_.token_embd.row_bytes;
}

}  // namespace hangar::model
