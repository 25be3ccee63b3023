/*
 * evudp6 — message layer, server side: deduplication, answering requests
 * (piggybacked, empty ACK then separate, NON, after a leisure for
 * multicast), No-Response (RFC 7252 sections 4.5, 5.2 and 8.2, RFC 7967).
 * See messenger-internal.h.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "messenger-internal.h"
#include "observe-internal.h"

#define ENT_OF(n, member) evudp6__container_of(n, struct evudp6_exchange, member)

/* ------------------------------------------------------------ tables */

struct evudp6_exchange *evudp6__ent_find_sep(struct evudp6_messenger *m, const struct evudp6_addr *remote,
                                             uint16_t mid, uint32_t hash)
{
	for (struct evudp6__hnode *n = evudp6__htab_bucket(&m->sep_tab, hash); n; n = n->next) {
		struct evudp6_exchange *e = ENT_OF(n, sep_node);
		if (n->hash == hash && e->rsp_mid == mid && evudp6_addr_equal(&e->remote, remote))
			return e;
	}
	return NULL;
}

static void ent_release(struct evudp6_messenger *m, struct evudp6_exchange *e)
{
	evudp6__htab_remove(&m->dedup_tab, &e->dedup_node);
	evudp6__htab_remove(&m->sep_tab, &e->sep_node);
	event_del(e->timer);
	evudp6__list_del(&e->fifo);
	e->state = EVUDP6__ENT_FREE;
	evudp6__list_add_tail(&m->ent_free, &e->fifo);
	m->st.dedup_entries--;
}

/* Answered: from now on the entry only serves duplicates and may be
 * forgotten first when room is needed. */
static void ent_done(struct evudp6_messenger *m, struct evudp6_exchange *e)
{
	event_del(e->timer);
	evudp6__htab_remove(&m->sep_tab, &e->sep_node);
	if (e->state == EVUDP6__ENT_SEPARATE)
		m->nsep--;
	evudp6__list_del(&e->fifo);
	e->state = EVUDP6__ENT_DONE;
	evudp6__list_add_tail(&m->fifo, &e->fifo);
}

/* A separate response nobody acknowledges must not hold its entry for
 * the whole schedule when others need room: the oldest gives way. */
static void sep_stop_oldest(struct evudp6_messenger *m)
{
	m->st.separate_stopped++;
	ent_done(m, ENT_OF(m->sep_fifo.next, fifo));
}

/* One retransmission of a separate response, if the budget has it: a
 * token bucket refilled at separate_retransmit_per_s, one second deep. */
static bool sep_budget_take(struct evudp6_messenger *m)
{
	uint64_t rate = m->cfg.separate_retransmit_per_s, full = rate * 1000u;
	uint64_t now = evudp6__now_ms(), idle = now - m->sep_budget_ms;
	m->sep_budget_ms = now;
	m->sep_budget = idle >= 1000u ? full : m->sep_budget + idle * rate;
	if (m->sep_budget > full)
		m->sep_budget = full;
	if (m->sep_budget < 1000u)
		return false;
	m->sep_budget -= 1000u;
	return true;
}

/*
 * The local half of the deduplication key: the address the message
 * reached. The interface counts only where the address needs it to be
 * unique (link-local unicast, and interface- or link-scoped groups such
 * as ff02::fd): a unicast address of the host may be reached through any
 * interface, and a retransmission that takes another path is still a
 * duplicate.
 */
static bool same_local(const struct evudp6_addr *a, const struct evudp6_addr *b)
{
	if (a->has_local != b->has_local)
		return false;
	if (!a->has_local)
		return true;
	if (!IN6_ARE_ADDR_EQUAL(&a->local_addr, &b->local_addr))
		return false;
	const struct in6_addr *l = &a->local_addr;
	bool scoped = IN6_IS_ADDR_LINKLOCAL(l) || IN6_IS_ADDR_MC_NODELOCAL(l) || IN6_IS_ADDR_MC_LINKLOCAL(l);
	return !scoped || a->local_ifindex == b->local_ifindex;
}

/* Deduplication is per endpoint pair: (remote, local address, message id).
 * The hash covers the remote and the message id only, so the local half
 * costs nothing but a comparison in the bucket. */
static struct evudp6_exchange *dedup_find(struct evudp6_messenger *m, uint32_t hash,
                                          const struct evudp6_addr *remote, uint16_t mid, uint64_t now)
{
	for (struct evudp6__hnode *n = evudp6__htab_bucket(&m->dedup_tab, hash); n; n = n->next) {
		struct evudp6_exchange *e = ENT_OF(n, dedup_node);
		if (n->hash != hash || e->mid != mid || !evudp6_addr_equal(&e->remote, remote) ||
		    !same_local(&e->remote, remote))
			continue;
		if (e->state == EVUDP6__ENT_DONE && e->expires_ms <= now) {
			ent_release(m, e);
			return NULL;
		}
		return e;
	}
	return NULL;
}

static struct evudp6_exchange *ent_alloc(struct evudp6_messenger *m, uint64_t now)
{
	while (!evudp6__list_empty(&m->fifo)) {
		struct evudp6_exchange *old = ENT_OF(m->fifo.next, fifo);
		if (old->expires_ms > now)
			break;
		ent_release(m, old);
	}
	if (evudp6__list_empty(&m->ent_free)) {
		if (evudp6__list_empty(&m->fifo) && !evudp6__list_empty(&m->sep_fifo))
			sep_stop_oldest(m);
		/* Entries still owed an answer cannot go: their handles are out. */
		if (evudp6__list_empty(&m->fifo))
			return NULL;
		ent_release(m, ENT_OF(m->fifo.next, fifo));
		m->st.dedup_evicted++;
	}
	struct evudp6_exchange *e = ENT_OF(m->ent_free.next, fifo);
	evudp6__list_del(&e->fifo);
	m->st.dedup_entries++;
	if (m->st.dedup_entries > m->st.dedup_peak)
		m->st.dedup_peak = m->st.dedup_entries;
	e->con = e->mcast = e->is_response = e->acked = e->cached = e->safe = e->has_nores = false;
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
	e->expires_ms = now + (e->con ? m->cfg.exchange_lifetime_ms : m->cfg.non_lifetime_ms);
	evudp6__htab_insert(&m->dedup_tab, &e->dedup_node, hash);
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
		evudp6__msgr_reply(m, &e->remote, e->buf, e->len);
	} else if (e->acked || e->is_response) {
		m->st.duplicates_answered++;
		evudp6__msgr_send_empty(m, &e->remote, EVUDP6_ACK, e->mid);
	}
	/* Otherwise the answer or the empty ACK is still to come. */
}

void evudp6__ent_on_request(struct evudp6_messenger *m, const struct evudp6_msg *msg,
                            const struct evudp6_addr *remote)
{
	uint64_t now = evudp6__now_ms();
	uint32_t hash = evudp6__msgr_key_hash(m, remote, msg->mid);
	struct evudp6_exchange *e = dedup_find(m, hash, remote, msg->mid, now);
	if (e) {
		on_duplicate(m, e, msg);
		return;
	}
	if (!m->req_cb) {
		m->st.requests_received++;
		/* A NON is ignored; a CON here came via unicast (see
		 * handle_datagram()). */
		if (msg->type == EVUDP6_CON)
			evudp6__msgr_send_empty(m, remote, EVUDP6_RST, msg->mid);
		return;
	}
	e = ent_alloc(m, now);
	if (!e) {
		m->st.dedup_full++;
		return;
	}
	ent_fill(m, e, msg, remote, hash, now);
	e->state = EVUDP6__ENT_PENDING;
	e->safe = msg->code == EVUDP6_GET || msg->code == EVUDP6_FETCH;
	struct evudp6_opt opt;
	uint32_t v;
	if (evudp6_msg_find_opt(msg, EVUDP6_OPT_NO_RESPONSE, &opt) && evudp6_opt_uint(&opt, &v) == 0) {
		e->has_nores = true;
		e->nores = (uint8_t)v;
	}
	m->st.requests_received++;
	evudp6__obs_on_request(m, msg, remote);
	m->req_cb(m, evudp6__ent_handle(e), msg, remote, m->req_arg);
	if (m->shut || e->state != EVUDP6__ENT_PENDING || !e->con || e->acked)
		return;
	if (m->cfg.empty_ack_delay_ms == 0) {
		e->acked = true;
		evudp6__msgr_send_empty(m, &e->remote, EVUDP6_ACK, e->mid);
	} else {
		evudp6__timer_add_us(e->timer, (uint64_t)m->cfg.empty_ack_delay_ms * 1000u);
	}
}

bool evudp6__ent_on_dup_response(struct evudp6_messenger *m, const struct evudp6_msg *msg,
                                 const struct evudp6_addr *remote, uint32_t hash, uint64_t now)
{
	struct evudp6_exchange *e = dedup_find(m, hash, remote, msg->mid, now);
	if (!e)
		return false;
	on_duplicate(m, e, msg);
	return true;
}

void evudp6__ent_remember_response(struct evudp6_messenger *m, const struct evudp6_msg *msg,
                                   const struct evudp6_addr *remote, uint32_t hash, uint64_t now)
{
	struct evudp6_exchange *e = ent_alloc(m, now);
	if (!e)
		return;
	ent_fill(m, e, msg, remote, hash, now);
	e->is_response = true;
	e->acked = msg->type == EVUDP6_CON;
	ent_done(m, e);
}

bool evudp6__ent_on_ack(struct evudp6_messenger *m, const struct evudp6_msg *msg,
                        const struct evudp6_addr *remote, uint32_t hash)
{
	struct evudp6_exchange *e = evudp6__ent_find_sep(m, remote, msg->mid, hash);
	if (!e)
		return false;
	ent_done(m, e);
	return true;
}

bool evudp6__ent_on_rst(struct evudp6_messenger *m, const struct evudp6_msg *msg,
                        const struct evudp6_addr *remote, uint32_t hash)
{
	if (!evudp6__ent_on_ack(m, msg, remote, hash))
		return false;
	m->st.rst_received++;
	return true;
}

struct evudp6_exchange *evudp6__ent_quoted(struct evudp6_messenger *m, const struct evudp6_msg *h,
                                           const struct evudp6_addr *remote)
{
	if (h->type == EVUDP6_ACK && h->code) {
		/* A piggybacked answer still cached for duplicates. */
		uint32_t hash = evudp6__msgr_key_hash(m, remote, h->mid);
		uint64_t now = evudp6__now_ms();
		for (struct evudp6__hnode *n = evudp6__htab_bucket(&m->dedup_tab, hash); n; n = n->next) {
			struct evudp6_exchange *e = ENT_OF(n, dedup_node);
			if (n->hash == hash && e->mid == h->mid && e->cached &&
			    e->state == EVUDP6__ENT_DONE && e->expires_ms > now &&
			    evudp6_addr_equal(&e->remote, remote) &&
			    evudp6__token_matches(h, e->token, e->tkl))
				return e;
		}
		return NULL;
	}
	if (h->type != EVUDP6_CON)
		return NULL;
	struct evudp6_exchange *e =
	    evudp6__ent_find_sep(m, remote, h->mid, evudp6__msgr_key_hash(m, remote, h->mid));
	if (!e || !evudp6__token_matches(h, e->token, e->tkl))
		return NULL;
	return e;
}

void evudp6__ent_give_up(struct evudp6_messenger *m, struct evudp6_exchange *e)
{
	ent_done(m, e);
}

/*
 * A Packet Too Big (or fragmentation needed) of @p mtu quoting our answer
 * with Block2: rewrite the answer in e->buf as the first part of that
 * block in the largest smaller size whose datagram fits. The first
 * 16 << szx bytes of block NUM of 16 << old bytes are block
 * NUM << (old - szx) of the smaller size, so the client, which takes the
 * size from the answer (RFC 7959 2.2, late negotiation), asks for the
 * rest from there. false, and e->buf unchanged, when the answer has no
 * Block2 (or BERT), no smaller block fits, or it fits already.
 */
static bool ent_shrink_block(struct evudp6_exchange *e, uint32_t mtu)
{
	struct evudp6_msg msg;
	struct evudp6_opt o;
	uint32_t v;
	if (evudp6_msg_decode(&msg, e->buf, e->len) < 0 ||
	    !evudp6_msg_find_opt(&msg, EVUDP6_OPT_BLOCK2, &o) || evudp6_opt_uint(&o, &v) < 0)
		return false;
	unsigned int old = v & 7u;
	uint32_t num = v >> 4;
	bool v4 = evudp6_addr_is_v4mapped(&e->remote);
	if (!v4 && mtu < 1280)
		mtu = 1280; /* no IPv6 link is smaller (RFC 8200 5) */
	/* IP and UDP headers, the CoAP bytes around the payload, and up to
	 * three more for the larger NUM. */
	size_t around = (v4 ? 20u + 8u : 40u + 8u) + (e->len - msg.payload_len) + 3;
	if (old == 0 || old == 7 || mtu <= around + 16 || msg.payload_len + around <= mtu)
		return false;
	unsigned int szx = 0;
	while (szx + 1 < old && (16u << (szx + 1)) <= mtu - around)
		szx++;
	num <<= old - szx;
	size_t size = 16u << szx;
	if (num > 0xfffffu || msg.payload_len <= size)
		return false;

	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, msg.type, msg.code, msg.mid);
	evudp6_msg_builder_set_token(&b, msg.token, msg.tkl);
	struct evudp6_opt_iter it;
	evudp6_opt_iter_init(&it, &msg);
	while (evudp6_opt_iter_next(&it, &o))
		if (o.number != EVUDP6_OPT_BLOCK2)
			evudp6_msg_builder_add_opt(&b, o.number, o.value, o.len);
	evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_BLOCK2, num << 4 | 0x8u | szx);
	evudp6_msg_builder_set_payload(&b, msg.payload, size);
	/* Rare (once per error), so a copy rather than a buffer kept for it:
	 * the builder still points into e->buf. */
	uint8_t *out = malloc(e->len);
	ssize_t n = out ? evudp6_msg_encode(&b, out, e->len) : -1;
	if (n > 0) {
		memcpy(e->buf, out, (size_t)n);
		e->len = (size_t)n;
	}
	free(out);
	return n > 0;
}

void evudp6__ent_resend(struct evudp6_messenger *m, struct evudp6_exchange *e, const struct evudp6_icmp *icmp)
{
	if ((e->state == EVUDP6__ENT_SEPARATE || (e->state == EVUDP6__ENT_DONE && e->cached)) &&
	    ent_shrink_block(e, icmp->info)) {
		m->st.packet_too_big_resends++;
		m->st.packet_too_big_block_shrinks++;
		evudp6__msgr_reply(m, &e->remote, e->buf, e->len);
		return;
	}
	if (e->state == EVUDP6__ENT_DONE && e->safe) {
		/* A cached answer to a GET or FETCH: forget it, so that the
		 * retransmitted request is answered anew, in a size that fits
		 * (a block server is told through the soft-ICMP callback). */
		ent_release(m, e);
		return;
	}
	m->st.packet_too_big_resends++;
	evudp6__msgr_reply(m, &e->remote, e->buf, e->len);
}

/* ------------------------------------------------------------ answering */

static void ent_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct evudp6_exchange *e = arg;
	struct evudp6_messenger *m = e->m;
	(void)fd;
	(void)what;
	if (m->shut)
		return;
	evudp6__msgr_enter(m);
	switch (e->state) {
	case EVUDP6__ENT_PENDING:
		/* The handler is slow: acknowledge now, answer separately later. */
		if (e->con && !e->acked) {
			e->acked = true;
			evudp6__msgr_send_empty(m, &e->remote, EVUDP6_ACK, e->mid);
		}
		break;
	case EVUDP6__ENT_LEISURE:
		m->st.responses_sent++;
		evudp6__msgr_reply(m, &e->remote, e->buf, e->len);
		ent_done(m, e);
		break;
	case EVUDP6__ENT_SEPARATE:
		if (e->retransmits < m->cfg.max_retransmit && !sep_budget_take(m)) {
			/* Over the budget: this one is skipped, the schedule goes on. */
			e->retransmits++;
			e->timeout_us *= 2;
			m->st.separate_retransmits_throttled++;
			evudp6__timer_add_us(e->timer, e->timeout_us);
		} else if (evudp6__retransmit_due(m, &e->retransmits, &e->timeout_us)) {
			evudp6__msgr_reply(m, &e->remote, e->buf, e->len);
			evudp6__timer_add_us(e->timer, e->timeout_us);
		} else {
			m->st.timeouts++;
			ent_done(m, e);
		}
		break;
	default:
		break;
	}
	evudp6__msgr_leave(m);
}

int evudp6_exchange_respond(struct evudp6_exchange_handle h, struct evudp6_msg_builder *b)
{
	if (!h.obj)
		return -EINVAL;
	struct evudp6_exchange *e = evudp6__ent_of(h);
	if (!e)
		return -EVUDP6_E_STATE;
	struct evudp6_messenger *m = e->m;
	if (m->shut)
		return -EVUDP6_E_SHUTDOWN;
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
		e->gen++; /* answered: the handle is stale from now on */
		if (suppress)
			m->st.responses_suppressed++;
		if (e->con && !e->acked) {
			e->acked = true;
			evudp6__msgr_send_empty(m, &e->remote, EVUDP6_ACK, e->mid);
		}
		ent_done(m, e);
		return 0;
	}

	int rc = evudp6_msg_builder_set_token(b, e->token, e->tkl);
	if (rc < 0)
		return rc;
	uint8_t type;
	uint16_t mid;
	uint32_t mid_hash = 0;
	if (e->con && !e->acked) {
		type = EVUDP6_ACK;
		mid = e->mid;
	} else {
		type = e->con ? EVUDP6_CON : EVUDP6_NON;
		mid = evudp6__req_alloc_mid(m, &e->remote, &mid_hash);
	}
	b->type = type;
	b->mid = mid;
	ssize_t n = evudp6_msg_encode(b, e->buf, m->cfg.max_message);
	if (n < 0)
		return (int)n;
	e->len = (size_t)n;
	e->gen++;
	event_del(e->timer);

	if (type == EVUDP6_ACK) {
		e->acked = true;
		e->cached = true;
		m->st.responses_sent++;
		evudp6__msgr_reply(m, &e->remote, e->buf, e->len);
		ent_done(m, e);
	} else if (type == EVUDP6_CON) {
		e->rsp_mid = mid;
		evudp6__htab_insert(&m->sep_tab, &e->sep_node, mid_hash);
		e->retransmits = 0;
		e->timeout_us = evudp6__msgr_initial_timeout_us(m);
		e->state = EVUDP6__ENT_SEPARATE;
		evudp6__list_add_tail(&m->sep_fifo, &e->fifo);
		m->nsep++;
		m->st.responses_sent++;
		evudp6__msgr_reply(m, &e->remote, e->buf, e->len);
		evudp6__timer_add_us(e->timer, e->timeout_us);
		if (m->nsep > m->sep_max)
			sep_stop_oldest(m);
	} else if (e->mcast && m->cfg.leisure_ms > 0) {
		/* RFC 7252 8.2: spread the responders' answers over the leisure. */
		e->state = EVUDP6__ENT_LEISURE;
		evudp6__timer_add_us(e->timer,
		                     evudp6__rng_upto(&m->rng, (uint64_t)m->cfg.leisure_ms * 1000u));
	} else {
		m->st.responses_sent++;
		evudp6__msgr_reply(m, &e->remote, e->buf, e->len);
		ent_done(m, e);
	}
	return 0;
}

const struct evudp6_addr *evudp6_exchange_remote(struct evudp6_exchange_handle h)
{
	struct evudp6_exchange *e = evudp6__ent_of(h);
	return e ? &e->remote : NULL;
}

bool evudp6_exchange_is_multicast(struct evudp6_exchange_handle h)
{
	struct evudp6_exchange *e = evudp6__ent_of(h);
	return e && e->mcast;
}

/* ------------------------------------------------------------ life cycle */

int evudp6__ent_pool_init(struct evudp6_messenger *m)
{
	size_t nent = m->cfg.dedup_cap;
	evudp6__link_init(&m->ent_free);
	evudp6__link_init(&m->fifo);
	evudp6__link_init(&m->sep_fifo);
	m->sep_max = nent * m->cfg.separate_share_percent / 100u;
	m->sep_budget = (uint64_t)m->cfg.separate_retransmit_per_s * 1000u;
	m->sep_budget_ms = evudp6__now_ms();
	m->ents = calloc(nent, sizeof *m->ents);
	m->ent_bufs = malloc(nent * m->cfg.max_message);
	if (!m->ents || !m->ent_bufs || evudp6__htab_init(&m->dedup_tab, nent) < 0 ||
	    evudp6__htab_init(&m->sep_tab, nent) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < nent; i++) {
		struct evudp6_exchange *e = &m->ents[i];
		e->m = m;
		e->buf = m->ent_bufs + i * m->cfg.max_message;
		e->timer = event_new(m->base, -1, 0, ent_timer_cb, e);
		if (!e->timer)
			return -ENOMEM;
		evudp6__link_init(&e->fifo);
		evudp6__list_add_tail(&m->ent_free, &e->fifo);
	}
	return 0;
}

void evudp6__ent_pool_destroy(struct evudp6_messenger *m)
{
	if (m->ents)
		for (size_t i = 0; i < m->cfg.dedup_cap; i++)
			if (m->ents[i].timer)
				event_free(m->ents[i].timer);
	free(m->ents);
	free(m->ent_bufs);
	evudp6__htab_free(&m->dedup_tab);
	evudp6__htab_free(&m->sep_tab);
}

void evudp6__ent_stop_timers(struct evudp6_messenger *m)
{
	for (size_t i = 0; i < m->cfg.dedup_cap; i++)
		event_del(m->ents[i].timer);
}
