/*
 * corr.reading._fastsink: the reader's hot loop in C.
 *
 * The native sink (native_sink.py) handles everything rare in Python:
 * stream and packet beginnings, discarded events, the first event of each
 * class (to plan its decode).  Event messages of already-planned classes
 * are what a trace is made of, and this module pulls and decodes them
 * through libbabeltrace2's stable C API: timestamp, class, CPU and the
 * planned scalar fields appended to the batch's Python lists (short strings
 * shared through a small cache of recent values).  It hands
 * every other message back to Python, so Python stays the one place that
 * knows the rules; the result is identical (tests/test_reader_differential.py).
 * Whatever the plans skip, it notes where the trace begins and ends: the
 * first and last event message of the ranges it pulls (span()).
 *
 * A column is a Python list, or (in a parallel reader's worker) a bytearray
 * of raw 64-bit words for integers: the worker sends those bytes as they
 * are, and no int object is ever made for them.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>
#include <babeltrace2/babeltrace.h>

enum kind {
    K_SIGNED = 0, K_UNSIGNED = 1, K_STRING = 2, K_DOUBLE = 3, K_SINGLE = 4,
    K_BOOL = 5, K_BIT_ARRAY = 6, K_SIGNED_ARRAY = 7, K_UNSIGNED_ARRAY = 8,
};

enum scope { S_PAYLOAD = 0, S_COMMON = 1, S_SPECIFIC = 2, S_PACKET = 3, S_COUNT = 4 };

typedef struct {
    uint64_t index;
    int kind;
    int raw;                 /* list is a bytearray of raw 64-bit words */
    PyObject *list;          /* borrowed from the plan tuple we keep */
} spec_t;

typedef struct {
    PyObject *tuple;         /* owned: keeps cid, lists alive */
    PyObject *cid;
    int64_t cid_value;
    int has_base;
    int64_t base;
    PyObject *cpu_list;
    Py_ssize_t nspecs[S_COUNT];
    spec_t *specs[S_COUNT];
    int skip;                /* class not wanted */
    int python_only;         /* class has fields only Python can convert */
} plan_t;

typedef struct {
    const void *key;
    plan_t *plan;
} class_slot_t;

typedef struct {
    const void *key;
    PyObject *cpu;           /* owned */
    PyObject *tag;           /* owned: the stream's tag for run()'s tag list */
    int64_t tag_value;       /* the same, for a raw tag column (-1: none) */
} stream_slot_t;

typedef struct {
    const void *key;         /* stream class */
    int64_t cpu_member;      /* index of cpu_id in its packet context, -1: none */
} stream_class_slot_t;

/* Recently decoded short strings (comm names, mostly), by content. */
#define STRING_CACHE 1024            /* slots, a power of two */
#define STRING_CACHE_MAX 48          /* longer strings are not cached */

typedef struct {
    uint64_t hash;
    Py_ssize_t len;
    PyObject *str;                   /* owned; NULL: empty slot */
    char bytes[STRING_CACHE_MAX];
} string_slot_t;

/* Recently decoded integer arrays (perf's call chains: every event of a
 * `perf record -g` trace has one, and a thread blocks in a few places), by
 * content: one repeated is the same list object, not a new list of new ints.
 * Like every decoded column, they are never changed in place. */
#define ARRAY_CACHE 4096             /* slots, a power of two */
#define ARRAY_CACHE_MAX 256          /* longer arrays are not cached */

typedef struct {
    uint64_t hash;
    uint64_t len;
    int kind;
    PyObject *list;                  /* owned; NULL: empty slot */
    uint64_t *values;                /* len values, PyMem */
} array_slot_t;

typedef struct {
    PyObject_HEAD
    string_slot_t *strings;          /* STRING_CACHE slots, allocated on first use */
    array_slot_t *arrays;            /* ARRAY_CACHE slots, allocated on first use */
    class_slot_t *classes;
    size_t class_cap, class_count;
    stream_slot_t *streams;
    size_t stream_cap, stream_count;
    stream_class_slot_t *stream_classes;
    size_t sc_count, sc_cap;
    /* Messages taken from the iterator and not handled yet (run()). */
    const bt_message **pending;
    uint64_t pending_pos, pending_count, pending_cap;
    /* ns from origin of the first and last event message run() pulled, of any
     * class (skipped ones too): where the trace begins and ends (span()). */
    int64_t first_ns, last_ns;
    int has_first, has_last;
} Decoder;

/* SWIG wraps pointers in SwigPyObject, whose first member after the
 * object header is the pointer.  Checked against int(obj) at import. */
typedef struct {
    PyObject_HEAD
    void *ptr;
    void *ty;                /* swig_type_info * */
    int own;
    PyObject *next;
} swig_object_t;

static PyTypeObject *swig_type = NULL;
static void *message_swig_ty = NULL;     /* SWIG's type info for bt_message * */

/* A SWIG pointer object for a message, as bt2's own wrappers make them
 * (not owning: Python puts the reference itself). */
static PyObject *wrap_message(const bt_message *msg)
{
    swig_object_t *o = PyObject_New(swig_object_t, swig_type);
    if (!o)
        return NULL;
    o->ptr = (void *) msg;
    o->ty = message_swig_ty;
    o->own = 0;
    o->next = NULL;
    return (PyObject *) o;
}

static inline const void *swig_ptr(PyObject *obj)
{
    if (Py_TYPE(obj) != swig_type)
        return NULL;
    return ((swig_object_t *) obj)->ptr;
}

static size_t hash_ptr(const void *p, size_t cap)
{
    uint64_t x = (uint64_t) (uintptr_t) p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t) (x & (cap - 1));
}

static void plan_free(plan_t *plan)
{
    if (!plan)
        return;
    for (int s = 0; s < S_COUNT; s++)
        PyMem_Free(plan->specs[s]);
    Py_XDECREF(plan->tuple);
    PyMem_Free(plan);
}

static plan_t *class_find(Decoder *d, const void *key)
{
    if (!d->class_cap)
        return NULL;
    size_t i = hash_ptr(key, d->class_cap);
    for (;;) {
        if (d->classes[i].key == key)
            return d->classes[i].plan;
        if (d->classes[i].key == NULL)
            return NULL;
        i = (i + 1) & (d->class_cap - 1);
    }
}

static int class_grow(Decoder *d)
{
    size_t cap = d->class_cap ? d->class_cap * 2 : 256;
    class_slot_t *slots = PyMem_Calloc(cap, sizeof(class_slot_t));
    if (!slots)
        return -1;
    for (size_t j = 0; j < d->class_cap; j++) {
        if (!d->classes[j].key)
            continue;
        size_t i = hash_ptr(d->classes[j].key, cap);
        while (slots[i].key)
            i = (i + 1) & (cap - 1);
        slots[i] = d->classes[j];
    }
    PyMem_Free(d->classes);
    d->classes = slots;
    d->class_cap = cap;
    return 0;
}

static int class_put(Decoder *d, const void *key, plan_t *plan)
{
    if ((d->class_count + 1) * 2 > d->class_cap && class_grow(d) < 0)
        return -1;
    size_t i = hash_ptr(key, d->class_cap);
    while (d->classes[i].key && d->classes[i].key != key)
        i = (i + 1) & (d->class_cap - 1);
    if (d->classes[i].key == key) {
        plan_free(d->classes[i].plan);
    } else {
        d->classes[i].key = key;
        d->class_count++;
    }
    d->classes[i].plan = plan;
    return 0;
}

static stream_slot_t *stream_find(Decoder *d, const void *key)
{
    for (size_t i = 0; i < d->stream_count; i++)
        if (d->streams[i].key == key)
            return &d->streams[i];
    return NULL;
}

static PyObject *stream_cpu(Decoder *d, const void *key)
{
    stream_slot_t *slot = stream_find(d, key);
    return slot ? slot->cpu : Py_None;
}

/* The slot of a stream, added (CPU and tag None) if new; NULL: no memory. */
static stream_slot_t *stream_slot(Decoder *d, const void *key)
{
    stream_slot_t *slot = stream_find(d, key);
    if (slot)
        return slot;
    if (d->stream_count == d->stream_cap) {
        size_t cap = d->stream_cap ? d->stream_cap * 2 : 16;
        stream_slot_t *s = PyMem_Realloc(d->streams, cap * sizeof(stream_slot_t));
        if (!s) {
            PyErr_NoMemory();
            return NULL;
        }
        d->streams = s;
        d->stream_cap = cap;
    }
    slot = &d->streams[d->stream_count++];
    slot->key = key;
    Py_INCREF(Py_None);
    slot->cpu = Py_None;
    Py_INCREF(Py_None);
    slot->tag = Py_None;
    slot->tag_value = -1;
    return slot;
}

/* -- methods ----------------------------------------------------------------- */

static PyObject *Decoder_set_stream_cpu(Decoder *d, PyObject *args)
{
    PyObject *stream, *cpu;
    if (!PyArg_ParseTuple(args, "OO", &stream, &cpu))
        return NULL;
    const void *key = swig_ptr(stream);
    if (!key) {
        PyErr_SetString(PyExc_TypeError, "expected a bt2 stream pointer");
        return NULL;
    }
    stream_slot_t *slot = stream_slot(d, key);
    if (!slot)
        return NULL;
    Py_INCREF(cpu);
    Py_SETREF(slot->cpu, cpu);
    Py_RETURN_NONE;
}

/* set_stream_tag(stream, tag): what run() appends to its tag list for
 * each event of this stream (the parallel reader's muxing key). */
static PyObject *Decoder_set_stream_tag(Decoder *d, PyObject *args)
{
    PyObject *stream, *tag;
    if (!PyArg_ParseTuple(args, "OO", &stream, &tag))
        return NULL;
    const void *key = swig_ptr(stream);
    if (!key) {
        PyErr_SetString(PyExc_TypeError, "expected a bt2 stream pointer");
        return NULL;
    }
    int64_t value = -1;
    if (tag != Py_None) {
        value = PyLong_AsLongLong(tag);
        if (value == -1 && PyErr_Occurred())
            return NULL;
    }
    stream_slot_t *slot = stream_slot(d, key);
    if (!slot)
        return NULL;
    Py_INCREF(tag);
    Py_SETREF(slot->tag, tag);
    slot->tag_value = value;
    Py_RETURN_NONE;
}

/* Kinds a raw (bytearray) column can take: one 64-bit integer each. */
static int is_raw_kind(int kind)
{
    return kind == K_SIGNED || kind == K_UNSIGNED || kind == K_BIT_ARRAY;
}

/* Append one raw 64-bit word to a bytearray (amortised: bytearrays over-allocate). */
static int raw_put(PyObject *bytes, uint64_t word)
{
    Py_ssize_t n = PyByteArray_GET_SIZE(bytes);
    if (PyByteArray_Resize(bytes, n + 8) < 0)
        return -1;
    memcpy(PyByteArray_AS_STRING(bytes) + n, &word, 8);
    return 0;
}

/* set_plan(event_class, None) marks a class skipped;
 * set_plan(event_class, (cid, base_or_None, cpu_list, payload, common,
 *                        specific, packet, python_only)) with each scope a
 * tuple of (member index, kind, list). */
static PyObject *Decoder_set_plan(Decoder *d, PyObject *args)
{
    PyObject *ec, *tuple;
    if (!PyArg_ParseTuple(args, "OO", &ec, &tuple))
        return NULL;
    const void *key = swig_ptr(ec);
    if (!key) {
        PyErr_SetString(PyExc_TypeError, "expected a bt2 event class pointer");
        return NULL;
    }
    plan_t *plan = PyMem_Calloc(1, sizeof(plan_t));
    if (!plan)
        return PyErr_NoMemory();
    if (tuple == Py_None) {
        plan->skip = 1;
    } else {
        if (!PyTuple_Check(tuple) || PyTuple_GET_SIZE(tuple) != 8) {
            PyMem_Free(plan);
            PyErr_SetString(PyExc_TypeError, "a plan is an 8-tuple");
            return NULL;
        }
        Py_INCREF(tuple);
        plan->tuple = tuple;
        plan->cid = PyTuple_GET_ITEM(tuple, 0);
        plan->cid_value = PyLong_AsLongLong(plan->cid);
        if (plan->cid_value == -1 && PyErr_Occurred())
            goto error;
        PyObject *base = PyTuple_GET_ITEM(tuple, 1);
        if (base != Py_None) {
            plan->has_base = 1;
            plan->base = PyLong_AsLongLong(base);
            if (plan->base == -1 && PyErr_Occurred())
                goto error;
        }
        plan->cpu_list = PyTuple_GET_ITEM(tuple, 2);
        plan->python_only = PyObject_IsTrue(PyTuple_GET_ITEM(tuple, 7));
        for (int s = 0; s < S_COUNT; s++) {
            PyObject *specs = PyTuple_GET_ITEM(tuple, 3 + s);
            Py_ssize_t n = PyTuple_Size(specs);
            if (n < 0)
                goto error;
            plan->nspecs[s] = n;
            plan->specs[s] = PyMem_Calloc(n ? n : 1, sizeof(spec_t));
            if (!plan->specs[s]) {
                PyErr_NoMemory();
                goto error;
            }
            for (Py_ssize_t i = 0; i < n; i++) {
                PyObject *item = PyTuple_GET_ITEM(specs, i);
                if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 3) {
                    PyErr_SetString(PyExc_TypeError, "a field spec is (index, kind, list)");
                    goto error;
                }
                spec_t *spec = &plan->specs[s][i];
                spec->index = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(item, 0));
                spec->kind = (int) PyLong_AsLong(PyTuple_GET_ITEM(item, 1));
                spec->list = PyTuple_GET_ITEM(item, 2);
                spec->raw = PyByteArray_Check(spec->list);
                if (PyErr_Occurred())
                    goto error;
                if (spec->raw ? !is_raw_kind(spec->kind) : !PyList_Check(spec->list)) {
                    PyErr_SetString(PyExc_TypeError,
                                    "a column is a list, or a bytearray for an integer field");
                    goto error;
                }
            }
        }
    }
    if (class_put(d, key, plan) < 0) {
        PyErr_NoMemory();
        goto error;
    }
    Py_RETURN_NONE;
error:
    plan_free(plan);
    return NULL;
}

static PyObject *field_value(const bt_field *field, int kind);

/* A trace's string is bytes until proven text: bytes that are not UTF-8 become
 * "\xff" text (as corr.render.escape.undecoded writes them), never surrogates
 * that no output can encode. */
static PyObject *decode_string(const char *s, Py_ssize_t len)
{
    return PyUnicode_DecodeUTF8(s, len, "backslashreplace");
}

/* The str of a C string: for a short value seen recently, the same object as
 * then.  Traces repeat a few names a lot; a shared object costs no
 * allocation here, and pickle sends it once per parallel worker message. */
static PyObject *cached_string(Decoder *d, const char *s)
{
    uint64_t hash = 1469598103934665603ULL;          /* FNV-1a */
    Py_ssize_t len = 0;
    for (; s[len] && len < STRING_CACHE_MAX; len++) {
        hash ^= (unsigned char) s[len];
        hash *= 1099511628211ULL;
    }
    if (len == STRING_CACHE_MAX)
        return decode_string(s, len + (Py_ssize_t) strlen(s + len));
    if (!d->strings && !(d->strings = PyMem_Calloc(STRING_CACHE, sizeof(string_slot_t))))
        return PyErr_NoMemory();
    string_slot_t *slot = &d->strings[hash & (STRING_CACHE - 1)];
    if (slot->str && slot->hash == hash && slot->len == len && !memcmp(slot->bytes, s, len)) {
        Py_INCREF(slot->str);
        return slot->str;
    }
    PyObject *str = decode_string(s, len);
    if (!str)
        return NULL;
    Py_INCREF(str);
    Py_XSETREF(slot->str, str);
    slot->hash = hash;
    slot->len = len;
    memcpy(slot->bytes, s, len);
    return str;
}

/* A string field's value (see field_value for the empty string). */
static PyObject *string_value(Decoder *d, const bt_field *field)
{
    if (bt_field_string_get_length(field) == 0)
        return PyUnicode_New(0, 0);
    return cached_string(d, bt_field_string_get_value(field));
}

/* An array of integers (sched_process_fork's vtids, perf's syscall args). */
static PyObject *int_array_value(const bt_field *field, int element_kind)
{
    uint64_t n = bt_field_array_get_length(field);
    PyObject *list = PyList_New((Py_ssize_t) n);
    if (!list)
        return NULL;
    for (uint64_t i = 0; i < n; i++) {
        PyObject *v = field_value(bt_field_array_borrow_element_field_by_index_const(field, i),
                                  element_kind);
        if (!v) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, (Py_ssize_t) i, v);
    }
    return list;
}

static PyObject *field_value(const bt_field *field, int kind)
{
    switch (kind) {
    case K_SIGNED_ARRAY:
        return int_array_value(field, K_SIGNED);
    case K_UNSIGNED_ARRAY:
        return int_array_value(field, K_UNSIGNED);
    case K_SIGNED:
        return PyLong_FromLongLong(bt_field_integer_signed_get_value(field));
    case K_UNSIGNED:
        return PyLong_FromUnsignedLongLong(bt_field_integer_unsigned_get_value(field));
    case K_STRING: {
        /* libbabeltrace2 < 2.0.5 clears a string field without emptying its
         * buffer: an empty string reads as whatever an earlier event of the
         * pooled field held.  Its length is right. */
        if (bt_field_string_get_length(field) == 0)
            return PyUnicode_New(0, 0);
        const char *s = bt_field_string_get_value(field);
        return decode_string(s, (Py_ssize_t) strlen(s));
    }
    case K_DOUBLE:
        return PyFloat_FromDouble(bt_field_real_double_precision_get_value(field));
    case K_SINGLE:
        return PyFloat_FromDouble((double) bt_field_real_single_precision_get_value(field));
    case K_BOOL:
        return PyBool_FromLong(bt_field_bool_get_value(field));
    case K_BIT_ARRAY:
        return PyLong_FromUnsignedLongLong(bt_field_bit_array_get_value_as_integer(field));
    }
    PyErr_SetString(PyExc_ValueError, "unknown field kind");
    return NULL;
}

static int append_new(PyObject *list, PyObject *value)
{
    if (!value)
        return -1;
    int rc = PyList_Append(list, value);
    Py_DECREF(value);
    return rc;
}

static uint64_t raw_value(const bt_field *field, int kind)
{
    switch (kind) {
    case K_SIGNED:
        return (uint64_t) bt_field_integer_signed_get_value(field);
    case K_UNSIGNED:
        return bt_field_integer_unsigned_get_value(field);
    default:
        return bt_field_bit_array_get_value_as_integer(field);
    }
}

/* An array of integers, from the cache when the same values were decoded last in
 * its slot (see ARRAY_CACHE). */
static PyObject *cached_int_array(Decoder *d, const bt_field *field, int kind)
{
    int element = kind == K_SIGNED_ARRAY ? K_SIGNED : K_UNSIGNED;
    uint64_t n = bt_field_array_get_length(field);
    uint64_t values[ARRAY_CACHE_MAX];
    if (n > ARRAY_CACHE_MAX)
        return int_array_value(field, element);
    uint64_t hash = 1469598103934665603ULL ^ n;
    for (uint64_t i = 0; i < n; i++) {
        values[i] = raw_value(bt_field_array_borrow_element_field_by_index_const(field, i),
                              element);
        hash = (hash ^ values[i]) * 1099511628211ULL;
        hash ^= hash >> 29;
    }
    if (!d->arrays && !(d->arrays = PyMem_Calloc(ARRAY_CACHE, sizeof(array_slot_t))))
        return PyErr_NoMemory();
    array_slot_t *slot = &d->arrays[hash & (ARRAY_CACHE - 1)];
    if (slot->list && slot->hash == hash && slot->len == n && slot->kind == kind
        && (n == 0 || !memcmp(slot->values, values, n * sizeof(uint64_t)))) {
        Py_INCREF(slot->list);
        return slot->list;
    }
    PyObject *list = PyList_New((Py_ssize_t) n);
    if (!list)
        return NULL;
    for (uint64_t i = 0; i < n; i++) {
        PyObject *v = element == K_SIGNED ? PyLong_FromLongLong((int64_t) values[i])
                                          : PyLong_FromUnsignedLongLong(values[i]);
        if (!v) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, (Py_ssize_t) i, v);
    }
    uint64_t *copy = n ? PyMem_Malloc(n * sizeof(uint64_t)) : NULL;
    if (n && !copy)
        return list;                 /* not cached: the value is still right */
    if (n)
        memcpy(copy, values, n * sizeof(uint64_t));
    Py_XDECREF(slot->list);
    PyMem_Free(slot->values);
    Py_INCREF(list);
    slot->list = list;
    slot->values = copy;
    slot->hash = hash;
    slot->len = n;
    slot->kind = kind;
    return list;
}

static int decode_scope(Decoder *d, const bt_field *scope, const spec_t *specs, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        const bt_field *f = bt_field_structure_borrow_member_field_by_index_const(scope, specs[i].index);
        int rc = specs[i].raw ? raw_put(specs[i].list, raw_value(f, specs[i].kind))
                 : append_new(specs[i].list,
                              specs[i].kind == K_STRING ? string_value(d, f)
                              : specs[i].kind == K_SIGNED_ARRAY || specs[i].kind == K_UNSIGNED_ARRAY
                              ? cached_int_array(d, f, specs[i].kind)
                              : field_value(f, specs[i].kind));
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Where run() appends each event's timestamp, class id and stream tag. */
typedef struct {
    PyObject *ts, *cid, *tag;    /* tag: NULL when not asked for */
    int ts_raw, cid_raw, tag_raw;
} targets_t;

static Py_ssize_t column_length(PyObject *column, int raw)
{
    return raw ? PyByteArray_GET_SIZE(column) / 8 : PyList_GET_SIZE(column);
}

/* Append one event of a planned class to the batch.  0: done; 1: Python
 * must take it (its timestamp overflows); -1: error set. */
static int decode_event(Decoder *d, const plan_t *plan, const bt_message *msg,
                        const bt_event *event, const targets_t *t)
{
    const bt_clock_snapshot *cs = bt_message_event_borrow_default_clock_snapshot_const(msg);
    int64_t ts;
    if (plan->has_base)
        ts = (int64_t) bt_clock_snapshot_get_value(cs) + plan->base;
    else if (bt_clock_snapshot_get_ns_from_origin(cs, &ts) != BT_CLOCK_SNAPSHOT_GET_NS_FROM_ORIGIN_STATUS_OK)
        return 1;
    stream_slot_t *slot = stream_find(d, bt_event_borrow_stream_const(event));
    if ((t->ts_raw ? raw_put(t->ts, (uint64_t) ts) : append_new(t->ts, PyLong_FromLongLong(ts))) < 0
        || (t->cid_raw ? raw_put(t->cid, (uint64_t) plan->cid_value)
                       : PyList_Append(t->cid, plan->cid)) < 0
        || PyList_Append(plan->cpu_list, slot ? slot->cpu : Py_None) < 0)
        return -1;
    if (t->tag && (t->tag_raw ? raw_put(t->tag, (uint64_t) (slot ? slot->tag_value : -1))
                              : PyList_Append(t->tag, slot ? slot->tag : Py_None)) < 0)
        return -1;
    if (plan->nspecs[S_PAYLOAD]
        && decode_scope(d, bt_event_borrow_payload_field_const(event),
                        plan->specs[S_PAYLOAD], plan->nspecs[S_PAYLOAD]) < 0)
        return -1;
    if (plan->nspecs[S_COMMON]
        && decode_scope(d, bt_event_borrow_common_context_field_const(event),
                        plan->specs[S_COMMON], plan->nspecs[S_COMMON]) < 0)
        return -1;
    if (plan->nspecs[S_SPECIFIC]
        && decode_scope(d, bt_event_borrow_specific_context_field_const(event),
                        plan->specs[S_SPECIFIC], plan->nspecs[S_SPECIFIC]) < 0)
        return -1;
    if (plan->nspecs[S_PACKET]
        && decode_scope(d, bt_packet_borrow_context_field_const(bt_event_borrow_packet_const(event)),
                        plan->specs[S_PACKET], plan->nspecs[S_PACKET]) < 0)
        return -1;
    return 0;
}

static PyObject *Decoder_set_cpu_member(Decoder *d, PyObject *args)
{
    PyObject *sc;
    long long index;
    if (!PyArg_ParseTuple(args, "OL", &sc, &index))
        return NULL;
    const void *key = swig_ptr(sc);
    if (!key) {
        PyErr_SetString(PyExc_TypeError, "expected a bt2 stream class pointer");
        return NULL;
    }
    for (size_t i = 0; i < d->sc_count; i++) {
        if (d->stream_classes[i].key == key) {
            d->stream_classes[i].cpu_member = index;
            Py_RETURN_NONE;
        }
    }
    if (d->sc_count == d->sc_cap) {
        size_t cap = d->sc_cap ? d->sc_cap * 2 : 8;
        stream_class_slot_t *n = PyMem_Realloc(d->stream_classes, cap * sizeof(*n));
        if (!n)
            return PyErr_NoMemory();
        d->stream_classes = n;
        d->sc_cap = cap;
    }
    d->stream_classes[d->sc_count].key = key;
    d->stream_classes[d->sc_count].cpu_member = index;
    d->sc_count++;
    Py_RETURN_NONE;
}

/* 1: C handled the packet beginning; 0: Python must (new stream class, or
 * the stream's CPU changes). */
static int packet_beginning(Decoder *d, const bt_message *msg)
{
    const bt_packet *packet = bt_message_packet_beginning_borrow_packet_const(msg);
    const bt_stream *stream = bt_packet_borrow_stream_const(packet);
    const void *sc = bt_stream_borrow_class_const(stream);
    for (size_t i = 0; i < d->sc_count; i++) {
        if (d->stream_classes[i].key != sc)
            continue;
        int64_t member = d->stream_classes[i].cpu_member;
        if (member < 0)
            return 1;
        const bt_field *ctx = bt_packet_borrow_context_field_const(packet);
        uint64_t cpu = bt_field_integer_unsigned_get_value(
            bt_field_structure_borrow_member_field_by_index_const(ctx, (uint64_t) member));
        PyObject *known = stream_cpu(d, stream);
        return known != Py_None && PyLong_AsUnsignedLongLong(known) == cpu;
    }
    return 0;
}

/* 1 and *ns set when msg is an event message with a timestamp. */
static int event_ns(const bt_message *msg, int64_t *ns)
{
    return bt_message_get_type(msg) == BT_MESSAGE_TYPE_EVENT
        && bt_message_event_borrow_stream_class_default_clock_class_const(msg)
        && bt_clock_snapshot_get_ns_from_origin(
               bt_message_event_borrow_default_clock_snapshot_const(msg), ns)
           == BT_CLOCK_SNAPSHOT_GET_NS_FROM_ORIGIN_STATUS_OK;
}

/* The first (until known) and last event messages of a range just pulled:
 * a clock read or two per range, not one per message.  The muxer's order is
 * the time order, so the last range's last event is the trace's. */
static void note_span(Decoder *d, const bt_message *const *msgs, uint64_t count)
{
    int64_t ns;
    for (uint64_t i = 0; !d->has_first && i < count; i++)
        if (event_ns(msgs[i], &ns)) {
            d->first_ns = ns;
            d->has_first = 1;
        }
    for (uint64_t i = count; i-- > 0;)
        if (event_ns(msgs[i], &ns)) {
            d->last_ns = ns;
            d->has_last = 1;
            break;
        }
}

/* span() -> (first, last) ns from origin of the event messages run() pulled, or None. */
static PyObject *Decoder_span(Decoder *d, PyObject *unused)
{
    if (!d->has_first || !d->has_last)
        Py_RETURN_NONE;
    return Py_BuildValue("(LL)", (long long) d->first_ns, (long long) d->last_ns);
}

enum run_status { RUN_FULL = 0, RUN_END = 1, RUN_AGAIN = 2, RUN_ERROR = 3, RUN_PYTHON = 4 };

/* A run() column: a list, or a bytearray of raw words (*raw set). */
static int check_column(PyObject *column, int *raw)
{
    *raw = PyByteArray_Check(column);
    if (*raw || PyList_Check(column))
        return 0;
    PyErr_SetString(PyExc_TypeError, "run() columns are lists or bytearrays");
    return -1;
}

/* run(iterator, ts_list, cid_list, batch_size[, tag_list[, max_messages]])
 *     -> (status, message or None)
 *
 * Pulls messages from the sink's iterator itself (no Python object per
 * message) and decodes them until the batch holds batch_size events
 * (RUN_FULL), the iterator ends (RUN_END) or asks to try again, or a
 * message needs Python (RUN_PYTHON: the message is returned, Python owns
 * its reference).  Messages already pulled wait in the decoder.  With a
 * tag_list (not None), each decoded event also appends its stream's tag.
 * Each of the three is a list, or a bytearray of raw 64-bit words.
 * With max_messages > 0, a batch holding events is also RUN_FULL once this
 * call has examined that many messages: a parallel worker whose rules keep
 * few events then ships batches as it goes, not all of them at its end. */
static PyObject *Decoder_run(Decoder *d, PyObject *args)
{
    PyObject *iter_obj, *tag_list = Py_None;
    targets_t t = {0};
    Py_ssize_t batch_size, max_messages = 0, examined = 0;
    if (!PyArg_ParseTuple(args, "OOOn|On", &iter_obj, &t.ts, &t.cid, &batch_size, &tag_list,
                          &max_messages))
        return NULL;
    t.tag = tag_list == Py_None ? NULL : tag_list;
    if (check_column(t.ts, &t.ts_raw) < 0 || check_column(t.cid, &t.cid_raw) < 0
        || (t.tag && check_column(t.tag, &t.tag_raw) < 0))
        return NULL;
    bt_message_iterator *it = (bt_message_iterator *) swig_ptr(iter_obj);
    if (!it || !message_swig_ty) {
        PyErr_SetString(PyExc_TypeError, "run() needs a bound decoder and an iterator pointer");
        return NULL;
    }
    for (;;) {
        if (d->pending_pos == d->pending_count) {
            Py_ssize_t held = column_length(t.ts, t.ts_raw);
            if (held >= batch_size || (max_messages > 0 && examined >= max_messages && held > 0))
                return Py_BuildValue("(iO)", RUN_FULL, Py_None);
            bt_message_array_const msgs;
            uint64_t count;
            bt_message_iterator_next_status st = bt_message_iterator_next(it, &msgs, &count);
            if (st == BT_MESSAGE_ITERATOR_NEXT_STATUS_END)
                return Py_BuildValue("(iO)", RUN_END, Py_None);
            if (st == BT_MESSAGE_ITERATOR_NEXT_STATUS_AGAIN)
                return Py_BuildValue("(iO)", RUN_AGAIN, Py_None);
            if (st != BT_MESSAGE_ITERATOR_NEXT_STATUS_OK)
                return Py_BuildValue("(iO)", RUN_ERROR, Py_None);
            if (count > d->pending_cap) {
                const bt_message **n = PyMem_Realloc(d->pending, count * sizeof(*n));
                if (!n)
                    return PyErr_NoMemory();
                d->pending = n;
                d->pending_cap = count;
            }
            memcpy(d->pending, msgs, count * sizeof(*msgs));
            d->pending_pos = 0;
            d->pending_count = count;
            note_span(d, msgs, count);
            examined += (Py_ssize_t) count;
        }
        const bt_message *msg = d->pending[d->pending_pos];
        bt_message_type type = bt_message_get_type(msg);
        if (type == BT_MESSAGE_TYPE_EVENT) {
            const bt_event *event = bt_message_event_borrow_event_const(msg);
            plan_t *plan = class_find(d, bt_event_borrow_class_const(event));
            if (!plan || plan->python_only)
                goto to_python;
            if (!plan->skip) {
                int rc = decode_event(d, plan, msg, event, &t);
                if (rc < 0)
                    return NULL;
                if (rc > 0)
                    goto to_python;
            }
        } else if (type == BT_MESSAGE_TYPE_PACKET_BEGINNING) {
            if (!packet_beginning(d, msg))
                goto to_python;
        } else if (type != BT_MESSAGE_TYPE_PACKET_END && type != BT_MESSAGE_TYPE_STREAM_END
                   && type != BT_MESSAGE_TYPE_MESSAGE_ITERATOR_INACTIVITY) {
            goto to_python;
        }
        d->pending_pos++;
        bt_message_put_ref(msg);
        continue;
to_python:
        d->pending_pos++;
        PyObject *wrapped = wrap_message(msg);
        if (!wrapped)
            return NULL;
        return Py_BuildValue("(iN)", RUN_PYTHON, wrapped);
    }
}

static void Decoder_dealloc(Decoder *d)
{
    for (uint64_t i = d->pending_pos; i < d->pending_count; i++)
        bt_message_put_ref(d->pending[i]);
    PyMem_Free(d->pending);
    PyMem_Free(d->stream_classes);
    if (d->strings) {
        for (size_t i = 0; i < STRING_CACHE; i++)
            Py_XDECREF(d->strings[i].str);
        PyMem_Free(d->strings);
    }
    if (d->arrays) {
        for (size_t i = 0; i < ARRAY_CACHE; i++) {
            Py_XDECREF(d->arrays[i].list);
            PyMem_Free(d->arrays[i].values);
        }
        PyMem_Free(d->arrays);
    }
    for (size_t i = 0; i < d->class_cap; i++)
        if (d->classes[i].key)
            plan_free(d->classes[i].plan);
    PyMem_Free(d->classes);
    for (size_t i = 0; i < d->stream_count; i++) {
        Py_XDECREF(d->streams[i].cpu);
        Py_XDECREF(d->streams[i].tag);
    }
    PyMem_Free(d->streams);
    Py_TYPE(d)->tp_free((PyObject *) d);
}

static PyMethodDef Decoder_methods[] = {
    {"set_plan", (PyCFunction) Decoder_set_plan, METH_VARARGS, "Plan (or skip) an event class."},
    {"set_stream_cpu", (PyCFunction) Decoder_set_stream_cpu, METH_VARARGS, "The CPU of a stream."},
    {"set_stream_tag", (PyCFunction) Decoder_set_stream_tag, METH_VARARGS,
     "The tag run() appends for each event of a stream (when given a tag list)."},
    {"set_cpu_member", (PyCFunction) Decoder_set_cpu_member, METH_VARARGS,
     "Where a stream class keeps cpu_id in its packet context (-1: nowhere)."},
    {"run", (PyCFunction) Decoder_run, METH_VARARGS,
     "Pull and decode messages until the batch is full, the end, or a message for Python."},
    {"span", (PyCFunction) Decoder_span, METH_NOARGS,
     "(first, last) ns from origin of the event messages run() pulled (any class), or None."},
    {NULL}
};

static PyTypeObject DecoderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "corr.reading._fastsink.Decoder",
    .tp_basicsize = sizeof(Decoder),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_dealloc = (destructor) Decoder_dealloc,
    .tp_methods = Decoder_methods,
    .tp_doc = "Decodes planned event messages of one trace into batch lists.",
};

/* A value's index among the distinct values, by the object's address. */
typedef struct {
    PyObject **keys;
    int64_t *ids;
    size_t cap, n;
} by_address_t;

static int64_t *address_slot(by_address_t *t, PyObject *key, int *found)
{
    size_t mask = t->cap - 1, k = ((uintptr_t)key >> 4) & mask;
    while (t->keys[k] && t->keys[k] != key)
        k = (k + 1) & mask;
    *found = t->keys[k] != NULL;
    if (!*found)
        t->keys[k] = key;
    return &t->ids[k];
}

static int address_grow(by_address_t *t)
{
    by_address_t bigger = {PyMem_Calloc(t->cap * 2, sizeof(PyObject *)),
                           PyMem_Calloc(t->cap * 2, sizeof(int64_t)), t->cap * 2, t->n};
    if (!bigger.keys || !bigger.ids) {
        PyMem_Free(bigger.keys);
        PyMem_Free(bigger.ids);
        return -1;
    }
    for (size_t k = 0; k < t->cap; k++) {
        if (t->keys[k]) {
            int found;
            *address_slot(&bigger, t->keys[k], &found) = t->ids[k];
        }
    }
    PyMem_Free(t->keys);
    PyMem_Free(t->ids);
    *t = bigger;
    return 0;
}

/* intern_lists(values) -> (distinct values, ids as int64 bytes), or None where a
 * value is not a list of ints (exactly: bools and floats compare equal to ints) nor
 * None; wire.interned_column_python is the reference.  The decoder gives a repeated
 * array its object again: a value already seen is found by its address. */
static PyObject *intern_lists(PyObject *self, PyObject *values)
{
    if (!PyList_CheckExact(values))
        Py_RETURN_NONE;
    Py_ssize_t n = PyList_GET_SIZE(values);
    PyObject *ids = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(int64_t));
    PyObject *uniques = PyList_New(0), *index = PyDict_New(), *result = NULL;
    by_address_t seen = {PyMem_Calloc(1024, sizeof(PyObject *)),
                         PyMem_Calloc(1024, sizeof(int64_t)), 1024, 0};
    if (!ids || !uniques || !index || !seen.keys || !seen.ids) {
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        goto done;
    }
    int64_t *out = (int64_t *)PyBytes_AS_STRING(ids);
    PyObject *last = NULL;
    int64_t last_id = -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *value = PyList_GET_ITEM(values, i);
        if (value == last) {
            out[i] = last_id;
            continue;
        }
        int found;
        int64_t *slot = address_slot(&seen, value, &found);
        if (!found) {
            PyObject *key;
            if (value == Py_None) {
                key = Py_NewRef(Py_None);
            } else if (PyList_CheckExact(value)) {
                for (Py_ssize_t j = 0; j < PyList_GET_SIZE(value); j++) {
                    if (!PyLong_CheckExact(PyList_GET_ITEM(value, j))) {
                        result = Py_NewRef(Py_None);
                        goto done;
                    }
                }
                key = PyList_AsTuple(value);
                if (!key)
                    goto done;
            } else {
                result = Py_NewRef(Py_None);
                goto done;
            }
            PyObject *known = PyDict_GetItemWithError(index, key);
            int64_t id;
            if (known) {
                id = PyLong_AsLongLong(known);
            } else if (PyErr_Occurred()) {
                Py_DECREF(key);
                goto done;
            } else {
                id = PyList_GET_SIZE(uniques);
                PyObject *number = PyLong_FromLongLong(id);
                int rc = number ? PyDict_SetItem(index, key, number) : -1;
                Py_XDECREF(number);
                if (rc < 0 || PyList_Append(uniques, value) < 0) {
                    Py_DECREF(key);
                    goto done;
                }
            }
            Py_DECREF(key);
            *slot = id;
            if (++seen.n * 2 > seen.cap && address_grow(&seen) < 0) {
                PyErr_NoMemory();
                goto done;
            }
            out[i] = last_id = id;
        } else {
            out[i] = last_id = *slot;
        }
        last = value;
    }
    result = PyTuple_Pack(2, uniques, ids);
done:
    Py_XDECREF(ids);
    Py_XDECREF(uniques);
    Py_XDECREF(index);
    PyMem_Free(seen.keys);
    PyMem_Free(seen.ids);
    return result;
}

/* bind_swig_type(obj): learn SWIG's pointer type from a live pointer object,
 * checking that its layout is the one swig_ptr() assumes. */
static PyObject *bind_swig_type(PyObject *self, PyObject *obj)
{
    PyObject *as_int = PyNumber_Long(obj);
    if (!as_int)
        return NULL;
    void *expected = PyLong_AsVoidPtr(as_int);
    Py_DECREF(as_int);
    if (((swig_object_t *) obj)->ptr != expected) {
        PyErr_SetString(PyExc_RuntimeError, "unexpected SWIG pointer layout");
        return NULL;
    }
    swig_type = Py_TYPE(obj);
    Py_RETURN_NONE;
}

/* bind_message_type(msg): learn SWIG's type info for messages from a live
 * message object, so run() can hand messages to Python.  False when the
 * object layout is not SWIG 4's (then run() must not be used). */
static PyObject *bind_message_type(PyObject *self, PyObject *obj)
{
    if (!swig_type || Py_TYPE(obj) != swig_type
        || swig_type->tp_basicsize != (Py_ssize_t) sizeof(swig_object_t))
        Py_RETURN_FALSE;
    swig_object_t *o = (swig_object_t *) obj;
    if (o->own != 0 || o->next != NULL || o->ty == NULL)
        Py_RETURN_FALSE;
    message_swig_ty = o->ty;
    Py_RETURN_TRUE;
}

static PyMethodDef module_methods[] = {
    {"intern_lists", intern_lists, METH_O,
     "intern_lists(values) -> (distinct values, int64 ids) of lists of ints, or None"},
    {"bind_swig_type", bind_swig_type, METH_O, "Learn and check bt2's SWIG pointer type."},
    {"bind_message_type", bind_message_type, METH_O, "Learn SWIG's message type info."},
    {NULL}
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastsink",
    "The reader's hot loop on libbabeltrace2's C API.", -1, module_methods,
};

PyMODINIT_FUNC PyInit__fastsink(void)
{
    if (PyType_Ready(&DecoderType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    Py_INCREF(&DecoderType);
    if (PyModule_AddObject(m, "Decoder", (PyObject *) &DecoderType) < 0) {
        Py_DECREF(&DecoderType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
