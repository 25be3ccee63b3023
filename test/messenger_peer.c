/*
 * A messenger client or server driven from the command line, for the
 * network-namespace and interop suites (test/ns_messenger.sh,
 * test/interop_libcoap.sh). Output is one line per event, for scripts.
 *
 *   messenger_peer server [-b BIND] [-j GROUP%IF]... [-l LEISURE_MS] [-n NAME] [-t SECONDS]
 *       prints "ready PORT", then "request METHOD /PATH from HOSTINFO to LOCAL mcast=0|1"
 *       per request. Resources: /.well-known/core, /hello, /whoami, /echo
 *       (POST/PUT), /slow (separate response), /error (5.00); else 4.04.
 *
 *   messenger_peer client [-N] [-P] [-m METHOD] [-e TEXT] [-s PAYLOAD_BYTES]
 *                         [-w WAIT_MS] [-a ACK_TIMEOUT_MS] [-H HOPS] [-X] [-R MS]
 *                         HOST[%IF] PORT [PATH[?QUERY]]
 *       prints "response CODE from HOSTINFO after MS ms type TYPE payload TEXT"
 *       per response, "icmp ERRORNAME after MS ms DETAILS" per soft ICMP
 *       error (the request goes on), and "end ok" or "end ERRORNAME after
 *       MS ms [details]"; a request refused at once prints "refused
 *       ERRORNAME"; last "stats KEY=VALUE..." (ICMP and retransmission
 *       counters). -s sends a payload of that many bytes ('x'); -H sets the
 *       unicast hop limit (TTL); -X adds to IPv6 datagrams a hop-by-hop
 *       option no router knows (action "discard and send Parameter
 *       Problem"); -R undoes -H and -X that many ms after the request left.
 *       Exit 0 if a response came, 1 if none, 2 on usage errors, 3 if the
 *       request was refused.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include <evudp6/messenger.h>

static struct event_base *base;
static const char *name = "evudp6";

__attribute__((noreturn)) static void usage(void)
{
	fprintf(stderr, "usage: messenger_peer server [-b BIND] [-j GROUP%%IF]... [-l LEISURE_MS] [-n NAME] "
	                "[-t SECONDS]\n"
	                "       messenger_peer client [-N] [-P] [-m METHOD] [-e TEXT] [-s PAYLOAD_BYTES] "
	                "[-w WAIT_MS] [-a ACK_TIMEOUT_MS] [-H HOPS] [-X] [-R MS] HOST[%%IF] PORT [PATH]\n");
	exit(2);
}

/* ------------------------------------------------------------ server */

struct slow {
	struct evudp6_exchange *ex;
	struct event *ev;
};

static void respond_text(struct evudp6_exchange *ex, uint8_t code, const char *text, int content_format)
{
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, 0, code, 0);
	if (content_format >= 0)
		evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_CONTENT_FORMAT, (uint32_t)content_format);
	if (text)
		evudp6_msg_builder_set_payload(&b, text, strlen(text));
	int rc = evudp6_exchange_respond(ex, &b);
	if (rc < 0)
		printf("respond-error %s\n", evudp6_strerror_name(rc));
}

static void slow_cb(evutil_socket_t fd, short what, void *arg)
{
	struct slow *s = arg;
	char text[128];
	(void)fd;
	(void)what;
	snprintf(text, sizeof text, "slow from %s", name);
	respond_text(s->ex, EVUDP6_CONTENT, text, 0);
	event_free(s->ev);
	free(s);
}

static void request_cb(struct evudp6_messenger *m, struct evudp6_exchange *ex, const struct evudp6_msg *req,
                       const struct evudp6_addr *remote, void *arg)
{
	char path[256] = "", from[EVUDP6_HOSTINFO_MAX] = "?", to[EVUDP6_HOSTINFO_MAX] = "?";
	size_t plen = 0;
	struct evudp6_opt_iter it;
	struct evudp6_opt o;
	(void)m;
	(void)arg;
	evudp6_opt_iter_init(&it, req);
	while (evudp6_opt_iter_next(&it, &o))
		if (o.number == EVUDP6_OPT_URI_PATH && plen + o.len + 2 < sizeof path) {
			path[plen++] = '/';
			memcpy(path + plen, o.value, o.len);
			plen += o.len;
			path[plen] = 0;
		}
	if (plen == 0)
		strcpy(path, "/");
	evudp6_addr_hostinfo(remote, from, sizeof from);
	evudp6_addr_hostinfo_local(remote, to, sizeof to);
	const char *method = evudp6_code_name(req->code);
	printf("request %s %s from %s to %s mcast=%d\n", method ? method : "?", path, from, to,
	       evudp6_exchange_is_multicast(ex));
	fflush(stdout);

	char text[512];
	if (strcmp(path, "/.well-known/core") == 0 && req->code == EVUDP6_GET) {
		snprintf(text, sizeof text,
		         "</hello>;rt=\"evudp6-test\";title=\"%s\",</whoami>,</echo>,</slow>", name);
		respond_text(ex, EVUDP6_CONTENT, text, 40);
	} else if (strcmp(path, "/hello") == 0 && req->code == EVUDP6_GET) {
		snprintf(text, sizeof text, "hello from %s", name);
		respond_text(ex, EVUDP6_CONTENT, text, 0);
	} else if (strcmp(path, "/whoami") == 0 && req->code == EVUDP6_GET) {
		snprintf(text, sizeof text, "you are %s, you reached %s", from, to);
		respond_text(ex, EVUDP6_CONTENT, text, 0);
	} else if (strcmp(path, "/echo") == 0 && (req->code == EVUDP6_POST || req->code == EVUDP6_PUT)) {
		struct evudp6_msg_builder b;
		evudp6_msg_builder_init(&b, 0, EVUDP6_CHANGED, 0);
		evudp6_msg_builder_set_payload(&b, req->payload, req->payload_len);
		evudp6_exchange_respond(ex, &b);
	} else if (strcmp(path, "/slow") == 0) {
		struct slow *s = calloc(1, sizeof *s);
		s->ex = ex;
		s->ev = evtimer_new(base, slow_cb, s);
		struct timeval tv = {0, 300000};
		evtimer_add(s->ev, &tv);
	} else if (strcmp(path, "/error") == 0) {
		respond_text(ex, EVUDP6_INTERNAL_SERVER_ERROR, "error on purpose", 0);
	} else {
		respond_text(ex, EVUDP6_NOT_FOUND, NULL, -1);
	}
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	event_base_loopexit(base, NULL);
}

static int join_group(struct evudp6_messenger *m, const char *spec)
{
	char buf[128];
	snprintf(buf, sizeof buf, "%s", spec);
	char *pct = strchr(buf, '%');
	unsigned int ifindex = 0;
	if (pct) {
		*pct = 0;
		ifindex = if_nametoindex(pct + 1);
		if (!ifindex) {
			fprintf(stderr, "unknown interface %s\n", pct + 1);
			return -1;
		}
	}
	struct evudp6_addr a;
	if (evudp6_addr_from_literal(&a, buf, 0, 0) < 0) {
		fprintf(stderr, "bad group %s\n", buf);
		return -1;
	}
	int rc = evudp6_transport_join(evudp6_messenger_transport(m), &a.remote.sin6_addr, ifindex);
	if (rc < 0)
		fprintf(stderr, "join %s: %s\n", spec, evudp6_strerror(rc));
	return rc;
}

static int run_server(int argc, char **argv)
{
	const char *bind = "[::]";
	const char *groups[16];
	int ngroups = 0, seconds = 0, opt;
	long leisure = -1;
	while ((opt = getopt(argc, argv, "b:j:l:n:t:")) != -1) {
		switch (opt) {
		case 'b':
			bind = optarg;
			break;
		case 'j':
			if (ngroups < 16)
				groups[ngroups++] = optarg;
			break;
		case 'l':
			leisure = atol(optarg);
			break;
		case 'n':
			name = optarg;
			break;
		case 't':
			seconds = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	struct evudp6_messenger_config c;
	evudp6_messenger_config_init(&c, sizeof(c));
	if (leisure >= 0)
		c.leisure_ms = (unsigned int)leisure;
	struct evudp6_transport_config tc = {.size = sizeof(tc), .bind = bind};
	struct evudp6_messenger *m;
	int rc = evudp6_messenger_new(&m, base, &tc, &c);
	if (rc < 0) {
		fprintf(stderr, "messenger: %s\n", evudp6_strerror(rc));
		return 1;
	}
	evudp6_messenger_set_request_cb(m, request_cb, NULL);
	rc = evudp6_messenger_start(m);
	if (rc < 0) {
		fprintf(stderr, "start %s: %s\n", bind, evudp6_strerror(rc));
		return 1;
	}
	for (int i = 0; i < ngroups; i++)
		if (join_group(m, groups[i]) < 0)
			return 1;
	struct event *sigterm = evsignal_new(base, SIGTERM, stop_cb, NULL);
	struct event *sigint = evsignal_new(base, SIGINT, stop_cb, NULL);
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);
	struct event *timer = NULL;
	if (seconds > 0) {
		timer = evtimer_new(base, stop_cb, NULL);
		struct timeval tv = {seconds, 0};
		evtimer_add(timer, &tv);
	}
	printf("ready %u\n", evudp6_transport_port(evudp6_messenger_transport(m)));
	fflush(stdout);
	event_base_dispatch(base);
	struct evudp6_messenger_stats st;
	evudp6_messenger_stats(m, &st, sizeof(st));
	printf("stats requests=%llu responses=%llu suppressed=%llu duplicates=%llu\n",
	       (unsigned long long)st.requests_received, (unsigned long long)st.responses_sent,
	       (unsigned long long)st.responses_suppressed, (unsigned long long)st.duplicates);
	evudp6_messenger_free(m);
	event_free(sigterm);
	event_free(sigint);
	if (timer)
		event_free(timer);
	return 0;
}

/* ------------------------------------------------------------ client */

static int responses;
static struct timespec t0;

static long elapsed_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long)((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
}

static void response_cb(struct evudp6_request *r, int err, const struct evudp6_msg *rsp,
                        const struct evudp6_addr *remote, const struct evudp6_icmp *icmp, void *arg)
{
	bool mcast = *(bool *)arg;
	char from[EVUDP6_HOSTINFO_MAX] = "?";
	(void)r;
	evudp6_addr_hostinfo(remote, from, sizeof from);
	if (rsp) {
		char code[EVUDP6_CODE_STR_MAX];
		responses++;
		printf("response %s from %s after %ld ms type %s payload %.*s\n",
		       evudp6_code_str(rsp->code, code), from, elapsed_ms(), evudp6_msg_type_name(rsp->type),
		       (int)rsp->payload_len, rsp->payload ? (const char *)rsp->payload : "");
		if (!mcast) {
			printf("end ok\n");
			event_base_loopexit(base, NULL);
		}
	} else {
		char why[EVUDP6_ICMP_DESCRIBE_MAX] = "";
		if (icmp)
			evudp6_icmp_describe(icmp, why, sizeof why);
		printf("end %s after %ld ms %s\n", evudp6_strerror_name(err), elapsed_ms(), why);
		event_base_loopexit(base, NULL);
	}
	fflush(stdout);
}

/* An IPv6 hop-by-hop header with one option of unknown type 0x9e: its
 * top bits (10) tell a router to drop the datagram and answer with an
 * ICMPv6 Parameter Problem (RFC 8200 4.2). */
static const uint8_t unknown_hbh[8] = {0, 0, 0x9e, 4, 0, 0, 0, 0};

static void restore_cb(evutil_socket_t fd, short what, void *arg)
{
	struct evudp6_transport *t = arg;
	(void)fd;
	(void)what;
	evudp6_transport_set_unicast_hops(t, -1);
	setsockopt(evudp6_transport_fd(t), IPPROTO_IPV6, IPV6_HOPOPTS, NULL, 0);
}

/* A soft ICMP error the messenger vetted. */
static void soft_icmp_cb(struct evudp6_messenger *m, int err, const struct evudp6_icmp *icmp,
                         const struct evudp6_addr *remote, void *arg)
{
	char why[EVUDP6_ICMP_DESCRIBE_MAX] = "";
	(void)m;
	(void)remote;
	(void)arg;
	evudp6_icmp_describe(icmp, why, sizeof why);
	printf("icmp %s after %ld ms %s\n", evudp6_strerror_name(err), elapsed_ms(), why);
}

static void print_client_stats(const struct evudp6_messenger *m)
{
	struct evudp6_messenger_stats st;
	evudp6_messenger_stats(m, &st, sizeof(st));
	printf("stats icmp_errors=%llu icmp_vetted_out=%llu exchanges_failed=%llu retransmissions=%llu "
	       "icmp_packet_too_big=%llu packet_too_big_resends=%llu icmp_time_exceeded=%llu "
	       "icmp_parameter_problem=%llu\n",
	       (unsigned long long)st.icmp_errors, (unsigned long long)st.icmp_vetted_out,
	       (unsigned long long)st.exchanges_failed, (unsigned long long)st.retransmissions,
	       (unsigned long long)st.icmp_packet_too_big, (unsigned long long)st.packet_too_big_resends,
	       (unsigned long long)st.icmp_time_exceeded, (unsigned long long)st.icmp_parameter_problem);
}

static int run_client(int argc, char **argv)
{
	bool non = false, ping = false, hbh = false;
	const char *method = "get", *payload = NULL;
	unsigned int wait_ms = 0, ack_timeout = 0, restore_ms = 0;
	size_t fill = 0;
	int hops = 0;
	int opt;
	while ((opt = getopt(argc, argv, "NPm:e:s:w:a:H:XR:")) != -1) {
		switch (opt) {
		case 'N':
			non = true;
			break;
		case 'P':
			ping = true;
			break;
		case 'm':
			method = optarg;
			break;
		case 'e':
			payload = optarg;
			break;
		case 'w':
			wait_ms = (unsigned int)atol(optarg);
			break;
		case 'a':
			ack_timeout = (unsigned int)atol(optarg);
			break;
		case 's':
			fill = (size_t)atol(optarg);
			break;
		case 'H':
			hops = atoi(optarg);
			break;
		case 'X':
			hbh = true;
			break;
		case 'R':
			restore_ms = (unsigned int)atol(optarg);
			break;
		default:
			usage();
		}
	}
	if (fill > 60000)
		usage();
	if (argc - optind < 2)
		usage();
	char host[128], path[256] = "";
	snprintf(host, sizeof host, "%s", argv[optind]);
	uint16_t port = (uint16_t)atoi(argv[optind + 1]);
	if (argc - optind > 2)
		snprintf(path, sizeof path, "%s", argv[optind + 2]);

	unsigned int ifindex = 0;
	char *pct = strchr(host, '%');
	if (pct) {
		*pct = 0;
		ifindex = if_nametoindex(pct + 1);
		if (!ifindex) {
			fprintf(stderr, "unknown interface %s\n", pct + 1);
			return 2;
		}
	}
	struct evudp6_addr to;
	bool v4 = strchr(host, ':') == NULL;
	if (evudp6_addr_from_literal(&to, host, port, v4 ? 0 : ifindex) < 0) {
		fprintf(stderr, "not an address: %s\n", host);
		return 2;
	}
	if (v4 && ifindex) {
		/* IPv4 has no zone: pick the interface with an interface-only local part. */
		struct in6_addr any4;
		inet_pton(AF_INET6, "::ffff:0.0.0.0", &any4);
		evudp6_addr_set_local(&to, &any4, ifindex);
	}

	struct evudp6_messenger_config c;
	evudp6_messenger_config_init(&c, sizeof(c));
	if (ack_timeout)
		c.ack_timeout_ms = ack_timeout;
	if (fill)
		c.max_message = fill + 512;
	struct evudp6_messenger *m;
	int rc = evudp6_messenger_new(&m, base, NULL, &c);
	if (rc == 0)
		rc = evudp6_messenger_start(m);
	if (rc < 0) {
		fprintf(stderr, "messenger: %s\n", evudp6_strerror(rc));
		return 1;
	}
	evudp6_messenger_set_icmp_cb(m, soft_icmp_cb, NULL);
	struct evudp6_transport *t = evudp6_messenger_transport(m);
	if (evudp6_addr_is_multicast(&to))
		evudp6_transport_set_multicast_loop(t, true);
	if (hops && evudp6_transport_set_unicast_hops(t, hops) < 0) {
		fprintf(stderr, "hop limit %d refused\n", hops);
		return 2;
	}
	if (hbh && setsockopt(evudp6_transport_fd(t), IPPROTO_IPV6, IPV6_HOPOPTS, unknown_hbh,
	                      sizeof unknown_hbh) < 0) {
		perror("IPV6_HOPOPTS");
		return 2;
	}
	static char filler[60000];

	uint8_t code = EVUDP6_GET;
	if (strcmp(method, "post") == 0)
		code = EVUDP6_POST;
	else if (strcmp(method, "put") == 0)
		code = EVUDP6_PUT;
	else if (strcmp(method, "delete") == 0)
		code = EVUDP6_DELETE;
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, non ? EVUDP6_NON : EVUDP6_CON, ping ? EVUDP6_EMPTY : code, 0);
	if (!ping) {
		char *query = strchr(path, '?');
		if (query)
			*query++ = 0;
		for (char *seg = strtok(path, "/"); seg; seg = strtok(NULL, "/"))
			evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_PATH, seg, strlen(seg));
		for (char *q = query ? strtok(query, "&") : NULL; q; q = strtok(NULL, "&"))
			evudp6_msg_builder_add_opt(&b, EVUDP6_OPT_URI_QUERY, q, strlen(q));
		if (payload) {
			evudp6_msg_builder_set_payload(&b, payload, strlen(payload));
		} else if (fill) {
			memset(filler, 'x', fill);
			evudp6_msg_builder_set_payload(&b, filler, fill);
		}
	}
	bool mcast = evudp6_addr_is_multicast(&to);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = evudp6_messenger_request(m, &to, &b, wait_ms, response_cb, &mcast, NULL);
	if (rc < 0) {
		printf("refused %s\n", evudp6_strerror_name(rc));
		evudp6_messenger_free(m);
		return 3;
	}
	struct event *restore = NULL;
	if (restore_ms) {
		restore = evtimer_new(base, restore_cb, t);
		struct timeval tv = {restore_ms / 1000, (restore_ms % 1000) * 1000};
		evtimer_add(restore, &tv);
	}
	event_base_dispatch(base);
	print_client_stats(m);
	if (restore)
		event_free(restore);
	evudp6_messenger_free(m);
	return responses > 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct event_config *ec = event_config_new();
	event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER);
	base = event_base_new_with_config(ec);
	event_config_free(ec);
	if (!base)
		return 1;
	int rc;
	if (strcmp(argv[1], "server") == 0)
		rc = run_server(argc - 1, argv + 1);
	else if (strcmp(argv[1], "client") == 0)
		rc = run_client(argc - 1, argv + 1);
	else
		usage();
	event_base_free(base);
	return rc;
}
