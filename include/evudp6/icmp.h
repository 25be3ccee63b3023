/*
 * evudp6 — ancillary data and ICMP error details. Pure: no I/O.
 *
 * A received control buffer (from recvmsg, or recvmsg with MSG_ERRQUEUE)
 * is turned into the local pktinfo and, for error-queue entries, the
 * details of the error (struct sock_extended_err plus the offender).
 */
#ifndef EVUDP6_ICMP_H
#define EVUDP6_ICMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include <evudp6/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Where an error-queue entry came from (values of SO_EE_ORIGIN_*). */
enum evudp6_icmp_origin {
	EVUDP6_ORIGIN_NONE = 0,
	EVUDP6_ORIGIN_LOCAL = 1,
	EVUDP6_ORIGIN_ICMP = 2,
	EVUDP6_ORIGIN_ICMP6 = 3
};

/**
 * Details of one error-queue entry. Plain value type.
 * The offender is the host that sent the ICMP error (a router, or the
 * peer itself); IPv4 offenders are V4MAPPED.
 */
struct evudp6_icmp {
	int err;        /**< positive errno (ee_errno), e.g. ECONNREFUSED */
	uint8_t origin; /**< enum evudp6_icmp_origin */
	uint8_t type;   /**< ICMP or ICMPv6 type */
	uint8_t code;   /**< ICMP or ICMPv6 code */
	uint32_t info;  /**< ee_info (e.g. MTU for "packet too big") */
	uint32_t data;  /**< ee_data */
	bool has_offender;
	struct sockaddr_in6 offender;
};

/**
 * What a control buffer said. ABI: later releases append fields; the
 * library fills only the size the caller gives evudp6_cmsg_parse().
 */
struct evudp6_cmsg_info {
	bool has_pktinfo;      /**< IPV6_PKTINFO (or IP_PKTINFO) seen */
	struct in6_addr local; /**< destination of the datagram (mapped for IPv4) */
	unsigned int ifindex;  /**< interface it arrived on */
	bool has_icmp;         /**< an IPV6_RECVERR / IP_RECVERR entry seen */
	struct evudp6_icmp icmp;
	bool has_ovfl;          /**< SO_RXQ_OVFL seen */
	uint32_t ovfl;          /**< kernel's count of datagrams dropped so far */
	bool ctrunc;            /**< MSG_CTRUNC: the kernel cut the control data */
	unsigned int unknown;   /**< control messages not understood (skipped) */
	unsigned int malformed; /**< control messages too short for their type (skipped) */
	/**
	 * An IPv4 datagram sent to a broadcast address: 255.255.255.255, or
	 * an IP_PKTINFO whose ipi_spec_dst (the local address to answer
	 * from) differs from ipi_addr (the header's destination, in @c local)
	 * while that is no multicast group. Needs IP_PKTINFO on the socket.
	 */
	bool broadcast;
};

/**
 * Parse a control buffer as returned in msg_control/msg_controllen, with
 * the msg_flags of that read. Known messages: IPV6_PKTINFO, IP_PKTINFO,
 * IPV6_RECVERR, IP_RECVERR (at either level: V4MAPPED errors arrive at
 * IPPROTO_IPV6), SO_RXQ_OVFL. Anything else is counted in @c unknown;
 * a message shorter than its type needs is counted in @c malformed. Never
 * reads outside @p control[0..len).
 *
 * @param size  sizeof(*out) as the caller was compiled: no more than
 *              @p size bytes are written, and bytes of a larger struct
 *              than this library knows are set to 0 (not seen)
 * @return the bytes of @p out filled, min(size, the library's sizeof)
 *         (the result is always usable; inspect the flags), or -EINVAL
 *         for a NULL @p out.
 */
EVUDP6_API int evudp6_cmsg_parse(const void *control, size_t len, int msg_flags, struct evudp6_cmsg_info *out,
                                 size_t size);

/** "ICMPv6", "ICMP", "local", "none" or "origin N". */
EVUDP6_API const char *evudp6_icmp_origin_name(uint8_t origin);

/**
 * ICMP type/code in words: "port unreachable", "no route to destination",
 * "communication administratively prohibited", "packet too big",
 * "time exceeded", ...; for origin LOCAL the errno text. Unknown values
 * give "type T code C".
 */
EVUDP6_API const char *evudp6_icmp_type_name(const struct evudp6_icmp *e, char *buf, size_t len);

/** Room for evudp6_icmp_describe(). */
#define EVUDP6_ICMP_DESCRIBE_MAX 160

/**
 * One line for people: "ICMPv6 port unreachable from ::1",
 * "ICMP host unreachable from 192.0.2.1", "local error: Message too long
 * (mtu 1280)". V4MAPPED offenders are shown as IPv4.
 * @return string length, or -ENOSPC.
 */
EVUDP6_API int evudp6_icmp_describe(const struct evudp6_icmp *e, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* EVUDP6_ICMP_H */
