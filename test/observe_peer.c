/*
 * A server with one observable resource, driven by test/ns_observe.sh:
 *
 *   observe_peer -b BIND -i INTERVAL_MS
 *
 * accepts registrations to /obs (anything else gets 4.04), notifies every
 * observer every INTERVAL_MS with NON notifications, and prints
 *   ready PORT
 *   registered HOSTINFO
 *   removed reason=NAME observations=N removed_icmp=N timeouts=N since_ms=T
 * where since_ms is the time since the last notification left. Runs until
 * killed.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include <evudp6.h>

#define MAX 64

static struct evudp6_observation_handle obs[MAX];
static int nobs;
static double last_ms;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void end_cb(struct evudp6_observation_handle o, int reason, void *arg)
{
	struct evudp6_messenger *m = arg;
	for (int i = 0; i < nobs; i++)
		if (obs[i].obj == o.obj && obs[i].gen == o.gen)
			obs[i] = obs[--nobs];
	struct evudp6_observe_stats st;
	struct evudp6_messenger_stats ms;
	evudp6_observe_stats(m, &st, sizeof(st));
	evudp6_messenger_stats(m, &ms, sizeof(ms));
	printf("removed reason=%s observations=%llu removed_icmp=%llu timeouts=%llu since_ms=%.0f\n",
	       evudp6_strerror_name(reason), (unsigned long long)st.observations,
	       (unsigned long long)st.removed_icmp, (unsigned long long)ms.timeouts, now_ms() - last_ms);
	fflush(stdout);
}

static void request_cb(struct evudp6_messenger *m, struct evudp6_exchange_handle ex,
                       const struct evudp6_msg *req, const struct evudp6_addr *remote, void *arg)
{
	(void)arg;
	struct evudp6_opt p;
	struct evudp6_msg_builder b;
	bool is_obs =
	    evudp6_msg_find_opt(req, EVUDP6_OPT_URI_PATH, &p) && p.len == 3 && !memcmp(p.value, "obs", 3);
	evudp6_msg_builder_init(&b, 0, is_obs ? EVUDP6_CONTENT : EVUDP6_NOT_FOUND, 0);
	if (is_obs)
		evudp6_msg_builder_set_payload(&b, "first", 5);
	if (is_obs && nobs < MAX && evudp6_observe_accept(ex, req, &b, end_cb, m, &obs[nobs]) == 0) {
		nobs++;
		char h[EVUDP6_HOSTINFO_MAX];
		evudp6_addr_hostinfo(remote, h, sizeof h);
		printf("registered %s\n", h);
		fflush(stdout);
		return;
	}
	evudp6_exchange_respond(ex, &b);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, 0, EVUDP6_CONTENT, 0);
	evudp6_msg_builder_set_payload(&b, "tick", 4);
	if (nobs)
		last_ms = now_ms();
	for (int i = 0; i < nobs; i++)
		evudp6_observation_notify(obs[i], &b);
}

int main(int argc, char **argv)
{
	const char *bind = "[::]:0";
	int interval = 200, opt;
	while ((opt = getopt(argc, argv, "b:i:")) != -1) {
		if (opt == 'b')
			bind = optarg;
		else if (opt == 'i')
			interval = atoi(optarg);
		else
			return 64;
	}
	struct event_base *base = event_base_new();
	struct evudp6_messenger *m;
	struct evudp6_transport_config tc = {.size = sizeof(tc), .bind = bind};
	if (!base || evudp6_messenger_new(&m, base, &tc, NULL) < 0 || evudp6_observe_setup(m, NULL) < 0)
		return 71;
	evudp6_messenger_set_request_cb(m, request_cb, NULL);
	if (evudp6_messenger_start(m) < 0)
		return 71;
	struct event *tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	struct timeval tv = {interval / 1000, (interval % 1000) * 1000};
	event_add(tick, &tv);
	printf("ready %u\n", evudp6_transport_port(evudp6_messenger_transport(m)));
	fflush(stdout);
	event_base_dispatch(base);
	event_free(tick);
	evudp6_messenger_free(m);
	event_base_free(base);
	return 0;
}
