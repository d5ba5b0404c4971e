// RUN: dynir-opt %s -p lower-to-loops --split-input-file | FileCheck %s

// The contiguous dim is reduced: the sum is carried in a register over the row.
// CHECK-LABEL: func.func @reduce_sum_0
// CHECK-SAME:    (%[[X:.+]]: memref<?x?xf32>, %[[OUT:.+]]: memref<?xf32>, %{{.+}}: index, %{{.+}}: index)
// CHECK:         %[[ZERO:.+]] = arith.constant 0.000000e+00 : f32
// CHECK:         scf.for %[[I:.+]] =
// CHECK:           %[[SUM:.+]] = scf.for %[[K:.+]] = %{{.+}} to %{{.+}} step %{{.+}} iter_args(%[[ACC:.+]] = %[[ZERO]]) -> (f32) {
// CHECK:             %[[V:.+]] = memref.load %[[X]][%[[I]], %[[K]]]
// CHECK:             %[[NEXT:.+]] = arith.addf %[[ACC]], %[[V]] : f32
// CHECK:             scf.yield %[[NEXT]] : f32
// CHECK:           memref.store %[[SUM]], %[[OUT]][%[[I]]]
func.func @row_sum(%x: tensor<?x?xf32>) -> tensor<?xf32> {
  %0 = nn.reduce_sum %x {axes = array<i64: 1>, keepdims = 0 : i64} : (tensor<?x?xf32>) -> tensor<?xf32>
  func.return %0 : tensor<?xf32>
}

// -----

// A leading axis is reduced: the output row is initialised to the identity (-inf), then
// updated in place with the kept contiguous dim innermost, so the inner loop vectorises.
// CHECK-LABEL: func.func @reduce_max_0
// CHECK-SAME:    (%[[X:.+]]: memref<?x8xf32>, %[[OUT:.+]]: memref<1x8xf32>)
// CHECK:         %[[LOWEST:.+]] = arith.constant 0xff800000 : f32
// CHECK:         scf.for
// CHECK:           scf.for
// CHECK:             memref.store %[[LOWEST]], %[[OUT]]
// CHECK:         scf.for %[[I:.+]] =
// CHECK:           scf.for %[[J:.+]] =
// CHECK:             %[[ACC:.+]] = memref.load %[[OUT]][%{{.+}}, %[[J]]]
// CHECK:             %[[V:.+]] = memref.load %[[X]][%[[I]], %[[J]]]
// CHECK:             %[[M:.+]] = arith.maximumf %[[ACC]], %[[V]] : f32
// CHECK:             memref.store %[[M]], %[[OUT]][%{{.+}}, %[[J]]]
func.func @column_max(%x: tensor<?x8xf32>) -> tensor<1x8xf32> {
  %0 = nn.reduce_max %x {axes = array<i64: 0>} : (tensor<?x8xf32>) -> tensor<1x8xf32>
  func.return %0 : tensor<1x8xf32>
}

// -----

// Integer mean: sum in i32 (wrapping), then trunc(f64(sum) / count) like the reference.
// CHECK-LABEL: func.func @reduce_mean_0
// CHECK:         scf.for
// CHECK:           %[[SUM:.+]] = scf.for {{.+}} -> (i32) {
// CHECK:             arith.addi
// CHECK:           arith.sitofp %[[SUM]] : i32 to f64
// CHECK:           arith.divf
// CHECK:           math.trunc
// CHECK:           arith.fptosi
func.func @int_mean(%x: tensor<?x?xi32>) -> tensor<?xi32> {
  %0 = nn.reduce_mean %x {axes = array<i64: 1>, keepdims = 0 : i64} : (tensor<?x?xi32>) -> tensor<?xi32>
  func.return %0 : tensor<?xi32>
}

// -----

// argmax carries the best value and its index; NaN wins (first one kept).
// CHECK-LABEL: func.func @argmax_0
// CHECK-SAME:    (%[[X:.+]]: memref<?x10xf32>, %[[OUT:.+]]: memref<?xi64>, %{{.+}}: index, %{{.+}}: index)
// CHECK:         scf.for %[[I:.+]] =
// CHECK:           %{{.+}}, %[[FOUND:.+]] = scf.for %[[K:.+]] = {{.+}} iter_args(%[[BEST:.+]] = %{{.+}}, %[[IDX:.+]] = %{{.+}}) -> (f32, index) {
// CHECK:             %[[V:.+]] = memref.load %[[X]][%[[I]], %[[K]]]
// CHECK:             arith.cmpf ogt, %[[V]], %[[BEST]] : f32
// CHECK:             arith.cmpf uno, %[[V]], %[[V]] : f32
// CHECK:             arith.select
// CHECK:             arith.select
// CHECK:             scf.yield
// CHECK:           arith.index_cast %[[FOUND]] : index to i64
// CHECK:           memref.store %{{.+}}, %[[OUT]][%[[I]]]
func.func @argmax_rows(%x: tensor<?x10xf32>) -> tensor<?xi64> {
  %0 = nn.argmax %x {axis = 1 : i64, keepdims = 0 : i64} : (tensor<?x10xf32>) -> tensor<?xi64>
  func.return %0 : tensor<?xi64>
}

// -----

// softmax: three passes over each row -- max, sum of exp(x - max) (kept in the
// output), normalise.
// CHECK-LABEL: func.func @softmax_0
// CHECK-SAME:    (%[[X:.+]]: memref<?x16xf32>, %[[OUT:.+]]: memref<?x16xf32>, %{{.+}}: index, %{{.+}}: index)
// CHECK:         scf.for %[[I:.+]] =
// CHECK:           %[[MAX:.+]] = scf.for {{.+}} -> (f32) {
// CHECK:             arith.maximumf
// CHECK:           math.absf %[[MAX]]
// CHECK:           %[[SHIFT:.+]] = arith.select %{{.+}}, %[[MAX]], %{{.+}} : f32
// CHECK:           %[[SUM:.+]] = scf.for %[[K0:[^ ]+]] = {{.+}} -> (f32) {
// CHECK:             arith.subf %{{.+}}, %[[SHIFT]]
// CHECK:             %[[E:.+]] = math.exp
// CHECK:             memref.store %[[E]], %[[OUT]][%[[I]], %[[K0]]]
// CHECK:             arith.addf %{{.+}}, %[[E]]
// CHECK:           scf.for %[[K:.+]] =
// CHECK-NOT:         math.exp
// CHECK:             %[[EK:.+]] = memref.load %[[OUT]][%[[I]], %[[K]]]
// CHECK:             %[[Y:.+]] = arith.divf %[[EK]], %[[SUM]] : f32
// CHECK:             memref.store %[[Y]], %[[OUT]][%[[I]], %[[K]]]
func.func @softmax_rows(%x: tensor<?x16xf32>) -> tensor<?x16xf32> {
  %0 = nn.softmax %x {axis = -1 : i64} : (tensor<?x16xf32>) -> tensor<?x16xf32>
  func.return %0 : tensor<?x16xf32>
}

// -----

// layer_norm over the last dim: mean and variance in registers, then one write pass.
// CHECK-LABEL: func.func @layer_norm_0
// CHECK:         scf.for %[[I:.+]] =
// CHECK:           %[[SUM:.+]] = scf.for {{.+}} -> (f32) {
// CHECK:           %[[MEAN:.+]] = arith.divf %[[SUM]], %{{.+}} : f32
// CHECK:           %[[SQ:.+]] = scf.for {{.+}} -> (f32) {
// CHECK:             arith.subf %{{.+}}, %[[MEAN]]
// CHECK:             arith.mulf
// CHECK:           %[[VAR:.+]] = arith.divf %[[SQ]], %{{.+}} : f32
// CHECK:           %[[DEN:.+]] = math.sqrt
// CHECK:           scf.for %[[J:.+]] =
// CHECK:             arith.divf %{{.+}}, %[[DEN]] : f32
// CHECK:             arith.mulf
// CHECK:             arith.addf
// CHECK:             memref.store
func.func @layer_norm_rows(%x: tensor<?x32xf32>, %g: tensor<32xf32>, %b: tensor<32xf32>) -> tensor<?x32xf32> {
  %0 = nn.layer_norm %x, %g, %b {axis = -1 : i64} : (tensor<?x32xf32>, tensor<32xf32>, tensor<32xf32>) -> tensor<?x32xf32>
  func.return %0 : tensor<?x32xf32>
}
