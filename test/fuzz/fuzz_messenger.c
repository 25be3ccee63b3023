/*
 * Fuzz harness: the message layer (lib/messenger.c, request.c, exchange.c) fed through its real
 * entry points, the datagram and error callbacks it registers on its
 * transport.
 *
 * Each input is a script for one fresh messenger bound on [::]:0 whose
 * peers are two sink sockets on loopback (nothing leaves the host). The
 * first byte picks the configuration; then each op is one of:
 *   datagram  any bytes, from a sink, to a unicast or multicast local part
 *   reply     an answer forged from the last datagram the messenger sent
 *             to a sink (its message id and token, any type, code, options)
 *   error     an ICMP error quoting that datagram (cut anywhere), or a
 *             send error, for that sink
 *   request   a client request (CON, NON, ping; unicast or multicast)
 *   cancel    a pending request
 *   respond   to a request the handler kept for later
 *   sleep     1-3 ms, then run the loop (timers: retransmission, leisure,
 *             empty ACK, lifetimes)
 * and the request handler reads its own decision from the script.
 *
 * Properties: a malformed datagram counts once as malformed and gets an
 * RST exactly when it is a CON from unicast with a readable header; every
 * request ends exactly once (response, error, timeout or shutdown), never
 * from inside the call that made it and never after being cancelled; only
 * errors the script injected (and the documented ones) end requests; the
 * state stays under its caps; no leak, no sanitizer report.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include <evudp6.h>

#include "fuzz-sink.h"
#include "fuzz.h"
#include "transport-internal.h"

static struct event_base *base;
static int sink[2] = {-1, -1};
static uint16_t sink_port[2];
static unsigned int lo_index;
static bool trace; /* FUZZ_TRACE=1: one line of counters per input */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	base = event_base_new();
	FUZZ_CHECK(base != NULL);
	lo_index = if_nametoindex("lo");
	trace = getenv("FUZZ_TRACE") != NULL;
	for (int i = 0; i < 2; i++)
		sink[i] = fuzz_sink_socket(&sink_port[i]);
	return 0;
}

/* ------------------------------------------------------------- script */

struct script {
	const uint8_t *p;
	size_t n;
};

static struct script sc;

static uint8_t get8(void)
{
	if (sc.n == 0)
		return 0;
	sc.n--;
	return *sc.p++;
}

static uint16_t get16(void)
{
	uint16_t hi = get8();
	return (uint16_t)(hi << 8 | get8());
}

static const uint8_t *take(size_t want, size_t *got)
{
	*got = want < sc.n ? want : sc.n;
	const uint8_t *p = sc.p;
	sc.p += *got;
	sc.n -= *got;
	return p;
}

/* -------------------------------------------------------------- state */

#define MAX_RECORDS 16
#define MAX_KEPT    8

struct record {
	struct evudp6_request_handle r;
	bool started, done, cancelled, mcast;
	int calls;
};

struct world {
	struct evudp6_messenger *m;
	bool freed; /* by a callback */
	bool shut;
	bool in_request_call;
	struct record rec[MAX_RECORDS];
	int nrec;
	struct evudp6_exchange_handle kept[MAX_KEPT];
	int nkept;
	/* errors the script injected, which may end requests */
	int injected[8];
	int ninjected;
	/* the last datagram the messenger sent to a sink */
	uint8_t last[2048];
	size_t last_len;
	int last_sink;
	bool last_v4;
};

static struct world w;

static bool injected(int err)
{
	for (int i = 0; i < w.ninjected; i++)
		if (w.injected[i] == err)
			return true;
	return false;
}

/* A sink as seen from the messenger, with the local part a datagram from
 * it would carry. sel: bit 0 sink, bit 1 IPv4, bits 2-3 local part
 * (unicast, multicast group, none). */
static void sink_remote(uint8_t sel, struct evudp6_addr *a)
{
	int s = sel & 1;
	bool v4 = sel & 2;
	FUZZ_CHECK(evudp6_addr_from_literal(a, v4 ? "127.0.0.1" : "::1", sink_port[s], 0) == 0);
	struct in6_addr local;
	switch ((sel >> 2) & 3) {
	case 1:
		inet_pton(AF_INET6, v4 ? "::ffff:224.0.1.187" : "ff02::fd", &local);
		evudp6_addr_set_local(a, &local, lo_index);
		break;
	case 2:
		break;
	default:
		inet_pton(AF_INET6, v4 ? "::ffff:127.0.0.1" : "::1", &local);
		evudp6_addr_set_local(a, &local, lo_index);
		break;
	}
	a->local_port = evudp6_transport_port(evudp6_messenger_transport(w.m));
}

static void drain_sinks(void)
{
	uint8_t buf[2048];
	for (int i = 0; i < 2; i++)
		while (recv(sink[i], buf, sizeof(buf), 0) >= 0)
			;
}

/* --------------------------------------------------------- callbacks */

static void response_cb(struct evudp6_request_handle r, int err, const struct evudp6_msg *rsp,
                        const struct evudp6_addr *remote, const struct evudp6_icmp *icmp, void *arg)
{
	struct record *rec = arg;
	FUZZ_CHECK(!w.in_request_call);
	FUZZ_CHECK(rec->started && !rec->done && !rec->cancelled);
	FUZZ_CHECK(rec->r.obj == r.obj && rec->r.gen == r.gen);
	FUZZ_CHECK((err == 0) == (rsp != NULL));
	FUZZ_CHECK(icmp == NULL || err < 0);
	rec->calls++;
	if (err == 0) {
		FUZZ_CHECK(remote != NULL);
		if (!rec->mcast)
			rec->done = true;
	} else {
		FUZZ_CHECK(err == -EVUDP6_E_TIMEOUT || err == -ECONNRESET || err == -EVUDP6_E_SHUTDOWN ||
		           injected(err));
		rec->done = true;
	}
	/* Now and then the callback cancels, or frees everything. */
	uint8_t d = get8();
	if (d == 0xc3 && !rec->done) {
		rec->cancelled = true;
		FUZZ_CHECK(evudp6_request_cancel(r) == 0);
	} else if (d == 0xc4) {
		w.freed = true;
		evudp6_messenger_free(w.m);
	}
}

static void respond(struct evudp6_exchange_handle ex, uint8_t how, bool *kept_or_done)
{
	struct evudp6_msg_builder b;
	static const uint8_t codes[] = {EVUDP6_CONTENT, EVUDP6_NOT_FOUND, EVUDP6_INTERNAL_SERVER_ERROR,
	                                EVUDP6_CHANGED, EVUDP6_GET,       0};
	uint8_t code = codes[how % sizeof(codes)];
	evudp6_msg_builder_init(&b, EVUDP6_CON, code, 0);
	size_t plen;
	const uint8_t *payload = take(get8() % 64, &plen);
	evudp6_msg_builder_set_payload(&b, payload, plen);
	int r = evudp6_exchange_respond(ex, (how & 0x80) ? NULL : &b);
	if ((how & 0x80) || EVUDP6_CODE_CLASS(code) >= 2) {
		FUZZ_CHECK(r == 0 || (w.shut && r == -EVUDP6_E_SHUTDOWN));
		/* Answered: the handle is stale, whatever its slot holds next. */
		if (r == 0 && !w.freed) {
			FUZZ_CHECK(evudp6_exchange_respond(ex, NULL) == -EVUDP6_E_STATE);
			FUZZ_CHECK(evudp6_exchange_remote(ex) == NULL);
		}
		*kept_or_done = true;
	} else {
		FUZZ_CHECK(r == -EINVAL || (w.shut && r == -EVUDP6_E_SHUTDOWN));
		*kept_or_done = false;
	}
}

static void request_cb(struct evudp6_messenger *m, struct evudp6_exchange_handle ex,
                       const struct evudp6_msg *req, const struct evudp6_addr *remote, void *arg)
{
	(void)arg;
	FUZZ_CHECK(m == w.m);
	FUZZ_CHECK(EVUDP6_CODE_CLASS(req->code) == 0 && req->code != 0);
	FUZZ_CHECK(evudp6_exchange_remote(ex) != NULL && remote != NULL);
	uint8_t how = get8();
	if (how == 0xc4) {
		w.freed = true;
		evudp6_messenger_free(m);
		return;
	}
	if ((how & 0x40) && w.nkept < MAX_KEPT) {
		w.kept[w.nkept++] = ex; /* answered later, or never */
		return;
	}
	bool done;
	respond(ex, how, &done);
	if (!done && w.nkept < MAX_KEPT)
		w.kept[w.nkept++] = ex;
}

/* ---------------------------------------------------------------- ops */

static void stats(struct evudp6_messenger_stats *st)
{
	evudp6_messenger_stats(w.m, st, sizeof(*st));
	FUZZ_CHECK(st->dedup_entries <= st->dedup_cap && st->dedup_peak <= st->dedup_cap);
}

static void feed(const uint8_t *data, size_t len, const struct evudp6_addr *from)
{
	struct evudp6_transport *t = evudp6_messenger_transport(w.m);
	struct evudp6_messenger_stats a, b;
	stats(&a);
	uint8_t *exact = malloc(len ? len : 1);
	FUZZ_CHECK(exact != NULL);
	memcpy(exact, data, len);
	t->datagram_cb(t, exact, len, from, t->arg);
	if (!w.freed && !w.shut) {
		stats(&b);
		struct evudp6_msg msg;
		if (evudp6_msg_decode(&msg, exact, len) < 0) {
			FUZZ_CHECK(b.malformed == a.malformed + 1);
			bool rst = evudp6_msg_peek_header(&msg, exact, len) == 0 && msg.type == EVUDP6_CON &&
			           !evudp6_addr_is_multicast_locally(from);
			FUZZ_CHECK(b.rst_sent == a.rst_sent + (rst ? 1 : 0));
			FUZZ_CHECK(b.requests_received == a.requests_received);
		} else if (msg.type == EVUDP6_CON && evudp6_addr_is_multicast_locally(from)) {
			/* RFC 7252 8.1: dropped and counted, nothing sent. */
			FUZZ_CHECK(b.multicast_con_dropped == a.multicast_con_dropped + 1);
			FUZZ_CHECK(b.rst_sent == a.rst_sent && b.empty_acks_sent == a.empty_acks_sent &&
			           b.responses_sent == a.responses_sent && b.pings == a.pings &&
			           b.requests_received == a.requests_received);
		}
	}
	free(exact);
}

static void op_datagram(void)
{
	struct evudp6_addr from;
	sink_remote(get8(), &from);
	size_t len;
	const uint8_t *d = take(get16() % 1500, &len);
	feed(d, len, &from);
}

/* Take the next datagram the messenger sent to a sink. */
static bool capture(int s)
{
	struct sockaddr_in6 src;
	socklen_t sl = sizeof(src);
	ssize_t n = recvfrom(sink[s], w.last, sizeof(w.last), 0, (struct sockaddr *)&src, &sl);
	if (n < 0)
		return false;
	w.last_len = (size_t)n;
	w.last_sink = s;
	w.last_v4 = IN6_IS_ADDR_V4MAPPED(&src.sin6_addr);
	return true;
}

static void op_reply(void)
{
	uint8_t sel = get8();
	if (!capture(sel & 1) && w.last_len == 0)
		return;
	struct evudp6_msg sent;
	if (evudp6_msg_peek_header(&sent, w.last, w.last_len) < 0)
		return;
	struct evudp6_addr from;
	sink_remote((uint8_t)(w.last_sink | (w.last_v4 ? 2 : 0) | (sel & 0x0c)), &from);
	uint8_t out[1600];
	uint8_t type = get8() & 3, code = get8();
	uint16_t mid = sent.mid + (sel & 0x10 ? 1 : 0);
	uint8_t tkl = sel & 0x20 ? 0 : sent.tkl;
	out[0] = (uint8_t)(0x40 | type << 4 | tkl);
	out[1] = code;
	out[2] = (uint8_t)(mid >> 8);
	out[3] = (uint8_t)mid;
	if (tkl)
		memcpy(out + 4, sent.token, tkl);
	size_t rest;
	const uint8_t *r = take(get8(), &rest);
	memcpy(out + 4 + tkl, r, rest);
	feed(out, 4 + tkl + rest, &from);
}

static void op_error(void)
{
	uint8_t sel = get8();
	static const int errs[] = {ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, EMSGSIZE, EACCES, ETIMEDOUT};
	int err = errs[get8() % (sizeof(errs) / sizeof(errs[0]))];
	if (w.ninjected < 8 && !injected(-err))
		w.injected[w.ninjected++] = -err;
	capture(sel & 1);
	struct evudp6_addr remote;
	sink_remote((uint8_t)(w.last_len ? (w.last_sink | (w.last_v4 ? 2 : 0)) : (sel & 3)) | 8, &remote);
	struct evudp6_transport *t = evudp6_messenger_transport(w.m);
	if (sel & 0x80) {
		/* a send error: no details, no quote */
		t->error_cb(t, -err, NULL, &remote, NULL, 0, t->arg);
		return;
	}
	struct evudp6_icmp icmp = {.err = err, .origin = get8() & 3, .type = get8(), .code = get8()};
	size_t qlen = w.last_len ? get8() % (w.last_len + 1) : 0;
	uint8_t *quoted = malloc(qlen ? qlen : 1);
	FUZZ_CHECK(quoted != NULL);
	memcpy(quoted, w.last, qlen);
	t->error_cb(t, -err, &icmp, &remote, qlen || !(sel & 0x40) ? quoted : NULL, qlen, t->arg);
	free(quoted);
}

static void op_request(void)
{
	if (w.nrec >= MAX_RECORDS)
		return;
	uint8_t sel = get8();
	struct evudp6_addr to;
	bool mcast = (sel & 0x30) == 0x30;
	if (mcast) {
		bool v4 = sel & 2;
		FUZZ_CHECK(evudp6_addr_from_literal(&to, v4 ? "224.0.1.187" : "ff02::fd", sink_port[sel & 1],
		                                    v4 ? 0 : lo_index) == 0);
		if (v4)
			evudp6_addr_set_local(&to, NULL, lo_index);
	} else {
		FUZZ_CHECK(
		    evudp6_addr_from_literal(&to, sel & 2 ? "127.0.0.1" : "::1", sink_port[sel & 1], 0) == 0);
	}
	struct evudp6_msg_builder b;
	uint8_t kind = get8();
	uint8_t type = kind & 1 ? EVUDP6_NON : EVUDP6_CON;
	uint8_t code = kind & 2 ? EVUDP6_EMPTY : (uint8_t)(1 + (kind >> 2) % 7);
	evudp6_msg_builder_init(&b, type, code, 0);
	if (code != EVUDP6_EMPTY) {
		size_t plen;
		const uint8_t *path = take(get8() % 16, &plen);
		evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_PATH, path, plen);
		if (kind & 0x80)
			evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_NO_RESPONSE, get8());
	}
	struct record *rec = &w.rec[w.nrec];
	memset(rec, 0, sizeof(*rec));
	rec->mcast = mcast;
	rec->started = true; /* provisionally: the callback checks it */
	w.in_request_call = true;
	int r = evudp6_messenger_request(w.m, &to, &b, get8() % 8, response_cb, rec, &rec->r);
	w.in_request_call = false;
	if (r < 0) {
		FUZZ_CHECK(rec->calls == 0);
		FUZZ_CHECK(r == -EVUDP6_E_MULTICAST_CON || r == -ENOBUFS || r == -EINVAL ||
		           r == -EVUDP6_E_SHUTDOWN || r == -EVUDP6_E_MSG_NOSPACE || r < 0);
		if (r == -EVUDP6_E_MULTICAST_CON)
			FUZZ_CHECK(mcast && type == EVUDP6_CON);
		rec->started = false;
		return;
	}
	FUZZ_CHECK(!(mcast && type == EVUDP6_CON && code != EVUDP6_EMPTY));
	w.nrec++;
}

static void op_cancel(void)
{
	if (w.nrec == 0)
		return;
	struct record *rec = &w.rec[get8() % w.nrec];
	if (rec->done || rec->cancelled)
		return;
	rec->cancelled = true;
	FUZZ_CHECK(evudp6_request_cancel(rec->r) == 0);
	FUZZ_CHECK(evudp6_request_cancel(rec->r) == -EVUDP6_E_STATE);
}

static void op_respond(void)
{
	if (w.nkept == 0)
		return;
	int i = get8() % w.nkept;
	struct evudp6_exchange_handle ex = w.kept[i];
	bool done;
	respond(ex, get8(), &done);
	if (done)
		w.kept[i] = w.kept[--w.nkept];
}

static int sleeps;

static void op_sleep(void)
{
	if (sleeps++ >= 3)
		return;
	usleep(1000u + 1000u * (get8() % 3));
	event_base_loop(base, EVLOOP_NONBLOCK);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	memset(&w, 0, sizeof(w));
	sc.p = data;
	sc.n = size;
	sleeps = 0;
	drain_sinks();

	uint8_t c = get8();
	struct evudp6_messenger_config cfg;
	evudp6_messenger_config_init(&cfg, sizeof(cfg));
	cfg.ack_timeout_ms = 1;
	cfg.ack_random_factor = 1.0;
	cfg.max_retransmit = c & 1;
	cfg.nstart = 1 + ((c >> 1) & 1);
	cfg.leisure_ms = (c >> 2) & 1;
	cfg.exchange_lifetime_ms = 3;
	cfg.non_lifetime_ms = 3;
	cfg.response_timeout_ms = 2;
	cfg.multicast_wait_ms = 2;
	cfg.empty_ack_delay_ms = (c >> 3) & 1;
	cfg.dedup_cap = 1 + ((c >> 4) & 3);
	cfg.max_requests = 1 + ((c >> 6) & 3);
	cfg.max_message = 256;
	struct evudp6_transport_config tcfg = {.size = sizeof(tcfg), .bind = "[::]:0", .max_datagram = 1600};
	FUZZ_CHECK(evudp6_messenger_new(&w.m, base, &tcfg, &cfg) == 0);
	evudp6_messenger_set_request_cb(w.m, request_cb, NULL);
	FUZZ_CHECK(evudp6_messenger_start(w.m) == 0);

	while (sc.n > 0 && !w.freed && !w.shut) {
		switch (get8() % 8) {
		case 0:
			op_datagram();
			break;
		case 1:
			op_reply();
			break;
		case 2:
			op_error();
			break;
		case 3:
			op_request();
			break;
		case 4:
			op_cancel();
			break;
		case 5:
			op_respond();
			break;
		case 6:
			op_sleep();
			break;
		default: {
			/* shut down; callbacks then end every pending request */
			w.shut = true;
			FUZZ_CHECK(evudp6_messenger_shutdown(w.m) == 0);
			if (w.freed)
				break; /* a callback freed it during the shutdown */
			for (int i = 0; i < w.nkept; i++) {
				struct evudp6_msg_builder b;
				evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_CONTENT, 0);
				FUZZ_CHECK(evudp6_exchange_respond(w.kept[i], &b) == -EVUDP6_E_SHUTDOWN);
			}
			for (int i = 0; i < w.nrec; i++)
				FUZZ_CHECK(w.rec[i].done || w.rec[i].cancelled);
			FUZZ_CHECK(evudp6_messenger_shutdown(w.m) == -EVUDP6_E_SHUTDOWN);
			break;
		}
		}
		if (!w.freed) {
			struct evudp6_messenger_stats st;
			stats(&st);
			FUZZ_CHECK(st.requests_pending <= cfg.max_requests);
		}
	}
	if (!w.freed) {
		if (trace) {
			struct evudp6_messenger_stats st;
			stats(&st);
			fprintf(
			    stderr,
			    "requests %d: sent %lu rtx %lu timeouts %lu rst_rx %lu failed %lu vetted %lu | "
			    "received %lu responses %lu suppressed %lu dup %lu/%lu malformed %lu pings %lu "
			    "rst %lu "
			    "empty_acks %lu unmatched %lu evicted %lu full %lu\n",
			    w.nrec, (unsigned long)st.requests_sent, (unsigned long)st.retransmissions,
			    (unsigned long)st.timeouts, (unsigned long)st.rst_received,
			    (unsigned long)st.exchanges_failed, (unsigned long)st.icmp_vetted_out,
			    (unsigned long)st.requests_received, (unsigned long)st.responses_sent,
			    (unsigned long)st.responses_suppressed, (unsigned long)st.duplicates,
			    (unsigned long)st.duplicates_answered, (unsigned long)st.malformed,
			    (unsigned long)st.pings, (unsigned long)st.rst_sent,
			    (unsigned long)st.empty_acks_sent, (unsigned long)st.unmatched,
			    (unsigned long)st.dedup_evicted, (unsigned long)st.dedup_full);
		}
		evudp6_messenger_free(w.m);
	}
	/* Deferred events of the freed transport must be gone from the base. */
	for (int i = 0; i < 3; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	return 0;
}
