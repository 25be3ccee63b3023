/*
 * evudp6 — message layer internals shared by messenger.c (life cycle,
 * receive dispatch, sending), request.c (client) and exchange.c (server,
 * deduplication).
 *
 * Everything lives in pools allocated by evudp6_messenger_new(): client
 * requests (with their encoded datagram, kept for retransmission), the
 * per-remote records that enforce NSTART and let an ICMP error find every
 * exchange to a remote, and the deduplication entries (with the answer
 * they got, kept to re-send it byte for byte). Lookups go through
 * fixed-size hash tables (hashtab.h). The receive path therefore
 * allocates nothing.
 *
 * Re-entrancy: user callbacks may cancel, send, answer, shut down or free
 * the messenger. Every entry point from the event loop brackets its work
 * with evudp6__msgr_enter()/evudp6__msgr_leave(); freeing is deferred
 * until the outermost one returns, and every object is unlinked from all
 * tables before its callback runs.
 */
#ifndef EVUDP6_MESSENGER_INTERNAL_H
#define EVUDP6_MESSENGER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include <evudp6/messenger.h>

#include "hashtab.h"
#include "list.h"
#include "random-internal.h"
#include "transport-internal.h"

/* Bounds that keep every timeout computation inside 64 bits. */
#define EVUDP6__MAX_RETRANSMIT_LIMIT 16u
#define EVUDP6__RANDOM_FACTOR_LIMIT  16.0
#define EVUDP6__MAX_MESSAGE_LIMIT    65535u

/* Tokens of our requests: long enough that an off-path attacker cannot
 * guess them (RFC 7252 5.3.1). */
#define EVUDP6__TOKEN_LEN 8

/* ------------------------------------------------------------ objects */

enum evudp6__req_state {
	EVUDP6__REQ_FREE = 0,
	EVUDP6__REQ_QUEUED,        /* waiting for NSTART; not sent yet */
	EVUDP6__REQ_WAIT_ACK,      /* CON sent, retransmitting */
	EVUDP6__REQ_WAIT_RESPONSE, /* NON sent, or CON acknowledged by an empty ACK */
	EVUDP6__REQ_MULTICAST,     /* collecting responses until the wait ends */
	EVUDP6__REQ_ENDED          /* unlinked; released once its callback returns */
};

struct evudp6__peer;
struct evudp6__obs;

struct evudp6_request {
	struct evudp6_messenger *m;
	uint64_t gen; /* raised when the slot is released: older handles are stale */
	struct event *timer;
	enum evudp6__req_state state;
	bool con, ping, mcast;
	bool active; /* counts toward its peer's NSTART */
	bool in_cb;
	uint16_t mid;
	uint8_t tkl;
	uint8_t token[EVUDP6__TOKEN_LEN];
	struct evudp6_addr remote;
	struct evudp6__peer *peer;
	struct evudp6__link plink; /* in peer->queued or peer->sent, or a list being failed */
	struct evudp6__hnode tok_node, mid_node;
	struct evudp6_request *free_next;
	unsigned int retransmits;
	uint64_t timeout_us;
	unsigned int wait_ms;
	/* Per-request settings (evudp6_messenger_request_ex()). */
	unsigned int ack_timeout_ms, max_retransmit;
	double random_factor;
	bool acked; /* an empty ACK came: the response is separate */
	struct event *deadline;
	evudp6_request_ack_cb ack_cb;
	evudp6_messenger_response_cb cb;
	void *arg;
	uint8_t *buf;
	size_t len;
};

/* One remote we send to: NSTART and ICMP failing while it has unicast
 * requests pending, and the message ids we give our messages to it. A
 * record without requests stays in the table (on m->peer_idle, least
 * recently used first) so the remote's ids go on in sequence; it is
 * reused for another remote only when no free one is left. */
struct evudp6__peer {
	struct evudp6_addr remote;
	struct evudp6__hnode node;
	struct evudp6__peer *free_next;
	struct evudp6__link queued, sent;
	struct evudp6__link idle; /* in m->peer_idle while it has no requests */
	unsigned int nactive;
	uint16_t next_mid;
};

enum evudp6__ent_state {
	EVUDP6__ENT_FREE = 0,
	EVUDP6__ENT_PENDING,  /* handler owes the answer */
	EVUDP6__ENT_LEISURE,  /* NON response to a multicast request, waiting to leave */
	EVUDP6__ENT_SEPARATE, /* separate CON response, retransmitting */
	EVUDP6__ENT_DONE      /* answered: only remembered for duplicates; evictable */
};

/* A deduplication entry; for a received request also its exchange. */
struct evudp6_exchange {
	struct evudp6_messenger *m;
	uint64_t gen; /* raised when the exchange is answered: its handle is stale */
	struct event *timer;
	enum evudp6__ent_state state;
	bool con;         /* the received message was CON */
	bool mcast;       /* it arrived via multicast */
	bool is_response; /* a CON/NON response we received (client side) */
	bool acked;       /* an ACK (empty or piggybacked) has been sent */
	bool cached;      /* buf holds the piggybacked ACK to re-send to duplicates */
	bool safe;        /* the request was a GET or FETCH: answering it again is harmless */
	bool has_nores;
	uint8_t nores;
	uint8_t tkl;
	uint8_t token[EVUDP6_TOKEN_MAX];
	uint16_t mid;     /* of the received message */
	uint16_t rsp_mid; /* of our separate response */
	uint64_t expires_ms;
	struct evudp6_addr remote; /* as received, local part included */
	struct evudp6__hnode dedup_node, sep_node;
	struct evudp6__link fifo; /* m->fifo when DONE, m->sep_fifo when SEPARATE, m->ent_free when FREE */
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
	evudp6_messenger_unmatched_cb unmatched_cb;
	void *unmatched_arg;
	evudp6_messenger_icmp_cb icmp_cb;
	void *icmp_arg;
	struct evudp6_messenger_stats st;
	struct evudp6__rng rng;   /* jitter and leisure only */
	struct evudp6__pool pool; /* tokens and message id starts */
	uint64_t key[2];
	bool started, shut, free_pending;
	unsigned int busy;
	/* On a transport the caller owns: its own callbacks, to hand on what
	 * is not ours and to give back at shutdown. */
	bool borrowed;
	struct evudp6__transport_cbs lender;

	/* client: request.c */
	struct evudp6_request *reqs;
	uint8_t *req_bufs;
	struct evudp6_request *req_free;
	struct evudp6__htab tok_tab, mid_tab;
	struct evudp6__peer *peers, *peer_free;
	struct evudp6__link peer_idle;
	size_t npeers;
	struct evudp6__htab peer_tab;

	/* server and deduplication: exchange.c */
	struct evudp6_exchange *ents;
	uint8_t *ent_bufs;
	struct evudp6__link ent_free, fifo;
	struct evudp6__htab dedup_tab, sep_tab;
	/* Separate responses retransmitting (oldest first), how many, and how
	 * many may; the retransmission budget in thousandths of a token. */
	struct evudp6__link sep_fifo;
	size_t nsep, sep_max;
	uint64_t sep_budget, sep_budget_ms;

	/* Observe (RFC 7641): observe.c, NULL until set up */
	struct evudp6__obs *obs;
};

/* ------------------------------------------------------------ handles */

static inline struct evudp6_request_handle evudp6__req_handle(struct evudp6_request *r)
{
	return (struct evudp6_request_handle){.obj = r, .gen = r->gen};
}

/* The request @p h refers to, or NULL once it has been released (its
 * slot may hold another request by now). */
static inline struct evudp6_request *evudp6__req_of(struct evudp6_request_handle h)
{
	struct evudp6_request *r = h.obj;
	return r && r->gen == h.gen && r->state != EVUDP6__REQ_FREE ? r : NULL;
}

static inline struct evudp6_exchange_handle evudp6__ent_handle(struct evudp6_exchange *e)
{
	return (struct evudp6_exchange_handle){.obj = e, .gen = e->gen};
}

/* The exchange @p h refers to, or NULL once it has been answered. */
static inline struct evudp6_exchange *evudp6__ent_of(struct evudp6_exchange_handle h)
{
	struct evudp6_exchange *e = h.obj;
	return e && e->gen == h.gen && e->state == EVUDP6__ENT_PENDING ? e : NULL;
}

/* ------------------------------------------------------------ tokens */

/* Hash of one of our tokens: they are random, so their bits are the hash. */
static inline uint32_t evudp6__token_hash(const uint8_t *tok)
{
	uint32_t w;
	memcpy(&w, tok, sizeof w);
	return w;
}

/* ------------------------------------------------------------ time */

static inline uint64_t evudp6__now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline void evudp6__timer_add_us(struct event *ev, uint64_t us)
{
	struct timeval tv = {.tv_sec = (time_t)(us / 1000000u), .tv_usec = (suseconds_t)(us % 1000000u)};
	event_add(ev, &tv);
}

/* One step of the RFC 7252 4.2 schedule: true, with the count raised and
 * the timeout doubled, while another transmission is due. */
static inline bool evudp6__retransmit_due_max(struct evudp6_messenger *m, unsigned int max,
                                              unsigned int *count, uint64_t *timeout_us)
{
	if (*count >= max)
		return false;
	(*count)++;
	*timeout_us *= 2;
	m->st.retransmissions++;
	return true;
}

/* The same with the configuration's MAX_RETRANSMIT. */
static inline bool evudp6__retransmit_due(struct evudp6_messenger *m, unsigned int *count,
                                          uint64_t *timeout_us)
{
	return evudp6__retransmit_due_max(m, m->cfg.max_retransmit, count, timeout_us);
}

/* ------------------------------------------------------------ messenger.c */

void evudp6__msgr_enter(struct evudp6_messenger *m);
void evudp6__msgr_leave(struct evudp6_messenger *m);
/* Hash of what evudp6_addr_equal() compares, plus a message id: the key
 * of every lookup by (remote, message id). */
uint32_t evudp6__msgr_key_hash(const struct evudp6_messenger *m, const struct evudp6_addr *a, uint16_t mid);
/* First retransmission timeout: uniform in [ACK_TIMEOUT, ACK_TIMEOUT * ACK_RANDOM_FACTOR]. */
uint64_t evudp6__msgr_initial_timeout_us(struct evudp6_messenger *m);
/* The same for other values than the configuration's. */
uint64_t evudp6__msgr_timeout_us(struct evudp6_messenger *m, unsigned int ack_timeout_ms, double factor);
int evudp6__msgr_send(struct evudp6_messenger *m, const struct evudp6_addr *to, const void *buf, size_t len);
/* Answer a received datagram: from the address it reached, or, if that
 * was a multicast group, from whatever unicast address the kernel picks. */
int evudp6__msgr_reply(struct evudp6_messenger *m, const struct evudp6_addr *received_from, const void *buf,
                       size_t len);
void evudp6__msgr_send_empty(struct evudp6_messenger *m, const struct evudp6_addr *received_from,
                             uint8_t type, uint16_t mid);
/* Count a datagram that matched no exchange and tell the application.
 * Must be the last thing done with the datagram: the callback may free m. */
void evudp6__msgr_unmatched(struct evudp6_messenger *m, const struct evudp6_msg *msg,
                            const struct evudp6_addr *remote);

/* ------------------------------------------------------------ request.c */

int evudp6__req_pool_init(struct evudp6_messenger *m);
void evudp6__req_pool_destroy(struct evudp6_messenger *m);
/* Our pending request whose token @p msg carries, if any. */
struct evudp6_request *evudp6__req_find_token(struct evudp6_messenger *m, const struct evudp6_msg *msg);
/* Our pending unicast request to @p remote with this message id, if any;
 * @p hash is evudp6__msgr_key_hash(m, remote, mid). */
struct evudp6_request *evudp6__req_find_mid(struct evudp6_messenger *m, const struct evudp6_addr *remote,
                                            uint16_t mid, uint32_t hash);
/* The next message id of ours to @p remote that no pending message to it
 * uses (RFC 7252 4.4: a random start per remote, then in sequence), and
 * its key hash. */
uint16_t evudp6__req_alloc_mid(struct evudp6_messenger *m, const struct evudp6_addr *remote, uint32_t *hash);
/* A response (CON/NON class 2, 4, 5) that arrived. */
void evudp6__req_on_response(struct evudp6_messenger *m, const struct evudp6_msg *msg,
                             const struct evudp6_addr *remote, bool via_mcast);
/* An ACK or RST: true when it concerned one of our requests. @p hash is
 * evudp6__msgr_key_hash(m, remote, msg->mid). */
bool evudp6__req_on_ack(struct evudp6_messenger *m, const struct evudp6_msg *msg,
                        const struct evudp6_addr *remote, uint32_t hash);
bool evudp6__req_on_rst(struct evudp6_messenger *m, const struct evudp6_msg *msg,
                        const struct evudp6_addr *remote, uint32_t hash);
/* The request pending to @p remote that the quoted header @p h (token
 * complete) is the start of: same type, message id and token. */
struct evudp6_request *evudp6__req_quoted(struct evudp6_messenger *m, const struct evudp6_msg *h,
                                          const struct evudp6_addr *remote);
/* Send the request again now (after a Packet Too Big quoting it). */
void evudp6__req_resend(struct evudp6_messenger *m, struct evudp6_request *r);
/* End @p r with @p err (a send error that concerns it alone). */
void evudp6__req_fail(struct evudp6_messenger *m, struct evudp6_request *r, int err);
/* Fail every request to @p remote, sent or still queued. */
void evudp6__req_fail_remote(struct evudp6_messenger *m, const struct evudp6_addr *remote, int err,
                             const struct evudp6_icmp *icmp);
void evudp6__req_stop_timers(struct evudp6_messenger *m);
/* End every pending request with -EVUDP6_E_SHUTDOWN. */
void evudp6__req_shutdown_all(struct evudp6_messenger *m);

/* ------------------------------------------------------------ exchange.c */

int evudp6__ent_pool_init(struct evudp6_messenger *m);
void evudp6__ent_pool_destroy(struct evudp6_messenger *m);
/* Our separate CON response to @p remote with this message id, if any;
 * @p hash is evudp6__msgr_key_hash(m, remote, mid). */
struct evudp6_exchange *evudp6__ent_find_sep(struct evudp6_messenger *m, const struct evudp6_addr *remote,
                                             uint16_t mid, uint32_t hash);
/* A request (class 0, not Empty) that arrived; never a CON via multicast. */
void evudp6__ent_on_request(struct evudp6_messenger *m, const struct evudp6_msg *msg,
                            const struct evudp6_addr *remote);
/* A CON/NON response seen before: true when it was a duplicate, handled. */
bool evudp6__ent_on_dup_response(struct evudp6_messenger *m, const struct evudp6_msg *msg,
                                 const struct evudp6_addr *remote, uint32_t hash, uint64_t now);
/* Remember a response we accepted, so its duplicates are acknowledged. */
void evudp6__ent_remember_response(struct evudp6_messenger *m, const struct evudp6_msg *msg,
                                   const struct evudp6_addr *remote, uint32_t hash, uint64_t now);
/* An ACK or RST for one of our separate responses: true when handled. */
bool evudp6__ent_on_ack(struct evudp6_messenger *m, const struct evudp6_msg *msg,
                        const struct evudp6_addr *remote, uint32_t hash);
bool evudp6__ent_on_rst(struct evudp6_messenger *m, const struct evudp6_msg *msg,
                        const struct evudp6_addr *remote, uint32_t hash);
/* The separate response retransmitted to @p remote that the quoted header
 * @p h (token complete) is the start of. */
struct evudp6_exchange *evudp6__ent_quoted(struct evudp6_messenger *m, const struct evudp6_msg *h,
                                           const struct evudp6_addr *remote);
/* The requester is gone: stop retransmitting the separate response. */
void evudp6__ent_give_up(struct evudp6_messenger *m, struct evudp6_exchange *e);
/* Send the separate response again now (after a Packet Too Big). */
void evudp6__ent_resend(struct evudp6_messenger *m, struct evudp6_exchange *e,
                        const struct evudp6_icmp *icmp);
void evudp6__ent_stop_timers(struct evudp6_messenger *m);

bool evudp6__token_matches(const struct evudp6_msg *msg, const uint8_t *tok, uint8_t tkl);

#endif
