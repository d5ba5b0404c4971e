// RUN: dynir-opt %s --lower-to-loops --split-input-file | FileCheck %s

// A lone op is wrapped in a group that names its kernel; the kernel takes the inputs,
// then the outputs, as memrefs and loops over the output.
// CHECK-LABEL: func.func @bias_relu_dynamic_batch
// CHECK:         %[[B:.+]] = nn.constant
// CHECK:         %[[S:.+]] = fusion.group (%{{.+}}, %[[B]]) {kernel = @add_0}
// CHECK:           nn.add
// CHECK:           fusion.yield
// CHECK:         fusion.group (%[[S]]) {kernel = @relu_1}
// CHECK-LABEL: func.func @add_0
// CHECK-SAME:    (%[[X:.+]]: memref<?x4xf32>, %[[C:.+]]: memref<4xf32>, %[[OUT:.+]]: memref<?x4xf32>)
// CHECK:         %[[N:.+]] = memref.dim %[[OUT]]
// CHECK:         scf.for %[[I:.+]] = %{{.+}} to %[[N]]
// CHECK:           scf.for %[[J:.+]] =
// CHECK:             memref.load %[[C]][%[[J]]]
// CHECK:             arith.addf
// CHECK:             memref.store %{{.+}}, %[[OUT]][%[[I]], %[[J]]]
// CHECK-LABEL: func.func @relu_1
// CHECK:         arith.maximumf
func.func @bias_relu_dynamic_batch(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %b = nn.constant {value = dense<[1.0, -2.0, 3.0, -4.0]> : tensor<4xf32>} : tensor<4xf32>
  %0 = nn.add %x, %b : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %1 = nn.relu %0 : (tensor<?x4xf32>) -> tensor<?x4xf32>
  func.return %1 : tensor<?x4xf32>
}

// -----

// Matmul loops run i, then k, with the output's contiguous dim j innermost.
// CHECK-LABEL: func.func @matmul_0
// CHECK:         scf.for %[[I:.+]] =
// CHECK:           scf.for %[[J0:.+]] =
// CHECK:             memref.store
// CHECK:           scf.for %[[K:.+]] =
// CHECK:             memref.load %{{.+}}[%[[I]], %[[K]]]
// CHECK:             scf.for %[[J:.+]] =
// CHECK:               memref.load %{{.+}}[%[[K]], %[[J]]]
// CHECK:               arith.mulf
// CHECK:               arith.addf
func.func @matmul_ikj(%a: tensor<?x8xf32>, %b: tensor<8x16xf32>) -> tensor<?x16xf32> {
  %0 = nn.matmul %a, %b : (tensor<?x8xf32>, tensor<8x16xf32>) -> tensor<?x16xf32>
  func.return %0 : tensor<?x16xf32>
}
