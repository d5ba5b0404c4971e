// RUN: dynir-opt %s -p lower-to-loops --split-input-file | FileCheck %s

// f16 math is computed in f32 and rounded once, as the reference does.
// CHECK-LABEL: func.func @exp_0
// CHECK-SAME:    (%[[X:.+]]: memref<?x8xf16>, %[[OUT:.+]]: memref<?x8xf16>, %{{.+}}: index, %{{.+}}: index)
// CHECK:         scf.for %[[I:.+]] =
// CHECK:           scf.for %[[J:.+]] =
// CHECK:             %[[V:.+]] = memref.load %[[X]]
// CHECK:             %[[W:.+]] = arith.extf %[[V]] : f16 to f32
// CHECK:             %[[E:.+]] = math.exp %[[W]] : f32
// CHECK:             %[[R:.+]] = arith.truncf %[[E]] : f32 to f16
// CHECK:             memref.store %[[R]], %[[OUT]][%[[I]], %[[J]]]
func.func @f16_exp(%x: tensor<?x8xf16>) -> tensor<?x8xf16> {
  %0 = nn.exp %x : (tensor<?x8xf16>) -> tensor<?x8xf16>
  func.return %0 : tensor<?x8xf16>
}

// -----

// Unsigned tensors live in signless buffers; the op's types pick the unsigned max.
// CHECK-LABEL: func.func @max_0
// CHECK-SAME:    memref<?xi8>, %{{.+}}: memref<?xi8>, %{{.+}}: memref<?xi8>
// CHECK:         scf.for
// CHECK:           arith.maxui %{{.+}}, %{{.+}} : i8
// CHECK-NOT:       arith.maxsi
func.func @ui8_max(%x: tensor<?xui8>, %y: tensor<?xui8>) -> tensor<?xui8> {
  %0 = nn.max %x, %y : (tensor<?xui8>, tensor<?xui8>) -> tensor<?xui8>
  func.return %0 : tensor<?xui8>
}

// -----

// Integer division never divides by 0 or -1 (both trap on x86): those lanes are patched.
// CHECK-LABEL: func.func @div_0
// CHECK:         scf.for
// CHECK:           %[[Y:.+]] = memref.load %{{.+}}[] : memref<i32>
// CHECK:           %[[ZERO:.+]] = arith.cmpi eq, %[[Y]], %{{.+}} : i32
// CHECK:           %[[MINUS1:.+]] = arith.cmpi eq, %[[Y]], %{{.+}} : i32
// CHECK:           %[[BAD:.+]] = arith.ori %[[ZERO]], %[[MINUS1]] : i1
// CHECK:           %[[SAFE:.+]] = arith.select %[[BAD]], %{{.+}}, %[[Y]] : i32
// CHECK:           arith.divsi %{{.+}}, %[[SAFE]] : i32
// CHECK:           arith.subi
// CHECK:           memref.store
func.func @i32_div(%x: tensor<?xi32>, %y: tensor<i32>) -> tensor<?xi32> {
  %0 = nn.div %x, %y : (tensor<?xi32>, tensor<i32>) -> tensor<?xi32>
  func.return %0 : tensor<?xi32>
}

// -----

// Float to int truncates; NaN and out-of-range values give INT_MIN (x86 and numpy),
// never the poison of a bare fptosi.
// CHECK-LABEL: func.func @cast_0
// CHECK:         scf.for
// CHECK:           %[[V:.+]] = memref.load
// CHECK:           %[[LO:.+]] = arith.cmpf oge, %[[V]], %{{.+}} : f32
// CHECK:           %[[HI:.+]] = arith.cmpf olt, %[[V]], %{{.+}} : f32
// CHECK:           %[[FITS:.+]] = arith.andi %[[LO]], %[[HI]] : i1
// CHECK:           %[[T:.+]] = arith.fptosi %[[V]] : f32 to i32
// CHECK:           %[[R:.+]] = arith.select %[[FITS]], %[[T]], %{{.+}} : i32
// CHECK:           memref.store %[[R]]
func.func @cast_f32_to_i32(%x: tensor<?xf32>) -> tensor<?xi32> {
  %0 = nn.cast %x {to = i32} : (tensor<?xf32>) -> tensor<?xi32>
  func.return %0 : tensor<?xi32>
}

// -----

// Float fmod is exact: arith.remf (LLVM frem).
// CHECK-LABEL: func.func @mod_0
// CHECK:         scf.for
// CHECK:           arith.remf %{{.+}}, %{{.+}} : f32
func.func @fmod(%x: tensor<4xf32>, %y: tensor<4xf32>) -> tensor<4xf32> {
  %0 = nn.mod %x, %y {fmod = 1 : i64} : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}

// -----

// where on bools: i8 in memory, i1 in registers; the condition broadcasts along dim 1.
// CHECK-LABEL: func.func @where_0
// CHECK-SAME:    (%[[C:.+]]: memref<?x1xi8>, %{{.+}}: memref<4xi8>, %{{.+}}: memref<?x4xi8>, %[[OUT:.+]]: memref<?x4xi8>, %{{.+}}: index, %{{.+}}: index)
// CHECK:         scf.for %[[I:.+]] =
// CHECK:           scf.for %[[J:.+]] =
// CHECK:             memref.load %[[C]][%{{.+}}, %{{.+}}]
// CHECK:             arith.cmpi ne
// CHECK:             %[[S:.+]] = arith.select %{{.+}}, %{{.+}}, %{{.+}} : i1
// CHECK:             %[[B:.+]] = arith.extui %[[S]] : i1 to i8
// CHECK:             memref.store %[[B]], %[[OUT]][%[[I]], %[[J]]]
func.func @where_bool(%c: tensor<?x1xi1>, %x: tensor<4xi1>, %y: tensor<?x4xi1>) -> tensor<?x4xi1> {
  %0 = nn.where %c, %x, %y : (tensor<?x1xi1>, tensor<4xi1>, tensor<?x4xi1>) -> tensor<?x4xi1>
  func.return %0 : tensor<?x4xi1>
}

// -----

// Static trailing dims that every tensor has (or broadcasts whole) run as one flat loop:
// 10x10 becomes one 100-element row (vectorised whole), indexed as [.., 0, p].
// CHECK-LABEL: func.func @add_0
// CHECK-DAG:     %[[C0:.+]] = arith.constant 0 : index
// CHECK-DAG:     %[[C100:.+]] = arith.constant 100 : index
// CHECK:         scf.for %{{.+}} iter_args(%[[N:.+]] = %{{.+}}, %[[C:.+]] = %{{.+}})
// CHECK:           scf.for %[[P:.+]] = %[[C0]] to %[[C100]]
// CHECK:             memref.load %{{.+}}[%[[N]], %[[C]], %[[C0]], %[[P]]] : memref<2x8x10x10xf32>
// CHECK:             memref.load %{{.+}}[%[[C]], %[[C0]], %[[C0]]] : memref<8x1x1xf32>
// CHECK:             memref.store %{{.+}}[%[[N]], %[[C]], %[[C0]], %[[P]]] : memref<2x8x10x10xf32>
func.func @flat_tail(%x: tensor<2x8x10x10xf32>, %b: tensor<8x1x1xf32>) -> tensor<2x8x10x10xf32> {
  %0 = nn.add %x, %b : (tensor<2x8x10x10xf32>, tensor<8x1x1xf32>) -> tensor<2x8x10x10xf32>
  func.return %0 : tensor<2x8x10x10xf32>
}
