// Integrity checks: a model file's sha256 against the digest the registry expects.
#pragma once

#include <atomic>
#include <string>

#include "base/result.h"
#include "manager/registry.h"
#include "manager/sha256.h"

namespace hangar::manager {

// A model file's size and modification time: what tells that it was replaced or rewritten.
struct FileIdentity {
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  bool operator==(const FileIdentity&) const = default;
};
// The identity of the file at `path` now; an error naming model `id` when it is gone.
Result<FileIdentity> file_identity(const std::string& id, const std::string& path);

// Before a load: when `rec` has an expected digest and the file's size or mtime differ from
// the ones it was computed for, hashes the file again. A mismatch returns an error naming the
// model, the expected and the actual digest; a match records the new size/mtime. Files never
// hashed, or unchanged since, pass without reading. Thread-safe.
Status check_before_load(Registry& registry, const ModelRecord& rec);

// Hashes the file now (POST /v1/models/{id}/verify, and the background hasher). Without an
// expected digest, the result becomes the expected one; with one, a mismatch is an error as
// above and the expected digest is kept. Returns the digest. Thread-safe.
Result<std::string> verify_model(Registry& registry, const std::string& id,
                                 const HashProgressFn& progress = {},
                                 const std::atomic<bool>* cancel = nullptr);

// Hashes the file now and makes the result its expected digest, whatever was expected before:
// the user replaced the file on purpose (POST /v1/models/{id}/verify with {"accept": true}),
// and loads stop answering 409. A file that changes while it is hashed is an error and nothing
// is recorded. Returns the digest. Thread-safe.
Result<std::string> accept_model(Registry& registry, const std::string& id);

}  // namespace hangar::manager
