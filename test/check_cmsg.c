/*
 * Ancillary data and ICMP details: constructed control buffers for every
 * case the kernel produces (see TESTING.md), bad buffers, names and
 * descriptions, and one real error queue on loopback that shows the
 * constructed buffers are what Linux sends.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <linux/errqueue.h>
#include <net/if.h>
#include <netinet/in.h>

#include <evudp6/icmp.h>

#include "testnet.h"
#include "testutil.h"

/* ------------------------------------------------- control buffer builder */

struct cbuf {
	unsigned char b[1024];
	size_t len;
};

static void put(struct cbuf *c, int level, int type, const void *data, size_t n)
{
	struct cmsghdr h;
	memset(&h, 0, sizeof(h));
	h.cmsg_len = CMSG_LEN(n);
	h.cmsg_level = level;
	h.cmsg_type = type;
	ck_assert_uint_le(c->len + CMSG_SPACE(n), sizeof(c->b));
	memset(c->b + c->len, 0, CMSG_SPACE(n));
	memcpy(c->b + c->len, &h, sizeof(h));
	if (n)
		memcpy(c->b + c->len + CMSG_LEN(0), data, n);
	c->len += CMSG_SPACE(n);
}

static struct in6_addr in6(const char *text)
{
	struct in6_addr x;
	ck_assert_int_eq(inet_pton(AF_INET6, text, &x), 1);
	return x;
}

static void put_pktinfo6(struct cbuf *c, const char *dst, unsigned int ifindex)
{
	struct in6_pktinfo pi;
	memset(&pi, 0, sizeof(pi));
	pi.ipi6_addr = in6(dst);
	pi.ipi6_ifindex = ifindex;
	put(c, IPPROTO_IPV6, IPV6_PKTINFO, &pi, sizeof(pi));
}

static struct sock_extended_err mkee(uint32_t err, uint8_t origin, uint8_t type, uint8_t code, uint32_t info)
{
	struct sock_extended_err ee;
	memset(&ee, 0, sizeof(ee));
	ee.ee_errno = err;
	ee.ee_origin = origin;
	ee.ee_type = type;
	ee.ee_code = code;
	ee.ee_info = info;
	return ee;
}

/* What the kernel puts after IPV6_RECVERR: the entry, then a sockaddr_in6. */
static void put_err6(struct cbuf *c, struct sock_extended_err ee, const char *offender)
{
	unsigned char d[sizeof(ee) + sizeof(struct sockaddr_in6)];
	struct sockaddr_in6 sin6;
	memset(&sin6, 0, sizeof(sin6));
	if (offender) {
		sin6.sin6_family = AF_INET6;
		sin6.sin6_addr = in6(offender);
	}
	memcpy(d, &ee, sizeof(ee));
	memcpy(d + sizeof(ee), &sin6, sizeof(sin6));
	put(c, IPPROTO_IPV6, IPV6_RECVERR, d, sizeof(d));
}

/* What the kernel puts after IP_RECVERR: the entry, then a sockaddr_in. */
static void put_err4(struct cbuf *c, struct sock_extended_err ee, const char *offender)
{
	unsigned char d[sizeof(ee) + sizeof(struct sockaddr_in)];
	struct sockaddr_in sin;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	ck_assert_int_eq(inet_pton(AF_INET, offender, &sin.sin_addr), 1);
	memcpy(d, &ee, sizeof(ee));
	memcpy(d + sizeof(ee), &sin, sizeof(sin));
	put(c, IPPROTO_IP, IP_RECVERR, d, sizeof(d));
}

static struct evudp6_cmsg_info parse(const struct cbuf *c, int flags)
{
	struct evudp6_cmsg_info info;
	memset(&info, 0x5a, sizeof(info));
	ck_assert_int_eq(evudp6_cmsg_parse(c->b, c->len, flags, &info, sizeof(info)), (int)sizeof(info));
	return info;
}

static void expect_in6(const struct in6_addr *got, const char *want)
{
	struct in6_addr w = in6(want);
	char g[INET6_ADDRSTRLEN];
	inet_ntop(AF_INET6, got, g, sizeof(g));
	ck_assert_msg(memcmp(got, &w, sizeof(w)) == 0, "address %s, want %s", g, want);
}

static void expect_nothing_else(const struct evudp6_cmsg_info *i)
{
	ck_assert(!i->has_ovfl);
	ck_assert_uint_eq(i->ovfl, 0);
	ck_assert(!i->ctrunc);
	ck_assert_uint_eq(i->unknown, 0);
	ck_assert_uint_eq(i->malformed, 0);
}

static void expect_no_pktinfo(const struct evudp6_cmsg_info *i)
{
	ck_assert(!i->has_pktinfo);
	expect_in6(&i->local, "::");
	ck_assert_uint_eq(i->ifindex, 0);
}

static void expect_no_icmp(const struct evudp6_cmsg_info *i)
{
	static const struct evudp6_icmp zero;
	ck_assert(!i->has_icmp);
	ck_assert_int_eq(memcmp(&i->icmp, &zero, sizeof(zero)), 0);
}

static void expect_icmp(const struct evudp6_cmsg_info *i, int err, uint8_t origin, uint8_t type, uint8_t code,
                        const char *offender)
{
	ck_assert(i->has_icmp);
	ck_assert_int_eq(i->icmp.err, err);
	ck_assert_uint_eq(i->icmp.origin, origin);
	ck_assert_uint_eq(i->icmp.type, type);
	ck_assert_uint_eq(i->icmp.code, code);
	if (offender) {
		ck_assert(i->icmp.has_offender);
		ck_assert_int_eq(i->icmp.offender.sin6_family, AF_INET6);
		expect_in6(&i->icmp.offender.sin6_addr, offender);
		ck_assert_uint_eq(i->icmp.offender.sin6_port, 0);
	} else {
		ck_assert(!i->icmp.has_offender);
	}
}

static void expect_describe(const struct evudp6_icmp *e, const char *want)
{
	char buf[EVUDP6_ICMP_DESCRIBE_MAX];
	ck_assert_int_eq(evudp6_icmp_describe(e, buf, sizeof(buf)), (int)strlen(want));
	ck_assert_str_eq(buf, want);
}

/* The two loopback cases of TESTING.md, exactly as Linux delivers them. */
static void build_loopback_v6(struct cbuf *c, unsigned int lo)
{
	put_pktinfo6(c, "::1", lo);
	put_err6(c, mkee(ECONNREFUSED, SO_EE_ORIGIN_ICMP6, 1, 4, 0), "::1");
}

static void build_loopback_v4mapped(struct cbuf *c, unsigned int lo)
{
	put_pktinfo6(c, "::ffff:127.0.0.1", lo);
	put_err6(c, mkee(ECONNREFUSED, SO_EE_ORIGIN_ICMP, 3, 3, 0), "::ffff:127.0.0.1");
}

/* ------------------------------------------------------------- pktinfo */

START_TEST(cmsg_parse_ipv6_pktinfo)
{
	struct cbuf c = {.len = 0};
	put_pktinfo6(&c, "2001:db8::1", 3);
	struct evudp6_cmsg_info i = parse(&c, 0);
	ck_assert(i.has_pktinfo);
	expect_in6(&i.local, "2001:db8::1");
	ck_assert_uint_eq(i.ifindex, 3);
	expect_no_icmp(&i);
	expect_nothing_else(&i);
}
END_TEST

START_TEST(cmsg_parse_ip_pktinfo_maps_header_destination)
{
	struct cbuf c = {.len = 0};
	struct in_pktinfo pi;
	memset(&pi, 0, sizeof(pi));
	pi.ipi_ifindex = 2;
	inet_pton(AF_INET, "192.0.2.99", &pi.ipi_spec_dst);
	inet_pton(AF_INET, "224.0.1.187", &pi.ipi_addr);
	put(&c, IPPROTO_IP, IP_PKTINFO, &pi, sizeof(pi));
	struct evudp6_cmsg_info i = parse(&c, 0);
	ck_assert(i.has_pktinfo);
	expect_in6(&i.local, "::ffff:224.0.1.187");
	ck_assert_uint_eq(i.ifindex, 2);
	expect_no_icmp(&i);
	expect_nothing_else(&i);
}
END_TEST

/* IP_PKTINFO: ipi_spec_dst is where the kernel would answer from, equal to
 * ipi_addr for a datagram to one of our addresses. */
static struct evudp6_cmsg_info parse_ip_pktinfo(const char *spec_dst, const char *addr)
{
	struct cbuf c = {.len = 0};
	struct in_pktinfo pi;
	memset(&pi, 0, sizeof(pi));
	pi.ipi_ifindex = 3;
	inet_pton(AF_INET, spec_dst, &pi.ipi_spec_dst);
	inet_pton(AF_INET, addr, &pi.ipi_addr);
	put(&c, IPPROTO_IP, IP_PKTINFO, &pi, sizeof(pi));
	return parse(&c, 0);
}

START_TEST(cmsg_parse_ip_pktinfo_tells_broadcast)
{
	/* directed broadcast: answer from the interface's address */
	struct evudp6_cmsg_info i = parse_ip_pktinfo("192.0.2.1", "192.0.2.255");
	ck_assert(i.has_pktinfo);
	ck_assert(i.broadcast);
	expect_in6(&i.local, "::ffff:192.0.2.255");
	/* limited broadcast, known by its address */
	i = parse_ip_pktinfo("255.255.255.255", "255.255.255.255");
	ck_assert(i.broadcast);
	expect_in6(&i.local, "::ffff:255.255.255.255");
	/* one of our addresses */
	i = parse_ip_pktinfo("192.0.2.1", "192.0.2.1");
	ck_assert(i.has_pktinfo);
	ck_assert(!i.broadcast);
	/* a group: multicast, not broadcast */
	i = parse_ip_pktinfo("192.0.2.1", "224.0.1.187");
	ck_assert(!i.broadcast);
	/* IPV6_PKTINFO alone says nothing about broadcast */
	struct cbuf c = {.len = 0};
	put_pktinfo6(&c, "::ffff:192.0.2.255", 3);
	i = parse(&c, 0);
	ck_assert(i.has_pktinfo);
	ck_assert(!i.broadcast);
}
END_TEST

/* ------------------------------------------------------ error entries */

START_TEST(cmsg_parse_loopback_ipv6_port_unreachable)
{
	struct cbuf c = {.len = 0};
	put_err6(&c, mkee(111, 3, 1, 4, 0), "::1");
	struct evudp6_cmsg_info i = parse(&c, MSG_ERRQUEUE);
	expect_icmp(&i, 111, EVUDP6_ORIGIN_ICMP6, 1, 4, "::1");
	ck_assert_uint_eq(i.icmp.info, 0);
	ck_assert_uint_eq(i.icmp.data, 0);
	ck_assert_uint_eq(i.icmp.offender.sin6_scope_id, 0);
	expect_no_pktinfo(&i);
	expect_nothing_else(&i);
	expect_describe(&i.icmp, "ICMPv6 port unreachable from ::1");
}
END_TEST

START_TEST(cmsg_parse_v4mapped_error_arrives_at_ipv6_level)
{
	struct cbuf c = {.len = 0};
	put_err6(&c, mkee(111, 2, 3, 3, 0), "::ffff:127.0.0.1");
	struct evudp6_cmsg_info i = parse(&c, MSG_ERRQUEUE);
	expect_icmp(&i, 111, EVUDP6_ORIGIN_ICMP, 3, 3, "::ffff:127.0.0.1");
	expect_no_pktinfo(&i);
	expect_nothing_else(&i);
	expect_describe(&i.icmp, "ICMP port unreachable from 127.0.0.1");
}
END_TEST

START_TEST(cmsg_parse_ip_recverr_maps_sockaddr_in_offender)
{
	struct cbuf c = {.len = 0};
	struct sock_extended_err ee = mkee(ECONNREFUSED, SO_EE_ORIGIN_ICMP, 3, 3, 0);
	ee.ee_data = 7;
	put_err4(&c, ee, "192.0.2.1");
	struct evudp6_cmsg_info i = parse(&c, MSG_ERRQUEUE);
	expect_icmp(&i, ECONNREFUSED, EVUDP6_ORIGIN_ICMP, 3, 3, "::ffff:192.0.2.1");
	ck_assert_uint_eq(i.icmp.data, 7);
	expect_nothing_else(&i);
	expect_describe(&i.icmp, "ICMP port unreachable from 192.0.2.1");
}
END_TEST

START_TEST(cmsg_parse_router_no_route_ipv6)
{
	struct cbuf c = {.len = 0};
	put_err6(&c, mkee(ENETUNREACH, SO_EE_ORIGIN_ICMP6, 1, 0, 0), "2001:db8:1::1");
	struct evudp6_cmsg_info i = parse(&c, MSG_ERRQUEUE);
	expect_icmp(&i, 101, EVUDP6_ORIGIN_ICMP6, 1, 0, "2001:db8:1::1");
	expect_nothing_else(&i);
	expect_describe(&i.icmp, "ICMPv6 no route to destination from 2001:db8:1::1");
}
END_TEST

START_TEST(cmsg_parse_router_host_unreachable_ipv4)
{
	struct cbuf c = {.len = 0};
	put_err6(&c, mkee(EHOSTUNREACH, SO_EE_ORIGIN_ICMP, 3, 1, 0), "::ffff:192.0.2.1");
	struct evudp6_cmsg_info i = parse(&c, MSG_ERRQUEUE);
	expect_icmp(&i, 113, EVUDP6_ORIGIN_ICMP, 3, 1, "::ffff:192.0.2.1");
	expect_nothing_else(&i);
	expect_describe(&i.icmp, "ICMP host unreachable from 192.0.2.1");
}
END_TEST

START_TEST(cmsg_parse_router_prohibited_ipv4)
{
	struct cbuf c = {.len = 0};
	put_err6(&c, mkee(EHOSTUNREACH, SO_EE_ORIGIN_ICMP, 3, 13, 0), "::ffff:192.0.2.1");
	struct evudp6_cmsg_info i = parse(&c, MSG_ERRQUEUE);
	expect_icmp(&i, 113, EVUDP6_ORIGIN_ICMP, 3, 13, "::ffff:192.0.2.1");
	expect_nothing_else(&i);
	expect_describe(&i.icmp, "ICMP communication administratively prohibited from 192.0.2.1");
}
END_TEST

START_TEST(cmsg_parse_local_emsgsize_has_no_offender)
{
	struct cbuf c = {.len = 0};
	put_err6(&c, mkee(EMSGSIZE, SO_EE_ORIGIN_LOCAL, 0, 0, 1280), NULL);
	struct evudp6_cmsg_info i = parse(&c, MSG_ERRQUEUE);
	expect_icmp(&i, EMSGSIZE, EVUDP6_ORIGIN_LOCAL, 0, 0, NULL);
	ck_assert_uint_eq(i.icmp.info, 1280);
	expect_nothing_else(&i);
	expect_describe(&i.icmp, "local error: Message too long (mtu 1280)");
}
END_TEST

START_TEST(cmsg_parse_local_origin_ignores_offender_bytes)
{
	/* even if something stands where the offender would be */
	struct cbuf c = {.len = 0};
	put_err6(&c, mkee(EMSGSIZE, SO_EE_ORIGIN_LOCAL, 0, 0, 1280), "2001:db8::1");
	struct evudp6_cmsg_info i = parse(&c, MSG_ERRQUEUE);
	expect_icmp(&i, EMSGSIZE, EVUDP6_ORIGIN_LOCAL, 0, 0, NULL);
	c.len = 0;
	put_err6(&c, mkee(ECONNREFUSED, SO_EE_ORIGIN_NONE, 0, 0, 0), "2001:db8::1");
	i = parse(&c, MSG_ERRQUEUE);
	expect_icmp(&i, ECONNREFUSED, EVUDP6_ORIGIN_NONE, 0, 0, NULL);
	expect_nothing_else(&i);
}
END_TEST

START_TEST(cmsg_parse_unspec_offender_is_absent)
{
	struct cbuf c = {.len = 0};
	put_err6(&c, mkee(EHOSTUNREACH, SO_EE_ORIGIN_ICMP6, 1, 3, 0), NULL);
	struct evudp6_cmsg_info i = parse(&c, MSG_ERRQUEUE);
	expect_icmp(&i, EHOSTUNREACH, EVUDP6_ORIGIN_ICMP6, 1, 3, NULL);
	expect_nothing_else(&i);
	expect_describe(&i.icmp, "ICMPv6 address unreachable");
}
END_TEST

START_TEST(cmsg_parse_error_with_pktinfo)
{
	struct cbuf c = {.len = 0};
	build_loopback_v4mapped(&c, 1);
	struct evudp6_cmsg_info i = parse(&c, MSG_ERRQUEUE);
	ck_assert(i.has_pktinfo);
	expect_in6(&i.local, "::ffff:127.0.0.1");
	ck_assert_uint_eq(i.ifindex, 1);
	expect_icmp(&i, ECONNREFUSED, EVUDP6_ORIGIN_ICMP, 3, 3, "::ffff:127.0.0.1");
	expect_nothing_else(&i);
}
END_TEST

START_TEST(cmsg_parse_rxq_ovfl)
{
	struct cbuf c = {.len = 0};
	uint32_t drops = 4000000000u;
	put_pktinfo6(&c, "::1", 1);
	put(&c, SOL_SOCKET, SO_RXQ_OVFL, &drops, sizeof(drops));
	struct evudp6_cmsg_info i = parse(&c, 0);
	ck_assert(i.has_ovfl);
	ck_assert_uint_eq(i.ovfl, 4000000000u);
	ck_assert(i.has_pktinfo);
	expect_no_icmp(&i);
	ck_assert_uint_eq(i.unknown, 0);
	ck_assert_uint_eq(i.malformed, 0);
}
END_TEST

/* --------------------------------------------------------- bad buffers */

START_TEST(cmsg_parse_counts_and_skips_unknown)
{
	struct cbuf c = {.len = 0};
	int hops = 64;
	uint64_t ts[2] = {1, 2};
	put(&c, IPPROTO_IPV6, IPV6_HOPLIMIT, &hops, sizeof(hops));
	put(&c, SOL_SOCKET, SO_TIMESTAMP, ts, sizeof(ts));
	put(&c, 12345, IPV6_PKTINFO, ts, sizeof(ts));
	put_pktinfo6(&c, "2001:db8::1", 3);
	put(&c, IPPROTO_IP, IP_TTL, &hops, sizeof(hops));
	struct evudp6_cmsg_info i = parse(&c, 0);
	ck_assert_uint_eq(i.unknown, 4);
	ck_assert_uint_eq(i.malformed, 0);
	ck_assert(i.has_pktinfo);
	expect_in6(&i.local, "2001:db8::1");
	ck_assert_uint_eq(i.ifindex, 3);
	expect_no_icmp(&i);
}
END_TEST

START_TEST(cmsg_parse_skips_messages_too_short_for_their_type)
{
	struct cbuf c = {.len = 0};
	unsigned char junk[sizeof(struct sock_extended_err) + sizeof(struct sockaddr_in6)];
	memset(junk, 0, sizeof(junk));
	put(&c, IPPROTO_IPV6, IPV6_PKTINFO, junk, sizeof(struct in6_pktinfo) - 1);
	put(&c, IPPROTO_IP, IP_PKTINFO, junk, sizeof(struct in_pktinfo) - 1);
	put(&c, IPPROTO_IPV6, IPV6_RECVERR, junk, sizeof(struct sock_extended_err) - 1);
	put(&c, IPPROTO_IP, IP_RECVERR, junk, 0);
	put(&c, SOL_SOCKET, SO_RXQ_OVFL, junk, 3);
	/* an ICMP entry whose IPv6 offender is cut short */
	struct sock_extended_err ee = mkee(ECONNREFUSED, SO_EE_ORIGIN_ICMP6, 1, 4, 0);
	sa_family_t fam = AF_INET6;
	memcpy(junk, &ee, sizeof(ee));
	memcpy(junk + sizeof(ee), &fam, sizeof(fam));
	put(&c, IPPROTO_IPV6, IPV6_RECVERR, junk, sizeof(ee) + 8);
	/* and one whose IPv4 offender is */
	fam = AF_INET;
	ee.ee_origin = SO_EE_ORIGIN_ICMP;
	memcpy(junk, &ee, sizeof(ee));
	memcpy(junk + sizeof(ee), &fam, sizeof(fam));
	put(&c, IPPROTO_IP, IP_RECVERR, junk, sizeof(ee) + sizeof(struct sockaddr_in) - 1);
	put_pktinfo6(&c, "2001:db8::2", 5);
	struct evudp6_cmsg_info i = parse(&c, 0);
	ck_assert_uint_eq(i.malformed, 7);
	ck_assert_uint_eq(i.unknown, 0);
	expect_no_icmp(&i);
	ck_assert(!i.has_ovfl);
	ck_assert(i.has_pktinfo);
	expect_in6(&i.local, "2001:db8::2");
	ck_assert_uint_eq(i.ifindex, 5);
}
END_TEST

START_TEST(cmsg_parse_stops_at_length_past_end)
{
	struct cbuf c = {.len = 0};
	put_pktinfo6(&c, "2001:db8::1", 3);
	size_t first = c.len;
	put_err6(&c, mkee(ECONNREFUSED, SO_EE_ORIGIN_ICMP6, 1, 4, 0), "::1");
	/* cut the second message: its cmsg_len now claims bytes that are not there */
	size_t claimed = CMSG_LEN(sizeof(struct sock_extended_err) + sizeof(struct sockaddr_in6));
	for (size_t len = first + sizeof(struct cmsghdr); len < first + claimed; len++) {
		unsigned char *mem = malloc(len);
		ck_assert_ptr_nonnull(mem);
		memcpy(mem, c.b, len);
		struct evudp6_cmsg_info i;
		ck_assert_int_eq(evudp6_cmsg_parse(mem, len, 0, &i, sizeof(i)), (int)sizeof(i));
		free(mem);
		ck_assert(i.has_pktinfo);
		expect_in6(&i.local, "2001:db8::1");
		ck_assert_uint_eq(i.malformed, 1);
		expect_no_icmp(&i);
	}
}
END_TEST

START_TEST(cmsg_parse_stops_at_length_below_header)
{
	struct cbuf c = {.len = 0};
	put_pktinfo6(&c, "2001:db8::1", 3);
	size_t second = c.len;
	put_pktinfo6(&c, "2001:db8::2", 4);
	static const size_t bad_lens[] = {0, 1, sizeof(struct cmsghdr) - 1};
	for (size_t k = 0; k < sizeof(bad_lens) / sizeof(bad_lens[0]); k++) {
		struct cmsghdr h;
		memcpy(&h, c.b + second, sizeof(h));
		h.cmsg_len = bad_lens[k];
		memcpy(c.b + second, &h, sizeof(h));
		struct evudp6_cmsg_info i = parse(&c, 0);
		ck_assert_uint_eq(i.malformed, 1);
		ck_assert(i.has_pktinfo);
		expect_in6(&i.local, "2001:db8::1");
		ck_assert_uint_eq(i.ifindex, 3);
	}
	/* a zero length first message hides everything */
	struct cmsghdr h;
	memcpy(&h, c.b, sizeof(h));
	h.cmsg_len = 0;
	memcpy(c.b, &h, sizeof(h));
	struct evudp6_cmsg_info i = parse(&c, 0);
	ck_assert_uint_eq(i.malformed, 1);
	expect_no_pktinfo(&i);
}
END_TEST

START_TEST(cmsg_parse_empty_and_null_buffers)
{
	struct evudp6_cmsg_info i;
	static const struct evudp6_icmp zero;
	unsigned char one = 0;
	memset(&i, 0x5a, sizeof(i));
	ck_assert_int_eq(evudp6_cmsg_parse(NULL, 0, 0, &i, sizeof(i)), (int)sizeof(i));
	expect_no_pktinfo(&i);
	expect_no_icmp(&i);
	expect_nothing_else(&i);
	memset(&i, 0x5a, sizeof(i));
	ck_assert_int_eq(evudp6_cmsg_parse(&one, 0, 0, &i, sizeof(i)), (int)sizeof(i));
	expect_no_pktinfo(&i);
	expect_nothing_else(&i);
	ck_assert_int_eq(memcmp(&i.icmp, &zero, sizeof(zero)), 0);
}
END_TEST

START_TEST(cmsg_parse_ignores_trailing_bytes_shorter_than_header)
{
	struct cbuf c = {.len = 0};
	put_pktinfo6(&c, "2001:db8::1", 3);
	memset(c.b + c.len, 0xff, sizeof(struct cmsghdr) - 1);
	c.len += sizeof(struct cmsghdr) - 1;
	struct evudp6_cmsg_info i = parse(&c, 0);
	ck_assert(i.has_pktinfo);
	expect_nothing_else(&i);
}
END_TEST

START_TEST(cmsg_parse_every_prefix_stays_inside_buffer)
{
	/* every cut of a full errqueue buffer, each in an exactly sized heap block */
	struct cbuf c = {.len = 0};
	uint32_t drops = 9;
	build_loopback_v6(&c, 1);
	size_t end_pktinfo =
	    c.len - CMSG_SPACE(sizeof(struct sock_extended_err) + sizeof(struct sockaddr_in6));
	put(&c, SOL_SOCKET, SO_RXQ_OVFL, &drops, sizeof(drops));
	for (size_t len = 0; len <= c.len; len++) {
		unsigned char *mem = malloc(len ? len : 1);
		ck_assert_ptr_nonnull(mem);
		memcpy(mem, c.b, len);
		struct evudp6_cmsg_info i;
		ck_assert_int_eq(evudp6_cmsg_parse(mem, len, MSG_CTRUNC, &i, sizeof(i)), (int)sizeof(i));
		free(mem);
		ck_assert(i.ctrunc);
		ck_assert_uint_eq(i.unknown, 0);
		ck_assert(i.has_pktinfo == (len >= CMSG_LEN(sizeof(struct in6_pktinfo))));
		bool err_whole = len >= end_pktinfo + CMSG_LEN(sizeof(struct sock_extended_err) +
		                                               sizeof(struct sockaddr_in6));
		ck_assert(i.has_icmp == err_whole);
		ck_assert(i.has_ovfl == (len >= c.len - CMSG_SPACE(4) + CMSG_LEN(4)));
		/* a message whose header is there but whose body is not is malformed */
		size_t starts[] = {0, end_pktinfo, c.len - CMSG_SPACE(4)};
		size_t ends[] = {CMSG_LEN(sizeof(struct in6_pktinfo)),
		                 end_pktinfo +
		                     CMSG_LEN(sizeof(struct sock_extended_err) + sizeof(struct sockaddr_in6)),
		                 c.len - CMSG_SPACE(4) + CMSG_LEN(4)};
		unsigned int want_malformed = 0;
		for (size_t k = 0; k < 3; k++)
			if (len >= starts[k] + sizeof(struct cmsghdr) && len < ends[k])
				want_malformed = 1;
		ck_assert_msg(i.malformed == want_malformed, "len %zu: malformed %u", len, i.malformed);
	}
}
END_TEST

START_TEST(cmsg_parse_reads_unaligned_buffers)
{
	struct cbuf c = {.len = 0};
	build_loopback_v6(&c, 1);
	unsigned char *mem = malloc(c.len + 3);
	ck_assert_ptr_nonnull(mem);
	memcpy(mem + 3, c.b, c.len);
	struct evudp6_cmsg_info i;
	ck_assert_int_eq(evudp6_cmsg_parse(mem + 3, c.len, MSG_ERRQUEUE, &i, sizeof(i)), (int)sizeof(i));
	free(mem);
	ck_assert(i.has_pktinfo);
	expect_in6(&i.local, "::1");
	expect_icmp(&i, ECONNREFUSED, EVUDP6_ORIGIN_ICMP6, 1, 4, "::1");
	expect_nothing_else(&i);
}
END_TEST

START_TEST(cmsg_parse_reports_ctrunc)
{
	struct cbuf c = {.len = 0};
	put_pktinfo6(&c, "2001:db8::1", 3);
	struct evudp6_cmsg_info i = parse(&c, MSG_CTRUNC);
	ck_assert(i.ctrunc);
	ck_assert(i.has_pktinfo);
	i = parse(&c, MSG_ERRQUEUE | MSG_TRUNC);
	ck_assert(!i.ctrunc);
	/* the kernel cuts the last message and shrinks its cmsg_len to fit */
	c.len = 0;
	unsigned char part[8] = {0};
	put(&c, IPPROTO_IPV6, IPV6_PKTINFO, part, sizeof(part));
	i = parse(&c, MSG_CTRUNC);
	ck_assert(i.ctrunc);
	ck_assert_uint_eq(i.malformed, 1);
	expect_no_pktinfo(&i);
}
END_TEST

/* ------------------------------------------------------------- names */

START_TEST(icmp_origin_names)
{
	ck_assert_str_eq(evudp6_icmp_origin_name(EVUDP6_ORIGIN_NONE), "none");
	ck_assert_str_eq(evudp6_icmp_origin_name(EVUDP6_ORIGIN_LOCAL), "local");
	ck_assert_str_eq(evudp6_icmp_origin_name(EVUDP6_ORIGIN_ICMP), "ICMP");
	ck_assert_str_eq(evudp6_icmp_origin_name(EVUDP6_ORIGIN_ICMP6), "ICMPv6");
	for (unsigned int o = 4; o <= 255; o++) {
		char want[16];
		snprintf(want, sizeof(want), "origin %u", o);
		ck_assert_str_eq(evudp6_icmp_origin_name((uint8_t)o), want);
	}
}
END_TEST

static const char *type_name(uint8_t origin, uint8_t type, uint8_t code, int err)
{
	static char buf[32];
	struct evudp6_icmp e;
	memset(&e, 0, sizeof(e));
	e.origin = origin;
	e.type = type;
	e.code = code;
	e.err = err;
	return evudp6_icmp_type_name(&e, buf, sizeof(buf));
}

START_TEST(icmp_type_names_icmpv4)
{
	static const char *const unreach[16] = {
	    "net unreachable",
	    "host unreachable",
	    "protocol unreachable",
	    "port unreachable",
	    "fragmentation needed",
	    "source route failed",
	    "destination network unknown",
	    "destination host unknown",
	    "source host isolated",
	    "network administratively prohibited",
	    "host administratively prohibited",
	    "network unreachable for type of service",
	    "host unreachable for type of service",
	    "communication administratively prohibited",
	    "host precedence violation",
	    "precedence cutoff in effect",
	};
	for (uint8_t code = 0; code < 16; code++)
		ck_assert_str_eq(type_name(EVUDP6_ORIGIN_ICMP, 3, code, EHOSTUNREACH), unreach[code]);
	ck_assert_str_eq(type_name(EVUDP6_ORIGIN_ICMP, 3, 16, 0), "type 3 code 16");
	ck_assert_str_eq(type_name(EVUDP6_ORIGIN_ICMP, 11, 0, 0), "time exceeded");
	ck_assert_str_eq(type_name(EVUDP6_ORIGIN_ICMP, 11, 1, 0), "time exceeded");
	ck_assert_str_eq(type_name(EVUDP6_ORIGIN_ICMP, 12, 0, 0), "parameter problem");
	ck_assert_str_eq(type_name(EVUDP6_ORIGIN_ICMP, 5, 1, 0), "type 5 code 1");
	/* ICMPv6 numbers mean something else in ICMP */
	ck_assert_str_eq(type_name(EVUDP6_ORIGIN_ICMP, 1, 4, 0), "type 1 code 4");
}
END_TEST

START_TEST(icmp_type_names_icmpv6)
{
	static const char *const unreach[] = {
	    "no route to destination",
	    "communication administratively prohibited",
	    "beyond scope of source address",
	    "address unreachable",
	    "port unreachable",
	    "source address failed policy",
	    "reject route to destination",
	};
	for (uint8_t code = 0; code < 7; code++)
		ck_assert_str_eq(type_name(EVUDP6_ORIGIN_ICMP6, 1, code, 0), unreach[code]);
	ck_assert_str_eq(type_name(EVUDP6_ORIGIN_ICMP6, 1, 9, 0), "type 1 code 9");
	ck_assert_str_eq(type_name(EVUDP6_ORIGIN_ICMP6, 2, 0, 0), "packet too big");
	ck_assert_str_eq(type_name(EVUDP6_ORIGIN_ICMP6, 3, 0, 0), "time exceeded");
	ck_assert_str_eq(type_name(EVUDP6_ORIGIN_ICMP6, 3, 1, 0), "time exceeded");
	ck_assert_str_eq(type_name(EVUDP6_ORIGIN_ICMP6, 4, 1, 0), "parameter problem");
	ck_assert_str_eq(type_name(EVUDP6_ORIGIN_ICMP6, 128, 0, 0), "type 128 code 0");
	ck_assert_str_eq(type_name(EVUDP6_ORIGIN_ICMP6, 3, 3, 0), "time exceeded");
	ck_assert_str_eq(type_name(EVUDP6_ORIGIN_ICMP6, 11, 0, 0), "type 11 code 0");
}
END_TEST

START_TEST(icmp_type_names_local_use_errno_text)
{
	ck_assert_str_eq(type_name(EVUDP6_ORIGIN_LOCAL, 0, 0, EMSGSIZE), "Message too long");
	ck_assert_str_eq(type_name(EVUDP6_ORIGIN_LOCAL, 0, 0, ECONNREFUSED), "Connection refused");
	ck_assert_str_eq(type_name(EVUDP6_ORIGIN_NONE, 0, 0, ENETUNREACH), "Network is unreachable");
	/* an origin this library does not know: numbers */
	ck_assert_str_eq(type_name(4, 7, 9, ENOMSG), "type 7 code 9");
}
END_TEST

START_TEST(icmp_type_name_unknown_without_buffer)
{
	struct evudp6_icmp e;
	char small[8];
	memset(&e, 0, sizeof(e));
	e.origin = EVUDP6_ORIGIN_ICMP6;
	e.type = 200;
	e.code = 255;
	ck_assert_str_eq(evudp6_icmp_type_name(&e, NULL, 0), "unknown type");
	memset(small, 0x5a, sizeof(small));
	const char *s = evudp6_icmp_type_name(&e, small, 5);
	ck_assert_ptr_eq(s, small);
	ck_assert_str_eq(s, "type");
	ck_assert_uint_eq((unsigned char)small[5], 0x5a);
	/* known names need no buffer */
	e.type = 2;
	ck_assert_str_eq(evudp6_icmp_type_name(&e, NULL, 0), "packet too big");
}
END_TEST

/* ----------------------------------------------------------- describe */

static struct evudp6_icmp icmp(int err, uint8_t origin, uint8_t type, uint8_t code, uint32_t info,
                               const char *offender, uint32_t scope)
{
	struct evudp6_icmp e;
	memset(&e, 0, sizeof(e));
	e.err = err;
	e.origin = origin;
	e.type = type;
	e.code = code;
	e.info = info;
	if (offender) {
		e.has_offender = true;
		e.offender.sin6_family = AF_INET6;
		e.offender.sin6_addr = in6(offender);
		e.offender.sin6_scope_id = scope;
	}
	return e;
}

START_TEST(icmp_describe_forms)
{
	struct evudp6_icmp e;
	e = icmp(ECONNREFUSED, EVUDP6_ORIGIN_ICMP6, 1, 4, 0, "::1", 0);
	expect_describe(&e, "ICMPv6 port unreachable from ::1");
	e = icmp(ECONNREFUSED, EVUDP6_ORIGIN_ICMP, 3, 3, 0, "::ffff:127.0.0.1", 0);
	expect_describe(&e, "ICMP port unreachable from 127.0.0.1");
	e = icmp(EHOSTUNREACH, EVUDP6_ORIGIN_ICMP, 3, 13, 0, "::ffff:192.0.2.1", 0);
	expect_describe(&e, "ICMP communication administratively prohibited from 192.0.2.1");
	e = icmp(EHOSTUNREACH, EVUDP6_ORIGIN_ICMP, 3, 1, 0, "::ffff:192.0.2.1", 0);
	expect_describe(&e, "ICMP host unreachable from 192.0.2.1");
	e = icmp(EMSGSIZE, EVUDP6_ORIGIN_LOCAL, 0, 0, 1280, NULL, 0);
	expect_describe(&e, "local error: Message too long (mtu 1280)");
	e = icmp(EMSGSIZE, EVUDP6_ORIGIN_LOCAL, 0, 0, 0, NULL, 0);
	expect_describe(&e, "local error: Message too long");
	e = icmp(ENOBUFS, EVUDP6_ORIGIN_LOCAL, 0, 0, 1280, NULL, 0);
	expect_describe(&e, "local error: No buffer space available");
}
END_TEST

START_TEST(icmp_describe_mtu_of_packet_too_big)
{
	struct evudp6_icmp e = icmp(EMSGSIZE, EVUDP6_ORIGIN_ICMP6, 2, 0, 1280, "2001:db8:1::1", 0);
	expect_describe(&e, "ICMPv6 packet too big from 2001:db8:1::1 (mtu 1280)");
	e = icmp(EMSGSIZE, EVUDP6_ORIGIN_ICMP, 3, 4, 1400, "::ffff:198.51.100.1", 0);
	expect_describe(&e, "ICMP fragmentation needed from 198.51.100.1 (mtu 1400)");
	/* info on other types is no MTU */
	e = icmp(EPROTO, EVUDP6_ORIGIN_ICMP6, 4, 0, 40, "2001:db8:1::1", 0);
	expect_describe(&e, "ICMPv6 parameter problem from 2001:db8:1::1");
}
END_TEST

START_TEST(icmp_describe_scoped_unknown_and_odd_origins)
{
	unsigned int lo = if_nametoindex("lo");
	ck_assert_uint_ne(lo, 0);
	struct evudp6_icmp e = icmp(ENETUNREACH, EVUDP6_ORIGIN_ICMP6, 1, 0, 0, "fe80::1", lo);
	expect_describe(&e, "ICMPv6 no route to destination from fe80::1%lo");
	e = icmp(ECONNREFUSED, EVUDP6_ORIGIN_ICMP6, 1, 4, 0, NULL, 0);
	expect_describe(&e, "ICMPv6 port unreachable");
	e = icmp(EPROTO, EVUDP6_ORIGIN_ICMP6, 128, 0, 0, "::1", 0);
	expect_describe(&e, "ICMPv6 type 128 code 0 from ::1");
	e = icmp(ECONNREFUSED, EVUDP6_ORIGIN_NONE, 0, 0, 0, NULL, 0);
	expect_describe(&e, "error: Connection refused");
	e = icmp(ENOMSG, 4, 1, 2, 0, NULL, 0);
	expect_describe(&e, "origin 4 error: No message of desired type (type 1 code 2)");
}
END_TEST

START_TEST(icmp_describe_reports_enospc_at_every_short_size)
{
	struct evudp6_icmp e =
	    icmp(EHOSTUNREACH, EVUDP6_ORIGIN_ICMP6, 1, 1, 0, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 0);
	const char *want =
	    "ICMPv6 communication administratively prohibited from ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe";
	size_t n = strlen(want);
	enum { CANARY = 32 };
	unsigned char mem[200];
	ck_assert_uint_lt(n + 1 + CANARY, sizeof(mem));
	ck_assert_int_eq(evudp6_icmp_describe(&e, NULL, 0), -ENOSPC);
	for (size_t size = 0; size <= n; size++) {
		memset(mem, 0xa5, sizeof(mem));
		ck_assert_int_eq(evudp6_icmp_describe(&e, (char *)mem, size), -ENOSPC);
		if (size > 0)
			ck_assert_uint_eq(mem[0], 0);
		for (size_t i = size; i < sizeof(mem); i++)
			ck_assert_uint_eq(mem[i], 0xa5);
	}
	memset(mem, 0xa5, sizeof(mem));
	ck_assert_int_eq(evudp6_icmp_describe(&e, (char *)mem, n + 1), (int)n);
	ck_assert_str_eq((char *)mem, want);
	ck_assert_uint_eq(mem[n + 1], 0xa5);
	ck_assert_int_lt((int)n, EVUDP6_ICMP_DESCRIBE_MAX);
}
END_TEST

START_TEST(icmp_describe_max_holds_longest_form)
{
	/* longest name, longest address with a 10-digit zone, longest MTU */
	struct evudp6_icmp e = icmp(EMSGSIZE, EVUDP6_ORIGIN_ICMP6, 2, 0, 4294967295u,
	                            "fe80:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 4294967295u);
	char buf[EVUDP6_ICMP_DESCRIBE_MAX];
	expect_describe(
	    &e,
	    "ICMPv6 packet too big from fe80:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295 (mtu 4294967295)");
	e = icmp(EHOSTUNREACH, EVUDP6_ORIGIN_ICMP6, 1, 1, 0, "fe80:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	         4294967295u);
	ck_assert_int_gt(evudp6_icmp_describe(&e, buf, sizeof(buf)), 0);
	/* the longest errno text in the C library */
	size_t longest = 0;
	for (int err = 1; err < 134; err++) {
		e = icmp(err, EVUDP6_ORIGIN_LOCAL, 0, 0, 65535, NULL, 0);
		int n = evudp6_icmp_describe(&e, buf, sizeof(buf));
		ck_assert_int_gt(n, 0);
		if ((size_t)n > longest)
			longest = (size_t)n;
	}
	ck_assert_uint_lt(longest, EVUDP6_ICMP_DESCRIBE_MAX);
}
END_TEST

/* --------------------------------------------------------- real socket */

static bool have_ipv6_loopback(const char **why)
{
	int fd = socket(AF_INET6, SOCK_DGRAM, 0);
	if (fd < 0) {
		*why = "no AF_INET6 sockets";
		return false;
	}
	struct sockaddr_in6 sin6;
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_addr = in6addr_loopback;
	int r = bind(fd, (struct sockaddr *)&sin6, sizeof(sin6));
	close(fd);
	if (r < 0) {
		*why = "cannot bind ::1 (IPv6 disabled on lo?)";
		return false;
	}
	return true;
}

static int setopt(int fd, int level, int name)
{
	int one = 1;
	return setsockopt(fd, level, name, &one, sizeof(one));
}

/* Send to a closed port, read the error queue, return what it said. */
static struct evudp6_cmsg_info send_and_read_errqueue(int fd, const char *dst, uint16_t port, int *err_level,
                                                      int *err_type)
{
	static const char payload[] = "\x40\x01\x12\x34"; /* CON GET mid 0x1234 */
	struct sockaddr_in6 to;
	memset(&to, 0, sizeof(to));
	to.sin6_family = AF_INET6;
	to.sin6_port = htons(port);
	to.sin6_addr = in6(dst);
	ck_assert_int_eq(sendto(fd, payload, 4, 0, (struct sockaddr *)&to, sizeof(to)), 4);

	struct pollfd pfd = {.fd = fd, .events = 0};
	ck_assert_int_eq(poll(&pfd, 1, 1000), 1);
	ck_assert(pfd.revents & POLLERR);

	unsigned char data[64];
	union {
		struct cmsghdr align;
		unsigned char b[512];
	} control;
	struct sockaddr_in6 from;
	struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
	struct msghdr msg;
	memset(&msg, 0, sizeof(msg));
	msg.msg_name = &from;
	msg.msg_namelen = sizeof(from);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = control.b;
	msg.msg_controllen = sizeof(control.b);
	ssize_t n = recvmsg(fd, &msg, MSG_ERRQUEUE);
	ck_assert_int_eq(n, 4);
	ck_assert_int_eq(memcmp(data, payload, 4), 0);
	/* msg_name is the original destination */
	ck_assert_int_eq(from.sin6_family, AF_INET6);
	expect_in6(&from.sin6_addr, dst);
	ck_assert_uint_eq(ntohs(from.sin6_port), port);

	*err_level = *err_type = -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
		if ((c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR) ||
		    (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR)) {
			*err_level = c->cmsg_level;
			*err_type = c->cmsg_type;
		}

	struct evudp6_cmsg_info i;
	ck_assert_int_eq(evudp6_cmsg_parse(msg.msg_control, msg.msg_controllen, msg.msg_flags, &i, sizeof(i)),
	                 (int)sizeof(i));
	return i;
}

static void expect_same_info(const struct evudp6_cmsg_info *real, const struct evudp6_cmsg_info *built)
{
	ck_assert(real->has_pktinfo == built->has_pktinfo);
	ck_assert_int_eq(memcmp(&real->local, &built->local, sizeof(real->local)), 0);
	ck_assert_uint_eq(real->ifindex, built->ifindex);
	ck_assert(real->has_icmp == built->has_icmp);
	ck_assert_int_eq(real->icmp.err, built->icmp.err);
	ck_assert_uint_eq(real->icmp.origin, built->icmp.origin);
	ck_assert_uint_eq(real->icmp.type, built->icmp.type);
	ck_assert_uint_eq(real->icmp.code, built->icmp.code);
	ck_assert_uint_eq(real->icmp.info, built->icmp.info);
	ck_assert_uint_eq(real->icmp.data, built->icmp.data);
	ck_assert(real->icmp.has_offender == built->icmp.has_offender);
	ck_assert_int_eq(memcmp(&real->icmp.offender, &built->icmp.offender, sizeof(real->icmp.offender)), 0);
	ck_assert(real->has_ovfl == built->has_ovfl);
	ck_assert(real->ctrunc == built->ctrunc);
	ck_assert_uint_eq(real->unknown, built->unknown);
	ck_assert_uint_eq(real->malformed, built->malformed);
}

START_TEST(cmsg_parse_real_loopback_errqueue)
{
	unsigned int lo = if_nametoindex("lo");
	ck_assert_uint_ne(lo, 0);
	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	int zero = 0;
	ck_assert_int_eq(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)), 0);
	ck_assert_int_eq(setopt(fd, IPPROTO_IPV6, IPV6_RECVERR), 0);
	ck_assert_int_eq(setopt(fd, IPPROTO_IP, IP_RECVERR), 0);
	ck_assert_int_eq(setopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO), 0);
	struct sockaddr_in6 any;
	memset(&any, 0, sizeof(any));
	any.sin6_family = AF_INET6;
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&any, sizeof(any)), 0);
	uint16_t port = testnet_closed_port();
	int level, type;

	struct evudp6_cmsg_info real = send_and_read_errqueue(fd, "::1", port, &level, &type);
	ck_assert_int_eq(level, IPPROTO_IPV6);
	ck_assert_int_eq(type, IPV6_RECVERR);
	ck_assert(real.has_pktinfo);
	expect_in6(&real.local, "::1");
	ck_assert_uint_eq(real.ifindex, lo);
	expect_icmp(&real, 111, EVUDP6_ORIGIN_ICMP6, 1, 4, "::1");
	expect_nothing_else(&real);
	struct cbuf c = {.len = 0};
	build_loopback_v6(&c, lo);
	struct evudp6_cmsg_info built = parse(&c, MSG_ERRQUEUE);
	expect_same_info(&real, &built);

	real = send_and_read_errqueue(fd, "::ffff:127.0.0.1", port, &level, &type);
	ck_assert_int_eq(level, IPPROTO_IPV6);
	ck_assert_int_eq(type, IPV6_RECVERR);
	ck_assert(real.has_pktinfo);
	expect_in6(&real.local, "::ffff:127.0.0.1");
	ck_assert_uint_eq(real.ifindex, lo);
	expect_icmp(&real, 111, EVUDP6_ORIGIN_ICMP, 3, 3, "::ffff:127.0.0.1");
	expect_nothing_else(&real);
	c.len = 0;
	build_loopback_v4mapped(&c, lo);
	built = parse(&c, MSG_ERRQUEUE);
	expect_same_info(&real, &built);

	/* nothing more queued */
	unsigned char b[64];
	ck_assert_int_eq(recv(fd, b, sizeof(b), MSG_ERRQUEUE), -1);
	ck_assert_int_eq(errno, EAGAIN);
	close(fd);
}
END_TEST

int main(void)
{
	const char *why = NULL;
	bool real = have_ipv6_loopback(&why);

	Suite *s = suite_create("cmsg");
	TCase *t = tcase_create("parse");
	tcase_add_test(t, cmsg_parse_ipv6_pktinfo);
	tcase_add_test(t, cmsg_parse_ip_pktinfo_maps_header_destination);
	tcase_add_test(t, cmsg_parse_ip_pktinfo_tells_broadcast);
	tcase_add_test(t, cmsg_parse_loopback_ipv6_port_unreachable);
	tcase_add_test(t, cmsg_parse_v4mapped_error_arrives_at_ipv6_level);
	tcase_add_test(t, cmsg_parse_ip_recverr_maps_sockaddr_in_offender);
	tcase_add_test(t, cmsg_parse_router_no_route_ipv6);
	tcase_add_test(t, cmsg_parse_router_host_unreachable_ipv4);
	tcase_add_test(t, cmsg_parse_router_prohibited_ipv4);
	tcase_add_test(t, cmsg_parse_local_emsgsize_has_no_offender);
	tcase_add_test(t, cmsg_parse_local_origin_ignores_offender_bytes);
	tcase_add_test(t, cmsg_parse_unspec_offender_is_absent);
	tcase_add_test(t, cmsg_parse_error_with_pktinfo);
	tcase_add_test(t, cmsg_parse_rxq_ovfl);
	suite_add_tcase(s, t);

	t = tcase_create("bad buffers");
	tcase_add_test(t, cmsg_parse_counts_and_skips_unknown);
	tcase_add_test(t, cmsg_parse_skips_messages_too_short_for_their_type);
	tcase_add_test(t, cmsg_parse_stops_at_length_past_end);
	tcase_add_test(t, cmsg_parse_stops_at_length_below_header);
	tcase_add_test(t, cmsg_parse_empty_and_null_buffers);
	tcase_add_test(t, cmsg_parse_ignores_trailing_bytes_shorter_than_header);
	tcase_add_test(t, cmsg_parse_every_prefix_stays_inside_buffer);
	tcase_add_test(t, cmsg_parse_reads_unaligned_buffers);
	tcase_add_test(t, cmsg_parse_reports_ctrunc);
	suite_add_tcase(s, t);

	t = tcase_create("names");
	tcase_add_test(t, icmp_origin_names);
	tcase_add_test(t, icmp_type_names_icmpv4);
	tcase_add_test(t, icmp_type_names_icmpv6);
	tcase_add_test(t, icmp_type_names_local_use_errno_text);
	tcase_add_test(t, icmp_type_name_unknown_without_buffer);
	tcase_add_test(t, icmp_describe_forms);
	tcase_add_test(t, icmp_describe_mtu_of_packet_too_big);
	tcase_add_test(t, icmp_describe_scoped_unknown_and_odd_origins);
	tcase_add_test(t, icmp_describe_reports_enospc_at_every_short_size);
	tcase_add_test(t, icmp_describe_max_holds_longest_form);
	suite_add_tcase(s, t);

	if (real) {
		t = tcase_create("loopback");
		tcase_add_test(t, cmsg_parse_real_loopback_errqueue);
		suite_add_tcase(s, t);
	}

	int r = testutil_run(s);
	if (r == EXIT_SUCCESS && !real) {
		printf("SKIP cmsg_parse_real_loopback_errqueue: %s\n", why);
		return TEST_SKIP;
	}
	return r;
}
