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

/* Path of a file in the source tree (for corpora). */
static inline const char *testutil_srcdir(void)
{
	const char *d = getenv("top_srcdir");
	return d && *d ? d : ".";
}

#endif
