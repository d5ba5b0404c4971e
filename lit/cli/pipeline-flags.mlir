// RUN: dynir-opt %s -p cse,dce --print-ir-after-all 2>&1 >/dev/null | FileCheck %s --check-prefix=AFTER-ALL
// RUN: dynir-opt %s -p cse,dce --print-ir-after=dce 2>&1 >/dev/null | FileCheck %s --check-prefix=AFTER-DCE
// RUN: dynir-opt %s -p cse,dce --timing 2>&1 >/dev/null | FileCheck %s --check-prefix=TIMING
// RUN: rm -rf %t && dynir-opt %s -p cse,dce --dump-dir %t && FileCheck %s --check-prefix=DUMP < %t/02-dce.mlir
// RUN: dynir-opt %s --elide-constants 2 | FileCheck %s --check-prefix=ELIDE
// RUN: not dynir-opt %s -p canonicalise 2>&1 | FileCheck %s --check-prefix=UNKNOWN

// A dead relu and the instrumentation flags around the passes that remove it.
// AFTER-ALL:      // -----// IR Dump After cse //----- //
// AFTER-ALL:      // -----// IR Dump After dce //----- //
// AFTER-ALL-NOT:  %dead
// AFTER-DCE-NOT:  IR Dump After cse
// AFTER-DCE:      // -----// IR Dump After dce //----- //
// TIMING:         wall ms   share  pass
// TIMING-NEXT:    (parse and verify input)
// TIMING-NEXT:    cse
// TIMING-NEXT:    dce
// TIMING-NEXT:    (print output)
// TIMING-NEXT:    100.0%  total
// DUMP-LABEL:     func.func @dead_relu
// DUMP-NOT:       nn.relu
// ELIDE:          nn.constant {value = dense_resource<__elided__> : tensor<4xf32>} : tensor<4xf32>
// UNKNOWN:        error: unknown pass 'canonicalise'; did you mean 'canonicalize'
func.func @dead_relu(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %b = nn.constant {value = dense<[1.0, -2.0, 3.0, -4.0]> : tensor<4xf32>} : tensor<4xf32>
  %dead = nn.relu %b : (tensor<4xf32>) -> tensor<4xf32>
  %0 = nn.add %x, %b : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  func.return %0 : tensor<?x4xf32>
}
