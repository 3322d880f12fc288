// RUN: vmlir-opt %s --print-op-generic -p "batch-mask-control-flow,batch-vectorize{strategy=refill lanes=2}" | filecheck %s
// RUN: vmlir-opt %s --print-op-generic -p "batch-mask-control-flow,batch-vectorize{strategy=sequential}" | filecheck %s --check-prefix=SEQ
// RUN: vmlir-opt %s --print-op-generic -p "batch-mask-control-flow,batch-vectorize{strategy=refill lanes=2},batch-lower" | filecheck %s --check-prefix=LOWER
// RUN: not vmlir-opt %s -p "batch-mask-control-flow,batch-vectorize{strategy=bogus}" 2>&1 | filecheck %s --check-prefix=BAD

// Lane refill (strategy `refill`, 2 persistent lanes for 4 examples): before the loop, a
// prefix sum queues the examples that have work and the first 2 are gathered into the
// lanes. One while runs the masked body on the lanes; each iteration scatters finished
// examples to their slots (indices out of bounds, for lanes that did not finish, are
// dropped), and a stablehlo.if hands free lanes the next queued examples (a prefix sum
// over the free lanes, gathers of the examples' initial carries). The loop carries the
// lanes' state, their example indices, the queue position, the results and its active
// count (its cond compares the count, no reduction).

// CHECK-LABEL: "func.func"() <{sym_name = "halve"
// CHECK:         "stablehlo.dot_general"({{.*}} : (tensor<4xf32>, tensor<4x4xf32>) -> tensor<4xf32>
// CHECK:         "stablehlo.slice"({{.*}}) <{start_indices = array<i64: 0>, limit_indices = array<i64: 2>
// CHECK:         "stablehlo.while"({{.*}}) ({
// CHECK-NEXT:    ^bb{{[0-9]+}}({{.*}}: tensor<2xf32>, {{.*}}: tensor<2xi1>, {{.*}}: tensor<2xi32>, {{.*}}: tensor<i32>, {{.*}}: tensor<4xf32>, [[COUNT:%[0-9]+]]: tensor<i32>):
// CHECK-NOT:       "stablehlo.reduce"
// CHECK:           "stablehlo.compare"([[COUNT]], {{%[0-9]+}}) <{comparison_direction = #stablehlo<comparison_direction GT>
// CHECK:         ^bb{{[0-9]+}}({{.*}}: tensor<2xf32>, {{.*}}: tensor<2xi1>, {{.*}}: tensor<2xi32>, {{.*}}: tensor<i32>, {{.*}}: tensor<4xf32>, {{.*}}: tensor<i32>):
// CHECK:           "stablehlo.divide"({{.*}}) : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
// CHECK:           "stablehlo.scatter"({{.*}}unique_indices = false
// CHECK:           }) : (tensor<4xf32>, tensor<2x1xi32>, tensor<2xf32>) -> tensor<4xf32>
// CHECK:           "stablehlo.if"
// CHECK:             "stablehlo.dot_general"({{.*}} : (tensor<2xf32>, tensor<2x2xf32>) -> tensor<2xf32>
// CHECK:             "stablehlo.gather"({{.*}} : (tensor<4xf32>, tensor<2x1xi32>) -> tensor<2xf32>
// CHECK:         }) {batch.strategy = "refill"}
// CHECK-NOT:     "stablehlo.while"
// CHECK:         "func.return"

// Sequential is refill with one lane.
// SEQ-LABEL: "func.func"() <{sym_name = "halve"
// SEQ:         "stablehlo.while"
// SEQ:         "stablehlo.divide"({{.*}}) : (tensor<1xf32>, tensor<1xf32>) -> tensor<1xf32>
// SEQ:         }) {batch.strategy = "sequential"}

// A loop's own batch.strategy attribute wins over the pass option.
// CHECK-LABEL: "func.func"() <{sym_name = "pinned"
// CHECK:         "stablehlo.while"
// CHECK-NOT:     "stablehlo.gather"
// CHECK:         }) {batch.strategy = "mask"}
// CHECK-NOT:     "stablehlo.while"

// batch-lower drops the record: XLA gets plain StableHLO.
// LOWER-NOT: batch.strategy

// BAD: batch-vectorize: unknown divergence strategy 'bogus'; expected one of auto, mask, compact, refill, sequential

func.func @halve(%x: tensor<4xf32>) -> tensor<4xf32> {
  %r = "batch.vmap"(%x) <{in_axes = [0 : i64], out_axes = [0 : i64], axis_size = 4 : i64}> ({
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
  }) : (tensor<4xf32>) -> tensor<4xf32>
  func.return %r : tensor<4xf32>
}

func.func @pinned(%x: tensor<4xf32>) -> tensor<4xf32> {
  %r = "batch.vmap"(%x) <{in_axes = [0 : i64], out_axes = [0 : i64], axis_size = 4 : i64}> ({
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
    }) {batch.strategy = "mask"} : (tensor<f32>) -> tensor<f32>
    "batch.yield"(%w) : (tensor<f32>) -> ()
  }) : (tensor<4xf32>) -> tensor<4xf32>
  func.return %r : tensor<4xf32>
}
