/*
 * CoAP message codec: strict decoding, option iteration, the builder and
 * encoder, names, and the replay of the malformed-datagram corpus.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <evudp6/msg.h>

#include "testutil.h"

/* Two arguments: a byte array and its length. */
#define BYTES(...) ((const uint8_t[]){__VA_ARGS__}), sizeof((const uint8_t[]){__VA_ARGS__})

#define CONTENT EVUDP6_CODE(2, 5)

/* Room for the largest option value plus its header and a message around it. */
#define BIG (EVUDP6_OPT_MAX + 64)
static uint8_t big_in[BIG], big_out[BIG];

static int view_is_zero(const struct evudp6_msg *m)
{
	static const struct evudp6_msg zero;
	return memcmp(m, &zero, sizeof(*m)) == 0;
}

static size_t cat(uint8_t *dst, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	memcpy(dst, a, alen);
	if (blen)
		memcpy(dst + alen, b, blen);
	return alen + blen;
}

static void expect_decode_err(int line, int err, const uint8_t *buf, size_t len)
{
	struct evudp6_msg m;

	memset(&m, 0xa5, sizeof(m));
	int r = evudp6_msg_decode(&m, buf, len);
	ck_assert_msg(r == -err, "line %d: decode gave %d %s, want %s", line, r, evudp6_strerror_name(r),
	              evudp6_strerror_name(-err));
	ck_assert_msg(view_is_zero(&m), "line %d: view not zeroed after error", line);
}
#define EXPECT_DECODE_ERR(err, ...) expect_decode_err(__LINE__, err, BYTES(__VA_ARGS__))

/*
 * Decode @p buf, which must be valid, and check that re-encoding gives it
 * back, unless it holds what a builder cannot: more options than its table
 * or numbers beyond 65804 (the first of those the builder meets wins).
 */
static void expect_roundtrip(int line, const uint8_t *buf, size_t len)
{
	struct evudp6_msg m;
	struct evudp6_msg_builder b;
	struct evudp6_opt_iter it;
	struct evudp6_opt o;
	static uint8_t re[BIG];
	size_t count = 0, first_big = SIZE_MAX;

	int r = evudp6_msg_decode(&m, buf, len);
	ck_assert_msg(r == 0, "line %d: decode gave %s", line, evudp6_strerror_name(r));
	evudp6_opt_iter_init(&it, &m);
	while (evudp6_opt_iter_next(&it, &o)) {
		if (o.number > EVUDP6_OPT_MAX && first_big == SIZE_MAX)
			first_big = count;
		count++;
	}
	int want = 0;
	if (first_big < EVUDP6_BUILDER_MAX_OPTS)
		want = -EVUDP6_E_MSG_OPT_NUMBER;
	else if (count > EVUDP6_BUILDER_MAX_OPTS)
		want = -EVUDP6_E_MSG_TOO_MANY_OPTS;
	r = evudp6_msg_builder_from_msg(&b, &m);
	ck_assert_msg(r == want, "line %d: from_msg gave %d, want %d", line, r, want);
	if (want)
		return;
	ssize_t n = evudp6_msg_encode(&b, re, sizeof(re));
	ck_assert_msg(n == (ssize_t)len, "line %d: encoded %zd bytes, want %zu", line, n, len);
	ck_assert_msg(memcmp(re, buf, len) == 0, "line %d: re-encoded bytes differ", line);
}

static int next_opt(struct evudp6_opt_iter *it, uint32_t number, const char *value)
{
	struct evudp6_opt o;

	if (!evudp6_opt_iter_next(it, &o))
		return 0;
	ck_assert_uint_eq(o.number, number);
	ck_assert_uint_eq(o.len, strlen(value));
	ck_assert_mem_eq(o.value, value, o.len);
	return 1;
}

/* ---------------------------------------------------------- decoding */

START_TEST(msg_decode_appendix_a_con_get)
{
	/* RFC 7252 figure 16: CON [0x7d34] GET /temperature */
	static const uint8_t d[] = {0x40, 0x01, 0x7d, 0x34, 0xbb, 't', 'e', 'm',
	                            'p',  'e',  'r',  'a',  't',  'u', 'r', 'e'};
	struct evudp6_msg m;
	struct evudp6_opt_iter it;

	ck_assert_int_eq(evudp6_msg_decode(&m, d, sizeof(d)), 0);
	ck_assert_uint_eq(m.type, EVUDP6_CON);
	ck_assert_uint_eq(m.code, EVUDP6_GET);
	ck_assert_uint_eq(m.mid, 0x7d34);
	ck_assert_uint_eq(m.tkl, 0);
	ck_assert_ptr_eq(m.opts, d + 4);
	ck_assert_uint_eq(m.opts_len, 12);
	ck_assert_ptr_null(m.payload);
	ck_assert_uint_eq(m.payload_len, 0);
	ck_assert_ptr_eq(m.data, d);
	ck_assert_uint_eq(m.len, 16);
	evudp6_opt_iter_init(&it, &m);
	ck_assert_int_eq(next_opt(&it, EVUDP6_OPT_URI_PATH, "temperature"), 1);
	ck_assert_int_eq(next_opt(&it, 0, ""), 0);
}
END_TEST

START_TEST(msg_decode_appendix_a_ack_content)
{
	/* RFC 7252 figure 16: ACK [0x7d34] 2.05 Content "22.3 C" */
	static const uint8_t d[] = {0x60, 0x45, 0x7d, 0x34, 0xff, '2', '2', '.', '3', ' ', 'C'};
	struct evudp6_msg m;
	struct evudp6_opt_iter it;

	ck_assert_int_eq(evudp6_msg_decode(&m, d, sizeof(d)), 0);
	ck_assert_uint_eq(m.type, EVUDP6_ACK);
	ck_assert_uint_eq(m.code, CONTENT);
	ck_assert_uint_eq(m.mid, 0x7d34);
	ck_assert_uint_eq(m.tkl, 0);
	ck_assert_uint_eq(m.opts_len, 0);
	ck_assert_ptr_eq(m.payload, d + 5);
	ck_assert_uint_eq(m.payload_len, 6);
	evudp6_opt_iter_init(&it, &m);
	ck_assert_int_eq(next_opt(&it, 0, ""), 0);
}
END_TEST

START_TEST(msg_decode_appendix_a_token)
{
	/* RFC 7252 figure 17: CON [0x7d35] GET /temperature (Token 0x20) */
	static const uint8_t d[] = {0x41, 0x01, 0x7d, 0x35, 0x20, 0xbb, 't', 'e', 'm',
	                            'p',  'e',  'r',  'a',  't',  'u',  'r', 'e'};
	struct evudp6_msg m;

	ck_assert_int_eq(evudp6_msg_decode(&m, d, sizeof(d)), 0);
	ck_assert_uint_eq(m.type, EVUDP6_CON);
	ck_assert_uint_eq(m.mid, 0x7d35);
	ck_assert_uint_eq(m.tkl, 1);
	ck_assert_ptr_eq(m.token, d + 4);
	ck_assert_uint_eq(m.token[0], 0x20);
	ck_assert_ptr_eq(m.opts, d + 5);
	ck_assert_uint_eq(m.opts_len, 12);
	ck_assert_ptr_null(m.payload);
}
END_TEST

START_TEST(msg_decode_appendix_a_empty_ack)
{
	/* RFC 7252 figure 18: ACK [0x7d38], the Empty acknowledgement */
	static const uint8_t d[] = {0x60, 0x00, 0x7d, 0x38};
	struct evudp6_msg m;

	ck_assert_int_eq(evudp6_msg_decode(&m, d, sizeof(d)), 0);
	ck_assert_uint_eq(m.type, EVUDP6_ACK);
	ck_assert_uint_eq(m.code, EVUDP6_EMPTY);
	ck_assert_uint_eq(m.mid, 0x7d38);
	ck_assert_uint_eq(m.tkl, 0);
	ck_assert_uint_eq(m.opts_len, 0);
	ck_assert_ptr_null(m.payload);
	ck_assert_uint_eq(m.len, 4);
}
END_TEST

START_TEST(msg_decode_non_with_token_options_and_payload)
{
	/* NON [0xabcd] 2.05, token 8 bytes, Content-Format 0, Max-Age 60, "hi" */
	static const uint8_t d[] = {0x58, 0x45, 0xab, 0xcd, 1,    2,    3,    4,   5,
	                            6,    7,    8,    0xc0, 0x21, 0x3c, 0xff, 'h', 'i'};
	struct evudp6_msg m;
	struct evudp6_opt_iter it;
	struct evudp6_opt o;
	uint32_t v;

	ck_assert_int_eq(evudp6_msg_decode(&m, d, sizeof(d)), 0);
	ck_assert_uint_eq(m.type, EVUDP6_NON);
	ck_assert_uint_eq(m.code, CONTENT);
	ck_assert_uint_eq(m.mid, 0xabcd);
	ck_assert_uint_eq(m.tkl, 8);
	ck_assert_mem_eq(m.token, ((const uint8_t[]){1, 2, 3, 4, 5, 6, 7, 8}), 8);
	ck_assert_ptr_eq(m.opts, d + 12);
	ck_assert_uint_eq(m.opts_len, 3);
	ck_assert_ptr_eq(m.payload, d + 16);
	ck_assert_uint_eq(m.payload_len, 2);
	evudp6_opt_iter_init(&it, &m);
	ck_assert_int_eq(evudp6_opt_iter_next(&it, &o), 1);
	ck_assert_uint_eq(o.number, EVUDP6_OPT_CONTENT_FORMAT);
	ck_assert_uint_eq(o.len, 0);
	ck_assert_int_eq(evudp6_opt_iter_next(&it, &o), 1);
	ck_assert_uint_eq(o.number, EVUDP6_OPT_MAX_AGE);
	ck_assert_int_eq(evudp6_opt_uint(&o, &v), 0);
	ck_assert_uint_eq(v, 60);
	ck_assert_int_eq(evudp6_opt_iter_next(&it, &o), 0);
}
END_TEST

START_TEST(msg_decode_reads_extended_delta_and_length)
{
	static const uint8_t hdr[] = {0x40, 0x01, 0x00, 0x01};
	struct evudp6_msg m;
	struct evudp6_opt o;
	struct evudp6_opt_iter it;
	size_t n;

	/* one-byte forms: delta 13 + 0, length 13 + 0 */
	n = cat(big_in, hdr, 4, BYTES(0xdd, 0x00, 0x00));
	memset(big_in + n, 'x', 13);
	ck_assert_int_eq(evudp6_msg_decode(&m, big_in, n + 13), 0);
	evudp6_opt_iter_init(&it, &m);
	ck_assert_int_eq(evudp6_opt_iter_next(&it, &o), 1);
	ck_assert_uint_eq(o.number, 13);
	ck_assert_uint_eq(o.len, 13);
	ck_assert_ptr_eq(o.value, big_in + 7);

	/* two-byte forms at their largest: 269 + 0xffff = 65804 */
	n = cat(big_in, hdr, 4, BYTES(0xee, 0xff, 0xff, 0xff, 0xff));
	memset(big_in + n, 'y', EVUDP6_OPT_MAX);
	ck_assert_int_eq(evudp6_msg_decode(&m, big_in, n + EVUDP6_OPT_MAX), 0);
	evudp6_opt_iter_init(&it, &m);
	ck_assert_int_eq(evudp6_opt_iter_next(&it, &o), 1);
	ck_assert_uint_eq(o.number, 65804);
	ck_assert_uint_eq(o.len, 65804);
	ck_assert_ptr_eq(o.value, big_in + 9);
	ck_assert_int_eq(evudp6_opt_iter_next(&it, &o), 0);
}
END_TEST

START_TEST(msg_decode_cumulative_number_beyond_65535)
{
	static const uint8_t d[] = {0x40, 0x01, 0, 0, 0xe0, 0xff, 0xff, 0xe1, 0xff, 0xff, 'v', 0x10};
	struct evudp6_msg m;
	struct evudp6_opt_iter it;

	ck_assert_int_eq(evudp6_msg_decode(&m, d, sizeof(d)), 0);
	evudp6_opt_iter_init(&it, &m);
	ck_assert_int_eq(next_opt(&it, 65804, ""), 1);
	ck_assert_int_eq(next_opt(&it, 131608, "v"), 1);
	ck_assert_int_eq(next_opt(&it, 131609, ""), 1);
	ck_assert_int_eq(next_opt(&it, 0, ""), 0);
}
END_TEST

/*
 * 65269 options of delta 65804 reach 4294961276; one of delta 6019 brings the
 * number to exactly UINT32_MAX, and any further delta would wrap.
 */
static uint8_t wrap_buf[4 + 65269 * 3 + 3 + 1];

static size_t wrap_prepare(void)
{
	uint8_t *p = wrap_buf;

	*p++ = 0x40, *p++ = 0x01, *p++ = 0, *p++ = 0;
	for (int i = 0; i < 65269; i++)
		*p++ = 0xe0, *p++ = 0xff, *p++ = 0xff;
	*p++ = 0xe0, *p++ = (6019 - 269) >> 8, *p++ = (6019 - 269) & 0xff;
	return (size_t)(p - wrap_buf);
}

START_TEST(msg_decode_option_number_reaches_uint32_max)
{
	struct evudp6_msg m;
	struct evudp6_opt_iter it;
	struct evudp6_opt o;
	size_t n = wrap_prepare(), count = 0;
	uint32_t last = 0;

	ck_assert_int_eq(evudp6_msg_decode(&m, wrap_buf, n), 0);
	evudp6_opt_iter_init(&it, &m);
	while (evudp6_opt_iter_next(&it, &o)) {
		ck_assert_uint_gt(o.number, last);
		last = o.number;
		count++;
	}
	ck_assert_uint_eq(count, 65270);
	ck_assert_uint_eq(last, UINT32_MAX);
}
END_TEST

START_TEST(msg_decode_rejects_option_number_wrapping_uint32)
{
	size_t n = wrap_prepare();

	wrap_buf[n] = 0x10; /* delta 1 past UINT32_MAX */
	expect_decode_err(__LINE__, EVUDP6_E_MSG_OPT_NUMBER, wrap_buf, n + 1);
}
END_TEST

START_TEST(msg_decode_option_value_may_hold_ff)
{
	static const uint8_t d[] = {0x40, 0x01, 0, 0, 0x02, 0xff, 0xff, 0xff, 'x'};
	struct evudp6_msg m;
	struct evudp6_opt_iter it;

	ck_assert_int_eq(evudp6_msg_decode(&m, d, sizeof(d)), 0);
	evudp6_opt_iter_init(&it, &m);
	ck_assert_int_eq(next_opt(&it, 0, "\xff\xff"), 1);
	ck_assert_int_eq(next_opt(&it, 0, ""), 0);
	ck_assert_ptr_eq(m.payload, d + 8);
	ck_assert_uint_eq(m.payload_len, 1);
}
END_TEST

START_TEST(msg_decode_option_value_may_end_exactly_at_end)
{
	static const uint8_t d[] = {0x40, 0x01, 0, 0, 0x03, 'a', 'b', 'c'};
	struct evudp6_msg m;

	ck_assert_int_eq(evudp6_msg_decode(&m, d, sizeof(d)), 0);
	ck_assert_uint_eq(m.opts_len, 4);
	ck_assert_ptr_null(m.payload);
}
END_TEST

START_TEST(msg_decode_accepts_every_type)
{
	for (uint8_t t = 0; t < 4; t++) {
		uint8_t d[] = {(uint8_t)(0x40 | t << 4), 0x01, 0, 0};
		struct evudp6_msg m;
		ck_assert_int_eq(evudp6_msg_decode(&m, d, sizeof(d)), 0);
		ck_assert_uint_eq(m.type, t);
	}
}
END_TEST

START_TEST(msg_decode_reserves_exactly_classes_1_6_7)
{
	int reserved = 0, accepted = 0;

	for (unsigned c = 0; c < 256; c++) {
		uint8_t d[] = {0x40, (uint8_t)c, 0, 0};
		struct evudp6_msg m;
		int cls = (int)(c >> 5), r = evudp6_msg_decode(&m, d, sizeof(d));
		if (cls == 1 || cls == 6 || cls == 7) {
			ck_assert_int_eq(r, -EVUDP6_E_MSG_CODE_RESERVED);
			reserved++;
		} else {
			ck_assert_int_eq(r, 0);
			ck_assert_uint_eq(m.code, c);
			accepted++;
		}
	}
	ck_assert_int_eq(reserved, 96);
	ck_assert_int_eq(accepted, 160);
}
END_TEST

START_TEST(msg_decode_rejects_shorter_than_4_bytes)
{
	static const uint8_t d[] = {0x40, 0x01, 0x12, 0x34};

	for (size_t len = 0; len < 4; len++)
		expect_decode_err(__LINE__, EVUDP6_E_MSG_SHORT, d, len);
	expect_decode_err(__LINE__, EVUDP6_E_MSG_SHORT, NULL, 0);
}
END_TEST

START_TEST(msg_decode_rejects_version_not_1)
{
	for (unsigned ver = 0; ver < 4; ver++) {
		if (ver == 1)
			continue;
		uint8_t d[] = {(uint8_t)(ver << 6), 0x01, 0, 0};
		expect_decode_err(__LINE__, EVUDP6_E_MSG_VERSION, d, sizeof(d));
	}
}
END_TEST

START_TEST(msg_decode_rejects_tkl_9_to_15)
{
	uint8_t d[4 + 15];

	memset(d, 0x11, sizeof(d));
	for (unsigned tkl = 9; tkl < 16; tkl++) {
		d[0] = (uint8_t)(0x40 | tkl), d[1] = 0x01;
		expect_decode_err(__LINE__, EVUDP6_E_MSG_TKL, d, sizeof(d));
	}
}
END_TEST

START_TEST(msg_decode_rejects_truncated_token)
{
	uint8_t d[4 + 8] = {0, 0x01, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8};

	for (unsigned tkl = 1; tkl <= 8; tkl++) {
		d[0] = (uint8_t)(0x40 | tkl);
		for (size_t have = 0; have < tkl; have++)
			expect_decode_err(__LINE__, EVUDP6_E_MSG_TOKEN_TRUNC, d, 4 + have);
		struct evudp6_msg m;
		ck_assert_int_eq(evudp6_msg_decode(&m, d, 4 + tkl), 0);
	}
}
END_TEST

START_TEST(msg_decode_rejects_delta_nibble_15)
{
	uint8_t d[4 + 1 + 300];

	memset(d, 0, sizeof(d));
	d[0] = 0x40, d[1] = 0x01;
	/* 0xff itself is the payload marker */
	for (unsigned b = 0xf0; b < 0xff; b++) {
		d[4] = (uint8_t)b;
		expect_decode_err(__LINE__, EVUDP6_E_MSG_OPT_NIBBLE15, d, sizeof(d));
	}
}
END_TEST

START_TEST(msg_decode_rejects_length_nibble_15)
{
	uint8_t d[4 + 1 + 300];

	memset(d, 0, sizeof(d));
	d[0] = 0x40, d[1] = 0x01;
	for (unsigned dn = 0; dn < 15; dn++) {
		d[4] = (uint8_t)(dn << 4 | 15);
		expect_decode_err(__LINE__, EVUDP6_E_MSG_OPT_NIBBLE15, d, sizeof(d));
	}
}
END_TEST

START_TEST(msg_decode_rejects_nibble_15_after_valid_option)
{
	EXPECT_DECODE_ERR(EVUDP6_E_MSG_OPT_NIBBLE15, 0x40, 0x01, 0, 0, 0xb1, 'a', 0x1f, 0, 0, 0, 0, 0, 0, 0,
	                  0, 0, 0, 0, 0, 0, 0, 0);
}
END_TEST

START_TEST(msg_decode_judges_nibble_15_before_extension_bytes)
{
	/* length nibble 15 behind a delta that wants an extension byte */
	EXPECT_DECODE_ERR(EVUDP6_E_MSG_OPT_NIBBLE15, 0x40, 0x01, 0, 0, 0xdf);
	EXPECT_DECODE_ERR(EVUDP6_E_MSG_OPT_NIBBLE15, 0x40, 0x01, 0, 0, 0xfe);
}
END_TEST

START_TEST(msg_decode_rejects_missing_extended_delta)
{
	EXPECT_DECODE_ERR(EVUDP6_E_MSG_OPT_EXT_TRUNC, 0x40, 0x01, 0, 0, 0xd0);
	EXPECT_DECODE_ERR(EVUDP6_E_MSG_OPT_EXT_TRUNC, 0x40, 0x01, 0, 0, 0xe0);
	EXPECT_DECODE_ERR(EVUDP6_E_MSG_OPT_EXT_TRUNC, 0x40, 0x01, 0, 0, 0xe0, 0x00);
	EXPECT_DECODE_ERR(EVUDP6_E_MSG_OPT_EXT_TRUNC, 0x40, 0x01, 0, 0, 0x01, 'a', 0xd0);
}
END_TEST

START_TEST(msg_decode_rejects_missing_extended_length)
{
	EXPECT_DECODE_ERR(EVUDP6_E_MSG_OPT_EXT_TRUNC, 0x40, 0x01, 0, 0, 0x0d);
	EXPECT_DECODE_ERR(EVUDP6_E_MSG_OPT_EXT_TRUNC, 0x40, 0x01, 0, 0, 0x0e);
	EXPECT_DECODE_ERR(EVUDP6_E_MSG_OPT_EXT_TRUNC, 0x40, 0x01, 0, 0, 0x0e, 0x00);
	/* the delta's extension is there, the length's is not */
	EXPECT_DECODE_ERR(EVUDP6_E_MSG_OPT_EXT_TRUNC, 0x40, 0x01, 0, 0, 0xdd, 0x00);
	EXPECT_DECODE_ERR(EVUDP6_E_MSG_OPT_EXT_TRUNC, 0x40, 0x01, 0, 0, 0xed, 0x00, 0x00);
	EXPECT_DECODE_ERR(EVUDP6_E_MSG_OPT_EXT_TRUNC, 0x40, 0x01, 0, 0, 0xde, 0x00, 0x00);
}
END_TEST

START_TEST(msg_decode_rejects_value_past_end)
{
	static const uint8_t hdr[] = {0x40, 0x01, 0, 0};
	size_t n;

	EXPECT_DECODE_ERR(EVUDP6_E_MSG_OPT_VALUE_TRUNC, 0x40, 0x01, 0, 0, 0x01);
	EXPECT_DECODE_ERR(EVUDP6_E_MSG_OPT_VALUE_TRUNC, 0x40, 0x01, 0, 0, 0x03, 'a', 'b');
	EXPECT_DECODE_ERR(EVUDP6_E_MSG_OPT_VALUE_TRUNC, 0x40, 0x01, 0, 0, 0x03, 'a', 0xff);
	EXPECT_DECODE_ERR(EVUDP6_E_MSG_OPT_VALUE_TRUNC, 0x40, 0x01, 0, 0, 0x01, 'a', 0x02, 'b');
	/* extended lengths one byte short */
	n = cat(big_in, hdr, 4, BYTES(0x0d, 0x00));
	memset(big_in + n, 'x', 12);
	expect_decode_err(__LINE__, EVUDP6_E_MSG_OPT_VALUE_TRUNC, big_in, n + 12);
	n = cat(big_in, hdr, 4, BYTES(0x0e, 0xff, 0xff));
	memset(big_in + n, 'x', EVUDP6_OPT_MAX - 1);
	expect_decode_err(__LINE__, EVUDP6_E_MSG_OPT_VALUE_TRUNC, big_in, n + EVUDP6_OPT_MAX - 1);
}
END_TEST

START_TEST(msg_decode_rejects_marker_without_payload)
{
	EXPECT_DECODE_ERR(EVUDP6_E_MSG_MARKER_NO_PAYLOAD, 0x40, 0x01, 0, 0, 0xff);
	EXPECT_DECODE_ERR(EVUDP6_E_MSG_MARKER_NO_PAYLOAD, 0x42, 0x01, 0, 0, 0xaa, 0xbb, 0xff);
	EXPECT_DECODE_ERR(EVUDP6_E_MSG_MARKER_NO_PAYLOAD, 0x40, 0x01, 0, 0, 0xb1, 'a', 0xff);
}
END_TEST

START_TEST(msg_decode_rejects_empty_with_token)
{
	EXPECT_DECODE_ERR(EVUDP6_E_MSG_EMPTY_NOT_EMPTY, 0x41, 0x00, 0, 0, 0x01);
	EXPECT_DECODE_ERR(EVUDP6_E_MSG_EMPTY_NOT_EMPTY, 0x68, 0x00, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8);
}
END_TEST

START_TEST(msg_decode_rejects_empty_with_options)
{
	EXPECT_DECODE_ERR(EVUDP6_E_MSG_EMPTY_NOT_EMPTY, 0x40, 0x00, 0, 0, 0x00);
	EXPECT_DECODE_ERR(EVUDP6_E_MSG_EMPTY_NOT_EMPTY, 0x60, 0x00, 0, 0, 0xb1, 'a');
}
END_TEST

START_TEST(msg_decode_rejects_empty_with_payload)
{
	EXPECT_DECODE_ERR(EVUDP6_E_MSG_EMPTY_NOT_EMPTY, 0x60, 0x00, 0, 0, 0xff, 'x');
	EXPECT_DECODE_ERR(EVUDP6_E_MSG_EMPTY_NOT_EMPTY, 0x70, 0x00, 0, 0, 0xff);
}
END_TEST

static void expect_class_reserved(int line, unsigned cls)
{
	for (unsigned detail = 0; detail < 32; detail++) {
		uint8_t d[] = {0x40, EVUDP6_CODE(cls, detail), 0, 0, 0xff, 'x'};
		expect_decode_err(line, EVUDP6_E_MSG_CODE_RESERVED, d, sizeof(d));
	}
}

START_TEST(msg_decode_rejects_code_class_1)
{
	expect_class_reserved(__LINE__, 1);
}
END_TEST

START_TEST(msg_decode_rejects_code_class_6)
{
	expect_class_reserved(__LINE__, 6);
}
END_TEST

START_TEST(msg_decode_rejects_code_class_7)
{
	expect_class_reserved(__LINE__, 7);
}
END_TEST

START_TEST(msg_decode_reports_header_faults_first)
{
	/* Several faults at once: the one nearest the start of the datagram wins. */
	EXPECT_DECODE_ERR(EVUDP6_E_MSG_SHORT, 0x0f, 0xe0, 0);
	EXPECT_DECODE_ERR(EVUDP6_E_MSG_VERSION, 0x8f, 0xe0, 0, 0, 0xff);
	EXPECT_DECODE_ERR(EVUDP6_E_MSG_TKL, 0x4f, 0xe0, 0, 0, 0xff);
	EXPECT_DECODE_ERR(EVUDP6_E_MSG_CODE_RESERVED, 0x44, 0xe0, 0, 0, 0xff);
	/* an Empty message must be bare, whatever follows the header */
	EXPECT_DECODE_ERR(EVUDP6_E_MSG_EMPTY_NOT_EMPTY, 0x44, 0x00, 0, 0, 0xf0);
	EXPECT_DECODE_ERR(EVUDP6_E_MSG_TOKEN_TRUNC, 0x44, 0x01, 0, 0, 0xff);
}
END_TEST

/* The rules fix exactly which 1- and 2-byte option sections are valid. */
START_TEST(msg_decode_all_short_tails_roundtrip)
{
	uint8_t d[6] = {0x40, 0x01, 0x12, 0x34};
	struct evudp6_msg m;
	int ok1 = 0, ok2 = 0;

	for (unsigned a = 0; a < 256; a++) {
		d[4] = (uint8_t)a;
		if (evudp6_msg_decode(&m, d, 5) == 0) {
			expect_roundtrip(__LINE__, d, 5);
			ok1++;
		}
		for (unsigned b = 0; b < 256; b++) {
			d[5] = (uint8_t)b;
			int r = evudp6_msg_decode(&m, d, 6);
			if (r == 0) {
				expect_roundtrip(__LINE__, d, 6);
				ok2++;
			} else {
				ck_assert_msg(r <= -EVUDP6_E_MSG_OPT_NIBBLE15 &&
				                  r >= -EVUDP6_E_MSG_MARKER_NO_PAYLOAD,
				              "%02x %02x: %s", a, b, evudp6_strerror_name(r));
				ck_assert(view_is_zero(&m));
			}
		}
	}
	/* one byte: an option with delta 0..12 and no value */
	ck_assert_int_eq(ok1, 13);
	/*
	 * two bytes: marker + 1-byte payload (256); delta 0..12 with a 1-byte
	 * value (13 * 256); delta 13 + its extension byte (256); two bare
	 * options (13 * 13).
	 */
	ck_assert_int_eq(ok2, 256 + 13 * 256 + 256 + 13 * 13);
}
END_TEST

/* xorshift32: a fixed sequence, so failures reproduce. */
static uint32_t rnd_state = 2463534242u;
static uint32_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 17;
	rnd_state ^= rnd_state << 5;
	return rnd_state;
}

START_TEST(msg_decode_random_datagrams_roundtrip_or_fail_cleanly)
{
	/* Bytes that matter to the option parser come up often. */
	static const uint8_t pick[] = {0x00, 0x01, 0x0d, 0x0e, 0x10, 0xd0,
	                               0xe0, 0xdd, 0xee, 0xff, 0x0f, 0xf0};
	int seen[EVUDP6_E_MSG_CODE_RESERVED - EVUDP6_E_MSG_SHORT + 2] = {0};
	uint8_t d[48];
	struct evudp6_msg m;

	for (int i = 0; i < 300000; i++) {
		size_t len = rnd() % sizeof(d);
		for (size_t j = 0; j < len; j++) {
			uint32_t x = rnd();
			d[j] = (x & 1) ? pick[(x >> 1) % sizeof(pick)] : (uint8_t)(x >> 8);
		}
		if (len >= 2 && (rnd() & 3) != 0) {
			d[0] = (uint8_t)(0x40 | (d[0] & 0x37)); /* version 1, TKL 0..7 */
			d[1] &= 0x9f;                           /* classes 0, 4 */
		}
		int r = evudp6_msg_decode(&m, d, len);
		if (r == 0) {
			expect_roundtrip(__LINE__, d, len);
			seen[0]++;
		} else {
			ck_assert_int_le(r, -EVUDP6_E_MSG_SHORT);
			ck_assert_int_ge(r, -EVUDP6_E_MSG_CODE_RESERVED);
			ck_assert(view_is_zero(&m));
			seen[-r - EVUDP6_E_MSG_SHORT + 1]++;
		}
	}
	for (size_t k = 0; k < sizeof(seen) / sizeof(seen[0]); k++)
		ck_assert_msg(seen[k] > 0, "outcome %zu never seen", k);
}
END_TEST

/* -------------------------------------------------------------- peek */

START_TEST(msg_peek_header_reads_malformed_con)
{
	static const uint8_t d[] = {0x42, 0x01, 0xbe, 0xef, 0x11, 0x22, 0xf0};
	struct evudp6_msg m;

	ck_assert_int_eq(evudp6_msg_decode(&m, d, sizeof(d)), -EVUDP6_E_MSG_OPT_NIBBLE15);
	ck_assert_int_eq(evudp6_msg_peek_header(&m, d, sizeof(d)), 0);
	ck_assert_uint_eq(m.type, EVUDP6_CON);
	ck_assert_uint_eq(m.code, EVUDP6_GET);
	ck_assert_uint_eq(m.mid, 0xbeef);
	ck_assert_uint_eq(m.tkl, 2);
	ck_assert_ptr_eq(m.token, d + 4);
	ck_assert_ptr_eq(m.data, d);
	ck_assert_uint_eq(m.len, sizeof(d));
}
END_TEST

START_TEST(msg_peek_header_omits_illegal_or_cut_token)
{
	static const uint8_t tkl9[] = {0x59, 0x01, 0x00, 0x07, 1, 2, 3, 4, 5, 6, 7, 8, 9};
	static const uint8_t cut[] = {0x44, 0x45, 0x00, 0x08, 1, 2};
	struct evudp6_msg m;

	ck_assert_int_eq(evudp6_msg_peek_header(&m, tkl9, sizeof(tkl9)), 0);
	ck_assert_uint_eq(m.type, EVUDP6_NON);
	ck_assert_uint_eq(m.mid, 7);
	ck_assert_uint_eq(m.tkl, 0);
	ck_assert_ptr_null(m.token);
	ck_assert_int_eq(evudp6_msg_peek_header(&m, cut, sizeof(cut)), 0);
	ck_assert_uint_eq(m.code, CONTENT);
	ck_assert_uint_eq(m.mid, 8);
	ck_assert_uint_eq(m.tkl, 0);
	ck_assert_ptr_null(m.token);
}
END_TEST

START_TEST(msg_peek_header_rejects_short_and_bad_version)
{
	static const uint8_t d[] = {0x80, 0x01, 0, 0};
	struct evudp6_msg m;

	memset(&m, 0xa5, sizeof(m));
	ck_assert_int_eq(evudp6_msg_peek_header(&m, d, 3), -EVUDP6_E_MSG_SHORT);
	ck_assert(view_is_zero(&m));
	memset(&m, 0xa5, sizeof(m));
	ck_assert_int_eq(evudp6_msg_peek_header(&m, d, 4), -EVUDP6_E_MSG_VERSION);
	ck_assert(view_is_zero(&m));
}
END_TEST

/* ----------------------------------------------- iteration and lookup */

/* Uri-Host "h", Uri-Path "a", Uri-Path "b", Content-Format 40, Uri-Query "q" */
static const uint8_t five_opts[] = {0x40, 0x01, 0, 1, 0x31, 'h', 0x81, 'a', 0x01, 'b', 0x11, 40, 0x31, 'q'};

START_TEST(msg_iter_yields_options_in_wire_order)
{
	struct evudp6_msg m;
	struct evudp6_opt_iter it;

	ck_assert_int_eq(evudp6_msg_decode(&m, five_opts, sizeof(five_opts)), 0);
	evudp6_opt_iter_init(&it, &m);
	ck_assert_int_eq(next_opt(&it, EVUDP6_OPT_URI_HOST, "h"), 1);
	ck_assert_int_eq(next_opt(&it, EVUDP6_OPT_URI_PATH, "a"), 1);
	ck_assert_int_eq(next_opt(&it, EVUDP6_OPT_URI_PATH, "b"), 1);
	ck_assert_int_eq(next_opt(&it, EVUDP6_OPT_CONTENT_FORMAT, "("), 1);
	ck_assert_int_eq(next_opt(&it, EVUDP6_OPT_URI_QUERY, "q"), 1);
	ck_assert_int_eq(next_opt(&it, 0, ""), 0);
	ck_assert_int_eq(next_opt(&it, 0, ""), 0);
}
END_TEST

START_TEST(msg_iter_over_zeroed_view_yields_nothing)
{
	struct evudp6_msg m;
	struct evudp6_opt_iter it;
	struct evudp6_opt o;

	ck_assert_int_eq(evudp6_msg_decode(&m, BYTES(0x40, 0x01, 0, 0, 0xf0)), -EVUDP6_E_MSG_OPT_NIBBLE15);
	evudp6_opt_iter_init(&it, &m);
	ck_assert_int_eq(evudp6_opt_iter_next(&it, &o), 0);
}
END_TEST

START_TEST(msg_find_opt_returns_first_of_repeated)
{
	struct evudp6_msg m;
	struct evudp6_opt o;

	ck_assert_int_eq(evudp6_msg_decode(&m, five_opts, sizeof(five_opts)), 0);
	ck_assert_int_eq(evudp6_msg_find_opt(&m, EVUDP6_OPT_URI_PATH, &o), 1);
	ck_assert_uint_eq(o.number, EVUDP6_OPT_URI_PATH);
	ck_assert_ptr_eq(o.value, five_opts + 7);
	ck_assert_uint_eq(o.len, 1);
	ck_assert_int_eq(evudp6_msg_find_opt(&m, EVUDP6_OPT_URI_QUERY, &o), 1);
	ck_assert_ptr_eq(o.value, five_opts + 13);
}
END_TEST

START_TEST(msg_find_opt_returns_0_when_absent)
{
	struct evudp6_msg m;
	struct evudp6_opt o = {.number = 99};

	ck_assert_int_eq(evudp6_msg_decode(&m, five_opts, sizeof(five_opts)), 0);
	ck_assert_int_eq(evudp6_msg_find_opt(&m, 0, &o), 0);
	ck_assert_int_eq(evudp6_msg_find_opt(&m, EVUDP6_OPT_ETAG, &o), 0);
	ck_assert_int_eq(evudp6_msg_find_opt(&m, EVUDP6_OPT_ACCEPT, &o), 0);
	ck_assert_int_eq(evudp6_msg_find_opt(&m, 65804, &o), 0);
	ck_assert_uint_eq(o.number, 99);
}
END_TEST

START_TEST(msg_opt_uint_reads_big_endian_with_leading_zeros)
{
	struct evudp6_opt o = {.number = 7};
	uint32_t v = 77;

	o.value = NULL, o.len = 0;
	ck_assert_int_eq(evudp6_opt_uint(&o, &v), 0);
	ck_assert_uint_eq(v, 0);
	o.value = (const uint8_t *)"\x00\x00\x16\x33", o.len = 4;
	ck_assert_int_eq(evudp6_opt_uint(&o, &v), 0);
	ck_assert_uint_eq(v, 5683);
	o.value = (const uint8_t *)"\xff\xff\xff\xff", o.len = 4;
	ck_assert_int_eq(evudp6_opt_uint(&o, &v), 0);
	ck_assert_uint_eq(v, UINT32_MAX);
	o.value = (const uint8_t *)"\x01\x02\x03", o.len = 3;
	ck_assert_int_eq(evudp6_opt_uint(&o, &v), 0);
	ck_assert_uint_eq(v, 0x010203);
}
END_TEST

START_TEST(msg_opt_uint_rejects_more_than_4_bytes)
{
	struct evudp6_opt o = {.number = 7, .value = (const uint8_t *)"\x00\x00\x00\x00\x01", .len = 5};
	uint32_t v = 77;

	ck_assert_int_eq(evudp6_opt_uint(&o, &v), -ERANGE);
	ck_assert_uint_eq(v, 77);
}
END_TEST

/* ---------------------------------------------------- builder/encoder */

static uint8_t out[256];

START_TEST(msg_encode_appendix_a_request)
{
	static const uint8_t want[] = {0x40, 0x01, 0x7d, 0x34, 0xbb, 't', 'e', 'm',
	                               'p',  'e',  'r',  'a',  't',  'u', 'r', 'e'};
	struct evudp6_msg_builder b;

	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 0x7d34);
	ck_assert_int_eq(evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_PATH, "temperature", 11), 0);
	ck_assert_int_eq(evudp6_msg_encode(&b, out, sizeof(out)), sizeof(want));
	ck_assert_mem_eq(out, want, sizeof(want));
}
END_TEST

START_TEST(msg_encode_appendix_a_response_with_token)
{
	static const uint8_t want[] = {0x61, 0x45, 0x7d, 0x35, 0x20, 0xff, '2', '2', '.', '5', ' ', 'C'};
	struct evudp6_msg_builder b;

	evudp6_msg_builder_init(&b, EVUDP6_ACK, CONTENT, 0x7d35);
	ck_assert_int_eq(evudp6_msg_builder_set_token(&b, "\x20", 1), 0);
	evudp6_msg_builder_set_payload(&b, "22.5 C", 6);
	ck_assert_int_eq(evudp6_msg_encode(&b, out, sizeof(out)), sizeof(want));
	ck_assert_mem_eq(out, want, sizeof(want));
}
END_TEST

START_TEST(msg_encode_empty_ack)
{
	struct evudp6_msg_builder b;

	evudp6_msg_builder_init(&b, EVUDP6_ACK, EVUDP6_EMPTY, 0x7d38);
	ck_assert_int_eq(evudp6_msg_encode(&b, out, sizeof(out)), 4);
	ck_assert_mem_eq(out, ((const uint8_t[]){0x60, 0x00, 0x7d, 0x38}), 4);
}
END_TEST

START_TEST(msg_encode_zero_length_payload_means_none)
{
	struct evudp6_msg_builder b;

	evudp6_msg_builder_init(&b, EVUDP6_NON, EVUDP6_GET, 1);
	evudp6_msg_builder_set_payload(&b, "x", 0);
	ck_assert_int_eq(evudp6_msg_encode(&b, out, sizeof(out)), 4);
	ck_assert_ptr_null(b.payload);
}
END_TEST

START_TEST(msg_encode_sorts_options_by_number)
{
	static const uint8_t want[] = {0x40, 0x02, 0x00, 0x09, 0x31, 'h', 0x81, 'a', 0x10, 0x31, 'q'};
	struct evudp6_msg_builder b;

	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_POST, 9);
	ck_assert_int_eq(evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_QUERY, "q", 1), 0);
	ck_assert_int_eq(evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_CONTENT_FORMAT, 0), 0);
	ck_assert_int_eq(evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_PATH, "a", 1), 0);
	ck_assert_int_eq(evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_HOST, "h", 1), 0);
	ck_assert_int_eq(evudp6_msg_encode(&b, out, sizeof(out)), sizeof(want));
	ck_assert_mem_eq(out, want, sizeof(want));
}
END_TEST

START_TEST(msg_encode_keeps_repeated_options_in_insertion_order)
{
	struct evudp6_msg_builder b;
	struct evudp6_msg m;
	struct evudp6_opt_iter it;

	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 1);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_PATH, "a", 1);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_QUERY, "x=1", 3);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_PATH, "b", 1);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_HOST, "h", 1);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_QUERY, "y=2", 3);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_PATH, "c", 1);
	ck_assert_uint_eq(b.nopts, 6);
	ssize_t n = evudp6_msg_encode(&b, out, sizeof(out));
	ck_assert_int_eq(n, 4 + 2 + 2 + 2 + 2 + 4 + 4);
	ck_assert_int_eq(evudp6_msg_decode(&m, out, (size_t)n), 0);
	evudp6_opt_iter_init(&it, &m);
	ck_assert_int_eq(next_opt(&it, EVUDP6_OPT_URI_HOST, "h"), 1);
	ck_assert_int_eq(next_opt(&it, EVUDP6_OPT_URI_PATH, "a"), 1);
	ck_assert_int_eq(next_opt(&it, EVUDP6_OPT_URI_PATH, "b"), 1);
	ck_assert_int_eq(next_opt(&it, EVUDP6_OPT_URI_PATH, "c"), 1);
	ck_assert_int_eq(next_opt(&it, EVUDP6_OPT_URI_QUERY, "x=1"), 1);
	ck_assert_int_eq(next_opt(&it, EVUDP6_OPT_URI_QUERY, "y=2"), 1);
	ck_assert_int_eq(next_opt(&it, 0, ""), 0);
}
END_TEST

/* Expected option header bytes for a value (delta or length) on its own. */
static size_t ext_form(uint32_t v, unsigned *nibble, uint8_t ext[2])
{
	if (v < 13) {
		*nibble = v;
		return 0;
	}
	if (v < 269) {
		*nibble = 13, ext[0] = (uint8_t)(v - 13);
		return 1;
	}
	*nibble = 14, ext[0] = (uint8_t)((v - 269) >> 8), ext[1] = (uint8_t)(v - 269);
	return 2;
}

static const uint32_t edge[] = {0, 1, 12, 13, 268, 269, 270, 65804};

START_TEST(msg_roundtrip_option_numbers)
{
	struct evudp6_msg_builder b;
	struct evudp6_msg m;
	struct evudp6_opt_iter it;

	for (size_t i = 0; i < sizeof(edge) / sizeof(edge[0]); i++) {
		uint8_t ext[2];
		unsigned nib;
		size_t el = ext_form(edge[i], &nib, ext);

		evudp6_msg_builder_init(&b, EVUDP6_NON, EVUDP6_GET, 2);
		ck_assert_int_eq(evudp6_msg_builder_add_opt(&b, edge[i], "v", 1), 0);
		ssize_t n = evudp6_msg_encode(&b, out, sizeof(out));
		ck_assert_int_eq(n, (ssize_t)(4 + 1 + el + 1));
		ck_assert_uint_eq(out[4], nib << 4 | 1);
		ck_assert_mem_eq(out + 5, ext, el);
		ck_assert_uint_eq(out[5 + el], 'v');
		ck_assert_int_eq(evudp6_msg_decode(&m, out, (size_t)n), 0);
		evudp6_opt_iter_init(&it, &m);
		ck_assert_int_eq(next_opt(&it, edge[i], "v"), 1);
		ck_assert_int_eq(next_opt(&it, 0, ""), 0);
	}

	/* all of them in one message, added backwards: the deltas between them */
	evudp6_msg_builder_init(&b, EVUDP6_NON, EVUDP6_GET, 2);
	for (size_t i = sizeof(edge) / sizeof(edge[0]); i-- > 0;)
		ck_assert_int_eq(evudp6_msg_builder_add_opt(&b, edge[i], NULL, 0), 0);
	ssize_t n = evudp6_msg_encode(&b, out, sizeof(out));
	/* deltas 0 1 11 1 255 1 1 65534 */
	static const uint8_t want[] = {0x00, 0x10, 0xb0, 0x10, 0xd0, 0xf2, 0x10, 0x10, 0xe0, 0xfe, 0xf1};
	ck_assert_int_eq(n, 4 + sizeof(want));
	ck_assert_mem_eq(out + 4, want, sizeof(want));
	ck_assert_int_eq(evudp6_msg_decode(&m, out, (size_t)n), 0);
	evudp6_opt_iter_init(&it, &m);
	for (size_t i = 0; i < sizeof(edge) / sizeof(edge[0]); i++)
		ck_assert_int_eq(next_opt(&it, edge[i], ""), 1);
	ck_assert_int_eq(next_opt(&it, 0, ""), 0);
}
END_TEST

START_TEST(msg_roundtrip_value_lengths)
{
	static const size_t lens[] = {0, 12, 13, 268, 269, 65804};
	static uint8_t val[EVUDP6_OPT_MAX];
	struct evudp6_msg_builder b;
	struct evudp6_msg m;
	struct evudp6_opt o;

	for (size_t i = 0; i < sizeof(val); i++)
		val[i] = (uint8_t)(i * 7 + 3);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		uint8_t ext[2];
		unsigned nib;
		size_t el = ext_form((uint32_t)lens[i], &nib, ext);

		evudp6_msg_builder_init(&b, EVUDP6_CON, CONTENT, 3);
		/* Option 2 is unassigned: no RFC range limits its length. */
		ck_assert_int_eq(evudp6_msg_builder_add_opt(&b, 2, val, lens[i]), 0);
		evudp6_msg_builder_set_payload(&b, "p", 1);
		ssize_t n = evudp6_msg_encode(&b, big_out, sizeof(big_out));
		ck_assert_int_eq(n, (ssize_t)(4 + 1 + el + lens[i] + 2));
		ck_assert_uint_eq(big_out[4], 2u << 4 | nib);
		ck_assert_mem_eq(big_out + 5, ext, el);
		ck_assert_int_eq(evudp6_msg_decode(&m, big_out, (size_t)n), 0);
		ck_assert_int_eq(evudp6_msg_find_opt(&m, 2, &o), 1);
		ck_assert_uint_eq(o.len, lens[i]);
		ck_assert_ptr_eq(o.value, big_out + 5 + el);
		ck_assert(memcmp(o.value, val, lens[i]) == 0);
		ck_assert_uint_eq(m.payload_len, 1);
		ck_assert_uint_eq(m.payload[0], 'p');
	}
}
END_TEST

START_TEST(msg_builder_rejects_option_number_above_65804)
{
	struct evudp6_msg_builder b;

	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 1);
	ck_assert_int_eq(evudp6_msg_builder_add_opt(&b, 65804, "", 0), 0);
	ck_assert_int_eq(evudp6_msg_builder_add_opt(&b, 65805, "", 0), -EVUDP6_E_MSG_OPT_NUMBER);
	ck_assert_int_eq(evudp6_msg_builder_add_uint(&b, UINT32_MAX, 1), -EVUDP6_E_MSG_OPT_NUMBER);
	ck_assert_uint_eq(b.nopts, 1);
	ck_assert_int_eq(evudp6_msg_encode(&b, out, sizeof(out)), -EVUDP6_E_MSG_OPT_NUMBER);
}
END_TEST

START_TEST(msg_builder_rejects_option_length_above_65804)
{
	struct evudp6_msg_builder b;

	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 1);
	ck_assert_int_eq(evudp6_msg_builder_add_opt(&b, 1, big_in, 65805), -EVUDP6_E_MSG_OPT_LENGTH);
	ck_assert_int_eq(evudp6_msg_builder_add_opt(&b, 1, big_in, SIZE_MAX), -EVUDP6_E_MSG_OPT_LENGTH);
	ck_assert_uint_eq(b.nopts, 0);
	ck_assert_int_eq(evudp6_msg_encode(&b, big_out, sizeof(big_out)), -EVUDP6_E_MSG_OPT_LENGTH);
}
END_TEST

START_TEST(msg_builder_rejects_too_many_options)
{
	struct evudp6_msg_builder b;

	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 1);
	for (int i = 0; i < EVUDP6_BUILDER_MAX_OPTS; i++)
		ck_assert_int_eq(evudp6_msg_builder_add_uint(&b, (uint32_t)(2000 + i), (uint32_t)i), 0);
	ck_assert_int_eq(evudp6_msg_builder_add_opt(&b, 1, "", 0), -EVUDP6_E_MSG_TOO_MANY_OPTS);
	ck_assert_int_eq(evudp6_msg_builder_add_uint(&b, 1, 1), -EVUDP6_E_MSG_TOO_MANY_OPTS);
	ck_assert_uint_eq(b.nopts, EVUDP6_BUILDER_MAX_OPTS);
	ck_assert_int_eq(evudp6_msg_encode(&b, out, sizeof(out)), -EVUDP6_E_MSG_TOO_MANY_OPTS);
}
END_TEST

START_TEST(msg_builder_reports_first_error_at_encode)
{
	struct evudp6_msg_builder b;

	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 1);
	ck_assert_int_eq(evudp6_msg_builder_add_opt(&b, 1, big_in, 70000), -EVUDP6_E_MSG_OPT_LENGTH);
	ck_assert_int_eq(evudp6_msg_builder_add_opt(&b, 70000, "", 0), -EVUDP6_E_MSG_OPT_NUMBER);
	ck_assert_int_eq(evudp6_msg_builder_add_opt(&b, 11, "ok", 2), 0);
	ck_assert_int_eq(b.err, -EVUDP6_E_MSG_OPT_LENGTH);
	ck_assert_int_eq(evudp6_msg_encode(&b, out, sizeof(out)), -EVUDP6_E_MSG_OPT_LENGTH);
}
END_TEST

START_TEST(msg_builder_rejects_token_longer_than_8)
{
	struct evudp6_msg_builder b;

	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 1);
	ck_assert_int_eq(evudp6_msg_builder_set_token(&b, "12345678", 8), 0);
	ck_assert_uint_eq(b.tkl, 8);
	ck_assert_int_eq(evudp6_msg_builder_set_token(&b, "123456789", 9), -EVUDP6_E_MSG_TOKEN_LENGTH);
	ck_assert_uint_eq(b.tkl, 8);
	ck_assert_int_eq(evudp6_msg_encode(&b, out, sizeof(out)), -EVUDP6_E_MSG_TOKEN_LENGTH);
}
END_TEST

START_TEST(msg_builder_rejects_missing_value)
{
	struct evudp6_msg_builder b;

	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 1);
	ck_assert_int_eq(evudp6_msg_builder_add_opt(&b, 2, NULL, 0), 0);
	ck_assert_int_eq(evudp6_msg_builder_add_opt(&b, 2, NULL, 1), -EINVAL);
	ck_assert_int_eq(evudp6_msg_encode(&b, out, sizeof(out)), -EINVAL);
}
END_TEST

START_TEST(msg_encode_reports_nospace_for_every_short_size)
{
	static uint8_t buf[600];
	static uint8_t val[300];
	struct evudp6_msg_builder b;

	evudp6_msg_builder_init(&b, EVUDP6_CON, CONTENT, 0x4242);
	evudp6_msg_builder_set_token(&b, "tok", 3);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_ETAG, "e", 1);
	evudp6_msg_builder_add_opt(&b, 300, val, 20);
	evudp6_msg_builder_add_opt(&b, 22, val, 270);
	evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_MAX_AGE, 60);
	evudp6_msg_builder_set_payload(&b, "payload", 7);
	ssize_t full = evudp6_msg_encode(&b, buf, sizeof(buf));
	/* header, token, ETag, Max-Age, option 22 (2-byte length), option 300, payload */
	ck_assert_int_eq(full, 4 + 3 + 2 + 2 + (1 + 2 + 270) + (1 + 2 + 1 + 20) + 1 + 7);
	for (size_t size = 0; size < (size_t)full; size++) {
		memset(buf, 0xa5, sizeof(buf));
		ck_assert_int_eq(evudp6_msg_encode(&b, buf, size), -EVUDP6_E_MSG_NOSPACE);
		for (size_t i = size; i < sizeof(buf); i++)
			ck_assert_msg(buf[i] == 0xa5, "size %zu: byte %zu written", size, i);
	}
	ck_assert_int_eq(evudp6_msg_encode(&b, NULL, 0), -EVUDP6_E_MSG_NOSPACE);
	ck_assert_int_eq(evudp6_msg_encode(&b, buf, (size_t)full), full);
	expect_roundtrip(__LINE__, buf, (size_t)full);
}
END_TEST

START_TEST(msg_add_uint_writes_shortest_form)
{
	static const struct {
		uint32_t v;
		size_t len;
		const char *bytes;
	} t[] = {
	    {0, 0, ""},
	    {1, 1, "\x01"},
	    {255, 1, "\xff"},
	    {256, 2, "\x01\x00"},
	    {65535, 2, "\xff\xff"},
	    {65536, 3, "\x01\x00\x00"},
	    {0xffffff, 3, "\xff\xff\xff"},
	    {0x1000000, 4, "\x01\x00\x00\x00"},
	    {UINT32_MAX, 4, "\xff\xff\xff\xff"},
	};
	struct evudp6_msg_builder b;
	struct evudp6_msg m;
	struct evudp6_opt o;
	uint32_t v;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 1);
		ck_assert_int_eq(evudp6_msg_builder_add_uint(&b, 2, t[i].v), 0);
		ssize_t n = evudp6_msg_encode(&b, out, sizeof(out));
		ck_assert_int_eq(n, (ssize_t)(5 + t[i].len));
		ck_assert_uint_eq(out[4], 2u << 4 | t[i].len);
		ck_assert_mem_eq(out + 5, t[i].bytes, t[i].len);
		ck_assert_int_eq(evudp6_msg_decode(&m, out, (size_t)n), 0);
		ck_assert_int_eq(evudp6_msg_find_opt(&m, 2, &o), 1);
		ck_assert_int_eq(evudp6_opt_uint(&o, &v), 0);
		ck_assert_uint_eq(v, t[i].v);
	}
}
END_TEST

START_TEST(msg_add_uint_values_survive_later_adds)
{
	struct evudp6_msg_builder b;
	struct evudp6_msg m;
	struct evudp6_opt_iter it;

	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 1);
	evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_SIZE1, 0x0102);
	evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_ACCEPT, 0x03);
	evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_URI_PORT, 0x0405);
	evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_SIZE1, 0x06);
	ssize_t n = evudp6_msg_encode(&b, out, sizeof(out));
	ck_assert_int_eq(evudp6_msg_decode(&m, out, (size_t)n), 0);
	evudp6_opt_iter_init(&it, &m);
	ck_assert_int_eq(next_opt(&it, EVUDP6_OPT_URI_PORT, "\x04\x05"), 1);
	ck_assert_int_eq(next_opt(&it, EVUDP6_OPT_ACCEPT, "\x03"), 1);
	ck_assert_int_eq(next_opt(&it, EVUDP6_OPT_SIZE1, "\x01\x02"), 1);
	ck_assert_int_eq(next_opt(&it, EVUDP6_OPT_SIZE1, "\x06"), 1);
	ck_assert_int_eq(next_opt(&it, 0, ""), 0);
}
END_TEST

/* A builder is a value: a copy made by assignment (or memcpy, or a
 * struct returned from a function) encodes on its own, even after the
 * original is reused for another message. */
START_TEST(msg_builder_copied_by_assignment_encodes_on_its_own)
{
	struct evudp6_msg_builder a, copy;
	uint8_t want[64], got[64];

	evudp6_msg_builder_init(&a, EVUDP6_CON, EVUDP6_GET, 0x1234);
	evudp6_msg_builder_add_uint(&a, EVUDP6_OPT_URI_PORT, 0x1633);
	evudp6_msg_builder_add_opt(&a, EVUDP6_OPT_URI_PATH, "x", 1);
	evudp6_msg_builder_add_uint(&a, EVUDP6_OPT_CONTENT_FORMAT, 50);
	evudp6_msg_builder_add_uint(&a, EVUDP6_OPT_ACCEPT, 0);
	ssize_t n = evudp6_msg_encode(&a, want, sizeof(want));
	ck_assert_int_eq(n, 4 + 3 + 2 + 2 + 1);
	ck_assert_mem_eq(want + 4,
	                 "\x72\x16\x33"
	                 "\x41x"
	                 "\x11\x32"
	                 "\x50",
	                 8);

	copy = a;
	/* The original is reused: its uint bytes change under the same slots. */
	evudp6_msg_builder_init(&a, EVUDP6_NON, EVUDP6_PUT, 1);
	for (int i = 0; i < EVUDP6_BUILDER_MAX_OPTS; i++)
		evudp6_msg_builder_add_uint(&a, 60, 0xffffffffu);
	ck_assert_int_eq(evudp6_msg_encode(&copy, got, sizeof(got)), n);
	ck_assert_mem_eq(got, want, (size_t)n);

	/* The copy stays usable as a builder: a later uint lands in order. */
	ck_assert_int_eq(evudp6_msg_builder_add_uint(&copy, EVUDP6_OPT_URI_HOST, 7), 0);
	struct evudp6_msg m;
	struct evudp6_opt_iter it;
	ssize_t n2 = evudp6_msg_encode(&copy, got, sizeof(got));
	ck_assert_int_eq(n2, n + 2);
	ck_assert_int_eq(evudp6_msg_decode(&m, got, (size_t)n2), 0);
	evudp6_opt_iter_init(&it, &m);
	ck_assert_int_eq(next_opt(&it, EVUDP6_OPT_URI_HOST, "\x07"), 1);
	ck_assert_int_eq(next_opt(&it, EVUDP6_OPT_URI_PORT, "\x16\x33"), 1);
	ck_assert_int_eq(next_opt(&it, EVUDP6_OPT_URI_PATH, "x"), 1);
	ck_assert_int_eq(next_opt(&it, EVUDP6_OPT_CONTENT_FORMAT, "\x32"), 1);
	ck_assert_int_eq(next_opt(&it, EVUDP6_OPT_ACCEPT, ""), 1);
	ck_assert_int_eq(next_opt(&it, 0, ""), 0);
}
END_TEST

START_TEST(msg_encode_rejects_empty_with_token)
{
	struct evudp6_msg_builder b;

	evudp6_msg_builder_init(&b, EVUDP6_ACK, EVUDP6_EMPTY, 1);
	evudp6_msg_builder_set_token(&b, "t", 1);
	ck_assert_int_eq(evudp6_msg_encode(&b, out, sizeof(out)), -EVUDP6_E_MSG_EMPTY_NOT_EMPTY);
}
END_TEST

START_TEST(msg_encode_rejects_empty_with_options)
{
	struct evudp6_msg_builder b;

	evudp6_msg_builder_init(&b, EVUDP6_ACK, EVUDP6_EMPTY, 1);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_IF_NONE_MATCH, NULL, 0);
	ck_assert_int_eq(evudp6_msg_encode(&b, out, sizeof(out)), -EVUDP6_E_MSG_EMPTY_NOT_EMPTY);
}
END_TEST

START_TEST(msg_encode_rejects_empty_with_payload)
{
	struct evudp6_msg_builder b;

	evudp6_msg_builder_init(&b, EVUDP6_RST, EVUDP6_EMPTY, 1);
	evudp6_msg_builder_set_payload(&b, "x", 1);
	ck_assert_int_eq(evudp6_msg_encode(&b, out, sizeof(out)), -EVUDP6_E_MSG_EMPTY_NOT_EMPTY);
}
END_TEST

START_TEST(msg_encode_rejects_reserved_code_classes)
{
	struct evudp6_msg_builder b;
	int n = 0;

	for (unsigned c = 0; c < 256; c++) {
		unsigned cls = c >> 5;
		evudp6_msg_builder_init(&b, EVUDP6_NON, (uint8_t)c, 1);
		ssize_t r = evudp6_msg_encode(&b, out, sizeof(out));
		if (cls == 1 || cls == 6 || cls == 7) {
			ck_assert_int_eq(r, -EVUDP6_E_MSG_CODE_RESERVED);
			n++;
		} else {
			ck_assert_int_eq(r, 4);
		}
	}
	ck_assert_int_eq(n, 96);
}
END_TEST

START_TEST(msg_encode_rejects_fields_out_of_range)
{
	struct evudp6_msg_builder b;

	evudp6_msg_builder_init(&b, 4, EVUDP6_GET, 1);
	ck_assert_int_eq(evudp6_msg_encode(&b, out, sizeof(out)), -EINVAL);
	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 1);
	b.tkl = 9;
	ck_assert_int_eq(evudp6_msg_encode(&b, out, sizeof(out)), -EINVAL);
	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 1);
	b.nopts = EVUDP6_BUILDER_MAX_OPTS + 1;
	ck_assert_int_eq(evudp6_msg_encode(&b, out, sizeof(out)), -EINVAL);

	/* a table written by hand: out of order, number or length too big */
	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 1);
	evudp6_msg_builder_add_opt(&b, 11, "a", 1);
	evudp6_msg_builder_add_opt(&b, 12, "b", 1);
	ck_assert_int_eq(evudp6_msg_encode(&b, out, sizeof(out)), 8);
	b.opt[0].number = 13;
	ck_assert_int_eq(evudp6_msg_encode(&b, out, sizeof(out)), -EINVAL);
	b.opt[0].number = 11, b.opt[1].number = 65805;
	ck_assert_int_eq(evudp6_msg_encode(&b, out, sizeof(out)), -EINVAL);
	b.opt[1].number = 12, b.opt[1].len = 65805;
	ck_assert_int_eq(evudp6_msg_encode(&b, out, sizeof(out)), -EINVAL);
}
END_TEST

START_TEST(msg_iter_and_from_msg_survive_forged_view)
{
	/* A view not made by decode: the iterator stops rather than read on. */
	static const uint8_t bad[] = {0xb1, 'a', 0xf0, 0xee};
	struct evudp6_msg m = {.type = EVUDP6_CON, .code = EVUDP6_GET, .opts = bad, .opts_len = sizeof(bad)};
	struct evudp6_msg_builder b;
	struct evudp6_opt_iter it;

	evudp6_opt_iter_init(&it, &m);
	ck_assert_int_eq(next_opt(&it, 11, "a"), 1);
	ck_assert_int_eq(next_opt(&it, 0, ""), 0);
	ck_assert_int_eq(next_opt(&it, 0, ""), 0);
	m.tkl = 9, m.token = bad;
	ck_assert_int_eq(evudp6_msg_builder_from_msg(&b, &m), -EVUDP6_E_MSG_TOKEN_LENGTH);
}
END_TEST

/* Valid datagrams covering every structural form the encoder can write. */
START_TEST(msg_builder_from_msg_reencodes_identical_bytes)
{
	size_t n;

	expect_roundtrip(__LINE__, BYTES(0x60, 0x00, 0x7d, 0x38));
	expect_roundtrip(__LINE__, BYTES(0x70, 0x00, 0xff, 0xff));
	expect_roundtrip(__LINE__, BYTES(0x40, 0x01, 0x7d, 0x34, 0xbb, 't', 'e', 'm', 'p', 'e', 'r', 'a', 't',
	                                 'u', 'r', 'e'));
	expect_roundtrip(__LINE__, BYTES(0x61, 0x45, 0x7d, 0x35, 0x20, 0xff, '2', '2', '.', '5', ' ', 'C'));
	expect_roundtrip(__LINE__, five_opts, sizeof(five_opts));
	expect_roundtrip(__LINE__, BYTES(0x58, 0x45, 0xab, 0xcd, 1, 2, 3, 4, 5, 6, 7, 8, 0xc0, 0x21, 0x3c,
	                                 0xff, 'h', 'i'));
	expect_roundtrip(__LINE__, BYTES(0x40, 0x01, 0, 0, 0xd0, 0x00, 0xe0, 0x00, 0x00, 0xe0, 0xfe, 0x00));
	n = cat(big_in, BYTES(0x40, 0x01, 0, 0), BYTES(0x0e, 0xff, 0xff));
	memset(big_in + n, 'z', EVUDP6_OPT_MAX);
	expect_roundtrip(__LINE__, big_in, n + EVUDP6_OPT_MAX);
}
END_TEST

START_TEST(msg_builder_from_msg_rejects_49_options)
{
	uint8_t d[4 + 49];
	struct evudp6_msg m;
	struct evudp6_msg_builder b;

	memset(d, 0, sizeof(d));
	d[0] = 0x40, d[1] = 0x01;
	ck_assert_int_eq(evudp6_msg_decode(&m, d, 4 + 48), 0);
	ck_assert_int_eq(evudp6_msg_builder_from_msg(&b, &m), 0);
	ck_assert_uint_eq(b.nopts, 48);
	ck_assert_int_eq(evudp6_msg_decode(&m, d, 4 + 49), 0);
	ck_assert_int_eq(evudp6_msg_builder_from_msg(&b, &m), -EVUDP6_E_MSG_TOO_MANY_OPTS);
}
END_TEST

START_TEST(msg_builder_from_msg_rejects_number_above_65804)
{
	static const uint8_t d[] = {0x40, 0x01, 0, 0, 0xe0, 0xff, 0xff, 0x10};
	struct evudp6_msg m;
	struct evudp6_msg_builder b;

	ck_assert_int_eq(evudp6_msg_decode(&m, d, sizeof(d)), 0);
	ck_assert_int_eq(evudp6_msg_builder_from_msg(&b, &m), -EVUDP6_E_MSG_OPT_NUMBER);
}
END_TEST

/* -------------------------------------------------------------- names */

START_TEST(msg_type_name_names_all_four)
{
	ck_assert_str_eq(evudp6_msg_type_name(EVUDP6_CON), "CON");
	ck_assert_str_eq(evudp6_msg_type_name(EVUDP6_NON), "NON");
	ck_assert_str_eq(evudp6_msg_type_name(EVUDP6_ACK), "ACK");
	ck_assert_str_eq(evudp6_msg_type_name(EVUDP6_RST), "RST");
	ck_assert_ptr_null(evudp6_msg_type_name(4));
	ck_assert_ptr_null(evudp6_msg_type_name(255));
}
END_TEST

/* RFC 7252 5.10 (and RFC 7641, 7959, 7967): a known option's value
 * outside its length range is refused by the builder, at both ends of
 * every range; unknown options take any length. */
START_TEST(msg_builder_refuses_option_lengths_outside_rfc_range)
{
	static const struct {
		uint32_t number;
		size_t min, max;
	} t[] = {
	    {EVUDP6_OPT_IF_MATCH, 0, 8},
	    {EVUDP6_OPT_URI_HOST, 1, 255},
	    {EVUDP6_OPT_ETAG, 1, 8},
	    {EVUDP6_OPT_IF_NONE_MATCH, 0, 0},
	    {EVUDP6_OPT_OBSERVE, 0, 3},
	    {EVUDP6_OPT_URI_PORT, 0, 2},
	    {EVUDP6_OPT_LOCATION_PATH, 0, 255},
	    {EVUDP6_OPT_URI_PATH, 0, 255},
	    {EVUDP6_OPT_CONTENT_FORMAT, 0, 2},
	    {EVUDP6_OPT_MAX_AGE, 0, 4},
	    {EVUDP6_OPT_URI_QUERY, 0, 255},
	    {EVUDP6_OPT_ACCEPT, 0, 2},
	    {EVUDP6_OPT_LOCATION_QUERY, 0, 255},
	    {EVUDP6_OPT_BLOCK2, 0, 3},
	    {EVUDP6_OPT_BLOCK1, 0, 3},
	    {EVUDP6_OPT_SIZE2, 0, 4},
	    {EVUDP6_OPT_PROXY_URI, 1, 1034},
	    {EVUDP6_OPT_PROXY_SCHEME, 1, 255},
	    {EVUDP6_OPT_SIZE1, 0, 4},
	    {EVUDP6_OPT_NO_RESPONSE, 0, 1},
	};
	static uint8_t val[1100];
	struct evudp6_msg_builder b;
	size_t min, max;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ck_assert_int_eq(evudp6_opt_length_range(t[i].number, &min, &max), 1);
		ck_assert_uint_eq(min, t[i].min);
		ck_assert_uint_eq(max, t[i].max);
		evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 1);
		ck_assert_int_eq(evudp6_msg_builder_add_opt(&b, t[i].number, val, t[i].min), 0);
		ck_assert_int_eq(evudp6_msg_builder_add_opt(&b, t[i].number, val, t[i].max), 0);
		ck_assert_int_eq(evudp6_msg_builder_add_opt(&b, t[i].number, val, t[i].max + 1),
		                 -EVUDP6_E_MSG_OPT_RANGE);
		ck_assert_uint_eq(b.nopts, 2);
		ck_assert_int_eq(evudp6_msg_encode(&b, out, sizeof(out)), -EVUDP6_E_MSG_OPT_RANGE);
		if (t[i].min > 0) {
			evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 1);
			ck_assert_int_eq(evudp6_msg_builder_add_opt(&b, t[i].number, val, t[i].min - 1),
			                 -EVUDP6_E_MSG_OPT_RANGE);
		}
	}
	/* uint options are held to the same range by their shortest form */
	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 1);
	ck_assert_int_eq(evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_CONTENT_FORMAT, 65535), 0);
	ck_assert_int_eq(evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_CONTENT_FORMAT, 65536),
	                 -EVUDP6_E_MSG_OPT_RANGE);
	ck_assert_int_eq(evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_OBSERVE, 0xffffff), 0);
	ck_assert_int_eq(evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_OBSERVE, 0x1000000),
	                 -EVUDP6_E_MSG_OPT_RANGE);
	ck_assert_int_eq(evudp6_opt_length_range(2, &min, &max), 0);
	ck_assert_int_eq(evudp6_opt_length_range(9, &min, &max), 0);
	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 1);
	ck_assert_int_eq(evudp6_msg_builder_add_opt(&b, 2, val, 1034), 0);
	ck_assert_str_eq(evudp6_strerror_name(-EVUDP6_E_MSG_OPT_RANGE), "EVUDP6_E_MSG_OPT_RANGE");
}
END_TEST

/* A received message is re-encoded as it came, out-of-range values too. */
START_TEST(msg_builder_from_msg_keeps_out_of_range_values)
{
	static uint8_t wire[400], again[400];
	static char seg[300];
	struct evudp6_msg_builder b;
	struct evudp6_msg m;

	memset(seg, 's', sizeof(seg));
	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 9);
	testutil_add_raw_opt(&b, EVUDP6_OPT_URI_PATH, seg, 300);
	ssize_t n = evudp6_msg_encode(&b, wire, sizeof(wire));
	ck_assert_int_eq(n, 4 + 3 + 300);
	ck_assert_int_eq(evudp6_msg_decode(&m, wire, (size_t)n), 0);
	ck_assert_int_eq(evudp6_msg_builder_from_msg(&b, &m), 0);
	ck_assert_int_eq(evudp6_msg_encode(&b, again, sizeof(again)), n);
	ck_assert_mem_eq(again, wire, (size_t)n);
}
END_TEST

/* Every registered Content-Format has its media type; text ones say so. */
START_TEST(msg_content_format_names_follow_iana_registry)
{
	static const struct {
		uint32_t cf;
		const char *name;
		int text;
	} t[] = {
	    {EVUDP6_CF_TEXT_PLAIN, "text/plain;charset=utf-8", 1},
	    {EVUDP6_CF_LINK_FORMAT, "application/link-format", 1},
	    {EVUDP6_CF_XML, "application/xml", 1},
	    {EVUDP6_CF_OCTET_STREAM, "application/octet-stream", 0},
	    {EVUDP6_CF_EXI, "application/exi", 0},
	    {EVUDP6_CF_JSON, "application/json", 1},
	    {EVUDP6_CF_JSON_PATCH_JSON, "application/json-patch+json", 1},
	    {EVUDP6_CF_MERGE_PATCH_JSON, "application/merge-patch+json", 1},
	    {EVUDP6_CF_CBOR, "application/cbor", 0},
	    {EVUDP6_CF_CWT, "application/cwt", 0},
	    {EVUDP6_CF_MULTIPART_CORE, "application/multipart-core", 0},
	    {EVUDP6_CF_CBOR_SEQ, "application/cbor-seq", 0},
	    {EVUDP6_CF_COSE_SIGN1, "application/cose;cose-type=\"cose-sign1\"", 0},
	    {EVUDP6_CF_ACE_CBOR, "application/ace+cbor", 0},
	    {EVUDP6_CF_SENML_JSON, "application/senml+json", 1},
	    {EVUDP6_CF_SENSML_JSON, "application/sensml+json", 1},
	    {EVUDP6_CF_SENML_CBOR, "application/senml+cbor", 0},
	    {EVUDP6_CF_SENML_EXI, "application/senml-exi", 0},
	    {EVUDP6_CF_SENML_XML, "application/senml+xml", 1},
	    {EVUDP6_CF_SENML_ETCH_JSON, "application/senml-etch+json", 1},
	    {EVUDP6_CF_SENML_ETCH_CBOR, "application/senml-etch+cbor", 0},
	    {EVUDP6_CF_LWM2M_TLV, "application/vnd.oma.lwm2m+tlv", 0},
	};
	ck_assert_int_eq(EVUDP6_CF_LINK_FORMAT, 40);
	ck_assert_int_eq(EVUDP6_CF_CBOR, 60);
	ck_assert_int_eq(EVUDP6_CF_MULTIPART_CORE, 62);
	ck_assert_int_eq(EVUDP6_CF_CBOR_SEQ, 63);
	ck_assert_int_eq(EVUDP6_CF_SENML_ETCH_CBOR, 322);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ck_assert_str_eq(evudp6_content_format_name(t[i].cf), t[i].name);
		ck_assert_int_eq(evudp6_content_format_is_text(t[i].cf), t[i].text);
	}
	ck_assert_ptr_null(evudp6_content_format_name(1));
	ck_assert_ptr_null(evudp6_content_format_name(65535));
	ck_assert_int_eq(evudp6_content_format_is_text(1), 0);
	/* every named one is distinct and names a type/subtype */
	unsigned named = 0;
	for (uint32_t cf = 0; cf <= 65535; cf++) {
		const char *n = evudp6_content_format_name(cf);
		if (!n)
			continue;
		named++;
		ck_assert_ptr_nonnull(strchr(n, '/'));
	}
	ck_assert_uint_eq(named, 61);
}
END_TEST

/* Every code of the IANA response code registry has a constant and a name. */
START_TEST(msg_code_constants_name_every_registered_response)
{
	static const struct {
		uint8_t code;
		const char *str;
	} t[] = {
	    {EVUDP6_CONTINUE, "2.31 Continue"},
	    {EVUDP6_UNAUTHORIZED, "4.01 Unauthorized"},
	    {EVUDP6_BAD_OPTION, "4.02 Bad Option"},
	    {EVUDP6_FORBIDDEN, "4.03 Forbidden"},
	    {EVUDP6_NOT_ACCEPTABLE, "4.06 Not Acceptable"},
	    {EVUDP6_REQUEST_ENTITY_INCOMPLETE, "4.08 Request Entity Incomplete"},
	    {EVUDP6_CONFLICT, "4.09 Conflict"},
	    {EVUDP6_PRECONDITION_FAILED, "4.12 Precondition Failed"},
	    {EVUDP6_REQUEST_ENTITY_TOO_LARGE, "4.13 Request Entity Too Large"},
	    {EVUDP6_UNSUPPORTED_CONTENT_FORMAT, "4.15 Unsupported Content-Format"},
	    {EVUDP6_UNPROCESSABLE_ENTITY, "4.22 Unprocessable Entity"},
	    {EVUDP6_TOO_MANY_REQUESTS, "4.29 Too Many Requests"},
	    {EVUDP6_NOT_IMPLEMENTED, "5.01 Not Implemented"},
	    {EVUDP6_BAD_GATEWAY, "5.02 Bad Gateway"},
	    {EVUDP6_SERVICE_UNAVAILABLE, "5.03 Service Unavailable"},
	    {EVUDP6_GATEWAY_TIMEOUT, "5.04 Gateway Timeout"},
	    {EVUDP6_PROXYING_NOT_SUPPORTED, "5.05 Proxying Not Supported"},
	    {EVUDP6_HOP_LIMIT_REACHED, "5.08 Hop Limit Reached"},
	};
	char buf[EVUDP6_CODE_STR_MAX];
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		ck_assert_str_eq(evudp6_code_str(t[i].code, buf), t[i].str);
	unsigned responses = 0;
	for (unsigned c = EVUDP6_CODE(2, 0); c <= 0xff; c++)
		if (evudp6_code_name((uint8_t)c))
			responses++;
	ck_assert_uint_eq(responses, 27);
}
END_TEST

START_TEST(msg_code_name_knows_rfc_codes)
{
	ck_assert_str_eq(evudp6_code_name(EVUDP6_EMPTY), "Empty");
	ck_assert_str_eq(evudp6_code_name(EVUDP6_GET), "GET");
	ck_assert_str_eq(evudp6_code_name(EVUDP6_POST), "POST");
	ck_assert_str_eq(evudp6_code_name(EVUDP6_PUT), "PUT");
	ck_assert_str_eq(evudp6_code_name(EVUDP6_DELETE), "DELETE");
	ck_assert_str_eq(evudp6_code_name(EVUDP6_FETCH), "FETCH");
	ck_assert_str_eq(evudp6_code_name(EVUDP6_PATCH), "PATCH");
	ck_assert_str_eq(evudp6_code_name(EVUDP6_IPATCH), "iPATCH");
	ck_assert_str_eq(evudp6_code_name(EVUDP6_CREATED), "Created");
	ck_assert_str_eq(evudp6_code_name(EVUDP6_DELETED), "Deleted");
	ck_assert_str_eq(evudp6_code_name(EVUDP6_VALID), "Valid");
	ck_assert_str_eq(evudp6_code_name(EVUDP6_CHANGED), "Changed");
	ck_assert_str_eq(evudp6_code_name(EVUDP6_CONTENT), "Content");
	ck_assert_str_eq(evudp6_code_name(EVUDP6_CODE(2, 31)), "Continue");
	ck_assert_str_eq(evudp6_code_name(EVUDP6_BAD_REQUEST), "Bad Request");
	ck_assert_str_eq(evudp6_code_name(EVUDP6_CODE(4, 2)), "Bad Option");
	ck_assert_str_eq(evudp6_code_name(EVUDP6_NOT_FOUND), "Not Found");
	ck_assert_str_eq(evudp6_code_name(EVUDP6_METHOD_NOT_ALLOWED), "Method Not Allowed");
	ck_assert_str_eq(evudp6_code_name(EVUDP6_CODE(4, 15)), "Unsupported Content-Format");
	ck_assert_str_eq(evudp6_code_name(EVUDP6_INTERNAL_SERVER_ERROR), "Internal Server Error");
	ck_assert_str_eq(evudp6_code_name(EVUDP6_CODE(5, 3)), "Service Unavailable");
	ck_assert_str_eq(evudp6_code_name(EVUDP6_CODE(5, 5)), "Proxying Not Supported");
	ck_assert_ptr_null(evudp6_code_name(EVUDP6_CODE(0, 8)));
	ck_assert_ptr_null(evudp6_code_name(EVUDP6_CODE(2, 6)));
	ck_assert_ptr_null(evudp6_code_name(EVUDP6_CODE(1, 0)));
	ck_assert_ptr_null(evudp6_code_name(EVUDP6_CODE(7, 31)));
}
END_TEST

START_TEST(msg_code_str_prints_class_detail_and_name)
{
	char buf[EVUDP6_CODE_STR_MAX];

	ck_assert_str_eq(evudp6_code_str(EVUDP6_CONTENT, buf), "2.05 Content");
	ck_assert_ptr_eq(evudp6_code_str(EVUDP6_GET, buf), buf);
	ck_assert_str_eq(buf, "0.01 GET");
	ck_assert_str_eq(evudp6_code_str(EVUDP6_NOT_FOUND, buf), "4.04 Not Found");
	ck_assert_str_eq(evudp6_code_str(EVUDP6_EMPTY, buf), "0.00 Empty");
	ck_assert_str_eq(evudp6_code_str(EVUDP6_CODE(4, 15), buf), "4.15 Unsupported Content-Format");
	ck_assert_str_eq(evudp6_code_str(EVUDP6_CODE(7, 31), buf), "7.31");
	ck_assert_str_eq(evudp6_code_str(EVUDP6_CODE(1, 0), buf), "1.00");
	ck_assert_str_eq(evudp6_code_str(EVUDP6_CODE(2, 10), buf), "2.10");
}
END_TEST

START_TEST(msg_code_str_fits_every_code)
{
	char buf[EVUDP6_CODE_STR_MAX];
	int named = 0;

	for (unsigned c = 0; c < 256; c++) {
		const char *name = evudp6_code_name((uint8_t)c);
		char want[EVUDP6_CODE_STR_MAX];
		snprintf(want, sizeof(want), "%u.%02u", c >> 5, c & 31);
		evudp6_code_str((uint8_t)c, buf);
		ck_assert_uint_lt(strlen(buf), EVUDP6_CODE_STR_MAX - 1);
		ck_assert_msg(strncmp(buf, want, 4) == 0, "%s", buf);
		if (name) {
			ck_assert_str_eq(buf + 5, name);
			named++;
		} else {
			ck_assert_uint_eq(strlen(buf), 4);
		}
	}
	ck_assert_int_eq(named, 35);
}
END_TEST

START_TEST(msg_opt_name_and_format_of_known_options)
{
	static const struct {
		uint32_t n;
		const char *name;
		enum evudp6_opt_format f;
	} t[] = {
	    {1, "If-Match", EVUDP6_OPT_FORMAT_OPAQUE},
	    {3, "Uri-Host", EVUDP6_OPT_FORMAT_STRING},
	    {4, "ETag", EVUDP6_OPT_FORMAT_OPAQUE},
	    {5, "If-None-Match", EVUDP6_OPT_FORMAT_EMPTY},
	    {6, "Observe", EVUDP6_OPT_FORMAT_UINT},
	    {7, "Uri-Port", EVUDP6_OPT_FORMAT_UINT},
	    {8, "Location-Path", EVUDP6_OPT_FORMAT_STRING},
	    {11, "Uri-Path", EVUDP6_OPT_FORMAT_STRING},
	    {12, "Content-Format", EVUDP6_OPT_FORMAT_UINT},
	    {14, "Max-Age", EVUDP6_OPT_FORMAT_UINT},
	    {15, "Uri-Query", EVUDP6_OPT_FORMAT_STRING},
	    {17, "Accept", EVUDP6_OPT_FORMAT_UINT},
	    {20, "Location-Query", EVUDP6_OPT_FORMAT_STRING},
	    {23, "Block2", EVUDP6_OPT_FORMAT_UINT},
	    {27, "Block1", EVUDP6_OPT_FORMAT_UINT},
	    {28, "Size2", EVUDP6_OPT_FORMAT_UINT},
	    {35, "Proxy-Uri", EVUDP6_OPT_FORMAT_STRING},
	    {39, "Proxy-Scheme", EVUDP6_OPT_FORMAT_STRING},
	    {60, "Size1", EVUDP6_OPT_FORMAT_UINT},
	    {258, "No-Response", EVUDP6_OPT_FORMAT_UINT},
	};
	int known = 0;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ck_assert_str_eq(evudp6_opt_name(t[i].n), t[i].name);
		ck_assert_int_eq(evudp6_opt_format(t[i].n), t[i].f);
	}
	for (uint32_t n = 0; n < 70000; n++)
		known += evudp6_opt_name(n) != NULL;
	ck_assert_int_eq(known, 20);
}
END_TEST

START_TEST(msg_opt_name_of_unknown_is_null_and_opaque)
{
	static const uint32_t unknown[] = {0, 2, 9, 13, 65535, 65804, 65805, 65536 + 11, UINT32_MAX};

	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		ck_assert_ptr_null(evudp6_opt_name(unknown[i]));
		ck_assert_int_eq(evudp6_opt_format(unknown[i]), EVUDP6_OPT_FORMAT_OPAQUE);
	}
}
END_TEST

/* ------------------------------------------------------------- corpus */

/*
 * Files the generator writes into each directory: the replay fails when
 * a directory holds fewer, so a lost or unshipped corpus cannot pass.
 */
static const struct {
	const char *dir;
	int min;
} corpus_min[] = {
    {"EVUDP6_E_MSG_SHORT", 4},
    {"EVUDP6_E_MSG_VERSION", 4},
    {"EVUDP6_E_MSG_TKL", 7},
    {"EVUDP6_E_MSG_TOKEN_TRUNC", 3},
    {"EVUDP6_E_MSG_OPT_NIBBLE15", 7},
    {"EVUDP6_E_MSG_OPT_EXT_TRUNC", 8},
    {"EVUDP6_E_MSG_OPT_VALUE_TRUNC", 6},
    {"EVUDP6_E_MSG_MARKER_NO_PAYLOAD", 4},
    {"EVUDP6_E_MSG_EMPTY_NOT_EMPTY", 7},
    {"EVUDP6_E_MSG_CODE_RESERVED", 6},
    {"OK", 14},
};
#define CORPUS_DIRS (sizeof(corpus_min) / sizeof(corpus_min[0]))

/* Expected decode result named by a directory, or 1 for an unknown name. */
static int corpus_expected(const char *name)
{
	if (strcmp(name, evudp6_strerror_name(0)) == 0)
		return 0;
	for (int e = EVUDP6_E_MSG_SHORT; e <= EVUDP6_E_MSG_NOSPACE; e++)
		if (strcmp(name, evudp6_strerror_name(-e)) == 0)
			return -e;
	return 1;
}

static int corpus_replay_dir(const char *path, int expected)
{
	static uint8_t buf[BIG];
	DIR *d = opendir(path);
	struct dirent *de;
	int files = 0;

	ck_assert_msg(d != NULL, "cannot open %s", path);
	while ((de = readdir(d)) != NULL) {
		size_t nl = strlen(de->d_name);
		if (nl < 4 || strcmp(de->d_name + nl - 4, ".bin") != 0)
			continue;
		char file[4096];
		int w = snprintf(file, sizeof(file), "%s/%s", path, de->d_name);
		ck_assert(w > 0 && (size_t)w < sizeof(file));
		FILE *f = fopen(file, "rb");
		ck_assert_msg(f != NULL, "cannot open %s", file);
		size_t len = fread(buf, 1, sizeof(buf), f);
		ck_assert_msg(!ferror(f) && feof(f), "cannot read %s whole", file);
		fclose(f);

		struct evudp6_msg m;
		int r = evudp6_msg_decode(&m, buf, len);
		ck_assert_msg(r == expected, "%s: decode gave %s", file, evudp6_strerror_name(r));
		if (r == 0)
			expect_roundtrip(__LINE__, buf, len);
		else
			ck_assert_msg(view_is_zero(&m), "%s: view not zeroed", file);
		files++;
	}
	closedir(d);
	return files;
}

START_TEST(msg_corpus_replays_with_expected_errors)
{
	char top[4096], sub[4096];
	int count[CORPUS_DIRS] = {0}, total = 0;
	DIR *d;
	struct dirent *de;

	int w = snprintf(top, sizeof(top), "%s/test/corpus/msg", testutil_srcdir());
	ck_assert(w > 0 && (size_t)w < sizeof(top));
	d = opendir(top);
	ck_assert_msg(d != NULL, "corpus directory %s missing", top);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		int expected = corpus_expected(de->d_name);
		ck_assert_msg(expected <= 0, "%s/%s names no decode result", top, de->d_name);
		w = snprintf(sub, sizeof(sub), "%s/%s", top, de->d_name);
		ck_assert(w > 0 && (size_t)w < sizeof(sub));
		int n = corpus_replay_dir(sub, expected);
		for (size_t i = 0; i < CORPUS_DIRS; i++)
			if (strcmp(corpus_min[i].dir, de->d_name) == 0)
				count[i] += n;
		total += n;
	}
	closedir(d);
	for (size_t i = 0; i < CORPUS_DIRS; i++)
		ck_assert_msg(count[i] >= corpus_min[i].min, "%s: %d files, want at least %d",
		              corpus_min[i].dir, count[i], corpus_min[i].min);
	ck_assert_int_ge(total, 70);
}
END_TEST

static Suite *msg_suite(void)
{
	Suite *s = suite_create("msg");
	TCase *tc;

	tc = tcase_create("decode");
	tcase_add_test(tc, msg_decode_appendix_a_con_get);
	tcase_add_test(tc, msg_decode_appendix_a_ack_content);
	tcase_add_test(tc, msg_decode_appendix_a_token);
	tcase_add_test(tc, msg_decode_appendix_a_empty_ack);
	tcase_add_test(tc, msg_decode_non_with_token_options_and_payload);
	tcase_add_test(tc, msg_decode_reads_extended_delta_and_length);
	tcase_add_test(tc, msg_decode_cumulative_number_beyond_65535);
	tcase_add_test(tc, msg_decode_option_number_reaches_uint32_max);
	tcase_add_test(tc, msg_decode_rejects_option_number_wrapping_uint32);
	tcase_add_test(tc, msg_decode_option_value_may_hold_ff);
	tcase_add_test(tc, msg_decode_option_value_may_end_exactly_at_end);
	tcase_add_test(tc, msg_decode_accepts_every_type);
	tcase_add_test(tc, msg_decode_reserves_exactly_classes_1_6_7);
	tcase_add_test(tc, msg_decode_rejects_shorter_than_4_bytes);
	tcase_add_test(tc, msg_decode_rejects_version_not_1);
	tcase_add_test(tc, msg_decode_rejects_tkl_9_to_15);
	tcase_add_test(tc, msg_decode_rejects_truncated_token);
	tcase_add_test(tc, msg_decode_rejects_delta_nibble_15);
	tcase_add_test(tc, msg_decode_rejects_length_nibble_15);
	tcase_add_test(tc, msg_decode_rejects_nibble_15_after_valid_option);
	tcase_add_test(tc, msg_decode_judges_nibble_15_before_extension_bytes);
	tcase_add_test(tc, msg_decode_rejects_missing_extended_delta);
	tcase_add_test(tc, msg_decode_rejects_missing_extended_length);
	tcase_add_test(tc, msg_decode_rejects_value_past_end);
	tcase_add_test(tc, msg_decode_rejects_marker_without_payload);
	tcase_add_test(tc, msg_decode_rejects_empty_with_token);
	tcase_add_test(tc, msg_decode_rejects_empty_with_options);
	tcase_add_test(tc, msg_decode_rejects_empty_with_payload);
	tcase_add_test(tc, msg_decode_rejects_code_class_1);
	tcase_add_test(tc, msg_decode_rejects_code_class_6);
	tcase_add_test(tc, msg_decode_rejects_code_class_7);
	tcase_add_test(tc, msg_decode_reports_header_faults_first);
	tcase_add_test(tc, msg_decode_all_short_tails_roundtrip);
	tcase_add_test(tc, msg_decode_random_datagrams_roundtrip_or_fail_cleanly);
	suite_add_tcase(s, tc);

	tc = tcase_create("peek");
	tcase_add_test(tc, msg_peek_header_reads_malformed_con);
	tcase_add_test(tc, msg_peek_header_omits_illegal_or_cut_token);
	tcase_add_test(tc, msg_peek_header_rejects_short_and_bad_version);
	suite_add_tcase(s, tc);

	tc = tcase_create("options");
	tcase_add_test(tc, msg_iter_yields_options_in_wire_order);
	tcase_add_test(tc, msg_iter_over_zeroed_view_yields_nothing);
	tcase_add_test(tc, msg_find_opt_returns_first_of_repeated);
	tcase_add_test(tc, msg_find_opt_returns_0_when_absent);
	tcase_add_test(tc, msg_opt_uint_reads_big_endian_with_leading_zeros);
	tcase_add_test(tc, msg_opt_uint_rejects_more_than_4_bytes);
	suite_add_tcase(s, tc);

	tc = tcase_create("encode");
	tcase_add_test(tc, msg_encode_appendix_a_request);
	tcase_add_test(tc, msg_encode_appendix_a_response_with_token);
	tcase_add_test(tc, msg_encode_empty_ack);
	tcase_add_test(tc, msg_encode_zero_length_payload_means_none);
	tcase_add_test(tc, msg_encode_sorts_options_by_number);
	tcase_add_test(tc, msg_encode_keeps_repeated_options_in_insertion_order);
	tcase_add_test(tc, msg_roundtrip_option_numbers);
	tcase_add_test(tc, msg_roundtrip_value_lengths);
	tcase_add_test(tc, msg_builder_rejects_option_number_above_65804);
	tcase_add_test(tc, msg_builder_rejects_option_length_above_65804);
	tcase_add_test(tc, msg_builder_rejects_too_many_options);
	tcase_add_test(tc, msg_builder_reports_first_error_at_encode);
	tcase_add_test(tc, msg_builder_rejects_token_longer_than_8);
	tcase_add_test(tc, msg_builder_rejects_missing_value);
	tcase_add_test(tc, msg_builder_refuses_option_lengths_outside_rfc_range);
	tcase_add_test(tc, msg_builder_from_msg_keeps_out_of_range_values);
	tcase_add_test(tc, msg_content_format_names_follow_iana_registry);
	tcase_add_test(tc, msg_code_constants_name_every_registered_response);
	tcase_add_test(tc, msg_encode_reports_nospace_for_every_short_size);
	tcase_add_test(tc, msg_add_uint_writes_shortest_form);
	tcase_add_test(tc, msg_add_uint_values_survive_later_adds);
	tcase_add_test(tc, msg_builder_copied_by_assignment_encodes_on_its_own);
	tcase_add_test(tc, msg_encode_rejects_empty_with_token);
	tcase_add_test(tc, msg_encode_rejects_empty_with_options);
	tcase_add_test(tc, msg_encode_rejects_empty_with_payload);
	tcase_add_test(tc, msg_encode_rejects_reserved_code_classes);
	tcase_add_test(tc, msg_encode_rejects_fields_out_of_range);
	tcase_add_test(tc, msg_iter_and_from_msg_survive_forged_view);
	tcase_add_test(tc, msg_builder_from_msg_reencodes_identical_bytes);
	tcase_add_test(tc, msg_builder_from_msg_rejects_49_options);
	tcase_add_test(tc, msg_builder_from_msg_rejects_number_above_65804);
	suite_add_tcase(s, tc);

	tc = tcase_create("names");
	tcase_add_test(tc, msg_type_name_names_all_four);
	tcase_add_test(tc, msg_code_name_knows_rfc_codes);
	tcase_add_test(tc, msg_code_str_prints_class_detail_and_name);
	tcase_add_test(tc, msg_code_str_fits_every_code);
	tcase_add_test(tc, msg_opt_name_and_format_of_known_options);
	tcase_add_test(tc, msg_opt_name_of_unknown_is_null_and_opaque);
	suite_add_tcase(s, tc);

	tc = tcase_create("corpus");
	tcase_add_test(tc, msg_corpus_replays_with_expected_errors);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	return testutil_run(msg_suite());
}
