// Predictor: which model is asked for next, learned from the request history (counts and
// decayed averages: transitions, hour of day, day of week, recency).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace hangar::manager {

struct PredictorOptions {
  int64_t session_gap_ms = 10 * 60 * 1000;  // consecutive requests closer than this are a transition
  int64_t recency_half_life_ms = 10 * 60 * 1000;  // of the per-model and overall decayed counts
  int64_t horizon_ms = 60 * 1000;                 // "asked for within the next minute"
  int64_t hint_ms = 60 * 1000;                    // how long a hint holds
  double hint_probability = 0.9;                  // a hinted model's floor
};

// One model's prediction and its parts (GET /v1/models/stats: models[i].prediction).
struct Prediction {
  std::string id;
  double probability = 0;  // of a request within the horizon
  double share = 0;        // of the next request (the mix below)
  double transition = 0, calendar = 0, recency = 0;  // the mix's parts
  double follow = 0;        // q T_m: the session's next request is this model
  double rate_per_min = 0;  // expected requests a minute, all models
  bool hinted = false;
  std::string why;
};

// The formula (also in README): with the last request for model L at t_L, now t, and the
// events' counts,
//   T_m = (n(L->m) + 1) / (n(L->*) + N)                  transitions within session_gap
//   C_m = 1/2 (h(H,m) + 1) / (h(H,*) + N) + 1/2 (d(D,m) + 1) / (d(D,*) + N)
//                                                       H, D: this hour of day, day of week (UTC)
//   R_m = r_m / r_*   r: counts decayed with recency_half_life (each event weighs 2^(-age/half-life))
//   s_m = (w_T T_m + w_C C_m + w_R R_m) / (w_T + w_C + w_R),
//         w_T = 2 when t - t_L < session_gap else 0, w_C = 1, w_R = r_* / (r_* + 1)
//   λ   = max(r_* ln2 / half-life, h(H,*) / (60 min x days seen))   requests a minute, all models
//   q   = n(L->*) / n(L) in a session, else 0           how often L is followed within session_gap
//   p_m = 1 - (1 - q T_m) exp(-λ s_m horizon)           (a hinted model: at least hint_probability)
// N is the number of models known. The first factor is the session's next request being m
// (taken as coming within the horizon: in-session gaps are mostly seconds), the second the
// background rate of requests for m. Thread-safe; times are wall-clock ms since the epoch.
class Predictor {
 public:
  explicit Predictor(PredictorOptions options = {}) : options_(options) {}

  // One request for `id` at `at_ms`; events must come in time order (older ones are ignored
  // for transitions).
  void observe(const std::string& id, int64_t at_ms);
  // A client says a request for `id` is likely soon.
  void hint(const std::string& id, int64_t now_ms);
  // Predictions for `ids` at now_ms, in the order given.
  std::vector<Prediction> predict(const std::vector<std::string>& ids, int64_t now_ms) const;
  Prediction predict_one(const std::string& id, int64_t now_ms) const;
  void reset();
  int64_t events() const;
  const PredictorOptions& options() const { return options_; }

 private:
  struct Decayed {
    double value = 0;
    int64_t at_ms = 0;
    double at(int64_t now_ms, int64_t half_life_ms) const;
    void add(int64_t now_ms, int64_t half_life_ms);
  };
  std::vector<Prediction> predict_locked(const std::vector<std::string>& ids, int64_t now_ms) const;

  const PredictorOptions options_;
  mutable std::mutex mu_;
  std::map<std::string, std::map<std::string, int64_t>> transitions_;  // from -> to -> count
  std::map<std::string, int64_t> transitions_from_;
  std::map<std::string, int64_t> totals_;  // requests per model
  std::map<std::string, std::array<int64_t, 24>> hour_;
  std::map<std::string, std::array<int64_t, 7>> weekday_;
  std::array<int64_t, 24> hour_all_{};
  std::array<int64_t, 7> weekday_all_{};
  std::map<std::string, Decayed> recent_;
  Decayed recent_all_;
  std::map<std::string, int64_t> hinted_until_;
  std::string last_id_;
  int64_t last_ms_ = 0, first_ms_ = 0, events_ = 0;
};

}  // namespace hangar::manager
