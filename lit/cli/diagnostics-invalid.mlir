// RUN: dynir-opt %s --split-input-file --verify-diagnostics | FileCheck %s
// RUN: not dynir-opt %s 2>&1 | FileCheck %s --check-prefix=FIRST

// A verifier error names the op, its line and column, and quotes the line.
// CHECK:      diagnostics-invalid.mlir:[[# @LINE + 4]]:3: error: 'nn.add' op shapes 2x4, 3 do not broadcast (axis 1)
// CHECK-NEXT:   %0 = nn.add %x, %y : (tensor<2x4xf32>, tensor<3xf32>) -> tensor<2x4xf32>
// CHECK-NEXT:   ^
func.func @add_mismatch(%x: tensor<2x4xf32>, %y: tensor<3xf32>) -> tensor<2x4xf32> {
  %0 = nn.add %x, %y : (tensor<2x4xf32>, tensor<3xf32>) -> tensor<2x4xf32>
  func.return %0 : tensor<2x4xf32>
}

// -----

// A value used but never defined is reported at its use.
// CHECK:      diagnostics-invalid.mlir:[[# @LINE + 4]]:16: error: use of undefined value '%y'
// CHECK-NEXT:   %0 = nn.relu %y : (tensor<4xf32>) -> tensor<4xf32>
// CHECK-NEXT:                ^~
func.func @undefined_value(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = nn.relu %y : (tensor<4xf32>) -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}

// -----

// An op the nn dialect does not have is reported with the closest names (without
// --split-input-file, parsing the whole file stops here first, with exit code 1).
// CHECK: diagnostics-invalid.mlir:[[# @LINE + 3]]:8: error: unregistered operation 'nn.softmaxx'; did you mean 'nn.softmax'
// FIRST: diagnostics-invalid.mlir:[[# @LINE + 2]]:8: error: unregistered operation 'nn.softmaxx'
func.func @unknown_op(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = nn.softmaxx %x : (tensor<4xf32>) -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}

// -----

// An op of a dialect nobody registered.
// CHECK: diagnostics-invalid.mlir:[[# @LINE + 2]]:3: error: unregistered dialect 'foo' (in op 'foo.bar')
func.func @unknown_dialect() {
  "foo.bar"() : () -> ()
  func.return
}

// -----

// A syntax error points at the token.
// CHECK: diagnostics-invalid.mlir:[[# @LINE + 2]]:31: error: unexpected '+' in block definition
func.func @syntax() -> i32 {
  %0 = arith.constant 1 : i32 +
  func.return %0 : i32
}
