/*
 * evudp6-probe — the diagnostic server's observable resource (/obs): a
 * counter that changes every second and notifies its observers (RFC 7641).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "probe.h"

#define OBS_MAX 64

struct probe_obs {
	struct event *tick;
	unsigned long value;
	char text[64];
	size_t len;
	struct evudp6_observation *o[OBS_MAX];
	size_t n;
};

static void representation(struct probe_obs *r, struct evudp6_msg_builder *b)
{
	evudp6_msg_builder_init(b, 0, EVUDP6_CONTENT, 0);
	evudp6_msg_builder_add_uint(b, EVUDP6_OPT_CONTENT_FORMAT, 0);
	/* A notification is due every second; after 2 s of silence the
	 * observer may register again. */
	evudp6_msg_builder_add_uint(b, EVUDP6_OPT_MAX_AGE, 2);
	evudp6_msg_builder_set_payload(b, r->text, r->len);
}

static void forget(struct probe_obs *r, struct evudp6_observation *o)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->o[i] == o) {
			r->o[i] = r->o[--r->n];
			return;
		}
}

static void end_cb(struct evudp6_observation *o, int reason, void *arg)
{
	(void)reason;
	forget(arg, o);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct probe_obs *r = arg;
	r->value++;
	int n = snprintf(r->text, sizeof(r->text), "tick %lu", r->value);
	r->len = n > 0 ? (size_t)n : 0;
	struct evudp6_msg_builder b;
	representation(r, &b);
	evudp6_observation_notify_many(r->o, r->n, &b);
}

int probe_obs_new(struct probe_obs **out, struct event_base *base)
{
	struct probe_obs *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->tick = event_new(base, -1, EV_PERSIST, tick_cb, r);
	if (!r->tick) {
		free(r);
		return -ENOMEM;
	}
	r->len = (size_t)snprintf(r->text, sizeof(r->text), "tick 0");
	struct timeval one = {1, 0};
	event_add(r->tick, &one);
	*out = r;
	return 0;
}

void probe_obs_free(struct probe_obs *r)
{
	if (!r)
		return;
	event_free(r->tick);
	free(r);
}

bool probe_obs_serve(struct probe_obs *r, struct evudp6_exchange *ex, const struct evudp6_msg *req,
                     const char *path, uint8_t *code, const char **note)
{
	if (!r || strcmp(path, "/obs") != 0)
		return false;
	struct evudp6_msg_builder b;
	uint32_t v;
	if (req->code != EVUDP6_GET) {
		evudp6_msg_builder_init(&b, 0, EVUDP6_METHOD_NOT_ALLOWED, 0);
	} else {
		representation(r, &b);
		if (evudp6_observe_value(req, &v) && v == 0) {
			int rc = r->n < OBS_MAX ? evudp6_observe_accept(ex, req, &b, end_cb, r, &r->o[r->n])
			                        : -ENOBUFS;
			if (rc == 0) {
				r->n++;
				*code = b.code;
				*note = "observing";
				return true;
			}
			*note = rc == -ENOBUFS ? "not observed: too many observers" : "not observed";
		} else if (evudp6_observe_value(req, &v) && v == 1) {
			*note = "deregistered"; /* the messenger removed the observer */
		}
	}
	*code = b.code;
	int rc = evudp6_exchange_respond(ex, &b);
	if (rc < 0) {
		*code = 0;
		*note = evudp6_strerror(rc);
		evudp6_exchange_respond(ex, NULL);
	}
	return true;
}
