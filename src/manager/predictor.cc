// Predictor: counts, decayed averages and the mix that ranks the next model.
#include "manager/predictor.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace hangar::manager {
namespace {

constexpr int64_t kHourMs = 3'600'000;
constexpr int64_t kDayMs = 24 * kHourMs;

int hour_of(int64_t ms) { return static_cast<int>((ms / kHourMs) % 24); }
// 1970-01-01 was a Thursday; 0 = Monday.
int weekday_of(int64_t ms) { return static_cast<int>((ms / kDayMs + 3) % 7); }

std::string percent(double x) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.0f%%", 100 * x);
  return buf;
}

}  // namespace

double Predictor::Decayed::at(int64_t now_ms, int64_t half_life_ms) const {
  if (value == 0) return 0;
  const double age = static_cast<double>(std::max<int64_t>(now_ms - at_ms, 0));
  return value * std::exp2(-age / static_cast<double>(half_life_ms));
}

void Predictor::Decayed::add(int64_t now_ms, int64_t half_life_ms) {
  value = at(now_ms, half_life_ms) + 1;
  at_ms = std::max(now_ms, at_ms);
}

void Predictor::observe(const std::string& id, int64_t at_ms) {
  std::lock_guard lock(mu_);
  if (events_ == 0) first_ms_ = at_ms;
  ++events_;
  if (!last_id_.empty() && at_ms >= last_ms_ && at_ms - last_ms_ < options_.session_gap_ms) {
    transitions_[last_id_][id] += 1;
    transitions_from_[last_id_] += 1;
  }
  const int h = hour_of(at_ms), d = weekday_of(at_ms);
  totals_[id] += 1;
  hour_[id][h] += 1;
  weekday_[id][d] += 1;
  hour_all_[h] += 1;
  weekday_all_[d] += 1;
  recent_[id].add(at_ms, options_.recency_half_life_ms);
  recent_all_.add(at_ms, options_.recency_half_life_ms);
  if (at_ms >= last_ms_) {
    last_id_ = id;
    last_ms_ = at_ms;
  }
  hinted_until_.erase(id);  // the hinted request came
}

void Predictor::hint(const std::string& id, int64_t now_ms) {
  std::lock_guard lock(mu_);
  hinted_until_[id] = now_ms + options_.hint_ms;
}

void Predictor::reset() {
  std::lock_guard lock(mu_);
  transitions_.clear();
  transitions_from_.clear();
  totals_.clear();
  hour_.clear();
  weekday_.clear();
  hour_all_ = {};
  weekday_all_ = {};
  recent_.clear();
  recent_all_ = {};
  hinted_until_.clear();
  last_id_.clear();
  last_ms_ = first_ms_ = events_ = 0;
}

int64_t Predictor::events() const {
  std::lock_guard lock(mu_);
  return events_;
}

std::vector<Prediction> Predictor::predict(const std::vector<std::string>& ids, int64_t now_ms) const {
  std::lock_guard lock(mu_);
  return predict_locked(ids, now_ms);
}

Prediction Predictor::predict_one(const std::string& id, int64_t now_ms) const {
  std::lock_guard lock(mu_);
  // The mix needs every model for its smoothing; the one asked for is among them.
  std::vector<std::string> ids;
  for (const auto& [m, counts] : hour_) ids.push_back(m);
  if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  for (const Prediction& p : predict_locked(ids, now_ms))
    if (p.id == id) return p;
  Prediction none;
  none.id = id;
  return none;
}

std::vector<Prediction> Predictor::predict_locked(const std::vector<std::string>& ids, int64_t now_ms) const {
  const double n = static_cast<double>(std::max<size_t>(ids.size(), 1));
  const int h = hour_of(now_ms), d = weekday_of(now_ms);
  const int64_t half = options_.recency_half_life_ms;
  const double all_recent = recent_all_.at(now_ms, half);
  const bool in_session = !last_id_.empty() && now_ms - last_ms_ < options_.session_gap_ms;
  const int64_t from_total = in_session && transitions_from_.count(last_id_) ? transitions_from_.at(last_id_) : 0;
  // How often a request for the last model was followed by another within the session gap.
  const auto last_total = totals_.find(last_id_);
  const double q = in_session && last_total != totals_.end() && last_total->second > 0
                       ? std::min(1.0, static_cast<double>(from_total) / static_cast<double>(last_total->second))
                       : 0.0;
  // Recency weighs as much as there is recent evidence: nothing after a quiet night.
  const double w_t = in_session ? 2.0 : 0.0, w_c = 1.0, w_r = all_recent / (all_recent + 1);
  // Requests a minute: the recent rate, or this hour's average over the days seen if higher
  // (a quiet server still expects its daily peak).
  const double days = std::max(1.0, std::ceil(static_cast<double>(std::max<int64_t>(now_ms - first_ms_, 0)) / kDayMs));
  const double rate =
      std::max(all_recent * std::log(2.0) / (static_cast<double>(half) / 60000.0),
               static_cast<double>(hour_all_[h]) / (60.0 * days));
  const double horizon_min = static_cast<double>(options_.horizon_ms) / 60000.0;

  std::vector<Prediction> out;
  for (const std::string& id : ids) {
    Prediction p;
    p.id = id;
    int64_t trans = 0;
    if (in_session) {
      auto from = transitions_.find(last_id_);
      if (from != transitions_.end()) {
        auto to = from->second.find(id);
        if (to != from->second.end()) trans = to->second;
      }
      p.transition = (static_cast<double>(trans) + 1) / (static_cast<double>(from_total) + n);
    }
    auto hr = hour_.find(id);
    auto wd = weekday_.find(id);
    const double hm = hr != hour_.end() ? static_cast<double>(hr->second[h]) : 0;
    const double dm = wd != weekday_.end() ? static_cast<double>(wd->second[d]) : 0;
    p.calendar = 0.5 * (hm + 1) / (static_cast<double>(hour_all_[h]) + n) +
                 0.5 * (dm + 1) / (static_cast<double>(weekday_all_[d]) + n);
    auto rc = recent_.find(id);
    p.recency = all_recent > 0 && rc != recent_.end() ? rc->second.at(now_ms, half) / all_recent : 1.0 / n;
    p.share = (w_t * p.transition + w_c * p.calendar + w_r * p.recency) / (w_t + w_c + w_r);
    p.rate_per_min = rate;
    p.follow = q * p.transition;
    p.probability = 1 - (1 - p.follow) * std::exp(-rate * p.share * horizon_min);
    auto hint = hinted_until_.find(id);
    p.hinted = hint != hinted_until_.end() && hint->second > now_ms;
    if (p.hinted) p.probability = std::max(p.probability, options_.hint_probability);
    // Why: the part that gives the most.
    const double parts[3] = {w_t * p.transition, w_c * p.calendar, w_r * p.recency};
    const int top = static_cast<int>(std::max_element(parts, parts + 3) - parts);
    if (p.hinted) {
      p.why = "hinted: a client said a request is likely soon";
    } else if (events_ == 0) {
      p.why = "no history yet";
    } else if (top == 0) {
      p.why = "follows '" + last_id_ + "' in " + std::to_string(trans) + " of " + std::to_string(from_total) +
              " requests after it";
    } else if (top == 1) {
      p.why = std::to_string(static_cast<int64_t>(hm)) + " requests at this hour of day, " +
              std::to_string(static_cast<int64_t>(dm)) + " on this day of week";
    } else {
      p.why = percent(p.recency) + " of recent requests";
    }
    char tail[96];
    std::snprintf(tail, sizeof(tail), "; %s of the next request, %.2f requests a minute", percent(p.share).c_str(), rate);
    p.why += tail;
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace hangar::manager
