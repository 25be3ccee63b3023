/*
 * evudp6 — Observe internals (observe.c) and the few hooks the message
 * layer calls.
 *
 * Server observations, the CON slots that carry confirmable
 * notifications, and client observers live in pools allocated once per
 * messenger (m->obs). Observations are found by endpoint (hash of the
 * remote: a bucket holds every observation of one endpoint, which also
 * enforces max_per_remote) and by the message id of the last
 * notification sent to them (for its ACK or RST); observers by token and
 * by the message id of their own registration or deregistration.
 *
 * Every hook returns at once when observe was never set up, except that a
 * notification for no observer of ours is answered with RST either way.
 */
#ifndef EVUDP6_OBSERVE_INTERNAL_H
#define EVUDP6_OBSERVE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <evudp6/observe.h>

#include "hashtab.h"
#include "list.h"
#include "messenger-internal.h"

struct evudp6__obs;

/* A confirmable notification in flight, with its datagram. */
struct evudp6__obs_slot {
	struct evudp6__obs *os;
	struct event *timer;
	struct evudp6_observation *o;
	struct evudp6__obs_slot *free_next;
	bool fresh;       /* buf holds a newer notification not sent yet */
	uint16_t buf_mid; /* the message id written in buf */
	unsigned int retransmits;
	uint64_t timeout_us;
	uint8_t *buf;
	size_t len;
};

enum evudp6__obsn_state { EVUDP6__OBSN_FREE = 0, EVUDP6__OBSN_LIVE, EVUDP6__OBSN_ENDED };

struct evudp6_observation {
	struct evudp6__obs *os;
	struct evudp6__hnode rem_node, mid_node;
	struct evudp6_observation *free_next;
	struct evudp6__obs_slot *slot;
	uint64_t gen; /* raised when the slot is released: older handles are stale */
	evudp6_observation_end_cb cb;
	void *arg;
	struct evudp6_addr remote;
	uint64_t last_con_ms;
	uint32_t seq;
	uint16_t mid; /* of the last notification sent */
	uint16_t since_con;
	uint8_t state;
	bool con_owed;
	uint8_t tkl;
	uint8_t token[EVUDP6_TOKEN_MAX];
};

enum evudp6__obsr_state {
	EVUDP6__OBSR_FREE = 0,
	EVUDP6__OBSR_REGISTERING,   /* our GET (Observe: 0) in flight */
	EVUDP6__OBSR_OBSERVING,     /* notified; waiting for more or for Max-Age */
	EVUDP6__OBSR_DEREGISTERING, /* our GET (Observe: 1) in flight */
	EVUDP6__OBSR_ENDED
};

struct evudp6_observer {
	struct evudp6__obs *os;
	struct event *timer; /* retransmission or response wait of our GET; Max-Age silence */
	struct evudp6__hnode tok_node, mid_node;
	struct evudp6_observer *free_next;
	uint64_t gen; /* raised when the slot is released: older handles are stale */
	uint8_t state;
	bool con;      /* our GET is CON */
	bool acked;    /* ... and acknowledged by an empty ACK */
	bool have_seq; /* a notification was delivered */
	bool in_cb;
	uint16_t mid; /* of our GET in flight */
	uint8_t token[EVUDP6__TOKEN_LEN];
	unsigned int retransmits;
	uint64_t timeout_us;
	uint32_t last_seq;
	uint64_t last_ms;
	/* A notification larger than one block, its other blocks being
	 * fetched (RFC 7959 2.6); delivered with its seq when complete. */
	struct evudp6_block_request *br;
	uint32_t br_seq;
	struct evudp6_addr remote;
	evudp6_observer_notify_cb cb;
	void *arg;
	uint8_t *buf; /* the registration as sent (message id patched per send) */
	size_t len;
};

struct evudp6__obs {
	struct evudp6_messenger *m;
	struct evudp6_observe_config cfg;
	struct evudp6_observe_stats st;
	uint8_t *scratch; /* NON notifications, re-encoding */
	struct evudp6_observation *obs, *obs_free;
	struct evudp6__htab rem_tab, omid_tab;
	struct evudp6__obs_slot *slots, *slot_free;
	uint8_t *slot_bufs;
	struct evudp6_observer *obr, *obr_free;
	uint8_t *obr_bufs;
	struct evudp6__htab tok_tab, rmid_tab;
};

/* ------------------------------------------------------------ hooks */

/* A CON/NON response no request of ours took: true when it was a
 * notification for one of our observers, or one to reject with RST. */
bool evudp6__obs_on_response(struct evudp6_messenger *m, const struct evudp6_msg *msg,
                             const struct evudp6_addr *remote, bool via_mcast, uint32_t hash, uint64_t now);
/* An ACK or RST nothing else took: true when it concerned a notification
 * or one of our registrations. */
bool evudp6__obs_on_ack(struct evudp6_messenger *m, const struct evudp6_msg *msg,
                        const struct evudp6_addr *remote);
bool evudp6__obs_on_rst(struct evudp6_messenger *m, const struct evudp6_msg *msg,
                        const struct evudp6_addr *remote);
/* A new request, before its handler runs: a GET with Observe: 1 removes
 * the matching observer. */
void evudp6__obs_on_request(struct evudp6_messenger *m, const struct evudp6_msg *msg,
                            const struct evudp6_addr *remote);
/* Does the quoted header belong to a notification or registration of ours? */
bool evudp6__obs_vet(struct evudp6_messenger *m, const struct evudp6_msg *h,
                     const struct evudp6_addr *remote);
/* A hard error for @p remote: remove its observers, end our observations of it. */
void evudp6__obs_fail_remote(struct evudp6_messenger *m, const struct evudp6_addr *remote, int err,
                             const struct evudp6_icmp *icmp);
void evudp6__obs_stop_timers(struct evudp6_messenger *m);
/* End everything with -EVUDP6_E_SHUTDOWN (callbacks called). */
void evudp6__obs_shutdown_all(struct evudp6_messenger *m);
void evudp6__obs_destroy(struct evudp6_messenger *m);

#endif
