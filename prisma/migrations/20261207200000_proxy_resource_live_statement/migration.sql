-- Live updates for per-type proxy state: one NOTIFY per tenant per statement instead of one per row. The xds
-- process writes the sent / ACK state of a whole fleet in one batched upsert (ProxyStateWriter); with a row
-- trigger, 1,000 proxies ACKing a snapshot cost 1,000 lookups of "Proxy" and 1,000 distinct notifications in
-- that one transaction, for screens that reload the list anyway. The notification names the proxy when the
-- statement touched exactly one (what a NACK of one proxy looks like), otherwise no id.
-- Transition tables allow one event per trigger, hence an INSERT and an UPDATE trigger (an upsert fires both,
-- each with its own rows; an empty transition table notifies nothing).
CREATE FUNCTION "proxyshard_live_event_proxy_resources"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('proxyshard_events', json_build_object('tenantId', t."tenantId", 'topic', 'proxies', 'id', CASE WHEN t.proxies = 1 THEN t.one END)::text)
  FROM (
    SELECT p."tenantId", count(DISTINCT r."proxyId") AS proxies, min(r."proxyId"::text) AS one
    FROM changed_rows r JOIN "Proxy" p ON p."id" = r."proxyId"
    GROUP BY p."tenantId"
  ) t;
  RETURN NULL;
END
$$;

DROP TRIGGER "ProxyResourceState_live" ON "ProxyResourceState";
DROP FUNCTION "proxyshard_live_event_proxy_resource"();

CREATE TRIGGER "ProxyResourceState_live_insert" AFTER INSERT ON "ProxyResourceState"
  REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION "proxyshard_live_event_proxy_resources"();
CREATE TRIGGER "ProxyResourceState_live_update" AFTER UPDATE ON "ProxyResourceState"
  REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION "proxyshard_live_event_proxy_resources"();
