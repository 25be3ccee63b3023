/*
 * Corpus replay for "make check": runs one harness's LLVMFuzzerTestOneInput
 * over every file of its corpus, built with the ordinary compiler and no
 * libFuzzer. A harness aborts when a property breaks, so a regression in
 * any saved input fails the test.
 *
 * The corpus is test/fuzz/corpus/HARNESS under $top_srcdir, or the
 * directories and files given as arguments. Fewer than CORPUS_MIN files
 * fail the run: a lost or unshipped corpus must not pass.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#ifndef HARNESS
#error "HARNESS names the corpus directory"
#endif
#ifndef CORPUS_MIN
#define CORPUS_MIN 1
#endif

/* Harnesses without their own initialiser get this one. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

static unsigned long files;

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	size_t cap = 1024, len = 0;
	uint8_t *buf = malloc(cap);
	for (;;) {
		if (!buf) {
			fclose(f);
			return -1;
		}
		len += fread(buf + len, 1, cap - len, f);
		if (len < cap)
			break;
		cap *= 2;
		buf = realloc(buf, cap);
	}
	fclose(f);
	/* An exact-size copy, so that reading past the input is caught by
	 * the sanitizer build. */
	uint8_t *exact = malloc(len ? len : 1);
	if (!exact) {
		free(buf);
		return -1;
	}
	memcpy(exact, buf, len);
	free(buf);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	files++;
	return 0;
}

static int replay_path(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return replay_file(path);
	struct dirent **names;
	int n = scandir(path, &names, NULL, alphasort);
	if (n < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	int r = 0;
	for (int i = 0; i < n; i++) {
		const char *d = names[i]->d_name;
		if (r == 0 && d[0] != '.') {
			char sub[4096];
			snprintf(sub, sizeof(sub), "%s/%s", path, d);
			r = replay_path(sub);
		}
		free(names[i]);
	}
	free(names);
	return r;
}

int main(int argc, char **argv)
{
	LLVMFuzzerInitialize(&argc, &argv);
	int r = 0;
	if (argc > 1) {
		for (int i = 1; i < argc && r == 0; i++)
			r = replay_path(argv[i]);
	} else {
		const char *top = getenv("top_srcdir");
		char dir[4096];
		snprintf(dir, sizeof(dir), "%s/test/fuzz/corpus/%s", top && *top ? top : ".", HARNESS);
		r = replay_path(dir);
		if (r == 0 && files < CORPUS_MIN) {
			fprintf(stderr, "replay %s: %lu files in %s, expected at least %d\n", HARNESS, files,
			        dir, CORPUS_MIN);
			r = -1;
		}
	}
	printf("replay %s: %lu inputs, %s\n", HARNESS, files, r == 0 ? "all passed" : "FAILED");
	return r == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
