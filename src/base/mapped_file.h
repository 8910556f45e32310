// MappedFile: a whole file's bytes in memory, read-only: a map of the file, or a private copy
// in anonymous memory backed by huge pages (model weights for inference).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/fault_guard.h"
#include "base/result.h"

namespace hangar {

// Told of a long read as it goes: bytes done so far and in all (called on the reading thread,
// after each large chunk, so a few dozen times a GB).
using ByteProgress = std::function<void(uint64_t done, uint64_t total)>;

// Anonymous memory, 2 MiB aligned, with transparent huge pages requested (MADV_HUGEPAGE), so
// that streaming through it costs one TLB entry per 2 MiB instead of per 4 KiB page. Movable.
class HugePageBuffer {
 public:
  static Result<HugePageBuffer> allocate(size_t bytes);
  HugePageBuffer() = default;
  ~HugePageBuffer();
  HugePageBuffer(HugePageBuffer&& other) noexcept;
  HugePageBuffer& operator=(HugePageBuffer&& other) noexcept;
  HugePageBuffer(const HugePageBuffer&) = delete;
  HugePageBuffer& operator=(const HugePageBuffer&) = delete;

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void release();
  void* base_ = nullptr;  // the mapping (data_ rounded up to 2 MiB lies inside it)
  size_t base_bytes_ = 0;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Owns the bytes of a file; movable, not copyable. An empty file has size() == 0.
class MappedFile {
 public:
  enum class Backing {
    kMap,      // mmap of the file: pages come and go with the page cache, shared with others
    kWeights,  // kMap for streaming weights: 2 MiB-aligned, transparent huge pages asked for
               // (the page cache then reads the file in 2 MiB folios that map with one TLB
               // entry each, as fast to stream as kMemory), every page mapped at open, and a
               // FaultGuard so that truncating the file under it cannot kill the process.
               // Nothing is copied: a model whose file is in the page cache opens in ~1 ms.
    kMemory,   // read into a HugePageBuffer: resident, private (the file cannot change it),
               // but a copy: ~0.1-0.2 s a GB, more on first touch of fresh memory in a VM;
               // the page cache's copy is dropped after reading
  };
  // `progress` (optional) follows kMemory's copy.
  static Result<MappedFile> open(const std::string& path, Backing backing = Backing::kMap,
                                 const ByteProgress& progress = {});
  MappedFile() = default;
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  Backing backing() const { return backing_; }
  // kWeights: true once the file shrank under the mapping and the lost pages read as zeros.
  bool pulled_away() const { return guard_ && guard_->faulted(); }

  // Maps every page now (reading from the file what the page cache lacks), so that the first
  // pass over the bytes takes no page faults. False when the kernel cannot (before Linux 5.14):
  // the caller then touches the pages itself. A no-op for kMemory. With `check_folios`, a big
  // kWeights file found mapped mostly in 4 KiB pages is dropped from the page cache and read
  // back in 2 MiB folios; the check reads /proc/self/smaps (several ms in a big process), so a
  // caller that checked this file version before may skip it.
  // `progress` (optional) is told as the pages come in.
  bool populate(bool check_folios = true, const ByteProgress& progress = {}) const;
  // Asks the kernel to read the range ahead (used when a model is loaded eagerly).
  void advise_willneed(size_t offset, size_t length) const;
  // Bytes resident in RAM (mincore), for memory accounting.
  size_t resident_bytes() const;

 private:
  void unmap();
  std::string path_;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  Backing backing_ = Backing::kMap;
  HugePageBuffer memory_;  // kMemory: owns data_
  std::unique_ptr<FaultGuard> guard_;  // kWeights
};

}  // namespace hangar
