/*
 * coap:// URIs: RFC 7252 6.3 (equivalence), 6.4 (URI to options) and
 * 6.5 (options to URI).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <string.h>

#include <evudp6/msg.h>
#include <evudp6/resolve.h>

#include "testutil.h"

/* Option values of a URI as "P:a|P:b/c|Q:x=1" for one-line comparisons;
 * a NUL byte shows as "\0". */
static const char *parts(const struct evudp6_uri *u)
{
	static char buf[4096];
	struct evudp6_opt o;
	size_t n = 0;
	buf[0] = '\0';
	for (size_t i = 0; evudp6_uri_option(u, i, &o) == 1; i++) {
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%c:", i ? "|" : "",
		                      o.number == EVUDP6_OPT_URI_PATH ? 'P' : 'Q');
		for (size_t k = 0; k < o.len; k++) {
			if (o.value[k] == 0)
				n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\\0");
			else
				buf[n++] = (char)o.value[k];
		}
		buf[n] = '\0';
	}
	return buf;
}

static const char *fmt(const struct evudp6_uri *u)
{
	static char buf[4096];
	int n = evudp6_uri_format(u, buf, sizeof(buf));
	ck_assert_int_ge(n, 0);
	ck_assert_uint_eq((size_t)n, strlen(buf));
	return buf;
}

static void parse_ok(struct evudp6_uri *u, const char *uri)
{
	int rc = evudp6_uri_parse(u, uri);
	ck_assert_msg(rc == 0, "%s: %d %s", uri, rc, evudp6_strerror(rc));
}

static void parse_err(const char *uri, int want)
{
	struct evudp6_uri u;
	int rc = evudp6_uri_parse(&u, uri);
	ck_assert_msg(rc == want, "%s: got %d (%s), want %d (%s)", uri, rc, evudp6_strerror_name(rc), want,
	              evudp6_strerror_name(want));
}

static void addr6(struct evudp6_addr *a, const char *text, uint16_t port, uint32_t scope)
{
	memset(a, 0, sizeof(*a));
	a->remote.sin6_family = AF_INET6;
	a->remote.sin6_port = htons(port);
	a->remote.sin6_scope_id = scope;
	ck_assert_int_eq(inet_pton(AF_INET6, text, &a->remote.sin6_addr), 1);
}

/* ------------------------------------------------------------ parsing */

START_TEST(uri_parse_bracketed_port_path_query_and_back)
{
	struct evudp6_uri u;
	const char *s = "coap://[::1]:5684/a/b%2Fc?x=1&y";
	parse_ok(&u, s);
	ck_assert_str_eq(u.host, "::1");
	ck_assert_str_eq(u.zone, "");
	ck_assert(u.host_is_literal);
	ck_assert_uint_eq(u.port, 5684);
	ck_assert_uint_eq(u.nparts, 4);
	ck_assert_str_eq(parts(&u), "P:a|P:b/c|Q:x=1|Q:y");
	ck_assert_str_eq(fmt(&u), s);
}
END_TEST

/* RFC 7252 6.3: the three spellings of one resource. */
START_TEST(uri_rfc7252_6_3_equivalent_uris_parse_alike)
{
	static const char *const same[] = {
	    "coap://example.com:5683/~sensors/temp.xml",
	    "coap://EXAMPLE.com/%7Esensors/temp.xml",
	    "coap://EXAMPLE.com:/%7esensors/temp.xml",
	};
	struct evudp6_uri first, u;
	parse_ok(&first, same[0]);
	ck_assert_str_eq(first.host, "example.com");
	ck_assert(!first.host_is_literal);
	ck_assert_uint_eq(first.port, 5683);
	ck_assert_str_eq(parts(&first), "P:~sensors|P:temp.xml");
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		parse_ok(&u, same[i]);
		ck_assert_str_eq(u.host, first.host);
		ck_assert_uint_eq(u.port, first.port);
		ck_assert_int_eq(u.host_is_literal, first.host_is_literal);
		ck_assert_str_eq(parts(&u), "P:~sensors|P:temp.xml");
		ck_assert_str_eq(fmt(&u), "coap://example.com/~sensors/temp.xml");
	}
}
END_TEST

/* RFC 7252 6.3: empty path and "/" are the same; empty port is default. */
START_TEST(uri_empty_path_and_slash_have_no_uri_path)
{
	struct evudp6_uri u;
	parse_ok(&u, "coap://example.com");
	ck_assert_uint_eq(u.nparts, 0);
	ck_assert_str_eq(fmt(&u), "coap://example.com/");
	parse_ok(&u, "coap://example.com/");
	ck_assert_uint_eq(u.nparts, 0);
	ck_assert_str_eq(fmt(&u), "coap://example.com/");
	parse_ok(&u, "coap://example.com:");
	ck_assert_uint_eq(u.port, 5683);
	ck_assert_uint_eq(u.nparts, 0);
	ck_assert_str_eq(fmt(&u), "coap://example.com/");
}
END_TEST

START_TEST(uri_scheme_matches_any_case)
{
	struct evudp6_uri u;
	parse_ok(&u, "CoAP://Example.COM/X");
	ck_assert_str_eq(u.host, "example.com");
	/* Only the host is case-insensitive; the path is kept as written. */
	ck_assert_str_eq(parts(&u), "P:X");
	ck_assert_str_eq(fmt(&u), "coap://example.com/X");
}
END_TEST

/* RFC 7252 6.4 step 8: empty segments are values too. */
START_TEST(uri_empty_segments_are_kept)
{
	struct evudp6_uri u;
	parse_ok(&u, "coap://h/a/");
	ck_assert_str_eq(parts(&u), "P:a|P:");
	ck_assert_str_eq(fmt(&u), "coap://h/a/");
	parse_ok(&u, "coap://h//");
	ck_assert_str_eq(parts(&u), "P:|P:");
	ck_assert_str_eq(fmt(&u), "coap://h//");
	parse_ok(&u, "coap://h/a//b");
	ck_assert_str_eq(parts(&u), "P:a|P:|P:b");
	ck_assert_str_eq(fmt(&u), "coap://h/a//b");
}
END_TEST

/* RFC 7252 6.4 step 9: a query that is not empty gives every
 * '&'-separated argument, empty ones too; a bare '?' gives none. */
START_TEST(uri_query_arguments_split_on_ampersand_only)
{
	struct evudp6_uri u;
	parse_ok(&u, "coap://h?");
	ck_assert_str_eq(parts(&u), "");
	ck_assert_str_eq(fmt(&u), "coap://h/");
	parse_ok(&u, "coap://h/p?");
	ck_assert_str_eq(parts(&u), "P:p");
	parse_ok(&u, "coap://h/?&");
	ck_assert_str_eq(parts(&u), "Q:|Q:");
	ck_assert_str_eq(fmt(&u), "coap://h/?&");
	parse_ok(&u, "coap://h/?a&&b");
	ck_assert_str_eq(parts(&u), "Q:a|Q:|Q:b");
	ck_assert_str_eq(fmt(&u), "coap://h/?a&&b");
	parse_ok(&u, "coap://h/p?a=b/c?d;e");
	ck_assert_str_eq(parts(&u), "P:p|Q:a=b/c?d;e");
	ck_assert_str_eq(fmt(&u), "coap://h/p?a=b/c?d;e");
	parse_ok(&u, "coap://h/p?x%26y=%3D");
	ck_assert_str_eq(parts(&u), "P:p|Q:x&y==");
	ck_assert_str_eq(fmt(&u), "coap://h/p?x%26y==");
}
END_TEST

/* RFC 7252 6.4 step 2 resolves the reference, which removes dot
 * segments (RFC 3986 5.2.4); encoded dots are data. */
START_TEST(uri_dot_segments_are_removed)
{
	static const struct {
		const char *uri, *parts, *back;
	} t[] = {
	    {"coap://h/a/./b/../c", "P:a|P:c", "coap://h/a/c"},
	    {"coap://h/a/..", "", "coap://h/"},
	    {"coap://h/..", "", "coap://h/"},
	    {"coap://h/../../a", "P:a", "coap://h/a"},
	    {"coap://h/a/b/.", "P:a|P:b|P:", "coap://h/a/b/"},
	    {"coap://h/a/b/..", "P:a|P:", "coap://h/a/"},
	    {"coap://h/./", "", "coap://h/"},
	    {"coap://h/a//../b", "P:a|P:b", "coap://h/a/b"},
	    {"coap://h/.a/..b/...", "P:.a|P:..b|P:...", "coap://h/.a/..b/..."},
	    {"coap://h/%2E%2E/x", "P:..|P:x", "coap://h/%2E%2E/x"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct evudp6_uri u;
		parse_ok(&u, t[i].uri);
		ck_assert_msg(strcmp(parts(&u), t[i].parts) == 0, "%s: %s", t[i].uri, parts(&u));
		ck_assert_str_eq(fmt(&u), t[i].back);
	}
}
END_TEST

/* A Uri-Path value "." or ".." is data; written bare it would be a dot
 * segment and vanish when parsed again (RFC 7252 6.5 step 6). */
START_TEST(uri_path_values_dot_and_dotdot_are_written_encoded)
{
	struct evudp6_uri u, back;
	parse_ok(&u, "coap://h/%2E/%2e%2E");
	ck_assert_str_eq(parts(&u), "P:.|P:..");
	ck_assert_str_eq(fmt(&u), "coap://h/%2E/%2E%2E");
	parse_ok(&back, fmt(&u));
	ck_assert_str_eq(parts(&back), "P:.|P:..");

	/* From options: only whole values "." and ".." are encoded. */
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 3);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_HOST, "h", 1);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_PATH, "..", 2);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_PATH, ".x", 2);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_PATH, "...", 3);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_PATH, ".", 1);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_QUERY, ".", 1);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_QUERY, "..", 2);
	uint8_t wire[64];
	struct evudp6_msg m;
	ssize_t len = evudp6_msg_encode(&b, wire, sizeof(wire));
	ck_assert_int_gt(len, 0);
	ck_assert_int_eq(evudp6_msg_decode(&m, wire, (size_t)len), 0);
	ck_assert_int_eq(evudp6_uri_from_msg(&u, &m, NULL), 0);
	ck_assert_str_eq(fmt(&u), "coap://h/%2E%2E/.x/.../%2E?.&..");
	parse_ok(&back, fmt(&u));
	ck_assert_str_eq(parts(&back), "P:..|P:.x|P:...|P:.|Q:.|Q:..");
}
END_TEST

START_TEST(uri_other_schemes_are_not_mine)
{
	parse_err("coaps://h/", -EVUDP6_E_NOT_MINE);
	parse_err("coap+tcp://h/", -EVUDP6_E_NOT_MINE);
	parse_err("coap+ws://h/", -EVUDP6_E_NOT_MINE);
	parse_err("http://h/", -EVUDP6_E_NOT_MINE);
	parse_err("coapx://h/", -EVUDP6_E_NOT_MINE);
	parse_err("coa://h/", -EVUDP6_E_NOT_MINE);
	/* Step 3 comes before step 4: another scheme's fragment is its own
	 * business. */
	parse_err("coaps://h/#f", -EVUDP6_E_NOT_MINE);
	/* A host:port with a name is an absolute URI of scheme "localhost"
	 * (RFC 3986 3.1), so it is not ours either. */
	parse_err("localhost:5683", -EVUDP6_E_NOT_MINE);
}
END_TEST

START_TEST(uri_fragment_is_refused)
{
	parse_err("coap://h/a#b", -EVUDP6_E_URI_FRAGMENT);
	parse_err("coap://h/#", -EVUDP6_E_URI_FRAGMENT);
	parse_err("coap://h?q#f", -EVUDP6_E_URI_FRAGMENT);
	parse_err("coap://h#f", -EVUDP6_E_URI_FRAGMENT);
}
END_TEST

START_TEST(uri_relative_references_are_refused)
{
	parse_err("", -EVUDP6_E_URI_RELATIVE);
	parse_err("/a/b", -EVUDP6_E_URI_RELATIVE);
	parse_err("a/b", -EVUDP6_E_URI_RELATIVE);
	parse_err("//h/a", -EVUDP6_E_URI_RELATIVE);
	parse_err("?q", -EVUDP6_E_URI_RELATIVE);
	parse_err("[::1]:5683/a", -EVUDP6_E_URI_RELATIVE);
	parse_err("127.0.0.1:5683", -EVUDP6_E_URI_RELATIVE);
	parse_err("1coap://h/", -EVUDP6_E_URI_RELATIVE);
	parse_err("#f", -EVUDP6_E_URI_RELATIVE);
}
END_TEST

START_TEST(uri_bad_percent_encoding_is_invalid)
{
	parse_err("coap://h/a%2", -EVUDP6_E_URI_INVALID);
	parse_err("coap://h/a%", -EVUDP6_E_URI_INVALID);
	parse_err("coap://h/%zz", -EVUDP6_E_URI_INVALID);
	parse_err("coap://h/?%G0", -EVUDP6_E_URI_INVALID);
	parse_err("coap://h/?a%", -EVUDP6_E_URI_INVALID);
	parse_err("coap://ex%4/", -EVUDP6_E_URI_INVALID);
	parse_err("coap://[fe80::1%25%G1]/", -EVUDP6_E_URI_INVALID);
}
END_TEST

START_TEST(uri_characters_outside_rfc3986_are_invalid)
{
	parse_err("coap://h/a b", -EVUDP6_E_URI_INVALID);
	parse_err("coap://h/a<b", -EVUDP6_E_URI_INVALID);
	parse_err("coap://h/\"", -EVUDP6_E_URI_INVALID);
	parse_err("coap://h/a\\b", -EVUDP6_E_URI_INVALID);
	parse_err("coap://h/{x}", -EVUDP6_E_URI_INVALID);
	parse_err("coap://h/\xc3\xa4", -EVUDP6_E_URI_INVALID);
	parse_err("coap://h/?a b", -EVUDP6_E_URI_INVALID);
	parse_err("coap://h/?[", -EVUDP6_E_URI_INVALID);
	parse_err("coap://h\x01/", -EVUDP6_E_URI_INVALID);
	parse_err("coap://ex ample/", -EVUDP6_E_URI_INVALID);
	/* coap-URI has no userinfo and needs "//" (RFC 7252 6.1). */
	parse_err("coap://user@h/", -EVUDP6_E_URI_INVALID);
	parse_err("coap:h", -EVUDP6_E_URI_INVALID);
	parse_err("coap:/h/a", -EVUDP6_E_URI_INVALID);
	parse_err("coap:", -EVUDP6_E_URI_INVALID);
}
END_TEST

START_TEST(uri_bad_hosts_each_have_their_code)
{
	char big[400];
	parse_err("coap:///a", -EVUDP6_E_HOST_EMPTY);
	parse_err("coap://", -EVUDP6_E_HOST_EMPTY);
	parse_err("coap://:5683/", -EVUDP6_E_HOST_EMPTY);
	parse_err("coap://[/", -EVUDP6_E_HOST_BRACKET);
	parse_err("coap://[", -EVUDP6_E_HOST_BRACKET);
	parse_err("coap://[::1/a", -EVUDP6_E_HOST_BRACKET);
	parse_err("coap://[::1]x/", -EVUDP6_E_HOST_BRACKET);
	parse_err("coap://::1]/", -EVUDP6_E_HOST_BRACKET);
	parse_err("coap://::1:5683/", -EVUDP6_E_HOST_UNBRACKETED_V6);
	parse_err("coap://::1/", -EVUDP6_E_HOST_UNBRACKETED_V6);
	parse_err("coap://h:65536/", -EVUDP6_E_PORT);
	parse_err("coap://h:abc/", -EVUDP6_E_PORT);
	parse_err("coap://h:-1/", -EVUDP6_E_PORT);
	parse_err("coap://h:99999999999999999999999/", -EVUDP6_E_PORT);
	parse_err("coap://[::1]:65536/", -EVUDP6_E_PORT);
	parse_err("coap://[v1.x]/", -EVUDP6_E_HOST_INVALID);
	parse_err("coap://[192.0.2.1]/", -EVUDP6_E_HOST_INVALID);
	parse_err("coap://[]/", -EVUDP6_E_HOST_EMPTY);
	parse_err("coap://[fe80::1%]/", -EVUDP6_E_HOST_INVALID);
	parse_err("coap://[fe80::1%25%00]/", -EVUDP6_E_HOST_INVALID);
	parse_err("coap://h%00/", -EVUDP6_E_HOST_INVALID);

	/* 255 bytes is the limit; it counts decoded bytes. */
	memset(big, 'a', sizeof(big));
	memcpy(big, "coap://", 7);
	strcpy(big + 7 + 255, "/x");
	struct evudp6_uri u;
	parse_ok(&u, big);
	ck_assert_uint_eq(strlen(u.host), 255);
	memset(big + 7, 'a', 256);
	strcpy(big + 7 + 256, "/x");
	parse_err(big, -EVUDP6_E_HOST_TOO_LONG);
	for (int i = 0; i < 100; i++)
		memcpy(big + 7 + 3 * i, "%41", 3);
	strcpy(big + 7 + 300, "/x");
	parse_ok(&u, big);
	ck_assert_uint_eq(strlen(u.host), 100);
	ck_assert_int_eq(u.host[0], 'a'); /* decoded, then lowercased */

	/* Zones longer than any interface name can be. */
	char z[128];
	snprintf(z, sizeof(z), "coap://[fe80::1%%25%s]/",
	         "0123456789012345678901234567890123456789012345678901234567890123");
	parse_err(z, -EVUDP6_E_ZONE_UNKNOWN);
}
END_TEST

/* RFC 6874 writes the zone "%25zone"; a bare '%' is accepted as well. */
START_TEST(uri_zone_in_both_spellings)
{
	struct evudp6_uri u;
	parse_ok(&u, "coap://[fe80::1%25eth0]/x");
	ck_assert_str_eq(u.host, "fe80::1");
	ck_assert_str_eq(u.zone, "eth0");
	ck_assert_str_eq(fmt(&u), "coap://[fe80::1%25eth0]/x");
	parse_ok(&u, "coap://[fe80::1%eth0]:1234/x");
	ck_assert_str_eq(u.host, "fe80::1");
	ck_assert_str_eq(u.zone, "eth0");
	ck_assert_uint_eq(u.port, 1234);
	ck_assert_str_eq(fmt(&u), "coap://[fe80::1%25eth0]:1234/x");
	parse_ok(&u, "coap://[fe80::1%251]");
	ck_assert_str_eq(u.zone, "1");
	parse_ok(&u, "coap://[fe80::1%3]");
	ck_assert_str_eq(u.zone, "3");
	parse_ok(&u, "coap://[ff02::fd%25e%2Dx]");
	ck_assert_str_eq(u.zone, "e-x");
	ck_assert_str_eq(fmt(&u), "coap://[ff02::fd%25e-x]/");
	/* "%25" alone is no RFC 6874 zone, so it is zone "25". */
	parse_ok(&u, "coap://[fe80::1%25]");
	ck_assert_str_eq(u.zone, "25");
}
END_TEST

START_TEST(uri_ipv6_literal_is_written_in_rfc5952_form)
{
	struct evudp6_uri u;
	parse_ok(&u, "coap://[2001:DB8:0:0:0::1]/");
	ck_assert_str_eq(u.host, "2001:db8::1");
	ck_assert(u.host_is_literal);
	ck_assert_str_eq(fmt(&u), "coap://[2001:db8::1]/");
	parse_ok(&u, "coap://[::FFFF:192.0.2.1]:5683");
	ck_assert_str_eq(u.host, "::ffff:192.0.2.1");
	ck_assert_str_eq(fmt(&u), "coap://[::ffff:192.0.2.1]/");
}
END_TEST

/* RFC 3986 7.4 / RFC 7252 6.4 step 5: only a plain dotted quad is an
 * IPv4address; anything else is a reg-name and gets a Uri-Host. */
START_TEST(uri_ipv4_literal_versus_reg_name)
{
	struct evudp6_uri u;
	parse_ok(&u, "coap://192.0.2.1:61616/x");
	ck_assert(u.host_is_literal);
	ck_assert_str_eq(u.host, "192.0.2.1");
	ck_assert_str_eq(fmt(&u), "coap://192.0.2.1:61616/x");
	parse_ok(&u, "coap://192.0.2.1.example/");
	ck_assert(!u.host_is_literal);
	parse_ok(&u, "coap://192.000.2.1/");
	ck_assert(!u.host_is_literal);
	parse_ok(&u, "coap://%31%39%32.000.2.1/");
	ck_assert(!u.host_is_literal);
	ck_assert_str_eq(u.host, "192.000.2.1");
	ck_assert_str_eq(fmt(&u), "coap://192.000.2.1/");
}
END_TEST

/* A message's options for u, decoded again into a URI. */
static void via_options(struct evudp6_uri *back, const struct evudp6_uri *u, const struct evudp6_addr *dest)
{
	static uint8_t wire[2048];
	static struct evudp6_msg m;
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 3);
	ck_assert_int_eq(evudp6_uri_add_options(u, &b, dest), 0);
	ssize_t len = evudp6_msg_encode(&b, wire, sizeof(wire));
	ck_assert_int_gt(len, 0);
	ck_assert_int_eq(evudp6_msg_decode(&m, wire, (size_t)len), 0);
	ck_assert_int_eq(evudp6_uri_from_msg(back, &m, dest), 0);
}

/* Digits and '.' are unreserved: "%31.2.3.4" is the host 1.2.3.4
 * (RFC 3986 6.2.2.2), a literal, so no Uri-Host (RFC 7252 6.4 step 5). */
START_TEST(uri_regname_decoding_to_ipv4_is_that_literal)
{
	struct evudp6_uri u, back;
	parse_ok(&u, "coap://%31.2.3.4/");
	ck_assert(u.host_is_literal);
	ck_assert_str_eq(u.host, "1.2.3.4");
	ck_assert_str_eq(fmt(&u), "coap://1.2.3.4/");
	parse_ok(&back, fmt(&u));
	ck_assert(back.host_is_literal);
	ck_assert_str_eq(back.host, "1.2.3.4");

	parse_ok(&u, "coap://%31%39%32.0.2.1:61616/x");
	ck_assert(u.host_is_literal);
	ck_assert_str_eq(u.host, "192.0.2.1");
	ck_assert_str_eq(fmt(&u), "coap://192.0.2.1:61616/x");

	/* No Uri-Host; the destination gives the host back. */
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 3);
	ck_assert_int_eq(evudp6_uri_add_options(&u, &b, NULL), 0);
	uint8_t wire[64];
	struct evudp6_msg m;
	ssize_t len = evudp6_msg_encode(&b, wire, sizeof(wire));
	ck_assert_int_gt(len, 0);
	ck_assert_int_eq(evudp6_msg_decode(&m, wire, (size_t)len), 0);
	struct evudp6_opt_iter it;
	struct evudp6_opt o;
	size_t nopts = 0;
	evudp6_opt_iter_init(&it, &m);
	while (evudp6_opt_iter_next(&it, &o) == 1) {
		ck_assert_uint_ne(o.number, EVUDP6_OPT_URI_HOST);
		nopts++;
	}
	ck_assert_uint_eq(nopts, 2); /* Uri-Port, Uri-Path */
	struct evudp6_addr dest;
	addr6(&dest, "::ffff:192.0.2.1", 5683, 0);
	via_options(&back, &u, &dest);
	ck_assert(back.host_is_literal);
	ck_assert_str_eq(fmt(&back), "coap://192.0.2.1:61616/x");
}
END_TEST

/* A name "::1" could only travel as a Uri-Host "::1", which is read as
 * the IPv6 literal: so is "%3A%3A1" in a URI. */
START_TEST(uri_regname_decoding_to_ipv6_is_that_literal)
{
	struct evudp6_uri u, back;
	parse_ok(&u, "coap://%3A%3A1/x");
	ck_assert(u.host_is_literal);
	ck_assert_str_eq(u.host, "::1");
	ck_assert_str_eq(u.zone, "");
	ck_assert_str_eq(fmt(&u), "coap://[::1]/x");
	struct evudp6_addr dest;
	addr6(&dest, "::1", 5683, 0);
	via_options(&back, &u, &dest);
	ck_assert(back.host_is_literal);
	ck_assert_str_eq(fmt(&back), "coap://[::1]/x");

	parse_ok(&u, "coap://fe80%3A%3A1%25eth0/");
	ck_assert(u.host_is_literal);
	ck_assert_str_eq(u.host, "fe80::1");
	ck_assert_str_eq(u.zone, "eth0");
	ck_assert_str_eq(fmt(&u), "coap://[fe80::1%25eth0]/");
	/* Not an address: a name, written back encoded. */
	parse_ok(&u, "coap://a%3Ab/");
	ck_assert(!u.host_is_literal);
	ck_assert_str_eq(u.host, "a:b");
	ck_assert_str_eq(fmt(&u), "coap://a%3Ab/");
}
END_TEST

/* Hosts are case-insensitive and "%41" is "A" (RFC 3986 3.2.2, 6.2.2):
 * a reg-name is lowercased after decoding, from a URI and from Uri-Host
 * alike, so what is written parses back to the same host. */
START_TEST(uri_host_is_lowercased_after_decoding)
{
	struct evudp6_uri u, back;
	parse_ok(&u, "coap://ex%41mple.org/");
	ck_assert(!u.host_is_literal);
	ck_assert_str_eq(u.host, "example.org");
	ck_assert_str_eq(fmt(&u), "coap://example.org/");
	parse_ok(&u, "coap://%41Bc.EXAMPLE/");
	ck_assert_str_eq(u.host, "abc.example");
	ck_assert_str_eq(fmt(&u), "coap://abc.example/");
	parse_ok(&back, fmt(&u));
	ck_assert_str_eq(back.host, "abc.example");
	/* Bytes that are no ASCII letters stay as they are. */
	parse_ok(&u, "coap://%C3%84%5A.example/");
	ck_assert_str_eq(u.host, "\xc3\x84z.example");
	ck_assert_str_eq(fmt(&u), "coap://%C3%84z.example/");

	/* Uri-Host "ExAmple.ORG" is the host example.org. */
	via_options(&back, &u, NULL);
	ck_assert_str_eq(back.host, "\xc3\x84z.example");
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 3);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_HOST, "ExAmple.ORG", 11);
	uint8_t wire[64];
	struct evudp6_msg m;
	ssize_t len = evudp6_msg_encode(&b, wire, sizeof(wire));
	ck_assert_int_gt(len, 0);
	ck_assert_int_eq(evudp6_msg_decode(&m, wire, (size_t)len), 0);
	ck_assert_int_eq(evudp6_uri_from_msg(&u, &m, NULL), 0);
	ck_assert(!u.host_is_literal);
	ck_assert_str_eq(u.host, "example.org");
	ck_assert_str_eq(fmt(&u), "coap://example.org/");
}
END_TEST

START_TEST(uri_host_characters_are_encoded_as_needed)
{
	struct evudp6_uri u;
	parse_ok(&u, "coap://a%20b.example/");
	ck_assert_str_eq(u.host, "a b.example");
	ck_assert_str_eq(fmt(&u), "coap://a%20b.example/");
	parse_ok(&u, "coap://!$&'()*+,;=.example/");
	ck_assert_str_eq(u.host, "!$&'()*+,;=.example");
	ck_assert_str_eq(fmt(&u), "coap://!$&'()*+,;=.example/");
}
END_TEST

START_TEST(uri_value_limits)
{
	char s[8192];
	struct evudp6_uri u;
	size_t n = (size_t)snprintf(s, sizeof(s), "coap://h");
	for (int i = 0; i < EVUDP6_URI_MAX_OPTS; i++)
		n += (size_t)snprintf(s + n, sizeof(s) - n, "/%d", i);
	parse_ok(&u, s);
	ck_assert_uint_eq(u.nparts, EVUDP6_URI_MAX_OPTS);
	snprintf(s + n, sizeof(s) - n, "?q");
	parse_err(s, -EVUDP6_E_URI_TOO_LONG);

	/* Decoded bytes count: 1024 fit, 1025 do not. */
	n = (size_t)snprintf(s, sizeof(s), "coap://h/");
	for (int i = 0; i < EVUDP6_URI_VALUES_MAX; i++)
		n += (size_t)snprintf(s + n, sizeof(s) - n, "%%41");
	parse_ok(&u, s);
	ck_assert_uint_eq(u.values_len, EVUDP6_URI_VALUES_MAX);
	snprintf(s + n, sizeof(s) - n, "b");
	parse_err(s, -EVUDP6_E_URI_TOO_LONG);
	/* ".." frees room again. */
	n = (size_t)snprintf(s, sizeof(s), "coap://h");
	for (int i = 0; i < 3 * EVUDP6_URI_MAX_OPTS; i++)
		n += (size_t)snprintf(s + n, sizeof(s) - n, "/%d/..", i);
	parse_ok(&u, s);
	ck_assert_uint_eq(u.nparts, 0);
	ck_assert_uint_eq(u.values_len, 0);
}
END_TEST

START_TEST(uri_percent_encoded_nul_is_data_in_values)
{
	struct evudp6_uri u;
	parse_ok(&u, "coap://h/a%00b");
	ck_assert_str_eq(parts(&u), "P:a\\0b");
	ck_assert_str_eq(fmt(&u), "coap://h/a%00b");
}
END_TEST

/* ------------------------------------------------------ URI to options */

/* Encode the builder, decode it, and list its options as text. */
static const char *encoded_opts(struct evudp6_msg_builder *b)
{
	static uint8_t wire[2048];
	static char buf[4096];
	struct evudp6_msg m;
	struct evudp6_opt_iter it;
	struct evudp6_opt o;
	size_t n = 0;

	ssize_t len = evudp6_msg_encode(b, wire, sizeof(wire));
	ck_assert_int_gt(len, 0);
	ck_assert_int_eq(evudp6_msg_decode(&m, wire, (size_t)len), 0);
	buf[0] = '\0';
	evudp6_opt_iter_init(&it, &m);
	while (evudp6_opt_iter_next(&it, &o) == 1) {
		if (o.number == EVUDP6_OPT_URI_PORT) {
			uint32_t v;
			ck_assert_int_eq(evudp6_opt_uint(&o, &v), 0);
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%u=%u", n ? "|" : "", o.number, v);
		} else {
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%u=%.*s", n ? "|" : "", o.number,
			                      (int)o.len, (const char *)o.value);
		}
	}
	return buf;
}

START_TEST(uri_to_options_literal_has_no_uri_host)
{
	struct evudp6_uri u;
	struct evudp6_msg_builder b;
	parse_ok(&u, "coap://[::1]:5684/a/b%2Fc?x=1&y");
	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 1);
	ck_assert_int_eq(evudp6_uri_add_options(&u, &b, NULL), 0);
	/* Destination unknown: 5684 is not the default, so Uri-Port. */
	ck_assert_str_eq(encoded_opts(&b), "7=5684|11=a|11=b/c|15=x=1|15=y");

	/* RFC 7252 6.4 step 7: no Uri-Port when it is the destination's. */
	struct evudp6_addr dest;
	addr6(&dest, "::1", 5684, 0);
	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 1);
	ck_assert_int_eq(evudp6_uri_add_options(&u, &b, &dest), 0);
	ck_assert_str_eq(encoded_opts(&b), "11=a|11=b/c|15=x=1|15=y");
}
END_TEST

START_TEST(uri_to_options_name_has_uri_host_and_port_when_needed)
{
	struct evudp6_uri u;
	struct evudp6_msg_builder b;
	struct evudp6_addr dest;

	parse_ok(&u, "coap://Example.COM/x");
	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 1);
	ck_assert_int_eq(evudp6_uri_add_options(&u, &b, NULL), 0);
	ck_assert_str_eq(encoded_opts(&b), "3=example.com|11=x");

	parse_ok(&u, "coap://example.com:5684");
	addr6(&dest, "2001:db8::1", 5683, 0);
	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 1);
	ck_assert_int_eq(evudp6_uri_add_options(&u, &b, &dest), 0);
	ck_assert_str_eq(encoded_opts(&b), "3=example.com|7=5684");
	addr6(&dest, "2001:db8::1", 5684, 0);
	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 1);
	ck_assert_int_eq(evudp6_uri_add_options(&u, &b, &dest), 0);
	ck_assert_str_eq(encoded_opts(&b), "3=example.com");

	/* Default port to a proxy on another port: Uri-Port 5683 says it. */
	parse_ok(&u, "coap://192.0.2.1/");
	addr6(&dest, "::ffff:192.0.2.1", 61616, 0);
	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 1);
	ck_assert_int_eq(evudp6_uri_add_options(&u, &b, &dest), 0);
	ck_assert_str_eq(encoded_opts(&b), "7=5683");
}
END_TEST

START_TEST(uri_to_options_reports_full_builder)
{
	struct evudp6_uri u;
	struct evudp6_msg_builder b;
	parse_ok(&u, "coap://h/a/b");
	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 1);
	for (int i = 0; i < EVUDP6_BUILDER_MAX_OPTS - 2; i++)
		ck_assert_int_eq(evudp6_msg_builder_add_opt(&b, 2000, "v", 1), 0);
	ck_assert_int_eq(evudp6_uri_add_options(&u, &b, NULL), -EVUDP6_E_MSG_TOO_MANY_OPTS);
}
END_TEST

/* ------------------------------------------------------ options to URI */

static void decode_built(struct evudp6_msg *m, struct evudp6_msg_builder *b, uint8_t *wire, size_t cap)
{
	ssize_t len = evudp6_msg_encode(b, wire, cap);
	ck_assert_int_gt(len, 0);
	ck_assert_int_eq(evudp6_msg_decode(m, wire, (size_t)len), 0);
}

/* RFC 7252 6.5 steps 6 and 8: what each part percent-encodes. */
START_TEST(uri_from_msg_encodes_per_rfc7252_6_5)
{
	struct evudp6_msg_builder b;
	struct evudp6_msg m;
	struct evudp6_uri u;
	uint8_t wire[512];

	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 7);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_HOST, "example.com", 11);
	evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_URI_PORT, 61616);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_PATH, "a b", 3);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_PATH, "\xc3\xa4", 2);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_PATH, "s/?#:@!$&'()*+,;=-._~%", 22);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_QUERY, "x&y", 3);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_QUERY, "k=v/w?z:@#", 10);
	decode_built(&m, &b, wire, sizeof(wire));
	ck_assert_int_eq(evudp6_uri_from_msg(&u, &m, NULL), 0);
	ck_assert_str_eq(fmt(&u), "coap://example.com:61616/a%20b/%C3%A4/s%2F%3F%23:@!$&'()*+,;=-._~%25"
	                          "?x%26y&k=v/w?z:@%23");
	/* And the text parses back to the same values. */
	struct evudp6_uri back;
	parse_ok(&back, fmt(&u));
	ck_assert_str_eq(parts(&back), parts(&u));
	ck_assert_str_eq(back.host, "example.com");
	ck_assert_uint_eq(back.port, 61616);
}
END_TEST

/* RFC 7252 6.5 steps 2-5: without Uri-Host/Uri-Port the destination
 * gives host and port. */
START_TEST(uri_from_msg_takes_host_and_port_from_destination)
{
	struct evudp6_msg_builder b;
	struct evudp6_msg m;
	struct evudp6_uri u;
	struct evudp6_addr dest;
	uint8_t wire[512];

	evudp6_msg_builder_init(&b, EVUDP6_NON, EVUDP6_GET, 7);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_PATH, "r", 1);
	decode_built(&m, &b, wire, sizeof(wire));

	addr6(&dest, "::ffff:192.0.2.1", 5683, 0);
	ck_assert_int_eq(evudp6_uri_from_msg(&u, &m, &dest), 0);
	ck_assert_str_eq(fmt(&u), "coap://192.0.2.1/r");
	addr6(&dest, "2001:db8::1", 5684, 0);
	ck_assert_int_eq(evudp6_uri_from_msg(&u, &m, &dest), 0);
	ck_assert_str_eq(fmt(&u), "coap://[2001:db8::1]:5684/r");

	char lo[IF_NAMESIZE];
	ck_assert_ptr_nonnull(if_indextoname(1, lo));
	char want[64];
	snprintf(want, sizeof(want), "coap://[fe80::1%%25%s]/r", lo);
	addr6(&dest, "fe80::1", 5683, 1);
	ck_assert_int_eq(evudp6_uri_from_msg(&u, &m, &dest), 0);
	ck_assert_str_eq(fmt(&u), want);
	/* An interface with no name is written as its number. */
	addr6(&dest, "fe80::1", 5683, 999999);
	ck_assert_int_eq(evudp6_uri_from_msg(&u, &m, &dest), 0);
	ck_assert_str_eq(fmt(&u), "coap://[fe80::1%25999999]/r");

	/* Uri-Port wins over the destination's port. */
	evudp6_msg_builder_init(&b, EVUDP6_NON, EVUDP6_GET, 7);
	evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_URI_PORT, 5683);
	decode_built(&m, &b, wire, sizeof(wire));
	addr6(&dest, "2001:db8::1", 5684, 0);
	ck_assert_int_eq(evudp6_uri_from_msg(&u, &m, &dest), 0);
	ck_assert_str_eq(fmt(&u), "coap://[2001:db8::1]/");
}
END_TEST

START_TEST(uri_from_msg_literal_uri_host)
{
	static const struct {
		const char *host, *uri;
	} t[] = {
	    {"[2001:db8::1]", "coap://[2001:db8::1]/"},     {"2001:DB8::1", "coap://[2001:db8::1]/"},
	    {"[fe80::1%eth0]", "coap://[fe80::1%25eth0]/"}, {"192.0.2.1", "coap://192.0.2.1/"},
	    {"Name.Example", "coap://name.example/"},       {"a b", "coap://a%20b/"},
	};
	struct evudp6_msg_builder b;
	struct evudp6_msg m;
	struct evudp6_uri u;
	uint8_t wire[512];
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		evudp6_msg_builder_init(&b, EVUDP6_NON, EVUDP6_GET, 7);
		evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_HOST, t[i].host, strlen(t[i].host));
		decode_built(&m, &b, wire, sizeof(wire));
		ck_assert_int_eq(evudp6_uri_from_msg(&u, &m, NULL), 0);
		ck_assert_str_eq(fmt(&u), t[i].uri);
	}
}
END_TEST

START_TEST(uri_from_msg_errors)
{
	struct evudp6_msg_builder b;
	struct evudp6_msg m;
	struct evudp6_uri u;
	uint8_t wire[2048];

	evudp6_msg_builder_init(&b, EVUDP6_NON, EVUDP6_GET, 7);
	decode_built(&m, &b, wire, sizeof(wire));
	ck_assert_int_eq(evudp6_uri_from_msg(&u, &m, NULL), -EVUDP6_E_HOST_EMPTY);

	evudp6_msg_builder_init(&b, EVUDP6_NON, EVUDP6_GET, 7);
	testutil_add_raw_opt(&b, EVUDP6_OPT_URI_HOST, "", 0);
	decode_built(&m, &b, wire, sizeof(wire));
	ck_assert_int_eq(evudp6_uri_from_msg(&u, &m, NULL), -EVUDP6_E_HOST_EMPTY);

	evudp6_msg_builder_init(&b, EVUDP6_NON, EVUDP6_GET, 7);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_HOST, "h", 1);
	testutil_add_raw_opt(&b, EVUDP6_OPT_URI_PORT, "\x01\x00\x00", 3);
	decode_built(&m, &b, wire, sizeof(wire));
	ck_assert_int_eq(evudp6_uri_from_msg(&u, &m, NULL), -EVUDP6_E_PORT);

	char big[300];
	memset(big, 'a', sizeof(big));
	evudp6_msg_builder_init(&b, EVUDP6_NON, EVUDP6_GET, 7);
	testutil_add_raw_opt(&b, EVUDP6_OPT_URI_HOST, big, 256);
	decode_built(&m, &b, wire, sizeof(wire));
	ck_assert_int_eq(evudp6_uri_from_msg(&u, &m, NULL), -EVUDP6_E_HOST_TOO_LONG);

	evudp6_msg_builder_init(&b, EVUDP6_NON, EVUDP6_GET, 7);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_HOST, "h", 1);
	for (int i = 0; i <= EVUDP6_URI_MAX_OPTS; i++)
		evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_PATH, "p", 1);
	decode_built(&m, &b, wire, sizeof(wire));
	ck_assert_int_eq(evudp6_uri_from_msg(&u, &m, NULL), -EVUDP6_E_URI_TOO_LONG);
}
END_TEST

/* The whole loop: text, options on the wire, and text again. */
START_TEST(uri_round_trip_through_a_message)
{
	static const char *const uris[] = {
	    "coap://[::1]:5684/a/b%2Fc?x=1&y",
	    "coap://example.com/~sensors/temp.xml",
	    "coap://example.com:61616/.well-known/core?rt=core.s&if=sensor",
	    "coap://192.0.2.1/a//b/?&",
	};
	for (size_t i = 0; i < sizeof(uris) / sizeof(uris[0]); i++) {
		struct evudp6_uri u, back;
		struct evudp6_msg_builder b;
		struct evudp6_msg m;
		struct evudp6_addr dest;
		uint8_t wire[1024];

		parse_ok(&u, uris[i]);
		addr6(&dest, u.host_is_literal && strchr(u.host, ':') ? u.host : "::ffff:192.0.2.1", u.port,
		      0);
		evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 9);
		ck_assert_int_eq(evudp6_uri_add_options(&u, &b, &dest), 0);
		decode_built(&m, &b, wire, sizeof(wire));
		ck_assert_int_eq(evudp6_uri_from_msg(&back, &m, &dest), 0);
		ck_assert_str_eq(fmt(&back), uris[i]);
	}
}
END_TEST

START_TEST(uri_format_reports_short_buffer)
{
	struct evudp6_uri u;
	char buf[64];
	parse_ok(&u, "coap://h/abc");
	ck_assert_int_eq(evudp6_uri_format(&u, buf, 13), 12);
	ck_assert_str_eq(buf, "coap://h/abc");
	ck_assert_int_eq(evudp6_uri_format(&u, buf, 12), -ENOSPC);
	ck_assert_str_eq(buf, "coap://h/ab");
	ck_assert_int_eq(evudp6_uri_format(&u, buf, 1), -ENOSPC);
	ck_assert_str_eq(buf, "");
	ck_assert_int_eq(evudp6_uri_format(&u, NULL, 0), -ENOSPC);
}
END_TEST

START_TEST(uri_option_index_past_end)
{
	struct evudp6_uri u;
	struct evudp6_opt o;
	parse_ok(&u, "coap://h/a?b");
	ck_assert_int_eq(evudp6_uri_option(&u, 0, &o), 1);
	ck_assert_uint_eq(o.number, EVUDP6_OPT_URI_PATH);
	ck_assert_int_eq(evudp6_uri_option(&u, 1, &o), 1);
	ck_assert_uint_eq(o.number, EVUDP6_OPT_URI_QUERY);
	ck_assert_uint_eq(o.len, 1);
	ck_assert_int_eq(o.value[0], 'b');
	ck_assert_int_eq(evudp6_uri_option(&u, 2, &o), 0);
}
END_TEST

static Suite *uri_suite(void)
{
	Suite *s = suite_create("uri");
	TCase *tc = tcase_create("parse");
	tcase_add_test(tc, uri_parse_bracketed_port_path_query_and_back);
	tcase_add_test(tc, uri_rfc7252_6_3_equivalent_uris_parse_alike);
	tcase_add_test(tc, uri_empty_path_and_slash_have_no_uri_path);
	tcase_add_test(tc, uri_scheme_matches_any_case);
	tcase_add_test(tc, uri_empty_segments_are_kept);
	tcase_add_test(tc, uri_query_arguments_split_on_ampersand_only);
	tcase_add_test(tc, uri_dot_segments_are_removed);
	tcase_add_test(tc, uri_other_schemes_are_not_mine);
	tcase_add_test(tc, uri_fragment_is_refused);
	tcase_add_test(tc, uri_relative_references_are_refused);
	tcase_add_test(tc, uri_bad_percent_encoding_is_invalid);
	tcase_add_test(tc, uri_characters_outside_rfc3986_are_invalid);
	tcase_add_test(tc, uri_bad_hosts_each_have_their_code);
	tcase_add_test(tc, uri_zone_in_both_spellings);
	tcase_add_test(tc, uri_ipv6_literal_is_written_in_rfc5952_form);
	tcase_add_test(tc, uri_ipv4_literal_versus_reg_name);
	tcase_add_test(tc, uri_regname_decoding_to_ipv4_is_that_literal);
	tcase_add_test(tc, uri_regname_decoding_to_ipv6_is_that_literal);
	tcase_add_test(tc, uri_host_is_lowercased_after_decoding);
	tcase_add_test(tc, uri_host_characters_are_encoded_as_needed);
	tcase_add_test(tc, uri_path_values_dot_and_dotdot_are_written_encoded);
	tcase_add_test(tc, uri_value_limits);
	tcase_add_test(tc, uri_percent_encoded_nul_is_data_in_values);
	tcase_add_test(tc, uri_option_index_past_end);
	suite_add_tcase(s, tc);

	tc = tcase_create("options");
	tcase_add_test(tc, uri_to_options_literal_has_no_uri_host);
	tcase_add_test(tc, uri_to_options_name_has_uri_host_and_port_when_needed);
	tcase_add_test(tc, uri_to_options_reports_full_builder);
	tcase_add_test(tc, uri_from_msg_encodes_per_rfc7252_6_5);
	tcase_add_test(tc, uri_from_msg_takes_host_and_port_from_destination);
	tcase_add_test(tc, uri_from_msg_literal_uri_host);
	tcase_add_test(tc, uri_from_msg_errors);
	tcase_add_test(tc, uri_round_trip_through_a_message);
	tcase_add_test(tc, uri_format_reports_short_buffer);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(uri_suite());
}
