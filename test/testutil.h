/*
 * Shared helpers for the Check suites.
 */
#ifndef EVUDP6_TESTUTIL_H
#define EVUDP6_TESTUTIL_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

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

#endif
