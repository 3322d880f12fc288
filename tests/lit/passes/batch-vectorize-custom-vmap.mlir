// RUN: vmlir-opt %s --split-input-file --verify-diagnostics -p batch-vectorize --print-op-generic | filecheck %s
// batch.custom_vmap under batch-vectorize: uniform operands inline the per-example body;
// batched ones need the user's rule, which only vmlir's Python frontend can trace.

// CHECK-LABEL: "func.func"() <{sym_name = "custom_vmap_uniform"
// CHECK-NEXT: ^bb0(%x: tensor<4x3xf32>, %w: tensor<3xf32>):
// CHECK-NEXT: %s = "stablehlo.sine"(%w) : (tensor<3xf32>) -> tensor<3xf32>
// CHECK-NEXT: %0 = "batch.broadcast"(%s) <{axis = 0 : i64, size = 4 : i64}> : (tensor<3xf32>) -> tensor<4x3xf32>
// CHECK-NEXT: %r = "stablehlo.multiply"(%x, %0) : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK-NEXT: "func.return"(%r) : (tensor<4x3xf32>) -> ()
func.func @custom_vmap_uniform(%x: tensor<4x3xf32>, %w: tensor<3xf32>) -> tensor<4x3xf32> {
  %r = "batch.vmap"(%x, %w) <{axis_size = 4 : i64, in_axes = [0 : i64, none], out_axes = [0 : i64]}> ({
  ^bb0(%v: tensor<3xf32>, %u: tensor<3xf32>):
    %c = "batch.custom_vmap"(%u) <{rule = "rule#0"}> ({
    ^bb1(%y: tensor<3xf32>):
      %s = "stablehlo.sine"(%y) : (tensor<3xf32>) -> tensor<3xf32>
      "batch.yield"(%s) : (tensor<3xf32>) -> ()
    }) : (tensor<3xf32>) -> tensor<3xf32>
    %m = "stablehlo.multiply"(%v, %c) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
    "batch.yield"(%m) : (tensor<3xf32>) -> ()
  }) : (tensor<4x3xf32>, tensor<3xf32>) -> tensor<4x3xf32>
  func.return %r : tensor<4x3xf32>
}

// -----

func.func @custom_vmap_batched(%x: tensor<4x3xf32>, %w: tensor<3xf32>) -> tensor<4x3xf32> {
  %r = "batch.vmap"(%x, %w) <{axis_size = 4 : i64, in_axes = [0 : i64, none], out_axes = [0 : i64]}> ({
  ^bb0(%v: tensor<3xf32>, %u: tensor<3xf32>):
    %c = "batch.custom_vmap"(%v) <{rule = "rule#0"}> ({
    ^bb1(%y: tensor<3xf32>):
      %s = "stablehlo.sine"(%y) : (tensor<3xf32>) -> tensor<3xf32>
      "batch.yield"(%s) : (tensor<3xf32>) -> ()
    }) : (tensor<3xf32>) -> tensor<3xf32>
    %m = "stablehlo.multiply"(%v, %c) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
    "batch.yield"(%m) : (tensor<3xf32>) -> ()
  }) : (tensor<4x3xf32>, tensor<3xf32>) -> tensor<4x3xf32>
  func.return %r : tensor<4x3xf32>
}
// CHECK: 'batch.custom_vmap': no custom_vmap rule tracer is registered (the rule 'rule#0' comes from vmlir's Python frontend)
