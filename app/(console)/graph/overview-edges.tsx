'use client';

import { ViewportPortal, type Edge } from '@xyflow/react';
import { memo, useMemo } from 'react';
import { NODE_HEIGHT, NODE_WIDTH } from '../../_lib/graph-layout';
import type { GraphFlowNode } from './graph-node';

type At = (id: string) => { x: number; y: number } | undefined;

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
export const OverviewEdges = memo(function OverviewEdges({ nodes, edges }: { nodes: GraphFlowNode[]; edges: Edge[] }) {
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
  const stillD = useMemo(() => pathOf(still, (id) => frozen.get(id)), [still, frozen]);
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
      </svg>
    </ViewportPortal>
  );
});
