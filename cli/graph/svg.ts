/**
 * A standalone SVG of a state graph, laid out by dagre (no browser): rounded boxes for Task states,
 * pills for Pass, diamonds-as-hexagons for Choice, a notched box for Wait, double borders for
 * Succeed/Fail, circles for Start and End; Map and Parallel states' inner states in a dashed cluster.
 * Edges carry arrowheads and their labels; Catch edges are dashed. With visits, states take the Step
 * Functions console's colours and a legend is drawn. Deterministic: no random ids, no timestamps,
 * coordinates rounded.
 *
 * Every state is a `<g class="state …" data-state="<name>" data-visit="<visit|notVisited>">`, so a test
 * (or a page) can read the colouring without looking at pixels.
 */
import dagre from '@dagrejs/dagre';
import { type AslStates, buildGraph, type EdgeKind, type GraphNode } from './model';
import { type StateVisits, VISIT_STYLE, visitOf } from './visits';

const FONT = "-apple-system, 'Segoe UI', Helvetica, Arial, sans-serif";
const NODE_FONT = 13;
const LABEL_FONT = 11;
const NODE_HEIGHT = 34;
const INK = '#37474f';
const CATCH_INK = '#b45f06';
const LEGEND_HEIGHT = 34;

export interface SvgOptions {
  /** The image's accessible name (its `<title>`). Default: "State machine". */
  title?: string;
}

/** Roughly how wide a text is (no font metrics without a browser): enough for layout, the same every time. */
const textWidth = (text: string, size: number): number => {
  let em = 0;
  for (const ch of text) em += /[A-Z]/.test(ch) ? 0.66 : /[mwMW]/.test(ch) ? 0.8 : /[iljtf.,:;|!' ]/.test(ch) ? 0.3 : 0.55;
  return em * size;
};

const escape = (value: string): string =>
  value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const n = (value: number): string => String(Math.round(value * 10) / 10);

interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

const nodeSize = (node: GraphNode): { width: number; height: number } => {
  if (node.kind !== 'state') return { width: 46, height: 46 };
  const width = Math.ceil(textWidth(node.name, NODE_FONT)) + (node.type === 'Choice' ? 44 : 30);
  return { width: Math.max(width, 90), height: NODE_HEIGHT };
};

/** The outline of a node, centred on (x, y). */
const outline = (node: GraphNode, box: Box, fill: string, stroke: string): string => {
  const { x, y, width: w, height: h } = box;
  const left = x - w / 2;
  const top = y - h / 2;
  const paint = `fill="${fill}" stroke="${stroke}"`;
  if (node.kind !== 'state') {
    const inner = node.kind === 'end' ? `<circle cx="${n(x)}" cy="${n(y)}" r="${n(w / 2 - 5)}" fill="none" stroke="${INK}" stroke-width="1.2"/>` : '';
    return `<circle cx="${n(x)}" cy="${n(y)}" r="${n(w / 2)}" fill="#eceff1" stroke="${INK}" stroke-width="1.5"/>${inner}`;
  }
  switch (node.type) {
    case 'Choice': {
      const d = 14;
      const points = [
        [left, y], [left + d, top], [left + w - d, top], [left + w, y], [left + w - d, top + h], [left + d, top + h],
      ].map(([px, py]) => `${n(px as number)},${n(py as number)}`);
      return `<polygon points="${points.join(' ')}" ${paint} stroke-width="1.5"/>`;
    }
    case 'Pass':
      return `<rect x="${n(left)}" y="${n(top)}" width="${n(w)}" height="${n(h)}" rx="${n(h / 2)}" ${paint} stroke-width="1.5"/>`;
    case 'Wait':
      return `<rect x="${n(left)}" y="${n(top)}" width="${n(w)}" height="${n(h)}" rx="4" ${paint} stroke-width="1.5" stroke-dasharray="5 3"/>`;
    case 'Succeed':
    case 'Fail':
      return (
        `<rect x="${n(left)}" y="${n(top)}" width="${n(w)}" height="${n(h)}" rx="8" ${paint} stroke-width="1.5"/>` +
        `<rect x="${n(left + 3)}" y="${n(top + 3)}" width="${n(w - 6)}" height="${n(h - 6)}" rx="6" fill="none" stroke="${stroke}" stroke-width="1"/>`
      );
    default:
      return `<rect x="${n(left)}" y="${n(top)}" width="${n(w)}" height="${n(h)}" rx="8" ${paint} stroke-width="1.5"/>`;
  }
};

/** A smooth path through dagre's points: straight ends, quadratic corners through the midpoints. */
const pathThrough = (points: { x: number; y: number }[]): string => {
  const [first, ...rest] = points;
  if (!first) return '';
  let d = `M${n(first.x)},${n(first.y)}`;
  for (let i = 0; i < rest.length - 1; i += 1) {
    const p = rest[i] as { x: number; y: number };
    const q = rest[i + 1] as { x: number; y: number };
    d += ` Q${n(p.x)},${n(p.y)} ${n((p.x + q.x) / 2)},${n((p.y + q.y) / 2)}`;
  }
  const last = rest[rest.length - 1];
  if (last) d += ` L${n(last.x)},${n(last.y)}`;
  return d;
};

const edgeInk = (kind: EdgeKind): string => (kind === 'catch' ? CATCH_INK : INK);

export const renderSvg = (definition: AslStates, visits?: StateVisits, options: SvgOptions = {}): string => {
  const graph = buildGraph(definition);
  const g = new dagre.graphlib.Graph({ compound: true, multigraph: true });
  // nodesep/ranksep keep the provision machine near 1150 px wide; Catch edges pull harder (weight) so a
  // "<Step>Failed" state sits beside its step instead of all of them in one wide row above RollBack.
  g.setGraph({ rankdir: 'TB', nodesep: 16, ranksep: 30, edgesep: 8, marginx: 16, marginy: 16 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const cluster of graph.clusters) g.setNode(`${cluster.id}__cluster`, { label: cluster.label, width: 0, height: 0 });
  for (const cluster of graph.clusters) if (cluster.parent) g.setParent(`${cluster.id}__cluster`, `${cluster.parent}__cluster`);
  for (const node of graph.nodes) {
    g.setNode(node.id, nodeSize(node));
    if (node.parent) g.setParent(node.id, `${node.parent}__cluster`);
  }
  // A cluster's title is an invisible node above its inner states (dagre has no room for cluster labels).
  for (const cluster of graph.clusters) {
    g.setNode(`${cluster.id}__title`, { width: Math.ceil(textWidth(cluster.label, LABEL_FONT)) + 12, height: 12 });
    g.setParent(`${cluster.id}__title`, `${cluster.id}__cluster`);
    for (const edge of graph.edges.filter((e) => e.from === cluster.id && (e.kind === 'iterate' || e.kind === 'branch'))) {
      g.setEdge(`${cluster.id}__title`, edge.to, { minlen: 1, weight: 1 }, `${cluster.id}__title>${edge.to}`);
    }
  }
  // Edges between the same two states (a Catch and a Next to one cleanup step) are laid out as one and
  // drawn side by side: as two, dagre routes the second around the first one's label in a wide loop.
  const groups = new Map<string, number[]>();
  graph.edges.forEach((edge, i) => groups.set(`${edge.from}\n${edge.to}`, [...(groups.get(`${edge.from}\n${edge.to}`) ?? []), i]));
  for (const [key, members] of groups) {
    const edges = members.map((i) => graph.edges[i] as (typeof graph.edges)[number]);
    const labels = edges.flatMap((edge) => (edge.label === undefined ? [] : [edge.label]));
    const text = labels.join(' / ');
    const label = text === '' ? {} : { width: Math.ceil(textWidth(text, LABEL_FONT)) + 10, height: 16, labelpos: 'c' as const };
    const [from, to] = key.split('\n') as [string, string];
    g.setEdge(from, to, { ...label, text, minlen: 1, weight: edges.some((edge) => edge.kind === 'catch') ? 4 : 1 }, key);
  }
  dagre.layout(g);

  const size = g.graph() as { width?: number; height?: number };
  const width = Math.ceil(size.width ?? 0);
  const graphHeight = Math.ceil(size.height ?? 0);
  const legend = visits !== undefined;
  const height = graphHeight + (legend ? LEGEND_HEIGHT : 0);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" font-family="${escape(FONT)}">`,
    `<title>${escape(options.title ?? 'State machine')}</title>`,
    '<defs>',
    ...(['next', 'catch'] as const).map(
      (kind) =>
        `<marker id="hf-arrow-${kind}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="${edgeInk(kind)}"/></marker>`,
    ),
    '</defs>',
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
  );

  for (const cluster of graph.clusters) {
    const box = g.node(`${cluster.id}__cluster`) as Box;
    const title = g.node(`${cluster.id}__title`) as Box;
    out.push(
      `<g class="cluster" data-cluster="${escape(cluster.id)}">` +
        `<rect x="${n(box.x - box.width / 2)}" y="${n(box.y - box.height / 2)}" width="${n(box.width)}" height="${n(box.height)}" rx="10" fill="#f7f9fa" stroke="#90a4ae" stroke-dasharray="6 4"/>` +
        `<text x="${n(title.x)}" y="${n(title.y + 4)}" font-size="${LABEL_FONT}" text-anchor="middle" fill="#546e7a">${escape(cluster.label)}</text></g>`,
    );
  }

  const labels: string[] = [];
  for (const [key, members] of groups) {
    const laid = g.edge({ v: key.split('\n')[0] as string, w: key.split('\n')[1] as string, name: key }) as {
      points?: { x: number; y: number }[];
      x?: number;
      y?: number;
      width?: number;
      text?: string;
    };
    members.forEach((i, k) => {
      const edge = graph.edges[i] as (typeof graph.edges)[number];
      const shift = (k - (members.length - 1) / 2) * 7;
      const ink = edgeInk(edge.kind);
      const dash = edge.kind === 'catch' ? ' stroke-dasharray="5 4"' : '';
      const marker = edge.kind === 'catch' ? 'catch' : 'next';
      const points = (laid.points ?? []).map((p) => ({ x: p.x + shift, y: p.y }));
      out.push(
        `<g class="edge edge-${edge.kind}" data-from="${escape(edge.from)}" data-to="${escape(edge.to)}">` +
          `<path d="${pathThrough(points)}" fill="none" stroke="${ink}" stroke-width="1.3"${dash} marker-end="url(#hf-arrow-${marker})"/>`,
      );
      // The group's label once, in the colour of the edge it names.
      if (k === 0 && laid.text && laid.x !== undefined && laid.y !== undefined) {
        const w = laid.width ?? 0;
        const named = members.map((j) => graph.edges[j]).find((other) => other?.label !== undefined);
        labels.push(
          `<g class="edge-label" data-from="${escape(edge.from)}" data-to="${escape(edge.to)}"><rect x="${n(laid.x - w / 2)}" y="${n(laid.y - 8)}" width="${n(w)}" height="16" rx="3" fill="#ffffff" fill-opacity="0.9"/>` +
            `<text x="${n(laid.x)}" y="${n(laid.y + 4)}" font-size="${LABEL_FONT}" text-anchor="middle" fill="${edgeInk(named?.kind ?? edge.kind)}">${escape(laid.text)}</text></g>`,
        );
      }
      out.push('</g>');
    });
  }
  // Labels over every line, so no edge crosses a label's text.
  out.push(...labels);

  for (const node of graph.nodes) {
    const box = g.node(node.id) as Box;
    if (node.kind !== 'state') {
      out.push(
        `<g class="terminal terminal-${node.kind}" data-terminal="${node.kind}">${outline(node, box, '', '')}` +
          `<text x="${n(box.x)}" y="${n(box.y + 4)}" font-size="${LABEL_FONT}" text-anchor="middle" fill="${INK}">${node.name}</text></g>`,
      );
      continue;
    }
    const visit = visitOf(visits, node.name);
    const style = VISIT_STYLE[visit];
    const tooltip = `${node.name} (${node.type})${visits ? `: ${style.label.toLowerCase()}` : ''}${node.retry.length > 0 ? `; retries ${[...new Set(node.retry)].join(', ')}` : ''}`;
    const retry =
      node.retry.length > 0
        ? `<text x="${n(box.x + box.width / 2 - 4)}" y="${n(box.y - box.height / 2 + 11)}" font-size="10" text-anchor="end" fill="${style.stroke}">↻</text>`
        : '';
    out.push(
      `<g class="state state-${node.type?.toLowerCase()} visit-${visit}" id="state-${node.id}" data-state="${escape(node.name)}" data-type="${node.type}" data-visit="${visit}">` +
        `<title>${escape(tooltip)}</title>${outline(node, box, style.fill, style.stroke)}${retry}` +
        `<text x="${n(box.x)}" y="${n(box.y + 4.5)}" font-size="${NODE_FONT}" text-anchor="middle" fill="${style.text}"${visit === 'running' ? ' font-weight="600"' : ''}>${escape(node.name)}</text></g>`,
    );
  }

  if (legend) {
    let x = 16;
    const y = graphHeight + 8;
    out.push('<g class="legend">');
    for (const [visit, style] of Object.entries(VISIT_STYLE)) {
      out.push(
        `<g data-legend="${visit}"><rect x="${n(x)}" y="${n(y)}" width="16" height="16" rx="4" fill="${style.fill}" stroke="${style.stroke}" stroke-width="1.5"/>` +
          `<text x="${n(x + 22)}" y="${n(y + 12.5)}" font-size="${LABEL_FONT}" fill="${INK}">${escape(style.label)}</text></g>`,
      );
      x += 22 + Math.ceil(textWidth(style.label, LABEL_FONT)) + 18;
    }
    out.push('</g>');
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
};
