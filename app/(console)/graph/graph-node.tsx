'use client';

import { Handle, Position, type Node, type NodeProps } from '@xyflow/react';
import { createContext, memo, useContext } from 'react';
import { KIND_LABEL, type GraphKind } from '../../_lib/route-graph-model';

export interface GraphNodeData extends Record<string, unknown> {
  kind: GraphKind;
  name: string;
  detail: string;
  /** Validation issues about this object. */
  issues: number;
  /** Search: matches (true), does not match while searching (false), no search (undefined). */
  match?: boolean;
  /** Visual diff: how the object changed. */
  change?: 'added' | 'removed' | 'changed' | 'same';
  /** Policy nodes: live decision counts (replaces the detail line). */
  live?: string;
}

export type GraphFlowNode = Node<GraphNodeData, 'graph'>;

// Node groups take edges from XDP rule sets (left); request policies from routes and virtual hosts.
const HAS_TARGET: Record<GraphKind, boolean> = { nodeGroup: true, listener: true, virtualHost: true, route: true, cluster: true, endpoint: true, policy: true, xdpRuleSet: false };
const HAS_SOURCE: Record<GraphKind, boolean> = { nodeGroup: true, listener: true, virtualHost: true, route: true, cluster: true, endpoint: false, policy: false, xdpRuleSet: true };

/**
 * True while the editor shows its overview level of detail (a big graph zoomed far out): nodes are then plain
 * boxes in their kind's colour, so they render no text at all — a node that pans into view mounts two empty
 * handles instead of three lines of text to lay out and shape. Changes once per level-of-detail switch.
 */
export const OverviewContext = createContext(false);

/** One object of the route graph. Memoised: React Flow re-renders it only when its data or selection changes. */
function GraphNodeView({ data, selected }: NodeProps<GraphFlowNode>) {
  const overview = useContext(OverviewContext);
  const cls = ['gnode', `gnode-${data.kind}`];
  if (selected) cls.push('selected');
  if (data.issues > 0) cls.push('has-issues');
  if (data.match === false) cls.push('dim');
  if (data.match === true) cls.push('match');
  if (data.change && data.change !== 'same') cls.push(`diff-${data.change}`);
  const className = cls.join(' ');
  const title = `${KIND_LABEL[data.kind]} ${data.name}`;
  // No handles in the overview: each is a store subscription that React Flow runs on every store update (every
  // pan and drag frame), two thousand of them at 1,000 nodes. They cannot be used there anyway (too small to
  // hit); the editor re-measures the nodes' handles when the zoom leaves the overview (graph-editor.tsx).
  if (overview) return <div className={className} title={title} />;
  return (
    <div className={className} title={title}>
      {HAS_TARGET[data.kind] && <Handle type="target" position={Position.Left} aria-label={`connect into ${data.name}`} />}
      <div className="gnode-kind">
        {KIND_LABEL[data.kind]}
        {data.issues > 0 && (
          <span className="gnode-issues" aria-label={`${data.issues} validation issue${data.issues === 1 ? '' : 's'}`}>
            {' '}
            ⚠ {data.issues}
          </span>
        )}
        {data.change && data.change !== 'same' && <span className="gnode-change"> {data.change}</span>}
      </div>
      <div className="gnode-name">{data.name}</div>
      {data.live !== undefined ? <div className="gnode-detail gnode-live">{data.live}</div> : <div className="gnode-detail">{data.detail}</div>}
      {HAS_SOURCE[data.kind] && <Handle type="source" position={Position.Right} aria-label={`connect from ${data.name}`} />}
    </div>
  );
}

export const GraphNode = memo(GraphNodeView);
export const nodeTypes = { graph: GraphNode };
