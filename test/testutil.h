/*
 * Shared helpers for the Check suites.
 */
#ifndef EVUDP6_TESTUTIL_H
#define EVUDP6_TESTUTIL_H

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <evudp6/msg.h>

/* Exit code that the automake test harness counts as SKIP. */
#define TEST_SKIP 77

/* Run one suite; exits 0 when all passed, 1 otherwise. */
static inline int testutil_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* A part of a suite that cannot run here: say why on stdout and exit so
 * that the test harness counts it as SKIP. Such a part is a test program
 * of its own, so that the rest of its suite still counts as PASS. */
static inline int testutil_skip(const char *part, const char *reason)
{
	printf("SKIP: %s: %s\n", part, reason);
	return TEST_SKIP;
}

/* Counters against what they must be, each reported by its name. */
struct testutil_count {
	const char *name;
	unsigned long long got, want;
};
#define TESTUTIL_COUNT(expr, value)                                                                          \
	{                                                                                                    \
#expr, (unsigned long long)(expr), (unsigned long long)(value)                               \
	}

static inline void testutil_expect_counts(const struct testutil_count *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(c[i].got == c[i].want, "%s is %llu, want %llu", c[i].name, c[i].got, c[i].want);
}

/* Path of a file in the source tree (for corpora). */
static inline const char *testutil_srcdir(void)
{
	const char *d = getenv("top_srcdir");
	return d && *d ? d : ".";
}

/*
 * Put an option into a builder as it is, bypassing the RFC length ranges
 * that evudp6_msg_builder_add_opt() enforces: for tests of receivers
 * that must cope with what a careless peer sends (a 256-byte Uri-Path, a
 * 3-byte Uri-Port). Keeps the table sorted as encode requires.
 */
static inline void testutil_add_raw_opt(struct evudp6_msg_builder *b, uint32_t number, const void *value,
                                        size_t len)
{
	size_t i = b->nopts;
	if (i >= EVUDP6_BUILDER_MAX_OPTS)
		return;
	while (i > 0 && b->opt[i - 1].number > number) {
		b->opt[i] = b->opt[i - 1];
		i--;
	}
	b->opt[i] = (struct evudp6_opt){.number = number, .value = value, .len = len};
	b->nopts++;
}

/* A uint option as testutil_add_raw_opt() puts it: shortest form, any
 * length up to 4 (the bytes live in the builder's uint slots). */
static inline void testutil_add_raw_uint(struct evudp6_msg_builder *b, uint32_t number, uint32_t value)
{
	/* the bytes live here, not in the builder, whose uint slots move */
	static uint8_t pool[64][4];
	static unsigned int next;
	uint8_t *slot = pool[next++ % 64];
	size_t n = 0;
	for (uint32_t v = value; v; v >>= 8)
		n++;
	for (size_t i = 0; i < n; i++)
		slot[i] = (uint8_t)(value >> (8 * (n - 1 - i)));
	testutil_add_raw_opt(b, number, slot, n);
}

#endif
