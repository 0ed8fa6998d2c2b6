/* The least a per-gene sum over a CSR matrix costs, in C: see scatter_floor.py.
 *
 * Reads data (float32), indices (int32) and indptr (int64) from the files given,
 * then times REPS passes (after one warm-up) of:
 *   stream:  one parallel pass summing data and indices (vectorised reduction);
 *   scatter: thread t adds rows t, t + T, ... into its own float64 record
 *            [sum, sum of squares] per gene (fast-array-utils' partition, what
 *            hvg.mean_var_csr computes), T = the OpenMP thread count.
 * Prints "stream_ms scatter_ms" medians.
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REPS 9

static void *load(const char *path, size_t *bytes) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(1); }
    fseek(f, 0, SEEK_END);
    *bytes = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc(*bytes);
    if (fread(buf, 1, *bytes, f) != *bytes) { perror(path); exit(1); }
    fclose(f);
    return buf;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s DATA INDICES INDPTR N_COLS\n", argv[0]);
        return 2;
    }
    size_t nd, ni, np;
    const float *data = load(argv[1], &nd);
    const int *indices = load(argv[2], &ni);
    const long *indptr = load(argv[3], &np);
    const long nnz = (long)(nd / sizeof(float)), n_rows = (long)(np / sizeof(long)) - 1;
    const long n_cols = atol(argv[4]);
    const int n_threads = omp_get_max_threads();
    const size_t acc_bytes = sizeof(double) * 2 * (size_t)n_cols * n_threads;
    double *acc = aligned_alloc(64, (acc_bytes + 63) / 64 * 64);
    double t_stream[REPS], t_scatter[REPS];
    volatile double sink = 0.0;  /* reads every result: no pass is optimised away */
    for (int rep = -1; rep < REPS; rep++) {
        double s = 0.0, t0 = now();
#pragma omp parallel for simd reduction(+ : s)
        for (long p = 0; p < nnz; p++) s += data[p] + indices[p];
        double t1 = now();
        memset(acc, 0, acc_bytes);
        double t2 = now();
#pragma omp parallel
        {
            const int t = omp_get_thread_num();
            double *rec = acc + (size_t)t * 2 * n_cols;
            for (long r = t; r < n_rows; r += n_threads)
                for (long p = indptr[r]; p < indptr[r + 1]; p++) {
                    const float v = data[p];
                    const int c = indices[p];
                    rec[2 * c] += v;
                    rec[2 * c + 1] += (double)(v * v);
                }
        }
        double t3 = now();
        sink += s;
        for (size_t k = 0; k < acc_bytes / sizeof(double); k++) sink += acc[k];  /* untimed */
        if (rep >= 0) {
            t_stream[rep] = t1 - t0;
            t_scatter[rep] = t3 - t2;
        }
    }
    qsort(t_stream, REPS, sizeof(double), by_value);
    qsort(t_scatter, REPS, sizeof(double), by_value);
    printf("%.3f %.3f\n", 1e3 * t_stream[REPS / 2], 1e3 * t_scatter[REPS / 2]);
    free(acc);
    return 0;
}
