/*
 * evudp6 — transport: one AF_INET6 UDP socket on the caller's event_base.
 *
 * The socket serves IPv6 and IPv4 (V4MAPPED), client and server at once,
 * unicast and multicast. Every received datagram is delivered with the
 * local address it was sent to (IPV6_PKTINFO); every ICMP error the kernel
 * queues for the socket (IPV6_RECVERR and IP_RECVERR, read with
 * MSG_ERRQUEUE) is delivered at once with its details and the datagram it
 * quotes.
 *
 * Life cycle: evudp6_transport_new() creates the socket and sets every
 * option (evudp6_transport_new_from_fd() takes over one the caller made
 * and bound instead), evudp6_transport_start() binds it and starts
 * reading, and
 * evudp6_transport_free() (or shutdown, then free) ends it. Callbacks run
 * on the event_base's thread; a transport is not thread-safe.
 */
#ifndef EVUDP6_TRANSPORT_H
#define EVUDP6_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include <evudp6/addr.h>
#include <evudp6/common.h>
#include <evudp6/icmp.h>

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;
struct evudp6_transport;

/** Defaults of struct evudp6_transport_config (0 in a field means these). */
#define EVUDP6_TRANSPORT_DEFAULT_MAX_DATAGRAM   4096
#define EVUDP6_TRANSPORT_DEFAULT_BATCH          32
#define EVUDP6_TRANSPORT_DEFAULT_MAX_PER_WAKEUP 256
#define EVUDP6_TRANSPORT_DEFAULT_SEND_BATCH     32
#define EVUDP6_TRANSPORT_DEFAULT_SEND_QUEUE     64
/** Largest send_queue accepted. */
#define EVUDP6_TRANSPORT_MAX_SEND_QUEUE 4096

/**
 * Transport configuration. Fill it with evudp6_transport_config_init()
 * (or a designated initialiser that sets .size = sizeof the struct and
 * leaves the rest zero), then set what you need; 0 in a field means its
 * default.
 *
 * ABI: @c size says which layout the caller was compiled with; later
 * releases only append fields, and fields past the caller's size take
 * their defaults. A size of 0 (a struct never initialised) is refused
 * with -EINVAL, as are bytes past the layout this library knows that are
 * not zero.
 */
struct evudp6_transport_config {
	/** sizeof(struct evudp6_transport_config) as the caller was compiled. */
	size_t size;
	/**
	 * Bind address in URI-authority form: "[::]" (port 5683), "[::]:0"
	 * (ephemeral port), "[2001:db8::1]:5684", "[fe80::1%eth0]",
	 * "192.0.2.1" (mapped), "localhost". NULL means "[::]:0".
	 * A name is looked up in the hosts file when start runs (see
	 * evudp6_transport_start()).
	 */
	const char *bind;
	bool reuseport; /**< set SO_REUSEPORT (sharding across threads) */
	int rcvbuf;     /**< SO_RCVBUF in bytes; 0 keeps the kernel default */
	int sndbuf;     /**< SO_SNDBUF in bytes; 0 keeps the kernel default */
	/** Largest datagram accepted; longer ones are dropped and counted. */
	size_t max_datagram;
	/** Datagrams read per recvmmsg() call. */
	unsigned int batch;
	/** Bound on datagrams plus error-queue entries handled per wakeup. */
	unsigned int max_per_wakeup;
	/**
	 * Datagrams sent from inside this transport's datagram or error
	 * callbacks are held and leave together in one sendmmsg() as soon as
	 * the callbacks of the received batch have run; at most this many
	 * wait (more are flushed early). 1 sends each one at once, as sends
	 * from anywhere else always are. See evudp6_transport_send().
	 */
	unsigned int send_batch;
	/**
	 * Datagrams that wait, in order, while the socket's send buffer is
	 * full (sendmsg() says EAGAIN); they leave as soon as the socket is
	 * writable again. Room for this many datagrams of up to max_datagram
	 * bytes is allocated with the transport. At most
	 * EVUDP6_TRANSPORT_MAX_SEND_QUEUE. A datagram that finds the queue
	 * full (or is longer than max_datagram) is dropped and counted in
	 * send_queue_overflow.
	 */
	unsigned int send_queue;
};

/**
 * A datagram arrived.
 *
 * @param data    the datagram; valid only during the call
 * @param remote  sender, with the local part set to the address and
 *                interface the datagram was sent to (has_local false if the
 *                kernel gave no pktinfo); valid only during the call
 */
typedef void (*evudp6_transport_datagram_cb)(struct evudp6_transport *t, const uint8_t *data, size_t len,
                                             const struct evudp6_addr *remote, void *arg);

/**
 * An error concerns @p remote.
 *
 * @param err     negative errno (-ECONNREFUSED, -ENETUNREACH, ...)
 * @param icmp    details of an error-queue entry, or NULL for an error that
 *                sendmsg() returned (see evudp6_transport_send())
 * @param remote  the destination the failed datagram was sent to, with the
 *                local part from the error-queue entry's pktinfo if any
 * @param quoted  the payload of the datagram that caused the error as the
 *                kernel returned it (possibly shortened by the ICMP quote);
 *                for a send error, the datagram's first bytes (at most
 *                12: a CoAP header and token); valid during the call
 */
typedef void (*evudp6_transport_error_cb)(struct evudp6_transport *t, int err, const struct evudp6_icmp *icmp,
                                          const struct evudp6_addr *remote, const uint8_t *quoted,
                                          size_t quoted_len, void *arg);

/** Called once the transport has shut down; it may then be freed. */
typedef void (*evudp6_transport_shutdown_cb)(struct evudp6_transport *t, void *arg);

/**
 * Counters since creation, read with evudp6_transport_stats(). ABI: later
 * releases append counters; the library fills only as many bytes as the
 * caller says its struct has.
 */
struct evudp6_transport_stats {
	uint64_t datagrams_in;
	uint64_t bytes_in;
	uint64_t datagrams_out;
	uint64_t bytes_out;
	uint64_t truncated;            /**< longer than max_datagram: dropped */
	uint64_t no_pktinfo;           /**< delivered without a local part */
	uint64_t errqueue;             /**< error-queue entries read */
	uint64_t errqueue_other;       /**< error-queue reads without an error entry */
	uint64_t send_errors;          /**< sendmsg() failures */
	uint64_t send_errors_dropped;  /**< send-error callbacks lost to a full queue */
	uint64_t wakeups;              /**< read events handled */
	uint64_t wakeups_bounded;      /**< wakeups that stopped at max_per_wakeup */
	uint64_t rxq_overflow;         /**< kernel receive-queue drops (SO_RXQ_OVFL) */
	uint64_t send_queued;          /**< datagrams that waited for a full socket buffer */
	uint64_t send_queue_overflow;  /**< datagrams dropped: socket buffer and send queue full */
	uint64_t send_queue_discarded; /**< datagrams still waiting at shutdown: never sent */
};

/**
 * Fill @p cfg with the defaults (all fields 0, bind NULL) and set
 * cfg->size to @p size.
 *
 * @param size  sizeof(*cfg) as the caller was compiled: no more than
 *              @p size bytes are written
 * @return 0, or -EINVAL for a NULL @p cfg or a size below sizeof(size_t)
 *         or not a multiple of the struct's alignment.
 */
EVUDP6_API int evudp6_transport_config_init(struct evudp6_transport_config *cfg, size_t size);

/**
 * Create a transport: the socket with all its options (dual stack,
 * non-blocking, close-on-exec, IPV6_RECVPKTINFO, IPV6_RECVERR, IP_RECVERR,
 * SO_RXQ_OVFL) and its receive buffers. Nothing is received until
 * evudp6_transport_start().
 *
 * @param out   receives the transport (freed with evudp6_transport_free())
 * @param cfg   may be NULL for defaults; copied (the bind string too)
 * @param error_cb may be NULL
 * @return 0, -EINVAL for a bad config (cfg->size 0 included), -ENOMEM,
 *         or the negative errno of the socket option that failed
 *         (-EVUDP6_E_NO_PKTINFO when the kernel refuses IPV6_RECVPKTINFO).
 */
EVUDP6_API int evudp6_transport_new(struct evudp6_transport **out, struct event_base *base,
                                    const struct evudp6_transport_config *cfg,
                                    evudp6_transport_datagram_cb datagram_cb,
                                    evudp6_transport_error_cb error_cb, void *arg);

/**
 * Create a transport on a UDP socket the caller made and bound: one
 * passed by systemd socket activation (LISTEN_FDS), bound to a device
 * with SO_BINDTODEVICE, marked with SO_MARK, or set up in any other way
 * the library does not offer.
 *
 * The socket is checked first: it must be AF_INET6, SOCK_DGRAM (UDP),
 * bound, and not connected. Then it gets the same options as a socket
 * of evudp6_transport_new() (non-blocking, close-on-exec,
 * IPV6_RECVPKTINFO, IPV6_RECVERR, IP_RECVERR, SO_RXQ_OVFL, cfg's
 * reuseport and buffer sizes), except IPV6_V6ONLY, which cannot change
 * after bind: a V6ONLY socket serves IPv6 only. cfg->bind must be NULL;
 * evudp6_transport_start() then only starts reading.
 *
 * @param fd    the socket; on success the transport owns it and closes it
 *              when shut down; on failure it stays the caller's, open
 * @return 0; -EBADF or -ENOTSOCK for an @p fd that is no socket;
 *         -EAFNOSUPPORT if it is not AF_INET6; -EPROTOTYPE if it is not
 *         a UDP datagram socket; -EVUDP6_E_NOT_BOUND if it is not bound;
 *         -EISCONN if it is connected; -EINVAL for a bad config or a
 *         bind string; otherwise as evudp6_transport_new().
 */
EVUDP6_API int evudp6_transport_new_from_fd(struct evudp6_transport **out, struct event_base *base, int fd,
                                            const struct evudp6_transport_config *cfg,
                                            evudp6_transport_datagram_cb datagram_cb,
                                            evudp6_transport_error_cb error_cb, void *arg);

/**
 * Bind to the configured address and start reading on the event_base.
 * Never blocks: a literal is bound as it is; a name is looked up in the
 * hosts file (/etc/hosts) only, never in DNS, and its addresses are tried
 * IPv6 first (each family in file order) until one binds, one this host
 * does not have (EADDRNOTAVAIL) passing to the next. A zone on a name is
 * written "name%25zone" (RFC 6874's delimiter) and becomes the scope of
 * an IPv6 result, winning over a zone in the file ("fe80::1%eth0 name").
 * For names the hosts file cannot give, resolve them with
 * evudp6_resolve_remote() first and bind the literal.
 * @return 0; -EVUDP6_E_STATE if already started; -EVUDP6_E_SHUTDOWN after
 *         shutdown; a -EVUDP6_E_HOST_* or -EVUDP6_E_PORT code for a bad
 *         bind string; -EVUDP6_E_RESOLVE_NXDOMAIN for a name the hosts
 *         file does not have; -EVUDP6_E_ZONE_UNKNOWN for an unknown zone,
 *         -EVUDP6_E_ZONE_NOT_ALLOWED for a zone on a name with only IPv4
 *         addresses; -EADDRINUSE, -EADDRNOTAVAIL, -EINVAL (link-local
 *         without zone), ... from bind().
 */
EVUDP6_API int evudp6_transport_start(struct evudp6_transport *t);

/**
 * Send one datagram. If @p remote has a local part, it goes into an
 * IPV6_PKTINFO control message: the datagram leaves from that address (or,
 * for an unspecified address with an interface index, through that
 * interface).
 *
 * Called from inside one of this transport's datagram or error callbacks
 * (with cfg.send_batch above 1), the datagram is copied and leaves with
 * the other answers of the same received batch in one sendmmsg(), before
 * the transport reads again; a send error then comes only through the
 * error callback. Order among the datagrams sent is kept.
 *
 * A datagram that meets a full socket buffer (EAGAIN) is copied into the
 * send queue (cfg.send_queue) and leaves when the socket is writable
 * again; while anything waits there, later datagrams queue behind it. Only
 * a datagram that finds the queue full is dropped (send_queue_overflow).
 *
 * @return 0 (sent or queued), or a negative errno from sendmsg(). A
 *         sendmsg() error is also reported through the error callback for
 *         @p remote, from the event loop after this call returns (never
 *         from inside it); so is one that a queued datagram meets later.
 *         -EVUDP6_E_SHUTDOWN after shutdown, -EVUDP6_E_STATE before start.
 *         -EAGAIN: socket buffer and send queue full, the datagram was
 *         dropped (counted, not reported).
 */
EVUDP6_API int evudp6_transport_send(struct evudp6_transport *t, const struct evudp6_addr *remote,
                                     const void *data, size_t len);

/**
 * Join a multicast group on an interface. @p group is an IPv6 group or a
 * V4MAPPED IPv4 group (::ffff:224.0.1.187); @p ifindex 0 lets the kernel
 * choose. @return 0 or the negative errno of the failed setsockopt().
 */
EVUDP6_API int evudp6_transport_join(struct evudp6_transport *t, const struct in6_addr *group,
                                     unsigned int ifindex);

/** Leave a group joined with evudp6_transport_join(). */
EVUDP6_API int evudp6_transport_leave(struct evudp6_transport *t, const struct in6_addr *group,
                                      unsigned int ifindex);

/**
 * Join All-CoAP-Nodes on an interface: 224.0.1.187, ff02::fd and ff05::fd.
 * Stops at the first failure and returns it (groups joined before stay
 * joined).
 */
EVUDP6_API int evudp6_transport_join_coap(struct evudp6_transport *t, unsigned int ifindex);

/** Hop limit for multicast (IPv6 and IPv4); 1 by default. */
EVUDP6_API int evudp6_transport_set_multicast_hops(struct evudp6_transport *t, int hops);

/** Hop limit for unicast (IPv6 and IPv4); -1 restores the route default. */
EVUDP6_API int evudp6_transport_set_unicast_hops(struct evudp6_transport *t, int hops);

/** Whether our own multicast datagrams loop back to local members (both families). */
EVUDP6_API int evudp6_transport_set_multicast_loop(struct evudp6_transport *t, bool loop);

/**
 * Traffic class of the datagrams sent: the IPv6 Traffic Class
 * (IPV6_TCLASS) and, for IPv4 (V4MAPPED) peers, the TOS byte (IP_TOS):
 * DSCP << 2, plus ECN bits if wanted (e.g. 0xb8 for DSCP EF). -1
 * restores the default (0).
 * @return 0, -EINVAL outside -1..255, or the negative errno of the failed
 *         setsockopt().
 */
EVUDP6_API int evudp6_transport_set_traffic_class(struct evudp6_transport *t, int tclass);

/**
 * The bound local address (after start).
 * @return 0 or -EVUDP6_E_STATE before start.
 */
EVUDP6_API int evudp6_transport_local(const struct evudp6_transport *t, struct sockaddr_in6 *out);

/** Bound port in host byte order, 0 before start. */
EVUDP6_API uint16_t evudp6_transport_port(const struct evudp6_transport *t);

/** The socket (for diagnostics; do not read from it). -1 after shutdown. */
EVUDP6_API int evudp6_transport_fd(const struct evudp6_transport *t);

/**
 * Copy the counters into @p out, whose size the caller gives (sizeof as
 * the caller was compiled): no more than @p size bytes are written, and
 * bytes of a larger struct than this library knows are set to 0.
 * @return the bytes filled with counters: min(size, the library's
 *         sizeof); -EINVAL for a NULL @p out.
 */
EVUDP6_API int evudp6_transport_stats(const struct evudp6_transport *t, struct evudp6_transport_stats *out,
                                      size_t size);

/**
 * Stop reading, close the socket and drop pending send-error reports;
 * datagrams still in the send queue get one last try and the rest are
 * discarded (send_queue_discarded). No
 * datagram or error callback runs after this returns. @p cb (may be NULL)
 * runs from the event loop once it is safe to free the transport.
 * @return 0, or -EVUDP6_E_SHUTDOWN if already shut down.
 */
EVUDP6_API int evudp6_transport_shutdown(struct evudp6_transport *t, evudp6_transport_shutdown_cb cb,
                                         void *arg);

/**
 * Shut down (if not yet) and free. Safe from inside any of the transport's
 * callbacks: the memory is then released when the callback returns. A
 * pending shutdown callback is not called. NULL is ignored.
 */
EVUDP6_API void evudp6_transport_free(struct evudp6_transport *t);

/** The event_base the transport runs on. */
EVUDP6_API struct event_base *evudp6_transport_base(const struct evudp6_transport *t);

#ifdef __cplusplus
}
#endif

#endif /* EVUDP6_TRANSPORT_H */
