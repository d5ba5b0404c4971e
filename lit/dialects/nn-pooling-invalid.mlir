// RUN: dynir-opt %s --split-input-file --verify-diagnostics | FileCheck %s

// One kernel size per spatial dim.
// CHECK: 'nn.max_pool' op kernel_shape [3] must hold 2 positive values (one per spatial dim)
func.func @max_pool_kernel_rank(%x: tensor<1x2x5x5xf32>) -> tensor<1x2x3x3xf32> {
  %0 = nn.max_pool %x {kernel_shape = array<i64: 3>} : (tensor<1x2x5x5xf32>) -> tensor<1x2x3x3xf32>
  func.return %0 : tensor<1x2x3x3xf32>
}

// -----

// The window must fit the padded input.
// CHECK: 'nn.average_pool' op window of 3 (kernel 3, dilation 1) does not fit input size 2 with pads [0, 0]
func.func @average_pool_window_too_large(%x: tensor<1x2x2x5xf32>) -> tensor<1x2x1x3xf32> {
  %0 = nn.average_pool %x {kernel_shape = array<i64: 3, 3>} : (tensor<1x2x2x5xf32>) -> tensor<1x2x1x3xf32>
  func.return %0 : tensor<1x2x1x3xf32>
}

// -----

// Pads are given as all begins, then all ends.
// CHECK: 'nn.max_pool' op pads has 2 values, expected 4 (begins, then ends)
func.func @max_pool_pad_count(%x: tensor<1x2x5x5xf32>) -> tensor<1x2x3x3xf32> {
  %0 = nn.max_pool %x {kernel_shape = array<i64: 3, 3>, pads = array<i64: 1, 1>} : (tensor<1x2x5x5xf32>) -> tensor<1x2x3x3xf32>
  func.return %0 : tensor<1x2x3x3xf32>
}

// -----

// Global pools need N, C and at least one spatial dim.
// CHECK: 'nn.global_average_pool' op input must have rank >= 3 (N, C, spatial...), got 2x3
func.func @global_pool_rank(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = nn.global_average_pool %x : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return %0 : tensor<2x3xf32>
}

// -----

// Resize modes are checked by name.
// CHECK: 'nn.resize' op mode 'area' is not one of nearest, linear, cubic
func.func @resize_unknown_mode(%x: tensor<1x2x4x4xf32>) -> tensor<1x2x8x8xf32> {
  %0 = nn.resize %x {mode = "area", scales = array<f64: 1.0, 1.0, 2.0, 2.0>} : (tensor<1x2x4x4xf32>) -> tensor<1x2x8x8xf32>
  func.return %0 : tensor<1x2x8x8xf32>
}

// -----

// Scales hold one value per dim.
// CHECK: 'nn.resize' op scales [2.0, 2.0] must hold 4 positive values for input 1x2x4x4
func.func @resize_scales_rank(%x: tensor<1x2x4x4xf32>) -> tensor<1x2x8x8xf32> {
  %0 = nn.resize %x {scales = array<f64: 2.0, 2.0>} : (tensor<1x2x4x4xf32>) -> tensor<1x2x8x8xf32>
  func.return %0 : tensor<1x2x8x8xf32>
}

// -----

// Output dims are floor(in * scale): 4 x 2.5 = 10, not 8.
// CHECK: 'nn.resize' op result #0 has type tensor<1x2x8x8xf32>, but its operands give tensor<1x2x10x10xf32>
func.func @resize_wrong_result(%x: tensor<1x2x4x4xf32>) -> tensor<1x2x8x8xf32> {
  %0 = nn.resize %x {scales = array<f64: 1.0, 1.0, 2.5, 2.5>} : (tensor<1x2x4x4xf32>) -> tensor<1x2x8x8xf32>
  func.return %0 : tensor<1x2x8x8xf32>
}
