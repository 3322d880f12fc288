// RUN: vmlir-opt %s --split-input-file --allow-unregistered-dialect -p batch-propagate-axes,batch-vectorize --print-op-generic | filecheck %s

// batch-vectorize with the rules of passes/rules/linalg.py: linear-algebra custom calls of
// every backend (LAPACK, cuSOLVER, hipSOLVER, ...), one rule keyed by the kernel family of
// the target name, and stablehlo.triangular_solve. No GPU is needed: the IR is hand-written
// in the form JAX emits for each target.

// lapack_spotrf_ffi (CPU Cholesky), batch at axis 1: moved to 0; operand and result
// layouts gain a most-major dimension, the info scalar becomes a vector, num_batch_dims
// counts the batch, the per-example sharding rule is dropped.
// CHECK-LABEL: "func.func"() <{sym_name = "potrf_axis1"
// CHECK-NEXT: ^bb0(%x: tensor<4x3x4xf32>):
// CHECK-NEXT: %0 = "batch.move_axis"(%x) <{source = 1 : i64, destination = 0 : i64}> : (tensor<4x3x4xf32>) -> tensor<3x4x4xf32>
// CHECK-NEXT: %r, %r_1 = "stablehlo.custom_call"(%0) <{api_version = 1 : i32, backend_config = "", call_target_name = "lapack_spotrf_ffi", called_computations = [], has_side_effect = false, operand_layouts = [dense<[1, 2, 0]> : tensor<3xindex>], output_operand_aliases = [#stablehlo.output_operand_alias<output_tuple_indices = [0], operand_index = 0, operand_tuple_indices = []>], result_layouts = [dense<[1, 2, 0]> : tensor<3xindex>, dense<0> : tensor<1xindex>]}> {mhlo.backend_config = {uplo = 76 : ui8}, mhlo.frontend_attributes = {num_batch_dims = "1"}} : (tensor<3x4x4xf32>) -> (tensor<3x4x4xf32>, tensor<3xi32>)
// CHECK-NEXT: "func.return"(%r, %r_1) : (tensor<3x4x4xf32>, tensor<3xi32>) -> ()
func.func @potrf_axis1(%x: tensor<4x3x4xf32>) -> (tensor<3x4x4xf32>, tensor<3xi32>) {
  %r:2 = "batch.vmap"(%x) <{in_axes = [1 : i64], out_axes = [0 : i64, 0 : i64], axis_size = 3 : i64}> ({
  ^bb0(%v: tensor<4x4xf32>):
    %f, %info = "stablehlo.custom_call"(%v) <{api_version = 1 : i32, backend_config = "", call_target_name = "lapack_spotrf_ffi", called_computations = [], has_side_effect = false, operand_layouts = [dense<[0, 1]> : tensor<2xindex>], output_operand_aliases = [#stablehlo.output_operand_alias<output_tuple_indices = [0], operand_index = 0, operand_tuple_indices = []>], result_layouts = [dense<[0, 1]> : tensor<2xindex>, dense<> : tensor<0xindex>]}> {mhlo.backend_config = {uplo = 76 : ui8}, mhlo.frontend_attributes = {num_batch_dims = "0"}, sdy.sharding_rule = #sdy.op_sharding_rule<([i, j])->([k, l], []) {i=4, j=4, k=4, l=4}, custom>} : (tensor<4x4xf32>) -> (tensor<4x4xf32>, tensor<i32>)
    "batch.yield"(%f, %info) : (tensor<4x4xf32>, tensor<i32>) -> ()
  }) : (tensor<4x3x4xf32>) -> (tensor<3x4x4xf32>, tensor<3xi32>)
  func.return %r#0, %r#1 : tensor<3x4x4xf32>, tensor<3xi32>
}

// -----

// cusolver_potrf_ffi (CUDA): the same kernel family, the same rule.
// CHECK-LABEL: "func.func"() <{sym_name = "cusolver_potrf"
// CHECK-NEXT: ^bb0(%x: tensor<3x4x4xf32>):
// CHECK-NEXT: %r, %0 = "stablehlo.custom_call"(%x) <{api_version = 4 : i32, call_target_name = "cusolver_potrf_ffi", operand_layouts = [dense<[1, 2, 0]> : tensor<3xindex>], result_layouts = [dense<[1, 2, 0]> : tensor<3xindex>, dense<0> : tensor<1xindex>]}> {mhlo.backend_config = {lower = true}, mhlo.frontend_attributes = {num_batch_dims = "1"}} : (tensor<3x4x4xf32>) -> (tensor<3x4x4xf32>, tensor<3xi32>)
// CHECK-NEXT: "func.return"(%r) : (tensor<3x4x4xf32>) -> ()
func.func @cusolver_potrf(%x: tensor<3x4x4xf32>) -> tensor<3x4x4xf32> {
  %r = "batch.vmap"(%x) <{in_axes = [0 : i64], out_axes = [0 : i64], axis_size = 3 : i64}> ({
  ^bb0(%v: tensor<4x4xf32>):
    %f, %info = "stablehlo.custom_call"(%v) <{api_version = 4 : i32, call_target_name = "cusolver_potrf_ffi", operand_layouts = [dense<[0, 1]> : tensor<2xindex>], result_layouts = [dense<[0, 1]> : tensor<2xindex>, dense<> : tensor<0xindex>]}> {mhlo.backend_config = {lower = true}, mhlo.frontend_attributes = {num_batch_dims = "0"}} : (tensor<4x4xf32>) -> (tensor<4x4xf32>, tensor<i32>)
    "batch.yield"(%f) : (tensor<4x4xf32>) -> ()
  }) : (tensor<3x4x4xf32>) -> tensor<3x4x4xf32>
  func.return %r : tensor<3x4x4xf32>
}

// -----

// hipsolver_getrf_ffi (ROCm LU) on a matrix that is itself a stack of 2 (num_batch_dims 1
// per example): the vmapped batch goes in front of it; the pivots too.
// CHECK-LABEL: "func.func"() <{sym_name = "hipsolver_getrf"
// CHECK-NEXT: ^bb0(%x: tensor<2x5x3x3xf64>):
// CHECK-NEXT: %0 = "batch.move_axis"(%x) <{source = 1 : i64, destination = 0 : i64}> : (tensor<2x5x3x3xf64>) -> tensor<5x2x3x3xf64>
// CHECK-NEXT: %r, %r_1, %1 = "stablehlo.custom_call"(%0) <{api_version = 4 : i32, call_target_name = "hipsolver_getrf_ffi", operand_layouts = [dense<[2, 3, 1, 0]> : tensor<4xindex>], result_layouts = [dense<[2, 3, 1, 0]> : tensor<4xindex>, dense<[2, 1, 0]> : tensor<3xindex>, dense<[1, 0]> : tensor<2xindex>]}> {mhlo.frontend_attributes = {num_batch_dims = "2"}} : (tensor<5x2x3x3xf64>) -> (tensor<5x2x3x3xf64>, tensor<5x2x3xi32>, tensor<5x2xi32>)
// CHECK-NEXT: "func.return"(%r, %r_1) : (tensor<5x2x3x3xf64>, tensor<5x2x3xi32>) -> ()
func.func @hipsolver_getrf(%x: tensor<2x5x3x3xf64>) -> (tensor<5x2x3x3xf64>, tensor<5x2x3xi32>) {
  %r:2 = "batch.vmap"(%x) <{in_axes = [1 : i64], out_axes = [0 : i64, 0 : i64], axis_size = 5 : i64}> ({
  ^bb0(%v: tensor<2x3x3xf64>):
    %lu, %piv, %info = "stablehlo.custom_call"(%v) <{api_version = 4 : i32, call_target_name = "hipsolver_getrf_ffi", operand_layouts = [dense<[1, 2, 0]> : tensor<3xindex>], result_layouts = [dense<[1, 2, 0]> : tensor<3xindex>, dense<[1, 0]> : tensor<2xindex>, dense<0> : tensor<1xindex>]}> {mhlo.frontend_attributes = {num_batch_dims = "1"}} : (tensor<2x3x3xf64>) -> (tensor<2x3x3xf64>, tensor<2x3xi32>, tensor<2xi32>)
    "batch.yield"(%lu, %piv) : (tensor<2x3x3xf64>, tensor<2x3xi32>) -> ()
  }) : (tensor<2x5x3x3xf64>) -> (tensor<5x2x3x3xf64>, tensor<5x2x3xi32>)
  func.return %r#0, %r#1 : tensor<5x2x3x3xf64>, tensor<5x2x3xi32>
}

// -----

// lapack_ctrsm_ffi (triangular solve) with a shared matrix and per-example right-hand
// sides: the shared operand is broadcast to the batch.
// CHECK-LABEL: "func.func"() <{sym_name = "trsm_shared_matrix"
// CHECK-NEXT: ^bb0(%a: tensor<3x3xcomplex<f32>>, %b: tensor<4x3x2xcomplex<f32>>):
// CHECK-NEXT: %0 = "batch.broadcast"(%a) <{axis = 0 : i64, size = 4 : i64}> : (tensor<3x3xcomplex<f32>>) -> tensor<4x3x3xcomplex<f32>>
// CHECK-NEXT: %r = "stablehlo.custom_call"(%0, %b) <{api_version = 1 : i32, call_target_name = "lapack_ctrsm_ffi", operand_layouts = [dense<[1, 2, 0]> : tensor<3xindex>, dense<[1, 2, 0]> : tensor<3xindex>], result_layouts = [dense<[1, 2, 0]> : tensor<3xindex>]}> {mhlo.backend_config = {diag = 78 : ui8, side = 76 : ui8, trans_x = 78 : ui8, uplo = 76 : ui8}, mhlo.frontend_attributes = {num_batch_dims = "1"}} : (tensor<4x3x3xcomplex<f32>>, tensor<4x3x2xcomplex<f32>>) -> tensor<4x3x2xcomplex<f32>>
// CHECK-NEXT: "func.return"(%r) : (tensor<4x3x2xcomplex<f32>>) -> ()
func.func @trsm_shared_matrix(%a: tensor<3x3xcomplex<f32>>, %b: tensor<4x3x2xcomplex<f32>>) -> tensor<4x3x2xcomplex<f32>> {
  %r = "batch.vmap"(%a, %b) <{in_axes = [none, 0 : i64], out_axes = [0 : i64], axis_size = 4 : i64}> ({
  ^bb0(%u: tensor<3x3xcomplex<f32>>, %v: tensor<3x2xcomplex<f32>>):
    %x = "stablehlo.custom_call"(%u, %v) <{api_version = 1 : i32, call_target_name = "lapack_ctrsm_ffi", operand_layouts = [dense<[0, 1]> : tensor<2xindex>, dense<[0, 1]> : tensor<2xindex>], result_layouts = [dense<[0, 1]> : tensor<2xindex>]}> {mhlo.backend_config = {diag = 78 : ui8, side = 76 : ui8, trans_x = 78 : ui8, uplo = 76 : ui8}, mhlo.frontend_attributes = {num_batch_dims = "0"}} : (tensor<3x3xcomplex<f32>>, tensor<3x2xcomplex<f32>>) -> tensor<3x2xcomplex<f32>>
    "batch.yield"(%x) : (tensor<3x2xcomplex<f32>>) -> ()
  }) : (tensor<3x3xcomplex<f32>>, tensor<4x3x2xcomplex<f32>>) -> tensor<4x3x2xcomplex<f32>>
  func.return %r : tensor<4x3x2xcomplex<f32>>
}

// -----

// cu_lu_pivots_to_permutation (CUDA), no layouts given: only the shapes change.
// CHECK-LABEL: "func.func"() <{sym_name = "cu_pivots"
// CHECK-NEXT: ^bb0(%p: tensor<6x4xi32>):
// CHECK-NEXT: %r = "stablehlo.custom_call"(%p) <{api_version = 4 : i32, call_target_name = "cu_lu_pivots_to_permutation"}> {mhlo.backend_config = {}} : (tensor<6x4xi32>) -> tensor<6x4xi32>
// CHECK-NEXT: "func.return"(%r) : (tensor<6x4xi32>) -> ()
func.func @cu_pivots(%p: tensor<6x4xi32>) -> tensor<6x4xi32> {
  %r = "batch.vmap"(%p) <{in_axes = [0 : i64], out_axes = [0 : i64], axis_size = 6 : i64}> ({
  ^bb0(%v: tensor<4xi32>):
    %perm = "stablehlo.custom_call"(%v) <{api_version = 4 : i32, call_target_name = "cu_lu_pivots_to_permutation"}> {mhlo.backend_config = {}} : (tensor<4xi32>) -> tensor<4xi32>
    "batch.yield"(%perm) : (tensor<4xi32>) -> ()
  }) : (tensor<6x4xi32>) -> tensor<6x4xi32>
  func.return %r : tensor<6x4xi32>
}

// -----

// stablehlo.triangular_solve (how GPU and TPU lower solve_triangular): both operands
// batched at 0.
// CHECK-LABEL: "func.func"() <{sym_name = "triangular_solve"
// CHECK-NEXT: ^bb0(%a: tensor<3x3xf32>, %b: tensor<3x2x5xf32>):
// CHECK-NEXT: %0 = "batch.broadcast"(%a) <{axis = 0 : i64, size = 5 : i64}> : (tensor<3x3xf32>) -> tensor<5x3x3xf32>
// CHECK-NEXT: %1 = "batch.move_axis"(%b) <{source = 2 : i64, destination = 0 : i64}> : (tensor<3x2x5xf32>) -> tensor<5x3x2xf32>
// CHECK-NEXT: %r = "stablehlo.triangular_solve"(%0, %1) <{left_side = true, lower = true, transpose_a = #stablehlo<transpose NO_TRANSPOSE>, unit_diagonal = false}> : (tensor<5x3x3xf32>, tensor<5x3x2xf32>) -> tensor<5x3x2xf32>
// CHECK-NEXT: "func.return"(%r) : (tensor<5x3x2xf32>) -> ()
func.func @triangular_solve(%a: tensor<3x3xf32>, %b: tensor<3x2x5xf32>) -> tensor<5x3x2xf32> {
  %r = "batch.vmap"(%a, %b) <{in_axes = [none, 2 : i64], out_axes = [0 : i64], axis_size = 5 : i64}> ({
  ^bb0(%u: tensor<3x3xf32>, %v: tensor<3x2xf32>):
    %x = "stablehlo.triangular_solve"(%u, %v) <{left_side = true, lower = true, transpose_a = #stablehlo<transpose NO_TRANSPOSE>, unit_diagonal = false}> : (tensor<3x3xf32>, tensor<3x2xf32>) -> tensor<3x2xf32>
    "batch.yield"(%x) : (tensor<3x2xf32>) -> ()
  }) : (tensor<3x3xf32>, tensor<3x2x5xf32>) -> tensor<5x3x2xf32>
  func.return %r : tensor<5x3x2xf32>
}

// -----

// cu_cholesky_update_ffi takes one problem at a time: the loop fallback, a while over
// the 2 examples that slices each operand, calls the kernel, and writes row i.
// CHECK-LABEL: "func.func"() <{sym_name = "cholesky_update_loop"
// CHECK: %5, %o, %6, %7, %8 = "stablehlo.while"(%0, %2, %4, %r, %w) ({
// CHECK: %22 = "stablehlo.dynamic_slice"(%19, %16, %21, %21) <{slice_sizes = array<i64: 1, 3, 3>}> : (tensor<2x3x3xf32>, tensor<i32>, tensor<i32>, tensor<i32>) -> tensor<1x3x3xf32>
// CHECK: %24 = "stablehlo.dynamic_slice"(%20, %16, %21) <{slice_sizes = array<i64: 1, 3>}> : (tensor<2x3xf32>, tensor<i32>, tensor<i32>) -> tensor<1x3xf32>
// CHECK: %26, %27 = "stablehlo.custom_call"(%23, %25) <{api_version = 4 : i32, call_target_name = "cu_cholesky_update_ffi"}> : (tensor<3x3xf32>, tensor<3xf32>) -> (tensor<3x3xf32>, tensor<3xf32>)
// CHECK: %29 = "stablehlo.dynamic_update_slice"(%17, %28, %16, %21, %21) : (tensor<2x3x3xf32>, tensor<1x3x3xf32>, tensor<i32>, tensor<i32>, tensor<i32>) -> tensor<2x3x3xf32>
// CHECK: %31 = "stablehlo.dynamic_update_slice"(%18, %30, %16, %21) : (tensor<2x3xf32>, tensor<1x3xf32>, tensor<i32>, tensor<i32>) -> tensor<2x3xf32>
// CHECK: "func.return"(%o) : (tensor<2x3x3xf32>) -> ()
func.func @cholesky_update_loop(%r: tensor<2x3x3xf32>, %w: tensor<2x3xf32>) -> tensor<2x3x3xf32> {
  %o = "batch.vmap"(%r, %w) <{in_axes = [0 : i64, 0 : i64], out_axes = [0 : i64], axis_size = 2 : i64}> ({
  ^bb0(%u: tensor<3x3xf32>, %v: tensor<3xf32>):
    %n, %m = "stablehlo.custom_call"(%u, %v) <{api_version = 4 : i32, call_target_name = "cu_cholesky_update_ffi"}> : (tensor<3x3xf32>, tensor<3xf32>) -> (tensor<3x3xf32>, tensor<3xf32>)
    "batch.yield"(%n) : (tensor<3x3xf32>) -> ()
  }) : (tensor<2x3x3xf32>, tensor<2x3xf32>) -> tensor<2x3x3xf32>
  func.return %o : tensor<2x3x3xf32>
}
