import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { machineNames } from '../../../cli/graph/index';
import { DOCS_DIR, generatedDocs, README, README_MACHINE, readmeBlock, readmeMarkers, readmeSection } from '../../../scripts/graph-docs';

const committed = (file: string): string | undefined => {
  try {
    return readFileSync(join(DOCS_DIR, file), 'utf8');
  } catch {
    return undefined;
  }
};

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

  it(`embeds the current ${README_MACHINE} diagram in README.md between its markers (else: run npm run graph:docs)`, () => {
    // Prepare
    const readme = readFileSync(README, 'utf8');
    const { start, end } = readmeMarkers();

    // Act
    const section = readmeSection(readme);

    // Assess
    expect(section, `README.md needs ${start} … ${end} around the generated diagram`).toBeDefined();
    expect(section, 'the README diagram is out of date with the ASL: run npm run graph:docs').toBe(readmeBlock());
  });

  it('finds the block between the markers and nothing around it', () => {
    // Prepare
    const { start, end } = readmeMarkers();
    const readme = `# Title\n\n${start}\n${readmeBlock()}\n${end}\n\nMore text.\n`;

    // Act
    const section = readmeSection(readme);

    // Assess
    expect(section).toBe(readmeBlock());
    expect(readmeSection('# no markers here\n')).toBeUndefined();
  });
});
