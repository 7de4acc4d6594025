/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * ProxyShard XDP ABI: the one place where map layouts, counter slots and packet parsing are defined.
 * agents/src/maps.ts mirrors every struct below (name, size, field offsets); the agent refuses a pinned map
 * whose key/value sizes differ from its descriptor. Bump PS_ABI_VERSION when a layout changes.
 *
 * Byte order: addresses are stored as on the wire (network order, byte arrays); ports and every other
 * integer are host order (little-endian on the machines we target; maps.ts writes little-endian).
 *
 * Verdict order for every packet (guard.bpf.c; deny.bpf.c and ratelimit.bpf.c run the matching half):
 *   1. parse (Ethernet, up to two VLAN tags 802.1Q/802.1ad, IPv4 with options, IPv6 with up to
 *      PS_MAX_EXT_HDRS extension headers, TCP/UDP destination port);
 *   2. non-IP frames (ARP, LLDP, …) pass;
 *   3. MALFORMED frames are dropped ("fail closed"), see the truncation policy below;
 *   4. a source inside a protected (management) CIDR passes, always: neither deny nor rate limit applies;
 *   5. a source inside a deny CIDR is dropped (longest prefix wins, one counter per rule);
 *   6. L4_TRUNCATED frames (IP header complete, TCP/UDP header not) are dropped as malformed;
 *   7. the first matching rate-limit rule ((proto, dport), then (proto, any port), then (any, any)) charges
 *      one token from the source address's bucket; no token → drop;
 *   8. pass.
 * Pass-through: a rule with PS_RULE_COUNT_ONLY, or every rule when ps_config.flags has
 * PS_CFG_COUNT_ONLY, counts its matches (match_*) but never drops (drop_* stays 0). Malformed frames
 * follow PS_CFG_COUNT_ONLY too.
 *
 * Truncation / malformed policy (decided here, tested in test/xdp-malformed.test.ts):
 *   - frame shorter than an Ethernet header, a VLAN header cut short, more than two VLAN tags:
 *     MALFORMED (drop) — nothing behind it can be evaluated;
 *   - EtherType IPv4/IPv6 but the fixed IP header is cut short, IPv4 version != 4, ihl < 5, or the
 *     options (ihl * 4) run past the frame end: MALFORMED (drop). The kernel's own IP input would drop
 *     these too, so fail-closed costs nothing legitimate;
 *   - IP header complete but the TCP/UDP header of an unfragmented packet or a first fragment is cut
 *     short: L4_TRUNCATED — deny rules still apply to the source (so the deny counter rises), then the
 *     frame is dropped as malformed, so a port-specific rate limit cannot be bypassed by truncation;
 *   - non-first IPv4/IPv6 fragments carry no L4 header: deny rules apply, rate-limit rules match on the
 *     protocol with "any port" (dport 0) or on (any, any) only;
 *   - IPv6 extension headers: hop-by-hop, routing, destination options and fragment are walked, at most
 *     PS_MAX_EXT_HDRS of them; a longer chain, an unknown/ESP/AH header in the chain or one cut short is
 *     treated like a non-first fragment (no port), except that a chain longer than PS_MAX_EXT_HDRS is
 *     MALFORMED (fail closed);
 *   - protocols other than TCP/UDP: no port (dport 0).
 *
 * Rate-limit state is shared by all CPUs without a lock: two CPUs charging the same source at the same
 * instant may both see the same token count, so a source spread over several CPUs can get slightly more
 * than its rate (at most one extra token per racing CPU per refill). A single flow lands on one CPU.
 */
#ifndef PROXYSHARD_H
#define PROXYSHARD_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define PS_ABI_VERSION 1

#define PS_MAX_DENY_V4 65536
#define PS_MAX_DENY_V6 65536
#define PS_MAX_PROTECTED 1024
#define PS_MAX_RL_RULES 1024
#define PS_RL_STATE_ENTRIES 65536
#define PS_MAX_COUNTERS 1024
#define PS_MAX_EXT_HDRS 4
#define PS_NANO 1000000000ULL

/* Reserved counter slots; rule counters start at PS_CTR_FIRST_RULE. */
#define PS_CTR_SEEN 0          /* every frame */
#define PS_CTR_PASSED 1        /* frames the program passed */
#define PS_CTR_MALFORMED 2     /* MALFORMED or L4_TRUNCATED (drop_* counts those actually dropped) */
#define PS_CTR_PROTECTED 3     /* frames from a protected source (always passed) */
#define PS_CTR_NON_IP 4        /* non-IP frames (passed) */
#define PS_CTR_FIRST_RULE 16

/* ps_rule.flags / ps_rl_rule.flags */
#define PS_RULE_COUNT_ONLY 1u
/* ps_config.flags */
#define PS_CFG_COUNT_ONLY 1u

/* LPM trie keys: prefixlen then the address in network order. */
struct ps_lpm_v4_key {
	__u32 prefixlen;
	__u8 addr[4];
};                                  /* 8 bytes */

struct ps_lpm_v6_key {
	__u32 prefixlen;
	__u8 addr[16];
};                                  /* 20 bytes */

/* Value of a deny or protected LPM entry. */
struct ps_rule {
	__u32 counter;                  /* counter slot */
	__u32 flags;                    /* PS_RULE_* */
};                                  /* 8 bytes */

/* Rate-limit rule selector: proto 0 = any protocol, dport 0 = any port. dport in host order. */
struct ps_rl_key {
	__u8 proto;
	__u8 pad;
	__u16 dport;
};                                  /* 4 bytes */

struct ps_rl_rule {
	__u32 counter;
	__u32 flags;                    /* PS_RULE_* */
	__u64 rate_pps;                 /* tokens per second, 1..1e8 */
	__u64 burst;                    /* bucket size in packets, 1..1e7 */
	__u64 fill_ns;                  /* time to fill an empty bucket: burst * 1e9 / rate_pps */
};                                  /* 32 bytes */

/* Per (rule, source address) bucket. family is 4 or 6; IPv4 uses addr[0..3], the rest is zero. */
struct ps_rl_state_key {
	__u32 counter;
	__u8 family;
	__u8 pad[3];
	__u8 addr[16];
};                                  /* 24 bytes */

struct ps_rl_state {
	__u64 tokens_nano;              /* tokens * 1e9 */
	__u64 last_ns;                  /* bpf_ktime_get_ns() of the last refill */
};                                  /* 16 bytes */

/* Per-CPU counter slot; the agent sums the CPUs. */
struct ps_counter {
	__u64 match_packets;
	__u64 match_bytes;
	__u64 drop_packets;
	__u64 drop_bytes;
};                                  /* 32 bytes */

struct ps_config {
	__u32 flags;                    /* PS_CFG_* */
	__u32 abi;                      /* PS_ABI_VERSION, written by the agent */
};                                  /* 8 bytes */

/* What the agent last applied to this interface; survives agent restarts with the pinned map. */
struct ps_meta {
	__u8 version[80];               /* bundle version, NUL-padded */
	__u64 applied_ms;               /* unix time in ms */
};                                  /* 88 bytes */

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct ps_lpm_v4_key);
	__type(value, struct ps_rule);
	__uint(max_entries, PS_MAX_PROTECTED);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} ps_prot_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct ps_lpm_v6_key);
	__type(value, struct ps_rule);
	__uint(max_entries, PS_MAX_PROTECTED);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} ps_prot_v6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct ps_lpm_v4_key);
	__type(value, struct ps_rule);
	__uint(max_entries, PS_MAX_DENY_V4);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} ps_deny_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct ps_lpm_v6_key);
	__type(value, struct ps_rule);
	__uint(max_entries, PS_MAX_DENY_V6);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} ps_deny_v6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct ps_rl_key);
	__type(value, struct ps_rl_rule);
	__uint(max_entries, PS_MAX_RL_RULES);
} ps_rl_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct ps_rl_state_key);
	__type(value, struct ps_rl_state);
	__uint(max_entries, PS_RL_STATE_ENTRIES);
} ps_rl_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct ps_counter);
	__uint(max_entries, PS_MAX_COUNTERS);
} ps_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct ps_config);
	__uint(max_entries, 1);
} ps_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct ps_meta);
	__uint(max_entries, 1);
} ps_meta SEC(".maps");

/* ---------------------------------------------------------------- parsing */

enum ps_parse_result {
	PS_PARSE_OK = 0,
	PS_PARSE_NON_IP = 1,
	PS_PARSE_MALFORMED = 2,
	PS_PARSE_L4_TRUNCATED = 3,
};

struct ps_pkt {
	__u8 family;                    /* 4 or 6 */
	__u8 proto;                     /* IPPROTO_* of the L4 header (or last next-header seen) */
	__u8 has_port;                  /* dport is valid */
	__u8 pad;
	__u16 dport;                    /* host order */
	__u16 pad2;
	__u32 len;                      /* frame length */
	__u8 saddr[16];
};

struct ps_vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

struct ps_ipv6_opt_hdr {
	__u8 nexthdr;
	__u8 hdrlen;                    /* in 8-octet units, not counting the first 8 */
};

struct ps_ipv6_frag_hdr {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;
	__be32 identification;
};

static __always_inline int ps_parse_l4(void *l4, void *end, struct ps_pkt *p)
{
	if (p->proto == IPPROTO_TCP) {
		struct tcphdr *th = l4;
		if ((void *)(th + 1) > end)
			return PS_PARSE_L4_TRUNCATED;
		p->dport = bpf_ntohs(th->dest);
		p->has_port = 1;
	} else if (p->proto == IPPROTO_UDP) {
		struct udphdr *uh = l4;
		if ((void *)(uh + 1) > end)
			return PS_PARSE_L4_TRUNCATED;
		p->dport = bpf_ntohs(uh->dest);
		p->has_port = 1;
	}
	return PS_PARSE_OK;
}

/* Fills *p; every packet access is bounds-checked against data_end. */
static __always_inline int ps_parse(struct xdp_md *ctx, struct ps_pkt *p)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	void *cur;
	__be16 proto;

	p->len = (__u32)(end - data);
	if ((void *)(eth + 1) > end)
		return PS_PARSE_MALFORMED;
	proto = eth->h_proto;
	cur = eth + 1;

#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
			struct ps_vlan_hdr *vh = cur;
			if ((void *)(vh + 1) > end)
				return PS_PARSE_MALFORMED;
			proto = vh->encap_proto;
			cur = vh + 1;
		}
	}
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD))
		return PS_PARSE_MALFORMED; /* a third tag */

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = cur;
		__u32 hl;
		if ((void *)(iph + 1) > end)
			return PS_PARSE_MALFORMED;
		if (iph->version != 4 || iph->ihl < 5)
			return PS_PARSE_MALFORMED;
		hl = (__u32)iph->ihl * 4;
		if (cur + hl > end)
			return PS_PARSE_MALFORMED;
		p->family = 4;
		__builtin_memcpy(p->saddr, &iph->saddr, 4);
		p->proto = iph->protocol;
		if (iph->frag_off & bpf_htons(0x1FFF))
			return PS_PARSE_OK; /* non-first fragment: no L4 header */
		return ps_parse_l4(cur + hl, end, p);
	}

	if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = cur;
		__u8 nh;
		if ((void *)(ip6 + 1) > end)
			return PS_PARSE_MALFORMED;
		if (ip6->version != 6)
			return PS_PARSE_MALFORMED;
		p->family = 6;
		__builtin_memcpy(p->saddr, &ip6->saddr, 16);
		nh = ip6->nexthdr;
		cur = ip6 + 1;
#pragma unroll
		for (int i = 0; i < PS_MAX_EXT_HDRS; i++) {
			if (nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING || nh == IPPROTO_DSTOPTS) {
				struct ps_ipv6_opt_hdr *oh = cur;
				if ((void *)(oh + 1) > end) {
					p->proto = nh;
					return PS_PARSE_OK; /* chain cut short: no port */
				}
				nh = oh->nexthdr;
				cur += ((__u32)oh->hdrlen + 1) * 8;
			} else if (nh == IPPROTO_FRAGMENT) {
				struct ps_ipv6_frag_hdr *fh = cur;
				if ((void *)(fh + 1) > end) {
					p->proto = nh;
					return PS_PARSE_OK;
				}
				nh = fh->nexthdr;
				cur = fh + 1;
				if (fh->frag_off & bpf_htons(0xFFF8)) {
					p->proto = nh;
					return PS_PARSE_OK; /* non-first fragment */
				}
			} else {
				break;
			}
		}
		if (nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING || nh == IPPROTO_DSTOPTS || nh == IPPROTO_FRAGMENT)
			return PS_PARSE_MALFORMED; /* longer chain than we walk: fail closed */
		p->proto = nh;
		return ps_parse_l4(cur, end, p);
	}

	return PS_PARSE_NON_IP;
}

/* ---------------------------------------------------------------- verdict helpers */

static __always_inline int ps_global_count_only(void)
{
	__u32 zero = 0;
	struct ps_config *cfg = bpf_map_lookup_elem(&ps_config, &zero);
	return cfg && (cfg->flags & PS_CFG_COUNT_ONLY);
}

static __always_inline void ps_count(__u32 slot, __u32 len, int dropped)
{
	struct ps_counter *c = bpf_map_lookup_elem(&ps_counters, &slot);
	if (!c)
		return;
	c->match_packets += 1;
	c->match_bytes += len;
	if (dropped) {
		c->drop_packets += 1;
		c->drop_bytes += len;
	}
}

/* Counts a match on `slot` and returns XDP_DROP unless the rule or the program is count-only. */
static __always_inline int ps_match(__u32 slot, __u32 flags, __u32 len)
{
	int drop = !(flags & PS_RULE_COUNT_ONLY) && !ps_global_count_only();
	ps_count(slot, len, drop);
	return drop ? XDP_DROP : XDP_PASS;
}

static __always_inline int ps_is_protected(struct ps_pkt *p)
{
	struct ps_rule *r;
	if (p->family == 4) {
		struct ps_lpm_v4_key k = { .prefixlen = 32 };
		__builtin_memcpy(k.addr, p->saddr, 4);
		r = bpf_map_lookup_elem(&ps_prot_v4, &k);
	} else {
		struct ps_lpm_v6_key k = { .prefixlen = 128 };
		__builtin_memcpy(k.addr, p->saddr, 16);
		r = bpf_map_lookup_elem(&ps_prot_v6, &k);
	}
	return r != 0;
}

/* XDP_DROP / XDP_PASS for the deny lists (counts the matching rule). */
static __always_inline int ps_check_deny(struct ps_pkt *p)
{
	struct ps_rule *r;
	if (p->family == 4) {
		struct ps_lpm_v4_key k = { .prefixlen = 32 };
		__builtin_memcpy(k.addr, p->saddr, 4);
		r = bpf_map_lookup_elem(&ps_deny_v4, &k);
	} else {
		struct ps_lpm_v6_key k = { .prefixlen = 128 };
		__builtin_memcpy(k.addr, p->saddr, 16);
		r = bpf_map_lookup_elem(&ps_deny_v6, &k);
	}
	if (!r)
		return XDP_PASS;
	return ps_match(r->counter, r->flags, p->len);
}

static __always_inline struct ps_rl_rule *ps_find_rl_rule(struct ps_pkt *p)
{
	struct ps_rl_key k = { .proto = p->proto, .dport = 0 };
	struct ps_rl_rule *r = 0;
	if (p->has_port) {
		k.dport = p->dport;
		r = bpf_map_lookup_elem(&ps_rl_rules, &k);
		k.dport = 0;
	}
	if (!r)
		r = bpf_map_lookup_elem(&ps_rl_rules, &k);
	if (!r) {
		k.proto = 0;
		r = bpf_map_lookup_elem(&ps_rl_rules, &k);
	}
	return r;
}

/* Token bucket per (rule, source). XDP_DROP when the source has no token left. */
static __always_inline int ps_check_ratelimit(struct ps_pkt *p)
{
	struct ps_rl_rule *r = ps_find_rl_rule(p);
	struct ps_rl_state_key sk = {};
	struct ps_rl_state *st;
	__u64 now, cap, tokens, elapsed;

	if (!r)
		return XDP_PASS;
	if (r->rate_pps == 0 || r->burst == 0)
		return XDP_PASS; /* never written by the agent; be safe */
	now = bpf_ktime_get_ns();
	cap = r->burst * PS_NANO;
	sk.counter = r->counter;
	sk.family = p->family;
	__builtin_memcpy(sk.addr, p->saddr, 16);
	if (p->family == 4)
		__builtin_memset(sk.addr + 4, 0, 12);

	st = bpf_map_lookup_elem(&ps_rl_state, &sk);
	if (!st) {
		struct ps_rl_state fresh = { .tokens_nano = cap - PS_NANO, .last_ns = now };
		bpf_map_update_elem(&ps_rl_state, &sk, &fresh, BPF_ANY);
		ps_count(r->counter, p->len, 0);
		return XDP_PASS;
	}
	elapsed = now > st->last_ns ? now - st->last_ns : 0;
	if (elapsed >= r->fill_ns) {
		tokens = cap;
	} else {
		tokens = st->tokens_nano + elapsed * r->rate_pps;
		if (tokens > cap)
			tokens = cap;
	}
	st->last_ns = now;
	if (tokens >= PS_NANO) {
		st->tokens_nano = tokens - PS_NANO;
		ps_count(r->counter, p->len, 0);
		return XDP_PASS;
	}
	st->tokens_nano = tokens;
	return ps_match(r->counter, r->flags, p->len);
}

/* Steps 1–4 of the verdict order. Returns -1 to continue, otherwise the final verdict. */
static __always_inline int ps_prologue(struct xdp_md *ctx, struct ps_pkt *p, int *parse)
{
	*parse = ps_parse(ctx, p);
	ps_count(PS_CTR_SEEN, p->len, 0);
	if (*parse == PS_PARSE_NON_IP) {
		ps_count(PS_CTR_NON_IP, p->len, 0);
		ps_count(PS_CTR_PASSED, p->len, 0);
		return XDP_PASS;
	}
	if (*parse == PS_PARSE_MALFORMED)
		return ps_match(PS_CTR_MALFORMED, 0, p->len);
	if (ps_is_protected(p)) {
		ps_count(PS_CTR_PROTECTED, p->len, 0);
		ps_count(PS_CTR_PASSED, p->len, 0);
		return XDP_PASS;
	}
	return -1;
}

static __always_inline int ps_pass(struct ps_pkt *p)
{
	ps_count(PS_CTR_PASSED, p->len, 0);
	return XDP_PASS;
}

#endif /* PROXYSHARD_H */
