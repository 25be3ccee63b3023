/*
 * evudp6-bench — shared declarations of the benchmark's parts: the load
 * generator (bench-load.c), the servers it measures (bench-serve.c) and
 * the driver that runs them side by side (evudp6-bench.c).
 */
#ifndef EVUDP6_BENCH_H
#define EVUDP6_BENCH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <netinet/in.h>

/* What every evudp6 and bare responder answers: ACK 2.05 with the
 * request's message id and token, Content-Format 0 and this payload. */
#define BENCH_PAYLOAD "hello"

struct bench_load_cfg {
	struct sockaddr_in6 dst;
	unsigned int outstanding; /* CON GETs in flight at all times */
	unsigned int sockets;     /* source sockets (remotes) they are spread over */
	double warmup_s;          /* not counted */
	double measure_s;         /* counted */
	pid_t server;             /* for CPU time over the measured span; 0 for none */
};

struct bench_load_result {
	uint64_t responses; /* matched responses in the measured span */
	uint64_t lost;      /* requests given up after the loss timeout (re-sent) */
	uint64_t stray;     /* datagrams that matched no request in flight */
	double seconds;     /* length of the measured span */
	double p50_us, p99_us, p999_us;
	double server_cpu; /* server CPU seconds / wall seconds in the span */
	double load_cpu;   /* the same for the load generator */
};

/* Drive a server with a fixed number of outstanding requests. Returns 0
 * or a negative errno (a setup failure). */
int bench_load_run(const struct bench_load_cfg *cfg, struct bench_load_result *res);

/* Send a GET to dst until it is answered (2.05) or timeout_ms passes.
 * Returns 0 when answered, -ETIMEDOUT otherwise. */
int bench_probe(const struct sockaddr_in6 *dst, int timeout_ms);

/* Run a server in this process until it is killed: kind is "bare",
 * "transport", "transport-flip" or "messenger"; shards > 1 runs that many
 * threads on the same port (SO_REUSEPORT; not for "bare"). Returns only on
 * a setup failure, with a message on stderr. */
int bench_serve(const char *kind, uint16_t port, unsigned int shards);

/* The block-wise cell (bench-block.c): a 1 MiB Block2 GET, evudp6 client
 * and server against coap-client-notls and coap-server-notls, on the two
 * ports given; prints its lines and returns 0, or 1 when a part failed. */
int bench_block(unsigned int rounds, uint16_t port_evudp6, uint16_t port_libcoap);
/* Serve GET /big (1 MiB, block-wise) on [::1]:port until killed. */
int bench_block_serve(uint16_t port);
/* The Observe cell: @p observers registrations, then timed notify rounds,
 * in this process. Prints its results and targets; 0 when every
 * registration was accepted. */
int bench_observe(unsigned int observers);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);

#endif /* EVUDP6_BENCH_H */
