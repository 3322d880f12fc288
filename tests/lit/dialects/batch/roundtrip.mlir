// RUN: vmlir-opt %s | vmlir-opt | filecheck %s
// RUN: vmlir-opt %s --print-op-generic | vmlir-opt | filecheck %s
// RUN: vmlir-opt %s --print-op-generic | filecheck %s --check-prefix=GENERIC

// Every batch op in its custom form survives custom -> custom and custom -> generic ->
// custom; the generic form spells out the properties.

// CHECK-LABEL: func.func @vmap_in_axes_none_out_axes_one
// CHECK-NEXT: %r = batch.vmap(%v = %x, %u = %w) in_axes [0, none] out_axes [1] size 4 : (tensor<4x3xf32>, tensor<3xf32>) -> tensor<3x4xf32> {
// CHECK-NEXT:   %s = stablehlo.multiply %v, %u : tensor<3xf32>
// CHECK-NEXT:   batch.yield %s : tensor<3xf32>
// CHECK-NEXT: }
// GENERIC-LABEL: "func.func"
// GENERIC: "batch.vmap"(%x, %w) <{in_axes = [0 : i64, none], out_axes = [1 : i64], axis_size = 4 : i64}> ({
// GENERIC-NEXT: ^bb0(%v: tensor<3xf32>, %u: tensor<3xf32>):
func.func @vmap_in_axes_none_out_axes_one(%x: tensor<4x3xf32>, %w: tensor<3xf32>) -> tensor<3x4xf32> {
  %r = batch.vmap(%v = %x, %u = %w) in_axes [0, none] out_axes [1] size 4 : (tensor<4x3xf32>, tensor<3xf32>) -> tensor<3x4xf32> {
    %s = stablehlo.multiply %v, %u : tensor<3xf32>
    batch.yield %s : tensor<3xf32>
  }
  func.return %r : tensor<3x4xf32>
}

// CHECK-LABEL: func.func @named_vmap
// CHECK-NEXT: %r = batch.vmap(%v = %x) in_axes [0] out_axes [0] size 4 name "i" : (tensor<4xf32>) -> tensor<4xf32> {
// GENERIC-LABEL: "func.func"
// GENERIC: "batch.vmap"(%x) <{in_axes = [0 : i64], out_axes = [0 : i64], axis_size = 4 : i64, axis_name = "i"}> ({
func.func @named_vmap(%x: tensor<4xf32>) -> tensor<4xf32> {
  %r = batch.vmap(%v = %x) in_axes [0] out_axes [0] size 4 name "i" : (tensor<4xf32>) -> tensor<4xf32> {
    batch.yield %v : tensor<f32>
  }
  func.return %r : tensor<4xf32>
}

// CHECK-LABEL: func.func @ragged_vmap
// CHECK-NEXT: %r = batch.vmap(%v = %x, %n = %len) in_axes [0, 0] out_axes [0] size 3 ragged [0, none] : (tensor<3x8xf32>, tensor<3xi32>) -> tensor<3xf32> {
// GENERIC-LABEL: "func.func"
// GENERIC: ragged_axes = [0 : i64, none]
func.func @ragged_vmap(%x: tensor<3x8xf32>, %len: tensor<3xi32>) -> tensor<3xf32> {
  %r = batch.vmap(%v = %x, %n = %len) in_axes [0, 0] out_axes [0] size 3 ragged [0, none] : (tensor<3x8xf32>, tensor<3xi32>) -> tensor<3xf32> {
    %z = stablehlo.constant dense<0.0> : tensor<f32>
    batch.yield %z : tensor<f32>
  }
  func.return %r : tensor<3xf32>
}

// CHECK-LABEL: func.func @nested_chunked_vmap
// CHECK-NEXT: %r, %k = batch.vmap(%a = %x, %ys = %y) in_axes [0, none] out_axes [0, none] size 5 chunk 2 attributes {batch.varying = array<i1: true, false>} : (tensor<5x3xf32>, tensor<6x3xf32>) -> (tensor<5x6xf32>, tensor<i32>) {
// CHECK-NEXT:   %i = batch.vmap(%p = %a, %q = %ys) in_axes [none, 0] out_axes [0] size 6 : (tensor<3xf32>, tensor<6x3xf32>) -> tensor<6x3xf32> {
// CHECK-NEXT:     batch.yield %p : tensor<3xf32>
// CHECK-NEXT:   }
// CHECK:        batch.yield %z, %c : tensor<6xf32>, tensor<i32>
func.func @nested_chunked_vmap(%x: tensor<5x3xf32>, %y: tensor<6x3xf32>) -> tensor<5x6xf32> {
  %r, %k = batch.vmap(%a = %x, %ys = %y) in_axes [0, none] out_axes [0, none] size 5 chunk 2 attributes {batch.varying = array<i1: true, false>} : (tensor<5x3xf32>, tensor<6x3xf32>) -> (tensor<5x6xf32>, tensor<i32>) {
    %i = batch.vmap(%p = %a, %q = %ys) in_axes [none, 0] out_axes [0] size 6 : (tensor<3xf32>, tensor<6x3xf32>) -> tensor<6x3xf32> {
      batch.yield %p : tensor<3xf32>
    }
    %z = stablehlo.constant dense<0.0> : tensor<6xf32>
    %c = stablehlo.constant dense<1> : tensor<i32>
    batch.yield %z, %c : tensor<6xf32>, tensor<i32>
  }
  func.return %r : tensor<5x6xf32>
}

// CHECK-LABEL: func.func @masked_any_all
// CHECK-NEXT: %r = batch.vmap(%v = %x) in_axes [0] out_axes [0] size 4 : (tensor<4xf32>) -> tensor<4xf32> {
// CHECK-NEXT:   %m = stablehlo.compare GT, %v, %v, FLOAT : (tensor<f32>, tensor<f32>) -> tensor<i1>
// CHECK-NEXT:   %any = batch.any %m : tensor<i1>
// CHECK-NEXT:   %all = batch.all %m : tensor<i1>
// CHECK-NEXT:   %s = batch.masked %m -> (tensor<f32>) {
// CHECK-NEXT:     %e = stablehlo.sine %v : tensor<f32>
// CHECK-NEXT:     batch.yield %e : tensor<f32>
// CHECK-NEXT:   }
// CHECK-NEXT:   batch.masked %any {
// CHECK-NEXT:     batch.yield
// CHECK-NEXT:   }
// CHECK-NEXT:   batch.yield %s : tensor<f32>
// CHECK-NEXT: }
// GENERIC-LABEL: "func.func"
// GENERIC: %s = "batch.masked"(%m) ({
// GENERIC: }) : (tensor<i1>) -> tensor<f32>
func.func @masked_any_all(%x: tensor<4xf32>) -> tensor<4xf32> {
  %r = batch.vmap(%v = %x) in_axes [0] out_axes [0] size 4 : (tensor<4xf32>) -> tensor<4xf32> {
    %m = stablehlo.compare GT, %v, %v, FLOAT : (tensor<f32>, tensor<f32>) -> tensor<i1>
    %any = batch.any %m : tensor<i1>
    %all = batch.all %m : tensor<i1>
    %s = batch.masked %m -> (tensor<f32>) {
      %e = stablehlo.sine %v : tensor<f32>
      batch.yield %e : tensor<f32>
    }
    batch.masked %any {
      batch.yield
    }
    batch.yield %s : tensor<f32>
  }
  func.return %r : tensor<4xf32>
}

// CHECK-LABEL: func.func @move_axis_and_broadcast
// CHECK-NEXT: %t = batch.move_axis %x from 0 to 1 : (tensor<4x3xf32>) -> tensor<3x4xf32>
// CHECK-NEXT: %b = batch.broadcast %c axis 1 size 4 : (tensor<3xf32>) -> tensor<3x4xf32>
func.func @move_axis_and_broadcast(%x: tensor<4x3xf32>, %c: tensor<3xf32>) -> (tensor<3x4xf32>, tensor<3x4xf32>) {
  %t = batch.move_axis %x from 0 to 1 : (tensor<4x3xf32>) -> tensor<3x4xf32>
  %b = batch.broadcast %c axis 1 size 4 : (tensor<3xf32>) -> tensor<3x4xf32>
  func.return %t, %b : tensor<3x4xf32>, tensor<3x4xf32>
}
