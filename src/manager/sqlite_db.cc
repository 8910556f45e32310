// SQLite wrapper: errors become Error values naming the database file.
#include "manager/sqlite_db.h"

#include <sqlite3.h>

namespace hangar::manager {

Stmt::Stmt(Stmt&& other) noexcept : stmt_(other.stmt_), db_(other.db_) { other.stmt_ = nullptr; }

Stmt::~Stmt() {
  if (stmt_ != nullptr) sqlite3_finalize(stmt_);
}

Stmt& Stmt::bind(int i, int64_t v) {
  HANGAR_ASSERT(sqlite3_bind_int64(stmt_, i, v) == SQLITE_OK);
  return *this;
}

Stmt& Stmt::bind(int i, const std::string& v) {
  HANGAR_ASSERT(sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()),
                                  SQLITE_TRANSIENT) == SQLITE_OK);
  return *this;
}

Stmt& Stmt::bind_null(int i) {
  HANGAR_ASSERT(sqlite3_bind_null(stmt_, i) == SQLITE_OK);
  return *this;
}

Result<bool> Stmt::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  std::string sql = sqlite3_sql(stmt_) ? sqlite3_sql(stmt_) : "?";
  return Error(db_->last_error() + " (while running: " + sql + ")");
}

Status Stmt::run() {
  for (;;) {
    HANGAR_ASSIGN(bool row, step());
    if (!row) return Status::Ok();
  }
}

Stmt& Stmt::reset() {
  sqlite3_reset(stmt_);  // its result repeats the last step's, already reported
  sqlite3_clear_bindings(stmt_);
  return *this;
}

int64_t Stmt::column_int(int i) const { return sqlite3_column_int64(stmt_, i); }

std::string Stmt::column_text(int i) const {
  const unsigned char* t = sqlite3_column_text(stmt_, i);
  if (t == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(t),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, i)));
}

bool Stmt::column_is_null(int i) const { return sqlite3_column_type(stmt_, i) == SQLITE_NULL; }

Result<std::unique_ptr<Db>> Db::open(const std::string& path) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    sqlite3_close(raw);
    return Error("state file '" + path + "': cannot open: " + msg);
  }
  sqlite3_busy_timeout(raw, 5000);
  sqlite3_extended_result_codes(raw, 1);
  return std::unique_ptr<Db>(new Db(raw, path));
}

Db::~Db() { sqlite3_close(db_); }

std::string Db::last_error() const {
  return "state file '" + path_ + "': " + sqlite3_errmsg(db_);
}

Status Db::exec(const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    return Error("state file '" + path_ + "': " + msg);
  }
  return Status::Ok();
}

Result<Stmt> Db::prepare(const std::string& sql) {
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &s, nullptr);
  if (rc != SQLITE_OK) return Error(last_error() + " (while preparing: " + sql + ")");
  return Stmt(s, this);
}

Transaction::~Transaction() {
  if (open_) (void)db_.exec("ROLLBACK");
}

Status Transaction::begin() {
  HANGAR_TRY(db_.exec("BEGIN IMMEDIATE"));
  open_ = true;
  return Status::Ok();
}

Status Transaction::commit() {
  HANGAR_ASSERT(open_);
  open_ = false;
  return db_.exec("COMMIT");
}

}  // namespace hangar::manager
