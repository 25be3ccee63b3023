/*
 * evudp6 — randomness: bytes from the kernel's CSPRNG, and a fast
 * generator for what only needs to look random (retransmission jitter,
 * leisure delays).
 */
#ifndef EVUDP6_RANDOM_INTERNAL_H
#define EVUDP6_RANDOM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* Fill @p buf from getrandom(); if the kernel cannot answer at once
 * (early boot), from a mix of clocks and addresses. Never blocks. */
void evudp6__random_bytes(void *buf, size_t len);

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
