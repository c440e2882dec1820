/*
 * libmimic: ONNX export of a student.
 */
#ifndef MIMIC_ONNX_H
#define MIMIC_ONNX_H

#include "common.h"
#include "student.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Write `s` as a self-contained ONNX model (IR version 7, opset 13, float32) at `path`:
 * input "input" [batch, D] with a symbolic batch dimension, output "logits" [batch, C];
 * the stored input normalization as Sub/Mul, the bottleneck, hidden and output layers as
 * Gemm (transB = 1: the initializers are the student's tensors as they are, out x in, under
 * the same names) and the activation as Relu/Sigmoid/Tanh; producer
 * "libmimic" with the library version; the architecture in the model's metadata.
 * Compact weights (mimic_student_quantize) stay compact (since 1.3): a float16 matrix is a
 * FLOAT16 initializer followed by Cast(to = FLOAT), an int8 one an INT8 initializer with its
 * per-row FLOAT scales "<matrix>.weight_scale" followed by DequantizeLinear (axis 0, no zero
 * point), each into "<matrix>.weight_dequantized", which the Gemm reads; "weight_dtype" is in
 * the metadata. ONNX Runtime gives the logits of mimic_student_forward within float rounding
 * (tests/onnx). Written atomically (temporary file, flush, rename).
 * Errors: MIMIC_ERR_MISUSE, MIMIC_ERR_INVALID, MIMIC_ERR_IO, MIMIC_ERR_NOMEM. */
MIMIC_API int mimic_student_export_onnx(const mimic_student *s, const char *path);

#ifdef __cplusplus
}
#endif

#endif /* MIMIC_ONNX_H */
