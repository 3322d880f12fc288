// RUN: vmlir-opt %s -p batch-mask-control-flow,batch-vectorize | filecheck %s

// Control flow after masking and vectorization: a uniform case keeps its branches
// (vectorized); a varying while loops on an or-reduction of the active lanes and keeps
// its uniform carry unbatched; the any-lane guard is a real branch around the GEMMs.


// CHECK-LABEL: func.func @uniform_cond_stays_a_branch(
// CHECK-NEXT: %z = "stablehlo.constant"() <{value = dense<0.000000e+00> : tensor<f32>}> : () -> tensor<f32>
// CHECK-NEXT: %c = "stablehlo.compare"(%p, %z) <{compare_type = #stablehlo<comparison_type FLOAT>, comparison_direction = #stablehlo<comparison_direction GT>}> : (tensor<f32>, tensor<f32>) -> tensor<i1>
// CHECK-NEXT: %i = "stablehlo.convert"(%c) : (tensor<i1>) -> tensor<i32>
// CHECK-NEXT: %r = "stablehlo.case"(%i) ({
// CHECK-NEXT: %0 = "stablehlo.cosine"(%x) : (tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK-NEXT: "stablehlo.return"(%0) : (tensor<4x3xf32>) -> ()
// CHECK-NEXT: }, {
// CHECK-NEXT: %1 = "stablehlo.sine"(%x) : (tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK-NEXT: "stablehlo.return"(%1) : (tensor<4x3xf32>) -> ()
// CHECK-NEXT: }) : (tensor<i32>) -> tensor<4x3xf32>
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
// CHECK-NEXT: %z = "stablehlo.constant"() <{value = dense<0.000000e+00> : tensor<f32>}> : () -> tensor<f32>
// CHECK-NEXT: %0 = batch.broadcast %z axis 0 size 4 : (tensor<f32>) -> tensor<4xf32>
// CHECK-NEXT: %1 = "stablehlo.compare"(%p, %0) <{compare_type = #stablehlo<comparison_type FLOAT>, comparison_direction = #stablehlo<comparison_direction GT>}> : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xi1>
// CHECK-NEXT: %2 = "stablehlo.convert"(%1) : (tensor<4xi1>) -> tensor<4xi32>
// CHECK-NEXT: %3 = "stablehlo.constant"() <{value = dense<0> : tensor<i32>}> : () -> tensor<i32>
// CHECK-NEXT: %4 = batch.broadcast %3 axis 0 size 4 : (tensor<i32>) -> tensor<4xi32>
// CHECK-NEXT: %5 = "stablehlo.compare"(%2, %4) <{comparison_direction = #stablehlo<comparison_direction EQ>, compare_type = #stablehlo<comparison_type SIGNED>}> : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi1>
// CHECK-NEXT: %6 = "stablehlo.not"(%5) : (tensor<4xi1>) -> tensor<4xi1>
// CHECK-NEXT: %7 = "stablehlo.cosine"(%x) : (tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK-NEXT: %8 = "stablehlo.sine"(%x) : (tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK-NEXT: %9 = "stablehlo.broadcast_in_dim"(%5) <{broadcast_dimensions = array<i64: 0>}> : (tensor<4xi1>) -> tensor<4x3xi1>
// CHECK-NEXT: %r = "stablehlo.select"(%9, %7, %8) : (tensor<4x3xi1>, tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3xf32>
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


// The active flag is a batched carry (tensor<4xi1>): the cond only or-reduces it, the
// body masks with it and evaluates the predicate once, on the new carries.
// CHECK-LABEL: func.func @varying_while_loops_while_any_lane(
// CHECK-NEXT: %zero = "stablehlo.constant"() <{value = dense<0> : tensor<i32>}> : () -> tensor<i32>
// CHECK-NEXT: %one = "stablehlo.constant"() <{value = dense<1.000000e+00> : tensor<f32>}> : () -> tensor<f32>
// CHECK-NEXT: %0 = batch.broadcast %one axis 0 size 4 : (tensor<f32>) -> tensor<4xf32>
// CHECK-NEXT: %1 = "stablehlo.compare"(%x, %0) <{compare_type = #stablehlo<comparison_type FLOAT>, comparison_direction = #stablehlo<comparison_direction GT>}> : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xi1>
// CHECK-NEXT: %2 = batch.broadcast %zero axis 0 size 4 : (tensor<i32>) -> tensor<4xi32>
// CHECK-NEXT: %r, %r_1, %3, %4 = "stablehlo.while"(%x, %2, %k, %1) ({
// CHECK-NEXT: ^bb0(%5: tensor<4xf32>, %6: tensor<4xi32>, %7: tensor<f32>, %8: tensor<4xi1>):
// CHECK-NEXT: %9 = "stablehlo.constant"() <{value = dense<false> : tensor<i1>}> : () -> tensor<i1>
// CHECK-NEXT: %10 = "stablehlo.reduce"(%8, %9) <{dimensions = array<i64: 0>}> ({
// CHECK-NEXT: ^bb0(%11: tensor<i1>, %12: tensor<i1>):
// CHECK-NEXT: %13 = "stablehlo.or"(%11, %12) : (tensor<i1>, tensor<i1>) -> tensor<i1>
// CHECK-NEXT: "stablehlo.return"(%13) : (tensor<i1>) -> ()
// CHECK-NEXT: }) : (tensor<4xi1>, tensor<i1>) -> tensor<i1>
// CHECK-NEXT: "stablehlo.return"(%10) : (tensor<i1>) -> ()
// CHECK-NEXT: }, {
// CHECK-NEXT: ^bb0(%14: tensor<4xf32>, %15: tensor<4xi32>, %16: tensor<f32>, %17: tensor<4xi1>):
// CHECK-NEXT: %18 = batch.broadcast %16 axis 0 size 4 : (tensor<f32>) -> tensor<4xf32>
// CHECK-NEXT: %19 = "stablehlo.divide"(%14, %18) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
// CHECK-NEXT: %one_1 = "stablehlo.constant"() <{value = dense<1> : tensor<i32>}> : () -> tensor<i32>
// CHECK-NEXT: %20 = batch.broadcast %one_1 axis 0 size 4 : (tensor<i32>) -> tensor<4xi32>
// CHECK-NEXT: %21 = "stablehlo.add"(%15, %20) : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>
// CHECK-NEXT: %22 = "stablehlo.select"(%17, %19, %14) : (tensor<4xi1>, tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
// CHECK-NEXT: %23 = "stablehlo.select"(%17, %21, %15) : (tensor<4xi1>, tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>
// CHECK-NEXT: %one_2 = "stablehlo.constant"() <{value = dense<1.000000e+00> : tensor<f32>}> : () -> tensor<f32>
// CHECK-NEXT: %24 = batch.broadcast %one_2 axis 0 size 4 : (tensor<f32>) -> tensor<4xf32>
// CHECK-NEXT: %25 = "stablehlo.compare"(%22, %24) <{compare_type = #stablehlo<comparison_type FLOAT>, comparison_direction = #stablehlo<comparison_direction GT>}> : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xi1>
// CHECK-NEXT: "stablehlo.return"(%22, %23, %16, %25) : (tensor<4xf32>, tensor<4xi32>, tensor<f32>, tensor<4xi1>) -> ()
// CHECK-NEXT: }) {batch.strategy = "mask"} : (tensor<4xf32>, tensor<4xi32>, tensor<f32>, tensor<4xi1>) -> (tensor<4xf32>, tensor<4xi32>, tensor<f32>, tensor<4xi1>)
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


// CHECK-LABEL: func.func @expensive_branch_is_guarded(
// CHECK-NEXT: %0 = "stablehlo.convert"(%p) : (tensor<4xi1>) -> tensor<4xi32>
// CHECK-NEXT: %1 = "stablehlo.constant"() <{value = dense<0> : tensor<i32>}> : () -> tensor<i32>
// CHECK-NEXT: %2 = batch.broadcast %1 axis 0 size 4 : (tensor<i32>) -> tensor<4xi32>
// CHECK-NEXT: %3 = "stablehlo.compare"(%0, %2) <{comparison_direction = #stablehlo<comparison_direction EQ>, compare_type = #stablehlo<comparison_type SIGNED>}> : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi1>
// CHECK-NEXT: %4 = "stablehlo.not"(%3) : (tensor<4xi1>) -> tensor<4xi1>
// CHECK-NEXT: %5 = "stablehlo.constant"() <{value = dense<false> : tensor<i1>}> : () -> tensor<i1>
// CHECK-NEXT: %6 = "stablehlo.reduce"(%4, %5) <{dimensions = array<i64: 0>}> ({
// CHECK-NEXT: ^bb0(%7: tensor<i1>, %8: tensor<i1>):
// CHECK-NEXT: %9 = "stablehlo.or"(%7, %8) : (tensor<i1>, tensor<i1>) -> tensor<i1>
// CHECK-NEXT: "stablehlo.return"(%9) : (tensor<i1>) -> ()
// CHECK-NEXT: }) : (tensor<4xi1>, tensor<i1>) -> tensor<i1>
// CHECK-NEXT: %10 = "stablehlo.convert"(%6) : (tensor<i1>) -> tensor<i32>
// CHECK-NEXT: %11 = "stablehlo.case"(%10) ({
// CHECK-NEXT: %12 = "stablehlo.constant"() <{value = dense<0.000000e+00> : tensor<f32>}> : () -> tensor<f32>
// CHECK-NEXT: %13 = "stablehlo.broadcast_in_dim"(%12) <{broadcast_dimensions = array<i64>}> : (tensor<f32>) -> tensor<8xf32>
// CHECK-NEXT: %14 = batch.broadcast %13 axis 0 size 4 : (tensor<8xf32>) -> tensor<4x8xf32>
// CHECK-NEXT: "stablehlo.return"(%14) : (tensor<4x8xf32>) -> ()
// CHECK-NEXT: }, {
// CHECK-NEXT: %15 = "stablehlo.dot_general"(%x, %m) <{dot_dimension_numbers = #stablehlo.dot<lhs_contracting_dimensions = [1], rhs_contracting_dimensions = [1]>}> : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
// CHECK-NEXT: %16 = "stablehlo.dot_general"(%15, %m) <{dot_dimension_numbers = #stablehlo.dot<lhs_contracting_dimensions = [1], rhs_contracting_dimensions = [1]>}> : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
// CHECK-NEXT: %17 = "stablehlo.tanh"(%16) : (tensor<4x8xf32>) -> tensor<4x8xf32>
// CHECK-NEXT: "stablehlo.return"(%17) : (tensor<4x8xf32>) -> ()
// CHECK-NEXT: }) : (tensor<i32>) -> tensor<4x8xf32>
// CHECK-NEXT: %18 = "stablehlo.broadcast_in_dim"(%3) <{broadcast_dimensions = array<i64: 0>}> : (tensor<4xi1>) -> tensor<4x8xi1>
// CHECK-NEXT: %r = "stablehlo.select"(%18, %x, %11) : (tensor<4x8xi1>, tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
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
