// RUN: dynir-opt %s --split-input-file --quantize | FileCheck %s --check-prefix=DYN
// RUN: dynir-opt %s --split-input-file -p 'quantize{mode=weight-only}' | FileCheck %s --check-prefix=WO
// RUN: dynir-opt %s --split-input-file -p 'quantize{mode=static}' | FileCheck %s --check-prefix=STATIC
// RUN: dynir-opt %s --split-input-file --quantize --remarks 2>&1 | FileCheck %s --check-prefix=REMARK

// A matmul with a constant weight: per-channel int8 weights, activations quantized at
// run time (dynamic), stored as int8 and dequantized (weight-only), or with the
// calibrated range recorded on the op (static).
// DYN-LABEL: func.func @matmul_weight
// DYN-NOT: nn.matmul
// DYN: %[[W:.+]] = nn.constant {value = dense<{{\[\[}}127, -127, 64], [32, 95, -127]]> : tensor<2x3xi8>}
// DYN: %[[Q:.+]], %[[S:.+]], %[[Z:.+]] = quant.dynamic_quantize %{{.+}} : (tensor<?x2xf32>)
// DYN: %[[ACC:.+]] = quant.matmul %[[Q]], %[[W]], %[[Z]], %{{.+}} : (tensor<?x2xui8>, tensor<2x3xi8>, tensor<ui8>, tensor<i8>) -> tensor<?x3xi32>
// DYN: %[[SCALE:.+]] = nn.mul %[[S]], %{{.+}} : (tensor<f32>, tensor<3xf32>) -> tensor<3xf32>
// DYN: quant.dequantize %[[ACC]], %[[SCALE]], %{{.+}} {quant.layer = "matmul_0"}
// WO-LABEL: func.func @matmul_weight
// WO: %[[WD:.+]] = quant.dequantize %{{.+}} : (tensor<2x3xi8>, tensor<1x3xf32>, tensor<i8>) -> tensor<2x3xf32>
// WO: nn.matmul %{{.+}}, %[[WD]]
// STATIC-LABEL: func.func @matmul_weight
// STATIC: %[[Q:.+]] = quant.quantize %{{.+}} {qtype = !quant.uniform<u8:f32, 0.0050980392843484879:196>}
// STATIC: quant.matmul %[[Q]]
// STATIC: quant.dequantize %{{.+}} : (tensor<?x3xi32>, tensor<3xf32>, tensor<i32>) -> tensor<?x3xf32>
// REMARK: remark: [quantize] layer 'matmul_0' quantized to int8 (dynamic, weights per channel)
func.func @matmul_weight(%x: tensor<?x2xf32>) -> tensor<?x3xf32> {
  %w = nn.constant {value = dense<[[1.0, -2.0, 0.5], [0.25, 1.5, -1.0]]> : tensor<2x3xf32>} : tensor<2x3xf32>
  %y = nn.matmul %x, %w {quant.input_range = array<f64: -1.0, 3.0e-01>} : (tensor<?x2xf32>, tensor<2x3xf32>) -> tensor<?x3xf32>
  func.return %y : tensor<?x3xf32>
}

// -----

// A matmul of two activations stays in float, and says why.
// DYN-LABEL: func.func @activation_matmul
// DYN: nn.matmul
// REMARK: remark: [quantize] layer 'matmul_0' kept in float: weight is not a constant
func.func @activation_matmul(%a: tensor<2x2xf32>, %b: tensor<2x2xf32>) -> tensor<2x2xf32> {
  %y = nn.matmul %a, %b : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
  func.return %y : tensor<2x2xf32>
}

// -----

// Conv: weights per output channel, the float bias added after dequantization.
// DYN-LABEL: func.func @conv_bias
// DYN: %[[ACC:.+]] = quant.conv %{{.+}} : (tensor<1x1x4x4xui8>, tensor<2x1x1x1xi8>, tensor<2xi32>, tensor<ui8>, tensor<i8>) -> tensor<1x2x4x4xi32>
// DYN: %[[Y:.+]] = quant.dequantize %[[ACC]], %{{.+}} : (tensor<1x2x4x4xi32>, tensor<2x1x1xf32>, tensor<i32>) -> tensor<1x2x4x4xf32>
// DYN: nn.add %[[Y]], %{{.+}} {quant.layer = "conv_0"} : (tensor<1x2x4x4xf32>, tensor<2x1x1xf32>) -> tensor<1x2x4x4xf32>
func.func @conv_bias(%x: tensor<1x1x4x4xf32>) -> tensor<1x2x4x4xf32> {
  %w = nn.constant {value = dense<[[[[0.5]]], [[[-2.0]]]]> : tensor<2x1x1x1xf32>} : tensor<2x1x1x1xf32>
  %b = nn.constant {value = dense<[1.0, -1.0]> : tensor<2xf32>} : tensor<2xf32>
  %y = nn.conv %x, %w, %b {quant.input_range = array<f64: 0.0, 1.0>} : (tensor<1x1x4x4xf32>, tensor<2x1x1x1xf32>, tensor<2xf32>) -> tensor<1x2x4x4xf32>
  func.return %y : tensor<1x2x4x4xf32>
}
