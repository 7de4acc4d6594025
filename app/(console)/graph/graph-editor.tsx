'use client';

import {
  applyEdgeChanges,
  applyNodeChanges,
  Background,
  Controls,
  MarkerType,
  MiniMap,
  ReactFlow,
  ReactFlowProvider,
  useReactFlow,
  useStore,
  useStoreApi,
  getViewportForBounds,
  type Connection,
  type Edge,
  type EdgeChange,
  type NodeChange,
} from '@xyflow/react';
import '@xyflow/react/dist/style.css';
import { useRouter } from 'next/navigation';
import { useCallback, useDeferredValue, useEffect, useMemo, useRef, useState } from 'react';
import { RouteGraphSchema, type RouteGraph } from '@/contracts/route-graph.schema';
import { validateRouteGraph, type ValidationIssue } from '@/contracts/route-graph.validate';
import { API, callConsoleApi, describeConsoleFailure, type ConsoleResult } from '../../_lib/console-api';
import { usePoll } from '../../_lib/use-poll';
import { columnLayout, elkLayout, NODE_HEIGHT, NODE_WIDTH, placeNew, type Positions } from '../../_lib/graph-layout';
import {
  addObject,
  connect,
  connectionKind,
  copyNodes,
  disconnect,
  graphToElements,
  KIND_COLUMN,
  KIND_LABEL,
  nodeIdOfIssuePath,
  parseNodeId,
  pasteNodes,
  removeNodes,
  type GraphClipboard,
  type GraphEdgeInfo,
  type GraphKind,
  type GraphNodeInfo,
  type GraphOverlay,
} from '../../_lib/route-graph-model';
import { nodeTypes, OverviewContext, type GraphFlowNode } from './graph-node';
import { Inspector } from './inspector';
import { OverviewEdges } from './overview-edges';
import { liveKey, liveLines, overlayKey, overlayOf, PolicyLivePanel, type GraphPolicyStatus } from './policy-live';

export interface RevisionChoice {
  id: string;
  number: number;
  live: boolean;
  state: string;
  message: string;
}

export interface GraphEditorProps {
  initialGraph: RouteGraph;
  /** The revision the editor started from (null: empty graph). */
  base: { id: string; number: number; live: boolean; state: string } | null;
  revisions: RevisionChoice[];
  canWrite: boolean;
}

const HISTORY_LIMIT = 200;
/**
 * Below this zoom the canvas is an overview (level of detail): nodes are plain coloured boxes (their text is
 * unreadable there anyway), connections are one SVG path (OverviewEdges) instead of React Flow edges (no
 * arrow heads, labels or hit areas), and the dotted background is not drawn. The switch re-renders once when
 * the zoom crosses it, never per frame.
 */
const OVERVIEW_ZOOM = 0.45;
/** Graphs at least this big get straight edges (cheaper to draw and to hit-test than curves) and the overview. */
const STRAIGHT_EDGES_FROM = 300;
const LOD_FROM = STRAIGHT_EDGES_FROM;
// Props handed to <ReactFlow> are module constants: a new object per render would make React Flow redo work.
const FIT_VIEW_OPTIONS = { maxZoom: 1.2 } as const;
const MULTI_SELECTION_KEYS = ['Meta', 'Control', 'Shift'];
const NO_EDGES: Edge[] = [];
const isOverview = (s: { transform: [number, number, number] }) => s.transform[2] < OVERVIEW_ZOOM;
/** Above this many nodes the layered layout runs only when asked (it can take a few seconds). */
const AUTO_LAYOUT_MAX_NODES = 300;
const ADDABLE: GraphKind[] = ['nodeGroup', 'listener', 'virtualHost', 'route', 'cluster', 'endpoint'];

interface History {
  stack: RouteGraph[];
  index: number;
  /** Consecutive edits with the same key (typing in one field) replace each other within 1.5 s. */
  lastKey: string | null;
  lastAt: number;
}

type Status = { kind: 'info' | 'error' | 'ok'; text: string } | null;

/** A poll of the graph's policies changes something only if more than its window start (`since`) changed. */
const policyPollKey = (r: ConsoleResult<GraphPolicyStatus>) => JSON.stringify(r.ok ? { ...r.data, since: null } : r);

function dataFor(info: GraphNodeInfo, issues: number, match: boolean | undefined, live: string | undefined): GraphFlowNode['data'] {
  return live === undefined ? { kind: info.kind, name: info.name, detail: info.detail, issues, match } : { kind: info.kind, name: info.name, detail: info.detail, issues, match, live };
}

function nodeFor(info: GraphNodeInfo, data: GraphFlowNode['data'], selected: boolean, position: { x: number; y: number }): GraphFlowNode {
  // Known size up front: culling (onlyRenderVisibleElements) and fitView work before the DOM is measured.
  return { id: info.id, type: 'graph', position, selected, width: NODE_WIDTH, height: NODE_HEIGHT, data };
}

function edgeFor(e: GraphEdgeInfo, selected: boolean, straight: boolean): Edge {
  return {
    id: e.id,
    source: e.source,
    target: e.target,
    selected,
    ...(straight ? { type: 'straight' } : {}),
    className: `gedge gedge-${e.kind}`,
    markerEnd: { type: MarkerType.ArrowClosed, width: 14, height: 14 },
    ...(e.weight !== undefined ? { label: `weight ${e.weight}`, labelBgPadding: [4, 2] as [number, number], labelBgBorderRadius: 4 } : {}),
    data: { kind: e.kind, weight: e.weight },
  };
}

export function GraphEditor(props: GraphEditorProps) {
  return (
    <ReactFlowProvider>
      <Editor {...props} />
    </ReactFlowProvider>
  );
}

function Editor({ initialGraph, base, revisions, canWrite }: GraphEditorProps) {
  const router = useRouter();
  const rf = useReactFlow();
  const store = useStoreApi();
  const [hist, setHist] = useState<History>({ stack: [initialGraph], index: 0, lastKey: null, lastAt: 0 });
  const graph = hist.stack[hist.index]!;
  const dirty = graph !== initialGraph;
  const [status, setStatus] = useState<Status>(null);
  const [query, setQuery] = useState('');
  const [matchCursor, setMatchCursor] = useState(0);
  const [saved, setSaved] = useState<{ id: string; number: number | null } | null>(null);
  const [message, setMessage] = useState('');
  const [busy, setBusy] = useState(false);
  const [layouting, setLayouting] = useState(false);
  const searchRef = useRef<HTMLInputElement>(null);
  const clipboard = useRef<GraphClipboard | null>(null);
  const posHints = useRef<Positions>(new Map());
  const pendingSelect = useRef<Set<string> | null>(null);

  // ---- policies beside the route graph (request policies, XDP rule sets) and their live decision counts
  const live = usePoll<GraphPolicyStatus>(API.graphPolicies, 2000, policyPollKey);
  const liveStatus = live.result?.ok ? live.result.data : null;
  const refreshLive = live.refresh;
  // Keys: a poll that only changes counts leaves the canvas's elements alone, and one that changes nothing re-renders no node.
  const overlayJson = useMemo(() => overlayKey(overlayOf(liveStatus)), [liveStatus]);
  const overlay = useMemo(() => JSON.parse(overlayJson) as GraphOverlay, [overlayJson]);
  const liveJson = useMemo(() => liveKey(liveLines(liveStatus)), [liveStatus]);
  const liveById = useMemo(() => new Map(JSON.parse(liveJson) as [string, string][]), [liveJson]);
  const [xdpPublish, setXdpPublish] = useState<{ ruleSetId: string; name: string; nodeGroup: string } | null>(null);
  // Read by onConnect, which stays the same function across polls (a new one would be a new <ReactFlow> prop).
  const liveRef = useRef(liveStatus);
  useEffect(() => {
    liveRef.current = liveStatus;
  }, [liveStatus]);

  const commit = useCallback((next: RouteGraph, key?: string) => {
    setHist((h) => {
      const now = Date.now();
      if (key && h.lastKey === key && now - h.lastAt < 1500 && h.index > 0) {
        const stack = [...h.stack.slice(0, h.index), next];
        return { stack, index: h.index, lastKey: key, lastAt: now };
      }
      const stack = [...h.stack.slice(0, h.index + 1), next].slice(-HISTORY_LIMIT);
      return { stack, index: stack.length - 1, lastKey: key ?? null, lastAt: now };
    });
    setSaved(null);
  }, []);
  const undo = useCallback(() => setHist((h) => (h.index > 0 ? { ...h, index: h.index - 1, lastKey: null } : h)), []);
  const redo = useCallback(() => setHist((h) => (h.index < h.stack.length - 1 ? { ...h, index: h.index + 1, lastKey: null } : h)), []);

  // ---- derived: elements, validation, search
  const elements = useMemo(() => graphToElements(graph, overlay), [graph, overlay]);
  const deferredGraph = useDeferredValue(graph);
  const validation = useMemo(() => validateRouteGraph(deferredGraph), [deferredGraph]);
  const issues: ValidationIssue[] = useMemo(() => (validation.ok ? [] : validation.issues), [validation]);
  const issuesByNode = useMemo(() => {
    const m = new Map<string, ValidationIssue[]>();
    for (const i of issues) {
      const id = nodeIdOfIssuePath(deferredGraph, i.path);
      if (id) m.set(id, [...(m.get(id) ?? []), i]);
    }
    return m;
  }, [issues, deferredGraph]);
  const matches = useMemo(() => {
    const q = query.trim().toLowerCase();
    if (!q) return null;
    return elements.nodes.filter((n) => n.name.toLowerCase().includes(q) || n.detail.toLowerCase().includes(q) || KIND_LABEL[n.kind].toLowerCase() === q).map((n) => n.id);
  }, [query, elements]);

  // ---- React Flow state, rebuilt when the graph changes (unchanged nodes keep their object: no re-render)
  const [nodes, setNodes] = useState<GraphFlowNode[]>(() => {
    const pos = columnLayout(elements.nodes);
    return elements.nodes.map((n) => nodeFor(n, dataFor(n, 0, undefined, undefined), false, pos.get(n.id)!));
  });
  const [edges, setEdges] = useState<Edge[]>(() => elements.edges.map((e) => edgeFor(e, false, elements.nodes.length >= STRAIGHT_EDGES_FROM)));

  useEffect(() => {
    const matchSet = matches ? new Set(matches) : null;
    const select = pendingSelect.current;
    pendingSelect.current = null;
    // The updater must be pure (React may call it twice): read a snapshot of the hints, clear them after.
    const hints = new Map(posHints.current);
    for (const n of elements.nodes) posHints.current.delete(n.id);
    setNodes((prev) => {
      const byId = new Map(prev.map((n) => [n.id, n]));
      const placed: { x: number; y: number }[] = prev.map((n) => n.position);
      // Remember where removed nodes were: undo puts them back in place.
      const kept = new Set(elements.nodes.map((n) => n.id));
      for (const n of prev) if (!kept.has(n.id)) posHints.current.set(n.id, n.position);
      const next = elements.nodes.map((info) => {
        const old = byId.get(info.id);
        const issueCount = issuesByNode.get(info.id)?.length ?? 0;
        const match = matchSet ? matchSet.has(info.id) : undefined;
        const selected = select ? select.has(info.id) : (old?.selected ?? false);
        const liveLine = liveById.get(info.id);
        if (old) {
          const d = old.data;
          if (d.name === info.name && d.detail === info.detail && d.issues === issueCount && d.match === match && d.live === liveLine && !!old.selected === selected) return old;
          return { ...old, selected, data: dataFor(info, issueCount, match, liveLine) };
        }
        const position = hints.get(info.id) ?? placeNew(KIND_COLUMN[info.kind], placed);
        placed.push(position);
        return nodeFor(info, dataFor(info, issueCount, match, liveLine), selected, position);
      });
      // Nothing changed (e.g. live counts of nodes not in this graph): keep the array, React Flow does no work.
      return next.length === prev.length && next.every((n, i) => n === prev[i]) ? prev : next;
    });
    const straight = elements.nodes.length >= STRAIGHT_EDGES_FROM;
    setEdges((prev) => {
      const byId = new Map(prev.map((e) => [e.id, e]));
      return elements.edges.map((info) => {
        const old = byId.get(info.id);
        if (old && (old.data as { weight?: number } | undefined)?.weight === info.weight && (old.type === 'straight') === straight && !select) return old;
        return edgeFor(info, select ? false : (old?.selected ?? false), straight);
      });
    });
  }, [elements, issuesByNode, matches, liveById]);

  // ---- level of detail and interaction state (class names on the canvas: one style pass per switch)
  // Small graphs are cheap at any zoom: they keep full detail (handles stay usable when zoomed out).
  const overview = useStore(isOverview) && nodes.length >= LOD_FROM;
  const shownEdges = overview ? NO_EDGES : edges;
  // Overview nodes render no handles (graph-node.tsx): when the zoom leaves the overview, React Flow measures
  // the handles of the nodes that stay mounted (those mounting later are measured as they mount). What
  // useUpdateNodeInternals does, but with one DOM query instead of one per node id.
  const wasOverview = useRef(overview);
  useEffect(() => {
    if (wasOverview.current && !overview) {
      const { domNode, updateNodeInternals } = store.getState();
      const updates: Parameters<typeof updateNodeInternals>[0] = new Map();
      for (const el of domNode?.querySelectorAll<HTMLDivElement>('.react-flow__node') ?? []) {
        const id = el.dataset.id;
        if (id) updates.set(id, { id, nodeElement: el, force: true });
      }
      requestAnimationFrame(() => updateNodeInternals(updates, { triggerFitView: false }));
    }
    wasOverview.current = overview;
  }, [overview, store]);
  const [interacting, setInteracting] = useState(false);
  const startInteraction = useCallback(() => setInteracting(true), []);
  const endInteraction = useCallback(() => setInteracting(false), []);
  // Overview nodes are cheap boxes, so all of them stay mounted there: panning then only moves the viewport
  // layer, where culling (onlyRenderVisibleElements) would mount, measure and lay out the nodes scrolling into
  // view on every frame. While panning or dragging, the nodes (but the dragged ones) are out of the layout and
  // SVG stand-ins show them (OverviewEdges), so a drag needs no culling either (it unmounted hundreds of nodes
  // when it started). Mounting all is deferred by a render: a big graph shows the nodes on screen first.
  const mountAll = useDeferredValue(overview) && overview;

  // A drag's moves go to React Flow's store only (what its uncontrolled mode does): the editor does not re-render
  // per pointer move, React Flow re-renders the dragged nodes and their edges (OverviewEdges reads the store).
  // The drag's last change (dragging: false, the final positions) goes through the editor's state as usual.
  const onNodesChange = useCallback(
    (changes: NodeChange<GraphFlowNode>[]) => {
      const kept = changes.filter((c) => c.type !== 'remove');
      if (kept.length > 0 && kept.every((c) => c.type === 'position' && c.dragging)) {
        const { nodes: current, setNodes: setStoreNodes } = store.getState();
        setStoreNodes(applyNodeChanges(kept, current as GraphFlowNode[]));
        return;
      }
      setNodes((nds) => applyNodeChanges(kept, nds));
    },
    [store],
  );
  const onEdgesChange = useCallback((changes: EdgeChange[]) => setEdges((eds) => applyEdgeChanges(changes.filter((c) => c.type !== 'remove'), eds)), []);

  const selectedNodeIds = useMemo(() => nodes.filter((n) => n.selected).map((n) => n.id), [nodes]);
  const selectedKey = selectedNodeIds.join('\n');
  const selectedIds = useMemo(() => (selectedKey ? selectedKey.split('\n') : []), [selectedKey]);
  const selectedEdgeKey = useMemo(() => edges.filter((e) => e.selected).map((e) => e.id).join('\n'), [edges]);
  const selectedEdgeIds = useMemo(() => (selectedEdgeKey ? selectedEdgeKey.split('\n') : []), [selectedEdgeKey]);

  const selectOnly = useCallback((ids: string[]) => {
    const set = new Set(ids);
    setNodes((nds) => nds.map((n) => (!!n.selected === set.has(n.id) ? n : { ...n, selected: set.has(n.id) })));
    setEdges((eds) => eds.map((e) => (e.selected ? { ...e, selected: false } : e)));
  }, []);

  // ---- edits
  const onConnect = useCallback(
    (c: Connection) => {
      if (!canWrite) return;
      const ck = connectionKind(c.source, c.target);
      if (ck.ok && ck.kind === 'xr-ng') {
        // Not a route-graph edit: ask, then publish through the XDP workflow (publishXdp).
        const [rs, ng] = parseNodeId(c.source)?.kind === 'xdpRuleSet' ? [c.source, c.target] : [c.target, c.source];
        const set = liveRef.current?.xdpRuleSets.find((x) => x.id === parseNodeId(rs)?.name);
        if (!set) return setStatus({ kind: 'error', text: 'That XDP rule set is no longer listed; wait for the next update.' });
        setXdpPublish({ ruleSetId: set.id, name: `${set.nodeGroup} v${set.seq}`, nodeGroup: parseNodeId(ng)!.name });
        return;
      }
      const r = connect(graph, c.source, c.target);
      if (!r.ok) return setStatus({ kind: 'error', text: `Not connected: ${r.error}.` });
      commit(r.graph);
      const policy = ck.ok && ck.kind === 'x-p';
      setStatus({
        kind: 'info',
        text: `Connected ${parseNodeId(c.source)?.name} → ${parseNodeId(c.target)?.name}.${policy ? ' The request policy decides its requests once this revision is saved and applied.' : ''}`,
      });
    },
    [graph, commit, canWrite],
  );

  const add = useCallback(
    (kind: GraphKind) => {
      const selectedCluster = selectedIds.map(parseNodeId).find((p) => p?.kind === 'cluster')?.name ?? selectedIds.map(parseNodeId).find((p) => p?.kind === 'endpoint')?.cluster;
      const r = addObject(graph, kind, selectedCluster ? { cluster: selectedCluster } : {});
      if (!r.ok) return setStatus({ kind: 'error', text: `Cannot add: ${r.error}.` });
      pendingSelect.current = new Set([r.id]);
      if (kind === 'endpoint' && selectedCluster) {
        const c = nodes.find((n) => n.id === `c:${selectedCluster}`);
        if (c) posHints.current.set(r.id, { x: c.position.x + 290, y: c.position.y + 20 * (r.graph.clusters.find((x) => x.name === selectedCluster)?.endpoints.length ?? 1) });
      }
      commit(r.graph);
      setStatus({ kind: 'info', text: `Added ${KIND_LABEL[kind].toLowerCase()} ${parseNodeId(r.id)?.name}; edit it in the side panel.` });
    },
    [graph, commit, selectedIds, nodes],
  );

  const deleteSelection = useCallback(() => {
    if (!canWrite || (selectedIds.length === 0 && selectedEdgeIds.length === 0)) return;
    if ([...selectedIds, ...selectedEdgeIds].some((id) => id.startsWith('xr'))) {
      return setStatus({ kind: 'error', text: 'XDP rule sets are not part of the route graph: a node group changes XDP state only when another version is published to it.' });
    }
    let g = graph;
    for (const e of selectedEdgeIds) g = disconnect(g, e);
    g = removeNodes(g, selectedIds);
    commit(g);
    setStatus({ kind: 'info', text: `Deleted ${selectedIds.length} object${selectedIds.length === 1 ? '' : 's'} and ${selectedEdgeIds.length} connection${selectedEdgeIds.length === 1 ? '' : 's'} (Ctrl+Z undoes).` });
  }, [graph, commit, selectedIds, selectedEdgeIds, canWrite]);

  const copy = useCallback(() => {
    if (selectedIds.length === 0) return setStatus({ kind: 'info', text: 'Select something to copy first.' });
    clipboard.current = copyNodes(graph, selectedIds);
    setStatus({ kind: 'info', text: `Copied ${selectedIds.length} object${selectedIds.length === 1 ? '' : 's'}; Ctrl+V pastes.` });
  }, [graph, selectedIds]);

  const paste = useCallback(() => {
    if (!canWrite) return;
    const clip = clipboard.current;
    if (!clip) return setStatus({ kind: 'info', text: 'Nothing copied yet: select objects and press Ctrl+C.' });
    const into = selectedIds.map(parseNodeId).find((p) => p?.kind === 'cluster')?.name;
    const { graph: g, ids } = pasteNodes(graph, clip, into);
    if (ids.length === 0) return setStatus({ kind: 'info', text: 'Endpoints are pasted into a cluster: select the cluster first.' });
    const byId = new Map(nodes.map((n) => [n.id, n.position]));
    const sources = [...clip.listeners.map((x) => `l:${x.name}`), ...clip.virtualHosts.map((x) => `vh:${x.name}`), ...clip.routes.map((x) => `r:${x.name}`), ...clip.clusters.map((x) => `c:${x.name}`), ...clip.nodeGroups.map((x) => `ng:${x.name}`)];
    ids.forEach((id, i) => {
      const from = byId.get(sources[i] ?? '');
      if (from) posHints.current.set(id, { x: from.x + 40, y: from.y + 40 });
    });
    pendingSelect.current = new Set(ids);
    commit(g);
    setStatus({ kind: 'info', text: `Pasted ${ids.length} object${ids.length === 1 ? '' : 's'}.` });
  }, [graph, commit, selectedIds, nodes, canWrite]);

  const autoLayout = useCallback(async () => {
    setLayouting(true);
    try {
      const pos = await elkLayout(elements.nodes, elements.edges);
      setNodes((nds) => nds.map((n) => ({ ...n, position: pos.get(n.id) ?? n.position })));
      setTimeout(() => void rf.fitView({ duration: 200, maxZoom: 1.2 }), 60);
    } catch (err) {
      setStatus({ kind: 'error', text: `Automatic layout failed: ${err instanceof Error ? err.message : String(err)}` });
    } finally {
      setLayouting(false);
    }
  }, [elements, rf]);

  // Lay out once on load (small graphs; large ones start with the column layout and a button).
  const laidOut = useRef(false);
  useEffect(() => {
    if (laidOut.current) return;
    const timer = setTimeout(() => {
      laidOut.current = true;
      if (elements.nodes.length > 0 && elements.nodes.length <= AUTO_LAYOUT_MAX_NODES) void autoLayout();
    }, 0);
    return () => clearTimeout(timer);
  }, [elements, autoLayout]);

  const focusNode = useCallback(
    (id: string) => {
      selectOnly([id]);
      void rf.fitView({ nodes: [{ id }], duration: 250, maxZoom: 1.2 });
    },
    [rf, selectOnly],
  );
  const onRenamed = useCallback(
    (from: string, to: string) => {
      const n = rf.getNode(from);
      if (n) posHints.current.set(to, n.position);
      pendingSelect.current = new Set([to]);
    },
    [rf],
  );
  const onInspectorError = useCallback((text: string) => setStatus({ kind: 'error', text }), []);
  const single = selectedIds.length === 1 ? selectedIds[0]! : null;
  const nodeGroupNames = useMemo(() => new Set(graph.nodeGroups.map((n) => n.name)), [graph]);
  const inspectorExtra = useMemo(() => (single ? <PolicyLivePanel id={single} status={liveStatus} nodeGroups={nodeGroupNames} /> : null), [single, liveStatus, nodeGroupNames]);

  /** Publishes an XDP rule set to a node group (a copy for another group first): its own workflow, not a revision. */
  const publishXdp = useCallback(async () => {
    const p = xdpPublish;
    if (!p) return;
    const set = liveStatus?.xdpRuleSets.find((x) => x.id === p.ruleSetId);
    if (!set) return setStatus({ kind: 'error', text: 'That XDP rule set is no longer listed; wait for the next update.' });
    setBusy(true);
    try {
      let id = set.id;
      if (set.nodeGroup !== p.nodeGroup) {
        const list = await callConsoleApi<{ policies: { id: string; spec: unknown }[] }>('GET', `${API.xdpPolicies}?nodeGroup=${encodeURIComponent(set.nodeGroup)}&limit=500`);
        if (!list.ok) return setStatus({ kind: 'error', text: describeConsoleFailure(list, 'Reading the XDP rule set', 'GET /api/v1/xdp-policies') });
        const spec = list.data.policies.find((x) => x.id === set.id)?.spec;
        if (!spec) return setStatus({ kind: 'error', text: 'That XDP rule set is no longer stored.' });
        const created = await callConsoleApi<{ policy: { id: string } }>('POST', API.xdpPolicies, { nodeGroup: p.nodeGroup, spec });
        if (!created.ok) return setStatus({ kind: 'error', text: describeConsoleFailure(created, `Copying the XDP rule set to node group ${p.nodeGroup}`, 'POST /api/v1/xdp-policies') });
        id = created.data.policy.id;
      }
      const r = await callConsoleApi<{ workflowId: string }>('POST', API.publishXdpPolicy(id), {});
      if (!r.ok) return setStatus({ kind: 'error', text: describeConsoleFailure(r, 'Publishing the XDP rule set', 'POST /api/v1/xdp-policies/{id}/publish') });
      setXdpPublish(null);
      setStatus({ kind: 'ok', text: `Publishing XDP rule set ${p.name} to node group ${p.nodeGroup} (workflow ${r.data.workflowId}); the edge appears once it is the group's desired version.` });
      refreshLive();
    } finally {
      setBusy(false);
    }
  }, [xdpPublish, liveStatus, refreshLive]);

  const focusMatch = useCallback(
    (step: number) => {
      if (!matches || matches.length === 0) return;
      const i = (((matchCursor + step) % matches.length) + matches.length) % matches.length;
      setMatchCursor(i);
      focusNode(matches[i]!);
    },
    [matches, matchCursor, focusNode],
  );

  // ---- keyboard shortcuts (not while typing in a field)
  const keys = useRef({ undo, redo, copy, paste, deleteSelection });
  useEffect(() => {
    keys.current = { undo, redo, copy, paste, deleteSelection };
  });
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement | null;
      const typing = !!t?.closest('input, textarea, select, [contenteditable="true"], .monaco-editor');
      const mod = e.ctrlKey || e.metaKey;
      const k = e.key.toLowerCase();
      if (typing) return;
      if (e.key === '/' && !mod) {
        e.preventDefault();
        searchRef.current?.focus();
        searchRef.current?.select();
      } else if (mod && k === 'z' && !e.shiftKey) {
        e.preventDefault();
        keys.current.undo();
      } else if (mod && (k === 'y' || (k === 'z' && e.shiftKey))) {
        e.preventDefault();
        keys.current.redo();
      } else if (mod && k === 'c') {
        keys.current.copy();
      } else if (mod && k === 'v') {
        e.preventDefault();
        keys.current.paste();
      } else if ((e.key === 'Delete' || e.key === 'Backspace') && !mod) {
        e.preventDefault();
        keys.current.deleteSelection();
      }
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);

  useEffect(() => {
    if (!dirty) return;
    const warn = (e: BeforeUnloadEvent) => e.preventDefault();
    window.addEventListener('beforeunload', warn);
    return () => window.removeEventListener('beforeunload', warn);
  }, [dirty]);

  // ---- save, apply, import
  const save = useCallback(async () => {
    if (!validation.ok) return setStatus({ kind: 'error', text: `Fix the ${issues.length} validation issue${issues.length === 1 ? '' : 's'} first (listed under the canvas).` });
    setBusy(true);
    const r = await callConsoleApi<{ revision?: { id: string; number?: number }; id?: string; number?: number }>('POST', API.revisions, {
      graph,
      ...(message.trim() ? { message: message.trim() } : {}),
    });
    setBusy(false);
    if (!r.ok) return setStatus({ kind: 'error', text: describeConsoleFailure(r, 'Saving a revision', 'POST /api/v1/revisions') });
    const rev = r.data.revision ?? r.data;
    if (!rev.id) return setStatus({ kind: 'error', text: 'The server saved the revision but did not return its id; open Revisions to find it.' });
    setSaved({ id: rev.id, number: rev.number ?? null });
    setStatus({ kind: 'ok', text: `Saved as revision #${rev.number ?? '?'}. Review the diff or apply it.` });
  }, [graph, message, validation, issues.length]);

  const apply = useCallback(async () => {
    if (!saved) return;
    setBusy(true);
    const r = await callConsoleApi<unknown>('POST', API.applyRevision(saved.id), {});
    setBusy(false);
    if (!r.ok) return setStatus({ kind: 'error', text: describeConsoleFailure(r, 'Applying a revision', 'POST /api/v1/revisions/{id}/apply') });
    setStatus({ kind: 'ok', text: `Revision #${saved.number ?? '?'} is being applied (publish workflow started).` });
    router.push(`/graph?revision=${saved.id}`);
    router.refresh();
  }, [saved, router]);

  const [importText, setImportText] = useState('');
  const importGraph = useCallback(() => {
    let json: unknown;
    try {
      json = JSON.parse(importText);
    } catch (err) {
      return setStatus({ kind: 'error', text: `The text is not JSON: ${err instanceof Error ? err.message : String(err)}` });
    }
    const parsed = RouteGraphSchema.safeParse((json as { graph?: unknown })?.graph ?? json);
    if (!parsed.success) {
      return setStatus({ kind: 'error', text: `Not a route graph: ${parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}` });
    }
    const els = graphToElements(parsed.data);
    const pos = columnLayout(els.nodes);
    posHints.current = pos;
    // Fit the viewport to the new layout before its nodes render: a big graph then renders once, directly
    // at overview detail, instead of first at the old zoom (full detail) and again after fitting.
    if (pos.size > 0) {
      const xs = [...pos.values()];
      const minX = Math.min(...xs.map((p) => p.x));
      const minY = Math.min(...xs.map((p) => p.y));
      const bounds = { x: minX, y: minY, width: Math.max(...xs.map((p) => p.x)) + NODE_WIDTH - minX, height: Math.max(...xs.map((p) => p.y)) + NODE_HEIGHT - minY };
      const { width, height, minZoom } = store.getState();
      if (width > 0 && height > 0) void rf.setViewport(getViewportForBounds(bounds, width, height, minZoom, FIT_VIEW_OPTIONS.maxZoom, 0.1));
    }
    setNodes([]);
    commit(parsed.data);
    setImportText('');
    setStatus({ kind: 'ok', text: `Imported ${els.nodes.length} nodes and ${els.edges.length} connections.` });
  }, [importText, commit, rf, store]);

  const exportGraph = useCallback(() => {
    const blob = new Blob([JSON.stringify(graph, null, 2)], { type: 'application/json' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `route-graph${base ? `-r${base.number}` : ''}.json`;
    a.click();
    URL.revokeObjectURL(a.href);
  }, [graph, base]);

  const canUndo = hist.index > 0;
  const canRedo = hist.index < hist.stack.length - 1;
  const big = nodes.length > 300;

  return (
    <div className="graph-editor">
      <div className="graph-toolbar" role="toolbar" aria-label="Graph editor">
        <label className="inline-label">
          Revision
          <select
            value={base?.id ?? ''}
            onChange={(e) => {
              if (dirty && !window.confirm('Discard your unsaved changes?')) return;
              router.push(e.target.value ? `/graph?revision=${e.target.value}` : '/graph');
            }}
          >
            {!base && <option value="">(empty graph)</option>}
            {revisions.map((r) => (
              <option key={r.id} value={r.id}>
                #{r.number} {r.live ? '(live)' : `(${r.state})`} {r.message.slice(0, 40)}
              </option>
            ))}
          </select>
        </label>
        {canWrite && (
          <span className="btn-group" aria-label="Add">
            {ADDABLE.map((k) => (
              <button key={k} type="button" className="secondary small" onClick={() => add(k)} title={k === 'endpoint' ? 'Adds an endpoint to the selected cluster' : undefined}>
                + {KIND_LABEL[k]}
              </button>
            ))}
          </span>
        )}
        <span className="btn-group">
          <button type="button" className="secondary small" onClick={undo} disabled={!canUndo} aria-keyshortcuts="Control+Z" title="Undo (Ctrl+Z)">
            Undo
          </button>
          <button type="button" className="secondary small" onClick={redo} disabled={!canRedo} aria-keyshortcuts="Control+Y" title="Redo (Ctrl+Y)">
            Redo
          </button>
          <button type="button" className="secondary small" onClick={copy} disabled={selectedIds.length === 0} aria-keyshortcuts="Control+C" title="Copy (Ctrl+C)">
            Copy
          </button>
          {canWrite && (
            <>
              <button type="button" className="secondary small" onClick={paste} aria-keyshortcuts="Control+V" title="Paste (Ctrl+V)">
                Paste
              </button>
              <button type="button" className="danger small" onClick={deleteSelection} disabled={selectedIds.length + selectedEdgeIds.length === 0} aria-keyshortcuts="Delete" title="Delete (Delete)">
                Delete
              </button>
            </>
          )}
          <button type="button" className="secondary small" onClick={() => void autoLayout()} disabled={layouting || nodes.length === 0}>
            {layouting ? 'Laying out…' : 'Auto layout'}
          </button>
        </span>
        <span className="graph-search" role="search">
          <label className="visually-hidden" htmlFor="graph-search">
            Search nodes
          </label>
          <input
            id="graph-search"
            ref={searchRef}
            type="search"
            placeholder="Search ( / )"
            value={query}
            aria-keyshortcuts="/"
            onChange={(e) => {
              setQuery(e.target.value);
              setMatchCursor(-1);
            }}
            onKeyDown={(e) => {
              if (e.key === 'Enter') {
                e.preventDefault();
                focusMatch(e.shiftKey ? -1 : 1);
              } else if (e.key === 'Escape') {
                setQuery('');
                (e.target as HTMLInputElement).blur();
              }
            }}
          />
          {matches && (
            <span className="muted small" aria-live="polite">
              {matches.length === 0 ? 'no match' : `${matches.length} match${matches.length === 1 ? '' : 'es'} — Enter for next`}
            </span>
          )}
        </span>
      </div>

      {xdpPublish && (
        <div className="card graph-confirm" role="alertdialog" aria-label="Publish XDP rule set">
          <p>
            Publish XDP rule set <strong>{xdpPublish.name}</strong> to node group <strong>{xdpPublish.nodeGroup}</strong>?
          </p>
          <p className="small muted">
            This is not part of the route-graph revision: it starts the XDP push workflow now (Save and Apply do not include it). The group&apos;s agents apply it atomically and
            acknowledge the version; the Fleet page shows their progress.
            {liveStatus?.xdpRuleSets.find((x) => x.id === xdpPublish.ruleSetId)?.nodeGroup !== xdpPublish.nodeGroup ? ' A copy of the rule set is stored as a new version of that group first.' : ''}
          </p>
          <p className="btn-group">
            <button type="button" disabled={busy} onClick={() => void publishXdp()}>
              Publish to agents
            </button>
            <button type="button" className="secondary" onClick={() => setXdpPublish(null)}>
              Cancel
            </button>
          </p>
        </div>
      )}
      <div className="graph-body">
        <div className={`graph-canvas${overview ? ' overview' : ''}${interacting ? ' interacting' : ''}`} aria-label="Route graph canvas">
          {nodes.length === 0 && (
            <div className="graph-empty card">
              <p>
                <strong>The graph is empty.</strong>
              </p>
              <p className="muted">
                {canWrite
                  ? 'Add a listener, a virtual host, a route and a cluster with the buttons above, then drag from a node’s right handle to the next node’s left handle (or click one handle, then the other) to connect them.'
                  : 'Nothing is live yet, and your role cannot edit the graph. Ask an operator to create the first revision.'}
              </p>
            </div>
          )}
          <OverviewContext.Provider value={overview}>
            <ReactFlow
              nodes={nodes}
              edges={shownEdges}
              nodeTypes={nodeTypes}
              onNodesChange={onNodesChange}
              onEdgesChange={onEdgesChange}
              onConnect={onConnect}
              onMoveStart={startInteraction}
              onMoveEnd={endInteraction}
              onNodeDragStart={startInteraction}
              onNodeDragStop={endInteraction}
              nodesConnectable={canWrite}
              deleteKeyCode={null}
              multiSelectionKeyCode={MULTI_SELECTION_KEYS}
              onlyRenderVisibleElements={!mountAll}
              minZoom={0.05}
              fitView
              fitViewOptions={FIT_VIEW_OPTIONS}
              colorMode="system"
            >
              {overview ? <OverviewEdges edges={edges} interacting={interacting} /> : <Background gap={24} size={1} />}
              <Controls showInteractive={false} />
              {!big && <MiniMap pannable zoomable ariaLabel="Overview of the graph" />}
            </ReactFlow>
          </OverviewContext.Provider>
        </div>
        <Inspector
          graph={graph}
          selectedIds={selectedIds}
          selectedEdgeIds={selectedEdgeIds}
          issuesByNode={issuesByNode}
          canWrite={canWrite}
          commit={commit}
          onRenamed={onRenamed}
          onSelect={focusNode}
          onError={onInspectorError}
          extra={inspectorExtra}
        />
      </div>

      <div className="graph-footer">
        <div className={`graph-status ${status?.kind ?? ''}`} role="status" aria-live="polite">
          {status?.text ?? `${elements.nodes.length} nodes · ${elements.edges.length} connections${dirty ? ' · unsaved changes' : ''}`}
        </div>
        <div className="graph-validation">
          {validation.ok ? (
            <span className="ok">✓ Valid route graph</span>
          ) : (
            <details open={issues.length <= 5}>
              <summary className="error">
                {issues.length} validation issue{issues.length === 1 ? '' : 's'}
              </summary>
              <ul className="issue-list">
                {issues.slice(0, 100).map((i, n) => {
                  const id = nodeIdOfIssuePath(deferredGraph, i.path);
                  return (
                    <li key={`${i.path}-${n}`}>
                      {id ? (
                        <button type="button" className="link" onClick={() => focusNode(id)}>
                          {i.path || '(graph)'}
                        </button>
                      ) : (
                        <code>{i.path || '(graph)'}</code>
                      )}
                      : {i.message}
                    </li>
                  );
                })}
              </ul>
            </details>
          )}
        </div>
        {canWrite && (
          <form
            className="inline graph-save"
            onSubmit={(e) => {
              e.preventDefault();
              void save();
            }}
          >
            <label>
              Message
              <input value={message} onChange={(e) => setMessage(e.target.value)} maxLength={500} placeholder="what changes and why" />
            </label>
            <button type="submit" disabled={busy || !dirty}>
              Save as revision
            </button>
            {saved && (
              <>
                <a className="button secondary" href={`/revisions/${saved.id}/diff${base ? `?against=${base.id}` : ''}`}>
                  Review diff
                </a>
                <button type="button" disabled={busy} onClick={() => void apply()}>
                  Apply
                </button>
              </>
            )}
          </form>
        )}
        <details className="graph-io">
          <summary>Import / export JSON</summary>
          <p className="muted small">Paste a route graph (the JSON of a revision&apos;s graph) to load it into the editor; Save as revision stores it.</p>
          <label>
            Route graph JSON
            <textarea rows={4} value={importText} onChange={(e) => setImportText(e.target.value)} spellCheck={false} />
          </label>
          <p className="btn-group">
            <button type="button" className="secondary small" onClick={importGraph} disabled={!importText.trim()}>
              Load JSON
            </button>
            <button type="button" className="secondary small" onClick={exportGraph}>
              Download JSON
            </button>
          </p>
        </details>
      </div>
    </div>
  );
}
