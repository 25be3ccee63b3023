/*
 * evudp6-probe — the diagnostic server's observable resources (RFC 7641):
 * /obs, a counter that changes every second, and /obs-large, a body of
 * several blocks that changes with it (RFC 7959 2.6: each notification
 * carries its first block with ETag and Size2; the observer fetches the
 * rest, served from the block server's snapshot).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "probe.h"

#define OBS_MAX     64
#define LARGE_LINES 100 /* of 32 bytes: 3200 bytes, four blocks of 1024 */

struct obs_res {
	struct probe_obs *r;
	bool large;
	size_t n;
	struct evudp6_observation_handle o[OBS_MAX];
	/* /obs-large: each registration as it came, for its options and
	 * block size when the next first block is cut. */
	uint8_t *reg[OBS_MAX];
	size_t reg_len[OBS_MAX];
};

struct probe_obs {
	struct event *tick;
	struct evudp6_block_server *blocks;
	unsigned long value;
	char text[64];
	size_t len;
	char big[LARGE_LINES * 32 + 1];
	struct obs_res res[2]; /* /obs, /obs-large */
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

static void update(struct probe_obs *r)
{
	int n = snprintf(r->text, sizeof(r->text), "tick %lu", r->value);
	r->len = n > 0 ? (size_t)n : 0;
	for (int i = 0; i < LARGE_LINES; i++)
		snprintf(r->big + i * 32, 33, "tick %08lu line %02u of 100...\n", r->value % 100000000u,
		         (unsigned int)i % 100u);
}

static void forget(struct obs_res *res, struct evudp6_observation_handle o)
{
	for (size_t i = 0; i < res->n; i++)
		if (res->o[i].obj == o.obj && res->o[i].gen == o.gen) {
			uint8_t *reg = res->reg[i];
			res->n--;
			res->o[i] = res->o[res->n];
			res->reg[i] = res->reg[res->n];
			res->reg_len[i] = res->reg_len[res->n];
			res->reg[res->n] = reg; /* the buffer stays for the next one */
			return;
		}
}

static void end_cb(struct evudp6_observation_handle o, int reason, void *arg)
{
	(void)reason;
	forget(arg, o);
}

/* The first block of the large body, cut for the registration in slot @p i. */
static int large_first(struct obs_res *res, size_t i, struct evudp6_msg_builder *b)
{
	struct evudp6_msg reg;
	if (evudp6_msg_decode(&reg, res->reg[i], res->reg_len[i]) != 0)
		return -EINVAL;
	representation(res->r, b);
	return evudp6_block_server_first(res->r->blocks, evudp6_observation_remote(res->o[i]), &reg, b,
	                                 res->r->big, strlen(res->r->big));
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct probe_obs *r = arg;
	r->value++;
	update(r);
	struct evudp6_msg_builder b;
	representation(r, &b);
	evudp6_observation_notify_many(r->res[0].o, r->res[0].n, &b);
	struct obs_res *large = &r->res[1];
	for (size_t i = 0; i < large->n; i++)
		if (large_first(large, i, &b) == 0)
			evudp6_observation_notify(large->o[i], &b);
}

int probe_obs_new(struct probe_obs **out, struct event_base *base, struct evudp6_block_server *blocks)
{
	struct probe_obs *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->blocks = blocks;
	for (int k = 0; k < 2; k++) {
		r->res[k].r = r;
		r->res[k].large = k == 1;
	}
	for (int i = 0; i < OBS_MAX; i++)
		if (!(r->res[1].reg[i] = malloc(EVUDP6_MESSENGER_DEFAULT_MAX_MESSAGE))) {
			probe_obs_free(r);
			return -ENOMEM;
		}
	r->tick = event_new(base, -1, EV_PERSIST, tick_cb, r);
	if (!r->tick) {
		probe_obs_free(r);
		return -ENOMEM;
	}
	update(r);
	struct timeval one = {1, 0};
	event_add(r->tick, &one);
	*out = r;
	return 0;
}

void probe_obs_free(struct probe_obs *r)
{
	if (!r)
		return;
	if (r->tick)
		event_free(r->tick);
	for (int i = 0; i < OBS_MAX; i++)
		free(r->res[1].reg[i]);
	free(r);
}

/* Register the requester of @p ex with @p b as the first response. */
static int observe(struct obs_res *res, struct evudp6_exchange_handle ex, const struct evudp6_msg *req,
                   struct evudp6_msg_builder *b)
{
	if (res->n >= OBS_MAX || (res->large && req->len > EVUDP6_MESSENGER_DEFAULT_MAX_MESSAGE))
		return -ENOBUFS;
	int rc = evudp6_observe_accept(ex, req, b, end_cb, res, &res->o[res->n]);
	if (rc == 0 && res->large) {
		memcpy(res->reg[res->n], req->data, req->len);
		res->reg_len[res->n] = req->len;
	}
	if (rc == 0)
		res->n++;
	return rc;
}

bool probe_obs_serve(struct probe_obs *r, struct evudp6_exchange_handle ex, const struct evudp6_msg *req,
                     const char *path, uint8_t *code, const char **note)
{
	int k = !r ? -1 : strcmp(path, "/obs") == 0 ? 0 : strcmp(path, "/obs-large") == 0 ? 1 : -1;
	if (k < 0)
		return false;
	struct obs_res *res = &r->res[k];
	struct evudp6_msg_builder b;
	uint32_t v;
	int rc = 0;
	bool registration = evudp6_observe_value(req, &v) && v == 0;
	if (req->code != EVUDP6_GET) {
		evudp6_msg_builder_init(&b, 0, EVUDP6_METHOD_NOT_ALLOWED, 0);
	} else {
		representation(r, &b);
		if (registration && res->large)
			rc = evudp6_block_server_first(r->blocks, evudp6_exchange_remote(ex), req, &b, r->big,
			                               strlen(r->big));
		if (registration && rc == 0) {
			rc = observe(res, ex, req, &b);
			if (rc == 0) {
				*code = b.code;
				*note = "observing";
				return true;
			}
			*note = rc == -ENOBUFS ? "not observed: too many observers" : "not observed";
			representation(r, &b);
		} else if (evudp6_observe_value(req, &v) && v == 1) {
			*note = "deregistered"; /* the messenger removed the observer */
		}
	}
	*code = b.code;
	rc = res->large && req->code == EVUDP6_GET
	         ? evudp6_block_respond(r->blocks, ex, req, &b, r->big, strlen(r->big))
	         : evudp6_exchange_respond(ex, &b);
	if (rc < 0) {
		*code = 0;
		*note = evudp6_strerror(rc);
		evudp6_exchange_respond(ex, NULL);
	}
	return true;
}
