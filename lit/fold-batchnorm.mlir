// RUN: dynir-opt %s --split-input-file -p fold-batchnorm | FileCheck %s
// RUN: dynir-opt %s --split-input-file -p fold-batchnorm --remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=REMARK

// conv -> batch_norm: scale = g / sqrt(v + eps) = [2, 0.5]; weights and bias scaled.
// CHECK-LABEL: func.func @conv_bn
// CHECK-DAG: %[[W:.+]] = nn.constant {value = dense<[{{\[\[}}[2.000000e+00]]], {{\[\[}}[5.000000e-01]]]]> : tensor<2x1x1x1xf32>}
// CHECK-DAG: %[[B:.+]] = nn.constant {value = dense<[3.000000e+00, 1.000000e+00]> : tensor<2xf32>}
// CHECK: %[[C:.+]] = nn.conv %{{.+}}, %[[W]], %[[B]]
// CHECK-NOT: nn.batch_norm
// CHECK: func.return %[[C]]
func.func @conv_bn(%x: tensor<?x1x4x4xf32>) -> tensor<?x2x4x4xf32> {
  %w = nn.constant {value = dense<1.0> : tensor<2x1x1x1xf32>} : tensor<2x1x1x1xf32>
  %b = nn.constant {value = dense<[1.0, 2.0]> : tensor<2xf32>} : tensor<2xf32>
  %g = nn.constant {value = dense<[2.0, 1.0]> : tensor<2xf32>} : tensor<2xf32>
  %beta = nn.constant {value = dense<[1.0, 0.0]> : tensor<2xf32>} : tensor<2xf32>
  %m = nn.constant {value = dense<[0.0, 0.0]> : tensor<2xf32>} : tensor<2xf32>
  %v = nn.constant {value = dense<[1.0, 4.0]> : tensor<2xf32>} : tensor<2xf32>
  %0 = nn.conv %x, %w, %b : (tensor<?x1x4x4xf32>, tensor<2x1x1x1xf32>, tensor<2xf32>) -> tensor<?x2x4x4xf32>
  %1 = nn.batch_norm %0, %g, %beta, %m, %v {epsilon = 0.0 : f64} : (tensor<?x2x4x4xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<?x2x4x4xf32>
  func.return %1 : tensor<?x2x4x4xf32>
}

// -----

// A conv whose result is also returned keeps its batch_norm.
// CHECK-LABEL: func.func @conv_two_users
// CHECK: nn.batch_norm
// REMARK: remark: [fold-batchnorm] not folded: producer has 2 users
func.func @conv_two_users(%x: tensor<1x1x4x4xf32>, %p: tensor<2xf32>) -> (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) {
  %w = nn.constant {value = dense<1.0> : tensor<2x1x1x1xf32>} : tensor<2x1x1x1xf32>
  %b = nn.constant {value = dense<0.0> : tensor<2xf32>} : tensor<2xf32>
  %0 = nn.conv %x, %w, %b : (tensor<1x1x4x4xf32>, tensor<2x1x1x1xf32>, tensor<2xf32>) -> tensor<1x2x4x4xf32>
  %1 = nn.batch_norm %0, %p, %p, %p, %p : (tensor<1x2x4x4xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x2x4x4xf32>
  func.return %0, %1 : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>
}

// -----

// A batch_norm on a function argument stays, with a remark.
// CHECK-LABEL: func.func @bn_on_argument
// CHECK: nn.batch_norm
// REMARK: remark: [fold-batchnorm] not folded: input comes from a function argument, not a conv or gemm
func.func @bn_on_argument(%x: tensor<1x2x4x4xf32>, %p: tensor<2xf32>) -> tensor<1x2x4x4xf32> {
  %1 = nn.batch_norm %x, %p, %p, %p, %p : (tensor<1x2x4x4xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x2x4x4xf32>
  func.return %1 : tensor<1x2x4x4xf32>
}
