/*
 * rng.h - a small pseudo-random generator for jitter (retry and probe delays): xoshiro256**
 * seeded from getrandom(2), so every process and every node draws its own delays. Not for
 * secrets (ids.h and OpenSSL make those). One generator per thread: the caller owns it and
 * touches it from one thread only.
 */
#ifndef FG_EVENTS_RNG_H
#define FG_EVENTS_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4]; /* the state; never all zero once seeded */
} fg_rng_t;

/** Seeds from the kernel's random source (falling back to the time and the pid). */
void fg_rng_seed(fg_rng_t *r);

/** The next 64 random bits. */
uint64_t fg_rng_next(fg_rng_t *r);

/** A uniform number in [0, 1). */
double fg_rng_unit(fg_rng_t *r);

#endif
