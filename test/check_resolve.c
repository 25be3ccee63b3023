/*
 * Remote resolution on a real event_base: literals, names through an
 * in-process DNS server (libevent's evdns server on 127.0.0.1) and a
 * hosts file, route checks, cancellation, bad input.
 *
 * Run with EVUDP6_RESOLVE_NS=1 (by test/ns_resolve.sh, inside a network
 * namespace that has only IPv4 routes plus fe80::/64 on lo), it runs the
 * route-check suite instead.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/dns_struct.h>
#include <event2/event.h>

#include <evudp6/resolve.h>
#include <evudp6/transport.h>

#include "testutil.h"

/* ------------------------------------------------------------ fixture */

/* What the in-process DNS server answers for a name. */
enum answer {
	ANS_A,
	ANS_AAAA,
	ANS_A_AAAA,
	ANS_NXDOMAIN,
	ANS_EMPTY,
	ANS_SERVFAIL,
	ANS_SLOW,
	ANS_EMPTY_THEN_SILENT /* two empty answers, then none at all */
};

struct zone_entry {
	const char *name;
	enum answer ans;
	const char *a;    /* IPv4 answer */
	const char *aaaa; /* IPv6 answer */
};

/* Names used by the loopback tests: every answer routes on any host. */
static const struct zone_entry loopback_zone[] = {
    {"a-only.test", ANS_A, "127.0.0.1", NULL},
    {"dual.test", ANS_A_AAAA, "127.0.0.1", "::1"},
    {"nx.test", ANS_NXDOMAIN, NULL, NULL},
    {"empty.test", ANS_EMPTY, NULL, NULL},
    {"fail.test", ANS_SERVFAIL, NULL, NULL},
    {"slow.test", ANS_SLOW, "127.0.0.1", NULL},
    {"mute.test", ANS_EMPTY_THEN_SILENT, NULL, NULL},
    {NULL, 0, NULL, NULL},
};

/* Names used inside the IPv4-only namespace. */
static const struct zone_entry ns_zone[] = {
    {"dual.test", ANS_A_AAAA, "192.0.2.1", "2001:db8::1"},
    {"v6only.test", ANS_AAAA, NULL, "2001:db8::1"},
    {NULL, 0, NULL, NULL},
};

#define SLOW_MS 200

static struct fixture {
	struct event_base *base;
	struct evdns_base *dns;
	struct evdns_server_port *server;
	int server_fd;
	uint16_t server_port;
	const struct zone_entry *zone;
	int queries; /* questions the server saw */
	int dropped; /* questions it left unanswered */
	struct evdns_server_request *slow_req;
	struct event *slow_timer;
	int slow_answered;
	struct evudp6_resolver *r;
	char hosts[64];
} fx;

static const struct zone_entry *zone_find(const char *name)
{
	for (const struct zone_entry *z = fx.zone; z->name; z++)
		if (strcasecmp(z->name, name) == 0)
			return z;
	return NULL;
}

static void add_answers(struct evdns_server_request *req, const struct zone_entry *z)
{
	const struct evdns_server_question *q = req->questions[0];
	if (q->type == EVDNS_TYPE_A && z->a) {
		struct in_addr a;
		ck_assert_int_eq(inet_pton(AF_INET, z->a, &a), 1);
		ck_assert_int_eq(evdns_server_request_add_a_reply(req, q->name, 1, &a, 60), 0);
	}
	if (q->type == EVDNS_TYPE_AAAA && z->aaaa) {
		struct in6_addr a;
		ck_assert_int_eq(inet_pton(AF_INET6, z->aaaa, &a), 1);
		ck_assert_int_eq(evdns_server_request_add_aaaa_reply(req, q->name, 1, &a, 60), 0);
	}
}

static void slow_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	struct evdns_server_request *req = fx.slow_req;
	fx.slow_req = NULL;
	add_answers(req, zone_find(req->questions[0]->name));
	evdns_server_request_respond(req, 0);
	fx.slow_answered++;
}

static void server_cb(struct evdns_server_request *req, void *arg)
{
	(void)arg;
	ck_assert_int_eq(req->nquestions, 1);
	fx.queries++;
	const struct zone_entry *z = zone_find(req->questions[0]->name);
	if (!z) {
		evdns_server_request_respond(req, DNS_ERR_NOTEXIST);
		return;
	}
	switch (z->ans) {
	case ANS_NXDOMAIN:
		evdns_server_request_respond(req, DNS_ERR_NOTEXIST);
		return;
	case ANS_SERVFAIL:
		evdns_server_request_respond(req, DNS_ERR_SERVERFAILED);
		return;
	case ANS_EMPTY_THEN_SILENT:
		if (fx.queries > 2) {
			evdns_server_request_drop(req);
			fx.dropped++;
			return;
		}
		evdns_server_request_respond(req, 0);
		return;
	case ANS_SLOW:
		/* Answer the A question late, from a timer on the same loop;
		 * the AAAA question at once, empty. */
		if (req->questions[0]->type == EVDNS_TYPE_A) {
			ck_assert_ptr_null(fx.slow_req);
			fx.slow_req = req;
			struct timeval tv = {0, SLOW_MS * 1000};
			evtimer_add(fx.slow_timer, &tv);
			return;
		}
		evdns_server_request_respond(req, 0);
		return;
	default:
		add_answers(req, z);
		evdns_server_request_respond(req, 0);
		return;
	}
}

static void fixture_up(const struct zone_entry *zone, const char *hosts_text)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	char ns[32];

	memset(&fx, 0, sizeof(fx));
	fx.zone = zone;
	fx.base = event_base_new();
	ck_assert_ptr_nonnull(fx.base);

	fx.server_fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fx.server_fd, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fx.server_fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fx.server_fd, (struct sockaddr *)&sin, &len), 0);
	fx.server_port = ntohs(sin.sin_port);
	fx.server = evdns_add_server_port_with_base(fx.base, fx.server_fd, 0, server_cb, NULL);
	ck_assert_ptr_nonnull(fx.server);
	fx.slow_timer = evtimer_new(fx.base, slow_timer_cb, NULL);

	/* No resolv.conf: only our server, and our hosts file. */
	fx.dns = evdns_base_new(fx.base, 0);
	ck_assert_ptr_nonnull(fx.dns);
	snprintf(ns, sizeof(ns), "127.0.0.1:%u", (unsigned int)fx.server_port);
	ck_assert_int_eq(evdns_base_nameserver_ip_add(fx.dns, ns), 0);
	ck_assert_int_eq(evdns_base_set_option(fx.dns, "timeout:", "2"), 0);
	ck_assert_int_eq(evdns_base_set_option(fx.dns, "attempts:", "1"), 0);

	strcpy(fx.hosts, "/tmp/evudp6-hosts-XXXXXX");
	int hfd = mkstemp(fx.hosts);
	ck_assert_int_ge(hfd, 0);
	size_t hl = strlen(hosts_text);
	ck_assert_int_eq(write(hfd, hosts_text, hl), (ssize_t)hl);
	close(hfd);
	ck_assert_int_eq(evdns_base_load_hosts(fx.dns, fx.hosts), 0);

	ck_assert_int_eq(evudp6_resolver_new(&fx.r, fx.base, fx.dns), 0);
}

/* Let cancelled lookups and late answers drain, then free everything. */
static void fixture_down(void)
{
	struct timeval tv = {0, 20000};
	evudp6_resolver_free(fx.r);
	event_base_loopexit(fx.base, &tv);
	event_base_dispatch(fx.base);
	evdns_base_free(fx.dns, 1);
	event_base_loop(fx.base, EVLOOP_NONBLOCK);
	if (fx.slow_req)
		evdns_server_request_drop(fx.slow_req);
	evdns_close_server_port(fx.server);
	event_free(fx.slow_timer);
	close(fx.server_fd);
	event_base_free(fx.base);
	unlink(fx.hosts);
}

static void loopback_setup(void)
{
	fixture_up(loopback_zone, "127.0.0.2 hosted.test\n"
	                          "::1 hosted6.test\n"
	                          "127.0.0.3 both.test\n"
	                          "::1 both.test\n");
}

static void ns_setup(void)
{
	fixture_up(ns_zone, "2001:db8::1 hdual.test\n"
	                    "192.0.2.1 hdual.test\n"
	                    "2001:db8::1 hv6only.test\n");
}

/* ----------------------------------------------------------- results */

struct result {
	int calls;
	int rc;
	struct evudp6_addr addr;
	int ticks_at_call; /* periodic-timer ticks seen when the callback ran */
};

static int ticks;

static void done_cb(int result, const struct evudp6_addr *addr, void *arg)
{
	struct result *res = arg;
	res->calls++;
	res->rc = result;
	res->ticks_at_call = ticks;
	if (result == 0) {
		ck_assert_ptr_nonnull(addr);
		res->addr = *addr;
	} else {
		ck_assert_ptr_null(addr);
	}
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(bool *)arg = true;
}

/* Run the loop until every result has been called back, or 5 s pass. */
static void run_until_done(struct result *res, size_t n)
{
	bool late = false;
	struct event *deadline = evtimer_new(fx.base, deadline_cb, &late);
	struct timeval tv = {5, 0};
	evtimer_add(deadline, &tv);
	for (;;) {
		size_t pending = 0;
		for (size_t i = 0; i < n; i++)
			pending += res[i].calls == 0;
		if (pending == 0 || late)
			break;
		event_base_loop(fx.base, EVLOOP_ONCE);
	}
	event_free(deadline);
	ck_assert_msg(!late, "resolution did not finish within 5 s");
}

/* Run the loop for @ms milliseconds. */
static void run_for(int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	event_base_loopexit(fx.base, &tv);
	event_base_dispatch(fx.base);
}

static void assert_addr(const struct evudp6_addr *a, const char *text, uint16_t port, uint32_t scope)
{
	char got[INET6_ADDRSTRLEN];
	inet_ntop(AF_INET6, &a->remote.sin6_addr, got, sizeof(got));
	ck_assert_int_eq(a->remote.sin6_family, AF_INET6);
	ck_assert_str_eq(got, text);
	ck_assert_uint_eq(ntohs(a->remote.sin6_port), port);
	ck_assert_uint_eq(a->remote.sin6_scope_id, scope);
}

static void assert_no_local(const struct evudp6_addr *a)
{
	ck_assert(!a->has_local);
}

static void assert_interface_only_local(const struct evudp6_addr *a, unsigned int ifindex)
{
	ck_assert(a->has_local);
	ck_assert(IN6_IS_ADDR_UNSPECIFIED(&a->local_addr));
	ck_assert_uint_eq(a->local_ifindex, ifindex);
}

/* Start resolving an unresolved remote; the callback must not have run. */
static void start_remote(const char *hostport, struct result *res, struct evudp6_resolve **req)
{
	memset(res, 0, sizeof(*res));
	int rc = evudp6_resolve_remote(fx.r, hostport, done_cb, res, req);
	ck_assert_msg(rc == 0, "%s: %s", hostport, evudp6_strerror(rc));
	ck_assert_int_eq(res->calls, 0);
}

static void resolve_remote_ok(const char *hostport, struct result *res)
{
	start_remote(hostport, res, NULL);
	run_until_done(res, 1);
	ck_assert_int_eq(res->calls, 1);
	ck_assert_msg(res->rc == 0, "%s: %s", hostport, evudp6_strerror(res->rc));
}

static void resolve_remote_fails(const char *hostport, int want)
{
	struct result res;
	start_remote(hostport, &res, NULL);
	run_until_done(&res, 1);
	ck_assert_int_eq(res.calls, 1);
	ck_assert_msg(res.rc == want, "%s: got %s, want %s", hostport, evudp6_strerror_name(res.rc),
	              evudp6_strerror_name(want));
}

/* ---------------------------------------------------------- literals */

START_TEST(resolve_ipv4_literal_is_mapped_and_delivered_from_the_loop)
{
	struct result res = {0};
	ck_assert_int_eq(evudp6_resolve_remote(fx.r, "127.0.0.1", done_cb, &res, NULL), 0);
	/* Not from inside the call... */
	ck_assert_int_eq(res.calls, 0);
	/* ...but from the loop, which then has nothing left of ours. */
	ck_assert_int_eq(event_base_loop(fx.base, EVLOOP_NONBLOCK), 0);
	ck_assert_int_eq(res.calls, 1);
	ck_assert_int_eq(res.rc, 0);
	assert_addr(&res.addr, "::ffff:127.0.0.1", 5683, 0);
	assert_no_local(&res.addr);
	ck_assert_int_eq(fx.queries, 0);
}
END_TEST

START_TEST(resolve_ipv6_literal_with_port)
{
	struct result res;
	resolve_remote_ok("[::1]:5684", &res);
	assert_addr(&res.addr, "::1", 5684, 0);
	assert_no_local(&res.addr);
	resolve_remote_ok("127.0.0.1:61616", &res);
	assert_addr(&res.addr, "::ffff:127.0.0.1", 61616, 0);
	ck_assert_int_eq(fx.queries, 0);
}
END_TEST

/* A zone by name or by number selects the interface: scope id, and a
 * local part with only the interface so the transport sends through it. */
START_TEST(resolve_zone_by_name_and_number_gives_scope_and_interface_only_local)
{
	char lo[IF_NAMESIZE], text[64];
	struct result res;
	ck_assert_ptr_nonnull(if_indextoname(1, lo));
	snprintf(text, sizeof(text), "[::1%%%s]:5684", lo);
	resolve_remote_ok(text, &res);
	assert_addr(&res.addr, "::1", 5684, 1);
	assert_interface_only_local(&res.addr, 1);
	resolve_remote_ok("[::1%1]", &res);
	assert_addr(&res.addr, "::1", 5683, 1);
	assert_interface_only_local(&res.addr, 1);
}
END_TEST

static bool interface_has_link_local(unsigned int ifindex)
{
	struct ifaddrs *ifa, *i;
	bool found = false;
	ck_assert_int_eq(getifaddrs(&ifa), 0);
	for (i = ifa; i; i = i->ifa_next)
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET6 &&
		    if_nametoindex(i->ifa_name) == ifindex &&
		    IN6_IS_ADDR_LINKLOCAL(&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr))
			found = true;
	freeifaddrs(ifa);
	return found;
}

/* Linux gives lo no link-local address, so fe80::/64 has no route there:
 * the route check says so before anything is sent. */
START_TEST(resolve_link_local_literal_without_route_is_enetunreach)
{
	ck_assert_msg(!interface_has_link_local(1),
	              "lo has a link-local address here; this test assumes none");
	resolve_remote_fails("[fe80::1%1]", -ENETUNREACH);
	resolve_remote_fails("[fe80::1%lo]:5684", -ENETUNREACH);
	/* Without any zone the kernel cannot even pick an interface. */
	resolve_remote_fails("[fe80::1]", -EINVAL);
}
END_TEST

START_TEST(resolve_uri_literal)
{
	struct evudp6_uri u;
	struct result res = {0};
	ck_assert_int_eq(evudp6_uri_parse(&u, "coap://127.0.0.1:61616/x?y"), 0);
	ck_assert_int_eq(evudp6_resolve_uri(fx.r, &u, done_cb, &res, NULL), 0);
	ck_assert_int_eq(res.calls, 0);
	run_until_done(&res, 1);
	ck_assert_int_eq(res.rc, 0);
	assert_addr(&res.addr, "::ffff:127.0.0.1", 61616, 0);
	ck_assert_int_eq(evudp6_uri_parse(&u, "coap://[::1%251]/x"), 0);
	memset(&res, 0, sizeof(res));
	ck_assert_int_eq(evudp6_resolve_uri(fx.r, &u, done_cb, &res, NULL), 0);
	run_until_done(&res, 1);
	ck_assert_int_eq(res.rc, 0);
	assert_addr(&res.addr, "::1", 5683, 1);
	assert_interface_only_local(&res.addr, 1);
}
END_TEST

/* ------------------------------------------------------------- names */

START_TEST(resolve_name_with_only_a_is_mapped)
{
	struct result res;
	resolve_remote_ok("a-only.test", &res);
	assert_addr(&res.addr, "::ffff:127.0.0.1", 5683, 0);
	assert_no_local(&res.addr);
	ck_assert_int_eq(fx.queries, 2); /* A and AAAA */
}
END_TEST

START_TEST(resolve_name_with_aaaa_and_a_gives_ipv6_first)
{
	struct result res;
	resolve_remote_ok("dual.test:61616", &res);
	assert_addr(&res.addr, "::1", 61616, 0);
	assert_no_local(&res.addr);
}
END_TEST

START_TEST(resolve_nxdomain_and_nodata_are_distinct)
{
	resolve_remote_fails("nx.test", -EVUDP6_E_RESOLVE_NXDOMAIN);
	ck_assert_int_eq(fx.queries, 2); /* A and AAAA */
	/* evdns_getaddrinfo() calls "no records" a failure; one more A
	 * question tells it from a failing server. */
	resolve_remote_fails("empty.test", -EVUDP6_E_RESOLVE_NODATA);
	ck_assert_int_eq(fx.queries, 5);
	ck_assert_int_ne(EVUDP6_E_RESOLVE_NXDOMAIN, EVUDP6_E_RESOLVE_NODATA);
	ck_assert_str_ne(evudp6_strerror(-EVUDP6_E_RESOLVE_NXDOMAIN),
	                 evudp6_strerror(-EVUDP6_E_RESOLVE_NODATA));
}
END_TEST

/* The question that tells "no data" from "failure" goes unanswered: the
 * resolver gives up on it after a second, not after evdns's timeout. */
START_TEST(resolve_unanswered_classify_question_is_resolve_failed)
{
	struct timeval t0, t1;
	evutil_gettimeofday(&t0, NULL);
	resolve_remote_fails("mute.test", -EVUDP6_E_RESOLVE_FAILED);
	evutil_gettimeofday(&t1, NULL);
	ck_assert_int_eq(fx.queries, 3);
	ck_assert_int_eq(fx.dropped, 1);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_usec - t0.tv_usec) / 1000;
	ck_assert_int_lt(ms, 1900); /* evdns would wait 2 s here */
}
END_TEST

START_TEST(resolve_cancel_while_classifying)
{
	struct result res;
	struct evudp6_resolve *req = NULL;
	start_remote("mute.test", &res, &req);
	while (fx.queries < 3)
		event_base_loop(fx.base, EVLOOP_ONCE);
	ck_assert_int_eq(res.calls, 0);
	evudp6_resolve_cancel(req);
	ck_assert_int_eq(res.calls, 1);
	ck_assert_int_eq(res.rc, -EVUDP6_E_CANCELLED);
	run_for(1200); /* past the classify limit */
	ck_assert_int_eq(res.calls, 1);
}
END_TEST

START_TEST(resolve_server_failure_is_resolve_failed)
{
	resolve_remote_fails("fail.test", -EVUDP6_E_RESOLVE_FAILED);
}
END_TEST

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	ticks++;
}

/* The DNS server answers 200 ms late from a timer on the same loop; a
 * 10 ms periodic timer keeps firing meanwhile. */
START_TEST(resolve_slow_answer_does_not_block_the_loop)
{
	struct result res;
	struct event *tick = event_new(fx.base, -1, EV_PERSIST, tick_cb, NULL);
	struct timeval tv = {0, 10000};
	ticks = 0;
	event_add(tick, &tv);
	start_remote("slow.test", &res, NULL);
	run_until_done(&res, 1);
	event_free(tick);
	ck_assert_int_eq(res.rc, 0);
	assert_addr(&res.addr, "::ffff:127.0.0.1", 5683, 0);
	ck_assert_int_eq(fx.slow_answered, 1);
	/* About 20 ticks in 200 ms; a blocked loop would see one or two.
	 * Half of that leaves room for a loaded machine. */
	ck_assert_int_ge(res.ticks_at_call, 10);
}
END_TEST

START_TEST(resolve_hosts_file_is_honoured_and_answer_is_deferred)
{
	struct result res;
	/* evdns answers hosts-file names from inside evdns_getaddrinfo():
	 * the result must still come from the loop. */
	start_remote("hosted.test:5684", &res, NULL);
	ck_assert_int_eq(res.calls, 0);
	ck_assert_int_eq(event_base_loop(fx.base, EVLOOP_NONBLOCK), 0);
	ck_assert_int_eq(res.calls, 1);
	ck_assert_int_eq(res.rc, 0);
	assert_addr(&res.addr, "::ffff:127.0.0.2", 5684, 0);
	resolve_remote_ok("hosted6.test", &res);
	assert_addr(&res.addr, "::1", 5683, 0);
	resolve_remote_ok("both.test", &res);
	assert_addr(&res.addr, "::1", 5683, 0);
	ck_assert_int_eq(fx.queries, 0);
}
END_TEST

START_TEST(resolve_uri_name_uses_uri_port)
{
	struct evudp6_uri u;
	struct result res = {0};
	ck_assert_int_eq(evudp6_uri_parse(&u, "coap://DUAL.test:5684/x"), 0);
	ck_assert_int_eq(evudp6_resolve_uri(fx.r, &u, done_cb, &res, NULL), 0);
	ck_assert_int_eq(res.calls, 0);
	run_until_done(&res, 1);
	ck_assert_int_eq(res.rc, 0);
	assert_addr(&res.addr, "::1", 5684, 0);
}
END_TEST

/* An explicit zone applies to what the name resolves to. */
START_TEST(resolve_explicit_zone_applies_to_name_results)
{
	struct evudp6_uri u;
	struct result res = {0};
	memset(&u, 0, sizeof(u));
	strcpy(u.host, "dual.test");
	strcpy(u.zone, "1");
	u.port = 5683;
	ck_assert_int_eq(evudp6_resolve_uri(fx.r, &u, done_cb, &res, NULL), 0);
	run_until_done(&res, 1);
	ck_assert_int_eq(res.rc, 0);
	assert_addr(&res.addr, "::1", 5683, 1);
	assert_interface_only_local(&res.addr, 1);

	strcpy(u.host, "a-only.test");
	memset(&res, 0, sizeof(res));
	ck_assert_int_eq(evudp6_resolve_uri(fx.r, &u, done_cb, &res, NULL), 0);
	run_until_done(&res, 1);
	ck_assert_int_eq(res.rc, 0);
	assert_addr(&res.addr, "::ffff:127.0.0.1", 5683, 0);
	/* IPv4 has no scope id; the interface goes into the local part. */
	ck_assert(res.addr.has_local);
	ck_assert(IN6_IS_ADDR_V4MAPPED(&res.addr.local_addr));
	ck_assert_uint_eq(res.addr.local_addr.s6_addr32[3], 0);
	ck_assert_uint_eq(res.addr.local_ifindex, 1);
}
END_TEST

/* ---------------------------------------------------- message options */

static void msg_with(struct evudp6_msg *m, uint8_t *wire, size_t cap, const char *host, long port)
{
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 1);
	/* As a peer may send them: an empty Uri-Host or a 3-byte Uri-Port
	 * too, which the builder itself refuses. */
	static uint8_t pv[4];
	size_t pn = 0;
	if (host)
		testutil_add_raw_opt(&b, EVUDP6_OPT_URI_HOST, host, strlen(host));
	if (port >= 0) {
		for (uint32_t v = (uint32_t)port; v; v >>= 8)
			pn++;
		for (size_t i = 0; i < pn; i++)
			pv[i] = (uint8_t)((uint32_t)port >> (8 * (pn - 1 - i)));
		testutil_add_raw_opt(&b, EVUDP6_OPT_URI_PORT, pv, pn);
	}
	ck_assert_int_eq(evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_PATH, "x", 1), 0);
	ssize_t n = evudp6_msg_encode(&b, wire, cap);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(evudp6_msg_decode(m, wire, (size_t)n), 0);
}

static void resolve_msg_expect(const char *host, long port, int want_rc, const char *want_addr,
                               uint16_t want_port)
{
	struct evudp6_msg m;
	uint8_t wire[512];
	struct result res = {0};
	msg_with(&m, wire, sizeof(wire), host, port);
	int rc = evudp6_resolve_msg(fx.r, &m, done_cb, &res, NULL);
	if (rc < 0) {
		ck_assert_msg(rc == want_rc, "%s: %s", host, evudp6_strerror_name(rc));
		run_for(10);
		ck_assert_int_eq(res.calls, 0);
		return;
	}
	ck_assert_int_eq(res.calls, 0);
	run_until_done(&res, 1);
	ck_assert_msg(res.rc == want_rc, "%s: %s", host, evudp6_strerror_name(res.rc));
	if (want_rc == 0)
		assert_addr(&res.addr, want_addr, want_port, 0);
}

START_TEST(resolve_msg_uses_uri_host_and_uri_port)
{
	resolve_msg_expect("dual.test", 61617, 0, "::1", 61617);
	resolve_msg_expect("dual.test", -1, 0, "::1", 5683);
	resolve_msg_expect("127.0.0.1", 5684, 0, "::ffff:127.0.0.1", 5684);
	resolve_msg_expect("::1", -1, 0, "::1", 5683);
	resolve_msg_expect("[::1]", 1, 0, "::1", 1);
	resolve_msg_expect(NULL, 5683, -EVUDP6_E_HOST_EMPTY, NULL, 0);
	resolve_msg_expect("", -1, -EVUDP6_E_HOST_EMPTY, NULL, 0);
	resolve_msg_expect("dual.test", 65536, -EVUDP6_E_PORT, NULL, 0);
	resolve_msg_expect("[::1", -1, -EVUDP6_E_HOST_BRACKET, NULL, 0);
	resolve_msg_expect("nx.test", -1, -EVUDP6_E_RESOLVE_NXDOMAIN, NULL, 0);
}
END_TEST

/* ------------------------------------------------------ cancellation */

START_TEST(resolve_cancel_before_answer_calls_back_once)
{
	struct result res;
	struct evudp6_resolve *req = NULL;
	start_remote("slow.test", &res, &req);
	ck_assert_ptr_nonnull(req);
	run_for(20); /* the query is out, the answer 200 ms away */
	ck_assert_int_eq(fx.queries, 2);
	ck_assert_int_eq(res.calls, 0);
	evudp6_resolve_cancel(req);
	/* Synchronously, once. */
	ck_assert_int_eq(res.calls, 1);
	ck_assert_int_eq(res.rc, -EVUDP6_E_CANCELLED);
	run_for(SLOW_MS + 100);
	ck_assert_int_eq(fx.slow_answered, 1);
	ck_assert_int_eq(res.calls, 1);
}
END_TEST

START_TEST(resolve_cancel_literal_and_hosts_answers_before_delivery)
{
	struct result res[2];
	struct evudp6_resolve *req[2];
	start_remote("127.0.0.1", &res[0], &req[0]);
	start_remote("hosted.test", &res[1], &req[1]);
	evudp6_resolve_cancel(req[1]);
	evudp6_resolve_cancel(req[0]);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(res[i].calls, 1);
		ck_assert_int_eq(res[i].rc, -EVUDP6_E_CANCELLED);
	}
	run_for(20);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(res[i].calls, 1);
}
END_TEST

START_TEST(resolve_free_with_requests_in_flight_cancels_each_once)
{
	struct result res[4];
	start_remote("slow.test", &res[0], NULL);
	start_remote("dual.test", &res[1], NULL);
	start_remote("127.0.0.1", &res[2], NULL);
	start_remote("hosted.test", &res[3], NULL);
	run_for(20); /* DNS queries out; slow.test unanswered */
	ck_assert_int_eq(res[0].calls, 0);
	evudp6_resolver_free(fx.r);
	fx.r = NULL;
	for (int i = 0; i < 4; i++) {
		if (i == 0) {
			ck_assert_int_eq(res[i].calls, 1);
			ck_assert_int_eq(res[i].rc, -EVUDP6_E_CANCELLED);
		} else {
			/* The others had finished within the 20 ms. */
			ck_assert_int_eq(res[i].calls, 1);
			ck_assert_int_eq(res[i].rc, 0);
		}
	}
	run_for(SLOW_MS + 100);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(res[i].calls, 1);
}
END_TEST

START_TEST(resolve_free_before_any_delivery_cancels_each_once)
{
	struct result res[3];
	start_remote("dual.test", &res[0], NULL);
	start_remote("127.0.0.1", &res[1], NULL);
	start_remote("hosted.test", &res[2], NULL);
	evudp6_resolver_free(fx.r);
	fx.r = NULL;
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(res[i].calls, 1);
		ck_assert_int_eq(res[i].rc, -EVUDP6_E_CANCELLED);
	}
	run_for(50);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(res[i].calls, 1);
}
END_TEST

/* The first callback frees the resolver: the second request is
 * cancelled exactly once and nothing touches freed memory (ASan). */
static struct result free_res[2];
static int restart_rc;

static void free_in_cb(int result, const struct evudp6_addr *addr, void *arg)
{
	done_cb(result, addr, arg);
	evudp6_resolver_free(fx.r);
	fx.r = NULL;
}

START_TEST(resolve_free_from_inside_a_callback)
{
	memset(free_res, 0, sizeof(free_res));
	ck_assert_int_eq(evudp6_resolve_remote(fx.r, "127.0.0.1", free_in_cb, &free_res[0], NULL), 0);
	ck_assert_int_eq(evudp6_resolve_remote(fx.r, "slow.test", done_cb, &free_res[1], NULL), 0);
	run_until_done(free_res, 1);
	ck_assert_int_eq(free_res[0].calls, 1);
	ck_assert_int_eq(free_res[0].rc, 0);
	ck_assert_int_eq(free_res[1].calls, 1);
	ck_assert_int_eq(free_res[1].rc, -EVUDP6_E_CANCELLED);
	run_for(SLOW_MS + 100);
	ck_assert_int_eq(free_res[0].calls, 1);
	ck_assert_int_eq(free_res[1].calls, 1);
}
END_TEST

/* A cancel callback that starts a new resolution on a resolver being
 * freed is refused rather than leaked. */
static void restart_cb(int result, const struct evudp6_addr *addr, void *arg)
{
	done_cb(result, addr, arg);
	restart_rc = evudp6_resolve_remote(fx.r, "127.0.0.1", done_cb, &free_res[1], NULL);
}

START_TEST(resolve_start_during_free_is_refused)
{
	memset(free_res, 0, sizeof(free_res));
	ck_assert_int_eq(evudp6_resolve_remote(fx.r, "127.0.0.1", restart_cb, &free_res[0], NULL), 0);
	evudp6_resolver_free(fx.r);
	ck_assert_int_eq(free_res[0].calls, 1);
	ck_assert_int_eq(free_res[0].rc, -EVUDP6_E_CANCELLED);
	ck_assert_int_eq(restart_rc, -EVUDP6_E_SHUTDOWN);
	fx.r = NULL;
	run_for(20);
	ck_assert_int_eq(free_res[1].calls, 0);
}
END_TEST

START_TEST(resolve_without_evdns_takes_only_literals)
{
	struct evudp6_resolver *r;
	struct result res = {0};
	ck_assert_int_eq(evudp6_resolver_new(&r, fx.base, NULL), 0);
	ck_assert_int_eq(evudp6_resolve_remote(r, "dual.test", done_cb, &res, NULL), -EVUDP6_E_NOT_LITERAL);
	ck_assert_int_eq(evudp6_resolve_remote(r, "[::1]:7", done_cb, &res, NULL), 0);
	ck_assert_int_eq(res.calls, 0);
	run_until_done(&res, 1);
	ck_assert_int_eq(res.calls, 1);
	assert_addr(&res.addr, "::1", 7, 0);
	evudp6_resolver_free(r);
}
END_TEST

/* --------------------------------------------------------- bad input */

START_TEST(resolve_bad_input_gets_distinct_codes_and_messages)
{
	char long_host[300];
	memset(long_host, 'a', 256);
	long_host[256] = '\0';
	static const struct {
		const char *remote;
		int want;
	} remote_cases[] = {
	    {"", -EVUDP6_E_HOST_EMPTY},
	    {"[", -EVUDP6_E_HOST_BRACKET},
	    {"[::1", -EVUDP6_E_HOST_BRACKET},
	    {"::1:5683", -EVUDP6_E_HOST_UNBRACKETED_V6},
	    {"h:65536", -EVUDP6_E_PORT},
	    {"h:abc", -EVUDP6_E_PORT},
	    {"[fe80::1%nosuchif0]", -EVUDP6_E_ZONE_UNKNOWN},
	    {NULL, -EVUDP6_E_HOST_TOO_LONG}, /* long_host */
	};
	static const struct {
		const char *uri;
		int want;
	} uri_cases[] = {
	    {"coap://h/a#frag", -EVUDP6_E_URI_FRAGMENT},
	    {"/a/b", -EVUDP6_E_URI_RELATIVE},
	};
	int codes[16];
	size_t ncodes = 0;
	struct result res = {0};

	for (size_t i = 0; i < sizeof(remote_cases) / sizeof(remote_cases[0]); i++) {
		const char *in = remote_cases[i].remote ? remote_cases[i].remote : long_host;
		int rc = evudp6_resolve_remote(fx.r, in, done_cb, &res, NULL);
		ck_assert_msg(rc == remote_cases[i].want, "'%.20s': got %s, want %s", in,
		              evudp6_strerror_name(rc), evudp6_strerror_name(remote_cases[i].want));
		codes[ncodes++] = rc;
	}
	for (size_t i = 0; i < sizeof(uri_cases) / sizeof(uri_cases[0]); i++) {
		struct evudp6_uri u;
		int rc = evudp6_uri_parse(&u, uri_cases[i].uri);
		ck_assert_int_eq(rc, uri_cases[i].want);
		codes[ncodes++] = rc;
	}
	/* Parsed URIs with a bad host or zone are refused at the start. */
	struct evudp6_uri u;
	ck_assert_int_eq(evudp6_uri_parse(&u, "coap://[fe80::1%25nosuchif0]/"), 0);
	ck_assert_int_eq(evudp6_resolve_uri(fx.r, &u, done_cb, &res, NULL), -EVUDP6_E_ZONE_UNKNOWN);
	memset(&u, 0, sizeof(u));
	ck_assert_int_eq(evudp6_resolve_uri(fx.r, &u, done_cb, &res, NULL), -EVUDP6_E_HOST_EMPTY);
	ck_assert_int_eq(evudp6_resolve_remote(fx.r, NULL, done_cb, &res, NULL), -EINVAL);
	ck_assert_int_eq(evudp6_resolve_remote(fx.r, "h", NULL, &res, NULL), -EINVAL);
	ck_assert_int_eq(evudp6_resolve_remote(NULL, "h", done_cb, &res, NULL), -EINVAL);

	/* Each kind of mistake has its own code and its own message. */
	for (size_t i = 0; i < ncodes; i++) {
		for (size_t j = i + 1; j < ncodes; j++) {
			if (codes[i] == codes[j])
				continue; /* same kind: the two bracket and port cases */
			ck_assert_str_ne(evudp6_strerror(codes[i]), evudp6_strerror(codes[j]));
		}
		ck_assert_str_ne(evudp6_strerror(codes[i]), "unknown evudp6 error");
	}
	size_t kinds = 0;
	for (size_t i = 0; i < ncodes; i++) {
		bool seen = false;
		for (size_t j = 0; j < i; j++)
			seen |= codes[j] == codes[i];
		kinds += !seen;
	}
	ck_assert_uint_eq(kinds, 8);

	/* A call that fails never calls back. */
	run_for(20);
	ck_assert_int_eq(res.calls, 0);
	ck_assert_int_eq(fx.queries, 0);
}
END_TEST

/* ------------------------------------------------------- recognition */

static struct evudp6_addr mk(const char *text, uint16_t port, uint32_t scope)
{
	struct evudp6_addr a;
	memset(&a, 0, sizeof(a));
	a.remote.sin6_family = AF_INET6;
	a.remote.sin6_port = htons(port);
	a.remote.sin6_scope_id = scope;
	ck_assert_int_eq(inet_pton(AF_INET6, text, &a.remote.sin6_addr), 1);
	return a;
}

START_TEST(resolve_recognize_remote_address_checks)
{
	struct evudp6_addr a;
	a = mk("::1", 5683, 0);
	ck_assert(evudp6_resolve_recognize_remote(NULL, &a));
	a = mk("::ffff:192.0.2.1", 5683, 0);
	ck_assert(evudp6_resolve_recognize_remote(NULL, &a));
	a = mk("ff05::fd", 5683, 0);
	ck_assert(evudp6_resolve_recognize_remote(NULL, &a));
	a = mk("::1", 0, 0);
	ck_assert(!evudp6_resolve_recognize_remote(NULL, &a));
	a = mk("::", 5683, 0);
	ck_assert(!evudp6_resolve_recognize_remote(NULL, &a));
	a = mk("::ffff:0.0.0.0", 5683, 0);
	ck_assert(!evudp6_resolve_recognize_remote(NULL, &a));
	a = mk("fe80::1", 5683, 0);
	ck_assert(!evudp6_resolve_recognize_remote(NULL, &a));
	a = mk("ff02::fd", 5683, 0);
	ck_assert(!evudp6_resolve_recognize_remote(NULL, &a));
	a = mk("fe80::1", 5683, 1);
	ck_assert(evudp6_resolve_recognize_remote(NULL, &a));
	a = mk("ff02::fd", 5683, 0);
	a.has_local = true;
	a.local_ifindex = 1;
	ck_assert(evudp6_resolve_recognize_remote(NULL, &a));
	a = mk("::1", 5683, 0);
	a.remote.sin6_family = AF_INET;
	ck_assert(!evudp6_resolve_recognize_remote(NULL, &a));
	ck_assert(!evudp6_resolve_recognize_remote(NULL, NULL));
}
END_TEST

static void ignore_datagram(struct evudp6_transport *t, const uint8_t *data, size_t len,
                            const struct evudp6_addr *remote, void *arg)
{
	(void)t;
	(void)data;
	(void)len;
	(void)remote;
	(void)arg;
}

static struct evudp6_transport *transport_bound(const char *bind)
{
	struct evudp6_transport *t;
	struct evudp6_transport_config cfg;
	evudp6_transport_config_init(&cfg, sizeof(cfg));
	cfg.bind = bind;
	ck_assert_int_eq(evudp6_transport_new(&t, fx.base, &cfg, ignore_datagram, NULL, NULL), 0);
	if (bind)
		ck_assert_int_eq(evudp6_transport_start(t), 0);
	return t;
}

/* A socket bound to an IPv6 address cannot reach IPv4 and the reverse;
 * the kernel's own answer is shown beside each refusal. */
START_TEST(resolve_recognize_remote_follows_the_transport_binding)
{
	struct evudp6_addr v6 = mk("::1", 9, 0);
	struct evudp6_addr v4 = mk("::ffff:127.0.0.1", 9, 0);

	struct evudp6_transport *t = transport_bound("[::1]:0");
	ck_assert(evudp6_resolve_recognize_remote(t, &v6));
	ck_assert(!evudp6_resolve_recognize_remote(t, &v4));
	ck_assert_int_eq(evudp6_transport_send(t, &v4, "x", 1), -ENETUNREACH);
	evudp6_transport_free(t);

	t = transport_bound("127.0.0.1:0");
	ck_assert(evudp6_resolve_recognize_remote(t, &v4));
	ck_assert(!evudp6_resolve_recognize_remote(t, &v6));
	ck_assert_int_eq(evudp6_transport_send(t, &v6, "x", 1), -EAFNOSUPPORT);
	evudp6_transport_free(t);

	t = transport_bound("[::]:0");
	ck_assert(evudp6_resolve_recognize_remote(t, &v6));
	ck_assert(evudp6_resolve_recognize_remote(t, &v4));
	/* Shut down, it can send nowhere. */
	ck_assert_int_eq(evudp6_transport_shutdown(t, NULL, NULL), 0);
	ck_assert(!evudp6_resolve_recognize_remote(t, &v6));
	ck_assert(!evudp6_resolve_recognize_remote(t, &v4));
	evudp6_transport_free(t);

	/* Not bound yet: only the address counts. */
	t = transport_bound(NULL);
	ck_assert(evudp6_resolve_recognize_remote(t, &v6));
	ck_assert(evudp6_resolve_recognize_remote(t, &v4));
	struct evudp6_addr zero = mk("::1", 0, 0);
	ck_assert(!evudp6_resolve_recognize_remote(t, &zero));
	evudp6_transport_free(t);
	run_for(10);
}
END_TEST

/* -------------------------------------- inside the IPv4-only namespace */

/* A name with a global IPv6 and an IPv4 address, in a namespace with no
 * IPv6 route: the route check skips the IPv6 address. */
/* What an evudp6_resolve_uri_all() callback saw. */
struct all_result {
	int calls;
	int rc;
	size_t n;
	struct evudp6_resolve_candidate cand[EVUDP6_RESOLVE_MAX_CANDIDATES];
};

static void all_cb(int result, const struct evudp6_resolve_candidate *cand, size_t n, void *arg)
{
	struct all_result *res = arg;
	res->calls++;
	res->rc = result;
	res->n = n;
	ck_assert(n <= EVUDP6_RESOLVE_MAX_CANDIDATES);
	ck_assert(n == 0 ? cand == NULL : cand != NULL);
	for (size_t i = 0; i < n; i++)
		res->cand[i] = cand[i];
}

static void resolve_all(const char *uri, struct all_result *res)
{
	struct evudp6_uri u;
	memset(res, 0, sizeof(*res));
	ck_assert_int_eq(evudp6_uri_parse(&u, uri), 0);
	ck_assert_int_eq(evudp6_resolve_uri_all(fx.r, &u, all_cb, res, NULL), 0);
	ck_assert_int_eq(res->calls, 0);
	bool late = false;
	struct event *deadline = evtimer_new(fx.base, deadline_cb, &late);
	struct timeval tv = {5, 0};
	evtimer_add(deadline, &tv);
	while (res->calls == 0 && !late)
		event_base_loop(fx.base, EVLOOP_ONCE);
	event_free(deadline);
	ck_assert_int_eq(res->calls, 1);
}

START_TEST(resolve_all_gives_every_candidate_in_order)
{
	struct all_result res;
	/* Hosts file: IPv6 first, then IPv4 mapped, with the URI's port. */
	resolve_all("coap://both.test:5684/x", &res);
	ck_assert_int_eq(res.rc, 0);
	ck_assert_uint_eq(res.n, 2);
	assert_addr(&res.cand[0].addr, "::1", 5684, 0);
	ck_assert_int_eq(res.cand[0].route, 0);
	assert_addr(&res.cand[1].addr, "::ffff:127.0.0.3", 5684, 0);
	ck_assert_int_eq(res.cand[1].route, 0);
	/* DNS: the same order. */
	resolve_all("coap://dual.test/", &res);
	ck_assert_int_eq(res.rc, 0);
	ck_assert_uint_eq(res.n, 2);
	assert_addr(&res.cand[0].addr, "::1", 5683, 0);
	assert_addr(&res.cand[1].addr, "::ffff:127.0.0.1", 5683, 0);
	/* A literal is its one candidate. */
	resolve_all("coap://127.0.0.1:9/", &res);
	ck_assert_int_eq(res.rc, 0);
	ck_assert_uint_eq(res.n, 1);
	assert_addr(&res.cand[0].addr, "::ffff:127.0.0.1", 9, 0);
	/* Failures come with no candidate. */
	resolve_all("coap://nx.test/", &res);
	ck_assert_int_eq(res.rc, -EVUDP6_E_RESOLVE_NXDOMAIN);
	ck_assert_uint_eq(res.n, 0);
	/* The single-answer call is unchanged. */
	struct result one;
	resolve_remote_ok("both.test", &one);
	assert_addr(&one.addr, "::1", 5683, 0);
}
END_TEST

START_TEST(resolve_all_refuses_what_resolve_uri_refuses)
{
	struct evudp6_uri u;
	struct all_result res = {0};
	ck_assert_int_eq(evudp6_uri_parse(&u, "coap://both.test/"), 0);
	ck_assert_int_eq(evudp6_resolve_uri_all(fx.r, &u, NULL, &res, NULL), -EINVAL);
	ck_assert_int_eq(evudp6_resolve_uri_all(fx.r, NULL, all_cb, &res, NULL), -EINVAL);
	strcpy(u.zone, "no-such-if0");
	ck_assert_int_eq(evudp6_resolve_uri_all(fx.r, &u, all_cb, &res, NULL), -EVUDP6_E_ZONE_UNKNOWN);
	/* Cancelled: called once, without candidates. */
	struct evudp6_resolve *q;
	u.zone[0] = '\0';
	ck_assert_int_eq(evudp6_resolve_uri_all(fx.r, &u, all_cb, &res, &q), 0);
	evudp6_resolve_cancel(q);
	ck_assert_int_eq(res.calls, 1);
	ck_assert_int_eq(res.rc, -EVUDP6_E_CANCELLED);
	ck_assert_uint_eq(res.n, 0);
}
END_TEST

START_TEST(ns_route_check_skips_unroutable_ipv6)
{
	struct result res;
	resolve_remote_ok("hdual.test", &res); /* hosts file */
	assert_addr(&res.addr, "::ffff:192.0.2.1", 5683, 0);
	assert_no_local(&res.addr);
	resolve_remote_ok("dual.test:5684", &res); /* DNS */
	assert_addr(&res.addr, "::ffff:192.0.2.1", 5684, 0);
	ck_assert_int_eq(fx.queries, 2);
}
END_TEST

START_TEST(ns_resolve_all_keeps_unroutable_candidates_with_their_error)
{
	struct all_result res;
	resolve_all("coap://hdual.test/", &res);
	ck_assert_int_eq(res.rc, 0);
	ck_assert_uint_eq(res.n, 2);
	assert_addr(&res.cand[0].addr, "2001:db8::1", 5683, 0);
	ck_assert_int_eq(res.cand[0].route, -ENETUNREACH);
	assert_addr(&res.cand[1].addr, "::ffff:192.0.2.1", 5683, 0);
	ck_assert_int_eq(res.cand[1].route, 0);
	resolve_all("coap://hv6only.test/", &res);
	ck_assert_int_eq(res.rc, -EVUDP6_E_RESOLVE_NOROUTE);
	ck_assert_uint_eq(res.n, 1);
	ck_assert_int_eq(res.cand[0].route, -ENETUNREACH);
}
END_TEST

START_TEST(ns_name_with_only_unroutable_addresses_is_noroute)
{
	resolve_remote_fails("hv6only.test", -EVUDP6_E_RESOLVE_NOROUTE);
	resolve_remote_fails("v6only.test", -EVUDP6_E_RESOLVE_NOROUTE);
}
END_TEST

START_TEST(ns_unroutable_literal_is_enetunreach)
{
	resolve_remote_fails("[2001:db8::1]", -ENETUNREACH);
	resolve_remote_fails("[2001:db8::1]:5684", -ENETUNREACH);
	struct evudp6_uri u;
	struct result res = {0};
	ck_assert_int_eq(evudp6_uri_parse(&u, "coap://[2001:db8::1]/x"), 0);
	ck_assert_int_eq(evudp6_resolve_uri(fx.r, &u, done_cb, &res, NULL), 0);
	run_until_done(&res, 1);
	ck_assert_int_eq(res.rc, -ENETUNREACH);
	/* IPv4 is routed here. */
	resolve_remote_ok("192.0.2.1", &res);
	assert_addr(&res.addr, "::ffff:192.0.2.1", 5683, 0);
}
END_TEST

/* lo carries fe80::2/64 here, so fe80::1%lo has a route. */
START_TEST(ns_link_local_zone_by_name_and_number)
{
	char lo[IF_NAMESIZE], text[64];
	struct result res;
	ck_assert_ptr_nonnull(if_indextoname(1, lo));
	snprintf(text, sizeof(text), "[fe80::1%%%s]", lo);
	resolve_remote_ok(text, &res);
	assert_addr(&res.addr, "fe80::1", 5683, 1);
	assert_interface_only_local(&res.addr, 1);
	resolve_remote_ok("[fe80::1%1]:5684", &res);
	assert_addr(&res.addr, "fe80::1", 5684, 1);
	assert_interface_only_local(&res.addr, 1);
	resolve_remote_fails("[fe80::1]", -EINVAL);
}
END_TEST

static Suite *resolve_suite(void)
{
	Suite *s = suite_create("resolve");
	TCase *tc = tcase_create("literal");
	tcase_add_checked_fixture(tc, loopback_setup, fixture_down);
	tcase_add_test(tc, resolve_ipv4_literal_is_mapped_and_delivered_from_the_loop);
	tcase_add_test(tc, resolve_ipv6_literal_with_port);
	tcase_add_test(tc, resolve_zone_by_name_and_number_gives_scope_and_interface_only_local);
	tcase_add_test(tc, resolve_link_local_literal_without_route_is_enetunreach);
	tcase_add_test(tc, resolve_uri_literal);
	tcase_add_test(tc, resolve_without_evdns_takes_only_literals);
	suite_add_tcase(s, tc);

	tc = tcase_create("dns");
	tcase_add_checked_fixture(tc, loopback_setup, fixture_down);
	tcase_add_test(tc, resolve_name_with_only_a_is_mapped);
	tcase_add_test(tc, resolve_name_with_aaaa_and_a_gives_ipv6_first);
	tcase_add_test(tc, resolve_nxdomain_and_nodata_are_distinct);
	tcase_add_test(tc, resolve_server_failure_is_resolve_failed);
	tcase_add_test(tc, resolve_unanswered_classify_question_is_resolve_failed);
	tcase_add_test(tc, resolve_slow_answer_does_not_block_the_loop);
	tcase_add_test(tc, resolve_hosts_file_is_honoured_and_answer_is_deferred);
	tcase_add_test(tc, resolve_uri_name_uses_uri_port);
	tcase_add_test(tc, resolve_explicit_zone_applies_to_name_results);
	tcase_add_test(tc, resolve_msg_uses_uri_host_and_uri_port);
	tcase_add_test(tc, resolve_all_gives_every_candidate_in_order);
	tcase_add_test(tc, resolve_all_refuses_what_resolve_uri_refuses);
	suite_add_tcase(s, tc);

	tc = tcase_create("cancel");
	tcase_add_checked_fixture(tc, loopback_setup, fixture_down);
	tcase_add_test(tc, resolve_cancel_before_answer_calls_back_once);
	tcase_add_test(tc, resolve_cancel_literal_and_hosts_answers_before_delivery);
	tcase_add_test(tc, resolve_cancel_while_classifying);
	tcase_add_test(tc, resolve_free_with_requests_in_flight_cancels_each_once);
	tcase_add_test(tc, resolve_free_before_any_delivery_cancels_each_once);
	tcase_add_test(tc, resolve_free_from_inside_a_callback);
	tcase_add_test(tc, resolve_start_during_free_is_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("input");
	tcase_add_checked_fixture(tc, loopback_setup, fixture_down);
	tcase_add_test(tc, resolve_bad_input_gets_distinct_codes_and_messages);
	tcase_add_test(tc, resolve_recognize_remote_address_checks);
	tcase_add_test(tc, resolve_recognize_remote_follows_the_transport_binding);
	suite_add_tcase(s, tc);
	return s;
}

static Suite *ns_suite(void)
{
	Suite *s = suite_create("resolve_ns");
	TCase *tc = tcase_create("route_check");
	tcase_add_checked_fixture(tc, ns_setup, fixture_down);
	tcase_add_test(tc, ns_route_check_skips_unroutable_ipv6);
	tcase_add_test(tc, ns_name_with_only_unroutable_addresses_is_noroute);
	tcase_add_test(tc, ns_resolve_all_keeps_unroutable_candidates_with_their_error);
	tcase_add_test(tc, ns_unroutable_literal_is_enetunreach);
	tcase_add_test(tc, ns_link_local_zone_by_name_and_number);
	suite_add_tcase(s, tc);
	return s;
}

/* evdns announces a failed name server at "msg" level; the server failure
 * test provokes that on purpose. Warnings and errors still show. */
static void log_cb(int severity, const char *msg)
{
	if (severity >= EVENT_LOG_WARN)
		fprintf(stderr, "[libevent] %s\n", msg);
}

int main(void)
{
	event_set_log_callback(log_cb);
	const char *ns = getenv("EVUDP6_RESOLVE_NS");
	if (ns && strcmp(ns, "1") == 0)
		return testutil_run(ns_suite());
	return testutil_run(resolve_suite());
}
