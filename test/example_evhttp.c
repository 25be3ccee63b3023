/*
 * Example: one program serves the same data over HTTP and CoAP from one
 * event_base, through evhttp and evudp6's resource API side by side.
 *
 *   evhttp_set_cb(http, "/hello", ...)     evudp6_server_add(coap, "/hello", ...)
 *   evhttp_set_cb(http, "/temp", ...)      evudp6_server_add(coap, "/temp", ...)
 *
 * /hello is a greeting; /temp a value that GET reads and PUT sets, from
 * either protocol. The program then checks itself from the same loop: a
 * CoAP PUT sets /temp to 25, an HTTP GET reads it back, a CoAP GET reads
 * /hello, and it exits 0 when all three answered as expected.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include <evudp6.h>

/* The data both protocols serve. */
struct site {
	char temp[16];
};

/* ---- HTTP, as an existing libevent daemon has it ---- */

static void http_hello(struct evhttp_request *req, void *arg)
{
	(void)arg;
	struct evbuffer *body = evbuffer_new();
	evbuffer_add_printf(body, "hello");
	evhttp_send_reply(req, 200, "OK", body);
	evbuffer_free(body);
}

static void http_temp(struct evhttp_request *req, void *arg)
{
	struct site *site = arg;
	struct evbuffer *body = evbuffer_new();
	if (evhttp_request_get_command(req) == EVHTTP_REQ_PUT) {
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		size_t n = evbuffer_get_length(in) < sizeof(site->temp) - 1 ? evbuffer_get_length(in)
		                                                            : sizeof(site->temp) - 1;
		evbuffer_remove(in, site->temp, n);
		site->temp[n] = '\0';
	}
	evbuffer_add_printf(body, "%s", site->temp);
	evhttp_send_reply(req, 200, "OK", body);
	evbuffer_free(body);
}

/* ---- CoAP, the same resources through evudp6_server ---- */

static void coap_hello(struct evudp6_resource *res, struct evudp6_response *rsp, const struct evudp6_msg *req,
                       const struct evudp6_addr *remote, void *arg)
{
	(void)res, (void)req, (void)remote, (void)arg;
	evudp6_response_set_content_format(rsp, EVUDP6_CF_TEXT_PLAIN);
	evudp6_response_printf(rsp, "hello");
}

static void coap_temp(struct evudp6_resource *res, struct evudp6_response *rsp, const struct evudp6_msg *req,
                      const struct evudp6_addr *remote, void *arg)
{
	(void)res, (void)remote;
	struct site *site = arg;
	if (req->code == EVUDP6_PUT) {
		const uint8_t *body;
		size_t n = evudp6_response_request_body(rsp, &body);
		if (n >= sizeof(site->temp)) {
			evudp6_response_set_code(rsp, EVUDP6_REQUEST_ENTITY_TOO_LARGE);
			return;
		}
		memcpy(site->temp, body, n);
		site->temp[n] = '\0';
	}
	evudp6_response_set_content_format(rsp, EVUDP6_CF_TEXT_PLAIN);
	evudp6_response_printf(rsp, "%s", site->temp);
}

/* ---- the checking side ---- */

struct check {
	struct event_base *base;
	struct evhttp_connection *conn;
	struct evudp6_messenger *client;
	struct evudp6_addr coap;
	int ok, done;
};

static void finish_one(struct check *c, int ok)
{
	c->ok += ok;
	if (++c->done == 3)
		event_base_loopbreak(c->base);
}

static void http_temp_read(struct evhttp_request *req, void *arg)
{
	struct check *c = arg;
	struct evbuffer *in = req ? evhttp_request_get_input_buffer(req) : NULL;
	size_t n = in ? evbuffer_get_length(in) : 0;
	char text[16] = "";
	if (in && n < sizeof(text))
		evbuffer_remove(in, text, n);
	int code = req ? evhttp_request_get_response_code(req) : 0;
	printf("http: GET /temp: %d %s\n", code, text);
	finish_one(c, code == 200 && strcmp(text, "25") == 0);
}

static void coap_put_done(struct evudp6_request_handle r, int err, const struct evudp6_msg *rsp,
                          const struct evudp6_addr *remote, const struct evudp6_icmp *icmp, void *arg)
{
	(void)r, (void)remote, (void)icmp;
	struct check *c = arg;
	char code[EVUDP6_CODE_STR_MAX];
	printf("coap: PUT /temp: %s\n", err ? evudp6_strerror(err) : evudp6_code_str(rsp->code, code));
	finish_one(c, err == 0 && rsp->code == EVUDP6_CHANGED);
	/* now read it over HTTP */
	struct evhttp_request *req = evhttp_request_new(http_temp_read, c);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host", "127.0.0.1");
	evhttp_make_request(c->conn, req, EVHTTP_REQ_GET, "/temp");
}

static void coap_get_done(struct evudp6_request_handle r, int err, const struct evudp6_msg *rsp,
                          const struct evudp6_addr *remote, const struct evudp6_icmp *icmp, void *arg)
{
	(void)r, (void)icmp;
	struct check *c = arg;
	char code[EVUDP6_CODE_STR_MAX], who[EVUDP6_HOSTINFO_MAX];
	if (err) {
		printf("coap: GET /hello: %s\n", evudp6_strerror(err));
		finish_one(c, 0);
		return;
	}
	evudp6_addr_hostinfo(remote, who, sizeof(who));
	printf("coap: GET /hello: %s from %s: %.*s\n", evudp6_code_str(rsp->code, code), who,
	       (int)rsp->payload_len, (const char *)rsp->payload);
	finish_one(c, rsp->code == EVUDP6_CONTENT && rsp->payload_len == 5 &&
	                  memcmp(rsp->payload, "hello", 5) == 0);
}

static void coap_ask(struct check *c, uint8_t method, const char *path, const char *body,
                     evudp6_messenger_response_cb cb)
{
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, EVUDP6_CON, method, 0);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_PATH, path, strlen(path));
	if (body)
		evudp6_msg_builder_set_payload(&b, body, strlen(body));
	if (evudp6_messenger_request(c->client, &c->coap, &b, 0, cb, c, NULL) < 0)
		finish_one(c, 0);
}

static void give_up(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	event_base_loopbreak(arg);
}

int main(void)
{
	struct event_base *base = event_base_new();
	struct site site = {.temp = "21"};

	/* HTTP ... */
	struct evhttp *http = evhttp_new(base);
	evhttp_set_cb(http, "/hello", http_hello, &site);
	evhttp_set_cb(http, "/temp", http_temp, &site);
	struct evhttp_bound_socket *hs = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
	if (!hs)
		return 1;

	/* ... and CoAP, on the same event_base, the same way. */
	struct evudp6_messenger *m;
	struct evudp6_server *coap;
	struct evudp6_transport_config cfg = {.size = sizeof(cfg), .bind = "[::]:0"};
	struct evudp6_resource *temp;
	int r = evudp6_messenger_new(&m, base, &cfg, NULL);
	if (r == 0)
		r = evudp6_server_new(&coap, m);
	if (r == 0)
		r = evudp6_server_add(coap, "/hello", EVUDP6_METHOD_GET, coap_hello, &site, NULL);
	if (r == 0)
		r = evudp6_server_add(coap, "/temp", EVUDP6_METHOD_GET | EVUDP6_METHOD_PUT, coap_temp, &site,
		                      &temp);
	if (r == 0)
		r = evudp6_resource_set_attr(temp, "rt", "temperature-c");
	if (r == 0)
		r = evudp6_messenger_start(m);
	if (r < 0) {
		fprintf(stderr, "coap: %s\n", evudp6_strerror(r));
		return 1;
	}

	/* Check both from the same loop. */
	struct check c = {.base = base};
	struct sockaddr_in hsa;
	socklen_t hl = sizeof(hsa);
	getsockname(evhttp_bound_socket_get_fd(hs), (struct sockaddr *)&hsa, &hl);
	c.conn = evhttp_connection_base_new(base, NULL, "127.0.0.1", ntohs(hsa.sin_port));
	struct evudp6_transport_config ccfg = {.size = sizeof(ccfg), .bind = "[::]:0"};
	if (evudp6_messenger_new(&c.client, base, &ccfg, NULL) < 0 || evudp6_messenger_start(c.client) < 0)
		return 1;
	evudp6_addr_from_literal(&c.coap, "127.0.0.1", evudp6_transport_port(evudp6_messenger_transport(m)),
	                         0);
	coap_ask(&c, EVUDP6_PUT, "temp", "25", coap_put_done);
	coap_ask(&c, EVUDP6_GET, "hello", NULL, coap_get_done);

	struct timeval five = {5, 0};
	event_base_once(base, -1, EV_TIMEOUT, give_up, base, &five);
	event_base_dispatch(base);

	evudp6_messenger_free(c.client);
	evudp6_server_free(coap);
	evudp6_messenger_free(m);
	evhttp_connection_free(c.conn);
	evhttp_free(http);
	event_base_loop(base, EVLOOP_NONBLOCK);
	event_base_free(base);
	printf("example_evhttp: %s\n", c.ok == 3 ? "all answered" : "FAILED");
	return c.ok == 3 ? 0 : 1;
}
