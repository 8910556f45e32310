// SHA-256 of files (OpenSSL), streamed in chunks with progress and cancellation.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace hangar::manager {

// Called after each chunk with (bytes hashed so far, file size at open).
using HashProgressFn = std::function<void(uint64_t done, uint64_t total)>;

// Returns the lowercase hex digest of the file's contents, or an error naming the file
// (cannot open/read, or `cancel` became true). Reads with plain read() in `chunk_bytes`
// pieces so that hashing a large model does not pin it in the page cache via a mapping.
// Thread-safe (no shared state).
Result<std::string> sha256_file(const std::string& path, const HashProgressFn& progress = {},
                                const std::atomic<bool>* cancel = nullptr,
                                size_t chunk_bytes = size_t{4} << 20);

// Digest of a byte string (lowercase hex).
std::string sha256_bytes(std::string_view data);

}  // namespace hangar::manager
