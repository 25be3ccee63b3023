/*
 * evudp6 — the size convention of caller-allocated structs.
 *
 * Configurations begin with `size_t size`, set by their _init function to
 * the size the caller passed (sizeof as the caller was compiled). A
 * release only appends fields, each starting at or after the previous
 * release's sizeof, so a shorter size names an older layout exactly.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "abi-internal.h"

static int size_ok(size_t size, size_t align)
{
	return size >= sizeof(size_t) && size % align == 0;
}

int evudp6__config_in(void *dst, size_t known, size_t align, const void *src)
{
	size_t size;
	memcpy(&size, src, sizeof(size));
	if (!size_ok(size, align))
		return -EINVAL;
	const unsigned char *s = src;
	for (size_t i = known; i < size; i++)
		if (s[i] != 0)
			return -EINVAL;
	memcpy(dst, src, size < known ? size : known);
	memcpy(dst, &known, sizeof(known));
	return 0;
}

size_t evudp6__struct_out(void *dst, size_t size, const void *src, size_t known)
{
	size_t n = size < known ? size : known;
	memcpy(dst, src, n);
	if (size > known)
		memset((unsigned char *)dst + known, 0, size - known);
	return n;
}

int evudp6__config_init(void *dst, size_t size, size_t align, const void *defaults, size_t known)
{
	if (!dst || !size_ok(size, align))
		return -EINVAL;
	evudp6__struct_out(dst, size, defaults, known);
	memcpy(dst, &size, sizeof(size));
	return 0;
}
