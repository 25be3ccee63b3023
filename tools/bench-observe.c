/*
 * evudp6-bench — the Observe cell: one messenger in this process accepts
 * N registrations from many source ports on loopback, then notifies every
 * observer once per round. Reports the CPU time per observer of a round
 * (the sends included) and the bytes of observe state per observation.
 */
#include "config.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <event2/event.h>

#include <evudp6.h>

#include "bench.h"

#define ROUNDS 5

struct obs_bench {
	struct evudp6_observation_handle *o;
	unsigned int n, cap;
};

static void request_cb(struct evudp6_messenger *m, struct evudp6_exchange_handle ex,
                       const struct evudp6_msg *req, const struct evudp6_addr *remote, void *arg)
{
	(void)m, (void)remote;
	struct obs_bench *ob = arg;
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, 0, EVUDP6_CONTENT, 0);
	evudp6_msg_builder_set_payload(&b, "tick 0", 6);
	if (ob->n < ob->cap && evudp6_observe_accept(ex, req, &b, NULL, NULL, &ob->o[ob->n]) == 0)
		ob->n++;
	else
		evudp6_exchange_respond(ex, &b);
}

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t heap_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Read and count what waits on the observers' sockets. */
static unsigned long drain(const int *fd, unsigned int nsock)
{
	unsigned long k = 0;
	uint8_t buf[256];
	for (unsigned int i = 0; i < nsock; i++)
		while (recv(fd[i], buf, sizeof buf, MSG_DONTWAIT) > 0)
			k++;
	return k;
}

int bench_observe(unsigned int n)
{
	/* One source port per observer where the descriptor limit allows,
	 * else several tokens per port. */
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rlim_t want = (rlim_t)n + 256;
	if (rl.rlim_cur < want) {
		rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	unsigned int nsock = rl.rlim_cur > 256 + 64 ? (unsigned int)(rl.rlim_cur - 256) : 64;
	if (nsock > n)
		nsock = n;
	unsigned int per = (n + nsock - 1) / nsock;

	struct event_base *base = event_base_new();
	struct evudp6_messenger *m;
	struct evudp6_transport_config tc = {.size = sizeof(tc), .bind = "[::1]:0"};
	struct obs_bench ob = {.o = calloc(n, sizeof(*ob.o)), .cap = n};
	int *fd = calloc(nsock, sizeof(*fd));
	if (!base || !ob.o || !fd || evudp6_messenger_new(&m, base, &tc, NULL) < 0) {
		fprintf(stderr, "evudp6-bench observe: set-up failed\n");
		return 1;
	}
	struct evudp6_observe_config oc;
	evudp6_observe_config_init(&oc, sizeof(oc));
	oc.max_observations = n;
	oc.max_per_remote = per;
	oc.max_observers = 1;
	size_t heap0 = heap_bytes();
	int rc = evudp6_observe_setup(m, &oc);
	size_t state = heap_bytes() - heap0;
	evudp6_messenger_set_request_cb(m, request_cb, &ob);
	if (rc < 0 || evudp6_messenger_start(m) < 0) {
		fprintf(stderr, "evudp6-bench observe: %s\n", evudp6_strerror(rc));
		return 1;
	}
	struct sockaddr_in6 dst = {.sin6_family = AF_INET6,
	                           .sin6_addr = IN6ADDR_LOOPBACK_INIT,
	                           .sin6_port = htons(evudp6_transport_port(evudp6_messenger_transport(m)))};
	for (unsigned int i = 0; i < nsock; i++) {
		fd[i] = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
		if (fd[i] < 0 || bind(fd[i], (struct sockaddr *)&a, sizeof a) < 0) {
			fprintf(stderr, "evudp6-bench observe: socket %u: %s\n", i, strerror(errno));
			return 1;
		}
	}

	/* Register in batches the server's socket buffer can hold. */
	unsigned int sent = 0;
	uint64_t t_end = bench_now_ns() + 20000000000ull;
	while (ob.n < n && bench_now_ns() < t_end) {
		for (unsigned int k = 0; k < 256 && sent < n; k++, sent++) {
			uint8_t buf[64];
			uint32_t tok = sent;
			struct evudp6_msg_builder b;
			evudp6_msg_builder_init(&b, EVUDP6_NON, EVUDP6_GET, (uint16_t)sent);
			evudp6_msg_builder_set_token(&b, &tok, sizeof tok);
			evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_OBSERVE, 0);
			evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_PATH, "obs", 3);
			ssize_t len = evudp6_msg_encode(&b, buf, sizeof buf);
			sendto(fd[sent % nsock], buf, (size_t)len, 0, (struct sockaddr *)&dst, sizeof dst);
		}
		uint64_t t_batch = bench_now_ns() + 1000000000ull;
		while (ob.n < sent && bench_now_ns() < t_batch)
			event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		if (ob.n < sent)
			sent = ob.n; /* lost: those tokens are sent again */
		drain(fd, nsock);
	}

	double per_obs_us[ROUNDS], wall_ms[ROUNDS];
	unsigned long received = 0;
	char text[32];
	for (int r = 0; r < ROUNDS; r++) {
		struct evudp6_msg_builder b;
		int len = snprintf(text, sizeof text, "tick %d", r + 1);
		evudp6_msg_builder_init(&b, 0, EVUDP6_CONTENT, 0);
		evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_CONTENT_FORMAT, 0);
		evudp6_msg_builder_set_payload(&b, text, (size_t)len);
		uint64_t w0 = bench_now_ns();
		double c0 = cpu_s();
		evudp6_observation_notify_many(ob.o, ob.n, &b);
		/* Whatever the socket could not take at once leaves now. */
		event_base_loop(base, EVLOOP_NONBLOCK);
		per_obs_us[r] = (cpu_s() - c0) * 1e6 / (ob.n ? ob.n : 1);
		wall_ms[r] = (double)(bench_now_ns() - w0) / 1e6;
		received = drain(fd, nsock);
	}
	qsort(per_obs_us, ROUNDS, sizeof(double), by_value);
	qsort(wall_ms, ROUNDS, sizeof(double), by_value);
	struct evudp6_observe_stats st;
	evudp6_observe_stats(m, &st, sizeof(st));
	double bytes = (double)state / (ob.n ? ob.n : 1);
	printf("\nobserve: %u observers over %u source ports; notify round (median of %d): %.2f µs CPU per "
	       "observer, %.1f ms wall; %lu of %u notifications received in the last round; %.0f bytes of "
	       "observe state per observation (%zu in all)\n",
	       ob.n, nsock, ROUNDS, per_obs_us[ROUNDS / 2], wall_ms[ROUNDS / 2], received, ob.n, bytes,
	       state);
	printf("target observe CPU per observer < 5 µs: %.2f µs (%s)\n", per_obs_us[ROUNDS / 2],
	       per_obs_us[ROUNDS / 2] < 5.0 ? "met" : "MISSED");
	printf("target observe state < 256 bytes per observation: %.0f (%s)\n", bytes,
	       bytes < 256 ? "met" : "MISSED");
	for (unsigned int i = 0; i < nsock; i++)
		close(fd[i]);
	free(fd);
	free(ob.o);
	evudp6_messenger_free(m);
	event_base_free(base);
	return ob.n == n ? 0 : 1;
}
