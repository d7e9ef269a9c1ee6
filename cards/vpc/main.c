// SPDX-License-Identifier: Apache-2.0
/*
 * cv-vpc: one ENI as a virtio-net device served over vhost-user, its
 * frames filtered by security groups and carried in VXLAN or Geneve over
 * the underlay (design.md, "Networking model"; docs/vpc.md).
 *
 *   cv-vpc --instance FILE --nic ENI-ID [--verbose]
 *
 * SIGUSR1 re-reads <socket>.spot ("terminate|stop|hibernate EPOCH", or
 * empty to cancel) for the metadata service's spot/instance-action.
 * SIGTERM/SIGINT stop it, printing the counters.  Exit status 0, or 1 when
 * it cannot start.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "cards/vpc/router.h"
#include "cards/vpc/vnet.h"
#include "tools/lib/instance.h"
#include "tools/lib/log.h"

/* What a 1500-byte underlay carries once VXLAN's 50 bytes are added. */
#define VPC_MTU 1450
#define CT_EXPIRE_BUDGET 4096

enum src { SRC_SIGNAL, SRC_VNET, SRC_UNDERLAY, SRC_TICK };

struct vpc_card {
	const struct instance_nic *nic;
	struct vpc_router router;
	struct vnet vnet;
	int epfd, sigfd, tick_fd;
	bool router_up, vnet_up;
	char spot_path[4200];
};

static int parse_ipv4(const char *s, uint32_t *out)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*out = a.s_addr;
	return 0;
}

static int parse_hostport(const char *s, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	char *end;
	unsigned long port;

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	port = strtoul(colon + 1, &end, 10);
	if (*end || !colon[1] || port > 65535)
		return -EINVAL;
	*sa = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	return parse_ipv4(host, &sa->sin_addr.s_addr);
}

/* The ENI its services answer from, out of the instance description. */
static int eni_from_instance(struct eni *e, const struct instance_desc *d,
			     const struct instance_nic *n)
{
	char subnet[64], *slash;
	unsigned long prefix;
	uint32_t ip;

	memset(e, 0, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "%s", n->id);
	memcpy(e->mac, n->mac, ETH_ALEN);
	/* One locally administered router MAC per VPC (VNI), as AWS has one. */
	e->router_mac[0] = 0x02;
	e->router_mac[1] = 0xc7;
	e->router_mac[2] = (uint8_t)(n->vni >> 16);
	e->router_mac[3] = (uint8_t)(n->vni >> 8);
	e->router_mac[4] = (uint8_t)n->vni;
	e->router_mac[5] = 0x01;
	snprintf(subnet, sizeof(subnet), "%s", n->subnet);
	slash = strchr(subnet, '/');
	if (!slash || parse_ipv4(n->ipv4, &e->ipv4))
		return -EINVAL;
	*slash = '\0';
	prefix = strtoul(slash + 1, NULL, 10);
	if (parse_ipv4(subnet, &e->subnet) || prefix < 16 || prefix > 28)
		return -EINVAL;
	e->prefix_len = (uint8_t)prefix;
	if (!eni_in_subnet(e, e->ipv4) || (e->subnet & eni_netmask(e)) != e->subnet)
		return -EINVAL;
	e->gateway = eni_subnet_host(e, 1);
	e->dns = eni_subnet_host(e, 2);
	e->mtu = VPC_MTU;
	snprintf(e->instance_id, sizeof(e->instance_id), "%s", d->id);
	snprintf(e->instance_type, sizeof(e->instance_type), "%s",
		 d->type ? d->type : "cv.custom");
	ip = ntohl(e->ipv4);
	snprintf(e->hostname, sizeof(e->hostname), "ip-%u-%u-%u-%u", ip >> 24, ip >> 16 & 255,
		 ip >> 8 & 255, ip & 255);
	snprintf(e->domain, sizeof(e->domain), "ec2.internal");
	return 0;
}

static void spot_reload(struct vpc_card *card)
{
	static const struct { const char *name; enum eni_spot_action action; } actions[] = {
		{ "terminate", ENI_SPOT_TERMINATE }, { "stop", ENI_SPOT_STOP },
		{ "hibernate", ENI_SPOT_HIBERNATE },
	};
	char what[16] = "";
	long long when = 0;
	FILE *f = fopen(card->spot_path, "r");

	if (f) {
		if (fscanf(f, "%15s %lld", what, &when) != 2)
			what[0] = '\0';
		fclose(f);
	}
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		if (!strcmp(what, actions[i].name)) {
			eni_spot_set(&card->router.eni, actions[i].action, (time_t)when);
			cv_info("eni %s: spot interruption scheduled: %s at %lld", card->nic->id,
				what, when);
			return;
		}
	}
	eni_spot_set(&card->router.eni, ENI_SPOT_NONE, 0);
	cv_info("eni %s: no spot interruption scheduled", card->nic->id);
}

static int deliver(void *opaque, const uint8_t *frame, size_t len)
{
	struct vpc_card *card = opaque;

	return vnet_rx(&card->vnet, frame, len);
}

static int ep_add(int epfd, int fd, enum src src)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = src };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

static int card_init(struct vpc_card *card, const struct instance_desc *d)
{
	const struct instance_nic *n = card->nic;
	struct itimerspec tick = { .it_interval = { 1, 0 }, .it_value = { 1, 0 } };
	struct vnet_config vc = { .path = n->socket, .pairs = 1,
				  .tx = vpc_router_from_guest, .opaque = &card->router };
	enum vpc_encap encap;
	struct sockaddr_in underlay;
	struct eni eni;
	char err[256];
	sigset_t sigs;
	int ret;

	if (!strcmp(n->encap, "vxlan"))
		encap = VPC_ENCAP_VXLAN;
	else if (!strcmp(n->encap, "geneve"))
		encap = VPC_ENCAP_GENEVE;
	else
		encap = (enum vpc_encap)-1;
	if ((int)encap < 0 || n->vni > 0xffffff || parse_hostport(n->underlay, &underlay) ||
	    eni_from_instance(&eni, d, n)) {
		cv_err("eni %s: bad description (subnet %s, ipv4 %s, underlay %s, encap %s, vni %u)",
		       n->id, n->subnet, n->ipv4, n->underlay, n->encap, n->vni);
		return -EINVAL;
	}
	ret = vpc_router_init(&card->router, &eni, n->vni, encap, &underlay, n->conntrack,
			      deliver, card);
	if (ret)
		return ret;
	card->router_up = true;
	if (n->mapping && vpc_mapping_load(&card->router.map, n->mapping, err, sizeof(err))) {
		cv_err("eni %s: mapping table %s: %s", n->id, n->mapping, err);
		return -EINVAL;
	}
	if (n->sg && vpc_sg_load(&card->router.filter.sg, n->sg, err, sizeof(err))) {
		cv_err("eni %s: security groups %s: %s", n->id, n->sg, err);
		return -EINVAL;
	}
	snprintf(card->spot_path, sizeof(card->spot_path), "%s.spot", n->socket);
	ret = vnet_open(&card->vnet, &vc);
	if (ret)
		return ret;
	card->vnet_up = true;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGUSR1);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	card->sigfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	card->epfd = epoll_create1(EPOLL_CLOEXEC);
	card->tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (card->sigfd < 0 || card->epfd < 0 || card->tick_fd < 0 ||
	    timerfd_settime(card->tick_fd, 0, &tick, NULL))
		return -errno;
	ret = ep_add(card->epfd, card->sigfd, SRC_SIGNAL);
	if (!ret)
		ret = ep_add(card->epfd, vnet_fd(&card->vnet), SRC_VNET);
	if (!ret)
		ret = ep_add(card->epfd, card->router.rx_fd, SRC_UNDERLAY);
	if (!ret)
		ret = ep_add(card->epfd, card->tick_fd, SRC_TICK);
	if (ret)
		return ret;
	cv_info("eni %s: %s in %s, vni %u, %s on %s, %zu mappings, serving %s", n->id, n->ipv4,
		n->subnet, n->vni, n->encap, n->underlay, card->router.map.n, n->socket);
	return 0;
}

/* One line of counters at exit: what an operator asks first. */
static void card_report(struct vpc_card *card)
{
	const struct vpc_router_stats *s = &card->router.stats;
	char drops[1024] = "";
	size_t off = 0;

	for (int r = 1; r < VPC_DROP__COUNT; r++) {
		uint64_t n = vpc_router_drops(&card->router, (enum vpc_drop)r);

		if (n && off < sizeof(drops))
			off += (size_t)snprintf(drops + off, sizeof(drops) - off, " %s=%llu",
						vpc_drop_name((enum vpc_drop)r),
						(unsigned long long)n);
	}
	cv_info("eni %s: from guest %llu (answered %llu, encapsulated %llu), from underlay "
		"%llu, delivered %llu, undeliverable %llu; drops:%s", card->nic->id,
		(unsigned long long)s->from_guest, (unsigned long long)s->answered,
		(unsigned long long)s->encapsulated, (unsigned long long)s->from_underlay,
		(unsigned long long)s->delivered, (unsigned long long)s->undeliverable,
		off ? drops : " none");
}

static int card_run(struct vpc_card *card)
{
	struct epoll_event evs[8];
	struct signalfd_siginfo si;
	uint64_t ticks;

	for (;;) {
		int n = epoll_wait(card->epfd, evs, 8, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		for (int i = 0; i < n; i++) {
			switch ((enum src)evs[i].data.u32) {
			case SRC_SIGNAL:
				if (read(card->sigfd, &si, sizeof(si)) != sizeof(si))
					break;
				if (si.ssi_signo == SIGUSR1) {
					spot_reload(card);
					break;
				}
				card_report(card);
				return 0;
			case SRC_VNET:
				if (vnet_process(&card->vnet))
					return -EIO;
				break;
			case SRC_UNDERLAY:
				vpc_router_from_underlay(&card->router);
				break;
			case SRC_TICK:
				if (read(card->tick_fd, &ticks, sizeof(ticks)) > 0) {
					struct timespec ts;

					clock_gettime(CLOCK_MONOTONIC, &ts);
					vpc_ct_expire(&card->router.filter.ct,
						      (uint64_t)ts.tv_sec * 1000000000ull +
						      (uint64_t)ts.tv_nsec, CT_EXPIRE_BUDGET);
				}
				break;
			}
		}
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: cv-vpc --instance FILE --nic ENI-ID [--verbose]\n"
		   "Serves ENI-ID of the instance description FILE as a virtio-net device\n"
		   "over vhost-user (docs/vpc.md).\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "instance", required_argument, NULL, 'i' },
		{ "nic", required_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *path = NULL, *eni = NULL;
	static struct vpc_card card = { .epfd = -1, .sigfd = -1, .tick_fd = -1 };
	struct instance_desc d;
	bool verbose = false;
	void *blob = NULL;
	size_t size;
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'i': path = optarg; break;
		case 'n': eni = optarg; break;
		case 'v': verbose = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 1;
		}
	}
	if (!path || !eni || optind != argc) {
		usage(stderr);
		return 1;
	}
	cv_log_init("cv-vpc", verbose);
	signal(SIGPIPE, SIG_IGN);
	if (instance_read_file(path, &blob, &size) || instance_from_fdt(blob, size, &d)) {
		free(blob);
		return 1;
	}
	for (unsigned i = 0; i < d.nr_nics; i++)
		if (!strcmp(d.nics[i].id, eni))
			card.nic = &d.nics[i];
	if (!card.nic) {
		cv_err("instance %s has no NIC %s", d.id, eni);
		free(blob);
		return 1;
	}
	ret = card_init(&card, &d);
	if (!ret)
		ret = card_run(&card);
	else
		cv_err("eni %s: cannot start: %s", eni, strerror(-ret));
	if (card.vnet_up)
		vnet_close(&card.vnet);
	if (card.router_up)
		vpc_router_destroy(&card.router);
	free(blob);
	return ret ? 1 : 0;
}
