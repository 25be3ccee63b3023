/*
 * evudp6-probe — the client side: one request, a ping series, or a
 * multicast request collecting every responder. Everything goes through
 * the public API: resolver for the URI, messenger for the exchange.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <net/if.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/event_struct.h>

#include "probe.h"

#define PING_SLOTS     64
#define MAX_RESPONDERS 256
/* Largest body kept in memory; with -o the body streams to the file. */
#define BODY_MAX        (64u * 1024u * 1024u)
#define STREAM_BODY_MAX ((size_t)1 << 40)
/* The progress bar appears after this many blocks, at most every 100 ms. */
#define PROGRESS_BLOCKS 4
/* A payload larger than this goes block-wise from the start. */
#define BLOCK_DEFAULT EVUDP6_BLOCK_DEFAULT_BLOCK_SIZE

struct ping_slot {
	struct probe_job *job;
	struct evudp6_request_handle r;
	double t0;
	int seq;
	bool used;
};

struct probe_job {
	struct probe_client *c;
	const struct probe_opts *o;
	char *uri;
	struct evudp6_uri u;
	struct evudp6_addr dest;
	bool multicast;
	struct evudp6_resolve *resolving;
	struct evudp6_request_handle req;
	struct evudp6_block_request *breq;
	struct evudp6_request_options ro; /* of the request, for every block's exchange too */
	int out_fd;
	uint64_t out_len;
	unsigned int progress_blocks;
	double progress_t;
	bool progress_drawn;
	struct event *deadline, *tick, *finish, *sigint;
	struct event direct; /* delivers a group literal's address from the loop */
	struct evudp6_addr direct_addr;
	bool direct_set;
	double t_start, t_sent;
	/* every address the name resolved to, and the next to try */
	struct evudp6_resolve_candidate cand[EVUDP6_RESOLVE_MAX_CANDIDATES];
	size_t ncand, next_cand;
	bool acked;                 /* an empty ACK came */
	bool con;                   /* the request was confirmable */
	unsigned int transmissions; /* of the request, once it ended */
	bool ended;
	int code;
	/* multicast */
	unsigned int responses, ok_responses;
	struct evudp6_addr responders[MAX_RESPONDERS];
	unsigned int nresponders;
	/* ping */
	unsigned int sent, answered, errors, pending;
	double rtt_min, rtt_max, rtt_sum;
	bool stop_sending;
	struct ping_slot slot[PING_SLOTS];
	/* observe */
	struct evudp6_observer_handle obs;
	unsigned int notifications;
	bool deregistering;
	probe_job_done_cb done;
	void *arg;
};

static void unmatched_cb(struct evudp6_messenger *m, const struct evudp6_msg *msg,
                         const struct evudp6_addr *remote, struct evudp6_request_handle owner, void *arg);
static bool fall_back(struct probe_job *j, int err, const struct evudp6_icmp *icmp);

/* ------------------------------------------------------------ set-up */

static void libevent_log_cb(int severity, const char *msg)
{
	if (severity > EVENT_LOG_DEBUG)
		probe_out_dns_log(severity >= EVENT_LOG_WARN, msg);
}

int probe_client_init(struct probe_client *c, struct event_base *base, const struct probe_opts *o)
{
	memset(c, 0, sizeof(*c));
	c->base = base;
	c->o = o;

	/* evdns's own log lines ("[msg] Nameserver ... has failed", "[warn]
	 * Unable to parse ...") would land on standard error beside, and
	 * sometimes against, the probe's verdict: they become the probe's
	 * own messages. evdns logs through libevent's log unless given a
	 * function of its own, which would also receive its debug lines
	 * without a severity to tell them apart: libevent's callback has it. */
	event_set_log_callback(libevent_log_cb);
	/* Names resolve through evdns without blocking the loop; the flag
	 * keeps an idle resolver from holding the loop open. */
	int flags = EVDNS_BASE_DISABLE_WHEN_INACTIVE;
	c->dns = evdns_base_new(base, o->dns ? flags : flags | EVDNS_BASE_INITIALIZE_NAMESERVERS);
	if (!c->dns) {
		probe_warn("cannot set up the name resolver");
		return PROBE_EXIT_OSERR;
	}
	if (o->dns) {
		if (evdns_base_nameserver_ip_add(c->dns, o->dns) != 0) {
			probe_warn("--dns %s: not an IP address with an optional port", o->dns);
			return PROBE_EXIT_USAGE;
		}
		evdns_base_load_hosts(c->dns, NULL);
	}
	int rc = evudp6_resolver_new(&c->resolver, base, c->dns);
	if (rc < 0) {
		probe_warn("resolver: %s", evudp6_strerror(rc));
		return PROBE_EXIT_OSERR;
	}

	struct evudp6_transport_config tcfg = {.size = sizeof(tcfg), .bind = o->bind ? o->bind : "[::]:0"};
	struct evudp6_messenger_config mcfg;
	evudp6_messenger_config_init(&mcfg, sizeof(mcfg));
	if (o->mode == PROBE_PING) {
		/* Each ping stands alone, as in ping(8): one transmission, its
		 * own timeout, several outstanding at once. */
		mcfg.max_retransmit = 0;
		mcfg.ack_timeout_ms = (unsigned int)lround((o->timeout_s > 0 ? o->timeout_s : 2.0) * 1000.0);
		if (mcfg.ack_timeout_ms == 0)
			mcfg.ack_timeout_ms = 1;
		mcfg.ack_random_factor = 1.0;
		mcfg.nstart = PING_SLOTS;
	} else if (o->timeout_s > 0) {
		mcfg.response_timeout_ms = (unsigned int)lround(o->timeout_s * 1000.0);
		if (mcfg.response_timeout_ms == 0)
			mcfg.response_timeout_ms = 1;
	}
	rc = evudp6_messenger_new(&c->m, base, &tcfg, &mcfg);
	if (rc == 0) {
		/* A Packet Too Big for a block: the next blocks fit the path. */
		evudp6_messenger_set_icmp_cb(c->m, evudp6_block_icmp_cb, NULL);
		rc = evudp6_messenger_start(c->m);
	}
	if (rc == 0)
		evudp6_messenger_set_unmatched_cb(c->m, unmatched_cb, c);
	if (rc < 0) {
		probe_warn("cannot open the client socket on %s: %s", tcfg.bind, evudp6_strerror(rc));
		bool bad_bind = rc <= -EVUDP6_E_NOT_MINE && rc > -EVUDP6_E_RESOLVE_NXDOMAIN;
		return bad_bind ? PROBE_EXIT_USAGE : PROBE_EXIT_OSERR;
	}
	return 0;
}

void probe_client_free(struct probe_client *c)
{
	evudp6_messenger_free(c->m);
	evudp6_resolver_free(c->resolver);
	if (c->dns)
		evdns_base_free(c->dns, 1);
	memset(c, 0, sizeof(*c));
}

/* ------------------------------------------------------------ ending */

static void job_free(struct probe_job *j)
{
	if (j->c->job == j)
		j->c->job = NULL;
	if (j->direct_set)
		event_del(&j->direct);
	if (j->deadline)
		event_free(j->deadline);
	if (j->tick)
		event_free(j->tick);
	if (j->finish)
		event_free(j->finish);
	if (j->sigint)
		event_free(j->sigint);
	if (j->out_fd >= 0)
		close(j->out_fd);
	free(j->uri);
	free(j);
}

static void finish_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct probe_job *j = arg;
	probe_job_done_cb done = j->done;
	void *darg = j->arg;
	int code = j->code;
	job_free(j);
	done(NULL, code, darg);
}

/* End the job with @p code; the done callback runs from the loop. */
static void job_end(struct probe_job *j, int code)
{
	if (j->ended)
		return;
	j->ended = true;
	j->code = code;
	if (j->deadline)
		event_del(j->deadline);
	if (j->tick)
		event_del(j->tick);
	if (j->sigint)
		event_del(j->sigint);
	static const struct timeval now = {0, 0};
	event_add(j->finish, &now);
}

/* " [::1]:53" or " 192.0.2.53 and 1 more" for messages; "" when unknown. */
static const char *name_servers(const struct probe_client *c, char *buf, size_t len)
{
	buf[0] = '\0';
	int n = c->dns ? evdns_base_count_nameservers(c->dns) : 0;
	struct sockaddr_storage ss;
	if (n <= 0 || evdns_base_get_nameserver_addr(c->dns, 0, (struct sockaddr *)&ss, sizeof(ss)) <= 0)
		return buf;
	struct evudp6_addr a;
	char t[EVUDP6_HOSTINFO_MAX];
	if (evudp6_addr_from_sockaddr(&a, (struct sockaddr *)&ss, sizeof(ss)) < 0)
		return buf;
	probe_remote_text(&a, t, sizeof(t));
	if (n > 1)
		snprintf(buf, len, " %s (and %d more)", t, n - 1);
	else
		snprintf(buf, len, " %s", t);
	return buf;
}

/* Resolution results: a failed route check is the network's word, the rest the resolver's. */
static void report_resolve_error(struct probe_job *j, int err)
{
	bool route = err == -EVUDP6_E_RESOLVE_NOROUTE || (err < 0 && -err < EVUDP6_E_FIRST);
	struct probe_err_info e = {
	    .kind = route ? "network" : "resolve",
	    .uri = j->uri,
	    .err = err,
	    .elapsed_ms = probe_now_ms() - j->t_start,
	    .detail = route ? "no route to the destination, found before sending" : NULL,
	    .seq = -1,
	};
	char ns[96], detail[160];
	if (err == -EVUDP6_E_RESOLVE_FAILED) {
		snprintf(detail, sizeof(detail), "no usable answer from the name server%s",
		         name_servers(j->c, ns, sizeof(ns)));
		e.detail = detail;
	}
	probe_out_error(&e);
	job_end(j, route ? PROBE_EXIT_NETWORK : PROBE_EXIT_RESOLVE);
}

/* Which timeout it was, in words (into @p b) and as the JSON kind. */
static const char *timeout_text(const struct probe_job *j, int err, int seq, struct sb *b)
{
	unsigned int sent = j->transmissions;
	const char *kind;
	if (seq >= 0) {
		sb_puts(b, "no response");
		return "retransmissions";
	}
	if (err == -EVUDP6_E_DEADLINE) {
		kind = "limit";
		sb_puts(b, "no response before the --timeout limit");
		if (j->acked)
			sb_puts(b, " (acknowledged, the separate response did not come)");
		else if (sent)
			sb_printf(b, " (%u transmission%s, none acknowledged)", sent, sent == 1 ? "" : "s");
	} else if (j->acked) {
		kind = "separate_response";
		sb_puts(b, "acknowledged, but no separate response came");
	} else if (!j->con) {
		kind = "non_response";
		sb_puts(b, "no response to the non-confirmable request");
	} else {
		kind = "retransmissions";
		sb_printf(b, "no answer after %u transmission%s", sent, sent == 1 ? "" : "s");
	}
	return kind;
}

/* An error that ended an exchange: ICMP, send error, timeout or RST. */
static int report_exchange_error(struct probe_job *j, int err, const struct evudp6_icmp *icmp,
                                 const struct evudp6_addr *remote, double t0, int seq)
{
	struct probe_err_info e = {
	    .uri = j->uri,
	    .err = err,
	    .icmp = icmp,
	    .remote = remote ? remote : &j->dest,
	    .elapsed_ms = probe_now_ms() - t0,
	    .seq = seq,
	};
	int code;
	struct sb text = {0};
	if (err == -EVUDP6_E_TIMEOUT || err == -EVUDP6_E_DEADLINE) {
		e.kind = "timeout";
		e.timeout = timeout_text(j, err, seq, &text);
		e.text = text.s;
		code = PROBE_EXIT_TIMEOUT;
	} else if (err == -ECONNRESET && !icmp) {
		e.kind = "reset";
		code = PROBE_EXIT_ERROR_RESPONSE;
	} else {
		e.kind = "network";
		if (!icmp)
			e.detail = "send error: the local kernel refused the datagram";
		code = PROBE_EXIT_NETWORK;
	}
	probe_out_error(&e);
	sb_free(&text);
	return code;
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct probe_job *j = arg;
	double waited = probe_now_ms() - j->t_start;
	const char *detail =
	    j->resolving ? "--timeout reached while resolving the name" : "--timeout reached";
	char text[160];
	if (j->resolving) {
		char ns[96];
		snprintf(text, sizeof(text), "no answer from the name server%s before the --timeout limit",
		         name_servers(j->c, ns, sizeof(ns)));
	} else {
		snprintf(text, sizeof(text), "no response before the --timeout limit");
	}
	bool resolving = j->resolving != NULL;
	if (j->resolving) {
		struct evudp6_resolve *r = j->resolving;
		j->resolving = NULL;
		j->ended = true; /* the cancel callback must not report */
		evudp6_resolve_cancel(r);
		j->ended = false;
	}
	if (j->req.obj) {
		evudp6_request_cancel(j->req);
		j->req = (struct evudp6_request_handle){0};
	}
	if (j->breq) {
		evudp6_block_request_cancel(j->breq);
		j->breq = NULL;
	}
	/* A name that did not resolve in time is a resolution error. */
	struct probe_err_info e = {
	    .kind = resolving ? "resolve" : "timeout",
	    .uri = j->uri,
	    .err = -EVUDP6_E_TIMEOUT,
	    .remote = j->dest.remote.sin6_family ? &j->dest : NULL,
	    .elapsed_ms = waited,
	    .detail = detail,
	    .seq = -1,
	    .text = text,
	    .timeout = "limit",
	};
	probe_out_error(&e);
	job_end(j, resolving ? PROBE_EXIT_RESOLVE : PROBE_EXIT_TIMEOUT);
}

/* ------------------------------------------------------------ request */

static bool seen_responder(struct probe_job *j, const struct evudp6_addr *a)
{
	for (unsigned int i = 0; i < j->nresponders; i++)
		if (evudp6_addr_equal(&j->responders[i], a))
			return true;
	if (j->nresponders < MAX_RESPONDERS)
		j->responders[j->nresponders++] = *a;
	return false;
}

static int build_request(struct probe_job *j, struct evudp6_msg_builder *b);
static int send_block_request(struct probe_job *j, struct evudp6_msg_builder *b,
                              const struct evudp6_msg *first);
static void block_error(struct probe_job *j, int err, const struct evudp6_msg *rsp,
                        const struct evudp6_addr *remote);
static void deadline_again(struct probe_job *j);
static int send_failed(struct probe_job *j, int rc, int seq);

static void response_cb(struct evudp6_request_handle r, int err, const struct evudp6_msg *rsp,
                        const struct evudp6_addr *remote, const struct evudp6_icmp *icmp, void *arg)
{
	struct probe_job *j = arg;
	if (j->ended || err == -EVUDP6_E_SHUTDOWN)
		return;
	j->transmissions = evudp6_request_retransmissions(r) + 1;
	double now = probe_now_ms();
	if (j->multicast) {
		if (err == 0) {
			j->responses++;
			seen_responder(j, remote);
			if (EVUDP6_CODE_CLASS(rsp->code) == 2)
				j->ok_responses++;
			struct probe_rsp_info info = {.uri = j->uri,
			                              .rsp = rsp,
			                              .from = remote,
			                              .rtt_ms = now - j->t_sent,
			                              .multicast = true};
			probe_out_response(&info);
			return;
		}
		j->req = (struct evudp6_request_handle){0};
		if (err != -EVUDP6_E_TIMEOUT) {
			job_end(j, report_exchange_error(j, err, icmp, remote, j->t_sent, -1));
			return;
		}
		probe_out_multicast_summary(j->uri, j->responses, j->nresponders, now - j->t_sent);
		job_end(j, j->ok_responses ? PROBE_EXIT_OK
		           : j->responses  ? PROBE_EXIT_ERROR_RESPONSE
		                           : PROBE_EXIT_TIMEOUT);
		return;
	}
	j->req = (struct evudp6_request_handle){0};
	if (err != 0 && fall_back(j, err, icmp))
		return;
	struct evudp6_block b2;
	if (err == 0 && evudp6_block_get(rsp, EVUDP6_OPT_BLOCK2, &b2) == 1 && b2.more && b2.num == 0) {
		/* The first block of a larger body: the rest block by block. */
		struct evudp6_msg_builder b;
		int rc = build_request(j, &b);
		if (rc == 0)
			rc = send_block_request(j, &b, rsp);
		if (rc == 0) {
			deadline_again(j);
			return;
		}
		if (rc == -EINVAL || rc == -EVUDP6_E_BLOCK_BODY_LIMIT) {
			block_error(j, rc == -EINVAL ? -EVUDP6_E_BLOCK_INVALID : rc, rsp, remote);
			job_end(j, PROBE_EXIT_INCOMPLETE);
			return;
		}
		job_end(j, send_failed(j, rc, -1));
		return;
	}
	if (err == 0) {
		struct probe_rsp_info info = {
		    .uri = j->uri, .rsp = rsp, .from = remote, .rtt_ms = now - j->t_sent};
		probe_out_response(&info);
		job_end(j, EVUDP6_CODE_CLASS(rsp->code) == 2 ? PROBE_EXIT_OK : PROBE_EXIT_ERROR_RESPONSE);
		return;
	}
	job_end(j, report_exchange_error(j, err, icmp, remote, j->t_sent, -1));
}

/* ------------------------------------------------------------ block-wise */

static void progress_clear(struct probe_job *j)
{
	if (j->progress_drawn) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		j->progress_drawn = false;
	}
}

/* A bar on standard error when it is a terminal and the transfer is long. */
static void progress_cb(struct evudp6_block_request *br, bool upload, uint64_t done, uint64_t total,
                        void *arg)
{
	(void)br;
	struct probe_job *j = arg;
	if (++j->progress_blocks < PROGRESS_BLOCKS)
		return;
	double now = probe_now_ms();
	if (j->progress_drawn && now - j->progress_t < 100.0 && !(total && done >= total))
		return;
	j->progress_t = now;
	j->progress_drawn = true;
	char bar[31];
	size_t fill = total ? (size_t)(done * 30 / (total > done ? total : done)) : 0;
	for (size_t i = 0; i < 30; i++)
		bar[i] = i < fill ? '#' : total ? '.' : ' ';
	bar[30] = '\0';
	if (total)
		fprintf(stderr, "\r%s [%s] %3u%% %llu/%llu bytes", upload ? "up  " : "down", bar,
		        (unsigned int)(done * 100 / (total > done ? total : done)), (unsigned long long)done,
		        (unsigned long long)total);
	else
		fprintf(stderr, "\r%s %llu bytes", upload ? "up  " : "down", (unsigned long long)done);
	fflush(stderr);
}

/* -o FILE: each block lands at its offset; a restart (ETag change) starts the file over. */
static void data_cb(struct evudp6_block_request *br, uint64_t offset, const uint8_t *data, size_t len,
                    void *arg)
{
	(void)br;
	struct probe_job *j = arg;
	if (offset == 0 && j->out_len && ftruncate(j->out_fd, 0) < 0)
		return;
	size_t done = 0;
	while (done < len) {
		ssize_t n = pwrite(j->out_fd, data + done, len - done, (off_t)(offset + done));
		if (n <= 0)
			return; /* reported when the transfer ends: the size will not match */
		done += (size_t)n;
	}
	j->out_len = offset + len;
}

static void block_error(struct probe_job *j, int err, const struct evudp6_msg *rsp,
                        const struct evudp6_addr *remote)
{
	char detail[160] = "";
	struct evudp6_opt o;
	uint32_t size1;
	if (err == -EVUDP6_E_BLOCK_TOO_LARGE && rsp && evudp6_msg_find_opt(rsp, EVUDP6_OPT_SIZE1, &o) &&
	    evudp6_opt_uint(&o, &size1) == 0)
		snprintf(detail, sizeof(detail),
		         "the server takes at most %u bytes (Size1); this body has %zu", size1,
		         j->o->payload_len);
	struct probe_err_info e = {
	    .kind = "block",
	    .uri = j->uri,
	    .err = err,
	    .remote = remote ? remote : &j->dest,
	    .elapsed_ms = probe_now_ms() - j->t_sent,
	    .detail = detail[0] ? detail : NULL,
	    .seq = -1,
	};
	probe_out_error(&e);
}

/* How a block-wise transfer went, when it took more than one exchange. */
static void block_summary(struct probe_job *j, const struct evudp6_block_request *br)
{
	struct evudp6_block_request_stats st;
	evudp6_block_request_stats(br, &st, sizeof(st));
	if (j->o->quiet || st.requests < 2)
		return;
	struct sb b = {0};
	sb_printf(&b, "block-wise: %llu exchanges", (unsigned long long)st.requests);
	if (st.blocks_sent)
		sb_printf(&b, ", %llu bytes up in %llu blocks (last size %u)",
		          (unsigned long long)st.bytes_sent, (unsigned long long)st.blocks_sent,
		          st.upload_block_size);
	if (st.blocks_received)
		sb_printf(&b, ", %llu bytes down in %llu blocks of %u", (unsigned long long)st.bytes_received,
		          (unsigned long long)st.blocks_received, st.block_size);
	if (st.path_mtu_reductions)
		sb_printf(&b, ", block size lowered %u time%s for the path MTU", st.path_mtu_reductions,
		          st.path_mtu_reductions == 1 ? "" : "s");
	if (st.restarts)
		sb_printf(&b, ", %u restart%s (ETag changed)", st.restarts, st.restarts == 1 ? "" : "s");
	if (st.retransmissions)
		sb_printf(&b, ", %u retransmission%s", st.retransmissions,
		          st.retransmissions == 1 ? "" : "s");
	probe_out_note("%s", b.s);
	sb_free(&b);
}

static void block_response_cb(struct evudp6_block_request *br, int err, const struct evudp6_msg *rsp,
                              const struct evudp6_addr *remote, const struct evudp6_icmp *icmp, void *arg)
{
	(void)br;
	struct probe_job *j = arg;
	j->breq = NULL;
	if (j->ended || err == -EVUDP6_E_SHUTDOWN)
		return;
	progress_clear(j);
	double now = probe_now_ms();
	if (err <= -EVUDP6_E_BLOCK_TOO_LARGE && err > -(EVUDP6_E_BLOCK_TOO_LARGE + 100)) {
		block_error(j, err, rsp, remote);
		job_end(j, PROBE_EXIT_INCOMPLETE);
		return;
	}
	if (err) {
		job_end(j, report_exchange_error(j, err, icmp, remote, j->t_sent, -1));
		return;
	}
	struct probe_rsp_info info = {.uri = j->uri, .rsp = rsp, .from = remote, .rtt_ms = now - j->t_sent};
	probe_out_response(&info);
	block_summary(j, br);
	int code = EVUDP6_CODE_CLASS(rsp->code) == 2 ? PROBE_EXIT_OK : PROBE_EXIT_ERROR_RESPONSE;
	if (j->out_fd >= 0) {
		struct stat st;
		if (ftruncate(j->out_fd, (off_t)j->out_len) < 0 || fstat(j->out_fd, &st) < 0 ||
		    (uint64_t)st.st_size != j->out_len) {
			probe_warn("%s: writing %s failed: %s", j->uri, j->o->out_file, strerror(errno));
			code = PROBE_EXIT_INCOMPLETE;
		} else if (!j->o->quiet && !j->o->json) {
			probe_out_note("%llu bytes written to %s", (unsigned long long)j->out_len,
			               j->o->out_file);
		}
	}
	job_end(j, code);
}

/*
 * The transfer through the block layer: from the start, or (@p first set)
 * from a response whose first block came by the ordinary exchange.
 */
static int send_block_request(struct probe_job *j, struct evudp6_msg_builder *b,
                              const struct evudp6_msg *first)
{
	const struct probe_opts *o = j->o;
	struct evudp6_block_config cfg;
	evudp6_block_config_init(&cfg, sizeof(cfg));
	cfg.request_options = &j->ro;
	cfg.max_body = BODY_MAX;
	if (o->block_size) {
		cfg.block_size = o->block_size;
		cfg.early_block2 = true;
	}
	if (o->out_file) {
		cfg.data_cb = data_cb;
		cfg.data_arg = j;
		cfg.max_body = STREAM_BODY_MAX;
	}
	if (isatty(STDERR_FILENO) && !o->json) {
		cfg.progress_cb = progress_cb;
		cfg.progress_arg = j;
	}
	if (first)
		return evudp6_block_continue(j->c->m, &j->dest, b, first, &cfg, block_response_cb, j,
		                             &j->breq);
	return evudp6_block_request(j->c->m, &j->dest, b, &cfg, block_response_cb, j, &j->breq);
}

/* RFC 7967: does the request's No-Response option suppress every class
 * (2.xx, 4.xx and 5.xx: bits 2, 8 and 16)? */
static bool no_response_to_anything(const struct probe_opts *o)
{
	for (size_t i = 0; i < o->nextra; i++) {
		const struct probe_extra_opt *x = &o->extra[i];
		if (x->number != EVUDP6_OPT_NO_RESPONSE)
			continue;
		uint32_t v = 0;
		for (size_t k = 0; k < x->len; k++)
			v = v << 8 | x->value[k];
		return (v & 26u) == 26u;
	}
	return false;
}

/* An empty ACK: the server has the request. */
static void ack_cb(struct evudp6_request_handle r, const struct evudp6_addr *remote, void *arg)
{
	struct probe_job *j = arg;
	if (j->ended)
		return;
	j->acked = true;
	probe_out_ack(j->uri, remote, probe_now_ms() - j->t_sent);
	if (no_response_to_anything(j->o)) {
		/* RFC 7967: the ACK is all that will come. */
		probe_out_note("%s: done; No-Response asks for no answer", j->uri);
		evudp6_request_cancel(r);
		j->req = (struct evudp6_request_handle){0};
		job_end(j, PROBE_EXIT_OK);
	}
}

/* A response with our token from another address than the one asked:
 * the messenger drops it, the operator must hear of it. */
static void unmatched_cb(struct evudp6_messenger *m, const struct evudp6_msg *msg,
                         const struct evudp6_addr *remote, struct evudp6_request_handle owner, void *arg)
{
	(void)m;
	struct probe_client *c = arg;
	struct probe_job *j = c->job;
	if (!j || j->ended || !owner.obj || owner.obj != j->req.obj || owner.gen != j->req.gen ||
	    j->multicast || EVUDP6_CODE_CLASS(msg->code) == 0)
		return;
	struct sb text = {0};
	char code[EVUDP6_CODE_STR_MAX];
	probe_wrong_source_text(&text, &j->dest, remote);
	sb_printf(&text, " (%s)", evudp6_code_str(msg->code, code));
	struct probe_err_info e = {
	    .kind = "wrong_source",
	    .uri = j->uri,
	    .err = 0,
	    .remote = &j->dest,
	    .elapsed_ms = probe_now_ms() - j->t_sent,
	    .seq = -1,
	    .text = text.s,
	};
	probe_out_error(&e);
	sb_free(&text);
	evudp6_request_cancel(j->req);
	j->req = (struct evudp6_request_handle){0};
	job_end(j, PROBE_EXIT_NETWORK);
}

/* A failed first send: the messenger returns it and never calls back. */
static int send_failed(struct probe_job *j, int rc, int seq)
{
	if (rc < 0 && -rc < EVUDP6_E_FIRST && rc != -ENOBUFS && rc != -EINVAL)
		return report_exchange_error(j, rc, NULL, &j->dest, j->t_sent, seq);
	if (rc == -EVUDP6_E_MSG_NOSPACE)
		probe_warn("%s: the request does not fit in one message (%s)", j->uri, evudp6_strerror(rc));
	else
		probe_warn("%s: cannot send the request: %s", j->uri, evudp6_strerror(rc));
	return PROBE_EXIT_USAGE;
}

static void verbose_request(struct probe_job *j, const struct evudp6_msg_builder *b)
{
	if (!j->o->verbose || j->o->json || j->o->quiet)
		return;
	/* Encoded again here, as the messenger did, to show what left. */
	static uint8_t wire[EVUDP6_MESSENGER_DEFAULT_MAX_MESSAGE];
	struct evudp6_msg m;
	ssize_t n = evudp6_msg_encode(b, wire, sizeof(wire));
	if (n < 0 || evudp6_msg_decode(&m, wire, (size_t)n) != 0)
		return;
	probe_out_request_sent(&m, &j->dest);
}

static int observe_start(struct probe_job *j, struct evudp6_msg_builder *b);

/* The request the options describe; 0 or the builder's error. */
static int build_request(struct probe_job *j, struct evudp6_msg_builder *b)
{
	const struct probe_opts *o = j->o;
	bool non = o->non || j->multicast;
	evudp6_msg_builder_init(b, non ? EVUDP6_NON : EVUDP6_CON, o->method, 0);
	int rc = evudp6_uri_add_options(&j->u, b, &j->dest);
	if (o->content_format >= 0)
		evudp6_msg_builder_add_uint(b, EVUDP6_OPT_CONTENT_FORMAT, (uint32_t)o->content_format);
	if (o->accept >= 0)
		evudp6_msg_builder_add_uint(b, EVUDP6_OPT_ACCEPT, (uint32_t)o->accept);
	for (size_t i = 0; i < o->nextra; i++)
		evudp6_msg_builder_add_opt(b, o->extra[i].number, o->extra[i].value, o->extra[i].len);
	if (o->payload)
		evudp6_msg_builder_set_payload(b, o->payload, o->payload_len);
	return rc == 0 ? b->err : rc;
}

/* The rest of -T for what is left of a block-wise transfer. */
static void deadline_again(struct probe_job *j)
{
	if (j->o->timeout_s <= 0)
		return;
	double left = j->o->timeout_s * 1000.0 - (probe_now_ms() - j->t_start);
	if (left < 1.0)
		left = 1.0;
	struct timeval tv = {.tv_sec = (long)(left / 1000.0)};
	tv.tv_usec = (long)((left - (double)tv.tv_sec * 1000.0) * 1000.0);
	event_add(j->deadline, &tv);
}

static void send_request(struct probe_job *j)
{
	const struct probe_opts *o = j->o;
	struct evudp6_msg_builder b;
	bool non = o->non || j->multicast;
	/* RFC 7252 5.10 bounds every -O value: name the one that is out. */
	for (size_t i = 0; i < o->nextra; i++) {
		char why[128];
		if (probe_option_length_check(o->extra[i].number, o->extra[i].len, why, sizeof(why)) < 0) {
			probe_warn("%s: cannot build the request: %s", j->uri, why);
			job_end(j, PROBE_EXIT_USAGE);
			return;
		}
	}
	int rc = build_request(j, &b);
	if (rc < 0) {
		probe_warn("%s: cannot build the request: %s", j->uri, evudp6_strerror(rc));
		job_end(j, PROBE_EXIT_USAGE);
		return;
	}
	unsigned int wait_ms = 0;
	if (j->multicast)
		wait_ms = (unsigned int)lround(o->wait_s * 1000.0);
	if (wait_ms == 0 && j->multicast)
		wait_ms = 1;
	if (o->out_file && !j->multicast) {
		j->out_fd = open(o->out_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (j->out_fd < 0) {
			probe_warn("-o %s: %s", o->out_file, strerror(errno));
			job_end(j, PROBE_EXIT_CANTCREAT);
			return;
		}
	}
	struct evudp6_request_options ro;
	evudp6_request_options_init(&ro, sizeof(ro));
	ro.wait_ms = wait_ms;
	ro.ack_cb = ack_cb;
	if (o->ack_timeout_s > 0 || o->max_retransmit >= 0) {
		/* RFC 7252 4.8.2: MAX_TRANSMIT_WAIT of these parameters also
		 * bounds the wait for a NON or a separate response. */
		double ack = o->ack_timeout_s > 0 ? o->ack_timeout_s * 1000.0
		                                  : EVUDP6_MESSENGER_DEFAULT_ACK_TIMEOUT_MS;
		int n =
		    o->max_retransmit >= 0 ? o->max_retransmit : (int)EVUDP6_MESSENGER_DEFAULT_MAX_RETRANSMIT;
		ro.ack_timeout_ms = (unsigned int)lround(ack);
		ro.max_retransmit = n;
		double wait =
		    ack * (double)((1u << (n + 1)) - 1) * EVUDP6_MESSENGER_DEFAULT_ACK_RANDOM_FACTOR;
		if (!j->multicast)
			ro.wait_ms =
			    wait < 86400e3 ? (unsigned int)lround(wait) : 86400000u; /* a day at most */
	}
	j->ro = ro;
	/* A body larger than a block, a block size or an output file: the
	 * whole transfer is block-wise from the start (-T stays the probe's
	 * own limit over all its exchanges). */
	bool blockwise = !j->multicast && (o->block_size || o->out_file || o->payload_len > BLOCK_DEFAULT);
	if (!j->multicast && o->timeout_s > 0 && !blockwise) {
		/* The rest of -T bounds the exchange in the library, which
		 * then says what the request was doing when it ran out. */
		double left = o->timeout_s * 1000.0 - (probe_now_ms() - j->t_start);
		ro.deadline_ms = left < 1.0 ? 1u : (unsigned int)lround(left);
		event_del(j->deadline);
	}
	j->con = !non;
	j->t_sent = probe_now_ms();
	if (o->observe_s >= 0) {
		rc = observe_start(j, &b);
		if (rc)
			job_end(j, rc);
		else
			verbose_request(j, &b);
		return;
	}
	if (blockwise)
		rc = send_block_request(j, &b, NULL);
	else
		rc = evudp6_messenger_request_ex(j->c->m, &j->dest, &b, &ro, response_cb, j, &j->req);
	if (rc < 0) {
		j->req = (struct evudp6_request_handle){0};
		j->breq = NULL;
		job_end(j, send_failed(j, rc, -1));
		return;
	}
	j->c->job = j;
	verbose_request(j, &b);
	if (!j->multicast && no_response_to_anything(o) && non) {
		/* RFC 7967: nothing will come back; the request is done. */
		probe_out_note("%s: sent; No-Response asks for no answer", j->uri);
		evudp6_request_cancel(j->req);
		j->req = (struct evudp6_request_handle){0};
		job_end(j, PROBE_EXIT_OK);
	}
}

/* ------------------------------------------------------------ observe */

/* How long a deregistration may take before the probe just forgets. */
#define DEREGISTER_WAIT_S 3

static void observe_cb(struct evudp6_observer_handle o, int err, const struct evudp6_msg *rsp, int32_t seq,
                       const struct evudp6_addr *remote, const struct evudp6_icmp *icmp, void *arg)
{
	(void)o;
	struct probe_job *j = arg;
	if (j->ended || err == -EVUDP6_E_SHUTDOWN)
		return;
	double now = probe_now_ms();
	if (err == 0 && seq >= 0) {
		j->notifications++;
		struct probe_rsp_info info = {.uri = j->uri,
		                              .rsp = rsp,
		                              .from = remote,
		                              .rtt_ms = now - j->t_sent,
		                              .notification = true,
		                              .number = j->notifications,
		                              .seq = seq};
		probe_out_response(&info);
		return;
	}
	j->obs = (struct evudp6_observer_handle){0};
	if (j->deregistering) {
		if (err == 0)
			probe_out_note("deregistered after %u notification%s", j->notifications,
			               j->notifications == 1 ? "" : "s");
		else
			probe_out_note("deregistration not answered (%s); observed %u notification%s",
			               evudp6_strerror(err), j->notifications,
			               j->notifications == 1 ? "" : "s");
		job_end(j, j->notifications ? PROBE_EXIT_OK : PROBE_EXIT_TIMEOUT);
		return;
	}
	if (err < 0) {
		job_end(j, report_exchange_error(j, err, icmp, remote, j->t_sent, -1));
		return;
	}
	struct probe_rsp_info info = {.uri = j->uri, .rsp = rsp, .from = remote, .rtt_ms = now - j->t_sent};
	probe_out_response(&info);
	bool ok = EVUDP6_CODE_CLASS(rsp->code) == 2;
	if (j->notifications == 0 && ok)
		probe_out_note("%s: the server does not support Observe for this resource (its response "
		               "has no Observe option)",
		               j->uri);
	else
		probe_out_note("the server ended the observation after %u notification%s", j->notifications,
		               j->notifications == 1 ? "" : "s");
	job_end(j, ok ? PROBE_EXIT_OK : PROBE_EXIT_ERROR_RESPONSE);
}

/* The limit or Ctrl-C: deregister, and give the answer a few seconds. A
 * second Ctrl-C, or no answer, forgets the observation instead. */
static void observe_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct probe_job *j = arg;
	if (j->ended)
		return;
	if (!j->obs.obj) {
		job_end(j, PROBE_EXIT_TIMEOUT); /* still resolving */
		return;
	}
	if (!j->deregistering) {
		j->deregistering = true;
		if (evudp6_observer_cancel(j->obs, true) == 0) {
			struct timeval tv = {DEREGISTER_WAIT_S, 0};
			event_add(j->tick, &tv);
			return;
		}
	} else {
		evudp6_observer_cancel(j->obs, false);
	}
	j->obs = (struct evudp6_observer_handle){0};
	probe_out_note("deregistration not answered; observed %u notification%s", j->notifications,
	               j->notifications == 1 ? "" : "s");
	job_end(j, j->notifications ? PROBE_EXIT_OK : PROBE_EXIT_TIMEOUT);
}

static int observe_start(struct probe_job *j, struct evudp6_msg_builder *b)
{
	int rc = evudp6_observe_register(j->c->m, &j->dest, b, observe_cb, j, &j->obs);
	if (rc < 0)
		return send_failed(j, rc, -1); /* the handle is zeroed */
	event_assign(j->tick, j->c->base, -1, 0, observe_stop_cb, j);
	if (j->o->observe_s > 0) {
		double s = j->o->observe_s;
		struct timeval tv = {(long)s, (long)((s - (double)(long)s) * 1e6)};
		event_add(j->tick, &tv);
	}
	return 0;
}

/* ------------------------------------------------------------ ping */

static void ping_done(struct probe_job *j)
{
	double avg = j->answered ? j->rtt_sum / j->answered : 0.0;
	probe_out_ping_summary(j->uri, j->sent, j->answered, j->errors, j->rtt_min, avg, j->rtt_max,
	                       probe_now_ms() - j->t_start);
	int code = PROBE_EXIT_OK;
	if (j->errors)
		code = PROBE_EXIT_NETWORK;
	else if (j->answered < j->sent)
		code = PROBE_EXIT_TIMEOUT;
	job_end(j, code);
}

static void ping_send(struct probe_job *j);

static void ping_schedule(struct probe_job *j)
{
	if (j->stop_sending || j->ended)
		return;
	struct timeval tv;
	double s = j->o->interval_s;
	tv.tv_sec = (long)s;
	tv.tv_usec = (long)((s - (double)tv.tv_sec) * 1e6);
	event_add(j->tick, &tv);
}

static void ping_cb(struct evudp6_request_handle r, int err, const struct evudp6_msg *rsp,
                    const struct evudp6_addr *remote, const struct evudp6_icmp *icmp, void *arg)
{
	(void)r;
	struct ping_slot *s = arg;
	struct probe_job *j = s->job;
	if (err == -EVUDP6_E_SHUTDOWN || j->ended)
		return;
	double rtt = probe_now_ms() - s->t0;
	s->used = false;
	s->r = (struct evudp6_request_handle){0};
	j->pending--;
	if (err == 0) {
		j->answered++;
		if (j->answered == 1 || rtt < j->rtt_min)
			j->rtt_min = rtt;
		if (rtt > j->rtt_max)
			j->rtt_max = rtt;
		j->rtt_sum += rtt;
		probe_out_ping(j->uri, s->seq, rsp, remote, rtt);
	} else {
		if (err != -EVUDP6_E_TIMEOUT)
			j->errors++;
		report_exchange_error(j, err, icmp, remote, s->t0, s->seq);
	}
	if (j->stop_sending && j->pending == 0)
		ping_done(j);
	else if (j->o->interval_s <= 0 && !j->stop_sending)
		ping_schedule(j);
}

static void ping_send(struct probe_job *j)
{
	struct ping_slot *s = NULL;
	for (size_t i = 0; i < PING_SLOTS && !s; i++)
		if (!j->slot[i].used)
			s = &j->slot[i];
	if (!s) {
		/* Too many outstanding: try again at the next tick. */
		ping_schedule(j);
		return;
	}
	struct evudp6_msg_builder b;
	evudp6_msg_builder_init(&b, EVUDP6_CON, EVUDP6_EMPTY, 0);
	s->job = j;
	s->seq = (int)j->sent + 1;
	s->t0 = probe_now_ms();
	j->t_sent = s->t0;
	j->sent++;
	int rc = evudp6_messenger_request(j->c->m, &j->dest, &b, 0, ping_cb, s, &s->r);
	if (rc < 0) {
		int code = send_failed(j, rc, s->seq);
		if (code != PROBE_EXIT_NETWORK) {
			job_end(j, code);
			return;
		}
		j->errors++;
	} else {
		s->used = true;
		j->pending++;
		verbose_request(j, &b);
	}
	if (j->o->count && j->sent >= j->o->count)
		j->stop_sending = true;
	if (j->stop_sending) {
		if (j->pending == 0)
			ping_done(j);
	} else if (j->o->interval_s > 0 || rc < 0) {
		ping_schedule(j);
	}
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	ping_send(arg);
}

/* Ctrl-C ends a ping series with its summary, as ping(8) does. */
static void sigint_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct probe_job *j = arg;
	j->stop_sending = true;
	event_del(j->tick);
	for (size_t i = 0; i < PING_SLOTS; i++) {
		if (j->slot[i].used) {
			evudp6_request_cancel(j->slot[i].r);
			j->slot[i].used = false;
			j->pending--;
		}
	}
	if (j->dest.remote.sin6_family)
		ping_done(j);
	else
		job_end(j, PROBE_EXIT_TIMEOUT);
}

/* ------------------------------------------------------------ start */

static void resolved_cb(int result, const struct evudp6_addr *addr, void *arg);

/* The next candidate that passed its route check, from next_cand on;
 * each one skipped is said, with its reason. NULL when none is left. */
static const struct evudp6_addr *next_candidate(struct probe_job *j, const char *why)
{
	const struct evudp6_addr *failed = j->next_cand ? &j->cand[j->next_cand - 1].addr : NULL;
	while (j->next_cand < j->ncand) {
		const struct evudp6_resolve_candidate *c = &j->cand[j->next_cand++];
		if (c->route == 0) {
			if (failed)
				probe_out_fallback(j->uri, failed, why, &c->addr);
			return &c->addr;
		}
		if (failed)
			probe_out_fallback(j->uri, failed, why, &c->addr);
		failed = &c->addr;
		why =
		    c->route == -ENETUNREACH || c->route == -EHOSTUNREACH ? "no route" : strerror(-c->route);
	}
	return NULL;
}

/* After a hard error (ICMP or send) on one of a name's addresses, the
 * request goes to the next that has a route: true when it did. */
static bool fall_back(struct probe_job *j, int err, const struct evudp6_icmp *icmp)
{
	if (j->multicast || j->o->mode != PROBE_REQUEST || err == -EVUDP6_E_TIMEOUT ||
	    err == -EVUDP6_E_DEADLINE || err == -EVUDP6_E_SHUTDOWN || (err == -ECONNRESET && !icmp))
		return false;
	bool more = false;
	for (size_t i = j->next_cand; i < j->ncand && !more; i++)
		more = j->cand[i].route == 0;
	if (!more)
		return false;
	struct sb why = {0};
	sb_puts(&why, evudp6_strerror(err));
	char d[EVUDP6_ICMP_DESCRIBE_MAX];
	if (icmp && evudp6_icmp_describe(icmp, d, sizeof(d)) >= 0)
		sb_printf(&why, " (%s)", d);
	const struct evudp6_addr *next = next_candidate(j, why.s);
	sb_free(&why);
	j->acked = false;
	resolved_cb(0, next, j);
	return true;
}

/* Every address of the name: the first with a route is asked first. */
static void resolved_all_cb(int result, const struct evudp6_resolve_candidate *cand, size_t n, void *arg)
{
	struct probe_job *j = arg;
	j->ncand = n < EVUDP6_RESOLVE_MAX_CANDIDATES ? n : EVUDP6_RESOLVE_MAX_CANDIDATES;
	if (j->ncand)
		memcpy(j->cand, cand, j->ncand * sizeof(*cand));
	j->next_cand = 0;
	if (result < 0) {
		resolved_cb(result, NULL, arg);
		return;
	}
	resolved_cb(0, next_candidate(j, NULL), arg);
}

static void resolved_cb(int result, const struct evudp6_addr *addr, void *arg)
{
	struct probe_job *j = arg;
	j->resolving = NULL;
	if (j->ended || result == -EVUDP6_E_CANCELLED)
		return;
	if (result < 0) {
		report_resolve_error(j, result);
		return;
	}
	j->dest = *addr;
	j->multicast = evudp6_addr_is_multicast(&j->dest);
	if (j->multicast && j->o->ifname && !j->dest.has_local) {
		/* An IPv4 group (or a zone-less IPv6 one) leaves through the
		 * interface the operator named: interface-only pktinfo. */
		struct in6_addr any = IN6ADDR_ANY_INIT;
		if (evudp6_addr_is_v4mapped(&j->dest)) {
			any.s6_addr[10] = 0xff;
			any.s6_addr[11] = 0xff;
		}
		evudp6_addr_set_local(&j->dest, &any, if_nametoindex(j->o->ifname));
	}
	if (j->o->mode == PROBE_PING) {
		if (j->multicast) {
			probe_warn("%s: CoAP ping is for one endpoint, not a multicast group", j->uri);
			job_end(j, PROBE_EXIT_USAGE);
			return;
		}
		ping_send(j);
		return;
	}
	if (j->multicast && j->o->observe_s >= 0) {
		probe_warn("%s: Observe is for one endpoint, not a multicast group", j->uri);
		job_end(j, PROBE_EXIT_USAGE);
		return;
	}
	if (j->multicast && j->deadline)
		event_del(j->deadline); /* --wait bounds a multicast request */
	send_request(j);
}

/* A multicast group literal: the address is built here, with the interface's index as its scope. */
static bool literal_group(struct probe_job *j, const char *ifname)
{
	struct evudp6_addr a;
	unsigned int scope = 0;
	if (strchr(j->u.host, ':')) {
		/* The URI's zone, or else the interface (copied into the zone). */
		const char *zone = j->u.zone[0] ? j->u.zone : ifname;
		char *end;
		unsigned long n = strtoul(zone, &end, 10);
		scope = *zone && !*end ? (unsigned int)n : if_nametoindex(zone);
		if (!scope)
			return false; /* the resolver reports the unknown zone */
	}
	if (evudp6_addr_from_literal(&a, j->u.host, j->u.port, scope) < 0 || !evudp6_addr_is_multicast(&a))
		return false;
	j->direct_addr = a;
	j->direct_set = true;
	return true;
}

/* Destinations the probe refuses before anything is sent (exit 64): port
 * 0, an unknown interface (as -I or as the URI's zone), and a link-local
 * or link-scoped multicast address with neither. */
static int destination_usable(struct probe_job *j, const struct probe_opts *o)
{
	if (j->u.port == 0) {
		probe_warn("%s: port 0 cannot be a destination", j->uri);
		return PROBE_EXIT_USAGE;
	}
	if (o->ifname && if_nametoindex(o->ifname) == 0) {
		probe_warn("--interface %s: no such interface", o->ifname);
		return PROBE_EXIT_USAGE;
	}
	if (j->u.zone[0]) {
		char *end;
		unsigned long n = strtoul(j->u.zone, &end, 10);
		bool numeric = !*end && n > 0 && n <= 0xffffffffu;
		if (numeric ? if_indextoname((unsigned int)n, (char[IF_NAMESIZE]){0}) == NULL
		            : if_nametoindex(j->u.zone) == 0) {
			probe_warn("%s: zone %%%s: no such interface", j->uri, j->u.zone);
			return PROBE_EXIT_USAGE;
		}
	}
	struct in6_addr a;
	if (j->u.host_is_literal && !j->u.zone[0] && !o->ifname && inet_pton(AF_INET6, j->u.host, &a) == 1 &&
	    (IN6_IS_ADDR_LINKLOCAL(&a) || IN6_IS_ADDR_MC_LINKLOCAL(&a) || IN6_IS_ADDR_MC_NODELOCAL(&a))) {
		probe_warn("%s: %s is %s address: it needs %%IF in the URI or -I IF", j->uri, j->u.host,
		           IN6_IS_ADDR_MULTICAST(&a) ? "a link-scoped multicast" : "a link-local");
		return PROBE_EXIT_USAGE;
	}
	return 0;
}

static void direct_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	struct probe_job *j = arg;
	resolved_cb(0, &j->direct_addr, j);
}

int probe_job_start(struct probe_client *c, const struct probe_opts *o, const char *uri,
                    probe_job_done_cb done, void *arg)
{
	struct probe_job *j = calloc(1, sizeof(*j));
	if (!j || !(j->uri = strdup(uri))) {
		free(j);
		probe_warn("out of memory");
		return PROBE_EXIT_OSERR;
	}
	j->c = c;
	j->o = o;
	j->out_fd = -1;
	j->done = done;
	j->arg = arg;
	j->t_start = probe_now_ms();
	j->finish = evtimer_new(c->base, finish_cb, j);
	j->tick = evtimer_new(c->base, tick_cb, j);
	j->deadline = evtimer_new(c->base, deadline_cb, j);
	if (!j->finish || !j->tick || !j->deadline) {
		job_free(j);
		probe_warn("out of memory");
		return PROBE_EXIT_OSERR;
	}

	int rc = evudp6_uri_parse(&j->u, uri);
	if (rc < 0) {
		if (rc == -EVUDP6_E_NOT_MINE)
			probe_warn("%s: only coap:// URIs are served here", uri);
		else
			probe_warn("%s: not a usable URI: %s", uri, evudp6_strerror(rc));
		job_free(j);
		return PROBE_EXIT_USAGE;
	}
	/* RFC 7252 5.10 bounds every value: say which one is out before
	 * anything is resolved or sent. */
	struct evudp6_opt part;
	for (size_t i = 0; evudp6_uri_option(&j->u, i, &part); i++) {
		char why[128];
		if (probe_option_length_check(part.number, part.len, why, sizeof(why)) < 0) {
			probe_warn("%s: not a usable URI: %s", uri, why);
			job_free(j);
			return PROBE_EXIT_USAGE;
		}
	}
	rc = destination_usable(j, o);
	if (rc) {
		job_free(j);
		return rc;
	}
	if (o->ifname) {
		/* An IPv6 literal without a zone takes the named interface. */
		if (j->u.host_is_literal && strchr(j->u.host, ':') && !j->u.zone[0])
			snprintf(j->u.zone, sizeof(j->u.zone), "%s", o->ifname);
	}
	if (o->mode == PROBE_PING && (j->u.nparts > 0 || o->payload)) {
		probe_warn("%s: a CoAP ping has no path, query or payload", uri);
		job_free(j);
		return PROBE_EXIT_USAGE;
	}
	if (o->observe_s >= 0) {
		/* Ctrl-C deregisters before the probe exits. */
		j->sigint = evsignal_new(c->base, SIGINT, observe_stop_cb, j);
		if (j->sigint)
			event_add(j->sigint, NULL);
	} else if (o->mode == PROBE_PING) {
		j->sigint = evsignal_new(c->base, SIGINT, sigint_cb, j);
		if (j->sigint)
			event_add(j->sigint, NULL);
	}
	if (o->ifname && j->u.host_is_literal && literal_group(j, o->ifname)) {
		/* The resolver's route check cannot be told the interface of an
		 * IPv4 group, and a host may have no route for 224.0.0.0/4 at
		 * all: a group literal sent through a named interface needs no
		 * resolution. The callback runs from the loop, as the
		 * resolver's would. */
		event_assign(&j->direct, c->base, -1, 0, direct_cb, j);
		event_active(&j->direct, 0, 0);
		return 0;
	}
	rc = evudp6_resolve_uri_all(c->resolver, &j->u, resolved_all_cb, j, &j->resolving);
	if (rc < 0) {
		j->resolving = NULL;
		if (rc == -EVUDP6_E_ZONE_UNKNOWN || rc == -EVUDP6_E_NOT_LITERAL) {
			struct probe_err_info e = {
			    .kind = "resolve", .uri = uri, .err = rc, .elapsed_ms = 0.0, .seq = -1};
			probe_out_error(&e);
			job_free(j);
			return PROBE_EXIT_RESOLVE;
		}
		probe_warn("%s: %s", uri, evudp6_strerror(rc));
		job_free(j);
		return PROBE_EXIT_USAGE;
	}
	if (o->mode == PROBE_REQUEST && o->timeout_s > 0 && o->observe_s < 0) {
		struct timeval tv;
		tv.tv_sec = (long)o->timeout_s;
		tv.tv_usec = (long)((o->timeout_s - (double)tv.tv_sec) * 1e6);
		event_add(j->deadline, &tv);
	}
	return 0;
}
