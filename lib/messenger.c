/*
 * evudp6 — message layer: life cycle, receive dispatch and sending
 * (RFC 7252 sections 4 and 8). The client lives in request.c, the server
 * and deduplication in exchange.c; messenger-internal.h has the objects
 * and the rules they share.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "abi-internal.h"
#include "addr-internal.h"
#include "messenger-internal.h"
#include "observe-internal.h"
#include "siphash-internal.h"

/* ------------------------------------------------------------ helpers shared by request.c and exchange.c */

uint32_t evudp6__msgr_key_hash(const struct evudp6_messenger *m, const struct evudp6_addr *a, uint16_t mid)
{
	uint64_t w0, w1;
	memcpy(&w0, &a->remote.sin6_addr, 8);
	memcpy(&w1, (const uint8_t *)&a->remote.sin6_addr + 8, 8);
	uint64_t w2 = (uint64_t)a->remote.sin6_port | ((uint64_t)mid << 16) |
	              ((uint64_t)evudp6__addr_scope_key(a) << 32);
	return (uint32_t)evudp6__siphash13_3w(m->key, w0, w1, w2);
}

uint64_t evudp6__msgr_timeout_us(struct evudp6_messenger *m, unsigned int ack_timeout_ms, double factor)
{
	uint64_t base = (uint64_t)ack_timeout_ms * 1000u;
	uint64_t spread = (uint64_t)((double)base * (factor - 1.0));
	return base + evudp6__rng_upto(&m->rng, spread);
}

uint64_t evudp6__msgr_initial_timeout_us(struct evudp6_messenger *m)
{
	return evudp6__msgr_timeout_us(m, m->cfg.ack_timeout_ms, m->cfg.ack_random_factor);
}

int evudp6__msgr_send(struct evudp6_messenger *m, const struct evudp6_addr *to, const void *buf, size_t len)
{
	if (m->shut)
		return -EVUDP6_E_SHUTDOWN;
	return evudp6_transport_send(m->t, to, buf, len);
}

int evudp6__msgr_reply(struct evudp6_messenger *m, const struct evudp6_addr *received_from, const void *buf,
                       size_t len)
{
	struct evudp6_addr to;
	evudp6_addr_response(received_from, &to);
	return evudp6__msgr_send(m, &to, buf, len);
}

void evudp6__msgr_send_empty(struct evudp6_messenger *m, const struct evudp6_addr *received_from,
                             uint8_t type, uint16_t mid)
{
	const uint8_t b[4] = {(uint8_t)(0x40 | (type << 4)), 0, (uint8_t)(mid >> 8), (uint8_t)mid};
	if (type == EVUDP6_RST)
		m->st.rst_sent++;
	else
		m->st.empty_acks_sent++;
	evudp6__msgr_reply(m, received_from, b, sizeof b);
}

/* ------------------------------------------------------------ re-entrancy */

static void destroy(struct evudp6_messenger *m);

void evudp6__msgr_enter(struct evudp6_messenger *m)
{
	m->busy++;
}

void evudp6__msgr_leave(struct evudp6_messenger *m)
{
	if (--m->busy == 0 && m->free_pending)
		destroy(m);
}

/* ------------------------------------------------------------ receiving */

void evudp6__msgr_unmatched(struct evudp6_messenger *m, const struct evudp6_msg *msg,
                            const struct evudp6_addr *remote)
{
	m->st.unmatched++;
	if (m->unmatched_cb) {
		struct evudp6_request *owner = evudp6__req_find_token(m, msg);
		m->unmatched_cb(m, msg, remote,
		                owner ? evudp6__req_handle(owner) : (struct evudp6_request_handle){0},
		                m->unmatched_arg);
	}
}

void evudp6_messenger_set_unmatched_cb(struct evudp6_messenger *m, evudp6_messenger_unmatched_cb cb,
                                       void *arg)
{
	if (!m)
		return;
	m->unmatched_cb = cb;
	m->unmatched_arg = cb ? arg : NULL;
}

static void handle_datagram(struct evudp6_messenger *m, const uint8_t *data, size_t len,
                            const struct evudp6_addr *remote)
{
	struct evudp6_msg msg;
	bool via_mcast = evudp6_addr_is_multicast_locally(remote);
	if (evudp6_msg_decode(&msg, data, len) != 0) {
		if (m->borrowed) {
			/* Another protocol on the caller's socket: theirs. */
			m->st.handed_on++;
			m->lender.datagram_cb(m->t, data, len, remote, m->lender.arg);
			return;
		}
		m->st.malformed++;
		/* RFC 7252 4.2: a CON we cannot process is rejected with RST. */
		if (evudp6_msg_peek_header(&msg, data, len) == 0 && msg.type == EVUDP6_CON && !via_mcast)
			evudp6__msgr_send_empty(m, remote, EVUDP6_RST, msg.mid);
		return;
	}
	if (via_mcast && msg.type == EVUDP6_CON) {
		/* RFC 7252 8.1: multicast is NON only. Answering a CON sent to a
		 * group (or a broadcast address) would let anyone make every
		 * member send to a spoofed source; an RST alike. */
		m->st.multicast_con_dropped++;
		return;
	}
	uint8_t cls = EVUDP6_CODE_CLASS(msg.code);
	uint32_t hash;
	switch (msg.type) {
	case EVUDP6_ACK:
		if (cls == 0 && msg.code != EVUDP6_EMPTY) {
			m->st.malformed++;
			return;
		}
		/* Our message ids are per remote: look up (remote, id). */
		hash = evudp6__msgr_key_hash(m, remote, msg.mid);
		if (!evudp6__req_on_ack(m, &msg, remote, hash) &&
		    !evudp6__ent_on_ack(m, &msg, remote, hash) && !evudp6__obs_on_ack(m, &msg, remote))
			evudp6__msgr_unmatched(m, &msg, remote);
		return;
	case EVUDP6_RST:
		if (msg.code != EVUDP6_EMPTY) {
			m->st.malformed++;
			return;
		}
		hash = evudp6__msgr_key_hash(m, remote, msg.mid);
		if (!evudp6__req_on_rst(m, &msg, remote, hash) &&
		    !evudp6__ent_on_rst(m, &msg, remote, hash) && !evudp6__obs_on_rst(m, &msg, remote))
			evudp6__msgr_unmatched(m, &msg, remote);
		return;
	default:
		break;
	}
	if (msg.code == EVUDP6_EMPTY) {
		if (msg.type == EVUDP6_CON) {
			m->st.pings++;
			evudp6__msgr_send_empty(m, remote, EVUDP6_RST, msg.mid);
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
		evudp6__ent_on_request(m, &msg, remote);
	} else if (cls == 2 || cls == 4 || cls == 5) {
		evudp6__req_on_response(m, &msg, remote, via_mcast);
	} else {
		m->st.malformed++;
		if (msg.type == EVUDP6_CON)
			evudp6__msgr_send_empty(m, remote, EVUDP6_RST, msg.mid);
	}
}

static void on_datagram(struct evudp6_transport *t, const uint8_t *data, size_t len,
                        const struct evudp6_addr *remote, void *arg)
{
	struct evudp6_messenger *m = arg;
	(void)t;
	if (m->shut)
		return;
	evudp6__msgr_enter(m);
	handle_datagram(m, data, len, remote);
	evudp6__msgr_leave(m);
}

/* ------------------------------------------------------------ errors */

enum icmp_kind { ICMP_HARD, ICMP_TOO_BIG, ICMP_TIME_EXCEEDED, ICMP_PARAMETER_PROBLEM, ICMP_OTHER };

/* Hard errors say the remote cannot be reached (unreachable, prohibited);
 * soft ones concern one datagram on its way and fail nothing. */
static enum icmp_kind icmp_kind(const struct evudp6_icmp *icmp)
{
	if (icmp->origin == EVUDP6_ORIGIN_ICMP6) {
		switch (icmp->type) {
		case 1:
			return ICMP_HARD;
		case 2:
			return ICMP_TOO_BIG;
		case 3:
			return ICMP_TIME_EXCEEDED;
		case 4:
			return ICMP_PARAMETER_PROBLEM;
		default:
			return ICMP_OTHER;
		}
	}
	switch (icmp->type) {
	case 3:
		return icmp->code == 4 ? ICMP_TOO_BIG : ICMP_HARD;
	case 11:
		return ICMP_TIME_EXCEEDED;
	case 12:
		return ICMP_PARAMETER_PROBLEM;
	default:
		return ICMP_OTHER;
	}
}

/* RFC 7252 4.2: act on an ICMP error only if the datagram it quotes is
 * one we sent to that remote and still care about, and the quote reaches
 * past its token: a message id alone is 16 bits anyone can guess.
 * Returns false for an error vetted out (not ours). */
static bool on_icmp(struct evudp6_messenger *m, int err, const struct evudp6_icmp *icmp,
                    const struct evudp6_addr *remote, const uint8_t *quoted, size_t qlen)
{
	struct evudp6_msg h;
	struct evudp6_request *r = NULL;
	struct evudp6_exchange *e = NULL;
	if (quoted && evudp6_msg_peek_header(&h, quoted, qlen) == 0 && h.token) {
		r = evudp6__req_quoted(m, &h, remote);
		if (!r)
			e = evudp6__ent_quoted(m, &h, remote);
	}
	/* Or a notification, or an observer's registration. */
	bool obs = !r && !e && quoted && h.token && evudp6__obs_vet(m, &h, remote);
	if (!r && !e && !obs) {
		m->st.icmp_vetted_out++;
		return false;
	}
	switch (icmp_kind(icmp)) {
	case ICMP_HARD:
		if (e)
			evudp6__ent_give_up(m, e);
		evudp6__req_fail_remote(m, remote, err, icmp);
		evudp6__obs_fail_remote(m, remote, err, icmp);
		break;
	case ICMP_TOO_BIG:
		/* The kernel has lowered the path MTU: the next copy fits (or
		 * is fragmented to fit). A notification is not sent again: the
		 * next one carries the newer state. */
		m->st.icmp_packet_too_big++;
		if (r)
			evudp6__req_resend(m, r);
		else if (e)
			evudp6__ent_resend(m, e, icmp);
		break;
	case ICMP_TIME_EXCEEDED:
		m->st.icmp_time_exceeded++;
		break;
	case ICMP_PARAMETER_PROBLEM:
		m->st.icmp_parameter_problem++;
		break;
	case ICMP_OTHER:
		return true;
	}
	/* Last thing on this error: the callback may free m, which
	 * enter()/leave() in on_error() defers. */
	if (icmp_kind(icmp) != ICMP_HARD && m->icmp_cb && !m->shut)
		m->icmp_cb(m, err, icmp, remote, m->icmp_arg);
	return true;
}

/* On the caller's transport, errors that may concern its own datagrams go
 * to its error callback too. */
static void hand_on_error(struct evudp6_messenger *m, int err, const struct evudp6_icmp *icmp,
                          const struct evudp6_addr *remote, const uint8_t *quoted, size_t quoted_len)
{
	if (m->borrowed && m->lender.error_cb)
		m->lender.error_cb(m->t, err, icmp, remote, quoted, quoted_len, m->lender.arg);
}

static void on_error(struct evudp6_transport *t, int err, const struct evudp6_icmp *icmp,
                     const struct evudp6_addr *remote, const uint8_t *quoted, size_t quoted_len, void *arg)
{
	struct evudp6_messenger *m = arg;
	(void)t;
	if (m->shut)
		return;
	evudp6__msgr_enter(m);
	if (!icmp) {
		/* A sendmsg() failed, ours or (on the caller's transport) the
		 * caller's: nothing to vet. */
		m->st.send_errors++;
		hand_on_error(m, err, icmp, remote, quoted, quoted_len);
		struct evudp6_msg h;
		if (err == -EMSGSIZE) {
			/* Too big for the path: that message alone (its header
			 * and token are quoted); the others to the remote fit. */
			struct evudp6_request *r = NULL;
			if (!m->shut && quoted && evudp6_msg_peek_header(&h, quoted, quoted_len) == 0 &&
			    h.token)
				r = evudp6__req_quoted(m, &h, remote);
			if (r)
				evudp6__req_fail(m, r, err);
		} else if (!m->shut) {
			evudp6__req_fail_remote(m, remote, err, NULL);
			evudp6__obs_fail_remote(m, remote, err, NULL);
		}
	} else if (icmp->origin == EVUDP6_ORIGIN_LOCAL) {
		/* It quotes nothing, and the send it came from has already
		 * failed with the same error (returned, or reported above). */
		m->st.icmp_errors++;
		m->st.icmp_local_errors++;
		hand_on_error(m, err, icmp, remote, quoted, quoted_len);
	} else {
		m->st.icmp_errors++;
		if (!on_icmp(m, err, icmp, remote, quoted, quoted_len))
			hand_on_error(m, err, icmp, remote, quoted, quoted_len);
	}
	evudp6__msgr_leave(m);
}

/* ------------------------------------------------------------ life cycle */

static void config_defaults(struct evudp6_messenger_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->size = sizeof *cfg;
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
	cfg->separate_share_percent = EVUDP6_MESSENGER_DEFAULT_SEPARATE_SHARE_PERCENT;
	cfg->separate_retransmit_per_s = EVUDP6_MESSENGER_DEFAULT_SEPARATE_RETRANSMIT_PER_S;
}

int evudp6_messenger_config_init(struct evudp6_messenger_config *cfg, size_t size)
{
	struct evudp6_messenger_config d;
	config_defaults(&d);
	return evudp6__config_init(cfg, size, _Alignof(struct evudp6_messenger_config), &d, sizeof d);
}

static int config_check(const struct evudp6_messenger_config *c)
{
	/* Pool sizes are bounded so that cap * (entry + buffer) cannot overflow. */
	const size_t pool_max = (SIZE_MAX / 4) / (sizeof(struct evudp6_exchange) + EVUDP6__MAX_MESSAGE_LIMIT);
	if (c->ack_timeout_ms == 0 || !isfinite(c->ack_random_factor) || c->ack_random_factor < 1.0 ||
	    c->ack_random_factor > EVUDP6__RANDOM_FACTOR_LIMIT ||
	    c->max_retransmit > EVUDP6__MAX_RETRANSMIT_LIMIT || c->nstart == 0 ||
	    c->exchange_lifetime_ms == 0 || c->non_lifetime_ms == 0 || c->response_timeout_ms == 0 ||
	    c->multicast_wait_ms == 0 || c->dedup_cap == 0 || c->dedup_cap > pool_max ||
	    c->max_requests == 0 || c->max_requests > pool_max || c->max_message < 16 ||
	    c->max_message > EVUDP6__MAX_MESSAGE_LIMIT || c->separate_share_percent > 100)
		return -EINVAL;
	return 0;
}

static void destroy(struct evudp6_messenger *m)
{
	evudp6__obs_destroy(m);
	evudp6__req_pool_destroy(m);
	evudp6__ent_pool_destroy(m);
	if (!m->borrowed)
		evudp6_transport_free(m->t);
	free(m);
}

/* The messenger without its transport. */
static int messenger_create(struct evudp6_messenger **out, struct event_base *base,
                            const struct evudp6_messenger_config *mcfg)
{
	struct evudp6_messenger_config cfg;
	config_defaults(&cfg);
	int rc =
	    mcfg ? evudp6__config_in(&cfg, sizeof cfg, _Alignof(struct evudp6_messenger_config), mcfg) : 0;
	if (rc == 0)
		rc = config_check(&cfg);
	if (rc < 0)
		return rc;

	struct evudp6_messenger *m = calloc(1, sizeof *m);
	if (!m)
		return -ENOMEM;
	m->base = base;
	m->cfg = cfg;
	evudp6__rng_seed(&m->rng);
	evudp6__pool_init(&m->pool);
	evudp6__random_bytes(m->key, sizeof m->key);
	if (evudp6__req_pool_init(m) < 0 || evudp6__ent_pool_init(m) < 0) {
		destroy(m);
		return -ENOMEM;
	}
	*out = m;
	return 0;
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
	struct evudp6_messenger *m;
	int rc = messenger_create(&m, base, mcfg);
	if (rc < 0)
		return rc;
	rc = evudp6_transport_new(&m->t, base, tcfg, on_datagram, on_error, m);
	if (rc < 0) {
		m->t = NULL;
		destroy(m);
		return rc;
	}
	*out = m;
	return 0;
}

int evudp6_messenger_new_on_transport(struct evudp6_messenger **out, struct evudp6_transport *t,
                                      const struct evudp6_messenger_config *mcfg)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!t)
		return -EINVAL;
	if (evudp6__transport_is_shut(t))
		return -EVUDP6_E_SHUTDOWN;
	struct evudp6__transport_cbs now;
	evudp6__transport_swap_cbs(t, NULL, &now);
	if (now.datagram_cb == on_datagram)
		return -EVUDP6_E_STATE;
	struct evudp6_messenger *m;
	int rc = messenger_create(&m, evudp6_transport_base(t), mcfg);
	if (rc < 0)
		return rc;
	m->t = t;
	m->borrowed = true;
	struct evudp6__transport_cbs mine = {on_datagram, on_error, m};
	evudp6__transport_swap_cbs(t, &mine, &m->lender);
	*out = m;
	return 0;
}

int evudp6_messenger_start(struct evudp6_messenger *m)
{
	if (!m)
		return -EINVAL;
	if (m->shut)
		return -EVUDP6_E_SHUTDOWN;
	int rc = 0;
	if (!m->borrowed || !evudp6__transport_is_started(m->t))
		rc = evudp6_transport_start(m->t);
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

void evudp6_messenger_set_icmp_cb(struct evudp6_messenger *m, evudp6_messenger_icmp_cb cb, void *arg)
{
	m->icmp_cb = cb;
	m->icmp_arg = arg;
}

int evudp6_messenger_stats(const struct evudp6_messenger *m, struct evudp6_messenger_stats *out, size_t size)
{
	if (!out)
		return -EINVAL;
	struct evudp6_messenger_stats st = m->st;
	st.dedup_cap = m->cfg.dedup_cap;
	return (int)evudp6__struct_out(out, size, &st, sizeof st);
}

/* Stop all I/O and timers; objects stay in place for the caller to end. */
static void shut_down(struct evudp6_messenger *m)
{
	m->shut = true;
	if (m->borrowed)
		evudp6__transport_swap_cbs(m->t, &m->lender, NULL);
	else
		evudp6_transport_shutdown(m->t, NULL, NULL);
	evudp6__req_stop_timers(m);
	evudp6__ent_stop_timers(m);
	evudp6__obs_stop_timers(m);
}

int evudp6_messenger_shutdown(struct evudp6_messenger *m)
{
	if (!m)
		return -EINVAL;
	if (m->shut)
		return -EVUDP6_E_SHUTDOWN;
	evudp6__msgr_enter(m);
	shut_down(m);
	evudp6__req_shutdown_all(m);
	evudp6__obs_shutdown_all(m);
	evudp6__msgr_leave(m);
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
