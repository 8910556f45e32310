// Names and parsers for the manager's enums.
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
  }
  return "?";
}

std::optional<PreloadStrategy> parse_preload_strategy(std::string_view s) {
  for (auto p : {PreloadStrategy::kSequential, PreloadStrategy::kFrequency,
                 PreloadStrategy::kRecency, PreloadStrategy::kSize}) {
    if (lower(s) == preload_strategy_name(p)) return p;
  }
  return std::nullopt;
}

}  // namespace hangar::manager
