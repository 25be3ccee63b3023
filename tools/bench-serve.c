/*
 * evudp6-bench — the servers under test. Each answers a CON GET with a
 * piggybacked ACK 2.05 carrying the request's message id and token,
 * Content-Format 0 and BENCH_PAYLOAD, so that their answers are the same
 * bytes and only the way they get there differs:
 *
 *   bare            recvmmsg/sendmmsg on a plain socket, header flipped in
 *                   place: no pktinfo, no event loop. The ceiling.
 *   transport       evudp6 transport; the datagram callback decodes the
 *                   request (evudp6_msg_decode) and encodes the answer
 *                   with a builder (evudp6_msg_encode).
 *   transport-flip  evudp6 transport; the callback only checks the header
 *                   and flips it, as the bare responder does.
 *   messenger       evudp6 message layer (deduplication on); the request
 *                   handler answers with evudp6_exchange_respond().
 *   server          the resource API on a messenger: the request is routed
 *                   to the "/" resource among others (exact and prefix
 *                   paths), its options checked as the server does for
 *                   every request, and the handler answers through the
 *                   response object.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/event.h>

#include <evudp6.h>

#include "bench.h"

/* Option Content-Format (12) with the empty value 0, payload marker,
 * payload: what follows header and token in every answer. */
static const uint8_t answer_tail[] = {0xc0, 0xff, 'h', 'e', 'l', 'l', 'o'};

/* Turn a CON request (header and token at p, len bytes) into its answer
 * in place. Returns the answer's length, or 0 for anything else. */
static size_t flip(uint8_t *p, size_t len, size_t room)
{
	if (len < 4 || (p[0] >> 6) != 1 || ((p[0] >> 4) & 3) != EVUDP6_CON || p[1] == 0 ||
	    EVUDP6_CODE_CLASS(p[1]) != 0)
		return 0;
	size_t tkl = p[0] & 0x0f;
	if (tkl > 8 || len < 4 + tkl || room < 4 + tkl + sizeof(answer_tail))
		return 0;
	p[0] = (uint8_t)(0x40 | EVUDP6_ACK << 4 | tkl);
	p[1] = EVUDP6_CONTENT;
	memcpy(p + 4 + tkl, answer_tail, sizeof(answer_tail));
	return 4 + tkl + sizeof(answer_tail);
}

/* ------------------------------------------------------------------ bare */

static int bound_socket(uint16_t port, bool reuseport)
{
	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	if (reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	struct sockaddr_in6 sa = {
	    .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT, .sin6_port = htons(port)};
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static void *serve_bare(void *arg)
{
	int fd = (int)(intptr_t)arg;
	enum { B = 64, DLEN = 1500 };
	static __thread uint8_t buf[B][DLEN];
	struct sockaddr_in6 name[B];
	struct iovec iov[B];
	struct mmsghdr rx[B], tx[B];
	for (;;) {
		for (int i = 0; i < B; i++) {
			iov[i] = (struct iovec){.iov_base = buf[i], .iov_len = DLEN};
			rx[i].msg_hdr = (struct msghdr){.msg_name = &name[i],
			                                .msg_namelen = sizeof(name[i]),
			                                .msg_iov = &iov[i],
			                                .msg_iovlen = 1};
		}
		int n = recvmmsg(fd, rx, B, MSG_WAITFORONE, NULL);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			perror("bare: recvmmsg");
			exit(1);
		}
		int m = 0;
		for (int i = 0; i < n; i++) {
			size_t len = flip(buf[i], rx[i].msg_len, DLEN);
			if (len == 0)
				continue;
			iov[i].iov_len = len;
			tx[m].msg_hdr = (struct msghdr){.msg_name = &name[i],
			                                .msg_namelen = rx[i].msg_hdr.msg_namelen,
			                                .msg_iov = &iov[i],
			                                .msg_iovlen = 1};
			m++;
		}
		for (int done = 0; done < m;) {
			int s = sendmmsg(fd, tx + done, (unsigned int)(m - done), 0);
			if (s < 0) {
				if (errno == EINTR)
					continue;
				break; /* a lost answer: the load generator counts it */
			}
			done += s;
		}
	}
	return NULL;
}

/* -------------------------------------------------------------- transport */

static void answer_decoded(struct evudp6_transport *t, const uint8_t *data, size_t len,
                           const struct evudp6_addr *remote, void *arg)
{
	(void)arg;
	struct evudp6_msg req;
	if (evudp6_msg_decode(&req, data, len) < 0 || req.type != EVUDP6_CON || req.code == 0 ||
	    EVUDP6_CODE_CLASS(req.code) != 0)
		return;
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, EVUDP6_ACK, EVUDP6_CONTENT, req.mid);
	evudp6_msg_builder_set_token(&b, req.token, req.tkl);
	evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_CONTENT_FORMAT, 0);
	evudp6_msg_builder_set_payload(&b, BENCH_PAYLOAD, sizeof(BENCH_PAYLOAD) - 1);
	uint8_t out[64];
	ssize_t n = evudp6_msg_encode(&b, out, sizeof(out));
	if (n < 0)
		return;
	struct evudp6_addr to;
	evudp6_addr_response(remote, &to);
	evudp6_transport_send(t, &to, out, (size_t)n);
}

static void answer_flipped(struct evudp6_transport *t, const uint8_t *data, size_t len,
                           const struct evudp6_addr *remote, void *arg)
{
	(void)arg;
	/* Header and token are all that is kept: at most 12 bytes. */
	uint8_t out[64];
	if (len > sizeof(out))
		return;
	memcpy(out, data, len < 12 ? len : 12);
	size_t n = flip(out, len, sizeof(out));
	if (n == 0)
		return;
	struct evudp6_addr to;
	evudp6_addr_response(remote, &to);
	evudp6_transport_send(t, &to, out, n);
}

static void answer_request(struct evudp6_messenger *m, struct evudp6_exchange_handle ex,
                           const struct evudp6_msg *req, const struct evudp6_addr *remote, void *arg)
{
	(void)m;
	(void)req;
	(void)remote;
	(void)arg;
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, EVUDP6_ACK, EVUDP6_CONTENT, 0);
	evudp6_msg_builder_add_uint(&b, EVUDP6_OPT_CONTENT_FORMAT, 0);
	evudp6_msg_builder_set_payload(&b, BENCH_PAYLOAD, sizeof(BENCH_PAYLOAD) - 1);
	evudp6_exchange_respond(ex, &b);
}

static void answer_resource(struct evudp6_resource *res, struct evudp6_response *rsp,
                            const struct evudp6_msg *req, const struct evudp6_addr *remote, void *arg)
{
	(void)res, (void)req, (void)remote, (void)arg;
	evudp6_response_set_content_format(rsp, EVUDP6_CF_TEXT_PLAIN);
	evudp6_response_set_payload(rsp, BENCH_PAYLOAD, sizeof(BENCH_PAYLOAD) - 1);
}

/* A small site: the load asks for "/", which is matched after the others
 * have been looked at. */
static int add_site(struct evudp6_server *srv)
{
	static const char *const paths[] = {"/.well-known/x", "/sensors/temp", "/sensors/light",
	                                    "/actuators/led", "/files/*",      "/config/*"};
	int r = 0;
	for (size_t i = 0; r == 0 && i < sizeof(paths) / sizeof(paths[0]); i++)
		r = evudp6_server_add(srv, paths[i], EVUDP6_METHOD_GET, answer_resource, NULL, NULL);
	struct evudp6_resource *root = NULL;
	if (r == 0)
		r = evudp6_server_add(srv, "/", EVUDP6_METHOD_GET, answer_resource, NULL, &root);
	if (r == 0)
		r = evudp6_resource_add_content_format(root, EVUDP6_CF_TEXT_PLAIN);
	return r;
}

struct shard {
	pthread_t thread;
	const char *kind;
	char bind[32];
	bool reuseport;
	int fd; /* bare */
	int err;
	pthread_mutex_t lock;
	pthread_cond_t ready;
	bool started;
};

/* One event_base and one transport (or messenger) per thread: nothing is
 * shared, so nothing needs a lock on the datagram path. */
static void *serve_evudp6(void *arg)
{
	struct shard *s = arg;
	struct event_base *base = event_base_new();
	struct evudp6_transport_config tcfg = {
	    .size = sizeof(tcfg), .bind = s->bind, .reuseport = s->reuseport};
	int r = base ? 0 : -ENOMEM;
	if (r == 0 && strcmp(s->kind, "messenger") == 0) {
		struct evudp6_messenger *m = NULL;
		r = evudp6_messenger_new(&m, base, &tcfg, NULL);
		if (r == 0) {
			evudp6_messenger_set_request_cb(m, answer_request, NULL);
			r = evudp6_messenger_start(m);
		}
	} else if (r == 0 && strcmp(s->kind, "server") == 0) {
		struct evudp6_messenger *m = NULL;
		struct evudp6_server *srv = NULL;
		r = evudp6_messenger_new(&m, base, &tcfg, NULL);
		if (r == 0)
			r = evudp6_server_new(&srv, m);
		if (r == 0)
			r = add_site(srv);
		if (r == 0)
			r = evudp6_messenger_start(m);
	} else if (r == 0) {
		struct evudp6_transport *t = NULL;
		evudp6_transport_datagram_cb cb =
		    strcmp(s->kind, "transport-flip") == 0 ? answer_flipped : answer_decoded;
		r = evudp6_transport_new(&t, base, &tcfg, cb, NULL, NULL);
		if (r == 0)
			r = evudp6_transport_start(t);
	}
	pthread_mutex_lock(&s->lock);
	s->err = r;
	s->started = true;
	pthread_cond_signal(&s->ready);
	pthread_mutex_unlock(&s->lock);
	if (r == 0)
		event_base_dispatch(base);
	return NULL;
}

int bench_serve(const char *kind, uint16_t port, unsigned int shards)
{
	bool bare = strcmp(kind, "bare") == 0;
	if (!bare && strcmp(kind, "transport") != 0 && strcmp(kind, "transport-flip") != 0 &&
	    strcmp(kind, "messenger") != 0 && strcmp(kind, "server") != 0) {
		fprintf(stderr, "evudp6-bench: unknown server kind '%s'\n", kind);
		return -EINVAL;
	}
	if (shards < 1 || shards > 64)
		return -EINVAL;
	struct shard *sh = calloc(shards, sizeof(*sh));
	if (!sh)
		return -ENOMEM;
	for (unsigned int i = 0; i < shards; i++) {
		struct shard *s = &sh[i];
		s->kind = kind;
		s->reuseport = shards > 1;
		snprintf(s->bind, sizeof(s->bind), "[::1]:%u", port);
		pthread_mutex_init(&s->lock, NULL);
		pthread_cond_init(&s->ready, NULL);
		int r;
		if (bare) {
			s->fd = bound_socket(port, s->reuseport);
			if (s->fd < 0) {
				fprintf(stderr, "evudp6-bench: bare: bind port %u: %s\n", port,
				        strerror(-s->fd));
				return s->fd;
			}
			r = pthread_create(&s->thread, NULL, serve_bare, (void *)(intptr_t)s->fd);
		} else {
			r = pthread_create(&s->thread, NULL, serve_evudp6, s);
		}
		if (r != 0)
			return -r;
		if (bare)
			continue;
		/* Start the shards one after the other so that a failure is
		 * reported with its shard. */
		pthread_mutex_lock(&s->lock);
		while (!s->started)
			pthread_cond_wait(&s->ready, &s->lock);
		pthread_mutex_unlock(&s->lock);
		if (s->err < 0) {
			fprintf(stderr, "evudp6-bench: %s shard %u on port %u: %s\n", kind, i, port,
			        evudp6_strerror(s->err));
			return s->err;
		}
	}
	for (unsigned int i = 0; i < shards; i++)
		pthread_join(sh[i].thread, NULL);
	return 0;
}
