// RUN: dynir-opt %s --split-input-file -p fuse-epilogue | FileCheck %s
// RUN: dynir-opt %s --split-input-file -p fuse-epilogue --remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=REMARK

// matmul + bias add + relu, dynamic batch: one epilogue group.
// CHECK-LABEL: func.func @bias_relu_dynamic_batch
// CHECK: %[[G:.+]] = fusion.group (%{{.+}}, %{{.+}}, %{{.+}}) {kind = "epilogue"} : (tensor<?x8xf32>, tensor<8x16xf32>, tensor<16xf32>) -> (tensor<?x16xf32>)
// CHECK-NEXT: ^bb0
// CHECK-NEXT: nn.matmul
// CHECK-NEXT: nn.add
// CHECK-NEXT: nn.relu
// CHECK-NEXT: fusion.yield
// CHECK: func.return %[[G]]
func.func @bias_relu_dynamic_batch(%x: tensor<?x8xf32>, %w: tensor<8x16xf32>, %b: tensor<16xf32>) -> tensor<?x16xf32> {
  %0 = nn.matmul %x, %w : (tensor<?x8xf32>, tensor<8x16xf32>) -> tensor<?x16xf32>
  %1 = nn.add %0, %b : (tensor<?x16xf32>, tensor<16xf32>) -> tensor<?x16xf32>
  %2 = nn.relu %1 : (tensor<?x16xf32>) -> tensor<?x16xf32>
  func.return %2 : tensor<?x16xf32>
}

// -----

// conv + residual add + clip.
// CHECK-LABEL: func.func @conv_residual_clip
// CHECK: fusion.group {{.+}} {kind = "epilogue"}
// CHECK-NEXT: ^bb0
// CHECK-NEXT: nn.conv
// CHECK-NEXT: nn.add
// CHECK-NEXT: nn.clip
// CHECK-NEXT: fusion.yield
func.func @conv_residual_clip(%x: tensor<1x2x5x5xf32>, %w: tensor<2x2x3x3xf32>, %b: tensor<2xf32>) -> tensor<1x2x5x5xf32> {
  %0 = nn.conv %x, %w, %b {pads = array<i64: 1, 1, 1, 1>} : (tensor<1x2x5x5xf32>, tensor<2x2x3x3xf32>, tensor<2xf32>) -> tensor<1x2x5x5xf32>
  %1 = nn.add %0, %x : (tensor<1x2x5x5xf32>, tensor<1x2x5x5xf32>) -> tensor<1x2x5x5xf32>
  %2 = nn.clip %1 {min = 0.0 : f64, max = 6.0 : f64} : (tensor<1x2x5x5xf32>) -> tensor<1x2x5x5xf32>
  func.return %2 : tensor<1x2x5x5xf32>
}

// -----

// A matmul whose result has three users is not fused.
// CHECK-LABEL: func.func @multi_use_producer
// CHECK-NOT: fusion.group
// REMARK: remark: [fuse-epilogue] not fused: producer has 3 users
func.func @multi_use_producer(%x: tensor<4x8xf32>, %w: tensor<8x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) {
  %0 = nn.matmul %x, %w : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  %1 = nn.relu %0 : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %2 = nn.exp %0 : (tensor<4x8xf32>) -> tensor<4x8xf32>
  func.return %0, %1, %2 : tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>
}

// -----

// A consumer that broadcasts the result to a larger shape stays outside.
// CHECK-LABEL: func.func @broadcasting_consumer
// CHECK: nn.matmul
// CHECK-NEXT: nn.add
// REMARK: remark: [fuse-epilogue] not fused: consumer gives tensor<3x4x8xf32>, not the type of 'nn.matmul' (tensor<4x8xf32>)
func.func @broadcasting_consumer(%x: tensor<4x8xf32>, %w: tensor<8x8xf32>, %r: tensor<3x4x8xf32>) -> tensor<3x4x8xf32> {
  %0 = nn.matmul %x, %w : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  %1 = nn.add %0, %r : (tensor<4x8xf32>, tensor<3x4x8xf32>) -> tensor<3x4x8xf32>
  func.return %1 : tensor<3x4x8xf32>
}
