// RUN: dynir-opt %s --split-input-file | dynir-opt --split-input-file | FileCheck %s

// Conversions with a per-tensor scale; the quantize records its type (scales print so they parse back).
// CHECK-LABEL: func.func @per_tensor
// CHECK: %[[Q:.+]] = quant.quantize %{{.+}}, %{{.+}}, %{{.+}} {qtype = !quant.uniform<i8:f32, 0.0123456791:-3>} : (tensor<?x64xf32>, tensor<f32>, tensor<i8>) -> tensor<?x64xi8>
// CHECK: quant.dequantize %[[Q]], %{{.+}}, %{{.+}} : (tensor<?x64xi8>, tensor<f32>, tensor<i8>) -> tensor<?x64xf32>
func.func @per_tensor(%x: tensor<?x64xf32>, %s: tensor<f32>, %z: tensor<i8>) -> tensor<?x64xf32> {
  %q = quant.quantize %x, %s, %z {qtype = !quant.uniform<i8:f32, 0.0123456791:-3>} : (tensor<?x64xf32>, tensor<f32>, tensor<i8>) -> tensor<?x64xi8>
  %d = quant.dequantize %q, %s, %z : (tensor<?x64xi8>, tensor<f32>, tensor<i8>) -> tensor<?x64xf32>
  func.return %d : tensor<?x64xf32>
}

// -----

// Per-axis unsigned parameters broadcast along the channel axis of an NCHW tensor.
// CHECK-LABEL: func.func @per_axis
// CHECK: quant.quantize %{{.+}} {qtype = !quant.uniform<u8:f32:1, {2.500000e-01:128, 5.000000e-01:127}>} : (tensor<1x2x4x4xf32>, tensor<2x1x1xf32>, tensor<2x1x1xui8>) -> tensor<1x2x4x4xui8>
func.func @per_axis(%x: tensor<1x2x4x4xf32>, %s: tensor<2x1x1xf32>, %z: tensor<2x1x1xui8>) -> tensor<1x2x4x4xui8> {
  %q = quant.quantize %x, %s, %z {qtype = !quant.uniform<u8:f32:1, {0.25:128, 0.5:127}>} : (tensor<1x2x4x4xf32>, tensor<2x1x1xf32>, tensor<2x1x1xui8>) -> tensor<1x2x4x4xui8>
  func.return %q : tensor<1x2x4x4xui8>
}

// -----

// Integer contractions accumulate in i32; requantize takes the accumulator back to 8 bits.
// CHECK-LABEL: func.func @contractions
// CHECK: %[[M:.+]] = quant.matmul %{{.+}} : (tensor<?x64xui8>, tensor<64x32xi8>, tensor<ui8>, tensor<i8>) -> tensor<?x32xi32>
// CHECK: quant.requantize %[[M]], %{{.+}} : (tensor<?x32xi32>, tensor<32xf32>, tensor<i8>) -> tensor<?x32xi8>
// CHECK: quant.gemm %{{.+}} {trans_b = 1 : i64} : (tensor<?x64xui8>, tensor<10x64xi8>, tensor<10xi32>, tensor<ui8>, tensor<i8>) -> tensor<?x10xi32>
// CHECK: quant.conv %{{.+}} {pads = array<i64: 1, 1, 1, 1>} : (tensor<1x3x8x8xui8>, tensor<16x3x3x3xi8>, tensor<16xi32>, tensor<ui8>, tensor<16x1x1x1xi8>) -> tensor<1x16x8x8xi32>
// CHECK: quant.dynamic_quantize %{{.+}} : (tensor<?x64xf32>) -> (tensor<?x64xui8>, tensor<f32>, tensor<ui8>)
func.func @contractions(%a: tensor<?x64xui8>, %b: tensor<64x32xi8>, %az: tensor<ui8>, %bz: tensor<i8>, %m: tensor<32xf32>, %w: tensor<10x64xi8>, %c: tensor<10xi32>, %x: tensor<1x3x8x8xui8>, %cw: tensor<16x3x3x3xi8>, %cb: tensor<16xi32>, %cwz: tensor<16x1x1x1xi8>, %f: tensor<?x64xf32>) -> (tensor<?x32xi8>, tensor<?x10xi32>, tensor<1x16x8x8xi32>, tensor<?x64xui8>) {
  %acc = quant.matmul %a, %b, %az, %bz : (tensor<?x64xui8>, tensor<64x32xi8>, tensor<ui8>, tensor<i8>) -> tensor<?x32xi32>
  %r = quant.requantize %acc, %m, %bz : (tensor<?x32xi32>, tensor<32xf32>, tensor<i8>) -> tensor<?x32xi8>
  %g = quant.gemm %a, %w, %c, %az, %bz {trans_b = 1 : i64} : (tensor<?x64xui8>, tensor<10x64xi8>, tensor<10xi32>, tensor<ui8>, tensor<i8>) -> tensor<?x10xi32>
  %y = quant.conv %x, %cw, %cb, %az, %cwz {pads = array<i64: 1, 1, 1, 1>} : (tensor<1x3x8x8xui8>, tensor<16x3x3x3xi8>, tensor<16xi32>, tensor<ui8>, tensor<16x1x1x1xi8>) -> tensor<1x16x8x8xi32>
  %q, %s, %z = quant.dynamic_quantize %f : (tensor<?x64xf32>) -> (tensor<?x64xui8>, tensor<f32>, tensor<ui8>)
  func.return %r, %g, %y, %q : tensor<?x32xi8>, tensor<?x10xi32>, tensor<1x16x8x8xi32>, tensor<?x64xui8>
}

// -----

// A run-time right-hand side packed into VNNI panels (9 x 40 -> 2 panels of 32 columns,
// K padded to 12) and its column terms.
// CHECK-LABEL: func.func @pack_panels
// CHECK: quant.pack_panels %{{.+}} {width = 32 : i64} : (tensor<9x40xi8>) -> (tensor<2x3x32x4xi8>, tensor<3x64xi32>)
func.func @pack_panels(%b: tensor<9x40xi8>) -> (tensor<2x3x32x4xi8>, tensor<3x64xi32>) {
  %p, %t = quant.pack_panels %b {width = 32 : i64} : (tensor<9x40xi8>) -> (tensor<2x3x32x4xi8>, tensor<3x64xi32>)
  func.return %p, %t : tensor<2x3x32x4xi8>, tensor<3x64xi32>
}
