/*
 * ldnscreen._kernels: inner loops of a simulation on a small review, compiled.
 *
 * newton(G, s, cost, beta, tol, max_iter, factor, root[, old_factor, old_root]) -> (n_iter, factored,
 *                                                                             n_factorisations)
 *     The Newton iteration of ldnscreen.logistic.newton_kernel: the same steps, tests, line search
 *     and kept (carried) Hessian factor. At a few hundred labelled rows a step is a handful of
 *     small vector operations and numpy's per-call overhead was most of its cost. beta is updated
 *     in place, factor and root receive the last factor; n_iter -1 means a Hessian was not
 *     positive definite (the caller raises).
 *
 * kernel_column(indptr, indices, data, columns, values, out)
 *     out[i] += sum_q values[q] * X[i, columns[q]] over a record's stored columns, with X
 *     given column by column (indptr, indices, data of X's transpose in CSR), the columns taken
 *     last to first as ScoringGram's csc_matvec call does (the same sums in the same order).
 *     Releases the GIL while it sums (the learner's two views fit in two threads).
 *
 * split_distinct(text) -> (pieces, indices)
 *     text.split()'s distinct pieces in order of first appearance and each piece's number among
 *     them: what ldnscreen.features._piece_ids asks of Arrow's split and dictionary encoding.
 *
 * token_table(known, ids, drop_id) -> table;  token_ids(table, text) -> (ids, new)
 *     A growing token -> id table (a capsule) for ldnscreen.features._GrowingTokenIds: `known`
 *     pieces (the document separator, stop words) have the given `ids`; any other piece gets, at
 *     its first appearance, the drop id when it has fewer than two bytes, else the next token id
 *     (0, 1, ...). token_ids numbers text.split()'s pieces so (native int32, as bytes) and lists
 *     the pieces that got new token ids: the dictionary lookups of _piece_ids, in C.
 *
 * group_grams(codes, docs, n_tokens, count) -> n_entries
 *     The entries (n-gram, document, count) of n-gram occurrences given by their codes
 *     (prefix * n_tokens + last token) and documents (ascending), sorted by code then document:
 *     ldnscreen.features._Level's grouping, by two counting sorts (last token, then prefix)
 *     instead of a sort, in 12 bytes of scratch per occurrence and 8 per bucket (the larger of
 *     the tokens and the prefixes). Overwrites codes and docs: their first n_entries places
 *     receive each entry's code and document, and count's its count; n_entries is -1 (and nothing
 *     written) where there would be many more buckets than codes.
 *
 * C and the buffer protocol (no numpy headers); LAPACK and BLAS are scipy's, looked up at import.
 * The arrays are checked (dtype, contiguity, lengths, index ranges) here; ldnscreen falls back to
 * its numpy and Arrow code when this module was not compiled.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

static char
kind_of(const Py_buffer *view)
{
    const char *format = view->format ? view->format : "B";
    while (*format == '<' || *format == '=' || *format == '@' || *format == '!' || *format == '>')
        format++;
    if (format[0] == '\0' || format[1] != '\0')
        return 0;
    switch (format[0]) {
    case 'd': return view->itemsize == 8 ? 'd' : 0;
    case 'f': return view->itemsize == 4 ? 'f' : 0;
    case 'i': case 'l': case 'q':
        if (view->itemsize == 4) return 'i';
        if (view->itemsize == 8) return 'q';
        return 0;
    default: return 0;
    }
}

/* A C-contiguous buffer of one of the kinds in `allowed` ("d", "df", "iq"); its kind in *kind. */
static int
get_array(PyObject *obj, Py_buffer *view, const char *name, const char *allowed, int writable, char *kind)
{
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) != 0) {
        PyErr_Format(PyExc_TypeError, "%s: a C-contiguous%s array is needed", name, writable ? " writable" : "");
        return -1;
    }
    char k = kind_of(view);
    if (k == 0 || strchr(allowed, k) == NULL) {
        PyErr_Format(PyExc_TypeError, "%s: dtype not accepted (format %s, kinds %s)", name,
                     view->format ? view->format : "?", allowed);
        PyBuffer_Release(view);
        return -1;
    }
    if (kind)
        *kind = k;
    return 0;
}

/* ---- newton ------------------------------------------------------------------------------ */

/* LAPACK and BLAS as scipy exports them to compiled code (scipy.linalg.cython_lapack and
 * cython_blas): the same OpenBLAS that scipy.linalg's dpotrf and dpotrs call, found at import. */
typedef void (*potrf_t)(char *uplo, int *n, double *a, int *lda, int *info);
typedef void (*trtrs_t)(char *uplo, char *trans, char *diag, int *n, int *nrhs, double *a, int *lda, double *b,
                        int *ldb, int *info);
typedef void (*potrs_t)(char *uplo, int *n, int *nrhs, double *a, int *lda, double *b, int *ldb, int *info);
typedef double (*dot_t)(int *n, double *x, int *incx, double *y, int *incy);
typedef void (*gemv_t)(char *trans, int *m, int *n, double *alpha, double *a, int *lda, double *x, int *incx,
                       double *beta, double *y, int *incy);
static potrf_t lapack_potrf;
static potrs_t lapack_potrs;
static trtrs_t lapack_trtrs;
static dot_t blas_dot;
static gemv_t blas_gemv;

static void *
exported(const char *module_name, const char *name)
{
    void *pointer = NULL;
    PyObject *module = PyImport_ImportModule(module_name);
    if (module == NULL) {
        PyErr_Clear();
        PyErr_Format(PyExc_ImportError, "ldnscreen._kernels: %s cannot be imported", module_name);
        return NULL;
    }
    PyObject *table = PyObject_GetAttrString(module, "__pyx_capi__");
    if (table != NULL) {
        PyObject *capsule = PyDict_GetItemString(table, name); /* borrowed */
        if (capsule != NULL && PyCapsule_CheckExact(capsule))
            pointer = PyCapsule_GetPointer(capsule, PyCapsule_GetName(capsule));
        else
            PyErr_Format(PyExc_ImportError, "%s exports no %s", module_name, name);
        Py_DECREF(table);
    }
    Py_DECREF(module);
    if (pointer == NULL) { /* whatever went wrong, an ImportError: ldnscreen then runs its numpy code */
        PyErr_Clear();
        PyErr_Format(PyExc_ImportError, "ldnscreen._kernels: %s.%s not found", module_name, name);
    }
    return pointer;
}

static inline double
dot(const double *a, const double *b, Py_ssize_t n)
{
    int size = (int)n, one = 1;
    return blas_dot(&size, (double *)a, &one, (double *)b, &one);
}

/* out = G x for a symmetric row-major n x n G whose rows are ld apart (numpy's G.dot(x): the
 * transposed product on the column-major view) */
static inline void
matvec(const double *G, Py_ssize_t ld, const double *x, double *out, Py_ssize_t n)
{
    char trans = 'T';
    int size = (int)n, lda = (int)ld, one = 1;
    double alpha = 1.0, beta = 0.0;
    blas_gemv(&trans, &size, &size, &alpha, (double *)G, &lda, (double *)x, &one, &beta, out, &one);
}

static inline double
expit(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

/* log(1 + exp(z)), as numpy's logaddexp(0, z) */
static inline double
log1pexp(double z)
{
    return z > 0.0 ? z + log1p(exp(-z)) : log1p(exp(z));
}

static double
objective(const double *beta, const double *m, const double *s, const double *cost, double *z, Py_ssize_t n)
{
    double loss = 0.0;
    for (Py_ssize_t i = 0; i < n; i++) {
        z[i] = -s[i] * m[i];
        loss += cost[i] * log1pexp(z[i]);
    }
    return 0.5 * dot(beta, m, n) + loss;
}

/* The kept factor `old` (n_old x n_old, column-major, of I + R G R at the weights `old_root`)
 * bordered by the rows after it at this point (ldnscreen.logistic._carry_factor): into F
 * (column-major, leading dimension n) and root. -1 when the Schur complement is not positive
 * definite (then factorise afresh). */
static int
carry_factor(const double *G, Py_ssize_t ld, const double *cost, const double *z, const double *old, const double *old_root,
             Py_ssize_t n_old, Py_ssize_t n, double *F, double *root, double *work)
{
    for (Py_ssize_t j = 0; j < n_old; j++) {
        memcpy(F + j * n + j, old + j * n_old + j, (n_old - j) * sizeof(double));
        root[j] = old_root[j];
    }
    Py_ssize_t k = n - n_old;
    if (k == 0)
        return 0;
    for (Py_ssize_t a = n_old; a < n; a++) {
        double p = expit(z[a]);
        root[a] = sqrt(cost[a] * p * (1.0 - p));
    }
    double *W = work, *S = work + n_old * k; /* n_old x k and k x k, column-major */
    for (Py_ssize_t a = 0; a < k; a++)
        for (Py_ssize_t j = 0; j < n_old; j++)
            W[j + a * n_old] = G[j * ld + n_old + a] * root[j] * root[n_old + a];
    char lower = 'L', no = 'N';
    int size = (int)n_old, lda = (int)n, columns = (int)k, info = 0; /* (F: leading dimension n) */
    if (n_old > 0) {
        lapack_trtrs(&lower, &no, &no, &size, &columns, F, &lda, W, &size, &info); /* L11 W = C */
        if (info != 0)
            return -1;
    }
    for (Py_ssize_t b = 0; b < k; b++)
        for (Py_ssize_t a = b; a < k; a++)
            S[a + b * k] = G[(n_old + a) * ld + n_old + b] * root[n_old + a] * root[n_old + b] + (a == b ? 1.0 : 0.0)
                           - dot(W + a * n_old, W + b * n_old, n_old);
    lapack_potrf(&lower, &columns, S, &columns, &info);
    if (info != 0)
        return -1;
    for (Py_ssize_t a = 0; a < k; a++) {
        for (Py_ssize_t j = 0; j < n_old; j++)
            F[n_old + a + j * n] = W[j + a * n_old];
        for (Py_ssize_t b = 0; b <= a; b++)
            F[n_old + a + (n_old + b) * n] = S[a + b * k];
    }
    return 0;
}

/* newton_kernel's iteration. F (n x n) receives the last factor of I + R G R (column-major lower
 * triangle) and root its R; `old`, when given, is a kept factor of the first n_old rows, carried
 * (bordered) into F as newton_kernel's state does. Returns the steps taken, -1 when a Hessian was
 * not positive definite, -2 when out of memory; *factored tells whether F holds a factor and
 * *n_factorisations counts the Hessians factorised afresh. */
static Py_ssize_t
newton_loop(const double *G, Py_ssize_t ld, const double *s, const double *cost, double *beta, Py_ssize_t n, double tol,
            Py_ssize_t max_iter, double *F, double *root, const double *old, const double *old_root, Py_ssize_t n_old,
            int *factored, Py_ssize_t *n_factorisations)
{
    double *work = malloc((size_t)(12 * n) * sizeof(double));
    if (work == NULL)
        return -2;
    double *cs = work, *m = cs + n, *z = m + n, *v = z + n, *Gv = v + n;
    double *delta = Gv + n, *dm = delta + n, *beta_new = dm + n, *m_new = beta_new + n, *z_new = m_new + n;
    double *tmp = z_new + n;
    Py_ssize_t n_iter = 0;

    for (Py_ssize_t i = 0; i < n; i++)
        cs[i] = cost[i] * s[i];
    matvec(G, ld, cs, tmp, n);
    double g0 = 0.25 * dot(cs, tmp, n);
    matvec(G, ld, beta, m, n);
    double f = objective(beta, m, s, cost, z, n);
    double stop2 = tol * tol * g0, keep_below = 1e-10 * g0;
    int carried = 0;
    *factored = 0;
    if (old != NULL) {
        Py_ssize_t k = n - n_old;
        double *scratch = malloc((size_t)(n_old * k + k * k + 1) * sizeof(double));
        if (scratch == NULL) {
            free(work);
            return -2;
        }
        *factored = carry_factor(G, ld, cost, z, old, old_root, n_old, n, F, root, scratch) == 0;
        carried = 1;
        free(scratch);
    }
    double previous = INFINITY;
    for (;;) {
        for (Py_ssize_t i = 0; i < n; i++)
            v[i] = beta[i] - cs[i] * expit(z[i]);
        matvec(G, ld, v, Gv, n);
        double g2 = dot(v, Gv, n);
        if (g2 <= stop2 || n_iter == max_iter)
            break;
        if (!*factored || (g2 > keep_below && !carried) || g2 > 1e-2 * previous) {
            /* factor the Hessian at this point; close to the optimum the last factor is kept while
             * it still shrinks the gradient 10-fold per step (see newton_kernel) */
            carried = 0;
            for (Py_ssize_t i = 0; i < n; i++) {
                double p = expit(z[i]);
                root[i] = sqrt(cost[i] * p * (1.0 - p));
            }
            /* I + R G R into the column-major lower triangle of F (G is symmetric) */
            for (Py_ssize_t j = 0; j < n; j++) {
                const double *g = G + j * ld;
                double *column = F + j * n;
                for (Py_ssize_t i = j; i < n; i++)
                    column[i] = g[i] * root[j] * root[i];
                column[j] += 1.0;
            }
            char lower = 'L';
            int size = (int)n, info = 0;
            lapack_potrf(&lower, &size, F, &size, &info);
            if (info != 0) {
                *factored = 0;
                n_iter = -1;
                break;
            }
            *factored = 1;
            ++*n_factorisations;
        }
        previous = g2;
        for (Py_ssize_t i = 0; i < n; i++)
            delta[i] = root[i] * Gv[i];
        {
            char lower = 'L';
            int size = (int)n, nrhs = 1, info = 0;
            lapack_potrs(&lower, &size, &nrhs, F, &size, delta, &size, &info);
        }
        for (Py_ssize_t i = 0; i < n; i++)
            delta[i] = root[i] * delta[i] - v[i];
        double slope = dot(Gv, delta, n);
        n_iter++;
        if (-slope <= 1e-13 * (1.0 + fabs(f))) {
            /* within rounding of the optimum: take the full step and stop */
            for (Py_ssize_t i = 0; i < n; i++)
                beta[i] += delta[i];
            break;
        }
        matvec(G, ld, delta, dm, n);
        double step = 1.0, f_new;
        for (Py_ssize_t i = 0; i < n; i++) {
            beta_new[i] = beta[i] + delta[i];
            m_new[i] = m[i] + dm[i];
        }
        for (;;) {
            f_new = objective(beta_new, m_new, s, cost, z_new, n);
            if (f_new <= f + 1e-4 * step * slope || step < 1e-10)
                break;
            step *= 0.5;
            for (Py_ssize_t i = 0; i < n; i++) {
                beta_new[i] = beta[i] + step * delta[i];
                m_new[i] = m[i] + step * dm[i];
            }
        }
        if (f_new > f) /* rounding noise at the optimum */
            break;
        memcpy(beta, beta_new, n * sizeof(double));
        memcpy(m, m_new, n * sizeof(double));
        memcpy(z, z_new, n * sizeof(double));
        f = f_new;
    }
    free(work);
    return n_iter;
}

static PyObject *
newton(PyObject *Py_UNUSED(self), PyObject *args)
{
    PyObject *objects[8];
    double tol;
    Py_ssize_t max_iter;
    if (!PyArg_ParseTuple(args, "OOOOdnOO|OO", &objects[0], &objects[1], &objects[2], &objects[3], &tol, &max_iter,
                          &objects[4], &objects[5], &objects[6], &objects[7]))
        return NULL;
    if (PyTuple_GET_SIZE(args) < 10)
        objects[6] = objects[7] = Py_None;
    static const char *names[8] = {"G", "s", "cost", "beta", "factor", "root", "old_factor", "old_root"};
    Py_buffer views[8];
    int held[8] = {0};
    PyObject *result = NULL;
    for (int k = 0; k < 8; k++) {
        if (objects[k] == Py_None && k >= 6)
            continue;
        if (k == 0) { /* G may be the leading block of a larger C-ordered matrix: rows ld apart */
            if (PyObject_GetBuffer(objects[0], &views[0], PyBUF_STRIDES | PyBUF_FORMAT) != 0)
                goto done;
            held[0] = 1;
            if (kind_of(&views[0]) != 'd' || views[0].ndim != 2 || views[0].strides[1] != 8 || views[0].strides[0] % 8 != 0
                || views[0].shape[0] != views[0].shape[1] || views[0].strides[0] < 8 * views[0].shape[1]) {
                PyErr_SetString(PyExc_TypeError, "newton: G must be a square float64 matrix with contiguous rows");
                goto done;
            }
            continue;
        }
        if (get_array(objects[k], &views[k], names[k], "d", k == 3 || k == 4 || k == 5, NULL) < 0)
            goto done;
        held[k] = 1;
    }
    Py_ssize_t n = views[1].len / 8, n_old = held[7] ? views[7].len / 8 : 0, ld = views[0].strides[0] / 8;
    if (views[0].shape[0] != n || views[2].len != n * 8 || views[3].len != n * 8 || views[4].len != n * n * 8
        || views[5].len != n * 8) {
        PyErr_Format(PyExc_ValueError, "newton: G and factor must be %zd x %zd, and s, cost, beta, root of length %zd",
                     n, n, n);
        goto done;
    }
    if (held[6] != held[7] || n_old > n || (held[6] && views[6].len != n_old * n_old * 8)) {
        PyErr_Format(PyExc_ValueError, "newton: old_factor must be m x m and old_root of length m <= %zd", n);
        goto done;
    }
    Py_ssize_t n_iter = 0, n_factorisations = 0;
    int factored = 0;
    if (n > 0) {
        Py_BEGIN_ALLOW_THREADS
        n_iter = newton_loop(views[0].buf, ld, views[1].buf, views[2].buf, views[3].buf, n, tol, max_iter, views[4].buf,
                             views[5].buf, held[6] ? views[6].buf : NULL, held[7] ? views[7].buf : NULL, n_old,
                             &factored, &n_factorisations);
        Py_END_ALLOW_THREADS
    }
    if (n_iter == -2)
        PyErr_NoMemory();
    else
        result = Py_BuildValue("nOn", n_iter, factored ? Py_True : Py_False, n_factorisations);
done:
    for (int k = 0; k < 8; k++)
        if (held[k])
            PyBuffer_Release(&views[k]);
    return result;
}

/* ---- kernel_column ----------------------------------------------------------------------- */

#define COLUMN_LOOP(INDEX, VALUE)                                                         \
    do {                                                                                  \
        const INDEX *p_ = (const INDEX *)indptr.buf, *j_ = (const INDEX *)indices.buf;    \
        const INDEX *c_ = (const INDEX *)columns.buf;                                     \
        const VALUE *w_ = (const VALUE *)values.buf;                                      \
        const double *x_ = (const double *)data.buf;                                      \
        Py_ssize_t n_columns_ = indptr.len / indptr.itemsize - 1;                         \
        for (Py_ssize_t q = n_values - 1; q >= 0; q--) {                                  \
            Py_ssize_t c = (Py_ssize_t)c_[q];                                             \
            if (c < 0 || c >= n_columns_) { bad = 1; break; }                             \
            Py_ssize_t lo = (Py_ssize_t)p_[c], hi = (Py_ssize_t)p_[c + 1];                \
            if (lo < 0 || hi > n_stored || lo > hi) { bad = 1; break; }                   \
            double w = (double)w_[q];                                                     \
            for (Py_ssize_t t = lo; t < hi; t++) {                                        \
                Py_ssize_t i = (Py_ssize_t)j_[t];                                         \
                if (i < 0 || i >= n_out) { bad = 1; break; }                              \
                out_[i] += x_[t] * w;                                                     \
            }                                                                             \
            if (bad) break;                                                               \
        }                                                                                 \
    } while (0)

static PyObject *
kernel_column(PyObject *Py_UNUSED(self), PyObject *args)
{
    PyObject *objects[6];
    if (!PyArg_ParseTuple(args, "OOOOOO", &objects[0], &objects[1], &objects[2], &objects[3], &objects[4], &objects[5]))
        return NULL;
    static const char *names[6] = {"indptr", "indices", "data", "columns", "values", "out"};
    static const char *kinds[6] = {"iq", "iq", "d", "iq", "df", "d"};
    Py_buffer views[6];
    char kind[6];
    int got = 0;
    PyObject *result = NULL;
    for (; got < 6; got++)
        if (get_array(objects[got], &views[got], names[got], kinds[got], got == 5, &kind[got]) < 0)
            goto done;
    Py_buffer indptr = views[0], indices = views[1], data = views[2], columns = views[3], values = views[4], out = views[5];
    if (kind[1] != kind[0] || kind[3] != kind[0]) {
        PyErr_SetString(PyExc_TypeError, "kernel_column: indptr, indices and columns need one integer dtype");
        goto done;
    }
    Py_ssize_t n_values = values.len / values.itemsize, n_stored = indices.len / indices.itemsize;
    Py_ssize_t n_out = out.len / 8;
    if (columns.len / columns.itemsize != n_values || data.len / 8 != n_stored || indptr.len / indptr.itemsize < 1) {
        PyErr_SetString(PyExc_ValueError, "kernel_column: columns and values, or indices and data, differ in length");
        goto done;
    }
    double *out_ = (double *)out.buf;
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS /* (the buffers are held: another view's column can be computed meanwhile) */
    if (kind[0] == 'i') {
        if (kind[4] == 'f') COLUMN_LOOP(int32_t, float); else COLUMN_LOOP(int32_t, double);
    } else {
        if (kind[4] == 'f') COLUMN_LOOP(int64_t, float); else COLUMN_LOOP(int64_t, double);
    }
    Py_END_ALLOW_THREADS
    if (bad) {
        PyErr_SetString(PyExc_IndexError, "kernel_column: an index is out of range");
        goto done;
    }
    Py_INCREF(Py_None);
    result = Py_None;
done:
    for (int k = 0; k < got; k++)
        PyBuffer_Release(&views[k]);
    return result;
}

/* ---- split_distinct ---------------------------------------------------------------------- */

typedef struct {
    Py_ssize_t start, length; /* the piece's bytes in the text; length 0: an empty slot */
    uint64_t hash;
    int32_t id;
} Slot;

static inline int
is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static inline uint64_t
piece_hash(const unsigned char *p, Py_ssize_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (Py_ssize_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

static int
grow_slots(Slot **slots, size_t *capacity)
{
    size_t bigger = *capacity * 2;
    Slot *fresh = calloc(bigger, sizeof(Slot));
    if (fresh == NULL)
        return -1;
    for (size_t k = 0; k < *capacity; k++) {
        Slot *old = &(*slots)[k];
        if (old->length == 0)
            continue;
        size_t at = old->hash & (bigger - 1);
        while (fresh[at].length != 0)
            at = (at + 1) & (bigger - 1);
        fresh[at] = *old;
    }
    free(*slots);
    *slots = fresh;
    *capacity = bigger;
    return 0;
}

/* The next of text.split()'s pieces from s[*i] on: its start in *start and its length (0 when
 * none is left); *i moves past it. */
static inline Py_ssize_t
next_piece(const unsigned char *s, Py_ssize_t n, Py_ssize_t *i, Py_ssize_t *start)
{
    while (*i < n && is_space(s[*i]))
        ++*i;
    *start = *i;
    while (*i < n && !is_space(s[*i]))
        ++*i;
    return *i - *start;
}

/* Append `id` to the growing array *ids (*used of *room); 0, or -1 with MemoryError set. */
static int
append_id(int32_t **ids, Py_ssize_t *used, Py_ssize_t *room, int32_t id)
{
    if (*used == *room) {
        if (*room > PY_SSIZE_T_MAX / 8) {
            PyErr_NoMemory();
            return -1;
        }
        int32_t *more = realloc(*ids, 2 * *room * sizeof(int32_t));
        if (more == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        *ids = more;
        *room *= 2;
    }
    (*ids)[(*used)++] = id;
    return 0;
}

static PyObject *
split_distinct(PyObject *Py_UNUSED(self), PyObject *args)
{
    Py_buffer text;
    if (!PyArg_ParseTuple(args, "y*", &text))
        return NULL;
    const unsigned char *s = (const unsigned char *)text.buf;
    Py_ssize_t n = text.len;
    PyObject *keys = NULL, *indices = NULL, *result = NULL;
    int32_t *ids = NULL;
    size_t capacity = 1024, used = 0;
    Py_ssize_t n_pieces = 0, room = 1024;
    Slot *slots = calloc(capacity, sizeof(Slot));
    ids = malloc(room * sizeof(int32_t));
    keys = PyList_New(0);
    if (slots == NULL || ids == NULL || keys == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t i = 0, start, length;
    while ((length = next_piece(s, n, &i, &start)) > 0) {
        uint64_t h = piece_hash(s + start, length);
        size_t at = h & (capacity - 1);
        int32_t id = -1;
        while (slots[at].length != 0) {
            Slot *slot = &slots[at];
            if (slot->hash == h && slot->length == length && memcmp(s + slot->start, s + start, length) == 0) {
                id = slot->id;
                break;
            }
            at = (at + 1) & (capacity - 1);
        }
        if (id < 0) {
            if (used >= INT32_MAX) {
                PyErr_SetString(PyExc_OverflowError, "split_distinct: too many distinct pieces");
                goto done;
            }
            id = (int32_t)used;
            PyObject *key = PyBytes_FromStringAndSize((const char *)s + start, length);
            if (key == NULL || PyList_Append(keys, key) != 0) {
                Py_XDECREF(key);
                goto done;
            }
            Py_DECREF(key);
            slots[at].start = start;
            slots[at].length = length;
            slots[at].hash = h;
            slots[at].id = id;
            if (++used * 2 > capacity && grow_slots(&slots, &capacity) != 0) {
                PyErr_NoMemory();
                goto done;
            }
        }
        if (append_id(&ids, &n_pieces, &room, id) != 0)
            goto done;
    }
    indices = PyBytes_FromStringAndSize((const char *)ids, n_pieces * (Py_ssize_t)sizeof(int32_t));
    if (indices != NULL)
        result = PyTuple_Pack(2, keys, indices);
done:
    free(slots);
    free(ids);
    Py_XDECREF(keys);
    Py_XDECREF(indices);
    PyBuffer_Release(&text);
    return result;
}

/* ---- token_table, token_ids ------------------------------------------------------------ */

typedef struct {
    Slot *slots; /* start: offset of the piece's bytes in `bytes` */
    size_t capacity, used;
    char *bytes;
    size_t n_bytes, room;
    int32_t next_id, drop_id;
} TokenTable;

static const char *TOKEN_TABLE = "ldnscreen._kernels.TokenTable";

static void
token_table_free(PyObject *capsule)
{
    TokenTable *table = PyCapsule_GetPointer(capsule, TOKEN_TABLE);
    if (table == NULL)
        return;
    free(table->slots);
    free(table->bytes);
    free(table);
}

/* The slot of `piece` (found, or the empty slot where it belongs). */
static Slot *
token_slot(TokenTable *table, const unsigned char *piece, Py_ssize_t length, uint64_t h)
{
    size_t at = h & (table->capacity - 1);
    for (;;) {
        Slot *slot = &table->slots[at];
        if (slot->length == 0
            || (slot->hash == h && slot->length == length && memcmp(table->bytes + slot->start, piece, length) == 0))
            return slot;
        at = (at + 1) & (table->capacity - 1);
    }
}

/* Add `piece` with `id` (not in the table); 0, or -1 when out of memory. */
static int
token_add(TokenTable *table, const unsigned char *piece, Py_ssize_t length, uint64_t h, int32_t id)
{
    if (table->n_bytes + (size_t)length > table->room) {
        size_t room = table->room * 2 > table->n_bytes + (size_t)length ? table->room * 2 : table->n_bytes + (size_t)length;
        char *more = realloc(table->bytes, room);
        if (more == NULL)
            return -1;
        table->bytes = more;
        table->room = room;
    }
    Slot *slot = token_slot(table, piece, length, h);
    memcpy(table->bytes + table->n_bytes, piece, length);
    slot->start = (Py_ssize_t)table->n_bytes;
    slot->length = length;
    slot->hash = h;
    slot->id = id;
    table->n_bytes += (size_t)length;
    if (++table->used * 2 > table->capacity && grow_slots(&table->slots, &table->capacity) != 0)
        return -1;
    return 0;
}

static PyObject *
token_table(PyObject *Py_UNUSED(self), PyObject *args)
{
    PyObject *known, *ids;
    int drop_id;
    if (!PyArg_ParseTuple(args, "O!O!i", &PyList_Type, &known, &PyList_Type, &ids, &drop_id))
        return NULL;
    if (PyList_GET_SIZE(known) != PyList_GET_SIZE(ids)) {
        PyErr_SetString(PyExc_ValueError, "token_table: known and ids differ in length");
        return NULL;
    }
    TokenTable *table = calloc(1, sizeof(TokenTable));
    if (table == NULL)
        return PyErr_NoMemory();
    table->capacity = 1024;
    table->room = 4096;
    table->drop_id = drop_id;
    table->slots = calloc(table->capacity, sizeof(Slot));
    table->bytes = malloc(table->room);
    PyObject *capsule = NULL;
    if (table->slots == NULL || table->bytes == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    for (Py_ssize_t k = 0; k < PyList_GET_SIZE(known); k++) {
        PyObject *piece = PyList_GET_ITEM(known, k);
        long id = PyLong_AsLong(PyList_GET_ITEM(ids, k));
        if (id == -1 && PyErr_Occurred())
            goto fail;
        if (!PyBytes_Check(piece) || PyBytes_GET_SIZE(piece) == 0 || id >= 0 || id < INT32_MIN) {
            PyErr_SetString(PyExc_ValueError, "token_table: known pieces must be non-empty bytes with negative int32 ids");
            goto fail;
        }
        const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(piece);
        Py_ssize_t length = PyBytes_GET_SIZE(piece);
        uint64_t h = piece_hash(p, length);
        if (token_slot(table, p, length, h)->length == 0 && token_add(table, p, length, h, (int32_t)id) != 0) {
            PyErr_NoMemory();
            goto fail;
        }
    }
    capsule = PyCapsule_New(table, TOKEN_TABLE, token_table_free);
    if (capsule != NULL)
        return capsule;
fail:
    free(table->slots);
    free(table->bytes);
    free(table);
    return NULL;
}

static PyObject *
token_ids(PyObject *Py_UNUSED(self), PyObject *args)
{
    PyObject *capsule;
    Py_buffer text;
    if (!PyArg_ParseTuple(args, "Oy*", &capsule, &text))
        return NULL;
    PyObject *new = NULL, *indices = NULL, *result = NULL;
    int32_t *ids = NULL;
    TokenTable *table = PyCapsule_GetPointer(capsule, TOKEN_TABLE);
    if (table == NULL)
        goto done;
    const unsigned char *s = (const unsigned char *)text.buf;
    Py_ssize_t n = text.len, n_pieces = 0, room = 1024;
    ids = malloc(room * sizeof(int32_t));
    new = PyList_New(0);
    if (ids == NULL || new == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t i = 0, start, length;
    while ((length = next_piece(s, n, &i, &start)) > 0) {
        uint64_t h = piece_hash(s + start, length);
        Slot *slot = token_slot(table, s + start, length, h);
        int32_t id;
        if (slot->length != 0) {
            id = slot->id;
        } else {
            if (length < 2) {
                id = table->drop_id;
            } else {
                if (table->next_id == INT32_MAX) {
                    PyErr_SetString(PyExc_OverflowError, "token_ids: too many distinct tokens");
                    goto done;
                }
                id = table->next_id++;
                PyObject *piece = PyBytes_FromStringAndSize((const char *)s + start, length);
                if (piece == NULL || PyList_Append(new, piece) != 0) {
                    Py_XDECREF(piece);
                    goto done;
                }
                Py_DECREF(piece);
            }
            if (token_add(table, s + start, length, h, id) != 0) {
                PyErr_NoMemory();
                goto done;
            }
        }
        if (append_id(&ids, &n_pieces, &room, id) != 0)
            goto done;
    }
    indices = PyBytes_FromStringAndSize((const char *)ids, n_pieces * (Py_ssize_t)sizeof(int32_t));
    if (indices != NULL)
        result = PyTuple_Pack(2, indices, new);
done:
    free(ids);
    Py_XDECREF(new);
    Py_XDECREF(indices);
    PyBuffer_Release(&text);
    return result;
}

/* ---- group_grams ------------------------------------------------------------------------- */

typedef struct {
    uint32_t prefix, last;
    int32_t doc;
} Occurrence;

/* c / V and c % V for 0 <= c: by a floating-point reciprocal, corrected (exact), where c and V
 * allow it; a 64-bit division costs several times more, at two per occurrence. */
static inline void
split_code(int64_t c, int64_t V, double inverse, int64_t *q, int64_t *r)
{
    if (c < ((int64_t)1 << 52) && V > 1) {
        int64_t qq = (int64_t)((double)c * inverse), rr = c - qq * V;
        while (rr < 0) { qq--; rr += V; }
        while (rr >= V) { qq++; rr -= V; }
        *q = qq;
        *r = rr;
    } else {
        *q = c / V;
        *r = c % V;
    }
}

/* Scratch of `size` bytes; from 4 MiB, 2 MiB-aligned and marked for transparent huge pages where
 * the system has them (as numpy does for its arrays): the counting sorts' scattered writes then
 * miss the TLB far less often. Freed with free(). */
static void *
scratch(size_t size)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (size >= ((size_t)4 << 20)) {
        void *p = NULL;
        size_t huge = (size_t)2 << 20, rounded = (size + huge - 1) / huge * huge;
        if (posix_memalign(&p, huge, rounded) != 0)
            return NULL;
        madvise(p, rounded, MADV_HUGEPAGE); /* advice only: its failure changes nothing */
        return p;
    }
#endif
    return malloc(size);
}

static PyObject *
group_grams(PyObject *Py_UNUSED(self), PyObject *args)
{
    PyObject *objects[3];
    long long n_tokens;
    if (!PyArg_ParseTuple(args, "OOLO", &objects[0], &objects[1], &n_tokens, &objects[2]))
        return NULL;
    static const char *names[3] = {"codes", "docs", "count"};
    static const char *kinds[3] = {"q", "i", "i"};
    Py_buffer views[3];
    int got = 0;
    PyObject *result = NULL;
    Occurrence *by_last = NULL;
    Py_ssize_t *start = NULL;
    for (; got < 3; got++)
        if (get_array(objects[got], &views[got], names[got], kinds[got], 1, NULL) < 0)
            goto done;
    Py_ssize_t n = views[0].len / 8;
    if (views[1].len / 4 != n || views[2].len / 4 < n) {
        PyErr_SetString(PyExc_ValueError, "group_grams: codes and docs differ in length, or count is too short");
        goto done;
    }
    if (n_tokens < 1 || n_tokens > UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "group_grams: n_tokens must be from 1 to 2**32 - 1");
        goto done;
    }
    int64_t *codes = views[0].buf;
    int32_t *docs = views[1].buf, *count = views[2].buf;
    int64_t V = (int64_t)n_tokens, largest = 0;
    Py_ssize_t n_entries = 0;
    int bad = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (codes[i] < 0 || (i > 0 && docs[i] < docs[i - 1])) { bad = 1; break; }
        if (codes[i] > largest) largest = codes[i];
    }
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "group_grams: a code is negative or the documents are not ascending");
        goto done;
    }
    int64_t n_prefixes = largest / V + 1, bound = 4 * (int64_t)n + (1 << 20);
    if (n_prefixes > UINT32_MAX || n_prefixes > bound + 4 * V || V > bound) {
        /* more buckets (prefixes, or tokens) than is worth it for so few codes: the caller sorts */
        result = PyLong_FromLong(-1);
        goto done;
    }
    Py_ssize_t n_buckets = n_prefixes > V ? (Py_ssize_t)n_prefixes : (Py_ssize_t)V;
    start = calloc((size_t)n_buckets + 1, sizeof(Py_ssize_t));
    by_last = scratch((size_t)(n ? n : 1) * sizeof(Occurrence));
    if (start == NULL || by_last == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    /* (the GIL is kept: the checks above hold while codes and docs are read again below) */
    double inverse = 1.0 / (double)V;
    int64_t q, r;
    /* stably by last token (a counting sort) into the scratch ... */
    for (Py_ssize_t i = 0; i < n; i++) {
        split_code(codes[i], V, inverse, &q, &r);
        start[r + 1]++;
    }
    for (Py_ssize_t b = 0; b < V; b++)
        start[b + 1] += start[b];
    for (Py_ssize_t i = 0; i < n; i++) {
        split_code(codes[i], V, inverse, &q, &r);
        Occurrence *o = &by_last[start[r]++];
        o->prefix = (uint32_t)q;
        o->last = (uint32_t)r;
        o->doc = docs[i];
    }
    /* ... then stably by prefix back into codes and docs: by code, within a code in document order */
    memset(start, 0, ((size_t)n_buckets + 1) * sizeof(Py_ssize_t));
    for (Py_ssize_t i = 0; i < n; i++)
        start[by_last[i].prefix + 1]++;
    for (Py_ssize_t b = 0; b < n_prefixes; b++)
        start[b + 1] += start[b];
    for (Py_ssize_t k = 0; k < n; k++) {
        Py_ssize_t at = start[by_last[k].prefix]++;
        codes[at] = (int64_t)by_last[k].prefix * V + by_last[k].last;
        docs[at] = by_last[k].doc;
    }
    /* one entry per (code, document), counting its occurrences, written over the sorted ones */
    for (Py_ssize_t k = 0; k < n; k++) {
        if (n_entries > 0 && codes[n_entries - 1] == codes[k] && docs[n_entries - 1] == docs[k]) {
            count[n_entries - 1]++;
        } else {
            codes[n_entries] = codes[k];
            docs[n_entries] = docs[k];
            count[n_entries] = 1;
            n_entries++;
        }
    }
    result = PyLong_FromSsize_t(n_entries);
done:
    free(start);
    free(by_last);
    for (int k = 0; k < got; k++)
        PyBuffer_Release(&views[k]);
    return result;
}

static PyMethodDef methods[] = {
    {"newton", newton, METH_VARARGS,
     "newton(G, s, cost, beta, tol, max_iter, factor, root[, old_factor, old_root]) -> (n_iter, factored, "
     "n_factorisations): newton_kernel's iteration; beta is updated in place, factor (n x n) and root (n) "
     "receive the last Hessian factor (column-major) and weights; old_factor and old_root are a kept factor "
     "of the leading rows to carry; n_iter -1 when a Hessian is not positive definite."},
    {"kernel_column", kernel_column, METH_VARARGS,
     "kernel_column(indptr, indices, data, columns, values, out): out += X[:, columns] @ values, "
     "X given as the CSR arrays of its transpose, the columns taken last to first."},
    {"group_grams", group_grams, METH_VARARGS,
     "group_grams(codes, docs, n_tokens, count) -> n_entries: the (n-gram, document, count) entries of n-gram "
     "occurrences (int64 codes prefix * n_tokens + last, int32 documents ascending), sorted by code then "
     "document, written over codes and docs (and into count, int32); -1 where there would be many more buckets than codes."},
    {"token_table", token_table, METH_VARARGS,
     "token_table(known, ids, drop_id) -> table: a growing token -> id table in which the pieces `known` "
     "(bytes) have the negative `ids`; a new piece of fewer than two bytes gets drop_id."},
    {"token_ids", token_ids, METH_VARARGS,
     "token_ids(table, text) -> (ids, new): the id of each of text.split()'s pieces (native int32, as bytes), "
     "new pieces numbered on from the table's last token id, and the pieces that got new token ids (bytes)."},
    {"split_distinct", split_distinct, METH_VARARGS,
     "split_distinct(text) -> (pieces, indices): text.split()'s distinct pieces in order of first "
     "appearance (bytes), and for each piece its number among them (native int32, as bytes)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_kernels",
    "Compiled inner loops of ldnscreen.logistic and ldnscreen.features (see ldnscreen/_kernels.c).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__kernels(void)
{
    if ((lapack_potrf = (potrf_t)exported("scipy.linalg.cython_lapack", "dpotrf")) == NULL
        || (lapack_potrs = (potrs_t)exported("scipy.linalg.cython_lapack", "dpotrs")) == NULL
        || (lapack_trtrs = (trtrs_t)exported("scipy.linalg.cython_lapack", "dtrtrs")) == NULL
        || (blas_dot = (dot_t)exported("scipy.linalg.cython_blas", "ddot")) == NULL
        || (blas_gemv = (gemv_t)exported("scipy.linalg.cython_blas", "dgemv")) == NULL)
        return NULL;
    return PyModule_Create(&module);
}
