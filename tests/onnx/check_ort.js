// Run libmimic's exported ONNX models in ONNX Runtime (CPU) and compare the logits with
// libmimic's own (mimic_student_forward), written by gen_models.py.
//
// usage: node check_ort.js OUTDIR/manifest.json
// Criterion, per model and batch: max_ij |ort_ij - ref_ij| / max(max_ij |ref_ij|, 1e-30)
// <= 1e-5 (max-norm relative error over the whole batch of logits).
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

const TOL = 1e-5;

function readF32(path, count) {
  const buf = fs.readFileSync(path);
  if (buf.length !== count * 4) {
    throw new Error(`${path}: ${buf.length} bytes, expected ${count * 4}`);
  }
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = buf.readFloatLE(i * 4);
  return out;
}

async function checkModel(m) {
  const session = await ort.InferenceSession.create(m.path, {
    executionProviders: ['cpu'],
    intraOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  if (JSON.stringify(session.inputNames) !== '["input"]' ||
      JSON.stringify(session.outputNames) !== '["logits"]') {
    throw new Error(`${m.name}: inputs ${session.inputNames}, outputs ${session.outputNames}`);
  }
  const D = m.n_inputs, C = m.n_classes;
  const errors = [];
  for (const c of m.cases) {
    const x = readF32(c.input, c.batch * D);
    const ref = readF32(c.logits, c.batch * C);
    const res = await session.run({ input: new ort.Tensor('float32', x, [c.batch, D]) });
    const y = res.logits;
    if (y.type !== 'float32' || y.dims.length !== 2 || y.dims[0] !== c.batch || y.dims[1] !== C) {
      throw new Error(`${m.name}: logits ${y.type} [${y.dims}], expected float32 [${c.batch}, ${C}]`);
    }
    let maxDiff = 0, maxRef = 0;
    for (let i = 0; i < ref.length; i++) {
      const d = Math.abs(y.data[i] - ref[i]);
      if (!(d <= maxDiff)) maxDiff = d; // NaN propagates into a failure
      maxRef = Math.max(maxRef, Math.abs(ref[i]));
    }
    const rel = maxDiff / Math.max(maxRef, 1e-30);
    errors.push(`b${c.batch} ${rel.toExponential(2)}`);
    if (!(rel <= TOL)) {
      throw new Error(`${m.name} batch ${c.batch}: relative error ${rel} > ${TOL}`);
    }
  }
  if (session.release) await session.release();
  console.log(`ok   ${m.name}: ORT matches libmimic (${errors.join(', ')})`);
}

async function main() {
  if (process.argv.length !== 3) {
    console.error('usage: node check_ort.js manifest.json');
    process.exit(2);
  }
  const manifest = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  for (const m of manifest.models) await checkModel(m);
  console.log(`onnxruntime-node ${ort.env.versions.node}: ${manifest.models.length} models ` +
              `match within ${TOL} (max-norm relative)`);
}

main().catch((e) => {
  console.error(`FAIL ${e.message || e}`);
  process.exit(1);
});
