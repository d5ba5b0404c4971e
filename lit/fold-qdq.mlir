// RUN: dynir-opt %s --split-input-file -p fold-qdq | FileCheck %s
// RUN: dynir-opt %s --split-input-file -p fold-qdq --remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=REMARK

// dequantize -> max_pool -> quantize with one scale and zero point: max_pool on ui8.
// CHECK-LABEL: func.func @max_pool_sandwich
// CHECK-NOT: quant.
// CHECK: %[[P:.+]] = nn.max_pool %{{.+}} {{.+}} : (tensor<1x2x4x4xui8>) -> tensor<1x2x2x2xui8>
// CHECK-NOT: quant.
// CHECK: func.return %[[P]]
// REMARK: remark: [fold-qdq] dequantize moved after 'nn.max_pool': it runs on ui8
// REMARK: remark: [fold-qdq] dequantize -> quantize with equal parameters folded away
func.func @max_pool_sandwich(%q: tensor<1x2x4x4xui8>) -> tensor<1x2x2x2xui8> {
  %s = nn.constant {value = dense<0.5> : tensor<f32>} : tensor<f32>
  %z = nn.constant {value = dense<7> : tensor<ui8>} : tensor<ui8>
  %d = quant.dequantize %q, %s, %z : (tensor<1x2x4x4xui8>, tensor<f32>, tensor<ui8>) -> tensor<1x2x4x4xf32>
  %p = nn.max_pool %d {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<1x2x4x4xf32>) -> tensor<1x2x2x2xf32>
  %s2 = nn.constant {value = dense<0.5> : tensor<f32>} : tensor<f32>
  %z2 = nn.constant {value = dense<7> : tensor<ui8>} : tensor<ui8>
  %r = quant.quantize %p, %s2, %z2 : (tensor<1x2x2x2xf32>, tensor<f32>, tensor<ui8>) -> tensor<1x2x2x2xui8>
  func.return %r : tensor<1x2x2x2xui8>
}

// -----

// relu between dequantize and quantize becomes a clip at the zero point.
// CHECK-LABEL: func.func @relu_clips_at_zero_point
// CHECK: %[[Z:.+]] = nn.constant {value = dense<-3> : tensor<i8>}
// CHECK-NOT: quant.
// CHECK: %[[M:.+]] = nn.max %{{.+}}, %[[Z]] : (tensor<?x8xi8>, tensor<i8>) -> tensor<?x8xi8>
// CHECK: func.return %[[M]]
// REMARK: remark: [fold-qdq] dequantize moved after 'nn.relu': it runs on i8 as max with the zero point
func.func @relu_clips_at_zero_point(%q: tensor<?x8xi8>) -> tensor<?x8xi8> {
  %s = nn.constant {value = dense<0.25> : tensor<f32>} : tensor<f32>
  %z = nn.constant {value = dense<-3> : tensor<i8>} : tensor<i8>
  %d = quant.dequantize %q, %s, %z : (tensor<?x8xi8>, tensor<f32>, tensor<i8>) -> tensor<?x8xf32>
  %r = nn.relu %d : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %y = quant.quantize %r, %s, %z : (tensor<?x8xf32>, tensor<f32>, tensor<i8>) -> tensor<?x8xi8>
  func.return %y : tensor<?x8xi8>
}

// -----

// A chain of views (reshape, transpose, flatten) moves int8 data; the float consumer
// still gets its dequantized value, now after the views.
// CHECK-LABEL: func.func @view_chain_then_float
// CHECK: %[[R:.+]] = nn.reshape %{{.+}} {{.+}} : (tensor<2x12xui8>) -> tensor<2x3x4xui8>
// CHECK: %[[T:.+]] = nn.transpose %[[R]] {{.+}} : (tensor<2x3x4xui8>) -> tensor<2x4x3xui8>
// CHECK: %[[F:.+]] = nn.flatten %[[T]] {{.+}} : (tensor<2x4x3xui8>) -> tensor<2x12xui8>
// CHECK: %[[D:.+]] = quant.dequantize %[[F]]
// CHECK: nn.exp %[[D]]
func.func @view_chain_then_float(%q: tensor<2x12xui8>, %s: tensor<f32>, %z: tensor<ui8>) -> tensor<2x12xf32> {
  %d = quant.dequantize %q, %s, %z : (tensor<2x12xui8>, tensor<f32>, tensor<ui8>) -> tensor<2x12xf32>
  %r = nn.reshape %d {shape = array<i64: 2, 3, 4>} : (tensor<2x12xf32>) -> tensor<2x3x4xf32>
  %t = nn.transpose %r {perm = array<i64: 0, 2, 1>} : (tensor<2x3x4xf32>) -> tensor<2x4x3xf32>
  %f = nn.flatten %t {axis = 1 : i64} : (tensor<2x4x3xf32>) -> tensor<2x12xf32>
  %e = nn.exp %f : (tensor<2x12xf32>) -> tensor<2x12xf32>
  func.return %e : tensor<2x12xf32>
}

// -----

// concat of two values dequantized with the same (argument) parameters.
// CHECK-LABEL: func.func @concat_equal_params
// CHECK-NOT: quant.
// CHECK: %[[C:.+]] = nn.concat %{{.+}}, %{{.+}} {axis = 1 : i64} : (tensor<1x2xi8>, tensor<1x3xi8>) -> tensor<1x5xi8>
// CHECK: func.return %[[C]]
func.func @concat_equal_params(%a: tensor<1x2xi8>, %b: tensor<1x3xi8>, %s: tensor<f32>, %z: tensor<i8>) -> tensor<1x5xi8> {
  %da = quant.dequantize %a, %s, %z : (tensor<1x2xi8>, tensor<f32>, tensor<i8>) -> tensor<1x2xf32>
  %db = quant.dequantize %b, %s, %z : (tensor<1x3xi8>, tensor<f32>, tensor<i8>) -> tensor<1x3xf32>
  %c = nn.concat %da, %db {axis = 1 : i64} : (tensor<1x2xf32>, tensor<1x3xf32>) -> tensor<1x5xf32>
  %y = quant.quantize %c, %s, %z : (tensor<1x5xf32>, tensor<f32>, tensor<i8>) -> tensor<1x5xi8>
  func.return %y : tensor<1x5xi8>
}

// -----

// concat of values with different scales is not folded (each keeps its dequantize).
// CHECK-LABEL: func.func @concat_different_params
// CHECK: quant.dequantize
// CHECK: quant.dequantize
// CHECK: nn.concat {{.+}} -> tensor<1x5xf32>
// CHECK: quant.quantize
// REMARK: remark: [fold-qdq] not folded: operands are dequantized with different parameters
// REMARK: remark: [fold-qdq] not folded: 'nn.concat' result has other users
func.func @concat_different_params(%a: tensor<1x2xi8>, %b: tensor<1x3xi8>, %s: tensor<f32>, %t: tensor<f32>, %z: tensor<i8>) -> (tensor<1x5xi8>, tensor<1x5xf32>) {
  %da = quant.dequantize %a, %s, %z : (tensor<1x2xi8>, tensor<f32>, tensor<i8>) -> tensor<1x2xf32>
  %db = quant.dequantize %b, %t, %z : (tensor<1x3xi8>, tensor<f32>, tensor<i8>) -> tensor<1x3xf32>
  %c = nn.concat %da, %db {axis = 1 : i64} : (tensor<1x2xf32>, tensor<1x3xf32>) -> tensor<1x5xf32>
  %y = quant.quantize %c, %s, %z : (tensor<1x5xf32>, tensor<f32>, tensor<i8>) -> tensor<1x5xi8>
  func.return %y, %c : tensor<1x5xi8>, tensor<1x5xf32>
}

// -----

// Per-channel parameters do not commute with a transpose: nothing moves.
// CHECK-LABEL: func.func @per_axis_kept
// CHECK: quant.dequantize
// CHECK: nn.transpose {{.+}} -> tensor<3x2xf32>
// CHECK: quant.quantize
// REMARK: remark: [fold-qdq] not folded: dequantized with per-axis parameters
// REMARK: remark: [fold-qdq] not folded: per-axis parameters
func.func @per_axis_kept(%q: tensor<2x3xi8>, %s: tensor<3xf32>, %z: tensor<i8>, %t: tensor<2xf32>) -> tensor<3x2xi8> {
  %d = quant.dequantize %q, %s, %z : (tensor<2x3xi8>, tensor<3xf32>, tensor<i8>) -> tensor<2x3xf32>
  %p = nn.transpose %d {perm = array<i64: 1, 0>} : (tensor<2x3xf32>) -> tensor<3x2xf32>
  %y = quant.quantize %p, %t, %z : (tensor<3x2xf32>, tensor<2xf32>, tensor<i8>) -> tensor<3x2xi8>
  func.return %y : tensor<3x2xi8>
}

// -----

// quantize after relu and max_pool of a float value is hoisted: both run on ui8.
// CHECK-LABEL: func.func @hoist_through_relu_and_pool
// CHECK: %[[Q:.+]] = quant.quantize %{{.+}} : (tensor<1x1x4x4xf32>, tensor<f32>, tensor<ui8>) -> tensor<1x1x4x4xui8>
// CHECK: %[[M:.+]] = nn.max %[[Q]], %{{.+}} : (tensor<1x1x4x4xui8>, tensor<ui8>) -> tensor<1x1x4x4xui8>
// CHECK: %[[P:.+]] = nn.max_pool %[[M]] {{.+}} -> tensor<1x1x2x2xui8>
// CHECK: func.return %[[P]]
// REMARK: remark: [fold-qdq] quantize moved before 'nn.max_pool': it runs on ui8
// REMARK: remark: [fold-qdq] quantize moved before 'nn.relu': it runs on ui8 as max with the zero point
func.func @hoist_through_relu_and_pool(%x: tensor<1x1x4x4xf32>, %s: tensor<f32>, %z: tensor<ui8>) -> tensor<1x1x2x2xui8> {
  %r = nn.relu %x : (tensor<1x1x4x4xf32>) -> tensor<1x1x4x4xf32>
  %p = nn.max_pool %r {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<1x1x4x4xf32>) -> tensor<1x1x2x2xf32>
  %y = quant.quantize %p, %s, %z : (tensor<1x1x2x2xf32>, tensor<f32>, tensor<ui8>) -> tensor<1x1x2x2xui8>
  func.return %y : tensor<1x1x2x2xui8>
}

// -----

// Different scales: one requantize of the centered i32 values by s / s'.
// CHECK-LABEL: func.func @pair_different_params
// CHECK: %[[W:.+]] = nn.cast %{{.+}} {to = i32} : (tensor<4xui8>) -> tensor<4xi32>
// CHECK: %[[Z:.+]] = nn.constant {value = dense<128> : tensor<i32>}
// CHECK: %[[C:.+]] = nn.sub %[[W]], %[[Z]]
// CHECK: %[[M:.+]] = nn.constant {value = dense<2.500000e-01> : tensor<f32>}
// CHECK: %[[R:.+]] = quant.requantize %[[C]], %[[M]], %{{.+}} : (tensor<4xi32>, tensor<f32>, tensor<i8>) -> tensor<4xi8>
// CHECK: func.return %[[R]]
// REMARK: remark: [fold-qdq] dequantize -> quantize with different parameters: one quant.requantize
func.func @pair_different_params(%q: tensor<4xui8>) -> tensor<4xi8> {
  %s = nn.constant {value = dense<0.5> : tensor<f32>} : tensor<f32>
  %z = nn.constant {value = dense<128> : tensor<ui8>} : tensor<ui8>
  %t = nn.constant {value = dense<2.0> : tensor<f32>} : tensor<f32>
  %zt = nn.constant {value = dense<0> : tensor<i8>} : tensor<i8>
  %d = quant.dequantize %q, %s, %z : (tensor<4xui8>, tensor<f32>, tensor<ui8>) -> tensor<4xf32>
  %y = quant.quantize %d, %t, %zt : (tensor<4xf32>, tensor<f32>, tensor<i8>) -> tensor<4xi8>
  func.return %y : tensor<4xi8>
}

// -----

// An i32 accumulator with a per-channel scale goes straight to requantize.
// CHECK-LABEL: func.func @accumulator_requantized
// CHECK-NOT: nn.cast
// CHECK: %[[R:.+]] = quant.requantize %{{.+}}, %{{.+}}, %{{.+}} : (tensor<?x3xi32>, tensor<3xf32>, tensor<ui8>) -> tensor<?x3xui8>
// CHECK: func.return %[[R]]
func.func @accumulator_requantized(%acc: tensor<?x3xi32>) -> tensor<?x3xui8> {
  %s = nn.constant {value = dense<[0.5, 0.25, 1.0]> : tensor<3xf32>} : tensor<3xf32>
  %z = nn.constant {value = dense<0> : tensor<i32>} : tensor<i32>
  %t = nn.constant {value = dense<0.125> : tensor<f32>} : tensor<f32>
  %zt = nn.constant {value = dense<10> : tensor<ui8>} : tensor<ui8>
  %d = quant.dequantize %acc, %s, %z : (tensor<?x3xi32>, tensor<3xf32>, tensor<i32>) -> tensor<?x3xf32>
  %y = quant.quantize %d, %t, %zt : (tensor<?x3xf32>, tensor<f32>, tensor<ui8>) -> tensor<?x3xui8>
  func.return %y : tensor<?x3xui8>
}
