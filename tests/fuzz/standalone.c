/* SPDX-License-Identifier: MIT */
/*
 * standalone - a main() for fuzz targets built without libFuzzer.
 *
 *   fuzz_x CORPUS_DIR [ITERATIONS]
 *
 * Runs LLVMFuzzerTestOneInput() on every regular file of CORPUS_DIR (in
 * sorted order; names starting with '.' are skipped), then on ITERATIONS
 * (default 20000) mutations of those inputs made by a fixed-seed PRNG, so
 * every run tries exactly the same inputs and a failure can be repeated.
 * Mutations: bit flips, byte insertion and deletion, overwriting with
 * "interesting" bytes (separators and syntax characters of our parsers,
 * NUL, 0xff), duplicated chunks and splices of two inputs.  Inputs are
 * capped at FUZZ_INPUT_MAX_BYTES and each is passed in its own heap
 * allocation of exactly its size, so a sanitizer sees any overread.
 *
 * Exit status: 0 when every input ran (a crash or sanitizer report kills
 * the process instead, which ctest counts as a failure); 2 for a usage
 * error or an unreadable corpus directory.  OSTIA_FUZZ_SEED (a decimal
 * number) changes the seed for exploratory runs.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strnum.h"
#include "xalloc.h"

#define FUZZ_INPUT_MAX_BYTES (64 * 1024)
#define FUZZ_DEFAULT_ITERATIONS 20000
#define FUZZ_MAX_ITERATIONS 100000000
#define FUZZ_DEFAULT_SEED UINT64_C(0x9e3779b97f4a7c15)
/* Mutations applied to one input: 1 .. FUZZ_MAX_STACK. */
#define FUZZ_MAX_STACK 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional in a target, as with libFuzzer. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

struct fuzz_input {
	uint8_t *data;
	size_t len;
};

static const uint8_t fuzz_interesting[] = {
	'\n', '\r', ' ', '\t', '#', '=', '$', '{', '}', '(', ')', ',', ':',
	'/', '[', ']', '!', '.', '-', '\\', '"', '@', '<', '>', 0, 0xff, 0x80,
	'0', '9',
};

static uint64_t fuzz_rng_state = FUZZ_DEFAULT_SEED;

/* fuzz_rand - xorshift64*: small, fast, the same on every platform. */
static uint64_t
fuzz_rand(void)
{
	uint64_t x = fuzz_rng_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	fuzz_rng_state = x;
	return x * UINT64_C(0x2545f4914f6cdd1d);
}

/* fuzz_below - a number in [0, n); n > 0. */
static size_t
fuzz_below(size_t n)
{
	return (size_t)(fuzz_rand() % n);
}

/* fuzz_run - call the target on a private copy of exactly len bytes. */
static void
fuzz_run(const uint8_t *data, size_t len)
{
	uint8_t *copy = xmalloc(len);

	if (len > 0)
		memcpy(copy, data, len);
	LLVMFuzzerTestOneInput(copy, len);
	free(copy);
}

/* fuzz_read_file - read at most FUZZ_INPUT_MAX_BYTES; -1 on error. */
static int
fuzz_read_file(int dirfd, const char *name, struct fuzz_input *in)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	ssize_t r;

	if (fd < 0)
		return -1;
	in->data = xmalloc(FUZZ_INPUT_MAX_BYTES);
	in->len = 0;
	while (in->len < FUZZ_INPUT_MAX_BYTES) {
		r = read(fd, in->data + in->len,
		    FUZZ_INPUT_MAX_BYTES - in->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			close(fd);
			free(in->data);
			in->data = NULL;
			return -1;
		}
		if (r == 0)
			break;
		in->len += (size_t)r;
	}
	close(fd);
	return 0;
}

static int
fuzz_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * fuzz_load_corpus - read every regular, non-hidden file of dir, sorted
 * by name (strcmp, not the locale).  Returns the count or -1.
 */
static int
fuzz_load_corpus(const char *prog, const char *dir,
    struct fuzz_input **inputs_r, size_t *n_r)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0, kept = 0;
	struct fuzz_input *inputs;

	if (d == NULL) {
		fprintf(stderr, "%s: cannot open corpus directory %s: %s\n",
		    prog, dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			names = xreallocarray(names, cap, sizeof(*names));
		}
		names[n++] = xstrdup(de->d_name);
	}
	if (n > 0)
		qsort(names, n, sizeof(*names), fuzz_name_cmp);
	inputs = xcalloc(n == 0 ? 1 : n, sizeof(*inputs));
	for (size_t i = 0; i < n; i++) {
		struct stat st;

		if (fstatat(dirfd(d), names[i], &st, 0) == 0 &&
		    S_ISREG(st.st_mode)) {
			if (fuzz_read_file(dirfd(d), names[i],
			    &inputs[kept]) < 0) {
				fprintf(stderr, "%s: cannot read %s/%s: %s\n",
				    prog, dir, names[i], strerror(errno));
				exit(2);
			}
			kept++;
		}
		free(names[i]);
	}
	free(names);
	closedir(d);
	*inputs_r = inputs;
	*n_r = kept;
	return 0;
}

/* fuzz_mutate_one - apply one random mutation to buf (len in *lenp). */
static void
fuzz_mutate_one(uint8_t *buf, size_t *lenp, const struct fuzz_input *inputs,
    size_t n_inputs)
{
	size_t len = *lenp, pos, k;
	const struct fuzz_input *other;

	switch (fuzz_below(7)) {
	case 0:	/* flip one bit */
		if (len == 0)
			break;
		buf[fuzz_below(len)] ^= (uint8_t)(1u << fuzz_below(8));
		break;
	case 1:	/* insert a random byte */
	case 2:	/* insert an interesting byte */
		if (len >= FUZZ_INPUT_MAX_BYTES)
			break;
		pos = fuzz_below(len + 1);
		memmove(buf + pos + 1, buf + pos, len - pos);
		buf[pos] = (uint8_t)(fuzz_below(2) == 0 ? fuzz_rand() :
		    fuzz_interesting[fuzz_below(sizeof(fuzz_interesting))]);
		len++;
		break;
	case 3:	/* delete a run of 1..8 bytes */
		if (len == 0)
			break;
		pos = fuzz_below(len);
		k = 1 + fuzz_below(8);
		if (k > len - pos)
			k = len - pos;
		memmove(buf + pos, buf + pos + k, len - pos - k);
		len -= k;
		break;
	case 4:	/* overwrite with an interesting byte */
		if (len == 0)
			break;
		buf[fuzz_below(len)] =
		    fuzz_interesting[fuzz_below(sizeof(fuzz_interesting))];
		break;
	case 5:	/* duplicate a chunk in place */
		if (len == 0)
			break;
		pos = fuzz_below(len);
		k = 1 + fuzz_below(len - pos < 32 ? len - pos : 32);
		if (k > FUZZ_INPUT_MAX_BYTES - len)
			k = FUZZ_INPUT_MAX_BYTES - len;
		memmove(buf + pos + k, buf + pos, len - pos);
		len += k;
		break;
	default: /* splice: our head, another input's tail */
		if (n_inputs == 0)
			break;
		other = &inputs[fuzz_below(n_inputs)];
		pos = fuzz_below(len + 1);
		k = other->len == 0 ? 0 : fuzz_below(other->len + 1);
		if (other->len - k > FUZZ_INPUT_MAX_BYTES - pos)
			k = other->len - (FUZZ_INPUT_MAX_BYTES - pos);
		if (other->len > k)
			memcpy(buf + pos, other->data + k, other->len - k);
		len = pos + (other->len - k);
		break;
	}
	*lenp = len;
}

static const char *
fuzz_basename(const char *path)
{
	const char *s = strrchr(path, '/');

	return s != NULL ? s + 1 : path;
}

int
main(int argc, char **argv)
{
	const char *prog = fuzz_basename(argv[0]), *error, *seed;
	struct fuzz_input *inputs = NULL;
	uint64_t iterations = FUZZ_DEFAULT_ITERATIONS, v;
	size_t n_inputs = 0, len;
	uint8_t *buf;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s CORPUS_DIR [ITERATIONS]\n", prog);
		return 2;
	}
	if (argc == 3 && strnum_parse_u64(argv[2], FUZZ_MAX_ITERATIONS,
	    &iterations, &error) < 0) {
		fprintf(stderr, "%s: ITERATIONS \"%s\": %s\n", prog, argv[2],
		    error);
		return 2;
	}
	seed = getenv("OSTIA_FUZZ_SEED");
	if (seed != NULL && *seed != '\0') {
		if (strnum_parse_u64(seed, UINT64_MAX, &v, &error) < 0) {
			fprintf(stderr, "%s: OSTIA_FUZZ_SEED: %s\n", prog,
			    error);
			return 2;
		}
		/* xorshift must not start at 0. */
		fuzz_rng_state = v != 0 ? v : FUZZ_DEFAULT_SEED;
	}
	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	if (fuzz_load_corpus(prog, argv[1], &inputs, &n_inputs) < 0)
		return 2;

	for (size_t i = 0; i < n_inputs; i++)
		fuzz_run(inputs[i].data, inputs[i].len);

	buf = xmalloc(FUZZ_INPUT_MAX_BYTES);
	for (uint64_t it = 0; it < iterations; it++) {
		size_t stack = 1 + fuzz_below(FUZZ_MAX_STACK);

		if (n_inputs > 0) {
			const struct fuzz_input *in =
			    &inputs[fuzz_below(n_inputs)];

			memcpy(buf, in->data, in->len);
			len = in->len;
		} else {
			len = 0;
		}
		for (size_t s = 0; s < stack; s++)
			fuzz_mutate_one(buf, &len, inputs, n_inputs);
		fuzz_run(buf, len);
	}
	free(buf);

	printf("%s: %zu corpus files, %llu mutations, ok\n", prog, n_inputs,
	    (unsigned long long)iterations);
	for (size_t i = 0; i < n_inputs; i++)
		free(inputs[i].data);
	free(inputs);
	return 0;
}
