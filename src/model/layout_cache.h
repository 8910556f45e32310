// LayoutCache: matrices rearranged for the CPU's decode kernels, kept in a file so that a model
// whose weights are mapped (not copied) maps them too instead of rewriting them at every load.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "base/mapped_file.h"
#include "base/result.h"
#include "base/thread_pool.h"
#include "kernels/kernels.h"

namespace hangar::model {

// The file `<dir>/<model file name>-<hash of its path>.layout` holds, for one version of one
// model file, a copy of each matrix that kernels::pack_row_pairs rearranges (Q5_0 on AVX-512),
// in the rearranged layout. It is keyed by the model file's identity (device, inode, size,
// mtime) and kFormatVersion: a model file replaced or rewritten makes the next open build it
// again. Built as `.partial` and renamed, so a crash leaves no half file. Movable.
class LayoutCache {
 public:
  static constexpr uint32_t kFormatVersion = 1;

  // Maps the cache of `model_path` if it matches the file now, else builds it from `matrices`
  // (their data must point into the model file's mapping at `file_base`). On success every
  // matrix that has a rearranged copy is repointed into the cache (row_pairs set) and the rest
  // are left as they are. Errors (an unwritable dir, a full disk) change no matrix: the caller
  // keeps the file's layout. `pool` splits the rearranging. `check_folios`: see
  // MappedFile::populate (an existing cache of a model file version checked before may skip it;
  // a cache built now is always checked).
  static Result<LayoutCache> open_or_build(const std::string& dir, const std::string& model_path,
                                           const uint8_t* file_base, std::span<kernels::Matrix*> matrices,
                                           ThreadPool& pool, bool check_folios = true);
  LayoutCache() = default;

  int matrices() const { return n_matrices_; }
  bool built() const { return built_; }  // built by this open (false: an existing file reused)
  uint64_t bytes() const { return file_.size(); }
  const std::string& path() const { return file_.path(); }
  // The cache file for `model_path` in `dir` (whether or not it exists).
  static std::string path_for(const std::string& dir, const std::string& model_path);

 private:
  MappedFile file_;
  int n_matrices_ = 0;
  bool built_ = false;
};

}  // namespace hangar::model
