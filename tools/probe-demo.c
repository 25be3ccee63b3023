/*
 * evudp6-probe --demo — the probe against its own diagnostic server, in
 * one process on one event_base, on loopback only: ping, GET over IPv6 and
 * IPv4 on one socket, an answer from the very address asked, the ICMP
 * error of a closed port within a fraction of a millisecond, and multicast
 * discovery where the host's loopback interface allows it.
 */
#include "config.h"

#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "probe.h"

enum step_kind { STEP_PING, STEP_GET, STEP_LARGE, STEP_OBSERVE, STEP_CLOSED, STEP_MCAST4, STEP_MCAST6 };

static const struct step {
	enum step_kind kind;
	const char *title;
	const char *host; /* URI host, brackets included */
	const char *path;
	int expect;
} steps[] = {
    {STEP_PING, "CoAP ping to ::1 (Empty CON, answered with RST)", "[::1]", "", PROBE_EXIT_OK},
    {STEP_GET, "GET over IPv6", "[::1]", "/hello", PROBE_EXIT_OK},
    {STEP_GET, "GET over IPv4, same server socket (V4MAPPED)", "127.0.0.1", "/hello", PROBE_EXIT_OK},
    {STEP_GET, "who am I, asking 127.0.0.2: the answer comes from 127.0.0.2", "127.0.0.2", "/whoami",
     PROBE_EXIT_OK},
    {STEP_LARGE, "a body of 8192 bytes in 32 blocks of 256 (RFC 7959 block-wise), written to a file", "[::1]",
     "/large", PROBE_EXIT_OK},
    {STEP_OBSERVE, "observe /obs for 3 s (RFC 7641): a notification a second, then deregistration", "[::1]",
     "/obs", PROBE_EXIT_OK},
    {STEP_CLOSED, "a closed port on ::1: the ICMPv6 error, not a timeout", "[::1]", "/hello",
     PROBE_EXIT_NETWORK},
    {STEP_CLOSED, "a closed port on 127.0.0.1: the ICMP error, not a timeout", "127.0.0.1", "/hello",
     PROBE_EXIT_NETWORK},
    {STEP_MCAST4, "multicast discovery: 224.0.1.187 on lo", "224.0.1.187", "/.well-known/core",
     PROBE_EXIT_OK},
    {STEP_MCAST6, "multicast discovery: ff02::fd on lo", "[ff02::fd%lo]", "/.well-known/core", PROBE_EXIT_OK},
};

struct demo {
	struct event_base *base;
	struct probe_client client;
	struct probe_server *server;
	struct probe_opts req, ping, observe, mcast, srv, large;
	char large_file[64];
	uint16_t port, closed;
	bool joined;
	size_t step;
	unsigned int failed, skipped;
	char uri[128];
};

/* A port nobody listens on: bind, read the port, close. */
static uint16_t closed_port(void)
{
	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 9; /* discard: not served by anything here */
	int off = 0;
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6};
	socklen_t len = sizeof(sa);
	uint16_t port = 9;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin6_port);
	close(fd);
	return port;
}

/* Without IFF_MULTICAST on lo the kernel has no ff00::/8 route there. */
static bool lo_multicast(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	bool ok = ioctl(fd, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_MULTICAST);
	close(fd);
	return ok;
}

static void next_step(struct demo *d);

static void step_done(struct probe_job *j, int code, void *arg)
{
	(void)j;
	struct demo *d = arg;
	const struct step *s = &steps[d->step];
	if (code != s->expect) {
		d->failed++;
		probe_out_note("!! expected exit code %d here, got %d", s->expect, code);
	}
	d->step++;
	next_step(d);
}

static void next_step(struct demo *d)
{
	while (d->step < sizeof(steps) / sizeof(steps[0])) {
		const struct step *s = &steps[d->step];
		const struct probe_opts *o = &d->req;
		uint16_t port = d->port;
		probe_out_note("\n== %s", s->title);
		if (s->kind == STEP_PING) {
			o = &d->ping;
		} else if (s->kind == STEP_OBSERVE) {
			o = &d->observe;
		} else if (s->kind == STEP_LARGE) {
			o = &d->large;
			if (!d->large.out_file) {
				probe_out_note("skipped: no temporary file for the body");
				d->skipped++;
				d->step++;
				continue;
			}
		} else if (s->kind == STEP_CLOSED) {
			port = d->closed;
		} else if (s->kind == STEP_MCAST4 || s->kind == STEP_MCAST6) {
			o = &d->mcast;
			const char *why = NULL;
			if (!d->joined)
				why = "the server could not join the CoAP groups on lo";
			else if (s->kind == STEP_MCAST6 && !lo_multicast())
				why = "lo has no MULTICAST flag on this host, so the kernel has no ff00::/8 "
				      "route "
				      "on it and sending to ff02::fd%lo fails with ENETUNREACH "
				      "('ip link set lo multicast on' enables this step)";
			if (why) {
				probe_out_note("skipped: %s", why);
				d->skipped++;
				d->step++;
				continue;
			}
		}
		snprintf(d->uri, sizeof(d->uri), "coap://%s:%u%s", s->host, port, s->path);
		char large_args[96];
		snprintf(large_args, sizeof(large_args), " -B 256 -o %s", d->large_file);
		probe_out_note("$ evudp6-probe%s%s %s",
		               s->kind == STEP_PING      ? " --ping -c 3 -i 0.2"
		               : s->kind == STEP_OBSERVE ? " --observe 3"
		                                         : "",
		               s->kind == STEP_MCAST4   ? " -I lo -w 0.5"
		               : s->kind == STEP_MCAST6 ? " -w 0.5"
		               : s->kind == STEP_LARGE  ? large_args
		                                        : "",
		               d->uri);
		int rc = probe_job_start(&d->client, o, d->uri, step_done, d);
		if (rc) {
			d->failed++;
			d->step++;
			continue;
		}
		return;
	}
	event_base_loopexit(d->base, NULL);
}

int probe_run_demo(const struct probe_opts *o)
{
	static struct demo d;
	int rc;
	memset(&d, 0, sizeof(d));
	d.base = event_base_new();
	if (!d.base) {
		probe_warn("cannot create an event_base");
		return PROBE_EXIT_OSERR;
	}

	/* The server: every address, an ephemeral port, CoAP groups on lo. */
	d.srv = *o;
	d.srv.mode = PROBE_LISTEN;
	d.srv.binds[0] = "[::]:0";
	d.srv.nbinds = 1;
	d.srv.join_coap[0] = "lo";
	d.srv.njoin_coap = 1;
	d.srv.leisure_s = 0.05;
	d.srv.log_prefix = "   server log: ";
	probe_out_note("evudp6-probe %s demo: the probe and its diagnostic server share one event_base and "
	               "talk over loopback only.",
	               evudp6_version());
	rc = probe_server_new(&d.server, d.base, &d.srv);
	d.joined = rc == 0;
	if (rc) {
		probe_out_note("(joining the CoAP groups on lo failed; multicast steps are skipped)");
		d.srv.njoin_coap = 0;
		rc = probe_server_new(&d.server, d.base, &d.srv);
		if (rc) {
			event_base_free(d.base);
			return rc;
		}
	}
	d.port = probe_server_port(d.server);
	d.closed = closed_port();

	d.req = *o;
	d.req.mode = PROBE_REQUEST;
	d.req.timeout_s = 5.0;
	d.ping = d.req;
	d.ping.mode = PROBE_PING;
	d.ping.count = 3;
	d.ping.interval_s = 0.2;
	d.observe = d.req;
	d.observe.observe_s = 3.0;
	d.mcast = d.req;
	d.mcast.wait_s = 0.5;
	d.mcast.ifname = "lo";
	d.large = d.req;
	d.large.block_size = 256;
	snprintf(d.large_file, sizeof(d.large_file), "/tmp/evudp6-demo-large.XXXXXX");
	int tfd = mkstemp(d.large_file);
	if (tfd >= 0) {
		close(tfd);
		d.large.out_file = d.large_file;
	}

	rc = probe_client_init(&d.client, d.base, &d.req);
	if (rc) {
		probe_server_free(d.server);
		event_base_free(d.base);
		return rc;
	}
	next_step(&d);
	event_base_dispatch(d.base);

	size_t total = sizeof(steps) / sizeof(steps[0]);
	probe_out_note("\ndemo: %zu steps, %zu as expected, %u skipped, %u unexpected", total,
	               total - d.skipped - d.failed, d.skipped, d.failed);
	if (d.large.out_file)
		unlink(d.large_file);
	probe_client_free(&d.client);
	probe_server_free(d.server);
	event_base_loop(d.base, EVLOOP_NONBLOCK);
	event_base_free(d.base);
	return d.failed ? 1 : PROBE_EXIT_OK;
}
