/*
 * Shared by the fuzz harnesses: the libFuzzer entry point and a check
 * that aborts, so that a broken property is a crash for libFuzzer and a
 * failed test for the corpus replay in "make check".
 */
#ifndef EVUDP6_FUZZ_H
#define EVUDP6_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Optional: called once before the first input (the replay driver and
 * libFuzzer both call it). */
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond)                                                                                     \
	do {                                                                                                 \
		if (!(cond)) {                                                                               \
			fprintf(stderr, "%s:%d: property broken: %s\n", __FILE__, __LINE__, #cond);          \
			abort();                                                                             \
		}                                                                                            \
	} while (0)

#endif
