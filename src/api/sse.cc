// Server-sent event framing.
#include "api/sse.h"

namespace hangar::api {

std::string dump_json(const Json& value) { return value.dump(-1, ' ', false, Json::error_handler_t::replace); }

// JSON serialised without indentation never contains a raw newline (strings escape it), so one
// data line per event is always enough.
std::string sse_event(const Json& payload) { return "data: " + dump_json(payload) + "\n\n"; }

std::string sse_done() { return "data: [DONE]\n\n"; }

}  // namespace hangar::api
