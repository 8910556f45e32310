// Minimal leveled logging to stderr; thread-safe (one write per line).
#pragma once

#include <string>

namespace hangar {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

// Process-wide threshold; set once at start-up from the command line.
void set_log_level(LogLevel level);
LogLevel log_level();

void log_line(LogLevel level, const std::string& message);
inline void log_debug(const std::string& m) { log_line(LogLevel::kDebug, m); }
inline void log_info(const std::string& m) { log_line(LogLevel::kInfo, m); }
inline void log_warn(const std::string& m) { log_line(LogLevel::kWarn, m); }
inline void log_error(const std::string& m) { log_line(LogLevel::kError, m); }

}  // namespace hangar
