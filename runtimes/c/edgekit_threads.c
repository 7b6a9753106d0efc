/*
 * edgekit_predict_batch_threads: edgekit_predict_batch over POSIX threads (see edgekit_model.h).
 *
 * One file for every layout: it only calls the model's own edgekit_predict_batch on contiguous
 * chunks of rows, so each row gets exactly the arithmetic of the one-thread call. Chunks start
 * on a multiple of every block size a layout walks rows in (EDGEKIT_BLOCK for the table layout,
 * 8 or 16 for dense C), so the rows are grouped into blocks exactly as one thread groups them.
 * Threads are created per call and joined before returning: no pool, no state between calls,
 * nothing to shut down. Linux builds compile it (with -pthread); elsewhere it is empty, so a
 * microcontroller build of an artifact's src/ gains no byte.
 */
#if defined(__linux__)
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>

#include "edgekit_model.h"

#ifndef EDGEKIT_BLOCK
#define EDGEKIT_BLOCK 8u
#endif
/* Creating and joining a thread costs tens of microseconds: a few hundred rows of a small model.
   Below this many rows per thread the batch runs on fewer threads (below twice it, on the caller). */
#ifndef EDGEKIT_MIN_ROWS_PER_THREAD
#define EDGEKIT_MIN_ROWS_PER_THREAD 256u
#endif
#define DENSE_BLOCK 16u /* dense C's largest block; its smaller one (8) divides it */

struct chunk {
    const float *rows;
    size_t n;
    float *out;
};

static void *predict_chunk(void *argument) {
    const struct chunk *chunk = argument;
    edgekit_predict_batch(chunk->rows, chunk->n, chunk->out);
    return NULL;
}

static size_t greatest_common_divisor(size_t a, size_t b) {
    while (b) {
        const size_t rest = a % b;
        a = b;
        b = rest;
    }
    return a;
}

unsigned edgekit_predict_batch_threads(const float *rows, size_t n, float *out, unsigned threads) {
    const size_t by_size = n / EDGEKIT_MIN_ROWS_PER_THREAD;
    size_t wanted = threads < by_size ? threads : by_size;
    if (wanted > EDGEKIT_MAX_THREADS) wanted = EDGEKIT_MAX_THREADS;
    if (wanted <= 1) {
        edgekit_predict_batch(rows, n, out);
        return 1u;
    }
    const size_t align = EDGEKIT_BLOCK / greatest_common_divisor(EDGEKIT_BLOCK, DENSE_BLOCK) * DENSE_BLOCK;
    size_t per = (n + wanted - 1) / wanted;
    per = (per + align - 1) / align * align;
    const size_t chunks = (n + per - 1) / per;
    struct chunk work[EDGEKIT_MAX_THREADS];
    pthread_t workers[EDGEKIT_MAX_THREADS];
    for (size_t c = 0; c < chunks; ++c) {
        const size_t first = c * per, count = n - first < per ? n - first : per;
        work[c].rows = rows + first * edgekit_num_features;
        work[c].n = count;
        work[c].out = out + first * edgekit_num_outputs;
    }
    /* Chunk 0 is the caller's. If a thread cannot be created (limits, memory), the caller predicts
       that chunk and the ones after it itself: slower, never a missing answer. */
    size_t started = 1;
    while (started < chunks && pthread_create(&workers[started], NULL, predict_chunk, &work[started]) == 0) ++started;
    for (size_t c = 0; c < chunks; ++c) {
        if (c == 0 || c >= started) predict_chunk(&work[c]);
    }
    for (size_t c = 1; c < started; ++c) pthread_join(workers[c], NULL);
    return (unsigned)started;
}
#else
typedef int edgekit_threads_need_linux; /* ISO C wants a declaration in every translation unit */
#endif
