// SPDX-License-Identifier: Apache-2.0
// A LibTorch program federated with fda (docs/torch.md walks through it): K = 4 workers, each
// a small CNN trained by Adam on its shard of Fashion-MNIST, synchronized by LinearFDA; the
// averaged model is evaluated on the test set. The worker's params() returns its module.
// usage: torch_quickstart [TRAINING_EXAMPLES]   (default: all 60,000)
#include <fda/data/idx.hpp>
#include <fda/fda.hpp>
#include <fda/torch.hpp>

#include <cstdio>
#include <string>

struct NetImpl : torch::nn::Module {
  torch::nn::Conv2d conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 8, 5)));
  torch::nn::Linear fc = register_module("fc", torch::nn::Linear(8 * 12 * 12, 10));
  torch::Tensor forward(torch::Tensor x) { return fc(torch::max_pool2d(torch::relu(conv(x)), 2).flatten(1)); }
};
TORCH_MODULE(Net);

// Fashion-MNIST as tensors: images [n, 1, 28, 28], labels [n] (int64).
std::pair<torch::Tensor, torch::Tensor> tensors(fda::data::dataset& d) {
  return {torch::from_blob(d.images.data(), {long(d.count), 1, 28, 28}),
          torch::from_blob(d.labels.data(), {long(d.count)}, torch::kUInt8).to(torch::kLong)};
}

struct Worker {
  Net net = fda::torch::seeded(1, [] { return Net(); });  // the same weights whatever the thread
  torch::optim::Adam adam{net->parameters(), torch::optim::AdamOptions(1e-3)};
  torch::Tensor x, y;  // this worker's shard
  long next = 0;

  Net& params() { return net; }  // fda views the module's tensors in place: no copy
  void step() {                  // one Adam step on the next batch of 32
    const torch::Tensor i = torch::arange(next, next + 32) % x.size(0);
    next += 32;
    adam.zero_grad();
    torch::nn::functional::cross_entropy(net(x.index_select(0, i)), y.index_select(0, i)).backward();
    adam.step();
  }
};

int main(int argc, char** argv) {
  const std::size_t K = 4;
  fda::data::dataset train = fda::data::load_fashion_mnist(fda::data::debian_fashion_mnist_dir, true);
  fda::data::dataset test = fda::data::load_fashion_mnist(fda::data::debian_fashion_mnist_dir, false);
  if (argc > 1) train = fda::data::head(train, std::stoul(argv[1]));
  const auto [x, y] = tensors(train);
  const auto [test_x, test_y] = tensors(test);
  const long n = long(train.count), shard = n / long(K);

  auto accuracy = [&](Net& m) { return m(test_x).argmax(1).eq(test_y).to(torch::kDouble).mean().item<double>(); };
  fda::local_cluster cluster(K);
  const fda::result r = fda::train(
      cluster,
      [&](std::size_t k) {
        Worker w;
        w.x = x.narrow(0, long(k) * shard, shard);
        w.y = y.narrow(0, long(k) * shard, shard);
        return w;
      },
      fda::linear_fda{.theta = 0.5}, fda::mean{}, {.max_epochs = 2, .steps_per_epoch = std::size_t(shard / 32)},
      fda::torch::evaluate_module(Net(), accuracy));

  Net trained;  // the final global model, copied into a module of our own
  fda::torch::load(trained, r.model);
  const torch::NoGradGuard no_grad;
  std::printf("torch_quickstart: K = %zu, %zu steps, %zu syncs, %s sent; test accuracy %.4f\n", K, r.steps, r.syncs,
              fda::human_bytes(r.total_bytes()).c_str(), accuracy(trained));
}
