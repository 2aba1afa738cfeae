import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { machineNames } from '../../../cli/graph/index';
import { DOCS_DIR, generatedDocs, graphBlock, graphMarkers, graphSections, markdownFiles, ROOT, refreshGraphBlocks } from '../../../scripts/graph-docs';

const committed = (file: string): string | undefined => {
  try {
    return readFileSync(join(DOCS_DIR, file), 'utf8');
  } catch {
    return undefined;
  }
};

const pages = markdownFiles().map((file) => [relative(ROOT, file), readFileSync(file, 'utf8')] as const);
const isKorean = (page: string) => page === 'README.ko.md' || page.startsWith('docs/ko/');

describe('the generated state machine diagrams', () => {
  it('has a Mermaid file and an SVG for every state machine', () => {
    // Act
    const files = [...generatedDocs().keys()];

    // Assess
    expect(files).toEqual(machineNames().flatMap((name) => [`${name}.mmd`, `${name}.svg`]));
  });

  it.each([...generatedDocs()])('docs/statemachines/%s is what the ASL gives now (else: run npm run graph:docs)', (file, fresh) => {
    // Act
    const text = committed(file);

    // Assess
    expect(text, `docs/statemachines/${file} is missing or out of date with the ASL: run npm run graph:docs`).toBe(fresh);
  });

  it.each(pages.filter(([, text]) => text.includes('<!-- graph:')))('%s embeds the current diagrams between its markers (else: run npm run graph:docs)', (page, text) => {
    // Act
    const sections = graphSections(text);

    // Assess
    for (const { name, block } of sections) {
      expect(machineNames(), `${page} embeds an unknown machine ${name}`).toContain(name);
      expect(block, `${page}: the ${name} diagram is out of date with the ASL: run npm run graph:docs`).toBe(graphBlock(name));
    }
  });

  it.each(machineNames())('embeds the %s diagram in the English manual and in the Korean one', (name) => {
    // Prepare
    const embeds = (korean: boolean) => pages.filter(([page, text]) => isKorean(page) === korean && graphSections(text).some((section) => section.name === name)).map(([page]) => page);

    // Act
    const english = embeds(false);
    const korean = embeds(true);

    // Assess
    expect(english, `no English page embeds ${graphMarkers(name).start}`).not.toEqual([]);
    expect(korean, `no Korean page embeds ${graphMarkers(name).start}`).toEqual(english.map((page) => (page === 'README.md' ? 'README.ko.md' : page.replace(/^docs\//, 'docs/ko/'))));
  });

  it('finds the blocks between the markers and nothing around them', () => {
    // Prepare
    const provision = graphMarkers('provision');
    const teardown = graphMarkers('teardown');
    const page = `# Title\n\n${provision.start}\n${graphBlock('provision')}\n${provision.end}\n\nMore text.\n\n${teardown.start}\nstale\n${teardown.end}\n`;

    // Act
    const sections = graphSections(page);

    // Assess
    expect(sections).toEqual([
      { name: 'provision', block: graphBlock('provision') },
      { name: 'teardown', block: 'stale' },
    ]);
    expect(graphSections('# no markers here\n')).toEqual([]);
  });

  it('rewrites a stale block and leaves the text around it alone', () => {
    // Prepare
    const { start, end } = graphMarkers('teardown');
    const page = `Before.\n${start}\nstale\n${end}\nAfter.\n`;

    // Act
    const fresh = refreshGraphBlocks(page);

    // Assess
    expect(fresh).toBe(`Before.\n${start}\n${graphBlock('teardown')}\n${end}\nAfter.\n`);
    expect(refreshGraphBlocks(fresh)).toBe(fresh);
  });

  it('refuses a start marker without its end, and an unknown machine', () => {
    // Prepare
    const { start } = graphMarkers('provision');
    const unknown = graphMarkers('no-such-machine');

    // Act
    const unpaired = () => graphSections(`${start}\n${graphBlock('provision')}\n`);
    const unknownMachine = () => refreshGraphBlocks(`${unknown.start}\n${unknown.end}\n`);

    // Assess
    expect(unpaired).toThrow(/unpaired graph marker/);
    expect(unknownMachine).toThrow(/no state machine "no-such-machine"/);
  });
});
