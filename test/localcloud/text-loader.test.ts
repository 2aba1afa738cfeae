/**
 * localcloud/text-loader.mjs in a real Node process (node --import tsx --import text-loader), the way
 * the local cloud runs the handlers outside vitest.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../localcloud/handlers';

const run = promisify(execFile);
const node = join(ROOT, 'node_modules', '.bin', 'node');
const evaluate = (code: string, loaders = ['tsx', './localcloud/text-loader.mjs']) =>
  run(node, [...loaders.flatMap((loader) => ['--import', loader]), '--input-type=module', '-e', code], {
    cwd: ROOT,
    env: { ...process.env, STAGE: 'local', AWS_REGION: 'ap-northeast-2' },
  });

describe('localcloud/text-loader.mjs', () => {
  it('imports a shell script as its text, byte for byte', async () => {
    // Act
    const { stdout } = await evaluate(
      "import script from './shared/scripts/start-uvicorn.sh'; process.stdout.write(JSON.stringify(script));",
    );

    // Assess
    expect(JSON.parse(stdout)).toBe(readFileSync(join(ROOT, 'shared/scripts/start-uvicorn.sh'), 'utf8'));
  });

  it('lets tsx load a step handler that imports its script', async () => {
    // Act
    const { stdout } = await evaluate("const m = await import('./functions/steps/install-fastapi.ts'); console.log(typeof m.handler);");

    // Assess
    expect(stdout.trim()).toBe('function');
  });

  it('is what makes the import work: without it Node refuses the .sh extension', async () => {
    // Act
    const failure = await evaluate("await import('./functions/steps/install-fastapi.ts');", ['tsx']).then(
      () => undefined,
      (error: { stderr: string }) => error,
    );

    // Assess
    expect(failure?.stderr).toContain('ERR_UNKNOWN_FILE_EXTENSION');
  });
});
