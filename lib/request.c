/*
 * evudp6 — message layer, client side: sending requests, retransmitting
 * confirmable ones, NSTART per remote, matching responses, and failing
 * the exchanges to a remote an ICMP or send error says is unreachable
 * (RFC 7252 sections 4 and 5.3). See messenger-internal.h.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "abi-internal.h"
#include "messenger-internal.h"
#include "observe-internal.h"

#define REQ_OF(n, member) evudp6__container_of(n, struct evudp6_request, member)

/* ------------------------------------------------------------ tables */

static struct evudp6_request *tok_find(struct evudp6_messenger *m, const uint8_t *tok)
{
	uint32_t h = evudp6__token_hash(tok);
	for (struct evudp6__hnode *n = evudp6__htab_bucket(&m->tok_tab, h); n; n = n->next) {
		struct evudp6_request *r = REQ_OF(n, tok_node);
		if (n->hash == h && memcmp(r->token, tok, EVUDP6__TOKEN_LEN) == 0)
			return r;
	}
	return NULL;
}

struct evudp6_request *evudp6__req_find_token(struct evudp6_messenger *m, const struct evudp6_msg *msg)
{
	return msg->tkl == EVUDP6__TOKEN_LEN ? tok_find(m, msg->token) : NULL;
}

struct evudp6_request *evudp6__req_find_mid(struct evudp6_messenger *m, const struct evudp6_addr *remote,
                                            uint16_t mid, uint32_t hash)
{
	for (struct evudp6__hnode *n = evudp6__htab_bucket(&m->mid_tab, hash); n; n = n->next) {
		struct evudp6_request *r = REQ_OF(n, mid_node);
		if (n->hash == hash && r->mid == mid && evudp6_addr_equal(&r->remote, remote))
			return r;
	}
	return NULL;
}

bool evudp6__token_matches(const struct evudp6_msg *msg, const uint8_t *tok, uint8_t tkl)
{
	return msg->tkl == tkl && (tkl == 0 || memcmp(msg->token, tok, tkl) == 0);
}

/* ------------------------------------------------------------ peers */

static struct evudp6__peer *peer_find(struct evudp6_messenger *m, const struct evudp6_addr *remote,
                                      uint32_t hash)
{
	for (struct evudp6__hnode *n = evudp6__htab_bucket(&m->peer_tab, hash); n; n = n->next) {
		struct evudp6__peer *p = evudp6__container_of(n, struct evudp6__peer, node);
		if (n->hash == hash && evudp6_addr_equal(&p->remote, remote))
			return p;
	}
	return NULL;
}

static struct evudp6__peer *peer_get(struct evudp6_messenger *m, const struct evudp6_addr *remote)
{
	uint32_t hash = evudp6__msgr_key_hash(m, remote, 0);
	struct evudp6__peer *p = peer_find(m, remote, hash);
	if (p) {
		evudp6__list_del(&p->idle);
		return p;
	}
	/* The pool holds more records than there can be requests, so when
	 * none is free an idle one is left: the least recently used. */
	p = m->peer_free;
	if (p) {
		m->peer_free = p->free_next;
	} else {
		p = evudp6__container_of(m->peer_idle.next, struct evudp6__peer, idle);
		evudp6__list_del(&p->idle);
		evudp6__htab_remove(&m->peer_tab, &p->node);
	}
	p->remote = *remote;
	evudp6_addr_clear_local(&p->remote);
	p->nactive = 0;
	evudp6__link_init(&p->queued);
	evudp6__link_init(&p->sent);
	evudp6__pool_bytes(&m->pool, &p->next_mid, sizeof p->next_mid);
	evudp6__htab_insert(&m->peer_tab, &p->node, hash);
	return p;
}

/* Without requests the record stays, idle, for the remote's next ids. */
static void peer_put(struct evudp6_messenger *m, struct evudp6__peer *p)
{
	if (!evudp6__list_empty(&p->queued) || !evudp6__list_empty(&p->sent) || p->idle.next != &p->idle)
		return;
	evudp6__list_add_tail(&m->peer_idle, &p->idle);
}

/* Next id of @p p that none of our pending messages to it uses. */
static uint16_t peer_next_mid(struct evudp6_messenger *m, struct evudp6__peer *p, uint32_t *hash)
{
	uint16_t mid = p->next_mid;
	for (unsigned int i = 0; i < 65536u; i++) {
		mid = p->next_mid++;
		*hash = evudp6__msgr_key_hash(m, &p->remote, mid);
		if (!evudp6__req_find_mid(m, &p->remote, mid, *hash) &&
		    !evudp6__ent_find_sep(m, &p->remote, mid, *hash))
			break;
	}
	return mid;
}

uint16_t evudp6__req_alloc_mid(struct evudp6_messenger *m, const struct evudp6_addr *remote, uint32_t *hash)
{
	struct evudp6__peer *p = peer_get(m, remote);
	uint16_t mid = peer_next_mid(m, p, hash);
	peer_put(m, p);
	return mid;
}

/* ------------------------------------------------------------ sending */

static uint64_t req_initial_timeout_us(struct evudp6_messenger *m, const struct evudp6_request *r)
{
	return evudp6__msgr_timeout_us(m, r->ack_timeout_ms, r->random_factor);
}

static int req_transmit_first(struct evudp6_messenger *m, struct evudp6_request *r)
{
	int rc = evudp6__msgr_send(m, &r->remote, r->buf, r->len);
	/* A full socket buffer is what retransmission is for. */
	if (rc < 0 && !(rc == -EAGAIN && r->con))
		return rc;
	m->st.requests_sent++;
	if (r->mcast) {
		r->state = EVUDP6__REQ_MULTICAST;
		evudp6__timer_add_us(r->timer, (uint64_t)r->wait_ms * 1000u);
		return 0;
	}
	r->active = true;
	r->peer->nactive++;
	if (r->con) {
		r->state = EVUDP6__REQ_WAIT_ACK;
		r->retransmits = 0;
		r->timeout_us = req_initial_timeout_us(m, r);
		evudp6__timer_add_us(r->timer, r->timeout_us);
	} else {
		r->state = EVUDP6__REQ_WAIT_RESPONSE;
		evudp6__timer_add_us(r->timer, (uint64_t)r->wait_ms * 1000u);
	}
	return 0;
}

/* Send queued requests while the remote has NSTART room. A send error here
 * is not reported to the request directly: the transport reports it
 * through the error callback, which fails every request to the remote. */
static void peer_pump(struct evudp6_messenger *m, struct evudp6__peer *p)
{
	while (!m->shut && p->nactive < m->cfg.nstart && !evudp6__list_empty(&p->queued)) {
		struct evudp6_request *r = REQ_OF(p->queued.next, plink);
		evudp6__list_del(&r->plink);
		evudp6__list_add_tail(&p->sent, &r->plink);
		if (req_transmit_first(m, r) < 0) {
			/* Left for the wait to end (a lost NON) or the error callback. */
			r->active = true;
			p->nactive++;
			r->state = r->con ? EVUDP6__REQ_WAIT_ACK : EVUDP6__REQ_WAIT_RESPONSE;
			r->timeout_us = req_initial_timeout_us(m, r);
			evudp6__timer_add_us(r->timer, r->con ? r->timeout_us : (uint64_t)r->wait_ms * 1000u);
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
	r->state = EVUDP6__REQ_FREE;
	r->gen++;
	r->free_next = m->req_free;
	m->req_free = r;
}

/* Take the request out of every table and list; it can then be handed to
 * its callback whatever the callback does. */
static void req_unlink(struct evudp6_messenger *m, struct evudp6_request *r)
{
	event_del(r->timer);
	event_del(r->deadline);
	evudp6__htab_remove(&m->tok_tab, &r->tok_node);
	evudp6__htab_remove(&m->mid_tab, &r->mid_node);
	evudp6__list_del(&r->plink);
	struct evudp6__peer *p = r->peer;
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
	r->state = EVUDP6__REQ_ENDED;
	m->st.requests_pending--;
}

static void req_finish(struct evudp6_messenger *m, struct evudp6_request *r, int err,
                       const struct evudp6_msg *rsp, const struct evudp6_addr *remote,
                       const struct evudp6_icmp *icmp)
{
	req_unlink(m, r);
	r->in_cb = true;
	r->cb(evudp6__req_handle(r), err, rsp, remote ? remote : &r->remote, icmp, r->arg);
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
	evudp6__msgr_enter(m);
	switch (r->state) {
	case EVUDP6__REQ_WAIT_ACK:
		if (evudp6__retransmit_due_max(m, r->max_retransmit, &r->retransmits, &r->timeout_us)) {
			evudp6__msgr_send(m, &r->remote, r->buf, r->len);
			evudp6__timer_add_us(r->timer, r->timeout_us);
			break;
		}
		m->st.timeouts++;
		req_finish(m, r, -EVUDP6_E_TIMEOUT, NULL, NULL, NULL);
		break;
	case EVUDP6__REQ_WAIT_RESPONSE:
		m->st.timeouts++;
		req_finish(m, r, -EVUDP6_E_TIMEOUT, NULL, NULL, NULL);
		break;
	case EVUDP6__REQ_MULTICAST:
		/* The normal end of a multicast request, not a failure to count. */
		req_finish(m, r, -EVUDP6_E_TIMEOUT, NULL, NULL, NULL);
		break;
	default:
		break;
	}
	evudp6__msgr_leave(m);
}

static void req_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct evudp6_request *r = arg;
	struct evudp6_messenger *m = r->m;
	(void)fd;
	(void)what;
	if (m->shut || r->state == EVUDP6__REQ_FREE || r->state == EVUDP6__REQ_ENDED)
		return;
	evudp6__msgr_enter(m);
	m->st.timeouts++;
	req_finish(m, r, -EVUDP6_E_DEADLINE, NULL, NULL, NULL);
	evudp6__msgr_leave(m);
}

static void req_opts_defaults(struct evudp6_request_options *o)
{
	memset(o, 0, sizeof *o);
	o->size = sizeof *o;
	o->max_retransmit = -1;
}

int evudp6_request_options_init(struct evudp6_request_options *o, size_t size)
{
	struct evudp6_request_options d;
	req_opts_defaults(&d);
	return evudp6__config_init(o, size, _Alignof(struct evudp6_request_options), &d, sizeof d);
}

int evudp6_messenger_request(struct evudp6_messenger *m, const struct evudp6_addr *remote,
                             struct evudp6_msg_builder *b, unsigned int wait_ms,
                             evudp6_messenger_response_cb cb, void *arg, struct evudp6_request_handle *out)
{
	struct evudp6_request_options o;
	req_opts_defaults(&o);
	o.wait_ms = wait_ms;
	return evudp6_messenger_request_ex(m, remote, b, &o, cb, arg, out);
}

int evudp6_messenger_request_ex(struct evudp6_messenger *m, const struct evudp6_addr *remote,
                                struct evudp6_msg_builder *b, const struct evudp6_request_options *opts,
                                evudp6_messenger_response_cb cb, void *arg, struct evudp6_request_handle *out)
{
	if (out)
		*out = (struct evudp6_request_handle){0};
	struct evudp6_request_options o;
	req_opts_defaults(&o);
	/* Only what the caller's struct has; the rest keeps its default. */
	if (opts && evudp6__config_in(&o, sizeof o, _Alignof(struct evudp6_request_options), opts) < 0)
		return -EINVAL;
	if (!m || !remote || !b || !cb)
		return -EINVAL;
	if (o.ack_random_factor != 0.0 &&
	    (!(o.ack_random_factor >= 1.0) || o.ack_random_factor > EVUDP6__RANDOM_FACTOR_LIMIT))
		return -EINVAL;
	if (o.max_retransmit > (int)EVUDP6__MAX_RETRANSMIT_LIMIT)
		return -EINVAL;
	unsigned int wait_ms = o.wait_ms;
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

	uint8_t token[EVUDP6__TOKEN_LEN];
	if (ping) {
		evudp6_msg_builder_set_token(b, NULL, 0);
	} else {
		/* From the CSPRNG: a peer that sees our tokens must learn
		 * nothing about those we send to others (RFC 7252 5.3.1). */
		do
			evudp6__pool_bytes(&m->pool, token, sizeof token);
		while (tok_find(m, token));
		evudp6_msg_builder_set_token(b, token, sizeof token);
	}
	struct evudp6__peer *p = peer_get(m, remote);
	uint32_t mid_hash;
	b->mid = peer_next_mid(m, p, &mid_hash);
	ssize_t n = evudp6_msg_encode(b, r->buf, m->cfg.max_message);
	if (n < 0) {
		peer_put(m, p);
		return (int)n;
	}

	m->req_free = r->free_next;
	r->free_next = NULL;
	r->con = b->type == EVUDP6_CON;
	r->ping = ping;
	r->mcast = mcast;
	r->active = r->in_cb = false;
	r->mid = b->mid;
	r->tkl = ping ? 0 : EVUDP6__TOKEN_LEN;
	if (!ping)
		memcpy(r->token, token, EVUDP6__TOKEN_LEN);
	r->remote = *remote;
	r->peer = NULL;
	evudp6__link_init(&r->plink);
	r->retransmits = 0;
	r->wait_ms = wait_ms ? wait_ms : (mcast ? m->cfg.multicast_wait_ms : m->cfg.response_timeout_ms);
	r->ack_timeout_ms = o.ack_timeout_ms ? o.ack_timeout_ms : m->cfg.ack_timeout_ms;
	r->random_factor = o.ack_random_factor != 0.0 ? o.ack_random_factor : m->cfg.ack_random_factor;
	r->max_retransmit = o.max_retransmit >= 0 ? (unsigned int)o.max_retransmit : m->cfg.max_retransmit;
	r->acked = false;
	r->ack_cb = o.ack_cb;
	r->cb = cb;
	r->arg = arg;
	r->len = (size_t)n;
	r->state = EVUDP6__REQ_QUEUED;
	m->st.requests_pending++;
	if (!ping)
		evudp6__htab_insert(&m->tok_tab, &r->tok_node, evudp6__token_hash(r->token));

	int rc = 0;
	if (mcast) {
		/* Not held by NSTART nor failed by ICMP errors: no peer. */
		peer_put(m, p);
		rc = req_transmit_first(m, r);
	} else {
		evudp6__htab_insert(&m->mid_tab, &r->mid_node, mid_hash);
		r->peer = p;
		if (p->nactive < m->cfg.nstart && evudp6__list_empty(&p->queued)) {
			evudp6__list_add_tail(&p->sent, &r->plink);
			rc = req_transmit_first(m, r);
		} else {
			evudp6__list_add_tail(&p->queued, &r->plink);
		}
	}
	if (rc < 0) {
		req_unlink(m, r);
		req_release(m, r);
		return rc;
	}
	if (o.deadline_ms)
		evudp6__timer_add_us(r->deadline, (uint64_t)o.deadline_ms * 1000u);
	if (out)
		*out = evudp6__req_handle(r);
	return 0;
}

int evudp6_request_cancel(struct evudp6_request_handle h)
{
	if (!h.obj)
		return -EINVAL;
	struct evudp6_request *r = evudp6__req_of(h);
	if (!r || r->state == EVUDP6__REQ_ENDED)
		return -EVUDP6_E_STATE;
	struct evudp6_messenger *m = r->m;
	req_unlink(m, r);
	if (!r->in_cb)
		req_release(m, r);
	return 0;
}

const struct evudp6_addr *evudp6_request_remote(struct evudp6_request_handle h)
{
	struct evudp6_request *r = evudp6__req_of(h);
	return r ? &r->remote : NULL;
}

int evudp6_request_retransmissions(struct evudp6_request_handle h)
{
	if (!h.obj)
		return -EINVAL;
	struct evudp6_request *r = evudp6__req_of(h);
	return r ? (int)r->retransmits : -EVUDP6_E_STATE;
}

bool evudp6_request_acknowledged(struct evudp6_request_handle h)
{
	struct evudp6_request *r = evudp6__req_of(h);
	return r && r->acked;
}

/* ------------------------------------------------------------ receiving */

/* Deliver one response of a multicast request; the request goes on. */
static void req_deliver_multicast(struct evudp6_messenger *m, struct evudp6_request *r,
                                  const struct evudp6_msg *rsp, const struct evudp6_addr *remote)
{
	r->in_cb = true;
	r->cb(evudp6__req_handle(r), 0, rsp, remote, NULL, r->arg);
	r->in_cb = false;
	if (r->state == EVUDP6__REQ_ENDED)
		req_release(m, r);
}

void evudp6__req_on_response(struct evudp6_messenger *m, const struct evudp6_msg *msg,
                             const struct evudp6_addr *remote, bool via_mcast)
{
	uint64_t now = evudp6__now_ms();
	uint32_t hash = evudp6__msgr_key_hash(m, remote, msg->mid);
	/* A retransmitted CON response is acknowledged again, not reset. */
	if (evudp6__ent_on_dup_response(m, msg, remote, hash, now))
		return;
	struct evudp6_request *r = msg->tkl == EVUDP6__TOKEN_LEN ? tok_find(m, msg->token) : NULL;
	if (!r ||
	    (r->state != EVUDP6__REQ_WAIT_ACK && r->state != EVUDP6__REQ_WAIT_RESPONSE &&
	     r->state != EVUDP6__REQ_MULTICAST) ||
	    (!r->mcast && !evudp6_addr_equal(&r->remote, remote))) {
		if (evudp6__obs_on_response(m, msg, remote, via_mcast, hash, now))
			return;
		/* RFC 7252 8.1: no RST to anything that came via multicast. */
		if (msg->type == EVUDP6_CON && !via_mcast)
			evudp6__msgr_send_empty(m, remote, EVUDP6_RST, msg->mid);
		evudp6__msgr_unmatched(m, msg, remote);
		return;
	}
	evudp6__ent_remember_response(m, msg, remote, hash, now);
	if (msg->type == EVUDP6_CON)
		evudp6__msgr_send_empty(m, remote, EVUDP6_ACK, msg->mid);
	if (r->mcast)
		req_deliver_multicast(m, r, msg, remote);
	else
		req_finish(m, r, 0, msg, remote, NULL);
}

bool evudp6__req_on_ack(struct evudp6_messenger *m, const struct evudp6_msg *msg,
                        const struct evudp6_addr *remote, uint32_t hash)
{
	struct evudp6_request *r = evudp6__req_find_mid(m, remote, msg->mid, hash);
	if (!r || !r->con || (r->state != EVUDP6__REQ_WAIT_ACK && r->state != EVUDP6__REQ_WAIT_RESPONSE))
		return false;
	if (r->ping) {
		req_finish(m, r, 0, msg, remote, NULL);
	} else if (msg->code == EVUDP6_EMPTY) {
		if (r->state == EVUDP6__REQ_WAIT_ACK) {
			/* Acknowledged: the response comes separately, and the
			 * request no longer holds an NSTART slot. */
			event_del(r->timer);
			r->state = EVUDP6__REQ_WAIT_RESPONSE;
			r->acked = true;
			evudp6__timer_add_us(r->timer, (uint64_t)r->wait_ms * 1000u);
			req_deactivate(m, r);
			if (r->ack_cb) {
				/* The callback may cancel the request: released here then. */
				r->in_cb = true;
				r->ack_cb(evudp6__req_handle(r), remote, r->arg);
				r->in_cb = false;
				if (r->state == EVUDP6__REQ_ENDED)
					req_release(m, r);
			}
		}
	} else if (evudp6__token_matches(msg, r->token, r->tkl)) {
		req_finish(m, r, 0, msg, remote, NULL);
	} else {
		evudp6__msgr_unmatched(m, msg, remote);
	}
	return true;
}

bool evudp6__req_on_rst(struct evudp6_messenger *m, const struct evudp6_msg *msg,
                        const struct evudp6_addr *remote, uint32_t hash)
{
	struct evudp6_request *r = evudp6__req_find_mid(m, remote, msg->mid, hash);
	if (!r || (r->state != EVUDP6__REQ_WAIT_ACK && r->state != EVUDP6__REQ_WAIT_RESPONSE))
		return false;
	m->st.rst_received++;
	if (r->ping)
		req_finish(m, r, 0, msg, remote, NULL);
	else
		req_finish(m, r, -ECONNRESET, NULL, remote, NULL);
	return true;
}

/* ------------------------------------------------------------ errors */

struct evudp6_request *evudp6__req_quoted(struct evudp6_messenger *m, const struct evudp6_msg *h,
                                          const struct evudp6_addr *remote)
{
	if (h->type != EVUDP6_CON && h->type != EVUDP6_NON)
		return NULL;
	struct evudp6_request *r =
	    evudp6__req_find_mid(m, remote, h->mid, evudp6__msgr_key_hash(m, remote, h->mid));
	if (!r || (r->state != EVUDP6__REQ_WAIT_ACK && r->state != EVUDP6__REQ_WAIT_RESPONSE) ||
	    r->con != (h->type == EVUDP6_CON) || !evudp6__token_matches(h, r->token, r->tkl))
		return NULL;
	return r;
}

void evudp6__req_resend(struct evudp6_messenger *m, struct evudp6_request *r)
{
	/* An acknowledged CON has arrived: the error was about a copy the
	 * server did not need. */
	if (r->con && r->state != EVUDP6__REQ_WAIT_ACK)
		return;
	/* Not a step of the RFC 7252 4.2 schedule: the timer runs on. */
	m->st.packet_too_big_resends++;
	evudp6__msgr_send(m, &r->remote, r->buf, r->len);
}

void evudp6__req_fail(struct evudp6_messenger *m, struct evudp6_request *r, int err)
{
	m->st.exchanges_failed++;
	req_finish(m, r, err, NULL, NULL, NULL);
}

/* Multicast requests have no peer record and are never touched. */
void evudp6__req_fail_remote(struct evudp6_messenger *m, const struct evudp6_addr *remote, int err,
                             const struct evudp6_icmp *icmp)
{
	struct evudp6__peer *p = peer_find(m, remote, evudp6__msgr_key_hash(m, remote, 0));
	if (!p)
		return;
	struct evudp6__link doomed;
	evudp6__link_init(&doomed);
	struct evudp6__link *lists[2] = {&p->sent, &p->queued};
	for (size_t i = 0; i < 2; i++)
		while (!evudp6__list_empty(lists[i])) {
			struct evudp6_request *r = REQ_OF(lists[i]->next, plink);
			evudp6__list_del(&r->plink);
			r->peer = NULL;
			r->active = false;
			evudp6__list_add_tail(&doomed, &r->plink);
		}
	p->nactive = 0;
	peer_put(m, p);
	/* Callbacks may cancel other doomed requests (they leave the list),
	 * shut down or free the messenger (then the rest is dropped). */
	while (!evudp6__list_empty(&doomed) && !m->shut) {
		struct evudp6_request *r = REQ_OF(doomed.next, plink);
		m->st.exchanges_failed++;
		req_finish(m, r, err, NULL, NULL, icmp);
	}
	while (!evudp6__list_empty(&doomed))
		evudp6__list_del(doomed.next);
}

/* ------------------------------------------------------------ life cycle */

int evudp6__req_pool_init(struct evudp6_messenger *m)
{
	size_t nreq = m->cfg.max_requests;
	/* Twice as many remotes as requests (and a few more): the remotes
	 * last sent to keep their message id sequence. */
	m->npeers = 2 * nreq + 16;
	evudp6__link_init(&m->peer_idle);
	m->reqs = calloc(nreq, sizeof *m->reqs);
	m->req_bufs = malloc(nreq * m->cfg.max_message);
	m->peers = calloc(m->npeers, sizeof *m->peers);
	if (!m->reqs || !m->req_bufs || !m->peers || evudp6__htab_init(&m->tok_tab, nreq) < 0 ||
	    evudp6__htab_init(&m->mid_tab, nreq) < 0 || evudp6__htab_init(&m->peer_tab, m->npeers) < 0)
		return -ENOMEM;
	for (size_t i = m->npeers; i-- > 0;) {
		evudp6__link_init(&m->peers[i].idle);
		m->peers[i].free_next = m->peer_free;
		m->peer_free = &m->peers[i];
	}
	for (size_t i = nreq; i-- > 0;) {
		struct evudp6_request *r = &m->reqs[i];
		r->m = m;
		r->buf = m->req_bufs + i * m->cfg.max_message;
		evudp6__link_init(&r->plink);
		r->timer = event_new(m->base, -1, 0, req_timer_cb, r);
		r->deadline = event_new(m->base, -1, 0, req_deadline_cb, r);
		if (!r->timer || !r->deadline)
			return -ENOMEM;
		r->free_next = m->req_free;
		m->req_free = r;
	}
	return 0;
}

void evudp6__req_pool_destroy(struct evudp6_messenger *m)
{
	if (m->reqs)
		for (size_t i = 0; i < m->cfg.max_requests; i++) {
			if (m->reqs[i].timer)
				event_free(m->reqs[i].timer);
			if (m->reqs[i].deadline)
				event_free(m->reqs[i].deadline);
		}
	free(m->reqs);
	free(m->req_bufs);
	free(m->peers);
	evudp6__htab_free(&m->tok_tab);
	evudp6__htab_free(&m->mid_tab);
	evudp6__htab_free(&m->peer_tab);
}

void evudp6__req_stop_timers(struct evudp6_messenger *m)
{
	for (size_t i = 0; i < m->cfg.max_requests; i++) {
		event_del(m->reqs[i].timer);
		event_del(m->reqs[i].deadline);
	}
}

void evudp6__req_shutdown_all(struct evudp6_messenger *m)
{
	for (size_t i = 0; i < m->cfg.max_requests && !m->free_pending; i++) {
		struct evudp6_request *r = &m->reqs[i];
		if (r->state != EVUDP6__REQ_FREE && r->state != EVUDP6__REQ_ENDED)
			req_finish(m, r, -EVUDP6_E_SHUTDOWN, NULL, NULL, NULL);
	}
}
