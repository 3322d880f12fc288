// RUN: vmlir-opt %s -p batch-mask-control-flow,batch-vectorize | filecheck %s

// Control flow after masking and vectorization: a uniform case keeps its branches
// (vectorized); a varying while loops on an or-reduction of the active lanes and keeps
// its uniform carry unbatched; the any-lane guard is a real branch around the GEMMs.


// CHECK-LABEL: func.func @uniform_cond_stays_a_branch(
// CHECK-NEXT: %z = stablehlo.constant dense<0.000000e+00> : tensor<f32>
// CHECK-NEXT: %c = stablehlo.compare GT, %p, %z, FLOAT : (tensor<f32>, tensor<f32>) -> tensor<i1>
// CHECK-NEXT: %i = stablehlo.convert %c : (tensor<i1>) -> tensor<i32>
// CHECK-NEXT: %r = "stablehlo.case"(%i) ({
// CHECK-NEXT: %0 = stablehlo.cosine %x : tensor<4x3xf32>
// CHECK-NEXT: stablehlo.return %0 : tensor<4x3xf32>
// CHECK-NEXT: }, {
// CHECK-NEXT: %1 = stablehlo.sine %x : tensor<4x3xf32>
// CHECK-NEXT: stablehlo.return %1 : tensor<4x3xf32>
// CHECK-NEXT: }) : (tensor<i32>) -> tensor<4x3xf32>
// CHECK-NEXT: func.return %r : tensor<4x3xf32>
func.func @uniform_cond_stays_a_branch(%p: tensor<f32>, %x: tensor<4x3xf32>) -> tensor<4x3xf32> {
  %r = batch.vmap(%q = %p, %v = %x) in_axes [none, 0] out_axes [0] size 4 : (tensor<f32>, tensor<4x3xf32>) -> tensor<4x3xf32> {
    %z = stablehlo.constant dense<0.000000e+00> : tensor<f32>
    %c = stablehlo.compare GT, %q, %z, FLOAT : (tensor<f32>, tensor<f32>) -> tensor<i1>
    %i = stablehlo.convert %c : (tensor<i1>) -> tensor<i32>
    %s = "stablehlo.case"(%i) ({
      %a = stablehlo.cosine %v : tensor<3xf32>
      stablehlo.return %a : tensor<3xf32>
    }, {
      %b = stablehlo.sine %v : tensor<3xf32>
      stablehlo.return %b : tensor<3xf32>
    }) : (tensor<i32>) -> tensor<3xf32>
    batch.yield %s : tensor<3xf32>
  }
  func.return %r : tensor<4x3xf32>
}


// CHECK-LABEL: func.func @varying_cond_is_linearized(
// CHECK-NEXT: %z = stablehlo.constant dense<0.000000e+00> : tensor<f32>
// CHECK-NEXT: %0 = batch.broadcast %z axis 0 size 4 : (tensor<f32>) -> tensor<4xf32>
// CHECK-NEXT: %1 = stablehlo.compare GT, %p, %0, FLOAT : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xi1>
// CHECK-NEXT: %2 = stablehlo.convert %1 : (tensor<4xi1>) -> tensor<4xi32>
// CHECK-NEXT: %3 = stablehlo.constant dense<0> : tensor<i32>
// CHECK-NEXT: %4 = batch.broadcast %3 axis 0 size 4 : (tensor<i32>) -> tensor<4xi32>
// CHECK-NEXT: %5 = stablehlo.compare EQ, %2, %4, SIGNED : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi1>
// CHECK-NEXT: %6 = stablehlo.not %5 : tensor<4xi1>
// CHECK-NEXT: %7 = stablehlo.cosine %x : tensor<4x3xf32>
// CHECK-NEXT: %8 = stablehlo.sine %x : tensor<4x3xf32>
// CHECK-NEXT: %9 = stablehlo.broadcast_in_dim %5, dims = [0] : (tensor<4xi1>) -> tensor<4x3xi1>
// CHECK-NEXT: %r = stablehlo.select %9, %7, %8 : tensor<4x3xi1>, tensor<4x3xf32>
// CHECK-NEXT: func.return %r : tensor<4x3xf32>
func.func @varying_cond_is_linearized(%p: tensor<4xf32>, %x: tensor<4x3xf32>) -> tensor<4x3xf32> {
  %r = batch.vmap(%q = %p, %v = %x) in_axes [0, 0] out_axes [0] size 4 : (tensor<4xf32>, tensor<4x3xf32>) -> tensor<4x3xf32> {
    %z = stablehlo.constant dense<0.000000e+00> : tensor<f32>
    %c = stablehlo.compare GT, %q, %z, FLOAT : (tensor<f32>, tensor<f32>) -> tensor<i1>
    %i = stablehlo.convert %c : (tensor<i1>) -> tensor<i32>
    %s = "stablehlo.case"(%i) ({
      %a = stablehlo.cosine %v : tensor<3xf32>
      stablehlo.return %a : tensor<3xf32>
    }, {
      %b = stablehlo.sine %v : tensor<3xf32>
      stablehlo.return %b : tensor<3xf32>
    }) : (tensor<i32>) -> tensor<3xf32>
    batch.yield %s : tensor<3xf32>
  }
  func.return %r : tensor<4x3xf32>
}


// The active flag is a batched carry (tensor<4xi1>): the cond only or-reduces it, the
// body masks with it and evaluates the predicate once, on the new carries.
// CHECK-LABEL: func.func @varying_while_loops_while_any_lane(
// CHECK-NEXT: %zero = stablehlo.constant dense<0> : tensor<i32>
// CHECK-NEXT: %one = stablehlo.constant dense<1.000000e+00> : tensor<f32>
// CHECK-NEXT: %0 = batch.broadcast %one axis 0 size 4 : (tensor<f32>) -> tensor<4xf32>
// CHECK-NEXT: %1 = stablehlo.compare GT, %x, %0, FLOAT : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xi1>
// CHECK-NEXT: %2 = batch.broadcast %zero axis 0 size 4 : (tensor<i32>) -> tensor<4xi32>
// CHECK-NEXT: %r, %r_1, %3, %4 = stablehlo.while(%5 = %x, %6 = %2, %7 = %k, %8 = %1) : tensor<4xf32>, tensor<4xi32>, tensor<f32>, tensor<4xi1> attributes {batch.strategy = "mask"}
// CHECK-NEXT: cond {
// CHECK-NEXT: %9 = stablehlo.constant dense<false> : tensor<i1>
// CHECK-NEXT: %10 = stablehlo.reduce(%8 init: %9) applies stablehlo.or across dimensions = [0] : (tensor<4xi1>, tensor<i1>) -> tensor<i1>
// CHECK-NEXT: stablehlo.return %10 : tensor<i1>
// CHECK-NEXT: } do {
// CHECK-NEXT: %11 = batch.broadcast %7 axis 0 size 4 : (tensor<f32>) -> tensor<4xf32>
// CHECK-NEXT: %12 = stablehlo.divide %5, %11 : tensor<4xf32>
// CHECK-NEXT: %one_1 = stablehlo.constant dense<1> : tensor<i32>
// CHECK-NEXT: %13 = batch.broadcast %one_1 axis 0 size 4 : (tensor<i32>) -> tensor<4xi32>
// CHECK-NEXT: %14 = stablehlo.add %6, %13 : tensor<4xi32>
// CHECK-NEXT: %15 = stablehlo.select %8, %12, %5 : tensor<4xi1>, tensor<4xf32>
// CHECK-NEXT: %16 = stablehlo.select %8, %14, %6 : tensor<4xi1>, tensor<4xi32>
// CHECK-NEXT: %one_2 = stablehlo.constant dense<1.000000e+00> : tensor<f32>
// CHECK-NEXT: %17 = batch.broadcast %one_2 axis 0 size 4 : (tensor<f32>) -> tensor<4xf32>
// CHECK-NEXT: %18 = stablehlo.compare GT, %15, %17, FLOAT : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xi1>
// CHECK-NEXT: stablehlo.return %15, %16, %7, %18 : tensor<4xf32>, tensor<4xi32>, tensor<f32>, tensor<4xi1>
// CHECK-NEXT: }
// CHECK-NEXT: func.return %r, %r_1 : tensor<4xf32>, tensor<4xi32>
func.func @varying_while_loops_while_any_lane(%x: tensor<4xf32>, %k: tensor<f32>) -> (tensor<4xf32>, tensor<4xi32>) {
  %r, %r_1 = batch.vmap(%v = %x, %kk = %k) in_axes [0, none] out_axes [0, 0] size 4 : (tensor<4xf32>, tensor<f32>) -> (tensor<4xf32>, tensor<4xi32>) {
    %zero = stablehlo.constant dense<0> : tensor<i32>
    %w, %w_1, %w_2 = stablehlo.while(%c = %v, %n = %zero, %kc = %kk) : tensor<f32>, tensor<i32>, tensor<f32>
    cond {
      %one = stablehlo.constant dense<1.000000e+00> : tensor<f32>
      %gt = stablehlo.compare GT, %c, %one, FLOAT : (tensor<f32>, tensor<f32>) -> tensor<i1>
      stablehlo.return %gt : tensor<i1>
    } do {
      %h = stablehlo.divide %c, %kc : tensor<f32>
      %one_1 = stablehlo.constant dense<1> : tensor<i32>
      %n1 = stablehlo.add %n, %one_1 : tensor<i32>
      stablehlo.return %h, %n1, %kc : tensor<f32>, tensor<i32>, tensor<f32>
    }
    batch.yield %w, %w_1 : tensor<f32>, tensor<i32>
  }
  func.return %r, %r_1 : tensor<4xf32>, tensor<4xi32>
}


// CHECK-LABEL: func.func @expensive_branch_is_guarded(
// CHECK-NEXT: %0 = stablehlo.convert %p : (tensor<4xi1>) -> tensor<4xi32>
// CHECK-NEXT: %1 = stablehlo.constant dense<0> : tensor<i32>
// CHECK-NEXT: %2 = batch.broadcast %1 axis 0 size 4 : (tensor<i32>) -> tensor<4xi32>
// CHECK-NEXT: %3 = stablehlo.compare EQ, %0, %2, SIGNED : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi1>
// CHECK-NEXT: %4 = stablehlo.not %3 : tensor<4xi1>
// CHECK-NEXT: %5 = stablehlo.constant dense<false> : tensor<i1>
// CHECK-NEXT: %6 = stablehlo.reduce(%4 init: %5) applies stablehlo.or across dimensions = [0] : (tensor<4xi1>, tensor<i1>) -> tensor<i1>
// CHECK-NEXT: %7 = stablehlo.convert %6 : (tensor<i1>) -> tensor<i32>
// CHECK-NEXT: %8 = "stablehlo.case"(%7) ({
// CHECK-NEXT: %9 = stablehlo.constant dense<0.000000e+00> : tensor<f32>
// CHECK-NEXT: %10 = stablehlo.broadcast_in_dim %9, dims = [] : (tensor<f32>) -> tensor<8xf32>
// CHECK-NEXT: %11 = batch.broadcast %10 axis 0 size 4 : (tensor<8xf32>) -> tensor<4x8xf32>
// CHECK-NEXT: stablehlo.return %11 : tensor<4x8xf32>
// CHECK-NEXT: }, {
// CHECK-NEXT: %12 = stablehlo.dot_general %x, %m, contracting_dims = [1] x [1] : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
// CHECK-NEXT: %13 = stablehlo.dot_general %12, %m, contracting_dims = [1] x [1] : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
// CHECK-NEXT: %14 = stablehlo.tanh %13 : tensor<4x8xf32>
// CHECK-NEXT: stablehlo.return %14 : tensor<4x8xf32>
// CHECK-NEXT: }) : (tensor<i32>) -> tensor<4x8xf32>
// CHECK-NEXT: %15 = stablehlo.broadcast_in_dim %3, dims = [0] : (tensor<4xi1>) -> tensor<4x8xi1>
// CHECK-NEXT: %r = stablehlo.select %15, %x, %8 : tensor<4x8xi1>, tensor<4x8xf32>
// CHECK-NEXT: func.return %r : tensor<4x8xf32>
func.func @expensive_branch_is_guarded(%p: tensor<4xi1>, %x: tensor<4x8xf32>, %m: tensor<8x8xf32>) -> tensor<4x8xf32> {
  %r = batch.vmap(%q = %p, %v = %x, %mm = %m) in_axes [0, 0, none] out_axes [0] size 4 : (tensor<4xi1>, tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32> {
    %i = stablehlo.convert %q : (tensor<i1>) -> tensor<i32>
    %s = "stablehlo.case"(%i) ({
      stablehlo.return %v : tensor<8xf32>
    }, {
      %d1 = stablehlo.dot_general %mm, %v, contracting_dims = [1] x [0] : (tensor<8x8xf32>, tensor<8xf32>) -> tensor<8xf32>
      %d2 = stablehlo.dot_general %mm, %d1, contracting_dims = [1] x [0] : (tensor<8x8xf32>, tensor<8xf32>) -> tensor<8xf32>
      %t = stablehlo.tanh %d2 : tensor<8xf32>
      stablehlo.return %t : tensor<8xf32>
    }) : (tensor<i32>) -> tensor<8xf32>
    batch.yield %s : tensor<8xf32>
  }
  func.return %r : tensor<4x8xf32>
}
