/*
 * test_dict.c - the dict (prunner_dict_*), through the public API only.
 *
 * Every test gets a fresh runner and uses its dict.  Tests with threads
 * collect what went wrong in per-thread structs and assert on the test's
 * own thread after joining: a ck_assert on another thread would jump onto
 * the wrong stack.  No sleeps, no timing: every check is on counts and
 * values.
 */
#include <check.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prunner.h"

static prunner_t *runner;
static struct prunner_dict *dict;

static void setup(void)
{
	runner = NULL;
	ck_assert_int_eq(prunner_new(&runner), 0);
	dict = prunner_dict(runner);
	ck_assert_ptr_nonnull(dict);
}

static void teardown(void)
{
	prunner_free(runner);
	runner = NULL;
	dict = NULL;
}

#define ck_assert_rc(expr, want)                                                                             \
	do {                                                                                                 \
		int rc_ = (expr);                                                                            \
		int want_ = (want);                                                                          \
		ck_assert_msg(rc_ == want_, "%s returned %d (%s), expected %d (%s)", #expr, rc_,             \
		              prunner_strerror(rc_), want_, prunner_strerror(want_));                        \
	} while (0)

/* ------------------------------------------------------------------------ */
/* Round trips and types                                                    */
/* ------------------------------------------------------------------------ */

START_TEST(test_int_roundtrip)
{
	const int64_t vals[] = {0, 1, -1, 42, INT64_MAX, INT64_MIN};
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		int64_t got = 7;
		enum prunner_type t = 0;
		ck_assert_rc(prunner_dict_set_int(dict, "k", vals[i]), 0);
		ck_assert_rc(prunner_dict_get_int(dict, "k", &got), 0);
		ck_assert_int_eq(got, vals[i]);
		ck_assert_rc(prunner_dict_type(dict, "k", &t), 0);
		ck_assert_int_eq(t, PRUNNER_TYPE_INT);
	}
	ck_assert_uint_eq(prunner_dict_len(dict), 1);
}
END_TEST

START_TEST(test_double_roundtrip)
{
	const double vals[] = {0.0, -0.0, 1.5, -3.25e300, DBL_MIN, DBL_MAX, INFINITY, -INFINITY};
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		double got = 7.0;
		enum prunner_type t = 0;
		ck_assert_rc(prunner_dict_set_double(dict, "x", vals[i]), 0);
		ck_assert_rc(prunner_dict_get_double(dict, "x", &got), 0);
		ck_assert(memcmp(&got, &vals[i], sizeof got) == 0); /* bit-exact, keeps -0.0 */
		ck_assert_rc(prunner_dict_type(dict, "x", &t), 0);
		ck_assert_int_eq(t, PRUNNER_TYPE_DOUBLE);
	}
	double got = 0.0;
	ck_assert_rc(prunner_dict_set_double(dict, "nan", NAN), 0);
	ck_assert_rc(prunner_dict_get_double(dict, "nan", &got), 0);
	ck_assert(isnan(got));
}
END_TEST

START_TEST(test_string_roundtrip)
{
	char buf[64];
	size_t len = 99;
	enum prunner_type t = 0;

	ck_assert_rc(prunner_dict_set_string(dict, "s", "hello, world"), 0);
	ck_assert_rc(prunner_dict_get_string(dict, "s", buf, sizeof buf, &len), 12);
	ck_assert_str_eq(buf, "hello, world");
	ck_assert_uint_eq(len, 12);
	ck_assert_rc(prunner_dict_type(dict, "s", &t), 0);
	ck_assert_int_eq(t, PRUNNER_TYPE_STRING);

	/* The value is a copy: changing the caller's buffer changes nothing. */
	char src[] = "mutable";
	ck_assert_rc(prunner_dict_set_string(dict, "s", src), 0);
	src[0] = 'X';
	ck_assert_rc(prunner_dict_get_string(dict, "s", buf, sizeof buf, NULL), 7);
	ck_assert_str_eq(buf, "mutable");

	/* Empty string. */
	ck_assert_rc(prunner_dict_set_string(dict, "e", ""), 0);
	memset(buf, 'X', sizeof buf);
	ck_assert_rc(prunner_dict_get_string(dict, "e", buf, 1, &len), 0);
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(buf[0], '\0');
}
END_TEST

START_TEST(test_blob_roundtrip)
{
	const unsigned char data[] = {0, 1, 2, 0, 255, 128, 0};
	unsigned char buf[16];
	size_t len = 99;
	enum prunner_type t = 0;

	ck_assert_rc(prunner_dict_set_blob(dict, "b", data, sizeof data), 0);
	ck_assert_rc(prunner_dict_get_blob(dict, "b", buf, sizeof buf, &len), 0);
	ck_assert_uint_eq(len, sizeof data);
	ck_assert_mem_eq(buf, data, sizeof data);
	ck_assert_rc(prunner_dict_type(dict, "b", &t), 0);
	ck_assert_int_eq(t, PRUNNER_TYPE_BLOB);

	/* Exact fit, len_out NULL. */
	ck_assert_rc(prunner_dict_get_blob(dict, "b", buf, sizeof data, NULL), 0);
	ck_assert_mem_eq(buf, data, sizeof data);

	/* A large blob. */
	size_t big = 1 << 20;
	unsigned char *in = malloc(big), *out = malloc(big);
	ck_assert_ptr_nonnull(in);
	ck_assert_ptr_nonnull(out);
	for (size_t i = 0; i < big; i++)
		in[i] = (unsigned char)(i * 31 + 7);
	ck_assert_rc(prunner_dict_set_blob(dict, "big", in, big), 0);
	memset(in, 0, big); /* copied in: the caller's buffer is free again */
	ck_assert_rc(prunner_dict_get_blob(dict, "big", out, big, &len), 0);
	ck_assert_uint_eq(len, big);
	for (size_t i = 0; i < big; i++)
		ck_assert_int_eq(out[i], (unsigned char)(i * 31 + 7));
	free(in);
	free(out);
}
END_TEST

START_TEST(test_empty_blob)
{
	size_t len = 99;
	unsigned char buf[4] = {9, 9, 9, 9};

	ck_assert_rc(prunner_dict_set_blob(dict, "nul", NULL, 0), 0);
	ck_assert_rc(prunner_dict_get_blob(dict, "nul", NULL, 0, &len), 0);
	ck_assert_uint_eq(len, 0);

	ck_assert_rc(prunner_dict_set_blob(dict, "zero", buf, 0), 0);
	len = 99;
	ck_assert_rc(prunner_dict_get_blob(dict, "zero", buf, sizeof buf, &len), 0);
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(buf[0], 9); /* nothing written */
	ck_assert_uint_eq(prunner_dict_len(dict), 2);
}
END_TEST

START_TEST(test_overwrite_changes_type)
{
	enum prunner_type t = 0;
	int64_t i = 0;
	double x = 0;
	char buf[16];
	size_t len = 0;

	ck_assert_rc(prunner_dict_set_int(dict, "k", 5), 0);
	ck_assert_rc(prunner_dict_set_string(dict, "k", "five"), 0);
	ck_assert_rc(prunner_dict_type(dict, "k", &t), 0);
	ck_assert_int_eq(t, PRUNNER_TYPE_STRING);
	ck_assert_rc(prunner_dict_get_int(dict, "k", &i), PRUNNER_ETYPE);
	ck_assert_rc(prunner_dict_get_string(dict, "k", buf, sizeof buf, NULL), 4);
	ck_assert_str_eq(buf, "five");

	ck_assert_rc(prunner_dict_set_blob(dict, "k", "abc", 3), 0);
	ck_assert_rc(prunner_dict_type(dict, "k", &t), 0);
	ck_assert_int_eq(t, PRUNNER_TYPE_BLOB);
	ck_assert_rc(prunner_dict_get_blob(dict, "k", buf, sizeof buf, &len), 0);
	ck_assert_uint_eq(len, 3);

	ck_assert_rc(prunner_dict_set_double(dict, "k", 2.5), 0);
	ck_assert_rc(prunner_dict_type(dict, "k", &t), 0);
	ck_assert_int_eq(t, PRUNNER_TYPE_DOUBLE);
	ck_assert_rc(prunner_dict_get_double(dict, "k", &x), 0);
	ck_assert_double_eq(x, 2.5);

	ck_assert_rc(prunner_dict_set_int(dict, "k", -9), 0);
	ck_assert_rc(prunner_dict_type(dict, "k", &t), 0);
	ck_assert_int_eq(t, PRUNNER_TYPE_INT);
	ck_assert_rc(prunner_dict_get_int(dict, "k", &i), 0);
	ck_assert_int_eq(i, -9);

	ck_assert_uint_eq(prunner_dict_len(dict), 1);
}
END_TEST

START_TEST(test_type_mismatch)
{
	int64_t i = 11;
	double x = 11.0;
	char buf[16];
	size_t len = 77;

	ck_assert_rc(prunner_dict_set_int(dict, "int", 1), 0);
	ck_assert_rc(prunner_dict_set_double(dict, "dbl", 1.0), 0);
	ck_assert_rc(prunner_dict_set_string(dict, "str", "s"), 0);
	ck_assert_rc(prunner_dict_set_blob(dict, "blob", "b", 1), 0);

	ck_assert_rc(prunner_dict_get_int(dict, "dbl", &i), PRUNNER_ETYPE);
	ck_assert_rc(prunner_dict_get_int(dict, "str", &i), PRUNNER_ETYPE);
	ck_assert_rc(prunner_dict_get_int(dict, "blob", &i), PRUNNER_ETYPE);
	ck_assert_int_eq(i, 11);
	ck_assert_rc(prunner_dict_get_double(dict, "int", &x), PRUNNER_ETYPE);
	ck_assert_rc(prunner_dict_get_double(dict, "str", &x), PRUNNER_ETYPE);
	ck_assert_double_eq(x, 11.0);
	ck_assert_rc(prunner_dict_get_string(dict, "int", buf, sizeof buf, &len), PRUNNER_ETYPE);
	ck_assert_rc(prunner_dict_get_string(dict, "blob", buf, sizeof buf, &len), PRUNNER_ETYPE);
	ck_assert_rc(prunner_dict_get_blob(dict, "str", buf, sizeof buf, &len), PRUNNER_ETYPE);
	ck_assert_rc(prunner_dict_get_blob(dict, "dbl", buf, sizeof buf, &len), PRUNNER_ETYPE);

	/* add_int on a non-int fails and leaves the value alone. */
	ck_assert_rc(prunner_dict_add_int(dict, "dbl", 1, &i), PRUNNER_ETYPE);
	ck_assert_rc(prunner_dict_add_int(dict, "str", 1, NULL), PRUNNER_ETYPE);
	ck_assert_int_eq(i, 11);
	ck_assert_rc(prunner_dict_get_double(dict, "dbl", &x), 0);
	ck_assert_double_eq(x, 1.0);
	ck_assert_rc(prunner_dict_get_string(dict, "str", buf, sizeof buf, NULL), 1);
	ck_assert_str_eq(buf, "s");
}
END_TEST

START_TEST(test_enoent)
{
	int64_t i = 0;
	double x = 0;
	char buf[8];
	size_t len = 55;
	enum prunner_type t = 0;

	ck_assert_rc(prunner_dict_get_int(dict, "none", &i), -ENOENT);
	ck_assert_rc(prunner_dict_get_double(dict, "none", &x), -ENOENT);
	ck_assert_rc(prunner_dict_get_string(dict, "none", buf, sizeof buf, &len), -ENOENT);
	ck_assert_rc(prunner_dict_get_blob(dict, "none", buf, sizeof buf, &len), -ENOENT);
	ck_assert_rc(prunner_dict_type(dict, "none", &t), -ENOENT);
	ck_assert_rc(prunner_dict_delete(dict, "none"), -ENOENT);

	/* A near miss is still a miss. */
	ck_assert_rc(prunner_dict_set_int(dict, "abc", 1), 0);
	ck_assert_rc(prunner_dict_get_int(dict, "ab", &i), -ENOENT);
	ck_assert_rc(prunner_dict_get_int(dict, "abcd", &i), -ENOENT);
	ck_assert_rc(prunner_dict_get_int(dict, "ABC", &i), -ENOENT);
}
END_TEST

static int count_cb(const struct prunner_dict_entry *e, void *arg)
{
	(void)e;
	(*(size_t *)arg)++;
	return 0;
}

START_TEST(test_einval)
{
	int64_t i = 0;
	double x = 0;
	char buf[8];
	size_t len = 0;
	enum prunner_type t = 0;

	/* NULL dict. */
	ck_assert_rc(prunner_dict_set_int(NULL, "k", 1), -EINVAL);
	ck_assert_rc(prunner_dict_get_int(NULL, "k", &i), -EINVAL);
	ck_assert_rc(prunner_dict_add_int(NULL, "k", 1, &i), -EINVAL);
	ck_assert_rc(prunner_dict_set_double(NULL, "k", 1), -EINVAL);
	ck_assert_rc(prunner_dict_get_double(NULL, "k", &x), -EINVAL);
	ck_assert_rc(prunner_dict_set_string(NULL, "k", "v"), -EINVAL);
	ck_assert_rc(prunner_dict_get_string(NULL, "k", buf, sizeof buf, &len), -EINVAL);
	ck_assert_rc(prunner_dict_set_blob(NULL, "k", "v", 1), -EINVAL);
	ck_assert_rc(prunner_dict_get_blob(NULL, "k", buf, sizeof buf, &len), -EINVAL);
	ck_assert_rc(prunner_dict_type(NULL, "k", &t), -EINVAL);
	ck_assert_rc(prunner_dict_delete(NULL, "k"), -EINVAL);
	ck_assert_rc(prunner_dict_clear(NULL), -EINVAL);
	ck_assert_rc(prunner_dict_foreach(NULL, count_cb, &len), -EINVAL);
	ck_assert_uint_eq(prunner_dict_len(NULL), 0);

	/* NULL key. */
	ck_assert_rc(prunner_dict_set_int(dict, NULL, 1), -EINVAL);
	ck_assert_rc(prunner_dict_get_int(dict, NULL, &i), -EINVAL);
	ck_assert_rc(prunner_dict_add_int(dict, NULL, 1, NULL), -EINVAL);
	ck_assert_rc(prunner_dict_set_double(dict, NULL, 1), -EINVAL);
	ck_assert_rc(prunner_dict_get_double(dict, NULL, &x), -EINVAL);
	ck_assert_rc(prunner_dict_set_string(dict, NULL, "v"), -EINVAL);
	ck_assert_rc(prunner_dict_get_string(dict, NULL, buf, sizeof buf, &len), -EINVAL);
	ck_assert_rc(prunner_dict_set_blob(dict, NULL, "v", 1), -EINVAL);
	ck_assert_rc(prunner_dict_get_blob(dict, NULL, buf, sizeof buf, &len), -EINVAL);
	ck_assert_rc(prunner_dict_type(dict, NULL, &t), -EINVAL);
	ck_assert_rc(prunner_dict_delete(dict, NULL), -EINVAL);

	/* NULL required pointers, on a key that exists. */
	ck_assert_rc(prunner_dict_set_int(dict, "i", 1), 0);
	ck_assert_rc(prunner_dict_set_double(dict, "d", 1), 0);
	ck_assert_rc(prunner_dict_set_string(dict, "s", "abc"), 0);
	ck_assert_rc(prunner_dict_set_blob(dict, "b", "abc", 3), 0);
	ck_assert_rc(prunner_dict_get_int(dict, "i", NULL), -EINVAL);
	ck_assert_rc(prunner_dict_get_double(dict, "d", NULL), -EINVAL);
	ck_assert_rc(prunner_dict_type(dict, "i", NULL), -EINVAL);
	ck_assert_rc(prunner_dict_get_string(dict, "s", NULL, 4, &len), -EINVAL);
	ck_assert_rc(prunner_dict_get_blob(dict, "b", NULL, 4, &len), -EINVAL);
	ck_assert_rc(prunner_dict_set_string(dict, "s", NULL), -EINVAL);
	ck_assert_rc(prunner_dict_set_blob(dict, "b", NULL, 1), -EINVAL);
	ck_assert_rc(prunner_dict_foreach(dict, NULL, NULL), -EINVAL);

	/* The failed setters changed nothing. */
	ck_assert_uint_eq(prunner_dict_len(dict), 4);
	ck_assert_rc(prunner_dict_get_string(dict, "s", buf, sizeof buf, NULL), 3);
	ck_assert_str_eq(buf, "abc");
	ck_assert_rc(prunner_dict_get_blob(dict, "b", buf, sizeof buf, &len), 0);
	ck_assert_uint_eq(len, 3);
}
END_TEST

START_TEST(test_e2big)
{
	int64_t i = 0;
	enum prunner_type t = 0;
	char *key = malloc(PRUNNER_DICT_MAX_KEY + 2);
	ck_assert_ptr_nonnull(key);

	/* Exactly the maximum is fine. */
	memset(key, 'k', PRUNNER_DICT_MAX_KEY);
	key[PRUNNER_DICT_MAX_KEY] = '\0';
	ck_assert_rc(prunner_dict_set_int(dict, key, 1), 0);
	ck_assert_rc(prunner_dict_get_int(dict, key, &i), 0);
	ck_assert_int_eq(i, 1);

	/* One more byte is not, for every call taking a key. */
	key[PRUNNER_DICT_MAX_KEY] = 'k';
	key[PRUNNER_DICT_MAX_KEY + 1] = '\0';
	ck_assert_rc(prunner_dict_set_int(dict, key, 2), -E2BIG);
	ck_assert_rc(prunner_dict_set_double(dict, key, 2), -E2BIG);
	ck_assert_rc(prunner_dict_set_string(dict, key, "v"), -E2BIG);
	ck_assert_rc(prunner_dict_set_blob(dict, key, "v", 1), -E2BIG);
	ck_assert_rc(prunner_dict_add_int(dict, key, 1, NULL), -E2BIG);
	ck_assert_rc(prunner_dict_get_int(dict, key, &i), -E2BIG);
	ck_assert_rc(prunner_dict_type(dict, key, &t), -E2BIG);
	ck_assert_rc(prunner_dict_delete(dict, key), -E2BIG);
	ck_assert_uint_eq(prunner_dict_len(dict), 1);
	free(key);

	/* A blob over the cap is refused before its bytes are read. */
	char small[4] = "abc";
	ck_assert_rc(prunner_dict_set_blob(dict, "b", small, PRUNNER_DICT_MAX_VALUE + 1), -E2BIG);
	ck_assert_rc(prunner_dict_type(dict, "b", &t), -ENOENT);
}
END_TEST

START_TEST(test_get_string_erange)
{
	char buf[16];
	size_t len = 0;

	ck_assert_rc(prunner_dict_set_string(dict, "s", "hello"), 0);

	/* Sizing call. */
	ck_assert_rc(prunner_dict_get_string(dict, "s", NULL, 0, &len), -ERANGE);
	ck_assert_uint_eq(len, 5);

	/* One byte short (no room for the NUL): nothing copied. */
	memset(buf, 'X', sizeof buf);
	len = 0;
	ck_assert_rc(prunner_dict_get_string(dict, "s", buf, 5, &len), -ERANGE);
	ck_assert_uint_eq(len, 5);
	for (size_t i = 0; i < sizeof buf; i++)
		ck_assert_int_eq(buf[i], 'X');
	ck_assert_rc(prunner_dict_get_string(dict, "s", buf, 5, NULL), -ERANGE);

	/* Exact fit. */
	len = 0;
	ck_assert_rc(prunner_dict_get_string(dict, "s", buf, 6, &len), 5);
	ck_assert_uint_eq(len, 5);
	ck_assert_str_eq(buf, "hello");
	ck_assert_int_eq(buf[6], 'X');
}
END_TEST

START_TEST(test_get_blob_erange)
{
	unsigned char buf[16];
	size_t len = 0;

	ck_assert_rc(prunner_dict_set_blob(dict, "b", "\x01\x02\x03\x04", 4), 0);

	ck_assert_rc(prunner_dict_get_blob(dict, "b", NULL, 0, &len), -ERANGE);
	ck_assert_uint_eq(len, 4);

	memset(buf, 0xAA, sizeof buf);
	len = 0;
	ck_assert_rc(prunner_dict_get_blob(dict, "b", buf, 3, &len), -ERANGE);
	ck_assert_uint_eq(len, 4);
	for (size_t i = 0; i < sizeof buf; i++)
		ck_assert_int_eq(buf[i], 0xAA);
	ck_assert_rc(prunner_dict_get_blob(dict, "b", buf, 3, NULL), -ERANGE);

	len = 0;
	ck_assert_rc(prunner_dict_get_blob(dict, "b", buf, 4, &len), 0);
	ck_assert_uint_eq(len, 4);
	ck_assert_mem_eq(buf, "\x01\x02\x03\x04", 4);
	ck_assert_int_eq(buf[4], 0xAA);
}
END_TEST

START_TEST(test_empty_key)
{
	int64_t i = 0;

	ck_assert_rc(prunner_dict_set_int(dict, "", 10), 0);
	ck_assert_rc(prunner_dict_set_int(dict, " ", 20), 0);
	ck_assert_rc(prunner_dict_get_int(dict, "", &i), 0);
	ck_assert_int_eq(i, 10);
	ck_assert_rc(prunner_dict_get_int(dict, " ", &i), 0);
	ck_assert_int_eq(i, 20);
	ck_assert_uint_eq(prunner_dict_len(dict), 2);
	ck_assert_rc(prunner_dict_delete(dict, ""), 0);
	ck_assert_rc(prunner_dict_get_int(dict, "", &i), -ENOENT);
	ck_assert_uint_eq(prunner_dict_len(dict), 1);
}
END_TEST

START_TEST(test_delete_len)
{
	int64_t i = 0;

	ck_assert_uint_eq(prunner_dict_len(dict), 0);
	ck_assert_rc(prunner_dict_set_int(dict, "a", 1), 0);
	ck_assert_rc(prunner_dict_set_string(dict, "b", "two"), 0);
	ck_assert_rc(prunner_dict_set_blob(dict, "c", "3", 1), 0);
	ck_assert_uint_eq(prunner_dict_len(dict), 3);
	ck_assert_rc(prunner_dict_set_int(dict, "a", 5), 0); /* overwrite: same count */
	ck_assert_uint_eq(prunner_dict_len(dict), 3);

	ck_assert_rc(prunner_dict_delete(dict, "b"), 0);
	ck_assert_uint_eq(prunner_dict_len(dict), 2);
	ck_assert_rc(prunner_dict_delete(dict, "b"), -ENOENT);
	ck_assert_uint_eq(prunner_dict_len(dict), 2);
	ck_assert_rc(prunner_dict_get_int(dict, "a", &i), 0);
	ck_assert_int_eq(i, 5);

	/* A deleted key can come back with another type. */
	ck_assert_rc(prunner_dict_set_double(dict, "b", 2.0), 0);
	ck_assert_uint_eq(prunner_dict_len(dict), 3);
	ck_assert_rc(prunner_dict_delete(dict, "a"), 0);
	ck_assert_rc(prunner_dict_delete(dict, "b"), 0);
	ck_assert_rc(prunner_dict_delete(dict, "c"), 0);
	ck_assert_uint_eq(prunner_dict_len(dict), 0);
}
END_TEST

START_TEST(test_clear)
{
	char key[32];
	int64_t v = 0;
	size_t n = 0;

	ck_assert_rc(prunner_dict_clear(dict), 0); /* empty: fine */
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof key, "k%d", i);
		if (i % 2)
			ck_assert_rc(prunner_dict_set_int(dict, key, i), 0);
		else
			ck_assert_rc(prunner_dict_set_string(dict, key, key), 0);
	}
	ck_assert_uint_eq(prunner_dict_len(dict), 1000);
	ck_assert_rc(prunner_dict_clear(dict), 0);
	ck_assert_uint_eq(prunner_dict_len(dict), 0);
	ck_assert_rc(prunner_dict_get_int(dict, "k1", &v), -ENOENT);
	ck_assert_rc(prunner_dict_foreach(dict, count_cb, &n), 0);
	ck_assert_uint_eq(n, 0);

	/* Usable again after a clear. */
	ck_assert_rc(prunner_dict_set_int(dict, "k1", 7), 0);
	ck_assert_rc(prunner_dict_get_int(dict, "k1", &v), 0);
	ck_assert_int_eq(v, 7);
	ck_assert_uint_eq(prunner_dict_len(dict), 1);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* add_int                                                                  */
/* ------------------------------------------------------------------------ */

START_TEST(test_add_int)
{
	int64_t out = 0, v = 0;

	/* Creation with delta. */
	ck_assert_rc(prunner_dict_add_int(dict, "n", 5, &out), 0);
	ck_assert_int_eq(out, 5);
	ck_assert_rc(prunner_dict_add_int(dict, "m", -3, NULL), 0);
	ck_assert_rc(prunner_dict_get_int(dict, "m", &v), 0);
	ck_assert_int_eq(v, -3);

	/* Accumulation. */
	for (int i = 0; i < 10; i++)
		ck_assert_rc(prunner_dict_add_int(dict, "n", i, NULL), 0);
	ck_assert_rc(prunner_dict_add_int(dict, "n", 0, &out), 0);
	ck_assert_int_eq(out, 5 + 45);
	ck_assert_rc(prunner_dict_add_int(dict, "n", -100, &out), 0);
	ck_assert_int_eq(out, -50);
	ck_assert_rc(prunner_dict_get_int(dict, "n", &v), 0);
	ck_assert_int_eq(v, -50);

	/* On a key set with set_int. */
	ck_assert_rc(prunner_dict_set_int(dict, "s", 1000), 0);
	ck_assert_rc(prunner_dict_add_int(dict, "s", 1, &out), 0);
	ck_assert_int_eq(out, 1001);
	ck_assert_uint_eq(prunner_dict_len(dict), 3);
}
END_TEST

START_TEST(test_add_int_wrap)
{
	int64_t out = 0;

	ck_assert_rc(prunner_dict_set_int(dict, "w", INT64_MAX), 0);
	ck_assert_rc(prunner_dict_add_int(dict, "w", 1, &out), 0);
	ck_assert_int_eq(out, INT64_MIN);
	ck_assert_rc(prunner_dict_add_int(dict, "w", -1, &out), 0);
	ck_assert_int_eq(out, INT64_MAX);
	ck_assert_rc(prunner_dict_add_int(dict, "w", INT64_MAX, &out), 0);
	ck_assert_int_eq(out, -2);
	ck_assert_rc(prunner_dict_set_int(dict, "w", INT64_MIN), 0);
	ck_assert_rc(prunner_dict_add_int(dict, "w", INT64_MIN, &out), 0);
	ck_assert_int_eq(out, 0);
	ck_assert_rc(prunner_dict_add_int(dict, "w", INT64_MIN, &out), 0);
	ck_assert_rc(prunner_dict_add_int(dict, "w", -1, &out), 0);
	ck_assert_int_eq(out, INT64_MAX);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* foreach                                                                  */
/* ------------------------------------------------------------------------ */

#define WALK_N 1000

struct walk {
	int seen[WALK_N];
	size_t count;
	int64_t sum;
	int bad; /* entries the callback did not expect */
};

static int walk_cb(const struct prunner_dict_entry *e, void *arg)
{
	struct walk *w = arg;
	int idx = -1;

	w->count++;
	if (e->type != PRUNNER_TYPE_INT || sscanf(e->key, "key%d", &idx) != 1 || idx < 0 || idx >= WALK_N ||
	    e->i != idx) {
		w->bad++;
		return 0;
	}
	w->seen[idx]++;
	w->sum += e->i;
	return 0;
}

START_TEST(test_foreach_all)
{
	char key[32];
	struct walk *w = calloc(1, sizeof *w);
	ck_assert_ptr_nonnull(w);

	ck_assert_rc(prunner_dict_foreach(dict, walk_cb, w), 0);
	ck_assert_uint_eq(w->count, 0);

	for (int i = 0; i < WALK_N; i++) {
		snprintf(key, sizeof key, "key%d", i);
		ck_assert_rc(prunner_dict_set_int(dict, key, i), 0);
	}
	ck_assert_rc(prunner_dict_foreach(dict, walk_cb, w), 0);
	ck_assert_uint_eq(w->count, WALK_N);
	ck_assert_int_eq(w->bad, 0);
	ck_assert_int_eq(w->sum, (int64_t)WALK_N * (WALK_N - 1) / 2);
	for (int i = 0; i < WALK_N; i++)
		ck_assert_msg(w->seen[i] == 1, "key%d seen %d times", i, w->seen[i]);
	free(w);
}
END_TEST

struct views {
	int ints, doubles, strings, blobs, bad;
};

static int views_cb(const struct prunner_dict_entry *e, void *arg)
{
	struct views *v = arg;

	if (strcmp(e->key, "i") == 0 && e->type == PRUNNER_TYPE_INT && e->i == -4)
		v->ints++;
	else if (strcmp(e->key, "d") == 0 && e->type == PRUNNER_TYPE_DOUBLE && e->d == 0.5)
		v->doubles++;
	else if (strcmp(e->key, "s") == 0 && e->type == PRUNNER_TYPE_STRING && e->str && e->size == 3 &&
	         strcmp(e->str, "str") == 0)
		v->strings++;
	else if (strcmp(e->key, "b") == 0 && e->type == PRUNNER_TYPE_BLOB && e->blob && e->size == 3 &&
	         memcmp(e->blob, "a\0b", 3) == 0)
		v->blobs++;
	else if (strcmp(e->key, "") == 0 && e->type == PRUNNER_TYPE_BLOB && e->size == 0)
		v->blobs++;
	else
		v->bad++;
	return 0;
}

START_TEST(test_foreach_views)
{
	struct views v = {0};

	ck_assert_rc(prunner_dict_set_int(dict, "i", -4), 0);
	ck_assert_rc(prunner_dict_set_double(dict, "d", 0.5), 0);
	ck_assert_rc(prunner_dict_set_string(dict, "s", "str"), 0);
	ck_assert_rc(prunner_dict_set_blob(dict, "b", "a\0b", 3), 0);
	ck_assert_rc(prunner_dict_set_blob(dict, "", NULL, 0), 0);
	ck_assert_rc(prunner_dict_foreach(dict, views_cb, &v), 0);
	ck_assert_int_eq(v.ints, 1);
	ck_assert_int_eq(v.doubles, 1);
	ck_assert_int_eq(v.strings, 1);
	ck_assert_int_eq(v.blobs, 2);
	ck_assert_int_eq(v.bad, 0);
}
END_TEST

struct stop {
	int calls;
	int stop_at;
	int ret;
};

static int stop_cb(const struct prunner_dict_entry *e, void *arg)
{
	struct stop *s = arg;
	(void)e;
	return ++s->calls == s->stop_at ? s->ret : 0;
}

START_TEST(test_foreach_stop)
{
	char key[16];
	int64_t v = 0;

	for (int i = 0; i < 10; i++) {
		snprintf(key, sizeof key, "k%d", i);
		ck_assert_rc(prunner_dict_set_int(dict, key, i), 0);
	}
	struct stop s = {.stop_at = 3, .ret = 42};
	ck_assert_rc(prunner_dict_foreach(dict, stop_cb, &s), 42);
	ck_assert_int_eq(s.calls, 3);

	struct stop neg = {.stop_at = 1, .ret = -7};
	ck_assert_rc(prunner_dict_foreach(dict, stop_cb, &neg), -7);
	ck_assert_int_eq(neg.calls, 1);

	/* The lock was released and the walk forgotten: plain calls work. */
	ck_assert_rc(prunner_dict_add_int(dict, "k0", 1, &v), 0);
	ck_assert_int_eq(v, 1);
	ck_assert_rc(prunner_dict_set_int(dict, "new", 1), 0);
	ck_assert_uint_eq(prunner_dict_len(dict), 11);
}
END_TEST

enum {
	N_SET_INT,
	N_GET_INT,
	N_ADD_INT,
	N_SET_DOUBLE,
	N_GET_DOUBLE,
	N_SET_STRING,
	N_GET_STRING,
	N_SET_BLOB,
	N_GET_BLOB,
	N_TYPE,
	N_DELETE,
	N_CLEAR,
	N_FOREACH,
	N_OTHER_SET, /* on another dict: must work */
	N_CALLS
};

struct nest {
	struct prunner_dict *d;
	struct prunner_dict *other;
	int calls;
	int rc[N_CALLS];
	size_t len_inside;
	int inner_rc[2]; /* from a walk of `other` inside the walk of `d` */
	size_t inner_len;
	/* Several errors at once: the header's order, -EINVAL, -E2BIG,
	 * -EDEADLK, must decide (a fuzz find: the value's size used to be
	 * checked after the walk). */
	int order_rc[4];
};

static int noop_cb(const struct prunner_dict_entry *e, void *arg)
{
	(void)e;
	(void)arg;
	return 0;
}

static int inner_cb(const struct prunner_dict_entry *e, void *arg)
{
	struct nest *n = arg;
	int64_t i = 0;
	(void)e;
	n->inner_rc[0] = prunner_dict_get_int(n->d, "a", &i);     /* outer dict */
	n->inner_rc[1] = prunner_dict_get_int(n->other, "o", &i); /* this dict */
	n->inner_len = prunner_dict_len(n->d);
	return 0;
}

static int nest_cb(const struct prunner_dict_entry *e, void *arg)
{
	struct nest *n = arg;
	struct prunner_dict *d = n->d;
	int64_t i = 0;
	double x = 0;
	char buf[16];
	size_t len = 0;
	enum prunner_type t = 0;
	(void)e;

	if (n->calls++ > 0)
		return 0;
	n->rc[N_SET_INT] = prunner_dict_set_int(d, "a", 1);
	n->rc[N_GET_INT] = prunner_dict_get_int(d, "a", &i);
	n->rc[N_ADD_INT] = prunner_dict_add_int(d, "a", 1, &i);
	n->rc[N_SET_DOUBLE] = prunner_dict_set_double(d, "a", 1.0);
	n->rc[N_GET_DOUBLE] = prunner_dict_get_double(d, "a", &x);
	n->rc[N_SET_STRING] = prunner_dict_set_string(d, "a", "x");
	n->rc[N_GET_STRING] = prunner_dict_get_string(d, "a", buf, sizeof buf, &len);
	n->rc[N_SET_BLOB] = prunner_dict_set_blob(d, "a", "x", 1);
	n->rc[N_GET_BLOB] = prunner_dict_get_blob(d, "a", buf, sizeof buf, &len);
	n->rc[N_TYPE] = prunner_dict_type(d, "a", &t);
	n->rc[N_DELETE] = prunner_dict_delete(d, "a");
	n->rc[N_CLEAR] = prunner_dict_clear(d);
	n->rc[N_FOREACH] = prunner_dict_foreach(d, noop_cb, NULL);
	n->rc[N_OTHER_SET] = prunner_dict_set_int(n->other, "o", 5);
	n->len_inside = prunner_dict_len(d);
	prunner_dict_foreach(n->other, inner_cb, n);

	static char long_key[PRUNNER_DICT_MAX_KEY + 2];
	memset(long_key, 'k', sizeof long_key - 1);
	n->order_rc[0] = prunner_dict_set_blob(d, "a", buf, PRUNNER_DICT_MAX_VALUE + 1);
	n->order_rc[1] = prunner_dict_get_int(d, long_key, &i);
	n->order_rc[2] = prunner_dict_set_blob(d, NULL, buf, PRUNNER_DICT_MAX_VALUE + 1);
	n->order_rc[3] = prunner_dict_set_blob(d, "a", NULL, 1);
	return 0;
}

START_TEST(test_foreach_edeadlk)
{
	prunner_t *r2 = NULL;
	int64_t v = 0;

	ck_assert_rc(prunner_new(&r2), 0);
	struct nest n = {.d = dict, .other = prunner_dict(r2)};
	ck_assert_ptr_nonnull(n.other);

	ck_assert_rc(prunner_dict_set_int(dict, "a", 10), 0);
	ck_assert_rc(prunner_dict_set_int(dict, "b", 20), 0);
	ck_assert_rc(prunner_dict_foreach(dict, nest_cb, &n), 0);
	ck_assert_int_eq(n.calls, 2);
	for (int i = 0; i < N_OTHER_SET; i++)
		ck_assert_msg(n.rc[i] == -EDEADLK, "nested call %d returned %d (%s)", i, n.rc[i],
		              prunner_strerror(n.rc[i]));
	ck_assert_rc(n.rc[N_OTHER_SET], 0);
	ck_assert_uint_eq(n.len_inside, 2);
	ck_assert_rc(n.inner_rc[0], -EDEADLK);
	ck_assert_rc(n.inner_rc[1], -EDEADLK);
	ck_assert_uint_eq(n.inner_len, 2);
	ck_assert_rc(n.order_rc[0], -E2BIG);
	ck_assert_rc(n.order_rc[1], -E2BIG);
	ck_assert_rc(n.order_rc[2], -EINVAL);
	ck_assert_rc(n.order_rc[3], -EINVAL);

	/* Nothing changed, and after the walk everything works again. */
	ck_assert_rc(prunner_dict_get_int(dict, "a", &v), 0);
	ck_assert_int_eq(v, 10);
	ck_assert_uint_eq(prunner_dict_len(dict), 2);
	ck_assert_rc(prunner_dict_delete(dict, "a"), 0);
	ck_assert_rc(prunner_dict_get_int(n.other, "o", &v), 0);
	ck_assert_int_eq(v, 5);
	prunner_free(r2);
}
END_TEST

/* A thread started from inside a walk is not the walker: its call must wait
 * for the lock, then succeed (never -EDEADLK). */
struct bystander {
	pthread_t tid;
	int started;
	int rc;
	int64_t out;
};

static void *bystander_main(void *arg)
{
	struct bystander *b = arg;
	b->rc = prunner_dict_add_int(dict, "counter", 1, &b->out);
	return NULL;
}

static int spawn_cb(const struct prunner_dict_entry *e, void *arg)
{
	struct bystander *b = arg;
	(void)e;
	if (!b->started)
		b->started = pthread_create(&b->tid, NULL, bystander_main, b) == 0;
	return 0;
}

START_TEST(test_foreach_other_thread_waits)
{
	struct bystander b = {.rc = 12345};

	ck_assert_rc(prunner_dict_set_int(dict, "counter", 41), 0);
	ck_assert_rc(prunner_dict_foreach(dict, spawn_cb, &b), 0);
	ck_assert(b.started);
	ck_assert_int_eq(pthread_join(b.tid, NULL), 0);
	ck_assert_rc(b.rc, 0);
	ck_assert_int_eq(b.out, 42);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Volume and threads                                                       */
/* ------------------------------------------------------------------------ */

#define MANY 100000

START_TEST(test_many_keys)
{
	char key[32];
	int64_t v = 0;

	for (int i = 0; i < MANY; i++) {
		snprintf(key, sizeof key, "many/%d", i);
		ck_assert_rc(prunner_dict_set_int(dict, key, (int64_t)i * 3), 0);
	}
	ck_assert_uint_eq(prunner_dict_len(dict), MANY);
	for (int i = 0; i < MANY; i++) {
		snprintf(key, sizeof key, "many/%d", i);
		ck_assert_rc(prunner_dict_get_int(dict, key, &v), 0);
		ck_assert_int_eq(v, (int64_t)i * 3);
	}
	size_t n = 0;
	ck_assert_rc(prunner_dict_foreach(dict, count_cb, &n), 0);
	ck_assert_uint_eq(n, MANY);
	for (int i = 0; i < MANY; i += 2) {
		snprintf(key, sizeof key, "many/%d", i);
		ck_assert_rc(prunner_dict_delete(dict, key), 0);
	}
	ck_assert_uint_eq(prunner_dict_len(dict), MANY / 2);
	for (int i = 0; i < MANY; i++) {
		snprintf(key, sizeof key, "many/%d", i);
		ck_assert_rc(prunner_dict_get_int(dict, key, &v), i % 2 ? 0 : -ENOENT);
	}
	for (int i = 1; i < MANY; i += 2) {
		snprintf(key, sizeof key, "many/%d", i);
		ck_assert_rc(prunner_dict_delete(dict, key), 0);
	}
	ck_assert_uint_eq(prunner_dict_len(dict), 0);
}
END_TEST

#define N_THREADS 8
#define N_ADDS    100000

struct adder {
	pthread_barrier_t *start;
	int id;
	char key[16];
	int errors;      /* calls that failed or returned a wrong value */
	int first_rc;    /* rc of the first failed call */
	long first_iter; /* its iteration, -1 if none */
};

static void adder_fail(struct adder *a, int rc, long iter)
{
	if (a->errors++ == 0) {
		a->first_rc = rc;
		a->first_iter = iter;
	}
}

static void *adder_main(void *arg)
{
	struct adder *a = arg;
	int64_t last_shared = INT64_MIN;

	pthread_barrier_wait(a->start);
	for (long j = 0; j < N_ADDS; j++) {
		int64_t out = 0;
		int rc = prunner_dict_add_int(dict, "shared", 1, &out);
		/* Every add is +1, so this thread sees the shared total rise. */
		if (rc != 0 || out <= last_shared || out < 1 || out > (int64_t)N_THREADS * N_ADDS)
			adder_fail(a, rc, j);
		last_shared = out;
		rc = prunner_dict_add_int(dict, a->key, 1, &out);
		if (rc != 0 || out != j + 1) /* only this thread touches its key */
			adder_fail(a, rc, j);
	}
	return NULL;
}

START_TEST(test_threads_add_int)
{
	pthread_barrier_t start;
	pthread_t tids[N_THREADS];
	struct adder adders[N_THREADS];
	int64_t v = 0;

	ck_assert_int_eq(pthread_barrier_init(&start, NULL, N_THREADS), 0);
	for (int t = 0; t < N_THREADS; t++) {
		adders[t] = (struct adder){.start = &start, .id = t, .first_iter = -1};
		snprintf(adders[t].key, sizeof adders[t].key, "t%d", t);
	}
	for (int t = 0; t < N_THREADS; t++)
		ck_assert_int_eq(pthread_create(&tids[t], NULL, adder_main, &adders[t]), 0);
	for (int t = 0; t < N_THREADS; t++)
		ck_assert_int_eq(pthread_join(tids[t], NULL), 0);
	pthread_barrier_destroy(&start);

	for (int t = 0; t < N_THREADS; t++) {
		ck_assert_msg(adders[t].errors == 0, "thread %d: %d errors, first rc %d (%s) at %ld", t,
		              adders[t].errors, adders[t].first_rc, prunner_strerror(adders[t].first_rc),
		              adders[t].first_iter);
		ck_assert_rc(prunner_dict_get_int(dict, adders[t].key, &v), 0);
		ck_assert_int_eq(v, N_ADDS);
	}
	ck_assert_rc(prunner_dict_get_int(dict, "shared", &v), 0);
	ck_assert_int_eq(v, (int64_t)N_THREADS * N_ADDS);
	ck_assert_uint_eq(prunner_dict_len(dict), N_THREADS + 1);
}
END_TEST

/*
 * Writers churn their own keys through every type while walkers walk the
 * whole dict and check that every entry they see is self-consistent.
 */
#define N_WRITERS 4
#define N_WALKERS 2
#define CHURN     2000

struct churn {
	pthread_barrier_t *start;
	int id;
	int errors;
	int first_rc;
	long first_iter;
	long walks_entries; /* walkers: entries seen */
};

static void churn_fail(struct churn *c, int rc, long iter)
{
	if (c->errors++ == 0) {
		c->first_rc = rc;
		c->first_iter = iter;
	}
}

static void *writer_main(void *arg)
{
	struct churn *c = arg;
	char key[32], val[32], buf[32];
	size_t len = 0;
	int64_t i = 0;
	double x = 0;

	pthread_barrier_wait(c->start);
	for (long j = 0; j < CHURN; j++) {
		snprintf(key, sizeof key, "w%d/%ld", c->id, j % 64);
		int n = snprintf(val, sizeof val, "v%d:%ld", c->id, j);
		int rc;
		if ((rc = prunner_dict_set_string(dict, key, val)) != 0)
			churn_fail(c, rc, j);
		if ((rc = prunner_dict_get_string(dict, key, buf, sizeof buf, &len)) != n ||
		    strcmp(buf, val) != 0)
			churn_fail(c, rc, j);
		if ((rc = prunner_dict_set_blob(dict, key, val, (size_t)n)) != 0)
			churn_fail(c, rc, j);
		if ((rc = prunner_dict_get_blob(dict, key, buf, sizeof buf, &len)) != 0 || len != (size_t)n ||
		    memcmp(buf, val, len) != 0)
			churn_fail(c, rc, j);
		if ((rc = prunner_dict_set_double(dict, key, (double)j)) != 0)
			churn_fail(c, rc, j);
		if ((rc = prunner_dict_get_double(dict, key, &x)) != 0 || x != (double)j)
			churn_fail(c, rc, j);
		if ((rc = prunner_dict_get_int(dict, key, &i)) != PRUNNER_ETYPE)
			churn_fail(c, rc, j);
		if (j % 3 == 0 && (rc = prunner_dict_delete(dict, key)) != 0)
			churn_fail(c, rc, j);
		if ((rc = prunner_dict_add_int(dict, "writes", 1, NULL)) != 0)
			churn_fail(c, rc, j);
	}
	return NULL;
}

static int check_entry_cb(const struct prunner_dict_entry *e, void *arg)
{
	struct churn *c = arg;
	int ok;

	c->walks_entries++;
	switch (e->type) {
	case PRUNNER_TYPE_STRING:
		ok = e->str && strlen(e->str) == e->size && e->str[0] == 'v';
		break;
	case PRUNNER_TYPE_BLOB:
		ok = e->blob && e->size > 0 && ((const char *)e->blob)[0] == 'v';
		break;
	case PRUNNER_TYPE_DOUBLE:
		ok = e->d >= 0 && e->d < CHURN;
		break;
	case PRUNNER_TYPE_INT:
		ok = strcmp(e->key, "writes") == 0 && e->i > 0;
		break;
	default:
		ok = 0;
	}
	if (!ok)
		churn_fail(c, 0, c->walks_entries);
	return 0;
}

static void *walker_main(void *arg)
{
	struct churn *c = arg;

	pthread_barrier_wait(c->start);
	for (long j = 0; j < CHURN / 10; j++) {
		int rc = prunner_dict_foreach(dict, check_entry_cb, c);
		if (rc != 0)
			churn_fail(c, rc, j);
		if (prunner_dict_len(dict) > N_WRITERS * 64 + 1)
			churn_fail(c, 0, j);
	}
	return NULL;
}

START_TEST(test_threads_churn)
{
	pthread_barrier_t start;
	pthread_t tids[N_WRITERS + N_WALKERS];
	struct churn cs[N_WRITERS + N_WALKERS];
	int64_t writes = 0;

	ck_assert_int_eq(pthread_barrier_init(&start, NULL, N_WRITERS + N_WALKERS), 0);
	for (int t = 0; t < N_WRITERS + N_WALKERS; t++) {
		cs[t] = (struct churn){.start = &start, .id = t, .first_iter = -1};
		ck_assert_int_eq(
		    pthread_create(&tids[t], NULL, t < N_WRITERS ? writer_main : walker_main, &cs[t]), 0);
	}
	for (int t = 0; t < N_WRITERS + N_WALKERS; t++)
		ck_assert_int_eq(pthread_join(tids[t], NULL), 0);
	pthread_barrier_destroy(&start);

	for (int t = 0; t < N_WRITERS + N_WALKERS; t++)
		ck_assert_msg(cs[t].errors == 0, "thread %d: %d errors, first rc %d (%s) at %ld", t,
		              cs[t].errors, cs[t].first_rc, prunner_strerror(cs[t].first_rc),
		              cs[t].first_iter);
	ck_assert_rc(prunner_dict_get_int(dict, "writes", &writes), 0);
	ck_assert_int_eq(writes, (int64_t)N_WRITERS * CHURN);
	/* Each writer leaves its 64 keys minus those deleted on their last
	 * round (j % 3 == 0 among j = CHURN-64 .. CHURN-1). */
	size_t left = 0;
	for (long j = CHURN - 64; j < CHURN; j++)
		left += j % 3 != 0;
	ck_assert_uint_eq(prunner_dict_len(dict), N_WRITERS * left + 1);
}
END_TEST

/* ------------------------------------------------------------------------ */

static Suite *dict_suite(void)
{
	Suite *s = suite_create("dict");

	TCase *tc = tcase_create("basic");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_int_roundtrip);
	tcase_add_test(tc, test_double_roundtrip);
	tcase_add_test(tc, test_string_roundtrip);
	tcase_add_test(tc, test_blob_roundtrip);
	tcase_add_test(tc, test_empty_blob);
	tcase_add_test(tc, test_overwrite_changes_type);
	tcase_add_test(tc, test_type_mismatch);
	tcase_add_test(tc, test_enoent);
	tcase_add_test(tc, test_einval);
	tcase_add_test(tc, test_e2big);
	tcase_add_test(tc, test_get_string_erange);
	tcase_add_test(tc, test_get_blob_erange);
	tcase_add_test(tc, test_empty_key);
	tcase_add_test(tc, test_delete_len);
	tcase_add_test(tc, test_clear);
	tcase_add_test(tc, test_add_int);
	tcase_add_test(tc, test_add_int_wrap);
	suite_add_tcase(s, tc);

	tc = tcase_create("foreach");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_foreach_all);
	tcase_add_test(tc, test_foreach_views);
	tcase_add_test(tc, test_foreach_stop);
	tcase_add_test(tc, test_foreach_edeadlk);
	tcase_add_test(tc, test_foreach_other_thread_waits);
	suite_add_tcase(s, tc);

	tc = tcase_create("volume");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_many_keys);
	tcase_add_test(tc, test_threads_add_int);
	tcase_add_test(tc, test_threads_churn);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(dict_suite());

	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
