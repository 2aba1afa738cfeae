/**
 * A Mermaid `flowchart TD` of a state graph: deterministic text (the states in their ASL order, the
 * edges in the graph's order), so a committed file can be compared with a fresh rendering. With visits,
 * every state gets a class (succeeded, running, failed, caught, notVisited) with the console's colours.
 */
import { type AslStates, buildGraph, type GraphEdge, type GraphNode } from './model';
import { VISIT_STYLE, type StateVisits, visitOf } from './visits';

/** Mermaid's entities for what would end a quoted label or read as HTML. */
const text = (value: string): string => value.replace(/"/g, '#quot;').replace(/</g, '#lt;').replace(/>/g, '#gt;');

const shape = (node: GraphNode): string => {
  const label = `"${text(node.name)}"`;
  if (node.kind !== 'state') return `((${label}))`;
  switch (node.type) {
    case 'Choice':
      return `{${label}}`;
    case 'Pass':
      return `([${label}])`;
    case 'Wait':
      return `{{${label}}}`;
    case 'Succeed':
    case 'Fail':
      return `[[${label}]]`;
    default:
      return `(${label})`;
  }
};

const arrow = (edge: GraphEdge): string => {
  const line = edge.kind === 'catch' ? '-.->' : '-->';
  return edge.label === undefined ? ` ${line} ` : ` ${line}|"${text(edge.label)}"| `;
};

export const renderMermaid = (definition: AslStates, visits?: StateVisits): string => {
  const graph = buildGraph(definition);
  const lines = ['flowchart TD'];
  const declare = (parent: string | undefined, indent: string) => {
    for (const node of graph.nodes.filter((n) => n.parent === parent)) {
      lines.push(`${indent}${node.id}${shape(node)}`);
      const cluster = graph.clusters.find((c) => c.id === node.id);
      if (cluster) {
        lines.push(`${indent}subgraph ${cluster.id}_states["${text(cluster.label)}"]`);
        declare(cluster.id, `${indent}  `);
        lines.push(`${indent}end`);
      }
    }
  };
  declare(undefined, '  ');
  for (const edge of graph.edges) lines.push(`  ${edge.from}${arrow(edge)}${edge.to}`);
  if (visits !== undefined) {
    const states = graph.nodes.filter((n) => n.kind === 'state');
    for (const [visit, style] of Object.entries(VISIT_STYLE)) {
      const members = states.filter((n) => visitOf(visits, n.name) === visit).map((n) => n.id);
      if (members.length === 0) continue;
      lines.push(`  classDef ${visit} fill:${style.fill},stroke:${style.stroke},color:${style.text}`);
      lines.push(`  class ${members.join(',')} ${visit}`);
    }
  }
  return `${lines.join('\n')}\n`;
};
