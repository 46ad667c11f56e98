// Model recordings turned into the figures' tables (src/report/figures.ts): the segregated
// network's per-step potentials and update angles. Kept apart from the figures so a figure
// depends on its table only, whichever model or file it came from. (Weight dynamics need no
// conversion: the training loop records them in each curve point, see figures.ts weightRows.)
import type { EpochMetrics, TrainRecording } from '../models/segregated';
import type { AnglePoint, VoltageTrace } from './figures';

/** A unit to show: its 0-based layer (the last is the output layer) and its index in the layer. */
export interface UnitRef {
  layer: number;
  unit: number;
}

/**
 * The voltage traces of the examples recorded by SegregatedNetwork.train({ record: { examples,
 * voltages: true, phaseTimes: true, plateauTimes: true } }). `layers` and `dt` are the network's
 * (config()). Units: those given that were recorded; by default the first two recorded units of
 * each hidden layer, and the example's target unit with the first other recorded output unit.
 */
export function voltageTracesFromRecording(
  model: string,
  rec: TrainRecording,
  net: { layers: readonly number[]; dt: number },
  opts: { units?: readonly UnitRef[] } = {},
): VoltageTrace[] {
  if (!rec.layers) throw new TypeError('voltageTracesFromRecording: the recording has no voltages (record.voltages was not asked for)');
  if (!rec.phaseTimes) throw new TypeError('voltageTracesFromRecording: the recording has no phase times (record.phaseTimes was not asked for)');
  const M = rec.layers.length;
  if (M !== net.layers.length) throw new RangeError(`voltageTracesFromRecording: the recording has ${M} layers, the network ${net.layers.length}`);
  const hiddenOffsets = net.layers.slice(0, -1).map((_, m) => net.layers.slice(0, m).reduce((a, b) => a + b, 0));
  const H = net.layers.slice(0, -1).reduce((a, b) => a + b, 0);
  const traces: VoltageTrace[] = [];
  for (let r = 0; r < rec.examples.length; r++) {
    const k = rec.examples[r] - rec.firstPosition;
    const label = rec.labels[k];
    const forwardStart = rec.phaseTimes[3 * k];
    const targetStart = rec.phaseTimes[3 * k + 1] - forwardStart;
    const row0 = rec.stepOffsets[r], rows = rec.stepOffsets[r + 1] - row0;
    const wanted: UnitRef[] = opts.units ? [...opts.units] : rec.layers.flatMap((l, m) => {
      const units = Array.from(l.units);
      if (m < M - 1) return units.slice(0, 2).map((unit) => ({ layer: m, unit }));
      const other = units.find((u) => u !== label);
      return [...(units.includes(label) ? [label] : []), ...(other !== undefined ? [other] : [])].map((unit) => ({ layer: m, unit }));
    });
    for (const { layer, unit } of wanted) {
      const L = rec.layers[layer];
      const j = L ? Array.from(L.units).indexOf(unit) : -1;
      if (j < 0) continue;
      const nu = L.units.length;
      const column = (a: Float32Array) => Array.from({ length: rows }, (_, t) => a[(row0 + t) * nu + j]);
      const output = layer === M - 1;
      const p = rec.plateauTimes && !output ? (r * H + hiddenOffsets[layer] + unit) * 2 : -1;
      traces.push({
        model, example: rec.globalExamples[r], label, layer, unit, output, dt: net.dt, targetStart,
        somatic: column(L.C), basal: column(L.B), ...(L.A ? { apical: column(L.A) } : {}),
        ...(p >= 0 ? { plateaus: [rec.plateauTimes![p] - forwardStart, rec.plateauTimes![p + 1] - forwardStart] as [number, number] } : {}),
      });
    }
  }
  return traces;
}

/**
 * Angle points from the epochs of SegregatedNetwork.train({ recordAngle: true }): the per-example
 * angles (examples x hidden layers) averaged over windows of `window` examples (default: about 40
 * points in all), placed at the number of examples trained at the window's end. Examples whose
 * angle is undefined (NaN: no error to compare) are left out of their window's mean.
 */
export function anglePointsFromEpochs(
  model: string,
  epochs: ReadonlyArray<Pick<EpochMetrics, 'examples' | 'angles'>>,
  opts: { window?: number } = {},
): AnglePoint[] {
  const total = epochs.reduce((a, e) => a + (e.angles ? e.examples : 0), 0);
  const window = opts.window ?? Math.max(1, Math.ceil(total / 40));
  if (!Number.isInteger(window) || window < 1) throw new RangeError(`anglePointsFromEpochs: window must be a positive integer, got ${window}`);
  const points: AnglePoint[] = [];
  let seen = 0;
  for (const e of epochs) {
    if (!e.angles) {
      seen += e.examples;
      continue;
    }
    const layers = e.examples > 0 ? e.angles.length / e.examples : 0;
    if (!Number.isInteger(layers)) throw new RangeError(`anglePointsFromEpochs: ${e.angles.length} angles for ${e.examples} examples`);
    for (let start = 0; start < e.examples; start += window) {
      const end = Math.min(e.examples, start + window);
      for (let h = 0; h < layers; h++) {
        let sum = 0, count = 0;
        for (let i = start; i < end; i++) {
          const a = e.angles[i * layers + h];
          if (Number.isFinite(a)) { sum += a; count++; }
        }
        if (count > 0) points.push({ model, layer: h, examples: seen + end, angle: sum / count });
      }
    }
    seen += e.examples;
  }
  return points;
}
