/*
 * corr.sched._native: the scheduling model's per-event and per-interval
 * work in C.
 *
 * `timelines` runs the thread state machine of model.py
 * (SchedModel._build_timeline, the reference) once over every thread's
 * state-changing events, sorted by (tid, seq): one pass instead of one
 * Python walk per thread.  Wakeup sources stay wakeup rows here; the
 * caller resolves them column-wise.
 *
 * `analyse` explains many intervals at once, with the semantics of
 * critical_path.breakdown and critical_path.critical_path (the Python
 * references), and adds up what a rule's blame graph and differential
 * view need: per (thread, what it waited on) edge the ns, the number of
 * intervals and the kinds of wait; per breakdown part the ns.  Nothing
 * per interval is kept, so memory follows the number of distinct edges.
 *
 * `explain` gives each interval of a chunk its own breakdown and critical
 * path, as columns of codes that Python names (the same walk as analyse's,
 * into per-interval outputs instead of totals).
 *
 * `parts_json` and `path_json` write those columns as the JSON lists the
 * run's JSON has (Explained.part_dicts / path_dicts through orjson, the
 * reference): Python encodes every string once (a part's label, a thread's
 * tid and name, a state) and C puts them together with the numbers.
 *
 * tests/test_sched_native.py and tests/test_explain_native.py compare them
 * with the Python references.
 * Arrays arrive through the buffer protocol (numpy, C-contiguous).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#define OPEN_END ((int64_t)1 << 62)
#define NO_CPU INT64_MIN          /* the reference's cpu=None */
#define DEAD (16 | 32)
#define DENSE_PAIRS 1024              /* threads up to which edges are a dense matrix */

enum { E_EXIT = 0, E_FORK = 1, E_IN = 2, E_NEW = 3, E_OUT = 4, E_WAKE = 5, E_WAKEUP = 6 };
enum { S_RUNNING = 0, S_RUNNABLE = 1, S_BLOCKED = 2, S_EXITED = 3, S_UNKNOWN = 4 };
enum { R_NONE = 0, R_PREEMPTED = 1, R_WOKEN = 2, R_NEW = 3 };
/* What a part names or a wait is on (src_kind of a segment uses 1..5,
 * -1 for a sleep never woken). */
enum { B_NONE = 0, B_THREAD = 1, B_IRQ = 2, B_SOFTIRQ = 3, B_HRTIMER = 4, B_UNKNOWN = 5,
       B_NOT_WOKEN = 6, B_CPU_WAIT = 7, B_EXITED = 8 };
enum { P_ON_CPU = 0, P_PREEMPTED = 1, P_BLOCKED = 2, P_UNKNOWN = 3 };
enum { W_PREEMPTED = 1, W_UNKNOWN = 2, W_BLOCKED = 4 };

/* ------------------------------------------------------------ arrays in */

typedef struct {
    Py_buffer view;
    int held;
} arr_t;

static int arr_get(PyObject *obj, arr_t *a, Py_ssize_t itemsize, int writable, const char *what)
{
    if (PyObject_GetBuffer(obj, &a->view, PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0)) < 0)
        return -1;
    a->held = 1;
    if (a->view.itemsize != itemsize) {
        PyErr_Format(PyExc_TypeError, "%s: items of %zd bytes expected", what, itemsize);
        return -1;
    }
    return 0;
}

/* An integer column of 32- or 64-bit items (the event columns come in the
 * narrowest type their values fit, as the scheduling log stores them). */
typedef struct {
    const void *p;
    int wide;
} col_t;

static inline int64_t at(col_t c, Py_ssize_t i)
{
    return c.wide ? ((const int64_t *)c.p)[i] : (int64_t)((const int32_t *)c.p)[i];
}

static int col_get(PyObject *obj, arr_t *a, col_t *c, const char *what)
{
    if (PyObject_GetBuffer(obj, &a->view, PyBUF_C_CONTIGUOUS) < 0)
        return -1;
    a->held = 1;
    if (a->view.itemsize != 4 && a->view.itemsize != 8) {
        PyErr_Format(PyExc_TypeError, "%s: items of 4 or 8 bytes expected", what);
        return -1;
    }
    c->p = a->view.buf;
    c->wide = a->view.itemsize == 8;
    return 0;
}

#define N(a) ((a).view.len / (a).view.itemsize)
#define I64(a) ((int64_t *)(a).view.buf)
#define I8(a) ((int8_t *)(a).view.buf)

/* A column read in place with a stride: a field of the store's records
 * (corr/sched/store.py lays segments and switches out as records, so that
 * one page read holds all of a segment), or a plain contiguous array. */
typedef struct {
    const char *p;
    Py_ssize_t step;
} scol_t;

#define G64(c, k) (*(const int64_t *)((c).p + (Py_ssize_t)(k) * (c).step))
#define G8(c, k) (*(const int8_t *)((c).p + (Py_ssize_t)(k) * (c).step))

static int arr_get_strided(PyObject *obj, arr_t *a, Py_ssize_t itemsize, const char *what)
{
    if (PyObject_GetBuffer(obj, &a->view, PyBUF_STRIDES) < 0)
        return -1;
    a->held = 1;
    if (a->view.itemsize != itemsize || a->view.ndim != 1 || a->view.strides[0] < itemsize) {
        PyErr_Format(PyExc_TypeError, "%s: a column of %zd-byte items expected", what, itemsize);
        return -1;
    }
    return 0;
}

static scol_t scol(const arr_t *a)
{
    return (scol_t){(const char *)a->view.buf, a->view.strides ? a->view.strides[0]
                                                               : a->view.itemsize};
}

static void arr_release(arr_t *arrs, int n)
{
    for (int i = 0; i < n; i++)
        if (arrs[i].held)
            PyBuffer_Release(&arrs[i].view);
}

/* ------------------------------------------------------------- timelines */

static int runnable_state(int64_t s)
{
    return s == 0 || (s > 0 && (s & 0xFF) == 0);
}

/* The store's segment record (store.SEGMENT): its fields' places in its 40 bytes.
 * timelines writes the records themselves; src_kind and src_id stay zero (the
 * caller sets them from ``wake``). */
#define SEG_SIZE 40
#define SEG_START 0
#define SEG_END 8
#define SEG_CPU 16
#define SEG_STATE 32
#define SEG_REASON 34

typedef struct {
    int64_t *tid, *wake;
    char *rec;                    /* SEG_SIZE bytes a segment */
    Py_ssize_t n, cap, first;     /* first: the current thread's first segment */
} segs_t;

#define SEG_I64(o, k, at) (*(int64_t *)((o)->rec + (k) * SEG_SIZE + (at)))
#define SEG_I8(o, k, at) (*(int8_t *)((o)->rec + (k) * SEG_SIZE + (at)))

static int push(segs_t *o, int64_t tid, int64_t start, int64_t end, int state, int64_t cpu,
                int64_t wake, int reason)
{
    if (o->n >= o->cap) {
        PyErr_SetString(PyExc_ValueError, "timelines: output arrays too small");
        return -1;
    }
    Py_ssize_t k = o->n++;
    o->tid[k] = tid; o->wake[k] = wake;
    SEG_I64(o, k, SEG_START) = start; SEG_I64(o, k, SEG_END) = end;
    SEG_I64(o, k, SEG_CPU) = cpu;
    SEG_I8(o, k, SEG_STATE) = (int8_t)state; SEG_I8(o, k, SEG_REASON) = (int8_t)reason;
    return 0;
}

/* Segment ``from`` written again at ``to``. */
static void seg_move(segs_t *o, Py_ssize_t to, Py_ssize_t from)
{
    o->tid[to] = o->tid[from]; o->wake[to] = o->wake[from];
    memcpy(o->rec + to * SEG_SIZE, o->rec + from * SEG_SIZE, SEG_SIZE);
}

/* One thread's events [lo, hi): the reference's _build_timeline. */
static int one_thread(segs_t *o, int64_t tid, const int64_t *ts, const int8_t *code,
                      col_t a, col_t b, Py_ssize_t lo, Py_ssize_t hi, int64_t begin,
                      int early_wakes)
{
    int state = S_UNKNOWN, reason = R_NONE, exiting = 0, completing = 0;
    int64_t since = begin, cpu = NO_CPU, source = -1, early = -1;
    o->first = o->n;
#define CLOSE(at) do { int64_t at_ = (at); \
        if (at_ > since || o->n == o->first || state == S_BLOCKED) \
            if (push(o, tid, since, at_, state, cpu, source, reason) < 0) return -1; } while (0)
    for (Py_ssize_t i = lo; i < hi; i++) {
        int64_t t = ts[i];
        switch (code[i]) {
        case E_IN:
            CLOSE(t);
            state = S_RUNNING; since = t; cpu = at(a, i); source = -1; reason = R_NONE;
            early = -1; completing = 0;
            break;
        case E_OUT:
            if (state == S_RUNNABLE || state == S_BLOCKED) {
                state = S_UNKNOWN; source = -1; reason = R_NONE;
            }
            CLOSE(t);
            since = t; cpu = at(a, i); source = -1;
            if (exiting || (at(b, i) & DEAD)) {
                exiting = 0; state = S_EXITED; reason = R_NONE;
            } else if (runnable_state(at(b, i))) {
                state = S_RUNNABLE; reason = R_PREEMPTED;
            } else {
                state = S_BLOCKED; reason = R_NONE;
                if (early >= 0) {
                    source = early; completing = 1;
                }
            }
            early = -1;
            break;
        case E_WAKE:
        case E_NEW:
            if (state == S_RUNNING) {
                /* A waking while it still runs: it ends the sleep that follows
                 * only if its sched_wakeup comes after that switch-out. */
                if (code[i] == E_WAKE && early_wakes)
                    early = at(b, i);
            } else if (state == S_BLOCKED || state == S_UNKNOWN || state == S_EXITED
                       || (state == S_RUNNABLE && reason == R_NEW)) {
                if ((state == S_UNKNOWN || state == S_EXITED) && code[i] == E_WAKE)
                    state = S_BLOCKED;
                if (state == S_BLOCKED && !completing)
                    source = at(b, i);
                CLOSE(t);
                state = S_RUNNABLE; since = t;
                if (at(a, i) >= 0)
                    cpu = at(a, i);
                source = -1; reason = code[i] == E_WAKE ? R_WOKEN : R_NEW;
                completing = 0;
            }
            break;
        case E_WAKEUP:
            if (state == S_RUNNING)
                early = -1;           /* completed while it ran: no sleep's wake */
            if (state == S_BLOCKED && completing) {
                CLOSE(t);
                state = S_RUNNABLE; since = t; source = -1; reason = R_WOKEN;
                completing = 0;
            }
            if (state == S_RUNNABLE && at(a, i) >= 0)
                cpu = at(a, i);
            break;
        case E_EXIT:
            exiting = 1;
            break;
        case E_FORK:
            CLOSE(t);
            state = S_RUNNABLE; since = t; cpu = NO_CPU; source = -1; reason = R_NEW;
            break;
        }
    }
    CLOSE(OPEN_END);
#undef CLOSE
    /* Empty segments go, except a sleep woken at the very ns it began. */
    Py_ssize_t kept = o->first;
    for (Py_ssize_t k = o->first; k < o->n; k++) {
        if (SEG_I64(o, k, SEG_END) > SEG_I64(o, k, SEG_START) || o->wake[k] >= 0) {
            if (kept != k)
                seg_move(o, kept, k);
            kept++;
        }
    }
    if (kept == o->first) {                 /* all empty: the last one stays */
        seg_move(o, kept, o->n - 1);
        kept++;
    }
    o->n = kept;
    return 0;
}

/* timelines(tid, ts, code, a, b, begin, out_tid, out_wake, out_records) -> number of
 * segments written: each segment's thread and wakeup (an index into the events,
 * -1: none), and its record (store.SEGMENT, out_records' bytes: start, end, cpu,
 * state and reason; the rest left as they were). */
static PyObject *timelines_impl(PyObject *self, PyObject *args)
{
    PyObject *o[8];
    long long begin;
    int early_wakes = 1;
    arr_t arr[8] = {{{0}}};
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "OOOOOLOOO|p", &o[0], &o[1], &o[2], &o[3], &o[4], &begin,
                          &o[5], &o[6], &o[7], &early_wakes))
        return NULL;
    /* tid, a and b: 32- or 64-bit (col_t); the rest as sized here. */
    static const Py_ssize_t sizes[8] = {0, 8, 1, 0, 0, 8, 8, 1};
    col_t tid, a, b;
    col_t *cols[8] = {&tid, NULL, NULL, &a, &b};
    for (int i = 0; i < 8; i++)
        if ((sizes[i] ? arr_get(o[i], &arr[i], sizes[i], i >= 5, "timelines")
                      : col_get(o[i], &arr[i], cols[i], "timelines")) < 0)
            goto done;
    Py_ssize_t n = N(arr[0]);
    for (int i = 1; i < 5; i++)
        if (N(arr[i]) != n) {
            PyErr_SetString(PyExc_ValueError, "timelines: event columns differ in length");
            goto done;
        }
    segs_t out = {I64(arr[5]), I64(arr[6]), arr[7].view.buf, 0, N(arr[5]), 0};
    if (N(arr[6]) < out.cap)
        out.cap = N(arr[6]);
    if (N(arr[7]) / SEG_SIZE < out.cap)
        out.cap = N(arr[7]) / SEG_SIZE;
    Py_ssize_t lo = 0;
    while (lo < n) {
        Py_ssize_t hi = lo + 1;
        int64_t this_tid = at(tid, lo);
        while (hi < n && at(tid, hi) == this_tid)
            hi++;
        if (one_thread(&out, this_tid, I64(arr[1]), I8(arr[2]), a, b, lo, hi, begin,
                       early_wakes) < 0)
            goto done;
        lo = hi;
    }
    result = PyLong_FromSsize_t(out.n);
done:
    arr_release(arr, 8);
    return result;
}

/* ------------------------------------------------------------ hash table */

#define KEYS 4
/* A union of time ranges, added to one range at a time (a blame edge's weight:
 * each nanosecond once, however many intervals' paths it lay on).  ``cs``/``ce``
 * is the range being grown; a range that neither overlaps nor touches it sends
 * it to the model's log of ranges (see add_range), ``done`` holds the ns of
 * ranges no later one can overlap. */
typedef struct {
    int64_t done, cs, ce;
    int64_t logged;                   /* its ranges in the log */
} uacc_t;

/* A table entry.  ``first`` is where the entry was first met, as (interval
 * rank, step within that interval): the intervals are walked in time order,
 * for the cache's sake, but listed as a walk in the caller's order would
 * have met them, so the result does not depend on the walk.  ``ns`` is a
 * part's sum, or (once finish_edges ran) an edge's union. */
typedef struct {
    int64_t key[KEYS];
    int64_t ns, count, last, kinds;
    int64_t first[2];
    int64_t id;                       /* order of creation: the log's reference */
    uacc_t u;                         /* edges: the union of their ranges */
    int used;
} slot_t;

typedef struct {
    slot_t *slots;
    size_t cap, n;
    int64_t next_id;
} table_t;

static uint64_t hash_key(const int64_t *k)
{
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < KEYS; i++) {
        h ^= (uint64_t)k[i];
        h *= 1099511628211ULL;
        h ^= h >> 29;
    }
    return h;
}

static int before(const int64_t *a, const int64_t *b)
{
    return a[0] < b[0] || (a[0] == b[0] && a[1] < b[1]);
}

/* The entry of ``key``, made if new; ``at`` (rank, step) lowers its ``first``. */
static slot_t *table_find(table_t *t, const int64_t *key, const int64_t *at)
{
    if (2 * (t->n + 1) > t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 1024;
        slot_t *slots = calloc(cap, sizeof(slot_t));
        if (!slots)
            return NULL;              /* the caller, holding the GIL, says so */
        for (size_t i = 0; i < t->cap; i++) {
            if (!t->slots[i].used)
                continue;
            size_t j = hash_key(t->slots[i].key) & (cap - 1);
            while (slots[j].used)
                j = (j + 1) & (cap - 1);
            slots[j] = t->slots[i];
        }
        free(t->slots);
        t->slots = slots;
        t->cap = cap;
    }
    size_t j = hash_key(key) & (t->cap - 1);
    while (t->slots[j].used) {
        slot_t *s = &t->slots[j];
        if (!memcmp(s->key, key, sizeof(int64_t) * KEYS)) {
            if (before(at, s->first)) {
                s->first[0] = at[0];
                s->first[1] = at[1];
            }
            return s;
        }
        j = (j + 1) & (t->cap - 1);
    }
    slot_t *s = &t->slots[j];
    memcpy(s->key, key, sizeof(int64_t) * KEYS);
    s->used = 1;
    s->last = -1;
    s->id = t->next_id++;
    s->first[0] = at[0];
    s->first[1] = at[1];
    t->n++;
    return s;
}

/* ------------------------------------------------------------- the model */

/* One (waiter, occupant) cell: its fields together, one cache line's part.
 * ``seen`` is the last interval that counted it, plus one (0: none yet), so
 * that calloc's zeroed pages need no initialising. */
typedef struct {
    int64_t seen;
    int32_t count, kinds;
    uacc_t u;                         /* its weight: the union of its ranges */
} pair_t;

/* Ranges of an edge that left its accumulator: ``ref`` is a slot's id (table
 * edges) or a cell of the dense matrix (pairs). */
typedef struct {
    int64_t ref, s, e;
} range_t;

typedef struct {
    range_t *v;
    size_t n, cap, compact_at;
} rlog_t;

typedef struct {
    /* timelines, grouped by thread (tids sorted, off[i]..off[i+1]) */
    const int64_t *tids, *off;
    scol_t start, end, cpu, src_id, state, src_kind;     /* int64 but state, src_kind: int8 */
    Py_ssize_t ntids;
    int64_t begin;
    /* Segment k of the by-thread order is record PHYS(m, k): with blocks
     * (store.py lays a large store out by time, 2**bshift segments a block),
     * bpos[k >> bshift] + the rest, and bfirst the start of each block's first
     * segment (the binary searches' first steps, kept in memory); without
     * (bpos NULL), record k. */
    const int64_t *bpos, *bfirst;
    int bshift;
    /* The switches' times at every 2**bshift-th switch (NULL: none), in memory: the
     * same first step for the searches of a CPU's switches. */
    const int64_t *sw_fence;
    /* Mapped files whose pages the walk hands back as it goes (see run_job), and
     * the regions of them it read since the last time (NULL: none). */
    struct { void *p; size_t len; } release[4];
    int nrelease;
    struct pages_s *pages;
    /* switches grouped by CPU (cpus sorted, cpu_off[i]..cpu_off[i+1]) */
    const int64_t *cpus, *cpu_off;
    scol_t sw_ts, sw_next, sw_prev;
    scol_t sw_next_i, sw_prev_i;             /* the same threads as indexes into tids */
    Py_ssize_t ncpus;
    /* Preemptions by thread, dense: per occupant (parts) and, for traces of
     * few threads, per (waiter, occupant) pair (edges); else edges hashed. */
    int64_t *pre_ns;                  /* [ntids] */
    pair_t *pairs;                    /* [ntids * ntids] or NULL */
    int64_t waiter_i;                 /* the blamed thread's index (-1: none) */
    int max_depth;
    table_t edges, parts;
    int64_t interval;             /* the one being analysed: its rank in the caller's order */
    int64_t step;                 /* table lookups so far for this interval */
    /* Edge ranges out of their accumulators, for table edges and pairs.  In a
     * walk in time order no range of a later interval starts before the current
     * interval's start (``watermark``), nor did any range of an earlier job
     * end after ``floor``: a logged range between them is final. */
    rlog_t slog, plog;
    /* A later job's final ranges that start before its floor: final within the
     * job, but an earlier job's range of the same edge may still reach them
     * (merge_job sorts that out, edge by edge, without sorting them). */
    rlog_t sfinal, pfinal;
    int64_t watermark, floor;
    size_t log_limit;                 /* ranges a log holds before it is compacted */
    /* explain: each interval's own parts and path go here, not into the totals. */
    struct explain_s *one;
} model_t;

typedef struct {
    int64_t start, end, cpu, src_id;
    int state, src_kind;
} seg_t;

/* The 2 MB regions of a mapped store read since the last release.  A read of a
 * page maps the page cache's whole folio, and this kernel keeps written files in
 * folios of up to 2 MB: what a walk holds mapped is about the regions it read. */
#define REGION_SHIFT 21
#define REGION_SLOTS 1024             /* a power of two, above any budget */
#define REGION_BUDGET 8               /* regions (16 MB) held before handing them back... */
#define REGION_BUDGET_MAX 512         /* ...plus one per CPU (a CPU's switches are a stretch
                                       * of their own: a walk at one time reads each) */
struct pages_s {
    uintptr_t last;
    int n;
    uintptr_t seen[REGION_SLOTS];     /* region + 1 (0: empty) */
};

static inline void touch(const model_t *m, scol_t c, Py_ssize_t r)
{
    struct pages_s *p = m->pages;
    if (!p)
        return;
    uintptr_t region = ((uintptr_t)(c.p + r * c.step) >> REGION_SHIFT) + 1;
    if (region == p->last)
        return;
    p->last = region;
    size_t h = (size_t)(region * 0x9E3779B97F4A7C15ull >> 54) & (REGION_SLOTS - 1);
    while (p->seen[h] && p->seen[h] != region)
        h = (h + 1) & (REGION_SLOTS - 1);
    if (!p->seen[h]) {
        p->seen[h] = region;
        p->n++;
    }
}

/* Row k's record: bpos[k >> shift] + the rest (bpos NULL: record k). */
static inline Py_ssize_t block_row(const int64_t *bpos, int shift, Py_ssize_t k)
{
    return bpos ? (Py_ssize_t)bpos[k >> shift] + (k & (((Py_ssize_t)1 << shift) - 1)) : k;
}

static inline Py_ssize_t PHYS(const model_t *m, Py_ssize_t k)
{
    return block_row(m->bpos, m->bshift, k);
}

typedef struct {
    seg_t *v;
    Py_ssize_t n, cap;
} seglist_t;

static Py_ssize_t find_sorted(const int64_t *v, Py_ssize_t n, int64_t x)
{
    Py_ssize_t lo = 0, hi = n;
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi) / 2;
        if (v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && v[lo] == x ? lo : -1;
}

/* Index of the first element > x in the column v's rows [lo, hi). */
static Py_ssize_t upper_s(scol_t v, Py_ssize_t lo, Py_ssize_t hi, int64_t x)
{
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi) / 2;
        if (G64(v, mid) <= x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The same over a contiguous array. */
static Py_ssize_t upper(const int64_t *v, Py_ssize_t lo, Py_ssize_t hi, int64_t x)
{
    return upper_s((scol_t){(const char *)v, (Py_ssize_t)sizeof(int64_t)}, lo, hi, x);
}

/* upper_s over rows [lo, hi) of v (a thread's segments, a CPU's switches), row k
 * being record bpos[k >> shift] + the rest (bpos NULL: record k), helped by
 * fence, the value at every 2**shift-th row (NULL: none).  The blocks that begin
 * inside the range are searched first by their first value (in memory), then
 * the one block left: a search reads one block of a mapped store, not a record
 * in every part of the trace. */
static Py_ssize_t fenced_upper(scol_t v, const int64_t *fence, const int64_t *bpos, int shift,
                               Py_ssize_t lo, Py_ssize_t hi, int64_t x)
{
    if (!fence || hi - lo <= 1)
        return bpos ? (lo < hi && G64(v, block_row(bpos, shift, lo)) <= x ? hi : lo)
                    : upper_s(v, lo, hi, x);
    Py_ssize_t first = (lo >> shift) + 1, last = (hi - 1) >> shift, a = first, z = last + 1;
    while (a < z) {                   /* the first block (of those) starting after x */
        Py_ssize_t mid = a + (z - a) / 2;
        if (fence[mid] <= x)
            a = mid + 1;
        else
            z = mid;
    }
    Py_ssize_t base = a > first ? (a - 1) << shift : lo;
    Py_ssize_t limit = a <= last ? a << shift : hi;
    Py_ssize_t b = block_row(bpos, shift, base);    /* [base, limit): one block, contiguous */
    return base + upper_s(v, b, b + (limit - base), x) - b;
}

static Py_ssize_t seg_upper(const model_t *m, Py_ssize_t lo, Py_ssize_t hi, int64_t x)
{
    return fenced_upper(m->start, m->bfirst, m->bpos, m->bshift, lo, hi, x);
}

static int seg_push(seglist_t *l, int64_t start, int64_t end, int state, int64_t cpu,
                    int src_kind, int64_t src_id)
{
    if (l->n >= l->cap) {
        Py_ssize_t cap = l->cap ? 2 * l->cap : 16;
        seg_t *v = realloc(l->v, (size_t)cap * sizeof(seg_t));
        if (!v)
            return -1;                /* out of memory: see table_find */
        l->v = v;
        l->cap = cap;
    }
    seg_t *s = &l->v[l->n++];
    s->start = start; s->end = end; s->state = state; s->cpu = cpu;
    s->src_kind = src_kind; s->src_id = src_id;
    return 0;
}

/* The thread's segments clipped to [start, end]: SchedModel.segments. */
static int clipped(const model_t *m, int64_t tid, int64_t start, int64_t end, seglist_t *out)
{
    out->n = 0;
    Py_ssize_t t = find_sorted(m->tids, m->ntids, tid);
    if (t < 0) {                      /* no events: unknown all along */
        if (end > start && m->begin < end && OPEN_END > start)
            if (seg_push(out, start > m->begin ? start : m->begin, end, S_UNKNOWN, NO_CPU,
                         -1, 0) < 0)
                return -1;
    } else {
        Py_ssize_t lo = m->off[t], hi = m->off[t + 1];
        Py_ssize_t k = seg_upper(m, lo, hi, start) - 1;
        if (k < lo)
            k = lo;
        for (; k < hi; k++) {
            Py_ssize_t r = PHYS(m, k);
            touch(m, m->start, r);
            int64_t s = G64(m->start, r), e = G64(m->end, r);
            if (s >= end)
                break;
            if (e <= start || e <= s)
                continue;
            if (seg_push(out, s > start ? s : start, e < end ? e : end, G8(m->state, r),
                         G64(m->cpu, r), G8(m->src_kind, r), G64(m->src_id, r)) < 0)
                return -1;
        }
    }
    if (!out->n)
        return end > start ? seg_push(out, start, end, S_UNKNOWN, NO_CPU, -1, 0) : 0;
    if (out->v[0].start > start) {
        if (seg_push(out, 0, 0, 0, 0, 0, 0) < 0)
            return -1;
        memmove(out->v + 1, out->v, (size_t)(out->n - 1) * sizeof(seg_t));
        out->v[0] = (seg_t){start, out->v[1].start, NO_CPU, 0, S_UNKNOWN, -1};
    }
    if (out->v[out->n - 1].end < end)
        if (seg_push(out, out->v[out->n - 1].end, end, S_UNKNOWN, NO_CPU, -1, 0) < 0)
            return -1;
    return 0;
}

/* Which arguments of analyse and explain are read in place, strided: the
 * segments' columns (2..7) and the switches' (sw_ts, sw_next, sw_prev, and
 * their thread indexes). */
#define STRIDED_ANALYSE(i) (((i) >= 2 && (i) <= 7) || ((i) >= 10 && (i) <= 12) || (i) >= 16)
#define STRIDED_EXPLAIN(i) (((i) >= 2 && (i) <= 7) || ((i) >= 10 && (i) <= 14))

/* The timeline store's columns (tids, off, start, end, state, cpu, src_kind,
 * src_id: arr[0..7]) into m; -1 with a ValueError when they do not fit. */
static int timeline_columns(model_t *m, const arr_t *arr, int64_t begin, const char *what)
{
    m->tids = I64(arr[0]); m->off = I64(arr[1]); m->start = scol(&arr[2]);
    m->end = scol(&arr[3]); m->state = scol(&arr[4]); m->cpu = scol(&arr[5]);
    m->src_kind = scol(&arr[6]); m->src_id = scol(&arr[7]);
    m->ntids = N(arr[0]); m->begin = begin;
    if (N(arr[1]) != m->ntids + 1) {
        PyErr_Format(PyExc_ValueError, "%s: offsets must have one more item", what);
        return -1;
    }
    return 0;
}

/* The store's blocks (bpos, bfirst: None for a store in by-thread order) and the
 * mappings to hand back as the walk goes (a tuple of buffers, or None) into m;
 * -1 with an exception when they do not fit the columns (a crafted cache entry
 * must not make the walk read outside them).  held: 7 arr_t (bpos, bfirst, 4
 * mappings, the switches' fence). */
static int store_layout(model_t *m, PyObject *bpos, PyObject *bfirst, int shift,
                        PyObject *sw_fence, PyObject *release, Py_ssize_t nrecords,
                        Py_ssize_t nswitches, arr_t *held, const char *what)
{
    if (bpos != Py_None || bfirst != Py_None) {
        if (shift < 0 || shift > 20) {
            PyErr_Format(PyExc_ValueError, "%s: blocks of 2**%d segments", what, shift);
            return -1;
        }
        m->bshift = shift;
        if (arr_get(bpos, &held[0], 8, 0, what) < 0 || arr_get(bfirst, &held[1], 8, 0, what) < 0)
            return -1;
        Py_ssize_t total = m->ntids ? m->off[m->ntids] : 0, block = (Py_ssize_t)1 << shift;
        Py_ssize_t nblocks = (total + block - 1) >> shift;
        if (N(held[0]) != nblocks || N(held[1]) != nblocks) {
            PyErr_Format(PyExc_ValueError, "%s: %zd blocks expected", what, nblocks);
            return -1;
        }
        const int64_t *pos = I64(held[0]);
        for (Py_ssize_t b = 0; b < nblocks; b++) {
            Py_ssize_t size = total - (b << shift) < block ? total - (b << shift) : block;
            if (pos[b] < 0 || pos[b] > nrecords - size) {
                PyErr_Format(PyExc_ValueError, "%s: block %zd out of the records", what, b);
                return -1;
            }
        }
        m->bpos = pos;
        m->bfirst = I64(held[1]);
    }
    if (sw_fence != Py_None) {
        if (shift < 0 || shift > 20) {
            PyErr_Format(PyExc_ValueError, "%s: blocks of 2**%d switches", what, shift);
            return -1;
        }
        if (arr_get(sw_fence, &held[6], 8, 0, what) < 0)
            return -1;
        if (N(held[6]) != (nswitches + ((Py_ssize_t)1 << shift) - 1) >> shift) {
            PyErr_Format(PyExc_ValueError, "%s: a switch fence of the wrong size", what);
            return -1;
        }
        m->bshift = shift;
        m->sw_fence = I64(held[6]);
    }
    if (release != Py_None) {
        if (!PyTuple_Check(release) || PyTuple_GET_SIZE(release) > 4) {
            PyErr_Format(PyExc_TypeError, "%s: release must be a tuple of at most 4 buffers",
                         what);
            return -1;
        }
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(release); i++) {
            arr_t *a = &held[2 + i];
            if (PyObject_GetBuffer(PyTuple_GET_ITEM(release, i), &a->view, PyBUF_SIMPLE) < 0)
                return -1;
            a->held = 1;
            m->release[m->nrelease].p = a->view.buf;
            m->release[m->nrelease].len = (size_t)a->view.len;
            m->nrelease++;
        }
    }
    return 0;
}

/* Hand back the pages of the store's mappings read so far: a walk in time order
 * over a store laid out by time then holds only what it reads now (the page
 * cache keeps them; reading them again maps them again). */
static void release_pages(const model_t *m)
{
    for (int i = 0; i < m->nrelease; i++) {
        uintptr_t p = (uintptr_t)m->release[i].p, page = 4096;
        uintptr_t from = p & ~(page - 1);
        if (m->release[i].len)
            madvise((void *)from, m->release[i].len + (p - from), MADV_DONTNEED);
    }
}

/* Before the next interval: the pages back once the walk has read more than
 * REGION_BUDGET regions since the last time (a walk in time order rereads the
 * same few for a while; one that jumps about, as a sample spread over the trace
 * does, reads new ones at every interval). */
static void maybe_release(const model_t *m)
{
    if (m->pages && m->pages->n >= REGION_BUDGET + (m->ncpus < REGION_BUDGET_MAX - REGION_BUDGET
                                                    ? m->ncpus : REGION_BUDGET_MAX - REGION_BUDGET)) {
        release_pages(m);
        memset(m->pages, 0, sizeof *m->pages);
    }
}

static int rlog_push(rlog_t *l, int64_t ref, int64_t s, int64_t e)
{
    if (l->n >= l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 1024;
        range_t *v = realloc(l->v, cap * sizeof(range_t));
        if (!v)
            return -1;                /* out of memory: see table_find */
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (range_t){ref, s, e};
    return 0;
}

static int by_ref_start(const void *a, const void *b)
{
    const range_t *x = a, *y = b;
    if (x->ref != y->ref)
        return x->ref < y->ref ? -1 : 1;
    return x->s < y->s ? -1 : x->s > y->s;
}

/* The log sorted, each reference's ranges merged where they overlap: a merged
 * range that meets its accumulator's current range joins it; one that is final
 * (``all``, or no later range can reach it: it ends by the watermark and starts
 * after the floor) is counted in ``done``; the rest stay. */
static int compact(model_t *m, rlog_t *l, int pairs, int all)
{
    slot_t **by_id = NULL;
    if (!pairs && l->n) {
        by_id = calloc((size_t)m->edges.next_id + 1, sizeof(*by_id));
        if (!by_id)
            return -1;
        for (size_t i = 0; i < m->edges.cap; i++)
            if (m->edges.slots[i].used)
                by_id[m->edges.slots[i].id] = &m->edges.slots[i];
    }
    qsort(l->v, l->n, sizeof(range_t), by_ref_start);
    size_t kept = 0, i = 0;
    while (i < l->n) {
        int64_t ref = l->v[i].ref;
        uacc_t *u = pairs ? &m->pairs[ref].u : &by_id[ref]->u;
        size_t first = kept;
        while (i < l->n && l->v[i].ref == ref) {
            int64_t a = l->v[i].s, b = l->v[i].e;
            for (i++; i < l->n && l->v[i].ref == ref && l->v[i].s <= b; i++)
                if (l->v[i].e > b)
                    b = l->v[i].e;
            if (u->ce > u->cs && a <= u->ce && b >= u->cs) {
                if (a < u->cs)
                    u->cs = a;
                if (b > u->ce)
                    u->ce = b;
            } else if (all || (b <= m->watermark && a >= m->floor)) {
                u->done += b - a;
            } else if (b <= m->watermark) {
                if (rlog_push(pairs ? &m->pfinal : &m->sfinal, ref, a, b) < 0) {
                    free(by_id);
                    return -1;
                }
            } else {
                l->v[kept++] = (range_t){ref, a, b};
            }
        }
        u->logged = (int64_t)(kept - first);
    }
    l->n = kept;
    l->compact_at = 2 * kept > m->log_limit ? 2 * kept : m->log_limit;
    free(by_id);
    return 0;
}

/* One range into an edge's union: it grows the current range when it meets it,
 * else the current range goes to the log and this one takes its place. */
static int add_range(model_t *m, uacc_t *u, int64_t ref, int pairs, int64_t s, int64_t e)
{
    if (e <= s)
        return 0;
    if (u->ce <= u->cs) {
        u->cs = s;
        u->ce = e;
        return 0;
    }
    if (s <= u->ce && e >= u->cs) {
        if (s < u->cs)
            u->cs = s;
        if (e > u->ce)
            u->ce = e;
        return 0;
    }
    /* The current range is final if no later range can reach it and none of its
     * edge's is in the log (the usual case: a thread's sleeps, one after another). */
    if (!u->logged && u->ce <= m->watermark) {
        if (u->cs >= m->floor)
            u->done += u->ce - u->cs;
        else if (rlog_push(pairs ? &m->pfinal : &m->sfinal, ref, u->cs, u->ce) < 0)
            return -1;
        u->cs = s;
        u->ce = e;
        return 0;
    }
    rlog_t *l = pairs ? &m->plog : &m->slog;
    if (rlog_push(l, ref, u->cs, u->ce) < 0)
        return -1;
    u->logged++;
    u->cs = s;
    u->ce = e;
    return l->n >= l->compact_at && l->n >= m->log_limit ? compact(m, l, pairs, 0) : 0;
}

typedef struct explain_s explain_t;
static int one_part(explain_t *one, int kind, int by_kind, int64_t by_id, int64_t epoch,
                    int64_t ns);
static int64_t name_epoch(explain_t *one, int64_t tid, int64_t at);
static int one_preempted(model_t *m, int64_t occupant, int64_t tid, int64_t at, int64_t ns);

static int add_part(model_t *m, int kind, int by_kind, int64_t by_id, int64_t ns)
{
    if (ns <= 0)
        return 0;
    if (m->one)
        return one_part(m->one, kind, by_kind, by_id, 0, ns);
    int64_t key[KEYS] = {kind, by_kind, by_id, 0};
    int64_t at[2] = {m->interval, m->step++};
    slot_t *s = table_find(&m->parts, key, at);
    if (!s)
        return -1;
    s->ns += ns;
    return 0;
}

/* An edge between two threads of the store, in the dense matrix: the waiter's
 * time [start, end) spent on it. */
static int add_pair(model_t *m, Py_ssize_t w, Py_ssize_t o, int64_t start, int64_t end, int kind)
{
    Py_ssize_t cell = w * m->ntids + o;
    pair_t *p = &m->pairs[cell];
    p->kinds |= kind;
    if (p->seen != m->interval + 1) {     /* count intervals, not segments */
        p->seen = m->interval + 1;
        p->count++;
    }
    return add_range(m, &p->u, cell, 1, start, end);
}

static int add_edge(model_t *m, int64_t waiter, int on_kind, int64_t on_id, int64_t start,
                    int64_t end, int kind)
{
    if (end <= start)
        return 0;
    if (m->pairs && on_kind == B_THREAD) {
        Py_ssize_t w = find_sorted(m->tids, m->ntids, waiter);
        Py_ssize_t o = w < 0 ? -1 : find_sorted(m->tids, m->ntids, on_id);
        if (o >= 0)
            return add_pair(m, w, o, start, end, kind);
    }
    int64_t key[KEYS] = {waiter, on_kind, on_id, 0};
    int64_t at[2] = {m->interval, m->step++};
    slot_t *s = table_find(&m->edges, key, at);
    if (!s)
        return -1;
    s->kinds |= kind;
    if (s->last != m->interval) {     /* count intervals, not segments */
        s->count++;
        s->last = m->interval;
    }
    return add_range(m, &s->u, s->id, 0, start, end);
}

/* A source as a node: hrtimers are all "timer". */
static int64_t source_id(int kind, int64_t id)
{
    return kind == B_HRTIMER || kind == B_UNKNOWN ? 0 : id;
}

/* The CPU a runnable thread waited for: where it ran next, else where it was queued. */
static int64_t waiting_cpu(const model_t *m, int64_t tid, const seg_t *seg)
{
    Py_ssize_t t = find_sorted(m->tids, m->ntids, tid);
    if (t >= 0) {
        Py_ssize_t lo = m->off[t], hi = m->off[t + 1];
        Py_ssize_t k = seg_upper(m, lo, hi, seg->end) - 1;
        if (k < lo)
            k = lo;
        for (; k < hi; k++) {
            Py_ssize_t r = PHYS(m, k);
            touch(m, m->start, r);
            if (G64(m->start, r) >= seg->end && G8(m->state, r) == S_RUNNING)
                return G64(m->cpu, r);
            if (G64(m->start, r) > seg->end)
                break;
        }
    }
    return seg->cpu;
}

static int preempted(model_t *m, int64_t tid, const seg_t *seg, int edges)
{
    int64_t cpu = waiting_cpu(m, tid, seg);
    int64_t span = seg->end - seg->start;
    Py_ssize_t c = cpu == NO_CPU ? -1 : find_sorted(m->cpus, m->ncpus, cpu);
    if (c < 0) {
        if (add_part(m, P_PREEMPTED, B_NONE, 0, span) < 0)
            return -1;
        return edges ? add_edge(m, tid, B_CPU_WAIT, 0, seg->start, seg->end, W_PREEMPTED) : 0;
    }
    Py_ssize_t lo = m->cpu_off[c], hi = m->cpu_off[c + 1];
    const scol_t ts = m->sw_ts;
    /* SchedModel.occupants: who held the CPU, piece by piece. */
    Py_ssize_t i = fenced_upper(ts, m->sw_fence, NULL, m->bshift, lo, hi, seg->start) - 1;
    int64_t current = i >= lo ? G64(m->sw_next, i) : G64(m->sw_prev, lo);
    int64_t occupant = i >= lo ? G64(m->sw_next_i, i) : G64(m->sw_prev_i, lo);
    int64_t at = seg->start, idle = 0;
    for (Py_ssize_t j = i + 1; ; j++) {
        if (j < hi)
            touch(m, ts, j);
        int more = j < hi && G64(ts, j) < seg->end;
        if (more && G64(ts, j) <= at) {
            current = G64(m->sw_next, j);
            occupant = G64(m->sw_next_i, j);
            continue;
        }
        int64_t until = more ? G64(ts, j) : seg->end;
        int64_t ns = until - at;
        if (current == 0 || current == tid) {
            idle += ns;
            if (edges && add_edge(m, tid, B_CPU_WAIT, 0, at, until, W_PREEMPTED) < 0)
                return -1;
        } else if (ns > 0) {
            if (m->one) {             /* named as at the wait's start */
                if (one_preempted(m, occupant, current, seg->start, ns) < 0)
                    return -1;
            } else {
                m->pre_ns[occupant] += ns;
            }
            if (edges && m->pairs && m->waiter_i >= 0) {
                if (add_pair(m, m->waiter_i, occupant, at, until, W_PREEMPTED) < 0)
                    return -1;
            } else if (edges && add_edge(m, tid, B_THREAD, current, at, until, W_PREEMPTED) < 0) {
                return -1;
            }
        }
        if (!more)
            break;
        at = until;
        current = G64(m->sw_next, j);
        occupant = G64(m->sw_next_i, j);
    }
    return add_part(m, P_PREEMPTED, B_NONE, 0, idle);
}

static int breakdown(model_t *m, int64_t tid, int64_t start, int64_t end, int edges)
{
    seglist_t l = {0};
    int rc = clipped(m, tid, start, end, &l);
    for (Py_ssize_t k = 0; rc == 0 && k < l.n; k++) {
        const seg_t *s = &l.v[k];
        int64_t span = s->end - s->start;
        switch (s->state) {
        case S_RUNNING:
            rc = add_part(m, P_ON_CPU, B_NONE, 0, span);
            break;
        case S_RUNNABLE:
            rc = preempted(m, tid, s, edges);
            break;
        case S_BLOCKED:
            if (s->src_kind < 0)
                rc = add_part(m, P_BLOCKED, B_NOT_WOKEN, 0, span);
            else if (m->one && s->src_kind == B_THREAD)   /* named as at the wake */
                rc = one_part(m->one, P_BLOCKED, B_THREAD, s->src_id,
                              name_epoch(m->one, s->src_id, s->end), span);
            else
                rc = add_part(m, P_BLOCKED, s->src_kind, source_id(s->src_kind, s->src_id), span);
            break;
        default:
            rc = add_part(m, P_UNKNOWN, s->state == S_EXITED ? B_EXITED : B_NONE, 0, span);
            if (rc == 0 && edges)
                rc = add_edge(m, tid, B_UNKNOWN, 0, s->start, s->end, W_UNKNOWN);
        }
    }
    free(l.v);
    return rc;
}

/* Whether a blocked thread's waker is followed no further: itself, or a thread
 * already on the chain (via[0:nvia]) -- critical_path._follow's cycle check. */
static int on_chain(int64_t waker, int64_t tid, const int64_t *via, int nvia)
{
    int seen = waker == tid;
    for (int v = 0; v < nvia && !seen; v++)
        seen = via[v] == waker;
    return seen;
}

/* The waits of critical_path._follow: a blame-graph edge per blocked stretch. */
static int follow(model_t *m, int64_t tid, int64_t start, int64_t end, int depth,
                  int64_t *via, int nvia)
{
    seglist_t l = {0};
    int rc = clipped(m, tid, start, end, &l);
    for (Py_ssize_t k = 0; rc == 0 && k < l.n; k++) {
        const seg_t *s = &l.v[k];
        if (s->state != S_BLOCKED)
            continue;
        if (s->src_kind == B_THREAD) {
            int64_t waker = s->src_id;
            rc = add_edge(m, tid, B_THREAD, waker, s->start, s->end, W_BLOCKED);
            if (rc == 0 && depth < m->max_depth && !on_chain(waker, tid, via, nvia)) {
                via[nvia] = tid;
                rc = follow(m, waker, s->start, s->end, depth + 1, via, nvia + 1);
            }
        } else if (s->src_kind < 0) {
            rc = add_edge(m, tid, B_NOT_WOKEN, 0, s->start, s->end, W_BLOCKED);
        } else {
            rc = add_edge(m, tid, s->src_kind, source_id(s->src_kind, s->src_id), s->start, s->end,
                          W_BLOCKED);
        }
    }
    free(l.v);
    return rc;
}

static int by_first(const void *a, const void *b)
{
    const slot_t *x = *(const slot_t *const *)a, *y = *(const slot_t *const *)b;
    return before(x->first, y->first) ? -1 : before(y->first, x->first) ? 1 : 0;
}

/* The entries as tuples, in the order they were first met (slot_t.first). */
static PyObject *table_list(table_t *t, int with_edges)
{
    const slot_t **sorted = malloc((t->n + 1) * sizeof(*sorted));
    if (!sorted)
        return PyErr_NoMemory();
    size_t n = 0;
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].used)
            sorted[n++] = &t->slots[i];
    qsort(sorted, n, sizeof(*sorted), by_first);
    PyObject *out = PyList_New((Py_ssize_t)n);
    if (!out) {
        free(sorted);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const slot_t *s = sorted[i];
        PyObject *row = with_edges
            ? Py_BuildValue("(LLLLLL)", (long long)s->key[0], (long long)s->key[1],
                            (long long)s->key[2], (long long)s->ns, (long long)s->count,
                            (long long)s->kinds)
            : Py_BuildValue("(LLLL)", (long long)s->key[0], (long long)s->key[1],
                            (long long)s->key[2], (long long)s->ns);
        if (!row) {
            free(sorted);
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, (Py_ssize_t)i, row);
    }
    free(sorted);
    return out;
}

/* ------------------------------------------------ the analysis, in threads */

#define MAX_JOBS 8
#define MIN_PER_JOB 2048              /* intervals: fewer are not worth a thread */

typedef struct {
    model_t m;                        /* shares the store; its own accumulators */
    const int64_t *itid, *istart, *iend;
    const int64_t *walk;              /* the intervals in the order walked (NULL: as given) */
    Py_ssize_t lo, hi;
    int with_edges, rc;
    int in_time_order;                /* the walk goes by start: edge ranges can be final early */
} job_t;

/* Walked intervals [lo, hi) into the job's model (no Python API: runs without the GIL). */
static void *run_job(void *arg)
{
    job_t *j = arg;
    model_t *m = &j->m;
    int64_t via[64];
    struct pages_s pages = {0};
    if (m->nrelease)
        m->pages = &pages;
    for (Py_ssize_t k = j->lo; k < j->hi; k++) {
        maybe_release(m);
        Py_ssize_t i = j->walk ? (Py_ssize_t)j->walk[k] : k;
        m->interval = i;
        m->step = 0;
        if (j->in_time_order)
            m->watermark = j->istart[i];
        m->waiter_i = find_sorted(m->tids, m->ntids, j->itid[i]);
        if (breakdown(m, j->itid[i], j->istart[i], j->iend[i], j->with_edges) < 0
            || (j->with_edges && follow(m, j->itid[i], j->istart[i], j->iend[i], 0, via, 0) < 0)) {
            j->rc = -1;
            break;
        }
    }
    return NULL;
}

/* A later job's final ranges that start before its floor (refs already m's):
 * counted where none of m's ranges of their edge reaches them (m's final ones
 * ended before that job began), else logged to be merged. */
static int settle_finals(model_t *m, const rlog_t *finals, int pairs)
{
    size_t n = pairs ? (size_t)m->ntids * (size_t)m->ntids : (size_t)m->edges.next_id;
    int64_t *reach = malloc((n + 1) * sizeof(int64_t));
    uacc_t **acc = calloc(n + 1, sizeof(*acc));
    int rc = reach && acc ? 0 : -1;
    for (size_t k = 0; rc == 0 && k <= n; k++)
        reach[k] = INT64_MIN;
    if (rc == 0 && pairs) {
        for (size_t c = 0; c < n; c++)
            acc[c] = &m->pairs[c].u;
    } else if (rc == 0) {
        for (size_t i = 0; i < m->edges.cap; i++)
            if (m->edges.slots[i].used)
                acc[m->edges.slots[i].id] = &m->edges.slots[i].u;
    }
    const rlog_t *log = pairs ? &m->plog : &m->slog;
    for (size_t k = 0; rc == 0 && k < log->n; k++)
        if (log->v[k].e > reach[log->v[k].ref])
            reach[log->v[k].ref] = log->v[k].e;
    for (size_t k = 0; rc == 0 && k < finals->n; k++) {
        const range_t *r = &finals->v[k];
        uacc_t *u = acc[r->ref];
        int64_t far = reach[r->ref];
        if (u->ce > u->cs && u->ce > far)
            far = u->ce;
        if (r->s >= far)
            u->done += r->e - r->s;
        else
            rc = rlog_push(pairs ? &m->plog : &m->slog, r->ref, r->s, r->e);
    }
    free(reach);
    free(acc);
    return rc;
}

/* A later job's totals added to m's: its table entries (each keeping the
 * earlier of the two first meetings), its dense cells, its edge ranges. */
static int merge_job(model_t *m, model_t *o)
{
    /* The edges' ranges: a final one of either job overlaps nothing of the
     * other; the rest are merged as ranges (nothing is final while merging). */
    m->watermark = INT64_MIN;
    int64_t *ids = calloc((size_t)o->edges.next_id + 1, sizeof(int64_t));
    if (!ids)
        return -1;
    int rc = 0;
    for (int which = 0; which < 2 && rc == 0; which++) {
        table_t *into = which ? &m->edges : &m->parts;
        const table_t *from = which ? &o->edges : &o->parts;
        for (size_t i = 0; i < from->cap && rc == 0; i++) {
            const slot_t *f = &from->slots[i];
            if (!f->used)
                continue;
            slot_t *s = table_find(into, f->key, f->first);
            if (!s) {
                rc = -1;
                break;
            }
            s->ns += f->ns;
            s->count += f->count;
            s->kinds |= f->kinds;
            if (which) {
                ids[f->id] = s->id;
                s->u.done += f->u.done;
                rc = add_range(m, &s->u, s->id, 0, f->u.cs, f->u.ce);
            }
        }
    }
    for (size_t k = 0; k < o->slog.n && rc == 0; k++)
        rc = rlog_push(&m->slog, ids[o->slog.v[k].ref], o->slog.v[k].s, o->slog.v[k].e);
    if (rc == 0 && o->sfinal.n) {
        for (size_t k = 0; k < o->sfinal.n; k++)
            o->sfinal.v[k].ref = ids[o->sfinal.v[k].ref];
        rc = settle_finals(m, &o->sfinal, 0);
    }
    free(ids);
    if (rc < 0)
        return -1;
    for (Py_ssize_t k = 0; k < m->ntids; k++)
        m->pre_ns[k] += o->pre_ns[k];
    if (m->pairs)
        for (size_t c = 0; c < (size_t)m->ntids * (size_t)m->ntids; c++) {
            pair_t *p = &m->pairs[c];
            const pair_t *q = &o->pairs[c];
            if (!q->count)
                continue;
            p->count += q->count;
            p->kinds |= q->kinds;
            p->u.done += q->u.done;
            if (add_range(m, &p->u, (int64_t)c, 1, q->u.cs, q->u.ce) < 0)
                return -1;
        }
    for (size_t k = 0; k < o->plog.n; k++)
        if (rlog_push(&m->plog, o->plog.v[k].ref, o->plog.v[k].s, o->plog.v[k].e) < 0)
            return -1;
    if (o->pfinal.n && settle_finals(m, &o->pfinal, 1) < 0)
        return -1;
    /* Merged (nothing is final now): each edge's count of logged ranges again. */
    return compact(m, &m->slog, 0, 0) < 0 || compact(m, &m->plog, 1, 0) < 0 ? -1 : 0;
}

/* Every edge's weight: the union of its ranges.  The dense cells join the table
 * first, as entries met after every interval. */
static int finish_edges(model_t *m)
{
    m->interval = INT64_MAX;
    m->step = 0;
    if (compact(m, &m->plog, 1, 1) < 0)
        return -1;
    for (Py_ssize_t w = 0; m->pairs && w < m->ntids; w++)
        for (Py_ssize_t k = 0; k < m->ntids; k++) {
            const pair_t *p = &m->pairs[w * m->ntids + k];
            if (!p->count)
                continue;
            int64_t key[KEYS] = {m->tids[w], B_THREAD, m->tids[k], 0};
            int64_t at[2] = {m->interval, m->step++};
            slot_t *s = table_find(&m->edges, key, at);
            if (!s)
                return -1;
            s->count += p->count;
            s->kinds |= p->kinds;
            /* A pair of threads is never also a table edge: its union is its own. */
            s->u.done += p->u.done + (p->u.ce > p->u.cs ? p->u.ce - p->u.cs : 0);
        }
    if (compact(m, &m->slog, 0, 1) < 0)
        return -1;
    for (size_t i = 0; i < m->edges.cap; i++) {
        slot_t *s = &m->edges.slots[i];
        if (s->used)
            s->ns = s->u.done + (s->u.ce > s->u.cs ? s->u.ce - s->u.cs : 0);
    }
    return 0;
}

/* analyse(tids, off, start, end, state, cpu, src_kind, src_id, begin,
 *         cpus, cpu_off, sw_ts, sw_next, sw_prev,
 *         itid, istart, iend, max_depth, edges[, threads[, min_per_job[, walk[, log_limit]]]])
 * -> (parts, edges): [(part kind, by kind, by id, ns)],
 *    [(waiter tid, on kind, on id, ns, intervals, kinds)] in first-seen order
 * (first met by a walk of the intervals in the order given).  A part's ns is
 * the sum over the intervals; an edge's, the union of the waiter's stretches
 * spent on it (each ns once: see blame.py).  log_limit: edge ranges kept
 * before a compaction (tests make it 1 to compact at every range).
 * walk: the order to visit the intervals in (a permutation of their indexes;
 * None: as given); the result is the same whatever it is.  Visiting them in
 * time order keeps the timelines they read in cache: 3x faster than by
 * duration, the order a rule hands them in. */
static PyObject *analyse(PyObject *self, PyObject *args)
{
    PyObject *o[18];
    long long begin;
    int max_depth, with_edges, threads = 1, min_per_job = MIN_PER_JOB;
    Py_ssize_t log_limit = 65536;
    arr_t arr[18] = {{{0}}};
    arr_t walk_arr = {{0}};
    PyObject *walk_obj = Py_None, *bpos = Py_None, *bfirst = Py_None, *release = Py_None;
    PyObject *sw_fence = Py_None;
    int shift = 0;
    arr_t layout[7] = {{{0}}};
    const int64_t *walk = NULL;
    PyObject *result = NULL;
    model_t m = {0};
    if (!PyArg_ParseTuple(args, "OOOOOOOOLOOOOOOOOOOip|iiOnOOiOO", &o[0], &o[1], &o[2], &o[3],
                          &o[4], &o[5], &o[6], &o[7], &begin, &o[8], &o[9], &o[10], &o[11],
                          &o[12], &o[16], &o[17], &o[13], &o[14], &o[15], &max_depth,
                          &with_edges, &threads, &min_per_job, &walk_obj, &log_limit, &bpos,
                          &bfirst, &shift, &sw_fence, &release))
        return NULL;
    m.log_limit = log_limit > 0 ? (size_t)log_limit : 1;
    static const Py_ssize_t sizes[18] = {8, 8, 8, 8, 1, 8, 1, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8};
    for (int i = 0; i < 18; i++)
        if ((STRIDED_ANALYSE(i) ? arr_get_strided(o[i], &arr[i], sizes[i], "analyse")
                                : arr_get(o[i], &arr[i], sizes[i], 0, "analyse")) < 0)
            goto done;
    if (timeline_columns(&m, arr, begin, "analyse") < 0
        || store_layout(&m, bpos, bfirst, shift, sw_fence, release, N(arr[2]), N(arr[10]),
                            layout, "analyse") < 0)
        goto done;
    m.cpus = I64(arr[8]); m.cpu_off = I64(arr[9]); m.sw_ts = scol(&arr[10]);
    m.sw_next = scol(&arr[11]); m.sw_prev = scol(&arr[12]); m.ncpus = N(arr[8]);
    m.sw_next_i = scol(&arr[16]); m.sw_prev_i = scol(&arr[17]);
    m.max_depth = max_depth;
    m.pre_ns = calloc((size_t)m.ntids + 1, sizeof(int64_t));
    if (!m.pre_ns) {
        PyErr_NoMemory();
        goto done;
    }
    if (with_edges && m.ntids <= DENSE_PAIRS) {
        size_t cells = (size_t)m.ntids * (size_t)m.ntids + 1;
        m.pairs = calloc(cells, sizeof(pair_t));
        if (!m.pairs) {
            PyErr_NoMemory();
            goto done;
        }
    }
    if (N(arr[9]) != m.ncpus + 1) {
        PyErr_SetString(PyExc_ValueError, "analyse: offsets must have one more item");
        goto done;
    }
    const int64_t *itid = I64(arr[13]), *istart = I64(arr[14]), *iend = I64(arr[15]);
    Py_ssize_t n = N(arr[13]);
    if (N(arr[14]) != n || N(arr[15]) != n) {
        PyErr_SetString(PyExc_ValueError, "analyse: the intervals' columns differ in length");
        goto done;
    }
    if (walk_obj != Py_None) {
        if (arr_get(walk_obj, &walk_arr, 8, 0, "analyse") < 0)
            goto done;
        walk = I64(walk_arr);
        int ok = N(walk_arr) == n;
        for (Py_ssize_t k = 0; ok && k < n; k++)
            ok = walk[k] >= 0 && walk[k] < n;
        if (!ok) {
            PyErr_SetString(PyExc_ValueError, "analyse: walk must be a permutation of the intervals");
            goto done;
        }
    }
    if (max_depth > 62)
        m.max_depth = 62;
    /* The intervals in halves, one thread each, when there are enough to pay
     * for a thread: each half its own totals, then the second's added to the
     * first's in its own first-seen order (the serial order). */
    job_t jobs[MAX_JOBS];
    memset(jobs, 0, sizeof jobs);
    if (threads > MAX_JOBS)
        threads = MAX_JOBS;
    if (min_per_job < 1)
        min_per_job = 1;
    int njobs = threads > 1 && n >= 2 * (Py_ssize_t)min_per_job ? threads : 1;
    int failed = 0;
    /* Walked by start, an edge range ending before the current interval's start
     * is final; in a later job, if it also starts after every earlier job's end. */
    int in_time_order = 1;
    for (Py_ssize_t k = 1; k < n && in_time_order; k++)
        in_time_order = istart[walk ? walk[k] : k] >= istart[walk ? walk[k - 1] : k - 1];
    int64_t ended = INT64_MIN;        /* the latest end of the intervals walked before */
    m.watermark = INT64_MIN;
    for (int j = 0; j < njobs; j++) {
        jobs[j].m = m;
        jobs[j].itid = itid; jobs[j].istart = istart; jobs[j].iend = iend;
        jobs[j].walk = walk;
        jobs[j].lo = n * j / njobs; jobs[j].hi = n * (j + 1) / njobs;
        jobs[j].with_edges = with_edges;
        jobs[j].in_time_order = in_time_order;
        jobs[j].m.floor = ended;
        for (Py_ssize_t k = jobs[j].lo; k < jobs[j].hi; k++)
            if (iend[walk ? walk[k] : k] > ended)
                ended = iend[walk ? walk[k] : k];
        if (j > 0) {                  /* its own accumulators; the first job's are m's */
            jobs[j].m.parts = (table_t){0};
            jobs[j].m.edges = (table_t){0};
            jobs[j].m.slog = (rlog_t){0};
            jobs[j].m.plog = (rlog_t){0};
            jobs[j].m.sfinal = (rlog_t){0};
            jobs[j].m.pfinal = (rlog_t){0};
            jobs[j].m.pre_ns = calloc((size_t)m.ntids + 1, sizeof(int64_t));
            jobs[j].m.pairs = m.pairs
                ? calloc((size_t)m.ntids * (size_t)m.ntids + 1, sizeof(pair_t)) : NULL;
            if (!jobs[j].m.pre_ns || (m.pairs && !jobs[j].m.pairs))
                failed = 1;
        }
    }
    if (!failed) {
        pthread_t tids[MAX_JOBS];
        int started[MAX_JOBS] = {0};
        Py_BEGIN_ALLOW_THREADS
        for (int j = 1; j < njobs; j++)
            started[j] = pthread_create(&tids[j], NULL, run_job, &jobs[j]) == 0;
        run_job(&jobs[0]);
        for (int j = 1; j < njobs; j++) {
            if (started[j])
                pthread_join(tids[j], NULL);
            else
                run_job(&jobs[j]);    /* no thread to spare: here, after the first */
        }
        Py_END_ALLOW_THREADS
        for (int j = 0; j < njobs; j++)
            failed |= jobs[j].rc < 0;
    }
    m.parts = jobs[0].m.parts;        /* the first job grew m's tables */
    m.edges = jobs[0].m.edges;
    m.slog = jobs[0].m.slog;
    m.plog = jobs[0].m.plog;
    for (int j = 1; j < njobs && !failed; j++)
        failed = merge_job(&m, &jobs[j].m) < 0;
    for (int j = 1; j < njobs; j++) {
        free(jobs[j].m.pre_ns);
        free(jobs[j].m.pairs);
        free(jobs[j].m.parts.slots);
        free(jobs[j].m.edges.slots);
        free(jobs[j].m.slog.v);
        free(jobs[j].m.plog.v);
        free(jobs[j].m.sfinal.v);
        free(jobs[j].m.pfinal.v);
    }
    if (failed) {
        PyErr_NoMemory();
        goto done;
    }
    /* The dense totals join the tables, met after every interval. */
    m.interval = INT64_MAX;
    m.step = 0;
    for (Py_ssize_t k = 0; k < m.ntids; k++)
        if (m.pre_ns[k] && add_part(&m, P_PREEMPTED, B_THREAD, m.tids[k], m.pre_ns[k]) < 0) {
            PyErr_NoMemory();
            goto done;
        }
    if (with_edges && finish_edges(&m) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    PyObject *parts = table_list(&m.parts, 0);
    PyObject *edges = parts ? table_list(&m.edges, 1) : NULL;
    if (edges)
        result = Py_BuildValue("(NN)", parts, edges);
    else
        Py_XDECREF(parts);
done:
    free(m.pre_ns);
    free(m.pairs);
    free(m.parts.slots);
    free(m.edges.slots);
    free(m.slog.v);
    free(m.plog.v);
    free(m.sfinal.v);
    free(m.pfinal.v);
    arr_release(arr, 18);
    arr_release(&walk_arr, 1);
    arr_release(layout, 7);
    return result;
}

/* ------------------------------------ many intervals, each one explained */

/* explain gives, for each interval, what critical_path.breakdown and
 * critical_path.critical_path (the Python references) give, as columns:
 *
 * - parts, summed per (part kind, what it names, name epoch): a thread part
 *   is named as the reference names it, by the thread's name at a time (the
 *   wait's start when preempted, the wake when blocked); for the threads
 *   whose name changes (ren_*: per thread, the times its names begin) the
 *   epoch is which of its names that is.  Each interval's parts are sorted
 *   by (-ns, kind); a flag says where two tie there (the reference breaks
 *   the tie by label, which Python knows) and where a renamed thread is named.
 * - critical-path segments, merged as the reference merges its pieces (same
 *   thread, state and chain, end to end), each with its state (an index in
 *   critical_path.STATES) and its chain of threads (an index into chains).
 *
 * The intervals are walked by start (their timelines stay in cache) and
 * given back in the order given. */
enum { ST_RUNNING = 0, ST_PREEMPTED = 1, ST_BLOCKED = 2, ST_IPI = 7, ST_UNKNOWN = 8 };
enum { F_TIES = 1, F_RENAMED_PARTS = 2, F_RENAMED_PATH = 4 };

/* Path pieces, as critical_path._follow makes them: the thread, what it did
 * (P_RUN running, P_PRE runnable, P_BLOCKED blocked on a thread not followed,
 * P_WAIT blocked on a source (src_kind, src_id), P_UNKNOWN), the stretch, and
 * the chain of threads it was reached through (via[0:depth]). */
enum { P_RUN = 0, P_PRE = 1, P_BLOCKED_ON = 2, P_WAIT = 3, P_UNK = 4 };
static const int PIECE_STATES[5] = {ST_RUNNING, ST_PREEMPTED, ST_BLOCKED, -1, ST_UNKNOWN};

typedef struct {
    int64_t *v;
    size_t n, cap;
} vec_t;

static int vec_push(vec_t *v, int64_t x)
{
    if (v->n >= v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 256;
        int64_t *p = realloc(v->v, cap * sizeof(int64_t));
        if (!p)
            return -1;
        v->v = p;
        v->cap = cap;
    }
    v->v[v->n++] = x;
    return 0;
}

struct explain_s {
    /* Names that change: renamed threads (sorted) and the times their names begin. */
    const int64_t *ren_tids, *ren_off, *ren_times;
    Py_ssize_t nren;
    /* Critical-path states of waits: by src_kind (-1..5, at +1), then IPIs among IRQs
     * (sorted ids) and per softirq vector. */
    const int8_t *kind_states, *softirq_states;
    const int64_t *ipi;
    Py_ssize_t nkind_states, nsoftirq, nipi;
    /* The chunk's distinct parts (kind, by kind, by id, epoch): ids in creation order. */
    table_t keys;
    vec_t key_rows;                   /* 4 per id */
    int64_t *pre_key;                 /* per thread of the store, its preemptions' id + 1 */
    /* The current interval's parts: per key id, its ns and the interval that last met it. */
    int64_t *acc, *stamp;
    size_t acc_cap;
    vec_t touched;                    /* its key ids */
    int64_t interval;                 /* its stamp */
    int flags;                        /* its F_* */
    /* Walked output: parts (key id, ns); segments; chains (chain_off[k]..[k+1]). */
    vec_t part_key, part_ns;
    vec_t seg_tid, seg_state, seg_start, seg_end, seg_chain;
    vec_t chain_off, chain_tids;
    size_t seg_first;                 /* the current interval's first segment */
    /* With want & 4, every blocked stretch the path met (critical_path's ``waits``):
     * the waiting thread, what woke it (a B_* kind and id, as blame edges name it),
     * the stretch. */
    int waits;
    int segments;                     /* want & 2: the paths' segments are kept */
    vec_t wait_tid, wait_kind, wait_id, wait_start, wait_end;
};

/* Which of the thread's names it had at ``at`` (ThreadNames.name_at's index). */
static int64_t name_epoch(explain_t *one, int64_t tid, int64_t at)
{
    Py_ssize_t r = find_sorted(one->ren_tids, one->nren, tid);
    if (r < 0)
        return 0;
    one->flags |= F_RENAMED_PARTS;
    Py_ssize_t lo = one->ren_off[r], hi = one->ren_off[r + 1];
    Py_ssize_t e = upper(one->ren_times, lo, hi, at) - lo - 1;
    return e < 0 ? 0 : e;
}

/* The id of a part key in the chunk's table (made if new), -1 out of memory. */
static int64_t one_key(explain_t *one, int kind, int by_kind, int64_t by_id, int64_t epoch)
{
    int64_t key[KEYS] = {kind, by_kind, by_id, epoch};
    int64_t at[2] = {0, 0};
    size_t known = one->keys.n;
    slot_t *s = table_find(&one->keys, key, at);
    if (!s)
        return -1;
    int64_t id = s->id;
    if (one->keys.n != known) {       /* a new key */
        for (int k = 0; k < KEYS; k++)
            if (vec_push(&one->key_rows, key[k]) < 0)
                return -1;
        if ((size_t)id >= one->acc_cap) {
            size_t cap = one->acc_cap ? 2 * one->acc_cap : 256;
            int64_t *acc = realloc(one->acc, cap * sizeof(int64_t));
            if (!acc)
                return -1;
            one->acc = acc;
            int64_t *stamp = realloc(one->stamp, cap * sizeof(int64_t));
            if (!stamp)
                return -1;
            one->stamp = stamp;
            memset(one->stamp + one->acc_cap, 0, (cap - one->acc_cap) * sizeof(int64_t));
            one->acc_cap = cap;
        }
    }
    return id;
}

/* ns more of part ``id`` in the current interval. */
static int one_add(explain_t *one, int64_t id, int64_t ns)
{
    if (one->stamp[id] != one->interval) {
        one->stamp[id] = one->interval;
        one->acc[id] = 0;
        if (vec_push(&one->touched, id) < 0)
            return -1;
    }
    one->acc[id] += ns;
    return 0;
}

static int one_part(explain_t *one, int kind, int by_kind, int64_t by_id, int64_t epoch,
                    int64_t ns)
{
    if (ns <= 0)
        return 0;
    int64_t id = one_key(one, kind, by_kind, by_id, epoch);
    return id < 0 ? -1 : one_add(one, id, ns);
}

/* A preemption by thread ``tid`` (``occupant``: its index in the store), named as at
 * ``at``: the most frequent part, its id kept per thread (under its first name). */
static int one_preempted(model_t *m, int64_t occupant, int64_t tid, int64_t at, int64_t ns)
{
    explain_t *one = m->one;
    int64_t epoch = name_epoch(one, tid, at);
    if (epoch || occupant < 0 || occupant >= m->ntids || m->tids[occupant] != tid)
        return one_part(one, P_PREEMPTED, B_THREAD, tid, epoch, ns);
    int64_t id = one->pre_key[occupant] - 1;
    if (id < 0) {
        id = one_key(one, P_PREEMPTED, B_THREAD, tid, 0);
        if (id < 0)
            return -1;
        one->pre_key[occupant] = id + 1;
    }
    return one_add(one, id, ns);
}

typedef struct {
    int64_t ns, kind, id;
} partrow_t;

/* Whether part x comes before y: more ns first, then by kind (ids break ties). */
/* The references sort equal parts by kind name: blocked, on_cpu, preempted, unknown
 * (indexed by P_*). */
static const int kind_rank[4] = {1, 2, 0, 3};

static inline int part_before(const partrow_t *x, const partrow_t *y)
{
    if (x->ns != y->ns)
        return x->ns > y->ns;
    return x->kind != y->kind ? kind_rank[x->kind & 3] < kind_rank[y->kind & 3] : x->id < y->id;
}

/* Parts in order: runs of 16 by insertion, then merged pairwise through tmp (n
 * rows).  A few dozen parts an interval: glibc's qsort cost more than the walk. */
static void sort_parts(partrow_t *rows, partrow_t *tmp, size_t n)
{
    const size_t run = 16;
    for (size_t lo = 0; lo < n; lo += run) {
        size_t hi = lo + run < n ? lo + run : n;
        for (size_t k = lo + 1; k < hi; k++) {
            partrow_t r = rows[k];
            size_t j = k;
            for (; j > lo && part_before(&r, &rows[j - 1]); j--)
                rows[j] = rows[j - 1];
            rows[j] = r;
        }
    }
    for (size_t width = run; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t a = lo, b = mid, k = lo;
            while (a < mid && b < hi)
                tmp[k++] = part_before(&rows[b], &rows[a]) ? rows[b++] : rows[a++];
            while (a < mid)
                tmp[k++] = rows[a++];
            while (b < hi)
                tmp[k++] = rows[b++];
        }
        memcpy(rows, tmp, n * sizeof(partrow_t));
    }
}

/* The current interval's parts, largest first, to the output. */
static int finish_parts(explain_t *one)
{
    size_t n = one->touched.n;
    partrow_t *rows = malloc((2 * n + 1) * sizeof(partrow_t));
    if (!rows)
        return -1;
    for (size_t k = 0; k < n; k++) {
        int64_t id = one->touched.v[k];
        rows[k] = (partrow_t){one->acc[id], one->key_rows.v[KEYS * id], id};
    }
    sort_parts(rows, rows + n, n);
    int rc = 0;
    for (size_t k = 0; k < n && rc == 0; k++) {
        if (k && rows[k].ns == rows[k - 1].ns && rows[k].kind == rows[k - 1].kind)
            one->flags |= F_TIES;
        rc = vec_push(&one->part_key, rows[k].id) < 0 || vec_push(&one->part_ns, rows[k].ns) < 0
            ? -1 : 0;
    }
    free(rows);
    one->touched.n = 0;
    return rc;
}

/* critical_path.wait_state, from the tables Python made with it. */
static int wait_state(const explain_t *one, int kind, int64_t id)
{
    if (kind == B_IRQ && id >= 0 && find_sorted(one->ipi, one->nipi, id) >= 0)
        return ST_IPI;
    if (kind == B_SOFTIRQ && id >= 0 && id < one->nsoftirq)
        return one->softirq_states[id];
    return kind + 1 >= 0 && kind + 1 < one->nkind_states ? one->kind_states[kind + 1] : ST_UNKNOWN;
}

/* Whether chain k is via[0:nvia]. */
static int chain_is(const explain_t *one, int64_t k, const int64_t *via, int nvia)
{
    int64_t lo = one->chain_off.v[k], hi = one->chain_off.v[k + 1];
    return hi - lo == nvia && !memcmp(one->chain_tids.v + lo, via, (size_t)nvia * sizeof(int64_t));
}

/* One piece of the path: merged into the last segment where it continues it. */
static int path_piece(explain_t *one, int64_t tid, int what, const seg_t *s, const int64_t *via,
                      int nvia)
{
    if (s->end <= s->start || !one->segments)
        return 0;
    int state = what == P_WAIT ? wait_state(one, s->src_kind, s->src_id) : PIECE_STATES[what];
    size_t last = one->seg_tid.n - 1;
    if (one->seg_tid.n > one->seg_first && one->seg_tid.v[last] == tid
            && one->seg_state.v[last] == state && one->seg_end.v[last] == s->start
            && chain_is(one, one->seg_chain.v[last], via, nvia)) {
        one->seg_end.v[last] = s->end;
        return 0;
    }
    int64_t chain = (int64_t)one->chain_off.n - 2;       /* the last one made */
    if (chain < 0 || !chain_is(one, chain, via, nvia)) {
        for (int v = 0; v < nvia; v++)
            if (vec_push(&one->chain_tids, via[v]) < 0)
                return -1;
        if (vec_push(&one->chain_off, (int64_t)one->chain_tids.n) < 0)
            return -1;
        chain = (int64_t)one->chain_off.n - 2;
    }
    if (find_sorted(one->ren_tids, one->nren, tid) >= 0)
        one->flags |= F_RENAMED_PATH;
    return vec_push(&one->seg_tid, tid) < 0 || vec_push(&one->seg_state, state) < 0
        || vec_push(&one->seg_start, s->start) < 0 || vec_push(&one->seg_end, s->end) < 0
        || vec_push(&one->seg_chain, chain) < 0 ? -1 : 0;
}

/* A wait the path met (want & 4). */
static int path_wait(explain_t *one, int64_t tid, const seg_t *s)
{
    if (!one->waits)
        return 0;
    int kind = s->src_kind < 0 ? B_NOT_WOKEN : s->src_kind;
    int64_t id = s->src_kind < 0 ? 0 : kind == B_THREAD ? s->src_id : source_id(kind, s->src_id);
    return vec_push(&one->wait_tid, tid) < 0 || vec_push(&one->wait_kind, kind) < 0
        || vec_push(&one->wait_id, id) < 0 || vec_push(&one->wait_start, s->start) < 0
        || vec_push(&one->wait_end, s->end) < 0 ? -1 : 0;
}

/* critical_path._follow over the store. */
static int path_follow(const model_t *m, int64_t tid, int64_t start, int64_t end, int depth,
                       int64_t *via, int nvia)
{
    seglist_t l = {0};
    int rc = clipped(m, tid, start, end, &l);
    for (Py_ssize_t k = 0; rc == 0 && k < l.n; k++) {
        const seg_t *s = &l.v[k];
        switch (s->state) {
        case S_RUNNING:
            rc = path_piece(m->one, tid, P_RUN, s, via, nvia);
            break;
        case S_RUNNABLE:
            rc = path_piece(m->one, tid, P_PRE, s, via, nvia);
            break;
        case S_BLOCKED:
            if (path_wait(m->one, tid, s) < 0) {
                rc = -1;
                break;
            }
            if (s->src_kind == B_THREAD) {
                int64_t waker = s->src_id;
                if (depth < m->max_depth && !on_chain(waker, tid, via, nvia)) {
                    via[nvia] = tid;
                    rc = path_follow(m, waker, s->start, s->end, depth + 1, via, nvia + 1);
                } else {
                    rc = path_piece(m->one, tid, P_BLOCKED_ON, s, via, nvia);
                }
            } else {
                rc = path_piece(m->one, tid, P_WAIT, s, via, nvia);
            }
            break;
        default:
            rc = path_piece(m->one, tid, P_UNK, s, via, nvia);
        }
    }
    free(l.v);
    return rc;
}

static void explain_free(explain_t *one)
{
    vec_t *vecs[] = {&one->key_rows, &one->touched, &one->part_key, &one->part_ns, &one->seg_tid,
                     &one->seg_state, &one->seg_start, &one->seg_end, &one->seg_chain,
                     &one->chain_off, &one->chain_tids, &one->wait_tid, &one->wait_kind,
                     &one->wait_id, &one->wait_start, &one->wait_end};
    for (size_t k = 0; k < sizeof vecs / sizeof *vecs; k++)
        free(vecs[k]->v);
    free(one->keys.slots);
    free(one->pre_key);
    free(one->acc);
    free(one->stamp);
}

static const int64_t *walk_start;     /* by_start's interval starts (explain holds the GIL) */

static int by_start(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    if (walk_start[x] != walk_start[y])
        return walk_start[x] < walk_start[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* ``n`` items from each walked interval's range (lo[i], hi[i]) of ``v``, in the order
 * given, as bytes; ``off`` gets each interval's first item and the end. */
static PyObject *gathered(const vec_t *v, const int64_t *lo, const int64_t *hi, Py_ssize_t n,
                          int64_t *off)
{
    size_t total = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        total += (size_t)(hi[i] - lo[i]);
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(total * sizeof(int64_t)));
    if (!out)
        return NULL;
    int64_t *p = (int64_t *)PyBytes_AS_STRING(out);
    size_t at = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (off)
            off[i] = (int64_t)at;
        memcpy(p + at, v->v + lo[i], (size_t)(hi[i] - lo[i]) * sizeof(int64_t));
        at += (size_t)(hi[i] - lo[i]);
    }
    if (off)
        off[n] = (int64_t)at;
    return out;
}

static PyObject *bytes_of(const int64_t *v, size_t n)
{
    return PyBytes_FromStringAndSize((const char *)v, (Py_ssize_t)(n * sizeof(int64_t)));
}

/* explain(tids, off, start, end, state, cpu, src_kind, src_id, begin,
 *         cpus, cpu_off, sw_ts, sw_next, sw_prev, sw_next_i, sw_prev_i,
 *         ren_tids, ren_off, ren_times, kind_states, ipi, softirq_states,
 *         itid, istart, iend, max_depth, want)
 * -> 19 bytes objects of int64 items: keys (4 per distinct part: kind, by kind, by id,
 *    epoch), part_off (n+1), part_key, part_ns, flags (n), seg_off (n+1), seg_tid,
 *    seg_state, seg_start, seg_end, seg_chain, chain_off, chain_tids, wait_off (n+1),
 *    wait_tid, wait_kind, wait_id, wait_start, wait_end.
 * want: 1 the breakdowns, 2 the critical paths, 3 both; 4 the waits met on the paths
 *    (walked, their segments kept only with 2), as critical_path's ``waits`` lists them
 *    (the stacks' wakeups). */
static PyObject *explain(PyObject *self, PyObject *args)
{
    PyObject *o[25];
    long long begin;
    int max_depth, want;
    arr_t arr[25] = {{{0}}};
    PyObject *result = NULL;
    model_t m = {0};
    explain_t one = {0};
    int64_t *order = NULL, *lo = NULL, *hi = NULL, *part_off = NULL, *seg_off = NULL;
    int64_t *wait_off = NULL;
    int64_t *flags = NULL;
    PyObject *bpos = Py_None, *bfirst = Py_None, *sw_fence = Py_None, *release = Py_None;
    int shift = 0;
    struct pages_s pages = {0};
    arr_t layout[7] = {{{0}}};
    if (!PyArg_ParseTuple(args, "OOOOOOOOLOOOOOOOOOOOOOOOOii|OOiOO", &o[0], &o[1], &o[2], &o[3],
                          &o[4], &o[5], &o[6], &o[7], &begin, &o[8], &o[9], &o[10], &o[11],
                          &o[12], &o[13], &o[14], &o[15], &o[16], &o[17], &o[18], &o[19],
                          &o[20], &o[21], &o[22], &o[23], &max_depth, &want, &bpos, &bfirst, &shift, &sw_fence,
                          &release))
        return NULL;
    static const Py_ssize_t sizes[25] = {8, 8, 8, 8, 1, 8, 1, 8, 8, 8, 8, 8, 8, 8, 8,
                                         8, 8, 8, 1, 8, 1, 8, 8, 8, 0};
    for (int i = 0; i < 24; i++)
        if ((STRIDED_EXPLAIN(i) ? arr_get_strided(o[i], &arr[i], sizes[i], "explain")
                                : arr_get(o[i], &arr[i], sizes[i], 0, "explain")) < 0)
            goto done;
    if (timeline_columns(&m, arr, begin, "explain") < 0
        || store_layout(&m, bpos, bfirst, shift, sw_fence, release, N(arr[2]), N(arr[10]),
                            layout, "explain") < 0)
        goto done;
    m.cpus = I64(arr[8]); m.cpu_off = I64(arr[9]); m.sw_ts = scol(&arr[10]);
    m.sw_next = scol(&arr[11]); m.sw_prev = scol(&arr[12]); m.ncpus = N(arr[8]);
    m.sw_next_i = scol(&arr[13]); m.sw_prev_i = scol(&arr[14]);
    m.max_depth = max_depth > 62 ? 62 : max_depth;
    m.waiter_i = -1;
    m.one = &one;
    one.pre_key = calloc((size_t)m.ntids + 1, sizeof(int64_t));
    one.ren_tids = I64(arr[15]); one.ren_off = I64(arr[16]); one.ren_times = I64(arr[17]);
    one.nren = N(arr[15]);
    one.kind_states = I8(arr[18]); one.nkind_states = N(arr[18]);
    one.ipi = I64(arr[19]); one.nipi = N(arr[19]);
    one.softirq_states = I8(arr[20]); one.nsoftirq = N(arr[20]);
    const int64_t *itid = I64(arr[21]), *istart = I64(arr[22]), *iend = I64(arr[23]);
    Py_ssize_t n = N(arr[21]);
    if (N(arr[9]) != m.ncpus + 1 || N(arr[16]) != one.nren + 1) {
        PyErr_SetString(PyExc_ValueError, "explain: offsets must have one more item");
        goto done;
    }
    if (N(arr[22]) != n || N(arr[23]) != n) {
        PyErr_SetString(PyExc_ValueError, "explain: the intervals' columns differ in length");
        goto done;
    }
    order = malloc((n + 1) * sizeof(int64_t));
    lo = malloc((3 * n + 1) * sizeof(int64_t));
    hi = malloc((3 * n + 1) * sizeof(int64_t));
    wait_off = malloc((n + 1) * sizeof(int64_t));
    one.waits = (want & 4) != 0;
    one.segments = (want & 2) != 0;
    part_off = malloc((n + 1) * sizeof(int64_t));
    seg_off = malloc((n + 1) * sizeof(int64_t));
    flags = malloc((n + 1) * sizeof(int64_t));
    if (!order || !lo || !hi || !part_off || !seg_off || !flags || !wait_off || !one.pre_key
            || vec_push(&one.chain_off, 0) < 0)
        goto nomem;
    for (Py_ssize_t i = 0; i < n; i++)
        order[i] = i;
    walk_start = istart;
    qsort(order, (size_t)n, sizeof(int64_t), by_start);
    int64_t via[64];
    if (m.nrelease)
        m.pages = &pages;
    for (Py_ssize_t w = 0; w < n; w++) {
        maybe_release(&m);
        Py_ssize_t i = (Py_ssize_t)order[w];
        one.interval = w + 1;
        one.flags = 0;
        lo[i] = (int64_t)one.part_key.n;
        if ((want & 1) && (breakdown(&m, itid[i], istart[i], iend[i], 0) < 0
                           || finish_parts(&one) < 0))
            goto nomem;
        hi[i] = (int64_t)one.part_key.n;
        lo[n + i] = (int64_t)one.seg_tid.n;
        lo[2 * n + i] = (int64_t)one.wait_tid.n;
        one.seg_first = one.seg_tid.n;
        if ((want & 6) && path_follow(&m, itid[i], istart[i], iend[i], 0, via, 0) < 0)
            goto nomem;
        hi[n + i] = (int64_t)one.seg_tid.n;
        hi[2 * n + i] = (int64_t)one.wait_tid.n;
        flags[i] = one.flags;
    }
    PyObject *items[19] = {NULL};
    items[0] = bytes_of(one.key_rows.v, one.key_rows.n);
    items[2] = gathered(&one.part_key, lo, hi, n, part_off);
    items[3] = gathered(&one.part_ns, lo, hi, n, NULL);
    items[1] = bytes_of(part_off, (size_t)n + 1);
    items[4] = bytes_of(flags, (size_t)n);
    items[6] = gathered(&one.seg_tid, lo + n, hi + n, n, seg_off);
    items[5] = bytes_of(seg_off, (size_t)n + 1);
    items[7] = gathered(&one.seg_state, lo + n, hi + n, n, NULL);
    items[8] = gathered(&one.seg_start, lo + n, hi + n, n, NULL);
    items[9] = gathered(&one.seg_end, lo + n, hi + n, n, NULL);
    items[10] = gathered(&one.seg_chain, lo + n, hi + n, n, NULL);
    items[11] = bytes_of(one.chain_off.v, one.chain_off.n);
    items[12] = bytes_of(one.chain_tids.v, one.chain_tids.n);
    items[14] = gathered(&one.wait_tid, lo + 2 * n, hi + 2 * n, n, wait_off);
    items[13] = bytes_of(wait_off, (size_t)n + 1);
    items[15] = gathered(&one.wait_kind, lo + 2 * n, hi + 2 * n, n, NULL);
    items[16] = gathered(&one.wait_id, lo + 2 * n, hi + 2 * n, n, NULL);
    items[17] = gathered(&one.wait_start, lo + 2 * n, hi + 2 * n, n, NULL);
    items[18] = gathered(&one.wait_end, lo + 2 * n, hi + 2 * n, n, NULL);
    result = PyTuple_New(19);
    for (int k = 0; k < 19; k++) {
        if (!items[k] || !result) {
            for (int j = k; j < 19; j++)
                Py_XDECREF(items[j]);
            Py_CLEAR(result);
            break;
        }
        PyTuple_SET_ITEM(result, k, items[k]);
    }
    goto done;
nomem:
    PyErr_NoMemory();
done:
    explain_free(&one);
    free(order);
    free(lo);
    free(hi);
    free(part_off);
    free(seg_off);
    free(wait_off);
    free(flags);
    arr_release(arr, 25);
    arr_release(layout, 7);
    return result;
}

/* read_blocks(fd, base, order, sizes, block_bytes, out) -> bytes read: the blocks
 * order[0], order[1]... of a file (block b at base + b * block_bytes, sizes[b]
 * bytes) one after the other into out, with pread (store.py lays a store out by
 * time with it: a mapping would map a whole folio for every block read). */
static PyObject *read_blocks(PyObject *self, PyObject *args)
{
    int fd;
    long long base, block_bytes;
    PyObject *o[3];
    arr_t arr[3] = {{{0}}};
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "iLOOLO", &fd, &base, &o[0], &o[1], &block_bytes, &o[2]))
        return NULL;
    if (arr_get(o[0], &arr[0], 8, 0, "read_blocks") < 0 || arr_get(o[1], &arr[1], 8, 0,
                                                                     "read_blocks") < 0
        || arr_get(o[2], &arr[2], 1, 1, "read_blocks") < 0)
        goto done;
    const int64_t *order = I64(arr[0]), *sizes = I64(arr[1]);
    Py_ssize_t n = N(arr[0]), nsizes = N(arr[1]);
    char *out = arr[2].view.buf;
    Py_ssize_t room = arr[2].view.len, at = 0;
    int err = 0;
    const char *problem = NULL;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n && !err && !problem; i++) {
        int64_t b = order[i];
        if (b < 0 || b >= nsizes || sizes[b] < 0 || sizes[b] > room - at) {
            problem = "a block out of range";
            break;
        }
        int64_t done = 0;
        while (done < sizes[b]) {
            ssize_t got = pread(fd, out + at + done, (size_t)(sizes[b] - done),
                                (off_t)(base + b * block_bytes + done));
            if (got < 0) {
                err = errno;
                break;
            }
            if (got == 0) {
                problem = "the file ended early";
                break;
            }
            done += got;
        }
        at += done;
    }
    Py_END_ALLOW_THREADS
    if (err) {
        errno = err;
        PyErr_SetFromErrno(PyExc_OSError);
    } else if (problem) {
        PyErr_Format(PyExc_OSError, "read_blocks: %s", problem);
    } else {
        result = PyLong_FromSsize_t(at);
    }
done:
    arr_release(arr, 3);
    return result;
}

/* ------------------------------------------------------------ JSON out */

/* A growing byte buffer. */
typedef struct {
    char *p;
    size_t len, cap;
} jbuf_t;

static int jb_room(jbuf_t *b, size_t n)
{
    if (b->len + n <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p)
        return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

static int jb_put(jbuf_t *b, const char *s, size_t n)
{
    if (jb_room(b, n) < 0)
        return -1;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    return 0;
}

/* An integer as JSON writes it (decimal, '-' when negative). */
static int jb_int(jbuf_t *b, int64_t v)
{
    char tmp[24];
    int n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[sizeof tmp - 1 - n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[sizeof tmp - 1 - n++] = '-';
    return jb_put(b, tmp + sizeof tmp - n, (size_t)n);
}

/* Item i of list: the list begun in b, closed here (bad: a write to b failed); 0, or
 * -1 with an exception. */
static int jb_item(jbuf_t *b, int bad, PyObject *list, Py_ssize_t i)
{
    PyObject *one = bad || jb_put(b, "]", 1) < 0 ? PyErr_NoMemory()
                    : PyBytes_FromStringAndSize(b->p, (Py_ssize_t)b->len);
    if (!one)
        return -1;
    PyList_SET_ITEM(list, i, one);
    return 0;
}

/* The bytes objects of a list, as (pointer, length) pairs; NULL with an error set. */
typedef struct {
    const char *p;
    Py_ssize_t n;
} piece_t;

static piece_t *pieces_of(PyObject *list, Py_ssize_t *count, const char *what)
{
    if (!PyList_Check(list)) {
        PyErr_Format(PyExc_TypeError, "%s: a list of bytes expected", what);
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(list);
    piece_t *out = malloc((size_t)(n ? n : 1) * sizeof *out);
    if (!out) {
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(list, i);
        if (!PyBytes_Check(item)) {
            free(out);
            PyErr_Format(PyExc_TypeError, "%s: a list of bytes expected", what);
            return NULL;
        }
        out[i].p = PyBytes_AS_STRING(item);
        out[i].n = PyBytes_GET_SIZE(item);
    }
    *count = n;
    return out;
}

/* Each list's items [off[i], off[i+1]) of an offsets column, checked against the
 * items' count; 0 when they hold. */
static int offsets_ok(const int64_t *off, Py_ssize_t n, Py_ssize_t items, const char *what)
{
    for (Py_ssize_t i = 0; i < n; i++)
        if (off[i] < 0 || off[i] > off[i + 1] || off[i + 1] > items) {
            PyErr_Format(PyExc_ValueError, "%s: offsets out of range", what);
            return -1;
        }
    return 0;
}

/* parts_json(part_off, part_key, part_ns, labels) -> [bytes]: interval i's parts
 * part_off[i]:part_off[i+1] as `[{...,"ns":N},...]`, labels[key] being a part's
 * JSON up to its ns (`{"kind":"preempted","by":"x (1)","tid":1,"ns":`). */
static PyObject *parts_json(PyObject *self, PyObject *args)
{
    PyObject *o[3], *labels_list, *result = NULL;
    arr_t arr[3] = {{{0}}};
    piece_t *labels = NULL;
    Py_ssize_t nlabels = 0;
    jbuf_t b = {0};
    if (!PyArg_ParseTuple(args, "OOOO", &o[0], &o[1], &o[2], &labels_list))
        return NULL;
    for (int i = 0; i < 3; i++)
        if (arr_get(o[i], &arr[i], 8, 0, "parts_json") < 0)
            goto done;
    if (!(labels = pieces_of(labels_list, &nlabels, "parts_json")))
        goto done;
    const int64_t *off = I64(arr[0]), *key = I64(arr[1]), *ns = I64(arr[2]);
    Py_ssize_t n = N(arr[0]) - 1, items = N(arr[1]);
    if (n < 0 || N(arr[2]) != items) {
        PyErr_SetString(PyExc_ValueError, "parts_json: columns of different lengths");
        goto done;
    }
    if (offsets_ok(off, n, items, "parts_json") < 0)
        goto done;
    for (Py_ssize_t k = 0; k < items; k++)
        if (key[k] < 0 || key[k] >= nlabels) {
            PyErr_SetString(PyExc_ValueError, "parts_json: a part's label out of range");
            goto done;
        }
    if (!(result = PyList_New(n)))
        goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        b.len = 0;
        int bad = jb_put(&b, "[", 1);
        for (int64_t k = off[i]; k < off[i + 1] && !bad; k++) {
            const piece_t *l = &labels[key[k]];
            bad = (k > off[i] && jb_put(&b, ",", 1) < 0) || jb_put(&b, l->p, (size_t)l->n) < 0
                  || jb_int(&b, ns[k]) < 0 || jb_put(&b, "}", 1) < 0;
        }
        if (jb_item(&b, bad, result, i) < 0) {
            Py_CLEAR(result);
            goto done;
        }
    }
done:
    free(b.p);
    free(labels);
    arr_release(arr, 3);
    return result;
}

/* path_json(seg_off, seg_who, seg_state, seg_start, seg_end, seg_chain, chain_off,
 *           chain_tids, who, states) -> [bytes]: interval i's path segments
 * seg_off[i]:seg_off[i+1] as `[{"tid":T,"comm":C,"state":S,"start_ns":A,"end_ns":B,
 * "via":[...]},...]`; who[seg_who[k]] is a segment's JSON up to its state's name
 * (`{"tid":1,"comm":"x","state":"`), states[state] from there to its start
 * (`running","start_ns":`), chain c's tids chain_tids[chain_off[c]:chain_off[c+1]]. */
static PyObject *path_json(PyObject *self, PyObject *args)
{
    PyObject *o[8], *who_list, *states_list, *result = NULL;
    arr_t arr[8] = {{{0}}};
    piece_t *who = NULL, *states = NULL;
    Py_ssize_t nwho = 0, nstates = 0;
    jbuf_t b = {0};
    if (!PyArg_ParseTuple(args, "OOOOOOOOOO", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &o[6],
                          &o[7], &who_list, &states_list))
        return NULL;
    for (int i = 0; i < 8; i++)
        if (arr_get(o[i], &arr[i], 8, 0, "path_json") < 0)
            goto done;
    if (!(who = pieces_of(who_list, &nwho, "path_json"))
        || !(states = pieces_of(states_list, &nstates, "path_json")))
        goto done;
    const int64_t *off = I64(arr[0]), *w = I64(arr[1]), *st = I64(arr[2]), *a = I64(arr[3]),
                  *e = I64(arr[4]), *chain = I64(arr[5]), *coff = I64(arr[6]),
                  *ctids = I64(arr[7]);
    Py_ssize_t n = N(arr[0]) - 1, items = N(arr[1]), chains = N(arr[6]) - 1;
    if (n < 0 || chains < 0 || N(arr[2]) != items || N(arr[3]) != items || N(arr[4]) != items
        || N(arr[5]) != items) {
        PyErr_SetString(PyExc_ValueError, "path_json: columns of different lengths");
        goto done;
    }
    if (offsets_ok(off, n, items, "path_json") < 0
        || offsets_ok(coff, chains, N(arr[7]), "path_json") < 0)
        goto done;
    for (Py_ssize_t k = 0; k < items; k++)
        if (w[k] < 0 || w[k] >= nwho || st[k] < 0 || st[k] >= nstates || chain[k] < 0
            || chain[k] >= chains) {
            PyErr_SetString(PyExc_ValueError, "path_json: a segment's thread, state or chain "
                            "out of range");
            goto done;
        }
    if (!(result = PyList_New(n)))
        goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        b.len = 0;
        int bad = jb_put(&b, "[", 1);
        for (int64_t k = off[i]; k < off[i + 1] && !bad; k++) {
            bad = (k > off[i] && jb_put(&b, ",", 1) < 0)
                  || jb_put(&b, who[w[k]].p, (size_t)who[w[k]].n) < 0
                  || jb_put(&b, states[st[k]].p, (size_t)states[st[k]].n) < 0
                  || jb_int(&b, a[k]) < 0 || jb_put(&b, ",\"end_ns\":", 10) < 0
                  || jb_int(&b, e[k]) < 0 || jb_put(&b, ",\"via\":[", 8) < 0;
            for (int64_t c = coff[chain[k]]; c < coff[chain[k] + 1] && !bad; c++)
                bad = (c > coff[chain[k]] && jb_put(&b, ",", 1) < 0) || jb_int(&b, ctids[c]) < 0;
            bad = bad || jb_put(&b, "]}", 2) < 0;
        }
        if (jb_item(&b, bad, result, i) < 0) {
            Py_CLEAR(result);
            goto done;
        }
    }
done:
    free(b.p);
    free(who);
    free(states);
    arr_release(arr, 8);
    return result;
}

static PyMethodDef methods[] = {
    {"read_blocks", read_blocks, METH_VARARGS,
     "read_blocks(fd, base, order, sizes, block_bytes, out) -> bytes read"},
    {"timelines", timelines_impl, METH_VARARGS,
     "timelines(tid, ts, code, a, b, begin, out_tid, out_wake, out_records[, early_wakes]) "
     "-> segments written"},
    {"analyse", analyse, METH_VARARGS,
     "analyse(timeline columns..., switch columns..., itid, istart, iend, max_depth, edges) "
     "-> (parts, edges)"},
    {"parts_json", parts_json, METH_VARARGS,
     "parts_json(part_off, part_key, part_ns, labels) -> each interval's breakdown as JSON"},
    {"path_json", path_json, METH_VARARGS,
     "path_json(seg_off, seg_who, seg_state, seg_start, seg_end, seg_chain, chain_off, "
     "chain_tids, who, states) -> each interval's critical path as JSON"},
    {"explain", explain, METH_VARARGS,
     "explain(timeline columns..., switch columns..., name epochs..., wait states..., itid, "
     "istart, iend, max_depth, want) -> each interval's breakdown and critical path, as columns"},
    {NULL}
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "corr.sched._native",
    "The scheduling model's per-event and per-interval work in C.", -1, methods,
};

PyMODINIT_FUNC PyInit__native(void)
{
    return PyModule_Create(&module);
}
