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

#ifdef __cplusplus
}
#endif

#endif /* EDGEKIT_MODEL_H */
