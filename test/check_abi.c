/*
 * The size convention of caller-allocated structs, seen from a binary
 * built against an earlier, shorter layout: such a "previous" layout is
 * declared here as the current one without its last field(s), and passed
 * to the library exactly as an old binary would pass it. The library
 * must read no byte past the caller's size (bytes after it are poison),
 * give the missing fields their defaults, and fill out-structs only up to
 * the caller's size.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include <evudp6.h>

#include "testnet.h"
#include "testutil.h"

/* A transport configuration as built before send_batch was appended. */
struct transport_config_prev {
	size_t size;
	const char *bind;
	bool reuseport;
	int rcvbuf;
	int sndbuf;
	size_t max_datagram;
	unsigned int batch;
	unsigned int max_per_wakeup;
};
_Static_assert(sizeof(struct transport_config_prev) == offsetof(struct evudp6_transport_config, send_batch),
               "previous transport layout is a prefix of the current one");

/* Messenger configuration without max_message. */
struct messenger_config_prev {
	size_t size;
	unsigned int ack_timeout_ms;
	double ack_random_factor;
	unsigned int max_retransmit, nstart, leisure_ms, exchange_lifetime_ms, non_lifetime_ms,
	    response_timeout_ms, multicast_wait_ms, empty_ack_delay_ms;
	size_t dedup_cap;
	size_t max_requests;
};
_Static_assert(sizeof(struct messenger_config_prev) == offsetof(struct evudp6_messenger_config, max_message),
               "previous messenger layout is a prefix of the current one");

/* Messenger counters of 0.1, before handed_on. */
#define MESSENGER_STATS_PREV offsetof(struct evudp6_messenger_stats, handed_on)
/* Transport counters before rxq_overflow. */
#define TRANSPORT_STATS_PREV offsetof(struct evudp6_transport_stats, rxq_overflow)

#define POISON 0xa5

static int received;

static void count_datagram(struct evudp6_transport *t, const uint8_t *data, size_t len,
                           const struct evudp6_addr *remote, void *arg)
{
	(void)t;
	(void)data;
	(void)len;
	(void)remote;
	(void)arg;
	received++;
}

static bool all_bytes(const void *p, size_t n, int v)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i] != v)
			return false;
	return true;
}

START_TEST(abi_transport_accepts_previous_config_layout)
{
	/* Poison past the old layout: read as send_batch it would be
	 * 0xa5a5a5a5, far above the 1024 allowed, and refused. */
	union {
		struct transport_config_prev p;
		unsigned char raw[sizeof(struct evudp6_transport_config) + 64];
	} u;
	memset(u.raw, POISON, sizeof(u.raw));
	ck_assert_int_eq(evudp6_transport_config_init((struct evudp6_transport_config *)&u.p, sizeof(u.p)),
	                 0);
	ck_assert_uint_eq(u.p.size, sizeof(u.p));
	ck_assert_ptr_null(u.p.bind);
	ck_assert_uint_eq(u.p.max_datagram, 0);
	ck_assert(all_bytes(u.raw + sizeof(u.p), sizeof(u.raw) - sizeof(u.p), POISON));
	u.p.bind = "[::1]:0";
	u.p.max_datagram = 100;

	struct event_base *base = event_base_new();
	struct evudp6_transport *t = NULL;
	received = 0;
	ck_assert_int_eq(evudp6_transport_new(&t, base, (const struct evudp6_transport_config *)&u.p,
	                                      count_datagram, NULL, NULL),
	                 0);
	ck_assert_int_eq(evudp6_transport_start(t), 0);
	/* The fields the old binary set are honoured: a 101-byte datagram is
	 * over its max_datagram. */
	int c = testnet_socket(AF_INET6, "::1");
	uint8_t big[101] = {0};
	testnet_send(c, "::1", evudp6_transport_port(t), big, 100);
	testnet_send(c, "::1", evudp6_transport_port(t), big, 101);
	testnet_send(c, "::1", evudp6_transport_port(t), big, 1);
	struct evudp6_transport_stats st;
	TESTNET_LOOP_UNTIL(base, (evudp6_transport_stats(t, &st, sizeof(st)), st.truncated + received == 3));
	ck_assert_int_eq(received, 2);
	ck_assert_uint_eq(st.truncated, 1);
	close(c);
	evudp6_transport_free(t);
	event_base_free(base);
}
END_TEST

START_TEST(abi_config_refuses_size_zero_and_unaligned)
{
	struct event_base *base = event_base_new();
	struct evudp6_transport *t = NULL;
	/* Zero-initialised without a size: never initialised. */
	struct evudp6_transport_config zero = {.bind = "[::1]:0"};
	ck_assert_int_eq(evudp6_transport_new(&t, base, &zero, count_datagram, NULL, NULL), -EINVAL);
	ck_assert_ptr_null(t);
	struct evudp6_transport_config c = {.size = 20, .bind = "[::1]:0"};
	ck_assert_int_eq(evudp6_transport_new(&t, base, &c, count_datagram, NULL, NULL), -EINVAL);
	ck_assert_int_eq(evudp6_transport_config_init(&c, sizeof(size_t) - 1), -EINVAL);
	ck_assert_int_eq(evudp6_transport_config_init(&c, sizeof(c) + 1), -EINVAL);
	ck_assert_int_eq(evudp6_transport_config_init(NULL, sizeof(c)), -EINVAL);
	struct evudp6_messenger_config mc;
	ck_assert_int_eq(evudp6_messenger_config_init(&mc, 12), -EINVAL);
	memset(&mc, 0, sizeof(mc));
	struct evudp6_messenger *m = NULL;
	ck_assert_int_eq(evudp6_messenger_new(&m, base, NULL, &mc), -EINVAL);
	ck_assert_ptr_null(m);
	/* A designated initialiser with the size is as good as _init. */
	struct evudp6_transport_config d = {.size = sizeof(d), .bind = "[::1]:0"};
	ck_assert_int_eq(evudp6_transport_new(&t, base, &d, count_datagram, NULL, NULL), 0);
	evudp6_transport_free(t);
	event_base_free(base);
}
END_TEST

/* A binary built against a newer layout than this library knows: the
 * extra bytes are fine while they are zero (the new fields' defaults),
 * refused as soon as one is set. */
START_TEST(abi_config_from_newer_layout_needs_unknown_bytes_zero)
{
	union {
		struct evudp6_transport_config c;
		unsigned char raw[sizeof(struct evudp6_transport_config) + 16];
	} u;
	memset(u.raw, POISON, sizeof(u.raw));
	ck_assert_int_eq(evudp6_transport_config_init(&u.c, sizeof(u.raw)), 0);
	ck_assert_uint_eq(u.c.size, sizeof(u.raw));
	ck_assert(all_bytes(u.raw + sizeof(u.c), 16, 0));
	u.c.bind = "[::1]:0";
	struct event_base *base = event_base_new();
	struct evudp6_transport *t = NULL;
	ck_assert_int_eq(evudp6_transport_new(&t, base, &u.c, count_datagram, NULL, NULL), 0);
	evudp6_transport_free(t);
	u.raw[sizeof(u.c) + 15] = 1;
	ck_assert_int_eq(evudp6_transport_new(&t, base, &u.c, count_datagram, NULL, NULL), -EINVAL);
	ck_assert_ptr_null(t);

	union {
		struct evudp6_messenger_config c;
		unsigned char raw[sizeof(struct evudp6_messenger_config) + 8];
	} mu;
	ck_assert_int_eq(evudp6_messenger_config_init(&mu.c, sizeof(mu.raw)), 0);
	struct evudp6_messenger *m = NULL;
	ck_assert_int_eq(evudp6_messenger_new(&m, base, NULL, &mu.c), 0);
	evudp6_messenger_free(m);
	mu.raw[sizeof(mu.c)] = 1;
	ck_assert_int_eq(evudp6_messenger_new(&m, base, NULL, &mu.c), -EINVAL);
	event_base_free(base);
}
END_TEST

static void ignore_response(struct evudp6_request *r, int err, const struct evudp6_msg *rsp,
                            const struct evudp6_addr *remote, const struct evudp6_icmp *icmp, void *arg)
{
	(void)r;
	(void)err;
	(void)rsp;
	(void)remote;
	(void)icmp;
	(void)arg;
}

static int request_with_payload(struct evudp6_messenger *m, const struct evudp6_addr *to, size_t len)
{
	static uint8_t payload[2048];
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, EVUDP6_NON, EVUDP6_PUT, 0);
	evudp6_msg_builder_set_payload(&b, payload, len);
	struct evudp6_request *r = NULL;
	int rc = evudp6_messenger_request(m, to, &b, 0, ignore_response, NULL, &r);
	if (rc == 0)
		evudp6_request_cancel(r);
	return rc;
}

START_TEST(abi_messenger_accepts_previous_config_layout)
{
	/* Zeros past the old layout: read as max_message they would be 0,
	 * below the 16 allowed, and refused. */
	union {
		struct messenger_config_prev p;
		unsigned char raw[sizeof(struct evudp6_messenger_config) + 64];
	} u;
	memset(u.raw, 0, sizeof(u.raw));
	memset(u.raw, POISON, sizeof(u.p));
	ck_assert_int_eq(evudp6_messenger_config_init((struct evudp6_messenger_config *)&u.p, sizeof(u.p)),
	                 0);
	ck_assert_uint_eq(u.p.size, sizeof(u.p));
	ck_assert_uint_eq(u.p.ack_timeout_ms, EVUDP6_MESSENGER_DEFAULT_ACK_TIMEOUT_MS);
	ck_assert_uint_eq(u.p.max_requests, EVUDP6_MESSENGER_DEFAULT_MAX_REQUESTS);
	ck_assert(all_bytes(u.raw + sizeof(u.p), sizeof(u.raw) - sizeof(u.p), 0));
	u.p.max_requests = 1;

	struct event_base *base = event_base_new();
	struct evudp6_messenger *m = NULL;
	struct evudp6_transport_config tc = {.size = sizeof(tc), .bind = "[::1]:0"};
	ck_assert_int_eq(evudp6_messenger_new(&m, base, &tc, (const struct evudp6_messenger_config *)&u.p),
	                 0);
	ck_assert_int_eq(evudp6_messenger_start(m), 0);
	struct evudp6_addr to;
	ck_assert_int_eq(evudp6_addr_from_literal(&to, "::1", testnet_closed_port(), 0), 0);
	/* max_message took its default, 1152 bytes: 4 header, 8 token, 1
	 * marker and the payload. */
	ck_assert_int_eq(request_with_payload(m, &to, 1152 - 13), 0);
	ck_assert_int_eq(request_with_payload(m, &to, 1152 - 12), -EVUDP6_E_MSG_NOSPACE);
	/* The old binary's own value holds too: one request pending at most. */
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, EVUDP6_NON, EVUDP6_GET, 0);
	ck_assert_int_eq(evudp6_messenger_request(m, &to, &b, 0, ignore_response, NULL, NULL), 0);
	evudp6_msg_builder_init(&b, EVUDP6_NON, EVUDP6_GET, 0);
	ck_assert_int_eq(evudp6_messenger_request(m, &to, &b, 0, ignore_response, NULL, NULL), -ENOBUFS);
	evudp6_messenger_free(m);
	event_base_free(base);
}
END_TEST

START_TEST(abi_stats_fill_only_the_callers_size)
{
	struct event_base *base = event_base_new();
	struct evudp6_messenger *m = NULL;
	struct evudp6_transport_config tc = {.size = sizeof(tc), .bind = "[::1]:0"};
	ck_assert_int_eq(evudp6_messenger_new(&m, base, &tc, NULL), 0);
	ck_assert_int_eq(evudp6_messenger_start(m), 0);
	struct evudp6_transport *t = evudp6_messenger_transport(m);
	int c = testnet_socket(AF_INET6, "::1");
	for (int i = 0; i < 3; i++)
		testnet_send(c, "::1", evudp6_transport_port(t), "\x40", 1); /* malformed: too short */
	struct evudp6_transport_stats full;
	TESTNET_LOOP_UNTIL(base, (evudp6_transport_stats(t, &full, sizeof(full)), full.datagrams_in == 3));

	union {
		struct evudp6_transport_stats st;
		unsigned char raw[sizeof(struct evudp6_transport_stats) + 32];
	} tu;
	memset(tu.raw, POISON, sizeof(tu.raw));
	ck_assert_int_eq(evudp6_transport_stats(t, &tu.st, TRANSPORT_STATS_PREV), (int)TRANSPORT_STATS_PREV);
	ck_assert_uint_eq(tu.st.datagrams_in, 3);
	ck_assert_uint_eq(tu.st.bytes_in, 3);
	ck_assert(all_bytes(tu.raw + TRANSPORT_STATS_PREV, sizeof(tu.raw) - TRANSPORT_STATS_PREV, POISON));
	/* A newer, larger layout: counters unknown here read as 0. */
	ck_assert_int_eq(evudp6_transport_stats(t, &tu.st, sizeof(tu.raw)), (int)sizeof(tu.st));
	ck_assert(all_bytes(tu.raw + sizeof(tu.st), sizeof(tu.raw) - sizeof(tu.st), 0));
	ck_assert_int_eq(evudp6_transport_stats(t, NULL, 8), -EINVAL);

	union {
		struct evudp6_messenger_stats st;
		unsigned char raw[sizeof(struct evudp6_messenger_stats) + 32];
	} mu;
	memset(mu.raw, POISON, sizeof(mu.raw));
	ck_assert_int_eq(evudp6_messenger_stats(m, &mu.st, MESSENGER_STATS_PREV), (int)MESSENGER_STATS_PREV);
	ck_assert_uint_eq(mu.st.malformed, 3);
	ck_assert_uint_eq(mu.st.dedup_cap, EVUDP6_MESSENGER_DEFAULT_DEDUP_CAP);
	ck_assert(all_bytes(mu.raw + MESSENGER_STATS_PREV, sizeof(mu.raw) - MESSENGER_STATS_PREV, POISON));
	ck_assert_int_eq(evudp6_messenger_stats(m, &mu.st, sizeof(mu.raw)), (int)sizeof(mu.st));
	ck_assert_uint_eq(mu.st.handed_on, 0);
	ck_assert(all_bytes(mu.raw + sizeof(mu.st), sizeof(mu.raw) - sizeof(mu.st), 0));
	close(c);
	evudp6_messenger_free(m);
	event_base_free(base);
}
END_TEST

START_TEST(abi_cmsg_parse_fills_only_the_callers_size)
{
	/* One IPV6_PKTINFO message, built as the kernel writes it. */
	union {
		struct cmsghdr align;
		unsigned char b[CMSG_SPACE(sizeof(struct in6_pktinfo))];
	} ctrl;
	memset(&ctrl, 0, sizeof(ctrl));
	struct cmsghdr *h = (struct cmsghdr *)ctrl.b;
	h->cmsg_level = IPPROTO_IPV6;
	h->cmsg_type = IPV6_PKTINFO;
	h->cmsg_len = CMSG_LEN(sizeof(struct in6_pktinfo));
	struct in6_pktinfo pi = {.ipi6_addr = IN6ADDR_LOOPBACK_INIT, .ipi6_ifindex = 1};
	memcpy(CMSG_DATA(h), &pi, sizeof(pi));
	const size_t prev = offsetof(struct evudp6_cmsg_info, has_icmp);
	union {
		struct evudp6_cmsg_info i;
		unsigned char raw[sizeof(struct evudp6_cmsg_info) + 16];
	} u;
	memset(u.raw, POISON, sizeof(u.raw));
	ck_assert_int_eq(evudp6_cmsg_parse(ctrl.b, sizeof(ctrl.b), 0, &u.i, prev), (int)prev);
	ck_assert(u.i.has_pktinfo);
	ck_assert_uint_eq(u.i.ifindex, 1);
	ck_assert(all_bytes(u.raw + prev, sizeof(u.raw) - prev, POISON));
	ck_assert_int_eq(evudp6_cmsg_parse(ctrl.b, sizeof(ctrl.b), 0, &u.i, sizeof(u.raw)), (int)sizeof(u.i));
	ck_assert(!u.i.has_icmp);
	ck_assert(all_bytes(u.raw + sizeof(u.i), 16, 0));
}
END_TEST

static Suite *abi_suite(void)
{
	Suite *s = suite_create("abi");
	TCase *tc = tcase_create("size");
	tcase_add_test(tc, abi_transport_accepts_previous_config_layout);
	tcase_add_test(tc, abi_config_refuses_size_zero_and_unaligned);
	tcase_add_test(tc, abi_config_from_newer_layout_needs_unknown_bytes_zero);
	tcase_add_test(tc, abi_messenger_accepts_previous_config_layout);
	tcase_add_test(tc, abi_stats_fill_only_the_callers_size);
	tcase_add_test(tc, abi_cmsg_parse_fills_only_the_callers_size);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(abi_suite());
}
