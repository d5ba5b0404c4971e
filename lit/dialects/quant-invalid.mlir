// RUN: dynir-opt %s --split-input-file --verify-diagnostics | FileCheck %s

// A zero point must fit its storage type.
// CHECK: zero point 300 is out of the u8 range [0, 255]
func.func @zero_point_out_of_range(%x: tensor<4xf32>, %s: tensor<f32>, %z: tensor<ui8>) -> tensor<4xui8> {
  %q = quant.quantize %x, %s, %z {qtype = !quant.uniform<u8:f32, 0.5:300>} : (tensor<4xf32>, tensor<f32>, tensor<ui8>) -> tensor<4xui8>
  func.return %q : tensor<4xui8>
}

// -----

// Scales are positive.
// CHECK: quantized scale must be positive and finite, got -0.5
func.func @negative_scale(%x: tensor<4xf32>, %s: tensor<f32>, %z: tensor<ui8>) -> tensor<4xui8> {
  %q = quant.quantize %x, %s, %z {qtype = !quant.uniform<i8:f32, -0.5:0>} : (tensor<4xf32>, tensor<f32>, tensor<ui8>) -> tensor<4xui8>
  func.return %q : tensor<4xui8>
}

// -----

// Storage is an 8- or 16-bit integer.
// CHECK: expected a storage type (i8, u8, i16, u16), got 'i4'
func.func @bad_storage(%x: tensor<4xf32>, %s: tensor<f32>, %z: tensor<ui8>) -> tensor<4xui8> {
  %q = quant.quantize %x, %s, %z {qtype = !quant.uniform<i4:f32, 0.5:0>} : (tensor<4xf32>, tensor<f32>, tensor<ui8>) -> tensor<4xui8>
  func.return %q : tensor<4xui8>
}

// -----

// A per-axis scale must broadcast along the input.
// CHECK: 'quant.quantize' op scale 3 does not broadcast to 2x4
func.func @scale_does_not_broadcast(%x: tensor<2x4xf32>, %s: tensor<3xf32>, %z: tensor<i8>) -> tensor<2x4xi8> {
  %q = quant.quantize %x, %s, %z : (tensor<2x4xf32>, tensor<3xf32>, tensor<i8>) -> tensor<2x4xi8>
  func.return %q : tensor<2x4xi8>
}

// -----

// The recorded quantization type must store what the op produces.
// CHECK: 'quant.quantize' op qtype !quant.uniform<u8:f32, 5.000000e-01:0> does not store i8
func.func @qtype_mismatch(%x: tensor<4xf32>, %s: tensor<f32>, %z: tensor<i8>) -> tensor<4xi8> {
  %q = quant.quantize %x, %s, %z {qtype = !quant.uniform<u8:f32, 0.5:0>} : (tensor<4xf32>, tensor<f32>, tensor<i8>) -> tensor<4xi8>
  func.return %q : tensor<4xi8>
}

// -----

// Zero points take their operand's element type.
// CHECK: 'quant.matmul' op lhs zero point tensor<i8> must have the element type of tensor<2x3xui8>
func.func @zero_point_type(%a: tensor<2x3xui8>, %b: tensor<3x4xi8>, %z: tensor<i8>) -> tensor<2x4xi32> {
  %m = quant.matmul %a, %b, %z, %z : (tensor<2x3xui8>, tensor<3x4xi8>, tensor<i8>, tensor<i8>) -> tensor<2x4xi32>
  func.return %m : tensor<2x4xi32>
}

// -----

// Requantize takes i32 accumulators.
// CHECK: 'quant.requantize' op input must hold i32 accumulators, got tensor<4xi8>
func.func @requantize_not_i32(%x: tensor<4xi8>, %m: tensor<f32>, %z: tensor<i8>) -> tensor<4xi8> {
  %q = quant.requantize %x, %m, %z : (tensor<4xi8>, tensor<f32>, tensor<i8>) -> tensor<4xi8>
  func.return %q : tensor<4xi8>
}

// -----

// The panels hold signed bytes of a static matrix.
// CHECK: 'quant.pack_panels' op rhs must be a static 2-D tensor of i8, got tensor<?x40xi8>
func.func @pack_panels_dynamic(%b: tensor<?x40xi8>) -> (tensor<2x3x32x4xi8>, tensor<3x64xi32>) {
  %p, %t = quant.pack_panels %b {width = 32 : i64} : (tensor<?x40xi8>) -> (tensor<2x3x32x4xi8>, tensor<3x64xi32>)
  func.return %p, %t : tensor<2x3x32x4xi8>, tensor<3x64xi32>
}
