// Modules the deployable Functions bundle leaves out (scripts/build.mjs; test/unit/security-supply-chain.test.ts
// checks the bundle with the same list):
// - @azure/functions-core: provided by the Functions host at run time;
// - node-fetch: digest-fetch imports it only when there is no global fetch (never on Node 22); bundling it would
//   ship whatever node_modules held at build time (a devDependency here) into the deployed app;
// - supports-color: `debug` requires it inside try/catch only to colour terminal output.
export const BUNDLE_EXTERNALS = ['@azure/functions-core', 'node-fetch', 'supports-color'];
