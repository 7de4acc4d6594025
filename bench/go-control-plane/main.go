// A small xDS peer built on envoyproxy/go-control-plane, for bench/xds-commit-to-ack.ts: an ADS server
// (state of the world, go-control-plane's SnapshotCache + server) whose snapshot is replaced over HTTP.
//
//	go build -o xds-peer . && ./xds-peer -grpc 127.0.0.1:18100 -http 127.0.0.1:18101
//
// POST /snapshot  {"version": "...", "typeVersions": {"clusters": "...", ...}, "resources": {"clusters": [...],
// "endpoints": [...], "listeners": [...], "routes": [...]}}, each resource proto3 JSON with "@type" (what
// ProxyShard's compiler emits); every node shares one snapshot. Each type gets its own version (go-control-plane
// snapshots carry one per type: cache.NewResources(version, items) per type), from "typeVersions" when given,
// else "version": the cache then answers only the watches of types whose version changed, as ProxyShard does.
// Answers 204 once the snapshot is set (the commit), 400 on bad input.
// GET /healthz → 200.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"

	// Message types the snapshots carry (registered for protojson's Any resolution).
	_ "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/local_ratelimit/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
)

// oneGroup puts every node in the same snapshot.
type oneGroup struct{}

func (oneGroup) ID(*core.Node) string { return "all" }

type snapshotBody struct {
	Version      string                       `json:"version"`
	TypeVersions map[string]string            `json:"typeVersions"`
	Resources    map[string][]json.RawMessage `json:"resources"`
}

var typeOfKind = map[string]resourcev3.Type{
	"clusters":  resourcev3.ClusterType,
	"endpoints": resourcev3.EndpointType,
	"listeners": resourcev3.ListenerType,
	"routes":    resourcev3.RouteType,
}

func decode(body snapshotBody) (*cachev3.Snapshot, error) {
	snap := &cachev3.Snapshot{}
	for kind, list := range body.Resources {
		t, ok := typeOfKind[kind]
		if !ok {
			return nil, fmt.Errorf("unknown resource kind %q", kind)
		}
		items := make([]types.Resource, 0, len(list))
		for i, raw := range list {
			a := &anypb.Any{}
			if err := protojson.Unmarshal(raw, a); err != nil {
				return nil, fmt.Errorf("%s[%d]: %w", kind, i, err)
			}
			m, err := a.UnmarshalNew()
			if err != nil {
				return nil, fmt.Errorf("%s[%d]: %w", kind, i, err)
			}
			items = append(items, m.(types.Resource))
		}
		version := body.Version
		if v, ok := body.TypeVersions[kind]; ok {
			version = v
		}
		snap.Resources[cachev3.GetResponseType(t)] = cachev3.NewResources(version, items)
	}
	return snap, snap.Consistent()
}

func main() {
	grpcAddr := flag.String("grpc", "127.0.0.1:18100", "ADS listen address")
	httpAddr := flag.String("http", "127.0.0.1:18101", "control listen address")
	flag.Parse()

	ctx := context.Background()
	cache := cachev3.NewSnapshotCache(true, oneGroup{}, nil)
	srv := serverv3.NewServer(ctx, cache, nil)
	g := grpc.NewServer(
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.MaxRecvMsgSize(16<<20),
	)
	discoverygrpc.RegisterAggregatedDiscoveryServiceServer(g, srv)
	lis, err := net.Listen("tcp", *grpcAddr)
	if err != nil {
		log.Fatal(err)
	}
	go func() { log.Fatal(g.Serve(lis)) }()

	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) })
	mux.HandleFunc("/snapshot", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		var body snapshotBody
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		snap, err := decode(body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		if err := cache.SetSnapshot(ctx, "all", snap); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	log.Printf("go-control-plane peer: ADS on %s, control on %s", *grpcAddr, *httpAddr)
	log.Fatal(http.ListenAndServe(*httpAddr, mux))
}
