/*
 * Fuzz harness: coap:// URIs and the resolver's input side (lib/uri.c,
 * lib/resolve.c).
 *
 * The first byte picks what the rest is:
 *  0  a URI: evudp6_uri_parse() gives a documented result; a parsed URI
 *     formats (evudp6_uri_format) to text that parses back to the same
 *     URI (the header's promise), formats truncated and terminated into
 *     every shorter buffer, and its request options, encoded and decoded,
 *     come back through evudp6_uri_from_msg() as the same URI;
 *  1  a CoAP message: evudp6_uri_from_msg() on it (with a destination)
 *     gives a documented result and a URI that formats;
 *     evudp6_resolve_msg() on it calls back exactly once;
 *  2  an "unresolved remote": evudp6_resolve_remote() either refuses it
 *     without calling back, or calls back exactly once from the loop
 *     (and once with -EVUDP6_E_CANCELLED when cancelled at once).
 * The resolver has no evdns_base: names are refused, nothing is sent.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <event2/event.h>

#include <evudp6.h>

#include "fuzz.h"

static struct event_base *base;

struct cb_count {
	int calls;
	int result;
};
static struct evudp6_resolver *resolver;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	base = event_base_new();
	FUZZ_CHECK(base != NULL);
	FUZZ_CHECK(evudp6_resolver_new(&resolver, base, NULL) == 0);
	return 0;
}

static bool is_uri_error(int r)
{
	switch (-r) {
	case EVUDP6_E_URI_RELATIVE:
	case EVUDP6_E_NOT_MINE:
	case EVUDP6_E_URI_FRAGMENT:
	case EVUDP6_E_URI_INVALID:
	case EVUDP6_E_URI_TOO_LONG:
	case EVUDP6_E_HOST_EMPTY:
	case EVUDP6_E_HOST_BRACKET:
	case EVUDP6_E_HOST_UNBRACKETED_V6:
	case EVUDP6_E_HOST_TOO_LONG:
	case EVUDP6_E_HOST_INVALID:
	case EVUDP6_E_ZONE_UNKNOWN:
	case EVUDP6_E_PORT:
		return true;
	default:
		return false;
	}
}

static bool is_resolve_refusal(int r)
{
	switch (-r) {
	case EVUDP6_E_ZONE_UNKNOWN:
	case EVUDP6_E_ZONE_NOT_ALLOWED:
	case EVUDP6_E_HOST_EMPTY:
	case EVUDP6_E_HOST_TOO_LONG:
	case EVUDP6_E_HOST_BRACKET:
	case EVUDP6_E_HOST_UNBRACKETED_V6:
	case EVUDP6_E_HOST_INVALID:
	case EVUDP6_E_PORT:
	case EVUDP6_E_NOT_LITERAL:
	case EINVAL:
		return true;
	default:
		return false;
	}
}

static void check_uri_shape(const struct evudp6_uri *u)
{
	FUZZ_CHECK(memchr(u->host, '\0', sizeof(u->host)) != NULL);
	FUZZ_CHECK(memchr(u->zone, '\0', sizeof(u->zone)) != NULL);
	FUZZ_CHECK(u->zone[0] == '\0' || u->host_is_literal);
	FUZZ_CHECK(u->nparts <= EVUDP6_URI_MAX_OPTS && u->values_len <= EVUDP6_URI_VALUES_MAX);
	bool query = false;
	size_t i;
	struct evudp6_opt o;
	for (i = 0; evudp6_uri_option(u, i, &o); i++) {
		FUZZ_CHECK(o.number == EVUDP6_OPT_URI_PATH || o.number == EVUDP6_OPT_URI_QUERY);
		/* paths first, then queries */
		FUZZ_CHECK(!(query && o.number == EVUDP6_OPT_URI_PATH));
		query = o.number == EVUDP6_OPT_URI_QUERY;
		FUZZ_CHECK(u->part[i].off + (size_t)o.len <= u->values_len);
	}
	FUZZ_CHECK(i == u->nparts);
}

/* Same URI; with by_address, literal hosts count as the same when they
 * name the same address ("::ffff:192.0.2.1" is "192.0.2.1"). */
static bool uri_same_as(const struct evudp6_uri *a, const struct evudp6_uri *b, bool by_address)
{
	if (strcmp(a->zone, b->zone) || a->host_is_literal != b->host_is_literal || a->port != b->port ||
	    a->nparts != b->nparts)
		return false;
	if (by_address && a->host_is_literal) {
		struct evudp6_addr x, y;
		if (evudp6_addr_from_literal(&x, a->host, 0, 0) < 0 ||
		    evudp6_addr_from_literal(&y, b->host, 0, 0) < 0 || !evudp6_addr_equal(&x, &y))
			return false;
	} else if (strcmp(a->host, b->host)) {
		return false;
	}
	struct evudp6_opt x, y;
	for (size_t i = 0; evudp6_uri_option(a, i, &x); i++) {
		FUZZ_CHECK(evudp6_uri_option(b, i, &y));
		if (x.number != y.number || x.len != y.len || memcmp(x.value, y.value, x.len))
			return false;
	}
	return true;
}

static bool uri_same(const struct evudp6_uri *a, const struct evudp6_uri *b)
{
	return uri_same_as(a, b, false);
}

static void dump(const char *what, const struct evudp6_uri *u)
{
	fprintf(stderr, "%s: host '%s' zone '%s' literal %d port %u parts %u\n", what, u->host, u->zone,
	        u->host_is_literal, u->port, u->nparts);
}

/* Format into a big buffer and into every shorter one. Returns the text
 * (malloc'd) or NULL. */
static char *format_all(const struct evudp6_uri *u)
{
	size_t cap = 8 + 3 * (sizeof(u->host) + sizeof(u->zone) + u->values_len) + 2 * u->nparts + 16;
	char *text = malloc(cap);
	FUZZ_CHECK(text != NULL);
	int n = evudp6_uri_format(u, text, cap);
	FUZZ_CHECK(n > 0 && (size_t)n < cap && strlen(text) == (size_t)n);
	/* Shorter buffers: -ENOSPC with the prefix that fits, terminated. */
	for (size_t len = 0; len <= (size_t)n; len += 1 + len / 4) {
		char *b = malloc(len ? len : 1);
		FUZZ_CHECK(b != NULL);
		int m = evudp6_uri_format(u, len ? b : NULL, len);
		FUZZ_CHECK(m == -ENOSPC);
		if (len > 0)
			FUZZ_CHECK(strlen(b) == len - 1 && memcmp(b, text, len - 1) == 0);
		free(b);
	}
	return text;
}

/* A URI's request options, through the wire, back into a URI. */
static void options_round_trip(const struct evudp6_uri *u)
{
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 1);
	if (evudp6_uri_add_options(u, &b, NULL) < 0)
		return; /* more values than a builder holds */
	uint8_t wire[4096];
	ssize_t n = evudp6_msg_encode(&b, wire, sizeof(wire));
	FUZZ_CHECK(n > 0);
	struct evudp6_msg m;
	FUZZ_CHECK(evudp6_msg_decode(&m, wire, (size_t)n) == 0);
	struct evudp6_addr dest, *dp = NULL;
	/* A literal travels as the destination, not as an option. */
	if (u->host_is_literal) {
		if (u->zone[0])
			return; /* the zone would need its interface here */
		FUZZ_CHECK(evudp6_addr_from_literal(&dest, u->host, EVUDP6_DEFAULT_PORT, 0) == 0);
		dp = &dest;
	}
	struct evudp6_uri back;
	int r = evudp6_uri_from_msg(&back, &m, dp);
	FUZZ_CHECK(r == 0);
	if (!uri_same_as(u, &back, true)) {
		dump("parsed", u);
		dump("from options", &back);
		FUZZ_CHECK(!"options give back the same URI");
	}
}

static void settle(int r, struct cb_count *c, struct evudp6_resolve *req, bool cancel);
static void done_cb(int result, const struct evudp6_addr *addr, void *arg);

static void uri_text(const uint8_t *data, size_t size, bool cancel)
{
	char *s = malloc(size + 1);
	FUZZ_CHECK(s != NULL);
	memcpy(s, data, size);
	s[size] = '\0';
	struct evudp6_uri u;
	int r = evudp6_uri_parse(&u, s);
	if (r < 0) {
		FUZZ_CHECK(is_uri_error(r));
		free(s);
		return;
	}
	FUZZ_CHECK(r == 0);
	check_uri_shape(&u);
	char *text = format_all(&u);
	struct evudp6_uri again;
	r = evudp6_uri_parse(&again, text);
	if (r != 0 || !uri_same(&u, &again)) {
		fprintf(stderr, "input '%s'\nformat '%s' parses to %d\n", s, text, r);
		dump("first", &u);
		dump("again", &again);
		FUZZ_CHECK(!"a formatted URI parses back to the same URI");
	}
	options_round_trip(&u);

	/* Resolution of the parsed URI: refused, or called back once. */
	struct cb_count c = {0};
	struct evudp6_resolve *req = NULL;
	r = evudp6_resolve_uri(resolver, &u, done_cb, &c, &req);
	settle(r, &c, req, cancel);
	free(text);
	free(s);
}

static void done_cb(int result, const struct evudp6_addr *addr, void *arg)
{
	struct cb_count *c = arg;
	c->calls++;
	c->result = result;
	FUZZ_CHECK((result == 0) == (addr != NULL));
	if (addr) {
		char hi[EVUDP6_HOSTINFO_MAX];
		FUZZ_CHECK(evudp6_addr_hostinfo(addr, hi, sizeof(hi)) > 0);
	}
}

/* r is what the starting call returned; the callback runs once if it was 0. */
static void settle(int r, struct cb_count *c, struct evudp6_resolve *req, bool cancel)
{
	FUZZ_CHECK(c->calls == 0); /* never from inside the starting call */
	if (r < 0) {
		FUZZ_CHECK(is_resolve_refusal(r));
		return;
	}
	FUZZ_CHECK(r == 0);
	if (cancel) {
		evudp6_resolve_cancel(req);
		FUZZ_CHECK(c->calls == 1 && c->result == -EVUDP6_E_CANCELLED);
	}
	for (int i = 0; i < 100 && c->calls == 0; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	FUZZ_CHECK(c->calls == 1);
	event_base_loop(base, EVLOOP_NONBLOCK);
	FUZZ_CHECK(c->calls == 1);
}

static void message(const uint8_t *data, size_t size, bool cancel)
{
	struct evudp6_msg m;
	if (evudp6_msg_decode(&m, data, size) < 0)
		return;
	struct evudp6_addr dest;
	FUZZ_CHECK(evudp6_addr_from_literal(&dest, "::1", 5683, 0) == 0);
	struct evudp6_uri u;
	int r = evudp6_uri_from_msg(&u, &m, size & 1 ? &dest : NULL);
	if (r == 0) {
		check_uri_shape(&u);
		free(format_all(&u));
	} else {
		FUZZ_CHECK(r == -EVUDP6_E_HOST_EMPTY || r == -EVUDP6_E_HOST_TOO_LONG || r == -EVUDP6_E_PORT ||
		           r == -EVUDP6_E_URI_TOO_LONG || r == -EVUDP6_E_HOST_INVALID);
	}
	struct cb_count c = {0};
	struct evudp6_resolve *req = NULL;
	r = evudp6_resolve_msg(resolver, &m, done_cb, &c, &req);
	settle(r, &c, req, cancel);
}

static void remote(const uint8_t *data, size_t size, bool cancel)
{
	char *s = malloc(size + 1);
	FUZZ_CHECK(s != NULL);
	memcpy(s, data, size);
	s[size] = '\0';
	struct cb_count c = {0};
	struct evudp6_resolve *req = NULL;
	int r = evudp6_resolve_remote(resolver, s, done_cb, &c, &req);
	settle(r, &c, req, cancel);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	bool cancel = data[0] & 0x80;
	switch (data[0] & 0x7f) {
	case 0:
		uri_text(data + 1, size - 1, cancel);
		break;
	case 1:
		message(data + 1, size - 1, cancel);
		break;
	case 2:
		remote(data + 1, size - 1, cancel);
		break;
	default:
		break;
	}
	return 0;
}
