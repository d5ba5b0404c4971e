// RUN: dynir-opt %s --split-input-file -p fuse-reduction | FileCheck %s
// RUN: dynir-opt %s --split-input-file -p fuse-reduction --remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=REMARK

// Attention scores: the scale and mask producers and a consumer join the softmax.
// CHECK-LABEL: func.func @scaled_masked_softmax
// CHECK: fusion.group (%{{.+}}, %{{.+}}, %{{.+}}) {kind = "reduction"} : (tensor<?x4x16x16xf32>, tensor<f32>, tensor<?x1x1x16xf32>) -> (tensor<?x4x16x16xf32>)
// CHECK-NEXT: ^bb0
// CHECK-NEXT: nn.div
// CHECK-NEXT: nn.add
// CHECK-NEXT: nn.softmax
// CHECK-NEXT: nn.mul
// CHECK-NEXT: fusion.yield
func.func @scaled_masked_softmax(%s: tensor<?x4x16x16xf32>, %c: tensor<f32>, %m: tensor<?x1x1x16xf32>) -> tensor<?x4x16x16xf32> {
  %0 = nn.div %s, %c : (tensor<?x4x16x16xf32>, tensor<f32>) -> tensor<?x4x16x16xf32>
  %1 = nn.add %0, %m : (tensor<?x4x16x16xf32>, tensor<?x1x1x16xf32>) -> tensor<?x4x16x16xf32>
  %2 = nn.softmax %1 {axis = -1 : i64} : (tensor<?x4x16x16xf32>) -> tensor<?x4x16x16xf32>
  %3 = nn.mul %2, %c : (tensor<?x4x16x16xf32>, tensor<f32>) -> tensor<?x4x16x16xf32>
  func.return %3 : tensor<?x4x16x16xf32>
}

// -----

// layer_norm with a residual-add producer and a gelu consumer.
// CHECK-LABEL: func.func @residual_layer_norm_gelu
// CHECK: fusion.group {{.+}} {kind = "reduction"}
// CHECK: nn.add
// CHECK-NEXT: nn.layer_norm
// CHECK-NEXT: nn.gelu
func.func @residual_layer_norm_gelu(%x: tensor<?x8xf32>, %r: tensor<?x8xf32>, %g: tensor<8xf32>, %b: tensor<8xf32>) -> tensor<?x8xf32> {
  %0 = nn.add %x, %r : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  %1 = nn.layer_norm %0, %g, %b {axis = -1 : i64} : (tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  %2 = nn.gelu %1 : (tensor<?x8xf32>) -> tensor<?x8xf32>
  func.return %2 : tensor<?x8xf32>
}

// -----

// Cost guard: an exp producer would be recomputed in each of softmax's three passes.
// CHECK-LABEL: func.func @expensive_producer
// CHECK: nn.exp
// CHECK: fusion.group
// REMARK: remark: [fuse-reduction] not fused: 'nn.softmax' reads its input 3 times; recomputing 'nn.exp' costs more than a load
func.func @expensive_producer(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %0 = nn.exp %x : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %1 = nn.softmax %0 {axis = 1 : i64} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  func.return %1 : tensor<4x8xf32>
}

// -----

// A reduce_sum reads its input once: any producer fuses. Its consumer broadcasts the
// result back to the input's shape, so it stays outside; a multi-use producer too.
// CHECK-LABEL: func.func @reduce_then_broadcast
// CHECK: %[[T:.+]] = nn.tanh
// CHECK: %[[R:.+]] = fusion.group (%[[T]]) {kind = "reduction"}
// CHECK-NEXT: ^bb0
// CHECK-NEXT: nn.exp
// CHECK-NEXT: nn.reduce_sum
// CHECK-NEXT: fusion.yield
// CHECK: nn.sub %[[T]], %[[R]]
// REMARK: remark: [fuse-reduction] not fused: producer has 2 users
// REMARK: remark: [fuse-reduction] not fused: consumer broadcasts the result of 'nn.reduce_sum' to tensor<?x16xf32>
func.func @reduce_then_broadcast(%x: tensor<?x16xf32>) -> tensor<?x16xf32> {
  %t = nn.tanh %x : (tensor<?x16xf32>) -> tensor<?x16xf32>
  %0 = nn.exp %t : (tensor<?x16xf32>) -> tensor<?x16xf32>
  %1 = nn.reduce_sum %0 {axes = array<i64: 1>} : (tensor<?x16xf32>) -> tensor<?x1xf32>
  %2 = nn.sub %t, %1 : (tensor<?x16xf32>, tensor<?x1xf32>) -> tensor<?x16xf32>
  func.return %2 : tensor<?x16xf32>
}
