// ModelList: the body of GET /v1/models, kept as one rendered JSON object per model and
// rendered again only for the models whose record, settings or live state changed.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace hangar::api {

struct ServerContext;

// A list of a thousand models is megabytes of JSON (each model carries its settings with
// their sources); building it with nlohmann::json on every call took hundreds of
// milliseconds. A model's object has two parts (routes.h): what its registry record and the
// settings say, kept as text and rendered again only when the record's version or the
// settings' version moved; and the cache's live state (state, bytes, pin, requests, expiry),
// rendered at every call for the models the cache has an entry for (one shared text for the
// rest). Thread-safe (calls are serialised).
class ModelList {
 public:
  std::string render(ServerContext& ctx);

  // Models rendered by the last render() call (the others were reused): for tests.
  int64_t last_rendered() const;

 private:
  struct Kept {
    uint64_t record_version = 0;
    int64_t settings_version = -1;
    std::string json;  // the record part, without its braces
  };
  mutable std::mutex mu_;
  std::unordered_map<std::string, Kept> kept_;
  int64_t last_rendered_ = 0;
  size_t average_bytes_ = 0;  // per model in the last list: the next one reserves that much
};

}  // namespace hangar::api
