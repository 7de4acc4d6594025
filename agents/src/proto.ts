/**
 * contracts/agent.proto loaded at run time (proto-loader, camelCase fields, uint64 as JS numbers, bytes as
 * Buffer) plus TypeScript shapes of its messages and the conversion Bundle ↔ XdpBundle. Shared by the
 * agent and the control plane's agent channel.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import type { XdpBundle } from '../../contracts/xdp.schema';

export const AGENT_PROTO_PATH = fileURLToPath(new URL('../../contracts/agent.proto', import.meta.url));
export const AGENT_CHANNEL_SERVICE = 'proxyshard.agent.v1.AgentChannel';

export interface NetInterfaceMsg {
  name: string;
  ifindex: number;
  mtu: number;
  xdpMode: string;
  xdpProgId: number;
}

export interface HelloMsg {
  tenant: string;
  nodeName: string;
  nodeGroup: string;
  interfaces: NetInterfaceMsg[];
  kernelVersion: string;
  xdpModes: string[];
  agentVersion: string;
  appliedVersion: string;
  protectedCidrs: string[];
  programs: { name: string; sha256: string }[];
}

export interface InterfaceResultMsg {
  name: string;
  ok: boolean;
  error: string;
  progId: number;
  reattached: boolean;
}

export interface ApplyResultMsg {
  version: string;
  ok: boolean;
  error: string;
  interfaces: InterfaceResultMsg[];
  durationMs: number;
}

export interface CounterMsg {
  interface: string;
  slot: number;
  name: string;
  matchPackets: number;
  matchBytes: number;
  dropPackets: number;
  dropBytes: number;
}

export interface CounterReportMsg {
  appliedVersion: string;
  counters: CounterMsg[];
}

export type AgentMessage =
  | { body?: 'hello'; hello: HelloMsg }
  | { body?: 'result'; result: ApplyResultMsg }
  | { body?: 'counters'; counters: CounterReportMsg };

export interface BundleMsg {
  version: string;
  program: { name: string; sha256: string; object?: Buffer };
  attachMode: string;
  interfaces: string[];
  countOnly: boolean;
  protectedCidrs: string[];
  deny: { cidr: string; counter: number; countOnly: boolean }[];
  rateLimits: { protocol: number; port: number; ratePps: number; burst: number; counter: number; countOnly: boolean }[];
  counters: { slot: number; rule: string }[];
}

export interface WelcomeMsg {
  agentId: string;
  reportIntervalMs: number;
}

export type ControlMessage = { body?: 'welcome'; welcome: WelcomeMsg } | { body?: 'bundle'; bundle: BundleMsg };

let cached: grpc.ServiceDefinition | undefined;

export function agentChannelDefinition(): grpc.ServiceDefinition {
  if (!cached) {
    const pkg = protoLoader.loadSync(AGENT_PROTO_PATH, {
      keepCase: false,
      longs: Number,
      enums: String,
      bytes: Buffer,
      defaults: true,
      arrays: true,
      oneofs: true,
    });
    const loaded = grpc.loadPackageDefinition(pkg) as unknown as {
      proxyshard: { agent: { v1: { AgentChannel: grpc.ServiceClientConstructor } } };
    };
    cached = loaded.proxyshard.agent.v1.AgentChannel.service;
  }
  return cached;
}

export function agentChannelClientConstructor(): grpc.ServiceClientConstructor {
  return grpc.makeClientConstructor(agentChannelDefinition(), 'AgentChannel');
}

/** Bundle message → the shape XdpBundleSchema parses (the object bytes travel separately). */
export function bundleFromMsg(m: BundleMsg): { bundle: unknown; object: Buffer | undefined } {
  const object = m.program?.object && m.program.object.length > 0 ? Buffer.from(m.program.object) : undefined;
  return {
    bundle: {
      version: m.version,
      program: { name: m.program?.name, sha256: m.program?.sha256 },
      attachMode: m.attachMode,
      interfaces: m.interfaces,
      countOnly: m.countOnly,
      protectedCidrs: m.protectedCidrs,
      deny: m.deny.map((d) => ({ cidr: d.cidr, counter: d.counter, countOnly: d.countOnly })),
      rateLimits: m.rateLimits.map((r) => ({ ...r })),
      counters: m.counters.map((c) => ({ slot: c.slot, rule: c.rule })),
    },
    object,
  };
}

export function bundleToMsg(b: XdpBundle, object?: Buffer): BundleMsg {
  return {
    version: b.version,
    program: { name: b.program.name, sha256: b.program.sha256, ...(object ? { object } : {}) },
    attachMode: b.attachMode,
    interfaces: b.interfaces,
    countOnly: b.countOnly,
    protectedCidrs: b.protectedCidrs,
    deny: b.deny,
    rateLimits: b.rateLimits,
    counters: b.counters,
  };
}
