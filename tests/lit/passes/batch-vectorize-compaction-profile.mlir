// RUN: vmlir-opt %s -p "batch-mask-control-flow,batch-vectorize{strategy=compact min_bucket=2 shrink=8}" | filecheck %s

// Compaction with a profile (`batch.trips`, as vmlir.compile(f, profile=...) sets it):
// when compaction, replayed on the profiled trip counts (occupancy.compact_trace),
// never gets down to the bucket (here 2 of 16 lanes; the profile says every example
// runs 5 iterations, so all 16 stay active to the end), the nest would only cost
// compile time: the loop counts its lanes every few iterations and runs on all of them
// until none is active, with no top_k, gather, scatter or conditional. A profile with
// stragglers (@stragglers: 1% of the examples run 40 iterations) keeps the nest.

// CHECK-LABEL: func.func @uniform(
// CHECK:         stablehlo.while({{.*}}) : tensor<16xf32>, tensor<16xi1>, tensor<i32>, tensor<f32> attributes {batch.strategy = "compact"}
// CHECK-NEXT:    cond {
// CHECK-NEXT:      %[[NONE:.*]] = stablehlo.constant dense<0.000000e+00> : tensor<f32>
// CHECK-NEXT:      stablehlo.compare GT, %{{.*}}, %[[NONE]], FLOAT
// CHECK-NOT:     chlo.top_k
// CHECK-NOT:     stablehlo.gather
// CHECK-NOT:     stablehlo.if
// CHECK:         func.return

// CHECK-LABEL: func.func @stragglers(
// CHECK:         chlo.top_k
// CHECK:         stablehlo.gather
// CHECK:         func.return

func.func @uniform(%x: tensor<16xf32>) -> tensor<16xf32> {
  %r = batch.vmap(%v = %x) in_axes [0] out_axes [0] size 16 : (tensor<16xf32>) -> tensor<16xf32> {
    %w = stablehlo.while(%c = %v) : tensor<f32> attributes {batch.trips = array<i64: 5, 5, 5>}
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
  func.return %r : tensor<16xf32>
}

func.func @stragglers(%x: tensor<16xf32>) -> tensor<16xf32> {
  %r = batch.vmap(%v = %x) in_axes [0] out_axes [0] size 16 : (tensor<16xf32>) -> tensor<16xf32> {
    %w = stablehlo.while(%c = %v) : tensor<f32> attributes {batch.trips = array<i64: 1, 1, 40>}
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
  func.return %r : tensor<16xf32>
}
