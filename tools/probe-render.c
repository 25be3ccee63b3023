/*
 * evudp6-probe — payloads rendered for people: CBOR in diagnostic notation
 * (RFC 8949 section 8), JSON indented, link format (RFC 6690) one link per
 * line with its attributes. Each renderer is bounded (nesting depth,
 * output size) and refuses what is not well-formed, so that the caller
 * then shows the bytes as they are. The content format is told apart by
 * its registered name, so any name table will do.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "probe.h"

/* Deeper nesting than this is shown as bytes, not rendered. */
#define RENDER_MAX_DEPTH 64
/* Rendered text larger than this (a CBOR bomb of tiny items) likewise. */
#define RENDER_MAX_OUT (1u << 20)

/* ------------------------------------------------------------ kinds */

static bool name_has(const char *name, const char *part)
{
	return name && strstr(name, part) != NULL;
}

bool probe_cf_is_cbor(int cf)
{
	const char *name = cf >= 0 ? evudp6_content_format_name((uint32_t)cf) : NULL;
	/* CWT, COSE and multipart-core are CBOR too (RFC 8392, 9052, 8710). */
	return name_has(name, "cbor") || name_has(name, "application/cose") ||
	       name_has(name, "application/cwt") || name_has(name, "application/multipart-core");
}

static bool cf_is_cbor_seq(int cf)
{
	return name_has(cf >= 0 ? evudp6_content_format_name((uint32_t)cf) : NULL, "cbor-seq");
}

static bool cf_is_json(int cf)
{
	const char *name = cf >= 0 ? evudp6_content_format_name((uint32_t)cf) : NULL;
	size_t n = name ? strlen(name) : 0;
	return n >= 4 && strcmp(name + n - 4, "json") == 0;
}

/* ------------------------------------------------------------ CBOR */

struct cbor_rd {
	const uint8_t *p, *end;
	struct sb *out;
};

/* The initial byte and its argument (RFC 8949 3): -1 if cut short or
 * reserved (additional information 28 to 30). *indef for 31. */
static int cbor_head(struct cbor_rd *r, unsigned int *major, unsigned int *ai, uint64_t *arg, bool *indef)
{
	if (r->p >= r->end)
		return -1;
	uint8_t ib = *r->p++;
	*major = ib >> 5;
	*ai = ib & 31;
	*indef = false;
	if (*ai < 24) {
		*arg = *ai;
		return 0;
	}
	if (*ai >= 28 && *ai <= 30)
		return -1;
	if (*ai == 31) {
		*indef = true;
		*arg = 0;
		return 0;
	}
	size_t len = (size_t)1 << (*ai - 24);
	if ((size_t)(r->end - r->p) < len)
		return -1;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++)
		v = v << 8 | *r->p++;
	*arg = v;
	return 0;
}

static double half_to_double(uint16_t h)
{
	int exp = (h >> 10) & 0x1f;
	int mant = h & 0x3ff;
	double v;
	if (exp == 0)
		v = ldexp(mant, -24);
	else if (exp != 31)
		v = ldexp(mant + 1024, exp - 25);
	else
		v = mant == 0 ? INFINITY : NAN;
	return h & 0x8000 ? -v : v;
}

/* Does @p t, or @p t with its last mantissa digit one up, read back as
 * @p v? printf rounds a tie to even (2^-24 to "...062e-08"), where the
 * shortest text that reads back may be the other neighbour ("...063"). */
static bool reads_back(char *t, double v)
{
	if (strtod(t, NULL) == v)
		return true;
	char *e = strchr(t, 'e');
	char *last = (e ? e : t + strlen(t)) - 1;
	char saved[64];
	snprintf(saved, sizeof(saved), "%s", t);
	for (char *d = last; d >= t; d--) {
		if (*d == '.')
			continue;
		if (*d < '0' || *d > '9')
			break;
		if (*d != '9') {
			(*d)++;
			if (strtod(t, NULL) == v)
				return true;
			break;
		}
		*d = '0';
	}
	memcpy(t, saved, strlen(saved) + 1);
	return false;
}

/* Shortest text that reads back as @p v, written as RFC 8949 Appendix A
 * does: "1.0", "100000.0", "1.0e+300", "5.960464477539063e-8". */
static void diag_float(struct sb *b, double v)
{
	if (isnan(v)) {
		sb_puts(b, "NaN");
		return;
	}
	if (isinf(v)) {
		sb_puts(b, v > 0 ? "Infinity" : "-Infinity");
		return;
	}
	char t[64];
	double a = fabs(v);
	if (a == 0.0 || (a >= 1e-5 && a < 1e16)) {
		for (int prec = 0; prec <= 20; prec++) {
			snprintf(t, sizeof(t), "%.*f", prec, v);
			if (reads_back(t, v))
				break;
		}
		sb_puts(b, t);
		if (!strchr(t, '.'))
			sb_puts(b, ".0");
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(t, sizeof(t), "%.*e", prec - 1, v);
		if (reads_back(t, v))
			break;
	}
	char *e = strchr(t, 'e');
	if (!e)
		return;
	sb_putn(b, t, (size_t)(e - t));
	if (!memchr(t, '.', (size_t)(e - t)))
		sb_puts(b, ".0");
	/* The exponent without leading zeros: "e-8", not "e-08". */
	sb_putc(b, 'e');
	const char *x = e + 1;
	if (*x == '+' || *x == '-')
		sb_putc(b, *x++);
	while (*x == '0' && x[1])
		x++;
	sb_puts(b, x);
}

static void diag_text(struct sb *b, const uint8_t *p, size_t n)
{
	sb_putc(b, '"');
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '"' || p[i] == '\\')
			sb_printf(b, "\\%c", p[i]);
		else if (p[i] < 0x20 || p[i] == 0x7f)
			sb_printf(b, "\\u%04x", p[i]);
		else
			sb_putc(b, (char)p[i]);
	}
	sb_putc(b, '"');
}

static void diag_bytes(struct sb *b, const uint8_t *p, size_t n)
{
	sb_puts(b, "h'");
	for (size_t i = 0; i < n; i++)
		sb_printf(b, "%02x", p[i]);
	sb_putc(b, '\'');
}

static int cbor_item(struct cbor_rd *r, int depth);

/* A byte or text string: definite, or indefinite as (_ chunk, chunk). */
static int cbor_string(struct cbor_rd *r, unsigned int major, uint64_t len, bool indef)
{
	if (!indef) {
		if (len > (uint64_t)(r->end - r->p))
			return -1;
		if (major == 3 && !probe_utf8_valid(r->p, (size_t)len))
			return -1;
		if (major == 2)
			diag_bytes(r->out, r->p, (size_t)len);
		else
			diag_text(r->out, r->p, (size_t)len);
		r->p += len;
		return 0;
	}
	sb_puts(r->out, "(_ ");
	for (bool first = true;; first = false) {
		if (r->p >= r->end)
			return -1;
		if (*r->p == 0xff) {
			r->p++;
			break;
		}
		unsigned int m, ai;
		uint64_t n;
		bool ind;
		/* RFC 8949 3.2.3: each chunk a definite string of the same type. */
		if (cbor_head(r, &m, &ai, &n, &ind) < 0 || m != major || ind)
			return -1;
		if (!first)
			sb_puts(r->out, ", ");
		if (cbor_string(r, major, n, false) < 0)
			return -1;
	}
	/* "(_ )" for no chunks at all: RFC 8949 8.1 writes ''_ and ""_ there. */
	if (r->out->len >= 3 && memcmp(r->out->s + r->out->len - 3, "(_ ", 3) == 0) {
		r->out->len -= 3;
		sb_puts(r->out, major == 2 ? "''_" : "\"\"_");
	} else {
		sb_putc(r->out, ')');
	}
	return 0;
}

/* An array or a map: [1, 2], {1: 2}, [_ 1, 2], {_ 1: 2}. */
static int cbor_container(struct cbor_rd *r, bool map, uint64_t count, bool indef, int depth)
{
	sb_puts(r->out, map ? "{" : "[");
	if (indef)
		sb_puts(r->out, "_ ");
	for (uint64_t i = 0;; i++) {
		if (indef) {
			if (r->p >= r->end)
				return -1;
			if (*r->p == 0xff) {
				r->p++;
				break;
			}
		} else if (i == count) {
			break;
		}
		/* Every item takes at least a byte: a count beyond what is
		 * left is cut short, found without reading further. */
		if (!indef && count - i > (uint64_t)(r->end - r->p))
			return -1;
		if (i)
			sb_puts(r->out, ", ");
		if (cbor_item(r, depth + 1) < 0)
			return -1;
		if (map) {
			sb_puts(r->out, ": ");
			if (cbor_item(r, depth + 1) < 0)
				return -1;
		}
	}
	sb_puts(r->out, map ? "}" : "]");
	return 0;
}

static int cbor_item(struct cbor_rd *r, int depth)
{
	unsigned int major, ai;
	uint64_t arg;
	bool indef;
	if (depth > RENDER_MAX_DEPTH || r->out->len > RENDER_MAX_OUT)
		return -1;
	if (cbor_head(r, &major, &ai, &arg, &indef) < 0)
		return -1;
	if (indef && (major == 0 || major == 1 || major == 6))
		return -1;
	switch (major) {
	case 0:
		sb_printf(r->out, "%llu", (unsigned long long)arg);
		return 0;
	case 1:
		if (arg == UINT64_MAX)
			sb_puts(r->out, "-18446744073709551616");
		else
			sb_printf(r->out, "-%llu", (unsigned long long)arg + 1);
		return 0;
	case 2:
	case 3:
		return cbor_string(r, major, arg, indef);
	case 4:
	case 5:
		return cbor_container(r, major == 5, arg, indef, depth);
	case 6:
		sb_printf(r->out, "%llu(", (unsigned long long)arg);
		if (cbor_item(r, depth + 1) < 0)
			return -1;
		sb_putc(r->out, ')');
		return 0;
	default:
		break;
	}
	/* Major type 7: simple values and floats. */
	if (indef)
		return -1; /* a break where no item may end */
	switch (ai) {
	case 20:
		sb_puts(r->out, "false");
		return 0;
	case 21:
		sb_puts(r->out, "true");
		return 0;
	case 22:
		sb_puts(r->out, "null");
		return 0;
	case 23:
		sb_puts(r->out, "undefined");
		return 0;
	case 24:
		if (arg < 32)
			return -1; /* RFC 8949 3.3: not well-formed */
		sb_printf(r->out, "simple(%llu)", (unsigned long long)arg);
		return 0;
	case 25:
		diag_float(r->out, half_to_double((uint16_t)arg));
		return 0;
	case 26: {
		uint32_t w = (uint32_t)arg;
		float f;
		memcpy(&f, &w, sizeof(f));
		diag_float(r->out, (double)f);
		return 0;
	}
	case 27: {
		double d;
		memcpy(&d, &arg, sizeof(d));
		diag_float(r->out, d);
		return 0;
	}
	default:
		sb_printf(r->out, "simple(%u)", ai);
		return 0;
	}
}

int probe_cbor_diag(struct sb *b, const uint8_t *p, size_t n, bool sequence)
{
	struct cbor_rd r = {.p = p, .end = p + n, .out = b};
	size_t start = b->len;
	if (n == 0)
		return -1;
	while (r.p < r.end) {
		if (b->len > start)
			sb_putc(b, '\n');
		if (cbor_item(&r, 0) < 0 || (!sequence && r.p != r.end)) {
			b->len = start;
			if (b->s)
				b->s[start] = '\0';
			return -1;
		}
	}
	return 0;
}

/* ------------------------------------------------------------ JSON */

static void indent(struct sb *b, int depth)
{
	sb_putc(b, '\n');
	for (int i = 0; i < depth; i++)
		sb_puts(b, "  ");
}

static bool json_ws(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Re-indent: two spaces a level, a member or element a line, "{}" and
 * "[]" kept short. Strings are copied untouched; brackets must pair. */
static int json_pretty(struct sb *b, const uint8_t *p, size_t n)
{
	char stack[RENDER_MAX_DEPTH];
	int depth = 0;
	size_t start = b->len;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		if (c == '"') {
			size_t j = i + 1;
			while (j < n && p[j] != '"')
				j += p[j] == '\\' ? 2 : 1;
			if (j >= n)
				goto bad;
			sb_putn(b, (const char *)p + i, j - i + 1);
			i = j;
		} else if (c == '{' || c == '[') {
			if (depth == RENDER_MAX_DEPTH)
				goto bad;
			stack[depth++] = c == '{' ? '}' : ']';
			size_t k = i + 1;
			while (k < n && json_ws(p[k]))
				k++;
			sb_putc(b, (char)c);
			if (k < n && p[k] == stack[depth - 1]) {
				sb_putc(b, (char)p[k]);
				depth--;
				i = k;
			} else {
				indent(b, depth);
			}
		} else if (c == '}' || c == ']') {
			if (depth == 0 || stack[depth - 1] != c)
				goto bad;
			depth--;
			indent(b, depth);
			sb_putc(b, (char)c);
		} else if (c == ',') {
			if (depth == 0)
				goto bad;
			sb_putc(b, ',');
			indent(b, depth);
		} else if (c == ':') {
			sb_puts(b, ": ");
		} else if (!json_ws(c)) {
			sb_putc(b, (char)c);
		}
	}
	if (depth == 0 && b->len > start)
		return 0;
bad:
	b->len = start;
	if (b->s)
		b->s[start] = '\0';
	return -1;
}

/* ------------------------------------------------------------ link format */

size_t probe_link_part_end(const uint8_t *p, size_t n, size_t i, uint8_t sep)
{
	bool angle = false, quote = false;
	for (; i < n; i++) {
		uint8_t c = p[i];
		if (quote) {
			if (c == '\\' && i + 1 < n)
				i++;
			else if (c == '"')
				quote = false;
		} else if (c == '"') {
			quote = true;
		} else if (c == '<') {
			angle = true;
		} else if (c == '>') {
			angle = false;
		} else if (c == sep && !angle) {
			break;
		}
	}
	return i;
}

/* "</hello>;ct=0;title="Hi"" as "</hello>  ct=0  title="Hi"": a link a line. */
static int links_pretty(struct sb *b, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t end = probe_link_part_end(p, n, i, ',');
		bool first = true;
		for (size_t k = i; k < end; first = false) {
			size_t e = probe_link_part_end(p, end, k, ';');
			size_t a = k, z = e;
			while (a < z && json_ws(p[a]))
				a++;
			while (z > a && json_ws(p[z - 1]))
				z--;
			if (!first)
				sb_puts(b, "  ");
			sb_putn(b, (const char *)p + a, z - a);
			k = e < end ? e + 1 : end;
		}
		sb_putc(b, '\n');
		i = end < n ? end + 1 : n;
	}
	return 0;
}

/* ------------------------------------------------------------ entry */

int probe_render_payload(struct sb *b, const uint8_t *p, size_t n, int cf)
{
	if (n == 0)
		return -1;
	if (probe_cf_is_cbor(cf)) {
		if (probe_cbor_diag(b, p, n, cf_is_cbor_seq(cf)) < 0)
			return -1;
		sb_putc(b, '\n');
		return 0;
	}
	if (!probe_is_text(p, n))
		return -1;
	if (cf == 40)
		return links_pretty(b, p, n);
	if (cf_is_json(cf)) {
		if (json_pretty(b, p, n) < 0)
			return -1;
		sb_putc(b, '\n');
		return 0;
	}
	return -1;
}
