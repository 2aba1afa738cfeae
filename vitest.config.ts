import { readFileSync } from 'node:fs';
import { configDefaults, defineConfig, type Plugin } from 'vitest/config';

/** Imports shell scripts as their text, as esbuild's `text` loader does in the bundle (shared/text-modules.d.ts). */
const textModules = (): Plugin => ({
  name: 'hello-fleet-text-modules',
  enforce: 'pre',
  load(id) {
    const file = id.split('?')[0] ?? id;
    if (!/\.sh$/.test(file)) return null;
    return { code: `export default ${JSON.stringify(readFileSync(file, 'utf8'))};`, map: null };
  },
});

export default defineConfig({
  plugins: [textModules()],
  test: {
    include: ['test/**/*.test.ts'],
    // The booted-OS tier boots a Debian container for minutes: its own command, npm run test:os.
    exclude: [...configDefaults.exclude, 'test/os/**'],
    setupFiles: ['test/setup.ts'],
    // Unit and workflow tests never touch the network; nothing here should wait long.
    testTimeout: 20_000,
    // Starting and stopping the local cloud (moto, twenty uvicorns) takes seconds, more on a loaded machine.
    hookTimeout: 120_000,
    env: {
      STAGE: 'test',
      AWS_REGION: 'ap-northeast-2',
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      LOG_LEVEL: 'ERROR',
    },
  },
});
