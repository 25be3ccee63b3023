/*
 * evudp6 — transport internals shared by transport.c and multicast.c.
 */
#ifndef EVUDP6_TRANSPORT_INTERNAL_H
#define EVUDP6_TRANSPORT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <evudp6/transport.h>

struct event;

/* Room for every control message we ask for on one datagram: IPV6_PKTINFO,
 * SO_RXQ_OVFL, and for error-queue reads the extended error with its
 * offender. Twice what is needed, so MSG_CTRUNC means a kernel surprise. */
#define EVUDP6__CTRL_SIZE 256

/* Answers sent from inside a read wakeup are packed into an arena this
 * large (any UDP payload fits) and leave together in one sendmmsg(). */
#define EVUDP6__TX_ARENA 65536

/* While data keeps coming, the error queue is read every this many
 * wakeups even if nothing says it holds anything. */
#define EVUDP6__ERRQ_PERIOD 8

/* Send errors wait in a fixed ring until the loop reports them. */
#define EVUDP6__SENDERR_RING 32

/* The hosts file that names in cfg.bind are looked up in (tests point it
 * elsewhere). */
extern const char *evudp6__hosts_file;

enum evudp6__transport_state { EVUDP6__T_NEW = 0, EVUDP6__T_STARTED, EVUDP6__T_SHUTDOWN };

/* The first bytes of a refused datagram kept with its error: a CoAP
 * header and the longest token, enough to tell which message it was. */
#define EVUDP6__SENDERR_QUOTE 12

struct evudp6__senderr {
	struct evudp6_addr remote;
	int err;
	uint8_t quote_len;
	uint8_t quote[EVUDP6__SENDERR_QUOTE];
};

/* One held datagram: where it goes and its own IPV6_PKTINFO, so that
 * every answer in a sendmmsg() leaves from the address its request
 * reached. */
struct evudp6__txslot {
	struct evudp6_addr remote;
	union {
		struct cmsghdr align;
		uint8_t buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
	} ctrl;
};

/* One datagram waiting in the send queue; its bytes are in txq_data. */
struct evudp6__txq_slot {
	struct evudp6_addr remote;
	size_t len;
};

struct evudp6_transport {
	struct event_base *base;
	struct event *read_ev;
	struct event *defer_ev; /* send-error reports and the shutdown callback */
	int fd;
	bool adopted; /* fd came from evudp6_transport_new_from_fd(), bound */
	enum evudp6__transport_state state;

	char *bind;
	struct evudp6_transport_config cfg;
	struct sockaddr_in6 local;
	uint16_t port;

	evudp6_transport_datagram_cb datagram_cb;
	evudp6_transport_error_cb error_cb;
	void *arg;
	evudp6_transport_shutdown_cb shutdown_cb;
	void *shutdown_arg;
	bool shutdown_cb_pending;

	/* Depth of user callbacks on the stack; free is deferred while > 0. */
	unsigned int in_cb;
	bool free_pending;
	bool warned_no_pktinfo;

	/* Receive batch: cfg.batch slots of max_datagram bytes each. */
	uint8_t *rxbuf;
	uint8_t *rxctrl;
	struct mmsghdr *rxmsg;
	struct iovec *rxiov;
	struct sockaddr_in6 *rxname;
	/* Error-queue read buffer (the quoted datagram). */
	uint8_t *errbuf;

	/* Held sends: cfg.send_batch slots, their bytes packed in txarena. */
	bool in_read;      /* inside the read callback: sends are held */
	unsigned int held; /* evudp6__transport_hold() depth: sends are held too */
	unsigned int txcount;
	size_t txused;
	uint8_t *txarena;
	struct mmsghdr *txmsg;
	struct iovec *txiov;
	struct evudp6__txslot *txslot;

	/* Send queue: datagrams that met a full socket buffer, oldest at
	 * txq_head; cfg.send_queue slots of max_datagram bytes in txq_data. */
	struct event *write_ev;
	struct evudp6__txq_slot *txq;
	uint8_t *txq_data;
	unsigned int txq_head;
	unsigned int txq_count;

	struct evudp6__senderr senderr[EVUDP6__SENDERR_RING];
	unsigned int senderr_head;
	unsigned int senderr_count;

	struct evudp6_transport_stats stats;
};

/* Callbacks of a transport, read (into @old) and replaced (by @in, unless
 * NULL) together: a messenger on a transport the caller owns takes them
 * over and gives them back. */
struct evudp6__transport_cbs {
	evudp6_transport_datagram_cb datagram_cb;
	evudp6_transport_error_cb error_cb;
	void *arg;
};
void evudp6__transport_swap_cbs(struct evudp6_transport *t, const struct evudp6__transport_cbs *in,
                                struct evudp6__transport_cbs *old);
bool evudp6__transport_is_shut(const struct evudp6_transport *t);
bool evudp6__transport_is_started(const struct evudp6_transport *t);

/* Hold sends (as inside the read callback) until the matching release, so
 * that a burst from a timer (a notify round) leaves in sendmmsg() batches. */
void evudp6__transport_hold(struct evudp6_transport *t);
void evudp6__transport_release(struct evudp6_transport *t);

#endif /* EVUDP6_TRANSPORT_INTERNAL_H */
