// RUN: dynir-opt %s -t llvm | FileCheck %s

// The translation of vecx.in_range: lanes inside [0, bound) as one unsigned compare
// (a negative lane is a huge unsigned one, so it is outside too). The int8 conv's
// X_col copy makes its padding masks with it. Stored as a 16-bit word here (the
// optimiser folds the bitcast into a store of the 16 bits).

// CHECK-LABEL: define void @in_range_mask(
// CHECK:         %[[V:.+]] = load <16 x i64>
// CHECK:         %[[M:.+]] = icmp ult <16 x i64> %[[V]], %{{.+}}
// CHECK:         store <16 x i1> %[[M]], ptr %out, align 2
func.func @in_range_mask(%lanes: memref<16xi64>, %bound: index, %out: memref<1xi16>) attributes {kernel} {
  %c0 = arith.constant 0 : index
  %v = vector.load %lanes[%c0] : memref<16xi64>, vector<16xi64>
  %m = vecx.in_range %v, %bound : vector<16xi64>, index -> vector<16xi1>
  %w = vector.bitcast %m : vector<16xi1> to vector<1xi16>
  vector.store %w, %out[%c0] : memref<1xi16>, vector<1xi16>
  func.return
}

// A bound of a narrower lane type is compared as it is.
// CHECK-LABEL: define void @in_range_i32(
// CHECK:         icmp ult <8 x i32>
func.func @in_range_i32(%lanes: memref<8xi32>, %bound: i32, %out: memref<1xi8>) attributes {kernel} {
  %c0 = arith.constant 0 : index
  %v = vector.load %lanes[%c0] : memref<8xi32>, vector<8xi32>
  %m = vecx.in_range %v, %bound : vector<8xi32>, i32 -> vector<8xi1>
  %w = vector.bitcast %m : vector<8xi1> to vector<1xi8>
  vector.store %w, %out[%c0] : memref<1xi8>, vector<1xi8>
  func.return
}
