/**
 * Node positions for the graph editor: an instant column layout (one column per kind, used for the first
 * render) and the layered layout of elkjs, loaded on demand so it stays out of the page's initial JavaScript.
 */
import { KIND_COLUMN, type GraphEdgeInfo, type GraphNodeInfo } from './route-graph-model';

export const NODE_WIDTH = 200;
export const NODE_HEIGHT = 56;
const COLUMN_GAP = 90;
const ROW_GAP = 16;

export type Positions = Map<string, { x: number; y: number }>;

/** Instant placement: kinds in columns left to right, objects in graph order top to bottom. */
export function columnLayout(nodes: GraphNodeInfo[]): Positions {
  const rows = new Map<number, number>();
  const out: Positions = new Map();
  for (const n of nodes) {
    const col = KIND_COLUMN[n.kind] + (n.kind === 'policy' ? 0 : 0);
    const row = rows.get(col) ?? 0;
    rows.set(col, row + 1);
    out.set(n.id, { x: col * (NODE_WIDTH + COLUMN_GAP), y: row * (NODE_HEIGHT + ROW_GAP) });
  }
  return out;
}

/** The next free spot under everything in a kind's column (for new nodes). */
export function placeNew(kindColumn: number, existing: Iterable<{ x: number; y: number }>): { x: number; y: number } {
  const x = kindColumn * (NODE_WIDTH + COLUMN_GAP);
  let maxY = -NODE_HEIGHT - ROW_GAP;
  for (const p of existing) if (Math.abs(p.x - x) < NODE_WIDTH / 2 && p.y > maxY) maxY = p.y;
  return { x, y: maxY + NODE_HEIGHT + ROW_GAP };
}

type ElkInstance = { layout: (graph: unknown) => Promise<{ children?: { id: string; x?: number; y?: number }[] }> };
let elk: Promise<ElkInstance> | undefined;

/** Layered (Sugiyama) layout by elkjs, left to right. */
export async function elkLayout(nodes: GraphNodeInfo[], edges: GraphEdgeInfo[]): Promise<Positions> {
  elk ??= import('elkjs/lib/elk.bundled.js').then((m) => new m.default() as unknown as ElkInstance);
  const instance = await elk;
  const ids = new Set(nodes.map((n) => n.id));
  const result = await instance.layout({
    id: 'root',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'RIGHT',
      'elk.layered.spacing.nodeNodeBetweenLayers': String(COLUMN_GAP),
      'elk.spacing.nodeNode': String(ROW_GAP),
      'elk.layered.nodePlacement.strategy': 'BRANDES_KOEPF',
      'elk.separateConnectedComponents': 'false',
    },
    children: nodes.map((n) => ({
      id: n.id,
      width: NODE_WIDTH,
      height: NODE_HEIGHT,
      layoutOptions: { 'elk.layered.layering.layerChoiceConstraint': String(KIND_COLUMN[n.kind]) },
    })),
    edges: edges.filter((e) => ids.has(e.source) && ids.has(e.target)).map((e) => ({ id: e.id, sources: [e.source], targets: [e.target] })),
  });
  const out: Positions = new Map();
  for (const c of result.children ?? []) out.set(c.id, { x: c.x ?? 0, y: c.y ?? 0 });
  return out;
}
