// MappedFile over mmap(2), or read into huge-page anonymous memory.
#include "base/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace hangar {

namespace {
constexpr size_t kHugePage = size_t{2} << 20;
}

Result<HugePageBuffer> HugePageBuffer::allocate(size_t bytes) {
  HugePageBuffer b;
  if (bytes == 0) return b;
  const size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  // One extra huge page of address space so that an aligned start lies inside the mapping.
  b.base_bytes_ = rounded + kHugePage;
  b.base_ = ::mmap(nullptr, b.base_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (b.base_ == MAP_FAILED) {
    b.base_ = nullptr;
    return Error("cannot allocate " + std::to_string(bytes) + " bytes: " + std::strerror(errno));
  }
  const auto addr = reinterpret_cast<uintptr_t>(b.base_);
  b.data_ = reinterpret_cast<uint8_t*>((addr + kHugePage - 1) / kHugePage * kHugePage);
  b.size_ = bytes;
  // Without THP support this fails harmlessly and the memory stays in small pages.
  ::madvise(b.data_, rounded, MADV_HUGEPAGE);
  return b;
}

void HugePageBuffer::release() {
  if (base_) ::munmap(base_, base_bytes_);
  base_ = nullptr;
  base_bytes_ = 0;
  data_ = nullptr;
  size_ = 0;
}

HugePageBuffer::~HugePageBuffer() { release(); }

HugePageBuffer::HugePageBuffer(HugePageBuffer&& o) noexcept
    : base_(o.base_), base_bytes_(o.base_bytes_), data_(o.data_), size_(o.size_) {
  o.base_ = nullptr;
  o.base_bytes_ = 0;
  o.data_ = nullptr;
  o.size_ = 0;
}

HugePageBuffer& HugePageBuffer::operator=(HugePageBuffer&& o) noexcept {
  if (this != &o) {
    release();
    std::swap(base_, o.base_);
    std::swap(base_bytes_, o.base_bytes_);
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
  }
  return *this;
}

namespace {

// Reads the whole file into `dst` in large chunks, dropping each chunk from the page cache
// once copied, so that the file does not sit in RAM twice.
Status read_all(int fd, const std::string& path, uint8_t* dst, size_t size, const ByteProgress& progress) {
  constexpr size_t kChunk = size_t{16} << 20;
  for (size_t off = 0; off < size;) {
    const ssize_t n = ::pread(fd, dst + off, std::min(kChunk, size - off), static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error(path + ": cannot read: " + std::strerror(errno));
    if (n == 0) return Error(path + ": cannot read: the file shrank while it was read");
    ::posix_fadvise(fd, static_cast<off_t>(off), n, POSIX_FADV_DONTNEED);
    off += static_cast<size_t>(n);
    if (progress) progress(off, size);
  }
  return Status::Ok();
}

}  // namespace

Result<MappedFile> MappedFile::open(const std::string& path, Backing backing, const ByteProgress& progress) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error(path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return Error(path + ": cannot stat: " + std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Error(path + ": not a regular file");
  }
  MappedFile f;
  f.path_ = path;
  f.backing_ = backing;
  f.size_ = static_cast<size_t>(st.st_size);
  if (f.size_ > 0 && backing == Backing::kMemory) {
    Result<HugePageBuffer> buf = HugePageBuffer::allocate(f.size_);
    if (!buf.ok()) {
      ::close(fd);
      return Error(path + ": " + buf.error().message());
    }
    Status st = read_all(fd, path, buf->data(), f.size_, progress);
    ::close(fd);
    if (!st.ok()) return st.error();
    f.memory_ = std::move(*buf);
    f.data_ = f.memory_.data();
    return f;
  }
  if (f.size_ > 0) {
    // At a 2 MiB boundary, so that 2 MiB folios of the page cache can be mapped whole: reserve
    // address space one huge page larger, map the file over its aligned part, give back the rest.
    void* reserved = ::mmap(nullptr, f.size_ + kHugePage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    void* p = MAP_FAILED;
    if (reserved != MAP_FAILED) {
      const auto base = reinterpret_cast<uintptr_t>(reserved);
      const uintptr_t aligned = (base + kHugePage - 1) / kHugePage * kHugePage;
      p = ::mmap(reinterpret_cast<void*>(aligned), f.size_, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0);
      if (p == MAP_FAILED) {
        ::munmap(reserved, f.size_ + kHugePage);
      } else {
        const uintptr_t end = aligned + f.size_, reserved_end = base + f.size_ + kHugePage;
        if (aligned > base) ::munmap(reserved, aligned - base);
        const long page = ::sysconf(_SC_PAGESIZE);
        const uintptr_t tail = (end + page - 1) / page * page;
        if (reserved_end > tail) ::munmap(reinterpret_cast<void*>(tail), reserved_end - tail);
      }
    }
    if (p == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      return Error(path + ": cannot map: " + std::strerror(e));
    }
    f.data_ = static_cast<uint8_t*>(p);
    if (backing == Backing::kWeights) {
      f.guard_ = std::make_unique<FaultGuard>(f.data_, (f.size_ + ::sysconf(_SC_PAGESIZE) - 1) /
                                                           ::sysconf(_SC_PAGESIZE) * ::sysconf(_SC_PAGESIZE));
      // Before the first touch: pages read from now on come in 2 MiB folios.
      ::madvise(f.data_, f.size_, MADV_HUGEPAGE);
    }
  }
  ::close(fd);
  return f;
}

void MappedFile::unmap() {
  guard_.reset();  // before the pages go: a fault after this point would not be ours
  if (data_ && !memory_.data()) ::munmap(data_, size_);
  memory_ = HugePageBuffer();
  data_ = nullptr;
  size_ = 0;
}

MappedFile::~MappedFile() { unmap(); }

MappedFile::MappedFile(MappedFile&& o) noexcept
    : path_(std::move(o.path_)),
      data_(o.data_),
      size_(o.size_),
      backing_(o.backing_),
      memory_(std::move(o.memory_)),
      guard_(std::move(o.guard_)) {
  o.data_ = nullptr;
  o.size_ = 0;
}

MappedFile& MappedFile::operator=(MappedFile&& o) noexcept {
  if (this != &o) {
    unmap();
    path_ = std::move(o.path_);
    data_ = o.data_;
    size_ = o.size_;
    backing_ = o.backing_;
    memory_ = std::move(o.memory_);
    guard_ = std::move(o.guard_);
    o.data_ = nullptr;
    o.size_ = 0;
  }
  return *this;
}

namespace {

// Bytes of the mapping at `start` that the kernel maps with 2 MiB entries (smaps'
// FilePmdMapped), or -1 when it cannot be read.
int64_t pmd_mapped_bytes(const void* start) {
  std::FILE* f = std::fopen("/proc/self/smaps", "re");
  if (!f) return -1;
  char want[32];
  std::snprintf(want, sizeof want, "%lx-", static_cast<unsigned long>(reinterpret_cast<uintptr_t>(start)));
  char line[512];
  bool in = false;
  int64_t kb = -1;
  while (std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, want, std::strlen(want)) == 0) {
      in = true;
    } else if (in && std::strncmp(line, "FilePmdMapped:", 14) == 0) {
      kb = std::atoll(line + 14);
      break;
    } else if (in && std::strchr(line, '-') && !std::strchr(line, ':')) {
      break;  // the next mapping's header: no such field
    }
  }
  std::fclose(f);
  return kb < 0 ? -1 : kb * 1024;
}

#ifndef MADV_POPULATE_READ
constexpr int MADV_POPULATE_READ = 22;  // Linux 5.14
#endif

// MADV_POPULATE_READ over [data, data + size), in slices when someone follows the progress.
bool populate_read(uint8_t* data, size_t size, const ByteProgress& progress) {
  if (!progress) return ::madvise(data, size, MADV_POPULATE_READ) == 0;
  constexpr size_t kSlice = size_t{64} << 20;  // a multiple of the 2 MiB huge page
  for (size_t off = 0; off < size; off += kSlice) {
    if (::madvise(data + off, std::min(kSlice, size - off), MADV_POPULATE_READ) != 0) return false;
    progress(std::min(off + kSlice, size), size);
  }
  return true;
}

}  // namespace

bool MappedFile::populate(bool check_folios, const ByteProgress& progress) const {
  if (!data_ || backing_ == Backing::kMemory) return true;
  if (!populate_read(data_, size_, progress)) return false;
  if (!check_folios || backing_ != Backing::kWeights || size_ < (size_t{64} << 20)) return true;
  // A file written or read with write()/read() (a copy, a download, hashing) sits in the page
  // cache in small folios, which map with 4 KiB entries whatever MADV_HUGEPAGE says: streaming
  // them is up to 2-3x slower in a VM. Drop those pages (only clean pages nobody else maps go)
  // and map again: the faults then read the file in 2 MiB folios, once.
  const int64_t huge = pmd_mapped_bytes(data_);
  if (huge < 0 || static_cast<size_t>(huge) >= size_ / 2) return true;
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return true;
  ::madvise(data_, size_, MADV_DONTNEED);  // our own mapping must not hold the pages
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
  return populate_read(data_, size_, progress);
}

void MappedFile::advise_willneed(size_t offset, size_t length) const {
  if (!data_ || offset >= size_) return;
  long page = ::sysconf(_SC_PAGESIZE);
  size_t start = offset / page * page;
  size_t end = std::min(size_, offset + length);
  ::madvise(data_ + start, end - start, MADV_WILLNEED);
}

size_t MappedFile::resident_bytes() const {
  if (!data_) return 0;
  long page = ::sysconf(_SC_PAGESIZE);
  size_t pages = (size_ + page - 1) / page;
  std::vector<unsigned char> vec(pages);
  if (::mincore(data_, size_, vec.data()) != 0) return 0;
  size_t n = 0;
  for (unsigned char v : vec) n += v & 1;
  return n * page;
}

}  // namespace hangar
