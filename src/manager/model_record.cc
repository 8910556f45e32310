// ModelRecord helpers; names and parsers for the manager's enums.
#include "manager/model_record.h"

#include <algorithm>
#include <cctype>
#include <string>

namespace hangar::manager {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

void clear_header_facts(ModelRecord* rec) {
  rec->scan_error.clear();
  rec->architecture.clear();
  rec->n_params = 0;
  rec->tensor_types.clear();
  rec->tensor_bytes = 0;
  rec->context_length = 0;
  rec->has_chat_template = false;
  rec->n_layer = 0;
  rec->kv_elems_per_token = 0;
  rec->hparams.reset();
  rec->hparams_read = false;
}

const char* model_state_name(ModelState s) {
  switch (s) {
    case ModelState::kUnloaded: return "unloaded";
    case ModelState::kLoading: return "loading";
    case ModelState::kLoaded: return "loaded";
  }
  return "?";
}

const char* eviction_policy_name(EvictionPolicy p) {
  switch (p) {
    case EvictionPolicy::kLru: return "lru";
    case EvictionPolicy::kLfu: return "lfu";
    case EvictionPolicy::kFifo: return "fifo";
    case EvictionPolicy::kCost: return "cost";
  }
  return "?";
}

std::optional<EvictionPolicy> parse_eviction_policy(std::string_view s) {
  for (auto p : {EvictionPolicy::kLru, EvictionPolicy::kLfu, EvictionPolicy::kFifo,
                 EvictionPolicy::kCost}) {
    if (lower(s) == eviction_policy_name(p)) return p;
  }
  return std::nullopt;
}

const char* preload_strategy_name(PreloadStrategy s) {
  switch (s) {
    case PreloadStrategy::kSequential: return "sequential";
    case PreloadStrategy::kFrequency: return "frequency";
    case PreloadStrategy::kRecency: return "recency";
    case PreloadStrategy::kSize: return "size";
    case PreloadStrategy::kLearned: return "learned";
  }
  return "?";
}

std::optional<PreloadStrategy> parse_preload_strategy(std::string_view s) {
  for (auto p : {PreloadStrategy::kSequential, PreloadStrategy::kFrequency,
                 PreloadStrategy::kRecency, PreloadStrategy::kSize, PreloadStrategy::kLearned}) {
    if (lower(s) == preload_strategy_name(p)) return p;
  }
  return std::nullopt;
}

}  // namespace hangar::manager
