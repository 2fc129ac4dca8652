import { eventToRestored } from './latency.js';
const r = await eventToRestored(Number(process.argv[2] ?? 60));
console.log(JSON.stringify(r));
process.exit(0);
