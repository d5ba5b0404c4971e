// RUN: dynir-opt %s --split-input-file --verify-diagnostics | FileCheck %s

// CHECK-LABEL: func.func @gather
// CHECK: vecx.gather %{{.*}}[%{{.*}}, %{{.*}}], %{{.*}}, %{{.*}}, %{{.*}} : memref<4x8xf32>, vector<16xi32>, vector<16xi1>, vector<16xf32> -> vector<16xf32>
func.func @gather(%m: memref<4x8xf32>, %i: index, %o: vector<16xi32>, %k: vector<16xi1>, %z: vector<16xf32>) -> vector<16xf32> {
  %g = vecx.gather %m[%i, %i], %o, %k, %z : memref<4x8xf32>, vector<16xi32>, vector<16xi1>, vector<16xf32> -> vector<16xf32>
  func.return %g : vector<16xf32>
}

// CHECK-LABEL: func.func @dot4
// CHECK: vecx.dot4 %{{.*}}, %{{.*}}, %{{.*}} : vector<16xi32>, vector<64xi8>, vector<64xi8> -> vector<16xi32>
func.func @dot4(%acc: vector<16xi32>, %a: vector<64xi8>, %b: vector<64xi8>) -> vector<16xi32> {
  %r = vecx.dot4 %acc, %a, %b : vector<16xi32>, vector<64xi8>, vector<64xi8> -> vector<16xi32>
  func.return %r : vector<16xi32>
}

// -----

func.func @dot4_lanes(%acc: vector<16xi32>, %a: vector<32xi8>, %b: vector<32xi8>) -> vector<16xi32> {
  // expected-error @+1 {{lhs and rhs need 64 lanes for vector<16xi32>, got vector<32xi8>, vector<32xi8>}}
  %r = vecx.dot4 %acc, %a, %b : vector<16xi32>, vector<32xi8>, vector<32xi8> -> vector<16xi32>
  func.return %r : vector<16xi32>
}

// -----

func.func @gather_indices(%m: memref<4x8xf32>, %i: index, %o: vector<16xi32>, %k: vector<16xi1>, %z: vector<16xf32>) -> vector<16xf32> {
  // expected-error @+1 {{expected 2 indices, got 1}}
  %g = vecx.gather %m[%i], %o, %k, %z : memref<4x8xf32>, vector<16xi32>, vector<16xi1>, vector<16xf32> -> vector<16xf32>
  func.return %g : vector<16xf32>
}

// -----

// CHECK-LABEL: func.func @in_range
// CHECK: vecx.in_range %{{.*}}, %{{.*}} : vector<16xi64>, index -> vector<16xi1>
func.func @in_range(%v: vector<16xi64>, %n: index) -> vector<16xi1> {
  %m = vecx.in_range %v, %n : vector<16xi64>, index -> vector<16xi1>
  func.return %m : vector<16xi1>
}

// -----

func.func @in_range_bound(%v: vector<8xi32>, %n: index) -> vector<8xi1> {
  // expected-error @+1 {{bound must be i32, got index}}
  %m = vecx.in_range %v, %n : vector<8xi32>, index -> vector<8xi1>
  func.return %m : vector<8xi1>
}
