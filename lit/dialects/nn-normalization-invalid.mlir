// RUN: dynir-opt %s --split-input-file --verify-diagnostics | FileCheck %s

// The softmax axis must lie within the rank.
// CHECK: 'nn.softmax' op axis 3 out of range for rank 2
func.func @softmax_axis_out_of_range(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %0 = nn.softmax %x {axis = 3 : i64} : (tensor<2x4xf32>) -> tensor<2x4xf32>
  func.return %0 : tensor<2x4xf32>
}

// -----

// softmax is float-only.
// CHECK: 'nn.log_softmax' op element type i64 is not a float type
func.func @log_softmax_of_integers(%x: tensor<2x4xi64>) -> tensor<2x4xi64> {
  %0 = nn.log_softmax %x : (tensor<2x4xi64>) -> tensor<2x4xi64>
  func.return %0 : tensor<2x4xi64>
}

// -----

// layer_norm's scale must broadcast to the normalized dims.
// CHECK: 'nn.layer_norm' op scale shape 5 does not broadcast to the normalized shape 4
func.func @layer_norm_bad_scale(%x: tensor<2x4xf32>, %g: tensor<5xf32>, %b: tensor<4xf32>) -> tensor<2x4xf32> {
  %0 = nn.layer_norm %x, %g, %b : (tensor<2x4xf32>, tensor<5xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  func.return %0 : tensor<2x4xf32>
}

// -----

// batch_norm statistics are [C] with the input's channel count.
// CHECK: 'nn.batch_norm' op variance shape 4 must be [C] with C = 8
func.func @batch_norm_bad_variance(%x: tensor<1x8x2xf32>, %p: tensor<8xf32>, %v: tensor<4xf32>) -> tensor<1x8x2xf32> {
  %0 = nn.batch_norm %x, %p, %p, %p, %v : (tensor<1x8x2xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<4xf32>) -> tensor<1x8x2xf32>
  func.return %0 : tensor<1x8x2xf32>
}

// -----

// instance_norm needs spatial dims.
// CHECK: 'nn.instance_norm' op input rank 2 is below 3 (N x C x ...)
func.func @instance_norm_rank2(%x: tensor<2x8xf32>, %p: tensor<8xf32>) -> tensor<2x8xf32> {
  %0 = nn.instance_norm %x, %p, %p : (tensor<2x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<2x8xf32>
  func.return %0 : tensor<2x8xf32>
}

// -----

// epsilon must not be negative.
// CHECK: 'nn.instance_norm' op epsilon must not be negative, got -1.0
func.func @instance_norm_negative_epsilon(%x: tensor<2x8x3xf32>, %p: tensor<8xf32>) -> tensor<2x8x3xf32> {
  %0 = nn.instance_norm %x, %p, %p {epsilon = -1.0 : f64} : (tensor<2x8x3xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<2x8x3xf32>
  func.return %0 : tensor<2x8x3xf32>
}
