/*
 * Example: a CoAP transport inside an existing libevent HTTP server.
 *
 * One event_base serves evhttp on 127.0.0.1 and a CoAP transport on [::]
 * (IPv6 and IPv4). The CoAP side answers every request with 2.05 "hello"
 * from the address the request was sent to. The program then checks both
 * servers from the same loop (an HTTP GET with evhttp's client, a CoAP GET
 * from a second transport) and exits 0 when both answered.
 */
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include <evudp6.h>

static int answered;

/* ---- the server side: what an existing daemon adds ---- */

static void http_hello(struct evhttp_request *req, void *arg)
{
	(void)arg;
	struct evbuffer *body = evbuffer_new();
	evbuffer_add_printf(body, "hello over http\n");
	evhttp_send_reply(req, 200, "OK", body);
	evbuffer_free(body);
}

static void coap_hello(struct evudp6_transport *t, const uint8_t *data, size_t len,
                       const struct evudp6_addr *from, void *arg)
{
	(void)arg;
	struct evudp6_msg req;
	if (evudp6_msg_decode(&req, data, len) < 0 || EVUDP6_CODE_CLASS(req.code) != 0 || req.code == 0)
		return; /* a real server uses the message layer; this shows the transport */
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, req.type == EVUDP6_CON ? EVUDP6_ACK : EVUDP6_NON, EVUDP6_CONTENT,
	                        req.mid);
	evudp6_msg_builder_set_token(&b, req.token, req.tkl);
	evudp6_msg_builder_set_payload(&b, "hello over coap", 15);
	uint8_t out[64];
	ssize_t n = evudp6_msg_encode(&b, out, sizeof(out));
	struct evudp6_addr to;
	evudp6_addr_response(from, &to); /* answer from the address asked */
	if (n > 0)
		evudp6_transport_send(t, &to, out, (size_t)n);
}

/* ---- the checking side ---- */

static void http_done(struct evhttp_request *req, void *arg)
{
	struct event_base *base = arg;
	if (req && evhttp_request_get_response_code(req) == 200) {
		printf("http: %d %.*s", evhttp_request_get_response_code(req),
		       (int)evbuffer_get_length(evhttp_request_get_input_buffer(req)),
		       (const char *)evbuffer_pullup(evhttp_request_get_input_buffer(req), -1));
		answered++;
	}
	if (answered == 2)
		event_base_loopbreak(base);
}

static void coap_client(struct evudp6_transport *t, const uint8_t *data, size_t len,
                        const struct evudp6_addr *from, void *arg)
{
	(void)t;
	struct event_base *base = arg;
	struct evudp6_msg m;
	char code[EVUDP6_CODE_STR_MAX], who[EVUDP6_HOSTINFO_MAX];
	if (evudp6_msg_decode(&m, data, len) == 0 && m.code == EVUDP6_CONTENT && m.mid == 0x0707) {
		evudp6_addr_hostinfo(from, who, sizeof(who));
		printf("coap: %s from %s: %.*s\n", evudp6_code_str(m.code, code), who, (int)m.payload_len,
		       (const char *)m.payload);
		answered++;
	}
	if (answered == 2)
		event_base_loopbreak(base);
}

static void give_up(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

int main(void)
{
	struct event_base *base = event_base_new();

	/* The existing daemon: an HTTP server ... */
	struct evhttp *http = evhttp_new(base);
	evhttp_set_gencb(http, http_hello, NULL);
	struct evhttp_bound_socket *hs = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
	if (!hs)
		return 1;
	struct sockaddr_in hsa;
	socklen_t hl = sizeof(hsa);
	getsockname(evhttp_bound_socket_get_fd(hs), (struct sockaddr *)&hsa, &hl);

	/* ... and, on the same event_base, a CoAP endpoint. */
	struct evudp6_transport *coap;
	struct evudp6_transport_config cfg = {.size = sizeof(cfg), .bind = "[::]:0"};
	int r = evudp6_transport_new(&coap, base, &cfg, coap_hello, NULL, NULL);
	if (r == 0)
		r = evudp6_transport_start(coap);
	if (r < 0) {
		fprintf(stderr, "coap: %s\n", evudp6_strerror(r));
		return 1;
	}

	/* Check both from the same loop. */
	struct evhttp_connection *conn =
	    evhttp_connection_base_new(base, NULL, "127.0.0.1", ntohs(hsa.sin_port));
	struct evhttp_request *req = evhttp_request_new(http_done, base);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host", "127.0.0.1");
	evhttp_make_request(conn, req, EVHTTP_REQ_GET, "/");

	struct evudp6_transport *client;
	struct evudp6_transport_config ccfg = {.size = sizeof(ccfg), .bind = "[::]:0"};
	evudp6_transport_new(&client, base, &ccfg, coap_client, NULL, base);
	evudp6_transport_start(client);
	const uint8_t get[] = {0x40, EVUDP6_GET, 0x07, 0x07};
	struct evudp6_addr to;
	evudp6_addr_from_literal(&to, "127.0.0.1", evudp6_transport_port(coap), 0);
	evudp6_transport_send(client, &to, get, sizeof(get));

	struct timeval five = {5, 0};
	event_base_once(base, -1, EV_TIMEOUT, give_up, base, &five);
	event_base_dispatch(base);

	evudp6_transport_free(client);
	evudp6_transport_free(coap);
	evhttp_connection_free(conn);
	evhttp_free(http);
	event_base_free(base);
	printf("example_evhttp: %s\n", answered == 2 ? "both answered" : "FAILED");
	return answered == 2 ? 0 : 1;
}
