// RUN: vmlir-opt %s -p "batch-mask-control-flow,batch-vectorize{strategy=compact min_bucket=8 shrink=4}" | filecheck %s

// A lane loop of 64 to 4095 lanes pads its flags with zeros to 4096 before it counts
// them (compaction.active_count), so XLA CPU sums them with its library kernel, which
// compiles faster than the generated kernels of a shorter sum. Here 256 lanes: the top
// level pads its count; its bucket of 64 lanes pads too; the last bucket, 16 lanes, sums
// its 16 flags as they are.
// CHECK-LABEL: func.func @halve(
// CHECK:         %[[F256:.*]] = stablehlo.convert %{{.*}} : (tensor<256xi1>) -> tensor<256xf32>
// CHECK-NEXT:    %[[ZERO:.*]] = stablehlo.constant dense<0.000000e+00> : tensor<f32>
// CHECK-NEXT:    %[[P256:.*]] = stablehlo.pad %[[F256]], %[[ZERO]], low = [0], high = [3840], interior = [0] : (tensor<256xf32>, tensor<f32>) -> tensor<4096xf32>
// CHECK:         stablehlo.reduce(%[[P256]] init: %{{.*}}) applies stablehlo.add across dimensions = [0] : (tensor<4096xf32>, tensor<f32>) -> tensor<f32>
// CHECK:         stablehlo.pad %{{.*}}, %{{.*}}, low = [0], high = [4032], interior = [0] : (tensor<64xf32>, tensor<f32>) -> tensor<4096xf32>
// CHECK-NOT:     stablehlo.pad
// CHECK:         stablehlo.reduce(%{{.*}} init: %{{.*}}) applies stablehlo.add across dimensions = [0] : (tensor<16xf32>, tensor<f32>) -> tensor<f32>
// CHECK:         func.return

func.func @halve(%x: tensor<256xf32>) -> tensor<256xf32> {
  %r = batch.vmap(%v = %x) in_axes [0] out_axes [0] size 256 : (tensor<256xf32>) -> tensor<256xf32> {
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
  func.return %r : tensor<256xf32>
}
