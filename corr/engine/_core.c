/*
 * corr.engine._core: the matching engine's per-event work in C.
 *
 * `Core` is one rule's matcher with exactly the semantics of the Python
 * reference in matcher.py (tests/test_core_matcher.py feeds both the same
 * random streams and compares every interval and count): open entries in
 * a dict by key, deadlines in a FIFO with lazy deletion, timed-out entries
 * awaiting a late exit, and the interval table as growing C buffers.
 * `run_batch` is the engine's walk over one batch (runner.py prepares the
 * per-class columns in Python); it calls back into Python only for what
 * is not a plain column: row filters and values read at the event.
 *
 * Values stay Python objects (keys, captured tuples, names), so every key
 * and value type the rule language allows works here unchanged.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#define NO_DEADLINE INT64_MAX
#define NONE_INT INT32_MIN

enum { M_NEST = 0, M_FIFO = 1, M_FIRST = 2, M_LAST = 3 };
enum { COMPLETE = 0, LATE = 1, TIMEOUT = 2, INCOMPLETE = 3 };
enum { K_ENTRY = 0, K_EXIT = 1, K_CANCEL = 2, K_SPAN = 3, K_STEP = 4 };
enum { O_MAY = 0, O_MUST = 1, O_MUST_NOT = 2 };
enum { G_NONE = 0, G_KEY = 1, G_KEY_PART = 2, G_ENTRY = 3, G_EXIT = 4, G_CALL = 5 };

static PyObject *S_IGNORED, *S_REPLACED, *S_FILTERED, *S_NEGATIVE;

/* ---------------------------------------------------------------- buffers */

typedef struct {
    char *data;
    Py_ssize_t len, cap, width;
} buf_t;

static int buf_reserve(buf_t *b, Py_ssize_t n)
{
    if (b->len + n <= b->cap)
        return 0;
    Py_ssize_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + n)
        cap *= 2;
    char *data = PyMem_Realloc(b->data, (size_t)(cap * b->width));
    if (!data) {
        PyErr_NoMemory();
        return -1;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

#define BUF_PUSH(b, type, value) \
    (buf_reserve((b), 1) < 0 ? -1 : (((type *)(b)->data)[(b)->len++] = (type)(value), 0))

/* ------------------------------------------------------------------ entry */

/* An entry waiting for its exit; a small Python object so that dicts and
 * lists hold it and reference counting frees it. */
typedef struct {
    PyObject_HEAD
    int64_t ts, deadline;
    PyObject *key, *tid, *cpu, *comm, *values;
    PyObject *seen;     /* a rule with steps: per step its last values or None; NULL: none yet */
    char timed_out;
    char live;          /* its deadline is in the FIFO and still to come */
} Entry;

static void Entry_dealloc(Entry *e)
{
    Py_XDECREF(e->key);
    Py_XDECREF(e->tid);
    Py_XDECREF(e->cpu);
    Py_XDECREF(e->comm);
    Py_XDECREF(e->values);
    Py_XDECREF(e->seen);
    PyObject_Free(e);
}

static PyTypeObject EntryType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "corr.engine._core.Entry",
    .tp_basicsize = sizeof(Entry),
    .tp_dealloc = (destructor)Entry_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
};

static Entry *entry_new(int64_t ts, PyObject *key, PyObject *tid, PyObject *cpu,
                        PyObject *comm, PyObject *values, int64_t deadline)
{
    Entry *e = PyObject_New(Entry, &EntryType);
    if (!e)
        return NULL;
    e->ts = ts;
    e->deadline = deadline;
    Py_INCREF(key); e->key = key;
    Py_INCREF(tid); e->tid = tid;
    Py_INCREF(cpu); e->cpu = cpu;
    Py_INCREF(comm); e->comm = comm;
    Py_INCREF(values); e->values = values;
    e->seen = NULL;
    e->timed_out = 0;
    e->live = 0;
    return e;
}

/* ------------------------------------------------------------------- core */

typedef struct {
    PyObject_HEAD
    int match, single;
    int has_timeout;
    int64_t timeout;
    PyObject *open;          /* key -> Entry (first/last) or list of Entry */
    PyObject *timed_out;     /* key -> list of Entry */
    Entry **fifo;            /* ring of deadlines, each holding a reference */
    Py_ssize_t fifo_head, fifo_len, fifo_cap, live;
    int64_t next_deadline;
    long long entries, unmatched;
    PyObject *dropped;       /* reason -> count */
    PyObject *cancel_reasons;/* class name -> "cancelled by <name>" */
    PyObject *names;         /* tid -> name, or NULL: leave names alone */
    PyObject *swapper;       /* cpu -> "swapper/<cpu>" */
    int has_eq, eq_sa, eq_ia, eq_sb, eq_ib;
    PyObject *pair_fn;
    int group_kind;
    Py_ssize_t group_index;
    PyObject *group_fn, *groups;
    Py_ssize_t nfields;
    int *field_side;
    Py_ssize_t *field_index;
    /* the interval table */
    buf_t start, end, status, etid, ecpu, xtid, xcpu, group, keyq;
    PyObject *keylist;       /* NULL while every key is an int64 */
    PyObject *entry_comm, *exit_comm, *field_cols;
    /* With watch_expired(): (ts, key, tid, cpu, comm, values) of each entry that
     * timed out since take_expired(), for the library's on_timeout; else NULL. */
    PyObject *expired;
    /* Steps (set_steps; corr/engine/sequence.py is the reference): per step its
     * occurs and within (-1: none), the values of one not seen, the reasons of
     * the drops; the exit's values when it had none. */
    Py_ssize_t nsteps;
    char *occurs;
    int64_t *within;
    PyObject *nothing, *step_reasons, *no_exit;
} Core;

static void Core_dealloc(Core *c)
{
    for (Py_ssize_t i = 0; i < c->fifo_len; i++)
        Py_DECREF(c->fifo[(c->fifo_head + i) % c->fifo_cap]);
    PyMem_Free(c->fifo);
    Py_XDECREF(c->open);
    Py_XDECREF(c->timed_out);
    Py_XDECREF(c->expired);
    PyMem_Free(c->occurs);
    PyMem_Free(c->within);
    Py_XDECREF(c->nothing);
    Py_XDECREF(c->step_reasons);
    Py_XDECREF(c->no_exit);
    Py_XDECREF(c->dropped);
    Py_XDECREF(c->cancel_reasons);
    Py_XDECREF(c->names);
    Py_XDECREF(c->swapper);
    Py_XDECREF(c->pair_fn);
    Py_XDECREF(c->group_fn);
    Py_XDECREF(c->groups);
    PyMem_Free(c->field_side);
    PyMem_Free(c->field_index);
    buf_t *bufs[] = {&c->start, &c->end, &c->status, &c->etid, &c->ecpu, &c->xtid,
                     &c->xcpu, &c->group, &c->keyq};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        PyMem_Free(bufs[i]->data);
    Py_XDECREF(c->keylist);
    Py_XDECREF(c->entry_comm);
    Py_XDECREF(c->exit_comm);
    Py_XDECREF(c->field_cols);
    Py_TYPE(c)->tp_free((PyObject *)c);
}

static int parse_match(const char *s)
{
    if (!strcmp(s, "nest")) return M_NEST;
    if (!strcmp(s, "fifo")) return M_FIFO;
    if (!strcmp(s, "first")) return M_FIRST;
    if (!strcmp(s, "last")) return M_LAST;
    return -1;
}

/* Core(match, timeout_ns, pair, group, field_sources, groups, names) */
static int Core_init(Core *c, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"match", "timeout_ns", "pair", "group", "field_sources",
                             "groups", "names", NULL};
    const char *match;
    PyObject *timeout, *pair, *group, *sources, *groups, *names;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "sOOOOO!O", kwlist, &match, &timeout, &pair,
                                     &group, &sources, &PyDict_Type, &groups, &names))
        return -1;
    if ((c->match = parse_match(match)) < 0) {
        PyErr_Format(PyExc_ValueError, "unknown match policy %s", match);
        return -1;
    }
    c->single = c->match == M_FIRST || c->match == M_LAST;
    c->has_timeout = timeout != Py_None;
    if (c->has_timeout && (c->timeout = PyLong_AsLongLong(timeout)) == -1 && PyErr_Occurred())
        return -1;
    if (pair == Py_None) {
    } else if (PyTuple_Check(pair)) {
        if (!PyArg_ParseTuple(pair, "iiii", &c->eq_sa, &c->eq_ia, &c->eq_sb, &c->eq_ib))
            return -1;
        c->has_eq = 1;
    } else {
        Py_INCREF(pair);
        c->pair_fn = pair;
    }
    if (group == Py_None) {
        c->group_kind = G_NONE;
    } else if (PyTuple_Check(group)) {
        const char *kind;
        Py_ssize_t index = -1;
        if (!PyArg_ParseTuple(group, "s|n", &kind, &index))
            return -1;
        if (!strcmp(kind, "key"))
            c->group_kind = index < 0 ? G_KEY : G_KEY_PART;
        else if (!strcmp(kind, "entry"))
            c->group_kind = G_ENTRY;
        else if (!strcmp(kind, "exit"))
            c->group_kind = G_EXIT;
        else {
            PyErr_Format(PyExc_ValueError, "unknown group kind %s", kind);
            return -1;
        }
        c->group_index = index;
    } else {
        c->group_kind = G_CALL;
        Py_INCREF(group);
        c->group_fn = group;
    }
    Py_INCREF(groups);
    c->groups = groups;
    PyObject *seq = PySequence_Fast(sources, "field_sources must be a sequence");
    if (!seq)
        return -1;
    c->nfields = PySequence_Fast_GET_SIZE(seq);
    c->field_side = PyMem_Calloc((size_t)c->nfields + 1, sizeof(int));
    c->field_index = PyMem_Calloc((size_t)c->nfields + 1, sizeof(Py_ssize_t));
    c->field_cols = PyList_New(c->nfields);
    if (!c->field_side || !c->field_index || !c->field_cols) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < c->nfields; i++) {
        PyObject *side, *index;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "OO", &side, &index)) {
            Py_DECREF(seq);
            return -1;
        }
        c->field_side[i] = side == Py_None ? -1 : (int)PyLong_AsLong(side);
        c->field_index[i] = index == Py_None ? -1 : PyLong_AsSsize_t(index);
        PyObject *col = PyList_New(0);
        if (!col) {
            Py_DECREF(seq);
            return -1;
        }
        PyList_SET_ITEM(c->field_cols, i, col);
    }
    Py_DECREF(seq);
    if (PyErr_Occurred())
        return -1;
    if (names != Py_None) {
        if (!PyDict_Check(names)) {
            PyErr_SetString(PyExc_TypeError, "names must be a dict or None");
            return -1;
        }
        Py_INCREF(names);
        c->names = names;
    }
    c->open = PyDict_New();
    c->timed_out = PyDict_New();
    c->dropped = PyDict_New();
    c->cancel_reasons = PyDict_New();
    c->swapper = PyDict_New();
    c->entry_comm = PyList_New(0);
    c->exit_comm = PyList_New(0);
    if (!c->open || !c->timed_out || !c->dropped || !c->cancel_reasons || !c->swapper ||
        !c->entry_comm || !c->exit_comm)
        return -1;
    c->next_deadline = NO_DEADLINE;
    c->start.width = c->end.width = c->keyq.width = 8;
    c->status.width = 1;
    c->etid.width = c->ecpu.width = c->xtid.width = c->xcpu.width = c->group.width = 4;
    return 0;
}

/* ---------------------------------------------------------------- helpers */

static int count_drop(Core *c, PyObject *reason, long long n)
{
    PyObject *old = PyDict_GetItemWithError(c->dropped, reason);
    if (!old && PyErr_Occurred())
        return -1;
    long long was = old ? PyLong_AsLongLong(old) : 0;
    PyObject *now = PyLong_FromLongLong(was + n);
    if (!now)
        return -1;
    int rc = PyDict_SetItem(c->dropped, reason, now);
    Py_DECREF(now);
    return rc;
}

/* A tid or cpu for a 32-bit column: None is NONE_INT. */
static int small_int(PyObject *v, int32_t *out)
{
    if (v == Py_None) {
        *out = NONE_INT;
        return 0;
    }
    long x = PyLong_AsLong(v);
    if (x == -1 && PyErr_Occurred())
        return -1;
    if (x < INT32_MIN || x > INT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "value out of a 32-bit column's range");
        return -1;
    }
    *out = (int32_t)x;
    return 0;
}

/* The thread's name, as ThreadNames.name gives it (new reference). */
static PyObject *name_of(Core *c, PyObject *tid, PyObject *cpu)
{
    if (PyLong_Check(tid)) {
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(tid, &overflow);
        if (v == 0 && !overflow) {
            if (PyErr_Occurred())
                return NULL;
            if (cpu == Py_None)
                Py_RETURN_NONE;
            PyObject *name = PyDict_GetItemWithError(c->swapper, cpu);
            if (name) {
                Py_INCREF(name);
                return name;
            }
            if (PyErr_Occurred())
                return NULL;
            name = PyUnicode_FromFormat("swapper/%S", cpu);
            if (!name || PyDict_SetItem(c->swapper, cpu, name) < 0) {
                Py_XDECREF(name);
                return NULL;
            }
            return name;
        }
    }
    PyObject *name = PyDict_GetItemWithError(c->names, tid);
    if (!name) {
        if (PyErr_Occurred())
            return NULL;
        Py_RETURN_NONE;
    }
    Py_INCREF(name);
    return name;
}

/* Name an entry that came without one (once: the name is kept). */
static int name_entry(Core *c, Entry *e)
{
    if (c->names && e->comm == Py_None && e->tid != Py_None) {
        PyObject *name = name_of(c, e->tid, e->cpu);
        if (!name)
            return -1;
        Py_SETREF(e->comm, name);
    }
    return 0;
}

/* values[i], or None when there are no values (new reference). */
static PyObject *side_value(PyObject *values, Py_ssize_t i)
{
    if (values == Py_None || i < 0)
        Py_RETURN_NONE;
    PyObject *v = PySequence_GetItem(values, i);
    return v;
}

static int pair_passes(Core *c, PyObject *ev, PyObject *xv, int64_t duration)
{
    if (c->has_eq) {
        PyObject *a = c->eq_sa ? xv : ev, *b = c->eq_sb ? xv : ev;
        if (a == Py_None || b == Py_None)
            return 0;
        PyObject *va = PySequence_GetItem(a, c->eq_ia);
        if (!va)
            return -1;
        PyObject *vb = PySequence_GetItem(b, c->eq_ib);
        if (!vb) {
            Py_DECREF(va);
            return -1;
        }
        int rc;
        if (va == Py_None || vb == Py_None)
            rc = 0;
        else if (va == vb && (PyLong_CheckExact(va) || PyUnicode_CheckExact(va)))
            rc = 1;
        else {
            PyObject *r = PyObject_RichCompare(va, vb, Py_EQ);
            rc = r ? PyObject_IsTrue(r) : -1;
            Py_XDECREF(r);
        }
        Py_DECREF(va);
        Py_DECREF(vb);
        return rc;
    }
    if (c->pair_fn) {
        PyObject *d = PyLong_FromLongLong(duration);
        if (!d)
            return -1;
        PyObject *r = PyObject_CallFunctionObjArgs(c->pair_fn, ev, xv, d, NULL);
        Py_DECREF(d);
        if (!r)
            return -1;
        int rc = PyObject_IsTrue(r);
        Py_DECREF(r);
        return rc;
    }
    return 1;
}

/* A group value holding a trace's array or structure value (a list, a dict) as
   nested tuples, so that it can be a dictionary key: lists become tuples, dicts
   tuples of (name, value) pairs.  New reference; None past a nesting no trace has. */
static PyObject *frozen(PyObject *value, int depth)
{
    if (depth > 64)
        Py_RETURN_NONE;
    if (PyList_Check(value)) {
        Py_ssize_t n = PyList_GET_SIZE(value);
        PyObject *out = PyTuple_New(n);
        for (Py_ssize_t i = 0; out && i < n; i++) {
            PyObject *item = frozen(PyList_GET_ITEM(value, i), depth + 1);
            if (!item) {
                Py_CLEAR(out);
                break;
            }
            PyTuple_SET_ITEM(out, i, item);
        }
        return out;
    }
    if (PyTuple_Check(value)) {                 /* several groups, one of them a field */
        Py_ssize_t n = PyTuple_GET_SIZE(value);
        PyObject *out = PyTuple_New(n);
        for (Py_ssize_t i = 0; out && i < n; i++) {
            PyObject *item = frozen(PyTuple_GET_ITEM(value, i), depth + 1);
            if (!item) {
                Py_CLEAR(out);
                break;
            }
            PyTuple_SET_ITEM(out, i, item);
        }
        return out;
    }
    if (PyDict_Check(value)) {
        PyObject *out = PyTuple_New(PyDict_GET_SIZE(value));
        PyObject *k, *v;
        Py_ssize_t pos = 0, i = 0;
        while (out && PyDict_Next(value, &pos, &k, &v)) {
            PyObject *item = frozen(v, depth + 1);
            PyObject *pair = item ? PyTuple_Pack(2, k, item) : NULL;
            Py_XDECREF(item);
            if (!pair) {
                Py_CLEAR(out);
                break;
            }
            PyTuple_SET_ITEM(out, i++, pair);
        }
        return out;
    }
    Py_INCREF(value);
    return value;
}

/* The group index of an interval; new groups numbered in order of appearance. */
static int group_of(Core *c, PyObject *ev, PyObject *xv, PyObject *key, int64_t duration,
                    int32_t *out)
{
    PyObject *value;
    switch (c->group_kind) {
    case G_NONE:
        *out = 0;
        return 0;
    case G_KEY:
        Py_INCREF(key);
        value = key;
        break;
    case G_KEY_PART:
        value = PySequence_GetItem(key, c->group_index);
        break;
    case G_ENTRY:
        value = side_value(ev, c->group_index);
        break;
    case G_EXIT:
        value = side_value(xv, c->group_index);
        break;
    default: {
        PyObject *d = PyLong_FromLongLong(duration);
        if (!d)
            return -1;
        value = PyObject_CallFunctionObjArgs(c->group_fn, ev, xv, key, d, NULL);
        Py_DECREF(d);
    }
    }
    if (!value)
        return -1;
    PyObject *index = PyDict_GetItemWithError(c->groups, value);
    if (!index && PyErr_ExceptionMatches(PyExc_TypeError)) {   /* an array or structure field */
        PyErr_Clear();
        Py_SETREF(value, frozen(value, 0));
        if (!value)
            return -1;
        index = PyDict_GetItemWithError(c->groups, value);
    }
    if (index) {
        *out = (int32_t)PyLong_AsLong(index);
        Py_DECREF(value);
        return 0;
    }
    if (PyErr_Occurred()) {
        Py_DECREF(value);
        return -1;
    }
    Py_ssize_t n = PyDict_GET_SIZE(c->groups);
    index = PyLong_FromSsize_t(n);
    int rc = index ? PyDict_SetItem(c->groups, value, index) : -1;
    Py_XDECREF(index);
    Py_DECREF(value);
    *out = (int32_t)n;
    return rc;
}

static int append_key(Core *c, PyObject *key)
{
    if (!c->keylist) {
        if (PyLong_CheckExact(key)) {
            int overflow;
            long long v = PyLong_AsLongLongAndOverflow(key, &overflow);
            if (!overflow && !(v == -1 && PyErr_Occurred()))
                return BUF_PUSH(&c->keyq, int64_t, v);
            PyErr_Clear();
        }
        /* The first key that is not an int64: every key becomes an object. */
        c->keylist = PyList_New(c->keyq.len);
        if (!c->keylist)
            return -1;
        for (Py_ssize_t i = 0; i < c->keyq.len; i++) {
            PyObject *v = PyLong_FromLongLong(((int64_t *)c->keyq.data)[i]);
            if (!v)
                return -1;
            PyList_SET_ITEM(c->keylist, i, v);
        }
        c->keyq.len = 0;
    }
    return PyList_Append(c->keylist, key);
}

/* One interval: the entry side from (etid, ecpu, ecomm), the exit side may be None. */
static int record(Core *c, int64_t start, int64_t end, int status, PyObject *key,
                  PyObject *etid, PyObject *ecpu, PyObject *ecomm,
                  PyObject *xtid, PyObject *xcpu, PyObject *xcomm,
                  PyObject *ev, PyObject *xv, int32_t group)
{
    int32_t et, ec, xt, xc;
    if (small_int(etid, &et) < 0 || small_int(ecpu, &ec) < 0 || small_int(xtid, &xt) < 0 ||
        small_int(xcpu, &xc) < 0)
        return -1;
    if (BUF_PUSH(&c->start, int64_t, start) < 0 || BUF_PUSH(&c->end, int64_t, end) < 0 ||
        BUF_PUSH(&c->status, int8_t, status) < 0 || BUF_PUSH(&c->etid, int32_t, et) < 0 ||
        BUF_PUSH(&c->ecpu, int32_t, ec) < 0 || BUF_PUSH(&c->xtid, int32_t, xt) < 0 ||
        BUF_PUSH(&c->xcpu, int32_t, xc) < 0 || BUF_PUSH(&c->group, int32_t, group) < 0)
        return -1;
    if (append_key(c, key) < 0 || PyList_Append(c->entry_comm, ecomm) < 0 ||
        PyList_Append(c->exit_comm, xcomm) < 0)
        return -1;
    for (Py_ssize_t i = 0; i < c->nfields; i++) {
        int side = c->field_side[i];
        PyObject *v = side < 0 ? (Py_INCREF(Py_None), Py_None)
                               : side_value(side ? xv : ev, c->field_index[i]);
        if (!v)
            return -1;
        int rc = PyList_Append(PyList_GET_ITEM(c->field_cols, i), v);
        Py_DECREF(v);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- deadlines */

static int fifo_push(Core *c, Entry *e)
{
    if (c->fifo_len == c->fifo_cap) {
        Py_ssize_t cap = c->fifo_cap ? c->fifo_cap * 2 : 256;
        Entry **ring = PyMem_Malloc((size_t)cap * sizeof(Entry *));
        if (!ring) {
            PyErr_NoMemory();
            return -1;
        }
        for (Py_ssize_t i = 0; i < c->fifo_len; i++)
            ring[i] = c->fifo[(c->fifo_head + i) % c->fifo_cap];
        PyMem_Free(c->fifo);
        c->fifo = ring;
        c->fifo_cap = cap;
        c->fifo_head = 0;
    }
    Py_INCREF(e);
    c->fifo[(c->fifo_head + c->fifo_len) % c->fifo_cap] = e;
    c->fifo_len++;
    e->live = 1;
    c->live++;
    return 0;
}

/* Drop the deadlines of settled entries when they outnumber the live ones. */
static void fifo_compact(Core *c)
{
    Py_ssize_t kept = 0;
    for (Py_ssize_t i = 0; i < c->fifo_len; i++) {
        Entry *e = c->fifo[(c->fifo_head + i) % c->fifo_cap];
        if (e->live)
            c->fifo[(c->fifo_head + kept++) % c->fifo_cap] = e;
        else
            Py_DECREF(e);
    }
    c->fifo_len = kept;
}

/* The entry was matched, replaced or cancelled: its deadline no longer counts. */
static void forget_deadline(Core *c, Entry *e)
{
    if (e->deadline != NO_DEADLINE && !e->timed_out && e->live) {
        e->live = 0;
        c->live--;
        if (c->fifo_len > 2 * c->live + 1024)
            fifo_compact(c);
    }
}

static int remove_open(Core *c, Entry *e)
{
    PyObject *found = PyDict_GetItemWithError(c->open, e->key);
    if (!found)
        return PyErr_Occurred() ? -1 : 0;
    if (c->single)
        return found == (PyObject *)e ? PyDict_DelItem(c->open, e->key) : 0;
    Py_ssize_t n = PyList_GET_SIZE(found);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (PyList_GET_ITEM(found, i) == (PyObject *)e) {
            if (PySequence_DelItem(found, i) < 0)
                return -1;
            break;
        }
    }
    if (PyList_GET_SIZE(found) == 0)
        return PyDict_DelItem(c->open, e->key);
    return 0;
}

static int expire(Core *c, int64_t now, int inclusive)
{
    while (c->fifo_len) {
        Entry *e = c->fifo[c->fifo_head];
        if (!(e->deadline < now || (inclusive && e->deadline == now)))
            break;
        c->fifo_head = (c->fifo_head + 1) % c->fifo_cap;
        c->fifo_len--;
        if (e->live) {
            e->live = 0;
            c->live--;
            if (remove_open(c, e) < 0) {
                Py_DECREF(e);
                return -1;
            }
            e->timed_out = 1;
            if (c->expired) {
                PyObject *seen = Py_BuildValue("(LOOOOO)", (long long)e->ts, e->key, e->tid,
                                               e->cpu, e->comm, e->values);
                if (!seen || PyList_Append(c->expired, seen) < 0) {
                    Py_XDECREF(seen);
                    Py_DECREF(e);
                    return -1;
                }
                Py_DECREF(seen);
            }
            PyObject *waiting = PyDict_GetItemWithError(c->timed_out, e->key);
            if (!waiting) {
                if (PyErr_Occurred() || !(waiting = PyList_New(0))) {
                    Py_DECREF(e);
                    return -1;
                }
                int rc = PyDict_SetItem(c->timed_out, e->key, waiting);
                Py_DECREF(waiting);
                if (rc < 0) {
                    Py_DECREF(e);
                    return -1;
                }
            }
            if (PyList_Append(waiting, (PyObject *)e) < 0) {
                Py_DECREF(e);
                return -1;
            }
        }
        Py_DECREF(e);
    }
    c->next_deadline = c->fifo_len ? c->fifo[c->fifo_head]->deadline : NO_DEADLINE;
    return 0;
}

/* A rule with steps, deciding entry ``e``: 0 when a step drops it (counted), else 1
 * with ``*out`` the exit's values ``xv`` followed by each step's (a new reference). */
static int decided(Core *c, Entry *e, PyObject *xv, PyObject **out)
{
    Py_ssize_t total = 0;
    for (Py_ssize_t i = 0; i < c->nsteps; i++) {
        PyObject *seen = e->seen ? PyList_GET_ITEM(e->seen, i) : Py_None;
        int was = seen != Py_None;
        if ((c->occurs[i] == O_MUST && !was) || (c->occurs[i] == O_MUST_NOT && was)) {
            PyObject *reason = PyTuple_GET_ITEM(PyTuple_GET_ITEM(c->step_reasons, i),
                                                c->occurs[i] == O_MUST ? 0 : 1);
            return count_drop(c, reason, 1) < 0 ? -1 : 0;
        }
        total += PyTuple_GET_SIZE(was ? seen : PyTuple_GET_ITEM(c->nothing, i));
    }
    PyObject *base = xv == Py_None ? c->no_exit : xv;
    if (!PyTuple_Check(base)) {
        PyErr_SetString(PyExc_TypeError, "an exit's values must be a tuple");
        return -1;
    }
    Py_ssize_t nbase = PyTuple_GET_SIZE(base);
    PyObject *all = PyTuple_New(nbase + total);
    if (!all)
        return -1;
    for (Py_ssize_t j = 0; j < nbase; j++) {
        PyObject *v = PyTuple_GET_ITEM(base, j);
        Py_INCREF(v);
        PyTuple_SET_ITEM(all, j, v);
    }
    Py_ssize_t at = nbase;
    for (Py_ssize_t i = 0; i < c->nsteps; i++) {
        PyObject *seen = e->seen ? PyList_GET_ITEM(e->seen, i) : Py_None;
        PyObject *part = seen != Py_None ? seen : PyTuple_GET_ITEM(c->nothing, i);
        for (Py_ssize_t j = 0; j < PyTuple_GET_SIZE(part); j++) {
            PyObject *v = PyTuple_GET_ITEM(part, j);
            Py_INCREF(v);
            PyTuple_SET_ITEM(all, at++, v);
        }
    }
    *out = all;
    return 1;
}

/* The exit-side values of a decided entry (a new reference; Py_None when a step
 * dropped it), for an entry decided without an exit (timeout, incomplete). */
static PyObject *exit_side(Core *c, Entry *e, int *kept)
{
    *kept = 1;
    if (!c->nsteps) {
        Py_INCREF(Py_None);
        return Py_None;
    }
    PyObject *out = NULL;
    int rc = decided(c, e, Py_None, &out);
    if (rc < 0)
        return NULL;
    if (rc == 0) {
        *kept = 0;
        Py_INCREF(Py_None);
        return Py_None;
    }
    return out;
}

static int record_timeout(Core *c, Entry *e)
{
    int32_t group;
    int kept;
    PyObject *xv = exit_side(c, e, &kept);
    if (!xv)
        return -1;
    int rc = 0;
    if (kept) {
        rc = name_entry(c, e) < 0 ||
             group_of(c, e->values, xv, e->key, c->timeout, &group) < 0 ? -1 :
             record(c, e->ts, e->ts + c->timeout, TIMEOUT, e->key, e->tid, e->cpu, e->comm,
                    Py_None, Py_None, Py_None, e->values, xv, group);
    }
    Py_DECREF(xv);
    return rc;
}

/* A step's event under ``key``: seen by every entry waiting there within its limit. */
static int see_step(Core *c, Entry *e, int64_t ts, Py_ssize_t index, PyObject *values)
{
    if (c->within[index] >= 0 && ts - e->ts > c->within[index])
        return 0;
    if (!e->seen) {
        if (!(e->seen = PyList_New(c->nsteps)))
            return -1;
        for (Py_ssize_t i = 0; i < c->nsteps; i++) {
            Py_INCREF(Py_None);
            PyList_SET_ITEM(e->seen, i, Py_None);
        }
    }
    PyObject *kept = values == Py_None ? PyTuple_GET_ITEM(c->nothing, index) : values;
    Py_INCREF(kept);
    return PyList_SetItem(e->seen, index, kept);
}

static int do_step(Core *c, int64_t ts, PyObject *key, PyObject *index_obj, PyObject *values)
{
    if (c->next_deadline < ts && expire(c, ts, 0) < 0)
        return -1;
    Py_ssize_t index = PyLong_AsSsize_t(index_obj);
    if (index < 0 || index >= c->nsteps) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_IndexError, "no such step");
        return -1;
    }
    PyObject *found = PyDict_GetItemWithError(c->open, key);
    if (!found && PyErr_Occurred())
        return -1;
    if (found) {
        if (c->single) {
            if (see_step(c, (Entry *)found, ts, index, values) < 0)
                return -1;
        } else {
            for (Py_ssize_t i = 0; i < PyList_GET_SIZE(found); i++)
                if (see_step(c, (Entry *)PyList_GET_ITEM(found, i), ts, index, values) < 0)
                    return -1;
        }
    }
    PyObject *waiting = PyDict_GetItemWithError(c->timed_out, key);
    if (!waiting)
        return PyErr_Occurred() ? -1 : 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(waiting); i++)
        if (see_step(c, (Entry *)PyList_GET_ITEM(waiting, i), ts, index, values) < 0)
            return -1;
    return 0;
}

/* ------------------------------------------------------------- operations */

static int do_entry(Core *c, int64_t ts, PyObject *key, PyObject *tid, PyObject *cpu,
                    PyObject *comm, PyObject *values)
{
    c->entries++;
    if (c->next_deadline < ts && expire(c, ts, 0) < 0)
        return -1;
    int64_t deadline = c->has_timeout ? ts + c->timeout : NO_DEADLINE;
    if (c->single) {
        PyObject *old = PyDict_GetItemWithError(c->open, key);
        if (!old && PyErr_Occurred())
            return -1;
        if (old) {
            if (c->match == M_FIRST)
                return count_drop(c, S_IGNORED, 1);
            if (count_drop(c, S_REPLACED, 1) < 0)
                return -1;
            forget_deadline(c, (Entry *)old);
        }
    }
    Entry *e = entry_new(ts, key, tid, cpu, comm, values, deadline);
    if (!e)
        return -1;
    int rc;
    if (c->single) {
        rc = PyDict_SetItem(c->open, key, (PyObject *)e);
    } else {
        PyObject *pending = PyDict_GetItemWithError(c->open, key);
        if (!pending) {
            if (PyErr_Occurred() || !(pending = PyList_New(0))) {
                Py_DECREF(e);
                return -1;
            }
            rc = PyDict_SetItem(c->open, key, pending);
            Py_DECREF(pending);
            if (rc < 0) {
                Py_DECREF(e);
                return -1;
            }
        }
        rc = PyList_Append(pending, (PyObject *)e);
    }
    if (rc == 0 && c->has_timeout) {
        rc = fifo_push(c, e);
        if (deadline < c->next_deadline)
            c->next_deadline = deadline;
    }
    Py_DECREF(e);
    return rc;
}

/* The open entry an exit closes, by policy (new reference), or NULL. */
static Entry *take_open(Core *c, PyObject *key)
{
    if (c->single) {
        PyObject *e = PyDict_GetItemWithError(c->open, key);
        if (!e)
            return NULL;
        Py_INCREF(e);
        if (PyDict_DelItem(c->open, key) < 0) {
            Py_DECREF(e);
            return NULL;
        }
        return (Entry *)e;
    }
    PyObject *pending = PyDict_GetItemWithError(c->open, key);
    if (!pending || PyList_GET_SIZE(pending) == 0)
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(pending);
    Py_ssize_t i = c->match == M_NEST ? n - 1 : 0;
    PyObject *e = PyList_GET_ITEM(pending, i);
    Py_INCREF(e);
    if (PySequence_DelItem(pending, i) < 0 ||
        (n == 1 && PyDict_DelItem(c->open, key) < 0)) {
        Py_DECREF(e);
        return NULL;
    }
    return (Entry *)e;
}

static Entry *take_timed_out(Core *c, PyObject *key)
{
    PyObject *waiting = PyDict_GetItemWithError(c->timed_out, key);
    if (!waiting || PyList_GET_SIZE(waiting) == 0)
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(waiting);
    Py_ssize_t i = c->match == M_FIFO ? 0 : n - 1;
    PyObject *e = PyList_GET_ITEM(waiting, i);
    Py_INCREF(e);
    if (PySequence_DelItem(waiting, i) < 0 ||
        (n == 1 && PyDict_DelItem(c->timed_out, key) < 0)) {
        Py_DECREF(e);
        return NULL;
    }
    return (Entry *)e;
}

static int do_exit(Core *c, int64_t ts, PyObject *key, PyObject *tid, PyObject *cpu,
                   PyObject *comm, PyObject *values)
{
    if (c->next_deadline < ts && expire(c, ts, 0) < 0)
        return -1;
    Entry *e = take_open(c, key);
    if (!e) {
        if (PyErr_Occurred())
            return -1;
        e = take_timed_out(c, key);
        if (!e) {
            if (PyErr_Occurred())
                return -1;
            c->unmatched++;
            return 0;
        }
    } else if (e->deadline != NO_DEADLINE) {
        forget_deadline(c, e);
    }
    int rc = -1;
    PyObject *extended = NULL;      /* with steps: the exit's values and the steps' */
    if (c->nsteps) {
        int kept = decided(c, e, values, &extended);
        if (kept <= 0) {
            rc = kept;
            goto done;
        }
        values = extended;
    }
    int64_t duration = ts - e->ts;
    int passes = pair_passes(c, e->values, values, duration);
    if (passes < 0)
        goto done;
    if (!passes) {
        rc = count_drop(c, S_FILTERED, 1);
        goto done;
    }
    int32_t group;
    if (group_of(c, e->values, values, key, duration, &group) < 0)
        goto done;
    PyObject *xcomm = comm;
    Py_INCREF(xcomm);
    if (c->names) {
        if (comm == Py_None && tid != Py_None) {
            Py_SETREF(xcomm, name_of(c, tid, cpu));
            if (!xcomm)
                goto done;
        }
        if (name_entry(c, e) < 0) {
            Py_DECREF(xcomm);
            goto done;
        }
    }
    rc = record(c, e->ts, ts, e->timed_out ? LATE : COMPLETE, key, e->tid, e->cpu, e->comm,
                tid, cpu, xcomm, e->values, values, group);
    Py_DECREF(xcomm);
done:
    Py_XDECREF(extended);
    Py_DECREF(e);
    return rc;
}

static int do_span(Core *c, int64_t ts, PyObject *key, PyObject *tid, PyObject *cpu,
                   PyObject *comm, PyObject *values, PyObject *duration)
{
    c->entries++;
    int negative = 1;
    if (PyLong_Check(duration) || PyFloat_Check(duration)) {
        PyObject *zero = PyLong_FromLong(0);
        if (!zero)
            return -1;
        negative = PyObject_RichCompareBool(duration, zero, Py_LT);
        Py_DECREF(zero);
        if (negative < 0)
            return -1;
    }
    if (negative)
        return count_drop(c, S_NEGATIVE, 1);
    /* NaN, an infinity or beyond int64 (a trace's float or uint64 field, an
       expression's result) is no duration: dropped as a missing one. */
    PyObject *as_int = PyNumber_Long(duration);
    int64_t d = -1;
    if (as_int) {
        d = PyLong_AsLongLong(as_int);
        Py_DECREF(as_int);
    }
    if (d == -1 && PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_OverflowError) &&
            !PyErr_ExceptionMatches(PyExc_ValueError))
            return -1;
        PyErr_Clear();
        return count_drop(c, S_NEGATIVE, 1);
    }
    int passes = pair_passes(c, values, values, d);
    if (passes < 0)
        return -1;
    if (!passes)
        return count_drop(c, S_FILTERED, 1);
    int32_t group;
    if (group_of(c, values, values, key, d, &group) < 0)
        return -1;
    PyObject *name = comm;
    Py_INCREF(name);
    if (comm == Py_None && tid != Py_None && c->names) {
        Py_SETREF(name, name_of(c, tid, cpu));
        if (!name)
            return -1;
    }
    int rc = record(c, ts - d, ts, COMPLETE, key, tid, cpu, name, tid, cpu, name, values,
                    values, group);
    Py_DECREF(name);
    return rc;
}

static int do_cancel(Core *c, int64_t ts, PyObject *key, PyObject *reason)
{
    if (c->next_deadline < ts && expire(c, ts, 0) < 0)
        return -1;
    PyObject *found = PyDict_GetItemWithError(c->open, key);
    if (!found && PyErr_Occurred())
        return -1;
    if (found) {
        Py_INCREF(found);
        if (PyDict_DelItem(c->open, key) < 0) {
            Py_DECREF(found);
            return -1;
        }
        Py_ssize_t n = 1;
        if (c->single) {
            forget_deadline(c, (Entry *)found);
        } else {
            n = PyList_GET_SIZE(found);
            for (Py_ssize_t i = 0; i < n; i++)
                forget_deadline(c, (Entry *)PyList_GET_ITEM(found, i));
        }
        Py_DECREF(found);
        PyObject *why = PyDict_GetItemWithError(c->cancel_reasons, reason);
        if (!why) {
            if (PyErr_Occurred() || !(why = PyUnicode_FromFormat("cancelled by %S", reason)))
                return -1;
            int rc = PyDict_SetItem(c->cancel_reasons, reason, why);
            Py_DECREF(why);
            if (rc < 0)
                return -1;
        }
        if (count_drop(c, why, n) < 0)
            return -1;
    }
    /* Timed-out entries can no longer be late: they stay timeouts. */
    PyObject *waiting = PyDict_GetItemWithError(c->timed_out, key);
    if (!waiting)
        return PyErr_Occurred() ? -1 : 0;
    Py_INCREF(waiting);
    int rc = PyDict_DelItem(c->timed_out, key);
    for (Py_ssize_t i = 0; rc == 0 && i < PyList_GET_SIZE(waiting); i++)
        rc = record_timeout(c, (Entry *)PyList_GET_ITEM(waiting, i));
    Py_DECREF(waiting);
    return rc;
}

static int do_finish(Core *c, int64_t end_ts)
{
    if (expire(c, end_ts, 1) < 0)
        return -1;
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (PyDict_Next(c->timed_out, &pos, &key, &value))
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(value); i++)
            if (record_timeout(c, (Entry *)PyList_GET_ITEM(value, i)) < 0)
                return -1;
    PyDict_Clear(c->timed_out);
    pos = 0;
    while (PyDict_Next(c->open, &pos, &key, &value)) {
        Py_ssize_t n = c->single ? 1 : PyList_GET_SIZE(value);
        for (Py_ssize_t i = 0; i < n; i++) {
            Entry *e = c->single ? (Entry *)value : (Entry *)PyList_GET_ITEM(value, i);
            if (name_entry(c, e) < 0)
                return -1;
            int64_t end = end_ts > e->ts ? end_ts : e->ts;
            int32_t group;
            int kept;
            PyObject *xv = exit_side(c, e, &kept);
            if (!xv)
                return -1;
            int rc = kept && (group_of(c, e->values, xv, e->key, end - e->ts, &group) < 0 ||
                              record(c, e->ts, end, INCOMPLETE, e->key, e->tid, e->cpu,
                                     e->comm, Py_None, Py_None, Py_None, e->values, xv,
                                     group) < 0);
            Py_DECREF(xv);
            if (rc)
                return -1;
        }
    }
    PyDict_Clear(c->open);
    for (Py_ssize_t i = 0; i < c->fifo_len; i++)
        Py_DECREF(c->fifo[(c->fifo_head + i) % c->fifo_cap]);
    c->fifo_len = c->fifo_head = c->live = 0;
    c->next_deadline = NO_DEADLINE;
    return 0;
}

/* ---------------------------------------------------------- Python methods */

static int as_ts(PyObject *o, int64_t *ts)
{
    *ts = PyLong_AsLongLong(o);
    return *ts == -1 && PyErr_Occurred() ? -1 : 0;
}

static PyObject *Core_entry(Core *c, PyObject *args)
{
    PyObject *ts, *key, *tid, *cpu, *comm, *values;
    int64_t t;
    if (!PyArg_ParseTuple(args, "OOOOOO", &ts, &key, &tid, &cpu, &comm, &values) ||
        as_ts(ts, &t) < 0 || do_entry(c, t, key, tid, cpu, comm, values) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *Core_exit(Core *c, PyObject *args)
{
    PyObject *ts, *key, *tid, *cpu, *comm, *values;
    int64_t t;
    if (!PyArg_ParseTuple(args, "OOOOOO", &ts, &key, &tid, &cpu, &comm, &values) ||
        as_ts(ts, &t) < 0 || do_exit(c, t, key, tid, cpu, comm, values) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *Core_span(Core *c, PyObject *args)
{
    PyObject *ts, *key, *tid, *cpu, *comm, *values, *duration;
    int64_t t;
    if (!PyArg_ParseTuple(args, "OOOOOOO", &ts, &key, &tid, &cpu, &comm, &values, &duration) ||
        as_ts(ts, &t) < 0 || do_span(c, t, key, tid, cpu, comm, values, duration) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *Core_cancel(Core *c, PyObject *args)
{
    PyObject *ts, *key, *reason;
    int64_t t;
    if (!PyArg_ParseTuple(args, "OOO", &ts, &key, &reason) || as_ts(ts, &t) < 0 ||
        do_cancel(c, t, key, reason) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *Core_step(Core *c, PyObject *args)
{
    PyObject *ts, *key, *index, *values;
    int64_t t;
    if (!PyArg_ParseTuple(args, "OOOO", &ts, &key, &index, &values) || as_ts(ts, &t) < 0 ||
        do_step(c, t, key, index, values) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* set_steps(steps, nothing, reasons, no_exit): steps a sequence of (occurs, within or
 * None) with occurs 0 may, 1 must, 2 must_not; nothing per step the tuple of nulls of
 * one not seen; reasons per step (must's drop reason, must_not's); no_exit the exit's
 * values when it had none.  Before any event. */
static PyObject *Core_set_steps(Core *c, PyObject *args)
{
    PyObject *steps, *nothing, *reasons, *no_exit;
    if (!PyArg_ParseTuple(args, "OO!O!O!", &steps, &PyTuple_Type, &nothing, &PyTuple_Type,
                          &reasons, &PyTuple_Type, &no_exit))
        return NULL;
    PyObject *seq = PySequence_Fast(steps, "steps must be a sequence");
    if (!seq)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (PyTuple_GET_SIZE(nothing) != n || PyTuple_GET_SIZE(reasons) != n || c->nsteps) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "steps, nothing and reasons differ, or set twice");
        return NULL;
    }
    c->occurs = PyMem_Calloc((size_t)n + 1, 1);
    c->within = PyMem_Calloc((size_t)n + 1, sizeof(int64_t));
    if (!c->occurs || !c->within) {
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        int occurs;
        PyObject *within;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "iO", &occurs, &within)) {
            Py_DECREF(seq);
            return NULL;
        }
        c->occurs[i] = (char)occurs;
        c->within[i] = within == Py_None ? -1 : PyLong_AsLongLong(within);
        if (PyErr_Occurred()) {
            Py_DECREF(seq);
            return NULL;
        }
    }
    Py_DECREF(seq);
    Py_INCREF(nothing); c->nothing = nothing;
    Py_INCREF(reasons); c->step_reasons = reasons;
    Py_INCREF(no_exit); c->no_exit = no_exit;
    c->nsteps = n;
    Py_RETURN_NONE;
}

static PyObject *Core_expire(Core *c, PyObject *args)
{
    long long now;
    int inclusive = 0;
    if (!PyArg_ParseTuple(args, "L|p", &now, &inclusive) || expire(c, now, inclusive) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *Core_watch_expired(Core *c, PyObject *unused)
{
    if (!c->expired && !(c->expired = PyList_New(0)))
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *Core_take_expired(Core *c, PyObject *unused)
{
    PyObject *fresh = PyList_New(0);
    if (!fresh)
        return NULL;
    PyObject *out = c->expired ? c->expired : PyList_New(0);
    if (!out) {
        Py_DECREF(fresh);
        return NULL;
    }
    if (c->expired)
        c->expired = fresh;
    else
        Py_DECREF(fresh);
    return out;
}

/* The earliest start of the entries still waiting (open, and with ``timed_out``
 * those timed out awaiting a late exit), or None: what an explanation of the
 * intervals still to be decided may need of the past (corr.sched.window). */
static PyObject *Core_oldest_waiting(Core *c, PyObject *args)
{
    int timed_out = 1;
    if (!PyArg_ParseTuple(args, "|p", &timed_out))
        return NULL;
    int64_t oldest = 0;
    int found = 0;
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (PyDict_Next(c->open, &pos, &key, &value)) {
        Py_ssize_t n = c->single ? 1 : PyList_GET_SIZE(value);
        for (Py_ssize_t i = 0; i < n; i++) {
            Entry *e = c->single ? (Entry *)value : (Entry *)PyList_GET_ITEM(value, i);
            if (!found || e->ts < oldest)
                oldest = e->ts;
            found = 1;
        }
    }
    pos = 0;
    while (timed_out && PyDict_Next(c->timed_out, &pos, &key, &value))
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(value); i++) {
            Entry *e = (Entry *)PyList_GET_ITEM(value, i);
            if (!found || e->ts < oldest)
                oldest = e->ts;
            found = 1;
        }
    if (!found)
        Py_RETURN_NONE;
    return PyLong_FromLongLong(oldest);
}

static PyObject *Core_finish(Core *c, PyObject *arg)
{
    int64_t t;
    if (as_ts(arg, &t) < 0 || do_finish(c, t) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* A column's bytes; the C buffer is freed at once, so that handing a big
 * table over to Python never holds it twice. */
static PyObject *take_bytes(buf_t *b)
{
    PyObject *out = PyBytes_FromStringAndSize(b->data ? b->data : "", b->len * b->width);
    if (out) {
        PyMem_Free(b->data);
        b->data = NULL;
        b->len = b->cap = 0;
    }
    return out;
}

/* take(name): one column of the interval table, handed over (and emptied
 * here): bytes for the integer ones, lists for keys (bytes while every
 * key is an int64), names and kept fields. */
static PyObject *Core_take(Core *c, PyObject *arg)
{
    const char *name = PyUnicode_AsUTF8(arg);
    if (!name)
        return NULL;
    struct { const char *name; buf_t *buf; } ints[] = {
        {"start_ns", &c->start}, {"end_ns", &c->end}, {"status", &c->status},
        {"entry_tid", &c->etid}, {"entry_cpu", &c->ecpu}, {"exit_tid", &c->xtid},
        {"exit_cpu", &c->xcpu}, {"group", &c->group},
    };
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++)
        if (!strcmp(name, ints[i].name))
            return take_bytes(ints[i].buf);
    PyObject **lists[] = {&c->entry_comm, &c->exit_comm, &c->field_cols};
    const char *list_names[] = {"entry_comm", "exit_comm", "fields"};
    for (size_t i = 0; i < 3; i++) {
        if (!strcmp(name, list_names[i])) {
            PyObject *out = *lists[i];
            PyObject *fresh = PyList_New(i == 2 ? c->nfields : 0);
            if (!fresh)
                return NULL;
            for (Py_ssize_t f = 0; i == 2 && f < c->nfields; f++) {
                PyObject *col = PyList_New(0);
                if (!col) {
                    Py_DECREF(fresh);
                    return NULL;
                }
                PyList_SET_ITEM(fresh, f, col);
            }
            *lists[i] = fresh;
            return out;
        }
    }
    if (!strcmp(name, "key")) {
        if (!c->keylist)
            return take_bytes(&c->keyq);
        PyObject *out = c->keylist;
        c->keylist = NULL;
        return out;
    }
    PyErr_Format(PyExc_KeyError, "no column %s", name);
    return NULL;
}

static PyObject *Core_get_entries(Core *c, void *unused) { return PyLong_FromLongLong(c->entries); }
static PyObject *Core_get_unmatched(Core *c, void *unused) { return PyLong_FromLongLong(c->unmatched); }
static PyObject *Core_get_dropped(Core *c, void *unused) { return PyDict_Copy(c->dropped); }
static PyObject *Core_get_open(Core *c, void *unused) { return PyLong_FromSsize_t(PyDict_GET_SIZE(c->open)); }
static PyObject *Core_get_len(Core *c, void *unused) { return PyLong_FromSsize_t(c->start.len); }

static PyMethodDef Core_methods[] = {
    {"entry", (PyCFunction)Core_entry, METH_VARARGS, "entry(ts, key, tid, cpu, comm, values)"},
    {"exit", (PyCFunction)Core_exit, METH_VARARGS, "exit(ts, key, tid, cpu, comm, values)"},
    {"span", (PyCFunction)Core_span, METH_VARARGS,
     "span(ts, key, tid, cpu, comm, values, duration)"},
    {"cancel", (PyCFunction)Core_cancel, METH_VARARGS, "cancel(ts, key, reason)"},
    {"step", (PyCFunction)Core_step, METH_VARARGS, "step(ts, key, index, values)"},
    {"set_steps", (PyCFunction)Core_set_steps, METH_VARARGS,
     "set_steps(steps, nothing, reasons, no_exit)"},
    {"expire", (PyCFunction)Core_expire, METH_VARARGS, "expire(now, inclusive=False)"},
    {"finish", (PyCFunction)Core_finish, METH_O, "finish(end_ts)"},
    {"oldest_waiting", (PyCFunction)Core_oldest_waiting, METH_VARARGS,
     "oldest_waiting(timed_out=True): earliest start of the entries still waiting"},
    {"watch_expired", (PyCFunction)Core_watch_expired, METH_NOARGS,
     "watch_expired(): keep each entry that times out from now on, for take_expired()"},
    {"take_expired", (PyCFunction)Core_take_expired, METH_NOARGS,
     "take_expired(): [(ts, key, tid, cpu, comm, values)] timed out since the last call"},
    {"take", (PyCFunction)Core_take, METH_O, "take(column): hand one column over"},
    {NULL}
};

static PyGetSetDef Core_getset[] = {
    {"entries", (getter)Core_get_entries, NULL, "entries seen", NULL},
    {"unmatched_exits", (getter)Core_get_unmatched, NULL, "exits with no entry", NULL},
    {"dropped", (getter)Core_get_dropped, NULL, "reason -> count", NULL},
    {"open_keys", (getter)Core_get_open, NULL, "keys with an open entry", NULL},
    {"interval_count", (getter)Core_get_len, NULL, "intervals recorded", NULL},
    {NULL}
};

static PyTypeObject CoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "corr.engine._core.Core",
    .tp_basicsize = sizeof(Core),
    .tp_dealloc = (destructor)Core_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One rule's matcher (the semantics of matcher.Matcher).",
    .tp_methods = Core_methods,
    .tp_getset = Core_getset,
    .tp_init = (initproc)Core_init,
    .tp_new = PyType_GenericNew,
};

/* ---------------------------------------------------------------- the walk */

/* run_batch(ts, class_ids, work, names, history=None)
 *
 * work[cid] is None or (feeds, learn, tids, cpus, procnames): feeds a tuple
 * of (kind, core, keys, values, extra, passes, values_at) (passes None, a
 * mask of one byte a row, or a callable of the row), learn a tuple of
 * (tid column, name column) pairs or None.  Rows count per class from 0.
 * Names learnt go into ``names``; with a ``history`` list, every change of
 * a thread's name is appended to it as (ts, tid, name).
 */
static PyObject *run_batch(PyObject *self, PyObject *args)
{
    PyObject *ts_list, *cids, *work, *names, *history = Py_None;
    if (!PyArg_ParseTuple(args, "O!O!O!O!|O", &PyList_Type, &ts_list, &PyList_Type, &cids,
                          &PyList_Type, &work, &PyDict_Type, &names, &history))
        return NULL;
    if (history != Py_None && !PyList_Check(history)) {
        PyErr_SetString(PyExc_TypeError, "history must be a list or None");
        return NULL;
    }
    Py_ssize_t nclasses = PyList_GET_SIZE(work);
    Py_ssize_t *rows = PyMem_Calloc((size_t)nclasses + 1, sizeof(Py_ssize_t));
    if (!rows)
        return PyErr_NoMemory();
    Py_ssize_t n = PyList_GET_SIZE(ts_list);
    if (PyList_GET_SIZE(cids) != n) {
        PyMem_Free(rows);
        PyErr_SetString(PyExc_ValueError, "ts and class_ids differ in length");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t cid = PyLong_AsSsize_t(PyList_GET_ITEM(cids, i));
        if (cid < 0 || cid >= nclasses) {
            if (PyErr_Occurred())
                goto fail;
            continue;
        }
        PyObject *w = PyList_GET_ITEM(work, cid);
        if (w == Py_None)
            continue;
        Py_ssize_t r = rows[cid]++;
        int64_t ts;
        if (as_ts(PyList_GET_ITEM(ts_list, i), &ts) < 0)
            goto fail;
        PyObject *feeds = PyTuple_GET_ITEM(w, 0), *learn = PyTuple_GET_ITEM(w, 1);
        PyObject *tids = PyTuple_GET_ITEM(w, 2), *cpus = PyTuple_GET_ITEM(w, 3);
        PyObject *procnames = PyTuple_GET_ITEM(w, 4);
        Py_ssize_t nfeeds = PyTuple_GET_SIZE(feeds);
        for (Py_ssize_t f = 0; f < nfeeds; f++) {
            PyObject *feed = PyTuple_GET_ITEM(feeds, f);
            int kind = (int)PyLong_AsLong(PyTuple_GET_ITEM(feed, 0));
            Core *core = (Core *)PyTuple_GET_ITEM(feed, 1);
            PyObject *keys = PyTuple_GET_ITEM(feed, 2), *values = PyTuple_GET_ITEM(feed, 3);
            PyObject *extra = PyTuple_GET_ITEM(feed, 4), *passes = PyTuple_GET_ITEM(feed, 5);
            PyObject *values_at = PyTuple_GET_ITEM(feed, 6);
            /* A filter is a mask (bytes, one a row, evaluated column-wise)
             * or, when the data did not allow that, a callable of the row. */
            if (PyBytes_Check(passes)) {
                if (r >= PyBytes_GET_SIZE(passes) || !PyBytes_AS_STRING(passes)[r])
                    continue;
                passes = Py_None;
            }
            PyObject *row = NULL;
            if (passes != Py_None || values_at != Py_None) {
                row = PyLong_FromSsize_t(r);
                if (!row)
                    goto fail;
            }
            if (passes != Py_None) {
                PyObject *ok = PyObject_CallOneArg(passes, row);
                int yes = ok ? PyObject_IsTrue(ok) : -1;
                Py_XDECREF(ok);
                if (yes <= 0) {
                    Py_DECREF(row);
                    if (yes < 0)
                        goto fail;
                    continue;
                }
            }
            PyObject *key = PyList_GET_ITEM(keys, r);
            int rc;
            if (kind == K_CANCEL) {
                rc = do_cancel(core, ts, key, extra);
            } else {
                PyObject *v;
                if (values != Py_None) {
                    v = PyList_GET_ITEM(values, r);
                    Py_INCREF(v);
                } else {
                    v = PyObject_CallOneArg(values_at, row);
                }
                if (!v) {
                    Py_XDECREF(row);
                    goto fail;
                }
                PyObject *tid = PyList_GET_ITEM(tids, r), *cpu = PyList_GET_ITEM(cpus, r);
                PyObject *comm = PyList_GET_ITEM(procnames, r);
                if (kind == K_STEP)
                    rc = do_step(core, ts, key, extra, v);
                else if (kind == K_ENTRY)
                    rc = do_entry(core, ts, key, tid, cpu, comm, v);
                else if (kind == K_EXIT)
                    rc = do_exit(core, ts, key, tid, cpu, comm, v);
                else
                    rc = do_span(core, ts, key, tid, cpu, comm, v, PyList_GET_ITEM(extra, r));
                Py_DECREF(v);
            }
            Py_XDECREF(row);
            if (rc < 0)
                goto fail;
        }
        if (learn != Py_None) {
            Py_ssize_t npairs = PyTuple_GET_SIZE(learn);
            for (Py_ssize_t p = 0; p < npairs; p++) {
                PyObject *pair = PyTuple_GET_ITEM(learn, p);
                PyObject *tid = PyList_GET_ITEM(PyTuple_GET_ITEM(pair, 0), r);
                PyObject *name = PyList_GET_ITEM(PyTuple_GET_ITEM(pair, 1), r);
                int truthy = PyObject_IsTrue(tid);
                if (truthy < 0)
                    goto fail;
                if (!truthy)       /* tid 0 is the idle task: swapper/N on every CPU */
                    continue;
                if (history != Py_None) {
                    PyObject *old = PyDict_GetItemWithError(names, tid);
                    if (!old && PyErr_Occurred())
                        goto fail;
                    int same = old == name;
                    if (!same && old) {
                        same = PyObject_RichCompareBool(old, name, Py_EQ);
                        if (same < 0)
                            goto fail;
                    }
                    if (same)
                        continue;
                    PyObject *change = PyTuple_Pack(3, PyList_GET_ITEM(ts_list, i), tid, name);
                    int rc = change ? PyList_Append(history, change) : -1;
                    Py_XDECREF(change);
                    if (rc < 0)
                        goto fail;
                }
                if (PyDict_SetItem(names, tid, name) < 0)
                    goto fail;
            }
        }
    }
    PyMem_Free(rows);
    Py_RETURN_NONE;
fail:
    PyMem_Free(rows);
    return NULL;
}

static PyMethodDef module_methods[] = {
    {"run_batch", run_batch, METH_VARARGS, "run_batch(ts, class_ids, work, names, history=None)"},
    {NULL}
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT, "corr.engine._core",
    "The matching engine's per-event work in C.", -1, module_methods,
};

PyMODINIT_FUNC PyInit__core(void)
{
    if (PyType_Ready(&EntryType) < 0 || PyType_Ready(&CoreType) < 0)
        return NULL;
    S_IGNORED = PyUnicode_InternFromString("ignored: its key was already open (match: first)");
    S_REPLACED = PyUnicode_InternFromString(
        "replaced by a newer entry with the same key (match: last)");
    S_FILTERED = PyUnicode_InternFromString("filtered out by the rule's where");
    S_NEGATIVE = PyUnicode_InternFromString("its duration is missing or negative");
    if (!S_IGNORED || !S_REPLACED || !S_FILTERED || !S_NEGATIVE)
        return NULL;
    PyObject *m = PyModule_Create(&core_module);
    if (!m)
        return NULL;
    Py_INCREF(&CoreType);
    if (PyModule_AddObject(m, "Core", (PyObject *)&CoreType) < 0) {
        Py_DECREF(&CoreType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
