// RUN: vmlir-opt %s --split-input-file --verify-diagnostics --allow-unregistered-dialect | filecheck %s
// One case per verify_ error of the batch dialect.

%x = "test.op"() : () -> tensor<4x3xf32>
%r = "batch.vmap"(%x) <{in_axes = [0 : i64, 0 : i64], out_axes = [0 : i64], axis_size = 4 : i64}> ({
^bb0(%v: tensor<3xf32>):
  "batch.yield"(%v) : (tensor<3xf32>) -> ()
}) : (tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK: in_axes must name one axis (or none) per operand: 2 axes for 1 operands

// -----

%x = "test.op"() : () -> tensor<4x3xf32>
%r = "batch.vmap"(%x) <{in_axes = [2 : i64], out_axes = [0 : i64], axis_size = 4 : i64}> ({
^bb0(%v: tensor<3xf32>):
  "batch.yield"(%v) : (tensor<3xf32>) -> ()
}) : (tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK: in_axes[0] = 2 is out of range for operand of rank 2

// -----

%x = "test.op"() : () -> tensor<4x3xf32>
%r = "batch.vmap"(%x) <{in_axes = [0 : i64], out_axes = [0 : i64], axis_size = 5 : i64}> ({
^bb0(%v: tensor<3xf32>):
  "batch.yield"(%v) : (tensor<3xf32>) -> ()
}) : (tensor<4x3xf32>) -> tensor<5x3xf32>
// CHECK: operand 0 has size 4 on its mapped axis 0, but axis_size is 5

// -----

%x = "test.op"() : () -> tensor<4x3xf32>
%r = "batch.vmap"(%x) <{in_axes = [1 : i64], out_axes = [0 : i64], axis_size = 3 : i64}> ({
^bb0(%v: tensor<3xf32>):
  "batch.yield"(%v) : (tensor<3xf32>) -> ()
}) : (tensor<4x3xf32>) -> tensor<3x3xf32>
// CHECK: body argument 0 must be the per-example type tensor<4xf32>, got tensor<3xf32>

// -----

%x = "test.op"() : () -> tensor<4x3xf32>
%r = "batch.vmap"(%x) <{in_axes = [0 : i64], out_axes = [0 : i64], axis_size = 4 : i64}> ({
^bb0(%v: tensor<3xf32>, %w: tensor<3xf32>):
  "batch.yield"(%v) : (tensor<3xf32>) -> ()
}) : (tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK: body must take one argument per operand: 2 arguments for 1 operands

// -----

%x = "test.op"() : () -> tensor<4x3xf32>
%r = "batch.vmap"(%x) <{in_axes = [0 : i64], out_axes = [], axis_size = 4 : i64}> ({
^bb0(%v: tensor<3xf32>):
  "batch.yield"(%v) : (tensor<3xf32>) -> ()
}) : (tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK: out_axes must name one axis (or none) per result: 0 axes for 1 results

// -----

%x = "test.op"() : () -> tensor<4x3xf32>
%r:2 = "batch.vmap"(%x) <{in_axes = [0 : i64], out_axes = [0 : i64, 0 : i64], axis_size = 4 : i64}> ({
^bb0(%v: tensor<3xf32>):
  "batch.yield"(%v) : (tensor<3xf32>) -> ()
}) : (tensor<4x3xf32>) -> (tensor<4x3xf32>, tensor<4x3xf32>)
// CHECK: batch.yield yields 1 values for 2 results

// -----

%x = "test.op"() : () -> tensor<4x3xf32>
%r = "batch.vmap"(%x) <{in_axes = [0 : i64], out_axes = [2 : i64], axis_size = 4 : i64}> ({
^bb0(%v: tensor<3xf32>):
  "batch.yield"(%v) : (tensor<3xf32>) -> ()
}) : (tensor<4x3xf32>) -> tensor<3x4xf32>
// CHECK: out_axes[0] = 2 is out of range for a yielded value of rank 1

// -----

%x = "test.op"() : () -> tensor<4x3xf32>
%r = "batch.vmap"(%x) <{in_axes = [0 : i64], out_axes = [1 : i64], axis_size = 4 : i64}> ({
^bb0(%v: tensor<3xf32>):
  "batch.yield"(%v) : (tensor<3xf32>) -> ()
}) : (tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK: result 0 must have type tensor<3x4xf32>, got tensor<4x3xf32>

// -----

%x = "test.op"() : () -> tensor<4x3xf32>
%r = "batch.vmap"(%x) <{in_axes = ["zero"], out_axes = [0 : i64], axis_size = 4 : i64}> ({
^bb0(%v: tensor<3xf32>):
  "batch.yield"(%v) : (tensor<3xf32>) -> ()
}) : (tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK: in_axes entries must be integer axes or none, got "zero"

// -----

%x = "test.op"() : () -> tensor<4x3xf32>
%r = "batch.vmap"(%x) <{in_axes = [0 : i64], out_axes = [0 : i64], axis_size = -1 : i64}> ({
^bb0(%v: tensor<3xf32>):
  "batch.yield"(%v) : (tensor<3xf32>) -> ()
}) : (tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK: axis_size must be non-negative, got -1

// -----

%x = "test.op"() : () -> tensor<4x3xf32>
%r = "batch.vmap"(%x) <{in_axes = [0 : i64], out_axes = [0 : i64], axis_size = 4 : i64}> ({
^bb0(%v: tensor<3xf32>):
  "stablehlo.return"(%v) : (tensor<3xf32>) -> ()
}) : (tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK: body must end with batch.yield

// -----

%x = "test.op"() : () -> tensor<4x3xf32>
"batch.yield"(%x) : (tensor<4x3xf32>) -> ()
// CHECK: 'batch.yield' expects parent op 'batch.vmap', 'batch.masked' or 'batch.custom_vmap'

// -----

%x = "test.op"() : () -> tensor<4x3xf32>
%t = "batch.move_axis"(%x) <{source = 2 : i64, destination = 0 : i64}> : (tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK: axes must be in [0, 2) for an operand of rank 2, got from 2 to 0

// -----

%x = "test.op"() : () -> tensor<4x3xf32>
%t = "batch.move_axis"(%x) <{source = 0 : i64, destination = 1 : i64}> : (tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK: result must have type tensor<3x4xf32>, got tensor<4x3xf32>

// -----

%x = "test.op"() : () -> tensor<3xf32>
%t = "batch.broadcast"(%x) <{axis = 2 : i64, size = 4 : i64}> : (tensor<3xf32>) -> tensor<3x4xf32>
// CHECK: axis 2 is out of range for an operand of rank 1

// -----

%x = "test.op"() : () -> tensor<3xf32>
%t = "batch.broadcast"(%x) <{axis = 0 : i64, size = -2 : i64}> : (tensor<3xf32>) -> tensor<3xf32>
// CHECK: size must be non-negative, got -2

// -----

%x = "test.op"() : () -> tensor<3xf32>
%t = "batch.broadcast"(%x) <{axis = 1 : i64, size = 4 : i64}> : (tensor<3xf32>) -> tensor<4x3xf32>
// CHECK: result must have type tensor<3x4xf32>, got tensor<4x3xf32>

// -----

%x = "test.op"() : () -> tensor<4x3xf32>
%r = "batch.vmap"(%x) <{in_axes = [0 : i64], out_axes = [0 : i64], axis_size = 4 : i64, axis_name = "i", shard_mesh = "b=2"}> ({
^bb0(%v: tensor<3xf32>):
  "batch.yield"(%v) : (tensor<3xf32>) -> ()
}) : (tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK: shard_mesh and shard_axes go together

// -----

%x = "test.op"() : () -> tensor<4x3xf32>
%r = "batch.vmap"(%x) <{in_axes = [0 : i64], out_axes = [0 : i64], axis_size = 4 : i64, shard_mesh = "b=2", shard_axes = "b"}> ({
^bb0(%v: tensor<3xf32>):
  "batch.yield"(%v) : (tensor<3xf32>) -> ()
}) : (tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK: a sharded axis needs an axis_name

// -----

%x = "test.op"() : () -> tensor<4x3xf32>
%r = "batch.vmap"(%x) <{in_axes = [0 : i64], out_axes = [0 : i64], axis_size = 4 : i64, axis_name = "i", shard_mesh = "b:2", shard_axes = "b"}> ({
^bb0(%v: tensor<3xf32>):
  "batch.yield"(%v) : (tensor<3xf32>) -> ()
}) : (tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK: mesh must read like "b=8" or "b=4,m=2", got "b:2"

// -----

%x = "test.op"() : () -> tensor<4x3xf32>
%r = "batch.vmap"(%x) <{in_axes = [0 : i64], out_axes = [0 : i64], axis_size = 4 : i64, axis_name = "i", shard_mesh = "b=2", shard_axes = "m"}> ({
^bb0(%v: tensor<3xf32>):
  "batch.yield"(%v) : (tensor<3xf32>) -> ()
}) : (tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK: shard axes "m" must be distinct axes of the mesh "b=2"
