func.func @f(%x: tensor<4x3xf32>) -> tensor<4x3xf32> {
  %r = batch.vmap(%v = %x) in_axes [0] out_axes [0] size 4 : (tensor<4x3xf32>) -> tensor<4x3xf32> {
    batch.yield %v : tensor<3xf32>
  }
  func.return %r : tensor<4x3xf32>
}
