/*
 * evudp6-demo — what evudp6 does, on loopback, in one process.
 *
 * A CoAP server transport on [::]:PORT and a client transport share one
 * event_base. The client sends GETs to ::1, 127.0.0.1 and 127.0.0.2 (each
 * answered from the address asked: pktinfo in, pktinfo out) and to a
 * closed port on ::1 and 127.0.0.1 (the ICMP error arrives through the
 * error queue of the unconnected socket, with its details and the quoted
 * request, within microseconds).
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include <evudp6.h>

struct demo {
	struct event_base *base;
	struct evudp6_transport *server, *client;
	uint16_t port, closed;
	int step;
	uint16_t mid;
	struct timespec sent;
	struct event *timeout;
	int failures;
};

static const struct {
	const char *host;
	bool closed;
} steps[] = {
    {"::1", false}, {"127.0.0.1", false}, {"127.0.0.2", false}, {"::1", true}, {"127.0.0.1", true},
};

static double ms_since(const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) * 1e3 + (double)(now.tv_nsec - t0->tv_nsec) / 1e6;
}

static void local_text(const struct evudp6_addr *a, char *buf, size_t len)
{
	struct evudp6_addr l = *a;
	if (!a->has_local) {
		snprintf(buf, len, "?");
		return;
	}
	l.remote.sin6_addr = a->local_addr;
	l.remote.sin6_port = htons(EVUDP6_DEFAULT_PORT);
	l.remote.sin6_scope_id = 0;
	evudp6_addr_hostinfo(&l, buf, len);
}

/* Server: answer every request with 2.05 saying who asked whom. */
static void server_datagram(struct evudp6_transport *t, const uint8_t *data, size_t len,
                            const struct evudp6_addr *from, void *arg)
{
	(void)arg;
	struct evudp6_msg req;
	if (evudp6_msg_decode(&req, data, len) < 0 || req.code != EVUDP6_GET)
		return;
	char who[EVUDP6_HOSTINFO_MAX], asked[EVUDP6_HOSTINFO_MAX], text[160];
	evudp6_addr_hostinfo(from, who, sizeof(who));
	local_text(from, asked, sizeof(asked));
	int n = snprintf(text, sizeof(text), "you are %s, you asked %s", who, asked);
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, EVUDP6_ACK, EVUDP6_CONTENT, req.mid);
	evudp6_msg_builder_set_token(&b, req.token, req.tkl);
	evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_CONTENT_FORMAT, 0);
	evudp6_msg_builder_set_payload(&b, text, (size_t)n);
	uint8_t out[256];
	ssize_t len_out = evudp6_msg_encode(&b, out, sizeof(out));
	struct evudp6_addr to;
	evudp6_addr_response(from, &to);
	if (len_out > 0)
		evudp6_transport_send(t, &to, out, (size_t)len_out);
}

static void next_step(struct demo *d);

static void client_datagram(struct evudp6_transport *t, const uint8_t *data, size_t len,
                            const struct evudp6_addr *from, void *arg)
{
	(void)t;
	struct demo *d = arg;
	struct evudp6_msg m;
	if (evudp6_msg_decode(&m, data, len) < 0 || m.mid != d->mid)
		return;
	double ms = ms_since(&d->sent);
	char code[EVUDP6_CODE_STR_MAX], who[EVUDP6_HOSTINFO_MAX], at[EVUDP6_HOSTINFO_MAX];
	evudp6_addr_hostinfo(from, who, sizeof(who));
	local_text(from, at, sizeof(at));
	printf("   <- %s %s from %s (arrived at %s) in %.3f ms: \"%.*s\"\n", evudp6_msg_type_name(m.type),
	       evudp6_code_str(m.code, code), who, at, ms, (int)m.payload_len, (const char *)m.payload);
	/* The answer must come from exactly the address that was asked. */
	struct evudp6_addr asked;
	evudp6_addr_from_literal(&asked, steps[d->step].host, d->port, 0);
	if (steps[d->step].closed || !evudp6_addr_equal(&asked, from)) {
		printf("   !! expected the answer from %s\n", steps[d->step].host);
		d->failures++;
	}
	d->step++;
	next_step(d);
}

static void client_error(struct evudp6_transport *t, int err, const struct evudp6_icmp *icmp,
                         const struct evudp6_addr *remote, const uint8_t *quoted, size_t quoted_len,
                         void *arg)
{
	(void)t;
	struct demo *d = arg;
	double ms = ms_since(&d->sent);
	char what[EVUDP6_ICMP_DESCRIBE_MAX] = "send error", who[EVUDP6_HOSTINFO_MAX];
	if (icmp)
		evudp6_icmp_describe(icmp, what, sizeof(what));
	evudp6_addr_hostinfo(remote, who, sizeof(who));
	struct evudp6_msg q;
	int qr = evudp6_msg_peek_header(&q, quoted, quoted_len);
	printf("   <- %s (%s) after %.3f ms, for %s; quoted request: mid 0x%04x%s\n", evudp6_strerror(err),
	       what, ms, who, qr == 0 ? q.mid : 0, qr == 0 && q.mid == d->mid ? " (ours)" : "");
	if (!steps[d->step].closed)
		d->failures++;
	d->step++;
	next_step(d);
}

static void step_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct demo *d = arg;
	printf("   <- no answer within 1 s\n");
	d->failures++;
	d->step++;
	next_step(d);
}

static void next_step(struct demo *d)
{
	event_del(d->timeout);
	if (d->step >= (int)(sizeof(steps) / sizeof(steps[0]))) {
		event_base_loopbreak(d->base);
		return;
	}
	uint16_t port = steps[d->step].closed ? d->closed : d->port;
	struct evudp6_addr to;
	evudp6_addr_from_literal(&to, steps[d->step].host, port, 0);
	char uri[EVUDP6_URI_BASE_MAX];
	evudp6_addr_uri_base(&to, uri, sizeof(uri));
	d->mid++;
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, d->mid);
	evudp6_msg_builder_set_token(&b, "\x71\x72", 2);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_PATH, "whoami", 6);
	uint8_t out[64];
	ssize_t n = evudp6_msg_encode(&b, out, sizeof(out));
	printf("-> CON GET %s/whoami%s\n", uri, steps[d->step].closed ? "   (nothing listens there)" : "");
	clock_gettime(CLOCK_MONOTONIC, &d->sent);
	int r = evudp6_transport_send(d->client, &to, out, (size_t)n);
	if (r < 0)
		printf("   send: %s\n", evudp6_strerror(r));
	struct timeval one = {1, 0};
	event_add(d->timeout, &one);
}

int main(void)
{
	struct demo d = {.base = event_base_new(), .mid = 0x4a00};
	struct evudp6_transport_config scfg = {.bind = "[::]:0"};
	int r = evudp6_transport_new(&d.server, d.base, &scfg, server_datagram, NULL, &d);
	if (r == 0)
		r = evudp6_transport_start(d.server);
	if (r == 0)
		r = evudp6_transport_new(&d.client, d.base, NULL, client_datagram, client_error, &d);
	if (r == 0)
		r = evudp6_transport_start(d.client);
	if (r < 0) {
		fprintf(stderr, "evudp6-demo: %s\n", evudp6_strerror(r));
		return 1;
	}
	d.port = evudp6_transport_port(d.server);
	/* A port nobody listens on: bind a socket, note the port, close it. */
	struct evudp6_transport *tmp;
	evudp6_transport_new(&tmp, d.base, NULL, server_datagram, NULL, NULL);
	evudp6_transport_start(tmp);
	d.closed = evudp6_transport_port(tmp);
	evudp6_transport_free(tmp);

	printf("evudp6 %s demo: one AF_INET6 socket serving IPv6 and IPv4 on port %u (loopback only)\n\n",
	       evudp6_version(), d.port);
	d.timeout = event_new(d.base, -1, 0, step_timeout, &d);
	next_step(&d);
	event_base_dispatch(d.base);

	struct evudp6_transport_stats st;
	evudp6_transport_stats(d.client, &st);
	printf("\nclient counters: %llu sent, %llu received, %llu ICMP errors from the error queue\n",
	       (unsigned long long)st.datagrams_out, (unsigned long long)st.datagrams_in,
	       (unsigned long long)st.errqueue);
	event_free(d.timeout);
	evudp6_transport_free(d.client);
	evudp6_transport_free(d.server);
	event_base_free(d.base);
	printf("%s\n", d.failures ? "demo: FAILED" : "demo: all as expected");
	return d.failures ? 1 : 0;
}
