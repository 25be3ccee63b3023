/*
 * evudp6 — RFC 6690 link format: writing and query filtering.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "linkformat-internal.h"

int evudp6__lf_filter_parse(struct evudp6__lf_filter *f, const void *query, size_t len)
{
	const char *q = query;
	const char *eq = len ? memchr(q, '=', len) : NULL;

	memset(f, 0, sizeof(*f));
	f->name = q;
	f->name_len = eq ? (size_t)(eq - q) : len;
	if (f->name_len == 0)
		return -EINVAL;
	if (eq) {
		f->has_value = true;
		f->value = eq + 1;
		f->value_len = len - f->name_len - 1;
		if (f->value_len > 0 && f->value[f->value_len - 1] == '*') {
			f->prefix = true;
			f->value_len--;
		}
	}
	return 0;
}

static bool value_matches(const struct evudp6__lf_filter *f, const char *v, size_t n)
{
	if (f->prefix)
		return n >= f->value_len && memcmp(v, f->value, f->value_len) == 0;
	return n == f->value_len && memcmp(v, f->value, n) == 0;
}

static bool is_list(const struct evudp6__lf_filter *f)
{
	static const char *const lists[] = {"rt", "if", "ct"};
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
		if (f->name_len == strlen(lists[i]) && memcmp(f->name, lists[i], f->name_len) == 0)
			return true;
	return false;
}

/* One word of a space-separated list matching is enough (RFC 6690 4.1). */
static bool list_matches(const struct evudp6__lf_filter *f, const char *v)
{
	for (;;) {
		size_t n = strcspn(v, " ");
		if (value_matches(f, v, n))
			return true;
		if (v[n] == '\0')
			return false;
		v += n + 1;
	}
}

bool evudp6__lf_match(const struct evudp6__link *l, const struct evudp6__lf_filter *f)
{
	if (f->name_len == 4 && memcmp(f->name, "href", 4) == 0)
		return !f->has_value || value_matches(f, l->href, strlen(l->href));
	for (size_t i = 0; i < l->nattrs; i++) {
		const struct evudp6__link_attr *a = &l->attrs[i];
		if (strlen(a->name) != f->name_len || memcmp(a->name, f->name, f->name_len) != 0)
			continue;
		if (!f->has_value)
			return true;
		const char *v = a->value ? a->value : "";
		if (is_list(f) ? list_matches(f, v) : value_matches(f, v, strlen(v)))
			return true;
	}
	return false;
}

struct out {
	char *buf;
	size_t cap, pos;
	bool full;
};

static void put(struct out *w, char c)
{
	if (w->pos < w->cap)
		w->buf[w->pos++] = c;
	else
		w->full = true;
}

static void put_str(struct out *w, const char *s)
{
	while (*s)
		put(w, *s++);
}

/* RFC 3986 pchar and '/', less '%' (the target is decoded). */
static bool path_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("-._~!$&'()*+,;=:@/", c) != NULL;
}

static bool cardinal(const char *v)
{
	if (!*v)
		return false;
	for (; *v; v++)
		if (*v < '0' || *v > '9')
			return false;
	return true;
}

int evudp6__lf_append(char *buf, size_t cap, size_t *pos, const struct evudp6__link *l)
{
	static const char hex[] = "0123456789ABCDEF";
	struct out w = {.buf = buf, .cap = cap, .pos = *pos};

	if (w.pos > 0)
		put(&w, ',');
	put(&w, '<');
	for (const unsigned char *p = (const unsigned char *)l->href; *p; p++) {
		if (*p != '\0' && path_char(*p)) {
			put(&w, (char)*p);
		} else {
			put(&w, '%');
			put(&w, hex[*p >> 4]);
			put(&w, hex[*p & 15]);
		}
	}
	put(&w, '>');
	for (size_t i = 0; i < l->nattrs; i++) {
		const struct evudp6__link_attr *a = &l->attrs[i];
		put(&w, ';');
		put_str(&w, a->name);
		if (!a->value)
			continue;
		put(&w, '=');
		if (cardinal(a->value)) {
			put_str(&w, a->value);
			continue;
		}
		put(&w, '"');
		for (const char *v = a->value; *v; v++) {
			if (*v == '"' || *v == '\\')
				put(&w, '\\');
			put(&w, *v);
		}
		put(&w, '"');
	}
	if (w.full)
		return -ENOSPC;
	*pos = w.pos;
	return 0;
}
