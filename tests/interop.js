// interop.js: runs an ONNX model in ONNX Runtime (npm's onnxruntime-node,
// which tools/setup-interop.sh installs) for the interop suite.
//   node interop.js MODULES MODEL.onnx IMAGES
// MODULES is the folder holding node_modules/onnxruntime-node; IMAGES holds
// inputs of the model's shape as float32 (interop.py images). Prints each
// input's probabilities on a line, each as it reads back as the same float.
'use strict';
const fs = require('fs');
const path = require('path');

async function main([modules, model, images]) {
  const ort = require(path.resolve(modules, 'node_modules', 'onnxruntime-node'));
  const session = await ort.InferenceSession.create(model);
  const [input] = session.inputMetadata;
  const bytes = fs.readFileSync(images);
  const data = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  const sample = input.shape.slice(1).reduce((a, b) => a * b, 1);
  const n = data.length / sample;
  const feeds = {[input.name]: new ort.Tensor('float32', data, [n].concat(input.shape.slice(1)))};
  const probs = (await session.run(feeds))[session.outputNames[0]];
  const classes = probs.dims[1];
  let text = '';
  for (let i = 0; i < n; i++) {
    const row = Array.from(probs.data.subarray(i * classes, (i + 1) * classes));
    text += row.map((p) => p.toPrecision(9)).join(' ') + '\n';
  }
  process.stdout.write(text);
}

main(process.argv.slice(2)).catch((e) => {
  console.error(`interop.js: ${e.message}`);
  process.exit(1);
});
