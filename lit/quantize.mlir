// RUN: dynir-opt %s --split-input-file -p 'quantize{keep-float=false}' | FileCheck %s --check-prefix=DYN
// RUN: dynir-opt %s --split-input-file -p 'quantize{mode=weight-only}' | FileCheck %s --check-prefix=WO
// RUN: dynir-opt %s --split-input-file -p 'quantize{mode=static keep-float=false}' | FileCheck %s --check-prefix=STATIC
// RUN: dynir-opt %s --split-input-file -p 'quantize{keep-float=false}' --remarks 2>&1 | FileCheck %s --check-prefix=REMARK
// RUN: dynir-opt %s --split-input-file --quantize | FileCheck %s --check-prefix=KEEP
// RUN: dynir-opt %s --split-input-file --quantize --remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=KEEP-REMARK
// RUN: dynir-opt %s --split-input-file -p 'quantize{mode=static}' | FileCheck %s --check-prefix=KEEPSTATIC
// RUN: dynir-opt %s --split-input-file -p 'quantize{mode=static}' --remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=KEEPSTATIC-REMARK

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
// KEEP-LABEL: func.func @matmul_weight
// KEEP: nn.matmul {{.+}}quant.decision = "tiny layer: 6 MACs save ~3.6 MAC-times, less than the int8 kernels add (2.62e+05)"
// KEEP-REMARK: remark: [quantize] layer 'matmul_0' kept in float: tiny layer: 6 MACs
func.func @matmul_weight(%x: tensor<?x2xf32>) -> tensor<?x3xf32> {
  %w = nn.constant {value = dense<[[1.0, -2.0, 0.5], [0.25, 1.5, -1.0]]> : tensor<2x3xf32>} : tensor<2x3xf32>
  %y = nn.matmul %x, %w {quant.input_range = array<f64: -1.0, 3.0e-01>} : (tensor<?x2xf32>, tensor<2x3xf32>) -> tensor<?x3xf32>
  func.return %y : tensor<?x3xf32>
}

// -----

// A matmul of two activations stays in float in dynamic mode, and says why; static mode
// quantizes it where calibration recorded both ranges: A to uint8, B to symmetric int8
// (zero point 0), the accumulator dequantized with the product of the two scales.
// DYN-LABEL: func.func @activation_matmul
// DYN: nn.matmul
// REMARK: remark: [quantize] layer 'matmul_0' kept in float: weight is not a constant (static mode quantizes a 2-D f32 activation right-hand side)
// STATIC-LABEL: func.func @activation_matmul
// STATIC: %[[A:.+]] = quant.quantize %{{.+}} {qtype = !quant.uniform<u8:f32, 0.0039215688593685627:0>}
// STATIC: %[[B:.+]] = quant.quantize %{{.+}} {qtype = !quant.uniform<i8:f32, 0.015748031437397003:0>}
// STATIC: %[[ACC:.+]] = quant.matmul %[[A]], %[[B]], %{{.+}} : (tensor<2x2xui8>, tensor<2x2xi8>, tensor<ui8>, tensor<i8>) -> tensor<2x2xi32>
// STATIC: quant.dequantize %[[ACC]]
func.func @activation_matmul(%a: tensor<2x2xf32>, %b: tensor<2x2xf32>) -> tensor<2x2xf32> {
  %y = nn.matmul %a, %b {quant.input_range = array<f64: 0.0, 1.0>, quant.rhs_range = array<f64: -2.0, 1.0>} : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
  func.return %y : tensor<2x2xf32>
}

// -----

// Static mode without the right-hand side's range keeps the layer in float.
// KEEPSTATIC-REMARK: remark: [quantize] layer 'matmul_0' kept in float: the right-hand side activation has no calibrated range
func.func @activation_matmul_no_range(%a: tensor<2x2xf32>, %b: tensor<2x2xf32>) -> tensor<2x2xf32> {
  %y = nn.matmul %a, %b {quant.input_range = array<f64: 0.0, 1.0>} : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
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

// -----

// The cost model (keep-float, on by default). Tiny layers stay in float in both modes
// (the functions above: their remarks say so); this 3x3 conv pays off statically, but
// dynamic mode would quantize its 262144 activations at run time for too little gain.
// The decision is an attribute and a remark.
// KEEP-LABEL: func.func @dynamic_conv_slower
// KEEP: nn.conv {{.+}}quant.decision = "dynamic int8 would be slower: quantizing 262144 activations costs ~8.65e+06 MAC-times, int8 saves ~1.17e+06 (2340900 MACs at 2x)"
// KEEP-REMARK: remark: [quantize] layer 'conv_0' kept in float: dynamic int8 would be slower
// KEEPSTATIC-LABEL: func.func @dynamic_conv_slower
// KEEPSTATIC: quant.conv
// KEEPSTATIC-REMARK: remark: [quantize] layer 'conv_0' quantized to int8 (static, weights per channel)
func.func @dynamic_conv_slower(%x: tensor<1x1x512x512xf32>) -> tensor<1x1x510x510xf32> {
  %w = nn.constant {value = dense<[[[[0.5, 0.25, 0.5], [1.0, -1.0, 0.5], [0.25, 0.5, 0.25]]]]> : tensor<1x1x3x3xf32>} : tensor<1x1x3x3xf32>
  %b = nn.constant {value = dense<0.0> : tensor<1xf32>} : tensor<1xf32>
  %y = nn.conv %x, %w, %b {quant.input_range = array<f64: 0.0, 4.0>} : (tensor<1x1x512x512xf32>, tensor<1x1x3x3xf32>, tensor<1xf32>) -> tensor<1x1x510x510xf32>
  func.return %y : tensor<1x1x510x510xf32>
}

// -----

// A depthwise conv has no faster int8 kernel (K = 9 per group), in either mode.
// KEEP-LABEL: func.func @depthwise_stays_float
// KEEP: nn.conv {{.+}}quant.decision = "the int8 grouped conv kernel is 0.05x float (no faster int8 kernel)"
// KEEPSTATIC-LABEL: func.func @depthwise_stays_float
// KEEPSTATIC: nn.conv
// KEEPSTATIC-REMARK: remark: [quantize] layer 'conv_0' kept in float: the int8 grouped conv kernel is 0.05x float (no faster int8 kernel)
func.func @depthwise_stays_float(%x: tensor<1x8x64x64xf32>) -> tensor<1x8x64x64xf32> {
  %w = nn.constant {value = dense<0.25> : tensor<8x1x1x1xf32>} : tensor<8x1x1x1xf32>
  %b = nn.constant {value = dense<0.0> : tensor<8xf32>} : tensor<8xf32>
  %y = nn.conv %x, %w, %b {group = 8 : i64, quant.input_range = array<f64: 0.0, 4.0>} : (tensor<1x8x64x64xf32>, tensor<8x1x1x1xf32>, tensor<8xf32>) -> tensor<1x8x64x64xf32>
  func.return %y : tensor<1x8x64x64xf32>
}
