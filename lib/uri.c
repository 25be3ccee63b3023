/*
 * evudp6 — coap:// URIs: parse into host, zone, port and option values
 * (RFC 7252 6.4), turn them into request options, and compose them back
 * from options (RFC 7252 6.5). The syntax is RFC 3986 with the RFC 6874
 * zone identifier.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <evudp6/resolve.h>

#include "addr-internal.h"

#define MAX_PORT 65535u

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int lower_ascii(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static bool is_sub_delim(int c)
{
	return c != 0 && strchr("!$&'()*+,;=", c) != NULL;
}

/* Characters that may stand unencoded in each component (RFC 3986 3.2.2,
 * 3.3, 3.4; RFC 6874 for the zone). */
enum component { C_REGNAME, C_ZONE, C_PATH, C_QUERY };

static bool allowed(enum component c, int ch)
{
	switch (c) {
	case C_REGNAME:
		return evudp6__is_unreserved(ch) || is_sub_delim(ch);
	case C_ZONE:
		return evudp6__is_unreserved(ch);
	case C_PATH:
		return evudp6__is_unreserved(ch) || is_sub_delim(ch) || ch == ':' || ch == '@';
	case C_QUERY:
		return evudp6__is_unreserved(ch) || is_sub_delim(ch) || ch == ':' || ch == '@' || ch == '/' ||
		       ch == '?';
	}
	return false;
}

/*
 * Percent-decode [s, s+n) of component @c into @out (room for @outlen
 * bytes). With @lower, ASCII letters are lowercased after decoding, so
 * that "%41" and "A" and "a" give the same host: RFC 7252 6.4 step 5
 * lowercases before decoding, but a host is case-insensitive and "%41"
 * is "A" (RFC 3986 3.2.2, 6.2.2.1, 6.2.2.2), and a host that kept an
 * uppercase letter could not be written so that it parses back.
 * Returns the decoded length, -EVUDP6_E_URI_INVALID, or -ENOSPC.
 */
static int decode(enum component c, const char *s, size_t n, bool lower, char *out, size_t outlen)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int ch = (unsigned char)s[i];
		if (ch == '%') {
			if (i + 2 >= n)
				return -EVUDP6_E_URI_INVALID;
			int hi = hexval((unsigned char)s[i + 1]);
			int lo = hexval((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0)
				return -EVUDP6_E_URI_INVALID;
			ch = hi << 4 | lo;
			i += 2;
		} else if (!allowed(c, ch)) {
			return -EVUDP6_E_URI_INVALID;
		}
		if (lower)
			ch = lower_ascii(ch);
		if (o >= outlen)
			return -ENOSPC;
		out[o++] = (char)ch;
	}
	return (int)o;
}

/* Append one decoded value to the URI's option table. */
static int add_part(struct evudp6_uri *u, uint16_t number, const char *s, size_t n)
{
	if (u->nparts >= EVUDP6_URI_MAX_OPTS)
		return -EVUDP6_E_URI_TOO_LONG;
	int len = decode(number == EVUDP6_OPT_URI_PATH ? C_PATH : C_QUERY, s, n, false,
	                 u->values + u->values_len, sizeof(u->values) - u->values_len);
	if (len == -ENOSPC)
		return -EVUDP6_E_URI_TOO_LONG;
	if (len < 0)
		return len;
	u->part[u->nparts].number = number;
	u->part[u->nparts].off = u->values_len;
	u->part[u->nparts].len = (uint16_t)len;
	u->nparts++;
	u->values_len = (uint16_t)(u->values_len + len);
	return 0;
}

/* Drop the last value (a path segment undone by ".."). Values are stored
 * back to back, so the last one is at the end of the buffer. */
static void pop_part(struct evudp6_uri *u)
{
	u->nparts--;
	u->values_len = u->part[u->nparts].off;
}

/* IP-literal: "[" IPv6address [ "%25" ZoneID ] "]" (RFC 6874), also
 * accepting a bare "%" before the zone as RFC 6874 section 4 suggests. */
static int parse_ip_literal(struct evudp6_uri *u, const char *s, size_t n)
{
	char text[INET6_ADDRSTRLEN];
	struct in6_addr a;
	const char *pct = memchr(s, '%', n);
	size_t alen = pct ? (size_t)(pct - s) : n;

	if (n == 0)
		return -EVUDP6_E_HOST_EMPTY;
	if (s[0] == 'v' || s[0] == 'V')
		return -EVUDP6_E_HOST_INVALID; /* IPvFuture: nothing we can send to */
	if (alen == 0 || alen >= sizeof(text))
		return -EVUDP6_E_HOST_INVALID;
	memcpy(text, s, alen);
	text[alen] = '\0';
	if (inet_pton(AF_INET6, text, &a) != 1)
		return -EVUDP6_E_HOST_INVALID;
	if (!inet_ntop(AF_INET6, &a, u->host, sizeof(u->host)))
		return -EVUDP6_E_HOST_INVALID;
	u->host_is_literal = true;

	if (pct) {
		const char *z = pct + 1;
		size_t zlen = n - alen - 1;
		/* "%25" followed by something is the encoded '%' of RFC 6874;
		 * otherwise the zone follows the '%' directly. */
		if (zlen > 2 && z[0] == '2' && z[1] == '5') {
			z += 2;
			zlen -= 2;
		}
		int len = decode(C_ZONE, z, zlen, false, u->zone, EVUDP6_URI_ZONE_MAX);
		if (len == -ENOSPC)
			return -EVUDP6_E_ZONE_UNKNOWN;
		if (len < 0)
			return len;
		if (len == 0 || memchr(u->zone, '\0', (size_t)len))
			return -EVUDP6_E_HOST_INVALID;
		u->zone[len] = '\0';
	}
	return 0;
}

/* An IP literal given as a Uri-Host value or a host string: "[v6%zone]",
 * "v6", "v6%zone" or "a.b.c.d". Fills host (canonical) and zone. */
static bool host_literal(struct evudp6_uri *u, const char *v, size_t n)
{
	char text[INET6_ADDRSTRLEN + EVUDP6_URI_ZONE_MAX + 2];
	struct in6_addr a6;
	struct in_addr a4;

	if (n >= 2 && v[0] == '[' && v[n - 1] == ']') {
		v++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(text))
		return false;
	memcpy(text, v, n);
	text[n] = '\0';
	if (inet_pton(AF_INET, text, &a4) == 1) {
		memcpy(u->host, text, n + 1);
		return true;
	}
	char *pct = strchr(text, '%');
	if (pct)
		*pct = '\0';
	if (inet_pton(AF_INET6, text, &a6) != 1)
		return false;
	if (pct) {
		size_t zlen = strlen(pct + 1);
		if (zlen == 0 || zlen > EVUDP6_URI_ZONE_MAX)
			return false;
		memcpy(u->zone, pct + 1, zlen + 1);
	}
	inet_ntop(AF_INET6, &a6, u->host, sizeof(u->host));
	return true;
}

static int parse_authority(struct evudp6_uri *u, const char *s, size_t n)
{
	const char *port = NULL;
	size_t portlen = 0;

	/* coap-URI has no userinfo (RFC 7252 6.1). */
	if (memchr(s, '@', n))
		return -EVUDP6_E_URI_INVALID;
	if (n == 0)
		return -EVUDP6_E_HOST_EMPTY;

	if (s[0] == '[') {
		const char *close = memchr(s, ']', n);
		if (!close)
			return -EVUDP6_E_HOST_BRACKET;
		size_t after = (size_t)(close + 1 - s);
		if (after < n) {
			if (s[after] != ':')
				return -EVUDP6_E_HOST_BRACKET;
			port = s + after + 1;
			portlen = n - after - 1;
		}
		int rc = parse_ip_literal(u, s + 1, (size_t)(close - s - 1));
		if (rc < 0)
			return rc;
	} else {
		const char *colon = memchr(s, ':', n);
		size_t hlen = n;
		if (memchr(s, ']', n))
			return -EVUDP6_E_HOST_BRACKET;
		if (colon) {
			if (memchr(colon + 1, ':', n - (size_t)(colon + 1 - s)))
				return -EVUDP6_E_HOST_UNBRACKETED_V6;
			hlen = (size_t)(colon - s);
			port = colon + 1;
			portlen = n - hlen - 1;
		}
		if (hlen == 0)
			return -EVUDP6_E_HOST_EMPTY;

		int len = decode(C_REGNAME, s, hlen, true, u->host, EVUDP6_URI_HOST_MAX);
		if (len == -ENOSPC)
			return -EVUDP6_E_HOST_TOO_LONG;
		if (len < 0)
			return len;
		if (memchr(u->host, '\0', (size_t)len))
			return -EVUDP6_E_HOST_INVALID;
		u->host[len] = '\0';
		/* Digits and '.' are unreserved, so "%31.2.3.4" is the same
		 * host as "1.2.3.4" (RFC 3986 6.2.2.2): an IPv4address once
		 * decoded. As a literal it gets no Uri-Host (RFC 7252 6.4
		 * step 5), and a Uri-Host "1.2.3.4" would come back as a
		 * literal anyway. The same holds for a name that decodes to
		 * what evudp6_uri_from_msg() takes as an IPv6 literal
		 * ("%3A%3A1"): no Uri-Host could carry it as a name. */
		if (host_literal(u, u->host, (size_t)len))
			u->host_is_literal = true;
	}
	if (port)
		return evudp6__parse_port(port, portlen, EVUDP6_DEFAULT_PORT, &u->port);
	return 0;
}

/* path-abempty with dot segments removed (RFC 3986 5.2.4, which the
 * reference resolution of RFC 7252 6.4 step 2 applies). Working on
 * segments lets ".." pop the last decoded value. */
static int parse_path(struct evudp6_uri *u, const char *s, size_t n)
{
	size_t npath = 0;

	/* Step 8: an empty path or "/" gives no Uri-Path. */
	if (n <= 1)
		return 0;
	const char *p = s + 1; /* path-abempty starts with '/' here */
	const char *end = s + n;
	for (;;) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		const char *segend = slash ? slash : end;
		size_t len = (size_t)(segend - p);
		bool last = slash == NULL;
		bool dot = len == 1 && p[0] == '.';
		bool dotdot = len == 2 && p[0] == '.' && p[1] == '.';

		if (dotdot && npath > 0) {
			pop_part(u);
			npath--;
		}
		if (dot || dotdot) {
			/* A trailing "." or ".." leaves the path ending in '/'. */
			if (last) {
				int rc = add_part(u, EVUDP6_OPT_URI_PATH, p, 0);
				if (rc < 0)
					return rc;
				npath++;
			}
		} else {
			int rc = add_part(u, EVUDP6_OPT_URI_PATH, p, len);
			if (rc < 0)
				return rc;
			npath++;
		}
		if (last)
			break;
		p = slash + 1;
	}
	/* What is left may be "/" again ("/a/.."), which has no Uri-Path. */
	if (npath == 1 && u->part[u->nparts - 1].len == 0)
		pop_part(u);
	return 0;
}

/* Step 9: if the query is not empty, every "&"-separated argument is a
 * Uri-Query, empty ones too; a bare "?" has none. */
static int parse_query(struct evudp6_uri *u, const char *s, size_t n)
{
	if (n == 0)
		return 0;
	const char *p = s;
	const char *end = s + n;
	for (;;) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *argend = amp ? amp : end;
		int rc = add_part(u, EVUDP6_OPT_URI_QUERY, p, (size_t)(argend - p));
		if (rc < 0)
			return rc;
		if (!amp)
			return 0;
		p = amp + 1;
	}
}

int evudp6_uri_parse(struct evudp6_uri *u, const char *uri)
{
	if (!u || !uri)
		return -EINVAL;
	memset(u, 0, sizeof(*u));
	u->port = EVUDP6_DEFAULT_PORT;

	/* Step 1: absolute URI, i.e. scheme ":" ... (RFC 3986 3.1). */
	const char *p = uri;
	if (!is_alpha((unsigned char)*p))
		return -EVUDP6_E_URI_RELATIVE;
	while (is_alpha((unsigned char)*p) || is_digit((unsigned char)*p) || *p == '+' || *p == '-' ||
	       *p == '.')
		p++;
	if (*p != ':')
		return -EVUDP6_E_URI_RELATIVE;
	/* Step 3: the scheme is ours only if it is coap; coaps and the rest
	 * belong to other transports. */
	if (p - uri != 4 || strncasecmp(uri, "coap", 4) != 0)
		return -EVUDP6_E_NOT_MINE;
	p++;
	/* Step 4: no fragment. '#' cannot appear anywhere else in a URI. */
	if (strchr(p, '#'))
		return -EVUDP6_E_URI_FRAGMENT;
	if (p[0] != '/' || p[1] != '/')
		return -EVUDP6_E_URI_INVALID;
	p += 2;

	size_t alen = strcspn(p, "/?");
	int rc = parse_authority(u, p, alen);
	if (rc < 0)
		return rc;
	p += alen;

	size_t plen = strcspn(p, "?");
	rc = parse_path(u, p, plen);
	if (rc < 0)
		return rc;
	p += plen;

	if (*p == '?')
		return parse_query(u, p + 1, strlen(p + 1));
	return 0;
}

int evudp6_uri_option(const struct evudp6_uri *u, size_t i, struct evudp6_opt *opt)
{
	if (i >= u->nparts)
		return 0;
	opt->number = u->part[i].number;
	opt->value = (const uint8_t *)u->values + u->part[i].off;
	opt->len = u->part[i].len;
	return 1;
}

int evudp6_uri_add_options(const struct evudp6_uri *u, struct evudp6_msg_builder *b,
                           const struct evudp6_addr *dest)
{
	int rc;
	uint16_t dport = dest ? ntohs(dest->remote.sin6_port) : EVUDP6_DEFAULT_PORT;

	/* Step 5: a literal already says where the request goes. */
	if (!u->host_is_literal) {
		rc = evudp6_msg_builder_add_opt(b, EVUDP6_OPT_URI_HOST, u->host, strlen(u->host));
		if (rc < 0)
			return rc;
	}
	/* Step 7. */
	if (u->port != dport) {
		rc = evudp6_msg_builder_add_uint(b, EVUDP6_OPT_URI_PORT, u->port);
		if (rc < 0)
			return rc;
	}
	for (size_t i = 0; i < u->nparts; i++) {
		rc = evudp6_msg_builder_add_opt(b, u->part[i].number, u->values + u->part[i].off,
		                                u->part[i].len);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int evudp6_uri_from_msg(struct evudp6_uri *u, const struct evudp6_msg *m, const struct evudp6_addr *dest)
{
	struct evudp6_opt_iter it;
	struct evudp6_opt o;
	bool have_host = false, have_port = false;

	if (!u || !m)
		return -EINVAL;
	memset(u, 0, sizeof(*u));
	u->port = EVUDP6_DEFAULT_PORT;

	evudp6_opt_iter_init(&it, m);
	while (evudp6_opt_iter_next(&it, &o) == 1) {
		switch (o.number) {
		case EVUDP6_OPT_URI_HOST:
			if (have_host)
				break; /* not repeatable: the first one counts */
			if (o.len == 0)
				return -EVUDP6_E_HOST_EMPTY;
			if (o.len > EVUDP6_URI_HOST_MAX)
				return -EVUDP6_E_HOST_TOO_LONG;
			if (memchr(o.value, '\0', o.len))
				return -EVUDP6_E_HOST_INVALID;
			if (host_literal(u, (const char *)o.value, o.len)) {
				u->host_is_literal = true;
			} else {
				/* Lowercased as evudp6_uri_parse() does, so that
				 * the host formats to text that parses back to it. */
				for (size_t k = 0; k < o.len; k++)
					u->host[k] = (char)lower_ascii(o.value[k]);
				u->host[o.len] = '\0';
			}
			have_host = true;
			break;
		case EVUDP6_OPT_URI_PORT: {
			uint32_t v;
			if (have_port)
				break;
			if (evudp6_opt_uint(&o, &v) < 0 || v > MAX_PORT)
				return -EVUDP6_E_PORT;
			u->port = (uint16_t)v;
			have_port = true;
			break;
		}
		case EVUDP6_OPT_URI_PATH:
		case EVUDP6_OPT_URI_QUERY:
			if (u->nparts >= EVUDP6_URI_MAX_OPTS || o.len > sizeof(u->values) - u->values_len)
				return -EVUDP6_E_URI_TOO_LONG;
			memcpy(u->values + u->values_len, o.value, o.len);
			u->part[u->nparts].number = (uint16_t)o.number;
			u->part[u->nparts].off = u->values_len;
			u->part[u->nparts].len = (uint16_t)o.len;
			u->nparts++;
			u->values_len = (uint16_t)(u->values_len + o.len);
			break;
		default:
			break;
		}
	}

	if (!have_host) {
		if (!dest)
			return -EVUDP6_E_HOST_EMPTY;
		const struct in6_addr *a = &dest->remote.sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a)) {
			inet_ntop(AF_INET, &a->s6_addr[12], u->host, sizeof(u->host));
		} else {
			inet_ntop(AF_INET6, a, u->host, sizeof(u->host));
			uint32_t scope = dest->remote.sin6_scope_id;
			char name[IF_NAMESIZE];
			if (scope != 0) {
				if (if_indextoname(scope, name))
					snprintf(u->zone, sizeof(u->zone), "%s", name);
				else
					snprintf(u->zone, sizeof(u->zone), "%u", (unsigned int)scope);
			}
		}
		u->host_is_literal = true;
	}
	if (!have_port)
		u->port = dest ? ntohs(dest->remote.sin6_port) : EVUDP6_DEFAULT_PORT;
	return 0;
}

/* Output with truncation: keeps counting past the end so the caller
 * learns the length it would have needed. */
struct out {
	char *buf;
	size_t len;
	size_t pos;
};

static void put(struct out *w, char c)
{
	if (w->pos + 1 < w->len)
		w->buf[w->pos] = c;
	w->pos++;
}

static void puts_raw(struct out *w, const char *s)
{
	while (*s)
		put(w, *s++);
}

static void put_encoded(struct out *w, enum component c, const char *s, size_t n, bool amp_reserved)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (allowed(c, ch) && !(amp_reserved && ch == '&')) {
			put(w, (char)ch);
		} else {
			put(w, '%');
			put(w, hex[ch >> 4]);
			put(w, hex[ch & 15]);
		}
	}
}

int evudp6_uri_format(const struct evudp6_uri *u, char *buf, size_t len)
{
	struct out w = {buf, len, 0};
	char port[8];
	bool any_query = false;

	puts_raw(&w, "coap://");
	if (u->host_is_literal && strchr(u->host, ':')) {
		put(&w, '[');
		puts_raw(&w, u->host);
		if (u->zone[0]) {
			puts_raw(&w, "%25");
			put_encoded(&w, C_ZONE, u->zone, strlen(u->zone), false);
		}
		put(&w, ']');
	} else if (u->host_is_literal) {
		puts_raw(&w, u->host);
	} else {
		put_encoded(&w, C_REGNAME, u->host, strlen(u->host), false);
	}
	if (u->port != EVUDP6_DEFAULT_PORT) {
		snprintf(port, sizeof(port), ":%u", (unsigned int)u->port);
		puts_raw(&w, port);
	}

	bool any_path = false;
	for (size_t i = 0; i < u->nparts; i++) {
		if (u->part[i].number != EVUDP6_OPT_URI_PATH)
			continue;
		const char *v = u->values + u->part[i].off;
		size_t n = u->part[i].len;
		put(&w, '/');
		/* A value "." or ".." written as is would be a dot segment,
		 * which parsing removes (RFC 3986 5.2.4); "%2E" is not one. */
		if ((n == 1 && v[0] == '.') || (n == 2 && v[0] == '.' && v[1] == '.')) {
			for (size_t k = 0; k < n; k++)
				puts_raw(&w, "%2E");
		} else {
			put_encoded(&w, C_PATH, v, n, false);
		}
		any_path = true;
	}
	/* Step 7. */
	if (!any_path)
		put(&w, '/');
	for (size_t i = 0; i < u->nparts; i++) {
		if (u->part[i].number != EVUDP6_OPT_URI_QUERY)
			continue;
		put(&w, any_query ? '&' : '?');
		/* Step 8: '&' separates the values, so inside one it is encoded. */
		put_encoded(&w, C_QUERY, u->values + u->part[i].off, u->part[i].len, true);
		any_query = true;
	}

	if (len > 0)
		buf[w.pos < len ? w.pos : len - 1] = '\0';
	if (w.pos >= len)
		return -ENOSPC;
	return (int)w.pos;
}
