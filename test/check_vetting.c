/*
 * ICMP errors at the message layer, forged: which ones a messenger acts
 * on (vetting, RFC 7252 4.2: the quote must cover the header and the
 * token of a message pending to that remote) and how (hard errors fail
 * the exchanges to the remote; soft ones are counted and fail nothing; a
 * Packet Too Big sends the quoted message again at once).
 *
 * Each test runs in its own process (Check forks) inside a private
 * network namespace, and sends hand-made ICMPv6 and ICMP errors over that
 * namespace's loopback from raw sockets, so the host's path MTU cache and
 * ICMP state are never touched. Needs root (CAP_SYS_ADMIN, CAP_NET_RAW):
 * otherwise the whole program SKIPs (exit 77) and says why.
 */
#include "config.h"

#include "testnet.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/ip_icmp.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <event2/event.h>

#include <evudp6/messenger.h>

static struct event_base *base;

/* ------------------------------------------------------------ a private loopback */

static bool private_loopback(void)
{
	if (unshare(CLONE_NEWNET) != 0)
		return false;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	strcpy(ifr.ifr_name, "lo");
	bool ok = ioctl(fd, SIOCGIFFLAGS, &ifr) == 0;
	ifr.ifr_flags |= IFF_UP;
	ok = ok && ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
	close(fd);
	return ok;
}

/* Why this machine cannot run the suite, or NULL if it can. */
static const char *cannot_run(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		if (!private_loopback())
			_exit(1);
		int r6 = socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6),
		    r4 = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
		_exit(r6 < 0 || r4 < 0 ? 2 : 0);
	}
	int status = 0;
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return "fork failed";
	switch (WEXITSTATUS(status)) {
	case 0:
		return NULL;
	case 1:
		return "no private network namespace with its loopback up (needs CAP_SYS_ADMIN)";
	default:
		return "no raw ICMP sockets to forge errors with (needs CAP_NET_RAW)";
	}
}

static void setup(void)
{
	ck_assert(private_loopback());
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
}

static void teardown(void)
{
	event_base_free(base);
	base = NULL;
}

static void run_for(int ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

/* ------------------------------------------------------------ the peer: a plain socket */

struct peer {
	int fd;
	uint16_t port;
	int n;           /* datagrams received */
	uint8_t b[2048]; /* the last one */
	size_t len;
	struct sockaddr_in6 from;
};

static void peer_open(struct peer *p)
{
	memset(p, 0, sizeof *p);
	p->fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(p->fd, 0);
	int off = 0;
	ck_assert_int_eq(setsockopt(p->fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off), 0);
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6};
	socklen_t sl = sizeof sa;
	ck_assert_int_eq(bind(p->fd, (struct sockaddr *)&sa, sizeof sa), 0);
	ck_assert_int_eq(getsockname(p->fd, (struct sockaddr *)&sa, &sl), 0);
	p->port = ntohs(sa.sin6_port);
}

/* Read what has arrived; the number of datagrams so far. */
static int peer_read(struct peer *p)
{
	for (;;) {
		socklen_t sl = sizeof p->from;
		ssize_t n = recvfrom(p->fd, p->b, sizeof p->b, 0, (struct sockaddr *)&p->from, &sl);
		if (n < 0)
			return p->n;
		p->len = (size_t)n;
		p->n++;
	}
}

/* ------------------------------------------------------------ forged errors */

static uint16_t inet_checksum(const uint8_t *b, size_t len)
{
	uint32_t sum = 0;
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (len & 1)
		sum += (uint32_t)(b[len - 1] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* The quoted UDP header and payload of a datagram from port @p sport to
 * port @p dport; returns the bytes written. */
static size_t put_udp(uint8_t *at, uint16_t sport, uint16_t dport, const uint8_t *quote, size_t qlen)
{
	ck_assert_uint_le(qlen, 256);
	uint16_t udp[4] = {htons(sport), htons(dport), htons((uint16_t)(8 + qlen)), 0};
	memcpy(at, udp, 8);
	memcpy(at + 8, quote, qlen);
	return 8 + qlen;
}

/* Send an ICMP or ICMPv6 message (its first 8 bytes in @p b) to loopback
 * from a raw socket. */
static void send_icmp(int family, const uint8_t *b, size_t len)
{
	int fd = socket(family, SOCK_RAW | SOCK_CLOEXEC, family == AF_INET6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_in6 to6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	struct sockaddr_in to4 = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	const struct sockaddr *to = family == AF_INET6 ? (struct sockaddr *)&to6 : (struct sockaddr *)&to4;
	socklen_t tl = family == AF_INET6 ? sizeof to6 : sizeof to4;
	ck_assert_int_eq(sendto(fd, b, len, 0, to, tl), (ssize_t)len);
	close(fd);
}

static void put_icmp_head(uint8_t *b, uint8_t type, uint8_t code, uint32_t info)
{
	b[0] = type;
	b[1] = code;
	b[2] = b[3] = 0;
	uint32_t ninfo = htonl(info);
	memcpy(b + 4, &ninfo, 4);
}

/* An ICMPv6 error from ::1 about a datagram ::1 port @p sport sent to ::1
 * port @p dport, quoting its IPv6 and UDP headers and @p quote. The
 * kernel fills in the ICMPv6 checksum. */
static void forge6(uint8_t type, uint8_t code, uint32_t info, uint16_t sport, uint16_t dport,
                   const uint8_t *quote, size_t qlen)
{
	uint8_t b[8 + 40 + 8 + 256];
	put_icmp_head(b, type, code, info);
	struct ip6_hdr ip;
	memset(&ip, 0, sizeof ip);
	ip.ip6_flow = htonl(6u << 28);
	ip.ip6_plen = htons((uint16_t)(8 + qlen));
	ip.ip6_nxt = IPPROTO_UDP;
	ip.ip6_hlim = 64;
	ip.ip6_src = in6addr_loopback;
	ip.ip6_dst = in6addr_loopback;
	memcpy(b + 8, &ip, 40);
	send_icmp(AF_INET6, b, 48 + put_udp(b + 48, sport, dport, quote, qlen));
}

/* The same in ICMP, from and about 127.0.0.1; @p info is the 32 bits
 * after the checksum (the next-hop MTU in its low 16 for "fragmentation
 * needed", the pointer in its high 8 for a parameter problem). */
static void forge4(uint8_t type, uint8_t code, uint32_t info, uint16_t sport, uint16_t dport,
                   const uint8_t *quote, size_t qlen)
{
	uint8_t b[8 + 20 + 8 + 256];
	put_icmp_head(b, type, code, info);
	struct iphdr ip;
	memset(&ip, 0, sizeof ip);
	ip.version = 4;
	ip.ihl = 5;
	ip.tot_len = htons((uint16_t)(20 + 8 + qlen));
	ip.frag_off = htons(IP_DF);
	ip.ttl = 64;
	ip.protocol = IPPROTO_UDP;
	ip.saddr = htonl(INADDR_LOOPBACK);
	ip.daddr = htonl(INADDR_LOOPBACK);
	ip.check = htons(inet_checksum((const uint8_t *)&ip, 20));
	memcpy(b + 8, &ip, 20);
	size_t len = 28 + put_udp(b + 28, sport, dport, quote, qlen);
	uint16_t sum = htons(inet_checksum(b, len));
	memcpy(b + 2, &sum, 2);
	send_icmp(AF_INET, b, len);
}

static void forge(bool v4, uint8_t type, uint8_t code, uint32_t info, uint16_t sport, uint16_t dport,
                  const uint8_t *quote, size_t qlen)
{
	if (v4)
		forge4(type, code, info, sport, dport, quote, qlen);
	else
		forge6(type, code, info, sport, dport, quote, qlen);
}

/* The port-unreachable error of each family. */
static void forge_refused(bool v4, uint16_t sport, uint16_t dport, const uint8_t *quote, size_t qlen)
{
	if (v4)
		forge4(ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0, sport, dport, quote, qlen);
	else
		forge6(ICMP6_DST_UNREACH, ICMP6_DST_UNREACH_NOPORT, 0, sport, dport, quote, qlen);
}

/* ------------------------------------------------------------ a messenger and its requests */

struct rec {
	int calls;
	int err;
	bool had_icmp;
	struct evudp6_icmp icmp;
	uint8_t code;
};

static void rec_cb(struct evudp6_request_handle r, int err, const struct evudp6_msg *rsp,
                   const struct evudp6_addr *remote, const struct evudp6_icmp *icmp, void *arg)
{
	struct rec *x = arg;
	(void)r;
	(void)remote;
	x->calls++;
	x->err = err;
	x->code = rsp ? rsp->code : 0;
	x->had_icmp = icmp != NULL;
	if (icmp)
		x->icmp = *icmp;
}

/* Retransmission 5 s away (mk()): whatever a test sees within it comes
 * from the forged errors. @p max_message and @p nstart unless 0. */
static struct evudp6_messenger *mk_with(size_t max_message, unsigned int ack_timeout_ms, unsigned int nstart)
{
	struct evudp6_messenger_config c;
	evudp6_messenger_config_init(&c, sizeof(c));
	if (max_message)
		c.max_message = max_message;
	if (nstart)
		c.nstart = nstart;
	c.ack_timeout_ms = ack_timeout_ms;
	c.ack_random_factor = 1.0;
	c.empty_ack_delay_ms = 0;
	c.leisure_ms = 0;
	struct evudp6_messenger *m;
	struct evudp6_transport_config tc = {.size = sizeof(tc), .bind = "[::]:0"};
	ck_assert_int_eq(evudp6_messenger_new(&m, base, &tc, &c), 0);
	ck_assert_int_eq(evudp6_messenger_start(m), 0);
	return m;
}

static struct evudp6_messenger *mk_sized(size_t max_message)
{
	return mk_with(max_message, 5000, 0);
}

static struct evudp6_messenger *mk(void)
{
	return mk_sized(0);
}

static uint16_t mport(struct evudp6_messenger *m)
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

/* Send a GET /hello of @p type to the peer and wait until it has it
 * (copied into @p sent, @p len bytes: header, 8-byte token, options). */
static void request(struct evudp6_messenger *m, struct peer *p, bool v4, uint8_t type, struct rec *x,
                    uint8_t *sent, size_t *len)
{
	struct evudp6_addr to;
	lo_addr(&to, v4, p->port);
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, type, EVUDP6_GET, 0);
	ck_assert_int_eq(evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_PATH, "hello", 5), 0);
	int before = p->n;
	ck_assert_int_eq(evudp6_messenger_request(m, &to, &b, 0, rec_cb, x, NULL), 0);
	TESTNET_LOOP_UNTIL(base, peer_read(p) > before);
	ck_assert_int_eq(p->n, before + 1);
	ck_assert_uint_ge(p->len, 12);
	ck_assert_uint_eq(p->b[0] & 0x0f, 8);
	memcpy(sent, p->b, p->len);
	*len = p->len;
}

/* Answer the peer's last datagram (a CON request) with a piggybacked 2.05. */
static void peer_answer(struct peer *p)
{
	uint8_t rsp[12] = {0x68, EVUDP6_CONTENT, p->b[2], p->b[3]};
	memcpy(rsp + 4, p->b + 4, 8);
	ck_assert_int_eq(sendto(p->fd, rsp, sizeof rsp, 0, (struct sockaddr *)&p->from, sizeof p->from),
	                 (ssize_t)sizeof rsp);
}

/* The peer answers; the request @p x, still pending, ends with that 2.05. */
static void answered(struct peer *p, struct rec *x)
{
	peer_answer(p);
	TESTNET_LOOP_UNTIL(base, x->calls == 1);
	ck_assert_int_eq(x->err, 0);
	ck_assert_uint_eq(x->code, EVUDP6_CONTENT);
}

#define WAIT_ERRORS(m, count) TESTNET_LOOP_UNTIL(base, mstats(m).icmp_errors >= (count))

/* ------------------------------------------------------------ vetting */

static void header_alone_fails_nothing(bool v4)
{
	struct evudp6_messenger *m = mk();
	struct peer p;
	peer_open(&p);
	struct rec x = {0};
	uint8_t sent[256];
	size_t len;
	request(m, &p, v4, EVUDP6_CON, &x, sent, &len);
	/* The 4-byte header alone, then a quote cut inside the token. */
	forge_refused(v4, mport(m), p.port, sent, 4);
	forge_refused(v4, mport(m), p.port, sent, 4 + 7);
	WAIT_ERRORS(m, 2);
	run_for(30);
	struct evudp6_messenger_stats st = mstats(m);
	ck_assert_uint_eq(st.icmp_errors, 2);
	ck_assert_uint_eq(st.icmp_vetted_out, 2);
	ck_assert_uint_eq(st.exchanges_failed, 0);
	ck_assert_int_eq(x.calls, 0);
	ck_assert_uint_eq(st.requests_pending, 1);
	/* Header and token are enough: the same error then fails it at once. */
	forge_refused(v4, mport(m), p.port, sent, 12);
	TESTNET_LOOP_UNTIL(base, x.calls == 1);
	ck_assert_int_eq(x.calls, 1);
	ck_assert_int_eq(x.err, -ECONNREFUSED);
	ck_assert(x.had_icmp);
	ck_assert_uint_eq(x.icmp.type, v4 ? ICMP_DEST_UNREACH : ICMP6_DST_UNREACH);
	ck_assert_uint_eq(x.icmp.code, v4 ? ICMP_PORT_UNREACH : ICMP6_DST_UNREACH_NOPORT);
	st = mstats(m);
	ck_assert_uint_eq(st.icmp_vetted_out, 2);
	ck_assert_uint_eq(st.exchanges_failed, 1);
	evudp6_messenger_free(m);
	close(p.fd);
}

START_TEST(vetting_quote_of_the_header_alone_fails_nothing_v6)
{
	header_alone_fails_nothing(false);
}
END_TEST

START_TEST(vetting_quote_of_the_header_alone_fails_nothing_v4)
{
	header_alone_fails_nothing(true);
}
END_TEST

START_TEST(vetting_quote_with_a_wrong_token_fails_nothing)
{
	struct evudp6_messenger *m = mk();
	struct peer p;
	peer_open(&p);
	struct rec x = {0};
	uint8_t sent[256], forged[256];
	size_t len;
	request(m, &p, false, EVUDP6_CON, &x, sent, &len);
	/* Whole header and a token of the right length, one bit off. */
	memcpy(forged, sent, len);
	forged[11] ^= 0x01;
	forge_refused(false, mport(m), p.port, forged, len);
	/* The right first four token bytes, as a 4-byte token. */
	memcpy(forged, sent, len);
	forged[0] = (uint8_t)((forged[0] & 0xf0) | 4);
	forge_refused(false, mport(m), p.port, forged, 8);
	WAIT_ERRORS(m, 2);
	run_for(30);
	struct evudp6_messenger_stats st = mstats(m);
	ck_assert_uint_eq(st.icmp_vetted_out, 2);
	ck_assert_uint_eq(st.exchanges_failed, 0);
	ck_assert_int_eq(x.calls, 0);
	/* The request is still there and gets its answer. */
	answered(&p, &x);
	evudp6_messenger_free(m);
	close(p.fd);
}
END_TEST

/* A server that holds each exchange, for the test to answer. */
static void hold_cb(struct evudp6_messenger *m, struct evudp6_exchange_handle ex,
                    const struct evudp6_msg *req, const struct evudp6_addr *remote, void *arg)
{
	(void)m;
	(void)req;
	(void)remote;
	*(struct evudp6_exchange_handle *)arg = ex;
}

/* A server messenger (retransmission after @p ack_timeout_ms) that has
 * acknowledged a CON request of the peer's with an empty ACK and sent its
 * response separately; the response's 6 bytes (CON, 2-byte token) are in
 * @p sep. */
static struct evudp6_messenger *separate_response(struct peer *p, unsigned int ack_timeout_ms, uint8_t sep[6])
{
	struct evudp6_messenger_config c;
	evudp6_messenger_config_init(&c, sizeof(c));
	c.ack_timeout_ms = ack_timeout_ms;
	c.ack_random_factor = 1.0;
	c.empty_ack_delay_ms = 0;
	struct evudp6_messenger *m;
	struct evudp6_transport_config tc = {.size = sizeof(tc), .bind = "[::]:0"};
	ck_assert_int_eq(evudp6_messenger_new(&m, base, &tc, &c), 0);
	static struct evudp6_exchange_handle ex;
	ex = (struct evudp6_exchange_handle){0};
	evudp6_messenger_set_request_cb(m, hold_cb, &ex);
	ck_assert_int_eq(evudp6_messenger_start(m), 0);
	peer_open(p);
	const uint8_t req[] = {0x42, EVUDP6_GET, 0x12, 0x34, 0xab, 0xcd};
	struct sockaddr_in6 to = {
	    .sin6_family = AF_INET6, .sin6_port = htons(mport(m)), .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	ck_assert_int_eq(sendto(p->fd, req, sizeof req, 0, (struct sockaddr *)&to, sizeof to),
	                 (ssize_t)sizeof req);
	TESTNET_LOOP_UNTIL(base, ex.obj != NULL && peer_read(p) == 1);
	ck_assert_ptr_nonnull(ex.obj);
	ck_assert_uint_eq(p->len, 4); /* the empty ACK */
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, 0, EVUDP6_CONTENT, 0);
	ck_assert_int_eq(evudp6_exchange_respond(ex, &b), 0);
	TESTNET_LOOP_UNTIL(base, peer_read(p) == 2);
	ck_assert_uint_eq(p->len, 6);
	ck_assert_uint_eq(p->b[0], 0x42); /* CON, token length 2 */
	memcpy(sep, p->b, 6);
	return m;
}

START_TEST(vetting_short_quote_does_not_stop_a_separate_response)
{
	struct peer p;
	uint8_t sep[6];
	struct evudp6_messenger *m = separate_response(&p, 100, sep);
	/* A quote without the token says nothing about whom it concerns:
	 * the response keeps being retransmitted (100, 200 ms). */
	forge_refused(false, mport(m), p.port, sep, 4);
	WAIT_ERRORS(m, 1);
	TESTNET_LOOP_UNTIL(base, peer_read(&p) >= 4);
	ck_assert_int_eq(p.n, 4);
	ck_assert_mem_eq(p.b, sep, sizeof sep);
	ck_assert_uint_eq(mstats(m).icmp_vetted_out, 1);
	/* With the token it concerns that response: retransmission stops. */
	forge_refused(false, mport(m), p.port, sep, 6);
	WAIT_ERRORS(m, 2);
	run_for(600);
	ck_assert_int_eq(peer_read(&p), 4);
	ck_assert_uint_eq(mstats(m).icmp_vetted_out, 1);
	evudp6_messenger_free(m);
	close(p.fd);
}
END_TEST

START_TEST(packet_too_big_resends_a_separate_response_at_once)
{
	struct peer p;
	uint8_t sep[6];
	struct evudp6_messenger *m = separate_response(&p, 5000, sep);
	forge6(ICMP6_PACKET_TOO_BIG, 0, 1280, mport(m), p.port, sep, sizeof sep);
	TESTNET_LOOP_UNTIL(base, peer_read(&p) == 3);
	ck_assert_int_eq(p.n, 3);
	ck_assert_mem_eq(p.b, sep, sizeof sep);
	struct evudp6_messenger_stats st = mstats(m);
	ck_assert_uint_eq(st.icmp_packet_too_big, 1);
	ck_assert_uint_eq(st.packet_too_big_resends, 1);
	ck_assert_uint_eq(st.retransmissions, 0);
	/* The exchange goes on: the requester's ACK still ends it. */
	const uint8_t ack[] = {0x60, 0x00, sep[2], sep[3]};
	ck_assert_int_eq(sendto(p.fd, ack, sizeof ack, 0, (struct sockaddr *)&p.from, sizeof p.from),
	                 (ssize_t)sizeof ack);
	run_for(50);
	st = mstats(m);
	ck_assert_uint_eq(st.unmatched, 0);
	ck_assert_uint_eq(st.rst_received, 0);
	evudp6_messenger_free(m);
	close(p.fd);
}
END_TEST

/* A server that answers GET with the Block2 block asked for (1024 bytes
 * unless asked smaller) of a 3000-byte body, piggybacked; @c pad bytes of
 * an elective option make its datagram larger. */
struct blocks {
	size_t pad;
	int calls;
};

static uint8_t body_byte(size_t i)
{
	return (uint8_t)(i * 7 + i / 251);
}

static void blocks_cb(struct evudp6_messenger *m, struct evudp6_exchange_handle ex,
                      const struct evudp6_msg *req, const struct evudp6_addr *remote, void *arg)
{
	(void)m;
	(void)remote;
	struct blocks *k = arg;
	k->calls++;
	uint32_t v = 6, num = 0, szx = 6;
	struct evudp6_opt o;
	if (evudp6_msg_find_opt(req, EVUDP6_OPT_BLOCK2, &o) && evudp6_opt_uint(&o, &v) == 0) {
		num = v >> 4;
		szx = (v & 7u) < 6 ? v & 7u : 6;
	}
	static uint8_t body[3000], pad[255];
	for (size_t i = 0; i < sizeof body; i++)
		body[i] = body_byte(i);
	memset(pad, 'p', sizeof pad);
	size_t size = 16u << szx, off = (size_t)num * size;
	ck_assert_uint_lt(off, sizeof body);
	size_t n = sizeof body - off < size ? sizeof body - off : size;
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, 0, EVUDP6_CONTENT, 0);
	if (k->pad)
		ck_assert_int_eq(evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_LOCATION_PATH, pad, k->pad), 0);
	bool more = off + n < sizeof body;
	ck_assert_int_eq(
	    evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_BLOCK2, num << 4 | (more ? 8u : 0u) | szx), 0);
	evudp6_msg_builder_set_payload(&b, body + off, n);
	ck_assert_int_eq(evudp6_exchange_respond(ex, &b), 0);
}

/* The peer's CON GET for Block2 block @p num of 1024 (message id @p mid,
 * token "tk"), to the messenger on @p port. */
static void ask_block(struct peer *p, bool v4, uint16_t port, uint16_t mid, uint32_t num)
{
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, mid);
	evudp6_msg_builder_set_token(&b, "tk", 2);
	ck_assert_int_eq(evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_PATH, "big", 3), 0);
	ck_assert_int_eq(evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_BLOCK2, num << 4 | 6u), 0);
	uint8_t req[64];
	ssize_t n = evudp6_msg_encode(&b, req, sizeof req);
	ck_assert_int_gt(n, 0);
	struct sockaddr_in6 to = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
	inet_pton(AF_INET6, v4 ? "::ffff:127.0.0.1" : "::1", &to.sin6_addr);
	ck_assert_int_eq(sendto(p->fd, req, (size_t)n, 0, (struct sockaddr *)&to, sizeof to), n);
}

/* The peer's last datagram: an ACK with message id @p mid, token "tk",
 * Block2 @p num, @p more, @p szx, and the bytes of that block. */
static void assert_block(const struct peer *p, uint16_t mid, uint32_t num, bool more, unsigned int szx)
{
	struct evudp6_msg r;
	ck_assert_int_eq(evudp6_msg_decode(&r, p->b, p->len), 0);
	ck_assert_uint_eq(r.type, EVUDP6_ACK);
	ck_assert_uint_eq(r.code, EVUDP6_CONTENT);
	ck_assert_uint_eq(r.mid, mid);
	ck_assert_uint_eq(r.tkl, 2);
	ck_assert_mem_eq(r.token, "tk", 2);
	struct evudp6_opt o;
	uint32_t v;
	ck_assert(evudp6_msg_find_opt(&r, EVUDP6_OPT_BLOCK2, &o));
	ck_assert_int_eq(evudp6_opt_uint(&o, &v), 0);
	ck_assert_uint_eq(v >> 4, num);
	ck_assert_uint_eq((v >> 3) & 1u, more);
	ck_assert_uint_eq(v & 7u, szx);
	size_t size = 16u << szx, off = (size_t)num * size;
	ck_assert_uint_eq(r.payload_len, 3000 - off < size ? 3000 - off : size);
	for (size_t i = 0; i < r.payload_len; i++)
		ck_assert_uint_eq(r.payload[i], body_byte(off + i));
}

static void packet_too_big_shrinks_a_block(bool v4)
{
	/* Room for 1024 bytes and the option (1152 would refuse them). */
	struct evudp6_messenger *m = mk_sized(1500);
	struct blocks k = {.pad = v4 ? 0 : 250};
	evudp6_messenger_set_request_cb(m, blocks_cb, &k);
	struct peer p;
	peer_open(&p);
	/* Block 1 of 1024 (bytes 1024..2047) goes out whole. */
	ask_block(&p, v4, mport(m), 0x7001, 1);
	TESTNET_LOOP_UNTIL(base, peer_read(&p) == 1);
	assert_block(&p, 0x7001, 1, true, 6);
	uint8_t first[2048];
	memcpy(first, p.b, p.len);
	/* The path takes less: 576 for IPv4; for IPv6 an MTU below the
	 * minimum counts as 1280, which the 250-byte option makes too small
	 * for 1024 bytes. Either way, block 2 of 512 (bytes 1024..1535)
	 * goes at once, in the same ACK. */
	forge(v4, v4 ? ICMP_DEST_UNREACH : ICMP6_PACKET_TOO_BIG, v4 ? ICMP_FRAG_NEEDED : 0, v4 ? 576 : 600,
	      mport(m), p.port, first, 64);
	TESTNET_LOOP_UNTIL(base, peer_read(&p) == 2);
	assert_block(&p, 0x7001, 2, true, 5);
	ck_assert_uint_le(p.len + (v4 ? 28 : 48), v4 ? 576 : 1280);
	struct evudp6_messenger_stats st = mstats(m);
	ck_assert_uint_eq(st.icmp_packet_too_big, 1);
	ck_assert_uint_eq(st.packet_too_big_resends, 1);
	ck_assert_uint_eq(st.packet_too_big_block_shrinks, 1);
	ck_assert_uint_eq(st.retransmissions, 0);
	/* A duplicate of the request gets the smaller answer, from the
	 * cache: the handler ran once. */
	ask_block(&p, v4, mport(m), 0x7001, 1);
	TESTNET_LOOP_UNTIL(base, peer_read(&p) == 3);
	assert_block(&p, 0x7001, 2, true, 5);
	ck_assert_int_eq(k.calls, 1);
	/* A Packet Too Big about an answer that fits what it says (the last
	 * block, 952 bytes, and MTU 1400) shrinks nothing. */
	ask_block(&p, v4, mport(m), 0x7002, 2);
	TESTNET_LOOP_UNTIL(base, peer_read(&p) == 4);
	assert_block(&p, 0x7002, 2, false, 6);
	memcpy(first, p.b, p.len);
	forge(v4, v4 ? ICMP_DEST_UNREACH : ICMP6_PACKET_TOO_BIG, v4 ? ICMP_FRAG_NEEDED : 0, 1400, mport(m),
	      p.port, first, 64);
	TESTNET_LOOP_UNTIL(base, mstats(m).icmp_errors == 2);
	run_for(50);
	st = mstats(m);
	ck_assert_uint_eq(st.packet_too_big_block_shrinks, 1);
	evudp6_messenger_free(m);
	close(p.fd);
}

START_TEST(packet_too_big_resends_a_response_block_smaller_at_once_v4)
{
	packet_too_big_shrinks_a_block(true);
}
END_TEST

START_TEST(packet_too_big_resends_a_response_block_smaller_at_once_v6)
{
	packet_too_big_shrinks_a_block(false);
}
END_TEST

/* ------------------------------------------------------------ soft errors */

struct kind {
	uint8_t type, code;
	uint32_t info;
};

/* What the soft-error callback was told. */
struct told {
	int calls;
	int err[4];
	struct evudp6_icmp icmp[4];
	struct evudp6_addr remote[4];
	bool free_messenger;
};

static void told_cb(struct evudp6_messenger *m, int err, const struct evudp6_icmp *icmp,
                    const struct evudp6_addr *remote, void *arg)
{
	struct told *t = arg;
	if (t->calls < 4) {
		t->err[t->calls] = err;
		t->icmp[t->calls] = *icmp;
		t->remote[t->calls] = *remote;
	}
	t->calls++;
	if (t->free_messenger)
		evudp6_messenger_free(m);
}

static void soft_errors_fail_nothing(bool v4)
{
	/* Time Exceeded and Parameter Problem: counted, nothing sent, nothing
	 * failed. */
	const struct kind te = v4 ? (struct kind){ICMP_TIME_EXCEEDED, ICMP_EXC_TTL, 0}
	                          : (struct kind){ICMP6_TIME_EXCEEDED, ICMP6_TIME_EXCEED_TRANSIT, 0};
	const struct kind pp = v4 ? (struct kind){ICMP_PARAMETERPROB, 0, 20u << 24}
	                          : (struct kind){ICMP6_PARAM_PROB, ICMP6_PARAMPROB_OPTION, 40};
	const struct kind ptb = v4 ? (struct kind){ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, 576}
	                           : (struct kind){ICMP6_PACKET_TOO_BIG, 0, 1280};
	struct evudp6_messenger *m = mk();
	struct told told = {0};
	evudp6_messenger_set_icmp_cb(m, told_cb, &told);
	struct peer p;
	peer_open(&p);
	struct rec x = {0};
	uint8_t sent[256];
	size_t len;
	request(m, &p, v4, EVUDP6_CON, &x, sent, &len);
	forge(v4, te.type, te.code, te.info, mport(m), p.port, sent, len);
	forge(v4, pp.type, pp.code, pp.info, mport(m), p.port, sent, len);
	WAIT_ERRORS(m, 2);
	run_for(50);
	struct evudp6_messenger_stats st = mstats(m);
	ck_assert_uint_eq(st.icmp_errors, 2);
	ck_assert_uint_eq(st.icmp_time_exceeded, 1);
	ck_assert_uint_eq(st.icmp_parameter_problem, 1);
	ck_assert_uint_eq(st.icmp_vetted_out, 0);
	ck_assert_uint_eq(st.exchanges_failed, 0);
	ck_assert_int_eq(x.calls, 0);
	ck_assert_int_eq(peer_read(&p), 1);
	/* Packet Too Big: the same message again at once, not 5 s later. */
	forge(v4, ptb.type, ptb.code, ptb.info, mport(m), p.port, sent, len);
	TESTNET_LOOP_UNTIL(base, peer_read(&p) == 2);
	ck_assert_int_eq(p.n, 2);
	ck_assert_uint_eq(p.len, len);
	ck_assert_mem_eq(p.b, sent, len);
	st = mstats(m);
	ck_assert_uint_eq(st.icmp_packet_too_big, 1);
	ck_assert_uint_eq(st.packet_too_big_resends, 1);
	ck_assert_uint_eq(st.retransmissions, 0);
	ck_assert_int_eq(x.calls, 0);
	/* A Packet Too Big whose quote does not reach into the token is
	 * vetted out: nothing is sent for it. */
	forge(v4, ptb.type, ptb.code, ptb.info, mport(m), p.port, sent, 6);
	WAIT_ERRORS(m, 4);
	run_for(50);
	ck_assert_int_eq(peer_read(&p), 2);
	st = mstats(m);
	ck_assert_uint_eq(st.icmp_vetted_out, 1);
	ck_assert_uint_eq(st.packet_too_big_resends, 1);
	/* Still pending, still answered. */
	peer_answer(&p);
	TESTNET_LOOP_UNTIL(base, x.calls == 1);
	ck_assert_int_eq(x.err, 0);
	ck_assert_uint_eq(x.code, EVUDP6_CONTENT);
	st = mstats(m);
	ck_assert_uint_eq(st.exchanges_failed, 0);
	ck_assert_uint_eq(st.icmp_errors, 4);
	/* The application was told of each vetted one, in order. */
	ck_assert_int_eq(told.calls, 3);
	const struct kind *k[3] = {&te, &pp, &ptb};
	const int err[3] = {-EHOSTUNREACH, -EPROTO, -EMSGSIZE};
	struct evudp6_addr to;
	lo_addr(&to, v4, p.port);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(told.err[i], err[i]);
		ck_assert_uint_eq(told.icmp[i].type, k[i]->type);
		ck_assert_uint_eq(told.icmp[i].code, k[i]->code);
		ck_assert(evudp6_addr_equal(&told.remote[i], &to));
	}
	ck_assert_uint_eq(told.icmp[2].info, ptb.info);
	evudp6_messenger_free(m);
	close(p.fd);
}

START_TEST(soft_icmp_errors_are_counted_and_fail_nothing_v6)
{
	soft_errors_fail_nothing(false);
}
END_TEST

START_TEST(soft_icmp_errors_are_counted_and_fail_nothing_v4)
{
	soft_errors_fail_nothing(true);
}
END_TEST

START_TEST(packet_too_big_resends_a_non_request_at_once)
{
	struct evudp6_messenger *m = mk();
	struct peer p;
	peer_open(&p);
	struct rec x = {0};
	uint8_t sent[256];
	size_t len;
	request(m, &p, false, EVUDP6_NON, &x, sent, &len);
	forge6(ICMP6_PACKET_TOO_BIG, 0, 1280, mport(m), p.port, sent, len);
	TESTNET_LOOP_UNTIL(base, peer_read(&p) == 2);
	ck_assert_int_eq(p.n, 2);
	ck_assert_mem_eq(p.b, sent, len);
	ck_assert_uint_eq(mstats(m).packet_too_big_resends, 1);
	ck_assert_int_eq(x.calls, 0);
	evudp6_messenger_free(m);
	close(p.fd);
}
END_TEST

START_TEST(packet_too_big_after_the_ack_resends_nothing)
{
	struct evudp6_messenger *m = mk();
	struct peer p;
	peer_open(&p);
	struct rec x = {0};
	uint8_t sent[256];
	size_t len;
	request(m, &p, false, EVUDP6_CON, &x, sent, &len);
	/* The server has it: an empty ACK. A Packet Too Big about an earlier
	 * copy then needs no new one. */
	const uint8_t ack[] = {0x60, 0x00, sent[2], sent[3]};
	ck_assert_int_eq(sendto(p.fd, ack, sizeof ack, 0, (struct sockaddr *)&p.from, sizeof p.from),
	                 (ssize_t)sizeof ack);
	run_for(30);
	forge6(ICMP6_PACKET_TOO_BIG, 0, 1280, mport(m), p.port, sent, len);
	WAIT_ERRORS(m, 1);
	run_for(50);
	ck_assert_int_eq(peer_read(&p), 1);
	struct evudp6_messenger_stats st = mstats(m);
	ck_assert_uint_eq(st.icmp_packet_too_big, 1);
	ck_assert_uint_eq(st.packet_too_big_resends, 0);
	ck_assert_uint_eq(st.requests_pending, 1);
	ck_assert_int_eq(x.calls, 0);
	evudp6_messenger_free(m);
	close(p.fd);
}
END_TEST

START_TEST(hard_icmp_errors_still_fail_at_once)
{
	/* No route, administratively prohibited, address unreachable (ICMPv6);
	 * host unreachable and communication prohibited (ICMP). */
	const struct {
		bool v4;
		uint8_t type, code;
		int err;
	} hard[] = {
	    {false, ICMP6_DST_UNREACH, ICMP6_DST_UNREACH_NOROUTE, -ENETUNREACH},
	    {false, ICMP6_DST_UNREACH, ICMP6_DST_UNREACH_ADMIN, -EACCES},
	    {false, ICMP6_DST_UNREACH, ICMP6_DST_UNREACH_ADDR, -EHOSTUNREACH},
	    {true, ICMP_DEST_UNREACH, ICMP_HOST_UNREACH, -EHOSTUNREACH},
	    {true, ICMP_DEST_UNREACH, ICMP_PKT_FILTERED, -EHOSTUNREACH},
	};
	struct evudp6_messenger *m = mk();
	struct told told = {0};
	evudp6_messenger_set_icmp_cb(m, told_cb, &told);
	struct peer p;
	peer_open(&p);
	for (size_t i = 0; i < sizeof hard / sizeof hard[0]; i++) {
		struct rec x = {0};
		uint8_t sent[256];
		size_t len;
		request(m, &p, hard[i].v4, EVUDP6_CON, &x, sent, &len);
		forge(hard[i].v4, hard[i].type, hard[i].code, 0, mport(m), p.port, sent, len);
		TESTNET_LOOP_UNTIL(base, x.calls == 1);
		ck_assert_int_eq(x.calls, 1);
		ck_assert_int_eq(x.err, hard[i].err);
		ck_assert_uint_eq(x.icmp.type, hard[i].type);
		ck_assert_uint_eq(x.icmp.code, hard[i].code);
	}
	struct evudp6_messenger_stats st = mstats(m);
	ck_assert_uint_eq(st.exchanges_failed, 5);
	ck_assert_uint_eq(st.icmp_vetted_out, 0);
	/* Told to the requests, not to the soft-error callback. */
	ck_assert_int_eq(told.calls, 0);
	evudp6_messenger_free(m);
	close(p.fd);
}
END_TEST

START_TEST(soft_icmp_cb_may_free_the_messenger)
{
	struct evudp6_messenger *m = mk();
	struct told told = {.free_messenger = true};
	evudp6_messenger_set_icmp_cb(m, told_cb, &told);
	struct peer p;
	peer_open(&p);
	struct rec x = {0};
	uint8_t sent[256];
	size_t len;
	request(m, &p, false, EVUDP6_CON, &x, sent, &len);
	uint16_t port = mport(m);
	forge6(ICMP6_PACKET_TOO_BIG, 0, 1280, port, p.port, sent, len);
	forge6(ICMP6_TIME_EXCEEDED, 0, 0, port, p.port, sent, len);
	TESTNET_LOOP_UNTIL(base, told.calls >= 1);
	run_for(50);
	ck_assert_int_eq(told.calls, 1);
	ck_assert_int_eq(x.calls, 0);
	close(p.fd);
}
END_TEST

/* ------------------------------------------------------------ local errors */

START_TEST(local_emsgsize_entry_is_counted_not_vetted)
{
	/* A loopback of 1280 bytes and path MTU discovery on: a larger
	 * datagram is refused by sendmsg() and the kernel also queues a local
	 * EMSGSIZE entry, which quotes nothing. */
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	strcpy(ifr.ifr_name, "lo");
	ifr.ifr_mtu = 1280;
	ck_assert_int_eq(ioctl(fd, SIOCSIFMTU, &ifr), 0);
	close(fd);
	struct evudp6_messenger *m = mk();
	struct peer p, other;
	peer_open(&p);
	peer_open(&other);
	struct rec x = {0};
	uint8_t sent[256];
	size_t len;
	request(m, &p, false, EVUDP6_CON, &x, sent, &len);
	struct evudp6_transport *t = evudp6_messenger_transport(m);
	int v = IPV6_PMTUDISC_DO;
	ck_assert_int_eq(setsockopt(evudp6_transport_fd(t), IPPROTO_IPV6, IPV6_MTU_DISCOVER, &v, sizeof v),
	                 0);
	struct evudp6_addr to;
	lo_addr(&to, false, other.port);
	static uint8_t big[1400];
	ck_assert_int_eq(evudp6_transport_send(t, &to, big, sizeof big), -EMSGSIZE);
	TESTNET_LOOP_UNTIL(base, mstats(m).icmp_errors == 1 && mstats(m).send_errors == 1);
	run_for(30);
	struct evudp6_messenger_stats st = mstats(m);
	ck_assert_uint_eq(st.send_errors, 1);
	ck_assert_uint_eq(st.icmp_errors, 1);
	ck_assert_uint_eq(st.icmp_local_errors, 1);
	ck_assert_uint_eq(st.icmp_vetted_out, 0);
	ck_assert_uint_eq(st.exchanges_failed, 0);
	ck_assert_int_eq(x.calls, 0);
	ck_assert_uint_eq(st.requests_pending, 1);
	evudp6_messenger_free(m);
	close(p.fd);
	close(other.fd);
}
END_TEST

/* The private loopback's MTU. */
static void lo_mtu(int mtu)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	strcpy(ifr.ifr_name, "lo");
	ifr.ifr_mtu = mtu;
	ck_assert_int_eq(ioctl(fd, SIOCSIFMTU, &ifr), 0);
	close(fd);
}

START_TEST(send_emsgsize_fails_only_the_request_refused)
{
	/* Two CON requests to one peer, one of 1400 bytes; then the path
	 * shrinks to 1280 (path MTU discovery on: no fragmentation). The
	 * large one's retransmission is refused with EMSGSIZE: that request
	 * ends with it, the small one to the same peer goes on. */
	struct evudp6_messenger *m = mk_with(1500, 200, 4);
	struct evudp6_transport *t = evudp6_messenger_transport(m);
	int v = IPV6_PMTUDISC_DO;
	ck_assert_int_eq(setsockopt(evudp6_transport_fd(t), IPPROTO_IPV6, IPV6_MTU_DISCOVER, &v, sizeof v),
	                 0);
	struct peer p;
	peer_open(&p);
	struct rec small = {0}, large = {0}, refused = {0};
	uint8_t sent[256];
	size_t len;
	request(m, &p, false, EVUDP6_CON, &small, sent, &len);
	struct evudp6_addr to;
	lo_addr(&to, false, p.port);
	static uint8_t body[1400 - 40 - 8 - 16];
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_POST, 0);
	evudp6_msg_builder_set_payload(&b, body, sizeof body);
	ck_assert_int_eq(evudp6_messenger_request(m, &to, &b, 0, rec_cb, &large, NULL), 0);
	TESTNET_LOOP_UNTIL(base, peer_read(&p) == 2);
	ck_assert_uint_gt(p.len, 1280);
	lo_mtu(1280);
	/* A new one of that size is refused at once, to its caller. */
	ck_assert_int_eq(evudp6_messenger_request(m, &to, &b, 0, rec_cb, &refused, NULL), -EMSGSIZE);
	TESTNET_LOOP_UNTIL(base, large.calls == 1);
	ck_assert_int_eq(large.err, -EMSGSIZE);
	ck_assert(!large.had_icmp);
	run_for(50);
	struct evudp6_messenger_stats st = mstats(m);
	ck_assert_int_eq(small.calls, 0);
	ck_assert_int_eq(refused.calls, 0);
	ck_assert_uint_eq(st.requests_pending, 1);
	ck_assert_uint_eq(st.exchanges_failed, 1);
	ck_assert_uint_ge(st.send_errors, 2);
	/* The small one is still retransmitted, and answered. */
	int before = peer_read(&p);
	TESTNET_LOOP_UNTIL(base, peer_read(&p) > before);
	ck_assert_uint_lt(p.len, 64);
	answered(&p, &small);
	evudp6_messenger_free(m);
	close(p.fd);
}
END_TEST

int main(void)
{
	const char *why = cannot_run();
	if (why) {
		printf("SKIP: check_vetting: %s\n", why);
		return TEST_SKIP;
	}
	Suite *s = suite_create("vetting");
	TCase *tc = tcase_create("forged");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, vetting_quote_of_the_header_alone_fails_nothing_v6);
	tcase_add_test(tc, vetting_quote_of_the_header_alone_fails_nothing_v4);
	tcase_add_test(tc, vetting_quote_with_a_wrong_token_fails_nothing);
	tcase_add_test(tc, vetting_short_quote_does_not_stop_a_separate_response);
	tcase_add_test(tc, soft_icmp_errors_are_counted_and_fail_nothing_v6);
	tcase_add_test(tc, soft_icmp_errors_are_counted_and_fail_nothing_v4);
	tcase_add_test(tc, packet_too_big_resends_a_non_request_at_once);
	tcase_add_test(tc, packet_too_big_resends_a_separate_response_at_once);
	tcase_add_test(tc, packet_too_big_after_the_ack_resends_nothing);
	tcase_add_test(tc, packet_too_big_resends_a_response_block_smaller_at_once_v4);
	tcase_add_test(tc, packet_too_big_resends_a_response_block_smaller_at_once_v6);
	tcase_add_test(tc, hard_icmp_errors_still_fail_at_once);
	tcase_add_test(tc, soft_icmp_cb_may_free_the_messenger);
	tcase_add_test(tc, local_emsgsize_entry_is_counted_not_vetted);
	tcase_add_test(tc, send_emsgsize_fails_only_the_request_refused);
	suite_add_tcase(s, tc);
	return testutil_run(s);
}
