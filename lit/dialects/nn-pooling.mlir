// RUN: dynir-opt %s | dynir-opt | FileCheck %s

// ResNet's stem max pool on dynamic batch and spatial dims.
// CHECK-LABEL: func.func @max_pool_dynamic
// CHECK-SAME:    (%[[X:.+]]: tensor<?x64x?x?xf32>)
// CHECK:         nn.max_pool %[[X]] {kernel_shape = array<i64: 3, 3>, strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>} : (tensor<?x64x?x?xf32>) -> tensor<?x64x?x?xf32>
func.func @max_pool_dynamic(%x: tensor<?x64x?x?xf32>) -> tensor<?x64x?x?xf32> {
  %0 = nn.max_pool %x {kernel_shape = array<i64: 3, 3>, strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>} : (tensor<?x64x?x?xf32>) -> tensor<?x64x?x?xf32>
  func.return %0 : tensor<?x64x?x?xf32>
}

// Ceil mode adds the partial last window: 7 -> 4 with kernel 2, stride 2.
// CHECK-LABEL: func.func @average_pool_ceil
// CHECK:         nn.average_pool %{{.+}} {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>, ceil_mode = 1 : i64, count_include_pad = 1 : i64} : (tensor<1x8x7x7xf32>) -> tensor<1x8x4x4xf32>
func.func @average_pool_ceil(%x: tensor<1x8x7x7xf32>) -> tensor<1x8x4x4xf32> {
  %0 = nn.average_pool %x {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>, ceil_mode = 1 : i64, count_include_pad = 1 : i64} : (tensor<1x8x7x7xf32>) -> tensor<1x8x4x4xf32>
  func.return %0 : tensor<1x8x4x4xf32>
}

// Lp pooling keeps its float exponent.
// CHECK-LABEL: func.func @lp_pool
// CHECK:         nn.lp_pool %{{.+}} {kernel_shape = array<i64: 2, 2>, p = 3.000000e+00 : f64} : (tensor<1x3x8x8xf32>) -> tensor<1x3x7x7xf32>
func.func @lp_pool(%x: tensor<1x3x8x8xf32>) -> tensor<1x3x7x7xf32> {
  %0 = nn.lp_pool %x {kernel_shape = array<i64: 2, 2>, p = 3.0 : f64} : (tensor<1x3x8x8xf32>) -> tensor<1x3x7x7xf32>
  func.return %0 : tensor<1x3x7x7xf32>
}

// Global pools keep N and C and set every spatial dim to 1.
// CHECK-LABEL: func.func @global_pools
// CHECK:         nn.global_average_pool %{{.+}} : (tensor<?x2048x7x7xf32>) -> tensor<?x2048x1x1xf32>
// CHECK:         nn.global_max_pool %{{.+}} : (tensor<?x2048x7x7xf32>) -> tensor<?x2048x1x1xf32>
func.func @global_pools(%x: tensor<?x2048x7x7xf32>) -> (tensor<?x2048x1x1xf32>, tensor<?x2048x1x1xf32>) {
  %0 = nn.global_average_pool %x : (tensor<?x2048x7x7xf32>) -> tensor<?x2048x1x1xf32>
  %1 = nn.global_max_pool %x : (tensor<?x2048x7x7xf32>) -> tensor<?x2048x1x1xf32>
  func.return %0, %1 : tensor<?x2048x1x1xf32>, tensor<?x2048x1x1xf32>
}

// YOLO's nearest 2x upsampling by scales keeps dynamic dims dynamic.
// CHECK-LABEL: func.func @resize_nearest_2x
// CHECK:         nn.resize %{{.+}} {mode = "nearest", coordinate_transformation_mode = "asymmetric", nearest_mode = "floor", scales = array<f64: 1.000000e+00, 1.000000e+00, 2.000000e+00, 2.000000e+00>} : (tensor<?x256x?x20xf32>) -> tensor<?x256x?x40xf32>
func.func @resize_nearest_2x(%x: tensor<?x256x?x20xf32>) -> tensor<?x256x?x40xf32> {
  %0 = nn.resize %x {mode = "nearest", coordinate_transformation_mode = "asymmetric", nearest_mode = "floor", scales = array<f64: 1.0, 1.0, 2.0, 2.0>} : (tensor<?x256x?x20xf32>) -> tensor<?x256x?x40xf32>
  func.return %0 : tensor<?x256x?x40xf32>
}

// Resizing to fixed sizes gives static dims even from dynamic ones.
// CHECK-LABEL: func.func @resize_linear_sizes
// CHECK:         nn.resize %{{.+}} {mode = "linear", sizes = array<i64: 1, 3, 224, 224>} : (tensor<1x3x?x?xf32>) -> tensor<1x3x224x224xf32>
func.func @resize_linear_sizes(%x: tensor<1x3x?x?xf32>) -> tensor<1x3x224x224xf32> {
  %0 = nn.resize %x {mode = "linear", sizes = array<i64: 1, 3, 224, 224>} : (tensor<1x3x?x?xf32>) -> tensor<1x3x224x224xf32>
  func.return %0 : tensor<1x3x224x224xf32>
}
