// RUN: vmlir-opt %s --split-input-file --verify-diagnostics -p batch-ragged | filecheck %s

// batch-ragged on the ops that read along the ragged axis in order (padded size 8).

// A cumulative sum (a reduce_window whose window spans the axis) gets its init value in
// the padding, as a reduction does.
// CHECK-LABEL: func.func @cumsum(
// CHECK: batch.vmap(%v = %x, %len = %n) in_axes [0, 0] out_axes [0] size 4 : (tensor<4x8xf32>, tensor<4xi32>) -> tensor<4x8xf32> {
// CHECK-NEXT: %z = stablehlo.constant dense<0.000000e+00> : tensor<f32>
// CHECK-NEXT: %[[BOUND:.*]] = stablehlo.broadcast_in_dim %len, dims = [] : (tensor<i32>) -> tensor<8xi32>
// CHECK-NEXT: %[[IOTA:.*]] = stablehlo.iota dim = 0 : tensor<8xi32>
// CHECK-NEXT: %[[VALID:.*]] = stablehlo.compare LT, %[[IOTA]], %[[BOUND]], SIGNED
// CHECK-NEXT: %[[INIT:.*]] = stablehlo.broadcast_in_dim %z, dims = [] : (tensor<f32>) -> tensor<8xf32>
// CHECK-NEXT: %[[IN:.*]] = stablehlo.select %[[VALID]], %v, %[[INIT]] : tensor<8xi1>, tensor<8xf32>
// CHECK-NEXT: %s = "stablehlo.reduce_window"(%[[IN]], %z)
func.func @cumsum(%x: tensor<4x8xf32>, %n: tensor<4xi32>) -> tensor<4x8xf32> {
  %r = batch.vmap(%v = %x, %len = %n) in_axes [0, 0] out_axes [0] size 4 ragged [0, none] : (tensor<4x8xf32>, tensor<4xi32>) -> tensor<4x8xf32> {
    %z = stablehlo.constant dense<0.000000e+00> : tensor<f32>
    %s = "stablehlo.reduce_window"(%v, %z) <{padding = dense<[[7, 0]]> : tensor<1x2xi64>, window_dimensions = array<i64: 8>, window_strides = array<i64: 1>}> ({
    ^bb0(%a: tensor<f32>, %b: tensor<f32>):
      %c = stablehlo.add %a, %b : tensor<f32>
      stablehlo.return %c : tensor<f32>
    }) : (tensor<8xf32>, tensor<f32>) -> tensor<8xf32>
    batch.yield %s : tensor<8xf32>
  }
  func.return %r : tensor<4x8xf32>
}

// -----

// reverse puts the padding first: rotate it back behind the example, by a dynamic slice
// of two copies starting at 8 - length.
// CHECK-LABEL: func.func @reverse(
// CHECK: %[[ZERO:.*]] = stablehlo.constant dense<0> : tensor<i32>
// CHECK-NEXT: %[[REV:.*]] = stablehlo.reverse %v, dims = [0] : tensor<8x3xf32>
// CHECK-NEXT: %[[TWICE:.*]] = stablehlo.concatenate %[[REV]], %[[REV]], dim = 0 : (tensor<8x3xf32>, tensor<8x3xf32>) -> tensor<16x3xf32>
// CHECK-NEXT: %[[P:.*]] = stablehlo.constant dense<8> : tensor<i32>
// CHECK-NEXT: %[[SHIFT:.*]] = stablehlo.subtract %[[P]], %len : tensor<i32>
// CHECK-NEXT: %[[OUT:.*]] = stablehlo.dynamic_slice %[[TWICE]], %[[SHIFT]], %[[ZERO]], sizes = [8, 3]
// CHECK-NEXT: batch.yield %[[OUT]] : tensor<8x3xf32>
func.func @reverse(%x: tensor<4x8x3xf32>, %n: tensor<4xi32>) -> tensor<4x8x3xf32> {
  %r = batch.vmap(%v = %x, %len = %n) in_axes [0, 0] out_axes [0] size 4 ragged [0, none] : (tensor<4x8x3xf32>, tensor<4xi32>) -> tensor<4x8x3xf32> {
    %s = stablehlo.reverse %v, dims = [0] : tensor<8x3xf32>
    batch.yield %s : tensor<8x3xf32>
  }
  func.return %r : tensor<4x8x3xf32>
}

// -----

// A dynamic slice (x[-1] after the frontend, a scan's x[i]) clamps its start to
// length - size, as it would at the true size; the fixed dimension is left alone.
// CHECK-LABEL: func.func @dynamic_slice(
// CHECK: %[[ONE:.*]] = stablehlo.constant dense<1> : tensor<i32>
// CHECK-NEXT: %[[LAST:.*]] = stablehlo.subtract %len, %[[ONE]] : tensor<i32>
// CHECK-NEXT: %[[START:.*]] = stablehlo.minimum %i, %[[LAST]] : tensor<i32>
// CHECK-NEXT: %s = stablehlo.dynamic_slice %v, %[[START]], %zero, sizes = [1, 3]
func.func @dynamic_slice(%x: tensor<4x8x3xf32>, %k: tensor<4xi32>, %n: tensor<4xi32>) -> tensor<4x1x3xf32> {
  %r = batch.vmap(%v = %x, %i = %k, %len = %n) in_axes [0, 0, 0] out_axes [0] size 4 ragged [0, none, none] : (tensor<4x8x3xf32>, tensor<4xi32>, tensor<4xi32>) -> tensor<4x1x3xf32> {
    %zero = stablehlo.constant dense<0> : tensor<i32>
    %s = stablehlo.dynamic_slice %v, %i, %zero, sizes = [1, 3] : (tensor<8x3xf32>, tensor<i32>, tensor<i32>) -> tensor<1x3xf32>
    batch.yield %s : tensor<1x3xf32>
  }
  func.return %r : tensor<4x1x3xf32>
}

// -----

// sort (ascending, stable, total order) fills the padding of its key with NaN, which
// sorts last; the payload (argsort's iota) is left alone.
// CHECK-LABEL: func.func @argsort(
// CHECK: %[[NAN:.*]] = stablehlo.constant dense<0x7fc00000> : tensor<f32>
// CHECK: %[[FILL:.*]] = stablehlo.broadcast_in_dim %[[NAN]], dims = [] : (tensor<f32>) -> tensor<8xf32>
// CHECK-NEXT: %[[KEY:.*]] = stablehlo.select %{{.*}}, %v, %[[FILL]] : tensor<8xi1>, tensor<8xf32>
// CHECK-NEXT: %s, %s_1 = "stablehlo.sort"(%[[KEY]], %iota)
func.func @argsort(%x: tensor<4x8xf32>, %n: tensor<4xi32>) -> tensor<4x8xi32> {
  %r = batch.vmap(%v = %x, %len = %n) in_axes [0, 0] out_axes [0] size 4 ragged [0, none] : (tensor<4x8xf32>, tensor<4xi32>) -> tensor<4x8xi32> {
    %iota = stablehlo.iota dim = 0 : tensor<8xi32>
    %s:2 = "stablehlo.sort"(%v, %iota) <{dimension = 0 : i64, is_stable = true}> ({
    ^bb0(%a: tensor<f32>, %b: tensor<f32>, %c: tensor<i32>, %d: tensor<i32>):
      %lt = stablehlo.compare LT, %a, %b, TOTALORDER : (tensor<f32>, tensor<f32>) -> tensor<i1>
      stablehlo.return %lt : tensor<i1>
    }) : (tensor<8xf32>, tensor<8xi32>) -> (tensor<8xf32>, tensor<8xi32>)
    batch.yield %s#1 : tensor<8xi32>
  }
  func.return %r : tensor<4x8xi32>
}

// -----

// top_k fills the padding with -inf: it is never among the k largest of a long enough
// example (the API checks each example has at least k elements).
// CHECK-LABEL: func.func @top_k(
// CHECK: %[[LOW:.*]] = stablehlo.constant dense<0xff800000> : tensor<f32>
// CHECK: %[[IN:.*]] = stablehlo.select %{{.*}}, %v, %{{.*}} : tensor<8xi1>, tensor<8xf32>
// CHECK-NEXT: %values, %indices = "chlo.top_k"(%[[IN]]) <{k = 2 : i64}>
func.func @top_k(%x: tensor<4x8xf32>, %n: tensor<4xi32>) -> tensor<4x2xf32> {
  %r = batch.vmap(%v = %x, %len = %n) in_axes [0, 0] out_axes [0] size 4 ragged [0, none] : (tensor<4x8xf32>, tensor<4xi32>) -> tensor<4x2xf32> {
    %values, %indices = "chlo.top_k"(%v) <{k = 2 : i64}> : (tensor<8xf32>) -> (tensor<2xf32>, tensor<2xi32>)
    batch.yield %values : tensor<2xf32>
  }
  func.return %r : tensor<4x2xf32>
}

// -----

// A convolution along the ragged axis sees zeros past the end, as at the true size.
// CHECK-LABEL: func.func @convolution(
// CHECK: %[[IN:.*]] = stablehlo.select %{{.*}}, %v, %{{.*}} : tensor<1x1x8xi1>, tensor<1x1x8xf32>
// CHECK-NEXT: %c = "stablehlo.convolution"(%[[IN]], %k)
func.func @convolution(%x: tensor<4x1x1x8xf32>, %w: tensor<1x1x3xf32>, %n: tensor<4xi32>) -> tensor<4x1x1x8xf32> {
  %r = batch.vmap(%v = %x, %k = %w, %len = %n) in_axes [0, none, 0] out_axes [0] size 4 ragged [2, none, none] : (tensor<4x1x1x8xf32>, tensor<1x1x3xf32>, tensor<4xi32>) -> tensor<4x1x1x8xf32> {
    %c = "stablehlo.convolution"(%v, %k) <{batch_group_count = 1 : i64, dimension_numbers = #stablehlo.conv<[b, f, 0]x[o, i, 0]->[b, f, 0]>, feature_group_count = 1 : i64, padding = dense<[[1, 1]]> : tensor<1x2xi64>, window_strides = array<i64: 1>}> : (tensor<1x1x8xf32>, tensor<1x1x3xf32>) -> tensor<1x1x8xf32>
    batch.yield %c : tensor<1x1x8xf32>
  }
  func.return %r : tensor<4x1x1x8xf32>
}

// -----

// A sort with a comparator other than a stable ascending one is refused.
func.func @descending_sort(%x: tensor<4x8xf32>, %n: tensor<4xi32>) -> tensor<4x8xf32> {
  %r = batch.vmap(%v = %x, %len = %n) in_axes [0, 0] out_axes [0] size 4 ragged [0, none] : (tensor<4x8xf32>, tensor<4xi32>) -> tensor<4x8xf32> {
    %s = "stablehlo.sort"(%v) <{dimension = 0 : i64, is_stable = true}> ({
    ^bb0(%a: tensor<f32>, %b: tensor<f32>):
      %gt = stablehlo.compare GT, %a, %b, TOTALORDER : (tensor<f32>, tensor<f32>) -> tensor<i1>
      stablehlo.return %gt : tensor<i1>
    }) : (tensor<8xf32>) -> tensor<8xf32>
    batch.yield %s : tensor<8xf32>
  }
  func.return %r : tensor<4x8xf32>
}
// CHECK: ragged vmap: 'stablehlo.sort' sorts along the ragged axis with a comparator other than a stable ascending one on its first operand

// -----

// A pad growing a fixed head to the padded size (JAX's transpose of x[0]) is left
// alone: the example's rows past the head hold the pad value, as at the true size.
// CHECK-LABEL: func.func @head_pad(
// CHECK: %p = stablehlo.pad %v, %z, low = [0, 0], high = [7, 0], interior = [0, 0] : (tensor<1x3xf32>, tensor<f32>) -> tensor<8x3xf32>
// CHECK-NEXT: %s = stablehlo.add %p, %u : tensor<8x3xf32>
func.func @head_pad(%y: tensor<4x8x3xf32>, %x: tensor<4x1x3xf32>, %n: tensor<4xi32>) -> tensor<4x8x3xf32> {
  %r = batch.vmap(%u = %y, %v = %x, %len = %n) in_axes [0, 0, 0] out_axes [0] size 4 ragged [0, none, none] : (tensor<4x8x3xf32>, tensor<4x1x3xf32>, tensor<4xi32>) -> tensor<4x8x3xf32> {
    %z = stablehlo.constant dense<0.000000e+00> : tensor<f32>
    %p = stablehlo.pad %v, %z, low = [0, 0], high = [7, 0], interior = [0, 0] : (tensor<1x3xf32>, tensor<f32>) -> tensor<8x3xf32>
    %s = stablehlo.add %p, %u : tensor<8x3xf32>
    batch.yield %s : tensor<8x3xf32>
  }
  func.return %r : tensor<4x8x3xf32>
}

// -----

// A gather from the ragged operand (x[idx], jnp.median) clamps its start indices along
// the ragged dimension to length - slice size, as the gather does at the true size.
// CHECK-LABEL: func.func @gather(
// CHECK: %[[ONE:.*]] = stablehlo.constant dense<1> : tensor<i32>
// CHECK-NEXT: %[[LAST:.*]] = stablehlo.subtract %len, %[[ONE]] : tensor<i32>
// CHECK-NEXT: %[[BOUND:.*]] = stablehlo.broadcast_in_dim %[[LAST]], dims = [] : (tensor<i32>) -> tensor<2x1xi32>
// CHECK-NEXT: %[[IDX:.*]] = stablehlo.minimum %i, %[[BOUND]] : tensor<2x1xi32>
// CHECK-NEXT: %g = "stablehlo.gather"(%v, %[[IDX]])
func.func @gather(%x: tensor<4x8x3xf32>, %k: tensor<4x2x1xi32>, %n: tensor<4xi32>) -> tensor<4x2x3xf32> {
  %r = batch.vmap(%v = %x, %i = %k, %len = %n) in_axes [0, 0, 0] out_axes [0] size 4 ragged [0, none, none] : (tensor<4x8x3xf32>, tensor<4x2x1xi32>, tensor<4xi32>) -> tensor<4x2x3xf32> {
    %g = "stablehlo.gather"(%v, %i) <{dimension_numbers = #stablehlo.gather<offset_dims = [1], collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = 1>, slice_sizes = array<i64: 1, 3>}> : (tensor<8x3xf32>, tensor<2x1xi32>) -> tensor<2x3xf32>
    batch.yield %g : tensor<2x3xf32>
  }
  func.return %r : tensor<4x2x3xf32>
}

// -----

// A scan over the ragged axis (`while i < len`, i stepped by one) runs in step: a new
// counter up to the padded size, the old predicate guards every carry, and the row read
// at the new counter needs no clamp (its result is kept only while i < len).
// CHECK-LABEL: func.func @scan(
// CHECK: %{{.*}}, %{{.*}}, %[[H:.*]], %{{.*}} = stablehlo.while(%xs = %v, %i = %i0, %h = %z, %[[T:.*]] = %i0)
// CHECK-NEXT: cond {
// CHECK-NEXT: %[[P:.*]] = stablehlo.constant dense<8> : tensor<i32>
// CHECK-NEXT: %[[GO:.*]] = stablehlo.compare LT, %[[T]], %[[P]], SIGNED
// CHECK-NEXT: stablehlo.return %[[GO]] : tensor<i1>
// CHECK-NEXT: } do {
// CHECK-NEXT: %[[KEEP:.*]] = stablehlo.compare LT, %i, %len, SIGNED
// CHECK-NEXT: %zero = stablehlo.constant dense<0> : tensor<i32>
// CHECK-NEXT: %row = stablehlo.dynamic_slice %xs, %[[T]], %zero, sizes = [1, 3]
// CHECK-NEXT: %r3 = stablehlo.reshape %row
// CHECK-NEXT: %s = stablehlo.add %h, %r3 : tensor<3xf32>
// CHECK-NEXT: %one = stablehlo.constant dense<1> : tensor<i32>
// CHECK-NEXT: %next = stablehlo.add %[[T]], %one : tensor<i32>
// CHECK-NEXT: %[[I:.*]] = stablehlo.select %[[KEEP]], %next, %i : tensor<i1>, tensor<i32>
// CHECK-NEXT: %[[S:.*]] = stablehlo.select %[[KEEP]], %s, %h : tensor<i1>, tensor<3xf32>
// CHECK-NEXT: %[[ONE:.*]] = stablehlo.constant dense<1> : tensor<i32>
// CHECK-NEXT: %[[STEP:.*]] = stablehlo.add %[[T]], %[[ONE]] : tensor<i32>
// CHECK-NEXT: stablehlo.return %xs, %[[I]], %[[S]], %[[STEP]]
// CHECK: batch.yield %[[H]] : tensor<3xf32>
func.func @scan(%x: tensor<4x8x3xf32>, %n: tensor<4xi32>) -> tensor<4x3xf32> {
  %r = batch.vmap(%v = %x, %len = %n) in_axes [0, 0] out_axes [0] size 4 ragged [0, none] : (tensor<4x8x3xf32>, tensor<4xi32>) -> tensor<4x3xf32> {
    %z = stablehlo.constant dense<0.000000e+00> : tensor<3xf32>
    %i0 = stablehlo.constant dense<0> : tensor<i32>
    %w:3 = stablehlo.while(%xs = %v, %i = %i0, %h = %z) : tensor<8x3xf32>, tensor<i32>, tensor<3xf32>
    cond {
      %c = stablehlo.compare LT, %i, %len, SIGNED : (tensor<i32>, tensor<i32>) -> tensor<i1>
      stablehlo.return %c : tensor<i1>
    } do {
      %zero = stablehlo.constant dense<0> : tensor<i32>
      %row = stablehlo.dynamic_slice %xs, %i, %zero, sizes = [1, 3] : (tensor<8x3xf32>, tensor<i32>, tensor<i32>) -> tensor<1x3xf32>
      %r3 = stablehlo.reshape %row : (tensor<1x3xf32>) -> tensor<3xf32>
      %s = stablehlo.add %h, %r3 : tensor<3xf32>
      %one = stablehlo.constant dense<1> : tensor<i32>
      %next = stablehlo.add %i, %one : tensor<i32>
      stablehlo.return %xs, %next, %s : tensor<8x3xf32>, tensor<i32>, tensor<3xf32>
    }
    batch.yield %w#2 : tensor<3xf32>
  }
  func.return %r : tensor<4x3xf32>
}

// -----

// The same scan with a loop in its body stays a masked loop with clamped reads: run in
// step, its steps past the length would run the inner loop on the padding.
// CHECK-LABEL: func.func @scan_of_a_loop(
// CHECK: stablehlo.while(%xs = %v, %i = %i0, %h = %z) : tensor<8x3xf32>, tensor<i32>, tensor<3xf32> attributes {batch.strategy = "mask"}
// CHECK: %[[LAST:.*]] = stablehlo.subtract %len, %{{.*}} : tensor<i32>
// CHECK-NEXT: %[[AT:.*]] = stablehlo.minimum %i, %[[LAST]] : tensor<i32>
// CHECK-NEXT: %row = stablehlo.dynamic_slice %xs, %[[AT]], %zero, sizes = [1, 3]
func.func @scan_of_a_loop(%x: tensor<4x8x3xf32>, %n: tensor<4xi32>) -> tensor<4x3xf32> {
  %r = batch.vmap(%v = %x, %len = %n) in_axes [0, 0] out_axes [0] size 4 ragged [0, none] : (tensor<4x8x3xf32>, tensor<4xi32>) -> tensor<4x3xf32> {
    %z = stablehlo.constant dense<0.000000e+00> : tensor<3xf32>
    %i0 = stablehlo.constant dense<0> : tensor<i32>
    %w:3 = stablehlo.while(%xs = %v, %i = %i0, %h = %z) : tensor<8x3xf32>, tensor<i32>, tensor<3xf32>
    cond {
      %c = stablehlo.compare LT, %i, %len, SIGNED : (tensor<i32>, tensor<i32>) -> tensor<i1>
      stablehlo.return %c : tensor<i1>
    } do {
      %zero = stablehlo.constant dense<0> : tensor<i32>
      %row = stablehlo.dynamic_slice %xs, %i, %zero, sizes = [1, 3] : (tensor<8x3xf32>, tensor<i32>, tensor<i32>) -> tensor<1x3xf32>
      %r3 = stablehlo.reshape %row : (tensor<1x3xf32>) -> tensor<3xf32>
      %half:1 = stablehlo.while(%u = %r3) : tensor<3xf32>
      cond {
        %big = stablehlo.constant dense<1.000000e+00> : tensor<3xf32>
        %gt = stablehlo.compare GT, %u, %big, FLOAT : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xi1>
        %f = stablehlo.constant dense<false> : tensor<i1>
        %any = stablehlo.reduce(%gt init: %f) applies stablehlo.or across dimensions = [0] : (tensor<3xi1>, tensor<i1>) -> tensor<i1>
        stablehlo.return %any : tensor<i1>
      } do {
        %two = stablehlo.constant dense<2.000000e+00> : tensor<3xf32>
        %d = stablehlo.divide %u, %two : tensor<3xf32>
        stablehlo.return %d : tensor<3xf32>
      }
      %s = stablehlo.add %h, %half#0 : tensor<3xf32>
      %one = stablehlo.constant dense<1> : tensor<i32>
      %next = stablehlo.add %i, %one : tensor<i32>
      stablehlo.return %xs, %next, %s : tensor<8x3xf32>, tensor<i32>, tensor<3xf32>
    }
    batch.yield %w#2 : tensor<3xf32>
  }
  func.return %r : tensor<4x3xf32>
}
