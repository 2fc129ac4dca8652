// Property tests are reproducible: one fixed seed for every fast-check run unless FC_SEED says otherwise
// (explore with e.g. `FC_SEED=$RANDOM npm test`; a failure prints the seed and path to replay it).
import fc from 'fast-check';

fc.configureGlobal({ seed: Number(process.env.FC_SEED ?? 20261128) });
