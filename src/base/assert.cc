// Failure path of HANGAR_ASSERT: print where and abort.
#include "base/assert.h"

#include <cstdio>
#include <cstdlib>

namespace hangar {
void assert_fail(const char* expr, const char* file, int line, const char* msg) {
  std::fprintf(stderr, "hangar: internal error: assertion '%s' failed at %s:%d%s%s\n", expr, file,
               line, msg ? ": " : "", msg ? msg : "");
  std::abort();
}
}  // namespace hangar
