/*
 * evudp6 — endpoint address internals shared with the transport, the
 * resolver and the ICMP details.
 */
#ifndef EVUDP6_ADDR_INTERNAL_H
#define EVUDP6_ADDR_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include <evudp6/addr.h>

/* Longest host an authority may carry (RFC 1035 name limit, as aiocoap). */
#define EVUDP6__HOST_MAX 255

/*
 * Parse a URI authority "host[:port]" (s[0..len), no NUL needed). host is
 * a bracketed IPv6 literal with an optional zone ("[fe80::1%eth0]",
 * "[fe80::1%3]", "[::1]:5684"), an IPv4 literal, or a reg-name (RFC 3986,
 * not percent-decoded). Writes the host without brackets and zone into
 * hostbuf, the zone text ("" when absent) into zonebuf, the port
 * (default_port when absent) into *port and whether the host is an address
 * literal into *is_literal; port and is_literal may be NULL.
 *
 * The zone is taken verbatim after the first '%': percent-decoding a URI
 * ("%25eth0") is the caller's job. It must be 1..IF_NAMESIZE-1 unreserved
 * characters.
 *
 * Returns 0; -EVUDP6_E_HOST_EMPTY (""; ":80"; "[]"),
 * -EVUDP6_E_HOST_BRACKET ("[", "[::1", "[::1]x", a stray '[' or ']'),
 * -EVUDP6_E_HOST_UNBRACKETED_V6 (two or more ':' outside brackets: "::1",
 * "::1:5683"), -EVUDP6_E_PORT ("h:abc", "h:-1", "h:65536"; "h:" is
 * default_port, see evudp6__parse_port()),
 * -EVUDP6_E_HOST_TOO_LONG (host above 255 bytes), -EVUDP6_E_HOST_INVALID
 * (bracketed text that is no IPv6 literal, an empty or bad zone, a
 * character a reg-name cannot have), -EVUDP6_E_ZONE_UNKNOWN (zone longer
 * than any interface name), or -ENOSPC (hostbuf or zonebuf too small). On
 * error the buffers hold "" (when they have room for it).
 */
int evudp6__authority_split(const char *s, size_t len, char *hostbuf, size_t hostlen, char *zonebuf,
                            size_t zonelen, uint16_t *port, uint16_t default_port, bool *is_literal);

/*
 * Zone text to interface index: a name known to if_nametoindex(), or the
 * decimal number of an existing interface. Returns 0 or
 * -EVUDP6_E_ZONE_UNKNOWN (also for NULL, "" and "0").
 */
int evudp6__zone_to_ifindex(const char *zone, unsigned int *ifindex);

/*
 * Literal authority (NUL-terminated) to an address: split, then the literal
 * becomes the remote, with the zone's interface as scope id. A zone is
 * allowed on any IPv6 address (off link-local scope it selects the
 * interface), not on IPv4 or V4MAPPED ones. The local part is cleared.
 * Returns 0, the errors of evudp6__authority_split() and
 * evudp6__zone_to_ifindex(), -EVUDP6_E_ZONE_NOT_ALLOWED, or
 * -EVUDP6_E_NOT_LITERAL for a host name. *a is unchanged on error.
 */
int evudp6__addr_parse_authority(struct evudp6_addr *a, const char *s, uint16_t default_port);

/*
 * Address text without brackets or port: RFC 5952 (inet_ntop), V4MAPPED as
 * plain IPv4, "%ifname" appended when scope_id is not 0 (its number if the
 * interface has no name). Returns the length or -ENOSPC.
 */
int evudp6__addr_ntop(const struct in6_addr *addr, uint32_t scope_id, char *buf, size_t len);

/* RFC 3986 2.3: unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~" */
bool evudp6__is_unreserved(int c);

/*
 * RFC 3986 3.2.3 port = *DIGIT from s[0..len). An empty port is the
 * default port (RFC 3986 3.2.3 lets a URI carry "host:", and RFC 7252 6.3
 * calls that the default): "coap://h:/" and the authority "h:" alike.
 * Returns 0 with *port set, or -EVUDP6_E_PORT for anything but digits
 * and for values above 65535.
 */
int evudp6__parse_port(const char *s, size_t len, uint16_t default_port, uint16_t *port);

/* ::ffff:a.b.c.d for the IPv4 address @in (network byte order). */
void evudp6__map_v4(struct in6_addr *out, const void *in);

/* Scopes where an address means nothing without its interface (RFC 4007). */
static inline bool evudp6__in6_needs_zone(const struct in6_addr *addr)
{
	return IN6_IS_ADDR_LINKLOCAL(addr) || IN6_IS_ADDR_MC_NODELOCAL(addr) ||
	       IN6_IS_ADDR_MC_LINKLOCAL(addr);
}

/* The scope id as evudp6_addr_equal() sees it: that of a link-local
 * unicast, interface-local or link-local multicast remote, else 0. The
 * kernel fills in sin6_scope_id of a received datagram only for these
 * scopes (and reports flowinfo as 0): keying on anything else would make
 * a remote never match its own answers. */
static inline uint32_t evudp6__addr_scope_key(const struct evudp6_addr *a)
{
	return evudp6__in6_needs_zone(&a->remote.sin6_addr) ? a->remote.sin6_scope_id : 0;
}

/* Is the address ::ffff:a.b.c.d with a.b.c.d in 224.0.0.0/4, or ff00::/8? */
bool evudp6__in6_is_multicast(const struct in6_addr *addr);

#endif /* EVUDP6_ADDR_INTERNAL_H */
