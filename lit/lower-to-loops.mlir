// RUN: dynir-opt %s --lower-to-loops --split-input-file | FileCheck %s

// A lone op is wrapped in a group that names its kernel; the kernel takes the inputs,
// then the outputs, as memrefs, then (part, parts), and loops over its share of the
// output's rows (parallel_loop: [n*part/parts, n*(part+1)/parts)).
// CHECK-LABEL: func.func @bias_relu_dynamic_batch
// CHECK:         %[[B:.+]] = nn.constant
// CHECK:         %[[S:.+]] = fusion.group (%{{.+}}, %[[B]]) {kernel = @add_0}
// CHECK:           nn.add
// CHECK:           fusion.yield
// CHECK:         fusion.group (%[[S]]) {kernel = @relu_1}
// CHECK-LABEL: func.func @add_0
// CHECK-SAME:    (%[[X:.+]]: memref<?x4xf32>, %[[C:.+]]: memref<4xf32>, %[[OUT:.+]]: memref<?x4xf32>, %[[PART:.+]]: index, %[[PARTS:.+]]: index)
// CHECK-SAME:    attributes {dynir.partitioned
// CHECK:         %[[N:.+]] = memref.dim %[[OUT]]
// CHECK:         %[[FIRST:.+]] = arith.muli %[[N]], %[[PART]]
// CHECK:         %[[LO:.+]] = arith.divsi %[[FIRST]], %[[PARTS]]
// CHECK:         %[[HI:.+]] = arith.divsi %{{.+}}, %[[PARTS]]
// CHECK:         scf.for %[[I:.+]] = %[[LO]] to %[[HI]]
// CHECK:           scf.for %[[J:.+]] =
// CHECK:             memref.load %[[C]][%[[J]]]
// CHECK:             arith.addf
// CHECK:             memref.store %{{.+}}, %[[OUT]][%[[I]], %[[J]]]
// CHECK-LABEL: func.func @relu_1
// CHECK:         %[[GT:.+]] = arith.cmpf ugt, %[[V:.+]], %[[ZERO:.+]] : f32
// CHECK:         arith.select %[[GT]], %[[V]], %[[ZERO]] : f32
func.func @bias_relu_dynamic_batch(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %b = nn.constant {value = dense<[1.0, -2.0, 3.0, -4.0]> : tensor<4xf32>} : tensor<4xf32>
  %0 = nn.add %x, %b : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %1 = nn.relu %0 : (tensor<?x4xf32>) -> tensor<?x4xf32>
  func.return %1 : tensor<?x4xf32>
}

// -----

// A matmul becomes the register-tiled micro-kernel: the kernel is partitioned over
// column panels (part, parts), copies a k-block of B into a stack scratch, and carries
// 8 rows x 2 vectors of accumulators through the k loop as vector fmas.
// CHECK-LABEL: func.func @matmul_0
// CHECK-SAME:    (%{{.+}}: memref<?x8xf32>, %{{.+}}: memref<8x16xf32>, %[[C:.+]]: memref<?x16xf32>, %[[PART:.+]]: index, %[[PARTS:.+]]: index)
// CHECK-SAME:    dynir.partitioned
// CHECK:         %[[SCRATCH:.+]] = memref.alloca() {alignment = 64 : i64} : memref<256x32xf32>
// CHECK:         arith.muli %{{.+}}, %[[PART]]
// CHECK:         arith.divsi %{{.+}}, %[[PARTS]]
// CHECK:         scf.for
// CHECK:           vector.maskedload
// CHECK:           vector.store %{{.+}}, %[[SCRATCH]]
// CHECK:         scf.for {{.+}} iter_args({{.+}}) -> (vector<16xf32>, vector<16xf32>,
// CHECK:           vector.fma
func.func @matmul_micro_kernel(%a: tensor<?x8xf32>, %b: tensor<8x16xf32>) -> tensor<?x16xf32> {
  %0 = nn.matmul %a, %b : (tensor<?x8xf32>, tensor<8x16xf32>) -> tensor<?x16xf32>
  func.return %0 : tensor<?x16xf32>
}
