/*
 * evudp6 — transport: one AF_INET6 UDP socket on the caller's event_base.
 *
 * Read path: each wakeup reads data in recvmmsg() batches and stops after
 * cfg.max_per_wakeup items so that a flood cannot starve the caller's
 * other events (the socket stays readable, so libevent calls us again on
 * its next round). The error queue is read when the socket says it holds
 * something: a data read fails with the pending error an ICMP error sets,
 * or the wakeup finds no data (EPOLLERR woke us); and every few wakeups
 * in any case, for local errors, which set no pending error. After every
 * user callback the transport re-checks whether it was shut down or freed
 * from inside that callback.
 *
 * Send path: answers sent from inside the callbacks of a wakeup are held
 * and leave in one sendmmsg() when the callbacks of the batch they answer
 * have run, before the next read; a lone request is answered as soon as
 * its callback returns, so batching costs no latency at low load. Sends
 * from anywhere else leave at once with sendmsg(). A datagram that meets
 * a full socket buffer (EAGAIN) is copied into the send queue, a ring
 * allocated with the transport, and everything after it queues behind it
 * until an EV_WRITE event has flushed the queue. Nothing on either path
 * allocates.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/event.h>

#include <evudp6/transport.h>

#include "abi-internal.h"
#include "addr-internal.h"
#include "log-internal.h"
#include "transport-internal.h"

/* Linux 4.20; older C libraries lack the name. */
#ifndef IPV6_MULTICAST_ALL
#define IPV6_MULTICAST_ALL 29
#endif

static void transport_read_cb(evutil_socket_t fd, short what, void *arg);
static void transport_write_cb(evutil_socket_t fd, short what, void *arg);
static void transport_defer_cb(evutil_socket_t fd, short what, void *arg);

static int set_int_opt(int fd, int level, int name, int value)
{
	if (setsockopt(fd, level, name, &value, sizeof(value)) < 0)
		return -errno;
	return 0;
}

static int config_check(struct evudp6_transport_config *c)
{
	if (c->max_datagram == 0)
		c->max_datagram = EVUDP6_TRANSPORT_DEFAULT_MAX_DATAGRAM;
	if (c->batch == 0)
		c->batch = EVUDP6_TRANSPORT_DEFAULT_BATCH;
	if (c->max_per_wakeup == 0)
		c->max_per_wakeup = EVUDP6_TRANSPORT_DEFAULT_MAX_PER_WAKEUP;
	if (c->send_batch == 0)
		c->send_batch = EVUDP6_TRANSPORT_DEFAULT_SEND_BATCH;
	if (c->send_queue == 0)
		c->send_queue = EVUDP6_TRANSPORT_DEFAULT_SEND_QUEUE;
	if (c->max_datagram > 65535 || c->batch > 1024 || c->send_batch > 1024 || c->rcvbuf < 0 ||
	    c->sndbuf < 0 || c->send_queue > EVUDP6_TRANSPORT_MAX_SEND_QUEUE)
		return -EINVAL;
	return 0;
}

static int socket_create(struct evudp6_transport *t)
{
	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	t->fd = fd;
	return set_int_opt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 0);
}

/* The options every transport socket gets, its own or adopted. */
static int socket_setup(struct evudp6_transport *t)
{
	int fd = t->fd, r;
	/* Without the destination address of each datagram the transport
	 * cannot answer from the right address nor tell multicast from
	 * unicast: there is no degraded mode. */
	if (set_int_opt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1) < 0)
		return -EVUDP6_E_NO_PKTINFO;
	if ((r = set_int_opt(fd, IPPROTO_IPV6, IPV6_RECVERR, 1)) < 0)
		return r;
	/* V4MAPPED traffic takes the IPv4 path in the kernel: its ICMP errors
	 * are only queued with IP_RECVERR set as well. */
	if ((r = set_int_opt(fd, IPPROTO_IP, IP_RECVERR, 1)) < 0)
		return r;
	/* IPv4 datagrams then carry IP_PKTINFO too, whose ipi_spec_dst tells
	 * a broadcast from a datagram to one of our addresses. */
	if ((r = set_int_opt(fd, IPPROTO_IP, IP_PKTINFO, 1)) < 0)
		return r;
	/* Only the groups this socket joined, not every group some socket
	 * of the host joined on the interface: otherwise every transport on
	 * the port (every SO_REUSEPORT shard) answers a multicast request. */
	if ((r = set_int_opt(fd, IPPROTO_IPV6, IPV6_MULTICAST_ALL, 0)) < 0)
		return r;
	if ((r = set_int_opt(fd, IPPROTO_IP, IP_MULTICAST_ALL, 0)) < 0)
		return r;
	/* Drop counts are a diagnostic; a kernel without them is fine. */
	(void)set_int_opt(fd, SOL_SOCKET, SO_RXQ_OVFL, 1);
	if (t->cfg.reuseport && (r = set_int_opt(fd, SOL_SOCKET, SO_REUSEPORT, 1)) < 0)
		return r;
	if (t->cfg.rcvbuf > 0) {
		/* The forced variant passes net.core.rmem_max when privileged. */
		if (set_int_opt(fd, SOL_SOCKET, SO_RCVBUFFORCE, t->cfg.rcvbuf) < 0 &&
		    (r = set_int_opt(fd, SOL_SOCKET, SO_RCVBUF, t->cfg.rcvbuf)) < 0)
			return r;
	}
	if (t->cfg.sndbuf > 0) {
		if (set_int_opt(fd, SOL_SOCKET, SO_SNDBUFFORCE, t->cfg.sndbuf) < 0 &&
		    (r = set_int_opt(fd, SOL_SOCKET, SO_SNDBUF, t->cfg.sndbuf)) < 0)
			return r;
	}
	return 0;
}

static int buffers_setup(struct evudp6_transport *t)
{
	size_t n = t->cfg.batch;
	t->rxbuf = malloc(n * t->cfg.max_datagram);
	t->rxctrl = calloc(n, EVUDP6__CTRL_SIZE);
	t->rxmsg = calloc(n, sizeof(*t->rxmsg));
	t->rxiov = calloc(n, sizeof(*t->rxiov));
	t->rxname = calloc(n, sizeof(*t->rxname));
	t->errbuf = malloc(t->cfg.max_datagram);
	t->txq = calloc(t->cfg.send_queue, sizeof(*t->txq));
	t->txq_data = malloc((size_t)t->cfg.send_queue * t->cfg.max_datagram);
	if (!t->rxbuf || !t->rxctrl || !t->rxmsg || !t->rxiov || !t->rxname || !t->errbuf || !t->txq ||
	    !t->txq_data)
		return -ENOMEM;
	if (t->cfg.send_batch > 1) {
		t->txarena = malloc(EVUDP6__TX_ARENA);
		t->txmsg = calloc(t->cfg.send_batch, sizeof(*t->txmsg));
		t->txiov = calloc(t->cfg.send_batch, sizeof(*t->txiov));
		t->txslot = calloc(t->cfg.send_batch, sizeof(*t->txslot));
		if (!t->txarena || !t->txmsg || !t->txiov || !t->txslot)
			return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		t->rxiov[i].iov_base = t->rxbuf + i * t->cfg.max_datagram;
		t->rxiov[i].iov_len = t->cfg.max_datagram;
	}
	return 0;
}

static void transport_release(struct evudp6_transport *t)
{
	if (t->read_ev)
		event_free(t->read_ev);
	if (t->defer_ev)
		event_free(t->defer_ev);
	if (t->write_ev)
		event_free(t->write_ev);
	if (t->fd >= 0)
		close(t->fd);
	free(t->rxbuf);
	free(t->rxctrl);
	free(t->rxmsg);
	free(t->rxiov);
	free(t->rxname);
	free(t->errbuf);
	free(t->txarena);
	free(t->txmsg);
	free(t->txiov);
	free(t->txslot);
	free(t->txq);
	free(t->txq_data);
	free(t->bind);
	free(t);
}

int evudp6_transport_config_init(struct evudp6_transport_config *cfg, size_t size)
{
	static const struct evudp6_transport_config defaults;
	return evudp6__config_init(cfg, size, _Alignof(struct evudp6_transport_config), &defaults,
	                           sizeof(defaults));
}

/* Check a caller's socket before adopting it. */
static int socket_adoptable(int fd)
{
	int v;
	socklen_t len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) < 0)
		return -errno;
	if (v != AF_INET6)
		return -EAFNOSUPPORT;
	len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) < 0)
		return -errno;
	int proto;
	len = sizeof(proto);
	if (v != SOCK_DGRAM || getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) < 0 ||
	    proto != IPPROTO_UDP)
		return -EPROTOTYPE;
	struct sockaddr_in6 sa;
	len = sizeof(sa);
	if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		return -errno;
	if (sa.sin6_port == 0)
		return -EVUDP6_E_NOT_BOUND;
	len = sizeof(sa);
	if (getpeername(fd, (struct sockaddr *)&sa, &len) == 0)
		return -EISCONN;
	return errno == ENOTCONN ? 0 : -errno;
}

static int transport_create(struct evudp6_transport **out, struct event_base *base, int adopt_fd,
                            const struct evudp6_transport_config *cfg,
                            evudp6_transport_datagram_cb datagram_cb, evudp6_transport_error_cb error_cb,
                            void *arg)
{
	if (!out || !base || !datagram_cb)
		return -EINVAL;
	*out = NULL;
	struct evudp6_transport *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->fd = -1;
	t->base = base;
	t->datagram_cb = datagram_cb;
	t->error_cb = error_cb;
	t->arg = arg;
	t->cfg.size = sizeof(t->cfg);
	int r =
	    cfg ? evudp6__config_in(&t->cfg, sizeof(t->cfg), _Alignof(struct evudp6_transport_config), cfg)
	        : 0;
	if (r == 0 && adopt_fd >= 0 && t->cfg.bind)
		r = -EINVAL;
	if (r == 0) {
		t->bind = strdup(t->cfg.bind ? t->cfg.bind : "[::]:0");
		t->cfg.bind = t->bind;
		r = t->bind ? config_check(&t->cfg) : -ENOMEM;
	}
	if (r == 0 && adopt_fd >= 0) {
		r = socket_adoptable(adopt_fd);
		int fl = r == 0 ? fcntl(adopt_fd, F_GETFL) : 0;
		if (r == 0 && (fl < 0 || fcntl(adopt_fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
		               fcntl(adopt_fd, F_SETFD, FD_CLOEXEC) < 0))
			r = -errno;
		if (r == 0) {
			t->fd = adopt_fd;
			t->adopted = true;
		}
	} else if (r == 0) {
		r = socket_create(t);
	}
	if (r == 0)
		r = socket_setup(t);
	if (r == 0)
		r = buffers_setup(t);
	if (r == 0) {
		t->read_ev = event_new(base, t->fd, EV_READ | EV_PERSIST, transport_read_cb, t);
		t->defer_ev = event_new(base, -1, 0, transport_defer_cb, t);
		t->write_ev = event_new(base, t->fd, EV_WRITE | EV_PERSIST, transport_write_cb, t);
		if (!t->read_ev || !t->defer_ev || !t->write_ev)
			r = -ENOMEM;
	}
	if (r < 0) {
		if (t->adopted)
			t->fd = -1; /* the caller's again */
		transport_release(t);
		return r;
	}
	*out = t;
	return 0;
}

int evudp6_transport_new(struct evudp6_transport **out, struct event_base *base,
                         const struct evudp6_transport_config *cfg, evudp6_transport_datagram_cb datagram_cb,
                         evudp6_transport_error_cb error_cb, void *arg)
{
	return transport_create(out, base, -1, cfg, datagram_cb, error_cb, arg);
}

int evudp6_transport_new_from_fd(struct evudp6_transport **out, struct event_base *base, int fd,
                                 const struct evudp6_transport_config *cfg,
                                 evudp6_transport_datagram_cb datagram_cb, evudp6_transport_error_cb error_cb,
                                 void *arg)
{
	if (fd < 0)
		return -EBADF;
	return transport_create(out, base, fd, cfg, datagram_cb, error_cb, arg);
}

const char *evudp6__hosts_file = "/etc/hosts";

/* Room for the candidates of one name. */
#define BIND_CANDIDATES 16

/* Does the hosts-file line @line (comment stripped, NUL-terminated) name
 * @name after its address? Names are case-insensitive. */
static bool hosts_line_names(char *line, const char *name, char **addr)
{
	char *save = NULL;
	*addr = strtok_r(line, " \t\r\n", &save);
	if (!*addr)
		return false;
	for (char *n = strtok_r(NULL, " \t\r\n", &save); n; n = strtok_r(NULL, " \t\r\n", &save))
		if (strcasecmp(n, name) == 0)
			return true;
	return false;
}

/*
 * The addresses the hosts file gives @name, IPv6 before IPv4 (each in file
 * order), into @out (at most BIND_CANDIDATES). An IPv6 address may carry a
 * zone ("fe80::1%eth0"). Reading a local file does not wait on the
 * network: no DNS is asked, so start never blocks on a name server.
 * Returns the number found, or -EVUDP6_E_RESOLVE_NXDOMAIN when the name is
 * not there (or the file cannot be read).
 */
static int hosts_lookup(const char *name, struct sockaddr_in6 *out)
{
	FILE *f = fopen(evudp6__hosts_file, "re");
	if (!f)
		return -EVUDP6_E_RESOLVE_NXDOMAIN;
	struct sockaddr_in6 v4[BIND_CANDIDATES];
	int n6 = 0, n4 = 0;
	char line[1024];
	while (fgets(line, sizeof(line), f)) {
		size_t len = strlen(line);
		if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
			/* Longer than any sane entry: skip the rest of it. */
			int c;
			while ((c = getc(f)) != EOF && c != '\n')
				;
			continue;
		}
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char *addr;
		if (!hosts_line_names(line, name, &addr))
			continue;
		struct evudp6_addr a;
		int r = evudp6__addr_parse_authority(&a, addr, 0);
		if (r < 0) {
			/* An unbracketed IPv6 address, maybe with a zone. */
			char bracketed[INET6_ADDRSTRLEN + IF_NAMESIZE + 4];
			snprintf(bracketed, sizeof(bracketed), "[%s]", addr);
			r = evudp6__addr_parse_authority(&a, bracketed, 0);
		}
		if (r < 0)
			continue;
		if (IN6_IS_ADDR_V4MAPPED(&a.remote.sin6_addr)) {
			if (n4 < BIND_CANDIDATES)
				v4[n4++] = a.remote;
		} else if (n6 < BIND_CANDIDATES) {
			out[n6++] = a.remote;
		}
	}
	fclose(f);
	for (int i = 0; i < n4 && n6 < BIND_CANDIDATES; i++)
		out[n6++] = v4[i];
	return n6 > 0 ? n6 : -EVUDP6_E_RESOLVE_NXDOMAIN;
}

/*
 * Bind to a host that is a name (not a literal): the hosts file's
 * addresses for it, IPv6 first, each tried in turn until one binds; one
 * this host does not have (EADDRNOTAVAIL) passes to the next. A zone,
 * written "name%25zone" as RFC 6874 writes it for literals, is the scope
 * of an IPv6 result and wins over one from the file; IPv4 results cannot
 * have one.
 */
static int bind_name(struct evudp6_transport *t)
{
	char host[EVUDP6__HOST_MAX + 1], zone[IF_NAMESIZE];
	uint16_t port;
	int r = evudp6__authority_split(t->bind, strlen(t->bind), host, sizeof(host), zone, sizeof(zone),
	                                &port, EVUDP6_DEFAULT_PORT, NULL);
	if (r < 0)
		return r;
	unsigned int ifindex = 0;
	char *pct = strstr(host, "%25");
	if (pct) {
		*pct = '\0';
		if (strlen(pct + 3) >= sizeof(zone))
			return -EVUDP6_E_ZONE_UNKNOWN;
		strcpy(zone, pct + 3);
		if ((r = evudp6__zone_to_ifindex(zone, &ifindex)) < 0)
			return r;
	}
	struct sockaddr_in6 cand[BIND_CANDIDATES];
	int n = hosts_lookup(host, cand);
	if (n < 0)
		return n;
	r = -EVUDP6_E_ZONE_NOT_ALLOWED;
	for (int i = 0; i < n; i++) {
		if (ifindex) {
			if (IN6_IS_ADDR_V4MAPPED(&cand[i].sin6_addr))
				continue;
			cand[i].sin6_scope_id = ifindex;
		}
		cand[i].sin6_port = htons(port);
		if (bind(t->fd, (const struct sockaddr *)&cand[i], sizeof(cand[i])) == 0)
			return 0;
		r = -errno;
		if (r != -EADDRNOTAVAIL)
			return r;
	}
	return r;
}

int evudp6_transport_start(struct evudp6_transport *t)
{
	if (t->state == EVUDP6__T_SHUTDOWN)
		return -EVUDP6_E_SHUTDOWN;
	if (t->state != EVUDP6__T_NEW)
		return -EVUDP6_E_STATE;

	if (!t->adopted) {
		struct evudp6_addr a;
		int r = evudp6__addr_parse_authority(&a, t->bind, EVUDP6_DEFAULT_PORT);
		if (r == -EVUDP6_E_NOT_LITERAL)
			r = bind_name(t);
		else if (r == 0 && bind(t->fd, (const struct sockaddr *)&a.remote, sizeof(a.remote)) < 0)
			r = -errno;
		if (r < 0)
			return r;
	}
	socklen_t len = sizeof(t->local);
	if (getsockname(t->fd, (struct sockaddr *)&t->local, &len) < 0)
		return -errno;
	t->port = ntohs(t->local.sin6_port);
	if (event_add(t->read_ev, NULL) < 0)
		return -ENOMEM;
	t->state = EVUDP6__T_STARTED;
	return 0;
}

static void tx_flush(struct evudp6_transport *t);
static void txq_flush(struct evudp6_transport *t);

/* Stop everything that could call back; keep the memory. Datagrams held
 * for the end of the batch were accepted: they leave first, and what the
 * send queue holds gets a last try. */
static void transport_close(struct evudp6_transport *t)
{
	if (t->state == EVUDP6__T_SHUTDOWN)
		return;
	tx_flush(t);
	txq_flush(t);
	t->stats.send_queue_discarded += t->txq_count;
	t->txq_count = 0;
	t->state = EVUDP6__T_SHUTDOWN;
	event_del(t->read_ev);
	event_del(t->write_ev);
	close(t->fd);
	t->fd = -1;
	t->senderr_count = 0;
}

/* Called after every user callback: true if the transport must not be
 * touched any further in this wakeup. Frees it when the outermost
 * callback has returned and a free was asked for. */
static bool transport_gone(struct evudp6_transport *t)
{
	if (t->free_pending) {
		if (t->in_cb == 0)
			transport_release(t);
		return true;
	}
	return t->state != EVUDP6__T_STARTED;
}

static void deliver_error(struct evudp6_transport *t, int err, const struct evudp6_icmp *icmp,
                          const struct evudp6_addr *remote, const uint8_t *quoted, size_t quoted_len)
{
	if (!t->error_cb)
		return;
	t->in_cb++;
	t->error_cb(t, err, icmp, remote, quoted, quoted_len, t->arg);
	t->in_cb--;
}

/* One error-queue entry. Returns 1 if one was read, 0 if the queue is
 * empty, -1 on another failure. */
static int read_errqueue_one(struct evudp6_transport *t)
{
	struct sockaddr_in6 name;
	union {
		struct cmsghdr align;
		uint8_t buf[EVUDP6__CTRL_SIZE];
	} ctrl;
	struct iovec iov = {.iov_base = t->errbuf, .iov_len = t->cfg.max_datagram};
	struct msghdr mh = {
	    .msg_name = &name,
	    .msg_namelen = sizeof(name),
	    .msg_iov = &iov,
	    .msg_iovlen = 1,
	    .msg_control = ctrl.buf,
	    .msg_controllen = sizeof(ctrl.buf),
	};
	ssize_t n;
	do
		n = recvmsg(t->fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;

	struct evudp6_cmsg_info info;
	evudp6_cmsg_parse(ctrl.buf, mh.msg_controllen, mh.msg_flags, &info, sizeof(info));
	if (!info.has_icmp) {
		t->stats.errqueue_other++;
		return 1;
	}
	t->stats.errqueue++;

	struct evudp6_addr remote;
	memset(&remote, 0, sizeof(remote));
	if (mh.msg_namelen >= sizeof(struct sockaddr_in))
		evudp6_addr_from_sockaddr(&remote, (struct sockaddr *)&name, mh.msg_namelen);
	if (info.has_pktinfo)
		evudp6_addr_set_local(&remote, &info.local, info.ifindex);
	remote.local_port = t->port;
	deliver_error(t, -info.icmp.err, &info.icmp, &remote, t->errbuf, (size_t)n);
	return 1;
}

static void deliver_datagram(struct evudp6_transport *t, unsigned int i)
{
	struct mmsghdr *mm = &t->rxmsg[i];
	struct msghdr *mh = &mm->msg_hdr;
	if (mh->msg_flags & MSG_TRUNC) {
		t->stats.truncated++;
		return;
	}
	struct evudp6_cmsg_info info;
	evudp6_cmsg_parse(mh->msg_control, mh->msg_controllen, mh->msg_flags, &info, sizeof(info));
	if (info.has_ovfl)
		t->stats.rxq_overflow = info.ovfl;

	struct evudp6_addr remote;
	if (evudp6_addr_from_sockaddr(&remote, mh->msg_name, mh->msg_namelen) < 0)
		return;
	remote.local_port = t->port;
	if (info.has_pktinfo) {
		evudp6_addr_set_local(&remote, &info.local, info.ifindex);
		remote.local_broadcast = info.broadcast;
	} else {
		t->stats.no_pktinfo++;
		if (!t->warned_no_pktinfo) {
			t->warned_no_pktinfo = true;
			evudp6__log(EVUDP6_LOG_WARN,
			            "datagram without IPV6_PKTINFO on port %u: "
			            "delivered with local address unknown (warned once per transport)",
			            t->port);
		}
	}
	t->stats.datagrams_in++;
	t->stats.bytes_in += mm->msg_len;
	t->in_cb++;
	t->datagram_cb(t, t->rxiov[i].iov_base, mm->msg_len, &remote, t->arg);
	t->in_cb--;
}

/* Read one batch. Returns the number of datagrams read, 0 if none, -1 if
 * the socket has a pending error (drain the error queue and retry). */
static int read_batch(struct evudp6_transport *t, unsigned int max)
{
	for (unsigned int i = 0; i < max; i++) {
		struct msghdr *mh = &t->rxmsg[i].msg_hdr;
		mh->msg_name = &t->rxname[i];
		mh->msg_namelen = sizeof(t->rxname[i]);
		mh->msg_iov = &t->rxiov[i];
		mh->msg_iovlen = 1;
		mh->msg_control = t->rxctrl + (size_t)i * EVUDP6__CTRL_SIZE;
		mh->msg_controllen = EVUDP6__CTRL_SIZE;
		mh->msg_flags = 0;
	}
	int n;
	do
		n = recvmmsg(t->fd, t->rxmsg, max, MSG_DONTWAIT, NULL);
	while (n < 0 && errno == EINTR);
	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return 0;
	/* An ICMP error also sets the socket's pending error, which the
	 * next plain read returns once; the details are in the error queue. */
	return -1;
}

/* Read error-queue entries until it is empty or the budget is spent.
 * Returns -1 if the transport is gone (see transport_gone()). */
static int drain_errqueue(struct evudp6_transport *t, unsigned int *budget)
{
	while (*budget > 0) {
		int r = read_errqueue_one(t);
		if (transport_gone(t))
			return -1;
		if (r != 1)
			break;
		--*budget;
	}
	return 0;
}

static void transport_read_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct evudp6_transport *t = arg;
	unsigned int budget = t->cfg.max_per_wakeup;
	t->stats.wakeups++;
	t->in_read = true;

	/* Local errors (EMSGSIZE, ...) queue without the pending socket error
	 * that makes a data read fail: while data keeps coming, look at the
	 * error queue every few wakeups anyway. */
	bool err_read = false;
	if (t->stats.wakeups % EVUDP6__ERRQ_PERIOD == 0) {
		if (drain_errqueue(t, &budget) < 0)
			return;
		err_read = true;
	}
	while (budget > 0) {
		unsigned int max = budget < t->cfg.batch ? budget : t->cfg.batch;
		int n = read_batch(t, max);
		if (n < 0) {
			/* The pending error of an ICMP error: its details are in
			 * the error queue. */
			budget--;
			if (drain_errqueue(t, &budget) < 0)
				return;
			err_read = true;
			continue;
		}
		if (n == 0) {
			/* No data: the error queue woke us (or nothing did). */
			if (!err_read && drain_errqueue(t, &budget) < 0)
				return;
			break;
		}
		budget -= (unsigned int)n;
		for (int i = 0; i < n; i++) {
			deliver_datagram(t, (unsigned int)i);
			if (transport_gone(t))
				return;
		}
		tx_flush(t);
		/* A short batch means the queue was empty when we read it. */
		if ((unsigned int)n < max)
			break;
	}
	if (budget == 0)
		t->stats.wakeups_bounded++;
	tx_flush(t);
	t->in_read = false;
}

static void transport_defer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct evudp6_transport *t = arg;
	while (t->senderr_count > 0 && t->state == EVUDP6__T_STARTED) {
		struct evudp6__senderr e = t->senderr[t->senderr_head];
		t->senderr_head = (t->senderr_head + 1) % EVUDP6__SENDERR_RING;
		t->senderr_count--;
		deliver_error(t, e.err, NULL, &e.remote, e.quote_len ? e.quote : NULL, e.quote_len);
		if (transport_gone(t))
			return;
	}
	if (t->shutdown_cb_pending) {
		t->shutdown_cb_pending = false;
		if (t->shutdown_cb) {
			t->in_cb++;
			t->shutdown_cb(t, t->shutdown_arg);
			t->in_cb--;
			if (t->free_pending && t->in_cb == 0)
				transport_release(t);
		}
	}
}

static void queue_send_error(struct evudp6_transport *t, const struct evudp6_addr *remote, int err,
                             const void *data, size_t len)
{
	if (!t->error_cb)
		return;
	if (t->senderr_count == EVUDP6__SENDERR_RING) {
		t->stats.send_errors_dropped++;
		return;
	}
	unsigned int slot = (t->senderr_head + t->senderr_count) % EVUDP6__SENDERR_RING;
	struct evudp6__senderr *e = &t->senderr[slot];
	e->remote = *remote;
	e->err = err;
	e->quote_len = (uint8_t)(len < sizeof(e->quote) ? len : sizeof(e->quote));
	if (e->quote_len)
		memcpy(e->quote, data, e->quote_len);
	t->senderr_count++;
	event_active(t->defer_ev, EV_TIMEOUT, 0);
}

/* With IP_RECVERR, an ICMP error also sets the socket's pending error, and
 * the next sendmsg() fails with it (clearing it) without sending anything.
 * That error belongs to an earlier datagram and reaches the caller through
 * the error queue with its details; it is not this datagram's fault. So a
 * send that fails with an errno an ICMP error can carry is tried again: a
 * stale error is gone by then, a genuine one (no route) fails the same way
 * every time. EMSGSIZE is not retried: a datagram too big for the path is
 * refused the same way each time and every refusal queues a local error
 * of its own, while a stale one would need an ICMP Packet Too Big for a
 * path narrower than a CoAP message. */
#define EVUDP6__SEND_TRIES 4

static bool pending_async_error(int err)
{
	switch (err) {
	case ECONNREFUSED:
	case EHOSTUNREACH:
	case ENETUNREACH:
	case EHOSTDOWN:
	case ENONET:
	case EACCES:
	case EPROTO:
	case ENOPROTOOPT:
	case ETIMEDOUT:
		return true;
	default:
		return false;
	}
}

/* Point @p mh at @p remote and, if it has a local part, at an
 * IPV6_PKTINFO control message written into @p ctrl. */
static void msghdr_fill(struct msghdr *mh, const struct evudp6_addr *remote, struct iovec *iov, uint8_t *ctrl,
                        size_t ctrl_len)
{
	*mh = (struct msghdr){
	    .msg_name = (void *)&remote->remote,
	    .msg_namelen = sizeof(remote->remote),
	    .msg_iov = iov,
	    .msg_iovlen = 1,
	};
	if (!remote->has_local)
		return;
	memset(ctrl, 0, ctrl_len);
	mh->msg_control = ctrl;
	/* The one control message's own length, not its CMSG_SPACE: Linux
	 * copies up to 36 bytes of control data on the stack and takes a
	 * kmalloc() (and a hardened-usercopy check) per datagram for the 40
	 * that CMSG_SPACE would give. The kernel's walk accepts a last
	 * message without its tail padding. */
	mh->msg_controllen = CMSG_LEN(sizeof(struct in6_pktinfo));
	struct cmsghdr *c = CMSG_FIRSTHDR(mh);
	c->cmsg_level = IPPROTO_IPV6;
	c->cmsg_type = IPV6_PKTINFO;
	c->cmsg_len = CMSG_LEN(sizeof(struct in6_pktinfo));
	struct in6_pktinfo pi = {.ipi6_addr = remote->local_addr, .ipi6_ifindex = remote->local_ifindex};
	/* Linux takes a V4MAPPED source (or ::ffff:0.0.0.0) for a V4MAPPED
	 * destination and a plain IPv6 one otherwise; an interface-only
	 * local part may have been written in either form. */
	const struct in6_addr *dst = &remote->remote.sin6_addr;
	bool dst4 = IN6_IS_ADDR_V4MAPPED(dst);
	bool any4 = IN6_IS_ADDR_V4MAPPED(&pi.ipi6_addr) && pi.ipi6_addr.s6_addr32[3] == 0;
	bool any = any4 || IN6_IS_ADDR_UNSPECIFIED(&pi.ipi6_addr);
	if (dst4 && IN6_IS_ADDR_UNSPECIFIED(&pi.ipi6_addr))
		pi.ipi6_addr.s6_addr32[2] = htonl(0xffff);
	else if (!dst4 && any4)
		pi.ipi6_addr = in6addr_any;
	/* With a source address the interface index would pin the datagram
	 * to the interface the request came in on, where the route back may
	 * not be: the routing table picks it. The index stays where it is
	 * the point: an interface-only local part, a multicast group, a
	 * link-local destination. */
	if (!any && !evudp6__in6_is_multicast(dst) && !IN6_IS_ADDR_LINKLOCAL(dst))
		pi.ipi6_ifindex = 0;
	memcpy(CMSG_DATA(c), &pi, sizeof(pi));
}

/* Copy a datagram that met a full socket buffer into the send queue and
 * make sure EV_WRITE will flush it. Returns 0, or -EAGAIN when it has to
 * be dropped (queue full, or too long for a slot), which is counted. */
static int txq_push(struct evudp6_transport *t, const struct evudp6_addr *remote, const void *data,
                    size_t len)
{
	if (t->txq_count == t->cfg.send_queue || len > t->cfg.max_datagram) {
		t->stats.send_queue_overflow++;
		return -EAGAIN;
	}
	unsigned int i = (t->txq_head + t->txq_count) % t->cfg.send_queue;
	t->txq[i].remote = *remote;
	t->txq[i].len = len;
	if (len > 0)
		memcpy(t->txq_data + (size_t)i * t->cfg.max_datagram, data, len);
	if (t->txq_count++ == 0)
		event_add(t->write_ev, NULL);
	t->stats.send_queued++;
	return 0;
}

/* Send the held datagrams, as many per sendmmsg() as the kernel takes. A
 * datagram that fails is counted and reported as sendmsg() would have
 * been, and the rest still go. From the first that meets a full socket
 * buffer on, they join the send queue (as they do at once when it already
 * holds something: order is kept). */
static void tx_flush(struct evudp6_transport *t)
{
	unsigned int i = 0;
	int tries = 0;
	while (i < t->txcount) {
		if (t->txq_count > 0) {
			for (; i < t->txcount; i++)
				(void)txq_push(t, &t->txslot[i].remote, t->txiov[i].iov_base,
				               t->txiov[i].iov_len);
			break;
		}
		int n = sendmmsg(t->fd, t->txmsg + i, t->txcount - i, MSG_DONTWAIT);
		if (n > 0) {
			for (unsigned int k = i; k < i + (unsigned int)n; k++)
				t->stats.bytes_out += t->txmsg[k].msg_len;
			t->stats.datagrams_out += (unsigned int)n;
			i += (unsigned int)n;
			tries = 0;
			continue;
		}
		int err = n < 0 ? errno : EIO;
		if (err == EINTR || (pending_async_error(err) && ++tries < EVUDP6__SEND_TRIES))
			continue;
		if (err == EAGAIN || err == EWOULDBLOCK) {
			(void)txq_push(t, &t->txslot[i].remote, t->txiov[i].iov_base, t->txiov[i].iov_len);
		} else {
			t->stats.send_errors++;
			queue_send_error(t, &t->txslot[i].remote, -err, t->txiov[i].iov_base,
			                 t->txiov[i].iov_len);
		}
		i++;
		tries = 0;
	}
	t->txcount = 0;
	t->txused = 0;
}

/* Hold a datagram (len <= EVUDP6__TX_ARENA) for the flush at the end of
 * the batch. */
static void tx_hold(struct evudp6_transport *t, const struct evudp6_addr *remote, const void *data,
                    size_t len)
{
	if (t->txcount == t->cfg.send_batch || EVUDP6__TX_ARENA - t->txused < len)
		tx_flush(t);
	unsigned int i = t->txcount++;
	struct evudp6__txslot *slot = &t->txslot[i];
	slot->remote = *remote;
	t->txiov[i].iov_base = t->txarena + t->txused;
	t->txiov[i].iov_len = len;
	if (len > 0)
		memcpy(t->txarena + t->txused, data, len);
	/* The next datagram starts 16-byte aligned, for the copy. */
	size_t step = (len + 15) & ~(size_t)15;
	t->txused = step < EVUDP6__TX_ARENA - t->txused ? t->txused + step : EVUDP6__TX_ARENA;
	msghdr_fill(&t->txmsg[i].msg_hdr, &slot->remote, &t->txiov[i], slot->ctrl.buf,
	            sizeof(slot->ctrl.buf));
}

/* One sendmsg(), retried as pending_async_error() says; counts what
 * leaves. Returns 0 or the negative errno. */
static int send_one(struct evudp6_transport *t, const struct evudp6_addr *remote, const void *data,
                    size_t len)
{
	struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
	union {
		struct cmsghdr align;
		uint8_t buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
	} ctrl;
	struct msghdr mh;
	msghdr_fill(&mh, remote, &iov, ctrl.buf, sizeof(ctrl.buf));
	ssize_t n;
	int tries = 0;
	do
		n = sendmsg(t->fd, &mh, MSG_DONTWAIT);
	while (n < 0 && (errno == EINTR || (pending_async_error(errno) && ++tries < EVUDP6__SEND_TRIES)));
	if (n < 0)
		return -errno;
	t->stats.datagrams_out++;
	t->stats.bytes_out += (uint64_t)n;
	return 0;
}

int evudp6_transport_send(struct evudp6_transport *t, const struct evudp6_addr *remote, const void *data,
                          size_t len)
{
	if (t->state == EVUDP6__T_SHUTDOWN)
		return -EVUDP6_E_SHUTDOWN;
	if (t->state != EVUDP6__T_STARTED)
		return -EVUDP6_E_STATE;
	if (!remote || (!data && len > 0))
		return -EINVAL;
	if ((t->in_read || t->held) && t->cfg.send_batch > 1 && len <= EVUDP6__TX_ARENA) {
		tx_hold(t, remote, data, len);
		return 0;
	}
	/* Whatever is held leaves first: datagrams go out in send order. */
	tx_flush(t);

	if (t->txq_count > 0)
		return txq_push(t, remote, data, len);
	int r = send_one(t, remote, data, len);
	if (r == -EAGAIN || r == -EWOULDBLOCK)
		return txq_push(t, remote, data, len);
	if (r < 0) {
		t->stats.send_errors++;
		queue_send_error(t, remote, r, data, len);
	}
	return r;
}

/* Send what the queue holds, oldest first, until it is empty or the
 * socket buffer is full again (then EV_WRITE stays armed). A datagram
 * that fails otherwise is counted and reported, and the next one goes. */
static void txq_flush(struct evudp6_transport *t)
{
	while (t->txq_count > 0) {
		unsigned int i = t->txq_head;
		int r = send_one(t, &t->txq[i].remote, t->txq_data + (size_t)i * t->cfg.max_datagram,
		                 t->txq[i].len);
		if (r == -EAGAIN || r == -EWOULDBLOCK)
			return;
		if (r < 0) {
			t->stats.send_errors++;
			queue_send_error(t, &t->txq[i].remote, r,
			                 t->txq_data + (size_t)i * t->cfg.max_datagram, t->txq[i].len);
		}
		t->txq_head = (t->txq_head + 1) % t->cfg.send_queue;
		t->txq_count--;
	}
	event_del(t->write_ev);
}

static void transport_write_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	txq_flush(arg);
}

void evudp6__transport_hold(struct evudp6_transport *t)
{
	t->held++;
}

void evudp6__transport_release(struct evudp6_transport *t)
{
	if (t->held && --t->held == 0 && !t->in_read)
		tx_flush(t);
}

int evudp6_transport_local(const struct evudp6_transport *t, struct sockaddr_in6 *out)
{
	if (t->state != EVUDP6__T_STARTED)
		return -EVUDP6_E_STATE;
	*out = t->local;
	return 0;
}

uint16_t evudp6_transport_port(const struct evudp6_transport *t)
{
	return t->port;
}

int evudp6_transport_fd(const struct evudp6_transport *t)
{
	return t->fd;
}

struct event_base *evudp6_transport_base(const struct evudp6_transport *t)
{
	return t->base;
}

int evudp6_transport_stats(const struct evudp6_transport *t, struct evudp6_transport_stats *out, size_t size)
{
	if (!out)
		return -EINVAL;
	return (int)evudp6__struct_out(out, size, &t->stats, sizeof(t->stats));
}

int evudp6_transport_shutdown(struct evudp6_transport *t, evudp6_transport_shutdown_cb cb, void *arg)
{
	if (t->state == EVUDP6__T_SHUTDOWN)
		return -EVUDP6_E_SHUTDOWN;
	transport_close(t);
	t->shutdown_cb = cb;
	t->shutdown_arg = arg;
	t->shutdown_cb_pending = true;
	event_active(t->defer_ev, EV_TIMEOUT, 0);
	return 0;
}

void evudp6_transport_free(struct evudp6_transport *t)
{
	if (!t)
		return;
	transport_close(t);
	t->shutdown_cb_pending = false;
	if (t->in_cb > 0) {
		t->free_pending = true;
		return;
	}
	transport_release(t);
}

void evudp6__transport_swap_cbs(struct evudp6_transport *t, const struct evudp6__transport_cbs *in,
                                struct evudp6__transport_cbs *old)
{
	if (old)
		*old = (struct evudp6__transport_cbs){t->datagram_cb, t->error_cb, t->arg};
	if (!in)
		return;
	t->datagram_cb = in->datagram_cb;
	t->error_cb = in->error_cb;
	t->arg = in->arg;
}

bool evudp6__transport_is_shut(const struct evudp6_transport *t)
{
	return t->state == EVUDP6__T_SHUTDOWN;
}

bool evudp6__transport_is_started(const struct evudp6_transport *t)
{
	return t->state == EVUDP6__T_STARTED;
}
