/*
 * libmimic: compress a deep teacher into a shallow, wide student by mimic learning
 * (L2 regression on the teacher's logits; Ba & Caruana, "Do Deep Nets Really Need to be
 * Deep?", 2014), with Hinton's distillation and hard-label training beside it.
 *
 * Umbrella header: include this one. Link with `pkg-config --libs mimic` or CMake's
 * find_package(mimic 1) + mimic::mimic.
 */
#ifndef MIMIC_H
#define MIMIC_H

#include "mimic/common.h"
#include "mimic/array.h"
#include "mimic/file.h"
#include "mimic/dataset.h"
#include "mimic/npy.h"
#include "mimic/student.h"
#include "mimic/loss.h"
#include "mimic/evaluate.h"
#include "mimic/collective.h"
#include "mimic/train.h"
#include "mimic/onnx.h"
#include "mimic/options.h"

#endif /* MIMIC_H */
