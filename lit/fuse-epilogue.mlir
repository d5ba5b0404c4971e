// RUN: dynir-opt %s --split-input-file -p fuse-epilogue | FileCheck %s
// RUN: dynir-opt %s --split-input-file -p fuse-epilogue --remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=REMARK
// RUN: dynir-opt %s --split-input-file -p 'fuse-epilogue{int8-epilogues=always}' | FileCheck %s --check-prefix=INT8
// RUN: dynir-opt %s --split-input-file -p 'fuse-epilogue{int8-epilogues=always}' --remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=INT8-REMARK
// RUN: dynir-opt %s --split-input-file -p 'fuse-epilogue{int8-epilogues=never}' --remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=INT8-NEVER

// matmul + bias add + relu, dynamic batch: one epilogue group.
// CHECK-LABEL: func.func @bias_relu_dynamic_batch
// CHECK: %[[G:.+]] = fusion.group (%{{.+}}, %{{.+}}, %{{.+}}) {kind = "epilogue"} : (tensor<?x8xf32>, tensor<8x16xf32>, tensor<16xf32>) -> (tensor<?x16xf32>)
// CHECK-NEXT: ^bb0
// CHECK-NEXT: nn.matmul
// CHECK-NEXT: nn.add
// CHECK-NEXT: nn.relu
// CHECK-NEXT: fusion.yield
// CHECK: func.return %[[G]]
func.func @bias_relu_dynamic_batch(%x: tensor<?x8xf32>, %w: tensor<8x16xf32>, %b: tensor<16xf32>) -> tensor<?x16xf32> {
  %0 = nn.matmul %x, %w : (tensor<?x8xf32>, tensor<8x16xf32>) -> tensor<?x16xf32>
  %1 = nn.add %0, %b : (tensor<?x16xf32>, tensor<16xf32>) -> tensor<?x16xf32>
  %2 = nn.relu %1 : (tensor<?x16xf32>) -> tensor<?x16xf32>
  func.return %2 : tensor<?x16xf32>
}

// -----

// conv + residual add + clip.
// CHECK-LABEL: func.func @conv_residual_clip
// CHECK: fusion.group {{.+}} {kind = "epilogue"}
// CHECK-NEXT: ^bb0
// CHECK-NEXT: nn.conv
// CHECK-NEXT: nn.add
// CHECK-NEXT: nn.clip
// CHECK-NEXT: fusion.yield
func.func @conv_residual_clip(%x: tensor<1x2x5x5xf32>, %w: tensor<2x2x3x3xf32>, %b: tensor<2xf32>) -> tensor<1x2x5x5xf32> {
  %0 = nn.conv %x, %w, %b {pads = array<i64: 1, 1, 1, 1>} : (tensor<1x2x5x5xf32>, tensor<2x2x3x3xf32>, tensor<2xf32>) -> tensor<1x2x5x5xf32>
  %1 = nn.add %0, %x : (tensor<1x2x5x5xf32>, tensor<1x2x5x5xf32>) -> tensor<1x2x5x5xf32>
  %2 = nn.clip %1 {min = 0.0 : f64, max = 6.0 : f64} : (tensor<1x2x5x5xf32>) -> tensor<1x2x5x5xf32>
  func.return %2 : tensor<1x2x5x5xf32>
}

// -----

// A matmul whose result has three users is not fused.
// CHECK-LABEL: func.func @multi_use_producer
// CHECK-NOT: fusion.group
// REMARK: remark: [fuse-epilogue] not fused: producer has 3 users
func.func @multi_use_producer(%x: tensor<4x8xf32>, %w: tensor<8x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) {
  %0 = nn.matmul %x, %w : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  %1 = nn.relu %0 : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %2 = nn.exp %0 : (tensor<4x8xf32>) -> tensor<4x8xf32>
  func.return %0, %1, %2 : tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>
}

// -----

// conv + SiLU (x * sigmoid(x)): the conv result has two users, which meet again in the
// mul, so the whole DAG is the epilogue.
// CHECK-LABEL: func.func @conv_silu
// CHECK: fusion.group {{.+}} {kind = "epilogue"}
// CHECK-NEXT: ^bb0
// CHECK-NEXT: nn.conv
// CHECK-NEXT: nn.sigmoid
// CHECK-NEXT: nn.mul
// CHECK-NEXT: fusion.yield
func.func @conv_silu(%x: tensor<1x4x8x8xf32>, %w: tensor<4x4x3x3xf32>, %b: tensor<4xf32>) -> tensor<1x4x8x8xf32> {
  %0 = nn.conv %x, %w, %b {pads = array<i64: 1, 1, 1, 1>} : (tensor<1x4x8x8xf32>, tensor<4x4x3x3xf32>, tensor<4xf32>) -> tensor<1x4x8x8xf32>
  %1 = nn.sigmoid %0 : (tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32>
  %2 = nn.mul %0, %1 : (tensor<1x4x8x8xf32>, tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32>
  func.return %2 : tensor<1x4x8x8xf32>
}

// -----

// The SiLU branches meet in the mul; its result then has two users (a residual add and
// the output), so the epilogue ends at the meeting point rather than being dropped.
// CHECK-LABEL: func.func @conv_silu_then_fan_out
// CHECK: %[[G:.+]] = fusion.group {{.+}} {kind = "epilogue"}
// CHECK-NEXT: ^bb0
// CHECK-NEXT: nn.conv
// CHECK-NEXT: nn.sigmoid
// CHECK-NEXT: nn.mul
// CHECK-NEXT: fusion.yield
// CHECK: nn.add %[[G]], %[[G]]
// REMARK: remark: [fuse-epilogue] epilogue ends: result has 2 users
func.func @conv_silu_then_fan_out(%x: tensor<1x4x8x8xf32>, %w: tensor<4x4x3x3xf32>, %b: tensor<4xf32>) -> (tensor<1x4x8x8xf32>, tensor<1x4x8x8xf32>) {
  %0 = nn.conv %x, %w, %b {pads = array<i64: 1, 1, 1, 1>} : (tensor<1x4x8x8xf32>, tensor<4x4x3x3xf32>, tensor<4xf32>) -> tensor<1x4x8x8xf32>
  %1 = nn.sigmoid %0 : (tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32>
  %2 = nn.mul %0, %1 : (tensor<1x4x8x8xf32>, tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32>
  %3 = nn.add %2, %2 : (tensor<1x4x8x8xf32>, tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32>
  func.return %2, %3 : tensor<1x4x8x8xf32>, tensor<1x4x8x8xf32>
}

// -----

// Branches that do not meet (two results leave) keep the producer alone.
// CHECK-LABEL: func.func @branches_that_do_not_meet
// CHECK-NOT: fusion.group
// REMARK: remark: [fuse-epilogue] not fused: producer has 2 users
func.func @branches_that_do_not_meet(%x: tensor<4x8xf32>, %w: tensor<8x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  %0 = nn.matmul %x, %w : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  %1 = nn.relu %0 : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %2 = nn.exp %0 : (tensor<4x8xf32>) -> tensor<4x8xf32>
  func.return %1, %2 : tensor<4x8xf32>, tensor<4x8xf32>
}

// -----

// A consumer that broadcasts the result to a larger shape stays outside.
// CHECK-LABEL: func.func @broadcasting_consumer
// CHECK: nn.matmul
// CHECK-NEXT: nn.add
// REMARK: remark: [fuse-epilogue] not fused: consumer gives tensor<3x4x8xf32>, not the type of 'nn.matmul' (tensor<4x8xf32>)
func.func @broadcasting_consumer(%x: tensor<4x8xf32>, %w: tensor<8x8xf32>, %r: tensor<3x4x8xf32>) -> tensor<3x4x8xf32> {
  %0 = nn.matmul %x, %w : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  %1 = nn.add %0, %r : (tensor<4x8xf32>, tensor<3x4x8xf32>) -> tensor<3x4x8xf32>
  func.return %1 : tensor<3x4x8xf32>
}

// -----

// Static int8: quant.matmul, its dequantization, bias, relu and the next layer's
// quantization are one group although the element type changes (i32 -> f32 -> i8).
// INT8-LABEL: func.func @int8_static_chain
// INT8: %[[G:.+]] = fusion.group ({{.+}}) {kind = "epilogue"} : ({{.+}}) -> (tensor<?x4xi8>)
// INT8-NEXT: ^bb0
// INT8-NEXT: quant.matmul
// INT8-NEXT: quant.dequantize
// INT8-NEXT: nn.add
// INT8-NEXT: nn.relu
// INT8-NEXT: quant.quantize
// INT8-NEXT: fusion.yield
// INT8: func.return %[[G]]
// INT8-NEVER: remark: [fuse-epilogue] no epilogue: int8 epilogues are off (int8-epilogues=never)
func.func @int8_static_chain(%x: tensor<?x4xui8>, %xz: tensor<ui8>, %s: tensor<4xf32>, %b: tensor<4xf32>, %t: tensor<f32>) -> tensor<?x4xi8> {
  %w = nn.constant {value = dense<[[1, -2, 3, 4], [5, 6, -7, 8], [9, 10, 11, -12], [13, -14, 15, 16]]> : tensor<4x4xi8>} : tensor<4x4xi8>
  %wz = nn.constant {value = dense<0> : tensor<i8>} : tensor<i8>
  %az = nn.constant {value = dense<0> : tensor<i32>} : tensor<i32>
  %qz = nn.constant {value = dense<3> : tensor<i8>} : tensor<i8>
  %acc = quant.matmul %x, %w, %xz, %wz : (tensor<?x4xui8>, tensor<4x4xi8>, tensor<ui8>, tensor<i8>) -> tensor<?x4xi32>
  %d = quant.dequantize %acc, %s, %az : (tensor<?x4xi32>, tensor<4xf32>, tensor<i32>) -> tensor<?x4xf32>
  %a = nn.add %d, %b : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %r = nn.relu %a : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %q = quant.quantize %r, %t, %qz : (tensor<?x4xf32>, tensor<f32>, tensor<i8>) -> tensor<?x4xi8>
  func.return %q : tensor<?x4xi8>
}

// -----

// Dynamic int8: the next layer's dynamic_quantize needs the whole tensor's range, so
// the epilogue ends before it.
// INT8-LABEL: func.func @int8_dynamic_stops_at_dynamic_quantize
// INT8: %[[G:.+]] = fusion.group ({{.+}}) {kind = "epilogue"} : ({{.+}}) -> (tensor<?x4xf32>)
// INT8-NEXT: ^bb0
// INT8-NEXT: quant.matmul
// INT8-NEXT: quant.dequantize
// INT8-NEXT: nn.relu
// INT8-NEXT: fusion.yield
// INT8: quant.dynamic_quantize %[[G]]
func.func @int8_dynamic_stops_at_dynamic_quantize(%x: tensor<?x4xui8>, %xz: tensor<ui8>, %s: tensor<f32>) -> (tensor<?x4xui8>, tensor<f32>, tensor<ui8>) {
  %w = nn.constant {value = dense<[[1, -2, 3, 4], [5, 6, -7, 8], [9, 10, 11, -12], [13, -14, 15, 16]]> : tensor<4x4xi8>} : tensor<4x4xi8>
  %wz = nn.constant {value = dense<0> : tensor<i8>} : tensor<i8>
  %az = nn.constant {value = dense<0> : tensor<i32>} : tensor<i32>
  %acc = quant.matmul %x, %w, %xz, %wz : (tensor<?x4xui8>, tensor<4x4xi8>, tensor<ui8>, tensor<i8>) -> tensor<?x4xi32>
  %d = quant.dequantize %acc, %s, %az : (tensor<?x4xi32>, tensor<f32>, tensor<i32>) -> tensor<?x4xf32>
  %r = nn.relu %d : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %q, %qs, %qz = quant.dynamic_quantize %r : (tensor<?x4xf32>) -> (tensor<?x4xui8>, tensor<f32>, tensor<ui8>)
  func.return %q, %qs, %qz : tensor<?x4xui8>, tensor<f32>, tensor<ui8>
}

// -----

// A weight that is not a constant, with a zero point that is not a known 0, is not
// packed (not even at run time): the plain int8 loops take no epilogue.
// INT8-LABEL: func.func @int8_activation_weight
// INT8-NOT: fusion.group
// INT8-REMARK: remark: [fuse-epilogue] no epilogue: not packed: a run-time B must be static 2-D i8 with zero point 0
func.func @int8_activation_weight(%x: tensor<2x4xui8>, %w: tensor<4x4xi8>, %xz: tensor<ui8>, %wz: tensor<i8>, %s: tensor<f32>) -> tensor<2x4xf32> {
  %az = nn.constant {value = dense<0> : tensor<i32>} : tensor<i32>
  %acc = quant.matmul %x, %w, %xz, %wz : (tensor<2x4xui8>, tensor<4x4xi8>, tensor<ui8>, tensor<i8>) -> tensor<2x4xi32>
  %d = quant.dequantize %acc, %s, %az : (tensor<2x4xi32>, tensor<f32>, tensor<i32>) -> tensor<2x4xf32>
  func.return %d : tensor<2x4xf32>
}

// -----

// A concat anchors an epilogue, and its chain may change the element type: the concat
// writes each element once, so it copies and quantizes in one kernel.
// CHECK-LABEL: func.func @concat_then_quantize
// INT8-LABEL: func.func @concat_then_quantize
// CHECK: %[[G:.+]] = fusion.group ({{.+}}) {kind = "epilogue"} : ({{.+}}) -> (tensor<?x6xi8>)
// CHECK-NEXT: ^bb0
// CHECK-NEXT: nn.concat
// CHECK-NEXT: quant.quantize
// CHECK-NEXT: fusion.yield
// CHECK: func.return %[[G]]
func.func @concat_then_quantize(%a: tensor<?x4xf32>, %b: tensor<?x2xf32>, %t: tensor<f32>) -> tensor<?x6xi8> {
  %qz = nn.constant {value = dense<3> : tensor<i8>} : tensor<i8>
  %c = nn.concat %a, %b {axis = 1 : i64} : (tensor<?x4xf32>, tensor<?x2xf32>) -> tensor<?x6xf32>
  %q = quant.quantize %c, %t, %qz : (tensor<?x6xf32>, tensor<f32>, tensor<i8>) -> tensor<?x6xi8>
  func.return %q : tensor<?x6xi8>
}
