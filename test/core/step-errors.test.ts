/**
 * No raw TensorFlow.js error reaches the caller from a layer tfcam runs (body or head): it becomes an
 * UnsupportedError naming the layer (path and class) with tfjs' message quoted, except tfcam's own
 * errors, which pass through unchanged, and missing kernels, which keep their own message.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { InputError, TfcamError, UnsupportedError, activationsAndGradients, gradCam } from '../../src/index.js';
import { expectThrowsClean } from '../helpers/integrity.js';
import { seedWeights } from '../helpers/models.js';

/** A layer that builds symbolically but throws `make()` whenever it runs on tensors. */
class Throws extends tfl.layers.Layer {
  static className = 'Throws';

  constructor(
    private readonly make: () => unknown,
    name: string,
  ) {
    super({ name });
  }

  override computeOutputShape(shape: tfl.Shape | tfl.Shape[]): tfl.Shape | tfl.Shape[] {
    return shape;
  }

  override call(): tf.Tensor {
    throw this.make();
  }
}

/** input -> conv 'c1' -> [Throws 'bad' here when below] -> conv 'c2' -> [Throws 'bad' when above] -> GAP -> dense. */
function modelWith(make: () => unknown, where: 'above' | 'below'): tfl.LayersModel {
  const input = tfl.input({ shape: [6, 5, 2] });
  const bad = new Throws(make, 'bad');
  let x = tfl.layers.conv2d({ name: 'c1', filters: 3, kernelSize: 3, padding: 'same' }).apply(input) as tfl.SymbolicTensor;
  if (where === 'below') x = bad.apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.conv2d({ name: 'c2', filters: 3, kernelSize: 3, padding: 'same' }).apply(x) as tfl.SymbolicTensor;
  if (where === 'above') x = bad.apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: 2 }).apply(x) as tfl.SymbolicTensor });
  seedWeights(model, 5);
  return model;
}

const x = (): tf.Tensor4D => tf.randomUniform([2, 6, 5, 2], 0, 1, 'float32', 1) as tf.Tensor4D;

describe('errors thrown while a layer runs', () => {
  it.each(['above', 'below'] as const)('turns a raw tfjs error %s the target into an UnsupportedError naming the layer', (where) => {
    const model = modelWith(() => new Error('Error in matMul: inner shapes (4) and (5) of Tensors must match.'), where);
    const input = x();
    const e = expectThrowsClean(
      () => activationsAndGradients(model, input, { layer: 'c2', target: 0 }),
      UnsupportedError,
      /layer 'bad' \(Throws\)/,
    );
    expect(e.message).toMatch(/^activationsAndGradients: 'model' /);
    expect(e.message).toContain('"Error in matMul: inner shapes (4) and (5) of Tensors must match."');
    expect(e.message).toMatch(/choose a target layer above 'bad'/);
    // The same through a CAM method.
    expectThrowsClean(() => gradCam(model, input, { layer: 'c2', target: 0 }), UnsupportedError, /^gradCam: .*layer 'bad' \(Throws\)/);
    input.dispose();
    model.dispose();
  });

  it('quotes a long tfjs message briefly (one line, at most 160 characters)', () => {
    const long = `Something failed:\n${'x'.repeat(400)}`;
    const model = modelWith(() => new Error(long), 'above');
    const input = x();
    const e = expectThrowsClean(
      () => activationsAndGradients(model, input, { layer: 'c2', target: 0 }),
      UnsupportedError,
      /Something failed: x+\.\.\."/,
    );
    const quoted = /"([^"]*)"/.exec(e.message)?.[1] ?? '';
    expect(quoted.length).toBeLessThanOrEqual(160);
    expect(quoted).not.toContain('\n');
    input.dispose();
    model.dispose();
  });

  it('turns a thrown non-Error value into an UnsupportedError too', () => {
    const model = modelWith(() => 'a string', 'above');
    const input = x();
    expectThrowsClean(() => activationsAndGradients(model, input, { layer: 'c2', target: 0 }), UnsupportedError, /"a string"/);
    input.dispose();
    model.dispose();
  });

  it("passes tfcam's own errors through unchanged", () => {
    const own = new InputError({ fn: 'inner', argument: 'x', expected: 'must be fine', got: 'a problem', fix: 'Fix it.' });
    for (const where of ['above', 'below'] as const) {
      const model = modelWith(() => own, where);
      const input = x();
      const e = expectThrowsClean(
        () => activationsAndGradients(model, input, { layer: 'c2', target: 0 }),
        TfcamError,
        /^inner: 'x' must be fine/,
      );
      expect(e).toBe(own);
      input.dispose();
      model.dispose();
    }
  });

  it('keeps the missing-kernel message', () => {
    const backend = tf.getBackend();
    const model = modelWith(() => new Error(`Kernel 'FancyOp' not registered for backend '${backend}'`), 'above');
    const input = x();
    const e = expectThrowsClean(
      () => activationsAndGradients(model, input, { layer: 'c2', target: 0 }),
      UnsupportedError,
      /must use only kernels the '\w+' backend provides/,
    );
    expect(e.message).toContain("layer 'bad' (Throws), which needs kernel 'FancyOp'");
    input.dispose();
    model.dispose();
  });
});
