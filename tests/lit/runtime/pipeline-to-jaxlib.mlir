// RUN: vmlir-opt %s -p batch-propagate-axes,batch-vectorize,batch-lower | vmlir-translate --to-jaxlib --pretty | filecheck %s
// RUN: vmlir-opt %s -p batch-propagate-axes,batch-vectorize,batch-lower --print-op-generic | vmlir-translate --to-jaxlib --pretty | filecheck %s
// The full pipeline turns a batch.vmap program (nested, in_axes none, out_axes 1, a -inf
// constant) into StableHLO that jaxlib's own parser reads back, from our pretty form and
// from the generic form alike; jaxlib prints it in upstream's pretty form, which is ours.

// CHECK-LABEL: func.func @main(%arg0: tensor<5x3xf32>, %arg1: tensor<6x3xf32>) -> tensor<6x5xf32> {
// CHECK-NEXT: %0 = stablehlo.broadcast_in_dim %arg0, dims = [0, 2] : (tensor<5x3xf32>) -> tensor<5x6x3xf32>
// CHECK-NEXT: %1 = stablehlo.broadcast_in_dim %arg1, dims = [1, 2] : (tensor<6x3xf32>) -> tensor<5x6x3xf32>
// CHECK-NEXT: %2 = stablehlo.subtract %0, %1 : tensor<5x6x3xf32>
// CHECK-NEXT: %cst = stablehlo.constant dense<0xFF800000> : tensor<f32>
// CHECK-NEXT: %3 = stablehlo.reduce(%2 init: %cst) applies stablehlo.maximum across dimensions = [2] : (tensor<5x6x3xf32>, tensor<f32>) -> tensor<5x6xf32>
// CHECK-NEXT: %4 = stablehlo.transpose %3, dims = [1, 0] : (tensor<5x6xf32>) -> tensor<6x5xf32>
// CHECK-NEXT: return %4 : tensor<6x5xf32>
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
