// RUN: vmlir-opt %s -p batch-mask-control-flow | filecheck %s
// RUN: vmlir-opt %s -p "batch-mask-control-flow{region_skipping=false}" | filecheck %s --check-prefix=NOSKIP

// batch-mask-control-flow: a uniform cond stays a branch; a varying cond runs each branch
// under its mask and merges with select; a varying while loops while any example is
// active, runs its body masked and keeps finished carries (uniform ones untouched); an
// expensive masked branch is skipped when no example takes it (any-lane guard).


// CHECK-LABEL: func.func @uniform_cond_stays_a_branch(
// CHECK-NEXT: %r = batch.vmap(%q = %p, %v = %x) in_axes [none, 0] out_axes [0] size 4 : (tensor<f32>, tensor<4x3xf32>) -> tensor<4x3xf32> {
// CHECK-NEXT: %z = stablehlo.constant dense<0.000000e+00> : tensor<f32>
// CHECK-NEXT: %c = stablehlo.compare GT, %q, %z, FLOAT : (tensor<f32>, tensor<f32>) -> tensor<i1>
// CHECK-NEXT: %i = stablehlo.convert %c : (tensor<i1>) -> tensor<i32>
// CHECK-NEXT: %s = "stablehlo.case"(%i) ({
// CHECK-NEXT: %a = stablehlo.cosine %v : tensor<3xf32>
// CHECK-NEXT: stablehlo.return %a : tensor<3xf32>
// CHECK-NEXT: }, {
// CHECK-NEXT: %b = stablehlo.sine %v : tensor<3xf32>
// CHECK-NEXT: stablehlo.return %b : tensor<3xf32>
// CHECK-NEXT: }) : (tensor<i32>) -> tensor<3xf32>
// CHECK-NEXT: batch.yield %s : tensor<3xf32>
// CHECK-NEXT: }
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
// CHECK-NEXT: %r = batch.vmap(%q = %p, %v = %x) in_axes [0, 0] out_axes [0] size 4 : (tensor<4xf32>, tensor<4x3xf32>) -> tensor<4x3xf32> {
// CHECK-NEXT: %z = stablehlo.constant dense<0.000000e+00> : tensor<f32>
// CHECK-NEXT: %c = stablehlo.compare GT, %q, %z, FLOAT : (tensor<f32>, tensor<f32>) -> tensor<i1>
// CHECK-NEXT: %i = stablehlo.convert %c : (tensor<i1>) -> tensor<i32>
// CHECK-NEXT: %0 = stablehlo.constant dense<0> : tensor<i32>
// CHECK-NEXT: %1 = stablehlo.compare EQ, %i, %0, SIGNED : (tensor<i32>, tensor<i32>) -> tensor<i1>
// CHECK-NEXT: %2 = stablehlo.not %1 : tensor<i1>
// CHECK-NEXT: %3 = batch.masked %1 -> (tensor<3xf32>) {
// CHECK-NEXT: %a = stablehlo.cosine %v : tensor<3xf32>
// CHECK-NEXT: batch.yield %a : tensor<3xf32>
// CHECK-NEXT: }
// CHECK-NEXT: %4 = batch.masked %2 -> (tensor<3xf32>) {
// CHECK-NEXT: %b = stablehlo.sine %v : tensor<3xf32>
// CHECK-NEXT: batch.yield %b : tensor<3xf32>
// CHECK-NEXT: }
// CHECK-NEXT: %s = stablehlo.select %1, %3, %4 : tensor<i1>, tensor<3xf32>
// CHECK-NEXT: batch.yield %s : tensor<3xf32>
// CHECK-NEXT: }
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


// A varying while: the active flag becomes a carry, evaluated before the loop and on the
// new carries at the end of each iteration (one predicate evaluation per iteration); the
// cond only asks batch.any; the body runs masked and finished examples keep their values.
// CHECK-LABEL: func.func @varying_while_loops_while_any_lane(
// CHECK-NEXT: %r, %r_1 = batch.vmap(%v = %x, %kk = %k) in_axes [0, none] out_axes [0, 0] size 4 : (tensor<4xf32>, tensor<f32>) -> (tensor<4xf32>, tensor<4xi32>) {
// CHECK-NEXT: %zero = stablehlo.constant dense<0> : tensor<i32>
// CHECK-NEXT: %one = stablehlo.constant dense<1.000000e+00> : tensor<f32>
// CHECK-NEXT: %gt = stablehlo.compare GT, %v, %one, FLOAT : (tensor<f32>, tensor<f32>) -> tensor<i1>
// CHECK-NEXT: %w, %w_1, %w_2, %w_3 = stablehlo.while(%c = %v, %n = %zero, %kc = %kk, %0 = %gt) : tensor<f32>, tensor<i32>, tensor<f32>, tensor<i1> attributes {batch.lane_loop}
// CHECK-NEXT: cond {
// CHECK-NEXT: %1 = batch.any %0 : tensor<i1>
// CHECK-NEXT: stablehlo.return %1 : tensor<i1>
// CHECK-NEXT: } do {
// CHECK-NEXT: %2, %3, %4 = batch.masked %0 -> (tensor<f32>, tensor<i32>, tensor<f32>) {
// CHECK-NEXT: %h = stablehlo.divide %c, %kc : tensor<f32>
// CHECK-NEXT: %one_1 = stablehlo.constant dense<1> : tensor<i32>
// CHECK-NEXT: %n1 = stablehlo.add %n, %one_1 : tensor<i32>
// CHECK-NEXT: batch.yield %h, %n1, %kc : tensor<f32>, tensor<i32>, tensor<f32>
// CHECK-NEXT: }
// CHECK-NEXT: %5 = stablehlo.select %0, %2, %c : tensor<i1>, tensor<f32>
// CHECK-NEXT: %6 = stablehlo.select %0, %3, %n : tensor<i1>, tensor<i32>
// CHECK-NEXT: %one_2 = stablehlo.constant dense<1.000000e+00> : tensor<f32>
// CHECK-NEXT: %gt_1 = stablehlo.compare GT, %5, %one_2, FLOAT : (tensor<f32>, tensor<f32>) -> tensor<i1>
// CHECK-NEXT: stablehlo.return %5, %6, %kc, %gt_1 : tensor<f32>, tensor<i32>, tensor<f32>, tensor<i1>
// CHECK-NEXT: }
// CHECK-NEXT: batch.yield %w, %w_1 : tensor<f32>, tensor<i32>
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


// With region skipping off, the expensive branch is masked like any other: no guard.
// NOSKIP-LABEL: func.func @expensive_branch_is_guarded(
// NOSKIP-NOT: batch.any
// NOSKIP: %4 = batch.masked %2 -> (tensor<8xf32>) {
// NOSKIP-NEXT: %d1 = stablehlo.dot_general %mm, %v,
// NOSKIP: %s = stablehlo.select %1, %3, %4
// CHECK-LABEL: func.func @expensive_branch_is_guarded(
// CHECK-NEXT: %r = batch.vmap(%q = %p, %v = %x, %mm = %m) in_axes [0, 0, none] out_axes [0] size 4 : (tensor<4xi1>, tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32> {
// CHECK-NEXT: %i = stablehlo.convert %q : (tensor<i1>) -> tensor<i32>
// CHECK-NEXT: %0 = stablehlo.constant dense<0> : tensor<i32>
// CHECK-NEXT: %1 = stablehlo.compare EQ, %i, %0, SIGNED : (tensor<i32>, tensor<i32>) -> tensor<i1>
// CHECK-NEXT: %2 = stablehlo.not %1 : tensor<i1>
// CHECK-NEXT: %3 = batch.masked %1 -> (tensor<8xf32>) {
// CHECK-NEXT: batch.yield %v : tensor<8xf32>
// CHECK-NEXT: }
// CHECK-NEXT: %4 = batch.any %2 : tensor<i1>
// CHECK-NEXT: %5 = stablehlo.convert %4 : (tensor<i1>) -> tensor<i32>
// CHECK-NEXT: %6 = "stablehlo.case"(%5) ({
// CHECK-NEXT: %7 = stablehlo.constant dense<0.000000e+00> : tensor<f32>
// CHECK-NEXT: %8 = stablehlo.broadcast_in_dim %7, dims = [] : (tensor<f32>) -> tensor<8xf32>
// CHECK-NEXT: stablehlo.return %8 : tensor<8xf32>
// CHECK-NEXT: }, {
// CHECK-NEXT: %9 = batch.masked %2 -> (tensor<8xf32>) {
// CHECK-NEXT: %d1 = stablehlo.dot_general %mm, %v, contracting_dims = [1] x [0] : (tensor<8x8xf32>, tensor<8xf32>) -> tensor<8xf32>
// CHECK-NEXT: %d2 = stablehlo.dot_general %mm, %d1, contracting_dims = [1] x [0] : (tensor<8x8xf32>, tensor<8xf32>) -> tensor<8xf32>
// CHECK-NEXT: %t = stablehlo.tanh %d2 : tensor<8xf32>
// CHECK-NEXT: batch.yield %t : tensor<8xf32>
// CHECK-NEXT: }
// CHECK-NEXT: stablehlo.return %9 : tensor<8xf32>
// CHECK-NEXT: }) : (tensor<i32>) -> tensor<8xf32>
// CHECK-NEXT: %s = stablehlo.select %1, %3, %6 : tensor<i1>, tensor<8xf32>
// CHECK-NEXT: batch.yield %s : tensor<8xf32>
// CHECK-NEXT: }
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
