// A thin RAII wrapper over one SQLite connection and its prepared statements.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/result.h"

struct sqlite3;
struct sqlite3_stmt;

namespace hangar::manager {

class Db;

// One prepared statement; bind indexes start at 1 as in SQLite. Not thread-safe: used under
// the owner's lock.
class Stmt {
 public:
  Stmt(Stmt&& other) noexcept;
  Stmt& operator=(Stmt&&) = delete;
  Stmt(const Stmt&) = delete;
  ~Stmt();

  Stmt& bind(int i, int64_t v);
  Stmt& bind(int i, const std::string& v);
  Stmt& bind_null(int i);
  // Returns true when a row is available, false when done; an error names the SQL.
  Result<bool> step();
  // Runs to completion (for statements without rows).
  Status run();
  // Makes the statement ready to bind and run again (a batch of writes prepares it once).
  Stmt& reset();

  int64_t column_int(int i) const;
  std::string column_text(int i) const;
  bool column_is_null(int i) const;

 private:
  friend class Db;
  Stmt(sqlite3_stmt* s, const Db* db) : stmt_(s), db_(db) {}
  sqlite3_stmt* stmt_;
  const Db* db_;
};

// Owns the connection; movable via unique_ptr only. Not thread-safe by itself.
class Db {
 public:
  // Opens (creating if absent) the database file. A file that is not SQLite fails here or
  // at the first statement, with an error naming the path.
  static Result<std::unique_ptr<Db>> open(const std::string& path);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  Status exec(const std::string& sql);
  Result<Stmt> prepare(const std::string& sql);
  const std::string& path() const { return path_; }
  // The connection's latest error message, prefixed by the file path.
  std::string last_error() const;

 private:
  Db(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
};

// RAII transaction: commits on commit(), rolls back otherwise.
class Transaction {
 public:
  explicit Transaction(Db& db) : db_(db) {}
  ~Transaction();
  Status begin();
  Status commit();

 private:
  Db& db_;
  bool open_ = false;
};

}  // namespace hangar::manager
