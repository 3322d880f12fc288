// RUN: vmlir-opt %s | vmlir-opt | filecheck %s
// RUN: vmlir-opt %s --print-op-generic | vmlir-opt | filecheck %s
// RUN: vmlir-opt %s --print-op-generic | filecheck %s --check-prefix=GENERIC

// The named-axis collectives and batch.custom_vmap: custom syntax, and the generic form
// reads back to the same ops.

// Lines of the batch ops other than these (batch.vmap, batch.yield) are left unchecked
// here: their syntax is not this file's business; the GENERIC run checks the axis name.
// CHECK-LABEL: func.func @collectives
// CHECK:      %s = batch.psum %v axes ["i"] : tensor<3xf32>
// CHECK-NEXT: %m = batch.pmax %s axes ["i"] : tensor<3xf32>
// CHECK-NEXT: %n = batch.pmin %m axes ["i"] : tensor<3xf32>
// CHECK-NEXT: %k = batch.axis_index axes ["i"] : tensor<i32>
// CHECK-NEXT: %g = batch.all_gather %v axes ["i"] dim 1 : (tensor<3xf32>) -> tensor<3x4xf32>
// CHECK-NEXT: %t = batch.all_gather %v axes ["i"] dim 0 tiled : (tensor<3xf32>) -> tensor<12xf32>
// CHECK-NEXT: %c = batch.psum_scatter %t axes ["i"] dim 0 tiled : (tensor<12xf32>) -> tensor<3xf32>
// CHECK-NEXT: %u = batch.psum_scatter %g axes ["i"] dim 1 : (tensor<3x4xf32>) -> tensor<3xf32>
// CHECK-NEXT: %p = batch.ppermute %v axes ["i"] perm [0, 1, 1, 2, 2, 3, 3, 0] : (tensor<3xf32>) -> tensor<3xf32>
// CHECK-NEXT: %a = batch.all_to_all %g axes ["i"] split 1 concat 0 : (tensor<3x4xf32>) -> tensor<12x1xf32>
// CHECK-NEXT: %cv = "batch.custom_vmap"(%v) <{rule = "rule#0"}> ({

// GENERIC-LABEL: "func.func"() <{sym_name = "collectives"
// GENERIC: "batch.vmap"(%x) <{axis_name = "i", axis_size = 4 : i64, in_axes = [0 : i64], out_axes = [0 : i64]}> ({
// GENERIC: "batch.psum"(%v) <{axes = ["i"]}> : (tensor<3xf32>) -> tensor<3xf32>
// GENERIC: "batch.all_gather"(%v) <{axes = ["i"], dim = 0 : i64, tiled}> : (tensor<3xf32>) -> tensor<12xf32>
// GENERIC: "batch.ppermute"(%v) <{axes = ["i"], perm = array<i64: 0, 1, 1, 2, 2, 3, 3, 0>}> : (tensor<3xf32>) -> tensor<3xf32>
func.func @collectives(%x: tensor<4x3xf32>) -> tensor<4x3xf32> {
  %r = "batch.vmap"(%x) <{axis_name = "i", axis_size = 4 : i64, in_axes = [0 : i64], out_axes = [0 : i64]}> ({
  ^bb0(%v: tensor<3xf32>):
    %s = batch.psum %v axes ["i"] : tensor<3xf32>
    %m = "batch.pmax"(%s) <{axes = ["i"]}> : (tensor<3xf32>) -> tensor<3xf32>
    %n = batch.pmin %m axes ["i"] : tensor<3xf32>
    %k = batch.axis_index axes ["i"] : tensor<i32>
    %g = batch.all_gather %v axes ["i"] dim 1 : (tensor<3xf32>) -> tensor<3x4xf32>
    %t = batch.all_gather %v axes ["i"] dim 0 tiled : (tensor<3xf32>) -> tensor<12xf32>
    %c = batch.psum_scatter %t axes ["i"] dim 0 tiled : (tensor<12xf32>) -> tensor<3xf32>
    %u = batch.psum_scatter %g axes ["i"] dim 1 : (tensor<3x4xf32>) -> tensor<3xf32>
    %p = batch.ppermute %v axes ["i"] perm [0, 1, 1, 2, 2, 3, 3, 0] : (tensor<3xf32>) -> tensor<3xf32>
    %a = batch.all_to_all %g axes ["i"] split 1 concat 0 : (tensor<3x4xf32>) -> tensor<12x1xf32>
    %cv = "batch.custom_vmap"(%v) <{rule = "rule#0"}> ({
    ^bb1(%y: tensor<3xf32>):
      "batch.yield"(%y) : (tensor<3xf32>) -> ()
    }) : (tensor<3xf32>) -> tensor<3xf32>
    "batch.yield"(%n) : (tensor<3xf32>) -> ()
  }) : (tensor<4x3xf32>) -> tensor<4x3xf32>
  func.return %r : tensor<4x3xf32>
}

// A tuple of names: the inner vmap's collective names both axes.
// CHECK-LABEL: func.func @tuple_names
// CHECK: %s = batch.psum %w axes ["i", "j"] : tensor<2xf32>
// CHECK: %g = batch.all_gather %w axes ["j", "i"] dim 0 : (tensor<2xf32>) -> tensor<12x2xf32>
func.func @tuple_names(%x: tensor<4x3x2xf32>) -> tensor<4x3x2xf32> {
  %r = "batch.vmap"(%x) <{axis_name = "i", axis_size = 4 : i64, in_axes = [0 : i64], out_axes = [0 : i64]}> ({
  ^bb0(%v: tensor<3x2xf32>):
    %q = "batch.vmap"(%v) <{axis_name = "j", axis_size = 3 : i64, in_axes = [0 : i64], out_axes = [0 : i64]}> ({
    ^bb1(%w: tensor<2xf32>):
      %s = batch.psum %w axes ["i", "j"] : tensor<2xf32>
      %g = batch.all_gather %w axes ["j", "i"] dim 0 : (tensor<2xf32>) -> tensor<12x2xf32>
      "batch.yield"(%s) : (tensor<2xf32>) -> ()
    }) : (tensor<3x2xf32>) -> tensor<3x2xf32>
    "batch.yield"(%q) : (tensor<3x2xf32>) -> ()
  }) : (tensor<4x3x2xf32>) -> tensor<4x3x2xf32>
  func.return %r : tensor<4x3x2xf32>
}
