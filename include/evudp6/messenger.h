/*
 * evudp6 — message layer (RFC 7252 sections 4 and 8, RFC 7967): reliable
 * CoAP exchanges over one transport, as client and server at once.
 *
 * A messenger runs on one transport: its own (evudp6_messenger_new()),
 * or one the caller made and keeps (evudp6_messenger_new_on_transport()),
 * which the messenger then shares with the caller. As a client it sends requests built by
 * the caller, assigns their message id and token, retransmits confirmable
 * ones on the RFC 7252 schedule, matches piggybacked, separate and
 * non-confirmable responses, and fails every pending exchange to a remote
 * at once when a hard ICMP error (vetted: its quote must hold the header
 * and token of a message pending to that remote) or a send error says the
 * remote is unreachable (a send refused with EMSGSIZE, too big for the
 * path, fails only the request it was); soft ICMP errors (Packet Too Big, Time Exceeded,
 * Parameter Problem) are counted and fail nothing, and a Packet Too Big
 * sends the quoted message again at once. As a server it deduplicates
 * requests per endpoint pair (remote, local address, message id), answers
 * pings, acknowledges slow confirmable requests with an
 * empty ACK and sends their response separately, answers multicast
 * requests from a unicast address after a random leisure, suppresses error
 * responses to multicast requests, drops CON messages sent to a group
 * (RFC 7252 8.1) and honours No-Response.
 *
 * All state is preallocated when the messenger is created: receiving a
 * datagram, answering it and sending a request allocate nothing. Callbacks
 * run on the event_base's thread; a messenger is not thread-safe.
 */
#ifndef EVUDP6_MESSENGER_H
#define EVUDP6_MESSENGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <evudp6/addr.h>
#include <evudp6/common.h>
#include <evudp6/icmp.h>
#include <evudp6/msg.h>
#include <evudp6/transport.h>

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;
/** A messenger: one transport plus the message layer's state. */
struct evudp6_messenger;
/** A request this messenger sent (client side); internal, see evudp6_request_handle. */
struct evudp6_request;
/** A request this messenger received and has to answer (server side); internal, see evudp6_exchange_handle.
 */
struct evudp6_exchange;

/**
 * A handle on a request this messenger sent: a small value, copied and
 * kept freely. It refers to its request from evudp6_messenger_request()
 * until the request's final callback has returned, or until it is
 * cancelled. After that every function given the handle does nothing and
 * returns -EVUDP6_E_STATE (or NULL), even once the messenger has reused
 * the request's slot for another request: a stale handle never acts on
 * someone else's request. A zeroed handle refers to no request. Handles
 * must not be used after evudp6_messenger_free(). The fields are the
 * library's; only copy the struct.
 */
struct evudp6_request_handle {
	struct evudp6_request *obj;
	uint64_t gen;
};

/**
 * A handle on a request this messenger received (an exchange), given to
 * the request handler: a small value, copied and kept freely. It refers
 * to its exchange until the exchange is answered (evudp6_exchange_respond()
 * returned 0). After that every function given the handle does nothing
 * and returns -EVUDP6_E_STATE (or NULL / false), even once the slot holds
 * another requester's exchange. Handles must not be used after
 * evudp6_messenger_free(). The fields are the library's; only copy the
 * struct.
 */
struct evudp6_exchange_handle {
	struct evudp6_exchange *obj;
	uint64_t gen;
};

/** RFC 7252 section 4.8 defaults, as set by evudp6_messenger_config_init(). */
#define EVUDP6_MESSENGER_DEFAULT_ACK_TIMEOUT_MS       2000u
#define EVUDP6_MESSENGER_DEFAULT_ACK_RANDOM_FACTOR    1.5
#define EVUDP6_MESSENGER_DEFAULT_MAX_RETRANSMIT       4u
#define EVUDP6_MESSENGER_DEFAULT_NSTART               1u
#define EVUDP6_MESSENGER_DEFAULT_LEISURE_MS           5000u
#define EVUDP6_MESSENGER_DEFAULT_EXCHANGE_LIFETIME_MS 247000u
#define EVUDP6_MESSENGER_DEFAULT_NON_LIFETIME_MS      145000u
/** MAX_TRANSMIT_WAIT of RFC 7252 4.8.2. */
#define EVUDP6_MESSENGER_DEFAULT_RESPONSE_TIMEOUT_MS 93000u
#define EVUDP6_MESSENGER_DEFAULT_MULTICAST_WAIT_MS   7000u
#define EVUDP6_MESSENGER_DEFAULT_EMPTY_ACK_DELAY_MS  100u
#define EVUDP6_MESSENGER_DEFAULT_DEDUP_CAP           1024u
#define EVUDP6_MESSENGER_DEFAULT_MAX_REQUESTS        256u
/** Share of dedup_cap that unacknowledged separate responses may hold, in percent. */
#define EVUDP6_MESSENGER_DEFAULT_SEPARATE_SHARE_PERCENT 50u
/** Retransmissions of separate responses per second, all remotes together. */
#define EVUDP6_MESSENGER_DEFAULT_SEPARATE_RETRANSMIT_PER_S 100u
/** RFC 7252 4.6: upper bound when the path MTU is not known. */
#define EVUDP6_MESSENGER_DEFAULT_MAX_MESSAGE 1152u

/**
 * Messenger configuration. Fill it with evudp6_messenger_config_init()
 * (the RFC 7252 defaults), then change what you need: every value is
 * taken literally, so 0 means zero where zero makes sense (no
 * retransmission, no leisure, an immediate empty ACK). Times are in
 * milliseconds so that tests can run the protocol fast.
 *
 * ABI: @c size, set by evudp6_messenger_config_init(), says which layout
 * the caller was compiled with; later releases only append fields, and
 * fields past the caller's size take their defaults. A size of 0 (a
 * struct never initialised) is refused with -EINVAL, as are bytes past
 * the layout this library knows that are not zero.
 */
struct evudp6_messenger_config {
	/** sizeof(struct evudp6_messenger_config) as the caller was compiled. */
	size_t size;
	/** ACK_TIMEOUT: first retransmission timeout; > 0. */
	unsigned int ack_timeout_ms;
	/** ACK_RANDOM_FACTOR: the first timeout is uniform in [ACK_TIMEOUT, ACK_TIMEOUT * this]; >= 1.0. */
	double ack_random_factor;
	/** MAX_RETRANSMIT: retransmissions of a confirmable message before giving up (0 allowed). */
	unsigned int max_retransmit;
	/**
	 * NSTART: unicast interactions outstanding per remote at once; more
	 * requests to the same remote wait in order. >= 1.
	 */
	unsigned int nstart;
	/** DEFAULT_LEISURE: a response to a multicast request waits uniform [0, this] (0 allowed). */
	unsigned int leisure_ms;
	/** EXCHANGE_LIFETIME: how long a confirmable message id is remembered for deduplication; > 0. */
	unsigned int exchange_lifetime_ms;
	/** NON_LIFETIME: the same for non-confirmable messages; > 0. */
	unsigned int non_lifetime_ms;
	/**
	 * How long a request waits for a response not covered by the
	 * retransmission schedule: the response to a unicast NON request, and a
	 * separate response after an empty ACK. > 0.
	 */
	unsigned int response_timeout_ms;
	/** How long a multicast request collects responses unless the request says otherwise; > 0. */
	unsigned int multicast_wait_ms;
	/**
	 * A confirmable request whose handler has not answered within this
	 * delay gets an empty ACK, and its response is then sent separately as
	 * a confirmable message (0: the empty ACK leaves as soon as the handler
	 * returns without answering).
	 */
	unsigned int empty_ack_delay_ms;
	/**
	 * Deduplication entries (received requests and confirmable responses
	 * remembered for the lifetimes above, with the answer they got), keyed
	 * by remote, local address and message id. When all are in use the
	 * oldest answered one is forgotten (counted in dedup_evicted); see
	 * separate_share_percent for those still retransmitting. >= 1.
	 */
	size_t dedup_cap;
	/** Client requests pending at once (including those waiting for NSTART); >= 1. */
	size_t max_requests;
	/** Largest message this messenger sends (request or response), in bytes; >= 16. */
	size_t max_message;
	/**
	 * How much of dedup_cap separate confirmable responses still waiting
	 * for their ACK may hold, in percent of dedup_cap (rounded down;
	 * 0 to 100). Such an entry cannot be evicted while it retransmits, so
	 * requesters that never acknowledge (spoofed sources) could otherwise
	 * fill the table and lock everyone else out. Beyond the share the
	 * oldest one stops retransmitting (counted in separate_stopped) and
	 * becomes an ordinary answered entry; so does the oldest one when a
	 * new request finds every entry in use. 0: separate responses are
	 * sent once and never retransmitted.
	 */
	unsigned int separate_share_percent;
	/**
	 * Retransmissions of separate responses allowed per second, all
	 * remotes together (a token bucket holding one second's worth). A
	 * spoofed request makes the server send to its forged source; this
	 * bounds how often the retransmissions can repeat that. A
	 * retransmission over the budget is skipped (counted in
	 * separate_retransmits_throttled) and the schedule goes on. 0: none.
	 */
	unsigned int separate_retransmit_per_s;
};

/**
 * Counters since creation; dedup_entries and requests_pending are current
 * values. Read with evudp6_messenger_stats(). ABI: later releases append
 * counters; the library fills only as many bytes as the caller says its
 * struct has.
 */
struct evudp6_messenger_stats {
	/** New requests handed to the handler (or rejected for want of one). */
	uint64_t requests_received;
	/** Responses sent: piggybacked, separate or NON; retransmissions not counted. */
	uint64_t responses_sent;
	/** Responses not sent: No-Response, or an error answer to a multicast request. */
	uint64_t responses_suppressed;
	/** Duplicate CON or NON messages recognised (requests and responses). */
	uint64_t duplicates;
	/** Duplicates answered again from the cache, with the same bytes. */
	uint64_t duplicates_answered;
	/** Datagrams that do not decode or make no sense (an Empty NON, an ACK with a request code). */
	uint64_t malformed;
	/** Empty CON (CoAP ping) received and answered with RST. */
	uint64_t pings;
	/** RSTs sent: pings, malformed CON, unknown CON responses, CON requests without a handler. */
	uint64_t rst_sent;
	/** RSTs that matched a message we sent. */
	uint64_t rst_received;
	/** Empty ACKs sent: for slow handlers and for CON responses. */
	uint64_t empty_acks_sent;
	/** ACKs, RSTs and responses that match nothing we sent. */
	uint64_t unmatched;
	/** Client requests sent (first transmissions). */
	uint64_t requests_sent;
	/** CON retransmissions, of requests and of separate responses. */
	uint64_t retransmissions;
	/** CON messages given up after MAX_RETRANSMIT, unicast response waits that ran out, and request
	 * deadlines. */
	uint64_t timeouts;
	/** Error-queue entries (ICMP, ICMPv6 and local) reported by the transport. */
	uint64_t icmp_errors;
	/** sendmsg() errors reported by the transport. */
	uint64_t send_errors;
	/**
	 * ICMP errors ignored because their quote does not hold the whole
	 * header and token of a message pending to that remote (RFC 7252 4.2).
	 */
	uint64_t icmp_vetted_out;
	/** Requests failed by a hard ICMP error or a send error. */
	uint64_t exchanges_failed;
	/** Dedup entries forgotten before their lifetime to make room for new ones. */
	uint64_t dedup_evicted;
	/** Requests dropped because every dedup entry was waiting for its handler. */
	uint64_t dedup_full;
	/** Dedup entries in use now. */
	uint64_t dedup_entries;
	/** Most dedup entries ever in use at once. */
	uint64_t dedup_peak;
	/** The configured cap (dedup_cap). */
	uint64_t dedup_cap;
	/** Client requests pending now. */
	uint64_t requests_pending;
	/**
	 * Soft ICMP errors that passed vetting, by kind. They fail no exchange:
	 * Packet Too Big (ICMPv6 type 2, ICMP type 3 code 4: the kernel has
	 * lowered the path MTU, and the quoted message is sent again at once),
	 * Time Exceeded (ICMPv6 3, ICMP 11), Parameter Problem (ICMPv6 4,
	 * ICMP 12).
	 */
	uint64_t icmp_packet_too_big;
	uint64_t icmp_time_exceeded;
	uint64_t icmp_parameter_problem;
	/** Messages sent again at once after a Packet Too Big quoting them. */
	uint64_t packet_too_big_resends;
	/**
	 * Error-queue entries of local origin (EMSGSIZE for a datagram larger
	 * than the path MTU). They quote nothing; the send that caused each
	 * has already failed with the same error (returned, or reported as a
	 * send error), so they fail nothing more. Also counted in icmp_errors.
	 */
	uint64_t icmp_local_errors;
	/**
	 * Datagrams that are not CoAP handed on to the datagram callback of a
	 * transport the caller owns (see evudp6_messenger_new_on_transport()).
	 */
	uint64_t handed_on;
	/**
	 * Confirmable messages (requests, pings, responses) that arrived via
	 * multicast or broadcast, dropped unanswered: RFC 7252 8.1 allows
	 * only NON there. A malformed one counts as malformed instead.
	 */
	uint64_t multicast_con_dropped;
	/**
	 * Separate responses that stopped retransmitting before their ACK, to
	 * keep within separate_share_percent or to make room for a request.
	 */
	uint64_t separate_stopped;
	/** Retransmissions of separate responses skipped over separate_retransmit_per_s. */
	uint64_t separate_retransmits_throttled;
	/**
	 * Answers with Block2 sent again at once in a smaller block after a
	 * Packet Too Big (or fragmentation needed) quoting them: the first
	 * part of the same block, in the largest block size whose datagram
	 * fits the MTU the error gave (IPv6: at least 1280), with the Block2
	 * number for that size and M set. The client takes the smaller size
	 * from it (RFC 7959 2.2) and the duplicates of its request get the
	 * smaller answer too. Also counted in packet_too_big_resends.
	 */
	uint64_t packet_too_big_block_shrinks;
};

/**
 * A response arrived for a request, or the request ended.
 *
 * @param r        the request's handle (the same value
 *                 evudp6_messenger_request() gave); it refers to the
 *                 request until the final call has returned
 * @param err      0 with @p rsp set for a response; otherwise the request
 *                 has ended and @p rsp is NULL: -EVUDP6_E_TIMEOUT (no
 *                 answer after all retransmissions or within the wait; for
 *                 a multicast request this is its normal end),
 *                 -ECONNRESET (the remote answered with RST), a negative
 *                 errno from a hard ICMP error (@p icmp set; soft ones
 *                 fail nothing) or a send error (@p icmp NULL),
 *                 -EVUDP6_E_DEADLINE (the deadline of
 *                 evudp6_messenger_request_ex() passed), or
 *                 -EVUDP6_E_SHUTDOWN.
 * @param rsp      the response (for a ping: the RST, or an empty ACK);
 *                 a view valid only during the call
 * @param remote   who answered (with the local address the answer reached);
 *                 for an error, the request's remote. Valid during the call.
 * @param icmp     ICMP details for an ICMP error, else NULL
 *
 * For a unicast request the call with a response is the final one. A
 * multicast request is called once per response, each with its
 * responder's address, until its wait ends (a final call with
 * -EVUDP6_E_TIMEOUT) or it is cancelled.
 */
typedef void (*evudp6_messenger_response_cb)(struct evudp6_request_handle r, int err,
                                             const struct evudp6_msg *rsp, const struct evudp6_addr *remote,
                                             const struct evudp6_icmp *icmp, void *arg);

/**
 * A new request arrived (duplicates never reach the handler).
 *
 * @param ex      the exchange to answer with evudp6_exchange_respond(),
 *                now or later; exactly once. Keep the handle (a value)
 *                to answer later.
 * @param req     the request; a view valid only during the call
 * @param remote  the requester, with the local address (possibly a
 *                multicast group) the request was sent to; valid during
 *                the call (evudp6_exchange_remote() keeps a copy)
 */
typedef void (*evudp6_messenger_request_cb)(struct evudp6_messenger *m, struct evudp6_exchange_handle ex,
                                            const struct evudp6_msg *req, const struct evudp6_addr *remote,
                                            void *arg);

/**
 * A CoAP ping (an Empty confirmable message) arrived and was answered.
 *
 * Called once per ping received, after its RST has been sent (or, with a
 * send batch, queued to leave with the batch's other answers). Pings are
 * not deduplicated: a retransmitted ping (same message id) is answered
 * and reported again, since answering costs nothing and remembering pings
 * would spend dedup entries on them.
 *
 * @param ping    the ping (its message id tells a retransmission from a
 *                new ping); a view valid only during the call
 * @param remote  the pinger, with the local address the ping reached; valid
 *                during the call. Never a group: a ping (a CON) sent to a
 *                multicast or broadcast address is dropped unanswered
 *                (multicast_con_dropped).
 *
 * The callback may send, shut down or free the messenger.
 */
typedef void (*evudp6_messenger_ping_cb)(struct evudp6_messenger *m, const struct evudp6_msg *ping,
                                         const struct evudp6_addr *remote, void *arg);

/**
 * A confirmable request was acknowledged by an empty ACK: the server has
 * it and will send the response separately (RFC 7252 5.2.2). The request
 * goes on: its response callback is called later with the response or
 * the end. Called at most once per request, and never for a piggybacked
 * response or a ping.
 *
 * @param r       the request's handle; the callback may cancel it
 * @param remote  who acknowledged (with the local address the ACK
 *                reached); valid during the call
 * @param arg     the request's @c arg (as given to the request call)
 */
typedef void (*evudp6_request_ack_cb)(struct evudp6_request_handle r, const struct evudp6_addr *remote,
                                      void *arg);

/**
 * Settings of one request, for evudp6_messenger_request_ex(). Fill it
 * with evudp6_request_options_init(o, sizeof *o) first: that sets @c size
 * and every field to "as the messenger's configuration says", then change
 * what you need. The struct is read during the call only.
 *
 * ABI: the size convention of struct evudp6_messenger_config: later
 * releases only append fields, fields past the caller's size take their
 * defaults, size 0 is refused with -EINVAL, and so are bytes past the
 * layout this library knows that are not zero.
 */
struct evudp6_request_options {
	/** sizeof(struct evudp6_request_options) as the caller was built; set by the _init function. */
	size_t size;
	/**
	 * Multicast: how long to collect responses; unicast NON or after an
	 * empty ACK: how long to wait for the response. 0: the
	 * configuration's multicast_wait_ms or response_timeout_ms.
	 */
	unsigned int wait_ms;
	/**
	 * Overall limit in milliseconds from the call, whatever the request
	 * is doing then (queued behind NSTART, retransmitting, waiting for a
	 * separate response): the request ends with -EVUDP6_E_DEADLINE.
	 * 0: none.
	 */
	unsigned int deadline_ms;
	/** ACK_TIMEOUT of this request; 0: the configuration's. */
	unsigned int ack_timeout_ms;
	/** ACK_RANDOM_FACTOR of this request, 1.0 to 16.0; 0: the configuration's. */
	double ack_random_factor;
	/** MAX_RETRANSMIT of this request, 0 to 16; negative: the configuration's. */
	int max_retransmit;
	/** Told when an empty ACK arrives (see evudp6_request_ack_cb); NULL: not told. */
	evudp6_request_ack_cb ack_cb;
};

/**
 * A datagram that matched no exchange: a response, ACK or RST that the
 * messenger dropped (and counted as unmatched) because no request or
 * separate response of ours was waiting for it from that remote. For
 * diagnosis: a server that answers from another address than the one
 * asked, a late answer after a request ended, a stray peer.
 *
 * @param msg     the decoded datagram (msg->data and msg->len hold its
 *                bytes); a view valid only during the call
 * @param remote  its sender, with the local address it reached; valid
 *                during the call
 * @param owner   when the datagram carries the token of one of our
 *                pending requests (so that it is an answer to it from
 *                the wrong address, or a response of the wrong kind):
 *                that request's handle, else a zeroed one (@c obj NULL).
 *                The callback may cancel it.
 *
 * Whatever the messenger does with the datagram (an RST for an unknown
 * confirmable response) is done before the call. The callback may send,
 * shut down or free the messenger.
 */
typedef void (*evudp6_messenger_unmatched_cb)(struct evudp6_messenger *m, const struct evudp6_msg *msg,
                                              const struct evudp6_addr *remote,
                                              struct evudp6_request_handle owner, void *arg);

/**
 * A soft ICMP error arrived for one of our messages and was vetted: Packet
 * Too Big (ICMPv6 type 2, ICMP type 3 code 4), Time Exceeded (ICMPv6 3,
 * ICMP 11) or Parameter Problem (ICMPv6 4, ICMP 12). It fails no exchange;
 * after a Packet Too Big the quoted message has already been sent again
 * (the kernel has lowered the path MTU, @p icmp's @c info holds the new
 * one); an answer of ours with Block2 goes again at once in a smaller
 * block that fits (see packet_too_big_block_shrinks); any other cached
 * piggybacked answer to a GET or FETCH is forgotten, so that the
 * retransmitted request is answered anew. Hard errors are
 * not reported here: they end the requests they concern, through their
 * response callbacks.
 *
 * @param err     the negative errno the kernel gave it (-EMSGSIZE,
 *                -EHOSTUNREACH, -EPROTO)
 * @param icmp    the details (type, code, info, the router as offender);
 *                valid during the call
 * @param remote  the destination of the quoted message; valid during the
 *                call
 *
 * The callback may send, shut down or free the messenger.
 */
typedef void (*evudp6_messenger_icmp_cb)(struct evudp6_messenger *m, int err, const struct evudp6_icmp *icmp,
                                         const struct evudp6_addr *remote, void *arg);

/**
 * Fill @p cfg with the RFC 7252 defaults (EVUDP6_MESSENGER_DEFAULT_*) and
 * set cfg->size to @p size.
 *
 * @param size  sizeof(*cfg) as the caller was compiled: no more than
 *              @p size bytes are written
 * @return 0, or -EINVAL for a NULL @p cfg or a size below sizeof(size_t)
 *         or not a multiple of the struct's alignment.
 */
EVUDP6_API int evudp6_messenger_config_init(struct evudp6_messenger_config *cfg, size_t size);

/**
 * Create a messenger and its transport (not yet bound: see
 * evudp6_messenger_start()). Every pool and table is allocated here.
 * A messenger belongs to one thread and one process: after fork() only
 * one of the two may use it (both would send the same message ids and
 * tokens on the same socket); the other creates its own.
 *
 * @param out   receives the messenger (freed with evudp6_messenger_free())
 * @param tcfg  transport configuration, may be NULL (see
 *              evudp6_transport_new()); copied
 * @param mcfg  messenger configuration, may be NULL for the defaults; copied
 * @return 0, -EINVAL for a bad configuration, -ENOMEM, or an error of
 *         evudp6_transport_new().
 */
EVUDP6_API int evudp6_messenger_new(struct evudp6_messenger **out, struct event_base *base,
                                    const struct evudp6_transport_config *tcfg,
                                    const struct evudp6_messenger_config *mcfg);

/**
 * Create a messenger on a transport the caller made and keeps owning, so
 * that CoAP can share one socket with another protocol (or with a socket
 * adopted with evudp6_transport_new_from_fd()).
 *
 * From then on the messenger receives the transport's datagrams and
 * errors. A datagram that does not decode as CoAP is handed on to the
 * datagram callback given to evudp6_transport_new() (and counted in
 * handed_on) instead of being counted as malformed and rejected with RST.
 * An ICMP error whose quoted datagram matches nothing the messenger has
 * pending, and every send error, are handed on to the transport's error
 * callback (if it has one), which therefore also sees send errors of the
 * messenger's own datagrams. The caller may still send on the transport.
 *
 * evudp6_messenger_start() starts the transport if it has not been
 * started. evudp6_messenger_shutdown() and evudp6_messenger_free() give
 * the transport back: its own callbacks are called again, and it is
 * neither shut down nor freed. Free the messenger before the transport.
 * One messenger per transport.
 *
 * @return 0; -EINVAL (NULL @p t, a bad configuration); -EVUDP6_E_STATE
 *         if @p t already serves a messenger; -EVUDP6_E_SHUTDOWN if @p t
 *         is shut down; -ENOMEM.
 */
EVUDP6_API int evudp6_messenger_new_on_transport(struct evudp6_messenger **out, struct evudp6_transport *t,
                                                 const struct evudp6_messenger_config *mcfg);

/**
 * Bind the transport and start receiving. Set the request handler first
 * if the messenger is to serve.
 * @return 0 or an error of evudp6_transport_start().
 */
EVUDP6_API int evudp6_messenger_start(struct evudp6_messenger *m);

/**
 * The messenger's transport, to join groups, set hop limits, read its
 * port and counters. Do not free it and do not shut it down (unless the
 * caller owns it: evudp6_messenger_new_on_transport()); sending on it
 * directly bypasses the message layer.
 */
EVUDP6_API struct evudp6_transport *evudp6_messenger_transport(const struct evudp6_messenger *m);

/**
 * Set (or with NULL clear) the request handler. Without one, a CON
 * request is rejected with RST and a NON request is ignored. A CON sent to
 * a multicast group or broadcast address never reaches the handler: it is
 * dropped unanswered (RFC 7252 8.1).
 */
EVUDP6_API void evudp6_messenger_set_request_cb(struct evudp6_messenger *m, evudp6_messenger_request_cb cb,
                                                void *arg);

/**
 * Set (or with NULL clear) the function told of each ping received. Pings
 * are answered with RST whether or not one is set; this only reports
 * them (the count is in evudp6_messenger_stats() as pings).
 */
EVUDP6_API void evudp6_messenger_set_ping_cb(struct evudp6_messenger *m, evudp6_messenger_ping_cb cb,
                                             void *arg);

/**
 * Set (or with NULL clear) the function told of each datagram that
 * matched no exchange (see evudp6_messenger_unmatched_cb). Without one
 * such datagrams are only counted (unmatched in evudp6_messenger_stats()).
 */
EVUDP6_API void evudp6_messenger_set_unmatched_cb(struct evudp6_messenger *m,
                                                  evudp6_messenger_unmatched_cb cb, void *arg);

/**
 * Set (or with NULL clear) the function told of each vetted soft ICMP
 * error (see evudp6_messenger_icmp_cb). They are counted whether or not
 * one is set (icmp_packet_too_big, icmp_time_exceeded,
 * icmp_parameter_problem in evudp6_messenger_stats()).
 */
EVUDP6_API void evudp6_messenger_set_icmp_cb(struct evudp6_messenger *m, evudp6_messenger_icmp_cb cb,
                                             void *arg);

/**
 * Send a request.
 *
 * The caller fills @p b: type EVUDP6_CON or EVUDP6_NON, a request code
 * (0.01 to 0.31), options and payload; or type CON with code 0.00 for a
 * CoAP ping. The messenger writes the message id and the token into @p b
 * and encodes it; @p b is not needed after the call. The token is 8 bytes
 * from the kernel's CSPRNG (getrandom(), drawn in bulk), so the tokens a
 * server sees tell nothing about those sent to others; a ping has none.
 * Message ids are counted per remote from a random start, so none repeats
 * to a remote before 65 536 messages to that remote (the 2 * max_requests
 * + 16 remotes sent to last keep their sequence; an older one starts
 * afresh at random).
 *
 * A confirmable request is retransmitted until acknowledged; a multicast
 * @p remote (which may carry an interface-only local part, see
 * evudp6_addr_set_local()) takes NON only. Up to NSTART unicast requests
 * per remote are outstanding; further ones wait and leave in order.
 *
 * @param wait_ms  multicast: how long to collect responses; unicast NON or
 *                 after an empty ACK: how long to wait for the response;
 *                 0 uses the configuration's value
 * @param cb       called for the response(s) and once at the end; never
 *                 from inside this call
 * @param out      receives the request's handle, may be NULL; zeroed on
 *                 error
 * @return 0; -EINVAL (bad type or code, cb NULL); -EVUDP6_E_MULTICAST_CON;
 *         -ENOBUFS (max_requests pending); an encoder error
 *         (-EVUDP6_E_MSG_NOSPACE if larger than max_message);
 *         -EVUDP6_E_STATE before start; -EVUDP6_E_SHUTDOWN; or the
 *         negative errno of a failed first send. On error @p cb is never
 *         called. Called from inside one of the messenger's callbacks,
 *         the first send is held until the current receive batch has been
 *         handled (see evudp6_transport_send()): its failure then reaches
 *         @p cb, like any error for that remote, instead of this return.
 */
EVUDP6_API int evudp6_messenger_request(struct evudp6_messenger *m, const struct evudp6_addr *remote,
                                        struct evudp6_msg_builder *b, unsigned int wait_ms,
                                        evudp6_messenger_response_cb cb, void *arg,
                                        struct evudp6_request_handle *out);

/**
 * Fill @p o with the defaults: @c max_retransmit -1, every other field 0
 * or NULL (the messenger's configuration, no deadline, no ACK callback),
 * and o->size set to @p size.
 *
 * @param size  sizeof(*o) as the caller was compiled: no more than
 *              @p size bytes are written
 * @return 0, or -EINVAL for a NULL @p o or a size below sizeof(size_t)
 *         or not a multiple of the struct's alignment.
 */
EVUDP6_API int evudp6_request_options_init(struct evudp6_request_options *o, size_t size);

/**
 * Send a request with per-request settings: as evudp6_messenger_request()
 * (same @p b, @p cb, @p arg and @p out, same errors), with the wait, an
 * overall deadline, the retransmission parameters and an ACK callback
 * taken from @p opts.
 *
 * @param opts  filled by evudp6_request_options_init() and then changed;
 *              NULL for the defaults. Read during the call only.
 * @return as evudp6_messenger_request(); also -EINVAL for options never
 *         initialised (size 0) or with fields set that this library does
 *         not know, an @c ack_random_factor outside 1.0..16.0 (0 aside)
 *         or a @c max_retransmit above 16.
 */
EVUDP6_API int evudp6_messenger_request_ex(struct evudp6_messenger *m, const struct evudp6_addr *remote,
                                           struct evudp6_msg_builder *b,
                                           const struct evudp6_request_options *opts,
                                           evudp6_messenger_response_cb cb, void *arg,
                                           struct evudp6_request_handle *out);

/**
 * Has the request been acknowledged by an empty ACK (so that the server
 * has it and its response is to come separately)? Works while the handle
 * refers to the request, so also in its final callback: a
 * -EVUDP6_E_TIMEOUT there with this true means the separate response
 * never came. false once the handle is stale.
 */
EVUDP6_API bool evudp6_request_acknowledged(struct evudp6_request_handle r);

/**
 * Cancel a request: no more transmissions, and its callback is not called
 * again. The handle stops referring to the request once this returns (or,
 * if called from the request's own callback, once the callback returns).
 * @return 0; -EVUDP6_E_STATE if the request had already ended (called
 *         from its final callback, twice, or with a handle whose request
 *         is over, whatever now uses its slot), doing nothing; -EINVAL
 *         for a zeroed handle.
 */
EVUDP6_API int evudp6_request_cancel(struct evudp6_request_handle r);

/**
 * The remote a request was sent to, while the handle refers to the
 * request (also in its final callback); NULL after that. The address
 * belongs to the request.
 */
EVUDP6_API const struct evudp6_addr *evudp6_request_remote(struct evudp6_request_handle r);

/**
 * How many times a confirmable request has been retransmitted so far (0
 * for one answered at the first try, and always 0 for NON). Also in the
 * final callback, where it says how many retransmissions the exchange
 * took.
 * @return the count, or -EVUDP6_E_STATE once the handle no longer refers
 *         to the request (-EINVAL for a zeroed handle).
 */
EVUDP6_API int evudp6_request_retransmissions(struct evudp6_request_handle r);

/**
 * Answer a request received through the request handler, from inside the
 * handler or later. The caller fills @p b with a response code (class 2
 * to 5), options and payload; the messenger writes type, message id and
 * token. The response is piggybacked on the ACK if the request is
 * confirmable and the empty-ACK delay has not passed, otherwise it is a
 * separate confirmable response (retransmitted until acknowledged); a
 * NON request gets a NON response. For a multicast request it leaves from
 * a unicast address after a random leisure, and an error response (4.xx,
 * 5.xx) is not sent unless the request's No-Response option asks for it;
 * No-Response (RFC 7967) suppresses what it names. A suppressed response,
 * or @p b NULL (no response at all), still acknowledges a confirmable
 * request with an empty ACK. The encoded response is kept for duplicates.
 *
 * @return 0 (the exchange is then answered: the handle no longer refers
 *         to it); -EINVAL for a non-response code (the exchange stays
 *         open) or a zeroed handle; an encoder error (e.g.
 *         -EVUDP6_E_MSG_NOSPACE beyond max_message; the exchange stays
 *         open, answer again); -EVUDP6_E_STATE if already answered (even
 *         if the slot now holds another requester's exchange, which is
 *         left alone); -EVUDP6_E_SHUTDOWN after shutdown (the handle
 *         stays usable until evudp6_messenger_free()).
 */
EVUDP6_API int evudp6_exchange_respond(struct evudp6_exchange_handle ex, struct evudp6_msg_builder *b);

/**
 * The requester of an exchange, with the local address the request was
 * sent to; NULL once the exchange is answered. The address belongs to the
 * exchange: copy it to keep it.
 */
EVUDP6_API const struct evudp6_addr *evudp6_exchange_remote(struct evudp6_exchange_handle ex);

/** Did the exchange's request arrive via multicast? false once it is answered. */
EVUDP6_API bool evudp6_exchange_is_multicast(struct evudp6_exchange_handle ex);

/**
 * Copy the counters into @p out, whose size the caller gives (sizeof as
 * the caller was compiled): no more than @p size bytes are written, and
 * bytes of a larger struct than this library knows are set to 0.
 * @return the bytes filled with counters: min(size, the library's
 *         sizeof); -EINVAL for a NULL @p out.
 */
EVUDP6_API int evudp6_messenger_stats(const struct evudp6_messenger *m, struct evudp6_messenger_stats *out,
                                      size_t size);

/**
 * Shut down: every pending request's callback is called with
 * -EVUDP6_E_SHUTDOWN, open exchanges are dropped (answering them returns
 * -EVUDP6_E_SHUTDOWN), and the transport is shut down (a transport the
 * caller owns is given back instead). Safe from inside callbacks.
 * @return 0, or -EVUDP6_E_SHUTDOWN if already shut down.
 */
EVUDP6_API int evudp6_messenger_shutdown(struct evudp6_messenger *m);

/**
 * Shut down (without calling any request callback) and free the messenger
 * and its transport (not a transport the caller owns). Safe from inside any of its callbacks: the memory is
 * released when the callback returns. Request and exchange handles become
 * invalid. NULL is ignored.
 */
EVUDP6_API void evudp6_messenger_free(struct evudp6_messenger *m);

#ifdef __cplusplus
}
#endif

#endif /* EVUDP6_MESSENGER_H */
