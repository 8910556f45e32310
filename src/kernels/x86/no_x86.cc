// Non-x86 builds: the x86 tables alias the scalar one (best_isa() never selects them).
#include "kernels/dispatch.h"

namespace hangar::kernels::detail {
const IsaTable& avx2_table() { return scalar_table(); }
const IsaTable& avx512_table() { return scalar_table(); }
const IsaTable& avx512_vnni_table() { return scalar_table(); }
}  // namespace hangar::kernels::detail
