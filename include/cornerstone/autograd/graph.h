// The define-by-run autograd graph.
//
// Every differentiable op (ops/) that runs with grad mode on and an input that requires grad
// records a Node: its backward function, the autograd state of its inputs, and a sequence number.
// Nodes are created in execution order, so sequence numbers are a topological order of the graph:
// backward() gathers the nodes reachable from the loss and runs them once each, newest first (the
// tape, replayed in reverse). A node's saved tensors are released as soon as it has run.
//
// Writing an op (see src/ops/ for many):
//
//   Tensor out = Tensor::empty(...);  kernels::foo_forward(...);
//   if (autograd::needs_grad({x, w}))
//     autograd::record("foo", {x, w}, out, [x, w](const Tensor& dout, autograd::GradSink& sink) {
//       if (sink.needs(0)) { auto dx = sink.buffer(0); kernels::foo_backward_x(..., dx.data, !dx.fresh); }
//       if (sink.needs(1)) { ... }
//     });
//
// GradSink hands out the gradient buffer of each input: `fresh` means nothing has been written
// there yet (overwrite it); otherwise add into it. Backward kernels take that as their
// `accumulate` flag, so gradients are summed in place without temporaries or zero-fills.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <vector>

#include "cornerstone/core/tensor.h"

namespace cornerstone::autograd {

class Node;

struct AutogradMeta {
  bool requires_grad = false;    // a leaf that wants .grad(), or any tensor produced by a node
  Tensor grad;                   // leaves: the accumulated gradient
  std::shared_ptr<Node> grad_fn;  // non-leaves: the node that produced the tensor
  bool sealed = false;           // leaves: declared complete to a BackwardObserver during the
                                 // running backward; a later contribution is an error
};

class GradSink {
 public:
  struct Buffer {
    Tensor tensor;  // f32, contiguous, shaped like the input
    bool fresh;     // true: overwrite; false: add into
    float* data() const { return tensor.data<float>(); }
  };

  explicit GradSink(Node& node) : node_(node) {}
  // Whether input i wants a gradient.
  bool needs(size_t i) const;
  // Input i's gradient buffer (allocated on first use; the caller must then overwrite it fully).
  Buffer buffer(size_t i);
  // The two ways backward kernels write a gradient, as raw pointers (null when input i needs none):
  //   overwrite_or_add: an activation gradient the kernel overwrites, or adds into when
  //                     `accumulate` is set on return (kernels/norm.h's dx convention)
  //   summed_into:      a parameter gradient the kernel always adds into (zeroed first when fresh)
  float* overwrite_or_add(size_t i, bool& accumulate);
  float* summed_into(size_t i);
  // Adds g (shaped like input i) into input i's gradient; adopts g itself when it is the first
  // contribution and g is not aliased elsewhere (no copy).
  void accumulate(size_t i, const Tensor& g);

 private:
  // The gradient slot of an input: a leaf's .grad, or the producing node's grad_output.
  static Tensor& slot(AutogradMeta& meta);
  Node& node_;
};

using BackwardFn = std::function<void(const Tensor& grad_output, GradSink& sink)>;

class Node {
 public:
  Node(const char* name, std::vector<std::shared_ptr<AutogradMeta>> inputs, std::vector<Shape> input_shapes,
       BackwardFn fn);

  const char* name() const { return name_; }
  uint64_t sequence() const { return seq_; }
  const std::vector<std::shared_ptr<AutogradMeta>>& inputs() const { return inputs_; }

 private:
  friend class GradSink;
  friend void run_backward(const Tensor&, const Tensor&);
  const char* name_;
  uint64_t seq_;
  std::vector<std::shared_ptr<AutogradMeta>> inputs_;  // null where the input needs no gradient
  std::vector<Shape> input_shapes_;
  BackwardFn fn_;          // reset after it has run: frees the saved tensors
  bool released_ = false;  // backward already ran through this node
  Tensor grad_output_;     // gradient flowing into this node's output, summed over consumers
};

// Watches the backward passes run while an ObserveBackward holds it (data parallelism reduces
// each gradient as soon as it is complete, beside the rest of the pass):
//   leaf_ready     a leaf's gradient is complete: every node of the pass that takes the leaf has
//                  run (activation checkpointing's inner passes report the leaves of their segment
//                  when the segment is done). The leaf is then sealed until the outermost pass
//                  ends: a gradient reaching it later (a parameter shared by two checkpointed
//                  segments) throws instead of being silently lost.
//   node_done      after every node: a chance to make progress on communication in flight.
//   backward_done  the outermost pass has run every node.
class BackwardObserver {
 public:
  virtual ~BackwardObserver() = default;
  virtual void leaf_ready(AutogradMeta& leaf) = 0;
  virtual void node_done() {}
  virtual void backward_done() {}
};

// Installs an observer (null: none) for the backward passes of this thread while it lives.
class ObserveBackward {
 public:
  explicit ObserveBackward(BackwardObserver* observer);
  ~ObserveBackward();
  ObserveBackward(const ObserveBackward&) = delete;
  ObserveBackward& operator=(const ObserveBackward&) = delete;

 private:
  BackwardObserver* previous_;
};

// True when grad mode is on and any of the tensors requires grad.
bool needs_grad(std::initializer_list<Tensor> inputs);

// Records a node producing `output` from `inputs` (undefined tensors allowed: they need no grad).
void record(const char* name, std::initializer_list<Tensor> inputs, Tensor& output, BackwardFn fn);
void record(const char* name, const std::vector<Tensor>& inputs, Tensor& output, BackwardFn fn);

// Back-propagates from `root`; seed defaults to 1 for a one-element root.
void run_backward(const Tensor& root, const Tensor& seed);

}  // namespace cornerstone::autograd
