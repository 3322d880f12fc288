// RUN: vmlir-opt %s --split-input-file --verify-diagnostics --allow-unregistered-dialect | filecheck %s
// One case per verify_ error of the named-axis collectives and batch.custom_vmap.
%x = "test.op"() : () -> tensor<4x3xf32>
%r = "batch.vmap"(%x) <{axis_name = "i", axis_size = 4 : i64, in_axes = [0 : i64], out_axes = [0 : i64]}> ({
^bb0(%v: tensor<3xf32>):
  %s = "batch.psum"(%v) <{axes = []}> : (tensor<3xf32>) -> tensor<3xf32>
  "batch.yield"(%v) : (tensor<3xf32>) -> ()
}) : (tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK: axes must name at least one axis

// -----

%x = "test.op"() : () -> tensor<4x3xf32>
%r = "batch.vmap"(%x) <{axis_name = "i", axis_size = 4 : i64, in_axes = [0 : i64], out_axes = [0 : i64]}> ({
^bb0(%v: tensor<3xf32>):
  %s = "batch.psum"(%v) <{axes = ["i", "i"]}> : (tensor<3xf32>) -> tensor<3xf32>
  "batch.yield"(%v) : (tensor<3xf32>) -> ()
}) : (tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK: axes must not repeat a name, got ['i', 'i']

// -----

%x = "test.op"() : () -> tensor<4x3xf32>
%r = "batch.vmap"(%x) <{axis_name = "i", axis_size = 4 : i64, in_axes = [0 : i64], out_axes = [0 : i64]}> ({
^bb0(%v: tensor<3xf32>):
  %s = "batch.psum"(%v) <{axes = ["k"]}> : (tensor<3xf32>) -> tensor<3xf32>
  "batch.yield"(%v) : (tensor<3xf32>) -> ()
}) : (tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK: axis name 'k' is not bound by an enclosing batch.vmap

// -----

%x = "test.op"() : () -> tensor<4x3xf32>
%r = "batch.vmap"(%x) <{axis_name = "i", axis_size = 4 : i64, in_axes = [0 : i64], out_axes = [0 : i64]}> ({
^bb0(%v: tensor<3xf32>):
  %k = "batch.axis_index"() <{axes = ["i", "j"]}> : () -> tensor<i32>
  "batch.yield"(%v) : (tensor<3xf32>) -> ()
}) : (tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK: batch.axis_index takes exactly one axis name, got ['i', 'j']

// -----

%x = "test.op"() : () -> tensor<4x3xf32>
%r = "batch.vmap"(%x) <{axis_name = "i", axis_size = 4 : i64, in_axes = [0 : i64], out_axes = [0 : i64]}> ({
^bb0(%v: tensor<3xf32>):
  %k = "batch.axis_index"() <{axes = ["i"]}> : () -> tensor<i64>
  "batch.yield"(%v) : (tensor<3xf32>) -> ()
}) : (tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK: result must be a tensor<i32>, got tensor<i64>

// -----

%x = "test.op"() : () -> tensor<4x3xf32>
%r = "batch.vmap"(%x) <{axis_name = "i", axis_size = 4 : i64, in_axes = [0 : i64], out_axes = [0 : i64]}> ({
^bb0(%v: tensor<3xf32>):
  %g = "batch.all_gather"(%v) <{axes = ["i"], dim = 2 : i64}> : (tensor<3xf32>) -> tensor<3x4xf32>
  "batch.yield"(%v) : (tensor<3xf32>) -> ()
}) : (tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK: dim 2 is out of range for an operand of rank 1

// -----

%x = "test.op"() : () -> tensor<4x3xf32>
%r = "batch.vmap"(%x) <{axis_name = "i", axis_size = 4 : i64, in_axes = [0 : i64], out_axes = [0 : i64]}> ({
^bb0(%v: tensor<3xf32>):
  %g = "batch.all_gather"(%v) <{axes = ["i"], dim = 1 : i64, tiled}> : (tensor<3xf32>) -> tensor<12xf32>
  "batch.yield"(%v) : (tensor<3xf32>) -> ()
}) : (tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK: dim 1 is out of range for an operand of rank 1

// -----

%x = "test.op"() : () -> tensor<4x3xf32>
%r = "batch.vmap"(%x) <{axis_name = "i", axis_size = 4 : i64, in_axes = [0 : i64], out_axes = [0 : i64]}> ({
^bb0(%v: tensor<3xf32>):
  %g = "batch.all_gather"(%v) <{axes = ["i"], dim = 0 : i64}> : (tensor<3xf32>) -> tensor<12xf32>
  "batch.yield"(%v) : (tensor<3xf32>) -> ()
}) : (tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK: result must have shape [4, 3], got [12]

// -----

%x = "test.op"() : () -> tensor<4x3xf32>
%r = "batch.vmap"(%x) <{axis_name = "i", axis_size = 4 : i64, in_axes = [0 : i64], out_axes = [0 : i64]}> ({
^bb0(%v: tensor<3xf32>):
  %c = "batch.psum_scatter"(%v) <{axes = ["i"], dim = 1 : i64}> : (tensor<3xf32>) -> tensor<f32>
  "batch.yield"(%v) : (tensor<3xf32>) -> ()
}) : (tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK: dim 1 is out of range for an operand of rank 1

// -----

%x = "test.op"() : () -> tensor<4x3xf32>
%r = "batch.vmap"(%x) <{axis_name = "i", axis_size = 4 : i64, in_axes = [0 : i64], out_axes = [0 : i64]}> ({
^bb0(%v: tensor<3xf32>):
  %c = "batch.psum_scatter"(%v) <{axes = ["i"], dim = 0 : i64}> : (tensor<3xf32>) -> tensor<f32>
  "batch.yield"(%v) : (tensor<3xf32>) -> ()
}) : (tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK: dimension 0 must have the axis size 4, got 3

// -----

%x = "test.op"() : () -> tensor<4x3xf32>
%r = "batch.vmap"(%x) <{axis_name = "i", axis_size = 4 : i64, in_axes = [0 : i64], out_axes = [0 : i64]}> ({
^bb0(%v: tensor<3xf32>):
  %c = "batch.psum_scatter"(%v) <{axes = ["i"], dim = 0 : i64, tiled}> : (tensor<3xf32>) -> tensor<1xf32>
  "batch.yield"(%v) : (tensor<3xf32>) -> ()
}) : (tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK: dimension 0 of size 3 does not split into 4 blocks

// -----

%x = "test.op"() : () -> tensor<4x3xf32>
%r = "batch.vmap"(%x) <{axis_name = "i", axis_size = 4 : i64, in_axes = [0 : i64], out_axes = [0 : i64]}> ({
^bb0(%v: tensor<3xf32>):
  %p = "batch.ppermute"(%v) <{axes = ["i"], perm = array<i64: 0, 1, 1>}> : (tensor<3xf32>) -> tensor<3xf32>
  "batch.yield"(%v) : (tensor<3xf32>) -> ()
}) : (tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK: perm must hold (source, destination) pairs

// -----

%x = "test.op"() : () -> tensor<4x3xf32>
%r = "batch.vmap"(%x) <{axis_name = "i", axis_size = 4 : i64, in_axes = [0 : i64], out_axes = [0 : i64]}> ({
^bb0(%v: tensor<3xf32>):
  %p = "batch.ppermute"(%v) <{axes = ["i"], perm = array<i64: 0, 1, 1, 0>}> : (tensor<3xf32>) -> tensor<3xf32>
  "batch.yield"(%v) : (tensor<3xf32>) -> ()
}) : (tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK: perm must be a permutation of the 4 examples of the axis, got [(0, 1), (1, 0)]

// -----

%x = "test.op"() : () -> tensor<4x3xf32>
%r = "batch.vmap"(%x) <{axis_name = "i", axis_size = 4 : i64, in_axes = [0 : i64], out_axes = [0 : i64]}> ({
^bb0(%v: tensor<3xf32>):
  %p = "batch.ppermute"(%v) <{axes = ["i"], perm = array<i64: 0, 1, 1, 2, 2, 3, 3, 0>}> : (tensor<3xf32>) -> tensor<3xf16>
  "batch.yield"(%v) : (tensor<3xf32>) -> ()
}) : (tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK: result must have type tensor<3xf32>, got tensor<3xf16>

// -----

%x = "test.op"() : () -> tensor<4x3xf32>
%r = "batch.vmap"(%x) <{axis_name = "i", axis_size = 4 : i64, in_axes = [0 : i64], out_axes = [0 : i64]}> ({
^bb0(%v: tensor<3xf32>):
  %a = "batch.all_to_all"(%v) <{axes = ["i"], split = 1 : i64, concat = 0 : i64}> : (tensor<3xf32>) -> tensor<3xf32>
  "batch.yield"(%v) : (tensor<3xf32>) -> ()
}) : (tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK: split 1 is out of range for an operand of rank 1

// -----

%x = "test.op"() : () -> tensor<4x3xf32>
%r = "batch.vmap"(%x) <{axis_name = "i", axis_size = 4 : i64, in_axes = [0 : i64], out_axes = [0 : i64]}> ({
^bb0(%v: tensor<3xf32>):
  %a = "batch.all_to_all"(%v) <{axes = ["i"], split = 0 : i64, concat = 1 : i64}> : (tensor<3xf32>) -> tensor<3xf32>
  "batch.yield"(%v) : (tensor<3xf32>) -> ()
}) : (tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK: concat 1 is out of range for an operand of rank 1

// -----

%x = "test.op"() : () -> tensor<4x3xf32>
%r = "batch.vmap"(%x) <{axis_name = "i", axis_size = 4 : i64, in_axes = [0 : i64], out_axes = [0 : i64]}> ({
^bb0(%v: tensor<3xf32>):
  %a = "batch.all_to_all"(%v) <{axes = ["i"], split = 0 : i64, concat = 0 : i64}> : (tensor<3xf32>) -> tensor<3xf32>
  "batch.yield"(%v) : (tensor<3xf32>) -> ()
}) : (tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK: dimension 0 of size 3 does not split into 4 blocks

// -----

%x = "test.op"() : () -> tensor<3x3xf32>
%r = "batch.vmap"(%x) <{axis_name = "i", axis_size = 3 : i64, in_axes = [0 : i64], out_axes = [0 : i64]}> ({
^bb0(%v: tensor<3xf32>):
  %a = "batch.all_to_all"(%v) <{axes = ["i"], split = 0 : i64, concat = 0 : i64}> : (tensor<3xf32>) -> tensor<1xf32>
  "batch.yield"(%v) : (tensor<3xf32>) -> ()
}) : (tensor<3x3xf32>) -> tensor<3x3xf32>
// CHECK: result must have shape [3], got [1]

// -----

%x = "test.op"() : () -> tensor<3xf32>
%r = "batch.custom_vmap"(%x) <{rule = "r#0"}> ({
^bb0(%y: tensor<2xf32>):
  "batch.yield"(%y) : (tensor<2xf32>) -> ()
}) : (tensor<3xf32>) -> tensor<2xf32>
// CHECK: body arguments must have the operand types

// -----

%x = "test.op"() : () -> tensor<3xf32>
%r = "batch.custom_vmap"(%x) <{rule = "r#0"}> ({
^bb0(%y: tensor<3xf32>):
  "stablehlo.return"(%y) : (tensor<3xf32>) -> ()
}) : (tensor<3xf32>) -> tensor<3xf32>
// CHECK: body must end with batch.yield

// -----

%x = "test.op"() : () -> tensor<3xf32>
%r = "batch.custom_vmap"(%x) <{rule = "r#0"}> ({
^bb0(%y: tensor<3xf32>):
  "batch.yield"(%y) : (tensor<3xf32>) -> ()
}) : (tensor<3xf32>) -> tensor<3xi32>
// CHECK: body must return the result types
