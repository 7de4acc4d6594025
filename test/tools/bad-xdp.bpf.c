// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* Deliberately rejected by the verifier (reads the packet without a bounds check): used by
 * test/xdp-agent.test.ts to prove that a rejected bundle leaves the previous program running. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int ps_bad(struct xdp_md *ctx)
{
	unsigned char *data = (unsigned char *)(long)ctx->data;
	return data[64] == 0xff ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
