// LayoutCache: the file format, its validation against the model file, and building it.
#include "model/layout_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <vector>

namespace hangar::model {
namespace {

namespace fs = std::filesystem;

constexpr char kMagic[8] = {'H', 'G', 'L', 'A', 'Y', 'O', 'U', 'T'};
constexpr uint64_t kDataAlign = uint64_t{2} << 20;  // the data starts on a huge page
constexpr uint64_t kMatrixAlign = 4096;

struct Header {
  char magic[8];
  uint32_t version;
  uint32_t n_entries;
  uint64_t model_size;
  int64_t model_mtime_ns;
  uint64_t model_dev;
  uint64_t model_ino;
};
struct Entry {
  uint64_t model_offset;  // of the matrix's bytes in the model file's mapping
  uint64_t bytes;
  uint64_t cache_offset;
};

uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

Result<Header> identify(const std::string& model_path) {
  struct stat st {};
  if (::stat(model_path.c_str(), &st) != 0) return Error(model_path + ": cannot stat: " + std::strerror(errno));
  Header h{};
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.version = LayoutCache::kFormatVersion;
  h.model_size = static_cast<uint64_t>(st.st_size);
  h.model_mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
  h.model_dev = static_cast<uint64_t>(st.st_dev);
  h.model_ino = static_cast<uint64_t>(st.st_ino);
  return h;
}

bool same_identity(const Header& a, const Header& b) {
  return std::memcmp(a.magic, b.magic, sizeof a.magic) == 0 && a.version == b.version &&
         a.model_size == b.model_size && a.model_mtime_ns == b.model_mtime_ns && a.model_dev == b.model_dev &&
         a.model_ino == b.model_ino;
}

uint64_t matrix_bytes(const kernels::Matrix& m) { return static_cast<uint64_t>(m.rows) * m.row_bytes; }

Status write_all(int fd, const void* data, size_t n, uint64_t offset, const std::string& path) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(offset));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return Error(path + ": cannot write: " + std::strerror(errno));
    p += w, n -= static_cast<size_t>(w), offset += static_cast<uint64_t>(w);
  }
  return Status::Ok();
}

// Rearranges a copy of every matrix pack_row_pairs takes and writes the cache file.
Status build(const std::string& path, const Header& id, const uint8_t* file_base,
             std::span<kernels::Matrix*> matrices, ThreadPool& pool) {
  std::map<uint64_t, std::vector<uint8_t>> packed;  // by model offset: one copy per tensor
  for (kernels::Matrix* m : matrices) {
    if (m->data == nullptr || m->row_pairs || m->type != TensorType::kQ5_0) continue;
    const uint64_t offset = static_cast<uint64_t>(static_cast<const uint8_t*>(m->data) - file_base);
    if (packed.count(offset)) continue;
    const auto* src = static_cast<const uint8_t*>(m->data);
    std::vector<uint8_t> bytes(src, src + matrix_bytes(*m));
    kernels::Matrix copy = *m;
    copy.data = bytes.data();
    if (kernels::pack_row_pairs(copy, bytes.data(), pool)) packed.emplace(offset, std::move(bytes));
  }
  Header h = id;
  h.n_entries = static_cast<uint32_t>(packed.size());
  std::vector<Entry> entries;
  // No entries (a model without such matrices, or a CPU whose kernels want none): the header
  // alone records that, so the next load does not copy the matrices to find out again.
  uint64_t at = sizeof(Header) + packed.size() * sizeof(Entry);
  if (!packed.empty()) at = align_up(at, kDataAlign);
  for (const auto& [offset, bytes] : packed) {
    entries.push_back({offset, bytes.size(), at});
    at = align_up(at + bytes.size(), kMatrixAlign);
  }
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (ec) return Error("cannot create directory '" + fs::path(path).parent_path().string() + "': " + ec.message());
  const std::string partial = path + ".partial";
  const int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Error(partial + ": cannot create: " + std::strerror(errno));
  Status st = write_all(fd, &h, sizeof h, 0, partial);
  if (st.ok() && !entries.empty())
    st = write_all(fd, entries.data(), entries.size() * sizeof(Entry), sizeof h, partial);
  size_t i = 0;
  for (const auto& [offset, bytes] : packed) {
    if (!st.ok()) break;
    st = write_all(fd, bytes.data(), bytes.size(), entries[i++].cache_offset, partial);
  }
  if (st.ok() && ::ftruncate(fd, static_cast<off_t>(at)) != 0)
    st = Error(partial + ": cannot size: " + std::strerror(errno));
  // Written pages are dirty and in small folios; once clean they can be dropped, so that the
  // mapping reads them back in 2 MiB folios (MappedFile::populate).
  if (st.ok()) ::fdatasync(fd);
  ::close(fd);
  if (st.ok() && ::rename(partial.c_str(), path.c_str()) != 0)
    st = Error(path + ": cannot rename into place: " + std::strerror(errno));
  if (!st.ok()) ::unlink(partial.c_str());
  return st;
}

}  // namespace

std::string LayoutCache::path_for(const std::string& dir, const std::string& model_path) {
  std::error_code ec;
  const fs::path abs = fs::absolute(model_path, ec);
  const size_t h = std::hash<std::string>{}(ec ? model_path : abs.string());
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016zx", h);
  return (fs::path(dir) / (fs::path(model_path).filename().string() + "-" + hex + ".layout")).string();
}

Result<LayoutCache> LayoutCache::open_or_build(const std::string& dir, const std::string& model_path,
                                               const uint8_t* file_base, std::span<kernels::Matrix*> matrices,
                                               ThreadPool& pool, bool check_folios) {
  HANGAR_ASSIGN(Header id, identify(model_path));
  const std::string path = path_for(dir, model_path);
  bool built = false;
  for (int attempt = 0; attempt < 2; ++attempt) {
    Result<MappedFile> f = MappedFile::open(path, MappedFile::Backing::kWeights);
    Header h{};
    bool valid = f.ok() && f->size() >= sizeof h;
    if (valid) {
      std::memcpy(&h, f->data(), sizeof h);
      valid = same_identity(h, id) && f->size() >= sizeof h + uint64_t{h.n_entries} * sizeof(Entry);
    }
    std::map<uint64_t, Entry> entries;
    for (uint32_t i = 0; valid && i < h.n_entries; ++i) {
      Entry e;
      std::memcpy(&e, f->data() + sizeof h + i * sizeof(Entry), sizeof e);
      valid = e.cache_offset <= f->size() && e.bytes <= f->size() - e.cache_offset;
      entries[e.model_offset] = e;
    }
    if (valid) {
      LayoutCache c;
      c.built_ = built;
      for (kernels::Matrix* m : matrices) {
        if (m->data == nullptr || m->row_pairs) continue;
        auto it = entries.find(static_cast<uint64_t>(static_cast<const uint8_t*>(m->data) - file_base));
        if (it == entries.end() || it->second.bytes != matrix_bytes(*m)) continue;
        m->data = f->data() + it->second.cache_offset;
        m->row_pairs = true;
        ++c.n_matrices_;
      }
      c.file_ = std::move(*f);
      if (c.n_matrices_ > 0) c.file_.populate(check_folios || built);
      return c;
    }
    if (attempt == 0) {
      HANGAR_TRY(build(path, id, file_base, matrices, pool));
      built = true;
    }
  }
  return Error(path + ": the layout cache just written does not read back");
}

}  // namespace hangar::model
