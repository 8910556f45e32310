// HANGAR_ASSERT: checks for programming errors (never for bad input, which returns Error).
#pragma once

namespace hangar {
[[noreturn]] void assert_fail(const char* expr, const char* file, int line, const char* msg);
}

#define HANGAR_ASSERT(cond) \
  ((cond) ? (void)0 : ::hangar::assert_fail(#cond, __FILE__, __LINE__, nullptr))
#define HANGAR_ASSERT_MSG(cond, msg) \
  ((cond) ? (void)0 : ::hangar::assert_fail(#cond, __FILE__, __LINE__, (msg)))
