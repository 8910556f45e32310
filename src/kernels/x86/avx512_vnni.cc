// The x86 kernels built for AVX-512 with VNNI (flags set in CMakeLists.txt).
#define HANGAR_X86_LEVEL 3
#define HANGAR_X86_TABLE avx512_vnni_table
#include "kernels/x86/kernels_x86.inc"
