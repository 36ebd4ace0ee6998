/*
 * The PMDK (libpmemobj) half of bench/compare-pmdk: the same micro operations and
 * workloads as crndm's `pmdk_ops` bench and `bst`, `kvstore`, `list` examples, written
 * with libpmemobj transactions (TX_BEGIN, pmemobj_tx_add_range, pmemobj_tx_alloc/free).
 *
 *   pmdk_bench OP N DIR
 *
 * OP: empty | update8 | update4k | allocfree64 | alloc64+free64 | bst | kv | list.
 * Creates a fresh pool in DIR, warms up (micro operations), runs N operations and prints
 *
 *   RESULT <name> <ns per op>
 *
 * once per micro operation, and once per phase of a workload (bst_insert, bst_lookup,
 * kv_put, kv_get, list_push, list_pop). Run with PMEM_IS_PMEM_FORCE=1 on /dev/shm so
 * libpmem flushes with clwb/clflushopt + sfence, as crndm does with CRNDM_FORCE_PMEM=1.
 *
 * Keys come from the same splitmix64 sequence as the Rust side, so trees and hash
 * chains have the same shapes.
 */
#define _GNU_SOURCE
#include <libpmemobj.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define KV_BUCKETS (1u << 16)

POBJ_LAYOUT_BEGIN(bench);
POBJ_LAYOUT_ROOT(bench, struct root);
POBJ_LAYOUT_TOID(bench, struct bytes64);
POBJ_LAYOUT_TOID(bench, struct node);
POBJ_LAYOUT_TOID(bench, struct entry);
POBJ_LAYOUT_TOID(bench, struct table);
POBJ_LAYOUT_TOID(bench, struct item);
POBJ_LAYOUT_END(bench);

struct bytes64 { uint8_t b[64]; };
/* BST node: key, value, children. */
struct node { uint64_t key; uint64_t value; TOID(struct node) left, right; };
/* KV entry: key, 16 B value, next in the bucket's chain. */
struct entry { uint64_t key; uint8_t value[16]; TOID(struct entry) next; };
struct table { TOID(struct entry) buckets[KV_BUCKETS]; };
/* List item. */
struct item { uint64_t value; TOID(struct item) next; };

struct root {
    uint64_t word;
    uint8_t page[4096];
    TOID(struct bytes64) slot;
    TOID(struct node) tree;
    TOID(struct table) table;
    TOID(struct item) head;
};

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static void die(const char *what) {
    fprintf(stderr, "pmdk_bench: %s: %s\n", what, pmemobj_errormsg());
    exit(1);
}

static PMEMobjpool *pop;
static struct root *rp;

/* ---- micro operations ---- */

static void op_empty(uint64_t i) {
    (void)i;
    TX_BEGIN(pop) {
    } TX_ONABORT { die("tx"); } TX_END
}

static void op_update8(uint64_t i) {
    TX_BEGIN(pop) {
        pmemobj_tx_add_range_direct(&rp->word, sizeof rp->word);
        rp->word = i;
    } TX_ONABORT { die("tx"); } TX_END
}

static void op_update4k(uint64_t i) {
    TX_BEGIN(pop) {
        pmemobj_tx_add_range_direct(rp->page, sizeof rp->page);
        memset(rp->page, (int)(i & 0xff), sizeof rp->page);
    } TX_ONABORT { die("tx"); } TX_END
}

static void op_allocfree64(uint64_t i) {
    (void)i;
    TX_BEGIN(pop) {
        PMEMoid o = pmemobj_tx_zalloc(sizeof(struct bytes64), TOID_TYPE_NUM(struct bytes64));
        pmemobj_tx_free(o);
    } TX_ONABORT { die("tx"); } TX_END
}

static void op_alloc_then_free64(uint64_t i) {
    (void)i;
    TX_BEGIN(pop) {
        TX_ADD_FIELD_DIRECT(rp, slot);
        rp->slot = TX_ZNEW(struct bytes64);
    } TX_ONABORT { die("tx"); } TX_END
    TX_BEGIN(pop) {
        TX_ADD_FIELD_DIRECT(rp, slot);
        TX_FREE(rp->slot);
        rp->slot = TOID_NULL(struct bytes64);
    } TX_ONABORT { die("tx"); } TX_END
}

static void micro(const char *name, void (*f)(uint64_t), uint64_t n) {
    for (uint64_t i = 0; i < n / 10 + 1; i++) f(i);
    double t0 = now_ns();
    for (uint64_t i = 0; i < n; i++) f(i);
    printf("RESULT %s %.1f\n", name, (now_ns() - t0) / (double)n);
}

/* ---- workloads ---- */

/* Inserts `key` into the tree in one transaction; returns 0 if it was there. */
static int bst_insert(uint64_t key) {
    TOID(struct node) *volatile link = &rp->tree; /* volatile: survives TX's longjmp */
    while (!TOID_IS_NULL(*link)) {
        struct node *n = D_RW(*link);
        if (key == n->key) return 0;
        link = key < n->key ? &n->left : &n->right;
    }
    TX_BEGIN(pop) {
        TOID(struct node) fresh = TX_NEW(struct node);
        struct node *n = D_RW(fresh);
        n->key = key;
        n->value = key;
        n->left = TOID_NULL(struct node);
        n->right = TOID_NULL(struct node);
        pmemobj_tx_add_range_direct(link, sizeof *link);
        *link = fresh;
    } TX_ONABORT { die("tx"); } TX_END
    return 1;
}

static uint64_t bst_lookup(uint64_t key) {
    TOID(struct node) cur = rp->tree;
    while (!TOID_IS_NULL(cur)) {
        const struct node *n = D_RO(cur);
        if (key == n->key) return n->value;
        cur = key < n->key ? n->left : n->right;
    }
    return UINT64_MAX;
}

static void run_bst(uint64_t n) {
    uint64_t s = 42, found = 0;
    double t0 = now_ns();
    for (uint64_t i = 0; i < n; i++) bst_insert(splitmix64(&s));
    printf("RESULT bst_insert %.1f\n", (now_ns() - t0) / (double)n);
    s = 42;
    t0 = now_ns();
    for (uint64_t i = 0; i < n; i++) found += bst_lookup(splitmix64(&s)) != UINT64_MAX;
    printf("RESULT bst_lookup %.1f\n", (now_ns() - t0) / (double)n);
    if (found != n) { fprintf(stderr, "bst: found %lu of %lu\n", found, n); exit(1); }
}

static void kv_put(struct table *t, uint64_t key, uint64_t v) {
    TOID(struct entry) *bucket = &t->buckets[key % KV_BUCKETS];
    for (TOID(struct entry) e = *bucket; !TOID_IS_NULL(e); e = D_RO(e)->next) {
        if (D_RO(e)->key == key) {
            TX_BEGIN(pop) {
                struct entry *p = D_RW(e);
                pmemobj_tx_add_range_direct(p->value, sizeof p->value);
                memcpy(p->value, &v, sizeof v);
                memcpy(p->value + 8, &key, sizeof key);
            } TX_ONABORT { die("tx"); } TX_END
            return;
        }
    }
    TX_BEGIN(pop) {
        TOID(struct entry) fresh = TX_NEW(struct entry);
        struct entry *p = D_RW(fresh);
        p->key = key;
        memcpy(p->value, &v, sizeof v);
        memcpy(p->value + 8, &key, sizeof key);
        p->next = *bucket;
        pmemobj_tx_add_range_direct(bucket, sizeof *bucket);
        *bucket = fresh;
    } TX_ONABORT { die("tx"); } TX_END
}

static int kv_get(const struct table *t, uint64_t key, uint8_t out[16]) {
    for (TOID(struct entry) e = t->buckets[key % KV_BUCKETS]; !TOID_IS_NULL(e);
         e = D_RO(e)->next) {
        if (D_RO(e)->key == key) {
            memcpy(out, D_RO(e)->value, 16);
            return 1;
        }
    }
    return 0;
}

static void run_kv(uint64_t n) {
    TX_BEGIN(pop) {
        TX_ADD_FIELD_DIRECT(rp, table);
        rp->table = TX_ZNEW(struct table);
    } TX_ONABORT { die("tx"); } TX_END
    struct table *t = D_RW(rp->table);
    uint64_t s = 42, found = 0;
    uint8_t out[16];
    double t0 = now_ns();
    for (uint64_t i = 0; i < n; i++) kv_put(t, splitmix64(&s), i);
    printf("RESULT kv_put %.1f\n", (now_ns() - t0) / (double)n);
    s = 42;
    t0 = now_ns();
    for (uint64_t i = 0; i < n; i++) found += kv_get(t, splitmix64(&s), out);
    printf("RESULT kv_get %.1f\n", (now_ns() - t0) / (double)n);
    if (found != n) { fprintf(stderr, "kv: found %lu of %lu\n", found, n); exit(1); }
}

static void run_list(uint64_t n) {
    double t0 = now_ns();
    for (uint64_t i = 0; i < n; i++) {
        TX_BEGIN(pop) {
            TOID(struct item) fresh = TX_NEW(struct item);
            D_RW(fresh)->value = i;
            D_RW(fresh)->next = rp->head;
            TX_ADD_FIELD_DIRECT(rp, head);
            rp->head = fresh;
        } TX_ONABORT { die("tx"); } TX_END
    }
    printf("RESULT list_push %.1f\n", (now_ns() - t0) / (double)n);
    volatile uint64_t sum = 0; /* volatile: survives TX's longjmp */
    t0 = now_ns();
    for (volatile uint64_t i = 0; i < n; i++) {
        TX_BEGIN(pop) {
            TOID(struct item) top = rp->head;
            sum += D_RO(top)->value;
            TX_ADD_FIELD_DIRECT(rp, head);
            rp->head = D_RO(top)->next;
            TX_FREE(top);
        } TX_ONABORT { die("tx"); } TX_END
    }
    printf("RESULT list_pop %.1f\n", (now_ns() - t0) / (double)n);
    if (sum != n * (n - 1) / 2) { fprintf(stderr, "list: bad sum\n"); exit(1); }
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: pmdk_bench OP N DIR\n");
        return 2;
    }
    const char *op = argv[1];
    uint64_t n = strtoull(argv[2], NULL, 10);
    char path[4096];
    snprintf(path, sizeof path, "%s/pmdk-bench-%d.pool", argv[3], (int)getpid());
    unlink(path);
    pop = pmemobj_create(path, POBJ_LAYOUT_NAME(bench), 256u << 20, 0600);
    if (pop == NULL) die("pmemobj_create");
    rp = D_RW(POBJ_ROOT(pop, struct root));

    if (!strcmp(op, "empty")) micro(op, op_empty, n);
    else if (!strcmp(op, "update8")) micro(op, op_update8, n);
    else if (!strcmp(op, "update4k")) micro(op, op_update4k, n);
    else if (!strcmp(op, "allocfree64")) micro(op, op_allocfree64, n);
    else if (!strcmp(op, "alloc64+free64")) micro(op, op_alloc_then_free64, n);
    else if (!strcmp(op, "bst")) run_bst(n);
    else if (!strcmp(op, "kv")) run_kv(n);
    else if (!strcmp(op, "list")) run_list(n);
    else { fprintf(stderr, "pmdk_bench: unknown OP %s\n", op); return 2; }

    pmemobj_close(pop);
    unlink(path);
    return 0;
}
