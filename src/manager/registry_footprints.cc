// Registry: measured footprints per model and load settings (the footprints table).
#include <algorithm>

#include "manager/registry.h"
#include "manager/sqlite_db.h"

namespace hangar::manager {
namespace {

// Added after schema version 1 without a version bump: CREATE IF NOT EXISTS keeps files of
// earlier builds readable, and earlier builds ignore the table.
constexpr const char* kFootprintSchema = R"sql(
CREATE TABLE IF NOT EXISTS footprints(
  id TEXT NOT NULL, settings TEXT NOT NULL, file_size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
  measured_bytes INTEGER NOT NULL, estimated_bytes INTEGER NOT NULL, measured_at_ms INTEGER NOT NULL,
  PRIMARY KEY (id, settings));
)sql";

bool same_version(const Footprint& f, const ModelRecord& rec) {
  return f.file_size == rec.file_size && f.mtime_ns == rec.mtime_ns;
}

}  // namespace

Status Registry::init_footprints() {
  HANGAR_TRY(db_->exec(kFootprintSchema));
  std::lock_guard lock(mu_);
  HANGAR_ASSIGN(Stmt s, db_->prepare("SELECT id, settings, file_size, mtime_ns, measured_bytes, estimated_bytes, "
                                     "measured_at_ms FROM footprints"));
  for (;;) {
    HANGAR_ASSIGN(bool row, s.step());
    if (!row) break;
    Footprint f;
    const std::string id = s.column_text(0);
    f.settings = s.column_text(1);
    f.file_size = static_cast<uint64_t>(s.column_int(2));
    f.mtime_ns = s.column_int(3);
    f.measured_bytes = static_cast<uint64_t>(s.column_int(4));
    f.estimated_bytes = static_cast<uint64_t>(s.column_int(5));
    f.measured_at_ms = s.column_int(6);
    footprints_[id].push_back(std::move(f));
  }
  return Status::Ok();
}

Status Registry::record_footprint(const std::string& id, const Footprint& measured) {
  Footprint f = measured;
  f.measured_at_ms = wall_->now_unix_ms();
  std::lock_guard lock(mu_);
  HANGAR_ASSIGN(ModelRecord * rec, find_locked(id));
  HANGAR_ASSIGN(Stmt s, db_->prepare("INSERT OR REPLACE INTO footprints (id, settings, file_size, mtime_ns, "
                                     "measured_bytes, estimated_bytes, measured_at_ms) VALUES (?,?,?,?,?,?,?)"));
  s.bind(1, id).bind(2, f.settings).bind(3, static_cast<int64_t>(f.file_size)).bind(4, f.mtime_ns);
  s.bind(5, static_cast<int64_t>(f.measured_bytes)).bind(6, static_cast<int64_t>(f.estimated_bytes));
  s.bind(7, f.measured_at_ms);
  HANGAR_TRY(s.run());
  std::vector<Footprint>& list = footprints_[id];
  list.erase(std::remove_if(list.begin(), list.end(), [&](const Footprint& x) { return x.settings == f.settings; }),
             list.end());
  list.push_back(f);
  rec->version = ++version_;  // the model's object shows its footprint (ModelList)
  return Status::Ok();
}

std::optional<Footprint> Registry::footprint(const std::string& id, const std::string& settings) const {
  std::lock_guard lock(mu_);
  auto rec = records_.find(id);
  auto it = footprints_.find(id);
  if (rec == records_.end() || it == footprints_.end()) return std::nullopt;
  for (const Footprint& f : it->second)
    if (f.settings == settings && same_version(f, rec->second)) return f;
  return std::nullopt;
}

std::vector<Footprint> Registry::footprints(const std::string& id) const {
  std::lock_guard lock(mu_);
  std::vector<Footprint> out;
  auto rec = records_.find(id);
  auto it = footprints_.find(id);
  if (rec == records_.end() || it == footprints_.end()) return out;
  for (const Footprint& f : it->second)
    if (same_version(f, rec->second)) out.push_back(f);
  std::sort(out.begin(), out.end(),
            [](const Footprint& a, const Footprint& b) { return a.measured_at_ms > b.measured_at_ms; });
  return out;
}

}  // namespace hangar::manager
