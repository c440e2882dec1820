/* xoshiro256** seeded through splitmix64: small, fast, and state lives in the handle. */
#include <math.h>

#include "common/common.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t mimic__hash64(uint64_t a, uint64_t b)
{
    uint64_t x = a;
    uint64_t h = splitmix64(&x) ^ b;
    return splitmix64(&h);
}

void mimic__rng_seed(mimic__rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t mimic__rng_next(mimic__rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double mimic__rng_uniform(mimic__rng *r)
{
    return (double)(mimic__rng_next(r) >> 11) * 0x1.0p-53;
}

double mimic__rng_normal(mimic__rng *r)
{
    /* Box-Muller; one value per call keeps the state a pure function of the call count. */
    double u1 = 1.0 - mimic__rng_uniform(r); /* (0, 1] */
    double u2 = mimic__rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

uint64_t mimic__rng_below(mimic__rng *r, uint64_t n)
{
    /* Lemire's nearly-divisionless method would do; rejection keeps it obviously unbiased. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = mimic__rng_next(r);
    while (x >= limit);
    return x % n;
}
