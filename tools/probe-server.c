/*
 * evudp6-probe — the diagnostic server (--listen), built on the resource
 * API: /hello, /echo and /whoami (and / for people) on an evudp6_server,
 * which also answers /.well-known/core and the RFC's errors; pings are
 * answered by the messenger. Every request and ping is logged with the
 * requester's address and the local address it reached. /large is
 * several blocks; bodies of any size go both ways block-wise (RFC 7959)
 * through the block server the resource server consults. /obs and
 * /obs-large are observable (RFC 7641, tools/probe-obs.c).
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <net/if.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "probe.h"

/* The block server reassembles and slices bodies up to this size. */
#define ECHO_MAX    (1024 * 1024)
#define LARGE_LINES 256
#define JOINED_MAX  (PROBE_MAX_JOINS * 4)

struct listener {
	struct probe_server *s;
	struct evudp6_messenger *m;
	struct evudp6_server *srv;
	struct evudp6_transport *t; /* on a socket handed over: ours, under m */
	char *joined[JOINED_MAX];
	size_t njoined;
};

struct probe_server {
	const struct probe_opts *o;
	struct listener l[PROBE_MAX_BINDS];
	size_t n;
	unsigned long requests, pings;
	struct evudp6_block_server *blocks;
	struct probe_obs *obs;
	/* what the observable resources told for the log of their request */
	bool obs_served;
	uint8_t obs_code;
	const char *obs_note;
	uint8_t *echo;
	size_t echo_len;
	int echo_cf;
};

/* /large: 256 lines of 32 bytes, "evudp6 large resource line 0000\n" to "... 0255\n". */
static char large_body[LARGE_LINES * 32 + 1];

/* ------------------------------------------------------------ resources */

/* Accept option: -1 when absent. */
static int accept_of(const struct evudp6_msg *req)
{
	struct evudp6_opt o;
	uint32_t v;
	if (evudp6_msg_find_opt(req, EVUDP6_OPT_ACCEPT, &o) && evudp6_opt_uint(&o, &v) == 0)
		return (int)v;
	return -1;
}

static void root_cb(struct evudp6_resource *res, struct evudp6_response *rsp, const struct evudp6_msg *req,
                    const struct evudp6_addr *remote, void *arg)
{
	(void)res, (void)req, (void)remote, (void)arg;
	evudp6_response_set_content_format(rsp, EVUDP6_CF_TEXT_PLAIN);
	evudp6_response_printf(rsp, "evudp6-probe diagnostic server (evudp6 %s): GET /.well-known/core",
	                       evudp6_version());
}

static void hello_cb(struct evudp6_resource *res, struct evudp6_response *rsp, const struct evudp6_msg *req,
                     const struct evudp6_addr *remote, void *arg)
{
	(void)res, (void)req, (void)remote, (void)arg;
	evudp6_response_set_content_format(rsp, EVUDP6_CF_TEXT_PLAIN);
	evudp6_response_printf(rsp, "Hello from evudp6-probe %s", evudp6_version());
}

/* The requester's address and the local address the request reached. */
static void whoami_cb(struct evudp6_resource *res, struct evudp6_response *rsp, const struct evudp6_msg *req,
                      const struct evudp6_addr *remote, void *arg)
{
	(void)res, (void)arg;
	char you[EVUDP6_HOSTINFO_MAX], asked[EVUDP6_HOSTINFO_MAX], ifn[EVUDP6_NETIF_MAX] = "";
	bool mcast = evudp6_response_is_multicast(rsp);
	probe_remote_text(remote, you, sizeof(you));
	probe_local_text(remote, asked, sizeof(asked));
	evudp6_addr_netif(remote, ifn, sizeof(ifn));
	if (accept_of(req) == EVUDP6_CF_JSON) {
		evudp6_response_set_content_format(rsp, EVUDP6_CF_JSON);
		evudp6_response_printf(
		    rsp, "{\"you\":\"%s\",\"asked\":\"%s\",\"interface\":\"%s\",\"multicast\":%s}", you,
		    asked, ifn, mcast ? "true" : "false");
	} else {
		evudp6_response_set_content_format(rsp, EVUDP6_CF_TEXT_PLAIN);
		evudp6_response_printf(rsp, "you are %s, you asked %s%s%s%s", you, asked,
		                       ifn[0] ? " on " : "", ifn, mcast ? " (multicast)" : "");
	}
}

static void large_cb(struct evudp6_resource *res, struct evudp6_response *rsp, const struct evudp6_msg *req,
                     const struct evudp6_addr *remote, void *arg)
{
	(void)res, (void)req, (void)remote, (void)arg;
	evudp6_response_set_content_format(rsp, EVUDP6_CF_TEXT_PLAIN);
	evudp6_response_set_payload(rsp, large_body, LARGE_LINES * 32);
}

/* /obs and /obs-large answer (and register observers) themselves. */
static void obs_cb(struct evudp6_resource *res, struct evudp6_response *rsp, const struct evudp6_msg *req,
                   const struct evudp6_addr *remote, void *arg)
{
	(void)remote;
	struct probe_server *s = arg;
	struct evudp6_exchange_handle ex = evudp6_response_defer(rsp);
	s->obs_code = 0;
	s->obs_note = NULL;
	s->obs_served =
	    probe_obs_serve(s->obs, ex, req, evudp6_resource_path(res), &s->obs_code, &s->obs_note);
	if (!s->obs_served)
		evudp6_exchange_respond(ex, NULL);
}

/* PUT or POST stores the payload (and its Content-Format), GET returns
 * it, DELETE forgets it. */
static void echo_cb(struct evudp6_resource *res, struct evudp6_response *rsp, const struct evudp6_msg *req,
                    const struct evudp6_addr *remote, void *arg)
{
	(void)res, (void)remote;
	struct probe_server *s = arg;
	if (req->code == EVUDP6_DELETE) {
		s->echo_len = 0;
		s->echo_cf = -1;
		return;
	}
	if (req->code != EVUDP6_GET) {
		const uint8_t *body;
		size_t n = evudp6_response_request_body(rsp, &body);
		if (n > ECHO_MAX) {
			evudp6_response_set_code(rsp, EVUDP6_REQUEST_ENTITY_TOO_LARGE);
			return;
		}
		struct evudp6_opt cf;
		uint32_t cfv = 0;
		bool has_cf = evudp6_msg_find_opt(req, EVUDP6_OPT_CONTENT_FORMAT, &cf) &&
		              evudp6_opt_uint(&cf, &cfv) == 0;
		if (n)
			memcpy(s->echo, body, n);
		s->echo_len = n;
		s->echo_cf = has_cf ? (int)cfv : -1;
	}
	if (s->echo_cf >= 0)
		evudp6_response_set_content_format(rsp, (uint32_t)s->echo_cf);
	evudp6_response_set_payload(rsp, s->echo, s->echo_len);
}

static int add_resources(struct evudp6_server *srv, struct probe_server *s)
{
	struct evudp6_resource *r;
	int rc;
	if ((rc = evudp6_server_add(srv, "/", EVUDP6_METHOD_GET, root_cb, s, &r)) < 0)
		return rc;
	evudp6_resource_set_flags(r, EVUDP6_RESOURCE_HIDDEN);
	if ((rc = evudp6_server_add(srv, "/hello", EVUDP6_METHOD_GET, hello_cb, s, &r)) < 0 ||
	    (rc = evudp6_resource_set_attr(r, "rt", "evudp6.hello")) < 0 ||
	    (rc = evudp6_resource_add_content_format(r, EVUDP6_CF_TEXT_PLAIN)) < 0 ||
	    (rc = evudp6_resource_set_attr(r, "title", "hello")) < 0)
		return rc;
	if ((rc = evudp6_server_add(srv, "/echo",
	                            EVUDP6_METHOD_GET | EVUDP6_METHOD_PUT | EVUDP6_METHOD_POST |
	                                EVUDP6_METHOD_DELETE,
	                            echo_cb, s, &r)) < 0 ||
	    (rc = evudp6_resource_set_attr(r, "rt", "evudp6.echo")) < 0 ||
	    (rc = evudp6_resource_set_attr(r, "title", "PUT or POST echoes the payload")) < 0)
		return rc;
	if ((rc = evudp6_server_add(srv, "/whoami", EVUDP6_METHOD_GET, whoami_cb, s, &r)) < 0 ||
	    (rc = evudp6_resource_set_attr(r, "rt", "evudp6.whoami")) < 0 ||
	    (rc = evudp6_resource_add_content_format(r, EVUDP6_CF_TEXT_PLAIN)) < 0 ||
	    (rc = evudp6_resource_add_content_format(r, EVUDP6_CF_JSON)) < 0 ||
	    (rc = evudp6_resource_set_attr(r, "title", "who am I")) < 0)
		return rc;
	if ((rc = evudp6_server_add(srv, "/large", EVUDP6_METHOD_GET, large_cb, s, &r)) < 0 ||
	    (rc = evudp6_resource_set_attr(r, "rt", "evudp6.large")) < 0 ||
	    (rc = evudp6_resource_add_content_format(r, EVUDP6_CF_TEXT_PLAIN)) < 0 ||
	    (rc = evudp6_resource_set_attr(r, "sz", "8192")) < 0 ||
	    (rc = evudp6_resource_set_attr(r, "title", "several blocks")) < 0)
		return rc;
	static const struct {
		const char *path, *sz, *title;
	} obs[] = {{"/obs", NULL, "changes every second"},
	           {"/obs-large", "3200", "several blocks, changes every second"}};
	for (size_t i = 0; i < sizeof(obs) / sizeof(obs[0]); i++) {
		if ((rc = evudp6_server_add(srv, obs[i].path, EVUDP6_METHOD_GET, obs_cb, s, &r)) < 0)
			return rc;
		evudp6_resource_set_flags(r, EVUDP6_RESOURCE_OBSERVABLE);
		if ((rc = evudp6_resource_set_attr(r, "rt", "evudp6.tick")) < 0 ||
		    (rc = evudp6_resource_add_content_format(r, EVUDP6_CF_TEXT_PLAIN)) < 0 ||
		    (obs[i].sz && (rc = evudp6_resource_set_attr(r, "sz", obs[i].sz)) < 0) ||
		    (rc = evudp6_resource_set_attr(r, "title", obs[i].title)) < 0)
			return rc;
	}
	evudp6_server_set_block_server(srv, s->blocks);
	return 0;
}

/* "/a/b" and "x=1&y" from the Uri-Path and Uri-Query options, for the log. */
static void path_and_query(const struct evudp6_msg *req, char *path, size_t plen, char *query, size_t qlen)
{
	struct evudp6_opt_iter it;
	struct evudp6_opt o;
	size_t pn = 0, qn = 0;
	path[0] = query[0] = '\0';
	evudp6_opt_iter_init(&it, req);
	while (evudp6_opt_iter_next(&it, &o) == 1) {
		if (o.number == EVUDP6_OPT_URI_PATH) {
			int n = snprintf(path + pn, plen - pn, "/%.*s", (int)o.len, (const char *)o.value);
			if (n > 0)
				pn = pn + (size_t)n < plen ? pn + (size_t)n : plen - 1;
		} else if (o.number == EVUDP6_OPT_URI_QUERY) {
			int n = snprintf(query + qn, qlen - qn, "%s%.*s", qn ? "&" : "", (int)o.len,
			                 (const char *)o.value);
			if (n > 0)
				qn = qn + (size_t)n < qlen ? qn + (size_t)n : qlen - 1;
		}
	}
	if (pn == 0)
		snprintf(path, plen, "/");
	/* Bytes a terminal should not interpret are shown as '?'. */
	for (char *p = path; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	for (char *p = query; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

/* Would the messenger leave this answer unsent (RFC 7967, or an error to a multicast request)? */
static bool suppressed(const struct evudp6_msg *req, uint8_t code, bool mcast)
{
	struct evudp6_opt o;
	uint32_t v;
	unsigned int cls = EVUDP6_CODE_CLASS(code);
	if (evudp6_msg_find_opt(req, EVUDP6_OPT_NO_RESPONSE, &o) && evudp6_opt_uint(&o, &v) == 0)
		return (cls == 2 && (v & 2)) || (cls == 4 && (v & 8)) || (cls == 5 && (v & 16));
	return mcast && cls >= 4;
}

/* Every request, as the server answered it, with both addresses. */
static void log_cb(struct evudp6_server *srv, const struct evudp6_response *rsp, const struct evudp6_msg *req,
                   const struct evudp6_addr *remote, uint8_t code, int err, void *arg)
{
	(void)srv;
	struct probe_server *s = arg;
	char path[512], query[512];
	bool mcast = evudp6_response_is_multicast(rsp);
	path_and_query(req, path, sizeof(path), query, sizeof(query));
	struct probe_req_log log = {.req = req,
	                            .from = remote,
	                            .multicast = mcast,
	                            .path = path,
	                            .query = query,
	                            .code = code,
	                            .prefix = s->o->log_prefix};
	if (s->obs_served) {
		log.code = s->obs_code;
		log.note = s->obs_note;
		s->obs_served = false;
	} else if (err < 0) {
		log.note = evudp6_strerror(err);
		log.code = 0;
	} else if (code == 0) {
		log.note = "not sent: nothing matched";
	} else if (suppressed(req, code, mcast)) {
		log.note = "not sent: suppressed";
	}
	s->requests++;
	probe_out_request(&log);
}

static void ping_cb(struct evudp6_messenger *m, const struct evudp6_msg *ping,
                    const struct evudp6_addr *remote, void *arg)
{
	(void)m;
	struct probe_server *s = arg;
	s->pings++;
	probe_out_ping_received(ping, remote, s->o->log_prefix);
}

/* ------------------------------------------------------------ set-up */

static int parse_ifname(const char *name, unsigned int *out)
{
	char *end;
	unsigned long v = strtoul(name, &end, 10);
	if (*name && !*end && v > 0 && v <= 0xffffffffu) {
		*out = (unsigned int)v;
		return 0;
	}
	*out = if_nametoindex(name);
	return *out ? 0 : -ENODEV;
}

/* "group%ifname" (or "group" alone) for the listening event. */
static void remember(struct listener *l, const char *group, const char *ifname)
{
	if (l->njoined >= JOINED_MAX)
		return;
	size_t n = strlen(group) + (ifname ? strlen(ifname) + 1 : 0) + 1;
	char *t = malloc(n);
	if (!t)
		return;
	snprintf(t, n, "%s%s%s", group, ifname ? "%" : "", ifname ? ifname : "");
	l->joined[l->njoined++] = t;
}

static int join_all(struct listener *l, const struct probe_opts *o)
{
	struct evudp6_transport *t = evudp6_messenger_transport(l->m);
	for (size_t i = 0; i < o->njoins; i++) {
		char group[128];
		snprintf(group, sizeof(group), "%s", o->joins[i]);
		char *pct = strrchr(group, '%');
		unsigned int ifindex = 0;
		if (pct) {
			*pct = '\0';
			if (parse_ifname(pct + 1, &ifindex) < 0) {
				probe_warn("--join %s: no interface %s", o->joins[i], pct + 1);
				return PROBE_EXIT_USAGE;
			}
		}
		struct evudp6_addr g;
		if (evudp6_addr_from_literal(&g, group, 0, 0) < 0 || !evudp6_addr_is_multicast(&g)) {
			probe_warn("--join %s: %s is not a multicast group address", o->joins[i], group);
			return PROBE_EXIT_USAGE;
		}
		int rc = evudp6_transport_join(t, &g.remote.sin6_addr, ifindex);
		if (rc < 0) {
			probe_warn("--join %s: %s", o->joins[i], evudp6_strerror(rc));
			return PROBE_EXIT_OSERR;
		}
		remember(l, o->joins[i], NULL);
	}
	for (size_t i = 0; i < o->njoin_coap; i++) {
		unsigned int ifindex;
		if (parse_ifname(o->join_coap[i], &ifindex) < 0) {
			probe_warn("--join-coap %s: no such interface", o->join_coap[i]);
			return PROBE_EXIT_USAGE;
		}
		int rc = evudp6_transport_join_coap(t, ifindex);
		if (rc < 0) {
			probe_warn("--join-coap %s: joining 224.0.1.187, ff02::fd and ff05::fd: %s",
			           o->join_coap[i], evudp6_strerror(rc));
			return PROBE_EXIT_OSERR;
		}
		remember(l, "224.0.1.187", o->join_coap[i]);
		remember(l, "ff02::fd", o->join_coap[i]);
		remember(l, "ff05::fd", o->join_coap[i]);
	}
	return 0;
}

/* A datagram that is not CoAP on a socket handed over. */
static void not_coap_cb(struct evudp6_transport *t, const uint8_t *data, size_t len,
                        const struct evudp6_addr *remote, void *arg)
{
	(void)t, (void)data, (void)arg;
	if (probe_o->verbose) {
		char from[EVUDP6_HOSTINFO_MAX + 8];
		probe_remote_text(remote, from, sizeof(from));
		probe_warn("%zu bytes from %s are not CoAP: ignored", len, from);
	}
}

int probe_server_new(struct probe_server **out, struct event_base *base, const struct probe_opts *o)
{
	struct probe_server *s = calloc(1, sizeof(*s));
	if (!s) {
		probe_warn("out of memory");
		return PROBE_EXIT_OSERR;
	}
	s->o = o;
	s->echo_cf = -1;
	for (int i = 0; i < LARGE_LINES; i++)
		snprintf(large_body + i * 32, 33, "evudp6 large resource line %04u\n",
		         (unsigned int)i % 10000u);
	struct evudp6_block_server_config bcfg;
	evudp6_block_server_config_init(&bcfg, sizeof(bcfg));
	bcfg.max_body = ECHO_MAX;
	if (!(s->echo = malloc(ECHO_MAX)) || evudp6_block_server_new(&s->blocks, &bcfg) < 0 ||
	    probe_obs_new(&s->obs, base, s->blocks) < 0) {
		evudp6_block_server_free(s->blocks);
		free(s->echo);
		free(s);
		probe_warn("out of memory");
		return PROBE_EXIT_OSERR;
	}
	size_t nb = o->nbinds || o->nfds ? o->nbinds + o->nfds : 1;
	for (size_t i = 0; i < nb; i++) {
		bool fd = i >= o->nbinds && o->nfds;
		const char *bind = o->nbinds ? o->binds[i < o->nbinds ? i : 0] : "[::]";
		char fdname[32];
		if (fd) {
			snprintf(fdname, sizeof(fdname), "fd %d", o->fds[i - o->nbinds]);
			bind = fdname;
		}
		struct listener *l = &s->l[s->n++];
		l->s = s;
		struct evudp6_transport_config tcfg = {.size = sizeof(tcfg), .bind = bind};
		struct evudp6_messenger_config mcfg;
		evudp6_messenger_config_init(&mcfg, sizeof(mcfg));
		mcfg.leisure_ms = (unsigned int)lround(o->leisure_s * 1000.0);
		int rc;
		if (fd) {
			rc = evudp6_transport_new_from_fd(&l->t, base, o->fds[i - o->nbinds], NULL,
			                                  not_coap_cb, NULL, s);
			if (rc == 0)
				rc = evudp6_messenger_new_on_transport(&l->m, l->t, &mcfg);
		} else {
			rc = evudp6_messenger_new(&l->m, base, &tcfg, &mcfg);
		}
		if (rc == 0)
			rc = evudp6_server_new(&l->srv, l->m);
		if (rc == 0)
			rc = add_resources(l->srv, s);
		if (rc == 0) {
			evudp6_server_set_log_cb(l->srv, log_cb, s);
			evudp6_messenger_set_ping_cb(l->m, ping_cb, s);
			/* Answers that meet a Packet Too Big go on in smaller blocks. */
			evudp6_messenger_set_icmp_cb(l->m, evudp6_block_icmp_cb, s->blocks);
			rc = evudp6_messenger_start(l->m);
		}
		if (rc < 0) {
			probe_warn("cannot listen on %s: %s", bind, evudp6_strerror(rc));
			bool bad = rc <= -EVUDP6_E_NOT_MINE && rc > -EVUDP6_E_RESOLVE_NXDOMAIN;
			probe_server_free(s);
			return bad ? PROBE_EXIT_USAGE : PROBE_EXIT_OSERR;
		}
		rc = join_all(l, o);
		if (rc) {
			probe_server_free(s);
			return rc;
		}
		struct sockaddr_in6 sa;
		struct evudp6_addr bound;
		evudp6_transport_local(evudp6_messenger_transport(l->m), &sa);
		evudp6_addr_from_sockaddr(&bound, (const struct sockaddr *)&sa, sizeof(sa));
		probe_out_listening(&bound, (const char *const *)l->joined, l->njoined);
	}
	*out = s;
	return 0;
}

uint16_t probe_server_port(const struct probe_server *s)
{
	return s->n ? evudp6_transport_port(evudp6_messenger_transport(s->l[0].m)) : 0;
}

void probe_server_free(struct probe_server *s)
{
	if (!s)
		return;
	probe_obs_free(s->obs);
	for (size_t i = 0; i < s->n; i++) {
		evudp6_server_free(s->l[i].srv);
		evudp6_messenger_free(s->l[i].m);
		evudp6_transport_free(s->l[i].t);
		for (size_t k = 0; k < s->l[i].njoined; k++)
			free(s->l[i].joined[k]);
	}
	evudp6_block_server_free(s->blocks);
	free(s->echo);
	free(s);
}

/* ------------------------------------------------------------ --listen */

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	event_base_loopexit(arg, NULL);
}

int probe_run_listen(const struct probe_opts *o)
{
	struct event_base *base = event_base_new();
	if (!base) {
		probe_warn("cannot create an event_base");
		return PROBE_EXIT_OSERR;
	}
	struct probe_server *s;
	int rc = probe_server_new(&s, base, o);
	if (rc) {
		event_base_free(base);
		return rc;
	}
	struct event *sigint = evsignal_new(base, SIGINT, stop_cb, base);
	struct event *sigterm = evsignal_new(base, SIGTERM, stop_cb, base);
	struct event *limit = evtimer_new(base, stop_cb, base);
	event_add(sigint, NULL);
	event_add(sigterm, NULL);
	if (o->timeout_s > 0) {
		struct timeval tv = {(long)o->timeout_s, (long)((o->timeout_s - floor(o->timeout_s)) * 1e6)};
		event_add(limit, &tv);
	}
	event_base_dispatch(base);
	probe_out_note("stopped after %lu request%s and %lu ping%s", s->requests, s->requests == 1 ? "" : "s",
	               s->pings, s->pings == 1 ? "" : "s");
	event_free(sigint);
	event_free(sigterm);
	event_free(limit);
	probe_server_free(s);
	/* Let the transports finish their deferred shutdown work. */
	event_base_loop(base, EVLOOP_NONBLOCK);
	event_base_free(base);
	return PROBE_EXIT_OK;
}
