// RUN: vmlir-opt %s --print-op-generic -p "batch-mask-control-flow,batch-vectorize{min_bucket=2 shrink=8}" | filecheck %s
// RUN: vmlir-opt %s -p "batch-mask-control-flow,batch-vectorize{min_bucket=2 shrink=8},batch-lower" | vmlir-translate --to-jaxlib | filecheck %s --check-prefix=JAXLIB
// RUN: vmlir-opt %s --print-op-generic -p "batch-mask-control-flow,batch-vectorize{compact_lanes=false}" | filecheck %s --check-prefix=OFF
// RUN: vmlir-opt %s --print-op-generic -p "batch-mask-control-flow,batch-vectorize{strategy=mask min_bucket=2 shrink=8}" | filecheck %s --check-prefix=OFF

// Lane compaction (strategy `compact`) of a varying while on 16 lanes, shrinking to 2
// (min_bucket=2, shrink=8). batch-mask-control-flow made the active flag a carry
// (evaluated before the loop and at the end of each iteration). Each level's loop
// carries its active count (an f32 sum, starting above the limit so that the body runs
// at least once) and its cond only compares it: the first level runs while more than 2
// lanes are active. Its body runs the lane loop's body `steps` times in an inner loop
// (steps doubling from 1 to check_every=8), then counts the flags, so the count is paid
// once per run. Then, if the count says any lane is active, a stablehlo.if compacts: a
// top_k of the flags (as f32; ties keep the lower lane first; it picks at most 1/8 of
// the lanes, else prefix sums do) gives the active lanes, then inactive ones, and its values the flags of the 2 lanes it picks (no gather for
// them); the value is gathered into 2 lanes, the last level's loop (counting the same
// way, while any lane is active) finishes there, and a scatter writes them back; every
// flag is false afterwards. Every loop records the strategy as `batch.strategy`.

// CHECK-LABEL: "func.func"() <{sym_name = "halve"
// CHECK:         [[ONE:%[0-9]+]] = "stablehlo.constant"() <{value = dense<1> : tensor<i32>}>
// CHECK-NEXT:    [[ABOVE:%[0-9]+]] = "stablehlo.constant"() <{value = dense<3.000000e+00> : tensor<f32>}>
// CHECK-NEXT:    %4, %5, %6, [[COUNT:%[0-9]+]] = "stablehlo.while"(%x, %1, [[ONE]], [[ABOVE]]) ({
// CHECK-NEXT:    ^bb{{[0-9]+}}({{.*}}, [[N:%[0-9]+]]: tensor<f32>):
// CHECK-NEXT:      [[TWO:%[0-9]+]] = "stablehlo.constant"() <{value = dense<2.000000e+00> : tensor<f32>}>
// CHECK-NEXT:      [[MORE:%[0-9]+]] = "stablehlo.compare"([[N]], [[TWO]]) <{comparison_direction = #stablehlo<comparison_direction GT>
// CHECK-NEXT:      "stablehlo.return"([[MORE]]) : (tensor<i1>) -> ()
// CHECK-NEXT:    }, {
// CHECK-NEXT:    ^bb{{[0-9]+}}({{%[0-9]+}}: tensor<16xf32>, {{%[0-9]+}}: tensor<16xi1>, [[STEPS:%[0-9]+]]: tensor<i32>, {{%[0-9]+}}: tensor<f32>):
// CHECK:           {{%[0-9]+}}, [[FLAGS1:%[0-9]+]], {{%[0-9]+}} = "stablehlo.while"(
// CHECK:             "stablehlo.compare"({{%[0-9]+}}, [[STEPS]]) <{comparison_direction = #stablehlo<comparison_direction LT>
// CHECK:             "stablehlo.divide"
// CHECK:           }) {batch.strategy = "compact"}
// CHECK-NEXT:      [[TWICE:%[0-9]+]] = "stablehlo.add"([[STEPS]], [[STEPS]])
// CHECK-NEXT:      [[MOST:%[0-9]+]] = "stablehlo.constant"() <{value = dense<8> : tensor<i32>}>
// CHECK-NEXT:      [[NEXT:%[0-9]+]] = "stablehlo.minimum"([[TWICE]], [[MOST]])
// CHECK-NEXT:      [[F:%[0-9]+]] = "stablehlo.convert"([[FLAGS1]]) : (tensor<16xi1>) -> tensor<16xf32>
// CHECK:           [[SUM:%[0-9]+]] = "stablehlo.reduce"([[F]]
// CHECK:           "stablehlo.return"({{%[0-9]+}}, [[FLAGS1]], [[NEXT]], [[SUM]])
// CHECK-NEXT:    }) {batch.strategy = "compact"} : (tensor<16xf32>, tensor<16xi1>, tensor<i32>, tensor<f32>) -> (tensor<16xf32>, tensor<16xi1>, tensor<i32>, tensor<f32>)
// CHECK-NOT:     "stablehlo.reduce"
// CHECK:         [[ZERO:%[0-9]+]] = "stablehlo.constant"() <{value = dense<0.000000e+00> : tensor<f32>}>
// CHECK-NEXT:    [[LEFT:%[0-9]+]] = "stablehlo.compare"([[COUNT]], [[ZERO]]) <{comparison_direction = #stablehlo<comparison_direction GT>
// CHECK-NEXT:    %r, {{%[0-9]+}} = "stablehlo.if"([[LEFT]]) ({
// CHECK-NEXT:      [[AS_F32:%[0-9]+]] = "stablehlo.convert"(%5) : (tensor<16xi1>) -> tensor<16xf32>
// CHECK-NEXT:      [[TOPV:%[0-9]+]], [[TOPI:%[0-9]+]] = "chlo.top_k"([[AS_F32]]) <{k = 2 : i64}> : (tensor<16xf32>) -> (tensor<2xf32>, tensor<2xi32>)
// CHECK-NEXT:      [[IDX:%[0-9]+]] = "stablehlo.reshape"([[TOPI]]) : (tensor<2xi32>) -> tensor<2x1xi32>
// CHECK:           [[SMALLACTIVE:%[0-9]+]] = "stablehlo.compare"([[TOPV]], {{%[0-9]+}}) <{comparison_direction = #stablehlo<comparison_direction GT>
// CHECK-NEXT:      [[SMALL:%[0-9]+]] = "stablehlo.gather"(%4, [[IDX]]) {{.*}} : (tensor<16xf32>, tensor<2x1xi32>) -> tensor<2xf32>
// CHECK-NOT:       "stablehlo.gather"
// CHECK:           [[DONE:%[0-9]+]], {{%[0-9]+}}, {{%[0-9]+}}, {{%[0-9]+}} = "stablehlo.while"([[SMALL]], [[SMALLACTIVE]], {{%[0-9]+}}, {{%[0-9]+}}) ({
// CHECK:             "stablehlo.compare"({{%[0-9]+}}, {{%[0-9]+}}) <{comparison_direction = #stablehlo<comparison_direction GT>
// CHECK:             "stablehlo.reduce"
// CHECK:           }) {batch.strategy = "compact"} : (tensor<2xf32>, tensor<2xi1>, tensor<i32>, tensor<f32>) -> (tensor<2xf32>, tensor<2xi1>, tensor<i32>, tensor<f32>)
// CHECK-NEXT:      [[BACK:%[0-9]+]] = "stablehlo.scatter"(%4, [[IDX]], [[DONE]]) {{.*}}unique_indices = true
// CHECK:           [[FLAGS:%[0-9]+]] = "stablehlo.broadcast_in_dim"({{.*}} : (tensor<i1>) -> tensor<16xi1>
// CHECK-NEXT:      "stablehlo.return"([[BACK]], [[FLAGS]]) : (tensor<16xf32>, tensor<16xi1>) -> ()
// CHECK-NEXT:    }, {
// CHECK-NEXT:      "stablehlo.return"(%4, %5) : (tensor<16xf32>, tensor<16xi1>) -> ()
// CHECK-NEXT:    }) : (tensor<i1>) -> (tensor<16xf32>, tensor<16xi1>)
// CHECK-NEXT:    "func.return"(%r) : (tensor<16xf32>) -> ()

// JAXLIB: "chlo.top_k"
// JAXLIB: "stablehlo.gather"
// JAXLIB: "stablehlo.scatter"

// OFF-LABEL: "func.func"() <{sym_name = "halve"
// OFF:         "stablehlo.while"
// OFF:         }) {batch.strategy = "mask"}
// OFF-NOT:     "stablehlo.while"
// OFF-NOT:     "stablehlo.gather"

func.func @halve(%x: tensor<16xf32>) -> tensor<16xf32> {
  %r = "batch.vmap"(%x) <{in_axes = [0 : i64], out_axes = [0 : i64], axis_size = 16 : i64}> ({
  ^bb0(%v: tensor<f32>):
    %w = "stablehlo.while"(%v) ({
    ^bb0(%c: tensor<f32>):
      %one = "stablehlo.constant"() <{value = dense<1.0> : tensor<f32>}> : () -> tensor<f32>
      %gt = "stablehlo.compare"(%c, %one) <{compare_type = #stablehlo<comparison_type FLOAT>, comparison_direction = #stablehlo<comparison_direction GT>}> : (tensor<f32>, tensor<f32>) -> tensor<i1>
      "stablehlo.return"(%gt) : (tensor<i1>) -> ()
    }, {
    ^bb0(%c: tensor<f32>):
      %two = "stablehlo.constant"() <{value = dense<2.0> : tensor<f32>}> : () -> tensor<f32>
      %h = "stablehlo.divide"(%c, %two) : (tensor<f32>, tensor<f32>) -> tensor<f32>
      "stablehlo.return"(%h) : (tensor<f32>) -> ()
    }) : (tensor<f32>) -> tensor<f32>
    "batch.yield"(%w) : (tensor<f32>) -> ()
  }) : (tensor<16xf32>) -> tensor<16xf32>
  func.return %r : tensor<16xf32>
}
