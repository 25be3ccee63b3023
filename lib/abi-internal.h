/*
 * evudp6 — the size convention of caller-allocated structs (see the
 * "ABI rules" of README.md): configurations start with a size_t size
 * filled by their _init function, calls that fill a struct take its size.
 */
#ifndef EVUDP6_ABI_INTERNAL_H
#define EVUDP6_ABI_INTERNAL_H

#include <stddef.h>

/*
 * Copy a caller's configuration @p src (leading size_t size) over @p dst,
 * which holds this library's defaults and is @p known bytes long: fields
 * past the caller's size keep their defaults; bytes past @p known must be
 * zero (a newer caller that set nothing this library does not know). The
 * caller's size must be at least sizeof(size_t) and a multiple of @p align
 * (so that no field is cut). dst's size field is set to @p known.
 * @return 0 or -EINVAL.
 */
int evudp6__config_in(void *dst, size_t known, size_t align, const void *src);

/*
 * Give a caller @p size bytes of @p src (@p known bytes long): the common
 * part is copied, the caller's bytes past @p known are zeroed.
 * @return the bytes filled from @p src: min(size, known).
 */
size_t evudp6__struct_out(void *dst, size_t size, const void *src, size_t known);

/*
 * Fill a caller's configuration of @p size bytes from the defaults in
 * @p defaults (@p known bytes) and set its size field to @p size.
 * @return 0 or -EINVAL (size too small, not a multiple of @p align).
 */
int evudp6__config_init(void *dst, size_t size, size_t align, const void *defaults, size_t known);

#endif /* EVUDP6_ABI_INTERNAL_H */
