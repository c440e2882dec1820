/* What the CPU and the OS offer the hand-written kernels: CPUID feature bits, and XGETBV for
 * the register state the OS saves (an instruction set is usable only when the OS saves its
 * registers across context switches). Read once and cached; no global state is written
 * beyond that cache. */
#include "common/common.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>

enum {
    HAVE_AVX2 = 1u,    /* AVX2 and the YMM state */
    HAVE_F16C = 2u,    /* F16C, AVX and the YMM state */
    HAVE_AVX512F = 4u, /* AVX512F and the ZMM and opmask state */
    HAVE_FMA = 8u,     /* FMA3 and the YMM state */
    KNOWN = 1u << 30
};

static unsigned detect(void)
{
    unsigned a, b, c, d, f = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    const unsigned osxsave = 1u << 27, avx = 1u << 28, f16c = 1u << 29, fma = 1u << 12;
    if ((c & (osxsave | avx)) != (osxsave | avx))
        return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    (void)hi;
    const bool ymm = (lo & 6u) == 6u, zmm = (lo & 0xe6u) == 0xe6u; /* XMM|YMM, opmask|ZMM */
    if (ymm && (c & f16c))
        f |= HAVE_F16C;
    if (ymm && (c & fma))
        f |= HAVE_FMA;
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        if (ymm && (b & (1u << 5)))
            f |= HAVE_AVX2;
        if (zmm && (b & (1u << 16)))
            f |= HAVE_AVX512F;
    }
    return f;
}

static unsigned features(void)
{
    static atomic_uint known; /* 0: not asked yet; else KNOWN | the bits */
    unsigned f = atomic_load_explicit(&known, memory_order_relaxed);
    if (!f) {
        f = KNOWN | detect();
        atomic_store_explicit(&known, f, memory_order_relaxed);
    }
    return f;
}

bool mimic__f16c_available(void)
{
    return (features() & HAVE_F16C) != 0;
}

int mimic__cpu_isa(void)
{
    const unsigned f = features(), avx2 = HAVE_AVX2 | HAVE_F16C | HAVE_FMA;
    if ((f & avx2) == avx2)
        return f & HAVE_AVX512F ? MIMIC__ISA_AVX512 : MIMIC__ISA_AVX2;
    return MIMIC__ISA_PORTABLE;
}

#else

bool mimic__f16c_available(void)
{
    return false;
}

int mimic__cpu_isa(void)
{
    return MIMIC__ISA_PORTABLE;
}

#endif
