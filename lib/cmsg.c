/*
 * evudp6 — ancillary data and ICMP error details.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <linux/errqueue.h>

#include <evudp6/icmp.h>

#include "abi-internal.h"

#include "addr-internal.h"

/* The payload of a control message starts after the aligned header. */
#define CMSG_HDR_SPACE CMSG_LEN(0)

static void parse_pktinfo6(const unsigned char *d, size_t n, struct evudp6_cmsg_info *out)
{
	struct in6_pktinfo pi;
	if (n < sizeof(pi)) {
		out->malformed++;
		return;
	}
	memcpy(&pi, d, sizeof(pi));
	out->has_pktinfo = true;
	out->local = pi.ipi6_addr;
	out->ifindex = pi.ipi6_ifindex;
}

static void parse_pktinfo4(const unsigned char *d, size_t n, struct evudp6_cmsg_info *out)
{
	struct in_pktinfo pi;
	if (n < sizeof(pi)) {
		out->malformed++;
		return;
	}
	memcpy(&pi, d, sizeof(pi));
	out->has_pktinfo = true;
	/* ipi_addr is the header's destination; ipi_spec_dst is the local
	 * address the kernel would answer from. They are the same for a
	 * datagram to one of our addresses; for a broadcast they differ
	 * (and for multicast, which the address says anyway). The limited
	 * broadcast is known by its address alone. */
	evudp6__map_v4(&out->local, &pi.ipi_addr);
	out->ifindex = (unsigned int)pi.ipi_ifindex;
	uint32_t dst = ntohl(pi.ipi_addr.s_addr);
	out->broadcast =
	    dst == INADDR_BROADCAST || (!IN_MULTICAST(dst) && pi.ipi_spec_dst.s_addr != pi.ipi_addr.s_addr);
}

/*
 * struct sock_extended_err, then the offender (SO_EE_OFFENDER). The kernel
 * puts a sockaddr_in6 after IPV6_RECVERR and a sockaddr_in after
 * IP_RECVERR, but V4MAPPED errors come as IPV6_RECVERR with a mapped
 * sockaddr_in6: go by the family, not by the level.
 */
static void parse_err(const unsigned char *d, size_t n, struct evudp6_cmsg_info *out)
{
	struct sock_extended_err ee;
	struct evudp6_icmp e;

	if (n < sizeof(ee)) {
		out->malformed++;
		return;
	}
	memcpy(&ee, d, sizeof(ee));
	memset(&e, 0, sizeof(e));
	e.err = (int)ee.ee_errno;
	e.origin = ee.ee_origin;
	e.type = ee.ee_type;
	e.code = ee.ee_code;
	e.info = ee.ee_info;
	e.data = ee.ee_data;

	const unsigned char *sa = d + sizeof(ee);
	size_t salen = n - sizeof(ee);
	/* Local errors carry a zeroed offender: nobody sent anything. */
	if (ee.ee_origin != SO_EE_ORIGIN_NONE && ee.ee_origin != SO_EE_ORIGIN_LOCAL &&
	    salen >= offsetof(struct sockaddr, sa_family) + sizeof(sa_family_t)) {
		sa_family_t family;
		memcpy(&family, sa + offsetof(struct sockaddr, sa_family), sizeof(family));
		if (family == AF_INET6) {
			if (salen < sizeof(struct sockaddr_in6)) {
				out->malformed++;
				return;
			}
			memcpy(&e.offender, sa, sizeof(e.offender));
			e.has_offender = true;
		} else if (family == AF_INET) {
			struct sockaddr_in sin;
			if (salen < sizeof(sin)) {
				out->malformed++;
				return;
			}
			memcpy(&sin, sa, sizeof(sin));
			e.offender.sin6_family = AF_INET6;
			e.offender.sin6_port = sin.sin_port;
			evudp6__map_v4(&e.offender.sin6_addr, &sin.sin_addr);
			e.has_offender = true;
		}
	}
	out->has_icmp = true;
	out->icmp = e;
}

static void parse_ovfl(const unsigned char *d, size_t n, struct evudp6_cmsg_info *out)
{
	uint32_t v;
	if (n < sizeof(v)) {
		out->malformed++;
		return;
	}
	memcpy(&v, d, sizeof(v));
	out->has_ovfl = true;
	out->ovfl = v;
}

static int cmsg_parse(const void *control, size_t len, int msg_flags, struct evudp6_cmsg_info *out)
{
	const unsigned char *p = control;
	size_t off = 0;

	memset(out, 0, sizeof(*out));
	out->ctrunc = (msg_flags & MSG_CTRUNC) != 0;
	if (!p)
		return 0;

	/*
	 * Walked by hand rather than with CMSG_NXTHDR: every header is copied
	 * out (the buffer need not be aligned) and checked against the end
	 * before its payload is touched.
	 */
	while (len - off >= sizeof(struct cmsghdr)) {
		struct cmsghdr h;
		memcpy(&h, p + off, sizeof(h));
		if (h.cmsg_len < CMSG_HDR_SPACE || h.cmsg_len > len - off) {
			/* No trustworthy length: nothing after it can be found. */
			out->malformed++;
			break;
		}
		const unsigned char *d = p + off + CMSG_HDR_SPACE;
		size_t n = h.cmsg_len - CMSG_HDR_SPACE;

		if (h.cmsg_level == IPPROTO_IPV6 && h.cmsg_type == IPV6_PKTINFO)
			parse_pktinfo6(d, n, out);
		else if (h.cmsg_level == IPPROTO_IP && h.cmsg_type == IP_PKTINFO)
			parse_pktinfo4(d, n, out);
		else if ((h.cmsg_level == IPPROTO_IPV6 && h.cmsg_type == IPV6_RECVERR) ||
		         (h.cmsg_level == IPPROTO_IP && h.cmsg_type == IP_RECVERR))
			parse_err(d, n, out);
		else if (h.cmsg_level == SOL_SOCKET && h.cmsg_type == SO_RXQ_OVFL)
			parse_ovfl(d, n, out);
		else
			out->unknown++;

		size_t step = CMSG_ALIGN(h.cmsg_len);
		if (step > len - off)
			break;
		off += step;
	}
	return 0;
}

/* ----------------------------------------------------------------- names */

#define D10(p) p "0", p "1", p "2", p "3", p "4", p "5", p "6", p "7", p "8", p "9"

/* Static names for all 256 origins, so no buffer is needed. */
static const char *const origin_names[] = {
    "none",           "local",          "ICMP",           "ICMPv6",         "origin 4",
    "origin 5",       "origin 6",       "origin 7",       "origin 8",       "origin 9",
    D10("origin 1"),  D10("origin 2"),  D10("origin 3"),  D10("origin 4"),  D10("origin 5"),
    D10("origin 6"),  D10("origin 7"),  D10("origin 8"),  D10("origin 9"),  D10("origin 10"),
    D10("origin 11"), D10("origin 12"), D10("origin 13"), D10("origin 14"), D10("origin 15"),
    D10("origin 16"), D10("origin 17"), D10("origin 18"), D10("origin 19"), D10("origin 20"),
    D10("origin 21"), D10("origin 22"), D10("origin 23"), D10("origin 24"), "origin 250",
    "origin 251",     "origin 252",     "origin 253",     "origin 254",     "origin 255"};
_Static_assert(sizeof(origin_names) / sizeof(origin_names[0]) == 256, "one name per origin");

/* RFC 792, RFC 1122 3.2.2.1, RFC 1812 5.2.7.1 */
static const char *const icmp4_unreach[] = {
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

/* RFC 4443 3.1, RFC 6550 20.17 */
static const char *const icmp6_unreach[] = {
    "no route to destination",
    "communication administratively prohibited",
    "beyond scope of source address",
    "address unreachable",
    "port unreachable",
    "source address failed policy",
    "reject route to destination",
    "error in source routing header",
};

#define N_ELEM(a) (sizeof(a) / sizeof((a)[0]))

static const char *icmp4_name(uint8_t type, uint8_t code)
{
	switch (type) {
	case 3:
		return code < N_ELEM(icmp4_unreach) ? icmp4_unreach[code] : NULL;
	case 11:
		return "time exceeded";
	case 12:
		return "parameter problem";
	default:
		return NULL;
	}
}

static const char *icmp6_name(uint8_t type, uint8_t code)
{
	switch (type) {
	case 1:
		return code < N_ELEM(icmp6_unreach) ? icmp6_unreach[code] : NULL;
	case 2:
		return "packet too big";
	case 3:
		return "time exceeded";
	case 4:
		return "parameter problem";
	default:
		return NULL;
	}
}

const char *evudp6_icmp_origin_name(uint8_t origin)
{
	return origin_names[origin];
}

const char *evudp6_icmp_type_name(const struct evudp6_icmp *e, char *buf, size_t len)
{
	const char *s = NULL;

	switch (e->origin) {
	case EVUDP6_ORIGIN_NONE:
	case EVUDP6_ORIGIN_LOCAL:
		return evudp6_strerror(e->err);
	case EVUDP6_ORIGIN_ICMP:
		s = icmp4_name(e->type, e->code);
		break;
	case EVUDP6_ORIGIN_ICMP6:
		s = icmp6_name(e->type, e->code);
		break;
	default:
		break;
	}
	if (s)
		return s;
	if (!buf || len == 0)
		return "unknown type";
	snprintf(buf, len, "type %u code %u", (unsigned int)e->type, (unsigned int)e->code);
	return buf;
}

/* Does ee_info hold a path MTU? (packet too big, fragmentation needed) */
static bool info_is_mtu(const struct evudp6_icmp *e)
{
	if (e->info == 0)
		return false;
	switch (e->origin) {
	case EVUDP6_ORIGIN_LOCAL:
		return e->err == EMSGSIZE;
	case EVUDP6_ORIGIN_ICMP:
		return e->type == 3 && e->code == 4;
	case EVUDP6_ORIGIN_ICMP6:
		return e->type == 2;
	default:
		return false;
	}
}

int evudp6_icmp_describe(const struct evudp6_icmp *e, char *buf, size_t len)
{
	char text[EVUDP6_ICMP_DESCRIBE_MAX + 64];
	char from[INET6_ADDRSTRLEN + 1 + 16 + 8] = "";
	char mtu[24] = "";
	char tbuf[32];
	int n;

	if (info_is_mtu(e))
		snprintf(mtu, sizeof(mtu), " (mtu %u)", (unsigned int)e->info);
	switch (e->origin) {
	case EVUDP6_ORIGIN_ICMP:
	case EVUDP6_ORIGIN_ICMP6:
		if (e->has_offender) {
			memcpy(from, " from ", 7);
			evudp6__addr_ntop(&e->offender.sin6_addr, e->offender.sin6_scope_id, from + 6,
			                  sizeof(from) - 6);
		}
		n = snprintf(text, sizeof(text), "%s %s%s%s", evudp6_icmp_origin_name(e->origin),
		             evudp6_icmp_type_name(e, tbuf, sizeof(tbuf)), from, mtu);
		break;
	case EVUDP6_ORIGIN_LOCAL:
		n = snprintf(text, sizeof(text), "local error: %s%s", evudp6_strerror(e->err), mtu);
		break;
	case EVUDP6_ORIGIN_NONE:
		n = snprintf(text, sizeof(text), "error: %s", evudp6_strerror(e->err));
		break;
	default:
		n = snprintf(text, sizeof(text), "%s error: %s (type %u code %u)",
		             evudp6_icmp_origin_name(e->origin), evudp6_strerror(e->err),
		             (unsigned int)e->type, (unsigned int)e->code);
		break;
	}
	if (n < 0 || (size_t)n >= sizeof(text) || (size_t)n >= len) {
		if (buf && len > 0)
			buf[0] = '\0';
		return -ENOSPC;
	}
	memcpy(buf, text, (size_t)n + 1);
	return n;
}

int evudp6_cmsg_parse(const void *control, size_t len, int msg_flags, struct evudp6_cmsg_info *out,
                      size_t size)
{
	struct evudp6_cmsg_info info;

	if (!out)
		return -EINVAL;
	cmsg_parse(control, len, msg_flags, &info);
	return (int)evudp6__struct_out(out, size, &info, sizeof(info));
}
