#!/usr/bin/python3
"""A trivial model with the students' signature (input [batch, 784] -> [batch, 10], a Slice),
to measure what one onnxruntime-node session.run costs apart from the model itself."""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def main(path):
    inits = [numpy_helper.from_array(np.array([0], np.int64), "starts"),
             numpy_helper.from_array(np.array([10], np.int64), "ends"),
             numpy_helper.from_array(np.array([1], np.int64), "axes")]
    node = helper.make_node("Slice", ["input", "starts", "ends", "axes"], ["logits"])
    graph = helper.make_graph(
        [node], "overhead",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 784])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)


if __name__ == "__main__":
    main(sys.argv[1])
