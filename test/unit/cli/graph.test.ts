import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type AslStates,
  buildGraph,
  describeCondition,
  InvalidDefinitionError,
  loadMachine,
  machineNames,
  renderMermaid,
  renderSvg,
  type StateVisits,
} from '../../../cli/graph/index';
import { allElements, parseXml } from './xml';

interface RawState {
  Type: string;
  Next?: string;
  End?: boolean;
  Default?: string;
  Choices?: { Next: string }[];
  Catch?: { Next: string; ErrorEquals: string[] }[];
}

const raw = (name: string) => JSON.parse(readFileSync(join(import.meta.dirname, '../../../statemachine', `${name}.asl.json`), 'utf8')) as { StartAt: string; States: Record<string, RawState> };

/** Every transition the ASL file names, as `from -> to`, read straight from the JSON. */
const transitionsOf = (name: string): string[] =>
  Object.entries(raw(name).States).flatMap(([from, state]) => [
    ...(state.Next ? [`${from} -> ${state.Next}`] : []),
    ...(state.Default ? [`${from} -> ${state.Default}`] : []),
    ...(state.Choices ?? []).map((choice) => `${from} -> ${choice.Next}`),
    ...(state.Catch ?? []).map((rule) => `${from} -> ${rule.Next}`),
  ]);

/** Every state name of a definition, inner states (Map, Parallel) right after the state that holds them. */
const stateNames = (scope: AslStates): string[] =>
  Object.entries(scope.States).flatMap(([name, state]) => [
    name,
    ...[state.ItemProcessor ?? state.Iterator, ...(state.Branches ?? [])].flatMap((inner) => (inner ? stateNames(inner) : [])),
  ]);

const withMap: AslStates = {
  StartAt: 'ListStudents',
  States: {
    ListStudents: { Type: 'Task', Next: 'EachStudent' },
    EachStudent: {
      Type: 'Map',
      ItemProcessor: {
        StartAt: 'ProvisionOne',
        States: {
          ProvisionOne: { Type: 'Task', Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Done' }], Next: 'Done' },
          Done: { Type: 'Succeed' },
        },
      },
      Next: 'Done',
    },
    Done: { Type: 'Succeed' },
  },
};

describe('the graph model', () => {
  it.each(['provision', 'teardown'])('has a node for every state of %s, and an edge for every Next, Choice and Catch, none dangling', (name) => {
    // Prepare
    const asl = loadMachine(name);

    // Act
    const graph = buildGraph(asl);

    // Assess
    const nameOf = new Map(graph.nodes.map((node) => [node.id, node.name]));
    expect(graph.nodes.filter((node) => node.kind === 'state').map((node) => node.name)).toEqual(Object.keys(raw(name).States));
    for (const edge of graph.edges) {
      expect(nameOf.has(edge.from), `edge from ${edge.from}`).toBe(true);
      expect(nameOf.has(edge.to), `edge to ${edge.to}`).toBe(true);
    }
    const transitions = graph.edges.filter((edge) => !['start', 'end'].includes(edge.kind)).map((edge) => `${nameOf.get(edge.from)} -> ${nameOf.get(edge.to)}`);
    expect(transitions.sort()).toEqual(transitionsOf(name).sort());
    expect(graph.edges.filter((edge) => edge.kind === 'start')).toEqual([{ from: 'Start', to: raw(name).StartAt, kind: 'start' }]);
  });

  it('labels the provision Choice branches with their conditions and Default, and Catch edges with the error names', () => {
    // Prepare
    const asl = loadMachine('provision');

    // Act
    const edges = buildGraph(asl).edges.filter((edge) => edge.from === 'IsInstanceRunning' || edge.from === 'HealthCheck');

    // Assess
    expect(edges).toContainEqual({ from: 'IsInstanceRunning', to: 'InstallFastAPI', kind: 'choice', label: '$.instance.ready == true' });
    expect(edges).toContainEqual({ from: 'IsInstanceRunning', to: 'WaitForInstance', kind: 'default', label: 'Default' });
    expect(edges).toContainEqual({ from: 'HealthCheck', to: 'HealthCheckFailed', kind: 'catch', label: 'States.ALL' });
  });

  it('ends every End, Succeed and Fail state at the End terminal', () => {
    // Prepare
    const asl = loadMachine('provision');

    // Act
    const ends = buildGraph(asl).edges.filter((edge) => edge.kind === 'end').map((edge) => edge.from);

    // Assess
    expect(ends.sort()).toEqual(['ProvisionFailed', 'ServerReady']);
  });

  it('puts the inner states of a Map in a cluster of their own, scoped so a repeated name stays two states', () => {
    // Act
    const graph = buildGraph(withMap);

    // Assess
    expect(graph.clusters).toEqual([{ id: 'EachStudent', label: 'EachStudent: for each item' }]);
    const inner = graph.nodes.filter((node) => node.parent === 'EachStudent');
    expect(inner.map((node) => [node.id, node.name])).toEqual([['EachStudent__ProvisionOne', 'ProvisionOne'], ['EachStudent__Done', 'Done']]);
    expect(graph.edges).toContainEqual({ from: 'EachStudent', to: 'EachStudent__ProvisionOne', kind: 'iterate', label: 'each item' });
    expect(graph.edges).toContainEqual({ from: 'EachStudent__ProvisionOne', to: 'EachStudent__Done', kind: 'catch', label: 'States.ALL' });
    expect(graph.edges).toContainEqual({ from: 'EachStudent', to: 'Done', kind: 'next' });
  });

  it('rejects a transition to a state that does not exist', () => {
    // Prepare
    const broken: AslStates = { StartAt: 'A', States: { A: { Type: 'Task', Next: 'Nowhere' } } };

    // Act
    const act = () => buildGraph(broken);

    // Assess
    expect(act).toThrow(InvalidDefinitionError);
    expect(act).toThrow(/A goes to Nowhere/);
  });

  it('says a guarded comparison without its guards, and Or and Not in words', () => {
    // Act
    const guarded = describeCondition({ And: [{ Variable: '$.x', IsPresent: true }, { Variable: '$.x', BooleanEquals: false }] });
    const either = describeCondition({ Or: [{ Variable: '$.a', NumericGreaterThan: 3 }, { Variable: '$.b', StringEquals: 'up' }] });
    const not = describeCondition({ Not: { Variable: '$.c', IsPresent: true } });

    // Assess
    expect(guarded).toBe('$.x == false');
    expect(either).toBe('($.a > 3) or ($.b == "up")');
    expect(not).toBe('not ($.c is present)');
  });
});

describe('renderMermaid', () => {
  it('gives the same text for the same definition, every time', () => {
    // Prepare
    const visits: StateVisits = { CreateKeyPair: 'succeeded', CreateSecurityGroup: 'running' };

    // Act
    const first = renderMermaid(loadMachine('provision'), visits);
    const second = renderMermaid(loadMachine('provision'), { ...visits });

    // Assess
    expect(second).toBe(first);
    expect(first.startsWith('flowchart TD\n')).toBe(true);
  });

  it('colours each visited state with its class and every other state as not visited', () => {
    // Prepare
    const visits: StateVisits = { CreateKeyPair: 'succeeded', RunInstance: 'caught', RunInstanceFailed: 'succeeded', TerminateInstance: 'running', ProvisionFailed: 'failed' };

    // Act
    const text = renderMermaid(loadMachine('provision'), visits);

    // Assess
    expect(text).toContain('  classDef succeeded fill:#d4edda,stroke:#2e7d32,color:#1b4d20\n');
    expect(text).toContain('  class CreateKeyPair,RunInstanceFailed succeeded\n');
    expect(text).toContain('  class RunInstance caught\n');
    expect(text).toContain('  class TerminateInstance running\n');
    expect(text).toContain('  class ProvisionFailed failed\n');
    const notVisited = /\n {2}class (\S+) notVisited\n/.exec(text)?.[1]?.split(',') ?? [];
    expect(notVisited).toContain('HealthCheck');
    expect(notVisited).not.toContain('CreateKeyPair');
    expect(notVisited).toHaveLength(Object.keys(raw('provision').States).length - Object.keys(visits).length);
  });

  it('has no classes at all without visits', () => {
    // Act
    const text = renderMermaid(loadMachine('teardown'));

    // Assess
    expect(text).not.toMatch(/classDef|\bclass\b/);
  });

  it('draws Catch edges dashed with their errors and a Map as a subgraph', () => {
    // Act
    const teardown = renderMermaid(loadMachine('teardown'));
    const map = renderMermaid(withMap);

    // Assess
    expect(teardown).toContain('  TerminateInstance -.->|"States.ALL"| DeleteKeyPair\n');
    expect(map).toContain('  subgraph EachStudent_states["EachStudent: for each item"]\n    EachStudent__ProvisionOne("ProvisionOne")\n');
    expect(map).toContain('  EachStudent -->|"each item"| EachStudent__ProvisionOne\n');
  });
});

describe('renderSvg', () => {
  it.each(machineNames())('draws %s as well-formed SVG with one node per state', (name) => {
    // Prepare
    const asl = loadMachine(name);

    // Act
    const svg = parseXml(renderSvg(asl));

    // Assess
    expect(svg.name).toBe('svg');
    expect(svg.attributes.xmlns).toBe('http://www.w3.org/2000/svg');
    const drawn = allElements(svg).filter((element) => element.attributes['data-state'] !== undefined).map((element) => element.attributes['data-state']);
    expect(drawn).toEqual(stateNames(asl));
    expect(Number(svg.attributes.width)).toBeGreaterThan(100);
  });

  it('gives the same bytes for the same definition and visits', () => {
    // Prepare
    const visits: StateVisits = { CreateKeyPair: 'succeeded', HealthCheck: 'running' };

    // Act
    const first = renderSvg(loadMachine('provision'), visits);
    const second = renderSvg(loadMachine('provision'), { ...visits });

    // Assess
    expect(second).toBe(first);
    expect(first).not.toMatch(/\d{4}-\d{2}-\d{2}T|NaN|undefined/);
  });

  it('colours states by visit and draws a legend only when visits are given', () => {
    // Prepare
    const visits: StateVisits = { CreateKeyPair: 'succeeded', CreateSecurityGroup: 'caught', CreateSecurityGroupFailed: 'succeeded', RollBack: 'running' };

    // Act
    const coloured = allElements(parseXml(renderSvg(loadMachine('provision'), visits)));
    const plain = allElements(parseXml(renderSvg(loadMachine('provision'))));

    // Assess
    const visitOf = (elements: typeof coloured, state: string) => elements.find((e) => e.attributes['data-state'] === state)?.attributes['data-visit'];
    expect(visitOf(coloured, 'CreateKeyPair')).toBe('succeeded');
    expect(visitOf(coloured, 'CreateSecurityGroup')).toBe('caught');
    expect(visitOf(coloured, 'RollBack')).toBe('running');
    expect(visitOf(coloured, 'HealthCheck')).toBe('notVisited');
    const running = coloured.find((e) => e.attributes['data-state'] === 'RollBack');
    expect(running?.attributes.class).toBe('state state-pass visit-running');
    expect(allElements(running!).some((e) => e.attributes.fill === '#d6e8fa')).toBe(true);
    expect(coloured.filter((e) => e.attributes['data-legend'] !== undefined).map((e) => e.attributes['data-legend'])).toEqual(['succeeded', 'running', 'failed', 'caught', 'notVisited']);
    expect(plain.some((e) => e.attributes['data-legend'] !== undefined)).toBe(false);
  });

  it('draws every edge with an arrowhead and a Map cluster around its inner states', () => {
    // Act
    const elements = allElements(parseXml(renderSvg(withMap)));

    // Assess
    const edges = elements.filter((e) => e.attributes.class?.startsWith('edge '));
    expect(edges).toHaveLength(buildGraph(withMap).edges.length);
    for (const edge of edges) expect(edge.children[0]?.attributes['marker-end']).toMatch(/^url\(#hf-arrow-(next|catch)\)$/);
    expect(elements.filter((e) => e.attributes['data-cluster'] === 'EachStudent')).toHaveLength(1);
  });

  it('escapes state names that are not plain words', () => {
    // Prepare
    const asl: AslStates = { StartAt: 'Say "hi" & <go>', States: { 'Say "hi" & <go>': { Type: 'Pass', End: true } } };

    // Act
    const svg = renderSvg(asl);
    const text = renderMermaid(asl);

    // Assess
    expect(allElements(parseXml(svg)).find((e) => e.attributes['data-state'] !== undefined)?.attributes['data-state']).toBe('Say &quot;hi&quot; &amp; &lt;go&gt;');
    expect(text).toContain('Say__hi_____go_(["Say #quot;hi#quot; & #lt;go#gt;"])');
  });
});
