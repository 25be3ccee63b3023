/*
 * Shared by the fault suites: a liveness monitor (a periodic timer on the
 * event_base under attack, which must never run late by more than a
 * bound), resident memory, and the malformed-datagram corpus.
 */
#ifndef EVUDP6_FAULTUTIL_H
#define EVUDP6_FAULTUTIL_H

#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

/* ------------------------------------------------------------ liveness */

/* Period of the monitor timer and how late it may run. */
#define FAULT_TICK_MS     10
#define FAULT_MAX_LATE_MS 50
/* However busy the machine, a timer this late means a hung loop. */
#define FAULT_MAX_WALL_LATE_MS 2000

/*
 * Two measures of lateness. Wall-clock lateness also counts the time the
 * loop's thread was not running at all (another test, a sanitizer, a
 * loaded machine). Busy lateness counts only the time the thread spent
 * working between two ticks beyond the period: what the code under test
 * owes, and what the bound applies to.
 */
struct fault_monitor {
	struct event *ev;
	struct timespec last, last_cpu;
	long max_late_us;      /* busy lateness, microseconds */
	long max_wall_late_us; /* wall-clock lateness, microseconds */
	unsigned long fires;
};

static inline long fault_us_between(const struct timespec *a, const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) * 1000000L + (b->tv_nsec - a->tv_nsec) / 1000L;
}

static inline void fault_monitor_update(struct fault_monitor *m)
{
	struct timespec now, cpu;
	clock_gettime(CLOCK_MONOTONIC, &now);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
	long wall = fault_us_between(&m->last, &now) - FAULT_TICK_MS * 1000L;
	long busy = fault_us_between(&m->last_cpu, &cpu) - FAULT_TICK_MS * 1000L;
	if (busy > wall)
		busy = wall;
	if (wall > m->max_wall_late_us)
		m->max_wall_late_us = wall;
	if (busy > m->max_late_us)
		m->max_late_us = busy;
	m->last = now;
	m->last_cpu = cpu;
}

static inline void fault_monitor_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct fault_monitor *m = arg;
	fault_monitor_update(m);
	m->fires++;
}

static inline void fault_monitor_start(struct fault_monitor *m, struct event_base *base)
{
	memset(m, 0, sizeof(*m));
	m->ev = event_new(base, -1, EV_PERSIST, fault_monitor_cb, m);
	struct timeval tick = {0, FAULT_TICK_MS * 1000};
	clock_gettime(CLOCK_MONOTONIC, &m->last);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &m->last_cpu);
	event_add(m->ev, &tick);
}

/* Lateness since the last tick counts too: a loop stuck at the end of a
 * flood would otherwise go unnoticed. */
static inline void fault_monitor_stop(struct fault_monitor *m)
{
	fault_monitor_update(m);
	event_free(m->ev);
	m->ev = NULL;
}

/* The verdict: 0 if live, else a message. */
static inline const char *fault_monitor_verdict(const struct fault_monitor *m, char *buf, size_t len)
{
	if (m->max_late_us < FAULT_MAX_LATE_MS * 1000L &&
	    m->max_wall_late_us < FAULT_MAX_WALL_LATE_MS * 1000L)
		return NULL;
	snprintf(buf, len, "timer late by %ld us of the loop's own work (%ld us wall clock)", m->max_late_us,
	         m->max_wall_late_us);
	return buf;
}

/* -------------------------------------------------------------- memory */

/* Resident set size in KiB, from /proc/self/status; -1 if unknown. */
static inline long fault_rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[128];
	long kb = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* ------------------------------------------------------------- corpus */

#define FAULT_CORPUS_MAX 128

/* One malformed datagram of test/corpus/msg, named by its directory (the
 * error it must produce) and file. */
struct fault_case {
	char expected[256];
	char name[256];
	uint8_t data[512];
	size_t len;
};

/* Load every malformed case (every directory but OK). Returns the count,
 * or -1 if the corpus cannot be read. */
static inline int fault_corpus_load(const char *srcdir, struct fault_case *out, int max)
{
	char top[1024];
	snprintf(top, sizeof(top), "%s/test/corpus/msg", srcdir);
	DIR *d = opendir(top);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || strcmp(e->d_name, "OK") == 0)
			continue;
		char sub[1300];
		snprintf(sub, sizeof(sub), "%s/%s", top, e->d_name);
		DIR *s = opendir(sub);
		if (!s)
			continue;
		struct dirent *f;
		while ((f = readdir(s)) != NULL && n < max) {
			if (f->d_name[0] == '.')
				continue;
			char path[1600];
			snprintf(path, sizeof(path), "%s/%s", sub, f->d_name);
			FILE *fp = fopen(path, "rb");
			if (!fp)
				continue;
			struct fault_case *c = &out[n];
			c->len = fread(c->data, 1, sizeof(c->data), fp);
			fclose(fp);
			snprintf(c->expected, sizeof(c->expected), "%s", e->d_name);
			snprintf(c->name, sizeof(c->name), "%s", f->d_name);
			n++;
		}
		closedir(s);
	}
	closedir(d);
	return n;
}

/* Which case is this datagram? -1 if none. */
static inline int fault_corpus_find(const struct fault_case *c, int n, const uint8_t *data, size_t len)
{
	for (int i = 0; i < n; i++)
		if (c[i].len == len && (len == 0 || memcmp(c[i].data, data, len) == 0))
			return i;
	return -1;
}

#endif
