/*
 * Observe (RFC 7641) on real loopback sockets. Where exact bytes matter
 * the peer is a plain UDP socket that sends datagrams built with the
 * codec and records what it receives; otherwise two messengers talk.
 */
#include "config.h"

#include "testnet.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/event.h>

#include <evudp6/block.h>
#include <evudp6/messenger.h>
#include <evudp6/observe.h>

static struct event_base *base;
/* Run the loop until @p cond holds or about 2 s have passed; the value of cond. */
#define RUN_UNTIL(cond)                                                                                      \
	({                                                                                                   \
		TESTNET_LOOP_UNTIL(base, cond);                                                              \
		(cond);                                                                                      \
	})

static void run_for(int ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

static void setup(void)
{
	struct event_config *ec = event_config_new();
	event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER);
	base = event_base_new_with_config(ec);
	event_config_free(ec);
	ck_assert_ptr_nonnull(base);
}

static void teardown(void)
{
	event_base_free(base);
	base = NULL;
}

/* ------------------------------------------------------------ a plain socket as the peer */

#define PEER_MAX 64

struct peer {
	int fd;
	uint16_t port;
	struct event *ev;
	int n;
	uint8_t b[PEER_MAX][1500];
	size_t len[PEER_MAX];
	struct evudp6_msg msg[PEER_MAX];
	struct sockaddr_in6 from;
};

static void peer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct peer *p = arg;
	(void)what;
	for (;;) {
		uint8_t tmp[1500];
		socklen_t sl = sizeof p->from;
		ssize_t n = recvfrom(fd, tmp, sizeof tmp, MSG_DONTWAIT, (struct sockaddr *)&p->from, &sl);
		if (n < 0)
			break;
		if (p->n < PEER_MAX) {
			memcpy(p->b[p->n], tmp, (size_t)n);
			p->len[p->n] = (size_t)n;
			ck_assert_int_eq(evudp6_msg_decode(&p->msg[p->n], p->b[p->n], (size_t)n), 0);
		}
		p->n++;
	}
}

static struct peer *peer_open(void)
{
	struct peer *p = calloc(1, sizeof *p);
	ck_assert_ptr_nonnull(p);
	p->fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(p->fd, 0);
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	ck_assert_int_eq(bind(p->fd, (struct sockaddr *)&sa, sizeof sa), 0);
	socklen_t sl = sizeof sa;
	ck_assert_int_eq(getsockname(p->fd, (struct sockaddr *)&sa, &sl), 0);
	p->port = ntohs(sa.sin6_port);
	p->ev = event_new(base, p->fd, EV_READ | EV_PERSIST, peer_cb, p);
	event_add(p->ev, NULL);
	return p;
}

static void peer_close(struct peer *p)
{
	event_free(p->ev);
	close(p->fd);
	free(p);
}

static void peer_send(struct peer *p, uint16_t port, struct evudp6_msg_builder *b)
{
	uint8_t buf[1500];
	ssize_t n = evudp6_msg_encode(b, buf, sizeof buf);
	ck_assert_int_gt(n, 0);
	testnet_send(p->fd, "::1", port, buf, (size_t)n);
}

static void peer_empty(struct peer *p, uint16_t port, uint8_t type, uint16_t mid)
{
	const uint8_t e[4] = {(uint8_t)(0x40 | (type << 4)), 0, (uint8_t)(mid >> 8), (uint8_t)mid};
	testnet_send(p->fd, "::1", port, e, sizeof e);
}

/* The Observe value of received datagram @p i; -1 without the option. */
static long peer_seq(struct peer *p, int i)
{
	uint32_t v;
	ck_assert_int_lt(i, p->n);
	return evudp6_observe_value(&p->msg[i], &v) ? (long)v : -1;
}

/* How many received datagrams have @p type. */
static int peer_count(struct peer *p, uint8_t type)
{
	int k = 0;
	for (int i = 0; i < p->n && i < PEER_MAX; i++)
		k += p->msg[i].type == type;
	return k;
}

static bool peer_payload_is(struct peer *p, int i, const char *s)
{
	return p->msg[i].payload_len == strlen(s) && memcmp(p->msg[i].payload, s, strlen(s)) == 0;
}

/* A GET with Observe (or none for @p obs < 0), a token and /obs. */
static void get_builder(struct evudp6_msg_builder *b, uint8_t type, uint16_t mid, const char *tok, long obs)
{
	evudp6_msg_builder_init(b, type, EVUDP6_GET, mid);
	evudp6_msg_builder_set_token(b, tok, strlen(tok));
	/* raw: a 4-byte Observe too, which the builder refuses */
	if (obs >= 0)
		testutil_add_raw_uint(b, EVUDP6_OPT_OBSERVE, (uint32_t)obs);
	evudp6_msg_builder_add_opt(b, EVUDP6_OPT_URI_PATH, "obs", 3);
}

/* ------------------------------------------------------------ messengers */

static struct evudp6_messenger_config cfg_fast(void)
{
	struct evudp6_messenger_config c;
	evudp6_messenger_config_init(&c, sizeof(c));
	c.ack_timeout_ms = 20;
	c.ack_random_factor = 1.0;
	c.max_retransmit = 2;
	c.leisure_ms = 0;
	c.response_timeout_ms = 1000;
	return c;
}

static struct evudp6_messenger *mk(const struct evudp6_observe_config *ocfg)
{
	struct evudp6_messenger *m;
	struct evudp6_messenger_config c = cfg_fast();
	struct evudp6_transport_config tc = {.size = sizeof(tc), .bind = "[::]:0"};
	ck_assert_int_eq(evudp6_messenger_new(&m, base, &tc, &c), 0);
	if (ocfg)
		ck_assert_int_eq(evudp6_observe_setup(m, ocfg), 0);
	ck_assert_int_eq(evudp6_messenger_start(m), 0);
	return m;
}

static uint16_t mport(const struct evudp6_messenger *m)
{
	return evudp6_transport_port(evudp6_messenger_transport(m));
}

static struct evudp6_observe_stats ostats(const struct evudp6_messenger *m)
{
	struct evudp6_observe_stats s;
	evudp6_observe_stats(m, &s, sizeof(s));
	return s;
}

static struct evudp6_messenger_stats mstats(const struct evudp6_messenger *m)
{
	struct evudp6_messenger_stats s;
	evudp6_messenger_stats(m, &s, sizeof(s));
	return s;
}

/* ------------------------------------------------------------ a server application */

#define SRV_MAX 128

struct srv {
	struct evudp6_messenger *free_in_end; /* freed from inside the end callback */
	int calls;
	int accepted, rejected;
	int nobs;
	struct evudp6_observation_handle obs[SRV_MAX];
	int ended;
	int end_reason[SRV_MAX];
};

static bool same_observation(struct evudp6_observation_handle a, struct evudp6_observation_handle b)
{
	return a.obj == b.obj && a.gen == b.gen;
}

static void srv_end_cb(struct evudp6_observation_handle o, int reason, void *arg)
{
	struct srv *s = arg;
	/* The handle still refers to the observation, which takes nothing more. */
	ck_assert_ptr_nonnull(evudp6_observation_remote(o));
	ck_assert_int_eq(evudp6_observation_notify(o, NULL), -EVUDP6_E_STATE);
	ck_assert_int_eq(evudp6_observation_end(o, NULL), -EVUDP6_E_STATE);
	for (int i = 0; i < s->nobs; i++)
		if (same_observation(s->obs[i], o))
			s->obs[i] = (struct evudp6_observation_handle){0};
	if (s->ended < SRV_MAX)
		s->end_reason[s->ended] = reason;
	s->ended++;
	if (s->free_in_end) {
		evudp6_messenger_free(s->free_in_end);
		s->free_in_end = NULL;
	}
}

static void srv_cb(struct evudp6_messenger *m, struct evudp6_exchange_handle ex, const struct evudp6_msg *req,
                   const struct evudp6_addr *remote, void *arg)
{
	struct srv *s = arg;
	(void)m;
	(void)remote;
	s->calls++;
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, 0, EVUDP6_CONTENT, 0);
	evudp6_msg_builder_set_payload(&b, "v0", 2);
	struct evudp6_observation_handle o = {.obj = (struct evudp6_observation *)s, .gen = 1};
	int rc = evudp6_observe_accept(ex, req, &b, srv_end_cb, s, &o);
	ck_assert_int_eq(o.obj == NULL, rc != 0); /* zeroed on error */
	if (rc == 0) {
		s->accepted++;
		if (s->nobs < SRV_MAX)
			s->obs[s->nobs++] = o;
		return;
	}
	if (rc == -ENOBUFS)
		s->rejected++;
	ck_assert_int_eq(evudp6_exchange_respond(ex, &b), 0);
}

static struct evudp6_messenger *mk_server(const struct evudp6_observe_config *ocfg, struct srv *s)
{
	struct evudp6_messenger *m = mk(ocfg);
	evudp6_messenger_set_request_cb(m, srv_cb, s);
	return m;
}

static void notify_text(struct evudp6_observation_handle o, const char *text)
{
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, 0, EVUDP6_CONTENT, 0);
	evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_CONTENT_FORMAT, 0);
	evudp6_msg_builder_set_payload(&b, text, strlen(text));
	ck_assert_int_eq(evudp6_observation_notify(o, &b), 0);
	/* The builder is left as it was: one builder serves many observers. */
	ck_assert_uint_eq(b.nopts, 1);
}

/* A raw observer registers with token "tk" and gets the first response. */
static void register_raw(struct peer *p, struct evudp6_messenger *m, struct srv *s, uint8_t type)
{
	struct evudp6_msg_builder b;
	get_builder(&b, type, 0x100, "tk", 0);
	peer_send(p, mport(m), &b);
	ck_assert(RUN_UNTIL(p->n == 1 && s->accepted == 1));
	ck_assert_uint_eq(p->msg[0].code, EVUDP6_CONTENT);
	ck_assert_uint_eq(p->msg[0].tkl, 2);
	ck_assert_int_eq(memcmp(p->msg[0].token, "tk", 2), 0);
	ck_assert_int_ge(peer_seq(p, 0), 0);
}

/* ------------------------------------------------------------ server */

START_TEST(observe_server_notifies_with_token_and_increasing_seq)
{
	struct srv s = {0};
	struct evudp6_messenger *m = mk_server(NULL, &s);
	struct peer *p = peer_open();
	register_raw(p, m, &s, EVUDP6_NON);
	ck_assert_uint_eq(p->msg[0].type, EVUDP6_NON);
	notify_text(s.obs[0], "v1");
	notify_text(s.obs[0], "v2");
	notify_text(s.obs[0], "v3");
	ck_assert(RUN_UNTIL(p->n == 4));
	for (int i = 1; i < 4; i++) {
		ck_assert_uint_eq(p->msg[i].type, EVUDP6_NON);
		ck_assert_uint_eq(p->msg[i].code, EVUDP6_CONTENT);
		ck_assert_uint_eq(p->msg[i].tkl, 2);
		ck_assert_int_eq(memcmp(p->msg[i].token, "tk", 2), 0);
		ck_assert_int_gt(peer_seq(p, i), peer_seq(p, i - 1));
		ck_assert_uint_ne(p->msg[i].mid, p->msg[i - 1].mid);
	}
	ck_assert(peer_payload_is(p, 3, "v3"));
	struct evudp6_observe_stats st = ostats(m);
	ck_assert_uint_eq(st.observations, 1);
	ck_assert_uint_eq(st.registrations, 1);
	ck_assert_uint_eq(st.notifications_sent, 3);
	ck_assert_uint_eq(st.notifications_con, 0);
	peer_close(p);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(observe_server_con_every_n_notifications)
{
	struct evudp6_observe_config oc;
	evudp6_observe_config_init(&oc, sizeof(oc));
	oc.con_every = 3;
	struct srv s = {0};
	struct evudp6_messenger *m = mk_server(&oc, &s);
	struct peer *p = peer_open();
	register_raw(p, m, &s, EVUDP6_CON);
	ck_assert_uint_eq(p->msg[0].type, EVUDP6_ACK);
	const uint8_t want[6] = {EVUDP6_NON, EVUDP6_NON, EVUDP6_CON, EVUDP6_NON, EVUDP6_NON, EVUDP6_CON};
	for (int i = 0; i < 6; i++) {
		notify_text(s.obs[0], "x");
		ck_assert(RUN_UNTIL(p->n == i + 2));
		ck_assert_uint_eq(p->msg[i + 1].type, want[i]);
		if (want[i] == EVUDP6_CON)
			peer_empty(p, mport(m), EVUDP6_ACK, p->msg[i + 1].mid);
		run_for(10);
	}
	run_for(100); /* no retransmission: every CON was acknowledged */
	ck_assert_int_eq(p->n, 7);
	struct evudp6_observe_stats st = ostats(m);
	ck_assert_uint_eq(st.notifications_sent, 6);
	ck_assert_uint_eq(st.notifications_con, 2);
	ck_assert_uint_eq(st.retransmissions, 0);
	ck_assert_uint_eq(st.observations, 1);
	peer_close(p);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(observe_server_con_when_last_con_is_older_than_interval)
{
	/* RFC 7641 4.5: a CON at least every con_interval_ms (24 h by
	 * default; 100 ms here), whatever con_every says. */
	struct evudp6_observe_config oc;
	evudp6_observe_config_init(&oc, sizeof(oc));
	oc.con_interval_ms = 100;
	struct srv s = {0};
	struct evudp6_messenger *m = mk_server(&oc, &s);
	struct peer *p = peer_open();
	register_raw(p, m, &s, EVUDP6_NON);
	notify_text(s.obs[0], "soon");
	ck_assert(RUN_UNTIL(p->n == 2));
	ck_assert_uint_eq(p->msg[1].type, EVUDP6_NON);
	run_for(150);
	notify_text(s.obs[0], "later");
	ck_assert(RUN_UNTIL(p->n == 3));
	ck_assert_uint_eq(p->msg[2].type, EVUDP6_CON);
	peer_empty(p, mport(m), EVUDP6_ACK, p->msg[2].mid);
	run_for(20);
	notify_text(s.obs[0], "again");
	ck_assert(RUN_UNTIL(p->n == 4));
	ck_assert_uint_eq(p->msg[3].type, EVUDP6_NON);
	ck_assert_uint_eq(ostats(m).notifications_con, 1);
	peer_close(p);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(observe_server_newest_replaces_notification_waiting_behind_con)
{
	struct evudp6_observe_config oc;
	evudp6_observe_config_init(&oc, sizeof(oc));
	oc.con_every = 1;
	struct srv s = {0};
	struct evudp6_messenger *m = mk_server(&oc, &s);
	struct peer *p = peer_open();
	register_raw(p, m, &s, EVUDP6_NON);
	notify_text(s.obs[0], "a");
	ck_assert(RUN_UNTIL(p->n == 2));
	/* Not acknowledged yet: b and c wait in its place, c replaces b. */
	notify_text(s.obs[0], "b");
	notify_text(s.obs[0], "c");
	run_for(5);
	ck_assert_int_eq(p->n, 2);
	ck_assert_uint_eq(p->msg[1].type, EVUDP6_CON);
	ck_assert(peer_payload_is(p, 1, "a"));
	peer_empty(p, mport(m), EVUDP6_ACK, p->msg[1].mid);
	ck_assert(RUN_UNTIL(p->n == 3));
	ck_assert_uint_eq(p->msg[2].type, EVUDP6_CON);
	ck_assert(peer_payload_is(p, 2, "c"));
	ck_assert_int_gt(peer_seq(p, 2), peer_seq(p, 1));
	ck_assert_uint_ne(p->msg[2].mid, p->msg[1].mid);
	peer_empty(p, mport(m), EVUDP6_ACK, p->msg[2].mid);
	run_for(100);
	ck_assert_int_eq(p->n, 3); /* b never left; nothing retransmitted */
	struct evudp6_observe_stats st = ostats(m);
	ck_assert_uint_eq(st.notifications_replaced, 1);
	ck_assert_uint_eq(st.notifications_sent, 2);
	ck_assert_uint_eq(st.notifications_con, 2);
	peer_close(p);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(observe_server_rst_removes_observer)
{
	struct srv s = {0};
	struct evudp6_messenger *m = mk_server(NULL, &s);
	struct peer *p = peer_open();
	register_raw(p, m, &s, EVUDP6_NON);
	notify_text(s.obs[0], "v1");
	ck_assert(RUN_UNTIL(p->n == 2));
	peer_empty(p, mport(m), EVUDP6_RST, p->msg[1].mid);
	ck_assert(RUN_UNTIL(s.ended == 1));
	ck_assert_int_eq(s.end_reason[0], -ECONNRESET);
	struct evudp6_observe_stats st = ostats(m);
	ck_assert_uint_eq(st.observations, 0);
	ck_assert_uint_eq(st.removed_rst, 1);
	ck_assert_uint_eq(mstats(m).rst_received, 1);
	ck_assert_uint_eq(mstats(m).unmatched, 0);
	peer_close(p);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(observe_server_deregistration_with_observe_1)
{
	struct srv s = {0};
	struct evudp6_messenger *m = mk_server(NULL, &s);
	struct peer *p = peer_open();
	register_raw(p, m, &s, EVUDP6_CON);
	struct evudp6_msg_builder b;
	get_builder(&b, EVUDP6_CON, 0x101, "tk", 1);
	peer_send(p, mport(m), &b);
	ck_assert(RUN_UNTIL(p->n == 2));
	/* Answered as a plain GET, without Observe, and the observer is gone. */
	ck_assert_uint_eq(p->msg[1].type, EVUDP6_ACK);
	ck_assert_uint_eq(p->msg[1].code, EVUDP6_CONTENT);
	ck_assert_int_eq(peer_seq(p, 1), -1);
	ck_assert_int_eq(s.calls, 2);
	ck_assert_int_eq(s.ended, 1);
	ck_assert_int_eq(s.end_reason[0], 0);
	struct evudp6_observe_stats st = ostats(m);
	ck_assert_uint_eq(st.observations, 0);
	ck_assert_uint_eq(st.deregistrations, 1);
	peer_close(p);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(observe_server_unacknowledged_con_removes_observer_after_schedule)
{
	struct evudp6_observe_config oc;
	evudp6_observe_config_init(&oc, sizeof(oc));
	oc.con_every = 1;
	struct srv s = {0};
	struct evudp6_messenger *m = mk_server(&oc, &s);
	struct peer *p = peer_open();
	register_raw(p, m, &s, EVUDP6_NON);
	notify_text(s.obs[0], "v1");
	/* ack_timeout 20 ms, max_retransmit 2: sent at 0, 20, 60; given up at 140. */
	ck_assert(RUN_UNTIL(s.ended == 1));
	ck_assert_int_eq(p->n, 4);
	for (int i = 1; i < 4; i++) {
		ck_assert_uint_eq(p->msg[i].type, EVUDP6_CON);
		ck_assert_uint_eq(p->msg[i].mid, p->msg[1].mid);
	}
	ck_assert_int_eq(s.end_reason[0], -EVUDP6_E_TIMEOUT);
	struct evudp6_observe_stats st = ostats(m);
	ck_assert_uint_eq(st.observations, 0);
	ck_assert_uint_eq(st.removed_timeout, 1);
	ck_assert_uint_eq(st.retransmissions, 2);
	peer_close(p);
	evudp6_messenger_free(m);
}
END_TEST

static int peers_answered(struct peer **p, int n)
{
	int k = 0;
	for (int i = 0; i < n; i++)
		k += p[i]->n;
	return k;
}

START_TEST(observe_server_registration_flood_capped)
{
	struct evudp6_observe_config oc;
	evudp6_observe_config_init(&oc, sizeof(oc));
	oc.max_observations = 40;
	oc.max_per_remote = 3;
	struct srv s = {0};
	struct evudp6_messenger *m = mk_server(&oc, &s);
	/* 60 sources, one registration each: 40 observers, 20 plain answers. */
	struct peer *p[60];
	for (int i = 0; i < 60; i++) {
		p[i] = peer_open();
		struct evudp6_msg_builder b;
		get_builder(&b, EVUDP6_NON, (uint16_t)i, "tk", 0);
		peer_send(p[i], mport(m), &b);
	}
	ck_assert(RUN_UNTIL(s.calls == 60));
	int with_obs = 0, answered = 0;
	RUN_UNTIL(peers_answered(p, 60) == 60);
	answered = peers_answered(p, 60);
	for (int i = 0; i < 60; i++)
		with_obs += p[i]->n == 1 && peer_seq(p[i], 0) >= 0;
	ck_assert_int_eq(answered, 60);
	ck_assert_int_eq(with_obs, 40);
	ck_assert_int_eq(s.accepted, 40);
	ck_assert_int_eq(s.rejected, 20);
	struct evudp6_observe_stats st = ostats(m);
	ck_assert_uint_eq(st.observations, 40);
	ck_assert_uint_eq(st.observations_peak, 40);
	ck_assert_uint_eq(st.registrations_rejected, 20);
	for (int i = 0; i < 60; i++)
		peer_close(p[i]);

	/* One source, five tokens: three observers. */
	struct peer *q = peer_open();
	struct srv s2 = {0};
	struct evudp6_messenger *m2 = mk_server(&oc, &s2);
	const char *toks[5] = {"a", "b", "c", "d", "e"};
	for (int i = 0; i < 5; i++) {
		struct evudp6_msg_builder b;
		get_builder(&b, EVUDP6_NON, (uint16_t)i, toks[i], 0);
		peer_send(q, mport(m2), &b);
	}
	ck_assert(RUN_UNTIL(q->n == 5));
	ck_assert_int_eq(s2.accepted, 3);
	ck_assert_int_eq(s2.rejected, 2);
	ck_assert_uint_eq(ostats(m2).observations, 3);
	peer_close(q);
	evudp6_messenger_free(m2);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(observe_server_reregistration_replaces_observation)
{
	struct srv s = {0};
	struct evudp6_messenger *m = mk_server(NULL, &s);
	struct peer *p = peer_open();
	register_raw(p, m, &s, EVUDP6_NON);
	struct evudp6_msg_builder b;
	get_builder(&b, EVUDP6_NON, 0x102, "tk", 0);
	peer_send(p, mport(m), &b);
	ck_assert(RUN_UNTIL(p->n == 2));
	ck_assert_int_eq(s.accepted, 2);
	ck_assert_int_eq(s.ended, 1);
	ck_assert_int_eq(s.end_reason[0], 0);
	ck_assert_int_gt(peer_seq(p, 1), peer_seq(p, 0));
	struct evudp6_observe_stats st = ostats(m);
	ck_assert_uint_eq(st.observations, 1);
	ck_assert_uint_eq(st.registrations, 2);
	peer_close(p);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(observe_server_icmp_unreachable_removes_observer)
{
	struct srv s = {0};
	struct evudp6_messenger *m = mk_server(NULL, &s);
	struct peer *p = peer_open();
	register_raw(p, m, &s, EVUDP6_NON);
	/* The observer goes away: its port answers with ICMP port unreachable. */
	event_del(p->ev);
	close(p->fd);
	p->fd = socket(AF_INET6, SOCK_DGRAM, 0);
	notify_text(s.obs[0], "v1");
	ck_assert(RUN_UNTIL(s.ended == 1));
	ck_assert_int_eq(s.end_reason[0], -ECONNREFUSED);
	struct evudp6_observe_stats st = ostats(m);
	ck_assert_uint_eq(st.observations, 0);
	ck_assert_uint_eq(st.removed_icmp, 1);
	ck_assert_uint_eq(mstats(m).icmp_vetted_out, 0);
	peer_close(p);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(observe_server_end_sends_final_response_without_observe)
{
	struct srv s = {0};
	struct evudp6_messenger *m = mk_server(NULL, &s);
	struct peer *p = peer_open();
	register_raw(p, m, &s, EVUDP6_NON);
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, 0, EVUDP6_NOT_FOUND, 0);
	ck_assert_int_eq(evudp6_observation_end(s.obs[0], &b), 0);
	ck_assert(RUN_UNTIL(p->n == 2));
	ck_assert_uint_eq(p->msg[1].code, EVUDP6_NOT_FOUND);
	ck_assert_int_eq(memcmp(p->msg[1].token, "tk", 2), 0);
	ck_assert_int_eq(peer_seq(p, 1), -1);
	ck_assert_int_eq(s.ended, 0); /* the application ended it: no callback */
	struct evudp6_observe_stats st = ostats(m);
	ck_assert_uint_eq(st.observations, 0);
	ck_assert_uint_eq(st.removed_by_application, 1);
	peer_close(p);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(observe_server_notify_many_reaches_every_observer)
{
	struct srv s = {0};
	struct evudp6_messenger *m = mk_server(NULL, &s);
	struct peer *p[3];
	for (int i = 0; i < 3; i++) {
		p[i] = peer_open();
		struct evudp6_msg_builder b;
		get_builder(&b, EVUDP6_NON, (uint16_t)i, "tk", 0);
		peer_send(p[i], mport(m), &b);
		ck_assert(RUN_UNTIL(s.accepted == i + 1 && p[i]->n == 1));
	}
	struct evudp6_observation_handle list[4] = {s.obs[0], {0}, s.obs[1], s.obs[2]};
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, 0, EVUDP6_CONTENT, 0);
	evudp6_msg_builder_set_payload(&b, "all", 3);
	/* The zeroed handle is reported; the others are notified all the same. */
	ck_assert_int_eq(evudp6_observation_notify_many(list, 4, &b), -EVUDP6_E_STATE);
	ck_assert(RUN_UNTIL(p[0]->n == 2 && p[1]->n == 2 && p[2]->n == 2));
	for (int i = 0; i < 3; i++) {
		ck_assert(peer_payload_is(p[i], 1, "all"));
		ck_assert_int_eq(memcmp(p[i]->msg[1].token, "tk", 2), 0);
		ck_assert_int_gt(peer_seq(p[i], 1), peer_seq(p[i], 0));
	}
	ck_assert_uint_eq(ostats(m).notifications_sent, 3);
	for (int i = 0; i < 3; i++)
		peer_close(p[i]);
	evudp6_messenger_free(m);
}
END_TEST

/* An application with a large observable resource: bodies cut into
 * blocks by a block server, which also answers the follow-ups. */
struct big_srv {
	struct evudp6_block_server *bs;
	struct evudp6_observation_handle o;
	uint8_t reg[256];
	size_t reg_len;
	char body[2500];
};

static void big_srv_cb(struct evudp6_messenger *m, struct evudp6_exchange_handle ex,
                       const struct evudp6_msg *req, const struct evudp6_addr *remote, void *arg)
{
	(void)m;
	struct big_srv *s = arg;
	struct evudp6_msg whole;
	if (evudp6_block_server_handle(s->bs, ex, req, remote, &whole) != 1)
		return;
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, 0, EVUDP6_CONTENT, 0);
	ck_assert_int_eq(evudp6_block_server_first(s->bs, remote, req, &b, s->body, sizeof s->body), 0);
	ck_assert_int_eq(evudp6_observe_accept(ex, req, &b, NULL, NULL, &s->o), 0);
	ck_assert_uint_le(req->len, sizeof s->reg);
	memcpy(s->reg, req->data, req->len);
	s->reg_len = req->len;
}

START_TEST(observe_server_large_notification_carries_first_block_with_etag)
{
	static struct big_srv s;
	memset(&s, 0, sizeof s);
	memset(s.body, 'a', sizeof s.body);
	ck_assert_int_eq(evudp6_block_server_new(&s.bs, NULL), 0);
	struct evudp6_messenger *m = mk(NULL);
	evudp6_messenger_set_request_cb(m, big_srv_cb, &s);
	struct peer *p = peer_open();
	struct evudp6_msg_builder b;
	get_builder(&b, EVUDP6_NON, 0x100, "tk", 0);
	peer_send(p, mport(m), &b);
	ck_assert(RUN_UNTIL(p->n == 1 && s.o.obj));
	/* The new state: 2500 bytes again, other ones. */
	memset(s.body, 'b', sizeof s.body);
	memcpy(s.body + 1024, "second block", 12);
	struct evudp6_msg reg;
	ck_assert_int_eq(evudp6_msg_decode(&reg, s.reg, s.reg_len), 0);
	evudp6_msg_builder_init(&b, 0, EVUDP6_CONTENT, 0);
	ck_assert_int_eq(
	    evudp6_block_server_first(s.bs, evudp6_observation_remote(s.o), &reg, &b, s.body, sizeof s.body),
	    0);
	ck_assert_int_eq(evudp6_observation_notify(s.o, &b), 0);
	ck_assert(RUN_UNTIL(p->n == 2));
	struct evudp6_opt e0, e1, sz;
	struct evudp6_block blk;
	for (int i = 0; i < 2; i++) {
		/* RFC 7959 3.4: Observe, and the first block with ETag and Size2. */
		ck_assert_int_ge(peer_seq(p, i), 0);
		ck_assert_int_eq(memcmp(p->msg[i].token, "tk", 2), 0);
		ck_assert_int_eq(evudp6_block_get(&p->msg[i], EVUDP6_OPT_BLOCK2, &blk), 1);
		ck_assert_uint_eq(blk.num, 0);
		ck_assert(blk.more);
		ck_assert_uint_eq(p->msg[i].payload_len, 1024);
		uint32_t size2;
		ck_assert(evudp6_msg_find_opt(&p->msg[i], EVUDP6_OPT_SIZE2, &sz));
		ck_assert_int_eq(evudp6_opt_uint(&sz, &size2), 0);
		ck_assert_uint_eq(size2, 2500);
	}
	ck_assert(evudp6_msg_find_opt(&p->msg[0], EVUDP6_OPT_ETAG, &e0));
	ck_assert(evudp6_msg_find_opt(&p->msg[1], EVUDP6_OPT_ETAG, &e1));
	ck_assert(e0.len != e1.len || memcmp(e0.value, e1.value, e0.len) != 0);
	ck_assert_int_gt(peer_seq(p, 1), peer_seq(p, 0));
	/* The observer asks for block 1 with a GET of its own: the new body's. */
	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 0x101);
	evudp6_msg_builder_set_token(&b, "t2", 2);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_PATH, "obs", 3);
	struct evudp6_block want = {.num = 1, .more = false, .szx = 6};
	ck_assert_int_eq(evudp6_block_add(&b, EVUDP6_OPT_BLOCK2, &want), 0);
	peer_send(p, mport(m), &b);
	ck_assert(RUN_UNTIL(p->n == 3));
	ck_assert_uint_eq(p->msg[2].type, EVUDP6_ACK);
	ck_assert_int_eq(evudp6_block_get(&p->msg[2], EVUDP6_OPT_BLOCK2, &blk), 1);
	ck_assert_uint_eq(blk.num, 1);
	ck_assert_int_eq(memcmp(p->msg[2].payload, "second block", 12), 0);
	ck_assert(evudp6_msg_find_opt(&p->msg[2], EVUDP6_OPT_ETAG, &e0));
	ck_assert(e0.len == e1.len && memcmp(e0.value, e1.value, e0.len) == 0);
	ck_assert_int_eq(peer_seq(p, 2), -1);
	ck_assert_uint_eq(ostats(m).observations, 1);
	peer_close(p);
	evudp6_messenger_free(m);
	evudp6_block_server_free(s.bs);
}
END_TEST

/* RFC 7641 3.6: the first observer goes away (Observe: 1 or RST, as
 * @p by_rst says); with max_observations 1 the second one, from another
 * endpoint, takes its slot. @p stale gets the first one's handle as it
 * was kept, @p fresh the second one's. */
static struct evudp6_messenger *slot_reused(struct srv *s, struct peer *p, struct peer *q, bool by_rst,
                                            struct evudp6_observation_handle *stale,
                                            struct evudp6_observation_handle *fresh)
{
	struct evudp6_observe_config oc;
	evudp6_observe_config_init(&oc, sizeof(oc));
	oc.max_observations = 1;
	struct evudp6_messenger *m = mk_server(&oc, s);
	register_raw(p, m, s, EVUDP6_NON);
	*stale = s->obs[0];
	struct evudp6_msg_builder b;
	if (by_rst) {
		notify_text(*stale, "v1");
		ck_assert(RUN_UNTIL(p->n == 2));
		peer_empty(p, mport(m), EVUDP6_RST, p->msg[1].mid);
	} else {
		get_builder(&b, EVUDP6_NON, 0x101, "tk", 1);
		peer_send(p, mport(m), &b);
	}
	ck_assert(RUN_UNTIL(s->ended == 1 && p->n == 2));
	ck_assert_int_eq(s->end_reason[0], by_rst ? -ECONNRESET : 0);
	get_builder(&b, EVUDP6_NON, 0x200, "qq", 0);
	peer_send(q, mport(m), &b);
	ck_assert(RUN_UNTIL(q->n == 1 && s->accepted == 2));
	ck_assert_int_ge(peer_seq(q, 0), 0);
	*fresh = s->obs[1];
	/* The same slot, a new generation. */
	ck_assert_ptr_eq(fresh->obj, stale->obj);
	ck_assert_uint_ne(fresh->gen, stale->gen);
	ck_assert_uint_eq(ostats(m).observations, 1);
	return m;
}

START_TEST(observe_server_stale_handle_notifies_nobody)
{
	struct srv s = {0};
	struct peer *p = peer_open(), *q = peer_open();
	struct evudp6_observation_handle stale, fresh;
	struct evudp6_messenger *m = slot_reused(&s, p, q, false, &stale, &fresh);
	uint64_t sent = ostats(m).notifications_sent;
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, 0, EVUDP6_CONTENT, 0);
	evudp6_msg_builder_set_payload(&b, "old", 3);
	int rc = evudp6_observation_notify(stale, &b);
	run_for(20);
	/* The observer now in the slot hears nothing meant for the old one. */
	ck_assert_int_eq(q->n, 1);
	ck_assert_int_eq(rc, -EVUDP6_E_STATE);
	ck_assert_ptr_null(evudp6_observation_remote(stale));
	/* In a list, the stale entry is reported and skipped, the live one
	 * notified once. */
	struct evudp6_observation_handle list[2] = {stale, fresh};
	ck_assert_int_eq(evudp6_observation_notify_many(list, 2, &b), -EVUDP6_E_STATE);
	ck_assert(RUN_UNTIL(q->n == 2));
	run_for(20);
	ck_assert_int_eq(q->n, 2);
	ck_assert(peer_payload_is(q, 1, "old"));
	ck_assert_int_eq(memcmp(q->msg[1].token, "qq", 2), 0);
	ck_assert_int_gt(peer_seq(q, 1), peer_seq(q, 0));
	ck_assert_int_eq(p->n, 2);
	ck_assert_uint_eq(ostats(m).notifications_sent, sent + 1);
	peer_close(q);
	peer_close(p);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(observe_server_stale_handle_ends_nothing)
{
	struct srv s = {0};
	struct peer *p = peer_open(), *q = peer_open();
	struct evudp6_observation_handle stale, fresh;
	struct evudp6_messenger *m = slot_reused(&s, p, q, true, &stale, &fresh);
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, 0, EVUDP6_NOT_FOUND, 0);
	int rc = evudp6_observation_end(stale, &b);
	run_for(20);
	/* No final response reached the new observer, and it still observes. */
	ck_assert_int_eq(q->n, 1);
	ck_assert_int_eq(rc, -EVUDP6_E_STATE);
	struct evudp6_observe_stats st = ostats(m);
	ck_assert_uint_eq(st.observations, 1);
	ck_assert_uint_eq(st.removed_by_application, 0);
	ck_assert_uint_eq(st.removed_rst, 1);
	notify_text(fresh, "still");
	ck_assert(RUN_UNTIL(q->n == 2));
	ck_assert(peer_payload_is(q, 1, "still"));
	ck_assert_int_eq(memcmp(q->msg[1].token, "qq", 2), 0);
	ck_assert_int_eq(evudp6_observation_end(fresh, NULL), 0);
	ck_assert_int_eq(evudp6_observation_end(fresh, NULL), -EVUDP6_E_STATE);
	ck_assert_int_eq(s.ended, 1);
	peer_close(q);
	peer_close(p);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(observe_server_accept_rejects_misuse)
{
	struct srv s = {0};
	struct evudp6_messenger *m = mk_server(NULL, &s);
	struct peer *p = peer_open();
	/* No Observe, Observe: 1, and a 4-byte Observe value: all plain GETs. */
	const long values[3] = {-1, 1, 0x1000000};
	for (int i = 0; i < 3; i++) {
		struct evudp6_msg_builder b;
		get_builder(&b, EVUDP6_NON, (uint16_t)i, "tk", values[i]);
		peer_send(p, mport(m), &b);
	}
	ck_assert(RUN_UNTIL(p->n == 3));
	ck_assert_int_eq(s.accepted, 0);
	ck_assert_int_eq(s.rejected, 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(peer_seq(p, i), -1);
	ck_assert_uint_eq(ostats(m).observe_invalid, 1);
	ck_assert_uint_eq(ostats(m).observations, 0);
	const struct evudp6_observation_handle none = {0};
	ck_assert_int_eq(evudp6_observation_notify(none, NULL), -EVUDP6_E_STATE);
	ck_assert_int_eq(evudp6_observation_end(none, NULL), -EVUDP6_E_STATE);
	ck_assert_ptr_null(evudp6_observation_remote(none));
	ck_assert_int_eq(evudp6_observe_setup(m, NULL), -EVUDP6_E_STATE);
	peer_close(p);
	evudp6_messenger_free(m);
}
END_TEST

/* ------------------------------------------------------------ client */

#define CLI_MAX 32

struct cli {
	int calls, finals;
	int err;
	long seq[CLI_MAX];
	char payload[CLI_MAX][16];
	char body[64]; /* the last payload, up to 63 bytes */
	bool had_icmp;
	bool cancel_in_cb, deregister_in_cb;
	struct evudp6_messenger *free_in_cb; /* freed from inside the callback */
	struct evudp6_observer_handle o;
};

static void cli_cb(struct evudp6_observer_handle o, int err, const struct evudp6_msg *rsp, int32_t seq,
                   const struct evudp6_addr *remote, const struct evudp6_icmp *icmp, void *arg)
{
	struct cli *c = arg;
	ck_assert_ptr_nonnull(remote);
	/* The handle refers to the observer in every call, the final one too. */
	ck_assert_ptr_nonnull(evudp6_observer_remote(o));
	if (c->calls < CLI_MAX) {
		c->seq[c->calls] = seq;
		size_t n = rsp && rsp->payload_len < 15 ? rsp->payload_len : 0;
		if (n)
			memcpy(c->payload[c->calls], rsp->payload, n);
		c->payload[c->calls][n] = 0;
	}
	if (rsp) {
		size_t n = rsp->payload_len < sizeof c->body ? rsp->payload_len : sizeof c->body - 1;
		memcpy(c->body, rsp->payload ? (const char *)rsp->payload : "", n);
		c->body[n] = 0;
	}
	c->calls++;
	c->err = err;
	c->had_icmp = icmp != NULL;
	if (c->free_in_cb) {
		evudp6_messenger_free(c->free_in_cb);
		c->free_in_cb = NULL;
		return;
	}
	if (err || seq < 0)
		c->finals++;
	else if (c->cancel_in_cb)
		ck_assert_int_eq(evudp6_observer_cancel(o, c->deregister_in_cb), 0);
}

static void observe_raw(struct evudp6_messenger *m, struct peer *p, struct cli *c, uint8_t type)
{
	struct evudp6_addr a;
	ck_assert_int_eq(evudp6_addr_from_literal(&a, "::1", p->port, 0), 0);
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, type, EVUDP6_GET, 0);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_PATH, "obs", 3);
	ck_assert_int_eq(evudp6_observe_register(m, &a, &b, cli_cb, c, &c->o), 0);
	ck_assert(RUN_UNTIL(p->n == 1));
	ck_assert_uint_eq(p->msg[0].type, type);
	ck_assert_uint_eq(p->msg[0].code, EVUDP6_GET);
	ck_assert_uint_eq(p->msg[0].tkl, 8);
	ck_assert_int_eq(peer_seq(p, 0), 0);
}

/* The raw server sends a notification: @p seq < 0 for none, > 0xffffff
 * for a 4-byte value. */
static void raw_notify(struct peer *p, uint16_t port, uint8_t type, uint16_t mid, const uint8_t *tok,
                       long seq, const char *payload)
{
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, type, EVUDP6_CONTENT, mid);
	evudp6_msg_builder_set_token(&b, tok, 8);
	if (seq >= 0)
		testutil_add_raw_uint(&b, EVUDP6_OPT_OBSERVE, (uint32_t)seq);
	evudp6_msg_builder_set_payload(&b, payload, strlen(payload));
	peer_send(p, port, &b);
}

START_TEST(observe_client_calls_back_per_notification_with_seq)
{
	struct evudp6_messenger *m = mk(NULL);
	struct peer *p = peer_open();
	struct cli c = {0};
	observe_raw(m, p, &c, EVUDP6_CON);
	const uint8_t *tok = p->msg[0].token;
	/* First response piggybacked, then NON, NON, CON notifications. */
	raw_notify(p, mport(m), EVUDP6_ACK, p->msg[0].mid, tok, 5, "five");
	ck_assert(RUN_UNTIL(c.calls == 1));
	raw_notify(p, mport(m), EVUDP6_NON, 0x7001, tok, 6, "six");
	raw_notify(p, mport(m), EVUDP6_NON, 0x7002, tok, 7, "seven");
	raw_notify(p, mport(m), EVUDP6_CON, 0x7003, tok, 8, "eight");
	ck_assert(RUN_UNTIL(c.calls == 4 && p->n == 2));
	const long want[4] = {5, 6, 7, 8};
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(c.seq[i], want[i]);
	ck_assert_str_eq(c.payload[3], "eight");
	ck_assert_int_eq(c.finals, 0);
	/* The CON notification was acknowledged, nothing was reset. */
	ck_assert_uint_eq(p->msg[1].type, EVUDP6_ACK);
	ck_assert_uint_eq(p->msg[1].mid, 0x7003);
	ck_assert_uint_eq(mstats(m).rst_sent, 0);
	ck_assert_uint_eq(mstats(m).unmatched, 0);
	struct evudp6_observe_stats st = ostats(m);
	ck_assert_uint_eq(st.notifications_received, 4);
	ck_assert_uint_eq(st.observers, 1);
	peer_close(p);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(observe_client_drops_reordered_and_duplicated_notifications)
{
	struct evudp6_messenger *m = mk(NULL);
	struct peer *p = peer_open();
	struct cli c = {0};
	observe_raw(m, p, &c, EVUDP6_NON);
	const uint8_t *tok = p->msg[0].token;
	raw_notify(p, mport(m), EVUDP6_NON, 0x7001, tok, 10, "10");
	raw_notify(p, mport(m), EVUDP6_NON, 0x7002, tok, 12, "12");
	raw_notify(p, mport(m), EVUDP6_NON, 0x7003, tok, 11, "11");       /* older: dropped */
	raw_notify(p, mport(m), EVUDP6_NON, 0x7004, tok, 12, "12 again"); /* same: dropped */
	raw_notify(p, mport(m), EVUDP6_CON, 0x7005, tok, 13, "13");
	raw_notify(p, mport(m), EVUDP6_CON, 0x7005, tok, 13, "13");          /* duplicate message */
	raw_notify(p, mport(m), EVUDP6_NON, 0x7006, tok, 0xfffff0, "wrap-"); /* behind 13 across the wrap */
	raw_notify(p, mport(m), EVUDP6_NON, 0x7007, tok, 0x80000d, "far");   /* 2^23 ahead: older */
	ck_assert(RUN_UNTIL(p->n == 3));
	run_for(20);
	ck_assert_int_eq(c.calls, 3);
	ck_assert_int_eq(c.seq[0], 10);
	ck_assert_int_eq(c.seq[1], 12);
	ck_assert_int_eq(c.seq[2], 13);
	/* Both copies of the CON acknowledged with its message id. */
	ck_assert_uint_eq(p->msg[1].type, EVUDP6_ACK);
	ck_assert_uint_eq(p->msg[2].type, EVUDP6_ACK);
	ck_assert_uint_eq(p->msg[2].mid, 0x7005);
	struct evudp6_observe_stats st = ostats(m);
	ck_assert_uint_eq(st.notifications_received, 3);
	ck_assert_uint_eq(st.notifications_reordered, 4);
	ck_assert_uint_eq(mstats(m).duplicates, 1);
	/* Serial arithmetic: 13 + 2^23 - 1 is newer. */
	raw_notify(p, mport(m), EVUDP6_NON, 0x7008, tok, 13 + (1 << 23) - 1, "newer");
	ck_assert(RUN_UNTIL(c.calls == 4));
	ck_assert_int_eq(c.seq[3], 13 + (1 << 23) - 1);
	peer_close(p);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(observe_client_rejects_unknown_token_with_rst)
{
	struct evudp6_messenger *m = mk(NULL);
	struct peer *p = peer_open();
	const uint8_t tok[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	raw_notify(p, mport(m), EVUDP6_NON, 0x7001, tok, 3, "x");
	raw_notify(p, mport(m), EVUDP6_CON, 0x7002, tok, 4, "y");
	ck_assert(RUN_UNTIL(p->n == 2));
	ck_assert_uint_eq(p->msg[0].type, EVUDP6_RST);
	ck_assert_uint_eq(p->msg[0].mid, 0x7001);
	ck_assert_uint_eq(p->msg[1].type, EVUDP6_RST);
	ck_assert_uint_eq(p->msg[1].mid, 0x7002);
	ck_assert_uint_eq(mstats(m).unmatched, 2);
	ck_assert_uint_eq(mstats(m).rst_sent, 2);
	/* With observe set up, both are counted as rejected notifications. */
	struct evudp6_messenger *m2 = mk(NULL);
	struct cli c = {0};
	struct peer *q = peer_open();
	observe_raw(m2, q, &c, EVUDP6_NON);
	raw_notify(p, mport(m2), EVUDP6_NON, 0x7003, tok, 3, "x");
	raw_notify(p, mport(m2), EVUDP6_CON, 0x7004, tok, 4, "y");
	ck_assert(RUN_UNTIL(p->n == 4));
	ck_assert_uint_eq(p->msg[2].type, EVUDP6_RST);
	ck_assert_uint_eq(p->msg[3].type, EVUDP6_RST);
	ck_assert_uint_eq(ostats(m2).notifications_rejected, 2);
	ck_assert_int_eq(c.calls, 0);
	peer_close(q);
	peer_close(p);
	evudp6_messenger_free(m2);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(observe_client_ignores_observe_value_longer_than_3_bytes)
{
	struct evudp6_messenger *m = mk(NULL);
	struct peer *p = peer_open();
	struct cli c = {0};
	observe_raw(m, p, &c, EVUDP6_NON);
	const uint8_t *tok = p->msg[0].token;
	raw_notify(p, mport(m), EVUDP6_NON, 0x7001, tok, 1, "one");
	ck_assert(RUN_UNTIL(c.calls == 1));
	/* RFC 7252 5.4.3: the option is ignored, so this is a response
	 * without Observe: the observation's final one. */
	raw_notify(p, mport(m), EVUDP6_NON, 0x7002, tok, 0x1000002, "bad");
	ck_assert(RUN_UNTIL(c.calls == 2));
	ck_assert_int_eq(c.seq[1], -1);
	ck_assert_int_eq(c.finals, 1);
	ck_assert_str_eq(c.payload[1], "bad");
	struct evudp6_observe_stats st = ostats(m);
	ck_assert_uint_eq(st.observe_invalid, 1);
	ck_assert_uint_eq(st.observers, 0);
	peer_close(p);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(observe_client_deregisters_with_observe_1_and_same_token)
{
	struct evudp6_messenger *m = mk(NULL);
	struct peer *p = peer_open();
	struct cli c = {0};
	observe_raw(m, p, &c, EVUDP6_CON);
	uint8_t tok[8];
	memcpy(tok, p->msg[0].token, 8);
	raw_notify(p, mport(m), EVUDP6_ACK, p->msg[0].mid, tok, 5, "five");
	ck_assert(RUN_UNTIL(c.calls == 1));
	ck_assert_int_eq(evudp6_observer_cancel(c.o, true), 0);
	ck_assert(RUN_UNTIL(p->n == 2));
	struct evudp6_msg *d = &p->msg[1];
	ck_assert_uint_eq(d->type, EVUDP6_CON);
	ck_assert_uint_eq(d->code, EVUDP6_GET);
	ck_assert_int_eq(memcmp(d->token, tok, 8), 0);
	ck_assert_int_eq(peer_seq(p, 1), 1);
	ck_assert_uint_ne(d->mid, p->msg[0].mid);
	struct evudp6_opt path;
	ck_assert(evudp6_msg_find_opt(d, EVUDP6_OPT_URI_PATH, &path));
	ck_assert_int_eq(path.len, 3);
	/* A notification that crossed the deregistration is not delivered. */
	raw_notify(p, mport(m), EVUDP6_NON, 0x7001, tok, 6, "six");
	run_for(20);
	ck_assert_int_eq(c.calls, 1);
	raw_notify(p, mport(m), EVUDP6_ACK, d->mid, tok, -1, "bye");
	ck_assert(RUN_UNTIL(c.calls == 2));
	ck_assert_int_eq(c.seq[1], -1);
	ck_assert_str_eq(c.payload[1], "bye");
	ck_assert_int_eq(c.finals, 1);
	ck_assert_uint_eq(ostats(m).observers, 0);
	/* Later notifications are reset. */
	raw_notify(p, mport(m), EVUDP6_NON, 0x7002, tok, 7, "seven");
	ck_assert(RUN_UNTIL(peer_count(p, EVUDP6_RST) == 1));
	ck_assert_uint_eq(p->msg[p->n - 1].mid, 0x7002);
	ck_assert_int_eq(evudp6_observer_cancel(c.o, true), -EVUDP6_E_STATE);
	peer_close(p);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(observe_client_forgets_then_resets_next_notification)
{
	struct evudp6_messenger *m = mk(NULL);
	struct peer *p = peer_open();
	struct cli c = {.cancel_in_cb = true};
	observe_raw(m, p, &c, EVUDP6_NON);
	uint8_t tok[8];
	memcpy(tok, p->msg[0].token, 8);
	raw_notify(p, mport(m), EVUDP6_NON, 0x7001, tok, 1, "one");
	ck_assert(RUN_UNTIL(c.calls == 1));
	ck_assert_uint_eq(ostats(m).observers, 0);
	raw_notify(p, mport(m), EVUDP6_NON, 0x7002, tok, 2, "two");
	ck_assert(RUN_UNTIL(p->n == 2));
	ck_assert_uint_eq(p->msg[1].type, EVUDP6_RST);
	ck_assert_uint_eq(p->msg[1].mid, 0x7002);
	ck_assert_int_eq(c.calls, 1);
	peer_close(p);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(observe_client_reports_server_without_observe)
{
	struct evudp6_messenger *m = mk(NULL);
	struct peer *p = peer_open();
	struct cli c = {0};
	observe_raw(m, p, &c, EVUDP6_CON);
	raw_notify(p, mport(m), EVUDP6_ACK, p->msg[0].mid, p->msg[0].token, -1, "plain");
	ck_assert(RUN_UNTIL(c.calls == 1));
	ck_assert_int_eq(c.err, 0);
	ck_assert_int_eq(c.seq[0], -1);
	ck_assert_int_eq(c.finals, 1);
	ck_assert_uint_eq(ostats(m).observers, 0);
	ck_assert_uint_eq(ostats(m).notifications_received, 0);
	peer_close(p);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(observe_client_reregisters_after_max_age_of_silence)
{
	struct evudp6_observe_config oc;
	evudp6_observe_config_init(&oc, sizeof(oc));
	oc.reregister_margin_ms = 100;
	struct evudp6_messenger *m = mk(&oc);
	struct peer *p = peer_open();
	struct cli c = {0};
	observe_raw(m, p, &c, EVUDP6_NON);
	uint8_t tok[8];
	memcpy(tok, p->msg[0].token, 8);
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, EVUDP6_NON, EVUDP6_CONTENT, 0x7001);
	evudp6_msg_builder_set_token(&b, tok, 8);
	evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_OBSERVE, 1);
	evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_MAX_AGE, 0);
	peer_send(p, mport(m), &b);
	ck_assert(RUN_UNTIL(c.calls == 1));
	/* Max-Age 0 plus 100 ms of silence: the same registration again. */
	ck_assert(RUN_UNTIL(p->n == 2));
	ck_assert_uint_eq(p->msg[1].code, EVUDP6_GET);
	ck_assert_int_eq(memcmp(p->msg[1].token, tok, 8), 0);
	ck_assert_int_eq(peer_seq(p, 1), 0);
	ck_assert_uint_eq(ostats(m).reregistrations, 1);
	ck_assert_uint_eq(ostats(m).observers, 1);
	peer_close(p);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(observe_client_icmp_error_ends_observation)
{
	struct evudp6_messenger *m = mk(NULL);
	struct evudp6_addr a;
	ck_assert_int_eq(evudp6_addr_from_literal(&a, "::1", testnet_closed_port(), 0), 0);
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 0);
	struct cli c = {0};
	ck_assert_int_eq(evudp6_observe_register(m, &a, &b, cli_cb, &c, &c.o), 0);
	ck_assert(RUN_UNTIL(c.calls == 1));
	ck_assert_int_eq(c.err, -ECONNREFUSED);
	ck_assert(c.had_icmp);
	ck_assert_uint_eq(ostats(m).observers, 0);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(observe_client_observers_are_capped)
{
	struct evudp6_observe_config oc;
	evudp6_observe_config_init(&oc, sizeof(oc));
	oc.max_observers = 2;
	struct evudp6_messenger *m = mk(&oc);
	struct peer *p = peer_open();
	struct evudp6_addr a;
	ck_assert_int_eq(evudp6_addr_from_literal(&a, "::1", p->port, 0), 0);
	struct cli c = {0};
	for (int i = 0; i < 3; i++) {
		struct evudp6_msg_builder b;
		evudp6_msg_builder_init(&b, EVUDP6_NON, EVUDP6_GET, 0);
		ck_assert_int_eq(evudp6_observe_register(m, &a, &b, cli_cb, &c, NULL), i < 2 ? 0 : -ENOBUFS);
	}
	ck_assert(RUN_UNTIL(p->n == 2));
	ck_assert_uint_ne(memcmp(p->msg[0].token, p->msg[1].token, 8), 0);
	ck_assert_uint_eq(ostats(m).observers, 2);
	ck_assert_int_eq(c.calls, 0);
	peer_close(p);
	evudp6_messenger_free(m);
}
END_TEST

/* The raw server answers with one block of a body. */
static void raw_block(struct peer *p, uint16_t port, uint8_t type, uint16_t mid, const uint8_t *tok, long seq,
                      uint32_t num, bool more, const char *etag, const char *payload)
{
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, type, EVUDP6_CONTENT, mid);
	evudp6_msg_builder_set_token(&b, tok, 8);
	if (seq >= 0)
		evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_OBSERVE, (uint32_t)seq);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_ETAG, etag, strlen(etag));
	struct evudp6_block blk = {.num = num, .more = more, .szx = 0};
	ck_assert_int_eq(evudp6_block_add(&b, EVUDP6_OPT_BLOCK2, &blk), 0);
	evudp6_msg_builder_set_payload(&b, payload, strlen(payload));
	peer_send(p, port, &b);
}

START_TEST(observe_client_completes_blockwise_notification)
{
	struct evudp6_messenger *m = mk(NULL);
	struct peer *p = peer_open();
	struct cli c = {0};
	observe_raw(m, p, &c, EVUDP6_NON);
	uint8_t tok[8];
	memcpy(tok, p->msg[0].token, 8);
	/* RFC 7959 2.6: the notification carries block 0 of 16 bytes. */
	raw_block(p, mport(m), EVUDP6_NON, 0x7001, tok, 5, 0, true, "e1", "AAAAAAAAAAAAAAAA");
	ck_assert(RUN_UNTIL(p->n == 2));
	/* The rest is asked for with a GET of its own: no Observe, another
	 * token, the registration's Uri-Path, Block2 NUM 1. */
	struct evudp6_msg *g = &p->msg[1];
	ck_assert_uint_eq(g->code, EVUDP6_GET);
	ck_assert_int_eq(peer_seq(p, 1), -1);
	ck_assert_int_ne(memcmp(g->token, tok, 8), 0);
	struct evudp6_opt path;
	ck_assert(evudp6_msg_find_opt(g, EVUDP6_OPT_URI_PATH, &path));
	ck_assert_int_eq(path.len, 3);
	struct evudp6_block blk;
	ck_assert_int_eq(evudp6_block_get(g, EVUDP6_OPT_BLOCK2, &blk), 1);
	ck_assert_uint_eq(blk.num, 1);
	ck_assert_int_eq(c.calls, 0); /* not delivered before it is whole */
	uint8_t gtok[8];
	memcpy(gtok, g->token, 8);
	raw_block(p, mport(m), EVUDP6_NON, 0x7002, gtok, -1, 1, false, "e1", "BBBB");
	ck_assert(RUN_UNTIL(c.calls == 1));
	ck_assert_int_eq(c.seq[0], 5);
	ck_assert_str_eq(c.body, "AAAAAAAAAAAAAAAABBBB");
	/* The registration token keeps matching later notifications. */
	raw_notify(p, mport(m), EVUDP6_NON, 0x7003, tok, 6, "small");
	ck_assert(RUN_UNTIL(c.calls == 2));
	ck_assert_int_eq(c.seq[1], 6);
	ck_assert_str_eq(c.body, "small");
	/* A newer notification replaces one still being completed. */
	raw_block(p, mport(m), EVUDP6_NON, 0x7004, tok, 7, 0, true, "e2", "CCCCCCCCCCCCCCCC");
	ck_assert(RUN_UNTIL(p->n == 3));
	raw_notify(p, mport(m), EVUDP6_NON, 0x7005, tok, 8, "newer");
	ck_assert(RUN_UNTIL(c.calls == 3));
	ck_assert_int_eq(c.seq[2], 8);
	memcpy(gtok, p->msg[2].token, 8);
	raw_block(p, mport(m), EVUDP6_NON, 0x7006, gtok, -1, 1, false, "e2", "DDDD");
	run_for(50);
	ck_assert_int_eq(c.calls, 3);
	struct evudp6_observe_stats st = ostats(m);
	ck_assert_uint_eq(st.notifications_blockwise, 1);
	ck_assert_uint_eq(st.notifications_incomplete, 1);
	ck_assert_uint_eq(st.notifications_received, 3);
	ck_assert_int_eq(c.finals, 0);
	peer_close(p);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(observe_client_stale_handle_cancels_nothing)
{
	/* One observer slot: the second registration takes the first one's. */
	struct evudp6_observe_config oc;
	evudp6_observe_config_init(&oc, sizeof(oc));
	oc.max_observers = 1;
	struct evudp6_messenger *m = mk(&oc);
	struct peer *p = peer_open();
	struct cli c1 = {0}, c2 = {0};
	observe_raw(m, p, &c1, EVUDP6_NON);
	/* The server answers without Observe: the first observation ends. */
	raw_notify(p, mport(m), EVUDP6_NON, 0x7001, p->msg[0].token, -1, "plain");
	ck_assert(RUN_UNTIL(c1.finals == 1));
	struct evudp6_addr a;
	ck_assert_int_eq(evudp6_addr_from_literal(&a, "::1", p->port, 0), 0);
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, EVUDP6_NON, EVUDP6_GET, 0);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_PATH, "new", 3);
	ck_assert_int_eq(evudp6_observe_register(m, &a, &b, cli_cb, &c2, &c2.o), 0);
	ck_assert(RUN_UNTIL(p->n == 2));
	uint8_t tok[8];
	memcpy(tok, p->msg[1].token, 8);
	/* The same slot, a new generation. */
	ck_assert_ptr_eq(c2.o.obj, c1.o.obj);
	ck_assert_uint_ne(c2.o.gen, c1.o.gen);
	/* Neither forgetting nor deregistering through the old handle
	 * touches the new observation. */
	int forget = evudp6_observer_cancel(c1.o, false);
	int dereg = evudp6_observer_cancel(c1.o, true);
	run_for(20);
	ck_assert_int_eq(p->n, 2);
	ck_assert_uint_eq(ostats(m).observers, 1);
	ck_assert_int_eq(forget, -EVUDP6_E_STATE);
	ck_assert_int_eq(dereg, -EVUDP6_E_STATE);
	ck_assert_ptr_null(evudp6_observer_remote(c1.o));
	raw_notify(p, mport(m), EVUDP6_NON, 0x7002, tok, 3, "three");
	ck_assert(RUN_UNTIL(c2.calls == 1));
	ck_assert_int_eq(c2.seq[0], 3);
	ck_assert_str_eq(c2.payload[0], "three");
	ck_assert_int_eq(c1.calls, 1);
	ck_assert_uint_eq(mstats(m).rst_sent, 0);
	ck_assert_int_eq(peer_count(p, EVUDP6_RST), 0);
	peer_close(p);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(observe_client_register_rejects_misuse)
{
	struct evudp6_messenger *m = mk(NULL);
	struct evudp6_addr a;
	ck_assert_int_eq(evudp6_addr_from_literal(&a, "::1", 5683, 0), 0);
	struct evudp6_msg_builder b;
	struct cli c = {0};
	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_PUT, 0);
	ck_assert_int_eq(evudp6_observe_register(m, &a, &b, cli_cb, &c, NULL), -EINVAL);
	evudp6_msg_builder_init(&b, EVUDP6_ACK, EVUDP6_GET, 0);
	ck_assert_int_eq(evudp6_observe_register(m, &a, &b, cli_cb, &c, NULL), -EINVAL);
	evudp6_msg_builder_init(&b, EVUDP6_NON, EVUDP6_GET, 0);
	ck_assert_int_eq(evudp6_observe_register(m, &a, &b, NULL, &c, NULL), -EINVAL);
	struct evudp6_addr mc;
	ck_assert_int_eq(evudp6_addr_from_literal(&mc, "ff02::fd", 5683, 1), 0);
	ck_assert_int_eq(evudp6_observe_register(m, &mc, &b, cli_cb, &c, NULL), -EINVAL);
	/* A failed registration zeroes the handle. */
	struct evudp6_observer_handle h = {.obj = (struct evudp6_observer *)&c, .gen = 1};
	ck_assert_int_eq(evudp6_observe_register(m, &mc, &b, cli_cb, &c, &h), -EINVAL);
	ck_assert_ptr_null(h.obj);
	ck_assert_uint_eq(h.gen, 0);
	ck_assert_int_eq(evudp6_observer_cancel(h, true), -EVUDP6_E_STATE);
	ck_assert_ptr_null(evudp6_observer_remote(h));
	ck_assert_int_eq(c.calls, 0);
	evudp6_messenger_free(m);
}
END_TEST

/* ------------------------------------------------------------ both ends ours */

START_TEST(observe_between_messengers_until_deregistration)
{
	struct srv s = {0};
	struct evudp6_messenger *srv = mk_server(NULL, &s);
	struct evudp6_messenger *cm = mk(NULL);
	struct evudp6_addr a;
	ck_assert_int_eq(evudp6_addr_from_literal(&a, "::ffff:127.0.0.1", mport(srv), 0), 0);
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 0);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_PATH, "obs", 3);
	struct cli c = {0};
	ck_assert_int_eq(evudp6_observe_register(cm, &a, &b, cli_cb, &c, &c.o), 0);
	ck_assert(RUN_UNTIL(c.calls == 1));
	ck_assert_str_eq(c.payload[0], "v0");
	const char *vals[3] = {"v1", "v2", "v3"};
	for (int i = 0; i < 3; i++) {
		notify_text(s.obs[0], vals[i]);
		ck_assert(RUN_UNTIL(c.calls == i + 2));
		ck_assert_str_eq(c.payload[i + 1], vals[i]);
		ck_assert_int_gt(c.seq[i + 1], c.seq[i]);
	}
	ck_assert_int_eq(evudp6_observer_cancel(c.o, true), 0);
	ck_assert(RUN_UNTIL(c.finals == 1));
	ck_assert_int_eq(c.err, 0);
	ck_assert_int_eq(c.seq[4], -1);
	ck_assert_uint_eq(ostats(srv).observations, 0);
	ck_assert_uint_eq(ostats(srv).deregistrations, 1);
	ck_assert_uint_eq(ostats(cm).observers, 0);
	ck_assert_uint_eq(mstats(cm).unmatched, 0);
	ck_assert_uint_eq(mstats(srv).unmatched, 0);
	evudp6_messenger_free(cm);
	evudp6_messenger_free(srv);
}
END_TEST

START_TEST(observe_shutdown_ends_both_sides_with_shutdown)
{
	struct srv s = {0};
	struct evudp6_messenger *srv = mk_server(NULL, &s);
	struct evudp6_messenger *cm = mk(NULL);
	struct evudp6_addr a;
	ck_assert_int_eq(evudp6_addr_from_literal(&a, "::1", mport(srv), 0), 0);
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, EVUDP6_NON, EVUDP6_GET, 0);
	struct cli c = {0};
	ck_assert_int_eq(evudp6_observe_register(cm, &a, &b, cli_cb, &c, &c.o), 0);
	ck_assert(RUN_UNTIL(c.calls == 1));
	ck_assert_int_eq(evudp6_messenger_shutdown(cm), 0);
	ck_assert_int_eq(c.calls, 2);
	ck_assert_int_eq(c.err, -EVUDP6_E_SHUTDOWN);
	ck_assert_int_eq(evudp6_messenger_shutdown(srv), 0);
	ck_assert_int_eq(s.ended, 1);
	ck_assert_int_eq(s.end_reason[0], -EVUDP6_E_SHUTDOWN);
	evudp6_messenger_free(cm);
	evudp6_messenger_free(srv);
}
END_TEST

START_TEST(observe_free_messenger_inside_callbacks)
{
	/* Client: freed from the notification callback. */
	struct evudp6_messenger *m = mk(NULL);
	struct peer *p = peer_open();
	struct cli c = {0};
	observe_raw(m, p, &c, EVUDP6_NON);
	c.free_in_cb = m;
	raw_notify(p, mport(m), EVUDP6_CON, 0x7001, p->msg[0].token, 1, "one");
	ck_assert(RUN_UNTIL(c.calls == 1));
	ck_assert_ptr_null(c.free_in_cb);
	run_for(20);
	peer_close(p);

	/* Server: freed from the end callback of an RST, with a second
	 * observer of the same remote still there. */
	struct srv s = {0};
	struct evudp6_messenger *srv = mk_server(NULL, &s);
	p = peer_open();
	register_raw(p, srv, &s, EVUDP6_NON);
	struct evudp6_msg_builder b;
	get_builder(&b, EVUDP6_NON, 0x200, "t2", 0);
	peer_send(p, mport(srv), &b);
	ck_assert(RUN_UNTIL(s.accepted == 2));
	notify_text(s.obs[0], "v1");
	ck_assert(RUN_UNTIL(p->n == 3));
	s.free_in_end = srv;
	peer_empty(p, mport(srv), EVUDP6_RST, p->msg[2].mid);
	ck_assert(RUN_UNTIL(s.ended == 1));
	ck_assert_ptr_null(s.free_in_end);
	run_for(20);
	peer_close(p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("observe");
	TCase *tc = tcase_create("server");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, observe_server_notifies_with_token_and_increasing_seq);
	tcase_add_test(tc, observe_server_con_every_n_notifications);
	tcase_add_test(tc, observe_server_con_when_last_con_is_older_than_interval);
	tcase_add_test(tc, observe_server_newest_replaces_notification_waiting_behind_con);
	tcase_add_test(tc, observe_server_rst_removes_observer);
	tcase_add_test(tc, observe_server_deregistration_with_observe_1);
	tcase_add_test(tc, observe_server_unacknowledged_con_removes_observer_after_schedule);
	tcase_add_test(tc, observe_server_registration_flood_capped);
	tcase_add_test(tc, observe_server_reregistration_replaces_observation);
	tcase_add_test(tc, observe_server_icmp_unreachable_removes_observer);
	tcase_add_test(tc, observe_server_end_sends_final_response_without_observe);
	tcase_add_test(tc, observe_server_notify_many_reaches_every_observer);
	tcase_add_test(tc, observe_server_large_notification_carries_first_block_with_etag);
	tcase_add_test(tc, observe_server_stale_handle_notifies_nobody);
	tcase_add_test(tc, observe_server_stale_handle_ends_nothing);
	tcase_add_test(tc, observe_server_accept_rejects_misuse);
	suite_add_tcase(s, tc);
	TCase *cc = tcase_create("client");
	tcase_add_checked_fixture(cc, setup, teardown);
	tcase_set_timeout(cc, 30);
	tcase_add_test(cc, observe_client_calls_back_per_notification_with_seq);
	tcase_add_test(cc, observe_client_drops_reordered_and_duplicated_notifications);
	tcase_add_test(cc, observe_client_rejects_unknown_token_with_rst);
	tcase_add_test(cc, observe_client_ignores_observe_value_longer_than_3_bytes);
	tcase_add_test(cc, observe_client_deregisters_with_observe_1_and_same_token);
	tcase_add_test(cc, observe_client_forgets_then_resets_next_notification);
	tcase_add_test(cc, observe_client_reports_server_without_observe);
	tcase_add_test(cc, observe_client_reregisters_after_max_age_of_silence);
	tcase_add_test(cc, observe_client_icmp_error_ends_observation);
	tcase_add_test(cc, observe_client_completes_blockwise_notification);
	tcase_add_test(cc, observe_client_observers_are_capped);
	tcase_add_test(cc, observe_client_stale_handle_cancels_nothing);
	tcase_add_test(cc, observe_client_register_rejects_misuse);
	tcase_add_test(cc, observe_between_messengers_until_deregistration);
	tcase_add_test(cc, observe_shutdown_ends_both_sides_with_shutdown);
	tcase_add_test(cc, observe_free_messenger_inside_callbacks);
	suite_add_tcase(s, cc);
	return testutil_run(s);
}
