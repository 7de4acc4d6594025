-- Live updates for the console (GET /api/v1/events): every write of the status a screen shows NOTIFYs
-- `proxyshard_events` with {"tenantId", "topic", "id"} — no data, the client reads it through the API.
-- Triggers rather than calls in each repository, so that every writer (web, worker activities, xds, agent
-- channel) is covered. NOTIFY is delivered at commit and dropped on rollback; PostgreSQL folds identical
-- payloads of one transaction into one.

-- TG_ARGV[0] = topic, TG_ARGV[1] = the column naming the object ('' = none).
CREATE FUNCTION "proxyshard_live_event"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  object_id text;
BEGIN
  IF TG_ARGV[1] = 'id' THEN object_id := NEW."id"::text;
  ELSIF TG_ARGV[1] = 'rolloutId' THEN object_id := NEW."rolloutId"::text;
  ELSIF TG_ARGV[1] = 'runId' THEN object_id := NEW."runId"::text;
  ELSIF TG_ARGV[1] = 'nodeGroup' THEN object_id := NEW."nodeGroup";
  ELSE object_id := NULL;
  END IF;
  PERFORM pg_notify('proxyshard_events', json_build_object('tenantId', NEW."tenantId", 'topic', TG_ARGV[0], 'id', object_id)::text);
  RETURN NULL;
END
$$;

-- ProxyResourceState has no tenantId column: take it from its proxy.
CREATE FUNCTION "proxyshard_live_event_proxy_resource"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  tenant uuid;
BEGIN
  SELECT "tenantId" INTO tenant FROM "Proxy" WHERE "id" = NEW."proxyId";
  IF tenant IS NOT NULL THEN
    PERFORM pg_notify('proxyshard_events', json_build_object('tenantId', tenant, 'topic', 'proxies', 'id', NEW."proxyId")::text);
  END IF;
  RETURN NULL;
END
$$;

-- Rollouts: the rollout row (phase, step, weights, analyses), its transitions and approval decisions.
CREATE TRIGGER "Rollout_live" AFTER INSERT OR UPDATE ON "Rollout"
  FOR EACH ROW EXECUTE FUNCTION "proxyshard_live_event"('rollouts', 'id');
CREATE TRIGGER "RolloutEvent_live" AFTER INSERT ON "RolloutEvent"
  FOR EACH ROW EXECUTE FUNCTION "proxyshard_live_event"('rollouts', 'rolloutId');
CREATE TRIGGER "RolloutApproval_live" AFTER INSERT OR UPDATE ON "RolloutApproval"
  FOR EACH ROW EXECUTE FUNCTION "proxyshard_live_event"('rollouts', 'rolloutId');

-- Playbook runs, their transitions, approvals and applied changes.
CREATE TRIGGER "PlaybookRun_live" AFTER INSERT OR UPDATE ON "PlaybookRun"
  FOR EACH ROW EXECUTE FUNCTION "proxyshard_live_event"('playbooks', 'id');
CREATE TRIGGER "PlaybookRunEvent_live" AFTER INSERT ON "PlaybookRunEvent"
  FOR EACH ROW EXECUTE FUNCTION "proxyshard_live_event"('playbooks', 'runId');
CREATE TRIGGER "PlaybookApproval_live" AFTER INSERT OR UPDATE ON "PlaybookApproval"
  FOR EACH ROW EXECUTE FUNCTION "proxyshard_live_event"('playbooks', 'runId');
CREATE TRIGGER "PlaybookChange_live" AFTER INSERT OR UPDATE ON "PlaybookChange"
  FOR EACH ROW EXECUTE FUNCTION "proxyshard_live_event"('playbooks', 'runId');

-- Proxies: connection changes (not the lastSeenAt bookkeeping of every ACK), per-type sent / ACK / NACK
-- state, and a new snapshot of a node group (its proxies are STALE until they ACK it).
CREATE TRIGGER "Proxy_live_insert" AFTER INSERT ON "Proxy"
  FOR EACH ROW EXECUTE FUNCTION "proxyshard_live_event"('proxies', 'id');
CREATE TRIGGER "Proxy_live_update" AFTER UPDATE ON "Proxy"
  FOR EACH ROW WHEN (OLD."connected" IS DISTINCT FROM NEW."connected" OR OLD."connectedAt" IS DISTINCT FROM NEW."connectedAt"
    OR OLD."nodeGroup" IS DISTINCT FROM NEW."nodeGroup" OR OLD."replica" IS DISTINCT FROM NEW."replica")
  EXECUTE FUNCTION "proxyshard_live_event"('proxies', 'id');
CREATE TRIGGER "ProxyResourceState_live" AFTER INSERT OR UPDATE ON "ProxyResourceState"
  FOR EACH ROW EXECUTE FUNCTION "proxyshard_live_event_proxy_resource"();
CREATE TRIGGER "Snapshot_live" AFTER INSERT OR UPDATE OF "version", "createdAt" ON "Snapshot"
  FOR EACH ROW EXECUTE FUNCTION "proxyshard_live_event"('proxies', 'nodeGroup');

-- Agents: connection, applied / sent / failed versions, counters (not lastSeenAt alone).
CREATE TRIGGER "Agent_live_insert" AFTER INSERT ON "Agent"
  FOR EACH ROW EXECUTE FUNCTION "proxyshard_live_event"('agents', 'id');
CREATE TRIGGER "Agent_live_update" AFTER UPDATE ON "Agent"
  FOR EACH ROW WHEN (OLD."connected" IS DISTINCT FROM NEW."connected" OR OLD."connectedAt" IS DISTINCT FROM NEW."connectedAt"
    OR OLD."nodeGroup" IS DISTINCT FROM NEW."nodeGroup" OR OLD."appliedVersion" IS DISTINCT FROM NEW."appliedVersion"
    OR OLD."sentVersion" IS DISTINCT FROM NEW."sentVersion" OR OLD."failedVersion" IS DISTINCT FROM NEW."failedVersion"
    OR OLD."lastError" IS DISTINCT FROM NEW."lastError" OR OLD."countersAt" IS DISTINCT FROM NEW."countersAt")
  EXECUTE FUNCTION "proxyshard_live_event"('agents', 'id');

-- The audit log (append-only: inserts only).
CREATE TRIGGER "AuditEntry_live" AFTER INSERT ON "AuditEntry"
  FOR EACH ROW EXECUTE FUNCTION "proxyshard_live_event"('audit', '');

-- Certificates and CAs (status, expiry, rotation).
CREATE TRIGGER "Certificate_live" AFTER INSERT OR UPDATE ON "Certificate"
  FOR EACH ROW EXECUTE FUNCTION "proxyshard_live_event"('certificates', 'id');
CREATE TRIGGER "CertificateAuthority_live" AFTER INSERT OR UPDATE ON "CertificateAuthority"
  FOR EACH ROW EXECUTE FUNCTION "proxyshard_live_event"('certificates', 'id');

-- A node group's desired XDP version (agents are in sync or not against it).
CREATE TRIGGER "XdpGroupState_live" AFTER INSERT OR UPDATE ON "XdpGroupState"
  FOR EACH ROW EXECUTE FUNCTION "proxyshard_live_event"('agents', 'nodeGroup');
