// KvStore: the index of saved prefixes, their restore into the KV cache, saving and the budget.
#include "engine/kv_store.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <ctime>
#include <cstdio>
#include <filesystem>
#include <system_error>

#include "base/log.h"

namespace fs = std::filesystem;

namespace hangar::engine {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::string KvStore::file_name(const KvModelIdentity& model, const std::string& layout,
                               std::span<const TokenId> tokens) {
  std::string key = model.path;
  key += '\0';
  key += layout;
  key += '\0';
  key.append(reinterpret_cast<const char*>(tokens.data()), tokens.size_bytes());
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx",
                static_cast<unsigned long long>(kv_checksum(reinterpret_cast<const uint8_t*>(key.data()), key.size())));
  return std::string(hex) + ".kv";
}

Result<std::unique_ptr<KvStore>> KvStore::open(KvStoreOptions options) {
  std::error_code ec;
  fs::create_directories(options.dir, ec);
  if (ec) return Error("KV store: cannot create '" + options.dir + "': " + ec.message());
  if (!fs::is_directory(options.dir, ec)) return Error("KV store: '" + options.dir + "' is not a directory");
  std::unique_ptr<KvStore> store(new KvStore(std::move(options)));
  store->scan();
  return store;
}

void KvStore::scan() {
  std::vector<std::pair<int64_t, std::string>> by_mtime;
  std::error_code ec;
  std::lock_guard lock(mu_);
  for (const fs::directory_entry& de : fs::directory_iterator(options_.dir, ec)) {
    const std::string name = de.path().filename().string();
    if (!de.is_regular_file(ec)) continue;
    if (ends_with(name, ".tmp")) {  // a save that a crash interrupted
      fs::remove(de.path(), ec);
      continue;
    }
    if (!ends_with(name, ".kv")) continue;
    Result<KvFileReader> r = KvFileReader::open(de.path().string());
    std::string why;
    if (!r.ok()) {
      why = r.error().message();
    } else if (file_name(r->header().model, r->header().layout, r->header().tokens) != name) {
      why = "'" + de.path().string() + "': its contents do not match its name (a foreign file)";
    }
    if (!why.empty()) {
      log_warn("KV store: ignoring and deleting " + why);
      fs::remove(de.path(), ec);
      ++stats_.rejected;
      continue;
    }
    struct stat st {};
    int64_t mtime = 0;
    if (::stat(de.path().c_str(), &st) == 0) mtime = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    Entry e;
    e.header = r->header();
    e.bytes = e.header.file_bytes();
    total_bytes_ += e.bytes;
    by_mtime.emplace_back(mtime, name);
    last_stamp_ns_ = std::max(last_stamp_ns_, mtime);
    entries_.emplace(name, std::move(e));
  }
  std::sort(by_mtime.begin(), by_mtime.end());
  for (const auto& [mtime, name] : by_mtime) entries_[name].last_used = ++use_counter_;
  enforce_budget_locked();  // the budget may have shrunk since the last run
}

void KvStore::drop_locked(const std::string& name, const std::string& why, Drop kind) {
  auto it = entries_.find(name);
  if (it == entries_.end()) return;
  if (kind == Drop::kRejected) log_warn("KV store: ignoring and deleting " + why);
  std::error_code ec;
  fs::remove(path_of(name), ec);
  total_bytes_ -= it->second.bytes;
  entries_.erase(it);
  if (kind == Drop::kRejected) ++stats_.rejected;
  if (kind == Drop::kEvicted) ++stats_.evicted;
}

void KvStore::touch_locked(const std::string& name) {
  auto it = entries_.find(name);
  if (it == entries_.end()) return;
  it->second.last_used = ++use_counter_;
  // The file's mtime carries the order across restarts. File times tick coarsely (a few ms),
  // so each use gets a strictly later stamp than the one before.
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  last_stamp_ns_ = std::max(last_stamp_ns_ + 1, int64_t(now.tv_sec) * 1000000000 + now.tv_nsec);
  const timespec times[2] = {{last_stamp_ns_ / 1000000000, last_stamp_ns_ % 1000000000},
                             {last_stamp_ns_ / 1000000000, last_stamp_ns_ % 1000000000}};
  ::utimensat(AT_FDCWD, path_of(name).c_str(), times, 0);
}

void KvStore::enforce_budget_locked() {
  while (total_bytes_ > options_.budget_bytes && !entries_.empty()) {
    auto oldest = std::min_element(entries_.begin(), entries_.end(), [](const auto& a, const auto& b) {
      return a.second.last_used < b.second.last_used;
    });
    drop_locked(oldest->first, "", Drop::kEvicted);
  }
}

KvMatch KvStore::find(const KvModelIdentity& model, const std::string& layout, std::span<const TokenId> prompt,
                      int32_t max_len) {
  std::lock_guard lock(mu_);
  KvMatch best;
  std::vector<std::string> stale;
  for (const auto& [name, e] : entries_) {
    if (!same_model(e.header.model, model)) {
      if (e.header.model.path == model.path) stale.push_back(name);
      continue;
    }
    if (e.header.layout != layout) continue;
    const int32_t n = std::min(common_prefix(e.header.tokens, prompt), max_len);
    if (n > best.n_tokens) best = KvMatch{name, n};
  }
  for (const std::string& name : stale)
    drop_locked(name, "'" + path_of(name) + "': the model file changed since it was saved (stale)", Drop::kRejected);
  if (best.n_tokens < options_.min_tokens) return KvMatch{};
  return best;
}

Status KvStore::restore(const KvMatch& match, const KvModelIdentity& model, const std::string& layout,
                        model::KvCache& kv, Sequence& out) {
  HANGAR_ASSERT(!match.file.empty() && match.n_tokens > 0 && out.n_past() == 0);
  Result<KvFileReader> r = KvFileReader::open(path_of(match.file));
  auto reject = [&](const std::string& why) {
    std::lock_guard lock(mu_);
    drop_locked(match.file, why, Drop::kRejected);
    return Error("KV store: " + why);
  };
  if (!r.ok()) {
    std::lock_guard lock(mu_);
    if (entries_.count(match.file) == 0) return Error("KV store: '" + match.file + "' was evicted");
    drop_locked(match.file, r.error().message(), Drop::kRejected);
    return Error("KV store: " + r.error().message());
  }
  const KvFileHeader& h = r->header();
  if (!same_model(h.model, model) || h.layout != layout)
    return reject("'" + path_of(match.file) + "' was saved for another model or layout");
  if (h.block_tokens != kv.block_tokens() || h.n_layer != kv.n_layer() || h.kv_dim != kv.kv_dim())
    return reject("'" + path_of(match.file) + "' has blocks of another shape than this model's KV cache");
  if (match.n_tokens > h.n_tokens()) return reject("'" + path_of(match.file) + "' holds fewer tokens than indexed");
  const int32_t bt = kv.block_tokens();
  const int32_t n_blocks = (match.n_tokens + bt - 1) / bt;
  if (kv.n_free_blocks() < n_blocks)
    return Error("KV store: " + std::to_string(n_blocks) + " free KV blocks needed, " +
                 std::to_string(kv.n_free_blocks()) + " free");
  std::vector<int32_t> blocks;
  blocks.reserve(n_blocks);
  for (int32_t i = 0; i < n_blocks; ++i) blocks.push_back(kv.allocate());
  Status st = r->read_blocks(n_blocks, [&](int32_t b, int32_t slots, const uint8_t* data) {
    kv.write_block(blocks[b], slots, data);
  });
  if (!st.ok()) {
    for (int32_t b : blocks) kv.release(b);
    return reject(st.error().message());
  }
  out.adopt(kv, std::vector<TokenId>(h.tokens.begin(), h.tokens.begin() + match.n_tokens), std::move(blocks));
  std::lock_guard lock(mu_);
  touch_locked(match.file);
  ++stats_.restores;
  stats_.restored_tokens += match.n_tokens;
  return Status::Ok();
}

int KvStore::save(const KvModelIdentity& model, const std::string& layout, std::span<const Sequence* const> seqs,
                  const model::KvCache& kv) {
  int written = 0;
  uint64_t batch_bytes = 0;
  for (const Sequence* seq : seqs) {
    if (seq->n_past() < options_.min_tokens) continue;
    KvFileHeader h;
    h.model = model;
    h.layout = layout;
    h.block_tokens = kv.block_tokens();
    h.n_layer = kv.n_layer();
    h.kv_dim = kv.kv_dim();
    h.tokens = seq->tokens();
    const std::string name = file_name(model, layout, h.tokens);
    {
      std::lock_guard lock(mu_);
      // Already on disk, whole or as the prefix of a longer file: only its use counts.
      std::string holder;
      for (const auto& [n, e] : entries_)
        if (same_model(e.header.model, model) && e.header.layout == layout &&
            e.header.n_tokens() >= h.n_tokens() && common_prefix(e.header.tokens, h.tokens) == h.n_tokens()) {
          holder = n;
          break;
        }
      if (!holder.empty()) {
        touch_locked(holder);
        continue;
      }
    }
    h.header_bytes = 0;
    const uint64_t bytes = h.file_bytes();  // payload only: the header is small
    if (batch_bytes + bytes > options_.budget_bytes) continue;
    batch_bytes += bytes;
    const std::vector<int32_t>& blocks = seq->blocks();
    Result<KvFileHeader> saved =
        write_kv_file(path_of(name), std::move(h),
                      [&](int32_t b, int32_t slots, uint8_t* dst) { kv.read_block(blocks[b], slots, dst); });
    std::lock_guard lock(mu_);
    if (!saved.ok()) {
      log_warn(saved.error().message());
      ++stats_.save_failures;
      continue;
    }
    // Saved prefixes of this one serve nothing it cannot.
    std::vector<std::string> covered;
    for (const auto& [n, e] : entries_)
      if (n != name && same_model(e.header.model, model) && e.header.layout == layout &&
          common_prefix(e.header.tokens, saved->tokens) == e.header.n_tokens())
        covered.push_back(n);
    for (const std::string& n : covered) drop_locked(n, "", Drop::kSuperseded);
    auto [it, fresh] = entries_.try_emplace(name);
    if (!fresh) total_bytes_ -= it->second.bytes;
    it->second.header = std::move(*saved);
    it->second.bytes = it->second.header.file_bytes();
    total_bytes_ += it->second.bytes;
    touch_locked(name);
    ++stats_.saves;
    stats_.saved_bytes += it->second.bytes;
    ++written;
    enforce_budget_locked();
  }
  return written;
}

KvStoreStats KvStore::stats() const {
  std::lock_guard lock(mu_);
  KvStoreStats s = stats_;
  s.files = static_cast<int64_t>(entries_.size());
  s.bytes = total_bytes_;
  return s;
}

}  // namespace hangar::engine
