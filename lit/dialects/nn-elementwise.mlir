// RUN: dynir-opt %s --split-input-file | dynir-opt --split-input-file | FileCheck %s

// Unary math and activations keep their properties and dynamic dims.
// CHECK-LABEL: func.func @activations_dynamic_batch
// CHECK-SAME:    (%[[X:.+]]: tensor<?x8xf32>)
// CHECK:         %[[A:.+]] = nn.leaky_relu %[[X]] {alpha = 1.000000e-01 : f64} : (tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK:         %[[B:.+]] = nn.gelu %[[A]] {approximate = "tanh"} : (tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK:         %[[C:.+]] = nn.clip %[[B]] {min = 0.000000e+00 : f64, max = 6.000000e+00 : f64} : (tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK:         %[[D:.+]] = nn.hard_sigmoid %[[C]] {alpha = 2.500000e-01 : f64, beta = 5.000000e-01 : f64} : (tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK:         %[[E:.+]] = nn.sigmoid %[[D]] : (tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK:         %[[F:.+]] = nn.erf %[[E]] : (tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK:         nn.round %[[F]] : (tensor<?x8xf32>) -> tensor<?x8xf32>
func.func @activations_dynamic_batch(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %0 = nn.leaky_relu %x {alpha = 0.1 : f64} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %1 = nn.gelu %0 {approximate = "tanh"} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %2 = nn.clip %1 {min = 0.0 : f64, max = 6.0 : f64} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %3 = nn.hard_sigmoid %2 {alpha = 0.25 : f64, beta = 0.5 : f64} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %4 = nn.sigmoid %3 : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %5 = nn.erf %4 : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %6 = nn.round %5 : (tensor<?x8xf32>) -> tensor<?x8xf32>
  func.return %6 : tensor<?x8xf32>
}

// -----

// Binary ops broadcast; pow takes an exponent of another element type; mod keeps fmod.
// CHECK-LABEL: func.func @broadcast_arithmetic
// CHECK-SAME:    (%[[X:.+]]: tensor<?x1x4xf32>, %[[Y:.+]]: tensor<3x1xf32>, %[[E:.+]]: tensor<i64>)
// CHECK:         %[[S:.+]] = nn.sub %[[X]], %[[Y]] : (tensor<?x1x4xf32>, tensor<3x1xf32>) -> tensor<?x3x4xf32>
// CHECK:         %[[P:.+]] = nn.pow %[[S]], %[[E]] : (tensor<?x3x4xf32>, tensor<i64>) -> tensor<?x3x4xf32>
// CHECK:         %[[M:.+]] = nn.mod %[[P]], %[[Y]] {fmod = 1 : i64} : (tensor<?x3x4xf32>, tensor<3x1xf32>) -> tensor<?x3x4xf32>
// CHECK:         nn.prelu %[[M]], %[[Y]] : (tensor<?x3x4xf32>, tensor<3x1xf32>) -> tensor<?x3x4xf32>
func.func @broadcast_arithmetic(%x: tensor<?x1x4xf32>, %y: tensor<3x1xf32>, %e: tensor<i64>) -> tensor<?x3x4xf32> {
  %0 = nn.sub %x, %y : (tensor<?x1x4xf32>, tensor<3x1xf32>) -> tensor<?x3x4xf32>
  %1 = nn.pow %0, %e : (tensor<?x3x4xf32>, tensor<i64>) -> tensor<?x3x4xf32>
  %2 = nn.mod %1, %y {fmod = 1 : i64} : (tensor<?x3x4xf32>, tensor<3x1xf32>) -> tensor<?x3x4xf32>
  %3 = nn.prelu %2, %y : (tensor<?x3x4xf32>, tensor<3x1xf32>) -> tensor<?x3x4xf32>
  func.return %3 : tensor<?x3x4xf32>
}

// -----

// Comparisons give i1, logic and where consume it, cast changes the element type.
// CHECK-LABEL: func.func @compare_select_cast
// CHECK-SAME:    (%[[X:.+]]: tensor<?x4xf32>, %[[T:.+]]: tensor<f32>)
// CHECK:         %[[G:.+]] = nn.greater %[[X]], %[[T]] : (tensor<?x4xf32>, tensor<f32>) -> tensor<?x4xi1>
// CHECK:         %[[L:.+]] = nn.less_equal %[[X]], %[[T]] : (tensor<?x4xf32>, tensor<f32>) -> tensor<?x4xi1>
// CHECK:         %[[O:.+]] = nn.xor %[[G]], %[[L]] : (tensor<?x4xi1>, tensor<?x4xi1>) -> tensor<?x4xi1>
// CHECK:         %[[N:.+]] = nn.not %[[O]] : (tensor<?x4xi1>) -> tensor<?x4xi1>
// CHECK:         %[[W:.+]] = nn.where %[[N]], %[[X]], %[[T]] : (tensor<?x4xi1>, tensor<?x4xf32>, tensor<f32>) -> tensor<?x4xf32>
// CHECK:         nn.cast %[[W]] {to = i64} : (tensor<?x4xf32>) -> tensor<?x4xi64>
func.func @compare_select_cast(%x: tensor<?x4xf32>, %t: tensor<f32>) -> tensor<?x4xi64> {
  %0 = nn.greater %x, %t : (tensor<?x4xf32>, tensor<f32>) -> tensor<?x4xi1>
  %1 = nn.less_equal %x, %t : (tensor<?x4xf32>, tensor<f32>) -> tensor<?x4xi1>
  %2 = nn.xor %0, %1 : (tensor<?x4xi1>, tensor<?x4xi1>) -> tensor<?x4xi1>
  %3 = nn.not %2 : (tensor<?x4xi1>) -> tensor<?x4xi1>
  %4 = nn.where %3, %x, %t : (tensor<?x4xi1>, tensor<?x4xf32>, tensor<f32>) -> tensor<?x4xf32>
  %5 = nn.cast %4 {to = i64} : (tensor<?x4xf32>) -> tensor<?x4xi64>
  func.return %5 : tensor<?x4xi64>
}
