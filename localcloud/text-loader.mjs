/**
 * Imports shell scripts as their text, as esbuild's `text` loader does in the Lambda bundle
 * (serverless.yml: `loader: { .sh: text }`) and the text-modules plugin does under vitest:
 * `import script from './install-fastapi.sh'` gives the file's content as the default export.
 *
 * Usage: `node --import tsx --import ./localcloud/text-loader.mjs <entry>`. Imported on the main thread
 * it registers itself as a module hook (module.register); Node then loads this same file on its hooks
 * thread, where only the exported `load` hook matters. Registered after tsx, it runs first, so tsx
 * never sees a `.sh` file.
 */
import { readFile } from 'node:fs/promises';
import { register } from 'node:module';
import { isMainThread } from 'node:worker_threads';

const TEXT_FILE = /\.sh$/;

/** @type {import('node:module').LoadHook} */
export async function load(url, context, nextLoad) {
  const { pathname, protocol } = new URL(url);
  if (protocol !== 'file:' || !TEXT_FILE.test(pathname)) return nextLoad(url, context);
  const text = await readFile(new URL(url), 'utf8');
  return { format: 'module', source: `export default ${JSON.stringify(text)};`, shortCircuit: true };
}

if (isMainThread) register(import.meta.url);
