/*
 * SO_REUSEPORT shards: N threads, each with its own event_base and its
 * own transport bound to the same address and port with cfg.reuseport.
 * The kernel picks the socket by a hash of the datagram's addresses and
 * ports, so datagrams from many remotes spread over the shards, and all
 * datagrams from one remote reach the same shard, which is what keeps a
 * shard's deduplication correct without any state shared between threads.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include <evudp6.h>

#include "testutil.h"

#define SHARDS  2
#define CLIENTS 64
#define ROUNDS  20

struct shard {
	unsigned int id;
	char bind[32];
	struct event_base *base;
	struct evudp6_transport *t;
	struct evudp6_messenger *m;
	struct event *stop_ev;
	int stop_pipe[2];
	pthread_t thread;
	unsigned long datagrams; /* read by the main thread after join */
	unsigned long requests;  /* messenger: new requests handed to the handler */
};

/* Answer: the request's bytes followed by the shard's id. */
static void echo_cb(struct evudp6_transport *t, const uint8_t *data, size_t len,
                    const struct evudp6_addr *remote, void *arg)
{
	struct shard *s = arg;
	s->datagrams++;
	uint8_t out[64];
	if (len + 1 > sizeof(out))
		return;
	memcpy(out, data, len);
	out[len] = (uint8_t)s->id;
	struct evudp6_addr to;
	evudp6_addr_response(remote, &to);
	evudp6_transport_send(t, &to, out, len + 1);
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct shard *s = arg;
	event_base_loopbreak(s->base);
}

static void *shard_main(void *arg)
{
	struct shard *s = arg;
	event_base_dispatch(s->base);
	return NULL;
}

/* Everything is created on the main thread (so a failure is a test
 * failure), then each base runs on its own thread and is touched by
 * nobody else until it has stopped. */
static void shard_init(struct shard *s, unsigned int id, uint16_t port)
{
	memset(s, 0, sizeof(*s));
	s->id = id;
	snprintf(s->bind, sizeof(s->bind), "[::1]:%u", port);
	s->base = event_base_new();
	ck_assert_ptr_nonnull(s->base);
	ck_assert_int_eq(pipe(s->stop_pipe), 0);
	s->stop_ev = event_new(s->base, s->stop_pipe[0], EV_READ, stop_cb, s);
	event_add(s->stop_ev, NULL);
}

static void shards_start_transport(struct shard *sh)
{
	uint16_t port = 0;
	for (unsigned int i = 0; i < SHARDS; i++) {
		/* The first shard picks the port, the others join it. */
		shard_init(&sh[i], i, port);
		struct evudp6_transport_config cfg = {
		    .size = sizeof(cfg), .bind = sh[i].bind, .reuseport = true};
		ck_assert_int_eq(evudp6_transport_new(&sh[i].t, sh[i].base, &cfg, echo_cb, NULL, &sh[i]), 0);
		ck_assert_int_eq(evudp6_transport_start(sh[i].t), 0);
		if (i == 0)
			port = evudp6_transport_port(sh[0].t);
		ck_assert_uint_eq(evudp6_transport_port(sh[i].t), port);
	}
	for (unsigned int i = 0; i < SHARDS; i++)
		ck_assert_int_eq(pthread_create(&sh[i].thread, NULL, shard_main, &sh[i]), 0);
}

static void shards_stop(struct shard *sh)
{
	for (unsigned int i = 0; i < SHARDS; i++) {
		ck_assert_int_eq(write(sh[i].stop_pipe[1], "x", 1), 1);
		pthread_join(sh[i].thread, NULL);
	}
}

static void shards_free(struct shard *sh)
{
	for (unsigned int i = 0; i < SHARDS; i++) {
		if (sh[i].t)
			evudp6_transport_free(sh[i].t);
		if (sh[i].m)
			evudp6_messenger_free(sh[i].m);
		event_free(sh[i].stop_ev);
		event_base_free(sh[i].base);
		close(sh[i].stop_pipe[0]);
		close(sh[i].stop_pipe[1]);
	}
}

static int client_socket(void)
{
	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void send_to_port(int fd, uint16_t port, const void *data, size_t len)
{
	struct sockaddr_in6 sa = {
	    .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT, .sin6_port = htons(port)};
	ck_assert_int_eq(sendto(fd, data, len, 0, (struct sockaddr *)&sa, sizeof(sa)), (ssize_t)len);
}

/* Read whatever answers arrive on the clients within @p ms; calls
 * @p seen for each. Returns how many arrived. */
static int collect(const int *fds, int want, int ms,
                   void (*seen)(int client, const uint8_t *p, size_t n, void *arg), void *arg)
{
	struct pollfd p[CLIENTS];
	for (int i = 0; i < CLIENTS; i++)
		p[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
	int got = 0;
	while (got < want && poll(p, CLIENTS, ms) > 0) {
		for (int i = 0; i < CLIENTS; i++) {
			uint8_t buf[64];
			ssize_t n;
			while ((n = recv(fds[i], buf, sizeof(buf), 0)) > 0) {
				seen(i, buf, (size_t)n, arg);
				got++;
			}
		}
	}
	return got;
}

struct tally {
	int answers[CLIENTS][ROUNDS];
	int shard_of[CLIENTS]; /* -1 until the first answer */
	int mixed;             /* clients answered by more than one shard */
	int bad;
};

static void tally_echo(int client, const uint8_t *p, size_t n, void *arg)
{
	struct tally *t = arg;
	if (n != 3 || p[0] != client || p[1] >= ROUNDS || p[2] >= SHARDS) {
		t->bad++;
		return;
	}
	t->answers[client][p[1]]++;
	if (t->shard_of[client] < 0)
		t->shard_of[client] = p[2];
	else if (t->shard_of[client] != p[2])
		t->mixed++;
}

START_TEST(shards_spread_remotes_and_keep_each_on_one_shard)
{
	struct shard sh[SHARDS];
	shards_start_transport(sh);
	uint16_t port = evudp6_transport_port(sh[0].t);
	int fds[CLIENTS];
	struct tally t = {0};
	for (int i = 0; i < CLIENTS; i++) {
		fds[i] = client_socket();
		t.shard_of[i] = -1;
	}
	/* One request per client per round, so that no receive queue holds
	 * more than CLIENTS datagrams at a time. */
	for (int r = 0; r < ROUNDS; r++) {
		for (int i = 0; i < CLIENTS; i++) {
			uint8_t req[2] = {(uint8_t)i, (uint8_t)r};
			send_to_port(fds[i], port, req, sizeof(req));
		}
		ck_assert_int_eq(collect(fds, CLIENTS, 2000, tally_echo, &t), CLIENTS);
	}
	/* Nothing is answered twice: nothing more arrives. */
	ck_assert_int_eq(collect(fds, 1, 100, tally_echo, &t), 0);
	shards_stop(sh);

	ck_assert_int_eq(t.bad, 0);
	for (int i = 0; i < CLIENTS; i++)
		for (int r = 0; r < ROUNDS; r++)
			ck_assert_int_eq(t.answers[i][r], 1);
	/* One remote, one shard: every answer a client got came from the
	 * shard that answered its first request. */
	ck_assert_int_eq(t.mixed, 0);
	unsigned long clients_on[SHARDS] = {0};
	for (int i = 0; i < CLIENTS; i++)
		clients_on[t.shard_of[i]]++;
	/* Both shards work: with 64 remotes, all on one shard would have a
	 * probability of 2^-63 if the kernel spread them at all. */
	for (unsigned int s = 0; s < SHARDS; s++) {
		ck_assert_uint_gt(clients_on[s], 0);
		ck_assert_uint_eq(sh[s].datagrams, clients_on[s] * ROUNDS);
	}
	ck_assert_uint_eq(sh[0].datagrams + sh[1].datagrams, CLIENTS * ROUNDS);
	for (int i = 0; i < CLIENTS; i++)
		close(fds[i]);
	shards_free(sh);
}
END_TEST

START_TEST(shard_without_reuseport_cannot_join_the_port)
{
	struct event_base *base = event_base_new();
	struct evudp6_transport *a = NULL, *b = NULL;
	struct evudp6_transport_config cfg = {.size = sizeof(cfg), .bind = "[::1]:0", .reuseport = true};
	ck_assert_int_eq(evudp6_transport_new(&a, base, &cfg, echo_cb, NULL, NULL), 0);
	ck_assert_int_eq(evudp6_transport_start(a), 0);
	char bind[32];
	snprintf(bind, sizeof(bind), "[::1]:%u", evudp6_transport_port(a));
	struct evudp6_transport_config cfg2 = {.size = sizeof(cfg2), .bind = bind};
	ck_assert_int_eq(evudp6_transport_new(&b, base, &cfg2, echo_cb, NULL, NULL), 0);
	ck_assert_int_eq(evudp6_transport_start(b), -EADDRINUSE);
	evudp6_transport_free(a);
	evudp6_transport_free(b);
	event_base_free(base);
}
END_TEST

static void request_cb(struct evudp6_messenger *m, struct evudp6_exchange *ex, const struct evudp6_msg *req,
                       const struct evudp6_addr *remote, void *arg)
{
	(void)m;
	(void)req;
	(void)remote;
	struct shard *s = arg;
	s->requests++;
	uint8_t id = (uint8_t)s->id;
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, EVUDP6_ACK, EVUDP6_CONTENT, 0);
	evudp6_msg_builder_set_payload(&b, &id, 1);
	evudp6_exchange_respond(ex, &b);
}

struct dup_tally {
	int answers[CLIENTS];
	int shard_of[CLIENTS];
	int mixed, bad;
};

static void tally_dup(int client, const uint8_t *p, size_t n, void *arg)
{
	struct dup_tally *t = arg;
	/* ACK 2.05, token length 1 (the client), payload marker, shard id */
	if (n != 7 || p[0] != 0x61 || p[1] != EVUDP6_CONTENT || p[4] != client || p[5] != 0xff ||
	    p[6] >= SHARDS) {
		t->bad++;
		return;
	}
	t->answers[client]++;
	if (t->shard_of[client] < 0)
		t->shard_of[client] = p[6];
	else if (t->shard_of[client] != p[6])
		t->mixed++;
}

START_TEST(messenger_shards_deduplicate_each_remote_on_its_shard)
{
	struct shard sh[SHARDS];
	uint16_t port = 0;
	for (unsigned int i = 0; i < SHARDS; i++) {
		shard_init(&sh[i], i, port);
		struct evudp6_transport_config tcfg = {
		    .size = sizeof(tcfg), .bind = sh[i].bind, .reuseport = true};
		ck_assert_int_eq(evudp6_messenger_new(&sh[i].m, sh[i].base, &tcfg, NULL), 0);
		evudp6_messenger_set_request_cb(sh[i].m, request_cb, &sh[i]);
		ck_assert_int_eq(evudp6_messenger_start(sh[i].m), 0);
		if (i == 0)
			port = evudp6_transport_port(evudp6_messenger_transport(sh[0].m));
	}
	for (unsigned int i = 0; i < SHARDS; i++)
		ck_assert_int_eq(pthread_create(&sh[i].thread, NULL, shard_main, &sh[i]), 0);

	int fds[CLIENTS];
	struct dup_tally t = {0};
	for (int i = 0; i < CLIENTS; i++) {
		fds[i] = client_socket();
		t.shard_of[i] = -1;
	}
	/* Each client sends one CON GET twice (a retransmission): the copy
	 * must reach the shard that saw the original, which answers it
	 * from its cache without calling the handler again. */
	for (int i = 0; i < CLIENTS; i++) {
		uint8_t req[5] = {0x41, EVUDP6_GET, 0x12, (uint8_t)i, (uint8_t)i};
		send_to_port(fds[i], port, req, sizeof(req));
		send_to_port(fds[i], port, req, sizeof(req));
	}
	ck_assert_int_eq(collect(fds, 2 * CLIENTS, 2000, tally_dup, &t), 2 * CLIENTS);
	ck_assert_int_eq(collect(fds, 1, 100, tally_dup, &t), 0);
	shards_stop(sh);

	ck_assert_int_eq(t.bad, 0);
	ck_assert_int_eq(t.mixed, 0);
	for (int i = 0; i < CLIENTS; i++)
		ck_assert_int_eq(t.answers[i], 2);
	unsigned long requests = 0, duplicates = 0;
	for (unsigned int s = 0; s < SHARDS; s++) {
		struct evudp6_messenger_stats st;
		evudp6_messenger_stats(sh[s].m, &st, sizeof(st));
		ck_assert_uint_gt(sh[s].requests, 0);
		ck_assert_uint_eq(st.duplicates_answered, sh[s].requests);
		requests += sh[s].requests;
		duplicates += st.duplicates_answered;
	}
	ck_assert_uint_eq(requests, CLIENTS);
	ck_assert_uint_eq(duplicates, CLIENTS);
	for (int i = 0; i < CLIENTS; i++)
		close(fds[i]);
	shards_free(sh);
}
END_TEST

static Suite *shards_suite(void)
{
	Suite *s = suite_create("shards");
	TCase *tc = tcase_create("loopback");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, shards_spread_remotes_and_keep_each_on_one_shard);
	tcase_add_test(tc, shard_without_reuseport_cannot_join_the_port);
	tcase_add_test(tc, messenger_shards_deduplicate_each_remote_on_its_shard);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(shards_suite());
}
