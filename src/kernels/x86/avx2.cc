// The x86 kernels built for AVX2+FMA+F16C (flags set in CMakeLists.txt).
#define HANGAR_X86_LEVEL 1
#define HANGAR_X86_TABLE avx2_table
#include "kernels/x86/kernels_x86.inc"
