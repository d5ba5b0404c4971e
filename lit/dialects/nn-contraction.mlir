// RUN: dynir-opt %s | dynir-opt | FileCheck %s

// Batched matmul with a broadcast weight keeps the dynamic batch dim.
// CHECK-LABEL: func.func @matmul_dynamic_batch
// CHECK-SAME:    (%[[A:.+]]: tensor<?x4x8xf32>, %[[B:.+]]: tensor<8x16xf32>)
// CHECK:         nn.matmul %[[A]], %[[B]] : (tensor<?x4x8xf32>, tensor<8x16xf32>) -> tensor<?x4x16xf32>
func.func @matmul_dynamic_batch(%a: tensor<?x4x8xf32>, %b: tensor<8x16xf32>) -> tensor<?x4x16xf32> {
  %0 = nn.matmul %a, %b : (tensor<?x4x8xf32>, tensor<8x16xf32>) -> tensor<?x4x16xf32>
  func.return %0 : tensor<?x4x16xf32>
}

// A matrix-vector product drops the promoted dim.
// CHECK-LABEL: func.func @matmul_vector
// CHECK:         nn.matmul %{{.+}}, %{{.+}} : (tensor<3x4xf32>, tensor<4xf32>) -> tensor<3xf32>
func.func @matmul_vector(%a: tensor<3x4xf32>, %v: tensor<4xf32>) -> tensor<3xf32> {
  %0 = nn.matmul %a, %v : (tensor<3x4xf32>, tensor<4xf32>) -> tensor<3xf32>
  func.return %0 : tensor<3xf32>
}

// Gemm keeps its float and transpose attributes.
// CHECK-LABEL: func.func @gemm_classifier
// CHECK-SAME:    (%[[X:.+]]: tensor<?x512xf32>, %[[W:.+]]: tensor<10x512xf32>, %[[C:.+]]: tensor<10xf32>)
// CHECK:         nn.gemm %[[X]], %[[W]], %[[C]] {alpha = 5.000000e-01 : f64, trans_b = 1 : i64} : (tensor<?x512xf32>, tensor<10x512xf32>, tensor<10xf32>) -> tensor<?x10xf32>
func.func @gemm_classifier(%x: tensor<?x512xf32>, %w: tensor<10x512xf32>, %c: tensor<10xf32>) -> tensor<?x10xf32> {
  %0 = nn.gemm %x, %w, %c {alpha = 0.5 : f64, trans_b = 1 : i64} : (tensor<?x512xf32>, tensor<10x512xf32>, tensor<10xf32>) -> tensor<?x10xf32>
  func.return %0 : tensor<?x10xf32>
}

// A strided, padded conv keeps batch and spatial dims symbolic.
// CHECK-LABEL: func.func @conv_stem_dynamic
// CHECK-SAME:    (%[[X:.+]]: tensor<?x3x?x?xf32>, %[[W:.+]]: tensor<64x3x7x7xf32>, %[[B:.+]]: tensor<64xf32>)
// CHECK:         nn.conv %[[X]], %[[W]], %[[B]] {strides = array<i64: 2, 2>, pads = array<i64: 3, 3, 3, 3>} : (tensor<?x3x?x?xf32>, tensor<64x3x7x7xf32>, tensor<64xf32>) -> tensor<?x64x?x?xf32>
func.func @conv_stem_dynamic(%x: tensor<?x3x?x?xf32>, %w: tensor<64x3x7x7xf32>, %b: tensor<64xf32>) -> tensor<?x64x?x?xf32> {
  %0 = nn.conv %x, %w, %b {strides = array<i64: 2, 2>, pads = array<i64: 3, 3, 3, 3>} : (tensor<?x3x?x?xf32>, tensor<64x3x7x7xf32>, tensor<64xf32>) -> tensor<?x64x?x?xf32>
  func.return %0 : tensor<?x64x?x?xf32>
}

// A depthwise, dilated 1-D conv.
// CHECK-LABEL: func.func @conv_depthwise_dilated_1d
// CHECK:         nn.conv %{{.+}}, %{{.+}}, %{{.+}} {dilations = array<i64: 2>, group = 8 : i64} : (tensor<1x8x20xf32>, tensor<8x1x3xf32>, tensor<8xf32>) -> tensor<1x8x16xf32>
func.func @conv_depthwise_dilated_1d(%x: tensor<1x8x20xf32>, %w: tensor<8x1x3xf32>, %b: tensor<8xf32>) -> tensor<1x8x16xf32> {
  %0 = nn.conv %x, %w, %b {dilations = array<i64: 2>, group = 8 : i64} : (tensor<1x8x20xf32>, tensor<8x1x3xf32>, tensor<8xf32>) -> tensor<1x8x16xf32>
  func.return %0 : tensor<1x8x16xf32>
}

// A transposed conv doubling the spatial size with output_padding.
// CHECK-LABEL: func.func @conv_transpose_upsample
// CHECK:         nn.conv_transpose %{{.+}}, %{{.+}}, %{{.+}} {strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, output_padding = array<i64: 1, 1>} : (tensor<?x8x4x4xf32>, tensor<8x4x3x3xf32>, tensor<4xf32>) -> tensor<?x4x8x8xf32>
func.func @conv_transpose_upsample(%x: tensor<?x8x4x4xf32>, %w: tensor<8x4x3x3xf32>, %b: tensor<4xf32>) -> tensor<?x4x8x8xf32> {
  %0 = nn.conv_transpose %x, %w, %b {strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, output_padding = array<i64: 1, 1>} : (tensor<?x8x4x4xf32>, tensor<8x4x3x3xf32>, tensor<4xf32>) -> tensor<?x4x8x8xf32>
  func.return %0 : tensor<?x4x8x8xf32>
}
