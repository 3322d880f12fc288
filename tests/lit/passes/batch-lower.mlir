// RUN: vmlir-opt %s -p batch-lower | filecheck %s

// batch-lower: batch.move_axis -> stablehlo.transpose, batch.broadcast ->
// stablehlo.broadcast_in_dim, batch.* attributes dropped.


// CHECK-LABEL: func.func @move_and_broadcast(
// CHECK-NEXT: %t = stablehlo.transpose %x, dims = [1, 2, 0] : (tensor<4x3x2xf32>) -> tensor<3x2x4xf32>
// CHECK-NEXT: %b = stablehlo.broadcast_in_dim %c, dims = [0] : (tensor<3xf32>) -> tensor<3x4xf32>
// CHECK-NEXT: %n = stablehlo.negate %b : tensor<3x4xf32>
// CHECK-NEXT: func.return %t, %n : tensor<3x2x4xf32>, tensor<3x4xf32>
func.func @move_and_broadcast(%x: tensor<4x3x2xf32>, %c: tensor<3xf32>) -> (tensor<3x2x4xf32>, tensor<3x4xf32>) {
  %t = batch.move_axis %x from 0 to 2 : (tensor<4x3x2xf32>) -> tensor<3x2x4xf32>
  %b = batch.broadcast %c axis 1 size 4 : (tensor<3xf32>) -> tensor<3x4xf32>
  %n = stablehlo.negate %b {batch.varying = array<i1: true>} : tensor<3x4xf32>
  func.return %t, %n : tensor<3x2x4xf32>, tensor<3x4xf32>
}

// RUN: vmlir-opt %S/Inputs/vmap-left.mlir --verify-diagnostics -p batch-lower | filecheck %s --check-prefix=UNVECTORIZED
// UNVECTORIZED: batch-lower found a batch.vmap: run batch-vectorize before batch-lower
