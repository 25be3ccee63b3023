/*
 * evudp6-probe — the client side: one request, a ping series, or a
 * multicast request collecting every responder. Everything goes through
 * the public API: resolver for the URI, messenger for the exchange.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <net/if.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/event_struct.h>

#include "probe.h"

#define PING_SLOTS     64
#define MAX_RESPONDERS 256

struct ping_slot {
	struct probe_job *job;
	struct evudp6_request *r;
	double t0;
	int seq;
	bool used;
};

struct probe_job {
	struct probe_client *c;
	const struct probe_opts *o;
	char *uri;
	struct evudp6_uri u;
	struct evudp6_addr dest;
	bool multicast;
	struct evudp6_resolve *resolving;
	struct evudp6_request *req;
	struct event *deadline, *tick, *finish, *sigint;
	struct event direct; /* delivers a group literal's address from the loop */
	struct evudp6_addr direct_addr;
	bool direct_set;
	double t_start, t_sent;
	bool ended;
	int code;
	/* multicast */
	unsigned int responses, ok_responses;
	struct evudp6_addr responders[MAX_RESPONDERS];
	unsigned int nresponders;
	/* ping */
	unsigned int sent, answered, errors, pending;
	double rtt_min, rtt_max, rtt_sum;
	bool stop_sending;
	struct ping_slot slot[PING_SLOTS];
	probe_job_done_cb done;
	void *arg;
};

/* ------------------------------------------------------------ set-up */

int probe_client_init(struct probe_client *c, struct event_base *base, const struct probe_opts *o)
{
	memset(c, 0, sizeof(*c));
	c->base = base;
	c->o = o;

	/* Names resolve through evdns without blocking the loop; the flag
	 * keeps an idle resolver from holding the loop open. */
	int flags = EVDNS_BASE_DISABLE_WHEN_INACTIVE;
	c->dns = evdns_base_new(base, o->dns ? flags : flags | EVDNS_BASE_INITIALIZE_NAMESERVERS);
	if (!c->dns) {
		probe_warn("cannot set up the name resolver");
		return PROBE_EXIT_OSERR;
	}
	if (o->dns) {
		if (evdns_base_nameserver_ip_add(c->dns, o->dns) != 0) {
			probe_warn("--dns %s: not an IP address with an optional port", o->dns);
			return PROBE_EXIT_USAGE;
		}
		evdns_base_load_hosts(c->dns, NULL);
	}
	int rc = evudp6_resolver_new(&c->resolver, base, c->dns);
	if (rc < 0) {
		probe_warn("resolver: %s", evudp6_strerror(rc));
		return PROBE_EXIT_OSERR;
	}

	struct evudp6_transport_config tcfg = {.bind = o->bind ? o->bind : "[::]:0"};
	struct evudp6_messenger_config mcfg;
	evudp6_messenger_config_init(&mcfg);
	if (o->mode == PROBE_PING) {
		/* Each ping stands alone, as in ping(8): one transmission, its
		 * own timeout, several outstanding at once. */
		mcfg.max_retransmit = 0;
		mcfg.ack_timeout_ms = (unsigned int)lround((o->timeout_s > 0 ? o->timeout_s : 2.0) * 1000.0);
		if (mcfg.ack_timeout_ms == 0)
			mcfg.ack_timeout_ms = 1;
		mcfg.ack_random_factor = 1.0;
		mcfg.nstart = PING_SLOTS;
	} else if (o->timeout_s > 0) {
		mcfg.response_timeout_ms = (unsigned int)lround(o->timeout_s * 1000.0);
		if (mcfg.response_timeout_ms == 0)
			mcfg.response_timeout_ms = 1;
	}
	rc = evudp6_messenger_new(&c->m, base, &tcfg, &mcfg);
	if (rc == 0)
		rc = evudp6_messenger_start(c->m);
	if (rc < 0) {
		probe_warn("cannot open the client socket on %s: %s", tcfg.bind, evudp6_strerror(rc));
		bool bad_bind = rc <= -EVUDP6_E_NOT_MINE && rc > -EVUDP6_E_RESOLVE_NXDOMAIN;
		return bad_bind ? PROBE_EXIT_USAGE : PROBE_EXIT_OSERR;
	}
	return 0;
}

void probe_client_free(struct probe_client *c)
{
	evudp6_messenger_free(c->m);
	evudp6_resolver_free(c->resolver);
	if (c->dns)
		evdns_base_free(c->dns, 1);
	memset(c, 0, sizeof(*c));
}

/* ------------------------------------------------------------ ending */

static void job_free(struct probe_job *j)
{
	if (j->direct_set)
		event_del(&j->direct);
	if (j->deadline)
		event_free(j->deadline);
	if (j->tick)
		event_free(j->tick);
	if (j->finish)
		event_free(j->finish);
	if (j->sigint)
		event_free(j->sigint);
	free(j->uri);
	free(j);
}

static void finish_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct probe_job *j = arg;
	probe_job_done_cb done = j->done;
	void *darg = j->arg;
	int code = j->code;
	job_free(j);
	done(NULL, code, darg);
}

/* End the job with @p code; the done callback runs from the loop. */
static void job_end(struct probe_job *j, int code)
{
	if (j->ended)
		return;
	j->ended = true;
	j->code = code;
	if (j->deadline)
		event_del(j->deadline);
	if (j->tick)
		event_del(j->tick);
	if (j->sigint)
		event_del(j->sigint);
	static const struct timeval now = {0, 0};
	event_add(j->finish, &now);
}

/* Resolution results: a failed route check is the network's word, the rest the resolver's. */
static void report_resolve_error(struct probe_job *j, int err)
{
	bool route = err == -EVUDP6_E_RESOLVE_NOROUTE || (err < 0 && -err < EVUDP6_E_FIRST);
	struct probe_err_info e = {
	    .kind = route ? "network" : "resolve",
	    .uri = j->uri,
	    .err = err,
	    .elapsed_ms = probe_now_ms() - j->t_start,
	    .detail = route ? "no route to the destination, found before sending" : NULL,
	    .seq = -1,
	};
	probe_out_error(&e);
	job_end(j, route ? PROBE_EXIT_NETWORK : PROBE_EXIT_RESOLVE);
}

/* An error that ended an exchange: ICMP, send error, timeout or RST. */
static int report_exchange_error(struct probe_job *j, int err, const struct evudp6_icmp *icmp,
                                 const struct evudp6_addr *remote, double t0, int seq)
{
	struct probe_err_info e = {
	    .uri = j->uri,
	    .err = err,
	    .icmp = icmp,
	    .remote = remote ? remote : &j->dest,
	    .elapsed_ms = probe_now_ms() - t0,
	    .seq = seq,
	};
	int code;
	if (err == -EVUDP6_E_TIMEOUT) {
		e.kind = "timeout";
		code = PROBE_EXIT_TIMEOUT;
	} else if (err == -ECONNRESET && !icmp) {
		e.kind = "reset";
		code = PROBE_EXIT_ERROR_RESPONSE;
	} else {
		e.kind = "network";
		if (!icmp)
			e.detail = "send error: the local kernel refused the datagram";
		code = PROBE_EXIT_NETWORK;
	}
	probe_out_error(&e);
	return code;
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct probe_job *j = arg;
	double waited = probe_now_ms() - j->t_start;
	const char *detail =
	    j->resolving ? "--timeout reached while resolving the name" : "--timeout reached";
	if (j->resolving) {
		struct evudp6_resolve *r = j->resolving;
		j->resolving = NULL;
		j->ended = true; /* the cancel callback must not report */
		evudp6_resolve_cancel(r);
		j->ended = false;
	}
	if (j->req) {
		evudp6_request_cancel(j->req);
		j->req = NULL;
	}
	struct probe_err_info e = {
	    .kind = "timeout",
	    .uri = j->uri,
	    .err = -EVUDP6_E_TIMEOUT,
	    .remote = j->dest.remote.sin6_family ? &j->dest : NULL,
	    .elapsed_ms = waited,
	    .detail = detail,
	    .seq = -1,
	};
	probe_out_error(&e);
	job_end(j, PROBE_EXIT_TIMEOUT);
}

/* ------------------------------------------------------------ request */

static bool seen_responder(struct probe_job *j, const struct evudp6_addr *a)
{
	for (unsigned int i = 0; i < j->nresponders; i++)
		if (evudp6_addr_equal(&j->responders[i], a))
			return true;
	if (j->nresponders < MAX_RESPONDERS)
		j->responders[j->nresponders++] = *a;
	return false;
}

static void response_cb(struct evudp6_request *r, int err, const struct evudp6_msg *rsp,
                        const struct evudp6_addr *remote, const struct evudp6_icmp *icmp, void *arg)
{
	(void)r;
	struct probe_job *j = arg;
	if (j->ended || err == -EVUDP6_E_SHUTDOWN)
		return;
	double now = probe_now_ms();
	if (j->multicast) {
		if (err == 0) {
			j->responses++;
			seen_responder(j, remote);
			if (EVUDP6_CODE_CLASS(rsp->code) == 2)
				j->ok_responses++;
			struct probe_rsp_info info = {.uri = j->uri,
			                              .rsp = rsp,
			                              .from = remote,
			                              .rtt_ms = now - j->t_sent,
			                              .multicast = true};
			probe_out_response(&info);
			return;
		}
		j->req = NULL;
		if (err != -EVUDP6_E_TIMEOUT) {
			job_end(j, report_exchange_error(j, err, icmp, remote, j->t_sent, -1));
			return;
		}
		probe_out_multicast_summary(j->uri, j->responses, j->nresponders, now - j->t_sent);
		job_end(j, j->ok_responses ? PROBE_EXIT_OK
		           : j->responses  ? PROBE_EXIT_ERROR_RESPONSE
		                           : PROBE_EXIT_TIMEOUT);
		return;
	}
	j->req = NULL;
	if (err == 0) {
		struct probe_rsp_info info = {
		    .uri = j->uri, .rsp = rsp, .from = remote, .rtt_ms = now - j->t_sent};
		probe_out_response(&info);
		job_end(j, EVUDP6_CODE_CLASS(rsp->code) == 2 ? PROBE_EXIT_OK : PROBE_EXIT_ERROR_RESPONSE);
		return;
	}
	job_end(j, report_exchange_error(j, err, icmp, remote, j->t_sent, -1));
}

/* A failed first send: the messenger returns it and never calls back. */
static int send_failed(struct probe_job *j, int rc, int seq)
{
	if (rc < 0 && -rc < EVUDP6_E_FIRST && rc != -ENOBUFS && rc != -EINVAL)
		return report_exchange_error(j, rc, NULL, &j->dest, j->t_sent, seq);
	if (rc == -EVUDP6_E_MSG_NOSPACE)
		probe_warn("%s: the request does not fit in one message (%s)", j->uri, evudp6_strerror(rc));
	else
		probe_warn("%s: cannot send the request: %s", j->uri, evudp6_strerror(rc));
	return PROBE_EXIT_USAGE;
}

static void verbose_request(struct probe_job *j, const struct evudp6_msg_builder *b)
{
	if (!j->o->verbose || j->o->json || j->o->quiet)
		return;
	char code[EVUDP6_CODE_STR_MAX], to[EVUDP6_HOSTINFO_MAX], ifn[EVUDP6_NETIF_MAX] = "";
	probe_remote_text(&j->dest, to, sizeof(to));
	evudp6_addr_netif(&j->dest, ifn, sizeof(ifn));
	printf("-> %s %s to %s%s%s (mid 0x%04x, token ", evudp6_msg_type_name(b->type),
	       evudp6_code_str(b->code, code), to, ifn[0] ? " on " : "", ifn, b->mid);
	if (!b->tkl)
		printf("none");
	for (size_t i = 0; i < b->tkl; i++)
		printf("%02x", b->token[i]);
	printf(", %zu option%s, %zu payload bytes)\n", b->nopts, b->nopts == 1 ? "" : "s", b->payload_len);
	fflush(stdout);
}

static void send_request(struct probe_job *j)
{
	const struct probe_opts *o = j->o;
	struct evudp6_msg_builder b;
	bool non = o->non || j->multicast;
	evudp6_msg_builder_init(&b, non ? EVUDP6_NON : EVUDP6_CON, o->method, 0);
	int rc = evudp6_uri_add_options(&j->u, &b, &j->dest);
	if (o->content_format >= 0)
		evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_CONTENT_FORMAT, (uint32_t)o->content_format);
	if (o->accept >= 0)
		evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_ACCEPT, (uint32_t)o->accept);
	for (size_t i = 0; i < o->nextra; i++) {
		char why[128];
		if (probe_option_length_check(o->extra[i].number, o->extra[i].len, why, sizeof(why)) < 0) {
			probe_warn("%s: cannot build the request: %s", j->uri, why);
			job_end(j, PROBE_EXIT_USAGE);
			return;
		}
		evudp6_msg_builder_add_opt(&b, o->extra[i].number, o->extra[i].value, o->extra[i].len);
	}
	if (o->payload)
		evudp6_msg_builder_set_payload(&b, o->payload, o->payload_len);
	if (rc == 0)
		rc = b.err;
	if (rc < 0) {
		probe_warn("%s: cannot build the request: %s", j->uri, evudp6_strerror(rc));
		job_end(j, PROBE_EXIT_USAGE);
		return;
	}
	unsigned int wait_ms = 0;
	if (j->multicast)
		wait_ms = (unsigned int)lround(o->wait_s * 1000.0);
	if (wait_ms == 0 && j->multicast)
		wait_ms = 1;
	j->t_sent = probe_now_ms();
	rc = evudp6_messenger_request(j->c->m, &j->dest, &b, wait_ms, response_cb, j, &j->req);
	if (rc < 0) {
		j->req = NULL;
		job_end(j, send_failed(j, rc, -1));
		return;
	}
	verbose_request(j, &b);
}

/* ------------------------------------------------------------ ping */

static void ping_done(struct probe_job *j)
{
	double avg = j->answered ? j->rtt_sum / j->answered : 0.0;
	probe_out_ping_summary(j->uri, j->sent, j->answered, j->errors, j->rtt_min, avg, j->rtt_max,
	                       probe_now_ms() - j->t_start);
	int code = PROBE_EXIT_OK;
	if (j->errors)
		code = PROBE_EXIT_NETWORK;
	else if (j->answered < j->sent)
		code = PROBE_EXIT_TIMEOUT;
	job_end(j, code);
}

static void ping_send(struct probe_job *j);

static void ping_schedule(struct probe_job *j)
{
	if (j->stop_sending || j->ended)
		return;
	struct timeval tv;
	double s = j->o->interval_s;
	tv.tv_sec = (long)s;
	tv.tv_usec = (long)((s - (double)tv.tv_sec) * 1e6);
	event_add(j->tick, &tv);
}

static void ping_cb(struct evudp6_request *r, int err, const struct evudp6_msg *rsp,
                    const struct evudp6_addr *remote, const struct evudp6_icmp *icmp, void *arg)
{
	(void)r;
	struct ping_slot *s = arg;
	struct probe_job *j = s->job;
	if (err == -EVUDP6_E_SHUTDOWN || j->ended)
		return;
	double rtt = probe_now_ms() - s->t0;
	s->used = false;
	s->r = NULL;
	j->pending--;
	if (err == 0) {
		j->answered++;
		if (j->answered == 1 || rtt < j->rtt_min)
			j->rtt_min = rtt;
		if (rtt > j->rtt_max)
			j->rtt_max = rtt;
		j->rtt_sum += rtt;
		probe_out_ping(j->uri, s->seq, rsp, remote, rtt);
	} else {
		if (err != -EVUDP6_E_TIMEOUT)
			j->errors++;
		report_exchange_error(j, err, icmp, remote, s->t0, s->seq);
	}
	if (j->stop_sending && j->pending == 0)
		ping_done(j);
	else if (j->o->interval_s <= 0 && !j->stop_sending)
		ping_schedule(j);
}

static void ping_send(struct probe_job *j)
{
	struct ping_slot *s = NULL;
	for (size_t i = 0; i < PING_SLOTS && !s; i++)
		if (!j->slot[i].used)
			s = &j->slot[i];
	if (!s) {
		/* Too many outstanding: try again at the next tick. */
		ping_schedule(j);
		return;
	}
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_EMPTY, 0);
	s->job = j;
	s->seq = (int)j->sent + 1;
	s->t0 = probe_now_ms();
	j->t_sent = s->t0;
	j->sent++;
	int rc = evudp6_messenger_request(j->c->m, &j->dest, &b, 0, ping_cb, s, &s->r);
	if (rc < 0) {
		int code = send_failed(j, rc, s->seq);
		if (code != PROBE_EXIT_NETWORK) {
			job_end(j, code);
			return;
		}
		j->errors++;
	} else {
		s->used = true;
		j->pending++;
		verbose_request(j, &b);
	}
	if (j->o->count && j->sent >= j->o->count)
		j->stop_sending = true;
	if (j->stop_sending) {
		if (j->pending == 0)
			ping_done(j);
	} else if (j->o->interval_s > 0 || rc < 0) {
		ping_schedule(j);
	}
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	ping_send(arg);
}

/* Ctrl-C ends a ping series with its summary, as ping(8) does. */
static void sigint_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct probe_job *j = arg;
	j->stop_sending = true;
	event_del(j->tick);
	for (size_t i = 0; i < PING_SLOTS; i++) {
		if (j->slot[i].used) {
			evudp6_request_cancel(j->slot[i].r);
			j->slot[i].used = false;
			j->pending--;
		}
	}
	if (j->dest.remote.sin6_family)
		ping_done(j);
	else
		job_end(j, PROBE_EXIT_TIMEOUT);
}

/* ------------------------------------------------------------ start */

static void resolved_cb(int result, const struct evudp6_addr *addr, void *arg)
{
	struct probe_job *j = arg;
	j->resolving = NULL;
	if (j->ended || result == -EVUDP6_E_CANCELLED)
		return;
	if (result < 0) {
		report_resolve_error(j, result);
		return;
	}
	j->dest = *addr;
	j->multicast = evudp6_addr_is_multicast(&j->dest);
	if (j->multicast && j->o->ifname && !j->dest.has_local) {
		/* An IPv4 group (or a zone-less IPv6 one) leaves through the
		 * interface the operator named: interface-only pktinfo. */
		struct in6_addr any = IN6ADDR_ANY_INIT;
		if (evudp6_addr_is_v4mapped(&j->dest)) {
			any.s6_addr[10] = 0xff;
			any.s6_addr[11] = 0xff;
		}
		evudp6_addr_set_local(&j->dest, &any, if_nametoindex(j->o->ifname));
	}
	if (j->o->mode == PROBE_PING) {
		if (j->multicast) {
			probe_warn("%s: CoAP ping is for one endpoint, not a multicast group", j->uri);
			job_end(j, PROBE_EXIT_USAGE);
			return;
		}
		ping_send(j);
		return;
	}
	if (j->multicast && j->deadline)
		event_del(j->deadline); /* --wait bounds a multicast request */
	send_request(j);
}

/* A multicast group literal: the address is built here, with the interface's index as its scope. */
static bool literal_group(struct probe_job *j, const char *ifname)
{
	struct evudp6_addr a;
	unsigned int scope = 0;
	if (strchr(j->u.host, ':')) {
		/* The URI's zone, or else the interface (copied into the zone). */
		const char *zone = j->u.zone[0] ? j->u.zone : ifname;
		char *end;
		unsigned long n = strtoul(zone, &end, 10);
		scope = *zone && !*end ? (unsigned int)n : if_nametoindex(zone);
		if (!scope)
			return false; /* the resolver reports the unknown zone */
	}
	if (evudp6_addr_from_literal(&a, j->u.host, j->u.port, scope) < 0 || !evudp6_addr_is_multicast(&a))
		return false;
	j->direct_addr = a;
	j->direct_set = true;
	return true;
}

static void direct_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct probe_job *j = arg;
	resolved_cb(0, &j->direct_addr, j);
}

int probe_job_start(struct probe_client *c, const struct probe_opts *o, const char *uri,
                    probe_job_done_cb done, void *arg)
{
	struct probe_job *j = calloc(1, sizeof(*j));
	if (!j || !(j->uri = strdup(uri))) {
		free(j);
		probe_warn("out of memory");
		return PROBE_EXIT_OSERR;
	}
	j->c = c;
	j->o = o;
	j->done = done;
	j->arg = arg;
	j->t_start = probe_now_ms();
	j->finish = evtimer_new(c->base, finish_cb, j);
	j->tick = evtimer_new(c->base, tick_cb, j);
	j->deadline = evtimer_new(c->base, deadline_cb, j);
	if (!j->finish || !j->tick || !j->deadline) {
		job_free(j);
		probe_warn("out of memory");
		return PROBE_EXIT_OSERR;
	}

	int rc = evudp6_uri_parse(&j->u, uri);
	if (rc < 0) {
		if (rc == -EVUDP6_E_NOT_MINE)
			probe_warn("%s: only coap:// URIs are served here", uri);
		else
			probe_warn("%s: not a usable URI: %s", uri, evudp6_strerror(rc));
		job_free(j);
		return PROBE_EXIT_USAGE;
	}
	/* RFC 7252 5.10 bounds every value: say which one is out before
	 * anything is resolved or sent. */
	struct evudp6_opt part;
	for (size_t i = 0; evudp6_uri_option(&j->u, i, &part); i++) {
		char why[128];
		if (probe_option_length_check(part.number, part.len, why, sizeof(why)) < 0) {
			probe_warn("%s: not a usable URI: %s", uri, why);
			job_free(j);
			return PROBE_EXIT_USAGE;
		}
	}
	if (o->ifname) {
		if (if_nametoindex(o->ifname) == 0) {
			probe_warn("--interface %s: no such interface", o->ifname);
			job_free(j);
			return PROBE_EXIT_USAGE;
		}
		/* An IPv6 literal without a zone takes the named interface. */
		if (j->u.host_is_literal && strchr(j->u.host, ':') && !j->u.zone[0])
			snprintf(j->u.zone, sizeof(j->u.zone), "%s", o->ifname);
	}
	if (o->mode == PROBE_PING && (j->u.nparts > 0 || o->payload)) {
		probe_warn("%s: a CoAP ping has no path, query or payload", uri);
		job_free(j);
		return PROBE_EXIT_USAGE;
	}
	if (o->mode == PROBE_PING) {
		j->sigint = evsignal_new(c->base, SIGINT, sigint_cb, j);
		if (j->sigint)
			event_add(j->sigint, NULL);
	}
	if (o->ifname && j->u.host_is_literal && literal_group(j, o->ifname)) {
		/* The resolver's route check cannot be told the interface of an
		 * IPv4 group, and a host may have no route for 224.0.0.0/4 at
		 * all: a group literal sent through a named interface needs no
		 * resolution. The callback runs from the loop, as the
		 * resolver's would. */
		event_assign(&j->direct, c->base, -1, 0, direct_cb, j);
		event_active(&j->direct, 0, 0);
		return 0;
	}
	rc = evudp6_resolve_uri(c->resolver, &j->u, resolved_cb, j, &j->resolving);
	if (rc < 0) {
		j->resolving = NULL;
		if (rc == -EVUDP6_E_ZONE_UNKNOWN || rc == -EVUDP6_E_NOT_LITERAL) {
			struct probe_err_info e = {
			    .kind = "resolve", .uri = uri, .err = rc, .elapsed_ms = 0.0, .seq = -1};
			probe_out_error(&e);
			job_free(j);
			return PROBE_EXIT_RESOLVE;
		}
		probe_warn("%s: %s", uri, evudp6_strerror(rc));
		job_free(j);
		return PROBE_EXIT_USAGE;
	}
	if (o->mode == PROBE_REQUEST && o->timeout_s > 0) {
		struct timeval tv;
		tv.tv_sec = (long)o->timeout_s;
		tv.tv_usec = (long)((o->timeout_s - (double)tv.tv_sec) * 1e6);
		event_add(j->deadline, &tv);
	}
	return 0;
}
