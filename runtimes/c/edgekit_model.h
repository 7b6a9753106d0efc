/*
 * edgekit's C API. Every C artifact edgekit generates implements it, whatever its layout.
 *
 * A row is edgekit_num_features floats in the bundle's feature order; NaN means "missing".
 * The output is edgekit_num_outputs floats: class probabilities, or the predicted value.
 * The functions use no malloc, no stdio and no global mutable state: they are reentrant and safe
 * to call from any thread or interrupt context.
 */
#ifndef EDGEKIT_MODEL_H
#define EDGEKIT_MODEL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EDGEKIT_API_VERSION 1u

extern const unsigned edgekit_api_version;
extern const unsigned edgekit_num_features;
extern const unsigned edgekit_num_outputs;
/* The content hash of the bundle the model was compiled from (64 hex digits). */
extern const char edgekit_model_id[];

void edgekit_predict(const float *row, float *out);
/* n rows, row-major; out receives n * edgekit_num_outputs floats. */
void edgekit_predict_batch(const float *rows, size_t n, float *out);

#if defined(__linux__)
/* Linux builds only (edgekit_threads.c, link with -pthread; microcontroller builds have none):
 * edgekit_predict_batch split into contiguous chunks of rows over up to `threads` threads: the
 * caller predicts the first chunk and threads - 1 POSIX threads the others, all joined before it
 * returns. Each row's output is bit-identical to edgekit_predict_batch's, for any thread count.
 * A batch runs on fewer threads when each would get fewer than EDGEKIT_MIN_ROWS_PER_THREAD rows
 * (256; below twice that, on the caller alone: creating a thread costs more than such a chunk),
 * and on at most EDGEKIT_MAX_THREADS. When pthread_create fails, the caller predicts the chunks
 * that got no thread itself. Returns the number of threads that predicted rows (1 = the caller
 * alone). Reentrant like the rest of the API; threads = 0 is taken as 1. */
#define EDGEKIT_MAX_THREADS 64u
unsigned edgekit_predict_batch_threads(const float *rows, size_t n, float *out, unsigned threads);

/* Linux builds only (edgekit_monitor.c): the device runtime's input monitor (edgekit_runtime/inputs/
 * monitor.py) in C, so that one call predicts, times, checks and counts. A monitor is set up once
 * from a layout (the schema's ranges, the baseline's bins, where each count goes); the runtime
 * copies its counters out with edgekit_monitor_drain. All counters are long long, at fixed slots
 * (below) or at the offsets the layout gives. Thread-safe: one mutex per monitor, taken once per call.
 * Unlike the model's entry points these allocate (at setup, and per batch call over 4 096 rows or
 * meeting another thread's call). */
#define EDGEKIT_MONITOR_VERSION 1u
extern const unsigned edgekit_monitor_version;
#define EDGEKIT_MONITOR_ROWS 0           /* rows counted */
#define EDGEKIT_MONITOR_FLAGGED_ROWS 1   /* rows with any violation */
#define EDGEKIT_MONITOR_HISTOGRAM_ROWS 2 /* rows in the histograms: single rows, and a batch's sample */
/* A batch of more than EDGEKIT_MONITOR_ALL_ROWS rows adds rows 0, STEP, 2 STEP, ... to the histograms
   (as edgekit_runtime's Python monitor: HISTOGRAM_ALL_ROWS, HISTOGRAM_STEP); violations count every row. */
#define EDGEKIT_MONITOR_ALL_ROWS 256u
#define EDGEKIT_MONITOR_STEP 16u
/* + kind * features + feature, kinds in order: missing (NaN where training had none), below the
   low, above the high, unknown category (the caller's mark, or a category column's value that is
   no whole number; such a NaN is not also missing). */
#define EDGEKIT_MONITOR_VIOLATIONS 3
enum { EDGEKIT_HISTOGRAM_NONE = 0, EDGEKIT_HISTOGRAM_EDGES = 1, EDGEKIT_HISTOGRAM_CODES = 2 };

typedef struct edgekit_monitor edgekit_monitor;
struct edgekit_monitor_layout {
    unsigned features;                 /* must equal edgekit_num_features */
    const float *low, *high;           /* [features] */
    const unsigned char *missing_seen; /* [features] 1: training had missing values here */
    const unsigned char *codes;        /* [features] 1: a category column */
    int binned;                        /* 0: no histograms (nor predictions, nor latency) */
    /* Feature f's histogram: EDGES counts bin count(edges <= x) capped at bins[f] - 1 at
       bin_at[f] + bin, NaN at missing_at[f]; CODES counts a whole code in [0, bins[f]) at
       bin_at[f] + code, NaN at missing_at[f], anything else nowhere. */
    const unsigned char *histogram_kind; /* [features] */
    const unsigned *bins;
    const long long *bin_at, *missing_at;
    unsigned edge_ranks;
    const float *edges;                /* [edge_ranks][features], each edge rounded up to float32, +inf padding */
    long long class_at;                /* < 0: none; else the argmax class's counter (NumPy's argmax) */
    long long score_at;                /* < 0: none; else bin count(score_edge_values <= score), NaN last */
    int score_column;                  /* the output scored; -1: every output */
    unsigned score_edges;
    const double *score_edge_values;
    long long latency_at;              /* < 0: none; else one count per call, bucket bisect_left(bounds, µs) */
    unsigned latency_buckets;
    const double *latency_bounds_us;
    size_t counters;                   /* how many counters all the offsets above address */
};

/* NULL when out of memory, or when the layout is not for this model. */
edgekit_monitor *edgekit_monitor_new(const struct edgekit_monitor_layout *layout);
void edgekit_monitor_free(edgekit_monitor *monitor);
/* edgekit_predict, counted: the row is held and counted with the next ones (when up to 128 rows fill
   the monitor's buffer, or at edgekit_monitor_drain). Returns 1 when an output is NaN or infinite (it is counted too). */
int edgekit_monitor_predict(edgekit_monitor *monitor, const float *row, float *out);
/* edgekit_predict_batch (threads > 1: edgekit_predict_batch_threads), counted (every row's violations,
   the histograms of a sample of a large batch: EDGEKIT_MONITOR_ALL_ROWS, EDGEKIT_MONITOR_STEP); unknown:
   NULL, or [n][features] marks of unknown categories. Returns how many rows have a non-finite output. */
size_t edgekit_monitor_predict_batch(edgekit_monitor *monitor, const float *rows, size_t n, float *out,
                                     const unsigned char *unknown, unsigned threads);
/* Adds every counter into into[counters] and zeroes it, atomically with respect to the calls above. */
void edgekit_monitor_drain(edgekit_monitor *monitor, long long *into);
#endif

#ifdef __cplusplus
}
#endif

#endif /* EDGEKIT_MODEL_H */
