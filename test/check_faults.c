/*
 * Faults on loopback, without privileges (SPEC 8): floods of malformed
 * datagrams, datagrams longer than the receive buffer, a receive queue
 * that overflows, local error-queue entries and sends the kernel refuses.
 * Each test asserts exact counters, that the loop stays live (a periodic
 * timer on the same event_base is never late by more than
 * FAULT_MAX_LATE_MS) and, for the floods, that memory stays put.
 *
 * The namespace faults (ICMP floods, router errors, spoofed sources, an
 * interface going away) are in test/ns_faults.sh.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include <evudp6.h>

#include "faultutil.h"
#include "testutil.h"

/* The loop under attack stayed live: see struct fault_monitor. */
#define LIVE(mon)                                                                                            \
	do {                                                                                                 \
		char _why[160];                                                                              \
		const char *_v = fault_monitor_verdict(mon, _why, sizeof(_why));                             \
		ck_assert_msg(_v == NULL, "%s", _v);                                                         \
	} while (0)

/* Run the loop until cond holds or limit_s seconds pass. */
#define RUN_UNTIL(base, cond, limit_s)                                                                       \
	do {                                                                                                 \
		struct timespec _t0, _t1;                                                                    \
		clock_gettime(CLOCK_MONOTONIC, &_t0);                                                        \
		while (!(cond)) {                                                                            \
			event_base_loop(base, EVLOOP_ONCE);                                                  \
			clock_gettime(CLOCK_MONOTONIC, &_t1);                                                \
			if (_t1.tv_sec - _t0.tv_sec > (limit_s))                                             \
				break;                                                                       \
		}                                                                                            \
	} while (0)

static int udp_socket(int family)
{
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	return fd;
}

/* sendto ::1 or 127.0.0.1, retrying while the kernel is short of buffers. */
static void send_to(int fd, int family, uint16_t port, const void *data, size_t len)
{
	struct sockaddr_in6 s6 = {
	    .sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	struct sockaddr_in s4 = {
	    .sin_family = AF_INET, .sin_port = htons(port), .sin_addr = {htonl(INADDR_LOOPBACK)}};
	for (int tries = 0; tries < 1000; tries++) {
		ssize_t n = family == AF_INET6 ? sendto(fd, data, len, 0, (struct sockaddr *)&s6, sizeof(s6))
		                               : sendto(fd, data, len, 0, (struct sockaddr *)&s4, sizeof(s4));
		if (n == (ssize_t)len)
			return;
		if (n < 0 && errno != ENOBUFS && errno != EAGAIN && errno != EINTR)
			break;
		usleep(100);
	}
	ck_abort_msg("sendto failed: %s", strerror(errno));
}

static void on_error_ignore(struct evudp6_transport *t, int err, const struct evudp6_icmp *icmp,
                            const struct evudp6_addr *remote, const uint8_t *quoted, size_t quoted_len,
                            void *arg)
{
	(void)t, (void)err, (void)icmp, (void)remote, (void)quoted, (void)quoted_len, (void)arg;
}

/* ---------------------------------------------------- malformed flood */

#ifndef FLOOD /* datagrams per flood */
#define FLOOD 100000
#endif
#define FLOOD_WINDOW 2000
/* Resident memory may grow while buffers are first touched, up to the
 * slack; over the second half of a flood it must stay put. */
#define FLOOD_RSS_SLACK_KB 1024
#define FLOOD_RSS_HALF_KB  256

struct flood {
	struct fault_case cases[FAULT_CORPUS_MAX];
	int ncases;
	unsigned long per_case[FAULT_CORPUS_MAX];
	unsigned long unknown;       /* datagrams that match no case */
	unsigned long misclassified; /* decoded to another result than their directory says */
	atomic_ulong received;
	atomic_ulong sent;
	atomic_bool stalled;
	uint16_t port;
	long rss_base, rss_mid;
};

static void *flood_sender(void *arg)
{
	struct flood *f = arg;
	int s6 = udp_socket(AF_INET6), s4 = udp_socket(AF_INET);
	for (unsigned long i = 0; i < FLOOD; i++) {
		/* Keep at most a window in flight, so that the kernel queue never
		 * overflows and every count below is exact. */
		int waited = 0;
		while (i - atomic_load(&f->received) >= FLOOD_WINDOW) {
			if (++waited > 100000) { /* 10 s without progress */
				atomic_store(&f->stalled, true);
				goto out;
			}
			usleep(100);
		}
		const struct fault_case *c = &f->cases[i % (unsigned long)f->ncases];
		/* Both families reach the one dual-stack socket. */
		if (i & 1)
			send_to(s4, AF_INET, f->port, c->data, c->len);
		else
			send_to(s6, AF_INET6, f->port, c->data, c->len);
		atomic_store(&f->sent, i + 1);
	}
out:
	close(s6);
	close(s4);
	return NULL;
}

static void flood_datagram(struct evudp6_transport *t, const uint8_t *data, size_t len,
                           const struct evudp6_addr *remote, void *arg)
{
	(void)t;
	(void)remote;
	struct flood *f = arg;
	int i = fault_corpus_find(f->cases, f->ncases, data, len);
	if (i < 0) {
		f->unknown++;
	} else {
		f->per_case[i]++;
		struct evudp6_msg m;
		if (strcmp(evudp6_strerror_name(evudp6_msg_decode(&m, data, len)), f->cases[i].expected) != 0)
			f->misclassified++;
	}
	/* The baseline is taken once the flood is under way and every buffer
	 * the path needs has been touched. */
	unsigned long n = atomic_fetch_add(&f->received, 1) + 1;
	if (n == 1000)
		f->rss_base = fault_rss_kb();
	else if (n == FLOOD / 2)
		f->rss_mid = fault_rss_kb();
}

START_TEST(faults_malformed_flood_reaches_transport_whole_and_counted)
{
	static struct flood f;
	memset(&f, 0, sizeof(f));
	f.ncases = fault_corpus_load(testutil_srcdir(), f.cases, FAULT_CORPUS_MAX);
	/* every fault of SPEC 5 is in the corpus, several times over */
	ck_assert_int_ge(f.ncases, 50);

	struct event_base *base = event_base_new();
	struct evudp6_transport *t = NULL;
	struct evudp6_transport_config cfg = {.size = sizeof(cfg), .bind = "[::]:0", .rcvbuf = 8 << 20};
	ck_assert_int_eq(evudp6_transport_new(&t, base, &cfg, flood_datagram, on_error_ignore, &f), 0);
	ck_assert_int_eq(evudp6_transport_start(t), 0);
	f.port = evudp6_transport_port(t);

	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, flood_sender, &f), 0);
	/* A full window waits in the kernel before the loop first runs, so
	 * the first wakeup must stop at its bound. */
	while (atomic_load(&f.sent) < FLOOD_WINDOW && !atomic_load(&f.stalled))
		usleep(1000);

	struct fault_monitor mon;
	fault_monitor_start(&mon, base);
	RUN_UNTIL(base, atomic_load(&f.received) == FLOOD || atomic_load(&f.stalled), 120);
	fault_monitor_stop(&mon);
	long rss_end = fault_rss_kb();
	pthread_join(th, NULL);

	struct evudp6_transport_stats st;
	evudp6_transport_stats(t, &st, sizeof(st));
	ck_assert_msg(!atomic_load(&f.stalled), "sender stalled after %lu datagrams", atomic_load(&f.sent));
	ck_assert_uint_eq(atomic_load(&f.received), FLOOD);
	ck_assert_uint_eq(st.datagrams_in, FLOOD);
	ck_assert_uint_eq(st.truncated, 0);
	ck_assert_uint_eq(st.rxq_overflow, 0);
	ck_assert_uint_eq(st.no_pktinfo, 0);
	ck_assert_uint_eq(f.unknown, 0);
	ck_assert_uint_eq(f.misclassified, 0);
	uint64_t bytes = 0;
	for (int i = 0; i < f.ncases; i++) {
		unsigned long want = FLOOD / f.ncases + ((unsigned long)i < FLOOD % (unsigned long)f.ncases);
		ck_assert_msg(f.per_case[i] == want, "%s/%s: %lu delivered, %lu sent", f.cases[i].expected,
		              f.cases[i].name, f.per_case[i], want);
		bytes += want * f.cases[i].len;
	}
	ck_assert_uint_eq(st.bytes_in, bytes);
	ck_assert_uint_ge(st.wakeups_bounded, 1);
	ck_assert_uint_ge(st.wakeups, FLOOD / EVUDP6_TRANSPORT_DEFAULT_MAX_PER_WAKEUP);
	LIVE(&mon);
	ck_assert_uint_ge(mon.fires, 1);
	ck_assert_int_gt(f.rss_base, 0);
	ck_assert_msg(rss_end - f.rss_base <= FLOOD_RSS_SLACK_KB, "RSS grew from %ld to %ld kB", f.rss_base,
	              rss_end);
	ck_assert_msg(rss_end - f.rss_mid <= FLOOD_RSS_HALF_KB,
	              "RSS grew from %ld to %ld kB in the second half", f.rss_mid, rss_end);
	printf("malformed flood: %d kinds, %u datagrams, %lu wakeups (%lu bounded), timer late <= %ld us "
	       "(wall %ld us), "
	       "RSS %ld -> %ld -> %ld kB\n",
	       f.ncases, FLOOD, (unsigned long)st.wakeups, (unsigned long)st.wakeups_bounded, mon.max_late_us,
	       mon.max_wall_late_us, f.rss_base, f.rss_mid, rss_end);
	evudp6_transport_free(t);
	event_base_free(base);
}
END_TEST

/* ----------------------------------------------------------- oversized */

#define BIG_MAX 512

struct sized {
	unsigned long delivered[4]; /* lengths 1, 511, 512, other */
	unsigned long corrupt;
	int errors;
	size_t quoted_len;
	uint8_t quoted[BIG_MAX];
};

/* Every byte of a test datagram is a function of its length and position,
 * so a datagram cut short or mixed with another is recognised. */
static void fill(uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(len * 7 + i);
}

static void sized_datagram(struct evudp6_transport *t, const uint8_t *data, size_t len,
                           const struct evudp6_addr *remote, void *arg)
{
	(void)t;
	(void)remote;
	struct sized *s = arg;
	static uint8_t want[BIG_MAX];
	fill(want, len <= BIG_MAX ? len : BIG_MAX);
	if (len > BIG_MAX || memcmp(data, want, len) != 0)
		s->corrupt++;
	s->delivered[len == 1 ? 0 : len == 511 ? 1 : len == 512 ? 2 : 3]++;
}

static void sized_error(struct evudp6_transport *t, int err, const struct evudp6_icmp *icmp,
                        const struct evudp6_addr *remote, const uint8_t *quoted, size_t quoted_len, void *arg)
{
	(void)t;
	(void)remote;
	struct sized *s = arg;
	ck_assert_int_eq(err, -ECONNREFUSED);
	ck_assert_ptr_nonnull(icmp);
	s->errors++;
	s->quoted_len = quoted_len;
	if (quoted_len <= sizeof(s->quoted))
		memcpy(s->quoted, quoted, quoted_len);
}

START_TEST(faults_datagrams_longer_than_buffer_dropped_whole)
{
	enum { ROUNDS = 200 };
	static const size_t sizes[] = {1, 512, 513, 4096, 65000, 511};
	struct event_base *base = event_base_new();
	struct sized s = {0};
	struct evudp6_transport *t = NULL;
	struct evudp6_transport_config cfg = {
	    .size = sizeof(cfg), .bind = "[::]:0", .max_datagram = BIG_MAX, .rcvbuf = 8 << 20};
	ck_assert_int_eq(evudp6_transport_new(&t, base, &cfg, sized_datagram, sized_error, &s), 0);
	ck_assert_int_eq(evudp6_transport_start(t), 0);
	uint16_t port = evudp6_transport_port(t);
	int s6 = udp_socket(AF_INET6), s4 = udp_socket(AF_INET);
	static uint8_t buf[65000];

	struct fault_monitor mon;
	fault_monitor_start(&mon, base);
	unsigned long sent = 0;
	for (int r = 0; r < ROUNDS; r++) {
		for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
			fill(buf, sizes[k]);
			/* 65000 bytes is above the IPv4 UDP maximum: IPv6 only. */
			bool v4 = (r & 1) && sizes[k] < 65000;
			send_to(v4 ? s4 : s6, v4 ? AF_INET : AF_INET6, port, buf, sizes[k]);
			sent++;
		}
		struct evudp6_transport_stats st;
		do {
			event_base_loop(base, EVLOOP_NONBLOCK);
			evudp6_transport_stats(t, &st, sizeof(st));
		} while (st.datagrams_in + st.truncated < sent);
	}

	struct evudp6_transport_stats st;
	evudp6_transport_stats(t, &st, sizeof(st));
	ck_assert_uint_eq(st.truncated, 3 * ROUNDS);
	ck_assert_uint_eq(st.datagrams_in, 3 * ROUNDS);
	ck_assert_uint_eq(st.bytes_in, (1 + 512 + 511) * ROUNDS);
	ck_assert_uint_eq(s.delivered[0], ROUNDS);
	ck_assert_uint_eq(s.delivered[1], ROUNDS);
	ck_assert_uint_eq(s.delivered[2], ROUNDS);
	ck_assert_uint_eq(s.delivered[3], 0);
	ck_assert_uint_eq(s.corrupt, 0);
	ck_assert_uint_eq(st.rxq_overflow, 0);

	/* An ICMP error quoting a datagram longer than the buffer: reported,
	 * with as much of the quote as fits. */
	int c = udp_socket(AF_INET6);
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	ck_assert_int_eq(bind(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
	socklen_t sl = sizeof(sa);
	getsockname(c, (struct sockaddr *)&sa, &sl);
	close(c);
	struct evudp6_addr dead;
	ck_assert_int_eq(evudp6_addr_from_literal(&dead, "::1", ntohs(sa.sin6_port), 0), 0);
	fill(buf, 1000);
	ck_assert_int_eq(evudp6_transport_send(t, &dead, buf, 1000), 0);
	RUN_UNTIL(base, s.errors == 1, 5);
	fault_monitor_stop(&mon);
	LIVE(&mon);
	ck_assert_int_eq(s.errors, 1);
	ck_assert_uint_eq(s.quoted_len, BIG_MAX);
	ck_assert_mem_eq(s.quoted, buf, BIG_MAX);
	close(s6);
	close(s4);
	evudp6_transport_free(t);
	event_base_free(base);
}
END_TEST

/* --------------------------------------------------- receive overflow */

struct seq {
	unsigned long next; /* sequence number expected next */
	unsigned long out_of_order;
	unsigned long count;
};

static void seq_datagram(struct evudp6_transport *t, const uint8_t *data, size_t len,
                         const struct evudp6_addr *remote, void *arg)
{
	(void)t;
	(void)remote;
	struct seq *s = arg;
	uint32_t v;
	ck_assert_uint_eq(len, sizeof(v));
	memcpy(&v, data, sizeof(v));
	if (v != s->next)
		s->out_of_order++;
	s->next = v + 1;
	s->count++;
}

START_TEST(faults_receive_queue_overflow_counted_exactly)
{
	enum { BURST = 2000 };
	struct event_base *base = event_base_new();
	struct seq s = {0};
	struct evudp6_transport *t = NULL;
	/* The smallest queue the kernel allows: most of the burst is dropped. */
	struct evudp6_transport_config cfg = {.size = sizeof(cfg), .bind = "[::1]:0", .rcvbuf = 1};
	ck_assert_int_eq(evudp6_transport_new(&t, base, &cfg, seq_datagram, on_error_ignore, &s), 0);
	ck_assert_int_eq(evudp6_transport_start(t), 0);
	uint16_t port = evudp6_transport_port(t);
	int c = udp_socket(AF_INET6);
	for (uint32_t i = 0; i < BURST; i++)
		send_to(c, AF_INET6, port, &i, sizeof(i));
	for (int i = 0; i < 20; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		usleep(1000);
	}

	struct evudp6_transport_stats st;
	evudp6_transport_stats(t, &st, sizeof(st));
	/* The head of the burst arrived, in order; the tail was dropped. */
	ck_assert_uint_gt(s.count, 0);
	ck_assert_uint_lt(s.count, BURST);
	ck_assert_uint_eq(s.out_of_order, 0);
	ck_assert_uint_eq(st.datagrams_in, s.count);
	/* The kernel tells the drop count with a datagram that was queued
	 * after the drops: none was, so it is not known yet, and never
	 * over-counted. */
	ck_assert_uint_le(st.rxq_overflow, BURST - s.count);

	/* The next datagram carries the count: now it is exact. */
	uint32_t last = BURST;
	send_to(c, AF_INET6, port, &last, sizeof(last));
	for (int i = 0; i < 2000 && s.next != BURST + 1; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
	evudp6_transport_stats(t, &st, sizeof(st));
	ck_assert_uint_eq(s.next, BURST + 1);
	ck_assert_uint_eq(st.datagrams_in + st.rxq_overflow, BURST + 1);
	printf("receive overflow: %lu of %d delivered, %lu counted as dropped\n",
	       (unsigned long)st.datagrams_in, BURST + 1, (unsigned long)st.rxq_overflow);
	close(c);
	evudp6_transport_free(t);
	event_base_free(base);
}
END_TEST

/* ------------------------------------------------- local error entries */

struct errs {
	int send_errors; /* callbacks without ICMP details */
	int local;       /* error-queue entries of origin local */
	int other;
	struct evudp6_icmp icmp;
	struct evudp6_addr remote;
};

static void errs_error(struct evudp6_transport *t, int err, const struct evudp6_icmp *icmp,
                       const struct evudp6_addr *remote, const uint8_t *quoted, size_t quoted_len, void *arg)
{
	(void)t;
	(void)quoted;
	(void)quoted_len;
	struct errs *e = arg;
	if (!icmp) {
		e->send_errors++;
		ck_assert_int_eq(err, -EMSGSIZE);
	} else if (icmp->origin == EVUDP6_ORIGIN_LOCAL) {
		e->local++;
		e->icmp = *icmp;
		ck_assert_int_eq(err, -icmp->err);
	} else {
		e->other++;
	}
	e->remote = *remote;
}

static void ignore_datagram(struct evudp6_transport *t, const uint8_t *data, size_t len,
                            const struct evudp6_addr *remote, void *arg)
{
	(void)t, (void)data, (void)len, (void)remote, (void)arg;
}

START_TEST(faults_local_emsgsize_entry_delivered_with_details)
{
	struct event_base *base = event_base_new();
	struct errs e = {0};
	struct evudp6_transport *t = NULL;
	struct evudp6_transport_config cfg = {.size = sizeof(cfg), .bind = "[::1]:0"};
	ck_assert_int_eq(evudp6_transport_new(&t, base, &cfg, ignore_datagram, errs_error, &e), 0);
	ck_assert_int_eq(evudp6_transport_start(t), 0);
	/* Path MTU discovery on: a datagram above the loopback MTU is refused
	 * locally, and the kernel queues a local EMSGSIZE with the MTU. */
	int v = IPV6_PMTUDISC_DO;
	ck_assert_int_eq(setsockopt(evudp6_transport_fd(t), IPPROTO_IPV6, IPV6_MTU_DISCOVER, &v, sizeof(v)),
	                 0);
	/* The kernel reports the route's path MTU, which a cached value (a
	 * Packet Too Big seen for ::1 earlier) may have lowered below the
	 * device's: ask the route, as the kernel will. */
	unsigned int mtu = 0;
	{
		int probe = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		struct sockaddr_in6 lo = {
		    .sin6_family = AF_INET6, .sin6_port = htons(9), .sin6_addr = in6addr_loopback};
		ck_assert_int_eq(connect(probe, (struct sockaddr *)&lo, sizeof(lo)), 0);
		int pmtu = 0;
		socklen_t pl = sizeof(pmtu);
		ck_assert_int_eq(getsockopt(probe, IPPROTO_IPV6, IPV6_MTU, &pmtu, &pl), 0);
		close(probe);
		ck_assert_int_ge(pmtu, 1280);
		mtu = (unsigned int)pmtu;
	}
	struct evudp6_addr to;
	ck_assert_int_eq(evudp6_addr_from_literal(&to, "::1", 9, 0), 0);
	static uint8_t big[65527];
	ck_assert_int_eq(evudp6_transport_send(t, &to, big, sizeof(big)), -EMSGSIZE);

	struct fault_monitor mon;
	fault_monitor_start(&mon, base);
	RUN_UNTIL(base, e.send_errors == 1 && e.local >= 1, 2);
	for (int i = 0; i < 5; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);

	struct evudp6_transport_stats st;
	evudp6_transport_stats(t, &st, sizeof(st));
	ck_assert_int_eq(e.send_errors, 1);
	ck_assert_uint_eq(st.send_errors, 1);
	ck_assert_int_eq(e.other, 0);
	/* One refused datagram, one local entry with the details. */
	ck_assert_int_eq(e.local, 1);
	ck_assert_uint_eq(st.errqueue, 1);
	ck_assert_int_eq(e.icmp.err, EMSGSIZE);
	ck_assert_uint_eq(e.icmp.origin, EVUDP6_ORIGIN_LOCAL);
	ck_assert_uint_eq(e.icmp.info, mtu);
	ck_assert(!e.icmp.has_offender);
	char text[EVUDP6_ICMP_DESCRIBE_MAX], want[64];
	ck_assert_int_gt(evudp6_icmp_describe(&e.icmp, text, sizeof(text)), 0);
	snprintf(want, sizeof(want), "(mtu %u)", mtu);
	ck_assert_ptr_nonnull(strstr(text, want));
	ck_assert(evudp6_addr_equal(&e.remote, &to));

	/* The socket still works. */
	int c = udp_socket(AF_INET6);
	send_to(c, AF_INET6, evudp6_transport_port(t), "x", 1);
	RUN_UNTIL(base, (evudp6_transport_stats(t, &st, sizeof(st)), st.datagrams_in == 1), 2);
	fault_monitor_stop(&mon);
	ck_assert_uint_eq(st.datagrams_in, 1);
	LIVE(&mon);
	close(c);
	evudp6_transport_free(t);
	event_base_free(base);
}
END_TEST

/* ------------------------------------------------------ refused sends */

struct refused {
	int callbacks;
	int by_errno[ENODEV + EACCES + EINVAL + 1];
};

static const int refused_err[] = {ENODEV, EINVAL, EACCES};
#define NREFUSED 3

static void refused_error(struct evudp6_transport *t, int err, const struct evudp6_icmp *icmp,
                          const struct evudp6_addr *remote, const uint8_t *quoted, size_t quoted_len,
                          void *arg)
{
	(void)t;
	(void)remote;
	struct refused *r = arg;
	ck_assert_ptr_null(icmp);
	ck_assert_uint_eq(quoted_len, 1);
	ck_assert_ptr_nonnull(quoted);
	ck_assert_uint_eq(quoted[0], 'x');
	ck_assert(err == -EINVAL || err == -ENODEV || err == -EACCES);
	r->callbacks++;
	r->by_errno[-err]++;
}

/* Destinations the kernel refuses before anything leaves the host (each
 * is refused while routing or checking the source, never sent). */
static void refused_remotes(struct evudp6_addr to[NREFUSED])
{
	/* an interface that does not exist */
	ck_assert_int_eq(evudp6_addr_from_literal(&to[0], "ff02::fd", 5683, 0), 0);
	evudp6_addr_set_local(&to[0], &in6addr_any, 999999);
	/* a source address this host does not have */
	ck_assert_int_eq(evudp6_addr_from_literal(&to[1], "::1", 9, 0), 0);
	struct in6_addr foreign;
	ck_assert_int_eq(inet_pton(AF_INET6, "2001:db8::77", &foreign), 1);
	evudp6_addr_set_local(&to[1], &foreign, 0);
	/* IPv4 broadcast without SO_BROADCAST: lo's own broadcast address,
	 * which every host routes (255.255.255.255 needs a default route and
	 * is ENETUNREACH without one) */
	ck_assert_int_eq(evudp6_addr_from_literal(&to[2], "127.255.255.255", 5683, 0), 0);
}

START_TEST(faults_refused_sends_return_errno_and_report_bounded)
{
	enum { N = 10000 };
	struct event_base *base = event_base_new();
	struct refused r = {0};
	struct evudp6_transport *t = NULL;
	struct evudp6_transport_config cfg = {.size = sizeof(cfg), .bind = "[::]:0"};
	ck_assert_int_eq(evudp6_transport_new(&t, base, &cfg, ignore_datagram, refused_error, &r), 0);
	ck_assert_int_eq(evudp6_transport_start(t), 0);
	struct evudp6_addr to[NREFUSED];
	refused_remotes(to);

	/* A burst without the loop running: every call returns its errno;
	 * the reports wait in a bounded queue and the excess is counted. */
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(evudp6_transport_send(t, &to[i % NREFUSED], "x", 1),
		                 -refused_err[i % NREFUSED]);
	ck_assert_int_eq(r.callbacks, 0);
	for (int i = 0; i < 5; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	struct evudp6_transport_stats st;
	evudp6_transport_stats(t, &st, sizeof(st));
	ck_assert_uint_eq(st.send_errors, N);
	ck_assert_uint_eq(st.datagrams_out, 0);
	ck_assert_uint_gt(r.callbacks, 0);
	ck_assert_uint_eq((uint64_t)r.callbacks + st.send_errors_dropped, N);
	int queued = r.callbacks;

	/* With the loop running between sends, every error is reported. */
	struct fault_monitor mon;
	fault_monitor_start(&mon, base);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(evudp6_transport_send(t, &to[i % NREFUSED], "x", 1),
		                 -refused_err[i % NREFUSED]);
		if (i % 8 == 7)
			event_base_loop(base, EVLOOP_NONBLOCK);
	}
	for (int i = 0; i < 5; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	fault_monitor_stop(&mon);
	evudp6_transport_stats(t, &st, sizeof(st));
	ck_assert_uint_eq(st.send_errors, 2 * N);
	ck_assert_uint_eq(st.send_errors_dropped, N - (uint64_t)queued);
	ck_assert_int_eq(r.callbacks, queued + N);
	/* The queue kept the first reports of the burst, in order. */
	int want[sizeof(r.by_errno) / sizeof(r.by_errno[0])] = {0};
	for (int i = 0; i < queued; i++)
		want[refused_err[i % NREFUSED]]++;
	for (int i = 0; i < N; i++)
		want[refused_err[i % NREFUSED]]++;
	ck_assert_int_eq(r.by_errno[EINVAL], want[EINVAL]);
	ck_assert_int_eq(r.by_errno[ENODEV], want[ENODEV]);
	ck_assert_int_eq(r.by_errno[EACCES], want[EACCES]);
	LIVE(&mon);
	evudp6_transport_free(t);
	event_base_free(base);
}
END_TEST

/* ----------------------------------------------------- no pktinfo */

struct plain {
	int count;
	int with_local;
};

static void plain_datagram(struct evudp6_transport *t, const uint8_t *data, size_t len,
                           const struct evudp6_addr *remote, void *arg)
{
	(void)t;
	(void)data;
	(void)len;
	struct plain *p = arg;
	p->count++;
	if (remote->has_local)
		p->with_local++;
}

START_TEST(faults_datagram_without_pktinfo_delivered_local_unknown)
{
	struct event_base *base = event_base_new();
	struct plain p = {0};
	struct evudp6_transport *t = NULL;
	struct evudp6_transport_config cfg = {.size = sizeof(cfg), .bind = "[::]:0"};
	ck_assert_int_eq(evudp6_transport_new(&t, base, &cfg, plain_datagram, on_error_ignore, &p), 0);
	ck_assert_int_eq(evudp6_transport_start(t), 0);
	uint16_t port = evudp6_transport_port(t);
	int c6 = udp_socket(AF_INET6), c4 = udp_socket(AF_INET);
	send_to(c6, AF_INET6, port, "a", 1);
	RUN_UNTIL(base, p.count == 1, 2);
	ck_assert_int_eq(p.with_local, 1);

	/* Take the options away behind the transport's back (IPv4 datagrams
	 * carry IP_PKTINFO too): the kernel then sends no pktinfo, as an
	 * exotic stack might. */
	int off = 0;
	ck_assert_int_eq(
	    setsockopt(evudp6_transport_fd(t), IPPROTO_IPV6, IPV6_RECVPKTINFO, &off, sizeof(off)), 0);
	ck_assert_int_eq(setsockopt(evudp6_transport_fd(t), IPPROTO_IP, IP_PKTINFO, &off, sizeof(off)), 0);
	for (int i = 0; i < 3; i++) {
		send_to(c6, AF_INET6, port, "b", 1);
		send_to(c4, AF_INET, port, "c", 1);
	}
	RUN_UNTIL(base, p.count == 7, 2);

	struct evudp6_transport_stats st;
	evudp6_transport_stats(t, &st, sizeof(st));
	ck_assert_int_eq(p.count, 7);
	ck_assert_int_eq(p.with_local, 1);
	ck_assert_uint_eq(st.no_pktinfo, 6);
	ck_assert_uint_eq(st.datagrams_in, 7);
	close(c6);
	close(c4);
	evudp6_transport_free(t);
	event_base_free(base);
}
END_TEST

/* ------------------------------------------------ messenger: malformed */

/* The loop thread publishes the messenger's progress for the sender. */
struct mflood {
	struct flood f; /* corpus, sender state; received = malformed so far */
	struct evudp6_messenger *m;
	struct event *publish;
};

static void mflood_publish(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct mflood *mf = arg;
	struct evudp6_messenger_stats st;
	evudp6_messenger_stats(mf->m, &st, sizeof(st));
	atomic_store(&mf->f.received, st.malformed);
	if (mf->f.rss_base == 0 && st.malformed >= 1000)
		mf->f.rss_base = fault_rss_kb();
	if (mf->f.rss_mid == 0 && st.malformed >= FLOOD / 2)
		mf->f.rss_mid = fault_rss_kb();
}

/* RFC 7252 4.2 as the raw bytes say it: a CON we can read the header of. */
static bool wants_rst(const struct fault_case *c)
{
	return c->len >= 4 && c->data[0] >> 6 == 1 && ((c->data[0] >> 4) & 3) == EVUDP6_CON;
}

START_TEST(faults_malformed_flood_to_messenger_counted_and_reset)
{
	static struct mflood mf;
	memset(&mf, 0, sizeof(mf));
	struct flood *f = &mf.f;
	f->ncases = fault_corpus_load(testutil_srcdir(), f->cases, FAULT_CORPUS_MAX);
	ck_assert_int_ge(f->ncases, 50);

	struct event_base *base = event_base_new();
	struct evudp6_transport_config tcfg = {.size = sizeof(tcfg), .bind = "[::]:0", .rcvbuf = 8 << 20};
	ck_assert_int_eq(evudp6_messenger_new(&mf.m, base, &tcfg, NULL), 0);
	ck_assert_int_eq(evudp6_messenger_start(mf.m), 0);
	f->port = evudp6_transport_port(evudp6_messenger_transport(mf.m));
	mf.publish = event_new(base, -1, EV_PERSIST, mflood_publish, &mf);
	struct timeval ms = {0, 1000};
	event_add(mf.publish, &ms);

	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, flood_sender, f), 0);
	while (atomic_load(&f->sent) < FLOOD_WINDOW && !atomic_load(&f->stalled))
		usleep(1000);
	struct fault_monitor mon;
	fault_monitor_start(&mon, base);
	RUN_UNTIL(base, atomic_load(&f->received) == FLOOD || atomic_load(&f->stalled), 120);
	fault_monitor_stop(&mon);
	long rss_end = fault_rss_kb();
	pthread_join(th, NULL);
	event_free(mf.publish);

	unsigned long rst = 0;
	for (int i = 0; i < f->ncases; i++)
		if (wants_rst(&f->cases[i]))
			rst += FLOOD / f->ncases + ((unsigned long)i < FLOOD % (unsigned long)f->ncases);
	struct evudp6_messenger_stats st;
	evudp6_messenger_stats(mf.m, &st, sizeof(st));
	struct evudp6_transport_stats ts;
	evudp6_transport_stats(evudp6_messenger_transport(mf.m), &ts, sizeof(ts));
	ck_assert_msg(!atomic_load(&f->stalled), "sender stalled after %lu datagrams", atomic_load(&f->sent));
	ck_assert_uint_eq(ts.datagrams_in, FLOOD);
	ck_assert_uint_eq(ts.rxq_overflow, 0);
	ck_assert_uint_eq(st.malformed, FLOOD);
	ck_assert_uint_eq(st.rst_sent, rst);
	ck_assert_uint_gt(rst, 0);
	ck_assert_uint_lt(rst, FLOOD);
	ck_assert_uint_eq(st.requests_received, 0);
	ck_assert_uint_eq(st.pings, 0);
	ck_assert_uint_eq(st.dedup_entries, 0);
	/* The RSTs went out (or met a full socket buffer, counted). */
	ck_assert_uint_eq(ts.datagrams_out + ts.send_errors, rst);
	LIVE(&mon);
	ck_assert_msg(rss_end - f->rss_base <= FLOOD_RSS_SLACK_KB, "RSS grew from %ld to %ld kB", f->rss_base,
	              rss_end);
	ck_assert_msg(rss_end - f->rss_mid <= FLOOD_RSS_HALF_KB,
	              "RSS grew from %ld to %ld kB in the second half", f->rss_mid, rss_end);
	printf("malformed flood to messenger: %u datagrams, %lu RST, timer late <= %ld us (wall %ld us), RSS "
	       "%ld -> %ld -> "
	       "%ld kB\n",
	       FLOOD, rst, mon.max_late_us, mon.max_wall_late_us, f->rss_base, f->rss_mid, rss_end);
	evudp6_messenger_free(mf.m);
	event_base_free(base);
}
END_TEST

/* -------------------------------------------- messenger: many sources */

#define SOURCES        200
#define SPOOF_REQUESTS 100000
#define SPOOF_CAP      512

struct spoof {
	atomic_ulong handled;
	atomic_ulong sent;
	atomic_bool stalled;
	uint16_t port;
	long rss_base, rss_mid;
	unsigned long max_entries;
	unsigned long respond_failed;
};

static void spoof_handler(struct evudp6_messenger *m, struct evudp6_exchange_handle ex,
                          const struct evudp6_msg *req, const struct evudp6_addr *remote, void *arg)
{
	(void)req;
	(void)remote;
	struct spoof *s = arg;
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, EVUDP6_ACK, EVUDP6_CONTENT, 0);
	evudp6_msg_builder_set_payload(&b, "ok", 2);
	/* Counted, not asserted here: an assertion allocates in Check, and the
	 * memory of this path is what is being measured. */
	if (evudp6_exchange_respond(ex, &b) != 0)
		s->respond_failed++;
	struct evudp6_messenger_stats st;
	evudp6_messenger_stats(m, &st, sizeof(st));
	if (st.dedup_entries > s->max_entries)
		s->max_entries = st.dedup_entries;
	unsigned long n = atomic_fetch_add(&s->handled, 1) + 1;
	if (n == 2 * SPOOF_CAP)
		s->rss_base = fault_rss_kb();
	else if (n == SPOOF_REQUESTS / 2)
		s->rss_mid = fault_rss_kb();
}

/* Requests with fresh message ids from SOURCES addresses of 127.0.0.0/8
 * (all of it is on lo, no privileges needed), one socket each. */
static void *spoof_sender(void *arg)
{
	struct spoof *s = arg;
	int fd[SOURCES];
	for (int i = 0; i < SOURCES; i++) {
		fd[i] = udp_socket(AF_INET);
		struct sockaddr_in sa = {.sin_family = AF_INET,
		                         .sin_addr = {htonl(0x7f000000u + 2u + (unsigned)i)}};
		ck_assert_int_eq(bind(fd[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
		/* The answers are not read: keep their queue small. */
		int small = 1;
		setsockopt(fd[i], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	}
	for (unsigned long i = 0; i < SPOOF_REQUESTS; i++) {
		int waited = 0;
		while (i - atomic_load(&s->handled) >= FLOOD_WINDOW) {
			if (++waited > 100000) {
				atomic_store(&s->stalled, true);
				goto out;
			}
			usleep(100);
		}
		uint16_t mid = (uint16_t)(i / SOURCES);
		uint8_t req[] = {0x40, EVUDP6_GET, (uint8_t)(mid >> 8), (uint8_t)mid, 0xb1, 'x'};
		send_to(fd[i % SOURCES], AF_INET, s->port, req, sizeof(req));
		atomic_store(&s->sent, i + 1);
	}
out:
	for (int i = 0; i < SOURCES; i++)
		close(fd[i]);
	return NULL;
}

START_TEST(faults_many_source_request_flood_keeps_dedup_under_cap)
{
	static struct spoof s;
	memset(&s, 0, sizeof(s));
	struct event_base *base = event_base_new();
	struct evudp6_messenger_config c;
	evudp6_messenger_config_init(&c, sizeof(c));
	c.dedup_cap = SPOOF_CAP;
	struct evudp6_messenger *m = NULL;
	struct evudp6_transport_config tcfg = {.size = sizeof(tcfg), .bind = "[::]:0", .rcvbuf = 8 << 20};
	ck_assert_int_eq(evudp6_messenger_new(&m, base, &tcfg, &c), 0);
	evudp6_messenger_set_request_cb(m, spoof_handler, &s);
	ck_assert_int_eq(evudp6_messenger_start(m), 0);
	s.port = evudp6_transport_port(evudp6_messenger_transport(m));

	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, spoof_sender, &s), 0);
	struct fault_monitor mon;
	fault_monitor_start(&mon, base);
	RUN_UNTIL(base, atomic_load(&s.handled) == SPOOF_REQUESTS || atomic_load(&s.stalled), 120);
	fault_monitor_stop(&mon);
	long rss_end = fault_rss_kb();
	pthread_join(th, NULL);

	struct evudp6_messenger_stats st;
	evudp6_messenger_stats(m, &st, sizeof(st));
	ck_assert_msg(!atomic_load(&s.stalled), "sender stalled after %lu requests", atomic_load(&s.sent));
	/* Every request was new, handled once and answered; the table held
	 * the newest SPOOF_CAP and forgot the rest, oldest first. */
	ck_assert_uint_eq(st.requests_received, SPOOF_REQUESTS);
	ck_assert_uint_eq(s.respond_failed, 0);
	ck_assert_uint_eq(st.responses_sent, SPOOF_REQUESTS);
	ck_assert_uint_eq(st.duplicates, 0);
	ck_assert_uint_eq(st.dedup_full, 0);
	ck_assert_uint_eq(st.dedup_cap, SPOOF_CAP);
	ck_assert_uint_eq(st.dedup_entries, SPOOF_CAP);
	ck_assert_uint_eq(st.dedup_peak, SPOOF_CAP);
	ck_assert_uint_le(s.max_entries, SPOOF_CAP);
	ck_assert_uint_eq(st.dedup_evicted, SPOOF_REQUESTS - SPOOF_CAP);
	LIVE(&mon);
	ck_assert_msg(rss_end - s.rss_base <= FLOOD_RSS_SLACK_KB, "RSS grew from %ld to %ld kB", s.rss_base,
	              rss_end);
	ck_assert_msg(rss_end - s.rss_mid <= FLOOD_RSS_HALF_KB,
	              "RSS grew from %ld to %ld kB in the second half", s.rss_mid, rss_end);
	printf("many-source flood: %d sources, %u requests, dedup %lu/%u, %lu evicted, timer late <= %ld us "
	       "(wall %ld us), "
	       "RSS %ld -> %ld -> %ld kB\n",
	       SOURCES, SPOOF_REQUESTS, (unsigned long)st.dedup_entries, SPOOF_CAP,
	       (unsigned long)st.dedup_evicted, mon.max_late_us, mon.max_wall_late_us, s.rss_base, s.rss_mid,
	       rss_end);
	evudp6_messenger_free(m);
	event_base_free(base);
}
END_TEST

static Suite *faults_suite(void)
{
	Suite *s = suite_create("faults");
	TCase *tc = tcase_create("loopback");
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, faults_malformed_flood_reaches_transport_whole_and_counted);
	tcase_add_test(tc, faults_datagrams_longer_than_buffer_dropped_whole);
	tcase_add_test(tc, faults_receive_queue_overflow_counted_exactly);
	tcase_add_test(tc, faults_local_emsgsize_entry_delivered_with_details);
	tcase_add_test(tc, faults_refused_sends_return_errno_and_report_bounded);
	tcase_add_test(tc, faults_datagram_without_pktinfo_delivered_local_unknown);
	tcase_add_test(tc, faults_malformed_flood_to_messenger_counted_and_reset);
	tcase_add_test(tc, faults_many_source_request_flood_keeps_dedup_under_cap);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(faults_suite());
}
