// RUN: dynir-opt %s --split-input-file -p lower-to-loops | FileCheck %s

// max_pool: (n, c) as one flat range split across threads, oh inside; the row starts at -inf; the kernel loops run over the taps
// inside the input (no bounds checks, padding never read); the output row is innermost.
func.func @max_pool_3x3_padded(%x: tensor<?x8x?x?xf32>) -> tensor<?x8x?x?xf32> {
  %0 = nn.max_pool %x {kernel_shape = array<i64: 3, 3>, strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>} : (tensor<?x8x?x?xf32>) -> tensor<?x8x?x?xf32>
  func.return %0 : tensor<?x8x?x?xf32>
}

// CHECK-LABEL: func.func @max_pool_0(
// CHECK-SAME:    %[[X:[^:]*]]: memref<?x8x?x?xf32>, %[[Y:[^:]*]]: memref<?x8x?x?xf32>, %{{.+}}: index, %{{.+}}: index)
// CHECK:         %[[NEG_INF:.*]] = arith.constant 0xff800000 : f32
// CHECK:         scf.for %{{.*}} iter_args(%[[N:[^ ]*]] = %{{[^,]*}}, %[[C:[^ ]*]] = %{{[^)]*}}) -> (index, index) {
// CHECK-NEXT:        scf.for %[[OH:.*]] = {{.*}} {
// CHECK-NEXT:          scf.for %[[FILL:.*]] = {{.*}} {
// CHECK-NEXT:            memref.store %[[NEG_INF]], %[[Y]][%[[N]], %[[C]], %[[OH]], %[[FILL]]]
// CHECK-NEXT:          }
// CHECK:               %[[KH_LO:.*]] = arith.maxsi
// CHECK-NEXT:          %[[KH_HI:.*]] = arith.minsi
// CHECK-NEXT:          scf.for %[[KH:.*]] = %[[KH_LO]] to %[[KH_HI]] step {{.*}} {
// CHECK:                 scf.for %[[KW:.*]] = {{.*}} {
// CHECK:                   %[[OW_LO:.*]] = arith.maxsi
// CHECK-NEXT:              %[[OW_HI:.*]] = arith.minsi
// CHECK-NEXT:              scf.for %[[OW:.*]] = %[[OW_LO]] to %[[OW_HI]] step {{.*}} {
// CHECK:                     %[[V:.*]] = memref.load %[[X]]
// CHECK-NEXT:                %[[ACC:.*]] = memref.load %[[Y]][%[[N]], %[[C]], %[[OH]], %[[OW]]]
// CHECK-NEXT:                %[[MAX:.*]] = arith.maximumf %[[ACC]], %[[V]] : f32
// CHECK-NEXT:                memref.store %[[MAX]], %[[Y]][%[[N]], %[[C]], %[[OH]], %[[OW]]]
// CHECK-NEXT:              }
// CHECK-NEXT:            }
// CHECK-NEXT:          }
// CHECK-NEXT:        }
// CHECK:             scf.yield
// CHECK-NEXT:    }
// CHECK-NEXT:    func.return

// -----

// average_pool: the same sum nest, then one pass over the row divides by the number of
// taps inside the input (count_include_pad = 0).
func.func @average_pool_3x3_padded(%x: tensor<?x8x?x?xf32>) -> tensor<?x8x?x?xf32> {
  %0 = nn.average_pool %x {kernel_shape = array<i64: 3, 3>, pads = array<i64: 1, 1, 1, 1>} : (tensor<?x8x?x?xf32>) -> tensor<?x8x?x?xf32>
  func.return %0 : tensor<?x8x?x?xf32>
}

// CHECK-LABEL: func.func @average_pool_0(
// CHECK-SAME:    %[[X:[^:]*]]: memref<?x8x?x?xf32>, %[[Y:[^:]*]]: memref<?x8x?x?xf32>, %{{.+}}: index, %{{.+}}: index)
// CHECK:               scf.for %[[OW:.*]] = {{.*}} {
// CHECK:                 %[[V:.*]] = memref.load %[[X]]
// CHECK-NEXT:            %[[ACC:.*]] = memref.load %[[Y]]
// CHECK-NEXT:            %[[SUM:.*]] = arith.addf %[[ACC]], %[[V]] : f32
// CHECK-NEXT:            memref.store %[[SUM]], %[[Y]]
// CHECK:               %[[ROWS:.*]] = arith.muli
// CHECK-NEXT:          scf.for %[[O:.*]] = {{.*}} {
// CHECK:                 %[[COUNT:.*]] = arith.muli %[[ROWS]], %{{.*}} : index
// CHECK-NEXT:            %[[TOTAL:.*]] = memref.load %[[Y]]
// CHECK-NEXT:            %[[COUNT_I64:.*]] = arith.index_cast %[[COUNT]] : index to i64
// CHECK-NEXT:            %[[COUNT_F:.*]] = arith.sitofp %[[COUNT_I64]] : i64 to f32
// CHECK-NEXT:            %[[MEAN:.*]] = arith.divf %[[TOTAL]], %[[COUNT_F]] : f32
// CHECK-NEXT:            memref.store %[[MEAN]], %[[Y]]

// -----

// global_average_pool: one register reduction (iter_args) per (n, c) -- (n, c) one flat
// range split across threads -- then one divide.
func.func @global_average_pool_dynamic(%x: tensor<?x8x?x?xf32>) -> tensor<?x8x1x1xf32> {
  %0 = nn.global_average_pool %x : (tensor<?x8x?x?xf32>) -> tensor<?x8x1x1xf32>
  func.return %0 : tensor<?x8x1x1xf32>
}

// CHECK-LABEL: func.func @global_average_pool_0(
// CHECK:         %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK:         scf.for %{{.*}} iter_args(%[[N:[^ ]*]] = %{{[^,]*}}, %[[C:[^ ]*]] = %{{[^)]*}}) -> (index, index) {
// CHECK-NEXT:        %[[SUM:.*]] = scf.for %{{.*}} iter_args(%[[OUTER:.*]] = %[[ZERO]]) -> (f32) {
// CHECK-NEXT:          %[[ROW:.*]] = scf.for %{{.*}} iter_args(%[[ACC:.*]] = %[[OUTER]]) -> (f32) {
// CHECK-NEXT:            %[[V:.*]] = memref.load
// CHECK-NEXT:            %[[NEXT:.*]] = arith.addf %[[ACC]], %[[V]] : f32
// CHECK-NEXT:            scf.yield %[[NEXT]] : f32
// CHECK-NEXT:          }
// CHECK-NEXT:          scf.yield %[[ROW]] : f32
// CHECK-NEXT:        }
// CHECK:             %[[MEAN:.*]] = arith.divf %[[SUM]], %{{.*}} : f32
// CHECK-NEXT:        memref.store %[[MEAN]]

// -----

// global_max_pool on int8: signed integer max from the smallest int8.
func.func @global_max_pool_int8(%x: tensor<?x4x?xi8>) -> tensor<?x4x1xi8> {
  %0 = nn.global_max_pool %x : (tensor<?x4x?xi8>) -> tensor<?x4x1xi8>
  func.return %0 : tensor<?x4x1xi8>
}

// CHECK-LABEL: func.func @global_max_pool_0(
// CHECK:         %[[LOWEST:.*]] = arith.constant -128 : i8
// CHECK:         scf.for %{{.*}} iter_args(%[[ACC:.*]] = %[[LOWEST]]) -> (i8) {
// CHECK-NEXT:      %[[V:.*]] = memref.load
// CHECK-NEXT:      %[[MAX:.*]] = arith.maxsi %[[ACC]], %[[V]] : i8
// CHECK-NEXT:      scf.yield %[[MAX]] : i8
