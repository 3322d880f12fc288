// RUN: vmlir-opt %s -p batch-chunk | filecheck %s
// RUN: vmlir-opt %s -p batch-propagate-axes,batch-mask-control-flow,batch-chunk,batch-vectorize,batch-lower | vmlir-translate --to-jaxlib | filecheck %s --check-prefix=JAXLIB

// batch-chunk turns a batch.vmap with a chunk_size into a stablehlo.while over the full
// chunks plus a tail vmap for the remainder. The second RUN line runs the whole pipeline
// and jaxlib's parser reads the result: the while stays a loop, its body vectorized.

// B = 10, k = 4: a loop over the 2 full chunks (dynamic_slice at chunk * 4, a batch.vmap
// of 4, dynamic_update_slice into the zero buffer), then the remaining 2 examples (static
// slice, a batch.vmap of 2) written at offset 8.
// CHECK-LABEL: func.func @two_chunks_and_a_remainder(
// CHECK-NEXT: %0 = stablehlo.constant dense<0.000000e+00> : tensor<f32>
// CHECK-NEXT: %buffer = stablehlo.broadcast_in_dim %0, dims = [] : (tensor<f32>) -> tensor<10x3xf32>
// CHECK-NEXT: %1 = stablehlo.constant dense<0> : tensor<i32>
// CHECK-NEXT: %2, %3 = stablehlo.while(%chunk = %1, %4 = %buffer) : tensor<i32>, tensor<10x3xf32>
// CHECK-NEXT: cond {
// CHECK-NEXT: %num_chunks = stablehlo.constant dense<2> : tensor<i32>
// CHECK-NEXT: %5 = stablehlo.compare LT, %chunk, %num_chunks, SIGNED : (tensor<i32>, tensor<i32>) -> tensor<i1>
// CHECK-NEXT: stablehlo.return %5 : tensor<i1>
// CHECK-NEXT: } do {
// CHECK-NEXT: %chunk_size = stablehlo.constant dense<4> : tensor<i32>
// CHECK-NEXT: %offset = stablehlo.multiply %chunk, %chunk_size : tensor<i32>
// CHECK-NEXT: %6 = stablehlo.constant dense<0> : tensor<i32>
// CHECK-NEXT: %7 = stablehlo.dynamic_slice %x, %offset, %6, sizes = [4, 3] : (tensor<10x3xf32>, tensor<i32>, tensor<i32>) -> tensor<4x3xf32>
// CHECK-NEXT: %8 = batch.vmap(%v = %7) in_axes [0] out_axes [0] size 4 : (tensor<4x3xf32>) -> tensor<4x3xf32> {
// CHECK-NEXT: %s = stablehlo.sine %v : tensor<3xf32>
// CHECK-NEXT: batch.yield %s : tensor<3xf32>
// CHECK-NEXT: }
// CHECK-NEXT: %9 = stablehlo.dynamic_update_slice %4, %8, %offset, %6 : (tensor<10x3xf32>, tensor<4x3xf32>, tensor<i32>, tensor<i32>) -> tensor<10x3xf32>
// CHECK-NEXT: %10 = stablehlo.constant dense<1> : tensor<i32>
// CHECK-NEXT: %11 = stablehlo.add %chunk, %10 : tensor<i32>
// CHECK-NEXT: stablehlo.return %11, %9 : tensor<i32>, tensor<10x3xf32>
// CHECK-NEXT: }
// CHECK-NEXT: %12 = stablehlo.slice %x [8:10, 0:3] : (tensor<10x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT: %13 = batch.vmap(%v_1 = %12) in_axes [0] out_axes [0] size 2 : (tensor<2x3xf32>) -> tensor<2x3xf32> {
// CHECK-NEXT: %s_1 = stablehlo.sine %v_1 : tensor<3xf32>
// CHECK-NEXT: batch.yield %s_1 : tensor<3xf32>
// CHECK-NEXT: }
// CHECK-NEXT: %14 = stablehlo.constant dense<8> : tensor<i32>
// CHECK-NEXT: %r = stablehlo.dynamic_update_slice %3, %13, %14, %1 : (tensor<10x3xf32>, tensor<2x3xf32>, tensor<i32>, tensor<i32>) -> tensor<10x3xf32>
// CHECK-NEXT: func.return %r : tensor<10x3xf32>
// JAXLIB-LABEL: sym_name = "two_chunks_and_a_remainder"
// JAXLIB: "stablehlo.while"
// JAXLIB: "stablehlo.dynamic_slice"({{.*}}) <{slice_sizes = array<i64: 4, 3>}>
// JAXLIB-NEXT: "stablehlo.sine"({{.*}}) : (tensor<4x3xf32>) -> tensor<4x3xf32>
// JAXLIB: "stablehlo.slice"
// JAXLIB-NEXT: "stablehlo.sine"({{.*}}) : (tensor<2x3xf32>) -> tensor<2x3xf32>
func.func @two_chunks_and_a_remainder(%x: tensor<10x3xf32>) -> tensor<10x3xf32> {
  %r = batch.vmap(%v = %x) in_axes [0] out_axes [0] size 10 chunk 4 : (tensor<10x3xf32>) -> tensor<10x3xf32> {
    %s = stablehlo.sine %v : tensor<3xf32>
    batch.yield %s : tensor<3xf32>
  }
  func.return %r : tensor<10x3xf32>
}


// B = 8, k = 4, no remainder: no tail. %w (in_axes none) is read by every chunk as it is;
// %x is sliced along its mapped axis 1; the out_axes 1 result is written at axis 1; the
// out_axes none result is the same for every example, so it is the chunk's value.
// CHECK-LABEL: func.func @no_remainder(
// CHECK-NEXT: %0 = stablehlo.constant dense<0.000000e+00> : tensor<f32>
// CHECK-NEXT: %buffer = stablehlo.broadcast_in_dim %0, dims = [] : (tensor<f32>) -> tensor<2x8xf32>
// CHECK-NEXT: %buffer_1 = stablehlo.broadcast_in_dim %0, dims = [] : (tensor<f32>) -> tensor<2xf32>
// CHECK-NEXT: %1 = stablehlo.constant dense<0> : tensor<i32>
// CHECK-NEXT: %2, %r, %u = stablehlo.while(%chunk = %1, %3 = %buffer, %4 = %buffer_1) : tensor<i32>, tensor<2x8xf32>, tensor<2xf32>
// CHECK-NEXT: cond {
// CHECK-NEXT: %num_chunks = stablehlo.constant dense<2> : tensor<i32>
// CHECK-NEXT: %5 = stablehlo.compare LT, %chunk, %num_chunks, SIGNED : (tensor<i32>, tensor<i32>) -> tensor<i1>
// CHECK-NEXT: stablehlo.return %5 : tensor<i1>
// CHECK-NEXT: } do {
// CHECK-NEXT: %chunk_size = stablehlo.constant dense<4> : tensor<i32>
// CHECK-NEXT: %offset = stablehlo.multiply %chunk, %chunk_size : tensor<i32>
// CHECK-NEXT: %6 = stablehlo.constant dense<0> : tensor<i32>
// CHECK-NEXT: %7 = stablehlo.dynamic_slice %x, %6, %offset, sizes = [2, 4] : (tensor<2x8xf32>, tensor<i32>, tensor<i32>) -> tensor<2x4xf32>
// CHECK-NEXT: %8, %9 = batch.vmap(%a = %w, %v = %7) in_axes [none, 1] out_axes [1, none] size 4 : (tensor<2xf32>, tensor<2x4xf32>) -> (tensor<2x4xf32>, tensor<2xf32>) {
// CHECK-NEXT: %m = stablehlo.multiply %a, %v : tensor<2xf32>
// CHECK-NEXT: %e = stablehlo.exponential %a : tensor<2xf32>
// CHECK-NEXT: batch.yield %m, %e : tensor<2xf32>, tensor<2xf32>
// CHECK-NEXT: }
// CHECK-NEXT: %10 = stablehlo.dynamic_update_slice %3, %8, %6, %offset : (tensor<2x8xf32>, tensor<2x4xf32>, tensor<i32>, tensor<i32>) -> tensor<2x8xf32>
// CHECK-NEXT: %11 = stablehlo.constant dense<1> : tensor<i32>
// CHECK-NEXT: %12 = stablehlo.add %chunk, %11 : tensor<i32>
// CHECK-NEXT: stablehlo.return %12, %10, %9 : tensor<i32>, tensor<2x8xf32>, tensor<2xf32>
// CHECK-NEXT: }
// CHECK-NEXT: func.return %r, %u : tensor<2x8xf32>, tensor<2xf32>
// JAXLIB-LABEL: sym_name = "no_remainder"
// JAXLIB: "stablehlo.while"
// JAXLIB: "stablehlo.exponential"({{.*}}) : (tensor<2xf32>) -> tensor<2xf32>
// JAXLIB-NOT: "stablehlo.slice"
func.func @no_remainder(%w: tensor<2xf32>, %x: tensor<2x8xf32>) -> (tensor<2x8xf32>, tensor<2xf32>) {
  %r, %u = batch.vmap(%a = %w, %v = %x) in_axes [none, 1] out_axes [1, none] size 8 chunk 4 : (tensor<2xf32>, tensor<2x8xf32>) -> (tensor<2x8xf32>, tensor<2xf32>) {
    %m = stablehlo.multiply %a, %v : tensor<2xf32>
    %e = stablehlo.exponential %a : tensor<2xf32>
    batch.yield %m, %e : tensor<2xf32>, tensor<2xf32>
  }
  func.return %r, %u : tensor<2x8xf32>, tensor<2xf32>
}


// k >= B: one chunk is the whole batch; the property is dropped, nothing else changes.
// CHECK-LABEL: func.func @chunk_not_smaller_than_batch(
// CHECK-NEXT: %r = batch.vmap(%v = %x) in_axes [0] out_axes [0] size 5 : (tensor<5xi32>) -> tensor<5xi32> {
// CHECK-NEXT: %n = stablehlo.negate %v : tensor<i32>
// CHECK-NEXT: batch.yield %n : tensor<i32>
// CHECK-NEXT: }
// CHECK-NEXT: func.return %r : tensor<5xi32>
// JAXLIB-LABEL: sym_name = "chunk_not_smaller_than_batch"
// JAXLIB-NEXT: ^bb0
// JAXLIB-NEXT: "stablehlo.negate"({{.*}}) : (tensor<5xi32>) -> tensor<5xi32>
func.func @chunk_not_smaller_than_batch(%x: tensor<5xi32>) -> tensor<5xi32> {
  %r = batch.vmap(%v = %x) in_axes [0] out_axes [0] size 5 chunk 7 : (tensor<5xi32>) -> tensor<5xi32> {
    %n = stablehlo.negate %v : tensor<i32>
    batch.yield %n : tensor<i32>
  }
  func.return %r : tensor<5xi32>
}


// A chunked vmap nested in another: the loop is built inside the outer body (rank 1: the
// only start index is the offset); the outer vmap is left alone.
// CHECK-LABEL: func.func @inner_vmap_chunked(
// CHECK-NEXT: %r = batch.vmap(%row = %x) in_axes [0] out_axes [0] size 2 : (tensor<2x3xf32>) -> tensor<2x3xf32> {
// CHECK-NEXT: %0 = stablehlo.constant dense<0.000000e+00> : tensor<f32>
// CHECK-NEXT: %buffer = stablehlo.broadcast_in_dim %0, dims = [] : (tensor<f32>) -> tensor<3xf32>
// CHECK-NEXT: %1 = stablehlo.constant dense<0> : tensor<i32>
// CHECK-NEXT: %2, %3 = stablehlo.while(%chunk = %1, %4 = %buffer) : tensor<i32>, tensor<3xf32>
// CHECK-NEXT: cond {
// CHECK-NEXT: %num_chunks = stablehlo.constant dense<1> : tensor<i32>
// CHECK-NEXT: %5 = stablehlo.compare LT, %chunk, %num_chunks, SIGNED : (tensor<i32>, tensor<i32>) -> tensor<i1>
// CHECK-NEXT: stablehlo.return %5 : tensor<i1>
// CHECK-NEXT: } do {
// CHECK-NEXT: %chunk_size = stablehlo.constant dense<2> : tensor<i32>
// CHECK-NEXT: %offset = stablehlo.multiply %chunk, %chunk_size : tensor<i32>
// CHECK-NEXT: %6 = stablehlo.dynamic_slice %row, %offset, sizes = [2] : (tensor<3xf32>, tensor<i32>) -> tensor<2xf32>
// CHECK-NEXT: %7 = batch.vmap(%e = %6) in_axes [0] out_axes [0] size 2 : (tensor<2xf32>) -> tensor<2xf32> {
// CHECK-NEXT: %c = stablehlo.cosine %e : tensor<f32>
// CHECK-NEXT: batch.yield %c : tensor<f32>
// CHECK-NEXT: }
// CHECK-NEXT: %8 = stablehlo.dynamic_update_slice %4, %7, %offset : (tensor<3xf32>, tensor<2xf32>, tensor<i32>) -> tensor<3xf32>
// CHECK-NEXT: %9 = stablehlo.constant dense<1> : tensor<i32>
// CHECK-NEXT: %10 = stablehlo.add %chunk, %9 : tensor<i32>
// CHECK-NEXT: stablehlo.return %10, %8 : tensor<i32>, tensor<3xf32>
// CHECK-NEXT: }
// CHECK-NEXT: %11 = stablehlo.slice %row [2:3] : (tensor<3xf32>) -> tensor<1xf32>
// CHECK-NEXT: %12 = batch.vmap(%e_1 = %11) in_axes [0] out_axes [0] size 1 : (tensor<1xf32>) -> tensor<1xf32> {
// CHECK-NEXT: %c_1 = stablehlo.cosine %e_1 : tensor<f32>
// CHECK-NEXT: batch.yield %c_1 : tensor<f32>
// CHECK-NEXT: }
// CHECK-NEXT: %13 = stablehlo.constant dense<2> : tensor<i32>
// CHECK-NEXT: %i = stablehlo.dynamic_update_slice %3, %12, %13 : (tensor<3xf32>, tensor<1xf32>, tensor<i32>) -> tensor<3xf32>
// CHECK-NEXT: batch.yield %i : tensor<3xf32>
// CHECK-NEXT: }
// CHECK-NEXT: func.return %r : tensor<2x3xf32>
// JAXLIB-LABEL: sym_name = "inner_vmap_chunked"
// JAXLIB: "stablehlo.while"
// JAXLIB: "stablehlo.cosine"({{.*}}) : (tensor<2x2xf32>) -> tensor<2x2xf32>
// JAXLIB: "stablehlo.cosine"({{.*}}) : (tensor<2x1xf32>) -> tensor<2x1xf32>
func.func @inner_vmap_chunked(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %r = batch.vmap(%row = %x) in_axes [0] out_axes [0] size 2 : (tensor<2x3xf32>) -> tensor<2x3xf32> {
    %i = batch.vmap(%e = %row) in_axes [0] out_axes [0] size 3 chunk 2 : (tensor<3xf32>) -> tensor<3xf32> {
      %c = stablehlo.cosine %e : tensor<f32>
      batch.yield %c : tensor<f32>
    }
    batch.yield %i : tensor<3xf32>
  }
  func.return %r : tensor<2x3xf32>
}
