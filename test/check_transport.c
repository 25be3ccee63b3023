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
#include "transport-internal.h"

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
	size_t echo_len; /* with echo: answer this many bytes, the request's first 4 leading */
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
	if (s->echo && s->echo_len) {
		uint8_t big[2048] = {0};
		struct evudp6_addr to;
		evudp6_addr_response(remote, &to);
		memcpy(big, data, len < 4 ? len : 4);
		int r = evudp6_transport_send(t, &to, big, s->echo_len);
		ck_assert(r == 0 || r == -EAGAIN);
	} else if (s->echo) {
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
	/* It quotes the datagram's first bytes, to tell which message it was. */
	ck_assert_uint_eq(s.quoted_len, 1);
	ck_assert_mem_eq(s.quoted, "x", 1);

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
	/* One datagram per wakeup, all in the batch's first slot: a truncated
	 * one leaves nothing behind (its flag, its lengths) for the next read
	 * of that slot. */
	for (unsigned int round = 1; round <= 3; round++) {
		testnet_send(c, "::1", port, big, 101);
		for (int i = 0; i < 200 && st.truncated < 1 + round; i++) {
			event_base_loop(base, EVLOOP_NONBLOCK);
			usleep(1000);
			evudp6_transport_stats(t, &st, sizeof(st));
		}
		ck_assert_uint_eq(st.truncated, 1 + round);
		testnet_send(c, "::1", port, big, 100);
		TESTNET_LOOP_UNTIL(base, s.datagrams == 1 + (int)round);
		ck_assert_uint_eq(s.len, 100);
		ck_assert(s.remote.has_local);
	}
	evudp6_transport_stats(t, &st, sizeof(st));
	ck_assert_uint_eq(st.datagrams_in, 4);
	ck_assert_uint_eq(st.no_pktinfo, 0);
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

/* A transport on @bind is created but cannot start: @err. */
static void expect_start_error(struct event_base *base, const char *bind, int err)
{
	struct seen s = {0};
	struct evudp6_transport *t = NULL;
	struct evudp6_transport_config cfg = {.size = sizeof(cfg), .bind = bind};
	ck_assert_int_eq(evudp6_transport_new(&t, base, &cfg, on_datagram, on_error, &s), 0);
	int r = evudp6_transport_start(t);
	ck_assert_msg(r == err, "start on %s: %s, want %s", bind, evudp6_strerror_name(r),
	              evudp6_strerror_name(err));
	ck_assert_int_eq(s.datagrams + s.errors, 0);
	evudp6_transport_free(t);
}

START_TEST(transport_rejects_bad_bind_and_config)
{
	struct event_base *base = event_base_new();
	struct seen s = {0};
	struct evudp6_transport *t = NULL;
	expect_start_error(base, "[::1", -EVUDP6_E_HOST_BRACKET);
	expect_start_error(base, "[::1]:99999", -EVUDP6_E_PORT);
	/* An address this host does not have. */
	expect_start_error(base, "[2001:db8::5]:0", -EADDRNOTAVAIL);

	struct evudp6_transport_config cfg = {.size = sizeof(cfg), .max_datagram = 70000};
	ck_assert_int_eq(evudp6_transport_new(&t, base, &cfg, on_datagram, on_error, &s), -EINVAL);
	ck_assert_ptr_null(t);
	ck_assert_int_eq(evudp6_transport_new(&t, base, NULL, NULL, NULL, NULL), -EINVAL);
	/* the send queue has a cap */
	cfg = (struct evudp6_transport_config){.size = sizeof(cfg),
	                                       .send_queue = EVUDP6_TRANSPORT_MAX_SEND_QUEUE + 1};
	ck_assert_int_eq(evudp6_transport_new(&t, base, &cfg, on_datagram, on_error, &s), -EINVAL);
	ck_assert_ptr_null(t);
	cfg.send_queue = EVUDP6_TRANSPORT_MAX_SEND_QUEUE;
	ck_assert_int_eq(evudp6_transport_new(&t, base, &cfg, on_datagram, on_error, &s), 0);
	evudp6_transport_free(t);
	event_base_free(base);
}
END_TEST

/* Point name lookups of bind at a hosts file with @text, until
 * drop_hosts(). */
static char hosts_path[64];

static void use_hosts(const char *text)
{
	snprintf(hosts_path, sizeof(hosts_path), "/tmp/evudp6-hosts-XXXXXX");
	int fd = mkstemp(hosts_path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	evudp6__hosts_file = hosts_path;
}

static void drop_hosts(void)
{
	unlink(hosts_path);
	evudp6__hosts_file = "/etc/hosts";
}

static const char *bound_text(struct evudp6_transport *t)
{
	static char text[INET6_ADDRSTRLEN];
	struct sockaddr_in6 l;
	ck_assert_int_eq(evudp6_transport_local(t, &l), 0);
	inet_ntop(AF_INET6, &l.sin6_addr, text, sizeof(text));
	return text;
}

/* An echoing transport @t answers a datagram to @addr from @addr. */
static void expect_echo_v4(struct event_base *base, struct evudp6_transport *t, struct seen *s,
                           const char *addr)
{
	int before = s->datagrams;
	int c = testnet_socket(AF_INET, "127.0.0.1");
	testnet_send(c, addr, evudp6_transport_port(t), "v4", 2);
	TESTNET_LOOP_UNTIL(base, s->datagrams == before + 1);
	expect_answer_from(c, addr, evudp6_transport_port(t), "v4");
	close(c);
}

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
	expect_echo_v4(base, t, &s, "127.0.0.1");
	evudp6_transport_free(t);

	/* A hosts file naming localhost for both families, IPv4 first: IPv6
	 * wins, whatever this machine's own /etc/hosts says. */
	use_hosts("127.0.0.1 localhost\n::1 localhost ip6-localhost\n");
	t = server(base, &s, "localhost:0");
	ck_assert_str_eq(bound_text(t), "::1");
	drop_hosts();
	evudp6_transport_free(t);
	event_base_free(base);
}
END_TEST

START_TEST(transport_bind_name_comes_from_the_hosts_file)
{
	struct event_base *base = event_base_new();
	struct seen s = {.echo = true};
	use_hosts("# ::1 commented\n"
	          "127.0.0.2\tv4only  other # trailing comment\n"
	          "2001:db8::99 farname\n"
	          "127.0.0.3 farname\n"
	          "::1 six\n"
	          "127.0.0.4 six\n");
	struct evudp6_transport *t = server(base, &s, "v4only:0");
	ck_assert_str_eq(bound_text(t), "::ffff:127.0.0.2");
	/* and it serves there */
	expect_echo_v4(base, t, &s, "127.0.0.2");
	evudp6_transport_free(t);
	/* names are case-insensitive; aliases count */
	t = server(base, &s, "OTHER:0");
	ck_assert_str_eq(bound_text(t), "::ffff:127.0.0.2");
	evudp6_transport_free(t);
	/* an address this host does not have passes to the next candidate */
	t = server(base, &s, "farname:0");
	ck_assert_str_eq(bound_text(t), "::ffff:127.0.0.3");
	evudp6_transport_free(t);
	t = server(base, &s, "six:0");
	ck_assert_str_eq(bound_text(t), "::1");
	evudp6_transport_free(t);

	/* not in the file: no DNS is asked */
	expect_start_error(base, "nosuchname.example:0", -EVUDP6_E_RESOLVE_NXDOMAIN);
	/* a zone on a name: unknown interface, or on an IPv4-only name */
	expect_start_error(base, "six%25nosuchif0:0", -EVUDP6_E_ZONE_UNKNOWN);
	expect_start_error(base, "v4only%25lo:0", -EVUDP6_E_ZONE_NOT_ALLOWED);
	drop_hosts();
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

/* ------------------------------------------- a full socket buffer (private netns) */

/* A token bucket on lo holds every datagram in the queueing discipline,
 * charged to its socket's send buffer, so a burst fills the buffer and
 * sendmsg() says EAGAIN; the bucket then drains at 8 Mbit/s and the socket
 * turns writable again. Plain loopback never says EAGAIN. */
#define NETNS_SLOW_LO                                                                                        \
	"ip link set lo up && tc qdisc replace dev lo root tbf rate 8mbit burst 1600 limit 10000000"

static struct evudp6_transport *queue_transport(struct event_base *base, struct seen *s, unsigned int cap)
{
	struct evudp6_transport *t = NULL;
	struct evudp6_transport_config cfg = {
	    .size = sizeof(cfg), .bind = "[::1]:0", .sndbuf = 4096, .send_queue = cap};
	ck_assert_int_eq(evudp6_transport_new(&t, base, &cfg, on_datagram, on_error, s), 0);
	ck_assert_int_eq(evudp6_transport_start(t), 0);
	return t;
}

static uint16_t fd_port(int fd)
{
	struct sockaddr_in6 sa;
	socklen_t sl = sizeof(sa);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	return ntohs(sa.sin6_port);
}

/* Read what has arrived at @fd without waiting; check each datagram's
 * sequence number grows; returns how many were read in all so far. */
struct drain {
	int fd;
	int n;
	uint32_t last;
	size_t len;
};

static bool drain_some(struct drain *d)
{
	uint8_t buf[2048];
	ssize_t n;
	while ((n = recv(d->fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		uint32_t seq;
		memcpy(&seq, buf, 4);
		ck_assert_uint_eq((size_t)n, d->len);
		if (d->n > 0)
			ck_assert_uint_gt(seq, d->last);
		d->last = seq;
		d->n++;
	}
	return false;
}

START_TEST(transport_full_socket_queues_sends_until_writable)
{
	ck_assert(testnet_private_netns(NETNS_SLOW_LO));
	struct event_base *base = event_base_new();
	struct seen s = {0};
	struct evudp6_transport *t = queue_transport(base, &s, 32);
	struct drain d = {.fd = testnet_socket(AF_INET6, "::1"), .len = 1000};
	struct evudp6_addr to;
	ck_assert_int_eq(evudp6_addr_from_literal(&to, "::1", fd_port(d.fd), 0), 0);

	uint8_t data[1000] = {0};
	int ok = 0, dropped = 0;
	for (uint32_t i = 0; i < 200; i++) {
		memcpy(data, &i, 4);
		int r = evudp6_transport_send(t, &to, data, sizeof(data));
		if (r == 0) {
			/* nothing accepted after the first refusal: order is kept */
			ck_assert_int_eq(dropped, 0);
			ok++;
		} else {
			ck_assert_int_eq(r, -EAGAIN);
			dropped++;
		}
	}
	struct evudp6_transport_stats st;
	evudp6_transport_stats(t, &st, sizeof(st));
	/* the socket took some, the queue exactly its 32, the rest overflowed */
	ck_assert_int_gt(dropped, 0);
	ck_assert_uint_eq(st.send_queue_overflow, (uint64_t)dropped);
	ck_assert_uint_eq(st.datagrams_out + 32, (uint64_t)ok);
	ck_assert_uint_eq(st.send_queued, 32);
	ck_assert_uint_eq(st.send_errors, 0);
	ck_assert_int_eq(s.errors, 0);

	/* as the bucket drains, EV_WRITE sends the rest: all of them, in order */
	for (int i = 0; i < 5000 && d.n < ok; i++) {
		struct timeval tv = {0, 1000};
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
		drain_some(&d);
	}
	ck_assert_int_eq(d.n, ok);
	ck_assert_uint_eq(d.last, (uint32_t)ok - 1);
	evudp6_transport_stats(t, &st, sizeof(st));
	ck_assert_uint_eq(st.datagrams_out, (uint64_t)ok);
	ck_assert_uint_eq(st.send_queue_overflow, (uint64_t)dropped);
	ck_assert_uint_eq(st.send_errors, 0);
	/* and nothing more comes */
	usleep(100000);
	drain_some(&d);
	ck_assert_int_eq(d.n, ok);
	close(d.fd);
	evudp6_transport_free(t);
	event_base_free(base);
}
END_TEST

START_TEST(transport_full_socket_queues_answers_of_a_batch)
{
	ck_assert(testnet_private_netns(NETNS_SLOW_LO));
	struct event_base *base = event_base_new();
	struct seen s = {.echo = true, .echo_len = 1000};
	struct evudp6_transport *t = queue_transport(base, &s, 16);
	struct drain d = {.fd = testnet_socket(AF_INET6, "::1"), .len = 1000};
	for (uint32_t i = 0; i < 100; i++)
		testnet_send(d.fd, "::1", evudp6_transport_port(t), &i, 4);
	for (int i = 0; i < 5000 && (s.datagrams < 100 || d.n < s.datagrams); i++) {
		struct timeval tv = {0, 1000};
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
		drain_some(&d);
		struct evudp6_transport_stats st;
		evudp6_transport_stats(t, &st, sizeof(st));
		if (s.datagrams == 100 && (uint64_t)d.n == st.datagrams_out && st.send_queued > 0 &&
		    (uint64_t)d.n + st.send_queue_overflow == 100)
			break;
	}
	struct evudp6_transport_stats st;
	evudp6_transport_stats(t, &st, sizeof(st));
	ck_assert_int_eq(s.datagrams, 100);
	/* answers that met a full socket waited; all that were not dropped for
	 * a full queue arrived, exactly once and in order */
	ck_assert_uint_gt(st.send_queued, 0);
	ck_assert_uint_eq(st.datagrams_out, (uint64_t)d.n);
	ck_assert_uint_eq((uint64_t)d.n + st.send_queue_overflow, 100);
	ck_assert_uint_eq(st.send_errors, 0);
	close(d.fd);
	evudp6_transport_free(t);
	event_base_free(base);
}
END_TEST

START_TEST(transport_bind_name_takes_its_zone)
{
	ck_assert(testnet_private_netns(NETNS_SLOW_LO));
	ck_assert_int_eq(system("ip link add zv0 type veth peer name zv1 && ip link set zv0 up && "
	                        "ip link set zv1 up && ip -6 addr add fe80::5/64 dev zv0 nodad"),
	                 0);
	unsigned int zv0 = if_nametoindex("zv0");
	ck_assert_uint_ne(zv0, 0);
	use_hosts("fe80::5 ll\nfe80::5%zv0 llz\n");
	struct event_base *base = event_base_new();
	struct seen s = {0};
	struct evudp6_transport *t = server(base, &s, "ll%25zv0:0");
	struct sockaddr_in6 l;
	evudp6_transport_local(t, &l);
	ck_assert_str_eq(bound_text(t), "fe80::5");
	ck_assert_uint_eq(l.sin6_scope_id, zv0);
	evudp6_transport_free(t);
	/* the zone written in the hosts file */
	t = server(base, &s, "llz:0");
	evudp6_transport_local(t, &l);
	ck_assert_uint_eq(l.sin6_scope_id, zv0);
	evudp6_transport_free(t);
	/* without any zone a link-local address cannot be bound */
	expect_start_error(base, "ll:0", -EINVAL);
	drop_hosts();
	event_base_free(base);
}
END_TEST

/* The tests that need a private network namespace are a program of their
 * own (test/check_transport_netns, this file built with TEST_PART_NETNS),
 * so that they show as SKIP where no namespace can be had. */
static Suite *transport_suite(bool netns)
{
	Suite *s = suite_create(netns ? "transport_netns" : "transport");
	TCase *tc = tcase_create(netns ? "netns" : "loopback");
	tcase_set_timeout(tc, 30);
	if (netns) {
		tcase_add_test(tc, transport_full_socket_queues_sends_until_writable);
		tcase_add_test(tc, transport_full_socket_queues_answers_of_a_batch);
		tcase_add_test(tc, transport_bind_name_takes_its_zone);
		suite_add_tcase(s, tc);
		return s;
	}
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
	tcase_add_test(tc, transport_bind_name_comes_from_the_hosts_file);
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
#ifdef TEST_PART_NETNS
	if (!testnet_netns_possible(NETNS_SLOW_LO))
		return testutil_skip("check_transport_netns",
		                     "no private network namespace with a tbf qdisc on lo "
		                     "(needs root or unprivileged user namespaces, iproute2 and tc)");
	return testutil_run(transport_suite(true));
#else
	return testutil_run(transport_suite(false));
#endif
}
