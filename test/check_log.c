/*
 * Library log messages: they reach the application's callback and never
 * the process's standard error, on a real transport that loses its
 * pktinfo (the one warning the library has today).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include <evudp6.h>

#include "testnet.h"
#include "testutil.h"

struct logged {
	int calls;
	int severity;
	char msg[512];
};

static void on_log(int severity, const char *msg, void *arg)
{
	struct logged *l = arg;
	l->calls++;
	l->severity = severity;
	snprintf(l->msg, sizeof(l->msg), "%s", msg);
}

static void count_datagram(struct evudp6_transport *t, const uint8_t *data, size_t len,
                           const struct evudp6_addr *remote, void *arg)
{
	(void)t;
	(void)data;
	(void)len;
	(void)remote;
	++*(int *)arg;
}

/* Standard error goes into a non-blocking pipe while a test runs. */
struct stderr_capture {
	int pipe[2];
	int saved;
};

static void stderr_capture_start(struct stderr_capture *c)
{
	fflush(stderr);
	ck_assert_int_eq(pipe(c->pipe), 0);
	ck_assert_int_eq(fcntl(c->pipe[0], F_SETFL, O_NONBLOCK), 0);
	c->saved = dup(2);
	ck_assert_int_ge(c->saved, 0);
	ck_assert_int_eq(dup2(c->pipe[1], 2), 2);
}

/* Stop capturing; returns the number of bytes written to stderr. */
static ssize_t stderr_capture_end(struct stderr_capture *c, char *buf, size_t len)
{
	fflush(stderr);
	dup2(c->saved, 2);
	close(c->saved);
	close(c->pipe[1]);
	ssize_t n = read(c->pipe[0], buf, len - 1);
	close(c->pipe[0]);
	if (n < 0 && errno == EAGAIN)
		n = 0;
	buf[n > 0 ? n : 0] = '\0';
	return n;
}

/* Five datagrams reach a transport whose socket was made to drop pktinfo
 * after the first; returns the transport's port. */
static uint16_t run_without_pktinfo(struct event_base *base, int *count)
{
	struct evudp6_transport *t = NULL;
	struct evudp6_transport_config cfg;
	evudp6_transport_config_init(&cfg, sizeof(cfg));
	cfg.bind = "[::1]:0";
	ck_assert_int_eq(evudp6_transport_new(&t, base, &cfg, count_datagram, NULL, count), 0);
	ck_assert_int_eq(evudp6_transport_start(t), 0);
	uint16_t port = evudp6_transport_port(t);
	int c = testnet_socket(AF_INET6, "::1");
	testnet_send(c, "::1", port, "a", 1);
	TESTNET_LOOP_UNTIL(base, *count == 1);
	int off = 0;
	ck_assert_int_eq(
	    setsockopt(evudp6_transport_fd(t), IPPROTO_IPV6, IPV6_RECVPKTINFO, &off, sizeof(off)), 0);
	for (int i = 0; i < 4; i++)
		testnet_send(c, "::1", port, "b", 1);
	TESTNET_LOOP_UNTIL(base, *count == 5);
	ck_assert_int_eq(*count, 5);
	struct evudp6_transport_stats st;
	ck_assert_int_eq(evudp6_transport_stats(t, &st, sizeof(st)), (int)sizeof(st));
	ck_assert_uint_eq(st.no_pktinfo, 4);
	close(c);
	evudp6_transport_free(t);
	return port;
}

START_TEST(log_warning_reaches_callback_once_not_stderr)
{
	struct logged l = {0};
	struct stderr_capture cap;
	char err[1024];
	int count = 0;
	struct event_base *base = event_base_new();

	evudp6_log_set_cb(on_log, &l);
	stderr_capture_start(&cap);
	uint16_t port = run_without_pktinfo(base, &count);
	ssize_t n = stderr_capture_end(&cap, err, sizeof(err));
	evudp6_log_set_cb(NULL, NULL);

	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(l.calls, 1);
	ck_assert_int_eq(l.severity, EVUDP6_LOG_WARN);
	char want[128];
	snprintf(want, sizeof(want), "datagram without IPV6_PKTINFO on port %u", port);
	ck_assert_ptr_nonnull(strstr(l.msg, want));
	ck_assert_ptr_null(strchr(l.msg, '\n'));
	event_base_free(base);
}
END_TEST

START_TEST(log_default_is_silent_on_stderr)
{
	struct stderr_capture cap;
	char err[1024];
	int count = 0;
	struct event_base *base = event_base_new();

	stderr_capture_start(&cap);
	run_without_pktinfo(base, &count);
	ssize_t n = stderr_capture_end(&cap, err, sizeof(err));
	ck_assert_msg(n == 0, "the library wrote to stderr: %s", err);
	event_base_free(base);
}
END_TEST

START_TEST(log_callback_cleared_with_null_gets_nothing)
{
	struct logged l = {0};
	int count = 0;
	struct event_base *base = event_base_new();

	evudp6_log_set_cb(on_log, &l);
	evudp6_log_set_cb(NULL, NULL);
	run_without_pktinfo(base, &count);
	ck_assert_int_eq(l.calls, 0);
	event_base_free(base);
}
END_TEST

/* Each transport warns once, not once per process. */
START_TEST(log_warning_is_once_per_transport)
{
	struct logged l = {0};
	int count = 0;
	struct event_base *base = event_base_new();

	evudp6_log_set_cb(on_log, &l);
	run_without_pktinfo(base, &count);
	count = 0;
	run_without_pktinfo(base, &count);
	evudp6_log_set_cb(NULL, NULL);
	ck_assert_int_eq(l.calls, 2);
	event_base_free(base);
}
END_TEST

static Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("log");
	tcase_add_test(tc, log_warning_reaches_callback_once_not_stderr);
	tcase_add_test(tc, log_default_is_silent_on_stderr);
	tcase_add_test(tc, log_callback_cleared_with_null_gets_nothing);
	tcase_add_test(tc, log_warning_is_once_per_transport);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(log_suite());
}
