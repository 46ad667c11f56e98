// Reference xoshiro128** written from Blackman & Vigna's C code with BigInt arithmetic (mod 2^32
// explicit), independent of the Math.imul version in src/data/rng.ts.
const M = 0xffffffffn;

function rotl(x: bigint, k: bigint): bigint {
  return ((x << k) | (x >> (32n - k))) & M;
}

export function xoshiro128ssRef(state: [number, number, number, number], n: number): number[] {
  let [s0, s1, s2, s3] = state.map((v) => BigInt(v >>> 0));
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const result = (rotl((s1 * 5n) & M, 7n) * 9n) & M;
    const t = (s1 << 9n) & M;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl(s3, 11n);
    out.push(Number(result));
  }
  return out;
}
