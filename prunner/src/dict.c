/*
 * dict.c - the runner's thread-safe dict: string keys to typed values.
 *
 * Table.  A hash table with separate chaining.  `buckets` is an array of
 * `nbuckets` singly linked chains; nbuckets is a power of two, or 0 while
 * the dict has no table (new, or just cleared).  Each entry is a single
 * allocation holding its chain link, its cached 64-bit hash, its value and
 * its own copy of the key (flexible array member).  The bucket of a key is
 * hash & (nbuckets - 1).  The hash is FNV-1a 64 over the key bytes followed
 * by murmur3's 64-bit finaliser, so that the low bits used as the index
 * depend on every byte of the key.  (Not keyed: a program that lets an
 * adversary choose millions of keys can make chains long.  Keys here come
 * from the program itself.)
 *
 * Growth.  Before an insert that would raise the load factor count/nbuckets
 * above 3/4, the table doubles (the first insert allocates 16 buckets).
 * Entries are relinked by their cached hash; keys are not rehashed.  So
 * lookups stay O(1) on average and inserts O(1) amortised; one insert in a
 * while pays for a rehash of the whole table under the lock (a pause of
 * about 35 ms at 1 million keys and 130 ms at 5 million on the machine this
 * was written on).  If the larger table cannot be allocated the insert
 * fails with -ENOMEM and the dict is unchanged: the 3/4 bound always holds.
 * The table never shrinks on delete (a dict that once held N keys keeps its
 * bucket array, 8 bytes per bucket, 11 to 21 bytes per key of the peak);
 * prunner_dict_clear() frees the array and every entry, and the next insert
 * starts again at 16 buckets.
 *
 * Ownership.  Keys are copied into their entry.  String and blob values are
 * copied into a heap buffer of size + 1 bytes owned by the entry and always
 * NUL-terminated (so an empty blob still has a non-NULL pointer and a
 * string can be handed out as-is); ints and doubles live in the entry.
 * Getters copy out under the lock.  Nothing the caller passes is retained,
 * and no pointer into the dict escapes, except the entry view given to a
 * prunner_dict_foreach() callback, valid only during that callback.  The
 * copy of a new string/blob value is made before taking the lock and the
 * buffer it replaces is freed after releasing it, so the lock is never held
 * across a copy-in of a large value or a free of one.
 *
 * Locking.  One mutex per dict, `lock`, protects every field except
 * `walker` (below).  Every call takes it exactly once, so each call is
 * atomic with respect to the others; prunner_dict_add_int() is a
 * read-modify-write under it.  No call takes any other lock while holding
 * it; only prunner_dict_foreach() runs user code while holding it.
 *
 * Re-entry from a foreach callback.  The mutex is not recursive, so a
 * callback calling back into the same dict would deadlock.  Instead, such
 * calls return -EDEADLK.  prunner_dict_foreach() stores in `walker` the
 * address of a thread-local tag (`walker_tag`, one per thread, so its
 * address identifies the thread while it lives) after taking the lock, and
 * stores NULL before releasing it.  Every entry point first compares
 * `walker` with its own thread's tag, without the lock; equality means
 * "this thread is walking this dict and holds its lock".  Why relaxed loads
 * and stores are enough: a thread only needs to recognise its own tag.  If
 * it is walking, it wrote its tag itself (sequenced before the check) and
 * no one else can have written since, as writes to `walker` happen only
 * under the lock, which it holds; so it reads its tag.  If it is not
 * walking, its own last write was NULL and every later write in the
 * modification order is NULL or another thread's tag; by coherence it
 * cannot read a value older than its own last write, so it never mistakes
 * another walk for its own.  Other threads then just wait on the lock.
 * (The pthread_t of the walker is not stored: reading a plain pthread_t
 * written by another thread under a lock we do not hold is a data race.)
 * A callback may walk another dict; a callback of that walk calling into
 * the first dict still gets -EDEADLK, since each dict records its walker.
 */
#include "dict.h"
#include "fault.h"
#include "util.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* get_string() returns the length as an int. */
_Static_assert(PRUNNER_DICT_MAX_VALUE <= (size_t)INT_MAX, "string lengths must fit in an int");

#define DICT_MIN_BUCKETS ((size_t)16)

/* A value, as stored in an entry or built by a setter. */
struct value {
	enum prunner_type type;
	union {
		int64_t i; /* PRUNNER_TYPE_INT */
		double d;  /* PRUNNER_TYPE_DOUBLE */
	} u;
	/* PRUNNER_TYPE_STRING / _BLOB: `size` bytes plus a NUL, owned by the
	 * entry (by the setter until stored).  NULL for ints and doubles. */
	char *buf;
	size_t size;
};

/* One key.  Every field is protected by the dict's lock. */
struct entry {
	struct entry *next; /* next in the bucket's chain */
	uint64_t hash;      /* hash_key(key, keylen), cached for growth */
	struct value v;
	size_t keylen; /* strlen(key) */
	char key[];    /* keylen bytes plus a NUL */
};

struct prunner_dict {
	pthread_mutex_t lock; /* protects the fields below except `walker` */

	struct entry **buckets; /* nbuckets chains; NULL when nbuckets is 0 */
	size_t nbuckets;        /* 0 or a power of two >= DICT_MIN_BUCKETS */
	size_t count;           /* number of entries; <= nbuckets * 3 / 4 */

	/* &walker_tag of the thread inside prunner_dict_foreach() on this
	 * dict, or NULL.  Written only with `lock` held (by that thread, at
	 * the start and end of its walk); read without it by every entry
	 * point, relaxed: see "Re-entry" at the top of the file. */
	_Atomic(char *) walker;
};

/* A thread's identity for `walker`: only its address is used. */
static PR_THREAD_LOCAL char walker_tag;

/* A key checked and hashed by enter(). */
struct key {
	const char *s;
	size_t len;
	uint64_t hash;
};

/* ------------------------------------------------------------------------ */
/* Locking                                                                  */
/* ------------------------------------------------------------------------ */

static void die_pthread(const char *what, int err, const char *file, int line)
{
	fprintf(stderr, "prunner: %s:%d: %s failed with error %d; aborting\n", file, line, what, err);
	abort();
}

/* A default mutex can only fail here when it is corrupt or was destroyed:
 * a bug, not a condition to report. */
static void lock_or_die(pthread_mutex_t *m, const char *file, int line)
{
	int err = pthread_mutex_lock(m);
	if (err != 0)
		die_pthread("pthread_mutex_lock", err, file, line);
}

static void unlock_or_die(pthread_mutex_t *m, const char *file, int line)
{
	int err = pthread_mutex_unlock(m);
	if (err != 0)
		die_pthread("pthread_mutex_unlock", err, file, line);
}

#define DICT_LOCK(d)   lock_or_die(&(d)->lock, __FILE__, __LINE__)
#define DICT_UNLOCK(d) unlock_or_die(&(d)->lock, __FILE__, __LINE__)

/* True when the calling thread is inside prunner_dict_foreach() on d, so
 * it already holds d->lock.  See "Re-entry" at the top for the ordering. */
static bool walking_here(struct prunner_dict *d)
{
	return atomic_load_explicit(&d->walker, memory_order_relaxed) == &walker_tag;
}

/* ------------------------------------------------------------------------ */
/* Hashing and the table (every *_locked function needs d->lock held)       */
/* ------------------------------------------------------------------------ */

static uint64_t hash_key(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325u; /* FNV-1a 64 offset basis */

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3u; /* FNV 64 prime */
	}
	/* murmur3 fmix64: spreads every bit into the low (index) bits. */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdu;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53u;
	h ^= h >> 33;
	return h;
}

/*
 * The common prologue of every call taking a key: -EINVAL for a NULL dict
 * or key, -E2BIG for a key longer than PRUNNER_DICT_MAX_KEY (also for
 * lookups: such a key can never be present, and saying so is more useful
 * than -ENOENT) or a value_size over PRUNNER_DICT_MAX_VALUE (0 for calls
 * without a value), -EDEADLK from a foreach callback of the same dict: in
 * the header's order.  Fills *k.  Takes no lock.
 */
static int enter(struct prunner_dict *d, const char *key, size_t value_size, struct key *k)
{
	if (!d || !key)
		return -EINVAL;
	k->s = key;
	k->len = strnlen(key, PRUNNER_DICT_MAX_KEY + 1);
	if (k->len > PRUNNER_DICT_MAX_KEY || value_size > PRUNNER_DICT_MAX_VALUE)
		return -E2BIG;
	if (walking_here(d))
		return -EDEADLK;
	k->hash = hash_key(key, k->len);
	return 0;
}

/* The link that points to k's entry (for unlinking), or NULL if absent. */
static struct entry **find_link_locked(struct prunner_dict *d, const struct key *k)
{
	if (d->nbuckets == 0)
		return NULL;
	for (struct entry **pp = &d->buckets[k->hash & (d->nbuckets - 1)]; *pp; pp = &(*pp)->next) {
		const struct entry *e = *pp;
		if (e->hash == k->hash && e->keylen == k->len && memcmp(e->key, k->s, k->len) == 0)
			return pp;
	}
	return NULL;
}

static struct entry *find_locked(struct prunner_dict *d, const struct key *k)
{
	struct entry **pp = find_link_locked(d, k);
	return pp ? *pp : NULL;
}

/* Doubles the table (or creates it).  -ENOMEM leaves it as it was. */
static int grow_locked(struct prunner_dict *d)
{
	size_t n = d->nbuckets ? d->nbuckets * 2 : DICT_MIN_BUCKETS;

	if (d->nbuckets > SIZE_MAX / 2 / sizeof(struct entry *))
		return -ENOMEM;
	struct entry **nb = pr_calloc(n, sizeof *nb);
	if (!nb)
		return -ENOMEM;
	for (size_t i = 0; i < d->nbuckets; i++) {
		struct entry *e = d->buckets[i];
		while (e) {
			struct entry *next = e->next;
			struct entry **slot = &nb[e->hash & (n - 1)];
			e->next = *slot;
			*slot = e;
			e = next;
		}
	}
	pr_free(d->buckets);
	d->buckets = nb;
	d->nbuckets = n;
	return 0;
}

/*
 * Adds a new entry for k (which must be absent) holding *v; on success the
 * entry owns v->buf.  -ENOMEM leaves the dict unchanged and v->buf with the
 * caller.
 */
static int insert_locked(struct prunner_dict *d, const struct key *k, const struct value *v)
{
	struct entry *e = pr_malloc(sizeof *e + k->len + 1);

	if (!e)
		return -ENOMEM;
	/* Keep count <= 3/4 of nbuckets (nbuckets / 4 * 3 is exact for the
	 * powers of two used, and 0 when there is no table yet). */
	if (d->count + 1 > d->nbuckets / 4 * 3) {
		int rc = grow_locked(d);
		if (rc != 0) {
			pr_free(e);
			return rc;
		}
	}
	e->hash = k->hash;
	e->v = *v;
	e->keylen = k->len;
	memcpy(e->key, k->s, k->len);
	e->key[k->len] = '\0';

	struct entry **slot = &d->buckets[k->hash & (d->nbuckets - 1)];
	e->next = *slot;
	*slot = e;
	d->count++;
	return 0;
}

static void free_entry(struct entry *e)
{
	pr_free(e->v.buf);
	pr_free(e);
}

/* Frees a detached bucket array and every entry in it. */
static void free_table(struct entry **buckets, size_t nbuckets)
{
	for (size_t i = 0; i < nbuckets; i++) {
		struct entry *e = buckets[i];
		while (e) {
			struct entry *next = e->next;
			free_entry(e);
			e = next;
		}
	}
	pr_free(buckets);
}

/*
 * Stores *nv at k, replacing any value of any type, or adding the key.
 * Takes the lock.  On success the dict owns nv->buf; on failure (-ENOMEM,
 * dict unchanged) nv->buf is freed.  The replaced buffer is freed after the
 * lock is released.
 */
static int store(struct prunner_dict *d, const struct key *k, struct value *nv)
{
	char *old = NULL;
	int rc = 0;

	DICT_LOCK(d);
	struct entry *e = find_locked(d, k);
	if (e) {
		old = e->v.buf;
		e->v = *nv;
	} else {
		rc = insert_locked(d, k, nv);
	}
	DICT_UNLOCK(d);

	if (rc != 0)
		pr_free(nv->buf);
	pr_free(old);
	return rc;
}

/* A NUL-terminated heap copy of n bytes at src (src may be NULL if n is 0). */
static char *copy_bytes(const void *src, size_t n)
{
	char *p = pr_malloc(n + 1);

	if (!p)
		return NULL;
	if (n > 0)
		memcpy(p, src, n);
	p[n] = '\0';
	return p;
}

/* Two's-complement wrap-around addition without signed overflow (UB) and
 * without relying on the implementation-defined unsigned-to-signed
 * conversion; compilers turn it into a plain add. */
static int64_t wrap_add(int64_t a, int64_t b)
{
	uint64_t s = (uint64_t)a + (uint64_t)b;

	if (s <= (uint64_t)INT64_MAX)
		return (int64_t)s;
	return -(int64_t)(UINT64_MAX - s) - 1;
}

/* ------------------------------------------------------------------------ */
/* Internal interface (dict.h)                                              */
/* ------------------------------------------------------------------------ */

struct prunner_dict *pr_dict_new(void)
{
	struct prunner_dict *d = pr_calloc(1, sizeof *d);

	if (!d)
		return NULL;
	if (pthread_mutex_init(&d->lock, NULL) != 0) {
		pr_free(d);
		return NULL;
	}
	d->buckets = NULL;
	d->nbuckets = 0;
	d->count = 0;
	atomic_init(&d->walker, NULL);
	return d;
}

void pr_dict_free(struct prunner_dict *d)
{
	if (!d)
		return;
	/* EBUSY here means the dict is being freed while locked (from a
	 * foreach callback, or while another thread uses it): a bug. */
	int err = pthread_mutex_destroy(&d->lock);
	if (err != 0)
		die_pthread("pthread_mutex_destroy", err, __FILE__, __LINE__);
	free_table(d->buckets, d->nbuckets);
	pr_free(d);
}

/* ------------------------------------------------------------------------ */
/* Setters                                                                  */
/* ------------------------------------------------------------------------ */

int prunner_dict_set_int(struct prunner_dict *d, const char *key, int64_t value)
{
	struct key k;
	int rc = enter(d, key, 0, &k);

	if (rc != 0)
		return rc;
	struct value v = {.type = PRUNNER_TYPE_INT, .u.i = value};
	return store(d, &k, &v);
}

int prunner_dict_set_double(struct prunner_dict *d, const char *key, double value)
{
	struct key k;
	int rc = enter(d, key, 0, &k);

	if (rc != 0)
		return rc;
	struct value v = {.type = PRUNNER_TYPE_DOUBLE, .u.d = value};
	return store(d, &k, &v);
}

int prunner_dict_set_string(struct prunner_dict *d, const char *key, const char *value)
{
	struct key k;

	if (!value)
		return -EINVAL;
	size_t n = strnlen(value, PRUNNER_DICT_MAX_VALUE + 1);
	int rc = enter(d, key, n, &k);
	if (rc != 0)
		return rc;
	struct value v = {.type = PRUNNER_TYPE_STRING, .buf = copy_bytes(value, n), .size = n};
	if (!v.buf)
		return -ENOMEM;
	return store(d, &k, &v);
}

int prunner_dict_set_blob(struct prunner_dict *d, const char *key, const void *data, size_t size)
{
	struct key k;

	if (!data && size > 0)
		return -EINVAL;
	int rc = enter(d, key, size, &k);
	if (rc != 0)
		return rc;
	struct value v = {.type = PRUNNER_TYPE_BLOB, .buf = copy_bytes(data, size), .size = size};
	if (!v.buf)
		return -ENOMEM;
	return store(d, &k, &v);
}

int prunner_dict_add_int(struct prunner_dict *d, const char *key, int64_t delta, int64_t *out_new)
{
	struct key k;
	int rc = enter(d, key, 0, &k);

	if (rc != 0)
		return rc;

	int64_t result = delta;
	DICT_LOCK(d);
	struct entry *e = find_locked(d, &k);
	if (!e) {
		struct value v = {.type = PRUNNER_TYPE_INT, .u.i = delta};
		rc = insert_locked(d, &k, &v);
	} else if (e->v.type != PRUNNER_TYPE_INT) {
		rc = PRUNNER_ETYPE;
	} else {
		e->v.u.i = wrap_add(e->v.u.i, delta);
		result = e->v.u.i;
	}
	DICT_UNLOCK(d);

	if (rc == 0 && out_new)
		*out_new = result;
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Getters                                                                  */
/* ------------------------------------------------------------------------ */

/* Shared by get_int and get_double: copies the scalar of `type` at key into
 * *out (written only on success). */
static int get_scalar(struct prunner_dict *d, const char *key, enum prunner_type type, void *out, size_t size)
{
	struct key k;

	if (!out)
		return -EINVAL;
	int rc = enter(d, key, 0, &k);
	if (rc != 0)
		return rc;

	struct value val;
	DICT_LOCK(d);
	const struct entry *e = find_locked(d, &k);
	if (!e)
		rc = -ENOENT;
	else if (e->v.type != type)
		rc = PRUNNER_ETYPE;
	else
		val = e->v;
	DICT_UNLOCK(d);

	if (rc == 0)
		memcpy(out, type == PRUNNER_TYPE_INT ? (const void *)&val.u.i : (const void *)&val.u.d, size);
	return rc;
}

int prunner_dict_get_int(struct prunner_dict *d, const char *key, int64_t *out)
{
	return get_scalar(d, key, PRUNNER_TYPE_INT, out, sizeof(*out));
}

int prunner_dict_get_double(struct prunner_dict *d, const char *key, double *out)
{
	return get_scalar(d, key, PRUNNER_TYPE_DOUBLE, out, sizeof(*out));
}

/*
 * Shared by get_string and get_blob: copies the `type` value at k into buf
 * when `need` (its size, plus 1 for a string's NUL) fits in cap.  Returns
 * 0, -ERANGE (nothing copied), -ENOENT or PRUNNER_ETYPE; *size_out gets
 * the value's size for 0 and -ERANGE.  buf may be NULL only when cap is 0.
 */
static int copy_out(struct prunner_dict *d, const struct key *k, enum prunner_type type, void *buf,
                    size_t cap, size_t *size_out)
{
	int rc = 0;

	DICT_LOCK(d);
	const struct entry *e = find_locked(d, k);
	if (!e) {
		rc = -ENOENT;
	} else if (e->v.type != type) {
		rc = PRUNNER_ETYPE;
	} else {
		size_t size = e->v.size;
		size_t need = type == PRUNNER_TYPE_STRING ? size + 1 : size;
		*size_out = size;
		if (need > cap)
			rc = -ERANGE;
		else if (need > 0)
			memcpy(buf, e->v.buf, need); /* a string's copy includes the NUL */
	}
	DICT_UNLOCK(d);
	return rc;
}

/* Shared by get_string and get_blob: argument checks, copy_out, and the
 * length reported in *len_out on success and on -ERANGE. */
static int get_bytes(struct prunner_dict *d, const char *key, enum prunner_type type, void *buf, size_t cap,
                     size_t *len_out, size_t *len)
{
	struct key k;

	if (!buf && cap > 0)
		return -EINVAL;
	int rc = enter(d, key, 0, &k);
	if (rc != 0)
		return rc;
	*len = 0;
	rc = copy_out(d, &k, type, buf, cap, len);
	if ((rc == 0 || rc == -ERANGE) && len_out)
		*len_out = *len;
	return rc;
}

int prunner_dict_get_string(struct prunner_dict *d, const char *key, char *buf, size_t cap, size_t *len_out)
{
	size_t len;
	int rc = get_bytes(d, key, PRUNNER_TYPE_STRING, buf, cap, len_out, &len);
	return rc == 0 ? (int)len : rc; /* len <= PRUNNER_DICT_MAX_VALUE <= INT_MAX */
}

int prunner_dict_get_blob(struct prunner_dict *d, const char *key, void *buf, size_t cap, size_t *len_out)
{
	size_t len;
	return get_bytes(d, key, PRUNNER_TYPE_BLOB, buf, cap, len_out, &len);
}

int prunner_dict_type(struct prunner_dict *d, const char *key, enum prunner_type *out)
{
	struct key k;

	if (!out)
		return -EINVAL;
	int rc = enter(d, key, 0, &k);
	if (rc != 0)
		return rc;

	enum prunner_type t = PRUNNER_TYPE_INT;
	DICT_LOCK(d);
	const struct entry *e = find_locked(d, &k);
	if (e)
		t = e->v.type;
	else
		rc = -ENOENT;
	DICT_UNLOCK(d);

	if (rc == 0)
		*out = t;
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Removal, size, walk                                                      */
/* ------------------------------------------------------------------------ */

int prunner_dict_delete(struct prunner_dict *d, const char *key)
{
	struct key k;
	int rc = enter(d, key, 0, &k);

	if (rc != 0)
		return rc;

	struct entry *e = NULL;
	DICT_LOCK(d);
	struct entry **pp = find_link_locked(d, &k);
	if (pp) {
		e = *pp;
		*pp = e->next;
		d->count--;
	}
	DICT_UNLOCK(d);

	if (!e)
		return -ENOENT;
	free_entry(e);
	return 0;
}

size_t prunner_dict_len(struct prunner_dict *d)
{
	if (!d)
		return 0;
	/* From a foreach callback of d this thread already holds d->lock (and
	 * the callback cannot change the dict), so the read is protected. */
	if (walking_here(d))
		return d->count;

	DICT_LOCK(d);
	size_t n = d->count;
	DICT_UNLOCK(d);
	return n;
}

int prunner_dict_clear(struct prunner_dict *d)
{
	if (!d)
		return -EINVAL;
	if (walking_here(d))
		return -EDEADLK;

	/* Detach the table under the lock, free it outside. */
	DICT_LOCK(d);
	struct entry **buckets = d->buckets;
	size_t nbuckets = d->nbuckets;
	d->buckets = NULL;
	d->nbuckets = 0;
	d->count = 0;
	DICT_UNLOCK(d);

	free_table(buckets, nbuckets);
	return 0;
}

int prunner_dict_foreach(struct prunner_dict *d, int (*cb)(const struct prunner_dict_entry *entry, void *arg),
                         void *arg)
{
	if (!d || !cb)
		return -EINVAL;
	if (walking_here(d))
		return -EDEADLK;

	int rc = 0;
	DICT_LOCK(d);
	/* Relaxed, written with the lock held: see "Re-entry" at the top. */
	atomic_store_explicit(&d->walker, &walker_tag, memory_order_relaxed);
	for (size_t i = 0; i < d->nbuckets && rc == 0; i++) {
		for (const struct entry *e = d->buckets[i]; e && rc == 0; e = e->next) {
			struct prunner_dict_entry view = {.key = e->key, .type = e->v.type};
			switch (e->v.type) {
			case PRUNNER_TYPE_INT:
				view.i = e->v.u.i;
				break;
			case PRUNNER_TYPE_DOUBLE:
				view.d = e->v.u.d;
				break;
			case PRUNNER_TYPE_STRING:
				view.str = e->v.buf;
				view.size = e->v.size;
				break;
			case PRUNNER_TYPE_BLOB:
				view.blob = e->v.buf;
				view.size = e->v.size;
				break;
			}
			rc = cb(&view, arg);
		}
	}
	atomic_store_explicit(&d->walker, NULL, memory_order_relaxed);
	DICT_UNLOCK(d);
	return rc;
}
