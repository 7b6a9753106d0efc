/*
 * edgekit_monitor_*: the device runtime's input monitor, in C (see edgekit_model.h).
 *
 * Why C: a single row of a C model is a few hundred nanoseconds, and every NumPy or Python step of
 * the Python monitor costs about as much. Here one call times the prediction, predicts, checks the
 * outputs are finite, counts the row's violations and adds the row, its outputs and the latency to
 * the histograms, counting exactly what edgekit_runtime/inputs/monitor.py and telemetry.py count
 * (the runtime drains these counters into that monitor's at report time).
 *
 * Thread safety: one mutex per monitor, taken once per call. A single row counts straight into the
 * shared counters under it (an uncontended lock is ~20 ns; 30-odd atomic increments would cost
 * more); a batch counts into counters of its own call and adds them under the lock once.
 * Linux builds only, like edgekit_threads.c; elsewhere the file is empty.
 */
#if defined(__linux__)
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "edgekit_model.h"

/* Four features per vector op: SSE2, NEON and armhf NEON all have 4-lane float compares; GCC
   lowers the vector extension to scalar code where there is none. */
typedef float floats __attribute__((vector_size(16)));
typedef int ints __attribute__((vector_size(16)));
#define LANES 4u

const unsigned edgekit_monitor_version = EDGEKIT_MONITOR_VERSION;

struct coded { /* a feature whose histogram counts category codes */
    unsigned feature, categories;
    long long at, missing_at;
};

struct edgekit_monitor {
    pthread_mutex_t lock;
    unsigned features, blocks, ranks;
    floats *low, *high;  /* [blocks]; padding lanes: -inf, +inf */
    floats *edges;       /* [ranks][blocks]: rounded-up float32 edges, +inf padding */
    unsigned char *missing_seen, *codes;    /* [features]; codes: a category column (whole numbers only) */
    unsigned *code_columns, code_count;     /* the category columns' indices */
    long long *bin_at, *missing_at;         /* [features] numeric histograms; bin_at < 0: none */
    unsigned *last_bin;                     /* [features] the feature's edges: its bins - 1 */
    struct coded *coded;
    unsigned coded_count;
    int binned;                             /* the features' histograms are counted (a baseline exists) */
    long long class_at, score_at, latency_at;
    int score_column;
    unsigned score_edges, latency_buckets;
    double *score_edge_values, *latency_bounds;
    size_t counters;
    long long *count;                       /* [counters], under lock */
};

static void *copy(const void *source, size_t bytes) {
    void *target = malloc(bytes ? bytes : 1);
    if (target && bytes) memcpy(target, source, bytes);
    return target;
}

void edgekit_monitor_free(edgekit_monitor *m) {
    if (!m) return;
    pthread_mutex_destroy(&m->lock);
    free(m->low), free(m->high), free(m->edges), free(m->missing_seen), free(m->codes), free(m->code_columns);
    free(m->bin_at), free(m->missing_at), free(m->last_bin), free(m->coded);
    free(m->score_edge_values), free(m->latency_bounds), free(m->count);
    free(m);
}

edgekit_monitor *edgekit_monitor_new(const struct edgekit_monitor_layout *layout) {
    const unsigned F = layout->features;
    if (F != edgekit_num_features) return NULL;
    edgekit_monitor *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    if (pthread_mutex_init(&m->lock, NULL) != 0) {
        free(m);
        return NULL;
    }
    m->features = F;
    m->blocks = (F + LANES - 1) / LANES;
    m->binned = layout->binned != 0;
    m->ranks = m->binned ? layout->edge_ranks : 0;
    m->low = malloc(m->blocks * sizeof(floats));
    m->high = malloc(m->blocks * sizeof(floats));
    m->edges = malloc((m->ranks * m->blocks + 1) * sizeof(floats));
    m->missing_seen = copy(layout->missing_seen, F);
    m->codes = copy(layout->codes, F);
    m->code_columns = malloc(F * sizeof(unsigned) + 1);
    m->bin_at = malloc(F * sizeof(long long) + 1);
    m->missing_at = malloc(F * sizeof(long long) + 1);
    m->last_bin = malloc(F * sizeof(unsigned) + 1);
    m->coded = malloc(F * sizeof(struct coded) + 1);
    m->score_edges = layout->score_at >= 0 ? layout->score_edges : 0;
    m->latency_buckets = layout->latency_at >= 0 ? layout->latency_buckets : 0;
    m->score_edge_values = copy(layout->score_edge_values, m->score_edges * sizeof(double));
    m->latency_bounds = copy(layout->latency_bounds_us, m->latency_buckets * sizeof(double));
    m->counters = layout->counters;
    m->count = calloc(layout->counters ? layout->counters : 1, sizeof(long long));
    if (!m->low || !m->high || !m->edges || !m->missing_seen || !m->codes || !m->code_columns || !m->bin_at || !m->missing_at ||
        !m->last_bin || !m->coded || !m->score_edge_values || !m->latency_bounds || !m->count) {
        edgekit_monitor_free(m);
        return NULL;
    }
    for (unsigned i = 0; i < m->blocks * LANES; ++i) {
        const int real = i < F;
        m->low[i / LANES][i % LANES] = real ? layout->low[i] : -INFINITY;
        m->high[i / LANES][i % LANES] = real ? layout->high[i] : INFINITY;
        for (unsigned r = 0; r < m->ranks; ++r)
            m->edges[r * m->blocks + i / LANES][i % LANES] = real ? layout->edges[(size_t)r * F + i] : INFINITY;
    }
    for (unsigned f = 0; f < F; ++f) {
        if (layout->codes[f]) m->code_columns[m->code_count++] = f;
        const unsigned char kind = m->binned ? layout->histogram_kind[f] : EDGEKIT_HISTOGRAM_NONE;
        m->bin_at[f] = kind == EDGEKIT_HISTOGRAM_EDGES ? layout->bin_at[f] : -1;
        m->missing_at[f] = kind == EDGEKIT_HISTOGRAM_EDGES ? layout->missing_at[f] : -1;
        m->last_bin[f] = kind == EDGEKIT_HISTOGRAM_EDGES && layout->bins[f] ? layout->bins[f] - 1 : 0;
        if (kind == EDGEKIT_HISTOGRAM_CODES)
            m->coded[m->coded_count++] = (struct coded){f, layout->bins[f], layout->bin_at[f], layout->missing_at[f]};
    }
    m->class_at = layout->class_at;
    m->score_at = layout->score_at;
    m->score_column = layout->score_column;
    m->latency_at = layout->latency_at;
    return m;
}

static int whole(float value) { return value == floorf(value); }

/* The per-feature counts of a row that broke a rule, exactly as the Python monitor's full path:
   an unknown category (the encoder's mark, or a category column holding no whole number) is not
   also a missing value. Returns whether the row has any violation. */
static int count_violations(const edgekit_monitor *m, const float *x, const unsigned char *unknown, long long *c) {
    const unsigned F = m->features;
    long long *missing = c + EDGEKIT_MONITOR_VIOLATIONS, *below = missing + F, *above = below + F, *unknowns = above + F;
    int flagged = 0;
    for (unsigned f = 0; f < F; ++f) {
        const float v = x[f];
        const float low = m->low[f / LANES][f % LANES], high = m->high[f / LANES][f % LANES];
        const int other = (unknown && unknown[f]) || (m->codes[f] && !isnan(v) && !whole(v));
        const int miss = isnan(v) && !m->missing_seen[f] && !other, under = v < low, over = v > high;
        missing[f] += miss, below[f] += under, above[f] += over, unknowns[f] += other;
        flagged |= miss | under | over | other;
    }
    return flagged;
}

static unsigned score_bin(const edgekit_monitor *m, float score) {
    if (isnan(score)) return m->score_edges; /* NumPy's searchsorted puts NaN after every edge */
    unsigned bin = 0;
    for (unsigned e = 0; e < m->score_edges; ++e) bin += (double)score >= m->score_edge_values[e];
    return bin;
}

/* One row: its violations, its histograms and its outputs' (not the latency: one per call). */
static void count_row(const edgekit_monitor *m, const float *x, const unsigned char *unknown, const float *out, long long *c) {
    const unsigned F = m->features;
    ints outside = {0, 0, 0, 0};
    for (unsigned b = 0; b < m->blocks; ++b) {
        floats v = {0, 0, 0, 0};
        memcpy(&v, x + b * LANES, (b + 1 < m->blocks || F % LANES == 0 ? LANES : F % LANES) * sizeof(float));
        outside |= ~((v >= m->low[b]) & (v <= m->high[b])); /* NaN is neither */
        if (!m->binned) continue;
        ints bin = {0, 0, 0, 0};
        for (unsigned r = 0; r < m->ranks; ++r) bin -= v >= m->edges[r * m->blocks + b]; /* count(edges <= x) */
        for (unsigned lane = 0; lane < LANES && b * LANES + lane < F; ++lane) {
            const unsigned f = b * LANES + lane;
            if (m->bin_at[f] < 0) continue;
            if (isnan(v[lane])) {
                ++c[m->missing_at[f]];
            } else {
                const unsigned counted = (unsigned)bin[lane];
                ++c[m->bin_at[f] + (counted < m->last_bin[f] ? counted : m->last_bin[f])];  /* +inf passes the padding too */
            }
        }
    }
    int suspect = outside[0] | outside[1] | outside[2] | outside[3];
    for (unsigned k = 0; k < m->code_count && !suspect; ++k) suspect = !whole(x[m->code_columns[k]]);
    for (unsigned f = 0; unknown && f < F && !suspect; ++f) suspect = unknown[f];
    if (suspect) c[EDGEKIT_MONITOR_FLAGGED_ROWS] += count_violations(m, x, unknown, c);
    ++c[EDGEKIT_MONITOR_ROWS];
    if (!m->binned) return;
    ++c[EDGEKIT_MONITOR_HISTOGRAM_ROWS];
    for (unsigned k = 0; k < m->coded_count; ++k) {
        const struct coded *coded = &m->coded[k];
        const float v = x[coded->feature];
        if (isnan(v)) ++c[coded->missing_at];
        else if (v >= 0 && v < (float)coded->categories && whole(v)) ++c[coded->at + (long long)v];
    }
    const unsigned outputs = edgekit_num_outputs;
    if (m->class_at >= 0) { /* argmax as NumPy's: the first largest, or the first NaN */
        unsigned best = 0;
        for (unsigned k = 0; k < outputs; ++k) {
            if (isnan(out[k])) {
                best = k;
                break;
            }
            if (out[k] > out[best]) best = k;
        }
        ++c[m->class_at + best];
    }
    if (m->score_at >= 0) {
        if (m->score_column >= 0) {
            ++c[m->score_at + score_bin(m, out[m->score_column])];
        } else {
            for (unsigned k = 0; k < outputs; ++k) ++c[m->score_at + score_bin(m, out[k])];
        }
    }
}

static void count_latency(const edgekit_monitor *m, const struct timespec *start, const struct timespec *end, long long *c) {
    if (m->latency_at < 0) return;
    const double micros = ((double)(end->tv_sec - start->tv_sec) * 1e9 + (double)(end->tv_nsec - start->tv_nsec)) / 1000.0;
    unsigned low = 0, high = m->latency_buckets; /* bisect_left: the first bound >= micros */
    while (low < high) {
        const unsigned middle = (low + high) / 2;
        if (m->latency_bounds[middle] < micros) low = middle + 1;
        else high = middle;
    }
    ++c[m->latency_at + low];
}

static int finite_outputs(const float *out) {
    for (unsigned k = 0; k < edgekit_num_outputs; ++k) {
        if (!isfinite(out[k])) return 0;
    }
    return 1;
}

int edgekit_monitor_predict(edgekit_monitor *m, const float *row, float *out) {
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    edgekit_predict(row, out);
    clock_gettime(CLOCK_MONOTONIC, &end);
    pthread_mutex_lock(&m->lock);
    count_row(m, row, NULL, out, m->count);
    count_latency(m, &start, &end, m->count);
    pthread_mutex_unlock(&m->lock);
    return !finite_outputs(out);
}

size_t edgekit_monitor_predict_batch(edgekit_monitor *m, const float *rows, size_t n, float *out,
                                     const unsigned char *unknown, unsigned threads) {
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    if (threads > 1) edgekit_predict_batch_threads(rows, n, out, threads);
    else edgekit_predict_batch(rows, n, out);
    clock_gettime(CLOCK_MONOTONIC, &end);
    /* The call's own counters, added under the lock once; without memory for them, every row is
       counted under the lock instead: slower for other threads, never a row uncounted. */
    long long *own = calloc(m->counters ? m->counters : 1, sizeof(long long));
    long long *c = own ? own : m->count;
    if (!own) pthread_mutex_lock(&m->lock);
    size_t bad = 0;
    const unsigned F = m->features, outputs = edgekit_num_outputs;
    for (size_t i = 0; i < n; ++i) {
        count_row(m, rows + i * F, unknown ? unknown + i * F : NULL, out + i * outputs, c);
        bad += !finite_outputs(out + i * outputs);
    }
    if (own) pthread_mutex_lock(&m->lock);
    count_latency(m, &start, &end, m->count);
    for (size_t k = 0; own && k < m->counters; ++k) m->count[k] += own[k];
    pthread_mutex_unlock(&m->lock);
    free(own);
    return bad;
}

void edgekit_monitor_drain(edgekit_monitor *m, long long *into) {
    pthread_mutex_lock(&m->lock);
    for (size_t k = 0; k < m->counters; ++k) into[k] += m->count[k];
    memset(m->count, 0, m->counters * sizeof(long long));
    pthread_mutex_unlock(&m->lock);
}
#else
typedef int edgekit_monitor_needs_linux; /* ISO C wants a declaration in every translation unit */
#endif
