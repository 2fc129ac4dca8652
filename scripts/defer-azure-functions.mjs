// An esbuild plugin for the deployable Functions bundle (scripts/build.mjs): @azure/functions ships one webpack
// bundle (dist/azure-functions.js) that evaluates all of its modules at import, although registering functions
// (app.http/timer/... and the programming model handed to the host) needs only a few of them. The rest serve
// invocations: the invocation model with the HTTP request/response classes, the HTTP streaming proxy (node:http,
// node:net, cookie) and @azure/functions-extensions-base, the hook contexts and the MCP helpers. They cost about
// half of the entry's import (bench/coldstart.ts), so this plugin loads each of them on first use instead: their
// `__webpack_require__("<id>")` calls become a proxy that requires the module the first time a property is read.
// That is safe because TypeScript's CommonJS output reads an import only through its properties (`x_1.Foo`), at the
// point of use. The build fails if the library's shape changes (a listed module or the webpack runtime is missing),
// so an upgrade cannot silently undo or break this. Checked by test/integration/functions-registration.test.ts,
// which registers the bundle and runs an invocation through the library's invocation model.

/** Module ids (webpack's, from the library's src/) that only invocations, hooks or HTTP streaming use. */
export const DEFERRED_MODULES = [
  './src/InvocationModel.ts',
  './src/InvocationContext.ts',
  './src/http/httpProxy.ts',
  './src/http/HttpRequest.ts',
  './src/http/HttpResponse.ts',
  './src/input.ts',
  './src/hooks/HookContext.ts',
  './src/hooks/AppStartContext.ts',
  './src/hooks/AppTerminateContext.ts',
  './src/hooks/InvocationHookContext.ts',
  './src/hooks/LogHookContext.ts',
  './src/hooks/PostInvocationContext.ts',
  './src/hooks/PreInvocationContext.ts',
  './src/mcp/McpPromptArgumentBuilder.ts',
  './src/mcp/McpToolResponse.ts',
  './src/mcp/PromptInvocationContext.ts',
  './src/utils/toolProperties.ts',
  './src/utils/mcpContentMarker.ts',
];

const RUNTIME_ANCHOR = 'const __webpack_module_cache__ = {};';
// One proxy per module id, so identity holds across importers; `real` is the module's exports once loaded.
const LAZY_REQUIRE = `
const __deferred_proxies__ = {};
function __deferred_require__(id) {
  let real;
  const load = () => (real ??= __webpack_require__(id));
  return (__deferred_proxies__[id] ??= new Proxy({}, {
    get: (_, k) => load()[k],
    has: (_, k) => k in load(),
    ownKeys: () => Reflect.ownKeys(load()),
    getOwnPropertyDescriptor: (_, k) => {
      const d = Reflect.getOwnPropertyDescriptor(load(), k);
      return d && { ...d, configurable: true };
    },
  }));
}`;

/** Rewrites the library's bundle text; throws naming what it could not find. */
export function deferModules(source, ids = DEFERRED_MODULES) {
  if (!source.includes(RUNTIME_ANCHOR)) throw new Error('@azure/functions: webpack module cache not found');
  const seen = new Set();
  const out = source.replace(/__webpack_require__\((\/\*![^*]*\*\/ )?"([^"]+)"\)/g, (call, comment, id) => {
    if (!ids.includes(id)) return call;
    seen.add(id);
    return `__deferred_require__(${comment ?? ''}"${id}")`;
  });
  const missing = ids.filter((id) => !seen.has(id));
  if (missing.length > 0) throw new Error(`@azure/functions: no require of ${missing.join(', ')}`);
  return out.replace(RUNTIME_ANCHOR, `${RUNTIME_ANCHOR}${LAZY_REQUIRE}`);
}

/** The plugin: applies deferModules to @azure/functions' main file. */
export const deferAzureFunctionsInvocation = {
  name: 'defer-azure-functions-invocation',
  setup(build) {
    build.onLoad({ filter: /[\\/]@azure[\\/]functions[\\/]dist[\\/]azure-functions\.js$/ }, async (args) => {
      const { readFile } = await import('node:fs/promises');
      return { contents: deferModules(await readFile(args.path, 'utf8')), loader: 'js' };
    });
  },
};
