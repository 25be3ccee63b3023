/*
 * evudp6 — message layer: deduplication, retransmission, matching and the
 * ICMP-driven failing of exchanges (RFC 7252 sections 4 and 8, RFC 7967).
 *
 * Everything lives in pools allocated by evudp6_messenger_new(): client
 * requests (with their encoded datagram, kept for retransmission), the
 * per-remote records that enforce NSTART and let an ICMP error find every
 * exchange to a remote, and the deduplication entries (with the answer
 * they got, kept to re-send it byte for byte). Lookups go through
 * fixed-size chained hash tables. The receive path therefore allocates
 * nothing.
 *
 * Re-entrancy: user callbacks may cancel, send, answer, shut down or free
 * the messenger. Every entry point from the event loop brackets its work
 * with enter()/leave(); freeing is deferred until the outermost one
 * returns, and every object is unlinked from all tables before its
 * callback runs.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>

#include <event2/event.h>

#include <evudp6/messenger.h>

#define container_of(p, type, member) ((type *)(void *)((char *)(p)-offsetof(type, member)))

/* Bounds that keep every timeout computation inside 64 bits. */
#define MAX_RETRANSMIT_LIMIT 16u
#define RANDOM_FACTOR_LIMIT  16.0
#define MAX_MESSAGE_LIMIT    65535u

/* Tokens of our requests: long enough that an off-path attacker cannot
 * guess them (RFC 7252 5.3.1). */
#define TOKEN_LEN 8

/* ------------------------------------------------------------ lists */

struct link {
	struct link *prev, *next;
};

static void link_init(struct link *l)
{
	l->prev = l->next = l;
}

static bool list_empty(const struct link *head)
{
	return head->next == head;
}

static void list_add_tail(struct link *head, struct link *n)
{
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}

/* Safe on a node that is in no list (linked to itself). */
static void list_del(struct link *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}

/* ------------------------------------------------------------ objects */

enum req_state {
	REQ_FREE = 0,
	REQ_QUEUED,        /* waiting for NSTART; not sent yet */
	REQ_WAIT_ACK,      /* CON sent, retransmitting */
	REQ_WAIT_RESPONSE, /* NON sent, or CON acknowledged by an empty ACK */
	REQ_MULTICAST,     /* collecting responses until the wait ends */
	REQ_ENDED          /* unlinked; released once its callback returns */
};

struct peer;

struct evudp6_request {
	struct evudp6_messenger *m;
	struct event *timer;
	enum req_state state;
	bool con, ping, mcast;
	bool active; /* counts toward its peer's NSTART */
	bool in_cb;
	bool in_tok, in_mid;
	uint16_t mid;
	uint8_t tkl;
	uint8_t token[TOKEN_LEN];
	struct evudp6_addr remote;
	struct peer *peer;
	struct link plink; /* in peer->queued or peer->sent, or a list being failed */
	struct evudp6_request *tok_next, *mid_next;
	struct evudp6_request *free_next;
	unsigned int retransmits;
	uint64_t timeout_us;
	unsigned int wait_ms;
	evudp6_messenger_response_cb cb;
	void *arg;
	uint8_t *buf;
	size_t len;
};

/* One remote with unicast requests pending: NSTART and ICMP failing. */
struct peer {
	struct evudp6_addr remote;
	uint32_t hash;
	struct peer *next; /* hash chain, or free list */
	struct link queued, sent;
	unsigned int nactive;
};

enum ent_state {
	ENT_FREE = 0,
	ENT_PENDING,  /* handler owes the answer */
	ENT_LEISURE,  /* NON response to a multicast request, waiting to leave */
	ENT_SEPARATE, /* separate CON response, retransmitting */
	ENT_DONE      /* answered: only remembered for duplicates; evictable */
};

/* A deduplication entry; for a received request also its exchange. */
struct evudp6_exchange {
	struct evudp6_messenger *m;
	struct event *timer;
	enum ent_state state;
	bool con;         /* the received message was CON */
	bool mcast;       /* it arrived via multicast */
	bool is_response; /* a CON/NON response we received (client side) */
	bool acked;       /* an ACK (empty or piggybacked) has been sent */
	bool cached;      /* buf holds the piggybacked ACK to re-send to duplicates */
	bool has_nores, in_sep;
	uint8_t nores;
	uint8_t tkl;
	uint8_t token[EVUDP6_TOKEN_MAX];
	uint16_t mid;     /* of the received message */
	uint16_t rsp_mid; /* of our separate response */
	uint32_t hash;
	uint64_t expires_ms;
	struct evudp6_addr remote; /* as received, local part included */
	struct evudp6_exchange *next, *sep_next;
	struct link fifo; /* m->fifo when ENT_DONE, m->ent_free when ENT_FREE */
	unsigned int retransmits;
	uint64_t timeout_us;
	uint8_t *buf;
	size_t len;
};

struct evudp6_messenger {
	struct event_base *base;
	struct evudp6_transport *t;
	struct evudp6_messenger_config cfg;
	evudp6_messenger_request_cb req_cb;
	void *req_arg;
	evudp6_messenger_ping_cb ping_cb;
	void *ping_arg;
	struct evudp6_messenger_stats st;
	uint64_t rng[4];
	uint64_t key[2];
	uint16_t next_mid;
	bool started, shut, free_pending;
	unsigned int busy;

	struct evudp6_request *reqs;
	uint8_t *req_bufs;
	struct evudp6_request *req_free;
	struct evudp6_request **tok_tab, **mid_tab;
	size_t req_mask;
	struct peer *peers, *peer_free;
	struct peer **peer_tab;

	struct evudp6_exchange *ents;
	uint8_t *ent_bufs;
	struct link ent_free, fifo;
	struct evudp6_exchange **dedup_tab, **sep_tab;
	size_t ent_mask;
};

/* ------------------------------------------------------------ randomness and hashing */

static uint64_t rotl64(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

/* xoshiro256**: fast, and seeded from getrandom() so tokens and message
 * ids are not predictable from outside. */
static uint64_t rng_next(struct evudp6_messenger *m)
{
	uint64_t *s = m->rng;
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

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void seed(struct evudp6_messenger *m)
{
	uint64_t s[6];
	if (getrandom(s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)getpid() ^
		             (uint64_t)(uintptr_t)m;
		for (size_t i = 0; i < 6; i++)
			s[i] = splitmix64(&x);
	}
	memcpy(m->rng, s, sizeof m->rng);
	if ((m->rng[0] | m->rng[1] | m->rng[2] | m->rng[3]) == 0)
		m->rng[0] = 1;
	m->key[0] = s[4];
	m->key[1] = s[5];
	m->next_mid = (uint16_t)rng_next(m);
}

/* Uniform in [0, n]. */
static uint64_t rng_upto(struct evudp6_messenger *m, uint64_t n)
{
	if (n == 0)
		return 0;
	return rng_next(m) % (n + 1);
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

/* SipHash-1-3 of three words: keyed, so a flood from chosen sources and
 * message ids cannot pile up in one bucket. */
static uint64_t siphash3(const uint64_t k[2], uint64_t w0, uint64_t w1, uint64_t w2)
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

/* Hash of what evudp6_addr_equal() compares (address, port, flowinfo),
 * plus a message id. */
static uint32_t key_hash(const struct evudp6_messenger *m, const struct evudp6_addr *a, uint16_t mid)
{
	uint64_t w0, w1;
	memcpy(&w0, &a->remote.sin6_addr, 8);
	memcpy(&w1, (const uint8_t *)&a->remote.sin6_addr + 8, 8);
	uint64_t w2 =
	    (uint64_t)a->remote.sin6_port | ((uint64_t)mid << 16) | ((uint64_t)a->remote.sin6_flowinfo << 32);
	return (uint32_t)siphash3(m->key, w0, w1, w2);
}

static size_t table_size(size_t n)
{
	size_t s = 16;
	while (s < 2 * n)
		s <<= 1;
	return s;
}

/* ------------------------------------------------------------ time and sending */

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void timer_add_us(struct event *ev, uint64_t us)
{
	struct timeval tv = {.tv_sec = (time_t)(us / 1000000u), .tv_usec = (suseconds_t)(us % 1000000u)};
	event_add(ev, &tv);
}

/* First retransmission timeout: uniform in [ACK_TIMEOUT, ACK_TIMEOUT * ACK_RANDOM_FACTOR]. */
static uint64_t initial_timeout_us(struct evudp6_messenger *m)
{
	uint64_t base = (uint64_t)m->cfg.ack_timeout_ms * 1000u;
	uint64_t spread = (uint64_t)((double)base * (m->cfg.ack_random_factor - 1.0));
	return base + rng_upto(m, spread);
}

static int xsend(struct evudp6_messenger *m, const struct evudp6_addr *to, const void *buf, size_t len)
{
	if (m->shut)
		return -EVUDP6_E_SHUTDOWN;
	return evudp6_transport_send(m->t, to, buf, len);
}

/* Answer a received datagram: from the address it reached, or, if that
 * was a multicast group, from whatever unicast address the kernel picks. */
static int send_reply(struct evudp6_messenger *m, const struct evudp6_addr *received_from, const void *buf,
                      size_t len)
{
	struct evudp6_addr to;
	evudp6_addr_response(received_from, &to);
	return xsend(m, &to, buf, len);
}

static void send_empty(struct evudp6_messenger *m, const struct evudp6_addr *received_from, uint8_t type,
                       uint16_t mid)
{
	const uint8_t b[4] = {(uint8_t)(0x40 | (type << 4)), 0, (uint8_t)(mid >> 8), (uint8_t)mid};
	if (type == EVUDP6_RST)
		m->st.rst_sent++;
	else
		m->st.empty_acks_sent++;
	send_reply(m, received_from, b, sizeof b);
}

/* ------------------------------------------------------------ re-entrancy */

static void destroy(struct evudp6_messenger *m);

static void enter(struct evudp6_messenger *m)
{
	m->busy++;
}

static void leave(struct evudp6_messenger *m)
{
	if (--m->busy == 0 && m->free_pending)
		destroy(m);
}

/* ------------------------------------------------------------ request tables */

static uint64_t token_word(const uint8_t *tok)
{
	uint64_t w;
	memcpy(&w, tok, sizeof w);
	return w;
}

static struct evudp6_request *tok_find(struct evudp6_messenger *m, const uint8_t *tok)
{
	/* Our tokens are random, so their bits are the hash. */
	struct evudp6_request *r = m->tok_tab[token_word(tok) & m->req_mask];
	for (; r; r = r->tok_next)
		if (memcmp(r->token, tok, TOKEN_LEN) == 0)
			return r;
	return NULL;
}

static void tok_insert(struct evudp6_messenger *m, struct evudp6_request *r)
{
	struct evudp6_request **head = &m->tok_tab[token_word(r->token) & m->req_mask];
	r->tok_next = *head;
	*head = r;
	r->in_tok = true;
}

static void tok_remove(struct evudp6_messenger *m, struct evudp6_request *r)
{
	struct evudp6_request **pp = &m->tok_tab[token_word(r->token) & m->req_mask];
	for (; *pp; pp = &(*pp)->tok_next)
		if (*pp == r) {
			*pp = r->tok_next;
			break;
		}
	r->in_tok = false;
}

static struct evudp6_request *mid_find(struct evudp6_messenger *m, uint16_t mid)
{
	struct evudp6_request *r = m->mid_tab[mid & m->req_mask];
	for (; r; r = r->mid_next)
		if (r->mid == mid)
			return r;
	return NULL;
}

static void mid_insert(struct evudp6_messenger *m, struct evudp6_request *r)
{
	struct evudp6_request **head = &m->mid_tab[r->mid & m->req_mask];
	r->mid_next = *head;
	*head = r;
	r->in_mid = true;
}

static void mid_remove(struct evudp6_messenger *m, struct evudp6_request *r)
{
	struct evudp6_request **pp = &m->mid_tab[r->mid & m->req_mask];
	for (; *pp; pp = &(*pp)->mid_next)
		if (*pp == r) {
			*pp = r->mid_next;
			break;
		}
	r->in_mid = false;
}

/* ------------------------------------------------------------ dedup tables */

static struct evudp6_exchange *sep_find(struct evudp6_messenger *m, uint16_t mid)
{
	struct evudp6_exchange *e = m->sep_tab[mid & m->ent_mask];
	for (; e; e = e->sep_next)
		if (e->rsp_mid == mid)
			return e;
	return NULL;
}

static void sep_insert(struct evudp6_messenger *m, struct evudp6_exchange *e)
{
	struct evudp6_exchange **head = &m->sep_tab[e->rsp_mid & m->ent_mask];
	e->sep_next = *head;
	*head = e;
	e->in_sep = true;
}

static void sep_remove(struct evudp6_messenger *m, struct evudp6_exchange *e)
{
	struct evudp6_exchange **pp = &m->sep_tab[e->rsp_mid & m->ent_mask];
	for (; *pp; pp = &(*pp)->sep_next)
		if (*pp == e) {
			*pp = e->sep_next;
			break;
		}
	e->in_sep = false;
}

/* A message id not in use by any of our pending CON messages. */
static uint16_t alloc_mid(struct evudp6_messenger *m)
{
	for (unsigned int i = 0; i < 65536u; i++) {
		uint16_t mid = m->next_mid++;
		if (!mid_find(m, mid) && !sep_find(m, mid))
			return mid;
	}
	return m->next_mid++;
}

static void dedup_insert(struct evudp6_messenger *m, struct evudp6_exchange *e)
{
	struct evudp6_exchange **head = &m->dedup_tab[e->hash & m->ent_mask];
	e->next = *head;
	*head = e;
}

static void dedup_remove(struct evudp6_messenger *m, struct evudp6_exchange *e)
{
	struct evudp6_exchange **pp = &m->dedup_tab[e->hash & m->ent_mask];
	for (; *pp; pp = &(*pp)->next)
		if (*pp == e) {
			*pp = e->next;
			break;
		}
}

static void ent_release(struct evudp6_messenger *m, struct evudp6_exchange *e)
{
	dedup_remove(m, e);
	if (e->in_sep)
		sep_remove(m, e);
	event_del(e->timer);
	list_del(&e->fifo);
	e->state = ENT_FREE;
	list_add_tail(&m->ent_free, &e->fifo);
	m->st.dedup_entries--;
}

/* Answered: from now on the entry only serves duplicates and may be
 * forgotten first when room is needed. */
static void ent_done(struct evudp6_messenger *m, struct evudp6_exchange *e)
{
	event_del(e->timer);
	if (e->in_sep)
		sep_remove(m, e);
	e->state = ENT_DONE;
	list_add_tail(&m->fifo, &e->fifo);
}

static struct evudp6_exchange *dedup_find(struct evudp6_messenger *m, uint32_t hash,
                                          const struct evudp6_addr *remote, uint16_t mid, uint64_t now)
{
	for (struct evudp6_exchange *e = m->dedup_tab[hash & m->ent_mask]; e; e = e->next) {
		if (e->hash != hash || e->mid != mid || !evudp6_addr_equal(&e->remote, remote))
			continue;
		if (e->state == ENT_DONE && e->expires_ms <= now) {
			ent_release(m, e);
			return NULL;
		}
		return e;
	}
	return NULL;
}

static struct evudp6_exchange *ent_alloc(struct evudp6_messenger *m, uint64_t now)
{
	while (!list_empty(&m->fifo)) {
		struct evudp6_exchange *old = container_of(m->fifo.next, struct evudp6_exchange, fifo);
		if (old->expires_ms > now)
			break;
		ent_release(m, old);
	}
	if (list_empty(&m->ent_free)) {
		/* Entries still owed an answer cannot go: their handles are out. */
		if (list_empty(&m->fifo))
			return NULL;
		ent_release(m, container_of(m->fifo.next, struct evudp6_exchange, fifo));
		m->st.dedup_evicted++;
	}
	struct evudp6_exchange *e = container_of(m->ent_free.next, struct evudp6_exchange, fifo);
	list_del(&e->fifo);
	m->st.dedup_entries++;
	if (m->st.dedup_entries > m->st.dedup_peak)
		m->st.dedup_peak = m->st.dedup_entries;
	e->con = e->mcast = e->is_response = e->acked = e->cached = e->has_nores = e->in_sep = false;
	e->nores = 0;
	e->tkl = 0;
	e->len = 0;
	e->retransmits = 0;
	return e;
}

static void ent_fill(struct evudp6_messenger *m, struct evudp6_exchange *e, const struct evudp6_msg *msg,
                     const struct evudp6_addr *remote, uint32_t hash, uint64_t now)
{
	e->con = msg->type == EVUDP6_CON;
	e->mcast = evudp6_addr_is_multicast_locally(remote);
	e->mid = msg->mid;
	e->tkl = msg->tkl;
	if (msg->tkl)
		memcpy(e->token, msg->token, msg->tkl);
	e->remote = *remote;
	e->hash = hash;
	e->expires_ms = now + (e->con ? m->cfg.exchange_lifetime_ms : m->cfg.non_lifetime_ms);
	dedup_insert(m, e);
}

/* ------------------------------------------------------------ peers */

static struct peer *peer_find(struct evudp6_messenger *m, const struct evudp6_addr *remote, uint32_t hash)
{
	for (struct peer *p = m->peer_tab[hash & m->req_mask]; p; p = p->next)
		if (p->hash == hash && evudp6_addr_equal(&p->remote, remote))
			return p;
	return NULL;
}

static struct peer *peer_get(struct evudp6_messenger *m, const struct evudp6_addr *remote)
{
	uint32_t hash = key_hash(m, remote, 0);
	struct peer *p = peer_find(m, remote, hash);
	if (p)
		return p;
	/* The pool has one record per request slot, so this cannot run out. */
	p = m->peer_free;
	m->peer_free = p->next;
	p->remote = *remote;
	p->hash = hash;
	p->nactive = 0;
	link_init(&p->queued);
	link_init(&p->sent);
	p->next = m->peer_tab[hash & m->req_mask];
	m->peer_tab[hash & m->req_mask] = p;
	return p;
}

static void peer_put(struct evudp6_messenger *m, struct peer *p)
{
	if (!list_empty(&p->queued) || !list_empty(&p->sent))
		return;
	struct peer **pp = &m->peer_tab[p->hash & m->req_mask];
	for (; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	p->next = m->peer_free;
	m->peer_free = p;
}

/* ------------------------------------------------------------ client requests */

static int req_transmit_first(struct evudp6_messenger *m, struct evudp6_request *r)
{
	int rc = xsend(m, &r->remote, r->buf, r->len);
	/* A full socket buffer is what retransmission is for. */
	if (rc < 0 && !(rc == -EAGAIN && r->con))
		return rc;
	m->st.requests_sent++;
	if (r->mcast) {
		r->state = REQ_MULTICAST;
		timer_add_us(r->timer, (uint64_t)r->wait_ms * 1000u);
		return 0;
	}
	r->active = true;
	r->peer->nactive++;
	if (r->con) {
		r->state = REQ_WAIT_ACK;
		r->retransmits = 0;
		r->timeout_us = initial_timeout_us(m);
		timer_add_us(r->timer, r->timeout_us);
	} else {
		r->state = REQ_WAIT_RESPONSE;
		timer_add_us(r->timer, (uint64_t)r->wait_ms * 1000u);
	}
	return 0;
}

/* Send queued requests while the remote has NSTART room. A send error here
 * is not reported to the request directly: the transport reports it
 * through the error callback, which fails every request to the remote. */
static void peer_pump(struct evudp6_messenger *m, struct peer *p)
{
	while (!m->shut && p->nactive < m->cfg.nstart && !list_empty(&p->queued)) {
		struct evudp6_request *r = container_of(p->queued.next, struct evudp6_request, plink);
		list_del(&r->plink);
		list_add_tail(&p->sent, &r->plink);
		if (req_transmit_first(m, r) < 0) {
			/* Left for the wait to end (a lost NON) or the error callback. */
			r->active = true;
			p->nactive++;
			r->state = r->con ? REQ_WAIT_ACK : REQ_WAIT_RESPONSE;
			r->timeout_us = initial_timeout_us(m);
			timer_add_us(r->timer, r->con ? r->timeout_us : (uint64_t)r->wait_ms * 1000u);
		}
	}
}

static void req_deactivate(struct evudp6_messenger *m, struct evudp6_request *r)
{
	if (!r->active)
		return;
	r->active = false;
	if (r->peer) {
		r->peer->nactive--;
		peer_pump(m, r->peer);
	}
}

static void req_release(struct evudp6_messenger *m, struct evudp6_request *r)
{
	r->state = REQ_FREE;
	r->free_next = m->req_free;
	m->req_free = r;
}

/* Take the request out of every table and list; it can then be handed to
 * its callback whatever the callback does. */
static void req_unlink(struct evudp6_messenger *m, struct evudp6_request *r)
{
	event_del(r->timer);
	if (r->in_tok)
		tok_remove(m, r);
	if (r->in_mid)
		mid_remove(m, r);
	list_del(&r->plink);
	struct peer *p = r->peer;
	if (p) {
		if (r->active) {
			r->active = false;
			p->nactive--;
		}
		r->peer = NULL;
		peer_pump(m, p);
		peer_put(m, p);
	}
	r->active = false;
	r->state = REQ_ENDED;
	m->st.requests_pending--;
}

static void req_finish(struct evudp6_messenger *m, struct evudp6_request *r, int err,
                       const struct evudp6_msg *rsp, const struct evudp6_addr *remote,
                       const struct evudp6_icmp *icmp)
{
	req_unlink(m, r);
	r->in_cb = true;
	r->cb(r, err, rsp, remote ? remote : &r->remote, icmp, r->arg);
	r->in_cb = false;
	req_release(m, r);
}

static void req_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct evudp6_request *r = arg;
	struct evudp6_messenger *m = r->m;
	(void)fd;
	(void)what;
	if (m->shut)
		return;
	enter(m);
	switch (r->state) {
	case REQ_WAIT_ACK:
		if (r->retransmits < m->cfg.max_retransmit) {
			r->retransmits++;
			r->timeout_us *= 2;
			m->st.retransmissions++;
			xsend(m, &r->remote, r->buf, r->len);
			timer_add_us(r->timer, r->timeout_us);
			break;
		}
		m->st.timeouts++;
		req_finish(m, r, -EVUDP6_E_TIMEOUT, NULL, NULL, NULL);
		break;
	case REQ_WAIT_RESPONSE:
		m->st.timeouts++;
		req_finish(m, r, -EVUDP6_E_TIMEOUT, NULL, NULL, NULL);
		break;
	case REQ_MULTICAST:
		/* The normal end of a multicast request, not a failure to count. */
		req_finish(m, r, -EVUDP6_E_TIMEOUT, NULL, NULL, NULL);
		break;
	default:
		break;
	}
	leave(m);
}

int evudp6_messenger_request(struct evudp6_messenger *m, const struct evudp6_addr *remote,
                             struct evudp6_msg_builder *b, unsigned int wait_ms,
                             evudp6_messenger_response_cb cb, void *arg, struct evudp6_request **out)
{
	if (!m || !remote || !b || !cb)
		return -EINVAL;
	if (m->shut)
		return -EVUDP6_E_SHUTDOWN;
	if (!m->started)
		return -EVUDP6_E_STATE;
	if (b->type != EVUDP6_CON && b->type != EVUDP6_NON)
		return -EINVAL;
	bool ping = b->code == EVUDP6_EMPTY;
	if (ping ? b->type != EVUDP6_CON : EVUDP6_CODE_CLASS(b->code) != 0)
		return -EINVAL;
	bool mcast = evudp6_addr_is_multicast(remote);
	if (mcast && b->type == EVUDP6_CON)
		return -EVUDP6_E_MULTICAST_CON;
	struct evudp6_request *r = m->req_free;
	if (!r)
		return -ENOBUFS;

	uint8_t token[TOKEN_LEN];
	if (ping) {
		evudp6_msg_builder_set_token(b, NULL, 0);
	} else {
		do {
			uint64_t w = rng_next(m);
			memcpy(token, &w, sizeof token);
		} while (tok_find(m, token));
		evudp6_msg_builder_set_token(b, token, sizeof token);
	}
	b->mid = alloc_mid(m);
	ssize_t n = evudp6_msg_encode(b, r->buf, m->cfg.max_message);
	if (n < 0)
		return (int)n;

	m->req_free = r->free_next;
	r->free_next = NULL;
	r->con = b->type == EVUDP6_CON;
	r->ping = ping;
	r->mcast = mcast;
	r->active = r->in_cb = false;
	r->mid = b->mid;
	r->tkl = ping ? 0 : TOKEN_LEN;
	if (!ping)
		memcpy(r->token, token, TOKEN_LEN);
	r->remote = *remote;
	r->peer = NULL;
	link_init(&r->plink);
	r->retransmits = 0;
	r->wait_ms = wait_ms ? wait_ms : (mcast ? m->cfg.multicast_wait_ms : m->cfg.response_timeout_ms);
	r->cb = cb;
	r->arg = arg;
	r->len = (size_t)n;
	r->state = REQ_QUEUED;
	m->st.requests_pending++;
	if (!ping)
		tok_insert(m, r);

	int rc = 0;
	if (mcast) {
		rc = req_transmit_first(m, r);
	} else {
		mid_insert(m, r);
		struct peer *p = peer_get(m, remote);
		r->peer = p;
		if (p->nactive < m->cfg.nstart && list_empty(&p->queued)) {
			list_add_tail(&p->sent, &r->plink);
			rc = req_transmit_first(m, r);
		} else {
			list_add_tail(&p->queued, &r->plink);
		}
	}
	if (rc < 0) {
		req_unlink(m, r);
		req_release(m, r);
		return rc;
	}
	if (out)
		*out = r;
	return 0;
}

void evudp6_request_cancel(struct evudp6_request *r)
{
	if (!r || r->state == REQ_FREE || r->state == REQ_ENDED)
		return;
	struct evudp6_messenger *m = r->m;
	req_unlink(m, r);
	if (!r->in_cb)
		req_release(m, r);
}

const struct evudp6_addr *evudp6_request_remote(const struct evudp6_request *r)
{
	return &r->remote;
}

unsigned int evudp6_request_retransmissions(const struct evudp6_request *r)
{
	return r->retransmits;
}

/* Deliver one response of a multicast request; the request goes on. */
static void req_deliver_multicast(struct evudp6_messenger *m, struct evudp6_request *r,
                                  const struct evudp6_msg *rsp, const struct evudp6_addr *remote)
{
	r->in_cb = true;
	r->cb(r, 0, rsp, remote, NULL, r->arg);
	r->in_cb = false;
	if (r->state == REQ_ENDED)
		req_release(m, r);
}

/* ------------------------------------------------------------ receiving */

static void on_duplicate(struct evudp6_messenger *m, struct evudp6_exchange *e, const struct evudp6_msg *msg)
{
	m->st.duplicates++;
	/* A duplicate NON is processed once and then ignored (RFC 7252 4.5). */
	if (msg->type != EVUDP6_CON)
		return;
	if (e->cached) {
		m->st.duplicates_answered++;
		send_reply(m, &e->remote, e->buf, e->len);
	} else if (e->acked || e->is_response) {
		m->st.duplicates_answered++;
		send_empty(m, &e->remote, EVUDP6_ACK, e->mid);
	}
	/* Otherwise the answer or the empty ACK is still to come. */
}

static void on_request(struct evudp6_messenger *m, const struct evudp6_msg *msg,
                       const struct evudp6_addr *remote, bool via_mcast)
{
	uint64_t now = now_ms();
	uint32_t hash = key_hash(m, remote, msg->mid);
	struct evudp6_exchange *e = dedup_find(m, hash, remote, msg->mid, now);
	if (e) {
		on_duplicate(m, e, msg);
		return;
	}
	if (!m->req_cb) {
		m->st.requests_received++;
		if (msg->type == EVUDP6_CON && !via_mcast)
			send_empty(m, remote, EVUDP6_RST, msg->mid);
		return;
	}
	e = ent_alloc(m, now);
	if (!e) {
		m->st.dedup_full++;
		return;
	}
	ent_fill(m, e, msg, remote, hash, now);
	e->state = ENT_PENDING;
	struct evudp6_opt opt;
	uint32_t v;
	if (evudp6_msg_find_opt(msg, EVUDP6_OPT_NO_RESPONSE, &opt) && evudp6_opt_uint(&opt, &v) == 0) {
		e->has_nores = true;
		e->nores = (uint8_t)v;
	}
	m->st.requests_received++;
	m->req_cb(m, e, msg, remote, m->req_arg);
	if (m->shut || e->state != ENT_PENDING || !e->con || e->acked)
		return;
	if (m->cfg.empty_ack_delay_ms == 0) {
		e->acked = true;
		send_empty(m, &e->remote, EVUDP6_ACK, e->mid);
	} else {
		timer_add_us(e->timer, (uint64_t)m->cfg.empty_ack_delay_ms * 1000u);
	}
}

static void on_response(struct evudp6_messenger *m, const struct evudp6_msg *msg,
                        const struct evudp6_addr *remote, bool via_mcast)
{
	uint64_t now = now_ms();
	uint32_t hash = key_hash(m, remote, msg->mid);
	struct evudp6_exchange *e = dedup_find(m, hash, remote, msg->mid, now);
	if (e) {
		/* A retransmitted CON response is acknowledged again, not reset. */
		on_duplicate(m, e, msg);
		return;
	}
	struct evudp6_request *r = msg->tkl == TOKEN_LEN ? tok_find(m, msg->token) : NULL;
	if (!r || (r->state != REQ_WAIT_ACK && r->state != REQ_WAIT_RESPONSE && r->state != REQ_MULTICAST) ||
	    (!r->mcast && !evudp6_addr_equal(&r->remote, remote))) {
		m->st.unmatched++;
		/* RFC 7252 8.1: no RST to anything that came via multicast. */
		if (msg->type == EVUDP6_CON && !via_mcast)
			send_empty(m, remote, EVUDP6_RST, msg->mid);
		return;
	}
	e = ent_alloc(m, now);
	if (e) {
		ent_fill(m, e, msg, remote, hash, now);
		e->is_response = true;
		e->acked = msg->type == EVUDP6_CON;
		ent_done(m, e);
	}
	if (msg->type == EVUDP6_CON)
		send_empty(m, remote, EVUDP6_ACK, msg->mid);
	if (r->mcast)
		req_deliver_multicast(m, r, msg, remote);
	else
		req_finish(m, r, 0, msg, remote, NULL);
}

static bool token_matches(const struct evudp6_msg *msg, const uint8_t *tok, uint8_t tkl)
{
	return msg->tkl == tkl && (tkl == 0 || memcmp(msg->token, tok, tkl) == 0);
}

static void on_ack(struct evudp6_messenger *m, const struct evudp6_msg *msg, const struct evudp6_addr *remote)
{
	struct evudp6_request *r = mid_find(m, msg->mid);
	if (r && r->con && evudp6_addr_equal(&r->remote, remote) &&
	    (r->state == REQ_WAIT_ACK || r->state == REQ_WAIT_RESPONSE)) {
		if (r->ping) {
			req_finish(m, r, 0, msg, remote, NULL);
		} else if (msg->code == EVUDP6_EMPTY) {
			if (r->state == REQ_WAIT_ACK) {
				/* Acknowledged: the response comes separately, and the
				 * request no longer holds an NSTART slot. */
				event_del(r->timer);
				r->state = REQ_WAIT_RESPONSE;
				timer_add_us(r->timer, (uint64_t)r->wait_ms * 1000u);
				req_deactivate(m, r);
			}
		} else if (token_matches(msg, r->token, r->tkl)) {
			req_finish(m, r, 0, msg, remote, NULL);
		} else {
			m->st.unmatched++;
		}
		return;
	}
	struct evudp6_exchange *e = sep_find(m, msg->mid);
	if (e && evudp6_addr_equal(&e->remote, remote)) {
		ent_done(m, e);
		return;
	}
	m->st.unmatched++;
}

static void on_rst(struct evudp6_messenger *m, const struct evudp6_msg *msg, const struct evudp6_addr *remote)
{
	struct evudp6_request *r = mid_find(m, msg->mid);
	if (r && evudp6_addr_equal(&r->remote, remote) &&
	    (r->state == REQ_WAIT_ACK || r->state == REQ_WAIT_RESPONSE)) {
		m->st.rst_received++;
		if (r->ping)
			req_finish(m, r, 0, msg, remote, NULL);
		else
			req_finish(m, r, -ECONNRESET, NULL, remote, NULL);
		return;
	}
	struct evudp6_exchange *e = sep_find(m, msg->mid);
	if (e && evudp6_addr_equal(&e->remote, remote)) {
		m->st.rst_received++;
		ent_done(m, e);
		return;
	}
	m->st.unmatched++;
}

static void handle_datagram(struct evudp6_messenger *m, const uint8_t *data, size_t len,
                            const struct evudp6_addr *remote)
{
	struct evudp6_msg msg;
	bool via_mcast = evudp6_addr_is_multicast_locally(remote);
	if (evudp6_msg_decode(&msg, data, len) != 0) {
		m->st.malformed++;
		/* RFC 7252 4.2: a CON we cannot process is rejected with RST. */
		if (evudp6_msg_peek_header(&msg, data, len) == 0 && msg.type == EVUDP6_CON && !via_mcast)
			send_empty(m, remote, EVUDP6_RST, msg.mid);
		return;
	}
	uint8_t cls = EVUDP6_CODE_CLASS(msg.code);
	switch (msg.type) {
	case EVUDP6_ACK:
		if (cls == 0 && msg.code != EVUDP6_EMPTY) {
			m->st.malformed++;
			return;
		}
		on_ack(m, &msg, remote);
		return;
	case EVUDP6_RST:
		if (msg.code != EVUDP6_EMPTY) {
			m->st.malformed++;
			return;
		}
		on_rst(m, &msg, remote);
		return;
	default:
		break;
	}
	if (msg.code == EVUDP6_EMPTY) {
		if (msg.type == EVUDP6_CON) {
			/* CoAP ping; answered even via multicast, as aiocoap does,
			 * since the RST leaves from a unicast address. */
			m->st.pings++;
			send_empty(m, remote, EVUDP6_RST, msg.mid);
			/* Last thing on this datagram: the callback may free m,
			 * which enter()/leave() in on_datagram() defers. */
			if (m->ping_cb)
				m->ping_cb(m, &msg, remote, m->ping_arg);
		} else {
			m->st.malformed++; /* an Empty NON means nothing (RFC 7252 4.3) */
		}
		return;
	}
	if (cls == 0) {
		on_request(m, &msg, remote, via_mcast);
	} else if (cls == 2 || cls == 4 || cls == 5) {
		on_response(m, &msg, remote, via_mcast);
	} else {
		m->st.malformed++;
		if (msg.type == EVUDP6_CON && !via_mcast)
			send_empty(m, remote, EVUDP6_RST, msg.mid);
	}
}

static void on_datagram(struct evudp6_transport *t, const uint8_t *data, size_t len,
                        const struct evudp6_addr *remote, void *arg)
{
	struct evudp6_messenger *m = arg;
	(void)t;
	if (m->shut)
		return;
	enter(m);
	handle_datagram(m, data, len, remote);
	leave(m);
}

/* ------------------------------------------------------------ errors */

/* RFC 7252 4.2: act on an ICMP error only if the datagram it quotes is
 * one we sent to that remote and still care about. */
static bool vet(struct evudp6_messenger *m, const struct evudp6_addr *remote, const uint8_t *quoted,
                size_t qlen)
{
	struct evudp6_msg h;
	if (!quoted || evudp6_msg_peek_header(&h, quoted, qlen) != 0)
		return false;
	/* A quote cut short inside the token leaves only the message id. */
	bool have_token = h.token != NULL;
	if (h.type == EVUDP6_CON || h.type == EVUDP6_NON) {
		struct evudp6_request *r = mid_find(m, h.mid);
		if (r && r->state != REQ_QUEUED && r->con == (h.type == EVUDP6_CON) &&
		    evudp6_addr_equal(&r->remote, remote) &&
		    (!have_token || token_matches(&h, r->token, r->tkl)))
			return true;
	}
	if (h.type == EVUDP6_CON) {
		struct evudp6_exchange *e = sep_find(m, h.mid);
		if (e && evudp6_addr_equal(&e->remote, remote) &&
		    (!have_token || token_matches(&h, e->token, e->tkl))) {
			/* The requester is gone: stop retransmitting to it. */
			ent_done(m, e);
			return true;
		}
	}
	return false;
}

/* Fail every request to @p remote, sent or still queued. Multicast
 * requests have no peer record and are never touched. */
static void fail_remote(struct evudp6_messenger *m, const struct evudp6_addr *remote, int err,
                        const struct evudp6_icmp *icmp)
{
	struct peer *p = peer_find(m, remote, key_hash(m, remote, 0));
	if (!p)
		return;
	struct link doomed;
	link_init(&doomed);
	struct link *lists[2] = {&p->sent, &p->queued};
	for (size_t i = 0; i < 2; i++)
		while (!list_empty(lists[i])) {
			struct evudp6_request *r = container_of(lists[i]->next, struct evudp6_request, plink);
			list_del(&r->plink);
			r->peer = NULL;
			r->active = false;
			list_add_tail(&doomed, &r->plink);
		}
	p->nactive = 0;
	peer_put(m, p);
	/* Callbacks may cancel other doomed requests (they leave the list),
	 * shut down or free the messenger (then the rest is dropped). */
	while (!list_empty(&doomed) && !m->shut) {
		struct evudp6_request *r = container_of(doomed.next, struct evudp6_request, plink);
		m->st.exchanges_failed++;
		req_finish(m, r, err, NULL, NULL, icmp);
	}
	while (!list_empty(&doomed))
		list_del(doomed.next);
}

static void on_error(struct evudp6_transport *t, int err, const struct evudp6_icmp *icmp,
                     const struct evudp6_addr *remote, const uint8_t *quoted, size_t quoted_len, void *arg)
{
	struct evudp6_messenger *m = arg;
	(void)t;
	if (m->shut)
		return;
	enter(m);
	if (icmp) {
		m->st.icmp_errors++;
		if (!vet(m, remote, quoted, quoted_len)) {
			m->st.icmp_vetted_out++;
			leave(m);
			return;
		}
	} else {
		/* Our own sendmsg() failed: nothing to vet. */
		m->st.send_errors++;
	}
	fail_remote(m, remote, err, icmp);
	leave(m);
}

/* ------------------------------------------------------------ server side */

static void ent_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct evudp6_exchange *e = arg;
	struct evudp6_messenger *m = e->m;
	(void)fd;
	(void)what;
	if (m->shut)
		return;
	enter(m);
	switch (e->state) {
	case ENT_PENDING:
		/* The handler is slow: acknowledge now, answer separately later. */
		if (e->con && !e->acked) {
			e->acked = true;
			send_empty(m, &e->remote, EVUDP6_ACK, e->mid);
		}
		break;
	case ENT_LEISURE:
		m->st.responses_sent++;
		send_reply(m, &e->remote, e->buf, e->len);
		ent_done(m, e);
		break;
	case ENT_SEPARATE:
		if (e->retransmits < m->cfg.max_retransmit) {
			e->retransmits++;
			e->timeout_us *= 2;
			m->st.retransmissions++;
			send_reply(m, &e->remote, e->buf, e->len);
			timer_add_us(e->timer, e->timeout_us);
		} else {
			m->st.timeouts++;
			ent_done(m, e);
		}
		break;
	default:
		break;
	}
	leave(m);
}

int evudp6_exchange_respond(struct evudp6_exchange *e, struct evudp6_msg_builder *b)
{
	if (!e)
		return -EINVAL;
	struct evudp6_messenger *m = e->m;
	if (m->shut)
		return -EVUDP6_E_SHUTDOWN;
	if (e->state != ENT_PENDING)
		return -EVUDP6_E_STATE;
	uint8_t cls = b ? EVUDP6_CODE_CLASS(b->code) : 0;
	if (b && (cls < 2 || cls > 5))
		return -EINVAL;

	bool suppress = false;
	if (b) {
		/* RFC 7967 bits: 2 for 2.xx, 8 for 4.xx, 16 for 5.xx. Without the
		 * option, errors to a multicast request stay quiet (RFC 7252 8.1);
		 * the option overrides that. */
		uint8_t bit = cls == 2 ? 2 : cls == 4 ? 8 : cls == 5 ? 16 : 0;
		if (e->has_nores)
			suppress = (e->nores & bit) != 0;
		else if (e->mcast)
			suppress = cls == 4 || cls == 5;
	}
	if (!b || suppress) {
		if (suppress)
			m->st.responses_suppressed++;
		if (e->con && !e->acked) {
			e->acked = true;
			send_empty(m, &e->remote, EVUDP6_ACK, e->mid);
		}
		ent_done(m, e);
		return 0;
	}

	int rc = evudp6_msg_builder_set_token(b, e->token, e->tkl);
	if (rc < 0)
		return rc;
	uint8_t type;
	uint16_t mid;
	if (e->con && !e->acked) {
		type = EVUDP6_ACK;
		mid = e->mid;
	} else {
		type = e->con ? EVUDP6_CON : EVUDP6_NON;
		mid = alloc_mid(m);
	}
	b->type = type;
	b->mid = mid;
	ssize_t n = evudp6_msg_encode(b, e->buf, m->cfg.max_message);
	if (n < 0)
		return (int)n;
	e->len = (size_t)n;
	event_del(e->timer);

	if (type == EVUDP6_ACK) {
		e->acked = true;
		e->cached = true;
		m->st.responses_sent++;
		send_reply(m, &e->remote, e->buf, e->len);
		ent_done(m, e);
	} else if (type == EVUDP6_CON) {
		e->rsp_mid = mid;
		sep_insert(m, e);
		e->retransmits = 0;
		e->timeout_us = initial_timeout_us(m);
		e->state = ENT_SEPARATE;
		m->st.responses_sent++;
		send_reply(m, &e->remote, e->buf, e->len);
		timer_add_us(e->timer, e->timeout_us);
	} else if (e->mcast && m->cfg.leisure_ms > 0) {
		/* RFC 7252 8.2: spread the responders' answers over the leisure. */
		e->state = ENT_LEISURE;
		timer_add_us(e->timer, rng_upto(m, (uint64_t)m->cfg.leisure_ms * 1000u));
	} else {
		m->st.responses_sent++;
		send_reply(m, &e->remote, e->buf, e->len);
		ent_done(m, e);
	}
	return 0;
}

const struct evudp6_addr *evudp6_exchange_remote(const struct evudp6_exchange *e)
{
	return &e->remote;
}

bool evudp6_exchange_is_multicast(const struct evudp6_exchange *e)
{
	return e->mcast;
}

/* ------------------------------------------------------------ life cycle */

void evudp6_messenger_config_init(struct evudp6_messenger_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->ack_timeout_ms = EVUDP6_MESSENGER_DEFAULT_ACK_TIMEOUT_MS;
	cfg->ack_random_factor = EVUDP6_MESSENGER_DEFAULT_ACK_RANDOM_FACTOR;
	cfg->max_retransmit = EVUDP6_MESSENGER_DEFAULT_MAX_RETRANSMIT;
	cfg->nstart = EVUDP6_MESSENGER_DEFAULT_NSTART;
	cfg->leisure_ms = EVUDP6_MESSENGER_DEFAULT_LEISURE_MS;
	cfg->exchange_lifetime_ms = EVUDP6_MESSENGER_DEFAULT_EXCHANGE_LIFETIME_MS;
	cfg->non_lifetime_ms = EVUDP6_MESSENGER_DEFAULT_NON_LIFETIME_MS;
	cfg->response_timeout_ms = EVUDP6_MESSENGER_DEFAULT_RESPONSE_TIMEOUT_MS;
	cfg->multicast_wait_ms = EVUDP6_MESSENGER_DEFAULT_MULTICAST_WAIT_MS;
	cfg->empty_ack_delay_ms = EVUDP6_MESSENGER_DEFAULT_EMPTY_ACK_DELAY_MS;
	cfg->dedup_cap = EVUDP6_MESSENGER_DEFAULT_DEDUP_CAP;
	cfg->max_requests = EVUDP6_MESSENGER_DEFAULT_MAX_REQUESTS;
	cfg->max_message = EVUDP6_MESSENGER_DEFAULT_MAX_MESSAGE;
}

static int config_check(const struct evudp6_messenger_config *c)
{
	/* Pool sizes are bounded so that cap * (entry + buffer) cannot overflow. */
	const size_t pool_max = (SIZE_MAX / 4) / (sizeof(struct evudp6_exchange) + MAX_MESSAGE_LIMIT);
	if (c->ack_timeout_ms == 0 || !isfinite(c->ack_random_factor) || c->ack_random_factor < 1.0 ||
	    c->ack_random_factor > RANDOM_FACTOR_LIMIT || c->max_retransmit > MAX_RETRANSMIT_LIMIT ||
	    c->nstart == 0 || c->exchange_lifetime_ms == 0 || c->non_lifetime_ms == 0 ||
	    c->response_timeout_ms == 0 || c->multicast_wait_ms == 0 || c->dedup_cap == 0 ||
	    c->dedup_cap > pool_max || c->max_requests == 0 || c->max_requests > pool_max ||
	    c->max_message < 16 || c->max_message > MAX_MESSAGE_LIMIT)
		return -EINVAL;
	return 0;
}

static void destroy(struct evudp6_messenger *m)
{
	if (m->reqs)
		for (size_t i = 0; i < m->cfg.max_requests; i++)
			if (m->reqs[i].timer)
				event_free(m->reqs[i].timer);
	if (m->ents)
		for (size_t i = 0; i < m->cfg.dedup_cap; i++)
			if (m->ents[i].timer)
				event_free(m->ents[i].timer);
	evudp6_transport_free(m->t);
	free(m->reqs);
	free(m->req_bufs);
	free(m->tok_tab);
	free(m->mid_tab);
	free(m->peers);
	free(m->peer_tab);
	free(m->ents);
	free(m->ent_bufs);
	free(m->dedup_tab);
	free(m->sep_tab);
	free(m);
}

int evudp6_messenger_new(struct evudp6_messenger **out, struct event_base *base,
                         const struct evudp6_transport_config *tcfg,
                         const struct evudp6_messenger_config *mcfg)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!base)
		return -EINVAL;
	struct evudp6_messenger_config cfg;
	if (mcfg)
		cfg = *mcfg;
	else
		evudp6_messenger_config_init(&cfg);
	int rc = config_check(&cfg);
	if (rc < 0)
		return rc;

	struct evudp6_messenger *m = calloc(1, sizeof *m);
	if (!m)
		return -ENOMEM;
	m->base = base;
	m->cfg = cfg;
	seed(m);
	link_init(&m->ent_free);
	link_init(&m->fifo);

	size_t nreq = cfg.max_requests, nent = cfg.dedup_cap;
	size_t req_tab = table_size(nreq), ent_tab = table_size(nent);
	m->req_mask = req_tab - 1;
	m->ent_mask = ent_tab - 1;
	m->reqs = calloc(nreq, sizeof *m->reqs);
	m->req_bufs = malloc(nreq * cfg.max_message);
	m->tok_tab = calloc(req_tab, sizeof *m->tok_tab);
	m->mid_tab = calloc(req_tab, sizeof *m->mid_tab);
	m->peers = calloc(nreq, sizeof *m->peers);
	m->peer_tab = calloc(req_tab, sizeof *m->peer_tab);
	m->ents = calloc(nent, sizeof *m->ents);
	m->ent_bufs = malloc(nent * cfg.max_message);
	m->dedup_tab = calloc(ent_tab, sizeof *m->dedup_tab);
	m->sep_tab = calloc(ent_tab, sizeof *m->sep_tab);
	if (!m->reqs || !m->req_bufs || !m->tok_tab || !m->mid_tab || !m->peers || !m->peer_tab || !m->ents ||
	    !m->ent_bufs || !m->dedup_tab || !m->sep_tab) {
		destroy(m);
		return -ENOMEM;
	}
	for (size_t i = nreq; i-- > 0;) {
		struct evudp6_request *r = &m->reqs[i];
		r->m = m;
		r->buf = m->req_bufs + i * cfg.max_message;
		link_init(&r->plink);
		r->timer = event_new(base, -1, 0, req_timer_cb, r);
		if (!r->timer) {
			destroy(m);
			return -ENOMEM;
		}
		r->free_next = m->req_free;
		m->req_free = r;
		m->peers[i].next = m->peer_free;
		m->peer_free = &m->peers[i];
	}
	for (size_t i = 0; i < nent; i++) {
		struct evudp6_exchange *e = &m->ents[i];
		e->m = m;
		e->buf = m->ent_bufs + i * cfg.max_message;
		e->timer = event_new(base, -1, 0, ent_timer_cb, e);
		if (!e->timer) {
			destroy(m);
			return -ENOMEM;
		}
		link_init(&e->fifo);
		list_add_tail(&m->ent_free, &e->fifo);
	}
	rc = evudp6_transport_new(&m->t, base, tcfg, on_datagram, on_error, m);
	if (rc < 0) {
		m->t = NULL;
		destroy(m);
		return rc;
	}
	*out = m;
	return 0;
}

int evudp6_messenger_start(struct evudp6_messenger *m)
{
	if (!m)
		return -EINVAL;
	if (m->shut)
		return -EVUDP6_E_SHUTDOWN;
	int rc = evudp6_transport_start(m->t);
	if (rc == 0)
		m->started = true;
	return rc;
}

struct evudp6_transport *evudp6_messenger_transport(const struct evudp6_messenger *m)
{
	return m->t;
}

void evudp6_messenger_set_request_cb(struct evudp6_messenger *m, evudp6_messenger_request_cb cb, void *arg)
{
	m->req_cb = cb;
	m->req_arg = arg;
}

void evudp6_messenger_set_ping_cb(struct evudp6_messenger *m, evudp6_messenger_ping_cb cb, void *arg)
{
	m->ping_cb = cb;
	m->ping_arg = arg;
}

void evudp6_messenger_stats(const struct evudp6_messenger *m, struct evudp6_messenger_stats *out)
{
	*out = m->st;
	out->dedup_cap = m->cfg.dedup_cap;
}

/* Stop all I/O and timers; objects stay in place for the caller to end. */
static void shut_down(struct evudp6_messenger *m)
{
	m->shut = true;
	evudp6_transport_shutdown(m->t, NULL, NULL);
	for (size_t i = 0; i < m->cfg.max_requests; i++)
		event_del(m->reqs[i].timer);
	for (size_t i = 0; i < m->cfg.dedup_cap; i++)
		event_del(m->ents[i].timer);
}

int evudp6_messenger_shutdown(struct evudp6_messenger *m)
{
	if (!m)
		return -EINVAL;
	if (m->shut)
		return -EVUDP6_E_SHUTDOWN;
	enter(m);
	shut_down(m);
	for (size_t i = 0; i < m->cfg.max_requests && !m->free_pending; i++) {
		struct evudp6_request *r = &m->reqs[i];
		if (r->state != REQ_FREE && r->state != REQ_ENDED)
			req_finish(m, r, -EVUDP6_E_SHUTDOWN, NULL, NULL, NULL);
	}
	leave(m);
	return 0;
}

void evudp6_messenger_free(struct evudp6_messenger *m)
{
	if (!m || m->free_pending)
		return;
	m->free_pending = true;
	if (!m->shut)
		shut_down(m);
	if (m->busy == 0)
		destroy(m);
}
