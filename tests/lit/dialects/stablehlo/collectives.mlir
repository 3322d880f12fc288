// RUN: vmlir-opt %s | vmlir-opt | filecheck %s

// The cross-device collectives batch-vectorize emits for a sharded batch (docs/sharding.md)
// survive two parse/print rounds in jaxlib's syntax: replica groups, the channel handle,
// use_global_device_ids.

// CHECK-LABEL: func.func @collectives
// CHECK-NEXT: %s = "stablehlo.all_reduce"(%x) <{channel_handle = #stablehlo.channel_handle<handle = 3, type = 1>, replica_groups = dense<{{\[\[}}0, 1], [2, 3]]> : tensor<2x2xi64>, use_global_device_ids}> ({
// CHECK-NEXT: ^bb0(%a: tensor<f32>, %b: tensor<f32>):
// CHECK-NEXT: %c = stablehlo.maximum %a, %b : tensor<f32>
// CHECK-NEXT: stablehlo.return %c : tensor<f32>
// CHECK-NEXT: }) : (tensor<4xf32>) -> tensor<4xf32>
// CHECK-NEXT: %g = "stablehlo.all_gather"(%x) <{all_gather_dim = 0 : i64, channel_handle = #stablehlo.channel_handle<handle = 4, type = 1>, replica_groups = dense<{{\[\[}}0, 1, 2, 3]]> : tensor<1x4xi64>, use_global_device_ids}> : (tensor<4xf32>) -> tensor<16xf32>
// CHECK-NEXT: %p = "stablehlo.partition_id"() : () -> tensor<ui32>
func.func @collectives(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<16xf32>, tensor<ui32>) {
  %s = "stablehlo.all_reduce"(%x) <{channel_handle = #stablehlo.channel_handle<handle = 3, type = 1>, replica_groups = dense<[[0, 1], [2, 3]]> : tensor<2x2xi64>, use_global_device_ids}> ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    %c = stablehlo.maximum %a, %b : tensor<f32>
    stablehlo.return %c : tensor<f32>
  }) : (tensor<4xf32>) -> tensor<4xf32>
  %g = "stablehlo.all_gather"(%x) <{all_gather_dim = 0 : i64, channel_handle = #stablehlo.channel_handle<handle = 4, type = 1>, replica_groups = dense<[[0, 1, 2, 3]]> : tensor<1x4xi64>, use_global_device_ids}> : (tensor<4xf32>) -> tensor<16xf32>
  %p = "stablehlo.partition_id"() : () -> tensor<ui32>
  func.return %s, %g, %p : tensor<4xf32>, tensor<16xf32>, tensor<ui32>
}
