/*
 * Message layer on real loopback sockets. Where exact bytes matter the
 * peer is a plain UDP socket that sends hand-written datagrams and records
 * what it receives (with the time it arrived).
 */
#include "config.h"

#include "testnet.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include <event2/event.h>

#include <evudp6/messenger.h>

static struct event_base *base;
static bool guard_fired;

/*
 * Count allocations by interposing the allocator (glibc lets a program
 * replace malloc and friends and still reach its own). Not under
 * AddressSanitizer, which interposes them itself.
 */
#if defined(__SANITIZE_ADDRESS__)
#define COUNT_ALLOCS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COUNT_ALLOCS 0
#endif
#endif
#ifndef COUNT_ALLOCS
#define COUNT_ALLOCS 1
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);
static volatile long allocs;
void *malloc(size_t n)
{
	allocs++;
	return __libc_malloc(n);
}
void *calloc(size_t n, size_t size)
{
	allocs++;
	return __libc_calloc(n, size);
}
void *realloc(void *p, size_t n)
{
	allocs++;
	return __libc_realloc(p, n);
}
void free(void *p)
{
	__libc_free(p);
}
#endif

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void guard_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	guard_fired = true;
}

static struct event *guard_start(int ms)
{
	struct event *g = evtimer_new(base, guard_cb, NULL);
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
	guard_fired = false;
	evtimer_add(g, &tv);
	return g;
}

/* Run the loop until @p cond holds or @p ms pass; the value of cond. */
#define RUN_UNTIL(cond, ms)                                                                                  \
	({                                                                                                   \
		struct event *g_ = guard_start(ms);                                                          \
		while (!(cond) && !guard_fired)                                                              \
			event_base_loop(base, EVLOOP_ONCE);                                                  \
		event_free(g_);                                                                              \
		(cond);                                                                                      \
	})

static void run_for(int ms)
{
	RUN_UNTIL(false, ms);
}

static void setup(void)
{
	/* Precise timers: the default coarse clock may fire a tick early,
	 * and the tests measure the retransmission schedule. */
	struct event_config *ec = event_config_new();
	event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER);
	base = event_base_new_with_config(ec);
	event_config_free(ec);
	ck_assert_ptr_nonnull(base);
}

static void teardown(void)
{
	event_base_free(base);
	base = NULL;
}

/* ------------------------------------------------------------ a plain socket as the peer */

#define RAW_MAX 64

struct dgram {
	uint8_t b[2048];
	size_t len;
	struct sockaddr_in6 from;
	double t;  /* when the test read it (CLOCK_MONOTONIC, ms) */
	double kt; /* when the kernel received it (SO_TIMESTAMPNS, ms): for gaps */
};

struct raw {
	int fd;
	uint16_t port;
	struct event *ev;
	int n;
	struct dgram d[RAW_MAX];
};

static void raw_cb(evutil_socket_t fd, short what, void *arg)
{
	struct raw *r = arg;
	(void)what;
	for (;;) {
		struct dgram tmp;
		union {
			struct cmsghdr align;
			uint8_t buf[CMSG_SPACE(sizeof(struct timespec))];
		} ctrl;
		struct iovec iov = {.iov_base = tmp.b, .iov_len = sizeof tmp.b};
		struct msghdr mh = {.msg_name = &tmp.from,
		                    .msg_namelen = sizeof tmp.from,
		                    .msg_iov = &iov,
		                    .msg_iovlen = 1,
		                    .msg_control = ctrl.buf,
		                    .msg_controllen = sizeof ctrl.buf};
		ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT);
		if (n < 0)
			break;
		tmp.len = (size_t)n;
		tmp.t = now_ms();
		/* Reading may lag behind arrival when the machine is busy; the
		 * kernel's stamp does not. */
		tmp.kt = 0;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
				struct timespec ts;
				memcpy(&ts, CMSG_DATA(c), sizeof ts);
				tmp.kt = (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
			}
		if (r->n < RAW_MAX)
			r->d[r->n] = tmp;
		r->n++;
	}
}

/* A dual-stack socket bound to @p addr (IPv6 text, ::ffff:a.b.c.d for IPv4). */
static int dual_socket_at(const char *addr, uint16_t *port)
{
	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	int off = 0;
	ck_assert_int_eq(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off), 0);
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6};
	ck_assert_int_eq(inet_pton(AF_INET6, addr, &sa.sin6_addr), 1);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	socklen_t sl = sizeof sa;
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	if (port)
		*port = ntohs(sa.sin6_port);
	return fd;
}

static int dual_socket(uint16_t *port)
{
	return dual_socket_at("::", port);
}

/* A peer socket bound to @p addr; raw_open() binds to [::]. */
static struct raw *raw_open_at(const char *addr)
{
	struct raw *r = calloc(1, sizeof *r);
	ck_assert_ptr_nonnull(r);
	r->fd = dual_socket_at(addr, &r->port);
	int on = 1;
	ck_assert_int_eq(setsockopt(r->fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on), 0);
	r->ev = event_new(base, r->fd, EV_READ | EV_PERSIST, raw_cb, r);
	event_add(r->ev, NULL);
	return r;
}

static struct raw *raw_open(void)
{
	return raw_open_at("::");
}

static void raw_close(struct raw *r)
{
	event_free(r->ev);
	close(r->fd);
	free(r);
}

static void lo_sockaddr(struct sockaddr_in6 *sa, bool v4, uint16_t port)
{
	memset(sa, 0, sizeof *sa);
	sa->sin6_family = AF_INET6;
	sa->sin6_port = htons(port);
	inet_pton(AF_INET6, v4 ? "::ffff:127.0.0.1" : "::1", &sa->sin6_addr);
}

static void raw_send(struct raw *r, bool v4, uint16_t port, const void *b, size_t len)
{
	struct sockaddr_in6 to;
	lo_sockaddr(&to, v4, port);
	ck_assert_int_eq(sendto(r->fd, b, len, 0, (struct sockaddr *)&to, sizeof to), (ssize_t)len);
}

/* Answer datagram @p i (which came from the messenger) with @p b. */
static void raw_reply(struct raw *r, int i, const void *b, size_t len)
{
	ck_assert_int_eq(sendto(r->fd, b, len, 0, (struct sockaddr *)&r->d[i].from, sizeof r->d[i].from),
	                 (ssize_t)len);
}

static void raw_decode(struct raw *r, int i, struct evudp6_msg *msg)
{
	ck_assert_int_lt(i, r->n);
	ck_assert_int_eq(evudp6_msg_decode(msg, r->d[i].b, r->d[i].len), 0);
}

/* Send to @p addr (IPv6 text, ::ffff:a.b.c.d for IPv4) on interface @p ifindex (0: none). */
static void raw_send_text(struct raw *r, const char *addr, unsigned int ifindex, uint16_t port, const void *b,
                          size_t len)
{
	struct sockaddr_in6 to = {
	    .sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_scope_id = ifindex};
	ck_assert_int_eq(inet_pton(AF_INET6, addr, &to.sin6_addr), 1);
	ck_assert_int_eq(sendto(r->fd, b, len, 0, (struct sockaddr *)&to, sizeof to), (ssize_t)len);
}

static bool from_is(const struct dgram *d, const char *addr)
{
	struct in6_addr a;
	ck_assert_int_eq(inet_pton(AF_INET6, addr, &a), 1);
	return IN6_ARE_ADDR_EQUAL(&d->from.sin6_addr, &a);
}

/* ------------------------------------------------------------ messengers */

static struct evudp6_messenger_config cfg_fast(void)
{
	struct evudp6_messenger_config c;
	evudp6_messenger_config_init(&c, sizeof(c));
	c.ack_timeout_ms = 20;
	c.ack_random_factor = 1.0;
	c.leisure_ms = 0;
	c.response_timeout_ms = 2000;
	c.multicast_wait_ms = 300;
	return c;
}

static struct evudp6_messenger *mk(const struct evudp6_messenger_config *cfg)
{
	struct evudp6_messenger *m;
	struct evudp6_transport_config tc = {.size = sizeof(tc), .bind = "[::]:0"};
	ck_assert_int_eq(evudp6_messenger_new(&m, base, &tc, cfg), 0);
	ck_assert_int_eq(evudp6_messenger_start(m), 0);
	return m;
}

static uint16_t mport(const struct evudp6_messenger *m)
{
	return evudp6_transport_port(evudp6_messenger_transport(m));
}

static struct evudp6_messenger_stats mstats(const struct evudp6_messenger *m)
{
	struct evudp6_messenger_stats s;
	evudp6_messenger_stats(m, &s, sizeof(s));
	return s;
}

static void lo_addr(struct evudp6_addr *a, bool v4, uint16_t port)
{
	ck_assert_int_eq(evudp6_addr_from_literal(a, v4 ? "127.0.0.1" : "::1", port, 0), 0);
}

static void builder_get(struct evudp6_msg_builder *b, uint8_t type, const char *path)
{
	evudp6_msg_builder_init(b, type, EVUDP6_GET, 0);
	if (path)
		ck_assert_int_eq(evudp6_msg_builder_add_opt(b, EVUDP6_OPT_URI_PATH, path, strlen(path)), 0);
}

/* What a response callback saw. */
struct rec {
	int calls;
	int responses;
	int err;
	bool ended;
	uint8_t type, code;
	uint16_t mid;
	char payload[256];
	struct evudp6_addr from[8];
	struct evudp6_addr remote; /* of the last call */
	bool had_icmp;
	struct evudp6_icmp icmp;
	double t;
	bool free_messenger; /* free the messenger from inside the callback */
	bool cancel;         /* cancel the request from inside the callback */
	struct evudp6_messenger *m;
	unsigned int retransmissions; /* evudp6_request_retransmissions() at the last call */
};

static void rec_cb(struct evudp6_request_handle r, int err, const struct evudp6_msg *rsp,
                   const struct evudp6_addr *remote, const struct evudp6_icmp *icmp, void *arg)
{
	struct rec *x = arg;
	x->calls++;
	x->err = err;
	x->t = now_ms();
	x->remote = *remote;
	int rtx = evudp6_request_retransmissions(r);
	ck_assert_int_ge(rtx, 0);
	x->retransmissions = (unsigned int)rtx;
	if (rsp) {
		ck_assert_int_eq(err, 0);
		if (x->responses < 8)
			x->from[x->responses] = *remote;
		x->responses++;
		x->type = rsp->type;
		x->code = rsp->code;
		x->mid = rsp->mid;
		size_t n =
		    rsp->payload_len < sizeof x->payload - 1 ? rsp->payload_len : sizeof x->payload - 1;
		memcpy(x->payload, rsp->payload ? (const char *)rsp->payload : "", n);
		x->payload[n] = 0;
	} else {
		ck_assert_int_ne(err, 0);
		x->ended = true;
	}
	x->had_icmp = icmp != NULL;
	if (icmp)
		x->icmp = *icmp;
	if (x->cancel)
		evudp6_request_cancel(r);
	if (x->free_messenger)
		evudp6_messenger_free(x->m);
}

/* A small server: /hello 2.05, /missing 4.04, /broken 5.00, /slow is
 * held for the test to answer, /quiet gets no response. */
struct srv {
	int calls;
	struct evudp6_exchange_handle held;
	int nheld; /* every /slow exchange, in order */
	struct evudp6_exchange_handle held_all[128];
	struct evudp6_addr remote;
	struct evudp6_addr remotes[4]; /* of the first calls */
	bool mcast;
	bool free_messenger;
};

static void srv_cb(struct evudp6_messenger *m, struct evudp6_exchange_handle ex, const struct evudp6_msg *req,
                   const struct evudp6_addr *remote, void *arg)
{
	struct srv *s = arg;
	if (s->calls < 4)
		s->remotes[s->calls] = *remote;
	s->calls++;
	s->remote = *remote;
	s->mcast = evudp6_exchange_is_multicast(ex);
	ck_assert(evudp6_addr_equal(evudp6_exchange_remote(ex), remote));
	char path[64] = "";
	struct evudp6_opt o;
	if (evudp6_msg_find_opt(req, EVUDP6_OPT_URI_PATH, &o) && o.len < sizeof path) {
		memcpy(path, o.value, o.len);
		path[o.len] = 0;
	}
	if (s->free_messenger) {
		evudp6_messenger_free(m);
		return;
	}
	struct evudp6_msg_builder b;
	if (strcmp(path, "slow") == 0) {
		s->held = ex;
		if (s->nheld < 128)
			s->held_all[s->nheld++] = ex;
		return;
	}
	if (strcmp(path, "quiet") == 0) {
		ck_assert_int_eq(evudp6_exchange_respond(ex, NULL), 0);
		return;
	}
	uint8_t code = strcmp(path, "hello") == 0    ? EVUDP6_CONTENT
	               : strcmp(path, "broken") == 0 ? EVUDP6_INTERNAL_SERVER_ERROR
	                                             : EVUDP6_NOT_FOUND;
	evudp6_msg_builder_init(&b, 0, code, 0);
	if (code == EVUDP6_CONTENT)
		evudp6_msg_builder_set_payload(&b, "hello", 5);
	ck_assert_int_eq(evudp6_exchange_respond(ex, &b), 0);
	ck_assert_int_eq(evudp6_exchange_respond(ex, &b), -EVUDP6_E_STATE);
}

static struct evudp6_messenger *mk_server(const struct evudp6_messenger_config *cfg, struct srv *s)
{
	struct evudp6_messenger *m = mk(cfg);
	evudp6_messenger_set_request_cb(m, srv_cb, s);
	return m;
}

/* What a ping callback saw. */
struct pings {
	int calls;
	struct evudp6_addr remote[4];
	uint64_t rst_sent[4]; /* the messenger's rst_sent during each call */
	uint16_t mid[4];
	bool free_messenger;
};

static void ping_rec_cb(struct evudp6_messenger *m, const struct evudp6_msg *ping,
                        const struct evudp6_addr *remote, void *arg)
{
	struct pings *p = arg;
	ck_assert_uint_eq(ping->type, EVUDP6_CON);
	ck_assert_uint_eq(ping->code, EVUDP6_EMPTY);
	if (p->calls < 4) {
		p->mid[p->calls] = ping->mid;
		p->remote[p->calls] = *remote;
		struct evudp6_messenger_stats st;
		evudp6_messenger_stats(m, &st, sizeof(st));
		p->rst_sent[p->calls] = st.rst_sent;
	}
	p->calls++;
	if (p->free_messenger)
		evudp6_messenger_free(m);
}

/* Hand-written requests. */
static const uint8_t con_get_hello[] = {0x41, 0x01, 0x12, 0x34, 0xab, 0xb5, 'h', 'e', 'l', 'l', 'o'};

/* ------------------------------------------------------------ 1. server basics */

START_TEST(messenger_ping_gets_rst)
{
	struct srv s = {0};
	struct evudp6_messenger_config c = cfg_fast();
	struct evudp6_messenger *m = mk_server(&c, &s);
	struct raw *r = raw_open();
	const uint8_t ping[] = {0x40, 0x00, 0x99, 0x9a};
	const uint8_t rst[] = {0x70, 0x00, 0x99, 0x9a};
	raw_send(r, false, mport(m), ping, sizeof ping);
	raw_send(r, true, mport(m), ping, sizeof ping);
	ck_assert(RUN_UNTIL(r->n == 2, 2000));
	run_for(30);
	ck_assert_int_eq(r->n, 2);
	for (int i = 0; i < 2; i++) {
		ck_assert_uint_eq(r->d[i].len, 4);
		ck_assert_mem_eq(r->d[i].b, rst, 4);
	}
	ck_assert(IN6_IS_ADDR_LOOPBACK(&r->d[0].from.sin6_addr));
	ck_assert(IN6_IS_ADDR_V4MAPPED(&r->d[1].from.sin6_addr));
	struct evudp6_messenger_stats st = mstats(m);
	ck_assert_uint_eq(st.pings, 2);
	ck_assert_uint_eq(st.rst_sent, 2);
	ck_assert_int_eq(s.calls, 0);
	raw_close(r);
	evudp6_messenger_free(m);
}
END_TEST

static void assert_lo_remote(const struct evudp6_addr *a, bool v4, uint16_t port, uint16_t local_port)
{
	struct evudp6_addr want;
	lo_addr(&want, v4, port);
	ck_assert(IN6_ARE_ADDR_EQUAL(&a->remote.sin6_addr, &want.remote.sin6_addr));
	ck_assert_uint_eq(ntohs(a->remote.sin6_port), port);
	ck_assert(a->has_local);
	ck_assert(IN6_ARE_ADDR_EQUAL(&a->local_addr, &want.remote.sin6_addr));
	ck_assert_uint_eq(a->local_port, local_port);
	ck_assert(!evudp6_addr_is_multicast_locally(a));
}

START_TEST(messenger_ping_cb_told_once_per_ping_with_both_addresses)
{
	struct srv s = {0};
	struct pings p = {0};
	struct evudp6_messenger_config c = cfg_fast();
	struct evudp6_messenger *m = mk_server(&c, &s);
	evudp6_messenger_set_ping_cb(m, ping_rec_cb, &p);
	struct raw *r = raw_open();
	const uint8_t ping6[] = {0x40, 0x00, 0x51, 0x01};
	const uint8_t ping4[] = {0x40, 0x00, 0x51, 0x02};
	raw_send(r, false, mport(m), ping6, sizeof ping6);
	ck_assert(RUN_UNTIL(r->n == 1, 2000));
	raw_send(r, true, mport(m), ping4, sizeof ping4);
	ck_assert(RUN_UNTIL(r->n == 2, 2000));
	run_for(30);
	ck_assert_int_eq(p.calls, 2);
	assert_lo_remote(&p.remote[0], false, r->port, mport(m));
	assert_lo_remote(&p.remote[1], true, r->port, mport(m));
	/* Told after the answer: the RST was already counted. */
	ck_assert_uint_eq(p.rst_sent[0], 1);
	ck_assert_uint_eq(p.rst_sent[1], 2);
	ck_assert_uint_eq(p.mid[0], 0x5101);
	ck_assert_uint_eq(p.mid[1], 0x5102);
	const uint8_t rst6[] = {0x70, 0x00, 0x51, 0x01}, rst4[] = {0x70, 0x00, 0x51, 0x02};
	ck_assert_mem_eq(r->d[0].b, rst6, 4);
	ck_assert_mem_eq(r->d[1].b, rst4, 4);
	ck_assert_int_eq(s.calls, 0);
	ck_assert_uint_eq(mstats(m).pings, 2);

	/* Cleared: pings are still answered, nobody is told. */
	evudp6_messenger_set_ping_cb(m, NULL, NULL);
	raw_send(r, false, mport(m), ping6, sizeof ping6);
	ck_assert(RUN_UNTIL(r->n == 3, 2000));
	run_for(30);
	ck_assert_int_eq(p.calls, 2);
	ck_assert_uint_eq(mstats(m).pings, 3);
	raw_close(r);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(messenger_duplicate_ping_answered_and_told_again)
{
	/* Pings are not deduplicated: each copy gets its RST and is reported,
	 * and none takes a dedup entry. */
	struct pings p = {0};
	struct evudp6_messenger_config c = cfg_fast();
	struct evudp6_messenger *m = mk(&c);
	evudp6_messenger_set_ping_cb(m, ping_rec_cb, &p);
	struct raw *r = raw_open();
	const uint8_t ping[] = {0x40, 0x00, 0x77, 0x01};
	const uint8_t rst[] = {0x70, 0x00, 0x77, 0x01};
	raw_send(r, false, mport(m), ping, sizeof ping);
	raw_send(r, false, mport(m), ping, sizeof ping);
	ck_assert(RUN_UNTIL(r->n == 2, 2000));
	run_for(30);
	ck_assert_int_eq(r->n, 2);
	ck_assert_mem_eq(r->d[0].b, rst, 4);
	ck_assert_mem_eq(r->d[1].b, rst, 4);
	ck_assert_int_eq(p.calls, 2);
	ck_assert(evudp6_addr_equal(&p.remote[0], &p.remote[1]));
	ck_assert_uint_eq(p.mid[0], 0x7701);
	ck_assert_uint_eq(p.mid[1], 0x7701);
	struct evudp6_messenger_stats st = mstats(m);
	ck_assert_uint_eq(st.pings, 2);
	ck_assert_uint_eq(st.rst_sent, 2);
	ck_assert_uint_eq(st.duplicates, 0);
	ck_assert_uint_eq(st.dedup_entries, 0);
	raw_close(r);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(messenger_free_inside_ping_cb)
{
	/* Three pings wait in the socket, so they arrive in one receive
	 * batch: the messenger is freed while the transport still holds the
	 * other two, which must then reach nobody. */
	struct pings p = {.free_messenger = true};
	struct evudp6_messenger_config c = cfg_fast();
	struct evudp6_messenger *m = mk(&c);
	evudp6_messenger_set_ping_cb(m, ping_rec_cb, &p);
	struct raw *r = raw_open();
	const uint8_t ping[3][4] = {
	    {0x40, 0x00, 0x78, 0x01}, {0x40, 0x00, 0x78, 0x02}, {0x40, 0x00, 0x78, 0x03}};
	for (int i = 0; i < 3; i++)
		raw_send(r, i == 1, mport(m), ping[i], sizeof ping[i]);
	ck_assert(RUN_UNTIL(p.calls >= 1, 2000));
	run_for(50);
	ck_assert_int_eq(p.calls, 1);
	ck_assert_int_le(r->n, 1);
	raw_close(r);
}
END_TEST

START_TEST(messenger_duplicate_con_gets_identical_response_handler_once)
{
	struct srv s = {0};
	struct evudp6_messenger_config c = cfg_fast();
	struct evudp6_messenger *m = mk_server(&c, &s);
	struct raw *r = raw_open();
	raw_send(r, false, mport(m), con_get_hello, sizeof con_get_hello);
	ck_assert(RUN_UNTIL(r->n == 1, 2000));
	raw_send(r, false, mport(m), con_get_hello, sizeof con_get_hello);
	ck_assert(RUN_UNTIL(r->n == 2, 2000));
	run_for(30);
	ck_assert_int_eq(r->n, 2);
	ck_assert_int_eq(s.calls, 1);
	const uint8_t want[] = {0x61, 0x45, 0x12, 0x34, 0xab, 0xff, 'h', 'e', 'l', 'l', 'o'};
	for (int i = 0; i < 2; i++) {
		ck_assert_uint_eq(r->d[i].len, sizeof want);
		ck_assert_mem_eq(r->d[i].b, want, sizeof want);
	}
	struct evudp6_messenger_stats st = mstats(m);
	ck_assert_uint_eq(st.requests_received, 1);
	ck_assert_uint_eq(st.duplicates, 1);
	ck_assert_uint_eq(st.duplicates_answered, 1);
	ck_assert_uint_eq(st.responses_sent, 1);
	ck_assert_uint_eq(st.dedup_entries, 1);
	raw_close(r);
	evudp6_messenger_free(m);
}
END_TEST

/* The same message id from two ports of one host: two remotes, two
 * requests (the dedup key has the port), each answered to its own port. */
START_TEST(messenger_same_mid_from_two_ports_is_two_requests)
{
	struct srv s = {0};
	struct evudp6_messenger_config c = cfg_fast();
	struct evudp6_messenger *m = mk_server(&c, &s);
	struct raw *r[2] = {raw_open(), raw_open()};
	ck_assert_uint_ne(r[0]->port, r[1]->port);
	for (int i = 0; i < 2; i++)
		raw_send(r[i], false, mport(m), con_get_hello, sizeof con_get_hello);
	ck_assert(RUN_UNTIL(r[0]->n == 1 && r[1]->n == 1, 2000));
	run_for(30);
	/* two requests, two handler calls, two entries, no duplicate */
	struct evudp6_messenger_stats st = mstats(m);
	const struct testutil_count counts[] = {
	    TESTUTIL_COUNT(s.calls, 2),           TESTUTIL_COUNT(st.requests_received, 2),
	    TESTUTIL_COUNT(st.responses_sent, 2), TESTUTIL_COUNT(st.dedup_entries, 2),
	    TESTUTIL_COUNT(st.duplicates, 0),
	};
	testutil_expect_counts(counts, sizeof counts / sizeof counts[0]);
	const uint8_t want[] = {0x61, 0x45, 0x12, 0x34, 0xab, 0xff, 'h', 'e', 'l', 'l', 'o'};
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(r[i]->n, 1);
		ck_assert_mem_eq(r[i]->d[0].b, want, sizeof want);
		raw_close(r[i]);
	}
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(messenger_non_no_response_2_gets_nothing)
{
	struct srv s = {0};
	struct evudp6_messenger_config c = cfg_fast();
	struct evudp6_messenger *m = mk_server(&c, &s);
	struct raw *r = raw_open();
	/* NON GET /hello, No-Response 2 (delta 247 = 13 + 234). */
	const uint8_t non_nores2[] = {0x51, 0x01, 0x20, 0x01, 0xc1, 0xb5, 'h',
	                              'e',  'l',  'l',  'o',  0xd1, 0xea, 0x02};
	raw_send(r, false, mport(m), non_nores2, sizeof non_nores2);
	ck_assert(RUN_UNTIL(s.calls == 1, 2000));
	run_for(50);
	ck_assert_int_eq(r->n, 0);
	ck_assert_uint_eq(mstats(m).responses_suppressed, 1);

	/* No-Response 8 (no 4.xx) lets the 2.05 through. */
	const uint8_t non_nores8[] = {0x51, 0x01, 0x20, 0x02, 0xc2, 0xb5, 'h',
	                              'e',  'l',  'l',  'o',  0xd1, 0xea, 0x08};
	raw_send(r, false, mport(m), non_nores8, sizeof non_nores8);
	ck_assert(RUN_UNTIL(r->n == 1, 2000));
	struct evudp6_msg msg;
	raw_decode(r, 0, &msg);
	ck_assert_uint_eq(msg.type, EVUDP6_NON);
	ck_assert_uint_eq(msg.code, EVUDP6_CONTENT);
	ck_assert_uint_eq(msg.tkl, 1);
	ck_assert_uint_eq(msg.token[0], 0xc2);

	/* No-Response 8 on a request answered 4.04: suppressed. */
	const uint8_t non_missing8[] = {0x51, 0x01, 0x20, 0x03, 0xc3, 0xb7, 'm',  'i',
	                                's',  's',  'i',  'n',  'g',  0xd1, 0xea, 0x08};
	raw_send(r, false, mport(m), non_missing8, sizeof non_missing8);
	ck_assert(RUN_UNTIL(s.calls == 3, 2000));
	run_for(50);
	ck_assert_int_eq(r->n, 1);
	ck_assert_uint_eq(mstats(m).responses_suppressed, 2);
	raw_close(r);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(messenger_con_no_response_still_acknowledged)
{
	struct srv s = {0};
	struct evudp6_messenger_config c = cfg_fast();
	struct evudp6_messenger *m = mk_server(&c, &s);
	struct raw *r = raw_open();
	const uint8_t con_nores2[] = {0x41, 0x01, 0x20, 0x04, 0xc4, 0xb5, 'h',
	                              'e',  'l',  'l',  'o',  0xd1, 0xea, 0x02};
	raw_send(r, false, mport(m), con_nores2, sizeof con_nores2);
	ck_assert(RUN_UNTIL(r->n == 1, 2000));
	const uint8_t ack[] = {0x60, 0x00, 0x20, 0x04};
	ck_assert_uint_eq(r->d[0].len, 4);
	ck_assert_mem_eq(r->d[0].b, ack, 4);
	ck_assert_uint_eq(mstats(m).responses_suppressed, 1);
	raw_close(r);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(messenger_non_request_gets_non_response)
{
	struct srv s = {0};
	struct evudp6_messenger_config c = cfg_fast();
	struct evudp6_messenger *m = mk_server(&c, &s);
	struct raw *r = raw_open();
	const uint8_t non_get[] = {0x51, 0x01, 0x30, 0x01, 0x77, 0xb5, 'h', 'e', 'l', 'l', 'o'};
	raw_send(r, true, mport(m), non_get, sizeof non_get);
	ck_assert(RUN_UNTIL(r->n == 1, 2000));
	struct evudp6_msg msg;
	raw_decode(r, 0, &msg);
	ck_assert_uint_eq(msg.type, EVUDP6_NON);
	ck_assert_uint_eq(msg.code, EVUDP6_CONTENT);
	ck_assert_uint_eq(msg.tkl, 1);
	ck_assert_uint_eq(msg.token[0], 0x77);
	ck_assert_uint_eq(msg.payload_len, 5);
	/* A duplicate NON is not processed again and gets nothing. */
	raw_send(r, true, mport(m), non_get, sizeof non_get);
	run_for(50);
	ck_assert_int_eq(r->n, 1);
	ck_assert_int_eq(s.calls, 1);
	ck_assert_uint_eq(mstats(m).duplicates, 1);
	raw_close(r);
	evudp6_messenger_free(m);
}
END_TEST

/* ------------------------------------------------------------ 2. what gets RST and what gets nothing */

START_TEST(messenger_unsolicited_con_response_gets_rst)
{
	struct evudp6_messenger_config c = cfg_fast();
	struct evudp6_messenger *m = mk(&c);
	struct raw *r = raw_open();
	const uint8_t con_205[] = {0x42, 0x45, 0x42, 0x42, 0x01, 0x02, 0xff, 'x'};
	raw_send(r, false, mport(m), con_205, sizeof con_205);
	ck_assert(RUN_UNTIL(r->n == 1, 2000));
	const uint8_t rst[] = {0x70, 0x00, 0x42, 0x42};
	ck_assert_uint_eq(r->d[0].len, 4);
	ck_assert_mem_eq(r->d[0].b, rst, 4);
	struct evudp6_messenger_stats st = mstats(m);
	ck_assert_uint_eq(st.unmatched, 1);
	ck_assert_uint_eq(st.rst_sent, 1);
	raw_close(r);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(messenger_unsolicited_ack_and_non_response_get_nothing)
{
	struct evudp6_messenger_config c = cfg_fast();
	struct evudp6_messenger *m = mk(&c);
	struct raw *r = raw_open();
	const uint8_t ack_205[] = {0x62, 0x45, 0x42, 0x43, 0x01, 0x02, 0xff, 'x'};
	const uint8_t non_205[] = {0x52, 0x45, 0x42, 0x44, 0x01, 0x02, 0xff, 'x'};
	const uint8_t empty_ack[] = {0x60, 0x00, 0x42, 0x45};
	const uint8_t rst[] = {0x70, 0x00, 0x42, 0x46};
	raw_send(r, false, mport(m), ack_205, sizeof ack_205);
	raw_send(r, false, mport(m), non_205, sizeof non_205);
	raw_send(r, true, mport(m), empty_ack, sizeof empty_ack);
	raw_send(r, true, mport(m), rst, sizeof rst);
	ck_assert(RUN_UNTIL(mstats(m).unmatched == 4, 2000));
	run_for(50);
	ck_assert_int_eq(r->n, 0);
	struct evudp6_messenger_stats st = mstats(m);
	ck_assert_uint_eq(st.unmatched, 4);
	ck_assert_uint_eq(st.rst_sent, 0);
	ck_assert_uint_eq(st.malformed, 0);
	raw_close(r);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(messenger_malformed_con_gets_rst_malformed_non_nothing)
{
	struct srv s = {0};
	struct evudp6_messenger_config c = cfg_fast();
	struct evudp6_messenger *m = mk_server(&c, &s);
	struct raw *r = raw_open();
	/* TKL 9 */
	const uint8_t bad_con[] = {0x49, 0x01, 0x12, 0x34, 1, 2, 3, 4, 5, 6, 7, 8, 9};
	const uint8_t bad_non[] = {0x59, 0x01, 0x12, 0x35, 1, 2, 3, 4, 5, 6, 7, 8, 9};
	/* Option value running past the end. */
	const uint8_t bad_con2[] = {0x40, 0x01, 0x12, 0x36, 0xb5, 'h', 'e'};
	/* An Empty NON means nothing. */
	const uint8_t empty_non[] = {0x50, 0x00, 0x12, 0x37};
	raw_send(r, false, mport(m), bad_con, sizeof bad_con);
	ck_assert(RUN_UNTIL(r->n == 1, 2000));
	raw_send(r, false, mport(m), bad_non, sizeof bad_non);
	raw_send(r, false, mport(m), empty_non, sizeof empty_non);
	raw_send(r, true, mport(m), bad_con2, sizeof bad_con2);
	ck_assert(RUN_UNTIL(r->n == 2, 2000));
	run_for(50);
	ck_assert_int_eq(r->n, 2);
	const uint8_t rst1[] = {0x70, 0x00, 0x12, 0x34};
	const uint8_t rst2[] = {0x70, 0x00, 0x12, 0x36};
	ck_assert_mem_eq(r->d[0].b, rst1, 4);
	ck_assert_mem_eq(r->d[1].b, rst2, 4);
	struct evudp6_messenger_stats st = mstats(m);
	ck_assert_uint_eq(st.malformed, 4);
	ck_assert_uint_eq(st.rst_sent, 2);
	ck_assert_int_eq(s.calls, 0);
	raw_close(r);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(messenger_without_handler_rejects_con_request)
{
	struct evudp6_messenger_config c = cfg_fast();
	struct evudp6_messenger *m = mk(&c);
	struct raw *r = raw_open();
	raw_send(r, false, mport(m), con_get_hello, sizeof con_get_hello);
	ck_assert(RUN_UNTIL(r->n == 1, 2000));
	const uint8_t rst[] = {0x70, 0x00, 0x12, 0x34};
	ck_assert_mem_eq(r->d[0].b, rst, 4);
	raw_close(r);
	evudp6_messenger_free(m);
}
END_TEST

/* ------------------------------------------------------------ 3. client reliability */

/* The @p n copies after the first that @p r received are the same
 * datagram, @p nominal[i] ms after the one before. Each timer runs from
 * when the previous one fired (libevent's cached time), so a copy sent
 * late on a busy host is followed by a shorter gap: the schedule, not
 * each gap, is what must not come early. */
static void assert_copies_on_schedule(const struct raw *r, const double *nominal, int n)
{
	double due = 0;
	for (int i = 1; i <= n; i++) {
		ck_assert_uint_eq(r->d[i].len, r->d[0].len);
		ck_assert_mem_eq(r->d[i].b, r->d[0].b, r->d[0].len);
		due += nominal[i - 1];
		double at = r->d[i].kt - r->d[0].kt, gap = r->d[i].kt - r->d[i - 1].kt;
		ck_assert_msg(at >= due - 3, "copy %d after %.1f ms, due at %.0f", i, at, due);
		ck_assert_msg(gap <= nominal[i - 1] + 30, "gap %d is %.1f ms, want %.0f", i, gap,
		              nominal[i - 1]);
	}
}

START_TEST(messenger_con_retransmits_doubling_then_times_out)
{
	struct evudp6_messenger_config c = cfg_fast();
	c.max_retransmit = 4;
	struct evudp6_messenger *m = mk(&c);
	struct raw *r = raw_open();
	struct evudp6_addr to;
	lo_addr(&to, false, r->port);
	struct evudp6_msg_builder b;
	builder_get(&b, EVUDP6_CON, "hello");
	struct rec x = {0};
	double t0 = now_ms();
	ck_assert_int_eq(evudp6_messenger_request(m, &to, &b, 0, rec_cb, &x, NULL), 0);
	ck_assert(RUN_UNTIL(x.calls == 1, 3000));
	ck_assert_int_eq(x.err, -EVUDP6_E_TIMEOUT);
	ck_assert_int_eq(r->n, 5);
	ck_assert_uint_eq(x.retransmissions, 4);
	/* The same datagram each time, 20, 40, 80, 160 ms apart. */
	const double nominal[4] = {20, 40, 80, 160};
	assert_copies_on_schedule(r, nominal, 4);
	/* Given up 320 ms after the last one: 620 ms in all. */
	double total = x.t - t0;
	ck_assert_msg(total >= 615 && total <= 700, "gave up after %.1f ms, want 620", total);
	struct evudp6_messenger_stats st = mstats(m);
	ck_assert_uint_eq(st.retransmissions, 4);
	ck_assert_uint_eq(st.timeouts, 1);
	ck_assert_uint_eq(st.requests_pending, 0);
	raw_close(r);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(messenger_random_factor_spreads_first_timeout)
{
	/* With factor 2.0 the first timeout lies in [20, 40] ms. */
	struct evudp6_messenger_config c = cfg_fast();
	c.ack_random_factor = 2.0;
	c.max_retransmit = 1;
	c.nstart = 8;
	struct evudp6_messenger *m = mk(&c);
	struct raw *r = raw_open();
	struct evudp6_addr to;
	lo_addr(&to, false, r->port);
	struct rec x[8] = {0};
	for (int i = 0; i < 8; i++) {
		struct evudp6_msg_builder b;
		builder_get(&b, EVUDP6_CON, "hello");
		ck_assert_int_eq(evudp6_messenger_request(m, &to, &b, 0, rec_cb, &x[i], NULL), 0);
	}
	ck_assert(RUN_UNTIL(r->n == 16, 3000));
	int distinct = 0;
	double lo = 1e9, hi = 0;
	for (int i = 0; i < 8; i++) {
		struct evudp6_msg a;
		raw_decode(r, i, &a);
		for (int j = 8; j < 16; j++) {
			struct evudp6_msg bb;
			raw_decode(r, j, &bb);
			if (bb.mid != a.mid)
				continue;
			double gap = r->d[j].kt - r->d[i].kt;
			ck_assert_msg(gap >= 18 && gap <= 65, "first timeout %.1f ms", gap);
			lo = gap < lo ? gap : lo;
			hi = gap > hi ? gap : hi;
			distinct++;
		}
	}
	ck_assert_int_eq(distinct, 8);
	/* Eight draws from [20, 40] all within 2 ms: about 1e-6 by chance. */
	ck_assert_msg(hi - lo > 2, "first timeouts %.1f..%.1f ms: not random", lo, hi);
	ck_assert(RUN_UNTIL(x[7].calls == 1, 3000));
	raw_close(r);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(messenger_separate_response_acked_and_delivered)
{
	struct evudp6_messenger_config c = cfg_fast();
	struct evudp6_messenger *m = mk(&c);
	struct raw *r = raw_open();
	struct evudp6_addr to;
	lo_addr(&to, false, r->port);
	struct evudp6_msg_builder b;
	builder_get(&b, EVUDP6_CON, "slow");
	struct rec x = {0};
	ck_assert_int_eq(evudp6_messenger_request(m, &to, &b, 0, rec_cb, &x, NULL), 0);
	ck_assert(RUN_UNTIL(r->n == 1, 2000));
	struct evudp6_msg req;
	raw_decode(r, 0, &req);
	ck_assert_uint_eq(req.type, EVUDP6_CON);
	ck_assert_uint_eq(req.tkl, 8);
	const uint8_t ack[] = {0x60, 0x00, (uint8_t)(req.mid >> 8), (uint8_t)req.mid};
	raw_reply(r, 0, ack, sizeof ack);
	/* Acknowledged: no retransmission while the response is prepared. */
	run_for(150);
	ck_assert_int_eq(r->n, 1);
	ck_assert_int_eq(x.calls, 0);
	uint8_t rsp[32] = {0x48, 0x45, 0x77, 0x77};
	memcpy(rsp + 4, req.token, 8);
	memcpy(rsp + 12,
	       "\xff"
	       "late",
	       5);
	raw_reply(r, 0, rsp, 17);
	ck_assert(RUN_UNTIL(r->n == 2 && x.calls == 1, 2000));
	const uint8_t ack_rsp[] = {0x60, 0x00, 0x77, 0x77};
	ck_assert_uint_eq(r->d[1].len, 4);
	ck_assert_mem_eq(r->d[1].b, ack_rsp, 4);
	ck_assert_int_eq(x.err, 0);
	ck_assert_uint_eq(x.type, EVUDP6_CON);
	ck_assert_uint_eq(x.code, EVUDP6_CONTENT);
	ck_assert_str_eq(x.payload, "late");
	/* Our ACK was lost: the retransmitted response is acknowledged again,
	 * not reset, and not delivered twice. */
	raw_reply(r, 0, rsp, 17);
	ck_assert(RUN_UNTIL(r->n == 3, 2000));
	ck_assert_mem_eq(r->d[2].b, ack_rsp, 4);
	run_for(30);
	ck_assert_int_eq(x.calls, 1);
	struct evudp6_messenger_stats st = mstats(m);
	ck_assert_uint_eq(st.retransmissions, 0);
	ck_assert_uint_eq(st.duplicates, 1);
	ck_assert_uint_eq(st.rst_sent, 0);
	ck_assert_uint_eq(st.empty_acks_sent, 2);
	raw_close(r);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(messenger_piggybacked_and_non_roundtrip_v6_v4)
{
	struct srv s = {0};
	struct evudp6_messenger_config c = cfg_fast();
	struct evudp6_messenger *srv = mk_server(&c, &s);
	struct evudp6_messenger *cli = mk(&c);
	for (int v4 = 0; v4 < 2; v4++)
		for (int type = EVUDP6_CON; type <= EVUDP6_NON; type++) {
			struct evudp6_addr to;
			lo_addr(&to, v4, mport(srv));
			struct evudp6_msg_builder b;
			builder_get(&b, (uint8_t)type, "hello");
			struct rec x = {0};
			ck_assert_int_eq(evudp6_messenger_request(cli, &to, &b, 0, rec_cb, &x, NULL), 0);
			ck_assert(RUN_UNTIL(x.calls == 1, 2000));
			ck_assert_int_eq(x.err, 0);
			ck_assert_uint_eq(x.type, type == EVUDP6_CON ? EVUDP6_ACK : EVUDP6_NON);
			ck_assert_uint_eq(x.code, EVUDP6_CONTENT);
			ck_assert_str_eq(x.payload, "hello");
			ck_assert(evudp6_addr_equal(&x.from[0], &to));
			ck_assert(x.from[0].has_local);
			ck_assert_int_eq(evudp6_addr_is_v4mapped(&s.remote), v4);
		}
	ck_assert_int_eq(s.calls, 4);
	ck_assert_uint_eq(mstats(cli).requests_pending, 0);
	ck_assert_uint_eq(mstats(cli).requests_sent, 4);
	ck_assert_uint_eq(mstats(srv).responses_sent, 4);
	evudp6_messenger_free(cli);
	evudp6_messenger_free(srv);
}
END_TEST

START_TEST(messenger_slow_handler_empty_ack_then_separate_con)
{
	struct srv s = {0};
	struct evudp6_messenger_config c = cfg_fast();
	c.empty_ack_delay_ms = 30;
	struct evudp6_messenger *m = mk_server(&c, &s);
	struct raw *r = raw_open();
	const uint8_t con_slow[] = {0x41, 0x01, 0x55, 0x01, 0x5a, 0xb4, 's', 'l', 'o', 'w'};
	double t0 = now_ms();
	raw_send(r, false, mport(m), con_slow, sizeof con_slow);
	ck_assert(RUN_UNTIL(r->n == 1, 2000));
	ck_assert_ptr_nonnull(s.held.obj);
	const uint8_t ack[] = {0x60, 0x00, 0x55, 0x01};
	ck_assert_uint_eq(r->d[0].len, 4);
	ck_assert_mem_eq(r->d[0].b, ack, 4);
	double d = r->d[0].t - t0;
	ck_assert_msg(d >= 28 && d <= 80, "empty ACK after %.1f ms, want 30", d);
	/* A duplicate now gets the empty ACK again; the handler does not run. */
	raw_send(r, false, mport(m), con_slow, sizeof con_slow);
	ck_assert(RUN_UNTIL(r->n == 2, 2000));
	ck_assert_mem_eq(r->d[1].b, ack, 4);
	ck_assert_int_eq(s.calls, 1);

	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, 0, EVUDP6_CONTENT, 0);
	evudp6_msg_builder_set_payload(&b, "done", 4);
	ck_assert_int_eq(evudp6_exchange_respond(s.held, &b), 0);
	ck_assert(RUN_UNTIL(r->n == 4, 2000)); /* the response and one retransmission */
	struct evudp6_msg rsp, again;
	raw_decode(r, 2, &rsp);
	raw_decode(r, 3, &again);
	ck_assert_uint_eq(rsp.type, EVUDP6_CON);
	ck_assert_uint_eq(rsp.code, EVUDP6_CONTENT);
	ck_assert_uint_ne(rsp.mid, 0x5501);
	ck_assert_uint_eq(rsp.tkl, 1);
	ck_assert_uint_eq(rsp.token[0], 0x5a);
	ck_assert_uint_eq(r->d[3].len, r->d[2].len);
	ck_assert_mem_eq(r->d[3].b, r->d[2].b, r->d[2].len);
	const uint8_t ack_rsp[] = {0x60, 0x00, (uint8_t)(rsp.mid >> 8), (uint8_t)rsp.mid};
	raw_reply(r, 2, ack_rsp, sizeof ack_rsp);
	run_for(200);
	ck_assert_int_eq(r->n, 4);
	struct evudp6_messenger_stats st = mstats(m);
	ck_assert_uint_eq(st.retransmissions, 1);
	ck_assert_uint_eq(st.empty_acks_sent, 2);
	raw_close(r);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(messenger_separate_response_gives_up_after_max_retransmit)
{
	struct srv s = {0};
	struct evudp6_messenger_config c = cfg_fast();
	c.empty_ack_delay_ms = 0;
	c.max_retransmit = 2;
	struct evudp6_messenger *m = mk_server(&c, &s);
	struct raw *r = raw_open();
	const uint8_t con_slow[] = {0x41, 0x01, 0x55, 0x02, 0x5b, 0xb4, 's', 'l', 'o', 'w'};
	raw_send(r, false, mport(m), con_slow, sizeof con_slow);
	ck_assert(RUN_UNTIL(r->n == 1, 2000)); /* immediate empty ACK */
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, 0, EVUDP6_CONTENT, 0);
	ck_assert_int_eq(evudp6_exchange_respond(s.held, &b), 0);
	run_for(400);
	ck_assert_int_eq(r->n, 4); /* ACK, response, 2 retransmissions */
	struct evudp6_messenger_stats st = mstats(m);
	ck_assert_uint_eq(st.retransmissions, 2);
	ck_assert_uint_eq(st.timeouts, 1);
	raw_close(r);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(messenger_icmp_stops_separate_response)
{
	/* The requester is gone when the separate response leaves: the ICMP
	 * error quotes that response, so it is not retransmitted. */
	struct srv s = {0};
	struct evudp6_messenger_config c = cfg_fast();
	c.empty_ack_delay_ms = 0;
	struct evudp6_messenger *m = mk_server(&c, &s);
	struct raw *r = raw_open();
	const uint8_t con_slow[] = {0x41, 0x01, 0x55, 0x03, 0x5c, 0xb4, 's', 'l', 'o', 'w'};
	raw_send(r, false, mport(m), con_slow, sizeof con_slow);
	ck_assert(RUN_UNTIL(r->n == 1, 2000));
	ck_assert_ptr_nonnull(s.held.obj);
	event_del(r->ev);
	close(r->fd);
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, 0, EVUDP6_CONTENT, 0);
	ck_assert_int_eq(evudp6_exchange_respond(s.held, &b), 0);
	ck_assert(RUN_UNTIL(mstats(m).icmp_errors == 1, 2000));
	run_for(100);
	struct evudp6_messenger_stats st = mstats(m);
	ck_assert_uint_eq(st.icmp_vetted_out, 0);
	ck_assert_uint_eq(st.retransmissions, 0);
	ck_assert_uint_eq(st.icmp_errors, 1);
	event_free(r->ev);
	free(r);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(messenger_rst_fails_request_and_answers_ping)
{
	struct evudp6_messenger_config c = cfg_fast();
	struct evudp6_messenger *m = mk(&c);
	struct raw *r = raw_open();
	struct evudp6_addr to;
	lo_addr(&to, true, r->port);
	struct evudp6_msg_builder b;
	builder_get(&b, EVUDP6_CON, "hello");
	struct rec x = {0}, p = {0};
	ck_assert_int_eq(evudp6_messenger_request(m, &to, &b, 0, rec_cb, &x, NULL), 0);
	ck_assert(RUN_UNTIL(r->n == 1, 2000));
	struct evudp6_msg req;
	raw_decode(r, 0, &req);
	const uint8_t rst[] = {0x70, 0x00, (uint8_t)(req.mid >> 8), (uint8_t)req.mid};
	raw_reply(r, 0, rst, sizeof rst);
	ck_assert(RUN_UNTIL(x.calls == 1, 2000));
	ck_assert_int_eq(x.err, -ECONNRESET);

	/* A ping: Empty CON, no token; the RST is the answer. */
	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_EMPTY, 0);
	ck_assert_int_eq(evudp6_messenger_request(m, &to, &b, 0, rec_cb, &p, NULL), 0);
	ck_assert(RUN_UNTIL(r->n == 2, 2000));
	ck_assert_uint_eq(r->d[1].len, 4);
	ck_assert_uint_eq(r->d[1].b[0], 0x40);
	ck_assert_uint_eq(r->d[1].b[1], 0x00);
	const uint8_t pong[] = {0x70, 0x00, r->d[1].b[2], r->d[1].b[3]};
	raw_reply(r, 1, pong, sizeof pong);
	ck_assert(RUN_UNTIL(p.calls == 1, 2000));
	ck_assert_int_eq(p.err, 0);
	ck_assert_uint_eq(p.type, EVUDP6_RST);
	ck_assert_uint_eq(mstats(m).rst_received, 2);
	raw_close(r);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(messenger_ping_between_messengers)
{
	struct evudp6_messenger_config c = cfg_fast();
	struct evudp6_messenger *a = mk(&c), *bm = mk(&c);
	struct evudp6_addr to;
	lo_addr(&to, false, mport(bm));
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_EMPTY, 0);
	struct rec p = {0};
	ck_assert_int_eq(evudp6_messenger_request(a, &to, &b, 0, rec_cb, &p, NULL), 0);
	ck_assert(RUN_UNTIL(p.calls == 1, 2000));
	ck_assert_int_eq(p.err, 0);
	ck_assert_uint_eq(p.type, EVUDP6_RST);
	ck_assert_uint_eq(mstats(a).retransmissions, 0);
	evudp6_messenger_free(a);
	evudp6_messenger_free(bm);
}
END_TEST

START_TEST(messenger_cancel_stops_retransmission)
{
	struct evudp6_messenger_config c = cfg_fast();
	struct evudp6_messenger *m = mk(&c);
	struct raw *r = raw_open();
	struct evudp6_addr to;
	lo_addr(&to, false, r->port);
	struct evudp6_msg_builder b;
	builder_get(&b, EVUDP6_CON, "hello");
	struct rec x = {0};
	struct evudp6_request_handle req;
	ck_assert_int_eq(evudp6_messenger_request(m, &to, &b, 0, rec_cb, &x, &req), 0);
	ck_assert(evudp6_addr_equal(evudp6_request_remote(req), &to));
	ck_assert(RUN_UNTIL(r->n == 1, 2000));
	ck_assert_int_eq(evudp6_request_cancel(req), 0);
	ck_assert_int_eq(evudp6_request_cancel(req), -EVUDP6_E_STATE);
	ck_assert_ptr_null(evudp6_request_remote(req));
	run_for(150);
	ck_assert_int_eq(r->n, 1);
	ck_assert_int_eq(x.calls, 0);
	ck_assert_uint_eq(mstats(m).requests_pending, 0);
	raw_close(r);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(messenger_nstart_queues_requests_per_remote)
{
	struct evudp6_messenger_config c = cfg_fast();
	c.ack_timeout_ms = 2000;
	c.nstart = 1;
	struct evudp6_messenger *m = mk(&c);
	struct raw *r = raw_open(), *other = raw_open();
	struct evudp6_addr to, to2;
	lo_addr(&to, false, r->port);
	lo_addr(&to2, false, other->port);
	struct rec x[3] = {{0}};
	struct evudp6_msg_builder b;
	for (int i = 0; i < 2; i++) {
		builder_get(&b, EVUDP6_CON, "hello");
		ck_assert_int_eq(evudp6_messenger_request(m, &to, &b, 0, rec_cb, &x[i], NULL), 0);
	}
	builder_get(&b, EVUDP6_CON, "hello");
	ck_assert_int_eq(evudp6_messenger_request(m, &to2, &b, 0, rec_cb, &x[2], NULL), 0);
	/* Another remote is not held up. */
	ck_assert(RUN_UNTIL(r->n == 1 && other->n == 1, 2000));
	run_for(30);
	ck_assert_int_eq(r->n, 1);
	/* Answer the first (piggybacked): the second leaves. */
	struct evudp6_msg req;
	raw_decode(r, 0, &req);
	uint8_t rsp[16] = {0x68, 0x45, (uint8_t)(req.mid >> 8), (uint8_t)req.mid};
	memcpy(rsp + 4, req.token, 8);
	raw_reply(r, 0, rsp, 12);
	ck_assert(RUN_UNTIL(x[0].calls == 1 && r->n == 2, 2000));
	ck_assert_int_eq(x[1].calls, 0);
	raw_decode(r, 1, &req);
	/* An empty ACK ends the interaction for NSTART too. */
	uint8_t ack[4] = {0x60, 0x00, (uint8_t)(req.mid >> 8), (uint8_t)req.mid};
	raw_reply(r, 1, ack, 4);
	builder_get(&b, EVUDP6_CON, "hello");
	struct rec y = {0};
	run_for(20);
	ck_assert_int_eq(evudp6_messenger_request(m, &to, &b, 0, rec_cb, &y, NULL), 0);
	ck_assert(RUN_UNTIL(r->n == 3, 2000));
	ck_assert_uint_eq(mstats(m).requests_pending, 3);
	evudp6_messenger_free(m);
	raw_close(r);
	raw_close(other);
}
END_TEST

START_TEST(messenger_request_rejects_misuse)
{
	struct evudp6_messenger_config c = cfg_fast();
	c.max_requests = 1;
	struct evudp6_messenger *m;
	ck_assert_int_eq(evudp6_messenger_new(&m, base, NULL, &c), 0);
	struct evudp6_addr to, mc4, mc6;
	lo_addr(&to, false, 9);
	ck_assert_int_eq(evudp6_addr_from_literal(&mc4, "224.0.1.187", 5683, 0), 0);
	ck_assert_int_eq(evudp6_addr_from_literal(&mc6, "ff02::fd", 5683, 1), 0);
	struct evudp6_msg_builder b;
	struct rec x = {0};
	builder_get(&b, EVUDP6_CON, "hello");
	ck_assert_int_eq(evudp6_messenger_request(m, &to, &b, 0, rec_cb, &x, NULL), -EVUDP6_E_STATE);
	ck_assert_int_eq(evudp6_messenger_start(m), 0);
	ck_assert_int_eq(evudp6_messenger_start(m), -EVUDP6_E_STATE);
	ck_assert_int_eq(evudp6_messenger_request(m, &mc4, &b, 0, rec_cb, &x, NULL), -EVUDP6_E_MULTICAST_CON);
	ck_assert_int_eq(evudp6_messenger_request(m, &mc6, &b, 0, rec_cb, &x, NULL), -EVUDP6_E_MULTICAST_CON);
	evudp6_msg_builder_init(&b, EVUDP6_ACK, EVUDP6_GET, 0);
	ck_assert_int_eq(evudp6_messenger_request(m, &to, &b, 0, rec_cb, &x, NULL), -EINVAL);
	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_CONTENT, 0);
	ck_assert_int_eq(evudp6_messenger_request(m, &to, &b, 0, rec_cb, &x, NULL), -EINVAL);
	evudp6_msg_builder_init(&b, EVUDP6_NON, EVUDP6_EMPTY, 0);
	ck_assert_int_eq(evudp6_messenger_request(m, &to, &b, 0, rec_cb, &x, NULL), -EINVAL);
	builder_get(&b, EVUDP6_CON, "hello");
	ck_assert_int_eq(evudp6_messenger_request(m, &to, &b, 0, NULL, &x, NULL), -EINVAL);
	/* Larger than max_message. */
	static uint8_t big[EVUDP6_MESSENGER_DEFAULT_MAX_MESSAGE];
	evudp6_msg_builder_set_payload(&b, big, sizeof big);
	ck_assert_int_eq(evudp6_messenger_request(m, &to, &b, 0, rec_cb, &x, NULL), -EVUDP6_E_MSG_NOSPACE);
	builder_get(&b, EVUDP6_CON, "hello");
	ck_assert_int_eq(evudp6_messenger_request(m, &to, &b, 0, rec_cb, &x, NULL), 0);
	builder_get(&b, EVUDP6_CON, "hello");
	ck_assert_int_eq(evudp6_messenger_request(m, &to, &b, 0, rec_cb, &x, NULL), -ENOBUFS);
	ck_assert_int_eq(evudp6_messenger_shutdown(m), 0);
	ck_assert_int_eq(x.calls, 1);
	ck_assert_int_eq(x.err, -EVUDP6_E_SHUTDOWN);
	ck_assert_int_eq(evudp6_messenger_shutdown(m), -EVUDP6_E_SHUTDOWN);
	builder_get(&b, EVUDP6_CON, "hello");
	ck_assert_int_eq(evudp6_messenger_request(m, &to, &b, 0, rec_cb, &x, NULL), -EVUDP6_E_SHUTDOWN);
	ck_assert_int_eq(evudp6_messenger_start(m), -EVUDP6_E_SHUTDOWN);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(messenger_config_rejects_bad_values)
{
	struct evudp6_messenger *m = (void *)1;
	struct evudp6_messenger_config c;
	memset(&c, 0, sizeof c);
	ck_assert_int_eq(evudp6_messenger_new(&m, base, NULL, &c), -EINVAL);
	ck_assert_ptr_null(m);
	evudp6_messenger_config_init(&c, sizeof(c));
	c.ack_random_factor = 0.5;
	ck_assert_int_eq(evudp6_messenger_new(&m, base, NULL, &c), -EINVAL);
	evudp6_messenger_config_init(&c, sizeof(c));
	c.nstart = 0;
	ck_assert_int_eq(evudp6_messenger_new(&m, base, NULL, &c), -EINVAL);
	evudp6_messenger_config_init(&c, sizeof(c));
	c.dedup_cap = 0;
	ck_assert_int_eq(evudp6_messenger_new(&m, base, NULL, &c), -EINVAL);
	evudp6_messenger_config_init(&c, sizeof(c));
	c.max_retransmit = 17;
	ck_assert_int_eq(evudp6_messenger_new(&m, base, NULL, &c), -EINVAL);
	evudp6_messenger_config_init(&c, sizeof(c));
	c.separate_share_percent = 101;
	ck_assert_int_eq(evudp6_messenger_new(&m, base, NULL, &c), -EINVAL);
	evudp6_messenger_config_init(&c, sizeof(c));
	c.max_retransmit = 0;
	c.leisure_ms = 0;
	c.empty_ack_delay_ms = 0;
	c.separate_share_percent = 0;
	c.separate_retransmit_per_s = 0;
	ck_assert_int_eq(evudp6_messenger_new(&m, base, NULL, &c), 0);
	evudp6_messenger_free(m);
	ck_assert_int_eq(evudp6_messenger_new(&m, base, NULL, NULL), 0);
	evudp6_messenger_free(m);
	evudp6_messenger_free(NULL);
}
END_TEST

START_TEST(messenger_free_inside_callbacks)
{
	struct evudp6_messenger_config c = cfg_fast();
	/* From a response callback. */
	struct srv s = {0};
	struct evudp6_messenger *srv = mk_server(&c, &s);
	struct evudp6_messenger *cli = mk(&c);
	struct evudp6_addr to;
	lo_addr(&to, false, mport(srv));
	struct evudp6_msg_builder b;
	builder_get(&b, EVUDP6_CON, "hello");
	struct rec x = {.free_messenger = true, .m = cli};
	ck_assert_int_eq(evudp6_messenger_request(cli, &to, &b, 0, rec_cb, &x, NULL), 0);
	ck_assert(RUN_UNTIL(x.calls == 1, 2000));
	/* From a timeout. */
	c.max_retransmit = 0;
	cli = mk(&c);
	struct raw *r = raw_open();
	lo_addr(&to, false, r->port);
	struct rec y = {.free_messenger = true, .m = cli};
	builder_get(&b, EVUDP6_CON, "hello");
	ck_assert_int_eq(evudp6_messenger_request(cli, &to, &b, 0, rec_cb, &y, NULL), 0);
	ck_assert(RUN_UNTIL(y.calls == 1, 3000));
	ck_assert_int_eq(y.err, -EVUDP6_E_TIMEOUT);
	/* From a request handler. */
	s.free_messenger = true;
	struct raw *r2 = raw_open();
	raw_send(r2, false, mport(srv), con_get_hello, sizeof con_get_hello);
	ck_assert(RUN_UNTIL(s.calls == 2, 2000));
	run_for(20);
	ck_assert_int_eq(r2->n, 0);
	raw_close(r);
	raw_close(r2);
}
END_TEST

/* ------------------------------------------------------------ 4. ICMP */

static void icmp_refused(bool v4)
{
	struct evudp6_messenger_config c = cfg_fast();
	c.ack_timeout_ms = 1000;
	struct evudp6_messenger *m = mk(&c);
	struct evudp6_addr to;
	lo_addr(&to, v4, testnet_closed_port());
	struct evudp6_msg_builder b;
	builder_get(&b, EVUDP6_CON, "hello");
	struct rec x = {0};
	double t0 = now_ms();
	ck_assert_int_eq(evudp6_messenger_request(m, &to, &b, 0, rec_cb, &x, NULL), 0);
	ck_assert(RUN_UNTIL(x.calls == 1, 2000));
	/* Typically 0.1 ms; the bound leaves room for a busy machine and is
	 * still far below the first retransmission (1 s here). */
	double took = x.t - t0;
	ck_assert_msg(took < 50, "refused after %.2f ms", took);
	ck_assert_int_eq(x.err, -ECONNREFUSED);
	ck_assert(x.had_icmp);
	ck_assert_int_eq(x.icmp.err, ECONNREFUSED);
	ck_assert_uint_eq(x.icmp.origin, v4 ? EVUDP6_ORIGIN_ICMP : EVUDP6_ORIGIN_ICMP6);
	ck_assert_uint_eq(x.icmp.type, v4 ? 3 : 1);
	ck_assert_uint_eq(x.icmp.code, v4 ? 3 : 4);
	ck_assert(evudp6_addr_equal(&x.remote, &to));
	struct evudp6_messenger_stats st = mstats(m);
	ck_assert_uint_eq(st.retransmissions, 0);
	ck_assert_uint_eq(st.icmp_errors, 1);
	ck_assert_uint_eq(st.exchanges_failed, 1);
	ck_assert_uint_eq(st.icmp_vetted_out, 0);
	struct evudp6_transport_stats ts;
	evudp6_transport_stats(evudp6_messenger_transport(m), &ts, sizeof(ts));
	ck_assert_uint_eq(ts.datagrams_out, 1);
	evudp6_messenger_free(m);
}

START_TEST(messenger_icmp_refused_fails_at_once_v6)
{
	icmp_refused(false);
}
END_TEST

START_TEST(messenger_icmp_refused_fails_at_once_v4)
{
	icmp_refused(true);
}
END_TEST

START_TEST(messenger_icmp_fails_every_exchange_to_that_remote_only)
{
	struct evudp6_messenger_config c = cfg_fast();
	c.nstart = 2;
	c.ack_timeout_ms = 1000;
	struct evudp6_messenger *m = mk(&c);
	struct raw *other = raw_open();
	struct evudp6_addr dead, alive;
	lo_addr(&dead, false, testnet_closed_port());
	lo_addr(&alive, false, other->port);
	struct rec x[4] = {{0}}, y = {0};
	struct evudp6_msg_builder b;
	/* Two sent (NSTART 2), one CON and one NON, plus two queued. */
	for (int i = 0; i < 4; i++) {
		builder_get(&b, i == 1 ? EVUDP6_NON : EVUDP6_CON, "hello");
		ck_assert_int_eq(evudp6_messenger_request(m, &dead, &b, 0, rec_cb, &x[i], NULL), 0);
	}
	builder_get(&b, EVUDP6_CON, "hello");
	ck_assert_int_eq(evudp6_messenger_request(m, &alive, &b, 0, rec_cb, &y, NULL), 0);
	ck_assert(RUN_UNTIL(x[0].calls + x[1].calls + x[2].calls + x[3].calls == 4, 2000));
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(x[i].calls, 1);
		ck_assert_int_eq(x[i].err, -ECONNREFUSED);
		ck_assert(x[i].had_icmp);
	}
	/* The second datagram's error quotes a request that has already
	 * failed: vetted out. */
	run_for(50);
	ck_assert_int_eq(y.calls, 0);
	ck_assert_int_eq(other->n, 1);
	struct evudp6_messenger_stats st = mstats(m);
	ck_assert_uint_eq(st.exchanges_failed, 4);
	ck_assert_uint_eq(st.icmp_errors, 2);
	ck_assert_uint_eq(st.icmp_vetted_out, 1);
	ck_assert_uint_eq(st.requests_pending, 1);
	ck_assert_uint_eq(st.retransmissions, 0);
	evudp6_messenger_free(m);
	raw_close(other);
}
END_TEST

START_TEST(messenger_icmp_for_unknown_quote_is_vetted_out)
{
	struct evudp6_messenger_config c = cfg_fast();
	c.ack_timeout_ms = 5000;
	struct evudp6_messenger *m = mk(&c);
	struct raw *r = raw_open();
	struct evudp6_addr to;
	lo_addr(&to, false, r->port);
	struct evudp6_msg_builder b;
	builder_get(&b, EVUDP6_CON, "hello");
	struct rec x = {0};
	ck_assert_int_eq(evudp6_messenger_request(m, &to, &b, 0, rec_cb, &x, NULL), 0);
	ck_assert(RUN_UNTIL(r->n == 1, 2000));
	struct evudp6_msg req;
	raw_decode(r, 0, &req);
	/* The remote goes away; then a datagram we did not send as a request
	 * (another message id) draws an ICMP error there. */
	event_del(r->ev);
	close(r->fd);
	uint16_t other_mid = (uint16_t)(req.mid ^ 0x8000);
	const uint8_t stray[] = {0x50, 0x01, (uint8_t)(other_mid >> 8), (uint8_t)other_mid};
	ck_assert_int_eq(evudp6_transport_send(evudp6_messenger_transport(m), &to, stray, sizeof stray), 0);
	/* And a NON response we might have sent, with the request's own id
	 * but no token of ours. */
	const uint8_t stray2[] = {0x51, 0x45, (uint8_t)(req.mid >> 8), (uint8_t)req.mid, 0xee};
	ck_assert_int_eq(evudp6_transport_send(evudp6_messenger_transport(m), &to, stray2, sizeof stray2), 0);
	ck_assert(RUN_UNTIL(mstats(m).icmp_errors == 2, 2000));
	run_for(30);
	struct evudp6_messenger_stats st = mstats(m);
	ck_assert_uint_eq(st.icmp_vetted_out, 2);
	ck_assert_uint_eq(st.exchanges_failed, 0);
	ck_assert_int_eq(x.calls, 0);
	ck_assert_uint_eq(st.requests_pending, 1);
	r->fd = -1;
	event_free(r->ev);
	free(r);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(messenger_send_error_fails_every_exchange_to_remote)
{
	struct evudp6_messenger_config c = cfg_fast();
	c.ack_timeout_ms = 1000;
	c.nstart = 2;
	struct evudp6_messenger *m = mk(&c);
	struct raw *r = raw_open(), *other = raw_open();
	struct evudp6_addr to, to2;
	lo_addr(&to, false, r->port);
	lo_addr(&to2, false, other->port);
	struct evudp6_msg_builder b;
	struct rec x[2] = {{0}}, y = {0};
	for (int i = 0; i < 2; i++) {
		builder_get(&b, EVUDP6_CON, "hello");
		ck_assert_int_eq(evudp6_messenger_request(m, &to, &b, 0, rec_cb, &x[i], NULL), 0);
	}
	builder_get(&b, EVUDP6_CON, "hello");
	ck_assert_int_eq(evudp6_messenger_request(m, &to2, &b, 0, rec_cb, &y, NULL), 0);
	ck_assert(RUN_UNTIL(r->n == 2 && other->n == 1, 2000));
	/* A datagram too big to send (EMSGSIZE) concerns that datagram
	 * alone: it is none of the requests, which fit, so none fails. */
	static uint8_t huge[70000];
	struct evudp6_transport *t = evudp6_messenger_transport(m);
	ck_assert_int_eq(evudp6_transport_send(t, &to, huge, sizeof huge), -EMSGSIZE);
	run_for(20);
	ck_assert_int_eq(x[0].calls + x[1].calls, 0);
	ck_assert_uint_eq(mstats(m).send_errors, 1);
	/* A send to the remote the kernel refuses otherwise (here: from a
	 * source address this host does not have) fails every exchange to
	 * it, reported from the loop. */
	struct evudp6_addr bad = to;
	struct in6_addr foreign;
	ck_assert_int_eq(inet_pton(AF_INET6, "2001:db8::77", &foreign), 1);
	evudp6_addr_set_local(&bad, &foreign, 0);
	int rc = evudp6_transport_send(t, &bad, "x", 1);
	ck_assert_int_eq(rc, -EINVAL);
	ck_assert_int_eq(x[0].calls + x[1].calls, 0);
	ck_assert(RUN_UNTIL(x[0].calls == 1 && x[1].calls == 1, 2000));
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(x[i].err, -EINVAL);
		ck_assert(!x[i].had_icmp);
		ck_assert(evudp6_addr_equal(&x[i].remote, &to));
	}
	run_for(20);
	ck_assert_int_eq(y.calls, 0);
	struct evudp6_messenger_stats st = mstats(m);
	ck_assert_uint_eq(st.send_errors, 2);
	ck_assert_uint_eq(st.exchanges_failed, 2);
	ck_assert_uint_eq(st.requests_pending, 1);

	/* A request whose first send fails is refused at once, callback never called. */
	struct evudp6_addr port0;
	lo_addr(&port0, false, 0);
	struct rec z = {0};
	builder_get(&b, EVUDP6_CON, "hello");
	rc = evudp6_messenger_request(m, &port0, &b, 0, rec_cb, &z, NULL);
	ck_assert_int_lt(rc, 0);
	ck_assert_int_ne(rc, -EAGAIN);
	run_for(20);
	ck_assert_int_eq(z.calls, 0);
	ck_assert_uint_eq(mstats(m).send_errors, 3);
	ck_assert_uint_eq(mstats(m).requests_pending, 1);
	evudp6_messenger_free(m);
	raw_close(r);
	raw_close(other);
}
END_TEST

/* ------------------------------------------------------------ 7. flood */

START_TEST(messenger_flood_keeps_dedup_under_cap)
{
	enum { SOCKS = 64, TOTAL = 100000, CAP = 1000 };
	struct srv s = {0};
	struct evudp6_messenger_config c = cfg_fast();
	c.dedup_cap = CAP;
	struct evudp6_messenger *m = mk_server(&c, &s);
	int fds[SOCKS];
	for (int i = 0; i < SOCKS; i++)
		fds[i] = dual_socket(NULL);
	struct sockaddr_in6 to;
	lo_sockaddr(&to, false, mport(m));
	uint8_t req[] = {0x41, 0x01, 0, 0, 0xab, 0xb5, 'h', 'e', 'l', 'l', 'o'};
	long answered = 0, sent = 0;
	uint64_t peak_seen = 0;
	while (sent < TOTAL) {
		int batch = 0;
		for (int i = 0; i < SOCKS && sent < TOTAL; i++, sent++, batch++) {
			uint16_t mid = (uint16_t)(sent / SOCKS);
			req[2] = (uint8_t)(mid >> 8);
			req[3] = (uint8_t)mid;
			ck_assert_int_eq(
			    sendto(fds[i], req, sizeof req, 0, (struct sockaddr *)&to, sizeof to),
			    (ssize_t)sizeof req);
		}
		long want = answered + batch;
		double deadline = now_ms() + 2000;
		while (answered < want) {
			event_base_loop(base, EVLOOP_NONBLOCK);
			for (int i = 0; i < SOCKS; i++) {
				uint8_t buf[64];
				while (recv(fds[i], buf, sizeof buf, MSG_DONTWAIT) > 0) {
					ck_assert_uint_eq(buf[0], 0x61);
					ck_assert_uint_eq(buf[1], EVUDP6_CONTENT);
					answered++;
				}
			}
			ck_assert_msg(now_ms() < deadline, "stalled at %ld answers of %ld", answered, want);
		}
		struct evudp6_messenger_stats st = mstats(m);
		ck_assert_uint_le(st.dedup_entries, CAP);
		if (st.dedup_peak > peak_seen)
			peak_seen = st.dedup_peak;
	}
	ck_assert_int_eq(answered, TOTAL);
	/* Still serving: a final request from a messenger client. */
	struct evudp6_messenger *cli = mk(&c);
	struct evudp6_addr a;
	lo_addr(&a, false, mport(m));
	struct evudp6_msg_builder b;
	builder_get(&b, EVUDP6_CON, "hello");
	struct rec x = {0};
	ck_assert_int_eq(evudp6_messenger_request(cli, &a, &b, 0, rec_cb, &x, NULL), 0);
	ck_assert(RUN_UNTIL(x.calls == 1, 2000));
	ck_assert_int_eq(x.err, 0);
	ck_assert_str_eq(x.payload, "hello");
	struct evudp6_messenger_stats st = mstats(m);
	ck_assert_uint_eq(st.dedup_cap, CAP);
	ck_assert_uint_eq(st.dedup_entries, CAP);
	ck_assert_uint_eq(st.dedup_peak, CAP);
	ck_assert_uint_eq(st.requests_received, TOTAL + 1);
	ck_assert_uint_eq(st.dedup_evicted, TOTAL + 1 - CAP);
	ck_assert_uint_eq(st.duplicates, 0);
	ck_assert_int_eq(s.calls, TOTAL + 1);
	for (int i = 0; i < SOCKS; i++)
		close(fds[i]);
	evudp6_messenger_free(cli);
	evudp6_messenger_free(m);
}
END_TEST

#if COUNT_ALLOCS
static void quiet_cb(struct evudp6_request_handle r, int err, const struct evudp6_msg *rsp,
                     const struct evudp6_addr *remote, const struct evudp6_icmp *icmp, void *arg)
{
	(void)r;
	(void)rsp;
	(void)remote;
	(void)icmp;
	*(int *)arg = err == 0 ? 1 : -1;
}

/* srv_cb without Check's assertions: 2.05 or 4.04. */
static void quiet_srv_cb(struct evudp6_messenger *m, struct evudp6_exchange_handle ex,
                         const struct evudp6_msg *req, const struct evudp6_addr *remote, void *arg)
{
	struct evudp6_opt o;
	struct evudp6_msg_builder b;
	(void)m;
	(void)remote;
	(*(int *)arg)++;
	bool hello = evudp6_msg_find_opt(req, EVUDP6_OPT_URI_PATH, &o) && o.len == 5 &&
	             memcmp(o.value, "hello", 5) == 0;
	evudp6_msg_builder_init(&b, 0, hello ? EVUDP6_CONTENT : EVUDP6_NOT_FOUND, 0);
	evudp6_msg_builder_set_payload(&b, "hello", hello ? 5 : 0);
	evudp6_exchange_respond(ex, &b);
}

START_TEST(messenger_steady_state_allocates_nothing)
{
	struct evudp6_messenger_config c = cfg_fast();
	c.dedup_cap = 64;
	int calls = 0;
	struct evudp6_messenger *srv = mk(&c);
	evudp6_messenger_set_request_cb(srv, quiet_srv_cb, &calls);
	struct evudp6_messenger *cli = mk(&c);
	struct evudp6_addr to;
	lo_addr(&to, false, mport(srv));
	/* One timer for the whole loop: RUN_UNTIL would make one per round. */
	struct event *g = guard_start(20000);
	/* Check's assertions allocate (they report progress to the parent
	 * process), so the loop only counts; warm up past the dedup cap, so
	 * eviction is on the measured path, and let libevent size its heap. */
	long before = 0;
	int bad = 0;
	for (int i = 0; i < 2200 && !guard_fired; i++) {
		if (i == 200)
			before = allocs;
		struct evudp6_msg_builder b;
		evudp6_msg_builder_init(&b, i % 2 ? EVUDP6_NON : EVUDP6_CON, EVUDP6_GET, 0);
		evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_PATH, i % 3 ? "hello" : "missing",
		                           i % 3 ? 5 : 7);
		int done = 0;
		if (evudp6_messenger_request(cli, &to, &b, 0, quiet_cb, &done, NULL) != 0)
			bad++;
		while (!done && !guard_fired)
			event_base_loop(base, EVLOOP_ONCE);
		if (done != 1)
			bad++;
	}
	long used = allocs - before;
	event_free(g);
	ck_assert(!guard_fired);
	ck_assert_int_eq(bad, 0);
	ck_assert_msg(used == 0, "%ld allocations in 2000 round trips", used);
	ck_assert_int_eq(calls, 2200);
	ck_assert_uint_gt(mstats(srv).dedup_evicted, 2000);
	evudp6_messenger_free(cli);
	evudp6_messenger_free(srv);
}
END_TEST
#endif

/* ------------------------------------------------------------ 5. deduplication per endpoint pair */

START_TEST(messenger_dedup_is_per_local_address)
{
	struct srv s = {0};
	struct evudp6_messenger_config c = cfg_fast();
	struct evudp6_messenger *m = mk_server(&c, &s);
	struct raw *r = raw_open_at("::ffff:127.0.0.1");
	/* One source, one message id, sent to two addresses of this host: two
	 * requests (/a with token a, /b with token b), each answered from the
	 * address it was sent to, with its own token. */
	const uint8_t con_a[] = {0x41, 0x01, 0x70, 0x01, 'a', 0xb1, 'a'};
	const uint8_t con_b[] = {0x41, 0x01, 0x70, 0x01, 'b', 0xb1, 'b'};
	raw_send_text(r, "::ffff:127.0.0.1", 0, mport(m), con_a, sizeof con_a);
	ck_assert(RUN_UNTIL(r->n == 1, 2000));
	raw_send_text(r, "::ffff:127.0.0.2", 0, mport(m), con_b, sizeof con_b);
	ck_assert(RUN_UNTIL(r->n == 2, 2000));
	run_for(30);
	ck_assert_int_eq(r->n, 2);
	ck_assert_int_eq(s.calls, 2);
	/* The same remote both times: only the local address differs. */
	ck_assert(evudp6_addr_equal(&s.remotes[0], &s.remotes[1]));
	ck_assert(!IN6_ARE_ADDR_EQUAL(&s.remotes[0].local_addr, &s.remotes[1].local_addr));
	const char *from[2] = {"::ffff:127.0.0.1", "::ffff:127.0.0.2"};
	for (int i = 0; i < 2; i++) {
		struct evudp6_msg msg;
		raw_decode(r, i, &msg);
		ck_assert_uint_eq(msg.type, EVUDP6_ACK);
		ck_assert_uint_eq(msg.code, EVUDP6_NOT_FOUND);
		ck_assert_uint_eq(msg.mid, 0x7001);
		ck_assert_uint_eq(msg.tkl, 1);
		ck_assert_uint_eq(msg.token[0], i ? 'b' : 'a');
		ck_assert(from_is(&r->d[i], from[i]));
	}
	/* A real duplicate of /b gets /b's answer again, from 127.0.0.2. */
	raw_send_text(r, "::ffff:127.0.0.2", 0, mport(m), con_b, sizeof con_b);
	ck_assert(RUN_UNTIL(r->n == 3, 2000));
	ck_assert_uint_eq(r->d[2].len, r->d[1].len);
	ck_assert_mem_eq(r->d[2].b, r->d[1].b, r->d[1].len);
	ck_assert(from_is(&r->d[2], from[1]));
	struct evudp6_messenger_stats st = mstats(m);
	ck_assert_uint_eq(st.requests_received, 2);
	ck_assert_uint_eq(st.duplicates, 1);
	ck_assert_uint_eq(st.duplicates_answered, 1);
	ck_assert_uint_eq(st.dedup_entries, 2);
	ck_assert_int_eq(s.calls, 2);
	raw_close(r);
	evudp6_messenger_free(m);
}
END_TEST

/* ------------------------------------------------------------ 6. what must not be answered */

START_TEST(messenger_without_handler_ignores_non_request)
{
	struct evudp6_messenger_config c = cfg_fast();
	struct evudp6_messenger *m = mk(&c);
	struct raw *r = raw_open();
	const uint8_t non_get[] = {0x51, 0x01, 0x30, 0x02, 0x78, 0xb5, 'h', 'e', 'l', 'l', 'o'};
	raw_send(r, false, mport(m), non_get, sizeof non_get);
	raw_send(r, true, mport(m), non_get, sizeof non_get);
	ck_assert(RUN_UNTIL(mstats(m).requests_received == 2, 2000));
	run_for(50);
	ck_assert_int_eq(r->n, 0);
	struct evudp6_messenger_stats st = mstats(m);
	ck_assert_uint_eq(st.rst_sent, 0);
	ck_assert_uint_eq(st.responses_sent, 0);
	ck_assert_uint_eq(st.empty_acks_sent, 0);
	raw_close(r);
	evudp6_messenger_free(m);
}
END_TEST

/* ------------------------------------------------------------ 7. a peer that never acknowledges */

/* Answer every held /slow exchange with 2.05 "late". */
static void answer_held(struct srv *s)
{
	for (int i = 0; i < s->nheld; i++) {
		struct evudp6_msg_builder b;
		evudp6_msg_builder_init(&b, 0, EVUDP6_CONTENT, 0);
		evudp6_msg_builder_set_payload(&b, "late", 4);
		ck_assert_int_eq(evudp6_exchange_respond(s->held_all[i], &b), 0);
	}
	s->nheld = 0;
}

/* @p n plain IPv4 sockets on 127.0.0.(first + i), each sending CON GET
 * /slow (message id and token i) to @p port and never acknowledging. */
static void flood_slow(int *fds, int n, int first, uint16_t port)
{
	for (int i = 0; i < n; i++) {
		char a[32];
		snprintf(a, sizeof a, "127.0.0.%d", first + i);
		fds[i] = testnet_socket(AF_INET, a);
		const uint8_t con_slow[] = {0x41, 0x01, 0x7a, (uint8_t)i, (uint8_t)i,
		                            0xb4, 's',  'l',  'o',        'w'};
		testnet_send(fds[i], "127.0.0.1", port, con_slow, sizeof con_slow);
	}
}

/* Datagrams waiting on @p fd. */
static int drain(int fd)
{
	uint8_t buf[2048];
	int n = 0;
	while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) >= 0)
		n++;
	return n;
}

/*
 * cap 64, a handler answering after 200 ms, 64 requesters (one per
 * loopback address) that never acknowledge the separate response; then a
 * legitimate client. @p share is separate_share_percent.
 */
static void unacked_flood_then_client(unsigned int share)
{
	enum { CAP = 64 };
	struct srv s = {0};
	struct evudp6_messenger_config c = cfg_fast();
	c.dedup_cap = CAP;
	c.empty_ack_delay_ms = 100;
	c.ack_timeout_ms = 5000; /* no retransmission within the test */
	c.separate_share_percent = share;
	struct evudp6_messenger *m = mk_server(&c, &s);
	int fds[CAP];
	flood_slow(fds, CAP, 10, mport(m));
	ck_assert(RUN_UNTIL(s.calls == CAP, 2000));
	ck_assert(RUN_UNTIL(mstats(m).empty_acks_sent == CAP, 2000));
	run_for(100);
	answer_held(&s);
	struct evudp6_messenger_stats st = mstats(m);
	ck_assert_uint_eq(st.dedup_entries, CAP);
	ck_assert_uint_eq(st.responses_sent, CAP);
	/* Beyond the share, the oldest stopped retransmitting. */
	unsigned int pinned = CAP * share / 100;
	ck_assert_uint_eq(st.separate_stopped, CAP - pinned);

	/* A legitimate client is still answered. */
	struct evudp6_messenger_config cc = cfg_fast();
	cc.ack_timeout_ms = 1000; /* its first transmission must be the one answered */
	struct evudp6_messenger *cli = mk(&cc);
	struct evudp6_addr to;
	lo_addr(&to, false, mport(m));
	struct evudp6_msg_builder b;
	builder_get(&b, EVUDP6_CON, "hello");
	struct rec x = {0};
	ck_assert_int_eq(evudp6_messenger_request(cli, &to, &b, 0, rec_cb, &x, NULL), 0);
	ck_assert(RUN_UNTIL(x.calls == 1, 2000));
	ck_assert_int_eq(x.err, 0);
	ck_assert_str_eq(x.payload, "hello");
	run_for(20);
	st = mstats(m);
	ck_assert_uint_eq(st.dedup_full, 0);
	ck_assert_uint_eq(st.requests_received, CAP + 1);
	ck_assert_uint_eq(st.dedup_evicted, 1);
	ck_assert_uint_eq(st.dedup_entries, CAP);
	/* With every entry pinned, the oldest separate response made room. */
	ck_assert_uint_eq(st.separate_stopped, pinned == CAP ? 1 : CAP - pinned);
	ck_assert_uint_eq(mstats(cli).retransmissions, 0);
	/* Each requester got its empty ACK and its response once. */
	for (int i = 0; i < CAP; i++) {
		ck_assert_int_eq(drain(fds[i]), 2);
		close(fds[i]);
	}
	evudp6_messenger_free(cli);
	evudp6_messenger_free(m);
}

START_TEST(messenger_unacked_separate_responses_cannot_lock_out_others)
{
	unacked_flood_then_client(EVUDP6_MESSENGER_DEFAULT_SEPARATE_SHARE_PERCENT);
}
END_TEST

START_TEST(messenger_unacked_separate_responses_give_way_when_all_pinned)
{
	unacked_flood_then_client(100);
}
END_TEST

START_TEST(messenger_separate_retransmissions_bounded_per_second)
{
	/* 20 separate responses nobody acknowledges: 80 retransmissions are
	 * due within about 0.6 s. */
	enum { N = 20, RETRANSMIT = 4 };
	struct srv s = {0};
	struct evudp6_messenger_config c = cfg_fast();
	c.empty_ack_delay_ms = 0;
	c.max_retransmit = RETRANSMIT;
	c.separate_retransmit_per_s = 10;
	struct evudp6_messenger *m = mk_server(&c, &s);
	int fds[N];
	flood_slow(fds, N, 100, mport(m));
	ck_assert(RUN_UNTIL(s.calls == N, 2000));
	double t0 = now_ms();
	answer_held(&s);
	ck_assert(RUN_UNTIL(mstats(m).timeouts == N, 5000));
	double elapsed_s = (now_ms() - t0) / 1000.0;
	long received = 0;
	for (int i = 0; i < N; i++) {
		received += drain(fds[i]) - 2; /* past the empty ACK and the response */
		close(fds[i]);
	}
	struct evudp6_messenger_stats st = mstats(m);
	ck_assert_int_eq(received, (long)st.retransmissions);
	ck_assert_uint_eq(st.retransmissions + st.separate_retransmits_throttled, N * RETRANSMIT);
	/* The bucket starts full (one second's worth) and refills at 10/s. */
	ck_assert_uint_ge(st.retransmissions, 10);
	ck_assert_msg(st.retransmissions <= 10 + (uint64_t)(10 * elapsed_s) + 1,
	              "%lu retransmissions in %.2f s", (unsigned long)st.retransmissions, elapsed_s);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(messenger_separate_share_or_budget_zero_means_no_retransmission)
{
	/* Share 0: the separate response leaves once and its entry is free to
	 * go at once. Budget 0: it retransmits on schedule, but nothing leaves. */
	for (int pass = 0; pass < 2; pass++) {
		struct srv s = {0};
		struct evudp6_messenger_config c = cfg_fast();
		c.empty_ack_delay_ms = 0;
		c.max_retransmit = 2;
		if (pass == 0)
			c.separate_share_percent = 0;
		else
			c.separate_retransmit_per_s = 0;
		struct evudp6_messenger *m = mk_server(&c, &s);
		int fd;
		flood_slow(&fd, 1, 200, mport(m));
		ck_assert(RUN_UNTIL(s.calls == 1, 2000));
		answer_held(&s);
		/* The schedule: 20 + 40 ms, then 80 ms to give up. */
		if (pass == 0)
			run_for(200);
		else
			ck_assert(RUN_UNTIL(mstats(m).timeouts == 1, 2000));
		ck_assert_int_eq(drain(fd), 2);
		close(fd);
		struct evudp6_messenger_stats st = mstats(m);
		ck_assert_uint_eq(st.retransmissions, 0);
		ck_assert_uint_eq(st.separate_stopped, pass == 0 ? 1 : 0);
		ck_assert_uint_eq(st.separate_retransmits_throttled, pass == 0 ? 0 : 2);
		ck_assert_uint_eq(st.timeouts, pass == 0 ? 0 : 1);
		evudp6_messenger_free(m);
	}
}
END_TEST

/* ------------------------------------------------------------ 8. stale handles */

START_TEST(messenger_cancel_after_slot_reuse_does_nothing)
{
	struct srv s = {0};
	struct evudp6_messenger_config c = cfg_fast();
	c.ack_timeout_ms = 1000;
	struct evudp6_messenger *srv = mk_server(&c, &s);
	struct evudp6_messenger *cli = mk(&c);
	struct raw *r = raw_open();
	struct evudp6_addr to_srv, to_raw;
	lo_addr(&to_srv, false, mport(srv));
	lo_addr(&to_raw, false, r->port);
	struct evudp6_msg_builder b;
	struct rec x1 = {0}, x2 = {0};
	struct evudp6_request_handle r1, r2;
	builder_get(&b, EVUDP6_CON, "hello");
	ck_assert_int_eq(evudp6_messenger_request(cli, &to_srv, &b, 0, rec_cb, &x1, &r1), 0);
	ck_assert(RUN_UNTIL(x1.calls == 1, 2000));
	/* Request 1 has ended; request 2 takes its slot. */
	builder_get(&b, EVUDP6_CON, "hello");
	ck_assert_int_eq(evudp6_messenger_request(cli, &to_raw, &b, 0, rec_cb, &x2, &r2), 0);
	/* Same slot (the pool hands out the last one freed), new generation. */
	ck_assert_ptr_eq(r1.obj, r2.obj);
	ck_assert(RUN_UNTIL(r->n == 1, 2000));
	ck_assert_int_eq(evudp6_request_cancel(r1), -EVUDP6_E_STATE);
	ck_assert_ptr_null(evudp6_request_remote(r1));
	ck_assert_int_eq(evudp6_request_retransmissions(r1), -EVUDP6_E_STATE);
	ck_assert(evudp6_addr_equal(evudp6_request_remote(r2), &to_raw));
	ck_assert_uint_eq(mstats(cli).requests_pending, 1);
	struct evudp6_msg req;
	raw_decode(r, 0, &req);
	uint8_t rsp[16] = {0x68, 0x45, (uint8_t)(req.mid >> 8), (uint8_t)req.mid};
	memcpy(rsp + 4, req.token, 8);
	raw_reply(r, 0, rsp, 12);
	ck_assert(RUN_UNTIL(x2.calls == 1, 2000));
	ck_assert_int_eq(x2.err, 0);
	ck_assert_int_eq(x1.calls, 1);
	ck_assert_uint_eq(mstats(cli).requests_pending, 0);
	raw_close(r);
	evudp6_messenger_free(cli);
	evudp6_messenger_free(srv);
}
END_TEST

START_TEST(messenger_respond_after_slot_reuse_is_state_error)
{
	struct srv s = {0};
	struct evudp6_messenger_config c = cfg_fast();
	c.dedup_cap = 1;
	c.empty_ack_delay_ms = 1000;
	struct evudp6_messenger *m = mk_server(&c, &s);
	struct raw *r = raw_open();
	const uint8_t slow1[] = {0x41, 0x01, 0x73, 0x01, 0x01, 0xb4, 's', 'l', 'o', 'w'};
	const uint8_t slow2[] = {0x41, 0x01, 0x73, 0x02, 0x02, 0xb4, 's', 'l', 'o', 'w'};
	raw_send(r, false, mport(m), slow1, sizeof slow1);
	ck_assert(RUN_UNTIL(s.calls == 1, 2000));
	struct evudp6_exchange_handle ex1 = s.held;
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, 0, EVUDP6_CONTENT, 0);
	evudp6_msg_builder_set_payload(&b, "one", 3);
	ck_assert_int_eq(evudp6_exchange_respond(ex1, &b), 0);
	ck_assert(RUN_UNTIL(r->n == 1, 2000));
	/* The only entry is answered: the next request reuses it. */
	raw_send(r, false, mport(m), slow2, sizeof slow2);
	ck_assert(RUN_UNTIL(s.calls == 2, 2000));
	struct evudp6_exchange_handle ex2 = s.held;
	ck_assert_ptr_eq(ex1.obj, ex2.obj);
	ck_assert_ptr_null(evudp6_exchange_remote(ex1));
	ck_assert(!evudp6_exchange_is_multicast(ex1));
	ck_assert_ptr_nonnull(evudp6_exchange_remote(ex2));
	evudp6_msg_builder_init(&b, 0, EVUDP6_CONTENT, 0);
	evudp6_msg_builder_set_payload(&b, "one", 3);
	ck_assert_int_eq(evudp6_exchange_respond(ex1, &b), -EVUDP6_E_STATE);
	run_for(30);
	ck_assert_int_eq(r->n, 1);
	evudp6_msg_builder_init(&b, 0, EVUDP6_CONTENT, 0);
	evudp6_msg_builder_set_payload(&b, "two", 3);
	ck_assert_int_eq(evudp6_exchange_respond(ex2, &b), 0);
	ck_assert(RUN_UNTIL(r->n == 2, 2000));
	struct evudp6_msg msg;
	raw_decode(r, 1, &msg);
	ck_assert_uint_eq(msg.type, EVUDP6_ACK);
	ck_assert_uint_eq(msg.mid, 0x7302);
	ck_assert_uint_eq(msg.token[0], 0x02);
	ck_assert_uint_eq(msg.payload_len, 3);
	ck_assert_mem_eq(msg.payload, "two", 3);
	ck_assert_uint_eq(mstats(m).responses_sent, 2);
	raw_close(r);
	evudp6_messenger_free(m);
}
END_TEST

/* ------------------------------------------------------------ multicast on a private loopback */

/*
 * Multicast on lo needs the MULTICAST flag and routes that only a private
 * network namespace may get. Each Check test runs in its own process, so
 * the namespace ends with the test.
 */
/* lo: groups routed there (sending works, nothing is delivered).
 * mv0: a veth whose multicast loops back to local members. */
#define MC_NETNS                                                                                             \
	"echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad && "                                            \
	"ip link set lo up multicast on && ip -6 route add ff00::/8 dev lo table local && "                  \
	"ip link add mv0 type veth peer name mv1 && ip link set mv0 up && ip link set mv1 up && "            \
	"ip -6 addr add 2001:db8::1/64 dev mv0 nodad && ip addr add 192.0.2.1/24 dev mv0 && "                \
	"ip route add 224.0.0.0/4 dev mv0"

static bool private_netns(void)
{
	if (!testnet_private_netns(MC_NETNS))
		return false;
	/* IPv6 takes mv0 into use (its ff00::/8 route) once the kernel's link
	 * watch has seen the carrier, which a busy host may delay by a second:
	 * a group datagram sent before that would leave through lo. */
	for (int i = 0; i < 300; i++) {
		if (system("ip -6 route show table local dev mv0 | grep -q '^multicast ff00::/8'") == 0)
			return true;
		usleep(10000);
	}
	return false;
}

static void mc_addr(struct evudp6_addr *a, bool v4, uint16_t port, const char *ifname)
{
	unsigned int lo = if_nametoindex(ifname);
	ck_assert_uint_ne(lo, 0);
	if (v4) {
		ck_assert_int_eq(evudp6_addr_from_literal(a, "224.0.1.187", port, 0), 0);
		struct in6_addr any4;
		inet_pton(AF_INET6, "::ffff:0.0.0.0", &any4);
		evudp6_addr_set_local(a, &any4, lo);
	} else {
		ck_assert_int_eq(evudp6_addr_from_literal(a, "ff02::fd", port, lo), 0);
	}
}

START_TEST(messenger_icmp_spares_multicast_request)
{
	ck_assert(private_netns());
	struct evudp6_messenger_config c = cfg_fast();
	c.multicast_wait_ms = 300;
	struct evudp6_messenger *m = mk(&c);
	uint16_t port = testnet_closed_port();
	struct evudp6_addr group, dead;
	mc_addr(&group, false, port, "lo");
	lo_addr(&dead, false, port);
	struct evudp6_msg_builder b;
	struct rec mx = {0}, ux = {0};
	builder_get(&b, EVUDP6_NON, "hello");
	ck_assert_int_eq(evudp6_messenger_request(m, &group, &b, 0, rec_cb, &mx, NULL), 0);
	builder_get(&b, EVUDP6_CON, "hello");
	ck_assert_int_eq(evudp6_messenger_request(m, &dead, &b, 0, rec_cb, &ux, NULL), 0);
	ck_assert(RUN_UNTIL(ux.calls == 1, 2000));
	ck_assert_int_eq(ux.err, -ECONNREFUSED);
	/* A send error for the group itself does not end it either. */
	ck_assert_int_eq(system("ip -6 route del ff00::/8 dev lo table local"), 0);
	const uint8_t stray[] = {0x50, 0x01, 0x00, 0x01};
	ck_assert_int_lt(evudp6_transport_send(evudp6_messenger_transport(m), &group, stray, sizeof stray),
	                 0);
	ck_assert(RUN_UNTIL(mstats(m).send_errors == 1, 2000));
	ck_assert_int_eq(mx.calls, 0);
	ck_assert(RUN_UNTIL(mx.calls == 1, 2000));
	ck_assert_int_eq(mx.err, -EVUDP6_E_TIMEOUT);
	ck_assert_int_eq(mx.responses, 0);
	evudp6_messenger_free(m);
}
END_TEST

static void multicast_server(bool v4)
{
	ck_assert(private_netns());
	struct srv s = {0};
	struct evudp6_messenger_config c = cfg_fast();
	c.leisure_ms = 150;
	struct evudp6_messenger *m = mk_server(&c, &s);
	struct in6_addr group;
	inet_pton(AF_INET6, v4 ? "::ffff:224.0.1.187" : "ff02::fd", &group);
	unsigned int ifindex = if_nametoindex("mv0");
	ck_assert_int_eq(evudp6_transport_join(evudp6_messenger_transport(m), &group, ifindex), 0);
	struct raw *r = raw_open();
	/* The private namespace routes the IPv4 groups to mv0. */
	struct sockaddr_in6 to = {.sin6_family = AF_INET6, .sin6_port = htons(mport(m)), .sin6_addr = group};
	if (!v4)
		to.sin6_scope_id = ifindex;
	const uint8_t non_get[] = {0x51, 0x01, 0x66, 0x01, 0x31, 0xb5, 'h', 'e', 'l', 'l', 'o'};
	const uint8_t non_missing[] = {0x51, 0x01, 0x66, 0x02, 0x32, 0xb7, 'm', 'i', 's', 's', 'i', 'n', 'g'};
	const uint8_t ping[] = {0x40, 0x00, 0x66, 0x03};
	/* No-Response 0: "I want every response", errors included. */
	const uint8_t non_missing_nores0[] = {0x51, 0x01, 0x66, 0x04, 0x34, 0xb7, 'm', 'i',
	                                      's',  's',  'i',  'n',  'g',  0xd0, 0xea};
	/* An unknown CON response sent to the group gets no RST: it is dropped
	 * as every CON sent to a group is. */
	const uint8_t con_205[] = {0x41, 0x45, 0x66, 0x05, 0x35};
	double t0 = now_ms();
	ck_assert_int_eq(sendto(r->fd, non_get, sizeof non_get, 0, (struct sockaddr *)&to, sizeof to),
	                 (ssize_t)sizeof non_get);
	ck_assert(RUN_UNTIL(r->n == 1, 2000));
	double delay = r->d[0].t - t0;
	ck_assert_msg(delay <= 150 + 40, "answered after %.1f ms, leisure 150", delay);
	ck_assert(s.mcast);
	ck_assert(evudp6_addr_is_multicast_locally(&s.remote));
	/* From a unicast address, not from the group. */
	ck_assert(!IN6_IS_ADDR_MULTICAST(&r->d[0].from.sin6_addr));
	if (v4) {
		struct in6_addr unicast;
		inet_pton(AF_INET6, "::ffff:192.0.2.1", &unicast);
		ck_assert(IN6_ARE_ADDR_EQUAL(&r->d[0].from.sin6_addr, &unicast));
	} else {
		/* The requester wrote from its link-local address; so does the answer. */
		ck_assert(IN6_IS_ADDR_LINKLOCAL(&r->d[0].from.sin6_addr));
	}
	struct evudp6_msg msg;
	raw_decode(r, 0, &msg);
	ck_assert_uint_eq(msg.type, EVUDP6_NON);
	ck_assert_uint_eq(msg.code, EVUDP6_CONTENT);

	sendto(r->fd, non_missing, sizeof non_missing, 0, (struct sockaddr *)&to, sizeof to);
	sendto(r->fd, con_205, sizeof con_205, 0, (struct sockaddr *)&to, sizeof to);
	ck_assert(RUN_UNTIL(s.calls == 2, 2000));
	run_for(250);
	ck_assert_int_eq(r->n, 1);
	struct evudp6_messenger_stats st = mstats(m);
	ck_assert_uint_eq(st.responses_suppressed, 1);
	ck_assert_uint_eq(st.unmatched, 0);
	ck_assert_uint_eq(st.multicast_con_dropped, 1);
	ck_assert_uint_eq(st.rst_sent, 0);

	sendto(r->fd, non_missing_nores0, sizeof non_missing_nores0, 0, (struct sockaddr *)&to, sizeof to);
	ck_assert(RUN_UNTIL(r->n == 2, 2000));
	raw_decode(r, 1, &msg);
	ck_assert_uint_eq(msg.code, EVUDP6_NOT_FOUND);

	/* A ping is a CON too: to the group it gets nothing, and the ping
	 * callback is not told. */
	struct pings p = {0};
	evudp6_messenger_set_ping_cb(m, ping_rec_cb, &p);
	sendto(r->fd, ping, sizeof ping, 0, (struct sockaddr *)&to, sizeof to);
	ck_assert(RUN_UNTIL(mstats(m).multicast_con_dropped == 2, 2000));
	run_for(30);
	ck_assert_int_eq(r->n, 2);
	ck_assert_int_eq(p.calls, 0);
	ck_assert_uint_eq(mstats(m).pings, 0);

	/* The leisure really spreads the answers: twelve at once, each within
	 * 150 ms, not all early (all below 40 ms by chance: about 1e-7). */
	double t1 = now_ms();
	for (int i = 0; i < 12; i++) {
		uint8_t q[sizeof non_get];
		memcpy(q, non_get, sizeof q);
		q[3] = (uint8_t)(0x10 + i);
		q[4] = (uint8_t)i;
		sendto(r->fd, q, sizeof q, 0, (struct sockaddr *)&to, sizeof to);
	}
	ck_assert(RUN_UNTIL(r->n == 14, 2000));
	double latest = 0;
	for (int i = 2; i < 14; i++) {
		double d = r->d[i].t - t1;
		ck_assert_msg(d <= 150 + 40, "answered after %.1f ms, leisure 150", d);
		latest = d > latest ? d : latest;
	}
	ck_assert_msg(latest >= 40, "all twelve answered within %.1f ms: no leisure", latest);
	raw_close(r);
	evudp6_messenger_free(m);
}

START_TEST(messenger_multicast_server_v6)
{
	multicast_server(false);
}
END_TEST

START_TEST(messenger_multicast_server_v4)
{
	multicast_server(true);
}
END_TEST

/* A malformed CON (token length 9) that arrived via a group or an IPv4
 * broadcast gets no RST (RFC 7252 8.1 / 4.2): counted, nothing sent, not
 * even a failing RST from the group or broadcast address. A unicast ping
 * afterwards still gets its RST: the only datagram that comes back. */
START_TEST(messenger_malformed_con_via_multicast_or_broadcast_gets_no_rst)
{
	ck_assert(private_netns());
	struct srv s = {0};
	struct evudp6_messenger_config c = cfg_fast();
	struct evudp6_messenger *m = mk_server(&c, &s);
	struct evudp6_transport *t = evudp6_messenger_transport(m);
	unsigned int ifindex = if_nametoindex("mv0");
	struct in6_addr g6, g4;
	inet_pton(AF_INET6, "ff02::fd", &g6);
	inet_pton(AF_INET6, "::ffff:224.0.1.187", &g4);
	ck_assert_int_eq(evudp6_transport_join(t, &g6, ifindex), 0);
	ck_assert_int_eq(evudp6_transport_join(t, &g4, ifindex), 0);
	struct raw *r = raw_open();
	int on = 1;
	ck_assert_int_eq(setsockopt(r->fd, SOL_SOCKET, SO_BROADCAST, &on, sizeof on), 0);
	const uint8_t bad_con[] = {0x49, 0x01, 0x77, 0x01};
	const char *to_text[] = {"ff02::fd", "::ffff:224.0.1.187", "::ffff:192.0.2.255"};
	for (int i = 0; i < 3; i++) {
		struct sockaddr_in6 to = {.sin6_family = AF_INET6, .sin6_port = htons(mport(m))};
		inet_pton(AF_INET6, to_text[i], &to.sin6_addr);
		if (i == 0)
			to.sin6_scope_id = ifindex;
		ck_assert_int_eq(sendto(r->fd, bad_con, sizeof bad_con, 0, (struct sockaddr *)&to, sizeof to),
		                 (ssize_t)sizeof bad_con);
	}
	ck_assert(RUN_UNTIL(mstats(m).malformed == 3, 2000));
	const uint8_t ping[] = {0x40, 0x00, 0x77, 0x02};
	raw_send(r, false, mport(m), ping, sizeof ping);
	ck_assert(RUN_UNTIL(r->n == 1, 2000));
	run_for(50);
	ck_assert_int_eq(r->n, 1);
	const uint8_t rst[] = {0x70, 0x00, 0x77, 0x02};
	ck_assert_uint_eq(r->d[0].len, sizeof rst);
	ck_assert_mem_eq(r->d[0].b, rst, sizeof rst);
	struct evudp6_messenger_stats st = mstats(m);
	struct evudp6_transport_stats ts;
	evudp6_transport_stats(t, &ts, sizeof(ts));
	/* the ping's RST is all that was sent, and nothing failed */
	const struct testutil_count counts[] = {
	    TESTUTIL_COUNT(st.malformed, 3),     TESTUTIL_COUNT(st.rst_sent, 1),
	    TESTUTIL_COUNT(s.calls, 0),          TESTUTIL_COUNT(ts.send_errors, 0),
	    TESTUTIL_COUNT(ts.datagrams_out, 1),
	};
	testutil_expect_counts(counts, sizeof counts / sizeof counts[0]);
	raw_close(r);
	evudp6_messenger_free(m);
}
END_TEST

static void multicast_client(bool v4)
{
	ck_assert(private_netns());
	struct evudp6_messenger_config c = cfg_fast();
	c.leisure_ms = 20;
	struct srv s[3] = {{0}};
	struct evudp6_messenger *srv[3];
	struct evudp6_transport_config tc = {.size = sizeof(tc), .bind = "[::]:5683", .reuseport = true};
	struct in6_addr group;
	inet_pton(AF_INET6, v4 ? "::ffff:224.0.1.187" : "ff02::fd", &group);
	/* Three servers on one port (SO_REUSEPORT): each member of the group
	 * gets its own copy of a multicast datagram. */
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(evudp6_messenger_new(&srv[i], base, &tc, &c), 0);
		evudp6_messenger_set_request_cb(srv[i], srv_cb, &s[i]);
		ck_assert_int_eq(evudp6_messenger_start(srv[i]), 0);
		ck_assert_int_eq(
		    evudp6_transport_join(evudp6_messenger_transport(srv[i]), &group, if_nametoindex("mv0")),
		    0);
	}
	struct evudp6_messenger *cli = mk(&c);
	struct evudp6_addr to;
	mc_addr(&to, v4, 5683, "mv0");
	struct evudp6_msg_builder b;
	builder_get(&b, EVUDP6_NON, "hello");
	struct rec x = {0};
	ck_assert_int_eq(evudp6_messenger_request(cli, &to, &b, 200, rec_cb, &x, NULL), 0);
	ck_assert(RUN_UNTIL(x.ended, 2000));
	ck_assert_int_eq(x.responses, 3);
	ck_assert_int_eq(x.calls, 4);
	ck_assert_int_eq(x.err, -EVUDP6_E_TIMEOUT);
	for (int i = 0; i < 3; i++) {
		ck_assert(!evudp6_addr_is_multicast(&x.from[i]));
		ck_assert_int_eq(s[i].calls, 1);
	}
	ck_assert_uint_eq(mstats(cli).rst_sent, 0);
	/* Cancel after the first response: no more calls. */
	struct rec y = {.cancel = true};
	builder_get(&b, EVUDP6_NON, "hello");
	ck_assert_int_eq(evudp6_messenger_request(cli, &to, &b, 200, rec_cb, &y, NULL), 0);
	run_for(300);
	ck_assert_int_eq(y.calls, 1);
	ck_assert_int_eq(y.responses, 1);
	ck_assert_uint_eq(mstats(cli).requests_pending, 0);
	evudp6_messenger_free(cli);
	for (int i = 0; i < 3; i++)
		evudp6_messenger_free(srv[i]);
}

START_TEST(messenger_multicast_client_collects_every_response_v6)
{
	multicast_client(false);
}
END_TEST

START_TEST(messenger_multicast_client_collects_every_response_v4)
{
	multicast_client(true);
}
END_TEST

START_TEST(messenger_dedup_tells_multicast_from_unicast_arrival)
{
	ck_assert(private_netns());
	struct srv s = {0};
	struct evudp6_messenger_config c = cfg_fast();
	struct evudp6_messenger *m = mk_server(&c, &s);
	struct in6_addr group;
	inet_pton(AF_INET6, "ff02::fd", &group);
	unsigned int ifindex = if_nametoindex("mv0");
	ck_assert_int_eq(evudp6_transport_join(evudp6_messenger_transport(m), &group, ifindex), 0);
	/* One source and message id, once to the group, once to the unicast
	 * address: two requests, each answered. */
	struct raw *r = raw_open_at("2001:db8::1");
	const uint8_t non_get[] = {0x51, 0x01, 0x71, 0x01, 0x71, 0xb5, 'h', 'e', 'l', 'l', 'o'};
	raw_send_text(r, "ff02::fd", ifindex, mport(m), non_get, sizeof non_get);
	ck_assert(RUN_UNTIL(r->n == 1, 2000));
	raw_send_text(r, "2001:db8::1", 0, mport(m), non_get, sizeof non_get);
	ck_assert(RUN_UNTIL(r->n == 2, 2000));
	ck_assert_int_eq(s.calls, 2);
	ck_assert(evudp6_addr_equal(&s.remotes[0], &s.remotes[1]));
	ck_assert(evudp6_addr_is_multicast_locally(&s.remotes[0]));
	ck_assert(!evudp6_addr_is_multicast_locally(&s.remotes[1]));
	for (int i = 0; i < 2; i++) {
		struct evudp6_msg msg;
		raw_decode(r, i, &msg);
		ck_assert_uint_eq(msg.type, EVUDP6_NON);
		ck_assert_uint_eq(msg.code, EVUDP6_CONTENT);
		ck_assert_uint_eq(msg.token[0], 0x71);
		ck_assert(from_is(&r->d[i], "2001:db8::1"));
	}
	struct evudp6_messenger_stats st = mstats(m);
	ck_assert_uint_eq(st.requests_received, 2);
	ck_assert_uint_eq(st.duplicates, 0);
	raw_close(r);
	evudp6_messenger_free(m);
}
END_TEST

static void con_via_multicast(bool v4)
{
	ck_assert(private_netns());
	struct srv s = {0};
	struct evudp6_messenger_config c = cfg_fast();
	struct evudp6_messenger *m = mk_server(&c, &s);
	struct in6_addr group;
	inet_pton(AF_INET6, v4 ? "::ffff:224.0.1.187" : "ff02::fd", &group);
	unsigned int ifindex = if_nametoindex("mv0");
	ck_assert_int_eq(evudp6_transport_join(evudp6_messenger_transport(m), &group, ifindex), 0);
	struct raw *r = raw_open();
	struct sockaddr_in6 to = {.sin6_family = AF_INET6, .sin6_port = htons(mport(m)), .sin6_addr = group};
	if (!v4)
		to.sin6_scope_id = ifindex;
	/* RFC 7252 8.1: multicast is NON only. A 4-byte CON GET (which would
	 * get the whole resource piggybacked), a ping and a CON response. */
	const uint8_t con_get[] = {0x40, 0x01, 0x72, 0x01};
	const uint8_t con_hello[] = {0x41, 0x01, 0x72, 0x02, 0x72, 0xb5, 'h', 'e', 'l', 'l', 'o'};
	const uint8_t ping[] = {0x40, 0x00, 0x72, 0x03};
	const uint8_t con_205[] = {0x41, 0x45, 0x72, 0x04, 0x74};
	const uint8_t *dgrams[] = {con_get, con_hello, ping, con_205};
	const size_t lens[] = {sizeof con_get, sizeof con_hello, sizeof ping, sizeof con_205};
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(sendto(r->fd, dgrams[i], lens[i], 0, (struct sockaddr *)&to, sizeof to),
		                 (ssize_t)lens[i]);
	/* The same NON is answered: the group is served. */
	const uint8_t non_hello[] = {0x51, 0x01, 0x72, 0x05, 0x75, 0xb5, 'h', 'e', 'l', 'l', 'o'};
	ck_assert_int_eq(sendto(r->fd, non_hello, sizeof non_hello, 0, (struct sockaddr *)&to, sizeof to),
	                 (ssize_t)sizeof non_hello);
	ck_assert(RUN_UNTIL(r->n >= 1, 2000));
	run_for(100);
	ck_assert_int_eq(r->n, 1);
	struct evudp6_msg msg;
	raw_decode(r, 0, &msg);
	ck_assert_uint_eq(msg.type, EVUDP6_NON);
	ck_assert_uint_eq(msg.token[0], 0x75);
	ck_assert_int_eq(s.calls, 1);
	struct evudp6_messenger_stats st = mstats(m);
	ck_assert_uint_eq(st.requests_received, 1);
	ck_assert_uint_eq(st.rst_sent, 0);
	ck_assert_uint_eq(st.empty_acks_sent, 0);
	ck_assert_uint_eq(st.pings, 0);
	ck_assert_uint_eq(st.unmatched, 0);
	ck_assert_uint_eq(st.responses_sent, 1);
	ck_assert_uint_eq(st.multicast_con_dropped, 4);
	ck_assert_uint_eq(st.malformed, 0);
	raw_close(r);
	evudp6_messenger_free(m);
}

START_TEST(messenger_con_via_multicast_dropped_and_counted_v6)
{
	con_via_multicast(false);
}
END_TEST

START_TEST(messenger_con_via_multicast_dropped_and_counted_v4)
{
	con_via_multicast(true);
}
END_TEST

/* ------------------------------------------------------------ a transport the caller owns */

/* What the caller's own transport callbacks saw. */
struct own {
	int datagrams;
	uint8_t data[64];
	size_t len;
	int errors;
	int err;
	uint8_t quoted[64];
	size_t quoted_len;
};

static void own_datagram(struct evudp6_transport *t, const uint8_t *data, size_t len,
                         const struct evudp6_addr *remote, void *arg)
{
	(void)t;
	(void)remote;
	struct own *o = arg;
	o->datagrams++;
	o->len = len < sizeof o->data ? len : sizeof o->data;
	memcpy(o->data, data, o->len);
}

static void own_error(struct evudp6_transport *t, int err, const struct evudp6_icmp *icmp,
                      const struct evudp6_addr *remote, const uint8_t *quoted, size_t quoted_len, void *arg)
{
	(void)t;
	(void)icmp;
	(void)remote;
	struct own *o = arg;
	o->errors++;
	o->err = err;
	o->quoted_len = quoted_len < sizeof o->quoted ? quoted_len : sizeof o->quoted;
	if (quoted)
		memcpy(o->quoted, quoted, o->quoted_len);
}

static struct evudp6_transport *own_transport(struct own *o)
{
	struct evudp6_transport *t;
	struct evudp6_transport_config tc = {.size = sizeof(tc), .bind = "[::]:0"};
	ck_assert_int_eq(evudp6_transport_new(&t, base, &tc, own_datagram, own_error, o), 0);
	return t;
}

START_TEST(messenger_on_caller_transport_hands_on_what_is_not_coap)
{
	struct own o = {0};
	struct srv s = {0};
	struct evudp6_transport *t = own_transport(&o);
	struct evudp6_messenger_config c = cfg_fast();
	struct evudp6_messenger *m = NULL;
	ck_assert_int_eq(evudp6_messenger_new_on_transport(&m, t, &c), 0);
	ck_assert_ptr_eq(evudp6_messenger_transport(m), t);
	struct evudp6_messenger *m2 = (struct evudp6_messenger *)&o;
	ck_assert_int_eq(evudp6_messenger_new_on_transport(&m2, t, &c), -EVUDP6_E_STATE);
	ck_assert_ptr_null(m2);
	evudp6_messenger_set_request_cb(m, srv_cb, &s);
	ck_assert_int_eq(evudp6_messenger_start(m), 0); /* starts the transport */
	ck_assert_uint_ne(evudp6_transport_port(t), 0);

	struct raw *r = raw_open();
	raw_send(r, false, mport(m), con_get_hello, sizeof con_get_hello);
	/* A DTLS record header: version bits 0, not CoAP. */
	const uint8_t dtls[] = {0x16, 0xfe, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01};
	raw_send(r, true, mport(m), dtls, sizeof dtls);
	ck_assert(RUN_UNTIL(r->n == 1 && o.datagrams == 1, 2000));
	run_for(30);
	ck_assert_int_eq(s.calls, 1);
	ck_assert_int_eq(r->n, 1); /* the 2.05, and no RST for the DTLS record */
	struct evudp6_msg rsp;
	raw_decode(r, 0, &rsp);
	ck_assert_uint_eq(rsp.code, EVUDP6_CONTENT);
	ck_assert_int_eq(o.datagrams, 1);
	ck_assert_uint_eq(o.len, sizeof dtls);
	ck_assert_mem_eq(o.data, dtls, sizeof dtls);
	struct evudp6_messenger_stats st = mstats(m);
	ck_assert_uint_eq(st.handed_on, 1);
	ck_assert_uint_eq(st.malformed, 0);
	ck_assert_uint_eq(st.requests_received, 1);

	/* Freed, the messenger gives the transport back: a ping is now the
	 * caller's datagram, unanswered. */
	evudp6_messenger_free(m);
	const uint8_t ping[] = {0x40, 0x00, 0x12, 0x35};
	raw_send(r, false, evudp6_transport_port(t), ping, sizeof ping);
	ck_assert(RUN_UNTIL(o.datagrams == 2, 2000));
	run_for(30);
	ck_assert_int_eq(r->n, 1);
	ck_assert_uint_eq(o.len, sizeof ping);
	/* ... and it is the caller's to use, and to free. */
	struct evudp6_addr to;
	lo_addr(&to, false, r->port);
	ck_assert_int_eq(evudp6_transport_send(t, &to, "own", 3), 0);
	ck_assert(RUN_UNTIL(r->n == 2, 2000));
	ck_assert_uint_eq(r->d[1].len, 3);
	raw_close(r);
	evudp6_transport_free(t);
}
END_TEST

START_TEST(messenger_on_caller_transport_hands_on_unclaimed_icmp)
{
	struct own o = {0};
	struct evudp6_transport *t = own_transport(&o);
	ck_assert_int_eq(evudp6_transport_start(t), 0); /* started by the caller */
	struct evudp6_messenger_config c = cfg_fast();
	struct evudp6_messenger *m = NULL;
	ck_assert_int_eq(evudp6_messenger_new_on_transport(&m, t, &c), 0);
	ck_assert_int_eq(evudp6_messenger_start(m), 0);

	/* The caller's own datagram to a dead port: not the messenger's. */
	struct evudp6_addr dead;
	lo_addr(&dead, false, testnet_closed_port());
	ck_assert_int_eq(evudp6_transport_send(t, &dead, "mine", 4), 0);
	ck_assert(RUN_UNTIL(o.errors == 1, 2000));
	ck_assert_int_eq(o.err, -ECONNREFUSED);
	ck_assert_uint_eq(o.quoted_len, 4);
	ck_assert_mem_eq(o.quoted, "mine", 4);
	struct evudp6_messenger_stats st = mstats(m);
	ck_assert_uint_eq(st.icmp_errors, 1);
	ck_assert_uint_eq(st.icmp_vetted_out, 1);

	/* A request of the messenger's to a dead port is the messenger's. */
	struct rec rr = {0};
	struct evudp6_msg_builder b;
	builder_get(&b, EVUDP6_CON, "x");
	ck_assert_int_eq(evudp6_messenger_request(m, &dead, &b, 0, rec_cb, &rr, NULL), 0);
	ck_assert(RUN_UNTIL(rr.ended, 2000));
	ck_assert_int_eq(rr.err, -ECONNREFUSED);
	ck_assert_int_eq(o.errors, 1);

	/* Shut down, the messenger gives the transport back, still running. */
	ck_assert_int_eq(evudp6_messenger_shutdown(m), 0);
	ck_assert_int_ge(evudp6_transport_fd(t), 0);
	ck_assert_int_eq(evudp6_transport_send(t, &dead, "again", 5), 0);
	ck_assert(RUN_UNTIL(o.errors == 2, 2000));
	ck_assert_uint_eq(o.quoted_len, 5);
	evudp6_messenger_free(m);
	evudp6_transport_free(t);
}
END_TEST

START_TEST(messenger_on_transport_rejects_misuse)
{
	struct own o = {0};
	struct evudp6_messenger *m = (struct evudp6_messenger *)&o;
	struct evudp6_messenger_config c = cfg_fast();
	ck_assert_int_eq(evudp6_messenger_new_on_transport(&m, NULL, &c), -EINVAL);
	ck_assert_ptr_null(m);
	struct evudp6_transport *t = own_transport(&o);
	c.nstart = 0;
	ck_assert_int_eq(evudp6_messenger_new_on_transport(&m, t, &c), -EINVAL);
	/* The failed call left the transport's own callbacks in place. */
	ck_assert_int_eq(evudp6_transport_start(t), 0);
	int fd = socket(AF_INET6, SOCK_DGRAM, 0);
	struct sockaddr_in6 to = {.sin6_family = AF_INET6,
	                          .sin6_addr = IN6ADDR_LOOPBACK_INIT,
	                          .sin6_port = htons(evudp6_transport_port(t))};
	ck_assert_int_eq(sendto(fd, "\x40\x00\x00\x01", 4, 0, (struct sockaddr *)&to, sizeof to), 4);
	ck_assert(RUN_UNTIL(o.datagrams == 1, 2000));
	close(fd);
	ck_assert_int_eq(evudp6_transport_shutdown(t, NULL, NULL), 0);
	c = cfg_fast();
	ck_assert_int_eq(evudp6_messenger_new_on_transport(&m, t, &c), -EVUDP6_E_SHUTDOWN);
	evudp6_transport_free(t);
}
END_TEST

START_TEST(messenger_con_via_broadcast_dropped_and_counted)
{
	ck_assert(private_netns());
	struct srv s = {0};
	struct evudp6_messenger_config c = cfg_fast();
	struct evudp6_messenger *m = mk_server(&c, &s);
	struct raw *r = raw_open();
	int on = 1;
	ck_assert_int_eq(setsockopt(r->fd, SOL_SOCKET, SO_BROADCAST, &on, sizeof on), 0);
	/* To the subnet's broadcast address (mv0 has 192.0.2.1/24): a CON is
	 * dropped like one sent to a group, and the NON after it answered. */
	const uint8_t con_hello[] = {0x41, 0x01, 0x72, 0x11, 0x76, 0xb5, 'h', 'e', 'l', 'l', 'o'};
	const uint8_t non_hello[] = {0x51, 0x01, 0x72, 0x12, 0x77, 0xb5, 'h', 'e', 'l', 'l', 'o'};
	raw_send_text(r, "::ffff:192.0.2.255", 0, mport(m), con_hello, sizeof con_hello);
	raw_send_text(r, "::ffff:192.0.2.255", 0, mport(m), non_hello, sizeof non_hello);
	ck_assert(RUN_UNTIL(r->n >= 1, 2000));
	run_for(100);
	ck_assert_int_eq(r->n, 1);
	struct evudp6_msg msg;
	raw_decode(r, 0, &msg);
	ck_assert_uint_eq(msg.type, EVUDP6_NON);
	ck_assert_uint_eq(msg.token[0], 0x77);
	ck_assert(from_is(&r->d[0], "::ffff:192.0.2.1"));
	ck_assert_int_eq(s.calls, 1);
	struct evudp6_messenger_stats st = mstats(m);
	ck_assert_uint_eq(st.multicast_con_dropped, 1);
	ck_assert_uint_eq(st.rst_sent, 0);
	ck_assert_uint_eq(st.empty_acks_sent, 0);
	ck_assert_uint_eq(st.responses_sent, 1);
	raw_close(r);
	evudp6_messenger_free(m);
}
END_TEST

/* ------------------------------------------------------------ 9. remotes, tokens, message ids */

/* Answer request datagram @p i of @p r with a piggybacked 2.05. */
static void raw_ack_content(struct raw *r, int i)
{
	struct evudp6_msg req;
	raw_decode(r, i, &req);
	uint8_t rsp[16] = {0x68, 0x45, (uint8_t)(req.mid >> 8), (uint8_t)req.mid};
	memcpy(rsp + 4, req.token, 8);
	raw_reply(r, i, rsp, 12);
}

START_TEST(messenger_remote_with_flowinfo_gets_its_answer_and_shares_nstart)
{
	struct evudp6_messenger_config c = cfg_fast();
	c.ack_timeout_ms = 2000;
	c.nstart = 1;
	struct evudp6_messenger *m = mk(&c);
	struct raw *r = raw_open();
	struct evudp6_addr plain, flow;
	lo_addr(&plain, false, r->port);
	flow = plain;
	flow.remote.sin6_flowinfo = htonl(0x12345);
	struct rec x = {0}, y = {0};
	struct evudp6_msg_builder b;
	builder_get(&b, EVUDP6_CON, "hello");
	ck_assert_int_eq(evudp6_messenger_request(m, &flow, &b, 0, rec_cb, &x, NULL), 0);
	builder_get(&b, EVUDP6_CON, "hello");
	ck_assert_int_eq(evudp6_messenger_request(m, &plain, &b, 0, rec_cb, &y, NULL), 0);
	/* One remote, whatever flow label it was given: NSTART 1 holds the
	 * second request back. */
	ck_assert(RUN_UNTIL(r->n == 1, 2000));
	run_for(50);
	ck_assert_int_eq(r->n, 1);
	/* The answer comes back with flowinfo 0, as every datagram does. */
	raw_ack_content(r, 0);
	ck_assert(RUN_UNTIL(x.calls == 1 && r->n == 2, 2000));
	ck_assert_int_eq(x.err, 0);
	ck_assert_uint_eq(x.code, EVUDP6_CONTENT);
	ck_assert_int_eq(y.calls, 0);
	raw_ack_content(r, 1);
	ck_assert(RUN_UNTIL(y.calls == 1, 2000));
	ck_assert_int_eq(y.err, 0);
	struct evudp6_messenger_stats st = mstats(m);
	ck_assert_uint_eq(st.unmatched, 0);
	ck_assert_uint_eq(st.retransmissions, 0);
	ck_assert_uint_eq(st.requests_pending, 0);
	evudp6_messenger_free(m);
	raw_close(r);
}
END_TEST

START_TEST(messenger_ack_from_another_address_does_not_match)
{
	struct evudp6_messenger_config c = cfg_fast();
	c.ack_timeout_ms = 2000;
	struct evudp6_messenger *m = mk(&c);
	struct raw *r = raw_open(), *other = raw_open();
	struct evudp6_addr to;
	lo_addr(&to, false, r->port);
	struct rec x = {0};
	struct evudp6_msg_builder b;
	builder_get(&b, EVUDP6_CON, "hello");
	ck_assert_int_eq(evudp6_messenger_request(m, &to, &b, 0, rec_cb, &x, NULL), 0);
	ck_assert(RUN_UNTIL(r->n == 1, 2000));
	struct evudp6_msg req;
	raw_decode(r, 0, &req);
	/* Another port of the same host answers with the right id and token,
	 * piggybacked, then with an empty ACK and an RST: none is ours. */
	uint8_t rsp[16] = {0x68, 0x45, (uint8_t)(req.mid >> 8), (uint8_t)req.mid};
	memcpy(rsp + 4, req.token, 8);
	raw_send(other, false, mport(m), rsp, 12);
	const uint8_t ack[] = {0x60, 0x00, (uint8_t)(req.mid >> 8), (uint8_t)req.mid};
	raw_send(other, false, mport(m), ack, sizeof ack);
	const uint8_t rst[] = {0x70, 0x00, (uint8_t)(req.mid >> 8), (uint8_t)req.mid};
	raw_send(other, false, mport(m), rst, sizeof rst);
	ck_assert(RUN_UNTIL(mstats(m).unmatched == 3, 2000));
	ck_assert_int_eq(x.calls, 0);
	ck_assert_uint_eq(mstats(m).rst_received, 0);
	/* The remote asked answers: that ends it. */
	raw_ack_content(r, 0);
	ck_assert(RUN_UNTIL(x.calls == 1, 2000));
	ck_assert_int_eq(x.err, 0);
	ck_assert(evudp6_addr_equal(&x.remote, &to));
	ck_assert_uint_eq(mstats(m).unmatched, 3);
	evudp6_messenger_free(m);
	raw_close(r);
	raw_close(other);
}
END_TEST

/* xoshiro256** as an attacker models it: the output function
 * rotl(s1 * 5, 7) * 9 is invertible and the update is linear, so four
 * consecutive outputs give the whole state. */
static uint64_t rotl64(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t inverse_mod_2_64(uint64_t x)
{
	uint64_t inv = x; /* right to 3 bits for odd x; Newton doubles that */
	for (int i = 0; i < 5; i++)
		inv *= 2 - x * inv;
	return inv;
}

static uint64_t xoshiro_next(uint64_t s[4])
{
	uint64_t out = rotl64(s[1] * 5, 7) * 9, t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl64(s[3], 45);
	return out;
}

/* The fifth output predicted from the first four. */
static uint64_t xoshiro_predict(const uint64_t out[4])
{
	uint64_t b[4];
	for (int i = 0; i < 4; i++)
		b[i] = rotl64(out[i] * inverse_mod_2_64(9), 57) * inverse_mod_2_64(5);
	uint64_t a_c = b[0] ^ b[1];
	uint64_t c_d = b[2] ^ b[1] ^ (b[0] << 17) ^ b[0];
	uint64_t d1 = b[3] ^ b[2] ^ a_c ^ (b[0] << 17) ^ (b[1] << 17) ^ b[1];
	uint64_t d = rotl64(d1, 19) ^ b[0];
	uint64_t c = c_d ^ d;
	uint64_t s[4] = {a_c ^ c, b[0], c, d};
	for (int i = 0; i < 4; i++)
		xoshiro_next(s);
	return xoshiro_next(s);
}

START_TEST(messenger_tokens_cannot_be_predicted_from_earlier_ones)
{
	/* The model is right: it predicts a real xoshiro256** stream. */
	uint64_t s[4] = {0x0123456789abcdefULL, 0xfedcba9876543210ULL, 42, 7}, seen[4];
	for (int i = 0; i < 4; i++)
		seen[i] = xoshiro_next(s);
	ck_assert_uint_eq(xoshiro_predict(seen), xoshiro_next(s));

	/* An attacker who sees five consecutive requests of ours. */
	struct evudp6_messenger_config c = cfg_fast();
	c.nstart = 8;
	struct evudp6_messenger *m = mk(&c);
	struct raw *r = raw_open();
	struct evudp6_addr to;
	lo_addr(&to, false, r->port);
	struct rec x[5] = {{0}};
	struct evudp6_msg_builder b;
	for (int i = 0; i < 5; i++) {
		builder_get(&b, EVUDP6_NON, "hello");
		ck_assert_int_eq(evudp6_messenger_request(m, &to, &b, 0, rec_cb, &x[i], NULL), 0);
	}
	ck_assert(RUN_UNTIL(r->n == 5, 2000));
	uint64_t tok[5];
	for (int i = 0; i < 5; i++) {
		struct evudp6_msg req;
		raw_decode(r, i, &req);
		ck_assert_uint_eq(req.tkl, 8);
		memcpy(&tok[i], req.token, 8);
	}
	ck_assert_msg(xoshiro_predict(tok) != tok[4], "the fifth token follows from the first four");
	evudp6_messenger_free(m);
	raw_close(r);
}
END_TEST

/* In a child whose getrandom() fails (a seccomp filter answers ENOSYS, as
 * an old kernel would): send 5 NON requests and write their tokens to
 * @p out. Exit status 0, or which step failed. */
static int tokens_without_getrandom(int out)
{
	struct sock_filter f[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getrandom, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof f / sizeof f[0], .filter = f};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
		return 2;
	uint8_t probe[8];
	if (getrandom(probe, sizeof probe, GRND_NONBLOCK) != -1 || errno != ENOSYS)
		return 3;
	struct event_base *b = event_base_new();
	struct evudp6_messenger_config c = cfg_fast();
	c.nstart = 8;
	struct evudp6_transport_config tc = {.size = sizeof(tc), .bind = "[::]:0"};
	struct evudp6_messenger *m;
	if (!b || evudp6_messenger_new(&m, b, &tc, &c) != 0 || evudp6_messenger_start(m) != 0)
		return 4;
	int sink = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	socklen_t sl = sizeof sa;
	struct timeval tv = {.tv_sec = 2};
	setsockopt(sink, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (bind(sink, (struct sockaddr *)&sa, sizeof sa) != 0 ||
	    getsockname(sink, (struct sockaddr *)&sa, &sl) != 0)
		return 5;
	struct evudp6_addr to;
	evudp6_addr_from_literal(&to, "::1", ntohs(sa.sin6_port), 0);
	struct rec x = {0};
	for (int i = 0; i < 5; i++) {
		struct evudp6_msg_builder bld;
		evudp6_msg_builder_init(&bld, EVUDP6_NON, EVUDP6_GET, 0);
		if (evudp6_messenger_request(m, &to, &bld, 0, rec_cb, &x, NULL) != 0)
			return 6;
		uint8_t d[64];
		if (recv(sink, d, sizeof d, 0) != 12 || (d[0] & 0x0f) != 8 || write(out, d + 4, 8) != 8)
			return 7;
	}
	evudp6_messenger_free(m);
	event_base_free(b);
	return 0;
}

START_TEST(messenger_tokens_stay_unpredictable_without_getrandom)
{
	int fds[2];
	ck_assert_int_eq(pipe(fds), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		_exit(tokens_without_getrandom(fds[1]));
	}
	close(fds[1]);
	uint64_t tok[5];
	size_t got = 0;
	ssize_t n;
	while (got < sizeof tok && (n = read(fds[0], (uint8_t *)tok + got, sizeof tok - got)) > 0)
		got += (size_t)n;
	close(fds[0]);
	int status = 0;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_msg(WEXITSTATUS(status) == 0, "child failed at step %d", WEXITSTATUS(status));
	ck_assert_uint_eq(got, sizeof tok);
	for (int i = 0; i < 5; i++)
		for (int j = 0; j < i; j++)
			ck_assert(tok[i] != tok[j]);
	ck_assert_msg(xoshiro_predict(tok) != tok[4], "the fifth token follows from the first four");
}
END_TEST

#define MID_REMOTES  4
#define MID_MESSAGES 70000

START_TEST(messenger_message_ids_keep_their_sequence_for_the_last_remotes)
{
	/* max_requests 1: 2 * 1 + 16 = 18 remote records. Remote 0 keeps its
	 * sequence while 17 others are sent to in between; 40 remotes in turn
	 * recycle the records (least recently used first) without a fault. */
	struct evudp6_messenger_config c = cfg_fast();
	c.max_requests = 1;
	struct evudp6_messenger *m = mk(&c);
	enum { N = 40 };
	int fd[N];
	struct evudp6_addr to[N];
	for (int k = 0; k < N; k++) {
		fd[k] = testnet_socket(AF_INET6, "::1");
		struct sockaddr_in6 sa;
		socklen_t sl = sizeof sa;
		ck_assert_int_eq(getsockname(fd[k], (struct sockaddr *)&sa, &sl), 0);
		lo_addr(&to[k], false, ntohs(sa.sin6_port));
	}
	struct rec x = {0};
	int last = -1;
	for (int round = 0; round < 3; round++)
		for (int k = 0; k < (round < 2 ? 18 : N); k++) {
			struct evudp6_request_handle req;
			struct evudp6_msg_builder b;
			builder_get(&b, EVUDP6_NON, "hello");
			ck_assert_int_eq(evudp6_messenger_request(m, &to[k], &b, 0, rec_cb, &x, &req), 0);
			ck_assert_int_eq(evudp6_request_cancel(req), 0);
			uint8_t d[64];
			ck_assert_int_ge(recv(fd[k], d, sizeof d, 0), 4);
			int mid = d[2] << 8 | d[3];
			if (k == 0 && last >= 0)
				ck_assert_int_eq(mid, (last + 1) & 0xffff);
			if (k == 0)
				last = mid;
		}
	ck_assert_uint_eq(mstats(m).requests_sent, 18 + 18 + N);
	for (int k = 0; k < N; k++)
		close(fd[k]);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(messenger_message_ids_never_repeat_to_a_remote_before_65536_of_its_own)
{
	/* Remote 0 gets every 4th message: with one counter for all remotes
	 * its ids would repeat after 16 384 of its own. */
	struct evudp6_messenger_config c = cfg_fast();
	struct evudp6_messenger *m = mk(&c);
	int fd[MID_REMOTES];
	struct evudp6_addr to[MID_REMOTES];
	for (int k = 0; k < MID_REMOTES; k++) {
		fd[k] = testnet_socket(AF_INET6, "::1");
		struct sockaddr_in6 sa;
		socklen_t sl = sizeof sa;
		ck_assert_int_eq(getsockname(fd[k], (struct sockaddr *)&sa, &sl), 0);
		lo_addr(&to[k], false, ntohs(sa.sin6_port));
	}
	static uint8_t seen[65536];
	memset(seen, 0, sizeof seen);
	unsigned int own = 0;
	uint16_t first[MID_REMOTES] = {0}, last[MID_REMOTES] = {0};
	unsigned int count[MID_REMOTES] = {0};
	struct rec x = {0};
	struct evudp6_msg_builder b;
	for (unsigned int i = 0; i < MID_MESSAGES; i++) {
		int k = i % 4 == 0 ? 0 : 1 + (int)(i % 3);
		struct evudp6_request_handle req;
		builder_get(&b, EVUDP6_NON, "hello");
		ck_assert_int_eq(evudp6_messenger_request(m, &to[k], &b, 0, rec_cb, &x, &req), 0);
		ck_assert_int_eq(evudp6_request_cancel(req), 0);
		uint8_t d[64];
		ssize_t n = recv(fd[k], d, sizeof d, 0);
		ck_assert_int_ge(n, 4);
		uint16_t mid = (uint16_t)(d[2] << 8 | d[3]);
		if (count[k] == 0)
			first[k] = mid;
		else
			ck_assert_msg(mid == (uint16_t)(last[k] + 1), "remote %d: id %u after %u", k, mid,
			              last[k]);
		last[k] = mid;
		count[k]++;
		if (k == 0) {
			ck_assert_msg(!seen[mid], "remote 0: id %u repeated after %u of its own", mid, own);
			seen[mid] = 1;
			own++;
		}
	}
	ck_assert_uint_eq(own, MID_MESSAGES / 4);
	ck_assert_uint_eq(x.calls, 0);
	/* Each remote starts somewhere of its own, not where the last left off. */
	bool consecutive = true;
	for (int k = 1; k < MID_REMOTES; k++)
		consecutive &= first[k] == (uint16_t)(first[0] + k);
	ck_assert(!consecutive);
	for (int k = 0; k < MID_REMOTES; k++)
		close(fd[k]);
	evudp6_messenger_free(m);
}
END_TEST

/* ------------------------------------------------------------ per-request options, ACK event, unmatched */

struct ackrec {
	struct rec x;
	int acks;
	double t_ack;
	struct evudp6_addr ack_from;
	bool cancel_on_ack;
	bool acked_at_end; /* evudp6_request_acknowledged() in the final callback */
};

static void ack_rec_cb(struct evudp6_request_handle r, const struct evudp6_addr *remote, void *arg)
{
	struct ackrec *a = arg;
	a->acks++;
	a->t_ack = now_ms();
	a->ack_from = *remote;
	ck_assert(evudp6_request_acknowledged(r));
	if (a->cancel_on_ack)
		evudp6_request_cancel(r);
}

static void ack_final_cb(struct evudp6_request_handle r, int err, const struct evudp6_msg *rsp,
                         const struct evudp6_addr *remote, const struct evudp6_icmp *icmp, void *arg)
{
	struct ackrec *a = arg;
	rec_cb(r, err, rsp, remote, icmp, &a->x);
	a->acked_at_end = evudp6_request_acknowledged(r);
}

static void empty_ack_for(struct raw *r, int i)
{
	struct evudp6_msg req;
	raw_decode(r, i, &req);
	const uint8_t ack[] = {0x60, 0x00, (uint8_t)(req.mid >> 8), (uint8_t)req.mid};
	raw_reply(r, i, ack, sizeof ack);
}

START_TEST(messenger_empty_ack_is_told_once_then_separate_response)
{
	struct evudp6_messenger_config c = cfg_fast();
	struct evudp6_messenger *m = mk(&c);
	struct raw *r = raw_open();
	struct evudp6_addr to;
	lo_addr(&to, false, r->port);
	struct evudp6_msg_builder b;
	builder_get(&b, EVUDP6_CON, "slow");
	struct ackrec a = {0};
	struct evudp6_request_options o;
	evudp6_request_options_init(&o, sizeof(o));
	ck_assert_uint_eq(o.size, sizeof o);
	ck_assert_int_eq(o.max_retransmit, -1);
	o.ack_cb = ack_rec_cb;
	struct evudp6_request_handle req;
	ck_assert_int_eq(evudp6_messenger_request_ex(m, &to, &b, &o, ack_final_cb, &a, &req), 0);
	ck_assert(!evudp6_request_acknowledged(req));
	ck_assert(RUN_UNTIL(r->n == 1, 2000));
	empty_ack_for(r, 0);
	/* A duplicate of the ACK is not a second event. */
	empty_ack_for(r, 0);
	ck_assert(RUN_UNTIL(a.acks == 1, 2000));
	run_for(100);
	ck_assert_int_eq(a.acks, 1);
	ck_assert_int_eq(a.x.calls, 0);
	ck_assert_int_eq(r->n, 1); /* acknowledged: no retransmission */
	ck_assert(evudp6_addr_equal(&a.ack_from, &to));
	ck_assert_uint_eq(evudp6_addr_port(&a.ack_from), r->port);
	struct evudp6_msg q;
	raw_decode(r, 0, &q);
	uint8_t rsp[32] = {0x58, 0x45, 0x70, 0x01};
	memcpy(rsp + 4, q.token, 8);
	memcpy(rsp + 12,
	       "\xff"
	       "late",
	       5);
	raw_reply(r, 0, rsp, 17);
	ck_assert(RUN_UNTIL(a.x.calls == 1, 2000));
	ck_assert_int_eq(a.x.err, 0);
	ck_assert_str_eq(a.x.payload, "late");
	ck_assert(a.acked_at_end);
	ck_assert_int_eq(a.acks, 1);
	raw_close(r);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(messenger_ack_cb_may_cancel_the_request)
{
	struct evudp6_messenger_config c = cfg_fast();
	struct evudp6_messenger *m = mk(&c);
	struct raw *r = raw_open();
	struct evudp6_addr to;
	lo_addr(&to, true, r->port);
	struct evudp6_msg_builder b;
	builder_get(&b, EVUDP6_CON, "slow");
	struct ackrec a = {.cancel_on_ack = true};
	struct evudp6_request_options o;
	evudp6_request_options_init(&o, sizeof(o));
	o.ack_cb = ack_rec_cb;
	ck_assert_int_eq(evudp6_messenger_request_ex(m, &to, &b, &o, ack_final_cb, &a, NULL), 0);
	ck_assert(RUN_UNTIL(r->n == 1, 2000));
	empty_ack_for(r, 0);
	ck_assert(RUN_UNTIL(a.acks == 1, 2000));
	run_for(100);
	ck_assert_int_eq(a.x.calls, 0);
	ck_assert_uint_eq(mstats(m).requests_pending, 0);
	/* The slot is free again and works. */
	builder_get(&b, EVUDP6_CON, "again");
	struct rec x = {0};
	ck_assert_int_eq(evudp6_messenger_request(m, &to, &b, 0, rec_cb, &x, NULL), 0);
	ck_assert(RUN_UNTIL(r->n == 2, 2000));
	raw_close(r);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(messenger_request_options_set_its_own_retransmission)
{
	/* The messenger says 20 ms and 4 retransmissions; this request says
	 * 50 ms and 2: three transmissions 50 and 100 ms apart, given up
	 * 200 ms after the last (350 ms in all). */
	struct evudp6_messenger_config c = cfg_fast();
	c.max_retransmit = 4;
	struct evudp6_messenger *m = mk(&c);
	struct raw *r = raw_open();
	struct evudp6_addr to;
	lo_addr(&to, false, r->port);
	struct evudp6_msg_builder b;
	builder_get(&b, EVUDP6_CON, "hello");
	struct rec x = {0};
	struct evudp6_request_options o;
	evudp6_request_options_init(&o, sizeof(o));
	o.ack_timeout_ms = 50;
	o.ack_random_factor = 1.0;
	o.max_retransmit = 2;
	double t0 = now_ms();
	ck_assert_int_eq(evudp6_messenger_request_ex(m, &to, &b, &o, rec_cb, &x, NULL), 0);
	ck_assert(RUN_UNTIL(x.calls == 1, 3000));
	ck_assert_int_eq(x.err, -EVUDP6_E_TIMEOUT);
	ck_assert_int_eq(r->n, 3);
	ck_assert_uint_eq(x.retransmissions, 2);
	const double nominal[2] = {50, 100};
	assert_copies_on_schedule(r, nominal, 2);
	double total = x.t - t0;
	ck_assert_msg(total >= 345 && total <= 430, "gave up after %.1f ms, want 350", total);
	/* max_retransmit 0 is taken literally: one transmission. */
	evudp6_request_options_init(&o, sizeof(o));
	o.max_retransmit = 0;
	builder_get(&b, EVUDP6_CON, "hello");
	struct rec y = {0};
	ck_assert_int_eq(evudp6_messenger_request_ex(m, &to, &b, &o, rec_cb, &y, NULL), 0);
	ck_assert(RUN_UNTIL(y.calls == 1, 3000));
	ck_assert_int_eq(y.err, -EVUDP6_E_TIMEOUT);
	ck_assert_int_eq(r->n, 4);
	ck_assert_uint_eq(mstats(m).retransmissions, 2);
	raw_close(r);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(messenger_request_deadline_ends_it_whatever_its_state)
{
	struct evudp6_messenger_config c = cfg_fast();
	c.max_retransmit = 10;
	struct evudp6_messenger *m = mk(&c);
	struct raw *r = raw_open();
	struct evudp6_addr to;
	lo_addr(&to, false, r->port);
	struct evudp6_msg_builder b;
	builder_get(&b, EVUDP6_CON, "hello");
	struct rec x = {0};
	struct evudp6_request_options o;
	evudp6_request_options_init(&o, sizeof(o));
	o.ack_timeout_ms = 30;
	o.ack_random_factor = 1.0;
	o.deadline_ms = 120;
	double t0 = now_ms();
	/* Retransmitting: sent at 0, 30 and 90 ms, ended at 120. */
	ck_assert_int_eq(evudp6_messenger_request_ex(m, &to, &b, &o, rec_cb, &x, NULL), 0);
	ck_assert(RUN_UNTIL(x.calls == 1, 3000));
	ck_assert_int_eq(x.err, -EVUDP6_E_DEADLINE);
	double total = x.t - t0;
	ck_assert_msg(total >= 118 && total <= 170, "ended after %.1f ms, want 120", total);
	ck_assert_int_eq(r->n, 3);
	run_for(200);
	ck_assert_int_eq(r->n, 3);
	ck_assert_int_eq(x.calls, 1);
	ck_assert_uint_eq(mstats(m).timeouts, 1);
	/* Acknowledged and waiting for the separate response (2 s): the
	 * deadline still ends it, and the final callback can tell. */
	builder_get(&b, EVUDP6_CON, "slow");
	struct ackrec a = {0};
	evudp6_request_options_init(&o, sizeof(o));
	o.ack_cb = ack_rec_cb;
	o.deadline_ms = 150;
	t0 = now_ms();
	ck_assert_int_eq(evudp6_messenger_request_ex(m, &to, &b, &o, ack_final_cb, &a, NULL), 0);
	ck_assert(RUN_UNTIL(r->n == 4, 2000));
	empty_ack_for(r, 3);
	ck_assert(RUN_UNTIL(a.x.calls == 1, 3000));
	ck_assert_int_eq(a.acks, 1);
	ck_assert_int_eq(a.x.err, -EVUDP6_E_DEADLINE);
	ck_assert(a.acked_at_end);
	total = a.x.t - t0;
	ck_assert_msg(total >= 148 && total <= 200, "ended after %.1f ms, want 150", total);
	/* Queued behind NSTART: the deadline counts from the call. */
	builder_get(&b, EVUDP6_CON, "first");
	struct rec first = {0}, second = {0};
	ck_assert_int_eq(evudp6_messenger_request(m, &to, &b, 0, rec_cb, &first, NULL), 0);
	builder_get(&b, EVUDP6_CON, "second");
	evudp6_request_options_init(&o, sizeof(o));
	o.deadline_ms = 50;
	ck_assert_int_eq(evudp6_messenger_request_ex(m, &to, &b, &o, rec_cb, &second, NULL), 0);
	ck_assert(RUN_UNTIL(second.calls == 1, 2000));
	ck_assert_int_eq(second.err, -EVUDP6_E_DEADLINE);
	ck_assert_int_eq(first.calls, 0);
	raw_close(r);
	evudp6_messenger_free(m);
}
END_TEST

START_TEST(messenger_request_ex_rejects_bad_options)
{
	struct evudp6_messenger_config c = cfg_fast();
	struct evudp6_messenger *m = mk(&c);
	struct raw *r = raw_open();
	struct evudp6_addr to;
	lo_addr(&to, false, r->port);
	struct evudp6_msg_builder b;
	builder_get(&b, EVUDP6_CON, "hello");
	struct rec x = {0};
	struct evudp6_request_options o;
	evudp6_request_options_init(&o, sizeof(o));
	o.size = 0; /* never initialised */
	ck_assert_int_eq(evudp6_messenger_request_ex(m, &to, &b, &o, rec_cb, &x, NULL), -EINVAL);
	o.size = offsetof(struct evudp6_request_options, ack_cb) + 1; /* cuts a field */
	ck_assert_int_eq(evudp6_messenger_request_ex(m, &to, &b, &o, rec_cb, &x, NULL), -EINVAL);
	evudp6_request_options_init(&o, sizeof(o));
	o.ack_random_factor = 0.5;
	ck_assert_int_eq(evudp6_messenger_request_ex(m, &to, &b, &o, rec_cb, &x, NULL), -EINVAL);
	o.ack_random_factor = 17.0;
	ck_assert_int_eq(evudp6_messenger_request_ex(m, &to, &b, &o, rec_cb, &x, NULL), -EINVAL);
	evudp6_request_options_init(&o, sizeof(o));
	o.max_retransmit = 17;
	ck_assert_int_eq(evudp6_messenger_request_ex(m, &to, &b, &o, rec_cb, &x, NULL), -EINVAL);
	ck_assert_uint_eq(mstats(m).requests_pending, 0);
	ck_assert_uint_eq(mstats(m).requests_sent, 0);
	/* A caller built with a larger struct than ours: fine while it sets
	 * nothing we do not know, refused once it does. */
	struct {
		struct evudp6_request_options o;
		uint64_t later;
	} bigger;
	bigger.later = ~0ull;
	ck_assert_int_eq(evudp6_request_options_init(&bigger.o, sizeof bigger), 0);
	ck_assert_uint_eq(bigger.o.size, sizeof bigger);
	ck_assert_uint_eq(bigger.later, 0);
	bigger.later = 1;
	ck_assert_int_eq(evudp6_messenger_request_ex(m, &to, &b, &bigger.o, rec_cb, &x, NULL), -EINVAL);
	bigger.later = 0;
	ck_assert_int_eq(evudp6_messenger_request_ex(m, &to, &b, &bigger.o, rec_cb, &x, NULL), 0);
	/* NULL options are the defaults. */
	builder_get(&b, EVUDP6_CON, "hello");
	ck_assert_int_eq(evudp6_messenger_request_ex(m, &to, &b, NULL, rec_cb, &x, NULL), 0);
	ck_assert(RUN_UNTIL(r->n == 2, 2000));
	ck_assert_int_eq(x.calls, 0);
	raw_close(r);
	evudp6_messenger_free(m);
}
END_TEST

struct unm {
	int calls;
	struct evudp6_request_handle owner[4];
	struct evudp6_addr from[4];
	uint8_t type[4];
	size_t len[4];
};

static void unm_cb(struct evudp6_messenger *m, const struct evudp6_msg *msg, const struct evudp6_addr *remote,
                   struct evudp6_request_handle owner, void *arg)
{
	(void)m;
	struct unm *u = arg;
	if (u->calls < 4) {
		u->owner[u->calls] = owner;
		u->from[u->calls] = *remote;
		u->type[u->calls] = msg->type;
		u->len[u->calls] = msg->len;
	}
	u->calls++;
}

START_TEST(messenger_unmatched_cb_tells_answer_from_another_address)
{
	struct evudp6_messenger_config c = cfg_fast();
	c.ack_timeout_ms = 200;
	struct evudp6_messenger *m = mk(&c);
	struct unm u = {0};
	evudp6_messenger_set_unmatched_cb(m, unm_cb, &u);
	struct raw *asked = raw_open(), *other = raw_open();
	struct evudp6_addr to;
	lo_addr(&to, false, asked->port);
	struct evudp6_msg_builder b;
	builder_get(&b, EVUDP6_CON, "hello");
	struct rec x = {0};
	struct evudp6_request_handle req;
	ck_assert_int_eq(evudp6_messenger_request(m, &to, &b, 0, rec_cb, &x, &req), 0);
	ck_assert(RUN_UNTIL(asked->n == 1, 2000));
	struct evudp6_msg q;
	raw_decode(asked, 0, &q);
	/* The piggybacked answer, sent from another socket (another address
	 * for the messenger): dropped, counted, and told with its owner. */
	uint8_t rsp[32] = {0x68, 0x45, (uint8_t)(q.mid >> 8), (uint8_t)q.mid};
	memcpy(rsp + 4, q.token, 8);
	memcpy(rsp + 12,
	       "\xff"
	       "hi",
	       3);
	raw_send(other, false, mport(m), rsp, 15);
	ck_assert(RUN_UNTIL(u.calls == 1, 2000));
	ck_assert_ptr_eq(u.owner[0].obj, req.obj);
	ck_assert_uint_eq(u.owner[0].gen, req.gen);
	ck_assert_uint_eq(u.type[0], EVUDP6_ACK);
	ck_assert_uint_eq(u.len[0], 15);
	ck_assert_uint_eq(evudp6_addr_port(&u.from[0]), other->port);
	ck_assert_int_eq(x.calls, 0);
	/* A separate CON response from there too: RST, and told. */
	rsp[0] = 0x48;
	raw_send(other, false, mport(m), rsp, 15);
	ck_assert(RUN_UNTIL(u.calls == 2 && other->n == 1, 2000));
	ck_assert_ptr_eq(u.owner[1].obj, req.obj);
	ck_assert_uint_eq(u.owner[1].gen, req.gen);
	struct evudp6_msg rst;
	raw_decode(other, 0, &rst);
	ck_assert_uint_eq(rst.type, EVUDP6_RST);
	/* A token that is none of ours: told without an owner. */
	rsp[0] = 0x58;
	rsp[4] ^= 0xff;
	raw_send(other, false, mport(m), rsp, 15);
	ck_assert(RUN_UNTIL(u.calls == 3, 2000));
	ck_assert_ptr_null(u.owner[2].obj);
	ck_assert_uint_eq(mstats(m).unmatched, 3);
	ck_assert_int_eq(x.calls, 0);
	/* The request is untouched: the right address still completes it. */
	rsp[0] = 0x68;
	rsp[4] ^= 0xff;
	raw_reply(asked, 0, rsp, 15);
	ck_assert(RUN_UNTIL(x.calls == 1, 2000));
	ck_assert_int_eq(x.err, 0);
	ck_assert_str_eq(x.payload, "hi");
	ck_assert_int_eq(u.calls, 3);
	/* Cleared: only counted. */
	evudp6_messenger_set_unmatched_cb(m, NULL, NULL);
	raw_send(other, false, mport(m), rsp, 15);
	run_for(50);
	ck_assert_int_eq(u.calls, 3);
	ck_assert_uint_eq(mstats(m).unmatched, 4);
	raw_close(asked);
	raw_close(other);
	evudp6_messenger_free(m);
}
END_TEST

static TCase *new_case(const char *name)
{
	TCase *tc = tcase_create(name);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	return tc;
}

/* The parts that may not be able to run here are programs of their own
 * (this file built with TEST_PART_*), each a SKIP with its reason when it
 * cannot run. */
#if COUNT_ALLOCS
static void add_alloc_cases(Suite *s)
{
	TCase *alloc = new_case("allocations");
	tcase_add_test(alloc, messenger_steady_state_allocates_nothing);
	suite_add_tcase(s, alloc);
}
#endif

static void add_multicast_cases(Suite *s)
{
	const TTest *const tests[] = {
	    messenger_icmp_spares_multicast_request,
	    messenger_multicast_server_v6,
	    messenger_multicast_server_v4,
	    messenger_malformed_con_via_multicast_or_broadcast_gets_no_rst,
	    messenger_multicast_client_collects_every_response_v6,
	    messenger_multicast_client_collects_every_response_v4,
	    messenger_dedup_tells_multicast_from_unicast_arrival,
	    messenger_con_via_multicast_dropped_and_counted_v6,
	    messenger_con_via_multicast_dropped_and_counted_v4,
	    messenger_con_via_broadcast_dropped_and_counted,
	};
	TCase *mc = new_case("multicast");
	for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
		tcase_add_test(mc, tests[i]);
	suite_add_tcase(s, mc);
}

static void add_loopback_cases(Suite *s)
{
	TCase *tc = new_case("loopback");
	tcase_add_test(tc, messenger_ping_gets_rst);
	tcase_add_test(tc, messenger_ping_cb_told_once_per_ping_with_both_addresses);
	tcase_add_test(tc, messenger_duplicate_ping_answered_and_told_again);
	tcase_add_test(tc, messenger_free_inside_ping_cb);
	tcase_add_test(tc, messenger_duplicate_con_gets_identical_response_handler_once);
	tcase_add_test(tc, messenger_same_mid_from_two_ports_is_two_requests);
	tcase_add_test(tc, messenger_non_no_response_2_gets_nothing);
	tcase_add_test(tc, messenger_con_no_response_still_acknowledged);
	tcase_add_test(tc, messenger_non_request_gets_non_response);
	tcase_add_test(tc, messenger_unsolicited_con_response_gets_rst);
	tcase_add_test(tc, messenger_unsolicited_ack_and_non_response_get_nothing);
	tcase_add_test(tc, messenger_malformed_con_gets_rst_malformed_non_nothing);
	tcase_add_test(tc, messenger_without_handler_rejects_con_request);
	tcase_add_test(tc, messenger_con_retransmits_doubling_then_times_out);
	tcase_add_test(tc, messenger_random_factor_spreads_first_timeout);
	tcase_add_test(tc, messenger_separate_response_acked_and_delivered);
	tcase_add_test(tc, messenger_piggybacked_and_non_roundtrip_v6_v4);
	tcase_add_test(tc, messenger_slow_handler_empty_ack_then_separate_con);
	tcase_add_test(tc, messenger_separate_response_gives_up_after_max_retransmit);
	tcase_add_test(tc, messenger_icmp_stops_separate_response);
	tcase_add_test(tc, messenger_rst_fails_request_and_answers_ping);
	tcase_add_test(tc, messenger_ping_between_messengers);
	tcase_add_test(tc, messenger_cancel_stops_retransmission);
	tcase_add_test(tc, messenger_nstart_queues_requests_per_remote);
	tcase_add_test(tc, messenger_request_rejects_misuse);
	tcase_add_test(tc, messenger_config_rejects_bad_values);
	tcase_add_test(tc, messenger_free_inside_callbacks);
	tcase_add_test(tc, messenger_icmp_refused_fails_at_once_v6);
	tcase_add_test(tc, messenger_icmp_refused_fails_at_once_v4);
	tcase_add_test(tc, messenger_icmp_fails_every_exchange_to_that_remote_only);
	tcase_add_test(tc, messenger_icmp_for_unknown_quote_is_vetted_out);
	tcase_add_test(tc, messenger_send_error_fails_every_exchange_to_remote);
	tcase_add_test(tc, messenger_flood_keeps_dedup_under_cap);
	tcase_add_test(tc, messenger_on_caller_transport_hands_on_what_is_not_coap);
	tcase_add_test(tc, messenger_on_caller_transport_hands_on_unclaimed_icmp);
	tcase_add_test(tc, messenger_on_transport_rejects_misuse);
	tcase_add_test(tc, messenger_remote_with_flowinfo_gets_its_answer_and_shares_nstart);
	tcase_add_test(tc, messenger_ack_from_another_address_does_not_match);
	tcase_add_test(tc, messenger_tokens_cannot_be_predicted_from_earlier_ones);
	tcase_add_test(tc, messenger_tokens_stay_unpredictable_without_getrandom);
	tcase_add_test(tc, messenger_message_ids_never_repeat_to_a_remote_before_65536_of_its_own);
	tcase_add_test(tc, messenger_message_ids_keep_their_sequence_for_the_last_remotes);
	tcase_add_test(tc, messenger_dedup_is_per_local_address);
	tcase_add_test(tc, messenger_without_handler_ignores_non_request);
	tcase_add_test(tc, messenger_unacked_separate_responses_cannot_lock_out_others);
	tcase_add_test(tc, messenger_unacked_separate_responses_give_way_when_all_pinned);
	tcase_add_test(tc, messenger_separate_retransmissions_bounded_per_second);
	tcase_add_test(tc, messenger_separate_share_or_budget_zero_means_no_retransmission);
	tcase_add_test(tc, messenger_cancel_after_slot_reuse_does_nothing);
	tcase_add_test(tc, messenger_respond_after_slot_reuse_is_state_error);
	tcase_add_test(tc, messenger_empty_ack_is_told_once_then_separate_response);
	tcase_add_test(tc, messenger_ack_cb_may_cancel_the_request);
	tcase_add_test(tc, messenger_request_options_set_its_own_retransmission);
	tcase_add_test(tc, messenger_request_deadline_ends_it_whatever_its_state);
	tcase_add_test(tc, messenger_request_ex_rejects_bad_options);
	tcase_add_test(tc, messenger_unmatched_cb_tells_answer_from_another_address);
	suite_add_tcase(s, tc);
}

int main(void)
{
#if COUNT_ALLOCS
	(void)add_alloc_cases;
#endif
	(void)add_loopback_cases;
	(void)add_multicast_cases;
#if defined(TEST_PART_MULTICAST)
	if (!testnet_netns_possible(MC_NETNS))
		return testutil_skip("check_messenger_multicast",
		                     "no private network namespace with multicast on lo and a veth "
		                     "(needs root or unprivileged user namespaces, and iproute2)");
	Suite *s = suite_create("messenger_multicast");
	add_multicast_cases(s);
	return testutil_run(s);
#elif defined(TEST_PART_ALLOC)
#if !COUNT_ALLOCS
	return testutil_skip("check_messenger_alloc",
	                     "built with AddressSanitizer, which owns malloc: allocations cannot be counted");
#else
	Suite *s = suite_create("messenger_alloc");
	add_alloc_cases(s);
	return testutil_run(s);
#endif
#else
	Suite *s = suite_create("messenger");
	add_loopback_cases(s);
	return testutil_run(s);
#endif
}
