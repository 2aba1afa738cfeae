/**
 * The manual in two languages: README.md + docs/*.md in English, README.ko.md + docs/ko/*.md in Korean.
 * Prose is translated freely; the skeleton is shared and checked here: the same pages, the same headings
 * (level and order), identical code blocks, the same generated diagrams, links that resolve (files and
 * #anchors, as GitHub computes them), and READMEs that stay front doors linking every page.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import GithubSlugger from 'github-slugger';
import { lexer, type Token, type Tokens, walkTokens } from 'marked';
import { describe, expect, it } from 'vitest';
import { graphSections } from '../../scripts/graph-docs';

const ROOT = resolve(import.meta.dirname, '..', '..');
const DOCS = join(ROOT, 'docs');
const KO = join(DOCS, 'ko');
const README_MAX_LINES = 250;

const mdFiles = (dir: string): string[] =>
  readdirSync(dir)
    .filter((file) => file.endsWith('.md'))
    .sort();

interface Page {
  /** Path from the repository root, e.g. docs/ko/api.md. */
  path: string;
  text: string;
  tokens: Token[];
}

const pages = new Map<string, Page>();
const page = (path: string): Page => {
  let found = pages.get(path);
  if (!found) {
    const text = readFileSync(join(ROOT, path), 'utf8');
    found = { path, text, tokens: lexer(text) };
    pages.set(path, found);
  }
  return found;
};

/** A heading's text as GitHub renders it (code spans and links reduced to their text). */
const plainText = (tokens: Token[] | undefined): string =>
  (tokens ?? [])
    .map((token) => ('tokens' in token && token.tokens ? plainText(token.tokens) : 'text' in token ? String(token.text) : ''))
    .join('');

const headings = (p: Page): Tokens.Heading[] => p.tokens.filter((token): token is Tokens.Heading => token.type === 'heading');

const codeBlocks = (p: Page): { lang: string; text: string }[] =>
  p.tokens.filter((token): token is Tokens.Code => token.type === 'code').map((token) => ({ lang: token.lang ?? '', text: token.text }));

/** The anchors GitHub gives a page's headings (github-slugger: lower case, punctuation dropped, -1, -2 for repeats). */
const anchors = (p: Page): Set<string> => {
  const slugger = new GithubSlugger();
  return new Set(headings(p).map((heading) => slugger.slug(plainText(heading.tokens))));
};

const links = (p: Page): string[] => {
  const hrefs: string[] = [];
  walkTokens(p.tokens, (token) => {
    if (token.type === 'link' || token.type === 'image') hrefs.push((token as Tokens.Link).href);
  });
  return hrefs;
};

const isExternal = (href: string) => /^[a-z][a-z0-9+.-]*:/i.test(href);

/** Where a relative link lands: the file (repository-relative) and the anchor, if any. */
const target = (from: string, href: string): { file: string; anchor?: string } => {
  const [path = '', anchor] = href.split('#');
  const file = path === '' ? from : relative(ROOT, resolve(ROOT, dirname(from), decodeURI(path)));
  return anchor === undefined ? { file } : { file, anchor: decodeURIComponent(anchor) };
};

const english = mdFiles(DOCS).map((file) => `docs/${file}`);
const korean = mdFiles(KO).map((file) => `docs/ko/${file}`);
const twins: [string, string][] = [['README.md', 'README.ko.md'], ...english.map((path): [string, string] => [path, path.replace(/^docs\//, 'docs/ko/')])];
const everyPage = [...twins.flat()];

describe('the manual in English and Korean', () => {
  it('has a Korean page for every English page of docs/ and no Korean page without one', () => {
    // Act
    const englishNames = english.map((path) => path.slice('docs/'.length));
    const koreanNames = korean.map((path) => path.slice('docs/ko/'.length));

    // Assess
    expect(englishNames.length, 'docs/ has no topic pages').toBeGreaterThan(0);
    expect(koreanNames).toEqual(englishNames);
  });

  describe.each(twins)('%s and %s', (en, ko) => {
    it('have the same headings: level and count, in order', () => {
      // Act
      const levels = (path: string) => headings(page(path)).map((heading) => `h${heading.depth}`);

      // Assess
      expect(levels(ko), `${ko} must have ${en}'s heading structure`).toEqual(levels(en));
    });

    it('have identical code blocks: same language, same text, in order', () => {
      // Act
      const blocks = codeBlocks(page(ko));

      // Assess
      expect(blocks, `${ko}'s code blocks must be ${en}'s, unchanged`).toEqual(codeBlocks(page(en)));
    });

    it('embed the same generated diagrams', () => {
      // Act
      const names = (path: string) => graphSections(page(path).text).map((section) => section.name);

      // Assess
      expect(names(ko)).toEqual(names(en));
    });

    it('link to each other', () => {
      // Act
      const linksTo = (from: string, to: string) => links(page(from)).some((href) => !isExternal(href) && target(from, href).file === to);

      // Assess
      expect(linksTo(en, ko), `${en} must link to ${ko}`).toBe(true);
      expect(linksTo(ko, en), `${ko} must link to ${en}`).toBe(true);
    });
  });

  it.each(everyPage)('%s: every relative link reaches a file, and every #anchor a heading of it', (path) => {
    // Prepare
    const broken: string[] = [];

    // Act
    for (const href of links(page(path)).filter((link) => !isExternal(link))) {
      const { file, anchor } = target(path, href);
      if (file.startsWith(`..${sep}`) || !existsSync(join(ROOT, file))) {
        broken.push(`${href}: no file ${file}`);
      } else if (anchor !== undefined && !(file.endsWith('.md') && anchors(page(file)).has(anchor))) {
        broken.push(`${href}: no heading #${anchor} in ${file}`);
      }
    }

    // Assess
    expect(broken).toEqual([]);
  });

  it('uses the AWS console terms in Korean: 프라이빗 키 and 퍼블릭 IP', () => {
    // Prepare
    const prose = (path: string) =>
      page(path)
        .tokens.filter((token) => token.type !== 'code')
        .map((token) => token.raw)
        .join('');

    // Act
    const offending = [...twins.map(([, ko]) => ko)].filter((path) => /개인 키|공개 IP/.test(prose(path)));

    // Assess
    expect(offending).toEqual([]);
  });
});

describe('the READMEs are front doors', () => {
  it.each([
    ['README.md', english],
    ['README.ko.md', korean],
  ])(`%s is under ${README_MAX_LINES} lines and links every page of its language`, (readme, topics) => {
    // Prepare
    const text = page(readme).text;

    // Act
    const lines = text.split('\n').length;
    const linked = new Set(links(page(readme)).filter((href) => !isExternal(href)).map((href) => target(readme, href).file));

    // Assess
    expect(lines).toBeLessThan(README_MAX_LINES);
    expect(topics.filter((topic) => !linked.has(topic))).toEqual([]);
  });

  it.each(['README.md', 'README.ko.md'])('%s gives the two commands: npm run demo and npm test', (readme) => {
    // Act
    const commands = codeBlocks(page(readme)).map((block) => block.text).join('\n');

    // Assess
    expect(commands).toMatch(/^npm run demo\b/m);
    expect(commands).toMatch(/^npm test\b/m);
  });
});
