// RUN: vmlir-opt %s -p batch-fuse --split-input-file --print-op-generic | filecheck %s

// batch-fuse: a sum over batch dimensions of a dot_general (what vectorizing a summed
// per-example outer product gives: the cotangent of an in_axes=None weight) becomes one
// dot_general contracting those dimensions too (passes/fuse_contraction.py).

// The batch dim 0 of an outer product, summed: one GEMM contracting it.
// CHECK-LABEL: sym_name = "outer_sum"
// CHECK:       %[[D:[a-z0-9]+]] = "stablehlo.dot_general"(%x, %g) <{dot_dimension_numbers = #stablehlo.dot<lhs_contracting_dimensions = [0], rhs_contracting_dimensions = [0]>}> : (tensor<8x3xf32>, tensor<8x5xf32>) -> tensor<3x5xf32>
// CHECK-NEXT:  "func.return"(%[[D]])
// CHECK-NOT:   stablehlo.reduce
func.func @outer_sum(%x: tensor<8x3xf32>, %g: tensor<8x5xf32>) -> tensor<3x5xf32> {
  %d = "stablehlo.dot_general"(%x, %g) <{dot_dimension_numbers = #stablehlo.dot<lhs_batching_dimensions = [0], rhs_batching_dimensions = [0]>}> : (tensor<8x3xf32>, tensor<8x5xf32>) -> tensor<8x3x5xf32>
  %z = "stablehlo.constant"() <{value = dense<0.0> : tensor<f32>}> : () -> tensor<f32>
  %s = "stablehlo.reduce"(%d, %z) <{dimensions = array<i64: 0>}> ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    %r = "stablehlo.add"(%a, %b) : (tensor<f32>, tensor<f32>) -> tensor<f32>
    "stablehlo.return"(%r) : (tensor<f32>) -> ()
  }) : (tensor<8x3x5xf32>, tensor<f32>) -> tensor<3x5xf32>
  func.return %s : tensor<3x5xf32>
}

// -----

// Two batch dims, the second summed; the first stays a batch dim.
// CHECK-LABEL: sym_name = "second_batch_dim"
// CHECK:       "stablehlo.dot_general"(%x, %y) <{dot_dimension_numbers = #stablehlo.dot<lhs_batching_dimensions = [0], rhs_batching_dimensions = [0], lhs_contracting_dimensions = [2, 1], rhs_contracting_dimensions = [1, 2]>}> : (tensor<2x8x3xf32>, tensor<2x3x8xf32>) -> tensor<2xf32>
func.func @second_batch_dim(%x: tensor<2x8x3xf32>, %y: tensor<2x3x8xf32>) -> tensor<2xf32> {
  %d = "stablehlo.dot_general"(%x, %y) <{dot_dimension_numbers = #stablehlo.dot<lhs_batching_dimensions = [0, 1], rhs_batching_dimensions = [0, 2], lhs_contracting_dimensions = [2], rhs_contracting_dimensions = [1]>}> : (tensor<2x8x3xf32>, tensor<2x3x8xf32>) -> tensor<2x8xf32>
  %z = "stablehlo.constant"() <{value = dense<0.0> : tensor<f32>}> : () -> tensor<f32>
  %s = "stablehlo.reduce"(%d, %z) <{dimensions = array<i64: 1>}> ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    %r = "stablehlo.add"(%a, %b) : (tensor<f32>, tensor<f32>) -> tensor<f32>
    "stablehlo.return"(%r) : (tensor<f32>) -> ()
  }) : (tensor<2x8xf32>, tensor<f32>) -> tensor<2xf32>
  func.return %s : tensor<2xf32>
}

// -----

// Left alone: the dot's result has another use; a max (not a sum); a free dim summed.
// CHECK-LABEL: sym_name = "not_folded"
// CHECK-COUNT-3: "stablehlo.reduce"
func.func @not_folded(%x: tensor<8x3xf32>, %g: tensor<8x5xf32>) -> (tensor<3x5xf32>, tensor<8x3x5xf32>, tensor<3x5xf32>, tensor<8x5xf32>) {
  %d = "stablehlo.dot_general"(%x, %g) <{dot_dimension_numbers = #stablehlo.dot<lhs_batching_dimensions = [0], rhs_batching_dimensions = [0]>}> : (tensor<8x3xf32>, tensor<8x5xf32>) -> tensor<8x3x5xf32>
  %z = "stablehlo.constant"() <{value = dense<0.0> : tensor<f32>}> : () -> tensor<f32>
  %s = "stablehlo.reduce"(%d, %z) <{dimensions = array<i64: 0>}> ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    %r = "stablehlo.add"(%a, %b) : (tensor<f32>, tensor<f32>) -> tensor<f32>
    "stablehlo.return"(%r) : (tensor<f32>) -> ()
  }) : (tensor<8x3x5xf32>, tensor<f32>) -> tensor<3x5xf32>
  %d2 = "stablehlo.dot_general"(%x, %g) <{dot_dimension_numbers = #stablehlo.dot<lhs_batching_dimensions = [0], rhs_batching_dimensions = [0]>}> : (tensor<8x3xf32>, tensor<8x5xf32>) -> tensor<8x3x5xf32>
  %m = "stablehlo.reduce"(%d2, %z) <{dimensions = array<i64: 0>}> ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    %r = "stablehlo.maximum"(%a, %b) : (tensor<f32>, tensor<f32>) -> tensor<f32>
    "stablehlo.return"(%r) : (tensor<f32>) -> ()
  }) : (tensor<8x3x5xf32>, tensor<f32>) -> tensor<3x5xf32>
  %d3 = "stablehlo.dot_general"(%x, %g) <{dot_dimension_numbers = #stablehlo.dot<lhs_batching_dimensions = [0], rhs_batching_dimensions = [0]>}> : (tensor<8x3xf32>, tensor<8x5xf32>) -> tensor<8x3x5xf32>
  %f = "stablehlo.reduce"(%d3, %z) <{dimensions = array<i64: 1>}> ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    %r = "stablehlo.add"(%a, %b) : (tensor<f32>, tensor<f32>) -> tensor<f32>
    "stablehlo.return"(%r) : (tensor<f32>) -> ()
  }) : (tensor<8x3x5xf32>, tensor<f32>) -> tensor<8x5xf32>
  func.return %s, %d, %m, %f : tensor<3x5xf32>, tensor<8x3x5xf32>, tensor<3x5xf32>, tensor<8x5xf32>
}
