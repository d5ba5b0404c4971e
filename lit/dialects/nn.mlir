// RUN: dynir-opt %s | dynir-opt | FileCheck %s

// A constant, a broadcast add and a relu survive a round trip with dynamic dims.
// CHECK-LABEL: func.func @bias_relu_dynamic_batch
// CHECK-SAME:    (%[[X:.+]]: tensor<?x4xf32>)
// CHECK:         %[[B:.+]] = nn.constant {value = dense<[1.000000e+00, -2.000000e+00, 3.000000e+00, -4.000000e+00]> : tensor<4xf32>} : tensor<4xf32>
// CHECK:         %[[S:.+]] = nn.add %[[X]], %[[B]] : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
// CHECK:         nn.relu %[[S]] : (tensor<?x4xf32>) -> tensor<?x4xf32>
func.func @bias_relu_dynamic_batch(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %b = nn.constant {value = dense<[1.0, -2.0, 3.0, -4.0]> : tensor<4xf32>} : tensor<4xf32>
  %0 = nn.add %x, %b : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %1 = nn.relu %0 : (tensor<?x4xf32>) -> tensor<?x4xf32>
  func.return %1 : tensor<?x4xf32>
}
