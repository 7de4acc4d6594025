/**
 * The admission guardrail the admission and approval tests share: a deny (privileged listener ports) and a
 * require_approval (removing a cluster), and a one-route graph served by node group "default".
 */
import { RouteGraphSchema, type RouteGraph } from '../../contracts/route-graph.schema';
import { oneRouteGraph } from './api';

export const GUARDRAIL = `package proxyshard.admission

deny contains msg if {
	some l in input.revision.listeners
	l.port < 1024
	msg := sprintf("listener %s: port %d is privileged", [l.name, l.port])
}

require_approval contains msg if {
	some name in input.diff.clusters.removed
	msg := sprintf("removing cluster %s needs an approval", [name])
}
`;

/** Listener `main` on `port`, route `r` forwarding to `clusters`, in node group "default" (so a publish stores a snapshot). */
export function guardedGraph(port: number, clusters: string[]): RouteGraph {
  const g = oneRouteGraph('r', clusters.map((cluster) => ({ cluster, weight: 1 })));
  g.listeners[0]!.port = port;
  return RouteGraphSchema.parse({ ...g, nodeGroups: [{ name: 'default', listeners: ['main'] }] });
}
