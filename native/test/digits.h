// Blobby synthetic digits for the native test and bench programs: each class lights its own band
// of rows plus noise (about 20 % of the pixels nonzero, as in MNIST), so a network learns
// something from a few examples and a spiking one sees MNIST-like input spike rates.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace dendrite::test {

struct Digits {
  std::vector<uint8_t> images, labels;  // n x n_in pixels, n labels 0..9
  std::vector<int32_t> order;           // 0, 1, ..., n - 1
  int64_t n = 0;
};

inline Digits make_digits(int64_t n, int64_t n_in, uint64_t seed) {
  Digits d;
  d.n = n;
  d.images.assign(static_cast<size_t>(n * n_in), 0);
  d.labels.resize(static_cast<size_t>(n));
  d.order.resize(static_cast<size_t>(n));
  std::mt19937_64 gen(seed);
  std::uniform_int_distribution<int> px(1, 255), cls(0, 9);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int64_t i = 0; i < n; ++i) {
    const int c = cls(gen);
    d.labels[static_cast<size_t>(i)] = static_cast<uint8_t>(c);
    d.order[static_cast<size_t>(i)] = static_cast<int32_t>(i);
    for (int64_t j = 0; j < n_in; ++j) {
      const bool band = (j * 10 / n_in) == c;
      if (u(gen) < (band ? 0.8 : 0.1)) d.images[static_cast<size_t>(i * n_in + j)] = static_cast<uint8_t>(px(gen));
    }
  }
  return d;
}

}  // namespace dendrite::test
