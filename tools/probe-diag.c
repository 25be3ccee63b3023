/*
 * evudp6-probe — diagnoses beyond a response or an error: an empty ACK
 * (the server has the request, the response comes separately), an answer
 * carrying our token from another address than the one asked, a fallback
 * to the name's next address, and the name resolver's own complaints. For
 * people by default, one JSON object per event with --json.
 */
#include "config.h"

#include <string.h>

#include "probe.h"

static struct jw jw;

/* An address for people: without the port when both sides have the same. */
static void addr_brief(const struct evudp6_addr *a, bool with_port, char *buf, size_t len)
{
	if (with_port)
		probe_remote_text(a, buf, len);
	else
		probe_in6_text(&a->remote.sin6_addr, a->remote.sin6_scope_id, buf, len);
}

void probe_out_ack(const char *uri, const struct evudp6_addr *from, double elapsed_ms)
{
	char who[EVUDP6_HOSTINFO_MAX];
	probe_remote_text(from, who, sizeof(who));
	if (probe_o->json) {
		jw_begin(&jw, "ack");
		jw_str(&jw, "uri", uri);
		jw_str(&jw, "from", who);
		jw_ms(&jw, "elapsed_ms", elapsed_ms);
		jw_str(&jw, "text", "acknowledged, waiting for the separate response");
		jw_emit(&jw);
		return;
	}
	if (probe_o->quiet)
		return;
	printf("acknowledged by %s after %.3f ms, waiting for the separate response\n", who, elapsed_ms);
	fflush(stdout);
}

void probe_wrong_source_text(struct sb *b, const struct evudp6_addr *asked, const struct evudp6_addr *from)
{
	char a[EVUDP6_HOSTINFO_MAX], f[EVUDP6_HOSTINFO_MAX];
	bool ports = evudp6_addr_port(asked) != evudp6_addr_port(from);
	addr_brief(asked, ports, a, sizeof(a));
	addr_brief(from, ports, f, sizeof(f));
	sb_printf(b, "a response with our token came from %s, not from %s that was asked", f, a);
}

void probe_out_fallback(const char *uri, const struct evudp6_addr *failed, const char *why,
                        const struct evudp6_addr *next)
{
	char f[EVUDP6_HOSTINFO_MAX], n[EVUDP6_HOSTINFO_MAX];
	probe_remote_text(failed, f, sizeof(f));
	probe_remote_text(next, n, sizeof(n));
	if (probe_o->json) {
		jw_begin(&jw, "fallback");
		jw_str(&jw, "uri", uri);
		jw_str(&jw, "failed", f);
		jw_str(&jw, "reason", why);
		jw_str(&jw, "next", n);
		jw_emit(&jw);
		return;
	}
	/* On standard error with -q: it is not the payload. */
	FILE *out = probe_o->quiet ? stderr : stdout;
	fprintf(out, "%s: %s; trying the next address, %s\n", f, why, n);
	fflush(out);
}

void probe_out_dns_log(bool warning, const char *msg)
{
	if (probe_o->json) {
		jw_begin(&jw, "log");
		jw_str(&jw, "source", "libevent");
		jw_str(&jw, "level", warning ? "warning" : "info");
		jw_str(&jw, "text", msg);
		jw_emit(&jw);
		return;
	}
	/* Only with -v: the probe's verdict says what matters. */
	if (probe_o->verbose)
		fprintf(stderr, "evudp6-probe: libevent: %s\n", msg);
}
