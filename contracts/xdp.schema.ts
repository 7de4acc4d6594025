/**
 * XDP policies (what an operator writes per node group) and bundles (what an agent applies), plus the
 * inputs/outputs of the XDP activities. Bundles are produced by core/xdp/compile.ts; the agent parses every
 * bundle it receives with XdpBundleSchema before touching the kernel.
 */
import { z } from 'zod';

export const XDP_ATTACH_MODES = ['generic', 'native'] as const;
export const XdpAttachModeSchema = z.enum(XDP_ATTACH_MODES);
export type XdpAttachMode = z.infer<typeof XdpAttachModeSchema>;

/** Programs under agents/bpf: guard = deny lists + rate limits. */
export const XDP_PROGRAMS = ['guard', 'deny', 'ratelimit'] as const;
export const XdpProgramNameSchema = z.enum(XDP_PROGRAMS);

const ruleName = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'lowercase letters, digits, ".", "_", "-"; at most 63');
const ifaceName = z.string().regex(/^[A-Za-z0-9._@-]{1,15}$/, 'an interface name (at most 15 characters)');
/** A CIDR as text; core/xdp/cidr.ts checks it (family, prefix length, host bits). */
const cidrText = z.string().min(2).max(50);

// Spec objects are strict: a misspelt field (`cidr` for `cidrs`) is refused by name, never ignored.
export const XdpDenyRuleSchema = z.strictObject({
  kind: z.literal('deny'),
  name: ruleName,
  /** Source CIDRs (IPv4 and/or IPv6) whose packets are dropped. */
  cidrs: z.array(cidrText).min(1).max(10_000),
  /** Count matches, never drop. */
  countOnly: z.boolean().default(false),
});

export const XdpRateLimitRuleSchema = z.strictObject({
  kind: z.literal('rateLimit'),
  name: ruleName,
  /** tcp, udp, icmp, icmpv6, any, or an IP protocol number 1..255. */
  protocol: z.union([z.enum(['tcp', 'udp', 'icmp', 'icmpv6', 'any']), z.number().int().min(1).max(255)]),
  /** Destination port; omitted = any port. Only with tcp/udp. */
  port: z.number().int().min(1).max(65535).optional(),
  /** Packets per second allowed per source address. */
  ratePps: z.number().int().min(1).max(100_000_000),
  /** Bucket size in packets (what a quiet source may send at once). */
  burst: z.number().int().min(1).max(10_000_000),
  countOnly: z.boolean().default(false),
});

export const XdpRuleSchema = z.discriminatedUnion('kind', [XdpDenyRuleSchema, XdpRateLimitRuleSchema]);
export type XdpRule = z.infer<typeof XdpRuleSchema>;

/** Desired XDP state of one node group, as an operator writes it. */
export const XdpPolicySpecSchema = z.strictObject({
  program: XdpProgramNameSchema.default('guard'),
  attachMode: XdpAttachModeSchema.default('generic'),
  /** Interfaces every agent of the group attaches to. */
  interfaces: z.array(ifaceName).min(1).max(64),
  /** Every rule counts only (pass-through mode). */
  countOnly: z.boolean().default(false),
  /** Management CIDRs: never denied nor rate limited (agents add their own configured list). */
  protectedCidrs: z.array(cidrText).max(1000).default([]),
  rules: z.array(XdpRuleSchema).max(900).default([]),
});
export type XdpPolicySpec = z.infer<typeof XdpPolicySpecSchema>;
export type XdpPolicySpecInput = z.input<typeof XdpPolicySpecSchema>;

/** Shape check with field paths (`rules[3].ratePps`); semantic checks are core/xdp/compile.ts's. */
export function parseXdpPolicySpec(input: unknown): { ok: true; spec: XdpPolicySpec } | { ok: false; issues: { path: string; message: string }[] } {
  const r = XdpPolicySpecSchema.safeParse(input);
  if (r.success) return { ok: true, spec: r.data };
  const path = (parts: readonly PropertyKey[]) =>
    parts.reduce<string>((out, p) => (typeof p === 'number' ? `${out}[${p}]` : out ? `${out}.${String(p)}` : String(p)), '');
  return {
    ok: false,
    issues: r.error.issues.flatMap((i) =>
      i.code === 'unrecognized_keys' ? i.keys.map((k) => ({ path: path([...i.path, k]), message: 'unknown field' })) : [{ path: path(i.path), message: i.message }],
    ),
  };
}

// ---------------------------------------------------------------- REST API inputs (/api/v1)

/** A node group name (what agents register with `--node-group`). */
export const NodeGroupNameSchema = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'lowercase letters, digits, ".", "_", "-"; at most 63');

/** GET /api/v1/agents */
export const ListAgentsQuerySchema = z.strictObject({ nodeGroup: NodeGroupNameSchema.optional() });

/** GET /api/v1/xdp-policies: newest first; without nodeGroup, every group of the tenant. */
export const ListXdpPoliciesQuerySchema = z.strictObject({
  nodeGroup: NodeGroupNameSchema.optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
});

/** POST /api/v1/xdp-policies: a new (not yet published) version of the group's policy. */
export const CreateXdpPolicyBodySchema = z.strictObject({
  nodeGroup: NodeGroupNameSchema,
  spec: XdpPolicySpecSchema,
});
export type CreateXdpPolicyBody = z.infer<typeof CreateXdpPolicyBodySchema>;

/** POST /api/v1/xdp-policies/[id]/publish: starts pushXdpPolicyWorkflow for the version's node group. */
export const PublishXdpPolicyBodySchema = z.strictObject({
  /** How long the group's connected agents may take to apply the version (default 60 s). */
  ackTimeoutMs: z.number().int().min(1_000).max(3_600_000).optional(),
  /** Answer when the workflow has finished (at most waitMs later) instead of right after starting it. */
  wait: z.boolean().default(false),
  /** Upper bound of the wait (default 120 s). */
  waitMs: z.number().int().min(100).max(600_000).optional(),
});
export type PublishXdpPolicyBody = z.infer<typeof PublishXdpPolicyBodySchema>;

const hex64 = z.string().regex(/^[0-9a-f]{64}$/);

export const XdpBundleDenySchema = z.object({
  /** Normalised CIDR (host bits zero). */
  cidr: cidrText,
  /** Counter slot of the rule (ps_counters index). */
  counter: z.number().int().min(0).max(1023),
  countOnly: z.boolean(),
});

export const XdpBundleRateLimitSchema = z.object({
  /** IP protocol number; 0 = any. */
  protocol: z.number().int().min(0).max(255),
  /** Destination port; 0 = any. */
  port: z.number().int().min(0).max(65535),
  ratePps: z.number().int().min(1).max(100_000_000),
  burst: z.number().int().min(1).max(10_000_000),
  counter: z.number().int().min(0).max(1023),
  countOnly: z.boolean(),
});

/** Everything an agent needs for one node: program, attach mode, full desired map contents. */
export const XdpBundleSchema = z.object({
  /** sha256 of the canonical JSON of every other field. */
  version: hex64,
  program: z.object({ name: XdpProgramNameSchema, sha256: hex64 }),
  attachMode: XdpAttachModeSchema,
  interfaces: z.array(ifaceName).min(1),
  countOnly: z.boolean(),
  protectedCidrs: z.array(cidrText),
  deny: z.array(XdpBundleDenySchema),
  rateLimits: z.array(XdpBundleRateLimitSchema),
  /** Counter slot → rule name, for reports. */
  counters: z.array(z.object({ slot: z.number().int().min(0).max(1023), rule: z.string() })),
});
export type XdpBundle = z.infer<typeof XdpBundleSchema>;

/** Summed (all CPUs) counter of one slot, as agents report it. */
export const XdpCounterSchema = z.object({
  slot: z.number().int(),
  /** Rule name, or a reserved name (seen, passed, malformed, protected, non_ip). */
  name: z.string(),
  interface: z.string(),
  matchPackets: z.number(),
  matchBytes: z.number(),
  dropPackets: z.number(),
  dropBytes: z.number(),
});
export type XdpCounter = z.infer<typeof XdpCounterSchema>;

// ---------------------------------------------------------------- activities

export const PushXdpBundleInputSchema = z.object({
  tenantId: z.string().uuid(),
  nodeGroup: z.string().min(1),
  /** XdpPolicy id: the policy version to make desired for the group. */
  policyId: z.string().uuid(),
  actor: z.object({ type: z.enum(['user', 'token', 'system']), id: z.string(), name: z.string() }),
});
export type PushXdpBundleInput = z.infer<typeof PushXdpBundleInputSchema>;

export interface PushXdpBundleResult {
  nodeGroup: string;
  version: string;
  /** false when the group already had this version as desired (retry / duplicate push). */
  changed: boolean;
}

export const AwaitAgentAckInputSchema = z.object({
  tenantId: z.string().uuid(),
  nodeGroup: z.string().min(1),
  version: hex64,
  /** Give up after this long (ms); default 60 s. */
  timeoutMs: z.number().int().positive().optional(),
});
export type AwaitAgentAckInput = z.infer<typeof AwaitAgentAckInputSchema>;

export interface AgentAckSummary {
  nodeGroup: string;
  version: string;
  acked: { agentId: string; nodeName: string }[];
  pending: { agentId: string; nodeName: string; appliedVersion: string | null }[];
  failed: { agentId: string; nodeName: string; error: string }[];
}

export interface AwaitAgentAckResult extends AgentAckSummary {
  /**
   * acked: every connected agent of the group applied the version; noAgents: none is connected;
   * superseded: another version became the group's desired one meanwhile (agents will never apply this
   * one, the newer push waits for them); timedOut: agents still pending at the deadline.
   */
  outcome: 'acked' | 'timedOut' | 'noAgents' | 'superseded';
}

export interface XdpActivities {
  pushXdpBundle(input: PushXdpBundleInput): Promise<PushXdpBundleResult>;
  awaitAgentAck(input: AwaitAgentAckInput): Promise<AwaitAgentAckResult>;
}

export const XdpFailureType = {
  agentRejected: 'XdpAgentRejected',
  ackTimeout: 'XdpAckTimeout',
  notFound: 'XdpNotFound',
} as const;
