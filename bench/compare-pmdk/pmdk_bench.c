/*
 * The PMDK (libpmemobj) half of bench/compare-pmdk: the same micro operations and
 * workloads as crndm's `pmdk_ops` bench and `bst`, `kvstore`, `list`, `btree` examples,
 * written with libpmemobj transactions (TX_BEGIN, pmemobj_tx_add_range,
 * pmemobj_tx_alloc/free).
 *
 *   pmdk_bench OP N DIR
 *
 * OP: empty | update8 | update1k | update4k | update16k | update64k | allocfree64 |
 * alloc64+free64 | free64 | bst | kv | list | btree
 * (or btree-check: an untimed self-test of the B-tree, see run_btree_check).
 * Creates a fresh pool in DIR, warms up (micro operations), runs N operations and prints
 *
 *   RESULT <name> <ns per op>
 *
 * once per micro operation, and once per phase of a workload (bst_insert, bst_lookup,
 * kv_put, kv_get, list_push, list_pop, btree_insert, btree_lookup, btree_remove). Run
 * with PMEM_IS_PMEM_FORCE=1 on /dev/shm so libpmem flushes with clwb/clflushopt + sfence,
 * as crndm does with CRNDM_FORCE_PMEM=1.
 *
 * Keys come from the same splitmix64 sequence as the Rust side, so trees and hash
 * chains have the same shapes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <libpmemobj.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define KV_BUCKETS (1u << 16)
/* free64 allocates this many 64 B objects (untimed) before it frees them (timed). */
#define FREE_BATCH 32

/* B-tree of order B, as crndm's PBTreeMap (raw_btree.rs): 5 to 11 entries a node. */
#define BT_B 6
#define BT_CAP (2 * BT_B - 1) /* the most entries a node holds */
#define BT_MIN (BT_B - 1)     /* the fewest entries a non-root node holds */
#define BT_MAX_DEPTH 32       /* levels; 6^31 entries would not fit in a pool */

POBJ_LAYOUT_BEGIN(bench);
POBJ_LAYOUT_ROOT(bench, struct root);
POBJ_LAYOUT_TOID(bench, struct bytes64);
POBJ_LAYOUT_TOID(bench, struct node);
POBJ_LAYOUT_TOID(bench, struct entry);
POBJ_LAYOUT_TOID(bench, struct table);
POBJ_LAYOUT_TOID(bench, struct item);
POBJ_LAYOUT_TOID(bench, struct bnode);
POBJ_LAYOUT_END(bench);

struct bytes64 { uint8_t b[64]; };
/* BST node: key, value, children. */
struct node { uint64_t key; uint64_t value; TOID(struct node) left, right; };
/* KV entry: key, 16 B value, next in the bucket's chain. */
struct entry { uint64_t key; uint8_t value[16]; TOID(struct entry) next; };
struct table { TOID(struct entry) buckets[KV_BUCKETS]; };
/* List item. */
struct item { uint64_t value; TOID(struct item) next; };
/*
 * B-tree node: entries [0, len) are live, in key order; an internal node also has edges
 * [0, len] (edge i leads to the keys between keys i - 1 and i). Leaves are allocated
 * without the edges (BT_LEAF_SIZE), as the Rust side's 184-byte leaves.
 */
struct bnode {
    uint64_t len;
    uint64_t keys[BT_CAP];
    uint64_t vals[BT_CAP];
    TOID(struct bnode) edges[BT_CAP + 1];
};
#define BT_LEAF_SIZE offsetof(struct bnode, edges)
/* B-tree header: the root (null when empty), levels below the root, entries. */
struct btree { TOID(struct bnode) root; uint64_t height; uint64_t len; };

struct root {
    uint64_t word;
    uint8_t page[4096];
    uint8_t page1k[1024];
    uint8_t page16k[16384];
    uint8_t page64k[65536];
    TOID(struct bytes64) slot;
    TOID(struct bytes64) slots[FREE_BATCH];
    TOID(struct node) tree;
    TOID(struct table) table;
    TOID(struct item) head;
    struct btree btree;
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

static void fail(const char *what) {
    fprintf(stderr, "pmdk_bench: %s\n", what);
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

/* One transaction that snapshots the whole of `page` and fills it with a byte of `i`. */
static void update_page(uint8_t *page, size_t len, uint64_t i) {
    TX_BEGIN(pop) {
        pmemobj_tx_add_range_direct(page, len);
        memset(page, (int)(i & 0xff), len);
    } TX_ONABORT { die("tx"); } TX_END
}

static void op_update1k(uint64_t i) { update_page(rp->page1k, sizeof rp->page1k, i); }
static void op_update4k(uint64_t i) { update_page(rp->page, sizeof rp->page, i); }
static void op_update16k(uint64_t i) { update_page(rp->page16k, sizeof rp->page16k, i); }
static void op_update64k(uint64_t i) { update_page(rp->page64k, sizeof rp->page64k, i); }

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

/* free64: `n` transactions that each free one 64 B object, in batches of FREE_BATCH
 * objects allocated beforehand (one transaction each, untimed). Returns the ns spent in
 * the frees. */
static void alloc_slot(unsigned k) {
    TX_BEGIN(pop) {
        TX_ADD_FIELD_DIRECT(rp, slots[k]);
        rp->slots[k] = TX_ZNEW(struct bytes64);
    } TX_ONABORT { die("tx"); } TX_END
}

static void free_slot(unsigned k) {
    TX_BEGIN(pop) {
        TX_ADD_FIELD_DIRECT(rp, slots[k]);
        TX_FREE(rp->slots[k]);
        rp->slots[k] = TOID_NULL(struct bytes64);
    } TX_ONABORT { die("tx"); } TX_END
}

static double free64_batches(uint64_t n) {
    double spent = 0;
    while (n > 0) {
        unsigned batch = n < FREE_BATCH ? (unsigned)n : FREE_BATCH;
        for (unsigned k = 0; k < batch; k++) alloc_slot(k);
        double t0 = now_ns();
        for (unsigned k = 0; k < batch; k++) free_slot(k);
        spent += now_ns() - t0;
        n -= batch;
    }
    return spent;
}

static void run_free64(uint64_t n) {
    free64_batches(n / 10 + 1);
    printf("RESULT free64 %.1f\n", free64_batches(n) / (double)n);
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

/* ---- B-tree ---- */

/*
 * The twin of crndm's PBTreeMap<u64, u64> (crndm-core/src/collections/raw_btree.rs), with
 * the same shapes and the same moves, so both build the same tree from the same keys:
 * no parent pointers (a search keeps its path in DRAM); an insert goes into a leaf and
 * splits full nodes from the leaf up (of the 12 entries the full node keeps the first 5,
 * the median goes up, the last 6 go to a new right node; a full root gets a new root
 * above it); a remove of an internal entry puts its predecessor in its place, and the
 * leaf that lost an entry is rebalanced up the path: borrow from the left sibling, else
 * from the right one, else merge with the left one, else with the right one; a root left
 * with no entries gives way to its only child.
 *
 * Logging: every node is added to the transaction (snapshotted) before it changes, but
 * those the transaction allocated (libpmemobj flushes them at commit); nodes that
 * disappear are freed with TX_FREE.
 */

/* The internal nodes above a position in the tree, with the edge taken at each. */
struct bt_path {
    unsigned depth;
    struct bnode *node[BT_MAX_DEPTH];
    unsigned idx[BT_MAX_DEPTH];
};

/* An entry on its way into a node, with the edge right of it (internal levels only). */
struct bt_ins {
    uint64_t key, val;
    TOID(struct bnode) edge;
};

static void bt_push(struct bt_path *p, struct bnode *n, unsigned idx) {
    if (p->depth == BT_MAX_DEPTH) fail("btree: deeper than BT_MAX_DEPTH");
    p->node[p->depth] = n;
    p->idx[p->depth++] = idx;
}

/* Adds the whole node `n` to the running transaction before it changes (adding it again
 * costs a lookup). One range a node: libpmemobj's cost is mostly per range, so this is
 * faster than adding just the slots that change (measured: about 30% on inserts, 35% on
 * removes). */
static void bt_snap(struct bnode *n, int internal) {
    pmemobj_tx_add_range_direct(n, internal ? sizeof(struct bnode) : BT_LEAF_SIZE);
}

/* Allocates an empty node in the running transaction (a leaf without the edges). */
static TOID(struct bnode) bt_new_node(int internal) {
    TOID(struct bnode) oid =
        TX_ALLOC(struct bnode, internal ? sizeof(struct bnode) : BT_LEAF_SIZE);
    D_RW(oid)->len = 0;
    return oid;
}

/* Searches for `key` from the root, recording the internal nodes passed in `path`.
 * Returns 1 with the node, index and level (leaves: 0) of the entry holding `key`, or
 * 0 with the leaf and index where it would go (*at is NULL if the tree is empty). */
static int bt_search(uint64_t key, struct bt_path *path, struct bnode **at, unsigned *idx,
                     unsigned *level) {
    path->depth = 0;
    *at = NULL;
    *idx = 0;
    *level = 0;
    if (TOID_IS_NULL(rp->btree.root)) return 0;
    struct bnode *n = D_RW(rp->btree.root);
    for (unsigned l = (unsigned)rp->btree.height;; l--) {
        unsigned len = (unsigned)n->len, i = 0;
        while (i < len && n->keys[i] < key) i++;
        if (i < len && n->keys[i] == key) {
            *at = n, *idx = i, *level = l;
            return 1;
        }
        if (l == 0) {
            *at = n, *idx = i;
            return 0;
        }
        bt_push(path, n, i);
        n = D_RW(n->edges[i]);
    }
}

static uint64_t bt_lookup(uint64_t key) {
    if (TOID_IS_NULL(rp->btree.root)) return UINT64_MAX;
    const struct bnode *n = D_RO(rp->btree.root);
    for (unsigned l = (unsigned)rp->btree.height;; l--) {
        unsigned len = (unsigned)n->len, i = 0;
        while (i < len && n->keys[i] < key) i++;
        if (i < len && n->keys[i] == key) return n->vals[i];
        if (l == 0) return UINT64_MAX;
        n = D_RO(n->edges[i]);
    }
}

/* Inserts `ins` at `idx` of `n`, which has room (and for an internal node its edge at
 * idx + 1). */
static void bt_insert_fit(struct bnode *n, int fresh, int internal, unsigned idx,
                          struct bt_ins ins) {
    unsigned len = (unsigned)n->len;
    if (len >= BT_CAP || idx > len) fail("btree: insert into a full node");
    if (!fresh) bt_snap(n, internal);
    memmove(&n->keys[idx + 1], &n->keys[idx], (len - idx) * sizeof n->keys[0]);
    memmove(&n->vals[idx + 1], &n->vals[idx], (len - idx) * sizeof n->vals[0]);
    n->keys[idx] = ins.key;
    n->vals[idx] = ins.val;
    if (internal) {
        memmove(&n->edges[idx + 2], &n->edges[idx + 1], (len - idx) * sizeof n->edges[0]);
        n->edges[idx + 1] = ins.edge;
    }
    n->len = len + 1;
}

/* Moves the entries [from, len) of the full node `n` (and its edges after the first,
 * [from + 1, len]) into the fresh empty node `r`, whose first edge becomes *first (or
 * n's edge `from`); `n` keeps `keep` entries. */
static void bt_split_into(struct bnode *n, struct bnode *r, int internal, unsigned from,
                          unsigned keep, const TOID(struct bnode) *first) {
    unsigned count = (unsigned)n->len - from;
    memcpy(r->keys, &n->keys[from], count * sizeof n->keys[0]);
    memcpy(r->vals, &n->vals[from], count * sizeof n->vals[0]);
    if (internal) {
        r->edges[0] = first != NULL ? *first : n->edges[from];
        memcpy(&r->edges[1], &n->edges[from + 1], count * sizeof n->edges[0]);
    }
    r->len = count;
    bt_snap(n, internal);
    n->len = keep;
}

/* Splits the full node `n` into itself and the fresh node `r` while inserting `ins` at
 * `idx`: of the 12 entries `n` keeps the first 5, the median goes to *median (its edge
 * is for the caller to set), the last 6 go to `r`. */
static void bt_split_insert(struct bnode *n, struct bnode *r, int internal, unsigned idx,
                            struct bt_ins ins, struct bt_ins *median) {
    if (idx < BT_MIN) { /* the new entry goes left; the median is entry 4 */
        median->key = n->keys[BT_MIN - 1];
        median->val = n->vals[BT_MIN - 1];
        bt_split_into(n, r, internal, BT_MIN, BT_MIN - 1, NULL);
        bt_insert_fit(n, 0, internal, idx, ins);
    } else if (idx == BT_MIN) { /* the new entry is the median; its edge is r's first */
        median->key = ins.key;
        median->val = ins.val;
        bt_split_into(n, r, internal, BT_MIN, BT_MIN, &ins.edge);
    } else { /* the new entry goes right; the median is entry 5 */
        median->key = n->keys[BT_MIN];
        median->val = n->vals[BT_MIN];
        bt_split_into(n, r, internal, BT_MIN + 1, BT_MIN, NULL);
        bt_insert_fit(r, 1, internal, idx - BT_MIN - 1, ins);
    }
}

/* In a transaction: inserts key (value: the key) at the vacant position (n, idx) a
 * search found with `path`, splitting full nodes on the way up. */
static void bt_insert_at(const struct bt_path *path, struct bnode *n, unsigned idx,
                         uint64_t key) {
    struct btree *t = &rp->btree;
    struct bt_ins ins = { key, key, TOID_NULL(struct bnode) };
    if (n == NULL) { /* the empty tree: one leaf becomes the root */
        TOID(struct bnode) leaf = bt_new_node(0);
        bt_insert_fit(D_RW(leaf), 1, 0, 0, ins);
        TX_ADD_DIRECT(t);
        t->root = leaf;
        t->height = 0;
        t->len = 1;
        return;
    }
    unsigned depth = path->depth, level = 0;
    for (;;) {
        int internal = level > 0;
        if (n->len < BT_CAP) {
            bt_insert_fit(n, 0, internal, idx, ins);
            break;
        }
        TOID(struct bnode) right = bt_new_node(internal);
        struct bt_ins median;
        bt_split_insert(n, D_RW(right), internal, idx, ins, &median);
        median.edge = right;
        ins = median;
        if (depth == 0) { /* the root split: a new root above it, the median between */
            TOID(struct bnode) root = bt_new_node(1);
            D_RW(root)->edges[0] = t->root;
            bt_insert_fit(D_RW(root), 1, 1, 0, ins);
            TX_ADD_DIRECT(t);
            t->root = root;
            t->height++;
            break;
        }
        depth--;
        n = path->node[depth];
        idx = path->idx[depth];
        level++;
    }
    TX_ADD_FIELD_DIRECT(t, len);
    t->len++;
}

/* Inserts `key` (value: the key) in one transaction; returns 0 if it was there. */
static int bt_insert(uint64_t key) {
    struct bt_path path;
    struct bnode *at;
    unsigned idx, level;
    if (bt_search(key, &path, &at, &idx, &level)) return 0;
    TX_BEGIN(pop) {
        bt_insert_at(&path, at, idx, key);
    } TX_ONABORT { die("tx"); } TX_END
    return 1;
}

/* Removes entry `idx` of `n` and, if `with_edge`, the edge after it. */
static void bt_remove_kv(struct bnode *n, unsigned idx, int with_edge) {
    unsigned len = (unsigned)n->len;
    bt_snap(n, with_edge);
    memmove(&n->keys[idx], &n->keys[idx + 1], (len - idx - 1) * sizeof n->keys[0]);
    memmove(&n->vals[idx], &n->vals[idx + 1], (len - idx - 1) * sizeof n->vals[0]);
    if (with_edge) {
        memmove(&n->edges[idx + 1], &n->edges[idx + 2],
                (len - idx - 1) * sizeof n->edges[0]);
    }
    n->len = len - 1;
}

/* Moves the last entry of `left` (child pidx - 1 of `p`) up into p's entry pidx - 1,
 * and that one down to the front of `n` (child pidx), with left's last edge. */
static void bt_steal_left(struct bnode *p, unsigned pidx, struct bnode *left,
                          struct bnode *n, int internal) {
    unsigned ll = (unsigned)left->len, nl = (unsigned)n->len;
    bt_snap(n, internal);
    bt_snap(p, 1);
    bt_snap(left, internal);
    memmove(&n->keys[1], &n->keys[0], nl * sizeof n->keys[0]);
    memmove(&n->vals[1], &n->vals[0], nl * sizeof n->vals[0]);
    n->keys[0] = p->keys[pidx - 1];
    n->vals[0] = p->vals[pidx - 1];
    if (internal) {
        memmove(&n->edges[1], &n->edges[0], (nl + 1) * sizeof n->edges[0]);
        n->edges[0] = left->edges[ll];
    }
    p->keys[pidx - 1] = left->keys[ll - 1];
    p->vals[pidx - 1] = left->vals[ll - 1];
    left->len = ll - 1;
    n->len = nl + 1;
}

/* Moves the first entry of `right` (child pidx + 1 of `p`) up into p's entry pidx, and
 * that one down to the end of `n` (child pidx), with right's first edge. */
static void bt_steal_right(struct bnode *p, unsigned pidx, struct bnode *n,
                           struct bnode *right, int internal) {
    unsigned nl = (unsigned)n->len, rl = (unsigned)right->len;
    bt_snap(n, internal);
    bt_snap(p, 1);
    bt_snap(right, internal);
    n->keys[nl] = p->keys[pidx];
    n->vals[nl] = p->vals[pidx];
    if (internal) {
        n->edges[nl + 1] = right->edges[0];
    }
    p->keys[pidx] = right->keys[0];
    p->vals[pidx] = right->vals[0];
    memmove(&right->keys[0], &right->keys[1], (rl - 1) * sizeof right->keys[0]);
    memmove(&right->vals[0], &right->vals[1], (rl - 1) * sizeof right->vals[0]);
    if (internal) {
        memmove(&right->edges[0], &right->edges[1], rl * sizeof right->edges[0]);
    }
    right->len = rl - 1;
    n->len = nl + 1;
}

/* Merges `right` (child kidx + 1 of `p`) and p's entry kidx into `left` (child kidx),
 * removes both from `p` and frees `right`. */
static void bt_merge(struct bnode *p, unsigned kidx, struct bnode *left,
                     struct bnode *right, int internal) {
    TOID(struct bnode) gone = p->edges[kidx + 1];
    unsigned ll = (unsigned)left->len, rl = (unsigned)right->len;
    if (ll + 1 + rl > BT_CAP) fail("btree: merged node does not fit");
    bt_snap(left, internal);
    left->keys[ll] = p->keys[kidx];
    left->vals[ll] = p->vals[kidx];
    memcpy(&left->keys[ll + 1], right->keys, rl * sizeof left->keys[0]);
    memcpy(&left->vals[ll + 1], right->vals, rl * sizeof left->vals[0]);
    if (internal) {
        memcpy(&left->edges[ll + 1], right->edges, (rl + 1) * sizeof left->edges[0]);
    }
    left->len = ll + 1 + rl;
    bt_remove_kv(p, kidx, 1);
    TX_FREE(gone);
}

/* Restores the fill bounds from `n` (a leaf that lost an entry) up `path`. */
static void bt_rebalance(struct bt_path *path, struct bnode *n) {
    struct btree *t = &rp->btree;
    for (unsigned level = 0;; level++) {
        unsigned nl = (unsigned)n->len;
        if (path->depth == 0) { /* n is the root */
            if (nl == 0) { /* emptied: its only child (if any) becomes the root */
                TOID(struct bnode) gone = t->root;
                TX_ADD_DIRECT(t);
                if (level > 0) {
                    t->root = n->edges[0];
                    t->height--;
                } else {
                    t->root = TOID_NULL(struct bnode);
                    t->height = 0;
                }
                TX_FREE(gone);
            }
            return;
        }
        if (nl >= BT_MIN) return;
        path->depth--;
        struct bnode *p = path->node[path->depth];
        unsigned pidx = path->idx[path->depth], pl = (unsigned)p->len;
        int internal = level > 0;
        struct bnode *left = pidx > 0 ? D_RW(p->edges[pidx - 1]) : NULL;
        struct bnode *right = pidx < pl ? D_RW(p->edges[pidx + 1]) : NULL;
        if (left != NULL && left->len > BT_MIN) {
            bt_steal_left(p, pidx, left, n, internal);
            return;
        }
        if (right != NULL && right->len > BT_MIN) {
            bt_steal_right(p, pidx, n, right, internal);
            return;
        }
        if (left != NULL) bt_merge(p, pidx - 1, left, n, internal);
        else if (right != NULL) bt_merge(p, pidx, n, right, internal);
        else fail("btree: a non-root node without a sibling");
        n = p;
    }
}

/* In a transaction: removes entry `idx` of `n` at `level`, found by a search with
 * `path`; an internal entry is replaced by its predecessor. */
static void bt_remove_at(struct bt_path *path, struct bnode *n, unsigned idx,
                         unsigned level) {
    struct bnode *leaf = n;
    if (level == 0) {
        bt_remove_kv(n, idx, 0);
    } else { /* the predecessor: the last entry of the rightmost leaf under edge idx */
        bt_push(path, n, idx);
        leaf = D_RW(n->edges[idx]);
        for (unsigned l = 1; l < level; l++) {
            bt_push(path, leaf, (unsigned)leaf->len);
            leaf = D_RW(leaf->edges[leaf->len]);
        }
        unsigned ll = (unsigned)leaf->len;
        bt_snap(n, 1);
        bt_snap(leaf, 0);
        n->keys[idx] = leaf->keys[ll - 1];
        n->vals[idx] = leaf->vals[ll - 1];
        leaf->len = ll - 1;
    }
    bt_rebalance(path, leaf);
    TX_ADD_FIELD_DIRECT(&rp->btree, len);
    rp->btree.len--;
}

/* Removes `key` in one transaction; returns 0 if it was not there. */
static int bt_remove(uint64_t key) {
    struct bt_path path;
    struct bnode *at;
    unsigned idx, level;
    if (!bt_search(key, &path, &at, &idx, &level)) return 0;
    TX_BEGIN(pop) {
        bt_remove_at(&path, at, idx, level);
    } TX_ONABORT { die("tx"); } TX_END
    return 1;
}

static void run_btree(uint64_t n) {
    uint64_t s = 42, done = 0, found = 0;
    double t0 = now_ns();
    for (uint64_t i = 0; i < n; i++) done += bt_insert(splitmix64(&s));
    printf("RESULT btree_insert %.1f\n", (now_ns() - t0) / (double)n);
    if (done != n) { fprintf(stderr, "btree: inserted %lu of %lu\n", done, n); exit(1); }
    s = 42;
    t0 = now_ns();
    for (uint64_t i = 0; i < n; i++) found += bt_lookup(splitmix64(&s)) != UINT64_MAX;
    printf("RESULT btree_lookup %.1f\n", (now_ns() - t0) / (double)n);
    if (found != n) { fprintf(stderr, "btree: found %lu of %lu\n", found, n); exit(1); }
    s = 42;
    done = 0;
    t0 = now_ns();
    for (uint64_t i = 0; i < n; i++) done += bt_remove(splitmix64(&s));
    printf("RESULT btree_remove %.1f\n", (now_ns() - t0) / (double)n);
    if (done != n) { fprintf(stderr, "btree: removed %lu of %lu\n", done, n); exit(1); }
    if (!TOID_IS_NULL(rp->btree.root) || rp->btree.len != 0) fail("btree: not empty");
}

/* ---- B-tree self-test (pmdk_bench btree-check N DIR; not timed) ---- */

/* Checks the subtree at `n` on `level`, whose keys lie strictly between *lo and *hi
 * (NULL: unbounded): fill bounds, key order, values, leaf/internal allocation sizes.
 * Returns its entries; counts its nodes into *nodes. */
static uint64_t bt_check_node(TOID(struct bnode) oid, unsigned level, int is_root,
                              const uint64_t *lo, const uint64_t *hi, uint64_t *nodes) {
    const struct bnode *n = D_RO(oid);
    unsigned len = (unsigned)n->len;
    if (len < (is_root ? 1u : (unsigned)BT_MIN) || len > BT_CAP)
        fail("btree check: node fill out of bounds");
    if ((pmemobj_alloc_usable_size(oid.oid) >= sizeof(struct bnode)) != (level > 0))
        fail("btree check: leaf/internal node size does not match its level");
    for (unsigned i = 0; i < len; i++) {
        if (i > 0 && n->keys[i - 1] >= n->keys[i]) fail("btree check: keys out of order");
        if ((lo != NULL && n->keys[i] <= *lo) || (hi != NULL && n->keys[i] >= *hi))
            fail("btree check: key outside its parent's bounds");
        if (n->vals[i] != n->keys[i]) fail("btree check: value is not the key");
    }
    uint64_t count = len;
    ++*nodes;
    if (level > 0)
        for (unsigned i = 0; i <= len; i++)
            count += bt_check_node(n->edges[i], level - 1, 0, i > 0 ? &n->keys[i - 1] : lo,
                                   i < len ? &n->keys[i] : hi, nodes);
    return count;
}

/* Checks the whole tree, that its header's count is right, and that every node object
 * of the pool is in it (merges and root shrinks free what they drop). */
static void bt_check(void) {
    const struct btree *t = &rp->btree;
    uint64_t nodes = 0, objects = 0;
    if (TOID_IS_NULL(t->root)) {
        if (t->len != 0 || t->height != 0) fail("btree check: no root, but entries");
    } else if (bt_check_node(t->root, (unsigned)t->height, 1, NULL, NULL, &nodes) !=
               t->len) {
        fail("btree check: entry count differs from the header's");
    }
    TOID(struct bnode) o;
    POBJ_FOREACH_TYPE(pop, o) objects++;
    if (objects != nodes) fail("btree check: node objects that are not in the tree");
}

/* Appends the tree's live contents (lengths, entries, edge offsets) in DFS order to
 * out[*at..]: two dumps are equal iff the trees are. */
static void bt_dump(TOID(struct bnode) oid, unsigned level, uint64_t *out, size_t *at) {
    const struct bnode *n = D_RO(oid);
    out[(*at)++] = n->len;
    for (unsigned i = 0; i < n->len; i++) {
        out[(*at)++] = n->keys[i];
        out[(*at)++] = n->vals[i];
    }
    if (level > 0)
        for (unsigned i = 0; i <= n->len; i++) {
            out[(*at)++] = n->edges[i].oid.off;
            bt_dump(n->edges[i], level - 1, out, at);
        }
}

static size_t bt_dump_all(uint64_t *out) {
    size_t at = 0;
    out[at++] = rp->btree.root.oid.off;
    out[at++] = rp->btree.height;
    out[at++] = rp->btree.len;
    if (!TOID_IS_NULL(rp->btree.root))
        bt_dump(rp->btree.root, (unsigned)rp->btree.height, out, &at);
    return at;
}

/* Runs an insert (or remove) of `key` in an outer transaction that then aborts, and
 * checks that the tree is exactly as before: every byte the operation wrote in a live
 * node was snapshotted first. */
static void bt_check_abort(uint64_t key, int insert, uint64_t *before, uint64_t *after) {
    size_t nb = bt_dump_all(before);
    TX_BEGIN(pop) {
        if (insert) bt_insert(key);
        else bt_remove(key);
        pmemobj_tx_abort(ECANCELED);
    } TX_END
    size_t na = bt_dump_all(after);
    if (na != nb || memcmp(before, after, nb * sizeof *before) != 0)
        fail("btree check: an aborted operation changed the tree");
    bt_check();
}

/*
 * The self-test: a random mix of inserts and removes over keys [0, n) (so both hit
 * present and absent keys) against a DRAM reference, with a full check after each of the
 * first operations and then every n / 16, and every 7th operation also run once in an
 * aborted transaction first; then the benchmark's sequence on splitmix64 keys with checks
 * after the inserts, after half of the removes, and at the end.
 */
static void run_btree_check(uint64_t n) {
    if (n < 16) n = 16;
    /* a tree of n entries has at most n / BT_MIN + 1 nodes, each dumped in < 40 words */
    size_t words = 3 + (n / BT_MIN + 2) * 40;
    uint64_t *before = malloc(words * sizeof *before);
    uint64_t *after = malloc(words * sizeof *after);
    uint8_t *present = calloc(n, 1);
    if (before == NULL || after == NULL || present == NULL) fail("out of memory");
    uint64_t s = 7, live = 0;
    for (uint64_t i = 0; i < 8 * n; i++) {
        uint64_t key = splitmix64(&s) % n;
        /* grow for the first half, shrink for the second */
        int insert = splitmix64(&s) % 100 < (i < 4 * n ? 70u : 30u);
        if (i % 7 == 0) bt_check_abort(key, insert, before, after);
        if (insert) {
            if (bt_insert(key) != !present[key]) fail("btree check: insert result");
            live += !present[key];
            present[key] = 1;
        } else {
            if (bt_remove(key) != present[key]) fail("btree check: remove result");
            live -= present[key];
            present[key] = 0;
        }
        if (rp->btree.len != live) fail("btree check: length");
        if (i < 2000 || i % (n / 16) == 0) {
            bt_check();
            for (uint64_t k = 0; k < n; k++)
                if ((bt_lookup(k) != UINT64_MAX) != present[k]) fail("btree check: lookup");
        }
    }
    fprintf(stderr, "btree-check: random mix done, %lu keys left, height %lu\n", live,
            rp->btree.height);
    for (uint64_t k = 0; k < n; k++)
        if (present[k] && !bt_remove(k)) fail("btree check: draining");
    bt_check();
    if (!TOID_IS_NULL(rp->btree.root)) fail("btree check: not empty after draining");

    s = 42;
    for (uint64_t i = 0; i < n; i++)
        if (!bt_insert(splitmix64(&s))) fail("btree check: duplicate splitmix64 key");
    bt_check();
    fprintf(stderr, "btree-check: %lu splitmix64 keys, height %lu\n", n, rp->btree.height);
    s = 42;
    for (uint64_t i = 0; i < n; i++)
        if (bt_lookup(splitmix64(&s)) == UINT64_MAX) fail("btree check: key not found");
    s = 42;
    for (uint64_t i = 0; i < n / 2; i++)
        if (!bt_remove(splitmix64(&s))) fail("btree check: key not removed");
    bt_check();
    for (uint64_t i = n / 2; i < n; i++) {
        uint64_t key = splitmix64(&s);
        if (bt_lookup(key) != key) fail("btree check: remaining key lost");
    }
    s = 42;
    for (uint64_t i = 0; i < n / 2; i++)
        if (bt_lookup(splitmix64(&s)) != UINT64_MAX) fail("btree check: removed key found");
    for (uint64_t i = n / 2; i < n; i++)
        if (!bt_remove(splitmix64(&s))) fail("btree check: key not removed");
    bt_check();
    if (!TOID_IS_NULL(rp->btree.root) || rp->btree.len != 0) fail("btree check: not empty");
    free(before);
    free(after);
    free(present);
    printf("btree-check: ok (%lu)\n", n);
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
    else if (!strcmp(op, "update1k")) micro(op, op_update1k, n);
    else if (!strcmp(op, "update4k")) micro(op, op_update4k, n);
    else if (!strcmp(op, "update16k")) micro(op, op_update16k, n);
    else if (!strcmp(op, "update64k")) micro(op, op_update64k, n);
    else if (!strcmp(op, "allocfree64")) micro(op, op_allocfree64, n);
    else if (!strcmp(op, "alloc64+free64")) micro(op, op_alloc_then_free64, n);
    else if (!strcmp(op, "free64")) run_free64(n);
    else if (!strcmp(op, "bst")) run_bst(n);
    else if (!strcmp(op, "kv")) run_kv(n);
    else if (!strcmp(op, "list")) run_list(n);
    else if (!strcmp(op, "btree")) run_btree(n);
    else if (!strcmp(op, "btree-check")) run_btree_check(n);
    else { fprintf(stderr, "pmdk_bench: unknown OP %s\n", op); return 2; }

    pmemobj_close(pop);
    unlink(path);
    return 0;
}
