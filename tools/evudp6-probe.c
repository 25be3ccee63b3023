/*
 * evudp6-probe — a CoAP probe for operators: requests, CoAP ping,
 * multicast discovery and a diagnostic server, with precise ICMP error
 * reports. See evudp6-probe(1).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "probe.h"

static const char usage_text[] =
    "Usage: evudp6-probe [options] URI            request (GET unless -m)\n"
    "       evudp6-probe --ping [-c N] [-i S] URI  CoAP ping (Empty CON -> RST)\n"
    "       evudp6-probe --listen [options] [BIND]...  diagnostic server\n"
    "       evudp6-probe --demo                    loopback demonstration\n"
    "Request:\n"
    "  -m, --method M          GET POST PUT DELETE FETCH PATCH iPATCH, or a number\n"
    "  -e, --payload DATA      payload: text, @FILE, or - for standard input\n"
    "  -t, --content-format F  text/plain, link-format, json, cbor, ... or a number\n"
    "  -A, --accept F          Accept option, same names\n"
    "  -O, --option N[,V]      any option by number or name; V is text, a number\n"
    "                          for uint options, or 0xHEX\n"
    "  -N, --non               non-confirmable (multicast always is)\n"
    "  -B, --block-size N      block size for block-wise transfer (16..1024)\n"
    "  -o, --output FILE       write the response body to FILE\n"
    "  -T, --timeout S         give up after S seconds (ping: per ping, default 2)\n"
    "      --ack-timeout S     first retransmission after S s (default 2, doubling)\n"
    "      --retransmit N      retransmissions before giving up, 0..16 (default 4)\n"
    "  -w, --wait S            multicast: collect responses for S s (default 2)\n"
    "  -I, --interface IF      interface for a link-local or multicast address\n"
    "                          without a zone (%IF in the URI)\n"
    "  -b, --bind ADDR         local address of the client socket ([::]:0)\n"
    "      --dns SERVER        name server to ask instead of /etc/resolv.conf\n"
    "  -s, --observe [S]       observe the resource (RFC 7641): print each\n"
    "                          notification for S seconds (none or 0: until\n"
    "                          Ctrl-C), then deregister\n"
    "Ping:\n"
    "  -c, --count N           pings to send (default 4; 0: until Ctrl-C)\n"
    "  -i, --interval S        seconds between pings (default 1; 0: back to back)\n"
    "Server:\n"
    "  -l, --listen            serve on each BIND (default [::], port 5683)\n"
    "      --fd N              serve on the bound UDP socket N (repeatable); without\n"
    "                          BIND or --fd, sockets passed by systemd (LISTEN_FDS)\n"
    "  -j, --join GROUP[%IF]   join a multicast group (repeatable)\n"
    "      --join-coap IF      join 224.0.1.187, ff02::fd and ff05::fd on IF\n"
    "      --leisure S         delay before answering multicast (default 0.5)\n"
    "                          (-T S stops the server after S seconds)\n"
    "Output:\n"
    "      --json              one JSON object per event\n"
    "  -q, --quiet             payload only (errors on standard error)\n"
    "      --raw               payloads as they came: no CBOR diagnostic notation,\n"
    "                          JSON indenting or one link per line\n"
    "  -v, --verbose           more detail\n"
    "  -h, --help   -V, --version\n"
    "Exit: 0 success, 1 error response, 2 timeout, 3 network error (ICMP, send,\n"
    "no route), 4 resolution error, 5 incomplete block-wise body, 64 usage, 66 unreadable payload file,\n"
    "71 socket or join failed. Details: man evudp6-probe\n";

enum {
	OPT_PING = 256,
	OPT_DNS,
	OPT_JOIN_COAP,
	OPT_LEISURE,
	OPT_DEMO,
	OPT_JSON,
	OPT_ACK_TIMEOUT,
	OPT_RETRANSMIT,
	OPT_RAW,
	OPT_FD,
	OPT_OBSERVE
};

static const struct option long_opts[] = {
    {"method", required_argument, NULL, 'm'},
    {"payload", required_argument, NULL, 'e'},
    {"content-format", required_argument, NULL, 't'},
    {"accept", required_argument, NULL, 'A'},
    {"option", required_argument, NULL, 'O'},
    {"non", no_argument, NULL, 'N'},
    {"block-size", required_argument, NULL, 'B'},
    {"output", required_argument, NULL, 'o'},
    {"timeout", required_argument, NULL, 'T'},
    {"wait", required_argument, NULL, 'w'},
    {"ack-timeout", required_argument, NULL, OPT_ACK_TIMEOUT},
    {"retransmit", required_argument, NULL, OPT_RETRANSMIT},
    {"interface", required_argument, NULL, 'I'},
    {"bind", required_argument, NULL, 'b'},
    {"dns", required_argument, NULL, OPT_DNS},
    {"ping", no_argument, NULL, OPT_PING},
    {"observe", optional_argument, NULL, OPT_OBSERVE},
    {"count", required_argument, NULL, 'c'},
    {"interval", required_argument, NULL, 'i'},
    {"listen", no_argument, NULL, 'l'},
    {"fd", required_argument, NULL, OPT_FD},
    {"join", required_argument, NULL, 'j'},
    {"join-coap", required_argument, NULL, OPT_JOIN_COAP},
    {"leisure", required_argument, NULL, OPT_LEISURE},
    {"demo", no_argument, NULL, OPT_DEMO},
    {"json", no_argument, NULL, OPT_JSON},
    {"raw", no_argument, NULL, OPT_RAW},
    {"quiet", no_argument, NULL, 'q'},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;
	fputs("evudp6-probe: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'evudp6-probe --help'.\n", stderr);
	return PROBE_EXIT_USAGE;
}

static int parse_seconds(const char *text, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(text, &end);
	if (errno || end == text || *end || !isfinite(v) || v < 0 || v > 86400.0 * 365)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_count(const char *text, unsigned int *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(text, &end, 10);
	if (errno || end == text || *end || *text == '-' || v > 1000000)
		return -EINVAL;
	*out = (unsigned int)v;
	return 0;
}

/* Whole file or standard input, for -e @FILE and -e -. */
static int read_all(FILE *f, uint8_t **out, size_t *len)
{
	size_t cap = 4096, n = 0;
	uint8_t *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (n == cap) {
			if (cap >= 1u << 24) {
				free(buf);
				return -EFBIG;
			}
			uint8_t *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0) {
			if (ferror(f)) {
				free(buf);
				return -EIO;
			}
			break;
		}
	}
	*out = buf;
	*len = n;
	return 0;
}

static int parse_payload(struct probe_opts *o, const char *arg)
{
	free(o->payload);
	o->payload = NULL;
	int rc;
	if (strcmp(arg, "-") == 0) {
		rc = read_all(stdin, &o->payload, &o->payload_len);
		if (rc < 0) {
			probe_warn("reading the payload from standard input: %s", strerror(-rc));
			return PROBE_EXIT_NOINPUT;
		}
	} else if (arg[0] == '@') {
		FILE *f = fopen(arg + 1, "rb");
		if (!f) {
			probe_warn("payload file %s: %s", arg + 1, strerror(errno));
			return PROBE_EXIT_NOINPUT;
		}
		rc = read_all(f, &o->payload, &o->payload_len);
		fclose(f);
		if (rc < 0) {
			probe_warn("payload file %s: %s", arg + 1, strerror(-rc));
			return PROBE_EXIT_NOINPUT;
		}
	} else {
		o->payload_len = strlen(arg);
		o->payload = (uint8_t *)strdup(arg);
		if (!o->payload)
			return PROBE_EXIT_OSERR;
	}
	/* An empty payload is no payload (a marker needs at least one byte). */
	if (o->payload_len == 0) {
		free(o->payload);
		o->payload = NULL;
	}
	return 0;
}

static int hex_value(const char *hex, uint8_t **out, size_t *len)
{
	size_t n = strlen(hex);
	if (n % 2)
		return -EINVAL;
	uint8_t *v = malloc(n / 2 + 1);
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned int byte;
		if (sscanf(hex + 2 * i, "%2x", &byte) != 1 || !strchr("0123456789abcdefABCDEF", hex[2 * i]) ||
		    !strchr("0123456789abcdefABCDEF", hex[2 * i + 1])) {
			free(v);
			return -EINVAL;
		}
		v[i] = (uint8_t)byte;
	}
	*out = v;
	*len = n / 2;
	return 0;
}

/* -O N[,V]: the value is read according to the option's format. */
static int parse_option(struct probe_opts *o, const char *arg)
{
	if (o->nextra >= PROBE_MAX_EXTRA_OPTS)
		return usage_error("-O: at most %d options", PROBE_MAX_EXTRA_OPTS);
	char name[64];
	const char *comma = strchr(arg, ',');
	size_t nl = comma ? (size_t)(comma - arg) : strlen(arg);
	if (nl == 0 || nl >= sizeof(name))
		return usage_error("-O %s: expected NUMBER[,VALUE]", arg);
	memcpy(name, arg, nl);
	name[nl] = '\0';
	struct probe_extra_opt *x = &o->extra[o->nextra];
	if (probe_option_number_parse(name, &x->number) < 0)
		return usage_error("-O %s: %s is no option number (0..%u) or name", arg, name,
		                   EVUDP6_OPT_MAX);
	const char *val = comma ? comma + 1 : "";
	x->value = NULL;
	x->len = 0;
	if (strncmp(val, "0x", 2) == 0) {
		if (hex_value(val + 2, &x->value, &x->len) < 0)
			return usage_error("-O %s: bad hex value", arg);
	} else if (evudp6_opt_format(x->number) == EVUDP6_OPT_FORMAT_UINT && *val) {
		char *end;
		errno = 0;
		unsigned long v = strtoul(val, &end, 10);
		if (errno || *end || *val == '-' || v > 0xffffffffu)
			return usage_error("-O %s: %s takes a number up to 4294967295", arg, name);
		uint8_t be[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
		size_t skip = 0;
		while (skip < 4 && be[skip] == 0)
			skip++;
		x->len = 4 - skip;
		x->value = malloc(4);
		if (!x->value)
			return PROBE_EXIT_OSERR;
		memcpy(x->value, be + skip, x->len);
	} else if (*val) {
		x->len = strlen(val);
		x->value = (uint8_t *)strdup(val);
		if (!x->value)
			return PROBE_EXIT_OSERR;
	}
	o->nextra++;
	return 0;
}

static void free_opts(struct probe_opts *o)
{
	free(o->payload);
	for (size_t i = 0; i < o->nextra; i++)
		free(o->extra[i].value);
}

/* ------------------------------------------------------------ request and ping */

struct run {
	struct event_base *base;
	int code;
};

static void run_done(struct probe_job *j, int code, void *arg)
{
	(void)j;
	struct run *r = arg;
	r->code = code;
	event_base_loopexit(r->base, NULL);
}

static int run_client(const struct probe_opts *o)
{
	struct run run = {.code = PROBE_EXIT_OSERR};
	run.base = event_base_new();
	if (!run.base) {
		probe_warn("cannot create an event_base");
		return PROBE_EXIT_OSERR;
	}
	struct probe_client c;
	int rc = probe_client_init(&c, run.base, o);
	if (rc == 0) {
		rc = probe_job_start(&c, o, o->uri, run_done, &run);
		if (rc == 0)
			event_base_dispatch(run.base);
		else
			run.code = rc;
	} else {
		run.code = rc;
	}
	probe_client_free(&c);
	event_base_loop(run.base, EVLOOP_NONBLOCK);
	event_base_free(run.base);
	return run.code;
}

/* ------------------------------------------------------------ main */

static int parse_fd(const char *s, int *fd)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > INT_MAX)
		return -1;
	*fd = (int)v;
	return 0;
}

/* Socket activation (sd_listen_fds(3)): LISTEN_PID names this process
 * and LISTEN_FDS counts the sockets from fd 3 on. The variables are
 * removed so that nothing started later takes them for its own. */
static int systemd_fds(struct probe_opts *o)
{
	const char *pid = getenv("LISTEN_PID"), *n = getenv("LISTEN_FDS");
	int p, count;
	if (!pid || !n || parse_fd(pid, &p) < 0 || p != (int)getpid())
		return 0;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (parse_fd(n, &count) < 0 || count > PROBE_MAX_BINDS)
		return usage_error("LISTEN_FDS=%s: expected 0..%d sockets", n, PROBE_MAX_BINDS);
	for (int i = 0; i < count; i++)
		o->fds[o->nfds++] = 3 + i;
	return 0;
}

/* The library writes nothing itself: the probe shows its warnings. */
static void library_log_cb(int severity, const char *msg, void *arg)
{
	(void)arg;
	if (severity >= EVUDP6_LOG_WARN || probe_o->verbose)
		probe_warn("%s", msg);
}

int main(int argc, char **argv)
{
	static struct probe_opts o;
	o.mode = PROBE_REQUEST;
	o.method = EVUDP6_GET;
	o.content_format = o.accept = -1;
	o.max_retransmit = -1;
	o.count = 4;
	o.interval_s = 1.0;
	o.wait_s = 2.0;
	o.leisure_s = 0.5;
	o.observe_s = -1;
	probe_o = &o;
	evudp6_log_set_cb(library_log_cb, NULL);
	bool listen = false, ping = false, demo = false, count_set = false;
	int c, rc = 0;

	while (rc == 0 &&
	       (c = getopt_long(argc, argv, "m:e:t:A:O:NB:o:T:w:I:b:c:i:s:lj:qvhV", long_opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (probe_method_parse(optarg, &o.method) < 0)
				rc = usage_error("-m %s: not a method name or a number 1..31", optarg);
			break;
		case 'e':
			rc = parse_payload(&o, optarg);
			break;
		case 't':
			if (probe_cf_parse(optarg, &o.content_format) < 0)
				rc = usage_error("-t %s: unknown content format (use a number)", optarg);
			break;
		case 'A':
			if (probe_cf_parse(optarg, &o.accept) < 0)
				rc = usage_error("-A %s: unknown content format (use a number)", optarg);
			break;
		case 'O':
			rc = parse_option(&o, optarg);
			break;
		case 'N':
			o.non = true;
			break;
		case 'B': {
			char *end;
			unsigned long n = strtoul(optarg, &end, 10);
			if (*optarg < '0' || *optarg > '9' || *end || n < 16 || n > 1024 || (n & (n - 1)))
				rc = usage_error("-B %s: expected a block size 16, 32, ... 1024", optarg);
			else
				o.block_size = (unsigned int)n;
			break;
		}
		case 'o':
			o.out_file = optarg;
			break;
		case 'T':
			if (parse_seconds(optarg, &o.timeout_s) < 0 || o.timeout_s <= 0)
				rc = usage_error("-T %s: expected seconds > 0", optarg);
			break;
		case OPT_ACK_TIMEOUT:
			if (parse_seconds(optarg, &o.ack_timeout_s) < 0 || o.ack_timeout_s < 0.001 ||
			    o.ack_timeout_s > 3600)
				rc = usage_error("--ack-timeout %s: expected seconds from 0.001 to 3600",
				                 optarg);
			break;
		case OPT_RETRANSMIT: {
			unsigned int n;
			if (parse_count(optarg, &n) < 0 || n > 16)
				rc = usage_error("--retransmit %s: expected a count 0..16", optarg);
			else
				o.max_retransmit = (int)n;
			break;
		}
		case 'w':
			if (parse_seconds(optarg, &o.wait_s) < 0 || o.wait_s <= 0)
				rc = usage_error("-w %s: expected seconds > 0", optarg);
			break;
		case 'I':
			o.ifname = optarg;
			break;
		case 'b':
			o.bind = optarg;
			break;
		case OPT_DNS:
			o.dns = optarg;
			break;
		case OPT_PING:
			ping = true;
			break;
		case OPT_OBSERVE:
			/* "--observe 5 URI" as well as "--observe=5 URI" and "--observe URI". */
			if (!optarg && optind + 1 < argc && parse_seconds(argv[optind], &o.observe_s) == 0) {
				optarg = argv[optind++];
			}
			/* fall through */
		case 's':
			if (!optarg)
				o.observe_s = 0;
			else if (parse_seconds(optarg, &o.observe_s) < 0)
				rc = usage_error("--observe %s: expected seconds >= 0", optarg);
			break;
		case 'c':
			if (parse_count(optarg, &o.count) < 0)
				rc = usage_error("-c %s: expected a count 0..1000000", optarg);
			count_set = true;
			break;
		case 'i':
			if (parse_seconds(optarg, &o.interval_s) < 0)
				rc = usage_error("-i %s: expected seconds >= 0", optarg);
			break;
		case 'l':
			listen = true;
			break;
		case OPT_FD:
			if (o.nfds >= PROBE_MAX_BINDS)
				rc = usage_error("--fd: at most %d sockets", PROBE_MAX_BINDS);
			else if (parse_fd(optarg, &o.fds[o.nfds]) < 0)
				rc = usage_error("--fd %s: expected a file descriptor number", optarg);
			else
				o.nfds++;
			break;
		case 'j':
			if (o.njoins >= PROBE_MAX_JOINS)
				rc = usage_error("--join: at most %d groups", PROBE_MAX_JOINS);
			else
				o.joins[o.njoins++] = optarg;
			break;
		case OPT_JOIN_COAP:
			if (o.njoin_coap >= PROBE_MAX_JOINS)
				rc = usage_error("--join-coap: at most %d interfaces", PROBE_MAX_JOINS);
			else
				o.join_coap[o.njoin_coap++] = optarg;
			break;
		case OPT_LEISURE:
			if (parse_seconds(optarg, &o.leisure_s) < 0)
				rc = usage_error("--leisure %s: expected seconds >= 0", optarg);
			break;
		case OPT_DEMO:
			demo = true;
			break;
		case OPT_JSON:
			o.json = true;
			break;
		case OPT_RAW:
			o.raw = true;
			break;
		case 'q':
			o.quiet = true;
			break;
		case 'v':
			o.verbose++;
			break;
		case 'h':
			fputs(usage_text, stdout);
			free_opts(&o);
			return PROBE_EXIT_OK;
		case 'V':
			printf("evudp6-probe %s (libevudp6 %s)\n", VERSION, evudp6_version());
			free_opts(&o);
			return PROBE_EXIT_OK;
		default:
			rc = usage_error("unknown or incomplete option");
		}
	}
	if (rc == 0 && (listen + ping + demo) > 1)
		rc = usage_error("--listen, --ping and --demo exclude each other");
	if (rc == 0 && o.observe_s >= 0 && (listen || ping || demo))
		rc = usage_error("--observe is for a request");
	if (rc == 0 && o.observe_s >= 0 && o.method != EVUDP6_GET && o.method != EVUDP6_FETCH)
		rc = usage_error("--observe is for GET and FETCH");
	if (rc == 0 && count_set && !ping)
		rc = usage_error("-c is for --ping");
	if (rc == 0 && (o.njoins || o.njoin_coap) && !listen)
		rc = usage_error("--join and --join-coap are for --listen");
	if (rc == 0 && o.nfds && !listen)
		rc = usage_error("--fd is for --listen");
	if (rc == 0) {
		int rest = argc - optind;
		if (listen) {
			o.mode = PROBE_LISTEN;
			if (rest > PROBE_MAX_BINDS)
				rc = usage_error("at most %d bind addresses", PROBE_MAX_BINDS);
			else if ((size_t)rest + o.nfds > PROBE_MAX_BINDS)
				rc = usage_error("at most %d sockets in all", PROBE_MAX_BINDS);
			for (int i = 0; rc == 0 && i < rest; i++)
				o.binds[o.nbinds++] = argv[optind + i];
			if (rc == 0 && rest == 0 && o.nfds == 0)
				rc = systemd_fds(&o);
		} else if (demo) {
			o.mode = PROBE_DEMO;
			if (rest)
				rc = usage_error("--demo takes no URI");
		} else {
			o.mode = ping ? PROBE_PING : PROBE_REQUEST;
			if (rest != 1)
				rc = usage_error(rest ? "one URI at a time" : "no URI given");
			else
				o.uri = argv[optind];
		}
	}
	if (rc == 0) {
		switch (o.mode) {
		case PROBE_LISTEN:
			rc = probe_run_listen(&o);
			break;
		case PROBE_DEMO:
			rc = probe_run_demo(&o);
			break;
		default:
			rc = run_client(&o);
		}
	}
	free_opts(&o);
	return rc;
}
