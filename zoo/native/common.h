/* Shared by the zoo's C kernels (see zoo/native/__init__.py).
 *
 * Plain C that the compiler vectorises (-O3 -march=native): no intrinsics, so it builds on
 * any CPU gcc or clang targets. Arrays are contiguous float32 (int64 indices) as torch
 * stores them; sizes are int64. */
#ifndef ZOO_NATIVE_COMMON_H
#define ZOO_NATIVE_COMMON_H
#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* Kernels over neurons j are written once as an always-inlined body and instantiated for the
 * usual hidden widths: with j a compile-time constant the compiler emits straight-line vector
 * code for the inner loops (about twice as fast at j = 32 as the generic loop). */
#define BODY static inline __attribute__((always_inline)) void
#define WITH_WIDTH(j, call)                          \
    switch (j) {                                     \
    case 16: { const int64_t jc = 16; call; break; } \
    case 32: { const int64_t jc = 32; call; break; } \
    case 64: { const int64_t jc = 64; call; break; } \
    default: { const int64_t jc = j; call; break; }  \
    }

#endif
