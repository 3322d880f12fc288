// RUN: vmlir-opt %s --split-input-file --verify-diagnostics -p batch-ragged --print-op-generic | filecheck %s

// batch-ragged: in a batch.vmap with ragged_axes, every dimension of the padded size (8)
// is ragged. A reduction over it gets its init value in the padding; a contraction over
// it gets zeros in both operands; elementwise ops are left alone; ragged_axes is dropped
// and the length stays an ordinary operand. Other ops on the ragged axis are refused.

// CHECK-LABEL: sym_name = "sum_over_ragged"
// CHECK: "batch.vmap"(%x, %n) <{in_axes = [0 : i64, 0 : i64], out_axes = [0 : i64, 0 : i64], axis_size = 4 : i64}>
// CHECK-NEXT: ^{{.*}}(%v: tensor<8x3xf32>, %len: tensor<i32>):
// CHECK-NEXT: %z = "stablehlo.constant"()
// CHECK-NEXT: %e = "stablehlo.exponential"(%v)
// CHECK-NEXT: %[[BOUND:.*]] = "stablehlo.broadcast_in_dim"(%len) <{broadcast_dimensions = array<i64>}> : (tensor<i32>) -> tensor<8x3xi32>
// CHECK-NEXT: %[[IOTA:.*]] = "stablehlo.iota"() <{iota_dimension = 0 : i64}> : () -> tensor<8x3xi32>
// CHECK-NEXT: %[[VALID:.*]] = "stablehlo.compare"(%[[IOTA]], %[[BOUND]]) <{comparison_direction = #stablehlo<comparison_direction LT>
// CHECK-NEXT: %[[INIT:.*]] = "stablehlo.broadcast_in_dim"(%z) <{broadcast_dimensions = array<i64>}> : (tensor<f32>) -> tensor<8x3xf32>
// CHECK-NEXT: %[[MASKED:.*]] = "stablehlo.select"(%[[VALID]], %e, %[[INIT]])
// CHECK-NEXT: %s = "stablehlo.reduce"(%[[MASKED]], %z) <{dimensions = array<i64: 0>}>
// CHECK: %m = "stablehlo.reduce"(%e, %z) <{dimensions = array<i64: 1>}>
func.func @sum_over_ragged(%x: tensor<4x8x3xf32>, %n: tensor<4xi32>) -> (tensor<4x3xf32>, tensor<4x8xf32>) {
  %r:2 = "batch.vmap"(%x, %n) <{in_axes = [0 : i64, 0 : i64], out_axes = [0 : i64, 0 : i64], axis_size = 4 : i64, ragged_axes = [0 : i64, none]}> ({
  ^bb0(%v: tensor<8x3xf32>, %len: tensor<i32>):
    %z = "stablehlo.constant"() <{value = dense<0.0> : tensor<f32>}> : () -> tensor<f32>
    %e = "stablehlo.exponential"(%v) : (tensor<8x3xf32>) -> tensor<8x3xf32>
    %s = "stablehlo.reduce"(%e, %z) <{dimensions = array<i64: 0>}> ({
    ^bb1(%a: tensor<f32>, %b: tensor<f32>):
      %c = "stablehlo.add"(%a, %b) : (tensor<f32>, tensor<f32>) -> tensor<f32>
      "stablehlo.return"(%c) : (tensor<f32>) -> ()
    }) : (tensor<8x3xf32>, tensor<f32>) -> tensor<3xf32>
    %m = "stablehlo.reduce"(%e, %z) <{dimensions = array<i64: 1>}> ({
    ^bb1(%a: tensor<f32>, %b: tensor<f32>):
      %c = "stablehlo.add"(%a, %b) : (tensor<f32>, tensor<f32>) -> tensor<f32>
      "stablehlo.return"(%c) : (tensor<f32>) -> ()
    }) : (tensor<8x3xf32>, tensor<f32>) -> tensor<8xf32>
    "batch.yield"(%s, %m) : (tensor<3xf32>, tensor<8xf32>) -> ()
  }) : (tensor<4x8x3xf32>, tensor<4xi32>) -> (tensor<4x3xf32>, tensor<4x8xf32>)
  func.return %r#0, %r#1 : tensor<4x3xf32>, tensor<4x8xf32>
}

// -----

// CHECK-LABEL: sym_name = "contract_ragged"
// CHECK: %[[Z:.*]] = "stablehlo.select"(%{{.*}}, %v, %{{.*}}) : (tensor<8x3xi1>, tensor<8x3xf32>, tensor<8x3xf32>) -> tensor<8x3xf32>
// CHECK-NEXT: %g = "stablehlo.dot_general"(%[[Z]], %[[Z]])
// CHECK: %o = "stablehlo.dot_general"(%v, %w2)
func.func @contract_ragged(%x: tensor<4x8x3xf32>, %w: tensor<3x5xf32>, %n: tensor<4xi32>) -> (tensor<4x3x3xf32>, tensor<4x8x5xf32>) {
  %r:2 = "batch.vmap"(%x, %w, %n) <{in_axes = [0 : i64, none, 0 : i64], out_axes = [0 : i64, 0 : i64], axis_size = 4 : i64, ragged_axes = [0 : i64, none, none]}> ({
  ^bb0(%v: tensor<8x3xf32>, %w2: tensor<3x5xf32>, %len: tensor<i32>):
    %g = "stablehlo.dot_general"(%v, %v) <{dot_dimension_numbers = #stablehlo.dot<lhs_contracting_dimensions = [0], rhs_contracting_dimensions = [0]>}> : (tensor<8x3xf32>, tensor<8x3xf32>) -> tensor<3x3xf32>
    %o = "stablehlo.dot_general"(%v, %w2) <{dot_dimension_numbers = #stablehlo.dot<lhs_contracting_dimensions = [1], rhs_contracting_dimensions = [0]>}> : (tensor<8x3xf32>, tensor<3x5xf32>) -> tensor<8x5xf32>
    "batch.yield"(%g, %o) : (tensor<3x3xf32>, tensor<8x5xf32>) -> ()
  }) : (tensor<4x8x3xf32>, tensor<3x5xf32>, tensor<4xi32>) -> (tensor<4x3x3xf32>, tensor<4x8x5xf32>)
  func.return %r#0, %r#1 : tensor<4x3x3xf32>, tensor<4x8x5xf32>
}

// -----

func.func @pad_is_refused(%x: tensor<4x8xf32>, %n: tensor<4xi32>) -> tensor<4x10xf32> {
  %r = batch.vmap(%v = %x, %len = %n) in_axes [0, 0] out_axes [0] size 4 ragged [0, none] : (tensor<4x8xf32>, tensor<4xi32>) -> tensor<4x10xf32> {
    %z = stablehlo.constant dense<0.000000e+00> : tensor<f32>
    %s = stablehlo.pad %v, %z, low = [1], high = [1], interior = [0] : (tensor<8xf32>, tensor<f32>) -> tensor<10xf32>
    batch.yield %s : tensor<10xf32>
  }
  func.return %r : tensor<4x10xf32>
}
// CHECK: ragged vmap: 'stablehlo.pad' touches the ragged axis (padded size 8)

// -----

func.func @non_identity_init_is_refused(%x: tensor<4x8xf32>, %n: tensor<4xi32>) -> tensor<4xf32> {
  %r = "batch.vmap"(%x, %n) <{in_axes = [0 : i64, 0 : i64], out_axes = [0 : i64], axis_size = 4 : i64, ragged_axes = [0 : i64, none]}> ({
  ^bb0(%v: tensor<8xf32>, %len: tensor<i32>):
    %five = "stablehlo.constant"() <{value = dense<5.0> : tensor<f32>}> : () -> tensor<f32>
    %s = "stablehlo.reduce"(%v, %five) <{dimensions = array<i64: 0>}> ({
    ^bb1(%a: tensor<f32>, %b: tensor<f32>):
      %c = "stablehlo.add"(%a, %b) : (tensor<f32>, tensor<f32>) -> tensor<f32>
      "stablehlo.return"(%c) : (tensor<f32>) -> ()
    }) : (tensor<8xf32>, tensor<f32>) -> tensor<f32>
    "batch.yield"(%s) : (tensor<f32>) -> ()
  }) : (tensor<4x8xf32>, tensor<4xi32>) -> tensor<4xf32>
  func.return %r : tensor<4xf32>
}
// CHECK: ragged vmap: 'stablehlo.reduce' reduces the ragged axis from an init value that is not the identity of its body
