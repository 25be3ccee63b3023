/*
 * Fuzz harness: the resource server (lib/server.c, lib/linkformat.c)
 * behind its messenger, fed datagrams through the transport's datagram
 * callback as the socket would deliver them.
 *
 * Each input: byte 0 says where the datagram came to (bit 0: a multicast
 * group, else the unicast address; bit 1: IPv4) and how the deferring
 * resource answers later (bit 2: with a response, else with none); the
 * rest is one datagram from a sink socket on loopback. The server has a
 * small site: exact and prefix paths, attributes, accepted and served
 * formats, an allowed critical option, a hidden and an observable
 * resource, one that removes itself and one that defers its answer.
 *
 * Properties: every datagram the server sends back decodes strictly and
 * carries the request's token; an answer to a request has a response code;
 * a 2.05 from /.well-known/core is link format (empty, or "<" ... with no
 * NUL); answers to a multicast request without No-Response are never
 * 4.xx or 5.xx; what the server sends as it is freed is a final
 * response without Observe to this input's request; no crash, leak or
 * sanitizer report.
 */
#include "config.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include <evudp6.h>

#include "fuzz-sink.h"
#include "fuzz.h"
#include "transport-internal.h"

static struct event_base *base;
static int sink = -1;
static uint16_t sink_port;
static unsigned int lo_index;
static struct evudp6_exchange_handle kept;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	base = event_base_new();
	FUZZ_CHECK(base != NULL);
	lo_index = if_nametoindex("lo");
	sink = fuzz_sink_socket(&sink_port);
	return 0;
}

static void echo_cb(struct evudp6_resource *res, struct evudp6_response *rsp, const struct evudp6_msg *req,
                    const struct evudp6_addr *remote, void *arg)
{
	(void)res, (void)req, (void)remote, (void)arg;
	struct evudp6_opt seg;
	for (size_t i = 0; evudp6_response_path_rest(rsp, i, &seg); i++)
		evudp6_response_append(rsp, seg.value, seg.len);
	const uint8_t *body;
	size_t n = evudp6_response_request_body(rsp, &body);
	evudp6_response_append(rsp, body, n);
	evudp6_response_printf(rsp, "%u", evudp6_response_code(rsp));
}

static void remove_cb(struct evudp6_resource *res, struct evudp6_response *rsp, const struct evudp6_msg *req,
                      const struct evudp6_addr *remote, void *arg)
{
	(void)rsp, (void)req, (void)remote, (void)arg;
	evudp6_resource_remove(res);
}

static void defer_cb(struct evudp6_resource *res, struct evudp6_response *rsp, const struct evudp6_msg *req,
                     const struct evudp6_addr *remote, void *arg)
{
	(void)res, (void)req, (void)remote, (void)arg;
	if (!kept.obj)
		kept = evudp6_response_defer(rsp);
}

static void site(struct evudp6_server *srv)
{
	struct evudp6_resource *r;
	FUZZ_CHECK(evudp6_server_add(srv, "/", EVUDP6_METHOD_GET, echo_cb, NULL, NULL) == 0);
	FUZZ_CHECK(evudp6_server_add(srv, "/a", EVUDP6_METHOD_ALL, echo_cb, NULL, &r) == 0);
	FUZZ_CHECK(evudp6_resource_set_attr(r, "rt", "x y") == 0);
	FUZZ_CHECK(evudp6_resource_add_content_format(r, 0) == 0);
	FUZZ_CHECK(evudp6_resource_add_content_format(r, 50) == 0);
	FUZZ_CHECK(evudp6_resource_accept(r, 60) == 0);
	FUZZ_CHECK(evudp6_resource_allow_option(r, 9) == 0);
	FUZZ_CHECK(evudp6_server_add(srv, "/a/*", EVUDP6_METHOD_GET | EVUDP6_METHOD_PUT, echo_cb, NULL, &r) ==
	           0);
	evudp6_resource_set_flags(r, EVUDP6_RESOURCE_OBSERVABLE);
	FUZZ_CHECK(evudp6_server_add(srv, "/a/b/*", EVUDP6_METHOD_POST, echo_cb, NULL, &r) == 0);
	FUZZ_CHECK(evudp6_resource_set_attr(r, "title", "q\"\\") == 0);
	FUZZ_CHECK(evudp6_server_add(srv, "/h", EVUDP6_METHOD_GET, echo_cb, NULL, &r) == 0);
	evudp6_resource_set_flags(r, EVUDP6_RESOURCE_HIDDEN);
	FUZZ_CHECK(evudp6_server_add(srv, "/rm", EVUDP6_METHOD_ALL, remove_cb, NULL, NULL) == 0);
	FUZZ_CHECK(evudp6_server_add(srv, "/d", EVUDP6_METHOD_ALL, defer_cb, NULL, NULL) == 0);
}

static bool is_core(const struct evudp6_msg *req)
{
	struct evudp6_opt_iter it;
	struct evudp6_opt o;
	int k = 0;
	bool match = true;
	evudp6_opt_iter_init(&it, req);
	while (evudp6_opt_iter_next(&it, &o)) {
		if (o.number != EVUDP6_OPT_URI_PATH)
			continue;
		const char *want = k == 0 ? ".well-known" : k == 1 ? "core" : NULL;
		match = match && want && o.len == strlen(want) && memcmp(o.value, want, o.len) == 0;
		k++;
	}
	return match && k == 2;
}

static void check_answers(const uint8_t *data, size_t len, bool mcast)
{
	struct evudp6_msg req;
	bool have_req = evudp6_msg_decode(&req, data, len) == 0 && EVUDP6_CODE_CLASS(req.code) == 0 &&
	                req.code != EVUDP6_EMPTY;
	uint8_t buf[2048];
	ssize_t n;
	while ((n = recv(sink, buf, sizeof(buf), MSG_DONTWAIT)) >= 0) {
		struct evudp6_msg rsp;
		FUZZ_CHECK(evudp6_msg_decode(&rsp, buf, (size_t)n) == 0);
		if (!have_req || rsp.code == EVUDP6_EMPTY)
			continue;
		unsigned int cls = EVUDP6_CODE_CLASS(rsp.code);
		FUZZ_CHECK(cls >= 2 && cls <= 5);
		FUZZ_CHECK(rsp.tkl == req.tkl &&
		           (rsp.tkl == 0 || memcmp(rsp.token, req.token, rsp.tkl) == 0));
		struct evudp6_opt nr;
		if (mcast && !evudp6_msg_find_opt(&req, EVUDP6_OPT_NO_RESPONSE, &nr))
			FUZZ_CHECK(cls == 2);
		if (rsp.code == EVUDP6_CONTENT && req.code == EVUDP6_GET && is_core(&req) &&
		    rsp.payload_len) {
			FUZZ_CHECK(rsp.payload[0] == '<');
			FUZZ_CHECK(memchr(rsp.payload, '\0', rsp.payload_len) == NULL);
		}
	}
}

/* What a server sends as it is freed: to an observer of this input's
 * request, a final response without Observe (RFC 7641 3.2). Read here, so
 * that it is not taken for an answer to the next input. */
static void check_final(const uint8_t *data, size_t len)
{
	struct evudp6_msg req;
	bool have_req = evudp6_msg_decode(&req, data, len) == 0;
	uint8_t buf[2048];
	ssize_t n;
	while ((n = recv(sink, buf, sizeof(buf), MSG_DONTWAIT)) >= 0) {
		struct evudp6_msg rsp;
		FUZZ_CHECK(evudp6_msg_decode(&rsp, buf, (size_t)n) == 0);
		FUZZ_CHECK(have_req);
		FUZZ_CHECK(EVUDP6_CODE_CLASS(rsp.code) >= 4);
		FUZZ_CHECK(rsp.tkl == req.tkl &&
		           (rsp.tkl == 0 || memcmp(rsp.token, req.token, rsp.tkl) == 0));
		struct evudp6_opt obs;
		FUZZ_CHECK(!evudp6_msg_find_opt(&rsp, EVUDP6_OPT_OBSERVE, &obs));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t how = data[0];
	data++, size--;

	struct evudp6_transport_config tcfg = {.size = sizeof(tcfg), .bind = "[::1]:0"};
	struct evudp6_messenger_config mcfg;
	evudp6_messenger_config_init(&mcfg, sizeof(mcfg));
	mcfg.leisure_ms = 0;
	mcfg.empty_ack_delay_ms = 0;
	struct evudp6_messenger *m;
	struct evudp6_server *srv;
	FUZZ_CHECK(evudp6_messenger_new(&m, base, &tcfg, &mcfg) == 0);
	FUZZ_CHECK(evudp6_server_new(&srv, m) == 0);
	site(srv);
	FUZZ_CHECK(evudp6_messenger_start(m) == 0);
	kept = (struct evudp6_exchange_handle){0};

	bool v4 = how & 2, mcast = how & 1;
	struct evudp6_addr from;
	struct in6_addr local;
	FUZZ_CHECK(evudp6_addr_from_literal(&from, v4 ? "127.0.0.1" : "::1", sink_port, 0) == 0);
	inet_pton(AF_INET6,
	          mcast ? (v4 ? "::ffff:224.0.1.187" : "ff02::fd") : (v4 ? "::ffff:127.0.0.1" : "::1"),
	          &local);
	evudp6_addr_set_local(&from, &local, lo_index);

	/* The transport hands its callback a buffer of exactly the datagram. */
	uint8_t *exact = malloc(size ? size : 1);
	FUZZ_CHECK(exact != NULL);
	memcpy(exact, data, size);
	struct evudp6_transport *t = evudp6_messenger_transport(m);
	t->datagram_cb(t, exact, size, &from, t->arg);
	if (kept.obj) {
		struct evudp6_msg_builder b;
		evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_CONTENT, 0);
		evudp6_msg_builder_set_payload(&b, "later", 5);
		FUZZ_CHECK(evudp6_exchange_respond(kept, (how & 4) ? &b : NULL) == 0);
	}
	for (int i = 0; i < 3; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	check_answers(exact, size, mcast);

	evudp6_server_free(srv);
	evudp6_messenger_free(m);
	event_base_loop(base, EVLOOP_NONBLOCK);
	check_final(exact, size);
	free(exact);
	return 0;
}
