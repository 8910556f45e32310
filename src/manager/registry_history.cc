// Registry: the request history (the request_history table) that the learned preloader reads.
#include "manager/registry.h"
#include "manager/sqlite_db.h"

namespace hangar::manager {
namespace {

// Added after schema version 1 without a version bump, as the footprints table was: earlier
// builds ignore it.
constexpr const char* kHistorySchema =
    "CREATE TABLE IF NOT EXISTS request_history(seq INTEGER PRIMARY KEY, id TEXT NOT NULL, at_ms INTEGER NOT NULL)";

}  // namespace

Status Registry::init_history() {
  HANGAR_TRY(db_->exec(kHistorySchema));
  std::lock_guard lock(mu_);
  HANGAR_ASSIGN(Stmt s, db_->prepare("SELECT count(*) FROM request_history"));
  HANGAR_ASSIGN(bool row, s.step());
  history_rows_ = row ? s.column_int(0) : 0;
  return Status::Ok();
}

Status Registry::record_request(const std::string& id, int64_t at_ms) {
  std::lock_guard lock(mu_);
  history_buffer_.push_back({id, at_ms});
  ++history_rows_;
  if (history_buffer_.size() < kHistoryBatch) return Status::Ok();
  return flush_history_locked();
}

Status Registry::flush_history() {
  std::lock_guard lock(mu_);
  return flush_history_locked();
}

Status Registry::flush_history_locked() {
  if (history_buffer_.empty()) return Status::Ok();
  std::vector<RequestEvent> rows;
  rows.swap(history_buffer_);  // written or, on error, dropped: the buffer never grows unbounded
  auto write = [&]() -> Status {
    Transaction tx(*db_);
    HANGAR_TRY(tx.begin());
    HANGAR_ASSIGN(Stmt s, db_->prepare("INSERT INTO request_history (id, at_ms) VALUES (?, ?)"));
    for (const RequestEvent& e : rows) HANGAR_TRY(s.reset().bind(1, e.id).bind(2, e.at_ms).run());
    return tx.commit();
  };
  Status st = write();
  if (!st.ok()) {
    history_rows_ -= static_cast<int64_t>(rows.size());
    return st.error().context(std::to_string(rows.size()) + " request history rows not written");
  }
  return Status::Ok();
}

Result<std::vector<Registry::RequestEvent>> Registry::request_history() const {
  std::lock_guard lock(mu_);
  HANGAR_ASSIGN(Stmt s, db_->prepare("SELECT id, at_ms FROM request_history ORDER BY seq"));
  std::vector<RequestEvent> out;
  for (;;) {
    HANGAR_ASSIGN(bool row, s.step());
    if (!row) break;
    out.push_back({s.column_text(0), s.column_int(1)});
  }
  out.insert(out.end(), history_buffer_.begin(), history_buffer_.end());
  return out;
}

Result<int64_t> Registry::prune_history(int64_t keep) {
  std::lock_guard lock(mu_);
  HANGAR_TRY(flush_history_locked());
  if (history_rows_ <= keep) return int64_t{0};
  HANGAR_ASSIGN(Stmt s, db_->prepare("DELETE FROM request_history WHERE seq <= "
                                     "(SELECT seq FROM request_history ORDER BY seq DESC LIMIT 1 OFFSET ?)"));
  s.bind(1, keep);
  HANGAR_TRY(s.run());
  HANGAR_ASSIGN(Stmt c, db_->prepare("SELECT count(*) FROM request_history"));
  HANGAR_ASSIGN(bool row, c.step());
  const int64_t before = history_rows_;
  history_rows_ = row ? c.column_int(0) : 0;
  return before - history_rows_;
}

Status Registry::clear_history() {
  std::lock_guard lock(mu_);
  HANGAR_TRY(db_->exec("DELETE FROM request_history"));
  history_buffer_.clear();
  history_rows_ = 0;
  return Status::Ok();
}

int64_t Registry::history_size() const {
  std::lock_guard lock(mu_);
  return history_rows_;
}

}  // namespace hangar::manager
