// Instruction-set detection and the active function table.
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "base/assert.h"
#include "kernels/dispatch.h"

namespace hangar::kernels {
namespace {

Isa detect_isa() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  // libgcc also checks (xgetbv) that the OS saves the YMM/ZMM state for each feature.
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                    __builtin_cpu_supports("f16c");
  if (!avx2) return Isa::kScalar;
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  if (!avx512) return Isa::kAvx2;
  if (!__builtin_cpu_supports("avx512vnni")) return Isa::kAvx512;
  return Isa::kAvx512Vnni;
#else
  return Isa::kScalar;
#endif
}

const detail::IsaTable& table_for(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return detail::scalar_table();
    case Isa::kAvx2: return detail::avx2_table();
    case Isa::kAvx512: return detail::avx512_table();
    case Isa::kAvx512Vnni: return detail::avx512_vnni_table();
  }
  HANGAR_ASSERT_MSG(false, "unknown Isa");
  __builtin_unreachable();
}

// The process-wide dispatch choice; the public API defines it as a free-function setting.
std::atomic<const detail::IsaTable*> g_active{nullptr};

}  // namespace

Isa best_isa() {
  static const Isa best = detect_isa();
  return best;
}

Isa active_isa() { return detail::active_table().isa; }

void set_active_isa(Isa isa) {
  HANGAR_ASSERT_MSG(static_cast<int>(isa) <= static_cast<int>(best_isa()),
                    "set_active_isa: this CPU does not support the requested level");
  g_active.store(&table_for(isa), std::memory_order_release);
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
    case Isa::kAvx512Vnni: return "avx512vnni";
  }
  return "unknown";
}

// The starting level: best_isa(), or lower when HANGAR_ISA names a lower one (debugging and
// measuring without recompiling; unknown names are ignored).
Isa initial_isa() {
  const char* env = std::getenv("HANGAR_ISA");
  if (!env) return best_isa();
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kAvx512Vnni})
    if (std::strcmp(env, isa_name(isa)) == 0 && static_cast<int>(isa) <= static_cast<int>(best_isa())) return isa;
  return best_isa();
}

namespace detail {
const IsaTable& active_table() {
  const IsaTable* t = g_active.load(std::memory_order_acquire);
  if (t) return *t;
  const IsaTable* best = &table_for(initial_isa());
  const IsaTable* expected = nullptr;
  g_active.compare_exchange_strong(expected, best, std::memory_order_acq_rel);
  return *g_active.load(std::memory_order_acquire);
}
}  // namespace detail

}  // namespace hangar::kernels
