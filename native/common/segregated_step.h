// The equations of the segregated-dendrite network (docs/papers.md; labels H1-H6, O1-O5, P1-P5,
// U1-U9, K1-K3 refer to it), written once and compiled unchanged for the host (the CPU engine,
// native/cpu/segregated_cpu.cpp) and the device (the CUDA engine, native/cuda/segregated.cu), so
// that both give the same bits: the random-stream keys, the float arithmetic (rounded to nearest,
// never fused), the exp approximation and the rates, the per-step updates of the compartments,
// the PSP and window sums, plateaus, errors, the weight-update formulas and the class argmax.
//
// What the engines write themselves is only how they loop over units, events and slots (the CPU's
// event lists and SIMD clones, the CUDA kernels' thread decomposition); every value they compute
// comes from a function here, each output element summed in the order documented beside it.
//
// As in philox.h: DENDRITE_HD is __host__ __device__ under nvcc and empty for plain C++; the
// functions' host and device branches are different definitions of the same inline functions, so
// a program that holds both (the CUDA emulator's test, native/test/cuda_emu) keeps them apart in an
// inline namespace (host_code / device_code); the types stay outside it. On the host the
// arithmetic is plain IEEE float operations: a translation unit that includes this header must not
// contract a * b + c into an FMA (segregated_cpu.cpp says so with its FP_CONTRACT pragma; no x86-64
// target it compiles for has FMA); on the device every operation is an explicit __f*_rn intrinsic,
// which nvcc never contracts.
#pragma once

#include <cstdint>

#include "philox.h"
#include "shapes.h"

namespace dendrite::seg {

// ---------------------------------------------------------------------------------------------
// Types (outside the inline namespace: kernels' parameter types must mangle the same in nvcc's
// host and device passes).

// Random-stream purposes (the top 4 bits of the stream). Every draw is keyed by
//   stream = purpose << 60 | epoch << 32 | example,  element index = per-purpose layout below.
enum Purpose : uint64_t {
  kInit = 1,          // example field = matrix id 4m + {0: W, 1: b, 2: Y, 3: c}; element = row-major index
  kPhase = 2,         // element 0 forward, 1 target: Wald extra lengths
  kPlateau = 3,       // element (phase << 40) + hidden unit: normal jitter
  kSpikeTrain = 4,    // element step * units + unit (step counts from the example's first forward step; an input
                      // pixel's unit is its rank among the image's nonzero pixels): spike_count
  kSpikeTest = 5,     // epoch field = evaluation round, example field = the image's index in the whole set
  kSymNoise = 6,      // element (m << 40) + row-major index of W^(m+1)^T; epoch field 2^28-1 at init
  kSparse = 7,        // example field = hidden layer m
  kShuffle = 8,       // epoch field = epoch
};
constexpr uint64_t kMaxEpoch = (uint64_t{1} << 28) - 1;
constexpr uint64_t kInitEpoch = kMaxEpoch;  // symmetric noise drawn at initialisation

// The phase a step belongs to.
enum class Phase : int { Forward = 0, Target = 1, Test = 2 };

// What one layer does in one step besides its compartments (layer_step).
struct LayerStep {
  bool psp_b;    // add the step's basal PSP (presynaptic rates or kernel-filtered spikes) to its window sum (P2)
  bool apical;   // compute the apical potential A (H3, H4)
  bool keep_A;   // keep A for the plateaus: the step is one of the phase's last R (P1, P4)
  bool psp_a;    // add the apical PSP to its window sum (P3; learned feedback)
  bool sum_C;    // add C to its window sum (P1, P5; the output's test average)
  bool sum_lam;  // add lambda to its window sum (P4: the output's target-phase rate)
};

// The float constants of the step equations (docs/papers.md §3), from step_params() (segregated.h).
struct StepParams {
  float lmax;     // lambda_max
  float kB, kD;   // g_B / (g_L + g_B + g_A), g_D / (g_L + g_D)
  float dt, gL, gB, gA, gD;
  float EE, EI;
  float tgt_den;  // g_L + g_D + 1: the non-conductance target soma (O4'')
};

#if defined(__CUDA_ARCH__)
inline namespace device_code {
#else
inline namespace host_code {
#endif

DENDRITE_HD inline RngStream stream_of(uint64_t seed, Purpose p, uint64_t epoch, uint64_t example) {
  RngStream r;
  r.seed = seed;
  r.stream = (static_cast<uint64_t>(p) << 60) | ((epoch & kMaxEpoch) << 32) | (example & 0xffffffffull);
  r.offset = 0;
  return r;
}

// The spike streams: a training example's (keyed by its epoch and its example counter), and a
// test image's (keyed by the evaluation round and the image's index in the whole test set).
DENDRITE_HD inline philox::Stream train_spike_stream(uint64_t seed, uint64_t epoch, uint64_t example) {
  return philox::make_stream(stream_of(seed, kSpikeTrain, epoch, example));
}
DENDRITE_HD inline philox::Stream test_spike_stream(uint64_t seed, uint64_t round, uint64_t image) {
  return philox::make_stream(stream_of(seed, kSpikeTest, round, image));
}

// Spike counts (H6, O5, and the input's spikes): Poisson(rate) by inversion of one 32-bit uniform
// u = (x + 1/2) 2^-32, four counts per Philox block. Element e (stream layout above) takes word
// (e >> 4) & 3 of block 16 (e >> 6) + (e & 15): the 16 blocks of a group of 64 elements give, word
// by word, 16 consecutive elements, so that a SIMD pass needs no transposition. (A 32-bit uniform
// moves each count's probability by at most 2^-32.) Rates from 10 up (lambda_max dt >= 10) take
// philox::poisson_at's rejection method, from blocks of a disjoint counter range.
constexpr uint64_t kSpikeHighRateOffset = uint64_t{1} << 62;
DENDRITE_HD inline uint64_t spike_block(uint64_t e) { return ((e >> 6) << 4) | (e & 15); }
DENDRITE_HD inline uint32_t spike_word(const philox::Block& b, uint64_t e) {
  switch ((e >> 4) & 3) {
    case 0: return b.x0;
    case 1: return b.x1;
    case 2: return b.x2;
    default: return b.x3;
  }
}
// The count of element e given its word x (what the CPU's SIMD passes read from a group's blocks).
DENDRITE_HD inline int32_t spike_count_of(const philox::Stream& s, uint64_t e, float rate, uint32_t x) {
  const double lam = rate;
  if (!(lam > 0.0)) return 0;
  if (lam < philox::kPoissonInversionBelow) {
    // (x + 1/2) 2^-32, exact in double
    const double u = philox::fp::mul(philox::fp::add(static_cast<double>(x), 0.5), 2.3283064365386963e-10);
    return philox::poisson_inversion(u, lam);
  }
  philox::Stream high = s;
  high.offset += kSpikeHighRateOffset;
  return philox::poisson_at(high, e, rate);
}
DENDRITE_HD inline int32_t spike_count(const philox::Stream& s, uint64_t e, float rate) {
  if (!(rate > 0.0f)) return 0;
  return spike_count_of(s, e, rate, spike_word(philox::block_at(s, spike_block(e), 0), e));
}

// ---------------------------------------------------------------------------------------------
// Float arithmetic: IEEE single precision, rounded to nearest, never fused.

namespace f32 {

DENDRITE_HD inline float add(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
DENDRITE_HD inline float sub(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}
DENDRITE_HD inline float mul(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
DENDRITE_HD inline float div(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}
// acc + a b: one term of every sum below (a product, then a sum, both rounded).
DENDRITE_HD inline float mac(float acc, float a, float b) { return add(acc, mul(a, b)); }

}  // namespace f32

// ---------------------------------------------------------------------------------------------
// (K3) The basal drive's kappa filter in recursive form. The taps of (K1) are
// kappa_i = c (aL^(i+1) - aS^(i+1)), i < mem, with aL = e^(-dt/tau_L), aS = e^(-dt/tau_s) and
// c = 1/(tau_L - tau_s), so the drive b + sum_i kappa_i u_(t-i) of u_t = W S_t is b + c (P_t - Q_t),
// P_t = sum_(i<mem) aL^(i+1) u_(t-i) and Q_t likewise with aS, and each sum follows its last value:
//   P_t = aL (P_(t-1) + u_t) - aL^(mem+1) u_(t-mem)
// (filter_sum; four operations for each sum where the taps took two for each of mem). Both start
// from their direct sums over the ring at the first step of every example and test image
// (Derived::seed_L and seed_S), so that nothing of them carries from one example to the next.
// (Plain data, no member initialisers: the CUDA engine keeps it in a __shared__ NetDev.)
struct KappaFilter {
  float aL, aS;  // e^(-dt/tau_L), e^(-dt/tau_s)
  float gL, gS;  // their (mem+1)-th powers: the weight of the step leaving the window
  float c;       // 1 / (tau_L - tau_s)
};
DENDRITE_HD inline float filter_sum(float P, float a, float g, float u_new, float u_old) {
  using namespace f32;
  return sub(mul(a, add(P, u_new)), mul(g, u_old));
}
DENDRITE_HD inline float filter_drive(float b, float c, float P, float Q) {
  using namespace f32;
  return add(b, mul(c, sub(P, Q)));
}

// ---------------------------------------------------------------------------------------------
// exp, the sigmoid and the rates (H6, O5).

// exp(x) in float to about 1 ulp (Cephes expf: Cody-Waite reduction and a degree-5 polynomial),
// libm-free so that it vectorises and gives the same value on every machine. The CPU's AVX2 and
// AVX-512 clones (segregated_cpu.cpp, rates_avx2 / rates_avx512) repeat it operation for operation.
DENDRITE_HD inline float exp_f(float x) {
  using namespace f32;
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  const float t = mul(x, 1.44269504088896341f);
  const float kf = sub(add(t, 12582912.0f), 12582912.0f);  // round to nearest (|t| < 2^22)
  float r = sub(x, mul(kf, 0.693359375f));
  r = sub(r, mul(kf, -2.12194440e-4f));
  float p = 1.9875691500e-4f;
  p = add(mul(p, r), 1.3981999507e-3f);
  p = add(mul(p, r), 8.3334519073e-3f);
  p = add(mul(p, r), 4.1665795894e-2f);
  p = add(mul(p, r), 1.6666665459e-1f);
  p = add(mul(p, r), 5.0000001201e-1f);
  p = add(add(mul(mul(p, r), r), r), 1.0f);
  const int32_t k = static_cast<int32_t>(kf);  // in [-126, 127]
  return mul(p, philox::fp::float_from_bits(static_cast<uint32_t>(k + 127) << 23));
}

DENDRITE_HD inline float sigmoid_f(float x) { return f32::div(1.0f, f32::add(1.0f, exp_f(-x))); }

// sigma'(x) = sigma(x) (1 - sigma(x))
DENDRITE_HD inline float dsigmoid_f(float x) {
  const float s = sigmoid_f(x);
  return f32::mul(s, f32::sub(1.0f, s));
}

// lambda = lambda_max sigma(C) (H6, O5).
DENDRITE_HD inline float rate_of(float lmax, float C) { return f32::mul(lmax, sigmoid_f(C)); }

// The rate lambda_max p of a pixel, p = pixel / 255 (docs/papers.md §5), in double, then rounded.
DENDRITE_HD inline float input_rate(double lmax, uint8_t pixel) {
  return philox::fp::to_float(philox::fp::mul(lmax, philox::fp::div(static_cast<double>(pixel), 255.0)));
}

// ---------------------------------------------------------------------------------------------
// Steps and windows.

// Slot of the i-th most recent step (i = 0: the most recent) of a ring of `mem` steps.
DENDRITE_HD inline int64_t ring_slot(int64_t head, int64_t i, int64_t mem) { return (head - i + mem * 4) % mem; }

// Step t of a phase of L steps lies in the averaging window of its last T steps (P1-P5), and in
// the last R steps whose apical potentials a training plateau may read (R = T + plateau cap).
DENDRITE_HD inline bool in_window(int64_t t, int64_t L, int64_t T) { return t >= L - T; }

// (P2) The forward window's sum of the spiking basal PSPs, sum over its steps t of
// sum_(i<mem) kappa_i S_(t-i), taken count by count: each presynaptic count S_(t') enters once,
// weighted with the sum of the taps kappa_i that carry it into a step of the window (i from
// max(0, start - t') to min(mem - 1, L - 1 - t')). The window's first step adds the counts of
// its last mem steps (ages i < mem), every later step those of its own (age 0): psp_ages. The
// weights are Derived::kappa_window[psp_taps(...)], tap sums computed in double.
DENDRITE_HD inline int64_t psp_ages(int64_t t, int64_t L, int64_t T, int64_t mem) {
  return t == (L > T ? L - T : 0) ? mem : 1;
}
// The weight's index for the count of age i added at window step t: lo * mem + hi.
DENDRITE_HD inline int64_t psp_taps(int64_t i, int64_t t, int64_t L, int64_t mem) {
  const int64_t hi = L - 1 - t + i;
  return i * mem + (hi < mem - 1 ? hi : mem - 1);
}
DENDRITE_HD inline bool in_plateau_rows(Phase ph, int64_t t, int64_t L, int64_t R) { return ph != Phase::Test && t >= L - R; }

// What layer `output ? M - 1 : a hidden one` does in step t of a phase of L steps whose window is
// its last T steps and whose plateaus read its last R (R = 0 in tests): the basal and apical PSP
// sums of the forward window, A where it reaches the soma (g_A != 0), a plateau or a recording, and
// the window sums of C (training: every layer; tests: the output) and of the output's lambda in the
// target phase.
DENDRITE_HD inline LayerStep layer_step(Phase ph, int64_t t, int64_t L, int64_t T, int64_t R, bool output, bool learned,
                                        bool apical_coupled, bool recorded) {
  const bool train = ph != Phase::Test, forward = ph == Phase::Forward;
  const bool window = in_window(t, L, T), rows = in_plateau_rows(ph, t, L, R);
  LayerStep s;
  s.psp_b = forward && window;
  s.apical = !output && (apical_coupled || rows || recorded);
  s.keep_A = !output && rows;
  s.psp_a = s.apical && forward && window && learned;
  s.sum_C = window && ph != Phase::Target && (train || output);
  s.sum_lam = window && ph == Phase::Target && output;
  return s;
}

// The target rate of output unit q for a label (one-hot, k units per class; O3).
DENDRITE_HD inline float target_of(int64_t q, int64_t k_per_class, int64_t label) { return q / k_per_class == label ? 1.0f : 0.0f; }

// ---------------------------------------------------------------------------------------------
// Compartments. Drives are sums of mac() terms: the basal drive B = b + sum_i kappa_i u_i (spiking,
// K1, K2 through the filter of K3: u_i = W S of step i summed over events by ascending unit) or b + W lambda_pre
// (rates, pre units ascending; the input layer's W x first, then + b); the apical drive A below.

// Leaky soma (H5, O4 forward): C + dt (-g_L C + g (drive - C)); with apical coupling
// (H5, g_A != 0) also + g_A (A - C) inside the parentheses, after the basal term.
DENDRITE_HD inline float soma_leaky(float C, float drive, float g, const StepParams& p) {
  using namespace f32;
  return add(C, mul(p.dt, add(mul(-p.gL, C), mul(g, sub(drive, C)))));
}
DENDRITE_HD inline float soma_leaky_apical(float C, float B, float A, const StepParams& p) {
  using namespace f32;
  const float inner = add(add(mul(-p.gL, C), mul(p.gB, sub(B, C))), mul(p.gA, sub(A, C)));
  return add(C, mul(p.dt, inner));
}
// The hidden soma at every step: leaky (H5), with the apical term when g_A != 0, or the
// steady state k_B B (H5').
DENDRITE_HD inline float soma_hidden(float C, float B, float A, bool conductances, const StepParams& p) {
  if (!conductances) return f32::mul(p.kB, B);
  return p.gA != 0.0f ? soma_leaky_apical(C, B, A, p) : soma_leaky(C, B, p.gB, p);
}
// The output soma in the forward and test phases: leaky (O4) or k_D B (O4').
DENDRITE_HD inline float soma_output(float C, float B, bool conductances, const StepParams& p) {
  return conductances ? soma_leaky(C, B, p.gD, p) : f32::mul(p.kD, B);
}
// The output soma in the target phase, with g_E = target, g_I = 1 - target (O3): leaky with the
// nudging current I = g_E (E_E - C) + g_I (E_I - C) (O4), or (g_D B + g_E E_E + g_I E_I) / (g_L + g_D + 1) (O4'').
DENDRITE_HD inline float soma_output_target(float C, float B, float target, bool conductances, const StepParams& p) {
  using namespace f32;
  const float gE = target, gI = sub(1.0f, target);
  if (conductances) {
    const float I = add(mul(gE, sub(p.EE, C)), mul(gI, sub(p.EI, C)));
    return add(C, mul(p.dt, add(add(mul(-p.gL, C), mul(p.gD, sub(B, C))), I)));
  }
  return div(add(add(mul(p.gD, B), mul(gE, p.EE)), mul(gI, p.EI)), p.tgt_den);
}

// The apical potential of one hidden unit (H3, H4): y . psp_a (y its row of Y, feedback units
// ascending), from 0; the bias c is added after (apical_bias).
DENDRITE_HD inline float apical_potential(const float* y, const float* psp_a, int64_t fb) {
  float a = 0.0f;
  for (int64_t q = 0; q < fb; ++q) a = f32::mac(a, y[q], psp_a[q]);
  return a;
}
DENDRITE_HD inline float apical_bias(float a, float c) { return f32::add(a, c); }

// ---------------------------------------------------------------------------------------------
// Phase results (P1-P5).

// A window average: the sum of the window's T values (in step order) over T.
DENDRITE_HD inline float window_mean(float sum, int64_t T) { return f32::div(sum, static_cast<float>(T)); }

// The plateau potential of a hidden unit (P1, P4) is the mean of its T apical potentials ending at
// row `end` (exclusive) of the phase's last R rows (row r = step L - R + r). A is linear in the
// apical input (H4), so it is taken as y . (the sum of those rows' apical inputs) / T, plus the
// bias: one dot product where each row took one (the same value up to rounding). plateau_input
// is that sum for feedback unit f (pa_rows: R x fb, the rows in order from 0); then
// plateau_potential(y . sums, c).
DENDRITE_HD inline float plateau_input(const float* pa_rows, int64_t fb, int64_t f, int64_t end, int64_t T) {
  float sum = 0.0f;
  for (int64_t r = end - T; r < end; ++r) sum = f32::add(sum, pa_rows[r * fb + f]);
  return sum;
}
DENDRITE_HD inline float plateau_potential(float y_dot_sums, int64_t T, bool biased, float c) {
  const float a = window_mean(y_dot_sums, T);
  return biased ? apical_bias(a, c) : a;
}

// Argmax over the 10 classes of the class means of v (k units per class, summed in order); the
// first class wins ties.
DENDRITE_HD inline int32_t class_argmax(const float* v, int64_t k) {
  int32_t best = 0;
  float best_v = 0;
  for (int32_t c = 0; c < 10; ++c) {
    float sum = 0;
    for (int64_t q = 0; q < k; ++q) sum = f32::add(sum, v[c * k + q]);
    const float mean = f32::div(sum, static_cast<float>(k));
    if (c == 0 || mean > best_v) {
      best = c;
      best_v = mean;
    }
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// Errors (docs/papers.md §9).

// Output error (U1): E = -k_D lambda_max sigma'(C_f) (lambda_t - lambda_max sigma(C_f)); *sq gets
// the squared difference, whose mean over the units (in order) is the example's loss.
DENDRITE_HD inline float output_error(float Cf, float lamt, const StepParams& p, float* sq) {
  using namespace f32;
  const float sg = sigmoid_f(Cf);
  const float diff = sub(lamt, mul(p.lmax, sg));
  *sq = mul(diff, diff);
  return mul(mul(mul(-p.kD, p.lmax), mul(sg, sub(1.0f, sg))), diff);
}

// Hidden error (U4): E = -k_B lambda_max sigma'(C_f) (alpha_t - alpha_f), from s = sigma(C_f)
// (sigma' = s (1 - s), as dsigmoid_f).
DENDRITE_HD inline float hidden_error_of(float s, float alpha_t, float alpha_f, const StepParams& p) {
  using namespace f32;
  return mul(mul(mul(-p.kB, p.lmax), mul(s, sub(1.0f, s))), sub(alpha_t, alpha_f));
}
DENDRITE_HD inline float hidden_error(float Cf, float alpha_t, float alpha_f, const StepParams& p) {
  return hidden_error_of(sigmoid_f(Cf), alpha_t, alpha_f, p);
}

// Backprop error of hidden unit j: (W^(m+1)^T E^(m+1))_j, the dot product over the units above in
// order (mac from 0), times k_B lambda_max sigma'(C_f).
DENDRITE_HD inline float backprop_error(float dot, float Cf, const StepParams& p) {
  using namespace f32;
  return mul(dot, mul(mul(p.kB, p.lmax), dsigmoid_f(Cf)));
}

// The angle between a layer's error and its backprop error, in degrees, from their dot product and
// squared norms (summed in double over the units in order with angle_terms); NaN when a norm is 0.
// acos is the host's or the device's libm (they may differ in the last bit).
DENDRITE_HD inline void angle_terms(float e, float bp, double* dot, double* na, double* nb) {
  using namespace philox::fp;
  const double a = e, b = bp;
  *dot = add(*dot, mul(a, b));
  *na = add(*na, mul(a, a));
  *nb = add(*nb, mul(b, b));
}
DENDRITE_HD inline float angle_degrees(double dot, double na, double nb) {
  using namespace philox::fp;
  if (!(na > 0 && nb > 0)) return float_from_bits(0x7fc00000u);
  double cosv = div(dot, sqrt(mul(na, nb)));
  cosv = cosv > 1 ? 1 : (cosv < -1 ? -1 : cosv);
#if defined(__CUDA_ARCH__)
  const double rad = ::acos(cosv);
#else
  const double rad = std::acos(cosv);
#endif
  return to_float(mul(rad, 57.29577951308232));
}

// ---------------------------------------------------------------------------------------------
// Updates (docs/papers.md §9), summed over the batch slots in slot order.

// (U2, U3) / (U5, U6): g = eta P E per unit; then W_qj -= g_q PSP_f,j (skipped where PSP_f,j = 0:
// W - g 0 = W exactly) and b_q -= g_q, once per slot.
DENDRITE_HD inline float forward_gain(float etaP, float E) { return f32::mul(etaP, E); }
DENDRITE_HD inline float descend(float w, float g, float x) { return f32::sub(w, f32::mul(g, x)); }
DENDRITE_HD inline float descend(float w, float g) { return f32::sub(w, g); }

// (U7-U9) learned feedback: h = eta E_inv with E_inv = -sigma'(A_f) (lambda_max sigma(C_f) - alpha_f);
// then Y_qr -= h_q PSP_A,f,r and c_q -= h_q (descend), once per slot.
DENDRITE_HD inline float feedback_gain(float eta, float Af, float Cf, float alpha_f, const StepParams& p) {
  using namespace f32;
  const float e_inv = mul(-dsigmoid_f(Af), sub(mul(p.lmax, sigmoid_f(Cf)), alpha_f));
  return mul(eta, e_inv);
}

}  // inline namespace device_code / host_code
}  // namespace dendrite::seg
