/**
 * The execution graph: the provision and teardown state machines (any statemachine/*.asl.json) as
 * Mermaid source or a standalone SVG, optionally coloured by how an execution visited each state.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AslStates } from './model';

export { buildGraph, describeCondition, InvalidDefinitionError } from './model';
export type { AslState, AslStates, EdgeKind, GraphCluster, GraphEdge, GraphNode, StateGraph, StateType } from './model';
export { renderMermaid } from './mermaid';
export { renderSvg, type SvgOptions } from './svg';
export { type StateVisit, type StateVisits, VISIT_STYLE, visitOf } from './visits';

/** The project's statemachine/ directory. */
export const STATE_MACHINE_DIR = join(import.meta.dirname, '..', '..', 'statemachine');

/** The machine names there: `provision`, `teardown`, … (sorted). */
export const machineNames = (dir = STATE_MACHINE_DIR): string[] =>
  readdirSync(dir)
    .filter((file) => file.endsWith('.asl.json'))
    .map((file) => file.slice(0, -'.asl.json'.length))
    .sort();

/** statemachine/<name>.asl.json, parsed. Throws for an unknown name (the message lists the known ones). */
export const loadMachine = (name: string, dir = STATE_MACHINE_DIR): AslStates => {
  const names = machineNames(dir);
  if (!names.includes(name)) throw new Error(`no state machine ${JSON.stringify(name)}: choose one of ${names.join(', ')}`);
  return JSON.parse(readFileSync(join(dir, `${name}.asl.json`), 'utf8')) as AslStates;
};
