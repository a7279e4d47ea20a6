// SPDX-License-Identifier: Apache-2.0
// The LibTorch adapter (<fda/torch.hpp>): views alias the tensors and refuse what they cannot
// alias, naming the parameter; a worker returns its module, its holder or
// module->parameters(); runs are deterministic and resume bit-identically; and the Eigen and
// LibTorch LeNet-5 compute the same losses and make the same sync decisions.
// LibTorch first: it brings glog, whose CHECK macro would replace Catch's if included after.
#include <fda/torch.hpp>
#include <models/torch_models.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include <fda/data/idx.hpp>
#include <fda/fda.hpp>
#include <models/lenet5.hpp>
#include <models/optimizer.hpp>

namespace {

using Catch::Matchers::Contains;

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const fda::invalid_argument& e) {
    return e.what();
  }
  return "(no fda::invalid_argument)";
}

struct tiny_netImpl : torch::nn::Module {
  tiny_netImpl()
      : fc1(register_module("fc1", torch::nn::Linear(20, 16))), fc2(register_module("fc2", torch::nn::Linear(16, 4))) {}
  torch::Tensor forward(torch::Tensor x) { return fc2(torch::relu(fc1(x))); }
  torch::nn::Linear fc1, fc2;
};
TORCH_MODULE(tiny_net);

/// A synthetic classification task: n examples of 20 features, labels from a fixed
/// random teacher; batches of 8 drawn by a seeded RNG that checkpoints save.
struct synthetic_batches {
  torch::Tensor x, y;
  std::mt19937_64 rng;

  synthetic_batches(std::uint64_t seed, std::size_t n = 256) : rng(seed) {
    std::mt19937_64 data(seed * 7919 + 1);
    std::vector<float> xs(n * 20);
    for (auto& v : xs) v = float(double(data() >> 11) * 0x1p-53 * 2 - 1);
    x = torch::from_blob(xs.data(), {long(n), 20}).clone();
    const torch::Tensor teacher = torch::linspace(-1, 1, 80).reshape({20, 4});
    y = x.matmul(teacher).argmax(1);
  }
  std::pair<torch::Tensor, torch::Tensor> operator()() {
    std::vector<long> pick(8);
    for (auto& i : pick) i = long(rng() % std::uint64_t(x.size(0)));
    const torch::Tensor index = torch::tensor(pick);
    return {x.index_select(0, index), y.index_select(0, index)};
  }
  std::size_t samples() const { return std::size_t(x.size(0)); }
  void save(fda::checkpoint_writer& out) {
    std::ostringstream s;
    s << rng;
    out(s.str());
  }
  void load(fda::checkpoint_reader& in) {
    std::istringstream s(in.get<std::string>());
    s >> rng;
  }
};

auto cross_entropy = [](const torch::Tensor& out, const torch::Tensor& y) {
  return torch::nn::functional::cross_entropy(out, y);
};

auto make_tiny_worker(std::size_t rank, fda::torch::worker_options o = {}) {
  tiny_net net = fda::torch::seeded(5, [] { return tiny_net(); });
  torch::optim::Adam adam(net->parameters(), torch::optim::AdamOptions(1e-2));
  return fda::torch::worker(net, std::move(adam), synthetic_batches(rank + 1), cross_entropy, o);
}

}  // namespace

TEST_CASE("views alias a tensor, module->parameters(), a module and its holder, in registration order") {
  tiny_net net;
  auto v = fda::view(net);  // the holder
  REQUIRE(v.size() == 20 * 16 + 16 + 16 * 4 + 4);
  CHECK(v.segments().size() == 4);
  CHECK(v.segments()[0].data() == net->fc1->weight.data_ptr<float>());
  CHECK(v.segments()[3].data() == net->fc2->bias.data_ptr<float>());
  v[0] = 42.0f;  // zero-copy: writing through the view changes the tensor
  CHECK(net->fc1->weight[0][0].item<float>() == 42.0f);
  CHECK(fda::view(*net).size() == v.size());               // the module
  CHECK(fda::view(net->parameters()).size() == v.size());  // a temporary vector of handles
  CHECK(fda::view(net->fc2->bias).size() == 4);             // one tensor
  CHECK(fda::view(net->parameters())[0] == 42.0f);
  static_assert(std::same_as<decltype(fda::view(net)), fda::param_view<float>>);
  const tiny_net& const_net = net;
  static_assert(std::same_as<decltype(fda::view(const_net)), fda::param_view<const float>>);

  // double on request
  tiny_net d;
  d->to(torch::kDouble);
  CHECK(fda::torch::params<double>(d).size() == v.size());
  CHECK_THAT(error_of([&] { fda::view(d); }), Contains("parameter fc1.weight [16, 20] has dtype Double, not Float") &&
                                                  Contains("fda::torch::params<double>"));
}

TEST_CASE("a view refuses what it cannot alias, naming the parameter and what is wrong") {
  struct holder : torch::nn::Module {
    torch::Tensor a;
  };
  auto with = [](torch::Tensor t) {
    auto m = std::make_shared<holder>();
    m->a = m->register_parameter("a", t);
    return m;
  };
  CHECK_THAT(error_of([&] { fda::view(*with(torch::ones({3, 4}).t())); }),
             Contains("parameter a [4, 3] is not contiguous (strides [1, 4])"));
  CHECK_THAT(error_of([&] { fda::view(*with(torch::ones({3}, torch::kHalf))); }),
             Contains("parameter a [3] has dtype Half, not Float"));
  CHECK_THAT(error_of([&] { fda::view(*with(torch::ones({3}, torch::TensorOptions().device(torch::kMeta)))); }),
             Contains("parameter a [3] is on meta; fda views CPU tensors only"));
  CHECK_THAT(error_of([&] { fda::view(torch::eye(3).to_sparse()); }), Contains("tensor [3, 3] has layout Sparse"));
  CHECK_THAT(error_of([&] { fda::view(torch::Tensor()); }), Contains("tensor is an undefined tensor"));
  CHECK_THAT(error_of([&] { fda::view(std::vector<torch::Tensor>{torch::ones({2}), torch::ones({2}).to(torch::kDouble)}); }),
             Contains("tensor 1 [2] has dtype Double"));

  // Two parameters that overlap in part: refused; the same tensor twice (tied weights): once.
  auto m = std::make_shared<holder>();
  const torch::Tensor base = torch::zeros({8});
  m->register_parameter("left", base.narrow(0, 0, 5));
  m->register_parameter("right", base.narrow(0, 3, 5));
  CHECK_THAT(error_of([&] { fda::view(*m); }), Contains("parameter left [5] and parameter right [5] overlap in memory"));
  auto tied = std::make_shared<holder>();
  const torch::Tensor w = torch::ones({6});
  tied->register_parameter("encoder", w);
  tied->register_parameter("decoder", w);
  CHECK(fda::view(*tied).size() == 6);
}

TEST_CASE("buffers: floating-point ones on request, after the parameters; integer ones never") {
  torch::nn::BatchNorm1d bn(3);
  CHECK(fda::view(bn).size() == 6);  // weight, bias
  const auto with = fda::torch::params(bn, {.buffers = true});
  REQUIRE(with.size() == 12);  // + running_mean, running_var (num_batches_tracked: int64, skipped)
  CHECK(with.segments()[2].data() == bn->running_mean.data_ptr<float>());
  CHECK(with.segments()[3].data() == bn->running_var.data_ptr<float>());
}

namespace {
template <int Kind>
struct module_worker {  // params() returns 0: the holder, 1: the module, 2: module->parameters()
  tiny_net net = fda::torch::seeded(3, [] { return tiny_net(); });
  torch::optim::SGD sgd{net->parameters(), torch::optim::SGDOptions(0.05)};
  synthetic_batches batches{11};
  decltype(auto) params() {
    if constexpr (Kind == 0) return (net);
    else if constexpr (Kind == 1) return (*net);
    else return net->parameters();
  }
  void step() {
    auto [x, y] = batches();
    sgd.zero_grad();
    cross_entropy(net->forward(x), y).backward();
    sgd.step();
  }
};
template <int Kind>
fda::result run_module_worker() {
  static_assert(fda::worker<module_worker<Kind>>);
  fda::local_cluster cluster(2);
  return fda::train(cluster, [](std::size_t) { return module_worker<Kind>(); }, fda::linear_fda{.theta = 1e-4},
                    fda::mean{}, {.max_steps = 12});
}
}  // namespace

TEST_CASE("a worker's params() may return the holder, the module or module->parameters()") {
  const fda::result a = run_module_worker<0>(), b = run_module_worker<1>(), c = run_module_worker<2>();
  CHECK(a.syncs >= 1);
  CHECK(a.model == b.model);
  CHECK(a.model == c.model);
}

TEST_CASE("K = 4 LibTorch workers under linear_fda, twice: identical results") {
  auto run = [] {
    fda::local_cluster cluster(4);
    return fda::train(cluster, [](std::size_t r) { return make_tiny_worker(r); }, fda::linear_fda{.theta = 0.05},
                      fda::mean{}, {.max_steps = 60});
  };
  const fda::result a = run(), b = run();
  CHECK(a.syncs >= 2);
  CHECK(a.syncs < 60);
  CHECK(a.syncs == b.syncs);
  CHECK(a.checks == b.checks);
  CHECK(a.model == b.model);  // bit for bit
}

TEST_CASE("checkpoint and resume: 2N steps equal N + N, bit for bit (Adam's state, the batch source's RNG)") {
  const auto file = std::filesystem::temp_directory_path() / "fda_test_torch_checkpoint";
  std::filesystem::remove(file);
  auto run = [&](fda::options o) {
    fda::local_cluster cluster(3);
    return fda::train(cluster, [](std::size_t r) { return make_tiny_worker(r); }, fda::linear_fda{.theta = 0.05},
                      fda::fedadam{}, o);
  };
  const fda::options whole{.max_epochs = 2, .steps_per_epoch = 25, .seed = 2};
  const fda::result straight = run(whole);
  fda::options first = whole, second = whole;
  first.max_epochs = 1;
  first.checkpoint_path = second.checkpoint_path = file.string();
  second.resume = true;
  run(first);
  const fda::result resumed = run(second);
  CHECK(straight.syncs >= 1);
  CHECK(resumed.syncs == straight.syncs);
  CHECK(resumed.model == straight.model);
  std::filesystem::remove(file);
}

TEST_CASE("on_sync: the optimizer's state is kept by default, cleared with optimizer_state::reset") {
  for (const auto mode : {fda::torch::optimizer_state::keep, fda::torch::optimizer_state::reset}) {
    auto w = make_tiny_worker(0, {.on_sync = mode});
    w.step();
    REQUIRE(!w.optimizer().state().empty());
    w.on_sync();
    CHECK(w.optimizer().state().empty() == (mode == fda::torch::optimizer_state::reset));
    CHECK(std::isfinite(w.last_loss()));
  }
  CHECK_THAT(error_of([] { make_tiny_worker(0, {.intra_op_threads = 0}); }), Contains("intra_op_threads = 0"));
}

TEST_CASE("load, evaluate_module, seeded construction, intra-op threads") {
  tiny_net a, b;
  fda::torch::load(b, fda::view(a));
  CHECK(torch::equal(a->fc1->weight, b->fc1->weight));
  std::vector<float> wrong(3);
  CHECK_THAT(error_of([&] { fda::torch::load(b, wrong); }), Contains("fda::copy"));

  // evaluate_module evaluates the averaged model on a module of its own, without autograd.
  tiny_net evaluated;  // a holder: the callback shares this module
  auto eval = fda::torch::evaluate_module(evaluated, [&](tiny_net& m) {
    CHECK(!torch::GradMode::is_enabled());
    CHECK(!m->is_training());
    return m->fc2->bias.sum().item<double>();
  });
  std::vector<float> averaged(fda::view(a).size(), 0.5f);
  fda::epoch_info<float> info{.averaged_model = averaged};
  eval.on_epoch(info);
  CHECK(info.metrics.at("test_accuracy") == 2.0);
  CHECK(evaluated->is_training());  // back in train mode
  CHECK(evaluated->fc1->weight[0][0].item<float>() == 0.5f);

  // seeded: the weights depend on the seed only, whichever threads build at once.
  std::vector<std::vector<float>> made(8);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < made.size(); ++i)
    threads.emplace_back([&, i] {
      tiny_net n = fda::torch::seeded(i % 2, [] { return tiny_net(); });
      const auto v = fda::view(n);
      for (std::size_t j = 0; j < v.size(); ++j) made[i].push_back(v[j]);
    });
  for (auto& t : threads) t.join();
  for (std::size_t i = 2; i < made.size(); ++i) CHECK(made[i] == made[i % 2]);
  CHECK(made[0] != made[1]);

  std::thread([] {
    fda::torch::use_intra_op_threads(1);
    CHECK(at::get_num_threads() == 1);
  }).join();
  CHECK_THAT(error_of([] { fda::torch::use_intra_op_threads(0); }), Contains("n = 0"));
  CHECK(fda::torch::intra_op_threads_for(1 << 20) == 1);
}

// ---- The cross-check: the Eigen and the LibTorch LeNet-5 compute the same thing ----

namespace {

const fda::data::dataset* fashion_mnist() {
  static std::optional<fda::data::dataset> data;
  if (!data && std::filesystem::exists(fda::data::debian_fashion_mnist_dir))
    data = fda::data::load_fashion_mnist(fda::data::debian_fashion_mnist_dir, true);
  return data ? &*data : nullptr;
}

constexpr std::size_t batch = 32;
constexpr double lr = 0.05;

/// Worker r's step s: examples (r·1000 + s·32 ...) of the training set, in order.
std::size_t first_example(std::size_t rank, std::size_t step) { return rank * 1000 + step * batch; }

struct eigen_lenet_worker {
  const fda::data::dataset* data;
  std::size_t rank;
  fda::models::lenet5 model{batch, 1};
  fda::models::sgd<float> sgd{{.lr = lr}};
  std::size_t steps = 0;
  double loss = 0;
  std::vector<float>& params() { return model.params(); }
  void step() {
    const std::size_t i = first_example(rank, steps++);
    loss = model.loss_and_grad(data->images.data() + i * data->pixels(), data->labels.data() + i, batch);
    sgd.step(model.params(), model.grads());
  }
};

struct torch_lenet_worker {
  const fda::data::dataset* data;
  std::size_t rank;
  bool eigen_init = true;  // false: LibTorch's own initial weights (the negative control)
  torch::nn::Sequential model = eigen_init ? initial() : torch_models::lenet5();
  torch::optim::SGD sgd{model->parameters(), torch::optim::SGDOptions(lr)};
  std::size_t steps = 0;
  double loss = 0;
  static torch::nn::Sequential initial() {  // the Eigen model's initial weights
    torch::nn::Sequential m = torch_models::lenet5();
    fda::models::lenet5 eigen(1, 1);
    fda::copy(fda::view(eigen.params()), fda::view(m));
    return m;
  }
  torch::nn::Sequential& params() { return model; }
  void step() {
    fda::torch::use_intra_op_threads(1);
    const std::size_t i = first_example(rank, steps++);
    const torch::Tensor x =
        torch::from_blob(const_cast<float*>(data->images.data() + i * data->pixels()), {long(batch), 1, 28, 28});
    const torch::Tensor y =
        torch::from_blob(const_cast<std::uint8_t*>(data->labels.data() + i), {long(batch)}, torch::kUInt8)
            .to(torch::kLong);
    sgd.zero_grad();
    const torch::Tensor l = torch::nn::functional::cross_entropy(model->forward(x), y);
    l.backward();
    sgd.step();
    loss = l.item<double>();
  }
};

/// What a run decided at each step: H, Θ, and whether it synced.
struct decisions {
  struct one {
    double estimate, theta;
    bool synced;
  };
  std::vector<one>* log;
  void on_step(const fda::step_info& s) { log->push_back({s.estimate, s.theta, s.synced}); }
};

}  // namespace

TEST_CASE("the Eigen and the LibTorch LeNet-5: same losses over 50 SGD steps, same sync decisions") {
  const fda::data::dataset* data = fashion_mnist();
  if (!data) {
    WARN("skipped: Fashion-MNIST not found in " << fda::data::debian_fashion_mnist_dir
                                                << " (apt install dataset-fashion-mnist)");
    return;
  }
  // One worker each, the same initial weights (copied through fda views), batches and SGD.
  eigen_lenet_worker e{data, 0};
  torch_lenet_worker t{data, 0};
  REQUIRE(fda::view(t.model).size() == e.model.params().size());
  CHECK(torch_models::parameter_count(*torch_models::lenet5()) == 61'706);
  CHECK(torch_models::parameter_count(*torch_models::cnn()) == 1'174'250);  // as --help and the docs say
  double worst = 0;
  for (int s = 0; s < 50; ++s) {
    e.step();
    t.step();
    worst = std::max(worst, std::abs(e.loss - t.loss) / std::abs(e.loss));
    INFO("step " << s << ": Eigen loss " << e.loss << ", LibTorch loss " << t.loss);
    REQUIRE(std::abs(e.loss - t.loss) <= 1e-4 * std::abs(e.loss));
  }
  CHECK(e.loss < 1.2);  // it learned (ln 10 = 2.3 at the start)
  {  // negative control: LibTorch's own initial weights instead of the Eigen model's
    torch_lenet_worker other{data, 0, false};
    eigen_lenet_worker fresh{data, 0};
    other.step();
    fresh.step();
    CHECK(std::abs(fresh.loss - other.loss) > 1e-4 * std::abs(fresh.loss));
  }
  WARN("largest relative loss difference over 50 steps: " << worst);

  // K = 4 under linear_fda: the same decision at every step where H is not within 1e-6 of Θ.
  const fda::linear_fda policy{.theta = 0.1};
  std::vector<decisions::one> by_eigen, by_torch;
  {
    fda::local_cluster cluster(4);
    fda::train(cluster, [&](std::size_t r) { return eigen_lenet_worker{data, r}; }, policy, fda::mean{},
               {.max_steps = 30}, decisions{&by_eigen});
  }
  {
    fda::local_cluster cluster(4);
    fda::train(cluster, [&](std::size_t r) { return torch_lenet_worker{data, r}; }, policy, fda::mean{},
               {.max_steps = 30}, decisions{&by_torch});
  }
  REQUIRE(by_eigen.size() == 30);
  REQUIRE(by_torch.size() == 30);
  std::size_t syncs = 0, compared = 0;
  double largest = 0;
  for (std::size_t s = 0; s < by_eigen.size(); ++s) {
    const auto &a = by_eigen[s], &b = by_torch[s];
    if (std::abs(a.estimate - a.theta) <= 1e-6 * a.theta || std::abs(b.estimate - b.theta) <= 1e-6 * b.theta) {
      WARN("step " << s + 1 << ": H within 1e-6 of Θ; the runs may part from here");
      break;
    }
    INFO("step " << s + 1 << ": H = " << a.estimate << " (Eigen), " << b.estimate << " (LibTorch), Θ = " << a.theta);
    CHECK(a.synced == b.synced);
    // H agrees to rounding at first; the models part slowly (5e-3 relative by step 30).
    CHECK(std::abs(a.estimate - b.estimate) <= 2e-2 * a.estimate);
    largest = std::max(largest, std::abs(a.estimate - b.estimate) / a.estimate);
    syncs += a.synced;
    ++compared;
  }
  WARN("linear_fda, K = 4: " << syncs << " syncs in 30 steps, the same in both; largest relative difference of H: "
                                << largest);
  CHECK(compared == 30);
  CHECK(syncs >= 2);   // the decisions compared include syncs ...
  CHECK(syncs <= 20);  // ... and steps without one
}
