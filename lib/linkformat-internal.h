/*
 * RFC 6690 link format: writing links and filtering them by a query, as
 * /.well-known/core needs. Pure: no I/O, no allocation.
 */
#ifndef EVUDP6_LINKFORMAT_INTERNAL_H
#define EVUDP6_LINKFORMAT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** One target attribute; a NULL value is a flag ("obs"). */
struct evudp6__link_attr {
	const char *name;
	const char *value;
};

/** One link: its target path (decoded, "/a/b") and attributes. */
struct evudp6__link {
	const char *href;
	const struct evudp6__link_attr *attrs;
	size_t nattrs;
};

/**
 * A query filter (RFC 6690 4.1): "name=value", "name=prefix*" or, for
 * a flag or any value, "name". Points into the query it was parsed from.
 */
struct evudp6__lf_filter {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
	bool has_value;
	bool prefix;
};

/**
 * Parse one Uri-Query value as a filter.
 * @return 0, or -EINVAL for an empty name ("=x", "").
 */
int evudp6__lf_filter_parse(struct evudp6__lf_filter *f, const void *query, size_t len);

/**
 * Does the link pass the filter? "href" compares with the target path;
 * for rt, if and ct, whose values are space-separated lists, one of the
 * words must match; for any other attribute the whole value.
 */
bool evudp6__lf_match(const struct evudp6__link *l, const struct evudp6__lf_filter *f);

/**
 * Append @p l to @p buf at *@p pos: ",<href>;name=value;flag", without
 * the comma for the first link. The target is percent-encoded where a
 * path may not hold the byte; a value that is a number is written bare,
 * any other quoted with '"' and '\' escaped.
 * @return 0 and *@p pos advanced, or -ENOSPC with *@p pos unchanged
 *         (bytes past it may have been written).
 */
int evudp6__lf_append(char *buf, size_t cap, size_t *pos, const struct evudp6__link *l);

#endif /* EVUDP6_LINKFORMAT_INTERNAL_H */
