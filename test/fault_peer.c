/*
 * Fault generator and victim for the namespace fault suite
 * (test/ns_faults.sh). Output is one line per event or result, for the
 * script to match.
 *
 *   fault_peer icmp-flood [-n N] [-w WINDOW] [-t HOPS] TARGET...
 *       A transport (with unicast hop limit HOPS, if given: a router then
 *       answers "time exceeded") sends N datagrams round robin to the targets
 *       ("[v6]:port" or "v4:port"; port 0 means a port this host has
 *       closed), keeping at most WINDOW without their error, and counts
 *       the errors that come back. Prints one line:
 *       "result sent= errors= quoted_ok= errqueue= errqueue_other=
 *       send_errors= wakeups= bounded= late_us= rss_kb=BASE/MID/END
 *       kinds=ORIGIN/TYPE/CODE:COUNT,... offenders=ADDR,..."
 *
 *   fault_peer serve [-b BIND] [-d DEDUP_CAP] [-l LEISURE_MS]
 *       A messenger that answers every request 2.05 "ok", driven by
 *       commands on stdin, one per line, each answered by one line:
 *         join GROUP IF | leave GROUP IF      "join GROUP IF rc=NAME"
 *         request ADDR PORT                   "request N rc=NAME"
 *         stats                               "stats key=value ..."
 *         quit
 *       and asynchronously "end N ERRNAME" or "response N CODE" for
 *       request N. Prints "ready PORT" first.
 *
 *   fault_peer sink PORT
 *       A UDP socket on [::]:PORT that reads and answers nothing.
 *
 *   fault_peer spoof-flood [-n N] [-w WINDOW] PREFIX SERVER PORT
 *       N confirmable GETs with fresh message ids, from 254 sources:
 *       PREFIX1 .. PREFIX254 (e.g. "198.51.100." or "2001:db8:5::"),
 *       which must be local here (an AnyIP route). Counts the answers.
 *       Prints "result sent= answered= late_us=".
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include <evudp6.h>

#include "faultutil.h"

static struct event_base *base;
static struct fault_monitor mon;

__attribute__((noreturn)) static void usage(void)
{
	fprintf(stderr, "usage: fault_peer icmp-flood [-n N] [-w WINDOW] [-t HOPS] TARGET...\n"
	                "       fault_peer serve [-b BIND] [-d DEDUP_CAP] [-l LEISURE_MS]\n"
	                "       fault_peer sink PORT\n"
	                "       fault_peer spoof-flood [-n N] [-w WINDOW] PREFIX SERVER PORT\n");
	exit(2);
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint16_t closed_port(void)
{
	int fd = socket(AF_INET6, SOCK_DGRAM, 0);
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6};
	socklen_t l = sizeof(sa);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &l) < 0) {
		perror("closed_port");
		exit(1);
	}
	close(fd);
	return ntohs(sa.sin6_port);
}

/* "[v6]:port" or "v4:port" */
static int parse_target(const char *text, struct evudp6_addr *a)
{
	char host[128];
	const char *colon = strrchr(text, ':');
	if (!colon || (size_t)(colon - text) >= sizeof(host))
		return -1;
	memcpy(host, text, (size_t)(colon - text));
	host[colon - text] = '\0';
	char *h = host;
	if (h[0] == '[') {
		h++;
		h[strlen(h) - 1] = '\0';
	}
	long port = strtol(colon + 1, NULL, 10);
	if (port == 0)
		port = closed_port();
	return evudp6_addr_from_literal(a, h, (uint16_t)port, 0);
}

/* ------------------------------------------------------------ icmp-flood */

#define KINDS_MAX     16
#define OFFENDERS_MAX 8

struct flood {
	struct evudp6_transport *t;
	struct evudp6_addr target[16];
	int ntargets;
	unsigned long n, window, sent, errors, quoted_ok;
	struct {
		uint8_t origin, type, code;
		unsigned long count;
	} kind[KINDS_MAX];
	int nkinds;
	struct in6_addr offender[OFFENDERS_MAX];
	int noffenders;
	long rss_base, rss_mid;
	double last_progress;
	struct event *pump;
};

/* Datagram i: a NON whose message id and 4-byte token carry i. */
static size_t flood_datagram_bytes(unsigned long i, uint8_t out[10])
{
	out[0] = 0x54;
	out[1] = EVUDP6_GET;
	out[2] = (uint8_t)(i >> 8);
	out[3] = (uint8_t)i;
	out[4] = (uint8_t)(i >> 24);
	out[5] = (uint8_t)(i >> 16);
	out[6] = (uint8_t)(i >> 8);
	out[7] = (uint8_t)i;
	out[8] = 0xff;
	out[9] = 'q';
	return 10;
}

static void flood_error(struct evudp6_transport *t, int err, const struct evudp6_icmp *icmp,
                        const struct evudp6_addr *remote, const uint8_t *quoted, size_t quoted_len, void *arg)
{
	(void)t;
	(void)err;
	(void)remote;
	struct flood *f = arg;
	if (!icmp)
		return; /* a send error: counted by the transport */
	f->errors++;
	f->last_progress = now_s();
	if (f->errors == 1000)
		f->rss_base = fault_rss_kb();
	if (f->errors == f->n / 2)
		f->rss_mid = fault_rss_kb();
	uint8_t want[10];
	if (quoted_len == 10) {
		unsigned long i = (unsigned long)quoted[4] << 24 | (unsigned long)quoted[5] << 16 |
		                  (unsigned long)quoted[6] << 8 | quoted[7];
		flood_datagram_bytes(i, want);
		if (i < f->sent && memcmp(quoted, want, 10) == 0)
			f->quoted_ok++;
	}
	int k;
	for (k = 0; k < f->nkinds; k++)
		if (f->kind[k].origin == icmp->origin && f->kind[k].type == icmp->type &&
		    f->kind[k].code == icmp->code)
			break;
	if (k == f->nkinds && k < KINDS_MAX) {
		f->kind[k].origin = icmp->origin;
		f->kind[k].type = icmp->type;
		f->kind[k].code = icmp->code;
		f->nkinds++;
	}
	if (k < KINDS_MAX)
		f->kind[k].count++;
	if (icmp->has_offender) {
		int o;
		for (o = 0; o < f->noffenders; o++)
			if (memcmp(&f->offender[o], &icmp->offender.sin6_addr, 16) == 0)
				break;
		if (o == f->noffenders && o < OFFENDERS_MAX)
			f->offender[f->noffenders++] = icmp->offender.sin6_addr;
	}
}

static void flood_ignore(struct evudp6_transport *t, const uint8_t *data, size_t len,
                         const struct evudp6_addr *remote, void *arg)
{
	(void)t, (void)data, (void)len, (void)remote, (void)arg;
}

/* Every millisecond: top the window up, a bounded number at a time. */
static void flood_pump(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct flood *f = arg;
	for (int burst = 0; burst < 512 && f->sent < f->n && f->sent - f->errors < f->window; burst++) {
		uint8_t d[10];
		size_t len = flood_datagram_bytes(f->sent, d);
		int r = evudp6_transport_send(f->t, &f->target[f->sent % (unsigned long)f->ntargets], d, len);
		if (r == -EAGAIN || r == -ENOBUFS)
			break;
		f->sent++;
	}
}

static int icmp_flood(int argc, char **argv)
{
	static struct flood f;
	f.n = 100000;
	f.window = 1000;
	int o, hops = 0;
	while ((o = getopt(argc, argv, "n:w:t:")) != -1) {
		switch (o) {
		case 'n':
			f.n = strtoul(optarg, NULL, 10);
			break;
		case 'w':
			f.window = strtoul(optarg, NULL, 10);
			break;
		case 't':
			hops = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	for (int i = optind; i < argc && f.ntargets < 16; i++)
		if (parse_target(argv[i], &f.target[f.ntargets++]) < 0)
			usage();
	if (f.ntargets == 0)
		usage();
	struct evudp6_transport_config cfg = {.size = sizeof(cfg), .bind = "[::]:0", .rcvbuf = 16 << 20};
	int r = evudp6_transport_new(&f.t, base, &cfg, flood_ignore, flood_error, &f);
	if (r == 0)
		r = evudp6_transport_start(f.t);
	if (r == 0 && hops > 0)
		r = evudp6_transport_set_unicast_hops(f.t, hops);
	if (r < 0) {
		printf("transport %s\n", evudp6_strerror_name(r));
		return 1;
	}
	f.pump = event_new(base, -1, EV_PERSIST, flood_pump, &f);
	struct timeval ms = {0, 1000};
	event_add(f.pump, &ms);
	fault_monitor_start(&mon, base);
	f.last_progress = now_s();
	while (f.errors < f.n && now_s() - f.last_progress < 5)
		event_base_loop(base, EVLOOP_ONCE);
	fault_monitor_stop(&mon);
	long rss_end = fault_rss_kb();
	/* Errors still in flight (beyond the count) arrive now. */
	for (int i = 0; i < 20; i++) {
		usleep(1000);
		event_base_loop(base, EVLOOP_NONBLOCK);
	}

	struct evudp6_transport_stats st;
	evudp6_transport_stats(f.t, &st, sizeof(st));
	printf("result sent=%lu errors=%lu quoted_ok=%lu errqueue=%lu errqueue_other=%lu send_errors=%lu "
	       "wakeups=%lu bounded=%lu late_us=%ld wall_late_us=%ld rss_kb=%ld/%ld/%ld kinds=",
	       f.sent, f.errors, f.quoted_ok, (unsigned long)st.errqueue, (unsigned long)st.errqueue_other,
	       (unsigned long)st.send_errors, (unsigned long)st.wakeups, (unsigned long)st.wakeups_bounded,
	       mon.max_late_us, mon.max_wall_late_us, f.rss_base, f.rss_mid, rss_end);
	for (int k = 0; k < f.nkinds; k++)
		printf("%s%u/%u/%u:%lu", k ? "," : "", f.kind[k].origin, f.kind[k].type, f.kind[k].code,
		       f.kind[k].count);
	printf(" offenders=");
	for (int k = 0; k < f.noffenders; k++) {
		char text[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, &f.offender[k], text, sizeof(text));
		printf("%s%s", k ? "," : "", text);
	}
	printf("\n");
	event_free(f.pump);
	evudp6_transport_free(f.t);
	return 0;
}

/* ----------------------------------------------------------------- serve */

#define SERVE_REQUESTS 64

struct serve {
	struct evudp6_messenger *m;
	struct event *input;
	char line[512];
	size_t len;
	int nrequests;
	int ids[SERVE_REQUESTS];
	struct {
		struct in6_addr group;
		unsigned int ifindex;
		char ifname[64];
	} joined[16];
	int njoined;
	long rss_base;
	unsigned long served;
};

static struct serve sv;

static void serve_request(struct evudp6_messenger *m, struct evudp6_exchange *ex,
                          const struct evudp6_msg *req, const struct evudp6_addr *remote, void *arg)
{
	(void)m, (void)req, (void)remote, (void)arg;
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, EVUDP6_ACK, EVUDP6_CONTENT, 0);
	evudp6_msg_builder_set_payload(&b, "ok", 2);
	int r = evudp6_exchange_respond(ex, &b);
	if (r < 0)
		printf("respond-error %s\n", evudp6_strerror_name(r));
	if (++sv.served == 1000)
		sv.rss_base = fault_rss_kb();
}

static void serve_response(struct evudp6_request *r, int err, const struct evudp6_msg *rsp,
                           const struct evudp6_addr *remote, const struct evudp6_icmp *icmp, void *arg)
{
	(void)r, (void)remote;
	int id = *(int *)arg;
	if (err == 0) {
		char code[EVUDP6_CODE_STR_MAX];
		printf("response %d %s\n", id, evudp6_code_str(rsp->code, code));
	} else {
		char details[EVUDP6_ICMP_DESCRIBE_MAX] = "";
		if (icmp)
			evudp6_icmp_describe(icmp, details, sizeof(details));
		printf("end %d %s%s%s\n", id, evudp6_strerror_name(err), icmp ? " " : "", details);
	}
	fflush(stdout);
}

static void serve_stats(void)
{
	struct evudp6_messenger_stats st;
	struct evudp6_transport_stats ts;
	evudp6_messenger_stats(sv.m, &st, sizeof(st));
	evudp6_transport_stats(evudp6_messenger_transport(sv.m), &ts, sizeof(ts));
	printf(
	    "stats requests_received=%lu responses_sent=%lu duplicates=%lu dedup_entries=%lu dedup_peak=%lu "
	    "dedup_cap=%lu dedup_evicted=%lu dedup_full=%lu send_errors=%lu icmp_errors=%lu "
	    "exchanges_failed=%lu requests_pending=%lu datagrams_in=%lu rxq_overflow=%lu late_us=%ld "
	    "wall_late_us=%ld rss_kb=%ld/%ld\n",
	    (unsigned long)st.requests_received, (unsigned long)st.responses_sent,
	    (unsigned long)st.duplicates, (unsigned long)st.dedup_entries, (unsigned long)st.dedup_peak,
	    (unsigned long)st.dedup_cap, (unsigned long)st.dedup_evicted, (unsigned long)st.dedup_full,
	    (unsigned long)st.send_errors, (unsigned long)st.icmp_errors, (unsigned long)st.exchanges_failed,
	    (unsigned long)st.requests_pending, (unsigned long)ts.datagrams_in,
	    (unsigned long)ts.rxq_overflow, mon.max_late_us, mon.max_wall_late_us, sv.rss_base,
	    fault_rss_kb());
}

static void serve_command(char *line)
{
	char cmd[32] = "", a[128] = "", b[64] = "";
	int n = sscanf(line, "%31s %127s %63s", cmd, a, b);
	if (n < 1)
		return;
	if (strcmp(cmd, "join") == 0 || strcmp(cmd, "leave") == 0) {
		struct in6_addr g;
		int r;
		if (inet_pton(AF_INET6, a, &g) != 1) {
			struct in_addr g4;
			if (inet_pton(AF_INET, a, &g4) != 1) {
				printf("%s %s %s rc=EINVAL\n", cmd, a, b);
				return;
			}
			memset(&g, 0, sizeof(g));
			g.s6_addr[10] = g.s6_addr[11] = 0xff;
			memcpy(&g.s6_addr[12], &g4, 4);
		}
		struct evudp6_transport *t = evudp6_messenger_transport(sv.m);
		/* The index is remembered at join: leave must still name the
		 * interface after its name is gone. */
		if (cmd[0] == 'j') {
			unsigned int idx = if_nametoindex(b);
			r = idx ? evudp6_transport_join(t, &g, idx) : -ENODEV;
			if (r == 0 && sv.njoined < 16) {
				sv.joined[sv.njoined].group = g;
				sv.joined[sv.njoined].ifindex = idx;
				snprintf(sv.joined[sv.njoined].ifname, sizeof(sv.joined[0].ifname), "%s", b);
				sv.njoined++;
			}
		} else {
			r = -ENOENT;
			for (int i = 0; i < sv.njoined; i++)
				if (memcmp(&sv.joined[i].group, &g, sizeof(g)) == 0 &&
				    strcmp(sv.joined[i].ifname, b) == 0)
					r = evudp6_transport_leave(t, &g, sv.joined[i].ifindex);
		}
		printf("%s %s %s rc=%s\n", cmd, a, b, evudp6_strerror_name(r));
	} else if (strcmp(cmd, "request") == 0 && n == 3) {
		struct evudp6_addr to;
		int id = sv.nrequests;
		int r = evudp6_addr_from_literal(&to, a, (uint16_t)atoi(b), 0);
		if (r == 0 && id < SERVE_REQUESTS) {
			struct evudp6_msg_builder bld;
			evudp6_msg_builder_init(&bld, EVUDP6_CON, EVUDP6_GET, 0);
			evudp6_msg_builder_add_opt(&bld, EVUDP6_OPT_URI_PATH, "x", 1);
			sv.ids[id] = id;
			sv.nrequests++;
			r = evudp6_messenger_request(sv.m, &to, &bld, 0, serve_response, &sv.ids[id], NULL);
		}
		printf("request %d rc=%s\n", id, evudp6_strerror_name(r));
	} else if (strcmp(cmd, "stats") == 0) {
		serve_stats();
	} else if (strcmp(cmd, "quit") == 0) {
		event_base_loopbreak(base);
	} else {
		printf("unknown %s\n", cmd);
	}
	fflush(stdout);
}

static void serve_input(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	(void)arg;
	ssize_t n = read(fd, sv.line + sv.len, sizeof(sv.line) - 1 - sv.len);
	if (n <= 0) {
		event_base_loopbreak(base);
		return;
	}
	sv.len += (size_t)n;
	char *nl;
	while ((nl = memchr(sv.line, '\n', sv.len)) != NULL) {
		*nl = '\0';
		serve_command(sv.line);
		size_t used = (size_t)(nl + 1 - sv.line);
		memmove(sv.line, nl + 1, sv.len - used);
		sv.len -= used;
	}
	if (sv.len == sizeof(sv.line) - 1)
		sv.len = 0;
}

static int serve(int argc, char **argv)
{
	const char *bind = "[::]:5683";
	struct evudp6_messenger_config cfg;
	evudp6_messenger_config_init(&cfg, sizeof(cfg));
	int o;
	while ((o = getopt(argc, argv, "b:d:l:")) != -1) {
		switch (o) {
		case 'b':
			bind = optarg;
			break;
		case 'l':
			cfg.leisure_ms = (unsigned int)strtoul(optarg, NULL, 10);
			break;
		case 'd':
			cfg.dedup_cap = strtoul(optarg, NULL, 10);
			break;
		default:
			usage();
		}
	}
	struct evudp6_transport_config tcfg = {.size = sizeof(tcfg), .bind = bind, .rcvbuf = 16 << 20};
	int r = evudp6_messenger_new(&sv.m, base, &tcfg, &cfg);
	if (r == 0) {
		evudp6_messenger_set_request_cb(sv.m, serve_request, NULL);
		r = evudp6_messenger_start(sv.m);
	}
	if (r < 0) {
		printf("messenger %s\n", evudp6_strerror_name(r));
		return 1;
	}
	sv.input = event_new(base, 0, EV_READ | EV_PERSIST, serve_input, NULL);
	event_add(sv.input, NULL);
	fault_monitor_start(&mon, base);
	printf("ready %u\n", evudp6_transport_port(evudp6_messenger_transport(sv.m)));
	fflush(stdout);
	event_base_dispatch(base);
	fault_monitor_stop(&mon);
	event_free(sv.input);
	evudp6_messenger_free(sv.m);
	printf("bye\n");
	return 0;
}

/* ------------------------------------------------------------------ sink */

static int sink(int argc, char **argv)
{
	if (argc != 2)
		usage();
	int fd = socket(AF_INET6, SOCK_DGRAM, 0);
	int off = 0;
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)atoi(argv[1]))};
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("sink");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	char buf[2048];
	for (;;)
		if (recv(fd, buf, sizeof(buf), 0) < 0 && errno != EINTR)
			return 1;
}

/* ----------------------------------------------------------- spoof-flood */

#define SPOOF_SOURCES 254

static int spoof_flood(int argc, char **argv)
{
	unsigned long n = 100000, window = 1000;
	int o;
	while ((o = getopt(argc, argv, "n:w:")) != -1) {
		switch (o) {
		case 'n':
			n = strtoul(optarg, NULL, 10);
			break;
		case 'w':
			window = strtoul(optarg, NULL, 10);
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 3)
		usage();
	const char *prefix = argv[optind];
	bool v6 = strchr(prefix, ':') != NULL;
	struct sockaddr_in6 srv6 = {.sin6_family = AF_INET6,
	                            .sin6_port = htons((uint16_t)atoi(argv[optind + 2]))};
	struct sockaddr_in srv4 = {.sin_family = AF_INET, .sin_port = srv6.sin6_port};
	if ((v6 ? inet_pton(AF_INET6, argv[optind + 1], &srv6.sin6_addr)
	        : inet_pton(AF_INET, argv[optind + 1], &srv4.sin_addr)) != 1)
		usage();
	struct pollfd pfd[SPOOF_SOURCES];
	for (int i = 0; i < SPOOF_SOURCES; i++) {
		char text[64];
		snprintf(text, sizeof(text), v6 ? "%s%x" : "%s%d", prefix, i + 1);
		int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
		int r;
		if (v6) {
			/* An IPv6 AnyIP route makes the address local for routing,
			 * but bind() still wants it assigned, or IPV6_FREEBIND. */
			int on = 1;
			setsockopt(fd, IPPROTO_IPV6, IPV6_FREEBIND, &on, sizeof(on));
			struct sockaddr_in6 sa = {.sin6_family = AF_INET6};
			inet_pton(AF_INET6, text, &sa.sin6_addr);
			r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
		} else {
			struct sockaddr_in sa = {.sin_family = AF_INET};
			inet_pton(AF_INET, text, &sa.sin_addr);
			r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
		}
		if (r < 0) {
			printf("bind %s: %s\n", text, strerror(errno));
			return 1;
		}
		pfd[i].fd = fd;
		pfd[i].events = POLLIN;
	}
	unsigned long sent = 0, answered = 0;
	double last = now_s(), start = last, worst_gap = 0;
	while (answered < n && now_s() - last < 5) {
		while (sent < n && sent - answered < window) {
			uint16_t mid = (uint16_t)(sent / SPOOF_SOURCES);
			uint8_t req[] = {0x40, EVUDP6_GET, (uint8_t)(mid >> 8), (uint8_t)mid, 0xb1, 'x'};
			int fd = pfd[sent % SPOOF_SOURCES].fd;
			ssize_t w =
			    v6 ? sendto(fd, req, sizeof(req), 0, (struct sockaddr *)&srv6, sizeof(srv6))
			       : sendto(fd, req, sizeof(req), 0, (struct sockaddr *)&srv4, sizeof(srv4));
			if (w < 0)
				break;
			sent++;
		}
		if (poll(pfd, SPOOF_SOURCES, 100) <= 0)
			continue;
		for (int i = 0; i < SPOOF_SOURCES; i++) {
			uint8_t buf[64];
			while ((pfd[i].revents & POLLIN) && recv(pfd[i].fd, buf, sizeof(buf), 0) > 0) {
				answered++;
				double t = now_s();
				if (t - last > worst_gap)
					worst_gap = t - last;
				last = t;
			}
		}
	}
	printf("result sent=%lu answered=%lu seconds=%.1f worst_gap_ms=%.0f\n", sent, answered,
	       now_s() - start, worst_gap * 1000);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	base = event_base_new();
	int r;
	if (strcmp(argv[1], "icmp-flood") == 0)
		r = icmp_flood(argc - 1, argv + 1);
	else if (strcmp(argv[1], "serve") == 0)
		r = serve(argc - 1, argv + 1);
	else if (strcmp(argv[1], "sink") == 0)
		r = sink(argc - 1, argv + 1);
	else if (strcmp(argv[1], "spoof-flood") == 0)
		r = spoof_flood(argc - 1, argv + 1);
	else
		usage();
	event_base_free(base);
	return r;
}
