'use client';

import { ViewportPortal, type Edge } from '@xyflow/react';
import { memo, useMemo } from 'react';
import { NODE_HEIGHT, NODE_WIDTH } from '../../_lib/graph-layout';
import type { GraphFlowNode } from './graph-node';

/**
 * Every connection of the graph as one SVG path, drawn inside the viewport (flow coordinates) while the
 * canvas is zoomed out to an overview. React Flow gives each edge its own <svg>, store subscription and
 * hit area, which at a thousand-node overview costs more per frame than the rest of the editor together;
 * this layer costs one element, is recomputed only when nodes move or connections change (never on pan or
 * zoom) and takes no pointer events. Zoomed in, React Flow's own (selectable, labelled) edges are back.
 */
export const OverviewEdges = memo(function OverviewEdges({ nodes, edges }: { nodes: GraphFlowNode[]; edges: Edge[] }) {
  const d = useMemo(() => {
    const at = new Map<string, { x: number; y: number }>();
    for (const n of nodes) at.set(n.id, n.position);
    const parts: string[] = [];
    for (const e of edges) {
      const s = at.get(e.source);
      const t = at.get(e.target);
      // Source handle on the right, target handle on the left, both vertically centred (graph-node.tsx).
      if (s && t) parts.push(`M${Math.round(s.x + NODE_WIDTH)} ${Math.round(s.y + NODE_HEIGHT / 2)}L${Math.round(t.x)} ${Math.round(t.y + NODE_HEIGHT / 2)}`);
    }
    return parts.join('');
  }, [nodes, edges]);
  return (
    <ViewportPortal>
      <svg className="overview-edges" aria-hidden="true" width="1" height="1">
        <path d={d} />
      </svg>
    </ViewportPortal>
  );
});
