// RUN: vmlir-opt %s -p "batch-mask-control-flow,batch-vectorize{min_bucket=2 shrink=2}" | filecheck %s
// RUN: vmlir-opt %s -p "batch-mask-control-flow,batch-vectorize{min_bucket=2 shrink=2},batch-lower" | vmlir-translate --to-jaxlib | filecheck %s --check-prefix=JAXLIB
// RUN: vmlir-opt %s -p "batch-mask-control-flow,batch-vectorize{compact_lanes=false}" | filecheck %s --check-prefix=OFF

// Lane compaction of a varying while on 4 lanes, shrinking to 2 (min_bucket=2, shrink=2).
// batch-mask-control-flow made the active flag a carry (evaluated before the loop and at
// the end of each iteration; the cond only reduces it). A first stage runs at most
// quick_stage=4 iterations on all lanes; then the active lanes are counted once: if more
// than 2 are active, a second loop finishes at full width (guarded, so it runs no
// iteration otherwise); else, if any is active, a stablehlo.if compacts: the active lanes
// are found with a prefix sum (reduce_window), gathered into 2 lanes, the loop finishes
// there, and a scatter writes them back.

// CHECK-LABEL: func.func @halve(
// CHECK: %3, [[ACTIVE:%[0-9]+]], %5 = stablehlo.while({{.*}}) : tensor<4xf32>, tensor<4xi1>, tensor<i32>
// CHECK: [[ANY0:%[0-9]+]] = stablehlo.reduce({{.*}}) applies stablehlo.or across dimensions = [0]
// CHECK: [[Q:%[0-9]+]] = stablehlo.constant dense<4> : tensor<i32>
// CHECK-NEXT: [[BELOW:%[0-9]+]] = stablehlo.compare LT, {{%[0-9]+}}, [[Q]], SIGNED
// CHECK-NEXT: [[GO0:%[0-9]+]] = stablehlo.and [[BELOW]], [[ANY0]]
// CHECK: [[LEFT:%[0-9]+]] = stablehlo.reduce([[ACTIVE]] init: {{%[0-9]+}}) applies stablehlo.or
// CHECK-NEXT: [[COUNT:%[0-9]+]] = stablehlo.convert [[ACTIVE]] : (tensor<4xi1>) -> tensor<4xf32>
// CHECK: [[MANY:%[0-9]+]] = stablehlo.compare GT, {{.*}}, FLOAT : (tensor<f32>, tensor<f32>) -> tensor<i1>
// CHECK-NEXT: [[WIDE:%[0-9]+]], [[WIDEACTIVE:%[0-9]+]] = stablehlo.while({{.*}} = %3, {{.*}} = [[ACTIVE]]) : tensor<4xf32>, tensor<4xi1>
// CHECK: [[ANY:%[0-9]+]] = stablehlo.reduce
// CHECK-NEXT: [[GO:%[0-9]+]] = stablehlo.and [[MANY]], [[ANY]]
// CHECK-NEXT: stablehlo.return [[GO]] : tensor<i1>
// CHECK: [[FEW:%[0-9]+]] = stablehlo.not [[MANY]]
// CHECK-NEXT: [[COMPACT:%[0-9]+]] = stablehlo.and [[FEW]], [[LEFT]]
// CHECK-NEXT: %r, {{%[0-9]+}} = "stablehlo.if"([[COMPACT]]) ({
// CHECK: "stablehlo.reduce_window"({{.*}}window_dimensions = array<i64: 4>{{.*}}padding = dense<{{\[\[}}3, 0]]>
// CHECK: [[IDX:%[0-9]+]] = stablehlo.reshape {{.*}} : (tensor<2xi32>) -> tensor<2x1xi32>
// CHECK-NEXT: [[SMALL:%[0-9]+]] = "stablehlo.gather"([[WIDE]], [[IDX]]) {{.*}} : (tensor<4xf32>, tensor<2x1xi32>) -> tensor<2xf32>
// CHECK-NEXT: [[SMALLACTIVE:%[0-9]+]] = "stablehlo.gather"([[WIDEACTIVE]], [[IDX]])
// CHECK-NEXT: [[DONE:%[0-9]+]], [[DONEACTIVE:%[0-9]+]] = stablehlo.while({{.*}} = [[SMALL]], {{.*}} = [[SMALLACTIVE]]) : tensor<2xf32>, tensor<2xi1>
// CHECK: [[BACK:%[0-9]+]] = "stablehlo.scatter"([[WIDE]], [[IDX]], [[DONE]]) {{.*}}unique_indices = true
// CHECK: stablehlo.return [[BACK]], {{%[0-9]+}} : tensor<4xf32>, tensor<4xi1>
// CHECK-NEXT: }, {
// CHECK-NEXT: stablehlo.return [[WIDE]], [[WIDEACTIVE]] : tensor<4xf32>, tensor<4xi1>
// CHECK-NEXT: }) : (tensor<i1>) -> (tensor<4xf32>, tensor<4xi1>)
// CHECK-NEXT: func.return %r : tensor<4xf32>

// JAXLIB: "stablehlo.gather"
// JAXLIB: "stablehlo.scatter"

// OFF-LABEL: func.func @halve(
// OFF-COUNT-1: stablehlo.while(
// OFF-NOT: "stablehlo.gather"

func.func @halve(%x: tensor<4xf32>) -> tensor<4xf32> {
  %r = batch.vmap(%v = %x) in_axes [0] out_axes [0] size 4 : (tensor<4xf32>) -> tensor<4xf32> {
    %w = stablehlo.while(%c = %v) : tensor<f32>
    cond {
      %one = stablehlo.constant dense<1.000000e+00> : tensor<f32>
      %gt = stablehlo.compare GT, %c, %one, FLOAT : (tensor<f32>, tensor<f32>) -> tensor<i1>
      stablehlo.return %gt : tensor<i1>
    } do {
      %two = stablehlo.constant dense<2.000000e+00> : tensor<f32>
      %h = stablehlo.divide %c, %two : tensor<f32>
      stablehlo.return %h : tensor<f32>
    }
    batch.yield %w : tensor<f32>
  }
  func.return %r : tensor<4xf32>
}
