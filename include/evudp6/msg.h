/*
 * evudp6 — CoAP message codec (RFC 7252 section 3). Pure: no I/O, no
 * allocation.
 *
 * Decoding fills a view (struct evudp6_msg) whose pointers point into the
 * caller's buffer; the view is valid while that buffer is. Decoding is
 * strict: every structural fault has its own error code.
 *
 * Encoding goes through a builder that lives wherever the caller puts it
 * (stack, struct member). Options may be added in any order; the encoder
 * writes them sorted by number (stable for repeated options) with the
 * 13/14 extended delta and length forms.
 */
#ifndef EVUDP6_MSG_H
#define EVUDP6_MSG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <evudp6/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Message types (RFC 7252 3). */
enum evudp6_msg_type { EVUDP6_CON = 0, EVUDP6_NON = 1, EVUDP6_ACK = 2, EVUDP6_RST = 3 };

/** Build a code byte from class and detail: EVUDP6_CODE(2, 5) is 2.05. */
#define EVUDP6_CODE(cls, detail) ((uint8_t)(((cls) << 5) | (detail)))
#define EVUDP6_CODE_CLASS(code)  ((uint8_t)(code) >> 5)
#define EVUDP6_CODE_DETAIL(code) ((uint8_t)(code)&0x1f)

/**
 * Method and response codes: every entry of the IANA "CoAP Method Codes"
 * and "CoAP Response Codes" registries (RFC 7252 12.1, RFC 7959, RFC 8132,
 * RFC 8516, RFC 8768, RFC 9175). evudp6_code_name() names each.
 */
enum evudp6_code {
	EVUDP6_EMPTY = 0,
	EVUDP6_GET = 1,
	EVUDP6_POST = 2,
	EVUDP6_PUT = 3,
	EVUDP6_DELETE = 4,
	EVUDP6_FETCH = 5,
	EVUDP6_PATCH = 6,
	EVUDP6_IPATCH = 7,
	EVUDP6_CREATED = EVUDP6_CODE(2, 1),
	EVUDP6_DELETED = EVUDP6_CODE(2, 2),
	EVUDP6_VALID = EVUDP6_CODE(2, 3),
	EVUDP6_CHANGED = EVUDP6_CODE(2, 4),
	EVUDP6_CONTENT = EVUDP6_CODE(2, 5),
	EVUDP6_CONTINUE = EVUDP6_CODE(2, 31),
	EVUDP6_BAD_REQUEST = EVUDP6_CODE(4, 0),
	EVUDP6_UNAUTHORIZED = EVUDP6_CODE(4, 1),
	EVUDP6_BAD_OPTION = EVUDP6_CODE(4, 2),
	EVUDP6_FORBIDDEN = EVUDP6_CODE(4, 3),
	EVUDP6_NOT_FOUND = EVUDP6_CODE(4, 4),
	EVUDP6_METHOD_NOT_ALLOWED = EVUDP6_CODE(4, 5),
	EVUDP6_NOT_ACCEPTABLE = EVUDP6_CODE(4, 6),
	EVUDP6_REQUEST_ENTITY_INCOMPLETE = EVUDP6_CODE(4, 8),
	EVUDP6_CONFLICT = EVUDP6_CODE(4, 9),
	EVUDP6_PRECONDITION_FAILED = EVUDP6_CODE(4, 12),
	EVUDP6_REQUEST_ENTITY_TOO_LARGE = EVUDP6_CODE(4, 13),
	EVUDP6_UNSUPPORTED_CONTENT_FORMAT = EVUDP6_CODE(4, 15),
	EVUDP6_UNPROCESSABLE_ENTITY = EVUDP6_CODE(4, 22),
	EVUDP6_TOO_MANY_REQUESTS = EVUDP6_CODE(4, 29),
	EVUDP6_INTERNAL_SERVER_ERROR = EVUDP6_CODE(5, 0),
	EVUDP6_NOT_IMPLEMENTED = EVUDP6_CODE(5, 1),
	EVUDP6_BAD_GATEWAY = EVUDP6_CODE(5, 2),
	EVUDP6_SERVICE_UNAVAILABLE = EVUDP6_CODE(5, 3),
	EVUDP6_GATEWAY_TIMEOUT = EVUDP6_CODE(5, 4),
	EVUDP6_PROXYING_NOT_SUPPORTED = EVUDP6_CODE(5, 5),
	EVUDP6_HOP_LIMIT_REACHED = EVUDP6_CODE(5, 8)
};

/**
 * Content-Format numbers of the IANA "CoAP Content-Formats" registry
 * (RFC 7252 12.3 and later registrations). evudp6_content_format_name()
 * gives each one's media type with its parameters.
 */
enum evudp6_content_format {
	EVUDP6_CF_TEXT_PLAIN = 0, /**< text/plain;charset=utf-8 */
	EVUDP6_CF_COSE_ENCRYPT0 = 16,
	EVUDP6_CF_COSE_MAC0 = 17,
	EVUDP6_CF_COSE_SIGN1 = 18,
	EVUDP6_CF_ACE_CBOR = 19,
	EVUDP6_CF_IMAGE_GIF = 21,
	EVUDP6_CF_IMAGE_JPEG = 22,
	EVUDP6_CF_IMAGE_PNG = 23,
	EVUDP6_CF_LINK_FORMAT = 40,
	EVUDP6_CF_XML = 41,
	EVUDP6_CF_OCTET_STREAM = 42,
	EVUDP6_CF_EXI = 47,
	EVUDP6_CF_JSON = 50,
	EVUDP6_CF_JSON_PATCH_JSON = 51,
	EVUDP6_CF_MERGE_PATCH_JSON = 52,
	EVUDP6_CF_CBOR = 60,
	EVUDP6_CF_CWT = 61,
	EVUDP6_CF_MULTIPART_CORE = 62,
	EVUDP6_CF_CBOR_SEQ = 63,
	EVUDP6_CF_EDHOC_CBOR_SEQ = 64,
	EVUDP6_CF_CID_EDHOC_CBOR_SEQ = 65,
	EVUDP6_CF_COSE_ENCRYPT = 96,
	EVUDP6_CF_COSE_MAC = 97,
	EVUDP6_CF_COSE_SIGN = 98,
	EVUDP6_CF_COSE_KEY = 101,
	EVUDP6_CF_COSE_KEY_SET = 102,
	EVUDP6_CF_SENML_JSON = 110,
	EVUDP6_CF_SENSML_JSON = 111,
	EVUDP6_CF_SENML_CBOR = 112,
	EVUDP6_CF_SENSML_CBOR = 113,
	EVUDP6_CF_SENML_EXI = 114,
	EVUDP6_CF_SENSML_EXI = 115,
	EVUDP6_CF_YANG_DATA_CBOR_SID = 140,
	EVUDP6_CF_COAP_GROUP_JSON = 256,
	EVUDP6_CF_DOTS_CBOR = 271,
	EVUDP6_CF_MISSING_BLOCKS_CBOR_SEQ = 272,
	EVUDP6_CF_PKCS7_SERVER_GENERATED_KEY = 280,
	EVUDP6_CF_PKCS7_CERTS_ONLY = 281,
	EVUDP6_CF_PKCS8 = 284,
	EVUDP6_CF_CSRATTRS = 285,
	EVUDP6_CF_PKCS10 = 286,
	EVUDP6_CF_PKIX_CERT = 287,
	EVUDP6_CF_AIF_CBOR = 290,
	EVUDP6_CF_AIF_JSON = 291,
	EVUDP6_CF_SENML_XML = 310,
	EVUDP6_CF_SENSML_XML = 311,
	EVUDP6_CF_SENML_ETCH_JSON = 320,
	EVUDP6_CF_SENML_ETCH_CBOR = 322,
	EVUDP6_CF_YANG_DATA_CBOR = 340,
	EVUDP6_CF_YANG_DATA_CBOR_NAME = 341,
	EVUDP6_CF_TD_JSON = 432,
	EVUDP6_CF_VND_OCF_CBOR = 10000,
	EVUDP6_CF_OSCORE = 10001,
	EVUDP6_CF_JAVASCRIPT = 10002,
	EVUDP6_CF_JSON_DEFLATE = 11050,
	EVUDP6_CF_CBOR_DEFLATE = 11060,
	EVUDP6_CF_LWM2M_TLV = 11542,
	EVUDP6_CF_LWM2M_JSON = 11543,
	EVUDP6_CF_LWM2M_CBOR = 11544,
	EVUDP6_CF_TEXT_CSS = 20000,
	EVUDP6_CF_IMAGE_SVG_XML = 30000
};

/** Option numbers (RFC 7252 5.10, RFC 7641, RFC 7959, RFC 7967). */
enum evudp6_option {
	EVUDP6_OPT_IF_MATCH = 1,
	EVUDP6_OPT_URI_HOST = 3,
	EVUDP6_OPT_ETAG = 4,
	EVUDP6_OPT_IF_NONE_MATCH = 5,
	EVUDP6_OPT_OBSERVE = 6,
	EVUDP6_OPT_URI_PORT = 7,
	EVUDP6_OPT_LOCATION_PATH = 8,
	EVUDP6_OPT_URI_PATH = 11,
	EVUDP6_OPT_CONTENT_FORMAT = 12,
	EVUDP6_OPT_MAX_AGE = 14,
	EVUDP6_OPT_URI_QUERY = 15,
	EVUDP6_OPT_ACCEPT = 17,
	EVUDP6_OPT_LOCATION_QUERY = 20,
	EVUDP6_OPT_BLOCK2 = 23,
	EVUDP6_OPT_BLOCK1 = 27,
	EVUDP6_OPT_SIZE2 = 28,
	EVUDP6_OPT_PROXY_URI = 35,
	EVUDP6_OPT_PROXY_SCHEME = 39,
	EVUDP6_OPT_SIZE1 = 60,
	EVUDP6_OPT_NO_RESPONSE = 258
};

/** Largest option number, delta and value length the wire format can carry. */
#define EVUDP6_OPT_MAX 65804u
/** Largest token length. */
#define EVUDP6_TOKEN_MAX 8

/**
 * A decoded message: a view into the caller's buffer. Plain struct, frozen
 * once released.
 */
struct evudp6_msg {
	uint8_t type;           /**< enum evudp6_msg_type */
	uint8_t code;           /**< class << 5 | detail */
	uint16_t mid;           /**< message id, host byte order */
	uint8_t tkl;            /**< token length 0..8 */
	const uint8_t *token;   /**< tkl bytes */
	const uint8_t *opts;    /**< encoded options (validated) */
	size_t opts_len;        /**< bytes of encoded options */
	const uint8_t *payload; /**< NULL when there is no payload */
	size_t payload_len;     /**< 0 when there is no payload */
	const uint8_t *data;    /**< the whole datagram */
	size_t len;             /**< its length */
};

/** One option: a view into the message (or into the caller's value). */
struct evudp6_opt {
	uint32_t number;
	const uint8_t *value;
	size_t len;
};

/** Iterator over a decoded message's options, in wire order. */
struct evudp6_opt_iter {
	const uint8_t *p;
	const uint8_t *end;
	uint32_t number;
};

/**
 * Decode a datagram strictly.
 *
 * @return 0, or -EVUDP6_E_MSG_* naming the first fault found. On error
 *         the view is left zeroed. Nothing is allocated; @p m points into
 *         @p buf. Option numbers beyond 65535 are accepted (as uint32);
 *         -EVUDP6_E_MSG_OPT_NUMBER only if they would pass UINT32_MAX,
 *         which takes a buffer far larger than any datagram.
 */
EVUDP6_API int evudp6_msg_decode(struct evudp6_msg *m, const void *buf, size_t len);

/**
 * Peek at the header of a datagram that may fail to decode: type, code,
 * message id and, where it is complete, the token. Used to answer a
 * malformed CON with RST (RFC 7252 4.2).
 *
 * @return 0 if at least the 4 header bytes with version 1 are there,
 *         -EVUDP6_E_MSG_SHORT or -EVUDP6_E_MSG_VERSION otherwise.
 */
EVUDP6_API int evudp6_msg_peek_header(struct evudp6_msg *m, const void *buf, size_t len);

/** Start iterating over the options of a decoded message. */
EVUDP6_API void evudp6_opt_iter_init(struct evudp6_opt_iter *it, const struct evudp6_msg *m);

/**
 * Next option in wire order.
 * @return 1 and fills @p opt, or 0 at the end.
 */
EVUDP6_API int evudp6_opt_iter_next(struct evudp6_opt_iter *it, struct evudp6_opt *opt);

/**
 * First option with @p number.
 * @return 1 and fills @p opt, or 0 if the message has none.
 */
EVUDP6_API int evudp6_msg_find_opt(const struct evudp6_msg *m, uint32_t number, struct evudp6_opt *opt);

/**
 * Value of a uint option (RFC 7252 3.2: big-endian, leading zeros allowed,
 * empty is 0). @return 0, or -ERANGE if longer than 4 bytes.
 */
EVUDP6_API int evudp6_opt_uint(const struct evudp6_opt *opt, uint32_t *value);

/** Capacity of a builder's option table. */
#define EVUDP6_BUILDER_MAX_OPTS 48

/**
 * Message under construction. Option values added by reference must stay
 * valid until evudp6_msg_encode() has run; uint values are stored inside
 * the builder, in uintval[i] for the option at opt[i] (whose value is then
 * NULL). The builder holds no pointer into itself: it may be copied by
 * assignment or memcpy() at any time and the copy encodes on its own.
 * Initialise with evudp6_msg_builder_init(); the fields are public so a
 * caller may read them, but should use the functions to write.
 *
 * ABI: a plain value type like struct evudp6_msg, frozen once released
 * (its size is compiled into callers); a larger builder would be a new
 * type with its own functions.
 */
struct evudp6_msg_builder {
	uint8_t type;
	uint8_t code;
	uint16_t mid;
	uint8_t tkl;
	uint8_t token[EVUDP6_TOKEN_MAX];
	size_t nopts;
	struct evudp6_opt opt[EVUDP6_BUILDER_MAX_OPTS];
	uint8_t uintval[EVUDP6_BUILDER_MAX_OPTS][4];
	const uint8_t *payload;
	size_t payload_len;
	int err; /**< first error of an add call, reported again by encode */
};

/** Reset @p b to an empty message of the given type, code and id. */
EVUDP6_API void evudp6_msg_builder_init(struct evudp6_msg_builder *b, uint8_t type, uint8_t code,
                                        uint16_t mid);

/**
 * Set the token (copied).
 * @return 0 or -EVUDP6_E_MSG_TOKEN_LENGTH (also remembered for encode).
 */
EVUDP6_API int evudp6_msg_builder_set_token(struct evudp6_msg_builder *b, const void *token, size_t len);

/**
 * Add an option whose value is referenced, not copied. The value of an
 * option the library knows must have a length in its RFC range (see
 * evudp6_opt_length_range()): a 256-byte Uri-Path is refused here, so no
 * message this library builds carries one.
 * @return 0, -EVUDP6_E_MSG_OPT_NUMBER, -EVUDP6_E_MSG_OPT_LENGTH,
 *         -EVUDP6_E_MSG_OPT_RANGE,
 *         -EVUDP6_E_MSG_TOO_MANY_OPTS or -EINVAL (NULL value with a
 *         length), each also remembered for encode.
 */
EVUDP6_API int evudp6_msg_builder_add_opt(struct evudp6_msg_builder *b, uint32_t number, const void *value,
                                          size_t len);

/**
 * Add a uint option in its shortest form (0 is the empty value). The bytes
 * live inside the builder (see struct evudp6_msg_builder), which stays
 * safe to copy. Errors as for add_opt.
 */
EVUDP6_API int evudp6_msg_builder_add_uint(struct evudp6_msg_builder *b, uint32_t number, uint32_t value);

/** Set the payload (referenced, not copied; len 0 means none). */
EVUDP6_API void evudp6_msg_builder_set_payload(struct evudp6_msg_builder *b, const void *payload, size_t len);

/**
 * Load a builder from a decoded message (type, code, id, token, options and
 * payload, all referenced). Used to re-encode or to answer with a copy.
 * @return 0, -EVUDP6_E_MSG_TOO_MANY_OPTS, or -EVUDP6_E_MSG_OPT_NUMBER for
 *         an option number beyond 65804 (decodable, not encodable).
 */
EVUDP6_API int evudp6_msg_builder_from_msg(struct evudp6_msg_builder *b, const struct evudp6_msg *m);

/**
 * Encode into @p out. Nothing is written past @p outlen.
 * @return the number of bytes written, or a negative error: the first
 *         error remembered by an add call, -EVUDP6_E_MSG_EMPTY_NOT_EMPTY,
 *         -EVUDP6_E_MSG_CODE_RESERVED, -EVUDP6_E_MSG_NOSPACE, or -EINVAL
 *         for fields written directly out of range (type > 3, tkl > 8,
 *         unsorted options).
 */
EVUDP6_API ssize_t evudp6_msg_encode(const struct evudp6_msg_builder *b, void *out, size_t outlen);

/** "CON", "NON", "ACK", "RST"; NULL for a value above 3. */
EVUDP6_API const char *evudp6_msg_type_name(uint8_t type);

/** Name of a code ("Content", "GET", "Not Found") or NULL if unknown. */
EVUDP6_API const char *evudp6_code_name(uint8_t code);

/** Room for evudp6_code_str(): "c.dd " plus the longest name. */
#define EVUDP6_CODE_STR_MAX 48

/** "2.05 Content", "0.01 GET", "7.31" (unknown codes as numbers only). */
EVUDP6_API const char *evudp6_code_str(uint8_t code, char buf[EVUDP6_CODE_STR_MAX]);

/** Name of an option ("Uri-Path") or NULL if unknown. */
EVUDP6_API const char *evudp6_opt_name(uint32_t number);

/** Option format for printing. */
enum evudp6_opt_format {
	EVUDP6_OPT_FORMAT_OPAQUE = 0,
	EVUDP6_OPT_FORMAT_UINT,
	EVUDP6_OPT_FORMAT_STRING,
	EVUDP6_OPT_FORMAT_EMPTY
};

/** Format of a known option; opaque for unknown ones. */
EVUDP6_API enum evudp6_opt_format evudp6_opt_format(uint32_t number);

/**
 * Value length range of a known option (RFC 7252 5.10 and the RFCs that
 * register the others: Uri-Host 1-255, Uri-Path 0-255, ETag 1-8,
 * Proxy-Uri 1-1034, ...).
 * @return 1 and fills @p min and @p max for an option the library
 *         knows, 0 for an unknown one (then any length goes).
 */
EVUDP6_API int evudp6_opt_length_range(uint32_t number, size_t *min, size_t *max);

/**
 * Media type of a registered Content-Format, with its parameters
 * ("text/plain;charset=utf-8", "application/link-format"), or NULL.
 */
EVUDP6_API const char *evudp6_content_format_name(uint32_t cf);

/**
 * Is a registered Content-Format text a person can read (text/plain,
 * link format, XML, JSON and its relatives)? 0 for binary and unknown ones.
 */
EVUDP6_API int evudp6_content_format_is_text(uint32_t cf);

/** Is the option critical (odd number, RFC 7252 5.4.1)? */
#define EVUDP6_OPT_IS_CRITICAL(n) (((n)&1u) != 0)

#ifdef __cplusplus
}
#endif

#endif /* EVUDP6_MSG_H */
