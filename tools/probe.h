/*
 * evudp6-probe — declarations shared by the probe's source files.
 *
 * The probe is built only on the public API (include/evudp6*.h): it is the
 * proof that an application can do everything an operator needs with it.
 */
#ifndef EVUDP6_PROBE_H
#define EVUDP6_PROBE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <evudp6.h>

struct event_base;
struct evdns_base;

/* Exit codes, documented in evudp6-probe(1). */
enum probe_exit {
	PROBE_EXIT_OK = 0,
	PROBE_EXIT_ERROR_RESPONSE = 1, /* 4.xx/5.xx answer, or RST */
	PROBE_EXIT_TIMEOUT = 2,        /* no answer in time */
	PROBE_EXIT_NETWORK = 3,        /* ICMP error, send error, no route */
	PROBE_EXIT_RESOLVE = 4,        /* name or zone did not resolve */
	PROBE_EXIT_INCOMPLETE = 5,     /* block-wise transfer failed: the body did not arrive whole */
	PROBE_EXIT_USAGE = 64,         /* EX_USAGE */
	PROBE_EXIT_NOINPUT = 66,       /* EX_NOINPUT: payload file unreadable */
	PROBE_EXIT_CANTCREAT = 73,     /* EX_CANTCREAT: -o file cannot be written */
	PROBE_EXIT_OSERR = 71          /* EX_OSERR: socket, bind or join failed */
};

enum probe_mode { PROBE_REQUEST, PROBE_PING, PROBE_LISTEN, PROBE_DEMO };

#define PROBE_MAX_EXTRA_OPTS 32
#define PROBE_MAX_BINDS      8
#define PROBE_MAX_JOINS      16

struct probe_extra_opt {
	uint32_t number;
	uint8_t *value; /* owned */
	size_t len;
};

struct probe_opts {
	enum probe_mode mode;
	const char *uri;
	uint8_t method;
	bool non;
	uint8_t *payload; /* owned; NULL when none */
	size_t payload_len;
	int content_format; /* -1: none */
	int accept;         /* -1: none */
	struct probe_extra_opt extra[PROBE_MAX_EXTRA_OPTS];
	size_t nextra;
	unsigned int block_size; /* -B: 0 for the default, no early negotiation */
	const char *out_file;    /* -o: the body goes there */
	double timeout_s;        /* 0: the protocol's own limits */
	double ack_timeout_s;    /* ACK_TIMEOUT of requests; 0: RFC 7252's 2 s */
	int max_retransmit;      /* MAX_RETRANSMIT of requests; -1: RFC 7252's 4 */
	unsigned int count;
	double interval_s;
	double wait_s;
	double observe_s; /* --observe: seconds (0: until Ctrl-C); -1: a plain request */
	const char *ifname;
	const char *bind;
	const char *dns;
	const char *binds[PROBE_MAX_BINDS];
	size_t nbinds;
	/* sockets handed over (--fd, or LISTEN_FDS from systemd) */
	int fds[PROBE_MAX_BINDS];
	size_t nfds;
	const char *joins[PROBE_MAX_JOINS];
	size_t njoins;
	const char *join_coap[PROBE_MAX_JOINS];
	size_t njoin_coap;
	double leisure_s;
	bool json, quiet;
	bool raw; /* payloads as they came, not rendered for people */
	int verbose;
	const char *log_prefix; /* before each human request log line */
};

/* ------------------------------------------------------------ text buffer */

/* A growing string; output only, never on the library's datagram path. */
struct sb {
	char *s;
	size_t len, cap;
};

void sb_putc(struct sb *b, char c);
void sb_putn(struct sb *b, const char *s, size_t n);
void sb_puts(struct sb *b, const char *s);
void sb_printf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_reset(struct sb *b);
void sb_free(struct sb *b);

/* ------------------------------------------------------------ JSON writer */

/* One object per line; keys and values appended in order. */
struct jw {
	struct sb b;
	int depth;
	bool first[8];
	char open[8];
};

void jw_begin(struct jw *w, const char *event);
void jw_str(struct jw *w, const char *key, const char *s);
/* Bytes that are not valid UTF-8 are written as \u00XX of each byte. */
void jw_strn(struct jw *w, const char *key, const void *s, size_t n);
void jw_hex(struct jw *w, const char *key, const void *s, size_t n);
void jw_int(struct jw *w, const char *key, long long v);
void jw_ms(struct jw *w, const char *key, double ms);
void jw_bool(struct jw *w, const char *key, bool v);
void jw_null(struct jw *w, const char *key);
void jw_obj(struct jw *w, const char *key);
void jw_arr(struct jw *w, const char *key);
void jw_close(struct jw *w);
/* Close the object, print it as one line on stdout, flush. */
void jw_emit(struct jw *w);

/* --------------------------------------------------- names and formats */

int probe_cf_parse(const char *text, int *out);
/* 0, or -EVUDP6_E_MSG_OPT_RANGE with the reason in @why ("Uri-Path value
 * of 256 bytes: RFC 7252 allows 0 to 255"). */
int probe_option_length_check(uint32_t number, size_t len, char *why, size_t whylen);
int probe_method_parse(const char *text, uint8_t *out);
int probe_option_number_parse(const char *text, uint32_t *out);
bool probe_utf8_valid(const uint8_t *p, size_t n);
bool probe_is_text(const uint8_t *p, size_t n);

/* ------------------------------------------------------------ rendering */

/* Is the content format CBOR or built on it (by its registered name)? */
bool probe_cf_is_cbor(int cf);
/* CBOR in diagnostic notation (RFC 8949 8) appended to @p b; with
 * @p sequence, one line per item. -1 (and @p b unchanged) when it is not
 * well-formed or nests too deep. */
int probe_cbor_diag(struct sb *b, const uint8_t *p, size_t n, bool sequence);
/* A payload for people (CBOR, JSON, link format) appended to @p b, ending
 * in a newline: 0, or -1 when the format has no rendering or the payload
 * does not parse (@p b unchanged). */
int probe_render_payload(struct sb *b, const uint8_t *p, size_t n, int cf);
/* In a link-format document, the end of the part that starts at @p i:
 * the first @p sep (',' between links, ';' between attributes) outside
 * <...> and quoted strings, or @p n. */
size_t probe_link_part_end(const uint8_t *p, size_t n, size_t i, uint8_t sep);

/* ------------------------------------------------------------ output */

extern struct probe_opts *probe_o;

double probe_now_ms(void);
/* Address text: RFC 5952, V4MAPPED as IPv4, with %zone if any. */
void probe_in6_text(const struct in6_addr *a, uint32_t scope, char *buf, size_t len);
/* "[::1]:40000" for the remote, "[::1]:5683" for the local part. */
void probe_remote_text(const struct evudp6_addr *a, char *buf, size_t len);
void probe_local_text(const struct evudp6_addr *a, char *buf, size_t len);

/* What a response event says. */
struct probe_rsp_info {
	const char *uri;
	const struct evudp6_msg *rsp;
	const struct evudp6_addr *from;
	double rtt_ms;
	bool multicast; /* one of many: one line per responder */
	/* An Observe notification: its number, sequence number, and rtt_ms is
	 * the time since the registration was sent. */
	bool notification;
	unsigned int number;
	long seq;
};
void probe_out_response(const struct probe_rsp_info *r);
/* -v: a request as it left (@p m decoded from what was sent) and its destination. */
void probe_out_request_sent(const struct evudp6_msg *m, const struct evudp6_addr *to);

/* What an error event says. kind: "network", "timeout", "resolve", "reset", "local". */
struct probe_err_info {
	const char *kind;
	const char *uri;
	int err;                          /* negative errno or -EVUDP6_E_* */
	const struct evudp6_icmp *icmp;   /* NULL: not from the error queue */
	const struct evudp6_addr *remote; /* NULL when resolution failed */
	double elapsed_ms;
	const char *detail; /* extra words, may be NULL */
	int seq;            /* ping sequence number, or -1 */
	/* For people and the JSON "message": replaces the library's text. */
	const char *text;
	/* A timeout's kind ("retransmissions", "separate_response",
	 * "non_response", "limit"), or NULL. */
	const char *timeout;
};
void probe_out_error(const struct probe_err_info *e);

/* ------------------------------------------------------------ diagnoses */

/* "acknowledged by X after N ms, waiting for the separate response" */
void probe_out_ack(const char *uri, const struct evudp6_addr *from, double elapsed_ms);
/* "a response with our token came from B, not from A that was asked" */
void probe_wrong_source_text(struct sb *b, const struct evudp6_addr *asked, const struct evudp6_addr *from);
/* The name's next address is tried after @p failed failed for @p why. */
void probe_out_fallback(const char *uri, const struct evudp6_addr *failed, const char *why,
                        const struct evudp6_addr *next);
/* A line libevent (mostly evdns) logged: a "log" event, or with -v a line on stderr. */
void probe_out_dns_log(bool warning, const char *msg);

void probe_out_ping(const char *uri, int seq, const struct evudp6_msg *rsp, const struct evudp6_addr *from,
                    double rtt_ms);
void probe_out_ping_summary(const char *uri, unsigned int sent, unsigned int answered, unsigned int errors,
                            double min, double avg, double max, double total_ms);
void probe_out_multicast_summary(const char *uri, unsigned int responses, unsigned int responders,
                                 double wait_ms);
/* A request the diagnostic server answered, with both addresses. */
struct probe_req_log {
	const struct evudp6_msg *req;
	const struct evudp6_addr *from; /* requester, local part = where it arrived */
	bool multicast;
	const char *path;   /* "/whoami" */
	const char *query;  /* "a=1&b" or "" */
	uint8_t code;       /* response code, 0 when none is sent */
	const char *note;   /* e.g. "suppressed", may be NULL */
	const char *prefix; /* before the human line, may be NULL */
};
void probe_out_request(const struct probe_req_log *l);
/* A ping the diagnostic server answered with RST (@p from as above). */
void probe_out_ping_received(const struct evudp6_msg *ping, const struct evudp6_addr *from,
                             const char *prefix);
void probe_out_listening(const struct evudp6_addr *bound, const char *const *joined, size_t njoined);
/* Human-readable note (demo headings, listening lines): "note" events. */
void probe_out_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Plain line on stderr for usage and set-up problems. */
void probe_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ------------------------------------------------------------ client */

/* Shared by client jobs: one event_base, one messenger, one resolver. */
struct probe_client {
	struct event_base *base;
	struct evdns_base *dns;
	struct evudp6_resolver *resolver;
	struct evudp6_messenger *m;
	const struct probe_opts *o;
	struct probe_job *job; /* the one running now, for the unmatched hook */
};

int probe_client_init(struct probe_client *c, struct event_base *base, const struct probe_opts *o);
void probe_client_free(struct probe_client *c);

struct probe_job;
typedef void (*probe_job_done_cb)(struct probe_job *j, int code, void *arg);

/*
 * Start one request (or a ping series when @p o->mode is PROBE_PING) to
 * @p uri with the settings in @p o. @p done runs once, from the loop,
 * with the exit code the outcome maps to; the job frees itself after.
 * @return 0, or an exit code when nothing could be started (reported).
 */
int probe_job_start(struct probe_client *c, const struct probe_opts *o, const char *uri,
                    probe_job_done_cb done, void *arg);

/* ------------------------------------------------------------ server */

struct probe_server;
int probe_server_new(struct probe_server **out, struct event_base *base, const struct probe_opts *o);
/* Port of the first socket (for the demo). */
uint16_t probe_server_port(const struct probe_server *s);
void probe_server_free(struct probe_server *s);

/* The observable resources: /obs, a counter that changes every second,
 * and /obs-large, several blocks that change with it (notifications cut
 * into blocks by @p blocks, which must outlive them). */
struct probe_obs;
int probe_obs_new(struct probe_obs **out, struct event_base *base, struct evudp6_block_server *blocks);
void probe_obs_free(struct probe_obs *r);
/* Answer @p ex if @p path is /obs or /obs-large (registering observers): true then, with
 * the response code (0 for none) and a note for the log. */
bool probe_obs_serve(struct probe_obs *r, struct evudp6_exchange_handle ex, const struct evudp6_msg *req,
                     const char *path, uint8_t *code, const char **note);

int probe_run_listen(const struct probe_opts *o);
int probe_run_demo(const struct probe_opts *o);

#endif /* EVUDP6_PROBE_H */
