// SPDX-License-Identifier: MIT
/*
 * xdp-pkt: a small raw-packet sender and UDP receiver for the XDP tests and benchmarks.
 * Compiled at test time (test/tools/xdp-lab.ts buildPktTool): clang -O2 -o xdp-pkt xdp-pkt.c
 *
 *   xdp-pkt send --ifname IF --dst-mac MAC --src IP --dst IP [--netns NAME] [--proto udp|tcp]
 *                [--dport N] [--sport N] [--count N] [--pps N] [--duration-ms N] [--vlan ID]... (≤3)
 *                [--ip-options N] (IPv4 NOP options, bytes, multiple of 4, ≤ 40)
 *                [--truncate N] (cut every frame to N bytes) [--bad-ihl] (IPv4 ihl = 4)
 *                [--payload N] [--batch N] [--cpu N] [--xdp-live]
 *       Frames are written with AF_PACKET (qdisc bypass) on IF; every frame carries a sequence number and
 *       the CLOCK_REALTIME send time. Bounded: stops at --count or --duration-ms (default 10 s), whichever
 *       comes first. Prints one JSON line: {"sent":N,"elapsed_ns":N,"start_ns":N,"end_ns":N,"cpu_ns":N}
 *       (cpu_ns: the sender's user + system CPU time, which includes the receive path when the kernel
 *       runs it in the sender's softirq, as a veth without NAPI does).
 *       --xdp-live: an in-kernel generator instead (what pktgen does, for kernels without pktgen): one
 *       frame (sequence 0) is transmitted over and over by BPF_PROG_TEST_RUN in live-frames mode
 *       (BPF_F_TEST_XDP_LIVE_FRAMES, Linux ≥ 5.18) with a program returning XDP_TX on IF, i.e. through
 *       IF's ndo_xdp_xmit, without an skb or a syscall per packet. On a veth, the peer must run NAPI (GRO
 *       on, or a native XDP program), else the frames are dropped by the sending veth. "sent" counts
 *       frames offered (the peer may drop some when its ring is full); --pps is ignored.
 *
 *   xdp-pkt gro --ifname IF (--on|--off) [--netns NAME]
 *       Sets GRO of IF (ETHTOOL_SGRO, what `ethtool -K IF gro on` does); on a veth this enables the
 *       receiving side's NAPI, which native XDP, threaded NAPI and --xdp-live senders need.
 *
 *   xdp-pkt recv --port N [--netns NAME]... [--duration-ms N]
 *       One dual-stack UDP socket on [::]:N in each namespace (default: the current one). Prints
 *       {"ready":true} once bound, then on SIGTERM/SIGINT or after --duration-ms (default 60 s) one JSON line
 *       {"total":N,"sources":{"<ns>|<addr>":{"count":N,"first_ns":N,"last_ns":N}}} (CLOCK_REALTIME ns).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* User + system CPU time of this process. */
static uint64_t cpu_time_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "xdp-pkt: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void enter_netns(const char *name)
{
	char path[256];
	snprintf(path, sizeof(path), "/run/netns/%s", name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die(path);
	if (setns(fd, CLONE_NEWNET) < 0)
		die("setns");
	close(fd);
}

static uint32_t csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;
	while (len > 1) {
		sum += (uint32_t)((p[0] << 8) | p[1]);
		p += 2;
		len -= 2;
	}
	if (len)
		sum += (uint32_t)(p[0] << 8);
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	return sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4], &mac[5]) == 6 ? 0 : -1;
}

/* ------------------------------------------------------------------ send */

struct send_opts {
	const char *ifname, *netns;
	uint8_t dst_mac[6], src_mac[6];
	int family;
	uint8_t src[16], dst[16];
	int proto; /* 17 udp, 6 tcp */
	int dport, sport;
	long count, pps, duration_ms;
	int vlans[3], nvlan;
	int ip_options, truncate_to, bad_ihl, payload, batch, cpu, xdp_live;
};

/* Builds one frame into buf; returns its length (before --truncate). */
static size_t build_frame(struct send_opts *o, uint8_t *buf, uint64_t seq)
{
	size_t off = 0;
	memcpy(buf, o->dst_mac, 6);
	memcpy(buf + 6, o->src_mac, 6);
	off = 12;
	for (int i = 0; i < o->nvlan; i++) {
		uint16_t tpid = htons(i == 0 && o->nvlan > 1 ? 0x88A8 : 0x8100);
		uint16_t tci = htons((uint16_t)o->vlans[i]);
		memcpy(buf + off, &tpid, 2);
		memcpy(buf + off + 2, &tci, 2);
		off += 4;
	}
	uint16_t et = htons(o->family == 4 ? 0x0800 : 0x86DD);
	memcpy(buf + off, &et, 2);
	off += 2;

	size_t l4len = (o->proto == 6 ? 20 : 8) + (size_t)o->payload;
	uint8_t *ip = buf + off;
	size_t iphl;
	if (o->family == 4) {
		iphl = 20 + (size_t)o->ip_options;
		memset(ip, 0, iphl);
		ip[0] = (uint8_t)(0x40 | (o->bad_ihl ? 4 : iphl / 4));
		uint16_t tot = htons((uint16_t)(iphl + l4len));
		memcpy(ip + 2, &tot, 2);
		ip[8] = 64;
		ip[9] = (uint8_t)o->proto;
		memcpy(ip + 12, o->src, 4);
		memcpy(ip + 16, o->dst, 4);
		for (int i = 0; i < o->ip_options; i++)
			ip[20 + i] = 1; /* NOP */
		uint16_t c = htons(csum_fold(csum_add(0, ip, iphl)));
		memcpy(ip + 10, &c, 2);
	} else {
		iphl = 40;
		memset(ip, 0, 40);
		ip[0] = 0x60;
		uint16_t pl = htons((uint16_t)l4len);
		memcpy(ip + 4, &pl, 2);
		ip[6] = (uint8_t)o->proto;
		ip[7] = 64;
		memcpy(ip + 8, o->src, 16);
		memcpy(ip + 24, o->dst, 16);
	}
	uint8_t *l4 = ip + iphl;
	memset(l4, 0, l4len);
	uint16_t sp = htons((uint16_t)o->sport), dp = htons((uint16_t)o->dport);
	memcpy(l4, &sp, 2);
	memcpy(l4 + 2, &dp, 2);
	uint8_t *payload = l4 + (o->proto == 6 ? 20 : 8);
	uint64_t ts = now_ns(CLOCK_REALTIME);
	if (o->payload >= 16) {
		memcpy(payload, &seq, 8);
		memcpy(payload + 8, &ts, 8);
	}
	if (o->proto == 17) {
		uint16_t ul = htons((uint16_t)l4len);
		memcpy(l4 + 4, &ul, 2);
	} else {
		l4[12] = 5 << 4;
		l4[13] = 0x02; /* SYN */
		uint16_t win = htons(1024);
		memcpy(l4 + 14, &win, 2);
	}
	/* L4 checksum over the pseudo header */
	uint32_t sum = 0;
	if (o->family == 4) {
		sum = csum_add(sum, o->src, 4);
		sum = csum_add(sum, o->dst, 4);
		sum += (uint32_t)o->proto;
		sum += (uint32_t)l4len;
	} else {
		sum = csum_add(sum, o->src, 16);
		sum = csum_add(sum, o->dst, 16);
		sum += (uint32_t)l4len;
		sum += (uint32_t)o->proto;
	}
	sum = csum_add(sum, l4, l4len);
	uint16_t c = csum_fold(sum);
	if (o->proto == 17 && c == 0)
		c = 0xffff;
	c = htons(c);
	memcpy(l4 + (o->proto == 6 ? 16 : 6), &c, 2);
	return off + iphl + l4len;
}

static int parse_addr(const char *s, uint8_t out[16], int *family)
{
	if (inet_pton(AF_INET, s, out) == 1) {
		*family = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, s, out) == 1) {
		*family = 6;
		return 0;
	}
	return -1;
}

/*
 * --xdp-live: BPF_PROG_TEST_RUN in live-frames mode with `r0 = XDP_TX; exit`, `repeat` frames per call
 * (the kernel yields to the scheduler and to signals between batches) until --count or --duration-ms.
 */
static int send_xdp_live(struct send_opts *o)
{
	static uint8_t frame[1600];
	size_t len = build_frame(o, frame, 0);
	if (o->truncate_to > 0 && (size_t)o->truncate_to < len)
		len = (size_t)o->truncate_to;
	int ifindex = (int)if_nametoindex(o->ifname);
	if (!ifindex)
		die(o->ifname);

	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_TX },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	char log[4096] = "";
	union bpf_attr load;
	memset(&load, 0, sizeof(load));
	load.prog_type = BPF_PROG_TYPE_XDP;
	load.insns = (uint64_t)(uintptr_t)insns;
	load.insn_cnt = sizeof(insns) / sizeof(insns[0]);
	load.license = (uint64_t)(uintptr_t) "GPL";
	load.log_buf = (uint64_t)(uintptr_t)log;
	load.log_size = sizeof(log);
	load.log_level = 1;
	int prog = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof(load));
	if (prog < 0) {
		fprintf(stderr, "xdp-pkt: BPF_PROG_LOAD: %s\n%s\n", strerror(errno), log);
		return 1;
	}

	struct xdp_md ctx = { .data = 0, .data_end = (uint32_t)len, .ingress_ifindex = (uint32_t)ifindex, .rx_queue_index = 0 };
	uint64_t start_rt = now_ns(CLOCK_REALTIME);
	uint64_t t0 = now_ns(CLOCK_MONOTONIC);
	uint64_t deadline = t0 + (uint64_t)o->duration_ms * 1000000ull;
	const long chunk = 65536;
	long sent = 0;
	while (sent < o->count && now_ns(CLOCK_MONOTONIC) < deadline) {
		long n = o->count - sent < chunk ? o->count - sent : chunk;
		union bpf_attr run;
		memset(&run, 0, sizeof(run));
		run.test.prog_fd = (uint32_t)prog;
		run.test.data_in = (uint64_t)(uintptr_t)frame;
		run.test.data_size_in = (uint32_t)len;
		run.test.ctx_in = (uint64_t)(uintptr_t)&ctx;
		run.test.ctx_size_in = sizeof(ctx);
		run.test.repeat = (uint32_t)n;
		run.test.flags = BPF_F_TEST_XDP_LIVE_FRAMES;
		run.test.batch_size = (uint32_t)(o->batch > 0 ? o->batch : 64);
		if (syscall(SYS_bpf, BPF_PROG_TEST_RUN, &run, sizeof(run)) < 0) {
			if (errno == EINTR)
				continue;
			die("BPF_PROG_TEST_RUN (live frames)");
		}
		sent += n;
	}
	uint64_t elapsed = now_ns(CLOCK_MONOTONIC) - t0;
	printf("{\"sent\":%ld,\"elapsed_ns\":%llu,\"start_ns\":%llu,\"end_ns\":%llu,\"cpu_ns\":%llu}\n", sent, (unsigned long long)elapsed,
	       (unsigned long long)start_rt, (unsigned long long)now_ns(CLOCK_REALTIME), (unsigned long long)cpu_time_ns());
	close(prog);
	return 0;
}

static int cmd_send(int argc, char **argv)
{
	struct send_opts o = { .proto = 17, .dport = 9000, .sport = 40000, .count = 1, .duration_ms = 10000, .payload = 16, .batch = 32, .cpu = -1 };
	int have_src = 0, have_dst = 0, fam2 = 0;
	const char *src_mac = NULL, *dst_mac = NULL;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (strcmp(a, name) == 0 && v && ++i)
		if (ARG("--ifname")) o.ifname = v;
		else if (ARG("--netns")) o.netns = v;
		else if (ARG("--dst-mac")) dst_mac = v;
		else if (ARG("--src-mac")) src_mac = v;
		else if (ARG("--src")) have_src = parse_addr(v, o.src, &o.family) == 0;
		else if (ARG("--dst")) have_dst = parse_addr(v, o.dst, &fam2) == 0;
		else if (ARG("--proto")) o.proto = strcmp(v, "tcp") == 0 ? 6 : 17;
		else if (ARG("--dport")) o.dport = atoi(v);
		else if (ARG("--sport")) o.sport = atoi(v);
		else if (ARG("--count")) o.count = atol(v);
		else if (ARG("--pps")) o.pps = atol(v);
		else if (ARG("--duration-ms")) o.duration_ms = atol(v);
		else if (ARG("--vlan")) { if (o.nvlan < 3) o.vlans[o.nvlan++] = atoi(v); }
		else if (ARG("--ip-options")) o.ip_options = atoi(v);
		else if (ARG("--truncate")) o.truncate_to = atoi(v);
		else if (ARG("--payload")) o.payload = atoi(v);
		else if (ARG("--batch")) o.batch = atoi(v);
		else if (ARG("--cpu")) o.cpu = atoi(v);
		else if (strcmp(a, "--bad-ihl") == 0) o.bad_ihl = 1;
		else if (strcmp(a, "--xdp-live") == 0) o.xdp_live = 1;
		else {
			fprintf(stderr, "xdp-pkt send: unknown or incomplete argument %s\n", a);
			return 2;
		}
#undef ARG
	}
	if (!o.ifname || !dst_mac || !have_src || !have_dst || fam2 != o.family || parse_mac(dst_mac, o.dst_mac) < 0) {
		fprintf(stderr, "xdp-pkt send: need --ifname, --dst-mac, --src and --dst of the same family\n");
		return 2;
	}
	if (src_mac && parse_mac(src_mac, o.src_mac) < 0)
		return 2;
	if (!src_mac)
		memcpy(o.src_mac, (uint8_t[]){ 0x02, 0, 0, 0, 0, 1 }, 6);
	if (o.ip_options < 0 || o.ip_options > 40 || o.ip_options % 4 || o.payload < 0 || o.payload > 1400)
		return 2;
	if (o.batch < 1 || o.batch > 256)
		o.batch = 32;
	if (o.duration_ms <= 0 || o.duration_ms > 120000)
		o.duration_ms = 120000; /* hard bound */
	if (o.cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(o.cpu, &set);
		sched_setaffinity(0, sizeof(set), &set);
	}
	if (o.netns)
		enter_netns(o.netns);
	if (o.xdp_live)
		return send_xdp_live(&o);

	int fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0)
		die("socket(AF_PACKET)");
	int one = 1;
	setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_ifindex = (int)if_nametoindex(o.ifname), .sll_halen = 6 };
	if (!sll.sll_ifindex)
		die(o.ifname);
	memcpy(sll.sll_addr, o.dst_mac, 6);

	enum { MAXB = 256 };
	static uint8_t frames[MAXB][1600];
	struct mmsghdr msgs[MAXB];
	struct iovec iov[MAXB];
	memset(msgs, 0, sizeof(msgs));

	uint64_t start_rt = now_ns(CLOCK_REALTIME);
	uint64_t t0 = now_ns(CLOCK_MONOTONIC);
	uint64_t deadline = t0 + (uint64_t)o.duration_ms * 1000000ull;
	uint64_t interval = o.pps > 0 ? 1000000000ull / (uint64_t)o.pps : 0;
	long sent = 0;
	while (sent < o.count) {
		uint64_t t = now_ns(CLOCK_MONOTONIC);
		if (t >= deadline)
			break;
		int n = 1;
		if (interval) {
			uint64_t due = t0 + (uint64_t)sent * interval;
			if (t < due) {
				uint64_t wait = due - t;
				if (wait > 200000) {
					struct timespec ts = { 0, (long)(wait - 100000) };
					nanosleep(&ts, NULL);
				}
				continue;
			}
			/* catch up in small batches when behind */
			uint64_t behind = (t - due) / interval + 1;
			n = behind > (uint64_t)o.batch ? o.batch : (int)behind;
		} else {
			n = o.batch;
		}
		if (n > o.count - sent)
			n = (int)(o.count - sent);
		for (int i = 0; i < n; i++) {
			size_t len = build_frame(&o, frames[i], (uint64_t)(sent + i));
			if (o.truncate_to > 0 && (size_t)o.truncate_to < len)
				len = (size_t)o.truncate_to;
			iov[i].iov_base = frames[i];
			iov[i].iov_len = len;
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			msgs[i].msg_hdr.msg_name = &sll;
			msgs[i].msg_hdr.msg_namelen = sizeof(sll);
		}
		int r = sendmmsg(fd, msgs, (unsigned)n, 0);
		if (r < 0) {
			if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR)
				continue;
			die("sendmmsg");
		}
		sent += r;
	}
	uint64_t elapsed = now_ns(CLOCK_MONOTONIC) - t0;
	printf("{\"sent\":%ld,\"elapsed_ns\":%llu,\"start_ns\":%llu,\"end_ns\":%llu,\"cpu_ns\":%llu}\n", sent, (unsigned long long)elapsed,
	       (unsigned long long)start_rt, (unsigned long long)now_ns(CLOCK_REALTIME), (unsigned long long)cpu_time_ns());
	return 0;
}

/* ------------------------------------------------------------------ recv */

struct src_stat {
	char key[96];
	uint64_t count, first_ns, last_ns;
};

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static int cmd_recv(int argc, char **argv)
{
	const char *netns[16];
	int nns = 0, port = 0;
	long duration_ms = 60000;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--netns") == 0 && v && nns < 16) netns[nns++] = argv[++i];
		else if (strcmp(a, "--port") == 0 && v) port = atoi(argv[++i]);
		else if (strcmp(a, "--duration-ms") == 0 && v) duration_ms = atol(argv[++i]);
		else {
			fprintf(stderr, "xdp-pkt recv: unknown or incomplete argument %s\n", a);
			return 2;
		}
	}
	if (port <= 0)
		return 2;
	if (duration_ms <= 0 || duration_ms > 600000)
		duration_ms = 600000;
	struct pollfd pfd[16];
	int nfd = nns ? nns : 1;
	for (int i = 0; i < nfd; i++) {
		if (nns)
			enter_netns(netns[i]);
		int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, 0);
		if (fd < 0)
			die("socket");
		int zero = 0, big = 8 << 20;
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
		struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port), .sin6_addr = in6addr_any };
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
			die("bind");
		pfd[i].fd = fd;
		pfd[i].events = POLLIN;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	printf("{\"ready\":true}\n");
	fflush(stdout);

	enum { MAXSRC = 4096 };
	static struct src_stat stats[MAXSRC];
	int nstats = 0;
	uint64_t total = 0;
	uint64_t deadline = now_ns(CLOCK_MONOTONIC) + (uint64_t)duration_ms * 1000000ull;
	uint8_t buf[2048];
	while (!stop_flag && now_ns(CLOCK_MONOTONIC) < deadline) {
		int r = poll(pfd, (nfds_t)nfd, 50);
		if (r <= 0)
			continue;
		for (int i = 0; i < nfd; i++) {
			if (!(pfd[i].revents & POLLIN))
				continue;
			for (;;) {
				struct sockaddr_in6 from;
				socklen_t fl = sizeof(from);
				ssize_t n = recvfrom(pfd[i].fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
				if (n < 0)
					break;
				uint64_t t = now_ns(CLOCK_REALTIME);
				char addr[64];
				if (IN6_IS_ADDR_V4MAPPED(&from.sin6_addr))
					inet_ntop(AF_INET, &from.sin6_addr.s6_addr[12], addr, sizeof(addr));
				else
					inet_ntop(AF_INET6, &from.sin6_addr, addr, sizeof(addr));
				char key[96];
				snprintf(key, sizeof(key), "%s|%s", nns ? netns[i] : "", addr);
				int k;
				for (k = 0; k < nstats; k++)
					if (strcmp(stats[k].key, key) == 0)
						break;
				if (k == nstats && nstats < MAXSRC) {
					snprintf(stats[k].key, sizeof(stats[k].key), "%s", key);
					stats[k].first_ns = t;
					nstats++;
				}
				if (k < nstats) {
					stats[k].count++;
					stats[k].last_ns = t;
				}
				total++;
			}
		}
	}
	printf("{\"total\":%llu,\"sources\":{", (unsigned long long)total);
	for (int k = 0; k < nstats; k++)
		printf("%s\"%s\":{\"count\":%llu,\"first_ns\":%llu,\"last_ns\":%llu}", k ? "," : "", stats[k].key,
		       (unsigned long long)stats[k].count, (unsigned long long)stats[k].first_ns, (unsigned long long)stats[k].last_ns);
	printf("}}\n");
	fflush(stdout);
	return 0;
}

/* ------------------------------------------------------------------ gro */

static int cmd_gro(int argc, char **argv)
{
	const char *ifname = NULL, *netns = NULL;
	int on = -1;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--ifname") == 0 && i + 1 < argc) ifname = argv[++i];
		else if (strcmp(a, "--netns") == 0 && i + 1 < argc) netns = argv[++i];
		else if (strcmp(a, "--on") == 0) on = 1;
		else if (strcmp(a, "--off") == 0) on = 0;
		else {
			fprintf(stderr, "xdp-pkt gro: unknown or incomplete argument %s\n", a);
			return 2;
		}
	}
	if (!ifname || on < 0 || strlen(ifname) >= IFNAMSIZ) {
		fprintf(stderr, "xdp-pkt gro: need --ifname and --on or --off\n");
		return 2;
	}
	if (netns)
		enter_netns(netns);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		die("socket");
	struct ethtool_value ev = { .cmd = ETHTOOL_SGRO, .data = (uint32_t)on };
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (char *)&ev;
	if (ioctl(fd, SIOCETHTOOL, &ifr) < 0)
		die("SIOCETHTOOL ETHTOOL_SGRO");
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "send") == 0)
		return cmd_send(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "recv") == 0)
		return cmd_recv(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "gro") == 0)
		return cmd_gro(argc - 2, argv + 2);
	fprintf(stderr, "usage: xdp-pkt send|recv|gro …\n");
	return 2;
}
