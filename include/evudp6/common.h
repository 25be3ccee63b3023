/*
 * evudp6 — common definitions: export macro and the library's error codes.
 */
#ifndef EVUDP6_COMMON_H
#define EVUDP6_COMMON_H

#ifdef __cplusplus
extern "C" {
#endif

/** Marks a function exported from libevudp6 (everything else is hidden). */
#if defined(__GNUC__) && __GNUC__ >= 4
#define EVUDP6_API __attribute__((visibility("default")))
#else
#define EVUDP6_API
#endif

/**
 * Error codes of the library itself.
 *
 * Every function that can fail returns 0 (or a length) on success and a
 * negative number on failure: either a negative errno value (-EINVAL,
 * -ENETUNREACH, ...) or the negation of one of these codes. The codes start
 * far above any errno value so the two never collide. Pass any such value to
 * evudp6_strerror() for a message.
 */
enum evudp6_error {
	EVUDP6_E_FIRST = 10000,

	/* codec: decoding (RFC 7252 section 3) */
	EVUDP6_E_MSG_SHORT = 10000,     /**< fewer than 4 bytes */
	EVUDP6_E_MSG_VERSION,           /**< version is not 1 */
	EVUDP6_E_MSG_TKL,               /**< token length 9..15 */
	EVUDP6_E_MSG_TOKEN_TRUNC,       /**< token runs past the end */
	EVUDP6_E_MSG_OPT_NIBBLE15,      /**< delta or length nibble 15 outside a payload marker */
	EVUDP6_E_MSG_OPT_EXT_TRUNC,     /**< extended delta/length bytes missing */
	EVUDP6_E_MSG_OPT_VALUE_TRUNC,   /**< option value runs past the end */
	EVUDP6_E_MSG_MARKER_NO_PAYLOAD, /**< payload marker followed by nothing */
	EVUDP6_E_MSG_EMPTY_NOT_EMPTY,   /**< code 0.00 with token, options or payload */
	EVUDP6_E_MSG_CODE_RESERVED,     /**< code class 1, 6 or 7 */
	/* codec: encoding */
	EVUDP6_E_MSG_OPT_NUMBER,    /**< option number above 65804 */
	EVUDP6_E_MSG_OPT_LENGTH,    /**< option value longer than 65804 */
	EVUDP6_E_MSG_TOO_MANY_OPTS, /**< builder option table full */
	EVUDP6_E_MSG_TOKEN_LENGTH,  /**< token longer than 8 bytes */
	EVUDP6_E_MSG_NOSPACE,       /**< output buffer too small */
	EVUDP6_E_MSG_OPT_RANGE,     /**< option value length outside its RFC range */

	/* addresses, URIs and host names */
	EVUDP6_E_NOT_MINE = 10100,    /**< URI scheme this transport does not serve */
	EVUDP6_E_HOST_EMPTY,          /**< empty host */
	EVUDP6_E_HOST_BRACKET,        /**< '[' without matching ']' or junk after it */
	EVUDP6_E_HOST_UNBRACKETED_V6, /**< IPv6 literal with a port but no brackets */
	EVUDP6_E_HOST_TOO_LONG,       /**< host longer than 255 bytes */
	EVUDP6_E_HOST_INVALID,        /**< not a literal and not a valid name */
	EVUDP6_E_PORT,                /**< port not a number in 0..65535 */
	EVUDP6_E_ZONE_UNKNOWN,        /**< zone names no interface here */
	EVUDP6_E_ZONE_NOT_ALLOWED,    /**< zone on an address that cannot have one */
	EVUDP6_E_NOT_LITERAL,         /**< host is a name, not an address literal */
	EVUDP6_E_URI_FRAGMENT,        /**< URI has a fragment (RFC 7252 6.4 step 4) */
	EVUDP6_E_URI_RELATIVE,        /**< URI is not absolute */
	EVUDP6_E_URI_INVALID,         /**< URI syntax or percent-encoding error */
	EVUDP6_E_URI_TOO_LONG,        /**< URI option table or segment too long */

	/* resolution */
	EVUDP6_E_RESOLVE_NXDOMAIN = 10200, /**< name does not exist */
	EVUDP6_E_RESOLVE_NODATA,           /**< name exists but has no address */
	EVUDP6_E_RESOLVE_NOROUTE,          /**< no candidate address is routable */
	EVUDP6_E_RESOLVE_FAILED,           /**< resolver failure (server, timeout) */
	EVUDP6_E_CANCELLED,                /**< request cancelled by the caller */

	/* transport and message layer */
	EVUDP6_E_SHUTDOWN = 10300, /**< object is shut down */
	EVUDP6_E_STATE,            /**< call not valid in this state (e.g. double start) */
	EVUDP6_E_TIMEOUT,          /**< no answer after all retransmissions */
	EVUDP6_E_MULTICAST_CON,    /**< confirmable request to a multicast address */
	EVUDP6_E_NO_PKTINFO,       /**< IPV6_RECVPKTINFO not available */
	EVUDP6_E_DEADLINE,         /**< a request's overall deadline passed */
	EVUDP6_E_NOT_BOUND,        /**< a socket handed over is not bound */

	/* block-wise transfer (RFC 7959) */
	EVUDP6_E_BLOCK_TOO_LARGE = 10400, /**< the server answered 4.13 Request Entity Too Large */
	EVUDP6_E_BLOCK_INCOMPLETE,        /**< the server answered 4.08 Request Entity Incomplete */
	EVUDP6_E_BLOCK_BODY_LIMIT,        /**< the response body is larger than max_body */
	EVUDP6_E_BLOCK_CHANGED,           /**< the representation (ETag) kept changing during the transfer */
	EVUDP6_E_BLOCK_INVALID,           /**< the peer's block options make no sense */

	EVUDP6_E_LAST
};

/**
 * Message for a negative return value of this library (a negative errno or
 * -EVUDP6_E_*). Also accepts positive errno values. Never returns NULL; the
 * string is static (for errno values it is the C library's text, in English
 * regardless of locale).
 */
EVUDP6_API const char *evudp6_strerror(int err);

/** Short symbolic name of an error ("ECONNREFUSED", "EVUDP6_E_MSG_TKL"). */
EVUDP6_API const char *evudp6_strerror_name(int err);

/** Library version string, e.g. "0.1.0". */
EVUDP6_API const char *evudp6_version(void);

#ifdef __cplusplus
}
#endif

#endif /* EVUDP6_COMMON_H */
