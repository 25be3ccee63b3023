/*
 * No allocation per datagram: 100 000 request/response round trips on
 * loopback after a warm-up, with every malloc(), calloc(), realloc(),
 * strdup() and free() the library makes counted (the link wraps them:
 * -Wl,--wrap=...) and every allocation libevent makes counted too
 * (event_set_mem_functions()). The counts may not move while the round
 * trips run: the datagram path of the transport (receive, callback, held
 * answer, sendmmsg) and of the message layer (decode, deduplication,
 * piggybacked answer, cached answer to a duplicate) allocate nothing;
 * nor does the block server serving Block2 blocks from a snapshot, nor
 * the block client reassembling a body whose Size2 it was told, nor the
 * resource server notifying an observer (evudp6_resource_notify()),
 * nor /.well-known/core writing a listing longer than one message into
 * the buffer it grew for the first one.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include <evudp6.h>

#include "testutil.h"

/* ------------------------------------------------------------- counting */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
void __wrap_free(void *p);

static unsigned long lib_allocs, lib_frees, ev_allocs, ev_frees;

void *__wrap_malloc(size_t n)
{
	lib_allocs++;
	return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
	lib_allocs++;
	return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
	lib_allocs++;
	return __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
	lib_allocs++;
	return __real_strdup(s);
}

void __wrap_free(void *p)
{
	if (p)
		lib_frees++;
	__real_free(p);
}

static void *ev_malloc(size_t n)
{
	ev_allocs++;
	return __real_malloc(n);
}

static void *ev_realloc(void *p, size_t n)
{
	ev_allocs++;
	return __real_realloc(p, n);
}

static void ev_free(void *p)
{
	if (p)
		ev_frees++;
	__real_free(p);
}

struct counts {
	unsigned long lib_allocs, lib_frees, ev_allocs, ev_frees;
};

static struct counts counts_now(void)
{
	return (struct counts){lib_allocs, lib_frees, ev_allocs, ev_frees};
}

/* ------------------------------------------------------------ the load */

#define WINDOW    16
#define WARM_UP   2000
#define MEASURED  100000
#define TOKEN_LEN 4

/* A client transport keeps WINDOW CON GETs in flight; each answer sends
 * the next request from inside the client's datagram callback. */
struct load {
	struct event_base *base;
	struct evudp6_transport *client;
	struct evudp6_addr server;
	struct event *watchdog;
	uint16_t next_mid;
	unsigned long answered, target, last_seen;
	unsigned long wrong; /* bad answers and failed sends */
	/* Every dup_every-th request is sent twice (same message id). */
	unsigned int dup_every;
	unsigned long sent;
	unsigned long duplicate_answers;
	uint16_t in_flight[WINDOW];
	bool active[WINDOW];
	/* Ask for Block2 blocks 1..4 of /b instead of a plain GET. */
	bool block2;
	/* options after the token of a plain GET (e.g. a Uri-Path), may be empty */
	const uint8_t *opts;
	size_t opts_len;
	/* when not 0, the payload length every answer must have */
	size_t want_len;
};

static void send_request(struct load *l, unsigned int slot)
{
	uint16_t mid = l->next_mid++;
	uint8_t req[4 + TOKEN_LEN] = {
	    0x40 | TOKEN_LEN, EVUDP6_GET, (uint8_t)(mid >> 8), (uint8_t)mid, (uint8_t)slot, 0xa1, 0x10, 0xc0};
	l->in_flight[slot] = mid;
	l->active[slot] = true;
	if (l->block2) {
		/* Uri-Path "b", Block2 NUM 1..4 SZX 6 */
		uint8_t breq[sizeof(req) + 4];
		memcpy(breq, req, sizeof(req));
		breq[sizeof(req)] = 0xb1;
		breq[sizeof(req) + 1] = 'b';
		breq[sizeof(req) + 2] = 0xc1;
		breq[sizeof(req) + 3] = (uint8_t)((1 + mid % 4) << 4 | 6);
		if (evudp6_transport_send(l->client, &l->server, breq, sizeof(breq)) != 0)
			l->wrong++;
		return;
	}
	uint8_t get[sizeof(req) + 64];
	size_t len = sizeof(req);
	memcpy(get, req, sizeof(req));
	if (l->opts_len && l->opts_len <= sizeof(get) - len) {
		memcpy(get + len, l->opts, l->opts_len);
		len += l->opts_len;
	}
	if (evudp6_transport_send(l->client, &l->server, get, len) != 0)
		l->wrong++;
	if (l->dup_every && ++l->sent % l->dup_every == 0 &&
	    evudp6_transport_send(l->client, &l->server, get, len) != 0)
		l->wrong++;
}

static void on_answer(struct evudp6_transport *t, const uint8_t *data, size_t len,
                      const struct evudp6_addr *remote, void *arg)
{
	(void)t;
	(void)remote;
	struct load *l = arg;
	struct evudp6_msg m;
	if (evudp6_msg_decode(&m, data, len) < 0 || m.type != EVUDP6_ACK || m.code != EVUDP6_CONTENT ||
	    m.tkl != TOKEN_LEN || m.token[0] >= WINDOW || (l->want_len && m.payload_len != l->want_len)) {
		/* A wrong answer is not answered again: stop, load_check() says why. */
		l->wrong++;
		event_base_loopbreak(l->base);
		return;
	}
	unsigned int slot = m.token[0];
	if (!l->active[slot] || l->in_flight[slot] != m.mid) {
		/* The answer to a duplicate comes after the first answer. */
		l->duplicate_answers++;
		return;
	}
	l->active[slot] = false;
	/* Answers of the same batch may still come after the break. */
	if (++l->answered >= l->target) {
		event_base_loopbreak(l->base);
		return;
	}
	send_request(l, slot);
}

/* Guards against a lost datagram (none is expected on loopback): a slot
 * without progress for a while is sent again. */
static void watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct load *l = arg;
	if (l->answered == l->last_seen) {
		for (unsigned int i = 0; i < WINDOW; i++)
			if (l->active[i])
				send_request(l, i);
	}
	l->last_seen = l->answered;
}

static void load_init(struct load *l, struct event_base *base, uint16_t port, unsigned int dup_every)
{
	memset(l, 0, sizeof(*l));
	l->base = base;
	l->dup_every = dup_every;
	struct evudp6_transport_config cfg = {.size = sizeof(cfg), .bind = "[::1]:0"};
	ck_assert_int_eq(evudp6_transport_new(&l->client, base, &cfg, on_answer, NULL, l), 0);
	ck_assert_int_eq(evudp6_transport_start(l->client), 0);
	ck_assert_int_eq(evudp6_addr_from_literal(&l->server, "::1", port, 0), 0);
	l->watchdog = event_new(base, -1, EV_PERSIST, watchdog_cb, l);
	struct timeval second = {1, 0};
	event_add(l->watchdog, &second);
}

/* Run until @p n more round trips are answered. */
static void load_run(struct load *l, unsigned long n)
{
	l->target = l->answered + n;
	for (unsigned int i = 0; i < WINDOW; i++)
		if (!l->active[i])
			send_request(l, i);
	event_base_dispatch(l->base);
}

/* Check assertions allocate (see answer_cb): only outside the counted
 * span. */
static void load_check(const struct load *l)
{
	ck_assert_uint_ge(l->answered, l->target);
	ck_assert_uint_eq(l->wrong, 0);
}

static void load_free(struct load *l)
{
	event_free(l->watchdog);
	evudp6_transport_free(l->client);
}

/* Warm up (buffers, libevent's tables), then count across MEASURED round
 * trips. Returns the counts' growth. */
static struct counts measure(struct load *l)
{
	load_run(l, WARM_UP);
	load_check(l);
	struct counts a = counts_now();
	load_run(l, MEASURED);
	struct counts b = counts_now();
	load_check(l);
	return (struct counts){b.lib_allocs - a.lib_allocs, b.lib_frees - a.lib_frees,
	                       b.ev_allocs - a.ev_allocs, b.ev_frees - a.ev_frees};
}

static void expect_no_growth(struct counts d)
{
	ck_assert_uint_eq(d.lib_allocs, 0);
	ck_assert_uint_eq(d.lib_frees, 0);
	ck_assert_uint_eq(d.ev_allocs, 0);
	ck_assert_uint_eq(d.ev_frees, 0);
}

/* ------------------------------------------------- transport responder */

/* Decode the request, encode the answer with a builder, send it back
 * (held until the batch's callbacks ran, then one sendmmsg). No Check
 * assertion on this path: libcheck is linked statically and records the
 * location of every assertion with malloc(), which would be counted. */
static void answer_cb(struct evudp6_transport *t, const uint8_t *data, size_t len,
                      const struct evudp6_addr *remote, void *arg)
{
	unsigned long *answers = arg;
	struct evudp6_msg req;
	if (evudp6_msg_decode(&req, data, len) < 0 || req.type != EVUDP6_CON)
		return;
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, EVUDP6_ACK, EVUDP6_CONTENT, req.mid);
	evudp6_msg_builder_set_token(&b, req.token, req.tkl);
	evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_CONTENT_FORMAT, 0);
	evudp6_msg_builder_set_payload(&b, "hello", 5);
	uint8_t out[64];
	ssize_t n = evudp6_msg_encode(&b, out, sizeof(out));
	struct evudp6_addr to;
	evudp6_addr_response(remote, &to);
	if (n > 0 && evudp6_transport_send(t, &to, out, (size_t)n) == 0)
		++*answers;
}

START_TEST(transport_round_trips_allocate_nothing_after_warm_up)
{
	struct event_base *base = event_base_new();
	unsigned long answers = 0;
	struct evudp6_transport *srv = NULL;
	struct evudp6_transport_config cfg = {.size = sizeof(cfg), .bind = "[::1]:0"};
	ck_assert_int_eq(evudp6_transport_new(&srv, base, &cfg, answer_cb, NULL, &answers), 0);
	ck_assert_int_eq(evudp6_transport_start(srv), 0);
	struct load l;
	load_init(&l, base, evudp6_transport_port(srv), 0);

	struct counts d = measure(&l);
	expect_no_growth(d);
	ck_assert_uint_ge(answers, WARM_UP + MEASURED);
	struct evudp6_transport_stats st;
	evudp6_transport_stats(srv, &st, sizeof(st));
	ck_assert_uint_eq(st.datagrams_out, answers);
	ck_assert_uint_eq(st.send_errors, 0);

	load_free(&l);
	evudp6_transport_free(srv);
	event_base_free(base);
}
END_TEST

/* A responder that allocates per datagram, as a careless change to the
 * library would: the counters must see every one. */
static void *volatile kept;

static void allocating_answer_cb(struct evudp6_transport *t, const uint8_t *data, size_t len,
                                 const struct evudp6_addr *remote, void *arg)
{
	kept = malloc(32);
	answer_cb(t, data, len, remote, arg);
	free(kept);
}

START_TEST(counting_sees_one_allocation_per_datagram)
{
	struct event_base *base = event_base_new();
	unsigned long answers = 0;
	struct evudp6_transport *srv = NULL;
	struct evudp6_transport_config cfg = {.size = sizeof(cfg), .bind = "[::1]:0"};
	ck_assert_int_eq(evudp6_transport_new(&srv, base, &cfg, allocating_answer_cb, NULL, &answers), 0);
	ck_assert_int_eq(evudp6_transport_start(srv), 0);
	struct load l;
	load_init(&l, base, evudp6_transport_port(srv), 0);
	load_run(&l, WARM_UP);
	load_check(&l);
	unsigned long before_answers = answers;
	struct counts a = counts_now();
	load_run(&l, 1000);
	struct counts b = counts_now();
	load_check(&l);
	ck_assert_uint_eq(b.lib_allocs - a.lib_allocs, answers - before_answers);
	ck_assert_uint_eq(b.lib_frees - a.lib_frees, answers - before_answers);
	ck_assert_uint_ge(answers - before_answers, 1000);
	load_free(&l);
	evudp6_transport_free(srv);
	event_base_free(base);
}
END_TEST

/* ------------------------------------------------------ message layer */

static void request_cb(struct evudp6_messenger *m, struct evudp6_exchange_handle ex,
                       const struct evudp6_msg *req, const struct evudp6_addr *remote, void *arg)
{
	(void)m;
	(void)req;
	(void)remote;
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, EVUDP6_ACK, EVUDP6_CONTENT, 0);
	evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_CONTENT_FORMAT, 0);
	evudp6_msg_builder_set_payload(&b, "hello", 5);
	unsigned long *failed = arg;
	if (evudp6_exchange_respond(ex, &b) != 0)
		++*failed;
}

START_TEST(messenger_answers_allocate_nothing_after_warm_up)
{
	struct event_base *base = event_base_new();
	struct evudp6_messenger *m = NULL;
	struct evudp6_transport_config tcfg = {.size = sizeof(tcfg), .bind = "[::1]:0"};
	ck_assert_int_eq(evudp6_messenger_new(&m, base, &tcfg, NULL), 0);
	unsigned long failed = 0;
	evudp6_messenger_set_request_cb(m, request_cb, &failed);
	ck_assert_int_eq(evudp6_messenger_start(m), 0);
	struct load l;
	/* Every 10th request twice: its duplicate is answered from the
	 * deduplication cache. */
	load_init(&l, base, evudp6_transport_port(evudp6_messenger_transport(m)), 10);

	struct evudp6_messenger_stats s0, s1;
	load_run(&l, WARM_UP);
	load_check(&l);
	evudp6_messenger_stats(m, &s0, sizeof(s0));
	struct counts a = counts_now();
	load_run(&l, MEASURED);
	struct counts b = counts_now();
	load_check(&l);
	evudp6_messenger_stats(m, &s1, sizeof(s1));
	expect_no_growth((struct counts){b.lib_allocs - a.lib_allocs, b.lib_frees - a.lib_frees,
	                                 b.ev_allocs - a.ev_allocs, b.ev_frees - a.ev_frees});
	/* Both answer paths ran: piggybacked answers and cached ones. */
	ck_assert_uint_ge(s1.responses_sent - s0.responses_sent, MEASURED);
	ck_assert_uint_ge(s1.duplicates_answered - s0.duplicates_answered, MEASURED / 10 - WINDOW);
	ck_assert_uint_eq(s1.malformed, 0);
	ck_assert_uint_eq(failed, 0);

	load_free(&l);
	evudp6_messenger_free(m);
	event_base_free(base);
}
END_TEST

/* ------------------------------------------------------------ observe */

struct obs_load {
	struct evudp6_observation_handle o;
	unsigned long notified, finals;
	struct event *wake; /* bounds each wait (preallocated: no allocation) */
	bool woke;
	unsigned long stalls; /* waits that ran out: the notification never came */
	int notify_err;
	struct evudp6_resource *res; /* notify through the resource server */
};

static void obs_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	((struct obs_load *)arg)->woke = true;
}

static void obs_request_cb(struct evudp6_messenger *m, struct evudp6_exchange_handle ex,
                           const struct evudp6_msg *req, const struct evudp6_addr *remote, void *arg)
{
	(void)m;
	(void)remote;
	struct obs_load *l = arg;
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, 0, EVUDP6_CONTENT, 0);
	evudp6_msg_builder_set_payload(&b, "0", 1);
	if (evudp6_observe_accept(ex, req, &b, NULL, NULL, &l->o) != 0)
		evudp6_exchange_respond(ex, &b);
}

static void obs_notify_cb(struct evudp6_observer_handle o, int err, const struct evudp6_msg *rsp, int32_t seq,
                          const struct evudp6_addr *remote, const struct evudp6_icmp *icmp, void *arg)
{
	(void)o;
	(void)rsp;
	(void)remote;
	(void)icmp;
	struct obs_load *l = arg;
	if (err == 0 && seq >= 0)
		l->notified++;
	else
		l->finals++;
}

/* Notify @p n times, each time until the observer has it. */
static void obs_run(struct event_base *base, struct obs_load *l, unsigned long n)
{
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, 0, EVUDP6_CONTENT, 0);
	evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_CONTENT_FORMAT, 0);
	evudp6_msg_builder_set_payload(&b, "tick", 4);
	for (unsigned long i = 0; i < n && l->finals == 0 && l->notify_err == 0; i++) {
		unsigned long want = l->notified + 1;
		if (l->res) {
			int rc = evudp6_resource_notify(l->res);
			l->notify_err = rc == 1 ? 0 : rc < 0 ? rc : -ERANGE;
		} else {
			l->notify_err = evudp6_observation_notify_many(&l->o, 1, &b);
		}
		struct timeval one = {1, 0};
		l->woke = false;
		evtimer_add(l->wake, &one);
		while (l->notified < want && l->finals == 0 && !l->woke && l->notify_err == 0)
			event_base_loop(base, EVLOOP_ONCE);
		event_del(l->wake);
		l->stalls += l->woke;
	}
}

/* Warm up, then notify MEASURED / 10 times with the counts watched. */
static void obs_measure(struct event_base *base, struct obs_load *l)
{
	l->wake = evtimer_new(base, obs_wake_cb, l);
	ck_assert_ptr_nonnull(l->wake);
	obs_run(base, l, WARM_UP);
	struct counts c0 = counts_now();
	obs_run(base, l, MEASURED / 10);
	struct counts c1 = counts_now();
	expect_no_growth((struct counts){c1.lib_allocs - c0.lib_allocs, c1.lib_frees - c0.lib_frees,
	                                 c1.ev_allocs - c0.ev_allocs, c1.ev_frees - c0.ev_frees});
}

/* Server and client of an observation on one base: notifications (NON,
 * and every fifth CON with its ACK) cost no allocation at either end. */
START_TEST(observe_notifications_allocate_nothing_after_warm_up)
{
	struct event_base *base = event_base_new();
	struct evudp6_messenger *srv = NULL, *cli = NULL;
	struct evudp6_transport_config tcfg = {.size = sizeof(tcfg), .bind = "[::1]:0"};
	ck_assert_int_eq(evudp6_messenger_new(&srv, base, &tcfg, NULL), 0);
	ck_assert_int_eq(evudp6_messenger_new(&cli, base, &tcfg, NULL), 0);
	struct evudp6_observe_config oc;
	evudp6_observe_config_init(&oc, sizeof(oc));
	oc.con_every = 5;
	ck_assert_int_eq(evudp6_observe_setup(srv, &oc), 0);
	struct obs_load l = {0};
	evudp6_messenger_set_request_cb(srv, obs_request_cb, &l);
	ck_assert_int_eq(evudp6_messenger_start(srv), 0);
	ck_assert_int_eq(evudp6_messenger_start(cli), 0);
	struct evudp6_addr a;
	ck_assert_int_eq(
	    evudp6_addr_from_literal(&a, "::1", evudp6_transport_port(evudp6_messenger_transport(srv)), 0),
	    0);
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 0);
	ck_assert_int_eq(evudp6_observe_register(cli, &a, &b, obs_notify_cb, &l, NULL), 0);
	while (l.notified == 0 && l.finals == 0)
		event_base_loop(base, EVLOOP_ONCE);
	ck_assert_ptr_nonnull(l.o.obj);
	obs_measure(base, &l);
	struct evudp6_observe_stats st;
	evudp6_observe_stats(srv, &st, sizeof(st));
	struct evudp6_transport_stats ts;
	evudp6_transport_stats(evudp6_messenger_transport(srv), &ts, sizeof(ts));
	ck_assert_msg(l.notify_err == 0 && l.finals == 0 && l.stalls <= ts.send_errors,
	              "notify %d, finals %lu, %lu notifications never arrived (server send errors %llu, "
	              "observations %llu, removed rst %llu timeout %llu icmp %llu)",
	              l.notify_err, l.finals, l.stalls, (unsigned long long)ts.send_errors,
	              (unsigned long long)st.observations, (unsigned long long)st.removed_rst,
	              (unsigned long long)st.removed_timeout, (unsigned long long)st.removed_icmp);
	/* Every notification arrived, but those a full socket buffer refused. */
	ck_assert_uint_eq(l.notified + l.stalls, 1 + WARM_UP + MEASURED / 10);
	ck_assert_uint_ge(st.notifications_con, (WARM_UP + MEASURED / 10) / 5);
	event_free(l.wake);

	evudp6_messenger_free(cli);
	evudp6_messenger_free(srv);
	event_base_free(base);
}
END_TEST

static void tick_cb(struct evudp6_resource *res, struct evudp6_response *rsp, const struct evudp6_msg *req,
                    const struct evudp6_addr *remote, void *arg)
{
	(void)res, (void)req, (void)remote;
	struct obs_load *l = arg;
	evudp6_response_printf(rsp, "tick %lu", l->notified);
}

/* The resource server's own Observe: evudp6_resource_notify() runs the
 * GET handler and notifies with the server's one response object. */
START_TEST(resource_notify_allocates_nothing_after_warm_up)
{
	struct event_base *base = event_base_new();
	struct evudp6_messenger *srv = NULL, *cli = NULL;
	struct evudp6_server *server = NULL;
	struct evudp6_transport_config tcfg = {.size = sizeof(tcfg), .bind = "[::1]:0"};
	ck_assert_int_eq(evudp6_messenger_new(&srv, base, &tcfg, NULL), 0);
	ck_assert_int_eq(evudp6_messenger_new(&cli, base, &tcfg, NULL), 0);
	ck_assert_int_eq(evudp6_server_new(&server, srv), 0);
	struct obs_load l = {0};
	ck_assert_int_eq(evudp6_server_add(server, "/tick", EVUDP6_METHOD_GET, tick_cb, &l, &l.res), 0);
	evudp6_resource_set_flags(l.res, EVUDP6_RESOURCE_OBSERVABLE);
	ck_assert_int_eq(evudp6_messenger_start(srv), 0);
	ck_assert_int_eq(evudp6_messenger_start(cli), 0);
	struct evudp6_addr a;
	ck_assert_int_eq(
	    evudp6_addr_from_literal(&a, "::1", evudp6_transport_port(evudp6_messenger_transport(srv)), 0),
	    0);
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 0);
	ck_assert_int_eq(evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_PATH, "tick", 4), 0);
	ck_assert_int_eq(evudp6_observe_register(cli, &a, &b, obs_notify_cb, &l, NULL), 0);
	while (l.notified == 0 && l.finals == 0)
		event_base_loop(base, EVLOOP_ONCE);
	ck_assert_uint_eq(l.notified, 1);
	obs_measure(base, &l);
	ck_assert_int_eq(l.notify_err, 0);
	ck_assert_uint_eq(l.finals, 0);
	ck_assert_uint_eq(l.notified + l.stalls, 1 + WARM_UP + MEASURED / 10);
	event_free(l.wake);

	evudp6_server_free(server);
	evudp6_messenger_free(cli);
	evudp6_messenger_free(srv);
	event_base_free(base);
}
END_TEST

/* ------------------------------------------------------ block server */

struct block_srv {
	struct evudp6_block_server *bs;
	const uint8_t *body;
	size_t body_len;
	unsigned long handler_calls, failed;
};

static void block_request_cb(struct evudp6_messenger *m, struct evudp6_exchange_handle ex,
                             const struct evudp6_msg *req, const struct evudp6_addr *remote, void *arg)
{
	(void)m;
	struct block_srv *s = arg;
	struct evudp6_msg whole;
	int rc = evudp6_block_server_handle(s->bs, ex, req, remote, &whole);
	if (rc < 0)
		s->failed++;
	if (rc != 1)
		return;
	s->handler_calls++;
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, EVUDP6_ACK, EVUDP6_CONTENT, 0);
	if (evudp6_block_respond(s->bs, ex, &whole, &b, s->body, s->body_len) != 0)
		s->failed++;
}

START_TEST(block_server_serves_snapshot_blocks_allocating_nothing)
{
	struct event_base *base = event_base_new();
	struct evudp6_messenger *m = NULL;
	struct evudp6_transport_config tcfg = {.size = sizeof(tcfg), .bind = "[::1]:0"};
	ck_assert_int_eq(evudp6_messenger_new(&m, base, &tcfg, NULL), 0);
	static struct block_srv s;
	static uint8_t body[8192];
	memset(body, 'x', sizeof(body));
	s.body = body;
	s.body_len = sizeof(body);
	ck_assert_int_eq(evudp6_block_server_new(&s.bs, NULL), 0);
	evudp6_messenger_set_request_cb(m, block_request_cb, &s);
	ck_assert_int_eq(evudp6_messenger_start(m), 0);
	struct load l;
	load_init(&l, base, evudp6_transport_port(evudp6_messenger_transport(m)), 0);
	l.block2 = true;

	/* The first block request makes the snapshot; after that every
	 * block comes from it. */
	struct counts d = measure(&l);
	expect_no_growth(d);
	struct evudp6_block_server_stats st;
	evudp6_block_server_stats(s.bs, &st, sizeof(st));
	ck_assert_uint_eq(s.handler_calls, 1);
	ck_assert_uint_eq(st.snapshots, 1);
	ck_assert_uint_ge(st.blocks_from_cache, WARM_UP + MEASURED - 1);
	ck_assert_uint_eq(s.failed, 0);

	load_free(&l);
	evudp6_messenger_free(m);
	evudp6_block_server_free(s.bs);
	event_base_free(base);
}
END_TEST

/* A block-wise GET of a 256-block body from a block server on the same
 * base: once the first block is in (and with it Size2), the rest of the
 * transfer allocates nothing at either end. */
#define FETCH_BODY (256u * 1024u)

struct block_fetch {
	struct counts first, last; /* at the first and the last block */
	unsigned long progress;
	bool done;
	int err;
	size_t len;
	bool same;
	const uint8_t *want;
};

static void fetch_progress_cb(struct evudp6_block_request *br, bool upload, uint64_t done, uint64_t total,
                              void *arg)
{
	(void)br, (void)upload, (void)total;
	struct block_fetch *f = arg;
	if (f->progress++ == 0)
		f->first = counts_now();
	if (done == FETCH_BODY)
		f->last = counts_now();
}

static void fetch_done_cb(struct evudp6_block_request *br, int err, const struct evudp6_msg *rsp,
                          const struct evudp6_addr *remote, const struct evudp6_icmp *icmp, void *arg)
{
	(void)br, (void)remote, (void)icmp;
	struct block_fetch *f = arg;
	f->done = true;
	f->err = err;
	f->len = rsp ? rsp->payload_len : 0;
	f->same = rsp && rsp->payload_len == FETCH_BODY && memcmp(rsp->payload, f->want, FETCH_BODY) == 0;
}

static void fetch_once(struct event_base *base, struct evudp6_messenger *cli, const struct evudp6_addr *to,
                       struct block_fetch *f)
{
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 0);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_PATH, "big", 3);
	struct evudp6_block_config cfg;
	evudp6_block_config_init(&cfg, sizeof(cfg));
	cfg.progress_cb = fetch_progress_cb;
	cfg.progress_arg = f;
	ck_assert_int_eq(evudp6_block_request(cli, to, &b, &cfg, fetch_done_cb, f, NULL), 0);
	while (!f->done)
		event_base_loop(base, EVLOOP_ONCE);
}

START_TEST(block_client_reassembles_allocating_nothing_after_first_block)
{
	struct event_base *base = event_base_new();
	struct evudp6_messenger *srv = NULL, *cli = NULL;
	struct evudp6_transport_config tcfg = {.size = sizeof(tcfg), .bind = "[::1]:0"};
	ck_assert_int_eq(evudp6_messenger_new(&srv, base, &tcfg, NULL), 0);
	ck_assert_int_eq(evudp6_messenger_new(&cli, base, &tcfg, NULL), 0);
	static struct block_srv s;
	uint8_t *body = malloc(FETCH_BODY);
	ck_assert_ptr_nonnull(body);
	for (size_t i = 0; i < FETCH_BODY; i++)
		body[i] = (uint8_t)(i * 7u + (i >> 10));
	s.body = body;
	s.body_len = FETCH_BODY;
	ck_assert_int_eq(evudp6_block_server_new(&s.bs, NULL), 0);
	evudp6_messenger_set_request_cb(srv, block_request_cb, &s);
	ck_assert_int_eq(evudp6_messenger_start(srv), 0);
	ck_assert_int_eq(evudp6_messenger_start(cli), 0);
	struct evudp6_addr to;
	ck_assert_int_eq(
	    evudp6_addr_from_literal(&to, "::1", evudp6_transport_port(evudp6_messenger_transport(srv)), 0),
	    0);
	/* The first transfer warms the messengers and libevent up. */
	for (int round = 0; round < 2; round++) {
		struct block_fetch f = {.want = s.body};
		fetch_once(base, cli, &to, &f);
		ck_assert_int_eq(f.err, 0);
		ck_assert_uint_eq(f.len, FETCH_BODY);
		ck_assert(f.same);
		ck_assert_uint_eq(f.progress, FETCH_BODY / 1024u);
		if (round == 1)
			expect_no_growth((struct counts){
			    f.last.lib_allocs - f.first.lib_allocs, f.last.lib_frees - f.first.lib_frees,
			    f.last.ev_allocs - f.first.ev_allocs, f.last.ev_frees - f.first.ev_frees});
	}
	struct evudp6_block_server_stats st;
	evudp6_block_server_stats(s.bs, &st, sizeof(st));
	ck_assert_uint_eq(st.blocks_from_cache, 2 * (FETCH_BODY / 1024u - 1));
	ck_assert_uint_eq(s.handler_calls, 2);
	ck_assert_uint_eq(s.failed, 0);

	evudp6_messenger_free(cli);
	evudp6_messenger_free(srv);
	evudp6_block_server_free(s.bs);
	free(body);
	event_base_free(base);
}
END_TEST

/* ------------------------------------------------------------ resources */

static void hello_cb(struct evudp6_resource *res, struct evudp6_response *rsp, const struct evudp6_msg *req,
                     const struct evudp6_addr *remote, void *arg)
{
	(void)res, (void)req, (void)remote;
	unsigned long *served = arg;
	evudp6_response_set_content_format(rsp, EVUDP6_CF_TEXT_PLAIN);
	evudp6_response_append(rsp, "hello", 5);
	++*served;
}

/* A resource server on a messenger on [::1] (not started yet). */
static struct evudp6_server *server_on_loopback(struct event_base *base, struct evudp6_messenger **m)
{
	struct evudp6_transport_config tcfg = {.size = sizeof(tcfg), .bind = "[::1]:0"};
	ck_assert_int_eq(evudp6_messenger_new(m, base, &tcfg, NULL), 0);
	struct evudp6_server *srv = NULL;
	ck_assert_int_eq(evudp6_server_new(&srv, *m), 0);
	return srv;
}

/* The same load through the resource API: the request is routed among
 * 40 resources (exact and prefix) before its handler answers. */
START_TEST(server_answers_allocate_nothing_after_warm_up)
{
	struct event_base *base = event_base_new();
	struct evudp6_messenger *m = NULL;
	struct evudp6_server *srv = server_on_loopback(base, &m);
	unsigned long served = 0, other = 0;
	char path[32];
	for (int i = 0; i < 20; i++) {
		snprintf(path, sizeof(path), "/sensor/%d", i);
		ck_assert_int_eq(evudp6_server_add(srv, path, EVUDP6_METHOD_GET, hello_cb, &other, NULL), 0);
		snprintf(path, sizeof(path), "/files%d/*", i);
		ck_assert_int_eq(evudp6_server_add(srv, path, EVUDP6_METHOD_GET, hello_cb, &other, NULL), 0);
	}
	struct evudp6_resource *hello;
	ck_assert_int_eq(
	    evudp6_server_add(srv, "/sensor/hello", EVUDP6_METHOD_GET, hello_cb, &served, &hello), 0);
	ck_assert_int_eq(evudp6_resource_add_content_format(hello, EVUDP6_CF_TEXT_PLAIN), 0);
	ck_assert_int_eq(evudp6_messenger_start(m), 0);
	struct load l;
	load_init(&l, base, evudp6_transport_port(evudp6_messenger_transport(m)), 10);
	/* Uri-Path "sensor", Uri-Path "hello" */
	static const uint8_t opts[] = {0xb6, 's', 'e', 'n', 's', 'o', 'r', 0x05, 'h', 'e', 'l', 'l', 'o'};
	l.opts = opts;
	l.opts_len = sizeof(opts);

	struct counts d = measure(&l);
	expect_no_growth(d);
	ck_assert_uint_ge(served, WARM_UP + MEASURED);
	ck_assert_uint_eq(other, 0);

	load_free(&l);
	evudp6_server_free(srv);
	evudp6_messenger_free(m);
	event_base_free(base);
}
END_TEST

/* Discovery of 60 resources, 2 219 bytes of links: every request asks
 * for the last 171 bytes (block 2 of 1024 bytes), and with no snapshots
 * kept (cache_entries 0) each one runs the built-in /.well-known/core
 * again, which writes the whole listing into the buffer the server grew
 * for the first request. */
START_TEST(server_long_discovery_allocates_nothing_after_warm_up)
{
	struct event_base *base = event_base_new();
	struct evudp6_messenger *m = NULL;
	struct evudp6_server *srv = server_on_loopback(base, &m);
	struct evudp6_block_server_config bc;
	evudp6_block_server_config_init(&bc, sizeof(bc));
	bc.cache_entries = 0;
	struct evudp6_block_server *bs = NULL;
	ck_assert_int_eq(evudp6_block_server_new(&bs, &bc), 0);
	evudp6_server_set_block_server(srv, bs);
	unsigned long served = 0;
	char path[40];
	for (int i = 0; i < 60; i++) {
		snprintf(path, sizeof(path), "/resource-with-a-long-name-%02d", i);
		struct evudp6_resource *r;
		ck_assert_int_eq(evudp6_server_add(srv, path, EVUDP6_METHOD_GET, hello_cb, &served, &r), 0);
		if (i % 2 == 0)
			ck_assert_int_eq(evudp6_resource_set_attr(r, "rt", "even"), 0);
	}
	ck_assert_int_eq(evudp6_messenger_start(m), 0);
	struct load l;
	load_init(&l, base, evudp6_transport_port(evudp6_messenger_transport(m)), 0);
	/* Uri-Path ".well-known", Uri-Path "core", Block2 NUM 2 SZX 6 */
	static const uint8_t opts[] = {0xbb, '.', 'w',  'e', 'l', 'l', '-', 'k',  'n', 'o',
	                               'w',  'n', 0x04, 'c', 'o', 'r', 'e', 0xc1, 0x26};
	l.opts = opts;
	l.opts_len = sizeof(opts);
	l.want_len = 60 * 31 + 30 * 10 + 59 - 2048;

	struct counts d = measure(&l);
	expect_no_growth(d);
	/* every block was cut from a listing written anew */
	struct evudp6_block_server_stats st;
	evudp6_block_server_stats(bs, &st, sizeof(st));
	ck_assert_uint_ge(st.cache_misses, WARM_UP + MEASURED);
	ck_assert_uint_eq(st.snapshots, 0);
	ck_assert_uint_eq(served, 0);

	load_free(&l);
	evudp6_server_free(srv);
	evudp6_block_server_free(bs);
	evudp6_messenger_free(m);
	event_base_free(base);
}
END_TEST

static Suite *alloc_suite(void)
{
	Suite *s = suite_create("alloc");
	TCase *tc = tcase_create("loopback");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, transport_round_trips_allocate_nothing_after_warm_up);
	tcase_add_test(tc, counting_sees_one_allocation_per_datagram);
	tcase_add_test(tc, messenger_answers_allocate_nothing_after_warm_up);
	tcase_add_test(tc, observe_notifications_allocate_nothing_after_warm_up);
	tcase_add_test(tc, resource_notify_allocates_nothing_after_warm_up);
	tcase_add_test(tc, block_server_serves_snapshot_blocks_allocating_nothing);
	tcase_add_test(tc, block_client_reassembles_allocating_nothing_after_first_block);
	tcase_add_test(tc, server_answers_allocate_nothing_after_warm_up);
	tcase_add_test(tc, server_long_discovery_allocates_nothing_after_warm_up);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	/* Before any other libevent call, as libevent requires. */
	event_set_mem_functions(ev_malloc, ev_realloc, ev_free);
	return testutil_run(alloc_suite());
}
