/*
 * evudp6-bench — load generator: a fixed number of CON GETs in flight at
 * all times, spread over several connected source sockets (several
 * remotes, as SO_REUSEPORT sharding needs), read with recvmmsg and sent
 * with sendmmsg so that the generator is not what limits the rate.
 *
 * Every request has its own message id (per socket) and token: two bytes
 * of slot number, four of sequence number, two fixed. A response counts
 * only if it is ACK 2.05 with the id and token of the request its slot
 * has in flight; the latency is from the sendmmsg() that carried the
 * request to the recvmmsg() that returned the response.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "bench.h"

#define REQ_LEN 12
#define BATCH   64
/* A request unanswered this long is counted lost and sent again. */
#define LOSS_NS (200 * 1000000ull)
/* Latency histogram: 100 ns buckets up to 100 ms, then one overflow. */
#define HIST_NS      100u
#define HIST_BUCKETS 1000000u

struct slot {
	uint64_t sent_ns;
	uint32_t seq;
	uint16_t mid;
	bool pending;
};

struct lsock {
	int fd;
	uint16_t next_mid;
};

struct load {
	const struct bench_load_cfg *cfg;
	struct lsock *socks;
	struct slot *slots;
	uint32_t *hist;
	uint32_t next_seq;
	bool measuring;
	uint64_t responses, lost, stray;
};

uint64_t bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double cpu_of_pid(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	/* Fields after the command name, which may hold spaces: state is the
	 * 3rd field, utime the 14th and stime the 15th. */
	char *p = strrchr(buf, ')');
	unsigned long ut = 0, st = 0;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double cpu_of_self(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void encode_request(uint8_t *p, uint16_t mid, uint32_t slot, uint32_t seq)
{
	p[0] = 0x48; /* version 1, CON, token length 8 */
	p[1] = 0x01; /* GET */
	p[2] = (uint8_t)(mid >> 8);
	p[3] = (uint8_t)mid;
	p[4] = (uint8_t)(slot >> 8);
	p[5] = (uint8_t)slot;
	p[6] = (uint8_t)(seq >> 24);
	p[7] = (uint8_t)(seq >> 16);
	p[8] = (uint8_t)(seq >> 8);
	p[9] = (uint8_t)seq;
	p[10] = 'e';
	p[11] = '6';
}

/* Put the given slots of socket s (back) in flight. */
static void send_slots(struct load *l, unsigned int s, const uint32_t *idx, unsigned int k)
{
	uint8_t buf[BATCH][REQ_LEN];
	struct iovec iov[BATCH];
	struct mmsghdr mm[BATCH];
	struct lsock *ls = &l->socks[s];
	for (unsigned int j = 0; j < k; j++) {
		struct slot *sl = &l->slots[idx[j]];
		sl->mid = ls->next_mid++;
		sl->seq = l->next_seq++;
		encode_request(buf[j], sl->mid, idx[j], sl->seq);
		iov[j] = (struct iovec){.iov_base = buf[j], .iov_len = REQ_LEN};
		mm[j].msg_hdr = (struct msghdr){.msg_iov = &iov[j], .msg_iovlen = 1};
	}
	uint64_t now = bench_now_ns();
	for (unsigned int j = 0; j < k; j++) {
		l->slots[idx[j]].sent_ns = now;
		l->slots[idx[j]].pending = true;
	}
	/* A failed send is left to the loss timeout, like a lost datagram. */
	for (unsigned int done = 0; done < k;) {
		int r = sendmmsg(ls->fd, mm + done, k - done, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		done += (unsigned int)r;
	}
}

static void handle_socket(struct load *l, unsigned int s)
{
	uint8_t buf[BATCH][64];
	struct iovec iov[BATCH];
	struct mmsghdr mm[BATCH];
	for (unsigned int i = 0; i < BATCH; i++) {
		iov[i] = (struct iovec){.iov_base = buf[i], .iov_len = sizeof(buf[i])};
		mm[i].msg_hdr = (struct msghdr){.msg_iov = &iov[i], .msg_iovlen = 1};
	}
	int n = recvmmsg(l->socks[s].fd, mm, BATCH, MSG_DONTWAIT, NULL);
	if (n <= 0)
		return;
	uint64_t now = bench_now_ns();
	uint32_t refill[BATCH];
	unsigned int k = 0, nsock = l->cfg->sockets;
	for (int i = 0; i < n; i++) {
		const uint8_t *p = buf[i];
		uint32_t slot = (uint32_t)p[4] << 8 | p[5];
		uint32_t seq = (uint32_t)p[6] << 24 | (uint32_t)p[7] << 16 | (uint32_t)p[8] << 8 | p[9];
		struct slot *sl = &l->slots[slot < l->cfg->outstanding ? slot : 0];
		if (mm[i].msg_len < REQ_LEN || p[0] != 0x68 || p[1] != 0x45 || slot >= l->cfg->outstanding ||
		    slot % nsock != s || !sl->pending || sl->seq != seq || sl->mid != (p[2] << 8 | p[3]) ||
		    p[10] != 'e' || p[11] != '6') {
			l->stray++;
			continue;
		}
		sl->pending = false;
		if (l->measuring) {
			uint64_t b = (now - sl->sent_ns) / HIST_NS;
			l->hist[b < HIST_BUCKETS ? b : HIST_BUCKETS]++;
			l->responses++;
		}
		refill[k++] = slot;
	}
	if (k > 0)
		send_slots(l, s, refill, k);
}

static void resend_lost(struct load *l, uint64_t now)
{
	unsigned int nsock = l->cfg->sockets;
	for (unsigned int s = 0; s < nsock; s++) {
		uint32_t idx[BATCH];
		unsigned int k = 0;
		for (uint32_t i = s; i < l->cfg->outstanding; i += nsock) {
			struct slot *sl = &l->slots[i];
			if (sl->pending && now - sl->sent_ns < LOSS_NS)
				continue;
			if (sl->pending)
				l->lost++;
			idx[k++] = i;
			if (k == BATCH) {
				send_slots(l, s, idx, k);
				k = 0;
			}
		}
		if (k > 0)
			send_slots(l, s, idx, k);
	}
}

static double percentile(const uint32_t *hist, uint64_t total, double q)
{
	uint64_t want = (uint64_t)((double)total * q);
	if (want >= total)
		want = total - 1;
	uint64_t seen = 0;
	for (uint32_t b = 0; b <= HIST_BUCKETS; b++) {
		seen += hist[b];
		if (seen > want)
			return ((double)b + 0.5) * HIST_NS / 1000.0;
	}
	return 0;
}

static int open_sockets(struct load *l)
{
	for (unsigned int s = 0; s < l->cfg->sockets; s++) {
		int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			return -errno;
		l->socks[s].fd = fd;
		l->socks[s].next_mid = (uint16_t)(s * 7919u);
		if (connect(fd, (const struct sockaddr *)&l->cfg->dst, sizeof(l->cfg->dst)) < 0)
			return -errno;
	}
	return 0;
}

int bench_load_run(const struct bench_load_cfg *cfg, struct bench_load_result *res)
{
	memset(res, 0, sizeof(*res));
	if (cfg->outstanding == 0 || cfg->outstanding > 65535 || cfg->sockets == 0 ||
	    cfg->sockets > cfg->outstanding)
		return -EINVAL;
	struct load l = {.cfg = cfg};
	l.socks = calloc(cfg->sockets, sizeof(*l.socks));
	l.slots = calloc(cfg->outstanding, sizeof(*l.slots));
	l.hist = calloc(HIST_BUCKETS + 1, sizeof(*l.hist));
	int ep = epoll_create1(EPOLL_CLOEXEC);
	int r = l.socks && l.slots && l.hist ? 0 : -ENOMEM;
	if (r == 0 && ep < 0)
		r = -errno;
	for (unsigned int s = 0; l.socks && s < cfg->sockets; s++)
		l.socks[s].fd = -1;
	if (r == 0)
		r = open_sockets(&l);
	for (unsigned int s = 0; r == 0 && s < cfg->sockets; s++) {
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = s};
		if (epoll_ctl(ep, EPOLL_CTL_ADD, l.socks[s].fd, &ev) < 0)
			r = -errno;
	}
	if (r == 0) {
		uint64_t t0 = bench_now_ns();
		uint64_t t_meas = t0 + (uint64_t)(cfg->warmup_s * 1e9);
		uint64_t t_end = t_meas + (uint64_t)(cfg->measure_s * 1e9);
		uint64_t last_scan = t0;
		double srv0 = 0, self0 = 0;
		resend_lost(&l, t0); /* every slot is idle: this sends them all */
		for (;;) {
			uint64_t now = bench_now_ns();
			if (!l.measuring && now >= t_meas) {
				l.measuring = true;
				l.lost = l.stray = 0;
				srv0 = cfg->server ? cpu_of_pid(cfg->server) : 0;
				self0 = cpu_of_self();
				t_meas = now;
			}
			if (now >= t_end) {
				res->seconds = (double)(now - t_meas) / 1e9;
				res->server_cpu =
				    cfg->server ? (cpu_of_pid(cfg->server) - srv0) / res->seconds : 0;
				res->load_cpu = (cpu_of_self() - self0) / res->seconds;
				break;
			}
			if (now - last_scan > 20 * 1000000ull) {
				resend_lost(&l, now);
				last_scan = now;
			}
			struct epoll_event evs[256];
			int n = epoll_wait(ep, evs, 256, 5);
			for (int i = 0; i < n; i++)
				handle_socket(&l, evs[i].data.u32);
		}
		res->responses = l.responses;
		res->lost = l.lost;
		res->stray = l.stray;
		if (l.responses > 0) {
			res->p50_us = percentile(l.hist, l.responses, 0.50);
			res->p99_us = percentile(l.hist, l.responses, 0.99);
			res->p999_us = percentile(l.hist, l.responses, 0.999);
		}
	}
	for (unsigned int s = 0; l.socks && s < cfg->sockets; s++)
		if (l.socks[s].fd >= 0)
			close(l.socks[s].fd);
	if (ep >= 0)
		close(ep);
	free(l.socks);
	free(l.slots);
	free(l.hist);
	return r;
}

int bench_probe(const struct sockaddr_in6 *dst, int timeout_ms)
{
	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct timeval tv = {.tv_usec = 20000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	int r = -ETIMEDOUT;
	if (connect(fd, (const struct sockaddr *)dst, sizeof(*dst)) == 0) {
		uint64_t end = bench_now_ns() + (uint64_t)timeout_ms * 1000000ull;
		for (uint16_t mid = 1; r < 0 && bench_now_ns() < end; mid++) {
			uint8_t req[REQ_LEN], rsp[512];
			encode_request(req, mid, 0, mid);
			if (send(fd, req, sizeof(req), 0) < 0) {
				/* Port unreachable until the server has bound. */
				usleep(20000);
				continue;
			}
			ssize_t n = recv(fd, rsp, sizeof(rsp), 0);
			if (n >= 4 && rsp[1] == 0x45 && rsp[2] == req[2] && rsp[3] == req[3])
				r = 0;
			else if (n < 0)
				usleep(10000);
		}
	}
	close(fd);
	return r;
}
