func.func @f(%x: tensor<4x3xf32>) -> tensor<4x3xf32> {
  %r = "batch.vmap"(%x) <{in_axes = [0 : i64], out_axes = [0 : i64], axis_size = 4 : i64}> ({
  ^bb0(%v: tensor<3xf32>):
    "batch.yield"(%v) : (tensor<3xf32>) -> ()
  }) : (tensor<4x3xf32>) -> tensor<4x3xf32>
  func.return %r : tensor<4x3xf32>
}
