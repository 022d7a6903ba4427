const tf=require('@tensorflow/tfjs-core'); require('@tensorflow/tfjs-backend-cpu'); const tfl=require('@tensorflow/tfjs-layers');
const s=tfl.sequential({layers:[tfl.layers.conv2d({inputShape:[8,8,3],filters:2,kernelSize:3,name:'c1'}), tfl.layers.flatten({name:'f'}), tfl.layers.dense({units:3,name:'d'})]});
console.log('seq layers', s.layers.map(l=>l.name), s.model);
console.log('inputs', s.inputs.map(t=>t.id+':'+t.name+':'+t.sourceLayer.getClassName()), 'outputs', s.outputs.map(t=>t.id+':'+t.sourceLayer.name+':'+t.nodeIndex));
const o=s.outputs[0]; console.log(o.inputs.map(t=>t.id), Object.keys(o), o.callArgs);
const i=tfl.input({shape:[8,8,3]}); const oo=s.apply(i); const m=tfl.model({inputs:i,outputs:oo});
console.log(m.layers.map(l=>l.name+':'+l.getClassName()), 's nodes', s.inboundNodes.length, 'built', s.built, !!s.model);
console.log(m.outputs[0].sourceLayer.name, m.outputs[0].nodeIndex, m.outputs[0].inputs.map(t=>t.sourceLayer.name));
