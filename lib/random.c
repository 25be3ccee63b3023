/*
 * evudp6 — randomness (see random-internal.h).
 */
#include "config.h"

#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>

#include "random-internal.h"
#include "siphash-internal.h"

static uint64_t rotl64(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void evudp6__random_bytes(void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t got = 0;
	while (got < len) {
		ssize_t n = getrandom(p + got, len - got, GRND_NONBLOCK);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got == len)
		return;
	struct timespec rt, mt;
	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mt);
	uint64_t x = (uint64_t)rt.tv_nsec ^ ((uint64_t)rt.tv_sec << 32) ^ ((uint64_t)mt.tv_nsec << 17) ^
	             (uint64_t)getpid() ^ (uint64_t)(uintptr_t)buf;
	for (; got < len; got += 8) {
		uint64_t w = splitmix64(&x);
		size_t n = len - got < 8 ? len - got : 8;
		memcpy(p + got, &w, n);
	}
}

static void pool_refill(struct evudp6__pool *p)
{
	size_t got = 0;
	while (got < sizeof p->buf) {
		ssize_t n = getrandom(p->buf + got, sizeof p->buf - got, GRND_NONBLOCK);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	for (; got < sizeof p->buf; got += 8) {
		uint64_t w = evudp6__siphash13_3w(p->key, p->ctr++, 0x706f6f6cULL, 0);
		size_t n = sizeof p->buf - got < 8 ? sizeof p->buf - got : 8;
		memcpy(p->buf + got, &w, n);
	}
	p->pos = 0;
}

void evudp6__pool_init(struct evudp6__pool *p)
{
	evudp6__random_bytes(p->key, sizeof p->key);
	p->ctr = 0;
	p->pos = sizeof p->buf;
}

void evudp6__pool_bytes(struct evudp6__pool *p, void *out, size_t len)
{
	if (sizeof p->buf - p->pos < len)
		pool_refill(p);
	memcpy(out, p->buf + p->pos, len);
	/* What was handed out is not kept around to leak later. */
	memset(p->buf + p->pos, 0, len);
	p->pos += len;
}

void evudp6__rng_seed(struct evudp6__rng *r)
{
	evudp6__random_bytes(r->s, sizeof r->s);
	if ((r->s[0] | r->s[1] | r->s[2] | r->s[3]) == 0)
		r->s[0] = 1;
}

uint64_t evudp6__rng_next(struct evudp6__rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl64(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl64(s[3], 45);
	return result;
}

uint64_t evudp6__rng_upto(struct evudp6__rng *r, uint64_t n)
{
	if (n == 0)
		return 0;
	return evudp6__rng_next(r) % (n + 1);
}
