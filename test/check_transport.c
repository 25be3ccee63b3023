/*
 * Transport on real loopback sockets: dual stack, pktinfo in and out, ICMP
 * errors from the error queue, send errors, truncation, life cycle, and
 * bounded work per wakeup.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include <evudp6.h>

#include "testnet.h"
#include "testutil.h"

struct seen {
	int datagrams;
	int errors;
	uint8_t data[2048];
	size_t len;
	struct evudp6_addr remote;
	int err;
	struct evudp6_icmp icmp;
	bool has_icmp;
	uint8_t quoted[2048];
	size_t quoted_len;
	/* behaviour switches */
	bool echo;
	bool free_in_cb;
	bool shutdown_in_cb;
	long spin_ns;
	int shutdowns;
};

static void spin(long ns)
{
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	do
		clock_gettime(CLOCK_MONOTONIC, &b);
	while ((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec) < ns);
}

static void on_datagram(struct evudp6_transport *t, const uint8_t *data, size_t len,
                        const struct evudp6_addr *remote, void *arg)
{
	struct seen *s = arg;
	s->datagrams++;
	if (len <= sizeof(s->data)) {
		memcpy(s->data, data, len);
		s->len = len;
	}
	s->remote = *remote;
	if (s->spin_ns)
		spin(s->spin_ns);
	if (s->echo) {
		struct evudp6_addr to;
		evudp6_addr_response(remote, &to);
		ck_assert_int_eq(evudp6_transport_send(t, &to, data, len), 0);
	}
	if (s->free_in_cb)
		evudp6_transport_free(t);
	else if (s->shutdown_in_cb)
		evudp6_transport_shutdown(t, NULL, NULL);
}

static void on_error(struct evudp6_transport *t, int err, const struct evudp6_icmp *icmp,
                     const struct evudp6_addr *remote, const uint8_t *quoted, size_t quoted_len, void *arg)
{
	(void)t;
	struct seen *s = arg;
	s->errors++;
	s->err = err;
	s->has_icmp = icmp != NULL;
	if (icmp)
		s->icmp = *icmp;
	s->remote = *remote;
	s->quoted_len = quoted_len;
	if (quoted_len <= sizeof(s->quoted) && quoted_len > 0)
		memcpy(s->quoted, quoted, quoted_len);
}

static struct evudp6_transport *server(struct event_base *base, struct seen *s, const char *bind)
{
	struct evudp6_transport *t = NULL;
	struct evudp6_transport_config cfg = {.size = sizeof(cfg), .bind = bind};
	ck_assert_int_eq(evudp6_transport_new(&t, base, &cfg, on_datagram, on_error, s), 0);
	ck_assert_int_eq(evudp6_transport_start(t), 0);
	ck_assert_uint_ne(evudp6_transport_port(t), 0);
	return t;
}

static void addr_text(const struct evudp6_addr *a, char *buf, size_t len)
{
	ck_assert_int_gt(evudp6_addr_hostinfo(a, buf, len), 0);
}

static void local_text(const struct evudp6_addr *a, char *buf)
{
	ck_assert(a->has_local);
	inet_ntop(AF_INET6, &a->local_addr, buf, INET6_ADDRSTRLEN);
}

START_TEST(transport_serves_ipv6_and_ipv4_on_one_socket)
{
	struct event_base *base = event_base_new();
	struct seen s = {0};
	struct evudp6_transport *t = server(base, &s, "[::]:0");
	uint16_t port = evudp6_transport_port(t);
	struct sockaddr_in6 local;
	ck_assert_int_eq(evudp6_transport_local(t, &local), 0);
	ck_assert_uint_eq(ntohs(local.sin6_port), port);

	int c6 = testnet_socket(AF_INET6, "::1");
	int c4 = testnet_socket(AF_INET, "127.0.0.1");
	char buf[EVUDP6_HOSTINFO_MAX], lbuf[INET6_ADDRSTRLEN];

	testnet_send(c6, "::1", port, "six", 3);
	TESTNET_LOOP_UNTIL(base, s.datagrams == 1);
	ck_assert_int_eq(s.datagrams, 1);
	ck_assert_mem_eq(s.data, "six", 3);
	ck_assert(!evudp6_addr_is_v4mapped(&s.remote));
	addr_text(&s.remote, buf, sizeof(buf));
	ck_assert(strncmp(buf, "[::1]:", 6) == 0);
	local_text(&s.remote, lbuf);
	ck_assert_str_eq(lbuf, "::1");
	ck_assert_uint_eq(s.remote.local_port, port);

	testnet_send(c4, "127.0.0.1", port, "four", 4);
	TESTNET_LOOP_UNTIL(base, s.datagrams == 2);
	ck_assert_int_eq(s.datagrams, 2);
	ck_assert_mem_eq(s.data, "four", 4);
	ck_assert(evudp6_addr_is_v4mapped(&s.remote));
	addr_text(&s.remote, buf, sizeof(buf));
	ck_assert(strncmp(buf, "127.0.0.1:", 10) == 0);
	local_text(&s.remote, lbuf);
	ck_assert_str_eq(lbuf, "::ffff:127.0.0.1");
	ck_assert_uint_eq(s.remote.local_ifindex, if_nametoindex("lo"));

	struct evudp6_transport_stats st;
	evudp6_transport_stats(t, &st, sizeof(st));
	ck_assert_uint_eq(st.datagrams_in, 2);
	ck_assert_uint_eq(st.bytes_in, 7);
	ck_assert_uint_eq(st.no_pktinfo, 0);
	close(c6);
	close(c4);
	evudp6_transport_free(t);
	event_base_free(base);
}
END_TEST

/* The answer's source address as the client sees it. */
static void expect_answer_from(int fd, const char *want, uint16_t port, const char *payload)
{
	char buf[64];
	struct sockaddr_storage from;
	socklen_t fl = sizeof(from);
	ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
	ck_assert_int_eq(n, (ssize_t)strlen(payload));
	ck_assert_mem_eq(buf, payload, (size_t)n);
	char text[INET6_ADDRSTRLEN];
	uint16_t fport;
	if (from.ss_family == AF_INET) {
		struct sockaddr_in *sa = (struct sockaddr_in *)&from;
		inet_ntop(AF_INET, &sa->sin_addr, text, sizeof(text));
		fport = ntohs(sa->sin_port);
	} else {
		struct sockaddr_in6 *sa = (struct sockaddr_in6 *)&from;
		inet_ntop(AF_INET6, &sa->sin6_addr, text, sizeof(text));
		fport = ntohs(sa->sin6_port);
	}
	ck_assert_str_eq(text, want);
	ck_assert_uint_eq(fport, port);
}

START_TEST(transport_answers_from_request_destination)
{
	struct event_base *base = event_base_new();
	struct seen s = {.echo = true};
	struct evudp6_transport *t = server(base, &s, "[::]:0");
	uint16_t port = evudp6_transport_port(t);
	char lbuf[INET6_ADDRSTRLEN];

	/* 127.0.0.2 is on lo but not the address the kernel would pick for
	 * an answer to 127.0.0.1: only pktinfo on send gets this right. */
	int c4 = testnet_socket(AF_INET, "127.0.0.1");
	testnet_send(c4, "127.0.0.2", port, "to .2", 5);
	TESTNET_LOOP_UNTIL(base, s.datagrams == 1);
	local_text(&s.remote, lbuf);
	ck_assert_str_eq(lbuf, "::ffff:127.0.0.2");
	expect_answer_from(c4, "127.0.0.2", port, "to .2");

	testnet_send(c4, "127.0.0.3", port, "to .3", 5);
	TESTNET_LOOP_UNTIL(base, s.datagrams == 2);
	expect_answer_from(c4, "127.0.0.3", port, "to .3");

	int c6 = testnet_socket(AF_INET6, "::1");
	testnet_send(c6, "::1", port, "to ::1", 6);
	TESTNET_LOOP_UNTIL(base, s.datagrams == 3);
	local_text(&s.remote, lbuf);
	ck_assert_str_eq(lbuf, "::1");
	expect_answer_from(c6, "::1", port, "to ::1");

	close(c4);
	close(c6);
	evudp6_transport_free(t);
	event_base_free(base);
}
END_TEST

static void expect_port_unreachable(const char *dst, uint8_t origin, uint8_t type, uint8_t code)
{
	struct event_base *base = event_base_new();
	struct seen s = {0};
	struct evudp6_transport *t = server(base, &s, "[::]:0");
	struct evudp6_addr to;
	ck_assert_int_eq(evudp6_addr_from_literal(&to, dst, testnet_closed_port(), 0), 0);
	const uint8_t msg[] = {0x40, 0x01, 0x12, 0x34, 0xb1, 'x'};
	ck_assert_int_eq(evudp6_transport_send(t, &to, msg, sizeof(msg)), 0);

	/* One loop run, no timer on the base: the error queue alone wakes it. */
	ck_assert_int_eq(event_base_loop(base, EVLOOP_ONCE), 0);
	event_base_loop(base, EVLOOP_NONBLOCK);
	ck_assert_int_eq(s.errors, 1);
	ck_assert_int_eq(s.datagrams, 0);
	ck_assert_int_eq(s.err, -ECONNREFUSED);
	ck_assert(s.has_icmp);
	ck_assert_int_eq(s.icmp.err, ECONNREFUSED);
	ck_assert_uint_eq(s.icmp.origin, origin);
	ck_assert_uint_eq(s.icmp.type, type);
	ck_assert_uint_eq(s.icmp.code, code);
	ck_assert(s.icmp.has_offender);
	struct evudp6_addr off;
	ck_assert_int_eq(
	    evudp6_addr_from_sockaddr(&off, (struct sockaddr *)&s.icmp.offender, sizeof(s.icmp.offender)), 0);
	ck_assert(memcmp(&off.remote.sin6_addr, &to.remote.sin6_addr, 16) == 0);
	ck_assert(evudp6_addr_equal(&s.remote, &to));
	ck_assert_uint_eq(s.quoted_len, sizeof(msg));
	ck_assert_mem_eq(s.quoted, msg, sizeof(msg));

	struct evudp6_transport_stats st;
	evudp6_transport_stats(t, &st, sizeof(st));
	ck_assert_uint_eq(st.errqueue, 1);
	ck_assert_uint_eq(st.datagrams_out, 1);
	evudp6_transport_free(t);
	event_base_free(base);
}

START_TEST(transport_reports_icmp6_port_unreachable_at_once)
{
	expect_port_unreachable("::1", EVUDP6_ORIGIN_ICMP6, 1, 4);
}
END_TEST

START_TEST(transport_reports_icmp4_port_unreachable_at_once)
{
	expect_port_unreachable("::ffff:127.0.0.1", EVUDP6_ORIGIN_ICMP, 3, 3);
}
END_TEST

START_TEST(transport_send_error_returned_and_reported)
{
	struct event_base *base = event_base_new();
	struct seen s = {0};
	struct evudp6_transport *t = server(base, &s, "[::]:0");

	/* A source address this host does not have: the kernel refuses it. */
	struct evudp6_addr to;
	ck_assert_int_eq(evudp6_addr_from_literal(&to, "::1", testnet_closed_port(), 0), 0);
	struct in6_addr foreign;
	inet_pton(AF_INET6, "2001:db8::77", &foreign);
	evudp6_addr_set_local(&to, &foreign, 0);
	int r = evudp6_transport_send(t, &to, "x", 1);
	ck_assert_int_eq(r, -EINVAL);
	/* Not from inside send: only once the loop runs. */
	ck_assert_int_eq(s.errors, 0);
	TESTNET_LOOP_UNTIL(base, s.errors == 1);
	ck_assert_int_eq(s.errors, 1);
	ck_assert_int_eq(s.err, -EINVAL);
	ck_assert(!s.has_icmp);
	ck_assert(evudp6_addr_equal(&s.remote, &to));
	ck_assert_uint_eq(s.quoted_len, 0);

	/* An interface that does not exist. */
	struct evudp6_addr to2;
	evudp6_addr_from_literal(&to2, "ff02::fd", 5683, 0);
	evudp6_addr_set_local(&to2, &in6addr_any, 999999);
	r = evudp6_transport_send(t, &to2, "x", 1);
	ck_assert_int_eq(r, -ENODEV);
	TESTNET_LOOP_UNTIL(base, s.errors == 2);
	ck_assert_int_eq(s.errors, 2);
	ck_assert_int_eq(s.err, -ENODEV);
	ck_assert(evudp6_addr_equal(&s.remote, &to2));

	struct evudp6_transport_stats st;
	evudp6_transport_stats(t, &st, sizeof(st));
	ck_assert_uint_eq(st.send_errors, 2);
	ck_assert_uint_eq(st.datagrams_out, 0);
	evudp6_transport_free(t);
	event_base_free(base);
}
END_TEST

START_TEST(transport_drops_and_counts_oversized_datagram)
{
	struct event_base *base = event_base_new();
	struct seen s = {0};
	struct evudp6_transport *t = NULL;
	struct evudp6_transport_config cfg = {.size = sizeof(cfg), .bind = "[::1]:0", .max_datagram = 100};
	ck_assert_int_eq(evudp6_transport_new(&t, base, &cfg, on_datagram, on_error, &s), 0);
	ck_assert_int_eq(evudp6_transport_start(t), 0);
	uint16_t port = evudp6_transport_port(t);
	int c = testnet_socket(AF_INET6, "::1");
	uint8_t big[101];
	memset(big, 'b', sizeof(big));
	testnet_send(c, "::1", port, big, 101);
	testnet_send(c, "::1", port, big, 100);
	TESTNET_LOOP_UNTIL(base, s.datagrams == 1);
	event_base_loop(base, EVLOOP_NONBLOCK);
	ck_assert_int_eq(s.datagrams, 1);
	ck_assert_uint_eq(s.len, 100);
	struct evudp6_transport_stats st;
	evudp6_transport_stats(t, &st, sizeof(st));
	ck_assert_uint_eq(st.truncated, 1);
	ck_assert_uint_eq(st.datagrams_in, 1);
	close(c);
	evudp6_transport_free(t);
	event_base_free(base);
}
END_TEST

START_TEST(transport_delivers_nothing_before_start)
{
	struct event_base *base = event_base_new();
	struct seen s = {0};
	struct evudp6_transport *t = NULL;
	struct evudp6_transport_config cfg = {.size = sizeof(cfg), .bind = "[::1]:0"};
	ck_assert_int_eq(evudp6_transport_new(&t, base, &cfg, on_datagram, on_error, &s), 0);
	ck_assert_uint_eq(evudp6_transport_port(t), 0);
	struct sockaddr_in6 l;
	ck_assert_int_eq(evudp6_transport_local(t, &l), -EVUDP6_E_STATE);
	struct evudp6_addr to;
	evudp6_addr_from_literal(&to, "::1", 9, 0);
	ck_assert_int_eq(evudp6_transport_send(t, &to, "x", 1), -EVUDP6_E_STATE);
	event_base_loop(base, EVLOOP_NONBLOCK);
	ck_assert_int_eq(s.datagrams + s.errors, 0);

	ck_assert_int_eq(evudp6_transport_start(t), 0);
	ck_assert_int_eq(evudp6_transport_start(t), -EVUDP6_E_STATE);
	int c = testnet_socket(AF_INET6, "::1");
	testnet_send(c, "::1", evudp6_transport_port(t), "now", 3);
	TESTNET_LOOP_UNTIL(base, s.datagrams == 1);
	ck_assert_int_eq(s.datagrams, 1);
	close(c);
	evudp6_transport_free(t);
	event_base_free(base);
}
END_TEST

static void on_shutdown(struct evudp6_transport *t, void *arg)
{
	(void)t;
	struct seen *s = arg;
	s->shutdowns++;
}

START_TEST(transport_calls_nothing_after_shutdown)
{
	struct event_base *base = event_base_new();
	struct seen s = {0};
	struct evudp6_transport *t = server(base, &s, "[::1]:0");
	uint16_t port = evudp6_transport_port(t);
	int c = testnet_socket(AF_INET6, "::1");
	for (int i = 0; i < 5; i++)
		testnet_send(c, "::1", port, "late", 4);
	struct evudp6_addr to;
	evudp6_addr_from_literal(&to, "::1", testnet_closed_port(), 0);
	ck_assert_int_eq(evudp6_transport_send(t, &to, "x", 1), 0);
	usleep(10000);

	ck_assert_int_eq(evudp6_transport_shutdown(t, on_shutdown, &s), 0);
	ck_assert_int_eq(evudp6_transport_shutdown(t, on_shutdown, &s), -EVUDP6_E_SHUTDOWN);
	ck_assert_int_eq(evudp6_transport_send(t, &to, "x", 1), -EVUDP6_E_SHUTDOWN);
	ck_assert_int_eq(evudp6_transport_start(t), -EVUDP6_E_SHUTDOWN);
	ck_assert_int_eq(evudp6_transport_fd(t), -1);
	ck_assert_int_eq(s.shutdowns, 0);
	event_base_loop(base, EVLOOP_NONBLOCK);
	TESTNET_LOOP_UNTIL(base, s.shutdowns == 1);
	ck_assert_int_eq(s.shutdowns, 1);
	ck_assert_int_eq(s.datagrams, 0);
	ck_assert_int_eq(s.errors, 0);
	evudp6_transport_free(t);
	/* Nothing of the transport is left on the base. */
	ck_assert_int_eq(event_base_loop(base, EVLOOP_NONBLOCK), 1);
	close(c);
	event_base_free(base);
}
END_TEST

START_TEST(transport_free_inside_datagram_callback_is_safe)
{
	struct event_base *base = event_base_new();
	struct seen s = {.free_in_cb = true};
	struct evudp6_transport *t = server(base, &s, "[::1]:0");
	uint16_t port = evudp6_transport_port(t);
	int c = testnet_socket(AF_INET6, "::1");
	for (int i = 0; i < 8; i++)
		testnet_send(c, "::1", port, "batch", 5);
	usleep(10000);
	TESTNET_LOOP_UNTIL(base, s.datagrams >= 1);
	event_base_loop(base, EVLOOP_NONBLOCK);
	/* The rest of the batch that was already read is not delivered. */
	ck_assert_int_eq(s.datagrams, 1);
	ck_assert_int_eq(event_base_loop(base, EVLOOP_NONBLOCK), 1);
	close(c);
	event_base_free(base);
}
END_TEST

static void free_in_error_cb(struct evudp6_transport *t, int err, const struct evudp6_icmp *icmp,
                             const struct evudp6_addr *remote, const uint8_t *quoted, size_t quoted_len,
                             void *arg)
{
	on_error(t, err, icmp, remote, quoted, quoted_len, arg);
	evudp6_transport_free(t);
}

START_TEST(transport_free_inside_error_callback_is_safe)
{
	struct event_base *base = event_base_new();
	struct seen s = {0};
	struct evudp6_transport *t = NULL;
	struct evudp6_transport_config cfg = {.size = sizeof(cfg), .bind = "[::1]:0"};
	ck_assert_int_eq(evudp6_transport_new(&t, base, &cfg, on_datagram, free_in_error_cb, &s), 0);
	ck_assert_int_eq(evudp6_transport_start(t), 0);
	struct evudp6_addr to;
	evudp6_addr_from_literal(&to, "::1", testnet_closed_port(), 0);
	ck_assert_int_eq(evudp6_transport_send(t, &to, "a", 1), 0);
	ck_assert_int_eq(evudp6_transport_send(t, &to, "b", 1), 0);
	usleep(10000);
	TESTNET_LOOP_UNTIL(base, s.errors >= 1);
	event_base_loop(base, EVLOOP_NONBLOCK);
	ck_assert_int_eq(s.errors, 1);
	ck_assert_int_eq(event_base_loop(base, EVLOOP_NONBLOCK), 1);
	event_base_free(base);
}
END_TEST

START_TEST(transport_shutdown_inside_callback_stops_delivery)
{
	struct event_base *base = event_base_new();
	struct seen s = {.shutdown_in_cb = true};
	struct evudp6_transport *t = server(base, &s, "[::1]:0");
	uint16_t port = evudp6_transport_port(t);
	int c = testnet_socket(AF_INET6, "::1");
	for (int i = 0; i < 4; i++)
		testnet_send(c, "::1", port, "x", 1);
	usleep(10000);
	TESTNET_LOOP_UNTIL(base, s.datagrams >= 1);
	event_base_loop(base, EVLOOP_NONBLOCK);
	ck_assert_int_eq(s.datagrams, 1);
	evudp6_transport_free(t);
	close(c);
	event_base_free(base);
}
END_TEST

struct burst {
	struct seen s;
	int timer_fires;
	int delivered_at_first_fire;
	struct event *timer;
};

static void burst_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct burst *b = arg;
	if (b->timer_fires++ == 0)
		b->delivered_at_first_fire = b->s.datagrams;
}

START_TEST(transport_burst_does_not_starve_the_base)
{
	enum { ERRORS = 20 };
	struct event_base *base = event_base_new();
	struct burst b = {0};
	struct evudp6_transport *t = NULL;
	/* Room for the whole burst in the kernel queue (forced when root). */
	struct evudp6_transport_config cfg = {
	    .size = sizeof(cfg), .bind = "[::1]:0", .rcvbuf = 32 << 20, .max_per_wakeup = 64};
	ck_assert_int_eq(evudp6_transport_new(&t, base, &cfg, on_datagram, on_error, &b.s), 0);
	ck_assert_int_eq(evudp6_transport_start(t), 0);
	uint16_t port = evudp6_transport_port(t);

	/* 10 000 datagrams when the queue can hold them (root may force the
	 * buffer size); fewer otherwise, so that none is dropped and every
	 * count below is exact. A small datagram costs under 2 KiB of
	 * buffer on loopback. */
	int rcvbuf = 0;
	socklen_t rl = sizeof(rcvbuf);
	getsockopt(evudp6_transport_fd(t), SOL_SOCKET, SO_RCVBUF, &rcvbuf, &rl);
	int n = rcvbuf / 2048 < 10000 ? rcvbuf / 2048 : 10000;
	ck_assert_int_ge(n, 100);
	if (n < 10000)
		printf("transport_burst: SO_RCVBUF is %d, burst of %d datagrams (10000 needs root)\n", rcvbuf,
		       n);
	/* About 30 ms of callback work in all: a 10 ms timer must get its
	 * turn in the middle of it. */
	b.s.spin_ns = 30000000L / n;

	/* ICMP errors are rate limited per host (50 burst): stay below. */
	struct evudp6_addr dead;
	evudp6_addr_from_literal(&dead, "::1", testnet_closed_port(), 0);
	for (int i = 0; i < ERRORS; i++)
		ck_assert_int_eq(evudp6_transport_send(t, &dead, "e", 1), 0);
	int c = testnet_socket(AF_INET6, "::1");
	for (int i = 0; i < n; i++)
		testnet_send(c, "::1", port, &i, sizeof(i));

	b.timer = event_new(base, -1, EV_PERSIST, burst_timer, &b);
	struct timeval ten_ms = {0, 10000};
	event_add(b.timer, &ten_ms);
	for (int i = 0; i < 500 && !(b.s.datagrams == n && b.s.errors == ERRORS && b.timer_fires > 0); i++)
		event_base_loop(base, EVLOOP_ONCE);

	struct evudp6_transport_stats st;
	evudp6_transport_stats(t, &st, sizeof(st));
	ck_assert_int_eq(b.s.datagrams, n);
	ck_assert_uint_eq(st.datagrams_in, (uint64_t)n);
	ck_assert_uint_eq(st.rxq_overflow, 0);
	ck_assert_int_eq(b.s.errors, ERRORS);
	ck_assert_int_ge(b.timer_fires, 1);
	/* The timer ran while the burst was being read, not after it. */
	ck_assert_int_gt(b.delivered_at_first_fire, 0);
	ck_assert_int_lt(b.delivered_at_first_fire, n);
	ck_assert_uint_gt(st.wakeups_bounded, 0);
	ck_assert_uint_ge(st.wakeups, (uint64_t)(n + ERRORS) / 64);
	event_free(b.timer);
	close(c);
	evudp6_transport_free(t);
	event_base_free(base);
}
END_TEST

START_TEST(transport_rejects_bad_bind_and_config)
{
	struct event_base *base = event_base_new();
	struct seen s = {0};
	struct evudp6_transport *t = NULL;
	struct evudp6_transport_config cfg = {.size = sizeof(cfg), .bind = "[::1"};
	ck_assert_int_eq(evudp6_transport_new(&t, base, &cfg, on_datagram, on_error, &s), 0);
	ck_assert_int_eq(evudp6_transport_start(t), -EVUDP6_E_HOST_BRACKET);
	evudp6_transport_free(t);

	cfg.bind = "[::1]:99999";
	ck_assert_int_eq(evudp6_transport_new(&t, base, &cfg, on_datagram, on_error, &s), 0);
	ck_assert_int_eq(evudp6_transport_start(t), -EVUDP6_E_PORT);
	evudp6_transport_free(t);

	/* An address this host does not have. */
	cfg.bind = "[2001:db8::5]:0";
	ck_assert_int_eq(evudp6_transport_new(&t, base, &cfg, on_datagram, on_error, &s), 0);
	ck_assert_int_eq(evudp6_transport_start(t), -EADDRNOTAVAIL);
	evudp6_transport_free(t);

	cfg.bind = NULL;
	cfg.max_datagram = 70000;
	ck_assert_int_eq(evudp6_transport_new(&t, base, &cfg, on_datagram, on_error, &s), -EINVAL);
	ck_assert_ptr_null(t);
	ck_assert_int_eq(evudp6_transport_new(&t, base, NULL, NULL, NULL, NULL), -EINVAL);
	event_base_free(base);
}
END_TEST

START_TEST(transport_binds_mapped_ipv4_and_localhost)
{
	struct event_base *base = event_base_new();
	struct seen s = {.echo = true};
	struct evudp6_transport *t = server(base, &s, "127.0.0.1:0");
	struct sockaddr_in6 l;
	evudp6_transport_local(t, &l);
	char text[INET6_ADDRSTRLEN];
	inet_ntop(AF_INET6, &l.sin6_addr, text, sizeof(text));
	ck_assert_str_eq(text, "::ffff:127.0.0.1");
	int c = testnet_socket(AF_INET, "127.0.0.1");
	testnet_send(c, "127.0.0.1", evudp6_transport_port(t), "v4", 2);
	TESTNET_LOOP_UNTIL(base, s.datagrams == 1);
	expect_answer_from(c, "127.0.0.1", evudp6_transport_port(t), "v4");
	close(c);
	evudp6_transport_free(t);

	t = server(base, &s, "localhost:0");
	evudp6_transport_local(t, &l);
	inet_ntop(AF_INET6, &l.sin6_addr, text, sizeof(text));
	ck_assert(strcmp(text, "::1") == 0 || strcmp(text, "::ffff:127.0.0.1") == 0);
	evudp6_transport_free(t);
	event_base_free(base);
}
END_TEST

START_TEST(transport_multicast_options_on_one_socket)
{
	struct event_base *base = event_base_new();
	struct seen s = {0};
	struct evudp6_transport *t = server(base, &s, "[::]:0");
	unsigned int lo = if_nametoindex("lo");
	ck_assert_int_eq(evudp6_transport_set_multicast_hops(t, 3), 0);
	ck_assert_int_eq(evudp6_transport_set_multicast_loop(t, true), 0);
	ck_assert_int_eq(evudp6_transport_set_unicast_hops(t, 64), 0);
	ck_assert_int_eq(evudp6_transport_set_multicast_hops(t, 256), -EINVAL);
	int v = 0;
	socklen_t l = sizeof(v);
	getsockopt(evudp6_transport_fd(t), IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &v, &l);
	ck_assert_int_eq(v, 3);
	getsockopt(evudp6_transport_fd(t), IPPROTO_IP, IP_MULTICAST_TTL, &v, &l);
	ck_assert_int_eq(v, 3);

	struct in6_addr g;
	inet_pton(AF_INET6, "::1", &g);
	ck_assert_int_eq(evudp6_transport_join(t, &g, lo), -EINVAL);
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &g);
	ck_assert_int_eq(evudp6_transport_join(t, &g, lo), -EINVAL);
	/* An interface that does not exist: the kernel's error comes back. */
	inet_pton(AF_INET6, "ff02::fd", &g);
	ck_assert_int_eq(evudp6_transport_join(t, &g, 999999), -ENODEV);
	evudp6_transport_free(t);
	event_base_free(base);
}
END_TEST

/* (The one warning this causes is checked in check_log.) */
START_TEST(transport_delivers_without_pktinfo_local_unknown)
{
	struct event_base *base = event_base_new();
	struct seen s = {0};
	struct evudp6_transport *t = server(base, &s, "[::1]:0");
	/* Take the option away behind the transport's back: the kernel then
	 * sends no pktinfo, as an unexpected kernel might. */
	int off = 0;
	ck_assert_int_eq(
	    setsockopt(evudp6_transport_fd(t), IPPROTO_IPV6, IPV6_RECVPKTINFO, &off, sizeof(off)), 0);
	int c = testnet_socket(AF_INET6, "::1");
	testnet_send(c, "::1", evudp6_transport_port(t), "a", 1);
	testnet_send(c, "::1", evudp6_transport_port(t), "b", 1);
	TESTNET_LOOP_UNTIL(base, s.datagrams == 2);

	ck_assert_int_eq(s.datagrams, 2);
	ck_assert(!s.remote.has_local);
	struct evudp6_transport_stats st;
	evudp6_transport_stats(t, &st, sizeof(st));
	ck_assert_uint_eq(st.no_pktinfo, 2);
	close(c);
	evudp6_transport_free(t);
	event_base_free(base);
}
END_TEST

/* ------------------------------------------------ a socket the caller made */

static int int_opt(int fd, int level, int name)
{
	int v = -1;
	socklen_t len = sizeof(v);
	ck_assert_int_eq(getsockopt(fd, level, name, &v, &len), 0);
	return v;
}

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1;
}

START_TEST(transport_adopts_bound_socket_with_every_option)
{
	/* Made as a caller would: blocking, inheritable, dual stack. */
	int fd = socket(AF_INET6, SOCK_DGRAM, 0);
	ck_assert_int_ge(fd, 0);
	int zero = 0;
	ck_assert_int_eq(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)), 0);
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT};
	socklen_t sl = sizeof(sa);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);

	struct event_base *base = event_base_new();
	struct seen s = {0};
	struct evudp6_transport *t = NULL;
	ck_assert_int_eq(evudp6_transport_new_from_fd(&t, base, fd, NULL, on_datagram, on_error, &s), 0);
	ck_assert_int_eq(evudp6_transport_fd(t), fd);
	ck_assert_int_eq(evudp6_transport_start(t), 0);
	ck_assert_uint_eq(evudp6_transport_port(t), ntohs(sa.sin6_port));
	ck_assert_int_eq(evudp6_transport_start(t), -EVUDP6_E_STATE);
	ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
	ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	ck_assert_int_eq(int_opt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO), 1);
	ck_assert_int_eq(int_opt(fd, IPPROTO_IPV6, IPV6_RECVERR), 1);
	ck_assert_int_eq(int_opt(fd, IPPROTO_IP, IP_RECVERR), 1);
	ck_assert_int_eq(int_opt(fd, SOL_SOCKET, SO_RXQ_OVFL), 1);

	/* Both families, with the local address of each datagram. */
	int c6 = testnet_socket(AF_INET6, "::1"), c4 = testnet_socket(AF_INET, "127.0.0.1");
	char lbuf[INET6_ADDRSTRLEN];
	testnet_send(c6, "::1", ntohs(sa.sin6_port), "six", 3);
	TESTNET_LOOP_UNTIL(base, s.datagrams == 1);
	ck_assert_int_eq(s.datagrams, 1);
	local_text(&s.remote, lbuf);
	ck_assert_str_eq(lbuf, "::1");
	testnet_send(c4, "127.0.0.1", ntohs(sa.sin6_port), "four", 4);
	TESTNET_LOOP_UNTIL(base, s.datagrams == 2);
	ck_assert_int_eq(s.datagrams, 2);
	local_text(&s.remote, lbuf);
	ck_assert_str_eq(lbuf, "::ffff:127.0.0.1");
	/* And ICMP errors from the error queue. */
	struct evudp6_addr to;
	ck_assert_int_eq(evudp6_addr_from_literal(&to, "::1", testnet_closed_port(), 0), 0);
	ck_assert_int_eq(evudp6_transport_send(t, &to, "x", 1), 0);
	TESTNET_LOOP_UNTIL(base, s.errors == 1);
	ck_assert_int_eq(s.errors, 1);
	ck_assert_int_eq(s.err, -ECONNREFUSED);
	ck_assert(s.has_icmp);

	evudp6_transport_free(t);
	ck_assert(!fd_open(fd)); /* the transport owned it */
	close(c6);
	close(c4);
	event_base_free(base);
}
END_TEST

/* Each refusal leaves the caller's socket open and untouched. */
static void expect_refused(struct event_base *base, int fd, const struct evudp6_transport_config *cfg,
                           int want)
{
	struct seen s = {0};
	struct evudp6_transport *t = (struct evudp6_transport *)&s; /* must be reset to NULL */
	int fl = fcntl(fd, F_GETFL);
	ck_assert_int_eq(evudp6_transport_new_from_fd(&t, base, fd, cfg, on_datagram, on_error, &s), want);
	ck_assert_ptr_null(t);
	ck_assert(fd_open(fd));
	ck_assert_int_eq(fcntl(fd, F_GETFL), fl);
	close(fd);
}

static int bound(int family, int type, int proto)
{
	int fd = socket(family, type, proto);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_storage ss = {.ss_family = (sa_family_t)family};
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&ss,
	                      family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in)),
	                 0);
	return fd;
}

START_TEST(transport_adopt_refuses_unsuitable_sockets)
{
	struct event_base *base = event_base_new();
	expect_refused(base, bound(AF_INET, SOCK_DGRAM, 0), NULL, -EAFNOSUPPORT);
	expect_refused(base, bound(AF_INET6, SOCK_STREAM, 0), NULL, -EPROTOTYPE);
	int lite = socket(AF_INET6, SOCK_DGRAM, IPPROTO_UDPLITE);
	if (lite >= 0) {
		close(lite);
		expect_refused(base, bound(AF_INET6, SOCK_DGRAM, IPPROTO_UDPLITE), NULL, -EPROTOTYPE);
	}
	int unbound = socket(AF_INET6, SOCK_DGRAM, 0);
	ck_assert_int_ge(unbound, 0);
	expect_refused(base, unbound, NULL, -EVUDP6_E_NOT_BOUND);
	int conn = bound(AF_INET6, SOCK_DGRAM, 0);
	struct sockaddr_in6 peer = {.sin6_family = AF_INET6,
	                            .sin6_addr = IN6ADDR_LOOPBACK_INIT,
	                            .sin6_port = htons(testnet_closed_port())};
	ck_assert_int_eq(connect(conn, (struct sockaddr *)&peer, sizeof(peer)), 0);
	expect_refused(base, conn, NULL, -EISCONN);
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	close(p[1]);
	expect_refused(base, p[0], NULL, -ENOTSOCK);
	struct evudp6_transport_config cfg = {.size = sizeof(cfg), .bind = "[::1]:0"};
	expect_refused(base, bound(AF_INET6, SOCK_DGRAM, 0), &cfg, -EINVAL);
	struct evudp6_transport *t = NULL;
	ck_assert_int_eq(evudp6_transport_new_from_fd(&t, base, -1, NULL, on_datagram, NULL, NULL), -EBADF);
	int gone = bound(AF_INET6, SOCK_DGRAM, 0);
	close(gone);
	ck_assert_int_eq(evudp6_transport_new_from_fd(&t, base, gone, NULL, on_datagram, NULL, NULL), -EBADF);
	ck_assert_ptr_null(t);
	event_base_free(base);
}
END_TEST

/* ------------------------------------------------ traffic class */

/* Receive one datagram and return the traffic class (IPv6) or TOS byte
 * (IPv4) the kernel reports for it. */
static int recv_tclass(int fd)
{
	char data[64];
	union {
		struct cmsghdr align;
		uint8_t b[256];
	} ctrl;
	struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl.b, .msg_controllen = sizeof(ctrl.b)};
	ck_assert_int_ge(recvmsg(fd, &mh, 0), 0);
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_TCLASS) {
			int v;
			memcpy(&v, CMSG_DATA(c), sizeof(v));
			return v;
		}
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS)
			return *(const uint8_t *)CMSG_DATA(c);
	}
	return -1;
}

START_TEST(transport_traffic_class_marks_ipv6_and_ipv4)
{
	struct event_base *base = event_base_new();
	struct seen s = {0};
	struct evudp6_transport *t = server(base, &s, "[::]:0");
	int r6 = testnet_socket(AF_INET6, "::1"), r4 = testnet_socket(AF_INET, "127.0.0.1");
	int one = 1;
	ck_assert_int_eq(setsockopt(r6, IPPROTO_IPV6, IPV6_RECVTCLASS, &one, sizeof(one)), 0);
	ck_assert_int_eq(setsockopt(r4, IPPROTO_IP, IP_RECVTOS, &one, sizeof(one)), 0);
	struct sockaddr_in6 a6;
	struct sockaddr_in a4;
	socklen_t l6 = sizeof(a6), l4 = sizeof(a4);
	ck_assert_int_eq(getsockname(r6, (struct sockaddr *)&a6, &l6), 0);
	ck_assert_int_eq(getsockname(r4, (struct sockaddr *)&a4, &l4), 0);
	struct evudp6_addr to6, to4;
	ck_assert_int_eq(evudp6_addr_from_literal(&to6, "::1", ntohs(a6.sin6_port), 0), 0);
	ck_assert_int_eq(evudp6_addr_from_literal(&to4, "127.0.0.1", ntohs(a4.sin_port), 0), 0);

	const int classes[] = {0, 0xb8 /* DSCP EF */, 0x28 /* AF11 */, -1};
	for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
		int want = classes[i] < 0 ? 0 : classes[i];
		if (i > 0)
			ck_assert_int_eq(evudp6_transport_set_traffic_class(t, classes[i]), 0);
		ck_assert_int_eq(evudp6_transport_send(t, &to6, "6", 1), 0);
		ck_assert_int_eq(evudp6_transport_send(t, &to4, "4", 1), 0);
		ck_assert_int_eq(recv_tclass(r6), want);
		ck_assert_int_eq(recv_tclass(r4), want);
	}
	ck_assert_int_eq(evudp6_transport_set_traffic_class(t, 256), -EINVAL);
	ck_assert_int_eq(evudp6_transport_set_traffic_class(t, -2), -EINVAL);
	close(r6);
	close(r4);
	evudp6_transport_shutdown(t, NULL, NULL);
	ck_assert_int_eq(evudp6_transport_set_traffic_class(t, 0xb8), -EVUDP6_E_SHUTDOWN);
	evudp6_transport_free(t);
	event_base_free(base);
}
END_TEST

static Suite *transport_suite(void)
{
	Suite *s = suite_create("transport");
	TCase *tc = tcase_create("loopback");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, transport_serves_ipv6_and_ipv4_on_one_socket);
	tcase_add_test(tc, transport_answers_from_request_destination);
	tcase_add_test(tc, transport_reports_icmp6_port_unreachable_at_once);
	tcase_add_test(tc, transport_reports_icmp4_port_unreachable_at_once);
	tcase_add_test(tc, transport_send_error_returned_and_reported);
	tcase_add_test(tc, transport_drops_and_counts_oversized_datagram);
	tcase_add_test(tc, transport_delivers_nothing_before_start);
	tcase_add_test(tc, transport_calls_nothing_after_shutdown);
	tcase_add_test(tc, transport_free_inside_datagram_callback_is_safe);
	tcase_add_test(tc, transport_free_inside_error_callback_is_safe);
	tcase_add_test(tc, transport_shutdown_inside_callback_stops_delivery);
	tcase_add_test(tc, transport_burst_does_not_starve_the_base);
	tcase_add_test(tc, transport_rejects_bad_bind_and_config);
	tcase_add_test(tc, transport_binds_mapped_ipv4_and_localhost);
	tcase_add_test(tc, transport_multicast_options_on_one_socket);
	tcase_add_test(tc, transport_delivers_without_pktinfo_local_unknown);
	tcase_add_test(tc, transport_adopts_bound_socket_with_every_option);
	tcase_add_test(tc, transport_adopt_refuses_unsuitable_sockets);
	tcase_add_test(tc, transport_traffic_class_marks_ipv6_and_ipv4);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(transport_suite());
}
