'use client';

import { useStore, ViewportPortal, type Edge } from '@xyflow/react';
import { memo, useCallback, useMemo } from 'react';
import { NODE_HEIGHT, NODE_WIDTH } from '../../_lib/graph-layout';
import type { GraphFlowNode } from './graph-node';

type At = (id: string) => { x: number; y: number } | undefined;
const nodesOf = (s: { nodes: unknown }) => s.nodes as GraphFlowNode[];

/** One straight segment per edge: source handle on the right, target handle on the left, both vertically centred (graph-node.tsx). */
function pathOf(edges: readonly Edge[], at: At): string {
  const parts: string[] = [];
  for (const e of edges) {
    const s = at(e.source);
    const t = at(e.target);
    if (s && t) parts.push(`M${Math.round(s.x + NODE_WIDTH)} ${Math.round(s.y + NODE_HEIGHT / 2)}L${Math.round(t.x)} ${Math.round(t.y + NODE_HEIGHT / 2)}`);
  }
  return parts.join('');
}

/** One rectangle per node at its flow position, the size of a node (the overview's boxes), `inset` inside it. */
function boxesOf(nodes: readonly GraphFlowNode[], at: At, inset: number): string {
  const w = NODE_WIDTH - 2 * inset;
  const h = NODE_HEIGHT - 2 * inset;
  const parts: string[] = [];
  for (const n of nodes) {
    const p = at(n.id);
    if (p) parts.push(`M${Math.round(p.x) + inset} ${Math.round(p.y) + inset}h${w}v${h}h${-w}z`);
  }
  return parts.join('');
}

/** The overview's look of a node (globals.css, `.graph-canvas.overview .gnode…`): its fill, and an outline if any. */
function lookOf(n: GraphFlowNode): { fill: string; outline: string | null } {
  const d = n.data;
  const fill = `gnode-${d.kind}${d.issues > 0 ? ' has-issues' : ''}${d.match === false ? ' dim' : ''}`;
  const outline = n.selected ? 'selected' : d.match === true ? 'match' : null;
  return { fill, outline };
}

/**
 * Stand-ins for the overview's node boxes while the canvas is panned or nodes are dragged: the editor hides the
 * DOM nodes then (globals.css, `.graph-canvas.overview.interacting`), except the dragged ones. A thousand node
 * elements cost Chromium, on every pointer move, a re-layerization of the viewport (each node has its own
 * transform, and a transform change of the viewport is not a compositor-only update in this Chromium) and a hit
 * test through every node: 9 + 4 ms per move at 1,000 nodes. The same boxes as a few SVG paths (one per look)
 * cost neither. Built once per interaction from the positions when it started; nothing changes per frame.
 */
function OverviewBoxes({ nodes, at }: { nodes: GraphFlowNode[]; at: At }) {
  const groups = useMemo(() => {
    const byLook = new Map<string, GraphFlowNode[]>();
    for (const n of nodes) {
      if (n.dragging) continue;
      const { fill, outline } = lookOf(n);
      for (const key of outline ? [`fill ${fill}`, `outline ${outline}`] : [`fill ${fill}`]) {
        const list = byLook.get(key);
        if (list) list.push(n);
        else byLook.set(key, [n]);
      }
    }
    // Outlines: 12 px wide, inside the box (the stroke is centred on a box inset by 6).
    return [...byLook].map(([key, list]) => ({ key, d: boxesOf(list, at, key.startsWith('outline') ? 6 : 0) }));
  }, [nodes, at]);
  return (
    <>
      {groups.map(({ key, d }) => (
        <path key={key} className={`overview-box ${key}`} d={d} />
      ))}
    </>
  );
}

/**
 * Every connection of the graph as SVG paths, drawn inside the viewport (flow coordinates) while the canvas
 * is zoomed out to an overview. React Flow gives each edge its own <svg>, store subscription and hit area,
 * which at a thousand-node overview costs more per frame than the rest of the editor together; this layer
 * costs two elements and takes no pointer events. Zoomed in, React Flow's own (selectable, labelled) edges
 * are back.
 *
 * While nodes are dragged, the connections split in two paths: the ones that do not touch a dragged node
 * (built once when the drag starts, then left alone, so the browser repaints none of them) and the few that
 * do (rebuilt per frame: a handful of segments). One path for everything would be re-parsed and repainted
 * over the whole graph on every pointer move — what made dragging miss frames at 1,000 nodes.
 */
export const OverviewEdges = memo(function OverviewEdges({ edges, interacting }: { edges: Edge[]; interacting: boolean }) {
  // From React Flow's store, not the editor's state: a drag moves its nodes there only (graph-editor.tsx).
  const nodes = useStore(nodesOf);
  // Ids of the nodes being dragged, as a stable key: changes when a drag starts or ends, not per frame.
  const draggingKey = useMemo(() => {
    let key = '';
    for (const n of nodes) if (n.dragging) key += `${n.id}\n`;
    return key;
  }, [nodes]);
  // Positions: during a drag only the dragged nodes move; the map from the drag's first frame serves the rest.
  const frozen = useMemo(() => new Map(nodes.map((n) => [n.id, n.position])), [draggingKey ? draggingKey : nodes]); // eslint-disable-line react-hooks/exhaustive-deps
  const { still, moving } = useMemo(() => {
    if (!draggingKey) return { still: edges, moving: [] as Edge[] };
    const dragged = new Set(draggingKey.split('\n'));
    const still: Edge[] = [];
    const moving: Edge[] = [];
    for (const e of edges) (dragged.has(e.source) || dragged.has(e.target) ? moving : still).push(e);
    return { still, moving };
  }, [edges, draggingKey]);
  const frozenAt = useCallback((id: string) => frozen.get(id), [frozen]);
  // The boxes' nodes: those of the interaction's start (a new array per drag frame would rebuild them).
  const boxNodes = useMemo(() => nodes, [interacting, draggingKey]); // eslint-disable-line react-hooks/exhaustive-deps
  const stillD = useMemo(() => pathOf(still, frozenAt), [still, frozenAt]);
  const movingD = useMemo(() => {
    if (moving.length === 0) return '';
    const now = new Map<string, { x: number; y: number }>();
    for (const n of nodes) if (n.dragging) now.set(n.id, n.position);
    return pathOf(moving, (id) => now.get(id) ?? frozen.get(id));
  }, [moving, nodes, frozen]);
  return (
    <ViewportPortal>
      <svg className="overview-edges" aria-hidden="true" width="1" height="1">
        <path d={stillD} />
        {movingD && <path d={movingD} />}
        {interacting && <OverviewBoxes nodes={boxNodes} at={frozenAt} />}
      </svg>
    </ViewportPortal>
  );
});
