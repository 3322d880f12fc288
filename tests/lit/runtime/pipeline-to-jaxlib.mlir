// RUN: vmlir-opt %s -p batch-propagate-axes,batch-vectorize,batch-lower | vmlir-translate --to-jaxlib | filecheck %s
// The full pipeline turns a batch.vmap program (nested, in_axes none, out_axes 1, a -inf
// constant) into StableHLO that jaxlib's own parser reads back; jaxlib prints it generic.

// CHECK: "func.func"() <{function_type = (tensor<5x3xf32>, tensor<6x3xf32>) -> tensor<6x5xf32>, sym_name = "main"}> ({
// CHECK-NEXT: ^bb0(%arg0: tensor<5x3xf32>, %arg1: tensor<6x3xf32>):
// CHECK-NEXT: %0 = stablehlo.broadcast_in_dim %arg0, dims = [0, 2] : (tensor<5x3xf32>) -> tensor<5x6x3xf32>
// CHECK-NEXT: %1 = stablehlo.broadcast_in_dim %arg1, dims = [1, 2] : (tensor<6x3xf32>) -> tensor<5x6x3xf32>
// CHECK-NEXT: %0 = stablehlo.subtract %0, %1 : tensor<5x6x3xf32>
// CHECK-NEXT: %3 = stablehlo.constant dense<0xff800000> : tensor<f32>
// CHECK-NEXT: %4 = "stablehlo.reduce"(%2, %3) <{dimensions = array<i64: 2>}> ({
// CHECK-NEXT: ^bb0(%arg2: tensor<f32>, %arg3: tensor<f32>):
// CHECK-NEXT: %6 = stablehlo.maximum %arg2, %arg3 : tensor<f32>
// CHECK-NEXT: stablehlo.return %6 : tensor<f32>
// CHECK-NEXT: }) : (tensor<5x6x3xf32>, tensor<f32>) -> tensor<5x6xf32>
// CHECK-NEXT: %5 = stablehlo.transpose %4, dims = [1, 0] : (tensor<5x6xf32>) -> tensor<6x5xf32>
// CHECK-NEXT: "func.return"(%5) : (tensor<6x5xf32>) -> ()
func.func @main(%x: tensor<5x3xf32>, %y: tensor<6x3xf32>) -> tensor<6x5xf32> {
  %r = batch.vmap(%a = %x, %ys = %y) in_axes [0, none] out_axes [1] size 5 : (tensor<5x3xf32>, tensor<6x3xf32>) -> tensor<6x5xf32> {
    %i = batch.vmap(%p = %a, %q = %ys) in_axes [none, 0] out_axes [0] size 6 : (tensor<3xf32>, tensor<6x3xf32>) -> tensor<6xf32> {
      %s = stablehlo.subtract %p, %q : tensor<3xf32>
      %ninf = stablehlo.constant dense<0xff800000> : tensor<f32>
      %m = stablehlo.reduce(%s init: %ninf) applies stablehlo.maximum across dimensions = [0] : (tensor<3xf32>, tensor<f32>) -> tensor<f32>
      batch.yield %m : tensor<f32>
    }
    batch.yield %i : tensor<6xf32>
  }
  func.return %r : tensor<6x5xf32>
}
