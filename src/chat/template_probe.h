// TemplateProber: renders the small test conversations that reveal what a chat template can
// render (as llama.cpp probes templates), under one shared budget; and the template globals
// for time that probes and real renders both pass.
#pragma once

#include <ctime>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "base/clock.h"
#include "base/result.h"
#include "chat/template.h"

namespace hangar::chat {

struct ChatTemplateCaps;

std::tm local_now();
// strftime into a string; "" for an empty format or one whose result is unreasonably long.
std::string format_time(const std::tm& tm, const std::string& fmt);
// The strftime_now(format) function templates call, reporting `now`.
Value strftime_function(const std::tm& now);

// All probes of one template share one budget: a template that cannot render a two-message
// conversation within it would fail every request too, so it is refused when parsed rather
// than probed further (limit_error()).
class TemplateProber {
 public:
  explicit TemplateProber(const Template& tmpl) : tmpl_(tmpl) {}

  // The render of `messages` (llama.cpp's probe globals plus `extra`), or nullopt when the
  // template fails on it (raise_exception, a type error) or the budget is spent.
  std::optional<std::string> render(const nlohmann::ordered_json& messages,
                                    const nlohmann::ordered_json& tools = nlohmann::ordered_json::array(),
                                    const nlohmann::ordered_json& extra = nlohmann::ordered_json::object(),
                                    bool add_generation_prompt = true);
  // Set once a probe exceeded the budget; later probes do not run.
  const std::optional<Error>& limit_error() const { return limit_error_; }
  int renders() const { return renders_; }
  const std::string& source() const { return tmpl_.source(); }

 private:
  static constexpr int64_t kSteps = 2'000'000;
  static constexpr size_t kMemoryBytes = size_t{16} << 20;
  static constexpr size_t kOutputBytes = size_t{4} << 20;
  static constexpr double kSeconds = 2.0;

  const Template& tmpl_;
  const std::tm now_ = local_now();
  Stopwatch watch_;
  int64_t steps_ = 0;
  int renders_ = 0;
  std::optional<Error> limit_error_;
};

// Whether llama.cpp's server would treat the template as a reasoning one and so pass it
// enable_thinking = true: its reasoning text reaches the output before a closing marker, or
// switching enable_thinking adds, drops or swaps a marker (<think>, <|think|>, </think>). A
// switch that only changes prose, like Apertus's "Deliberation: enabled/disabled" line, is
// not one: llama.cpp renders Apertus with thinking disabled by default.
// `messages` is the probe conversation (plain strings); `rendered_off`, when given, is its
// render with enable_thinking = false, so that it is not rendered again.
bool detect_thinking(TemplateProber& probe, const ChatTemplateCaps& caps, const nlohmann::ordered_json& messages,
                     const std::optional<std::string>& rendered_off);

}  // namespace hangar::chat
