/*
 * evudp6 — CoAP URIs and remote resolution (RFC 7252 6.1-6.5).
 *
 * Two halves:
 *
 * - struct evudp6_uri: a parsed coap:// URI (host, zone, port, and the
 *   percent-decoded Uri-Path and Uri-Query values), with conversions to
 *   message options and back to text. No allocation and no I/O (except
 *   the interface-name lookup of evudp6_uri_from_msg() for a scoped
 *   address); the struct holds its decoded values inline and may be
 *   copied.
 *
 * - struct evudp6_resolver: turns a URI, a message's Uri-Host/Uri-Port
 *   options, or an "unresolved remote" host[:port] into a struct
 *   evudp6_addr the transport can send to. Address literals need no DNS;
 *   names are looked up with evdns on the caller's evdns_base (so its hosts
 *   file and name servers apply) without blocking the loop. IPv4 results
 *   become V4MAPPED; IPv6 results are tried first; each candidate is
 *   route-checked and skipped if the kernel has no route to it. A scoped
 *   destination gets an interface-only local part, so the transport sends
 *   it out of that interface.
 *
 * Error model: a call that starts a resolution returns an error only for
 * what is wrong with its input (syntax, unknown zone, no evdns_base for a
 * name, out of memory), and then never calls the callback. Everything the
 * network has to say (no route, NXDOMAIN, no data, server failure) comes
 * through the callback, which runs exactly once, always from the event
 * loop (never from inside the call that started the resolution), or from
 * inside evudp6_resolve_cancel() / evudp6_resolver_free() with
 * -EVUDP6_E_CANCELLED. A resolver and its requests belong to the thread
 * running the event_base.
 */
#ifndef EVUDP6_RESOLVE_H
#define EVUDP6_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <evudp6/addr.h>
#include <evudp6/common.h>
#include <evudp6/msg.h>

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;
struct evdns_base;
struct evudp6_transport;

/* ------------------------------------------------------------------ URIs */

/** Longest host (RFC 1035 name limit, and the Uri-Host option's 255). */
#define EVUDP6_URI_HOST_MAX 255
/** Longest zone identifier kept (an interface name or number). */
#define EVUDP6_URI_ZONE_MAX 63
/** Most Uri-Path plus Uri-Query values one struct evudp6_uri holds. */
#define EVUDP6_URI_MAX_OPTS 32
/** Room for all decoded Uri-Path and Uri-Query values together. */
#define EVUDP6_URI_VALUES_MAX 1024

/** One Uri-Path or Uri-Query value: @c len bytes at @c values + @c off. */
struct evudp6_uri_part {
	uint16_t number; /**< EVUDP6_OPT_URI_PATH or EVUDP6_OPT_URI_QUERY */
	uint16_t off;
	uint16_t len;
};

/**
 * A coap:// URI decomposed as RFC 7252 6.4 describes. Plain value type:
 * no pointers inside, copy it freely. Zero-initialise or fill it with
 * evudp6_uri_parse() / evudp6_uri_from_msg(); read the values with
 * evudp6_uri_option().
 */
struct evudp6_uri {
	/**
	 * Host, NUL-terminated. A reg-name is percent-decoded and its ASCII
	 * letters lowercased (RFC 7252 6.4 step 5, RFC 3986 6.2.2; it may
	 * then hold any byte but NUL); an IPv6 literal is without brackets
	 * and zone, in RFC 5952 form; an IPv4 literal as written. A reg-name
	 * that decodes to an address literal ("%31.2.3.4", "%3A%3A1") is
	 * that literal.
	 */
	char host[EVUDP6_URI_HOST_MAX + 1];
	/** Zone of an IPv6 literal without '%' ("eth0", "3"), "" if none. */
	char zone[EVUDP6_URI_ZONE_MAX + 1];
	/** True when @c host is an IPv6 or IPv4 address literal. */
	bool host_is_literal;
	/** Port, host byte order; 5683 when the URI names none. */
	uint16_t port;
	/** Number of entries used in @c part. */
	uint8_t nparts;
	/** Uri-Path values in order, then Uri-Query values in order. */
	struct evudp6_uri_part part[EVUDP6_URI_MAX_OPTS];
	/** Bytes used in @c values. */
	uint16_t values_len;
	/** Decoded values, back to back, not NUL-terminated (may hold NUL). */
	char values[EVUDP6_URI_VALUES_MAX];
};

/**
 * Parse an absolute coap:// URI (RFC 7252 6.4 steps 1-9).
 *
 * The scheme is matched without regard to case; any other scheme
 * (coaps, coap+tcp, http, ...) is "not mine". Dot segments are removed
 * (RFC 3986 5.2.4). Empty path segments and empty query arguments are
 * kept as empty values; "coap://h" and "coap://h/" have no Uri-Path, and
 * a bare "?" (an empty query) has no Uri-Query ("?&" has two empty ones). A
 * zone in an IPv6 literal may be written "%25eth0" (RFC 6874) or, as
 * browsers accept, "%eth0". The zone is only stored here: the resolver
 * maps it to an interface.
 *
 * @param u    filled on success; unspecified on error
 * @param uri  NUL-terminated text
 * @return 0;
 *   -EVUDP6_E_URI_RELATIVE (no scheme),
 *   -EVUDP6_E_NOT_MINE (another scheme: not an error, just not ours),
 *   -EVUDP6_E_URI_FRAGMENT (has '#'),
 *   -EVUDP6_E_URI_INVALID (a character not allowed where it is, a bad
 *     percent-encoding, userinfo, no "//"),
 *   -EVUDP6_E_URI_TOO_LONG (more than EVUDP6_URI_MAX_OPTS values or
 *     EVUDP6_URI_VALUES_MAX bytes of them, each value at most 65535),
 *   -EVUDP6_E_HOST_EMPTY, -EVUDP6_E_HOST_BRACKET,
 *   -EVUDP6_E_HOST_UNBRACKETED_V6, -EVUDP6_E_HOST_TOO_LONG,
 *   -EVUDP6_E_HOST_INVALID (bad IPv6 literal, IPvFuture),
 *   -EVUDP6_E_ZONE_UNKNOWN (zone longer than EVUDP6_URI_ZONE_MAX),
 *   -EVUDP6_E_PORT (not a number up to 65535).
 */
EVUDP6_API int evudp6_uri_parse(struct evudp6_uri *u, const char *uri);

/**
 * The @p i-th Uri-Path or Uri-Query value, in the order they go into a
 * request (paths first). @p opt->value points into @p u.
 * @return 1 and fills @p opt, or 0 when @p i is past the end.
 */
EVUDP6_API int evudp6_uri_option(const struct evudp6_uri *u, size_t i, struct evudp6_opt *opt);

/**
 * Add the request options for @p u to @p b (RFC 7252 6.4 steps 5-9):
 * Uri-Host when the host is not an IP literal, Uri-Port when the port
 * differs from the destination's, then every Uri-Path and Uri-Query.
 *
 * @param dest  where the request goes, or NULL when that is not known
 *              yet: the port is then compared with 5683, so the options
 *              alone name the endpoint (as evudp6_resolve_msg() reads
 *              them).
 * @return 0 or the builder's error (-EVUDP6_E_MSG_TOO_MANY_OPTS, ...).
 *         Values are referenced, not copied: @p u must stay unchanged
 *         until the message is encoded.
 */
EVUDP6_API int evudp6_uri_add_options(const struct evudp6_uri *u, struct evudp6_msg_builder *b,
                                      const struct evudp6_addr *dest);

/**
 * Fill @p u from a request's options (RFC 7252 6.5): the host is the
 * Uri-Host option (a name with its ASCII letters lowercased, as
 * evudp6_uri_parse() keeps it) or else the address of @p dest (with its
 * scope as the zone), the port the Uri-Port option or else @p dest's port, then the
 * Uri-Path and Uri-Query options in order.
 *
 * @param dest  the request's destination: for a request being sent, its
 *              remote; for one received, the address it was sent to (the
 *              local part) with the transport's port. Only @c remote is
 *              read. May be NULL when the message has a Uri-Host.
 * @return 0; -EVUDP6_E_HOST_EMPTY (no Uri-Host and no @p dest, or an
 *         empty Uri-Host); -EVUDP6_E_HOST_TOO_LONG; -EVUDP6_E_PORT
 *         (Uri-Port above 65535); -EVUDP6_E_URI_TOO_LONG.
 */
EVUDP6_API int evudp6_uri_from_msg(struct evudp6_uri *u, const struct evudp6_msg *m,
                                   const struct evudp6_addr *dest);

/**
 * Write @p u as a URI (RFC 7252 6.5): "coap://", the host (IPv6 in
 * brackets, its zone as "%25zone" per RFC 6874), ":port" unless 5683,
 * the path ("/" when there is none) and "?" with the query values joined
 * by "&". Characters RFC 7252 6.5 steps 6 and 8 do not allow are
 * percent-encoded with uppercase hex, and so is a path value "." or ".."
 * ("%2E", not a dot segment); so are, in a host, all characters
 * outside RFC 3986 unreserved and sub-delims (where 6.5 step 2 would
 * fail), so that the text always parses back to the same @p u.
 *
 * @return the length written (without the NUL), or -ENOSPC if @p len is
 *         too small (then @p buf holds a truncated, NUL-terminated
 *         string if @p len > 0).
 */
EVUDP6_API int evudp6_uri_format(const struct evudp6_uri *u, char *buf, size_t len);

/* ------------------------------------------------------------ resolution */

/** A resolver: resolutions on one event_base with one evdns_base. */
struct evudp6_resolver;

/** One resolution in progress. Valid until its callback has been called. */
struct evudp6_resolve;

/**
 * Result of a resolution.
 *
 * @param result  0, or a negative code:
 *   -ENETUNREACH (an address literal with no route; other connect() errors
 *    of the route check likewise as their negative errno),
 *   -EVUDP6_E_RESOLVE_NOROUTE (a name whose every address failed the
 *    route check),
 *   -EVUDP6_E_RESOLVE_NXDOMAIN,
 *   -EVUDP6_E_RESOLVE_NODATA (evdns reports "no records" like a server
 *    failure, so the resolver then asks once more for the A record alone,
 *    waiting at most one second, to tell the two apart),
 *   -EVUDP6_E_RESOLVE_FAILED (server failure, timeout, refused),
 *   -EVUDP6_E_CANCELLED, -ENOMEM, or the negative errno of socket().
 * @param addr    the address when @p result is 0, else NULL. Valid only
 *                during the call: copy it.
 * @param arg     as given when starting the resolution
 *
 * The callback may free the resolver, cancel other resolutions and start
 * new ones.
 */
typedef void (*evudp6_resolve_done_cb)(int result, const struct evudp6_addr *addr, void *arg);

/**
 * Create a resolver.
 *
 * @param out   receives the resolver (free with evudp6_resolver_free())
 * @param base  the event_base callbacks run on; must outlive the resolver
 * @param dns   evdns_base for names, on the same event_base, or NULL for a
 *              resolver that only takes address literals. Not owned: the
 *              caller configures it (evdns_base_load_hosts(),
 *              evdns_base_nameserver_ip_add(), ...), and frees it after
 *              the resolver.
 * @return 0, -EINVAL (no @p base), or -ENOMEM.
 */
EVUDP6_API int evudp6_resolver_new(struct evudp6_resolver **out, struct event_base *base,
                                   struct evdns_base *dns);

/**
 * Free a resolver. Every resolution still in progress is cancelled first:
 * its callback runs once, before this returns, with -EVUDP6_E_CANCELLED.
 * Safe from inside a resolution's callback. NULL is ignored.
 *
 * The evdns lookups being cancelled release their memory from the event
 * loop: let the loop run once more (or free the evdns_base with
 * fail_requests set) before freeing the event_base.
 */
EVUDP6_API void evudp6_resolver_free(struct evudp6_resolver *r);

/**
 * Resolve the host, zone and port of a parsed URI.
 *
 * @param req  if not NULL, receives a handle for evudp6_resolve_cancel(),
 *             valid until the callback has been called
 * A zone applies to a name too: to each IPv6 address it resolves to as
 * the scope id, to IPv4 ones as the interface of the local part.
 *
 * @return 0 (then @p cb will be called exactly once), or, without calling
 *   @p cb: -EVUDP6_E_ZONE_UNKNOWN (no such interface),
 *   -EVUDP6_E_HOST_EMPTY, -EVUDP6_E_HOST_TOO_LONG,
 *   -EVUDP6_E_NOT_LITERAL (a name, and the resolver has no evdns_base),
 *   -EVUDP6_E_SHUTDOWN (called while the resolver is being freed),
 *   -EINVAL, -ENOMEM.
 */
EVUDP6_API int evudp6_resolve_uri(struct evudp6_resolver *r, const struct evudp6_uri *u,
                                  evudp6_resolve_done_cb cb, void *arg, struct evudp6_resolve **req);

/** Most candidates one resolution keeps (more addresses are ignored). */
#define EVUDP6_RESOLVE_MAX_CANDIDATES 16

/** One address a host resolved to, with what the route check said of it. */
struct evudp6_resolve_candidate {
	/** The address, as evudp6_resolve_done_cb would get it (scope, local part). */
	struct evudp6_addr addr;
	/** 0, or the negative errno of its route check (-ENETUNREACH, -EINVAL, ...). */
	int route;
};

/**
 * Result of evudp6_resolve_uri_all(): every candidate, in the order they
 * are to be tried (IPv6 first, then IPv4 mapped, each family in the
 * order of the answer).
 * @param result  0 when at least one candidate passed its route check;
 *                otherwise the code evudp6_resolve_done_cb would get
 *                (-EVUDP6_E_RESOLVE_NOROUTE, -ENETUNREACH, NXDOMAIN, ...)
 * @param cand    @p n candidates, also those that failed the route check
 *                (so that the caller can say why), valid only during the
 *                call; NULL when @p n is 0 (no answer, cancelled)
 */
typedef void (*evudp6_resolve_all_cb)(int result, const struct evudp6_resolve_candidate *cand, size_t n,
                                      void *arg);

/**
 * Resolve as evudp6_resolve_uri() does, and deliver every candidate
 * rather than the first that passes the route check: for a caller that
 * falls back to the next address when the first fails (an ICMP error,
 * no answer). Same rules for @p req, errors and when @p cb runs.
 */
EVUDP6_API int evudp6_resolve_uri_all(struct evudp6_resolver *r, const struct evudp6_uri *u,
                                      evudp6_resolve_all_cb cb, void *arg, struct evudp6_resolve **req);

/**
 * Resolve an "unresolved remote" in URI-authority form: "host",
 * "host:port", "192.0.2.1:5683", "[2001:db8::1]:5684", "[fe80::1%eth0]",
 * "[fe80::1%3]". The port defaults to 5683.
 *
 * @return as evudp6_resolve_uri(), and also -EVUDP6_E_HOST_BRACKET ("[",
 *   "[::1", "[::1]x"), -EVUDP6_E_HOST_UNBRACKETED_V6 ("::1:5683", and a
 *   bare "::1": write "[::1]"), -EVUDP6_E_PORT ("h:65536", "h:abc"),
 *   -EVUDP6_E_HOST_INVALID.
 */
EVUDP6_API int evudp6_resolve_remote(struct evudp6_resolver *r, const char *hostport,
                                     evudp6_resolve_done_cb cb, void *arg, struct evudp6_resolve **req);

/**
 * Resolve the destination a request's options name: its Uri-Host (an IP
 * literal, with or without brackets and with an optional zone, or a name)
 * and its Uri-Port (default 5683).
 *
 * @return as evudp6_resolve_remote(); -EVUDP6_E_HOST_EMPTY also when the
 *   message has no Uri-Host; -EVUDP6_E_PORT for a Uri-Port above 65535.
 */
EVUDP6_API int evudp6_resolve_msg(struct evudp6_resolver *r, const struct evudp6_msg *m,
                                  evudp6_resolve_done_cb cb, void *arg, struct evudp6_resolve **req);

/**
 * Cancel a resolution: its callback is called once, before this returns,
 * with -EVUDP6_E_CANCELLED, and @p req is invalid afterwards. Must not be
 * called once the callback has run (that ends the request), nor from
 * inside the request's own callback. NULL is ignored.
 */
EVUDP6_API void evudp6_resolve_cancel(struct evudp6_resolve *req);

/**
 * Is @p a a remote @p t can send to? A cheap check (no DNS, no route
 * lookup), for deciding whether an address given by a caller belongs
 * to this kind of transport: the address is AF_INET6 (V4MAPPED for IPv4),
 * the port is not 0, the address is not unspecified (:: or ::ffff:0.0.0.0),
 * a link-local or interface-local destination has a scope id or an
 * interface in its local part, and, when @p t is bound to a specific
 * address, the families match (a socket bound to an IPv6 address cannot
 * send to IPv4 and the reverse). @p t may be NULL to check only the
 * address; a transport that is shut down recognizes nothing.
 * Reachability is not checked: the resolver's route check does that.
 */
EVUDP6_API bool evudp6_resolve_recognize_remote(const struct evudp6_transport *t,
                                                const struct evudp6_addr *a);

#ifdef __cplusplus
}
#endif

#endif /* EVUDP6_RESOLVE_H */
