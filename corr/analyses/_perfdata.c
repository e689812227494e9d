/*
 * corr.analyses._perfdata: the records of some types out of a perf.data file's
 * data section, read a few megabytes at a time.
 *
 * A perf.data of a `perf record -g` run is mostly samples (hundreds of
 * megabytes); the side-band records that say where each process mapped its
 * files (mmap, comm, fork) are a few thousand among them, and only
 * the records' own sizes say where each begins.  `records` walks them with
 * pread into one buffer (nothing of the file is mapped, so the file's size
 * costs no memory), the GIL released, and keeps the wanted ones whole; it stops
 * at a record of a type it cannot walk past or read (an AUXTRACE record's data
 * follows it uncounted in its size; a compressed one holds the others).
 *
 * perf_data.scan_python is its reference; tests/test_perf_data.py compares
 * them.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#define CHUNK (4u << 20)          /* bytes read at a time; a record is at most 64 KiB */

typedef struct {
    char *v;
    size_t n, cap;
} buf_t;

static int keep(buf_t *out, const char *record, size_t size)
{
    if (out->n + size > out->cap) {
        size_t cap = out->cap ? out->cap : 1u << 16;
        while (cap < out->n + size)
            cap *= 2;
        char *grown = realloc(out->v, cap);
        if (!grown)
            return -1;
        out->v = grown;
        out->cap = cap;
    }
    memcpy(out->v + out->n, record, size);
    out->n += size;
    return 0;
}

/* records(fd, offset, size, types, stops) -> the kept records end to end (bytes), or
 * where the walk had to stop: (the records kept before, the reason, its file offset).
 * ``types``, ``stops``: bytes, one record type each (kept; stopped at). */
static PyObject *records(PyObject *self, PyObject *args)
{
    int fd;
    long long offset, size;
    const unsigned char *types, *stops;
    Py_ssize_t ntypes, nstops;
    if (!PyArg_ParseTuple(args, "iLLy#y#", &fd, &offset, &size, &types, &ntypes, &stops,
                          &nstops))
        return NULL;
    if (offset < 0 || size < 0) {
        PyErr_SetString(PyExc_ValueError, "records: a negative offset or size");
        return NULL;
    }
    unsigned char wanted[256] = {0};
    for (Py_ssize_t i = 0; i < ntypes; i++)
        wanted[types[i]] = 1;
    for (Py_ssize_t i = 0; i < nstops; i++)
        wanted[stops[i]] = 2;
    char *chunk = malloc(CHUNK);
    if (!chunk)
        return PyErr_NoMemory();
    buf_t out = {0};
    const char *failure = NULL;
    long long failed_at = 0;
    int error = 0;
    Py_BEGIN_ALLOW_THREADS
    long long at = 0;              /* the next record's place in the section */
    size_t have = 0, used = 0;     /* bytes in chunk, bytes of it walked */
    while (at < size && !failure && !error) {
        size_t rsize = 0;
        if (have - used >= 8) {
            const unsigned char *h = (const unsigned char *)chunk + used;
            rsize = h[6] | h[7] << 8;
            if (rsize < 8) {
                failure = "a record of fewer than 8 bytes";
                failed_at = offset + at;
                break;
            }
            if (at + (long long)rsize > size) {
                failure = "a record runs past the data section";
                failed_at = offset + at;
                break;
            }
        }
        if (have - used < 8 || have - used < rsize) {        /* read on */
            memmove(chunk, chunk + used, have - used);
            have -= used;
            used = 0;
            long long left = size - (at + (long long)have);
            size_t want = CHUNK - have;
            if ((long long)want > left)
                want = (size_t)left;
            if (want == 0) {
                failure = "the data section ends inside a record";
                failed_at = offset + at;
                break;
            }
            ssize_t got = pread(fd, chunk + have, want, offset + at + (long long)have);
            if (got < 0) {
                if (errno == EINTR)
                    continue;
                error = errno;
                break;
            }
            if (got == 0) {
                failure = "the file ends before its data section does";
                failed_at = offset + at + (long long)have;
                break;
            }
            have += (size_t)got;
            continue;
        }
        const unsigned char *h = (const unsigned char *)chunk + used;
        uint32_t type = h[0] | h[1] << 8 | h[2] << 16 | (uint32_t)h[3] << 24;
        if (type < 256 && wanted[type] == 2) {
            failure = "a record of a type not read here";
            failed_at = offset + at;
            break;
        }
        if (type < 256 && wanted[type] && keep(&out, chunk + used, rsize) < 0) {
            error = ENOMEM;
            break;
        }
        used += rsize;
        at += (long long)rsize;
    }
    Py_END_ALLOW_THREADS
    free(chunk);
    PyObject *result = NULL;
    if (error) {
        errno = error;
        PyErr_SetFromErrno(error == ENOMEM ? PyExc_MemoryError : PyExc_OSError);
    } else if (failure) {
        result = Py_BuildValue("(y#sL)", out.v ? out.v : "", (Py_ssize_t)out.n, failure,
                               failed_at);
    } else {
        result = PyBytes_FromStringAndSize(out.v ? out.v : "", (Py_ssize_t)out.n);
    }
    free(out.v);
    return result;
}

static PyMethodDef methods[] = {
    {"records", records, METH_VARARGS,
     "records(fd, offset, size, types, stops) -> the records of those types, end to end"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "corr.analyses._perfdata",
    "The records of some types out of a perf.data file's data section.", -1, methods,
};

PyMODINIT_FUNC PyInit__perfdata(void)
{
    return PyModule_Create(&module);
}
