// RUN: dynir-opt %s --split-input-file -p fuse-elementwise | FileCheck %s
// RUN: dynir-opt %s --split-input-file -p fuse-elementwise --remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=REMARK

// A chain with a scalar constant and a broadcast bias becomes one group.
// CHECK-LABEL: func.func @chain_broadcast_scalar
// CHECK: %[[S:.+]] = nn.constant
// CHECK: %[[G:.+]] = fusion.group (%{{.+}}, %[[S]], %{{.+}}) {kind = "elementwise"} : (tensor<?x4xf32>, tensor<f32>, tensor<4xf32>) -> (tensor<?x4xf32>)
// CHECK: nn.mul
// CHECK-NEXT: nn.add
// CHECK-NEXT: nn.relu
// CHECK-NEXT: fusion.yield
// CHECK: func.return %[[G]]
func.func @chain_broadcast_scalar(%x: tensor<?x4xf32>, %b: tensor<4xf32>) -> tensor<?x4xf32> {
  %s = nn.constant {value = dense<1.5> : tensor<f32>} : tensor<f32>
  %0 = nn.mul %x, %s : (tensor<?x4xf32>, tensor<f32>) -> tensor<?x4xf32>
  %1 = nn.add %0, %b : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %2 = nn.relu %1 : (tensor<?x4xf32>) -> tensor<?x4xf32>
  func.return %2 : tensor<?x4xf32>
}

// -----

// A tree (two branches joined by a mul) is one group; a producer that is also
// returned stays in the group as a second output.
// CHECK-LABEL: func.func @tree_with_exported_producer
// CHECK: %[[E:.+]], %[[N:.+]] = fusion.group (%{{.+}}, %{{.+}}) {kind = "elementwise"} : (tensor<8x4xf32>, tensor<8x4xf32>) -> (tensor<8x4xf32>, tensor<8x4xf32>)
// CHECK: %[[E2:.+]] = nn.exp
// CHECK: nn.tanh
// CHECK: nn.mul
// CHECK: %[[N2:.+]] = nn.neg
// CHECK: fusion.yield %[[E2]], %[[N2]]
// CHECK: func.return %[[N]], %[[E]]
func.func @tree_with_exported_producer(%x: tensor<8x4xf32>, %y: tensor<8x4xf32>) -> (tensor<8x4xf32>, tensor<8x4xf32>) {
  %0 = nn.exp %x : (tensor<8x4xf32>) -> tensor<8x4xf32>
  %1 = nn.tanh %y : (tensor<8x4xf32>) -> tensor<8x4xf32>
  %2 = nn.mul %0, %1 : (tensor<8x4xf32>, tensor<8x4xf32>) -> tensor<8x4xf32>
  %3 = nn.neg %2 : (tensor<8x4xf32>) -> tensor<8x4xf32>
  func.return %3, %0 : tensor<8x4xf32>, tensor<8x4xf32>
}

// -----

// A reduction between two elementwise ops splits the chain: the exp feeds both the
// reduction and the sub, and cannot join the sub's group (the reduction would sit
// inside it).
// CHECK-LABEL: func.func @reduction_feeds_chain
// CHECK: %[[E:.+]] = nn.exp
// CHECK: %[[R:.+]] = nn.reduce_sum %[[E]]
// CHECK: fusion.group (%{{.+}}, %[[R]])
// CHECK-NEXT: ^bb0
// CHECK-NEXT: nn.sub
// CHECK-NEXT: nn.relu
// REMARK: remark: [fuse-elementwise] not fused: producer has 2 users, one of them before the fused consumer
func.func @reduction_feeds_chain(%x: tensor<?x16xf32>) -> tensor<?x16xf32> {
  %0 = nn.exp %x : (tensor<?x16xf32>) -> tensor<?x16xf32>
  %1 = nn.reduce_sum %0 {axes = array<i64: 1>} : (tensor<?x16xf32>) -> tensor<?x1xf32>
  %2 = nn.sub %0, %1 : (tensor<?x16xf32>, tensor<?x1xf32>) -> tensor<?x16xf32>
  %3 = nn.relu %2 : (tensor<?x16xf32>) -> tensor<?x16xf32>
  func.return %3 : tensor<?x16xf32>
}

// -----

// A small producer used by a larger op and returned too is not fused: its shape is
// not the group's.
// CHECK-LABEL: func.func @broadcast_producer_multi_use
// CHECK: %[[B:.+]] = nn.sigmoid
// CHECK: fusion.group (%{{.+}}, %[[B]])
// REMARK: remark: [fuse-elementwise] not fused: producer has 2 users and a shape other than the group's
func.func @broadcast_producer_multi_use(%x: tensor<?x4xf32>, %b: tensor<4xf32>) -> (tensor<?x4xf32>, tensor<4xf32>) {
  %0 = nn.sigmoid %b : (tensor<4xf32>) -> tensor<4xf32>
  %1 = nn.add %x, %0 : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %2 = nn.relu %1 : (tensor<?x4xf32>) -> tensor<?x4xf32>
  func.return %2, %0 : tensor<?x4xf32>, tensor<4xf32>
}

// -----

// View ops between elementwise ops fuse as index arithmetic (dynamic batch).
// CHECK-LABEL: func.func @transpose_in_chain
// CHECK: fusion.group
// CHECK: nn.relu
// CHECK-NEXT: nn.transpose
// CHECK-NEXT: nn.exp
// CHECK-NEXT: fusion.yield
func.func @transpose_in_chain(%x: tensor<?x3x5xf32>) -> tensor<?x5x3xf32> {
  %0 = nn.relu %x : (tensor<?x3x5xf32>) -> tensor<?x3x5xf32>
  %1 = nn.transpose %0 {perm = array<i64: 0, 2, 1>} : (tensor<?x3x5xf32>) -> tensor<?x5x3xf32>
  %2 = nn.exp %1 : (tensor<?x5x3xf32>) -> tensor<?x5x3xf32>
  func.return %2 : tensor<?x5x3xf32>
}
