/**
 * webgl in Chromium (WebGL2 on SwiftShader): the cross-backend suite, no device-to-host reads, and
 * the pytorch-grad-cam reference fixtures for Grad-CAM.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gradCam } from '../../src/index.js';
import { BROWSER_ORACLE_CASES, loadOracleModelOverHttp, oracleCaseOverHttp, oracleInputsOverHttp } from './oracle-browser.js';
import { CASES, SUBJECTS, defineBackendSuite, type CaseResult, type Subject, type SubjectName } from './suite.js';
import { activateBackend, recordReads } from './tools.js';

defineBackendSuite('webgl');

function tensorsOf(result: CaseResult): tf.Tensor[] {
  const values = 'dataId' in result ? [result] : Object.values(result);
  return values.filter((v): v is tf.Tensor => typeof v === 'object' && v !== null && 'dataId' in v);
}

describe('webgl: no device-to-host reads (readSync / read) during any call', () => {
  const subjects = new Map<SubjectName, Subject>();
  beforeAll(async () => {
    await activateBackend('webgl');
    // The precision the comparisons above ran at (SwiftShader renders to float32 textures).
    expect(tf.env().getBool('WEBGL_RENDER_FLOAT32_ENABLED')).toBe(true);
  });
  afterAll(() => {
    for (const s of subjects.values()) {
      s.model.dispose();
      tf.dispose([s.input, s.image, s.levels, s.heatmap, s.signed, s.channelWeights, s.rawMap]);
    }
  });

  // Models and inputs are created on webgl (nothing is moved from another backend). Each case runs on
  // the first of its subjects (MobileNetV2 is left to the suite above: shader compilation is slow here).
  const runs = CASES.filter((c) => c.reads !== true).flatMap((c) => {
    const subject = (c.subjects ?? ['dag']).find((n) => n !== 'mobilenet');
    return subject === undefined ? [] : [[`${c.name ?? c.fn} on ${subject}`, c, subject] as const];
  });
  it('sees a dataSync() (self-check of the read recorder)', async () => {
    // Large enough to run on the GPU (webgl keeps small ops on host data on the CPU, which reads nothing).
    const t = tf.add(tf.ones([1024]), 1);
    const { reads } = await recordReads(() => t.dataSync());
    t.dispose();
    expect(reads.map((r) => r.method)).toContain('backend webgl.readSync');
  });

  it.each(runs)('%s', async (_title, c, name) => {
    expect(tf.getBackend()).toBe('webgl');
    let s = subjects.get(name);
    if (s === undefined) {
      s = SUBJECTS[name]();
      subjects.set(name, s);
    }
    const subject = s;
    const { value, reads } = await recordReads(() => c.run(subject));
    expect(tf.getBackend()).toBe('webgl');
    // Reading the result afterwards is the caller's choice (and allowed).
    await Promise.all(tensorsOf(value).map((t) => t.data()));
    tf.dispose(value as tf.TensorContainer);
    expect(reads.map((r) => `${r.method}\n${r.stack}`)).toEqual([]);
  });
});

describe('webgl: gradCam matches pytorch-grad-cam (test/fixtures/cam-oracle)', () => {
  const models = new Map<string, tfl.LayersModel>();
  const inputs = new Map<string, tf.Tensor4D>();
  beforeAll(async () => {
    await activateBackend('webgl');
    for (const name of new Set(BROWSER_ORACLE_CASES.map(([n]) => n))) {
      models.set(name, await loadOracleModelOverHttp(name));
      inputs.set(name, tf.tensor4d((await oracleInputsOverHttp(name)).data));
    }
  });
  afterAll(() => {
    for (const m of models.values()) m.dispose();
    tf.dispose([...inputs.values()]);
  });

  it('serves every fixture model', () => {
    expect(new Set(BROWSER_ORACLE_CASES.map(([n]) => n))).toEqual(new Set(['a_sequential', 'b_residual', 'c_separable']));
  });

  it.each(BROWSER_ORACLE_CASES)('%s %s', async (name, file) => {
    expect(tf.getBackend()).toBe('webgl');
    const c = await oracleCaseOverHttp(name, file);
    const ref = c.methods['GradCAM'];
    if (ref === undefined) throw new Error(`${name}/${file} has no GradCAM reference`);
    const model = models.get(name) as tfl.LayersModel;
    const x = tf.slice(inputs.get(name) as tf.Tensor4D, [c.input_index], [1]);
    const common = { layer: 'last_conv', target: c.class_index, logits: c.variant !== 'probs' } as const;
    const raw = gradCam(model, x, { ...common, relu: false, normalize: false, resize: false });
    const final = gradCam(model, x, common);
    expect(tf.getBackend()).toBe('webgl');
    expect((await raw.classIndex.data())[0]).toBe(c.class_index);
    const score = (await raw.score.data())[0] as number;
    expect(Math.abs(score - c.score)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(c.score)));
    const rawValues = await raw.heatmap.data();
    const rawRef = ref.raw.flat();
    const scale = Math.max(...rawRef.map(Math.abs), 1e-30);
    const rawDiff = Math.max(...rawRef.map((v, i) => Math.abs((rawValues[i] as number) - v)));
    expect(rawValues.length).toBe(rawRef.length);
    expect(rawDiff / scale).toBeLessThan(1e-5);
    const finalValues = await final.heatmap.data();
    const finalRef = ref.final.flat();
    expect(finalValues.length).toBe(finalRef.length);
    expect(Math.max(...finalRef.map((v, i) => Math.abs((finalValues[i] as number) - v)))).toBeLessThan(1e-4);
    tf.dispose([x, raw, final]);
  });
});
