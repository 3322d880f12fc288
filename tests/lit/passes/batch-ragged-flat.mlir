// RUN: vmlir-opt %s --split-input-file --verify-diagnostics -p batch-ragged-flat | filecheck %s

// batch-ragged-flat: a flat ragged vmap holds every example's rows packed (64 rows for
// 2 examples); %seg is each row's example. Per-row ops stay; a reduction over the rows
// becomes a scatter into one entry per example, picked by the example's index; a
// per-example value broadcast to rows is all-gathered, then gathered by segment id; a
// contraction over the rows is a row-batched product, then the same segment sum.
// ragged_axes is dropped, the layout attribute stays. Ops that mix positions along the
// ragged axis are refused.

// CHECK-LABEL: func.func @centered_and_gram
// CHECK: batch.vmap({{.*}}) in_axes [none, none, 0] out_axes [none, 0] size 2 name "vmlir.ragged.examples" attributes {batch.ragged_layout = "flat"}
// CHECK-NEXT: %[[ZERO:.*]] = stablehlo.constant dense<0.000000e+00> : tensor<f32>
// CHECK-NEXT: %[[INIT:.*]] = stablehlo.broadcast_in_dim %[[ZERO]], dims = [] : (tensor<f32>) -> tensor<2x2xf32>
// CHECK-NEXT: %[[SUMS:.*]] = "stablehlo.scatter"(%[[INIT]], %seg, %x) <{scatter_dimension_numbers = #stablehlo.scatter<update_window_dims = [1], inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1>, indices_are_sorted = true, unique_indices = false}>
// CHECK: stablehlo.add
// CHECK: }) : (tensor<2x2xf32>, tensor<64xi32>, tensor<64x2xf32>) -> tensor<2x2xf32>
// CHECK-NEXT: %[[K:.*]] = batch.axis_index axes ["vmlir.ragged.examples"] : tensor<i32>
// CHECK-NEXT: %[[Z:.*]] = stablehlo.constant dense<0> : tensor<i32>
// CHECK-NEXT: %[[ONE:.*]] = stablehlo.dynamic_slice %[[SUMS]], %[[K]], %[[Z]], sizes = [1, 2]
// CHECK-NEXT: %[[SUM:.*]] = stablehlo.reshape %[[ONE]] : (tensor<1x2xf32>) -> tensor<2xf32>
// CHECK-NEXT: %[[ALL:.*]] = batch.all_gather %[[SUM]] axes ["vmlir.ragged.examples"] dim 0 : (tensor<2xf32>) -> tensor<2x2xf32>
// CHECK-NEXT: %[[ROWS:.*]] = "stablehlo.gather"(%[[ALL]], %seg) <{dimension_numbers = #stablehlo.gather<offset_dims = [1], collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = 1>, indices_are_sorted = true, slice_sizes = array<i64: 1, 2>}> : (tensor<2x2xf32>, tensor<64xi32>) -> tensor<64x2xf32>
// CHECK-NEXT: %[[B:.*]] = stablehlo.broadcast_in_dim %[[ROWS]], dims = [0, 1] : (tensor<64x2xf32>) -> tensor<64x2xf32>
// CHECK-NEXT: %c = stablehlo.subtract %x, %[[B]] : tensor<64x2xf32>
// CHECK-NEXT: %t = stablehlo.transpose %x
// CHECK-NEXT: %[[PER_ROW:.*]] = stablehlo.dot_general %t, %x, batching_dims = [1] x [0], contracting_dims = [] x [] : (tensor<2x64xf32>, tensor<64x2xf32>) -> tensor<64x2x2xf32>
// CHECK: "stablehlo.scatter"({{.*}}, %seg, %[[PER_ROW]])
// CHECK: batch.axis_index
// CHECK: batch.yield %c, %{{.*}} : tensor<64x2xf32>, tensor<2x2xf32>
func.func @centered_and_gram(%xs: tensor<64x2xf32>, %segs: tensor<64xi32>, %n: tensor<2xi32>) -> (tensor<64x2xf32>, tensor<2x2x2xf32>) {
  %r:2 = batch.vmap(%x = %xs, %seg = %segs, %len = %n) in_axes [none, none, 0] out_axes [none, 0] size 2 name "vmlir.ragged.examples" ragged [0, none, none] attributes {batch.ragged_layout = "flat"} : (tensor<64x2xf32>, tensor<64xi32>, tensor<2xi32>) -> (tensor<64x2xf32>, tensor<2x2x2xf32>) {
    %z = stablehlo.constant dense<0.000000e+00> : tensor<f32>
    %s = stablehlo.reduce(%x init: %z) applies stablehlo.add across dimensions = [0] : (tensor<64x2xf32>, tensor<f32>) -> tensor<2xf32>
    %b = stablehlo.broadcast_in_dim %s, dims = [1] : (tensor<2xf32>) -> tensor<64x2xf32>
    %c = stablehlo.subtract %x, %b : tensor<64x2xf32>
    %t = stablehlo.transpose %x, dims = [1, 0] : (tensor<64x2xf32>) -> tensor<2x64xf32>
    %g = stablehlo.dot_general %t, %x, contracting_dims = [1] x [0] : (tensor<2x64xf32>, tensor<64x2xf32>) -> tensor<2x2xf32>
    batch.yield %c, %g : tensor<64x2xf32>, tensor<2x2xf32>
  }
  func.return %r#0, %r#1 : tensor<64x2xf32>, tensor<2x2x2xf32>
}

// -----

// A per-example vector contracted with the rows: gathered to one copy per row, then a
// row-batched product; the row dimension moves back to where the result had it.

// CHECK-LABEL: func.func @rows_times_per_example
// CHECK: %[[ALL:.*]] = batch.all_gather %q axes ["vmlir.ragged.examples"] dim 0 : (tensor<2xf32>) -> tensor<2x2xf32>
// CHECK-NEXT: %[[ROWS:.*]] = "stablehlo.gather"(%[[ALL]], %seg)
// CHECK-NEXT: %[[D:.*]] = stablehlo.dot_general %x, %[[ROWS]], batching_dims = [0] x [0], contracting_dims = [1] x [1]{{.*}} : (tensor<64x2xf32>, tensor<64x2xf32>) -> tensor<64xf32>
// CHECK-NEXT: batch.yield %[[D]] : tensor<64xf32>
func.func @rows_times_per_example(%xs: tensor<64x2xf32>, %qs: tensor<2x2xf32>, %segs: tensor<64xi32>, %n: tensor<2xi32>) -> tensor<64xf32> {
  %r = batch.vmap(%x = %xs, %q = %qs, %seg = %segs, %len = %n) in_axes [none, 0, none, 0] out_axes [none] size 2 name "vmlir.ragged.examples" ragged [0, none, none, none] attributes {batch.ragged_layout = "flat"} : (tensor<64x2xf32>, tensor<2x2xf32>, tensor<64xi32>, tensor<2xi32>) -> tensor<64xf32> {
    %d = stablehlo.dot_general %x, %q, contracting_dims = [1] x [0] : (tensor<64x2xf32>, tensor<2xf32>) -> tensor<64xf32>
    batch.yield %d : tensor<64xf32>
  }
  func.return %r : tensor<64xf32>
}

// -----

// Scores of every row against every row (full attention) pair two positions along the
// ragged axis: refused (the bucketed path runs such programs).

func.func @row_by_row_is_refused(%xs: tensor<64x2xf32>, %segs: tensor<64xi32>, %n: tensor<2xi32>) -> tensor<2xf32> {
  %r = batch.vmap(%x = %xs, %seg = %segs, %len = %n) in_axes [none, none, 0] out_axes [0] size 2 name "vmlir.ragged.examples" ragged [0, none, none] attributes {batch.ragged_layout = "flat"} : (tensor<64x2xf32>, tensor<64xi32>, tensor<2xi32>) -> tensor<2xf32> {
    %s = stablehlo.dot_general %x, %x, contracting_dims = [1] x [1] : (tensor<64x2xf32>, tensor<64x2xf32>) -> tensor<64x64xf32>
    %z = stablehlo.constant dense<0.000000e+00> : tensor<f32>
    %t = stablehlo.reduce(%s init: %z) applies stablehlo.add across dimensions = [0, 1] : (tensor<64x64xf32>, tensor<f32>) -> tensor<f32>
    batch.yield %t : tensor<f32>
  }
  func.return %r : tensor<2xf32>
}
// CHECK: ragged vmap, packed layout: 'stablehlo.dot_general' pairs positions along the ragged axis (a ragged-by-ragged value); use layout='buckets'
