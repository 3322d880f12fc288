// RUN: vmlir-opt %s -p batch-propagate-axes,batch-vectorize | filecheck %s

// batch-vectorize with the rules of passes/rules/misc.py (and reduce with a per-example
// init value, contraction.py -> misc.reduce_with_batched_init).

// reverse: the reversed dims shift past the batch axis (1), which stays put.
// CHECK-LABEL: func.func @reverse_axis1(
// CHECK-NEXT: %r = "stablehlo.reverse"(%x) <{dimensions = array<i64: 0, 2>}> : (tensor<3x4x2xf32>) -> tensor<3x4x2xf32>
// CHECK-NEXT: func.return %r : tensor<3x4x2xf32>
// CHECK-NEXT: }
func.func @reverse_axis1(%x: tensor<3x4x2xf32>) -> tensor<3x4x2xf32> {
  %r = "batch.vmap"(%x) <{in_axes = [1 : i64], out_axes = [1 : i64], axis_size = 4 : i64}> ({
  ^bb0(%v: tensor<3x2xf32>):
    %s = "stablehlo.reverse"(%v) <{dimensions = array<i64: 0, 1>}> : (tensor<3x2xf32>) -> tensor<3x2xf32>
    "batch.yield"(%s) : (tensor<3x2xf32>) -> ()
  }) : (tensor<3x4x2xf32>) -> tensor<3x4x2xf32>
  func.return %r : tensor<3x4x2xf32>
}

// pad (negative low, interior): no padding along the batch axis, kept at 1.
// CHECK-LABEL: func.func @pad_axis1(
// CHECK-NEXT: %0 = "stablehlo.pad"(%x, %p) <{edge_padding_low = array<i64: -1, 0>, edge_padding_high = array<i64: 2, 0>, interior_padding = array<i64: 1, 0>}> : (tensor<5x4xf32>, tensor<f32>) -> tensor<10x4xf32>
// CHECK-NEXT: %r = batch.move_axis %0 from 1 to 0 : (tensor<10x4xf32>) -> tensor<4x10xf32>
// CHECK-NEXT: func.return %r : tensor<4x10xf32>
// CHECK-NEXT: }
func.func @pad_axis1(%x: tensor<5x4xf32>, %p: tensor<f32>) -> tensor<4x10xf32> {
  %r = "batch.vmap"(%x, %p) <{in_axes = [1 : i64, none], out_axes = [0 : i64], axis_size = 4 : i64}> ({
  ^bb0(%v: tensor<5xf32>, %u: tensor<f32>):
    %s = "stablehlo.pad"(%v, %u) <{edge_padding_high = array<i64: 2>, edge_padding_low = array<i64: -1>, interior_padding = array<i64: 1>}> : (tensor<5xf32>, tensor<f32>) -> tensor<10xf32>
    "batch.yield"(%s) : (tensor<10xf32>) -> ()
  }) : (tensor<5x4xf32>, tensor<f32>) -> tensor<4x10xf32>
  func.return %r : tensor<4x10xf32>
}

// pad with a per-example value: pad with 0, pad an all-true mask with false,
// select the broadcast values where the mask is false (JAX's way).
// CHECK-LABEL: func.func @pad_batched_value(
// CHECK-NEXT: %0 = "stablehlo.constant"() <{value = dense<0.000000e+00> : tensor<f32>}> : () -> tensor<f32>
// CHECK-NEXT: %1 = "stablehlo.pad"(%x, %0) <{edge_padding_low = array<i64: 0, 0>, edge_padding_high = array<i64: 0, 1>, interior_padding = array<i64: 0, 0>}> : (tensor<4x3xf32>, tensor<f32>) -> tensor<4x4xf32>
// CHECK-NEXT: %2 = "stablehlo.constant"() <{value = dense<true> : tensor<i1>}> : () -> tensor<i1>
// CHECK-NEXT: %3 = "stablehlo.broadcast_in_dim"(%2) <{broadcast_dimensions = array<i64>}> : (tensor<i1>) -> tensor<4x3xi1>
// CHECK-NEXT: %4 = "stablehlo.constant"() <{value = dense<false> : tensor<i1>}> : () -> tensor<i1>
// CHECK-NEXT: %5 = "stablehlo.pad"(%3, %4) <{edge_padding_low = array<i64: 0, 0>, edge_padding_high = array<i64: 0, 1>, interior_padding = array<i64: 0, 0>}> : (tensor<4x3xi1>, tensor<i1>) -> tensor<4x4xi1>
// CHECK-NEXT: %6 = "stablehlo.broadcast_in_dim"(%p) <{broadcast_dimensions = array<i64: 0>}> : (tensor<4xf32>) -> tensor<4x4xf32>
// CHECK-NEXT: %r = "stablehlo.select"(%5, %1, %6) : (tensor<4x4xi1>, tensor<4x4xf32>, tensor<4x4xf32>) -> tensor<4x4xf32>
// CHECK-NEXT: func.return %r : tensor<4x4xf32>
// CHECK-NEXT: }
func.func @pad_batched_value(%x: tensor<4x3xf32>, %p: tensor<4xf32>) -> tensor<4x4xf32> {
  %r = "batch.vmap"(%x, %p) <{in_axes = [0 : i64, 0 : i64], out_axes = [0 : i64], axis_size = 4 : i64}> ({
  ^bb0(%v: tensor<3xf32>, %u: tensor<f32>):
    %s = "stablehlo.pad"(%v, %u) <{edge_padding_high = array<i64: 1>, edge_padding_low = array<i64: 0>, interior_padding = array<i64: 0>}> : (tensor<3xf32>, tensor<f32>) -> tensor<4xf32>
    "batch.yield"(%s) : (tensor<4xf32>) -> ()
  }) : (tensor<4x3xf32>, tensor<4xf32>) -> tensor<4x4xf32>
  func.return %r : tensor<4x4xf32>
}

// reduce_window (jnp.cumsum): a window of 1 along the batch axis, no padding there.
// CHECK-LABEL: func.func @cumsum_axis1(
// CHECK-NEXT: %z = "stablehlo.constant"() <{value = dense<0.000000e+00> : tensor<f32>}> : () -> tensor<f32>
// CHECK-NEXT: %r = "stablehlo.reduce_window"(%x, %z) <{base_dilations = array<i64: 1, 1>, padding = dense<[[4, 0], [0, 0]]> : tensor<2x2xi64>, window_dilations = array<i64: 1, 1>, window_dimensions = array<i64: 5, 1>, window_strides = array<i64: 1, 1>}> ({
// CHECK-NEXT: ^bb0(%a: tensor<f32>, %b: tensor<f32>):
// CHECK-NEXT: %c = "stablehlo.add"(%a, %b) : (tensor<f32>, tensor<f32>) -> tensor<f32>
// CHECK-NEXT: "stablehlo.return"(%c) : (tensor<f32>) -> ()
// CHECK-NEXT: }) : (tensor<5x4xf32>, tensor<f32>) -> tensor<5x4xf32>
// CHECK-NEXT: func.return %r : tensor<5x4xf32>
// CHECK-NEXT: }
func.func @cumsum_axis1(%x: tensor<5x4xf32>) -> tensor<5x4xf32> {
  %r = "batch.vmap"(%x) <{in_axes = [1 : i64], out_axes = [1 : i64], axis_size = 4 : i64}> ({
  ^bb0(%v: tensor<5xf32>):
    %z = "stablehlo.constant"() <{value = dense<0.000000e+00> : tensor<f32>}> : () -> tensor<f32>
    %s = "stablehlo.reduce_window"(%v, %z) <{base_dilations = array<i64: 1>, padding = dense<[[4, 0]]> : tensor<1x2xi64>, window_dilations = array<i64: 1>, window_dimensions = array<i64: 5>, window_strides = array<i64: 1>}> ({
    ^bb1(%a: tensor<f32>, %b: tensor<f32>):
      %c = "stablehlo.add"(%a, %b) : (tensor<f32>, tensor<f32>) -> tensor<f32>
      "stablehlo.return"(%c) : (tensor<f32>) -> ()
    }) : (tensor<5xf32>, tensor<f32>) -> tensor<5xf32>
    "batch.yield"(%s) : (tensor<5xf32>) -> ()
  }) : (tensor<5x4xf32>) -> tensor<5x4xf32>
  func.return %r : tensor<5x4xf32>
}

// sort of (x, iota) (jnp.argsort): the uniform iota is broadcast to x's batch axis; the
// sort dimension is shifted past it (here it stays 0); the comparator is unchanged.
// CHECK-LABEL: func.func @argsort_two_operands(
// CHECK-NEXT: %i = "stablehlo.iota"() <{iota_dimension = 0 : i64}> : () -> tensor<5xi32>
// CHECK-NEXT: %0 = batch.broadcast %i axis 1 size 4 : (tensor<5xi32>) -> tensor<5x4xi32>
// CHECK-NEXT: %1, %2 = "stablehlo.sort"(%x, %0) <{dimension = 0 : i64, is_stable = true}> ({
// CHECK-NEXT: ^bb0(%a: tensor<f32>, %b: tensor<f32>, %c: tensor<i32>, %d: tensor<i32>):
// CHECK-NEXT: %lt = "stablehlo.compare"(%a, %b) <{comparison_direction = #stablehlo<comparison_direction LT>, compare_type = #stablehlo<comparison_type TOTALORDER>}> : (tensor<f32>, tensor<f32>) -> tensor<i1>
// CHECK-NEXT: "stablehlo.return"(%lt) : (tensor<i1>) -> ()
// CHECK-NEXT: }) : (tensor<5x4xf32>, tensor<5x4xi32>) -> (tensor<5x4xf32>, tensor<5x4xi32>)
// CHECK-NEXT: %r = batch.move_axis %1 from 1 to 0 : (tensor<5x4xf32>) -> tensor<4x5xf32>
// CHECK-NEXT: %r_1 = batch.move_axis %2 from 1 to 0 : (tensor<5x4xi32>) -> tensor<4x5xi32>
// CHECK-NEXT: func.return %r, %r_1 : tensor<4x5xf32>, tensor<4x5xi32>
// CHECK-NEXT: }
func.func @argsort_two_operands(%x: tensor<5x4xf32>) -> (tensor<4x5xf32>, tensor<4x5xi32>) {
  %r:2 = "batch.vmap"(%x) <{in_axes = [1 : i64], out_axes = [0 : i64, 0 : i64], axis_size = 4 : i64}> ({
  ^bb0(%v: tensor<5xf32>):
    %i = "stablehlo.iota"() <{iota_dimension = 0 : i64}> : () -> tensor<5xi32>
    %s:2 = "stablehlo.sort"(%v, %i) <{dimension = 0 : i64, is_stable = true}> ({
    ^bb1(%a: tensor<f32>, %b: tensor<f32>, %c: tensor<i32>, %d: tensor<i32>):
      %lt = "stablehlo.compare"(%a, %b) <{comparison_direction = #stablehlo<comparison_direction LT>, compare_type = #stablehlo<comparison_type TOTALORDER>}> : (tensor<f32>, tensor<f32>) -> tensor<i1>
      "stablehlo.return"(%lt) : (tensor<i1>) -> ()
    }) : (tensor<5xf32>, tensor<5xi32>) -> (tensor<5xf32>, tensor<5xi32>)
    "batch.yield"(%s#0, %s#1) : (tensor<5xf32>, tensor<5xi32>) -> ()
  }) : (tensor<5x4xf32>) -> (tensor<4x5xf32>, tensor<4x5xi32>)
  func.return %r#0, %r#1 : tensor<4x5xf32>, tensor<4x5xi32>
}

// bitcast_convert: f32 -> u8 appends a minor dim after the batch axis; u8[5,4] -> f32
// consumes the minor dim, so a batch axis in last position moves to the front first.
// CHECK-LABEL: func.func @bitcast_convert(
// CHECK-NEXT: %r = "stablehlo.bitcast_convert"(%x) : (tensor<3x4xf32>) -> tensor<3x4x4xui8>
// CHECK-NEXT: %0 = batch.move_axis %y from 2 to 0 : (tensor<5x4x4xui8>) -> tensor<4x5x4xui8>
// CHECK-NEXT: %r_1 = "stablehlo.bitcast_convert"(%0) : (tensor<4x5x4xui8>) -> tensor<4x5xf32>
// CHECK-NEXT: func.return %r, %r_1 : tensor<3x4x4xui8>, tensor<4x5xf32>
// CHECK-NEXT: }
func.func @bitcast_convert(%x: tensor<3x4xf32>, %y: tensor<5x4x4xui8>) -> (tensor<3x4x4xui8>, tensor<4x5xf32>) {
  %r:2 = "batch.vmap"(%x, %y) <{in_axes = [1 : i64, 2 : i64], out_axes = [1 : i64, 0 : i64], axis_size = 4 : i64}> ({
  ^bb0(%v: tensor<3xf32>, %w: tensor<5x4xui8>):
    %n = "stablehlo.bitcast_convert"(%v) : (tensor<3xf32>) -> tensor<3x4xui8>
    %m = "stablehlo.bitcast_convert"(%w) : (tensor<5x4xui8>) -> tensor<5xf32>
    "batch.yield"(%n, %m) : (tensor<3x4xui8>, tensor<5xf32>) -> ()
  }) : (tensor<3x4xf32>, tensor<5x4x4xui8>) -> (tensor<3x4x4xui8>, tensor<4x5xf32>)
  func.return %r#0, %r#1 : tensor<3x4x4xui8>, tensor<4x5xf32>
}

// reduce with a per-example init: reduce with the body lifted to (value, valid) pairs
// from an invalid placeholder (0, false), then fold each init in once: body(init, partial).
// CHECK-LABEL: func.func @reduce_batched_init(
// CHECK-NEXT: %0 = "stablehlo.constant"() <{value = dense<true> : tensor<i1>}> : () -> tensor<i1>
// CHECK-NEXT: %1 = "stablehlo.broadcast_in_dim"(%0) <{broadcast_dimensions = array<i64>}> : (tensor<i1>) -> tensor<4x3xi1>
// CHECK-NEXT: %2 = "stablehlo.constant"() <{value = dense<0.000000e+00> : tensor<f32>}> : () -> tensor<f32>
// CHECK-NEXT: %3 = "stablehlo.constant"() <{value = dense<false> : tensor<i1>}> : () -> tensor<i1>
// CHECK-NEXT: %4, %5 = "stablehlo.reduce"(%x, %1, %2, %3) <{dimensions = array<i64: 1>}> ({
// CHECK-NEXT: ^bb0(%a: tensor<f32>, %6: tensor<i1>, %b: tensor<f32>, %7: tensor<i1>):
// CHECK-NEXT: %c = "stablehlo.add"(%a, %b) : (tensor<f32>, tensor<f32>) -> tensor<f32>
// CHECK-NEXT: %8 = "stablehlo.and"(%6, %7) : (tensor<i1>, tensor<i1>) -> tensor<i1>
// CHECK-NEXT: %9 = "stablehlo.or"(%6, %7) : (tensor<i1>, tensor<i1>) -> tensor<i1>
// CHECK-NEXT: %10 = "stablehlo.select"(%6, %a, %b) : (tensor<i1>, tensor<f32>, tensor<f32>) -> tensor<f32>
// CHECK-NEXT: %11 = "stablehlo.select"(%8, %c, %10) : (tensor<i1>, tensor<f32>, tensor<f32>) -> tensor<f32>
// CHECK-NEXT: "stablehlo.return"(%11, %9) : (tensor<f32>, tensor<i1>) -> ()
// CHECK-NEXT: }) : (tensor<4x3xf32>, tensor<4x3xi1>, tensor<f32>, tensor<i1>) -> (tensor<4xf32>, tensor<4xi1>)
// CHECK-NEXT: %12 = "stablehlo.broadcast_in_dim"(%i) <{broadcast_dimensions = array<i64: 0>}> : (tensor<4xf32>) -> tensor<4x1xf32>
// CHECK-NEXT: %13 = "stablehlo.reshape"(%4) : (tensor<4xf32>) -> tensor<4x1xf32>
// CHECK-NEXT: %14 = "stablehlo.concatenate"(%12, %13) <{dimension = 1 : i64}> : (tensor<4x1xf32>, tensor<4x1xf32>) -> tensor<4x2xf32>
// CHECK-NEXT: %15 = "stablehlo.constant"() <{value = dense<true> : tensor<i1>}> : () -> tensor<i1>
// CHECK-NEXT: %16 = "stablehlo.broadcast_in_dim"(%15) <{broadcast_dimensions = array<i64>}> : (tensor<i1>) -> tensor<4x1xi1>
// CHECK-NEXT: %17 = "stablehlo.reshape"(%5) : (tensor<4xi1>) -> tensor<4x1xi1>
// CHECK-NEXT: %18 = "stablehlo.concatenate"(%16, %17) <{dimension = 1 : i64}> : (tensor<4x1xi1>, tensor<4x1xi1>) -> tensor<4x2xi1>
// CHECK-NEXT: %19 = "stablehlo.constant"() <{value = dense<0.000000e+00> : tensor<f32>}> : () -> tensor<f32>
// CHECK-NEXT: %20 = "stablehlo.constant"() <{value = dense<false> : tensor<i1>}> : () -> tensor<i1>
// CHECK-NEXT: %r, %21 = "stablehlo.reduce"(%14, %18, %19, %20) <{dimensions = array<i64: 1>}> ({
// CHECK-NEXT: ^bb0(%a_1: tensor<f32>, %22: tensor<i1>, %b_1: tensor<f32>, %23: tensor<i1>):
// CHECK-NEXT: %c_1 = "stablehlo.add"(%a_1, %b_1) : (tensor<f32>, tensor<f32>) -> tensor<f32>
// CHECK-NEXT: %24 = "stablehlo.and"(%22, %23) : (tensor<i1>, tensor<i1>) -> tensor<i1>
// CHECK-NEXT: %25 = "stablehlo.or"(%22, %23) : (tensor<i1>, tensor<i1>) -> tensor<i1>
// CHECK-NEXT: %26 = "stablehlo.select"(%22, %a_1, %b_1) : (tensor<i1>, tensor<f32>, tensor<f32>) -> tensor<f32>
// CHECK-NEXT: %27 = "stablehlo.select"(%24, %c_1, %26) : (tensor<i1>, tensor<f32>, tensor<f32>) -> tensor<f32>
// CHECK-NEXT: "stablehlo.return"(%27, %25) : (tensor<f32>, tensor<i1>) -> ()
// CHECK-NEXT: }) : (tensor<4x2xf32>, tensor<4x2xi1>, tensor<f32>, tensor<i1>) -> (tensor<4xf32>, tensor<4xi1>)
// CHECK-NEXT: func.return %r : tensor<4xf32>
// CHECK-NEXT: }
func.func @reduce_batched_init(%x: tensor<4x3xf32>, %i: tensor<4xf32>) -> tensor<4xf32> {
  %r = "batch.vmap"(%x, %i) <{in_axes = [0 : i64, 0 : i64], out_axes = [0 : i64], axis_size = 4 : i64}> ({
  ^bb0(%v: tensor<3xf32>, %u: tensor<f32>):
    %s = "stablehlo.reduce"(%v, %u) <{dimensions = array<i64: 0>}> ({
    ^bb1(%a: tensor<f32>, %b: tensor<f32>):
      %c = "stablehlo.add"(%a, %b) : (tensor<f32>, tensor<f32>) -> tensor<f32>
      "stablehlo.return"(%c) : (tensor<f32>) -> ()
    }) : (tensor<3xf32>, tensor<f32>) -> tensor<f32>
    "batch.yield"(%s) : (tensor<f32>) -> ()
  }) : (tensor<4x3xf32>, tensor<4xf32>) -> tensor<4xf32>
  func.return %r : tensor<4xf32>
}

// optimization_barrier: each result keeps its operand (batched at 1, or uniform).
// CHECK-LABEL: func.func @barrier(
// CHECK-NEXT: %0, %r = "stablehlo.optimization_barrier"(%x, %w) : (tensor<3x4xf32>, tensor<3xf32>) -> (tensor<3x4xf32>, tensor<3xf32>)
// CHECK-NEXT: %r_1 = batch.move_axis %0 from 1 to 0 : (tensor<3x4xf32>) -> tensor<4x3xf32>
// CHECK-NEXT: func.return %r_1, %r : tensor<4x3xf32>, tensor<3xf32>
// CHECK-NEXT: }
func.func @barrier(%x: tensor<3x4xf32>, %w: tensor<3xf32>) -> (tensor<4x3xf32>, tensor<3xf32>) {
  %r:2 = "batch.vmap"(%x, %w) <{in_axes = [1 : i64, none], out_axes = [0 : i64, none], axis_size = 4 : i64}> ({
  ^bb0(%v: tensor<3xf32>, %u: tensor<3xf32>):
    %b:2 = "stablehlo.optimization_barrier"(%v, %u) : (tensor<3xf32>, tensor<3xf32>) -> (tensor<3xf32>, tensor<3xf32>)
    "batch.yield"(%b#0, %b#1) : (tensor<3xf32>, tensor<3xf32>) -> ()
  }) : (tensor<3x4xf32>, tensor<3xf32>) -> (tensor<4x3xf32>, tensor<3xf32>)
  func.return %r#0, %r#1 : tensor<4x3xf32>, tensor<3xf32>
}

// convolution (jnp.convolve), signal batched: the batch axis is folded into the conv's
// batch dim (minor), and split out of the result's batch dim again.
// CHECK-LABEL: func.func @convolve_signal_batched(
// CHECK-NEXT: %0 = "stablehlo.broadcast_in_dim"(%x) <{broadcast_dimensions = array<i64: 3, 0>}> : (tensor<5x4xf32>) -> tensor<4x1x1x5xf32>
// CHECK-NEXT: %1 = batch.move_axis %0 from 0 to 1 : (tensor<4x1x1x5xf32>) -> tensor<1x4x1x5xf32>
// CHECK-NEXT: %2 = "stablehlo.reshape"(%1) : (tensor<1x4x1x5xf32>) -> tensor<4x1x5xf32>
// CHECK-NEXT: %3 = "stablehlo.convolution"(%2, %w) <{batch_group_count = 1 : i64, dimension_numbers = #stablehlo.conv<[b, f, 0]x[o, i, 0]->[b, f, 0]>, feature_group_count = 1 : i64, lhs_dilation = array<i64: 1>, padding = dense<2> : tensor<1x2xi64>, rhs_dilation = array<i64: 1>, window_strides = array<i64: 1>}> : (tensor<4x1x5xf32>, tensor<1x1x3xf32>) -> tensor<4x1x7xf32>
// CHECK-NEXT: %4 = "stablehlo.reshape"(%3) : (tensor<4x1x7xf32>) -> tensor<1x4x1x7xf32>
// CHECK-NEXT: %5 = batch.move_axis %4 from 1 to 0 : (tensor<1x4x1x7xf32>) -> tensor<4x1x1x7xf32>
// CHECK-NEXT: %r = "stablehlo.reshape"(%5) : (tensor<4x1x1x7xf32>) -> tensor<4x7xf32>
// CHECK-NEXT: func.return %r : tensor<4x7xf32>
// CHECK-NEXT: }
// CHECK-NEXT: }
func.func @convolve_signal_batched(%x: tensor<5x4xf32>, %w: tensor<1x1x3xf32>) -> tensor<4x7xf32> {
  %r = "batch.vmap"(%x, %w) <{in_axes = [1 : i64, none], out_axes = [0 : i64], axis_size = 4 : i64}> ({
  ^bb0(%v: tensor<5xf32>, %k: tensor<1x1x3xf32>):
    %b = "stablehlo.broadcast_in_dim"(%v) <{broadcast_dimensions = array<i64: 2>}> : (tensor<5xf32>) -> tensor<1x1x5xf32>
    %c = "stablehlo.convolution"(%b, %k) <{batch_group_count = 1 : i64, dimension_numbers = #stablehlo.conv<[b, f, 0]x[o, i, 0]->[b, f, 0]>, feature_group_count = 1 : i64, lhs_dilation = array<i64: 1>, padding = dense<2> : tensor<1x2xi64>, rhs_dilation = array<i64: 1>, window_strides = array<i64: 1>}> : (tensor<1x1x5xf32>, tensor<1x1x3xf32>) -> tensor<1x1x7xf32>
    %s = "stablehlo.reshape"(%c) : (tensor<1x1x7xf32>) -> tensor<7xf32>
    "batch.yield"(%s) : (tensor<7xf32>) -> ()
  }) : (tensor<5x4xf32>, tensor<1x1x3xf32>) -> tensor<4x7xf32>
  func.return %r : tensor<4x7xf32>
}
