// The segregated-dendrite network (src/models/segregated.ts) as a TrainableModel, so that the
// shared loop (src/train/loop.ts), experiments and `dendrite-bench train --model segregated` drive
// it; SegregatedNetwork.train() is this adapter in the same loop.
//
// The loop supplies the order of each epoch; the network keys its own random draws by its
// position (epoch, example, evaluation round), which the adapter keeps in step with the loop: at
// the end of an epoch it zeroes the carried-over state and moves the position to (epoch + 1, 0)
// (the original's end-of-epoch test leaves the network silent, docs/papers.md §12), and a chunk at the start
// of an epoch the network is not at does the same first. Evaluation loss: the mean softmax
// cross-entropy of the class-mean output somatic voltages (the network has no cross-entropy of its
// own; docs/papers.md D8 asks for such a CE to be labelled).
//
// Per-chunk extras (chunkOptions): the backprop angle and the per-step recording; the adapter
// joins them per epoch (takeEpochExtras) and reports the mean angle in epochMetrics().
import type { SegregatedRecording } from '../native';
import type { ImageSetLike } from '../train/dataset';
import type { ChunkRequest, ChunkResult, EvalResult, EvaluateOptions, ModelState, TrainableModel } from '../train/model';
import { assembleRecording, SegregatedNetwork, type SegregatedOptions, type TrainRecordOptions, type TrainRecording } from './segregated';

/** The network's options (batchSize among them: 1 is online, B > 1 summed updates of B examples). */
export type SegregatedTrainableOptions = SegregatedOptions;

export interface SegregatedChunkOptions {
  /** Record the angle between local and backprop hidden errors of every example (docs/papers.md §18 item 2). */
  recordAngle?: boolean;
  /** Per-step recording (positions are positions in the epoch; see docs/segregated.md "Recording"). */
  record?: TrainRecordOptions;
}

/** What the chunk options gathered over one whole epoch. */
export interface SegregatedEpochExtras {
  /** 1-based. */
  epoch: number;
  /** Examples x hidden layers, degrees; and the mean per hidden layer (finite values only). */
  angles?: Float32Array;
  angle?: number[];
  recording?: TrainRecording;
}

interface EpochWork {
  epoch: number;
  first: number;
  angles: Float32Array[];
  chunks: SegregatedRecording[];
}

export class SegregatedTrainable implements TrainableModel {
  readonly kind = 'segregated';
  readonly batchSize: number;
  readonly network: SegregatedNetwork;
  /** Extras asked of every chunk; may be changed between calls of the loop. */
  chunkOptions: SegregatedChunkOptions;
  private work: EpochWork | undefined;
  private done: SegregatedEpochExtras | undefined;

  /** A new network from options, or an adapter over an existing one. */
  constructor(network: SegregatedTrainableOptions | SegregatedNetwork, chunkOptions: SegregatedChunkOptions = {}) {
    this.network = network instanceof SegregatedNetwork ? network : new SegregatedNetwork(network);
    this.batchSize = this.network.batchSize;
    this.chunkOptions = chunkOptions;
  }

  /** Frees the network's native memory (the experiment runner calls it when a run ends). */
  dispose(): void {
    this.network.dispose();
  }

  /** W of every layer (1-based, bottom-up) and the feedback weights Y of the hidden layers. */
  layerWeights(): Array<{ name: string; data: Float32Array }> {
    const out: Array<{ name: string; data: Float32Array }> = [];
    this.network.getWeights().forEach((l, m) => {
      out.push({ name: `${m + 1}.W`, data: Float32Array.from(l.W) });
      if (l.Y) out.push({ name: `${m + 1}.Y.feedback`, data: Float32Array.from(l.Y) });
    });
    return out;
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
    const net = this.network.native;
    const pos = net.getPosition();
    if (req.start === 0 && (pos.epoch !== req.epoch || pos.example !== 0)) {
      net.resetState();
      net.setPosition({ epoch: req.epoch, example: 0 });
    } else if (pos.epoch !== req.epoch || pos.example !== req.start) {
      throw new Error(`segregated: the network is at epoch ${pos.epoch}, example ${pos.example}; asked for ` +
        `epoch ${req.epoch}, example ${req.start} (restore a checkpoint taken there)`);
    }
    if (!this.work || this.work.epoch !== req.epoch) this.work = { epoch: req.epoch, first: req.start, angles: [], chunks: [] };
    const { recordAngle, record: rec } = this.chunkOptions;
    const order = req.order.subarray(req.start, req.start + req.count);
    const wantPhases = !!rec && !!(rec.phaseTimes || rec.plateauTimes);
    const local = rec ? (rec.examples ?? []).filter((p) => p >= req.start && p < req.start + req.count).map((p) => p - req.start) : [];
    const r = await net.trainChunk({
      images: req.data.images, labels: req.data.labels, order, batchSize: this.batchSize, recordAngle: !!recordAngle,
      ...(rec && (rec.voltages || wantPhases) ? { record: { examples: local, ...(rec.units ? { units: rec.units } : {}),
        voltages: !!rec.voltages, phaseTimes: wantPhases, plateauTimes: !!rec.plateauTimes } } : {}),
    });
    let lossSum = 0;
    let correct = 0;
    for (let k = 0; k < order.length; k++) {
      lossSum += r.loss[k];
      if (r.prediction[k] === req.data.labels[order[k]]) correct++;
    }
    if (r.angle) this.work.angles.push(r.angle);
    if (r.record) this.work.chunks.push(r.record);
    if (req.start + req.count === req.order.length) {
      this.finishEpoch(req);
      // End of the epoch: silent network, position at the next epoch's start.
      net.resetState();
      net.setPosition({ epoch: req.epoch + 1, example: 0 });
    }
    return { examples: order.length, lossSum, correct };
  }

  private finishEpoch(req: ChunkRequest): void {
    const w = this.work!;
    this.work = undefined;
    const out: SegregatedEpochExtras = { epoch: req.epoch + 1 };
    if (this.chunkOptions.recordAngle && w.angles.length) {
      const hidden = this.network.options.layers.length - 1;
      const angles = new Float32Array(w.angles.reduce((a, x) => a + x.length, 0));
      let at = 0;
      for (const x of w.angles) { angles.set(x, at); at += x.length; }
      const done = angles.length / Math.max(hidden, 1);
      out.angles = angles;
      out.angle = [];
      for (let h = 0; h < hidden; h++) {
        let s = 0;
        let c = 0;
        for (let k = 0; k < done; k++) {
          const v = angles[k * hidden + h];
          if (Number.isFinite(v)) { s += v; c++; }
        }
        out.angle.push(c ? s / c : NaN);
      }
    }
    const rec = this.chunkOptions.record;
    if (rec) {
      const n = req.order.length;
      const recPos = (rec.examples ?? []).filter((p) => p >= w.first);
      out.recording = assembleRecording(rec, w.chunks, req.order, req.data.labels, w.first, n, req.epoch, recPos);
    }
    this.done = out;
  }

  /** The extras of the last finished epoch (once; undefined when there are none). */
  takeEpochExtras(): SegregatedEpochExtras | undefined {
    const d = this.done;
    this.done = undefined;
    return d;
  }

  async epochMetrics(): Promise<Record<string, unknown>> {
    const angle = this.done?.angle;
    return angle ? { angle: angle.map((a) => (Number.isFinite(a) ? a : null)) } : {};
  }

  async evaluate(data: ImageSetLike, options: EvaluateOptions = {}): Promise<EvalResult> {
    this.checkData(data);
    const r = await this.network.evaluate({ images: data.images, labels: data.labels, count: data.count },
      options.signal ? { signal: options.signal } : {});
    return { count: r.count, correct: r.correct, accuracy: r.accuracy, loss: r.loss };
  }

  async exportState(): Promise<ModelState> {
    return this.network.exportState();
  }

  async importState(state: ModelState): Promise<void> {
    this.network.importState(state);
  }
}
