/*
 * Fuzz harness: URI authorities and host text (lib/addr.c:
 * evudp6__authority_split, evudp6__addr_parse_authority).
 *
 * The input is the authority itself, not NUL-terminated (an exact-size
 * copy, so a read past its end is caught). Properties:
 *  - every result is 0 or one of the documented error codes;
 *  - output buffers are always terminated and never overrun, at full
 *    size and at every size that is too small (-ENOSPC, left "");
 *  - a literal that parses prints back (evudp6_addr_hostinfo) to text
 *    that parses to the same address, port and scope;
 *  - the address is untouched on error.
 */
#include "config.h"

#include <errno.h>
#include <net/if.h>
#include <string.h>

#include <evudp6.h>

#include "addr-internal.h"
#include "fuzz.h"

static bool is_split_error(int r)
{
	switch (-r) {
	case EVUDP6_E_HOST_EMPTY:
	case EVUDP6_E_HOST_BRACKET:
	case EVUDP6_E_HOST_UNBRACKETED_V6:
	case EVUDP6_E_HOST_TOO_LONG:
	case EVUDP6_E_HOST_INVALID:
	case EVUDP6_E_PORT:
	case EVUDP6_E_ZONE_UNKNOWN:
	case ENOSPC:
		return true;
	default:
		return false;
	}
}

static void check_parse(const char *text, uint16_t default_port, bool must_parse,
                        const struct evudp6_addr *want)
{
	struct evudp6_addr a, before;
	memset(&a, 0x5a, sizeof(a));
	before = a;
	int r = evudp6__addr_parse_authority(&a, text, default_port);
	if (r < 0) {
		FUZZ_CHECK(!must_parse);
		FUZZ_CHECK(is_split_error(r) || r == -EVUDP6_E_NOT_LITERAL ||
		           r == -EVUDP6_E_ZONE_NOT_ALLOWED);
		FUZZ_CHECK(memcmp(&a, &before, sizeof(a)) == 0);
		return;
	}
	FUZZ_CHECK(a.remote.sin6_family == AF_INET6 && !a.has_local);
	if (evudp6_addr_is_v4mapped(&a))
		FUZZ_CHECK(a.remote.sin6_scope_id == 0);
	if (want) {
		FUZZ_CHECK(evudp6_addr_equal(&a, want));
		FUZZ_CHECK(a.remote.sin6_scope_id == want->remote.sin6_scope_id);
		return;
	}
	/* Print it and parse the print: the same address comes back. */
	char hi[EVUDP6_HOSTINFO_MAX];
	int n = evudp6_addr_hostinfo(&a, hi, sizeof(hi));
	FUZZ_CHECK(n > 0 && (size_t)n == strlen(hi));
	check_parse(hi, EVUDP6_DEFAULT_PORT, true, &a);
	char uri[EVUDP6_URI_BASE_MAX];
	n = evudp6_addr_uri_base(&a, uri, sizeof(uri));
	FUZZ_CHECK(n > 0 && strncmp(uri, "coap://", 7) == 0 && strcmp(uri + 7, hi) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size ? size : 1);
	FUZZ_CHECK(s != NULL);
	memcpy(s, data, size);

	char host[EVUDP6__HOST_MAX + 1], zone[IF_NAMESIZE];
	uint16_t port = 0;
	bool literal = false;
	int r =
	    evudp6__authority_split(s, size, host, sizeof(host), zone, sizeof(zone), &port, 5683, &literal);
	FUZZ_CHECK(r == 0 || is_split_error(r));
	FUZZ_CHECK(r != -ENOSPC); /* these buffers hold any host and zone */
	FUZZ_CHECK(strlen(host) < sizeof(host) && strlen(zone) < sizeof(zone));
	if (r < 0) {
		FUZZ_CHECK(host[0] == '\0' && zone[0] == '\0');
	} else {
		size_t hl = strlen(host), zl = strlen(zone);
		FUZZ_CHECK(hl > 0 && hl <= EVUDP6__HOST_MAX);
		FUZZ_CHECK(hl + (zl ? zl + 1 : 0) <= size);
		/* The host is a piece of the input. */
		FUZZ_CHECK(memmem(s, size, host, hl) != NULL);
		FUZZ_CHECK(zl == 0 || memmem(s, size, zone, zl) != NULL);
		FUZZ_CHECK(zl == 0 || literal);

		/* Every buffer size that is too small says so and leaves "". */
		for (size_t hlen = 0; hlen <= hl + 1; hlen++) {
			char *hb = malloc(hlen ? hlen : 1);
			char zb[IF_NAMESIZE];
			FUZZ_CHECK(hb != NULL);
			if (hlen)
				hb[0] = 'x';
			int q = evudp6__authority_split(s, size, hlen ? hb : NULL, hlen, zb, sizeof(zb), NULL,
			                                5683, NULL);
			if (hlen > hl) {
				FUZZ_CHECK(q == 0 && strcmp(hb, host) == 0 && strcmp(zb, zone) == 0);
			} else {
				FUZZ_CHECK(q == -ENOSPC);
				FUZZ_CHECK(hlen == 0 || hb[0] == '\0');
			}
			free(hb);
		}
		if (zl > 0) {
			char zb[IF_NAMESIZE];
			int q =
			    evudp6__authority_split(s, size, host, sizeof(host), zb, zl, NULL, 5683, NULL);
			FUZZ_CHECK(q == -ENOSPC && zb[0] == '\0');
			q = evudp6__authority_split(s, size, host, sizeof(host), NULL, 0, NULL, 5683, NULL);
			FUZZ_CHECK(q == -ENOSPC);
		}
	}

	/* The NUL-terminated form, when the input has no NUL of its own. */
	if (!memchr(s, '\0', size)) {
		char *z = malloc(size + 1);
		FUZZ_CHECK(z != NULL);
		memcpy(z, s, size);
		z[size] = '\0';
		uint16_t dport = size ? (uint16_t)(data[0] * 257u) : 5683;
		check_parse(z, dport, false, NULL);
		/* A split failure is a parse failure with the same code. */
		if (r < 0) {
			struct evudp6_addr a;
			FUZZ_CHECK(evudp6__addr_parse_authority(&a, z, dport) == r);
		} else if (!literal) {
			struct evudp6_addr a;
			FUZZ_CHECK(evudp6__addr_parse_authority(&a, z, dport) == -EVUDP6_E_NOT_LITERAL);
		}
		free(z);
	}
	free(s);
	return 0;
}
