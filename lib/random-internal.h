/*
 * evudp6 — randomness: bytes from the kernel's CSPRNG (directly, or
 * through a buffered pool for what must be unpredictable on the hot path:
 * tokens, message id starts), and a fast generator for what only needs to
 * look random (retransmission jitter, leisure delays).
 */
#ifndef EVUDP6_RANDOM_INTERNAL_H
#define EVUDP6_RANDOM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* Fill @p buf from getrandom(); if the kernel cannot answer at once
 * (early boot), from a mix of clocks and addresses. Never blocks. */
void evudp6__random_bytes(void *buf, size_t len);

/* Bytes of getrandom() drawn in bulk, so a token costs a memcpy and one
 * system call serves many. Refilling never blocks: when the kernel cannot
 * answer at once (before its CSPRNG is seeded at boot) the pool is filled
 * from SipHash in counter mode under a key taken from the kernel when the
 * pool was set up, and the kernel is asked again at the next refill. */
#define EVUDP6__POOL_SIZE 4096

struct evudp6__pool {
	uint8_t buf[EVUDP6__POOL_SIZE];
	size_t pos; /* bytes of buf already handed out */
	uint64_t key[2];
	uint64_t ctr;
};

void evudp6__pool_init(struct evudp6__pool *p);
/* @p len <= EVUDP6__POOL_SIZE. */
void evudp6__pool_bytes(struct evudp6__pool *p, void *out, size_t len);

/* xoshiro256**: fast and statistically good, but its state follows from
 * a few outputs. Not for anything an attacker must not predict. */
struct evudp6__rng {
	uint64_t s[4];
};

void evudp6__rng_seed(struct evudp6__rng *r);
uint64_t evudp6__rng_next(struct evudp6__rng *r);
/* Uniform in [0, n]. */
uint64_t evudp6__rng_upto(struct evudp6__rng *r, uint64_t n);

#endif
