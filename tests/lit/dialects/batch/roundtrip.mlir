// RUN: vmlir-opt %s | vmlir-opt | filecheck %s
// RUN: vmlir-opt %s --print-op-generic | vmlir-opt | filecheck %s

// CHECK-LABEL: func.func @vmap_in_axes_none_out_axes_one
func.func @vmap_in_axes_none_out_axes_one(%x: tensor<4x3xf32>, %w: tensor<3xf32>) -> tensor<3x4xf32> {
  // CHECK-NEXT: %r = batch.vmap(%v = %x, %u = %w) in_axes [0, none] out_axes [1] size 4 : (tensor<4x3xf32>, tensor<3xf32>) -> tensor<3x4xf32> {
  // CHECK-NEXT: %s = stablehlo.multiply %v, %u : tensor<3xf32>
  // CHECK-NEXT: batch.yield %s : tensor<3xf32>
  // CHECK-NEXT: }
  %r = "batch.vmap"(%x, %w) <{in_axes = [0 : i64, none], out_axes = [1 : i64], axis_size = 4 : i64}> ({
  ^bb0(%v: tensor<3xf32>, %u: tensor<3xf32>):
    %s = "stablehlo.multiply"(%v, %u) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
    "batch.yield"(%s) : (tensor<3xf32>) -> ()
  }) : (tensor<4x3xf32>, tensor<3xf32>) -> tensor<3x4xf32>
  func.return %r : tensor<3x4xf32>
}

// CHECK-LABEL: func.func @nested_vmap
func.func @nested_vmap(%x: tensor<5x3xf32>, %y: tensor<6x3xf32>) -> tensor<5x6xf32> {
  // CHECK-NEXT: %r = "batch.vmap"(%x, %y) <{in_axes = [0 : i64, none], out_axes = [0 : i64], axis_size = 5 : i64}> ({
  // CHECK-NEXT: ^bb0(%a: tensor<3xf32>, %ys: tensor<6x3xf32>):
  // CHECK-NEXT: %i = "batch.vmap"(%a, %ys) <{in_axes = [none, 0 : i64], out_axes = [0 : i64], axis_size = 6 : i64}> ({
  // CHECK-NEXT: ^bb0(%p: tensor<3xf32>, %q: tensor<3xf32>):
  // CHECK-NEXT: batch.yield %p : tensor<3xf32>
  // CHECK-NEXT: }) : (tensor<3xf32>, tensor<6x3xf32>) -> tensor<6x3xf32>
  %r = "batch.vmap"(%x, %y) <{in_axes = [0 : i64, none], out_axes = [0 : i64], axis_size = 5 : i64}> ({
  ^bb0(%a: tensor<3xf32>, %ys: tensor<6x3xf32>):
    %i = "batch.vmap"(%a, %ys) <{in_axes = [none, 0 : i64], out_axes = [0 : i64], axis_size = 6 : i64}> ({
    ^bb1(%p: tensor<3xf32>, %q: tensor<3xf32>):
      "batch.yield"(%p) : (tensor<3xf32>) -> ()
    }) : (tensor<3xf32>, tensor<6x3xf32>) -> tensor<6x3xf32>
    %z = "stablehlo.constant"() <{value = dense<0.0> : tensor<6xf32>}> : () -> tensor<6xf32>
    "batch.yield"(%z) : (tensor<6xf32>) -> ()
  }) : (tensor<5x3xf32>, tensor<6x3xf32>) -> tensor<5x6xf32>
  func.return %r : tensor<5x6xf32>
}

// CHECK-LABEL: func.func @move_axis_and_broadcast
func.func @move_axis_and_broadcast(%x: tensor<4x3xf32>, %c: tensor<3xf32>) -> (tensor<3x4xf32>, tensor<3x4xf32>) {
  // CHECK-NEXT: %t = batch.move_axis %x from 0 to 1 : (tensor<4x3xf32>) -> tensor<3x4xf32>
  // CHECK-NEXT: %b = batch.broadcast %c axis 1 size 4 : (tensor<3xf32>) -> tensor<3x4xf32>
  %t = batch.move_axis %x from 0 to 1 : (tensor<4x3xf32>) -> tensor<3x4xf32>
  %b = batch.broadcast %c axis 1 size 4 : (tensor<3xf32>) -> tensor<3x4xf32>
  func.return %t, %b : tensor<3x4xf32>, tensor<3x4xf32>
}
