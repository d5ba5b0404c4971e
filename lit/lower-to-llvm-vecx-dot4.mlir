// RUN: dynir-opt %s -t llvm | FileCheck %s

// The translation of vecx.dot4 (u8 x s8 -> i32, 4 products per lane) and of the byte
// broadcast the int8 micro-kernel feeds it. The host running the tests has AVX-512 VNNI
// (the int8 kernels' target), so 16 lanes become one vpdpbusd.

// Sixteen i32 lanes: the VNNI intrinsic on the <64 x i8> operands.
// CHECK-LABEL: define void @dot4_vnni(
// CHECK:         %[[A:.+]] = load <64 x i8>
// CHECK:         %[[B:.+]] = load <64 x i8>
// CHECK:         call <16 x i32> @llvm.x86.avx512.vpdpbusd.512(<16 x i32> %{{.+}}, <64 x i8> %[[A]], <64 x i8> %[[B]])
func.func @dot4_vnni(%acc: memref<16xi32>, %a: memref<64xi8>, %b: memref<64xi8>, %out: memref<16xi32>) attributes {kernel} {
  %c0 = arith.constant 0 : index
  %va = vector.load %acc[%c0] : memref<16xi32>, vector<16xi32>
  %x = vector.load %a[%c0] : memref<64xi8>, vector<64xi8>
  %y = vector.load %b[%c0] : memref<64xi8>, vector<64xi8>
  %r = vecx.dot4 %va, %x, %y : vector<16xi32>, vector<64xi8>, vector<64xi8> -> vector<16xi32>
  vector.store %r, %out[%c0] : memref<16xi32>, vector<16xi32>
  func.return
}

// Four lanes have no VNNI form here: the portable expansion, zext of the unsigned
// operand, sext of the signed one, one multiply, the four products of a lane added.
// CHECK-LABEL: define void @dot4_portable(
// CHECK-NOT:     vpdpbusd
// CHECK-DAG:     zext <16 x i8> %{{.+}} to <16 x i32>
// CHECK-DAG:     sext <16 x i8> %{{.+}} to <16 x i32>
// CHECK:         mul nsw <16 x i32>
// CHECK:         add <4 x i32>
// CHECK:         ret void
func.func @dot4_portable(%acc: memref<4xi32>, %a: memref<16xi8>, %b: memref<16xi8>, %out: memref<4xi32>) attributes {kernel} {
  %c0 = arith.constant 0 : index
  %va = vector.load %acc[%c0] : memref<4xi32>, vector<4xi32>
  %x = vector.load %a[%c0] : memref<16xi8>, vector<16xi8>
  %y = vector.load %b[%c0] : memref<16xi8>, vector<16xi8>
  %r = vecx.dot4 %va, %x, %y : vector<4xi32>, vector<16xi8>, vector<16xi8> -> vector<4xi32>
  vector.store %r, %out[%c0] : memref<4xi32>, vector<4xi32>
  func.return
}

// Four bytes of a row broadcast to every 32-bit lane: one 32-bit load splatted
// (vector.bitcast and vector.shuffle), then the dot product against 64 weight bytes.
// CHECK-LABEL: define void @dot4_broadcast_row(
// CHECK:         %[[W:.+]] = load <1 x i32>
// CHECK:         %[[S:.+]] = shufflevector <1 x i32> %[[W]], <1 x i32> poison, <16 x i32> zeroinitializer
// CHECK:         %[[X:.+]] = bitcast <16 x i32> %[[S]] to <64 x i8>
// CHECK:         call <16 x i32> @llvm.x86.avx512.vpdpbusd.512(<16 x i32> zeroinitializer, <64 x i8> %[[X]], <64 x i8> %{{.+}})
func.func @dot4_broadcast_row(%a: memref<?x?xi8>, %b: memref<64xi8>, %out: memref<16xi32>) attributes {kernel} {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %zero = arith.constant 0 : i32
  %acc = vector.broadcast %zero : i32 to vector<16xi32>
  %w = vector.load %a[%c0, %c4] : memref<?x?xi8>, vector<4xi8>
  %d = vector.bitcast %w : vector<4xi8> to vector<1xi32>
  %s = vector.shuffle %d, %d [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] : vector<1xi32>, vector<1xi32>
  %x = vector.bitcast %s : vector<16xi32> to vector<64xi8>
  %y = vector.load %b[%c0] : memref<64xi8>, vector<64xi8>
  %r = vecx.dot4 %acc, %x, %y : vector<16xi32>, vector<64xi8>, vector<64xi8> -> vector<16xi32>
  vector.store %r, %out[%c0] : memref<16xi32>, vector<16xi32>
  func.return
}
