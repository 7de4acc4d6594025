/**
 * grpc.health.v1.Health (Check and Watch) for the xds gRPC server. The two messages are declared here with
 * protobufjs reflection, field for field as in grpc/health/v1/health.proto.
 */
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';

export type ServingStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

const root = protobuf.Root.fromJSON({
  nested: {
    grpc: {
      nested: {
        health: {
          nested: {
            v1: {
              nested: {
                HealthCheckRequest: { fields: { service: { type: 'string', id: 1 } } },
                HealthCheckResponse: {
                  fields: { status: { type: 'ServingStatus', id: 1 } },
                  nested: { ServingStatus: { values: { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } } },
                },
              },
            },
          },
        },
      },
    },
  },
});
const Request = root.lookupType('grpc.health.v1.HealthCheckRequest');
const Response = root.lookupType('grpc.health.v1.HealthCheckResponse');

interface HealthRequest {
  service: string;
}
interface HealthResponse {
  status: ServingStatus;
}

const codec = {
  requestSerialize: (m: HealthRequest) => Buffer.from(Request.encode(Request.fromObject(m)).finish()),
  requestDeserialize: (b: Buffer) => Request.toObject(Request.decode(b), { defaults: true }) as HealthRequest,
  responseSerialize: (m: HealthResponse) => Buffer.from(Response.encode(Response.fromObject(m)).finish()),
  responseDeserialize: (b: Buffer) => Response.toObject(Response.decode(b), { enums: String, defaults: true }) as HealthResponse,
};

export const healthServiceDefinition: grpc.ServiceDefinition = {
  Check: { path: '/grpc.health.v1.Health/Check', requestStream: false, responseStream: false, ...codec },
  Watch: { path: '/grpc.health.v1.Health/Watch', requestStream: false, responseStream: true, ...codec },
};

/** Serving status per service name ('' = the server as a whole), with Watch streams. */
export class HealthStatus {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly watchers = new Map<string, Set<grpc.ServerWritableStream<HealthRequest, HealthResponse>>>();

  set(service: string, status: ServingStatus): void {
    if (this.statuses.get(service) === status) return;
    this.statuses.set(service, status);
    for (const call of this.watchers.get(service) ?? []) call.write({ status });
  }

  get(service: string): ServingStatus | undefined {
    return this.statuses.get(service);
  }

  implementation(): grpc.UntypedServiceImplementation {
    const check: grpc.handleUnaryCall<HealthRequest, HealthResponse> = (call, callback) => {
      const status = this.statuses.get(call.request.service);
      if (status === undefined) callback({ code: grpc.status.NOT_FOUND, details: `unknown service "${call.request.service}"` });
      else callback(null, { status });
    };
    const watch: grpc.handleServerStreamingCall<HealthRequest, HealthResponse> = (call) => {
      const service = call.request.service;
      call.write({ status: this.statuses.get(service) ?? 'SERVICE_UNKNOWN' });
      let set = this.watchers.get(service);
      if (set === undefined) {
        set = new Set();
        this.watchers.set(service, set);
      }
      set.add(call);
      const stop = () => set.delete(call);
      call.on('cancelled', stop);
      call.on('close', stop);
      call.on('error', stop);
    };
    return { Check: check, Watch: watch };
  }

  /** Ends every Watch stream (after the final status was written). */
  closeWatchers(): void {
    for (const set of this.watchers.values()) for (const call of set) call.end();
    this.watchers.clear();
  }
}
