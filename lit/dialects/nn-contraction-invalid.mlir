// RUN: dynir-opt %s --split-input-file --verify-diagnostics | FileCheck %s

// Matmul contraction dims must agree.
// CHECK: 'nn.matmul' op contraction dims differ: 2x3 @ 4x5 (3 vs 4)
func.func @matmul_contraction_mismatch(%a: tensor<2x3xf32>, %b: tensor<4x5xf32>) -> tensor<2x5xf32> {
  %0 = nn.matmul %a, %b : (tensor<2x3xf32>, tensor<4x5xf32>) -> tensor<2x5xf32>
  func.return %0 : tensor<2x5xf32>
}

// -----

// Gemm's c must broadcast to the (M, N) result.
// CHECK: 'nn.gemm' op c 4 does not broadcast to the result 3x5
func.func @gemm_bad_c(%a: tensor<3x4xf32>, %b: tensor<4x5xf32>, %c: tensor<4xf32>) -> tensor<3x5xf32> {
  %0 = nn.gemm %a, %b, %c : (tensor<3x4xf32>, tensor<4x5xf32>, tensor<4xf32>) -> tensor<3x5xf32>
  func.return %0 : tensor<3x5xf32>
}

// -----

// Input channels must equal the weight's channels times group; both shapes are named.
// CHECK: 'nn.conv' op input 1x6x5x5 has 6 channels, but weight 4x2x3x3 with group 2 takes 4
func.func @conv_group_channel_mismatch(%x: tensor<1x6x5x5xf32>, %w: tensor<4x2x3x3xf32>, %b: tensor<4xf32>) -> tensor<1x4x3x3xf32> {
  %0 = nn.conv %x, %w, %b {group = 2 : i64} : (tensor<1x6x5x5xf32>, tensor<4x2x3x3xf32>, tensor<4xf32>) -> tensor<1x4x3x3xf32>
  func.return %0 : tensor<1x4x3x3xf32>
}

// -----

// Output channels must split into the groups.
// CHECK: 'nn.conv' op weight 6x1x3x3: 6 output channels do not split into 4 groups
func.func @conv_output_channels_not_grouped(%x: tensor<1x4x5x5xf32>, %w: tensor<6x1x3x3xf32>, %b: tensor<6xf32>) -> tensor<1x6x3x3xf32> {
  %0 = nn.conv %x, %w, %b {group = 4 : i64} : (tensor<1x4x5x5xf32>, tensor<6x1x3x3xf32>, tensor<6xf32>) -> tensor<1x6x3x3xf32>
  func.return %0 : tensor<1x6x3x3xf32>
}

// -----

// One stride per spatial dim.
// CHECK: 'nn.conv' op strides has 1 values, expected 2 (one per spatial dim)
func.func @conv_wrong_stride_count(%x: tensor<1x3x5x5xf32>, %w: tensor<4x3x3x3xf32>, %b: tensor<4xf32>) -> tensor<1x4x3x3xf32> {
  %0 = nn.conv %x, %w, %b {strides = array<i64: 2>} : (tensor<1x3x5x5xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>) -> tensor<1x4x3x3xf32>
  func.return %0 : tensor<1x4x3x3xf32>
}

// -----

// A declared result that contradicts the window arithmetic.
// CHECK: 'nn.conv' op result #0 has type tensor<1x4x5x5xf32>, but its operands give tensor<1x4x3x3xf32>
func.func @conv_wrong_result(%x: tensor<1x3x5x5xf32>, %w: tensor<4x3x3x3xf32>, %b: tensor<4xf32>) -> tensor<1x4x5x5xf32> {
  %0 = nn.conv %x, %w, %b : (tensor<1x3x5x5xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>) -> tensor<1x4x5x5xf32>
  func.return %0 : tensor<1x4x5x5xf32>
}

// -----

// The transposed conv's bias has one value per output channel (weight dim 1 x group).
// CHECK: 'nn.conv_transpose' op bias must have shape 4 (output channels), got 8
func.func @conv_transpose_bad_bias(%x: tensor<1x8x4x4xf32>, %w: tensor<8x4x3x3xf32>, %b: tensor<8xf32>) -> tensor<1x4x6x6xf32> {
  %0 = nn.conv_transpose %x, %w, %b : (tensor<1x8x4x4xf32>, tensor<8x4x3x3xf32>, tensor<8xf32>) -> tensor<1x4x6x6xf32>
  func.return %0 : tensor<1x4x6x6xf32>
}
