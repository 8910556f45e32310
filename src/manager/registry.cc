// Registry: SQLite-backed model catalogue with an in-memory copy for lookups.
#include "manager/registry.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "manager/model_inspect.h"
#include "manager/sqlite_db.h"

namespace hangar::manager {
namespace fs = std::filesystem;
namespace {

// PRAGMA application_id marks the file as ours ("HNGR"); user_version is the schema version.
constexpr int64_t kApplicationId = 0x484E4752;

constexpr const char* kSchema = R"sql(
CREATE TABLE models(
  id TEXT PRIMARY KEY, path TEXT NOT NULL, present INTEGER NOT NULL, scan_error TEXT NOT NULL,
  architecture TEXT NOT NULL, n_params INTEGER NOT NULL, tensor_types TEXT NOT NULL,
  tensor_bytes INTEGER NOT NULL, context_length INTEGER NOT NULL,
  has_chat_template INTEGER NOT NULL, n_layer INTEGER NOT NULL,
  kv_elems_per_token INTEGER NOT NULL, file_size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
  sha256 TEXT NOT NULL, sha256_size INTEGER NOT NULL, sha256_mtime_ns INTEGER NOT NULL,
  access_count INTEGER NOT NULL, last_access_ms INTEGER NOT NULL, load_count INTEGER NOT NULL,
  last_load_ms INTEGER NOT NULL, added_ms INTEGER NOT NULL);
CREATE TABLE preload(position INTEGER NOT NULL, id TEXT PRIMARY KEY);
)sql";

// Added after schema version 1 shipped; created when missing, so older state files open as
// they are (an older hangar ignores the table).
constexpr const char* kSettingsTable =
    "CREATE TABLE IF NOT EXISTS api_settings(id TEXT PRIMARY KEY, toml TEXT NOT NULL)";
// Columns added after schema version 1 shipped, each added when missing: an older hangar names
// its columns in every statement, so it reads and writes such a file as before (the defaults
// fill what it does not write). absent_since_ms: when a scan first missed the file (rows of
// files gone for long are pruned); hparams: the engine's hyper-parameters (estimates without
// opening the file; empty: the next scan reads the header again).
constexpr std::pair<const char*, const char*> kAddedColumns[] = {
    {"absent_since_ms", "INTEGER NOT NULL DEFAULT 0"},
    {"hparams", "TEXT NOT NULL DEFAULT ''"},
};
constexpr int64_t kSchemaVersion = 1;
constexpr const char* kPinsTable = "CREATE TABLE IF NOT EXISTS pins(id TEXT PRIMARY KEY)";

constexpr const char* kColumns =
    "id, path, present, scan_error, architecture, n_params, tensor_types, tensor_bytes, "
    "context_length, has_chat_template, n_layer, kv_elems_per_token, file_size, mtime_ns, "
    "sha256, sha256_size, sha256_mtime_ns, access_count, last_access_ms, load_count, "
    "last_load_ms, added_ms, absent_since_ms, hparams";

std::string insert_sql() {
  return std::string("INSERT OR REPLACE INTO models (") + kColumns +
         ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
}

std::string encode_types(const std::vector<std::pair<std::string, int64_t>>& types) {
  std::string out;
  for (const auto& [name, count] : types) {
    if (!out.empty()) out += ',';
    out += name + ':' + std::to_string(count);
  }
  return out;
}

std::vector<std::pair<std::string, int64_t>> decode_types(const std::string& s) {
  std::vector<std::pair<std::string, int64_t>> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t colon = item.rfind(':');
    if (colon == std::string::npos) continue;
    out.emplace_back(item.substr(0, colon), std::atoll(item.c_str() + colon + 1));
  }
  return out;
}

struct FileStat {
  uint64_t size = 0;
  int64_t mtime_ns = 0;
};

std::optional<FileStat> stat_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  return FileStat{static_cast<uint64_t>(st.st_size),
                  int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec};
}

// Reads one integer PRAGMA; the first statement run on a file, so a non-database fails here.
Result<int64_t> pragma_int(Db& db, const std::string& name) {
  HANGAR_ASSIGN(Stmt s, db.prepare("PRAGMA " + name));
  HANGAR_ASSIGN(bool row, s.step());
  return row ? s.column_int(0) : 0;
}

// The state says which models a user has and how they use them: it is private to the user.
// The directory becomes 0700 and each state file 0600, also when they existed more open.
Status make_private(const std::string& path, mode_t mode, bool create_file) {
  if (create_file) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, mode);
    if (fd < 0) return Error("cannot create '" + path + "': " + std::strerror(errno));
    ::close(fd);
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT && !create_file) return Status::Ok();
    return Error("cannot stat '" + path + "': " + std::strerror(errno));
  }
  if ((st.st_mode & 07777) != mode && ::chmod(path.c_str(), mode) != 0)
    return Error("cannot make '" + path + "' private (mode " + (mode == 0700 ? "0700" : "0600") +
                 "): " + std::strerror(errno));
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Registry>> Registry::open(const Options& options) {
  HANGAR_ASSERT(options.wall_clock != nullptr);
  std::error_code ec;
  for (const std::string& dir : {options.state_dir, options.models_dir}) {
    fs::create_directories(dir, ec);
    if (ec) return Error("cannot create directory '" + dir + "': " + ec.message());
  }
  HANGAR_TRY(make_private(options.state_dir, 0700, false));
  std::unique_ptr<Registry> reg(new Registry());
  reg->models_dir_ = options.models_dir;
  reg->wall_ = options.wall_clock;
  reg->inspect_ = options.inspect ? options.inspect : inspect_model_file;
  reg->db_path_ = (fs::path(options.state_dir) / kDbFileName).string();

  std::string lock_path = (fs::path(options.state_dir) / "hangar.lock").string();
  reg->lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (reg->lock_fd_ < 0) {
    return Error("cannot open lock file '" + lock_path + "': " + std::strerror(errno));
  }
  if (::flock(reg->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return Error("state dir '" + options.state_dir +
                 "' is in use by another hangar process (lock held on " + lock_path + ")");
  }

  HANGAR_TRY(make_private(lock_path, 0600, false));
  // Created here with 0600 before SQLite opens it: SQLite gives its -wal and -shm files the
  // database file's mode.
  HANGAR_TRY(make_private(reg->db_path_, 0600, true));
  for (const char* suffix : {"-wal", "-shm"}) HANGAR_TRY(make_private(reg->db_path_ + suffix, 0600, false));
  HANGAR_ASSIGN(reg->db_, Db::open(reg->db_path_));
  HANGAR_TRY(reg->init_schema());
  HANGAR_TRY(reg->load_all());
  HANGAR_TRY(reg->init_footprints());
  HANGAR_TRY(reg->init_history());
  return reg;
}

Registry::~Registry() {
  if (db_) {
    Status st = flush_history();
    if (!st.ok()) log_warn("request history: " + st.error().message());
  }
  db_.reset();  // closes (and checkpoints) the database before the lock is dropped
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

Status Registry::init_schema() {
  const std::string fix = "; move it away to start with an empty state";
  auto app_id = pragma_int(*db_, "application_id");
  if (!app_id.ok()) {
    return Error(app_id.error().message() + " (the state file is corrupt or not a database" +
                 fix + ")");
  }
  {
    // Scoped: a live statement holds a read transaction, which blocks the WAL switch below.
    auto check = db_->prepare("PRAGMA quick_check");
    if (!check.ok()) return Error(check.error().message() + fix);
    auto row = check->step();
    if (!row.ok()) return Error(row.error().message() + " (the state file is corrupt" + fix + ")");
    if (*row && check->column_text(0) != "ok") {
      return Error("state file '" + db_path_ + "' is corrupt: " + check->column_text(0) + fix);
    }
  }
  HANGAR_ASSIGN(int64_t n_tables,
                pragma_int(*db_, "schema_version"));  // 0 for a file with no schema at all
  if (*app_id == 0 && n_tables == 0) {
    // A new (or empty) file: make it ours. Incremental vacuum lets maintenance hand freed
    // pages back to the file system without rewriting the file; it must precede the tables.
    HANGAR_TRY(db_->exec("PRAGMA auto_vacuum = INCREMENTAL"));
    Transaction tx(*db_);
    HANGAR_TRY(tx.begin());
    HANGAR_TRY(db_->exec(kSchema));
    HANGAR_TRY(db_->exec("PRAGMA application_id = " + std::to_string(kApplicationId)));
    HANGAR_TRY(db_->exec("PRAGMA user_version = " + std::to_string(kSchemaVersion)));
    HANGAR_TRY(tx.commit());
  } else if (*app_id != kApplicationId) {
    return Error("state file '" + db_path_ + "' is a SQLite database of another program " +
                 "(application_id " + std::to_string(*app_id) + ", expected " +
                 std::to_string(kApplicationId) + " for hangar)" + fix);
  } else {
    HANGAR_ASSIGN(int64_t version, pragma_int(*db_, "user_version"));
    if (version != kSchemaVersion) {
      return Error("state file '" + db_path_ + "' has schema version " + std::to_string(version) +
                   ", this hangar reads version " + std::to_string(kSchemaVersion) + fix);
    }
  }
  {
    std::set<std::string> have;
    {
      HANGAR_ASSIGN(Stmt info, db_->prepare("PRAGMA table_info(models)"));
      for (;;) {
        HANGAR_ASSIGN(bool row, info.step());
        if (!row) break;
        have.insert(info.column_text(1));
      }
    }
    for (const auto& [name, type] : kAddedColumns)
      if (!have.count(name)) HANGAR_TRY(db_->exec(std::string("ALTER TABLE models ADD COLUMN ") + name + " " + type));
  }
  HANGAR_TRY(db_->exec("PRAGMA journal_mode = WAL"));
  HANGAR_TRY(db_->exec("PRAGMA synchronous = NORMAL"));
  HANGAR_TRY(db_->exec(kSettingsTable));
  HANGAR_TRY(db_->exec(kPinsTable));
  return Status::Ok();
}

Status Registry::load_all() {
  std::lock_guard lock(mu_);
  HANGAR_ASSIGN(Stmt s, db_->prepare(std::string("SELECT ") + kColumns + " FROM models"));
  for (;;) {
    HANGAR_ASSIGN(bool row, s.step());
    if (!row) break;
    ModelRecord r;
    int c = 0;
    r.id = s.column_text(c++);
    r.path = s.column_text(c++);
    r.present = s.column_int(c++) != 0;
    r.scan_error = s.column_text(c++);
    r.architecture = s.column_text(c++);
    r.n_params = s.column_int(c++);
    r.tensor_types = decode_types(s.column_text(c++));
    r.tensor_bytes = static_cast<uint64_t>(s.column_int(c++));
    r.context_length = s.column_int(c++);
    r.has_chat_template = s.column_int(c++) != 0;
    r.n_layer = s.column_int(c++);
    r.kv_elems_per_token = s.column_int(c++);
    r.file_size = static_cast<uint64_t>(s.column_int(c++));
    r.mtime_ns = s.column_int(c++);
    r.sha256 = s.column_text(c++);
    r.sha256_size = static_cast<uint64_t>(s.column_int(c++));
    r.sha256_mtime_ns = s.column_int(c++);
    r.access_count = s.column_int(c++);
    r.last_access_ms = s.column_int(c++);
    r.load_count = s.column_int(c++);
    r.last_load_ms = s.column_int(c++);
    r.added_ms = s.column_int(c++);
    r.absent_since_ms = s.column_int(c++);
    const std::string hp = s.column_text(c++);
    r.hparams = decode_hparams(hp);
    r.hparams_read = !hp.empty();  // "-": read, and the file has none the engine can use
    // A row missing before its absence was timed starts its grace period now.
    if (!r.present && r.absent_since_ms == 0) r.absent_since_ms = wall_->now_unix_ms();
    r.version = version_;
    records_[r.id] = std::move(r);
  }
  HANGAR_ASSIGN(Stmt p, db_->prepare("SELECT id FROM preload ORDER BY position"));
  for (;;) {
    HANGAR_ASSIGN(bool row, p.step());
    if (!row) break;
    preload_.push_back(p.column_text(0));
  }
  HANGAR_ASSIGN(Stmt a, db_->prepare("SELECT id, toml FROM api_settings"));
  for (;;) {
    HANGAR_ASSIGN(bool row, a.step());
    if (!row) break;
    api_settings_[a.column_text(0)] = a.column_text(1);
  }
  HANGAR_ASSIGN(Stmt pins, db_->prepare("SELECT id FROM pins ORDER BY id"));
  for (;;) {
    HANGAR_ASSIGN(bool row, pins.step());
    if (!row) break;
    pins_.push_back(pins.column_text(0));
  }
  return Status::Ok();
}

Status Registry::write_record(ModelRecord& r, Stmt* insert) {
  std::optional<Stmt> own;
  if (insert == nullptr) {
    HANGAR_ASSIGN(Stmt prepared, db_->prepare(insert_sql()));
    own.emplace(std::move(prepared));
    insert = &*own;
  }
  Stmt& s = insert->reset();
  const int64_t values[] = {r.present, r.n_params, static_cast<int64_t>(r.tensor_bytes),
                            r.context_length, r.has_chat_template, r.n_layer,
                            r.kv_elems_per_token, static_cast<int64_t>(r.file_size), r.mtime_ns};
  const int64_t usage[] = {static_cast<int64_t>(r.sha256_size), r.sha256_mtime_ns, r.access_count,
                           r.last_access_ms, r.load_count, r.last_load_ms, r.added_ms,
                           r.absent_since_ms};
  // Column order as in kColumns.
  s.bind(1, r.id);
  s.bind(2, r.path);
  s.bind(3, values[0]);
  s.bind(4, r.scan_error);
  s.bind(5, r.architecture);
  s.bind(6, values[1]);
  s.bind(7, encode_types(r.tensor_types));
  for (int i = 2; i < 9; ++i) s.bind(6 + i, values[i]);  // columns 8..14
  s.bind(15, r.sha256);
  for (int i = 0; i < 8; ++i) s.bind(16 + i, usage[i]);  // columns 16..23
  s.bind(24, r.hparams ? encode_hparams(*r.hparams) : r.hparams_read ? std::string("-") : std::string());
  HANGAR_TRY(s.run());
  r.version = ++version_;
  return Status::Ok();
}

Status Registry::write_preload() {
  Transaction tx(*db_);
  HANGAR_TRY(tx.begin());
  HANGAR_TRY(db_->exec("DELETE FROM preload"));
  for (size_t i = 0; i < preload_.size(); ++i) {
    HANGAR_ASSIGN(Stmt s, db_->prepare("INSERT INTO preload (position, id) VALUES (?, ?)"));
    HANGAR_TRY(s.bind(1, static_cast<int64_t>(i)).bind(2, preload_[i]).run());
  }
  return tx.commit();
}

Result<ScanReport> Registry::scan() {
  std::lock_guard scan_lock(scan_mu_);
  std::error_code ec;
  std::map<std::string, std::pair<std::string, FileStat>> found;  // id -> path, stat
  for (fs::directory_iterator it(models_dir_, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& p = it->path();
    if (p.extension() != ".gguf") continue;
    auto st = stat_file(p.string());  // follows symlinks; skips directories
    if (!st) continue;
    found[p.stem().string()] = {p.string(), *st};
  }
  if (ec) return Error("cannot list models dir '" + models_dir_ + "': " + ec.message());

  // Comparing and writing are in-memory work and one transaction (a few milliseconds for a
  // thousand new files): the headers are read later (read_headers, get_with_header).
  ScanReport report;
  std::lock_guard lock(mu_);
  std::vector<ModelRecord> to_write;
  const int64_t now = wall_->now_unix_ms();
  for (const auto& [id, file] : found) {
    auto it = records_.find(id);
    const ModelRecord* old = it == records_.end() ? nullptr : &it->second;
    if (old && old->present && old->path == file.first && old->file_size == file.second.size &&
        old->mtime_ns == file.second.mtime_ns) {
      ++report.unchanged;
      continue;
    }
    ModelRecord rec = old ? *old : ModelRecord{};
    rec.id = id;
    rec.path = file.first;
    rec.present = true;
    rec.absent_since_ms = 0;
    rec.file_size = file.second.size;
    rec.mtime_ns = file.second.mtime_ns;
    clear_header_facts(&rec);
    if (!old) rec.added_ms = now;
    (old ? report.updated : report.added).push_back(id);
    to_write.push_back(std::move(rec));
  }
  for (auto& [id, rec] : records_) {
    if (rec.present && !found.count(id)) {
      ModelRecord gone = rec;
      gone.present = false;
      gone.absent_since_ms = now;
      report.removed.push_back(id);
      to_write.push_back(std::move(gone));
    }
  }
  if (to_write.empty()) return report;
  Transaction tx(*db_);
  HANGAR_TRY(tx.begin());
  HANGAR_ASSIGN(Stmt insert, db_->prepare(insert_sql()));
  for (ModelRecord& rec : to_write) HANGAR_TRY(write_record(rec, &insert));
  HANGAR_TRY(tx.commit());
  for (ModelRecord& rec : to_write) records_[rec.id] = std::move(rec);
  return report;
}

void Registry::read_in_parallel(std::vector<ModelRecord>& recs, std::vector<std::string>& errors,
                                size_t threads) {
  errors.assign(recs.size(), std::string());
  std::atomic<size_t> next{0};
  auto read = [&] {
    for (size_t i; (i = next.fetch_add(1)) < recs.size();) {
      Status st = inspect_(recs[i].path, &recs[i]);
      if (!st.ok()) errors[i] = st.error().message();
      recs[i].hparams_read = st.ok();
    }
  };
  std::vector<std::thread> readers;
  for (size_t t = 1; t < std::min(threads, recs.size()); ++t) readers.emplace_back(read);
  read();
  for (std::thread& t : readers) t.join();
}

bool Registry::store_header_locked(const ModelRecord& read, std::vector<ModelRecord>* writes) {
  auto it = records_.find(read.id);
  if (it == records_.end()) return false;
  const ModelRecord& now = it->second;
  // The file changed (or went) while its header was read: a later call reads it again.
  if (!now.present || !now.header_pending() || now.path != read.path || now.file_size != read.file_size ||
      now.mtime_ns != read.mtime_ns)
    return false;
  ModelRecord rec = now;  // usage counters and digests as they are now
  rec.scan_error = read.scan_error;
  rec.architecture = read.architecture;
  rec.n_params = read.n_params;
  rec.tensor_types = read.tensor_types;
  rec.tensor_bytes = read.tensor_bytes;
  rec.context_length = read.context_length;
  rec.has_chat_template = read.has_chat_template;
  rec.n_layer = read.n_layer;
  rec.kv_elems_per_token = read.kv_elems_per_token;
  rec.hparams = read.hparams;
  rec.hparams_read = read.hparams_read;
  writes->push_back(std::move(rec));
  return true;
}

Result<HeaderReport> Registry::read_headers(size_t max_files) {
  std::lock_guard headers_lock(headers_mu_);
  std::vector<ModelRecord> todo;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, rec] : records_) {
      if (todo.size() >= max_files) break;
      if (rec.present && rec.header_pending()) todo.push_back(rec);
    }
  }
  HeaderReport report;
  // Page-cache reads are CPU work: one reader per core is as fast as more.
  std::vector<std::string> errors;
  read_in_parallel(todo, errors, std::max(1u, std::thread::hardware_concurrency()));
  for (size_t i = 0; i < todo.size(); ++i) todo[i].scan_error = errors[i];
  std::lock_guard lock(mu_);
  std::vector<ModelRecord> writes;
  for (const ModelRecord& rec : todo) {
    if (!store_header_locked(rec, &writes)) continue;
    const ModelRecord& w = writes.back();
    if (w.scan_error.empty()) {
      report.read.push_back(w.id);
    } else {
      report.failed.emplace_back(w.id, w.scan_error);
    }
  }
  if (!writes.empty()) {
    Transaction tx(*db_);
    HANGAR_TRY(tx.begin());
    HANGAR_ASSIGN(Stmt insert, db_->prepare(insert_sql()));
    for (ModelRecord& rec : writes) HANGAR_TRY(write_record(rec, &insert));
    HANGAR_TRY(tx.commit());
    for (ModelRecord& rec : writes) records_[rec.id] = std::move(rec);
  }
  for (const auto& [id, rec] : records_) report.pending += rec.present && rec.header_pending();
  for (const auto& [id, why] : report.failed) log_warn("model '" + id + "': " + why);
  return report;
}

int64_t Registry::pending_headers() const {
  std::lock_guard lock(mu_);
  int64_t n = 0;
  for (const auto& [id, rec] : records_) n += rec.present && rec.header_pending();
  return n;
}

std::optional<ModelRecord> Registry::get_with_header(const std::string& id) {
  std::optional<ModelRecord> rec = get(id);
  if (!rec || !rec->present || !rec->header_pending()) return rec;
  ModelRecord read = *rec;
  Status st = inspect_(read.path, &read);
  read.scan_error = st.ok() ? std::string() : st.error().message();
  read.hparams_read = st.ok();
  std::lock_guard lock(mu_);
  std::vector<ModelRecord> writes;
  if (store_header_locked(read, &writes)) {
    ModelRecord& w = writes.back();
    Status written = write_record(w);
    if (!written.ok()) log_warn("model '" + id + "': cannot store its header facts: " + written.error().message());
    if (!w.scan_error.empty()) log_warn("model '" + id + "': " + w.scan_error);
    records_[id] = w;
    return w;
  }
  // Filled meanwhile (the background reader), or the file changed: what is known now.
  auto it = records_.find(id);
  if (it == records_.end()) return std::nullopt;
  return it->second;
}

uint64_t Registry::version() const {
  std::lock_guard lock(mu_);
  return version_;
}

std::vector<std::pair<std::string, uint64_t>> Registry::versions() const {
  std::lock_guard lock(mu_);
  std::vector<std::pair<std::string, uint64_t>> out;
  out.reserve(records_.size());
  for (const auto& [id, rec] : records_)
    if (rec.present) out.emplace_back(id, rec.version);
  return out;
}

std::vector<ModelRecord> Registry::list(bool include_absent) const {
  std::lock_guard lock(mu_);
  std::vector<ModelRecord> out;
  for (const auto& [id, rec] : records_) {
    if (rec.present || include_absent) out.push_back(rec);
  }
  return out;
}

std::optional<ModelRecord> Registry::get(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = records_.find(id);
  if (it == records_.end()) return std::nullopt;
  return it->second;
}

Result<ModelRecord*> Registry::find_locked(const std::string& id) {
  auto it = records_.find(id);
  if (it == records_.end()) return Error("unknown model '" + id + "'");
  return &it->second;
}

Status Registry::record_access(const std::string& id) {
  std::lock_guard lock(mu_);
  HANGAR_ASSIGN(ModelRecord * rec, find_locked(id));
  rec->access_count += 1;
  rec->last_access_ms = wall_->now_unix_ms();
  return write_record(*rec);
}

Status Registry::record_load(const std::string& id, int64_t load_ms) {
  std::lock_guard lock(mu_);
  HANGAR_ASSIGN(ModelRecord * rec, find_locked(id));
  rec->load_count += 1;
  rec->last_load_ms = load_ms;
  return write_record(*rec);
}

Status Registry::set_digest(const std::string& id, const std::string& sha256, uint64_t size,
                            int64_t mtime_ns) {
  std::lock_guard lock(mu_);
  HANGAR_ASSIGN(ModelRecord * rec, find_locked(id));
  rec->sha256 = sha256;
  rec->sha256_size = size;
  rec->sha256_mtime_ns = mtime_ns;
  return write_record(*rec);
}

Status Registry::clear_digest(const std::string& id) { return set_digest(id, "", 0, 0); }

Result<std::vector<std::string>> Registry::prune_absent(int64_t absent_before_ms) {
  std::lock_guard lock(mu_);
  std::vector<std::string> ids;
  for (const auto& [id, rec] : records_)
    if (!rec.present && rec.absent_since_ms > 0 && rec.absent_since_ms < absent_before_ms) ids.push_back(id);
  if (ids.empty()) return ids;
  const size_t preload_before = preload_.size();
  std::erase_if(preload_, [&](const std::string& p) { return std::binary_search(ids.begin(), ids.end(), p); });
  Transaction tx(*db_);
  HANGAR_TRY(tx.begin());
  for (const std::string& id : ids) {
    HANGAR_ASSIGN(Stmt s, db_->prepare("DELETE FROM models WHERE id = ?"));
    HANGAR_TRY(s.bind(1, id).run());
  }
  if (preload_.size() != preload_before) {
    HANGAR_TRY(db_->exec("DELETE FROM preload"));
    for (size_t i = 0; i < preload_.size(); ++i) {
      HANGAR_ASSIGN(Stmt s, db_->prepare("INSERT INTO preload (position, id) VALUES (?, ?)"));
      HANGAR_TRY(s.bind(1, static_cast<int64_t>(i)).bind(2, preload_[i]).run());
    }
  }
  HANGAR_TRY(tx.commit());
  for (const std::string& id : ids) records_.erase(id);
  return ids;
}

Result<Registry::Maintenance> Registry::maintain() {
  std::lock_guard lock(mu_);
  Maintenance m;
  const std::string wal = db_path_ + "-wal";
  std::error_code ec;
  auto wal_size = [&] {
    const auto n = fs::file_size(wal, ec);
    return ec ? int64_t{0} : static_cast<int64_t>(n);
  };
  m.wal_bytes_before = wal_size();
  HANGAR_TRY(db_->exec("PRAGMA optimize"));
  HANGAR_ASSIGN(m.page_size, pragma_int(*db_, "page_size"));
  HANGAR_ASSIGN(int64_t free_before, pragma_int(*db_, "freelist_count"));
  {
    // Each step of the statement frees one page; it must run to completion.
    HANGAR_ASSIGN(Stmt vacuum, db_->prepare("PRAGMA incremental_vacuum"));
    for (;;) {
      HANGAR_ASSIGN(bool row, vacuum.step());
      if (!row) break;
    }
  }
  HANGAR_ASSIGN(int64_t free_after, pragma_int(*db_, "freelist_count"));
  m.pages_freed = std::max<int64_t>(free_before - free_after, 0);
  {
    HANGAR_ASSIGN(Stmt checkpoint, db_->prepare("PRAGMA wal_checkpoint(TRUNCATE)"));
    HANGAR_ASSIGN(bool row, checkpoint.step());
    (void)row;
  }
  m.wal_bytes_after = wal_size();
  return m;
}

std::vector<std::string> Registry::preload_list() const {
  std::lock_guard lock(mu_);
  return preload_;
}

Status Registry::set_preload_list(const std::vector<std::string>& ids) {
  std::lock_guard lock(mu_);
  std::vector<std::string> next;
  for (const std::string& id : ids) {
    auto it = records_.find(id);
    if (it == records_.end() || !it->second.present) {
      return Error("preload list: unknown model '" + id + "'");
    }
    if (std::find(next.begin(), next.end(), id) == next.end()) next.push_back(id);
  }
  preload_ = std::move(next);
  return write_preload();
}

Status Registry::add_preload(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = records_.find(id);
  if (it == records_.end() || !it->second.present) {
    return Error("preload list: unknown model '" + id + "'");
  }
  if (std::find(preload_.begin(), preload_.end(), id) != preload_.end()) return Status::Ok();
  preload_.push_back(id);
  return write_preload();
}

Status Registry::remove_preload(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = std::find(preload_.begin(), preload_.end(), id);
  if (it == preload_.end()) return Error("preload list: model '" + id + "' is not on it");
  preload_.erase(it);
  return write_preload();
}

std::map<std::string, std::string> Registry::api_settings() const {
  std::lock_guard lock(mu_);
  return api_settings_;
}

Status Registry::set_api_settings(const std::string& id, const std::string& toml) {
  std::lock_guard lock(mu_);
  if (toml.empty()) {
    HANGAR_ASSIGN(Stmt s, db_->prepare("DELETE FROM api_settings WHERE id = ?"));
    HANGAR_TRY(s.bind(1, id).run());
    api_settings_.erase(id);
    return Status::Ok();
  }
  HANGAR_ASSIGN(Stmt s, db_->prepare("INSERT OR REPLACE INTO api_settings (id, toml) VALUES (?, ?)"));
  HANGAR_TRY(s.bind(1, id).bind(2, toml).run());
  api_settings_[id] = toml;
  return Status::Ok();
}

std::vector<std::string> Registry::pinned() const {
  std::lock_guard lock(mu_);
  return pins_;
}

Status Registry::set_pinned(const std::string& id, bool pinned) {
  std::lock_guard lock(mu_);
  auto it = std::lower_bound(pins_.begin(), pins_.end(), id);
  const bool present = it != pins_.end() && *it == id;
  if (pinned == present) return Status::Ok();
  if (pinned && !records_.count(id)) return Error("unknown model '" + id + "'");
  HANGAR_ASSIGN(Stmt s, db_->prepare(pinned ? "INSERT INTO pins (id) VALUES (?)" : "DELETE FROM pins WHERE id = ?"));
  HANGAR_TRY(s.bind(1, id).run());
  if (pinned) pins_.insert(it, id);
  else pins_.erase(it);
  return Status::Ok();
}

}  // namespace hangar::manager
