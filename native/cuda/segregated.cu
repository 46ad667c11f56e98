// The CUDA engine of the segregated-dendrite network (docs/papers.md §7-9, §12, §17): seg::Network,
// the driver (native/common/segregated_driver.cpp), runs it through the Engine interface
// (segregated_engine.h), as it runs the CPU engine (native/cpu/segregated_cpu.cpp). Every value
// comes from the equations of segregated_step.h, compiled for the device (explicit round-to-nearest
// intrinsics: nvcc never contracts them into FMA), so results match the CPU's bits. What is CUDA's own:
// - one thread block simulates one slot (a test image, or a training example) through every step
//   of its phases in one launch (a persistent kernel per image batch / per example or batch);
//   threads split the units of a layer, and every output element is summed by one thread in the
//   CPU's order (events by ascending unit, taps by age); each step's spike counts become an event
//   list once (compact_events), which every unit's sum then walks;
// - spike histories are dense count rings (mem x units) instead of the CPU's event lists: zero
//   counts are skipped, so sums see the same terms in the same order;
// - counts are spike_count (segregated_step.h), which the CPU's tiers reproduce bit for bit;
// - weight updates (summed over the batch slots in slot order) run as element-parallel kernels.
// Symmetric feedback is recomputed on the host (make_symmetric) after updates.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "../common/error.h"
#include "../common/philox.h"
#include "../common/segregated.h"
#include "../common/segregated_engine.h"
#include "../common/segregated_step.h"
#include "cuda_check.cuh"

namespace dendrite::seg {
namespace {

using cuda::check;
using cuda::check_launch;
using namespace f32;

constexpr int kMaxLayers = 16;
constexpr int kThreads = 256;
// One training example alone (online) runs on a wider block: its steps are a chain of short
// parallel parts, each as long as the slowest thread's share of a layer's units. (512 threads need
// at most 128 registers each: train_kernel uses 100 for sm_90, nvcc -Xptxas -v.)
constexpr int kOnlineThreads = 512;
constexpr int kMaxThreads = kOnlineThreads > kThreads ? kOnlineThreads : kThreads;  // sizes the shared arrays

// Offsets (in floats) of one layer's state inside a slot's arena.
struct LayerDev {
  int64_t n, fan_in, fb, fb_layer, unit_off;
  int64_t B, C, A, lam, u, P, Q, u_old, spk, psp_a, sumC, sumLam, sumPSPB, sumPSPA, pa_rows, Cf, PSPBf, PSPAf, Af, alpha_f, lamt,
      alpha_t, E, Ebp, delta_f, delta_t, Bx;
  const float* Wt;  // fan_in x n (transposed, as the CPU stores it)
  const float* b;
  const float* Y;   // n x fb
  const float* cb;  // n or null
  int need_train, need_test;
};

struct NetDev {
  int M;
  int64_t n_in, n_out, k_per_class, mem, units, T, T_test, R, l_test;
  int spiking_ff, spiking_fb, use_cond, learned, feedback_bias, backprop, backprop_inplace;
  StepParams p;  // the constants of the step equations (segregated_step.h)
  const float* kappa;
  KappaFilter filter;    // (K3)
  const float* seed_L;   // mem: the filter's starting sums' coefficients (Derived::seed_L)
  const float* seed_S;
  const float* kappa_window;  // mem x mem (Derived::kappa_window)
  int64_t in_spk, x;    // input ring (mem x n_in) and rates (n_in)
  int64_t x_rank;       // n_in: each pixel's rank among the image's nonzero ones (exact in float)
  int64_t ev_unit, ev_count;  // scratch for one step's event list (compact_events), the widest layer
  int64_t slot_floats;  // arena stride
  int64_t slot_ints;    // int stride: [0] input head, [1 + m] layer heads, [M + 1] u_valid, [M + 2] prediction
  float* arena;
  int* ints;
  LayerDev L[kMaxLayers];
};

// One training example or test image of a slot.
struct Job {
  philox::Stream spikes;
  int64_t Lf, Lt;  // phase lengths (test: Lf = l_test, Lt = 0)
  int32_t image;   // row of the uploaded image block
  int32_t label;
};

// Block-wide exclusive scan of one int per thread: returns the sum of the values of the threads
// before this one; *total gets the sum of all. A butterfly within each warp (after the round of
// distance d, `group` is the sum of the aligned 2d lanes holding this one and `incl` the sum up to
// this lane within them), then the warps' sums through shared memory. Every thread of the block
// (a multiple of 32 threads) must call it.
__shared__ int s_warp_sum[kMaxThreads / 32];

__device__ int exclusive_scan(int value, int* total) {
  const unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  int incl = value, group = value;
  for (unsigned d = 1; d < 32; d <<= 1) {
    const int other = __shfl_xor_sync(0xffffffffu, group, static_cast<int>(d));
    if (lane & d) incl += other;
    group += other;
  }
  if (lane == 31) s_warp_sum[warp] = incl;
  __syncthreads();
  int before = incl - value, all = 0;
  for (unsigned w = 0; w < blockDim.x / 32; ++w) {
    const int v = s_warp_sum[w];
    if (w < warp) before += v;
    all += v;
  }
  *total = all;
  __syncthreads();  // s_warp_sum is free for the next call
  return before;
}

// This thread's contiguous run [*lo, *hi) of n elements (the runs follow the thread order, so a
// scan of per-run counts gives each element its place in ascending order).
__device__ void thread_run(int64_t n, int64_t* lo, int64_t* hi) {
  const int64_t per = (n + blockDim.x - 1) / blockDim.x;
  *lo = std::min<int64_t>(n, threadIdx.x * per);
  *hi = std::min<int64_t>(n, *lo + per);
}

// The units j with cnt_j != 0, ascending, and their counts: the CPU's event list of a step, built
// once per step so that each output element sums over the events instead of scanning every unit.
struct Events {
  const int* unit;
  const float* count;
  int n;
};

__device__ Events compact_events(const float* cnt, int64_t n, int* unit, float* count) {
  int64_t lo, hi;
  thread_run(n, &lo, &hi);
  int mine = 0;
  for (int64_t j = lo; j < hi; ++j) mine += cnt[j] != 0.0f;
  int total;
  int at = exclusive_scan(mine, &total);
  for (int64_t j = lo; j < hi; ++j) {
    if (cnt[j] == 0.0f) continue;
    unit[at] = static_cast<int>(j);
    count[at] = cnt[j];
    ++at;
  }
  __syncthreads();
  return Events{unit, count, total};
}

// u[k] = sum over the events (units ascending) of cnt_j Wt[j][k], from 0 (accum_events). The
// events pass through shared memory a block's width at a time, so that the chain of loads behind
// each term waits only on the weight (a partial sum crosses chunks in u[k], read back by the thread
// that wrote it).
__shared__ int64_t s_ev_row[kMaxThreads];  // the event's row of Wt: unit * n
__shared__ float s_ev_count[kMaxThreads];

__device__ void accumulate_u(const LayerDev& l, const Events& ev, float* u) {
  if (ev.n == 0) {
    for (int64_t k = threadIdx.x; k < l.n; k += blockDim.x) u[k] = 0.0f;
    return;
  }
  for (int e0 = 0; e0 < ev.n; e0 += static_cast<int>(blockDim.x)) {
    const int chunk = std::min(ev.n - e0, static_cast<int>(blockDim.x));
    if (static_cast<int>(threadIdx.x) < chunk) {
      s_ev_row[threadIdx.x] = static_cast<int64_t>(ev.unit[e0 + threadIdx.x]) * l.n;
      s_ev_count[threadIdx.x] = ev.count[e0 + threadIdx.x];
    }
    __syncthreads();
    for (int64_t k = threadIdx.x; k < l.n; k += blockDim.x) {
      float acc = e0 == 0 ? 0.0f : u[k];
      const float* w = l.Wt + k;
#pragma unroll 8
      for (int e = 0; e < chunk; ++e) acc = mac(acc, s_ev_count[e], w[s_ev_row[e]]);
      u[k] = acc;
    }
    __syncthreads();  // the chunk's shared events are free
  }
}

// The events of a count row (in the slot's scratch), then u from them.
__device__ void accumulate_u(const NetDev& net, float* S, const LayerDev& l, const float* cnt, int64_t n_pre, float* u) {
  int* unit = reinterpret_cast<int*>(S + net.ev_unit);
  accumulate_u(l, compact_events(cnt, n_pre, unit, S + net.ev_count), u);
}

// One time step (the CPU's CpuNetwork::step).
__device__ void step(const NetDev& net, float* S, int* I, const float* target, const Job& job, Phase ph, int64_t L,
                     int64_t step0, int64_t t) {
  const StepParams& p = net.p;
  const bool train = ph != Phase::Test;
  const int64_t T = train ? net.T : net.T_test;
  const uint64_t base = (static_cast<uint64_t>(step0) + static_cast<uint64_t>(t)) * static_cast<uint64_t>(net.units);
  const int64_t mem = net.mem;
  const float* kap = net.kappa;

  if (net.spiking_ff) {
    __syncthreads();
    if (threadIdx.x == 0) I[0] = static_cast<int>((I[0] + 1) % mem);
    __syncthreads();
    float* cnt = S + net.in_spk + I[0] * net.n_in;
    const float* x = S + net.x;
    const float* rank = S + net.x_rank;
    for (int64_t j = threadIdx.x; j < net.n_in; j += blockDim.x) {
      const float r = x[j];
      cnt[j] = r > 0.0f ? static_cast<float>(spike_count(job.spikes, base + static_cast<uint64_t>(rank[j]), r)) : 0.0f;
    }
    __syncthreads();
  }

  for (int m = 0; m < net.M; ++m) {
    const LayerDev& l = net.L[m];
    const int64_t n = l.n;
    const bool out = m == net.M - 1;
    const LayerStep ls = layer_step(ph, t, L, T, net.R, out, net.learned, p.gA != 0.0f, false);
    float* B = S + l.B;
    // (H1, H2) / (O1, O2): basal drive.
    if (net.spiking_ff) {
      const int64_t n_pre = m == 0 ? net.n_in : net.L[m - 1].n;
      const int64_t pre_head = m == 0 ? I[0] : I[1 + m - 1];
      const float* pre_spk = m == 0 ? S + net.in_spk : S + net.L[m - 1].spk;
      float* u = S + l.u;
      float* P = S + l.P;
      float* Q = S + l.Q;
      float* u_old = S + l.u_old;
      const KappaFilter f = net.filter;
      for (int64_t k = threadIdx.x; k < n; k += blockDim.x) {
        if (step0 + t == 0) {  // (K3) the sums over steps t-1 .. t-mem of the ring
          float pk = 0.0f, qk = 0.0f;
          for (int64_t i = 0; i < mem; ++i) {
            const float v = u[ring_slot(pre_head, i + 1, mem) * n + k];
            pk = mac(pk, net.seed_L[i], v);
            qk = mac(qk, net.seed_S[i], v);
          }
          P[k] = pk;
          Q[k] = qk;
        }
        u_old[k] = u[pre_head * n + k];  // u of step t - mem, which step t's replaces
      }
      __syncthreads();
      accumulate_u(net, S, l, pre_spk + pre_head * n_pre, n_pre, u + pre_head * n);
      __syncthreads();
      for (int64_t k = threadIdx.x; k < n; k += blockDim.x) {
        const float un = u[pre_head * n + k];
        const float pk = filter_sum(P[k], f.aL, f.gL, un, u_old[k]), qk = filter_sum(Q[k], f.aS, f.gS, un, u_old[k]);
        P[k] = pk;
        Q[k] = qk;
        B[k] = filter_drive(l.b[k], f.c, pk, qk);
      }
      if (ls.psp_b) {
        float* sp = S + l.sumPSPB;
        const int64_t ages = psp_ages(t, L, T, mem);
        for (int64_t j = threadIdx.x; j < n_pre; j += blockDim.x) {
          float a = sp[j];
          for (int64_t i = 0; i < ages; ++i) {
            const float c = pre_spk[ring_slot(pre_head, i, mem) * n_pre + j];
            if (c != 0.0f) a = mac(a, net.kappa_window[psp_taps(i, t, L, mem)], c);
          }
          sp[j] = a;
        }
      }
    } else if (m == 0) {
      for (int64_t k = threadIdx.x; k < n; k += blockDim.x) B[k] = S[l.Bx + k];
      if (ls.psp_b) {
        float* sp = S + l.sumPSPB;
        const float* x = S + net.x;
        for (int64_t j = threadIdx.x; j < net.n_in; j += blockDim.x) {
          if (x[j] > 0.0f) sp[j] = add(sp[j], x[j]);
        }
      }
    } else {
      const LayerDev& pl = net.L[m - 1];
      const float* plam = S + pl.lam;
      for (int64_t k = threadIdx.x; k < n; k += blockDim.x) {
        float acc = l.b[k];
        for (int64_t j = 0; j < pl.n; ++j) acc = mac(acc, plam[j], l.Wt[j * n + k]);
        B[k] = acc;
      }
      if (ls.psp_b) {
        float* sp = S + l.sumPSPB;
        for (int64_t j = threadIdx.x; j < pl.n; j += blockDim.x) sp[j] = add(sp[j], plam[j]);
      }
    }
    __syncthreads();

    float* C = S + l.C;
    float* lam = S + l.lam;
    if (!out) {
      // (H3, H4): apical potential from the feedback layer up to step t-1.
      if (ls.apical) {
        const LayerDev& f = net.L[l.fb_layer];
        float* pa = S + l.psp_a;
        const int64_t fb = l.fb;
        if (net.spiking_fb) {
          const int64_t fh = I[1 + l.fb_layer];
          for (int64_t q = threadIdx.x; q < fb; q += blockDim.x) {
            float a = 0.0f;
            for (int64_t i = 0; i < mem; ++i) {
              const float c = S[f.spk + ring_slot(fh, i, mem) * f.n + q];
              if (c != 0.0f) a = mac(a, kap[i], c);
            }
            pa[q] = a;
          }
        } else {
          for (int64_t q = threadIdx.x; q < fb; q += blockDim.x) pa[q] = S[f.lam + q];
        }
        __syncthreads();
        if (ls.keep_A) {  // (the plateaus read the rows' apical input)
          for (int64_t q = threadIdx.x; q < fb; q += blockDim.x) S[l.pa_rows + (t - (L - net.R)) * fb + q] = pa[q];
        }
        float* A = S + l.A;
        for (int64_t k = threadIdx.x; k < n; k += blockDim.x) {
          float a = apical_potential(l.Y + k * fb, pa, fb);
          if (net.feedback_bias) a = apical_bias(a, l.cb[k]);
          A[k] = a;
        }
        if (ls.psp_a) {
          float* sa = S + l.sumPSPA;
          for (int64_t q = threadIdx.x; q < fb; q += blockDim.x) sa[q] = add(sa[q], pa[q]);
        }
      }
      // (H5) / (H5'), (H6)
      const float* A = S + l.A;
      for (int64_t k = threadIdx.x; k < n; k += blockDim.x) {
        const float c = soma_hidden(C[k], B[k], A[k], net.use_cond, p);
        C[k] = c;
        lam[k] = rate_of(p.lmax, c);
      }
    } else {
      // (O3, O4) / (O4', O4'')
      for (int64_t k = threadIdx.x; k < n; k += blockDim.x) {
        const float c = ph == Phase::Target ? soma_output_target(C[k], B[k], target[k], net.use_cond, p)
                                            : soma_output(C[k], B[k], net.use_cond, p);
        C[k] = c;
        lam[k] = rate_of(p.lmax, c);
      }
    }
    if (train ? l.need_train : l.need_test) {
      __syncthreads();
      if (threadIdx.x == 0) I[1 + m] = static_cast<int>((I[1 + m] + 1) % mem);
      __syncthreads();
      float* cnt = S + l.spk + I[1 + m] * n;
      const uint64_t lb = base + static_cast<uint64_t>(l.unit_off);
      for (int64_t k = threadIdx.x; k < n; k += blockDim.x) {
        cnt[k] = static_cast<float>(spike_count(job.spikes, lb + static_cast<uint64_t>(k), lam[k]));
      }
    }
    // Window sums (P1-P5).
    if (ls.sum_C) {
      for (int64_t k = threadIdx.x; k < n; k += blockDim.x) S[l.sumC + k] = add(S[l.sumC + k], C[k]);
    }
    if (ls.sum_lam) {
      for (int64_t k = threadIdx.x; k < n; k += blockDim.x) S[l.sumLam + k] = add(S[l.sumLam + k], lam[k]);
    }
    __syncthreads();
  }
}

// Rates x = lambda_max p of an image (docs/papers.md §5), and W^0 x + b^0 for rate feed-forward.
__device__ void set_image(const NetDev& net, float* S, const uint8_t* px, double lmax_d) {
  float* x = S + net.x;
  for (int64_t j = threadIdx.x; j < net.n_in; j += blockDim.x) x[j] = input_rate(lmax_d, px[j]);
  __syncthreads();
  // The input's spikes draw consecutive elements, pixel by pixel in rank order (as the CPU's do):
  // a pixel's rank is the number of nonzero pixels before it.
  {
    int64_t lo, hi;
    thread_run(net.n_in, &lo, &hi);
    int mine = 0;
    for (int64_t j = lo; j < hi; ++j) mine += x[j] > 0.0f;
    int total;
    int r = exclusive_scan(mine, &total);
    float* rank = S + net.x_rank;
    for (int64_t j = lo; j < hi; ++j) {
      rank[j] = static_cast<float>(r);
      if (x[j] > 0.0f) ++r;
    }
  }
  if (!net.spiking_ff) {
    const LayerDev& l = net.L[0];  // the rates are >= 0: the pixels with x > 0 are the events
    accumulate_u(net, S, l, x, net.n_in, S + l.Bx);
    for (int64_t k = threadIdx.x; k < l.n; k += blockDim.x) S[l.Bx + k] = add(S[l.Bx + k], l.b[k]);
  }
  __syncthreads();
}

// u of every ring slot from the spike history (after a weight change).
__device__ void recompute_u(const NetDev& net, float* S) {
  if (!net.spiking_ff) return;
  for (int m = 0; m < net.M; ++m) {
    const LayerDev& l = net.L[m];
    const int64_t n_pre = m == 0 ? net.n_in : net.L[m - 1].n;
    const float* pre_spk = m == 0 ? S + net.in_spk : S + net.L[m - 1].spk;
    for (int64_t q = 0; q < net.mem; ++q) accumulate_u(net, S, l, pre_spk + q * n_pre, n_pre, S + l.u + q * l.n);
  }
  __syncthreads();
}

__device__ void zero(float* p, int64_t n) {
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) p[i] = 0.0f;
}

// Plateau (P1, P4): mean of the T values of A ending delta steps before the phase end, from the
// rows' apical input (plateau_input, plateau_potential).
__device__ void plateau(const NetDev& net, float* S, const LayerDev& l, int64_t delta_off, int64_t alpha_off,
                        bool store_Af) {
  const float* pa_rows = S + l.pa_rows;
  for (int64_t q = threadIdx.x; q < l.n; q += blockDim.x) {
    const int64_t end = net.R - static_cast<int64_t>(S[delta_off + q]);
    float dot = 0.0f;
    for (int64_t f = 0; f < l.fb; ++f) dot = mac(dot, l.Y[q * l.fb + f], plateau_input(pa_rows, l.fb, f, end, net.T));
    const float a = plateau_potential(dot, net.T, net.feedback_bias != 0, net.feedback_bias ? l.cb[q] : 0.0f);
    if (store_Af) S[l.Af + q] = a;
    S[alpha_off + q] = sigmoid_f(a);
  }
}

// nvcc refuses a __shared__ variable that needs dynamic initialisation (a member initialiser
// anywhere inside NetDev); the CUDA emulator, which compiles this file as C++, would not notice.
static_assert(std::is_trivially_default_constructible<NetDev>::value, "NetDev must be plain data");
__shared__ NetDev s_net;

__device__ void load_net(const NetDev* g) {
  const int* src = reinterpret_cast<const int*>(g);
  int* dst = reinterpret_cast<int*>(&s_net);
  for (size_t i = threadIdx.x; i < sizeof(NetDev) / sizeof(int); i += blockDim.x) dst[i] = src[i];
  __syncthreads();
}

// Tests one image per block (docs/papers.md §12: state reset per image); grid = images of this launch,
// image i of the call drawing its spikes as image offset + i of the whole set.
// Four blocks per multiprocessor (at most 64 registers, a few bytes spilled) hide more latency than
// the compiler's two (92 registers): spiking tests 1.27-1.37x on an H200; three (80) were slower.
__global__ void __launch_bounds__(kThreads, 4)
    test_kernel(const NetDev* gnet, const uint8_t* images, int64_t first, uint64_t seed, uint64_t round, uint64_t offset,
                double lmax_d, int32_t* prediction, float* voltages) {
  load_net(gnet);
  const NetDev& net = s_net;
  const int64_t slot = blockIdx.x;
  const int64_t i = first + slot;
  float* S = net.arena + slot * net.slot_floats;
  int* I = net.ints + slot * net.slot_ints;
  zero(S, net.slot_floats);
  for (int64_t q = threadIdx.x; q < net.slot_ints; q += blockDim.x) I[q] = 0;
  __syncthreads();
  const uint8_t* px = images + i * net.n_in;
  set_image(net, S, px, lmax_d);
  Job job;
  job.spikes = test_spike_stream(seed, round, offset + static_cast<uint64_t>(i));
  job.Lf = net.l_test;
  job.Lt = 0;
  for (int64_t t = 0; t < net.l_test; ++t) step(net, S, I, nullptr, job, Phase::Test, net.l_test, 0, t);
  const LayerDev& o = net.L[net.M - 1];
  float* Cbar = S + o.Cf;
  for (int64_t q = threadIdx.x; q < o.n; q += blockDim.x) {
    Cbar[q] = window_mean(S[o.sumC + q], net.T_test);
    if (voltages) voltages[i * net.n_out + q] = Cbar[q];
  }
  __syncthreads();
  if (threadIdx.x == 0) prediction[i] = class_argmax(Cbar, net.k_per_class);
}

// Runs one training example per block (slot = blockIdx.x) through both phases and computes its
// errors (the CPU's run_example and compute_errors without backprop); writes loss, prediction.
__global__ void train_kernel(const NetDev* gnet, const uint8_t* images, const Job* jobs, double lmax_d, float* loss,
                             int32_t* prediction, float* angle) {
  load_net(gnet);
  const NetDev& net = s_net;
  const StepParams& p = net.p;
  const int64_t slot = blockIdx.x;
  float* S = net.arena + slot * net.slot_floats;
  int* I = net.ints + slot * net.slot_ints;
  const Job job = jobs[slot];
  const int M = net.M;
  __syncthreads();
  if (I[M + 1] == 0) recompute_u(net, S);
  __syncthreads();
  if (threadIdx.x == 0) I[M + 1] = 1;
  const uint8_t* px = images + static_cast<int64_t>(job.image) * net.n_in;
  set_image(net, S, px, lmax_d);
  const LayerDev& o = net.L[M - 1];
  float* target = S + o.alpha_t;  // the output layer has no alpha_t: scratch for the target
  for (int64_t q = threadIdx.x; q < net.n_out; q += blockDim.x) target[q] = target_of(q, net.k_per_class, job.label);
  for (int m = 0; m < M; ++m) {
    const LayerDev& l = net.L[m];
    zero(S + l.sumC, l.n);
    zero(S + l.sumLam, l.n);
    zero(S + l.sumPSPB, l.fan_in);
    zero(S + l.sumPSPA, l.fb);
  }
  __syncthreads();
  const int64_t T = net.T;
  for (int64_t t = 0; t < job.Lf; ++t) step(net, S, I, target, job, Phase::Forward, job.Lf, 0, t);
  for (int m = 0; m < M; ++m) {  // (P1-P3)
    const LayerDev& l = net.L[m];
    for (int64_t q = threadIdx.x; q < l.n; q += blockDim.x) S[l.Cf + q] = window_mean(S[l.sumC + q], T);
    for (int64_t j = threadIdx.x; j < l.fan_in; j += blockDim.x) S[l.PSPBf + j] = window_mean(S[l.sumPSPB + j], T);
    if (m < M - 1) {
      plateau(net, S, l, l.delta_f, l.alpha_f, true);
      for (int64_t q = threadIdx.x; q < l.fb; q += blockDim.x) S[l.PSPAf + q] = window_mean(S[l.sumPSPA + q], T);
    }
  }
  __syncthreads();
  if (threadIdx.x == 0) prediction[slot] = class_argmax(S + o.Cf, net.k_per_class);
  for (int64_t t = 0; t < job.Lt; ++t) step(net, S, I, target, job, Phase::Target, job.Lt, job.Lf, t);
  for (int m = 0; m < M; ++m) {  // (P4, P5)
    const LayerDev& l = net.L[m];
    if (m == M - 1) {
      for (int64_t q = threadIdx.x; q < l.n; q += blockDim.x) S[l.lamt + q] = window_mean(S[l.sumLam + q], T);
    } else {
      plateau(net, S, l, l.delta_t, l.alpha_t, false);
    }
  }
  __syncthreads();
  // Errors (U1, U4) and the loss.
  for (int64_t q = threadIdx.x; q < o.n; q += blockDim.x) {
    float sq;
    S[o.E + q] = output_error(S[o.Cf + q], S[o.lamt + q], p, &sq);
    S[o.sumLam + q] = sq;  // scratch for the loss
  }
  for (int m = 0; m < M - 1; ++m) {
    const LayerDev& l = net.L[m];
    for (int64_t q = threadIdx.x; q < l.n; q += blockDim.x) {
      S[l.E + q] = hidden_error(S[l.Cf + q], S[l.alpha_t + q], S[l.alpha_f + q], p);
    }
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    float sum = 0;
    for (int64_t q = 0; q < o.n; ++q) sum = add(sum, S[o.sumLam + q]);
    loss[slot] = div(sum, static_cast<float>(o.n));
  }
  if (!(net.backprop || angle) || M < 2) return;
  // E_bp^m = (W^(m+1)^T E_bp^(m+1)) * k_B lambda_max sigma'(C_f^m), with the pre-update W.
  for (int64_t q = threadIdx.x; q < o.n; q += blockDim.x) S[o.Ebp + q] = S[o.E + q];
  __syncthreads();
  for (int m = M - 2; m >= 0; --m) {
    const LayerDev& l = net.L[m];
    const LayerDev& a = net.L[m + 1];
    for (int64_t j = threadIdx.x; j < l.n; j += blockDim.x) {
      float dot = 0;
      for (int64_t q = 0; q < a.n; ++q) dot = mac(dot, a.Wt[j * a.n + q], S[a.Ebp + q]);
      S[l.Ebp + j] = backprop_error(dot, S[l.Cf + j], p);
    }
    __syncthreads();
  }
  if (angle && threadIdx.x == 0) {
    for (int m = 0; m < M - 1; ++m) {
      const LayerDev& l = net.L[m];
      double dot = 0, na = 0, nb = 0;
      for (int64_t q = 0; q < l.n; ++q) angle_terms(S[l.E + q], S[l.Ebp + q], &dot, &na, &nb);
      angle[slot * (M - 1) + m] = angle_degrees(dot, na, nb);
    }
  }
  __syncthreads();
  if (net.backprop && !net.backprop_inplace) {
    for (int m = 0; m < M - 1; ++m) {
      const LayerDev& l = net.L[m];
      for (int64_t q = threadIdx.x; q < l.n; q += blockDim.x) S[l.E + q] = S[l.Ebp + q];
    }
  }
}

// Replay of the original's in-place backprop: E^m of every slot from the already-updated W^(m+1)
// and E^(m+1) (thread per slot and unit).
__global__ void backprop_inplace_kernel(const NetDev* gnet, int m, int64_t slots) {
  const NetDev& net = *gnet;
  const LayerDev& l = net.L[m];
  const LayerDev& a = net.L[m + 1];
  const int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= slots * l.n) return;
  const int64_t s = e / l.n, j = e % l.n;
  float* S = net.arena + s * net.slot_floats;
  float dot = 0;
  for (int64_t q = 0; q < a.n; ++q) dot = mac(dot, a.Wt[j * a.n + q], S[a.E + q]);
  S[l.E + j] = backprop_error(dot, S[l.Cf + j], net.p);
}

// (U2, U3) / (U5, U6): Wt[j][q] = descend(Wt[j][q], g_s[q], PSPf_s[j]) with g = forward_gain(eta P, E)
// for slots s in order (silent inputs skipped, as on the CPU), then b[q] = descend(b[q], g_s[q]) in
// slot order (column j = fan_in row).
__global__ void update_w_kernel(const NetDev* gnet, int m, int64_t slots, float etaP, float* Wt, float* b) {
  const NetDev& net = *gnet;
  const LayerDev& l = net.L[m];
  const int64_t n = l.n, N = l.fan_in;
  const int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e < N * n) {
    const int64_t j = e / n, q = e % n;
    float w = Wt[e];
    for (int64_t s = 0; s < slots; ++s) {
      const float* S = net.arena + s * net.slot_floats;
      const float x = S[l.PSPBf + j];
      if (x == 0.0f) continue;
      w = descend(w, forward_gain(etaP, S[l.E + q]), x);
    }
    Wt[e] = w;
  }
  if (e < n) {
    float v = b[e];
    for (int64_t s = 0; s < slots; ++s) v = descend(v, forward_gain(etaP, net.arena[s * net.slot_floats + l.E + e]));
    b[e] = v;
  }
}

// (U7-U9) learned feedback: Y[q][r] = descend(Y[q][r], h_s[q], PSPAf_s[r]), c[q] = descend(c[q], h_s[q]),
// slots in order, with h = feedback_gain(eta, A_f, C_f, alpha_f).
__global__ void update_y_kernel(const NetDev* gnet, int m, int64_t slots, float eta, float* Y, float* cb) {
  const NetDev& net = *gnet;
  const LayerDev& l = net.L[m];
  const int64_t n = l.n, fb = l.fb;
  const int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= n * fb) return;
  const int64_t q = e / fb, r = e % fb;
  float y = Y[e];
  float c = (cb && r == 0) ? cb[q] : 0.0f;
  for (int64_t s = 0; s < slots; ++s) {
    const float* S = net.arena + s * net.slot_floats;
    const float h = feedback_gain(eta, S[l.Af + q], S[l.Cf + q], S[l.alpha_f + q], net.p);
    y = descend(y, h, S[l.PSPAf + r]);
    if (cb && r == 0) c = descend(c, h);
  }
  Y[e] = y;
  if (cb && r == 0) cb[q] = c;
}

__global__ void set_int_kernel(int* ints, int64_t stride, int64_t at, int64_t slots, int value) {
  const int64_t s = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (s < slots) ints[s * stride + at] = value;
}

__global__ void zero_at_kernel(float* Y, const int64_t* idx, int64_t n) {
  const int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e < n) Y[idx[e]] = 0.0f;
}

// ------------------------------------------------------------------------------------------
// Host side.

template <class T>
struct DevBuf {
  T* p = nullptr;
  size_t n = 0;
  DevBuf() = default;
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
  DevBuf(DevBuf&& o) noexcept : p(o.p), n(o.n) {
    o.p = nullptr;
    o.n = 0;
  }
  DevBuf& operator=(DevBuf&& o) noexcept {
    std::swap(p, o.p);
    std::swap(n, o.n);
    return *this;
  }
  ~DevBuf() {
    if (p) cudaFree(p);
  }
  void resize(size_t count) {
    if (count == n) return;
    if (p) cudaFree(p);
    p = nullptr;
    n = count;
    if (count) check(cudaMalloc(reinterpret_cast<void**>(&p), count * sizeof(T)), "cudaMalloc");
  }
  void upload(const T* h, size_t count) {
    resize(count);
    if (count) check(cudaMemcpy(p, h, count * sizeof(T), cudaMemcpyHostToDevice), "cudaMemcpy H2D");
  }
  void download(T* h, size_t count) const {
    if (count) check(cudaMemcpy(h, p, count * sizeof(T), cudaMemcpyDeviceToHost), "cudaMemcpy D2H");
  }
};

// The device's state arena for `slots` slots with the layout of NetDev.
struct Arena {
  NetDev net{};
  DevBuf<NetDev> dnet;
  DevBuf<float> floats;
  DevBuf<int> ints;
  int64_t slots = 0;
};

class CudaEngine final : public Engine {
 public:
  CudaEngine(const EngineSetup& setup, int device)
      : c_(setup.c), d_(setup.d), p_(setup.p), R_(setup.R), need_train_(setup.spikes_train),
        need_test_(setup.spikes_test), masks_(setup.masks), device_(device) {
    if (c_.num_layers() > kMaxLayers) fail(ErrorKind::OutOfRange, "segregated network on CUDA: at most 16 layers");
    M_ = c_.num_layers();
    check(cudaSetDevice(device_), "cudaSetDevice");
    kappa_.upload(d_.kappa.data(), d_.kappa.size());
    std::vector<float> seeds(d_.seed_L);
    seeds.insert(seeds.end(), d_.seed_S.begin(), d_.seed_S.end());
    filter_seeds_.upload(seeds.data(), seeds.size());
    kappa_window_.upload(d_.kappa_window.data(), d_.kappa_window.size());
    Wt_.resize(M_);
    b_.resize(M_);
    Y_.resize(M_);
    cb_.resize(M_);
    mask_.resize(M_);
    for (int64_t m = 0; m + 1 < M_; ++m) mask_[m].upload(masks_[m].data(), masks_[m].size());
  }

  // ---- weights ----
  std::vector<LayerWeights> read_weights() const override {
    check(cudaSetDevice(device_), "cudaSetDevice");
    std::vector<LayerWeights> w(static_cast<size_t>(M_));
    for (int64_t m = 0; m < M_; ++m) {
      const int64_t n = c_.layers[m], N = c_.fan_in(m);
      std::vector<float> wt(static_cast<size_t>(n * N));
      Wt_[m].download(wt.data(), wt.size());
      w[m].W = transposed(wt, N, n);
      w[m].b.resize(static_cast<size_t>(n));
      b_[m].download(w[m].b.data(), w[m].b.size());
      if (m < M_ - 1) {
        w[m].Y.resize(Y_[m].n);
        Y_[m].download(w[m].Y.data(), w[m].Y.size());
        w[m].c.resize(cb_[m].n);
        cb_[m].download(w[m].c.data(), w[m].c.size());
      }
    }
    return w;
  }

  void write_weights(const std::vector<LayerWeights>& w) override {
    check(cudaSetDevice(device_), "cudaSetDevice");
    load(w);
    invalidate_u();
  }

  // ---- training slots ----
  int64_t train_slots() const override { return train_.slots; }

  // More training slots: the existing ones keep their state, new ones start at rest.
  void grow_train_slots(int64_t slots) override {
    if (slots <= train_.slots) return;
    check(cudaSetDevice(device_), "cudaSetDevice");
    flush_u();
    std::vector<float> F(train_.floats.n);
    std::vector<int> Iv(train_.ints.n);
    train_.floats.download(F.data(), F.size());
    train_.ints.download(Iv.data(), Iv.size());
    const int64_t old = train_.slots;
    build_layout(train_, slots);
    F.resize(train_.floats.n, 0.0f);
    Iv.resize(train_.ints.n, 0);
    for (int64_t s = old; s < slots; ++s) Iv[s * train_.net.slot_ints + M_ + 1] = 1;  // zero history: u = 0
    train_.floats.upload(F.data(), F.size());
    train_.ints.upload(Iv.data(), Iv.size());
  }

  void reset_train_slots() override {
    check(cudaSetDevice(device_), "cudaSetDevice");
    u_stale_ = false;  // zero histories: u = 0 whatever W
    check(cudaMemset(train_.floats.p, 0, train_.floats.n * sizeof(float)), "cudaMemset");
    std::vector<int> ints(train_.ints.n, 0);
    for (int64_t s = 0; s < train_.slots; ++s) ints[s * train_.net.slot_ints + M_ + 1] = 1;  // zero history: u = 0
    train_.ints.upload(ints.data(), ints.size());
  }

  // The slot states from the dense count rings: units in ascending order.
  std::vector<SlotState> read_train_slots() const override {
    check(cudaSetDevice(device_), "cudaSetDevice");
    const NetDev& net = train_.net;
    std::vector<float> F(train_.floats.n);
    std::vector<int> Iv(train_.ints.n);
    train_.floats.download(F.data(), F.size());
    train_.ints.download(Iv.data(), Iv.size());
    auto save = [&](const float* spk, int64_t units, int head, SpikeRing& r) {
      r.head = head;
      r.idx.assign(static_cast<size_t>(c_.mem), {});
      r.cnt.assign(static_cast<size_t>(c_.mem), {});
      for (int64_t q = 0; q < c_.mem; ++q) {
        const float* cnt = spk + q * units;
        for (int64_t j = 0; j < units; ++j) {
          if (cnt[j] == 0.0f) continue;
          r.idx[q].push_back(static_cast<int32_t>(j));
          r.cnt[q].push_back(cnt[j]);
        }
      }
    };
    std::vector<SlotState> slots(static_cast<size_t>(train_.slots));
    for (int64_t s = 0; s < train_.slots; ++s) {
      const float* S = F.data() + s * net.slot_floats;
      const int* I = Iv.data() + s * net.slot_ints;
      SlotState& st = slots[s];
      save(S + net.in_spk, c_.n_in, I[0], st.input);
      st.layers.resize(static_cast<size_t>(M_));
      for (int64_t m = 0; m < M_; ++m) {
        const LayerDev& l = net.L[m];
        st.layers[m].C.assign(S + l.C, S + l.C + l.n);
        st.layers[m].A.assign(S + l.A, S + l.A + l.n);
        st.layers[m].lam.assign(S + l.lam, S + l.lam + l.n);
        save(S + l.spk, l.n, I[1 + m], st.layers[m].spikes);
      }
    }
    return slots;
  }

  void write_train_slots(const std::vector<SlotState>& slots) override {
    const int64_t n_slots = static_cast<int64_t>(slots.size());
    NetDev net;
    layout(net, n_slots);
    std::vector<float> F(static_cast<size_t>(n_slots * net.slot_floats), 0.0f);
    std::vector<int> Iv(static_cast<size_t>(n_slots * net.slot_ints), 0);
    auto load_ring = [&](const SpikeRing& r, float* spk, int64_t units, int* head) {
      *head = static_cast<int>(r.head);
      for (int64_t q = 0; q < c_.mem; ++q)
        for (size_t i = 0; i < r.idx[q].size(); ++i) spk[q * units + r.idx[q][i]] = r.cnt[q][i];
    };
    for (int64_t s = 0; s < n_slots; ++s) {
      float* S = F.data() + s * net.slot_floats;
      int* I = Iv.data() + s * net.slot_ints;
      const SlotState& st = slots[s];
      load_ring(st.input, S + net.in_spk, c_.n_in, &I[0]);
      for (int64_t m = 0; m < M_; ++m) {
        const LayerDev& l = net.L[m];
        std::copy(st.layers[m].C.begin(), st.layers[m].C.end(), S + l.C);
        std::copy(st.layers[m].A.begin(), st.layers[m].A.end(), S + l.A);
        std::copy(st.layers[m].lam.begin(), st.layers[m].lam.end(), S + l.lam);
        load_ring(st.layers[m].spikes, S + l.spk, l.n, &I[1 + m]);
      }
      I[M_ + 1] = 0;  // u to recompute
    }
    check(cudaSetDevice(device_), "cudaSetDevice");
    build_layout(train_, n_slots);
    train_.floats.upload(F.data(), F.size());
    train_.ints.upload(Iv.data(), Iv.size());
    u_stale_ = false;  // every u to recompute
  }

  // ---- running ----
  // The chunk's images in presentation order, uploaded once.
  void stage_chunk(const uint8_t* images, const int32_t* order, int64_t count) override {
    check(cudaSetDevice(device_), "cudaSetDevice");
    const int64_t n_in = c_.n_in;
    std::vector<uint8_t> px(static_cast<size_t>(count * n_in));
    for (int64_t i = 0; i < count; ++i)
      std::memcpy(px.data() + i * n_in, images + static_cast<int64_t>(order[i]) * n_in, static_cast<size_t>(n_in));
    chunk_.upload(px.data(), px.size());
  }

  // One block per job (slot b = block b): train_kernel, then the outputs back.
  void run_examples(const TrainJob* jobs, int64_t nb, const ExampleOutput& out) override {
    check(cudaSetDevice(device_), "cudaSetDevice");
    flush_u();
    const int64_t H = M_ - 1;
    std::vector<Job> dj(static_cast<size_t>(nb));
    for (int64_t b = 0; b < nb; ++b) {
      dj[b].spikes = jobs[b].spikes;
      dj[b].Lf = jobs[b].Lf;
      dj[b].Lt = jobs[b].Lt;
      dj[b].image = static_cast<int32_t>(jobs[b].row);
      dj[b].label = jobs[b].label;
      if (c_.rand_plateau_times) upload_deltas(b, jobs[b].epoch, jobs[b].example);
    }
    djobs_.upload(dj.data(), dj.size());
    if (static_cast<int64_t>(dloss_.n) < nb) {
      dloss_.resize(static_cast<size_t>(nb));
      dpred_.resize(static_cast<size_t>(nb));
    }
    const bool angles = out.angle != nullptr && H > 0;
    if (angles && static_cast<int64_t>(dangle_.n) < nb * H) dangle_.resize(static_cast<size_t>(nb * H));
    const int threads = nb == 1 ? kOnlineThreads : kThreads;
    train_kernel<<<static_cast<unsigned>(nb), threads>>>(train_.dnet.p, chunk_.p, djobs_.p, c_.lambda_max, dloss_.p, dpred_.p,
                                                         angles ? dangle_.p : nullptr);
    check_launch("segregated train_kernel");
    dloss_.download(out.loss, static_cast<size_t>(nb));
    dpred_.download(out.prediction, static_cast<size_t>(nb));
    if (angles) dangle_.download(out.angle, static_cast<size_t>(nb * H));
  }

  void run_tests(const TestBatch& t) override {
    check(cudaSetDevice(device_), "cudaSetDevice");
    const int64_t n = t.n;
    // Slots bounded by memory (at most 1/4 of the free memory) and 4096 per launch.
    size_t free_b = 0, total_b = 0;
    check(cudaMemGetInfo(&free_b, &total_b), "cudaMemGetInfo");
    const int64_t per = slot_floats_estimate() * 4 + 64;
    const int64_t cap = std::max<int64_t>(1, std::min<int64_t>(4096, static_cast<int64_t>(free_b / 4) / per));
    const int64_t slots = std::min(n, cap);
    if (eval_.slots < slots) build_layout(eval_, slots);
    const int64_t n_out = c_.n_out();
    DevBuf<uint8_t> dpx;
    dpx.upload(t.images, static_cast<size_t>(n * c_.n_in));
    DevBuf<int32_t> dpred;
    dpred.resize(static_cast<size_t>(n));
    DevBuf<float> dv;
    if (t.voltages) dv.resize(static_cast<size_t>(n * n_out));
    for (int64_t i0 = 0; i0 < n; i0 += slots) {
      const int64_t nb = std::min(slots, n - i0);
      test_kernel<<<static_cast<unsigned>(nb), kThreads>>>(eval_.dnet.p, dpx.p, i0, c_.seed, t.round, t.offset, c_.lambda_max,
                                                         dpred.p, t.voltages ? dv.p : nullptr);
      check_launch("segregated test_kernel");
    }
    check(cudaDeviceSynchronize(), "segregated evaluate");
    dpred.download(t.prediction, static_cast<size_t>(n));
    if (t.voltages) dv.download(t.voltages, static_cast<size_t>(n * n_out));
  }

  bool can_record() const override { return false; }

  // ---- updates (docs/papers.md §9): element-parallel kernels, each element summed over the
  // slots in order ----
  void replay_backprop(int64_t m, int64_t slots) override {
    check(cudaSetDevice(device_), "cudaSetDevice");
    backprop_inplace_kernel<<<cuda::blocks_for(slots * c_.layers[m], kThreads), kThreads>>>(train_.dnet.p, static_cast<int>(m), slots);
    check_launch("segregated backprop_inplace_kernel");
  }

  void update_feedback(int64_t m, int64_t slots, float eta) override {
    check(cudaSetDevice(device_), "cudaSetDevice");
    const int64_t n = c_.layers[m], fb = c_.fb_size(m);
    update_y_kernel<<<cuda::blocks_for(n * fb, kThreads), kThreads>>>(train_.dnet.p, static_cast<int>(m), slots, eta, Y_[m].p,
                                                                     c_.feedback_bias ? cb_[m].p : nullptr);
    check_launch("segregated update_y_kernel");
  }

  void mask_feedback(int64_t m) override {
    if (masks_[m].empty()) return;
    check(cudaSetDevice(device_), "cudaSetDevice");
    const int64_t k = static_cast<int64_t>(masks_[m].size());
    zero_at_kernel<<<cuda::blocks_for(k, kThreads), kThreads>>>(Y_[m].p, mask_[m].p, k);
    check_launch("segregated zero_at_kernel");
  }

  void update_forward(int64_t m, int64_t slots, float etaP) override {
    check(cudaSetDevice(device_), "cudaSetDevice");
    const int64_t n = c_.layers[m], N = c_.fan_in(m);
    update_w_kernel<<<cuda::blocks_for(std::max(n * N, n), kThreads), kThreads>>>(train_.dnet.p, static_cast<int>(m), slots,
                                                                               etaP, Wt_[m].p, b_[m].p);
    check_launch("segregated update_w_kernel");
    u_stale_ = true;  // marked on the slots before they run again (flush_u)
  }

  // Through the host: Wt and Y down, f, Y up.
  void edit_feedback(const FeedbackEdit& f) override {
    check(cudaSetDevice(device_), "cudaSetDevice");
    std::vector<std::vector<float>> Wt(static_cast<size_t>(M_)), Y(static_cast<size_t>(M_ - 1));
    for (int64_t m = 0; m < M_; ++m) {
      Wt[m].resize(Wt_[m].n);
      Wt_[m].download(Wt[m].data(), Wt[m].size());
    }
    for (int64_t m = 0; m + 1 < M_; ++m) {
      Y[m].resize(Y_[m].n);
      Y_[m].download(Y[m].data(), Y[m].size());
    }
    f(Wt, Y);
    for (int64_t m = 0; m + 1 < M_; ++m) {
      check(cudaMemcpy(Y_[m].p, Y[m].data(), Y[m].size() * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy Y");
    }
  }

 private:
  int64_t slot_floats_estimate() const {
    NetDev net;
    layout(net, 0);
    return net.slot_floats;
  }

  // Fills net with the offsets of every buffer of a slot.
  void layout(NetDev& net, int64_t slots) const {
    (void)slots;
    net = NetDev{};
    net.M = static_cast<int>(M_);
    net.n_in = c_.n_in;
    net.n_out = c_.n_out();
    net.k_per_class = d_.k_per_class;
    net.mem = c_.mem;
    net.units = d_.units;
    net.T = c_.integration_time;
    net.T_test = c_.integration_time_test;
    net.R = R_;
    net.l_test = c_.l_test;
    net.spiking_ff = c_.spiking_feedforward;
    net.spiking_fb = c_.spiking_feedback;
    net.use_cond = c_.use_conductances;
    net.learned = c_.feedback == FeedbackKind::Learned;
    net.feedback_bias = c_.feedback_bias;
    net.backprop = c_.backprop;
    net.backprop_inplace = c_.backprop_inplace;
    net.p = p_;
    net.kappa = kappa_.p;
    net.filter = d_.filter;
    net.seed_L = filter_seeds_.p;
    net.seed_S = filter_seeds_.p + c_.mem;
    net.kappa_window = kappa_window_.p;
    int64_t off = 0;
    auto take = [&](int64_t count) {
      const int64_t o = off;
      off += (count + 31) / 32 * 32;  // 128-byte aligned buffers
      return o;
    };
    net.in_spk = take(c_.mem * c_.n_in);
    net.x = take(c_.n_in);
    net.x_rank = take(c_.n_in);
    int64_t widest = c_.n_in;
    for (int64_t m = 0; m < M_; ++m) widest = std::max<int64_t>(widest, c_.layers[m]);
    net.ev_unit = take(widest);  // ints in float-sized slots
    net.ev_count = take(widest);
    for (int64_t m = 0; m < M_; ++m) {
      LayerDev& l = net.L[m];
      const int64_t n = c_.layers[m];
      l.n = n;
      l.fan_in = c_.fan_in(m);
      l.fb = m < M_ - 1 ? c_.fb_size(m) : 0;
      l.fb_layer = m < M_ - 1 ? c_.fb_layer(m) : 0;
      l.unit_off = d_.unit_offset[m];
      for (int64_t* p : {&l.B, &l.C, &l.A, &l.lam, &l.sumC, &l.sumLam, &l.Cf, &l.Af, &l.alpha_f, &l.lamt, &l.alpha_t,
                         &l.E, &l.Ebp, &l.delta_f, &l.delta_t, &l.Bx})
        *p = take(std::max<int64_t>(n, m == M_ - 1 ? c_.n_out() : n));
      l.u = take(c_.mem * n);
      l.P = take(n);
      l.Q = take(n);
      l.u_old = take(n);
      l.spk = take(c_.mem * n);
      l.psp_a = take(l.fb);
      l.sumPSPB = take(l.fan_in);
      l.PSPBf = take(l.fan_in);
      l.sumPSPA = take(l.fb);
      l.PSPAf = take(l.fb);
      l.pa_rows = take(net.R * l.fb);
      l.Wt = Wt_[m].p;
      l.b = b_[m].p;
      l.Y = m < M_ - 1 ? Y_[m].p : nullptr;
      l.cb = (m < M_ - 1 && c_.feedback_bias) ? cb_[m].p : nullptr;
      l.need_train = need_train_[m] ? 1 : 0;
      l.need_test = need_test_[m] ? 1 : 0;
    }
    net.slot_floats = off;
    net.slot_ints = M_ + 3;
  }

  void build_layout(Arena& a, int64_t slots) const {
    layout(a.net, slots);
    a.slots = slots;
    a.floats.resize(static_cast<size_t>(slots * a.net.slot_floats));
    a.ints.resize(static_cast<size_t>(slots * a.net.slot_ints));
    a.net.arena = a.floats.p;
    a.net.ints = a.ints.p;
    a.dnet.upload(&a.net, 1);
  }

  // Refreshes the weight pointers of the uploaded layouts (after a reallocation).
  void refresh_layouts() {
    for (Arena* a : {&train_, &eval_}) {
      if (a->slots == 0) continue;
      for (int64_t m = 0; m < M_; ++m) {
        a->net.L[m].Wt = Wt_[m].p;
        a->net.L[m].b = b_[m].p;
        a->net.L[m].Y = m < M_ - 1 ? Y_[m].p : nullptr;
        a->net.L[m].cb = (m < M_ - 1 && c_.feedback_bias) ? cb_[m].p : nullptr;
      }
      a->dnet.upload(&a->net, 1);
    }
  }

  void upload_deltas(int64_t slot, uint64_t epoch, uint64_t example) {
    const NetDev& net = train_.net;
    for (int64_t m = 0; m + 1 < M_; ++m) {
      const LayerDev& l = net.L[m];
      std::vector<float> df(static_cast<size_t>(l.n)), dt(static_cast<size_t>(l.n));
      for (int64_t q = 0; q < l.n; ++q) {
        df[q] = static_cast<float>(plateau_offset(c_, epoch, example, 0, d_.hidden_offset[m] + q));
        dt[q] = static_cast<float>(plateau_offset(c_, epoch, example, 1, d_.hidden_offset[m] + q));
      }
      float* S = train_.floats.p + slot * net.slot_floats;
      check(cudaMemcpy(S + l.delta_f, df.data(), df.size() * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy deltas");
      check(cudaMemcpy(S + l.delta_t, dt.data(), dt.size() * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy deltas");
    }
  }

  void load(const std::vector<LayerWeights>& w) {
    for (int64_t m = 0; m < M_; ++m) {
      const std::vector<float> wt = transposed(w[m].W, c_.layers[m], c_.fan_in(m));
      Wt_[m].upload(wt.data(), wt.size());
      b_[m].upload(w[m].b.data(), w[m].b.size());
      if (m < M_ - 1) {
        Y_[m].upload(w[m].Y.data(), w[m].Y.size());
        cb_[m].upload(w[m].c.data(), w[m].c.size());
      }
    }
    refresh_layouts();
  }

  // Marks u of every training slot stale (after a weight change).
  void invalidate_u() {
    if (train_.slots == 0) return;
    set_int_kernel<<<cuda::blocks_for(train_.slots, kThreads), kThreads>>>(train_.ints.p, train_.net.slot_ints, M_ + 1,
                                                                           train_.slots, 0);
    check_launch("segregated set_int_kernel");
  }

  // Marks u of every training slot stale when feed-forward weights changed since the last time.
  void flush_u() {
    if (!u_stale_) return;
    u_stale_ = false;
    invalidate_u();
  }

  const Config c_;  // as made (the driver passes learning rates with each update)
  const Derived d_;
  const StepParams p_;  // the constants of the step equations (segregated_step.h)
  const int64_t R_;     // rows of apical history per training phase
  const std::vector<bool> need_train_, need_test_;  // EngineSetup::spikes_train, spikes_test
  const std::vector<std::vector<int64_t>> masks_;
  int device_ = 0;
  int64_t M_ = 0;
  DevBuf<float> kappa_;
  DevBuf<float> filter_seeds_;  // Derived::seed_L, then seed_S
  DevBuf<float> kappa_window_;
  std::vector<DevBuf<float>> Wt_, b_, Y_, cb_;
  std::vector<DevBuf<int64_t>> mask_;
  Arena train_, eval_;
  DevBuf<uint8_t> chunk_;  // the staged chunk's images in presentation order
  DevBuf<Job> djobs_;
  DevBuf<float> dloss_, dangle_;
  DevBuf<int32_t> dpred_;
  bool u_stale_ = false;  // update_forward ran since the slots' u were last marked
};

}  // namespace

std::unique_ptr<Network> make_cuda_network(const Config& c, int device) {
  return std::make_unique<Network>(c, [device](const EngineSetup& s) -> std::unique_ptr<Engine> {
    return std::make_unique<CudaEngine>(s, device);
  });
}

}  // namespace dendrite::seg
