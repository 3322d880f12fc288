// RUN: vmlir-opt %s -p batch-mask-control-flow | filecheck %s
// RUN: vmlir-opt %s -p "batch-mask-control-flow{region_skipping=false}" | filecheck %s --check-prefix=NOSKIP

// batch-mask-control-flow: a uniform cond stays a branch; a varying cond runs each branch
// under its mask and merges with select; a varying while loops while any example is
// active, runs its body masked and keeps finished carries (uniform ones untouched); an
// expensive masked branch is skipped when no example takes it (any-lane guard).


// CHECK-LABEL: func.func @uniform_cond_stays_a_branch(
// CHECK-NEXT: %r = "batch.vmap"(%p, %x) <{in_axes = [none, 0 : i64], out_axes = [0 : i64], axis_size = 4 : i64}> ({
// CHECK-NEXT: ^bb0(%q: tensor<f32>, %v: tensor<3xf32>):
// CHECK-NEXT: %z = "stablehlo.constant"() <{value = dense<0.000000e+00> : tensor<f32>}> : () -> tensor<f32>
// CHECK-NEXT: %c = "stablehlo.compare"(%q, %z) <{compare_type = #stablehlo<comparison_type FLOAT>, comparison_direction = #stablehlo<comparison_direction GT>}> : (tensor<f32>, tensor<f32>) -> tensor<i1>
// CHECK-NEXT: %i = "stablehlo.convert"(%c) : (tensor<i1>) -> tensor<i32>
// CHECK-NEXT: %s = "stablehlo.case"(%i) ({
// CHECK-NEXT: %a = "stablehlo.cosine"(%v) : (tensor<3xf32>) -> tensor<3xf32>
// CHECK-NEXT: "stablehlo.return"(%a) : (tensor<3xf32>) -> ()
// CHECK-NEXT: }, {
// CHECK-NEXT: %b = "stablehlo.sine"(%v) : (tensor<3xf32>) -> tensor<3xf32>
// CHECK-NEXT: "stablehlo.return"(%b) : (tensor<3xf32>) -> ()
// CHECK-NEXT: }) : (tensor<i32>) -> tensor<3xf32>
// CHECK-NEXT: "batch.yield"(%s) : (tensor<3xf32>) -> ()
// CHECK-NEXT: }) : (tensor<f32>, tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK-NEXT: func.return %r : tensor<4x3xf32>
// CHECK-NEXT: }
func.func @uniform_cond_stays_a_branch(%p: tensor<f32>, %x: tensor<4x3xf32>) -> tensor<4x3xf32> {
  %r = "batch.vmap"(%p, %x) <{in_axes = [none, 0 : i64], out_axes = [0 : i64], axis_size = 4 : i64}> ({
  ^bb0(%q: tensor<f32>, %v: tensor<3xf32>):
    %z = "stablehlo.constant"() <{value = dense<0.0> : tensor<f32>}> : () -> tensor<f32>
    %c = "stablehlo.compare"(%q, %z) <{compare_type = #stablehlo<comparison_type FLOAT>, comparison_direction = #stablehlo<comparison_direction GT>}> : (tensor<f32>, tensor<f32>) -> tensor<i1>
    %i = "stablehlo.convert"(%c) : (tensor<i1>) -> tensor<i32>
    %s = "stablehlo.case"(%i) ({
      %a = "stablehlo.cosine"(%v) : (tensor<3xf32>) -> tensor<3xf32>
      "stablehlo.return"(%a) : (tensor<3xf32>) -> ()
    }, {
      %b = "stablehlo.sine"(%v) : (tensor<3xf32>) -> tensor<3xf32>
      "stablehlo.return"(%b) : (tensor<3xf32>) -> ()
    }) : (tensor<i32>) -> tensor<3xf32>
    "batch.yield"(%s) : (tensor<3xf32>) -> ()
  }) : (tensor<f32>, tensor<4x3xf32>) -> tensor<4x3xf32>
  func.return %r : tensor<4x3xf32>
}


// CHECK-LABEL: func.func @varying_cond_is_linearized(
// CHECK-NEXT: %r = "batch.vmap"(%p, %x) <{in_axes = [0 : i64, 0 : i64], out_axes = [0 : i64], axis_size = 4 : i64}> ({
// CHECK-NEXT: ^bb0(%q: tensor<f32>, %v: tensor<3xf32>):
// CHECK-NEXT: %z = "stablehlo.constant"() <{value = dense<0.000000e+00> : tensor<f32>}> : () -> tensor<f32>
// CHECK-NEXT: %c = "stablehlo.compare"(%q, %z) <{compare_type = #stablehlo<comparison_type FLOAT>, comparison_direction = #stablehlo<comparison_direction GT>}> : (tensor<f32>, tensor<f32>) -> tensor<i1>
// CHECK-NEXT: %i = "stablehlo.convert"(%c) : (tensor<i1>) -> tensor<i32>
// CHECK-NEXT: %0 = "stablehlo.constant"() <{value = dense<0> : tensor<i32>}> : () -> tensor<i32>
// CHECK-NEXT: %1 = "stablehlo.compare"(%i, %0) <{comparison_direction = #stablehlo<comparison_direction EQ>, compare_type = #stablehlo<comparison_type SIGNED>}> : (tensor<i32>, tensor<i32>) -> tensor<i1>
// CHECK-NEXT: %2 = "stablehlo.not"(%1) : (tensor<i1>) -> tensor<i1>
// CHECK-NEXT: %3 = "batch.masked"(%1) ({
// CHECK-NEXT: %a = "stablehlo.cosine"(%v) : (tensor<3xf32>) -> tensor<3xf32>
// CHECK-NEXT: "batch.yield"(%a) : (tensor<3xf32>) -> ()
// CHECK-NEXT: }) : (tensor<i1>) -> tensor<3xf32>
// CHECK-NEXT: %4 = "batch.masked"(%2) ({
// CHECK-NEXT: %b = "stablehlo.sine"(%v) : (tensor<3xf32>) -> tensor<3xf32>
// CHECK-NEXT: "batch.yield"(%b) : (tensor<3xf32>) -> ()
// CHECK-NEXT: }) : (tensor<i1>) -> tensor<3xf32>
// CHECK-NEXT: %s = "stablehlo.select"(%1, %3, %4) : (tensor<i1>, tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
// CHECK-NEXT: "batch.yield"(%s) : (tensor<3xf32>) -> ()
// CHECK-NEXT: }) : (tensor<4xf32>, tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK-NEXT: func.return %r : tensor<4x3xf32>
// CHECK-NEXT: }
func.func @varying_cond_is_linearized(%p: tensor<4xf32>, %x: tensor<4x3xf32>) -> tensor<4x3xf32> {
  %r = "batch.vmap"(%p, %x) <{in_axes = [0 : i64, 0 : i64], out_axes = [0 : i64], axis_size = 4 : i64}> ({
  ^bb0(%q: tensor<f32>, %v: tensor<3xf32>):
    %z = "stablehlo.constant"() <{value = dense<0.0> : tensor<f32>}> : () -> tensor<f32>
    %c = "stablehlo.compare"(%q, %z) <{compare_type = #stablehlo<comparison_type FLOAT>, comparison_direction = #stablehlo<comparison_direction GT>}> : (tensor<f32>, tensor<f32>) -> tensor<i1>
    %i = "stablehlo.convert"(%c) : (tensor<i1>) -> tensor<i32>
    %s = "stablehlo.case"(%i) ({
      %a = "stablehlo.cosine"(%v) : (tensor<3xf32>) -> tensor<3xf32>
      "stablehlo.return"(%a) : (tensor<3xf32>) -> ()
    }, {
      %b = "stablehlo.sine"(%v) : (tensor<3xf32>) -> tensor<3xf32>
      "stablehlo.return"(%b) : (tensor<3xf32>) -> ()
    }) : (tensor<i32>) -> tensor<3xf32>
    "batch.yield"(%s) : (tensor<3xf32>) -> ()
  }) : (tensor<4xf32>, tensor<4x3xf32>) -> tensor<4x3xf32>
  func.return %r : tensor<4x3xf32>
}


// A varying while: the active flag becomes a carry, evaluated before the loop and on the
// new carries at the end of each iteration (one predicate evaluation per iteration); the
// cond only asks batch.any; the body runs masked and finished examples keep their values.
// CHECK-LABEL: func.func @varying_while_loops_while_any_lane(
// CHECK-NEXT: %r, %r_1 = "batch.vmap"(%x, %k) <{in_axes = [0 : i64, none], out_axes = [0 : i64, 0 : i64], axis_size = 4 : i64}> ({
// CHECK-NEXT: ^bb0(%v: tensor<f32>, %kk: tensor<f32>):
// CHECK-NEXT: %zero = "stablehlo.constant"() <{value = dense<0> : tensor<i32>}> : () -> tensor<i32>
// CHECK-NEXT: %one = "stablehlo.constant"() <{value = dense<1.000000e+00> : tensor<f32>}> : () -> tensor<f32>
// CHECK-NEXT: %gt = "stablehlo.compare"(%v, %one) <{compare_type = #stablehlo<comparison_type FLOAT>, comparison_direction = #stablehlo<comparison_direction GT>}> : (tensor<f32>, tensor<f32>) -> tensor<i1>
// CHECK-NEXT: %w, %w_1, %w_2, %w_3 = "stablehlo.while"(%v, %zero, %kk, %gt) ({
// CHECK-NEXT: ^bb0(%c: tensor<f32>, %n: tensor<i32>, %kc: tensor<f32>, %0: tensor<i1>):
// CHECK-NEXT: %1 = batch.any %0 : tensor<i1>
// CHECK-NEXT: "stablehlo.return"(%1) : (tensor<i1>) -> ()
// CHECK-NEXT: }, {
// CHECK-NEXT: ^bb0(%c_1: tensor<f32>, %n_1: tensor<i32>, %kc_1: tensor<f32>, %2: tensor<i1>):
// CHECK-NEXT: %3, %4, %5 = "batch.masked"(%2) ({
// CHECK-NEXT: %h = "stablehlo.divide"(%c_1, %kc_1) : (tensor<f32>, tensor<f32>) -> tensor<f32>
// CHECK-NEXT: %one_1 = "stablehlo.constant"() <{value = dense<1> : tensor<i32>}> : () -> tensor<i32>
// CHECK-NEXT: %n1 = "stablehlo.add"(%n_1, %one_1) : (tensor<i32>, tensor<i32>) -> tensor<i32>
// CHECK-NEXT: "batch.yield"(%h, %n1, %kc_1) : (tensor<f32>, tensor<i32>, tensor<f32>) -> ()
// CHECK-NEXT: }) : (tensor<i1>) -> (tensor<f32>, tensor<i32>, tensor<f32>)
// CHECK-NEXT: %6 = "stablehlo.select"(%2, %3, %c_1) : (tensor<i1>, tensor<f32>, tensor<f32>) -> tensor<f32>
// CHECK-NEXT: %7 = "stablehlo.select"(%2, %4, %n_1) : (tensor<i1>, tensor<i32>, tensor<i32>) -> tensor<i32>
// CHECK-NEXT: %one_2 = "stablehlo.constant"() <{value = dense<1.000000e+00> : tensor<f32>}> : () -> tensor<f32>
// CHECK-NEXT: %gt_1 = "stablehlo.compare"(%6, %one_2) <{compare_type = #stablehlo<comparison_type FLOAT>, comparison_direction = #stablehlo<comparison_direction GT>}> : (tensor<f32>, tensor<f32>) -> tensor<i1>
// CHECK-NEXT: "stablehlo.return"(%6, %7, %kc_1, %gt_1) : (tensor<f32>, tensor<i32>, tensor<f32>, tensor<i1>) -> ()
// CHECK-NEXT: }) {batch.lane_loop} : (tensor<f32>, tensor<i32>, tensor<f32>, tensor<i1>) -> (tensor<f32>, tensor<i32>, tensor<f32>, tensor<i1>)
// CHECK-NEXT: "batch.yield"(%w, %w_1) : (tensor<f32>, tensor<i32>) -> ()
// CHECK-NEXT: }) : (tensor<4xf32>, tensor<f32>) -> (tensor<4xf32>, tensor<4xi32>)
// CHECK-NEXT: func.return %r, %r_1 : tensor<4xf32>, tensor<4xi32>
// CHECK-NEXT: }
func.func @varying_while_loops_while_any_lane(%x: tensor<4xf32>, %k: tensor<f32>) -> (tensor<4xf32>, tensor<4xi32>) {
  %r:2 = "batch.vmap"(%x, %k) <{in_axes = [0 : i64, none], out_axes = [0 : i64, 0 : i64], axis_size = 4 : i64}> ({
  ^bb0(%v: tensor<f32>, %kk: tensor<f32>):
    %zero = "stablehlo.constant"() <{value = dense<0> : tensor<i32>}> : () -> tensor<i32>
    %w:3 = "stablehlo.while"(%v, %zero, %kk) ({
    ^bb0(%c: tensor<f32>, %n: tensor<i32>, %kc: tensor<f32>):
      %one = "stablehlo.constant"() <{value = dense<1.0> : tensor<f32>}> : () -> tensor<f32>
      %gt = "stablehlo.compare"(%c, %one) <{compare_type = #stablehlo<comparison_type FLOAT>, comparison_direction = #stablehlo<comparison_direction GT>}> : (tensor<f32>, tensor<f32>) -> tensor<i1>
      "stablehlo.return"(%gt) : (tensor<i1>) -> ()
    }, {
    ^bb0(%c: tensor<f32>, %n: tensor<i32>, %kc: tensor<f32>):
      %h = "stablehlo.divide"(%c, %kc) : (tensor<f32>, tensor<f32>) -> tensor<f32>
      %one = "stablehlo.constant"() <{value = dense<1> : tensor<i32>}> : () -> tensor<i32>
      %n1 = "stablehlo.add"(%n, %one) : (tensor<i32>, tensor<i32>) -> tensor<i32>
      "stablehlo.return"(%h, %n1, %kc) : (tensor<f32>, tensor<i32>, tensor<f32>) -> ()
    }) : (tensor<f32>, tensor<i32>, tensor<f32>) -> (tensor<f32>, tensor<i32>, tensor<f32>)
    "batch.yield"(%w#0, %w#1) : (tensor<f32>, tensor<i32>) -> ()
  }) : (tensor<4xf32>, tensor<f32>) -> (tensor<4xf32>, tensor<4xi32>)
  func.return %r#0, %r#1 : tensor<4xf32>, tensor<4xi32>
}


// With region skipping off, the expensive branch is masked like any other: no guard.
// NOSKIP-LABEL: func.func @expensive_branch_is_guarded(
// NOSKIP-NOT:     batch.any
// NOSKIP:         %4 = "batch.masked"(%2) ({
// NOSKIP-NEXT:      %d1 = "stablehlo.dot_general"(%mm, %v)
// NOSKIP:         %s = "stablehlo.select"(%1, %3, %4)
// CHECK-LABEL: func.func @expensive_branch_is_guarded(
// CHECK-NEXT: %r = "batch.vmap"(%p, %x, %m) <{in_axes = [0 : i64, 0 : i64, none], out_axes = [0 : i64], axis_size = 4 : i64}> ({
// CHECK-NEXT: ^bb0(%q: tensor<i1>, %v: tensor<8xf32>, %mm: tensor<8x8xf32>):
// CHECK-NEXT: %i = "stablehlo.convert"(%q) : (tensor<i1>) -> tensor<i32>
// CHECK-NEXT: %0 = "stablehlo.constant"() <{value = dense<0> : tensor<i32>}> : () -> tensor<i32>
// CHECK-NEXT: %1 = "stablehlo.compare"(%i, %0) <{comparison_direction = #stablehlo<comparison_direction EQ>, compare_type = #stablehlo<comparison_type SIGNED>}> : (tensor<i32>, tensor<i32>) -> tensor<i1>
// CHECK-NEXT: %2 = "stablehlo.not"(%1) : (tensor<i1>) -> tensor<i1>
// CHECK-NEXT: %3 = "batch.masked"(%1) ({
// CHECK-NEXT: "batch.yield"(%v) : (tensor<8xf32>) -> ()
// CHECK-NEXT: }) : (tensor<i1>) -> tensor<8xf32>
// CHECK-NEXT: %4 = batch.any %2 : tensor<i1>
// CHECK-NEXT: %5 = "stablehlo.convert"(%4) : (tensor<i1>) -> tensor<i32>
// CHECK-NEXT: %6 = "stablehlo.case"(%5) ({
// CHECK-NEXT: %7 = "stablehlo.constant"() <{value = dense<0.000000e+00> : tensor<f32>}> : () -> tensor<f32>
// CHECK-NEXT: %8 = "stablehlo.broadcast_in_dim"(%7) <{broadcast_dimensions = array<i64>}> : (tensor<f32>) -> tensor<8xf32>
// CHECK-NEXT: "stablehlo.return"(%8) : (tensor<8xf32>) -> ()
// CHECK-NEXT: }, {
// CHECK-NEXT: %9 = "batch.masked"(%2) ({
// CHECK-NEXT: %d1 = "stablehlo.dot_general"(%mm, %v) <{dot_dimension_numbers = #stablehlo.dot<lhs_contracting_dimensions = [1], rhs_contracting_dimensions = [0]>}> : (tensor<8x8xf32>, tensor<8xf32>) -> tensor<8xf32>
// CHECK-NEXT: %d2 = "stablehlo.dot_general"(%mm, %d1) <{dot_dimension_numbers = #stablehlo.dot<lhs_contracting_dimensions = [1], rhs_contracting_dimensions = [0]>}> : (tensor<8x8xf32>, tensor<8xf32>) -> tensor<8xf32>
// CHECK-NEXT: %t = "stablehlo.tanh"(%d2) : (tensor<8xf32>) -> tensor<8xf32>
// CHECK-NEXT: "batch.yield"(%t) : (tensor<8xf32>) -> ()
// CHECK-NEXT: }) : (tensor<i1>) -> tensor<8xf32>
// CHECK-NEXT: "stablehlo.return"(%9) : (tensor<8xf32>) -> ()
// CHECK-NEXT: }) : (tensor<i32>) -> tensor<8xf32>
// CHECK-NEXT: %s = "stablehlo.select"(%1, %3, %6) : (tensor<i1>, tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
// CHECK-NEXT: "batch.yield"(%s) : (tensor<8xf32>) -> ()
// CHECK-NEXT: }) : (tensor<4xi1>, tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
// CHECK-NEXT: func.return %r : tensor<4x8xf32>
// CHECK-NEXT: }
func.func @expensive_branch_is_guarded(%p: tensor<4xi1>, %x: tensor<4x8xf32>, %m: tensor<8x8xf32>) -> tensor<4x8xf32> {
  %r = "batch.vmap"(%p, %x, %m) <{in_axes = [0 : i64, 0 : i64, none], out_axes = [0 : i64], axis_size = 4 : i64}> ({
  ^bb0(%q: tensor<i1>, %v: tensor<8xf32>, %mm: tensor<8x8xf32>):
    %i = "stablehlo.convert"(%q) : (tensor<i1>) -> tensor<i32>
    %s = "stablehlo.case"(%i) ({
      "stablehlo.return"(%v) : (tensor<8xf32>) -> ()
    }, {
      %d1 = "stablehlo.dot_general"(%mm, %v) <{dot_dimension_numbers = #stablehlo.dot<lhs_contracting_dimensions = [1], rhs_contracting_dimensions = [0]>}> : (tensor<8x8xf32>, tensor<8xf32>) -> tensor<8xf32>
      %d2 = "stablehlo.dot_general"(%mm, %d1) <{dot_dimension_numbers = #stablehlo.dot<lhs_contracting_dimensions = [1], rhs_contracting_dimensions = [0]>}> : (tensor<8x8xf32>, tensor<8xf32>) -> tensor<8xf32>
      %t = "stablehlo.tanh"(%d2) : (tensor<8xf32>) -> tensor<8xf32>
      "stablehlo.return"(%t) : (tensor<8xf32>) -> ()
    }) : (tensor<i32>) -> tensor<8xf32>
    "batch.yield"(%s) : (tensor<8xf32>) -> ()
  }) : (tensor<4xi1>, tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  func.return %r : tensor<4x8xf32>
}
