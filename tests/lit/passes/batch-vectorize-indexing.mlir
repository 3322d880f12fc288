// RUN: vmlir-opt %s -p batch-propagate-axes,batch-vectorize | filecheck %s

// Batching rules of the indexing ops (passes/rules/indexing.py): gather, scatter, dynamic_slice,
// dynamic_update_slice. Per-example ops as JAX lowers x[idx], x.at[idx].add(u), lax.dynamic_slice,
// lax.dynamic_update_slice; batch size 2 so it is told apart from the data's dimensions.

// x[idx] with both batched: one gather, the batch axes paired as batching dims
// (operand dim 1 with indices dim 0); the index vector dim moves past the new dim.
// CHECK-LABEL: func.func @gather_both_batched(
// CHECK-NEXT: %r = "stablehlo.gather"(%x, %i) <{dimension_numbers = #stablehlo.gather<offset_dims = [2], collapsed_slice_dims = [0], operand_batching_dims = [1], start_indices_batching_dims = [0], start_index_map = [0], index_vector_dim = 2>, indices_are_sorted = false, slice_sizes = array<i64: 1, 1, 3>}> : (tensor<5x2x3xf32>, tensor<2x4x1xi32>) -> tensor<2x4x3xf32>
// CHECK-NEXT: func.return %r : tensor<2x4x3xf32>
func.func @gather_both_batched(%x: tensor<5x2x3xf32>, %i: tensor<2x4x1xi32>) -> tensor<2x4x3xf32> {
  %r = batch.vmap(%v = %x, %j = %i) in_axes [1, 0] out_axes [0] size 2 : (tensor<5x2x3xf32>, tensor<2x4x1xi32>) -> tensor<2x4x3xf32> {
    %g = "stablehlo.gather"(%v, %j) <{dimension_numbers = #stablehlo.gather<offset_dims = [1], collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = 1>, indices_are_sorted = false, slice_sizes = array<i64: 1, 3>}> : (tensor<5x3xf32>, tensor<4x1xi32>) -> tensor<4x3xf32>
    batch.yield %g : tensor<4x3xf32>
  }
  func.return %r : tensor<2x4x3xf32>
}

// x[idx] with only x batched (axis 2): the batch axis is a full-size offset (window)
// dim, slice size 2; the indices are shared; the result carries the batch on axis 2.
// CHECK-LABEL: func.func @gather_operand_batched(
// CHECK-NEXT: %0 = "stablehlo.gather"(%x, %i) <{dimension_numbers = #stablehlo.gather<offset_dims = [1, 2], collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = 1>, indices_are_sorted = false, slice_sizes = array<i64: 1, 3, 2>}> : (tensor<5x3x2xf32>, tensor<4x1xi32>) -> tensor<4x3x2xf32>
// CHECK-NEXT: %r = batch.move_axis %0 from 2 to 0 : (tensor<4x3x2xf32>) -> tensor<2x4x3xf32>
// CHECK-NEXT: func.return %r : tensor<2x4x3xf32>
func.func @gather_operand_batched(%x: tensor<5x3x2xf32>, %i: tensor<4x1xi32>) -> tensor<2x4x3xf32> {
  %r = batch.vmap(%v = %x, %j = %i) in_axes [2, none] out_axes [0] size 2 : (tensor<5x3x2xf32>, tensor<4x1xi32>) -> tensor<2x4x3xf32> {
    %g = "stablehlo.gather"(%v, %j) <{dimension_numbers = #stablehlo.gather<offset_dims = [1], collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = 1>, indices_are_sorted = false, slice_sizes = array<i64: 1, 3>}> : (tensor<5x3xf32>, tensor<4x1xi32>) -> tensor<4x3xf32>
    batch.yield %g : tensor<4x3xf32>
  }
  func.return %r : tensor<2x4x3xf32>
}

// x[idx] with only idx batched (axis 1): one more batch dim of the index tensor
// (index_vector_dim 1 -> 2), the result's batch dim 1; x is read once.
// CHECK-LABEL: func.func @gather_indices_batched(
// CHECK-NEXT: %0 = "stablehlo.gather"(%x, %i) <{dimension_numbers = #stablehlo.gather<offset_dims = [2], collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = 2>, indices_are_sorted = false, slice_sizes = array<i64: 1, 3>}> : (tensor<5x3xf32>, tensor<4x2x1xi32>) -> tensor<4x2x3xf32>
// CHECK-NEXT: %r = batch.move_axis %0 from 1 to 0 : (tensor<4x2x3xf32>) -> tensor<2x4x3xf32>
// CHECK-NEXT: func.return %r : tensor<2x4x3xf32>
func.func @gather_indices_batched(%x: tensor<5x3xf32>, %i: tensor<4x2x1xi32>) -> tensor<2x4x3xf32> {
  %r = batch.vmap(%v = %x, %j = %i) in_axes [none, 1] out_axes [0] size 2 : (tensor<5x3xf32>, tensor<4x2x1xi32>) -> tensor<2x4x3xf32> {
    %g = "stablehlo.gather"(%v, %j) <{dimension_numbers = #stablehlo.gather<offset_dims = [1], collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = 1>, indices_are_sorted = false, slice_sizes = array<i64: 1, 3>}> : (tensor<5x3xf32>, tensor<4x1xi32>) -> tensor<4x3xf32>
    batch.yield %g : tensor<4x3xf32>
  }
  func.return %r : tensor<2x4x3xf32>
}

// lax.dynamic_slice with a batched start: the starts stacked into (B, 2), a gather
// with the operand's batch axis (1) as batching dim; the result keeps it on axis 1.
// CHECK-LABEL: func.func @dynamic_slice_batched_start(
// CHECK-NEXT: %c = stablehlo.constant dense<0> : tensor<i32>
// CHECK-NEXT: %0 = stablehlo.broadcast_in_dim %i, dims = [0] : (tensor<2xi32>) -> tensor<2x1xi32>
// CHECK-NEXT: %1 = stablehlo.broadcast_in_dim %c, dims = [] : (tensor<i32>) -> tensor<2x1xi32>
// CHECK-NEXT: %2 = stablehlo.concatenate %0, %1, dim = 1 : (tensor<2x1xi32>, tensor<2x1xi32>) -> tensor<2x2xi32>
// CHECK-NEXT: %3 = "stablehlo.gather"(%x, %2) <{dimension_numbers = #stablehlo.gather<offset_dims = [0, 2], operand_batching_dims = [1], start_indices_batching_dims = [0], start_index_map = [0, 2], index_vector_dim = 1>, indices_are_sorted = false, slice_sizes = array<i64: 3, 1, 3>}> : (tensor<5x2x3xf32>, tensor<2x2xi32>) -> tensor<3x2x3xf32>
// CHECK-NEXT: %r = batch.move_axis %3 from 1 to 0 : (tensor<3x2x3xf32>) -> tensor<2x3x3xf32>
// CHECK-NEXT: func.return %r : tensor<2x3x3xf32>
func.func @dynamic_slice_batched_start(%x: tensor<5x2x3xf32>, %i: tensor<2xi32>) -> tensor<2x3x3xf32> {
  %r = batch.vmap(%v = %x, %s = %i) in_axes [1, 0] out_axes [0] size 2 : (tensor<5x2x3xf32>, tensor<2xi32>) -> tensor<2x3x3xf32> {
    %c = stablehlo.constant dense<0> : tensor<i32>
    %d = stablehlo.dynamic_slice %v, %s, %c, sizes = [3, 3] : (tensor<5x3xf32>, tensor<i32>, tensor<i32>) -> tensor<3x3xf32>
    batch.yield %d : tensor<3x3xf32>
  }
  func.return %r : tensor<2x3x3xf32>
}

// lax.dynamic_update_slice with a uniform start: still one, the update moved to the
// operand's batch axis (1), a zero start on it.
// CHECK-LABEL: func.func @dynamic_update_slice_uniform_start(
// CHECK-NEXT: %c = stablehlo.constant dense<0> : tensor<i32>
// CHECK-NEXT: %0 = batch.move_axis %u from 0 to 1 : (tensor<2x4x3xf32>) -> tensor<4x2x3xf32>
// CHECK-NEXT: %1 = stablehlo.constant dense<0> : tensor<i32>
// CHECK-NEXT: %2 = stablehlo.dynamic_update_slice %x, %0, %i, %1, %c : (tensor<5x2x3xf32>, tensor<4x2x3xf32>, tensor<i32>, tensor<i32>, tensor<i32>) -> tensor<5x2x3xf32>
// CHECK-NEXT: %r = batch.move_axis %2 from 1 to 0 : (tensor<5x2x3xf32>) -> tensor<2x5x3xf32>
// CHECK-NEXT: func.return %r : tensor<2x5x3xf32>
func.func @dynamic_update_slice_uniform_start(%x: tensor<5x2x3xf32>, %u: tensor<2x4x3xf32>, %i: tensor<i32>) -> tensor<2x5x3xf32> {
  %r = batch.vmap(%v = %x, %w = %u, %s = %i) in_axes [1, 0, none] out_axes [0] size 2 : (tensor<5x2x3xf32>, tensor<2x4x3xf32>, tensor<i32>) -> tensor<2x5x3xf32> {
    %c = stablehlo.constant dense<0> : tensor<i32>
    %d = stablehlo.dynamic_update_slice %v, %w, %s, %c : (tensor<5x3xf32>, tensor<4x3xf32>, tensor<i32>, tensor<i32>) -> tensor<5x3xf32>
    batch.yield %d : tensor<5x3xf32>
  }
  func.return %r : tensor<2x5x3xf32>
}

// lax.dynamic_update_slice with a batched start: a replacing scatter with batching
// dims; the starts clamped first (to [0, 5-4] and [0, 3-3]) since scatter would drop.
// CHECK-LABEL: func.func @dynamic_update_slice_batched_start(
// CHECK-NEXT: %c = stablehlo.constant dense<0> : tensor<i32>
// CHECK-NEXT: %0 = batch.broadcast %x axis 0 size 2 : (tensor<5x3xf32>) -> tensor<2x5x3xf32>
// CHECK-NEXT: %1 = stablehlo.constant dense<0> : tensor<i32>
// CHECK-NEXT: %2 = stablehlo.constant dense<1> : tensor<i32>
// CHECK-NEXT: %3 = stablehlo.clamp %1, %i, %2 : (tensor<i32>, tensor<2xi32>, tensor<i32>) -> tensor<2xi32>
// CHECK-NEXT: %4 = stablehlo.clamp %1, %c, %1 : tensor<i32>
// CHECK-NEXT: %5 = stablehlo.broadcast_in_dim %3, dims = [0] : (tensor<2xi32>) -> tensor<2x1xi32>
// CHECK-NEXT: %6 = stablehlo.broadcast_in_dim %4, dims = [] : (tensor<i32>) -> tensor<2x1xi32>
// CHECK-NEXT: %7 = stablehlo.concatenate %5, %6, dim = 1 : (tensor<2x1xi32>, tensor<2x1xi32>) -> tensor<2x2xi32>
// CHECK-NEXT: %r = "stablehlo.scatter"(%0, %7, %u) <{indices_are_sorted = false, scatter_dimension_numbers = #stablehlo.scatter<update_window_dims = [1, 2], input_batching_dims = [0], scatter_indices_batching_dims = [0], scatter_dims_to_operand_dims = [1, 2], index_vector_dim = 1>, unique_indices = true}> ({
// CHECK-NEXT: ^bb0(%8: tensor<f32>, %9: tensor<f32>):
// CHECK-NEXT: stablehlo.return %9 : tensor<f32>
// CHECK-NEXT: }) : (tensor<2x5x3xf32>, tensor<2x2xi32>, tensor<2x4x3xf32>) -> tensor<2x5x3xf32>
// CHECK-NEXT: func.return %r : tensor<2x5x3xf32>
func.func @dynamic_update_slice_batched_start(%x: tensor<5x3xf32>, %u: tensor<2x4x3xf32>, %i: tensor<2xi32>) -> tensor<2x5x3xf32> {
  %r = batch.vmap(%v = %x, %w = %u, %s = %i) in_axes [none, 0, 0] out_axes [0] size 2 : (tensor<5x3xf32>, tensor<2x4x3xf32>, tensor<2xi32>) -> tensor<2x5x3xf32> {
    %c = stablehlo.constant dense<0> : tensor<i32>
    %d = stablehlo.dynamic_update_slice %v, %w, %s, %c : (tensor<5x3xf32>, tensor<4x3xf32>, tensor<i32>, tensor<i32>) -> tensor<5x3xf32>
    batch.yield %d : tensor<5x3xf32>
  }
  func.return %r : tensor<2x5x3xf32>
}

// x.at[idx].add(u) with x and idx batched, u uniform: one scatter with batching dims
// (input dim 0 with indices dim 1); u broadcast along a new update scatter dim 1.
// CHECK-LABEL: func.func @scatter_add_both_batched(
// CHECK-NEXT: %0 = batch.broadcast %u axis 1 size 2 : (tensor<4x3xf32>) -> tensor<4x2x3xf32>
// CHECK-NEXT: %r = "stablehlo.scatter"(%x, %i, %0) <{indices_are_sorted = false, scatter_dimension_numbers = #stablehlo.scatter<update_window_dims = [2], inserted_window_dims = [1], input_batching_dims = [0], scatter_indices_batching_dims = [1], scatter_dims_to_operand_dims = [1], index_vector_dim = 2>, unique_indices = false}> ({
// CHECK-NEXT: ^bb0(%p: tensor<f32>, %q: tensor<f32>):
// CHECK-NEXT: %a = stablehlo.add %p, %q : tensor<f32>
// CHECK-NEXT: stablehlo.return %a : tensor<f32>
// CHECK-NEXT: }) : (tensor<2x5x3xf32>, tensor<4x2x1xi32>, tensor<4x2x3xf32>) -> tensor<2x5x3xf32>
// CHECK-NEXT: func.return %r : tensor<2x5x3xf32>
func.func @scatter_add_both_batched(%x: tensor<2x5x3xf32>, %i: tensor<4x2x1xi32>, %u: tensor<4x3xf32>) -> tensor<2x5x3xf32> {
  %r = batch.vmap(%v = %x, %j = %i, %w = %u) in_axes [0, 1, none] out_axes [0] size 2 : (tensor<2x5x3xf32>, tensor<4x2x1xi32>, tensor<4x3xf32>) -> tensor<2x5x3xf32> {
    %s = "stablehlo.scatter"(%v, %j, %w) <{indices_are_sorted = false, scatter_dimension_numbers = #stablehlo.scatter<update_window_dims = [1], inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1>, unique_indices = false}> ({
    ^bb0(%p: tensor<f32>, %q: tensor<f32>):
      %a = stablehlo.add %p, %q : tensor<f32>
      stablehlo.return %a : tensor<f32>
    }) : (tensor<5x3xf32>, tensor<4x1xi32>, tensor<4x3xf32>) -> tensor<5x3xf32>
    batch.yield %s : tensor<5x3xf32>
  }
  func.return %r : tensor<2x5x3xf32>
}

// A variadic scatter (two inputs, two scalar updates, replacing) with a batched index: the
// uniform input and update are broadcast (each example writes its own copy), both inputs
// meet at the first batched input's axis (1), paired with the indices' batch dim 0.
// CHECK-LABEL: func.func @scatter_variadic_operand_batched_at_1(
// CHECK-NEXT: %0 = batch.broadcast %y axis 1 size 2 : (tensor<5xi32>) -> tensor<5x2xi32>
// CHECK-NEXT: %1 = batch.broadcast %u axis 0 size 2 : (tensor<f32>) -> tensor<2xf32>
// CHECK-NEXT: %2, %3 = "stablehlo.scatter"(%x, %0, %i, %1, %w) <{indices_are_sorted = false, scatter_dimension_numbers = #stablehlo.scatter<inserted_window_dims = [0], input_batching_dims = [1], scatter_indices_batching_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1>, unique_indices = true}> ({
// CHECK-NEXT: ^bb0(%p: tensor<f32>, %p2: tensor<i32>, %q: tensor<f32>, %q2: tensor<i32>):
// CHECK-NEXT: stablehlo.return %q, %q2 : tensor<f32>, tensor<i32>
// CHECK-NEXT: }) : (tensor<5x2xf32>, tensor<5x2xi32>, tensor<2x1xi32>, tensor<2xf32>, tensor<2xi32>) -> (tensor<5x2xf32>, tensor<5x2xi32>)
// CHECK-NEXT: %r = batch.move_axis %2 from 1 to 0 : (tensor<5x2xf32>) -> tensor<2x5xf32>
// CHECK-NEXT: %r_1 = batch.move_axis %3 from 1 to 0 : (tensor<5x2xi32>) -> tensor<2x5xi32>
// CHECK-NEXT: func.return %r, %r_1 : tensor<2x5xf32>, tensor<2x5xi32>
func.func @scatter_variadic_operand_batched_at_1(%x: tensor<5x2xf32>, %y: tensor<5xi32>, %i: tensor<2x1xi32>, %u: tensor<f32>, %w: tensor<2xi32>) -> (tensor<2x5xf32>, tensor<2x5xi32>) {
  %r, %r_1 = batch.vmap(%v = %x, %yy = %y, %j = %i, %uu = %u, %ww = %w) in_axes [1, none, 0, none, 0] out_axes [0, 0] size 2 : (tensor<5x2xf32>, tensor<5xi32>, tensor<2x1xi32>, tensor<f32>, tensor<2xi32>) -> (tensor<2x5xf32>, tensor<2x5xi32>) {
    %s, %s_1 = "stablehlo.scatter"(%v, %yy, %j, %uu, %ww) <{indices_are_sorted = true, scatter_dimension_numbers = #stablehlo.scatter<inserted_window_dims = [0], scatter_dims_to_operand_dims = [0]>, unique_indices = true}> ({
    ^bb0(%p: tensor<f32>, %p2: tensor<i32>, %q: tensor<f32>, %q2: tensor<i32>):
      stablehlo.return %q, %q2 : tensor<f32>, tensor<i32>
    }) : (tensor<5xf32>, tensor<5xi32>, tensor<1xi32>, tensor<f32>, tensor<i32>) -> (tensor<5xf32>, tensor<5xi32>)
    batch.yield %s, %s_1 : tensor<5xf32>, tensor<5xi32>
  }
  func.return %r, %r_1 : tensor<2x5xf32>, tensor<2x5xi32>
}
