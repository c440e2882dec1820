// ONNX Runtime (CPU, onnxruntime-node) side of bench/onnx_latency: times session.run on the
// models and inputs written by onnx_latency (listed in OUTDIR/models.txt), with
// intraOpNumThreads = THREADS.
//
// usage: node bench_ort.js OUTDIR THREADS ITERS
// Prints, per model layout (gemm, and matmul for float32 models) and batch:
// ort-<layout> <name> <batch> <median_us> <p10_us> <p90_us>, and the binding's own cost on a
// trivial model (Slice of the input to C columns) as ort-overhead. Checks ORT's logits
// against libmimic's (max-norm rel. 1e-5). Compact models (float16 / int8 weights behind
// Cast / DequantizeLinear) are folded to float32 weights by ORT when it loads them.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require(path.join(__dirname, '../../tests/onnx/node_modules/onnxruntime-node'));

const BATCHES = [1, 256];

function models(dir) {
  return fs.readFileSync(path.join(dir, 'models.txt'), 'utf8').trim().split('\n').map((l) => {
    const [name, D, C, dtype] = l.split(' ');
    return { name, D: Number(D), C: Number(C), dtype };
  });
}

function readF32(p) {
  const b = fs.readFileSync(p);
  return new Float32Array(b.buffer, b.byteOffset, b.length / 4).slice();
}

function pct(t, q) {
  return t[Math.min(t.length - 1, Math.floor(t.length * q))];
}

async function timeRuns(session, feeds, n) {
  for (let i = 0; i < Math.floor(n / 10) + 5; i++) await session.run(feeds);
  const t = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    t[i] = Number(process.hrtime.bigint() - t0) / 1e3;
  }
  t.sort();
  return `${pct(t, 0.5).toFixed(1)} ${pct(t, 0.1).toFixed(1)} ${pct(t, 0.9).toFixed(1)}`;
}

async function session(file, threads) {
  return ort.InferenceSession.create(file, {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
}

async function main() {
  const [dir, threadsArg, itersArg] = process.argv.slice(2);
  const threads = Number(threadsArg), iters = Number(itersArg);
  if (!dir || !(threads >= 1) || !(iters >= 10)) {
    console.error('usage: node bench_ort.js OUTDIR THREADS ITERS');
    process.exit(2);
  }
  const overhead = await session(path.join(dir, 'overhead.onnx'), threads);
  const configs = models(dir);
  for (const c of configs) {
    for (const layout of c.dtype === 'float32' ? ['gemm', 'matmul'] : ['gemm']) {
      const s = await session(path.join(dir, `${c.name}.${layout}.onnx`), threads);
      for (const b of BATCHES) {
        const x = readF32(path.join(dir, `${c.name}.b${b}.input.f32`));
        const ref = readF32(path.join(dir, `${c.name}.b${b}.logits.f32`));
        const feeds = { input: new ort.Tensor('float32', x, [b, c.D]) };
        const y = (await s.run(feeds)).logits.data;
        let diff = 0, mag = 0;
        for (let i = 0; i < ref.length; i++) {
          diff = Math.max(diff, Math.abs(y[i] - ref[i]));
          mag = Math.max(mag, Math.abs(ref[i]));
        }
        if (!(diff / Math.max(mag, 1e-30) <= 1e-5)) {
          throw new Error(`${c.name}.${layout} b${b}: ORT differs from libmimic (${diff / mag})`);
        }
        const n = b === 1 ? iters : Math.max(20, Math.floor(iters / 50));
        console.log(`ort-${layout} ${c.name} ${b} ${await timeRuns(s, feeds, n)}`);
        if (layout === 'gemm' && c === configs[0]) {
          console.log(`ort-overhead - ${b} ${await timeRuns(overhead, feeds, n)}`);
        }
      }
    }
  }
  console.log(`# onnxruntime-node ${ort.env.versions.node}`);
}

main().catch((e) => {
  console.error(`bench_ort: ${e.message || e}`);
  process.exit(1);
});
