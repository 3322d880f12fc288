// RUN: vmlir-opt %s --split-input-file --allow-unregistered-dialect -p 'batch-shard{mesh="b=4,m=2" axis="b"}' --print-op-generic | filecheck %s
// RUN: vmlir-opt %s --split-input-file --allow-unregistered-dialect -p 'batch-shard{mesh="b=4,m=2" axis="b,m"}' --print-op-generic | filecheck %s --check-prefix=TWO
// RUN: vmlir-opt %s --split-input-file --allow-unregistered-dialect -p 'batch-shard{mesh="b=4,m=2" axis="b"},batch-propagate-axes,batch-mask-control-flow,batch-chunk,batch-vectorize,batch-fuse,batch-lower' --print-op-generic | vmlir-translate --to-jaxlib | filecheck %s --check-prefix=JAXLIB

// batch-shard splits the batch axis over the mesh axis `b` (4 devices): the mesh is
// declared, and the vmap runs inside a Shardy manual computation over `b` on 16 / 4 = 4
// local examples. The mapped operand and result are sharded on their batch dimension,
// the unmapped operand is replicated; the function keeps its global signature.
// CHECK: "sdy.mesh"() <{mesh = #sdy.mesh<["b"=4, "m"=2]>, sym_name = "mesh"}> : () -> ()
// CHECK-LABEL: sym_name = "main"
// CHECK: ^bb0(%x: tensor<16x2xf32>, %w: tensor<2xf32>):
// CHECK-NEXT: %r = "sdy.manual_computation"(%x, %w) <{in_shardings = #sdy.sharding_per_value<[<@mesh, [{"b"}, {}]>, <@mesh, [{}]>]>, out_shardings = #sdy.sharding_per_value<[<@mesh, [{"b"}]>]>, manual_axes = #sdy<manual_axes{"b"}>}> ({
// CHECK-NEXT: ^bb0(%0: tensor<4x2xf32>, %1: tensor<2xf32>):
// CHECK-NEXT: %2 = "batch.vmap"(%0, %1) <{in_axes = [0 : i64, none], out_axes = [0 : i64], axis_size = 4 : i64}> ({
// CHECK: "batch.yield"(%s) : (tensor<f32>) -> ()
// CHECK-NEXT: }) : (tensor<4x2xf32>, tensor<2xf32>) -> tensor<4xf32>
// CHECK-NEXT: "sdy.return"(%2) : (tensor<4xf32>) -> ()
// CHECK-NEXT: }) : (tensor<16x2xf32>, tensor<2xf32>) -> tensor<16xf32>
// CHECK-NEXT: "func.return"(%r) : (tensor<16xf32>) -> ()

// Over both mesh axes: 8 shards of 2 examples.
// TWO: manual_axes = #sdy<manual_axes{"b", "m"}>
// TWO: "batch.vmap"(%0, %1) <{in_axes = [0 : i64, none], out_axes = [0 : i64], axis_size = 2 : i64}>

// After the whole pipeline, jaxlib reads the module: the manual computation holds the
// vectorized program at the local batch size.
// JAXLIB: "sdy.mesh"() <{mesh = #sdy.mesh<["b"=4, "m"=2]>, sym_name = "mesh"}> : () -> ()
// JAXLIB: "sdy.manual_computation"({{.*}}) <{in_shardings = #sdy.sharding_per_value<[<@mesh, [{"b"}, {}]>, <@mesh, [{}]>]>, manual_axes = #sdy<manual_axes{"b"}>, out_shardings = #sdy.sharding_per_value<[<@mesh, [{"b"}]>]>}> ({
// JAXLIB-NEXT: ^bb0({{.*}}: tensor<4x2xf32>, {{.*}}: tensor<2xf32>):
// JAXLIB: "stablehlo.multiply"({{.*}}) : (tensor<4x2xf32>, tensor<4x2xf32>) -> tensor<4x2xf32>
// JAXLIB: "sdy.return"({{.*}}) : (tensor<4xf32>) -> ()
func.func @main(%x: tensor<16x2xf32>, %w: tensor<2xf32>) -> tensor<16xf32> {
  %r = "batch.vmap"(%x, %w) <{axis_size = 16 : i64, in_axes = [0 : i64, none], out_axes = [0 : i64]}> ({
  ^bb0(%a: tensor<2xf32>, %b: tensor<2xf32>):
    %m = "stablehlo.multiply"(%a, %b) : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
    %c = "stablehlo.constant"() <{value = dense<0.0> : tensor<f32>}> : () -> tensor<f32>
    %s = "stablehlo.reduce"(%m, %c) <{dimensions = array<i64: 0>}> ({
    ^bb1(%p: tensor<f32>, %q: tensor<f32>):
      %t = "stablehlo.add"(%p, %q) : (tensor<f32>, tensor<f32>) -> tensor<f32>
      "stablehlo.return"(%t) : (tensor<f32>) -> ()
    }) : (tensor<2xf32>, tensor<f32>) -> tensor<f32>
    "batch.yield"(%s) : (tensor<f32>) -> ()
  }) : (tensor<16x2xf32>, tensor<2xf32>) -> tensor<16xf32>
  func.return %r : tensor<16xf32>
}

// -----

// out_axes = 1 shards the result's second dimension; an unmapped result is replicated.
// CHECK-LABEL: sym_name = "outer"
// CHECK: "sdy.manual_computation"(%x) <{in_shardings = #sdy.sharding_per_value<[<@mesh, [{"b"}, {}]>]>, out_shardings = #sdy.sharding_per_value<[<@mesh, [{}, {"b"}]>, <@mesh, []>]>, manual_axes = #sdy<manual_axes{"b"}>}> ({
// CHECK-NEXT: ^bb0(%0: tensor<2x3xf32>):
// CHECK-NEXT: %1, %2 = "batch.vmap"(%0) <{in_axes = [0 : i64], out_axes = [1 : i64, none], axis_size = 2 : i64}> ({
// CHECK: }) : (tensor<2x3xf32>) -> (tensor<3x2xf32>, tensor<f32>)
// CHECK-NEXT: "sdy.return"(%1, %2) : (tensor<3x2xf32>, tensor<f32>) -> ()
// CHECK-NEXT: }) : (tensor<8x3xf32>) -> (tensor<3x8xf32>, tensor<f32>)
func.func @outer(%x: tensor<8x3xf32>) -> (tensor<3x8xf32>, tensor<f32>) {
  %r, %u = "batch.vmap"(%x) <{axis_size = 8 : i64, in_axes = [0 : i64], out_axes = [1 : i64, none]}> ({
  ^bb0(%v: tensor<3xf32>):
    %k = "stablehlo.constant"() <{value = dense<1.0> : tensor<f32>}> : () -> tensor<f32>
    "batch.yield"(%v, %k) : (tensor<3xf32>, tensor<f32>) -> ()
  }) : (tensor<8x3xf32>) -> (tensor<3x8xf32>, tensor<f32>)
  func.return %r, %u : tensor<3x8xf32>, tensor<f32>
}

// -----

// A vmap with an axis_name keeps it inside, marked as one shard of the mesh, so that its
// psum still sums every shard's examples: after the pipeline, a local reduction and an
// all_reduce over the devices along "b" (one group per position on "m").
// CHECK-LABEL: sym_name = "named"
// CHECK: "batch.vmap"(%0) <{in_axes = [0 : i64], out_axes = [0 : i64], axis_size = 2 : i64, axis_name = "i", shard_mesh = "b=4,m=2", shard_axes = "b"}> ({
// TWO-LABEL: sym_name = "named"
// TWO: "batch.vmap"(%0) <{in_axes = [0 : i64], out_axes = [0 : i64], axis_size = 1 : i64, axis_name = "i", shard_mesh = "b=4,m=2", shard_axes = "b,m"}> ({
// JAXLIB-LABEL: sym_name = "named"
// JAXLIB: "stablehlo.reduce"
// JAXLIB: "stablehlo.all_reduce"({{.*}}) <{channel_handle = #stablehlo.channel_handle<handle = 1, type = 1>, replica_groups = dense<{{\[\[}}0, 2, 4, 6], [1, 3, 5, 7]]> : tensor<2x4xi64>, use_global_device_ids}>
// JAXLIB: "stablehlo.divide"
func.func @named(%x: tensor<8x3xf32>) -> tensor<8x3xf32> {
  %r = batch.vmap(%v = %x) in_axes [0] out_axes [0] size 8 name "i" : (tensor<8x3xf32>) -> tensor<8x3xf32> {
    %s = batch.psum %v axes ["i"] : tensor<3xf32>
    %d = stablehlo.divide %v, %s : tensor<3xf32>
    batch.yield %d : tensor<3xf32>
  }
  func.return %r : tensor<8x3xf32>
}

// RUN: vmlir-opt %S/Inputs/vmap-left.mlir --allow-unregistered-dialect --verify-diagnostics -p 'batch-shard{mesh="b=3" axis="b"}' | filecheck %s --check-prefix=UNEVEN
// UNEVEN: batch-shard: a batch of 4 does not split into 3 equal shards
// RUN: vmlir-opt %S/Inputs/vmap-left.mlir --allow-unregistered-dialect --verify-diagnostics -p 'batch-shard{mesh="b" axis="b"}' | filecheck %s --check-prefix=MESH
// MESH: batch-shard: mesh must read like "b=8" or "b=4,m=2", got 'b'
// RUN: vmlir-opt %S/Inputs/vmap-left.mlir --allow-unregistered-dialect --verify-diagnostics -p 'batch-shard{mesh="b=4" axis="x"}' | filecheck %s --check-prefix=AXIS
// AXIS: batch-shard: axis must name axes of the mesh 'b=4', got 'x'
