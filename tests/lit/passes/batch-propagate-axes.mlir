// RUN: vmlir-opt %s -p batch-propagate-axes | filecheck %s

// batch-propagate-axes: each op in a vmap body is marked varying (differs between examples)
// or uniform; a nested vmap is analysed relative to its own axis.


// CHECK-LABEL: func.func @varying_and_uniform(
// CHECK-NEXT: %r = batch.vmap(%v = %x, %u = %w) in_axes [0, none] out_axes [0] size 4 : (tensor<4x3xf32>, tensor<3xf32>) -> tensor<4x3xf32> {
// CHECK-NEXT: %c = stablehlo.constant {batch.varying = array<i1: false>} dense<2.000000e+00> : tensor<3xf32>
// CHECK-NEXT: %e = stablehlo.multiply %u, %c {batch.varying = array<i1: false>} : tensor<3xf32>
// CHECK-NEXT: %s = stablehlo.add %v, %e {batch.varying = array<i1: true>} : tensor<3xf32>
// CHECK-NEXT: batch.yield %s : tensor<3xf32>
// CHECK-NEXT: }
// CHECK-NEXT: func.return %r : tensor<4x3xf32>
func.func @varying_and_uniform(%x: tensor<4x3xf32>, %w: tensor<3xf32>) -> tensor<4x3xf32> {
  %r = batch.vmap(%v = %x, %u = %w) in_axes [0, none] out_axes [0] size 4 : (tensor<4x3xf32>, tensor<3xf32>) -> tensor<4x3xf32> {
    %c = stablehlo.constant dense<2.000000e+00> : tensor<3xf32>
    %e = stablehlo.multiply %u, %c : tensor<3xf32>
    %s = stablehlo.add %v, %e : tensor<3xf32>
    batch.yield %s : tensor<3xf32>
  }
  func.return %r : tensor<4x3xf32>
}

// CHECK-LABEL: func.func @nested_relative_to_own_axis(
// CHECK-NEXT: %r = batch.vmap(%a = %x, %ys = %y) in_axes [0, none] out_axes [0] size 5 : (tensor<5x3xf32>, tensor<6x3xf32>) -> tensor<5x6x3xf32> {
// CHECK-NEXT: %i = batch.vmap(%p = %a, %q = %ys) in_axes [none, 0] out_axes [0] size 6 attributes {batch.varying = array<i1: true>} : (tensor<3xf32>, tensor<6x3xf32>) -> tensor<6x3xf32> {
// CHECK-NEXT: %n = stablehlo.negate %p {batch.varying = array<i1: false>} : tensor<3xf32>
// CHECK-NEXT: %s = stablehlo.subtract %n, %q {batch.varying = array<i1: true>} : tensor<3xf32>
// CHECK-NEXT: batch.yield %s : tensor<3xf32>
// CHECK-NEXT: }
// CHECK-NEXT: batch.yield %i : tensor<6x3xf32>
// CHECK-NEXT: }
// CHECK-NEXT: func.return %r : tensor<5x6x3xf32>
func.func @nested_relative_to_own_axis(%x: tensor<5x3xf32>, %y: tensor<6x3xf32>) -> tensor<5x6x3xf32> {
  %r = batch.vmap(%a = %x, %ys = %y) in_axes [0, none] out_axes [0] size 5 : (tensor<5x3xf32>, tensor<6x3xf32>) -> tensor<5x6x3xf32> {
    %i = batch.vmap(%p = %a, %q = %ys) in_axes [none, 0] out_axes [0] size 6 : (tensor<3xf32>, tensor<6x3xf32>) -> tensor<6x3xf32> {
      %n = stablehlo.negate %p : tensor<3xf32>
      %s = stablehlo.subtract %n, %q : tensor<3xf32>
      batch.yield %s : tensor<3xf32>
    }
    batch.yield %i : tensor<6x3xf32>
  }
  func.return %r : tensor<5x6x3xf32>
}
