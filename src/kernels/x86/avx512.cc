// The x86 kernels built for AVX-512 F/BW/VL/DQ (flags set in CMakeLists.txt).
#define HANGAR_X86_LEVEL 2
#define HANGAR_X86_TABLE avx512_table
#include "kernels/x86/kernels_x86.inc"
