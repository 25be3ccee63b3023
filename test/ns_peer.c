/*
 * ns_peer — a transport-level peer for the network-namespace suites.
 *
 *   ns_peer serve [-r] BIND [GROUP%IF ...]
 *       Echo server on one transport (-r: with SO_REUSEPORT, a shard).
 *       Joins each group on its interface, prints one line per datagram
 *       ("rx from=HOSTINFO local=ADDR%IF mcast=0|1 data=TEXT", mcast being
 *       evudp6_addr_is_multicast_locally()) and echoes the data to the
 *       response address. The datagram "leave" makes it leave every group
 *       it joined and answer "left rc=NAME" instead.
 *   ns_peer send DEST PORT TEXT [IFNAME] [TIMEOUT_MS]
 *       Sends TEXT from a transport on [::]:0 to the literal DEST (zone
 *       allowed, e.g. ff02::fd%c0; IPv4 as 192.0.2.1, broadcast allowed);
 *       with IFNAME the datagram carries an interface-only pktinfo for
 *       that interface. TEXT "hex:5101..." sends those bytes (a CoAP
 *       message, say) and prints the reply's data as "hex=...".
 *       Prints "reply from=HOSTINFO data=TEXT" (exit 0), "icmp err=NAME
 *       origin=N type=T code=C offender=ADDR remote=HOSTINFO quoted=TEXT"
 *       (exit 2), "senderr err=NAME remote=HOSTINFO" (exit 2) or
 *       "timeout" (exit 3).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include <evudp6.h>

static int exit_code = 3;
static bool hex_mode;

/* The groups "serve" joined, for "leave". */
static struct {
	struct in6_addr group;
	unsigned int ifindex;
} joined[8];
static int njoined;

static void print_local(const struct evudp6_addr *a, char *out, size_t len)
{
	char text[INET6_ADDRSTRLEN] = "?";
	char ifname[IF_NAMESIZE] = "?";
	if (a->has_local) {
		if (IN6_IS_ADDR_V4MAPPED(&a->local_addr))
			inet_ntop(AF_INET, &a->local_addr.s6_addr[12], text, sizeof(text));
		else
			inet_ntop(AF_INET6, &a->local_addr, text, sizeof(text));
		if_indextoname(a->local_ifindex, ifname);
	}
	snprintf(out, len, "%s%%%s", text, ifname);
}

static void serve_datagram(struct evudp6_transport *t, const uint8_t *data, size_t len,
                           const struct evudp6_addr *remote, void *arg)
{
	(void)arg;
	char from[EVUDP6_HOSTINFO_MAX], local[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	evudp6_addr_hostinfo(remote, from, sizeof(from));
	print_local(remote, local, sizeof(local));
	printf("rx from=%s local=%s mcast=%d data=%.*s\n", from, local,
	       evudp6_addr_is_multicast_locally(remote) ? 1 : 0, (int)len, (const char *)data);
	fflush(stdout);
	struct evudp6_addr to;
	evudp6_addr_response(remote, &to);
	char left[64];
	if (len == 5 && memcmp(data, "leave", 5) == 0) {
		int rc = 0;
		for (int i = 0; i < njoined && rc == 0; i++)
			rc = evudp6_transport_leave(t, &joined[i].group, joined[i].ifindex);
		len = (size_t)snprintf(left, sizeof(left), "left rc=%s", evudp6_strerror_name(rc));
		data = (const uint8_t *)left;
	}
	int r = evudp6_transport_send(t, &to, data, len);
	if (r < 0)
		printf("send failed: %s\n", evudp6_strerror(r));
}

static void send_datagram(struct evudp6_transport *t, const uint8_t *data, size_t len,
                          const struct evudp6_addr *remote, void *arg)
{
	(void)t;
	struct event_base *base = arg;
	char from[EVUDP6_HOSTINFO_MAX];
	evudp6_addr_hostinfo(remote, from, sizeof(from));
	if (hex_mode) {
		printf("reply from=%s hex=", from);
		for (size_t i = 0; i < len; i++)
			printf("%02x", data[i]);
		printf("\n");
	} else {
		printf("reply from=%s data=%.*s\n", from, (int)len, (const char *)data);
	}
	exit_code = 0;
	event_base_loopbreak(base);
}

static void send_error(struct evudp6_transport *t, int err, const struct evudp6_icmp *icmp,
                       const struct evudp6_addr *remote, const uint8_t *quoted, size_t quoted_len, void *arg)
{
	(void)t;
	struct event_base *base = arg;
	char rem[EVUDP6_HOSTINFO_MAX];
	evudp6_addr_hostinfo(remote, rem, sizeof(rem));
	if (icmp) {
		char off[INET6_ADDRSTRLEN] = "-";
		if (icmp->has_offender) {
			struct evudp6_addr o;
			evudp6_addr_from_sockaddr(&o, (const struct sockaddr *)&icmp->offender,
			                          sizeof(icmp->offender));
			o.remote.sin6_port = htons(EVUDP6_DEFAULT_PORT);
			o.remote.sin6_scope_id = 0;
			evudp6_addr_hostinfo(&o, off, sizeof(off));
		}
		printf("icmp err=%s origin=%u type=%u code=%u offender=%s remote=%s quoted=%.*s\n",
		       evudp6_strerror_name(err), icmp->origin, icmp->type, icmp->code, off, rem,
		       (int)quoted_len, (const char *)quoted);
	} else {
		printf("senderr err=%s remote=%s\n", evudp6_strerror_name(err), rem);
	}
	exit_code = 2;
	event_base_loopbreak(base);
}

static int serve(int argc, char **argv)
{
	struct event_base *base = event_base_new();
	struct evudp6_transport *t;
	struct evudp6_transport_config cfg = {.size = sizeof(cfg)};
	if (argc > 1 && strcmp(argv[0], "-r") == 0) {
		cfg.reuseport = true;
		argc--;
		argv++;
	}
	cfg.bind = argv[0];
	int r = evudp6_transport_new(&t, base, &cfg, serve_datagram, NULL, NULL);
	if (r == 0)
		r = evudp6_transport_start(t);
	if (r < 0) {
		fprintf(stderr, "ns_peer serve %s: %s\n", argv[0], evudp6_strerror(r));
		return 1;
	}
	for (int i = 1; i < argc; i++) {
		char group[128];
		snprintf(group, sizeof(group), "%s", argv[i]);
		char *pct = strchr(group, '%');
		unsigned int ifindex = 0;
		if (pct) {
			*pct = 0;
			ifindex = if_nametoindex(pct + 1);
		}
		struct evudp6_addr g;
		if (evudp6_addr_from_literal(&g, group, 0, 0) < 0 ||
		    (r = evudp6_transport_join(t, &g.remote.sin6_addr, ifindex)) < 0) {
			fprintf(stderr, "ns_peer: join %s: %s\n", argv[i], evudp6_strerror(r));
			return 1;
		}
		if (njoined < (int)(sizeof(joined) / sizeof(joined[0]))) {
			joined[njoined].group = g.remote.sin6_addr;
			joined[njoined].ifindex = ifindex;
			njoined++;
		}
	}
	printf("ready port=%u\n", evudp6_transport_port(t));
	fflush(stdout);
	event_base_dispatch(base);
	return 0;
}

static int send_one(int argc, char **argv)
{
	struct event_base *base = event_base_new();
	struct evudp6_transport *t;
	int r = evudp6_transport_new(&t, base, NULL, send_datagram, send_error, base);
	if (r == 0)
		r = evudp6_transport_start(t);
	if (r < 0) {
		fprintf(stderr, "ns_peer send: %s\n", evudp6_strerror(r));
		return 1;
	}
	/* Broadcast destinations need the socket's permission; nothing
	 * else changes with it. */
	int on = 1;
	setsockopt(evudp6_transport_fd(t), SOL_SOCKET, SO_BROADCAST, &on, sizeof(on));
	char dest[128];
	snprintf(dest, sizeof(dest), "%s", argv[0]);
	unsigned int scope = 0;
	char *pct = strchr(dest, '%');
	if (pct) {
		*pct = 0;
		scope = if_nametoindex(pct + 1);
	}
	struct evudp6_addr to;
	if (evudp6_addr_from_literal(&to, dest, (uint16_t)atoi(argv[1]), scope) < 0) {
		fprintf(stderr, "ns_peer send: bad address %s\n", argv[0]);
		return 1;
	}
	if (argc > 3 && strcmp(argv[3], "-") != 0)
		evudp6_addr_set_local(&to, &in6addr_any, if_nametoindex(argv[3]));
	int timeout_ms = argc > 4 ? atoi(argv[4]) : 1000;

	uint8_t bytes[1024];
	size_t n = 0;
	if (strncmp(argv[2], "hex:", 4) == 0) {
		hex_mode = true;
		for (const char *h = argv[2] + 4; h[0] && h[1] && n < sizeof(bytes); h += 2) {
			unsigned int b;
			if (sscanf(h, "%2x", &b) != 1) {
				fprintf(stderr, "ns_peer send: bad hex %s\n", argv[2]);
				return 1;
			}
			bytes[n++] = (uint8_t)b;
		}
		r = evudp6_transport_send(t, &to, bytes, n);
	} else {
		r = evudp6_transport_send(t, &to, argv[2], strlen(argv[2]));
	}
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	if (exit_code == 3)
		printf("timeout\n");
	(void)r;
	evudp6_transport_free(t);
	event_base_free(base);
	return exit_code;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 3 && strcmp(argv[1], "serve") == 0)
		return serve(argc - 2, argv + 2);
	if (argc >= 5 && strcmp(argv[1], "send") == 0)
		return send_one(argc - 2, argv + 2);
	fprintf(stderr, "usage: ns_peer serve [-r] BIND [GROUP%%IF ...]\n"
	                "       ns_peer send DEST PORT TEXT [IFNAME|-] [TIMEOUT_MS]\n");
	return 64;
}
