/*
 * Fuzz harness: the CoAP codec (lib/msg.c).
 *
 * Each input is used twice:
 *  1. as a datagram: evudp6_msg_decode() either fails with one of the
 *     decode errors and a zeroed view, or gives a view whose every
 *     pointer lies inside the input, whose options iterate in
 *     non-decreasing order and cover the option bytes exactly; a decoded
 *     message loaded into a builder and encoded again reproduces the
 *     input byte for byte (the wire form is canonical), or the builder
 *     refuses it cleanly (too many options, a number beyond 65804);
 *  2. as a script for the builder: header fields, a token and options in
 *     any order, a payload; what encodes must decode again to the same
 *     fields with the options sorted (stably), and encoding never writes
 *     past the buffer it is given.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <evudp6.h>

#include "fuzz.h"

static bool is_decode_error(int r)
{
	switch (-r) {
	case EVUDP6_E_MSG_SHORT:
	case EVUDP6_E_MSG_VERSION:
	case EVUDP6_E_MSG_TKL:
	case EVUDP6_E_MSG_TOKEN_TRUNC:
	case EVUDP6_E_MSG_OPT_NIBBLE15:
	case EVUDP6_E_MSG_OPT_EXT_TRUNC:
	case EVUDP6_E_MSG_OPT_VALUE_TRUNC:
	case EVUDP6_E_MSG_MARKER_NO_PAYLOAD:
	case EVUDP6_E_MSG_EMPTY_NOT_EMPTY:
	case EVUDP6_E_MSG_CODE_RESERVED:
		return true;
	default:
		return false;
	}
}

static bool inside(const uint8_t *p, size_t n, const uint8_t *buf, size_t len)
{
	return p >= buf && n <= len && (size_t)(p - buf) <= len - n;
}

static void names(const struct evudp6_msg *m)
{
	char cbuf[EVUDP6_CODE_STR_MAX];
	const char *s = evudp6_code_str(m->code, cbuf);
	FUZZ_CHECK(s == cbuf && strlen(cbuf) < sizeof(cbuf));
	FUZZ_CHECK(evudp6_msg_type_name(m->type) != NULL);
	(void)evudp6_code_name(m->code);
}

static void check_decoded(const struct evudp6_msg *m, const uint8_t *data, size_t size)
{
	FUZZ_CHECK(m->data == data && m->len == size);
	FUZZ_CHECK(m->type <= EVUDP6_RST);
	FUZZ_CHECK(m->tkl <= EVUDP6_TOKEN_MAX);
	FUZZ_CHECK(size >= 4u + m->tkl);
	FUZZ_CHECK(m->token == data + 4);
	FUZZ_CHECK(m->opts == data + 4 + m->tkl);
	FUZZ_CHECK(inside(m->opts, m->opts_len, data, size));
	if (m->payload) {
		FUZZ_CHECK(m->payload_len > 0);
		FUZZ_CHECK(m->payload == m->opts + m->opts_len + 1);
		FUZZ_CHECK(m->opts[m->opts_len] == 0xff);
		FUZZ_CHECK(m->payload + m->payload_len == data + size);
	} else {
		FUZZ_CHECK(m->payload_len == 0);
		FUZZ_CHECK(m->opts + m->opts_len == data + size);
	}
	uint8_t cls = EVUDP6_CODE_CLASS(m->code);
	FUZZ_CHECK(cls != 1 && cls != 6 && cls != 7);
	if (m->code == EVUDP6_EMPTY)
		FUZZ_CHECK(size == 4);

	/* The header peek agrees with the full decode. */
	struct evudp6_msg h;
	FUZZ_CHECK(evudp6_msg_peek_header(&h, data, size) == 0);
	FUZZ_CHECK(h.type == m->type && h.code == m->code && h.mid == m->mid && h.tkl == m->tkl);

	struct evudp6_opt_iter it;
	struct evudp6_opt o;
	uint32_t prev = 0;
	size_t count = 0;
	const uint8_t *last_end = m->opts;
	evudp6_opt_iter_init(&it, m);
	while (evudp6_opt_iter_next(&it, &o)) {
		FUZZ_CHECK(o.number >= prev);
		FUZZ_CHECK(inside(o.value, o.len, m->opts, m->opts_len));
		FUZZ_CHECK(o.value >= last_end);
		last_end = o.value + o.len;
		if (o.number != prev || count == 0) {
			/* The first option with this number is what find_opt returns. */
			struct evudp6_opt f;
			FUZZ_CHECK(evudp6_msg_find_opt(m, o.number, &f) == 1);
			FUZZ_CHECK(f.number == o.number && f.value == o.value && f.len == o.len);
		}
		uint32_t v;
		int r = evudp6_opt_uint(&o, &v);
		FUZZ_CHECK(r == 0 ? o.len <= 4 : (r == -ERANGE && o.len > 4));
		(void)evudp6_opt_name(o.number);
		FUZZ_CHECK(evudp6_opt_format(o.number) <= EVUDP6_OPT_FORMAT_EMPTY);
		prev = o.number;
		count++;
	}
	FUZZ_CHECK(last_end == m->opts + m->opts_len);
	names(m);

	/* Encode of decoded: the same bytes, or a clean refusal. */
	struct evudp6_msg_builder b;
	int r = evudp6_msg_builder_from_msg(&b, m);
	if (r < 0) {
		FUZZ_CHECK((r == -EVUDP6_E_MSG_TOO_MANY_OPTS && count > EVUDP6_BUILDER_MAX_OPTS) ||
		           (r == -EVUDP6_E_MSG_OPT_NUMBER && prev > EVUDP6_OPT_MAX));
		FUZZ_CHECK(evudp6_msg_encode(&b, NULL, 0) == r);
		return;
	}
	FUZZ_CHECK(count <= EVUDP6_BUILDER_MAX_OPTS && prev <= EVUDP6_OPT_MAX);
	uint8_t *out = malloc(size);
	FUZZ_CHECK(out != NULL);
	ssize_t n = evudp6_msg_encode(&b, out, size);
	FUZZ_CHECK(n == (ssize_t)size);
	FUZZ_CHECK(memcmp(out, data, size) == 0);
	/* One byte short: refused, and nothing is written past the end. */
	if (size > 0)
		FUZZ_CHECK(evudp6_msg_encode(&b, out, size - 1) == -EVUDP6_E_MSG_NOSPACE);
	free(out);
}

static void decode_side(const uint8_t *data, size_t size)
{
	struct evudp6_msg m;
	memset(&m, 0xa5, sizeof(m));
	int r = evudp6_msg_decode(&m, data, size);
	if (r < 0) {
		static const struct evudp6_msg zero;
		FUZZ_CHECK(is_decode_error(r));
		FUZZ_CHECK(memcmp(&m, &zero, sizeof(m)) == 0);
		FUZZ_CHECK(evudp6_strerror_name(r)[0] == 'E');
		/* A header that peeks badly is the decode error itself. */
		struct evudp6_msg h;
		int p = evudp6_msg_peek_header(&h, data, size);
		if (p < 0)
			FUZZ_CHECK(p == r);
		else if (h.token)
			FUZZ_CHECK(h.tkl <= EVUDP6_TOKEN_MAX && inside(h.token, h.tkl, data, size));
		return;
	}
	FUZZ_CHECK(r == 0);
	check_decoded(&m, data, size);
}

/* --- builder script ---------------------------------------------------- */

struct reader {
	const uint8_t *p;
	size_t n;
};

static uint8_t get8(struct reader *r)
{
	if (r->n == 0)
		return 0;
	r->n--;
	return *r->p++;
}

static uint32_t get16(struct reader *r)
{
	uint32_t hi = get8(r);
	return hi << 8 | get8(r);
}

static const uint8_t *take(struct reader *r, size_t want, size_t *got)
{
	*got = want < r->n ? want : r->n;
	const uint8_t *p = r->p;
	r->p += *got;
	r->n -= *got;
	return p;
}

struct added {
	uint32_t number;
	const uint8_t *value;
	size_t len;
	uint32_t uint;
	bool is_uint;
};

static void build_side(const uint8_t *data, size_t size)
{
	struct reader rd = {data, size};
	struct evudp6_msg_builder b;
	uint8_t type = get8(&rd) & 3, code = get8(&rd);
	uint16_t mid = (uint16_t)get16(&rd);
	evudp6_msg_builder_init(&b, type, code, mid);

	uint8_t tkl = get8(&rd) % 10; /* 9 must be refused */
	size_t got = 0, toklen;
	const uint8_t *tok = take(&rd, tkl, &toklen);
	int r = evudp6_msg_builder_set_token(&b, tok, toklen);
	FUZZ_CHECK(toklen <= EVUDP6_TOKEN_MAX ? r == 0 : r == -EVUDP6_E_MSG_TOKEN_LENGTH);
	if (r < 0)
		toklen = 0;

	struct added add[EVUDP6_BUILDER_MAX_OPTS + 4];
	size_t nadd = 0;
	int first_err = b.err;
	unsigned int nops = get8(&rd) % (EVUDP6_BUILDER_MAX_OPTS + 4);
	for (unsigned int i = 0; i < nops && rd.n > 0; i++) {
		uint32_t add_v = 0;
		uint8_t op = get8(&rd);
		/* Numbers near the limits are the interesting ones. */
		uint32_t number = get16(&rd);
		if (op & 0x80)
			number += EVUDP6_OPT_MAX - 65535 + (op & 0x40 ? 1 : 0);
		if (op & 1) {
			uint32_t hi = get16(&rd);
			uint32_t v = hi << 16 | get16(&rd);
			add_v = v;
			r = evudp6_msg_builder_add_uint(&b, number, v);
			if (r == 0)
				add[nadd++] = (struct added){.number = number, .uint = v, .is_uint = true};
		} else {
			size_t want = get8(&rd);
			if (op & 2)
				want = want * 257 + 13; /* past the 13 and 269 forms */
			const uint8_t *v = take(&rd, want, &got);
			r = evudp6_msg_builder_add_opt(&b, number, v, got);
			if (r == 0)
				add[nadd++] = (struct added){.number = number, .value = v, .len = got};
		}
		if (r < 0) {
			FUZZ_CHECK(r == -EVUDP6_E_MSG_OPT_NUMBER || r == -EVUDP6_E_MSG_TOO_MANY_OPTS ||
			           r == -EVUDP6_E_MSG_OPT_RANGE);
			size_t min, max, len = (op & 1) ? 0 : got;
			if (op & 1)
				for (len = 0; len < 4 && (((uint64_t)add_v >> (8 * len)) != 0); len++)
					;
			FUZZ_CHECK(r != -EVUDP6_E_MSG_OPT_RANGE ||
			           (evudp6_opt_length_range(number, &min, &max) && (len < min || len > max)));
			FUZZ_CHECK(r != -EVUDP6_E_MSG_OPT_NUMBER || number > EVUDP6_OPT_MAX);
			FUZZ_CHECK(r != -EVUDP6_E_MSG_TOO_MANY_OPTS || nadd == EVUDP6_BUILDER_MAX_OPTS);
			if (first_err == 0)
				first_err = r;
		}
	}
	FUZZ_CHECK(b.err == first_err);
	size_t plen;
	const uint8_t *payload = take(&rd, rd.n, &plen);
	evudp6_msg_builder_set_payload(&b, payload, plen);

	size_t cap = 4 + 8 + nadd * (5 + 65535 + 269) + 1 + plen;
	size_t outlen = cap < 8192 ? cap : 8192;
	uint8_t *out = malloc(outlen);
	FUZZ_CHECK(out != NULL);
	ssize_t n = evudp6_msg_encode(&b, out, outlen);
	if (n < 0) {
		FUZZ_CHECK(n == first_err || (first_err == 0 && (n == -EVUDP6_E_MSG_EMPTY_NOT_EMPTY ||
		                                                 n == -EVUDP6_E_MSG_CODE_RESERVED ||
		                                                 n == -EVUDP6_E_MSG_NOSPACE)));
		if (n == -EVUDP6_E_MSG_EMPTY_NOT_EMPTY)
			FUZZ_CHECK(code == 0 && (toklen > 0 || nadd > 0 || plen > 0));
		if (n == -EVUDP6_E_MSG_CODE_RESERVED) {
			uint8_t cls = EVUDP6_CODE_CLASS(code);
			FUZZ_CHECK(cls == 1 || cls == 6 || cls == 7);
		}
		free(out);
		return;
	}
	FUZZ_CHECK(first_err == 0);
	FUZZ_CHECK((size_t)n <= outlen);

	/* What was encoded decodes to what was added, sorted and stable. */
	struct evudp6_msg m;
	FUZZ_CHECK(evudp6_msg_decode(&m, out, (size_t)n) == 0);
	FUZZ_CHECK(m.type == type && m.code == code && m.mid == mid && m.tkl == toklen);
	FUZZ_CHECK(toklen == 0 || memcmp(m.token, tok, toklen) == 0);
	FUZZ_CHECK(m.payload_len == plen && (plen == 0 || memcmp(m.payload, payload, plen) == 0));
	bool used[EVUDP6_BUILDER_MAX_OPTS + 4] = {false};
	struct evudp6_opt_iter it;
	struct evudp6_opt o;
	size_t seen = 0;
	evudp6_opt_iter_init(&it, &m);
	while (evudp6_opt_iter_next(&it, &o)) {
		/* The earliest added, not yet used option with the smallest number. */
		size_t best = nadd;
		for (size_t i = 0; i < nadd; i++)
			if (!used[i] && (best == nadd || add[i].number < add[best].number))
				best = i;
		FUZZ_CHECK(best < nadd);
		used[best] = true;
		FUZZ_CHECK(o.number == add[best].number);
		if (add[best].is_uint) {
			uint32_t v;
			FUZZ_CHECK(evudp6_opt_uint(&o, &v) == 0 && v == add[best].uint);
			FUZZ_CHECK(o.len == 0 || o.value[0] != 0); /* shortest form */
		} else {
			FUZZ_CHECK(o.len == add[best].len);
			FUZZ_CHECK(o.len == 0 || memcmp(o.value, add[best].value, o.len) == 0);
		}
		seen++;
	}
	FUZZ_CHECK(seen == nadd);
	/* Every shorter buffer is refused. */
	if (n > 0)
		FUZZ_CHECK(evudp6_msg_encode(&b, out, (size_t)n - 1) == -EVUDP6_E_MSG_NOSPACE);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	decode_side(data, size);
	build_side(data, size);
	return 0;
}
