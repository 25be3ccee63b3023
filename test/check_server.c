/*
 * Resources: a server on a messenger on [::1], asked by a plain UDP
 * socket with hand-built requests, so every answer is checked as it
 * leaves on the wire (code, options, payload).
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <event2/event.h>

#include <evudp6.h>

#include "testnet.h"
#include "testutil.h"

static struct event_base *base;
static struct evudp6_messenger *msgr;
static struct evudp6_server *srv;
static uint16_t port;
static int cfd;
static uint16_t next_mid = 0x100;

/* what the handlers saw */
static int calls, calls_put;
static struct evudp6_resource *last_res;
static char rest[8][64];
static size_t nrest;

static void setup(void)
{
	base = event_base_new();
	struct evudp6_transport_config t = {.size = sizeof(t), .bind = "[::1]:0"};
	struct evudp6_messenger_config c;
	evudp6_messenger_config_init(&c, sizeof(c));
	c.empty_ack_delay_ms = 50;
	c.ack_timeout_ms = 100;
	ck_assert_int_eq(evudp6_messenger_new(&msgr, base, &t, &c), 0);
	ck_assert_int_eq(evudp6_server_new(&srv, msgr), 0);
	ck_assert_int_eq(evudp6_messenger_start(msgr), 0);
	port = evudp6_transport_port(evudp6_messenger_transport(msgr));
	cfd = testnet_socket(AF_INET6, "::1");
	calls = calls_put = 0;
	last_res = NULL;
	nrest = 0;
}

static void teardown(void)
{
	evudp6_server_free(srv);
	evudp6_messenger_free(msgr);
	event_base_loop(base, EVLOOP_NONBLOCK);
	event_base_free(base);
	close(cfd);
}

/* A request under construction: CON, a 2-byte token, the next id. */
static void req_init(struct evudp6_msg_builder *b, uint8_t code, const char *path)
{
	evudp6_msg_builder_init(b, EVUDP6_CON, code, next_mid++);
	evudp6_msg_builder_set_token(b, "tk", 2);
	/* "/a/b" as Uri-Path options pointing into the caller's string */
	for (const char *p = path; p && *p == '/' && p[1];) {
		const char *s = p + 1, *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		ck_assert_int_eq(evudp6_msg_builder_add_opt(b, EVUDP6_OPT_URI_PATH, s, n), 0);
		p = s + n;
	}
}

static uint8_t wire[2048];

/* Send the request and run the loop until its answer (the first non-empty
 * message, skipping an empty ACK) is on the client socket. */
/* Run the loop until a datagram is on the client socket: the first one
 * (@p empty_too) or the first that is not an empty ACK. */
static void wait_answer(struct evudp6_msg *rsp, bool empty_too)
{
	for (int i = 0; i < 2000; i++) {
		ssize_t got = recv(cfd, wire, sizeof(wire), MSG_DONTWAIT);
		if (got > 0) {
			ck_assert_int_eq(evudp6_msg_decode(rsp, wire, (size_t)got), 0);
			if (empty_too || rsp->code != EVUDP6_EMPTY)
				return;
			continue;
		}
		struct timeval tv = {0, 1000};
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	ck_abort_msg("no answer");
}

static void send_req(struct evudp6_msg_builder *b)
{
	uint8_t out[2048];
	ssize_t n = evudp6_msg_encode(b, out, sizeof(out));
	ck_assert_int_gt(n, 0);
	testnet_send(cfd, "::1", port, out, (size_t)n);
}

/* Send the request and wait for its answer. */
static void ask_until(struct evudp6_msg_builder *b, struct evudp6_msg *rsp, bool empty_too)
{
	send_req(b);
	wait_answer(rsp, empty_too);
}

static void ask(struct evudp6_msg_builder *b, struct evudp6_msg *rsp)
{
	ask_until(b, rsp, false);
}

/* Nothing arrives within @ms (beyond empty ACKs). */
static void expect_silence(int ms)
{
	for (int i = 0; i < ms; i++) {
		struct evudp6_msg m;
		ssize_t got = recv(cfd, wire, sizeof(wire), MSG_DONTWAIT);
		if (got > 0) {
			ck_assert_int_eq(evudp6_msg_decode(&m, wire, (size_t)got), 0);
			ck_assert_uint_eq(m.code, EVUDP6_EMPTY);
		}
		struct timeval tv = {0, 1000};
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
}

static uint8_t ask_code(struct evudp6_msg_builder *b)
{
	struct evudp6_msg m;
	ask(b, &m);
	return m.code;
}

static uint8_t get_code(const char *path)
{
	struct evudp6_msg_builder b;
	req_init(&b, EVUDP6_GET, path);
	return ask_code(&b);
}

static void assert_payload(const struct evudp6_msg *m, const char *want)
{
	ck_assert_uint_eq(m->payload_len, strlen(want));
	if (m->payload_len)
		ck_assert_mem_eq(m->payload, want, m->payload_len);
}

static int cf_of(const struct evudp6_msg *m)
{
	struct evudp6_opt o;
	uint32_t v;
	if (evudp6_msg_find_opt(m, EVUDP6_OPT_CONTENT_FORMAT, &o) && evudp6_opt_uint(&o, &v) == 0)
		return (int)v;
	return -1;
}

/* ------------------------------------------------------------ handlers */

static void hello_cb(struct evudp6_resource *res, struct evudp6_response *rsp, const struct evudp6_msg *req,
                     const struct evudp6_addr *remote, void *arg)
{
	(void)req, (void)remote;
	calls++;
	last_res = res;
	evudp6_response_set_content_format(rsp, EVUDP6_CF_TEXT_PLAIN);
	evudp6_response_printf(rsp, "%s", (const char *)arg);
	nrest = 0;
	struct evudp6_opt seg;
	while (nrest < 8 && evudp6_response_path_rest(rsp, nrest, &seg)) {
		snprintf(rest[nrest], sizeof(rest[0]), "%.*s", (int)seg.len, (const char *)seg.value);
		nrest++;
	}
}

static void put_cb(struct evudp6_resource *res, struct evudp6_response *rsp, const struct evudp6_msg *req,
                   const struct evudp6_addr *remote, void *arg)
{
	(void)res, (void)req, (void)remote, (void)arg;
	calls_put++;
	const uint8_t *body;
	size_t n = evudp6_response_request_body(rsp, &body);
	evudp6_response_append(rsp, "got ", 4);
	evudp6_response_append(rsp, body, n);
}

/* ------------------------------------------------------------ routing */

START_TEST(server_routes_exact_paths_to_their_handlers)
{
	struct evudp6_resource *h, *ab, *root;
	ck_assert_int_eq(evudp6_server_add(srv, "/hello", EVUDP6_METHOD_GET, hello_cb, "hi", &h), 0);
	ck_assert_int_eq(evudp6_server_add(srv, "/a/b", EVUDP6_METHOD_GET, hello_cb, "ab", &ab), 0);
	ck_assert_int_eq(evudp6_server_add(srv, "/", EVUDP6_METHOD_GET, hello_cb, "root", &root), 0);
	struct evudp6_msg_builder b;
	struct evudp6_msg m;

	req_init(&b, EVUDP6_GET, "/hello");
	ask(&b, &m);
	ck_assert_uint_eq(m.code, EVUDP6_CONTENT);
	ck_assert_uint_eq(m.type, EVUDP6_ACK);
	ck_assert_int_eq(cf_of(&m), 0);
	assert_payload(&m, "hi");
	ck_assert_ptr_eq(last_res, h);

	req_init(&b, EVUDP6_GET, "/a/b");
	ask(&b, &m);
	assert_payload(&m, "ab");
	ck_assert_ptr_eq(last_res, ab);

	req_init(&b, EVUDP6_GET, NULL);
	ask(&b, &m);
	assert_payload(&m, "root");
	ck_assert_ptr_eq(last_res, root);
	ck_assert_int_eq(calls, 3);
	ck_assert_str_eq(evudp6_resource_path(ab), "/a/b");
	ck_assert_ptr_eq(evudp6_server_find(srv, "/a/b"), ab);
	ck_assert_ptr_null(evudp6_server_find(srv, "/a"));
}
END_TEST

START_TEST(server_answers_4_04_for_an_unknown_path)
{
	ck_assert_int_eq(evudp6_server_add(srv, "/hello", EVUDP6_METHOD_GET, hello_cb, "hi", NULL), 0);
	ck_assert_uint_eq(get_code("/nosuch"), EVUDP6_NOT_FOUND);
	ck_assert_uint_eq(get_code("/hello/more"), EVUDP6_NOT_FOUND);
	ck_assert_uint_eq(get_code("/hell"), EVUDP6_NOT_FOUND);
	ck_assert_uint_eq(get_code(NULL), EVUDP6_NOT_FOUND);
	/* a trailing slash is an empty segment: another path */
	struct evudp6_msg_builder b;
	req_init(&b, EVUDP6_GET, "/hello");
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_PATH, "", 0);
	ck_assert_uint_eq(ask_code(&b), EVUDP6_NOT_FOUND);
	ck_assert_int_eq(calls, 0);
}
END_TEST

START_TEST(server_prefix_resource_gets_the_rest_of_the_path)
{
	struct evudp6_resource *files, *deep, *special;
	ck_assert_int_eq(evudp6_server_add(srv, "/files/*", EVUDP6_METHOD_GET, hello_cb, "files", &files), 0);
	ck_assert_int_eq(evudp6_server_add(srv, "/files/deep/*", EVUDP6_METHOD_GET, hello_cb, "deep", &deep),
	                 0);
	ck_assert_int_eq(
	    evudp6_server_add(srv, "/files/special", EVUDP6_METHOD_GET, hello_cb, "sp", &special), 0);
	struct evudp6_msg m;
	struct evudp6_msg_builder b;

	req_init(&b, EVUDP6_GET, "/files/x/y");
	ask(&b, &m);
	assert_payload(&m, "files");
	ck_assert_ptr_eq(last_res, files);
	ck_assert_uint_eq(nrest, 2);
	ck_assert_str_eq(rest[0], "x");
	ck_assert_str_eq(rest[1], "y");

	req_init(&b, EVUDP6_GET, "/files");
	ask(&b, &m);
	ck_assert_ptr_eq(last_res, files);
	ck_assert_uint_eq(nrest, 0);

	req_init(&b, EVUDP6_GET, "/files/deep/z");
	ask(&b, &m);
	assert_payload(&m, "deep");
	ck_assert_uint_eq(nrest, 1);
	ck_assert_str_eq(rest[0], "z");

	req_init(&b, EVUDP6_GET, "/files/special");
	ask(&b, &m);
	assert_payload(&m, "sp");
	ck_assert_uint_eq(nrest, 0);

	/* deeper than a resource path may be: the prefix still takes it */
	req_init(&b, EVUDP6_GET, "/files/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17/18");
	ask(&b, &m);
	ck_assert_ptr_eq(last_res, files);
	ck_assert_uint_eq(nrest, 8);
	ck_assert_str_eq(rest[7], "8");

	ck_assert_uint_eq(get_code("/file"), EVUDP6_NOT_FOUND);
	ck_assert_ptr_eq(evudp6_server_find(srv, "/files/*"), files);
}
END_TEST

START_TEST(server_answers_4_05_for_a_method_not_allowed)
{
	struct evudp6_resource *r;
	ck_assert_int_eq(evudp6_server_add(srv, "/ro", EVUDP6_METHOD_GET, hello_cb, "ro", &r), 0);
	struct evudp6_msg_builder b;
	static const uint8_t methods[] = {
	    EVUDP6_POST, EVUDP6_PUT, EVUDP6_DELETE, EVUDP6_FETCH, EVUDP6_PATCH, EVUDP6_IPATCH, 8, 31};
	for (size_t i = 0; i < sizeof(methods); i++) {
		req_init(&b, methods[i], "/ro");
		ck_assert_uint_eq(ask_code(&b), EVUDP6_METHOD_NOT_ALLOWED);
	}
	ck_assert_int_eq(calls, 0);
	/* /.well-known/core is GET only too */
	req_init(&b, EVUDP6_POST, "/.well-known/core");
	ck_assert_uint_eq(ask_code(&b), EVUDP6_METHOD_NOT_ALLOWED);
}
END_TEST

START_TEST(server_calls_the_handler_of_each_method)
{
	struct evudp6_resource *r;
	ck_assert_int_eq(
	    evudp6_server_add(srv, "/rw", EVUDP6_METHOD_GET | EVUDP6_METHOD_DELETE, hello_cb, "rw", &r), 0);
	ck_assert_int_eq(evudp6_resource_set_method_cb(r, EVUDP6_PUT, put_cb, NULL), 0);
	struct evudp6_msg_builder b;
	struct evudp6_msg m;

	req_init(&b, EVUDP6_PUT, "/rw");
	evudp6_msg_builder_set_payload(&b, "data", 4);
	ask(&b, &m);
	ck_assert_uint_eq(m.code, EVUDP6_CHANGED);
	assert_payload(&m, "got data");
	ck_assert_int_eq(calls_put, 1);
	ck_assert_int_eq(calls, 0);

	req_init(&b, EVUDP6_DELETE, "/rw");
	ask(&b, &m);
	ck_assert_uint_eq(m.code, EVUDP6_DELETED);
	ck_assert_int_eq(calls, 1);

	ck_assert_int_eq(evudp6_resource_set_method_cb(r, EVUDP6_DELETE, NULL, NULL), 0);
	req_init(&b, EVUDP6_DELETE, "/rw");
	ck_assert_uint_eq(ask_code(&b), EVUDP6_METHOD_NOT_ALLOWED);
	ck_assert_int_eq(evudp6_resource_set_method_cb(r, 0, put_cb, NULL), -EINVAL);
	ck_assert_int_eq(evudp6_resource_set_method_cb(r, 8, put_cb, NULL), -EINVAL);
}
END_TEST

/* ------------------------------------------------------- option checks */

START_TEST(server_answers_4_02_for_an_unrecognised_critical_option)
{
	struct evudp6_resource *r;
	ck_assert_int_eq(evudp6_server_add(srv, "/hello", EVUDP6_METHOD_GET, hello_cb, "hi", &r), 0);
	struct evudp6_msg_builder b;
	struct evudp6_msg m;

	/* 9 (OSCORE) and 2049 are critical and unknown to the library */
	req_init(&b, EVUDP6_GET, "/hello");
	evudp6_msg_builder_add_opt(&b, 9, "", 0);
	ask(&b, &m);
	ck_assert_uint_eq(m.code, EVUDP6_BAD_OPTION);
	assert_payload(&m, "option 9 not understood");
	req_init(&b, EVUDP6_GET, "/nosuch");
	evudp6_msg_builder_add_opt(&b, 2049, "x", 1);
	ck_assert_uint_eq(ask_code(&b), EVUDP6_BAD_OPTION);
	ck_assert_int_eq(calls, 0);

	/* elective unknown options are ignored */
	req_init(&b, EVUDP6_GET, "/hello");
	evudp6_msg_builder_add_opt(&b, 2048, "x", 1);
	ck_assert_uint_eq(ask_code(&b), EVUDP6_CONTENT);
	ck_assert_int_eq(calls, 1);

	/* a resource may take a critical option itself */
	ck_assert_int_eq(evudp6_resource_allow_option(r, 2049), 0);
	ck_assert_int_eq(evudp6_resource_allow_option(r, 2048), -EINVAL);
	req_init(&b, EVUDP6_GET, "/hello");
	evudp6_msg_builder_add_opt(&b, 2049, "x", 1);
	ck_assert_uint_eq(ask_code(&b), EVUDP6_CONTENT);
	ck_assert_int_eq(calls, 2);
}
END_TEST

START_TEST(server_answers_4_02_for_an_option_length_outside_its_range)
{
	ck_assert_int_eq(evudp6_server_add(srv, "/hello", EVUDP6_METHOD_GET, hello_cb, "hi", NULL), 0);
	static char big[300];
	memset(big, 'a', sizeof(big));
	struct evudp6_msg_builder b;
	struct evudp6_msg m;

	/* Uri-Path of 256 bytes (RFC 7252 5.10: 0-255) */
	req_init(&b, EVUDP6_GET, NULL);
	testutil_add_raw_opt(&b, EVUDP6_OPT_URI_PATH, big, 256);
	ask(&b, &m);
	ck_assert_uint_eq(m.code, EVUDP6_BAD_OPTION);
	assert_payload(&m, "Uri-Path value of 256 bytes is outside 0-255");
	/* 255 is fine: no such resource */
	req_init(&b, EVUDP6_GET, NULL);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_PATH, big, 255);
	ck_assert_uint_eq(ask_code(&b), EVUDP6_NOT_FOUND);
	/* Uri-Query of 300, an empty Uri-Host, a 3-byte Accept */
	req_init(&b, EVUDP6_GET, "/hello");
	testutil_add_raw_opt(&b, EVUDP6_OPT_URI_QUERY, big, 300);
	ck_assert_uint_eq(ask_code(&b), EVUDP6_BAD_OPTION);
	req_init(&b, EVUDP6_GET, "/hello");
	testutil_add_raw_opt(&b, EVUDP6_OPT_URI_HOST, "", 0);
	ck_assert_uint_eq(ask_code(&b), EVUDP6_BAD_OPTION);
	req_init(&b, EVUDP6_GET, "/hello");
	testutil_add_raw_opt(&b, EVUDP6_OPT_ACCEPT, "\x01\x02\x03", 3);
	ck_assert_uint_eq(ask_code(&b), EVUDP6_BAD_OPTION);
	ck_assert_int_eq(calls, 0);
	/* an elective one out of range is ignored (RFC 7252 5.4.3): a 3-byte
	 * Content-Format and a 5-byte Max-Age do not stop the request */
	req_init(&b, EVUDP6_GET, "/hello");
	testutil_add_raw_opt(&b, EVUDP6_OPT_CONTENT_FORMAT, "\x01\x02\x03", 3);
	testutil_add_raw_opt(&b, EVUDP6_OPT_MAX_AGE, "\x01\x02\x03\x04\x05", 5);
	ck_assert_uint_eq(ask_code(&b), EVUDP6_CONTENT);
	ck_assert_int_eq(calls, 1);
}
END_TEST

START_TEST(server_answers_5_05_for_a_proxy_request)
{
	struct evudp6_msg_builder b;
	req_init(&b, EVUDP6_GET, NULL);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_PROXY_URI, "coap://h/", 9);
	ck_assert_uint_eq(ask_code(&b), EVUDP6_PROXYING_NOT_SUPPORTED);
	req_init(&b, EVUDP6_GET, NULL);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_PROXY_SCHEME, "coap", 4);
	ck_assert_uint_eq(ask_code(&b), EVUDP6_PROXYING_NOT_SUPPORTED);
}
END_TEST

START_TEST(server_answers_4_15_for_a_content_format_not_accepted)
{
	struct evudp6_resource *r, *any;
	ck_assert_int_eq(evudp6_server_add(srv, "/in", EVUDP6_METHOD_PUT, put_cb, NULL, &r), 0);
	ck_assert_int_eq(evudp6_server_add(srv, "/any", EVUDP6_METHOD_PUT, put_cb, NULL, &any), 0);
	ck_assert_int_eq(evudp6_resource_accept(r, EVUDP6_CF_JSON), 0);
	ck_assert_int_eq(evudp6_resource_accept(r, EVUDP6_CF_CBOR), 0);
	ck_assert_int_eq(evudp6_resource_accept(r, 65536), -EINVAL);
	struct evudp6_msg_builder b;

	req_init(&b, EVUDP6_PUT, "/in");
	evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_CONTENT_FORMAT, EVUDP6_CF_TEXT_PLAIN);
	evudp6_msg_builder_set_payload(&b, "x", 1);
	ck_assert_uint_eq(ask_code(&b), EVUDP6_UNSUPPORTED_CONTENT_FORMAT);
	ck_assert_int_eq(calls_put, 0);
	req_init(&b, EVUDP6_PUT, "/in");
	evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_CONTENT_FORMAT, EVUDP6_CF_CBOR);
	evudp6_msg_builder_set_payload(&b, "x", 1);
	ck_assert_uint_eq(ask_code(&b), EVUDP6_CHANGED);
	/* no Content-Format at all is left to the handler */
	req_init(&b, EVUDP6_PUT, "/in");
	ck_assert_uint_eq(ask_code(&b), EVUDP6_CHANGED);
	/* a resource that declares none takes every one */
	req_init(&b, EVUDP6_PUT, "/any");
	evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_CONTENT_FORMAT, 11542);
	ck_assert_uint_eq(ask_code(&b), EVUDP6_CHANGED);
	ck_assert_int_eq(calls_put, 3);
}
END_TEST

START_TEST(server_answers_4_06_for_an_accept_it_cannot_serve)
{
	struct evudp6_resource *r;
	ck_assert_int_eq(evudp6_server_add(srv, "/t", EVUDP6_METHOD_GET, hello_cb, "t", &r), 0);
	struct evudp6_msg_builder b;
	/* nothing declared: Accept is the handler's business */
	req_init(&b, EVUDP6_GET, "/t");
	evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_ACCEPT, EVUDP6_CF_CBOR);
	ck_assert_uint_eq(ask_code(&b), EVUDP6_CONTENT);
	ck_assert_int_eq(evudp6_resource_add_content_format(r, EVUDP6_CF_TEXT_PLAIN), 0);
	req_init(&b, EVUDP6_GET, "/t");
	evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_ACCEPT, EVUDP6_CF_CBOR);
	ck_assert_uint_eq(ask_code(&b), EVUDP6_NOT_ACCEPTABLE);
	req_init(&b, EVUDP6_GET, "/t");
	evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_ACCEPT, EVUDP6_CF_TEXT_PLAIN);
	ck_assert_uint_eq(ask_code(&b), EVUDP6_CONTENT);
	req_init(&b, EVUDP6_GET, "/.well-known/core");
	evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_ACCEPT, EVUDP6_CF_JSON);
	ck_assert_uint_eq(ask_code(&b), EVUDP6_NOT_ACCEPTABLE);
	ck_assert_int_eq(calls, 2);
}
END_TEST

/* ------------------------------------------------------ well-known/core */

static void add_catalogue(void)
{
	struct evudp6_resource *r;
	ck_assert_int_eq(evudp6_server_add(srv, "/sensors/temp", EVUDP6_METHOD_GET, hello_cb, "21", &r), 0);
	ck_assert_int_eq(evudp6_resource_set_attr(r, "rt", "temperature-c core.s"), 0);
	ck_assert_int_eq(evudp6_resource_set_attr(r, "if", "sensor"), 0);
	ck_assert_int_eq(evudp6_resource_add_content_format(r, EVUDP6_CF_TEXT_PLAIN), 0);
	ck_assert_int_eq(evudp6_resource_add_content_format(r, EVUDP6_CF_SENML_JSON), 0);
	evudp6_resource_set_flags(r, EVUDP6_RESOURCE_OBSERVABLE);
	ck_assert_int_eq(evudp6_server_add(srv, "/sensors/light", EVUDP6_METHOD_GET, hello_cb, "9", &r), 0);
	ck_assert_int_eq(evudp6_resource_set_attr(r, "rt", "light-lux core.s"), 0);
	ck_assert_int_eq(evudp6_resource_set_attr(r, "title", "Light \"lux\""), 0);
	ck_assert_int_eq(evudp6_resource_set_attr(r, "sz", "1280"), 0);
	ck_assert_int_eq(evudp6_server_add(srv, "/files/*", EVUDP6_METHOD_GET, hello_cb, "f", &r), 0);
	ck_assert_int_eq(evudp6_resource_set_attr(r, "rt", "files"), 0);
	ck_assert_int_eq(evudp6_server_add(srv, "/secret", EVUDP6_METHOD_GET, hello_cb, "s", &r), 0);
	evudp6_resource_set_flags(r, EVUDP6_RESOURCE_HIDDEN);
}

static void core_query(const char *q1, const char *q2, struct evudp6_msg *m)
{
	struct evudp6_msg_builder b;
	req_init(&b, EVUDP6_GET, "/.well-known/core");
	if (q1)
		evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_QUERY, q1, strlen(q1));
	if (q2)
		evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_QUERY, q2, strlen(q2));
	ask(&b, m);
	ck_assert_uint_eq(m->code, EVUDP6_CONTENT);
	ck_assert_int_eq(cf_of(m), EVUDP6_CF_LINK_FORMAT);
}

#define TEMP  "</sensors/temp>;rt=\"temperature-c core.s\";if=\"sensor\";ct=\"0 110\";obs"
#define LIGHT "</sensors/light>;rt=\"light-lux core.s\";title=\"Light \\\"lux\\\"\";sz=1280"
#define FILES "</files>;rt=\"files\""

START_TEST(server_well_known_core_lists_resources_in_link_format)
{
	struct evudp6_msg m;
	core_query(NULL, NULL, &m);
	ck_assert_int_eq(m.payload_len, 0);
	add_catalogue();
	core_query(NULL, NULL, &m);
	assert_payload(&m, TEMP "," LIGHT "," FILES);
	/* attributes can change and go */
	struct evudp6_resource *l = evudp6_server_find(srv, "/sensors/light");
	ck_assert_int_eq(evudp6_resource_set_attr(l, "title", NULL), 0);
	ck_assert_int_eq(evudp6_resource_set_attr(l, "sz", "2"), 0);
	core_query("href=/sensors/light", NULL, &m);
	assert_payload(&m, "</sensors/light>;rt=\"light-lux core.s\";sz=2");
	ck_assert_int_eq(evudp6_resource_set_attr(l, "ct", "0"), -EINVAL);
	ck_assert_int_eq(evudp6_resource_set_attr(l, "obs", NULL), -EINVAL);
	ck_assert_int_eq(evudp6_resource_set_attr(l, "", "x"), -EINVAL);
	ck_assert_int_eq(evudp6_resource_set_attr(l, "a;b", "x"), -EINVAL);
	ck_assert_int_eq(evudp6_resource_set_attr(l, "x", "line\nbreak"), -EINVAL);
	/* attributes keep the order they were first set in, ct included */
	struct evudp6_resource *o;
	ck_assert_int_eq(evudp6_server_add(srv, "/order", EVUDP6_METHOD_GET, hello_cb, "o", &o), 0);
	ck_assert_int_eq(evudp6_resource_set_attr(o, "rt", "r"), 0);
	ck_assert_int_eq(evudp6_resource_add_content_format(o, 0), 0);
	ck_assert_int_eq(evudp6_resource_set_attr(o, "title", "t"), 0);
	ck_assert_int_eq(evudp6_resource_add_content_format(o, 50), 0);
	ck_assert_int_eq(evudp6_resource_set_attr(o, "rt", "r2"), 0);
	core_query("href=/order", NULL, &m);
	assert_payload(&m, "</order>;rt=\"r2\";ct=\"0 50\";title=\"t\"");
	ck_assert_int_eq(evudp6_resource_set_attr(o, "rt", NULL), 0);
	evudp6_resource_set_flags(o, EVUDP6_RESOURCE_OBSERVABLE);
	core_query("href=/order", NULL, &m);
	assert_payload(&m, "</order>;ct=\"0 50\";title=\"t\";obs");
	ck_assert_int_eq(evudp6_resource_set_attr(o, "title", NULL), 0);
	core_query("href=/order", NULL, &m);
	assert_payload(&m, "</order>;ct=\"0 50\";obs");
	/* obs set before any attribute comes first */
	struct evudp6_resource *t;
	ck_assert_int_eq(evudp6_server_add(srv, "/tick", EVUDP6_METHOD_GET, hello_cb, "t", &t), 0);
	evudp6_resource_set_flags(t, EVUDP6_RESOURCE_OBSERVABLE);
	ck_assert_int_eq(evudp6_resource_set_attr(t, "rt", "tick"), 0);
	ck_assert_int_eq(evudp6_resource_add_content_format(t, 0), 0);
	core_query("href=/tick", NULL, &m);
	assert_payload(&m, "</tick>;obs;rt=\"tick\";ct=0");
	/* the built-in resource cannot go */
	ck_assert_int_eq(evudp6_resource_remove(evudp6_server_find(srv, "/.well-known/core")), -EPERM);
}
END_TEST

START_TEST(server_well_known_core_filters_by_query)
{
	add_catalogue();
	struct evudp6_msg m;
	core_query("rt=core.s", NULL, &m);
	assert_payload(&m, TEMP "," LIGHT);
	core_query("rt=light*", NULL, &m);
	assert_payload(&m, LIGHT);
	core_query("href=/sensors/*", NULL, &m);
	assert_payload(&m, TEMP "," LIGHT);
	core_query("href=/files", NULL, &m);
	assert_payload(&m, FILES);
	core_query("ct=110", NULL, &m);
	assert_payload(&m, TEMP);
	core_query("obs", NULL, &m);
	assert_payload(&m, TEMP);
	core_query("if=sensor", NULL, &m);
	assert_payload(&m, TEMP);
	/* two filters: both must pass */
	core_query("rt=core.s", "sz=1280", &m);
	assert_payload(&m, LIGHT);
	/* nothing matches: an empty list to a unicast request */
	core_query("rt=nothing", NULL, &m);
	ck_assert_int_eq(m.payload_len, 0);
	/* hidden resources are served, not listed */
	core_query("href=/secret", NULL, &m);
	ck_assert_int_eq(m.payload_len, 0);
	ck_assert_uint_eq(get_code("/secret"), EVUDP6_CONTENT);
}
END_TEST

static void many_cb(struct evudp6_resource *res, struct evudp6_response *rsp, const struct evudp6_msg *req,
                    const struct evudp6_addr *remote, void *arg)
{
	(void)res, (void)rsp, (void)req, (void)remote, (void)arg;
}

/* GET /.well-known/core (with a filter, or none) is refused: 5.00 with @p diag. */
static void core_refused(const char *query, const char *diag)
{
	struct evudp6_msg_builder b;
	struct evudp6_msg m;
	req_init(&b, EVUDP6_GET, "/.well-known/core");
	if (query)
		evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_QUERY, query, strlen(query));
	ask(&b, &m);
	ck_assert_uint_eq(m.code, EVUDP6_INTERNAL_SERVER_ERROR);
	assert_payload(&m, diag);
}

START_TEST(server_well_known_core_too_large_for_one_message_is_an_error)
{
	char path[64];
	for (int i = 0; i < 60; i++) {
		snprintf(path, sizeof(path), "/resource-with-a-long-name-%02d", i);
		ck_assert_int_eq(evudp6_server_add(srv, path, EVUDP6_METHOD_GET, many_cb, NULL, NULL), 0);
	}
	core_refused(NULL, "links do not fit in 1024 bytes: a longer list needs a block server");
	struct evudp6_msg m;
	/* a filter that selects few still works */
	core_query("href=/resource-with-a-long-name-07", NULL, &m);
	assert_payload(&m, "</resource-with-a-long-name-07>");
}
END_TEST

/* ------------------------------------------------------------ response */

static void full_cb(struct evudp6_resource *res, struct evudp6_response *rsp, const struct evudp6_msg *req,
                    const struct evudp6_addr *remote, void *arg)
{
	(void)res, (void)req, (void)remote;
	int *rc = arg;
	static uint8_t fill[EVUDP6_RESPONSE_BODY_MAX];
	memset(fill, 'z', sizeof(fill));
	rc[0] = evudp6_response_set_code(rsp, EVUDP6_CREATED);
	rc[1] = evudp6_response_set_code(rsp, EVUDP6_GET);
	rc[2] = evudp6_response_add_opt(rsp, EVUDP6_OPT_LOCATION_PATH, "new", 3);
	rc[3] = evudp6_response_add_uint(rsp, EVUDP6_OPT_MAX_AGE, 30);
	rc[4] = evudp6_response_add_opt(rsp, EVUDP6_OPT_ETAG, fill, 9);
	evudp6_response_set_payload(rsp, "ref", 3);
	rc[5] = evudp6_response_append(rsp, "+", 1);
	rc[6] = evudp6_response_append(rsp, fill, EVUDP6_RESPONSE_BODY_MAX - 3);
	rc[7] = evudp6_response_printf(rsp, "%d", 42);
	rc[8] = evudp6_response_code(rsp);
	rc[9] = evudp6_response_is_multicast(rsp);
}

START_TEST(server_handler_answers_with_code_options_and_body)
{
	int rc[10];
	ck_assert_int_eq(evudp6_server_add(srv, "/make", EVUDP6_METHOD_POST, full_cb, rc, NULL), 0);
	struct evudp6_msg_builder b;
	struct evudp6_msg m;
	req_init(&b, EVUDP6_POST, "/make");
	ask_until(&b, &m, true);
	ck_assert_int_eq(rc[0], 0);
	ck_assert_int_eq(rc[1], -EINVAL);
	ck_assert_int_eq(rc[2], 0);
	ck_assert_int_eq(rc[3], 0);
	ck_assert_int_eq(rc[4], -EVUDP6_E_MSG_OPT_RANGE);
	ck_assert_int_eq(rc[5], 0);
	ck_assert_int_eq(rc[6], -EVUDP6_E_MSG_NOSPACE);
	ck_assert_int_eq(rc[7], 0);
	ck_assert_int_eq(rc[8], EVUDP6_CREATED);
	ck_assert_int_eq(rc[9], 0);
	/* the refused ETag poisons the builder: the exchange is acknowledged
	 * without a response rather than answered wrongly */
	ck_assert_uint_eq(m.code, EVUDP6_EMPTY);
	ck_assert_uint_eq(m.type, EVUDP6_ACK);
	expect_silence(100);
}
END_TEST

static void good_cb(struct evudp6_resource *res, struct evudp6_response *rsp, const struct evudp6_msg *req,
                    const struct evudp6_addr *remote, void *arg)
{
	(void)res, (void)req, (void)remote, (void)arg;
	evudp6_response_set_code(rsp, EVUDP6_CREATED);
	evudp6_response_add_opt(rsp, EVUDP6_OPT_LOCATION_PATH, "new", 3);
	evudp6_response_add_uint(rsp, EVUDP6_OPT_MAX_AGE, 30);
	evudp6_response_set_payload(rsp, "ref", 3);
	evudp6_response_append(rsp, "+", 1);
	evudp6_response_printf(rsp, "%d", 42);
}

START_TEST(server_response_carries_what_the_handler_set)
{
	ck_assert_int_eq(evudp6_server_add(srv, "/make", EVUDP6_METHOD_POST, good_cb, NULL, NULL), 0);
	struct evudp6_msg_builder b;
	struct evudp6_msg m;
	req_init(&b, EVUDP6_POST, "/make");
	ask(&b, &m);
	ck_assert_uint_eq(m.code, EVUDP6_CREATED);
	assert_payload(&m, "ref+42");
	struct evudp6_opt o;
	uint32_t v;
	ck_assert_int_eq(evudp6_msg_find_opt(&m, EVUDP6_OPT_LOCATION_PATH, &o), 1);
	ck_assert_uint_eq(o.len, 3);
	ck_assert_mem_eq(o.value, "new", 3);
	ck_assert_int_eq(evudp6_msg_find_opt(&m, EVUDP6_OPT_MAX_AGE, &o), 1);
	ck_assert_int_eq(evudp6_opt_uint(&o, &v), 0);
	ck_assert_uint_eq(v, 30);
	ck_assert_uint_eq(m.tkl, 2);
	ck_assert_mem_eq(m.token, "tk", 2);
}
END_TEST

static struct evudp6_exchange_handle deferred;

static void later_cb(struct evudp6_resource *res, struct evudp6_response *rsp, const struct evudp6_msg *req,
                     const struct evudp6_addr *remote, void *arg)
{
	(void)res, (void)req, (void)remote, (void)arg;
	evudp6_response_set_payload(rsp, "discarded", 9);
	deferred = evudp6_response_defer(rsp);
}

START_TEST(server_deferred_answer_leaves_separately)
{
	ck_assert_int_eq(evudp6_server_add(srv, "/slow", EVUDP6_METHOD_GET, later_cb, NULL, NULL), 0);
	deferred = (struct evudp6_exchange_handle){0};
	struct evudp6_msg_builder b;
	req_init(&b, EVUDP6_GET, "/slow");
	send_req(&b);
	/* the empty ACK comes, no response */
	struct evudp6_msg m;
	TESTNET_LOOP_UNTIL(base, deferred.obj != NULL);
	ck_assert_ptr_nonnull(deferred.obj);
	expect_silence(150);
	struct evudp6_msg_builder r;
	evudp6_msg_builder_init(&r, EVUDP6_CON, EVUDP6_CONTENT, 0);
	evudp6_msg_builder_set_payload(&r, "late", 4);
	ck_assert_int_eq(evudp6_exchange_respond(deferred, &r), 0);
	wait_answer(&m, false);
	ck_assert_uint_eq(m.code, EVUDP6_CONTENT);
	ck_assert_uint_eq(m.type, EVUDP6_CON);
	assert_payload(&m, "late");
}
END_TEST

/* RFC 7641 is not served yet: a registration is answered as a plain GET. */
START_TEST(server_observe_request_to_a_plain_resource_is_answered_without_observe)
{
	struct evudp6_resource *r;
	ck_assert_int_eq(evudp6_server_add(srv, "/clock", EVUDP6_METHOD_GET, hello_cb, "now", &r), 0);
	struct evudp6_msg_builder b;
	struct evudp6_msg m;
	struct evudp6_opt o;
	req_init(&b, EVUDP6_GET, "/clock");
	evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_OBSERVE, 0);
	ask(&b, &m);
	ck_assert_uint_eq(m.code, EVUDP6_CONTENT);
	ck_assert_int_eq(evudp6_msg_find_opt(&m, EVUDP6_OPT_OBSERVE, &o), 0);
	ck_assert_int_eq(calls, 1);
}
END_TEST

/* ------------------------------------------------------------ observe */

#define NCLI 3
static struct evudp6_messenger *obsm[NCLI];
static struct seen {
	int n, final;
	int32_t seq[8];
	uint8_t final_code;
	char body[64];
	struct evudp6_observer_handle o;
} seen[NCLI];
static int version;
static uint16_t remotes[16];
static size_t nremotes;

/* The representation: "v<version>", and who it was made for. */
static void clock_cb(struct evudp6_resource *res, struct evudp6_response *rsp, const struct evudp6_msg *req,
                     const struct evudp6_addr *remote, void *arg)
{
	(void)res, (void)req, (void)arg;
	calls++;
	if (nremotes < 16)
		remotes[nremotes++] = evudp6_addr_port(remote);
	evudp6_response_printf(rsp, "v%d", version);
}

static void seen_cb(struct evudp6_observer_handle o, int err, const struct evudp6_msg *rsp, int32_t seq,
                    const struct evudp6_addr *remote, const struct evudp6_icmp *icmp, void *arg)
{
	(void)o, (void)remote, (void)icmp;
	struct seen *w = arg;
	if (err || seq < 0) {
		w->final++;
		w->final_code = rsp ? rsp->code : 0;
		return;
	}
	if (w->n < 8)
		w->seq[w->n] = seq;
	w->n++;
	size_t len = rsp->payload_len < sizeof(w->body) - 1 ? rsp->payload_len : sizeof(w->body) - 1;
	memcpy(w->body, rsp->payload, len);
	w->body[len] = '\0';
}

static void clients_start(void)
{
	struct evudp6_transport_config t = {.size = sizeof(t), .bind = "[::1]:0"};
	for (int i = 0; i < NCLI; i++) {
		ck_assert_int_eq(evudp6_messenger_new(&obsm[i], base, &t, NULL), 0);
		ck_assert_int_eq(evudp6_messenger_start(obsm[i]), 0);
	}
	memset(seen, 0, sizeof(seen));
	version = 0;
	nremotes = 0;
}

static void clients_free(void)
{
	for (int i = 0; i < NCLI; i++) {
		evudp6_messenger_free(obsm[i]);
		obsm[i] = NULL;
	}
}

static uint16_t cli_port(int i)
{
	return evudp6_transport_port(evudp6_messenger_transport(obsm[i]));
}

/* Run the loop until every one of the first @n clients has @count notifications. */
static void run_until_seen(int n, int count)
{
	for (int k = 0; k < 2000; k++) {
		bool all = true;
		for (int i = 0; i < n; i++)
			all = all && seen[i].n >= count;
		if (all)
			return;
		struct timeval tv = {0, 1000};
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	ck_abort_msg("notifications did not arrive");
}

static void run_ms(int ms)
{
	for (int k = 0; k < ms; k++) {
		struct timeval tv = {0, 1000};
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
}

static void observe_clock(int i)
{
	struct evudp6_addr a;
	struct evudp6_msg_builder b;
	ck_assert_int_eq(evudp6_addr_from_literal(&a, "::1", port, 0), 0);
	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 0);
	ck_assert_int_eq(evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_PATH, "clock", 5), 0);
	ck_assert_int_eq(evudp6_observe_register(obsm[i], &a, &b, seen_cb, &seen[i], &seen[i].o), 0);
}

static struct evudp6_resource *observable_clock(unsigned int flags)
{
	struct evudp6_resource *r;
	ck_assert_int_eq(evudp6_server_add(srv, "/clock", EVUDP6_METHOD_GET, clock_cb, NULL, &r), 0);
	evudp6_resource_set_flags(r, EVUDP6_RESOURCE_OBSERVABLE | flags);
	clients_start();
	for (int i = 0; i < NCLI; i++)
		observe_clock(i);
	run_until_seen(NCLI, 1);
	return r;
}

static uint64_t server_observations(void)
{
	struct evudp6_observe_stats st;
	ck_assert_int_gt(evudp6_observe_stats(msgr, &st, sizeof(st)), 0);
	return st.observations;
}

START_TEST(server_registers_observers_of_an_observable_resource)
{
	struct evudp6_resource *r = observable_clock(0);
	for (int i = 0; i < NCLI; i++) {
		ck_assert_int_eq(seen[i].n, 1);
		ck_assert_int_ge(seen[i].seq[0], 0);
		ck_assert_str_eq(seen[i].body, "v0");
		ck_assert_int_eq(seen[i].final, 0);
	}
	ck_assert_int_eq(calls, NCLI);
	ck_assert_uint_eq(server_observations(), NCLI);
	struct evudp6_msg m;
	core_query("href=/clock", NULL, &m);
	assert_payload(&m, "</clock>;obs");
	(void)r;
	clients_free();
}
END_TEST

START_TEST(server_resource_notify_sends_each_observer_a_fresh_representation)
{
	struct evudp6_resource *r = observable_clock(0);
	for (int round = 1; round <= 2; round++) {
		version = round;
		nremotes = 0;
		ck_assert_int_eq(evudp6_resource_notify(r), NCLI);
		run_until_seen(NCLI, round + 1);
		/* once per observer, each time for that observer's endpoint */
		ck_assert_uint_eq(nremotes, NCLI);
		for (int i = 0; i < NCLI; i++) {
			bool found = false;
			for (size_t k = 0; k < nremotes; k++)
				found = found || remotes[k] == cli_port(i);
			ck_assert(found);
			ck_assert_int_eq(seen[i].n, round + 1);
			ck_assert_int_gt(seen[i].seq[round], seen[i].seq[round - 1]);
			char want[16];
			snprintf(want, sizeof(want), "v%d", round);
			ck_assert_str_eq(seen[i].body, want);
		}
	}
	ck_assert_int_eq(calls, NCLI * 3);
	clients_free();
}
END_TEST

START_TEST(server_shared_representation_runs_the_handler_once_per_notify)
{
	struct evudp6_resource *r = observable_clock(EVUDP6_RESOURCE_SHARED_REPRESENTATION);
	ck_assert_int_eq(calls, NCLI);
	version = 7;
	ck_assert_int_eq(evudp6_resource_notify(r), NCLI);
	run_until_seen(NCLI, 2);
	ck_assert_int_eq(calls, NCLI + 1);
	for (int i = 0; i < NCLI; i++) {
		ck_assert_str_eq(seen[i].body, "v7");
		ck_assert_int_gt(seen[i].seq[1], seen[i].seq[0]);
	}
	clients_free();
}
END_TEST

START_TEST(server_deregistration_and_rst_remove_observers)
{
	struct evudp6_resource *r = observable_clock(0);
	/* 0 deregisters with Observe: 1; 1 forgets, so answers the next
	 * notification with RST. */
	ck_assert_int_eq(evudp6_observer_cancel(seen[0].o, true), 0);
	for (int k = 0; k < 2000 && !seen[0].final; k++)
		run_ms(1);
	ck_assert_int_eq(seen[0].final, 1);
	ck_assert_uint_eq(seen[0].final_code, EVUDP6_CONTENT);
	ck_assert_int_eq(evudp6_observer_cancel(seen[1].o, false), 0);
	ck_assert_int_eq(evudp6_resource_notify(r), 2);
	run_until_seen(NCLI, 0);
	for (int k = 0; k < 2000 && server_observations() > 1; k++)
		run_ms(1);
	ck_assert_uint_eq(server_observations(), 1);
	ck_assert_int_eq(evudp6_resource_notify(r), 1);
	run_ms(50);
	ck_assert_int_eq(seen[0].n, 1);
	ck_assert_int_eq(seen[1].n, 1);
	ck_assert_int_eq(seen[2].n, 3);
	clients_free();
}
END_TEST

START_TEST(server_resource_removal_ends_its_observations)
{
	struct evudp6_resource *r = observable_clock(0);
	ck_assert_int_eq(evudp6_resource_remove(r), 0);
	ck_assert_uint_eq(server_observations(), 0);
	for (int k = 0; k < 2000; k++) {
		if (seen[0].final && seen[1].final && seen[2].final)
			break;
		run_ms(1);
	}
	for (int i = 0; i < NCLI; i++) {
		ck_assert_int_eq(seen[i].final, 1);
		ck_assert_uint_eq(seen[i].final_code, EVUDP6_NOT_FOUND);
		ck_assert_int_eq(seen[i].n, 1);
	}
	clients_free();
}
END_TEST

START_TEST(server_resource_notify_refuses_what_it_cannot_notify)
{
	struct evudp6_resource *r;
	ck_assert_int_eq(evudp6_resource_notify(NULL), -EINVAL);
	ck_assert_int_eq(evudp6_server_add(srv, "/plain", EVUDP6_METHOD_GET, clock_cb, NULL, &r), 0);
	ck_assert_int_eq(evudp6_resource_notify(r), -EINVAL);
	evudp6_resource_set_flags(r, EVUDP6_RESOURCE_OBSERVABLE);
	ck_assert_int_eq(evudp6_resource_notify(r), 0);
	ck_assert_int_eq(calls, 0);
}
END_TEST

/* ------------------------------------------------------------ block-wise */

static uint8_t big[5000];
static size_t got_up;
static struct {
	int calls, err;
	size_t len;
	bool same;
} fetched;

static void big_cb(struct evudp6_resource *res, struct evudp6_response *rsp, const struct evudp6_msg *req,
                   const struct evudp6_addr *remote, void *arg)
{
	(void)res, (void)remote, (void)arg;
	calls++;
	if (req->code == EVUDP6_PUT) {
		const uint8_t *body;
		got_up = evudp6_response_request_body(rsp, &body);
		if (got_up != sizeof(big) || memcmp(body, big, got_up) != 0)
			got_up = 0;
		return;
	}
	evudp6_response_set_payload(rsp, big, sizeof(big));
}

static void fetched_cb(struct evudp6_block_request *br, int err, const struct evudp6_msg *rsp,
                       const struct evudp6_addr *remote, const struct evudp6_icmp *icmp, void *arg)
{
	(void)br, (void)remote, (void)icmp, (void)arg;
	fetched.calls++;
	fetched.err = err;
	fetched.len = err ? 0 : rsp->payload_len;
	fetched.same =
	    err == 0 && rsp->payload_len == sizeof(big) && memcmp(rsp->payload, big, sizeof(big)) == 0;
}

/* With a block server, a body of 5 000 bytes leaves in blocks and comes
 * up whole, and the handler runs once per transfer. */
START_TEST(server_with_block_server_moves_large_bodies_both_ways)
{
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 31 + 7);
	struct evudp6_block_server *bs;
	ck_assert_int_eq(evudp6_block_server_new(&bs, NULL), 0);
	evudp6_server_set_block_server(srv, bs);
	ck_assert_int_eq(
	    evudp6_server_add(srv, "/big", EVUDP6_METHOD_GET | EVUDP6_METHOD_PUT, big_cb, NULL, NULL), 0);
	struct evudp6_messenger *cli;
	struct evudp6_transport_config t = {.size = sizeof(t), .bind = "[::1]:0"};
	ck_assert_int_eq(evudp6_messenger_new(&cli, base, &t, NULL), 0);
	ck_assert_int_eq(evudp6_messenger_start(cli), 0);
	struct evudp6_addr to;
	ck_assert_int_eq(evudp6_addr_from_literal(&to, "::1", port, 0), 0);

	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 0);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_PATH, "big", 3);
	memset(&fetched, 0, sizeof(fetched));
	ck_assert_int_eq(evudp6_block_request(cli, &to, &b, NULL, fetched_cb, NULL, NULL), 0);
	TESTNET_LOOP_UNTIL(base, fetched.calls > 0);
	ck_assert_int_eq(fetched.calls, 1);
	ck_assert_int_eq(fetched.err, 0);
	ck_assert_uint_eq(fetched.len, sizeof(big));
	ck_assert(fetched.same);
	ck_assert_int_eq(calls, 1); /* later blocks came from the snapshot */

	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_PUT, 0);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_PATH, "big", 3);
	evudp6_msg_builder_set_payload(&b, big, sizeof(big));
	memset(&fetched, 0, sizeof(fetched));
	got_up = 1;
	ck_assert_int_eq(evudp6_block_request(cli, &to, &b, NULL, fetched_cb, NULL, NULL), 0);
	TESTNET_LOOP_UNTIL(base, fetched.calls > 0);
	ck_assert_int_eq(fetched.err, 0);
	ck_assert_int_eq(calls, 2); /* once, with the whole body */
	ck_assert_uint_eq(got_up, sizeof(big));

	struct evudp6_block_server_stats st;
	evudp6_block_server_stats(bs, &st, sizeof(st));
	ck_assert_uint_eq(st.snapshots, 1);
	ck_assert_uint_eq(st.blocks_from_cache, 4);
	ck_assert_uint_eq(st.uploads_completed, 1);
	ck_assert_uint_eq(st.continues, 4);
	evudp6_messenger_free(cli);
	evudp6_server_free(srv);
	srv = NULL;
	evudp6_block_server_free(bs);
}
END_TEST

/* ------------------------------------------------- discovery, block-wise */

static struct {
	int calls, err, cf, blocks;
	uint8_t code;
	size_t len;
	char body[8192];
} core_got;

static void core_fetched_cb(struct evudp6_block_request *br, int err, const struct evudp6_msg *rsp,
                            const struct evudp6_addr *remote, const struct evudp6_icmp *icmp, void *arg)
{
	(void)br, (void)remote, (void)icmp, (void)arg;
	core_got.calls++;
	core_got.err = err;
	if (err || !rsp)
		return;
	core_got.code = rsp->code;
	core_got.cf = cf_of(rsp);
	core_got.len = rsp->payload_len;
	if (rsp->payload_len <= sizeof(core_got.body))
		memcpy(core_got.body, rsp->payload, rsp->payload_len);
}

static void core_progress_cb(struct evudp6_block_request *br, bool upload, uint64_t done, uint64_t total,
                             void *arg)
{
	(void)br, (void)done, (void)total, (void)arg;
	if (!upload)
		core_got.blocks++;
}

/* GET /.well-known/core (with one Uri-Query, or none) through
 * evudp6_block_request() from @p cli; the answer is in core_got. */
static void core_fetch(struct evudp6_messenger *cli, const char *query)
{
	struct evudp6_addr to;
	ck_assert_int_eq(evudp6_addr_from_literal(&to, "::1", port, 0), 0);
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 0);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_PATH, ".well-known", 11);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_PATH, "core", 4);
	if (query)
		evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_QUERY, query, strlen(query));
	struct evudp6_block_config c;
	evudp6_block_config_init(&c, sizeof(c));
	c.progress_cb = core_progress_cb;
	memset(&core_got, 0, sizeof(core_got));
	ck_assert_int_eq(evudp6_block_request(cli, &to, &b, &c, core_fetched_cb, NULL, NULL), 0);
	TESTNET_LOOP_UNTIL(base, core_got.calls > 0);
	ck_assert_int_eq(core_got.calls, 1);
	ck_assert_int_eq(core_got.err, 0);
	ck_assert_uint_le(core_got.len, sizeof(core_got.body));
}

/* Occurrences of "<href>" in the listing: a whole link target, so
 * /r-1 does not count inside /r-10. */
static int links_to(const char *href)
{
	char want[80];
	int n = snprintf(want, sizeof(want), "<%s>", href);
	int found = 0;
	for (size_t i = 0; i + (size_t)n <= core_got.len; i++)
		found += memcmp(core_got.body + i, want, (size_t)n) == 0;
	return found;
}

/* The listing is link-format as RFC 6690 writes it: "<...>" links,
 * comma separated, no NUL; returns how many links it has. */
static int links_in_listing(void)
{
	ck_assert_uint_gt(core_got.len, 0);
	const char *nul = memchr(core_got.body, '\0', core_got.len);
	ck_assert_msg(!nul, "a NUL at byte %td of %zu", nul - core_got.body, core_got.len);
	int n = 0;
	for (size_t i = 0; i < core_got.len; i++) {
		bool starts = i == 0 || core_got.body[i - 1] == ',';
		ck_assert_msg(!starts || core_got.body[i] == '<', "byte %zu: a link starts with '<'", i);
		n += starts;
	}
	return n;
}

/* The last fetch was a 2.05 with @p nlinks links in @p len bytes of link
 * format, in @p blocks blocks (0: not block-wise). */
static void assert_listing(size_t len, int nlinks, int blocks)
{
	ck_assert_uint_eq(core_got.code, EVUDP6_CONTENT);
	ck_assert_int_eq(core_got.cf, EVUDP6_CF_LINK_FORMAT);
	ck_assert_uint_eq(core_got.len, len);
	ck_assert_int_eq(links_in_listing(), nlinks);
	ck_assert_int_eq(core_got.blocks, blocks);
}

#define LONG_NAME "/resource-with-a-long-name-%03d"

static void add_long_named(int from, int to)
{
	char path[64];
	for (int i = from; i < to; i++) {
		snprintf(path, sizeof(path), LONG_NAME, i);
		struct evudp6_resource *r;
		ck_assert_int_eq(evudp6_server_add(srv, path, EVUDP6_METHOD_GET, many_cb, NULL, &r), 0);
		if (i % 2 == 0)
			ck_assert_int_eq(evudp6_resource_set_attr(r, "rt", "even"), 0);
	}
}

/* Every long-named resource below @p n is listed exactly once (with
 * @p even_only, only the even ones, and no odd one). */
static void assert_listed(int n, bool even_only)
{
	char path[64];
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), LONG_NAME, i);
		ck_assert_msg(links_to(path) == (even_only && i % 2 ? 0 : 1), "%s listed %d times", path,
		              links_to(path));
	}
}

static struct evudp6_block_server *block_server_with(size_t max_body, unsigned int block_size)
{
	struct evudp6_block_server_config c;
	evudp6_block_server_config_init(&c, sizeof(c));
	c.max_body = max_body;
	c.block_size = block_size;
	struct evudp6_block_server *bs;
	ck_assert_int_eq(evudp6_block_server_new(&bs, &c), 0);
	evudp6_server_set_block_server(srv, bs);
	return bs;
}

static struct evudp6_messenger *block_client(void)
{
	struct evudp6_messenger *cli;
	struct evudp6_transport_config t = {.size = sizeof(t), .bind = "[::1]:0"};
	ck_assert_int_eq(evudp6_messenger_new(&cli, base, &t, NULL), 0);
	ck_assert_int_eq(evudp6_messenger_start(cli), 0);
	return cli;
}

/* 60 links, 2 279 bytes: with a block server the built-in resource
 * serves them in 256-byte blocks, the later blocks from the snapshot of
 * the first, and filters still apply. */
START_TEST(server_well_known_core_of_any_length_goes_block_wise)
{
	struct evudp6_block_server *bs = block_server_with(EVUDP6_BLOCK_DEFAULT_MAX_BODY, 256);
	add_long_named(0, 60);
	struct evudp6_messenger *cli = block_client();
	struct evudp6_block_server_stats st;

	core_fetch(cli, NULL);
	assert_listing(60 * 32 + 30 * 10 + 59, 60, 9);
	assert_listed(60, false);
	evudp6_block_server_stats(bs, &st, sizeof(st));
	ck_assert_uint_eq(st.snapshots, 1);
	ck_assert_uint_eq(st.blocks_from_cache, 8);
	ck_assert_uint_eq(st.cache_misses, 0);

	/* a filter that passes 30 links, 1 289 bytes: still block-wise */
	core_fetch(cli, "rt=even");
	assert_listing(30 * 42 + 29, 30, 6);
	assert_listed(60, true);
	/* one that passes one link: one message */
	core_fetch(cli, "href=/resource-with-a-long-name-007");
	assert_listing(32, 1, 0);
	ck_assert_mem_eq(core_got.body, "</resource-with-a-long-name-007>", 32);

	/* 60 more, 4 559 bytes: the server's buffer grows again */
	add_long_named(60, 120);
	core_fetch(cli, NULL);
	assert_listing(120 * 32 + 60 * 10 + 119, 120, 18);
	assert_listed(120, false);
	evudp6_block_server_stats(bs, &st, sizeof(st));
	ck_assert_uint_eq(st.snapshots, 3);
	ck_assert_uint_eq(st.blocks_from_cache, 8 + 5 + 17);
	ck_assert_uint_eq(st.cache_misses, 0);

	/* and a short listing after a long one is right too */
	core_fetch(cli, "href=/resource-with-a-long-name-09*");
	assert_listing(10 * 32 + 5 * 10 + 9, 10, 2);
	ck_assert_int_eq(links_to("/resource-with-a-long-name-090"), 1);
	ck_assert_int_eq(links_to("/resource-with-a-long-name-099"), 1);
	evudp6_messenger_free(cli);
	evudp6_server_free(srv);
	srv = NULL;
	evudp6_block_server_free(bs);
}
END_TEST

/* A listing longer than the block server's max_body is refused, naming
 * the limit, and a filter that makes it short enough still works. */
START_TEST(server_well_known_core_longer_than_max_body_is_an_error)
{
	struct evudp6_block_server *bs = block_server_with(1500, 1024);
	add_long_named(0, 60);
	core_refused(NULL, "links do not fit in 1500 bytes (the block server's max_body)");
	struct evudp6_msg m;
	core_query("rt=even", NULL, &m);
	ck_assert_uint_eq(m.payload_len, 1024); /* the first of two blocks */
	core_query("href=/resource-with-a-long-name-008", NULL, &m);
	assert_payload(&m, "</resource-with-a-long-name-008>;rt=\"even\"");
	/* a max_body below the response's own buffer is the limit too */
	evudp6_server_set_block_server(srv, NULL);
	evudp6_block_server_free(bs);
	bs = block_server_with(100, 1024);
	core_refused("href=/resource-with-a-long-name-01*",
	             "links do not fit in 100 bytes (the block server's max_body)");
	evudp6_server_free(srv);
	srv = NULL;
	evudp6_block_server_free(bs);
}
END_TEST

/* ------------------------------------------------------------ life cycle */

static void remove_self_cb(struct evudp6_resource *res, struct evudp6_response *rsp,
                           const struct evudp6_msg *req, const struct evudp6_addr *remote, void *arg)
{
	(void)req, (void)remote, (void)arg;
	calls++;
	ck_assert_int_eq(evudp6_resource_remove(res), 0);
	evudp6_response_printf(rsp, "bye");
}

START_TEST(server_resource_removed_inside_its_handler_still_answers)
{
	ck_assert_int_eq(evudp6_server_add(srv, "/once", EVUDP6_METHOD_GET, remove_self_cb, NULL, NULL), 0);
	struct evudp6_msg_builder b;
	struct evudp6_msg m;
	req_init(&b, EVUDP6_GET, "/once");
	ask(&b, &m);
	ck_assert_uint_eq(m.code, EVUDP6_CONTENT);
	assert_payload(&m, "bye");
	ck_assert_uint_eq(get_code("/once"), EVUDP6_NOT_FOUND);
	ck_assert_ptr_null(evudp6_server_find(srv, "/once"));
	ck_assert_int_eq(calls, 1);
	/* and the path can be added again */
	ck_assert_int_eq(evudp6_server_add(srv, "/once", EVUDP6_METHOD_GET, hello_cb, "again", NULL), 0);
	ck_assert_uint_eq(get_code("/once"), EVUDP6_CONTENT);
}
END_TEST

static void free_server_cb(struct evudp6_resource *res, struct evudp6_response *rsp,
                           const struct evudp6_msg *req, const struct evudp6_addr *remote, void *arg)
{
	(void)res, (void)req, (void)remote, (void)arg;
	evudp6_server_free(srv);
	srv = NULL;
	evudp6_response_printf(rsp, "last");
}

START_TEST(server_freed_inside_a_handler_answers_then_goes)
{
	ck_assert_int_eq(evudp6_server_add(srv, "/quit", EVUDP6_METHOD_GET, free_server_cb, NULL, NULL), 0);
	struct evudp6_msg_builder b;
	struct evudp6_msg m;
	req_init(&b, EVUDP6_GET, "/quit");
	ask(&b, &m);
	ck_assert_uint_eq(m.code, EVUDP6_CONTENT);
	assert_payload(&m, "last");
	ck_assert_ptr_null(srv);
	/* the messenger has no handler now: a CON request gets RST */
	req_init(&b, EVUDP6_GET, "/quit");
	ask_until(&b, &m, true);
	ck_assert_uint_eq(m.type, EVUDP6_RST);
}
END_TEST

START_TEST(server_add_refuses_bad_paths_and_duplicates)
{
	char long_seg[300];
	memset(long_seg, 'a', sizeof(long_seg));
	long_seg[0] = '/';
	long_seg[257] = '\0';
	ck_assert_int_eq(evudp6_server_add(srv, "hello", EVUDP6_METHOD_GET, hello_cb, NULL, NULL), -EINVAL);
	ck_assert_int_eq(evudp6_server_add(srv, "", EVUDP6_METHOD_GET, hello_cb, NULL, NULL), -EINVAL);
	ck_assert_int_eq(evudp6_server_add(srv, long_seg, EVUDP6_METHOD_GET, hello_cb, NULL, NULL), -EINVAL);
	long_seg[256] = '\0';
	ck_assert_int_eq(evudp6_server_add(srv, long_seg, EVUDP6_METHOD_GET, hello_cb, NULL, NULL), 0);
	ck_assert_int_eq(evudp6_server_add(srv, "/a*", EVUDP6_METHOD_GET, hello_cb, NULL, NULL), -EINVAL);
	ck_assert_int_eq(evudp6_server_add(srv, "/*/a", EVUDP6_METHOD_GET, hello_cb, NULL, NULL), -EINVAL);
	ck_assert_int_eq(evudp6_server_add(srv, "/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17",
	                                   EVUDP6_METHOD_GET, hello_cb, NULL, NULL),
	                 -EINVAL);
	ck_assert_int_eq(evudp6_server_add(srv, "/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16", EVUDP6_METHOD_GET,
	                                   hello_cb, NULL, NULL),
	                 0);
	ck_assert_int_eq(evudp6_server_add(srv, "/x", EVUDP6_METHOD_GET, NULL, NULL, NULL), -EINVAL);
	ck_assert_int_eq(evudp6_server_add(srv, "/x", 1u, hello_cb, NULL, NULL), -EINVAL);
	ck_assert_int_eq(evudp6_server_add(srv, "/x", 0x100u, hello_cb, NULL, NULL), -EINVAL);
	ck_assert_int_eq(evudp6_server_add(srv, "/x", 0, NULL, NULL, NULL), 0);
	ck_assert_int_eq(evudp6_server_add(srv, "/x", EVUDP6_METHOD_GET, hello_cb, NULL, NULL), -EEXIST);
	ck_assert_int_eq(evudp6_server_add(srv, "/.well-known/core", EVUDP6_METHOD_GET, hello_cb, NULL, NULL),
	                 -EEXIST);
	ck_assert_int_eq(evudp6_server_add(NULL, "/y", EVUDP6_METHOD_GET, hello_cb, NULL, NULL), -EINVAL);
	/* a resource with no method answers 4.05 to each */
	ck_assert_uint_eq(get_code("/x"), EVUDP6_METHOD_NOT_ALLOWED);
	ck_assert_int_eq(evudp6_server_new(NULL, msgr), -EINVAL);
	struct evudp6_server *s2;
	ck_assert_int_eq(evudp6_server_new(&s2, NULL), -EINVAL);
	ck_assert_ptr_eq(evudp6_server_messenger(srv), msgr);
	/* NULL resources are refused, not followed */
	ck_assert_int_eq(evudp6_resource_remove(NULL), -EINVAL);
	ck_assert_int_eq(evudp6_resource_set_method_cb(NULL, EVUDP6_GET, hello_cb, NULL), -EINVAL);
	ck_assert_int_eq(evudp6_resource_set_attr(NULL, "rt", "x"), -EINVAL);
	ck_assert_int_eq(evudp6_resource_add_content_format(NULL, 0), -EINVAL);
	ck_assert_int_eq(evudp6_resource_accept(NULL, 0), -EINVAL);
	ck_assert_int_eq(evudp6_resource_allow_option(NULL, 9), -EINVAL);
	evudp6_resource_set_flags(NULL, 0);
	evudp6_server_set_log_cb(NULL, NULL, NULL);
	evudp6_server_free(NULL);
}
END_TEST

static int logged;
static uint8_t logged_code[8];
static int logged_err[8];

static void log_cb(struct evudp6_server *s, const struct evudp6_response *rsp, const struct evudp6_msg *req,
                   const struct evudp6_addr *remote, uint8_t code, int err, void *arg)
{
	(void)req, (void)remote;
	ck_assert(!evudp6_response_is_multicast(rsp));
	ck_assert_ptr_eq(s, srv);
	ck_assert_ptr_eq(arg, &logged);
	if (logged < 8) {
		logged_code[logged] = code;
		logged_err[logged] = err;
	}
	logged++;
}

START_TEST(server_log_cb_reports_each_answer)
{
	int rc[10];
	ck_assert_int_eq(evudp6_server_add(srv, "/hello", EVUDP6_METHOD_GET, hello_cb, "hi", NULL), 0);
	ck_assert_int_eq(evudp6_server_add(srv, "/slow", EVUDP6_METHOD_GET, later_cb, NULL, NULL), 0);
	ck_assert_int_eq(evudp6_server_add(srv, "/bad", EVUDP6_METHOD_GET, full_cb, rc, NULL), 0);
	evudp6_server_set_log_cb(srv, log_cb, &logged);
	logged = 0;
	ck_assert_uint_eq(get_code("/hello"), EVUDP6_CONTENT);
	ck_assert_uint_eq(get_code("/nosuch"), EVUDP6_NOT_FOUND);
	struct evudp6_msg_builder b;
	req_init(&b, EVUDP6_GET, "/slow");
	deferred = (struct evudp6_exchange_handle){0};
	send_req(&b);
	TESTNET_LOOP_UNTIL(base, logged == 3);
	req_init(&b, EVUDP6_GET, "/bad");
	send_req(&b);
	TESTNET_LOOP_UNTIL(base, logged == 4);
	ck_assert_int_eq(logged, 4);
	ck_assert_uint_eq(logged_code[0], EVUDP6_CONTENT);
	ck_assert_uint_eq(logged_code[1], EVUDP6_NOT_FOUND);
	ck_assert_uint_eq(logged_code[2], 0);
	ck_assert_int_eq(logged_err[2], 0);
	ck_assert_uint_eq(logged_code[3], EVUDP6_CREATED);
	ck_assert_int_eq(logged_err[3], -EVUDP6_E_MSG_OPT_RANGE);
	evudp6_exchange_respond(deferred, NULL);
}
END_TEST

static void free_all_cb(struct evudp6_resource *res, struct evudp6_response *rsp,
                        const struct evudp6_msg *req, const struct evudp6_addr *remote, void *arg)
{
	(void)res, (void)rsp, (void)req, (void)remote, (void)arg;
	calls++;
	evudp6_server_free(srv);
	evudp6_messenger_free(msgr);
	srv = NULL;
	msgr = NULL;
}

/* The server first, then its messenger, from inside a handler: nothing is
 * answered (the messenger is gone) and nothing is touched after. */
START_TEST(server_and_messenger_freed_inside_a_handler)
{
	ck_assert_int_eq(evudp6_server_add(srv, "/end", EVUDP6_METHOD_GET, free_all_cb, NULL, NULL), 0);
	struct evudp6_msg_builder b;
	req_init(&b, EVUDP6_GET, "/end");
	send_req(&b);
	TESTNET_LOOP_UNTIL(base, calls == 1);
	ck_assert_int_eq(calls, 1);
	ck_assert_ptr_null(msgr);
	expect_silence(50);
}
END_TEST

static void free_in_log_cb(struct evudp6_server *s, const struct evudp6_response *rsp,
                           const struct evudp6_msg *req, const struct evudp6_addr *remote, uint8_t code,
                           int err, void *arg)
{
	(void)rsp, (void)req, (void)remote, (void)err;
	*(uint8_t *)arg = code;
	evudp6_server_free(s);
	srv = NULL;
}

START_TEST(server_freed_inside_the_log_callback_goes_after_it)
{
	uint8_t code = 0;
	ck_assert_int_eq(evudp6_server_add(srv, "/once", EVUDP6_METHOD_GET, remove_self_cb, NULL, NULL), 0);
	evudp6_server_set_log_cb(srv, free_in_log_cb, &code);
	struct evudp6_msg_builder b;
	struct evudp6_msg m;
	req_init(&b, EVUDP6_GET, "/once");
	ask(&b, &m);
	ck_assert_uint_eq(m.code, EVUDP6_CONTENT);
	assert_payload(&m, "bye");
	TESTNET_LOOP_UNTIL(base, srv == NULL);
	ck_assert_ptr_null(srv);
	ck_assert_uint_eq(code, EVUDP6_CONTENT);
	ck_assert_int_eq(calls, 1);
}
END_TEST

/* A test case of this suite: a fresh server on a fresh messenger each test. */
static TCase *server_case(Suite *s, const char *name)
{
	TCase *tc = tcase_create(name);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return tc;
}

static Suite *server_suite(void)
{
	Suite *s = suite_create("server");
	TCase *tc = server_case(s, "routing");
	tcase_add_test(tc, server_routes_exact_paths_to_their_handlers);
	tcase_add_test(tc, server_answers_4_04_for_an_unknown_path);
	tcase_add_test(tc, server_prefix_resource_gets_the_rest_of_the_path);
	tcase_add_test(tc, server_answers_4_05_for_a_method_not_allowed);
	tcase_add_test(tc, server_calls_the_handler_of_each_method);

	tc = server_case(s, "options");
	tcase_add_test(tc, server_answers_4_02_for_an_unrecognised_critical_option);
	tcase_add_test(tc, server_answers_4_02_for_an_option_length_outside_its_range);
	tcase_add_test(tc, server_answers_5_05_for_a_proxy_request);
	tcase_add_test(tc, server_answers_4_15_for_a_content_format_not_accepted);
	tcase_add_test(tc, server_answers_4_06_for_an_accept_it_cannot_serve);

	tc = server_case(s, "discovery");
	tcase_add_test(tc, server_well_known_core_lists_resources_in_link_format);
	tcase_add_test(tc, server_well_known_core_filters_by_query);
	tcase_add_test(tc, server_well_known_core_too_large_for_one_message_is_an_error);
	tcase_add_test(tc, server_observe_request_to_a_plain_resource_is_answered_without_observe);
	tcase_add_test(tc, server_with_block_server_moves_large_bodies_both_ways);
	tcase_add_test(tc, server_well_known_core_of_any_length_goes_block_wise);
	tcase_add_test(tc, server_well_known_core_longer_than_max_body_is_an_error);

	tc = server_case(s, "observe");
	tcase_add_test(tc, server_registers_observers_of_an_observable_resource);
	tcase_add_test(tc, server_resource_notify_sends_each_observer_a_fresh_representation);
	tcase_add_test(tc, server_shared_representation_runs_the_handler_once_per_notify);
	tcase_add_test(tc, server_deregistration_and_rst_remove_observers);
	tcase_add_test(tc, server_resource_removal_ends_its_observations);
	tcase_add_test(tc, server_resource_notify_refuses_what_it_cannot_notify);

	tc = server_case(s, "response");
	tcase_add_test(tc, server_handler_answers_with_code_options_and_body);
	tcase_add_test(tc, server_response_carries_what_the_handler_set);
	tcase_add_test(tc, server_deferred_answer_leaves_separately);
	tcase_add_test(tc, server_resource_removed_inside_its_handler_still_answers);
	tcase_add_test(tc, server_freed_inside_a_handler_answers_then_goes);
	tcase_add_test(tc, server_freed_inside_the_log_callback_goes_after_it);
	tcase_add_test(tc, server_and_messenger_freed_inside_a_handler);
	tcase_add_test(tc, server_add_refuses_bad_paths_and_duplicates);
	tcase_add_test(tc, server_log_cb_reports_each_answer);
	return s;
}

int main(void)
{
	return testutil_run(server_suite());
}
