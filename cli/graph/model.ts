/**
 * The graph of an ASL definition (JSONPath states): one node per state, one edge per transition, and
 * the Start and End terminals the Step Functions console draws. Map (ItemProcessor or Iterator) and
 * Parallel states hold their inner states in a cluster; the inner states' names are scoped by the
 * cluster so a name used twice never merges two states. Pure: no I/O, same input → same graph.
 */

export type StateType = 'Task' | 'Pass' | 'Choice' | 'Wait' | 'Succeed' | 'Fail' | 'Map' | 'Parallel';

export interface GraphNode {
  /** Unique and safe for Mermaid and SVG ids: `[A-Za-z0-9_]+`. */
  id: string;
  /** The state's name (what execution events and visits call it); `Start` / `End` for the terminals. */
  name: string;
  kind: 'state' | 'start' | 'end';
  /** The ASL Type; undefined for the terminals. */
  type?: StateType;
  /** The cluster (a Map or Parallel state's id) this node is drawn in; undefined at the top level. */
  parent?: string;
  /** Error names of the state's Retry rules, in order (empty: no Retry). */
  retry: string[];
}

export type EdgeKind = 'start' | 'next' | 'choice' | 'default' | 'catch' | 'end' | 'iterate' | 'branch';

export interface GraphEdge {
  from: string;
  to: string;
  kind: EdgeKind;
  /** A short label: the Choice condition, `Default`, the caught error names; undefined for Next. */
  label?: string;
}

export interface GraphCluster {
  /** The id of the Map or Parallel node that owns it. */
  id: string;
  label: string;
  parent?: string;
}

export interface StateGraph {
  nodes: GraphNode[];
  edges: GraphEdge[];
  clusters: GraphCluster[];
}

/** The subset of ASL the graph reads. */
export interface AslStates {
  StartAt: string;
  States: Record<string, AslState>;
}

export interface AslState {
  Type: string;
  Next?: string;
  End?: boolean;
  Default?: string;
  Choices?: AslChoice[];
  Catch?: { ErrorEquals: string[]; Next: string }[];
  Retry?: { ErrorEquals: string[] }[];
  ItemProcessor?: AslStates;
  Iterator?: AslStates;
  Branches?: AslStates[];
}

export type AslChoice = Record<string, unknown> & { Next?: string };

export class InvalidDefinitionError extends Error {
  override name = 'InvalidDefinitionError';
}

const STATE_TYPES = new Set<string>(['Task', 'Pass', 'Choice', 'Wait', 'Succeed', 'Fail', 'Map', 'Parallel']);
const MAX_LABEL = 40;

const clip = (text: string, max = MAX_LABEL): string => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);

const COMPARATORS: Record<string, string> = {
  Equals: '==',
  LessThan: '<',
  GreaterThan: '>',
  LessThanEquals: '<=',
  GreaterThanEquals: '>=',
};

/** One comparison without its variable: `== true`, `is present`, `matches "a*"`. */
const comparison = (rule: Record<string, unknown>): string => {
  for (const [key, value] of Object.entries(rule)) {
    if (key === 'Variable' || key === 'Next' || key === 'Comment') continue;
    const is = /^Is(Present|Null|Boolean|Numeric|String|Timestamp)$/.exec(key);
    if (is?.[1]) return `${value === false ? 'is not' : 'is'} ${is[1].toLowerCase()}`;
    if (key === 'StringMatches') return `matches ${JSON.stringify(value)}`;
    const compare = /^(String|Numeric|Boolean|Timestamp)(Equals|LessThan|GreaterThan|LessThanEquals|GreaterThanEquals)(Path)?$/.exec(key);
    if (compare?.[2]) return `${COMPARATORS[compare[2]]} ${compare[3] ? String(value) : JSON.stringify(value)}`;
  }
  return '?';
};

/** A Choice rule in a few words: `$.a.ready == true`; And/Or/Not nest; a variable repeated in an And is said once. */
export const describeCondition = (rule: Record<string, unknown>): string => {
  if (Array.isArray(rule.And) || Array.isArray(rule.Or)) {
    const parts = (rule.And ?? rule.Or) as Record<string, unknown>[];
    const joiner = Array.isArray(rule.And) ? ' and ' : ' or ';
    const variables = new Set(parts.map((part) => part.Variable));
    if (variables.size === 1 && typeof parts[0]?.Variable === 'string') {
      // In an And, `is present` / `is boolean` only guard the real comparison: say the comparison alone.
      const said = parts.map(comparison);
      const real = said.filter((text) => !/^is /.test(text));
      return `${parts[0].Variable} ${(joiner === ' and ' && real.length > 0 ? real : said).join(joiner)}`;
    }
    return parts.map((part) => `(${describeCondition(part)})`).join(joiner);
  }
  if (rule.Not !== null && typeof rule.Not === 'object') return `not (${describeCondition(rule.Not as Record<string, unknown>)})`;
  if (typeof rule.Condition === 'string') return rule.Condition; // JSONata
  return `${String(rule.Variable ?? '')} ${comparison(rule)}`.trim();
};

const safeId = (text: string): string => text.replace(/[^A-Za-z0-9_]/g, '_');

/**
 * The graph of a definition. Throws InvalidDefinitionError for a missing StartAt, an unknown state Type
 * or a transition to a state that does not exist (in its own scope).
 */
export const buildGraph = (definition: AslStates): StateGraph => {
  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  const clusters: GraphCluster[] = [];
  const used = new Set<string>(['Start', 'End']);
  const unique = (wanted: string): string => {
    let id = wanted;
    for (let n = 2; used.has(id); n += 1) id = `${wanted}_${n}`;
    used.add(id);
    return id;
  };

  /** Adds one scope's states; returns the id of its StartAt state. */
  const addScope = (scope: AslStates, parent: GraphNode | undefined, where: string): string => {
    if (typeof scope?.StartAt !== 'string' || scope.States === null || typeof scope.States !== 'object') {
      throw new InvalidDefinitionError(`${where}: StartAt and States are required`);
    }
    const prefix = parent ? `${parent.id}__` : '';
    const ids = new Map<string, string>();
    for (const name of Object.keys(scope.States)) ids.set(name, unique(safeId(`${prefix}${name}`)));
    const target = (from: string, name: string | undefined): string => {
      const id = name === undefined ? undefined : ids.get(name);
      if (id === undefined) throw new InvalidDefinitionError(`${where}: state ${from} goes to ${String(name)}, which is not a state here`);
      return id;
    };
    const startId = target(`${where} StartAt`, scope.StartAt);

    for (const [name, state] of Object.entries(scope.States)) {
      if (!STATE_TYPES.has(state?.Type)) throw new InvalidDefinitionError(`${where}: state ${name} has unknown Type ${String(state?.Type)}`);
      const node: GraphNode = {
        id: ids.get(name) as string,
        name,
        kind: 'state',
        type: state.Type as StateType,
        ...(parent && { parent: parent.id }),
        retry: (state.Retry ?? []).flatMap((rule) => rule.ErrorEquals ?? []),
      };
      nodes.push(node);

      const inner = state.Type === 'Map' ? (state.ItemProcessor ?? state.Iterator) : undefined;
      if (inner) {
        clusters.push({ id: node.id, label: `${name}: for each item`, ...(parent && { parent: parent.id }) });
        edges.push({ from: node.id, to: addScope(inner, node, `${where} > ${name}`), kind: 'iterate', label: 'each item' });
      }
      if (state.Type === 'Parallel') {
        clusters.push({ id: node.id, label: `${name}: in parallel`, ...(parent && { parent: parent.id }) });
        (state.Branches ?? []).forEach((branch, i) => {
          edges.push({ from: node.id, to: addScope(branch, node, `${where} > ${name} branch ${i + 1}`), kind: 'branch', label: `branch ${i + 1}` });
        });
      }

      if (state.Type === 'Choice') {
        for (const choice of state.Choices ?? []) {
          edges.push({ from: node.id, to: target(name, choice.Next), kind: 'choice', label: clip(describeCondition(choice)) });
        }
        if (state.Default !== undefined) edges.push({ from: node.id, to: target(name, state.Default), kind: 'default', label: 'Default' });
      }
      for (const rule of state.Catch ?? []) {
        edges.push({ from: node.id, to: target(name, rule.Next), kind: 'catch', label: clip((rule.ErrorEquals ?? []).join(', ')) });
      }
      if (state.Next !== undefined) edges.push({ from: node.id, to: target(name, state.Next), kind: 'next' });
      // Inner scopes simply stop: their end is the Map or Parallel state going on.
      if (!parent && (state.End === true || state.Type === 'Succeed' || state.Type === 'Fail')) {
        edges.push({ from: node.id, to: 'End', kind: 'end' });
      }
    }
    return startId;
  };

  const start: GraphNode = { id: 'Start', name: 'Start', kind: 'start', retry: [] };
  nodes.push(start);
  edges.unshift({ from: 'Start', to: addScope(definition, undefined, 'definition'), kind: 'start' });
  nodes.push({ id: 'End', name: 'End', kind: 'end', retry: [] });
  return { nodes, edges, clusters };
};
