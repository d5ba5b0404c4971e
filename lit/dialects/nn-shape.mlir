// RUN: dynir-opt %s --split-input-file | dynir-opt --split-input-file | FileCheck %s

// Reshape copies dims with 0 and keeps the dynamic batch; transpose then flatten.
// CHECK-LABEL: func.func @attention_heads_dynamic_batch
// CHECK-SAME:    (%[[X:.+]]: tensor<?x128x768xf32>)
// CHECK:         %[[R:.+]] = nn.reshape %[[X]] {shape = array<i64: 0, 0, 12, 64>} : (tensor<?x128x768xf32>) -> tensor<?x128x12x64xf32>
// CHECK:         %[[T:.+]] = nn.transpose %[[R]] {perm = array<i64: 0, 2, 1, 3>} : (tensor<?x128x12x64xf32>) -> tensor<?x12x128x64xf32>
// CHECK:         nn.flatten %[[T]] {axis = 2 : i64} : (tensor<?x12x128x64xf32>) -> tensor<?x8192xf32>
func.func @attention_heads_dynamic_batch(%x: tensor<?x128x768xf32>) -> tensor<?x8192xf32> {
  %r = nn.reshape %x {shape = array<i64: 0, 0, 12, 64>} : (tensor<?x128x768xf32>) -> tensor<?x128x12x64xf32>
  %t = nn.transpose %r {perm = array<i64: 0, 2, 1, 3>} : (tensor<?x128x12x64xf32>) -> tensor<?x12x128x64xf32>
  %f = nn.flatten %t {axis = 2 : i64} : (tensor<?x12x128x64xf32>) -> tensor<?x8192xf32>
  func.return %f : tensor<?x8192xf32>
}

// -----

// Squeeze, unsqueeze, expand and tile keep the dynamic dim.
// CHECK-LABEL: func.func @squeeze_unsqueeze_expand_tile
// CHECK:         nn.squeeze %{{.+}} {axes = array<i64: 1>} : (tensor<?x1x4xf32>) -> tensor<?x4xf32>
// CHECK:         nn.unsqueeze %{{.+}} {axes = array<i64: 0>} : (tensor<?x4xf32>) -> tensor<1x?x4xf32>
// CHECK:         nn.expand %{{.+}} {shape = array<i64: 3, 1, 4>} : (tensor<1x?x4xf32>) -> tensor<3x?x4xf32>
// CHECK:         nn.tile %{{.+}} {repeats = array<i64: 1, 1, 2>} : (tensor<3x?x4xf32>) -> tensor<3x?x8xf32>
func.func @squeeze_unsqueeze_expand_tile(%x: tensor<?x1x4xf32>) -> tensor<3x?x8xf32> {
  %s = nn.squeeze %x {axes = array<i64: 1>} : (tensor<?x1x4xf32>) -> tensor<?x4xf32>
  %u = nn.unsqueeze %s {axes = array<i64: 0>} : (tensor<?x4xf32>) -> tensor<1x?x4xf32>
  %e = nn.expand %u {shape = array<i64: 3, 1, 4>} : (tensor<1x?x4xf32>) -> tensor<3x?x4xf32>
  %t = nn.tile %e {repeats = array<i64: 1, 1, 2>} : (tensor<3x?x4xf32>) -> tensor<3x?x8xf32>
  func.return %t : tensor<3x?x8xf32>
}

// -----

// Shape queries give i64 tensors; range has a dynamic length.
// CHECK-LABEL: func.func @shape_size_range
// CHECK:         nn.shape %{{.+}} {start = 1 : i64} : (tensor<?x128xf32>) -> tensor<1xi64>
// CHECK:         nn.size %{{.+}} : (tensor<?x128xf32>) -> tensor<i64>
// CHECK:         nn.range %{{.+}}, %{{.+}}, %{{.+}} : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<?xi64>
func.func @shape_size_range(%x: tensor<?x128xf32>, %start: tensor<i64>, %delta: tensor<i64>) -> (tensor<1xi64>, tensor<?xi64>) {
  %s = nn.shape %x {start = 1 : i64} : (tensor<?x128xf32>) -> tensor<1xi64>
  %n = nn.size %x : (tensor<?x128xf32>) -> tensor<i64>
  %r = nn.range %start, %n, %delta : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<?xi64>
  func.return %s, %r : tensor<1xi64>, tensor<?xi64>
}

// -----

// Concat takes any number of operands; split gives any number of results.
// CHECK-LABEL: func.func @concat_split_variadic
// CHECK:         %[[C:.+]] = nn.concat %{{.+}}, %{{.+}}, %{{.+}} {axis = 1 : i64} : (tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x12xf32>
// CHECK:         %{{.+}}, %{{.+}} = nn.split %[[C]] {axis = 1 : i64, sizes = array<i64: 5, 7>} : (tensor<?x12xf32>) -> (tensor<?x5xf32>, tensor<?x7xf32>)
func.func @concat_split_variadic(%a: tensor<?x4xf32>) -> (tensor<?x5xf32>, tensor<?x7xf32>) {
  %c = nn.concat %a, %a, %a {axis = 1 : i64} : (tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x12xf32>
  %p:2 = nn.split %c {axis = 1 : i64, sizes = array<i64: 5, 7>} : (tensor<?x12xf32>) -> (tensor<?x5xf32>, tensor<?x7xf32>)
  func.return %p#0, %p#1 : tensor<?x5xf32>, tensor<?x7xf32>
}

// -----

// Pad, slice and the space/depth shuffles of a YOLO-style stem.
// CHECK-LABEL: func.func @pad_slice_space_to_depth
// CHECK:         nn.pad %{{.+}} {pads = array<i64: 0, 0, 1, 1, 0, 0, 1, 1>, mode = "reflect"} : (tensor<?x3x6x6xf32>) -> tensor<?x3x8x8xf32>
// CHECK:         nn.slice %{{.+}} {starts = array<i64: -1>, ends = array<i64: -9223372036854775808>, axes = array<i64: 3>, steps = array<i64: -2>} : (tensor<?x3x8x8xf32>) -> tensor<?x3x8x4xf32>
// CHECK:         nn.space_to_depth %{{.+}} {blocksize = 2 : i64} : (tensor<?x3x8x4xf32>) -> tensor<?x12x4x2xf32>
// CHECK:         nn.depth_to_space %{{.+}} {blocksize = 2 : i64, mode = "CRD"} : (tensor<?x12x4x2xf32>) -> tensor<?x3x8x4xf32>
func.func @pad_slice_space_to_depth(%x: tensor<?x3x6x6xf32>) -> tensor<?x3x8x4xf32> {
  %p = nn.pad %x {pads = array<i64: 0, 0, 1, 1, 0, 0, 1, 1>, mode = "reflect"} : (tensor<?x3x6x6xf32>) -> tensor<?x3x8x8xf32>
  %s = nn.slice %p {starts = array<i64: -1>, ends = array<i64: -9223372036854775808>, axes = array<i64: 3>, steps = array<i64: -2>} : (tensor<?x3x8x8xf32>) -> tensor<?x3x8x4xf32>
  %d = nn.space_to_depth %s {blocksize = 2 : i64} : (tensor<?x3x8x4xf32>) -> tensor<?x12x4x2xf32>
  %u = nn.depth_to_space %d {blocksize = 2 : i64, mode = "CRD"} : (tensor<?x12x4x2xf32>) -> tensor<?x3x8x4xf32>
  func.return %u : tensor<?x3x8x4xf32>
}

// -----

// Gathers, scatters and topk take integer indices and give i64 indices back.
// CHECK-LABEL: func.func @gather_scatter_topk
// CHECK:         nn.gather %{{.+}}, %{{.+}} {axis = 0 : i64} : (tensor<100x16xf32>, tensor<?x8xi64>) -> tensor<?x8x16xf32>
// CHECK:         nn.gather_elements %{{.+}}, %{{.+}} {axis = 1 : i64} : (tensor<100x16xf32>, tensor<100x2xi32>) -> tensor<100x2xf32>
// CHECK:         nn.scatter_elements %{{.+}}, %{{.+}}, %{{.+}} {axis = 1 : i64, reduction = "add"} : (tensor<100x16xf32>, tensor<100x2xi32>, tensor<100x2xf32>) -> tensor<100x16xf32>
// CHECK:         nn.topk %{{.+}} {k = 3 : i64, axis = -1 : i64} : (tensor<100x16xf32>) -> (tensor<100x3xf32>, tensor<100x3xi64>)
func.func @gather_scatter_topk(%t: tensor<100x16xf32>, %ids: tensor<?x8xi64>, %idx: tensor<100x2xi32>) -> (tensor<?x8x16xf32>, tensor<100x3xi64>) {
  %g = nn.gather %t, %ids {axis = 0 : i64} : (tensor<100x16xf32>, tensor<?x8xi64>) -> tensor<?x8x16xf32>
  %e = nn.gather_elements %t, %idx {axis = 1 : i64} : (tensor<100x16xf32>, tensor<100x2xi32>) -> tensor<100x2xf32>
  %s = nn.scatter_elements %t, %idx, %e {axis = 1 : i64, reduction = "add"} : (tensor<100x16xf32>, tensor<100x2xi32>, tensor<100x2xf32>) -> tensor<100x16xf32>
  %v, %i = nn.topk %s {k = 3 : i64, axis = -1 : i64} : (tensor<100x16xf32>) -> (tensor<100x3xf32>, tensor<100x3xi64>)
  func.return %g, %i : tensor<?x8x16xf32>, tensor<100x3xi64>
}
