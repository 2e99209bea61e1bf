// Every op rejects mismatched shapes and dtypes with a typed error that names the op and the
// shapes involved; nothing aborts.
#include <gtest/gtest.h>

#include <functional>

#include "cornerstone/core/error.h"
#include "cornerstone/ops/activation.h"
#include "cornerstone/ops/attention.h"
#include "cornerstone/ops/dropout.h"
#include "cornerstone/ops/elementwise.h"
#include "cornerstone/ops/embedding.h"
#include "cornerstone/ops/linear.h"
#include "cornerstone/ops/loss.h"
#include "cornerstone/ops/norm.h"

using namespace cornerstone;

namespace {

template <typename E>
void expect_error(const std::function<void()>& f, const std::vector<std::string>& must_mention) {
  try {
    f();
    ADD_FAILURE() << "no exception";
  } catch (const E& e) {
    for (const auto& s : must_mention) EXPECT_NE(std::string(e.what()).find(s), std::string::npos) << e.what() << " lacks " << s;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
  }
}

Tensor f(const Shape& s) { return Tensor::zeros(s); }
Tensor i(const Shape& s) { return Tensor::zeros(s, DType::I32); }

}  // namespace

TEST(OpErrors, ShapeMismatchesNameTheOpAndTheShapes) {
  expect_error<ShapeError>([] { ops::matmul(f({4, 3}), f({5, 2})); }, {"matmul", "(4, 3)", "(5, 2)"});
  expect_error<ShapeError>([] { ops::linear(f({4, 3}), f({5, 2})); }, {"linear", "(4, 3)", "(5, 2)"});
  expect_error<ShapeError>([] { ops::linear(f({4, 3}), f({5, 3}), f({4})); }, {"linear", "bias", "(4,)", "(5, 3)"});
  expect_error<ShapeError>([] { ops::add(f({2, 3}), f({3, 2})); }, {"add", "(2, 3)", "(3, 2)"});
  expect_error<ShapeError>([] { ops::sub(f({2}), f({3})); }, {"sub", "(2,)", "(3,)"});
  expect_error<ShapeError>([] { ops::mul(f({2}), f({3})); }, {"mul", "(2,)", "(3,)"});
  expect_error<ShapeError>([] { ops::layer_norm(f({2, 8}), f({7}), Tensor()); }, {"layer_norm", "(7,)", "(2, 8)"});
  expect_error<ShapeError>([] { ops::rms_norm(f({2, 8}), f({9})); }, {"rms_norm", "(9,)", "(2, 8)"});
  expect_error<ShapeError>([] { ops::swiglu(f({2, 7})); }, {"swiglu", "(2, 7)"});
  expect_error<ShapeError>([] { ops::cross_entropy(f({3, 5}), i({4})); }, {"cross_entropy", "(3, 5)", "(4,)"});
  expect_error<ShapeError>([] { ops::lm_head_cross_entropy(f({3, 4}), f({10, 5}), Tensor(), i({3})); },
                           {"lm_head_cross_entropy", "(3, 4)", "(10, 5)"});
  expect_error<ShapeError>([] { ops::embedding(f({10}), i({3})); }, {"embedding", "table", "(10,)"});
  expect_error<ShapeError>([] { ops::add_positions(f({2, 5, 4}), f({3, 4})); }, {"add_positions", "(2, 5, 4)", "(3, 4)"});
  expect_error<ShapeError>([] { ops::add_columns(f({2, 4}), f({2, 3}), 2); }, {"add_columns", "(2, 3)", "(2, 4)"});
  expect_error<ShapeError>([] {
    ops::AttentionConfig c;
    c.n_heads = 2, c.n_kv_heads = 1, c.head_dim = 4;
    ops::attention(f({1, 3, 15}), c);
  }, {"attention", "(1, 3, 15)"});
  expect_error<ShapeError>([] { f({2, 3}).view({4, 2}); }, {"view", "(2, 3)", "(4, 2)"});
  expect_error<ShapeError>([] { f({2, 3}).slice(1, 1, 5); }, {"slice", "(2, 3)"});
}

TEST(OpErrors, DtypeMismatchesNameTheOpAndTheArgument) {
  expect_error<DTypeError>([] { ops::matmul(i({2, 2}), f({2, 2})); }, {"matmul", "a", "f32", "i32"});
  expect_error<DTypeError>([] { ops::linear(f({2, 2}), i({2, 2})); }, {"linear", "weight"});
  expect_error<DTypeError>([] { ops::add(f({2}), i({2})); }, {"add", "b"});
  expect_error<DTypeError>([] { ops::layer_norm(i({2, 2}), Tensor(), Tensor()); }, {"layer_norm", "x"});
  expect_error<DTypeError>([] { ops::gelu(i({2})); }, {"gelu", "x"});
  expect_error<DTypeError>([] { ops::softmax(i({2})); }, {"softmax", "x"});
  expect_error<DTypeError>([] { ops::cross_entropy(f({2, 3}), f({2})); }, {"cross_entropy", "targets", "i32"});
  expect_error<DTypeError>([] { ops::embedding(f({4, 2}), f({3})); }, {"embedding", "ids", "i32"});
  expect_error<DTypeError>([] { Rng r(1); ops::dropout(i({4}), 0.5f, r); }, {"dropout", "x"});
}

TEST(OpErrors, OutOfRangeValuesAreValueErrors) {
  expect_error<ValueError>([] { ops::embedding(f({4, 2}), Tensor::from_data({2}, std::vector<int32_t>{1, -1})); },
                           {"embedding", "id -1"});
  expect_error<ValueError>([] { ops::cross_entropy(f({1, 3}), Tensor::from_data({1}, std::vector<int32_t>{3})); },
                           {"cross_entropy", "target 3"});
  expect_error<ValueError>([] { Rng r(1); ops::dropout(f({4}), 1.5f, r); }, {"dropout", "probability"});
}
