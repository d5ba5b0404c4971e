// RUN: dynir-opt %s --split-input-file --verify-diagnostics | FileCheck %s

// A perm that is not a permutation of the input rank is rejected.
// CHECK: 'nn.transpose' op perm [0, 2] is not a permutation of rank 3
func.func @transpose_short_perm(%x: tensor<2x3x4xf32>) -> tensor<2x4xf32> {
  %0 = nn.transpose %x {perm = array<i64: 0, 2>} : (tensor<2x3x4xf32>) -> tensor<2x4xf32>
  func.return %0 : tensor<2x4xf32>
}

// -----

// Reshape to a different static element count is rejected.
// CHECK: 'nn.reshape' op shape [5] holds 5 elements, input 2x3 holds 6
func.func @reshape_wrong_count(%x: tensor<2x3xf32>) -> tensor<5xf32> {
  %0 = nn.reshape %x {shape = array<i64: 5>} : (tensor<2x3xf32>) -> tensor<5xf32>
  func.return %0 : tensor<5xf32>
}

// -----

// A declared result that contradicts the inferred reshape is rejected.
// CHECK: 'nn.reshape' op result #0 has type tensor<?x64xf32>, but its operands give tensor<?x768xf32>
func.func @reshape_wrong_result(%x: tensor<?x128x768xf32>) -> tensor<?x64xf32> {
  %0 = nn.reshape %x {shape = array<i64: -1, 768>} : (tensor<?x128x768xf32>) -> tensor<?x64xf32>
  func.return %0 : tensor<?x64xf32>
}

// -----

// Squeezing a dim that is statically not 1 is rejected.
// CHECK: 'nn.squeeze' op axes [1] squeeze dim 1 of size 3 in 2x3
func.func @squeeze_non_unit(%x: tensor<2x3xf32>) -> tensor<2xf32> {
  %0 = nn.squeeze %x {axes = array<i64: 1>} : (tensor<2x3xf32>) -> tensor<2xf32>
  func.return %0 : tensor<2xf32>
}

// -----

// Concat operands must agree outside the axis.
// CHECK: 'nn.concat' op operand shapes 2x4, 3x4 differ outside axis 1
func.func @concat_mismatch(%a: tensor<2x4xf32>, %b: tensor<3x4xf32>) -> tensor<2x8xf32> {
  %0 = nn.concat %a, %b {axis = 1 : i64} : (tensor<2x4xf32>, tensor<3x4xf32>) -> tensor<2x8xf32>
  func.return %0 : tensor<2x8xf32>
}

// -----

// Split sizes must add up to the dim.
// CHECK: 'nn.split' op sizes [1, 2] do not add up to the split dim 4
func.func @split_bad_sizes(%x: tensor<4xf32>) -> (tensor<1xf32>, tensor<2xf32>) {
  %0:2 = nn.split %x {axis = 0 : i64, sizes = array<i64: 1, 2>} : (tensor<4xf32>) -> (tensor<1xf32>, tensor<2xf32>)
  func.return %0#0, %0#1 : tensor<1xf32>, tensor<2xf32>
}

// -----

// Pads must hold a begin and an end per dim; the mode must be known.
// CHECK: 'nn.pad' op pads [1, 1] must hold 4 values for rank 2
func.func @pad_short(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = nn.pad %x {pads = array<i64: 1, 1>} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return %0 : tensor<2x3xf32>
}

// -----

// CHECK: 'nn.pad' op mode 'mirror' is not one of constant, reflect, edge, wrap
func.func @pad_bad_mode(%x: tensor<2xf32>) -> tensor<2xf32> {
  %0 = nn.pad %x {pads = array<i64: 0, 0>, mode = "mirror"} : (tensor<2xf32>) -> tensor<2xf32>
  func.return %0 : tensor<2xf32>
}

// -----

// A zero slice step is rejected.
// CHECK: 'nn.slice' op steps [0] contain 0
func.func @slice_zero_step(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = nn.slice %x {starts = array<i64: 0>, ends = array<i64: 4>, steps = array<i64: 0>} : (tensor<4xf32>) -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}

// -----

// Gather indices must be integers.
// CHECK: 'nn.gather' op indices must be an integer tensor, got tensor<2xf32>
func.func @gather_float_indices(%x: tensor<3xf32>, %i: tensor<2xf32>) -> tensor<2xf32> {
  %0 = nn.gather %x, %i {axis = 0 : i64} : (tensor<3xf32>, tensor<2xf32>) -> tensor<2xf32>
  func.return %0 : tensor<2xf32>
}

// -----

// k may not exceed the static dim.
// CHECK: 'nn.topk' op k 5 out of range for dim 1 of 2x3
func.func @topk_k_too_big(%x: tensor<2x3xf32>) -> (tensor<2x5xf32>, tensor<2x5xi64>) {
  %v, %i = nn.topk %x {k = 5 : i64} : (tensor<2x3xf32>) -> (tensor<2x5xf32>, tensor<2x5xi64>)
  func.return %v, %i : tensor<2x5xf32>, tensor<2x5xi64>
}

// -----

// Expand needs a shape that broadcasts with the input.
// CHECK: 'nn.expand' op shape [4, 2] does not broadcast with 3x2
func.func @expand_mismatch(%x: tensor<3x2xf32>) -> tensor<4x2xf32> {
  %0 = nn.expand %x {shape = array<i64: 4, 2>} : (tensor<3x2xf32>) -> tensor<4x2xf32>
  func.return %0 : tensor<4x2xf32>
}
