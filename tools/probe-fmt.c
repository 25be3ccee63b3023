/*
 * evudp6-probe — text buffers, the JSON writer, and the names of methods,
 * content formats and options as an operator types them.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "probe.h"

/* ------------------------------------------------------------ text buffer */

static void sb_grow(struct sb *b, size_t more)
{
	if (b->len + more + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + more + 1)
		cap *= 2;
	char *s = realloc(b->s, cap);
	if (!s) {
		fputs("evudp6-probe: out of memory\n", stderr);
		exit(PROBE_EXIT_OSERR);
	}
	b->s = s;
	b->cap = cap;
}

void sb_putn(struct sb *b, const char *s, size_t n)
{
	sb_grow(b, n);
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void sb_putc(struct sb *b, char c)
{
	sb_putn(b, &c, 1);
}

void sb_puts(struct sb *b, const char *s)
{
	sb_putn(b, s, strlen(s));
}

void sb_printf(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n <= 0)
		return;
	sb_grow(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void sb_reset(struct sb *b)
{
	b->len = 0;
	if (b->s)
		b->s[0] = '\0';
}

void sb_free(struct sb *b)
{
	free(b->s);
	b->s = NULL;
	b->len = b->cap = 0;
}

/* ------------------------------------------------------------ UTF-8 */

/* Length of the UTF-8 sequence at p (RFC 3629: no overlongs, no surrogates), 0 if invalid. */
static size_t utf8_seq(const uint8_t *p, size_t n)
{
	uint8_t c = p[0];
	if (c < 0x80)
		return 1;
	size_t len;
	uint32_t min, cp;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2, min = 0x80, cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3, min = 0x800, cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4, min = 0x10000, cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

bool probe_utf8_valid(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t l = utf8_seq(p + i, n - i);
		if (!l)
			return false;
		i += l;
	}
	return true;
}

bool probe_is_text(const uint8_t *p, size_t n)
{
	if (!probe_utf8_valid(p, n))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((p[i] < 0x20 && p[i] != '\n' && p[i] != '\r' && p[i] != '\t') || p[i] == 0x7f)
			return false;
	return true;
}

/* ------------------------------------------------------------ JSON writer */

static void json_escape(struct sb *b, const uint8_t *p, size_t n)
{
	sb_putc(b, '"');
	for (size_t i = 0; i < n;) {
		uint8_t c = p[i];
		size_t l = utf8_seq(p + i, n - i);
		if (l > 1) {
			sb_putn(b, (const char *)p + i, l);
			i += l;
			continue;
		}
		if (l == 0 || c < 0x20 || c == 0x7f) {
			switch (c) {
			case '\n':
				sb_puts(b, "\\n");
				break;
			case '\r':
				sb_puts(b, "\\r");
				break;
			case '\t':
				sb_puts(b, "\\t");
				break;
			default:
				sb_printf(b, "\\u%04x", c);
			}
		} else if (c == '"' || c == '\\') {
			sb_putc(b, '\\');
			sb_putc(b, (char)c);
		} else {
			sb_putc(b, (char)c);
		}
		i++;
	}
	sb_putc(b, '"');
}

static void jw_key(struct jw *w, const char *key)
{
	if (!w->first[w->depth])
		sb_putc(&w->b, ',');
	w->first[w->depth] = false;
	if (key) {
		json_escape(&w->b, (const uint8_t *)key, strlen(key));
		sb_putc(&w->b, ':');
	}
}

void jw_begin(struct jw *w, const char *event)
{
	sb_reset(&w->b);
	w->depth = 0;
	w->first[0] = true;
	sb_putc(&w->b, '{');
	jw_str(w, "event", event);
}

void jw_str(struct jw *w, const char *key, const char *s)
{
	if (!s) {
		jw_null(w, key);
		return;
	}
	jw_strn(w, key, s, strlen(s));
}

void jw_strn(struct jw *w, const char *key, const void *s, size_t n)
{
	jw_key(w, key);
	json_escape(&w->b, s, n);
}

void jw_hex(struct jw *w, const char *key, const void *s, size_t n)
{
	jw_key(w, key);
	sb_putc(&w->b, '"');
	for (size_t i = 0; i < n; i++)
		sb_printf(&w->b, "%02x", ((const uint8_t *)s)[i]);
	sb_putc(&w->b, '"');
}

void jw_int(struct jw *w, const char *key, long long v)
{
	jw_key(w, key);
	sb_printf(&w->b, "%lld", v);
}

void jw_ms(struct jw *w, const char *key, double ms)
{
	jw_key(w, key);
	sb_printf(&w->b, "%.3f", ms);
}

void jw_bool(struct jw *w, const char *key, bool v)
{
	jw_key(w, key);
	sb_puts(&w->b, v ? "true" : "false");
}

void jw_null(struct jw *w, const char *key)
{
	jw_key(w, key);
	sb_puts(&w->b, "null");
}

static void jw_open(struct jw *w, const char *key, char c)
{
	jw_key(w, key);
	sb_putc(&w->b, c);
	/* Nesting is shallow by construction (event, options, one value). */
	if (w->depth + 1 < (int)sizeof(w->open))
		w->depth++;
	w->open[w->depth] = c;
	w->first[w->depth] = true;
}

void jw_obj(struct jw *w, const char *key)
{
	jw_open(w, key, '{');
}

void jw_arr(struct jw *w, const char *key)
{
	jw_open(w, key, '[');
}

void jw_close(struct jw *w)
{
	if (w->depth == 0)
		return;
	sb_putc(&w->b, w->open[w->depth] == '[' ? ']' : '}');
	w->depth--;
}

void jw_emit(struct jw *w)
{
	while (w->depth > 0)
		jw_close(w);
	sb_putc(&w->b, '}');
	sb_putc(&w->b, '\n');
	fwrite(w->b.s, 1, w->b.len, stdout);
	fflush(stdout);
}

/* --------------------------------------------------- content formats */

static int parse_uint(const char *text, unsigned long max, unsigned long *out)
{
	if (!*text || *text == '-' || *text == '+')
		return -EINVAL;
	char *end;
	errno = 0;
	unsigned long v = strtoul(text, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/*
 * A number, the registered name ("application/link-format"), the name
 * without parameters ("text/plain") or the part after the slash
 * ("link-format", "json", "cbor").
 */
int probe_cf_parse(const char *text, int *out)
{
	unsigned long v;
	if (parse_uint(text, 65535, &v) == 0) {
		*out = (int)v;
		return 0;
	}
	size_t n = strlen(text);
	for (int pass = 0; pass < 3; pass++) {
		for (uint32_t cf = 0; cf <= 65535; cf++) {
			const char *name = evudp6_content_format_name(cf);
			if (!name)
				continue;
			size_t base = strcspn(name, ";");
			const char *slash = strchr(name, '/');
			bool hit = false;
			if (pass == 0)
				hit = strcasecmp(name, text) == 0;
			else if (pass == 1)
				hit = n == base && strncasecmp(name, text, n) == 0;
			else if (slash)
				hit = (size_t)(name + base - slash - 1) == n &&
				      strncasecmp(slash + 1, text, n) == 0;
			if (hit) {
				*out = (int)cf;
				return 0;
			}
		}
	}
	return -EINVAL;
}

int probe_option_length_check(uint32_t number, size_t len, char *why, size_t whylen)
{
	size_t min, max;
	if (!evudp6_opt_length_range(number, &min, &max) || (len >= min && len <= max))
		return 0;
	const char *name = evudp6_opt_name(number);
	snprintf(why, whylen, "%s value of %zu byte%s: RFC 7252 allows %zu to %zu", name, len,
	         len == 1 ? "" : "s", min, max);
	return -EVUDP6_E_MSG_OPT_RANGE;
}

int probe_method_parse(const char *text, uint8_t *out)
{
	static const char *const names[] = {"GET", "POST", "PUT", "DELETE", "FETCH", "PATCH", "IPATCH"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(text, names[i]) == 0) {
			*out = (uint8_t)(i + 1);
			return 0;
		}
	}
	unsigned long v;
	if (parse_uint(text, 31, &v) == 0 && v > 0) {
		*out = (uint8_t)v;
		return 0;
	}
	/* "0.05" as in the code registry */
	if (strncmp(text, "0.", 2) == 0 && strlen(text) == 4 && parse_uint(text + 2, 31, &v) == 0 && v > 0) {
		*out = (uint8_t)v;
		return 0;
	}
	return -EINVAL;
}

int probe_option_number_parse(const char *text, uint32_t *out)
{
	unsigned long v;
	if (parse_uint(text, EVUDP6_OPT_MAX, &v) == 0) {
		*out = (uint32_t)v;
		return 0;
	}
	for (uint32_t n = 0; n <= 65535; n++) {
		const char *name = evudp6_opt_name(n);
		if (name && strcasecmp(name, text) == 0) {
			*out = n;
			return 0;
		}
	}
	return -EINVAL;
}
