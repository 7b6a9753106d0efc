/*
 * edgekit's C harness: CSV rows on stdin -> one CSV line of outputs per row on stdout.
 *
 *   harness               predict every row read (empty field or "nan" = missing)
 *   harness --bench N [--threads T]
 *                         read the rows, then time N passes of the batch entry point over them;
 *                         print ns per row (hosted builds only: a bare-metal image has no clock to
 *                         read). --threads T (Linux): edgekit_predict_batch_threads with T threads
 *   harness --count N     read the rows, predict each row on its own N times over, print the
 *                         last pass's outputs. Reads no clock, so an emulator's instruction count
 *                         of the run repeats exactly; count(N+1) - count(N) is one pass of
 *                         single-row calls, with reading and printing subtracted out.
 *   harness --count-batch N
 *                         the same for the batch entry point: N passes of edgekit_predict_batch over
 *                         all the rows, then the last pass's outputs (no clock read).
 *
 * Built with -DEDGEKIT_STDIN_FILE="rows.csv" (the bare-metal images), it reads that file instead of
 * stdin: under qemu-system-arm with semihosting, the file is opened on the host.
 * Outputs are printed with %.9g, which round-trips a float32 exactly.
 */
#define _POSIX_C_SOURCE 199309L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "edgekit_model.h"

#define LINE_MAX_BYTES 65536

static int parse_row(char *line, float *row, unsigned features) {
    char *cursor = line;
    for (unsigned i = 0; i < features; ++i) {
        char *end = cursor;
        while (*end == ' ') ++end;
        if (*end == ',' || *end == '\n' || *end == '\r' || *end == '\0') {
            row[i] = NAN;
        } else {
            row[i] = strtof(end, &end);
        }
        while (*end == ' ' || *end == '\r') ++end;
        if (i + 1 < features) {
            if (*end != ',') return -1;
            cursor = end + 1;
        } else if (*end != '\n' && *end != '\0') {
            return -1;
        }
    }
    return 0;
}

static void print_outputs(const float *out) {
    for (unsigned j = 0; j < edgekit_num_outputs; ++j) {
        printf(j ? ",%.9g" : "%.9g", (double)out[j]);
    }
    putchar('\n');
}

static int read_all(float **rows, size_t *count) {
    static char line[LINE_MAX_BYTES];
    size_t capacity = 1024, n = 0;
    float *data = malloc(capacity * edgekit_num_features * sizeof(float));
    if (!data) return -1;
    while (fgets(line, sizeof line, stdin)) {
        if (n == capacity) {
            capacity *= 2;
            float *grown = realloc(data, capacity * edgekit_num_features * sizeof(float));
            if (!grown) { free(data); return -1; }
            data = grown;
        }
        if (parse_row(line, data + n * edgekit_num_features, edgekit_num_features) != 0) {
            fprintf(stderr, "edgekit harness: row %zu does not have %u numeric fields\n", n + 1, edgekit_num_features);
            free(data);
            return -2;
        }
        ++n;
    }
    *rows = data;
    *count = n;
    return 0;
}

static int count_mode(long passes) {
    float *rows;
    size_t n;
    if (read_all(&rows, &n) != 0 || passes < 1) return 2;
    float *out = malloc(edgekit_num_outputs * sizeof(float));
    if (!out) return 2;
    for (size_t i = 0; i < n; ++i) {
        for (long p = 0; p < passes; ++p) edgekit_predict(rows + i * edgekit_num_features, out);
        print_outputs(out);
    }
    free(rows);
    free(out);
    return 0;
}

static int count_batch_mode(long passes) {
    float *rows;
    size_t n;
    if (read_all(&rows, &n) != 0 || passes < 1) return 2;
    float *out = malloc((n ? n : 1) * edgekit_num_outputs * sizeof(float));
    if (!out) return 2;
    for (long p = 0; p < passes; ++p) edgekit_predict_batch(rows, n, out);
    for (size_t i = 0; i < n; ++i) print_outputs(out + i * edgekit_num_outputs);
    free(rows);
    free(out);
    return 0;
}

#if defined(__unix__)
static int bench(long passes, long threads) {
    float *rows;
    size_t n;
    if (threads < 1 || read_all(&rows, &n) != 0) return 2;
    float *out = malloc((n ? n : 1) * edgekit_num_outputs * sizeof(float));
    if (!out) return 2;
    struct timespec start, stop;
    clock_gettime(CLOCK_MONOTONIC, &start);
    unsigned used = 1;
#if defined(__linux__)
    if (threads > 1) {
        for (long p = 0; p < passes; ++p) used = edgekit_predict_batch_threads(rows, n, out, (unsigned)threads);
    } else
#endif
    for (long p = 0; p < passes; ++p) edgekit_predict_batch(rows, n, out);
    clock_gettime(CLOCK_MONOTONIC, &stop);
    double ns = (stop.tv_sec - start.tv_sec) * 1e9 + (stop.tv_nsec - start.tv_nsec);
    printf("rows=%zu passes=%ld threads=%u ns_per_row=%.3f checksum=%.9g\n", n, passes, used, ns / ((double)n * passes),
           (double)out[0]);
    free(rows);
    free(out);
    return 0;
}
#endif

int main(int argc, char **argv) {
#ifdef EDGEKIT_STDIN_FILE
    if (!freopen(EDGEKIT_STDIN_FILE, "r", stdin)) {
        fprintf(stderr, "edgekit harness: cannot open %s\n", EDGEKIT_STDIN_FILE);
        return 2;
    }
#endif
    if (argc == 3 && strcmp(argv[1], "--count") == 0) return count_mode(atol(argv[2]));
    if (argc == 3 && strcmp(argv[1], "--count-batch") == 0) return count_batch_mode(atol(argv[2]));
#if defined(__unix__)
    if (argc == 3 && strcmp(argv[1], "--bench") == 0) return bench(atol(argv[2]), 1);
#if defined(__linux__)
    if (argc == 5 && strcmp(argv[1], "--bench") == 0 && strcmp(argv[3], "--threads") == 0) return bench(atol(argv[2]), atol(argv[4]));
#endif
#endif
    if (argc != 1) {
        fprintf(stderr, "usage: %s [--bench N [--threads T] | --count N | --count-batch N] < rows.csv\n", argv[0]);
        return 2;
    }
    static char line[LINE_MAX_BYTES];
    float row[4096], out[1024];
    if (edgekit_num_features > 4096 || edgekit_num_outputs > 1024) {
        fprintf(stderr, "edgekit harness: model too wide for the streaming harness; use --bench\n");
        return 2;
    }
    unsigned long number = 0;
    while (fgets(line, sizeof line, stdin)) {
        ++number;
        if (parse_row(line, row, edgekit_num_features) != 0) {
            fprintf(stderr, "edgekit harness: row %lu does not have %u numeric fields\n", number, edgekit_num_features);
            return 2;
        }
        edgekit_predict(row, out);
        print_outputs(out);
    }
    return 0;
}
