// SHA-256 via OpenSSL's EVP interface.
#include "manager/sha256.h"

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

namespace hangar::manager {
namespace {

struct CtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using CtxPtr = std::unique_ptr<EVP_MD_CTX, CtxFree>;

std::string to_hex(const unsigned char* d, unsigned n) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (unsigned i = 0; i < n; ++i) {
    out.push_back(kHex[d[i] >> 4]);
    out.push_back(kHex[d[i] & 15]);
  }
  return out;
}

CtxPtr new_ctx() {
  CtxPtr ctx(EVP_MD_CTX_new());
  HANGAR_ASSERT(ctx != nullptr);
  HANGAR_ASSERT(EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) == 1);
  return ctx;
}

std::string finish(EVP_MD_CTX* ctx) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  HANGAR_ASSERT(EVP_DigestFinal_ex(ctx, md, &n) == 1);
  return to_hex(md, n);
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

Result<std::string> sha256_file(const std::string& path, const HashProgressFn& progress,
                                const std::atomic<bool>* cancel, size_t chunk_bytes) {
  HANGAR_ASSERT(chunk_bytes > 0);
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return Error("sha256: cannot open '" + path + "': " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return Error("sha256: cannot stat '" + path + "': " + std::strerror(errno));
  }
  const uint64_t total = static_cast<uint64_t>(st.st_size);
  ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  CtxPtr ctx = new_ctx();
  std::vector<unsigned char> buf(chunk_bytes);
  uint64_t done = 0;
  for (;;) {
    if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) {
      return Error("sha256: hashing '" + path + "' was cancelled");
    }
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error("sha256: cannot read '" + path + "': " + std::strerror(errno));
    }
    if (n == 0) break;
    HANGAR_ASSERT(EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(n)) == 1);
    done += static_cast<uint64_t>(n);
    if (progress) progress(done, total);
  }
  return finish(ctx.get());
}

std::string sha256_bytes(std::string_view data) {
  CtxPtr ctx = new_ctx();
  HANGAR_ASSERT(EVP_DigestUpdate(ctx.get(), data.data(), data.size()) == 1);
  return finish(ctx.get());
}

}  // namespace hangar::manager
