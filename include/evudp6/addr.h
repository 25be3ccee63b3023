/*
 * evudp6 — endpoint address: a remote socket address plus, optionally, the
 * local address and interface a datagram was received on (or is to be
 * sent from). Pure: no I/O.
 *
 * IPv4 peers are held as V4MAPPED IPv6 addresses (::ffff:a.b.c.d) because
 * one AF_INET6 socket serves both families. Text forms follow RFC 5952 and
 * show V4MAPPED addresses as plain IPv4.
 */
#ifndef EVUDP6_ADDR_H
#define EVUDP6_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <evudp6/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Default CoAP port (RFC 7252 6.1). */
#define EVUDP6_DEFAULT_PORT 5683

/**
 * An endpoint address. Plain value type: copy it freely.
 *
 * @c remote is always AF_INET6. The local part (@c has_local) is what
 * IPV6_PKTINFO said on receive, or what to put into IPV6_PKTINFO on send:
 * @c local_addr may be the unspecified address (:: or ::ffff:0.0.0.0) with
 * a non-zero @c local_ifindex to pick only the outgoing interface.
 * @c local_port is the bound port of the socket (host byte order), known
 * when the address came from a transport; it is used by the *_local text
 * forms only. @c local_broadcast is set by the transport when the datagram
 * was sent to an IPv4 broadcast address (then in @c local_addr): such a
 * datagram counts as received via multicast. evudp6_addr_set_local() and
 * evudp6_addr_clear_local() reset it; zero-initialised it is false.
 */
struct evudp6_addr {
	struct sockaddr_in6 remote;
	bool has_local;
	struct in6_addr local_addr;
	unsigned int local_ifindex;
	uint16_t local_port;
	bool local_broadcast;
};

/** Room for any hostinfo string: "[" addr "%" ifname "]:" port NUL. */
#define EVUDP6_HOSTINFO_MAX 72
/** Room for any uri_base string: "coap://" hostinfo. */
#define EVUDP6_URI_BASE_MAX (EVUDP6_HOSTINFO_MAX + 8)
/** Room for evudp6_addr_netif(): interface name or decimal index. */
#define EVUDP6_NETIF_MAX 16

/**
 * Set @p a from a socket address. AF_INET becomes ::ffff:a.b.c.d; AF_INET6
 * is copied (scope and flowinfo included). The local part is cleared.
 * @return 0 or -EAFNOSUPPORT / -EINVAL (length too short).
 */
EVUDP6_API int evudp6_addr_from_sockaddr(struct evudp6_addr *a, const struct sockaddr *sa, socklen_t len);

/**
 * Set @p a from an IPv6 (or IPv4, mapped) address literal and a port
 * (host byte order); @p scope_id may be 0.
 * @return 0; -EVUDP6_E_NOT_LITERAL if @p text is no address literal;
 *         -EVUDP6_E_ZONE_NOT_ALLOWED for a non-zero @p scope_id on an IPv4
 *         address (the kernel would ignore it); -EINVAL for NULL arguments.
 */
EVUDP6_API int evudp6_addr_from_literal(struct evudp6_addr *a, const char *text, uint16_t port,
                                        uint32_t scope_id);

/** Set the local part (address and interface index). */
EVUDP6_API void evudp6_addr_set_local(struct evudp6_addr *a, const struct in6_addr *local,
                                      unsigned int ifindex);

/** Drop the local part. */
EVUDP6_API void evudp6_addr_clear_local(struct evudp6_addr *a);

/** Remote port, host byte order. */
EVUDP6_API uint16_t evudp6_addr_port(const struct evudp6_addr *a);

/** Is the remote ::ffff:a.b.c.d? */
EVUDP6_API bool evudp6_addr_is_v4mapped(const struct evudp6_addr *a);

/** Is the remote a multicast address (IPv6 ff00::/8 or mapped 224.0.0.0/4)? */
EVUDP6_API bool evudp6_addr_is_multicast(const struct evudp6_addr *a);

/**
 * Was the datagram sent to a multicast group or an IPv4 broadcast address
 * (local part multicast, 255.255.255.255, or @c local_broadcast set)?
 * Such a datagram was not addressed to this host alone: it is answered
 * from a unicast address (evudp6_addr_response()), and RFC 7252 8.1 rules
 * apply to it.
 */
EVUDP6_API bool evudp6_addr_is_multicast_locally(const struct evudp6_addr *a);

/**
 * URI authority for the remote: "127.0.0.1", "127.0.0.1:1234", "[::1]",
 * "[ff02::fd%lo]:1234". The port is omitted when it is 5683; the zone is
 * the interface name (its number if it has none).
 * @return string length, or -ENOSPC if @p len is too small.
 */
EVUDP6_API int evudp6_addr_hostinfo(const struct evudp6_addr *a, char *buf, size_t len);

/**
 * URI authority for the local part and @c local_port, in the same form.
 * @return string length, -ENOSPC, or -ENOENT if there is no local part.
 */
EVUDP6_API int evudp6_addr_hostinfo_local(const struct evudp6_addr *a, char *buf, size_t len);

/** "coap://" + hostinfo. @return length or -ENOSPC. */
EVUDP6_API int evudp6_addr_uri_base(const struct evudp6_addr *a, char *buf, size_t len);

/** "coap://" + hostinfo_local. @return length, -ENOSPC or -ENOENT. */
EVUDP6_API int evudp6_addr_uri_base_local(const struct evudp6_addr *a, char *buf, size_t len);

/**
 * The address to answer a datagram received from @p a: the same remote;
 * the local part kept (so the answer leaves from the address the request
 * was sent to) unless the datagram was sent to a multicast or broadcast
 * address (evudp6_addr_is_multicast_locally()), in which case it is
 * dropped and the kernel picks a unicast source.
 */
EVUDP6_API void evudp6_addr_response(const struct evudp6_addr *a, struct evudp6_addr *out);

/**
 * Interface of the address: the local part's interface index if set, else
 * the remote's scope id; written as a name ("eth0") or, without a name, as
 * a decimal number.
 * @return length, 0 if there is no interface, or -ENOSPC.
 */
EVUDP6_API int evudp6_addr_netif(const struct evudp6_addr *a, char *buf, size_t len);

/**
 * Equality as a remote, as the kernel reports remotes: address, port and,
 * for scoped addresses (link-local unicast fe80::/10, interface- and
 * link-local multicast ff01::/16 and ff02::/16), the scope id, so
 * fe80::1%eth0 and fe80::1%eth1 differ. Not the flowinfo (received
 * datagrams carry 0, so a caller-set flow label would make a remote never
 * match its own answers), not the scope id of other addresses (the kernel
 * reports 0 for them) and not the local part (a response to a multicast
 * request comes from another local address, but it is the same peer).
 */
EVUDP6_API bool evudp6_addr_equal(const struct evudp6_addr *a, const struct evudp6_addr *b);

/** Hash consistent with evudp6_addr_equal(). */
EVUDP6_API uint32_t evudp6_addr_hash(const struct evudp6_addr *a);

#ifdef __cplusplus
}
#endif

#endif /* EVUDP6_ADDR_H */
