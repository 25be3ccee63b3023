/*
 * evudp6 — Observe (RFC 7641), server and client, on the message layer.
 * See observe-internal.h for the objects and the hooks messenger.c,
 * request.c and exchange.c call.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "abi-internal.h"
#include "observe-internal.h"
#include "transport-internal.h"

#define OBSN_OF(n, member) evudp6__container_of(n, struct evudp6_observation, member)
#define OBSR_OF(n, member) evudp6__container_of(n, struct evudp6_observer, member)

/* RFC 7641 3.3.1: without Max-Age a representation is fresh for 60 s. */
#define DEFAULT_MAX_AGE_S 60u
#define SEQ_HALF          (1u << 23)

/* ------------------------------------------------------------ option */

/* 1 with the value, 0 without the option, -1 for a value longer than the
 * 3 bytes RFC 7641 2 allows (ignored, RFC 7252 5.4.3). */
static int observe_opt(const struct evudp6_msg *msg, uint32_t *value)
{
	struct evudp6_opt opt;
	if (!evudp6_msg_find_opt(msg, EVUDP6_OPT_OBSERVE, &opt))
		return 0;
	if (opt.len > 3 || evudp6_opt_uint(&opt, value) != 0)
		return -1;
	return 1;
}

int evudp6_observe_value(const struct evudp6_msg *msg, uint32_t *value)
{
	uint32_t v;
	if (!msg || observe_opt(msg, &v) != 1)
		return 0;
	if (value)
		*value = v;
	return 1;
}

static bool is_observe_method(uint8_t code)
{
	return code == EVUDP6_GET || code == EVUDP6_FETCH;
}

/* ------------------------------------------------------------ set-up */

static void config_defaults(struct evudp6_observe_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->size = sizeof *cfg;
	cfg->max_observations = EVUDP6_OBSERVE_DEFAULT_MAX_OBSERVATIONS;
	cfg->max_per_remote = EVUDP6_OBSERVE_DEFAULT_MAX_PER_REMOTE;
	cfg->max_con_pending = EVUDP6_OBSERVE_DEFAULT_MAX_CON_PENDING;
	cfg->con_every = EVUDP6_OBSERVE_DEFAULT_CON_EVERY;
	cfg->con_interval_ms = EVUDP6_OBSERVE_DEFAULT_CON_INTERVAL_MS;
	cfg->max_observers = EVUDP6_OBSERVE_DEFAULT_MAX_OBSERVERS;
	cfg->reregister_margin_ms = EVUDP6_OBSERVE_DEFAULT_REREGISTER_MARGIN_MS;
}

int evudp6_observe_config_init(struct evudp6_observe_config *cfg, size_t size)
{
	struct evudp6_observe_config d;
	config_defaults(&d);
	return evudp6__config_init(cfg, size, _Alignof(struct evudp6_observe_config), &d, sizeof d);
}

static void slot_timer_cb(evutil_socket_t fd, short what, void *arg);
static void obr_timer_cb(evutil_socket_t fd, short what, void *arg);

void evudp6__obs_destroy(struct evudp6_messenger *m)
{
	struct evudp6__obs *os = m->obs;
	if (!os)
		return;
	if (os->slots)
		for (size_t i = 0; i < os->cfg.max_con_pending; i++)
			if (os->slots[i].timer)
				event_free(os->slots[i].timer);
	if (os->obr)
		for (size_t i = 0; i < os->cfg.max_observers; i++) {
			/* The block layer leaves its transfers to their owners. */
			if (os->obr[i].br)
				evudp6_block_request_cancel(os->obr[i].br);
			if (os->obr[i].timer)
				event_free(os->obr[i].timer);
		}
	free(os->scratch);
	free(os->obs);
	free(os->slots);
	free(os->slot_bufs);
	free(os->obr);
	free(os->obr_bufs);
	evudp6__htab_free(&os->rem_tab);
	evudp6__htab_free(&os->omid_tab);
	evudp6__htab_free(&os->tok_tab);
	evudp6__htab_free(&os->rmid_tab);
	free(os);
	m->obs = NULL;
}

static int pools_init(struct evudp6__obs *os)
{
	struct evudp6_messenger *m = os->m;
	const struct evudp6_observe_config *c = &os->cfg;
	size_t mm = m->cfg.max_message;
	os->scratch = malloc(mm);
	os->obs = calloc(c->max_observations, sizeof *os->obs);
	os->slots = calloc(c->max_con_pending, sizeof *os->slots);
	os->slot_bufs = malloc(c->max_con_pending * mm);
	os->obr = calloc(c->max_observers, sizeof *os->obr);
	os->obr_bufs = malloc(c->max_observers * mm);
	if (!os->scratch || !os->obs || !os->slots || !os->slot_bufs || !os->obr || !os->obr_bufs ||
	    evudp6__htab_init(&os->rem_tab, c->max_observations) < 0 ||
	    evudp6__htab_init(&os->omid_tab, c->max_observations) < 0 ||
	    evudp6__htab_init(&os->tok_tab, c->max_observers) < 0 ||
	    evudp6__htab_init(&os->rmid_tab, c->max_observers) < 0)
		return -ENOMEM;
	for (size_t i = c->max_observations; i-- > 0;) {
		struct evudp6_observation *o = &os->obs[i];
		o->os = os;
		o->free_next = os->obs_free;
		os->obs_free = o;
	}
	for (size_t i = c->max_con_pending; i-- > 0;) {
		struct evudp6__obs_slot *s = &os->slots[i];
		s->os = os;
		s->buf = os->slot_bufs + i * mm;
		s->timer = event_new(m->base, -1, 0, slot_timer_cb, s);
		if (!s->timer)
			return -ENOMEM;
		s->free_next = os->slot_free;
		os->slot_free = s;
	}
	for (size_t i = c->max_observers; i-- > 0;) {
		struct evudp6_observer *o = &os->obr[i];
		o->os = os;
		o->buf = os->obr_bufs + i * mm;
		o->timer = event_new(m->base, -1, 0, obr_timer_cb, o);
		if (!o->timer)
			return -ENOMEM;
		o->free_next = os->obr_free;
		os->obr_free = o;
	}
	return 0;
}

int evudp6_observe_setup(struct evudp6_messenger *m, const struct evudp6_observe_config *cfg)
{
	if (!m)
		return -EINVAL;
	if (m->shut)
		return -EVUDP6_E_SHUTDOWN;
	if (m->obs)
		return -EVUDP6_E_STATE;
	struct evudp6_observe_config c;
	config_defaults(&c);
	if (cfg && evudp6__config_in(&c, sizeof c, _Alignof(struct evudp6_observe_config), cfg) < 0)
		return -EINVAL;
	const size_t pool_max = (SIZE_MAX / 4) / (sizeof(struct evudp6_observer) + EVUDP6__MAX_MESSAGE_LIMIT);
	if (c.max_observations == 0 || c.max_observations > pool_max || c.max_per_remote == 0 ||
	    c.max_con_pending == 0 || c.max_con_pending > pool_max || c.con_every == 0 ||
	    c.con_interval_ms == 0 || c.max_observers == 0 || c.max_observers > pool_max)
		return -EINVAL;
	struct evudp6__obs *os = calloc(1, sizeof *os);
	if (!os)
		return -ENOMEM;
	os->m = m;
	os->cfg = c;
	m->obs = os;
	if (pools_init(os) < 0) {
		evudp6__obs_destroy(m);
		return -ENOMEM;
	}
	return 0;
}

static struct evudp6__obs *obs_get(struct evudp6_messenger *m)
{
	if (!m->obs && evudp6_observe_setup(m, NULL) < 0)
		return NULL;
	return m->obs;
}

int evudp6_observe_stats(const struct evudp6_messenger *m, struct evudp6_observe_stats *out, size_t size)
{
	static const struct evudp6_observe_stats none;
	if (!out)
		return -EINVAL;
	const struct evudp6_observe_stats *st = m->obs ? &m->obs->st : &none;
	return (int)evudp6__struct_out(out, size, st, sizeof *st);
}

/* Encode @p b as a message to @p o's endpoint: its token, @p type and
 * @p mid, and, when @p seq is not NULL, Observe: *seq. @p b is left as it
 * was: the additions go into a copy (a builder is a value), since options
 * are kept sorted and the Observe option added is not the last one when
 * the builder holds options numbered above 6 (Content-Format). */
static ssize_t encode_to(struct evudp6__obs *os, const struct evudp6_msg_builder *b, const uint8_t *token,
                         uint8_t tkl, uint8_t type, uint16_t mid, const uint32_t *seq, uint8_t *out)
{
	if (seq && b->nopts >= EVUDP6_BUILDER_MAX_OPTS)
		return -EVUDP6_E_MSG_TOO_MANY_OPTS;
	struct evudp6_msg_builder nb = *b;
	if (seq)
		evudp6_msg_builder_add_uint(&nb, EVUDP6_OPT_OBSERVE, *seq & EVUDP6_OBSERVE_SEQ_MAX);
	evudp6_msg_builder_set_token(&nb, token, tkl);
	nb.type = type;
	nb.mid = mid;
	return evudp6_msg_encode(&nb, out, os->m->cfg.max_message);
}

/* ------------------------------------------------------------ handles */

static struct evudp6_observation_handle obsn_handle(struct evudp6_observation *o)
{
	return (struct evudp6_observation_handle){.obj = o, .gen = o->gen};
}

/* The observation @p h refers to (live, or ended and in its end
 * callback), or NULL once its slot was released. */
static struct evudp6_observation *obsn_of(struct evudp6_observation_handle h)
{
	struct evudp6_observation *o = h.obj;
	return o && o->gen == h.gen && o->state != EVUDP6__OBSN_FREE ? o : NULL;
}

static struct evudp6_observer_handle obr_handle(struct evudp6_observer *o)
{
	return (struct evudp6_observer_handle){.obj = o, .gen = o->gen};
}

static struct evudp6_observer *obr_of(struct evudp6_observer_handle h)
{
	struct evudp6_observer *o = h.obj;
	return o && o->gen == h.gen && o->state != EVUDP6__OBSR_FREE ? o : NULL;
}

/* ------------------------------------------------------------ server: tables */

static uint32_t rem_hash(const struct evudp6__obs *os, const struct evudp6_addr *remote)
{
	return evudp6__msgr_key_hash(os->m, remote, 0);
}

/* The observation of (@p remote, token); @p count gets how many the
 * endpoint has. */
static struct evudp6_observation *obsn_find(struct evudp6__obs *os, const struct evudp6_addr *remote,
                                            const uint8_t *tok, uint8_t tkl, size_t *count)
{
	uint32_t h = rem_hash(os, remote);
	struct evudp6_observation *found = NULL;
	size_t k = 0;
	for (struct evudp6__hnode *n = evudp6__htab_bucket(&os->rem_tab, h); n; n = n->next) {
		struct evudp6_observation *o = OBSN_OF(n, rem_node);
		if (n->hash != h || !evudp6_addr_equal(&o->remote, remote))
			continue;
		k++;
		if (o->tkl == tkl && (tkl == 0 || memcmp(o->token, tok, tkl) == 0))
			found = o;
	}
	if (count)
		*count = k;
	return found;
}

static struct evudp6_observation *obsn_find_mid(struct evudp6__obs *os, uint16_t mid,
                                                const struct evudp6_addr *remote)
{
	for (struct evudp6__hnode *n = evudp6__htab_bucket(&os->omid_tab, mid); n; n = n->next) {
		struct evudp6_observation *o = OBSN_OF(n, mid_node);
		if (o->mid == mid && evudp6_addr_equal(&o->remote, remote))
			return o;
	}
	return NULL;
}

static void obsn_set_mid(struct evudp6__obs *os, struct evudp6_observation *o, uint16_t mid)
{
	evudp6__htab_remove(&os->omid_tab, &o->mid_node);
	o->mid = mid;
	evudp6__htab_insert(&os->omid_tab, &o->mid_node, mid);
}

static void slot_put(struct evudp6__obs *os, struct evudp6__obs_slot *s)
{
	event_del(s->timer);
	s->o->slot = NULL;
	s->o = NULL;
	s->free_next = os->slot_free;
	os->slot_free = s;
}

static void obsn_unlink(struct evudp6__obs *os, struct evudp6_observation *o)
{
	evudp6__htab_remove(&os->rem_tab, &o->rem_node);
	evudp6__htab_remove(&os->omid_tab, &o->mid_node);
	if (o->slot)
		slot_put(os, o->slot);
	o->state = EVUDP6__OBSN_ENDED;
	os->st.observations--;
}

static void obsn_release(struct evudp6__obs *os, struct evudp6_observation *o)
{
	o->state = EVUDP6__OBSN_FREE;
	o->gen++;
	o->free_next = os->obs_free;
	os->obs_free = o;
}

/* Removed by the protocol: the application is told. */
static void obsn_remove(struct evudp6__obs *os, struct evudp6_observation *o, int reason)
{
	obsn_unlink(os, o);
	if (o->cb)
		o->cb(obsn_handle(o), reason, o->arg);
	obsn_release(os, o);
}

/* ------------------------------------------------------------ server: API */

/* Strictly increasing per observer, and across a re-registration too
 * unless the old one was notified faster than every 32 ms on average. */
static uint32_t next_seq(const struct evudp6_observation *o, uint64_t now)
{
	uint32_t clock = (uint32_t)(now / 32u);
	uint32_t s = o->seq + 1;
	return (int32_t)(clock - s) > 0 ? clock : s;
}

int evudp6_observe_accept(struct evudp6_exchange_handle h, const struct evudp6_msg *req,
                          struct evudp6_msg_builder *b, evudp6_observation_end_cb cb, void *arg,
                          struct evudp6_observation_handle *out)
{
	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof *out);
	if (!h.obj || !req || !b)
		return -EINVAL;
	struct evudp6_messenger *m = h.obj->m;
	if (m->shut)
		return -EVUDP6_E_SHUTDOWN;
	struct evudp6_exchange *ex = evudp6__ent_of(h);
	if (!ex)
		return -EVUDP6_E_STATE;
	struct evudp6__obs *os = obs_get(m);
	if (!os)
		return -ENOMEM;
	uint32_t v = 0;
	int ov = observe_opt(req, &v);
	if (ov < 0)
		os->st.observe_invalid++;
	if (ov != 1 || v != 0 || !is_observe_method(req->code) || ex->mcast ||
	    EVUDP6_CODE_CLASS(b->code) != 2)
		return -EINVAL;
	struct evudp6_addr remote = ex->remote;
	uint8_t tkl = ex->tkl, token[EVUDP6_TOKEN_MAX];
	memcpy(token, ex->token, tkl);
	size_t count;
	struct evudp6_observation *old = obsn_find(os, &remote, token, tkl, &count);
	if (!old && (count >= os->cfg.max_per_remote || !os->obs_free)) {
		os->st.registrations_rejected++;
		return -ENOBUFS;
	}
	if (b->nopts >= EVUDP6_BUILDER_MAX_OPTS)
		return -EVUDP6_E_MSG_TOO_MANY_OPTS;
	uint64_t now = evudp6__now_ms();
	struct evudp6_observation tmp = {.seq = old ? old->seq : 0};
	uint32_t seq = next_seq(&tmp, now);
	/* In a copy: @p b stays as the caller built it (see encode_to()). */
	struct evudp6_msg_builder nb = *b;
	evudp6_msg_builder_add_uint(&nb, EVUDP6_OPT_OBSERVE, seq & EVUDP6_OBSERVE_SEQ_MAX);
	int rc = evudp6_exchange_respond(h, &nb);
	if (rc < 0)
		return rc;
	if (old)
		obsn_remove(os, old, 0);
	struct evudp6_observation *o = os->obs_free;
	if (!o || m->shut)
		return -EVUDP6_E_SHUTDOWN; /* the old one's callback shut the messenger down */
	os->obs_free = o->free_next;
	o->free_next = NULL;
	o->remote = remote;
	o->tkl = tkl;
	memcpy(o->token, token, tkl);
	o->seq = seq;
	o->since_con = 0;
	o->con_owed = false;
	o->last_con_ms = now;
	o->slot = NULL;
	o->cb = cb;
	o->arg = arg;
	o->state = EVUDP6__OBSN_LIVE;
	evudp6__htab_insert(&os->rem_tab, &o->rem_node, rem_hash(os, &remote));
	os->st.registrations++;
	os->st.observations++;
	if (os->st.observations > os->st.observations_peak)
		os->st.observations_peak = os->st.observations;
	*out = obsn_handle(o);
	return 0;
}

static void slot_transmit(struct evudp6__obs *os, struct evudp6__obs_slot *s)
{
	if (s->fresh) {
		/* The newest notification takes the place of the one in flight. */
		s->fresh = false;
		obsn_set_mid(os, s->o, s->buf_mid);
		os->st.notifications_sent++;
		os->st.notifications_con++;
	}
	evudp6__msgr_reply(os->m, &s->o->remote, s->buf, s->len);
}

static void slot_start(struct evudp6__obs *os, struct evudp6__obs_slot *s)
{
	s->retransmits = 0;
	s->timeout_us = evudp6__msgr_initial_timeout_us(os->m);
	s->o->last_con_ms = evudp6__now_ms();
	s->o->since_con = 0;
	slot_transmit(os, s);
	evudp6__timer_add_us(s->timer, s->timeout_us);
}

int evudp6_observation_notify(struct evudp6_observation_handle h, struct evudp6_msg_builder *b)
{
	struct evudp6_observation *o = obsn_of(h);
	if (!o || o->state != EVUDP6__OBSN_LIVE)
		return -EVUDP6_E_STATE;
	struct evudp6__obs *os = o->os;
	struct evudp6_messenger *m = os->m;
	if (m->shut)
		return -EVUDP6_E_SHUTDOWN;
	if (!b || EVUDP6_CODE_CLASS(b->code) != 2)
		return -EINVAL;
	uint64_t now = evudp6__now_ms();
	uint32_t seq = next_seq(o, now);
	uint32_t mid_hash;
	uint16_t mid = evudp6__req_alloc_mid(m, &o->remote, &mid_hash);
	struct evudp6__obs_slot *s = o->slot;
	bool con = s || o->con_owed || o->since_con + 1u >= os->cfg.con_every ||
	           now - o->last_con_ms >= os->cfg.con_interval_ms;
	ssize_t n = encode_to(os, b, o->token, o->tkl, con ? EVUDP6_CON : EVUDP6_NON, mid, &seq, os->scratch);
	if (n < 0)
		return (int)n;
	o->seq = seq;
	if (s) {
		/* RFC 7641 4.5.2: wait behind the unacknowledged CON; only the
		 * newest state leaves. */
		if (s->fresh)
			os->st.notifications_replaced++;
		memcpy(s->buf, os->scratch, (size_t)n);
		s->len = (size_t)n;
		s->buf_mid = mid;
		s->fresh = true;
		return 0;
	}
	if (con && os->slot_free) {
		s = os->slot_free;
		os->slot_free = s->free_next;
		s->o = o;
		o->slot = s;
		memcpy(s->buf, os->scratch, (size_t)n);
		s->len = (size_t)n;
		s->buf_mid = mid;
		s->fresh = true;
		o->con_owed = false;
		slot_start(os, s);
		return 0;
	}
	if (con) {
		/* Every slot is busy: this one goes NON, the next is CON. */
		os->scratch[0] = (uint8_t)((os->scratch[0] & 0xcf) | (EVUDP6_NON << 4));
		o->con_owed = true;
	}
	obsn_set_mid(os, o, mid);
	o->since_con++;
	os->st.notifications_sent++;
	evudp6__msgr_reply(m, &o->remote, os->scratch, (size_t)n);
	return 0;
}

int evudp6_observation_notify_many(const struct evudp6_observation_handle *obs, size_t n,
                                   struct evudp6_msg_builder *b)
{
	int first = 0;
	struct evudp6_transport *held = NULL;
	for (size_t i = 0; i < n; i++) {
		struct evudp6_observation *o = obsn_of(obs[i]);
		if (o && o->state == EVUDP6__OBSN_LIVE && o->os->m->t != held) {
			if (held)
				evudp6__transport_release(held);
			held = o->os->m->t;
			evudp6__transport_hold(held);
		}
		int rc = evudp6_observation_notify(obs[i], b);
		if (rc < 0 && first == 0)
			first = rc;
	}
	/* The round leaves in sendmmsg() batches. */
	if (held)
		evudp6__transport_release(held);
	return first;
}

int evudp6_observation_end(struct evudp6_observation_handle h, struct evudp6_msg_builder *b)
{
	struct evudp6_observation *o = obsn_of(h);
	if (!o || o->state != EVUDP6__OBSN_LIVE)
		return -EVUDP6_E_STATE;
	struct evudp6__obs *os = o->os;
	struct evudp6_messenger *m = os->m;
	int rc = 0;
	if (b && !m->shut) {
		uint32_t mid_hash;
		uint16_t mid = evudp6__req_alloc_mid(m, &o->remote, &mid_hash);
		ssize_t n = encode_to(os, b, o->token, o->tkl, EVUDP6_NON, mid, NULL, os->scratch);
		if (n < 0)
			rc = (int)n;
		else
			evudp6__msgr_reply(m, &o->remote, os->scratch, (size_t)n);
	}
	os->st.removed_by_application++;
	obsn_unlink(os, o);
	obsn_release(os, o);
	return rc;
}

const struct evudp6_addr *evudp6_observation_remote(struct evudp6_observation_handle h)
{
	const struct evudp6_observation *o = obsn_of(h);
	return o ? &o->remote : NULL;
}

static void slot_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct evudp6__obs_slot *s = arg;
	struct evudp6__obs *os = s->os;
	struct evudp6_messenger *m = os->m;
	(void)fd;
	(void)what;
	if (m->shut || !s->o)
		return;
	evudp6__msgr_enter(m);
	if (evudp6__retransmit_due(m, &s->retransmits, &s->timeout_us)) {
		os->st.retransmissions++;
		slot_transmit(os, s);
		evudp6__timer_add_us(s->timer, s->timeout_us);
	} else {
		m->st.timeouts++;
		os->st.removed_timeout++;
		obsn_remove(os, s->o, -EVUDP6_E_TIMEOUT);
	}
	evudp6__msgr_leave(m);
}

/* ------------------------------------------------------------ client: tables */

static struct evudp6_observer *obr_find_token(struct evudp6__obs *os, const uint8_t *tok)
{
	uint32_t h = evudp6__token_hash(tok);
	for (struct evudp6__hnode *n = evudp6__htab_bucket(&os->tok_tab, h); n; n = n->next) {
		struct evudp6_observer *o = OBSR_OF(n, tok_node);
		if (n->hash == h && memcmp(o->token, tok, EVUDP6__TOKEN_LEN) == 0)
			return o;
	}
	return NULL;
}

static struct evudp6_observer *obr_find_mid(struct evudp6__obs *os, uint16_t mid,
                                            const struct evudp6_addr *remote)
{
	for (struct evudp6__hnode *n = evudp6__htab_bucket(&os->rmid_tab, mid); n; n = n->next) {
		struct evudp6_observer *o = OBSR_OF(n, mid_node);
		if (o->mid == mid && evudp6_addr_equal(&o->remote, remote))
			return o;
	}
	return NULL;
}

static bool obr_active(const struct evudp6_observer *o)
{
	return o->state == EVUDP6__OBSR_REGISTERING || o->state == EVUDP6__OBSR_OBSERVING ||
	       o->state == EVUDP6__OBSR_DEREGISTERING;
}

static bool obr_get_in_flight(const struct evudp6_observer *o)
{
	return o->state == EVUDP6__OBSR_REGISTERING || o->state == EVUDP6__OBSR_DEREGISTERING;
}

static void obr_drop_blocks(struct evudp6__obs *os, struct evudp6_observer *o)
{
	if (!o->br)
		return;
	struct evudp6_block_request *br = o->br;
	o->br = NULL;
	os->st.notifications_incomplete++;
	evudp6_block_request_cancel(br);
}

static void obr_unlink(struct evudp6__obs *os, struct evudp6_observer *o)
{
	obr_drop_blocks(os, o);
	event_del(o->timer);
	evudp6__htab_remove(&os->tok_tab, &o->tok_node);
	evudp6__htab_remove(&os->rmid_tab, &o->mid_node);
	o->state = EVUDP6__OBSR_ENDED;
	os->st.observers--;
}

static void obr_release(struct evudp6__obs *os, struct evudp6_observer *o)
{
	o->state = EVUDP6__OBSR_FREE;
	o->gen++;
	o->free_next = os->obr_free;
	os->obr_free = o;
}

static void obr_end(struct evudp6__obs *os, struct evudp6_observer *o, int err, const struct evudp6_msg *rsp,
                    const struct evudp6_addr *remote, const struct evudp6_icmp *icmp)
{
	obr_unlink(os, o);
	o->in_cb = true;
	o->cb(obr_handle(o), err, rsp, -1, remote ? remote : &o->remote, icmp, o->arg);
	o->in_cb = false;
	obr_release(os, o);
}

/* (Re)send our GET with a new message id: the registration, a
 * re-registration or the deregistration, as o->buf holds it. */
static int obr_send_get(struct evudp6__obs *os, struct evudp6_observer *o)
{
	struct evudp6_messenger *m = os->m;
	uint32_t mid_hash;
	o->mid = evudp6__req_alloc_mid(m, &o->remote, &mid_hash);
	o->buf[2] = (uint8_t)(o->mid >> 8);
	o->buf[3] = (uint8_t)o->mid;
	evudp6__htab_remove(&os->rmid_tab, &o->mid_node);
	evudp6__htab_insert(&os->rmid_tab, &o->mid_node, o->mid);
	o->retransmits = 0;
	o->acked = false;
	o->timeout_us = evudp6__msgr_initial_timeout_us(m);
	event_del(o->timer);
	int rc = evudp6__msgr_send(m, &o->remote, o->buf, o->len);
	/* A full socket buffer is what retransmission is for. */
	if (rc < 0 && !(rc == -EAGAIN && o->con))
		return rc;
	evudp6__timer_add_us(o->timer, o->con ? o->timeout_us : (uint64_t)m->cfg.response_timeout_ms * 1000u);
	return 0;
}

int evudp6_observe_register(struct evudp6_messenger *m, const struct evudp6_addr *remote,
                            struct evudp6_msg_builder *b, evudp6_observer_notify_cb cb, void *arg,
                            struct evudp6_observer_handle *out)
{
	if (out)
		memset(out, 0, sizeof *out);
	if (!m || !remote || !b || !cb)
		return -EINVAL;
	if (m->shut)
		return -EVUDP6_E_SHUTDOWN;
	if (!m->started)
		return -EVUDP6_E_STATE;
	if ((b->type != EVUDP6_CON && b->type != EVUDP6_NON) || !is_observe_method(b->code) ||
	    evudp6_addr_is_multicast(remote))
		return -EINVAL;
	struct evudp6__obs *os = obs_get(m);
	if (!os)
		return -ENOMEM;
	struct evudp6_observer *o = os->obr_free;
	if (!o)
		return -ENOBUFS;
	uint8_t token[EVUDP6__TOKEN_LEN];
	/* From the CSPRNG, as the requests' tokens (RFC 7252 5.3.1). */
	do
		evudp6__pool_bytes(&m->pool, token, sizeof token);
	while (obr_find_token(os, token));
	uint32_t zero = 0;
	ssize_t n = encode_to(os, b, token, sizeof token, b->type, 0, &zero, o->buf);
	if (n < 0)
		return (int)n;
	os->obr_free = o->free_next;
	o->free_next = NULL;
	o->len = (size_t)n;
	o->con = b->type == EVUDP6_CON;
	o->have_seq = o->in_cb = false;
	memcpy(o->token, token, sizeof token);
	o->remote = *remote;
	o->cb = cb;
	o->arg = arg;
	o->state = EVUDP6__OBSR_REGISTERING;
	os->st.observers++;
	evudp6__htab_insert(&os->tok_tab, &o->tok_node, evudp6__token_hash(token));
	int rc = obr_send_get(os, o);
	if (rc < 0) {
		obr_unlink(os, o);
		obr_release(os, o);
		return rc;
	}
	if (out)
		*out = obr_handle(o);
	return 0;
}

int evudp6_observer_cancel(struct evudp6_observer_handle h, bool deregister)
{
	struct evudp6_observer *o = obr_of(h);
	if (!o || !obr_active(o))
		return -EVUDP6_E_STATE;
	struct evudp6__obs *os = o->os;
	if (deregister && o->state == EVUDP6__OBSR_DEREGISTERING)
		return 0;
	obr_drop_blocks(os, o);
	if (deregister && !os->m->shut) {
		/* RFC 7641 3.6: the registration again, with Observe: 1. */
		struct evudp6_msg reg;
		struct evudp6_msg_builder b;
		static const uint8_t one = 1;
		if (evudp6_msg_decode(&reg, o->buf, o->len) == 0 &&
		    evudp6_msg_builder_from_msg(&b, &reg) == 0) {
			for (size_t i = 0; i < b.nopts; i++)
				if (b.opt[i].number == EVUDP6_OPT_OBSERVE) {
					b.opt[i].value = &one;
					b.opt[i].len = 1;
				}
			ssize_t n = evudp6_msg_encode(&b, os->scratch, os->m->cfg.max_message);
			if (n > 0) {
				memcpy(o->buf, os->scratch, (size_t)n);
				o->len = (size_t)n;
				o->state = EVUDP6__OBSR_DEREGISTERING;
				int rc = obr_send_get(os, o);
				if (rc == 0)
					return 0;
				obr_unlink(os, o);
				if (!o->in_cb)
					obr_release(os, o);
				return rc;
			}
		}
	}
	obr_unlink(os, o);
	if (!o->in_cb)
		obr_release(os, o);
	return 0;
}

const struct evudp6_addr *evudp6_observer_remote(struct evudp6_observer_handle h)
{
	const struct evudp6_observer *o = obr_of(h);
	return o ? &o->remote : NULL;
}

/* RFC 7641 3.4: is V2 (received at @p now) newer than V1 (at @p t1)? */
static bool seq_fresher(uint32_t v1, uint64_t t1, uint32_t v2, uint64_t now)
{
	return (v1 < v2 && v2 - v1 < SEQ_HALF) || (v1 > v2 && v1 - v2 > SEQ_HALF) ||
	       now > t1 + EVUDP6_OBSERVE_FRESHNESS_MS;
}

static void obr_deliver(struct evudp6__obs *os, struct evudp6_observer *o, const struct evudp6_msg *msg,
                        int32_t seq, const struct evudp6_addr *remote)
{
	os->st.notifications_received++;
	o->in_cb = true;
	o->cb(obr_handle(o), 0, msg, seq, remote, NULL, o->arg);
	o->in_cb = false;
	if (o->state == EVUDP6__OBSR_ENDED && !os->m->free_pending)
		obr_release(os, o);
}

static void obr_blocks_cb(struct evudp6_block_request *br, int err, const struct evudp6_msg *rsp,
                          const struct evudp6_addr *remote, const struct evudp6_icmp *icmp, void *arg)
{
	(void)icmp;
	struct evudp6_observer *o = arg;
	struct evudp6__obs *os = o->os;
	if (o->br != br)
		return;
	o->br = NULL;
	if (err < 0 || !obr_active(o)) {
		os->st.notifications_incomplete++;
		return;
	}
	os->st.notifications_blockwise++;
	obr_deliver(os, o, rsp, (int32_t)o->br_seq, remote);
}

/* Fetch the other blocks of notification @p first with the registration's
 * options; 0 when under way. */
static int obr_fetch_blocks(struct evudp6__obs *os, struct evudp6_observer *o, const struct evudp6_msg *first,
                            const struct evudp6_addr *remote, uint32_t seq)
{
	struct evudp6_msg reg;
	struct evudp6_msg_builder b;
	if (evudp6_msg_decode(&reg, o->buf, o->len) != 0 || evudp6_msg_builder_from_msg(&b, &reg) != 0)
		return -EINVAL;
	b.type = o->con ? EVUDP6_CON : EVUDP6_NON;
	o->br_seq = seq;
	int rc = evudp6_block_continue(os->m, remote, &b, first, NULL, obr_blocks_cb, o, &o->br);
	if (rc < 0)
		o->br = NULL;
	return rc;
}

/* A response carrying our token: @p answers_get when it came on the ACK
 * of our GET. */
static void obr_on_response(struct evudp6__obs *os, struct evudp6_observer *o, const struct evudp6_msg *msg,
                            const struct evudp6_addr *remote, bool answers_get)
{
	uint32_t v = 0;
	int ov = observe_opt(msg, &v);
	if (ov < 0)
		os->st.observe_invalid++;
	bool notification = ov == 1 && EVUDP6_CODE_CLASS(msg->code) == 2;
	if (o->state == EVUDP6__OBSR_DEREGISTERING) {
		/* A notification that crossed the deregistration is not delivered. */
		if (answers_get || !notification)
			obr_end(os, o, 0, msg, remote, NULL);
		return;
	}
	if (!notification) {
		obr_end(os, o, 0, msg, remote, NULL);
		return;
	}
	uint64_t now = evudp6__now_ms();
	/* Any notification answers the registration. */
	if (o->state == EVUDP6__OBSR_REGISTERING) {
		o->state = EVUDP6__OBSR_OBSERVING;
		evudp6__htab_remove(&os->rmid_tab, &o->mid_node);
	}
	if (o->have_seq && !seq_fresher(o->last_seq, o->last_ms, v, now)) {
		os->st.notifications_reordered++;
		return;
	}
	o->have_seq = true;
	o->last_seq = v;
	o->last_ms = now;
	/* RFC 7641 3.3.1: silence beyond Max-Age plus a margin means the
	 * server forgot us; register again then. */
	struct evudp6_opt opt;
	uint32_t max_age = DEFAULT_MAX_AGE_S;
	if (evudp6_msg_find_opt(msg, EVUDP6_OPT_MAX_AGE, &opt))
		evudp6_opt_uint(&opt, &max_age);
	event_del(o->timer);
	evudp6__timer_add_us(o->timer, ((uint64_t)max_age * 1000u + os->cfg.reregister_margin_ms) * 1000u);
	/* RFC 7959 2.6: a first block is completed before it is delivered;
	 * a newer notification replaces one still being completed. */
	obr_drop_blocks(os, o);
	struct evudp6_block blk;
	if (evudp6_block_get(msg, EVUDP6_OPT_BLOCK2, &blk) == 1 && blk.more && blk.num == 0 &&
	    obr_fetch_blocks(os, o, msg, remote, v) == 0)
		return;
	obr_deliver(os, o, msg, (int32_t)v, remote);
}

static void obr_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct evudp6_observer *o = arg;
	struct evudp6__obs *os = o->os;
	struct evudp6_messenger *m = os->m;
	(void)fd;
	(void)what;
	if (m->shut)
		return;
	evudp6__msgr_enter(m);
	if (obr_get_in_flight(o)) {
		if (o->con && !o->acked && evudp6__retransmit_due(m, &o->retransmits, &o->timeout_us)) {
			evudp6__msgr_send(m, &o->remote, o->buf, o->len);
			evudp6__timer_add_us(o->timer, o->timeout_us);
		} else {
			m->st.timeouts++;
			obr_end(os, o, -EVUDP6_E_TIMEOUT, NULL, NULL, NULL);
		}
	} else if (o->state == EVUDP6__OBSR_OBSERVING) {
		os->st.reregistrations++;
		o->state = EVUDP6__OBSR_REGISTERING;
		/* A send error comes back through the error callback. */
		obr_send_get(os, o);
	}
	evudp6__msgr_leave(m);
}

/* ------------------------------------------------------------ hooks */

bool evudp6__obs_on_response(struct evudp6_messenger *m, const struct evudp6_msg *msg,
                             const struct evudp6_addr *remote, bool via_mcast, uint32_t hash, uint64_t now)
{
	struct evudp6__obs *os = m->obs;
	struct evudp6_observer *o =
	    os && msg->tkl == EVUDP6__TOKEN_LEN ? obr_find_token(os, msg->token) : NULL;
	if (o && obr_active(o) && evudp6_addr_equal(&o->remote, remote)) {
		evudp6__ent_remember_response(m, msg, remote, hash, now);
		if (msg->type == EVUDP6_CON)
			evudp6__msgr_send_empty(m, remote, EVUDP6_ACK, msg->mid);
		obr_on_response(os, o, msg, remote, false);
		return true;
	}
	uint32_t v;
	if (observe_opt(msg, &v) == 0)
		return false;
	/* A notification for nothing of ours: RFC 7641 3.6 (forgetting)
	 * rejects it with RST, NON ones too, so that the server stops. */
	if (os)
		os->st.notifications_rejected++;
	if (msg->type != EVUDP6_NON || via_mcast)
		return false; /* the caller counts it and resets a CON */
	evudp6__msgr_send_empty(m, remote, EVUDP6_RST, msg->mid);
	evudp6__msgr_unmatched(m, msg, remote);
	return true;
}

bool evudp6__obs_on_ack(struct evudp6_messenger *m, const struct evudp6_msg *msg,
                        const struct evudp6_addr *remote)
{
	struct evudp6__obs *os = m->obs;
	if (!os)
		return false;
	struct evudp6_observation *n = obsn_find_mid(os, msg->mid, remote);
	if (n) {
		struct evudp6__obs_slot *s = n->slot;
		if (s && s->fresh) {
			/* The CON in flight is acknowledged; the newest that waited leaves now. */
			event_del(s->timer);
			slot_start(os, s);
		} else if (s) {
			slot_put(os, s);
		}
		return true;
	}
	struct evudp6_observer *o = obr_find_mid(os, msg->mid, remote);
	if (!o || !obr_get_in_flight(o) || !o->con)
		return false;
	if (msg->code == EVUDP6_EMPTY) {
		if (!o->acked) {
			o->acked = true;
			event_del(o->timer);
			evudp6__timer_add_us(o->timer, (uint64_t)m->cfg.response_timeout_ms * 1000u);
		}
	} else if (evudp6__token_matches(msg, o->token, EVUDP6__TOKEN_LEN)) {
		obr_on_response(os, o, msg, remote, true);
	} else {
		evudp6__msgr_unmatched(m, msg, remote);
	}
	return true;
}

bool evudp6__obs_on_rst(struct evudp6_messenger *m, const struct evudp6_msg *msg,
                        const struct evudp6_addr *remote)
{
	struct evudp6__obs *os = m->obs;
	if (!os)
		return false;
	struct evudp6_observation *n = obsn_find_mid(os, msg->mid, remote);
	if (n) {
		m->st.rst_received++;
		os->st.removed_rst++;
		obsn_remove(os, n, -ECONNRESET);
		return true;
	}
	struct evudp6_observer *o = obr_find_mid(os, msg->mid, remote);
	if (!o || !obr_get_in_flight(o))
		return false;
	m->st.rst_received++;
	obr_end(os, o, -ECONNRESET, NULL, remote, NULL);
	return true;
}

void evudp6__obs_on_request(struct evudp6_messenger *m, const struct evudp6_msg *msg,
                            const struct evudp6_addr *remote)
{
	struct evudp6__obs *os = m->obs;
	uint32_t v;
	if (!os || os->st.observations == 0 || !is_observe_method(msg->code) || observe_opt(msg, &v) != 1 ||
	    v != 1)
		return;
	struct evudp6_observation *o = obsn_find(os, remote, msg->token, msg->tkl, NULL);
	if (!o)
		return;
	os->st.deregistrations++;
	obsn_remove(os, o, 0);
}

bool evudp6__obs_vet(struct evudp6_messenger *m, const struct evudp6_msg *h, const struct evudp6_addr *remote)
{
	struct evudp6__obs *os = m->obs;
	if (!os || (h->type != EVUDP6_CON && h->type != EVUDP6_NON))
		return false;
	struct evudp6_observation *n = obsn_find_mid(os, h->mid, remote);
	if (n)
		return !h->token || evudp6__token_matches(h, n->token, n->tkl);
	struct evudp6_observer *o = obr_find_mid(os, h->mid, remote);
	return o && obr_get_in_flight(o) &&
	       (!h->token || evudp6__token_matches(h, o->token, EVUDP6__TOKEN_LEN));
}

void evudp6__obs_fail_remote(struct evudp6_messenger *m, const struct evudp6_addr *remote, int err,
                             const struct evudp6_icmp *icmp)
{
	struct evudp6__obs *os = m->obs;
	if (!os)
		return;
	/* Callbacks may remove others or shut down: look again each time. */
	uint32_t h = rem_hash(os, remote);
	while (!m->shut) {
		struct evudp6_observation *n = NULL;
		for (struct evudp6__hnode *x = evudp6__htab_bucket(&os->rem_tab, h); x && !n; x = x->next)
			if (x->hash == h && evudp6_addr_equal(&OBSN_OF(x, rem_node)->remote, remote))
				n = OBSN_OF(x, rem_node);
		if (!n)
			break;
		os->st.removed_icmp++;
		obsn_remove(os, n, err);
	}
	for (size_t i = 0; i < os->cfg.max_observers && !m->shut; i++) {
		struct evudp6_observer *o = &os->obr[i];
		if (obr_active(o) && evudp6_addr_equal(&o->remote, remote)) {
			m->st.exchanges_failed++;
			obr_end(os, o, err, NULL, NULL, icmp);
		}
	}
}

void evudp6__obs_stop_timers(struct evudp6_messenger *m)
{
	struct evudp6__obs *os = m->obs;
	if (!os)
		return;
	for (size_t i = 0; i < os->cfg.max_con_pending; i++)
		event_del(os->slots[i].timer);
	for (size_t i = 0; i < os->cfg.max_observers; i++)
		event_del(os->obr[i].timer);
}

void evudp6__obs_shutdown_all(struct evudp6_messenger *m)
{
	struct evudp6__obs *os = m->obs;
	if (!os)
		return;
	for (size_t i = 0; i < os->cfg.max_observations && !m->free_pending; i++)
		if (os->obs[i].state == EVUDP6__OBSN_LIVE)
			obsn_remove(os, &os->obs[i], -EVUDP6_E_SHUTDOWN);
	for (size_t i = 0; i < os->cfg.max_observers && !m->free_pending; i++)
		if (obr_active(&os->obr[i]))
			obr_end(os, &os->obr[i], -EVUDP6_E_SHUTDOWN, NULL, NULL, NULL);
}
