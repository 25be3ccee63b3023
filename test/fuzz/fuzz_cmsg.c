/*
 * Fuzz harness: the ancillary-data parser and the ICMP error texts
 * (lib/cmsg.c).
 *
 * Input: one flags byte (bit 0: MSG_CTRUNC; bits 1-3: how far the
 * control buffer is moved off its natural alignment), then the control
 * buffer exactly as recvmsg() would leave it in msg_control. The parser
 * must read nothing outside the buffer (it is copied to an exact-size
 * allocation) and whatever it reports must describe itself without
 * overflowing any output buffer. The same bytes also serve directly as
 * an evudp6_icmp value, so every field combination reaches the texts.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <evudp6.h>

#include "fuzz.h"

static void describe(const struct evudp6_icmp *e)
{
	char full[EVUDP6_ICMP_DESCRIBE_MAX];
	int n = evudp6_icmp_describe(e, full, sizeof(full));
	if (n >= 0) {
		FUZZ_CHECK((size_t)n == strlen(full) && (size_t)n < sizeof(full));
		/* Every shorter buffer is refused and left empty; the exact
		 * size fits. */
		for (size_t len = 0; len <= (size_t)n + 1; len++) {
			char *b = malloc(len ? len : 1);
			FUZZ_CHECK(b != NULL);
			if (len)
				b[0] = 'x';
			int m = evudp6_icmp_describe(e, len ? b : NULL, len);
			if (len > (size_t)n) {
				FUZZ_CHECK(m == n && memcmp(b, full, (size_t)n + 1) == 0);
			} else {
				FUZZ_CHECK(m == -ENOSPC);
				FUZZ_CHECK(len == 0 || b[0] == '\0');
			}
			free(b);
		}
	} else {
		FUZZ_CHECK(n == -ENOSPC && full[0] == '\0');
	}
	char tb[32];
	for (size_t len = 0; len <= sizeof(tb); len += 7) {
		const char *t = evudp6_icmp_type_name(e, len ? tb : NULL, len);
		FUZZ_CHECK(t != NULL);
		FUZZ_CHECK(t != tb || strlen(tb) < len);
	}
	const char *o = evudp6_icmp_origin_name(e->origin);
	FUZZ_CHECK(o != NULL && o[0] != '\0');
	FUZZ_CHECK(evudp6_strerror(e->err) != NULL && evudp6_strerror_name(e->err) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	int flags = data[0] & 1 ? MSG_CTRUNC : 0;
	size_t shift = (data[0] >> 1) & 7;
	size_t len = size - 1;
	uint8_t *block = malloc(shift + len + 1);
	FUZZ_CHECK(block != NULL);
	uint8_t *control = block + shift;
	memcpy(control, data + 1, len);
	/* Nothing may be read past control + len: an exact-size view. */
	uint8_t *exact = malloc(len ? len : 1);
	FUZZ_CHECK(exact != NULL);
	memcpy(exact, control, len);

	struct evudp6_cmsg_info a, b;
	FUZZ_CHECK(evudp6_cmsg_parse(exact, len, flags, &a, sizeof(a)) == (int)sizeof(a));
	FUZZ_CHECK(evudp6_cmsg_parse(control, len, flags, &b, sizeof(b)) == (int)sizeof(b));
	/* Alignment of the caller's buffer does not change the result. */
	FUZZ_CHECK(memcmp(&a, &b, sizeof(a)) == 0);
	FUZZ_CHECK(a.ctrunc == (flags != 0));
	/* Every control message is counted once at most: each takes at least
	 * a header's worth of bytes. */
	FUZZ_CHECK((size_t)a.unknown + a.malformed <= len / sizeof(struct cmsghdr) + 1);
	if (a.has_icmp) {
		FUZZ_CHECK(!a.icmp.has_offender || a.icmp.offender.sin6_family == AF_INET6);
		describe(&a.icmp);
	}
	struct evudp6_cmsg_info none;
	FUZZ_CHECK(evudp6_cmsg_parse(NULL, len, flags, &none, sizeof(none)) == (int)sizeof(none));
	FUZZ_CHECK(!none.has_pktinfo && !none.has_icmp && !none.has_ovfl && none.unknown == 0);
	free(exact);
	free(block);

	/* The raw bytes as error details, whatever they hold. */
	uint8_t raw[4 + 3 + 4 + 4 + 1 + sizeof(struct sockaddr_in6)] = {0};
	memcpy(raw, data + 1, len < sizeof(raw) ? len : sizeof(raw));
	struct evudp6_icmp e;
	memset(&e, 0, sizeof(e));
	memcpy(&e.err, raw, 4);
	e.origin = raw[4];
	e.type = raw[5];
	e.code = raw[6];
	memcpy(&e.info, raw + 7, 4);
	memcpy(&e.data, raw + 11, 4);
	e.has_offender = raw[15] & 1;
	memcpy(&e.offender, raw + 16, sizeof(e.offender));
	describe(&e);
	return 0;
}
