// RUN: dynir-opt %s --split-input-file | dynir-opt --split-input-file | FileCheck %s

// Reductions keep unreduced dynamic dims; keepdims = 0 drops the reduced ones.
// CHECK-LABEL: func.func @reduce_dynamic_dims
// CHECK-SAME:    (%[[X:.+]]: tensor<?x8x?xf32>)
// CHECK:         %[[S:.+]] = nn.reduce_sum %[[X]] {axes = array<i64: 1>} : (tensor<?x8x?xf32>) -> tensor<?x1x?xf32>
// CHECK:         %[[M:.+]] = nn.reduce_mean %[[S]] {axes = array<i64: -1, 0>, keepdims = 0 : i64} : (tensor<?x1x?xf32>) -> tensor<1xf32>
// CHECK:         nn.reduce_log_sum_exp %[[M]] {keepdims = 0 : i64} : (tensor<1xf32>) -> tensor<f32>
func.func @reduce_dynamic_dims(%x: tensor<?x8x?xf32>) -> tensor<f32> {
  %0 = nn.reduce_sum %x {axes = array<i64: 1>} : (tensor<?x8x?xf32>) -> tensor<?x1x?xf32>
  %1 = nn.reduce_mean %0 {axes = array<i64: -1, 0>, keepdims = 0 : i64} : (tensor<?x1x?xf32>) -> tensor<1xf32>
  %2 = nn.reduce_log_sum_exp %1 {keepdims = 0 : i64} : (tensor<1xf32>) -> tensor<f32>
  func.return %2 : tensor<f32>
}

// -----

// The other reductions, on integers where they allow them.
// CHECK-LABEL: func.func @reduce_family
// CHECK:         nn.reduce_max %{{.+}} {axes = array<i64: 0>} : (tensor<?x8xi32>) -> tensor<1x8xi32>
// CHECK:         nn.reduce_min %{{.+}} {axes = array<i64: 0>} : (tensor<?x8xi32>) -> tensor<1x8xi32>
// CHECK:         nn.reduce_prod %{{.+}} {axes = array<i64: 1>} : (tensor<?x8xi32>) -> tensor<?x1xi32>
// CHECK:         nn.reduce_l1 %{{.+}} : (tensor<?x8xf32>) -> tensor<1x1xf32>
// CHECK:         nn.reduce_l2 %{{.+}} {axes = array<i64: 1>} : (tensor<?x8xf32>) -> tensor<?x1xf32>
// CHECK:         nn.reduce_sum_square %{{.+}} {axes = array<i64: 1>} : (tensor<?x8xf32>) -> tensor<?x1xf32>
func.func @reduce_family(%i: tensor<?x8xi32>, %x: tensor<?x8xf32>) -> (tensor<1x8xi32>, tensor<1x8xi32>, tensor<?x1xi32>, tensor<1x1xf32>, tensor<?x1xf32>, tensor<?x1xf32>) {
  %0 = nn.reduce_max %i {axes = array<i64: 0>} : (tensor<?x8xi32>) -> tensor<1x8xi32>
  %1 = nn.reduce_min %i {axes = array<i64: 0>} : (tensor<?x8xi32>) -> tensor<1x8xi32>
  %2 = nn.reduce_prod %i {axes = array<i64: 1>} : (tensor<?x8xi32>) -> tensor<?x1xi32>
  %3 = nn.reduce_l1 %x : (tensor<?x8xf32>) -> tensor<1x1xf32>
  %4 = nn.reduce_l2 %x {axes = array<i64: 1>} : (tensor<?x8xf32>) -> tensor<?x1xf32>
  %5 = nn.reduce_sum_square %x {axes = array<i64: 1>} : (tensor<?x8xf32>) -> tensor<?x1xf32>
  func.return %0, %1, %2, %3, %4, %5 : tensor<1x8xi32>, tensor<1x8xi32>, tensor<?x1xi32>, tensor<1x1xf32>, tensor<?x1xf32>, tensor<?x1xf32>
}

// -----

// argmax/argmin give i64 indices.
// CHECK-LABEL: func.func @arg_reductions
// CHECK-SAME:    (%[[X:.+]]: tensor<?x10xf32>)
// CHECK:         nn.argmax %[[X]] {axis = 1 : i64, keepdims = 0 : i64} : (tensor<?x10xf32>) -> tensor<?xi64>
// CHECK:         nn.argmin %[[X]] {axis = -1 : i64, select_last_index = 1 : i64} : (tensor<?x10xf32>) -> tensor<?x1xi64>
func.func @arg_reductions(%x: tensor<?x10xf32>) -> (tensor<?xi64>, tensor<?x1xi64>) {
  %0 = nn.argmax %x {axis = 1 : i64, keepdims = 0 : i64} : (tensor<?x10xf32>) -> tensor<?xi64>
  %1 = nn.argmin %x {axis = -1 : i64, select_last_index = 1 : i64} : (tensor<?x10xf32>) -> tensor<?x1xi64>
  func.return %0, %1 : tensor<?xi64>, tensor<?x1xi64>
}
