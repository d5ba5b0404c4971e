// RUN: dynir-opt %s | FileCheck %s

// A file with nothing but comments is an empty module, as in mlir-opt.
// CHECK:      builtin.module {
// CHECK-NEXT: }
