/*
 * evudp6 — Observe (RFC 7641): a client registers interest in a resource
 * and the server pushes notifications, on one messenger, as client and
 * server at once.
 *
 * Server: a request handler that receives a GET or FETCH carrying
 * Observe: 0 answers it with evudp6_observe_accept() and gets an
 * observation handle (a value that goes stale when the observation
 * ends, see evudp6_observation_handle); evudp6_observation_notify() sends
 * that observer a new representation (NON by default, CON at least every
 * con_every notifications and at least once per con_interval_ms); a
 * notification that has to wait behind an unacknowledged CON replaces the
 * older one, so only the newest leaves. The observer is removed on RST,
 * on a CON notification's timeout, on a vetted ICMP error for its remote,
 * on a GET with Observe: 1 (deregistration), or by
 * evudp6_observation_end().
 *
 * Client: evudp6_observe_register() sends the registration and calls back
 * once per notification with its sequence number (a notification larger
 * than one block is completed first, RFC 7959 2.6, with GETs that carry no
 * Observe and have tokens of their own); notifications older
 * than the newest seen (RFC 7641 3.4) are dropped and counted, CON ones
 * are acknowledged, and after Max-Age plus a margin of silence the client
 * registers again with the same token. evudp6_observer_cancel()
 * deregisters (GET with Observe: 1) or forgets (the next notification is
 * answered with RST).
 *
 * All state lives in pools allocated by evudp6_observe_setup() (or, with
 * the defaults, by the first registration or acceptance): receiving and
 * sending notifications allocate nothing. Callbacks run on the
 * event_base's thread, like the messenger's.
 */
#ifndef EVUDP6_OBSERVE_H
#define EVUDP6_OBSERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <evudp6/addr.h>
#include <evudp6/block.h>
#include <evudp6/common.h>
#include <evudp6/icmp.h>
#include <evudp6/messenger.h>
#include <evudp6/msg.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A server's record of one observer (endpoint and token); internal, see evudp6_observation_handle. */
struct evudp6_observation;
/** A client's observation of one resource; internal, see evudp6_observer_handle. */
struct evudp6_observer;

/**
 * A handle on an observation (server side): a small value, copied and
 * kept freely, like evudp6_exchange_handle. It refers to its observation
 * from evudp6_observe_accept() until the end callback has returned or
 * evudp6_observation_end() was called. After that every function given
 * the handle does nothing and returns -EVUDP6_E_STATE (or NULL), even
 * once the messenger has reused the observation's slot for another
 * observer: a stale handle never notifies or ends someone else's
 * observation. A zeroed handle refers to no observation. Handles must
 * not be used after evudp6_messenger_free(). The fields are the
 * library's; only copy the struct (two handles refer to the same
 * observation when both fields are equal).
 */
struct evudp6_observation_handle {
	struct evudp6_observation *obj;
	uint64_t gen;
};

/**
 * A handle on an observer (client side): a small value, copied and kept
 * freely, like evudp6_request_handle. It refers to its observer from
 * evudp6_observe_register() until the final callback has returned, or
 * until evudp6_observer_cancel() forgot it. After that every function
 * given the handle does nothing and returns -EVUDP6_E_STATE (or NULL),
 * even once the slot holds another observer. A zeroed handle refers to
 * no observer. Handles must not be used after evudp6_messenger_free().
 * The fields are the library's; only copy the struct (two handles refer
 * to the same observer when both fields are equal).
 */
struct evudp6_observer_handle {
	struct evudp6_observer *obj;
	uint64_t gen;
};

#define EVUDP6_OBSERVE_DEFAULT_MAX_OBSERVATIONS 256u
#define EVUDP6_OBSERVE_DEFAULT_MAX_PER_REMOTE   16u
#define EVUDP6_OBSERVE_DEFAULT_MAX_CON_PENDING  64u
#define EVUDP6_OBSERVE_DEFAULT_CON_EVERY        20u
/** RFC 7641 4.5: a CON notification at least once every 24 hours. */
#define EVUDP6_OBSERVE_DEFAULT_CON_INTERVAL_MS      86400000u
#define EVUDP6_OBSERVE_DEFAULT_MAX_OBSERVERS        64u
#define EVUDP6_OBSERVE_DEFAULT_REREGISTER_MARGIN_MS 5000u
/** RFC 7641 3.4: how long a sequence number orders notifications. */
#define EVUDP6_OBSERVE_FRESHNESS_MS 128000u
/** Largest sequence number: the Observe option carries 24 bits. */
#define EVUDP6_OBSERVE_SEQ_MAX 0xffffffu

/**
 * Observe configuration; fill it with evudp6_observe_config_init(cfg,
 * sizeof *cfg). ABI: the size convention of struct
 * evudp6_messenger_config (README, ABI rules): fields past the caller's
 * size take their defaults.
 */
struct evudp6_observe_config {
	/** sizeof(struct evudp6_observe_config) as the caller was compiled. */
	size_t size;
	/** Server: observers at once; a registration beyond is answered without Observe. >= 1. */
	size_t max_observations;
	/** Server: observers at once per remote endpoint (address and port). >= 1. */
	size_t max_per_remote;
	/**
	 * Server: CON notifications in flight at once (each keeps its datagram
	 * for retransmission). When all are in use a notification due as CON
	 * leaves as NON and the next one is CON. >= 1.
	 */
	size_t max_con_pending;
	/** Server: every this many notifications to an observer, one is CON (1: all). >= 1. */
	unsigned int con_every;
	/** Server: a notification is CON if the last CON to that observer is this old. > 0. */
	unsigned int con_interval_ms;
	/** Client: observations at once. >= 1. */
	size_t max_observers;
	/**
	 * Client: silence after Max-Age (60 s without the option) before
	 * registering again with the same token.
	 */
	unsigned int reregister_margin_ms;
};

/**
 * Counters since setup; observations and observers are current values.
 * Read with evudp6_observe_stats(); later releases append counters.
 */
struct evudp6_observe_stats {
	/** Server: observers now. */
	uint64_t observations;
	/** Server: most observers ever at once. */
	uint64_t observations_peak;
	/** Server: registrations accepted (re-registrations included). */
	uint64_t registrations;
	/** Server: registrations refused: max_observations or max_per_remote reached. */
	uint64_t registrations_rejected;
	/** Server: observers removed by a GET with Observe: 1. */
	uint64_t deregistrations;
	/** Server: observers removed because they answered a notification with RST. */
	uint64_t removed_rst;
	/** Server: observers removed because a CON notification was never acknowledged. */
	uint64_t removed_timeout;
	/** Server: observers removed by a vetted ICMP or send error for their remote. */
	uint64_t removed_icmp;
	/** Server: observers removed by evudp6_observation_end(). */
	uint64_t removed_by_application;
	/** Server: notifications sent (first transmissions; the first response not counted). */
	uint64_t notifications_sent;
	/** Server: of those, confirmable. */
	uint64_t notifications_con;
	/** Server: notifications that replaced an older one waiting behind an unacknowledged CON. */
	uint64_t notifications_replaced;
	/** Server: CON notifications retransmitted. */
	uint64_t retransmissions;
	/** Client: observations now. */
	uint64_t observers;
	/** Client: notifications delivered (the first response included). */
	uint64_t notifications_received;
	/** Client: notifications dropped as older than the newest seen (RFC 7641 3.4). */
	uint64_t notifications_reordered;
	/** Client: registrations sent again after Max-Age of silence. */
	uint64_t reregistrations;
	/** Client and server: Observe options ignored for a value longer than 3 bytes. */
	uint64_t observe_invalid;
	/** Client: notifications for no observation of ours, answered with RST. */
	uint64_t notifications_rejected;
	/** Client: notifications larger than one block, completed with their other blocks. */
	uint64_t notifications_blockwise;
	/**
	 * Client: block-wise notifications not delivered: a newer one came
	 * first, or their other blocks could not be fetched.
	 */
	uint64_t notifications_incomplete;
};

/**
 * Fill @p cfg with the defaults (EVUDP6_OBSERVE_DEFAULT_*) and set
 * cfg->size to @p size (sizeof as the caller was compiled; no more than
 * @p size bytes are written).
 * @return 0, or -EINVAL for a NULL @p cfg or a size below sizeof(size_t)
 *         or not a multiple of the struct's alignment.
 */
EVUDP6_API int evudp6_observe_config_init(struct evudp6_observe_config *cfg, size_t size);

/**
 * Allocate the messenger's observe pools. Optional: the first
 * evudp6_observe_register() or evudp6_observe_accept() sets up the
 * defaults. The pools are freed with the messenger.
 * @return 0; -EINVAL for a bad configuration (cfg->size 0 included);
 *         -EVUDP6_E_STATE if already
 *         set up; -EVUDP6_E_SHUTDOWN; -ENOMEM.
 */
EVUDP6_API int evudp6_observe_setup(struct evudp6_messenger *m, const struct evudp6_observe_config *cfg);

/**
 * Copy the counters (all zero before setup) into @p out: at most @p size
 * bytes, and bytes of a larger struct than this library knows set to 0.
 * @return the bytes filled; -EINVAL for a NULL @p out.
 */
EVUDP6_API int evudp6_observe_stats(const struct evudp6_messenger *m, struct evudp6_observe_stats *out,
                                    size_t size);

/**
 * The Observe option of a message (RFC 7641 2: 0 to 3 bytes).
 * @return 1 with @p value set; 0 if the message has none, or one longer
 *         than 3 bytes, which RFC 7252 5.4.3 says to ignore.
 */
EVUDP6_API int evudp6_observe_value(const struct evudp6_msg *msg, uint32_t *value);

/* ------------------------------------------------------------ server */

/**
 * An observer was removed by something other than the application.
 *
 * @param reason 0 (deregistered with Observe: 1, or registered again with
 *               the same token: a new observation replaces this one),
 *               -ECONNRESET (RST), -EVUDP6_E_TIMEOUT (a CON notification
 *               was never acknowledged), a negative errno from an ICMP or
 *               send error, or -EVUDP6_E_SHUTDOWN.
 *
 * The handle still refers to the observation during the call
 * (evudp6_observation_remote() answers; notifying or ending it returns
 * -EVUDP6_E_STATE) and is stale once the callback returns.
 */
typedef void (*evudp6_observation_end_cb)(struct evudp6_observation_handle o, int reason, void *arg);

/**
 * Accept a registration and answer it: @p b (a 2.xx response: code,
 * options, payload) gets the Observe option and is sent with
 * evudp6_exchange_respond(), which then owns the exchange as usual.
 * Later notifications go to the requester's endpoint from the local
 * address the registration reached, with its token.
 *
 * @param ex   an exchange from the request handler, not yet answered
 * @param req  its request: a GET or FETCH with Observe: 0, not multicast
 * @param b    the first response; must not hold an Observe option; left
 *             as it was on return (reusable)
 * @param cb   told when the observer goes away by itself; may be NULL
 * @param out  receives the observation's handle (zeroed on error); it
 *             refers to the observation until @p cb returns or
 *             evudp6_observation_end() is called
 * @return 0; -EINVAL (not a registration, a multicast request, not a
 *         2.xx code, out NULL); -ENOBUFS (max_observations or
 *         max_per_remote reached, counted: answer @p b without Observe);
 *         -ENOMEM (setting up the default pools); -EVUDP6_E_STATE for an
 *         exchange handle already answered; an error of
 *         evudp6_exchange_respond(). On error nothing was sent, the
 *         exchange is still to be answered and @p cb is never called.
 */
EVUDP6_API int evudp6_observe_accept(struct evudp6_exchange_handle ex, const struct evudp6_msg *req,
                                     struct evudp6_msg_builder *b, evudp6_observation_end_cb cb, void *arg,
                                     struct evudp6_observation_handle *out);

/**
 * Send the observer a notification: @p b holds a 2.xx code, options (no
 * Observe) and payload; type, message id, token and the next sequence
 * number are written by this call, and @p b is left as it was, so one
 * builder can notify many observers. The notification is NON, or CON when
 * one is due (con_every, con_interval_ms); while a CON to this observer
 * is unacknowledged the new notification waits in its place, replacing
 * any older one waiting, and leaves when the CON is acknowledged or
 * retransmitted.
 * @return 0; -EINVAL (not 2.xx: end the observation with
 *         evudp6_observation_end() instead); an encoder error
 *         (-EVUDP6_E_MSG_NOSPACE beyond max_message,
 *         -EVUDP6_E_MSG_TOO_MANY_OPTS); -EVUDP6_E_STATE for a handle
 *         whose observation has ended (from its end callback too, or
 *         whatever now uses its slot) or a zeroed one, sending nothing;
 *         -EVUDP6_E_SHUTDOWN.
 */
EVUDP6_API int evudp6_observation_notify(struct evudp6_observation_handle o, struct evudp6_msg_builder *b);

/**
 * evudp6_observation_notify() for each of the @p n handles of @p obs
 * (zeroed and stale ones are skipped with -EVUDP6_E_STATE), with the
 * sends held and handed to the kernel in sendmmsg() batches: the way to
 * notify every observer of a resource. @p obs stays the caller's.
 * @return 0 when every call succeeded, else the first error (the rest are
 *         still notified).
 */
EVUDP6_API int evudp6_observation_notify_many(const struct evudp6_observation_handle *obs, size_t n,
                                              struct evudp6_msg_builder *b);

/**
 * Remove the observer. With @p b (any response code), a final response
 * without Observe is sent first (NON), telling the client the observation
 * is over (RFC 7641 3.2); with NULL nothing is sent. The end callback is
 * not called; the handle is stale once this returns.
 * @return 0; -EVUDP6_E_STATE for a handle whose observation has ended
 *         (from its end callback too, or whatever now uses its slot) or
 *         a zeroed one, doing nothing; an encoder error (the observation
 *         is removed all the same).
 */
EVUDP6_API int evudp6_observation_end(struct evudp6_observation_handle o, struct evudp6_msg_builder *b);

/**
 * The observer's endpoint, with the local address its registration
 * reached, while the handle refers to the observation (also in its end
 * callback); NULL after that. The address belongs to the observation.
 */
EVUDP6_API const struct evudp6_addr *evudp6_observation_remote(struct evudp6_observation_handle o);

/* ------------------------------------------------------------ client */

/**
 * A notification arrived, or the observation ended.
 *
 * @param err  0 with @p rsp set: a notification (the first response
 *             included) when @p seq >= 0, its Observe sequence number; a
 *             response without Observe when @p seq is -1 (the server does
 *             not support Observe, ended the observation, answered the
 *             deregistration, or answered with an error code): the final
 *             call. Otherwise the observation has ended and @p rsp is
 *             NULL: -EVUDP6_E_TIMEOUT (the registration, a re-registration
 *             or the deregistration got no answer), -ECONNRESET (RST), a
 *             negative errno from an ICMP error (@p icmp set) or a send
 *             error, or -EVUDP6_E_SHUTDOWN.
 * @param rsp  a view valid only during the call
 * @param remote who sent it, with the local address it reached
 *
 * After the final call the handle is stale once the callback returns.
 * The callback may cancel the observer, send, shut down or free the
 * messenger.
 */
typedef void (*evudp6_observer_notify_cb)(struct evudp6_observer_handle o, int err,
                                          const struct evudp6_msg *rsp, int32_t seq,
                                          const struct evudp6_addr *remote, const struct evudp6_icmp *icmp,
                                          void *arg);

/**
 * Register as an observer: @p b holds a GET or FETCH (CON or NON) with
 * its options (no Observe, no token) and payload; Observe: 0 and a random
 * token are added, and the encoded registration is kept for
 * re-registration and deregistration. @p b is not needed after the call.
 *
 * @param out  receives the observer's handle, may be NULL; zeroed on
 *             error
 * @return 0; -EINVAL (bad type or code, multicast remote, cb NULL);
 *         -ENOBUFS (max_observers observing); an encoder error;
 *         -EVUDP6_E_STATE before the messenger started;
 *         -EVUDP6_E_SHUTDOWN; -ENOMEM (setting up the default pools); or
 *         the negative errno of the first send. On error @p cb is never
 *         called.
 */
EVUDP6_API int evudp6_observe_register(struct evudp6_messenger *m, const struct evudp6_addr *remote,
                                       struct evudp6_msg_builder *b, evudp6_observer_notify_cb cb, void *arg,
                                       struct evudp6_observer_handle *out);

/**
 * Stop observing. With @p deregister, a GET with Observe: 1 and the
 * registration's token and options is sent (RFC 7641 3.6) and the
 * callback is called once more, with its response (seq -1) or an error;
 * notifications arriving meanwhile are not delivered. Without, the
 * observation is forgotten at once: the callback is not called again and
 * the next notification is answered with RST. Either way the handle is
 * stale once the final callback has returned (without @p deregister:
 * once this returns, or the current callback returns). Calling it again
 * during a deregistration, with @p deregister false, forgets at once;
 * otherwise it does nothing.
 * @return 0; -EVUDP6_E_STATE for a handle whose observer has ended (from
 *         its final callback too, or whatever now uses its slot) or a
 *         zeroed one, doing nothing; or, with @p deregister, the negative
 *         errno of the send (the observer is then forgotten).
 */
EVUDP6_API int evudp6_observer_cancel(struct evudp6_observer_handle o, bool deregister);

/**
 * The remote an observer registered with, while the handle refers to the
 * observer (also in its final callback); NULL after that. The address
 * belongs to the observer.
 */
EVUDP6_API const struct evudp6_addr *evudp6_observer_remote(struct evudp6_observer_handle o);

#ifdef __cplusplus
}
#endif

#endif /* EVUDP6_OBSERVE_H */
