// RUN: vmlir-opt %s -p "batch-mask-control-flow,batch-vectorize{strategy=refill lanes=4 tail_copy=0}" | filecheck %s
// RUN: vmlir-opt %s -p "batch-mask-control-flow,batch-vectorize{strategy=refill lanes=4}" | filecheck %s --check-prefix=DROP

// Refill's tail (passes/rules/refill.py): 4 persistent lanes for 8 examples. The
// queue's prefix sum also gives the number of queued examples (its last rank: no
// reduction before the loop). The refilling loop runs while examples are queued or more
// than 2 (L/2) lanes are active: it carries its active count, which its body counts
// once (an f32 sum, converted to i32; the free lanes are the others, and none active is
// all free) and raises by the examples a refill hands out. Then a prefix sum over the 4
// lanes' flags puts the active ones first (a top_k would pick half the lanes: slower
// than the prefix sum, compaction.select_lanes), and the lanes' carries, flags and
// example indices are gathered into a loop on 2 lanes, which scatters each finished
// example to its slot of the results and runs while any lane is active (L/8 = 0 lanes:
// no further tail loop).

// With tail_copy=0 every tail loop is built, and so without a profile (the first RUN's
// @halve8). With a profile (`batch.trips`, as vmlir.compile(f, profile=...) sets it) a
// tail loop is built only where the lane-iterations it saves per call pay for compiling
// one more copy of the body (costmodel.TAIL_COPY): on 8 examples none does, so the
// refilling loop runs until no lane is active (its cond compares the carried count
// with 0) and no lanes are gathered.
// DROP-LABEL: func.func @profiled8(
// DROP:         stablehlo.while({{.*}}) : tensor<4xf32>, tensor<4xi1>, tensor<4xi32>, tensor<i32>, tensor<8xf32>, tensor<i32> attributes {batch.strategy = "refill"}
// DROP-NEXT:    cond {
// DROP-NEXT:      %[[NONE:.*]] = stablehlo.constant dense<0> : tensor<i32>
// DROP-NEXT:      stablehlo.compare GT, %{{.*}}, %[[NONE]], SIGNED
// DROP:           stablehlo.return {{.*}} : tensor<4xf32>, tensor<4xi1>, tensor<4xi32>, tensor<i32>, tensor<8xf32>, tensor<i32>
// DROP-NEXT:    }
// DROP-NOT:     stablehlo.while
// DROP-NOT:     stablehlo.gather
// DROP:         func.return
// DROP-LABEL: func.func @halve8(

// CHECK-LABEL: func.func @halve8(
// CHECK:         stablehlo.dot_general {{.*}} : (tensor<8xf32>, tensor<8x8xf32>) -> tensor<8xf32>
// CHECK-NOT:     stablehlo.reduce
// CHECK:         stablehlo.while({{.*}}) : tensor<4xf32>, tensor<4xi1>, tensor<4xi32>, tensor<i32>, tensor<8xf32>, tensor<i32> attributes {batch.strategy = "refill"}
// CHECK-NEXT:    cond {
// CHECK-NEXT:      %[[HALF:.*]] = stablehlo.constant dense<2> : tensor<i32>
// CHECK-NEXT:      %[[MANY:.*]] = stablehlo.compare GT, %{{.*}}, %[[HALF]], SIGNED
// CHECK-NEXT:      %[[QUEUED:.*]] = stablehlo.compare LT,
// CHECK-NEXT:      stablehlo.or %[[MANY]], %[[QUEUED]] : tensor<i1>
// CHECK:         } do {
// CHECK:           %[[BUSY:.*]] = stablehlo.reduce({{.*}}) applies stablehlo.add across dimensions = [0] : (tensor<4xf32>, tensor<f32>) -> tensor<f32>
// CHECK-NEXT:      %[[BUSYI:.*]] = stablehlo.convert %[[BUSY]] : (tensor<f32>) -> tensor<i32>
// CHECK-NEXT:      %[[ALL:.*]] = stablehlo.constant dense<4> : tensor<i32>
// CHECK-NEXT:      %[[FREE:.*]] = stablehlo.subtract %[[ALL]], %[[BUSYI]] : tensor<i32>
// CHECK-NOT:       stablehlo.reduce
// CHECK:           %[[GO:.*]] = stablehlo.and
// CHECK:           %[[TAKEN:.*]] = stablehlo.minimum %[[FREE]],
// CHECK-NEXT:      %[[MORE:.*]] = stablehlo.add %[[BUSYI]], %[[TAKEN]] : tensor<i32>
// CHECK-NEXT:      %[[NEXT:.*]] = stablehlo.select %[[GO]], %[[MORE]], %[[BUSYI]] : tensor<i1>, tensor<i32>
// CHECK:           stablehlo.if
// CHECK:           stablehlo.return {{.*}}, %[[NEXT]] : {{.*}}tensor<i32>
// CHECK-NOT:     chlo.top_k
// CHECK:         stablehlo.dot_general {{.*}} : (tensor<4xf32>, tensor<4x4xf32>) -> tensor<4xf32>
// CHECK:         "stablehlo.gather"({{.*}} : (tensor<4xf32>, tensor<2x1xi32>) -> tensor<2xf32>
// CHECK-NEXT:    "stablehlo.gather"({{.*}} : (tensor<4xi1>, tensor<2x1xi32>) -> tensor<2xi1>
// CHECK-NEXT:    "stablehlo.gather"({{.*}} : (tensor<4xi32>, tensor<2x1xi32>) -> tensor<2xi32>
// CHECK-NEXT:    stablehlo.while({{.*}}) : tensor<2xf32>, tensor<2xi1>, tensor<2xi32>, tensor<i32>, tensor<8xf32> attributes {batch.strategy = "refill"}
// CHECK-NEXT:    cond {
// CHECK:           stablehlo.reduce({{.*}}) applies stablehlo.or across dimensions = [0] : (tensor<2xi1>, tensor<i1>) -> tensor<i1>
// CHECK:         } do {
// CHECK:           stablehlo.divide {{.*}} : tensor<2xf32>
// CHECK:           "stablehlo.scatter"
// CHECK:           }) : (tensor<8xf32>, tensor<2x1xi32>, tensor<2xf32>) -> tensor<8xf32>
// CHECK-NOT:       stablehlo.if
// CHECK:         }
// CHECK-NOT:     stablehlo.while
// CHECK:         func.return

func.func @profiled8(%x: tensor<8xf32>) -> tensor<8xf32> {
  %r = batch.vmap(%v = %x) in_axes [0] out_axes [0] size 8 : (tensor<8xf32>) -> tensor<8xf32> {
    %w = stablehlo.while(%c = %v) : tensor<f32> attributes {batch.trips = array<i64: 1, 2, 3>}
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
  func.return %r : tensor<8xf32>
}

func.func @halve8(%x: tensor<8xf32>) -> tensor<8xf32> {
  %r = batch.vmap(%v = %x) in_axes [0] out_axes [0] size 8 : (tensor<8xf32>) -> tensor<8xf32> {
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
  func.return %r : tensor<8xf32>
}
