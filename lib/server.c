/*
 * evudp6 — resources: routing requests to handlers, /.well-known/core and
 * the answers RFC 7252 and RFC 6690 make a server give by itself.
 *
 * The request path is read once into a table of views into the datagram
 * (no copy, no allocation); resources are matched against it segment by
 * segment. The server owns one response object that every handler call
 * reuses: a handler that wants to answer later takes the exchange.
 *
 * Block-wise transfer (RFC 7959) comes in through the caller's
 * evudp6_block_server: consulted before routing (follow-up blocks,
 * uploads), and handed every answer to slice. Observe (RFC 7641): a GET
 * or FETCH with Observe 0 to an EVUDP6_RESOURCE_OBSERVABLE resource runs
 * the handler as usual, and its 2.xx answer goes out through
 * evudp6_observe_accept() (the first block through
 * evudp6_block_server_first() for a large body); the observation is kept
 * in the resource's fixed table until its end callback, and
 * evudp6_resource_notify() runs the GET handler again with this same
 * response object for each observer (or once for all).
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <evudp6/block.h>
#include <evudp6/observe.h>
#include <evudp6/server.h>

#include "block-internal.h"
#include "linkformat-internal.h"

#define WELL_KNOWN_CORE "/.well-known/core"
/* Method codes 0.01-0.07 index the handler table. */
#define NMETHODS 8
/* Uri-Query filters honoured on /.well-known/core; more are ignored. */
#define MAX_FILTERS 8

struct attr {
	char *name;
	char *value;
};

struct evudp6_resource {
	struct evudp6_server *srv;
	char *path; /* as added: "/a/b", "/files/\*" */
	char *href; /* what /.well-known/core lists: the path without "/\*" */
	bool prefix;
	bool builtin;
	bool removed; /* removed inside its handler: freed afterwards */
	size_t nseg;
	uint16_t seg_off[EVUDP6_SERVER_PATH_MAX_SEGMENTS];
	uint16_t seg_len[EVUDP6_SERVER_PATH_MAX_SEGMENTS];
	evudp6_resource_cb cb[NMETHODS];
	void *arg[NMETHODS];
	unsigned int flags;
	struct attr attr[EVUDP6_RESOURCE_MAX_ATTRS];
	size_t nattr;
	uint16_t ct[EVUDP6_RESOURCE_MAX_FORMATS];
	size_t nct;
	size_t ct_pos;  /* ct is listed among attr[] where it was first set */
	size_t obs_pos; /* and obs where EVUDP6_RESOURCE_OBSERVABLE was set */
	char ct_text[EVUDP6_RESOURCE_MAX_FORMATS * 6 + 1];
	uint16_t accept[EVUDP6_RESOURCE_MAX_FORMATS];
	size_t naccept;
	uint16_t allow[EVUDP6_RESOURCE_MAX_FORMATS];
	size_t nallow;
	/* Observers, packed: evudp6_observation_notify_many() takes the table. */
	struct evudp6_observation_handle obs[EVUDP6_RESOURCE_MAX_OBSERVERS];
	size_t nobs;
};

struct evudp6_response {
	struct evudp6_server *srv;
	struct evudp6_exchange_handle ex;
	const struct evudp6_msg *req;
	struct evudp6_resource *res;
	struct evudp6_msg_builder b;
	const uint8_t *payload;
	size_t payload_len;
	uint8_t body[EVUDP6_RESPONSE_BODY_MAX];
	bool multicast;
	bool deferred;
};

struct evudp6_server {
	struct evudp6_messenger *m;
	struct evudp6_resource **res;
	size_t nres, capres;
	struct evudp6_resource *core;
	struct evudp6_response rsp;
	evudp6_server_log_cb log_cb;
	void *log_arg;
	struct evudp6_block_server *blocks; /* the caller's, or NULL */
	/* /.well-known/core when it does not fit rsp.body: kept, doubled as needed */
	char *links;
	size_t links_cap;
	bool dispatching;
	bool free_pending;
};

/* What one pass over the request's options found. */
struct scan {
	struct evudp6_opt seg[EVUDP6_SERVER_PATH_MAX_SEGMENTS];
	size_t npath; /* all Uri-Path options, also those past seg[] */
	int cf;       /* Content-Format, -1 if absent (or ignored) */
	int accept;   /* Accept, -1 if absent (or ignored) */
	bool proxy;
	/* first critical option with a length out of range, or unknown */
	uint32_t bad_len, unknown;
	size_t bad_len_size;
	bool has_bad_len, has_unknown;
};

/* ------------------------------------------------------------ resources */

/* Take @p o out of the resource's table, keeping it packed. */
static void resource_drop_observer(struct evudp6_resource *r, struct evudp6_observation_handle o)
{
	for (size_t i = 0; i < r->nobs; i++)
		if (r->obs[i].obj == o.obj && r->obs[i].gen == o.gen) {
			memmove(&r->obs[i], &r->obs[i + 1], (r->nobs - i - 1) * sizeof(r->obs[0]));
			r->nobs--;
			return;
		}
}

/* The observation went away by itself (RST, timeout, ICMP,
 * deregistration, a re-registration replacing it, shutdown). */
static void on_observation_end(struct evudp6_observation_handle o, int reason, void *arg)
{
	(void)reason;
	resource_drop_observer(arg, o);
}

/* RFC 7641 3.2: a final response without Observe tells each observer
 * that the observation is over. */
static void resource_end_observations(struct evudp6_resource *r, uint8_t code)
{
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, EVUDP6_NON, code, 0);
	while (r->nobs) {
		struct evudp6_observation_handle o = r->obs[r->nobs - 1];
		r->nobs--;
		evudp6_observation_end(o, &b);
	}
}

static void resource_destroy(struct evudp6_resource *r)
{
	if (!r)
		return;
	resource_end_observations(r, EVUDP6_SERVICE_UNAVAILABLE);
	for (size_t i = 0; i < r->nattr; i++) {
		free(r->attr[i].name);
		free(r->attr[i].value);
	}
	free(r->path);
	free(r->href);
	free(r);
}

/* Split "/a/b" or "/a/\*" into segments held as offsets into r->path. */
static int resource_parse_path(struct evudp6_resource *r)
{
	const char *p = r->path;
	size_t n = strlen(p);

	if (n == 0 || p[0] != '/')
		return -EINVAL;
	if (n >= 2 && strcmp(p + n - 2, "/*") == 0) {
		r->prefix = true;
		n -= 2;
	}
	r->href = malloc(n + 2);
	if (!r->href)
		return -ENOMEM;
	memcpy(r->href, p, n);
	r->href[n] = '\0';
	if (n == 0)
		strcpy(r->href, "/");
	/* "/" alone has no segment; "/a/" has "a" and "". */
	if (n <= 1)
		return 0;
	size_t off = 1;
	for (;;) {
		const char *slash = memchr(p + off, '/', n - off);
		size_t end = slash ? (size_t)(slash - p) : n;
		size_t len = end - off;
		if (len > 255 || r->nseg >= EVUDP6_SERVER_PATH_MAX_SEGMENTS)
			return -EINVAL;
		if (memchr(p + off, '*', len))
			return -EINVAL;
		r->seg_off[r->nseg] = (uint16_t)off;
		r->seg_len[r->nseg] = (uint16_t)len;
		r->nseg++;
		if (!slash)
			return 0;
		off = end + 1;
	}
}

static struct evudp6_resource *find_path(const struct evudp6_server *srv, const char *path)
{
	for (size_t i = 0; i < srv->nres; i++)
		if (strcmp(srv->res[i]->path, path) == 0)
			return srv->res[i];
	return NULL;
}

static int server_insert(struct evudp6_server *srv, struct evudp6_resource *r)
{
	if (srv->nres == srv->capres) {
		size_t cap = srv->capres ? srv->capres * 2 : 8;
		struct evudp6_resource **t = realloc(srv->res, cap * sizeof(*t));
		if (!t)
			return -ENOMEM;
		srv->res = t;
		srv->capres = cap;
	}
	srv->res[srv->nres++] = r;
	return 0;
}

static int resource_new(struct evudp6_server *srv, const char *path, unsigned int methods,
                        evudp6_resource_cb cb, void *arg, struct evudp6_resource **out)
{
	if (!srv || !path || (methods & ~EVUDP6_METHOD_ALL) || (methods && !cb))
		return -EINVAL;
	struct evudp6_resource *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->srv = srv;
	r->path = strdup(path);
	int rc = r->path ? resource_parse_path(r) : -ENOMEM;
	if (rc == 0 && find_path(srv, path))
		rc = -EEXIST;
	if (rc == 0)
		rc = server_insert(srv, r);
	if (rc < 0) {
		resource_destroy(r);
		return rc;
	}
	for (unsigned int m = 1; m < NMETHODS; m++) {
		if (methods & EVUDP6_METHOD(m)) {
			r->cb[m] = cb;
			r->arg[m] = arg;
		}
	}
	if (out)
		*out = r;
	return 0;
}

int evudp6_server_add(struct evudp6_server *srv, const char *path, unsigned int methods,
                      evudp6_resource_cb cb, void *arg, struct evudp6_resource **out)
{
	return resource_new(srv, path, methods, cb, arg, out);
}

struct evudp6_resource *evudp6_server_find(const struct evudp6_server *srv, const char *path)
{
	return srv && path ? find_path(srv, path) : NULL;
}

int evudp6_resource_remove(struct evudp6_resource *res)
{
	if (!res)
		return -EINVAL;
	struct evudp6_server *srv = res->srv;

	if (res->builtin)
		return -EPERM;
	for (size_t i = 0; i < srv->nres; i++) {
		if (srv->res[i] == res) {
			memmove(&srv->res[i], &srv->res[i + 1], (srv->nres - i - 1) * sizeof(srv->res[0]));
			srv->nres--;
			break;
		}
	}
	resource_end_observations(res, EVUDP6_NOT_FOUND);
	if (srv->dispatching && srv->rsp.res == res)
		res->removed = true;
	else
		resource_destroy(res);
	return 0;
}

int evudp6_resource_set_method_cb(struct evudp6_resource *res, uint8_t method, evudp6_resource_cb cb,
                                  void *arg)
{
	if (!res || method < EVUDP6_GET || method >= NMETHODS)
		return -EINVAL;
	res->cb[method] = cb;
	res->arg[method] = cb ? arg : NULL;
	return 0;
}

void evudp6_resource_set_flags(struct evudp6_resource *res, unsigned int flags)
{
	if (!res)
		return;
	if ((flags & EVUDP6_RESOURCE_OBSERVABLE) && !(res->flags & EVUDP6_RESOURCE_OBSERVABLE))
		res->obs_pos = res->nattr;
	res->flags = flags;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

int evudp6_resource_set_attr(struct evudp6_resource *res, const char *name, const char *value)
{
	if (!res || !name || !*name || strcmp(name, "ct") == 0 || strcmp(name, "obs") == 0 ||
	    strcmp(name, "href") == 0 || !printable(name) || strpbrk(name, " ;,=\"<>") ||
	    (value && !printable(value)))
		return -EINVAL;
	size_t i;
	for (i = 0; i < res->nattr; i++)
		if (strcmp(res->attr[i].name, name) == 0)
			break;
	if (!value) {
		if (i < res->nattr) {
			free(res->attr[i].name);
			free(res->attr[i].value);
			memmove(&res->attr[i], &res->attr[i + 1],
			        (res->nattr - i - 1) * sizeof(res->attr[0]));
			res->nattr--;
			if (res->nct && i < res->ct_pos)
				res->ct_pos--;
			if (i < res->obs_pos)
				res->obs_pos--;
		}
		return 0;
	}
	char *v = strdup(value);
	if (!v)
		return -ENOMEM;
	if (i < res->nattr) {
		free(res->attr[i].value);
		res->attr[i].value = v;
		return 0;
	}
	if (res->nattr >= EVUDP6_RESOURCE_MAX_ATTRS) {
		free(v);
		return -ENOSPC;
	}
	char *n = strdup(name);
	if (!n) {
		free(v);
		return -ENOMEM;
	}
	res->attr[res->nattr++] = (struct attr){n, v};
	return 0;
}

static int add_format(uint16_t *list, size_t *n, uint32_t cf)
{
	if (cf > 65535)
		return -EINVAL;
	for (size_t i = 0; i < *n; i++)
		if (list[i] == cf)
			return 0;
	if (*n >= EVUDP6_RESOURCE_MAX_FORMATS)
		return -ENOSPC;
	list[(*n)++] = (uint16_t)cf;
	return 0;
}

int evudp6_resource_add_content_format(struct evudp6_resource *res, uint32_t cf)
{
	if (!res)
		return -EINVAL;
	if (res->nct == 0)
		res->ct_pos = res->nattr;
	int rc = add_format(res->ct, &res->nct, cf);
	if (rc < 0)
		return rc;
	size_t pos = 0;
	for (size_t i = 0; i < res->nct; i++)
		pos += (size_t)snprintf(res->ct_text + pos, sizeof(res->ct_text) - pos, "%s%u", i ? " " : "",
		                        res->ct[i]);
	return 0;
}

int evudp6_resource_accept(struct evudp6_resource *res, uint32_t cf)
{
	if (!res)
		return -EINVAL;
	return add_format(res->accept, &res->naccept, cf);
}

int evudp6_resource_allow_option(struct evudp6_resource *res, uint32_t number)
{
	if (!res || !EVUDP6_OPT_IS_CRITICAL(number) || number > 65535)
		return -EINVAL;
	return add_format(res->allow, &res->nallow, number);
}

const char *evudp6_resource_path(const struct evudp6_resource *res)
{
	return res->path;
}

/* ------------------------------------------------------------ response */

int evudp6_response_set_code(struct evudp6_response *rsp, uint8_t code)
{
	unsigned int cls = EVUDP6_CODE_CLASS(code);
	if (cls < 2 || cls > 5)
		return -EINVAL;
	rsp->b.code = code;
	return 0;
}

uint8_t evudp6_response_code(const struct evudp6_response *rsp)
{
	return rsp->b.code;
}

int evudp6_response_add_opt(struct evudp6_response *rsp, uint32_t number, const void *value, size_t len)
{
	return evudp6_msg_builder_add_opt(&rsp->b, number, value, len);
}

int evudp6_response_add_uint(struct evudp6_response *rsp, uint32_t number, uint32_t value)
{
	return evudp6_msg_builder_add_uint(&rsp->b, number, value);
}

int evudp6_response_set_content_format(struct evudp6_response *rsp, uint32_t cf)
{
	return evudp6_msg_builder_add_uint(&rsp->b, EVUDP6_OPT_CONTENT_FORMAT, cf);
}

void evudp6_response_set_payload(struct evudp6_response *rsp, const void *body, size_t len)
{
	rsp->payload = len ? body : NULL;
	rsp->payload_len = len;
}

/* Appending moves a referenced body into the response's own buffer. */
static int body_own(struct evudp6_response *rsp, size_t more)
{
	if (rsp->payload_len + more > sizeof(rsp->body))
		return -EVUDP6_E_MSG_NOSPACE;
	if (rsp->payload != rsp->body) {
		if (rsp->payload_len)
			memmove(rsp->body, rsp->payload, rsp->payload_len);
		rsp->payload = rsp->body;
	}
	return 0;
}

int evudp6_response_append(struct evudp6_response *rsp, const void *data, size_t len)
{
	int rc = body_own(rsp, len);
	if (rc < 0)
		return rc;
	if (len)
		memcpy(rsp->body + rsp->payload_len, data, len);
	rsp->payload_len += len;
	return 0;
}

int evudp6_response_printf(struct evudp6_response *rsp, const char *fmt, ...)
{
	int rc = body_own(rsp, 0);
	if (rc < 0)
		return rc;
	size_t room = sizeof(rsp->body) - rsp->payload_len;
	va_list ap;
	va_start(ap, fmt);
	/* vsnprintf writes a NUL: the last byte of room is spent on it. */
	char tmp[1];
	int n = room ? vsnprintf((char *)rsp->body + rsp->payload_len, room, fmt, ap)
	             : vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room)
		return -EVUDP6_E_MSG_NOSPACE;
	rsp->payload_len += (size_t)n;
	return 0;
}

size_t evudp6_response_request_body(const struct evudp6_response *rsp, const uint8_t **body)
{
	*body = rsp->req->payload;
	return rsp->req->payload_len;
}

int evudp6_response_path_rest(const struct evudp6_response *rsp, size_t i, struct evudp6_opt *seg)
{
	struct evudp6_opt_iter it;
	struct evudp6_opt o;
	size_t k = 0, want = (rsp->res ? rsp->res->nseg : 0) + i;

	evudp6_opt_iter_init(&it, rsp->req);
	while (evudp6_opt_iter_next(&it, &o)) {
		if (o.number != EVUDP6_OPT_URI_PATH)
			continue;
		if (k++ == want) {
			*seg = o;
			return 1;
		}
	}
	return 0;
}

bool evudp6_response_is_multicast(const struct evudp6_response *rsp)
{
	return rsp->multicast;
}

struct evudp6_exchange_handle evudp6_response_defer(struct evudp6_response *rsp)
{
	rsp->deferred = true;
	return rsp->ex;
}

/* ------------------------------------------------------------ routing */

static void scan_options(const struct evudp6_msg *req, struct scan *sc)
{
	struct evudp6_opt_iter it;
	struct evudp6_opt o;

	memset(sc, 0, sizeof(*sc));
	sc->cf = sc->accept = -1;
	evudp6_opt_iter_init(&it, req);
	while (evudp6_opt_iter_next(&it, &o)) {
		size_t min, max;
		bool known = evudp6_opt_length_range(o.number, &min, &max);
		if (known && (o.len < min || o.len > max)) {
			/* RFC 7252 5.4.3: treated like an unrecognised option, so
			 * a critical one fails the request, an elective one is
			 * ignored. */
			if (EVUDP6_OPT_IS_CRITICAL(o.number) && !sc->has_bad_len) {
				sc->has_bad_len = true;
				sc->bad_len = o.number;
				sc->bad_len_size = o.len;
			}
			continue;
		}
		uint32_t v;
		switch (o.number) {
		case EVUDP6_OPT_URI_PATH:
			if (sc->npath < EVUDP6_SERVER_PATH_MAX_SEGMENTS)
				sc->seg[sc->npath] = o;
			sc->npath++;
			break;
		case EVUDP6_OPT_CONTENT_FORMAT:
			if (evudp6_opt_uint(&o, &v) == 0)
				sc->cf = (int)v;
			break;
		case EVUDP6_OPT_ACCEPT:
			if (evudp6_opt_uint(&o, &v) == 0)
				sc->accept = (int)v;
			break;
		case EVUDP6_OPT_PROXY_URI:
		case EVUDP6_OPT_PROXY_SCHEME:
			sc->proxy = true;
			break;
		default:
			if (!known && EVUDP6_OPT_IS_CRITICAL(o.number) && !sc->has_unknown) {
				sc->has_unknown = true;
				sc->unknown = o.number;
			}
		}
	}
}

static bool segments_match(const struct evudp6_resource *r, const struct scan *sc)
{
	for (size_t i = 0; i < r->nseg; i++)
		if (sc->seg[i].len != r->seg_len[i] ||
		    memcmp(sc->seg[i].value, r->path + r->seg_off[i], r->seg_len[i]) != 0)
			return false;
	return true;
}

/* An exact path first, else the longest prefix. */
static struct evudp6_resource *route(const struct evudp6_server *srv, const struct scan *sc)
{
	struct evudp6_resource *best = NULL;

	for (size_t i = 0; i < srv->nres; i++) {
		struct evudp6_resource *r = srv->res[i];
		if (r->prefix ? sc->npath < r->nseg : sc->npath != r->nseg)
			continue;
		if (!segments_match(r, sc))
			continue;
		if (!r->prefix)
			return r;
		if (!best || r->nseg > best->nseg)
			best = r;
	}
	return best;
}

static bool in_list(const uint16_t *list, size_t n, uint32_t v)
{
	for (size_t i = 0; i < n; i++)
		if (list[i] == v)
			return true;
	return false;
}

/* The built-in answer for a request no handler sees. */
static void answer_error(struct evudp6_response *rsp, uint8_t code, const char *diag, ...)
    __attribute__((format(printf, 3, 4)));

static void answer_error(struct evudp6_response *rsp, uint8_t code, const char *diag, ...)
{
	rsp->b.code = code;
	if (!diag)
		return;
	/* RFC 7252 5.5.2: a diagnostic payload, for people. */
	va_list ap;
	va_start(ap, diag);
	int n = vsnprintf((char *)rsp->body, sizeof(rsp->body), diag, ap);
	va_end(ap);
	if (n > 0) {
		rsp->payload = rsp->body;
		rsp->payload_len = (size_t)n < sizeof(rsp->body) ? (size_t)n : sizeof(rsp->body) - 1;
	}
}

static uint8_t default_code(uint8_t method)
{
	switch (method) {
	case EVUDP6_GET:
	case EVUDP6_FETCH:
		return EVUDP6_CONTENT;
	case EVUDP6_DELETE:
		return EVUDP6_DELETED;
	default:
		return EVUDP6_CHANGED;
	}
}

/* Decide the answer; returns the handler to call, or NULL when the
 * server answers by itself. */
static evudp6_resource_cb dispatch(struct evudp6_server *srv, struct evudp6_response *rsp,
                                   const struct scan *sc, void **arg)
{
	const struct evudp6_msg *req = rsp->req;
	if (sc->has_bad_len) {
		size_t min = 0, max = 0;
		evudp6_opt_length_range(sc->bad_len, &min, &max);
		answer_error(rsp, EVUDP6_BAD_OPTION, "%s value of %zu bytes is outside %zu-%zu",
		             evudp6_opt_name(sc->bad_len), sc->bad_len_size, min, max);
		return NULL;
	}
	if (sc->proxy) {
		answer_error(rsp, EVUDP6_PROXYING_NOT_SUPPORTED, NULL);
		return NULL;
	}
	struct evudp6_resource *r = route(srv, sc);
	rsp->res = r;
	if (sc->has_unknown && !(r && in_list(r->allow, r->nallow, sc->unknown))) {
		answer_error(rsp, EVUDP6_BAD_OPTION, "option %u not understood", sc->unknown);
		return NULL;
	}
	if (!r) {
		answer_error(rsp, EVUDP6_NOT_FOUND, NULL);
		return NULL;
	}
	uint8_t method = req->code;
	if (method >= NMETHODS || !r->cb[method]) {
		answer_error(rsp, EVUDP6_METHOD_NOT_ALLOWED, NULL);
		return NULL;
	}
	if (sc->cf >= 0 && r->naccept && !in_list(r->accept, r->naccept, (uint32_t)sc->cf)) {
		answer_error(rsp, EVUDP6_UNSUPPORTED_CONTENT_FORMAT, NULL);
		return NULL;
	}
	if (sc->accept >= 0 && r->nct && !in_list(r->ct, r->nct, (uint32_t)sc->accept)) {
		answer_error(rsp, EVUDP6_NOT_ACCEPTABLE, NULL);
		return NULL;
	}
	rsp->b.code = default_code(method);
	*arg = r->arg[method];
	return r->cb[method];
}

static void server_destroy(struct evudp6_server *srv)
{
	evudp6_messenger_set_request_cb(srv->m, NULL, NULL);
	for (size_t i = 0; i < srv->nres; i++)
		resource_destroy(srv->res[i]);
	free(srv->res);
	free(srv->links);
	free(srv);
}

static bool is_registration(const struct evudp6_response *rsp, const struct evudp6_msg *req)
{
	uint32_t v;
	const struct evudp6_resource *r = rsp->res;
	return r && !r->removed && (r->flags & EVUDP6_RESOURCE_OBSERVABLE) && !rsp->multicast &&
	       (req->code == EVUDP6_GET || req->code == EVUDP6_FETCH) &&
	       EVUDP6_CODE_CLASS(rsp->b.code) == 2 && evudp6_observe_value(req, &v) == 1 && v == 0;
}

/* Answer a registration through evudp6_observe_accept(): 0 (sent, or an
 * error of the send), or 1 to answer it plainly (not a registration, the
 * resource's table or the messenger's pools full). */
static int try_register(struct evudp6_server *srv, struct evudp6_response *rsp, const struct evudp6_msg *req,
                        const struct evudp6_addr *remote)
{
	struct evudp6_resource *r = rsp->res;
	if (!is_registration(rsp, req) || r->nobs >= EVUDP6_RESOURCE_MAX_OBSERVERS)
		return 1;
	int rc;
	if (srv->blocks)
		rc = evudp6_block_server_first(srv->blocks, remote, req, &rsp->b, rsp->payload,
		                               rsp->payload_len);
	else
		rc = (evudp6_msg_builder_set_payload(&rsp->b, rsp->payload, rsp->payload_len), 0);
	if (rc < 0)
		return rc;
	struct evudp6_observation_handle o;
	rc = evudp6_observe_accept(rsp->ex, req, &rsp->b, on_observation_end, r, &o);
	if (rc == -ENOBUFS)
		/* Answered without Observe; with a block server the first
		 * block is already in the builder. */
		return srv->blocks ? evudp6_exchange_respond(rsp->ex, &rsp->b) : 1;
	if (rc < 0)
		return rc;
	/* A re-registration with the same token ended its old observation
	 * (and freed its slot) inside the call. */
	r->obs[r->nobs++] = o;
	return 0;
}

static void on_request(struct evudp6_messenger *m, struct evudp6_exchange_handle ex,
                       const struct evudp6_msg *req, const struct evudp6_addr *remote, void *arg)
{
	(void)m;
	struct evudp6_server *srv = arg;
	struct evudp6_response *rsp = &srv->rsp;
	struct scan sc;

	rsp->srv = srv;
	rsp->ex = ex;
	rsp->req = req;
	rsp->res = NULL;
	rsp->payload = NULL;
	rsp->payload_len = 0;
	rsp->deferred = false;
	rsp->multicast = evudp6_exchange_is_multicast(ex);
	/* The messenger writes type, message id and token. */
	evudp6_msg_builder_init(&rsp->b, EVUDP6_ACK, 0, 0);

	/* Block-wise follow-ups (2.31 Continue, later blocks from a
	 * snapshot, bad block options) are answered by the block server;
	 * a completed upload comes back as one request with the whole body. */
	struct evudp6_msg whole;
	if (srv->blocks) {
		if (evudp6_block_server_handle(srv->blocks, ex, req, remote, &whole) != 1)
			return;
		req = &whole;
		rsp->req = req;
	}
	/* Frees asked for from here on (the handler, the log callback) wait
	 * for the end of this function. */
	srv->dispatching = true;
	scan_options(req, &sc);
	void *harg = NULL;
	evudp6_resource_cb cb = dispatch(srv, rsp, &sc, &harg);
	if (cb)
		cb(rsp->res, rsp, req, remote, harg);

	uint8_t code = 0;
	int err = 0;
	if (!rsp->deferred) {
		/* A discovery to a group that matched nothing stays unanswered
		 * (RFC 6690 4.1); the messenger acknowledges what needs it. */
		bool silent = rsp->b.code == 0;
		if (!silent) {
			code = rsp->b.code;
			int reg = try_register(srv, rsp, req, remote);
			if (reg <= 0)
				err = reg;
			else if (srv->blocks) {
				err = evudp6_block_respond(srv->blocks, ex, req, &rsp->b, rsp->payload,
				                           rsp->payload_len);
			} else {
				evudp6_msg_builder_set_payload(&rsp->b, rsp->payload, rsp->payload_len);
				err = evudp6_exchange_respond(ex, &rsp->b);
			}
		}
		if (silent || err < 0)
			evudp6_exchange_respond(ex, NULL);
	}
	if (srv->log_cb)
		srv->log_cb(srv, rsp, req, remote, code, err, srv->log_arg);
	if (rsp->res && rsp->res->removed)
		resource_destroy(rsp->res);
	rsp->res = NULL;
	srv->dispatching = false;
	if (srv->free_pending)
		server_destroy(srv);
}

/* ------------------------------------------------------------ notify */

/* Run the GET handler for a notification: the response is reset as for a
 * request, its request a GET with no options (the registration is gone). */
static void notify_run(struct evudp6_server *srv, struct evudp6_resource *r, const struct evudp6_addr *remote)
{
	static const struct evudp6_msg get = {.type = EVUDP6_NON, .code = EVUDP6_GET};
	struct evudp6_response *rsp = &srv->rsp;

	rsp->srv = srv;
	memset(&rsp->ex, 0, sizeof(rsp->ex));
	rsp->req = &get;
	rsp->res = r;
	rsp->payload = NULL;
	rsp->payload_len = 0;
	rsp->deferred = false;
	rsp->multicast = false;
	evudp6_msg_builder_init(&rsp->b, EVUDP6_NON, EVUDP6_CONTENT, 0);
	r->cb[EVUDP6_GET](r, rsp, &get, remote, r->arg[EVUDP6_GET]);
}

/* Fill the builder's payload (the first block of a large body). */
static int notify_payload(struct evudp6_server *srv, const struct evudp6_addr *remote)
{
	struct evudp6_response *rsp = &srv->rsp;
	if (srv->blocks)
		return evudp6_block_server_first(srv->blocks, remote, NULL, &rsp->b, rsp->payload,
		                                 rsp->payload_len);
	evudp6_msg_builder_set_payload(&rsp->b, rsp->payload, rsp->payload_len);
	return 0;
}

/* Send what the handler wrote to one observer; an answer outside 2.xx
 * ends the observation with it (RFC 7641 3.2). */
static int notify_one(struct evudp6_server *srv, struct evudp6_resource *r,
                      struct evudp6_observation_handle o)
{
	struct evudp6_response *rsp = &srv->rsp;
	int rc = notify_payload(srv, evudp6_observation_remote(o));
	if (rc < 0)
		return rc;
	if (EVUDP6_CODE_CLASS(rsp->b.code) == 2)
		return evudp6_observation_notify(o, &rsp->b);
	resource_drop_observer(r, o);
	evudp6_observation_end(o, &rsp->b);
	return 1;
}

int evudp6_resource_notify(struct evudp6_resource *res)
{
	if (!res)
		return -EINVAL;
	struct evudp6_server *srv = res->srv;
	if (srv->dispatching)
		return -EVUDP6_E_STATE;
	if (!(res->flags & EVUDP6_RESOURCE_OBSERVABLE) || !res->cb[EVUDP6_GET])
		return -EINVAL;

	int sent = 0, first_err = 0;
	srv->dispatching = true;
	if (res->flags & EVUDP6_RESOURCE_SHARED_REPRESENTATION) {
		if (res->nobs) {
			notify_run(srv, res, evudp6_observation_remote(res->obs[0]));
			if (EVUDP6_CODE_CLASS(srv->rsp.b.code) == 2 && !res->removed) {
				first_err = notify_payload(srv, evudp6_observation_remote(res->obs[0]));
				size_t n = res->nobs;
				if (first_err == 0)
					first_err = evudp6_observation_notify_many(res->obs, n, &srv->rsp.b);
				sent = first_err == 0 ? (int)n : 0;
			} else if (!res->removed) {
				sent = (int)res->nobs;
				resource_end_observations(res, srv->rsp.b.code);
			}
		}
	} else {
		/* A handler or a send may end observations: walk from the end
		 * so a dropped entry never makes us skip one. */
		for (size_t i = res->nobs; i-- > 0 && !res->removed && !srv->free_pending;) {
			if (i >= res->nobs)
				continue;
			struct evudp6_observation_handle o = res->obs[i];
			notify_run(srv, res, evudp6_observation_remote(o));
			if (res->removed || srv->free_pending)
				break;
			int rc = notify_one(srv, res, o);
			if (rc >= 0)
				sent++;
			else if (!first_err)
				first_err = rc;
		}
	}
	srv->rsp.res = NULL;
	srv->dispatching = false;
	if (res->removed)
		resource_destroy(res);
	if (srv->free_pending)
		server_destroy(srv);
	return first_err < 0 && sent == 0 ? first_err : sent;
}

/* ------------------------------------------------------- well-known/core */

/*
 * More room for a listing that does not fit in *@p cap bytes: the
 * server's own buffer, doubled when it is too small and kept, so that a
 * discovery allocates nothing once it has grown. The @p pos bytes written
 * so far come along. @return 0, -EMSGSIZE when *@p cap is @p limit
 * already, or -ENOMEM.
 */
static int links_grow(struct evudp6_server *srv, char **buf, size_t *cap, size_t pos, size_t limit)
{
	if (*cap >= limit)
		return -EMSGSIZE;
	bool moving = *buf != srv->links; /* realloc() keeps what is in it */
	if (srv->links_cap <= *cap) {
		size_t n = srv->links_cap ? srv->links_cap * 2 : 2 * sizeof(srv->rsp.body);
		char *p = realloc(srv->links, n);
		if (!p)
			return -ENOMEM;
		srv->links = p;
		srv->links_cap = n;
	}
	if (moving)
		memcpy(srv->links, *buf, pos);
	*buf = srv->links;
	*cap = srv->links_cap < limit ? srv->links_cap : limit;
	return 0;
}

static void core_too_long(struct evudp6_server *srv, struct evudp6_response *rsp, int err, size_t cap)
{
	/* A list that cannot be sent whole is an error, not a truncated list. */
	if (err == -ENOMEM)
		answer_error(rsp, EVUDP6_INTERNAL_SERVER_ERROR, "no memory for links past %zu bytes", cap);
	else if (srv->blocks)
		answer_error(rsp, EVUDP6_INTERNAL_SERVER_ERROR,
		             "links do not fit in %zu bytes (the block server's max_body)", cap);
	else
		answer_error(rsp, EVUDP6_INTERNAL_SERVER_ERROR,
		             "links do not fit in %zu bytes: a longer list needs a block server", cap);
}

static void core_cb(struct evudp6_resource *res, struct evudp6_response *rsp, const struct evudp6_msg *req,
                    const struct evudp6_addr *remote, void *arg)
{
	(void)res, (void)remote, (void)arg;
	struct evudp6_server *srv = rsp->srv;
	struct evudp6__lf_filter f[MAX_FILTERS];
	size_t nf = 0;
	struct evudp6_opt_iter it;
	struct evudp6_opt o;

	evudp6_opt_iter_init(&it, req);
	while (evudp6_opt_iter_next(&it, &o))
		if (o.number == EVUDP6_OPT_URI_QUERY && nf < MAX_FILTERS &&
		    evudp6__lf_filter_parse(&f[nf], o.value, o.len) == 0)
			nf++;

	/* The response's own buffer first; past it, with a block server to
	 * slice the list, the server's buffer up to the block server's limit. */
	size_t limit = srv->blocks ? evudp6__block_server_max_body(srv->blocks) : sizeof(rsp->body);
	char *buf = (char *)rsp->body;
	size_t cap = limit < sizeof(rsp->body) ? limit : sizeof(rsp->body);
	size_t pos = 0, listed = 0;
	for (size_t i = 0; i < srv->nres; i++) {
		struct evudp6_resource *r = srv->res[i];
		if (r->builtin || (r->flags & EVUDP6_RESOURCE_HIDDEN))
			continue;
		struct evudp6__link_attr a[EVUDP6_RESOURCE_MAX_ATTRS + 2];
		size_t na = 0;
		bool obs = r->flags & EVUDP6_RESOURCE_OBSERVABLE;
		for (size_t k = 0; k <= r->nattr; k++) {
			if (r->nct && k == r->ct_pos)
				a[na++] = (struct evudp6__link_attr){"ct", r->ct_text};
			if (obs && k == r->obs_pos)
				a[na++] = (struct evudp6__link_attr){"obs", NULL};
			if (k < r->nattr)
				a[na++] = (struct evudp6__link_attr){r->attr[k].name, r->attr[k].value};
		}
		struct evudp6__link l = {r->href, a, na};
		bool pass = true;
		for (size_t k = 0; k < nf && pass; k++)
			pass = evudp6__lf_match(&l, &f[k]);
		if (!pass)
			continue;
		while (evudp6__lf_append(buf, cap, &pos, &l) < 0) {
			int rc = links_grow(srv, &buf, &cap, pos, limit);
			if (rc < 0) {
				core_too_long(srv, rsp, rc, cap);
				return;
			}
		}
		listed++;
	}
	if (listed == 0 && nf > 0 && rsp->multicast) {
		rsp->b.code = 0;
		return;
	}
	evudp6_response_set_content_format(rsp, EVUDP6_CF_LINK_FORMAT);
	/* With a block server, on_request() hands it the list to slice. */
	evudp6_response_set_payload(rsp, buf, pos);
}

/* ------------------------------------------------------------ life cycle */

int evudp6_server_new(struct evudp6_server **out, struct evudp6_messenger *m)
{
	if (!out || !m)
		return -EINVAL;
	struct evudp6_server *srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->m = m;
	int rc = resource_new(srv, WELL_KNOWN_CORE, EVUDP6_METHOD_GET, core_cb, NULL, &srv->core);
	if (rc == 0)
		rc = evudp6_resource_add_content_format(srv->core, EVUDP6_CF_LINK_FORMAT);
	if (rc < 0) {
		/* Not installed yet: the messenger's handler is left as it is. */
		if (srv->nres)
			resource_destroy(srv->res[0]);
		free(srv->res);
		free(srv);
		return rc;
	}
	srv->core->builtin = true;
	evudp6_messenger_set_request_cb(m, on_request, srv);
	*out = srv;
	return 0;
}

void evudp6_server_free(struct evudp6_server *srv)
{
	if (!srv)
		return;
	if (srv->dispatching) {
		srv->free_pending = true;
		return;
	}
	server_destroy(srv);
}

struct evudp6_messenger *evudp6_server_messenger(const struct evudp6_server *srv)
{
	return srv->m;
}

void evudp6_server_set_block_server(struct evudp6_server *srv, struct evudp6_block_server *bs)
{
	if (srv)
		srv->blocks = bs;
}

void evudp6_server_set_log_cb(struct evudp6_server *srv, evudp6_server_log_cb cb, void *arg)
{
	if (!srv)
		return;
	srv->log_cb = cb;
	srv->log_arg = cb ? arg : NULL;
}
