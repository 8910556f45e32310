// MappedFile over mmap(2), or read into huge-page anonymous memory.
#include "base/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
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
Status read_all(int fd, const std::string& path, uint8_t* dst, size_t size) {
  constexpr size_t kChunk = size_t{16} << 20;
  for (size_t off = 0; off < size;) {
    const ssize_t n = ::pread(fd, dst + off, std::min(kChunk, size - off), static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error(path + ": cannot read: " + std::strerror(errno));
    if (n == 0) return Error(path + ": cannot read: the file shrank while it was read");
    ::posix_fadvise(fd, static_cast<off_t>(off), n, POSIX_FADV_DONTNEED);
    off += static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace

Result<MappedFile> MappedFile::open(const std::string& path, Backing backing) {
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
  f.size_ = static_cast<size_t>(st.st_size);
  if (f.size_ > 0 && backing == Backing::kMemory) {
    Result<HugePageBuffer> buf = HugePageBuffer::allocate(f.size_);
    if (!buf.ok()) {
      ::close(fd);
      return Error(path + ": " + buf.error().message());
    }
    Status st = read_all(fd, path, buf->data(), f.size_);
    ::close(fd);
    if (!st.ok()) return st.error();
    f.memory_ = std::move(*buf);
    f.data_ = f.memory_.data();
    return f;
  }
  if (f.size_ > 0) {
    void* p = ::mmap(nullptr, f.size_, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      return Error(path + ": cannot map: " + std::strerror(e));
    }
    f.data_ = static_cast<uint8_t*>(p);
  }
  ::close(fd);
  return f;
}

void MappedFile::unmap() {
  if (data_ && !memory_.data()) ::munmap(data_, size_);
  memory_ = HugePageBuffer();
  data_ = nullptr;
  size_ = 0;
}

MappedFile::~MappedFile() { unmap(); }

MappedFile::MappedFile(MappedFile&& o) noexcept
    : path_(std::move(o.path_)), data_(o.data_), size_(o.size_), memory_(std::move(o.memory_)) {
  o.data_ = nullptr;
  o.size_ = 0;
}

MappedFile& MappedFile::operator=(MappedFile&& o) noexcept {
  if (this != &o) {
    unmap();
    path_ = std::move(o.path_);
    data_ = o.data_;
    size_ = o.size_;
    memory_ = std::move(o.memory_);
    o.data_ = nullptr;
    o.size_ = 0;
  }
  return *this;
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
