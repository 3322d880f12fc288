// RUN: vmlir-opt %s -p "batch-fuse{algebraic=true}" --split-input-file | filecheck %s
// RUN: vmlir-opt %s -p batch-fuse --split-input-file | filecheck %s --check-prefix=EXACT

// batch-fuse's algebraic rewrite (vmlir.compile(fn, fast_math=True)): a sum over F of
// (X - Y)^2 between two broadcast operands becomes one GEMM. Without the option (second
// RUN) the exact form is kept. docs/passes.md says how the rounding changes.

// The shape vmap(vmap(rbf)) vectorizes to (seed rbf_gram): X broadcast along the new m
// axis, Y along the new n axis, sum over F of the squared difference. With
// algebraic=true: |x|^2 + |y|^2 - 2 x.y with one dot_general (HIGHEST precision), clamped
// at 0.
// CHECK-LABEL: func.func @rbf_gram(
// CHECK-NEXT: %z = stablehlo.constant dense<0.000000e+00> : tensor<f32>
// CHECK-NEXT: %r = stablehlo.dot_general %x, %y, contracting_dims = [1] x [1], precision = [HIGHEST, HIGHEST] : (tensor<3x4xf32>, tensor<5x4xf32>) -> tensor<3x5xf32>
// CHECK-NEXT: %r_1 = stablehlo.multiply %x, %x : tensor<3x4xf32>
// CHECK-NEXT: %r_2 = stablehlo.reduce(%r_1 init: %z) applies stablehlo.add across dimensions = [1] : (tensor<3x4xf32>, tensor<f32>) -> tensor<3xf32>
// CHECK-NEXT: %r_3 = stablehlo.broadcast_in_dim %r_2, dims = [0] : (tensor<3xf32>) -> tensor<3x5xf32>
// CHECK-NEXT: %r_4 = stablehlo.multiply %y, %y : tensor<5x4xf32>
// CHECK-NEXT: %r_5 = stablehlo.reduce(%r_4 init: %z) applies stablehlo.add across dimensions = [1] : (tensor<5x4xf32>, tensor<f32>) -> tensor<5xf32>
// CHECK-NEXT: %r_6 = stablehlo.broadcast_in_dim %r_5, dims = [1] : (tensor<5xf32>) -> tensor<3x5xf32>
// CHECK-NEXT: %r_7 = stablehlo.add %r_3, %r_6 : tensor<3x5xf32>
// CHECK-NEXT: %r_8 = stablehlo.constant dense<2.000000e+00> : tensor<3x5xf32>
// CHECK-NEXT: %r_9 = stablehlo.multiply %r_8, %r : tensor<3x5xf32>
// CHECK-NEXT: %r_10 = stablehlo.subtract %r_7, %r_9 : tensor<3x5xf32>
// CHECK-NEXT: %r_11 = stablehlo.constant dense<0.000000e+00> : tensor<3x5xf32>
// CHECK-NEXT: %r_12 = stablehlo.maximum %r_10, %r_11 : tensor<3x5xf32>
// CHECK-NEXT: func.return %r_12 : tensor<3x5xf32>
// EXACT-LABEL: func.func @rbf_gram(
// EXACT-NEXT: %a = batch.broadcast %x axis 1 size 5 : (tensor<3x4xf32>) -> tensor<3x5x4xf32>
// EXACT-NEXT: %b = batch.broadcast %y axis 0 size 3 : (tensor<5x4xf32>) -> tensor<3x5x4xf32>
// EXACT-NEXT: %d = stablehlo.subtract %a, %b : tensor<3x5x4xf32>
// EXACT-NEXT: %s = stablehlo.multiply %d, %d : tensor<3x5x4xf32>
// EXACT-NEXT: %z = stablehlo.constant dense<0.000000e+00> : tensor<f32>
// EXACT-NEXT: %r = stablehlo.reduce(%s init: %z) applies stablehlo.add across dimensions = [2] : (tensor<3x5x4xf32>, tensor<f32>) -> tensor<3x5xf32>
// EXACT-NEXT: func.return %r : tensor<3x5xf32>
func.func @rbf_gram(%x: tensor<3x4xf32>, %y: tensor<5x4xf32>) -> tensor<3x5xf32> {
  %a = batch.broadcast %x axis 1 size 5 : (tensor<3x4xf32>) -> tensor<3x5x4xf32>
  %b = batch.broadcast %y axis 0 size 3 : (tensor<5x4xf32>) -> tensor<3x5x4xf32>
  %d = stablehlo.subtract %a, %b : tensor<3x5x4xf32>
  %s = stablehlo.multiply %d, %d : tensor<3x5x4xf32>
  %z = stablehlo.constant dense<0.000000e+00> : tensor<f32>
  %r = stablehlo.reduce(%s init: %z) applies stablehlo.add across dimensions = [2] : (tensor<3x5x4xf32>, tensor<f32>) -> tensor<3x5xf32>
  func.return %r : tensor<3x5xf32>
}

// -----

// Y - X, the outer map over Y (seed covariance_matrix's layout), f64, an add body with
// its arguments swapped: the dot takes Y as lhs so its result is already in the reduce's
// m x n layout.
// CHECK-LABEL: func.func @y_minus_x_other_batch_order(
// CHECK-NEXT: %z = stablehlo.constant dense<0.000000e+00> : tensor<f64>
// CHECK-NEXT: %r = stablehlo.dot_general %y, %x, contracting_dims = [1] x [1], precision = [HIGHEST, HIGHEST] : (tensor<6x4xf64>, tensor<3x4xf64>) -> tensor<6x3xf64>
// CHECK-NEXT: %r_1 = stablehlo.multiply %y, %y : tensor<6x4xf64>
// CHECK-NEXT: %r_2 = stablehlo.reduce(%r_1 init: %z) across dimensions = [1] : (tensor<6x4xf64>, tensor<f64>) -> tensor<6xf64>
// CHECK-NEXT: reducer(%p: tensor<f64>, %q: tensor<f64>)  {
// CHECK-NEXT: %t = stablehlo.add %q, %p : tensor<f64>
// CHECK-NEXT: stablehlo.return %t : tensor<f64>
// CHECK-NEXT: }
// CHECK-NEXT: %r_3 = stablehlo.broadcast_in_dim %r_2, dims = [0] : (tensor<6xf64>) -> tensor<6x3xf64>
// CHECK-NEXT: %r_4 = stablehlo.multiply %x, %x : tensor<3x4xf64>
// CHECK-NEXT: %r_5 = stablehlo.reduce(%r_4 init: %z) across dimensions = [1] : (tensor<3x4xf64>, tensor<f64>) -> tensor<3xf64>
// CHECK-NEXT: reducer(%p_1: tensor<f64>, %q_1: tensor<f64>)  {
// CHECK-NEXT: %t_1 = stablehlo.add %q_1, %p_1 : tensor<f64>
// CHECK-NEXT: stablehlo.return %t_1 : tensor<f64>
// CHECK-NEXT: }
// CHECK-NEXT: %r_6 = stablehlo.broadcast_in_dim %r_5, dims = [1] : (tensor<3xf64>) -> tensor<6x3xf64>
// CHECK-NEXT: %r_7 = stablehlo.add %r_3, %r_6 : tensor<6x3xf64>
// CHECK-NEXT: %r_8 = stablehlo.constant dense<2.000000e+00> : tensor<6x3xf64>
// CHECK-NEXT: %r_9 = stablehlo.multiply %r_8, %r : tensor<6x3xf64>
// CHECK-NEXT: %r_10 = stablehlo.subtract %r_7, %r_9 : tensor<6x3xf64>
// CHECK-NEXT: %r_11 = stablehlo.constant dense<0.000000e+00> : tensor<6x3xf64>
// CHECK-NEXT: %r_12 = stablehlo.maximum %r_10, %r_11 : tensor<6x3xf64>
// CHECK-NEXT: func.return %r_12 : tensor<6x3xf64>
// EXACT-LABEL: func.func @y_minus_x_other_batch_order(
// EXACT-NEXT: %b = batch.broadcast %y axis 1 size 3 : (tensor<6x4xf64>) -> tensor<6x3x4xf64>
// EXACT-NEXT: %a = batch.broadcast %x axis 0 size 6 : (tensor<3x4xf64>) -> tensor<6x3x4xf64>
// EXACT-NEXT: %d = stablehlo.subtract %b, %a : tensor<6x3x4xf64>
// EXACT-NEXT: %s = stablehlo.multiply %d, %d : tensor<6x3x4xf64>
// EXACT-NEXT: %z = stablehlo.constant dense<0.000000e+00> : tensor<f64>
// EXACT-NEXT: %r = stablehlo.reduce(%s init: %z) across dimensions = [2] : (tensor<6x3x4xf64>, tensor<f64>) -> tensor<6x3xf64>
// EXACT-NEXT: reducer(%p: tensor<f64>, %q: tensor<f64>)  {
// EXACT-NEXT: %t = stablehlo.add %q, %p : tensor<f64>
// EXACT-NEXT: stablehlo.return %t : tensor<f64>
// EXACT-NEXT: }
// EXACT-NEXT: func.return %r : tensor<6x3xf64>
func.func @y_minus_x_other_batch_order(%x: tensor<3x4xf64>, %y: tensor<6x4xf64>) -> tensor<6x3xf64> {
  %b = batch.broadcast %y axis 1 size 3 : (tensor<6x4xf64>) -> tensor<6x3x4xf64>
  %a = batch.broadcast %x axis 0 size 6 : (tensor<3x4xf64>) -> tensor<6x3x4xf64>
  %d = stablehlo.subtract %b, %a : tensor<6x3x4xf64>
  %s = stablehlo.multiply %d, %d : tensor<6x3x4xf64>
  %z = stablehlo.constant dense<0.000000e+00> : tensor<f64>
  %r = stablehlo.reduce(%s init: %z) across dimensions = [2] : (tensor<6x3x4xf64>, tensor<f64>) -> tensor<6x3xf64>
   reducer(%p: tensor<f64>, %q: tensor<f64>)  {
    %t = stablehlo.add %q, %p : tensor<f64>
    stablehlo.return %t : tensor<f64>
  }
  func.return %r : tensor<6x3xf64>
}

// -----

// (x - y) ** 2.0 is stablehlo.power with a (broadcast) splat 2.0: same rewrite.
// CHECK-LABEL: func.func @power_of_two(
// CHECK-NEXT: %z = stablehlo.constant dense<0.000000e+00> : tensor<f32>
// CHECK-NEXT: %r = stablehlo.dot_general %x, %y, contracting_dims = [1] x [1], precision = [HIGHEST, HIGHEST] : (tensor<3x4xf32>, tensor<5x4xf32>) -> tensor<3x5xf32>
// CHECK-NEXT: %r_1 = stablehlo.multiply %x, %x : tensor<3x4xf32>
// CHECK-NEXT: %r_2 = stablehlo.reduce(%r_1 init: %z) applies stablehlo.add across dimensions = [1] : (tensor<3x4xf32>, tensor<f32>) -> tensor<3xf32>
// CHECK-NEXT: %r_3 = stablehlo.broadcast_in_dim %r_2, dims = [0] : (tensor<3xf32>) -> tensor<3x5xf32>
// CHECK-NEXT: %r_4 = stablehlo.multiply %y, %y : tensor<5x4xf32>
// CHECK-NEXT: %r_5 = stablehlo.reduce(%r_4 init: %z) applies stablehlo.add across dimensions = [1] : (tensor<5x4xf32>, tensor<f32>) -> tensor<5xf32>
// CHECK-NEXT: %r_6 = stablehlo.broadcast_in_dim %r_5, dims = [1] : (tensor<5xf32>) -> tensor<3x5xf32>
// CHECK-NEXT: %r_7 = stablehlo.add %r_3, %r_6 : tensor<3x5xf32>
// CHECK-NEXT: %r_8 = stablehlo.constant dense<2.000000e+00> : tensor<3x5xf32>
// CHECK-NEXT: %r_9 = stablehlo.multiply %r_8, %r : tensor<3x5xf32>
// CHECK-NEXT: %r_10 = stablehlo.subtract %r_7, %r_9 : tensor<3x5xf32>
// CHECK-NEXT: %r_11 = stablehlo.constant dense<0.000000e+00> : tensor<3x5xf32>
// CHECK-NEXT: %r_12 = stablehlo.maximum %r_10, %r_11 : tensor<3x5xf32>
// CHECK-NEXT: func.return %r_12 : tensor<3x5xf32>
// EXACT-LABEL: func.func @power_of_two(
// EXACT-NEXT: %a = batch.broadcast %x axis 1 size 5 : (tensor<3x4xf32>) -> tensor<3x5x4xf32>
// EXACT-NEXT: %b = batch.broadcast %y axis 0 size 3 : (tensor<5x4xf32>) -> tensor<3x5x4xf32>
// EXACT-NEXT: %d = stablehlo.subtract %a, %b : tensor<3x5x4xf32>
// EXACT-NEXT: %c = stablehlo.constant dense<2.000000e+00> : tensor<f32>
// EXACT-NEXT: %cbbb = stablehlo.broadcast_in_dim %c, dims = [] : (tensor<f32>) -> tensor<3x5x4xf32>
// EXACT-NEXT: %s = stablehlo.power %d, %cbbb : tensor<3x5x4xf32>
// EXACT-NEXT: %z = stablehlo.constant dense<0.000000e+00> : tensor<f32>
// EXACT-NEXT: %r = stablehlo.reduce(%s init: %z) applies stablehlo.add across dimensions = [2] : (tensor<3x5x4xf32>, tensor<f32>) -> tensor<3x5xf32>
// EXACT-NEXT: func.return %r : tensor<3x5xf32>
func.func @power_of_two(%x: tensor<3x4xf32>, %y: tensor<5x4xf32>) -> tensor<3x5xf32> {
  %a = batch.broadcast %x axis 1 size 5 : (tensor<3x4xf32>) -> tensor<3x5x4xf32>
  %b = batch.broadcast %y axis 0 size 3 : (tensor<5x4xf32>) -> tensor<3x5x4xf32>
  %d = stablehlo.subtract %a, %b : tensor<3x5x4xf32>
  %c = stablehlo.constant dense<2.000000e+00> : tensor<f32>
  %cb = stablehlo.broadcast_in_dim %c, dims = [] : (tensor<f32>) -> tensor<4xf32>
  %cbb = batch.broadcast %cb axis 0 size 5 : (tensor<4xf32>) -> tensor<5x4xf32>
  %cbbb = batch.broadcast %cbb axis 0 size 3 : (tensor<5x4xf32>) -> tensor<3x5x4xf32>
  %s = stablehlo.power %d, %cbbb : tensor<3x5x4xf32>
  %z = stablehlo.constant dense<0.000000e+00> : tensor<f32>
  %r = stablehlo.reduce(%s init: %z) applies stablehlo.add across dimensions = [2] : (tensor<3x5x4xf32>, tensor<f32>) -> tensor<3x5xf32>
  func.return %r : tensor<3x5xf32>
}

// -----

// jnp.square is chlo.square: same rewrite.
// CHECK-LABEL: func.func @chlo_square(
// CHECK-NEXT: %z = stablehlo.constant dense<0.000000e+00> : tensor<f32>
// CHECK-NEXT: %r = stablehlo.dot_general %x, %y, contracting_dims = [1] x [1], precision = [HIGHEST, HIGHEST] : (tensor<3x4xf32>, tensor<5x4xf32>) -> tensor<3x5xf32>
// CHECK-NEXT: %r_1 = stablehlo.multiply %x, %x : tensor<3x4xf32>
// CHECK-NEXT: %r_2 = stablehlo.reduce(%r_1 init: %z) applies stablehlo.add across dimensions = [1] : (tensor<3x4xf32>, tensor<f32>) -> tensor<3xf32>
// CHECK-NEXT: %r_3 = stablehlo.broadcast_in_dim %r_2, dims = [0] : (tensor<3xf32>) -> tensor<3x5xf32>
// CHECK-NEXT: %r_4 = stablehlo.multiply %y, %y : tensor<5x4xf32>
// CHECK-NEXT: %r_5 = stablehlo.reduce(%r_4 init: %z) applies stablehlo.add across dimensions = [1] : (tensor<5x4xf32>, tensor<f32>) -> tensor<5xf32>
// CHECK-NEXT: %r_6 = stablehlo.broadcast_in_dim %r_5, dims = [1] : (tensor<5xf32>) -> tensor<3x5xf32>
// CHECK-NEXT: %r_7 = stablehlo.add %r_3, %r_6 : tensor<3x5xf32>
// CHECK-NEXT: %r_8 = stablehlo.constant dense<2.000000e+00> : tensor<3x5xf32>
// CHECK-NEXT: %r_9 = stablehlo.multiply %r_8, %r : tensor<3x5xf32>
// CHECK-NEXT: %r_10 = stablehlo.subtract %r_7, %r_9 : tensor<3x5xf32>
// CHECK-NEXT: %r_11 = stablehlo.constant dense<0.000000e+00> : tensor<3x5xf32>
// CHECK-NEXT: %r_12 = stablehlo.maximum %r_10, %r_11 : tensor<3x5xf32>
// CHECK-NEXT: func.return %r_12 : tensor<3x5xf32>
// EXACT-LABEL: func.func @chlo_square(
// EXACT-NEXT: %a = batch.broadcast %x axis 1 size 5 : (tensor<3x4xf32>) -> tensor<3x5x4xf32>
// EXACT-NEXT: %b = batch.broadcast %y axis 0 size 3 : (tensor<5x4xf32>) -> tensor<3x5x4xf32>
// EXACT-NEXT: %d = stablehlo.subtract %a, %b : tensor<3x5x4xf32>
// EXACT-NEXT: %s = chlo.square %d : tensor<3x5x4xf32> -> tensor<3x5x4xf32>
// EXACT-NEXT: %z = stablehlo.constant dense<0.000000e+00> : tensor<f32>
// EXACT-NEXT: %r = stablehlo.reduce(%s init: %z) applies stablehlo.add across dimensions = [2] : (tensor<3x5x4xf32>, tensor<f32>) -> tensor<3x5xf32>
// EXACT-NEXT: func.return %r : tensor<3x5xf32>
func.func @chlo_square(%x: tensor<3x4xf32>, %y: tensor<5x4xf32>) -> tensor<3x5xf32> {
  %a = batch.broadcast %x axis 1 size 5 : (tensor<3x4xf32>) -> tensor<3x5x4xf32>
  %b = batch.broadcast %y axis 0 size 3 : (tensor<5x4xf32>) -> tensor<3x5x4xf32>
  %d = stablehlo.subtract %a, %b : tensor<3x5x4xf32>
  %s = chlo.square %d : tensor<3x5x4xf32> -> tensor<3x5x4xf32>
  %z = stablehlo.constant dense<0.000000e+00> : tensor<f32>
  %r = stablehlo.reduce(%s init: %z) applies stablehlo.add across dimensions = [2] : (tensor<3x5x4xf32>, tensor<f32>) -> tensor<3x5xf32>
  func.return %r : tensor<3x5xf32>
}

// -----

// Sets of points per batch element (X: n x b x F, Y: b x m x F) broadcast with
// broadcast_in_dim: b becomes a batching dim of the dot, whose b x n x m result (times 2)
// is transposed to the reduce's n x b x m layout.
// CHECK-LABEL: func.func @batched_sets_batch_axis_between(
// CHECK-NEXT: %z = stablehlo.constant dense<0.000000e+00> : tensor<f32>
// CHECK-NEXT: %r = stablehlo.dot_general %x, %y, batching_dims = [1] x [0], contracting_dims = [2] x [2], precision = [HIGHEST, HIGHEST] : (tensor<3x2x4xf32>, tensor<2x5x4xf32>) -> tensor<2x3x5xf32>
// CHECK-NEXT: %r_1 = stablehlo.multiply %x, %x : tensor<3x2x4xf32>
// CHECK-NEXT: %r_2 = stablehlo.reduce(%r_1 init: %z) applies stablehlo.add across dimensions = [2] : (tensor<3x2x4xf32>, tensor<f32>) -> tensor<3x2xf32>
// CHECK-NEXT: %r_3 = stablehlo.broadcast_in_dim %r_2, dims = [0, 1] : (tensor<3x2xf32>) -> tensor<3x2x5xf32>
// CHECK-NEXT: %r_4 = stablehlo.multiply %y, %y : tensor<2x5x4xf32>
// CHECK-NEXT: %r_5 = stablehlo.reduce(%r_4 init: %z) applies stablehlo.add across dimensions = [2] : (tensor<2x5x4xf32>, tensor<f32>) -> tensor<2x5xf32>
// CHECK-NEXT: %r_6 = stablehlo.broadcast_in_dim %r_5, dims = [1, 2] : (tensor<2x5xf32>) -> tensor<3x2x5xf32>
// CHECK-NEXT: %r_7 = stablehlo.add %r_3, %r_6 : tensor<3x2x5xf32>
// CHECK-NEXT: %r_8 = stablehlo.constant dense<2.000000e+00> : tensor<2x3x5xf32>
// CHECK-NEXT: %r_9 = stablehlo.multiply %r_8, %r : tensor<2x3x5xf32>
// CHECK-NEXT: %r_10 = stablehlo.transpose %r_9, dims = [1, 0, 2] : (tensor<2x3x5xf32>) -> tensor<3x2x5xf32>
// CHECK-NEXT: %r_11 = stablehlo.subtract %r_7, %r_10 : tensor<3x2x5xf32>
// CHECK-NEXT: %r_12 = stablehlo.constant dense<0.000000e+00> : tensor<3x2x5xf32>
// CHECK-NEXT: %r_13 = stablehlo.maximum %r_11, %r_12 : tensor<3x2x5xf32>
// CHECK-NEXT: func.return %r_13 : tensor<3x2x5xf32>
// EXACT-LABEL: func.func @batched_sets_batch_axis_between(
// EXACT-NEXT: %a = stablehlo.broadcast_in_dim %x, dims = [0, 1, 3] : (tensor<3x2x4xf32>) -> tensor<3x2x5x4xf32>
// EXACT-NEXT: %b = stablehlo.broadcast_in_dim %y, dims = [1, 2, 3] : (tensor<2x5x4xf32>) -> tensor<3x2x5x4xf32>
// EXACT-NEXT: %d = stablehlo.subtract %a, %b : tensor<3x2x5x4xf32>
// EXACT-NEXT: %s = stablehlo.multiply %d, %d : tensor<3x2x5x4xf32>
// EXACT-NEXT: %z = stablehlo.constant dense<0.000000e+00> : tensor<f32>
// EXACT-NEXT: %r = stablehlo.reduce(%s init: %z) applies stablehlo.add across dimensions = [3] : (tensor<3x2x5x4xf32>, tensor<f32>) -> tensor<3x2x5xf32>
// EXACT-NEXT: func.return %r : tensor<3x2x5xf32>
func.func @batched_sets_batch_axis_between(%x: tensor<3x2x4xf32>, %y: tensor<2x5x4xf32>) -> tensor<3x2x5xf32> {
  %a = stablehlo.broadcast_in_dim %x, dims = [0, 1, 3] : (tensor<3x2x4xf32>) -> tensor<3x2x5x4xf32>
  %b = stablehlo.broadcast_in_dim %y, dims = [1, 2, 3] : (tensor<2x5x4xf32>) -> tensor<3x2x5x4xf32>
  %d = stablehlo.subtract %a, %b : tensor<3x2x5x4xf32>
  %s = stablehlo.multiply %d, %d : tensor<3x2x5x4xf32>
  %z = stablehlo.constant dense<0.000000e+00> : tensor<f32>
  %r = stablehlo.reduce(%s init: %z) applies stablehlo.add across dimensions = [3] : (tensor<3x2x5x4xf32>, tensor<f32>) -> tensor<3x2x5xf32>
  func.return %r : tensor<3x2x5xf32>
}

// -----

// Left alone, also with algebraic=true: both operands broadcast along the same axis (no
// outer product); an operand that is no broadcast; the difference used elsewhere (the n x
// m x F tensor is needed anyway); a max reduction; integers.
// CHECK-LABEL: func.func @not_matched(
// CHECK-NEXT: %z = stablehlo.constant dense<0.000000e+00> : tensor<f32>
// CHECK-NEXT: %a = batch.broadcast %x axis 1 size 5 : (tensor<3x4xf32>) -> tensor<3x5x4xf32>
// CHECK-NEXT: %b = batch.broadcast %y axis 1 size 5 : (tensor<3x4xf32>) -> tensor<3x5x4xf32>
// CHECK-NEXT: %d = stablehlo.subtract %a, %b : tensor<3x5x4xf32>
// CHECK-NEXT: %s = stablehlo.multiply %d, %d : tensor<3x5x4xf32>
// CHECK-NEXT: %r1 = stablehlo.reduce(%s init: %z) applies stablehlo.add across dimensions = [2] : (tensor<3x5x4xf32>, tensor<f32>) -> tensor<3x5xf32>
// CHECK-NEXT: %vb = batch.broadcast %v axis 0 size 3 : (tensor<4xf32>) -> tensor<3x4xf32>
// CHECK-NEXT: %d2 = stablehlo.subtract %x, %vb : tensor<3x4xf32>
// CHECK-NEXT: %s2 = stablehlo.multiply %d2, %d2 : tensor<3x4xf32>
// CHECK-NEXT: %r2 = stablehlo.reduce(%s2 init: %z) applies stablehlo.add across dimensions = [1] : (tensor<3x4xf32>, tensor<f32>) -> tensor<3xf32>
// CHECK-NEXT: %wb = batch.broadcast %w axis 0 size 3 : (tensor<5x4xf32>) -> tensor<3x5x4xf32>
// CHECK-NEXT: %d3 = stablehlo.subtract %a, %wb : tensor<3x5x4xf32>
// CHECK-NEXT: %s3 = stablehlo.multiply %d3, %d3 : tensor<3x5x4xf32>
// CHECK-NEXT: %r3 = stablehlo.reduce(%s3 init: %z) applies stablehlo.add across dimensions = [2] : (tensor<3x5x4xf32>, tensor<f32>) -> tensor<3x5xf32>
// CHECK-NEXT: %r4 = stablehlo.reduce(%s3 init: %z) applies stablehlo.maximum across dimensions = [2] : (tensor<3x5x4xf32>, tensor<f32>) -> tensor<3x5xf32>
// CHECK-NEXT: %ib = batch.broadcast %i axis 1 size 5 : (tensor<3x4xi32>) -> tensor<3x5x4xi32>
// CHECK-NEXT: %jb = batch.broadcast %j axis 0 size 3 : (tensor<5x4xi32>) -> tensor<3x5x4xi32>
// CHECK-NEXT: %di = stablehlo.subtract %ib, %jb : tensor<3x5x4xi32>
// CHECK-NEXT: %si = stablehlo.multiply %di, %di : tensor<3x5x4xi32>
// CHECK-NEXT: %zi = stablehlo.constant dense<0> : tensor<i32>
// CHECK-NEXT: %ri = stablehlo.reduce(%si init: %zi) applies stablehlo.add across dimensions = [2] : (tensor<3x5x4xi32>, tensor<i32>) -> tensor<3x5xi32>
// CHECK-NEXT: func.return %r1, %r2, %r3, %d3, %r4, %ri : tensor<3x5xf32>, tensor<3xf32>, tensor<3x5xf32>, tensor<3x5x4xf32>, tensor<3x5xf32>, tensor<3x5xi32>
func.func @not_matched(%x: tensor<3x4xf32>, %y: tensor<3x4xf32>, %w: tensor<5x4xf32>, %v: tensor<4xf32>, %i: tensor<3x4xi32>, %j: tensor<5x4xi32>) -> (tensor<3x5xf32>, tensor<3xf32>, tensor<3x5xf32>, tensor<3x5x4xf32>, tensor<3x5xf32>, tensor<3x5xi32>) {
  %z = stablehlo.constant dense<0.000000e+00> : tensor<f32>
  %a = batch.broadcast %x axis 1 size 5 : (tensor<3x4xf32>) -> tensor<3x5x4xf32>
  %b = batch.broadcast %y axis 1 size 5 : (tensor<3x4xf32>) -> tensor<3x5x4xf32>
  %d = stablehlo.subtract %a, %b : tensor<3x5x4xf32>
  %s = stablehlo.multiply %d, %d : tensor<3x5x4xf32>
  %r1 = stablehlo.reduce(%s init: %z) applies stablehlo.add across dimensions = [2] : (tensor<3x5x4xf32>, tensor<f32>) -> tensor<3x5xf32>
  %vb = batch.broadcast %v axis 0 size 3 : (tensor<4xf32>) -> tensor<3x4xf32>
  %d2 = stablehlo.subtract %x, %vb : tensor<3x4xf32>
  %s2 = stablehlo.multiply %d2, %d2 : tensor<3x4xf32>
  %r2 = stablehlo.reduce(%s2 init: %z) applies stablehlo.add across dimensions = [1] : (tensor<3x4xf32>, tensor<f32>) -> tensor<3xf32>
  %wb = batch.broadcast %w axis 0 size 3 : (tensor<5x4xf32>) -> tensor<3x5x4xf32>
  %d3 = stablehlo.subtract %a, %wb : tensor<3x5x4xf32>
  %s3 = stablehlo.multiply %d3, %d3 : tensor<3x5x4xf32>
  %r3 = stablehlo.reduce(%s3 init: %z) applies stablehlo.add across dimensions = [2] : (tensor<3x5x4xf32>, tensor<f32>) -> tensor<3x5xf32>
  %r4 = stablehlo.reduce(%s3 init: %z) applies stablehlo.maximum across dimensions = [2] : (tensor<3x5x4xf32>, tensor<f32>) -> tensor<3x5xf32>
  %ib = batch.broadcast %i axis 1 size 5 : (tensor<3x4xi32>) -> tensor<3x5x4xi32>
  %jb = batch.broadcast %j axis 0 size 3 : (tensor<5x4xi32>) -> tensor<3x5x4xi32>
  %di = stablehlo.subtract %ib, %jb : tensor<3x5x4xi32>
  %si = stablehlo.multiply %di, %di : tensor<3x5x4xi32>
  %zi = stablehlo.constant dense<0> : tensor<i32>
  %ri = stablehlo.reduce(%si init: %zi) applies stablehlo.add across dimensions = [2] : (tensor<3x5x4xi32>, tensor<i32>) -> tensor<3x5xi32>
  func.return %r1, %r2, %r3, %d3, %r4, %ri : tensor<3x5xf32>, tensor<3xf32>, tensor<3x5xf32>, tensor<3x5x4xf32>, tensor<3x5xf32>, tensor<3x5xi32>
}
