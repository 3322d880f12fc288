// RUN: vmlir-opt %s --print-op-generic | vmlir-opt --print-op-generic | filecheck %s
// RUN: vmlir-opt %s | filecheck %s --check-prefix=PRETTY
// RUN: vmlir-opt %s | vmlir-translate --to-jaxlib --pretty | filecheck %s --check-prefix=PRETTY

// Every chlo op JAX 0.10.2 emits, in the generic form JAX prints, survives two
// parse/print rounds unchanged: unary and binary elementwise ops (complex operands
// included), and top_k with its two results and `k` property.

"builtin.module"() ({
  "func.func"() <{function_type = (tensor<3xf32>, tensor<3xf32>, tensor<2xcomplex<f32>>, tensor<3xui32>, tensor<2x5xf32>) -> (tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<2xcomplex<f32>>, tensor<2xcomplex<f32>>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xui32>, tensor<2x2xf32>, tensor<2x2xi32>), sym_name = "main"}> ({
  ^bb0(%x: tensor<3xf32>, %y: tensor<3xf32>, %c: tensor<2xcomplex<f32>>, %u: tensor<3xui32>, %m: tensor<2x5xf32>):
    %erf = "chlo.erf"(%x) : (tensor<3xf32>) -> tensor<3xf32>
    %erfc = "chlo.erfc"(%x) : (tensor<3xf32>) -> tensor<3xf32>
    %erf_inv = "chlo.erf_inv"(%x) : (tensor<3xf32>) -> tensor<3xf32>
    %lgamma = "chlo.lgamma"(%x) : (tensor<3xf32>) -> tensor<3xf32>
    %digamma = "chlo.digamma"(%x) : (tensor<3xf32>) -> tensor<3xf32>
    %sinh = "chlo.sinh"(%x) : (tensor<3xf32>) -> tensor<3xf32>
    %cosh = "chlo.cosh"(%x) : (tensor<3xf32>) -> tensor<3xf32>
    %asin = "chlo.asin"(%x) : (tensor<3xf32>) -> tensor<3xf32>
    %acos = "chlo.acos"(%x) : (tensor<3xf32>) -> tensor<3xf32>
    %atan = "chlo.atan"(%x) : (tensor<3xf32>) -> tensor<3xf32>
    %asinh = "chlo.asinh"(%x) : (tensor<3xf32>) -> tensor<3xf32>
    %acosh = "chlo.acosh"(%x) : (tensor<3xf32>) -> tensor<3xf32>
    %atanh = "chlo.atanh"(%x) : (tensor<3xf32>) -> tensor<3xf32>
    %square = "chlo.square"(%c) : (tensor<2xcomplex<f32>>) -> tensor<2xcomplex<f32>>
    %conj = "chlo.conj"(%c) : (tensor<2xcomplex<f32>>) -> tensor<2xcomplex<f32>>
    %i1e = "chlo.bessel_i1e"(%x) : (tensor<3xf32>) -> tensor<3xf32>
    %next = "chlo.next_after"(%x, %y) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
    %poly = "chlo.polygamma"(%y, %x) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
    %zeta = "chlo.zeta"(%x, %y) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
    %hi = "chlo.mulhi"(%u, %u) : (tensor<3xui32>, tensor<3xui32>) -> tensor<3xui32>
    %vals, %idx = "chlo.top_k"(%m) <{k = 2 : i64}> : (tensor<2x5xf32>) -> (tensor<2x2xf32>, tensor<2x2xi32>)
    "func.return"(%erf, %erfc, %erf_inv, %lgamma, %digamma, %sinh, %cosh, %asin, %acos, %atan, %asinh, %acosh, %atanh, %square, %conj, %i1e, %next, %poly, %zeta, %hi, %vals, %idx) : (tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<2xcomplex<f32>>, tensor<2xcomplex<f32>>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xui32>, tensor<2x2xf32>, tensor<2x2xi32>) -> ()
  }) : () -> ()
}) : () -> ()

// CHECK:      "builtin.module"() ({
// CHECK-NEXT:   "func.func"() <{function_type = (tensor<3xf32>, tensor<3xf32>, tensor<2xcomplex<f32>>, tensor<3xui32>, tensor<2x5xf32>) -> (tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<2xcomplex<f32>>, tensor<2xcomplex<f32>>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xui32>, tensor<2x2xf32>, tensor<2x2xi32>), sym_name = "main"}> ({
// CHECK-NEXT:   ^bb0(%x: tensor<3xf32>, %y: tensor<3xf32>, %c: tensor<2xcomplex<f32>>, %u: tensor<3xui32>, %m: tensor<2x5xf32>):
// CHECK-NEXT:     %erf = "chlo.erf"(%x) : (tensor<3xf32>) -> tensor<3xf32>
// CHECK-NEXT:     %erfc = "chlo.erfc"(%x) : (tensor<3xf32>) -> tensor<3xf32>
// CHECK-NEXT:     %erf_inv = "chlo.erf_inv"(%x) : (tensor<3xf32>) -> tensor<3xf32>
// CHECK-NEXT:     %lgamma = "chlo.lgamma"(%x) : (tensor<3xf32>) -> tensor<3xf32>
// CHECK-NEXT:     %digamma = "chlo.digamma"(%x) : (tensor<3xf32>) -> tensor<3xf32>
// CHECK-NEXT:     %sinh = "chlo.sinh"(%x) : (tensor<3xf32>) -> tensor<3xf32>
// CHECK-NEXT:     %cosh = "chlo.cosh"(%x) : (tensor<3xf32>) -> tensor<3xf32>
// CHECK-NEXT:     %asin = "chlo.asin"(%x) : (tensor<3xf32>) -> tensor<3xf32>
// CHECK-NEXT:     %acos = "chlo.acos"(%x) : (tensor<3xf32>) -> tensor<3xf32>
// CHECK-NEXT:     %atan = "chlo.atan"(%x) : (tensor<3xf32>) -> tensor<3xf32>
// CHECK-NEXT:     %asinh = "chlo.asinh"(%x) : (tensor<3xf32>) -> tensor<3xf32>
// CHECK-NEXT:     %acosh = "chlo.acosh"(%x) : (tensor<3xf32>) -> tensor<3xf32>
// CHECK-NEXT:     %atanh = "chlo.atanh"(%x) : (tensor<3xf32>) -> tensor<3xf32>
// CHECK-NEXT:     %square = "chlo.square"(%c) : (tensor<2xcomplex<f32>>) -> tensor<2xcomplex<f32>>
// CHECK-NEXT:     %conj = "chlo.conj"(%c) : (tensor<2xcomplex<f32>>) -> tensor<2xcomplex<f32>>
// CHECK-NEXT:     %i1e = "chlo.bessel_i1e"(%x) : (tensor<3xf32>) -> tensor<3xf32>
// CHECK-NEXT:     %next = "chlo.next_after"(%x, %y) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
// CHECK-NEXT:     %poly = "chlo.polygamma"(%y, %x) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
// CHECK-NEXT:     %zeta = "chlo.zeta"(%x, %y) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
// CHECK-NEXT:     %hi = "chlo.mulhi"(%u, %u) : (tensor<3xui32>, tensor<3xui32>) -> tensor<3xui32>
// CHECK-NEXT:     %vals, %idx = "chlo.top_k"(%m) <{k = 2 : i64}> : (tensor<2x5xf32>) -> (tensor<2x2xf32>, tensor<2x2xi32>)
// CHECK-NEXT:     "func.return"(%erf, %erfc, %erf_inv, %lgamma, %digamma, %sinh, %cosh, %asin, %acos, %atan, %asinh, %acosh, %atanh, %square, %conj, %i1e, %next, %poly, %zeta, %hi, %vals, %idx) : (tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<2xcomplex<f32>>, tensor<2xcomplex<f32>>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xui32>, tensor<2x2xf32>, tensor<2x2xi32>) -> ()
// CHECK-NEXT:   }) : () -> ()
// CHECK-NEXT: }) : () -> ()

// The pretty form is upstream CHLO's (`operand types -> result type`): we print these lines
// and jaxlib prints them back the same (SSA names aside); top_k stays generic here.
// PRETTY: chlo.erf %{{[a-z0-9]+}} : tensor<3xf32> -> tensor<3xf32>
// PRETTY: chlo.conj %{{[a-z0-9]+}} : tensor<2xcomplex<f32>> -> tensor<2xcomplex<f32>>
// PRETTY: chlo.next_after %{{[a-z0-9]+}}, %{{[a-z0-9]+}} : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
// PRETTY: chlo.mulhi %{{[a-z0-9]+}}, %{{[a-z0-9]+}} : tensor<3xui32>, tensor<3xui32> -> tensor<3xui32>
