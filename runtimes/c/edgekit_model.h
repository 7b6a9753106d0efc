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
#endif

#ifdef __cplusplus
}
#endif

#endif /* EDGEKIT_MODEL_H */
