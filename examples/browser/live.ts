/**
 * Live explanations: every frame of a camera or a video file explained and painted into a canvas.
 *
 * - The frame is read with `tf.browser.fromPixels`, centre-cropped to a square, shown at the
 *   canvas's size and fed to the model at its input size.
 * - One call of the explainer gives the map *and* the prediction (`result.output`): no separate
 *   `model.predict`. The map is painted over the frame with `overlay` and drawn with
 *   `tf.browser.toPixels` (the one read-back drawing needs); the class and its probability are two
 *   numbers read asynchronously with `data()`. Nothing else is read back from the GPU.
 * - Frames are dropped, never queued: a frame that arrives while the previous one is still being
 *   explained is skipped (`requestVideoFrameCallback` where the browser has it, else
 *   `requestAnimationFrame`, with a busy flag).
 * - `stop()` waits for the frame in flight, stops the camera, disposes the explainer it was given
 *   ownership of: every tensor the session made is freed.
 */
import * as tf from '@tensorflow/tfjs';
import type { CamMethodName, Colormap, Explainer, ExplainerCam } from 'tfcam';
import { overlay } from 'tfcam';

/** How the model wants its pixels. */
export type PixelRange = '0-1' | '-1-1' | '0-255';

/** What the live loop reads on every frame (so that the controls apply at once). */
export interface LiveSettings {
  /** Explain each frame (true) or only predict (false: the frame is drawn as it is). */
  explain: boolean;
  method: CamMethodName;
  /** Layer name, or '' for the default. */
  layer: string;
  alpha: number;
  colormap: Colormap;
}

/** Counters of a running session. */
export interface LiveStats {
  running: boolean;
  /** Frames explained (or predicted) and drawn. */
  frames: number;
  /** Frames skipped because the previous one was still being processed. */
  dropped: number;
  /** Frames per second over the last two seconds. */
  fps: number;
  /** Mean time from a frame's arrival to its drawing, ms (last two seconds). */
  latencyMs: number;
  /** The last frame's class and probability. */
  classIndex: number;
  probability: number;
}

/** Scales int32/float 0..255 pixels to the model's range. */
export function toModelRange(pixels: tf.Tensor, range: PixelRange): tf.Tensor {
  return tf.tidy(() => {
    const x = tf.cast(pixels, 'float32');
    if (range === '0-255') return x;
    if (range === '-1-1') return tf.sub(tf.div(x, 127.5), 1);
    return tf.div(x, 255);
  });
}

/** The centred square of an `[h, w, 3]` frame, resized to `size`, float32 0..255. */
export function centreSquare(frame: tf.Tensor3D, size: [number, number]): tf.Tensor3D {
  return tf.tidy(() => {
    const [h, w] = frame.shape;
    const side = Math.min(h, w);
    const top = Math.floor((h - side) / 2);
    const left = Math.floor((w - side) / 2);
    const square = tf.slice(frame, [top, left, 0], [side, side, 3]);
    return tf.image.resizeBilinear(square, size, false, true);
  });
}

type FrameCallbackVideo = HTMLVideoElement & {
  requestVideoFrameCallback?: (cb: () => void) => number;
  cancelVideoFrameCallback?: (handle: number) => void;
};

/** A live session on one video element and one canvas. */
export class LiveSession {
  private running = false;
  private busy = false;
  private inFlight: Promise<void> = Promise.resolve();
  private handle: { video: number } | { frame: number } | null = null;
  private times: Array<{ at: number; ms: number }> = [];
  private readonly stats: LiveStats = { running: false, frames: 0, dropped: 0, fps: 0, latencyMs: 0, classIndex: -1, probability: 0 };

  /**
   * @param video - the source (a camera stream or a file), playing
   * @param canvas - where frames are drawn (its width and height are the drawn size)
   * @param explainer - the explainer to use; the session disposes it in `stop()`
   * @param predict - the plain prediction, for frames not explained
   * @param inputSize - the model's input height and width
   * @param range - the model's pixel range
   * @param settings - read on every frame
   * @param onFrame - called after each drawn frame
   */
  constructor(
    private readonly video: HTMLVideoElement,
    private readonly canvas: HTMLCanvasElement,
    private readonly explainer: Explainer,
    private readonly predict: (x: tf.Tensor4D) => tf.Tensor,
    private readonly inputSize: [number, number],
    private readonly range: PixelRange,
    private readonly settings: () => LiveSettings,
    private readonly onFrame: (stats: Readonly<LiveStats>) => void,
  ) {}

  /** Starts explaining frames as they come. */
  start(): void {
    this.running = true;
    this.stats.running = true;
    this.schedule();
  }

  /** The counters so far. */
  current(): Readonly<LiveStats> {
    return { ...this.stats };
  }

  /** Clears the counters (e.g. after switching between explaining and predicting). */
  resetStats(): void {
    Object.assign(this.stats, { frames: 0, dropped: 0, fps: 0, latencyMs: 0 });
    this.times = [];
  }

  /** Stops: no new frame is taken, the frame in flight finishes, the explainer is disposed. */
  async stop(): Promise<void> {
    this.running = false;
    this.stats.running = false;
    const v = this.video as FrameCallbackVideo;
    if (this.handle !== null && 'video' in this.handle) v.cancelVideoFrameCallback?.(this.handle.video);
    if (this.handle !== null && 'frame' in this.handle) cancelAnimationFrame(this.handle.frame);
    this.handle = null;
    await this.inFlight;
    this.explainer.dispose();
  }

  private schedule(): void {
    if (!this.running) return;
    const v = this.video as FrameCallbackVideo;
    if (typeof v.requestVideoFrameCallback === 'function') this.handle = { video: v.requestVideoFrameCallback(() => this.onVideoFrame()) };
    else this.handle = { frame: requestAnimationFrame(() => this.onVideoFrame()) };
  }

  /** One new frame: processed if the previous one is done, dropped otherwise. */
  private onVideoFrame(): void {
    this.schedule();
    if (this.video.readyState < 2) return;
    if (this.busy) {
      this.stats.dropped++;
      return;
    }
    this.busy = true;
    this.inFlight = this.process().finally(() => {
      this.busy = false;
    });
  }

  private async process(): Promise<void> {
    const started = performance.now();
    const s = this.settings();
    const size: [number, number] = [this.canvas.height, this.canvas.width];
    // Everything synchronous in one tidy: only the picture to draw and two numbers survive it.
    const { picture, top } = tf.tidy(() => {
      const frame = tf.browser.fromPixels(this.video);
      const shown = centreSquare(frame, size);
      const input = toModelRange(centreSquare(frame, this.inputSize), this.range) as tf.Tensor3D;
      if (!s.explain) {
        const out = this.predict(tf.expandDims(input, 0) as tf.Tensor4D);
        const probs = tf.squeeze(out, [0]);
        return { picture: tf.cast(shown, 'int32'), top: tf.stack([tf.cast(tf.argMax(probs), 'float32'), tf.max(probs)]) };
      }
      const cam = (this.explainer[s.method] as ExplainerCam)(input, { validate: false, ...(s.layer === '' ? {} : { layer: s.layer }) });
      const painted = overlay(shown, cam.heatmap, { alpha: s.alpha, colormap: s.colormap, imageRange: '0-255', validate: false });
      return { picture: painted, top: tf.stack([tf.cast(cam.classIndex, 'float32'), tf.max(cam.output)]) };
    });
    try {
      await tf.browser.toPixels(picture as tf.Tensor3D, this.canvas);
      const [classIndex, probability] = await top.data();
      this.stats.classIndex = classIndex ?? -1;
      this.stats.probability = probability ?? 0;
    } finally {
      tf.dispose([picture, top]);
    }
    const now = performance.now();
    this.times.push({ at: now, ms: now - started });
    while (this.times.length > 2 && now - (this.times[0] as { at: number }).at > 2000) this.times.shift();
    this.stats.frames++;
    const first = this.times[0] as { at: number };
    this.stats.fps = this.times.length > 1 ? ((this.times.length - 1) * 1000) / (now - first.at) : 0;
    this.stats.latencyMs = this.times.reduce((t, x) => t + x.ms, 0) / this.times.length;
    this.onFrame(this.stats);
  }
}
