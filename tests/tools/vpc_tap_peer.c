/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vpc_tap_peer TAP MAC IPV4/PREFIX INSTANCE-ID [PCAP]: the VPC card's local
 * services (ARP for the router, DHCP, the metadata service) on a TAP
 * device, so the kernel's real ARP, DHCP client and TCP stack can talk to
 * them (tests/integration/vpc_services.sh).  Creates the TAP, prints
 * "ready", answers every frame the kernel sends until SIGTERM, SIGINT or
 * VPC_TAP_PEER_TIMEOUT seconds, then prints its counters.  With PCAP, it
 * writes every frame both ways there (libpcap's file format) for tshark
 * to decode: a live capture on a TAP loses its last frames when stopped.
 * SIGUSR1 schedules a spot interruption ("terminate", two minutes
 * ahead).  Gateway = subnet base + 1, DNS = subnet base + 2 (a VPC of one
 * subnet).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <unistd.h>

#include "cards/vpc/arp.h"
#include "cards/vpc/dhcp.h"
#include "cards/vpc/imds.h"
#include "tools/lib/log.h"

#define FRAME_MAX 65536
#define VPC_TAP_PEER_TIMEOUT 120

static struct eni eni;
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		eni_spot_set(&eni, ENI_SPOT_TERMINATE, time(NULL) + 120);
	else
		stop = 1;
}

/* The classic pcap file: global header, then a record per frame. */
static FILE *pcap_open(const char *path)
{
	const struct {
		uint32_t magic;
		uint16_t major, minor;
		int32_t thiszone;
		uint32_t sigfigs, snaplen, linktype;
	} hdr = { 0xa1b2c3d4, 2, 4, 0, 0, FRAME_MAX, 1 /* Ethernet */ };
	FILE *f = fopen(path, "wb");

	if (f && fwrite(&hdr, sizeof(hdr), 1, f) != 1) {
		fclose(f);
		f = NULL;
	}
	return f;
}

static void pcap_frame(FILE *f, const uint8_t *frame, size_t len)
{
	struct timeval tv;
	uint32_t rec[4];

	if (!f)
		return;
	gettimeofday(&tv, NULL);
	rec[0] = (uint32_t)tv.tv_sec;
	rec[1] = (uint32_t)tv.tv_usec;
	rec[2] = rec[3] = (uint32_t)len;
	fwrite(rec, sizeof(rec), 1, f);
	fwrite(frame, 1, len, f);
}

static int parse_eni(char **argv)
{
	static const uint8_t router_mac[ETH_ALEN] = {
		0x0e, 0xfe, 0xed, 0xfa, 0xce, 0x01
	};
	unsigned m[6], prefix;
	char ip[32];
	uint32_t a;

	if (sscanf(argv[2], "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3],
		   &m[4], &m[5]) != 6 ||
	    sscanf(argv[3], "%31[0-9.]/%u", ip, &prefix) != 2 ||
	    prefix < 8 || prefix > 30 || inet_pton(AF_INET, ip, &eni.ipv4) != 1)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		eni.mac[i] = (uint8_t)m[i];
	memcpy(eni.router_mac, router_mac, ETH_ALEN);
	eni.prefix_len = (uint8_t)prefix;
	eni.subnet = eni.ipv4 & eni_netmask(&eni);
	eni.gateway = eni_subnet_host(&eni, 1);
	eni.dns = eni_subnet_host(&eni, 2);
	eni.mtu = ENI_MTU_DEFAULT;
	a = ntohl(eni.ipv4);
	snprintf(eni.id, sizeof(eni.id), "eni-0123456789abcdef0");
	snprintf(eni.instance_id, sizeof(eni.instance_id), "%s", argv[4]);
	snprintf(eni.instance_type, sizeof(eni.instance_type), "cv.small");
	snprintf(eni.hostname, sizeof(eni.hostname), "ip-%u-%u-%u-%u",
		 a >> 24, a >> 16 & 0xff, a >> 8 & 0xff, a & 0xff);
	snprintf(eni.domain, sizeof(eni.domain), "ec2.internal");
	return 0;
}

static int open_tap(const char *name)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

int main(int argc, char **argv)
{
	static uint8_t frame[FRAME_MAX], reply[FRAME_MAX];
	static struct imds imds;
	struct sigaction sa = { .sa_handler = on_signal };
	unsigned long arp = 0, dhcp = 0, md = 0, other = 0, bad = 0;
	unsigned long *counter;
	FILE *pcap = NULL;
	int fd, r;

	cv_log_init("vpc-tap-peer", getenv("CV_VERBOSE") != NULL);
	if (argc < 5 || argc > 6 || parse_eni(argv)) {
		fprintf(stderr, "usage: %s TAP MAC IPV4/PREFIX INSTANCE-ID "
			"[PCAP]\n", argv[0]);
		return 2;
	}
	if (argc == 6 && !(pcap = pcap_open(argv[5]))) {
		cv_err("%s: %s", argv[5], strerror(errno));
		return 1;
	}
	/* No SA_RESTART: a signal ends the blocking read. */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	alarm(VPC_TAP_PEER_TIMEOUT);
	r = imds_init(&imds);
	fd = r ? r : open_tap(argv[1]);
	if (fd < 0) {
		cv_err("%s: %s", argv[1], strerror(-fd));
		return 1;
	}
	printf("ready\n");
	fflush(stdout);

	while (!stop) {
		ssize_t n = read(fd, frame, sizeof(frame));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			cv_err("read %s: %s", argv[1], strerror(errno));
			break;
		}
		pcap_frame(pcap, frame, (size_t)n);
		/* The card's datapath order: ARP, DHCP, then the metadata. */
		r = arp_answer(&eni, frame, (size_t)n, reply, sizeof(reply));
		counter = &arp;
		if (r == 0) {
			r = dhcp_answer(&eni, frame, (size_t)n, reply,
					sizeof(reply));
			counter = &dhcp;
		}
		if (r == 0) {
			r = imds_answer(&imds, &eni, frame, (size_t)n, reply,
					sizeof(reply));
			counter = &md;
		}
		++*(r > 0 ? counter : r < 0 ? &bad : &other);
		while (r > 0) {
			pcap_frame(pcap, reply, (size_t)r);
			if (write(fd, reply, (size_t)r) != r)
				cv_err("write %s: %s", argv[1],
				       strerror(errno));
			r = counter == &md ? imds_next(&imds, &eni, reply,
						       sizeof(reply))
					   : 0;
		}
	}
	printf("answered arp %lu dhcp %lu imds %lu, unanswered %lu, "
	       "rejected %lu\n", arp, dhcp, md, other, bad);
	if (pcap)
		fclose(pcap);
	close(fd);
	return 0;
}
