/* IEEE-754 binary16 (float16) <-> binary32. Widening is exact: F16C's vcvtph2ps where the CPU
 * has it (chosen at run time), an exact portable path elsewhere; both give the same bits for
 * every finite and infinite value (tests/check_common.c compares all 65536). Narrowing rounds
 * to nearest, ties to even, as NumPy's astype(np.float16) does. */
#include "common/common.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_F16C_CLONE 1
#endif

static float half_bits_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign; /* +-0 */
        } else {         /* subnormal: normalize the mantissa */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400u));
            bits = sign | (uint32_t)(127 - 15 - e) << 23 | (man & 0x3ffu) << 13;
        }
    } else if (exp == 31) {
        /* inf; NaN quieted with its payload kept, as vcvtph2ps does */
        bits = sign | 0x7f800000u | (man ? 0x400000u : 0) | man << 13;
    } else {
        bits = sign | (exp + 112) << 23 | man << 13;
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static void widen_portable(const uint16_t *src, float *dst, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = half_bits_to_float(src[i]);
}

#ifdef HAVE_F16C_CLONE
__attribute__((target("avx,f16c"))) static void widen_f16c(const uint16_t *src, float *dst,
                                                           size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(const void *)(src + i));
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
    }
    for (; i < n; i++)
        dst[i] = half_bits_to_float(src[i]);
}
#endif

void mimic__f16_to_f32_portable(const uint16_t *src, float *dst, size_t n)
{
    widen_portable(src, dst, n);
}

void mimic__f16_to_f32_f16c(const uint16_t *src, float *dst, size_t n)
{
#ifdef HAVE_F16C_CLONE
    widen_f16c(src, dst, n);
#else
    widen_portable(src, dst, n);
#endif
}

void mimic__f16_to_f32(const uint16_t *src, float *dst, size_t n)
{
#ifdef HAVE_F16C_CLONE
    if (mimic__f16c_available()) {
        widen_f16c(src, dst, n);
        return;
    }
#endif
    widen_portable(src, dst, n);
}

uint16_t mimic__f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint32_t sign = (x >> 16) & 0x8000u, exp = (x >> 23) & 0xffu, man = x & 0x7fffffu;
    if (exp == 0xff) /* inf, NaN (quiet, a payload bit kept) */
        return (uint16_t)(sign | 0x7c00u | (man ? 0x200u | (man >> 13) : 0));
    int e = (int)exp - 127 + 15;
    if (e >= 31)
        return (uint16_t)(sign | 0x7c00u); /* overflow: inf */
    if (e <= 0) {
        if (e < -10)
            return (uint16_t)sign; /* below half the smallest subnormal: 0 */
        man |= 0x800000u;          /* subnormal: shift the implicit bit in, round to even */
        uint32_t shift = (uint32_t)(14 - e), half = 1u << (shift - 1),
                 rest = man & ((1u << shift) - 1);
        uint32_t h = man >> shift;
        if (rest > half || (rest == half && (h & 1u)))
            h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = (uint32_t)e << 10 | man >> 13, rest = man & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u)))
        h++; /* may carry into the exponent, up to inf: right */
    return (uint16_t)(sign | h);
}

void mimic_f32_to_f16(const float *src, uint16_t *dst, size_t n)
{
    for (size_t i = 0; src && dst && i < n; i++)
        dst[i] = mimic__f32_to_f16(src[i]);
}

void mimic_f16_to_f32(const uint16_t *src, float *dst, size_t n)
{
    if (src && dst)
        mimic__f16_to_f32(src, dst, n);
}
