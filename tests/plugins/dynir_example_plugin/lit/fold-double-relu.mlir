// RUN: dynir-opt %s -p fold-double-relu --remarks 2>&1 | FileCheck %s

// A relu of a relu becomes the inner relu; the pass says what it folded.
// CHECK:       remark: [fold-double-relu] folded into the relu it reads
// CHECK-LABEL: func.func @relu_relu
// CHECK-SAME:    (%[[X:.+]]: tensor<4xf32>)
// CHECK:         %[[A:.+]] = nn.relu %[[X]]
// CHECK-NOT:     nn.relu
// CHECK:         %[[C:.+]] = demo.checkpoint %[[A]] : tensor<4xf32>
// CHECK:         func.return %[[C]]
func.func @relu_relu(%x: tensor<4xf32>) -> tensor<4xf32> {
  %a = nn.relu %x : (tensor<4xf32>) -> tensor<4xf32>
  %b = nn.relu %a : (tensor<4xf32>) -> tensor<4xf32>
  %c = demo.checkpoint %b : tensor<4xf32>
  func.return %c : tensor<4xf32>
}
