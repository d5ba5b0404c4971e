// RUN: dynir-opt %s --split-input-file -p lower-to-loops | FileCheck %s

// A reshape whose output rows lie inside one input row: the input index is computed
// once per row (divui/remui outside the innermost loop), then a contiguous row copy.
func.func @reshape_split_last_dim(%x: tensor<?x768xf32>) -> tensor<?x12x64xf32> {
  %y = nn.reshape %x {shape = array<i64: 0, 12, 64>} : (tensor<?x768xf32>) -> tensor<?x12x64xf32>
  func.return %y : tensor<?x12x64xf32>
}

// CHECK-LABEL: func.func @reshape_0(
// CHECK-SAME:      %[[X:.+]]: memref<?x768xf32>, %[[Y:.+]]: memref<?x12x64xf32>, %{{.+}}: index, %{{.+}}: index)
// The (batch, head) rows are one flat range split across threads, walked with an
// odometer (iter_args) instead of a division per row.
// CHECK:         scf.for %{{.+}} = %{{.+}} to %{{.+}} step %{{.+}} iter_args(%[[B:.+]] = %{{.+}}, %[[H:.+]] = %{{.+}}) -> (index, index)
// CHECK:           %[[COL:.+]] = arith.remui
// CHECK-NEXT:      %[[ROW:.+]] = arith.divui
// CHECK-NEXT:      scf.for %[[J:.+]] = %{{.+}} to %{{.+}} step
// CHECK-NEXT:        %[[C:.+]] = arith.addi %[[COL]], %[[J]] : index
// CHECK-NEXT:        %[[V:.+]] = memref.load %[[X]][%[[ROW]], %[[C]]]
// CHECK-NEXT:        memref.store %[[V]], %[[Y]][%[[B]], %[[H]], %[[J]]]
// CHECK-NEXT:      }

// -----

// Flatten walks the input; the output column is linearised (no division).
func.func @flatten_nchw(%x: tensor<?x3x4x5xf32>) -> tensor<?x60xf32> {
  %y = nn.flatten %x {axis = 1 : i64} : (tensor<?x3x4x5xf32>) -> tensor<?x60xf32>
  func.return %y : tensor<?x60xf32>
}

// CHECK-LABEL: func.func @flatten_0(
// CHECK-SAME:      %[[X:.+]]: memref<?x3x4x5xf32>, %[[Y:.+]]: memref<?x60xf32>, %{{.+}}: index, %{{.+}}: index)
// CHECK:         scf.for %{{.+}} = %{{.+}} to %{{.+}} step %{{.+}} iter_args(%[[N:.+]] = %{{.+}}, %[[C:.+]] = %{{.+}}, %[[H:.+]] = %{{.+}}) -> (index, index, index)
// CHECK-NEXT:      scf.for %[[W:.+]] = %{{.+}} to
// CHECK-NOT:         arith.divui
// CHECK:             %[[COL:.+]] = arith.addi %{{.+}}, %[[W]] : index
// CHECK-NEXT:        %[[V:.+]] = memref.load %[[X]][%[[N]], %[[C]], %[[H]], %[[W]]]
// CHECK-NEXT:        memref.store %[[V]], %[[Y]][%[[N]], %[[COL]]]

// -----

// Transpose walks the output, its last dim innermost; the load permutes the ivs.
func.func @transpose_2d(%x: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %y = nn.transpose %x {perm = array<i64: 1, 0>} : (tensor<?x?xf32>) -> tensor<?x?xf32>
  func.return %y : tensor<?x?xf32>
}

// CHECK-LABEL: func.func @transpose_0(
// CHECK-SAME:      %[[X:.+]]: memref<?x?xf32>, %[[Y:.+]]: memref<?x?xf32>, %{{.+}}: index, %{{.+}}: index)
// CHECK-DAG:     %[[D0:.+]] = memref.dim %[[Y]], %{{.+}} : memref<?x?xf32>
// CHECK-DAG:     %[[D1:.+]] = memref.dim %[[Y]], %{{.+}} : memref<?x?xf32>
// CHECK:         %[[FIRST:.+]] = arith.muli %[[D0]], %{{.+}} : index
// CHECK:         scf.for %[[I:.+]] = %{{.+}} to %{{.+}} step
// CHECK-NEXT:      scf.for %[[J:.+]] = %{{.+}} to %[[D1]] step
// CHECK-NEXT:        %[[V:.+]] = memref.load %[[X]][%[[J]], %[[I]]]
// CHECK-NEXT:        memref.store %[[V]], %[[Y]][%[[I]], %[[J]]]

// -----

// Concat: one nest per input; the second writes at the first's (static) width.
func.func @concat_columns(%a: tensor<?x4xf32>, %b: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %y = nn.concat %a, %b {axis = 1 : i64} : (tensor<?x4xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  func.return %y : tensor<?x?xf32>
}

// CHECK-LABEL: func.func @concat_0(
// CHECK-SAME:      %[[A:.+]]: memref<?x4xf32>, %[[B:.+]]: memref<?x?xf32>, %[[Y:.+]]: memref<?x?xf32>, %{{.+}}: index, %{{.+}}: index)
// CHECK-DAG:     %[[C4:.+]] = arith.constant 4 : index
// CHECK:         scf.for %[[I:.+]] = %{{.+}} to
// CHECK-NEXT:      scf.for %[[J:.+]] = %{{.+}} to %[[C4]] step
// CHECK-NEXT:        %[[V:.+]] = memref.load %[[A]][%[[I]], %[[J]]]
// CHECK-NEXT:        memref.store %[[V]], %[[Y]][%[[I]], %[[J]]]
// CHECK:         scf.for %[[I2:.+]] = %{{.+}} to
// CHECK-NEXT:      scf.for %[[J2:.+]] = %{{.+}} to
// CHECK-NEXT:        %[[COL:.+]] = arith.addi %[[J2]], %[[C4]] : index
// CHECK-NEXT:        %[[W:.+]] = memref.load %[[B]][%[[I2]], %[[J2]]]
// CHECK-NEXT:        memref.store %[[W]], %[[Y]][%[[I2]], %[[COL]]]

// -----

// Slice of a dynamic dim: the negative start is resolved and clamped in the kernel.
func.func @slice_dynamic_start(%x: tensor<?xf32>) -> tensor<?xf32> {
  %y = nn.slice %x {starts = array<i64: -3>, ends = array<i64: 9223372036854775807>, steps = array<i64: 2>} : (tensor<?xf32>) -> tensor<?xf32>
  func.return %y : tensor<?xf32>
}

// CHECK-LABEL: func.func @slice_0(
// CHECK-SAME:      %[[X:.+]]: memref<?xf32>, %[[Y:.+]]: memref<?xf32>, %{{.+}}: index, %{{.+}}: index)
// CHECK:         %[[D:.+]] = memref.dim %[[X]]
// CHECK-NEXT:    %[[S:.+]] = arith.addi %{{.+}}, %[[D]] : index
// CHECK-NEXT:    %[[LO:.+]] = arith.maxsi %[[S]], %{{.+}} : index
// CHECK-NEXT:    %[[START:.+]] = arith.minsi %[[LO]], %[[D]] : index
// CHECK:         scf.for %[[I:.+]] = %{{.+}} to
// CHECK-NEXT:      %[[OFF:.+]] = arith.muli %[[I]], %{{.+}} : index
// CHECK-NEXT:      %[[AT:.+]] = arith.addi %[[START]], %[[OFF]] : index
// CHECK-NEXT:      %[[V:.+]] = memref.load %[[X]][%[[AT]]]
// CHECK-NEXT:      memref.store %[[V]], %[[Y]][%[[I]]]

// -----

// Gather: one index load per output row (wrapped when negative, clamped), then the row copy.
func.func @gather_rows(%t: tensor<100x8xf32>, %i: tensor<?xi64>) -> tensor<?x8xf32> {
  %y = nn.gather %t, %i {axis = 0 : i64} : (tensor<100x8xf32>, tensor<?xi64>) -> tensor<?x8xf32>
  func.return %y : tensor<?x8xf32>
}

// CHECK-LABEL: func.func @gather_0(
// CHECK-SAME:      %[[T:.+]]: memref<100x8xf32>, %[[IDS:.+]]: memref<?xi64>, %[[Y:.+]]: memref<?x8xf32>, %{{.+}}: index, %{{.+}}: index)
// CHECK:         scf.for %[[R:.+]] = %{{.+}} to
// CHECK-NEXT:      %[[RAW:.+]] = memref.load %[[IDS]][%[[R]]]
// CHECK-NEXT:      %[[IDX:.+]] = arith.index_cast %[[RAW]] : i64 to index
// CHECK-NEXT:      %[[NEG:.+]] = arith.cmpi slt, %[[IDX]]
// CHECK-NEXT:      %[[UP:.+]] = arith.addi %[[IDX]]
// CHECK-NEXT:      %[[W:.+]] = arith.select %[[NEG]], %[[UP]], %[[IDX]] : index
// CHECK-NEXT:      %[[LO:.+]] = arith.maxsi %[[W]]
// CHECK-NEXT:      %[[ROW:.+]] = arith.minsi %[[LO]]
// CHECK-NEXT:      scf.for %[[J:.+]] = %{{.+}} to
// CHECK-NEXT:        %[[V:.+]] = memref.load %[[T]][%[[ROW]], %[[J]]]
// CHECK-NEXT:        memref.store %[[V]], %[[Y]][%[[R]], %[[J]]]

// -----

// Shape: one i64 store per dim, from memref.dim where the dim is dynamic.
func.func @shape_of_dynamic(%x: tensor<?x3xf32>) -> tensor<2xi64> {
  %y = nn.shape %x : (tensor<?x3xf32>) -> tensor<2xi64>
  func.return %y : tensor<2xi64>
}

// CHECK-LABEL: func.func @shape_0(
// CHECK-SAME:      %[[X:.+]]: memref<?x3xf32>, %[[Y:.+]]: memref<2xi64>)
// CHECK-DAG:     %[[C3:.+]] = arith.constant 3 : i64
// CHECK:         %[[D:.+]] = memref.dim %[[X]]
// CHECK-NEXT:    %[[D64:.+]] = arith.index_cast %[[D]] : index to i64
// CHECK-NEXT:    memref.store %[[D64]], %[[Y]]
// CHECK-NEXT:    memref.store %[[C3]], %[[Y]]
// CHECK-NOT:     scf.for

// -----

// TopK: per row, count the kept entries ranked ahead (NaN counts as largest), shift the
// tail down, insert when the place is below k.
func.func @topk_rows(%x: tensor<?x10xf32>) -> (tensor<?x3xf32>, tensor<?x3xi64>) {
  %v, %i = nn.topk %x {k = 3 : i64} : (tensor<?x10xf32>) -> (tensor<?x3xf32>, tensor<?x3xi64>)
  func.return %v, %i : tensor<?x3xf32>, tensor<?x3xi64>
}

// CHECK-LABEL: func.func @topk_0(
// CHECK-SAME:      %[[X:.+]]: memref<?x10xf32>, %[[V:.+]]: memref<?x3xf32>, %[[I:.+]]: memref<?x3xi64>, %{{.+}}: index, %{{.+}}: index)
// CHECK:         scf.for %[[R:.+]] = %{{.+}} to
// CHECK-NEXT:      scf.for %[[J:.+]] = %{{.+}} to
// CHECK-NEXT:        %[[E:.+]] = memref.load %[[X]][%[[R]], %[[J]]]
// CHECK-NEXT:        %[[FILLED:.+]] = arith.minsi %[[J]]
// CHECK-NEXT:        %[[PLACE:.+]] = scf.for %{{.+}} = %{{.+}} to %[[FILLED]] step %{{.+}} iter_args
// CHECK:               arith.cmpf uno
// CHECK:               arith.cmpf oge
// CHECK:               scf.yield
// CHECK:             scf.for %{{.+}} = %[[PLACE]] to
// CHECK:             %[[FITS:.+]] = arith.cmpi slt, %[[PLACE]]
// CHECK-NEXT:        scf.if %[[FITS]] {
// CHECK-NEXT:          memref.store %[[E]], %[[V]][%[[R]], %[[PLACE]]]
// CHECK-NEXT:          %[[J64:.+]] = arith.index_cast %[[J]] : index to i64
// CHECK-NEXT:          memref.store %[[J64]], %[[I]][%[[R]], %[[PLACE]]]
