/*
 * evudp6 — endpoint address: value type, text forms, URI authorities.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <net/if.h>

#include <evudp6/addr.h>

#include "addr-internal.h"

/* Copy a string out, or report -ENOSPC leaving "" behind. */
static int copy_out(const char *text, char *buf, size_t len)
{
	size_t n = strlen(text);
	if (n >= len) {
		if (buf && len > 0)
			buf[0] = '\0';
		return -ENOSPC;
	}
	memcpy(buf, text, n + 1);
	return (int)n;
}

/* snprintf that reports -ENOSPC instead of truncating (leaving ""). */
__attribute__((format(printf, 3, 4))) static int format_out(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len) {
		if (buf && len > 0)
			buf[0] = '\0';
		return -ENOSPC;
	}
	return n;
}

/* Interface name of an index, or its decimal number when it has no name. */
static void ifindex_text(unsigned int ifindex, char out[IF_NAMESIZE])
{
	if (!if_indextoname(ifindex, out))
		snprintf(out, IF_NAMESIZE, "%u", ifindex);
}

static bool in6_is_unspecified(const struct in6_addr *addr)
{
	static const uint8_t mapped_any[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0};
	return IN6_IS_ADDR_UNSPECIFIED(addr) || memcmp(addr->s6_addr, mapped_any, 16) == 0;
}

void evudp6__map_v4(struct in6_addr *out, const void *in)
{
	memset(out, 0, sizeof(*out));
	out->s6_addr[10] = 0xff;
	out->s6_addr[11] = 0xff;
	memcpy(&out->s6_addr[12], in, 4);
}

bool evudp6__in6_is_multicast(const struct in6_addr *addr)
{
	if (IN6_IS_ADDR_MULTICAST(addr))
		return true;
	return IN6_IS_ADDR_V4MAPPED(addr) && (addr->s6_addr[12] & 0xf0) == 0xe0;
}

int evudp6__addr_ntop(const struct in6_addr *addr, uint32_t scope_id, char *buf, size_t len)
{
	char text[INET6_ADDRSTRLEN + 1 + IF_NAMESIZE];
	bool mapped = IN6_IS_ADDR_V4MAPPED(addr);

	if (mapped)
		inet_ntop(AF_INET, &addr->s6_addr[12], text, sizeof(text));
	else
		inet_ntop(AF_INET6, addr, text, sizeof(text));
	size_t n = strlen(text);
	/* An IPv4 address has no zone to show. */
	if (scope_id != 0 && !mapped) {
		char zone[IF_NAMESIZE];
		ifindex_text(scope_id, zone);
		snprintf(text + n, sizeof(text) - n, "%%%s", zone);
	}
	return copy_out(text, buf, len);
}

/* "host", "host:port", "[v6%zone]" or "[v6%zone]:port"; port 5683 is implied. */
static int hostinfo_text(const struct in6_addr *addr, uint32_t scope_id, uint16_t port, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN + 1 + IF_NAMESIZE];
	int n = evudp6__addr_ntop(addr, scope_id, host, sizeof(host));
	if (n < 0)
		return n;
	const char *open = IN6_IS_ADDR_V4MAPPED(addr) ? "" : "[";
	const char *close = *open ? "]" : "";
	if (port == EVUDP6_DEFAULT_PORT)
		return format_out(buf, len, "%s%s%s", open, host, close);
	return format_out(buf, len, "%s%s%s:%u", open, host, close, (unsigned int)port);
}

int evudp6_addr_from_sockaddr(struct evudp6_addr *a, const struct sockaddr *sa, socklen_t len)
{
	if (!a || !sa || len < (socklen_t)(offsetof(struct sockaddr, sa_family) + sizeof(sa_family_t)))
		return -EINVAL;
	struct evudp6_addr tmp;
	memset(&tmp, 0, sizeof(tmp));
	tmp.remote.sin6_family = AF_INET6;
	switch (sa->sa_family) {
	case AF_INET6:
		if (len < (socklen_t)sizeof(struct sockaddr_in6))
			return -EINVAL;
		memcpy(&tmp.remote, sa, sizeof(tmp.remote));
		break;
	case AF_INET: {
		struct sockaddr_in sin;
		if (len < (socklen_t)sizeof(sin))
			return -EINVAL;
		memcpy(&sin, sa, sizeof(sin));
		tmp.remote.sin6_port = sin.sin_port;
		evudp6__map_v4(&tmp.remote.sin6_addr, &sin.sin_addr);
		break;
	}
	default:
		return -EAFNOSUPPORT;
	}
	*a = tmp;
	return 0;
}

int evudp6_addr_from_literal(struct evudp6_addr *a, const char *text, uint16_t port, uint32_t scope_id)
{
	struct evudp6_addr tmp;
	struct in_addr v4;

	if (!a || !text)
		return -EINVAL;
	memset(&tmp, 0, sizeof(tmp));
	tmp.remote.sin6_family = AF_INET6;
	tmp.remote.sin6_port = htons(port);
	if (inet_pton(AF_INET6, text, &tmp.remote.sin6_addr) != 1) {
		if (inet_pton(AF_INET, text, &v4) != 1)
			return -EVUDP6_E_NOT_LITERAL;
		evudp6__map_v4(&tmp.remote.sin6_addr, &v4);
	}
	/* The kernel ignores a scope on V4MAPPED destinations: refuse rather than drop it silently. */
	if (scope_id != 0 && IN6_IS_ADDR_V4MAPPED(&tmp.remote.sin6_addr))
		return -EVUDP6_E_ZONE_NOT_ALLOWED;
	tmp.remote.sin6_scope_id = scope_id;
	*a = tmp;
	return 0;
}

void evudp6_addr_set_local(struct evudp6_addr *a, const struct in6_addr *local, unsigned int ifindex)
{
	a->has_local = true;
	if (local)
		a->local_addr = *local;
	else
		memset(&a->local_addr, 0, sizeof(a->local_addr));
	a->local_ifindex = ifindex;
	a->local_broadcast = false;
}

void evudp6_addr_clear_local(struct evudp6_addr *a)
{
	/* local_port stays: it describes the socket, not the datagram. */
	a->has_local = false;
	memset(&a->local_addr, 0, sizeof(a->local_addr));
	a->local_ifindex = 0;
	a->local_broadcast = false;
}

uint16_t evudp6_addr_port(const struct evudp6_addr *a)
{
	return ntohs(a->remote.sin6_port);
}

bool evudp6_addr_is_v4mapped(const struct evudp6_addr *a)
{
	return IN6_IS_ADDR_V4MAPPED(&a->remote.sin6_addr);
}

bool evudp6_addr_is_multicast(const struct evudp6_addr *a)
{
	return evudp6__in6_is_multicast(&a->remote.sin6_addr);
}

bool evudp6_addr_is_multicast_locally(const struct evudp6_addr *a)
{
	static const uint8_t limited_broadcast[16] = {0, 0, 0,    0,    0,    0,    0,    0,
	                                              0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	return a->has_local && (a->local_broadcast || evudp6__in6_is_multicast(&a->local_addr) ||
	                        memcmp(a->local_addr.s6_addr, limited_broadcast, 16) == 0);
}

int evudp6_addr_hostinfo(const struct evudp6_addr *a, char *buf, size_t len)
{
	return hostinfo_text(&a->remote.sin6_addr, a->remote.sin6_scope_id, evudp6_addr_port(a), buf, len);
}

int evudp6_addr_hostinfo_local(const struct evudp6_addr *a, char *buf, size_t len)
{
	/* An interface-only local part names no address to write down. */
	if (!a->has_local || in6_is_unspecified(&a->local_addr)) {
		if (buf && len > 0)
			buf[0] = '\0';
		return -ENOENT;
	}
	uint32_t scope = evudp6__in6_needs_zone(&a->local_addr) ? a->local_ifindex : 0;
	return hostinfo_text(&a->local_addr, scope, a->local_port, buf, len);
}

int evudp6_addr_uri_base(const struct evudp6_addr *a, char *buf, size_t len)
{
	char host[EVUDP6_HOSTINFO_MAX];
	int n = evudp6_addr_hostinfo(a, host, sizeof(host));
	if (n < 0) {
		if (buf && len > 0)
			buf[0] = '\0';
		return n;
	}
	return format_out(buf, len, "coap://%s", host);
}

int evudp6_addr_uri_base_local(const struct evudp6_addr *a, char *buf, size_t len)
{
	char host[EVUDP6_HOSTINFO_MAX];
	int n = evudp6_addr_hostinfo_local(a, host, sizeof(host));
	if (n < 0) {
		if (buf && len > 0)
			buf[0] = '\0';
		return n;
	}
	return format_out(buf, len, "coap://%s", host);
}

void evudp6_addr_response(const struct evudp6_addr *a, struct evudp6_addr *out)
{
	struct evudp6_addr tmp = *a;
	/* A group or a broadcast address cannot be a source: let the kernel
	 * pick a unicast one. */
	if (evudp6_addr_is_multicast_locally(&tmp))
		evudp6_addr_clear_local(&tmp);
	*out = tmp;
}

int evudp6_addr_netif(const struct evudp6_addr *a, char *buf, size_t len)
{
	unsigned int ifindex = a->has_local && a->local_ifindex ? a->local_ifindex : a->remote.sin6_scope_id;
	char name[IF_NAMESIZE] = "";
	if (ifindex != 0)
		ifindex_text(ifindex, name);
	return copy_out(name, buf, len);
}

bool evudp6_addr_equal(const struct evudp6_addr *a, const struct evudp6_addr *b)
{
	return memcmp(&a->remote.sin6_addr, &b->remote.sin6_addr, sizeof(struct in6_addr)) == 0 &&
	       a->remote.sin6_port == b->remote.sin6_port &&
	       evudp6__addr_scope_key(a) == evudp6__addr_scope_key(b);
}

uint32_t evudp6_addr_hash(const struct evudp6_addr *a)
{
	/* FNV-1a over exactly the fields evudp6_addr_equal() compares. */
	uint8_t key[16 + 2 + 4];
	uint32_t scope = evudp6__addr_scope_key(a);
	memcpy(key, &a->remote.sin6_addr, 16);
	memcpy(key + 16, &a->remote.sin6_port, 2);
	memcpy(key + 18, &scope, 4);
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < sizeof(key); i++) {
		h ^= key[i];
		h *= 16777619u;
	}
	return h;
}

/* ------------------------------------------------------------ authorities */

bool evudp6__is_unreserved(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '.' || c == '_' || c == '~';
}

static bool is_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* RFC 3986 3.2.2: reg-name = *( unreserved / pct-encoded / sub-delims ) */
static bool is_reg_name(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\0')
			return false;
		if (evudp6__is_unreserved(c) || strchr("!$&'()*+,;=", c) != NULL)
			continue;
		if (c == '%' && i + 2 < len && is_hex((unsigned char)s[i + 1]) &&
		    is_hex((unsigned char)s[i + 2])) {
			i += 2;
			continue;
		}
		return false;
	}
	return true;
}

int evudp6__parse_port(const char *s, size_t len, uint16_t default_port, uint16_t *port)
{
	unsigned long v = 0;
	if (len == 0) {
		*port = default_port;
		return 0;
	}
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EVUDP6_E_PORT;
		v = v * 10 + (unsigned long)(s[i] - '0');
		if (v > 65535)
			return -EVUDP6_E_PORT;
	}
	*port = (uint16_t)v;
	return 0;
}

int evudp6__authority_split(const char *s, size_t len, char *hostbuf, size_t hostlen, char *zonebuf,
                            size_t zonelen, uint16_t *port, uint16_t default_port, bool *is_literal)
{
	const char *host, *zone = NULL, *porttext = NULL;
	size_t hlen, zlen = 0, plen = 0;
	bool bracketed = false;

	if (hostbuf && hostlen > 0)
		hostbuf[0] = '\0';
	if (zonebuf && zonelen > 0)
		zonebuf[0] = '\0';
	if (len == 0)
		return -EVUDP6_E_HOST_EMPTY;
	if (!s)
		return -EINVAL;

	if (s[0] == '[') {
		const char *close = memchr(s + 1, ']', len - 1);
		if (!close)
			return -EVUDP6_E_HOST_BRACKET;
		bracketed = true;
		host = s + 1;
		hlen = (size_t)(close - host);
		const char *rest = close + 1;
		size_t restlen = len - (size_t)(rest - s);
		if (restlen > 0) {
			if (rest[0] != ':')
				return -EVUDP6_E_HOST_BRACKET;
			porttext = rest + 1;
			plen = restlen - 1;
		}
		const char *pct = memchr(host, '%', hlen);
		if (pct) {
			zone = pct + 1;
			zlen = hlen - (size_t)(zone - host);
			hlen = (size_t)(pct - host);
		}
	} else {
		const char *colon = NULL;
		unsigned int colons = 0;
		for (size_t i = 0; i < len; i++) {
			if (s[i] == ':') {
				colons++;
				if (!colon)
					colon = s + i;
			}
		}
		/* "::1:5683" cannot be split safely: RFC 3986 demands brackets. */
		if (colons >= 2)
			return -EVUDP6_E_HOST_UNBRACKETED_V6;
		if (memchr(s, '[', len) || memchr(s, ']', len))
			return -EVUDP6_E_HOST_BRACKET;
		host = s;
		hlen = colon ? (size_t)(colon - s) : len;
		if (colon) {
			porttext = colon + 1;
			plen = len - hlen - 1;
		}
	}

	if (hlen == 0)
		return -EVUDP6_E_HOST_EMPTY;
	if (hlen > EVUDP6__HOST_MAX)
		return -EVUDP6_E_HOST_TOO_LONG;

	char tmp[EVUDP6__HOST_MAX + 1];
	memcpy(tmp, host, hlen);
	tmp[hlen] = '\0';
	bool literal;
	if (bracketed) {
		struct in6_addr a6;
		if (memchr(host, '\0', hlen) || inet_pton(AF_INET6, tmp, &a6) != 1)
			return -EVUDP6_E_HOST_INVALID;
		literal = true;
	} else {
		if (!is_reg_name(host, hlen))
			return -EVUDP6_E_HOST_INVALID;
		struct in_addr a4;
		literal = inet_pton(AF_INET, tmp, &a4) == 1;
	}

	if (zone) {
		if (zlen == 0)
			return -EVUDP6_E_HOST_INVALID;
		for (size_t i = 0; i < zlen; i++)
			if (!evudp6__is_unreserved((unsigned char)zone[i]))
				return -EVUDP6_E_HOST_INVALID;
		if (zlen >= IF_NAMESIZE)
			return -EVUDP6_E_ZONE_UNKNOWN;
	}

	uint16_t p = default_port;
	if (porttext) {
		int r = evudp6__parse_port(porttext, plen, default_port, &p);
		if (r < 0)
			return r;
	}

	if (!hostbuf || hlen >= hostlen || (zlen > 0 && (!zonebuf || zlen >= zonelen)))
		return -ENOSPC;
	memcpy(hostbuf, tmp, hlen + 1);
	if (zonebuf && zonelen > 0) {
		if (zlen > 0)
			memcpy(zonebuf, zone, zlen);
		zonebuf[zlen] = '\0';
	}
	if (port)
		*port = p;
	if (is_literal)
		*is_literal = literal;
	return 0;
}

int evudp6__zone_to_ifindex(const char *zone, unsigned int *ifindex)
{
	char name[IF_NAMESIZE];

	if (!zone || !*zone)
		return -EVUDP6_E_ZONE_UNKNOWN;
	unsigned int idx = if_nametoindex(zone);
	if (idx != 0) {
		*ifindex = idx;
		return 0;
	}
	unsigned long v = 0;
	for (const char *p = zone; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EVUDP6_E_ZONE_UNKNOWN;
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > UINT_MAX)
			return -EVUDP6_E_ZONE_UNKNOWN;
	}
	if (v == 0 || !if_indextoname((unsigned int)v, name))
		return -EVUDP6_E_ZONE_UNKNOWN;
	*ifindex = (unsigned int)v;
	return 0;
}

int evudp6__addr_parse_authority(struct evudp6_addr *a, const char *s, uint16_t default_port)
{
	char host[EVUDP6__HOST_MAX + 1];
	char zone[IF_NAMESIZE];
	uint16_t port;
	bool literal;
	unsigned int scope = 0;

	if (!a || !s)
		return -EINVAL;
	int r = evudp6__authority_split(s, strlen(s), host, sizeof(host), zone, sizeof(zone), &port,
	                                default_port, &literal);
	if (r < 0)
		return r;
	if (!literal)
		return -EVUDP6_E_NOT_LITERAL;
	if (zone[0]) {
		struct in6_addr a6;
		/* Only a bracketed (IPv6) host can carry a zone. */
		if (inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_V4MAPPED(&a6))
			return -EVUDP6_E_ZONE_NOT_ALLOWED;
		r = evudp6__zone_to_ifindex(zone, &scope);
		if (r < 0)
			return r;
	}
	return evudp6_addr_from_literal(a, host, port, scope);
}
