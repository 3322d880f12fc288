// RUN: vmlir-opt %s -p batch-propagate-axes,batch-vectorize | filecheck %s

// batch-vectorize: every batch.vmap becomes batched ops; uniform ops stay unbatched; batch
// axes stay where they are unless an op needs them elsewhere; nested vmaps are inner-first.


// CHECK-LABEL: func.func @uniform_stays_uniform(
// CHECK-NEXT: %e = "stablehlo.exponential"(%w) : (tensor<3xf32>) -> tensor<3xf32>
// CHECK-NEXT: %0 = batch.broadcast %e axis 0 size 4 : (tensor<3xf32>) -> tensor<4x3xf32>
// CHECK-NEXT: %r = "stablehlo.add"(%x, %0) : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK-NEXT: func.return %r : tensor<4x3xf32>
// CHECK-NEXT: }
func.func @uniform_stays_uniform(%x: tensor<4x3xf32>, %w: tensor<3xf32>) -> tensor<4x3xf32> {
  %r = "batch.vmap"(%x, %w) <{in_axes = [0 : i64, none], out_axes = [0 : i64], axis_size = 4 : i64}> ({
  ^bb0(%v: tensor<3xf32>, %u: tensor<3xf32>):
    %e = "stablehlo.exponential"(%u) : (tensor<3xf32>) -> tensor<3xf32>
    %s = "stablehlo.add"(%v, %e) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
    "batch.yield"(%s) : (tensor<3xf32>) -> ()
  }) : (tensor<4x3xf32>, tensor<3xf32>) -> tensor<4x3xf32>
  func.return %r : tensor<4x3xf32>
}

// CHECK-LABEL: func.func @keeps_axis_one(
// CHECK-NEXT: %r = "stablehlo.multiply"(%x, %y) : (tensor<3x4xf32>, tensor<3x4xf32>) -> tensor<3x4xf32>
// CHECK-NEXT: func.return %r : tensor<3x4xf32>
// CHECK-NEXT: }
func.func @keeps_axis_one(%x: tensor<3x4xf32>, %y: tensor<3x4xf32>) -> tensor<3x4xf32> {
  %r = "batch.vmap"(%x, %y) <{in_axes = [1 : i64, 1 : i64], out_axes = [1 : i64], axis_size = 4 : i64}> ({
  ^bb0(%v: tensor<3xf32>, %u: tensor<3xf32>):
    %s = "stablehlo.multiply"(%v, %u) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
    "batch.yield"(%s) : (tensor<3xf32>) -> ()
  }) : (tensor<3x4xf32>, tensor<3x4xf32>) -> tensor<3x4xf32>
  func.return %r : tensor<3x4xf32>
}

// W @ x with only x batched: the operands swap so the batch axis leads the result
// (X @ W^T, JAX's layout), and the precisions swap with them (next case).
// CHECK-LABEL: func.func @matvec_uniform_matrix(
// CHECK-NEXT: %r = "stablehlo.dot_general"(%x, %w) <{dot_dimension_numbers = #stablehlo.dot<lhs_contracting_dimensions = [1], rhs_contracting_dimensions = [1]>}> : (tensor<4x3xf32>, tensor<5x3xf32>) -> tensor<4x5xf32>
// CHECK-NEXT: func.return %r : tensor<4x5xf32>
// CHECK-NEXT: }
func.func @matvec_uniform_matrix(%w: tensor<5x3xf32>, %x: tensor<4x3xf32>) -> tensor<4x5xf32> {
  %r = "batch.vmap"(%w, %x) <{in_axes = [none, 0 : i64], out_axes = [0 : i64], axis_size = 4 : i64}> ({
  ^bb0(%m: tensor<5x3xf32>, %v: tensor<3xf32>):
    %d = "stablehlo.dot_general"(%m, %v) <{dot_dimension_numbers = #stablehlo.dot<lhs_contracting_dimensions = [1], rhs_contracting_dimensions = [0]>}> : (tensor<5x3xf32>, tensor<3xf32>) -> tensor<5xf32>
    "batch.yield"(%d) : (tensor<5xf32>) -> ()
  }) : (tensor<5x3xf32>, tensor<4x3xf32>) -> tensor<4x5xf32>
  func.return %r : tensor<4x5xf32>
}

// CHECK-LABEL: func.func @matvec_precision_swapped(
// CHECK-NEXT: %r = "stablehlo.dot_general"(%x, %w) <{dot_dimension_numbers = #stablehlo.dot<lhs_contracting_dimensions = [1], rhs_contracting_dimensions = [1]>, precision_config = [#stablehlo<precision DEFAULT>, #stablehlo<precision HIGHEST>]}> : (tensor<4x3xf32>, tensor<5x3xf32>) -> tensor<4x5xf32>
func.func @matvec_precision_swapped(%w: tensor<5x3xf32>, %x: tensor<4x3xf32>) -> tensor<4x5xf32> {
  %r = "batch.vmap"(%w, %x) <{in_axes = [none, 0 : i64], out_axes = [0 : i64], axis_size = 4 : i64}> ({
  ^bb0(%m: tensor<5x3xf32>, %v: tensor<3xf32>):
    %d = "stablehlo.dot_general"(%m, %v) <{dot_dimension_numbers = #stablehlo.dot<lhs_contracting_dimensions = [1], rhs_contracting_dimensions = [0]>, precision_config = [#stablehlo<precision HIGHEST>, #stablehlo<precision DEFAULT>]}> : (tensor<5x3xf32>, tensor<3xf32>) -> tensor<5xf32>
    "batch.yield"(%d) : (tensor<5xf32>) -> ()
  }) : (tensor<5x3xf32>, tensor<4x3xf32>) -> tensor<4x5xf32>
  func.return %r : tensor<4x5xf32>
}

// W @ Y with only Y batched and Y keeping a free dim: no swap (it would reorder the
// per-example result dims); the batch axis sits between W's and Y's free dims.
// CHECK-LABEL: func.func @matmat_uniform_lhs(
// CHECK-NEXT: %0 = "stablehlo.dot_general"(%w, %y) <{dot_dimension_numbers = #stablehlo.dot<lhs_contracting_dimensions = [1], rhs_contracting_dimensions = [1]>}> : (tensor<5x3xf32>, tensor<4x3x2xf32>) -> tensor<5x4x2xf32>
// CHECK-NEXT: %r = batch.move_axis %0 from 1 to 0 : (tensor<5x4x2xf32>) -> tensor<4x5x2xf32>
func.func @matmat_uniform_lhs(%w: tensor<5x3xf32>, %y: tensor<4x3x2xf32>) -> tensor<4x5x2xf32> {
  %r = "batch.vmap"(%w, %y) <{in_axes = [none, 0 : i64], out_axes = [0 : i64], axis_size = 4 : i64}> ({
  ^bb0(%m: tensor<5x3xf32>, %v: tensor<3x2xf32>):
    %d = "stablehlo.dot_general"(%m, %v) <{dot_dimension_numbers = #stablehlo.dot<lhs_contracting_dimensions = [1], rhs_contracting_dimensions = [0]>}> : (tensor<5x3xf32>, tensor<3x2xf32>) -> tensor<5x2xf32>
    "batch.yield"(%d) : (tensor<5x2xf32>) -> ()
  }) : (tensor<5x3xf32>, tensor<4x3x2xf32>) -> tensor<4x5x2xf32>
  func.return %r : tensor<4x5x2xf32>
}

// CHECK-LABEL: func.func @dot_both_batched(
// CHECK-NEXT: %r = "stablehlo.dot_general"(%x, %y) <{dot_dimension_numbers = #stablehlo.dot<lhs_batching_dimensions = [0], rhs_batching_dimensions = [1], lhs_contracting_dimensions = [1], rhs_contracting_dimensions = [0]>}> : (tensor<4x3xf32>, tensor<3x4xf32>) -> tensor<4xf32>
// CHECK-NEXT: func.return %r : tensor<4xf32>
// CHECK-NEXT: }
func.func @dot_both_batched(%x: tensor<4x3xf32>, %y: tensor<3x4xf32>) -> tensor<4xf32> {
  %r = "batch.vmap"(%x, %y) <{in_axes = [0 : i64, 1 : i64], out_axes = [0 : i64], axis_size = 4 : i64}> ({
  ^bb0(%a: tensor<3xf32>, %b: tensor<3xf32>):
    %d = "stablehlo.dot_general"(%a, %b) <{dot_dimension_numbers = #stablehlo.dot<lhs_contracting_dimensions = [0], rhs_contracting_dimensions = [0]>}> : (tensor<3xf32>, tensor<3xf32>) -> tensor<f32>
    "batch.yield"(%d) : (tensor<f32>) -> ()
  }) : (tensor<4x3xf32>, tensor<3x4xf32>) -> tensor<4xf32>
  func.return %r : tensor<4xf32>
}

// CHECK-LABEL: func.func @reduce_shape_ops(
// CHECK-NEXT: %z = "stablehlo.constant"() <{value = dense<0.000000e+00> : tensor<f32>}> : () -> tensor<f32>
// CHECK-NEXT: %0 = "stablehlo.reduce"(%x, %z) <{dimensions = array<i64: 2>}> ({
// CHECK-NEXT: ^bb0(%p: tensor<f32>, %q: tensor<f32>):
// CHECK-NEXT: %a = "stablehlo.add"(%p, %q) : (tensor<f32>, tensor<f32>) -> tensor<f32>
// CHECK-NEXT: "stablehlo.return"(%a) : (tensor<f32>) -> ()
// CHECK-NEXT: }) : (tensor<2x4x3xf32>, tensor<f32>) -> tensor<2x4xf32>
// CHECK-NEXT: %r = "stablehlo.transpose"(%x) <{permutation = array<i64: 1, 2, 0>}> : (tensor<2x4x3xf32>) -> tensor<4x3x2xf32>
// CHECK-NEXT: %1 = batch.move_axis %x from 1 to 0 : (tensor<2x4x3xf32>) -> tensor<4x2x3xf32>
// CHECK-NEXT: %r_1 = "stablehlo.reshape"(%1) : (tensor<4x2x3xf32>) -> tensor<4x6xf32>
// CHECK-NEXT: %2 = "stablehlo.slice"(%x) <{start_indices = array<i64: 1, 0, 0>, limit_indices = array<i64: 2, 4, 3>, strides = array<i64: 1, 1, 1>}> : (tensor<2x4x3xf32>) -> tensor<1x4x3xf32>
// CHECK-NEXT: %r_2 = batch.move_axis %0 from 1 to 0 : (tensor<2x4xf32>) -> tensor<4x2xf32>
// CHECK-NEXT: %r_3 = batch.move_axis %2 from 1 to 0 : (tensor<1x4x3xf32>) -> tensor<4x1x3xf32>
// CHECK-NEXT: func.return %r_2, %r, %r_1, %r_3 : tensor<4x2xf32>, tensor<4x3x2xf32>, tensor<4x6xf32>, tensor<4x1x3xf32>
// CHECK-NEXT: }
func.func @reduce_shape_ops(%x: tensor<2x4x3xf32>) -> (tensor<4x2xf32>, tensor<4x3x2xf32>, tensor<4x6xf32>, tensor<4x1x3xf32>) {
  %r:4 = "batch.vmap"(%x) <{in_axes = [1 : i64], out_axes = [0 : i64, 0 : i64, 0 : i64, 0 : i64], axis_size = 4 : i64}> ({
  ^bb0(%v: tensor<2x3xf32>):
    %z = "stablehlo.constant"() <{value = dense<0.0> : tensor<f32>}> : () -> tensor<f32>
    %s = "stablehlo.reduce"(%v, %z) <{dimensions = array<i64: 1>}> ({
    ^bb1(%p: tensor<f32>, %q: tensor<f32>):
      %a = "stablehlo.add"(%p, %q) : (tensor<f32>, tensor<f32>) -> tensor<f32>
      "stablehlo.return"(%a) : (tensor<f32>) -> ()
    }) : (tensor<2x3xf32>, tensor<f32>) -> tensor<2xf32>
    %t = "stablehlo.transpose"(%v) <{permutation = array<i64: 1, 0>}> : (tensor<2x3xf32>) -> tensor<3x2xf32>
    %f = "stablehlo.reshape"(%v) : (tensor<2x3xf32>) -> tensor<6xf32>
    %l = "stablehlo.slice"(%v) <{start_indices = array<i64: 1, 0>, limit_indices = array<i64: 2, 3>, strides = array<i64: 1, 1>}> : (tensor<2x3xf32>) -> tensor<1x3xf32>
    "batch.yield"(%s, %t, %f, %l) : (tensor<2xf32>, tensor<3x2xf32>, tensor<6xf32>, tensor<1x3xf32>) -> ()
  }) : (tensor<2x4x3xf32>) -> (tensor<4x2xf32>, tensor<4x3x2xf32>, tensor<4x6xf32>, tensor<4x1x3xf32>)
  func.return %r#0, %r#1, %r#2, %r#3 : tensor<4x2xf32>, tensor<4x3x2xf32>, tensor<4x6xf32>, tensor<4x1x3xf32>
}

// CHECK-LABEL: func.func @broadcast_concat(
// CHECK-NEXT: %r = "stablehlo.broadcast_in_dim"(%x) <{broadcast_dimensions = array<i64: 0, 2>}> : (tensor<4x3xf32>) -> tensor<4x2x3xf32>
// CHECK-NEXT: %0 = batch.broadcast %c axis 0 size 4 : (tensor<2xf32>) -> tensor<4x2xf32>
// CHECK-NEXT: %r_1 = "stablehlo.concatenate"(%x, %0) <{dimension = 1 : i64}> : (tensor<4x3xf32>, tensor<4x2xf32>) -> tensor<4x5xf32>
// CHECK-NEXT: func.return %r, %r_1 : tensor<4x2x3xf32>, tensor<4x5xf32>
// CHECK-NEXT: }
func.func @broadcast_concat(%x: tensor<4x3xf32>, %c: tensor<2xf32>) -> (tensor<4x2x3xf32>, tensor<4x5xf32>) {
  %r:2 = "batch.vmap"(%x, %c) <{in_axes = [0 : i64, none], out_axes = [0 : i64, 0 : i64], axis_size = 4 : i64}> ({
  ^bb0(%v: tensor<3xf32>, %u: tensor<2xf32>):
    %b = "stablehlo.broadcast_in_dim"(%v) <{broadcast_dimensions = array<i64: 1>}> : (tensor<3xf32>) -> tensor<2x3xf32>
    %k = "stablehlo.concatenate"(%v, %u) <{dimension = 0 : i64}> : (tensor<3xf32>, tensor<2xf32>) -> tensor<5xf32>
    "batch.yield"(%b, %k) : (tensor<2x3xf32>, tensor<5xf32>) -> ()
  }) : (tensor<4x3xf32>, tensor<2xf32>) -> (tensor<4x2x3xf32>, tensor<4x5xf32>)
  func.return %r#0, %r#1 : tensor<4x2x3xf32>, tensor<4x5xf32>
}

// CHECK-LABEL: func.func @select_scalar_pred(
// CHECK-NEXT: %0 = "stablehlo.broadcast_in_dim"(%p) <{broadcast_dimensions = array<i64: 0>}> : (tensor<4xi1>) -> tensor<4x3xi1>
// CHECK-NEXT: %1 = batch.broadcast %y axis 0 size 4 : (tensor<3xf32>) -> tensor<4x3xf32>
// CHECK-NEXT: %r = "stablehlo.select"(%0, %x, %1) : (tensor<4x3xi1>, tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK-NEXT: func.return %r : tensor<4x3xf32>
// CHECK-NEXT: }
func.func @select_scalar_pred(%p: tensor<4xi1>, %x: tensor<4x3xf32>, %y: tensor<3xf32>) -> tensor<4x3xf32> {
  %r = "batch.vmap"(%p, %x, %y) <{in_axes = [0 : i64, 0 : i64, none], out_axes = [0 : i64], axis_size = 4 : i64}> ({
  ^bb0(%c: tensor<i1>, %v: tensor<3xf32>, %u: tensor<3xf32>):
    %s = "stablehlo.select"(%c, %v, %u) : (tensor<i1>, tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
    "batch.yield"(%s) : (tensor<3xf32>) -> ()
  }) : (tensor<4xi1>, tensor<4x3xf32>, tensor<3xf32>) -> tensor<4x3xf32>
  func.return %r : tensor<4x3xf32>
}

// CHECK-LABEL: func.func @uniform_output_batched(
// CHECK-NEXT: %z = "stablehlo.constant"() <{value = dense<1.000000e+00> : tensor<3xf32>}> : () -> tensor<3xf32>
// CHECK-NEXT: %r = batch.broadcast %z axis 1 size 4 : (tensor<3xf32>) -> tensor<3x4xf32>
// CHECK-NEXT: func.return %r : tensor<3x4xf32>
// CHECK-NEXT: }
func.func @uniform_output_batched(%x: tensor<4x3xf32>) -> tensor<3x4xf32> {
  %r = "batch.vmap"(%x) <{in_axes = [0 : i64], out_axes = [1 : i64], axis_size = 4 : i64}> ({
  ^bb0(%v: tensor<3xf32>):
    %z = "stablehlo.constant"() <{value = dense<1.0> : tensor<3xf32>}> : () -> tensor<3xf32>
    "batch.yield"(%z) : (tensor<3xf32>) -> ()
  }) : (tensor<4x3xf32>) -> tensor<3x4xf32>
  func.return %r : tensor<3x4xf32>
}

// CHECK-LABEL: func.func @dot_lhs_batched_axis1(
// CHECK-NEXT: %0 = "stablehlo.dot_general"(%m, %v) <{dot_dimension_numbers = #stablehlo.dot<lhs_contracting_dimensions = [2], rhs_contracting_dimensions = [0]>}> : (tensor<5x4x3xf32>, tensor<3xf32>) -> tensor<5x4xf32>
// CHECK-NEXT: %r = batch.move_axis %0 from 1 to 0 : (tensor<5x4xf32>) -> tensor<4x5xf32>
// CHECK-NEXT: func.return %r : tensor<4x5xf32>
// CHECK-NEXT: }
func.func @dot_lhs_batched_axis1(%m: tensor<5x4x3xf32>, %v: tensor<3xf32>) -> tensor<4x5xf32> {
  %r = "batch.vmap"(%m, %v) <{in_axes = [1 : i64, none], out_axes = [0 : i64], axis_size = 4 : i64}> ({
  ^bb0(%a: tensor<5x3xf32>, %b: tensor<3xf32>):
    %d = "stablehlo.dot_general"(%a, %b) <{dot_dimension_numbers = #stablehlo.dot<lhs_contracting_dimensions = [1], rhs_contracting_dimensions = [0]>}> : (tensor<5x3xf32>, tensor<3xf32>) -> tensor<5xf32>
    "batch.yield"(%d) : (tensor<5xf32>) -> ()
  }) : (tensor<5x4x3xf32>, tensor<3xf32>) -> tensor<4x5xf32>
  func.return %r : tensor<4x5xf32>
}

// CHECK-LABEL: func.func @nested_pairwise(
// CHECK-NEXT: %0 = batch.broadcast %x axis 1 size 6 : (tensor<5x3xf32>) -> tensor<5x6x3xf32>
// CHECK-NEXT: %1 = batch.broadcast %y axis 0 size 5 : (tensor<6x3xf32>) -> tensor<5x6x3xf32>
// CHECK-NEXT: %2 = "stablehlo.subtract"(%0, %1) : (tensor<5x6x3xf32>, tensor<5x6x3xf32>) -> tensor<5x6x3xf32>
// CHECK-NEXT: %r = "stablehlo.dot_general"(%2, %2) <{dot_dimension_numbers = #stablehlo.dot<lhs_batching_dimensions = [0, 1], rhs_batching_dimensions = [0, 1], lhs_contracting_dimensions = [2], rhs_contracting_dimensions = [2]>}> : (tensor<5x6x3xf32>, tensor<5x6x3xf32>) -> tensor<5x6xf32>
// CHECK-NEXT: func.return %r : tensor<5x6xf32>
// CHECK-NEXT: }
func.func @nested_pairwise(%x: tensor<5x3xf32>, %y: tensor<6x3xf32>) -> tensor<5x6xf32> {
  %r = "batch.vmap"(%x, %y) <{in_axes = [0 : i64, none], out_axes = [0 : i64], axis_size = 5 : i64}> ({
  ^bb0(%a: tensor<3xf32>, %ys: tensor<6x3xf32>):
    %i = "batch.vmap"(%a, %ys) <{in_axes = [none, 0 : i64], out_axes = [0 : i64], axis_size = 6 : i64}> ({
    ^bb1(%p: tensor<3xf32>, %q: tensor<3xf32>):
      %s = "stablehlo.subtract"(%p, %q) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
      %d = "stablehlo.dot_general"(%s, %s) <{dot_dimension_numbers = #stablehlo.dot<lhs_contracting_dimensions = [0], rhs_contracting_dimensions = [0]>}> : (tensor<3xf32>, tensor<3xf32>) -> tensor<f32>
      "batch.yield"(%d) : (tensor<f32>) -> ()
    }) : (tensor<3xf32>, tensor<6x3xf32>) -> tensor<6xf32>
    "batch.yield"(%i) : (tensor<6xf32>) -> ()
  }) : (tensor<5x3xf32>, tensor<6x3xf32>) -> tensor<5x6xf32>
  func.return %r : tensor<5x6xf32>
}
