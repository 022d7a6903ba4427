/**
 * The shapes CNN: four 3x3 conv blocks (conv, BatchNorm, ReLU; max-pooling after the first three),
 * global average pooling and a softmax classifier. 64x64 RGB in [0, 1] -> 5 class probabilities.
 * The last block ('relu4', 8x8x64) is where Grad-CAM looks by default.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { IMAGE_SIZE, SHAPE_CLASSES } from './dataset.js';

export function buildShapesModel(seed = 1): tfl.LayersModel {
  const layers: tfl.layers.Layer[] = [];
  const filters = [16, 32, 64, 64];
  filters.forEach((f, i) => {
    const k = i + 1;
    layers.push(
      tfl.layers.conv2d({
        ...(i === 0 ? { inputShape: [IMAGE_SIZE, IMAGE_SIZE, 3] } : {}),
        filters: f,
        kernelSize: 3,
        padding: 'same',
        useBias: false,
        kernelInitializer: tfl.initializers.heNormal({ seed: seed * 100 + k }),
        name: `conv${k}`,
      }),
      tfl.layers.batchNormalization({ momentum: 0.9, name: `bn${k}` }),
      tfl.layers.reLU({ name: `relu${k}` }),
    );
    if (k < filters.length) layers.push(tfl.layers.maxPooling2d({ poolSize: 2, name: `pool${k}` }));
  });
  layers.push(
    tfl.layers.globalAveragePooling2d({ name: 'gap' }),
    tfl.layers.dense({
      units: SHAPE_CLASSES.length,
      activation: 'softmax',
      kernelInitializer: tfl.initializers.glorotUniform({ seed: seed * 100 + 99 }),
      name: 'predictions',
    }),
  );
  return tfl.sequential({ layers, name: 'shapes_cnn' });
}
