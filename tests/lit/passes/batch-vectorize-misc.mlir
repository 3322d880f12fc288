// RUN: vmlir-opt %s -p batch-propagate-axes,batch-vectorize | filecheck %s

// batch-vectorize with the rules of passes/rules/misc.py (and reduce with a per-example
// init value, contraction.py -> misc.reduce_with_batched_init).

// reverse: the reversed dims shift past the batch axis (1), which stays put.
// CHECK-LABEL: func.func @reverse_axis1(
// CHECK-NEXT: %r = stablehlo.reverse %x, dims = [0, 2] : tensor<3x4x2xf32>
// CHECK-NEXT: func.return %r : tensor<3x4x2xf32>
func.func @reverse_axis1(%x: tensor<3x4x2xf32>) -> tensor<3x4x2xf32> {
  %r = batch.vmap(%v = %x) in_axes [1] out_axes [1] size 4 : (tensor<3x4x2xf32>) -> tensor<3x4x2xf32> {
    %s = stablehlo.reverse %v, dims = [0, 1] : tensor<3x2xf32>
    batch.yield %s : tensor<3x2xf32>
  }
  func.return %r : tensor<3x4x2xf32>
}

// pad (negative low, interior): no padding along the batch axis, kept at 1.
// CHECK-LABEL: func.func @pad_axis1(
// CHECK-NEXT: %0 = stablehlo.pad %x, %p, low = [-1, 0], high = [2, 0], interior = [1, 0] : (tensor<5x4xf32>, tensor<f32>) -> tensor<10x4xf32>
// CHECK-NEXT: %r = batch.move_axis %0 from 1 to 0 : (tensor<10x4xf32>) -> tensor<4x10xf32>
// CHECK-NEXT: func.return %r : tensor<4x10xf32>
func.func @pad_axis1(%x: tensor<5x4xf32>, %p: tensor<f32>) -> tensor<4x10xf32> {
  %r = batch.vmap(%v = %x, %u = %p) in_axes [1, none] out_axes [0] size 4 : (tensor<5x4xf32>, tensor<f32>) -> tensor<4x10xf32> {
    %s = stablehlo.pad %v, %u, low = [-1], high = [2], interior = [1] : (tensor<5xf32>, tensor<f32>) -> tensor<10xf32>
    batch.yield %s : tensor<10xf32>
  }
  func.return %r : tensor<4x10xf32>
}

// pad with a per-example value: pad with 0, pad an all-true mask with false,
// select the broadcast values where the mask is false (JAX's way).
// CHECK-LABEL: func.func @pad_batched_value(
// CHECK-NEXT: %0 = stablehlo.constant dense<0.000000e+00> : tensor<f32>
// CHECK-NEXT: %1 = stablehlo.pad %x, %0, low = [0, 0], high = [0, 1], interior = [0, 0] : (tensor<4x3xf32>, tensor<f32>) -> tensor<4x4xf32>
// CHECK-NEXT: %2 = stablehlo.constant dense<true> : tensor<i1>
// CHECK-NEXT: %3 = stablehlo.broadcast_in_dim %2, dims = [] : (tensor<i1>) -> tensor<4x3xi1>
// CHECK-NEXT: %4 = stablehlo.constant dense<false> : tensor<i1>
// CHECK-NEXT: %5 = stablehlo.pad %3, %4, low = [0, 0], high = [0, 1], interior = [0, 0] : (tensor<4x3xi1>, tensor<i1>) -> tensor<4x4xi1>
// CHECK-NEXT: %6 = stablehlo.broadcast_in_dim %p, dims = [0] : (tensor<4xf32>) -> tensor<4x4xf32>
// CHECK-NEXT: %r = stablehlo.select %5, %1, %6 : tensor<4x4xi1>, tensor<4x4xf32>
// CHECK-NEXT: func.return %r : tensor<4x4xf32>
func.func @pad_batched_value(%x: tensor<4x3xf32>, %p: tensor<4xf32>) -> tensor<4x4xf32> {
  %r = batch.vmap(%v = %x, %u = %p) in_axes [0, 0] out_axes [0] size 4 : (tensor<4x3xf32>, tensor<4xf32>) -> tensor<4x4xf32> {
    %s = stablehlo.pad %v, %u, low = [0], high = [1], interior = [0] : (tensor<3xf32>, tensor<f32>) -> tensor<4xf32>
    batch.yield %s : tensor<4xf32>
  }
  func.return %r : tensor<4x4xf32>
}

// reduce_window (jnp.cumsum): a window of 1 along the batch axis, no padding there.
// CHECK-LABEL: func.func @cumsum_axis1(
// CHECK-NEXT: %z = stablehlo.constant dense<0.000000e+00> : tensor<f32>
// CHECK-NEXT: %r = "stablehlo.reduce_window"(%x, %z) <{base_dilations = array<i64: 1, 1>, padding = dense<[[4, 0], [0, 0]]> : tensor<2x2xi64>, window_dilations = array<i64: 1, 1>, window_dimensions = array<i64: 5, 1>, window_strides = array<i64: 1, 1>}> ({
// CHECK-NEXT: ^bb0(%a: tensor<f32>, %b: tensor<f32>):
// CHECK-NEXT: %c = stablehlo.add %a, %b : tensor<f32>
// CHECK-NEXT: stablehlo.return %c : tensor<f32>
// CHECK-NEXT: }) : (tensor<5x4xf32>, tensor<f32>) -> tensor<5x4xf32>
// CHECK-NEXT: func.return %r : tensor<5x4xf32>
func.func @cumsum_axis1(%x: tensor<5x4xf32>) -> tensor<5x4xf32> {
  %r = batch.vmap(%v = %x) in_axes [1] out_axes [1] size 4 : (tensor<5x4xf32>) -> tensor<5x4xf32> {
    %z = stablehlo.constant dense<0.000000e+00> : tensor<f32>
    %s = "stablehlo.reduce_window"(%v, %z) <{base_dilations = array<i64: 1>, padding = dense<[[4, 0]]> : tensor<1x2xi64>, window_dilations = array<i64: 1>, window_dimensions = array<i64: 5>, window_strides = array<i64: 1>}> ({
    ^bb0(%a: tensor<f32>, %b: tensor<f32>):
      %c = stablehlo.add %a, %b : tensor<f32>
      stablehlo.return %c : tensor<f32>
    }) : (tensor<5xf32>, tensor<f32>) -> tensor<5xf32>
    batch.yield %s : tensor<5xf32>
  }
  func.return %r : tensor<5x4xf32>
}

// sort of (x, iota) (jnp.argsort): the uniform iota is broadcast to x's batch axis; the
// sort dimension is shifted past it (here it stays 0); the comparator is unchanged.
// CHECK-LABEL: func.func @argsort_two_operands(
// CHECK-NEXT: %i = stablehlo.iota dim = 0 : tensor<5xi32>
// CHECK-NEXT: %0 = batch.broadcast %i axis 1 size 4 : (tensor<5xi32>) -> tensor<5x4xi32>
// CHECK-NEXT: %1, %2 = "stablehlo.sort"(%x, %0) <{dimension = 0 : i64, is_stable = true}> ({
// CHECK-NEXT: ^bb0(%a: tensor<f32>, %b: tensor<f32>, %c: tensor<i32>, %d: tensor<i32>):
// CHECK-NEXT: %lt = stablehlo.compare LT, %a, %b, TOTALORDER : (tensor<f32>, tensor<f32>) -> tensor<i1>
// CHECK-NEXT: stablehlo.return %lt : tensor<i1>
// CHECK-NEXT: }) : (tensor<5x4xf32>, tensor<5x4xi32>) -> (tensor<5x4xf32>, tensor<5x4xi32>)
// CHECK-NEXT: %r = batch.move_axis %1 from 1 to 0 : (tensor<5x4xf32>) -> tensor<4x5xf32>
// CHECK-NEXT: %r_1 = batch.move_axis %2 from 1 to 0 : (tensor<5x4xi32>) -> tensor<4x5xi32>
// CHECK-NEXT: func.return %r, %r_1 : tensor<4x5xf32>, tensor<4x5xi32>
func.func @argsort_two_operands(%x: tensor<5x4xf32>) -> (tensor<4x5xf32>, tensor<4x5xi32>) {
  %r, %r_1 = batch.vmap(%v = %x) in_axes [1] out_axes [0, 0] size 4 : (tensor<5x4xf32>) -> (tensor<4x5xf32>, tensor<4x5xi32>) {
    %i = stablehlo.iota dim = 0 : tensor<5xi32>
    %s, %s_1 = "stablehlo.sort"(%v, %i) <{dimension = 0 : i64, is_stable = true}> ({
    ^bb0(%a: tensor<f32>, %b: tensor<f32>, %c: tensor<i32>, %d: tensor<i32>):
      %lt = stablehlo.compare LT, %a, %b, TOTALORDER : (tensor<f32>, tensor<f32>) -> tensor<i1>
      stablehlo.return %lt : tensor<i1>
    }) : (tensor<5xf32>, tensor<5xi32>) -> (tensor<5xf32>, tensor<5xi32>)
    batch.yield %s, %s_1 : tensor<5xf32>, tensor<5xi32>
  }
  func.return %r, %r_1 : tensor<4x5xf32>, tensor<4x5xi32>
}

// bitcast_convert: f32 -> u8 appends a minor dim after the batch axis; u8[5,4] -> f32
// consumes the minor dim, so a batch axis in last position moves to the front first.
// CHECK-LABEL: func.func @bitcast_convert(
// CHECK-NEXT: %r = stablehlo.bitcast_convert %x : (tensor<3x4xf32>) -> tensor<3x4x4xui8>
// CHECK-NEXT: %0 = batch.move_axis %y from 2 to 0 : (tensor<5x4x4xui8>) -> tensor<4x5x4xui8>
// CHECK-NEXT: %r_1 = stablehlo.bitcast_convert %0 : (tensor<4x5x4xui8>) -> tensor<4x5xf32>
// CHECK-NEXT: func.return %r, %r_1 : tensor<3x4x4xui8>, tensor<4x5xf32>
func.func @bitcast_convert(%x: tensor<3x4xf32>, %y: tensor<5x4x4xui8>) -> (tensor<3x4x4xui8>, tensor<4x5xf32>) {
  %r, %r_1 = batch.vmap(%v = %x, %w = %y) in_axes [1, 2] out_axes [1, 0] size 4 : (tensor<3x4xf32>, tensor<5x4x4xui8>) -> (tensor<3x4x4xui8>, tensor<4x5xf32>) {
    %n = stablehlo.bitcast_convert %v : (tensor<3xf32>) -> tensor<3x4xui8>
    %m = stablehlo.bitcast_convert %w : (tensor<5x4xui8>) -> tensor<5xf32>
    batch.yield %n, %m : tensor<3x4xui8>, tensor<5xf32>
  }
  func.return %r, %r_1 : tensor<3x4x4xui8>, tensor<4x5xf32>
}

// reduce with a per-example init: reduce with the body lifted to (value, valid) pairs
// from an invalid placeholder (0, false), then fold each init in once: body(init, partial).
// CHECK-LABEL: func.func @reduce_batched_init(
// CHECK-NEXT: %0 = stablehlo.constant dense<true> : tensor<i1>
// CHECK-NEXT: %1 = stablehlo.broadcast_in_dim %0, dims = [] : (tensor<i1>) -> tensor<4x3xi1>
// CHECK-NEXT: %2 = stablehlo.constant dense<0.000000e+00> : tensor<f32>
// CHECK-NEXT: %3 = stablehlo.constant dense<false> : tensor<i1>
// CHECK-NEXT: %4, %5 = stablehlo.reduce(%x init: %2), (%1 init: %3) across dimensions = [1] : (tensor<4x3xf32>, tensor<4x3xi1>, tensor<f32>, tensor<i1>) -> (tensor<4xf32>, tensor<4xi1>)
// CHECK-NEXT: reducer(%6: tensor<f32>, %7: tensor<f32>) (%8: tensor<i1>, %9: tensor<i1>)  {
// CHECK-NEXT: %10 = stablehlo.add %6, %7 : tensor<f32>
// CHECK-NEXT: %11 = stablehlo.and %8, %9 : tensor<i1>
// CHECK-NEXT: %12 = stablehlo.or %8, %9 : tensor<i1>
// CHECK-NEXT: %13 = stablehlo.select %8, %6, %7 : tensor<i1>, tensor<f32>
// CHECK-NEXT: %14 = stablehlo.select %11, %10, %13 : tensor<i1>, tensor<f32>
// CHECK-NEXT: stablehlo.return %14, %12 : tensor<f32>, tensor<i1>
// CHECK-NEXT: }
// CHECK-NEXT: %15 = stablehlo.broadcast_in_dim %i, dims = [0] : (tensor<4xf32>) -> tensor<4x1xf32>
// CHECK-NEXT: %16 = stablehlo.reshape %4 : (tensor<4xf32>) -> tensor<4x1xf32>
// CHECK-NEXT: %17 = stablehlo.concatenate %15, %16, dim = 1 : (tensor<4x1xf32>, tensor<4x1xf32>) -> tensor<4x2xf32>
// CHECK-NEXT: %18 = stablehlo.constant dense<true> : tensor<i1>
// CHECK-NEXT: %19 = stablehlo.broadcast_in_dim %18, dims = [] : (tensor<i1>) -> tensor<4x1xi1>
// CHECK-NEXT: %20 = stablehlo.reshape %5 : (tensor<4xi1>) -> tensor<4x1xi1>
// CHECK-NEXT: %21 = stablehlo.concatenate %19, %20, dim = 1 : (tensor<4x1xi1>, tensor<4x1xi1>) -> tensor<4x2xi1>
// CHECK-NEXT: %22 = stablehlo.constant dense<0.000000e+00> : tensor<f32>
// CHECK-NEXT: %23 = stablehlo.constant dense<false> : tensor<i1>
// CHECK-NEXT: %r, %24 = stablehlo.reduce(%17 init: %22), (%21 init: %23) across dimensions = [1] : (tensor<4x2xf32>, tensor<4x2xi1>, tensor<f32>, tensor<i1>) -> (tensor<4xf32>, tensor<4xi1>)
// CHECK-NEXT: reducer(%25: tensor<f32>, %26: tensor<f32>) (%27: tensor<i1>, %28: tensor<i1>)  {
// CHECK-NEXT: %29 = stablehlo.add %25, %26 : tensor<f32>
// CHECK-NEXT: %30 = stablehlo.and %27, %28 : tensor<i1>
// CHECK-NEXT: %31 = stablehlo.or %27, %28 : tensor<i1>
// CHECK-NEXT: %32 = stablehlo.select %27, %25, %26 : tensor<i1>, tensor<f32>
// CHECK-NEXT: %33 = stablehlo.select %30, %29, %32 : tensor<i1>, tensor<f32>
// CHECK-NEXT: stablehlo.return %33, %31 : tensor<f32>, tensor<i1>
// CHECK-NEXT: }
// CHECK-NEXT: func.return %r : tensor<4xf32>
func.func @reduce_batched_init(%x: tensor<4x3xf32>, %i: tensor<4xf32>) -> tensor<4xf32> {
  %r = batch.vmap(%v = %x, %u = %i) in_axes [0, 0] out_axes [0] size 4 : (tensor<4x3xf32>, tensor<4xf32>) -> tensor<4xf32> {
    %s = stablehlo.reduce(%v init: %u) applies stablehlo.add across dimensions = [0] : (tensor<3xf32>, tensor<f32>) -> tensor<f32>
    batch.yield %s : tensor<f32>
  }
  func.return %r : tensor<4xf32>
}

// optimization_barrier: each result keeps its operand (batched at 1, or uniform).
// CHECK-LABEL: func.func @barrier(
// CHECK-NEXT: %0, %r = "stablehlo.optimization_barrier"(%x, %w) : (tensor<3x4xf32>, tensor<3xf32>) -> (tensor<3x4xf32>, tensor<3xf32>)
// CHECK-NEXT: %r_1 = batch.move_axis %0 from 1 to 0 : (tensor<3x4xf32>) -> tensor<4x3xf32>
// CHECK-NEXT: func.return %r_1, %r : tensor<4x3xf32>, tensor<3xf32>
func.func @barrier(%x: tensor<3x4xf32>, %w: tensor<3xf32>) -> (tensor<4x3xf32>, tensor<3xf32>) {
  %r, %r_1 = batch.vmap(%v = %x, %u = %w) in_axes [1, none] out_axes [0, none] size 4 : (tensor<3x4xf32>, tensor<3xf32>) -> (tensor<4x3xf32>, tensor<3xf32>) {
    %b, %b_1 = "stablehlo.optimization_barrier"(%v, %u) : (tensor<3xf32>, tensor<3xf32>) -> (tensor<3xf32>, tensor<3xf32>)
    batch.yield %b, %b_1 : tensor<3xf32>, tensor<3xf32>
  }
  func.return %r, %r_1 : tensor<4x3xf32>, tensor<3xf32>
}

// convolution (jnp.convolve), signal batched: the batch axis is folded into the conv's
// batch dim (minor), and split out of the result's batch dim again.
// CHECK-LABEL: func.func @convolve_signal_batched(
// CHECK-NEXT: %0 = stablehlo.broadcast_in_dim %x, dims = [3, 0] : (tensor<5x4xf32>) -> tensor<4x1x1x5xf32>
// CHECK-NEXT: %1 = batch.move_axis %0 from 0 to 1 : (tensor<4x1x1x5xf32>) -> tensor<1x4x1x5xf32>
// CHECK-NEXT: %2 = stablehlo.reshape %1 : (tensor<1x4x1x5xf32>) -> tensor<4x1x5xf32>
// CHECK-NEXT: %3 = "stablehlo.convolution"(%2, %w) <{batch_group_count = 1 : i64, dimension_numbers = #stablehlo.conv<[b, f, 0]x[o, i, 0]->[b, f, 0]>, feature_group_count = 1 : i64, lhs_dilation = array<i64: 1>, padding = dense<2> : tensor<1x2xi64>, rhs_dilation = array<i64: 1>, window_strides = array<i64: 1>}> : (tensor<4x1x5xf32>, tensor<1x1x3xf32>) -> tensor<4x1x7xf32>
// CHECK-NEXT: %4 = stablehlo.reshape %3 : (tensor<4x1x7xf32>) -> tensor<1x4x1x7xf32>
// CHECK-NEXT: %5 = batch.move_axis %4 from 1 to 0 : (tensor<1x4x1x7xf32>) -> tensor<4x1x1x7xf32>
// CHECK-NEXT: %r = stablehlo.reshape %5 : (tensor<4x1x1x7xf32>) -> tensor<4x7xf32>
// CHECK-NEXT: func.return %r : tensor<4x7xf32>
func.func @convolve_signal_batched(%x: tensor<5x4xf32>, %w: tensor<1x1x3xf32>) -> tensor<4x7xf32> {
  %r = batch.vmap(%v = %x, %k = %w) in_axes [1, none] out_axes [0] size 4 : (tensor<5x4xf32>, tensor<1x1x3xf32>) -> tensor<4x7xf32> {
    %b = stablehlo.broadcast_in_dim %v, dims = [2] : (tensor<5xf32>) -> tensor<1x1x5xf32>
    %c = "stablehlo.convolution"(%b, %k) <{batch_group_count = 1 : i64, dimension_numbers = #stablehlo.conv<[b, f, 0]x[o, i, 0]->[b, f, 0]>, feature_group_count = 1 : i64, lhs_dilation = array<i64: 1>, padding = dense<2> : tensor<1x2xi64>, rhs_dilation = array<i64: 1>, window_strides = array<i64: 1>}> : (tensor<1x1x5xf32>, tensor<1x1x3xf32>) -> tensor<1x1x7xf32>
    %s = stablehlo.reshape %c : (tensor<1x1x7xf32>) -> tensor<7xf32>
    batch.yield %s : tensor<7xf32>
  }
  func.return %r : tensor<4x7xf32>
}
