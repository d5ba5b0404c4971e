// RUN: dynir-opt %s --lower-to-llvm | FileCheck %s
// RUN: dynir-opt %s --lower-to-loops -t llvm | FileCheck %s

// The relu kernel becomes one LLVM function: a pointer per buffer, an i64 per dynamic
// dim, noalias pointers, and a vectorised body after O3.
// CHECK-LABEL: define void @relu_0(ptr noalias
// CHECK-SAME:    i64 %{{.*}}_d0
// CHECK:         <{{[0-9]+}} x float>
func.func @relu_dynamic_batch(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %0 = nn.relu %x : (tensor<?x64xf32>) -> tensor<?x64xf32>
  func.return %0 : tensor<?x64xf32>
}
