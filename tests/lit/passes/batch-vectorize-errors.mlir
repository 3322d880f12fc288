// RUN: vmlir-opt %s --split-input-file --verify-diagnostics -p batch-vectorize | filecheck %s
// What batch-vectorize refuses, and how it says so.

func.func @no_rule(%x: tensor<4x3xf32>) -> tensor<4x3xf32> {
  %r = batch.vmap(%v = %x) in_axes [0] out_axes [0] size 4 : (tensor<4x3xf32>) -> tensor<4x3xf32> {
    %s = "stablehlo.custom_call"(%v) <{call_target_name = "my_kernel", api_version = 1 : i32}> : (tensor<3xf32>) -> tensor<3xf32>
    batch.yield %s : tensor<3xf32>
  }
  func.return %r : tensor<4x3xf32>
}
// CHECK: 'stablehlo.custom_call': custom_call @my_kernel has no batching rule

// -----

func.func @mapped_output_with_out_axes_none(%x: tensor<4x3xf32>) -> tensor<3xf32> {
  %r = batch.vmap(%v = %x) in_axes [0] out_axes [none] size 4 : (tensor<4x3xf32>) -> tensor<3xf32> {
    batch.yield %v : tensor<3xf32>
  }
  func.return %r : tensor<3xf32>
}
// CHECK: vmap has mapped output (result 0) but out_axes is None

// -----

func.func @uniform_output_with_out_axes_none(%x: tensor<4x3xf32>, %w: tensor<3xf32>) -> tensor<3xf32> {
  %r = batch.vmap(%v = %x, %u = %w) in_axes [0, none] out_axes [none] size 4 : (tensor<4x3xf32>, tensor<3xf32>) -> tensor<3xf32> {
    %e = stablehlo.exponential %u : tensor<3xf32>
    batch.yield %e : tensor<3xf32>
  }
  func.return %r : tensor<3xf32>
}
// CHECK-LABEL: func.func @uniform_output_with_out_axes_none(
// CHECK-NEXT: %e = stablehlo.exponential %w : tensor<3xf32>
// CHECK-NEXT: func.return %e : tensor<3xf32>
