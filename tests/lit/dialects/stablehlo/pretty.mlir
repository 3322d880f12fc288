// RUN: vmlir-opt %s | filecheck %s
// RUN: vmlir-opt %s | vmlir-translate --to-jaxlib --pretty | filecheck %s
// RUN: vmlir-opt %s --print-op-generic | vmlir-translate --to-jaxlib --pretty | filecheck %s
// RUN: vmlir-opt %s --print-op-generic | vmlir-opt | filecheck %s

// Upstream StableHLO's pretty syntax: we print it (first RUN line) exactly as jaxlib prints
// what it parsed from our pretty (second) and our generic (third) output, and read it back
// (fourth). The same CHECK lines hold for all four; only SSA names may differ. `if` and
// `case` have no custom form upstream and stay generic, with pretty ops inside.

// CHECK-LABEL: func.func @main(%arg0: tensor<4x3xf32>, %arg1: tensor<4x3xf32>, %arg2: tensor<i32>, %arg3: tensor<i1>, %arg4: tensor<4x3xcomplex<f32>>, %arg5: tensor<f32>) {
// CHECK-NEXT: stablehlo.reverse %arg0, dims = [0, 1] : tensor<4x3xf32>
// CHECK-NEXT: stablehlo.pad %arg0, %arg5, low = [1, 0], high = [0, 2], interior = [0, 0] : (tensor<4x3xf32>, tensor<f32>) -> tensor<5x5xf32>
// CHECK-NEXT: stablehlo.dynamic_slice %arg0, %arg2, %arg2, sizes = [2, 3] : (tensor<4x3xf32>, tensor<i32>, tensor<i32>) -> tensor<2x3xf32>
// CHECK-NEXT: stablehlo.dynamic_update_slice %arg0, %{{[a-zA-Z0-9_]+}}, %arg2, %arg2 : (tensor<4x3xf32>, tensor<2x3xf32>, tensor<i32>, tensor<i32>) -> tensor<4x3xf32>
// CHECK-NEXT: stablehlo.reduce_precision %arg0, format = e5m10 : tensor<4x3xf32>
// CHECK-NEXT: "stablehlo.if"(%arg3) ({
// CHECK-NEXT: stablehlo.return %arg0 : tensor<4x3xf32>
// CHECK-NEXT: }, {
// CHECK-NEXT: stablehlo.return %arg1 : tensor<4x3xf32>
// CHECK-NEXT: }) : (tensor<i1>) -> tensor<4x3xf32>
// CHECK-NEXT: stablehlo.reduce(%arg0 init: %arg5) across dimensions = [0, 1] : (tensor<4x3xf32>, tensor<f32>) -> tensor<f32>
// CHECK-NEXT: reducer(%{{[a-zA-Z0-9_]+}}: tensor<f32>, %{{[a-zA-Z0-9_]+}}: tensor<f32>)  {
// CHECK-NEXT: stablehlo.subtract %{{[a-zA-Z0-9_]+}}, %{{[a-zA-Z0-9_]+}} : tensor<f32>
// CHECK-NEXT: stablehlo.return %{{[a-zA-Z0-9_]+}} : tensor<f32>
// CHECK-NEXT: }
// CHECK-NEXT: stablehlo.reduce(%arg0 init: %arg5) across dimensions = [1] : (tensor<4x3xf32>, tensor<f32>) -> tensor<4xf32>
// CHECK-NEXT: reducer(%{{[a-zA-Z0-9_]+}}: tensor<f32>, %{{[a-zA-Z0-9_]+}}: tensor<f32>)  {
// CHECK-NEXT: stablehlo.add %{{[a-zA-Z0-9_]+}}, %{{[a-zA-Z0-9_]+}} : tensor<f32>
// CHECK-NEXT: stablehlo.return %{{[a-zA-Z0-9_]+}} : tensor<f32>
// CHECK-NEXT: }
// CHECK-NEXT: stablehlo.reduce(%arg0 init: %arg5) applies stablehlo.maximum across dimensions = [1] {foo = 1 : i64} : (tensor<4x3xf32>, tensor<f32>) -> tensor<4xf32>
// CHECK-NEXT: stablehlo.dot_general %arg0, %arg1, batching_dims = [0] x [0], contracting_dims = [1] x [1] : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4xf32>
// CHECK-NEXT: stablehlo.dot_general %arg0, %arg1, batching_dims = [0] x [0], contracting_dims = [] x [] : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3x3xf32>
// CHECK-NEXT: stablehlo.dot_general %arg0, %arg1, contracting_dims = [] x [] : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3x4x3xf32>
// CHECK-NEXT: stablehlo.is_finite %arg0 : (tensor<4x3xf32>) -> tensor<4x3xi1>
// CHECK-NEXT: stablehlo.real %arg4 : (tensor<4x3xcomplex<f32>>) -> tensor<4x3xf32>
// CHECK-NEXT: stablehlo.complex %arg0, %arg1 : tensor<4x3xcomplex<f32>>
// CHECK-NEXT: stablehlo.select %arg3, %arg0, %arg1 : tensor<i1>, tensor<4x3xf32>
// CHECK-NEXT: stablehlo.clamp %arg5, %arg0, %arg5 : (tensor<f32>, tensor<4x3xf32>, tensor<f32>) -> tensor<4x3xf32>
// CHECK-NEXT: stablehlo.compare EQ, %arg0, %arg1 : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3xi1>
// CHECK-NEXT: stablehlo.bitcast_convert %arg0 : (tensor<4x3xf32>) -> tensor<4x3xi32>
// CHECK-NEXT: stablehlo.slice %arg0 [0:4:2, 1:3] : (tensor<4x3xf32>) -> tensor<2x2xf32>
// CHECK-NEXT: stablehlo.slice %arg5 [] : (tensor<f32>) -> tensor<f32>
// CHECK-NEXT: stablehlo.constant dense<[[1.000000e+00, 2.000000e+00, 3.000000e+00], [1.000000e+00, 2.000000e+00, 3.000000e+00], [1.000000e+00, 2.000000e+00, 3.000000e+00], [1.000000e+00, 2.000000e+00, 3.000000e+00]]> : tensor<4x3xf32>
// CHECK-NEXT: stablehlo.constant dense<true> : tensor<i1>
// CHECK-NEXT: stablehlo.constant dense<{{0xff800000|0xFF800000}}> : tensor<4xf32>
// CHECK-NEXT: stablehlo.while(%{{[a-zA-Z0-9_]+}} = %arg2, %{{[a-zA-Z0-9_]+}} = %arg5) : tensor<i32>, tensor<f32> attributes {foo = 1 : i64}
// CHECK-NEXT: cond {
// CHECK-NEXT: stablehlo.return %arg3 : tensor<i1>
// CHECK-NEXT: } do {
// CHECK-NEXT: stablehlo.return %{{[a-zA-Z0-9_]+}}, %{{[a-zA-Z0-9_]+}} : tensor<i32>, tensor<f32>
// CHECK-NEXT: }
// CHECK-NEXT: stablehlo.add %arg0, %arg1 {foo = 1 : i64} : tensor<4x3xf32>
// CHECK-NEXT: stablehlo.concatenate %arg0, %arg1, %arg0, dim = 0 : (tensor<4x3xf32>, tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<12x3xf32>
// CHECK-NEXT: stablehlo.iota dim = 1 : tensor<4x3xi32>
// CHECK-NEXT: stablehlo.abs %arg4 : (tensor<4x3xcomplex<f32>>) -> tensor<4x3xf32>
// CHECK-NEXT: stablehlo.select %{{[a-zA-Z0-9_]+}}, %arg0, %arg1 : tensor<4x3xi1>, tensor<4x3xf32>
// CHECK-NEXT: stablehlo.dot_general %arg0, %arg1, contracting_dims = [1] x [1], precision = [DEFAULT, HIGHEST] : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x4xf32>
// CHECK-NEXT: stablehlo.reduce(%arg0 init: %arg5), (%arg1 init: %arg5) across dimensions = [1] : (tensor<4x3xf32>, tensor<4x3xf32>, tensor<f32>, tensor<f32>) -> (tensor<4xf32>, tensor<4xf32>)
// CHECK-NEXT: reducer(%{{[a-zA-Z0-9_]+}}: tensor<f32>, %{{[a-zA-Z0-9_]+}}: tensor<f32>) (%{{[a-zA-Z0-9_]+}}: tensor<f32>, %{{[a-zA-Z0-9_]+}}: tensor<f32>)  {
// CHECK-NEXT: stablehlo.add %{{[a-zA-Z0-9_]+}}, %{{[a-zA-Z0-9_]+}} : tensor<f32>
// CHECK-NEXT: stablehlo.return %{{[a-zA-Z0-9_]+}}, %{{[a-zA-Z0-9_]+}} : tensor<f32>, tensor<f32>
// CHECK-NEXT: }
// CHECK-NEXT: "stablehlo.case"(%arg2) ({
// CHECK-NEXT: stablehlo.return %arg0 : tensor<4x3xf32>
// CHECK-NEXT: }) : (tensor<i32>) -> tensor<4x3xf32>
// CHECK-NEXT: stablehlo.negate %arg0 {foo = 1 : i64} : tensor<4x3xf32>
// CHECK-NEXT: stablehlo.convert %arg0 : tensor<4x3xf32>
// CHECK-NEXT: stablehlo.constant {foo = 1 : i64} dense<[1, 2]> : tensor<2xi32>
// CHECK-NEXT: stablehlo.reduce(%arg0 init: %arg5) applies stablehlo.add across dimensions = [1] {foo = 1 : i64} : (tensor<4x3xf32>, tensor<f32>) -> tensor<4xf32>
// CHECK-NEXT: stablehlo.while()
// CHECK-NEXT: cond {
// CHECK-NEXT: stablehlo.return %arg3 : tensor<i1>
// CHECK-NEXT: } do {
// CHECK-NEXT: stablehlo.return
// CHECK-NEXT: }
// CHECK-NEXT: stablehlo.transpose %arg0, dims = [1, 0] : (tensor<4x3xf32>) -> tensor<3x4xf32>
// CHECK-NEXT: stablehlo.broadcast_in_dim %arg5, dims = [] {foo = 1 : i64} : (tensor<f32>) -> tensor<3x4xf32>
// CHECK-NEXT: return
func.func @main(%arg0: tensor<4x3xf32>, %arg1: tensor<4x3xf32>, %arg2: tensor<i32>, %arg3: tensor<i1>, %arg4: tensor<4x3xcomplex<f32>>, %arg5: tensor<f32>) {
  %0 = stablehlo.reverse %arg0, dims = [0, 1] : tensor<4x3xf32>
  %1 = stablehlo.pad %arg0, %arg5, low = [1, 0], high = [0, 2], interior = [0, 0] : (tensor<4x3xf32>, tensor<f32>) -> tensor<5x5xf32>
  %2 = stablehlo.dynamic_slice %arg0, %arg2, %arg2, sizes = [2, 3] : (tensor<4x3xf32>, tensor<i32>, tensor<i32>) -> tensor<2x3xf32>
  %3 = stablehlo.dynamic_update_slice %arg0, %2, %arg2, %arg2 : (tensor<4x3xf32>, tensor<2x3xf32>, tensor<i32>, tensor<i32>) -> tensor<4x3xf32>
  %4 = stablehlo.reduce_precision %arg0, format = e5m10 : tensor<4x3xf32>
  %5 = "stablehlo.if"(%arg3) ({
    stablehlo.return %arg0 : tensor<4x3xf32>
  }, {
    stablehlo.return %arg1 : tensor<4x3xf32>
  }) : (tensor<i1>) -> tensor<4x3xf32>
  %6 = stablehlo.reduce(%arg0 init: %arg5) across dimensions = [0, 1] : (tensor<4x3xf32>, tensor<f32>) -> tensor<f32>
   reducer(%x: tensor<f32>, %y: tensor<f32>)  {
    %z = stablehlo.subtract %x, %y : tensor<f32>
    stablehlo.return %z : tensor<f32>
  }
  %7 = stablehlo.reduce(%arg0 init: %arg5) across dimensions = [1] : (tensor<4x3xf32>, tensor<f32>) -> tensor<4xf32>
   reducer(%x_1: tensor<f32>, %y_1: tensor<f32>)  {
    %z_1 = stablehlo.add %y_1, %x_1 : tensor<f32>
    stablehlo.return %z_1 : tensor<f32>
  }
  %8 = stablehlo.reduce(%arg0 init: %arg5) applies stablehlo.maximum across dimensions = [1] {foo = 1 : i64} : (tensor<4x3xf32>, tensor<f32>) -> tensor<4xf32>
  %9 = stablehlo.dot_general %arg0, %arg1, batching_dims = [0] x [0], contracting_dims = [1] x [1] : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4xf32>
  %10 = stablehlo.dot_general %arg0, %arg1, batching_dims = [0] x [0], contracting_dims = [] x [] : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3x3xf32>
  %11 = stablehlo.dot_general %arg0, %arg1, contracting_dims = [] x [] : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3x4x3xf32>
  %12 = stablehlo.is_finite %arg0 : (tensor<4x3xf32>) -> tensor<4x3xi1>
  %13 = stablehlo.real %arg4 : (tensor<4x3xcomplex<f32>>) -> tensor<4x3xf32>
  %14 = stablehlo.complex %arg0, %arg1 : tensor<4x3xcomplex<f32>>
  %15 = stablehlo.select %arg3, %arg0, %arg1 : tensor<i1>, tensor<4x3xf32>
  %16 = stablehlo.clamp %arg5, %arg0, %arg5 : (tensor<f32>, tensor<4x3xf32>, tensor<f32>) -> tensor<4x3xf32>
  %17 = stablehlo.compare EQ, %arg0, %arg1 : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3xi1>
  %18 = stablehlo.bitcast_convert %arg0 : (tensor<4x3xf32>) -> tensor<4x3xi32>
  %19 = stablehlo.slice %arg0 [0:4:2, 1:3] : (tensor<4x3xf32>) -> tensor<2x2xf32>
  %20 = stablehlo.slice %arg5 [] : (tensor<f32>) -> tensor<f32>
  %21 = stablehlo.constant dense<[[1.000000e+00, 2.000000e+00, 3.000000e+00], [1.000000e+00, 2.000000e+00, 3.000000e+00], [1.000000e+00, 2.000000e+00, 3.000000e+00], [1.000000e+00, 2.000000e+00, 3.000000e+00]]> : tensor<4x3xf32>
  %22 = stablehlo.constant dense<true> : tensor<i1>
  %23 = stablehlo.constant dense<0xff800000> : tensor<4xf32>
  %24, %25 = stablehlo.while(%x_2 = %arg2, %y_2 = %arg5) : tensor<i32>, tensor<f32> attributes {foo = 1 : i64}
  cond {
    stablehlo.return %arg3 : tensor<i1>
  } do {
    stablehlo.return %x_2, %y_2 : tensor<i32>, tensor<f32>
  }
  %26 = stablehlo.add %arg0, %arg1 {foo = 1 : i64} : tensor<4x3xf32>
  %27 = stablehlo.concatenate %arg0, %arg1, %arg0, dim = 0 : (tensor<4x3xf32>, tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<12x3xf32>
  %28 = stablehlo.iota dim = 1 : tensor<4x3xi32>
  %29 = stablehlo.abs %arg4 : (tensor<4x3xcomplex<f32>>) -> tensor<4x3xf32>
  %30 = stablehlo.select %12, %arg0, %arg1 : tensor<4x3xi1>, tensor<4x3xf32>
  %31 = stablehlo.dot_general %arg0, %arg1, contracting_dims = [1] x [1], precision = [DEFAULT, HIGHEST] : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x4xf32>
  %32, %33 = stablehlo.reduce(%arg0 init: %arg5), (%arg1 init: %arg5) across dimensions = [1] : (tensor<4x3xf32>, tensor<4x3xf32>, tensor<f32>, tensor<f32>) -> (tensor<4xf32>, tensor<4xf32>)
   reducer(%x_3: tensor<f32>, %x2: tensor<f32>) (%y_3: tensor<f32>, %y2: tensor<f32>)  {
    %z_2 = stablehlo.add %x_3, %x2 : tensor<f32>
    stablehlo.return %z_2, %z_2 : tensor<f32>, tensor<f32>
  }
  %34 = "stablehlo.case"(%arg2) ({
    stablehlo.return %arg0 : tensor<4x3xf32>
  }) : (tensor<i32>) -> tensor<4x3xf32>
  %35 = stablehlo.negate %arg0 {foo = 1 : i64} : tensor<4x3xf32>
  %36 = stablehlo.convert %arg0 : tensor<4x3xf32>
  %37 = stablehlo.constant {foo = 1 : i64} dense<[1, 2]> : tensor<2xi32>
  %38 = stablehlo.reduce(%arg0 init: %arg5) applies stablehlo.add across dimensions = [1] {foo = 1 : i64} : (tensor<4x3xf32>, tensor<f32>) -> tensor<4xf32>
  stablehlo.while()
  cond {
    stablehlo.return %arg3 : tensor<i1>
  } do {
    stablehlo.return 
  }
  %39 = stablehlo.transpose %arg0, dims = [1, 0] : (tensor<4x3xf32>) -> tensor<3x4xf32>
  %40 = stablehlo.broadcast_in_dim %arg5, dims = [] {foo = 1 : i64} : (tensor<f32>) -> tensor<3x4xf32>
  func.return
}

