// RUN: dynir-opt %s --split-input-file -p prepack-weights --elide-constants 16 | FileCheck %s
// RUN: dynir-opt %s --split-input-file -p fuse-epilogue,prepack-weights --elide-constants 16 | FileCheck %s --check-prefix=GROUP
// RUN: dynir-opt %s --split-input-file -p prepack-weights --elide-constants 16 --remarks 2>&1 >/dev/null | FileCheck %s --check-prefix=REMARK

// A constant 2-D B becomes panels (panel width = the host's vector lanes x 2).
// CHECK-LABEL: func.func @matmul_constant_rhs
// CHECK: %[[P:.+]] = nn.constant {{.+}} : tensor<1x3x{{[0-9]+}}xf32>
// CHECK-NOT: nn.matmul
// CHECK: %[[Y:.+]] = nn.packed_matmul %{{.+}}, %[[P]] {columns = 2 : i64}
// CHECK: func.return %[[Y]]
// REMARK: remark: [prepack-weights] packed B (3x2) into 1 panels of {{[0-9]+}} columns
func.func @matmul_constant_rhs(%x: tensor<?x3xf32>) -> tensor<?x2xf32> {
  %w = nn.constant {value = dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]> : tensor<3x2xf32>} : tensor<3x2xf32>
  %0 = nn.matmul %x, %w : (tensor<?x3xf32>, tensor<3x2xf32>) -> tensor<?x2xf32>
  func.return %0 : tensor<?x2xf32>
}

// -----

// gemm with trans_b: B^T is packed, trans_b disappears, alpha/beta stay. After
// fuse-epilogue the weight reaches the group as an input: the packed constant replaces it.
// CHECK-LABEL: func.func @gemm_trans_b_relu
// CHECK: nn.packed_gemm {{.+}}columns = 3 : i64, alpha = 5.000000e-01 : f64
// CHECK-NOT: trans_b
// GROUP-LABEL: func.func @gemm_trans_b_relu
// GROUP: %[[P:.+]] = nn.constant {{.+}} : tensor<1x2x{{[0-9]+}}xf32>
// GROUP: fusion.group (%{{.+}}, %{{.+}}, %[[P]])
// GROUP: nn.packed_gemm
// GROUP: nn.relu
func.func @gemm_trans_b_relu(%x: tensor<4x2xf32>) -> tensor<4x3xf32> {
  %w = nn.constant {value = dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]> : tensor<3x2xf32>} : tensor<3x2xf32>
  %b = nn.constant {value = dense<[1.0, 2.0, 3.0]> : tensor<3xf32>} : tensor<3xf32>
  %0 = nn.gemm %x, %w, %b {trans_b = 1 : i64, alpha = 0.5 : f64} : (tensor<4x2xf32>, tensor<3x2xf32>, tensor<3xf32>) -> tensor<4x3xf32>
  %1 = nn.relu %0 : (tensor<4x3xf32>) -> tensor<4x3xf32>
  func.return %1 : tensor<4x3xf32>
}

// -----

// A B computed at run time stays (the kernel packs it block by block itself).
// CHECK-LABEL: func.func @matmul_runtime_rhs
// CHECK: nn.matmul
// REMARK: remark: [prepack-weights] not packed: B is not a constant
func.func @matmul_runtime_rhs(%x: tensor<4x3xf32>, %w: tensor<3x2xf32>) -> tensor<4x2xf32> {
  %0 = nn.matmul %x, %w : (tensor<4x3xf32>, tensor<3x2xf32>) -> tensor<4x2xf32>
  func.return %0 : tensor<4x2xf32>
}

// -----

// Integer weights stay: the micro-kernel is for floats.
// CHECK-LABEL: func.func @matmul_int_rhs
// CHECK: nn.matmul
// REMARK: remark: [prepack-weights] not packed: B is int32, the micro-kernel takes float32/float64
func.func @matmul_int_rhs(%x: tensor<4x2xi32>) -> tensor<4x2xi32> {
  %w = nn.constant {value = dense<1> : tensor<2x2xi32>} : tensor<2x2xi32>
  %0 = nn.matmul %x, %w : (tensor<4x2xi32>, tensor<2x2xi32>) -> tensor<4x2xi32>
  func.return %0 : tensor<4x2xi32>
}

// -----

// An int8 matmul with a constant B: VNNI panels (P x K/4 x NR x 4, K padded to 4) and
// the column terms; non-zero weight zero points need the row sums of A.
// CHECK-LABEL: func.func @int8_matmul_constant_rhs
// CHECK: %[[P:.+]] = nn.constant {{.+}} : tensor<1x2x{{[0-9]+}}x4xi8>
// CHECK: %[[T:.+]] = nn.constant {{.+}} : tensor<3x{{[0-9]+}}xi32>
// CHECK-NOT: quant.matmul
// CHECK: quant.packed_matmul %{{.+}}, %[[P]], %[[T]], %{{.+}} {columns = 2 : i64, depth = 5 : i64, row_sums = 1 : i64}
// REMARK: remark: [prepack-weights] packed int8 B (5x2) into 1 VNNI panels of {{[0-9]+}} columns
func.func @int8_matmul_constant_rhs(%x: tensor<?x5xui8>, %xz: tensor<ui8>) -> tensor<?x2xi32> {
  %w = nn.constant {value = dense<[[1, 2], [3, 4], [5, 6], [7, 8], [9, 10]]> : tensor<5x2xi8>} : tensor<5x2xi8>
  %wz = nn.constant {value = dense<[1, -1]> : tensor<2xi8>} : tensor<2xi8>
  %0 = quant.matmul %x, %w, %xz, %wz : (tensor<?x5xui8>, tensor<5x2xi8>, tensor<ui8>, tensor<2xi8>) -> tensor<?x2xi32>
  func.return %0 : tensor<?x2xi32>
}

// -----

// An int8 conv: weight rows padded to 4 bytes (2 x 3 x 3 = 18 -> 20), per-channel terms.
// CHECK-LABEL: func.func @int8_conv
// CHECK: %[[W:.+]] = nn.constant {{.+}} : tensor<4x20xi8>
// CHECK: %[[T:.+]] = nn.constant {{.+}} : tensor<3x4xi32>
// CHECK-NOT: quant.conv
// CHECK: quant.packed_conv %{{.+}}, %[[W]], %[[T]], %{{.+}} {kernel_shape = array<i64: 3, 3>, depth = 18 : i64, row_sums = 0 : i64, pads = array<i64: 1, 1, 1, 1>}
func.func @int8_conv(%x: tensor<1x2x8x8xui8>, %xz: tensor<ui8>) -> tensor<1x4x8x8xi32> {
  %w = nn.constant {value = dense<3> : tensor<4x2x3x3xi8>} : tensor<4x2x3x3xi8>
  %b = nn.constant {value = dense<7> : tensor<4xi32>} : tensor<4xi32>
  %wz = nn.constant {value = dense<0> : tensor<i8>} : tensor<i8>
  %0 = quant.conv %x, %w, %b, %xz, %wz {pads = array<i64: 1, 1, 1, 1>} : (tensor<1x2x8x8xui8>, tensor<4x2x3x3xi8>, tensor<4xi32>, tensor<ui8>, tensor<i8>) -> tensor<1x4x8x8xi32>
  func.return %0 : tensor<1x4x8x8xi32>
}

// -----

// A weight zero point that varies along K cannot fold into column terms: the loop nest runs it.
// CHECK-LABEL: func.func @int8_matmul_zero_point_along_k
// CHECK: quant.matmul
// REMARK: remark: [prepack-weights] not packed: B's zero point varies along K
func.func @int8_matmul_zero_point_along_k(%x: tensor<?x2xui8>, %xz: tensor<ui8>) -> tensor<?x2xi32> {
  %w = nn.constant {value = dense<1> : tensor<2x2xi8>} : tensor<2x2xi8>
  %wz = nn.constant {value = dense<[[1], [2]]> : tensor<2x1xi8>} : tensor<2x1xi8>
  %0 = quant.matmul %x, %w, %xz, %wz : (tensor<?x2xui8>, tensor<2x2xi8>, tensor<ui8>, tensor<2x1xi8>) -> tensor<?x2xi32>
  func.return %0 : tensor<?x2xi32>
}

// -----

// An int8 matmul whose B is an activation (symmetric i8, zero point 0): packed at run
// time by quant.pack_panels, its own kernel, then read like constant panels. Inside a
// group (with fuse-epilogue, the dequantize joins the matmul) the pack goes before the
// group, and the panels and terms become group inputs.
// CHECK-LABEL: func.func @int8_matmul_runtime_rhs
// CHECK: %[[P:.+]], %[[T:.+]] = quant.pack_panels %{{.+}} {width = {{[0-9]+}} : i64} : (tensor<5x40xi8>) -> (tensor<{{[0-9]+}}x2x{{[0-9]+}}x4xi8>, tensor<3x{{[0-9]+}}xi32>)
// CHECK: quant.packed_matmul %{{.+}}, %[[P]], %[[T]], %{{.+}} {columns = 40 : i64, depth = 5 : i64, row_sums = 0 : i64}
// GROUP-LABEL: func.func @int8_matmul_runtime_rhs
// GROUP: %[[P:.+]], %[[T:.+]] = quant.pack_panels
// GROUP: fusion.group ({{.+}}, %[[P]], %[[T]])
// GROUP: quant.packed_matmul
// GROUP: quant.dequantize
// REMARK: remark: [prepack-weights] packs int8 B (5x40) at run time into {{[0-9]+}} VNNI panels of {{[0-9]+}} columns
func.func @int8_matmul_runtime_rhs(%x: tensor<3x5xui8>, %xz: tensor<ui8>, %b: tensor<5x40xi8>) -> tensor<3x40xf32> {
  %bz = nn.constant {value = dense<0> : tensor<i8>} : tensor<i8>
  %s = nn.constant {value = dense<0.5> : tensor<f32>} : tensor<f32>
  %z = nn.constant {value = dense<0> : tensor<i32>} : tensor<i32>
  %0 = quant.matmul %x, %b, %xz, %bz : (tensor<3x5xui8>, tensor<5x40xi8>, tensor<ui8>, tensor<i8>) -> tensor<3x40xi32>
  %1 = quant.dequantize %0, %s, %z : (tensor<3x40xi32>, tensor<f32>, tensor<i32>) -> tensor<3x40xf32>
  func.return %1 : tensor<3x40xf32>
}

// -----

// A run-time B with a zero point is not packed (the column terms would need it).
// CHECK-LABEL: func.func @int8_matmul_runtime_rhs_zero_point
// CHECK: quant.matmul
// REMARK: remark: [prepack-weights] not packed: a run-time B must be static 2-D i8 with zero point 0
func.func @int8_matmul_runtime_rhs_zero_point(%x: tensor<3x5xui8>, %xz: tensor<ui8>, %b: tensor<5x4xi8>) -> tensor<3x4xi32> {
  %bz = nn.constant {value = dense<3> : tensor<i8>} : tensor<i8>
  %0 = quant.matmul %x, %b, %xz, %bz : (tensor<3x5xui8>, tensor<5x4xi8>, tensor<ui8>, tensor<i8>) -> tensor<3x4xi32>
  func.return %0 : tensor<3x4xi32>
}
