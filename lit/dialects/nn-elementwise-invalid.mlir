// RUN: dynir-opt %s --split-input-file --verify-diagnostics | FileCheck %s

// Float-only math rejects integer element types, naming the type.
// CHECK: 'nn.exp' op element type i32 is not a float type
func.func @exp_of_integers(%x: tensor<4xi32>) -> tensor<4xi32> {
  %0 = nn.exp %x : (tensor<4xi32>) -> tensor<4xi32>
  func.return %0 : tensor<4xi32>
}

// -----

// Logic wants i1.
// CHECK: 'nn.and' op element type f32 is not i1
func.func @and_of_floats(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = nn.and %x, %x : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}

// -----

// Binary operands must share an element type (pow excepted).
// CHECK: 'nn.mul' op operand element types differ: tensor<4xf32> vs tensor<4xi32>
func.func @mul_mixed_types(%x: tensor<4xf32>, %y: tensor<4xi32>) -> tensor<4xf32> {
  %0 = nn.mul %x, %y : (tensor<4xf32>, tensor<4xi32>) -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}

// -----

// A comparison declared with a non-i1 result is rejected.
// CHECK: 'nn.less' op result #0 has type tensor<4xf32>, but its operands give tensor<4xi1>
func.func @less_wrong_result(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = nn.less %x, %x : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}

// -----

// Float mod needs fmod = 1.
// CHECK: 'nn.mod' op fmod = 0 is not defined for f32; use fmod = 1
func.func @float_mod_without_fmod(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = nn.mod %x, %x : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}

// -----

// An unknown gelu approximation is rejected.
// CHECK: 'nn.gelu' op approximate must be "none" or "tanh", got "fast"
func.func @gelu_unknown_approximation(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = nn.gelu %x {approximate = "fast"} : (tensor<4xf32>) -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}

// -----

// The where condition must be i1.
// CHECK: 'nn.where' op condition element type f32 is not i1
func.func @where_float_condition(%c: tensor<4xf32>, %x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = nn.where %c, %x, %x : (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}

// -----

// A cast whose result does not have the `to` element type is rejected.
// CHECK: 'nn.cast' op result #0 has type tensor<4xi32>, but its operands give tensor<4xi64>
func.func @cast_wrong_result(%x: tensor<4xf32>) -> tensor<4xi32> {
  %0 = nn.cast %x {to = i64} : (tensor<4xf32>) -> tensor<4xi32>
  func.return %0 : tensor<4xi32>
}
