// RUN: vmlir-opt %s --split-input-file -p batch-propagate-axes,batch-vectorize --print-op-generic | filecheck %s

// batch-vectorize with the rules of passes/rules/fft.py (stablehlo.fft),
// passes/rules/custom_call.py (ApproxTopK) and passes/rules/composite.py.

// fft over the last dimension, batch at axis 0 of a 2-d example: it stays there.
// CHECK-LABEL: "func.func"() <{sym_name = "fft_axis0"
// CHECK-NEXT: ^bb0(%x: tensor<5x3x8xcomplex<f32>>):
// CHECK-NEXT: %r = "stablehlo.fft"(%x) <{fft_type = #stablehlo<fft_type FFT>, fft_length = array<i64: 8>}> : (tensor<5x3x8xcomplex<f32>>) -> tensor<5x3x8xcomplex<f32>>
// CHECK-NEXT: "func.return"(%r) : (tensor<5x3x8xcomplex<f32>>) -> ()
// CHECK-NEXT: }) : () -> ()
func.func @fft_axis0(%x: tensor<5x3x8xcomplex<f32>>) -> tensor<5x3x8xcomplex<f32>> {
  %r = "batch.vmap"(%x) <{in_axes = [0 : i64], out_axes = [0 : i64], axis_size = 5 : i64}> ({
  ^bb0(%v: tensor<3x8xcomplex<f32>>):
    %f = "stablehlo.fft"(%v) <{fft_type = #stablehlo<fft_type FFT>, fft_length = array<i64: 8>}> : (tensor<3x8xcomplex<f32>>) -> tensor<3x8xcomplex<f32>>
    "batch.yield"(%f) : (tensor<3x8xcomplex<f32>>) -> ()
  }) : (tensor<5x3x8xcomplex<f32>>) -> tensor<5x3x8xcomplex<f32>>
  func.return %r : tensor<5x3x8xcomplex<f32>>
}

// -----

// rfft over the last two dimensions with the batch between them: it moves to 0.
// CHECK-LABEL: "func.func"() <{sym_name = "rfft2_batch_inside"
// CHECK-NEXT: ^bb0(%x: tensor<4x5x6xf32>):
// CHECK-NEXT: %0 = "batch.move_axis"(%x) <{source = 1 : i64, destination = 0 : i64}> : (tensor<4x5x6xf32>) -> tensor<5x4x6xf32>
// CHECK-NEXT: %r = "stablehlo.fft"(%0) <{fft_type = #stablehlo<fft_type RFFT>, fft_length = array<i64: 4, 6>}> : (tensor<5x4x6xf32>) -> tensor<5x4x4xcomplex<f32>>
// CHECK-NEXT: "func.return"(%r) : (tensor<5x4x4xcomplex<f32>>) -> ()
// CHECK-NEXT: }) : () -> ()
func.func @rfft2_batch_inside(%x: tensor<4x5x6xf32>) -> tensor<5x4x4xcomplex<f32>> {
  %r = "batch.vmap"(%x) <{in_axes = [1 : i64], out_axes = [0 : i64], axis_size = 5 : i64}> ({
  ^bb0(%v: tensor<4x6xf32>):
    %f = "stablehlo.fft"(%v) <{fft_type = #stablehlo<fft_type RFFT>, fft_length = array<i64: 4, 6>}> : (tensor<4x6xf32>) -> tensor<4x4xcomplex<f32>>
    "batch.yield"(%f) : (tensor<4x4xcomplex<f32>>) -> ()
  }) : (tensor<4x5x6xf32>) -> tensor<5x4x4xcomplex<f32>>
  func.return %r : tensor<5x4x4xcomplex<f32>>
}

// -----

// ApproxTopK (lax.approx_max_k): the inputs are batched at 0, reduction_dim moves by one;
// the init scalars and the comparator stay.
// CHECK-LABEL: "func.func"() <{sym_name = "approx_top_k"
// CHECK-NEXT: ^bb0(%x: tensor<16x3xf32>):
// CHECK-NEXT: %i = "stablehlo.iota"() <{iota_dimension = 0 : i64}> : () -> tensor<16xi32>
// CHECK-NEXT: %c = "stablehlo.constant"() <{value = dense<-1> : tensor<i32>}> : () -> tensor<i32>
// CHECK-NEXT: %m = "stablehlo.constant"() <{value = dense<0xff800000> : tensor<f32>}> : () -> tensor<f32>
// CHECK-NEXT: %0 = "batch.move_axis"(%x) <{source = 1 : i64, destination = 0 : i64}> : (tensor<16x3xf32>) -> tensor<3x16xf32>
// CHECK-NEXT: %1 = "batch.broadcast"(%i) <{axis = 0 : i64, size = 3 : i64}> : (tensor<16xi32>) -> tensor<3x16xi32>
// CHECK-NEXT: %r, %2 = "stablehlo.custom_call"(%0, %1, %m, %c) <{api_version = 1 : i32, backend_config = "", call_target_name = "ApproxTopK", called_computations = [@top_k_gt_f32_comparator]}> {mhlo.backend_config = {aggregate_to_topk = true, is_fallback = true, recall_target = 9.500000e-01 : f32, reduction_dim = 1 : i64, reduction_input_size_override = -1 : i64, top_k = 2 : i64}} : (tensor<3x16xf32>, tensor<3x16xi32>, tensor<f32>, tensor<i32>) -> (tensor<3x2xf32>, tensor<3x2xi32>)
// CHECK-NEXT: "func.return"(%r) : (tensor<3x2xf32>) -> ()
// CHECK-NEXT: }) : () -> ()
// CHECK-NEXT: "func.func"() <{sym_name = "top_k_gt_f32_comparator", function_type = (tensor<f32>, tensor<f32>, tensor<i32>, tensor<i32>) -> tensor<i1>, sym_visibility = "private"}> ({
// CHECK-NEXT: ^bb0(%a: tensor<f32>, %b: tensor<f32>, %c: tensor<i32>, %d: tensor<i32>):
// CHECK-NEXT: %0 = "stablehlo.compare"(%a, %b) <{comparison_direction = #stablehlo<comparison_direction GT>}> : (tensor<f32>, tensor<f32>) -> tensor<i1>
// CHECK-NEXT: "func.return"(%0) : (tensor<i1>) -> ()
// CHECK-NEXT: }) : () -> ()
func.func @approx_top_k(%x: tensor<16x3xf32>) -> tensor<3x2xf32> {
  %r = "batch.vmap"(%x) <{in_axes = [1 : i64], out_axes = [0 : i64], axis_size = 3 : i64}> ({
  ^bb0(%v: tensor<16xf32>):
    %i = "stablehlo.iota"() <{iota_dimension = 0 : i64}> : () -> tensor<16xi32>
    %c = "stablehlo.constant"() <{value = dense<-1> : tensor<i32>}> : () -> tensor<i32>
    %m = "stablehlo.constant"() <{value = dense<0xFF800000> : tensor<f32>}> : () -> tensor<f32>
    %t:2 = "stablehlo.custom_call"(%v, %i, %m, %c) <{api_version = 1 : i32, backend_config = "", call_target_name = "ApproxTopK", called_computations = [@top_k_gt_f32_comparator]}> {mhlo.backend_config = {aggregate_to_topk = true, is_fallback = true, recall_target = 0.949999988 : f32, reduction_dim = 0 : i64, reduction_input_size_override = -1 : i64, top_k = 2 : i64}} : (tensor<16xf32>, tensor<16xi32>, tensor<f32>, tensor<i32>) -> (tensor<2xf32>, tensor<2xi32>)
    "batch.yield"(%t#0) : (tensor<2xf32>) -> ()
  }) : (tensor<16x3xf32>) -> tensor<3x2xf32>
  func.return %r : tensor<3x2xf32>
}
func.func private @top_k_gt_f32_comparator(%a: tensor<f32>, %b: tensor<f32>, %c: tensor<i32>, %d: tensor<i32>) -> tensor<i1> {
  %0 = "stablehlo.compare"(%a, %b) <{comparison_direction = #stablehlo<comparison_direction GT>}> : (tensor<f32>, tensor<f32>) -> tensor<i1>
  func.return %0 : tensor<i1>
}

// -----

// composite: the decomposition is batched into a new private function (the shared
// operand stays unbatched); the composite keeps its name and attributes.
// CHECK-LABEL: "func.func"() <{sym_name = "composite"
// CHECK-NEXT: ^bb0(%x: tensor<4x3xf32>, %y: tensor<3xf32>):
// CHECK-NEXT: %r = "stablehlo.composite"(%x, %y) <{composite_attributes = {k = 2 : i64}, decomposition = @my.axpy.batched0, name = "my.axpy", version = 1 : i32}> : (tensor<4x3xf32>, tensor<3xf32>) -> tensor<4x3xf32>
// CHECK-NEXT: "func.return"(%r) : (tensor<4x3xf32>) -> ()
// CHECK-NEXT: }) : () -> ()
// CHECK-NEXT: "func.func"() <{sym_name = "my.axpy", function_type = (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>, sym_visibility = "private"}> ({
// CHECK-NEXT: ^bb0(%a: tensor<3xf32>, %b: tensor<3xf32>):
// CHECK-NEXT: %0 = "stablehlo.multiply"(%a, %a) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
// CHECK-NEXT: %1 = "stablehlo.add"(%0, %b) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
// CHECK-NEXT: "func.return"(%1) : (tensor<3xf32>) -> ()
// CHECK-NEXT: }) : () -> ()
// CHECK-NEXT: "func.func"() <{sym_name = "my.axpy.batched0", function_type = (tensor<4x3xf32>, tensor<3xf32>) -> tensor<4x3xf32>, sym_visibility = "private"}> ({
// CHECK-NEXT: ^bb0(%0: tensor<4x3xf32>, %1: tensor<3xf32>):
// CHECK-NEXT: %2 = "stablehlo.multiply"(%0, %0) : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK-NEXT: %3 = "batch.broadcast"(%1) <{axis = 0 : i64, size = 4 : i64}> : (tensor<3xf32>) -> tensor<4x3xf32>
// CHECK-NEXT: %4 = "stablehlo.add"(%2, %3) : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK-NEXT: "func.return"(%4) : (tensor<4x3xf32>) -> ()
// CHECK-NEXT: }) : () -> ()
func.func @composite(%x: tensor<4x3xf32>, %y: tensor<3xf32>) -> tensor<4x3xf32> {
  %r = "batch.vmap"(%x, %y) <{in_axes = [0 : i64, none], out_axes = [0 : i64], axis_size = 4 : i64}> ({
  ^bb0(%v: tensor<3xf32>, %w: tensor<3xf32>):
    %c = "stablehlo.composite"(%v, %w) <{composite_attributes = {k = 2 : i64}, decomposition = @my.axpy, name = "my.axpy", version = 1 : i32}> : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
    "batch.yield"(%c) : (tensor<3xf32>) -> ()
  }) : (tensor<4x3xf32>, tensor<3xf32>) -> tensor<4x3xf32>
  func.return %r : tensor<4x3xf32>
}
func.func private @my.axpy(%a: tensor<3xf32>, %b: tensor<3xf32>) -> tensor<3xf32> {
  %0 = "stablehlo.multiply"(%a, %a) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  %1 = "stablehlo.add"(%0, %b) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  func.return %1 : tensor<3xf32>
}
