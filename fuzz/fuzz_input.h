/*
 * fuzz_input.h - what the fuzz harnesses share: a reader that turns the
 * fuzzer's bytes into numbers (reading past the end gives zeros, so every
 * input decodes to some program), the check macro, and the libFuzzer entry
 * point's prototype (implemented by each harness, called by libFuzzer or by
 * replay.c).
 *
 * A failed check prints what was expected and aborts: libFuzzer records the
 * input as a crash, and replay.c dies with the same message.
 */
#ifndef FUZZ_INPUT_H
#define FUZZ_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz_in {
	const uint8_t *p;
	size_t n, i;
};

static inline bool fz_more(const struct fz_in *in)
{
	return in->i < in->n;
}

static inline uint8_t fz_u8(struct fz_in *in)
{
	return in->i < in->n ? in->p[in->i++] : 0;
}

static inline uint16_t fz_u16(struct fz_in *in)
{
	uint16_t lo = fz_u8(in);
	return (uint16_t)(lo | (uint16_t)fz_u8(in) << 8);
}

static inline uint64_t fz_u64(struct fz_in *in)
{
	uint64_t v = 0;
	for (int k = 0; k < 8; k++)
		v |= (uint64_t)fz_u8(in) << (8 * k);
	return v;
}

/* n bytes of input into dst, zeros once the input is used up. */
static inline void fz_bytes(struct fz_in *in, void *dst, size_t n)
{
	size_t have = in->n - in->i < n ? in->n - in->i : n;
	if (have)
		memcpy(dst, in->p + in->i, have);
	if (n > have)
		memset((unsigned char *)dst + have, 0, n - have);
	in->i += have;
}

/* For the harness's own loops over payload bytes and model entries: clang
 * leaves them without coverage instrumentation (and out of line, or the
 * caller's instrumentation would apply to them), which would otherwise be
 * most of the harness's time and tells the fuzzer nothing about prunner. */
#if defined(__clang__)
#define NO_COVERAGE __attribute__((no_sanitize("coverage"), noinline))
#else
#define NO_COVERAGE
#endif

#define FZ_FAIL(...)                                                                  \
	do {                                                                          \
		fprintf(stderr, "fuzz check failed at %s:%d: ", __FILE__, __LINE__); \
		fprintf(stderr, __VA_ARGS__);                                         \
		fputc('\n', stderr);                                                  \
		abort();                                                              \
	} while (0)

#define FZ_CHECK(cond, ...)                                                  \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "fuzz: failed: %s\n", #cond);        \
			FZ_FAIL(__VA_ARGS__);                                \
		}                                                            \
	} while (0)

/* An int-returning call that must return exactly `want`. */
#define FZ_RC(expr, want)                                                                     \
	do {                                                                                  \
		long long fz_rc_ = (long long)(expr);                                         \
		long long fz_want_ = (long long)(want);                                       \
		if (fz_rc_ != fz_want_)                                                       \
			FZ_FAIL("%s returned %lld, expected %lld", #expr, fz_rc_, fz_want_); \
	} while (0)

#endif /* FUZZ_INPUT_H */
