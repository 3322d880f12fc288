// RUN: vmlir-opt %s --print-op-generic | vmlir-opt --print-op-generic | filecheck %s

// Generic-form StableHLO as JAX prints it survives two parse/print rounds;
// struct attributes come back in canonical field order with empty lists dropped.

"builtin.module"() ({
  "func.func"() <{function_type = (tensor<2x3x4xf32>, tensor<2x4x5xf32>, tensor<4xf32>, tensor<4x1xi32>) -> (tensor<2x3x5xf32>, tensor<4x4xf32>, tensor<4xi1>, tensor<f32>, tensor<2x4xf32>, tensor<4x3x2xf32>, tensor<4xf32>), sym_name = "main"}> ({
  ^bb0(%lhs: tensor<2x3x4xf32>, %rhs: tensor<2x4x5xf32>, %v: tensor<4xf32>, %idx: tensor<4x1xi32>):
    %dot = "stablehlo.dot_general"(%lhs, %rhs) <{dot_dimension_numbers = #stablehlo.dot<lhs_batching_dimensions = [0], rhs_batching_dimensions = [0], lhs_contracting_dimensions = [2], rhs_contracting_dimensions = [1]>, precision_config = [#stablehlo<precision DEFAULT>, #stablehlo<precision HIGHEST>]}> : (tensor<2x3x4xf32>, tensor<2x4x5xf32>) -> tensor<2x3x5xf32>
    %outer = "stablehlo.dot_general"(%v, %v) <{dot_dimension_numbers = #stablehlo.dot<lhs_batching_dimensions = []>}> : (tensor<4xf32>, tensor<4xf32>) -> tensor<4x4xf32>
    %zero = "stablehlo.constant"() <{value = dense<0.000000e+00> : tensor<f32>}> : () -> tensor<f32>
    %zeros = "stablehlo.broadcast_in_dim"(%zero) <{broadcast_dimensions = array<i64>}> : (tensor<f32>) -> tensor<4xf32>
    %lt = "stablehlo.compare"(%v, %zeros) <{compare_type = #stablehlo<comparison_type FLOAT>, comparison_direction = #stablehlo<comparison_direction LT>}> : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xi1>
    %sum = "stablehlo.reduce"(%v, %zero) <{dimensions = array<i64: 0>}> ({
    ^bb0(%acc: tensor<f32>, %x: tensor<f32>):
      %add = "stablehlo.add"(%acc, %x) : (tensor<f32>, tensor<f32>) -> tensor<f32>
      "stablehlo.return"(%add) : (tensor<f32>) -> ()
    }) : (tensor<4xf32>, tensor<f32>) -> tensor<f32>
    %rows = "stablehlo.broadcast_in_dim"(%v) <{broadcast_dimensions = array<i64: 1>}> : (tensor<4xf32>) -> tensor<2x4xf32>
    %t = "stablehlo.transpose"(%lhs) <{permutation = array<i64: 2, 1, 0>}> : (tensor<2x3x4xf32>) -> tensor<4x3x2xf32>
    %g = "stablehlo.gather"(%v, %idx) <{dimension_numbers = #stablehlo.gather<start_index_map = [0], collapsed_slice_dims = [0], index_vector_dim = 1>, indices_are_sorted = false, slice_sizes = array<i64: 1>}> : (tensor<4xf32>, tensor<4x1xi32>) -> tensor<4xf32>
    "func.return"(%dot, %outer, %lt, %sum, %rows, %t, %g) : (tensor<2x3x5xf32>, tensor<4x4xf32>, tensor<4xi1>, tensor<f32>, tensor<2x4xf32>, tensor<4x3x2xf32>, tensor<4xf32>) -> ()
  }) : () -> ()
}) : () -> ()

// CHECK:      "builtin.module"() ({
// CHECK-NEXT:   "func.func"() <{function_type = (tensor<2x3x4xf32>, tensor<2x4x5xf32>, tensor<4xf32>, tensor<4x1xi32>) -> (tensor<2x3x5xf32>, tensor<4x4xf32>, tensor<4xi1>, tensor<f32>, tensor<2x4xf32>, tensor<4x3x2xf32>, tensor<4xf32>), sym_name = "main"}> ({
// CHECK-NEXT:   ^bb0(%lhs: tensor<2x3x4xf32>, %rhs: tensor<2x4x5xf32>, %v: tensor<4xf32>, %idx: tensor<4x1xi32>):
// CHECK-NEXT:     %dot = "stablehlo.dot_general"(%lhs, %rhs) <{dot_dimension_numbers = #stablehlo.dot<lhs_batching_dimensions = [0], rhs_batching_dimensions = [0], lhs_contracting_dimensions = [2], rhs_contracting_dimensions = [1]>, precision_config = [#stablehlo<precision DEFAULT>, #stablehlo<precision HIGHEST>]}> : (tensor<2x3x4xf32>, tensor<2x4x5xf32>) -> tensor<2x3x5xf32>
// CHECK-NEXT:     %outer = "stablehlo.dot_general"(%v, %v) <{dot_dimension_numbers = #stablehlo.dot<>}> : (tensor<4xf32>, tensor<4xf32>) -> tensor<4x4xf32>
// CHECK-NEXT:     %zero = "stablehlo.constant"() <{value = dense<0.000000e+00> : tensor<f32>}> : () -> tensor<f32>
// CHECK-NEXT:     %zeros = "stablehlo.broadcast_in_dim"(%zero) <{broadcast_dimensions = array<i64>}> : (tensor<f32>) -> tensor<4xf32>
// CHECK-NEXT:     %lt = "stablehlo.compare"(%v, %zeros) <{compare_type = #stablehlo<comparison_type FLOAT>, comparison_direction = #stablehlo<comparison_direction LT>}> : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xi1>
// CHECK-NEXT:     %sum = "stablehlo.reduce"(%v, %zero) <{dimensions = array<i64: 0>}> ({
// CHECK-NEXT:     ^bb0(%acc: tensor<f32>, %x: tensor<f32>):
// CHECK-NEXT:       %add = "stablehlo.add"(%acc, %x) : (tensor<f32>, tensor<f32>) -> tensor<f32>
// CHECK-NEXT:       "stablehlo.return"(%add) : (tensor<f32>) -> ()
// CHECK-NEXT:     }) : (tensor<4xf32>, tensor<f32>) -> tensor<f32>
// CHECK-NEXT:     %rows = "stablehlo.broadcast_in_dim"(%v) <{broadcast_dimensions = array<i64: 1>}> : (tensor<4xf32>) -> tensor<2x4xf32>
// CHECK-NEXT:     %t = "stablehlo.transpose"(%lhs) <{permutation = array<i64: 2, 1, 0>}> : (tensor<2x3x4xf32>) -> tensor<4x3x2xf32>
// CHECK-NEXT:     %g = "stablehlo.gather"(%v, %idx) <{dimension_numbers = #stablehlo.gather<collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = 1>, indices_are_sorted = false, slice_sizes = array<i64: 1>}> : (tensor<4xf32>, tensor<4x1xi32>) -> tensor<4xf32>
// CHECK-NEXT:     "func.return"(%dot, %outer, %lt, %sum, %rows, %t, %g) : (tensor<2x3x5xf32>, tensor<4x4xf32>, tensor<4xi1>, tensor<f32>, tensor<2x4xf32>, tensor<4x3x2xf32>, tensor<4xf32>) -> ()
// CHECK-NEXT:   }) : () -> ()
// CHECK-NEXT: }) : () -> ()
