// kv_file: the on-disk format of one saved prompt prefix (identity, tokens, checksummed KV blocks).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/result.h"
#include "engine/sequence.h"

namespace hangar::engine {

// Bumped whenever the layout below changes; a file of another version is ignored and deleted.
inline constexpr uint32_t kKvFileVersion = 1;
inline constexpr char kKvFileMagic[8] = {'H', 'A', 'N', 'G', 'A', 'R', 'K', 'V'};

// The model file a saved prefix was computed with. A file is used only by the same model: same
// size and, when both sides know the sha256, the same digest (a copy or rename of the model
// keeps its prefixes); otherwise (the hash is pending on one side) the same path and mtime,
// the cheap identity. The path also tells a stale file of this model (the model file changed:
// delete it) from another model's file (leave it).
struct KvModelIdentity {
  std::string path;
  std::string sha256;  // hex; empty while the hash is pending
  uint64_t file_size = 0;
  int64_t mtime_ns = 0;
};
// Whether keys and values computed by `saved` may serve `now` (see above).
bool same_model(const KvModelIdentity& saved, const KvModelIdentity& now);

// One file: a header, then the blocks in order. Block i holds positions [i*bt, i*bt + slots(i))
// with slots(i) = min(bt, n_tokens - i*bt), as KvCache::read_block lays them out (per layer K
// rows then V rows, F16). Little-endian, as written on x86. The header ends with a checksum of
// itself; each block has its own checksum in the header, so a prefix of the file can be
// restored after checking only the blocks it reads.
struct KvFileHeader {
  KvModelIdentity model;
  std::string layout;  // Engine::kv_layout(): every setting that changes what the KV holds
  int32_t block_tokens = 0, n_layer = 0, kv_dim = 0;
  std::vector<TokenId> tokens;
  std::vector<uint64_t> block_sums;  // set by the writer and the reader
  uint64_t header_bytes = 0;         // set by the writer and the reader

  int32_t n_tokens() const { return static_cast<int32_t>(tokens.size()); }
  int32_t n_blocks() const { return block_tokens > 0 ? (n_tokens() + block_tokens - 1) / block_tokens : 0; }
  int32_t slots_in(int32_t block) const;
  uint64_t block_bytes(int32_t block) const;
  uint64_t block_offset(int32_t block) const;  // from the start of the file
  uint64_t file_bytes() const { return block_offset(n_blocks()); }
};

// A 64-bit checksum (four multiply-rotate lanes over 8-byte words, then a final mix): fast
// enough to check gigabytes per second, for corruption, not against an adversary.
uint64_t kv_checksum(const uint8_t* data, size_t n, uint64_t seed = 0);

// Writes `header` and its blocks (fill(block, slots, dst) writes block_bytes(block) bytes) to
// `path` atomically: a temporary file beside it, fsync, rename, fsync of the directory. Either
// the whole file is there or none (a crash leaves at most a *.tmp file). Returns the header as
// written (block_sums and header_bytes set), as KvFileReader::open would read it back. Errors
// name the path.
Result<KvFileHeader> write_kv_file(const std::string& path, KvFileHeader header,
                     const std::function<void(int32_t block, int32_t slots, uint8_t* dst)>& fill);

// An open file whose header was checked: magic, version, header checksum, bounds, and the
// file's length against the header's. Reading blocks checks each one's checksum. Movable.
class KvFileReader {
 public:
  static Result<KvFileReader> open(const std::string& path);
  KvFileReader(KvFileReader&& o) noexcept : header_(std::move(o.header_)), fd_(o.fd_), path_(std::move(o.path_)) {
    o.fd_ = -1;
  }
  KvFileReader& operator=(KvFileReader&& o) noexcept;
  KvFileReader(const KvFileReader&) = delete;
  ~KvFileReader();

  const KvFileHeader& header() const { return header_; }
  // Reads blocks [0, n_blocks) in order, checks each and hands it to fn(block, slots, bytes).
  // Error (naming the path and block) on a short read or a checksum mismatch; fn may then have
  // seen the blocks before the bad one.
  Status read_blocks(int32_t n_blocks, const std::function<void(int32_t block, int32_t slots, const uint8_t* data)>& fn);

 private:
  KvFileReader() = default;
  KvFileHeader header_;
  int fd_ = -1;
  std::string path_;
};

}  // namespace hangar::engine
