/**
 * Every workflow the ProxyShard worker runs (its workflowsPath). Message definitions (queries, signals,
 * updates) are imported by clients from the workflow's own file.
 */
export { publishRevisionWorkflow } from './publish-revision.workflow';
export { canaryPromotionWorkflow } from './canary-promotion.workflow';
export { pushXdpPolicyWorkflow } from './xdp-push.workflow';
export { certRotationWorkflow } from './cert-rotation.workflow';
export { certExpiryCheckWorkflow } from './cert-expiry.workflow';
export { caRotationWorkflow } from './ca-rotation.workflow';
export { failoverPlaybookWorkflow, playbookTriggerWorkflow } from './failover-playbook.workflow';
