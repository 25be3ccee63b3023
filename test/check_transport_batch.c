/*
 * Batched sends of the transport, on real loopback sockets: answers sent
 * from inside the callbacks of a wakeup are held and leave together in one
 * sendmmsg() once the batch's callbacks have run, each with its own
 * source address, in send order; errors, shutdown and free in a callback
 * keep their meaning; cfg.send_batch 1 sends at once.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include <evudp6.h>

#include "testnet.h"
#include "testutil.h"

#define BIG 20000

struct echo {
	int datagrams;
	int errors;
	int err;
	struct evudp6_addr err_remote;
	/* behaviour switches */
	int watch_fd;          /* a client socket to look at from inside the callback */
	int answer_seen_in_cb; /* 1: the answer was readable before the callback returned */
	int big;               /* answer with BIG bytes of the request's first byte */
	int bad_source_at;     /* this datagram's answer carries a foreign source (1-based) */
	int shutdown_at;       /* shut down after answering this datagram */
	int free_at;           /* free after answering this datagram */
	struct evudp6_transport *other;
	struct evudp6_addr other_to;
};

static void on_datagram(struct evudp6_transport *t, const uint8_t *data, size_t len,
                        const struct evudp6_addr *remote, void *arg)
{
	struct echo *e = arg;
	e->datagrams++;
	struct evudp6_addr to;
	evudp6_addr_response(remote, &to);
	if (e->bad_source_at == e->datagrams) {
		struct in6_addr foreign;
		inet_pton(AF_INET6, "2001:db8::77", &foreign);
		evudp6_addr_set_local(&to, &foreign, 0);
	}
	static uint8_t big[BIG];
	if (e->big) {
		memset(big, data[0], sizeof(big));
		ck_assert_int_eq(evudp6_transport_send(t, &to, big, sizeof(big)), 0);
	} else if (e->other) {
		ck_assert_int_eq(evudp6_transport_send(e->other, &e->other_to, data, len), 0);
	} else {
		ck_assert_int_eq(evudp6_transport_send(t, &to, data, len), 0);
	}
	if (e->watch_fd >= 0) {
		/* Held answers are not on the wire yet: nothing to wait for. An
		 * answer sent at once is there within the send on loopback;
		 * allow for a slow softirq. */
		struct pollfd p = {.fd = e->watch_fd, .events = POLLIN};
		e->answer_seen_in_cb = poll(&p, 1, e->answer_seen_in_cb == -1 ? 1000 : 0) == 1;
	}
	if (e->shutdown_at == e->datagrams)
		evudp6_transport_shutdown(t, NULL, NULL);
	if (e->free_at == e->datagrams)
		evudp6_transport_free(t);
}

static void on_error(struct evudp6_transport *t, int err, const struct evudp6_icmp *icmp,
                     const struct evudp6_addr *remote, const uint8_t *quoted, size_t quoted_len, void *arg)
{
	(void)t;
	(void)icmp;
	(void)quoted;
	(void)quoted_len;
	struct echo *e = arg;
	e->errors++;
	e->err = err;
	e->err_remote = *remote;
}

static struct evudp6_transport *server(struct event_base *base, struct echo *e, unsigned int send_batch)
{
	struct evudp6_transport *t = NULL;
	struct evudp6_transport_config cfg = {
	    .size = sizeof(cfg), .bind = "[::]:0", .send_batch = send_batch};
	ck_assert_int_eq(evudp6_transport_new(&t, base, &cfg, on_datagram, on_error, e), 0);
	ck_assert_int_eq(evudp6_transport_start(t), 0);
	return t;
}

/* Receive one answer; check its bytes and the address it came from. */
static void expect_answer(int fd, const char *from, const void *data, size_t len)
{
	static uint8_t buf[BIG + 16];
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&ss, &sl);
	ck_assert_int_eq(n, (ssize_t)len);
	ck_assert_mem_eq(buf, data, len);
	char text[INET6_ADDRSTRLEN];
	if (ss.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, text, sizeof(text));
	else
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, text, sizeof(text));
	ck_assert_str_eq(text, from);
}

static void expect_nothing(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	ck_assert_int_eq(poll(&p, 1, 50), 0);
}

START_TEST(transport_holds_answers_until_the_batch_callbacks_ran)
{
	struct event_base *base = event_base_new();
	int c = testnet_socket(AF_INET6, "::1");
	struct echo e = {.watch_fd = c};
	struct evudp6_transport *t = server(base, &e, 0);
	testnet_send(c, "::1", evudp6_transport_port(t), "one", 3);
	TESTNET_LOOP_UNTIL(base, e.datagrams == 1);
	ck_assert_int_eq(e.datagrams, 1);
	ck_assert_int_eq(e.answer_seen_in_cb, 0);
	/* ... and it left as soon as the callback returned. */
	expect_answer(c, "::1", "one", 3);
	struct evudp6_transport_stats st;
	evudp6_transport_stats(t, &st, sizeof(st));
	ck_assert_uint_eq(st.datagrams_out, 1);
	ck_assert_uint_eq(st.bytes_out, 3);
	ck_assert_uint_eq(st.send_errors, 0);
	close(c);
	evudp6_transport_free(t);
	event_base_free(base);
}
END_TEST

START_TEST(transport_send_batch_1_sends_at_once)
{
	struct event_base *base = event_base_new();
	int c = testnet_socket(AF_INET6, "::1");
	struct echo e = {.watch_fd = c, .answer_seen_in_cb = -1};
	struct evudp6_transport *t = server(base, &e, 1);
	testnet_send(c, "::1", evudp6_transport_port(t), "one", 3);
	TESTNET_LOOP_UNTIL(base, e.datagrams == 1);
	ck_assert_int_eq(e.answer_seen_in_cb, 1);
	expect_answer(c, "::1", "one", 3);
	close(c);
	evudp6_transport_free(t);
	event_base_free(base);
}
END_TEST

START_TEST(transport_batch_answers_in_order_each_from_its_address)
{
	struct event_base *base = event_base_new();
	struct echo e = {.watch_fd = -1};
	struct evudp6_transport *t = server(base, &e, 0);
	uint16_t port = evudp6_transport_port(t);
	int c4 = testnet_socket(AF_INET, "127.0.0.1"), c6 = testnet_socket(AF_INET6, "::1");
	/* All queued before the loop runs: a wakeup reads them as one batch
	 * (or, if the kernel is slow to deliver some, a few), and one
	 * sendmmsg() must give each answer its own source. */
	for (char i = 0; i < 12; i++)
		testnet_send(c4, i % 2 ? "127.0.0.3" : "127.0.0.2", port, &i, 1);
	for (char i = 0; i < 4; i++)
		testnet_send(c6, "::1", port, &i, 1);
	TESTNET_LOOP_UNTIL(base, e.datagrams == 16);
	ck_assert_int_eq(e.datagrams, 16);
	for (char i = 0; i < 12; i++)
		expect_answer(c4, i % 2 ? "127.0.0.3" : "127.0.0.2", &i, 1);
	for (char i = 0; i < 4; i++)
		expect_answer(c6, "::1", &i, 1);
	struct evudp6_transport_stats st;
	evudp6_transport_stats(t, &st, sizeof(st));
	ck_assert_uint_eq(st.datagrams_in, 16);
	ck_assert_uint_eq(st.datagrams_out, 16);
	ck_assert_uint_eq(st.bytes_out, 16);
	close(c4);
	close(c6);
	evudp6_transport_free(t);
	event_base_free(base);
}
END_TEST

START_TEST(transport_flushes_early_when_send_batch_is_full)
{
	struct event_base *base = event_base_new();
	struct echo e = {.watch_fd = -1};
	struct evudp6_transport *t = server(base, &e, 4);
	int c = testnet_socket(AF_INET6, "::1");
	for (char i = 0; i < 10; i++)
		testnet_send(c, "::1", evudp6_transport_port(t), &i, 1);
	TESTNET_LOOP_UNTIL(base, e.datagrams == 10);
	for (char i = 0; i < 10; i++)
		expect_answer(c, "::1", &i, 1);
	struct evudp6_transport_stats st;
	evudp6_transport_stats(t, &st, sizeof(st));
	ck_assert_uint_eq(st.datagrams_out, 10);
	close(c);
	evudp6_transport_free(t);
	event_base_free(base);
}
END_TEST

START_TEST(transport_flushes_early_when_held_bytes_fill_the_arena)
{
	struct event_base *base = event_base_new();
	struct echo e = {.watch_fd = -1, .big = 1};
	struct evudp6_transport *t = server(base, &e, 0);
	int c = testnet_socket(AF_INET6, "::1");
	/* Five answers of 20 000 bytes do not fit the 64 KiB arena at once. */
	for (char i = 0; i < 5; i++)
		testnet_send(c, "::1", evudp6_transport_port(t), &i, 1);
	TESTNET_LOOP_UNTIL(base, e.datagrams == 5);
	static uint8_t want[BIG];
	for (char i = 0; i < 5; i++) {
		memset(want, i, sizeof(want));
		expect_answer(c, "::1", want, sizeof(want));
	}
	struct evudp6_transport_stats st;
	evudp6_transport_stats(t, &st, sizeof(st));
	ck_assert_uint_eq(st.datagrams_out, 5);
	ck_assert_uint_eq(st.bytes_out, 5 * BIG);
	close(c);
	evudp6_transport_free(t);
	event_base_free(base);
}
END_TEST

START_TEST(transport_held_send_error_comes_through_error_callback)
{
	struct event_base *base = event_base_new();
	struct echo e = {.watch_fd = -1, .bad_source_at = 2};
	struct evudp6_transport *t = server(base, &e, 0);
	int c = testnet_socket(AF_INET6, "::1");
	for (char i = 0; i < 3; i++)
		testnet_send(c, "::1", evudp6_transport_port(t), &i, 1);
	TESTNET_LOOP_UNTIL(base, e.datagrams == 3 && e.errors == 1);
	/* The send in the callback returned 0 (checked there); the kernel's
	 * refusal of the foreign source arrives from the loop, for that
	 * remote, and the other answers of the batch still leave. */
	ck_assert_int_eq(e.errors, 1);
	ck_assert_int_eq(e.err, -EINVAL);
	char text[INET6_ADDRSTRLEN];
	inet_ntop(AF_INET6, &e.err_remote.local_addr, text, sizeof(text));
	ck_assert_str_eq(text, "2001:db8::77");
	char zero = 0, two = 2;
	expect_answer(c, "::1", &zero, 1);
	expect_answer(c, "::1", &two, 1);
	expect_nothing(c);
	struct evudp6_transport_stats st;
	evudp6_transport_stats(t, &st, sizeof(st));
	ck_assert_uint_eq(st.datagrams_out, 2);
	ck_assert_uint_eq(st.send_errors, 1);
	close(c);
	evudp6_transport_free(t);
	event_base_free(base);
}
END_TEST

START_TEST(transport_shutdown_in_callback_sends_held_answers)
{
	struct event_base *base = event_base_new();
	struct echo e = {.watch_fd = -1, .shutdown_at = 2};
	struct evudp6_transport *t = server(base, &e, 0);
	int c = testnet_socket(AF_INET6, "::1");
	for (char i = 0; i < 3; i++)
		testnet_send(c, "::1", evudp6_transport_port(t), &i, 1);
	TESTNET_LOOP_UNTIL(base, e.datagrams == 2);
	event_base_loop(base, EVLOOP_NONBLOCK);
	ck_assert_int_eq(e.datagrams, 2);
	char zero = 0, one = 1;
	expect_answer(c, "::1", &zero, 1);
	expect_answer(c, "::1", &one, 1);
	expect_nothing(c);
	struct evudp6_transport_stats st;
	evudp6_transport_stats(t, &st, sizeof(st));
	ck_assert_uint_eq(st.datagrams_out, 2);
	ck_assert_int_eq(evudp6_transport_send(t, &e.err_remote, "x", 1), -EVUDP6_E_SHUTDOWN);
	close(c);
	evudp6_transport_free(t);
	event_base_free(base);
}
END_TEST

START_TEST(transport_free_in_callback_sends_held_answers)
{
	struct event_base *base = event_base_new();
	struct echo e = {.watch_fd = -1, .free_at = 2};
	struct evudp6_transport *t = server(base, &e, 0);
	int c = testnet_socket(AF_INET6, "::1");
	for (char i = 0; i < 3; i++)
		testnet_send(c, "::1", evudp6_transport_port(t), &i, 1);
	TESTNET_LOOP_UNTIL(base, e.datagrams == 2);
	event_base_loop(base, EVLOOP_NONBLOCK);
	ck_assert_int_eq(e.datagrams, 2);
	char zero = 0, one = 1;
	expect_answer(c, "::1", &zero, 1);
	expect_answer(c, "::1", &one, 1);
	expect_nothing(c);
	close(c);
	event_base_free(base);
}
END_TEST

START_TEST(transport_send_on_another_transport_leaves_at_once)
{
	/* Holding is per transport: inside A's callback a send on B is not
	 * in a wakeup of B, so it goes out before the callback returns. */
	struct event_base *base = event_base_new();
	int c = testnet_socket(AF_INET6, "::1");
	struct echo e = {.watch_fd = c, .answer_seen_in_cb = -1};
	struct echo eb = {.watch_fd = -1};
	struct evudp6_transport *a = server(base, &e, 0);
	struct evudp6_transport *b = server(base, &eb, 0);
	struct sockaddr_in6 cs;
	socklen_t cl = sizeof(cs);
	getsockname(c, (struct sockaddr *)&cs, &cl);
	e.other = b;
	evudp6_addr_from_sockaddr(&e.other_to, (struct sockaddr *)&cs, cl);
	testnet_send(c, "::1", evudp6_transport_port(a), "via b", 5);
	TESTNET_LOOP_UNTIL(base, e.datagrams == 1);
	ck_assert_int_eq(e.answer_seen_in_cb, 1);
	expect_answer(c, "::1", "via b", 5);
	close(c);
	evudp6_transport_free(a);
	evudp6_transport_free(b);
	event_base_free(base);
}
END_TEST

START_TEST(transport_rejects_send_batch_above_1024)
{
	struct event_base *base = event_base_new();
	struct evudp6_transport *t = NULL;
	struct evudp6_transport_config cfg = {.size = sizeof(cfg), .send_batch = 1025};
	ck_assert_int_eq(evudp6_transport_new(&t, base, &cfg, on_datagram, NULL, NULL), -EINVAL);
	ck_assert_ptr_null(t);
	event_base_free(base);
}
END_TEST

static Suite *batch_suite(void)
{
	Suite *s = suite_create("transport_batch");
	TCase *tc = tcase_create("loopback");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, transport_holds_answers_until_the_batch_callbacks_ran);
	tcase_add_test(tc, transport_send_batch_1_sends_at_once);
	tcase_add_test(tc, transport_batch_answers_in_order_each_from_its_address);
	tcase_add_test(tc, transport_flushes_early_when_send_batch_is_full);
	tcase_add_test(tc, transport_flushes_early_when_held_bytes_fill_the_arena);
	tcase_add_test(tc, transport_held_send_error_comes_through_error_callback);
	tcase_add_test(tc, transport_shutdown_in_callback_sends_held_answers);
	tcase_add_test(tc, transport_free_in_callback_sends_held_answers);
	tcase_add_test(tc, transport_send_on_another_transport_leaves_at_once);
	tcase_add_test(tc, transport_rejects_send_batch_above_1024);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(batch_suite());
}
