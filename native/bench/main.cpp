// The native bench program (build/dendrite_native_bench): throughput of the segregated-dendrite
// network and of the backprop baselines on the CPU and on every usable CUDA device, without
// Node (the GPU machines we are lent have none). The Node benches (`npm run bench -- ...`) are
// the reference on machines with Node; this program measures the same models where it is not.
//
//   dendrite_native_bench [--quick] [--device cpu|cuda|all] [--threads N]
//
// Data: synthetic digits with MNIST's sparsity (about 20 % of the pixels lit, one band of rows
// per class), so the spiking network sees input spike rates like MNIST's. Every figure is
// examples (or FLOPs) per second of wall time over repeated calls until 1 s (0.2 s with
// --quick) has passed, after one warm-up call. Batched training runs with batches of 32 on the
// CPU, 32 and 256 on a GPU. Kernels are synchronous on every backend,
// so wall time covers the GPU's work.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "../common/backend.h"
#include "../common/devices.h"
#include "../common/segregated.h"
#include "../common/sequential.h"
#include "../test/digits.h"

using namespace dendrite;
using test::Digits;
using test::make_digits;

namespace {

struct Options {
  bool cpu = true, cuda = true;
  int threads = 0;  // 0: the default
  double seconds = 1.0;
};

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// Units of work per second: one warm-up call, then calls until `seconds` have passed.
double rate(const std::function<void()>& call, double units_per_call, double seconds) {
  call();
  int64_t calls = 0;
  const double t0 = now();
  double t = t0;
  do {
    call();
    ++calls;
    t = now();
  } while (t - t0 < seconds);
  return static_cast<double>(calls) * units_per_call / (t - t0);
}

void row(const std::string& device, const std::string& what, double value, const char* unit) {
  std::printf("%-8s %-58s %12.1f %s\n", device.c_str(), what.c_str(), value, unit);
  std::fflush(stdout);
}

// GFLOP/s of an n^3 GEMM on the backend (inputs uploaded once).
double gemm_rate(Backend& be, int64_t n, double seconds) {
  const size_t bytes = static_cast<size_t>(n * n) * sizeof(float);
  std::vector<float> host(static_cast<size_t>(n * n));
  for (size_t i = 0; i < host.size(); ++i) host[i] = static_cast<float>(i % 1000) / 1000.0f - 0.5f;
  float* a = static_cast<float*>(be.allocate(bytes));
  float* b = static_cast<float*>(be.allocate(bytes));
  float* c = static_cast<float*>(be.allocate(bytes));
  be.to_device(a, host.data(), bytes);
  be.to_device(b, host.data(), bytes);
  const double r = rate([&] { be.gemm(contiguous_gemm(false, false, n, n, n, 1.0f, 0.0f), a, b, c); },
                        2.0 * static_cast<double>(n) * n * n / 1e9, seconds);
  be.release(a);
  be.release(b);
  be.release(c);
  return r;
}

using NetFactory = std::function<std::unique_ptr<seg::Network>(const seg::Config&)>;

void bench_segregated(const std::string& device, const NetFactory& make, const std::vector<int64_t>& batches,
                      const Options& o) {
  const Digits d = make_digits(2000, 784, 7);
  const std::vector<std::pair<std::string, std::vector<int64_t>>> nets = {{"784-500-10", {500, 10}},
                                                                           {"784-500-100-10", {500, 100, 10}}};
  for (const auto& [name, layers] : nets) {
    for (const bool spiking : {true, false}) {
      seg::Config c = seg::preset(spiking);
      c.layers = layers;
      c.f_etas.assign(layers.size(), 0.21);
      c.seed = 1;
      c.threads = o.threads;
      const std::string label = "segregated " + name + (spiking ? " spiking" : " nonspiking");
      std::unique_ptr<seg::Network> net = make(c);
      // Chunks of ~0.1 s on this machine's CPU figures: enough calls to average, few enough to end.
      const int64_t chunk = spiking ? 200 : 1000;
      int64_t at = 0;
      auto train = [&](int64_t batch) {
        seg::TrainRequest req;
        req.images = d.images.data();
        req.labels = d.labels.data();
        req.n_images = d.n;
        req.order = d.order.data() + at;
        req.count = chunk;
        req.batch_size = batch;
        seg::TrainResult out;
        net->train_chunk(req, out);
        at = (at + chunk) % (d.n - chunk + 1);
      };
      row(device, label + " train online", rate([&] { train(1); }, static_cast<double>(chunk), o.seconds), "ex/s");
      for (const int64_t b : batches) {
        row(device, label + " train batched " + std::to_string(b), rate([&] { train(b); }, static_cast<double>(chunk), o.seconds),
            "ex/s");
      }
      const int64_t n_test = spiking ? 500 : 2000;
      std::vector<int32_t> pred(static_cast<size_t>(n_test));
      uint64_t round = 0;
      row(device, label + " test",
          rate([&] { net->evaluate(d.images.data(), n_test, round++, pred.data(), nullptr); }, static_cast<double>(n_test),
               o.seconds),
          "ex/s");
    }
  }
}

nn::LayerSpec layer(nn::LayerType t) {
  nn::LayerSpec s;
  s.type = t;
  return s;
}

// Lange's MLP 784-500-10 and CNN [c,16,32] (kernels 5, padding 2), batch 100, Adam: training
// examples per second.
void bench_sequential(const std::string& device, const std::function<std::unique_ptr<Backend>()>& backend,
                      const Options& o) {
  struct Model {
    std::string name;
    int64_t c, hw;
    bool cnn;
  };
  const std::vector<Model> models = {{"MLP 784-500-10", 1, 28, false},
                                     {"CNN [1,16,32] k5 p2, 1x28x28", 1, 28, true},
                                     {"CNN [3,16,32] k5 p2, 3x32x32", 3, 32, true}};
  for (const Model& m : models) {
    nn::Config c;
    c.in_channels = m.c;
    c.in_h = c.in_w = m.hw;
    c.batch_size = 100;
    c.seed = 1;
    if (m.cnn) {
      for (const int64_t oc : {16, 32}) {
        nn::LayerSpec conv = layer(nn::LayerType::Conv2d);
        conv.out_channels = oc;
        conv.kernel_h = conv.kernel_w = 5;
        conv.pad = 2;
        c.layers.insert(c.layers.end(), {conv, layer(nn::LayerType::BatchNorm), layer(nn::LayerType::Relu),
                                         layer(nn::LayerType::MaxPool2x2)});
      }
      c.layers.push_back(layer(nn::LayerType::Flatten));
    } else {
      nn::LayerSpec hidden = layer(nn::LayerType::Linear);
      hidden.out_features = 500;
      c.layers = {layer(nn::LayerType::Flatten), hidden, layer(nn::LayerType::Relu)};
    }
    nn::LayerSpec out = layer(nn::LayerType::Linear);
    out.out_features = 10;
    c.layers.push_back(out);
    nn::Sequential net(c, backend());
    const int64_t n = m.cnn ? 1000 : 5000;
    const Digits d = make_digits(n, m.c * m.hw * m.hw, 11);
    const nn::DataView view{d.images.data(), d.labels.data(), d.n};
    row(device, m.name + " train, batch 100",
        rate(
            [&] {
              nn::ChunkStats st;
              net.train(view, d.order.data(), n, st);
            },
            static_cast<double>(n), o.seconds),
        "ex/s");
  }
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--quick") {
      o.seconds = 0.2;
    } else if (a == "--device") {
      const std::string v = value();
      if (v != "cpu" && v != "cuda" && v != "all") throw std::runtime_error("--device expects cpu, cuda or all, got " + v);
      o.cpu = v != "cuda";
      o.cuda = v != "cpu";
    } else if (a == "--threads") {
      o.threads = std::atoi(value().c_str());
      if (o.threads < 1) throw std::runtime_error("--threads expects an integer >= 1");
    } else if (a == "--help" || a == "-h") {
      std::printf("usage: dendrite_native_bench [--quick] [--device cpu|cuda|all] [--threads N]\n");
      std::exit(0);
    } else {
      throw std::runtime_error("unknown argument " + a + " (see --help)");
    }
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options o = parse(argc, argv);
    const CpuInfo cpu = cpu_info();
    const int threads = o.threads > 0 ? o.threads : cpu.default_threads;
    std::printf("dendrite native bench: synthetic MNIST-like digits, %.1f s per figure\n", o.seconds);
    if (o.cpu) {
      std::printf("cpu: %d logical cores, %d threads, SIMD %s, %s kernels\n", cpu.logical_cores, threads, cpu.simd.c_str(),
                  cpu.openmp ? "multi-threaded" : "single-threaded");
      std::unique_ptr<Backend> be = make_cpu_backend(threads);
      row("cpu", "GEMM 1024^3", gemm_rate(*be, 1024, o.seconds), "GFLOP/s");
      bench_segregated("cpu", [](const seg::Config& c) { return seg::make_cpu_network(c); }, {32}, o);
      bench_sequential("cpu", [&] { return make_cpu_backend(threads); }, o);
    }
    if (o.cuda) {
      const CudaInfo info = cuda_info();
      if (!info.unavailable.empty()) std::printf("cuda: skipped (%s)\n", info.unavailable.c_str());
      for (const CudaDeviceInfo& dev : info.unavailable.empty() ? info.devices : std::vector<CudaDeviceInfo>{}) {
        const std::string name = "cuda:" + std::to_string(dev.index);
        std::printf("%s: %s, compute capability %d.%d\n", name.c_str(), dev.name.c_str(), dev.major, dev.minor);
        std::unique_ptr<Backend> be = make_cuda_backend(dev.index);
        row(name, "GEMM 4096^3", gemm_rate(*be, 4096, o.seconds), "GFLOP/s");
        const int index = dev.index;
        bench_segregated(name, [index](const seg::Config& c) { return seg::make_cuda_network(c, index); }, {32, 256}, o);
        bench_sequential(name, [index] { return make_cuda_backend(index); }, o);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dendrite_native_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
