// One implementation of the /healthz + /metrics endpoint for every process. It lives with the agent, which
// may import only contracts/ and core/; workers may import agents/.
export { startOpsHttpServer, type OpsHttpOptions, type OpsHttpServer } from '../agents/src/ops-http';
