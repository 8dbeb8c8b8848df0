/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Persistent collections (IP, GLOBAL, SESSION, USER, RESOURCE) kept in
 * memory, shared by all transactions on a rule set and guarded by a mutex,
 * found through a seeded hash table (not a list walk: every request with
 * a new client key used to make every later lookup slower).
 * initcol copies a record into the transaction; the transaction's end
 * writes it back. Records expire after SecCollectionTimeout seconds of
 * disuse and variables after their expirevar time. Nothing is written to
 * disk yet, so the state does not survive a restart (docs/waf-engine.md).
 */
#include "waf/txn.h"

#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/error.h"

/* Most records kept; the least recently saved goes first when full. */
#define SK_PSTORE_MAX_RECORDS 100000
/* Most variables per record (CRS uses a handful). */
#define SK_PSTORE_MAX_VARS 256

struct pvar {
    char *name, *value;
    size_t name_len, value_len;
    int64_t expires;
};

struct precord {
    struct precord *hnext;         /* in its hash bucket */
    struct precord *newer, *older; /* by last save */
    uint64_t hash;
    enum sk_var_id coll;
    char *key;
    size_t key_len;
    int64_t last_used;
    struct pvar *vars;
    size_t nvars;
};

/*
 * Records by (collection, key) in a hash table seeded per store (keys
 * carry client data: an IP and a User-Agent hash), and in a list from the
 * most to the least recently saved, so that expiry and eviction take
 * from the old end without looking at the rest.
 */
struct sk_pstore {
    pthread_mutex_t lock;
    struct precord **buckets; /* nbuckets, a power of two */
    size_t nbuckets;
    struct precord *newest, *oldest;
    size_t nrecords;
    uint64_t seed;
};

struct sk_pstore *
sk__pstore_new(void)
{
    struct sk_pstore *s = sk_calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->nbuckets = 1024;
    s->buckets = sk_calloc(s->nbuckets, sizeof(*s->buckets));
    if (s->buckets == NULL || pthread_mutex_init(&s->lock, NULL) != 0) {
        sk_free(s->buckets);
        sk_free(s);
        return NULL;
    }
    /* A seed the client cannot guess, so that it cannot choose keys that
     * share a bucket; without one, the hash still works, unseeded. */
    if (getrandom(&s->seed, sizeof(s->seed), GRND_NONBLOCK) !=
        (ssize_t)sizeof(s->seed))
        s->seed = (uint64_t)(uintptr_t)s ^ (uint64_t)time(NULL);
    return s;
}

static void
record_free(struct precord *r)
{
    for (size_t i = 0; i < r->nvars; i++) {
        sk_free(r->vars[i].name);
        sk_free(r->vars[i].value);
    }
    sk_free(r->vars);
    sk_free(r->key);
    sk_free(r);
}

void
sk__pstore_free(struct sk_pstore *s)
{
    if (s == NULL)
        return;
    struct precord *r = s->newest;
    while (r != NULL) {
        struct precord *n = r->older;
        record_free(r);
        r = n;
    }
    sk_free(s->buckets);
    pthread_mutex_destroy(&s->lock);
    sk_free(s);
}

static uint64_t
key_hash(const struct sk_pstore *s, enum sk_var_id coll, struct sk_str key)
{
    uint64_t h =
        (s->seed ^ ((uint64_t)coll << 32) ^ key.len) * 0x9e3779b97f4a7c15ULL;
    size_t i = 0;
    for (; i + 8 <= key.len; i += 8) {
        uint64_t w;
        memcpy(&w, key.p + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 33;
    }
    uint64_t w = 0;
    if (i < key.len)
        memcpy(&w, key.p + i, key.len - i);
    h = (h ^ w ^ s->seed) * 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 29;
    return h;
}

static void
list_unlink(struct sk_pstore *s, struct precord *r)
{
    if (r->newer != NULL)
        r->newer->older = r->older;
    else
        s->newest = r->older;
    if (r->older != NULL)
        r->older->newer = r->newer;
    else
        s->oldest = r->newer;
    r->newer = r->older = NULL;
}

static void
list_push_newest(struct sk_pstore *s, struct precord *r)
{
    r->newer = NULL;
    r->older = s->newest;
    if (s->newest != NULL)
        s->newest->newer = r;
    s->newest = r;
    if (s->oldest == NULL)
        s->oldest = r;
}

/* Takes `r` out of the store and frees it. */
static void
record_remove(struct sk_pstore *s, struct precord *r)
{
    struct precord **pp = &s->buckets[r->hash & (s->nbuckets - 1)];
    while (*pp != NULL && *pp != r)
        pp = &(*pp)->hnext;
    if (*pp == r)
        *pp = r->hnext;
    list_unlink(s, r);
    s->nrecords--;
    record_free(r);
}

/* Records unused for longer than `timeout` seconds go (the old end). */
static void
expire(struct sk_pstore *s, int64_t now, unsigned timeout)
{
    while (timeout > 0 && s->oldest != NULL &&
           s->oldest->last_used + (int64_t)timeout < now)
        record_remove(s, s->oldest);
}

static struct precord *
find(struct sk_pstore *s, enum sk_var_id coll, struct sk_str key, uint64_t h)
{
    for (struct precord *r = s->buckets[h & (s->nbuckets - 1)]; r != NULL;
         r = r->hnext)
        if (r->hash == h && r->coll == coll && r->key_len == key.len &&
            memcmp(r->key, key.p, key.len) == 0)
            return r;
    return NULL;
}

/* Doubles the buckets when the records outnumber them (best effort). */
static void
maybe_grow(struct sk_pstore *s)
{
    if (s->nrecords < s->nbuckets || s->nbuckets >= (size_t)1 << 20)
        return;
    size_t nb = s->nbuckets * 2;
    struct precord **b = sk_calloc(nb, sizeof(*b));
    if (b == NULL)
        return;
    for (size_t i = 0; i < s->nbuckets; i++) {
        struct precord *r = s->buckets[i];
        while (r != NULL) {
            struct precord *n = r->hnext;
            r->hnext = b[r->hash & (nb - 1)];
            b[r->hash & (nb - 1)] = r;
            r = n;
        }
    }
    sk_free(s->buckets);
    s->buckets = b;
    s->nbuckets = nb;
}

static int save_one(struct sk_waf_txn *t, enum sk_var_id coll,
                    struct sk_str key);

int
sk__pstore_load(struct sk_waf_txn *t, enum sk_var_id coll, struct sk_str key)
{
    struct sk_pstore *s = t->rules->store;
    int64_t now = (int64_t)time(NULL);
    if (t->pstore_loaded[coll] && sk_str_eq(t->pstore_key[coll], key))
        return 0; /* already loaded: keep this transaction's changes */
    if (t->pstore_loaded[coll])
        (void)save_one(t, coll, t->pstore_key[coll]); /* switching keys */
    /* The key is remembered so that the transaction's end saves back. */
    int rc = sk_arena_strdup_str(t->arena, key, &t->pstore_key[coll]);
    if (rc != 0)
        return rc;
    t->pstore_loaded[coll] = true;
    t->colls[coll].n = 0;
    t->colls[coll].gen++;
    t->colls[coll].idx = NULL; /* rebuilt by the first add */
    t->colls[coll].idx_cap = 0;
    uint64_t h = key_hash(s, coll, key);
    pthread_mutex_lock(&s->lock);
    expire(s, now, t->rules->collection_timeout);
    struct precord *r = find(s, coll, key, h);
    if (r != NULL) {
        for (size_t i = 0; i < r->nvars && rc == 0; i++) {
            if (r->vars[i].expires != 0 && r->vars[i].expires <= now)
                continue;
            rc = sk__coll_add(
                t, &t->colls[coll],
                sk_str_make(r->vars[i].name, r->vars[i].name_len),
                sk_str_make(r->vars[i].value, r->vars[i].value_len));
            if (rc == 0)
                t->colls[coll].e[t->colls[coll].n - 1].expires =
                    r->vars[i].expires;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int
save_one(struct sk_waf_txn *t, enum sk_var_id coll, struct sk_str key)
{
    struct sk_pstore *s = t->rules->store;
    const struct sk_coll *c = &t->colls[coll];
    size_t n = c->n < SK_PSTORE_MAX_VARS ? c->n : SK_PSTORE_MAX_VARS;
    struct pvar *vars = sk_calloc(n ? n : 1, sizeof(*vars));
    if (vars == NULL)
        return -SK_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        vars[i].name = sk_malloc(c->e[i].name.len + 1);
        vars[i].value = sk_malloc(c->e[i].value.len + 1);
        if (vars[i].name == NULL || vars[i].value == NULL) {
            for (size_t j = 0; j <= i; j++) {
                sk_free(vars[j].name);
                sk_free(vars[j].value);
            }
            sk_free(vars);
            return -SK_ENOMEM;
        }
        memcpy(vars[i].name, c->e[i].name.p, c->e[i].name.len);
        vars[i].name[c->e[i].name.len] = '\0';
        vars[i].name_len = c->e[i].name.len;
        memcpy(vars[i].value, c->e[i].value.p, c->e[i].value.len);
        vars[i].value[c->e[i].value.len] = '\0';
        vars[i].value_len = c->e[i].value.len;
        vars[i].expires = c->e[i].expires;
    }
    int64_t now = (int64_t)time(NULL);
    uint64_t h = key_hash(s, coll, key);
    pthread_mutex_lock(&s->lock);
    expire(s, now, t->rules->collection_timeout);
    struct precord *r = find(s, coll, key, h);
    if (r == NULL) {
        /* Full: the least recently saved record makes room. */
        if (s->nrecords >= SK_PSTORE_MAX_RECORDS && s->oldest != NULL)
            record_remove(s, s->oldest);
        r = sk_calloc(1, sizeof(*r));
        char *k = sk_malloc(key.len + 1);
        if (r == NULL || k == NULL) {
            sk_free(r);
            sk_free(k);
            r = NULL;
        } else {
            memcpy(k, key.p, key.len);
            k[key.len] = '\0';
            r->key = k;
            r->key_len = key.len;
            r->coll = coll;
            r->hash = h;
            size_t b = h & (s->nbuckets - 1);
            r->hnext = s->buckets[b];
            s->buckets[b] = r;
            list_push_newest(s, r);
            s->nrecords++;
            maybe_grow(s);
        }
    } else {
        list_unlink(s, r);
        list_push_newest(s, r);
    }
    if (r != NULL) {
        for (size_t i = 0; i < r->nvars; i++) {
            sk_free(r->vars[i].name);
            sk_free(r->vars[i].value);
        }
        sk_free(r->vars);
        r->vars = vars;
        r->nvars = n;
        r->last_used = now;
        vars = NULL;
    }
    pthread_mutex_unlock(&s->lock);
    if (vars != NULL) {
        /* The store is full or out of memory: the update is dropped. */
        for (size_t i = 0; i < n; i++) {
            sk_free(vars[i].name);
            sk_free(vars[i].value);
        }
        sk_free(vars);
        return -SK_ENOMEM;
    }
    return 0;
}

void
sk__pstore_save_all(struct sk_waf_txn *t)
{
    static const enum sk_var_id colls[] = {SK_V_IP, SK_V_GLOBAL, SK_V_SESSION,
                                           SK_V_USER, SK_V_RESOURCE};
    for (size_t i = 0; i < sizeof(colls) / sizeof(colls[0]); i++) {
        if (!t->pstore_loaded[colls[i]])
            continue;
        /* Saved once: a second call (phase 5, then free) is a no-op. A
         * failed save loses this transaction's update only. */
        (void)save_one(t, colls[i], t->pstore_key[colls[i]]);
        t->pstore_loaded[colls[i]] = false;
    }
}
