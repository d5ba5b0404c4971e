// RUN: dynir-opt %s --split-input-file -p fuse-horizontal | FileCheck %s
// RUN: dynir-opt %s --split-input-file -p fuse-horizontal --remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=REMARK

// Q, K, V projections with bias adds: one matmul, one add, three slices.
// CHECK-LABEL: func.func @qkv_projections
// CHECK: %[[W:.+]] = nn.constant {value = dense<{{.+}}> : tensor<2x6xf32>}
// CHECK: %[[M:.+]] = nn.matmul %{{.+}}, %[[W]] : (tensor<?x?x2xf32>, tensor<2x6xf32>) -> tensor<?x?x6xf32>
// CHECK: %[[B:.+]] = nn.constant {value = dense<[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00, 5.000000e+00, 6.000000e+00]> : tensor<6xf32>}
// CHECK: %[[A:.+]] = nn.add %[[M]], %[[B]]
// CHECK: %[[Q:.+]] = nn.slice %[[A]] {starts = array<i64: 0>, ends = array<i64: 2>, axes = array<i64: 2>, steps = array<i64: 1>}
// CHECK: %[[K:.+]] = nn.slice %[[A]] {starts = array<i64: 2>, ends = array<i64: 4>, axes = array<i64: 2>, steps = array<i64: 1>}
// CHECK: %[[V:.+]] = nn.slice %[[A]] {starts = array<i64: 4>, ends = array<i64: 6>, axes = array<i64: 2>, steps = array<i64: 1>}
// CHECK-NOT: nn.matmul
// CHECK: func.return %[[Q]], %[[K]], %[[V]]
func.func @qkv_projections(%x: tensor<?x?x2xf32>) -> (tensor<?x?x2xf32>, tensor<?x?x2xf32>, tensor<?x?x2xf32>) {
  %wq = nn.constant {value = dense<[[1.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf32>} : tensor<2x2xf32>
  %wk = nn.constant {value = dense<[[2.0, 0.0], [0.0, 2.0]]> : tensor<2x2xf32>} : tensor<2x2xf32>
  %wv = nn.constant {value = dense<[[3.0, 0.0], [0.0, 3.0]]> : tensor<2x2xf32>} : tensor<2x2xf32>
  %bq = nn.constant {value = dense<[1.0, 2.0]> : tensor<2xf32>} : tensor<2xf32>
  %bk = nn.constant {value = dense<[3.0, 4.0]> : tensor<2xf32>} : tensor<2xf32>
  %bv = nn.constant {value = dense<[5.0, 6.0]> : tensor<2xf32>} : tensor<2xf32>
  %q0 = nn.matmul %x, %wq : (tensor<?x?x2xf32>, tensor<2x2xf32>) -> tensor<?x?x2xf32>
  %q = nn.add %q0, %bq : (tensor<?x?x2xf32>, tensor<2xf32>) -> tensor<?x?x2xf32>
  %k0 = nn.matmul %x, %wk : (tensor<?x?x2xf32>, tensor<2x2xf32>) -> tensor<?x?x2xf32>
  %k = nn.add %k0, %bk : (tensor<?x?x2xf32>, tensor<2xf32>) -> tensor<?x?x2xf32>
  %v0 = nn.matmul %x, %wv : (tensor<?x?x2xf32>, tensor<2x2xf32>) -> tensor<?x?x2xf32>
  %v = nn.add %v0, %bv : (tensor<?x?x2xf32>, tensor<2xf32>) -> tensor<?x?x2xf32>
  func.return %q, %k, %v : tensor<?x?x2xf32>, tensor<?x?x2xf32>, tensor<?x?x2xf32>
}

// -----

// Siblings without bias adds merge without the add; a sibling with non-constant
// weights is left alone with a remark.
// CHECK-LABEL: func.func @no_bias_and_other_k
// CHECK: nn.matmul %{{.+}}, %{{.+}} : (tensor<4x3xf32>, tensor<3x5xf32>) -> tensor<4x5xf32>
// CHECK: nn.slice
// CHECK: nn.slice
// CHECK-NOT: nn.slice
// REMARK: remark: [fuse-horizontal] not fused: sibling matmul's weights are not constants
func.func @no_bias_and_other_k(%x: tensor<4x3xf32>, %w1: tensor<3x2xf32>) -> (tensor<4x2xf32>, tensor<4x3xf32>, tensor<4x2xf32>) {
  %a = nn.constant {value = dense<1.0> : tensor<3x2xf32>} : tensor<3x2xf32>
  %b = nn.constant {value = dense<2.0> : tensor<3x3xf32>} : tensor<3x3xf32>
  %0 = nn.matmul %x, %a : (tensor<4x3xf32>, tensor<3x2xf32>) -> tensor<4x2xf32>
  %1 = nn.matmul %x, %b : (tensor<4x3xf32>, tensor<3x3xf32>) -> tensor<4x3xf32>
  %2 = nn.matmul %x, %w1 : (tensor<4x3xf32>, tensor<3x2xf32>) -> tensor<4x2xf32>
  func.return %0, %1, %2 : tensor<4x2xf32>, tensor<4x3xf32>, tensor<4x2xf32>
}
