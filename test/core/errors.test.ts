import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError, LayerError, ModelError, OptionError, TargetError, TfcamError, UnsupportedError, gradCam } from '../../src/index.js';
import { expectModelUnchanged, expectThrowsClean, snapshotModel } from '../helpers/integrity.js';
import { image, multiInputModel, multiOutputModel, sequentialModel, seedWeights } from '../helpers/models.js';

// Loosely typed entry point: these tests pass deliberately wrong arguments.
const call = gradCam as unknown as (model: unknown, input: unknown, options?: unknown) => unknown;

describe('gradCam errors: typed, explicit, leak-free, model untouched', () => {
  let seq: ReturnType<typeof sequentialModel>;
  let x: tf.Tensor4D;
  let before: ReturnType<typeof snapshotModel>;
  beforeAll(() => {
    seq = sequentialModel();
    x = seq.input as tf.Tensor4D;
    before = snapshotModel(seq.model, x);
  });
  afterAll(() => {
    // Every error path below left the model bit-identical.
    expectModelUnchanged(seq.model, x, before);
    seq.model.dispose();
    x.dispose();
  });

  describe('model', () => {
    it('rejects something that is not a LayersModel', () => {
      const e = expectThrowsClean(
        () => call({ predict: () => null }, x),
        ModelError,
        /^gradCam: 'model' must be a tf\.LayersModel .* but got a plain object\. /,
      );
      expect(e).toBeInstanceOf(TfcamError);
      expect((e as TfcamError).code).toBe('INVALID_MODEL');
      expect((e as TfcamError).argument).toBe('model');
      expectThrowsClean(() => call(null, x), ModelError, /'model' must be a tf\.LayersModel.*but got null/);
    });

    it('rejects an unbuilt model', () => {
      const unbuilt = tfl.sequential({ name: 'empty' });
      expectThrowsClean(
        () => call(unbuilt, x),
        ModelError,
        /'model' must be built \(have inputs and outputs\), but got an unbuilt Sequential 'empty'\. Give the first layer an inputShape/,
      );
    });
  });

  describe('input', () => {
    it('rejects a non-tensor', () => {
      expectThrowsClean(
        () => call(seq.model, [[1, 2, 3]]),
        InputError,
        /'input' must be a tf\.Tensor of shape \[batch, 16, 16, 3\] or \[16, 16, 3\], but got an array of length 1/,
      );
      expectThrowsClean(() => call(seq.model, 'img.png'), InputError, /'input' must be a tf\.Tensor.*but got 'img\.png'/);
    });

    it('rejects a wrong rank', () => {
      const v = tf.zeros([16, 16]);
      expectThrowsClean(
        () => call(seq.model, v),
        InputError,
        /'input' must have rank 4 \[batch, 16, 16, 3\] or 3 \[16, 16, 3\], but got a float32 tensor of shape \[16, 16\]\. Add the missing axes/,
      );
      v.dispose();
    });

    it.each([
      [[1, 20, 16, 3], /height 16\), but got a float32 tensor of shape \[1, 20, 16, 3\]\. Resize the image to 16x16/],
      [[1, 16, 12, 3], /width 16\).*Resize the image to 16x16/],
      [[1, 16, 16, 4], /channels 3\).*Convert the image to 3 channel/],
    ])('rejects a wrong H/W/C %j', (shape, pattern) => {
      const v = tf.zeros(shape);
      expectThrowsClean(() => call(seq.model, v), InputError, pattern);
      v.dispose();
    });

    it('rejects non-finite values (validate on by default on cpu/wasm) and skips the check with validate: false', () => {
      const bad = tf.tensor4d(
        new Float32Array(16 * 16 * 3).fill(0.5).map((v, i) => (i === 7 ? NaN : v)),
        [1, 16, 16, 3],
      );
      expectThrowsClean(
        () => call(seq.model, bad),
        InputError,
        /'input' must hold finite numbers, but got a tensor containing NaN or Infinity\. .*validate: false/,
      );
      const inf = tf.fill([1, 16, 16, 3], Infinity);
      expectThrowsClean(() => call(seq.model, inf), InputError, /must hold finite numbers/);
      const r = call(seq.model, bad, { validate: false }) as { heatmap: tf.Tensor };
      expect(r.heatmap.shape).toEqual([1, 16, 16]);
      tf.dispose([bad, inf, r as unknown as tf.TensorContainer]);
    });

    it('rejects an empty batch', () => {
      const v = tf.zeros([0, 16, 16, 3]);
      expectThrowsClean(
        () => call(seq.model, v),
        InputError,
        /'input' must hold at least one example, but got a float32 tensor of shape \[0, 16, 16, 3\]/,
      );
      v.dispose();
    });

    it('rejects a disposed tensor and string tensors', () => {
      const v = tf.zeros([1, 16, 16, 3]);
      v.dispose();
      expectThrowsClean(() => call(seq.model, v), InputError, /'input' must be a live tensor, but got a disposed tensor/);
    });

    it('rejects the wrong number of inputs and mismatched batches for a multi-input model', () => {
      const t = multiInputModel();
      expectThrowsClean(() => call(t.model, t.inputs[0]), InputError, /'input' must be an array of 2 tensors .* Pass \[image, meta\]/);
      expectThrowsClean(
        () => call(t.model, [t.inputs[0]]),
        InputError,
        /'input' must hold one tensor per model input \(2\), but got an array of 1/,
      );
      const meta1 = tf.zeros([1, 4]);
      expectThrowsClean(
        () => call(t.model, [t.inputs[0], meta1]),
        InputError,
        /'input\[1\]' must have the same batch size as input\[0\] \(2\)/,
      );
      const metaU = tf.zeros([4]);
      expectThrowsClean(() => call(t.model, [t.inputs[0], metaU]), InputError, /'input\[1\]' must be batched like the other inputs/);
      tf.dispose([meta1, metaU, ...t.inputs]);
      t.model.dispose();
    });
  });

  describe('layer', () => {
    it('rejects an unknown name and lists the candidates', () => {
      expectThrowsClean(
        () => call(seq.model, x, { layer: 'conv9' }),
        LayerError,
        /^gradCam: 'layer' must name a layer of the model, but got 'conv9'\. Use one of: c1, pool, last_conv/,
      );
    });

    it('rejects an index out of range', () => {
      expectThrowsClean(
        () => call(seq.model, x, { layer: 9 }),
        LayerError,
        /'layer' as an index must be an integer in \[-5, 4\] \(model\.layers has 5 layers\), but got 9/,
      );
      expectThrowsClean(() => call(seq.model, x, { layer: -6 }), LayerError, /in \[-5, 4\]/);
    });

    it('accepts an index (negative counts from the end)', () => {
      const a = call(seq.model, x, { layer: 2 }) as { layer: string };
      const b = call(seq.model, x, { layer: -3 }) as { layer: string };
      expect(a.layer).toBe('last_conv');
      expect(b.layer).toBe('last_conv');
      tf.dispose([a, b] as unknown as tf.TensorContainer);
    });

    it('rejects a layer whose output is not rank 4', () => {
      expectThrowsClean(
        () => call(seq.model, x, { layer: 'gap' }),
        LayerError,
        /'layer' must have a rank-4 output \[batch, height, width, channels\], but got 'gap' with output shape \[null, 6\]/,
      );
      expectThrowsClean(() => call(seq.model, x, { layer: -1 }), LayerError, /rank-4 output.*index -1 \('out'\)/);
    });

    it('rejects a layer that is not connected to the explained output', () => {
      const t = multiOutputModel();
      expectThrowsClean(
        () => call(t.model, t.input, { layer: 'c2', outputIndex: 0 }),
        LayerError,
        /'layer' must be connected to the explained model output, but got 'c2', which the output does not depend on/,
      );
      // The same layer is fine for the output it feeds.
      const r = call(t.model, t.input, { layer: 'c2', outputIndex: 1 });
      tf.dispose(r as tf.TensorContainer);
      t.model.dispose();
    });

    it('rejects a Layer object from another model', () => {
      const other = tfl.layers.conv2d({ filters: 2, kernelSize: 1, name: 'stranger' });
      expectThrowsClean(
        () => call(seq.model, x, { layer: other }),
        LayerError,
        /'layer' must be a layer of this model .* but got layer 'stranger', which is not part of it/,
      );
    });

    it('rejects a shared layer unless the call is chosen with node', () => {
      const inp = tfl.input({ shape: [8, 8, 3] });
      const shared = tfl.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', activation: 'relu', name: 'shared' });
      const y = shared.apply(shared.apply(inp)) as tfl.SymbolicTensor;
      const model = tfl.model({
        inputs: inp,
        outputs: tfl.layers.dense({ units: 2 }).apply(tfl.layers.globalAveragePooling2d({}).apply(y)) as tfl.SymbolicTensor,
      });
      seedWeights(model);
      const v = image(1, 8, 3, 2);
      expectThrowsClean(
        () => call(model, v, { layer: 'shared' }),
        LayerError,
        /'layer' must be called once in the model, or the call must be chosen, but got 'shared', a shared layer called 2 times\. Pass options\.node \(0 to 1\)/,
      );
      expectThrowsClean(
        () => call(model, v, { layer: 'shared', node: 2 }),
        LayerError,
        /'node' must be in \[0, 1\] for 'shared', but got 2/,
      );
      const r0 = call(model, v, { layer: 'shared', node: 0, resize: false, normalize: false, relu: false }) as { heatmap: tf.Tensor };
      const r1 = call(model, v, { layer: 'shared', node: 1, resize: false, normalize: false, relu: false }) as { heatmap: tf.Tensor };
      expect(tf.max(tf.abs(tf.sub(r0.heatmap, r1.heatmap))).dataSync()[0]).toBeGreaterThan(0);
      tf.dispose([v, r0, r1] as unknown as tf.TensorContainer);
      model.dispose();
    });

    it('rejects a layer option of the wrong type', () => {
      expectThrowsClean(
        () => call(seq.model, x, { layer: { name: 'c1' } }),
        LayerError,
        /'layer' must be a layer name, an index into model\.layers, or a Layer object, but got a plain object/,
      );
    });
  });

  describe('target', () => {
    it('rejects a class index out of range', () => {
      expectThrowsClean(
        () => call(seq.model, x, { target: 5 }),
        TargetError,
        /^gradCam: 'target' must be a class index in \[0, 4\] \(the output has 5 classes\), but got 5\./,
      );
      expectThrowsClean(() => call(seq.model, x, { target: -1 }), TargetError, /in \[0, 4\].*but got -1/);
    });

    it('rejects a non-integer index', () => {
      expectThrowsClean(() => call(seq.model, x, { target: 1.5 }), TargetError, /'target' must hold integer class indices, but got 1\.5/);
      expectThrowsClean(() => call(seq.model, x, { target: [1, '2'] }), TargetError, /integer class indices, but got '2'/);
    });

    it('rejects one index per example when the length differs from the batch (no truncation)', () => {
      expectThrowsClean(
        () => call(seq.model, x, { target: [1, 2, 3] }),
        TargetError,
        /'target' must have one class index per example \(2\), but got 3 indices/,
      );
      expectThrowsClean(() => call(seq.model, x, { target: [1] }), TargetError, /one class index per example \(2\), but got 1 indices/);
    });

    it('rejects a target function returning the wrong shape', () => {
      expectThrowsClean(
        () => call(seq.model, x, { target: (o: tf.Tensor) => tf.sum(o) }),
        TargetError,
        /'target' as a function must return a Tensor1D of 2 scores \(one per example\), but got a float32 tensor of shape \[\]/,
      );
      expectThrowsClean(
        () => call(seq.model, x, { target: () => 3 }),
        TargetError,
        /must return a Tensor1D of 2 scores \(one per example\), but got 3/,
      );
    });

    it('rejects a target of the wrong type', () => {
      expectThrowsClean(
        () => call(seq.model, x, { target: 'cat' }),
        TargetError,
        /'target' must be a class index, an array of class indices, or a function/,
      );
    });
  });

  describe('options', () => {
    it('rejects outputIndex out of range', () => {
      expectThrowsClean(
        () => call(seq.model, x, { outputIndex: 1 }),
        OptionError,
        /'options\.outputIndex' must be an integer in \[0, 0\] \(the model has 1 output\), but got 1/,
      );
    });

    it('rejects unknown option keys with a spelling hint', () => {
      expectThrowsClean(
        () => call(seq.model, x, { layr: 'c1' }),
        OptionError,
        /^gradCam: 'options\.layr' is not a known option, but got 'c1'\. Did you mean 'layer'\? Known options: layer, node, target/,
      );
      expectThrowsClean(() => call(seq.model, x, { colour: 1 }), OptionError, /'options\.colour' is not a known option/);
    });

    it('rejects ill-typed options', () => {
      expectThrowsClean(() => call(seq.model, x, { relu: 'yes' }), OptionError, /'options\.relu' must be true or false, but got 'yes'/);
      expectThrowsClean(
        () => call(seq.model, x, { resize: [10] }),
        OptionError,
        /'options\.resize' must be true, false or \[height, width\]/,
      );
      expectThrowsClean(() => call(seq.model, x, 'fast'), OptionError, /'options' must be an object, but got 'fast'/);
    });
  });
});

describe('missing kernels', () => {
  /** A layer that fails like a tfjs op whose kernel the backend lacks. */
  class NeedsMissingKernel extends tfl.layers.Layer {
    static className = 'NeedsMissingKernel';
    override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
      void inputs;
      throw new Error(`Kernel 'FancyOp' not registered for backend '${tf.getBackend()}'`);
    }
    override computeOutputShape(shape: tfl.Shape | tfl.Shape[]): tfl.Shape | tfl.Shape[] {
      return shape;
    }
  }

  it('names the layer, the kernel, the backend and the alternative', () => {
    const inp = tfl.input({ shape: [8, 8, 3] });
    const c = tfl.layers.conv2d({ filters: 2, kernelSize: 3, padding: 'same', name: 'conv' }).apply(inp) as tfl.SymbolicTensor;
    const odd = new NeedsMissingKernel({ name: 'odd' }).apply(c) as tfl.SymbolicTensor;
    const model = tfl.model({
      inputs: inp,
      outputs: tfl.layers.dense({ units: 2 }).apply(tfl.layers.globalAveragePooling2d({}).apply(odd)) as tfl.SymbolicTensor,
    });
    const x = tf.zeros([1, 8, 8, 3]);
    const backend = tf.getBackend();
    // In the head (above the target) and in the body (below it).
    expectThrowsClean(
      () => call(model, x, { layer: 'conv' }),
      UnsupportedError,
      new RegExp(
        `^gradCam: 'model' must use only kernels the '${backend}' backend provides, but got layer 'odd' \\(NeedsMissingKernel\\), which needs kernel 'FancyOp'\\. Run on the cpu or webgl backend`,
      ),
    );
    expectThrowsClean(
      () => call(model, x, { layer: 'odd' }),
      UnsupportedError,
      /layer 'odd' \(NeedsMissingKernel\), which needs kernel 'FancyOp'/,
    );
    x.dispose();
    model.dispose();
  });
});
