/**
 * Semantic rules of a rollout spec that zod cannot express, each issue with a field path
 * (`steps[3].escalation`, `canaryCluster`). Pure: the caller (contracts/rollout.schema.ts validateRolloutSpec)
 * parses with zod first and passes the parsed spec, plus the route graph when references should be checked.
 */
import type { RouteGraph } from '../../contracts/route-graph.schema';
import type { RolloutSpec } from '../../contracts/rollout.schema';

export interface RolloutValidationIssue {
  path: string;
  message: string;
}

const ROLE_RANK: Record<string, number> = { viewer: 0, operator: 1, approver: 2, admin: 3 };

export function roleRank(role: string): number {
  return ROLE_RANK[role] ?? -1;
}

export function validateRolloutSemantics(spec: RolloutSpec, graph?: Pick<RouteGraph, 'routes' | 'clusters'>): RolloutValidationIssue[] {
  const issues: RolloutValidationIssue[] = [];
  const add = (path: string, message: string) => issues.push({ path, message });

  if (spec.canaryCluster === spec.stableCluster) add('canaryCluster', 'the canary cluster must differ from the stable cluster');

  spec.steps.forEach((step, i) => {
    const base = `steps[${i}]`;
    switch (step.kind) {
      case 'analysis': {
        const seen = new Set<string>();
        step.metrics.forEach((m, j) => {
          const mp = `${base}.metrics[${j}]`;
          if (seen.has(m.name)) add(`${mp}.name`, `metric ${m.name} is listed twice`);
          seen.add(m.name);
          if (m.min === undefined && m.max === undefined && m.maxDegradationVsStable === undefined) {
            add(mp, 'give at least one of min, max, maxDegradationVsStable');
          }
          if (m.min !== undefined && m.max !== undefined && m.min > m.max) add(`${mp}.min`, `min (${m.min}) is above max (${m.max})`);
          if (m.name === 'successRate') {
            if (m.min !== undefined && m.min > 1) add(`${mp}.min`, 'successRate is a fraction between 0 and 1');
            if (m.max !== undefined && m.max > 1) add(`${mp}.max`, 'successRate is a fraction between 0 and 1');
            if (m.maxDegradationVsStable !== undefined && m.maxDegradationVsStable > 1) {
              add(`${mp}.maxDegradationVsStable`, 'successRate degradation is a fraction between 0 and 1');
            }
          }
        });
        if (step.failureLimit >= step.count && step.count > 0 && step.failureLimit > 0) {
          add(`${base}.failureLimit`, `failureLimit (${step.failureLimit}) must be below count (${step.count}), or the analysis can never fail`);
        }
        break;
      }
      case 'approval': {
        if (step.onTimeout === 'escalate') {
          if (!step.escalation) add(`${base}.escalation`, 'onTimeout "escalate" needs escalation { role, timeoutMs }');
          else if (roleRank(step.escalation.role) <= roleRank(step.requiredRole)) {
            add(`${base}.escalation.role`, `escalation must go to a role above ${step.requiredRole}`);
          }
        } else if (step.escalation) {
          add(`${base}.escalation`, 'escalation is only used with onTimeout "escalate"');
        }
        break;
      }
      case 'setHeaderRoute':
        if (step.match !== null && ['host', ':authority', ':path', ':method'].includes(step.match.name)) {
          add(`${base}.match.name`, `header ${step.match.name} cannot select the canary`);
        }
        break;
      default:
        break;
    }
  });

  if (graph) {
    const route = graph.routes.find((r) => r.name === spec.route);
    if (!route) add('route', `route ${spec.route} is not in the live route graph`);
    else if (route.action.kind !== 'forward') add('route', `route ${spec.route} does not forward (action ${route.action.kind}); only forward routes can be rolled out`);
    else {
      const names = route.action.clusters.map((c) => c.cluster);
      if (!names.includes(spec.stableCluster)) add('stableCluster', `route ${spec.route} does not forward to ${spec.stableCluster} (it forwards to ${names.join(', ')})`);
      const others = names.filter((n) => n !== spec.stableCluster && n !== spec.canaryCluster);
      if (others.length > 0) add('route', `route ${spec.route} also forwards to ${others.join(', ')}; a rollout shifts traffic between exactly two clusters`);
    }
    if (!graph.clusters.some((c) => c.name === spec.canaryCluster)) {
      add('canaryCluster', `cluster ${spec.canaryCluster} is neither in the live graph nor in the rollout's revision`);
    }
  }
  return issues;
}
