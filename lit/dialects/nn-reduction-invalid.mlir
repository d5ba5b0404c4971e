// RUN: dynir-opt %s --split-input-file --verify-diagnostics | FileCheck %s

// An axis past the rank is rejected.
// CHECK: 'nn.reduce_sum' op axis 3 out of range for rank 2
func.func @reduce_axis_out_of_range(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = nn.reduce_sum %x {axes = array<i64: 3>} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return %0 : tensor<2x3xf32>
}

// -----

// The same axis twice is rejected.
// CHECK: 'nn.reduce_max' op axes [1, -1] name an axis twice
func.func @reduce_axis_twice(%x: tensor<2x3xf32>) -> tensor<2x1xf32> {
  %0 = nn.reduce_max %x {axes = array<i64: 1, -1>} : (tensor<2x3xf32>) -> tensor<2x1xf32>
  func.return %0 : tensor<2x1xf32>
}

// -----

// keepdims is 0 or 1.
// CHECK: 'nn.reduce_mean' op keepdims must be 0 or 1, got 2
func.func @reduce_bad_keepdims(%x: tensor<2x3xf32>) -> tensor<2x1xf32> {
  %0 = nn.reduce_mean %x {axes = array<i64: 1>, keepdims = 2 : i64} : (tensor<2x3xf32>) -> tensor<2x1xf32>
  func.return %0 : tensor<2x1xf32>
}

// -----

// A declared result that keeps the reduced dim while keepdims = 0 is rejected.
// CHECK: 'nn.reduce_sum' op result #0 has type tensor<2x1xf32>, but its operands give tensor<2xf32>
func.func @reduce_wrong_result(%x: tensor<2x3xf32>) -> tensor<2x1xf32> {
  %0 = nn.reduce_sum %x {axes = array<i64: 1>, keepdims = 0 : i64} : (tensor<2x3xf32>) -> tensor<2x1xf32>
  func.return %0 : tensor<2x1xf32>
}

// -----

// The L2 norm is float-only.
// CHECK: 'nn.reduce_l2' op element type i32 is not a float type
func.func @reduce_l2_of_integers(%x: tensor<2x3xi32>) -> tensor<1x1xi32> {
  %0 = nn.reduce_l2 %x : (tensor<2x3xi32>) -> tensor<1x1xi32>
  func.return %0 : tensor<1x1xi32>
}

// -----

// argmax over an empty axis has nothing to select.
// CHECK: 'nn.argmax' op axis 1 has size 0: no element to select
func.func @argmax_empty_axis(%x: tensor<3x0xf32>) -> tensor<3x1xi64> {
  %0 = nn.argmax %x {axis = 1 : i64} : (tensor<3x0xf32>) -> tensor<3x1xi64>
  func.return %0 : tensor<3x1xi64>
}

// -----

// argmax results are i64.
// CHECK: 'nn.argmax' op result #0 has type tensor<3x1xi32>, but its operands give tensor<3x1xi64>
func.func @argmax_i32_result(%x: tensor<3x4xf32>) -> tensor<3x1xi32> {
  %0 = nn.argmax %x {axis = 1 : i64} : (tensor<3x4xf32>) -> tensor<3x1xi32>
  func.return %0 : tensor<3x1xi32>
}
