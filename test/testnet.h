/*
 * Shared helpers for the suites that talk over real loopback sockets:
 * plain client sockets, a port nobody listens on, and running a loop
 * until a condition holds.
 */
#ifndef EVUDP6_TESTNET_H
#define EVUDP6_TESTNET_H

#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

/* A plain UDP socket of @family bound to @bind_addr (port 0), with a 2 s
 * receive timeout and a 1 MiB receive buffer. */
static inline int testnet_socket(int family, const char *bind_addr)
{
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	struct timeval tv = {.tv_sec = 2};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	int rcvbuf = 1 << 20;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (family == AF_INET) {
		struct sockaddr_in sa = {.sin_family = AF_INET};
		ck_assert_int_eq(inet_pton(AF_INET, bind_addr, &sa.sin_addr), 1);
		ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	} else {
		struct sockaddr_in6 sa = {.sin6_family = AF_INET6};
		ck_assert_int_eq(inet_pton(AF_INET6, bind_addr, &sa.sin6_addr), 1);
		ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	}
	return fd;
}

/* Send @data to @addr (IPv6 text if it has a ':', else IPv4) and @port. */
static inline void testnet_send(int fd, const char *addr, uint16_t port, const void *data, size_t len)
{
	ssize_t n;
	if (strchr(addr, ':')) {
		struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
		ck_assert_int_eq(inet_pton(AF_INET6, addr, &sa.sin6_addr), 1);
		n = sendto(fd, data, len, 0, (struct sockaddr *)&sa, sizeof(sa));
	} else {
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
		ck_assert_int_eq(inet_pton(AF_INET, addr, &sa.sin_addr), 1);
		n = sendto(fd, data, len, 0, (struct sockaddr *)&sa, sizeof(sa));
	}
	ck_assert_int_eq(n, (ssize_t)len);
}

/* A port on which nothing listens, for IPv6 and IPv4: bound once on a
 * dual-stack socket, then closed. */
static inline uint16_t testnet_closed_port(void)
{
	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	int zero = 0;
	ck_assert_int_eq(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)), 0);
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6};
	socklen_t sl = sizeof(sa);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	close(fd);
	return ntohs(sa.sin6_port);
}

/* Run the loop in 1 ms slices until @cond holds or about 2 s have passed. */
#define TESTNET_LOOP_UNTIL(base, cond)                                                                       \
	do {                                                                                                 \
		for (int _i = 0; _i < 2000 && !(cond); _i++) {                                               \
			struct timeval _tv = {0, 1000};                                                      \
			event_base_loopexit(base, &_tv);                                                     \
			event_base_dispatch(base);                                                           \
		}                                                                                            \
	} while (0)

static inline bool testnet_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return false;
	bool ok = fputs(text, f) >= 0;
	return fclose(f) == 0 && ok;
}

/*
 * Move this process into a network namespace of its own (as root, or
 * through a user namespace when unprivileged) and run the shell commands
 * @setup there (NULL: none; lo stays down). Each Check test runs in its
 * own process, so the namespace ends with the test.
 */
static inline bool testnet_private_netns(const char *setup)
{
	if (unshare(CLONE_NEWNET) != 0) {
		char map[64];
		uid_t uid = geteuid();
		gid_t gid = getegid();
		if (unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0)
			return false;
		testnet_write_file("/proc/self/setgroups", "deny");
		snprintf(map, sizeof map, "0 %u 1\n", (unsigned)uid);
		if (!testnet_write_file("/proc/self/uid_map", map))
			return false;
		snprintf(map, sizeof map, "0 %u 1\n", (unsigned)gid);
		if (!testnet_write_file("/proc/self/gid_map", map))
			return false;
	}
	return !setup || system(setup) == 0;
}

/* Can this machine give a test a private namespace set up by @setup?
 * Tried once in a child process, which leaves this one as it was. */
static inline bool testnet_netns_possible(const char *setup)
{
	pid_t pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		dup2(devnull, 1);
		dup2(devnull, 2);
		_exit(testnet_private_netns(setup) ? 0 : 1);
	}
	int status = 0;
	return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

#endif
