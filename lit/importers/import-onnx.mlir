// RUN: %python %S/Inputs/onnx_models.py shape_chain %t.chain.onnx
// RUN: dynir import %t.chain.onnx | FileCheck %s --check-prefix=FOLD
// RUN: %python %S/Inputs/onnx_models.py named_dims %t.dims.onnx
// RUN: dynir import %t.dims.onnx | FileCheck %s --check-prefix=DIMS
// RUN: dynir import %t.dims.onnx | dynir-opt | FileCheck %s --check-prefix=DIMS
// RUN: dynir import %t.dims.onnx --elide-constants 16 | FileCheck %s --check-prefix=ELIDE

// A Shape -> Gather -> Unsqueeze -> Concat -> Reshape chain on a static input folds into one reshape.
// FOLD-LABEL: func.func @main
// FOLD-SAME:    (%[[X:.+]]: tensor<2x3x4xf32> {nn.name = "x"}) -> (tensor<2x12xf32> {nn.name = "y"})
// FOLD-NOT:     nn.shape
// FOLD-NOT:     nn.gather
// FOLD-NOT:     nn.concat
// FOLD:         %[[Y:.+]] = nn.reshape %[[X]] {shape = array<i64: 2, -1>} : (tensor<2x3x4xf32>) -> tensor<2x12xf32>
// FOLD-NEXT:    func.return %[[Y]] : tensor<2x12xf32>

// dim_params become `?` dims named by nn.dim_names; a weight becomes a blob named after
// its initializer, written after the module so that the output re-parses.
// DIMS-LABEL: func.func @main
// DIMS-SAME:    (%[[A:.+]]: tensor<?x64x?xf32> {nn.name = "a", nn.dim_names = ["batch", "", "seq"]}, %[[B:.+]]: tensor<?xi64> {nn.name = "b", nn.dim_names = ["batch"]})
// DIMS-SAME:    -> (tensor<?x?x8xf32> {nn.name = "{{.*}}"}, tensor<?xi64> {nn.name = "{{.*}}"})
// DIMS:         %[[T:.+]] = nn.transpose %[[A]] {perm = array<i64: 0, 2, 1>}
// DIMS:         %[[W:.+]] = nn.constant {value = dense_resource<encoder.weight> : tensor<64x8xf32>}
// DIMS:         %[[Y:.+]] = nn.matmul %[[T]], %[[W]] : (tensor<?x?x64xf32>, tensor<64x8xf32>) -> tensor<?x?x8xf32>
// DIMS:         func.return %[[Y]], %[[B]] : tensor<?x?x8xf32>, tensor<?xi64>
// DIMS:       dialect_resources
// DIMS:         encoder.weight: "0x08000000

// ELIDE:        nn.constant {value = dense_resource<__elided__> : tensor<64x8xf32>}
// ELIDE-NOT:    dialect_resources
