/*
 * evudp6 — SipHash-1-3, the keyed hash of every table whose keys come
 * from the network, so a flood of chosen keys cannot pile up in one
 * bucket.
 */
#ifndef EVUDP6_SIPHASH_INTERNAL_H
#define EVUDP6_SIPHASH_INTERNAL_H

#include <stdint.h>

/* SipHash-1-3 of three 64-bit words under the 128-bit key @p k. */
uint64_t evudp6__siphash13_3w(const uint64_t k[2], uint64_t w0, uint64_t w1, uint64_t w2);

#endif
