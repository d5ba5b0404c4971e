// RUN: dynir-opt %s --split-input-file -p lower-to-loops | FileCheck %s

// A grouped, strided, padded 2-D conv: n, g, oc, oh outside; the row is filled with the
// bias; then ic, kh (over the taps inside the input), kw; the output row (ow) innermost,
// over the clamped range whose input column lies inside the input: no bounds checks.
func.func @grouped_strided_padded_conv(%x: tensor<?x4x?x?xf32>, %w: tensor<6x2x3x3xf32>, %b: tensor<6xf32>) -> tensor<?x6x?x?xf32> {
  %0 = nn.conv %x, %w, %b {group = 2 : i64, strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>} : (tensor<?x4x?x?xf32>, tensor<6x2x3x3xf32>, tensor<6xf32>) -> tensor<?x6x?x?xf32>
  func.return %0 : tensor<?x6x?x?xf32>
}

// CHECK-LABEL: func.func @grouped_strided_padded_conv
// CHECK:         fusion.group {{.*}} {kernel = @conv_0}
// CHECK-LABEL: func.func @conv_0(
// CHECK-SAME:    %{{[^:]*}}: memref<?x4x?x?xf32>, %{{[^:]*}}: memref<6x2x3x3xf32>, %{{[^:]*}}: memref<6xf32>, %[[Y:[^:]*]]: memref<?x6x?x?xf32>)
// CHECK:         %[[IN_H:.*]] = memref.dim %{{.*}}, %{{.*}} : memref<?x4x?x?xf32>
// CHECK-NEXT:    %[[IN_W:.*]] = memref.dim %{{.*}}, %{{.*}} : memref<?x4x?x?xf32>
// CHECK:         scf.for %[[N:.*]] = {{.*}} {
// CHECK-NEXT:      scf.for %[[G:.*]] = {{.*}} {
// CHECK-NEXT:        scf.for %[[OC:.*]] = {{.*}} {
// CHECK:               %[[M:.*]] = arith.addi
// CHECK:               %[[BIAS:.*]] = memref.load %{{.*}}[%[[M]]] : memref<6xf32>
// CHECK-NEXT:          scf.for %[[OH:.*]] = {{.*}} {
// CHECK-NEXT:            scf.for %[[FILL:.*]] = {{.*}} {
// CHECK-NEXT:              memref.store %[[BIAS]], %[[Y]][%[[N]], %[[M]], %[[OH]], %[[FILL]]]
// CHECK-NEXT:            }
// CHECK-NEXT:            scf.for %[[IC:.*]] = {{.*}} {
// CHECK:                   arith.subi %[[IN_H]], {{.*}}
// CHECK:                   %[[KH_LO:.*]] = arith.maxsi
// CHECK-NEXT:              %[[KH_HI:.*]] = arith.minsi
// CHECK-NEXT:              scf.for %[[KH:.*]] = %[[KH_LO]] to %[[KH_HI]] step {{.*}} {
// CHECK:                     scf.for %[[KW:.*]] = {{.*}} {
// CHECK-NEXT:                  %[[WV:.*]] = memref.load %{{.*}}[%[[M]], %[[IC]], %[[KH]], %[[KW]]] : memref<6x2x3x3xf32>
// CHECK:                       arith.subi %[[IN_W]], {{.*}}
// CHECK:                       arith.ceildivsi
// CHECK:                       %[[OW_LO:.*]] = arith.maxsi
// CHECK-NEXT:                  %[[OW_HI:.*]] = arith.minsi
// CHECK-NEXT:                  scf.for %[[OW:.*]] = %[[OW_LO]] to %[[OW_HI]] step {{.*}} {
// CHECK:                         %[[XV:.*]] = memref.load %{{.*}} : memref<?x4x?x?xf32>
// CHECK-NEXT:                    %[[ACC:.*]] = memref.load %[[Y]][%[[N]], %[[M]], %[[OH]], %[[OW]]]
// CHECK-NEXT:                    %[[PROD:.*]] = arith.mulf %[[XV]], %[[WV]] : f32
// CHECK-NEXT:                    %[[SUM:.*]] = arith.addf %[[ACC]], %[[PROD]] : f32
// CHECK-NEXT:                    memref.store %[[SUM]], %[[Y]][%[[N]], %[[M]], %[[OH]], %[[OW]]]
// CHECK-NEXT:                  }

// -----

// One group: no group loop; a 1-D conv has no outer output or kernel loops either.
// (Three output channels: too few for the implicit GEMM, so the direct loops.)
func.func @conv_1d_one_group(%x: tensor<?x3x?xf32>, %w: tensor<3x3x5xf32>, %b: tensor<3xf32>) -> tensor<?x3x?xf32> {
  %0 = nn.conv %x, %w, %b : (tensor<?x3x?xf32>, tensor<3x3x5xf32>, tensor<3xf32>) -> tensor<?x3x?xf32>
  func.return %0 : tensor<?x3x?xf32>
}

// CHECK-LABEL: func.func @conv_0(
// CHECK:         scf.for %[[N:.*]] = {{.*}} {
// CHECK-NEXT:      scf.for %[[OC:.*]] = {{.*}} {
// CHECK-NEXT:        %[[BIAS:.*]] = memref.load %{{.*}}[%[[OC]]] : memref<3xf32>
// CHECK-NEXT:        scf.for {{.*}} {
// CHECK-NEXT:          memref.store %[[BIAS]]
// CHECK-NEXT:        }
// CHECK-NEXT:        scf.for %[[IC:.*]] = {{.*}} {
// CHECK-NEXT:          scf.for %[[K:.*]] = {{.*}} {
// CHECK-NEXT:            memref.load %{{.*}}[%[[OC]], %[[IC]], %[[K]]] : memref<3x3x5xf32>
// CHECK:                 scf.for %[[O:.*]] = {{.*}} {
// CHECK:                   arith.mulf
// CHECK-NEXT:              arith.addf
// CHECK-NEXT:              memref.store

// -----

// Enough output channels: an implicit GEMM. One parallel loop over (image, group, panel of
// output positions); per K block the im2col slice goes to a stack scratch a vector at a
// time (``?`` rows: a masked gather per tap, the padding zeroed by integer lane masks),
// then register tiles of vector accumulators (fma) are stored with lane masks; the bias
// is added last.
func.func @conv_implicit_gemm(%x: tensor<?x3x?x?xf32>, %w: tensor<16x3x3x3xf32>, %b: tensor<16xf32>) -> tensor<?x16x?x?xf32> {
  %0 = nn.conv %x, %w, %b {pads = array<i64: 1, 1, 1, 1>} : (tensor<?x3x?x?xf32>, tensor<16x3x3x3xf32>, tensor<16xf32>) -> tensor<?x16x?x?xf32>
  func.return %0 : tensor<?x16x?x?xf32>
}

// CHECK-LABEL: func.func @conv_0(
// CHECK:         %[[SCRATCH:.*]] = memref.alloca() {alignment = 64 : i64} : memref<256x{{[0-9]+}}xf32>
// CHECK:         scf.for %{{.*}} = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK:           scf.for %[[K0:.*]] = {{.*}} {
// CHECK:             arith.divui %{{.*}} : vector<{{[0-9]+}}xi32>
// CHECK:             scf.for {{.*}} {
// CHECK:               arith.shrsi %{{.*}} : vector<{{[0-9]+}}xi32>
// CHECK:               %[[G:.*]] = vecx.gather
// CHECK:               %[[BITS:.*]] = arith.bitcast %[[G]] : vector<{{[0-9]+}}xf32> to vector<{{[0-9]+}}xi32>
// CHECK:               arith.andi %[[BITS]], %{{.*}} : vector<{{[0-9]+}}xi32>
// CHECK:               vector.store %{{.*}}, %[[SCRATCH]]
// CHECK:             scf.for {{.*}} {
// CHECK:               scf.for {{.*}} iter_args({{.*}}) -> (vector<{{[0-9]+}}xf32>
// CHECK:                 vector.load %[[SCRATCH]]
// CHECK:                 vector.broadcast
// CHECK:                 vector.fma
// CHECK:               vector.maskedstore
// CHECK:         memref.load %{{.*}} : memref<16xf32>
// CHECK-NEXT:    arith.addf

// -----

// conv_transpose scatters: the output is filled with the bias, then each (input channel,
// tap) adds x * w along the input row, over the inputs whose output index is in range.
func.func @strided_conv_transpose_1d(%x: tensor<?x2x?xf32>, %w: tensor<2x3x4xf32>, %b: tensor<3xf32>) -> tensor<?x3x?xf32> {
  %0 = nn.conv_transpose %x, %w, %b {strides = array<i64: 2>, pads = array<i64: 1, 1>} : (tensor<?x2x?xf32>, tensor<2x3x4xf32>, tensor<3xf32>) -> tensor<?x3x?xf32>
  func.return %0 : tensor<?x3x?xf32>
}

// CHECK-LABEL: func.func @conv_transpose_0(
// CHECK-SAME:    %[[X:[^:]*]]: memref<?x2x?xf32>, %[[W:[^:]*]]: memref<2x3x4xf32>, %{{[^:]*}}: memref<3xf32>, %[[Y:[^:]*]]: memref<?x3x?xf32>)
// CHECK:         scf.for %[[N:.*]] = {{.*}} {
// CHECK-NEXT:      scf.for %[[OC:.*]] = {{.*}} {
// CHECK-NEXT:        %[[BIAS:.*]] = memref.load
// CHECK-NEXT:        scf.for %[[FILL:.*]] = {{.*}} {
// CHECK-NEXT:          memref.store %[[BIAS]], %[[Y]][%[[N]], %[[OC]], %[[FILL]]]
// CHECK-NEXT:        }
// CHECK-NEXT:        scf.for %[[IC:.*]] = {{.*}} {
// CHECK-NEXT:          scf.for %[[K:.*]] = {{.*}} {
// CHECK-NEXT:            %[[WV:.*]] = memref.load %[[W]][%[[IC]], %[[OC]], %[[K]]]
// CHECK:                 scf.for %[[I:.*]] = {{.*}} {
// CHECK:                   %[[OUT:.*]] = arith.addi
// CHECK-NEXT:              %[[XV:.*]] = memref.load %[[X]][%[[N]], %[[IC]], %[[I]]]
// CHECK-NEXT:              %[[ACC:.*]] = memref.load %[[Y]][%[[N]], %[[OC]], %[[OUT]]]
// CHECK-NEXT:              %[[PROD:.*]] = arith.mulf %[[XV]], %[[WV]]
// CHECK-NEXT:              %[[SUM:.*]] = arith.addf %[[ACC]], %[[PROD]]
// CHECK-NEXT:              memref.store %[[SUM]], %[[Y]][%[[N]], %[[OC]], %[[OUT]]]

// -----

// Static rows and "same" padding: each tap reads the output positions shifted by one
// constant, so the scratch is filled with masked loads of x (lanes outside the plane
// masked off), no gather. The residual epilogue reads at the flat position: the finish
// runs whole vectors of columns in loops of exactly 16 (no division per element).
func.func @conv_same_rows_residual(%x: tensor<1x8x7x21xf32>, %w: tensor<16x8x3x3xf32>, %b: tensor<16xf32>, %r: tensor<1x16x7x21xf32>) -> tensor<1x16x7x21xf32> {
  %y = fusion.group (%x, %w, %b, %r) {kind = "epilogue"} : (tensor<1x8x7x21xf32>, tensor<16x8x3x3xf32>, tensor<16xf32>, tensor<1x16x7x21xf32>) -> (tensor<1x16x7x21xf32>) {
  ^bb0(%a0: tensor<1x8x7x21xf32>, %a1: tensor<16x8x3x3xf32>, %a2: tensor<16xf32>, %a3: tensor<1x16x7x21xf32>):
    %0 = nn.conv %a0, %a1, %a2 {pads = array<i64: 1, 1, 1, 1>} : (tensor<1x8x7x21xf32>, tensor<16x8x3x3xf32>, tensor<16xf32>) -> tensor<1x16x7x21xf32>
    %1 = nn.add %0, %a3 : (tensor<1x16x7x21xf32>, tensor<1x16x7x21xf32>) -> tensor<1x16x7x21xf32>
    fusion.yield %1 : tensor<1x16x7x21xf32>
  }
  func.return %y : tensor<1x16x7x21xf32>
}

// CHECK-LABEL: func.func @fused_conv_add_0(
// CHECK-SAME:    %[[X:[^:]*]]: memref<1x8x7x21xf32>, %{{[^:]*}}: memref<16x8x3x3xf32>, %[[B:[^:]*]]: memref<16xf32>, %[[R:[^:]*]]: memref<1x16x7x21xf32>, %[[Y:[^:]*]]: memref<1x16x7x21xf32>
// CHECK:         %[[C16:.*]] = arith.constant 16 : index
// CHECK-NOT:     vecx.gather
// CHECK:         vector.maskedload %[[X]]
// CHECK:         vector.store
// CHECK:         vector.fma
// CHECK:         scf.for %[[J0:.*]] = %{{.*}} to %{{.*}} step %[[C16]] {
// CHECK-NEXT:      scf.for %[[LANE:.*]] = %{{.*}} to %[[C16]] step %{{.*}} {
// CHECK-NEXT:        %[[JJ:.*]] = arith.addi %[[J0]], %[[LANE]] : index
// CHECK-NEXT:        %[[P:.*]] = arith.addi %{{.*}}, %[[JJ]] : index
// CHECK-NEXT:        %[[ACC:.*]] = memref.load %[[Y]][%{{[^,]+}}, %[[M:[^,]+]], %{{[^,]+}}, %[[P]]]
// CHECK-NEXT:        %[[BIAS:.*]] = memref.load %[[B]][%[[M]]]
// CHECK-NEXT:        %[[SUM:.*]] = arith.addf %[[ACC]], %[[BIAS]]
// CHECK-NEXT:        %[[RES:.*]] = memref.load %[[R]][%{{[^,]+}}, %[[M]], %{{[^,]+}}, %[[P]]]
// CHECK-NEXT:        %[[OUT:.*]] = arith.addf %[[SUM]], %[[RES]]
// CHECK-NEXT:        memref.store %[[OUT]], %[[Y]][%{{[^,]+}}, %[[M]], %{{[^,]+}}, %[[P]]]
