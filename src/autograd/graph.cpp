#include "cornerstone/autograd/graph.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "cornerstone/autograd/grad_mode.h"
#include "cornerstone/core/error.h"
#include "cornerstone/core/profiler.h"
#include "cornerstone/kernels/elementwise.h"

namespace cornerstone::autograd {

namespace {

std::atomic<uint64_t> g_sequence{0};

// Profiler labels must outlive the call: keep one copy of each.
const char* intern(const std::string& s) {
  static std::mutex mu;
  static std::unordered_set<std::string> pool;
  std::lock_guard<std::mutex> lock(mu);
  return pool.insert(s).first->c_str();
}

bool tensor_requires_grad(const Tensor& t) {
  return t.defined() && t.autograd_meta() && t.autograd_meta()->requires_grad;
}

// The observer of this thread's backward passes, how deep in nested passes (activation
// checkpointing runs one inside a node) we are, and the leaves sealed by the outermost one.
thread_local BackwardObserver* g_observer = nullptr;
thread_local int g_depth = 0;
thread_local std::vector<std::shared_ptr<AutogradMeta>> g_sealed;

void check_open(const AutogradMeta& meta, const char* node) {
  if (meta.sealed && !meta.grad_fn)
    throw Error(std::string(node) +
                " backward: a gradient reached a parameter after the pass had declared it complete (was the parameter used in two "
                "activation-checkpointed segments, or inside one and outside it?). Such a model cannot reduce its gradients during "
                "the backward pass");
}

}  // namespace

// ---- GradSink ---------------------------------------------------------------------------------------

Tensor& GradSink::slot(AutogradMeta& meta) { return meta.grad_fn ? meta.grad_fn->grad_output_ : meta.grad; }

bool GradSink::needs(size_t i) const { return i < node_.inputs_.size() && node_.inputs_[i] != nullptr; }

GradSink::Buffer GradSink::buffer(size_t i) {
  if (!needs(i)) throw Error(std::string(node_.name_) + " backward: input " + std::to_string(i) + " needs no gradient");
  check_open(*node_.inputs_[i], node_.name_);
  Tensor& dst = slot(*node_.inputs_[i]);
  if (dst.defined()) return {dst, false};
  dst = Tensor::empty(node_.input_shapes_[i], DType::F32);
  return {dst, true};
}

float* GradSink::overwrite_or_add(size_t i, bool& accumulate) {
  accumulate = false;
  if (!needs(i)) return nullptr;
  const Buffer b = buffer(i);
  accumulate = !b.fresh;
  return b.data();
}

float* GradSink::summed_into(size_t i) {
  if (!needs(i)) return nullptr;
  Buffer b = buffer(i);
  if (b.fresh) b.tensor.zero();
  return b.data();
}

void GradSink::accumulate(size_t i, const Tensor& g) {
  if (!needs(i)) return;
  if (g.shape() != node_.input_shapes_[i])
    throw ShapeError(std::string(node_.name_) + " backward: gradient " + g.shape().str() + " for input of shape " +
                     node_.input_shapes_[i].str());
  check_open(*node_.inputs_[i], node_.name_);
  Tensor& dst = slot(*node_.inputs_[i]);
  if (!dst.defined()) {
    // Adopt g when we are its only owner and it is a plain contiguous f32 buffer; otherwise copy.
    if (g.dtype() == DType::F32 && g.is_contiguous() && g.impl().use_count() == 1 && g.storage().use_count() == 1 &&
        !g.autograd_meta()) {
      dst = g;
    } else if (g.dtype() == DType::BF16 && g.is_contiguous()) {  // mixed precision: a bf16 gradient
      dst = kernels::to_dtype(g.detach(), DType::F32);                // a fresh f32 buffer
    } else {
      dst = Tensor::empty(g.shape(), DType::F32);
      dst.copy_from(g);
    }
    return;
  }
  Tensor gc = g.dtype() == DType::F32 && g.is_contiguous() ? g : kernels::to_dtype(g.detach(), DType::F32);
  kernels::add(dst.data<float>(), gc.data<float>(), dst.numel(), dst.data<float>());
}

// ---- Node ----------------------------------------------------------------------------------------------

Node::Node(const char* name, std::vector<std::shared_ptr<AutogradMeta>> inputs, std::vector<Shape> input_shapes,
           BackwardFn fn)
    : name_(name),
      seq_(g_sequence.fetch_add(1, std::memory_order_relaxed)),
      inputs_(std::move(inputs)),
      input_shapes_(std::move(input_shapes)),
      fn_(std::move(fn)) {}

// ---- observing --------------------------------------------------------------------------------------

ObserveBackward::ObserveBackward(BackwardObserver* observer) : previous_(g_observer) { g_observer = observer; }

ObserveBackward::~ObserveBackward() { g_observer = previous_; }

// ---- recording ------------------------------------------------------------------------------------------

bool needs_grad(std::initializer_list<Tensor> inputs) {
  if (!grad_enabled()) return false;
  for (const Tensor& t : inputs)
    if (tensor_requires_grad(t)) return true;
  return false;
}

void record(const char* name, const std::vector<Tensor>& inputs, Tensor& output, BackwardFn fn) {
  std::vector<std::shared_ptr<AutogradMeta>> metas;
  std::vector<Shape> shapes;
  metas.reserve(inputs.size());
  shapes.reserve(inputs.size());
  for (const Tensor& t : inputs) {
    metas.push_back(tensor_requires_grad(t) ? t.autograd_meta() : nullptr);
    shapes.push_back(t.defined() ? t.shape() : Shape{});
  }
  auto node = std::make_shared<Node>(name, std::move(metas), std::move(shapes), std::move(fn));
  auto meta = std::make_shared<AutogradMeta>();
  meta->requires_grad = true;
  meta->grad_fn = std::move(node);
  output.autograd_meta_mut() = std::move(meta);
}

void record(const char* name, std::initializer_list<Tensor> inputs, Tensor& output, BackwardFn fn) {
  record(name, std::vector<Tensor>(inputs), output, std::move(fn));
}

// ---- backward ---------------------------------------------------------------------------------------------

void run_backward(const Tensor& root, const Tensor& seed_in) {
  check_defined(root, "backward", "root");
  if (!tensor_requires_grad(root))
    throw ValueError("backward: the tensor does not require grad (was it computed under no_grad, or from "
                     "tensors without requires_grad?)");
  Tensor seed = seed_in;
  if (!seed.defined()) {
    if (root.numel() != 1)
      throw ShapeError("backward: root has shape " + root.shape().str() +
                       "; pass a seed gradient for a non-scalar root");
    seed = Tensor::full(root.shape(), 1.0f);
  } else if (seed.shape() != root.shape()) {
    throw ShapeError("backward: seed shape " + seed.shape().str() + " differs from root shape " + root.shape().str());
  }

  AutogradMeta& root_meta = *root.autograd_meta();
  if (!root_meta.grad_fn) {  // a leaf: its gradient is the seed
    Tensor s = seed.contiguous().clone();
    if (root_meta.grad.defined())
      kernels::add(root_meta.grad.data<float>(), s.data<float>(), s.numel(), root_meta.grad.data<float>());
    else
      root_meta.grad = s;
    return;
  }

  // Gather every node reachable from the root, then replay them newest first.
  std::vector<Node*> order;
  std::vector<std::shared_ptr<Node>> keep;  // nodes stay alive while we run them
  std::unordered_set<Node*> seen;
  std::vector<Node*> stack{root_meta.grad_fn.get()};
  keep.push_back(root_meta.grad_fn);
  seen.insert(root_meta.grad_fn.get());
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    if (n->released_)
      throw ValueError(std::string("backward: the graph through '") + n->name_ +
                       "' was already used by an earlier backward(); run the forward pass again");
    order.push_back(n);
    for (const auto& in : n->inputs_) {
      if (in && in->grad_fn && seen.insert(in->grad_fn.get()).second) {
        keep.push_back(in->grad_fn);
        stack.push_back(in->grad_fn.get());
      }
    }
  }
  std::sort(order.begin(), order.end(), [](const Node* a, const Node* b) { return a->seq_ > b->seq_; });

  // Observed: the leaves each node is the last to feed (every other node taking them runs before it).
  BackwardObserver* const observer = g_observer;
  std::vector<std::vector<std::shared_ptr<AutogradMeta>>> ready_after;
  if (observer) {
    std::unordered_map<const AutogradMeta*, size_t> last;
    for (size_t i = 0; i < order.size(); ++i)
      for (const auto& in : order[i]->inputs_)
        if (in && !in->grad_fn) last[in.get()] = i;
    ready_after.resize(order.size());
    for (size_t i = 0; i < order.size(); ++i)
      for (const auto& in : order[i]->inputs_)  // in input order: the same order in every process
        if (in && !in->grad_fn && last[in.get()] == i) {
          auto& list = ready_after[i];
          if (std::find(list.begin(), list.end(), in) == list.end()) list.push_back(in);
        }
  }
  struct Depth {  // the outermost pass unseals its leaves when it ends, however it ends
    Depth() { ++g_depth; }
    ~Depth() {
      if (--g_depth > 0) return;
      for (const auto& m : g_sealed) m->sealed = false;
      g_sealed.clear();
    }
  } depth;

  NoGradGuard no_grad;  // backward functions compute with plain tensors; nothing is recorded
  root_meta.grad_fn->grad_output_ = seed.dtype() == DType::F32 && seed.is_contiguous() ? seed : kernels::to_dtype(seed.detach(), DType::F32);
  for (size_t at = 0; at < order.size(); ++at) {
    Node* n = order[at];
    Tensor gout = std::move(n->grad_output_);
    n->grad_output_ = Tensor();
    if (gout.defined()) {
      GradSink sink(*n);
      if (profiler::enabled()) {
        const std::string label = std::string(n->name_) + " (backward)";
        const auto t0 = std::chrono::steady_clock::now();
        n->fn_(gout, sink);
        profiler::add(intern(label), std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      } else {
        n->fn_(gout, sink);
      }
    }
    n->fn_ = nullptr;  // frees saved activations now, not at the end of the pass
    n->released_ = true;
    if (observer) {
      for (const auto& leaf : ready_after[at]) {
        leaf->sealed = true;
        g_sealed.push_back(leaf);
        observer->leaf_ready(*leaf);
      }
      observer->node_done();
    }
  }
  if (observer && g_depth == 1) observer->backward_done();
}

}  // namespace cornerstone::autograd
