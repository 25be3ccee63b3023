/*
 * evudp6 — block-wise transfer (RFC 7959, Request-Tag of RFC 9175), built
 * on the messenger's public API only.
 *
 * Client: a transfer keeps an encoded copy of the request's options (the
 * template) and of its body. Each block is a new messenger request built
 * from the template, so every exchange has a fresh token and message id.
 *
 * Server: snapshots (a response template plus the whole body) serve later
 * Block2 blocks without the handler; uploads collect Block1 blocks until
 * the body is whole. Both are few (configured), found by a linear scan of
 * a keyed 64-bit hash of the request's cache-key options plus the remote,
 * and allocated once per body. Serving a block from a snapshot builds the
 * response on the stack: nothing is allocated per block.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <evudp6/block.h>

#include "abi-internal.h"
#include "block-internal.h"
#include "list.h"
#include "random-internal.h"
#include "siphash-internal.h"

#define CODE_CONTINUE    EVUDP6_CODE(2, 31)
#define CODE_BAD_REQUEST EVUDP6_CODE(4, 0)
#define CODE_BAD_OPTION  EVUDP6_CODE(4, 2)
#define CODE_INCOMPLETE  EVUDP6_CODE(4, 8)
#define CODE_TOO_LARGE   EVUDP6_CODE(4, 13)
#define CODE_UNAVAILABLE EVUDP6_CODE(5, 3)
#define ETAG_LEN         4
#define REQUEST_TAG_LEN  8
/* The messenger's tokens (evudp6_messenger_request(): 8 random bytes). */
#define MESSENGER_TOKEN_LEN 8
/* Remotes whose path MTU a block server remembers, and for how long (the
 * kernel's own default, net.ipv4.route.mtu_expires). */
#define PATH_HINTS          32
#define PATH_HINT_MS        600000u
#define UNAVAILABLE_MAX_AGE 2u
/* The Mersenne prime 2^61 - 1 of the body hash. */
#define P61 ((1ull << 61) - 1)

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ------------------------------------------------------------ options */

/* A block option's value (at most 3 bytes, checked by the caller). */
static void block_value(const struct evudp6_opt *o, struct evudp6_block *out)
{
	uint32_t v = 0;
	for (size_t i = 0; i < o->len; i++)
		v = v << 8 | o->value[i];
	out->num = v >> 4;
	out->more = (v & 0x8) != 0;
	out->szx = (uint8_t)(v & 0x7);
}

int evudp6_block_get(const struct evudp6_msg *m, uint32_t number, struct evudp6_block *out)
{
	struct evudp6_opt_iter it;
	struct evudp6_opt o, blk;
	int found = 0;
	evudp6_opt_iter_init(&it, m);
	while (evudp6_opt_iter_next(&it, &o)) {
		if (o.number != number)
			continue;
		if (found || o.len > 3)
			return -EINVAL;
		found = 1;
		blk = o;
	}
	if (found && out)
		block_value(&blk, out);
	return found;
}

int evudp6_block_add(struct evudp6_msg_builder *b, uint32_t number, const struct evudp6_block *blk)
{
	if (!b || !blk || blk->szx > 7 || blk->num > EVUDP6_BLOCK_NUM_MAX)
		return -EINVAL;
	uint32_t v = blk->num << 4 | (blk->more ? 0x8u : 0u) | blk->szx;
	return evudp6_msg_builder_add_uint(b, number, v);
}

int evudp6_block_szx(size_t size)
{
	if (size < 16)
		return -EINVAL;
	int szx = 0;
	while (szx < 6 && (16u << (szx + 1)) <= size)
		szx++;
	return szx;
}

/* The shortest uint form of a block option's value (as
 * evudp6_msg_builder_add_uint() writes it); its length. */
static size_t block_bytes(const struct evudp6_block *blk, uint8_t out[4])
{
	uint32_t v = blk->num << 4 | (blk->more ? 0x8u : 0u) | blk->szx;
	size_t n = 0;
	for (uint32_t w = v; w; w >>= 8)
		n++;
	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	return n;
}

/* The index of the last option @p number in @p b: the one just added, as
 * an insertion goes after equal numbers; -1 when there is none. */
static int last_opt(const struct evudp6_msg_builder *b, uint32_t number)
{
	for (size_t i = b->nopts; i-- > 0;)
		if (b->opt[i].number == number)
			return (int)i;
	return -1;
}

/*
 * What the block layer reads of a message, in one pass over its options:
 * Block1 and Block2 as evudp6_block_get() gives them (1, 0, or -EINVAL for
 * a repeated option or one longer than 3 bytes), the first ETag (when at
 * most 8 bytes) and the first Size2 (when a uint of at most 4 bytes).
 */
struct block_scan {
	int r1, r2;
	struct evudp6_block b1, b2;
	bool has_etag, has_size2;
	const uint8_t *etag;
	size_t etag_len;
	uint32_t size2;
};

static void scan_block_opt(const struct evudp6_opt *o, int *r, struct evudp6_block *b)
{
	if (*r != 0 || o->len > 3) {
		*r = -EINVAL;
		return;
	}
	*r = 1;
	block_value(o, b);
}

static void block_scan(const struct evudp6_msg *m, struct block_scan *sc)
{
	struct evudp6_opt_iter it;
	struct evudp6_opt o;
	bool etag_seen = false, size2_seen = false;
	memset(sc, 0, sizeof(*sc));
	evudp6_opt_iter_init(&it, m);
	while (evudp6_opt_iter_next(&it, &o)) {
		switch (o.number) {
		case EVUDP6_OPT_ETAG:
			if (!etag_seen && o.len <= 8) {
				sc->has_etag = true;
				sc->etag = o.value;
				sc->etag_len = o.len;
			}
			etag_seen = true;
			break;
		case EVUDP6_OPT_BLOCK1:
			scan_block_opt(&o, &sc->r1, &sc->b1);
			break;
		case EVUDP6_OPT_BLOCK2:
			scan_block_opt(&o, &sc->r2, &sc->b2);
			break;
		case EVUDP6_OPT_SIZE2:
			if (!size2_seen)
				sc->has_size2 = evudp6_opt_uint(&o, &sc->size2) == 0;
			size2_seen = true;
			break;
		default:
			break;
		}
	}
}

/*
 * The largest SZX whose block fits a datagram of @p mtu bytes to @p remote
 * with @p overhead bytes of CoAP around it; 0 when even 16 bytes do not.
 */
static uint8_t szx_for_mtu(uint32_t mtu, const struct evudp6_addr *remote, size_t overhead)
{
	bool v4 = evudp6_addr_is_v4mapped(remote);
	if (!v4 && mtu < 1280)
		mtu = 1280; /* no IPv6 link is smaller (RFC 8200 5) */
	size_t ip = v4 ? 20 + 8 : 40 + 8;
	int fit = mtu > ip + overhead ? evudp6_block_szx(mtu - ip - overhead) : 0;
	return (uint8_t)(fit < 0 ? 0 : fit);
}

/* A Packet Too Big (ICMPv6 type 2) or fragmentation needed (ICMP 3/4) with its MTU. */
static bool is_packet_too_big(int err, const struct evudp6_icmp *icmp)
{
	return err == -EMSGSIZE && icmp && icmp->info >= 68 &&
	       ((icmp->origin == EVUDP6_ORIGIN_ICMP6 && icmp->type == 2) ||
	        (icmp->origin == EVUDP6_ORIGIN_ICMP && icmp->type == 3 && icmp->code == 4));
}

static bool block_size_ok(unsigned int size)
{
	return size >= 16 && size <= 1024 && (size & (size - 1)) == 0;
}

/* Options the block layer writes itself, never copied from a template. */
static bool layer_option(uint32_t number)
{
	return number == EVUDP6_OPT_BLOCK1 || number == EVUDP6_OPT_BLOCK2 || number == EVUDP6_OPT_SIZE1 ||
	       number == EVUDP6_OPT_SIZE2 || number == EVUDP6_OPT_REQUEST_TAG;
}

/*
 * Encode @p b without its payload into a new buffer (a template whose
 * options later builders reference) and decode it into @p view.
 */
static ssize_t template_encode(struct evudp6_msg_builder *b, uint8_t *buf, size_t cap)
{
	const uint8_t *payload = b->payload;
	size_t plen = b->payload_len;
	uint8_t tkl = b->tkl;
	b->payload = NULL;
	b->payload_len = 0;
	b->tkl = 0;
	ssize_t n = evudp6_msg_encode(b, buf, cap);
	b->payload = payload;
	b->payload_len = plen;
	b->tkl = tkl;
	return n;
}

static int template_make(struct evudp6_msg_builder *b, uint8_t **out, size_t *outlen, struct evudp6_msg *view)
{
	size_t bound = 4 + EVUDP6_TOKEN_MAX;
	for (size_t i = 0; i < b->nopts; i++)
		bound += 5 + b->opt[i].len;
	uint8_t *buf = malloc(bound);
	if (!buf)
		return -ENOMEM;
	ssize_t n = template_encode(b, buf, bound);
	if (n < 0) {
		free(buf);
		return (int)n;
	}
	int rc = evudp6_msg_decode(view, buf, (size_t)n);
	if (rc < 0) {
		free(buf);
		return rc;
	}
	*out = buf;
	*outlen = (size_t)n;
	return 0;
}

/* Copy the template's options into @p nb, except the layer's own (and
 * Observe when @p drop_observe). */
static void template_options(const struct evudp6_msg *t, struct evudp6_msg_builder *nb, bool drop_observe)
{
	struct evudp6_opt_iter it;
	struct evudp6_opt o;
	evudp6_opt_iter_init(&it, t);
	while (evudp6_opt_iter_next(&it, &o)) {
		if (layer_option(o.number) || (drop_observe && o.number == EVUDP6_OPT_OBSERVE))
			continue;
		evudp6_msg_builder_add_opt(nb, o.number, o.value, o.len);
	}
}

/* ------------------------------------------------------------ client */

int evudp6_block_config_init(struct evudp6_block_config *cfg, size_t size)
{
	struct evudp6_block_config d = {
	    .size = sizeof(d),
	    .max_body = EVUDP6_BLOCK_DEFAULT_MAX_BODY,
	    .block_size = EVUDP6_BLOCK_DEFAULT_BLOCK_SIZE,
	    .max_restarts = EVUDP6_BLOCK_DEFAULT_MAX_RESTARTS,
	};
	return evudp6__config_init(cfg, size, _Alignof(struct evudp6_block_config), &d, sizeof(d));
}

struct evudp6_block_request {
	struct evudp6__link live; /* in this thread's list of transfers */
	struct evudp6_messenger *m;
	struct evudp6_addr remote;
	struct evudp6_block_config cfg;
	evudp6_block_response_cb cb;
	void *arg;
	struct evudp6_request_handle cur;
	struct evudp6_request_options ropts;
	bool has_ropts;
	bool in_cb, busy, cancelled, observe_dropped;
	/* the request: options template, type and code */
	uint8_t *tmpl;
	size_t tmpl_len;
	struct evudp6_msg tmsg;
	uint8_t type, code;
	/* upload (Block1) */
	uint8_t *up;
	size_t up_len, up_off, up_sent_len;
	uint8_t up_szx;
	bool uploading;
	uint8_t rtag[REQUEST_TAG_LEN];
	/* download (Block2) */
	uint8_t *body;
	size_t body_len, body_cap;
	uint64_t received; /* bytes of the current representation, also when streaming */
	uint64_t total_hint;
	uint8_t szx2;
	/* The follow-up Block2 request, built once: its Block2 is opt[next_block2]. */
	bool next_ready;
	size_t next_block2;
	struct evudp6_msg_builder next;
	bool have_etag_ref;
	uint8_t etag[8];
	size_t etag_len;
	struct evudp6_block_request_stats st;
};

/* Every transfer of this thread, for evudp6_block_icmp_cb(). */
static __thread struct evudp6__link live_transfers;

static void br_live(struct evudp6_block_request *br)
{
	if (!live_transfers.next)
		evudp6__link_init(&live_transfers);
	evudp6__list_add_tail(&live_transfers, &br->live);
}

static void br_free(struct evudp6_block_request *br)
{
	evudp6__list_del(&br->live);
	free(br->tmpl);
	free(br->up);
	free(br->body);
	free(br);
}

static void br_finish(struct evudp6_block_request *br, int err, const struct evudp6_msg *rsp,
                      const struct evudp6_addr *remote, const struct evudp6_icmp *icmp)
{
	br->in_cb = true;
	br->cb(br, err, rsp, remote ? remote : &br->remote, icmp, br->arg);
	br_free(br);
}

static void br_progress(struct evudp6_block_request *br, bool upload, uint64_t done, uint64_t total)
{
	if (br->cfg.progress_cb)
		br->cfg.progress_cb(br, upload, done, total, br->cfg.progress_arg);
}

static void on_response(struct evudp6_request_handle r, int err, const struct evudp6_msg *rsp,
                        const struct evudp6_addr *remote, const struct evudp6_icmp *icmp, void *arg);

static int send_block1_once(struct evudp6_block_request *br);

static int br_send(struct evudp6_block_request *br, struct evudp6_msg_builder *nb)
{
	if (nb->err)
		return nb->err;
	int rc = evudp6_messenger_request_ex(br->m, &br->remote, nb, br->has_ropts ? &br->ropts : NULL,
	                                     on_response, br, &br->cur);
	if (rc < 0)
		br->cur = (struct evudp6_request_handle){0};
	else
		br->st.requests++;
	return rc;
}

/* Block1 block at up_off; a smaller block when the message would not fit
 * max_message (the request's options take room too). */
static int send_block1(struct evudp6_block_request *br)
{
	for (;;) {
		int rc = send_block1_once(br);
		if (rc != -EVUDP6_E_MSG_NOSPACE || br->up_szx == 0)
			return rc;
		br->up_szx--;
	}
}

static int send_block1_once(struct evudp6_block_request *br)
{
	size_t size = EVUDP6_BLOCK_SIZE(br->up_szx);
	size_t n = br->up_len - br->up_off < size ? br->up_len - br->up_off : size;
	struct evudp6_block blk = {
	    .num = (uint32_t)(br->up_off / size), .more = br->up_off + n < br->up_len, .szx = br->up_szx};
	if (br->up_off / size > EVUDP6_BLOCK_NUM_MAX)
		return -EMSGSIZE;
	struct evudp6_msg_builder nb;
	evudp6_msg_builder_init(&nb, EVUDP6_CON, br->code, 0);
	template_options(&br->tmsg, &nb, false);
	evudp6_block_add(&nb, EVUDP6_OPT_BLOCK1, &blk);
	evudp6_msg_builder_add_uint(&nb, EVUDP6_OPT_SIZE1, (uint32_t)br->up_len);
	evudp6_msg_builder_add_opt(&nb, EVUDP6_OPT_REQUEST_TAG, br->rtag, sizeof(br->rtag));
	if (!blk.more && br->cfg.early_block2) {
		struct evudp6_block b2 = {.szx = br->szx2};
		evudp6_block_add(&nb, EVUDP6_OPT_BLOCK2, &b2);
	}
	evudp6_msg_builder_set_payload(&nb, br->up + br->up_off, n);
	br->up_sent_len = n;
	return br_send(br, &nb);
}

static int send_block2(struct evudp6_block_request *br, uint32_t num)
{
	struct evudp6_msg_builder *nb = &br->next;
	if (!br->next_ready) {
		/* The template's options and a Block2 whose value changes per
		 * block: the same message as building it anew each time. */
		const struct evudp6_block zero = {0};
		evudp6_msg_builder_init(nb, br->type, br->code, 0);
		template_options(&br->tmsg, nb, br->observe_dropped);
		evudp6_block_add(nb, EVUDP6_OPT_BLOCK2, &zero);
		if (nb->err)
			return nb->err;
		br->next_block2 = (size_t)last_opt(nb, EVUDP6_OPT_BLOCK2);
		br->next_ready = true;
	}
	struct evudp6_block b2 = {.num = num, .szx = br->szx2};
	nb->opt[br->next_block2].len = block_bytes(&b2, nb->uintval[br->next_block2]);
	return br_send(br, nb);
}

/* The first request: the whole body in one message, or Block1 block 0. */
static int send_first(struct evudp6_block_request *br)
{
	if (br->uploading)
		return send_block1(br);
	struct evudp6_msg_builder nb;
	evudp6_msg_builder_init(&nb, br->type, br->code, 0);
	template_options(&br->tmsg, &nb, false);
	if (br->cfg.early_block2) {
		struct evudp6_block b2 = {.szx = br->szx2};
		evudp6_block_add(&nb, EVUDP6_OPT_BLOCK2, &b2);
	}
	if (br->up_len)
		evudp6_msg_builder_set_payload(&nb, br->up, br->up_len);
	return br_send(br, &nb);
}

/* The final response: its options, with the whole body as payload. */
static void deliver(struct evudp6_block_request *br, const struct evudp6_msg *rsp,
                    const struct evudp6_addr *remote)
{
	struct evudp6_msg whole = *rsp;
	if (br->cfg.data_cb) {
		whole.payload = NULL;
		whole.payload_len = 0;
	} else {
		whole.payload = br->body_len ? br->body : NULL;
		whole.payload_len = br->body_len;
	}
	br_finish(br, 0, &whole, remote, NULL);
}

/* Room for @p cap bytes of reassembled body (up to max_body). */
static int body_reserve(struct evudp6_block_request *br, size_t cap)
{
	if (br->cfg.data_cb || cap <= br->body_cap)
		return 0;
	if (cap > br->cfg.max_body)
		cap = br->cfg.max_body;
	uint8_t *nbuf = realloc(br->body, cap);
	if (!nbuf)
		return -ENOMEM;
	br->body = nbuf;
	br->body_cap = cap;
	return 0;
}

static int body_append(struct evudp6_block_request *br, const uint8_t *p, size_t n)
{
	if (br->cfg.data_cb) {
		br->cfg.data_cb(br, br->received, p, n, br->cfg.data_arg);
		return 0;
	}
	/* The buffer never grows past max_body: whatever the caller checked,
	 * nothing is written beyond it. */
	if (n > br->cfg.max_body - br->body_len)
		return -EVUDP6_E_BLOCK_BODY_LIMIT;
	if (br->body_len + n > br->body_cap) {
		size_t cap = br->body_cap ? br->body_cap : 4096;
		while (cap < br->body_len + n)
			cap *= 2;
		int rc = body_reserve(br, cap);
		if (rc < 0)
			return rc;
	}
	if (n)
		memcpy(br->body + br->body_len, p, n);
	br->body_len += n;
	return 0;
}

/*
 * A response while downloading. Returns 0 when a follow-up is in flight
 * or the transfer was delivered, else the error that ends it.
 */
static int on_download(struct evudp6_block_request *br, const struct evudp6_msg *rsp,
                       const struct evudp6_addr *remote, bool *delivered)
{
	struct block_scan sc;
	block_scan(rsp, &sc);
	const struct evudp6_block b2 = sc.b2;
	int rc = sc.r2;
	if (rc < 0)
		return -EVUDP6_E_BLOCK_INVALID;
	if (rc == 0) {
		/* Not block-wise (or an error mid-way): the response is the answer. */
		if (br->received == 0 && !br->cfg.data_cb) {
			*delivered = true;
			br_finish(br, 0, rsp, remote, NULL);
			return 0;
		}
		/* It replaces the body kept so far, within max_body as well
		 * (the buffer never grows past it). */
		if (rsp->payload_len > br->cfg.max_body && !br->cfg.data_cb)
			return -EVUDP6_E_BLOCK_BODY_LIMIT;
		br->body_len = 0;
		if (rsp->payload_len) {
			br->received = 0;
			if ((rc = body_append(br, rsp->payload, rsp->payload_len)) < 0)
				return rc;
		}
		if (br->cancelled)
			return 0;
		*delivered = true;
		deliver(br, rsp, remote);
		return 0;
	}
	if (b2.szx == 7)
		return -EVUDP6_E_BLOCK_INVALID;
	size_t size = EVUDP6_BLOCK_SIZE(b2.szx);
	uint64_t offset = (uint64_t)b2.num * size;
	if (b2.more ? rsp->payload_len != size : rsp->payload_len > size)
		return -EVUDP6_E_BLOCK_INVALID;

	bool has_tag = sc.has_etag;
	size_t tag_len = sc.etag_len;
	if (br->received == 0) {
		if (offset != 0)
			return -EVUDP6_E_BLOCK_INVALID;
		br->have_etag_ref = has_tag;
		if (tag_len)
			memcpy(br->etag, sc.etag, tag_len);
		br->etag_len = tag_len;
		if (sc.has_size2) {
			br->total_hint = sc.size2;
			if (sc.size2 > br->cfg.max_body)
				return -EVUDP6_E_BLOCK_BODY_LIMIT;
			/* The whole body in one allocation, not one per doubling. */
			if ((rc = body_reserve(br, sc.size2)) < 0)
				return rc;
		}
	} else if (has_tag != br->have_etag_ref || tag_len != br->etag_len ||
	           (tag_len && memcmp(sc.etag, br->etag, tag_len))) {
		/* The representation changed under us: start over (RFC 7959 2.4). */
		if (br->st.restarts >= br->cfg.max_restarts)
			return -EVUDP6_E_BLOCK_CHANGED;
		br->st.restarts++;
		br->received = 0;
		br->body_len = 0;
		br->st.bytes_received = 0;
		return send_block2(br, 0);
	} else if (offset != br->received) {
		return -EVUDP6_E_BLOCK_INVALID;
	}
	if (br->received + rsp->payload_len > br->cfg.max_body)
		return -EVUDP6_E_BLOCK_BODY_LIMIT;
	if ((rc = body_append(br, rsp->payload, rsp->payload_len)) < 0)
		return rc;
	br->received += rsp->payload_len;
	br->st.blocks_received++;
	br->st.bytes_received = br->received;
	br->szx2 = b2.szx;
	br->st.block_size = (unsigned int)size;
	br_progress(br, false, br->received, br->total_hint);
	if (br->cancelled)
		return 0;
	if (!b2.more) {
		*delivered = true;
		deliver(br, rsp, remote);
		return 0;
	}
	if (br->received / size > EVUDP6_BLOCK_NUM_MAX)
		return -EVUDP6_E_BLOCK_BODY_LIMIT;
	return send_block2(br, (uint32_t)(br->received / size));
}

/* A response while uploading: the next block, or the final answer. */
static int on_upload(struct evudp6_block_request *br, const struct evudp6_msg *rsp,
                     const struct evudp6_addr *remote, bool *delivered)
{
	if (rsp->code == CODE_TOO_LARGE)
		return -EVUDP6_E_BLOCK_TOO_LARGE;
	if (rsp->code == CODE_INCOMPLETE)
		return -EVUDP6_E_BLOCK_INCOMPLETE;
	struct evudp6_block b1;
	int rc = evudp6_block_get(rsp, EVUDP6_OPT_BLOCK1, &b1);
	if (rc < 0 || (rc == 1 && b1.szx == 7))
		return -EVUDP6_E_BLOCK_INVALID;
	br->st.blocks_sent++;
	br->up_off += br->up_sent_len;
	br_progress(br, true, br->up_off, br->up_len);
	if (br->cancelled)
		return 0;
	if (rsp->code != CODE_CONTINUE) {
		br->uploading = false;
		return on_download(br, rsp, remote, delivered);
	}
	if (br->up_off >= br->up_len)
		return -EVUDP6_E_BLOCK_INVALID; /* Continue after the last block */
	if (rc == 1 && b1.szx < br->up_szx)
		br->up_szx = b1.szx; /* late negotiation: the server's smaller size */
	return send_block1(br);
}

/*
 * A block's datagram did not fit the path (Packet Too Big, fragmentation
 * needed, or EMSGSIZE from the kernel that learnt the path MTU): the
 * largest SZX below @p szx whose message fits the MTU the ICMP error
 * gives, or one step down without one; -1 when 16 bytes did not fit.
 */
/* CoAP bytes around a block in our requests: header and token, the
 * request's options, the layer's own (Block1, Size1, Request-Tag, Block2)
 * and the payload marker. */
static size_t request_overhead(const struct evudp6_block_request *br)
{
	return 4 + MESSENGER_TOKEN_LEN + br->tmpl_len + 4 + 5 + 2 + REQUEST_TAG_LEN + 4 + 1;
}

static int path_szx(const struct evudp6_block_request *br, const struct evudp6_icmp *icmp, uint8_t szx)
{
	if (szx == 0)
		return -1;
	if (!icmp || icmp->info < 68)
		return szx - 1;
	uint8_t fit = szx_for_mtu(icmp->info, &br->remote, request_overhead(br));
	return fit < szx ? fit : szx - 1;
}

/* Send the current block again in a smaller size; false when none is left. */
static bool retry_smaller(struct evudp6_block_request *br, const struct evudp6_icmp *icmp)
{
	int rc;
	if (br->uploading || (br->up_len && br->st.blocks_received == 0 && br->received == 0)) {
		/* An upload, or the first request whose body fitted one block
		 * but not the path: it becomes an upload in smaller blocks. */
		int szx =
		    path_szx(br, icmp, br->uploading ? br->up_szx : (uint8_t)evudp6_block_szx(br->up_len));
		if (szx < 0)
			return false;
		if (!br->uploading)
			evudp6__random_bytes(br->rtag, sizeof(br->rtag));
		br->uploading = true;
		br->up_szx = (uint8_t)szx;
		br->st.path_mtu_reductions++;
		rc = send_block1(br);
	} else {
		int szx = path_szx(br, icmp, br->szx2);
		if (szx < 0)
			return false;
		br->szx2 = (uint8_t)szx;
		br->st.path_mtu_reductions++;
		rc = send_block2(br, (uint32_t)(br->received / EVUDP6_BLOCK_SIZE(br->szx2)));
	}
	return rc == 0;
}

/*
 * 4.13 to the request sent in one message: with Block1 the server asks
 * for the body in blocks of that size (RFC 7959 section 2.9.3), so it
 * goes again as a Block1 upload, once per transfer (*again set; the
 * result of sending its first block returned). Not when the server's
 * Size1 is below the body (no block size makes it fit) nor for SZX 7
 * (BERT is not for UDP: -EVUDP6_E_BLOCK_INVALID). 0 without *again: the
 * response is handled as any other.
 */
static int too_large_in_blocks(struct evudp6_block_request *br, const struct evudp6_msg *rsp, bool *again)
{
	if (rsp->code != CODE_TOO_LARGE || br->uploading || br->up_len == 0 || br->up_off != 0 ||
	    br->received != 0 || br->st.blocks_received != 0 || br->st.too_large_retries != 0)
		return 0;
	struct evudp6_block b1;
	int rc = evudp6_block_get(rsp, EVUDP6_OPT_BLOCK1, &b1);
	if (rc == 0)
		return 0;
	if (rc < 0 || b1.szx == 7)
		return -EVUDP6_E_BLOCK_INVALID;
	struct evudp6_opt o;
	uint32_t size1;
	if (evudp6_msg_find_opt(rsp, EVUDP6_OPT_SIZE1, &o) && evudp6_opt_uint(&o, &size1) == 0 &&
	    size1 < br->up_len)
		return 0;
	*again = true;
	br->st.too_large_retries++;
	br->uploading = true;
	evudp6__random_bytes(br->rtag, sizeof(br->rtag));
	if (b1.szx < br->up_szx)
		br->up_szx = b1.szx;
	return send_block1(br);
}

static void on_response(struct evudp6_request_handle r, int err, const struct evudp6_msg *rsp,
                        const struct evudp6_addr *remote, const struct evudp6_icmp *icmp, void *arg)
{
	struct evudp6_block_request *br = arg;
	int rx = evudp6_request_retransmissions(r);
	if (rx > 0)
		br->st.retransmissions += (unsigned int)rx;
	br->cur = (struct evudp6_request_handle){0};
	if (err == -EMSGSIZE && retry_smaller(br, icmp))
		return;
	if (err) {
		br_finish(br, err, NULL, remote, icmp);
		return;
	}
	bool delivered = false, again = false;
	br->busy = true;
	int rc = too_large_in_blocks(br, rsp, &again);
	if (rc == 0 && !again)
		rc = br->uploading ? on_upload(br, rsp, remote, &delivered)
		                   : on_download(br, rsp, remote, &delivered);
	if (delivered)
		return; /* freed */
	br->busy = false;
	if (br->cancelled) {
		/* Cancelled from the data or progress callback. */
		if (br->cur.obj)
			evudp6_request_cancel(br->cur);
		br_free(br);
		return;
	}
	if (rc < 0)
		br_finish(br, rc, rsp, remote, NULL);
}

static int br_new(struct evudp6_block_request **out, struct evudp6_messenger *m,
                  const struct evudp6_addr *remote, struct evudp6_msg_builder *b,
                  const struct evudp6_block_config *cfg, evudp6_block_response_cb cb, void *arg)
{
	if (!m || !remote || !b || !cb || evudp6_addr_is_multicast(remote))
		return -EINVAL;
	if (b->type != EVUDP6_CON && b->type != EVUDP6_NON)
		return -EINVAL;
	if (b->code == EVUDP6_EMPTY || EVUDP6_CODE_CLASS(b->code) != 0)
		return -EINVAL;
	struct evudp6_block_request *br = calloc(1, sizeof(*br));
	if (!br)
		return -ENOMEM;
	evudp6_block_config_init(&br->cfg, sizeof(br->cfg));
	if (cfg &&
	    evudp6__config_in(&br->cfg, sizeof(br->cfg), _Alignof(struct evudp6_block_config), cfg) < 0) {
		free(br);
		return -EINVAL;
	}
	if (!block_size_ok(br->cfg.block_size) || br->cfg.max_body == 0) {
		free(br);
		return -EINVAL;
	}
	if (br->cfg.request_options) {
		const struct evudp6_request_options *ro = br->cfg.request_options;
		evudp6_request_options_init(&br->ropts, sizeof(br->ropts));
		if (evudp6__config_in(&br->ropts, sizeof(br->ropts), _Alignof(struct evudp6_request_options),
		                      ro) < 0) {
			free(br);
			return -EINVAL;
		}
		br->ropts.ack_cb = NULL;
		br->has_ropts = true;
		br->cfg.request_options = NULL;
	}
	int rc = template_make(b, &br->tmpl, &br->tmpl_len, &br->tmsg);
	if (rc < 0) {
		free(br);
		return rc;
	}
	evudp6__link_init(&br->live);
	br->m = m;
	br->remote = *remote;
	br->cb = cb;
	br->arg = arg;
	br->type = b->type;
	br->code = b->code;
	br->up_szx = (uint8_t)evudp6_block_szx(br->cfg.block_size);
	br->szx2 = br->up_szx;
	br->st.block_size = br->cfg.block_size;
	*out = br;
	return 0;
}

int evudp6_block_request(struct evudp6_messenger *m, const struct evudp6_addr *remote,
                         struct evudp6_msg_builder *b, const struct evudp6_block_config *cfg,
                         evudp6_block_response_cb cb, void *arg, struct evudp6_block_request **out)
{
	struct evudp6_block_request *br;
	int rc = br_new(&br, m, remote, b, cfg, cb, arg);
	if (rc < 0)
		return rc;
	if (b->payload_len) {
		br->up = malloc(b->payload_len);
		if (!br->up) {
			br_free(br);
			return -ENOMEM;
		}
		memcpy(br->up, b->payload, b->payload_len);
		br->up_len = b->payload_len;
	}
	br->uploading = br->up_len > br->cfg.block_size;
	if (br->uploading)
		evudp6__random_bytes(br->rtag, sizeof(br->rtag));
	rc = send_first(br);
	if (rc == -EVUDP6_E_MSG_NOSPACE && !br->uploading && br->up_len > 16) {
		/* The body fits a block but not one message with these options. */
		br->uploading = true;
		evudp6__random_bytes(br->rtag, sizeof(br->rtag));
		br->up_szx = (uint8_t)evudp6_block_szx(br->up_len - 1);
		rc = send_block1(br);
	}
	if (rc < 0) {
		br_free(br);
		return rc;
	}
	br_live(br);
	if (out)
		*out = br;
	return 0;
}

int evudp6_block_continue(struct evudp6_messenger *m, const struct evudp6_addr *remote,
                          struct evudp6_msg_builder *b, const struct evudp6_msg *first,
                          const struct evudp6_block_config *cfg, evudp6_block_response_cb cb, void *arg,
                          struct evudp6_block_request **out)
{
	struct evudp6_block b2;
	if (!first || evudp6_block_get(first, EVUDP6_OPT_BLOCK2, &b2) != 1 || !b2.more || b2.num != 0 ||
	    b2.szx == 7 || first->payload_len != EVUDP6_BLOCK_SIZE(b2.szx))
		return -EINVAL;
	struct evudp6_block_request *br;
	int rc = br_new(&br, m, remote, b, cfg, cb, arg);
	if (rc < 0)
		return rc;
	br->observe_dropped = true;
	bool delivered = false;
	br->busy = true;
	rc = on_download(br, first, remote, &delivered);
	br->busy = false;
	if (rc < 0 || br->cancelled) {
		if (br->cur.obj)
			evudp6_request_cancel(br->cur);
		br_free(br);
		return rc < 0 ? rc : -EVUDP6_E_CANCELLED;
	}
	br_live(br);
	if (out)
		*out = br;
	return 0;
}

void evudp6_block_request_cancel(struct evudp6_block_request *br)
{
	if (!br || br->in_cb || br->cancelled)
		return;
	br->cancelled = true;
	if (br->busy)
		return; /* freed when the response being handled is done */
	if (br->cur.obj)
		evudp6_request_cancel(br->cur);
	br_free(br);
}

int evudp6_block_request_stats(const struct evudp6_block_request *br, struct evudp6_block_request_stats *out,
                               size_t size)
{
	if (!out)
		return -EINVAL;
	struct evudp6_block_request_stats st = br->st;
	/* Also for a body that fitted one message but went up in blocks. */
	st.upload_block_size = br->up_len > br->cfg.block_size || br->uploading || br->st.blocks_sent
	                           ? EVUDP6_BLOCK_SIZE(br->up_szx)
	                           : 0;
	st.bytes_sent = br->up_off;
	return (int)evudp6__struct_out(out, size, &st, sizeof(st));
}

/* ------------------------------------------------------------ server */

struct snapshot {
	struct evudp6__link link; /* s->snap_lru (oldest first) or s->snap_free */
	struct evudp6_addr remote;
	uint64_t key, expires_ms;
	uint8_t etag[8];
	size_t etag_len;
	uint8_t *data; /* response template, then the body, then the prepared options */
	size_t tmpl_len, body_len;
	/* The response's options with ETag, Size2 and a Block2 at opt[block2]
	 * (values in data), ready to be copied into a builder for each block;
	 * NULL when they could not be prepared. */
	struct evudp6_opt *opt;
	uint8_t (*uintval)[4];
	size_t nopts, block2;
	uint8_t code;
};

struct upload {
	struct evudp6__link link; /* s->up_lru (oldest first) or s->up_free */
	struct evudp6_addr remote;
	uint64_t key, expires_ms;
	uint8_t *buf;
	size_t len, cap;
	uint8_t szx;
};

struct evudp6_block_server {
	struct evudp6_block_server_config cfg;
	uint64_t hkey[2];
	uint64_t body_key; /* of body_hash(), below 2^60 */
	uint8_t szx;       /* of cfg.block_size */
	struct snapshot *snaps;
	struct evudp6__link snap_lru, snap_free;
	struct upload *ups;
	struct evudp6__link up_lru, up_free;
	struct upload *lent; /* completed upload whose body the handler holds */
	/* Path MTUs learnt from Packet Too Big errors, for the block size. */
	struct path_hint {
		struct evudp6_addr remote;
		uint32_t mtu;
		uint64_t expires_ms;
	} hints[PATH_HINTS];
	struct evudp6_block_server_stats st;
};

#define SNAP_OF(l) evudp6__container_of(l, struct snapshot, link)
#define UP_OF(l)   evudp6__container_of(l, struct upload, link)

int evudp6_block_server_config_init(struct evudp6_block_server_config *cfg, size_t size)
{
	struct evudp6_block_server_config d = {
	    .size = sizeof(d),
	    .max_body = EVUDP6_BLOCK_DEFAULT_MAX_BODY,
	    .block_size = EVUDP6_BLOCK_DEFAULT_BLOCK_SIZE,
	    .cache_entries = EVUDP6_BLOCK_DEFAULT_CACHE_ENTRIES,
	    .cache_bytes = EVUDP6_BLOCK_DEFAULT_CACHE_BYTES,
	    .cache_lifetime_ms = EVUDP6_BLOCK_DEFAULT_CACHE_LIFETIME_MS,
	    .max_uploads = EVUDP6_BLOCK_DEFAULT_MAX_UPLOADS,
	    .upload_bytes = EVUDP6_BLOCK_DEFAULT_UPLOAD_BYTES,
	    .upload_lifetime_ms = EVUDP6_BLOCK_DEFAULT_UPLOAD_LIFETIME_MS,
	};
	return evudp6__config_init(cfg, size, _Alignof(struct evudp6_block_server_config), &d, sizeof(d));
}

int evudp6_block_server_new(struct evudp6_block_server **out, const struct evudp6_block_server_config *cfg)
{
	if (!out)
		return -EINVAL;
	struct evudp6_block_server_config c;
	evudp6_block_server_config_init(&c, sizeof(c));
	if (cfg && evudp6__config_in(&c, sizeof(c), _Alignof(struct evudp6_block_server_config), cfg) < 0)
		return -EINVAL;
	if (!block_size_ok(c.block_size) || c.max_body == 0 || c.max_uploads == 0 ||
	    c.cache_lifetime_ms == 0 || c.upload_lifetime_ms == 0)
		return -EINVAL;
	struct evudp6_block_server *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = c;
	s->szx = (uint8_t)evudp6_block_szx(c.block_size);
	s->snaps = c.cache_entries ? calloc(c.cache_entries, sizeof(*s->snaps)) : NULL;
	s->ups = calloc(c.max_uploads, sizeof(*s->ups));
	if ((c.cache_entries && !s->snaps) || !s->ups) {
		free(s->snaps);
		free(s->ups);
		free(s);
		return -ENOMEM;
	}
	evudp6__random_bytes(s->hkey, sizeof(s->hkey));
	evudp6__random_bytes(&s->body_key, sizeof(s->body_key));
	s->body_key = s->body_key % ((1ull << 60) - 1) + 1; /* 1 .. 2^60 - 1 */
	evudp6__link_init(&s->snap_lru);
	evudp6__link_init(&s->snap_free);
	evudp6__link_init(&s->up_lru);
	evudp6__link_init(&s->up_free);
	for (size_t i = 0; i < c.cache_entries; i++)
		evudp6__list_add_tail(&s->snap_free, &s->snaps[i].link);
	for (size_t i = 0; i < c.max_uploads; i++)
		evudp6__list_add_tail(&s->up_free, &s->ups[i].link);
	*out = s;
	return 0;
}

void evudp6_block_server_free(struct evudp6_block_server *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->cfg.cache_entries; i++)
		free(s->snaps[i].data);
	for (size_t i = 0; i < s->cfg.max_uploads; i++)
		free(s->ups[i].buf);
	free(s->snaps);
	free(s->ups);
	free(s);
}

int evudp6_block_server_stats(const struct evudp6_block_server *s, struct evudp6_block_server_stats *out,
                              size_t size)
{
	if (!out)
		return -EINVAL;
	return (int)evudp6__struct_out(out, size, &s->st, sizeof(s->st));
}

/* Keyed hash of bytes, 16 at a time (SipHash-1-3 chained). */
static uint64_t hash_bytes(const uint64_t k[2], uint64_t h, const uint8_t *p, size_t n)
{
	while (n > 0) {
		uint64_t w[2] = {0, 0};
		size_t c = n < sizeof(w) ? n : sizeof(w);
		memcpy(w, p, c);
		h = evudp6__siphash13_3w(k, h ^ c, w[0], w[1]);
		p += c;
		n -= c;
	}
	return h;
}

/*
 * The ETag of a body: a keyed hash of all of it. A polynomial in a random
 * key r < 2^60 modulo the prime 2^61 - 1 over its 7-byte chunks (two
 * bodies of n chunks agree with probability at most n / 2^60 over r,
 * whatever they hold), finished with SipHash over the result and the
 * length: one multiplication per 7 bytes where SipHash takes rounds of
 * its own for every 16.
 */
static uint64_t body_hash(const struct evudp6_block_server *s, const uint8_t *p, size_t n)
{
#if defined(__SIZEOF_INT128__) && defined(__BYTE_ORDER__)
	/* With r < 2^60, h < 2^62 and c < 2^56, h * r + c folded once is
	 * below 2^62 again: no further reduction is needed per chunk, and the
	 * same body always gives the same h. */
	const uint64_t r = s->body_key;
	uint64_t h = 0, c;
	size_t len = n;
	for (; n >= 8; p += 7, n -= 7) {
		memcpy(&c, p, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		c &= 0x00FFFFFFFFFFFFFFull;
#else
		c >>= 8;
#endif
		unsigned __int128 x = (unsigned __int128)h * r + c;
		h = ((uint64_t)x & P61) + (uint64_t)(x >> 61);
	}
	if (n) {
		c = 0;
		for (size_t i = 0; i < n; i++)
			c |= (uint64_t)p[i] << (8 * i);
		unsigned __int128 x = (unsigned __int128)h * r + c;
		h = ((uint64_t)x & P61) + (uint64_t)(x >> 61);
	}
	return evudp6__siphash13_3w(s->hkey, h, len, 0);
#else
	return hash_bytes(s->hkey, n, p, n);
#endif
}

/*
 * The request's identity for snapshots: code and options except the block
 * layer's own, Observe and No-Response (a continuation GET has no Observe).
 * Uploads also keep Request-Tag apart (@p with_tag).
 */
static uint64_t request_key(const struct evudp6_block_server *s, const struct evudp6_msg *req, bool with_tag)
{
	uint64_t h = evudp6__siphash13_3w(s->hkey, req->code, with_tag, 0);
	struct evudp6_opt_iter it;
	struct evudp6_opt o;
	evudp6_opt_iter_init(&it, req);
	while (evudp6_opt_iter_next(&it, &o)) {
		bool tag = o.number == EVUDP6_OPT_REQUEST_TAG;
		if ((layer_option(o.number) && !(tag && with_tag)) || o.number == EVUDP6_OPT_OBSERVE ||
		    o.number == EVUDP6_OPT_NO_RESPONSE)
			continue;
		/* Number and length in one word; a short value (most are) in
		 * the same round. */
		uint64_t w = 0;
		if (o.len && o.len <= sizeof(w))
			memcpy(&w, o.value, o.len);
		h = evudp6__siphash13_3w(s->hkey, h, (uint64_t)o.number << 32 | o.len, w);
		if (o.len > sizeof(w))
			h = hash_bytes(s->hkey, h, o.value, o.len);
	}
	return h;
}

static void snap_drop(struct evudp6_block_server *s, struct snapshot *sn)
{
	s->st.cache_bytes_now -= sn->tmpl_len + sn->body_len;
	s->st.cache_entries_now--;
	free(sn->data);
	sn->data = NULL;
	sn->opt = NULL;
	evudp6__list_del(&sn->link);
	evudp6__list_add_tail(&s->snap_free, &sn->link);
}

static void snap_expire(struct evudp6_block_server *s, uint64_t now)
{
	while (!evudp6__list_empty(&s->snap_lru)) {
		struct snapshot *sn = SNAP_OF(s->snap_lru.next);
		if (sn->expires_ms > now)
			break;
		snap_drop(s, sn);
		s->st.cache_evicted++;
	}
}

static struct snapshot *snap_find(struct evudp6_block_server *s, const struct evudp6_addr *remote,
                                  uint64_t key)
{
	snap_expire(s, now_ms());
	for (struct evudp6__link *l = s->snap_lru.next; l != &s->snap_lru; l = l->next) {
		struct snapshot *sn = SNAP_OF(l);
		if (sn->key == key && evudp6_addr_equal(&sn->remote, remote))
			return sn;
	}
	return NULL;
}

static void up_drop(struct evudp6_block_server *s, struct upload *u)
{
	if (s->lent == u)
		s->lent = NULL;
	s->st.upload_bytes_now -= u->cap;
	s->st.uploads_now--;
	free(u->buf);
	u->buf = NULL;
	u->len = u->cap = 0;
	evudp6__list_del(&u->link);
	evudp6__list_add_tail(&s->up_free, &u->link);
}

static struct upload *up_find(struct evudp6_block_server *s, const struct evudp6_addr *remote, uint64_t key)
{
	uint64_t now = now_ms();
	while (!evudp6__list_empty(&s->up_lru)) {
		struct upload *u = UP_OF(s->up_lru.next);
		if (u->expires_ms > now)
			break;
		up_drop(s, u);
		s->st.uploads_evicted++;
	}
	for (struct evudp6__link *l = s->up_lru.next; l != &s->up_lru; l = l->next) {
		struct upload *u = UP_OF(l);
		if (u->key == key && evudp6_addr_equal(&u->remote, remote))
			return u;
	}
	return NULL;
}

/* Answer with just a code (and Block1 / Size1 / Max-Age where given). */
static int answer_code(struct evudp6_exchange_handle ex, uint8_t code, const struct evudp6_block *b1,
                       long size1, long max_age)
{
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, EVUDP6_ACK, code, 0);
	if (b1)
		evudp6_block_add(&b, EVUDP6_OPT_BLOCK1, b1);
	if (size1 >= 0)
		evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_SIZE1, (uint32_t)size1);
	if (max_age >= 0)
		evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_MAX_AGE, (uint32_t)max_age);
	int rc = evudp6_exchange_respond(ex, &b);
	return rc < 0 ? rc : 0;
}

/* Room for @p need more upload bytes, evicting the oldest other uploads. */
static bool up_room(struct evudp6_block_server *s, const struct upload *keep, size_t need)
{
	while (s->st.upload_bytes_now + need > s->cfg.upload_bytes) {
		struct evudp6__link *l = s->up_lru.next;
		while (l != &s->up_lru && UP_OF(l) == keep)
			l = l->next;
		if (l == &s->up_lru)
			return false;
		up_drop(s, UP_OF(l));
		s->st.uploads_evicted++;
	}
	return true;
}

static int up_append(struct evudp6_block_server *s, struct upload *u, const uint8_t *p, size_t n)
{
	if (u->len + n > u->cap) {
		size_t cap = u->cap ? u->cap : 4 * EVUDP6_BLOCK_SIZE(u->szx);
		while (cap < u->len + n)
			cap *= 2;
		if (cap > s->cfg.max_body)
			cap = s->cfg.max_body;
		if (!up_room(s, u, cap - u->cap))
			return -ENOBUFS;
		uint8_t *nb = realloc(u->buf, cap);
		if (!nb)
			return -ENOMEM;
		s->st.upload_bytes_now += cap - u->cap;
		u->buf = nb;
		u->cap = cap;
	}
	if (n)
		memcpy(u->buf + u->len, p, n);
	u->len += n;
	return 0;
}

static int handle_block1(struct evudp6_block_server *s, struct evudp6_exchange_handle ex,
                         const struct evudp6_msg *req, const struct evudp6_addr *remote,
                         const struct evudp6_block *b1, struct evudp6_msg *whole)
{
	uint64_t key = request_key(s, req, true);
	struct upload *u = up_find(s, remote, key);
	size_t size = EVUDP6_BLOCK_SIZE(b1->szx);
	uint64_t off = (uint64_t)b1->num * size;
	size_t n = req->payload_len;
	if (b1->more && n != size) {
		if (u)
			up_drop(s, u);
		s->st.wrong_length++;
		return answer_code(ex, CODE_BAD_REQUEST, NULL, -1, -1);
	}
	if (b1->num == 0) {
		if (u)
			up_drop(s, u); /* a new upload of the same body replaces the old one */
		u = NULL;
		struct evudp6_opt o;
		uint32_t size1;
		if (evudp6_msg_find_opt(req, EVUDP6_OPT_SIZE1, &o) && evudp6_opt_uint(&o, &size1) == 0 &&
		    size1 > s->cfg.max_body) {
			s->st.too_large++;
			return answer_code(ex, CODE_TOO_LARGE, NULL, (long)s->cfg.max_body, -1);
		}
		if (!b1->more)
			return 1; /* the whole body in one block */
		if (evudp6__list_empty(&s->up_free)) {
			up_drop(s, UP_OF(s->up_lru.next));
			s->st.uploads_evicted++;
		}
		u = UP_OF(s->up_free.next);
		evudp6__list_del(&u->link);
		evudp6__list_add_tail(&s->up_lru, &u->link);
		u->remote = *remote;
		u->key = key;
		u->len = u->cap = 0;
		u->buf = NULL;
		u->szx = b1->szx;
		s->st.uploads_now++;
		s->st.uploads_started++;
	} else {
		if (!u || off != u->len) {
			if (u)
				up_drop(s, u);
			s->st.incomplete++;
			return answer_code(ex, CODE_INCOMPLETE, NULL, -1, -1);
		}
		if (b1->szx != u->szx) {
			s->st.size_changes++;
			u->szx = b1->szx;
		}
	}
	if (u->len + n > s->cfg.max_body) {
		up_drop(s, u);
		s->st.too_large++;
		return answer_code(ex, CODE_TOO_LARGE, NULL, (long)s->cfg.max_body, -1);
	}
	int rc = up_append(s, u, req->payload, n);
	if (rc < 0) {
		up_drop(s, u);
		s->st.uploads_refused++;
		return answer_code(ex, CODE_UNAVAILABLE, NULL, -1, UNAVAILABLE_MAX_AGE);
	}
	/* Most recently used last: the oldest upload goes first. */
	evudp6__list_del(&u->link);
	evudp6__list_add_tail(&s->up_lru, &u->link);
	u->expires_ms = now_ms() + s->cfg.upload_lifetime_ms;
	if (b1->more) {
		struct evudp6_block ack = {
		    .num = b1->num, .more = true, .szx = b1->szx < s->szx ? b1->szx : s->szx};
		s->st.continues++;
		return answer_code(ex, CODE_CONTINUE, &ack, -1, -1);
	}
	s->st.uploads_completed++;
	s->lent = u;
	whole->payload = u->len ? u->buf : NULL;
	whole->payload_len = u->len;
	return 1;
}

static int serve_block_once(struct evudp6_block_server *s, struct evudp6_exchange_handle ex,
                            struct evudp6_msg_builder *b, const struct evudp6_msg *req, const uint8_t *etag,
                            size_t etag_len, const uint8_t *body, size_t len, uint64_t off, uint8_t szx);

/* Send block @p num of a body: template @p t (code and options) plus the
 * layer's options and the slice. */
static int serve_block(struct evudp6_block_server *s, struct evudp6_exchange_handle ex,
                       struct evudp6_msg_builder *b, const struct evudp6_msg *req, const uint8_t *etag,
                       size_t etag_len, const uint8_t *body, size_t len, uint32_t num, uint8_t szx)
{
	size_t size = EVUDP6_BLOCK_SIZE(szx);
	uint64_t off = (uint64_t)num * size;
	if (off >= len && !(off == 0 && len == 0)) {
		s->st.num_beyond_end++;
		return answer_code(ex, CODE_BAD_OPTION, NULL, -1, -1);
	}
	size_t nopts = b->nopts;
	int rc;
	/* A block whose message would pass max_message (the response's own
	 * options take room too) goes in a smaller size: the same offset,
	 * a larger NUM (RFC 7959 2.4, the server picks a smaller size). */
	while ((rc = serve_block_once(s, ex, b, req, etag, etag_len, body, len, off, szx)) ==
	           -EVUDP6_E_MSG_NOSPACE &&
	       szx > 0) {
		szx--;
		b->nopts = nopts;
		b->err = 0;
		s->st.smaller_blocks++;
	}
	return rc;
}

/* Add Block2 @p b2, the ETag (when @p etag_len) and Size2 @p len to @p b. */
static void layer_options(struct evudp6_msg_builder *b, const struct evudp6_block *b2, const uint8_t *etag,
                          size_t etag_len, size_t len)
{
	evudp6_block_add(b, EVUDP6_OPT_BLOCK2, b2);
	if (etag_len) {
		/* Held inside the builder (a uint of 4 bytes, the first with its
		 * top bit set, encodes as exactly these bytes), so a builder
		 * filled here outlives the caller's copy of the tag. */
		uint32_t v =
		    (uint32_t)etag[0] << 24 | (uint32_t)etag[1] << 16 | (uint32_t)etag[2] << 8 | etag[3];
		evudp6_msg_builder_add_uint(b, EVUDP6_OPT_ETAG, v);
	}
	evudp6_msg_builder_add_uint(b, EVUDP6_OPT_SIZE2, (uint32_t)len);
}

/* Add the block at @p off to @p b: Block1 echo (for an upload), Block2,
 * ETag, Size2 and the slice (referenced). */
static void block_fill(struct evudp6_msg_builder *b, const struct evudp6_msg *req, const uint8_t *etag,
                       size_t etag_len, const uint8_t *body, size_t len, uint64_t off, uint8_t szx)
{
	size_t size = EVUDP6_BLOCK_SIZE(szx);
	uint32_t num = (uint32_t)(off / size);
	size_t n = len - off < size ? len - off : size;
	struct evudp6_block b2 = {.num = num, .more = off + n < len, .szx = szx};
	struct evudp6_block b1;
	if (req && evudp6_block_get(req, EVUDP6_OPT_BLOCK1, &b1) == 1) {
		b1.more = false;
		evudp6_block_add(b, EVUDP6_OPT_BLOCK1, &b1);
	}
	layer_options(b, &b2, etag, etag_len, len);
	evudp6_msg_builder_set_payload(b, body + off, n);
}

static int serve_block_once(struct evudp6_block_server *s, struct evudp6_exchange_handle ex,
                            struct evudp6_msg_builder *b, const struct evudp6_msg *req, const uint8_t *etag,
                            size_t etag_len, const uint8_t *body, size_t len, uint64_t off, uint8_t szx)
{
	(void)s;
	block_fill(b, req, etag, etag_len, body, len, off, szx);
	int rc = evudp6_exchange_respond(ex, b);
	return rc < 0 ? rc : 0;
}

/* The NUM, in blocks of @p szx, of the bytes a request's Block2 asks for. */
static uint32_t num_in(const struct evudp6_block *b2, uint8_t szx)
{
	uint64_t off = (uint64_t)b2->num * EVUDP6_BLOCK_SIZE(b2->szx);
	uint64_t num = off / EVUDP6_BLOCK_SIZE(szx);
	return num > UINT32_MAX ? UINT32_MAX : (uint32_t)num;
}

static uint8_t hint_szx(const struct evudp6_block_server *s, const struct evudp6_addr *remote, uint8_t szx,
                        size_t overhead);
static size_t response_overhead(size_t opts);

/* A block from the snapshot's prepared options: copied into a builder
 * whose Block2 value and payload change with the block (as serve_block()
 * would build it from the template, without decoding it again). */
static int serve_prepared(struct evudp6_block_server *s, struct evudp6_exchange_handle ex,
                          const struct snapshot *sn, uint32_t num, uint8_t szx)
{
	const uint8_t *body = sn->data + sn->tmpl_len;
	size_t len = sn->body_len;
	uint64_t off = (uint64_t)num * EVUDP6_BLOCK_SIZE(szx);
	if (off >= len) {
		s->st.num_beyond_end++;
		return answer_code(ex, CODE_BAD_OPTION, NULL, -1, -1);
	}
	struct evudp6_msg_builder b;
	b.type = EVUDP6_ACK;
	b.code = sn->code;
	b.mid = 0;
	b.tkl = 0;
	b.nopts = sn->nopts;
	memcpy(b.opt, sn->opt, sn->nopts * sizeof(b.opt[0]));
	memcpy(b.uintval, sn->uintval, sn->nopts * sizeof(b.uintval[0]));
	b.err = 0;
	for (;;) {
		size_t size = EVUDP6_BLOCK_SIZE(szx);
		size_t n = len - off < size ? len - off : size;
		struct evudp6_block b2 = {.num = (uint32_t)(off / size), .more = off + n < len, .szx = szx};
		b.opt[sn->block2].len = block_bytes(&b2, b.uintval[sn->block2]);
		evudp6_msg_builder_set_payload(&b, body + off, n);
		int rc = evudp6_exchange_respond(ex, &b);
		if (rc != -EVUDP6_E_MSG_NOSPACE || szx == 0)
			return rc < 0 ? rc : 0;
		/* As serve_block(): the same offset in a smaller size. */
		szx--;
		s->st.smaller_blocks++;
	}
}

static int serve_snapshot(struct evudp6_block_server *s, struct evudp6_exchange_handle ex,
                          struct snapshot *sn, const struct evudp6_block *b2)
{
	uint8_t szx = b2->szx < s->szx ? b2->szx : s->szx;
	szx = hint_szx(s, &sn->remote, szx, response_overhead(sn->tmpl_len - 4));
	/* A block size other than the snapshot's first one still addresses
	 * bytes by NUM * size, so any size works from the same body. */
	if (sn->opt)
		return serve_prepared(s, ex, sn, num_in(b2, szx), szx);
	struct evudp6_msg t;
	struct evudp6_msg_builder b;
	if (evudp6_msg_decode(&t, sn->data, sn->tmpl_len) < 0 || evudp6_msg_builder_from_msg(&b, &t) < 0)
		return -EINVAL;
	return serve_block(s, ex, &b, NULL, sn->etag, sn->etag_len, sn->data + sn->tmpl_len, sn->body_len,
	                   num_in(b2, szx), szx);
}

/* The block size for @p remote: @p szx, or smaller if a Packet Too Big
 * said the path takes less (@p overhead: CoAP bytes around the block). */
static uint8_t hint_szx(const struct evudp6_block_server *s, const struct evudp6_addr *remote, uint8_t szx,
                        size_t overhead)
{
	if (!remote || s->st.path_mtu_hints == 0)
		return szx; /* no Packet Too Big told yet: no hint to look for */
	uint64_t now = now_ms();
	for (size_t i = 0; i < PATH_HINTS; i++) {
		const struct path_hint *h = &s->hints[i];
		if (h->mtu && h->expires_ms > now && evudp6_addr_equal(&h->remote, remote)) {
			uint8_t fit = szx_for_mtu(h->mtu, remote, overhead);
			return fit < szx ? fit : szx;
		}
	}
	return szx;
}

/* CoAP bytes around a block in a response: header, token, the response's
 * options (@p opts bytes), Block1, Block2, ETag, Size2 and the marker. */
static size_t response_overhead(size_t opts)
{
	return 4 + EVUDP6_TOKEN_MAX + opts + 4 + 4 + 1 + ETAG_LEN + 5 + 1;
}

void evudp6_block_icmp_cb(struct evudp6_messenger *m, int err, const struct evudp6_icmp *icmp,
                          const struct evudp6_addr *remote, void *arg)
{
	if (!remote || !is_packet_too_big(err, icmp))
		return;
	struct evudp6_block_server *s = arg;
	if (s) {
		/* Remember it for the blocks of later responses to that peer. */
		struct path_hint *slot = &s->hints[0];
		for (size_t i = 0; i < PATH_HINTS; i++) {
			struct path_hint *h = &s->hints[i];
			if (h->mtu && evudp6_addr_equal(&h->remote, remote)) {
				slot = h;
				break;
			}
			if (h->expires_ms < slot->expires_ms)
				slot = h;
		}
		slot->remote = *remote;
		slot->mtu = icmp->info;
		slot->expires_ms = now_ms() + PATH_HINT_MS;
		s->st.path_mtu_hints++;
	}
	if (!m || !live_transfers.next)
		return;
	/* This thread's transfers on @p m to that remote go on in blocks that
	 * fit; the block in flight was already sent again by the messenger. */
	for (struct evudp6__link *l = live_transfers.next; l != &live_transfers; l = l->next) {
		struct evudp6_block_request *br = evudp6__container_of(l, struct evudp6_block_request, live);
		if (br->m != m || !evudp6_addr_equal(&br->remote, remote))
			continue;
		uint8_t fit = szx_for_mtu(icmp->info, &br->remote, request_overhead(br));
		if (br->uploading && fit < br->up_szx) {
			br->up_szx = fit;
			br->st.path_mtu_reductions++;
		}
	}
}

int evudp6_block_server_handle(struct evudp6_block_server *s, struct evudp6_exchange_handle ex,
                               const struct evudp6_msg *req, const struct evudp6_addr *remote,
                               struct evudp6_msg *whole)
{
	if (!s || !ex.obj || !req || !remote || !whole)
		return -EINVAL;
	if (!evudp6_exchange_remote(ex))
		return -EVUDP6_E_STATE; /* answered already: a stale handle */
	if (s->lent) {
		up_drop(s, s->lent);
		s->lent = NULL;
	}
	*whole = *req;
	struct block_scan sc;
	block_scan(req, &sc);
	int r1 = sc.r1, r2 = sc.r2;
	const struct evudp6_block b1 = sc.b1, b2 = sc.b2;
	if (r1 < 0 || r2 < 0) {
		s->st.bad_block++;
		return answer_code(ex, CODE_BAD_OPTION, NULL, -1, -1);
	}
	if ((r1 == 1 && b1.szx == 7) || (r2 == 1 && b2.szx == 7)) {
		/* BERT is for reliable transports only (RFC 8323). */
		s->st.bad_szx++;
		return answer_code(ex, CODE_BAD_REQUEST, NULL, -1, -1);
	}
	if (r1 == 1)
		return handle_block1(s, ex, req, remote, &b1, whole);
	if (r2 == 1 && b2.num > 0) {
		struct snapshot *sn = snap_find(s, remote, request_key(s, req, false));
		if (sn) {
			uint64_t before = s->st.num_beyond_end;
			int rc = serve_snapshot(s, ex, sn, &b2);
			if (rc == 0 && s->st.num_beyond_end == before)
				s->st.blocks_from_cache++;
			return rc;
		}
		s->st.cache_misses++;
	}
	return 1;
}

/*
 * The options every block of a snapshot carries (@p t's, then Block2 with
 * a value set per block, the ETag and Size2), into @p pb; the index of
 * that Block2, or -1 when they do not fit a builder.
 */
static int snap_prepare(struct evudp6_msg_builder *pb, const struct evudp6_msg *t, const uint8_t *etag,
                        size_t etag_len, size_t len)
{
	const struct evudp6_block zero = {0};
	if (evudp6_msg_builder_from_msg(pb, t) < 0)
		return -1;
	layer_options(pb, &zero, etag, etag_len, len);
	return pb->err ? -1 : last_opt(pb, EVUDP6_OPT_BLOCK2);
}

/* Keep a snapshot of the response template and body; NULL when it cannot be kept. */
static struct snapshot *snap_make(struct evudp6_block_server *s, const struct evudp6_addr *remote,
                                  uint64_t key, struct snapshot *old, struct evudp6_msg_builder *b,
                                  const uint8_t *etag, size_t etag_len, const void *body, size_t len)
{
	if (!s->cfg.cache_entries || len > s->cfg.cache_bytes)
		return NULL;
	if (old)
		snap_drop(s, old);
	uint8_t *tmpl;
	size_t tlen;
	struct evudp6_msg view;
	if (template_make(b, &tmpl, &tlen, &view) < 0)
		return NULL;
	while (
	    !evudp6__list_empty(&s->snap_lru) &&
	    (evudp6__list_empty(&s->snap_free) || s->st.cache_bytes_now + tlen + len > s->cfg.cache_bytes)) {
		snap_drop(s, SNAP_OF(s->snap_lru.next));
		s->st.cache_evicted++;
	}
	if (evudp6__list_empty(&s->snap_free) || s->st.cache_bytes_now + tlen + len > s->cfg.cache_bytes) {
		free(tmpl);
		return NULL;
	}
	/* data: the template, the body, then the prepared options (whose
	 * values point into the template). */
	struct evudp6_msg_builder pb;
	int block2 = snap_prepare(&pb, &view, etag, etag_len, len);
	size_t nopts = block2 < 0 ? 0 : pb.nopts;
	size_t at = (tlen + len + _Alignof(struct evudp6_opt) - 1) & ~(_Alignof(struct evudp6_opt) - 1);
	uint8_t *data = malloc(at + nopts * (sizeof(pb.opt[0]) + sizeof(pb.uintval[0])));
	if (!data) {
		free(tmpl);
		return NULL;
	}
	memcpy(data, tmpl, tlen);
	memcpy(data + tlen, body, len);
	struct snapshot *sn = SNAP_OF(s->snap_free.next);
	sn->opt = NULL;
	if (nopts) {
		sn->opt = (struct evudp6_opt *)(void *)(data + at);
		sn->uintval = (uint8_t(*)[4])(void *)(sn->opt + nopts);
		for (size_t i = 0; i < nopts; i++) {
			sn->opt[i] = pb.opt[i];
			if (pb.opt[i].value)
				sn->opt[i].value = data + (pb.opt[i].value - tmpl);
		}
		memcpy(sn->uintval, pb.uintval, nopts * sizeof(pb.uintval[0]));
		sn->nopts = nopts;
		sn->block2 = (size_t)block2;
		sn->code = b->code;
	}
	free(tmpl);
	evudp6__list_del(&sn->link);
	evudp6__list_add_tail(&s->snap_lru, &sn->link);
	sn->remote = *remote;
	sn->key = key;
	sn->expires_ms = now_ms() + s->cfg.cache_lifetime_ms;
	memcpy(sn->etag, etag, etag_len);
	sn->etag_len = etag_len;
	sn->data = data;
	sn->tmpl_len = tlen;
	sn->body_len = len;
	s->st.cache_bytes_now += tlen + len;
	s->st.cache_entries_now++;
	s->st.snapshots++;
	return sn;
}

/* Whether snapshot @p sn already holds @p b's code and options and @p body. */
static bool snap_same(const struct snapshot *sn, struct evudp6_msg_builder *b, const void *body, size_t len)
{
	uint8_t t[512];
	if (sn->body_len != len || sn->tmpl_len > sizeof(t))
		return false;
	ssize_t n = template_encode(b, t, sn->tmpl_len);
	return n == (ssize_t)sn->tmpl_len && memcmp(t, sn->data, sn->tmpl_len) == 0 &&
	       memcmp(sn->data + sn->tmpl_len, body, len) == 0;
}

/*
 * A body of several blocks: its ETag (a keyed hash, unless @p b has one;
 * written to @p etag, its length returned) and a snapshot of @p b's code
 * and options with the body, for the later blocks. The same response to
 * the same request again keeps its snapshot (and so its ETag): nothing to
 * hash, copy or allocate.
 */
static size_t snapshot_body(struct evudp6_block_server *s, const struct evudp6_addr *remote,
                            const struct evudp6_msg *req, struct evudp6_msg_builder *b, const void *body,
                            size_t len, uint8_t szx, uint8_t etag[ETAG_LEN])
{
	size_t etag_len = 0;
	bool own_etag = false;
	for (size_t i = 0; i < b->nopts; i++)
		own_etag |= b->opt[i].number == EVUDP6_OPT_ETAG;
	b->payload = NULL;
	b->payload_len = 0;
	bool keep = req && remote && len > EVUDP6_BLOCK_SIZE(szx);
	uint64_t key = keep ? request_key(s, req, false) : 0;
	struct snapshot *old = keep ? snap_find(s, remote, key) : NULL;
	if (old && snap_same(old, b, body, len)) {
		old->expires_ms = now_ms() + s->cfg.cache_lifetime_ms;
		evudp6__list_del(&old->link);
		evudp6__list_add_tail(&s->snap_lru, &old->link);
		s->st.snapshots++;
		memcpy(etag, old->etag, old->etag_len);
		return old->etag_len;
	}
	if (!own_etag) {
		uint64_t h = body_hash(s, body, len);
		etag[0] = (uint8_t)(h >> 56 | 0x80);
		etag[1] = (uint8_t)(h >> 48);
		etag[2] = (uint8_t)(h >> 40);
		etag[3] = (uint8_t)(h >> 32);
		etag_len = ETAG_LEN;
	}
	if (keep)
		snap_make(s, remote, key, old, b, etag, etag_len, body, len);
	return etag_len;
}

int evudp6_block_respond(struct evudp6_block_server *s, struct evudp6_exchange_handle ex,
                         const struct evudp6_msg *req, struct evudp6_msg_builder *b, const void *body,
                         size_t len)
{
	if (!s || !ex.obj || !b || (!body && len))
		return -EINVAL;
	if (!evudp6_exchange_remote(ex))
		return -EVUDP6_E_STATE; /* answered already: a stale handle */
	if (len > s->cfg.max_body)
		return -EMSGSIZE;
	struct evudp6_block b1, b2 = {.szx = s->szx};
	int r2 = req ? evudp6_block_get(req, EVUDP6_OPT_BLOCK2, &b2) : 0;
	if (r2 < 0) {
		s->st.bad_block++;
		return answer_code(ex, CODE_BAD_OPTION, NULL, -1, -1);
	}
	uint8_t szx = r2 == 1 && b2.szx < s->szx ? b2.szx : s->szx;
	size_t opts = 0;
	for (size_t i = 0; i < b->nopts; i++)
		opts += 3 + b->opt[i].len;
	szx = hint_szx(s, evudp6_exchange_remote(ex), szx, response_overhead(opts));
	if (r2 != 1 || b2.num == 0) {
		if (len <= EVUDP6_BLOCK_SIZE(szx)) {
			/* One block: no slicing, no snapshot. */
			if (req && evudp6_block_get(req, EVUDP6_OPT_BLOCK1, &b1) == 1) {
				b1.more = false;
				evudp6_block_add(b, EVUDP6_OPT_BLOCK1, &b1);
			}
			if (r2 == 1) {
				struct evudp6_block one = {.szx = szx};
				evudp6_block_add(b, EVUDP6_OPT_BLOCK2, &one);
			}
			evudp6_msg_builder_set_payload(b, body, len);
			int rc = evudp6_exchange_respond(ex, b);
			return rc < 0 ? rc : 0;
		}
	}
	uint8_t etag[ETAG_LEN];
	size_t etag_len = snapshot_body(s, evudp6_exchange_remote(ex), req, b, body, len, szx, etag);
	return serve_block(s, ex, b, req, etag, etag_len, body, len, r2 == 1 ? num_in(&b2, szx) : 0, szx);
}

int evudp6_block_server_first(struct evudp6_block_server *s, const struct evudp6_addr *remote,
                              const struct evudp6_msg *req, struct evudp6_msg_builder *b, const void *body,
                              size_t len)
{
	if (!s || !remote || !b || (!body && len))
		return -EINVAL;
	if (len > s->cfg.max_body)
		return -EMSGSIZE;
	struct evudp6_block b2 = {.szx = s->szx};
	int r2 = req ? evudp6_block_get(req, EVUDP6_OPT_BLOCK2, &b2) : 0;
	uint8_t szx = r2 == 1 && b2.szx < s->szx ? b2.szx : s->szx;
	if (len <= EVUDP6_BLOCK_SIZE(szx)) {
		evudp6_msg_builder_set_payload(b, body, len);
		return b->err;
	}
	uint8_t etag[ETAG_LEN];
	size_t etag_len = snapshot_body(s, remote, req, b, body, len, szx, etag);
	block_fill(b, NULL, etag, etag_len, body, len, 0, szx);
	return b->err;
}

size_t evudp6__block_server_max_body(const struct evudp6_block_server *s)
{
	return s->cfg.max_body;
}
