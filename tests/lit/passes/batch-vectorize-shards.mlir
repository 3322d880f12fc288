// RUN: vmlir-opt %s -p batch-propagate-axes,batch-vectorize | filecheck %s
// RUN: vmlir-opt %s | filecheck %s --check-prefix=ROUND

// A vmap holding one shard of a batch split over a device mesh (`shards "b" of "b=4,m=2"`,
// what vmlir.compile builds for each device under jax.shard_map when the batch is sharded
// and the vmap has an axis_name): its collectives first reduce or gather the local lanes,
// then reach the other shards through StableHLO's cross-device collectives, over the
// devices along the shard axes (jax's replica groups: flat device indices in the mesh).

// psum: the local reduction, then an all_reduce over the devices along "b" (one group per
// position on "m").
// ROUND-LABEL: func.func @psum
// ROUND: batch.vmap(%v = %x) in_axes [0] out_axes [0] size 4 name "i" shards "b" of "b=4,m=2" : (tensor<4x3xf32>) -> tensor<4x3xf32> {
// CHECK-LABEL: func.func @psum
// CHECK: %1 = stablehlo.reduce(%x init: %0) applies stablehlo.add across dimensions = [0] : (tensor<4x3xf32>, tensor<f32>) -> tensor<3xf32>
// CHECK-NEXT: %2 = "stablehlo.all_reduce"(%1) <{replica_groups = dense<{{\[\[}}0, 2, 4, 6], [1, 3, 5, 7]]> : tensor<2x4xi64>, channel_handle = #stablehlo.channel_handle<handle = 1, type = 1>, use_global_device_ids}> ({
// CHECK-NEXT: ^bb0(%3: tensor<f32>, %4: tensor<f32>):
// CHECK-NEXT: %5 = stablehlo.add %3, %4 : tensor<f32>
// CHECK-NEXT: stablehlo.return %5 : tensor<f32>
// CHECK-NEXT: }) : (tensor<3xf32>) -> tensor<3xf32>
// CHECK-NEXT: %6 = batch.broadcast %2 axis 0 size 4 : (tensor<3xf32>) -> tensor<4x3xf32>
// CHECK-NEXT: %r = stablehlo.divide %x, %6 : tensor<4x3xf32>
func.func @psum(%x: tensor<4x3xf32>) -> tensor<4x3xf32> {
  %r = batch.vmap(%v = %x) in_axes [0] out_axes [0] size 4 name "i" shards "b" of "b=4,m=2" : (tensor<4x3xf32>) -> tensor<4x3xf32> {
    %s = batch.psum %v axes ["i"] : tensor<3xf32>
    %d = stablehlo.divide %v, %s : tensor<3xf32>
    batch.yield %d : tensor<3xf32>
  }
  func.return %r : tensor<4x3xf32>
}

// psum of a value every example shares: the whole axis's size (4 lanes x 4 shards), no
// collective.
// CHECK-LABEL: func.func @psum_uniform
// CHECK: %0 = stablehlo.constant dense<1.600000e+01> : tensor<f32>
// CHECK-NEXT: %1 = stablehlo.broadcast_in_dim %0, dims = [] : (tensor<f32>) -> tensor<3xf32>
// CHECK-NEXT: %r = stablehlo.multiply %w, %1 : tensor<3xf32>
// CHECK-NEXT: func.return %r : tensor<3xf32>
func.func @psum_uniform(%x: tensor<4x3xf32>, %w: tensor<3xf32>) -> tensor<3xf32> {
  %r = batch.vmap(%v = %x, %u = %w) in_axes [0, none] out_axes [none] size 4 name "i" shards "b" of "b=4" : (tensor<4x3xf32>, tensor<3xf32>) -> tensor<3xf32> {
    %s = batch.psum %u axes ["i"] : tensor<3xf32>
    batch.yield %s : tensor<3xf32>
  }
  func.return %r : tensor<3xf32>
}

// axis_index: the local iota plus this device's first example, its shard index (from its
// partition id: over "b" then "m", "b" major) times the 4 lanes a shard holds.
// CHECK-LABEL: func.func @index
// CHECK: %0 = stablehlo.iota dim = 0 : tensor<4xi32>
// CHECK-NEXT: %1 = "stablehlo.partition_id"() : () -> tensor<ui32>
// CHECK-NEXT: %2 = stablehlo.convert %1 : (tensor<ui32>) -> tensor<i32>
// CHECK-NEXT: %3 = stablehlo.constant dense<2> : tensor<i32>
// CHECK-NEXT: %4 = stablehlo.divide %2, %3 : tensor<i32>
// CHECK-NEXT: %5 = stablehlo.constant dense<4> : tensor<i32>
// CHECK-NEXT: %6 = stablehlo.remainder %4, %5 : tensor<i32>
// CHECK-NEXT: %7 = stablehlo.constant dense<2> : tensor<i32>
// CHECK-NEXT: %8 = stablehlo.multiply %6, %7 : tensor<i32>
// CHECK: %15 = stablehlo.add %8, %14 : tensor<i32>
// CHECK-NEXT: %16 = stablehlo.constant dense<4> : tensor<i32>
// CHECK-NEXT: %17 = stablehlo.multiply %15, %16 : tensor<i32>
// CHECK-NEXT: %18 = stablehlo.broadcast_in_dim %17, dims = [] : (tensor<i32>) -> tensor<4xi32>
// CHECK-NEXT: %r = stablehlo.add %0, %18 : tensor<4xi32>
func.func @index(%x: tensor<4x3xf32>) -> tensor<4xi32> {
  %r = batch.vmap(%v = %x) in_axes [0] out_axes [0] size 4 name "i" shards "b,m" of "b=4,m=2" : (tensor<4x3xf32>) -> tensor<4xi32> {
    %k = batch.axis_index axes ["i"] : tensor<i32>
    batch.yield %k : tensor<i32>
  }
  func.return %r : tensor<4xi32>
}

// all_gather: the local lanes moved to `dim`, then gathered along it from every shard, in
// device order (4 lanes x 4 shards = 16).
// CHECK-LABEL: func.func @gather
// CHECK: %0 = batch.move_axis %x from 0 to 1 : (tensor<4x3xf32>) -> tensor<3x4xf32>
// CHECK-NEXT: %r = "stablehlo.all_gather"(%0) <{replica_groups = dense<{{\[\[}}0, 1, 2, 3]]> : tensor<1x4xi64>, channel_handle = #stablehlo.channel_handle<handle = 1, type = 1>, use_global_device_ids, all_gather_dim = 1 : i64}> : (tensor<3x4xf32>) -> tensor<3x16xf32>
// CHECK-NEXT: func.return %r : tensor<3x16xf32>
func.func @gather(%x: tensor<4x3xf32>) -> tensor<3x16xf32> {
  %r = batch.vmap(%v = %x) in_axes [0] out_axes [none] size 4 name "i" shards "b" of "b=4" : (tensor<4x3xf32>) -> tensor<3x16xf32> {
    %g = batch.all_gather %v axes ["i"] dim 1 : (tensor<3xf32>) -> tensor<3x16xf32>
    batch.yield %g : tensor<3x16xf32>
  }
  func.return %r : tensor<3x16xf32>
}

// A while loop whose predicate varies and whose body holds a collective: every device
// must run it equally often, so whether any lane is still active is asked of all shards
// (an all_reduce of the local answer).
// CHECK-LABEL: func.func @loop
// CHECK: stablehlo.while
// CHECK: stablehlo.reduce({{.*}}) applies stablehlo.or across dimensions = [0]
// CHECK-NEXT: stablehlo.convert {{.*}} : (tensor<i1>) -> tensor<i32>
// CHECK-NEXT: "stablehlo.all_reduce"
// CHECK: stablehlo.maximum
// CHECK: stablehlo.compare NE
func.func @loop(%x: tensor<4xf32>) -> tensor<4xf32> {
  %r = batch.vmap(%v = %x) in_axes [0] out_axes [0] size 4 name "i" shards "b" of "b=2" : (tensor<4xf32>) -> tensor<4xf32> {
    %y = stablehlo.while(%a = %v) : tensor<f32>
    cond {
      %c = stablehlo.constant dense<1.000000e+01> : tensor<f32>
      %p = stablehlo.compare LT, %a, %c, FLOAT : (tensor<f32>, tensor<f32>) -> tensor<i1>
      stablehlo.return %p : tensor<i1>
    } do {
      %s = batch.psum %a axes ["i"] : tensor<f32>
      %n = stablehlo.add %a, %s : tensor<f32>
      stablehlo.return %n : tensor<f32>
    }
    batch.yield %y : tensor<f32>
  }
  func.return %r : tensor<4xf32>
}
