/*
 * fuzz_dict.c - libFuzzer harness for the dict (prunner_dict_*).
 *
 * Each input is a program of operations on one fresh dict (pr_dict_new), run
 * on this thread; every result (return value, out-parameters, buffer
 * contents, foreach walk) is compared with a reference model: a plain
 * array of (key, type, value) searched linearly.  A difference aborts.  At
 * the end the whole dict is compared with the model and freed, so
 * LeakSanitizer sees every value the dict should have released.
 *
 * Encoding (reading past the end gives zeros):
 *
 *   input := op*                       at most MAX_OPS ops
 *   op    := opcode(1) operands        opcode % N_OPS picks the operation
 *   key   := sel(1) ...                sel < 0x40: a new key of sel bytes
 *                                        from the input (an embedded NUL ends
 *                                        the key, as C strings do);
 *                                      0x40..0xbf: one of the last 16 keys
 *                                        of at most 64 bytes;
 *                                      0xc0: NULL; 0xc1/0xc2/0xc3: 4095,
 *                                        4096, 4097 bytes (the limit is 4096);
 *                                      0xc4: u16 % 8200 bytes of one byte;
 *                                      otherwise a one-letter key.
 *
 * The expected error of a call follows the header's rules: -EINVAL (NULL
 * dict, key or required pointer), then -E2BIG (key over
 * PRUNNER_DICT_MAX_KEY, blob over PRUNNER_DICT_MAX_VALUE), then -EDEADLK
 * (inside a foreach callback of the same dict), then -ENOENT /
 * PRUNNER_ETYPE / -ERANGE from the model.  A failed call must leave its
 * out-parameters and buffers untouched ("a call that fails has no effect"),
 * except the length that get_string/get_blob report with -ERANGE.
 *
 * Not covered: string values over PRUNNER_DICT_MAX_VALUE (1 GiB of non-NUL
 * bytes per input is too slow); blobs over it are covered with a read-only,
 * never-touched mapping of that size.  -ENOMEM is not provoked.
 */
#include "fuzz_input.h"

#include "dict.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <sys/mman.h>

#define MAX_OPS 4000
#define MAX_ENTRIES 512 /* model capacity: inserts of new keys beyond it are skipped */
#define RING 16
#define KEYBUF (8200 + 1)

/* ------------------------------------------------------------------------ */
/* The model                                                                */
/* ------------------------------------------------------------------------ */

struct mentry {
	char *key; /* NUL-terminated copy */
	size_t klen;
	uint64_t hash; /* khash(key): compared first, to keep lookups cheap */
	enum prunner_type type;
	int64_t i;
	double d;
	unsigned char *buf; /* string (without NUL) or blob bytes; malloc'd, may be NULL when size 0 */
	size_t size;
	bool seen; /* during a walk */
};

static struct mentry model[MAX_ENTRIES];
static size_t mcount;

NO_COVERAGE static uint64_t khash(const char *key, size_t klen)
{
	uint64_t h = 0xcbf29ce484222325u;
	for (size_t k = 0; k < klen; k++)
		h = (h ^ (unsigned char)key[k]) * 0x100000001b3u;
	return h;
}

NO_COVERAGE static long model_find(const char *key, size_t klen)
{
	uint64_t h = khash(key, klen);
	for (size_t k = 0; k < mcount; k++)
		if (model[k].hash == h && model[k].klen == klen && memcmp(model[k].key, key, klen) == 0)
			return (long)k;
	return -1;
}

/* The entry for key, created (as an int 0) when missing; NULL when the model
 * is full. */
static struct mentry *model_slot(const char *key, size_t klen)
{
	long k = model_find(key, klen);
	if (k >= 0)
		return &model[k];
	if (mcount == MAX_ENTRIES)
		return NULL;
	struct mentry *e = &model[mcount++];
	memset(e, 0, sizeof *e);
	e->key = malloc(klen + 1);
	if (!e->key)
		abort();
	memcpy(e->key, key, klen);
	e->key[klen] = '\0';
	e->klen = klen;
	e->hash = khash(key, klen);
	e->type = PRUNNER_TYPE_INT;
	return e;
}

static void model_set_bytes(struct mentry *e, enum prunner_type t, const void *src, size_t n)
{
	free(e->buf);
	e->buf = NULL;
	if (n) {
		e->buf = malloc(n);
		if (!e->buf)
			abort();
		memcpy(e->buf, src, n);
	}
	e->size = n;
	e->type = t;
}

static void model_set_scalar(struct mentry *e, enum prunner_type t)
{
	free(e->buf);
	e->buf = NULL;
	e->size = 0;
	e->type = t;
}

static void model_delete(size_t k)
{
	free(model[k].key);
	free(model[k].buf);
	model[k] = model[--mcount];
}

static void model_clear(void)
{
	while (mcount)
		model_delete(mcount - 1);
}

/* ------------------------------------------------------------------------ */
/* Keys                                                                     */
/* ------------------------------------------------------------------------ */

struct key {
	const char *s; /* what is passed: NULL, or a NUL-terminated buffer */
	size_t len;    /* strlen(s): the key the dict sees */
};

static char keybuf[2][KEYBUF];
static char *ring[RING];
static size_t ring_len[RING];
static unsigned ring_pos;

static void ring_push(const char *s, size_t len)
{
	unsigned k = ring_pos++ % RING;
	free(ring[k]);
	ring[k] = malloc(len + 1);
	if (!ring[k])
		abort();
	memcpy(ring[k], s, len + 1);
	ring_len[k] = len;
}

static void ring_clear(void)
{
	for (unsigned k = 0; k < RING; k++) {
		free(ring[k]);
		ring[k] = NULL;
		ring_len[k] = 0;
	}
	ring_pos = 0;
}

static void fill_key(char *buf, size_t n, char c)
{
	memset(buf, c, n);
	buf[n] = '\0';
}

/* Decodes a key into keybuf[slot]. */
static struct key get_key(struct fz_in *in, int slot)
{
	char *buf = keybuf[slot];
	uint8_t sel = fz_u8(in);
	struct key k = {buf, 0};

	if (sel < 0x40) {
		fz_bytes(in, buf, sel);
		buf[sel] = '\0';
	} else if (sel < 0xc0) {
		unsigned r = (sel - 0x40u) % RING;
		if (ring[r])
			memcpy(buf, ring[r], ring_len[r] + 1);
		else
			buf[0] = '\0';
	} else if (sel == 0xc0) {
		k.s = NULL;
		return k;
	} else if (sel >= 0xc1 && sel <= 0xc3) {
		fill_key(buf, PRUNNER_DICT_MAX_KEY - 1 + (size_t)(sel - 0xc1), 'L');
	} else if (sel == 0xc4) {
		size_t n = fz_u16(in) % (KEYBUF - 1);
		char c = (char)fz_u8(in);
		fill_key(buf, n, c ? c : 'z');
	} else {
		buf[0] = (char)('a' + (sel & 15));
		buf[1] = '\0';
	}
	k.len = strlen(buf);
	/* Long keys cost a hash of thousands of bytes per call; they come
	 * back through their own selectors, not through the ring. */
	if (k.len <= 64)
		ring_push(buf, k.len);
	return k;
}

/* The argument errors, in the documented order: -EINVAL, then -E2BIG. */
static int arg_err(const struct key *k, bool inval, bool big)
{
	if (inval || !k->s)
		return -EINVAL;
	if (big || k->len > PRUNNER_DICT_MAX_KEY)
		return -E2BIG;
	return 0;
}

/* The error a lookup of k of type t gets from the model (0 if found). */
static int lookup_err(const struct key *k, enum prunner_type t, struct mentry **out)
{
	long idx = model_find(k->s, k->len);
	*out = NULL;
	if (idx < 0)
		return -ENOENT;
	*out = &model[idx];
	return model[idx].type == t ? 0 : PRUNNER_ETYPE;
}

/* A mapping as large as the largest blob plus a page, never touched: lets
 * the harness pass a real buffer with a size over the limit. */
static const void *huge_buffer(void)
{
	static void *p;
	static bool tried;

	if (!tried) {
		tried = true;
		p = mmap(NULL, PRUNNER_DICT_MAX_VALUE + 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		         -1, 0);
		if (p == MAP_FAILED)
			p = NULL;
	}
	return p;
}

static bool same_double(double a, double b)
{
	return memcmp(&a, &b, sizeof a) == 0 || (isnan(a) && isnan(b));
}

/* ------------------------------------------------------------------------ */
/* Operations                                                               */
/* ------------------------------------------------------------------------ */

static struct prunner_dict *dict;  /* the dict under test */
static struct prunner_dict *other; /* holds "other" = 7, for nested walks */

static void op_set_int(struct fz_in *in)
{
	struct key k = get_key(in, 0);
	int64_t v = (int64_t)fz_u64(in);
	int want = arg_err(&k, false, false);
	if (want == 0 && model_find(k.s, k.len) < 0 && mcount == MAX_ENTRIES)
		return;
	FZ_RC(prunner_dict_set_int(dict, k.s, v), want);
	if (want == 0) {
		struct mentry *e = model_slot(k.s, k.len);
		model_set_scalar(e, PRUNNER_TYPE_INT);
		e->i = v;
	}
}

static void op_set_double(struct fz_in *in)
{
	struct key k = get_key(in, 0);
	uint64_t bits = fz_u64(in);
	double v;
	memcpy(&v, &bits, sizeof v);
	int want = arg_err(&k, false, false);
	if (want == 0 && model_find(k.s, k.len) < 0 && mcount == MAX_ENTRIES)
		return;
	FZ_RC(prunner_dict_set_double(dict, k.s, v), want);
	if (want == 0) {
		struct mentry *e = model_slot(k.s, k.len);
		model_set_scalar(e, PRUNNER_TYPE_DOUBLE);
		e->d = v;
	}
}

static void op_set_string(struct fz_in *in)
{
	struct key k = get_key(in, 0);
	uint8_t sel = fz_u8(in);
	char *val = NULL;
	size_t n = 0;

	if (sel != 0xff) {
		n = sel == 0xfe ? fz_u16(in) : sel;
		val = malloc(n + 1); /* exact size: ASan sees a read past the NUL */
		if (!val)
			abort();
		fz_bytes(in, val, n);
		val[n] = '\0';
	}
	size_t len = val ? strlen(val) : 0;
	int want = arg_err(&k, val == NULL, false);
	if (want == 0 && model_find(k.s, k.len) < 0 && mcount == MAX_ENTRIES) {
		free(val);
		return;
	}
	FZ_RC(prunner_dict_set_string(dict, k.s, val), want);
	if (want == 0)
		model_set_bytes(model_slot(k.s, k.len), PRUNNER_TYPE_STRING, val, len);
	free(val);
}

static void op_set_blob(struct fz_in *in)
{
	struct key k = get_key(in, 0);
	uint8_t sel = fz_u8(in);
	unsigned char *val = NULL;
	const void *data;
	size_t n;

	if (sel == 0xff) { /* NULL data: valid only with size 0 */
		n = fz_u8(in) % 3;
		data = NULL;
	} else if (sel == 0xfe) { /* over the limit, with a real buffer */
		data = huge_buffer();
		if (!data)
			return;
		n = PRUNNER_DICT_MAX_VALUE + 1 + (fz_u8(in) & 1 ? 0 : fz_u16(in) % 4096);
	} else {
		n = sel == 0xfd ? fz_u16(in) : sel;
		val = malloc(n ? n : 1);
		if (!val)
			abort();
		fz_bytes(in, val, n);
		data = val;
	}
	int want = arg_err(&k, !data && n > 0, n > PRUNNER_DICT_MAX_VALUE);
	if (want == 0 && model_find(k.s, k.len) < 0 && mcount == MAX_ENTRIES) {
		free(val);
		return;
	}
	FZ_RC(prunner_dict_set_blob(dict, k.s, data, n), want);
	if (want == 0)
		model_set_bytes(model_slot(k.s, k.len), PRUNNER_TYPE_BLOB, data, n);
	free(val);
}

static void op_get_int(struct fz_in *in)
{
	struct key k = get_key(in, 0);
	bool null_out = fz_u8(in) & 1;
	const int64_t sentinel = (int64_t)0x5a5a5a5a5a5a5a5aLL;
	int64_t out = sentinel;
	struct mentry *e = NULL;
	int want = arg_err(&k, null_out, false);
	if (want == 0)
		want = lookup_err(&k, PRUNNER_TYPE_INT, &e);
	FZ_RC(prunner_dict_get_int(dict, k.s, null_out ? NULL : &out), want);
	if (want == 0)
		FZ_CHECK(out == e->i, "get_int %" PRId64 ", model %" PRId64, out, e->i);
	else
		FZ_CHECK(out == sentinel, "failed get_int wrote its output");
}

static void op_get_double(struct fz_in *in)
{
	struct key k = get_key(in, 0);
	bool null_out = fz_u8(in) & 1;
	const double sentinel = -1234.5;
	double out = sentinel;
	struct mentry *e = NULL;
	int want = arg_err(&k, null_out, false);
	if (want == 0)
		want = lookup_err(&k, PRUNNER_TYPE_DOUBLE, &e);
	FZ_RC(prunner_dict_get_double(dict, k.s, null_out ? NULL : &out), want);
	if (want == 0)
		FZ_CHECK(same_double(out, e->d), "get_double %a, model %a", out, e->d);
	else
		FZ_CHECK(memcmp(&out, &sentinel, sizeof out) == 0, "failed get_double wrote its output");
}

/*
 * get_string and get_blob.  The buffer's capacity is chosen relative to
 * what the value needs (exact, one short, none...); the buffer is malloc'd
 * with exactly that capacity and filled with a sentinel, so a write past
 * `cap` is an ASan report and a write beyond what was due is a mismatch.
 */
static void op_get_bytes(struct fz_in *in, enum prunner_type type)
{
	struct key k = get_key(in, 0);
	uint8_t c = fz_u8(in);
	struct mentry *e = NULL;
	int lookup = k.s && k.len <= PRUNNER_DICT_MAX_KEY ? lookup_err(&k, type, &e) : -ENOENT;
	size_t size = lookup == 0 ? e->size : 0;
	size_t need = type == PRUNNER_TYPE_STRING ? size + 1 : size;
	size_t cap;
	bool null_buf = false, null_len = false;

	switch (c & 7) {
	case 0:
		cap = need;
		break;
	case 1:
		cap = need ? need - 1 : 0;
		break;
	case 2:
		cap = 0;
		null_buf = true;
		break;
	case 3:
		cap = 1 + fz_u8(in);
		null_buf = true;
		break;
	case 4:
		cap = fz_u16(in);
		break;
	case 5:
		cap = need + 1 + fz_u8(in);
		break;
	case 6:
		cap = need;
		null_len = true;
		break;
	default:
		cap = 0;
		null_buf = true;
		null_len = true;
		break;
	}
	unsigned char *buf = NULL;
	if (!null_buf) {
		buf = malloc(cap ? cap : 1);
		if (!buf)
			abort();
		memset(buf, 0xa5, cap);
	}
	const size_t len_sentinel = (size_t)0x5a5a5a5a;
	size_t len = len_sentinel;

	int want = arg_err(&k, null_buf && cap > 0, false);
	if (want == 0)
		want = lookup;
	if (want == 0 && need > cap)
		want = -ERANGE;
	int rc;
	if (type == PRUNNER_TYPE_STRING) {
		rc = prunner_dict_get_string(dict, k.s, (char *)buf, cap, null_len ? NULL : &len);
		if (want == 0)
			want = (int)size; /* success returns the length */
	} else {
		rc = prunner_dict_get_blob(dict, k.s, buf, cap, null_len ? NULL : &len);
	}
	FZ_CHECK(rc == want, "get_%s(cap %zu, buf %s) returned %d, expected %d",
	         type == PRUNNER_TYPE_STRING ? "string" : "blob", cap, null_buf ? "NULL" : "set", rc, want);

	size_t copied = 0;
	if (rc >= 0) {
		copied = need;
		if (size)
			FZ_CHECK(memcmp(buf, e->buf, size) == 0, "value bytes differ from the model");
		if (type == PRUNNER_TYPE_STRING)
			FZ_CHECK(buf[size] == '\0', "string copy not NUL-terminated");
	}
	for (size_t k2 = copied; k2 < cap && buf; k2++)
		FZ_CHECK(buf[k2] == 0xa5, "byte %zu of %zu written (call returned %d)", k2, cap, rc);
	if (!null_len) {
		if (rc >= 0 || rc == -ERANGE)
			FZ_CHECK(len == size, "length %zu reported, model %zu", len, size);
		else
			FZ_CHECK(len == len_sentinel, "failed call (%d) wrote *len_out", rc);
	}
	free(buf);
}

static void op_add_int(struct fz_in *in)
{
	struct key k = get_key(in, 0);
	int64_t delta = (int64_t)fz_u64(in);
	bool null_out = fz_u8(in) & 1;
	const int64_t sentinel = 0x1234567;
	int64_t out = sentinel;
	int want = arg_err(&k, false, false);
	long idx = want == 0 ? model_find(k.s, k.len) : -1;
	int64_t expect = delta;

	if (want == 0 && idx < 0 && mcount == MAX_ENTRIES)
		return;
	if (idx >= 0) {
		if (model[idx].type != PRUNNER_TYPE_INT)
			want = PRUNNER_ETYPE;
		else /* two's complement wrap-around, computed without signed overflow */
			expect = (int64_t)((uint64_t)model[idx].i + (uint64_t)delta);
	}
	FZ_RC(prunner_dict_add_int(dict, k.s, delta, null_out ? NULL : &out), want);
	if (want == 0) {
		struct mentry *e = model_slot(k.s, k.len);
		if (idx < 0)
			model_set_scalar(e, PRUNNER_TYPE_INT);
		e->i = expect;
		if (!null_out)
			FZ_CHECK(out == expect, "add_int gave %" PRId64 ", model %" PRId64, out, expect);
	} else {
		FZ_CHECK(out == sentinel, "failed add_int wrote *out_new");
	}
}

static void op_type(struct fz_in *in)
{
	struct key k = get_key(in, 0);
	bool null_out = fz_u8(in) & 1;
	enum prunner_type out = (enum prunner_type)77;
	int want = arg_err(&k, null_out, false);
	long idx = -1;
	if (want == 0) {
		idx = model_find(k.s, k.len);
		if (idx < 0)
			want = -ENOENT;
	}
	FZ_RC(prunner_dict_type(dict, k.s, null_out ? NULL : &out), want);
	if (want == 0)
		FZ_CHECK(out == model[idx].type, "type %d, model %d", (int)out, (int)model[idx].type);
	else
		FZ_CHECK(out == (enum prunner_type)77, "failed type() wrote its output");
}

static void op_delete(struct fz_in *in)
{
	struct key k = get_key(in, 0);
	int want = arg_err(&k, false, false);
	long idx = -1;
	if (want == 0) {
		idx = model_find(k.s, k.len);
		if (idx < 0)
			want = -ENOENT;
	}
	FZ_RC(prunner_dict_delete(dict, k.s), want);
	if (want == 0)
		model_delete((size_t)idx);
}

static void check_len(void)
{
	size_t n = prunner_dict_len(dict);
	FZ_CHECK(n == mcount, "len %zu, model %zu", n, mcount);
}

/* Every model entry read back with its own getter, its type, and the count. */
static void check_all(void)
{
	for (size_t k = 0; k < mcount; k++) {
		struct mentry *e = &model[k];
		enum prunner_type t;
		FZ_RC(prunner_dict_type(dict, e->key, &t), 0);
		FZ_CHECK(t == e->type, "type of key %zu is %d, model %d", k, (int)t, (int)e->type);
		switch (e->type) {
		case PRUNNER_TYPE_INT: {
			int64_t v;
			FZ_RC(prunner_dict_get_int(dict, e->key, &v), 0);
			FZ_CHECK(v == e->i, "int %" PRId64 ", model %" PRId64, v, e->i);
			break;
		}
		case PRUNNER_TYPE_DOUBLE: {
			double v;
			FZ_RC(prunner_dict_get_double(dict, e->key, &v), 0);
			FZ_CHECK(same_double(v, e->d), "double %a, model %a", v, e->d);
			break;
		}
		case PRUNNER_TYPE_STRING:
		case PRUNNER_TYPE_BLOB: {
			size_t len = 0, cap = e->size + (e->type == PRUNNER_TYPE_STRING);
			unsigned char *buf = malloc(cap ? cap : 1);
			if (!buf)
				abort();
			int rc = e->type == PRUNNER_TYPE_STRING
			                 ? prunner_dict_get_string(dict, e->key, (char *)buf, cap, &len)
			                 : prunner_dict_get_blob(dict, e->key, buf, cap, &len);
			FZ_RC(rc, e->type == PRUNNER_TYPE_STRING ? (int)e->size : 0);
			FZ_CHECK(len == e->size, "length %zu, model %zu", len, e->size);
			FZ_CHECK(e->size == 0 || memcmp(buf, e->buf, e->size) == 0, "bytes differ from the model");
			free(buf);
			break;
		}
		default:
			FZ_FAIL("model type %d", (int)e->type);
		}
	}
	check_len();
}

/* ------------------------------------------------------------------------ */
/* foreach                                                                  */
/* ------------------------------------------------------------------------ */

struct walk {
	size_t count;
	size_t stop_after; /* 0: full walk */
	bool probe;        /* call back into the dicts from the first entry */
};

static int nested_cb(const struct prunner_dict_entry *e, void *arg)
{
	int64_t v = 0;
	(void)arg;
	FZ_CHECK(strcmp(e->key, "other") == 0 && e->type == PRUNNER_TYPE_INT && e->i == 7, "other dict's entry");
	FZ_RC(prunner_dict_get_int(dict, "x", &v), -EDEADLK);  /* still inside dict's walk */
	FZ_RC(prunner_dict_get_int(other, "other", &v), -EDEADLK);
	FZ_RC(prunner_dict_set_int(other, "y", 1), -EDEADLK);
	FZ_CHECK(prunner_dict_len(dict) == mcount, "len from a nested walk");
	FZ_CHECK(prunner_dict_len(other) == 1, "len of the walked dict");
	return 0;
}

/* From a foreach callback of `dict`: every call into it returns -EDEADLK,
 * except len, and argument errors that come first in the documented order. */
static void probe_reentry(const char *key, struct walk *w)
{
	int64_t iv = 0;
	double dv = 0;
	enum prunner_type t;
	char c[8];
	size_t len;
	static char longkey[PRUNNER_DICT_MAX_KEY + 2];

	FZ_RC(prunner_dict_get_int(dict, key, &iv), -EDEADLK);
	FZ_RC(prunner_dict_get_double(dict, key, &dv), -EDEADLK);
	FZ_RC(prunner_dict_get_string(dict, key, c, sizeof c, &len), -EDEADLK);
	FZ_RC(prunner_dict_get_blob(dict, key, c, sizeof c, &len), -EDEADLK);
	FZ_RC(prunner_dict_type(dict, key, &t), -EDEADLK);
	FZ_RC(prunner_dict_set_int(dict, "x", 1), -EDEADLK);
	FZ_RC(prunner_dict_set_double(dict, "x", 1.0), -EDEADLK);
	FZ_RC(prunner_dict_set_string(dict, "x", "y"), -EDEADLK);
	FZ_RC(prunner_dict_set_blob(dict, "x", "y", 1), -EDEADLK);
	FZ_RC(prunner_dict_add_int(dict, key, 1, &iv), -EDEADLK);
	FZ_RC(prunner_dict_delete(dict, key), -EDEADLK);
	FZ_RC(prunner_dict_clear(dict), -EDEADLK);
	FZ_RC(prunner_dict_foreach(dict, nested_cb, w), -EDEADLK);
	FZ_CHECK(prunner_dict_len(dict) == mcount, "len from a callback: %zu, model %zu", prunner_dict_len(dict),
	         mcount);

	/* -EINVAL and -E2BIG win over -EDEADLK. */
	FZ_RC(prunner_dict_get_int(dict, NULL, &iv), -EINVAL);
	FZ_RC(prunner_dict_get_int(dict, key, NULL), -EINVAL);
	FZ_RC(prunner_dict_set_string(dict, "x", NULL), -EINVAL);
	FZ_RC(prunner_dict_set_blob(dict, "x", NULL, 3), -EINVAL);
	FZ_RC(prunner_dict_get_string(dict, key, NULL, 4, &len), -EINVAL);
	FZ_RC(prunner_dict_foreach(dict, NULL, NULL), -EINVAL);
	fill_key(longkey, PRUNNER_DICT_MAX_KEY + 1, 'L');
	FZ_RC(prunner_dict_get_int(dict, longkey, &iv), -E2BIG);
	FZ_RC(prunner_dict_set_blob(dict, longkey, NULL, 3), -EINVAL);
	if (huge_buffer())
		FZ_RC(prunner_dict_set_blob(dict, "x", huge_buffer(), PRUNNER_DICT_MAX_VALUE + 1), -E2BIG);

	/* Another dict is usable, and walkable, from here. */
	FZ_RC(prunner_dict_get_int(other, "other", &iv), 0);
	FZ_CHECK(iv == 7, "other dict's value %" PRId64, iv);
	FZ_RC(prunner_dict_foreach(other, nested_cb, NULL), 0);
}

static int walk_cb(const struct prunner_dict_entry *e, void *arg)
{
	struct walk *w = arg;

	FZ_CHECK(e && e->key, "entry or key NULL");
	long idx = model_find(e->key, strlen(e->key));
	FZ_CHECK(idx >= 0, "walk found a key the model lacks (length %zu)", strlen(e->key));
	struct mentry *m = &model[idx];
	FZ_CHECK(!m->seen, "walk visited a key twice");
	m->seen = true;
	FZ_CHECK(e->type == m->type, "walk: type %d, model %d", (int)e->type, (int)m->type);
	switch (m->type) {
	case PRUNNER_TYPE_INT:
		FZ_CHECK(e->i == m->i, "walk: int differs");
		break;
	case PRUNNER_TYPE_DOUBLE:
		FZ_CHECK(same_double(e->d, m->d), "walk: double differs");
		break;
	case PRUNNER_TYPE_STRING:
		FZ_CHECK(e->str && e->size == m->size && e->str[e->size] == '\0' &&
		                 (m->size == 0 || memcmp(e->str, m->buf, m->size) == 0),
		         "walk: string differs");
		break;
	case PRUNNER_TYPE_BLOB:
		FZ_CHECK(e->size == m->size && (m->size == 0 || (e->blob && memcmp(e->blob, m->buf, m->size) == 0)),
		         "walk: blob differs");
		break;
	}
	w->count++;
	if (w->probe && w->count == 1)
		probe_reentry(e->key, w);
	if (w->stop_after && w->count == w->stop_after)
		return 1000 + (int)w->stop_after;
	return 0;
}

static void walk(size_t stop_after, bool probe)
{
	struct walk w = {0, stop_after, probe};

	for (size_t k = 0; k < mcount; k++)
		model[k].seen = false;
	int rc = prunner_dict_foreach(dict, walk_cb, &w);
	if (stop_after && stop_after <= mcount) {
		FZ_RC(rc, 1000 + (int)stop_after);
		FZ_CHECK(w.count == stop_after, "walk stopped after %zu, asked %zu", w.count, stop_after);
	} else {
		FZ_RC(rc, 0);
		FZ_CHECK(w.count == mcount, "walk saw %zu entries, model %zu", w.count, mcount);
	}
}

static void op_foreach(struct fz_in *in)
{
	uint8_t f = fz_u8(in);
	if (f == 0xff) {
		FZ_RC(prunner_dict_foreach(dict, NULL, NULL), -EINVAL);
		return;
	}
	walk(f & 1 ? fz_u8(in) : 0, f & 2);
	check_len();
}

/* Every call with a NULL dict: -EINVAL, and 0 for len. */
static void op_null_dict(void)
{
	int64_t iv;
	double dv;
	char c[4];
	size_t len;
	enum prunner_type t;
	int dummy;

	FZ_RC(prunner_dict_set_int(NULL, "k", 1), -EINVAL);
	FZ_RC(prunner_dict_get_int(NULL, "k", &iv), -EINVAL);
	FZ_RC(prunner_dict_add_int(NULL, "k", 1, &iv), -EINVAL);
	FZ_RC(prunner_dict_set_double(NULL, "k", 1.0), -EINVAL);
	FZ_RC(prunner_dict_get_double(NULL, "k", &dv), -EINVAL);
	FZ_RC(prunner_dict_set_string(NULL, "k", "v"), -EINVAL);
	FZ_RC(prunner_dict_get_string(NULL, "k", c, sizeof c, &len), -EINVAL);
	FZ_RC(prunner_dict_set_blob(NULL, "k", "v", 1), -EINVAL);
	FZ_RC(prunner_dict_get_blob(NULL, "k", c, sizeof c, &len), -EINVAL);
	FZ_RC(prunner_dict_type(NULL, "k", &t), -EINVAL);
	FZ_RC(prunner_dict_delete(NULL, "k"), -EINVAL);
	FZ_RC(prunner_dict_clear(NULL), -EINVAL);
	FZ_RC(prunner_dict_foreach(NULL, walk_cb, &dummy), -EINVAL);
	FZ_CHECK(prunner_dict_len(NULL) == 0, "len(NULL)");
}

/* Many keys "prefix:i" at once: grows the table with few input bytes. */
static void op_bulk(struct fz_in *in)
{
	struct key p = get_key(in, 1);
	unsigned n = fz_u8(in);
	bool add = fz_u8(in) & 1;
	char *buf = keybuf[0];

	for (unsigned i = 0; i < n; i++) {
		struct key k = {NULL, 0};
		if (p.s) {
			size_t pl = p.len < KEYBUF - 16 ? p.len : KEYBUF - 16;
			memcpy(buf, p.s, pl);
			k.len = pl + (size_t)snprintf(buf + pl, 16, ":%u", i);
			k.s = buf;
		}
		int want = arg_err(&k, false, false);
		if (want == 0 && model_find(k.s, k.len) < 0 && mcount == MAX_ENTRIES)
			return;
		if (add) {
			long idx = want == 0 ? model_find(k.s, k.len) : -1;
			if (idx >= 0 && model[idx].type != PRUNNER_TYPE_INT)
				want = PRUNNER_ETYPE;
			FZ_RC(prunner_dict_add_int(dict, k.s, (int64_t)i + 1, NULL), want);
			if (want == 0) {
				struct mentry *e = model_slot(k.s, k.len);
				if (idx < 0)
					model_set_scalar(e, PRUNNER_TYPE_INT);
				e->i = (int64_t)((uint64_t)(idx < 0 ? 0 : e->i) + i + 1);
			}
		} else {
			FZ_RC(prunner_dict_set_int(dict, k.s, (int64_t)i), want);
			if (want == 0) {
				struct mentry *e = model_slot(k.s, k.len);
				model_set_scalar(e, PRUNNER_TYPE_INT);
				e->i = (int64_t)i;
			}
		}
	}
}

/* Deletes the model's keys at positions i with i % m == r (from the end,
 * so that the swap-with-last of model_delete only moves visited entries):
 * unlinks entries from the middle and ends of the chains. */
static void op_delete_some(struct fz_in *in)
{
	size_t m = 1 + fz_u8(in) % 4, r = fz_u8(in) % m;

	for (size_t k = mcount; k-- > 0;) {
		if (k % m != r)
			continue;
		FZ_RC(prunner_dict_delete(dict, model[k].key), 0);
		model_delete(k);
	}
	check_len();
}

enum {
	OP_SET_INT,
	OP_SET_DOUBLE,
	OP_SET_STRING,
	OP_SET_BLOB,
	OP_GET_INT,
	OP_GET_DOUBLE,
	OP_GET_STRING,
	OP_GET_BLOB,
	OP_ADD_INT,
	OP_TYPE,
	OP_DELETE,
	OP_LEN,
	OP_CLEAR,
	OP_FOREACH,
	OP_NULL_DICT,
	OP_CHECK_ALL,
	OP_BULK,
	OP_DELETE_SOME,
	N_OPS
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = {data, size, 0};

	dict = pr_dict_new();
	other = pr_dict_new();
	if (!dict || !other)
		abort();
	FZ_RC(prunner_dict_set_int(other, "other", 7), 0);
	FZ_CHECK(prunner_dict_len(dict) == 0, "new dict not empty");

	for (int ops = 0; ops < MAX_OPS && fz_more(&in); ops++) {
		switch (fz_u8(&in) % N_OPS) {
		case OP_SET_INT:
			op_set_int(&in);
			break;
		case OP_SET_DOUBLE:
			op_set_double(&in);
			break;
		case OP_SET_STRING:
			op_set_string(&in);
			break;
		case OP_SET_BLOB:
			op_set_blob(&in);
			break;
		case OP_GET_INT:
			op_get_int(&in);
			break;
		case OP_GET_DOUBLE:
			op_get_double(&in);
			break;
		case OP_GET_STRING:
			op_get_bytes(&in, PRUNNER_TYPE_STRING);
			break;
		case OP_GET_BLOB:
			op_get_bytes(&in, PRUNNER_TYPE_BLOB);
			break;
		case OP_ADD_INT:
			op_add_int(&in);
			break;
		case OP_TYPE:
			op_type(&in);
			break;
		case OP_DELETE:
			op_delete(&in);
			break;
		case OP_LEN:
			check_len();
			break;
		case OP_CLEAR:
			FZ_RC(prunner_dict_clear(dict), 0);
			model_clear();
			check_len();
			break;
		case OP_FOREACH:
			op_foreach(&in);
			break;
		case OP_NULL_DICT:
			op_null_dict();
			break;
		case OP_CHECK_ALL:
			check_all();
			break;
		case OP_BULK:
			op_bulk(&in);
			break;
		case OP_DELETE_SOME:
			op_delete_some(&in);
			break;
		}
	}

	check_all();
	walk(0, false);
	pr_dict_free(dict);
	pr_dict_free(other);
	dict = other = NULL;
	model_clear();
	ring_clear();
	return 0;
}
