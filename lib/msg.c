/*
 * evudp6 — CoAP message codec (RFC 7252 section 3).
 *
 * Decoding validates the whole datagram once, so the option iterator that
 * runs later over the same bytes cannot meet a fault. The builder keeps its
 * option table sorted as options arrive, which lets encode take a const
 * builder and write the table front to back.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <evudp6/msg.h>

#define HDR_LEN        4
#define PAYLOAD_MARKER 0xff

/* Header byte 0: Ver (2 bits) | T (2 bits) | TKL (4 bits). */
#define HDR_VERSION(b) ((b) >> 6)
#define HDR_TYPE(b)    (((b) >> 4) & 3u)
#define HDR_TKL(b)     ((b)&0x0fu)

static int code_reserved(uint8_t code)
{
	uint8_t cls = EVUDP6_CODE_CLASS(code);
	return cls == 1 || cls == 6 || cls == 7;
}

int evudp6_msg_peek_header(struct evudp6_msg *m, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	memset(m, 0, sizeof(*m));
	if (len < HDR_LEN)
		return -EVUDP6_E_MSG_SHORT;
	if (HDR_VERSION(p[0]) != 1)
		return -EVUDP6_E_MSG_VERSION;
	m->type = HDR_TYPE(p[0]);
	m->code = p[1];
	m->mid = (uint16_t)(p[2] << 8 | p[3]);
	m->data = p;
	m->len = len;
	/* The token is only worth reporting when it is legal and complete. */
	size_t tkl = HDR_TKL(p[0]);
	if (tkl <= EVUDP6_TOKEN_MAX && len - HDR_LEN >= tkl) {
		m->tkl = (uint8_t)tkl;
		m->token = p + HDR_LEN;
	}
	return 0;
}

/*
 * Value of a delta or length nibble with its extension bytes (RFC 7252
 * 3.1). Nibble 15 has been rejected by the caller.
 */
static int ext_get(const uint8_t **pp, const uint8_t *end, unsigned nibble, uint32_t *v)
{
	const uint8_t *p = *pp;

	if (nibble == 13) {
		if (end - p < 1)
			return -EVUDP6_E_MSG_OPT_EXT_TRUNC;
		*v = 13u + p[0];
		p += 1;
	} else if (nibble == 14) {
		if (end - p < 2)
			return -EVUDP6_E_MSG_OPT_EXT_TRUNC;
		*v = 269u + ((uint32_t)p[0] << 8 | p[1]);
		p += 2;
	} else {
		*v = nibble;
	}
	*pp = p;
	return 0;
}

/*
 * Parse the option at *pp (which is before end and not the payload marker),
 * advancing *pp past it and *number by its delta.
 */
static int opt_parse(const uint8_t **pp, const uint8_t *end, uint32_t *number, struct evudp6_opt *opt)
{
	const uint8_t *p = *pp;
	unsigned dn = p[0] >> 4, ln = p[0] & 0x0fu;
	uint32_t delta, len;
	int r;

	/* Judge the option byte itself before any bytes that follow it. */
	if (dn == 15 || ln == 15)
		return -EVUDP6_E_MSG_OPT_NIBBLE15;
	p++;
	if ((r = ext_get(&p, end, dn, &delta)) < 0 || (r = ext_get(&p, end, ln, &len)) < 0)
		return r;
	if ((size_t)(end - p) < len)
		return -EVUDP6_E_MSG_OPT_VALUE_TRUNC;
	/* Only a buffer far beyond any UDP datagram can carry this far. */
	if (delta > UINT32_MAX - *number)
		return -EVUDP6_E_MSG_OPT_NUMBER;
	*number += delta;
	opt->number = *number;
	opt->value = p;
	opt->len = len;
	*pp = p + len;
	return 0;
}

int evudp6_msg_decode(struct evudp6_msg *m, const void *buf, size_t len)
{
	struct evudp6_msg v;
	const uint8_t *p, *end;
	struct evudp6_opt opt;
	uint32_t number = 0;
	size_t tkl;
	int r;

	if ((r = evudp6_msg_peek_header(&v, buf, len)) < 0)
		goto fail;
	p = v.data;
	end = p + len;
	tkl = HDR_TKL(p[0]);
	r = -EVUDP6_E_MSG_TKL;
	if (tkl > EVUDP6_TOKEN_MAX)
		goto fail;
	r = -EVUDP6_E_MSG_CODE_RESERVED;
	if (code_reserved(v.code))
		goto fail;
	/* RFC 7252 4.1: an Empty message is the bare header, nothing else. */
	r = -EVUDP6_E_MSG_EMPTY_NOT_EMPTY;
	if (v.code == EVUDP6_EMPTY && (tkl != 0 || len > HDR_LEN))
		goto fail;
	r = -EVUDP6_E_MSG_TOKEN_TRUNC;
	if (len - HDR_LEN < tkl)
		goto fail;
	p += HDR_LEN + tkl;
	v.opts = p;
	while (p < end && *p != PAYLOAD_MARKER)
		if ((r = opt_parse(&p, end, &number, &opt)) < 0)
			goto fail;
	v.opts_len = (size_t)(p - v.opts);
	if (p < end) {
		r = -EVUDP6_E_MSG_MARKER_NO_PAYLOAD;
		if (++p == end)
			goto fail;
		v.payload = p;
		v.payload_len = (size_t)(end - p);
	}
	*m = v;
	return 0;
fail:
	memset(m, 0, sizeof(*m));
	return r;
}

void evudp6_opt_iter_init(struct evudp6_opt_iter *it, const struct evudp6_msg *m)
{
	it->p = m->opts;
	it->end = m->opts ? m->opts + m->opts_len : NULL;
	it->number = 0;
}

int evudp6_opt_iter_next(struct evudp6_opt_iter *it, struct evudp6_opt *opt)
{
	if (it->p == it->end)
		return 0;
	/* Decode validated these bytes; a failure here means a forged view. */
	if (opt_parse(&it->p, it->end, &it->number, opt) < 0) {
		it->p = it->end;
		return 0;
	}
	return 1;
}

int evudp6_msg_find_opt(const struct evudp6_msg *m, uint32_t number, struct evudp6_opt *opt)
{
	struct evudp6_opt_iter it;
	struct evudp6_opt o;

	evudp6_opt_iter_init(&it, m);
	while (evudp6_opt_iter_next(&it, &o) && o.number <= number) {
		if (o.number == number) {
			*opt = o;
			return 1;
		}
	}
	return 0;
}

int evudp6_opt_uint(const struct evudp6_opt *opt, uint32_t *value)
{
	uint32_t v = 0;

	if (opt->len > 4)
		return -ERANGE;
	for (size_t i = 0; i < opt->len; i++)
		v = v << 8 | opt->value[i];
	*value = v;
	return 0;
}

/* ------------------------------------------------------------ builder */

void evudp6_msg_builder_init(struct evudp6_msg_builder *b, uint8_t type, uint8_t code, uint16_t mid)
{
	memset(b, 0, sizeof(*b));
	b->type = type;
	b->code = code;
	b->mid = mid;
}

static int builder_fail(struct evudp6_msg_builder *b, int err)
{
	if (b->err == 0)
		b->err = err;
	return err;
}

int evudp6_msg_builder_set_token(struct evudp6_msg_builder *b, const void *token, size_t len)
{
	if (len > EVUDP6_TOKEN_MAX)
		return builder_fail(b, -EVUDP6_E_MSG_TOKEN_LENGTH);
	if (len)
		memcpy(b->token, token, len);
	b->tkl = (uint8_t)len;
	return 0;
}

/* The codec's own limits; add_opt also holds known options to their
 * RFC ranges, from_msg does not (it re-encodes what was received). */
static int builder_check_raw(struct evudp6_msg_builder *b, uint32_t number, const void *value, size_t len)
{
	if (len && !value)
		return builder_fail(b, -EINVAL);
	if (number > EVUDP6_OPT_MAX)
		return builder_fail(b, -EVUDP6_E_MSG_OPT_NUMBER);
	if (len > EVUDP6_OPT_MAX)
		return builder_fail(b, -EVUDP6_E_MSG_OPT_LENGTH);
	if (b->nopts >= EVUDP6_BUILDER_MAX_OPTS)
		return builder_fail(b, -EVUDP6_E_MSG_TOO_MANY_OPTS);
	return 0;
}

static int builder_check(struct evudp6_msg_builder *b, uint32_t number, const void *value, size_t len)
{
	int r = builder_check_raw(b, number, value, len);
	size_t min, max;

	if (r == 0 && evudp6_opt_length_range(number, &min, &max) && (len < min || len > max))
		r = builder_fail(b, -EVUDP6_E_MSG_OPT_RANGE);
	return r;
}

/* Insert after every option with a number <= ours: sorted and stable.
 * uintval[] moves with opt[], so that a uint option's bytes are found at
 * its own index: they are located by position, never by a pointer into
 * the builder, and a copy of the builder is a complete builder. */
static void builder_insert(struct evudp6_msg_builder *b, uint32_t number, const uint8_t *value, size_t len,
                           const uint8_t uintval[4])
{
	size_t i = b->nopts;

	while (i > 0 && b->opt[i - 1].number > number) {
		b->opt[i] = b->opt[i - 1];
		memcpy(b->uintval[i], b->uintval[i - 1], sizeof(b->uintval[i]));
		i--;
	}
	b->opt[i] = (struct evudp6_opt){.number = number, .value = value, .len = len};
	if (uintval)
		memcpy(b->uintval[i], uintval, sizeof(b->uintval[i]));
	b->nopts++;
}

int evudp6_msg_builder_add_opt(struct evudp6_msg_builder *b, uint32_t number, const void *value, size_t len)
{
	int r = builder_check(b, number, value, len);

	if (r == 0)
		builder_insert(b, number, value, len, NULL);
	return r;
}

int evudp6_msg_builder_add_uint(struct evudp6_msg_builder *b, uint32_t number, uint32_t value)
{
	size_t n = 0;
	for (uint32_t v = value; v; v >>= 8)
		n++;
	int r = builder_check(b, number, b->uintval, n);

	if (r < 0)
		return r;
	uint8_t bytes[4] = {0};
	for (size_t i = 0; i < n; i++)
		bytes[i] = (uint8_t)(value >> (8 * (n - 1 - i)));
	/* value NULL with a length marks the bytes as held in uintval[i]. */
	builder_insert(b, number, NULL, n, bytes);
	return 0;
}

void evudp6_msg_builder_set_payload(struct evudp6_msg_builder *b, const void *payload, size_t len)
{
	b->payload = len ? payload : NULL;
	b->payload_len = len;
}

int evudp6_msg_builder_from_msg(struct evudp6_msg_builder *b, const struct evudp6_msg *m)
{
	struct evudp6_opt_iter it;
	struct evudp6_opt o;
	int r;

	evudp6_msg_builder_init(b, m->type, m->code, m->mid);
	if ((r = evudp6_msg_builder_set_token(b, m->token, m->tkl)) < 0)
		return r;
	evudp6_opt_iter_init(&it, m);
	while (evudp6_opt_iter_next(&it, &o)) {
		if ((r = builder_check_raw(b, o.number, o.value, o.len)) < 0)
			return r;
		builder_insert(b, o.number, o.value, o.len, NULL);
	}
	evudp6_msg_builder_set_payload(b, m->payload, m->payload_len);
	return 0;
}

/* Nibble for a delta or length; its extension bytes go to *ext. */
static unsigned ext_put(uint32_t v, uint8_t **ext)
{
	if (v < 13)
		return v;
	if (v < 269) {
		*(*ext)++ = (uint8_t)(v - 13);
		return 13;
	}
	v -= 269;
	*(*ext)++ = (uint8_t)(v >> 8);
	*(*ext)++ = (uint8_t)v;
	return 14;
}

/* Append n bytes at *pp unless that would pass end. */
static int put(uint8_t **pp, const uint8_t *end, const void *src, size_t n)
{
	if ((size_t)(end - *pp) < n)
		return -EVUDP6_E_MSG_NOSPACE;
	if (n)
		memcpy(*pp, src, n);
	*pp += n;
	return 0;
}

ssize_t evudp6_msg_encode(const struct evudp6_msg_builder *b, void *out, size_t outlen)
{
	uint8_t *start = out, *p = start, *end = outlen ? start + outlen : start; /* NULL + 0 is undefined */
	uint8_t hdr[HDR_LEN];
	uint32_t prev = 0;
	int r;

	if (b->err)
		return b->err;
	/* The fields are public: refuse what no add call could have set. */
	if (b->type > EVUDP6_RST || b->tkl > EVUDP6_TOKEN_MAX || b->nopts > EVUDP6_BUILDER_MAX_OPTS)
		return -EINVAL;
	if (code_reserved(b->code))
		return -EVUDP6_E_MSG_CODE_RESERVED;
	if (b->code == EVUDP6_EMPTY && (b->tkl || b->nopts || b->payload_len))
		return -EVUDP6_E_MSG_EMPTY_NOT_EMPTY;

	hdr[0] = (uint8_t)(1u << 6 | (unsigned)b->type << 4 | b->tkl);
	hdr[1] = b->code;
	hdr[2] = (uint8_t)(b->mid >> 8);
	hdr[3] = (uint8_t)b->mid;
	if ((r = put(&p, end, hdr, HDR_LEN)) < 0 || (r = put(&p, end, b->token, b->tkl)) < 0)
		return r;
	for (size_t i = 0; i < b->nopts; i++) {
		const struct evudp6_opt *o = &b->opt[i];
		uint8_t oh[5], *ext = oh + 1;

		const uint8_t *value = o->value ? o->value : b->uintval[i];

		if (o->number < prev || o->number > EVUDP6_OPT_MAX || o->len > EVUDP6_OPT_MAX ||
		    (!o->value && o->len > sizeof(b->uintval[i])))
			return -EINVAL;
		unsigned dn = ext_put(o->number - prev, &ext);
		unsigned ln = ext_put((uint32_t)o->len, &ext);
		oh[0] = (uint8_t)(dn << 4 | ln);
		if ((r = put(&p, end, oh, (size_t)(ext - oh))) < 0 || (r = put(&p, end, value, o->len)) < 0)
			return r;
		prev = o->number;
	}
	if (b->payload_len) {
		const uint8_t marker = PAYLOAD_MARKER;
		if ((r = put(&p, end, &marker, 1)) < 0 || (r = put(&p, end, b->payload, b->payload_len)) < 0)
			return r;
	}
	return p - start;
}

/* -------------------------------------------------------------- names */

const char *evudp6_msg_type_name(uint8_t type)
{
	static const char *const names[] = {"CON", "NON", "ACK", "RST"};
	return type < 4 ? names[type] : NULL;
}

static const struct {
	uint8_t code;
	const char *name;
} code_names[] = {
    {EVUDP6_EMPTY, "Empty"},
    {EVUDP6_GET, "GET"},
    {EVUDP6_POST, "POST"},
    {EVUDP6_PUT, "PUT"},
    {EVUDP6_DELETE, "DELETE"},
    {EVUDP6_FETCH, "FETCH"},
    {EVUDP6_PATCH, "PATCH"},
    {EVUDP6_IPATCH, "iPATCH"},
    {EVUDP6_CREATED, "Created"},
    {EVUDP6_DELETED, "Deleted"},
    {EVUDP6_VALID, "Valid"},
    {EVUDP6_CHANGED, "Changed"},
    {EVUDP6_CONTENT, "Content"},
    {EVUDP6_CONTINUE, "Continue"},
    {EVUDP6_BAD_REQUEST, "Bad Request"},
    {EVUDP6_UNAUTHORIZED, "Unauthorized"},
    {EVUDP6_BAD_OPTION, "Bad Option"},
    {EVUDP6_FORBIDDEN, "Forbidden"},
    {EVUDP6_NOT_FOUND, "Not Found"},
    {EVUDP6_METHOD_NOT_ALLOWED, "Method Not Allowed"},
    {EVUDP6_NOT_ACCEPTABLE, "Not Acceptable"},
    {EVUDP6_REQUEST_ENTITY_INCOMPLETE, "Request Entity Incomplete"},
    {EVUDP6_CONFLICT, "Conflict"},
    {EVUDP6_PRECONDITION_FAILED, "Precondition Failed"},
    {EVUDP6_REQUEST_ENTITY_TOO_LARGE, "Request Entity Too Large"},
    {EVUDP6_UNSUPPORTED_CONTENT_FORMAT, "Unsupported Content-Format"},
    {EVUDP6_UNPROCESSABLE_ENTITY, "Unprocessable Entity"},
    {EVUDP6_TOO_MANY_REQUESTS, "Too Many Requests"},
    {EVUDP6_INTERNAL_SERVER_ERROR, "Internal Server Error"},
    {EVUDP6_NOT_IMPLEMENTED, "Not Implemented"},
    {EVUDP6_BAD_GATEWAY, "Bad Gateway"},
    {EVUDP6_SERVICE_UNAVAILABLE, "Service Unavailable"},
    {EVUDP6_GATEWAY_TIMEOUT, "Gateway Timeout"},
    {EVUDP6_PROXYING_NOT_SUPPORTED, "Proxying Not Supported"},
    {EVUDP6_HOP_LIMIT_REACHED, "Hop Limit Reached"},
};

const char *evudp6_code_name(uint8_t code)
{
	for (size_t i = 0; i < sizeof(code_names) / sizeof(code_names[0]); i++)
		if (code_names[i].code == code)
			return code_names[i].name;
	return NULL;
}

const char *evudp6_code_str(uint8_t code, char buf[EVUDP6_CODE_STR_MAX])
{
	const char *name = evudp6_code_name(code);
	unsigned cls = EVUDP6_CODE_CLASS(code), detail = EVUDP6_CODE_DETAIL(code);

	if (name)
		snprintf(buf, EVUDP6_CODE_STR_MAX, "%u.%02u %s", cls, detail, name);
	else
		snprintf(buf, EVUDP6_CODE_STR_MAX, "%u.%02u", cls, detail);
	return buf;
}

/* Known options, in ascending order of number: name, format and value
 * length range (RFC 7252 5.10; Observe RFC 7641; Block1/2, Size2 RFC 7959;
 * No-Response RFC 7967). */
static const struct {
	uint16_t number;
	uint8_t format;
	uint16_t min, max;
	const char *name;
} opt_names[] = {
    {EVUDP6_OPT_IF_MATCH, EVUDP6_OPT_FORMAT_OPAQUE, 0, 8, "If-Match"},
    {EVUDP6_OPT_URI_HOST, EVUDP6_OPT_FORMAT_STRING, 1, 255, "Uri-Host"},
    {EVUDP6_OPT_ETAG, EVUDP6_OPT_FORMAT_OPAQUE, 1, 8, "ETag"},
    {EVUDP6_OPT_IF_NONE_MATCH, EVUDP6_OPT_FORMAT_EMPTY, 0, 0, "If-None-Match"},
    {EVUDP6_OPT_OBSERVE, EVUDP6_OPT_FORMAT_UINT, 0, 3, "Observe"},
    {EVUDP6_OPT_URI_PORT, EVUDP6_OPT_FORMAT_UINT, 0, 2, "Uri-Port"},
    {EVUDP6_OPT_LOCATION_PATH, EVUDP6_OPT_FORMAT_STRING, 0, 255, "Location-Path"},
    {EVUDP6_OPT_URI_PATH, EVUDP6_OPT_FORMAT_STRING, 0, 255, "Uri-Path"},
    {EVUDP6_OPT_CONTENT_FORMAT, EVUDP6_OPT_FORMAT_UINT, 0, 2, "Content-Format"},
    {EVUDP6_OPT_MAX_AGE, EVUDP6_OPT_FORMAT_UINT, 0, 4, "Max-Age"},
    {EVUDP6_OPT_URI_QUERY, EVUDP6_OPT_FORMAT_STRING, 0, 255, "Uri-Query"},
    {EVUDP6_OPT_ACCEPT, EVUDP6_OPT_FORMAT_UINT, 0, 2, "Accept"},
    {EVUDP6_OPT_LOCATION_QUERY, EVUDP6_OPT_FORMAT_STRING, 0, 255, "Location-Query"},
    {EVUDP6_OPT_BLOCK2, EVUDP6_OPT_FORMAT_UINT, 0, 3, "Block2"},
    {EVUDP6_OPT_BLOCK1, EVUDP6_OPT_FORMAT_UINT, 0, 3, "Block1"},
    {EVUDP6_OPT_SIZE2, EVUDP6_OPT_FORMAT_UINT, 0, 4, "Size2"},
    {EVUDP6_OPT_PROXY_URI, EVUDP6_OPT_FORMAT_STRING, 1, 1034, "Proxy-Uri"},
    {EVUDP6_OPT_PROXY_SCHEME, EVUDP6_OPT_FORMAT_STRING, 1, 255, "Proxy-Scheme"},
    {EVUDP6_OPT_SIZE1, EVUDP6_OPT_FORMAT_UINT, 0, 4, "Size1"},
    {EVUDP6_OPT_NO_RESPONSE, EVUDP6_OPT_FORMAT_UINT, 0, 1, "No-Response"},
};

/* opt_names[] is in ascending order of number: looked up by halving, as
 * the builder checks every option it is given. */
static int opt_find(uint32_t number)
{
	size_t lo = 0, hi = sizeof(opt_names) / sizeof(opt_names[0]);
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (opt_names[mid].number == number)
			return (int)mid;
		if (opt_names[mid].number < number)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

const char *evudp6_opt_name(uint32_t number)
{
	int i = opt_find(number);
	return i < 0 ? NULL : opt_names[i].name;
}

enum evudp6_opt_format evudp6_opt_format(uint32_t number)
{
	int i = opt_find(number);
	return i < 0 ? EVUDP6_OPT_FORMAT_OPAQUE : (enum evudp6_opt_format)opt_names[i].format;
}

int evudp6_opt_length_range(uint32_t number, size_t *min, size_t *max)
{
	int i = opt_find(number);
	if (i < 0)
		return 0;
	*min = opt_names[i].min;
	*max = opt_names[i].max;
	return 1;
}

/* ---------------------------------------------------- content formats */

/* The IANA "CoAP Content-Formats" registry; text marks what a person
 * reads as it is. */
static const struct {
	uint16_t number;
	bool text;
	const char *name;
} cf_names[] = {
    {EVUDP6_CF_TEXT_PLAIN, true, "text/plain;charset=utf-8"},
    {EVUDP6_CF_COSE_ENCRYPT0, false, "application/cose;cose-type=\"cose-encrypt0\""},
    {EVUDP6_CF_COSE_MAC0, false, "application/cose;cose-type=\"cose-mac0\""},
    {EVUDP6_CF_COSE_SIGN1, false, "application/cose;cose-type=\"cose-sign1\""},
    {EVUDP6_CF_ACE_CBOR, false, "application/ace+cbor"},
    {EVUDP6_CF_IMAGE_GIF, false, "image/gif"},
    {EVUDP6_CF_IMAGE_JPEG, false, "image/jpeg"},
    {EVUDP6_CF_IMAGE_PNG, false, "image/png"},
    {EVUDP6_CF_LINK_FORMAT, true, "application/link-format"},
    {EVUDP6_CF_XML, true, "application/xml"},
    {EVUDP6_CF_OCTET_STREAM, false, "application/octet-stream"},
    {EVUDP6_CF_EXI, false, "application/exi"},
    {EVUDP6_CF_JSON, true, "application/json"},
    {EVUDP6_CF_JSON_PATCH_JSON, true, "application/json-patch+json"},
    {EVUDP6_CF_MERGE_PATCH_JSON, true, "application/merge-patch+json"},
    {EVUDP6_CF_CBOR, false, "application/cbor"},
    {EVUDP6_CF_CWT, false, "application/cwt"},
    {EVUDP6_CF_MULTIPART_CORE, false, "application/multipart-core"},
    {EVUDP6_CF_CBOR_SEQ, false, "application/cbor-seq"},
    {EVUDP6_CF_EDHOC_CBOR_SEQ, false, "application/edhoc+cbor-seq"},
    {EVUDP6_CF_CID_EDHOC_CBOR_SEQ, false, "application/cid-edhoc+cbor-seq"},
    {EVUDP6_CF_COSE_ENCRYPT, false, "application/cose;cose-type=\"cose-encrypt\""},
    {EVUDP6_CF_COSE_MAC, false, "application/cose;cose-type=\"cose-mac\""},
    {EVUDP6_CF_COSE_SIGN, false, "application/cose;cose-type=\"cose-sign\""},
    {EVUDP6_CF_COSE_KEY, false, "application/cose-key"},
    {EVUDP6_CF_COSE_KEY_SET, false, "application/cose-key-set"},
    {EVUDP6_CF_SENML_JSON, true, "application/senml+json"},
    {EVUDP6_CF_SENSML_JSON, true, "application/sensml+json"},
    {EVUDP6_CF_SENML_CBOR, false, "application/senml+cbor"},
    {EVUDP6_CF_SENSML_CBOR, false, "application/sensml+cbor"},
    {EVUDP6_CF_SENML_EXI, false, "application/senml-exi"},
    {EVUDP6_CF_SENSML_EXI, false, "application/sensml-exi"},
    {EVUDP6_CF_YANG_DATA_CBOR_SID, false, "application/yang-data+cbor;id=sid"},
    {EVUDP6_CF_COAP_GROUP_JSON, true, "application/coap-group+json"},
    {EVUDP6_CF_DOTS_CBOR, false, "application/dots+cbor"},
    {EVUDP6_CF_MISSING_BLOCKS_CBOR_SEQ, false, "application/missing-blocks+cbor-seq"},
    {EVUDP6_CF_PKCS7_SERVER_GENERATED_KEY, false, "application/pkcs7-mime;smime-type=server-generated-key"},
    {EVUDP6_CF_PKCS7_CERTS_ONLY, false, "application/pkcs7-mime;smime-type=certs-only"},
    {EVUDP6_CF_PKCS8, false, "application/pkcs8"},
    {EVUDP6_CF_CSRATTRS, false, "application/csrattrs"},
    {EVUDP6_CF_PKCS10, false, "application/pkcs10"},
    {EVUDP6_CF_PKIX_CERT, false, "application/pkix-cert"},
    {EVUDP6_CF_AIF_CBOR, false, "application/aif+cbor"},
    {EVUDP6_CF_AIF_JSON, true, "application/aif+json"},
    {EVUDP6_CF_SENML_XML, true, "application/senml+xml"},
    {EVUDP6_CF_SENSML_XML, true, "application/sensml+xml"},
    {EVUDP6_CF_SENML_ETCH_JSON, true, "application/senml-etch+json"},
    {EVUDP6_CF_SENML_ETCH_CBOR, false, "application/senml-etch+cbor"},
    {EVUDP6_CF_YANG_DATA_CBOR, false, "application/yang-data+cbor"},
    {EVUDP6_CF_YANG_DATA_CBOR_NAME, false, "application/yang-data+cbor;id=name"},
    {EVUDP6_CF_TD_JSON, true, "application/td+json"},
    {EVUDP6_CF_VND_OCF_CBOR, false, "application/vnd.ocf+cbor"},
    {EVUDP6_CF_OSCORE, false, "application/oscore"},
    {EVUDP6_CF_JAVASCRIPT, true, "application/javascript"},
    {EVUDP6_CF_JSON_DEFLATE, false, "application/json;content-coding=deflate"},
    {EVUDP6_CF_CBOR_DEFLATE, false, "application/cbor;content-coding=deflate"},
    {EVUDP6_CF_LWM2M_TLV, false, "application/vnd.oma.lwm2m+tlv"},
    {EVUDP6_CF_LWM2M_JSON, true, "application/vnd.oma.lwm2m+json"},
    {EVUDP6_CF_LWM2M_CBOR, false, "application/vnd.oma.lwm2m+cbor"},
    {EVUDP6_CF_TEXT_CSS, true, "text/css"},
    {EVUDP6_CF_IMAGE_SVG_XML, true, "image/svg+xml"},
};

static int cf_find(uint32_t cf)
{
	for (size_t i = 0; i < sizeof(cf_names) / sizeof(cf_names[0]); i++)
		if (cf_names[i].number == cf)
			return (int)i;
	return -1;
}

const char *evudp6_content_format_name(uint32_t cf)
{
	int i = cf_find(cf);
	return i < 0 ? NULL : cf_names[i].name;
}

int evudp6_content_format_is_text(uint32_t cf)
{
	int i = cf_find(cf);
	return i >= 0 && cf_names[i].text;
}
