// RUN: vmlir-opt %s -p batch-propagate-axes,batch-vectorize,batch-lower | vmlir-translate --to-jaxlib | filecheck %s
// The full pipeline turns a batch.vmap program (nested, in_axes none, out_axes 1, a -inf
// constant) into StableHLO that jaxlib's own parser reads back; jaxlib prints it generic.

// CHECK:      "func.func"() <{function_type = (tensor<5x3xf32>, tensor<6x3xf32>) -> tensor<6x5xf32>, sym_name = "main"}> ({
// CHECK-NEXT: ^bb0(%arg0: tensor<5x3xf32>, %arg1: tensor<6x3xf32>):
// CHECK-NEXT:   %0 = "stablehlo.broadcast_in_dim"(%arg0) <{broadcast_dimensions = array<i64: 0, 2>}> : (tensor<5x3xf32>) -> tensor<5x6x3xf32>
// CHECK-NEXT:   %1 = "stablehlo.broadcast_in_dim"(%arg1) <{broadcast_dimensions = array<i64: 1, 2>}> : (tensor<6x3xf32>) -> tensor<5x6x3xf32>
// CHECK-NEXT:   %2 = "stablehlo.subtract"(%0, %1) : (tensor<5x6x3xf32>, tensor<5x6x3xf32>) -> tensor<5x6x3xf32>
// CHECK-NEXT:   %3 = "stablehlo.constant"() <{value = dense<0xFF800000> : tensor<f32>}> : () -> tensor<f32>
// CHECK-NEXT:   %4 = "stablehlo.reduce"(%2, %3) <{dimensions = array<i64: 2>}> ({
// CHECK-NEXT:   ^bb0(%arg2: tensor<f32>, %arg3: tensor<f32>):
// CHECK-NEXT:     %6 = "stablehlo.maximum"(%arg2, %arg3) : (tensor<f32>, tensor<f32>) -> tensor<f32>
// CHECK-NEXT:     "stablehlo.return"(%6) : (tensor<f32>) -> ()
// CHECK-NEXT:   }) : (tensor<5x6x3xf32>, tensor<f32>) -> tensor<5x6xf32>
// CHECK-NEXT:   %5 = "stablehlo.transpose"(%4) <{permutation = array<i64: 1, 0>}> : (tensor<5x6xf32>) -> tensor<6x5xf32>
// CHECK-NEXT:   "func.return"(%5) : (tensor<6x5xf32>) -> ()
func.func @main(%x: tensor<5x3xf32>, %y: tensor<6x3xf32>) -> tensor<6x5xf32> {
  %r = "batch.vmap"(%x, %y) <{in_axes = [0 : i64, none], out_axes = [1 : i64], axis_size = 5 : i64}> ({
  ^bb0(%a: tensor<3xf32>, %ys: tensor<6x3xf32>):
    %i = "batch.vmap"(%a, %ys) <{in_axes = [none, 0 : i64], out_axes = [0 : i64], axis_size = 6 : i64}> ({
    ^bb1(%p: tensor<3xf32>, %q: tensor<3xf32>):
      %s = "stablehlo.subtract"(%p, %q) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
      %ninf = "stablehlo.constant"() <{value = dense<0xFF800000> : tensor<f32>}> : () -> tensor<f32>
      %m = "stablehlo.reduce"(%s, %ninf) <{dimensions = array<i64: 0>}> ({
      ^bb2(%u: tensor<f32>, %w: tensor<f32>):
        %mx = "stablehlo.maximum"(%u, %w) : (tensor<f32>, tensor<f32>) -> tensor<f32>
        "stablehlo.return"(%mx) : (tensor<f32>) -> ()
      }) : (tensor<3xf32>, tensor<f32>) -> tensor<f32>
      "batch.yield"(%m) : (tensor<f32>) -> ()
    }) : (tensor<3xf32>, tensor<6x3xf32>) -> tensor<6xf32>
    "batch.yield"(%i) : (tensor<6xf32>) -> ()
  }) : (tensor<5x3xf32>, tensor<6x3xf32>) -> tensor<6x5xf32>
  func.return %r : tensor<6x5xf32>
}
