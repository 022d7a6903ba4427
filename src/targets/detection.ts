/**
 * The detection target: the score of detections that match reference boxes.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { TargetFn } from './classification.js';
import { constant, oneHot, rowsOf, targetError } from './common.js';

/** A box `[x1, y1, x2, y2]` (corners, any unit as long as the detector's is the same). */
export type DetectionBox = readonly [number, number, number, number];

/** A reference object: its box and label. */
export interface DetectionReference {
  /** `[x1, y1, x2, y2]`. */
  readonly box: DetectionBox;
  /** The class label the matching detection must have. */
  readonly label: number;
}

/** A detector's output for a batch, as {@link boxScoreTarget} reads it. */
export interface Detections {
  /** `[rows, D, 4]` boxes `x1, y1, x2, y2`. */
  readonly boxes: tf.Tensor;
  /** `[rows, D]` detection scores. */
  readonly scores: tf.Tensor;
  /** `[rows, D]` labels (class indices, as floats or ints). */
  readonly labels: tf.Tensor;
}

/** Options of {@link boxScoreTarget}. */
export interface BoxScoreOptions {
  /** A detection matches a reference when its IoU with it is above this (strictly; default 0.5). */
  iouThreshold?: number | undefined;
  /**
   * How the explained output becomes boxes, scores and labels. Default: the output is
   * `[batch, D, 6]`, one row `x1, y1, x2, y2, score, label` per detection (the usual layout of a
   * detector with post-processing). Runs under the gradient tape: use tensor ops.
   */
  decode?: ((output: tf.Tensor) => Detections) | undefined;
}

function defaultDecode(fn: string, output: tf.Tensor): Detections {
  if (output.rank !== 3 || output.shape[2] !== 6) {
    targetError(
      fn,
      'output',
      'must be [batch, detections, 6] (x1, y1, x2, y2, score, label) without a decode option',
      `an output of shape [${output.shape.join(', ')}]`,
      'Pass options.decode to read boxes, scores and labels from this output.',
    );
  }
  return {
    boxes: tf.slice(output, [0, 0, 0], [-1, -1, 4]),
    scores: tf.squeeze(tf.slice(output, [0, 0, 4], [-1, -1, 1]), [2]),
    labels: tf.squeeze(tf.slice(output, [0, 0, 5], [-1, -1, 1]), [2]),
  };
}

/** `max(a, b)` whose gradient is split evenly between a and b on ties (torch's `maximum`). */
function maxSplit(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return tf.mul(tf.add(tf.add(b, tf.relu(tf.sub(a, b))), tf.add(a, tf.relu(tf.sub(b, a)))), 0.5);
}

/** `min(a, b)` whose gradient is split evenly on ties (torch's `minimum`). */
function minSplit(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return tf.neg(maxSplit(tf.neg(a), tf.neg(b)));
}

/** IoU of `[rows, 1, 4]` references with `[rows, D, 4]` boxes: `[rows, D]` (torchvision's `box_iou`). */
function iou(ref: tf.Tensor, boxes: tf.Tensor): tf.Tensor {
  const coord = (t: tf.Tensor, i: number): tf.Tensor => tf.squeeze(tf.slice(t, [0, 0, i], [-1, -1, 1]), [2]);
  const [rx1, ry1, rx2, ry2] = [0, 1, 2, 3].map((i) => coord(ref, i)) as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
  const [bx1, by1, bx2, by2] = [0, 1, 2, 3].map((i) => coord(boxes, i)) as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
  // torch.clamp(min=0) passes the gradient at 0; torch.max/min split it evenly on ties.
  const w = tf.maximum(tf.sub(minSplit(rx2, bx2), maxSplit(rx1, bx1)), 0);
  const h = tf.maximum(tf.sub(minSplit(ry2, by2), maxSplit(ry1, by1)), 0);
  const inter = tf.mul(w, h);
  const areaRef = tf.mul(tf.sub(rx2, rx1), tf.sub(ry2, ry1));
  const areaBox = tf.mul(tf.sub(bx2, bx1), tf.sub(by2, by1));
  return tf.div(inter, tf.sub(tf.add(areaRef, areaBox), inter));
}

/**
 * The detection target (pytorch-grad-cam's `FasterRCNNBoxScoreTarget`): for each reference
 * `(box, label)`, the detection with the highest IoU with the box (the first on ties) counts if that
 * IoU is above `iouThreshold` and its label equals the reference's; the score is the sum, over the
 * references, of `IoU + score` of the counted detections (0 when none count or there are no
 * detections). Differentiable in the detection boxes (through the IoU) and scores.
 *
 * Same formula as pytorch-grad-cam (which reads a torchvision detection dict): the best-IoU
 * detection must have the label (a lower-IoU detection with the right label does not count), and
 * two references may count the same detection. TF.js detectors return tensors, so the output is read
 * as `[batch, D, 6]` rows `x1, y1, x2, y2, score, label`, or through `options.decode`.
 *
 * @param references - the objects to explain, for the whole batch, or one list per example
 * @param options - {@link BoxScoreOptions}
 * @returns a target function for the `target` option
 * @throws {@link TargetError} for bad references or options (when building), or an output the
 *   decoder cannot read (when called)
 *
 * @example
 * ```ts
 * const target = boxScoreTarget([{ box: [40, 30, 120, 110], label: 3 }], { iouThreshold: 0.5 });
 * const { heatmap } = gradCam(model, image, { target });
 * ```
 */
export function boxScoreTarget(
  references: readonly DetectionReference[] | ReadonlyArray<readonly DetectionReference[]>,
  options?: BoxScoreOptions,
): TargetFn {
  const fn = 'boxScoreTarget';
  const okRef = (r: unknown): r is DetectionReference => {
    const x = r as DetectionReference | null;
    return (
      x !== null &&
      typeof x === 'object' &&
      Array.isArray(x.box) &&
      x.box.length === 4 &&
      x.box.every((v) => typeof v === 'number' && Number.isFinite(v)) &&
      typeof x.label === 'number' &&
      Number.isFinite(x.label)
    );
  };
  const perExample = Array.isArray(references) && references.length > 0 && references.every((r) => Array.isArray(r));
  const lists = (perExample ? references : [references]) as ReadonlyArray<readonly unknown[]>;
  if (!Array.isArray(references) || references.length === 0 || !lists.every((l) => Array.isArray(l) && l.every(okRef))) {
    targetError(
      fn,
      'references',
      'must be a non-empty array of { box: [x1, y1, x2, y2], label }, or one such array per example',
      references,
      'For example [{ box: [10, 10, 50, 50], label: 1 }].',
    );
  }
  const thr = options?.iouThreshold ?? 0.5;
  if (typeof thr !== 'number' || !Number.isFinite(thr))
    targetError(fn, 'options.iouThreshold', 'must be a finite number', thr, 'Omit it for 0.5.');
  const decode = options?.decode;
  if (decode !== undefined && typeof decode !== 'function')
    targetError(
      fn,
      'options.decode',
      'must be a function (output) => { boxes, scores, labels }',
      decode,
      'Omit it for [batch, D, 6] outputs.',
    );
  // References padded to the longest list, with a validity flag: [n, R, 4], [n, R], [n, R].
  const r = Math.max(...lists.map((l) => l.length));
  const boxTable = lists.map((l) =>
    Array.from({ length: r }, (_, i) => [...((l[i] as DetectionReference | undefined)?.box ?? [0, 0, 0, 0])]),
  );
  const labelTable = lists.map((l) => Array.from({ length: r }, (_, i) => (l[i] as DetectionReference | undefined)?.label ?? -1));
  const validTable = lists.map((l) => Array.from({ length: r }, (_, i) => (i < l.length ? 1 : 0)));
  return (output, examples) => {
    const det = decode === undefined ? defaultDecode(fn, output) : decode(output);
    const rows = output.shape[0] as number;
    const d = det.scores.shape[1] as number;
    if (
      det.boxes.rank !== 3 ||
      det.boxes.shape[2] !== 4 ||
      det.scores.rank !== 2 ||
      det.labels.rank !== 2 ||
      det.labels.shape[1] !== d ||
      det.boxes.shape[1] !== d
    ) {
      targetError(
        fn,
        'options.decode',
        'must return boxes [rows, D, 4], scores [rows, D] and labels [rows, D]',
        `boxes [${det.boxes.shape.join(', ')}], scores [${det.scores.shape.join(', ')}], labels [${det.labels.shape.join(', ')}]`,
        'Reshape the detector output to one row per detection.',
      );
    }
    if (d === 0) return tf.zeros([rows]) as tf.Tensor1D;
    const refBoxes = rowsOf(tf.tensor3d(boxTable), examples); // [rows, R, 4]
    const refLabels = rowsOf(tf.tensor2d(labelTable), examples); // [rows, R]
    const valid = rowsOf(tf.tensor2d(validTable), examples); // [rows, R]
    const labels = tf.cast(det.labels, 'float32');
    let total: tf.Tensor = tf.zeros([rows]);
    for (let k = 0; k < r; k++) {
      const ref = tf.slice(refBoxes, [0, k, 0], [-1, 1, 4]);
      const ious = iou(ref, det.boxes); // [rows, D]
      // The best-IoU detection (first on ties) and whether it counts: constants for the gradient.
      const best = constant(ious, (x) => oneHot(tf.argMax(x, 1), d));
      const label = tf.slice(refLabels, [0, k], [-1, 1]);
      const bestIou = tf.sum(tf.mul(ious, best), 1);
      const bestLabel = tf.sum(tf.mul(labels, best), 1);
      const counts = constant(bestIou, (x) =>
        tf.mul(
          tf.cast(tf.logicalAnd(tf.greater(x, thr), tf.equal(bestLabel, tf.reshape(label, [-1]))), 'float32'),
          tf.reshape(tf.slice(valid, [0, k], [-1, 1]), [-1]),
        ),
      );
      total = tf.add(total, tf.mul(counts, tf.add(bestIou, tf.sum(tf.mul(det.scores, best), 1))));
    }
    return total as tf.Tensor1D;
  };
}
