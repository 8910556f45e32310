// sha256 verification of model files against the registry's expected digests.
#include "manager/integrity.h"

#include <sys/stat.h>

#include "base/log.h"

namespace hangar::manager {
namespace {

using Identity = FileIdentity;

Result<Identity> identify(const std::string& id, const std::string& path) { return file_identity(id, path); }

Error mismatch(const ModelRecord& rec, const std::string& actual) {
  return Error("model '" + rec.id + "': sha256 mismatch for '" + rec.path + "': expected " +
               rec.sha256 + ", actual " + actual +
               "; the file changed since it was hashed, so it is not loaded");
}

// Hashes and compares. `before` is the file's identity when hashing started: a file replaced
// while it was being read must not have its digest recorded under the new identity.
Result<std::string> hash_and_compare(Registry& registry, const ModelRecord& rec,
                                     const HashProgressFn& progress,
                                     const std::atomic<bool>* cancel) {
  HANGAR_ASSIGN(Identity before, identify(rec.id, rec.path));
  HANGAR_ASSIGN(std::string actual, sha256_file(rec.path, progress, cancel));
  if (!rec.sha256.empty() && actual != rec.sha256) return mismatch(rec, actual);
  HANGAR_ASSIGN(Identity after, identify(rec.id, rec.path));
  if (after.size != before.size || after.mtime_ns != before.mtime_ns) {
    return Error("model '" + rec.id + "': '" + rec.path + "' changed while it was hashed");
  }
  HANGAR_TRY(registry.set_digest(rec.id, actual, before.size, before.mtime_ns));
  return actual;
}

}  // namespace

Result<FileIdentity> file_identity(const std::string& id, const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Error("model '" + id + "': its file '" + path + "' is gone");
  }
  return FileIdentity{static_cast<uint64_t>(st.st_size),
                      int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec};
}

Status check_before_load(Registry& registry, const ModelRecord& rec) {
  if (rec.sha256.empty()) return Status::Ok();
  HANGAR_ASSIGN(Identity now, identify(rec.id, rec.path));
  if (now.size == rec.sha256_size && now.mtime_ns == rec.sha256_mtime_ns) return Status::Ok();
  log_info("model '" + rec.id + "' changed on disk since it was hashed; checking its sha256");
  HANGAR_TRY(hash_and_compare(registry, rec, {}, nullptr));
  return Status::Ok();
}

Result<std::string> verify_model(Registry& registry, const std::string& id,
                                 const HashProgressFn& progress,
                                 const std::atomic<bool>* cancel) {
  std::optional<ModelRecord> rec = registry.get(id);
  if (!rec || !rec->present) return Error("unknown model '" + id + "'");
  return hash_and_compare(registry, *rec, progress, cancel);
}

Result<std::string> accept_model(Registry& registry, const std::string& id) {
  std::optional<ModelRecord> rec = registry.get(id);
  if (!rec || !rec->present) return Error("unknown model '" + id + "'");
  const std::string before = rec->sha256;
  rec->sha256.clear();  // nothing to compare against: the file as it is now becomes expected
  HANGAR_ASSIGN(std::string digest, hash_and_compare(registry, *rec, {}, nullptr));
  if (!before.empty() && before != digest)
    log_info("model '" + id + "': accepted the replaced file (sha256 " + before + " -> " + digest + ")");
  return digest;
}

}  // namespace hangar::manager
