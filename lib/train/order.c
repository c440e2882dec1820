/*
 * The order in which an epoch visits the training rows.
 *
 * Up to MIMIC__ORDER_TABLE_ROWS rows: a Fisher-Yates shuffle kept as a table (8 bytes a row;
 * the order libmimic 1.x used, so results are unchanged). Above: a keyed pseudo-random
 * permutation computed on demand, so the memory a run needs does not grow with the transfer
 * set: a balanced Feistel network over the smallest even number of bits that covers the rows,
 * "cycle-walking" (applying it again) until the result is a row. A Feistel network is a
 * bijection whatever its round function, and cycle-walking a bijection on a superset keeps it
 * a bijection on the subset; the domain is under 4x the rows, so a row takes two walks on
 * average. The rows of every shard are mixed with every other's, as the table shuffle does.
 *
 * Either kind is drawn from the RNG at the epoch's start (the table: rows - 1 draws; the
 * network: its round keys), so a checkpoint that saves that state redraws the same order.
 */
#include "train/train.h"

#define ROUNDS 6 /* four make a pseudo-random permutation (Luby-Rackoff); two spare */

int mimic__order_init(mimic__order *o, uint64_t rows)
{
    memset(o, 0, sizeof *o);
    o->rows = rows;
    if (rows <= MIMIC__ORDER_TABLE_ROWS) {
        o->table = mimic__calloc((size_t)rows, sizeof(uint64_t));
        if (!o->table)
            return mimic__error(MIMIC_ERR_NOMEM,
                                "trainer: out of memory for the order of %llu rows",
                                (unsigned long long)rows);
        return MIMIC_OK;
    }
    unsigned bits = 2;
    while (bits < 64 && (1ull << bits) < rows)
        bits++;
    o->half = (bits + 1) / 2;
    return MIMIC_OK;
}

void mimic__order_free(mimic__order *o)
{
    mimic__free(o->table);
    o->table = NULL;
}

void mimic__order_draw(mimic__order *o, mimic__rng *r)
{
    if (o->table) {
        uint64_t *p = o->table;
        for (uint64_t i = 0; i < o->rows; i++)
            p[i] = i;
        for (uint64_t i = o->rows - 1; i > 0; i--) {
            uint64_t j = mimic__rng_below(r, i + 1);
            uint64_t tmp = p[i];
            p[i] = p[j];
            p[j] = tmp;
        }
        return;
    }
    for (int k = 0; k < ROUNDS; k++)
        o->keys[k] = mimic__rng_next(r);
}

bool mimic__order_consistent(uint64_t rows, const mimic__rng *rng_epoch, const mimic__rng *rng)
{
    mimic__rng r = *rng_epoch;
    if (rows <= MIMIC__ORDER_TABLE_ROWS)
        for (uint64_t i = rows - 1; i > 0; i--)
            (void)mimic__rng_below(&r, i + 1);
    else
        for (int k = 0; k < ROUNDS; k++)
            (void)mimic__rng_next(&r);
    return memcmp(&r, rng, sizeof r) == 0;
}

static uint64_t feistel(const mimic__order *o, uint64_t x)
{
    const unsigned h = o->half;
    const uint64_t mask = (1ull << h) - 1;
    uint64_t left = x >> h, right = x & mask;
    for (int k = 0; k < ROUNDS; k++) {
        uint64_t f = mimic__hash64(o->keys[k], right) & mask;
        uint64_t next = left ^ f;
        left = right;
        right = next;
    }
    return (left << h) | right;
}

uint64_t mimic__order_at(const mimic__order *o, uint64_t i)
{
    if (o->table)
        return o->table[i];
    uint64_t x = i;
    do
        x = feistel(o, x);
    while (x >= o->rows);
    return x;
}

const uint64_t *mimic__order_batch(const mimic__order *o, uint64_t first, size_t n, uint64_t *buf)
{
    if (o->table)
        return o->table + first;
    for (size_t i = 0; i < n; i++)
        buf[i] = mimic__order_at(o, first + i);
    return buf;
}
