// SPDX-License-Identifier: GPL-2.0
/*
 * hsflood: send one UDP payload (a handshake message) to DST:PORT from many
 * spoofed source addresses, at a target rate, for the flood tests and the
 * flood benchmark. Raw sockets (IPv4 IPPROTO_RAW implies IP_HDRINCL, IPv6
 * IPPROTO_RAW implies the same on Linux), so the kernel routes each packet
 * by its destination and the test decides where replies to the forged
 * sources go. Prints one JSON line: {"sent", "errors", "elapsed", "start",
 * "end", "stopped"} (start and end on CLOCK_MONOTONIC).
 *
 *   hsflood --dst ADDR --port N --src-base ADDR --sources N --payload FILE
 *           [--rate PPS] [--count N] [--seconds S]
 *
 * Sources: IPv4 src-base + i; IPv6 prefix/48 of src-base, then i as the
 * fourth group (each source its own /64), then a random interface id.
 * The source port is 1024 + i % 60000. --rate 0 sends as fast as it can;
 * it stops after --count datagrams or --seconds, whichever comes first, or
 * at SIGTERM/SIGINT ("stopped": true), still printing its report.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/udp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MAX_PAYLOAD 65000

/* SIGTERM or SIGINT: stop sending and still print the report. */
static volatile sig_atomic_t stop;

static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "hsflood: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void usage(void)
{
	fprintf(stderr, "usage: hsflood --dst ADDR --port N --src-base ADDR --sources N "
			"--payload FILE [--rate PPS] [--count N] [--seconds S]\n");
	exit(2);
}

/* The Internet checksum over @len bytes, folded into @sum. */
static uint32_t csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len > 1) {
		sum += (uint32_t)p[0] << 8 | p[1];
		p += 2;
		len -= 2;
	}
	if (len)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	sum = ~sum & 0xffff;
	return htons(sum ? sum : 0xffff);
}

struct packet {
	uint8_t *buf;
	size_t len;
};

static void build_udp(struct udphdr *udp, uint16_t sport, uint16_t dport,
		      const uint8_t *payload, size_t plen, uint32_t pseudo)
{
	udp->source = htons(sport);
	udp->dest = htons(dport);
	udp->len = htons(sizeof(*udp) + plen);
	udp->check = 0;
	memcpy(udp + 1, payload, plen);
	pseudo = csum_add(pseudo, udp, sizeof(*udp) + plen);
	udp->check = csum_fold(pseudo);
}

static struct packet build_v4(struct in_addr src, struct in_addr dst, uint16_t sport,
			      uint16_t dport, const uint8_t *payload, size_t plen)
{
	size_t len = sizeof(struct iphdr) + sizeof(struct udphdr) + plen;
	struct packet pkt = { calloc(1, len), len };
	struct iphdr *ip = (struct iphdr *)pkt.buf;
	uint32_t pseudo = 0;
	uint16_t proto_len[2] = { htons(IPPROTO_UDP), htons(sizeof(struct udphdr) + plen) };

	if (!pkt.buf)
		die("calloc");
	ip->version = 4;
	ip->ihl = 5;
	ip->tot_len = htons(len);
	ip->ttl = 64;
	ip->protocol = IPPROTO_UDP;
	ip->saddr = src.s_addr;
	ip->daddr = dst.s_addr;	/* id and checksum: filled in by the kernel */
	pseudo = csum_add(pseudo, &ip->saddr, 8);
	pseudo = csum_add(pseudo, proto_len, sizeof(proto_len));
	build_udp((struct udphdr *)(ip + 1), sport, dport, payload, plen, pseudo);
	return pkt;
}

static struct packet build_v6(const struct in6_addr *src, const struct in6_addr *dst,
			      uint16_t sport, uint16_t dport, const uint8_t *payload, size_t plen)
{
	size_t len = sizeof(struct ip6_hdr) + sizeof(struct udphdr) + plen;
	struct packet pkt = { calloc(1, len), len };
	struct ip6_hdr *ip6 = (struct ip6_hdr *)pkt.buf;
	uint32_t pseudo = 0, ulen = htonl(sizeof(struct udphdr) + plen);
	uint32_t nxt = htonl(IPPROTO_UDP);

	if (!pkt.buf)
		die("calloc");
	ip6->ip6_flow = htonl(6u << 28);
	ip6->ip6_plen = htons(sizeof(struct udphdr) + plen);
	ip6->ip6_nxt = IPPROTO_UDP;
	ip6->ip6_hlim = 64;
	ip6->ip6_src = *src;
	ip6->ip6_dst = *dst;
	pseudo = csum_add(pseudo, src, 16);
	pseudo = csum_add(pseudo, dst, 16);
	pseudo = csum_add(pseudo, &ulen, 4);
	pseudo = csum_add(pseudo, &nxt, 4);
	build_udp((struct udphdr *)(ip6 + 1), sport, dport, payload, plen, pseudo);
	return pkt;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dst", required_argument, NULL, 'd' },
		{ "port", required_argument, NULL, 'p' },
		{ "src-base", required_argument, NULL, 's' },
		{ "sources", required_argument, NULL, 'n' },
		{ "payload", required_argument, NULL, 'f' },
		{ "rate", required_argument, NULL, 'r' },
		{ "count", required_argument, NULL, 'c' },
		{ "seconds", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dst_text = NULL, *src_text = NULL, *payload_path = NULL;
	long port = 0, sources = 0, rate = 0, count = -1;
	double seconds = -1, start, elapsed;
	static uint8_t payload[MAX_PAYLOAD];
	struct sockaddr_storage dst_sa = { 0 };
	struct mmsghdr msgs[BATCH];
	struct iovec iovs[BATCH];
	struct packet *pkts;
	long sent = 0, errors = 0, i;
	size_t plen;
	int family, fd, opt;
	FILE *f;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'd': dst_text = optarg; break;
		case 'p': port = strtol(optarg, NULL, 10); break;
		case 's': src_text = optarg; break;
		case 'n': sources = strtol(optarg, NULL, 10); break;
		case 'f': payload_path = optarg; break;
		case 'r': rate = strtol(optarg, NULL, 10); break;
		case 'c': count = strtol(optarg, NULL, 10); break;
		case 't': seconds = strtod(optarg, NULL); break;
		default: usage();
		}
	}
	if (!dst_text || !src_text || !payload_path || port < 1 || port > 65535 ||
	    sources < 1 || sources > 1000000 || rate < 0 || (count < 0 && seconds < 0))
		usage();

	f = fopen(payload_path, "rb");
	if (!f)
		die(payload_path);
	plen = fread(payload, 1, sizeof(payload), f);
	fclose(f);
	if (!plen) {
		fprintf(stderr, "hsflood: %s is empty\n", payload_path);
		return 2;
	}

	pkts = calloc(sources, sizeof(*pkts));
	if (!pkts)
		die("calloc");
	if (strchr(dst_text, ':')) {
		struct sockaddr_in6 *d6 = (struct sockaddr_in6 *)&dst_sa;
		struct in6_addr base, src;

		family = AF_INET6;
		d6->sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, dst_text, &d6->sin6_addr) != 1 ||
		    inet_pton(AF_INET6, src_text, &base) != 1)
			usage();
		for (i = 0; i < sources; ++i) {
			src = base;	/* keep the /48, the fourth group is the source's /64 */
			src.s6_addr[6] = (uint8_t)(i >> 8);
			src.s6_addr[7] = (uint8_t)i;
			if (getrandom(&src.s6_addr[8], 8, 0) != 8)
				die("getrandom");
			pkts[i] = build_v6(&src, &d6->sin6_addr, 1024 + i % 60000, port,
					   payload, plen);
		}
	} else {
		struct sockaddr_in *d4 = (struct sockaddr_in *)&dst_sa;
		struct in_addr base, src;

		family = AF_INET;
		d4->sin_family = AF_INET;
		if (inet_pton(AF_INET, dst_text, &d4->sin_addr) != 1 ||
		    inet_pton(AF_INET, src_text, &base) != 1)
			usage();
		for (i = 0; i < sources; ++i) {
			src.s_addr = htonl(ntohl(base.s_addr) + (uint32_t)i);
			pkts[i] = build_v4(src, d4->sin_addr, 1024 + i % 60000, port,
					   payload, plen);
		}
	}

	fd = socket(family, SOCK_RAW, IPPROTO_RAW);
	if (fd < 0)
		die("raw socket (needs CAP_NET_RAW)");

	memset(msgs, 0, sizeof(msgs));
	{
		struct sigaction sa = { .sa_handler = on_stop, .sa_flags = SA_RESTART };

		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
	}
	start = now();
	for (;;) {
		long batch = BATCH, k;
		int n;

		elapsed = now() - start;
		if (stop || (count >= 0 && sent + errors >= count) ||
		    (seconds >= 0 && elapsed >= seconds))
			break;
		if (count >= 0 && count - sent - errors < batch)
			batch = count - sent - errors;
		if (rate > 0) {
			/* Pace: never ahead of rate * elapsed. */
			double due = (double)(sent + errors + batch) / rate;

			if (due > elapsed) {
				double wait = due - elapsed;
				struct timespec ts = { (time_t)wait, (long)((wait - (time_t)wait) * 1e9) };

				nanosleep(&ts, NULL);
			}
		}
		for (k = 0; k < batch; ++k) {
			struct packet *p = &pkts[(sent + errors + k) % sources];

			iovs[k].iov_base = p->buf;
			iovs[k].iov_len = p->len;
			msgs[k].msg_hdr.msg_iov = &iovs[k];
			msgs[k].msg_hdr.msg_iovlen = 1;
			msgs[k].msg_hdr.msg_name = &dst_sa;
			msgs[k].msg_hdr.msg_namelen = family == AF_INET ?
				sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
		}
		n = sendmmsg(fd, msgs, batch, 0);
		if (n < 0) {
			if (errno != ENOBUFS && errno != EAGAIN && errno != EPERM &&
			    errno != ENETUNREACH && errno != EHOSTUNREACH)
				die("sendmmsg");
			++errors;	/* the first of the batch failed: count it, go on */
			continue;
		}
		sent += n;
	}
	elapsed = now() - start;
	/* start/end on CLOCK_MONOTONIC, the clock of Python's time.monotonic(). */
	printf("{\"sent\": %ld, \"errors\": %ld, \"elapsed\": %.6f, \"start\": %.6f, "
	       "\"end\": %.6f, \"stopped\": %s}\n", sent, errors, elapsed, start, start + elapsed,
	       stop ? "true" : "false");
	close(fd);
	for (i = 0; i < sources; ++i)
		free(pkts[i].buf);
	free(pkts);
	return 0;
}
