/*
 * edgekit_monitor_*: the device runtime's input monitor, in C (see edgekit_model.h).
 *
 * Why C: a single row of a C model is a few hundred nanoseconds, and every NumPy or Python step of
 * the Python monitor costs about as much. Here one call times the prediction, predicts, checks the
 * outputs are finite, counts the row's violations and adds the row, its outputs and the latency to
 * the histograms (a large batch: a systematic sample of its rows, every row's violations), counting
 * exactly what edgekit_runtime/inputs/monitor.py and telemetry.py count (the runtime drains these
 * counters into that monitor's at report time).
 *
 * A single row is held, not counted: the call copies the row, its outputs and its latency into
 * the monitor, and the call that fills it (HELD_ROWS rows, fewer for wide rows) counts them all
 * with the batch code (column-wise bins, one range test per group of rows), so a row costs a copy
 * plus its share of a batch pass. edgekit_monitor_drain counts what is held first: every report stays exact.
 *
 * Thread safety: one mutex per monitor, taken once per call. A batch of up to OWN_ABOVE rows counts
 * straight into the shared counters when the lock is free (an uncontended lock is ~20 ns); a larger
 * batch, or one that finds the lock taken, counts into counters of its own call and adds them
 * under the lock once.
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

/* Eight features per vector op: one AVX2 instruction (x86-64 builds also get an AVX2 clone of the
   counting loops, picked at load time), two on SSE2 and NEON; GCC lowers the vector extension to
   what the target has. */
typedef float floats __attribute__((vector_size(32)));
typedef int ints __attribute__((vector_size(32)));
#define LANES 8u
/* Batches bin column-wise: per block of features, count(x >= edge) over the rows for every edge
   rank, the counters in registers, then each bin is a difference of two counts (no increment per
   row and feature). That needs the ranks known at compile time: decile baselines have at most 9
   edges; wider ones bin row by row. CHUNK rows keep the int32 counts from overflowing. */
#define COLUMN_RANKS 9u
#define CHUNK (1u << 24)
/* The range test of a batch streams its rows as one array of floats, LANES at a time, against
   bounds repeated over `period` floats (the least common multiple of the row and LANES), so no
   lane idles at a row's end and short rows need no copy. Bounds past PERIOD_MAX floats (a row of
   an odd number of features over 256) test row by row instead. (Wider vectors do not pay: GCC 12
   splits 16-lane comparisons of the vector extension into scalar ones, even for AVX-512.) */
#define PERIOD_MAX 2048u
#if defined(__x86_64__)
#define CLONED __attribute__((target_clones("avx2", "default")))
#else
#define CLONED
#endif
#define INLINE static inline __attribute__((always_inline)) /* into each clone of count_rows, for its target */
/* Rows whose range tests are AND-ed together before one reduction (at least; a whole number of
   periods): most groups break no rule, and only a group that may is tested row by row. */
#define GROUP 16u
/* Single rows held before they are counted: at most HELD_ROWS, and at most HELD_FLOATS floats of
   rows and outputs, at least 16 rows (a 1 000-feature model holds 64 KB, not 512). */
#define HELD_ROWS 128u
#define HELD_FLOATS 16384u
/* A batch of more rows than this counts into its own counters, so other threads never wait for it. */
#define OWN_ABOVE 4096u

const unsigned edgekit_monitor_version = EDGEKIT_MONITOR_VERSION;

struct coded { /* a feature whose histogram counts category codes */
    unsigned feature, categories;
    long long at, missing_at;
};

struct edgekit_monitor {
    pthread_mutex_t lock;
    /* A row is read as blocks of LANES features, block b from feature first[b]: the last block
       overlaps the one before it rather than reading past the row (a vector put together from
       scalars would stall on store forwarding); rows of fewer than LANES features are copied. */
    unsigned features, blocks, ranks, *first;
    floats *low, *high;  /* [blocks], the features of each block; padding lanes: -inf, +inf */
    floats *edges;       /* [ranks][blocks]: rounded-up float32 edges, +inf padding */
    float *low_of, *high_of;                /* [features] */
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
    unsigned held, held_capacity;           /* single rows held, under lock: */
    float *held_rows, *held_out;            /* [held_capacity][features], [held_capacity][outputs] */
    double *held_micros;                    /* [held_capacity] each call's prediction time */
    unsigned period, group_rows;            /* period: 0, or floats of the repeated bounds; group_rows: a whole number of periods */
    floats *period_low, *period_high;       /* [period / LANES] */
};

static void *aligned(size_t alignment, size_t bytes) { /* malloc aligns to 16 bytes only */
    void *memory = NULL;
    return posix_memalign(&memory, alignment, bytes ? bytes : alignment) == 0 ? memory : NULL;
}

static floats *vectors(size_t count) { return aligned(sizeof(floats), count * sizeof(floats)); }

static void *copy(const void *source, size_t bytes) {
    void *target = malloc(bytes ? bytes : 1);
    if (target && bytes) memcpy(target, source, bytes);
    return target;
}

void edgekit_monitor_free(edgekit_monitor *m) {
    if (!m) return;
    pthread_mutex_destroy(&m->lock);
    free(m->first), free(m->low), free(m->high), free(m->low_of), free(m->high_of), free(m->edges), free(m->missing_seen), free(m->codes), free(m->code_columns);
    free(m->bin_at), free(m->missing_at), free(m->last_bin), free(m->coded);
    free(m->score_edge_values), free(m->latency_bounds), free(m->count);
    free(m->held_rows), free(m->held_out), free(m->held_micros), free(m->period_low), free(m->period_high);
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
    const unsigned ranks = m->ranks > COLUMN_RANKS ? m->ranks : COLUMN_RANKS; /* padded: the column kernel reads 9 */
    m->first = malloc(m->blocks * sizeof(unsigned));
    m->low = vectors(m->blocks);
    m->high = vectors(m->blocks);
    m->edges = vectors(ranks * m->blocks);
    m->low_of = copy(layout->low, F * sizeof(float));
    m->high_of = copy(layout->high, F * sizeof(float));
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
    const unsigned width = F + edgekit_num_outputs, fits = HELD_FLOATS / (width ? width : 1);
    m->held_capacity = fits < 16u ? 16u : fits > HELD_ROWS ? HELD_ROWS : fits;
    m->held_rows = malloc((size_t)m->held_capacity * F * sizeof(float) + 1);
    m->held_out = malloc((size_t)m->held_capacity * edgekit_num_outputs * sizeof(float) + 1);
    m->held_micros = malloc(m->held_capacity * sizeof(double));
    unsigned common = F, other = LANES; /* gcd(F, LANES) */
    while (other) {
        const unsigned rest = common % other;
        common = other, other = rest;
    }
    const unsigned period = F / common * LANES;
    m->period = period <= PERIOD_MAX ? period : 0;
    const unsigned period_rows = m->period ? period / F : 1;
    m->group_rows = (GROUP + period_rows - 1) / period_rows * period_rows;
    m->period_low = vectors(m->period / LANES);
    m->period_high = vectors(m->period / LANES);
    for (unsigned k = 0; k < m->period && m->period_low && m->period_high; ++k) {
        m->period_low[k / LANES][k % LANES] = layout->low[k % F];
        m->period_high[k / LANES][k % LANES] = layout->high[k % F];
    }
    if (!m->held_rows || !m->held_out || !m->held_micros || !m->period_low || !m->period_high || !m->first || !m->low || !m->high || !m->low_of || !m->high_of || !m->edges || !m->missing_seen || !m->codes || !m->code_columns || !m->bin_at || !m->missing_at ||
        !m->last_bin || !m->coded || !m->score_edge_values || !m->latency_bounds || !m->count) {
        edgekit_monitor_free(m);
        return NULL;
    }
    for (unsigned b = 0; b < m->blocks; ++b) {
        m->first[b] = F >= LANES && b * LANES + LANES > F ? F - LANES : b * LANES;
        for (unsigned lane = 0; lane < LANES; ++lane) {
            const unsigned f = m->first[b] + lane;
            const int real = f < F;
            m->low[b][lane] = real ? layout->low[f] : -INFINITY;
            m->high[b][lane] = real ? layout->high[f] : INFINITY;
            for (unsigned r = 0; r < ranks; ++r)
                m->edges[r * m->blocks + b][lane] = real && r < m->ranks ? layout->edges[(size_t)r * F + f] : INFINITY;
        }
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
INLINE int count_violations(const edgekit_monitor *m, const float *x, const unsigned char *unknown, long long *c) {
    const unsigned F = m->features;
    long long *missing = c + EDGEKIT_MONITOR_VIOLATIONS, *below = missing + F, *above = below + F, *unknowns = above + F;
    int flagged = 0;
    for (unsigned f = 0; f < F; ++f) {
        const float v = x[f];
        const float low = m->low_of[f], high = m->high_of[f];
        const int other = (unknown && unknown[f]) || (m->codes[f] && !isnan(v) && !whole(v));
        const int miss = isnan(v) && !m->missing_seen[f] && !other, under = v < low, over = v > high;
        missing[f] += miss, below[f] += under, above[f] += over, unknowns[f] += other;
        flagged |= miss | under | over | other;
    }
    return flagged;
}

INLINE unsigned score_bin(const edgekit_monitor *m, float score) {
    if (isnan(score)) return m->score_edges; /* NumPy's searchsorted puts NaN after every edge */
    unsigned bin = 0;
    for (unsigned e = 0; e < m->score_edges; ++e) bin += (double)score >= m->score_edge_values[e];
    return bin;
}

/* Whether a row may break a rule: a value outside its range (NaN is inside none), a category
   column's value no whole number, an unknown mark. Most rows break none: one vector pass. */
INLINE int suspect(const edgekit_monitor *m, const float *x, const unsigned char *unknown) {
    const unsigned F = m->features;
    ints outside = {0};
    for (unsigned b = 0; b < m->blocks; ++b) {
        floats v = {0};
        if (F >= LANES) memcpy(&v, x + m->first[b], sizeof v);
        else memcpy(&v, x, F * sizeof(float));
        outside |= ~((v >= m->low[b]) & (v <= m->high[b]));
    }
    int any = 0;
    for (unsigned lane = 0; lane < LANES; ++lane) any |= outside[lane];
    for (unsigned k = 0; k < m->code_count && !any; ++k) any = !whole(x[m->code_columns[k]]);
    for (unsigned f = 0; unknown && f < F && !any; ++f) any = unknown[f];
    return any;
}

/* One row's numeric features into their bins: count(edges <= x), capped at the last bin (+inf
   passes the +inf padding too), NaN apart. */
INLINE void bin_row(const edgekit_monitor *m, const float *x, long long *c) {
    const unsigned F = m->features;
    for (unsigned b = 0; b < m->blocks; ++b) {
        floats v = {0};
        if (F >= LANES) memcpy(&v, x + m->first[b], sizeof v);
        else memcpy(&v, x, F * sizeof(float));
        ints bin = {0};
        for (unsigned r = 0; r < m->ranks; ++r) bin -= v >= m->edges[r * m->blocks + b];
        for (unsigned lane = b * LANES - m->first[b]; lane < LANES && m->first[b] + lane < F; ++lane) { /* not counted yet */
            const unsigned f = m->first[b] + lane;
            if (m->bin_at[f] < 0) continue;
            if (isnan(v[lane])) {
                ++c[m->missing_at[f]];
            } else {
                const unsigned counted = (unsigned)bin[lane];
                ++c[m->bin_at[f] + (counted < m->last_bin[f] ? counted : m->last_bin[f])];
            }
        }
    }
}

/* Rows 0, step, 2 step, ... (n of them) into their bins, column-wise (see COLUMN_RANKS): the same
   counts as bin_row on each. Needs F >= LANES, ranks <= COLUMN_RANKS. */
INLINE void bin_columns(const edgekit_monitor *m, const float *rows, size_t n, size_t step, long long *c) {
    const unsigned F = m->features;
    for (size_t start = 0; start < n; start += CHUNK) {
        const size_t end = n - start < CHUNK ? n : start + CHUNK;
        for (unsigned b = 0; b < m->blocks; ++b) {
            ints at_least[COLUMN_RANKS] = {{0}}, missing = {0}; /* rows with x >= edge r; NaN rows */
            floats edge[COLUMN_RANKS];
            for (unsigned r = 0; r < COLUMN_RANKS; ++r) edge[r] = m->edges[r * m->blocks + b];
            const float *x = rows + start * step * F + m->first[b];
            for (size_t i = start; i < end; ++i, x += step * F) {
                floats v;
                memcpy(&v, x, sizeof v);
                missing -= v != v;
                for (unsigned r = 0; r < COLUMN_RANKS; ++r) at_least[r] -= v >= edge[r];
            }
            for (unsigned lane = b * LANES - m->first[b]; lane < LANES; ++lane) {
                const unsigned f = m->first[b] + lane, last = m->last_bin[f];
                if (m->bin_at[f] < 0) continue;
                long long *bin = c + m->bin_at[f];
                bin[0] += (long long)(end - start) - missing[lane] - (last ? at_least[0][lane] : 0);
                for (unsigned k = 1; k < last; ++k) bin[k] += at_least[k - 1][lane] - at_least[k][lane];
                if (last) bin[last] += at_least[last - 1][lane];
                c[m->missing_at[f]] += missing[lane];
            }
        }
    }
}

/* One row's category codes and outputs (the prediction histograms). */
INLINE void count_codes_and_outputs(const edgekit_monitor *m, const float *x, const float *out, long long *c) {
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

INLINE int finite_outputs(const float *out) {
    for (unsigned k = 0; k < edgekit_num_outputs; ++k) {
        if (!isfinite(out[k])) return 0;
    }
    return 1;
}

/* How many of n rows' outputs hold a NaN or an infinity: one vector pass over all of them (v - v
   is NaN exactly there), row by row only when it finds one. */
INLINE size_t non_finite_rows(const float *out, size_t n) {
    const size_t total = n * edgekit_num_outputs;
    ints seen = {0};
    size_t k = 0;
    for (; k + LANES <= total; k += LANES) {
        floats v;
        memcpy(&v, out + k, sizeof v);
        const floats d = v - v;
        seen |= d != d;
    }
    int any = 0;
    for (unsigned lane = 0; lane < LANES; ++lane) any |= seen[lane];
    for (; k < total; ++k) any |= !isfinite(out[k]);
    if (!any) return 0;
    size_t bad = 0;
    for (size_t i = 0; i < n; ++i) bad += !finite_outputs(out + i * edgekit_num_outputs);
    return bad;
}

/* Whether any of `count` rows may break a rule (suspect, for a group: the range tests AND-ed over
   the rows, one reduction). */
INLINE int group_suspect(const edgekit_monitor *m, const float *x, size_t count, const unsigned char *unknown) {
    const unsigned F = m->features;
    int any = 0;
    if (m->period && count % (m->period / F) == 0) { /* whole periods: the values as one stream */
        ints inside = ~(ints){0};
        const float *end = x + count * F;
        for (const float *at = x; at < end; at += m->period) {
            for (unsigned k = 0; k < m->period / LANES; ++k) {
                floats v;
                memcpy(&v, at + k * LANES, sizeof v);
                inside &= (v >= m->period_low[k]) & (v <= m->period_high[k]);
            }
        }
        for (unsigned lane = 0; lane < LANES; ++lane) any |= !inside[lane];
    } else {
        ints outside = {0};
        for (size_t r = 0; r < count; ++r) {
            for (unsigned b = 0; b < m->blocks; ++b) {
                floats v = {0};
                if (F >= LANES) memcpy(&v, x + r * F + m->first[b], sizeof v);
                else memcpy(&v, x + r * F, F * sizeof(float));
                outside |= ~((v >= m->low[b]) & (v <= m->high[b]));
            }
        }
        for (unsigned lane = 0; lane < LANES; ++lane) any |= outside[lane];
    }
    for (size_t r = 0; r < count && !any && m->code_count; ++r)
        for (unsigned k = 0; k < m->code_count && !any; ++k) any = !whole(x[r * F + m->code_columns[k]]);
    for (size_t cell = 0; unknown && cell < count * F && !any; ++cell) any = unknown[cell];
    return any;
}

/* n rows (each with its unknown marks, or none) and their outputs, counted into c: the violations
   of every row, the histograms of every step-th (rows 0, step, 2 step, ...); returns how many rows
   have a non-finite output. */
CLONED static size_t count_rows(const edgekit_monitor *m, const float *rows, size_t n, const unsigned char *unknown,
                                const float *out, size_t step, long long *c) {
    const unsigned F = m->features, outputs = edgekit_num_outputs;
    const size_t sampled = (n + step - 1) / step;
    if (m->binned) {
        const int columns = sampled > 1 && F >= LANES && m->ranks <= COLUMN_RANKS;
        if (columns) bin_columns(m, rows, sampled, step, c);
        for (size_t i = 0; i < n; i += step) {
            if (!columns) bin_row(m, rows + i * F, c);
            count_codes_and_outputs(m, rows + i * F, out + i * outputs, c);
        }
    }
    for (size_t i = 0; i < n; i += m->group_rows) {
        const size_t count = n - i < m->group_rows ? n - i : m->group_rows;
        const unsigned char *marks = unknown ? unknown + i * F : NULL;
        if (!group_suspect(m, rows + i * F, count, marks)) continue;
        for (size_t k = i; k < i + count; ++k) {
            const float *x = rows + k * F;
            const unsigned char *row_marks = unknown ? unknown + k * F : NULL;
            if (suspect(m, x, row_marks)) c[EDGEKIT_MONITOR_FLAGGED_ROWS] += count_violations(m, x, row_marks, c);
        }
    }
    c[EDGEKIT_MONITOR_ROWS] += (long long)n;
    if (m->binned) c[EDGEKIT_MONITOR_HISTOGRAM_ROWS] += (long long)sampled;
    return non_finite_rows(out, n);
}

static double micros_between(const struct timespec *start, const struct timespec *end) {
    return ((double)(end->tv_sec - start->tv_sec) * 1e9 + (double)(end->tv_nsec - start->tv_nsec)) / 1000.0;
}

static void count_latency(const edgekit_monitor *m, double micros, long long *c) {
    if (m->latency_at < 0) return;
    unsigned low = 0, high = m->latency_buckets; /* bisect_left: the first bound >= micros */
    while (low < high) {
        const unsigned middle = (low + high) / 2;
        if (m->latency_bounds[middle] < micros) low = middle + 1;
        else high = middle;
    }
    ++c[m->latency_at + low];
}

/* Counts the single rows held (under the lock). */
static void count_held(edgekit_monitor *m) {
    if (!m->held) return;
    count_rows(m, m->held_rows, m->held, NULL, m->held_out, 1, m->count);
    for (unsigned k = 0; k < m->held; ++k) count_latency(m, m->held_micros[k], m->count);
    m->held = 0;
}

int edgekit_monitor_predict(edgekit_monitor *m, const float *row, float *out) {
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    edgekit_predict(row, out);
    clock_gettime(CLOCK_MONOTONIC, &end);
    const int bad = !finite_outputs(out);
    pthread_mutex_lock(&m->lock);
    memcpy(m->held_rows + (size_t)m->held * m->features, row, m->features * sizeof(float));
    memcpy(m->held_out + (size_t)m->held * edgekit_num_outputs, out, edgekit_num_outputs * sizeof(float));
    m->held_micros[m->held] = micros_between(&start, &end);
    if (++m->held == m->held_capacity) count_held(m);
    pthread_mutex_unlock(&m->lock);
    return bad;
}

size_t edgekit_monitor_predict_batch(edgekit_monitor *m, const float *rows, size_t n, float *out,
                                     const unsigned char *unknown, unsigned threads) {
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    if (threads > 1) edgekit_predict_batch_threads(rows, n, out, threads);
    else edgekit_predict_batch(rows, n, out);
    clock_gettime(CLOCK_MONOTONIC, &end);
    /* The histograms take a systematic sample of a large batch, as the Python monitor does: binning
       every row would cost a cheap model more than predicting it. Violations count every row. */
    const size_t step = n > EDGEKIT_MONITOR_ALL_ROWS ? EDGEKIT_MONITOR_STEP : 1;
    if (n <= OWN_ABOVE && pthread_mutex_trylock(&m->lock) == 0) {
        const size_t bad = count_rows(m, rows, n, unknown, out, step, m->count);
        count_latency(m, micros_between(&start, &end), m->count);
        pthread_mutex_unlock(&m->lock);
        return bad;
    }
    /* The call's own counters, added under the lock once; without memory for them, every row is
       counted under the lock instead: slower for other threads, never a row uncounted. */
    long long *own = calloc(m->counters ? m->counters : 1, sizeof(long long));
    long long *c = own ? own : m->count;
    if (!own) pthread_mutex_lock(&m->lock);
    const size_t bad = count_rows(m, rows, n, unknown, out, step, c);
    if (own) pthread_mutex_lock(&m->lock);
    count_latency(m, micros_between(&start, &end), m->count);
    for (size_t k = 0; own && k < m->counters; ++k) m->count[k] += own[k];
    pthread_mutex_unlock(&m->lock);
    free(own);
    return bad;
}

void edgekit_monitor_drain(edgekit_monitor *m, long long *into) {
    pthread_mutex_lock(&m->lock);
    count_held(m);
    for (size_t k = 0; k < m->counters; ++k) into[k] += m->count[k];
    memset(m->count, 0, m->counters * sizeof(long long));
    pthread_mutex_unlock(&m->lock);
}
#else
typedef int edgekit_monitor_needs_linux; /* ISO C wants a declaration in every translation unit */
#endif
