/*
 * Shared by the fuzz harnesses that talk to a messenger: a non-blocking
 * dual-stack UDP socket on an ephemeral port, the peer their datagrams
 * claim to come from and where the answers land (nothing leaves the
 * host).
 */
#ifndef EVUDP6_FUZZ_SINK_H
#define EVUDP6_FUZZ_SINK_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "fuzz.h"

/* Returns the socket; its port goes to *port. */
static inline int fuzz_sink_socket(uint16_t *port)
{
	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	FUZZ_CHECK(fd >= 0);
	int off = 0;
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6};
	FUZZ_CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	socklen_t l = sizeof(sa);
	FUZZ_CHECK(getsockname(fd, (struct sockaddr *)&sa, &l) == 0);
	*port = ntohs(sa.sin6_port);
	return fd;
}

#endif
