/*
 * evudp6 — error messages and version.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <evudp6/common.h>

struct code_text {
	int code;
	const char *name;
	const char *text;
};

static const struct code_text codes[] = {
    {EVUDP6_E_MSG_SHORT, "EVUDP6_E_MSG_SHORT", "CoAP message shorter than its 4-byte header"},
    {EVUDP6_E_MSG_VERSION, "EVUDP6_E_MSG_VERSION", "CoAP version is not 1"},
    {EVUDP6_E_MSG_TKL, "EVUDP6_E_MSG_TKL", "CoAP token length 9-15 is reserved"},
    {EVUDP6_E_MSG_TOKEN_TRUNC, "EVUDP6_E_MSG_TOKEN_TRUNC", "CoAP token runs past the end of the datagram"},
    {EVUDP6_E_MSG_OPT_NIBBLE15, "EVUDP6_E_MSG_OPT_NIBBLE15",
     "CoAP option delta or length nibble 15 outside a payload marker"},
    {EVUDP6_E_MSG_OPT_EXT_TRUNC, "EVUDP6_E_MSG_OPT_EXT_TRUNC",
     "CoAP option extended delta or length bytes missing"},
    {EVUDP6_E_MSG_OPT_VALUE_TRUNC, "EVUDP6_E_MSG_OPT_VALUE_TRUNC",
     "CoAP option value runs past the end of the datagram"},
    {EVUDP6_E_MSG_MARKER_NO_PAYLOAD, "EVUDP6_E_MSG_MARKER_NO_PAYLOAD",
     "CoAP payload marker followed by no payload"},
    {EVUDP6_E_MSG_EMPTY_NOT_EMPTY, "EVUDP6_E_MSG_EMPTY_NOT_EMPTY",
     "CoAP Empty message (0.00) with token, options or payload"},
    {EVUDP6_E_MSG_CODE_RESERVED, "EVUDP6_E_MSG_CODE_RESERVED", "CoAP code class 1, 6 or 7 is reserved"},
    {EVUDP6_E_MSG_OPT_NUMBER, "EVUDP6_E_MSG_OPT_NUMBER", "CoAP option number above 65804"},
    {EVUDP6_E_MSG_OPT_LENGTH, "EVUDP6_E_MSG_OPT_LENGTH", "CoAP option value longer than 65804 bytes"},
    {EVUDP6_E_MSG_TOO_MANY_OPTS, "EVUDP6_E_MSG_TOO_MANY_OPTS", "too many options for the message builder"},
    {EVUDP6_E_MSG_TOKEN_LENGTH, "EVUDP6_E_MSG_TOKEN_LENGTH", "CoAP token longer than 8 bytes"},
    {EVUDP6_E_MSG_NOSPACE, "EVUDP6_E_MSG_NOSPACE", "output buffer too small for the CoAP message"},
    {EVUDP6_E_MSG_OPT_RANGE, "EVUDP6_E_MSG_OPT_RANGE",
     "option value length is outside the range its RFC allows"},

    {EVUDP6_E_NOT_MINE, "EVUDP6_E_NOT_MINE", "URI scheme is not served by this transport"},
    {EVUDP6_E_HOST_EMPTY, "EVUDP6_E_HOST_EMPTY", "host is empty"},
    {EVUDP6_E_HOST_BRACKET, "EVUDP6_E_HOST_BRACKET", "host has an unmatched '[' or text after ']'"},
    {EVUDP6_E_HOST_UNBRACKETED_V6, "EVUDP6_E_HOST_UNBRACKETED_V6",
     "IPv6 address with a port must be written in brackets, e.g. [::1]:5683"},
    {EVUDP6_E_HOST_TOO_LONG, "EVUDP6_E_HOST_TOO_LONG", "host is longer than 255 bytes"},
    {EVUDP6_E_HOST_INVALID, "EVUDP6_E_HOST_INVALID", "host is neither an address nor a valid name"},
    {EVUDP6_E_PORT, "EVUDP6_E_PORT", "port is not a number from 0 to 65535"},
    {EVUDP6_E_ZONE_UNKNOWN, "EVUDP6_E_ZONE_UNKNOWN", "zone identifier names no interface on this host"},
    {EVUDP6_E_ZONE_NOT_ALLOWED, "EVUDP6_E_ZONE_NOT_ALLOWED",
     "zone identifier on an address that cannot have one"},
    {EVUDP6_E_NOT_LITERAL, "EVUDP6_E_NOT_LITERAL", "host is a name, not an address literal"},
    {EVUDP6_E_URI_FRAGMENT, "EVUDP6_E_URI_FRAGMENT", "CoAP URIs cannot have a fragment"},
    {EVUDP6_E_URI_RELATIVE, "EVUDP6_E_URI_RELATIVE", "URI is not absolute (no scheme)"},
    {EVUDP6_E_URI_INVALID, "EVUDP6_E_URI_INVALID", "URI syntax or percent-encoding error"},
    {EVUDP6_E_URI_TOO_LONG, "EVUDP6_E_URI_TOO_LONG", "URI has too many or too long path or query parts"},

    {EVUDP6_E_RESOLVE_NXDOMAIN, "EVUDP6_E_RESOLVE_NXDOMAIN", "name does not exist"},
    {EVUDP6_E_RESOLVE_NODATA, "EVUDP6_E_RESOLVE_NODATA", "name has no address"},
    {EVUDP6_E_RESOLVE_NOROUTE, "EVUDP6_E_RESOLVE_NOROUTE", "no address of the name is reachable"},
    {EVUDP6_E_RESOLVE_FAILED, "EVUDP6_E_RESOLVE_FAILED", "name resolution failed"},
    {EVUDP6_E_CANCELLED, "EVUDP6_E_CANCELLED", "cancelled"},

    {EVUDP6_E_SHUTDOWN, "EVUDP6_E_SHUTDOWN", "object is shut down"},
    {EVUDP6_E_STATE, "EVUDP6_E_STATE", "call not valid in this state"},
    {EVUDP6_E_TIMEOUT, "EVUDP6_E_TIMEOUT", "no answer after all retransmissions"},
    {EVUDP6_E_MULTICAST_CON, "EVUDP6_E_MULTICAST_CON",
     "confirmable requests cannot go to a multicast address"},
    {EVUDP6_E_NO_PKTINFO, "EVUDP6_E_NO_PKTINFO",
     "kernel refuses IPV6_RECVPKTINFO: evudp6 cannot learn datagram destinations"},

    {EVUDP6_E_BLOCK_TOO_LARGE, "EVUDP6_E_BLOCK_TOO_LARGE",
     "4.13 Request Entity Too Large: the server refuses a body this large"},
    {EVUDP6_E_BLOCK_INCOMPLETE, "EVUDP6_E_BLOCK_INCOMPLETE",
     "4.08 Request Entity Incomplete: the server lost track of the upload"},
    {EVUDP6_E_BLOCK_BODY_LIMIT, "EVUDP6_E_BLOCK_BODY_LIMIT", "response body larger than max_body"},
    {EVUDP6_E_BLOCK_CHANGED, "EVUDP6_E_BLOCK_CHANGED",
     "the resource kept changing (ETag) during the block-wise transfer"},
    {EVUDP6_E_BLOCK_INVALID, "EVUDP6_E_BLOCK_INVALID", "invalid block-wise response (Block2/Block1, SZX 7)"},
    {EVUDP6_E_DEADLINE, "EVUDP6_E_DEADLINE", "the request's deadline passed"},
    {EVUDP6_E_NOT_BOUND, "EVUDP6_E_NOT_BOUND", "socket is not bound to an address and port"},
};

static const struct code_text *find_code(int err)
{
	int code = err < 0 ? (err == INT_MIN ? INT_MAX : -err) : err; /* -INT_MIN overflows */
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (codes[i].code == code)
			return &codes[i];
	return NULL;
}

const char *evudp6_strerror(int err)
{
	const struct code_text *c = find_code(err);
	if (c)
		return c->text;
	if (err == 0)
		return "Success";
	int e = err < 0 ? (err == INT_MIN ? INT_MAX : -err) : err;
	if (e >= EVUDP6_E_FIRST)
		return "unknown evudp6 error";
		/* strerrordesc_np is thread-safe and locale-independent (glibc 2.32). */
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
	const char *s = strerrordesc_np(e);
	return s ? s : "unknown error";
#else
	return strerror(e);
#endif
}

const char *evudp6_strerror_name(int err)
{
	const struct code_text *c = find_code(err);
	if (c)
		return c->name;
	if (err == 0)
		return "OK";
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
	const char *s = strerrorname_np(err < 0 ? (err == INT_MIN ? INT_MAX : -err) : err);
	return s ? s : "EUNKNOWN";
#else
	return "EUNKNOWN";
#endif
}

const char *evudp6_version(void)
{
	return PACKAGE_VERSION;
}
