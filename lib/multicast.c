/*
 * evudp6 — multicast membership and hop limits on the transport's one
 * AF_INET6 socket. IPv4 groups are handled with the IPv4 socket options
 * (IP_ADD_MEMBERSHIP with struct ip_mreqn), which Linux accepts on a
 * dual-stack AF_INET6 socket for its V4MAPPED traffic.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <evudp6/transport.h>

#include "transport-internal.h"

static int membership(struct evudp6_transport *t, const struct in6_addr *group, unsigned int ifindex,
                      bool join)
{
	if (t->state == EVUDP6__T_SHUTDOWN)
		return -EVUDP6_E_SHUTDOWN;
	if (!group)
		return -EINVAL;
	int r;
	if (IN6_IS_ADDR_V4MAPPED(group)) {
		struct ip_mreqn mr;
		memset(&mr, 0, sizeof(mr));
		memcpy(&mr.imr_multiaddr, &group->s6_addr[12], 4);
		mr.imr_ifindex = (int)ifindex;
		if (!IN_MULTICAST(ntohl(mr.imr_multiaddr.s_addr)))
			return -EINVAL;
		r = setsockopt(t->fd, IPPROTO_IP, join ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP, &mr,
		               sizeof(mr));
	} else {
		if (!IN6_IS_ADDR_MULTICAST(group))
			return -EINVAL;
		struct ipv6_mreq mr = {.ipv6mr_multiaddr = *group, .ipv6mr_interface = ifindex};
		r = setsockopt(t->fd, IPPROTO_IPV6, join ? IPV6_JOIN_GROUP : IPV6_LEAVE_GROUP, &mr,
		               sizeof(mr));
	}
	return r < 0 ? -errno : 0;
}

int evudp6_transport_join(struct evudp6_transport *t, const struct in6_addr *group, unsigned int ifindex)
{
	return membership(t, group, ifindex, true);
}

int evudp6_transport_leave(struct evudp6_transport *t, const struct in6_addr *group, unsigned int ifindex)
{
	return membership(t, group, ifindex, false);
}

int evudp6_transport_join_coap(struct evudp6_transport *t, unsigned int ifindex)
{
	/* All-CoAP-Nodes (RFC 7252 12.8): IPv4, IPv6 link-local and site-local. */
	static const char *const groups[] = {"::ffff:224.0.1.187", "ff02::fd", "ff05::fd"};
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
		struct in6_addr g;
		inet_pton(AF_INET6, groups[i], &g);
		int r = membership(t, &g, ifindex, true);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Set an option for both families: the IPv6 one governs IPv6 traffic and
 * the IPv4 one the V4MAPPED traffic of the same socket. */
static int both_families(struct evudp6_transport *t, int opt6, int v6, int opt4, int v4)
{
	if (t->state == EVUDP6__T_SHUTDOWN)
		return -EVUDP6_E_SHUTDOWN;
	if (setsockopt(t->fd, IPPROTO_IPV6, opt6, &v6, sizeof(v6)) < 0)
		return -errno;
	if (setsockopt(t->fd, IPPROTO_IP, opt4, &v4, sizeof(v4)) < 0)
		return -errno;
	return 0;
}

int evudp6_transport_set_multicast_hops(struct evudp6_transport *t, int hops)
{
	if (hops < 0 || hops > 255)
		return -EINVAL;
	return both_families(t, IPV6_MULTICAST_HOPS, hops, IP_MULTICAST_TTL, hops);
}

int evudp6_transport_set_unicast_hops(struct evudp6_transport *t, int hops)
{
	if (hops < -1 || hops > 255 || hops == 0)
		return -EINVAL;
	/* IP_TTL takes -1 as "route default" just as IPV6_UNICAST_HOPS does. */
	return both_families(t, IPV6_UNICAST_HOPS, hops, IP_TTL, hops);
}

int evudp6_transport_set_multicast_loop(struct evudp6_transport *t, bool loop)
{
	return both_families(t, IPV6_MULTICAST_LOOP, loop ? 1 : 0, IP_MULTICAST_LOOP, loop ? 1 : 0);
}

int evudp6_transport_set_traffic_class(struct evudp6_transport *t, int tclass)
{
	if (tclass < -1 || tclass > 255)
		return -EINVAL;
	/* IPV6_TCLASS takes -1 as "default"; IP_TOS has no such value and
	 * its default is 0. */
	return both_families(t, IPV6_TCLASS, tclass, IP_TOS, tclass < 0 ? 0 : tclass);
}
