// Integrity checks: a model file's sha256 against the digest the registry expects.
#pragma once

#include <atomic>
#include <string>

#include "base/result.h"
#include "manager/registry.h"
#include "manager/sha256.h"

namespace hangar::manager {

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

}  // namespace hangar::manager
