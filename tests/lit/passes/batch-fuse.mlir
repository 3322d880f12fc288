// RUN: vmlir-opt %s -p batch-fuse --split-input-file | filecheck %s

// batch-fuse (default options): folds of vectorization's transposes and broadcasts,
// loop-invariant code motion. One case per fold; the algebraic rewrite is tested in
// batch-fuse-algebraic.mlir.

// A move_axis and its inverse: nothing.
// CHECK-LABEL: func.func @move_move_identity(
// CHECK-NEXT: func.return %x : tensor<4x3x2xf32>
func.func @move_move_identity(%x: tensor<4x3x2xf32>) -> tensor<4x3x2xf32> {
  %a = batch.move_axis %x from 0 to 2 : (tensor<4x3x2xf32>) -> tensor<3x2x4xf32>
  %b = batch.move_axis %a from 2 to 0 : (tensor<3x2x4xf32>) -> tensor<4x3x2xf32>
  func.return %b : tensor<4x3x2xf32>
}

// -----

// Chains of moves compose into one move_axis.
// CHECK-LABEL: func.func @move_move_compose(
// CHECK-NEXT: %b = batch.move_axis %x from 0 to 2 : (tensor<4x3x2xf32>) -> tensor<3x2x4xf32>
// CHECK-NEXT: %e = batch.move_axis %x from 2 to 0 : (tensor<4x3x2xf32>) -> tensor<2x4x3xf32>
// CHECK-NEXT: func.return %b, %e : tensor<3x2x4xf32>, tensor<2x4x3xf32>
func.func @move_move_compose(%x: tensor<4x3x2xf32>) -> (tensor<3x2x4xf32>, tensor<2x4x3xf32>) {
  %a = batch.move_axis %x from 0 to 1 : (tensor<4x3x2xf32>) -> tensor<3x4x2xf32>
  %b = batch.move_axis %a from 1 to 2 : (tensor<3x4x2xf32>) -> tensor<3x2x4xf32>
  %c = batch.move_axis %x from 0 to 2 : (tensor<4x3x2xf32>) -> tensor<3x2x4xf32>
  %d = batch.move_axis %c from 1 to 0 : (tensor<3x2x4xf32>) -> tensor<2x3x4xf32>
  %e = batch.move_axis %d from 2 to 1 : (tensor<2x3x4xf32>) -> tensor<2x4x3xf32>
  func.return %b, %e : tensor<3x2x4xf32>, tensor<2x4x3xf32>
}

// -----

// Two moves that are not one move together: one stablehlo.transpose.
// CHECK-LABEL: func.func @move_move_to_transpose(
// CHECK-NEXT: %b = stablehlo.transpose %x, dims = [2, 3, 0, 1] : (tensor<5x4x3x2xf32>) -> tensor<3x2x5x4xf32>
// CHECK-NEXT: func.return %b : tensor<3x2x5x4xf32>
func.func @move_move_to_transpose(%x: tensor<5x4x3x2xf32>) -> tensor<3x2x5x4xf32> {
  %a = batch.move_axis %x from 0 to 3 : (tensor<5x4x3x2xf32>) -> tensor<4x3x2x5xf32>
  %b = batch.move_axis %a from 0 to 3 : (tensor<4x3x2x5xf32>) -> tensor<3x2x5x4xf32>
  func.return %b : tensor<3x2x5x4xf32>
}

// -----

// transpose of transpose: one transpose; identity transpose: nothing; move_axis then
// transpose: one transpose.
// CHECK-LABEL: func.func @transpose_chains(
// CHECK-NEXT: %b = stablehlo.transpose %x, dims = [1, 0, 2] : (tensor<4x3x2xf32>) -> tensor<3x4x2xf32>
// CHECK-NEXT: %e = stablehlo.transpose %x, dims = [2, 1, 0] : (tensor<4x3x2xf32>) -> tensor<2x3x4xf32>
// CHECK-NEXT: func.return %b, %x, %e : tensor<3x4x2xf32>, tensor<4x3x2xf32>, tensor<2x3x4xf32>
func.func @transpose_chains(%x: tensor<4x3x2xf32>) -> (tensor<3x4x2xf32>, tensor<4x3x2xf32>, tensor<2x3x4xf32>) {
  %a = stablehlo.transpose %x, dims = [2, 0, 1] : (tensor<4x3x2xf32>) -> tensor<2x4x3xf32>
  %b = stablehlo.transpose %a, dims = [2, 1, 0] : (tensor<2x4x3xf32>) -> tensor<3x4x2xf32>
  %c = stablehlo.transpose %x, dims = [0, 1, 2] : (tensor<4x3x2xf32>) -> tensor<4x3x2xf32>
  %d = batch.move_axis %x from 0 to 2 : (tensor<4x3x2xf32>) -> tensor<3x2x4xf32>
  %e = stablehlo.transpose %d, dims = [1, 0, 2] : (tensor<3x2x4xf32>) -> tensor<2x3x4xf32>
  func.return %b, %c, %e : tensor<3x4x2xf32>, tensor<4x3x2xf32>, tensor<2x3x4xf32>
}

// -----

// A move_axis undone by a transpose: nothing.
// CHECK-LABEL: func.func @move_then_transpose_cancel(
// CHECK-NEXT: func.return %x : tensor<4x3xf32>
func.func @move_then_transpose_cancel(%x: tensor<4x3xf32>) -> tensor<4x3xf32> {
  %a = batch.move_axis %x from 0 to 1 : (tensor<4x3xf32>) -> tensor<3x4xf32>
  %b = stablehlo.transpose %a, dims = [1, 0] : (tensor<3x4xf32>) -> tensor<4x3xf32>
  func.return %b : tensor<4x3xf32>
}

// -----

// broadcast of broadcast (batch or broadcast_in_dim): one broadcast_in_dim of the
// innermost operand.
// CHECK-LABEL: func.func @broadcast_chains(
// CHECK-NEXT: %b = stablehlo.broadcast_in_dim %c, dims = [1] : (tensor<3xf32>) -> tensor<4x3x5xf32>
// CHECK-NEXT: %f = stablehlo.broadcast_in_dim %s, dims = [] : (tensor<f32>) -> tensor<4x5x3xf32>
// CHECK-NEXT: func.return %b, %f : tensor<4x3x5xf32>, tensor<4x5x3xf32>
func.func @broadcast_chains(%c: tensor<3xf32>, %s: tensor<f32>) -> (tensor<4x3x5xf32>, tensor<4x5x3xf32>) {
  %a = batch.broadcast %c axis 0 size 4 : (tensor<3xf32>) -> tensor<4x3xf32>
  %b = batch.broadcast %a axis 2 size 5 : (tensor<4x3xf32>) -> tensor<4x3x5xf32>
  %d = stablehlo.broadcast_in_dim %s, dims = [] : (tensor<f32>) -> tensor<3xf32>
  %e = batch.broadcast %d axis 0 size 5 : (tensor<3xf32>) -> tensor<5x3xf32>
  %f = stablehlo.broadcast_in_dim %e, dims = [1, 2] : (tensor<5x3xf32>) -> tensor<4x5x3xf32>
  func.return %b, %f : tensor<4x3x5xf32>, tensor<4x5x3xf32>
}

// -----

// A move of a broadcast: the broadcast made in the moved layout (batch.broadcast at the
// destination when it was one); where the operand's dims come out of order, the small
// operand is transposed.
// CHECK-LABEL: func.func @move_of_broadcast(
// CHECK-NEXT: %b = batch.broadcast %c axis 2 size 4 : (tensor<3x2xf32>) -> tensor<3x2x4xf32>
// CHECK-NEXT: %e = stablehlo.broadcast_in_dim %c, dims = [0, 2] : (tensor<3x2xf32>) -> tensor<3x4x2xf32>
// CHECK-NEXT: %g = stablehlo.transpose %c, dims = [1, 0] : (tensor<3x2xf32>) -> tensor<2x3xf32>
// CHECK-NEXT: %g_1 = stablehlo.broadcast_in_dim %g, dims = [0, 2] : (tensor<2x3xf32>) -> tensor<2x4x3xf32>
// CHECK-NEXT: func.return %b, %e, %g_1 : tensor<3x2x4xf32>, tensor<3x4x2xf32>, tensor<2x4x3xf32>
func.func @move_of_broadcast(%c: tensor<3x2xf32>) -> (tensor<3x2x4xf32>, tensor<3x4x2xf32>, tensor<2x4x3xf32>) {
  %a = batch.broadcast %c axis 0 size 4 : (tensor<3x2xf32>) -> tensor<4x3x2xf32>
  %b = batch.move_axis %a from 0 to 2 : (tensor<4x3x2xf32>) -> tensor<3x2x4xf32>
  %d = stablehlo.broadcast_in_dim %c, dims = [1, 2] : (tensor<3x2xf32>) -> tensor<4x3x2xf32>
  %e = stablehlo.transpose %d, dims = [1, 0, 2] : (tensor<4x3x2xf32>) -> tensor<3x4x2xf32>
  %f = batch.broadcast %c axis 1 size 4 : (tensor<3x2xf32>) -> tensor<3x4x2xf32>
  %g = stablehlo.transpose %f, dims = [2, 1, 0] : (tensor<3x4x2xf32>) -> tensor<2x4x3xf32>
  func.return %b, %e, %g : tensor<3x2x4xf32>, tensor<3x4x2xf32>, tensor<2x4x3xf32>
}

// -----

// reshape of reshape: one reshape (nothing when it restores the type); convert to the
// same type: nothing.
// CHECK-LABEL: func.func @reshape_and_convert(
// CHECK-NEXT: %b = stablehlo.reshape %x : (tensor<6x4xf32>) -> tensor<24xf32>
// CHECK-NEXT: %e = stablehlo.convert %x : (tensor<6x4xf32>) -> tensor<6x4xf64>
// CHECK-NEXT: func.return %b, %x, %x, %e : tensor<24xf32>, tensor<6x4xf32>, tensor<6x4xf32>, tensor<6x4xf64>
func.func @reshape_and_convert(%x: tensor<6x4xf32>) -> (tensor<24xf32>, tensor<6x4xf32>, tensor<6x4xf32>, tensor<6x4xf64>) {
  %a = stablehlo.reshape %x : (tensor<6x4xf32>) -> tensor<2x3x4xf32>
  %b = stablehlo.reshape %a : (tensor<2x3x4xf32>) -> tensor<24xf32>
  %c = stablehlo.reshape %b : (tensor<24xf32>) -> tensor<6x4xf32>
  %d = stablehlo.convert %x : tensor<6x4xf32>
  %e = stablehlo.convert %x : (tensor<6x4xf32>) -> tensor<6x4xf64>
  func.return %b, %c, %d, %e : tensor<24xf32>, tensor<6x4xf32>, tensor<6x4xf32>, tensor<6x4xf64>
}

// -----

// Elementwise ops of operands moved alike (with scalar, splat-constant and broadcast
// operands): computed first, moved once.
// CHECK-LABEL: func.func @sink_into_elementwise(
// CHECK-NEXT: %s = stablehlo.add %x, %y : tensor<4x3xf32>
// CHECK-NEXT: %m = stablehlo.constant dense<2.000000e+00> : tensor<4x3xf32>
// CHECK-NEXT: %m_1 = stablehlo.multiply %s, %m : tensor<4x3xf32>
// CHECK-NEXT: %r = stablehlo.broadcast_in_dim %c, dims = [1] : (tensor<3xf32>) -> tensor<4x3xf32>
// CHECK-NEXT: %r_1 = stablehlo.select %p, %m_1, %r : tensor<i1>, tensor<4x3xf32>
// CHECK-NEXT: %r_2 = batch.move_axis %r_1 from 0 to 1 : (tensor<4x3xf32>) -> tensor<3x4xf32>
// CHECK-NEXT: func.return %r_2 : tensor<3x4xf32>
func.func @sink_into_elementwise(%x: tensor<4x3xf32>, %y: tensor<4x3xf32>, %p: tensor<i1>, %c: tensor<3xf32>) -> tensor<3x4xf32> {
  %a = batch.move_axis %x from 0 to 1 : (tensor<4x3xf32>) -> tensor<3x4xf32>
  %b = batch.move_axis %y from 0 to 1 : (tensor<4x3xf32>) -> tensor<3x4xf32>
  %s = stablehlo.add %a, %b : tensor<3x4xf32>
  %two = stablehlo.constant dense<2.000000e+00> : tensor<3x4xf32>
  %m = stablehlo.multiply %s, %two : tensor<3x4xf32>
  %cb = batch.broadcast %c axis 1 size 4 : (tensor<3xf32>) -> tensor<3x4xf32>
  %r = stablehlo.select %p, %m, %cb : tensor<i1>, tensor<3x4xf32>
  func.return %r : tensor<3x4xf32>
}

// -----

// Operands transposed differently: left alone.
// CHECK-LABEL: func.func @no_sink_different_moves(
// CHECK-NEXT: %a = batch.move_axis %x from 0 to 2 : (tensor<4x3x2xf32>) -> tensor<3x2x4xf32>
// CHECK-NEXT: %b = stablehlo.transpose %y, dims = [0, 2, 1] : (tensor<3x4x2xf32>) -> tensor<3x2x4xf32>
// CHECK-NEXT: %s = stablehlo.add %a, %b : tensor<3x2x4xf32>
// CHECK-NEXT: func.return %s : tensor<3x2x4xf32>
func.func @no_sink_different_moves(%x: tensor<4x3x2xf32>, %y: tensor<3x4x2xf32>) -> tensor<3x2x4xf32> {
  %a = batch.move_axis %x from 0 to 2 : (tensor<4x3x2xf32>) -> tensor<3x2x4xf32>
  %b = stablehlo.transpose %y, dims = [0, 2, 1] : (tensor<3x4x2xf32>) -> tensor<3x2x4xf32>
  %s = stablehlo.add %a, %b : tensor<3x2x4xf32>
  func.return %s : tensor<3x2x4xf32>
}

// -----

// A move of an op whose operand is moved the other way: the move goes onto the other
// operand (2 transposes -> 1).
// CHECK-LABEL: func.func @pull_move_up(
// CHECK-NEXT: %e = stablehlo.exponential %x : tensor<4x5xf32>
// CHECK-NEXT: %r = batch.move_axis %e from 0 to 1 : (tensor<4x5xf32>) -> tensor<5x4xf32>
// CHECK-NEXT: %r_1 = stablehlo.add %r, %y : tensor<5x4xf32>
// CHECK-NEXT: func.return %r_1 : tensor<5x4xf32>
func.func @pull_move_up(%x: tensor<4x5xf32>, %y: tensor<5x4xf32>) -> tensor<5x4xf32> {
  %e = stablehlo.exponential %x : tensor<4x5xf32>
  %t = batch.move_axis %y from 0 to 1 : (tensor<5x4xf32>) -> tensor<4x5xf32>
  %s = stablehlo.add %e, %t : tensor<4x5xf32>
  %r = batch.move_axis %s from 1 to 0 : (tensor<4x5xf32>) -> tensor<5x4xf32>
  func.return %r : tensor<5x4xf32>
}

// -----

// A transposed dot_general operand: the permutation goes into the dimension numbers.
// CHECK-LABEL: func.func @transpose_into_dot(
// CHECK-NEXT: %d = stablehlo.dot_general %a, %b, contracting_dims = [1] x [0] : (tensor<6x3x4xf32>, tensor<3x5xf32>) -> tensor<6x4x5xf32>
// CHECK-NEXT: func.return %d : tensor<6x4x5xf32>
func.func @transpose_into_dot(%a: tensor<6x3x4xf32>, %b: tensor<3x5xf32>) -> tensor<6x4x5xf32> {
  %t = stablehlo.transpose %a, dims = [0, 2, 1] : (tensor<6x3x4xf32>) -> tensor<6x4x3xf32>
  %d = stablehlo.dot_general %t, %b, contracting_dims = [2] x [0] : (tensor<6x4x3xf32>, tensor<3x5xf32>) -> tensor<6x4x5xf32>
  func.return %d : tensor<6x4x5xf32>
}

// -----

// Same for a batch axis moved in front of a batched contraction.
// CHECK-LABEL: func.func @move_into_batched_dot(
// CHECK-NEXT: %d = stablehlo.dot_general %a, %b, batching_dims = [1] x [0], contracting_dims = [2] x [1] : (tensor<4x6x3xf32>, tensor<6x3x5xf32>) -> tensor<6x4x5xf32>
// CHECK-NEXT: func.return %d : tensor<6x4x5xf32>
func.func @move_into_batched_dot(%a: tensor<4x6x3xf32>, %b: tensor<6x3x5xf32>) -> tensor<6x4x5xf32> {
  %m = batch.move_axis %a from 1 to 0 : (tensor<4x6x3xf32>) -> tensor<6x4x3xf32>
  %d = stablehlo.dot_general %m, %b, batching_dims = [0] x [0], contracting_dims = [2] x [1] : (tensor<6x4x3xf32>, tensor<6x3x5xf32>) -> tensor<6x4x5xf32>
  func.return %d : tensor<6x4x5xf32>
}

// -----

// Folding would reorder the free dims, so the result layout: left alone.
// CHECK-LABEL: func.func @transpose_into_dot_would_reorder(
// CHECK-NEXT: %t = stablehlo.transpose %a, dims = [2, 1, 0] : (tensor<3x4x6xf32>) -> tensor<6x4x3xf32>
// CHECK-NEXT: %d = stablehlo.dot_general %t, %b, contracting_dims = [2] x [0] : (tensor<6x4x3xf32>, tensor<3x5xf32>) -> tensor<6x4x5xf32>
// CHECK-NEXT: func.return %d : tensor<6x4x5xf32>
func.func @transpose_into_dot_would_reorder(%a: tensor<3x4x6xf32>, %b: tensor<3x5xf32>) -> tensor<6x4x5xf32> {
  %t = stablehlo.transpose %a, dims = [2, 1, 0] : (tensor<3x4x6xf32>) -> tensor<6x4x3xf32>
  %d = stablehlo.dot_general %t, %b, contracting_dims = [2] x [0] : (tensor<6x4x3xf32>, tensor<3x5xf32>) -> tensor<6x4x5xf32>
  func.return %d : tensor<6x4x5xf32>
}

// -----

// A move of a dot_general's result: the operands (and their precisions) swapped.
// CHECK-LABEL: func.func @move_of_dot(
// CHECK-NEXT: %m = stablehlo.dot_general %x, %w, contracting_dims = [1] x [1], precision = [DEFAULT, HIGH] : (tensor<5x4xf32>, tensor<3x4xf32>) -> tensor<5x3xf32>
// CHECK-NEXT: func.return %m : tensor<5x3xf32>
func.func @move_of_dot(%w: tensor<3x4xf32>, %x: tensor<5x4xf32>) -> tensor<5x3xf32> {
  %d = stablehlo.dot_general %w, %x, contracting_dims = [1] x [1], precision = [HIGH, DEFAULT] : (tensor<3x4xf32>, tensor<5x4xf32>) -> tensor<3x5xf32>
  %m = batch.move_axis %d from 1 to 0 : (tensor<3x5xf32>) -> tensor<5x3xf32>
  func.return %m : tensor<5x3xf32>
}

// -----

// Not when the swap would make the lhs contract along its major dim (A^T B, slow in
// XLA's CPU GEMMs): the move stays after the add, where XLA fuses it (MLP's last layer).
// CHECK-LABEL: func.func @move_of_dot_kept(
// CHECK-NEXT: %d = stablehlo.dot_general %w, %h,
// CHECK-NEXT: %bb = stablehlo.broadcast_in_dim %b,
// CHECK-NEXT: %s = stablehlo.add %d, %bb
// CHECK-NEXT: %m = batch.move_axis %s from 1 to 0 : (tensor<3x5xf32>) -> tensor<5x3xf32>
// CHECK-NEXT: func.return %m : tensor<5x3xf32>
func.func @move_of_dot_kept(%w: tensor<3x4xf32>, %h: tensor<4x5xf32>, %b: tensor<3xf32>) -> tensor<5x3xf32> {
  %d = stablehlo.dot_general %w, %h, contracting_dims = [1] x [0] : (tensor<3x4xf32>, tensor<4x5xf32>) -> tensor<3x5xf32>
  %bb = stablehlo.broadcast_in_dim %b, dims = [0] : (tensor<3xf32>) -> tensor<3x5xf32>
  %s = stablehlo.add %d, %bb : tensor<3x5xf32>
  %m = batch.move_axis %s from 1 to 0 : (tensor<3x5xf32>) -> tensor<5x3xf32>
  func.return %m : tensor<5x3xf32>
}

// -----

// Folding would reorder the kept dims of the reduce: left alone.
// CHECK-LABEL: func.func @move_into_reduce_kept_order(
// CHECK-NEXT: %m = batch.move_axis %x from 0 to 2 : (tensor<4x3x2xf32>) -> tensor<3x2x4xf32>
// CHECK-NEXT: %z = stablehlo.constant dense<0.000000e+00> : tensor<f32>
// CHECK-NEXT: %r = stablehlo.reduce(%m init: %z) applies stablehlo.add across dimensions = [0] : (tensor<3x2x4xf32>, tensor<f32>) -> tensor<2x4xf32>
// CHECK-NEXT: func.return %r : tensor<2x4xf32>
func.func @move_into_reduce_kept_order(%x: tensor<4x3x2xf32>) -> tensor<2x4xf32> {
  %m = batch.move_axis %x from 0 to 2 : (tensor<4x3x2xf32>) -> tensor<3x2x4xf32>
  %z = stablehlo.constant dense<0.000000e+00> : tensor<f32>
  %r = stablehlo.reduce(%m init: %z) applies stablehlo.add across dimensions = [0] : (tensor<3x2x4xf32>, tensor<f32>) -> tensor<2x4xf32>
  func.return %r : tensor<2x4xf32>
}

// -----

// A moved reduce input: the reduce reads the unmoved input over the permuted dims.
// CHECK-LABEL: func.func @move_into_reduce_folded(
// CHECK-NEXT: %z = stablehlo.constant dense<0.000000e+00> : tensor<f32>
// CHECK-NEXT: %r = stablehlo.reduce(%x init: %z) applies stablehlo.add across dimensions = [1] : (tensor<4x3x2xf32>, tensor<f32>) -> tensor<4x2xf32>
// CHECK-NEXT: func.return %r : tensor<4x2xf32>
func.func @move_into_reduce_folded(%x: tensor<4x3x2xf32>) -> tensor<4x2xf32> {
  %m = batch.move_axis %x from 0 to 1 : (tensor<4x3x2xf32>) -> tensor<3x4x2xf32>
  %z = stablehlo.constant dense<0.000000e+00> : tensor<f32>
  %r = stablehlo.reduce(%m init: %z) applies stablehlo.add across dimensions = [0] : (tensor<3x4x2xf32>, tensor<f32>) -> tensor<4x2xf32>
  func.return %r : tensor<4x2xf32>
}

// -----

// Loop-invariant code motion: %cw is carried unchanged, so w @ w, the constants (3 in
// both cond and body: one) and the broadcast of 3.0 move before the loop.
// CHECK-LABEL: func.func @hoist_from_while(
// CHECK-NEXT: %zero = stablehlo.constant dense<0> : tensor<i32>
// CHECK-NEXT: %n = stablehlo.constant dense<3> : tensor<i32>
// CHECK-NEXT: %one = stablehlo.constant dense<1> : tensor<i32>
// CHECK-NEXT: %ww = stablehlo.dot_general %w, %w, contracting_dims = [1] x [0] : (tensor<3x3xf32>, tensor<3x3xf32>) -> tensor<3x3xf32>
// CHECK-NEXT: %k = stablehlo.convert %n : (tensor<i32>) -> tensor<f32>
// CHECK-NEXT: %kb = stablehlo.broadcast_in_dim %k, dims = [] : (tensor<f32>) -> tensor<5x3xf32>
// CHECK-NEXT: %r, %r_1, %r_2 = stablehlo.while(%i = %zero, %cw = %w, %c = %x) : tensor<i32>, tensor<3x3xf32>, tensor<5x3xf32>
// CHECK-NEXT: cond {
// CHECK-NEXT: %lt = stablehlo.compare LT, %i, %n : (tensor<i32>, tensor<i32>) -> tensor<i1>
// CHECK-NEXT: stablehlo.return %lt : tensor<i1>
// CHECK-NEXT: } do {
// CHECK-NEXT: %i1 = stablehlo.add %i, %one : tensor<i32>
// CHECK-NEXT: %y = stablehlo.dot_general %c, %ww, contracting_dims = [1] x [1] : (tensor<5x3xf32>, tensor<3x3xf32>) -> tensor<5x3xf32>
// CHECK-NEXT: %z = stablehlo.divide %y, %kb : tensor<5x3xf32>
// CHECK-NEXT: stablehlo.return %i1, %cw, %z : tensor<i32>, tensor<3x3xf32>, tensor<5x3xf32>
// CHECK-NEXT: }
// CHECK-NEXT: func.return %r_2 : tensor<5x3xf32>
func.func @hoist_from_while(%w: tensor<3x3xf32>, %x: tensor<5x3xf32>) -> tensor<5x3xf32> {
  %zero = stablehlo.constant dense<0> : tensor<i32>
  %r, %r_1, %r_2 = stablehlo.while(%i = %zero, %cw = %w, %c = %x) : tensor<i32>, tensor<3x3xf32>, tensor<5x3xf32>
  cond {
    %n = stablehlo.constant dense<3> : tensor<i32>
    %lt = stablehlo.compare LT, %i, %n : (tensor<i32>, tensor<i32>) -> tensor<i1>
    stablehlo.return %lt : tensor<i1>
  } do {
    %one = stablehlo.constant dense<1> : tensor<i32>
    %i1 = stablehlo.add %i, %one : tensor<i32>
    %ww = stablehlo.dot_general %cw, %cw, contracting_dims = [1] x [0] : (tensor<3x3xf32>, tensor<3x3xf32>) -> tensor<3x3xf32>
    %three = stablehlo.constant dense<3> : tensor<i32>
    %k = stablehlo.convert %three : (tensor<i32>) -> tensor<f32>
    %kb = stablehlo.broadcast_in_dim %k, dims = [] : (tensor<f32>) -> tensor<5x3xf32>
    %y = stablehlo.dot_general %c, %ww, contracting_dims = [1] x [1] : (tensor<5x3xf32>, tensor<3x3xf32>) -> tensor<5x3xf32>
    %z = stablehlo.divide %y, %kb : tensor<5x3xf32>
    stablehlo.return %i1, %cw, %z : tensor<i32>, tensor<3x3xf32>, tensor<5x3xf32>
  }
  func.return %r_2 : tensor<5x3xf32>
}

// -----

// Nested loops: the inner loop's invariants leave both loops; constants equal to ones
// already hoisted are reused.
// CHECK-LABEL: func.func @hoist_from_nested_while(
// CHECK-NEXT: %zero = stablehlo.constant dense<0> : tensor<i32>
// CHECK-NEXT: %n = stablehlo.constant dense<2> : tensor<i32>
// CHECK-NEXT: %one = stablehlo.constant dense<1> : tensor<i32>
// CHECK-NEXT: %e = stablehlo.exponential %w : tensor<3xf32>
// CHECK-NEXT: %r, %r_1 = stablehlo.while(%i = %zero, %c = %x) : tensor<i32>, tensor<3xf32>
// CHECK-NEXT: cond {
// CHECK-NEXT: %lt = stablehlo.compare LT, %i, %n : (tensor<i32>, tensor<i32>) -> tensor<i1>
// CHECK-NEXT: stablehlo.return %lt : tensor<i1>
// CHECK-NEXT: } do {
// CHECK-NEXT: %i1 = stablehlo.add %i, %one : tensor<i32>
// CHECK-NEXT: %s, %s_1 = stablehlo.while(%j = %zero, %d = %c) : tensor<i32>, tensor<3xf32>
// CHECK-NEXT: cond {
// CHECK-NEXT: %lt2 = stablehlo.compare LT, %j, %n : (tensor<i32>, tensor<i32>) -> tensor<i1>
// CHECK-NEXT: stablehlo.return %lt2 : tensor<i1>
// CHECK-NEXT: } do {
// CHECK-NEXT: %j1 = stablehlo.add %j, %one : tensor<i32>
// CHECK-NEXT: %d1 = stablehlo.add %d, %e : tensor<3xf32>
// CHECK-NEXT: stablehlo.return %j1, %d1 : tensor<i32>, tensor<3xf32>
// CHECK-NEXT: }
// CHECK-NEXT: stablehlo.return %i1, %s_1 : tensor<i32>, tensor<3xf32>
// CHECK-NEXT: }
// CHECK-NEXT: func.return %r_1 : tensor<3xf32>
func.func @hoist_from_nested_while(%w: tensor<3xf32>, %x: tensor<3xf32>) -> tensor<3xf32> {
  %zero = stablehlo.constant dense<0> : tensor<i32>
  %r, %r_1 = stablehlo.while(%i = %zero, %c = %x) : tensor<i32>, tensor<3xf32>
  cond {
    %n = stablehlo.constant dense<2> : tensor<i32>
    %lt = stablehlo.compare LT, %i, %n : (tensor<i32>, tensor<i32>) -> tensor<i1>
    stablehlo.return %lt : tensor<i1>
  } do {
    %one = stablehlo.constant dense<1> : tensor<i32>
    %i1 = stablehlo.add %i, %one : tensor<i32>
    %s, %s_1 = stablehlo.while(%j = %zero, %d = %c) : tensor<i32>, tensor<3xf32>
    cond {
      %m = stablehlo.constant dense<2> : tensor<i32>
      %lt2 = stablehlo.compare LT, %j, %m : (tensor<i32>, tensor<i32>) -> tensor<i1>
      stablehlo.return %lt2 : tensor<i1>
    } do {
      %one2 = stablehlo.constant dense<1> : tensor<i32>
      %j1 = stablehlo.add %j, %one2 : tensor<i32>
      %e = stablehlo.exponential %w : tensor<3xf32>
      %d1 = stablehlo.add %d, %e : tensor<3xf32>
      stablehlo.return %j1, %d1 : tensor<i32>, tensor<3xf32>
    }
    stablehlo.return %i1, %s_1 : tensor<i32>, tensor<3xf32>
  }
  func.return %r_1 : tensor<3xf32>
}

// -----

// Ops reading loop values, rng (not pure) and custom_call (unknown effects) stay in the
// loop.
// CHECK-LABEL: func.func @not_hoisted(
// CHECK-NEXT: %zero = stablehlo.constant dense<0> : tensor<i32>
// CHECK-NEXT: %shape = stablehlo.constant dense<3> : tensor<1xi64>
// CHECK-NEXT: %one = stablehlo.constant dense<1> : tensor<i32>
// CHECK-NEXT: %r, %r_1 = stablehlo.while(%i = %zero, %c = %x) : tensor<i32>, tensor<3xf32>
// CHECK-NEXT: cond {
// CHECK-NEXT: %lt = stablehlo.compare LT, %i, %zero : (tensor<i32>, tensor<i32>) -> tensor<i1>
// CHECK-NEXT: stablehlo.return %lt : tensor<i1>
// CHECK-NEXT: } do {
// CHECK-NEXT: %i1 = stablehlo.add %i, %one : tensor<i32>
// CHECK-NEXT: %u = "stablehlo.rng"(%lo, %hi, %shape) <{rng_distribution = #stablehlo<rng_distribution UNIFORM>}> : (tensor<f32>, tensor<f32>, tensor<1xi64>) -> tensor<3xf32>
// CHECK-NEXT: %v = "stablehlo.custom_call"(%x) <{call_target_name = "foo"}> : (tensor<3xf32>) -> tensor<3xf32>
// CHECK-NEXT: %s = stablehlo.sine %c : tensor<3xf32>
// CHECK-NEXT: %a = stablehlo.add %s, %u : tensor<3xf32>
// CHECK-NEXT: %b = stablehlo.add %a, %v : tensor<3xf32>
// CHECK-NEXT: stablehlo.return %i1, %b : tensor<i32>, tensor<3xf32>
// CHECK-NEXT: }
// CHECK-NEXT: func.return %r_1 : tensor<3xf32>
func.func @not_hoisted(%x: tensor<3xf32>, %lo: tensor<f32>, %hi: tensor<f32>) -> tensor<3xf32> {
  %zero = stablehlo.constant dense<0> : tensor<i32>
  %shape = stablehlo.constant dense<3> : tensor<1xi64>
  %r, %r_1 = stablehlo.while(%i = %zero, %c = %x) : tensor<i32>, tensor<3xf32>
  cond {
    %lt = stablehlo.compare LT, %i, %zero : (tensor<i32>, tensor<i32>) -> tensor<i1>
    stablehlo.return %lt : tensor<i1>
  } do {
    %one = stablehlo.constant dense<1> : tensor<i32>
    %i1 = stablehlo.add %i, %one : tensor<i32>
    %u = "stablehlo.rng"(%lo, %hi, %shape) <{rng_distribution = #stablehlo<rng_distribution UNIFORM>}> : (tensor<f32>, tensor<f32>, tensor<1xi64>) -> tensor<3xf32>
    %v = "stablehlo.custom_call"(%x) <{call_target_name = "foo"}> : (tensor<3xf32>) -> tensor<3xf32>
    %s = stablehlo.sine %c : tensor<3xf32>
    %a = stablehlo.add %s, %u : tensor<3xf32>
    %b = stablehlo.add %a, %v : tensor<3xf32>
    stablehlo.return %i1, %b : tensor<i32>, tensor<3xf32>
  }
  func.return %r_1 : tensor<3xf32>
}

// -----

// Large cheap invariant ops stay in the loop (recomputing `k * a` fuses; hoisted, it is
// one more 2048-element buffer read every iteration) unless an op worth hoisting reads
// them: `exp(k * a)` leaves with its multiply, and a small multiply leaves on its own.
// CHECK-LABEL: func.func @hoist_only_what_pays(
// CHECK-NEXT: %z = stablehlo.constant
// CHECK-NEXT: %k = stablehlo.constant dense<2.000000e+00> : tensor<2048xf32>
// CHECK-NEXT: %ka2 = stablehlo.multiply %k, %a : tensor<2048xf32>
// CHECK-NEXT: %e = stablehlo.exponential %ka2 : tensor<2048xf32>
// CHECK-NEXT: %s2 = stablehlo.multiply %s, %s : tensor<4xf32>
// CHECK-NEXT: %r, %t = stablehlo.while(%c = %a, %u = %s) : tensor<2048xf32>, tensor<4xf32>
// CHECK: } do {
// CHECK-NEXT: %ka = stablehlo.multiply %k, %a : tensor<2048xf32>
// CHECK-NEXT: %n = stablehlo.add %c, %ka : tensor<2048xf32>
// CHECK-NEXT: %m = stablehlo.add %n, %e : tensor<2048xf32>
// CHECK-NEXT: stablehlo.return %m, %s2 : tensor<2048xf32>, tensor<4xf32>
// CHECK: func.return %r, %t : tensor<2048xf32>, tensor<4xf32>
func.func @hoist_only_what_pays(%a: tensor<2048xf32>, %s: tensor<4xf32>) -> (tensor<2048xf32>, tensor<4xf32>) {
  %r, %t = stablehlo.while(%c = %a, %u = %s) : tensor<2048xf32>, tensor<4xf32>
  cond {
    %z = stablehlo.constant dense<0.000000e+00> : tensor<f32>
    %c0 = stablehlo.slice %c [0:1] : (tensor<2048xf32>) -> tensor<1xf32>
    %c1 = stablehlo.reshape %c0 : (tensor<1xf32>) -> tensor<f32>
    %lt = stablehlo.compare LT, %c1, %z : (tensor<f32>, tensor<f32>) -> tensor<i1>
    stablehlo.return %lt : tensor<i1>
  } do {
    %k = stablehlo.constant dense<2.000000e+00> : tensor<2048xf32>
    %ka = stablehlo.multiply %k, %a : tensor<2048xf32>
    %n = stablehlo.add %c, %ka : tensor<2048xf32>
    %ka2 = stablehlo.multiply %k, %a : tensor<2048xf32>
    %e = stablehlo.exponential %ka2 : tensor<2048xf32>
    %m = stablehlo.add %n, %e : tensor<2048xf32>
    %s2 = stablehlo.multiply %s, %s : tensor<4xf32>
    stablehlo.return %m, %s2 : tensor<2048xf32>, tensor<4xf32>
  }
  func.return %r, %t : tensor<2048xf32>, tensor<4xf32>
}
