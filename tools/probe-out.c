/*
 * evudp6-probe — what the probe prints: for people by default, one JSON
 * object per event with --json (the events are listed in evudp6-probe(1)).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "probe.h"

struct probe_opts *probe_o;

static struct jw jw;

double probe_now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

void probe_in6_text(const struct in6_addr *a, uint32_t scope, char *buf, size_t len)
{
	char t[INET6_ADDRSTRLEN] = "?";
	if (IN6_IS_ADDR_V4MAPPED(a))
		inet_ntop(AF_INET, &a->s6_addr[12], t, sizeof(t));
	else
		inet_ntop(AF_INET6, a, t, sizeof(t));
	if (scope) {
		char ifn[IF_NAMESIZE];
		if (if_indextoname(scope, ifn))
			snprintf(buf, len, "%s%%%s", t, ifn);
		else
			snprintf(buf, len, "%s%%%u", t, scope);
	} else {
		snprintf(buf, len, "%s", t);
	}
}

void probe_remote_text(const struct evudp6_addr *a, char *buf, size_t len)
{
	if (evudp6_addr_hostinfo(a, buf, len) < 0)
		snprintf(buf, len, "?");
}

void probe_local_text(const struct evudp6_addr *a, char *buf, size_t len)
{
	if (evudp6_addr_hostinfo_local(a, buf, len) < 0)
		snprintf(buf, len, "?");
}

static void netif_text(const struct evudp6_addr *a, char *buf, size_t len)
{
	if (evudp6_addr_netif(a, buf, len) < 0)
		buf[0] = '\0';
}

static const char *fmt_ms(double ms, char buf[32])
{
	if (ms < 1000.0)
		snprintf(buf, 32, "%.3f ms", ms);
	else
		snprintf(buf, 32, "%.3f s", ms / 1000.0);
	return buf;
}

void probe_warn(const char *fmt, ...)
{
	va_list ap;
	fputs("evudp6-probe: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void probe_out_note(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	char *text = malloc((size_t)n + 1);
	if (!text)
		return;
	va_start(ap, fmt);
	vsnprintf(text, (size_t)n + 1, fmt, ap);
	va_end(ap);
	if (probe_o->json) {
		/* Blank lines that separate blocks for people mean nothing here. */
		const char *t = text;
		while (*t == '\n')
			t++;
		jw_begin(&jw, "note");
		jw_str(&jw, "text", t);
		jw_emit(&jw);
	} else if (!probe_o->quiet) {
		printf("%s\n", text);
		fflush(stdout);
	}
	free(text);
}

/* ------------------------------------------------------------ options */

static void block_text(struct sb *b, uint32_t v)
{
	unsigned int szx = v & 7;
	if (szx == 7)
		sb_printf(b, " (block %u, %s, BERT)", v >> 4, v & 8 ? "more" : "last");
	else
		sb_printf(b, " (block %u, %s, size %u)", v >> 4, v & 8 ? "more" : "last", 16u << szx);
}

static void quoted_text(struct sb *b, const uint8_t *p, size_t n)
{
	sb_putc(b, '"');
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '"' || p[i] == '\\')
			sb_printf(b, "\\%c", p[i]);
		else if (p[i] < 0x20 || p[i] >= 0x7f)
			sb_printf(b, "\\x%02x", p[i]);
		else
			sb_putc(b, (char)p[i]);
	}
	sb_putc(b, '"');
}

static void hex_text(struct sb *b, const uint8_t *p, size_t n)
{
	if (n == 0) {
		sb_puts(b, "(empty)");
		return;
	}
	sb_puts(b, "0x");
	for (size_t i = 0; i < n; i++)
		sb_printf(b, "%02x", p[i]);
}

/* One option for people: "Content-Format: 40 (application/link-format)". */
static void opt_human(struct sb *b, const struct evudp6_opt *o)
{
	const char *name = evudp6_opt_name(o->number);
	if (name)
		sb_printf(b, "  %s: ", name);
	else
		sb_printf(b, "  Option %u: ", o->number);
	uint32_t v;
	switch (evudp6_opt_format(o->number)) {
	case EVUDP6_OPT_FORMAT_UINT:
		if (evudp6_opt_uint(o, &v) < 0) {
			hex_text(b, o->value, o->len);
			break;
		}
		sb_printf(b, "%u", v);
		if (o->number == EVUDP6_OPT_CONTENT_FORMAT || o->number == EVUDP6_OPT_ACCEPT) {
			const char *cf = evudp6_content_format_name(v);
			if (cf)
				sb_printf(b, " (%s)", cf);
		} else if (o->number == EVUDP6_OPT_BLOCK1 || o->number == EVUDP6_OPT_BLOCK2) {
			block_text(b, v);
		} else if (o->number == EVUDP6_OPT_MAX_AGE) {
			sb_puts(b, " s");
		}
		break;
	case EVUDP6_OPT_FORMAT_STRING:
		quoted_text(b, o->value, o->len);
		break;
	case EVUDP6_OPT_FORMAT_EMPTY:
		if (o->len)
			hex_text(b, o->value, o->len);
		else
			sb_puts(b, "(set)");
		break;
	default:
		hex_text(b, o->value, o->len);
	}
	sb_putc(b, '\n');
}

static void opt_json(struct jw *w, const struct evudp6_opt *o)
{
	jw_obj(w, NULL);
	jw_int(w, "number", o->number);
	jw_str(w, "name", evudp6_opt_name(o->number));
	uint32_t v;
	switch (evudp6_opt_format(o->number)) {
	case EVUDP6_OPT_FORMAT_UINT:
		if (evudp6_opt_uint(o, &v) < 0) {
			jw_hex(w, "value_hex", o->value, o->len);
			break;
		}
		jw_int(w, "value", v);
		if (o->number == EVUDP6_OPT_CONTENT_FORMAT || o->number == EVUDP6_OPT_ACCEPT) {
			jw_str(w, "format", evudp6_content_format_name(v));
		} else if (o->number == EVUDP6_OPT_BLOCK1 || o->number == EVUDP6_OPT_BLOCK2) {
			jw_int(w, "block_num", v >> 4);
			jw_bool(w, "block_more", (v & 8) != 0);
			if ((v & 7) != 7)
				jw_int(w, "block_size", 16 << (v & 7));
		}
		break;
	case EVUDP6_OPT_FORMAT_STRING:
		if (probe_utf8_valid(o->value, o->len))
			jw_strn(w, "value", o->value, o->len);
		else
			jw_hex(w, "value_hex", o->value, o->len);
		break;
	case EVUDP6_OPT_FORMAT_EMPTY:
		if (o->len)
			jw_hex(w, "value_hex", o->value, o->len);
		else
			jw_bool(w, "value", true);
		break;
	default:
		jw_hex(w, "value_hex", o->value, o->len);
	}
	jw_close(w);
}

/* ------------------------------------------------------------ payload */

static void hexdump(struct sb *b, const uint8_t *p, size_t n)
{
	for (size_t off = 0; off < n; off += 16) {
		sb_printf(b, "%08zx ", off);
		for (size_t i = 0; i < 16; i++) {
			if (i == 8)
				sb_putc(b, ' ');
			if (off + i < n)
				sb_printf(b, " %02x", p[off + i]);
			else
				sb_puts(b, "   ");
		}
		sb_puts(b, "  |");
		for (size_t i = 0; i < 16 && off + i < n; i++) {
			uint8_t c = p[off + i];
			sb_putc(b, c >= 0x20 && c < 0x7f ? (char)c : '.');
		}
		sb_puts(b, "|\n");
	}
}

static int content_format_of(const struct evudp6_msg *m)
{
	struct evudp6_opt o;
	uint32_t v;
	if (evudp6_msg_find_opt(m, EVUDP6_OPT_CONTENT_FORMAT, &o) && evudp6_opt_uint(&o, &v) == 0)
		return (int)v;
	return -1;
}

/* Shown as text: a text format, or no format and printable UTF-8. */
static bool payload_is_text(const uint8_t *p, size_t n, int cf)
{
	if (cf >= 0 && !evudp6_content_format_is_text((uint32_t)cf))
		return false;
	return probe_is_text(p, n);
}

static void payload_human(struct sb *b, const uint8_t *p, size_t n, int cf)
{
	if (n == 0)
		return;
	if (probe_o->raw) {
		/* --raw: the bytes as they came, nothing added. */
		sb_putn(b, (const char *)p, n);
		return;
	}
	if (probe_render_payload(b, p, n, cf) == 0)
		return;
	if (payload_is_text(p, n, cf)) {
		sb_putn(b, (const char *)p, n);
		if (p[n - 1] != '\n')
			sb_putc(b, '\n');
	} else {
		hexdump(b, p, n);
	}
}

/* The payload on one line, for lists of responders. */
static void payload_oneline(struct sb *b, const uint8_t *p, size_t n, int cf)
{
	const size_t max = 200;
	if (n == 0) {
		sb_puts(b, "(no payload)");
	} else if (payload_is_text(p, n, cf)) {
		for (size_t i = 0; i < n && i < max; i++)
			sb_putc(b, p[i] == '\n' || p[i] == '\r' || p[i] == '\t' ? ' ' : (char)p[i]);
		if (n > max)
			sb_puts(b, "...");
	} else {
		sb_printf(b, "%zu bytes:", n);
		for (size_t i = 0; i < n && i < 16; i++)
			sb_printf(b, " %02x", p[i]);
		if (n > 16)
			sb_puts(b, " ...");
	}
}

static void payload_json(struct jw *w, const uint8_t *p, size_t n, int cf)
{
	jw_int(w, "payload_len", (long long)n);
	if (n == 0)
		return;
	if (payload_is_text(p, n, cf)) {
		jw_strn(w, "payload", p, n);
		if (cf == 40) {
			jw_arr(w, "links");
			for (size_t i = 0; i < n;) {
				size_t end = probe_link_part_end(p, n, i, ',');
				size_t next = end < n ? end + 1 : n;
				jw_strn(w, NULL, p + i, end - i);
				i = next;
			}
			jw_close(w);
		}
	} else {
		jw_hex(w, "payload_hex", p, n);
		struct sb diag = {0};
		if (probe_cf_is_cbor(cf) && probe_cbor_diag(&diag, p, n, false) == 0)
			jw_str(w, "payload_diag", diag.s);
		sb_free(&diag);
	}
}

/* ------------------------------------------------------------ events */

static void addr_json(struct jw *w, const struct evudp6_addr *a)
{
	char t[EVUDP6_HOSTINFO_MAX], ifn[EVUDP6_NETIF_MAX];
	probe_remote_text(a, t, sizeof(t));
	jw_str(w, "from", t);
	if (a->has_local && evudp6_addr_hostinfo_local(a, t, sizeof(t)) >= 0)
		jw_str(w, "to", t);
	else
		jw_null(w, "to");
	netif_text(a, ifn, sizeof(ifn));
	if (ifn[0])
		jw_str(w, "interface", ifn);
	else
		jw_null(w, "interface");
}

/* -q: a success's payload alone on standard output, as the data; an
 * error response on standard error with its code, so that a script that
 * keeps standard output gets no error text as data. */
static void quiet_response(const struct probe_rsp_info *r, int cf)
{
	const struct evudp6_msg *m = r->rsp;
	if (EVUDP6_CODE_CLASS(m->code) == 2) {
		if (m->payload_len)
			fwrite(m->payload, 1, m->payload_len, stdout);
		fflush(stdout);
		return;
	}
	char code[EVUDP6_CODE_STR_MAX], from[EVUDP6_HOSTINFO_MAX];
	struct sb b = {0};
	probe_remote_text(r->from, from, sizeof(from));
	sb_printf(&b, "evudp6-probe: %s from %s", evudp6_code_str(m->code, code), from);
	if (m->payload_len) {
		sb_puts(&b, ": ");
		payload_oneline(&b, m->payload, m->payload_len, cf);
	}
	sb_putc(&b, '\n');
	fwrite(b.s, 1, b.len, stderr);
	fflush(stderr);
	sb_free(&b);
}

/* -v: the request as it left, every option shown as a response's are. */
void probe_out_request_sent(const struct evudp6_msg *m, const struct evudp6_addr *to)
{
	char code[EVUDP6_CODE_STR_MAX], dest[EVUDP6_HOSTINFO_MAX], ifn[EVUDP6_NETIF_MAX];
	struct evudp6_opt_iter it;
	struct evudp6_opt o;
	struct sb b = {0};
	probe_remote_text(to, dest, sizeof(dest));
	netif_text(to, ifn, sizeof(ifn));
	sb_printf(&b, "-> %s %s to %s%s%s (mid 0x%04x, token ", evudp6_msg_type_name(m->type),
	          evudp6_code_str(m->code, code), dest, ifn[0] ? " on " : "", ifn, m->mid);
	if (m->tkl == 0)
		sb_puts(&b, "none");
	for (size_t i = 0; i < m->tkl; i++)
		sb_printf(&b, "%02x", m->token[i]);
	sb_printf(&b, ", %zu payload byte%s)\n", m->payload_len, m->payload_len == 1 ? "" : "s");
	evudp6_opt_iter_init(&it, m);
	while (evudp6_opt_iter_next(&it, &o) == 1)
		opt_human(&b, &o);
	fwrite(b.s, 1, b.len, stdout);
	fflush(stdout);
	sb_free(&b);
}

void probe_out_response(const struct probe_rsp_info *r)
{
	const struct evudp6_msg *m = r->rsp;
	char code[EVUDP6_CODE_STR_MAX], from[EVUDP6_HOSTINFO_MAX], to[EVUDP6_HOSTINFO_MAX];
	char ifn[EVUDP6_NETIF_MAX], ms[32];
	int cf = content_format_of(m);
	struct evudp6_opt_iter it;
	struct evudp6_opt o;

	if (probe_o->json) {
		jw_begin(&jw, r->notification ? "notification" : "response");
		jw_str(&jw, "uri", r->uri);
		if (r->notification) {
			jw_int(&jw, "n", r->number);
			jw_int(&jw, "seq", r->seq);
		}
		addr_json(&jw, r->from);
		jw_bool(&jw, "multicast", r->multicast);
		jw_ms(&jw, r->notification ? "age_ms" : "rtt_ms", r->rtt_ms);
		jw_str(&jw, "type", evudp6_msg_type_name(m->type));
		snprintf(code, sizeof(code), "%u.%02u", EVUDP6_CODE_CLASS(m->code),
		         EVUDP6_CODE_DETAIL(m->code));
		jw_str(&jw, "code", code);
		jw_str(&jw, "code_name", evudp6_code_name(m->code));
		jw_int(&jw, "mid", m->mid);
		jw_hex(&jw, "token", m->token, m->tkl);
		jw_arr(&jw, "options");
		evudp6_opt_iter_init(&it, m);
		while (evudp6_opt_iter_next(&it, &o) == 1)
			opt_json(&jw, &o);
		jw_close(&jw);
		if (cf >= 0)
			jw_int(&jw, "content_format", cf);
		payload_json(&jw, m->payload, m->payload_len, cf);
		jw_emit(&jw);
		return;
	}
	if (probe_o->quiet) {
		quiet_response(r, cf);
		if (r->notification && EVUDP6_CODE_CLASS(m->code) == 2) {
			putchar('\n');
			fflush(stdout);
		}
		return;
	}
	struct sb b = {0};
	evudp6_code_str(m->code, code);
	probe_remote_text(r->from, from, sizeof(from));
	probe_local_text(r->from, to, sizeof(to));
	netif_text(r->from, ifn, sizeof(ifn));
	if (r->notification)
		sb_printf(&b, "#%u seq %ld ", r->number, r->seq);
	if (r->notification && probe_o->verbose == 0) {
		sb_printf(&b, "%s from %s after %s: ", code, from, fmt_ms(r->rtt_ms, ms));
		payload_oneline(&b, m->payload, m->payload_len, cf);
		sb_putc(&b, '\n');
	} else if (r->multicast && probe_o->verbose == 0) {
		sb_printf(&b, "%s from %s in %s: ", code, from, fmt_ms(r->rtt_ms, ms));
		payload_oneline(&b, m->payload, m->payload_len, cf);
		sb_putc(&b, '\n');
	} else {
		sb_printf(&b, "%s from %s in %s\n", code, from, fmt_ms(r->rtt_ms, ms));
		sb_printf(&b, "  arrived at %s%s%s (%s, mid 0x%04x, token ", to, ifn[0] ? " on " : "", ifn,
		          evudp6_msg_type_name(m->type), m->mid);
		if (m->tkl == 0)
			sb_puts(&b, "none");
		for (size_t i = 0; i < m->tkl; i++)
			sb_printf(&b, "%02x", m->token[i]);
		sb_puts(&b, ")\n");
		evudp6_opt_iter_init(&it, m);
		while (evudp6_opt_iter_next(&it, &o) == 1)
			opt_human(&b, &o);
		if (m->payload_len) {
			sb_putc(&b, '\n');
			payload_human(&b, m->payload, m->payload_len, cf);
		}
	}
	fwrite(b.s, 1, b.len, stdout);
	fflush(stdout);
	sb_free(&b);
}

/* "Connection refused (ICMPv6 port unreachable from ::1)" and the like. */
static void error_text(struct sb *b, const struct probe_err_info *e)
{
	if (e->text) {
		sb_puts(b, e->text);
		return;
	}
	if (strcmp(e->kind, "timeout") == 0) {
		sb_puts(b, "no response");
	} else if (strcmp(e->kind, "reset") == 0) {
		sb_puts(b, "reset by the peer (RST)");
	} else {
		sb_puts(b, evudp6_strerror(e->err));
	}
	if (e->icmp) {
		char d[EVUDP6_ICMP_DESCRIBE_MAX];
		if (evudp6_icmp_describe(e->icmp, d, sizeof(d)) >= 0)
			sb_printf(b, " (%s)", d);
	} else if (e->detail) {
		sb_printf(b, " (%s)", e->detail);
	}
}

void probe_out_error(const struct probe_err_info *e)
{
	struct sb text = {0};
	char who[EVUDP6_HOSTINFO_MAX], ms[32];
	error_text(&text, e);
	if (e->remote)
		probe_remote_text(e->remote, who, sizeof(who));
	if (probe_o->json) {
		jw_begin(&jw, "error");
		jw_str(&jw, "kind", e->kind);
		jw_str(&jw, "uri", e->uri);
		if (e->seq >= 0)
			jw_int(&jw, "seq", e->seq);
		if (e->remote)
			jw_str(&jw, "remote", who);
		else
			jw_null(&jw, "remote");
		int err = e->err < 0 ? -e->err : e->err;
		if (e->err)
			jw_str(&jw, "error", evudp6_strerror_name(e->err));
		else
			jw_null(&jw, "error"); /* a diagnosis, not an error code */
		if (err > 0 && err < EVUDP6_E_FIRST)
			jw_int(&jw, "errno", err);
		jw_str(&jw, "message", e->text ? e->text : evudp6_strerror(e->err));
		if (e->timeout)
			jw_str(&jw, "timeout", e->timeout);
		if (e->icmp) {
			char t[INET6_ADDRSTRLEN + IF_NAMESIZE + 2], what[96];
			jw_obj(&jw, "icmp");
			jw_str(&jw, "origin", evudp6_icmp_origin_name(e->icmp->origin));
			jw_int(&jw, "type", e->icmp->type);
			jw_int(&jw, "code", e->icmp->code);
			jw_str(&jw, "what", evudp6_icmp_type_name(e->icmp, what, sizeof(what)));
			if (e->icmp->has_offender) {
				probe_in6_text(&e->icmp->offender.sin6_addr, e->icmp->offender.sin6_scope_id,
				               t, sizeof(t));
				jw_str(&jw, "from", t);
			} else {
				jw_null(&jw, "from");
			}
			if (e->icmp->info)
				jw_int(&jw, "info", e->icmp->info);
			jw_close(&jw);
		} else {
			jw_null(&jw, "icmp");
		}
		if (e->detail)
			jw_str(&jw, "detail", e->detail);
		jw_ms(&jw, "elapsed_ms", e->elapsed_ms);
		jw_str(&jw, "text", text.s);
		jw_emit(&jw);
	} else {
		FILE *f = probe_o->quiet ? stderr : stdout;
		if (e->seq >= 0)
			fprintf(f, "%s: seq=%d %s after %s\n", e->remote ? who : e->uri, e->seq, text.s,
			        fmt_ms(e->elapsed_ms, ms));
		else
			fprintf(f, "%s: %s %s %s\n", e->remote ? who : e->uri, text.s,
			        e->timeout ? "in" : "after", fmt_ms(e->elapsed_ms, ms));
		fflush(f);
	}
	sb_free(&text);
}

void probe_out_ping(const char *uri, int seq, const struct evudp6_msg *rsp, const struct evudp6_addr *from,
                    double rtt_ms)
{
	char who[EVUDP6_HOSTINFO_MAX], to[EVUDP6_HOSTINFO_MAX], ifn[EVUDP6_NETIF_MAX];
	if (probe_o->json) {
		jw_begin(&jw, "ping");
		jw_str(&jw, "uri", uri);
		jw_int(&jw, "seq", seq);
		addr_json(&jw, from);
		jw_str(&jw, "type", evudp6_msg_type_name(rsp->type));
		jw_ms(&jw, "rtt_ms", rtt_ms);
		jw_emit(&jw);
		return;
	}
	if (probe_o->quiet)
		return;
	probe_remote_text(from, who, sizeof(who));
	probe_local_text(from, to, sizeof(to));
	netif_text(from, ifn, sizeof(ifn));
	printf("%s from %s: seq=%d time=%.3f ms", evudp6_msg_type_name(rsp->type), who, seq, rtt_ms);
	if (probe_o->verbose)
		printf(" (arrived at %s%s%s)", to, ifn[0] ? " on " : "", ifn);
	putchar('\n');
	fflush(stdout);
}

void probe_out_ping_summary(const char *uri, unsigned int sent, unsigned int answered, unsigned int errors,
                            double min, double avg, double max, double total_ms)
{
	double loss = sent ? 100.0 * (double)(sent - answered) / (double)sent : 0.0;
	if (probe_o->json) {
		jw_begin(&jw, "summary");
		jw_str(&jw, "kind", "ping");
		jw_str(&jw, "uri", uri);
		jw_int(&jw, "sent", sent);
		jw_int(&jw, "answered", answered);
		jw_int(&jw, "errors", errors);
		jw_int(&jw, "lost", sent - answered);
		jw_ms(&jw, "loss_pct", loss);
		if (answered) {
			jw_ms(&jw, "rtt_min_ms", min);
			jw_ms(&jw, "rtt_avg_ms", avg);
			jw_ms(&jw, "rtt_max_ms", max);
		} else {
			jw_null(&jw, "rtt_min_ms");
			jw_null(&jw, "rtt_avg_ms");
			jw_null(&jw, "rtt_max_ms");
		}
		jw_ms(&jw, "time_ms", total_ms);
		jw_emit(&jw);
		return;
	}
	FILE *f = probe_o->quiet ? stderr : stdout;
	fprintf(f, "--- %s CoAP ping statistics ---\n", uri);
	fprintf(f, "%u sent, %u answered, %.1f%% loss", sent, answered, loss);
	if (errors)
		fprintf(f, ", %u error%s", errors, errors == 1 ? "" : "s");
	fprintf(f, ", time %.0f ms\n", total_ms);
	if (answered)
		fprintf(f, "rtt min/avg/max = %.3f/%.3f/%.3f ms\n", min, avg, max);
	fflush(f);
}

void probe_out_multicast_summary(const char *uri, unsigned int responses, unsigned int responders,
                                 double wait_ms)
{
	if (probe_o->json) {
		jw_begin(&jw, "summary");
		jw_str(&jw, "kind", "multicast");
		jw_str(&jw, "uri", uri);
		jw_int(&jw, "responses", responses);
		jw_int(&jw, "responders", responders);
		jw_ms(&jw, "wait_ms", wait_ms);
		jw_emit(&jw);
		return;
	}
	FILE *f = probe_o->quiet ? stderr : stdout;
	fprintf(f, "--- %s: %u response%s from %u responder%s in %.1f s ---\n", uri, responses,
	        responses == 1 ? "" : "s", responders, responders == 1 ? "" : "s", wait_ms / 1000.0);
	fflush(f);
}

void probe_out_listening(const struct evudp6_addr *bound, const char *const *joined, size_t njoined)
{
	char a[EVUDP6_HOSTINFO_MAX];
	/* The bound address with its port, always written out. */
	char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	probe_in6_text(&bound->remote.sin6_addr, bound->remote.sin6_scope_id, host, sizeof(host));
	if (strchr(host, ':'))
		snprintf(a, sizeof(a), "[%s]:%u", host, evudp6_addr_port(bound));
	else
		snprintf(a, sizeof(a), "%s:%u", host, evudp6_addr_port(bound));
	if (probe_o->json) {
		jw_begin(&jw, "listening");
		jw_str(&jw, "address", a);
		jw_int(&jw, "port", evudp6_addr_port(bound));
		jw_arr(&jw, "joined");
		for (size_t i = 0; i < njoined; i++)
			jw_str(&jw, NULL, joined[i]);
		jw_close(&jw);
		jw_emit(&jw);
		return;
	}
	printf("listening on %s", a);
	for (size_t i = 0; i < njoined; i++)
		printf("%s%s", i ? ", " : ", joined ", joined[i]);
	putchar('\n');
	fflush(stdout);
}

/* "12:34:56.789", local time: the server log's clock. */
static void wall_clock(char *when, size_t len)
{
	struct timespec now;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &now);
	localtime_r(&now.tv_sec, &tm);
	size_t wl = strftime(when, len, "%H:%M:%S", &tm);
	snprintf(when + wl, len - wl, ".%03ld", now.tv_nsec / 1000000);
}

/* The request's path and query as a URI writes them (RFC 7252 6.5,
 * percent-encoded where needed), so that the log shows every byte and
 * nothing else: "/%22%0A%01%FF" and "a=1&b%26c". False when the request
 * holds more than a URI can (then the caller's text is shown). */
static bool logged_target(const struct evudp6_msg *m, char *path, size_t plen, const char **query)
{
	static const char prefix[] = "coap://x";
	struct evudp6_uri u;
	struct evudp6_addr any;
	char text[3 * EVUDP6_URI_VALUES_MAX + 2 * EVUDP6_URI_MAX_OPTS + 32];
	if (evudp6_addr_from_literal(&any, "::1", EVUDP6_DEFAULT_PORT, 0) < 0 ||
	    evudp6_uri_from_msg(&u, m, &any) < 0)
		return false;
	/* Only the path and the query: the authority is logged apart. */
	snprintf(u.host, sizeof(u.host), "x");
	u.zone[0] = '\0';
	u.host_is_literal = false;
	u.port = EVUDP6_DEFAULT_PORT;
	int n = evudp6_uri_format(&u, text, sizeof(text));
	if (n < (int)sizeof(prefix) - 1 || (size_t)n - (sizeof(prefix) - 1) >= plen)
		return false;
	memcpy(path, text + sizeof(prefix) - 1, (size_t)n - (sizeof(prefix) - 1) + 1);
	char *q = strchr(path, '?');
	*query = "";
	if (q) {
		*q = '\0';
		*query = q + 1;
	}
	return true;
}

void probe_out_request(const struct probe_req_log *l)
{
	const struct evudp6_msg *m = l->req;
	char target[3 * EVUDP6_URI_VALUES_MAX + 2 * EVUDP6_URI_MAX_OPTS + 32];
	const char *path = l->path, *query = l->query;
	if (logged_target(m, target, sizeof(target), &query))
		path = target;
	char from[EVUDP6_HOSTINFO_MAX], to[EVUDP6_HOSTINFO_MAX], ifn[EVUDP6_NETIF_MAX];
	char code[EVUDP6_CODE_STR_MAX], method[EVUDP6_CODE_STR_MAX], when[40];
	wall_clock(when, sizeof(when));
	probe_remote_text(l->from, from, sizeof(from));
	probe_local_text(l->from, to, sizeof(to));
	netif_text(l->from, ifn, sizeof(ifn));
	const char *mname = evudp6_code_name(m->code);
	if (!mname)
		mname = evudp6_code_str(m->code, method);
	if (probe_o->json) {
		jw_begin(&jw, "request");
		jw_str(&jw, "kind", "request");
		jw_str(&jw, "time", when);
		addr_json(&jw, l->from);
		jw_bool(&jw, "multicast", l->multicast);
		jw_str(&jw, "type", evudp6_msg_type_name(m->type));
		jw_str(&jw, "method", mname);
		jw_int(&jw, "mid", m->mid);
		jw_hex(&jw, "token", m->token, m->tkl);
		jw_str(&jw, "path", path);
		if (query && *query)
			jw_str(&jw, "query", query);
		jw_int(&jw, "payload_len", (long long)m->payload_len);
		if (l->code) {
			snprintf(code, sizeof(code), "%u.%02u", EVUDP6_CODE_CLASS(l->code),
			         EVUDP6_CODE_DETAIL(l->code));
			jw_str(&jw, "code", code);
			jw_str(&jw, "code_name", evudp6_code_name(l->code));
		} else {
			jw_null(&jw, "code");
		}
		if (l->note)
			jw_str(&jw, "note", l->note);
		jw_emit(&jw);
		return;
	}
	if (probe_o->quiet)
		return;
	printf("%s%s %s -> %s%s%s%s %s %s %s%s%s", l->prefix ? l->prefix : "", when, from, to,
	       ifn[0] ? " on " : "", ifn, l->multicast ? " (multicast)" : "", evudp6_msg_type_name(m->type),
	       mname, path, query && *query ? "?" : "", query ? query : "");
	if (m->payload_len)
		printf(" [%zu bytes]", m->payload_len);
	if (l->code)
		printf(" => %s", evudp6_code_str(l->code, code));
	if (l->note)
		printf(" (%s)", l->note);
	putchar('\n');
	fflush(stdout);
}

void probe_out_ping_received(const struct evudp6_msg *ping, const struct evudp6_addr *from,
                             const char *prefix)
{
	char rem[EVUDP6_HOSTINFO_MAX], to[EVUDP6_HOSTINFO_MAX], ifn[EVUDP6_NETIF_MAX], when[40];
	bool mcast = evudp6_addr_is_multicast_locally(from);
	wall_clock(when, sizeof(when));
	if (probe_o->json) {
		/* The same event as a request, so that one filter follows all
		 * that reached the server; kind tells them apart. */
		jw_begin(&jw, "request");
		jw_str(&jw, "kind", "ping");
		jw_str(&jw, "time", when);
		addr_json(&jw, from);
		jw_bool(&jw, "multicast", mcast);
		jw_str(&jw, "type", evudp6_msg_type_name(ping->type));
		jw_int(&jw, "mid", ping->mid);
		jw_str(&jw, "answer", "RST");
		jw_emit(&jw);
		return;
	}
	if (probe_o->quiet)
		return;
	probe_remote_text(from, rem, sizeof(rem));
	probe_local_text(from, to, sizeof(to));
	netif_text(from, ifn, sizeof(ifn));
	printf("%s%s %s -> %s%s%s%s %s ping mid %u => RST\n", prefix ? prefix : "", when, rem, to,
	       ifn[0] ? " on " : "", ifn, mcast ? " (multicast)" : "", evudp6_msg_type_name(ping->type),
	       (unsigned int)ping->mid);
	fflush(stdout);
}
