// RUN: dynir-opt %s -t llvm | FileCheck %s

// The translation of vecx.gather: the element pointer at the base indices (row-major,
// like memref.load), one vector GEP by the offsets (not inbounds: masked-off lanes may
// point anywhere), then llvm.masked.gather on the vector of pointers.

// Sixteen f32 lanes at i32 offsets from x[n, c, 0, 0] of a dynamic 4-D buffer (O3 may
// widen the offsets to i64).
// CHECK-LABEL: define void @gather_f32_i32_offsets(
// CHECK:         %[[BASE:.+]] = getelementptr inbounds float, ptr %{{.+}}, i64 %{{.+}}
// CHECK:         %[[PTRS:.+]] = getelementptr float, ptr %[[BASE]], <16 x i{{32|64}}> %{{.+}}
// CHECK:         %[[G:.+]] = {{.*}}call <16 x float> @llvm.masked.gather.v16f32.v16p0(<16 x ptr> {{.*}}%[[PTRS]], <16 x i1> %{{.+}}, <16 x float> {{.+}})
// CHECK:         store <16 x float> %[[G]]
func.func @gather_f32_i32_offsets(%x: memref<?x?x?x?xf32>, %offsets: memref<16xi32>, %out: memref<16xf32>, %n: index, %c: index, %count: index) attributes {kernel} {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %pass = vector.broadcast %zero : f32 to vector<16xf32>
  %offs = vector.load %offsets[%c0] : memref<16xi32>, vector<16xi32>
  %mask = vector.create_mask %count : vector<16xi1>
  %g = vecx.gather %x[%n, %c, %c0, %c0], %offs, %mask, %pass : memref<?x?x?x?xf32>, vector<16xi32>, vector<16xi1>, vector<16xf32> -> vector<16xf32>
  vector.store %g, %out[%c0] : memref<16xf32>, vector<16xf32>
  func.return
}

// Eight f64 lanes at i64 offsets: the overload suffixes follow the element and lane count.
// CHECK-LABEL: define void @gather_f64_i64_offsets(
// CHECK:         %[[PTRS:.+]] = getelementptr double, ptr %{{.+}}, <8 x i64> %{{.+}}
// CHECK:         call <8 x double> @llvm.masked.gather.v8f64.v8p0(<8 x ptr> {{.*}}%[[PTRS]], <8 x i1> %{{.+}}, <8 x double> {{.+}})
func.func @gather_f64_i64_offsets(%x: memref<100xf64>, %offsets: memref<8xi64>, %out: memref<8xf64>, %count: index) attributes {kernel} {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f64
  %pass = vector.broadcast %zero : f64 to vector<8xf64>
  %offs = vector.load %offsets[%c0] : memref<8xi64>, vector<8xi64>
  %mask = vector.create_mask %count : vector<8xi1>
  %g = vecx.gather %x[%c0], %offs, %mask, %pass : memref<100xf64>, vector<8xi64>, vector<8xi1>, vector<8xf64> -> vector<8xf64>
  vector.store %g, %out[%c0] : memref<8xf64>, vector<8xf64>
  func.return
}
