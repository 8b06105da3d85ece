/*
 * replay.c - runs a fuzz harness on saved inputs without libFuzzer.
 *
 *   fuzz_dict FILE|DIR...
 *
 * Calls LLVMFuzzerTestOneInput once per file named, and once per regular
 * file in each directory named (sorted by name, hidden files skipped), so
 * that any compiler and any sanitizer build (gcc, TSan) replays the corpus
 * and the regression inputs as an ordinary test.  A failing input aborts
 * inside the harness; its name was printed just before.  A path that does
 * not exist is an error (a typo would otherwise pass as "nothing to do").
 */
#include "fuzz_input.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	size_t cap = 4096, n = 0;
	uint8_t *buf = malloc(cap);
	for (;;) {
		if (!buf) {
			fprintf(stderr, "replay: out of memory\n");
			exit(2);
		}
		n += fread(buf + n, 1, cap - n, f);
		if (n < cap)
			break;
		cap *= 2;
		buf = realloc(buf, cap);
	}
	bool bad = ferror(f);
	fclose(f);
	if (bad) {
		fprintf(stderr, "replay: %s: read error\n", path);
		free(buf);
		return -1;
	}
	fprintf(stderr, "replay: %s (%zu bytes)\n", path, n);
	/* An exact-size copy, as libFuzzer gives: a read past the end of the
	 * input is then an ASan report here too. */
	uint8_t *exact = malloc(n ? n : 1);
	if (!exact)
		exit(2);
	memcpy(exact, buf, n);
	free(buf);
	LLVMFuzzerTestOneInput(exact, n);
	free(exact);
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_dir(const char *dir, int *count)
{
	DIR *d = opendir(dir);
	if (!d) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			names = realloc(names, cap * sizeof *names);
			if (!names)
				exit(2);
		}
		size_t len = strlen(dir) + strlen(e->d_name) + 2;
		names[n] = malloc(len);
		if (!names[n])
			exit(2);
		snprintf(names[n], len, "%s/%s", dir, e->d_name);
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof *names, cmp_names);
	int rc = 0;
	for (size_t k = 0; k < n; k++) {
		struct stat st;
		if (stat(names[k], &st) == 0 && S_ISREG(st.st_mode)) {
			if (run_file(names[k]) != 0)
				rc = -1;
			else
				(*count)++;
		}
		free(names[k]);
	}
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	int count = 0, rc = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	for (int k = 1; k < argc; k++) {
		struct stat st;
		if (stat(argv[k], &st) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[k], strerror(errno));
			rc = 1;
		} else if (S_ISDIR(st.st_mode)) {
			if (run_dir(argv[k], &count) != 0)
				rc = 1;
		} else if (run_file(argv[k]) != 0) {
			rc = 1;
		} else {
			count++;
		}
	}
	fprintf(stderr, "replay: %d input(s) passed\n", count);
	return rc;
}
