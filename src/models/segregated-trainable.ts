// The segregated-dendrite network (src/models/segregated.ts) as a TrainableModel, so that the
// shared loop (src/train/loop.ts) and `dendrite-bench train --model segregated` can drive it.
//
// The loop supplies the order of each epoch; the network keys its own random draws by its
// position (epoch, example, evaluation round), which the adapter keeps in step with the loop:
// at the start of an epoch it resets the carried-over state and sets the position to
// (epoch, 0), as SegregatedNetwork.train() does after each epoch. Evaluation loss: the mean
// softmax cross-entropy of the class-mean output somatic voltages (the network has no
// cross-entropy of its own; docs/papers.md D8 asks for such a CE to be labelled).
import { SegregatedNetwork, type SegregatedOptions } from './segregated';
import type { ImageSetLike } from '../train/dataset';
import type { ChunkRequest, ChunkResult, EvalResult, ModelState, TrainableModel } from '../train/model';

export interface SegregatedTrainableOptions extends SegregatedOptions {
  /** 1: online, one update per example (faithful); B > 1: summed updates of B examples. */
  batchSize?: number;
}

export class SegregatedTrainable implements TrainableModel {
  readonly kind = 'segregated';
  readonly batchSize: number;
  readonly network: SegregatedNetwork;
  private readonly layers: number[];

  constructor(options: SegregatedTrainableOptions) {
    const { batchSize, ...rest } = options;
    this.batchSize = batchSize ?? 1;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1 || this.batchSize > 4096) {
      throw new RangeError(`segregated: batch size must be an integer in [1, 4096], got ${batchSize}`);
    }
    this.network = new SegregatedNetwork(rest);
    this.layers = this.network.config().layers as number[];
  }

  describe(): Record<string, unknown> {
    return {
      kind: 'segregated',
      batchSize: this.batchSize,
      update: this.batchSize === 1 ? 'online' : 'batched',
      config: this.network.config(),
      evaluationLoss: 'softmax cross-entropy of the class-mean output somatic voltages',
    };
  }

  private checkData(data: ImageSetLike): void {
    const nIn = this.network.nIn;
    if (data.channels * data.height * data.width !== nIn) {
      throw new RangeError(`segregated: the data have ${data.channels * data.height * data.width} values per image, the network ${nIn} inputs`);
    }
  }

  async trainEpochChunk(req: ChunkRequest): Promise<ChunkResult> {
    this.checkData(req.data);
    const pos = this.network.position();
    if (req.start === 0 && (pos.epoch !== req.epoch || pos.example !== 0)) {
      this.network.native.resetState();
      this.network.setPosition({ epoch: req.epoch, example: 0 });
    } else if (pos.epoch !== req.epoch || pos.example !== req.start) {
      throw new Error(`segregated: the network is at epoch ${pos.epoch}, example ${pos.example}; asked for ` +
        `epoch ${req.epoch}, example ${req.start} (restore a checkpoint taken there)`);
    }
    const order = req.order.subarray(req.start, req.start + req.count);
    const r = await this.network.native.trainChunk({
      images: req.data.images, labels: req.data.labels, order, batchSize: this.batchSize,
    });
    let lossSum = 0;
    let correct = 0;
    for (let k = 0; k < order.length; k++) {
      lossSum += r.loss[k];
      if (r.prediction[k] === req.data.labels[order[k]]) correct++;
    }
    return { examples: order.length, lossSum, correct };
  }

  async evaluate(data: ImageSetLike): Promise<EvalResult> {
    this.checkData(data);
    const r = await this.network.evaluate({ images: data.images, labels: data.labels, count: data.count }, { voltages: true });
    const nOut = this.layers[this.layers.length - 1];
    const perClass = nOut / 10;
    const v = r.voltages!;
    let loss = 0;
    const score = new Float64Array(10);
    for (let i = 0; i < data.count; i++) {
      score.fill(0);
      for (let u = 0; u < nOut; u++) score[Math.floor(u / perClass)] += v[i * nOut + u] / perClass;
      let m = -Infinity;
      for (const s of score) m = Math.max(m, s);
      let sum = 0;
      for (const s of score) sum += Math.exp(s - m);
      loss += m + Math.log(sum) - score[data.labels[i]];
    }
    let correct = 0;
    for (let i = 0; i < data.count; i++) if (r.predictions[i] === data.labels[i]) correct++;
    return { count: data.count, correct, accuracy: data.count ? correct / data.count : NaN, loss: data.count ? loss / data.count : NaN };
  }

  async exportState(): Promise<ModelState> {
    const layers = this.network.native.getWeights();
    const arrays: ModelState['arrays'] = { state: this.network.native.getState() };
    layers.forEach((l, i) => {
      arrays[`${i}.W`] = l.W;
      arrays[`${i}.b`] = l.b;
      if (l.Y) arrays[`${i}.Y`] = l.Y;
      if (l.c) arrays[`${i}.c`] = l.c;
    });
    return { meta: { model: this.describe(), position: this.network.position(), layers: layers.length }, arrays };
  }

  async importState(state: ModelState): Promise<void> {
    const want = JSON.stringify(this.describe());
    const got = JSON.stringify(state.meta.model);
    if (want !== got) throw new RangeError(`segregated: the checkpoint holds another model:\n  checkpoint ${got}\n  this model ${want}`);
    const n = state.meta.layers as number;
    const a = state.arrays;
    const layers = Array.from({ length: n }, (_, i) => ({
      W: a[`${i}.W`] as Float32Array, b: a[`${i}.b`] as Float32Array,
      ...(a[`${i}.Y`] ? { Y: a[`${i}.Y`] as Float32Array } : {}), ...(a[`${i}.c`] ? { c: a[`${i}.c`] as Float32Array } : {}),
    }));
    this.network.native.setWeights(layers);
    this.network.setPosition(state.meta.position as { epoch: number; example: number; evalRound: number });
    this.network.native.setState(a.state as Float64Array);
  }
}
