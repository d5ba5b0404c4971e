// A small block of the kind the ONNX importer produces: a bias add and a ReLU on a
// batch of feature maps whose batch size is only known at run time, then a flatten.
// The convolution joins when the nn dialect grows one.
//
//   dynir-opt example:conv_block -p canonicalize,cse
func.func @conv_block(%x: tensor<?x8x4x4xf32>) -> tensor<?x128xf32> {
  %bias = nn.constant {value = dense<[0.5, -0.5, 0.25, -0.25, 1.0, -1.0, 0.0, 2.0]> : tensor<8xf32>} : tensor<8xf32>
  %b = nn.reshape %bias {shape = array<i64: 8, 1, 1>} : (tensor<8xf32>) -> tensor<8x1x1xf32>
  %y = nn.add %x, %b : (tensor<?x8x4x4xf32>, tensor<8x1x1xf32>) -> tensor<?x8x4x4xf32>
  %r = nn.relu %y : (tensor<?x8x4x4xf32>) -> tensor<?x8x4x4xf32>
  %f = nn.flatten %r {axis = 1 : i64} : (tensor<?x8x4x4xf32>) -> tensor<?x128xf32>
  func.return %f : tensor<?x128xf32>
}
