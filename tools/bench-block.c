/*
 * evudp6-bench — the block-wise cell: a 1 MiB body fetched over loopback
 * with Block2 (1024-byte blocks), evudp6 client against evudp6 server and
 * libcoap's coap-client-notls against coap-server-notls, in one run.
 *
 * The evudp6 server runs in its own process (pinned to CPU 0) and answers
 * GET /big with evudp6_block_respond(); the evudp6 client runs here. The
 * libcoap pair is coap-server-notls holding the same body (PUT there by
 * coap-client-notls before the rounds) and one coap-client-notls -b 1024
 * per round: its time includes the client's start-up, reported apart
 * (a one-block GET by the same client) so the ratio can be read both ways.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <event2/event.h>

#include <evudp6.h>

#include "bench.h"

#define BODY_LEN         (1024u * 1024u)
#define BLOCKS           (BODY_LEN / 1024u)
#define MAX_BLOCK_ROUNDS 32

static uint8_t *make_body(void)
{
	uint8_t *b = malloc(BODY_LEN);
	if (!b)
		return NULL;
	for (size_t i = 0; i < BODY_LEN; i++)
		b[i] = (uint8_t)(i * 31u + (i >> 10));
	return b;
}

/* ------------------------------------------------------------ server */

struct serve {
	struct evudp6_block_server *bs;
	uint8_t *body;
};

static void serve_cb(struct evudp6_messenger *m, struct evudp6_exchange *ex, const struct evudp6_msg *req,
                     const struct evudp6_addr *remote, void *arg)
{
	(void)m;
	struct serve *s = arg;
	struct evudp6_msg whole;
	if (evudp6_block_server_handle(s->bs, ex, req, remote, &whole) != 1)
		return;
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, EVUDP6_ACK, EVUDP6_CONTENT, 0);
	evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_CONTENT_FORMAT, 42);
	if (evudp6_block_respond(s->bs, ex, &whole, &b, s->body, BODY_LEN) < 0)
		evudp6_exchange_respond(ex, NULL);
}

int bench_block_serve(uint16_t port)
{
	static struct serve s;
	struct event_base *base = event_base_new();
	struct evudp6_messenger *m = NULL;
	char bind[32];
	snprintf(bind, sizeof(bind), "[::1]:%u", port);
	struct evudp6_transport_config tcfg = {.size = sizeof(tcfg), .bind = bind};
	struct evudp6_block_server_config bcfg;
	evudp6_block_server_config_init(&bcfg, sizeof(bcfg));
	bcfg.max_body = BODY_LEN;
	if (!base || !(s.body = make_body()) || evudp6_block_server_new(&s.bs, &bcfg) < 0 ||
	    evudp6_messenger_new(&m, base, &tcfg, NULL) < 0) {
		fprintf(stderr, "evudp6-bench: block server set-up failed\n");
		return -1;
	}
	evudp6_messenger_set_request_cb(m, serve_cb, &s);
	if (evudp6_messenger_start(m) < 0) {
		fprintf(stderr, "evudp6-bench: cannot bind %s\n", bind);
		return -1;
	}
	event_base_dispatch(base);
	return 0;
}

/* ------------------------------------------------------------ client */

struct fetch {
	int err;
	bool done;
	size_t len;
	bool same;
	uint64_t blocks;
	const uint8_t *want;
};

static void fetched(struct evudp6_block_request *br, int err, const struct evudp6_msg *rsp,
                    const struct evudp6_addr *remote, const struct evudp6_icmp *icmp, void *arg)
{
	(void)remote, (void)icmp;
	struct fetch *f = arg;
	struct evudp6_block_request_stats st;
	evudp6_block_request_stats(br, &st, sizeof(st));
	f->done = true;
	f->err = err;
	f->blocks = st.blocks_received;
	if (rsp) {
		f->len = rsp->payload_len;
		f->same = rsp->payload_len == BODY_LEN && memcmp(rsp->payload, f->want, BODY_LEN) == 0;
	}
}

/* One 1 MiB GET by the evudp6 client; seconds, or < 0 on failure. */
static double evudp6_round(struct event_base *base, struct evudp6_messenger *m, const struct evudp6_addr *to,
                           const uint8_t *want)
{
	struct fetch f = {.want = want};
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_GET, 0);
	evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_PATH, "big", 3);
	struct evudp6_block_config cfg;
	evudp6_block_config_init(&cfg, sizeof(cfg));
	cfg.max_body = BODY_LEN;
	uint64_t t0 = bench_now_ns();
	if (evudp6_block_request(m, to, &b, &cfg, fetched, &f, NULL) < 0)
		return -1;
	while (!f.done)
		event_base_loop(base, EVLOOP_ONCE);
	double s = (double)(bench_now_ns() - t0) / 1e9;
	if (f.err || !f.same || f.blocks != BLOCKS) {
		fprintf(stderr, "evudp6-bench: evudp6 fetch failed: %s, %zu bytes, %llu blocks\n",
		        evudp6_strerror(f.err), f.len, (unsigned long long)f.blocks);
		return -1;
	}
	return s;
}

/* Run a command with stdout and stderr to /dev/null; seconds, or < 0. */
static double run_timed(char *const argv[])
{
	uint64_t t0 = bench_now_ns();
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		dup2(null, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -1;
	return (double)(bench_now_ns() - t0) / 1e9;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, unsigned int n)
{
	qsort(v, n, sizeof(*v), by_value);
	return v[n / 2];
}

static pid_t start_child(char *const argv[], unsigned int cpu_first)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n >= 2) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(cpu_first, &set);
		sched_setaffinity(0, sizeof(set), &set);
	}
	int null = open("/dev/null", O_WRONLY);
	dup2(null, 1);
	dup2(null, 2);
	execvp(argv[0], argv);
	_exit(127);
}

static void stop_child(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

int bench_block(unsigned int rounds, uint16_t port_evudp6, uint16_t port_libcoap)
{
	if (rounds < 1 || rounds > MAX_BLOCK_ROUNDS)
		return -EINVAL;
	uint8_t *body = make_body();
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (!body || n < 0)
		return -ENOMEM;
	self[n] = 0;
	char pe[8], pl[8];
	snprintf(pe, sizeof(pe), "%u", port_evudp6);
	snprintf(pl, sizeof(pl), "%u", port_libcoap);
	char *srv_argv[] = {self, "serve", "block", pe, NULL};
	pid_t srv = start_child(srv_argv, 0);
	char *coap_argv[] = {"coap-server-notls", "-A", "::1", "-p", pl, "-d", "4", "-v", "0", NULL};
	pid_t coap = start_child(coap_argv, 0);

	/* Client side of evudp6 here; wait until the server answers. */
	struct event_base *base = event_base_new();
	struct evudp6_messenger *m = NULL;
	struct evudp6_transport_config tcfg = {.size = sizeof(tcfg), .bind = "[::1]:0"};
	struct evudp6_addr to;
	int status = 0;
	if (!base || evudp6_messenger_new(&m, base, &tcfg, NULL) < 0 || evudp6_messenger_start(m) < 0 ||
	    evudp6_addr_from_literal(&to, "::1", port_evudp6, 0) < 0) {
		fprintf(stderr, "evudp6-bench: block client set-up failed\n");
		status = 1;
		goto out;
	}
	struct sockaddr_in6 dst = {
	    .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT, .sin6_port = htons(port_evudp6)};
	struct sockaddr_in6 cdst = dst;
	cdst.sin6_port = htons(port_libcoap);
	if (bench_probe(&dst, 5000) < 0 || bench_probe(&cdst, 5000) < 0) {
		fprintf(stderr, "evudp6-bench: a block server does not answer\n");
		status = 1;
		goto out;
	}
	/* The same body on coap-server-notls. */
	char file[] = "/tmp/evudp6-bench-block.XXXXXX";
	int fd = mkstemp(file);
	if (fd < 0 || write(fd, body, BODY_LEN) != (ssize_t)BODY_LEN) {
		fprintf(stderr, "evudp6-bench: cannot write %s\n", file);
		status = 1;
		goto out;
	}
	close(fd);
	char uri[64], small[64], got[64];
	snprintf(uri, sizeof(uri), "coap://[::1]:%u/big", port_libcoap);
	snprintf(small, sizeof(small), "coap://[::1]:%u/", port_libcoap);
	snprintf(got, sizeof(got), "%s.got", file);
	char *put_argv[] = {"coap-client-notls", "-m", "put", "-b", "1024", "-f", file, uri, NULL};
	char *get_argv[] = {"coap-client-notls", "-b", "1024", "-o", got, uri, NULL};
	char *one_argv[] = {"coap-client-notls", small, NULL};
	if (run_timed(put_argv) < 0) {
		fprintf(stderr, "evudp6-bench: coap-client-notls could not PUT the body\n");
		status = 1;
		goto cleanup;
	}
	double te[MAX_BLOCK_ROUNDS], tl[MAX_BLOCK_ROUNDS], t1[MAX_BLOCK_ROUNDS];
	for (unsigned int r = 0; r < rounds; r++) {
		te[r] = evudp6_round(base, m, &to, body);
		tl[r] = run_timed(get_argv);
		t1[r] = run_timed(one_argv);
		struct stat st;
		if (tl[r] >= 0 && (stat(got, &st) < 0 || st.st_size != (off_t)BODY_LEN))
			tl[r] = -1;
		if (te[r] < 0 || tl[r] < 0 || t1[r] < 0) {
			fprintf(stderr,
			        "evudp6-bench: block round %u failed (evudp6 %.3f s, libcoap %.3f s)\n", r,
			        te[r], tl[r]);
			status = 1;
			goto cleanup;
		}
	}
	double e = median(te, rounds), l = median(tl, rounds), one = median(t1, rounds);
	double lnet = l - one > 0 ? l - one : l;
	printf("\nblock-wise: 1 MiB GET, %u blocks of 1024, median of %u rounds\n", BLOCKS, rounds);
	printf("  %-34s %8.1f ms  %7.2f MB/s  %8.0f blocks/s\n", "evudp6 client -> evudp6 server", e * 1e3,
	       BODY_LEN / e / 1e6, BLOCKS / e);
	printf("  %-34s %8.1f ms  %7.2f MB/s  %8.0f blocks/s\n", "coap-client -> coap-server-notls", l * 1e3,
	       BODY_LEN / l / 1e6, BLOCKS / l);
	printf("  %-34s %8.1f ms  %7.2f MB/s  %8.0f blocks/s  (less a one-block GET: %.1f ms)\n",
	       "  libcoap without client start-up", lnet * 1e3, BODY_LEN / lnet / 1e6, BLOCKS / lnet,
	       one * 1e3);
	printf("target evudp6 block-wise >= libcoap: %.2f x (%.2f x without its start-up): %s\n", l / e,
	       lnet / e, e <= lnet ? "met" : "MISSED");
cleanup:
	unlink(file);
	unlink(got);
out:
	evudp6_messenger_free(m);
	if (base)
		event_base_free(base);
	stop_child(srv);
	stop_child(coap);
	free(body);
	return status;
}
