// ModelRecord and the manager's small enums (model state, eviction policy, preload strategy).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model/hparams.h"

namespace hangar::manager {

// What the registry knows about one model file; a plain value, copied freely.
struct ModelRecord {
  std::string id;    // file name without ".gguf"
  std::string path;  // absolute or as given by the models dir
  bool present = false;  // the file was found by the last scan
  std::string scan_error;  // non-empty when the file is not a readable GGUF

  // From the GGUF header (see model_inspect.h).
  std::string architecture;
  int64_t n_params = 0;  // sum of tensor element counts
  std::vector<std::pair<std::string, int64_t>> tensor_types;  // ggml type name -> tensor count
  uint64_t tensor_bytes = 0;  // bytes of all tensor data (the weights)
  int64_t context_length = 0;
  bool has_chat_template = false;
  int64_t n_layer = 0;
  int64_t kv_elems_per_token = 0;  // K and V elements one token adds to the cache, all layers
  // The engine's hyper-parameters, read at scan so that memory estimates never open the file;
  // empty when the architecture is unknown or its keys are invalid (the load will say why).
  std::optional<model::HParams> hparams;
  bool hparams_read = false;  // the header was read (false: not yet, or a record from before)

  // The file is registered (from stat alone) but its header is not read yet: the fields above
  // are empty. The registry reads it in the background, or on demand (get_with_header).
  bool header_pending() const { return !hparams_read && scan_error.empty(); }

  uint64_t file_size = 0;
  int64_t mtime_ns = 0;

  // Integrity: the digest and the file size/mtime it was computed for. Empty until hashed.
  std::string sha256;
  uint64_t sha256_size = 0;
  int64_t sha256_mtime_ns = 0;

  // Usage, persisted across restarts. Times are wall-clock milliseconds since the epoch.
  int64_t access_count = 0;
  int64_t last_access_ms = 0;  // 0 = never
  int64_t load_count = 0;
  int64_t last_load_ms = 0;  // duration of the most recent load
  int64_t added_ms = 0;
  int64_t absent_since_ms = 0;  // when a scan first missed the file (0 while present)

  // Not persisted: the registry's change counter when this record last changed, so that a
  // reader can tell which records changed since it last looked (Registry::version()).
  uint64_t version = 0;
};

// Empties what the header told (architecture, sizes, hparams): the file is new or changed and
// its header is to be read again.
void clear_header_facts(ModelRecord* rec);

enum class ModelState { kUnloaded, kLoading, kLoaded };
const char* model_state_name(ModelState s);

enum class EvictionPolicy { kLru, kLfu, kFifo, kCost };
const char* eviction_policy_name(EvictionPolicy p);
// Parses "lru", "lfu", "fifo" or "cost" (case-insensitive).
std::optional<EvictionPolicy> parse_eviction_policy(std::string_view s);

// kLearned: the preload list loads in sequence, and the learned preloader adds predictions.
enum class PreloadStrategy { kSequential, kFrequency, kRecency, kSize, kLearned };
const char* preload_strategy_name(PreloadStrategy s);
// Parses "sequential", "frequency", "recency", "size" or "learned" (case-insensitive).
std::optional<PreloadStrategy> parse_preload_strategy(std::string_view s);

}  // namespace hangar::manager
