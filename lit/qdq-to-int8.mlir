// RUN: dynir-opt %s --split-input-file -p qdq-to-int8 | FileCheck %s
// RUN: dynir-opt %s --split-input-file -p qdq-to-int8 --remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=REMARK

// QDQ conv with per-channel int8 weights and an i32 bias: quant.conv with the bias
// round(b / (sx * sw)) = [8, -8], requantized straight to ui8 by sx * sw / sy.
// CHECK-LABEL: func.func @conv_per_channel_requantized
// CHECK-DAG: %[[W:.+]] = nn.constant {value = dense<{{\[\[\[\[}}1, -2{{.+}}> : tensor<2x1x1x2xi8>}
// CHECK-DAG: %[[WZ:.+]] = nn.constant {value = dense<0> : tensor<2x1x1x1xi8>}
// CHECK-DAG: %[[B:.+]] = nn.constant {value = dense<[8, -8]> : tensor<2xi32>}
// CHECK: %[[ACC:.+]] = quant.conv %{{.+}}, %[[W]], %[[B]], %{{.+}}, %[[WZ]] : (tensor<?x1x4x4xui8>, tensor<2x1x1x2xi8>, tensor<2xi32>, tensor<ui8>, tensor<2x1x1x1xi8>) -> tensor<?x2x4x3xi32>
// CHECK: %[[M:.+]] = nn.constant {value = dense<{{\[\[\[}}5.000000e-01{{.+}}2.500000e-01{{.+}}> : tensor<2x1x1xf32>}
// CHECK: %[[R:.+]] = quant.requantize %[[ACC]], %[[M]], %{{.+}} : (tensor<?x2x4x3xi32>, tensor<2x1x1xf32>, tensor<ui8>) -> tensor<?x2x4x3xui8>
// CHECK-NOT: nn.conv
// CHECK-NOT: quant.quantize
// CHECK: func.return %[[R]]
// REMARK: remark: [qdq-to-int8] computes in int8 as 'quant.conv' (weights per channel (2 scales)); requantized for 1 quantize user(s)
func.func @conv_per_channel_requantized(%xq: tensor<?x1x4x4xui8>) -> tensor<?x2x4x3xui8> {
  %sx = nn.constant {value = dense<0.5> : tensor<f32>} : tensor<f32>
  %zx = nn.constant {value = dense<128> : tensor<ui8>} : tensor<ui8>
  %x = quant.dequantize %xq, %sx, %zx : (tensor<?x1x4x4xui8>, tensor<f32>, tensor<ui8>) -> tensor<?x1x4x4xf32>
  %wq = nn.constant {value = dense<[[[[1, -2]]], [[[3, 4]]]]> : tensor<2x1x1x2xi8>} : tensor<2x1x1x2xi8>
  %sw = nn.constant {value = dense<[[[[0.25]]], [[[0.125]]]]> : tensor<2x1x1x1xf32>} : tensor<2x1x1x1xf32>
  %zw = nn.constant {value = dense<0> : tensor<2x1x1x1xi8>} : tensor<2x1x1x1xi8>
  %w = quant.dequantize %wq, %sw, %zw : (tensor<2x1x1x2xi8>, tensor<2x1x1x1xf32>, tensor<2x1x1x1xi8>) -> tensor<2x1x1x2xf32>
  %bq = nn.constant {value = dense<[8, -8]> : tensor<2xi32>} : tensor<2xi32>
  %sb = nn.constant {value = dense<[0.125, 0.0625]> : tensor<2xf32>} : tensor<2xf32>
  %zb = nn.constant {value = dense<0> : tensor<i32>} : tensor<i32>
  %b = quant.dequantize %bq, %sb, %zb : (tensor<2xi32>, tensor<2xf32>, tensor<i32>) -> tensor<2xf32>
  %y = nn.conv %x, %w, %b : (tensor<?x1x4x4xf32>, tensor<2x1x1x2xf32>, tensor<2xf32>) -> tensor<?x2x4x3xf32>
  %sy = nn.constant {value = dense<0.25> : tensor<f32>} : tensor<f32>
  %zy = nn.constant {value = dense<3> : tensor<ui8>} : tensor<ui8>
  %q = quant.quantize %y, %sy, %zy : (tensor<?x2x4x3xf32>, tensor<f32>, tensor<ui8>) -> tensor<?x2x4x3xui8>
  func.return %q : tensor<?x2x4x3xui8>
}

// -----

// A float weight that is exactly int8 * 0.5 (the importer folds DequantizeLinear of an
// initializer): its int8 values and scale are recovered; the float user reads the
// accumulator dequantized by sx * sw, the quantize user a requantized one.
// CHECK-LABEL: func.func @matmul_folded_weight_float_and_int8_users
// CHECK: %[[W:.+]] = nn.constant {value = dense<{{\[\[}}2, -4], [6, 127]]> : tensor<2x2xi8>}
// CHECK: %[[ACC:.+]] = quant.matmul %{{.+}}, %[[W]], %{{.+}}, %{{.+}} : (tensor<3x2xi8>, tensor<2x2xi8>, tensor<i8>, tensor<i8>) -> tensor<3x2xi32>
// CHECK: %[[S:.+]] = nn.constant {value = dense<1.250000e-01> : tensor<f32>}
// CHECK: %[[D:.+]] = quant.dequantize %[[ACC]], %[[S]], %{{.+}} : (tensor<3x2xi32>, tensor<f32>, tensor<i32>) -> tensor<3x2xf32>
// CHECK: %[[R:.+]] = quant.requantize %[[ACC]], %{{.+}}, %{{.+}} : (tensor<3x2xi32>, tensor<f32>, tensor<i8>) -> tensor<3x2xi8>
// CHECK-NOT: nn.matmul
// CHECK: func.return %[[D]], %[[R]]
// REMARK: remark: [qdq-to-int8] computes in int8 as 'quant.matmul' (weights per tensor, scales recovered from the folded float weight); requantized for 1 quantize user(s) and dequantized for float users
func.func @matmul_folded_weight_float_and_int8_users(%xq: tensor<3x2xi8>) -> (tensor<3x2xf32>, tensor<3x2xi8>) {
  %sx = nn.constant {value = dense<0.25> : tensor<f32>} : tensor<f32>
  %zx = nn.constant {value = dense<-1> : tensor<i8>} : tensor<i8>
  %x = quant.dequantize %xq, %sx, %zx : (tensor<3x2xi8>, tensor<f32>, tensor<i8>) -> tensor<3x2xf32>
  %w = nn.constant {value = dense<[[1.0, -2.0], [3.0, 63.5]]> : tensor<2x2xf32>} : tensor<2x2xf32>
  %y = nn.matmul %x, %w : (tensor<3x2xf32>, tensor<2x2xf32>) -> tensor<3x2xf32>
  %sy = nn.constant {value = dense<0.5> : tensor<f32>} : tensor<f32>
  %zy = nn.constant {value = dense<0> : tensor<i8>} : tensor<i8>
  %q = quant.quantize %y, %sy, %zy : (tensor<3x2xf32>, tensor<f32>, tensor<i8>) -> tensor<3x2xi8>
  func.return %y, %q : tensor<3x2xf32>, tensor<3x2xi8>
}

// -----

// relu read by two quantizes (fold-qdq leaves it: it has two users): each becomes a
// requantize clipped at its zero point.
// CHECK-LABEL: func.func @relu_between_matmul_and_quantizes
// CHECK: %[[ACC:.+]] = quant.matmul
// CHECK: %[[R1:.+]] = quant.requantize %[[ACC]], %{{.+}}, %[[Z:.+]] : {{.+}} -> tensor<4x2xui8>
// CHECK: %[[C1:.+]] = nn.max %[[R1]], %[[Z]] : (tensor<4x2xui8>, tensor<ui8>) -> tensor<4x2xui8>
// CHECK: %[[R2:.+]] = quant.requantize %[[ACC]], %{{.+}}, %[[Z2:.+]] : {{.+}} -> tensor<4x2xui8>
// CHECK: %[[C2:.+]] = nn.max %[[R2]], %[[Z2]]
// CHECK-NOT: nn.relu
// CHECK: func.return %[[C1]], %[[C2]]
// REMARK: remark: [qdq-to-int8] computes in int8 as 'quant.matmul' (weights per tensor); requantized for 2 quantize user(s)
func.func @relu_between_matmul_and_quantizes(%xq: tensor<4x3xui8>) -> (tensor<4x2xui8>, tensor<4x2xui8>) {
  %sx = nn.constant {value = dense<0.1> : tensor<f32>} : tensor<f32>
  %zx = nn.constant {value = dense<100> : tensor<ui8>} : tensor<ui8>
  %x = quant.dequantize %xq, %sx, %zx : (tensor<4x3xui8>, tensor<f32>, tensor<ui8>) -> tensor<4x3xf32>
  %wq = nn.constant {value = dense<[[1, 2], [3, 4], [5, 6]]> : tensor<3x2xi8>} : tensor<3x2xi8>
  %sw = nn.constant {value = dense<0.02> : tensor<f32>} : tensor<f32>
  %zw = nn.constant {value = dense<0> : tensor<i8>} : tensor<i8>
  %w = quant.dequantize %wq, %sw, %zw : (tensor<3x2xi8>, tensor<f32>, tensor<i8>) -> tensor<3x2xf32>
  %y = nn.matmul %x, %w : (tensor<4x3xf32>, tensor<3x2xf32>) -> tensor<4x2xf32>
  %r = nn.relu %y : (tensor<4x2xf32>) -> tensor<4x2xf32>
  %s1 = nn.constant {value = dense<0.05> : tensor<f32>} : tensor<f32>
  %z1 = nn.constant {value = dense<10> : tensor<ui8>} : tensor<ui8>
  %q1 = quant.quantize %r, %s1, %z1 : (tensor<4x2xf32>, tensor<f32>, tensor<ui8>) -> tensor<4x2xui8>
  %s2 = nn.constant {value = dense<0.01> : tensor<f32>} : tensor<f32>
  %z2 = nn.constant {value = dense<0> : tensor<ui8>} : tensor<ui8>
  %q2 = quant.quantize %r, %s2, %z2 : (tensor<4x2xf32>, tensor<f32>, tensor<ui8>) -> tensor<4x2xui8>
  func.return %q1, %q2 : tensor<4x2xui8>, tensor<4x2xui8>
}

// -----

// Attention scores: both matmul operands are dequantized activations.
// CHECK-LABEL: func.func @matmul_of_two_activations
// CHECK: %[[ACC:.+]] = quant.matmul %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}} : (tensor<?x4x8x16xui8>, tensor<?x4x16x8xui8>, tensor<ui8>, tensor<ui8>) -> tensor<?x4x8x8xi32>
// CHECK: quant.requantize %[[ACC]]
// REMARK: remark: [qdq-to-int8] computes in int8 as 'quant.matmul' (both operands dequantized activations); requantized for 1 quantize user(s)
func.func @matmul_of_two_activations(%aq: tensor<?x4x8x16xui8>, %bq: tensor<?x4x16x8xui8>) -> tensor<?x4x8x8xui8> {
  %sa = nn.constant {value = dense<0.03> : tensor<f32>} : tensor<f32>
  %za = nn.constant {value = dense<120> : tensor<ui8>} : tensor<ui8>
  %sb = nn.constant {value = dense<0.04> : tensor<f32>} : tensor<f32>
  %zb = nn.constant {value = dense<130> : tensor<ui8>} : tensor<ui8>
  %a = quant.dequantize %aq, %sa, %za : (tensor<?x4x8x16xui8>, tensor<f32>, tensor<ui8>) -> tensor<?x4x8x16xf32>
  %b = quant.dequantize %bq, %sb, %zb : (tensor<?x4x16x8xui8>, tensor<f32>, tensor<ui8>) -> tensor<?x4x16x8xf32>
  %y = nn.matmul %a, %b : (tensor<?x4x8x16xf32>, tensor<?x4x16x8xf32>) -> tensor<?x4x8x8xf32>
  %sy = nn.constant {value = dense<0.2> : tensor<f32>} : tensor<f32>
  %zy = nn.constant {value = dense<128> : tensor<ui8>} : tensor<ui8>
  %q = quant.quantize %y, %sy, %zy : (tensor<?x4x8x8xf32>, tensor<f32>, tensor<ui8>) -> tensor<?x4x8x8xui8>
  func.return %q : tensor<?x4x8x8xui8>
}

// -----

// Gemm with trans_b and beta: beta * c becomes the i32 bias round(beta * c / (sx * sw)).
// CHECK-LABEL: func.func @gemm_trans_b_bias
// CHECK: %[[C:.+]] = nn.constant {value = dense<[40, -20]> : tensor<2xi32>}
// CHECK: %[[ACC:.+]] = quant.gemm %{{.+}}, %{{.+}}, %[[C]], %{{.+}}, %{{.+}} {trans_b = 1 : i64} : (tensor<?x3xui8>, tensor<2x3xi8>, tensor<2xi32>, tensor<ui8>, tensor<i8>) -> tensor<?x2xi32>
// CHECK: quant.dequantize %[[ACC]]
// CHECK-NOT: nn.gemm
// REMARK: remark: [qdq-to-int8] computes in int8 as 'quant.gemm' (weights per tensor); dequantized for float users
func.func @gemm_trans_b_bias(%xq: tensor<?x3xui8>) -> tensor<?x2xf32> {
  %sx = nn.constant {value = dense<0.5> : tensor<f32>} : tensor<f32>
  %zx = nn.constant {value = dense<7> : tensor<ui8>} : tensor<ui8>
  %x = quant.dequantize %xq, %sx, %zx : (tensor<?x3xui8>, tensor<f32>, tensor<ui8>) -> tensor<?x3xf32>
  %wq = nn.constant {value = dense<[[1, 2, 3], [-4, 5, -6]]> : tensor<2x3xi8>} : tensor<2x3xi8>
  %sw = nn.constant {value = dense<0.25> : tensor<f32>} : tensor<f32>
  %zw = nn.constant {value = dense<0> : tensor<i8>} : tensor<i8>
  %w = quant.dequantize %wq, %sw, %zw : (tensor<2x3xi8>, tensor<f32>, tensor<i8>) -> tensor<2x3xf32>
  %c = nn.constant {value = dense<[2.5, -1.25]> : tensor<2xf32>} : tensor<2xf32>
  %y = nn.gemm %x, %w, %c {trans_b = 1 : i64, beta = 2.0 : f64} : (tensor<?x3xf32>, tensor<2x3xf32>, tensor<2xf32>) -> tensor<?x2xf32>
  func.return %y : tensor<?x2xf32>
}

// -----

// Refusals, each a remark; the float ops stay. Per-axis input parameters:
// CHECK-LABEL: func.func @input_per_axis
// CHECK: nn.matmul
// REMARK: remark: [qdq-to-int8] kept in float: input is dequantized with per-axis parameters
func.func @input_per_axis(%xq: tensor<2x3xi8>, %sx: tensor<3xf32>, %zx: tensor<i8>) -> tensor<2x2xf32> {
  %x = quant.dequantize %xq, %sx, %zx : (tensor<2x3xi8>, tensor<3xf32>, tensor<i8>) -> tensor<2x3xf32>
  %w = nn.constant {value = dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]> : tensor<3x2xf32>} : tensor<3x2xf32>
  %y = nn.matmul %x, %w : (tensor<2x3xf32>, tensor<3x2xf32>) -> tensor<2x2xf32>
  func.return %y : tensor<2x2xf32>
}

// -----

// A run-time input scale: the i32 bias and the multipliers need a constant.
// CHECK-LABEL: func.func @input_scale_not_constant
// CHECK: nn.matmul
// REMARK: remark: [qdq-to-int8] kept in float: input scale is not an f32 constant
func.func @input_scale_not_constant(%xq: tensor<2x3xi8>, %sx: tensor<f32>, %zx: tensor<i8>) -> tensor<2x2xf32> {
  %x = quant.dequantize %xq, %sx, %zx : (tensor<2x3xi8>, tensor<f32>, tensor<i8>) -> tensor<2x3xf32>
  %w = nn.constant {value = dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]> : tensor<3x2xf32>} : tensor<3x2xf32>
  %y = nn.matmul %x, %w : (tensor<2x3xf32>, tensor<3x2xf32>) -> tensor<2x2xf32>
  func.return %y : tensor<2x2xf32>
}

// -----

// A float weight that no int8 tensor dequantizes to (0.1234 / 0.3 is no ratio of int8s).
// CHECK-LABEL: func.func @weight_not_quantized
// CHECK: nn.matmul
// REMARK: remark: [qdq-to-int8] kept in float: weight is a float constant that no int8 tensor with per-channel scales dequantizes to
func.func @weight_not_quantized(%xq: tensor<2x2xi8>) -> tensor<2x2xf32> {
  %sx = nn.constant {value = dense<0.5> : tensor<f32>} : tensor<f32>
  %zx = nn.constant {value = dense<0> : tensor<i8>} : tensor<i8>
  %x = quant.dequantize %xq, %sx, %zx : (tensor<2x2xi8>, tensor<f32>, tensor<i8>) -> tensor<2x2xf32>
  %w = nn.constant {value = dense<[[0.1234, 0.2], [0.3, 0.7]]> : tensor<2x2xf32>} : tensor<2x2xf32>
  %y = nn.matmul %x, %w : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
  func.return %y : tensor<2x2xf32>
}

// -----

// Gemm with alpha != 1, and an input dequantized from i32: both stay float.
// CHECK-LABEL: func.func @gemm_alpha_and_i32_input
// CHECK: nn.gemm
// CHECK: nn.matmul
// REMARK: remark: [qdq-to-int8] kept in float: gemm with trans_a or alpha != 1
// REMARK: remark: [qdq-to-int8] kept in float: input is dequantized from i32, not 8-bit integers
func.func @gemm_alpha_and_i32_input(%xq: tensor<2x2xi8>, %acc: tensor<2x2xi32>) -> (tensor<2x2xf32>, tensor<2x2xf32>) {
  %sx = nn.constant {value = dense<0.5> : tensor<f32>} : tensor<f32>
  %zx = nn.constant {value = dense<0> : tensor<i8>} : tensor<i8>
  %zi = nn.constant {value = dense<0> : tensor<i32>} : tensor<i32>
  %x = quant.dequantize %xq, %sx, %zx : (tensor<2x2xi8>, tensor<f32>, tensor<i8>) -> tensor<2x2xf32>
  %w = nn.constant {value = dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>} : tensor<2x2xf32>
  %c = nn.constant {value = dense<0.0> : tensor<2xf32>} : tensor<2xf32>
  %y = nn.gemm %x, %w, %c {alpha = 2.0 : f64} : (tensor<2x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<2x2xf32>
  %a = quant.dequantize %acc, %sx, %zi : (tensor<2x2xi32>, tensor<f32>, tensor<i32>) -> tensor<2x2xf32>
  %z = nn.matmul %a, %w : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
  func.return %y, %z : tensor<2x2xf32>, tensor<2x2xf32>
}
