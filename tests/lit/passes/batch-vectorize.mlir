// RUN: vmlir-opt %s -p batch-propagate-axes,batch-vectorize | filecheck %s

// batch-vectorize: every batch.vmap becomes batched ops; uniform ops stay unbatched; batch
// axes stay where they are unless an op needs them elsewhere; nested vmaps are inner-first.


// CHECK-LABEL: func.func @uniform_stays_uniform(
// CHECK-NEXT: %e = stablehlo.exponential %w : tensor<3xf32>
// CHECK-NEXT: %0 = batch.broadcast %e axis 0 size 4 : (tensor<3xf32>) -> tensor<4x3xf32>
// CHECK-NEXT: %r = stablehlo.add %x, %0 : tensor<4x3xf32>
// CHECK-NEXT: func.return %r : tensor<4x3xf32>
func.func @uniform_stays_uniform(%x: tensor<4x3xf32>, %w: tensor<3xf32>) -> tensor<4x3xf32> {
  %r = batch.vmap(%v = %x, %u = %w) in_axes [0, none] out_axes [0] size 4 : (tensor<4x3xf32>, tensor<3xf32>) -> tensor<4x3xf32> {
    %e = stablehlo.exponential %u : tensor<3xf32>
    %s = stablehlo.add %v, %e : tensor<3xf32>
    batch.yield %s : tensor<3xf32>
  }
  func.return %r : tensor<4x3xf32>
}

// CHECK-LABEL: func.func @keeps_axis_one(
// CHECK-NEXT: %r = stablehlo.multiply %x, %y : tensor<3x4xf32>
// CHECK-NEXT: func.return %r : tensor<3x4xf32>
func.func @keeps_axis_one(%x: tensor<3x4xf32>, %y: tensor<3x4xf32>) -> tensor<3x4xf32> {
  %r = batch.vmap(%v = %x, %u = %y) in_axes [1, 1] out_axes [1] size 4 : (tensor<3x4xf32>, tensor<3x4xf32>) -> tensor<3x4xf32> {
    %s = stablehlo.multiply %v, %u : tensor<3xf32>
    batch.yield %s : tensor<3xf32>
  }
  func.return %r : tensor<3x4xf32>
}

// W @ x with only x batched: the operands swap so the batch axis leads the result
// (X @ W^T, JAX's layout), and the precisions swap with them (next case).
// CHECK-LABEL: func.func @matvec_uniform_matrix(
// CHECK-NEXT: %r = stablehlo.dot_general %x, %w, contracting_dims = [1] x [1] : (tensor<4x3xf32>, tensor<5x3xf32>) -> tensor<4x5xf32>
// CHECK-NEXT: func.return %r : tensor<4x5xf32>
func.func @matvec_uniform_matrix(%w: tensor<5x3xf32>, %x: tensor<4x3xf32>) -> tensor<4x5xf32> {
  %r = batch.vmap(%m = %w, %v = %x) in_axes [none, 0] out_axes [0] size 4 : (tensor<5x3xf32>, tensor<4x3xf32>) -> tensor<4x5xf32> {
    %d = stablehlo.dot_general %m, %v, contracting_dims = [1] x [0] : (tensor<5x3xf32>, tensor<3xf32>) -> tensor<5xf32>
    batch.yield %d : tensor<5xf32>
  }
  func.return %r : tensor<4x5xf32>
}

// CHECK-LABEL: func.func @matvec_precision_swapped(
// CHECK-NEXT: %r = stablehlo.dot_general %x, %w, contracting_dims = [1] x [1], precision = [DEFAULT, HIGHEST] : (tensor<4x3xf32>, tensor<5x3xf32>) -> tensor<4x5xf32>
func.func @matvec_precision_swapped(%w: tensor<5x3xf32>, %x: tensor<4x3xf32>) -> tensor<4x5xf32> {
  %r = batch.vmap(%m = %w, %v = %x) in_axes [none, 0] out_axes [0] size 4 : (tensor<5x3xf32>, tensor<4x3xf32>) -> tensor<4x5xf32> {
    %d = stablehlo.dot_general %m, %v, contracting_dims = [1] x [0], precision = [HIGHEST, DEFAULT] : (tensor<5x3xf32>, tensor<3xf32>) -> tensor<5xf32>
    batch.yield %d : tensor<5xf32>
  }
  func.return %r : tensor<4x5xf32>
}

// W @ Y with only Y batched and Y keeping a free dim: no swap (it would reorder the
// per-example result dims); the batch axis sits between W's and Y's free dims.
// CHECK-LABEL: func.func @matmat_uniform_lhs(
// CHECK-NEXT: %0 = stablehlo.dot_general %w, %y, contracting_dims = [1] x [1] : (tensor<5x3xf32>, tensor<4x3x2xf32>) -> tensor<5x4x2xf32>
// CHECK-NEXT: %r = batch.move_axis %0 from 1 to 0 : (tensor<5x4x2xf32>) -> tensor<4x5x2xf32>
func.func @matmat_uniform_lhs(%w: tensor<5x3xf32>, %y: tensor<4x3x2xf32>) -> tensor<4x5x2xf32> {
  %r = batch.vmap(%m = %w, %v = %y) in_axes [none, 0] out_axes [0] size 4 : (tensor<5x3xf32>, tensor<4x3x2xf32>) -> tensor<4x5x2xf32> {
    %d = stablehlo.dot_general %m, %v, contracting_dims = [1] x [0] : (tensor<5x3xf32>, tensor<3x2xf32>) -> tensor<5x2xf32>
    batch.yield %d : tensor<5x2xf32>
  }
  func.return %r : tensor<4x5x2xf32>
}

// CHECK-LABEL: func.func @dot_both_batched(
// CHECK-NEXT: %r = stablehlo.dot_general %x, %y, batching_dims = [0] x [1], contracting_dims = [1] x [0] : (tensor<4x3xf32>, tensor<3x4xf32>) -> tensor<4xf32>
// CHECK-NEXT: func.return %r : tensor<4xf32>
func.func @dot_both_batched(%x: tensor<4x3xf32>, %y: tensor<3x4xf32>) -> tensor<4xf32> {
  %r = batch.vmap(%a = %x, %b = %y) in_axes [0, 1] out_axes [0] size 4 : (tensor<4x3xf32>, tensor<3x4xf32>) -> tensor<4xf32> {
    %d = stablehlo.dot_general %a, %b, contracting_dims = [0] x [0] : (tensor<3xf32>, tensor<3xf32>) -> tensor<f32>
    batch.yield %d : tensor<f32>
  }
  func.return %r : tensor<4xf32>
}

// CHECK-LABEL: func.func @reduce_shape_ops(
// CHECK-NEXT: %z = stablehlo.constant dense<0.000000e+00> : tensor<f32>
// CHECK-NEXT: %0 = stablehlo.reduce(%x init: %z) applies stablehlo.add across dimensions = [2] : (tensor<2x4x3xf32>, tensor<f32>) -> tensor<2x4xf32>
// CHECK-NEXT: %r = stablehlo.transpose %x, dims = [1, 2, 0] : (tensor<2x4x3xf32>) -> tensor<4x3x2xf32>
// CHECK-NEXT: %1 = batch.move_axis %x from 1 to 0 : (tensor<2x4x3xf32>) -> tensor<4x2x3xf32>
// CHECK-NEXT: %r_1 = stablehlo.reshape %1 : (tensor<4x2x3xf32>) -> tensor<4x6xf32>
// CHECK-NEXT: %2 = stablehlo.slice %x [1:2, 0:4, 0:3] : (tensor<2x4x3xf32>) -> tensor<1x4x3xf32>
// CHECK-NEXT: %r_2 = batch.move_axis %0 from 1 to 0 : (tensor<2x4xf32>) -> tensor<4x2xf32>
// CHECK-NEXT: %r_3 = batch.move_axis %2 from 1 to 0 : (tensor<1x4x3xf32>) -> tensor<4x1x3xf32>
// CHECK-NEXT: func.return %r_2, %r, %r_1, %r_3 : tensor<4x2xf32>, tensor<4x3x2xf32>, tensor<4x6xf32>, tensor<4x1x3xf32>
func.func @reduce_shape_ops(%x: tensor<2x4x3xf32>) -> (tensor<4x2xf32>, tensor<4x3x2xf32>, tensor<4x6xf32>, tensor<4x1x3xf32>) {
  %r, %r_1, %r_2, %r_3 = batch.vmap(%v = %x) in_axes [1] out_axes [0, 0, 0, 0] size 4 : (tensor<2x4x3xf32>) -> (tensor<4x2xf32>, tensor<4x3x2xf32>, tensor<4x6xf32>, tensor<4x1x3xf32>) {
    %z = stablehlo.constant dense<0.000000e+00> : tensor<f32>
    %s = stablehlo.reduce(%v init: %z) applies stablehlo.add across dimensions = [1] : (tensor<2x3xf32>, tensor<f32>) -> tensor<2xf32>
    %t = stablehlo.transpose %v, dims = [1, 0] : (tensor<2x3xf32>) -> tensor<3x2xf32>
    %f = stablehlo.reshape %v : (tensor<2x3xf32>) -> tensor<6xf32>
    %l = stablehlo.slice %v [1:2, 0:3] : (tensor<2x3xf32>) -> tensor<1x3xf32>
    batch.yield %s, %t, %f, %l : tensor<2xf32>, tensor<3x2xf32>, tensor<6xf32>, tensor<1x3xf32>
  }
  func.return %r, %r_1, %r_2, %r_3 : tensor<4x2xf32>, tensor<4x3x2xf32>, tensor<4x6xf32>, tensor<4x1x3xf32>
}

// CHECK-LABEL: func.func @broadcast_concat(
// CHECK-NEXT: %r = stablehlo.broadcast_in_dim %x, dims = [0, 2] : (tensor<4x3xf32>) -> tensor<4x2x3xf32>
// CHECK-NEXT: %0 = batch.broadcast %c axis 0 size 4 : (tensor<2xf32>) -> tensor<4x2xf32>
// CHECK-NEXT: %r_1 = stablehlo.concatenate %x, %0, dim = 1 : (tensor<4x3xf32>, tensor<4x2xf32>) -> tensor<4x5xf32>
// CHECK-NEXT: func.return %r, %r_1 : tensor<4x2x3xf32>, tensor<4x5xf32>
func.func @broadcast_concat(%x: tensor<4x3xf32>, %c: tensor<2xf32>) -> (tensor<4x2x3xf32>, tensor<4x5xf32>) {
  %r, %r_1 = batch.vmap(%v = %x, %u = %c) in_axes [0, none] out_axes [0, 0] size 4 : (tensor<4x3xf32>, tensor<2xf32>) -> (tensor<4x2x3xf32>, tensor<4x5xf32>) {
    %b = stablehlo.broadcast_in_dim %v, dims = [1] : (tensor<3xf32>) -> tensor<2x3xf32>
    %k = stablehlo.concatenate %v, %u, dim = 0 : (tensor<3xf32>, tensor<2xf32>) -> tensor<5xf32>
    batch.yield %b, %k : tensor<2x3xf32>, tensor<5xf32>
  }
  func.return %r, %r_1 : tensor<4x2x3xf32>, tensor<4x5xf32>
}

// CHECK-LABEL: func.func @select_scalar_pred(
// CHECK-NEXT: %0 = stablehlo.broadcast_in_dim %p, dims = [0] : (tensor<4xi1>) -> tensor<4x3xi1>
// CHECK-NEXT: %1 = batch.broadcast %y axis 0 size 4 : (tensor<3xf32>) -> tensor<4x3xf32>
// CHECK-NEXT: %r = stablehlo.select %0, %x, %1 : tensor<4x3xi1>, tensor<4x3xf32>
// CHECK-NEXT: func.return %r : tensor<4x3xf32>
func.func @select_scalar_pred(%p: tensor<4xi1>, %x: tensor<4x3xf32>, %y: tensor<3xf32>) -> tensor<4x3xf32> {
  %r = batch.vmap(%c = %p, %v = %x, %u = %y) in_axes [0, 0, none] out_axes [0] size 4 : (tensor<4xi1>, tensor<4x3xf32>, tensor<3xf32>) -> tensor<4x3xf32> {
    %s = stablehlo.select %c, %v, %u : tensor<i1>, tensor<3xf32>
    batch.yield %s : tensor<3xf32>
  }
  func.return %r : tensor<4x3xf32>
}

// CHECK-LABEL: func.func @uniform_output_batched(
// CHECK-NEXT: %z = stablehlo.constant dense<1.000000e+00> : tensor<3xf32>
// CHECK-NEXT: %r = batch.broadcast %z axis 1 size 4 : (tensor<3xf32>) -> tensor<3x4xf32>
// CHECK-NEXT: func.return %r : tensor<3x4xf32>
func.func @uniform_output_batched(%x: tensor<4x3xf32>) -> tensor<3x4xf32> {
  %r = batch.vmap(%v = %x) in_axes [0] out_axes [1] size 4 : (tensor<4x3xf32>) -> tensor<3x4xf32> {
    %z = stablehlo.constant dense<1.000000e+00> : tensor<3xf32>
    batch.yield %z : tensor<3xf32>
  }
  func.return %r : tensor<3x4xf32>
}

// CHECK-LABEL: func.func @dot_lhs_batched_axis1(
// CHECK-NEXT: %0 = stablehlo.dot_general %m, %v, contracting_dims = [2] x [0] : (tensor<5x4x3xf32>, tensor<3xf32>) -> tensor<5x4xf32>
// CHECK-NEXT: %r = batch.move_axis %0 from 1 to 0 : (tensor<5x4xf32>) -> tensor<4x5xf32>
// CHECK-NEXT: func.return %r : tensor<4x5xf32>
func.func @dot_lhs_batched_axis1(%m: tensor<5x4x3xf32>, %v: tensor<3xf32>) -> tensor<4x5xf32> {
  %r = batch.vmap(%a = %m, %b = %v) in_axes [1, none] out_axes [0] size 4 : (tensor<5x4x3xf32>, tensor<3xf32>) -> tensor<4x5xf32> {
    %d = stablehlo.dot_general %a, %b, contracting_dims = [1] x [0] : (tensor<5x3xf32>, tensor<3xf32>) -> tensor<5xf32>
    batch.yield %d : tensor<5xf32>
  }
  func.return %r : tensor<4x5xf32>
}

// CHECK-LABEL: func.func @nested_pairwise(
// CHECK-NEXT: %0 = batch.broadcast %x axis 1 size 6 : (tensor<5x3xf32>) -> tensor<5x6x3xf32>
// CHECK-NEXT: %1 = batch.broadcast %y axis 0 size 5 : (tensor<6x3xf32>) -> tensor<5x6x3xf32>
// CHECK-NEXT: %2 = stablehlo.subtract %0, %1 : tensor<5x6x3xf32>
// CHECK-NEXT: %r = stablehlo.dot_general %2, %2, batching_dims = [0, 1] x [0, 1], contracting_dims = [2] x [2] : (tensor<5x6x3xf32>, tensor<5x6x3xf32>) -> tensor<5x6xf32>
// CHECK-NEXT: func.return %r : tensor<5x6xf32>
func.func @nested_pairwise(%x: tensor<5x3xf32>, %y: tensor<6x3xf32>) -> tensor<5x6xf32> {
  %r = batch.vmap(%a = %x, %ys = %y) in_axes [0, none] out_axes [0] size 5 : (tensor<5x3xf32>, tensor<6x3xf32>) -> tensor<5x6xf32> {
    %i = batch.vmap(%p = %a, %q = %ys) in_axes [none, 0] out_axes [0] size 6 : (tensor<3xf32>, tensor<6x3xf32>) -> tensor<6xf32> {
      %s = stablehlo.subtract %p, %q : tensor<3xf32>
      %d = stablehlo.dot_general %s, %s, contracting_dims = [0] x [0] : (tensor<3xf32>, tensor<3xf32>) -> tensor<f32>
      batch.yield %d : tensor<f32>
    }
    batch.yield %i : tensor<6xf32>
  }
  func.return %r : tensor<5x6xf32>
}
