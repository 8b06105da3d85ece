/*
 * test_errors.c - prunner_strerror(): every documented code has its own
 * non-empty text, a positive value reads like its negation, an unknown code
 * still gives a usable string, and the function may be called from any
 * thread.  Links only the public library.
 */
#include <check.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "prunner.h"

/* 0 plus every code prunner.h names (the errno ones as negative values). */
static const int named_codes[] = {
	0, -EINVAL, -ENOMEM, -EAGAIN, -EBUSY, -E2BIG, -ENOENT, -EDEADLK, PRUNNER_ENORUN, PRUNNER_ETYPE, -ERANGE,
};
#define N_NAMED ((int)(sizeof named_codes / sizeof named_codes[0]))

START_TEST(test_named_codes_non_empty)
{
	for (int i = 0; i < N_NAMED; i++) {
		const char *s = prunner_strerror(named_codes[i]);
		ck_assert_msg(s != NULL, "prunner_strerror(%d) returned NULL", named_codes[i]);
		ck_assert_msg(s[0] != '\0', "prunner_strerror(%d) returned an empty string", named_codes[i]);
	}
}
END_TEST

START_TEST(test_named_codes_distinct)
{
	for (int i = 0; i < N_NAMED; i++) {
		for (int j = i + 1; j < N_NAMED; j++) {
			const char *a = prunner_strerror(named_codes[i]);
			const char *b = prunner_strerror(named_codes[j]);
			ck_assert_ptr_nonnull(a);
			ck_assert_ptr_nonnull(b);
			ck_assert_msg(strcmp(a, b) != 0, "codes %d and %d share the text \"%s\"", named_codes[i],
			              named_codes[j], a);
		}
	}
}
END_TEST

START_TEST(test_prunner_codes_are_the_documented_errnos)
{
	/* The header defines the prunner-specific codes as negative errnos;
	 * make sure they are negative and not accidentally equal to another
	 * named code (the distinctness test would then be vacuous). */
	ck_assert_int_lt(PRUNNER_ENORUN, 0);
	ck_assert_int_lt(PRUNNER_ETYPE, 0);
	ck_assert_int_eq(PRUNNER_ENORUN, -ESRCH);
	ck_assert_int_eq(PRUNNER_ETYPE, -EPROTOTYPE);
	for (int i = 0; i < N_NAMED; i++)
		for (int j = i + 1; j < N_NAMED; j++)
			ck_assert_int_ne(named_codes[i], named_codes[j]);
}
END_TEST

START_TEST(test_positive_same_as_negative)
{
	for (int i = 1; i < N_NAMED; i++) {
		int neg = named_codes[i];
		const char *a = prunner_strerror(neg);
		const char *b = prunner_strerror(-neg);
		ck_assert_ptr_nonnull(a);
		ck_assert_ptr_nonnull(b);
		ck_assert_msg(strcmp(a, b) == 0, "prunner_strerror(%d)=\"%s\" but prunner_strerror(%d)=\"%s\"", neg, a,
		              -neg, b);
	}
	/* Also for errno values prunner does not name. */
	const int others[] = {-EPERM, -EIO, -EEXIST, -ENOSPC, -ETIMEDOUT};
	for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
		const char *a = prunner_strerror(others[i]);
		const char *b = prunner_strerror(-others[i]);
		ck_assert_ptr_nonnull(a);
		ck_assert_ptr_nonnull(b);
		ck_assert_msg(strcmp(a, b) == 0, "prunner_strerror(%d)=\"%s\" but prunner_strerror(%d)=\"%s\"",
		              others[i], a, -others[i], b);
	}
}
END_TEST

START_TEST(test_success_text_not_an_error_text)
{
	/* 0 is "success": it must not read like any failure. */
	const char *ok = prunner_strerror(0);
	ck_assert_ptr_nonnull(ok);
	ck_assert_msg(strcmp(ok, prunner_strerror(-EINVAL)) != 0, "0 and -EINVAL share a text");
}
END_TEST

START_TEST(test_unknown_codes)
{
	const int unknown[] = {-4095, -99999, 99999, -123456789, 123456789, INT_MAX, -INT_MAX, INT_MIN};
	for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
		const char *s = prunner_strerror(unknown[i]);
		ck_assert_msg(s != NULL, "prunner_strerror(%d) returned NULL", unknown[i]);
		/* The string must be readable (static, NUL-terminated). */
		(void)strlen(s);
	}
}
END_TEST

START_TEST(test_stable_text)
{
	/* A static description: two calls give the same text, and an
	 * intervening call for another code does not change the first one. */
	for (int i = 0; i < N_NAMED; i++) {
		const char *a = prunner_strerror(named_codes[i]);
		char copy[512];
		ck_assert_ptr_nonnull(a);
		ck_assert_uint_lt(strlen(a), sizeof copy);
		strcpy(copy, a);
		(void)prunner_strerror(named_codes[(i + 1) % N_NAMED]);
		(void)prunner_strerror(-77777);
		ck_assert_str_eq(a, copy);
		ck_assert_str_eq(prunner_strerror(named_codes[i]), copy);
	}
}
END_TEST

/* Any thread: several threads ask for every code at once and compare with
 * the texts the test thread read first.  Mismatches are counted, asserted
 * on the test thread. */
#define STRERR_THREADS 4
#define STRERR_ROUNDS 2000
static char expected_text[N_NAMED][512];
static atomic_int strerror_mismatches;

static void *strerror_thread(void *arg)
{
	(void)arg;
	for (int round = 0; round < STRERR_ROUNDS; round++) {
		for (int i = 0; i < N_NAMED; i++) {
			int code = (round & 1) ? -named_codes[i] : named_codes[i];
			const char *s = prunner_strerror(code);
			if (s == NULL || strcmp(s, expected_text[i]) != 0)
				atomic_fetch_add_explicit(&strerror_mismatches, 1, memory_order_relaxed);
		}
	}
	return NULL;
}

START_TEST(test_any_thread)
{
	for (int i = 0; i < N_NAMED; i++) {
		const char *s = prunner_strerror(named_codes[i]);
		ck_assert_ptr_nonnull(s);
		ck_assert_uint_lt(strlen(s), sizeof expected_text[i]);
		strcpy(expected_text[i], s);
	}
	atomic_store(&strerror_mismatches, 0);
	pthread_t th[STRERR_THREADS];
	for (int t = 0; t < STRERR_THREADS; t++)
		ck_assert_int_eq(pthread_create(&th[t], NULL, strerror_thread, NULL), 0);
	for (int t = 0; t < STRERR_THREADS; t++)
		ck_assert_int_eq(pthread_join(th[t], NULL), 0);
	ck_assert_int_eq(atomic_load(&strerror_mismatches), 0);
}
END_TEST

static Suite *errors_suite(void)
{
	Suite *s = suite_create("errors");
	TCase *tc = tcase_create("strerror");
	tcase_add_test(tc, test_named_codes_non_empty);
	tcase_add_test(tc, test_named_codes_distinct);
	tcase_add_test(tc, test_prunner_codes_are_the_documented_errnos);
	tcase_add_test(tc, test_positive_same_as_negative);
	tcase_add_test(tc, test_success_text_not_an_error_text);
	tcase_add_test(tc, test_unknown_codes);
	tcase_add_test(tc, test_stable_text);
	tcase_add_test(tc, test_any_thread);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	/* Check's own default is 4 s per test; meson sets CK_DEFAULT_TIMEOUT,
	 * a direct run of this program gets the same limit as under meson. */
	setenv("CK_DEFAULT_TIMEOUT", "30", 0);
	SRunner *sr = srunner_create(errors_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
