// kv_file: writing and checked reading of saved prefix files.
#include "engine/kv_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace hangar::engine {
namespace {

static_assert(std::endian::native == std::endian::little, "the KV file format is little-endian");

constexpr uint64_t kP1 = 0x9E3779B185EBCA87ull, kP2 = 0xC2B2AE3D27D4EB4Full, kP3 = 0x165667B19E3779F9ull;
// Bounds a reader enforces before it allocates anything from a header.
constexpr uint32_t kMaxString = 4096, kMaxTokens = 1u << 24, kMaxHeaderBytes = 1u << 28;

uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

uint64_t load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

std::string errno_text() { return std::strerror(errno); }

// Appends plain values to a header image.
struct Writer {
  std::vector<uint8_t> bytes;
  template <typename T>
  void put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    bytes.insert(bytes.end(), p, p + sizeof(T));
  }
  void put_str(const std::string& s) {
    put<uint32_t>(static_cast<uint32_t>(s.size()));
    bytes.insert(bytes.end(), s.begin(), s.end());
  }
};

// Reads values from a header image; every read is bounds-checked.
struct Reader {
  const uint8_t* p;
  size_t n, at = 0;
  bool ok = true;
  template <typename T>
  T get() {
    T v{};
    if (at + sizeof(T) > n) {
      ok = false;
      return v;
    }
    std::memcpy(&v, p + at, sizeof(T));
    at += sizeof(T);
    return v;
  }
  std::string get_str() {
    const uint32_t len = get<uint32_t>();
    if (!ok || len > kMaxString || at + len > n) {
      ok = false;
      return {};
    }
    std::string s(reinterpret_cast<const char*>(p + at), len);
    at += len;
    return s;
  }
};

bool write_all(int fd, const uint8_t* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

bool pread_all(int fd, uint8_t* p, size_t n, uint64_t off) {
  while (n > 0) {
    const ssize_t r = ::pread(fd, p, n, static_cast<off_t>(off));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
    off += static_cast<uint64_t>(r);
  }
  return true;
}

// The header image with block sums as given and no trailing checksum.
std::vector<uint8_t> header_image(const KvFileHeader& h) {
  Writer w;
  w.bytes.insert(w.bytes.end(), kKvFileMagic, kKvFileMagic + sizeof(kKvFileMagic));
  w.put<uint32_t>(kKvFileVersion);
  w.put<uint32_t>(0);  // header bytes, patched below
  w.put_str(h.model.path);
  w.put_str(h.model.sha256);
  w.put<uint64_t>(h.model.file_size);
  w.put<int64_t>(h.model.mtime_ns);
  w.put_str(h.layout);
  w.put<int32_t>(h.block_tokens);
  w.put<int32_t>(h.n_layer);
  w.put<int32_t>(h.kv_dim);
  w.put<uint32_t>(static_cast<uint32_t>(h.tokens.size()));
  for (TokenId t : h.tokens) w.put<int32_t>(t);
  w.put<uint32_t>(static_cast<uint32_t>(h.n_blocks()));
  for (int32_t b = 0; b < h.n_blocks(); ++b) w.put<uint64_t>(b < static_cast<int32_t>(h.block_sums.size()) ? h.block_sums[b] : 0);
  const uint32_t total = static_cast<uint32_t>(w.bytes.size() + sizeof(uint64_t));
  std::memcpy(w.bytes.data() + sizeof(kKvFileMagic) + 4, &total, 4);
  return w.bytes;
}

void finish_header(std::vector<uint8_t>& image) {
  const uint64_t sum = kv_checksum(image.data(), image.size());
  const auto* p = reinterpret_cast<const uint8_t*>(&sum);
  image.insert(image.end(), p, p + sizeof(sum));
}

}  // namespace

bool same_model(const KvModelIdentity& saved, const KvModelIdentity& now) {
  if (saved.file_size != now.file_size) return false;
  if (!saved.sha256.empty() && !now.sha256.empty()) return saved.sha256 == now.sha256;
  return saved.path == now.path && saved.mtime_ns == now.mtime_ns;
}

int32_t KvFileHeader::slots_in(int32_t block) const {
  return std::min(block_tokens, n_tokens() - block * block_tokens);
}

uint64_t KvFileHeader::block_bytes(int32_t block) const {
  return static_cast<uint64_t>(n_layer) * 2 * slots_in(block) * kv_dim * sizeof(uint16_t);
}

uint64_t KvFileHeader::block_offset(int32_t block) const {
  // Every block but the last is full, so the offset is arithmetic.
  const uint64_t full = static_cast<uint64_t>(n_layer) * 2 * block_tokens * kv_dim * sizeof(uint16_t);
  if (block < n_blocks()) return header_bytes + full * block;
  return header_bytes + (n_blocks() > 0 ? full * (n_blocks() - 1) + block_bytes(n_blocks() - 1) : 0);
}

uint64_t kv_checksum(const uint8_t* data, size_t n, uint64_t seed) {
  uint64_t a = seed + kP1 + kP2, b = seed + kP2, c = seed, d = seed - kP1;
  size_t i = 0;
  // Four independent lanes keep the multipliers busy (about 1 byte per cycle per lane).
  for (; i + 32 <= n; i += 32) {
    a = rotl(a + load64(data + i) * kP2, 31) * kP1;
    b = rotl(b + load64(data + i + 8) * kP2, 31) * kP1;
    c = rotl(c + load64(data + i + 16) * kP2, 31) * kP1;
    d = rotl(d + load64(data + i + 24) * kP2, 31) * kP1;
  }
  uint64_t h = rotl(a, 1) + rotl(b, 7) + rotl(c, 12) + rotl(d, 18) + static_cast<uint64_t>(n);
  for (; i + 8 <= n; i += 8) h = rotl(h ^ (rotl(load64(data + i) * kP2, 31) * kP1), 27) * kP1 + kP3;
  for (; i < n; ++i) h = rotl(h ^ (data[i] * kP3), 11) * kP1;
  h ^= h >> 33;
  h *= kP2;
  h ^= h >> 29;
  h *= kP3;
  h ^= h >> 32;
  return h;
}

Result<KvFileHeader> write_kv_file(const std::string& path, KvFileHeader header,
                                   const std::function<void(int32_t block, int32_t slots, uint8_t* dst)>& fill) {
  HANGAR_ASSERT(header.block_tokens > 0 && header.n_layer > 0 && header.kv_dim > 0 && !header.tokens.empty());
  static std::atomic<uint64_t> serial{0};
  const std::string tmp = path + "." + std::to_string(::getpid()) + "." + std::to_string(serial++) + ".tmp";
  const int fd = ::open(tmp.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) return Error("KV store: cannot create '" + tmp + "': " + errno_text());
  auto fail = [&](const std::string& what) -> Error {
    const std::string why = errno_text();
    ::close(fd);
    ::unlink(tmp.c_str());
    return Error("KV store: cannot " + what + " '" + tmp + "': " + why);
  };
  header.block_sums.assign(header.n_blocks(), 0);
  std::vector<uint8_t> image = header_image(header);
  header.header_bytes = image.size() + sizeof(uint64_t);
  // Room for the header first; its final bytes (with the blocks' sums) go in once known.
  if (::ftruncate(fd, static_cast<off_t>(header.header_bytes)) != 0 || ::lseek(fd, 0, SEEK_END) < 0)
    return fail("extend");
  std::vector<uint8_t> buf(header.block_bytes(0));
  for (int32_t b = 0; b < header.n_blocks(); ++b) {
    const size_t n = header.block_bytes(b);
    fill(b, header.slots_in(b), buf.data());
    header.block_sums[b] = kv_checksum(buf.data(), n, static_cast<uint64_t>(b));
    if (!write_all(fd, buf.data(), n)) return fail("write");
  }
  image = header_image(header);
  finish_header(image);
  if (::pwrite(fd, image.data(), image.size(), 0) != static_cast<ssize_t>(image.size())) return fail("write");
  if (::fsync(fd) != 0) return fail("sync");
  if (::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return Error("KV store: cannot close '" + tmp + "': " + errno_text());
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = errno_text();
    ::unlink(tmp.c_str());
    return Error("KV store: cannot rename '" + tmp + "' to '" + path + "': " + why);
  }
  // The rename itself is durable only once the directory is synced.
  const std::string dir = std::filesystem::path(path).parent_path().string();
  const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return header;
}

KvFileReader::~KvFileReader() {
  if (fd_ >= 0) ::close(fd_);
}

KvFileReader& KvFileReader::operator=(KvFileReader&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    header_ = std::move(o.header_);
    path_ = std::move(o.path_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

Result<KvFileReader> KvFileReader::open(const std::string& path) {
  KvFileReader r;
  r.path_ = path;
  r.fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (r.fd_ < 0) return Error("'" + path + "': cannot open: " + errno_text());
  struct stat st {};
  if (::fstat(r.fd_, &st) != 0) return Error("'" + path + "': cannot stat: " + errno_text());
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  uint8_t fixed[sizeof(kKvFileMagic) + 8];
  if (size < sizeof(fixed) || !pread_all(r.fd_, fixed, sizeof(fixed), 0))
    return Error("'" + path + "': truncated (" + std::to_string(size) + " bytes, shorter than a header)");
  if (std::memcmp(fixed, kKvFileMagic, sizeof(kKvFileMagic)) != 0)
    return Error("'" + path + "': not a hangar KV file (bad magic)");
  uint32_t version = 0, header_bytes = 0;
  std::memcpy(&version, fixed + 8, 4);
  std::memcpy(&header_bytes, fixed + 12, 4);
  if (version != kKvFileVersion)
    return Error("'" + path + "': format version " + std::to_string(version) + ", expected " +
                 std::to_string(kKvFileVersion));
  if (header_bytes < sizeof(fixed) + 8 || header_bytes > kMaxHeaderBytes || header_bytes > size)
    return Error("'" + path + "': truncated or corrupt header (" + std::to_string(header_bytes) + " header bytes in a " +
                 std::to_string(size) + "-byte file)");
  std::vector<uint8_t> image(header_bytes);
  if (!pread_all(r.fd_, image.data(), image.size(), 0)) return Error("'" + path + "': cannot read the header");
  uint64_t stored = 0;
  std::memcpy(&stored, image.data() + header_bytes - 8, 8);
  if (kv_checksum(image.data(), header_bytes - 8) != stored) return Error("'" + path + "': header checksum mismatch");
  Reader in{image.data(), header_bytes - 8, sizeof(fixed)};
  KvFileHeader& h = r.header_;
  h.model.path = in.get_str();
  h.model.sha256 = in.get_str();
  h.model.file_size = in.get<uint64_t>();
  h.model.mtime_ns = in.get<int64_t>();
  h.layout = in.get_str();
  h.block_tokens = in.get<int32_t>();
  h.n_layer = in.get<int32_t>();
  h.kv_dim = in.get<int32_t>();
  const uint32_t n_tokens = in.get<uint32_t>();
  if (!in.ok || n_tokens == 0 || n_tokens > kMaxTokens || h.block_tokens <= 0 || h.block_tokens > 4096 ||
      h.n_layer <= 0 || h.n_layer > 4096 || h.kv_dim <= 0 || h.kv_dim > (1 << 20))
    return Error("'" + path + "': header fields out of range");
  h.tokens.resize(n_tokens);
  for (TokenId& t : h.tokens) t = in.get<int32_t>();
  const uint32_t n_blocks = in.get<uint32_t>();
  if (!in.ok || static_cast<int32_t>(n_blocks) != h.n_blocks()) return Error("'" + path + "': block count does not match");
  h.block_sums.resize(n_blocks);
  for (uint64_t& s : h.block_sums) s = in.get<uint64_t>();
  if (!in.ok || in.at != in.n) return Error("'" + path + "': header length does not match its fields");
  h.header_bytes = header_bytes;
  if (h.file_bytes() != size)
    return Error("'" + path + "': " + std::to_string(size) + " bytes, expected " + std::to_string(h.file_bytes()) +
                 (size < h.file_bytes() ? " (truncated)" : ""));
  return r;
}

Status KvFileReader::read_blocks(int32_t n_blocks,
                                 const std::function<void(int32_t block, int32_t slots, const uint8_t* data)>& fn) {
  HANGAR_ASSERT(n_blocks >= 0 && n_blocks <= header_.n_blocks());
  if (n_blocks == 0) return Status::Ok();
  std::vector<uint8_t> buf(header_.block_bytes(0));
  for (int32_t b = 0; b < n_blocks; ++b) {
    const size_t n = header_.block_bytes(b);
    if (!pread_all(fd_, buf.data(), n, header_.block_offset(b)))
      return Error("'" + path_ + "': short read of block " + std::to_string(b));
    if (kv_checksum(buf.data(), n, static_cast<uint64_t>(b)) != header_.block_sums[b])
      return Error("'" + path_ + "': checksum mismatch in block " + std::to_string(b));
    fn(b, header_.slots_in(b), buf.data());
  }
  return Status::Ok();
}

}  // namespace hangar::engine
