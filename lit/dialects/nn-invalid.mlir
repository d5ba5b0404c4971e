// RUN: dynir-opt %s --split-input-file --verify-diagnostics | FileCheck %s

// Static dims that cannot broadcast are rejected, naming both shapes.
// CHECK: 'nn.add' op shapes 2x4, 3 do not broadcast (axis 1)
func.func @add_mismatch(%x: tensor<2x4xf32>, %y: tensor<3xf32>) -> tensor<2x4xf32> {
  %0 = nn.add %x, %y : (tensor<2x4xf32>, tensor<3xf32>) -> tensor<2x4xf32>
  func.return %0 : tensor<2x4xf32>
}

// -----

// A declared result shape that contradicts inference is rejected.
// CHECK: 'nn.relu' op result #0 has type tensor<3x4xf32>, but its operands give tensor<2x4xf32>
func.func @relu_wrong_result(%x: tensor<2x4xf32>) -> tensor<3x4xf32> {
  %0 = nn.relu %x : (tensor<2x4xf32>) -> tensor<3x4xf32>
  func.return %0 : tensor<3x4xf32>
}
