/**
 * The peer of bench/ui-graph.ts: React Flow out of the box. A plain page (no Next.js, no app code) with
 * <ReactFlow>, its default node and edge types, controlled with useNodesState / useEdgesState as in React
 * Flow's quick start, its default stylesheet and <Controls /> (whose "fit view" button the bench clicks, as in
 * the editor). One prop differs from the defaults, so that it shows the same view as the editor: `minZoom`
 * (the editor's 0.05: React Flow's default 0.5 would keep "fit view" from zooming out to the whole graph).
 *
 * bench/ui-graph.ts bundles this file with esbuild (production React) and serves it with the graph:
 * `window.__peerLoad(nodes, edges)` renders it, so the time to first render is measured like the editor's.
 */
import { Controls, ReactFlow, ReactFlowProvider, useEdgesState, useNodesState, type Edge, type Node } from '@xyflow/react';
import '@xyflow/react/dist/style.css';
import { useEffect } from 'react';
import { createRoot } from 'react-dom/client';

declare global {
  interface Window {
    __peerLoad?: (nodes: Node[], edges: Edge[]) => void;
  }
}

function Peer() {
  const [nodes, setNodes, onNodesChange] = useNodesState<Node>([]);
  const [edges, setEdges, onEdgesChange] = useEdgesState<Edge>([]);
  useEffect(() => {
    window.__peerLoad = (n, e) => {
      setNodes(n);
      setEdges(e);
    };
  }, [setNodes, setEdges]);
  return (
    <ReactFlow nodes={nodes} edges={edges} onNodesChange={onNodesChange} onEdgesChange={onEdgesChange} minZoom={0.05}>
      <Controls />
    </ReactFlow>
  );
}

createRoot(document.getElementById('root')!).render(
  <ReactFlowProvider>
    <Peer />
  </ReactFlowProvider>,
);
