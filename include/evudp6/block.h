/*
 * evudp6 — block-wise transfer (RFC 7959, with Request-Tag of RFC 9175):
 * bodies of any size, both ways, on top of the messenger's public API.
 *
 * Client: evudp6_block_request() sends a request like
 * evudp6_messenger_request() and completes it: a request body larger
 * than one block goes up in Block1 blocks, each a confirmable exchange
 * waiting for 2.31 Continue; a response with Block2 M=1 is fetched block
 * by block and reassembled (up to max_body), or handed over block by block
 * in streaming mode. Every follow-up request is a new exchange with a
 * fresh token (RFC 7959 section 2.4 allows either; fresh tokens keep a
 * late answer to an earlier block from being taken for a later one).
 * evudp6_block_continue() completes a response that arrived some other
 * way (an Observe notification carrying its first block).
 *
 * Server: a block server (evudp6_block_server_new(), not tied to one
 * messenger) is consulted at the top of a request handler with
 * evudp6_block_server_handle(): it answers Block1 blocks with 2.31 until
 * the body is complete, serves later Block2 blocks from a snapshot of the
 * body without calling the handler, and rejects what RFC 7959 rejects.
 * The handler answers with evudp6_block_respond(), which slices a body of
 * any size (up to max_body) into blocks with an ETag and Size2. All
 * memory is bounded by the configuration; serving a block from a snapshot
 * allocates nothing.
 */
#ifndef EVUDP6_BLOCK_H
#define EVUDP6_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <evudp6/addr.h>
#include <evudp6/common.h>
#include <evudp6/icmp.h>
#include <evudp6/messenger.h>
#include <evudp6/msg.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Request-Tag (RFC 9175): elective, opaque 0..8 bytes. */
#define EVUDP6_OPT_REQUEST_TAG 292u

/** Block size of an SZX (0..6 give 16..1024 bytes; 7 is BERT, not for UDP). */
#define EVUDP6_BLOCK_SIZE(szx) (16u << (szx))
/** Largest NUM a 3-byte block option carries. */
#define EVUDP6_BLOCK_NUM_MAX 0xFFFFFu

#define EVUDP6_BLOCK_DEFAULT_MAX_BODY           (1024u * 1024u)
#define EVUDP6_BLOCK_DEFAULT_BLOCK_SIZE         1024u
#define EVUDP6_BLOCK_DEFAULT_MAX_RESTARTS       3u
#define EVUDP6_BLOCK_DEFAULT_CACHE_ENTRIES      64u
#define EVUDP6_BLOCK_DEFAULT_CACHE_BYTES        (4u * 1024u * 1024u)
#define EVUDP6_BLOCK_DEFAULT_CACHE_LIFETIME_MS  60000u
#define EVUDP6_BLOCK_DEFAULT_MAX_UPLOADS        16u
#define EVUDP6_BLOCK_DEFAULT_UPLOAD_BYTES       (4u * 1024u * 1024u)
#define EVUDP6_BLOCK_DEFAULT_UPLOAD_LIFETIME_MS 60000u

/** The value of a Block1 or Block2 option. */
struct evudp6_block {
	uint32_t num; /**< block number, 0..EVUDP6_BLOCK_NUM_MAX */
	bool more;    /**< M: more blocks follow */
	uint8_t szx;  /**< size exponent: the block is 16 << szx bytes */
};

/**
 * Read the Block1 or Block2 option (@p number) of a message.
 * @return 1 and fills @p out; 0 if the message has none; -EINVAL if its
 *         value is longer than 3 bytes or the option is repeated.
 */
EVUDP6_API int evudp6_block_get(const struct evudp6_msg *m, uint32_t number, struct evudp6_block *out);

/**
 * Add a Block1 or Block2 option (@p number) to a builder, in its shortest
 * form. @return 0, -EINVAL (szx > 7, num > EVUDP6_BLOCK_NUM_MAX), or an
 * error of evudp6_msg_builder_add_uint().
 */
EVUDP6_API int evudp6_block_add(struct evudp6_msg_builder *b, uint32_t number,
                                const struct evudp6_block *blk);

/**
 * The SZX of the largest block size not above @p size (16..1024).
 * @return 0..6, or -EINVAL for a size below 16.
 */
EVUDP6_API int evudp6_block_szx(size_t size);

/* ------------------------------------------------------------ client */

/** A block-wise request in progress (client side). */
struct evudp6_block_request;

/**
 * Streaming mode: one block of the response body. @p offset is where it
 * starts in the body. After an ETag change the transfer restarts and
 * blocks come again from offset 0: whatever was kept must be dropped.
 * @p data is valid only during the call.
 */
typedef void (*evudp6_block_data_cb)(struct evudp6_block_request *br, uint64_t offset, const uint8_t *data,
                                     size_t len, void *arg);

/**
 * Progress of a transfer, after every block: @p done bytes of @p total
 * (from Size1/Size2 or the request body; 0 when not known yet), @p upload
 * true while the request body goes up.
 */
typedef void (*evudp6_block_progress_cb)(struct evudp6_block_request *br, bool upload, uint64_t done,
                                         uint64_t total, void *arg);

/**
 * The transfer ended.
 *
 * @param err  0: @p rsp is the final response, its payload the whole body
 *             (in streaming mode no payload: the blocks went to the data
 *             callback); -EVUDP6_E_BLOCK_TOO_LARGE (4.13 to a Block1
 *             upload, also to one sent after a 4.13 with Block1; @p rsp
 *             carries the server's Size1 if it gave one),
 *             -EVUDP6_E_BLOCK_INCOMPLETE
 *             (4.08), -EVUDP6_E_BLOCK_BODY_LIMIT (the response body would
 *             pass max_body), -EVUDP6_E_BLOCK_CHANGED (the ETag changed
 *             more than max_restarts times), -EVUDP6_E_BLOCK_INVALID (the
 *             server's block options make no sense, or SZX 7), each with
 *             @p rsp the response that ended it; or an error of the
 *             messenger's response callback (@p rsp NULL).
 * @param rsp  a view valid only during the call (its options are those of
 *             the last response)
 */
typedef void (*evudp6_block_response_cb)(struct evudp6_block_request *br, int err,
                                         const struct evudp6_msg *rsp, const struct evudp6_addr *remote,
                                         const struct evudp6_icmp *icmp, void *arg);

/**
 * Client configuration. Fill with evudp6_block_config_init(), then change
 * what you need.
 */
struct evudp6_block_config {
	/** sizeof(struct evudp6_block_config) as the caller was compiled. */
	size_t size;
	/** Largest response body reassembled (also in streaming mode); >= 1. */
	size_t max_body;
	/**
	 * Block size: of the request body's blocks (Block1), and 0 or the
	 * size asked for in the first request's Block2 (early negotiation).
	 * A power of two, 16..1024. The server's smaller size is followed.
	 */
	unsigned int block_size;
	/** Ask for block_size in the first request's Block2 option (early negotiation). */
	bool early_block2;
	/** ETag changes that restart a download from block 0 before it fails. */
	unsigned int max_restarts;
	/** Streaming mode when set: blocks go here and are not kept. */
	evudp6_block_data_cb data_cb;
	void *data_arg;
	/** Told after every block when set. */
	evudp6_block_progress_cb progress_cb;
	void *progress_arg;
	/**
	 * Per-exchange settings for every block's exchange (see
	 * evudp6_messenger_request_ex(): wait, deadline, ACK_TIMEOUT,
	 * MAX_RETRANSMIT); NULL for the messenger's. Copied; its ack_cb is
	 * not used (the exchanges are the layer's).
	 */
	const struct evudp6_request_options *request_options;
};

/**
 * Fill @p cfg with the defaults (EVUDP6_BLOCK_DEFAULT_*, no streaming)
 * and set cfg->size to @p size (sizeof as the caller was compiled; no
 * more than @p size bytes are written).
 * @return 0, or -EINVAL for a NULL @p cfg or a @p size below
 *         sizeof(size_t) or not a multiple of the struct's alignment.
 */
EVUDP6_API int evudp6_block_config_init(struct evudp6_block_config *cfg, size_t size);

/**
 * Send a request and complete it block-wise both ways.
 *
 * @p b is a request as for evudp6_messenger_request(): type, code, options
 * and payload; its options and payload are copied, so @p b is not needed
 * after the call. Block1, Block2, Size1, Size2 and Request-Tag options in
 * @p b are dropped: the layer writes its own. A payload larger than the
 * block size goes up with Block1 (every block CON, with Size1 and a
 * Request-Tag so that concurrent uploads stay apart); otherwise the
 * request leaves as it is, and a 4.13 to it that carries Block1 (RFC 7959
 * section 2.9.3: send it in blocks of this size) makes it go again, once,
 * as a Block1 upload in that size (not above ours) unless the 4.13's
 * Size1 is below the body; such a 4.13 with SZX 7 ends it with
 * -EVUDP6_E_BLOCK_INVALID, one without Block1 is the final response.
 * Follow-up Block2 requests repeat the request's
 * options (not its payload, not Observe) with the next NUM.
 *
 * @param cfg  may be NULL for the defaults; copied
 * @param cb   called once at the end; never from inside this call
 * @param out  receives the handle (valid until @p cb returns), may be NULL
 * @return 0; -EINVAL (bad arguments or configuration, a multicast remote);
 *         -ENOMEM; or an error of evudp6_messenger_request(). On error
 *         @p cb is never called.
 *
 * evudp6_messenger_shutdown() ends transfers with -EVUDP6_E_SHUTDOWN;
 * evudp6_messenger_free() does not: cancel them before freeing it.
 */
EVUDP6_API int evudp6_block_request(struct evudp6_messenger *m, const struct evudp6_addr *remote,
                                    struct evudp6_msg_builder *b, const struct evudp6_block_config *cfg,
                                    evudp6_block_response_cb cb, void *arg,
                                    struct evudp6_block_request **out);

/**
 * Complete a response that carries the first block of a body (Block2
 * NUM 0, M=1) but arrived outside evudp6_block_request(), e.g. an Observe
 * notification (RFC 7959 sections 2.6 and 3.4): the rest is fetched with
 * the options of @p b, the request that asked for it (Observe is dropped
 * from the follow-ups), and @p cb runs once with the whole body.
 *
 * @param first  the response with the first block; copied
 * @return 0; -EINVAL if @p first has no Block2 with M=1 and NUM 0, or
 *         its block option is invalid; -EVUDP6_E_BLOCK_BODY_LIMIT if its
 *         Size2 passes max_body; otherwise as evudp6_block_request().
 *         On error @p cb is never called.
 */
EVUDP6_API int evudp6_block_continue(struct evudp6_messenger *m, const struct evudp6_addr *remote,
                                     struct evudp6_msg_builder *b, const struct evudp6_msg *first,
                                     const struct evudp6_block_config *cfg, evudp6_block_response_cb cb,
                                     void *arg, struct evudp6_block_request **out);

/**
 * Cancel a transfer: the exchange in flight is cancelled, the callbacks
 * are not called again, and the handle is freed (after the callback, if
 * called from one). From the final callback, or twice: nothing.
 */
EVUDP6_API void evudp6_block_request_cancel(struct evudp6_block_request *br);

/** What a transfer has done so far. */
struct evudp6_block_request_stats {
	uint64_t blocks_sent;     /**< Block1 blocks acknowledged with 2.31 or a final response */
	uint64_t blocks_received; /**< Block2 blocks accepted */
	uint64_t bytes_received;  /**< of the current representation */
	uint64_t requests;        /**< exchanges, first and follow-ups */
	unsigned int restarts;    /**< ETag changes that restarted the download */
	unsigned int block_size;  /**< current download block size (the server's choice) */
	/**
	 * Blocks sent again in a smaller size because their datagram did not
	 * fit the path (an ICMP Packet Too Big or fragmentation needed, or
	 * EMSGSIZE from the kernel, that ended the exchange).
	 */
	unsigned int path_mtu_reductions;
	/** current upload block size (ours, or the server's smaller one, or the path's) */
	unsigned int upload_block_size;
	uint64_t bytes_sent; /**< of the request body, acknowledged */
	/** CON retransmissions of the transfer's requests, all exchanges together */
	unsigned int retransmissions;
	/**
	 * 1 when a 4.13 with Block1 to the request sent in one message made
	 * it go again as a Block1 upload in the block size that 4.13 asked
	 * for (RFC 7959 section 2.9.3); at most once per transfer.
	 */
	unsigned int too_large_retries;
};

/**
 * Copy a transfer's counters (valid while the handle is, so also in its
 * final callback). At most @p size bytes of @p out are written, and
 * bytes of a larger struct than this library knows are set to 0.
 * @return the bytes filled, min(size, the library's sizeof); -EINVAL for
 *         a NULL @p out.
 */
EVUDP6_API int evudp6_block_request_stats(const struct evudp6_block_request *br,
                                          struct evudp6_block_request_stats *out, size_t size);

/**
 * Packet Too Big: pass to evudp6_messenger_set_icmp_cb() (or call from
 * your own ICMP callback with the same arguments). For a Packet Too Big
 * or fragmentation needed with its MTU (for IPv6 at least 1280, the
 * smallest an IPv6 link may have), the block-wise transfers of @p m
 * to @p remote go on in blocks that fit that MTU (the block that met the
 * error was already sent again by the messenger, fragmented by the
 * kernel), and, when @p arg is a struct evudp6_block_server, its later
 * responses to @p remote are sliced to fit it too (remembered for 10
 * minutes, for up to 32 peers). Other errors are ignored.
 */
EVUDP6_API void evudp6_block_icmp_cb(struct evudp6_messenger *m, int err, const struct evudp6_icmp *icmp,
                                     const struct evudp6_addr *remote, void *arg);

/* ------------------------------------------------------------ server */

/** Server-side block state: snapshots of bodies being served, uploads being reassembled. */
struct evudp6_block_server;

/** Server configuration. Fill with evudp6_block_server_config_init(). */
struct evudp6_block_server_config {
	/** sizeof(struct evudp6_block_server_config) as the caller was compiled. */
	size_t size;
	/** Largest body sliced or reassembled; a larger upload gets 4.13 with Size1 = this. */
	size_t max_body;
	/** Block size when the request does not ask for a smaller one; 16..1024, a power of two. */
	unsigned int block_size;
	/** Snapshots kept at once (0: none; every block runs the handler). */
	size_t cache_entries;
	/** Bytes of snapshots kept at once (oldest out). */
	size_t cache_bytes;
	/** How long a snapshot serves later blocks; > 0. */
	unsigned int cache_lifetime_ms;
	/** Uploads reassembled at once (oldest out); >= 1. */
	size_t max_uploads;
	/** Bytes held by uploads at once; a new upload that cannot fit gets 5.03. */
	size_t upload_bytes;
	/** An upload idle this long is forgotten; > 0. */
	unsigned int upload_lifetime_ms;
};

/** Counters since creation; cache_* and uploads_* "now" values are current. */
struct evudp6_block_server_stats {
	uint64_t snapshots;         /**< bodies sliced into a snapshot */
	uint64_t blocks_from_cache; /**< blocks served from a snapshot, handler not called */
	uint64_t cache_misses;      /**< block requests (NUM > 0) with no snapshot: handler called */
	uint64_t cache_evicted;     /**< snapshots dropped for room or age */
	uint64_t cache_entries_now; /**< snapshots held */
	uint64_t cache_bytes_now;   /**< bytes they hold */
	uint64_t uploads_started;   /**< Block1 transfers begun (NUM 0, M=1) */
	uint64_t uploads_completed; /**< reassembled bodies handed to the handler */
	uint64_t uploads_evicted;   /**< uploads dropped for room or age */
	uint64_t uploads_refused;   /**< new uploads refused with 5.03: upload_bytes full */
	uint64_t uploads_now;       /**< uploads in progress */
	uint64_t upload_bytes_now;  /**< bytes they hold */
	uint64_t continues;         /**< 2.31 Continue sent */
	uint64_t bad_szx;           /**< SZX 7 (BERT) over UDP: 4.00 */
	uint64_t bad_block;         /**< a block option longer than 3 bytes, or repeated: 4.02 */
	uint64_t num_beyond_end;    /**< Block2 NUM past the end of the body: 4.02 */
	uint64_t incomplete;     /**< Block1 block without its predecessors (gap, disorder, unknown): 4.08 */
	uint64_t size_changes;   /**< Block1 SZX changed mid-transfer (accepted when consistent) */
	uint64_t too_large;      /**< uploads over max_body: 4.13 with Size1 */
	uint64_t wrong_length;   /**< a Block1 block with M=1 whose payload is not the block size: 4.00 */
	uint64_t smaller_blocks; /**< blocks sent one size smaller because the message passed max_message */
	uint64_t path_mtu_hints; /**< Packet Too Big errors told (evudp6_block_icmp_cb()): smaller blocks to
	                            that peer */
};

/**
 * Fill @p cfg with the defaults (EVUDP6_BLOCK_DEFAULT_*) and set
 * cfg->size to @p size (as evudp6_block_config_init()). @return 0 or
 * -EINVAL.
 */
EVUDP6_API int evudp6_block_server_config_init(struct evudp6_block_server_config *cfg, size_t size);

/**
 * Create a block server. It is not tied to a messenger: one may serve
 * several. Snapshots and uploads are allocated when they start (one per
 * body), never per block.
 * @param cfg  may be NULL for the defaults; copied
 * @return 0, -EINVAL (bad configuration) or -ENOMEM.
 */
EVUDP6_API int evudp6_block_server_new(struct evudp6_block_server **out,
                                       const struct evudp6_block_server_config *cfg);

/** Free a block server and everything it holds. NULL is ignored. */
EVUDP6_API void evudp6_block_server_free(struct evudp6_block_server *s);

/**
 * Look at a request first, from the request handler.
 *
 * @param whole  receives the request to handle when 1 is returned: @p req
 *               itself, or, when a Block1 upload has just completed, the
 *               last block's request whose payload is the whole body
 *               (valid until the next call on @p s or
 *               evudp6_block_server_free(): copy it to answer later)
 * @return 1: handle @p whole and answer with evudp6_block_respond() (or
 *         evudp6_exchange_respond() for a body that fits one message);
 *         0: already answered (2.31 Continue, a block from a snapshot,
 *         4.00, 4.02, 4.08, 4.13 or 5.03): do nothing more;
 *         negative: evudp6_exchange_respond() failed (e.g.
 *         -EVUDP6_E_SHUTDOWN) and the exchange is left as it was;
 *         -EVUDP6_E_STATE for an exchange handle already answered.
 */
EVUDP6_API int evudp6_block_server_handle(struct evudp6_block_server *s, struct evudp6_exchange_handle ex,
                                          const struct evudp6_msg *req, const struct evudp6_addr *remote,
                                          struct evudp6_msg *whole);

/**
 * Answer with a body of any size up to max_body.
 *
 * @p b holds the response code and options (as for
 * evudp6_exchange_respond(); its payload is ignored). A body that fits
 * one block leaves as it is. A larger one is sliced to the request's
 * Block2 size (or the configured block size, whichever is smaller) with
 * an ETag (a hash of the body, unless @p b has one) and Size2; the block
 * the request asks for is sent and the body is kept as a snapshot for the
 * next blocks. A request with Block1 gets its Block1 echoed.
 *
 * @param req   the request (the @p whole of evudp6_block_server_handle(),
 *              or a decoded copy the caller kept to answer later)
 * @param body  copied when a snapshot is made; may be NULL when @p len is 0
 * @return 0 (answered); 0 also when the request's NUM is past the end of
 *         the body (answered 4.02); -EMSGSIZE beyond max_body; an error
 *         of evudp6_exchange_respond() (the exchange stays open);
 *         -EVUDP6_E_STATE for an exchange handle already answered.
 */
EVUDP6_API int evudp6_block_respond(struct evudp6_block_server *s, struct evudp6_exchange_handle ex,
                                    const struct evudp6_msg *req, struct evudp6_msg_builder *b,
                                    const void *body, size_t len);

/**
 * Fill a message that is not the answer to an exchange (an Observe
 * notification, RFC 7959 section 3.4) with the first block of a body:
 * like evudp6_block_respond() for NUM 0, but nothing is sent. A body
 * larger than one block gets Block2 (NUM 0, M=1), ETag and Size2, and a
 * snapshot keyed by @p remote and @p req serves the follow-up requests
 * for the next blocks (which carry no Observe) in
 * evudp6_block_server_handle().
 *
 * @param remote  the peer that will receive the message
 * @param req     the request it answers (the Observe registration), for
 *                its Block2 size and its options; may be NULL (no snapshot)
 * @param b       code and options set by the caller; the payload is set
 *                here and references @p body, which must stay valid until
 *                @p b is encoded
 * @return 0; -EMSGSIZE beyond max_body; -EINVAL; or an error remembered
 *         by @p b.
 */
EVUDP6_API int evudp6_block_server_first(struct evudp6_block_server *s, const struct evudp6_addr *remote,
                                         const struct evudp6_msg *req, struct evudp6_msg_builder *b,
                                         const void *body, size_t len);

/**
 * Copy the counters; at most @p size bytes of @p out are written, bytes
 * of a larger struct than this library knows are set to 0.
 * @return the bytes filled; -EINVAL for a NULL @p out.
 */
EVUDP6_API int evudp6_block_server_stats(const struct evudp6_block_server *s,
                                         struct evudp6_block_server_stats *out, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* EVUDP6_BLOCK_H */
