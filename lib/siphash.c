/*
 * evudp6 — SipHash-1-3 (Aumasson and Bernstein), for word-sized keys.
 */
#include "config.h"

#include <stddef.h>

#include "siphash-internal.h"

static uint64_t rotl64(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

#define SIPROUND                                                                                             \
	do {                                                                                                 \
		v0 += v1;                                                                                    \
		v1 = rotl64(v1, 13);                                                                         \
		v1 ^= v0;                                                                                    \
		v0 = rotl64(v0, 32);                                                                         \
		v2 += v3;                                                                                    \
		v3 = rotl64(v3, 16);                                                                         \
		v3 ^= v2;                                                                                    \
		v0 += v3;                                                                                    \
		v3 = rotl64(v3, 21);                                                                         \
		v3 ^= v0;                                                                                    \
		v2 += v1;                                                                                    \
		v1 = rotl64(v1, 17);                                                                         \
		v1 ^= v2;                                                                                    \
		v2 = rotl64(v2, 32);                                                                         \
	} while (0)

uint64_t evudp6__siphash13_3w(const uint64_t k[2], uint64_t w0, uint64_t w1, uint64_t w2)
{
	uint64_t v0 = 0x736f6d6570736575ULL ^ k[0];
	uint64_t v1 = 0x646f72616e646f6dULL ^ k[1];
	uint64_t v2 = 0x6c7967656e657261ULL ^ k[0];
	uint64_t v3 = 0x7465646279746573ULL ^ k[1];
	const uint64_t w[4] = {w0, w1, w2, (uint64_t)24 << 56};
	for (size_t i = 0; i < 4; i++) {
		v3 ^= w[i];
		SIPROUND;
		v0 ^= w[i];
	}
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}
