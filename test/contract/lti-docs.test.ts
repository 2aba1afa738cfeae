/**
 * docs/lti.md shows what an administrator pastes and enters; the code generates the same things. These
 * checks keep the two from drifting: the Canvas JSON in the manual is what canvasDeveloperKeyJson
 * prints for the example base URL, and every Moodle field the code lists is in the manual's table with
 * the same value, in both languages.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { lexer, type Tokens } from 'marked';
import { describe, expect, it } from 'vitest';
import { canvasDeveloperKeyJson, moodleToolFields, TOOL_PATHS, toolEndpoints } from '../../shared/lti';
import { toolKeyParameterPrefix } from '../../shared/lti/ssm-key-store';

const ROOT = resolve(import.meta.dirname, '..', '..');
const EXAMPLE_BASE = 'https://abc123defg.execute-api.ap-northeast-2.amazonaws.com/prod';
const pages = ['docs/lti.md', 'docs/ko/lti.md'];
const tokens = (path: string) => lexer(readFileSync(join(ROOT, path), 'utf8'));

describe.each(pages)('%s', (path) => {
  it('shows the Canvas developer key JSON exactly as the code generates it', () => {
    // Act
    const blocks = tokens(path).filter((token): token is Tokens.Code => token.type === 'code' && token.lang === 'json');

    // Assess
    expect(blocks).toHaveLength(1);
    expect(JSON.parse((blocks[0] as Tokens.Code).text)).toEqual(canvasDeveloperKeyJson(toolEndpoints(EXAMPLE_BASE)));
  });

  it('lists every Moodle field the code lists, with the same value (the base URL as <base>)', () => {
    // Prepare
    const tables = tokens(path).filter((token): token is Tokens.Table => token.type === 'table');
    const rows = new Map(tables.flatMap((table) => table.rows.map((row) => [row[0]?.text ?? '', (row[1]?.text ?? '').replace(/`/g, '')] as const)));

    // Act
    const expected = moodleToolFields(toolEndpoints('https://example.invalid/base')).filter((field) => field.label !== 'Tool description');

    // Assess
    for (const field of expected) {
      expect(rows.get(field.label), field.label).toBe(field.value.replace('https://example.invalid/base', '<base>'));
    }
  });

  it('names the tool’s URLs and the key parameters as the code defines them', () => {
    // Act
    const text = readFileSync(join(ROOT, path), 'utf8');

    // Assess
    for (const route of Object.values(TOOL_PATHS).filter((route) => route !== TOOL_PATHS.session)) expect(text).toContain(`<base>${route}`);
    for (const slot of ['current', 'next', 'previous']) expect(text).toContain(`${toolKeyParameterPrefix('<stage>')}/${slot}`);
  });
});
