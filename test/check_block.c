/*
 * Block-wise transfer (RFC 7959) on real loopback sockets: an evudp6
 * client and an evudp6 server, or a plain UDP socket on one side where
 * the exact bytes on the wire matter.
 */
#include "config.h"

#include "testnet.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include <evudp6/block.h>
#include <evudp6/messenger.h>

static struct event_base *base;
static struct evudp6_messenger *srv, *cli;
static struct evudp6_block_server *bs;
static struct evudp6_addr srv_addr;

/* ------------------------------------------------------------ bodies */

static uint8_t *pattern(size_t n, unsigned int seed)
{
	uint8_t *p = malloc(n ? n : 1);
	ck_assert_ptr_nonnull(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7u + i / 251u + seed * 13u);
	return p;
}

/* ------------------------------------------------------------ the server */

struct handler {
	int calls;
	uint8_t code;
	/* body answered; when versions > 1 the body changes with each call */
	size_t body_len;
	unsigned int versions;
	/* last request body the handler saw */
	uint8_t *seen;
	size_t seen_len;
	int seen_count;
	bool echo;
	size_t big_option; /* a Location-Query this long in every answer */
	/* too_large: answer 4.13 to a body that came in one message (to every
	 * body when too_large_all), with Block1 SZX too_large_szx when >= 0
	 * and Size1 too_large_size1 when > 0; refusals counts them. */
	bool too_large, too_large_all;
	int too_large_szx;
	uint32_t too_large_size1;
	int refusals;
};
static struct handler H;

static void on_request(struct evudp6_messenger *m, struct evudp6_exchange_handle ex,
                       const struct evudp6_msg *req, const struct evudp6_addr *remote, void *arg)
{
	(void)m, (void)arg;
	struct evudp6_msg whole;
	int rc = evudp6_block_server_handle(bs, ex, req, remote, &whole);
	if (rc != 1)
		return;
	H.calls++;
	if (H.too_large && whole.payload_len &&
	    (H.too_large_all || evudp6_block_get(req, EVUDP6_OPT_BLOCK1, NULL) == 0)) {
		H.refusals++;
		struct evudp6_msg_builder b;
		evudp6_msg_builder_init(&b, EVUDP6_ACK, EVUDP6_CODE(4, 13), 0);
		if (H.too_large_szx >= 0) {
			struct evudp6_block b1 = {.szx = (uint8_t)H.too_large_szx};
			evudp6_block_add(&b, EVUDP6_OPT_BLOCK1, &b1);
		}
		if (H.too_large_size1)
			evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_SIZE1, H.too_large_size1);
		ck_assert_int_eq(evudp6_exchange_respond(ex, &b), 0);
		return;
	}
	if (whole.payload_len || req->code == EVUDP6_PUT || req->code == EVUDP6_POST) {
		free(H.seen);
		H.seen = malloc(whole.payload_len + 1);
		if (whole.payload_len)
			memcpy(H.seen, whole.payload, whole.payload_len);
		H.seen_len = whole.payload_len;
		H.seen_count++;
	}
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, EVUDP6_ACK, H.code ? H.code : EVUDP6_CONTENT, 0);
	evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_CONTENT_FORMAT, 42);
	static char lq[600];
	memset(lq, 'q', sizeof(lq));
	/* in values of at most 255 bytes, the RFC 7252 range */
	for (size_t left = H.big_option; left > 0;) {
		size_t part = left > 150 ? 150 : left;
		evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_LOCATION_QUERY, lq, part);
		left -= part;
	}
	if (H.echo) {
		ck_assert_int_eq(evudp6_block_respond(bs, ex, &whole, &b, whole.payload, whole.payload_len),
		                 0);
		return;
	}
	unsigned int version = H.versions > 1 ? (unsigned int)H.calls % H.versions : 0;
	uint8_t *body = pattern(H.body_len, version);
	ck_assert_int_eq(evudp6_block_respond(bs, ex, &whole, &b, body, H.body_len), 0);
	free(body);
}

static void start(const struct evudp6_block_server_config *bcfg)
{
	memset(&H, 0, sizeof(H));
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	struct evudp6_messenger_config mc;
	evudp6_messenger_config_init(&mc, sizeof(mc));
	mc.ack_timeout_ms = 300;
	struct evudp6_transport_config st = {.size = sizeof(st), .bind = "[::]:0"},
	                               ct = {.size = sizeof(ct), .bind = "[::]:0"};
	ck_assert_int_eq(evudp6_messenger_new(&srv, base, &st, &mc), 0);
	ck_assert_int_eq(evudp6_messenger_new(&cli, base, &ct, &mc), 0);
	evudp6_messenger_set_request_cb(srv, on_request, NULL);
	ck_assert_int_eq(evudp6_messenger_start(srv), 0);
	ck_assert_int_eq(evudp6_messenger_start(cli), 0);
	ck_assert_int_eq(evudp6_block_server_new(&bs, bcfg), 0);
	ck_assert_int_eq(evudp6_addr_from_literal(&srv_addr, "::1",
	                                          evudp6_transport_port(evudp6_messenger_transport(srv)), 0),
	                 0);
}

static void stop(void)
{
	evudp6_messenger_free(cli);
	evudp6_messenger_free(srv);
	evudp6_block_server_free(bs);
	event_base_free(base);
	free(H.seen);
	cli = srv = NULL;
	bs = NULL;
	base = NULL;
}

static struct evudp6_block_server_config server_cfg(void)
{
	struct evudp6_block_server_config c;
	ck_assert_int_eq(evudp6_block_server_config_init(&c, sizeof(c)), 0);
	return c;
}

static struct evudp6_block_config client_cfg(void)
{
	struct evudp6_block_config c;
	ck_assert_int_eq(evudp6_block_config_init(&c, sizeof(c)), 0);
	return c;
}

static struct evudp6_block_server_stats server_stats(void)
{
	struct evudp6_block_server_stats st;
	evudp6_block_server_stats(bs, &st, sizeof(st));
	return st;
}

/* ------------------------------------------------------------ the client */

struct result {
	int calls;
	int err;
	uint8_t code;
	uint8_t *body;
	size_t len;
	uint32_t size1; /* of a 4.13 */
	int cf;         /* Content-Format of the final response, -1 none */
	struct evudp6_block_request_stats st;
	/* streaming */
	int blocks;
	uint64_t offsets[64];
	size_t streamed;
};

static void on_done(struct evudp6_block_request *br, int err, const struct evudp6_msg *rsp,
                    const struct evudp6_addr *remote, const struct evudp6_icmp *icmp, void *arg)
{
	(void)remote, (void)icmp;
	struct result *r = arg;
	r->calls++;
	r->err = err;
	r->cf = -1;
	evudp6_block_request_stats(br, &r->st, sizeof(r->st));
	if (!rsp)
		return;
	r->code = rsp->code;
	r->body = malloc(rsp->payload_len + 1);
	if (rsp->payload_len)
		memcpy(r->body, rsp->payload, rsp->payload_len);
	r->len = rsp->payload_len;
	struct evudp6_opt o;
	uint32_t v;
	if (evudp6_msg_find_opt(rsp, EVUDP6_OPT_SIZE1, &o) && evudp6_opt_uint(&o, &v) == 0)
		r->size1 = v;
	if (evudp6_msg_find_opt(rsp, EVUDP6_OPT_CONTENT_FORMAT, &o) && evudp6_opt_uint(&o, &v) == 0)
		r->cf = (int)v;
}

static void on_data(struct evudp6_block_request *br, uint64_t offset, const uint8_t *data, size_t len,
                    void *arg)
{
	(void)br, (void)data;
	struct result *r = arg;
	if (r->blocks < 64)
		r->offsets[r->blocks] = offset;
	r->blocks++;
	r->streamed += len;
}

static void request_builder(struct evudp6_msg_builder *b, uint8_t code, const char *path)
{
	evudp6_msg_builder_init(b, EVUDP6_CON, code, 0);
	evudp6_msg_builder_add_opt(b, EVUDP6_OPT_URI_PATH, path, strlen(path));
}

/* Run the loop until @p cond or about 5 s. */
#define RUN_UNTIL(cond)                                                                                      \
	do {                                                                                                 \
		for (int _i = 0; _i < 5000 && !(cond); _i++) {                                               \
			struct timeval _tv = {0, 1000};                                                      \
			event_base_loopexit(base, &_tv);                                                     \
			event_base_dispatch(base);                                                           \
		}                                                                                            \
	} while (0)

/* Run one block-wise request of @p b to @p to until its callback ran once. */
static void transfer(struct result *r, const struct evudp6_addr *to, struct evudp6_msg_builder *b,
                     const struct evudp6_block_config *cfg)
{
	ck_assert_int_eq(evudp6_block_request(cli, to, b, cfg, on_done, r, NULL), 0);
	RUN_UNTIL(r->calls > 0);
	ck_assert_int_eq(r->calls, 1);
}

static void fetch(struct result *r, uint8_t code, const char *path, const void *payload, size_t len,
                  const struct evudp6_block_config *cfg)
{
	memset(r, 0, sizeof(*r));
	struct evudp6_msg_builder b;
	request_builder(&b, code, path);
	if (len)
		evudp6_msg_builder_set_payload(&b, payload, len);
	transfer(r, &srv_addr, &b, cfg);
}

static void result_free(struct result *r)
{
	free(r->body);
	r->body = NULL;
}

/* ------------------------------------------------------------ options */

START_TEST(block_option_reads_and_writes_num_m_szx)
{
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 1);
	struct evudp6_block in = {.num = 0x12345, .more = true, .szx = 6};
	ck_assert_int_eq(evudp6_block_add(&b, EVUDP6_OPT_BLOCK2, &in), 0);
	struct evudp6_block bad = {.num = EVUDP6_BLOCK_NUM_MAX + 1};
	ck_assert_int_eq(evudp6_block_add(&b, EVUDP6_OPT_BLOCK1, &bad), -EINVAL);
	uint8_t buf[64];
	ssize_t n = evudp6_msg_encode(&b, buf, sizeof(buf));
	ck_assert_int_gt(n, 0);
	/* option 23, length 3: 0x12345 << 4 | 8 | 6 */
	ck_assert_int_eq(buf[4], 0xd3);
	ck_assert_int_eq(buf[5], 23 - 13);
	ck_assert_int_eq(buf[6], 0x12);
	ck_assert_int_eq(buf[7], 0x34);
	ck_assert_int_eq(buf[8], 0x5e);
	struct evudp6_msg m;
	ck_assert_int_eq(evudp6_msg_decode(&m, buf, (size_t)n), 0);
	struct evudp6_block out;
	ck_assert_int_eq(evudp6_block_get(&m, EVUDP6_OPT_BLOCK2, &out), 1);
	ck_assert_uint_eq(out.num, 0x12345);
	ck_assert(out.more);
	ck_assert_uint_eq(out.szx, 6);
	ck_assert_int_eq(evudp6_block_get(&m, EVUDP6_OPT_BLOCK1, &out), 0);
	/* NUM 0, M 0, SZX 0 is the empty value */
	struct evudp6_block zero = {0};
	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 1);
	evudp6_block_add(&b, EVUDP6_OPT_BLOCK1, &zero);
	n = evudp6_msg_encode(&b, buf, sizeof(buf));
	ck_assert_int_eq(n, 6);
	ck_assert_int_eq(buf[4], 0xd0);
	ck_assert_int_eq(buf[5], 27 - 13);
	/* four bytes is not a block option */
	/* (written by hand: the builder refuses a Block2 longer than 3 bytes) */
	const uint8_t four[] = {0x40, EVUDP6_GET, 0, 1, 0xd4, EVUDP6_OPT_BLOCK2 - 13, 1, 2, 3, 4};
	ck_assert_int_eq(evudp6_msg_decode(&m, four, sizeof(four)), 0);
	ck_assert_int_eq(evudp6_block_get(&m, EVUDP6_OPT_BLOCK2, &out), -EINVAL);
	ck_assert_int_eq(evudp6_block_szx(16), 0);
	ck_assert_int_eq(evudp6_block_szx(1023), 5);
	ck_assert_int_eq(evudp6_block_szx(1024), 6);
	ck_assert_int_eq(evudp6_block_szx(65536), 6);
	ck_assert_int_eq(evudp6_block_szx(15), -EINVAL);
}
END_TEST

/* ------------------------------------------------------------ client Block2 */

START_TEST(block2_client_gets_whole_body_handler_runs_once)
{
	start(NULL);
	H.body_len = 5000;
	struct result r;
	fetch(&r, EVUDP6_GET, "big", NULL, 0, NULL);
	ck_assert_int_eq(r.err, 0);
	ck_assert_int_eq(r.code, EVUDP6_CONTENT);
	ck_assert_uint_eq(r.len, 5000);
	uint8_t *want = pattern(5000, 0);
	ck_assert_mem_eq(r.body, want, 5000);
	ck_assert_int_eq(r.cf, 42);
	ck_assert_uint_eq(r.st.blocks_received, 5);
	ck_assert_uint_eq(r.st.requests, 5);
	ck_assert_uint_eq(r.st.block_size, 1024);
	ck_assert_int_eq(H.calls, 1);
	struct evudp6_block_server_stats st = server_stats();
	ck_assert_uint_eq(st.snapshots, 1);
	ck_assert_uint_eq(st.blocks_from_cache, 4);
	ck_assert_uint_eq(st.cache_misses, 0);
	ck_assert_uint_eq(st.cache_entries_now, 1);
	free(want);
	result_free(&r);
	stop();
}
END_TEST

START_TEST(block2_small_body_leaves_in_one_message)
{
	start(NULL);
	H.body_len = 1024;
	struct result r;
	fetch(&r, EVUDP6_GET, "small", NULL, 0, NULL);
	ck_assert_int_eq(r.err, 0);
	ck_assert_uint_eq(r.len, 1024);
	ck_assert_uint_eq(r.st.requests, 1);
	ck_assert_uint_eq(server_stats().snapshots, 0);
	result_free(&r);
	stop();
}
END_TEST

START_TEST(block2_early_negotiation_uses_the_smaller_size_asked)
{
	start(NULL);
	H.body_len = 5000;
	struct evudp6_block_config c = client_cfg();
	c.block_size = 256;
	c.early_block2 = true;
	struct result r;
	fetch(&r, EVUDP6_GET, "big", NULL, 0, &c);
	ck_assert_int_eq(r.err, 0);
	ck_assert_uint_eq(r.len, 5000);
	ck_assert_uint_eq(r.st.blocks_received, 20);
	ck_assert_uint_eq(r.st.block_size, 256);
	ck_assert_int_eq(H.calls, 1);
	ck_assert_uint_eq(server_stats().blocks_from_cache, 19);
	result_free(&r);
	stop();
}
END_TEST

START_TEST(block2_late_negotiation_follows_the_server_size)
{
	struct evudp6_block_server_config sc = server_cfg();
	sc.block_size = 128;
	start(&sc);
	H.body_len = 5000;
	struct result r;
	fetch(&r, EVUDP6_GET, "big", NULL, 0, NULL);
	ck_assert_int_eq(r.err, 0);
	uint8_t *want = pattern(5000, 0);
	ck_assert_uint_eq(r.len, 5000);
	ck_assert_mem_eq(r.body, want, 5000);
	ck_assert_uint_eq(r.st.blocks_received, 40);
	ck_assert_uint_eq(r.st.block_size, 128);
	ck_assert_int_eq(H.calls, 1);
	free(want);
	result_free(&r);
	stop();
}
END_TEST

START_TEST(block2_streaming_calls_back_per_block_without_a_body)
{
	start(NULL);
	H.body_len = 4100;
	struct evudp6_block_config c = client_cfg();
	struct result r;
	c.data_cb = on_data;
	c.data_arg = &r;
	c.max_body = 8192;
	memset(&r, 0, sizeof(r));
	struct evudp6_msg_builder b;
	request_builder(&b, EVUDP6_GET, "big");
	transfer(&r, &srv_addr, &b, &c);
	ck_assert_int_eq(r.err, 0);
	ck_assert_uint_eq(r.len, 0);
	ck_assert_int_eq(r.blocks, 5);
	for (int i = 0; i < 5; i++)
		ck_assert_uint_eq(r.offsets[i], (uint64_t)i * 1024);
	ck_assert_uint_eq(r.streamed, 4100);
	result_free(&r);
	stop();
}
END_TEST

START_TEST(block2_etag_change_restarts_from_block_0)
{
	/* No snapshots: each block runs the handler, and the body changes at every call. */
	struct evudp6_block_server_config sc = server_cfg();
	sc.cache_entries = 0;
	start(&sc);
	H.body_len = 3000;
	H.versions = 1000; /* a new body at every call */
	struct evudp6_block_config c = client_cfg();
	c.max_restarts = 2;
	struct result r;
	fetch(&r, EVUDP6_GET, "changing", NULL, 0, &c);
	ck_assert_int_eq(r.err, -EVUDP6_E_BLOCK_CHANGED);
	ck_assert_uint_eq(r.st.restarts, 2);
	/* first block, then each restart: block 1 differs, block 0 again */
	ck_assert_int_eq(H.calls, 6);
	result_free(&r);
	stop();
}
END_TEST

START_TEST(block2_evicted_snapshot_reruns_handler_same_etag_completes)
{
	struct evudp6_block_server_config sc = server_cfg();
	sc.cache_entries = 0;
	start(&sc);
	H.body_len = 3000;
	struct result r;
	fetch(&r, EVUDP6_GET, "stable", NULL, 0, NULL);
	ck_assert_int_eq(r.err, 0);
	ck_assert_uint_eq(r.len, 3000);
	ck_assert_uint_eq(r.st.restarts, 0);
	ck_assert_int_eq(H.calls, 3);
	ck_assert_uint_eq(server_stats().cache_misses, 2);
	result_free(&r);
	stop();
}
END_TEST

START_TEST(block2_body_over_max_body_fails_named)
{
	start(NULL);
	H.body_len = 5000;
	struct evudp6_block_config c = client_cfg();
	c.max_body = 3000;
	struct result r;
	fetch(&r, EVUDP6_GET, "big", NULL, 0, &c);
	ck_assert_int_eq(r.err, -EVUDP6_E_BLOCK_BODY_LIMIT);
	/* Size2 says so at the first block */
	ck_assert_uint_eq(r.st.requests, 1);
	result_free(&r);
	stop();
}
END_TEST

START_TEST(block2_server_uses_a_smaller_block_when_options_take_the_room)
{
	start(NULL);
	H.body_len = 5000;
	H.big_option = 300; /* 1024 + 300 passes max_message 1152 */
	struct result r;
	fetch(&r, EVUDP6_GET, "big", NULL, 0, NULL);
	ck_assert_int_eq(r.err, 0);
	uint8_t *want = pattern(5000, 0);
	ck_assert_uint_eq(r.len, 5000);
	ck_assert_mem_eq(r.body, want, 5000);
	ck_assert_uint_eq(r.st.block_size, 512);
	ck_assert_uint_eq(r.st.blocks_received, 10);
	ck_assert_int_eq(H.calls, 1);
	/* only the first block was tried at 1024; the client then asks for 512 */
	ck_assert_uint_eq(server_stats().smaller_blocks, 1);
	free(want);
	result_free(&r);
	stop();
}
END_TEST

/* ------------------------------------------------------------ client Block1 */

START_TEST(block1_upload_reaches_handler_once_whole)
{
	start(NULL);
	H.body_len = 5;
	uint8_t *up = pattern(5000, 3);
	struct result r;
	fetch(&r, EVUDP6_PUT, "store", up, 5000, NULL);
	ck_assert_int_eq(r.err, 0);
	ck_assert_int_eq(r.code, EVUDP6_CONTENT);
	ck_assert_uint_eq(r.st.blocks_sent, 5);
	ck_assert_uint_eq(r.st.requests, 5);
	ck_assert_int_eq(H.calls, 1);
	ck_assert_int_eq(H.seen_count, 1);
	ck_assert_uint_eq(H.seen_len, 5000);
	ck_assert_mem_eq(H.seen, up, 5000);
	struct evudp6_block_server_stats st = server_stats();
	ck_assert_uint_eq(st.continues, 4);
	ck_assert_uint_eq(st.uploads_started, 1);
	ck_assert_uint_eq(st.uploads_completed, 1);
	free(up);
	result_free(&r);
	stop();
}
END_TEST

START_TEST(block1_follows_the_server_smaller_size)
{
	struct evudp6_block_server_config sc = server_cfg();
	sc.block_size = 256;
	start(&sc);
	H.body_len = 5;
	uint8_t *up = pattern(5000, 4);
	struct result r;
	fetch(&r, EVUDP6_PUT, "store", up, 5000, NULL);
	ck_assert_int_eq(r.err, 0);
	/* 1024 first, then (5000 - 1024) / 256 rounded up */
	ck_assert_uint_eq(r.st.requests, 17);
	ck_assert_uint_eq(H.seen_len, 5000);
	ck_assert_mem_eq(H.seen, up, 5000);
	ck_assert_uint_eq(server_stats().size_changes, 1);
	free(up);
	result_free(&r);
	stop();
}
END_TEST

START_TEST(block1_client_uses_a_smaller_block_when_options_take_the_room)
{
	start(NULL);
	H.body_len = 2;
	static char query[300];
	memset(query, 'a', sizeof(query));
	uint8_t *up = pattern(3000, 10);
	struct result r = {0};
	struct evudp6_msg_builder b;
	request_builder(&b, EVUDP6_PUT, "store");
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_QUERY, query, 150);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_QUERY, query + 150, 150);
	evudp6_msg_builder_set_payload(&b, up, 3000);
	transfer(&r, &srv_addr, &b, NULL);
	ck_assert_int_eq(r.err, 0);
	ck_assert_uint_eq(r.st.upload_block_size, 512);
	ck_assert_uint_eq(r.st.blocks_sent, 6);
	ck_assert_uint_eq(r.st.bytes_sent, 3000);
	ck_assert_uint_eq(H.seen_len, 3000);
	ck_assert_mem_eq(H.seen, up, 3000);
	result_free(&r);
	/* a body that fits one block but not one message with the query */
	memset(&r, 0, sizeof(r));
	request_builder(&b, EVUDP6_PUT, "store");
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_QUERY, query, 150);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_QUERY, query + 150, 150);
	evudp6_msg_builder_set_payload(&b, up, 1000);
	transfer(&r, &srv_addr, &b, NULL);
	ck_assert_int_eq(r.err, 0);
	ck_assert_uint_eq(r.st.blocks_sent, 2);
	ck_assert_uint_eq(r.st.requests, 2);
	ck_assert_uint_eq(H.seen_len, 1000);
	ck_assert_mem_eq(H.seen, up, 1000);
	free(up);
	result_free(&r);
	stop();
}
END_TEST

START_TEST(block1_4_13_ends_upload_with_size1)
{
	struct evudp6_block_server_config sc = server_cfg();
	sc.max_body = 2000;
	start(&sc);
	uint8_t *up = pattern(5000, 5);
	struct result r;
	fetch(&r, EVUDP6_PUT, "store", up, 5000, NULL);
	ck_assert_int_eq(r.err, -EVUDP6_E_BLOCK_TOO_LARGE);
	ck_assert_int_eq(r.code, EVUDP6_CODE(4, 13));
	ck_assert_uint_eq(r.size1, 2000);
	ck_assert_uint_eq(r.st.requests, 1); /* Size1 5000 told it at block 0 */
	ck_assert_int_eq(H.calls, 0);
	ck_assert_uint_eq(server_stats().too_large, 1);
	free(up);
	result_free(&r);
	stop();
}
END_TEST

/* After one 4.13 with Block1: the handler's answer, the body seen once and
 * whole, in @p requests exchanges of which @p blocks carried Block1. */
static void expect_sent_again(const struct result *r, const uint8_t *up, size_t len, uint64_t requests,
                              uint64_t blocks)
{
	ck_assert_int_eq(r->err, 0);
	ck_assert_int_eq(r->code, EVUDP6_CONTENT);
	ck_assert_int_eq(H.refusals, 1);
	ck_assert_int_eq(H.seen_count, 1);
	ck_assert_uint_eq(H.seen_len, len);
	ck_assert_mem_eq(H.seen, up, len);
	ck_assert_uint_eq(r->st.requests, requests);
	ck_assert_uint_eq(r->st.blocks_sent, blocks);
	ck_assert_uint_eq(r->st.too_large_retries, 1);
}

/* RFC 7959 2.9.3: a 4.13 with Block1 to a body sent in one message asks
 * for it in blocks of that size; the client sends it again so, once. */
START_TEST(block1_4_13_with_block1_sends_the_body_again_in_that_size)
{
	start(NULL);
	H.body_len = 5;
	H.too_large = true;
	H.too_large_szx = 4; /* 256 */
	H.too_large_size1 = 4096;
	uint8_t *up = pattern(800, 11);
	struct result r;
	fetch(&r, EVUDP6_PUT, "store", up, 800, NULL);
	/* the one message, then 256 + 256 + 256 + 32 */
	expect_sent_again(&r, up, 800, 5, 4);
	ck_assert_uint_eq(r.len, 5);
	ck_assert_uint_eq(r.st.bytes_sent, 800);
	ck_assert_uint_eq(r.st.upload_block_size, 256);
	struct evudp6_block_server_stats st = server_stats();
	ck_assert_uint_eq(st.uploads_started, 1);
	ck_assert_uint_eq(st.uploads_completed, 1);
	ck_assert_uint_eq(st.continues, 3);
	result_free(&r);
	/* without Size1 too, and a size the body fits in one block of */
	H.too_large_size1 = 0;
	H.too_large_szx = 6;
	H.refusals = H.seen_count = 0;
	fetch(&r, EVUDP6_PUT, "store", up, 800, NULL);
	expect_sent_again(&r, up, 800, 2, 1);
	free(up);
	result_free(&r);
	stop();
}
END_TEST

/* What still ends at the 4.13, as before: no Block1 in it, a Size1 below
 * the body, SZX 7, a 4.13 to the retry, and a 4.13 during an upload. */
START_TEST(block1_4_13_without_a_usable_block1_ends_the_request)
{
	start(NULL);
	H.body_len = 5;
	H.too_large = true;
	uint8_t *up = pattern(5000, 12);
	static const struct {
		int szx;        /* Block1 SZX in the 4.13, -1 none */
		uint32_t size1; /* Size1 in the 4.13, 0 none */
		bool all;       /* also to a body that came in blocks */
		size_t len;     /* of the body */
		int err, requests, retries;
	} cases[] = {
	    /* no Block1: the server's answer is passed on */
	    {-1, 512, false, 800, 0, 1, 0},
	    /* Size1: the server takes no more than 512 bytes, in any block size */
	    {4, 512, false, 800, 0, 1, 0},
	    /* BERT is not for UDP */
	    {7, 0, false, 800, -EVUDP6_E_BLOCK_INVALID, 1, 0},
	    /* the retry's blocks refused too: once is all */
	    {4, 0, true, 800, -EVUDP6_E_BLOCK_TOO_LARGE, 5, 1},
	    /* an upload from the start: its 4.13 with Block1 ends it */
	    {4, 0, true, 5000, -EVUDP6_E_BLOCK_TOO_LARGE, 5, 0},
	};
	int refusals = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		H.too_large_szx = cases[i].szx;
		H.too_large_size1 = cases[i].size1;
		H.too_large_all = cases[i].all;
		struct result r;
		fetch(&r, EVUDP6_PUT, "store", up, cases[i].len, NULL);
		refusals += 1 + cases[i].retries;
		ck_assert_msg(r.err == cases[i].err, "case %zu: err %d, want %d", i, r.err, cases[i].err);
		ck_assert_int_eq(r.code, EVUDP6_CODE(4, 13));
		ck_assert_uint_eq(r.size1, cases[i].size1);
		ck_assert_uint_eq(r.st.requests, (unsigned)cases[i].requests);
		ck_assert_uint_eq(r.st.too_large_retries, (unsigned)cases[i].retries);
		ck_assert_int_eq(H.refusals, refusals);
		ck_assert_int_eq(H.seen_count, 0);
		result_free(&r);
	}
	free(up);
	stop();
}
END_TEST

START_TEST(block1_request_tag_keeps_concurrent_uploads_apart_and_4_08_names_a_lost_one)
{
	/* Two uploads of the same resource from one client, interleaved block
	 * by block (NSTART 1): Request-Tag keeps them apart. */
	start(NULL);
	H.body_len = 2;
	uint8_t *a = pattern(3000, 6), *b2 = pattern(3000, 7);
	struct result ra = {0}, rb = {0};
	struct evudp6_msg_builder b;
	request_builder(&b, EVUDP6_PUT, "same");
	evudp6_msg_builder_set_payload(&b, a, 3000);
	ck_assert_int_eq(evudp6_block_request(cli, &srv_addr, &b, NULL, on_done, &ra, NULL), 0);
	request_builder(&b, EVUDP6_PUT, "same");
	evudp6_msg_builder_set_payload(&b, b2, 3000);
	ck_assert_int_eq(evudp6_block_request(cli, &srv_addr, &b, NULL, on_done, &rb, NULL), 0);
	RUN_UNTIL(ra.calls && rb.calls);
	ck_assert_int_eq(ra.err, 0);
	ck_assert_int_eq(rb.err, 0);
	ck_assert_int_eq(H.seen_count, 2);
	ck_assert_mem_eq(H.seen, b2, 3000);
	result_free(&ra);
	result_free(&rb);
	stop();

	/* Room for one upload only: the second evicts the first, whose next
	 * block gets 4.08. */
	struct evudp6_block_server_config sc = server_cfg();
	sc.max_uploads = 1;
	start(&sc);
	memset(&ra, 0, sizeof(ra));
	memset(&rb, 0, sizeof(rb));
	request_builder(&b, EVUDP6_PUT, "same");
	evudp6_msg_builder_set_payload(&b, a, 3000);
	ck_assert_int_eq(evudp6_block_request(cli, &srv_addr, &b, NULL, on_done, &ra, NULL), 0);
	request_builder(&b, EVUDP6_PUT, "same");
	evudp6_msg_builder_set_payload(&b, b2, 3000);
	ck_assert_int_eq(evudp6_block_request(cli, &srv_addr, &b, NULL, on_done, &rb, NULL), 0);
	RUN_UNTIL(ra.calls && rb.calls);
	ck_assert_int_eq(ra.err, -EVUDP6_E_BLOCK_INCOMPLETE);
	ck_assert_int_eq(ra.code, EVUDP6_CODE(4, 8));
	ck_assert_int_eq(rb.err, 0);
	ck_assert_int_eq(H.seen_count, 1);
	ck_assert_mem_eq(H.seen, b2, 3000);
	struct evudp6_block_server_stats st = server_stats();
	ck_assert_uint_eq(st.incomplete, 1);
	ck_assert_uint_eq(st.uploads_evicted, 1);
	free(a);
	free(b2);
	result_free(&ra);
	result_free(&rb);
	stop();
}
END_TEST

START_TEST(block1_and_block2_echo_both_ways)
{
	start(NULL);
	H.echo = true;
	uint8_t *up = pattern(7000, 8);
	struct result r;
	fetch(&r, EVUDP6_POST, "echo", up, 7000, NULL);
	ck_assert_int_eq(r.err, 0);
	ck_assert_uint_eq(r.len, 7000);
	ck_assert_mem_eq(r.body, up, 7000);
	ck_assert_uint_eq(r.st.blocks_sent, 7);
	ck_assert_uint_eq(r.st.blocks_received, 7);
	ck_assert_int_eq(H.calls, 1);
	free(up);
	result_free(&r);
	stop();
}
END_TEST

/* ------------------------------------------------------------ continue */

struct first {
	int calls;
	uint8_t buf[2048];
	size_t len;
};

static void on_first(struct evudp6_request_handle rq, int err, const struct evudp6_msg *rsp,
                     const struct evudp6_addr *remote, const struct evudp6_icmp *icmp, void *arg)
{
	(void)rq, (void)remote, (void)icmp;
	struct first *f = arg;
	f->calls++;
	ck_assert_int_eq(err, 0);
	memcpy(f->buf, rsp->data, rsp->len);
	f->len = rsp->len;
}

START_TEST(block_continue_completes_a_first_block_from_elsewhere)
{
	start(NULL);
	H.body_len = 2500;
	struct first f = {0};
	struct evudp6_msg_builder b;
	request_builder(&b, EVUDP6_GET, "obs");
	evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_OBSERVE, 0);
	ck_assert_int_eq(evudp6_messenger_request(cli, &srv_addr, &b, 0, on_first, &f, NULL), 0);
	RUN_UNTIL(f.calls > 0);
	struct evudp6_msg first;
	ck_assert_int_eq(evudp6_msg_decode(&first, f.buf, f.len), 0);
	ck_assert_uint_eq(first.payload_len, 1024);
	struct result r = {0};
	request_builder(&b, EVUDP6_GET, "obs");
	evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_OBSERVE, 0);
	ck_assert_int_eq(evudp6_block_continue(cli, &srv_addr, &b, &first, NULL, on_done, &r, NULL), 0);
	ck_assert_int_eq(r.calls, 0);
	RUN_UNTIL(r.calls > 0);
	ck_assert_int_eq(r.err, 0);
	uint8_t *want = pattern(2500, 0);
	ck_assert_uint_eq(r.len, 2500);
	ck_assert_mem_eq(r.body, want, 2500);
	ck_assert_uint_eq(r.st.requests, 2);
	/* the follow-ups (without Observe) came from the snapshot */
	ck_assert_int_eq(H.calls, 1);
	ck_assert_uint_eq(server_stats().blocks_from_cache, 2);
	/* a response that is not a first block cannot be continued */
	struct evudp6_msg_builder nb;
	evudp6_msg_builder_init(&nb, EVUDP6_ACK, EVUDP6_CONTENT, 1);
	uint8_t buf[64];
	ssize_t n = evudp6_msg_encode(&nb, buf, sizeof(buf));
	ck_assert_int_eq(evudp6_msg_decode(&first, buf, (size_t)n), 0);
	struct result r2 = {0};
	ck_assert_int_eq(evudp6_block_continue(cli, &srv_addr, &b, &first, NULL, on_done, &r2, NULL),
	                 -EINVAL);
	free(want);
	result_free(&r);
	stop();
}
END_TEST

START_TEST(block_server_first_block_of_a_notification_then_continue)
{
	/* What an Observe layer does: the first block in a message of its
	 * own, the rest fetched by the client from the snapshot. */
	start(NULL);
	uint8_t *body = pattern(3000, 11);
	struct sockaddr_in6 sa;
	ck_assert_int_eq(evudp6_transport_local(evudp6_messenger_transport(cli), &sa), 0);
	struct evudp6_addr client;
	ck_assert_int_eq(evudp6_addr_from_literal(&client, "::1", ntohs(sa.sin6_port), 0), 0);
	struct evudp6_msg_builder reg;
	request_builder(&reg, EVUDP6_GET, "obs");
	evudp6_msg_builder_add_uint(&reg, EVUDP6_OPT_OBSERVE, 0);
	uint8_t regbuf[128];
	ssize_t n = evudp6_msg_encode(&reg, regbuf, sizeof(regbuf));
	struct evudp6_msg regmsg;
	ck_assert_int_eq(evudp6_msg_decode(&regmsg, regbuf, (size_t)n), 0);
	struct evudp6_msg_builder nb;
	evudp6_msg_builder_init(&nb, EVUDP6_NON, EVUDP6_CONTENT, 7);
	evudp6_msg_builder_add_uint(&nb, EVUDP6_OPT_OBSERVE, 5);
	ck_assert_int_eq(evudp6_block_server_first(bs, &client, &regmsg, &nb, body, 3000), 0);
	uint8_t notif[1500];
	n = evudp6_msg_encode(&nb, notif, sizeof(notif));
	ck_assert_int_gt(n, 0);
	struct evudp6_msg first;
	ck_assert_int_eq(evudp6_msg_decode(&first, notif, (size_t)n), 0);
	struct evudp6_block b2;
	ck_assert_int_eq(evudp6_block_get(&first, EVUDP6_OPT_BLOCK2, &b2), 1);
	ck_assert(b2.more);
	ck_assert_uint_eq(b2.num, 0);
	ck_assert_uint_eq(first.payload_len, 1024);
	struct evudp6_opt o;
	ck_assert_int_eq(evudp6_msg_find_opt(&first, EVUDP6_OPT_ETAG, &o), 1);
	ck_assert_uint_eq(server_stats().snapshots, 1);
	struct result r = {0};
	request_builder(&reg, EVUDP6_GET, "obs");
	evudp6_msg_builder_add_uint(&reg, EVUDP6_OPT_OBSERVE, 0);
	ck_assert_int_eq(evudp6_block_continue(cli, &srv_addr, &reg, &first, NULL, on_done, &r, NULL), 0);
	RUN_UNTIL(r.calls > 0);
	ck_assert_int_eq(r.err, 0);
	ck_assert_uint_eq(r.len, 3000);
	ck_assert_mem_eq(r.body, body, 3000);
	ck_assert_int_eq(H.calls, 0);
	ck_assert_uint_eq(server_stats().blocks_from_cache, 2);
	/* a body of one block is just the payload */
	evudp6_msg_builder_init(&nb, EVUDP6_NON, EVUDP6_CONTENT, 8);
	ck_assert_int_eq(evudp6_block_server_first(bs, &client, &regmsg, &nb, body, 100), 0);
	ck_assert_uint_eq(nb.nopts, 0);
	ck_assert_uint_eq(nb.payload_len, 100);
	free(body);
	result_free(&r);
	stop();
}
END_TEST

/* ------------------------------------------------------------ bad input, on the wire */

/* Send one hand-built request from a plain socket, run the loop until the
 * answer comes, decode it into @p out (buffer @p buf). */
static void raw_ask(int fd, struct evudp6_msg_builder *b, uint8_t *buf, size_t cap, struct evudp6_msg *out)
{
	uint8_t req[2048];
	ssize_t n = evudp6_msg_encode(b, req, sizeof(req));
	ck_assert_int_gt(n, 0);
	testnet_send(fd, "::1", evudp6_addr_port(&srv_addr), req, (size_t)n);
	ssize_t got = -1;
	for (int i = 0; i < 4000 && got < 0; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		got = recv(fd, buf, cap, MSG_DONTWAIT);
		if (got < 0)
			usleep(500);
	}
	ck_assert_int_gt(got, 0);
	ck_assert_int_eq(evudp6_msg_decode(out, buf, (size_t)got), 0);
}

static uint16_t raw_mid = 0x4000;

static void raw_builder(struct evudp6_msg_builder *b, uint8_t code, const char *path)
{
	evudp6_msg_builder_init(b, EVUDP6_CON, code, raw_mid++);
	evudp6_msg_builder_set_token(b, "tk", 2);
	evudp6_msg_builder_add_opt(b, EVUDP6_OPT_URI_PATH, path, strlen(path));
}

/* One Block1 block of a PUT to @p path from @p fd; the answer's code. */
static uint8_t raw_block1(int fd, const char *path, struct evudp6_block blk, const void *payload, size_t len,
                          struct evudp6_msg *rsp, uint8_t *buf, size_t cap)
{
	struct evudp6_msg_builder b;
	raw_builder(&b, EVUDP6_PUT, path);
	evudp6_block_add(&b, EVUDP6_OPT_BLOCK1, &blk);
	evudp6_msg_builder_set_payload(&b, payload, len);
	raw_ask(fd, &b, buf, cap, rsp);
	return rsp->code;
}

START_TEST(block_server_szx7_gets_4_00)
{
	start(NULL);
	H.body_len = 3000;
	int fd = testnet_socket(AF_INET6, "::1");
	uint8_t buf[2048];
	struct evudp6_msg rsp;
	struct evudp6_msg_builder b;
	struct evudp6_block bert = {.num = 0, .szx = 7};
	raw_builder(&b, EVUDP6_GET, "big");
	evudp6_block_add(&b, EVUDP6_OPT_BLOCK2, &bert);
	raw_ask(fd, &b, buf, sizeof(buf), &rsp);
	ck_assert_int_eq(rsp.code, EVUDP6_CODE(4, 0));
	raw_builder(&b, EVUDP6_PUT, "big");
	bert.more = true;
	evudp6_block_add(&b, EVUDP6_OPT_BLOCK1, &bert);
	static uint8_t block[1024];
	evudp6_msg_builder_set_payload(&b, block, sizeof(block));
	raw_ask(fd, &b, buf, sizeof(buf), &rsp);
	ck_assert_int_eq(rsp.code, EVUDP6_CODE(4, 0));
	ck_assert_uint_eq(server_stats().bad_szx, 2);
	ck_assert_int_eq(H.calls, 0);
	close(fd);
	stop();
}
END_TEST

START_TEST(block_server_num_past_the_end_gets_4_02)
{
	start(NULL);
	H.body_len = 3000;
	int fd = testnet_socket(AF_INET6, "::1");
	uint8_t buf[2048];
	struct evudp6_msg rsp;
	struct evudp6_msg_builder b;
	/* with a snapshot: block 0 first, then block 3 of 3000 / 1024 */
	raw_builder(&b, EVUDP6_GET, "big");
	raw_ask(fd, &b, buf, sizeof(buf), &rsp);
	ck_assert_int_eq(rsp.code, EVUDP6_CONTENT);
	struct evudp6_block got;
	ck_assert_int_eq(evudp6_block_get(&rsp, EVUDP6_OPT_BLOCK2, &got), 1);
	ck_assert(got.more);
	struct evudp6_block past = {.num = 3, .szx = 6};
	raw_builder(&b, EVUDP6_GET, "big");
	evudp6_block_add(&b, EVUDP6_OPT_BLOCK2, &past);
	raw_ask(fd, &b, buf, sizeof(buf), &rsp);
	ck_assert_int_eq(rsp.code, EVUDP6_CODE(4, 2));
	/* without one (other path): the handler runs and the answer is the same */
	raw_builder(&b, EVUDP6_GET, "other");
	evudp6_block_add(&b, EVUDP6_OPT_BLOCK2, &past);
	raw_ask(fd, &b, buf, sizeof(buf), &rsp);
	ck_assert_int_eq(rsp.code, EVUDP6_CODE(4, 2));
	/* the last block itself is fine */
	past.num = 2;
	raw_builder(&b, EVUDP6_GET, "big");
	evudp6_block_add(&b, EVUDP6_OPT_BLOCK2, &past);
	raw_ask(fd, &b, buf, sizeof(buf), &rsp);
	ck_assert_int_eq(rsp.code, EVUDP6_CONTENT);
	ck_assert_uint_eq(rsp.payload_len, 3000 - 2048);
	ck_assert_int_eq(evudp6_block_get(&rsp, EVUDP6_OPT_BLOCK2, &got), 1);
	ck_assert(!got.more);
	struct evudp6_block_server_stats st = server_stats();
	ck_assert_uint_eq(st.num_beyond_end, 2);
	ck_assert_uint_eq(st.blocks_from_cache, 1);
	ck_assert_int_eq(H.calls, 2);
	close(fd);
	stop();
}
END_TEST

START_TEST(block_icmp_cb_takes_an_ipv6_mtu_below_1280_as_1280)
{
	/* No IPv6 link is smaller than 1280 (RFC 8200 5), and 1024-byte
	 * blocks fit that: a Packet Too Big saying 600 for an IPv6 client
	 * lowers nothing. */
	start(NULL);
	H.body_len = 3000;
	struct sockaddr_in6 sa;
	ck_assert_int_eq(evudp6_transport_local(evudp6_messenger_transport(cli), &sa), 0);
	struct evudp6_addr client;
	ck_assert_int_eq(evudp6_addr_from_literal(&client, "::1", ntohs(sa.sin6_port), 0), 0);
	struct evudp6_icmp ptb = {
	    .err = EMSGSIZE, .origin = EVUDP6_ORIGIN_ICMP6, .type = 2, .code = 0, .info = 600};
	evudp6_block_icmp_cb(srv, -EMSGSIZE, &ptb, &client, bs);
	ck_assert_uint_eq(server_stats().path_mtu_hints, 1);
	struct result r = {0};
	struct evudp6_msg_builder b;
	request_builder(&b, EVUDP6_GET, "big");
	transfer(&r, &srv_addr, &b, NULL);
	ck_assert_int_eq(r.err, 0);
	ck_assert_uint_eq(r.len, 3000);
	ck_assert_uint_eq(r.st.block_size, 1024);
	ck_assert_uint_eq(r.st.blocks_received, 3);
	result_free(&r);
	stop();
}
END_TEST

START_TEST(block_icmp_cb_packet_too_big_shrinks_the_blocks_to_that_peer)
{
	/* The client talks IPv4 (V4MAPPED) to the server; a fragmentation
	 * needed with MTU 576 told for the client makes the server slice
	 * its answers to that client to fit: 512 bytes (and some 30 of CoAP,
	 * 28 of IPv4 and UDP). */
	start(NULL);
	H.body_len = 3000;
	struct evudp6_addr to;
	ck_assert_int_eq(evudp6_addr_from_literal(&to, "127.0.0.1",
	                                          evudp6_transport_port(evudp6_messenger_transport(srv)), 0),
	                 0);
	struct sockaddr_in6 sa;
	ck_assert_int_eq(evudp6_transport_local(evudp6_messenger_transport(cli), &sa), 0);
	struct evudp6_addr client;
	ck_assert_int_eq(evudp6_addr_from_literal(&client, "127.0.0.1", ntohs(sa.sin6_port), 0), 0);
	struct evudp6_icmp ptb = {
	    .err = EMSGSIZE, .origin = EVUDP6_ORIGIN_ICMP, .type = 3, .code = 4, .info = 576};
	struct evudp6_icmp unreachable = {
	    .err = EHOSTUNREACH, .origin = EVUDP6_ORIGIN_ICMP, .type = 3, .code = 1};
	evudp6_block_icmp_cb(srv, -EHOSTUNREACH, &unreachable, &client, bs); /* not a Packet Too Big */
	ck_assert_uint_eq(server_stats().path_mtu_hints, 0);
	evudp6_block_icmp_cb(srv, -EMSGSIZE, &ptb, &client, bs);
	ck_assert_uint_eq(server_stats().path_mtu_hints, 1);
	struct result r = {0};
	struct evudp6_msg_builder b;
	request_builder(&b, EVUDP6_GET, "big");
	transfer(&r, &to, &b, NULL);
	ck_assert_int_eq(r.err, 0);
	ck_assert_uint_eq(r.len, 3000);
	ck_assert_uint_eq(r.st.block_size, 512);
	ck_assert_uint_eq(r.st.blocks_received, 6);
	result_free(&r);
	/* the client side: an upload in flight to that remote goes on in 256 */
	memset(&r, 0, sizeof(r));
	uint8_t *up = pattern(4000, 12);
	request_builder(&b, EVUDP6_PUT, "store");
	evudp6_msg_builder_set_payload(&b, up, 4000);
	struct evudp6_block_request *br;
	ck_assert_int_eq(evudp6_block_request(cli, &to, &b, NULL, on_done, &r, &br), 0);
	struct evudp6_addr server_v4 = to;
	evudp6_block_icmp_cb(cli, -EMSGSIZE, &ptb, &server_v4, NULL);
	RUN_UNTIL(r.calls > 0);
	ck_assert_int_eq(r.err, 0);
	ck_assert_uint_eq(r.st.path_mtu_reductions, 1);
	ck_assert_uint_eq(r.st.upload_block_size, 256);
	/* block 0 was already on its way at 1024, then (4000 - 1024) / 256 */
	ck_assert_uint_eq(r.st.blocks_sent, 13);
	ck_assert_uint_eq(H.seen_len, 4000);
	ck_assert_mem_eq(H.seen, up, 4000);
	free(up);
	result_free(&r);
	stop();
}
END_TEST

START_TEST(block_server_answers_a_larger_num_in_its_smaller_size)
{
	/* NUM 1 of 1024 asked from a server that slices in 256: the bytes
	 * 1024..1279 as NUM 4 of 256, not NUM 1 of 256. */
	struct evudp6_block_server_config sc = server_cfg();
	sc.block_size = 256;
	start(&sc);
	H.body_len = 3000;
	int fd = testnet_socket(AF_INET6, "::1");
	uint8_t buf[2048];
	struct evudp6_msg rsp;
	struct evudp6_msg_builder b;
	uint8_t *want = pattern(3000, 0);
	for (int cached = 0; cached < 2; cached++) {
		struct evudp6_block ask = {.num = 1, .szx = 6};
		raw_builder(&b, EVUDP6_GET, "big");
		evudp6_block_add(&b, EVUDP6_OPT_BLOCK2, &ask);
		raw_ask(fd, &b, buf, sizeof(buf), &rsp);
		ck_assert_int_eq(rsp.code, EVUDP6_CONTENT);
		struct evudp6_block got;
		ck_assert_int_eq(evudp6_block_get(&rsp, EVUDP6_OPT_BLOCK2, &got), 1);
		ck_assert_uint_eq(got.num, 4);
		ck_assert_uint_eq(got.szx, 4);
		ck_assert(got.more);
		ck_assert_uint_eq(rsp.payload_len, 256);
		ck_assert_mem_eq(rsp.payload, want + 1024, 256);
	}
	/* the first from the handler (no snapshot yet), the second from the snapshot */
	ck_assert_int_eq(H.calls, 1);
	ck_assert_uint_eq(server_stats().blocks_from_cache, 1);
	free(want);
	close(fd);
	stop();
}
END_TEST

START_TEST(block_server_block1_out_of_order_gets_4_08)
{
	start(NULL);
	int fd = testnet_socket(AF_INET6, "::1");
	uint8_t buf[2048];
	static uint8_t block[256];
	struct evudp6_msg rsp;
	struct evudp6_block blk = {.num = 0, .more = true, .szx = 4};
	ck_assert_int_eq(raw_block1(fd, "up", blk, block, 256, &rsp, buf, sizeof(buf)), EVUDP6_CODE(2, 31));
	struct evudp6_block ack;
	ck_assert_int_eq(evudp6_block_get(&rsp, EVUDP6_OPT_BLOCK1, &ack), 1);
	ck_assert_uint_eq(ack.num, 0);
	ck_assert(ack.more);
	ck_assert_uint_eq(ack.szx, 4);
	/* block 2 before block 1 */
	blk.num = 2;
	ck_assert_int_eq(raw_block1(fd, "up", blk, block, 256, &rsp, buf, sizeof(buf)), EVUDP6_CODE(4, 8));
	/* the upload is gone: block 1 now is a gap too */
	blk.num = 1;
	ck_assert_int_eq(raw_block1(fd, "up", blk, block, 256, &rsp, buf, sizeof(buf)), EVUDP6_CODE(4, 8));
	struct evudp6_block_server_stats st = server_stats();
	ck_assert_uint_eq(st.incomplete, 2);
	ck_assert_uint_eq(st.uploads_now, 0);
	ck_assert_uint_eq(st.upload_bytes_now, 0);
	ck_assert_int_eq(H.calls, 0);
	close(fd);
	stop();
}
END_TEST

START_TEST(block_server_block_size_change_mid_upload)
{
	start(NULL);
	int fd = testnet_socket(AF_INET6, "::1");
	uint8_t buf[2048];
	uint8_t *body = pattern(1024 + 512 + 100, 9);
	struct evudp6_msg rsp;
	/* 1024, then 512 at NUM 2 (same offset): accepted */
	struct evudp6_block blk = {.num = 0, .more = true, .szx = 6};
	ck_assert_int_eq(raw_block1(fd, "up", blk, body, 1024, &rsp, buf, sizeof(buf)), EVUDP6_CODE(2, 31));
	blk = (struct evudp6_block){.num = 2, .more = true, .szx = 5};
	ck_assert_int_eq(raw_block1(fd, "up", blk, body + 1024, 512, &rsp, buf, sizeof(buf)),
	                 EVUDP6_CODE(2, 31));
	blk = (struct evudp6_block){.num = 3, .more = false, .szx = 5};
	ck_assert_int_eq(raw_block1(fd, "up", blk, body + 1536, 100, &rsp, buf, sizeof(buf)), EVUDP6_CONTENT);
	struct evudp6_block echo;
	ck_assert_int_eq(evudp6_block_get(&rsp, EVUDP6_OPT_BLOCK1, &echo), 1);
	ck_assert_uint_eq(echo.num, 3);
	ck_assert(!echo.more);
	ck_assert_int_eq(H.calls, 1);
	ck_assert_uint_eq(H.seen_len, 1636);
	ck_assert_mem_eq(H.seen, body, 1636);
	/* 1024, then 512 at NUM 1 (offset 512, overlapping): 4.08 */
	blk = (struct evudp6_block){.num = 0, .more = true, .szx = 6};
	ck_assert_int_eq(raw_block1(fd, "up", blk, body, 1024, &rsp, buf, sizeof(buf)), EVUDP6_CODE(2, 31));
	blk = (struct evudp6_block){.num = 1, .more = true, .szx = 5};
	ck_assert_int_eq(raw_block1(fd, "up", blk, body + 512, 512, &rsp, buf, sizeof(buf)),
	                 EVUDP6_CODE(4, 8));
	/* a short non-final block: 4.00 */
	blk = (struct evudp6_block){.num = 0, .more = true, .szx = 6};
	ck_assert_int_eq(raw_block1(fd, "up", blk, body, 1000, &rsp, buf, sizeof(buf)), EVUDP6_CODE(4, 0));
	struct evudp6_block_server_stats st = server_stats();
	ck_assert_uint_eq(st.size_changes, 1);
	ck_assert_uint_eq(st.incomplete, 1);
	ck_assert_uint_eq(st.wrong_length, 1);
	ck_assert_int_eq(H.calls, 1);
	free(body);
	close(fd);
	stop();
}
END_TEST

START_TEST(block_server_size1_over_max_body_gets_4_13_with_size1)
{
	struct evudp6_block_server_config sc = server_cfg();
	sc.max_body = 4096;
	start(&sc);
	int fd = testnet_socket(AF_INET6, "::1");
	uint8_t buf[2048];
	static uint8_t block[1024];
	struct evudp6_msg rsp;
	struct evudp6_msg_builder b;
	struct evudp6_block blk = {.num = 0, .more = true, .szx = 6};
	raw_builder(&b, EVUDP6_PUT, "up");
	evudp6_block_add(&b, EVUDP6_OPT_BLOCK1, &blk);
	evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_SIZE1, 4097);
	evudp6_msg_builder_set_payload(&b, block, 1024);
	raw_ask(fd, &b, buf, sizeof(buf), &rsp);
	ck_assert_int_eq(rsp.code, EVUDP6_CODE(4, 13));
	struct evudp6_opt o;
	uint32_t size1 = 0;
	ck_assert_int_eq(evudp6_msg_find_opt(&rsp, EVUDP6_OPT_SIZE1, &o), 1);
	ck_assert_int_eq(evudp6_opt_uint(&o, &size1), 0);
	ck_assert_uint_eq(size1, 4096);
	/* without Size1: refused at the block that passes the limit */
	for (uint32_t i = 0; i < 5; i++) {
		blk.num = i;
		ck_assert_int_eq(raw_block1(fd, "up", blk, block, 1024, &rsp, buf, sizeof(buf)),
		                 i < 4 ? EVUDP6_CODE(2, 31) : EVUDP6_CODE(4, 13));
	}
	struct evudp6_block_server_stats st = server_stats();
	ck_assert_uint_eq(st.too_large, 2);
	ck_assert_uint_eq(st.uploads_now, 0);
	ck_assert_int_eq(H.calls, 0);
	close(fd);
	stop();
}
END_TEST

START_TEST(block_server_upload_flood_from_many_sources_stays_bounded)
{
	struct evudp6_block_server_config sc = server_cfg();
	sc.max_uploads = 8;
	sc.upload_bytes = 8 * 4096;
	start(&sc);
	enum { SOURCES = 64 };
	int fds[SOURCES];
	uint8_t buf[2048];
	static uint8_t block[1024];
	struct evudp6_msg rsp;
	struct evudp6_block blk = {.num = 0, .more = true, .szx = 6};
	for (int i = 0; i < SOURCES; i++) {
		fds[i] = testnet_socket(AF_INET6, "::1");
		ck_assert_int_eq(raw_block1(fds[i], "up", blk, block, 1024, &rsp, buf, sizeof(buf)),
		                 EVUDP6_CODE(2, 31));
		struct evudp6_block_server_stats st = server_stats();
		ck_assert_uint_le(st.uploads_now, 8);
		ck_assert_uint_le(st.upload_bytes_now, 8 * 4096);
	}
	struct evudp6_block_server_stats st = server_stats();
	ck_assert_uint_eq(st.uploads_started, SOURCES);
	ck_assert_uint_eq(st.uploads_now, 8);
	ck_assert_uint_eq(st.uploads_evicted, SOURCES - 8);
	/* the newest source still completes its upload */
	blk = (struct evudp6_block){.num = 1, .more = false, .szx = 6};
	ck_assert_int_eq(raw_block1(fds[SOURCES - 1], "up", blk, block, 10, &rsp, buf, sizeof(buf)),
	                 EVUDP6_CONTENT);
	ck_assert_uint_eq(H.seen_len, 1034);
	/* the oldest gets 4.08 */
	ck_assert_int_eq(raw_block1(fds[0], "up", blk, block, 10, &rsp, buf, sizeof(buf)), EVUDP6_CODE(4, 8));
	for (int i = 0; i < SOURCES; i++)
		close(fds[i]);
	stop();
}
END_TEST

/* A server that answers every request with one canned Block2 response. */
struct canned {
	int fd;
	struct evudp6_block b2;
	size_t payload;
	int answers_left; /* 0: answer every request */
	int answered;
	/* from this answer on (when > 0): no Block2, plain_payload bytes */
	int plain_from;
	size_t plain_payload;
};

static void canned_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct canned *c = arg;
	uint8_t buf[2048];
	struct sockaddr_in6 from;
	socklen_t fl = sizeof(from);
	ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
	struct evudp6_msg req;
	if (n <= 0 || evudp6_msg_decode(&req, buf, (size_t)n) < 0)
		return;
	if (c->answers_left && c->answered >= c->answers_left)
		return;
	c->answered++;
	static uint8_t body[1024];
	bool plain = c->plain_from > 0 && c->answered >= c->plain_from;
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, EVUDP6_ACK, EVUDP6_CONTENT, req.mid);
	evudp6_msg_builder_set_token(&b, req.token, req.tkl);
	if (!plain)
		evudp6_block_add(&b, EVUDP6_OPT_BLOCK2, &c->b2);
	evudp6_msg_builder_set_payload(&b, body, plain ? c->plain_payload : c->payload);
	uint8_t out[2048];
	ssize_t m = evudp6_msg_encode(&b, out, sizeof(out));
	sendto(fd, out, (size_t)m, 0, (struct sockaddr *)&from, fl);
}

/* Serve @p c on a socket of its own on ::1; @p to receives its address. */
static struct event *canned_listen(struct canned *c, struct evudp6_addr *to)
{
	c->fd = testnet_socket(AF_INET6, "::1");
	struct sockaddr_in6 sa;
	socklen_t sl = sizeof(sa);
	getsockname(c->fd, (struct sockaddr *)&sa, &sl);
	evudp6_addr_from_literal(to, "::1", ntohs(sa.sin6_port), 0);
	struct event *ev = event_new(base, c->fd, EV_READ | EV_PERSIST, canned_cb, c);
	event_add(ev, NULL);
	return ev;
}

/* A response without Block2 in the middle of a download replaces the
 * body: one larger than max_body ends the transfer, as more blocks would. */
START_TEST(block2_plain_answer_mid_download_over_max_body_fails_named)
{
	start(NULL);
	struct canned c = {
	    .b2 = {.num = 0, .more = true, .szx = 0}, .payload = 16, .plain_from = 2, .plain_payload = 500};
	struct evudp6_addr to;
	struct event *ev = canned_listen(&c, &to);
	struct evudp6_block_config cfg = client_cfg();
	cfg.max_body = 100;
	struct result r = {0};
	struct evudp6_msg_builder b;
	request_builder(&b, EVUDP6_GET, "x");
	transfer(&r, &to, &b, &cfg);
	ck_assert_int_eq(r.err, -EVUDP6_E_BLOCK_BODY_LIMIT);
	ck_assert_int_eq(r.code, EVUDP6_CONTENT);
	ck_assert_uint_eq(r.len, 500); /* the response that ended it */
	ck_assert_uint_eq(r.st.requests, 2);
	ck_assert_uint_eq(r.st.blocks_received, 1);
	ck_assert_int_eq(c.answered, 2);
	result_free(&r);
	/* within max_body it is the answer */
	c.answered = 0;
	c.plain_payload = 60;
	memset(&r, 0, sizeof(r));
	request_builder(&b, EVUDP6_GET, "x");
	transfer(&r, &to, &b, &cfg);
	ck_assert_int_eq(r.err, 0);
	ck_assert_uint_eq(r.len, 60);
	ck_assert_uint_eq(r.st.requests, 2);
	result_free(&r);
	event_free(ev);
	close(c.fd);
	stop();
}
END_TEST

START_TEST(block2_client_refuses_szx7_and_short_blocks)
{
	start(NULL);
	struct canned c = {0};
	struct evudp6_addr to;
	struct event *ev = canned_listen(&c, &to);
	struct {
		struct evudp6_block b2;
		size_t payload;
	} cases[] = {
	    {{.num = 0, .more = true, .szx = 7}, 1024}, /* BERT over UDP */
	    {{.num = 0, .more = true, .szx = 6}, 1000}, /* a short block with M=1 */
	    {{.num = 1, .more = true, .szx = 6}, 1024}, /* NUM 1 for the first block */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		c.b2 = cases[i].b2;
		c.payload = cases[i].payload;
		struct result r = {0};
		struct evudp6_msg_builder b;
		request_builder(&b, EVUDP6_GET, "x");
		ck_assert_int_eq(evudp6_block_request(cli, &to, &b, NULL, on_done, &r, NULL), 0);
		RUN_UNTIL(r.calls > 0);
		ck_assert_int_eq(r.calls, 1);
		ck_assert_int_eq(r.err, -EVUDP6_E_BLOCK_INVALID);
		ck_assert_uint_eq(r.st.requests, 1);
		result_free(&r);
	}
	event_free(ev);
	close(c.fd);
	stop();
}
END_TEST

START_TEST(block_request_options_apply_to_every_exchange)
{
	/* The first block comes, then the server goes silent: with the
	 * request options (ACK_TIMEOUT 50 ms, one retransmission) the second
	 * exchange gives up within some 150 ms, not after the messenger's
	 * schedule (300 ms doubling four times). */
	start(NULL);
	struct canned c = {.answers_left = 1};
	c.b2 = (struct evudp6_block){.num = 0, .more = true, .szx = 6};
	c.payload = 1024;
	struct evudp6_addr to;
	struct event *ev = canned_listen(&c, &to);
	struct evudp6_request_options ro;
	evudp6_request_options_init(&ro, sizeof(ro));
	ro.ack_timeout_ms = 50;
	ro.ack_random_factor = 1.0;
	ro.max_retransmit = 1;
	struct evudp6_block_config cfg = client_cfg();
	cfg.request_options = &ro;
	struct result r = {0};
	struct evudp6_msg_builder b;
	request_builder(&b, EVUDP6_GET, "x");
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	transfer(&r, &to, &b, &cfg);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r.err, -EVUDP6_E_TIMEOUT);
	ck_assert_uint_eq(r.st.requests, 2);
	ck_assert_uint_eq(r.st.blocks_received, 1);
	ck_assert_msg(ms < 1000.0, "gave up after %.0f ms", ms);
	event_free(ev);
	close(c.fd);
	result_free(&r);
	stop();
}
END_TEST

/* ------------------------------------------------------------ misuse */

static void cancel_on_data(struct evudp6_block_request *br, uint64_t offset, const uint8_t *data, size_t len,
                           void *arg)
{
	(void)offset, (void)data, (void)len;
	struct result *r = arg;
	r->blocks++;
	evudp6_block_request_cancel(br);
	evudp6_block_request_cancel(br);
}

START_TEST(block_request_cancel_from_a_callback_ends_it_quietly)
{
	start(NULL);
	H.body_len = 5000;
	struct evudp6_block_config c = client_cfg();
	struct result r = {0};
	c.data_cb = cancel_on_data;
	c.data_arg = &r;
	struct evudp6_msg_builder b;
	request_builder(&b, EVUDP6_GET, "big");
	ck_assert_int_eq(evudp6_block_request(cli, &srv_addr, &b, &c, on_done, &r, NULL), 0);
	RUN_UNTIL(r.blocks > 0);
	struct timeval tv = {0, 100000};
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	ck_assert_int_eq(r.blocks, 1);
	ck_assert_int_eq(r.calls, 0);
	/* bad arguments never call back */
	c = client_cfg();
	c.block_size = 1000;
	ck_assert_int_eq(evudp6_block_request(cli, &srv_addr, &b, &c, on_done, &r, NULL), -EINVAL);
	c.block_size = 2048;
	ck_assert_int_eq(evudp6_block_request(cli, &srv_addr, &b, &c, on_done, &r, NULL), -EINVAL);
	struct evudp6_addr group;
	evudp6_addr_from_literal(&group, "ff05::fd", 5683, 0);
	ck_assert_int_eq(evudp6_block_request(cli, &group, &b, NULL, on_done, &r, NULL), -EINVAL);
	/* shutdown ends a transfer in flight */
	struct evudp6_block_request *br;
	ck_assert_int_eq(evudp6_block_request(cli, &srv_addr, &b, NULL, on_done, &r, &br), 0);
	evudp6_messenger_shutdown(cli);
	RUN_UNTIL(r.calls > 0);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r.err, -EVUDP6_E_SHUTDOWN);
	ck_assert_int_eq(r.blocks, 1);
	result_free(&r);
	stop();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("block");
	TCase *tc = tcase_create("loopback");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, block_option_reads_and_writes_num_m_szx);
	tcase_add_test(tc, block2_client_gets_whole_body_handler_runs_once);
	tcase_add_test(tc, block2_small_body_leaves_in_one_message);
	tcase_add_test(tc, block2_early_negotiation_uses_the_smaller_size_asked);
	tcase_add_test(tc, block2_late_negotiation_follows_the_server_size);
	tcase_add_test(tc, block2_streaming_calls_back_per_block_without_a_body);
	tcase_add_test(tc, block2_etag_change_restarts_from_block_0);
	tcase_add_test(tc, block2_evicted_snapshot_reruns_handler_same_etag_completes);
	tcase_add_test(tc, block2_body_over_max_body_fails_named);
	tcase_add_test(tc, block2_client_refuses_szx7_and_short_blocks);
	tcase_add_test(tc, block2_plain_answer_mid_download_over_max_body_fails_named);
	tcase_add_test(tc, block2_server_uses_a_smaller_block_when_options_take_the_room);
	tcase_add_test(tc, block1_client_uses_a_smaller_block_when_options_take_the_room);
	tcase_add_test(tc, block1_upload_reaches_handler_once_whole);
	tcase_add_test(tc, block1_follows_the_server_smaller_size);
	tcase_add_test(tc, block1_4_13_ends_upload_with_size1);
	tcase_add_test(tc, block1_4_13_with_block1_sends_the_body_again_in_that_size);
	tcase_add_test(tc, block1_4_13_without_a_usable_block1_ends_the_request);
	tcase_add_test(tc, block1_request_tag_keeps_concurrent_uploads_apart_and_4_08_names_a_lost_one);
	tcase_add_test(tc, block1_and_block2_echo_both_ways);
	tcase_add_test(tc, block_continue_completes_a_first_block_from_elsewhere);
	tcase_add_test(tc, block_server_first_block_of_a_notification_then_continue);
	tcase_add_test(tc, block_server_szx7_gets_4_00);
	tcase_add_test(tc, block_server_num_past_the_end_gets_4_02);
	tcase_add_test(tc, block_server_answers_a_larger_num_in_its_smaller_size);
	tcase_add_test(tc, block_icmp_cb_packet_too_big_shrinks_the_blocks_to_that_peer);
	tcase_add_test(tc, block_icmp_cb_takes_an_ipv6_mtu_below_1280_as_1280);
	tcase_add_test(tc, block_server_block1_out_of_order_gets_4_08);
	tcase_add_test(tc, block_server_block_size_change_mid_upload);
	tcase_add_test(tc, block_server_size1_over_max_body_gets_4_13_with_size1);
	tcase_add_test(tc, block_server_upload_flood_from_many_sources_stays_bounded);
	tcase_add_test(tc, block_request_cancel_from_a_callback_ends_it_quietly);
	tcase_add_test(tc, block_request_options_apply_to_every_exchange);
	suite_add_tcase(s, tc);
	return testutil_run(s);
}
