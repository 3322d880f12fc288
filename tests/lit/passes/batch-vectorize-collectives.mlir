// RUN: vmlir-opt %s -p batch-propagate-axes,batch-vectorize --print-op-generic | filecheck %s
// RUN: vmlir-opt %s -p batch-propagate-axes --print-op-generic | filecheck %s --check-prefix=AXES

// batch-vectorize with the rules of passes/rules/collectives.py: collectives over the
// vmap's own axis name become reductions, iotas, transposes and gathers over the batch axis.

// psum of a batched value: an add-reduction over the batch axis; the result is uniform.
// CHECK-LABEL: "func.func"() <{sym_name = "psum"
// CHECK: %0 = "stablehlo.constant"() <{value = dense<0.000000e+00> : tensor<f32>}> : () -> tensor<f32>
// CHECK-NEXT: %1 = "stablehlo.reduce"(%x, %0) <{dimensions = array<i64: 0>}> ({
// CHECK-NEXT: ^bb0(%2: tensor<f32>, %3: tensor<f32>):
// CHECK-NEXT: %4 = "stablehlo.add"(%2, %3) : (tensor<f32>, tensor<f32>) -> tensor<f32>
// CHECK-NEXT: "stablehlo.return"(%4) : (tensor<f32>) -> ()
// CHECK-NEXT: }) : (tensor<4x3xf32>, tensor<f32>) -> tensor<3xf32>
// CHECK-NEXT: %5 = "batch.broadcast"(%1) <{axis = 0 : i64, size = 4 : i64}> : (tensor<3xf32>) -> tensor<4x3xf32>
// CHECK-NEXT: %r = "stablehlo.divide"(%x, %5) : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK-NEXT: "func.return"(%r) : (tensor<4x3xf32>) -> ()
// AXES-LABEL: "func.func"() <{sym_name = "psum"
// AXES: "batch.psum"(%v) <{axes = ["i"]}> {batch.varying = array<i1: false>}
func.func @psum(%x: tensor<4x3xf32>) -> tensor<4x3xf32> {
  %r = "batch.vmap"(%x) <{axis_name = "i", axis_size = 4 : i64, in_axes = [0 : i64], out_axes = [0 : i64]}> ({
  ^bb0(%v: tensor<3xf32>):
    %s = batch.psum %v axes ["i"] : tensor<3xf32>
    %d = "stablehlo.divide"(%v, %s) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
    "batch.yield"(%d) : (tensor<3xf32>) -> ()
  }) : (tensor<4x3xf32>) -> tensor<4x3xf32>
  func.return %r : tensor<4x3xf32>
}

// psum of a value every example shares: axis_size x value.
// CHECK-LABEL: "func.func"() <{sym_name = "psum_uniform"
// CHECK: %0 = "stablehlo.constant"() <{value = dense<4.000000e+00> : tensor<f32>}> : () -> tensor<f32>
// CHECK-NEXT: %1 = "stablehlo.broadcast_in_dim"(%0) <{broadcast_dimensions = array<i64>}> : (tensor<f32>) -> tensor<3xf32>
// CHECK-NEXT: %r = "stablehlo.multiply"(%w, %1) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
// CHECK-NEXT: "func.return"(%r) : (tensor<3xf32>) -> ()
func.func @psum_uniform(%x: tensor<4x3xf32>, %w: tensor<3xf32>) -> tensor<3xf32> {
  %r = "batch.vmap"(%x, %w) <{axis_name = "i", axis_size = 4 : i64, in_axes = [0 : i64, none], out_axes = [none]}> ({
  ^bb0(%v: tensor<3xf32>, %u: tensor<3xf32>):
    %s = batch.psum %u axes ["i"] : tensor<3xf32>
    "batch.yield"(%s) : (tensor<3xf32>) -> ()
  }) : (tensor<4x3xf32>, tensor<3xf32>) -> tensor<3xf32>
  func.return %r : tensor<3xf32>
}

// pmax of an integer batched at axis 1: a max-reduction from the lowest i32.
// CHECK-LABEL: "func.func"() <{sym_name = "pmax_axis1"
// CHECK: %0 = "stablehlo.constant"() <{value = dense<-2147483648> : tensor<i32>}> : () -> tensor<i32>
// CHECK-NEXT: %r = "stablehlo.reduce"(%x, %0) <{dimensions = array<i64: 1>}> ({
// CHECK-NEXT: ^bb0(%1: tensor<i32>, %2: tensor<i32>):
// CHECK-NEXT: %3 = "stablehlo.maximum"(%1, %2) : (tensor<i32>, tensor<i32>) -> tensor<i32>
// CHECK-NEXT: "stablehlo.return"(%3) : (tensor<i32>) -> ()
// CHECK-NEXT: }) : (tensor<3x4xi32>, tensor<i32>) -> tensor<3xi32>
// CHECK-NEXT: "func.return"(%r) : (tensor<3xi32>) -> ()
func.func @pmax_axis1(%x: tensor<3x4xi32>) -> tensor<3xi32> {
  %r = "batch.vmap"(%x) <{axis_name = "i", axis_size = 4 : i64, in_axes = [1 : i64], out_axes = [none]}> ({
  ^bb0(%v: tensor<3xi32>):
    %s = batch.pmax %v axes ["i"] : tensor<3xi32>
    "batch.yield"(%s) : (tensor<3xi32>) -> ()
  }) : (tensor<3x4xi32>) -> tensor<3xi32>
  func.return %r : tensor<3xi32>
}

// axis_index: an iota along the batch axis.
// CHECK-LABEL: "func.func"() <{sym_name = "axis_index"
// CHECK: %r = "stablehlo.iota"() <{iota_dimension = 0 : i64}> : () -> tensor<4xi32>
// CHECK-NEXT: "func.return"(%r) : (tensor<4xi32>) -> ()
// AXES-LABEL: "func.func"() <{sym_name = "axis_index"
// AXES: "batch.axis_index"() <{axes = ["i"]}> {batch.varying = array<i1: true>}
func.func @axis_index(%x: tensor<4x3xf32>) -> tensor<4xi32> {
  %r = "batch.vmap"(%x) <{axis_name = "i", axis_size = 4 : i64, in_axes = [0 : i64], out_axes = [0 : i64]}> ({
  ^bb0(%v: tensor<3xf32>):
    %k = batch.axis_index axes ["i"] : tensor<i32>
    "batch.yield"(%k) : (tensor<i32>) -> ()
  }) : (tensor<4x3xf32>) -> tensor<4xi32>
  func.return %r : tensor<4xi32>
}

// all_gather at dim 1: the batch axis itself, moved there.
// CHECK-LABEL: "func.func"() <{sym_name = "all_gather"
// CHECK: %r = "batch.move_axis"(%x) <{source = 0 : i64, destination = 1 : i64}> : (tensor<4x3xf32>) -> tensor<3x4xf32>
// CHECK-NEXT: "func.return"(%r) : (tensor<3x4xf32>) -> ()
func.func @all_gather(%x: tensor<4x3xf32>) -> tensor<3x4xf32> {
  %r = "batch.vmap"(%x) <{axis_name = "i", axis_size = 4 : i64, in_axes = [0 : i64], out_axes = [none]}> ({
  ^bb0(%v: tensor<3xf32>):
    %g = batch.all_gather %v axes ["i"] dim 1 : (tensor<3xf32>) -> tensor<3x4xf32>
    "batch.yield"(%g) : (tensor<3x4xf32>) -> ()
  }) : (tensor<4x3xf32>) -> tensor<3x4xf32>
  func.return %r : tensor<3x4xf32>
}

// tiled psum_scatter: the sum, whose dim 0 is cut into one block per example.
// CHECK-LABEL: "func.func"() <{sym_name = "psum_scatter_tiled"
// CHECK: %0 = "stablehlo.constant"() <{value = dense<0.000000e+00> : tensor<f32>}> : () -> tensor<f32>
// CHECK-NEXT: %1 = "stablehlo.reduce"(%x, %0) <{dimensions = array<i64: 0>}> ({
// CHECK-NEXT: ^bb0(%2: tensor<f32>, %3: tensor<f32>):
// CHECK-NEXT: %4 = "stablehlo.add"(%2, %3) : (tensor<f32>, tensor<f32>) -> tensor<f32>
// CHECK-NEXT: "stablehlo.return"(%4) : (tensor<f32>) -> ()
// CHECK-NEXT: }) : (tensor<4x8xf32>, tensor<f32>) -> tensor<8xf32>
// CHECK-NEXT: %r = "stablehlo.reshape"(%1) : (tensor<8xf32>) -> tensor<4x2xf32>
// CHECK-NEXT: "func.return"(%r) : (tensor<4x2xf32>) -> ()
func.func @psum_scatter_tiled(%x: tensor<4x8xf32>) -> tensor<4x2xf32> {
  %r = "batch.vmap"(%x) <{axis_name = "i", axis_size = 4 : i64, in_axes = [0 : i64], out_axes = [0 : i64]}> ({
  ^bb0(%v: tensor<8xf32>):
    %c = batch.psum_scatter %v axes ["i"] dim 0 tiled : (tensor<8xf32>) -> tensor<2xf32>
    "batch.yield"(%c) : (tensor<2xf32>) -> ()
  }) : (tensor<4x8xf32>) -> tensor<4x2xf32>
  func.return %r : tensor<4x2xf32>
}

// ppermute k -> k+1: example dst gathers example src = dst-1.
// CHECK-LABEL: "func.func"() <{sym_name = "ppermute"
// CHECK: %0 = "stablehlo.constant"() <{value = dense<{{\[\[}}3], [0], [1], [2]]> : tensor<4x1xi32>}> : () -> tensor<4x1xi32>
// CHECK-NEXT: %r = "stablehlo.gather"(%x, %0) <{dimension_numbers = #stablehlo.gather<offset_dims = [1], collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = 1>, indices_are_sorted = false, slice_sizes = array<i64: 1, 3>}> : (tensor<4x3xf32>, tensor<4x1xi32>) -> tensor<4x3xf32>
// CHECK-NEXT: "func.return"(%r) : (tensor<4x3xf32>) -> ()
func.func @ppermute(%x: tensor<4x3xf32>) -> tensor<4x3xf32> {
  %r = "batch.vmap"(%x) <{axis_name = "i", axis_size = 4 : i64, in_axes = [0 : i64], out_axes = [0 : i64]}> ({
  ^bb0(%v: tensor<3xf32>):
    %p = batch.ppermute %v axes ["i"] perm [0, 1, 1, 2, 2, 3, 3, 0] : (tensor<3xf32>) -> tensor<3xf32>
    "batch.yield"(%p) : (tensor<3xf32>) -> ()
  }) : (tensor<4x3xf32>) -> tensor<4x3xf32>
  func.return %r : tensor<4x3xf32>
}

// all_to_all split 0 concat 1: the receivers (blocks of split) become the batch axis, the senders go before concat.
// CHECK-LABEL: "func.func"() <{sym_name = "all_to_all"
// CHECK: %0 = "stablehlo.reshape"(%x) : (tensor<4x4x2xf32>) -> tensor<4x4x1x2xf32>
// CHECK-NEXT: %1 = "stablehlo.transpose"(%0) <{permutation = array<i64: 1, 2, 0, 3>}> : (tensor<4x4x1x2xf32>) -> tensor<4x1x4x2xf32>
// CHECK-NEXT: %r = "stablehlo.reshape"(%1) : (tensor<4x1x4x2xf32>) -> tensor<4x1x8xf32>
// CHECK-NEXT: "func.return"(%r) : (tensor<4x1x8xf32>) -> ()
func.func @all_to_all(%x: tensor<4x4x2xf32>) -> tensor<4x1x8xf32> {
  %r = "batch.vmap"(%x) <{axis_name = "i", axis_size = 4 : i64, in_axes = [0 : i64], out_axes = [0 : i64]}> ({
  ^bb0(%v: tensor<4x2xf32>):
    %a = batch.all_to_all %v axes ["i"] split 0 concat 1 : (tensor<4x2xf32>) -> tensor<1x8xf32>
    "batch.yield"(%a) : (tensor<1x8xf32>) -> ()
  }) : (tensor<4x4x2xf32>) -> tensor<4x1x8xf32>
  func.return %r : tensor<4x1x8xf32>
}

// psum over ("i", "j") in the inner vmap: the inner vmap reduces j and leaves a psum over i, which the outer one reduces.
// CHECK-LABEL: "func.func"() <{sym_name = "nested"
// CHECK: %0 = "stablehlo.constant"() <{value = dense<0.000000e+00> : tensor<f32>}> : () -> tensor<f32>
// CHECK-NEXT: %1 = "stablehlo.reduce"(%x, %0) <{dimensions = array<i64: 1>}> ({
// CHECK-NEXT: ^bb0(%2: tensor<f32>, %3: tensor<f32>):
// CHECK-NEXT: %4 = "stablehlo.add"(%2, %3) : (tensor<f32>, tensor<f32>) -> tensor<f32>
// CHECK-NEXT: "stablehlo.return"(%4) : (tensor<f32>) -> ()
// CHECK-NEXT: }) : (tensor<4x3x2xf32>, tensor<f32>) -> tensor<4x2xf32>
// CHECK-NEXT: %5 = "stablehlo.constant"() <{value = dense<0.000000e+00> : tensor<f32>}> : () -> tensor<f32>
// CHECK-NEXT: %6 = "stablehlo.reduce"(%1, %5) <{dimensions = array<i64: 0>}> ({
// CHECK-NEXT: ^bb0(%7: tensor<f32>, %8: tensor<f32>):
// CHECK-NEXT: %9 = "stablehlo.add"(%7, %8) : (tensor<f32>, tensor<f32>) -> tensor<f32>
// CHECK-NEXT: "stablehlo.return"(%9) : (tensor<f32>) -> ()
// CHECK-NEXT: }) : (tensor<4x2xf32>, tensor<f32>) -> tensor<2xf32>
// CHECK-NEXT: %q = "batch.broadcast"(%6) <{axis = 0 : i64, size = 3 : i64}> : (tensor<2xf32>) -> tensor<3x2xf32>
// CHECK-NEXT: %r = "batch.broadcast"(%q) <{axis = 0 : i64, size = 4 : i64}> : (tensor<3x2xf32>) -> tensor<4x3x2xf32>
// CHECK-NEXT: "func.return"(%r) : (tensor<4x3x2xf32>) -> ()
// AXES-LABEL: "func.func"() <{sym_name = "nested"
// AXES: "batch.psum"(%w) <{axes = ["i", "j"]}> {batch.varying = array<i1: false>}
func.func @nested(%x: tensor<4x3x2xf32>) -> tensor<4x3x2xf32> {
  %r = "batch.vmap"(%x) <{axis_name = "i", axis_size = 4 : i64, in_axes = [0 : i64], out_axes = [0 : i64]}> ({
  ^bb0(%v: tensor<3x2xf32>):
    %q = "batch.vmap"(%v) <{axis_name = "j", axis_size = 3 : i64, in_axes = [0 : i64], out_axes = [0 : i64]}> ({
    ^bb1(%w: tensor<2xf32>):
      %s = batch.psum %w axes ["i", "j"] : tensor<2xf32>
      "batch.yield"(%s) : (tensor<2xf32>) -> ()
    }) : (tensor<3x2xf32>) -> tensor<3x2xf32>
    "batch.yield"(%q) : (tensor<3x2xf32>) -> ()
  }) : (tensor<4x3x2xf32>) -> tensor<4x3x2xf32>
  func.return %r : tensor<4x3x2xf32>
}

