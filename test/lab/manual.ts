// Builds the bonded lab and leaves it up for poking at by hand: node dist/test/lab/manual.js
// It tears down on Ctrl-C (SIGINT) like the tests.
import { buildBondedLab } from './scenario.js';

const { lab, fullSeconds, bondedSeconds, applyOutput } = await buildBondedLab();
for (const [n, out] of Object.entries(applyOutput)) console.log(`== ${n}\n${out}`);
console.log(`lab ${lab.id} up; all adjacencies Full ${fullSeconds.toFixed(1)} s, bonded ${bondedSeconds.toFixed(1)} s after apply`);
console.log(`enter a node: nsenter --net=/run/netns/${lab.id}-hub --mount=${lab.dir}/hub.mnt bash`);
await new Promise(() => setInterval(() => undefined, 1 << 30));
