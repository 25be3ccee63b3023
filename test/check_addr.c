/*
 * Endpoint address: SPEC 3 table, the udp6 seed's examples, text forms,
 * equality, and the URI authority parser.
 */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <net/if.h>

#include <evudp6/addr.h>

#include "addr-internal.h"
#include "testutil.h"

typedef int (*text_fn)(const struct evudp6_addr *, char *, size_t);

static struct evudp6_addr mk(const char *literal, uint16_t port, uint32_t scope)
{
	struct evudp6_addr a;
	ck_assert_int_eq(evudp6_addr_from_literal(&a, literal, port, scope), 0);
	return a;
}

static struct in6_addr in6(const char *text)
{
	struct in6_addr x;
	ck_assert_int_eq(inet_pton(AF_INET6, text, &x), 1);
	return x;
}

static unsigned int lo_index(void)
{
	unsigned int i = if_nametoindex("lo");
	ck_assert_uint_ne(i, 0);
	return i;
}

/* An interface index that names no interface here. */
static unsigned int unused_index(void)
{
	char name[IF_NAMESIZE];
	for (unsigned int i = 4000; i < 5000; i++)
		if (!if_indextoname(i, name))
			return i;
	ck_abort_msg("no unused interface index in 4000..4999");
	return 0;
}

static void expect_text(text_fn fn, const struct evudp6_addr *a, const char *want)
{
	char buf[128];
	memset(buf, 0x5a, sizeof(buf));
	ck_assert_int_eq(fn(a, buf, sizeof(buf)), (int)strlen(want));
	ck_assert_str_eq(buf, want);
}

/* Every size below the needed one gives -ENOSPC, writes nothing past it, leaves "". */
static void expect_enospc_below(text_fn fn, const struct evudp6_addr *a, const char *want)
{
	size_t n = strlen(want);
	enum { CANARY = 32 };
	unsigned char *mem = malloc(n + 1 + CANARY);
	ck_assert_ptr_nonnull(mem);

	ck_assert_int_eq(fn(a, NULL, 0), -ENOSPC);
	for (size_t size = 0; size <= n; size++) {
		memset(mem, 0xa5, n + 1 + CANARY);
		ck_assert_int_eq(fn(a, (char *)mem, size), -ENOSPC);
		if (size > 0)
			ck_assert_uint_eq(mem[0], 0);
		for (size_t i = size; i < n + 1 + CANARY; i++)
			ck_assert_uint_eq(mem[i], 0xa5);
	}
	memset(mem, 0xa5, n + 1 + CANARY);
	ck_assert_int_eq(fn(a, (char *)mem, n + 1), (int)n);
	ck_assert_str_eq((char *)mem, want);
	for (size_t i = n + 1; i < n + 1 + CANARY; i++)
		ck_assert_uint_eq(mem[i], 0xa5);
	free(mem);
}

/* ------------------------------------------------------- SPEC 3 table rows */

START_TEST(addr_hostinfo_strips_v4mapped)
{
	struct evudp6_addr a = mk("::ffff:127.0.0.1", 5683, 0);
	expect_text(evudp6_addr_hostinfo, &a, "127.0.0.1");
}
END_TEST

START_TEST(addr_hostinfo_v4mapped_keeps_other_port)
{
	struct evudp6_addr a = mk("::ffff:127.0.0.1", 1234, 0);
	expect_text(evudp6_addr_hostinfo, &a, "127.0.0.1:1234");
}
END_TEST

START_TEST(addr_hostinfo_and_uri_base_bracket_ipv6)
{
	struct evudp6_addr a = mk("::1", 5683, 0);
	expect_text(evudp6_addr_hostinfo, &a, "[::1]");
	expect_text(evudp6_addr_uri_base, &a, "coap://[::1]");
}
END_TEST

START_TEST(addr_hostinfo_scoped_multicast_names_interface)
{
	struct evudp6_addr a = mk("ff02::fd", 1234, lo_index());
	expect_text(evudp6_addr_hostinfo, &a, "[ff02::fd%lo]:1234");
}
END_TEST

START_TEST(addr_hostinfo_zone_without_name_is_number)
{
	unsigned int idx = unused_index();
	char want[64];
	snprintf(want, sizeof(want), "[ff02::fd%%%u]:1234", idx);
	struct evudp6_addr a = mk("ff02::fd", 1234, idx);
	expect_text(evudp6_addr_hostinfo, &a, want);
}
END_TEST

START_TEST(addr_site_multicast_hostinfo_and_is_multicast)
{
	struct evudp6_addr a = mk("ff05::fd", 1234, 0);
	expect_text(evudp6_addr_hostinfo, &a, "[ff05::fd]:1234");
	ck_assert(evudp6_addr_is_multicast(&a));
}
END_TEST

START_TEST(addr_v4mapped_all_coap_nodes_is_multicast)
{
	struct evudp6_addr a = mk("::ffff:224.0.1.187", 5683, 0);
	ck_assert(evudp6_addr_is_multicast(&a));
}
END_TEST

START_TEST(addr_v4mapped_loopback_is_not_multicast)
{
	struct evudp6_addr a = mk("::ffff:127.0.0.1", 5683, 0);
	ck_assert(!evudp6_addr_is_multicast(&a));
}
END_TEST

START_TEST(addr_pktinfo_group_is_multicast_locally)
{
	struct evudp6_addr a = mk("2001:db8::7", 40000, 0);
	struct in6_addr g = in6("ff02::fd");
	ck_assert(!evudp6_addr_is_multicast_locally(&a));
	evudp6_addr_set_local(&a, &g, lo_index());
	ck_assert(evudp6_addr_is_multicast_locally(&a));
	ck_assert(!evudp6_addr_is_multicast(&a));
}
END_TEST

START_TEST(addr_response_drops_multicast_local)
{
	struct evudp6_addr a = mk("2001:db8::7", 40000, 0), r;
	struct in6_addr g = in6("ff02::fd");
	evudp6_addr_set_local(&a, &g, 3);
	a.local_port = 5683;
	memset(&r, 0x77, sizeof(r));
	evudp6_addr_response(&a, &r);
	ck_assert(!r.has_local);
	ck_assert(IN6_IS_ADDR_UNSPECIFIED(&r.local_addr));
	ck_assert_uint_eq(r.local_ifindex, 0);
	ck_assert_int_eq(memcmp(&r.remote, &a.remote, sizeof(r.remote)), 0);
	ck_assert(evudp6_addr_equal(&r, &a));
}
END_TEST

START_TEST(addr_response_keeps_unicast_local)
{
	struct evudp6_addr a = mk("2001:db8::7", 40000, 0), r;
	struct in6_addr l = in6("2001:db8::1");
	evudp6_addr_set_local(&a, &l, 3);
	a.local_port = 5683;
	memset(&r, 0x77, sizeof(r));
	evudp6_addr_response(&a, &r);
	ck_assert(r.has_local);
	ck_assert_int_eq(memcmp(&r.local_addr, &l, sizeof(l)), 0);
	ck_assert_uint_eq(r.local_ifindex, 3);
	ck_assert_uint_eq(r.local_port, 5683);
	ck_assert_int_eq(memcmp(&r.remote, &a.remote, sizeof(r.remote)), 0);
}
END_TEST

START_TEST(addr_hostinfo_local_and_uri_base_local_from_pktinfo)
{
	struct evudp6_addr a = mk("::1", 40000, 0);
	struct in6_addr l = in6("::1");
	evudp6_addr_set_local(&a, &l, lo_index());
	a.local_port = 5683;
	expect_text(evudp6_addr_hostinfo_local, &a, "[::1]");
	expect_text(evudp6_addr_uri_base_local, &a, "coap://[::1]");
}
END_TEST

/* --------------------------------------------- udp6 seed module doctests */

static struct evudp6_addr from_getaddrinfo(const char *host, const char *port, int flags)
{
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_INET6;
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | flags;
	ck_assert_int_eq(getaddrinfo(host, port, &hints, &res), 0);
	struct evudp6_addr a;
	ck_assert_int_eq(evudp6_addr_from_sockaddr(&a, res->ai_addr, res->ai_addrlen), 0);
	freeaddrinfo(res);
	return a;
}

START_TEST(seed_local_is_not_multicast)
{
	struct evudp6_addr local = from_getaddrinfo("127.0.0.1", "5683", AI_V4MAPPED);
	ck_assert(!evudp6_addr_is_multicast(&local));
}
END_TEST

START_TEST(seed_local_hostinfo_is_plain_ipv4)
{
	struct evudp6_addr local = from_getaddrinfo("127.0.0.1", "5683", AI_V4MAPPED);
	expect_text(evudp6_addr_hostinfo, &local, "127.0.0.1");
}
END_TEST

START_TEST(seed_all_coap_site_is_multicast)
{
	struct evudp6_addr all_coap_site = from_getaddrinfo("ff05:0:0:0:0:0:0:fd", "1234", 0);
	ck_assert(evudp6_addr_is_multicast(&all_coap_site));
}
END_TEST

START_TEST(seed_all_coap_site_hostinfo_is_canonical)
{
	struct evudp6_addr all_coap_site = from_getaddrinfo("ff05:0:0:0:0:0:0:fd", "1234", 0);
	expect_text(evudp6_addr_hostinfo, &all_coap_site, "[ff05::fd]:1234");
}
END_TEST

START_TEST(seed_all_coap4_is_multicast)
{
	struct evudp6_addr all_coap4 = from_getaddrinfo("224.0.1.187", "5683", AI_V4MAPPED);
	ck_assert(evudp6_addr_is_multicast(&all_coap4));
}
END_TEST

/* --------------------------------------------------------- construction */

START_TEST(addr_from_sockaddr_maps_ipv4)
{
	struct sockaddr_in sin;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(1234);
	inet_pton(AF_INET, "192.0.2.1", &sin.sin_addr);
	struct evudp6_addr a;
	memset(&a, 0x77, sizeof(a));
	ck_assert_int_eq(evudp6_addr_from_sockaddr(&a, (struct sockaddr *)&sin, sizeof(sin)), 0);
	struct in6_addr want = in6("::ffff:192.0.2.1");
	ck_assert_int_eq(a.remote.sin6_family, AF_INET6);
	ck_assert_int_eq(memcmp(&a.remote.sin6_addr, &want, 16), 0);
	ck_assert_uint_eq(evudp6_addr_port(&a), 1234);
	ck_assert_uint_eq(a.remote.sin6_flowinfo, 0);
	ck_assert_uint_eq(a.remote.sin6_scope_id, 0);
	ck_assert(!a.has_local);
	ck_assert(IN6_IS_ADDR_UNSPECIFIED(&a.local_addr));
	ck_assert_uint_eq(a.local_ifindex, 0);
	ck_assert_uint_eq(a.local_port, 0);
	ck_assert(evudp6_addr_is_v4mapped(&a));
}
END_TEST

START_TEST(addr_from_sockaddr_copies_ipv6_scope_and_flowinfo)
{
	struct sockaddr_in6 sin6;
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(5684);
	sin6.sin6_flowinfo = htonl(0x12345);
	sin6.sin6_scope_id = 7;
	sin6.sin6_addr = in6("fe80::1");
	struct evudp6_addr a;
	memset(&a, 0x77, sizeof(a));
	ck_assert_int_eq(evudp6_addr_from_sockaddr(&a, (struct sockaddr *)&sin6, sizeof(sin6)), 0);
	ck_assert_int_eq(memcmp(&a.remote, &sin6, sizeof(sin6)), 0);
	ck_assert(!a.has_local);
	ck_assert_uint_eq(a.local_port, 0);
	ck_assert(!evudp6_addr_is_v4mapped(&a));
	ck_assert_uint_eq(evudp6_addr_port(&a), 5684);
}
END_TEST

START_TEST(addr_from_sockaddr_rejects_other_family)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	struct evudp6_addr a = mk("::1", 1, 0), before = a;
	ck_assert_int_eq(evudp6_addr_from_sockaddr(&a, (struct sockaddr *)&ss, sizeof(ss)), -EAFNOSUPPORT);
	ss.ss_family = AF_UNSPEC;
	ck_assert_int_eq(evudp6_addr_from_sockaddr(&a, (struct sockaddr *)&ss, sizeof(ss)), -EAFNOSUPPORT);
	ck_assert_int_eq(memcmp(&a, &before, sizeof(a)), 0);
}
END_TEST

START_TEST(addr_from_sockaddr_rejects_short_length)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct evudp6_addr a = mk("::1", 1, 0), before = a;
	ss.ss_family = AF_INET6;
	ck_assert_int_eq(
	    evudp6_addr_from_sockaddr(&a, (struct sockaddr *)&ss, sizeof(struct sockaddr_in6) - 1), -EINVAL);
	ss.ss_family = AF_INET;
	ck_assert_int_eq(
	    evudp6_addr_from_sockaddr(&a, (struct sockaddr *)&ss, sizeof(struct sockaddr_in) - 1), -EINVAL);
	ck_assert_int_eq(evudp6_addr_from_sockaddr(&a, (struct sockaddr *)&ss, 1), -EINVAL);
	ck_assert_int_eq(evudp6_addr_from_sockaddr(&a, (struct sockaddr *)&ss, 0), -EINVAL);
	ck_assert_int_eq(evudp6_addr_from_sockaddr(&a, NULL, sizeof(ss)), -EINVAL);
	ck_assert_int_eq(memcmp(&a, &before, sizeof(a)), 0);
}
END_TEST

START_TEST(addr_from_literal_reads_ipv6_and_maps_ipv4)
{
	struct evudp6_addr a;
	ck_assert_int_eq(evudp6_addr_from_literal(&a, "2001:DB8:0:0:0:0:0:1", 5684, 9), 0);
	struct in6_addr w6 = in6("2001:db8::1");
	ck_assert_int_eq(memcmp(&a.remote.sin6_addr, &w6, 16), 0);
	ck_assert_int_eq(a.remote.sin6_family, AF_INET6);
	ck_assert_uint_eq(evudp6_addr_port(&a), 5684);
	ck_assert_uint_eq(a.remote.sin6_scope_id, 9);
	ck_assert_uint_eq(a.remote.sin6_flowinfo, 0);
	ck_assert(!a.has_local);

	ck_assert_int_eq(evudp6_addr_from_literal(&a, "198.51.100.7", 0, 0), 0);
	struct in6_addr w4 = in6("::ffff:198.51.100.7");
	ck_assert_int_eq(memcmp(&a.remote.sin6_addr, &w4, 16), 0);
	ck_assert_uint_eq(evudp6_addr_port(&a), 0);
	ck_assert(evudp6_addr_is_v4mapped(&a));
}
END_TEST

START_TEST(addr_from_literal_rejects_non_literals)
{
	static const char *const bad[] = {"",       "localhost", "[::1]",      "fe80::1%lo", "::1 ",
	                                  " ::1",   "127.1",     "1.2.3.4:80", "256.0.0.1",  "::1::2",
	                                  "0x7f.1", "::1]",      "example.org"};
	struct evudp6_addr a = mk("::1", 1, 0), before = a;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(evudp6_addr_from_literal(&a, bad[i], 5683, 0) == -EVUDP6_E_NOT_LITERAL, "%s",
		              bad[i]);
	ck_assert_int_eq(memcmp(&a, &before, sizeof(a)), 0);
}
END_TEST

START_TEST(addr_from_literal_refuses_scope_on_ipv4)
{
	struct evudp6_addr a;
	ck_assert_int_eq(evudp6_addr_from_literal(&a, "192.0.2.1", 5683, 1), -EVUDP6_E_ZONE_NOT_ALLOWED);
	ck_assert_int_eq(evudp6_addr_from_literal(&a, "::ffff:192.0.2.1", 5683, 1),
	                 -EVUDP6_E_ZONE_NOT_ALLOWED);
}
END_TEST

START_TEST(addr_set_and_clear_local)
{
	struct evudp6_addr a = mk("::1", 1, 0);
	struct in6_addr l = in6("2001:db8::1");
	a.local_port = 5683;
	evudp6_addr_set_local(&a, &l, 4);
	ck_assert(a.has_local);
	ck_assert_int_eq(memcmp(&a.local_addr, &l, 16), 0);
	ck_assert_uint_eq(a.local_ifindex, 4);
	ck_assert_uint_eq(a.local_port, 5683);
	evudp6_addr_set_local(&a, NULL, 5);
	ck_assert(a.has_local);
	ck_assert(IN6_IS_ADDR_UNSPECIFIED(&a.local_addr));
	ck_assert_uint_eq(a.local_ifindex, 5);
	evudp6_addr_clear_local(&a);
	ck_assert(!a.has_local);
	ck_assert(IN6_IS_ADDR_UNSPECIFIED(&a.local_addr));
	ck_assert_uint_eq(a.local_ifindex, 0);
	/* the socket's port is not part of the datagram's local address */
	ck_assert_uint_eq(a.local_port, 5683);
}
END_TEST

/* ----------------------------------------------------------- predicates */

START_TEST(addr_is_multicast_follows_prefix_bounds)
{
	static const struct {
		const char *text;
		bool mc;
	} cases[] = {
	    {"ff00::", true},
	    {"ff02::1", true},
	    {"feff::1", false},
	    {"fe80::1", false},
	    {"::1", false},
	    {"::", false},
	    {"::ffff:224.0.0.0", true},
	    {"::ffff:239.255.255.255", true},
	    {"::ffff:223.255.255.255", false},
	    {"::ffff:240.0.0.0", false},
	    {"::224.0.0.1", false},
	    {"::ffff:0.0.0.0", false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct evudp6_addr a = mk(cases[i].text, 5683, 0);
		ck_assert_msg(evudp6_addr_is_multicast(&a) == cases[i].mc, "%s", cases[i].text);
		/* the same address as local part */
		struct evudp6_addr b = mk("::1", 5683, 0);
		evudp6_addr_set_local(&b, &a.remote.sin6_addr, 1);
		ck_assert_msg(evudp6_addr_is_multicast_locally(&b) == cases[i].mc, "local %s", cases[i].text);
	}
}
END_TEST

START_TEST(addr_broadcast_arrival_is_multicast_locally)
{
	struct evudp6_addr a = mk("::ffff:192.0.2.10", 40000, 0);
	struct in6_addr l = in6("::ffff:192.0.2.255");
	evudp6_addr_set_local(&a, &l, 2);
	/* a directed broadcast is only known by the flag the transport sets */
	ck_assert(!evudp6_addr_is_multicast_locally(&a));
	a.local_broadcast = true;
	ck_assert(evudp6_addr_is_multicast_locally(&a));
	ck_assert(!evudp6_addr_is_multicast(&a));
	struct evudp6_addr r;
	evudp6_addr_response(&a, &r);
	ck_assert(!r.has_local);
	ck_assert(!r.local_broadcast);
	ck_assert(evudp6_addr_equal(&r, &a));
	/* a new local part is a new datagram's: the flag goes */
	evudp6_addr_set_local(&a, &l, 2);
	ck_assert(!a.local_broadcast);
	a.local_broadcast = true;
	evudp6_addr_clear_local(&a);
	ck_assert(!a.local_broadcast);
	/* the limited broadcast is known by its address */
	l = in6("::ffff:255.255.255.255");
	evudp6_addr_set_local(&a, &l, 2);
	ck_assert(evudp6_addr_is_multicast_locally(&a));
	evudp6_addr_response(&a, &r);
	ck_assert(!r.has_local);
}
END_TEST

START_TEST(addr_is_multicast_locally_false_without_local)
{
	struct evudp6_addr a = mk("ff02::fd", 5683, 1);
	ck_assert(!evudp6_addr_is_multicast_locally(&a));
	struct in6_addr l = in6("2001:db8::1");
	evudp6_addr_set_local(&a, &l, 1);
	ck_assert(!evudp6_addr_is_multicast_locally(&a));
}
END_TEST

START_TEST(addr_is_v4mapped_only_for_ffff_prefix)
{
	struct evudp6_addr a = mk("::ffff:127.0.0.1", 1, 0);
	ck_assert(evudp6_addr_is_v4mapped(&a));
	a = mk("::127.0.0.1", 1, 0);
	ck_assert(!evudp6_addr_is_v4mapped(&a));
	a = mk("64:ff9b::7f00:1", 1, 0);
	ck_assert(!evudp6_addr_is_v4mapped(&a));
}
END_TEST

/* ------------------------------------------------------------ text forms */

START_TEST(addr_hostinfo_is_rfc5952_canonical)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {"2001:DB8:0:0:0:0:0:1", "[2001:db8::1]"},
	    {"2001:db8:0:0:1:0:0:1", "[2001:db8::1:0:0:1]"},
	    {"2001:0db8:0000:0000:0000:0000:0002:0001", "[2001:db8::2:1]"},
	    {"2001:db8:0:1:1:1:1:1", "[2001:db8:0:1:1:1:1:1]"},
	    {"0:0:0:0:0:0:0:0", "[::]"},
	    {"::ffff:c000:0201", "192.0.2.1"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct evudp6_addr a = mk(cases[i].in, 5683, 0);
		expect_text(evudp6_addr_hostinfo, &a, cases[i].out);
	}
}
END_TEST

START_TEST(addr_hostinfo_writes_ports_other_than_5683)
{
	struct evudp6_addr a = mk("2001:db8::1", 0, 0);
	expect_text(evudp6_addr_hostinfo, &a, "[2001:db8::1]:0");
	a = mk("2001:db8::1", 65535, 0);
	expect_text(evudp6_addr_hostinfo, &a, "[2001:db8::1]:65535");
	a = mk("2001:db8::1", 5684, 0);
	expect_text(evudp6_addr_uri_base, &a, "coap://[2001:db8::1]:5684");
	a = mk("192.0.2.1", 5684, 0);
	expect_text(evudp6_addr_uri_base, &a, "coap://192.0.2.1:5684");
}
END_TEST

START_TEST(addr_hostinfo_zone_is_never_percent_encoded)
{
	struct evudp6_addr a = mk("fe80::1", 5683, lo_index());
	char buf[EVUDP6_HOSTINFO_MAX];
	ck_assert_int_eq(evudp6_addr_hostinfo(&a, buf, sizeof(buf)), 12);
	ck_assert_str_eq(buf, "[fe80::1%lo]");
	ck_assert_ptr_null(strstr(buf, "%25"));
	expect_text(evudp6_addr_uri_base, &a, "coap://[fe80::1%lo]");
}
END_TEST

START_TEST(addr_hostinfo_v4mapped_ignores_scope)
{
	struct evudp6_addr a = mk("::ffff:127.0.0.1", 5683, 0);
	a.remote.sin6_scope_id = lo_index();
	expect_text(evudp6_addr_hostinfo, &a, "127.0.0.1");
}
END_TEST

START_TEST(addr_hostinfo_local_needs_local_address)
{
	char buf[64];
	struct evudp6_addr a = mk("::1", 5683, 0);
	a.local_port = 5683;
	strcpy(buf, "x");
	ck_assert_int_eq(evudp6_addr_hostinfo_local(&a, buf, sizeof(buf)), -ENOENT);
	ck_assert_str_eq(buf, "");
	ck_assert_int_eq(evudp6_addr_uri_base_local(&a, buf, sizeof(buf)), -ENOENT);
	/* interface-only local parts, IPv6 and IPv4 flavour */
	struct in6_addr any6 = in6("::"), any4 = in6("::ffff:0.0.0.0");
	evudp6_addr_set_local(&a, &any6, lo_index());
	ck_assert_int_eq(evudp6_addr_hostinfo_local(&a, buf, sizeof(buf)), -ENOENT);
	ck_assert_int_eq(evudp6_addr_uri_base_local(&a, buf, sizeof(buf)), -ENOENT);
	evudp6_addr_set_local(&a, &any4, lo_index());
	ck_assert_int_eq(evudp6_addr_hostinfo_local(&a, buf, sizeof(buf)), -ENOENT);
	ck_assert_int_eq(evudp6_addr_uri_base_local(&a, buf, sizeof(buf)), -ENOENT);
	ck_assert_int_eq(evudp6_addr_hostinfo_local(&a, NULL, 0), -ENOENT);
}
END_TEST

START_TEST(addr_hostinfo_local_forms)
{
	struct evudp6_addr a = mk("::ffff:127.0.0.1", 40000, 0);
	struct in6_addr l4 = in6("::ffff:127.0.0.2"), ll = in6("fe80::1"), gl = in6("2001:db8::1"),
	                mc = in6("ff02::fd");
	a.local_port = 1234;
	evudp6_addr_set_local(&a, &l4, lo_index());
	expect_text(evudp6_addr_hostinfo_local, &a, "127.0.0.2:1234");
	expect_text(evudp6_addr_uri_base_local, &a, "coap://127.0.0.2:1234");
	/* only scoped addresses get the zone */
	a.local_port = 5683;
	evudp6_addr_set_local(&a, &ll, lo_index());
	expect_text(evudp6_addr_hostinfo_local, &a, "[fe80::1%lo]");
	evudp6_addr_set_local(&a, &mc, lo_index());
	expect_text(evudp6_addr_hostinfo_local, &a, "[ff02::fd%lo]");
	evudp6_addr_set_local(&a, &gl, lo_index());
	expect_text(evudp6_addr_hostinfo_local, &a, "[2001:db8::1]");
	/* the remote's port and scope do not leak into the local form */
	expect_text(evudp6_addr_hostinfo, &a, "127.0.0.1:40000");
}
END_TEST

START_TEST(addr_netif_prefers_local_interface)
{
	struct evudp6_addr a = mk("fe80::1", 5683, unused_index());
	struct in6_addr l = in6("fe80::2");
	char want[16];
	snprintf(want, sizeof(want), "%u", unused_index());
	expect_text(evudp6_addr_netif, &a, want);
	evudp6_addr_set_local(&a, &l, lo_index());
	expect_text(evudp6_addr_netif, &a, "lo");
	/* an interface-less local part falls back to the scope */
	evudp6_addr_set_local(&a, &l, 0);
	expect_text(evudp6_addr_netif, &a, want);
}
END_TEST

START_TEST(addr_netif_empty_without_interface)
{
	struct evudp6_addr a = mk("2001:db8::1", 5683, 0);
	char buf[8] = "x";
	ck_assert_int_eq(evudp6_addr_netif(&a, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "");
	ck_assert_int_eq(evudp6_addr_netif(&a, buf, 1), 0);
	ck_assert_int_eq(evudp6_addr_netif(&a, NULL, 0), -ENOSPC);
}
END_TEST

START_TEST(addr_text_forms_report_enospc_at_every_short_size)
{
	struct evudp6_addr a = mk("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 65535, lo_index());
	struct in6_addr l = in6("fe80:ffff:ffff:ffff:ffff:ffff:ffff:fffe");
	evudp6_addr_set_local(&a, &l, lo_index());
	a.local_port = 65534;
	expect_enospc_below(evudp6_addr_hostinfo, &a, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe%lo]:65535");
	expect_enospc_below(evudp6_addr_uri_base, &a,
	                    "coap://[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe%lo]:65535");
	expect_enospc_below(evudp6_addr_hostinfo_local, &a,
	                    "[fe80:ffff:ffff:ffff:ffff:ffff:ffff:fffe%lo]:65534");
	expect_enospc_below(evudp6_addr_uri_base_local, &a,
	                    "coap://[fe80:ffff:ffff:ffff:ffff:ffff:ffff:fffe%lo]:65534");
	expect_enospc_below(evudp6_addr_netif, &a, "lo");

	struct evudp6_addr b = mk("255.255.255.255", 5683, 0);
	expect_enospc_below(evudp6_addr_hostinfo, &b, "255.255.255.255");
	expect_enospc_below(evudp6_addr_uri_base, &b, "coap://255.255.255.255");
	b = mk("::1", 5683, unused_index());
	char want[32];
	snprintf(want, sizeof(want), "[::1%%%u]", unused_index());
	expect_enospc_below(evudp6_addr_hostinfo, &b, want);
}
END_TEST

START_TEST(addr_text_max_sizes_hold_longest_forms)
{
	/* longest address, a 15-byte zone number, the longest port */
	struct evudp6_addr a = mk("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", 65535, 4294967295u);
	char buf[EVUDP6_URI_BASE_MAX];
	int n = evudp6_addr_hostinfo(&a, buf, EVUDP6_HOSTINFO_MAX);
	ck_assert_int_eq(n, (int)strlen("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535"));
	ck_assert_int_lt(n, EVUDP6_HOSTINFO_MAX);
	ck_assert_int_eq(evudp6_addr_uri_base(&a, buf, EVUDP6_URI_BASE_MAX), n + 7);
	ck_assert_int_eq(evudp6_addr_netif(&a, buf, EVUDP6_NETIF_MAX), 10);
	ck_assert_str_eq(buf, "4294967295");
}
END_TEST

/* ----------------------------------------------------- equality and hash */

START_TEST(addr_equal_tells_link_local_interfaces_apart)
{
	/* fe80::1%eth0 and fe80::1%eth1 are two hosts. */
	struct evudp6_addr a = mk("fe80::1", 5683, 1), b = mk("fe80::1", 5683, 2);
	ck_assert(!evudp6_addr_equal(&a, &b));
	ck_assert_uint_ne(evudp6_addr_hash(&a), evudp6_addr_hash(&b));
	struct evudp6_addr a2 = mk("fe80::1", 5683, 1);
	ck_assert(evudp6_addr_equal(&a, &a2));
	ck_assert_uint_eq(evudp6_addr_hash(&a), evudp6_addr_hash(&a2));
	/* So do the other scoped ones: interface- and link-local groups. */
	const char *scoped[] = {"ff01::1", "ff02::fd", "fe80::1234:5678"};
	for (size_t i = 0; i < sizeof scoped / sizeof scoped[0]; i++) {
		struct evudp6_addr x = mk(scoped[i], 5683, 3), y = mk(scoped[i], 5683, 4);
		ck_assert_msg(!evudp6_addr_equal(&x, &y), "%s", scoped[i]);
		ck_assert_uint_ne(evudp6_addr_hash(&x), evudp6_addr_hash(&y));
	}
}
END_TEST

START_TEST(addr_equal_ignores_scope_of_global_addresses)
{
	/* The kernel reports scope id 0 for a datagram from a global or
	 * mapped address, whatever zone the request was sent with. */
	const char *global[] = {"2001:db8::1", "ff05::fd", "ff0e::1", "::1"};
	for (size_t i = 0; i < sizeof global / sizeof global[0]; i++) {
		struct evudp6_addr a = mk(global[i], 5683, 2), b = mk(global[i], 5683, 0);
		ck_assert_msg(evudp6_addr_equal(&a, &b), "%s", global[i]);
		ck_assert_uint_eq(evudp6_addr_hash(&a), evudp6_addr_hash(&b));
	}
}
END_TEST

START_TEST(addr_equal_ignores_local_part)
{
	struct evudp6_addr a = mk("2001:db8::7", 40000, 0), b = a;
	struct in6_addr g = in6("ff02::fd"), u = in6("2001:db8::1");
	evudp6_addr_set_local(&a, &g, 2);
	a.local_port = 5683;
	ck_assert(evudp6_addr_equal(&a, &b));
	ck_assert_uint_eq(evudp6_addr_hash(&a), evudp6_addr_hash(&b));
	evudp6_addr_set_local(&b, &u, 3);
	ck_assert(evudp6_addr_equal(&a, &b));
	ck_assert_uint_eq(evudp6_addr_hash(&a), evudp6_addr_hash(&b));
}
END_TEST

START_TEST(addr_equal_compares_port_and_address)
{
	struct evudp6_addr a = mk("2001:db8::7", 40000, 0);
	struct evudp6_addr port = mk("2001:db8::7", 40001, 0);
	struct evudp6_addr addr = mk("2001:db8::8", 40000, 0);
	struct evudp6_addr v4 = mk("192.0.2.7", 40000, 0);
	ck_assert(evudp6_addr_equal(&a, &a));
	ck_assert(!evudp6_addr_equal(&a, &port));
	ck_assert(!evudp6_addr_equal(&a, &addr));
	ck_assert(!evudp6_addr_equal(&a, &v4));
	ck_assert_uint_ne(evudp6_addr_hash(&a), evudp6_addr_hash(&port));
	ck_assert_uint_ne(evudp6_addr_hash(&a), evudp6_addr_hash(&addr));
}
END_TEST

START_TEST(addr_equal_ignores_flowinfo)
{
	/* Received datagrams carry flowinfo 0: a remote given with a flow
	 * label must still be the peer that answers. */
	struct evudp6_addr a = mk("2001:db8::7", 40000, 0), flow = a;
	flow.remote.sin6_flowinfo = htonl(0x12345);
	ck_assert(evudp6_addr_equal(&a, &flow));
	ck_assert(evudp6_addr_equal(&flow, &a));
	ck_assert_uint_eq(evudp6_addr_hash(&a), evudp6_addr_hash(&flow));
}
END_TEST

START_TEST(addr_hash_spreads_ports)
{
	/* a table of 256 buckets should see most of them for 4096 ports of one peer */
	bool seen[256] = {false};
	unsigned int used = 0;
	for (unsigned int p = 1; p <= 4096; p++) {
		struct evudp6_addr a = mk("2001:db8::7", (uint16_t)p, 0);
		uint32_t h = evudp6_addr_hash(&a) & 255;
		if (!seen[h]) {
			seen[h] = true;
			used++;
		}
	}
	ck_assert_uint_ge(used, 240);
}
END_TEST

START_TEST(addr_response_may_alias_its_input)
{
	struct evudp6_addr a = mk("2001:db8::7", 40000, 0);
	struct in6_addr g = in6("ff02::fd");
	evudp6_addr_set_local(&a, &g, 2);
	evudp6_addr_response(&a, &a);
	ck_assert(!a.has_local);
	ck_assert_uint_eq(evudp6_addr_port(&a), 40000);
}
END_TEST

/* --------------------------------------------------- authority splitting */

struct split {
	int r;
	char host[EVUDP6__HOST_MAX + 1];
	char zone[IF_NAMESIZE];
	uint16_t port;
	bool literal;
};

static struct split split_n(const char *s, size_t len, uint16_t def)
{
	struct split o;
	memset(&o, 0x5a, sizeof(o));
	o.port = 1;
	o.literal = false;
	o.r = evudp6__authority_split(s, len, o.host, sizeof(o.host), o.zone, sizeof(o.zone), &o.port, def,
	                              &o.literal);
	return o;
}

static struct split split(const char *s)
{
	return split_n(s, strlen(s), 5683);
}

static void expect_split(const char *s, const char *host, const char *zone, uint16_t port, bool literal)
{
	struct split o = split(s);
	ck_assert_msg(o.r == 0, "%s: %d", s, o.r);
	ck_assert_str_eq(o.host, host);
	ck_assert_str_eq(o.zone, zone);
	ck_assert_uint_eq(o.port, port);
	ck_assert_msg(o.literal == literal, "%s literal", s);
}

static void expect_split_error(const char *s, int err)
{
	struct split o = split(s);
	ck_assert_msg(o.r == err, "%s: got %d (%s), want %d", s, o.r, evudp6_strerror(o.r), err);
	ck_assert_str_eq(o.host, "");
	ck_assert_str_eq(o.zone, "");
	ck_assert_uint_eq(o.port, 1);
}

START_TEST(authority_split_good_forms)
{
	expect_split("[::]", "::", "", 5683, true);
	expect_split("[::]:0", "::", "", 0, true);
	expect_split("[2001:db8::1]:5684", "2001:db8::1", "", 5684, true);
	expect_split("[fe80::1%eth0]", "fe80::1", "eth0", 5683, true);
	expect_split("[fe80::1%3]:61616", "fe80::1", "3", 61616, true);
	expect_split("[::ffff:192.0.2.1]", "::ffff:192.0.2.1", "", 5683, true);
	expect_split("192.0.2.1", "192.0.2.1", "", 5683, true);
	expect_split("192.0.2.1:65535", "192.0.2.1", "", 65535, true);
	expect_split("localhost", "localhost", "", 5683, false);
	expect_split("example.org:00080", "example.org", "", 80, false);
	expect_split("127.1", "127.1", "", 5683, false);
	expect_split("a-b_c~d.!$&'()*+,;=%41", "a-b_c~d.!$&'()*+,;=%41", "", 5683, false);
}
END_TEST

START_TEST(authority_split_uses_default_port_and_length)
{
	struct split o = split_n("coap.example", 12, 5684);
	ck_assert_int_eq(o.r, 0);
	ck_assert_uint_eq(o.port, 5684);
	/* only len bytes are read: no NUL needed */
	static const char text[] = "[::1]:5684junk";
	o = split_n(text, 10, 5683);
	ck_assert_int_eq(o.r, 0);
	ck_assert_str_eq(o.host, "::1");
	ck_assert_uint_eq(o.port, 5684);
	o = split_n(text, 4, 5683);
	ck_assert_int_eq(o.r, -EVUDP6_E_HOST_BRACKET);
}
END_TEST

/* RFC 3986 3.2.3: "host:" has an empty port, which is the default port;
 * the URI parser takes "coap://h:/" the same way (check_uri). */
START_TEST(authority_split_empty_port_is_the_default)
{
	struct split o = split_n("h:", 2, 5683);
	ck_assert_int_eq(o.r, 0);
	ck_assert_str_eq(o.host, "h");
	ck_assert_uint_eq(o.port, 5683);
	o = split_n("h:", 2, 9);
	ck_assert_int_eq(o.r, 0);
	ck_assert_uint_eq(o.port, 9);
	o = split_n("[::1]:", 6, 5684);
	ck_assert_int_eq(o.r, 0);
	ck_assert_str_eq(o.host, "::1");
	ck_assert_uint_eq(o.port, 5684);
	struct evudp6_addr a;
	ck_assert_int_eq(evudp6__addr_parse_authority(&a, "192.0.2.1:", 5683), 0);
	ck_assert_uint_eq(evudp6_addr_port(&a), 5683);
	/* but a port that is there must be all digits */
	expect_split_error("h::", -EVUDP6_E_HOST_UNBRACKETED_V6);
	expect_split_error("[::1]::", -EVUDP6_E_PORT);
}
END_TEST

START_TEST(authority_split_rejects_empty_host)
{
	expect_split_error("", -EVUDP6_E_HOST_EMPTY);
	expect_split_error(":5683", -EVUDP6_E_HOST_EMPTY);
	expect_split_error("[]", -EVUDP6_E_HOST_EMPTY);
	expect_split_error("[%eth0]:1", -EVUDP6_E_HOST_EMPTY);
	struct split o = split_n(NULL, 0, 5683);
	ck_assert_int_eq(o.r, -EVUDP6_E_HOST_EMPTY);
}
END_TEST

START_TEST(authority_split_rejects_bad_brackets)
{
	expect_split_error("[", -EVUDP6_E_HOST_BRACKET);
	expect_split_error("[::1", -EVUDP6_E_HOST_BRACKET);
	expect_split_error("[::1]x", -EVUDP6_E_HOST_BRACKET);
	expect_split_error("[::1]]", -EVUDP6_E_HOST_BRACKET);
	expect_split_error("[::1]5683", -EVUDP6_E_HOST_BRACKET);
	expect_split_error("a]b", -EVUDP6_E_HOST_BRACKET);
	expect_split_error("host[1]", -EVUDP6_E_HOST_BRACKET);
	expect_split_error("x:[1]", -EVUDP6_E_HOST_BRACKET);
}
END_TEST

START_TEST(authority_split_rejects_unbracketed_ipv6)
{
	expect_split_error("::1:5683", -EVUDP6_E_HOST_UNBRACKETED_V6);
	expect_split_error("::1", -EVUDP6_E_HOST_UNBRACKETED_V6);
	expect_split_error("2001:db8::1", -EVUDP6_E_HOST_UNBRACKETED_V6);
	expect_split_error("fe80::1%eth0", -EVUDP6_E_HOST_UNBRACKETED_V6);
	expect_split_error("h:1:2", -EVUDP6_E_HOST_UNBRACKETED_V6);
}
END_TEST

START_TEST(authority_split_rejects_bad_ports)
{
	expect_split_error("h:65536", -EVUDP6_E_PORT);
	expect_split_error("h:abc", -EVUDP6_E_PORT);
	expect_split_error("h:-1", -EVUDP6_E_PORT);
	expect_split_error("h:+1", -EVUDP6_E_PORT);
	expect_split_error("h: 1", -EVUDP6_E_PORT);
	expect_split_error("h:99999999999999999999", -EVUDP6_E_PORT);
	expect_split_error("[::1]:65536", -EVUDP6_E_PORT);
	expect_split_error("192.0.2.1:0x10", -EVUDP6_E_PORT);
}
END_TEST

START_TEST(authority_split_limits_host_to_255_bytes)
{
	char s[300], host[256];
	memset(host, 'a', 255);
	host[255] = '\0';
	snprintf(s, sizeof(s), "%s:7", host);
	expect_split(s, host, "", 7, false);
	memset(s, 'a', 256);
	strcpy(s + 256, ":7");
	expect_split_error(s, -EVUDP6_E_HOST_TOO_LONG);
	s[256] = '\0';
	expect_split_error(s, -EVUDP6_E_HOST_TOO_LONG);
	/* brackets do not count, but 256 bytes between them are too many */
	s[0] = '[';
	memset(s + 1, 'a', 256);
	strcpy(s + 257, "]");
	expect_split_error(s, -EVUDP6_E_HOST_TOO_LONG);
}
END_TEST

START_TEST(authority_split_rejects_invalid_hosts)
{
	static const char *const bad[] = {
	    "a b",
	    "a/b",
	    "a?b",
	    "a#b",
	    "a@b",
	    "a\"b",
	    "a%zz",
	    "a%4",
	    "%",
	    "a\\b",
	    "\xc3\xa9t\xc3\xa9",
	    "[v1.fe]",
	    "[1.2.3.4]",
	    "[::1::2]",
	    "[example]",
	    "[fe80::1%]",
	    "[fe80::1%e/0]",
	    "[fe80::1%a%b]",
	    "[fe80::1%e 0]",
	    "[ fe80::1]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_split_error(bad[i], -EVUDP6_E_HOST_INVALID);
	static const char nul[] = "ab\0c";
	struct split o = split_n(nul, 4, 5683);
	ck_assert_int_eq(o.r, -EVUDP6_E_HOST_INVALID);
	static const char nul6[] = "[::1\0]";
	o = split_n(nul6, 6, 5683);
	ck_assert_int_eq(o.r, -EVUDP6_E_HOST_INVALID);
}
END_TEST

START_TEST(authority_split_rejects_zone_longer_than_ifname)
{
	expect_split_error("[fe80::1%abcdefghijklmnop]", -EVUDP6_E_ZONE_UNKNOWN);
	expect_split("[fe80::1%abcdefghijklmno]", "fe80::1", "abcdefghijklmno", 5683, true);
}
END_TEST

START_TEST(authority_split_reports_small_buffers)
{
	char host[4], zone[3];
	uint16_t port = 1;
	bool lit = false;
	ck_assert_int_eq(
	    evudp6__authority_split("abcd", 4, host, sizeof(host), zone, sizeof(zone), &port, 5683, &lit),
	    -ENOSPC);
	ck_assert_str_eq(host, "");
	ck_assert_uint_eq(port, 1);
	ck_assert_int_eq(
	    evudp6__authority_split("abc", 3, host, sizeof(host), zone, sizeof(zone), &port, 5683, &lit), 0);
	ck_assert_str_eq(host, "abc");
	ck_assert_int_eq(evudp6__authority_split("[::1%lo0]", 9, host, sizeof(host), zone, sizeof(zone),
	                                         &port, 5683, &lit),
	                 -ENOSPC);
	ck_assert_int_eq(
	    evudp6__authority_split("[::1%lo]", 8, host, sizeof(host), zone, sizeof(zone), &port, 5683, &lit),
	    0);
	ck_assert_str_eq(zone, "lo");
	ck_assert(lit);
	/* no zone wanted and none given; port and is_literal are optional */
	ck_assert_int_eq(evudp6__authority_split("[::1]:9", 7, host, sizeof(host), NULL, 0, NULL, 5683, NULL),
	                 0);
	ck_assert_str_eq(host, "::1");
	ck_assert_int_eq(
	    evudp6__authority_split("[::1%lo]", 8, host, sizeof(host), NULL, 0, NULL, 5683, NULL), -ENOSPC);
}
END_TEST

/* --------------------------------------------------------------- zones */

START_TEST(zone_to_ifindex_accepts_name_and_number)
{
	unsigned int idx = 0, lo = lo_index();
	char num[16];
	ck_assert_int_eq(evudp6__zone_to_ifindex("lo", &idx), 0);
	ck_assert_uint_eq(idx, lo);
	snprintf(num, sizeof(num), "%u", lo);
	idx = 0;
	ck_assert_int_eq(evudp6__zone_to_ifindex(num, &idx), 0);
	ck_assert_uint_eq(idx, lo);
}
END_TEST

START_TEST(zone_to_ifindex_rejects_unknown)
{
	unsigned int idx = 77;
	char num[16];
	snprintf(num, sizeof(num), "%u", unused_index());
	ck_assert_int_eq(evudp6__zone_to_ifindex("nosuchif0", &idx), -EVUDP6_E_ZONE_UNKNOWN);
	ck_assert_int_eq(evudp6__zone_to_ifindex(num, &idx), -EVUDP6_E_ZONE_UNKNOWN);
	ck_assert_int_eq(evudp6__zone_to_ifindex("0", &idx), -EVUDP6_E_ZONE_UNKNOWN);
	ck_assert_int_eq(evudp6__zone_to_ifindex("", &idx), -EVUDP6_E_ZONE_UNKNOWN);
	ck_assert_int_eq(evudp6__zone_to_ifindex(NULL, &idx), -EVUDP6_E_ZONE_UNKNOWN);
	ck_assert_int_eq(evudp6__zone_to_ifindex("4294967297", &idx), -EVUDP6_E_ZONE_UNKNOWN);
	ck_assert_int_eq(evudp6__zone_to_ifindex("1x", &idx), -EVUDP6_E_ZONE_UNKNOWN);
	ck_assert_uint_eq(idx, 77);
}
END_TEST

/* ------------------------------------------------- literal authorities */

static struct evudp6_addr parse_ok(const char *s, uint16_t def)
{
	struct evudp6_addr a;
	memset(&a, 0x77, sizeof(a));
	int r = evudp6__addr_parse_authority(&a, s, def);
	ck_assert_msg(r == 0, "%s: %d (%s)", s, r, evudp6_strerror(r));
	ck_assert(!a.has_local);
	ck_assert_uint_eq(a.local_port, 0);
	ck_assert_int_eq(a.remote.sin6_family, AF_INET6);
	return a;
}

static void expect_remote(const struct evudp6_addr *a, const char *addr, uint16_t port, uint32_t scope)
{
	struct in6_addr w = in6(addr);
	ck_assert_int_eq(memcmp(&a->remote.sin6_addr, &w, 16), 0);
	ck_assert_uint_eq(evudp6_addr_port(a), port);
	ck_assert_uint_eq(a->remote.sin6_scope_id, scope);
	ck_assert_uint_eq(a->remote.sin6_flowinfo, 0);
}

START_TEST(parse_authority_any_defaults_port)
{
	struct evudp6_addr a = parse_ok("[::]", 5683);
	expect_remote(&a, "::", 5683, 0);
	a = parse_ok("[::]:0", 5683);
	expect_remote(&a, "::", 0, 0);
}
END_TEST

START_TEST(parse_authority_explicit_port)
{
	struct evudp6_addr a = parse_ok("[2001:db8::1]:5684", 5683);
	expect_remote(&a, "2001:db8::1", 5684, 0);
}
END_TEST

START_TEST(parse_authority_zone_by_name_and_number)
{
	unsigned int lo = lo_index();
	struct evudp6_addr a = parse_ok("[fe80::1%lo]", 5683);
	expect_remote(&a, "fe80::1", 5683, lo);
	char s[32];
	snprintf(s, sizeof(s), "[fe80::1%%%u]", lo);
	a = parse_ok(s, 5683);
	expect_remote(&a, "fe80::1", 5683, lo);
	/* and back to text, with the name */
	a = parse_ok("[fe80::1%lo]:1234", 5683);
	expect_text(evudp6_addr_hostinfo, &a, "[fe80::1%lo]:1234");
	/* a zone on a non-link-local address picks the interface */
	a = parse_ok("[ff05::fd%lo]", 5683);
	expect_remote(&a, "ff05::fd", 5683, lo);
}
END_TEST

START_TEST(parse_authority_maps_ipv4)
{
	struct evudp6_addr a = parse_ok("192.0.2.1", 5683);
	expect_remote(&a, "::ffff:192.0.2.1", 5683, 0);
	ck_assert(evudp6_addr_is_v4mapped(&a));
	a = parse_ok("198.51.100.7:5684", 5683);
	expect_remote(&a, "::ffff:198.51.100.7", 5684, 0);
	a = parse_ok("[::ffff:203.0.113.9]:1", 5683);
	expect_remote(&a, "::ffff:203.0.113.9", 1, 0);
}
END_TEST

START_TEST(parse_authority_name_is_not_literal)
{
	struct evudp6_addr a = mk("::1", 9, 0), before = a;
	ck_assert_int_eq(evudp6__addr_parse_authority(&a, "localhost", 5683), -EVUDP6_E_NOT_LITERAL);
	ck_assert_int_eq(evudp6__addr_parse_authority(&a, "localhost:5684", 5683), -EVUDP6_E_NOT_LITERAL);
	ck_assert_int_eq(evudp6__addr_parse_authority(&a, "127.1", 5683), -EVUDP6_E_NOT_LITERAL);
	ck_assert_int_eq(memcmp(&a, &before, sizeof(a)), 0);
	struct split o = split("localhost");
	ck_assert_int_eq(o.r, 0);
	ck_assert_str_eq(o.host, "localhost");
	ck_assert(!o.literal);
}
END_TEST

START_TEST(parse_authority_zone_errors)
{
	struct evudp6_addr a = mk("::1", 9, 0), before = a;
	char s[40];
	snprintf(s, sizeof(s), "[fe80::1%%%u]", unused_index());
	ck_assert_int_eq(evudp6__addr_parse_authority(&a, "[fe80::1%nosuchif0]", 5683),
	                 -EVUDP6_E_ZONE_UNKNOWN);
	ck_assert_int_eq(evudp6__addr_parse_authority(&a, s, 5683), -EVUDP6_E_ZONE_UNKNOWN);
	ck_assert_int_eq(evudp6__addr_parse_authority(&a, "[fe80::1%0]", 5683), -EVUDP6_E_ZONE_UNKNOWN);
	ck_assert_int_eq(evudp6__addr_parse_authority(&a, "[::ffff:192.0.2.1%lo]", 5683),
	                 -EVUDP6_E_ZONE_NOT_ALLOWED);
	ck_assert_int_eq(memcmp(&a, &before, sizeof(a)), 0);
}
END_TEST

START_TEST(parse_authority_passes_split_errors)
{
	static const struct {
		const char *s;
		int err;
	} cases[] = {
	    {"", -EVUDP6_E_HOST_EMPTY},
	    {"[", -EVUDP6_E_HOST_BRACKET},
	    {"[::1", -EVUDP6_E_HOST_BRACKET},
	    {"[::1]x", -EVUDP6_E_HOST_BRACKET},
	    {"::1:5683", -EVUDP6_E_HOST_UNBRACKETED_V6},
	    {"::1", -EVUDP6_E_HOST_UNBRACKETED_V6},
	    {"h:65536", -EVUDP6_E_PORT},
	    {"h:abc", -EVUDP6_E_PORT},
	    {"h:-1", -EVUDP6_E_PORT},
	    {"a b", -EVUDP6_E_HOST_INVALID},
	};
	struct evudp6_addr a = mk("::1", 9, 0), before = a;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_msg(evudp6__addr_parse_authority(&a, cases[i].s, 5683) == cases[i].err, "%s",
		              cases[i].s);
	char longhost[300];
	memset(longhost, 'h', 256);
	longhost[256] = '\0';
	ck_assert_int_eq(evudp6__addr_parse_authority(&a, longhost, 5683), -EVUDP6_E_HOST_TOO_LONG);
	ck_assert_int_eq(evudp6__addr_parse_authority(&a, NULL, 5683), -EINVAL);
	ck_assert_int_eq(memcmp(&a, &before, sizeof(a)), 0);
}
END_TEST

static Suite *addr_suite(void)
{
	Suite *s = suite_create("addr");
	TCase *t = tcase_create("spec");
	tcase_add_test(t, addr_hostinfo_strips_v4mapped);
	tcase_add_test(t, addr_hostinfo_v4mapped_keeps_other_port);
	tcase_add_test(t, addr_hostinfo_and_uri_base_bracket_ipv6);
	tcase_add_test(t, addr_hostinfo_scoped_multicast_names_interface);
	tcase_add_test(t, addr_hostinfo_zone_without_name_is_number);
	tcase_add_test(t, addr_site_multicast_hostinfo_and_is_multicast);
	tcase_add_test(t, addr_v4mapped_all_coap_nodes_is_multicast);
	tcase_add_test(t, addr_v4mapped_loopback_is_not_multicast);
	tcase_add_test(t, addr_pktinfo_group_is_multicast_locally);
	tcase_add_test(t, addr_response_drops_multicast_local);
	tcase_add_test(t, addr_response_keeps_unicast_local);
	tcase_add_test(t, addr_hostinfo_local_and_uri_base_local_from_pktinfo);
	suite_add_tcase(s, t);

	t = tcase_create("seed");
	tcase_add_test(t, seed_local_is_not_multicast);
	tcase_add_test(t, seed_local_hostinfo_is_plain_ipv4);
	tcase_add_test(t, seed_all_coap_site_is_multicast);
	tcase_add_test(t, seed_all_coap_site_hostinfo_is_canonical);
	tcase_add_test(t, seed_all_coap4_is_multicast);
	suite_add_tcase(s, t);

	t = tcase_create("value");
	tcase_add_test(t, addr_from_sockaddr_maps_ipv4);
	tcase_add_test(t, addr_from_sockaddr_copies_ipv6_scope_and_flowinfo);
	tcase_add_test(t, addr_from_sockaddr_rejects_other_family);
	tcase_add_test(t, addr_from_sockaddr_rejects_short_length);
	tcase_add_test(t, addr_from_literal_reads_ipv6_and_maps_ipv4);
	tcase_add_test(t, addr_from_literal_rejects_non_literals);
	tcase_add_test(t, addr_from_literal_refuses_scope_on_ipv4);
	tcase_add_test(t, addr_set_and_clear_local);
	tcase_add_test(t, addr_is_multicast_follows_prefix_bounds);
	tcase_add_test(t, addr_is_multicast_locally_false_without_local);
	tcase_add_test(t, addr_broadcast_arrival_is_multicast_locally);
	tcase_add_test(t, addr_is_v4mapped_only_for_ffff_prefix);
	tcase_add_test(t, addr_response_may_alias_its_input);
	tcase_add_test(t, addr_equal_tells_link_local_interfaces_apart);
	tcase_add_test(t, addr_equal_ignores_scope_of_global_addresses);
	tcase_add_test(t, addr_equal_ignores_local_part);
	tcase_add_test(t, addr_equal_compares_port_and_address);
	tcase_add_test(t, addr_equal_ignores_flowinfo);
	tcase_add_test(t, addr_hash_spreads_ports);
	suite_add_tcase(s, t);

	t = tcase_create("text");
	tcase_add_test(t, addr_hostinfo_is_rfc5952_canonical);
	tcase_add_test(t, addr_hostinfo_writes_ports_other_than_5683);
	tcase_add_test(t, addr_hostinfo_zone_is_never_percent_encoded);
	tcase_add_test(t, addr_hostinfo_v4mapped_ignores_scope);
	tcase_add_test(t, addr_hostinfo_local_needs_local_address);
	tcase_add_test(t, addr_hostinfo_local_forms);
	tcase_add_test(t, addr_netif_prefers_local_interface);
	tcase_add_test(t, addr_netif_empty_without_interface);
	tcase_add_test(t, addr_text_forms_report_enospc_at_every_short_size);
	tcase_add_test(t, addr_text_max_sizes_hold_longest_forms);
	suite_add_tcase(s, t);

	t = tcase_create("authority");
	tcase_add_test(t, authority_split_good_forms);
	tcase_add_test(t, authority_split_uses_default_port_and_length);
	tcase_add_test(t, authority_split_rejects_empty_host);
	tcase_add_test(t, authority_split_empty_port_is_the_default);
	tcase_add_test(t, authority_split_rejects_bad_brackets);
	tcase_add_test(t, authority_split_rejects_unbracketed_ipv6);
	tcase_add_test(t, authority_split_rejects_bad_ports);
	tcase_add_test(t, authority_split_limits_host_to_255_bytes);
	tcase_add_test(t, authority_split_rejects_invalid_hosts);
	tcase_add_test(t, authority_split_rejects_zone_longer_than_ifname);
	tcase_add_test(t, authority_split_reports_small_buffers);
	tcase_add_test(t, zone_to_ifindex_accepts_name_and_number);
	tcase_add_test(t, zone_to_ifindex_rejects_unknown);
	tcase_add_test(t, parse_authority_any_defaults_port);
	tcase_add_test(t, parse_authority_explicit_port);
	tcase_add_test(t, parse_authority_zone_by_name_and_number);
	tcase_add_test(t, parse_authority_maps_ipv4);
	tcase_add_test(t, parse_authority_name_is_not_literal);
	tcase_add_test(t, parse_authority_zone_errors);
	tcase_add_test(t, parse_authority_passes_split_errors);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return testutil_run(addr_suite());
}
