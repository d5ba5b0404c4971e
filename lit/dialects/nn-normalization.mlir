// RUN: dynir-opt %s --split-input-file | dynir-opt --split-input-file | FileCheck %s

// softmax and log_softmax along one axis.
// CHECK-LABEL: func.func @softmax_dynamic_batch
// CHECK-SAME:    (%[[X:.+]]: tensor<?x128xf32>)
// CHECK:         %[[S:.+]] = nn.softmax %[[X]] {axis = -1 : i64} : (tensor<?x128xf32>) -> tensor<?x128xf32>
// CHECK:         nn.log_softmax %[[S]] {axis = 0 : i64} : (tensor<?x128xf32>) -> tensor<?x128xf32>
func.func @softmax_dynamic_batch(%x: tensor<?x128xf32>) -> tensor<?x128xf32> {
  %0 = nn.softmax %x {axis = -1 : i64} : (tensor<?x128xf32>) -> tensor<?x128xf32>
  %1 = nn.log_softmax %0 {axis = 0 : i64} : (tensor<?x128xf32>) -> tensor<?x128xf32>
  func.return %1 : tensor<?x128xf32>
}

// -----

// layer_norm over the last dim, with a scalar bias that broadcasts.
// CHECK-LABEL: func.func @layer_norm_transformer
// CHECK-SAME:    (%[[X:.+]]: tensor<?x?x768xf32>, %[[G:.+]]: tensor<768xf32>, %[[B:.+]]: tensor<f32>)
// CHECK:         nn.layer_norm %[[X]], %[[G]], %[[B]] {axis = -1 : i64, epsilon = 1.000000e-05 : f64} : (tensor<?x?x768xf32>, tensor<768xf32>, tensor<f32>) -> tensor<?x?x768xf32>
func.func @layer_norm_transformer(%x: tensor<?x?x768xf32>, %g: tensor<768xf32>, %b: tensor<f32>) -> tensor<?x?x768xf32> {
  %0 = nn.layer_norm %x, %g, %b {axis = -1 : i64, epsilon = 1.0e-05 : f64} : (tensor<?x?x768xf32>, tensor<768xf32>, tensor<f32>) -> tensor<?x?x768xf32>
  func.return %0 : tensor<?x?x768xf32>
}

// -----

// batch_norm (inference) and instance_norm take per-channel [C] parameters.
// CHECK-LABEL: func.func @channel_norms
// CHECK-SAME:    (%[[X:.+]]: tensor<?x8x?x?xf32>, %[[P:.+]]: tensor<8xf32>)
// CHECK:         %[[B:.+]] = nn.batch_norm %[[X]], %[[P]], %[[P]], %[[P]], %[[P]] {epsilon = 1.000000e-03 : f64} : (tensor<?x8x?x?xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x8x?x?xf32>
// CHECK:         nn.instance_norm %[[B]], %[[P]], %[[P]] : (tensor<?x8x?x?xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x8x?x?xf32>
func.func @channel_norms(%x: tensor<?x8x?x?xf32>, %p: tensor<8xf32>) -> tensor<?x8x?x?xf32> {
  %0 = nn.batch_norm %x, %p, %p, %p, %p {epsilon = 1.0e-03 : f64} : (tensor<?x8x?x?xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x8x?x?xf32>
  %1 = nn.instance_norm %0, %p, %p : (tensor<?x8x?x?xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x8x?x?xf32>
  func.return %1 : tensor<?x8x?x?xf32>
}
