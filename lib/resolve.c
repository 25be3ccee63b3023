/*
 * evudp6 — remote resolution: host, zone and port to an evudp6_addr.
 *
 * Literals are converted at once; names go to evdns_getaddrinfo() on the
 * caller's evdns_base. Either way the result is delivered from the event
 * loop: a literal's (and a synchronous evdns answer's) through a one-shot
 * event made active at the start, a DNS answer from evdns's own callback.
 * Candidates are ordered IPv6 first, IPv4 mapped, and route-checked with
 * connect() on a throwaway UDP socket, which asks the kernel's routing
 * table without sending anything.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <stdio.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include <evudp6/resolve.h>
#include <evudp6/transport.h>

#include "addr-internal.h"

/* Enough for every address a name usually has; more are ignored. */
#define MAX_CANDIDATES EVUDP6_RESOLVE_MAX_CANDIDATES

/*
 * evdns_getaddrinfo() reports every DNS failure but NXDOMAIN as
 * EVUTIL_EAI_FAIL, a name without addresses (NOERROR, no records)
 * included. To tell "no data" from a failing server, a lookup that fails
 * that way asks once more for the A record alone with the lower-level
 * evdns API, which reports DNS_ERR_NODATA. A server that failed once may
 * not answer now, so that question gets at most this long.
 */
#define CLASSIFY_TIMEOUT_MS 1000

/* Which evdns call, if any, still holds a pointer to the request. */
enum pending { PENDING_NONE, PENDING_GAI, PENDING_CLASSIFY };

struct evudp6_resolve {
	TAILQ_ENTRY(evudp6_resolve) link;
	struct evudp6_resolver *r;
	evudp6_resolve_done_cb cb;
	evudp6_resolve_all_cb all_cb; /* instead of cb: every candidate */
	void *arg;
	/* Delivers a result from the loop (made active), or times out the
	 * classifying question (added as a timer). */
	struct event *deliver;
	struct evdns_base *dns;
	enum pending pending;
	struct evdns_getaddrinfo_request *gai;
	struct evdns_request *classify;
	bool in_call;  /* inside an evdns call that may call back at once */
	bool answered; /* the caller has its answer; only evdns holds on */
	bool is_name;
	int result;
	uint16_t port;
	unsigned int zone_ifindex; /* explicit zone, 0 if none */
	size_t ncand;
	struct sockaddr_in6 cand[MAX_CANDIDATES];
	char host[EVUDP6_URI_HOST_MAX + 1];
};

struct evudp6_resolver {
	struct event_base *base;
	struct evdns_base *dns;
	TAILQ_HEAD(, evudp6_resolve) reqs;
	bool freeing;
};

int evudp6_resolver_new(struct evudp6_resolver **out, struct event_base *base, struct evdns_base *dns)
{
	if (!out || !base)
		return -EINVAL;
	struct evudp6_resolver *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->base = base;
	r->dns = dns;
	TAILQ_INIT(&r->reqs);
	*out = r;
	return 0;
}

/*
 * Give the caller its answer. The request leaves the resolver first, so
 * the callback may free the resolver. If evdns still holds the request,
 * it is cancelled there and freed when evdns calls back (which libevent
 * does from the loop, or possibly at once).
 */
static void complete_all(struct evudp6_resolve *q, int result, const struct evudp6_addr *addr,
                         const struct evudp6_resolve_candidate *cand, size_t n)
{
	evudp6_resolve_done_cb cb = q->cb;
	evudp6_resolve_all_cb all_cb = q->all_cb;
	void *arg = q->arg;

	if (q->r) {
		TAILQ_REMOVE(&q->r->reqs, q, link);
		q->r = NULL;
	}
	if (q->deliver) {
		event_free(q->deliver);
		q->deliver = NULL;
	}
	q->answered = true;
	switch (q->pending) {
	case PENDING_NONE:
		free(q);
		break;
	case PENDING_GAI:
		evdns_getaddrinfo_cancel(q->gai);
		break;
	case PENDING_CLASSIFY:
		evdns_cancel_request(q->dns, q->classify);
		break;
	}
	if (all_cb)
		all_cb(result, n ? cand : NULL, n, arg);
	else
		cb(result, addr, arg);
}

static void complete(struct evudp6_resolve *q, int result, const struct evudp6_addr *addr)
{
	complete_all(q, result, addr, NULL, 0);
}

void evudp6_resolve_cancel(struct evudp6_resolve *q)
{
	if (!q || q->answered)
		return;
	complete(q, -EVUDP6_E_CANCELLED, NULL);
}

void evudp6_resolver_free(struct evudp6_resolver *r)
{
	if (!r || r->freeing)
		return;
	r->freeing = true;
	struct evudp6_resolve *q;
	while ((q = TAILQ_FIRST(&r->reqs)) != NULL)
		evudp6_resolve_cancel(q);
	free(r);
}

/* Ask the routing table whether @sa can be reached, without sending. */
static int route_check(const struct sockaddr_in6 *sa)
{
	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int off = 0;
	(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	int rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 ? 0 : -errno;
	close(fd);
	return rc;
}

static bool is_v4mapped(const struct in6_addr *a)
{
	return IN6_IS_ADDR_V4MAPPED(a);
}

/* Fill @a from a candidate, with the interface-only local part that makes
 * the transport send a scoped destination out of its interface. */
static int make_addr(struct evudp6_addr *a, const struct sockaddr_in6 *sa, unsigned int zone_ifindex)
{
	int rc = evudp6_addr_from_sockaddr(a, (const struct sockaddr *)sa, sizeof(*sa));
	if (rc < 0)
		return rc;
	if (is_v4mapped(&sa->sin6_addr)) {
		if (zone_ifindex) {
			struct in6_addr any4 = {.s6_addr = {[10] = 0xff, [11] = 0xff}};
			evudp6_addr_set_local(a, &any4, zone_ifindex);
		}
	} else if (sa->sin6_scope_id != 0) {
		evudp6_addr_set_local(a, &in6addr_any, sa->sin6_scope_id);
	}
	return 0;
}

/* Route-check the candidates in order and answer with the first that
 * passes. Runs from the event loop with nothing pending in evdns. */
static void finish(struct evudp6_resolve *q)
{
	struct evudp6_addr addr;
	struct evudp6_resolve_candidate all[MAX_CANDIDATES];
	size_t nall = 0;
	int result = q->result;
	int first_err = 0;
	bool found = false;

	/* The first that passes is the answer; with all_cb every one is
	 * checked and kept. */
	for (size_t i = 0; result == 0 && i < q->ncand && (!found || q->all_cb); i++) {
		int rc = route_check(&q->cand[i]);
		if (rc == -EMFILE || rc == -ENFILE || rc == -ENOBUFS || rc == -ENOMEM) {
			result = rc; /* our trouble, not the candidate's */
			break;
		}
		if (q->all_cb && make_addr(&all[nall].addr, &q->cand[i], q->zone_ifindex) == 0)
			all[nall++].route = rc;
		if (rc == 0 && !found) {
			result = make_addr(&addr, &q->cand[i], q->zone_ifindex);
			found = result == 0;
		} else if (rc != 0 && !first_err) {
			first_err = rc;
		}
	}
	if (result == 0 && !found) {
		if (q->ncand == 0)
			result = -EVUDP6_E_RESOLVE_NODATA;
		else if (q->is_name)
			result = -EVUDP6_E_RESOLVE_NOROUTE;
		else
			result = first_err;
	}
	complete_all(q, result, result == 0 ? &addr : NULL, all, nall);
}

static void deliver_cb(evutil_socket_t fd, short what, void *arg)
{
	struct evudp6_resolve *q = arg;
	(void)fd;
	(void)what;
	if (q->pending == PENDING_CLASSIFY)
		complete(q, -EVUDP6_E_RESOLVE_FAILED, NULL); /* server silent */
	else
		finish(q);
}

static void add_candidate(struct evudp6_resolve *q, const struct sockaddr_in6 *sa)
{
	if (q->ncand >= MAX_CANDIDATES)
		return;
	for (size_t i = 0; i < q->ncand; i++)
		if (memcmp(&q->cand[i].sin6_addr, &sa->sin6_addr, sizeof(sa->sin6_addr)) == 0)
			return;
	struct sockaddr_in6 *c = &q->cand[q->ncand++];
	*c = *sa;
	c->sin6_port = htons(q->port);
	/* An explicit zone wins over whatever scope the answer carried. */
	if (q->zone_ifindex && !is_v4mapped(&c->sin6_addr))
		c->sin6_scope_id = q->zone_ifindex;
}

static void add_ipv4_candidate(struct evudp6_resolve *q, const void *in4)
{
	struct sockaddr_in6 sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin6_family = AF_INET6;
	evudp6__map_v4(&sa.sin6_addr, in4);
	add_candidate(q, &sa);
}

static void classify_cb(int result, char type, int count, int ttl, void *addresses, void *arg)
{
	struct evudp6_resolve *q = arg;
	(void)ttl;
	q->pending = PENDING_NONE;
	q->classify = NULL;
	if (q->answered) {
		free(q);
		return;
	}
	if (result == DNS_ERR_NODATA) {
		q->result = -EVUDP6_E_RESOLVE_NODATA;
	} else if (result == DNS_ERR_NOTEXIST) {
		q->result = -EVUDP6_E_RESOLVE_NXDOMAIN;
	} else if (result == DNS_ERR_NONE && type == DNS_IPv4_A && count > 0) {
		/* The name has an address after all: use it. */
		q->result = 0;
		for (int i = 0; i < count; i++)
			add_ipv4_candidate(q, (const uint8_t *)addresses + 4 * i);
	} else {
		q->result = -EVUDP6_E_RESOLVE_FAILED;
	}
	if (q->in_call)
		return;
	event_del(q->deliver);
	finish(q);
}

/* From the loop, after evdns_getaddrinfo() failed with EVUTIL_EAI_FAIL. */
static void classify(struct evudp6_resolve *q)
{
	struct timeval tv = {CLASSIFY_TIMEOUT_MS / 1000, (CLASSIFY_TIMEOUT_MS % 1000) * 1000};

	q->pending = PENDING_CLASSIFY;
	q->in_call = true;
	/* Same search rules as evdns_getaddrinfo(), which passes 0 too. */
	struct evdns_request *d = evdns_base_resolve_ipv4(q->dns, q->host, 0, classify_cb, q);
	q->in_call = false;
	if (q->pending == PENDING_CLASSIFY) {
		if (d) {
			q->classify = d;
			event_add(q->deliver, &tv);
			return;
		}
		q->pending = PENDING_NONE;
		q->result = -EVUDP6_E_RESOLVE_FAILED;
	}
	finish(q);
}

static int map_gai_error(int err)
{
	switch (err) {
	case 0:
		return 0;
	case EVUTIL_EAI_NONAME:
		return -EVUDP6_E_RESOLVE_NXDOMAIN;
#ifdef EVUTIL_EAI_NODATA
	case EVUTIL_EAI_NODATA:
		return -EVUDP6_E_RESOLVE_NODATA;
#endif
	case EVUTIL_EAI_MEMORY:
		return -ENOMEM;
	default:
		return -EVUDP6_E_RESOLVE_FAILED;
	}
}

/* evdns's answer: from the loop, or from inside evdns_getaddrinfo(). */
static void gai_cb(int err, struct evutil_addrinfo *res, void *arg)
{
	struct evudp6_resolve *q = arg;
	q->pending = PENDING_NONE;
	q->gai = NULL;
	if (q->answered) {
		if (res)
			evutil_freeaddrinfo(res);
		free(q);
		return;
	}

	q->result = map_gai_error(err);
	/* evdns ignores AI_V4MAPPED: map here, IPv6 answers first. */
	for (int pass = 0; pass < 2 && q->result == 0; pass++) {
		for (struct evutil_addrinfo *ai = res; ai; ai = ai->ai_next) {
			struct evudp6_addr a;
			if (ai->ai_family != (pass == 0 ? AF_INET6 : AF_INET))
				continue;
			if (evudp6_addr_from_sockaddr(&a, ai->ai_addr, (socklen_t)ai->ai_addrlen) == 0)
				add_candidate(q, &a.remote);
		}
	}
	if (res)
		evutil_freeaddrinfo(res);
	if (q->result == 0 && q->ncand == 0)
		q->result = -EVUDP6_E_RESOLVE_NODATA;

	/* At once from inside the start call means hosts file or a failure
	 * to send: nothing to classify, and the start call delivers. */
	if (q->in_call)
		return;
	if (err == EVUTIL_EAI_FAIL)
		classify(q);
	else
		finish(q);
}

/* Common start: @host without brackets, @zone without '%' (or empty). */
static int start(struct evudp6_resolver *r, const char *host, const char *zone, uint16_t port,
                 evudp6_resolve_done_cb cb, evudp6_resolve_all_cb all_cb, void *arg,
                 struct evudp6_resolve **out)
{
	unsigned int ifindex = 0;
	struct evudp6_addr lit;
	int rc;

	if (!r || (!cb && !all_cb))
		return -EINVAL;
	if (r->freeing)
		return -EVUDP6_E_SHUTDOWN;
	if (!host || !*host)
		return -EVUDP6_E_HOST_EMPTY;
	if (strlen(host) > EVUDP6_URI_HOST_MAX)
		return -EVUDP6_E_HOST_TOO_LONG;
	if (zone && *zone) {
		rc = evudp6__zone_to_ifindex(zone, &ifindex);
		if (rc < 0)
			return rc;
	}

	bool literal = evudp6_addr_from_literal(&lit, host, port, 0) == 0;
	if (!literal && !r->dns)
		return -EVUDP6_E_NOT_LITERAL;

	struct evudp6_resolve *q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->deliver = event_new(r->base, -1, 0, deliver_cb, q);
	if (!q->deliver) {
		free(q);
		return -ENOMEM;
	}
	q->r = r;
	q->dns = r->dns;
	q->cb = cb;
	q->all_cb = all_cb;
	q->arg = arg;
	q->port = port;
	q->zone_ifindex = ifindex;
	q->is_name = !literal;
	TAILQ_INSERT_TAIL(&r->reqs, q, link);

	if (literal) {
		add_candidate(q, &lit.remote);
	} else {
		struct evutil_addrinfo hints;
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_DGRAM;
		hints.ai_protocol = IPPROTO_UDP;
		/* No AI_ADDRCONFIG: the route check decides per address, and
		 * is right where addrconfig guesses (a host with only a
		 * link-local IPv6 address, a namespace without IPv6). */
		snprintf(q->host, sizeof(q->host), "%s", host);
		q->pending = PENDING_GAI;
		q->in_call = true;
		struct evdns_getaddrinfo_request *d =
		    evdns_getaddrinfo(r->dns, host, NULL, &hints, gai_cb, q);
		q->in_call = false;
		if (q->pending == PENDING_GAI) {
			if (d) {
				q->gai = d;
			} else {
				/* Neither answered nor pending: not supposed
				 * to happen, but it must not leave q hanging. */
				q->pending = PENDING_NONE;
				q->result = -EVUDP6_E_RESOLVE_FAILED;
			}
		}
	}
	if (q->pending == PENDING_NONE)
		event_active(q->deliver, EV_TIMEOUT, 1);
	if (out)
		*out = q;
	return 0;
}

int evudp6_resolve_uri(struct evudp6_resolver *r, const struct evudp6_uri *u, evudp6_resolve_done_cb cb,
                       void *arg, struct evudp6_resolve **req)
{
	if (!u)
		return -EINVAL;
	return start(r, u->host, u->zone, u->port, cb, NULL, arg, req);
}

int evudp6_resolve_uri_all(struct evudp6_resolver *r, const struct evudp6_uri *u, evudp6_resolve_all_cb cb,
                           void *arg, struct evudp6_resolve **req)
{
	if (!u || !cb)
		return -EINVAL;
	return start(r, u->host, u->zone, u->port, NULL, cb, arg, req);
}

int evudp6_resolve_remote(struct evudp6_resolver *r, const char *hostport, evudp6_resolve_done_cb cb,
                          void *arg, struct evudp6_resolve **req)
{
	char host[EVUDP6_URI_HOST_MAX + 1];
	char zone[EVUDP6_URI_ZONE_MAX + 1];
	uint16_t port;
	bool is_literal;

	if (!hostport)
		return -EINVAL;
	int rc = evudp6__authority_split(hostport, strlen(hostport), host, sizeof(host), zone, sizeof(zone),
	                                 &port, EVUDP6_DEFAULT_PORT, &is_literal);
	if (rc < 0)
		return rc;
	return start(r, host, zone, port, cb, NULL, arg, req);
}

int evudp6_resolve_msg(struct evudp6_resolver *r, const struct evudp6_msg *m, evudp6_resolve_done_cb cb,
                       void *arg, struct evudp6_resolve **req)
{
	/* Room for the value plus brackets added around a bare IPv6. */
	char buf[EVUDP6_URI_HOST_MAX + 3];
	char host[EVUDP6_URI_HOST_MAX + 1];
	char zone[EVUDP6_URI_ZONE_MAX + 1];
	struct evudp6_opt o;
	uint16_t port = EVUDP6_DEFAULT_PORT;
	uint16_t unused;
	bool is_literal;
	size_t n;

	if (!m)
		return -EINVAL;
	if (evudp6_msg_find_opt(m, EVUDP6_OPT_URI_HOST, &o) != 1 || o.len == 0)
		return -EVUDP6_E_HOST_EMPTY;
	if (o.len > EVUDP6_URI_HOST_MAX)
		return -EVUDP6_E_HOST_TOO_LONG;
	if (memchr(o.value, '\0', o.len))
		return -EVUDP6_E_HOST_INVALID;
	/* Uri-Host carries no port, so a colon can only be IPv6: bracket it
	 * for the authority parser, which refuses bare IPv6 as ambiguous. */
	if (o.value[0] != '[' && memchr(o.value, ':', o.len)) {
		buf[0] = '[';
		memcpy(buf + 1, o.value, o.len);
		buf[o.len + 1] = ']';
		n = o.len + 2;
	} else {
		memcpy(buf, o.value, o.len);
		n = o.len;
	}
	buf[n] = '\0';
	int rc = evudp6__authority_split(buf, n, host, sizeof(host), zone, sizeof(zone), &unused,
	                                 EVUDP6_DEFAULT_PORT, &is_literal);
	if (rc < 0)
		return rc;
	if (evudp6_msg_find_opt(m, EVUDP6_OPT_URI_PORT, &o) == 1) {
		uint32_t v;
		if (evudp6_opt_uint(&o, &v) < 0 || v > 65535)
			return -EVUDP6_E_PORT;
		port = (uint16_t)v;
	}
	return start(r, host, zone, port, cb, NULL, arg, req);
}

bool evudp6_resolve_recognize_remote(const struct evudp6_transport *t, const struct evudp6_addr *a)
{
	static const struct in6_addr any4 = {.s6_addr = {[10] = 0xff, [11] = 0xff}};

	if (!a || a->remote.sin6_family != AF_INET6 || a->remote.sin6_port == 0)
		return false;
	const struct in6_addr *ra = &a->remote.sin6_addr;
	if (IN6_IS_ADDR_UNSPECIFIED(ra) || IN6_ARE_ADDR_EQUAL(ra, &any4))
		return false;
	if (evudp6__in6_needs_zone(ra) && a->remote.sin6_scope_id == 0 &&
	    !(a->has_local && a->local_ifindex != 0))
		return false;
	if (t) {
		struct sockaddr_in6 bound;
		if (evudp6_transport_fd(t) < 0)
			return false;
		if (evudp6_transport_local(t, &bound) == 0 && !IN6_IS_ADDR_UNSPECIFIED(&bound.sin6_addr)) {
			/* Bound to ::ffff:a.b.c.d (or ::ffff:0.0.0.0) the socket
			 * speaks only IPv4; bound to an IPv6 address, only IPv6. */
			if (is_v4mapped(&bound.sin6_addr) != is_v4mapped(ra))
				return false;
		}
	}
	return true;
}
