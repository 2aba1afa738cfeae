import type { StateVisit } from '../../shared/execution-view';

/** How an execution visited a state: shared/execution-view.ts `visitedStates(events)`. */
export type { StateVisit };

/** State name → how the execution visited it; a state that is absent was not visited. */
export type StateVisits = Record<string, StateVisit>;

export const VISITS: readonly StateVisit[] = ['succeeded', 'running', 'failed', 'caught'];

/** The colours of the Step Functions console. */
export const VISIT_STYLE: Record<StateVisit | 'notVisited', { fill: string; stroke: string; text: string; label: string }> = {
  succeeded: { fill: '#d4edda', stroke: '#2e7d32', text: '#1b4d20', label: 'Succeeded' },
  running: { fill: '#d6e8fa', stroke: '#1565c0', text: '#0d3c73', label: 'In progress' },
  failed: { fill: '#f8d7da', stroke: '#c62828', text: '#7a1c1c', label: 'Failed' },
  caught: { fill: '#ffe5c2', stroke: '#e07b00', text: '#6e3d00', label: 'Caught error' },
  notVisited: { fill: '#ffffff', stroke: '#9e9e9e', text: '#5f6368', label: 'Not visited' },
};

/** The visit of a state node, or 'notVisited'. Terminals are never coloured. */
export const visitOf = (visits: StateVisits | undefined, name: string): StateVisit | 'notVisited' => {
  const visit = visits && Object.hasOwn(visits, name) ? visits[name] : undefined;
  return visit !== undefined && VISITS.includes(visit) ? visit : 'notVisited';
};
