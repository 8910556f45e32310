// Parsers for the manager's flag values: byte sizes ("8G", "512Mi") and durations ("5m", "-1").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace hangar::manager {

// Parses a byte count: digits with an optional suffix K/M/G/T (powers of 1000) or
// Ki/Mi/Gi/Ti (powers of 1024), case-insensitive, optionally followed by "B"; a decimal
// fraction is allowed with a suffix ("1.5G"). Returns an error naming `what` on bad input
// or overflow.
Result<uint64_t> parse_bytes(std::string_view text, std::string_view what = "size");

// Parses a duration into milliseconds: "-1" (never, returned as -1), a plain number (seconds,
// as Ollama's keep_alive), or a number with unit ms/s/m/h ("500ms", "30s", "5m", "1h", "1.5h").
// Negative values other than -1 are an error naming `what`.
Result<int64_t> parse_duration_ms(std::string_view text, std::string_view what = "duration");

// Human-readable size for logs and errors, e.g. "1.50 GiB (1610612736 bytes)".
std::string format_bytes(uint64_t bytes);

}  // namespace hangar::manager
