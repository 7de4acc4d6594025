// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* guard: deny lists, then rate limits (the default ProxyShard program). Verdict order: proxyshard.h. */
#include "proxyshard.h"

SEC("xdp")
int ps_guard(struct xdp_md *ctx)
{
	struct ps_pkt p = {};
	int parse;
	int v = ps_prologue(ctx, &p, &parse);
	if (v >= 0)
		return v;
	if (ps_check_deny(&p) == XDP_DROP)
		return XDP_DROP;
	if (parse == PS_PARSE_L4_TRUNCATED)
		return ps_match(PS_CTR_MALFORMED, 0, p.len) == XDP_DROP ? XDP_DROP : ps_pass(&p);
	if (ps_check_ratelimit(&p) == XDP_DROP)
		return XDP_DROP;
	return ps_pass(&p);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
