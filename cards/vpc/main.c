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
 * Its control socket (<socket>.ctl, tools/lib/card_ctl.h) answers stats
 * and takes live updates of the mapping table from the host's fleet agent:
 * mapping-set, mapping-remove, mapping-prune (docs/vpc.md, "Live updates").
 * SIGTERM/SIGINT stop it, printing the counters.  Exit status 0, or 1 when
 * it cannot start.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "cards/vpc/router.h"
#include "cards/vpc/textfile.h"
#include "cards/vpc/vnet.h"
#include "tools/lib/card_cli.h"
#include "tools/lib/card_ctl.h"
#include "tools/lib/landlock.h"
#include "tools/lib/log.h"
#include "tools/lib/syscall_filter.h"

/* What a 1500-byte underlay carries once VXLAN's 50 bytes are added. */
#define VPC_MTU 1450
#define CT_EXPIRE_BUDGET 4096

enum src { SRC_SIGNAL, SRC_VNET, SRC_UNDERLAY, SRC_TICK, SRC_CTL };

struct vpc_card {
	const struct instance_nic *nic;
	struct vpc_router router;
	struct vnet vnet;
	struct card_ctl ctl;                /* counters by query */
	int epfd, sigfd, tick_fd;
	/*
	 * <socket>.spot, opened (made if need be) at set-up: `cardvisor
	 * interrupt` rewrites it in place, and a jailed card could not open
	 * it by name.
	 */
	int spot_fd;
	/*
	 * The highest "gen" a mapping command carried: 0 at start, so the
	 * fleet agent sees a restarted card and sets the whole table again.
	 */
	uint64_t mapping_gen;
	bool router_up, vnet_up, ctl_up;
	/*
	 * "ADDR:PORT" its underlay socket is bound to: with underlay=ADDR:0
	 * the kernel picked the port, which the fleet's agent publishes
	 * (docs/fleet.md, "The mapping service").
	 */
	char bound[INET_ADDRSTRLEN + 8];
};

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
	return vpc_parse_ipv4(host, &sa->sin_addr.s_addr);
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
	if (!slash || vpc_parse_ipv4(n->ipv4, &e->ipv4))
		return -EINVAL;
	*slash = '\0';
	prefix = strtoul(slash + 1, NULL, 10);
	if (vpc_parse_ipv4(subnet, &e->subnet) || prefix < 16 || prefix > 28)
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
	char buf[64], what[16] = "";
	long long when = 0;
	ssize_t n = pread(card->spot_fd, buf, sizeof(buf) - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	if (sscanf(buf, "%15s %lld", what, &when) != 2)
		what[0] = '\0';
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

/* Chains the driver malformed, by the reason virtq.c dropped them. */
#define CHAIN_DROP_(f) { #f, offsetof(struct virtq_stats, f) }
static const struct { const char *name; size_t off; } chain_drop_kinds[] = {
	CHAIN_DROP_(bad_head), CHAIN_DROP_(bad_desc), CHAIN_DROP_(bad_addr),
	CHAIN_DROP_(loop), CHAIN_DROP_(bad_indirect), CHAIN_DROP_(bad_order),
	CHAIN_DROP_(too_many_segs), CHAIN_DROP_(bad_avail_idx),
};
#undef CHAIN_DROP_
#define CHAIN_DROP_KINDS (sizeof(chain_drop_kinds) / sizeof(chain_drop_kinds[0]))

/* Chains dropped for reason @k, summed over the device's rings. */
static uint64_t chain_drop_count(const struct vu_dev *vu, size_t k)
{
	uint64_t n = 0;

	for (unsigned q = 0; q < VU_MAX_RINGS; q++)
		n += *(const uint64_t *)((const char *)&vu->ring[q].vq.stats +
					 chain_drop_kinds[k].off);
	return n;
}

/* " NAME=N" for each nonzero chain_drop_count(). */
static size_t chain_drops(const struct vu_dev *vu, char *buf, size_t cap)
{
	size_t off = 0;

	for (size_t k = 0; k < CHAIN_DROP_KINDS; k++) {
		uint64_t n = chain_drop_count(vu, k);

		if (n && off < cap)
			off += (size_t)snprintf(buf + off, cap - off, " %s=%llu",
						chain_drop_kinds[k].name, (unsigned long long)n);
	}
	return off;
}

/* Drops by reason: the router's and its filter's, and the virtio-net header's. */
static uint64_t card_drops(const struct vpc_card *card, enum vpc_drop r)
{
	return vpc_router_drops(&card->router, r) + card->vnet.offload.stats.drops[r];
}

/*
 * The counters `cardvisor status` shows (card_ctl.h): what card_report()
 * logs at exit, every reason listed, zero or not, so a reader finds a key.
 */
static void card_stats(void *opaque, struct json_object *o)
{
	struct vpc_card *card = opaque;
	const struct vpc_router_stats *s = &card->router.stats;
	const struct vpc_ct *ct = &card->router.filter.ct;
	const struct vpc_offload_stats *ofl = &card->vnet.offload.stats;
	struct json_object *drops = json_object_new_object(), *vn = json_object_new_object(),
			   *chains = json_object_new_object(), *cto = json_object_new_object();

	json_object_object_add(o, "card", json_object_new_string("cv-vpc"));
	json_object_object_add(o, "eni", json_object_new_string(card->nic->id));
	json_object_object_add(o, "underlay", json_object_new_string(card->bound));
	card_ctl_add_u64(o, "from_guest", s->from_guest);
	card_ctl_add_u64(o, "answered", s->answered);
	card_ctl_add_u64(o, "consumed", s->consumed);
	card_ctl_add_u64(o, "encapsulated", s->encapsulated);
	card_ctl_add_u64(o, "from_underlay", s->from_underlay);
	card_ctl_add_u64(o, "delivered", s->delivered);
	card_ctl_add_u64(o, "undeliverable", s->undeliverable);
	for (int r = 1; r < VPC_DROP__COUNT; r++)
		card_ctl_add_u64(drops, vpc_drop_name((enum vpc_drop)r),
			card_drops(card, (enum vpc_drop)r));
	json_object_object_add(o, "drops", drops);
	card_ctl_add_u64(vn, "tx_bad", card->vnet.stats.tx_bad);
	card_ctl_add_u64(vn, "tx_csum", ofl->csum);
	card_ctl_add_u64(vn, "tx_gso", ofl->gso);
	card_ctl_add_u64(vn, "tx_gso_segments", ofl->segments);
	for (size_t k = 0; k < CHAIN_DROP_KINDS; k++)
		card_ctl_add_u64(chains, chain_drop_kinds[k].name, chain_drop_count(&card->vnet.vu, k));
	json_object_object_add(vn, "chains_dropped", chains);
	json_object_object_add(o, "virtio_net", vn);
	card_ctl_add_u64(cto, "count", ct->count);
	card_ctl_add_u64(cto, "max", ct->max);
	card_ctl_add_u64(cto, "created", ct->stats.created);
	card_ctl_add_u64(cto, "expired", ct->stats.expired);
	card_ctl_add_u64(cto, "evicted", ct->stats.evicted);
	card_ctl_add_u64(cto, "full", ct->stats.full);
	json_object_object_add(o, "conntrack", cto);
	card_ctl_add_u64(o, "mappings", card->router.map.n);
	card_ctl_add_u64(o, "mapping_gen", card->mapping_gen);
}

/*
 * Why a mapping command was refused.  Each kind is logged once (the
 * agent would repeat the same mistake on every resync); the reply says
 * it every time.
 */
enum map_refusal {
	REFUSE_MISSING, REFUSE_TYPE, REFUSE_VNI, REFUSE_IP, REFUSE_UNDERLAY, REFUSE_ENCAP,
	REFUSE_GEN, REFUSE_FULL, REFUSE_NOMEM, REFUSE__COUNT
};

/* Fills @reply with ok:false and the error; returns -EINVAL for the caller to pass on. */
static int __attribute__((format(printf, 4, 5)))
refuse(struct vpc_card *card, struct json_object *reply, enum map_refusal kind,
       const char *fmt, ...)
{
	static bool logged[REFUSE__COUNT];
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	json_object_object_add(reply, "ok", json_object_new_boolean(false));
	json_object_object_add(reply, "error", json_object_new_string(why));
	if (!logged[kind]) {
		logged[kind] = true;
		cv_err("eni %s: control socket: refused: %s (each kind of refusal logged once)",
		       card->nic->id, why);
	}
	return -EINVAL;
}

/*
 * @req's field @name into @f, which must be of JSON @type: 0 (@f NULL if
 * absent and not @required), or -EINVAL with @reply filled.
 */
static int field(struct vpc_card *card, struct json_object *reply, const char *cmd,
		 struct json_object *req, const char *name, json_type type, bool required,
		 struct json_object **f)
{
	if (!json_object_object_get_ex(req, name, f)) {
		*f = NULL;
		return required ? refuse(card, reply, REFUSE_MISSING, "%s: no \"%s\"", cmd, name)
				: 0;
	}
	if (!json_object_is_type(*f, type))
		return refuse(card, reply, REFUSE_TYPE, "%s: \"%s\" is not a%s", cmd, name,
			      type == json_type_int ? "n integer" : " string");
	return 0;
}

/* The (vni, ip) a set or remove names: the card's own VNI only. */
static int map_key(struct vpc_card *card, struct json_object *reply, const char *cmd,
		   struct json_object *req, struct vpc_map_entry *e)
{
	struct json_object *f;
	int64_t vni;

	if (field(card, reply, cmd, req, "vni", json_type_int, true, &f))
		return -EINVAL;
	vni = json_object_get_int64(f);
	if (vni != card->router.vni)
		return refuse(card, reply, REFUSE_VNI, "%s: vni %s is not this card's (vni %u)",
			      cmd, json_object_to_json_string(f), card->router.vni);
	e->vni = card->router.vni;
	if (field(card, reply, cmd, req, "ip", json_type_string, true, &f))
		return -EINVAL;
	if (vpc_parse_ipv4(json_object_get_string(f), &e->ip))
		return refuse(card, reply, REFUSE_IP, "%s: bad ip '%s'", cmd,
			      json_object_get_string(f));
	return 0;
}

/* "gen", an unsigned 64-bit number; 0 when absent and not @required. */
static int map_gen(struct vpc_card *card, struct json_object *reply, const char *cmd,
		   struct json_object *req, bool required, uint64_t *gen)
{
	struct json_object *f;

	*gen = 0;
	if (field(card, reply, cmd, req, "gen", json_type_int, required, &f))
		return -EINVAL;
	if (!f)
		return 0;
	/* json-c holds numbers past INT64_MAX as uint64: get_int64 says INT64_MAX. */
	if (json_object_get_int64(f) < 0)
		return refuse(card, reply, REFUSE_GEN, "%s: gen %s is negative", cmd,
			      json_object_to_json_string(f));
	*gen = json_object_get_uint64(f);
	return 0;
}

static int mapping_set(struct vpc_card *card, struct json_object *req, struct json_object *reply)
{
	static const char cmd[] = "mapping-set";
	struct json_object *under, *encap;
	struct vpc_map_entry e = { 0 };
	char ip[INET_ADDRSTRLEN], uip[INET_ADDRSTRLEN];
	int ret;

	if (map_key(card, reply, cmd, req, &e) ||
	    field(card, reply, cmd, req, "underlay", json_type_string, true, &under) ||
	    field(card, reply, cmd, req, "encap", json_type_string, false, &encap) ||
	    map_gen(card, reply, cmd, req, false, &e.gen))
		return -EINVAL;
	ret = vpc_mapping_parse_underlay(&e, json_object_get_string(under),
					 encap ? json_object_get_string(encap) : NULL);
	if (ret == -EPROTONOSUPPORT)
		return refuse(card, reply, REFUSE_ENCAP,
			      "%s: encapsulation '%s' is not vxlan or geneve", cmd,
			      json_object_get_string(encap));
	if (ret)
		return refuse(card, reply, REFUSE_UNDERLAY, "%s: bad underlay address '%s'", cmd,
			      json_object_get_string(under));
	ret = vpc_mapping_set(&card->router.map, &e);
	if (ret == -E2BIG)
		return refuse(card, reply, REFUSE_FULL, "%s: the table is full (%u mappings)",
			      cmd, VPC_MAPPING_MAX);
	if (ret)
		return refuse(card, reply, REFUSE_NOMEM, "%s: %s", cmd, strerror(-ret));
	inet_ntop(AF_INET, &e.ip, ip, sizeof(ip));
	inet_ntop(AF_INET, &e.underlay_ip, uip, sizeof(uip));
	cv_debug("eni %s: mapping-set vni %u %s -> %s:%u %s, gen %llu", card->nic->id, e.vni,
		 ip, uip, e.port, e.encap == VPC_ENCAP_GENEVE ? "geneve" : "vxlan",
		 (unsigned long long)e.gen);
	if (e.gen > card->mapping_gen)
		card->mapping_gen = e.gen;
	return 0;
}

static int mapping_remove(struct vpc_card *card, struct json_object *req,
			  struct json_object *reply)
{
	static const char cmd[] = "mapping-remove";
	struct vpc_map_entry e = { 0 };
	char ip[INET_ADDRSTRLEN];
	int removed;

	if (map_key(card, reply, cmd, req, &e) || map_gen(card, reply, cmd, req, false, &e.gen))
		return -EINVAL;
	removed = vpc_mapping_remove(&card->router.map, e.vni, e.ip);
	inet_ntop(AF_INET, &e.ip, ip, sizeof(ip));
	cv_debug("eni %s: mapping-remove vni %u %s, gen %llu: %s", card->nic->id, e.vni, ip,
		 (unsigned long long)e.gen, removed ? "removed" : "was not mapped");
	if (e.gen > card->mapping_gen)
		card->mapping_gen = e.gen;
	json_object_object_add(reply, "removed", json_object_new_boolean(removed));
	return 0;
}

static int mapping_prune(struct vpc_card *card, struct json_object *req,
			 struct json_object *reply)
{
	uint64_t gen;
	size_t removed;

	if (map_gen(card, reply, "mapping-prune", req, true, &gen))
		return -EINVAL;
	removed = vpc_mapping_prune(&card->router.map, gen);
	cv_debug("eni %s: mapping-prune below gen %llu: %zu removed, %zu left", card->nic->id,
		 (unsigned long long)gen, removed, card->router.map.n);
	if (gen > card->mapping_gen)
		card->mapping_gen = gen;
	card_ctl_add_u64(reply, "removed", removed);
	return 0;
}

/*
 * The card's own control commands (card_ctl_cmd_fn): live updates of the
 * mapping table.  Served on the datapath's own thread, between frames, so
 * the table needs no lock.  A refused request changes nothing.
 */
static int card_cmd(void *opaque, const char *cmd, struct json_object *req,
		    struct json_object *reply)
{
	static const struct {
		const char *name;
		int (*fn)(struct vpc_card *card, struct json_object *req,
			  struct json_object *reply);
	} cmds[] = {
		{ "mapping-set", mapping_set },
		{ "mapping-remove", mapping_remove },
		{ "mapping-prune", mapping_prune },
	};

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(cmd, cmds[i].name))
			continue;
		/* "ok" goes first, as in every other reply; a refusal sets it false. */
		json_object_object_add(reply, "ok", json_object_new_boolean(true));
		cmds[i].fn(opaque, req, reply);
		return 0;
	}
	return -ENOENT;
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
	char err[256], spot[4200];
	sigset_t sigs;
	int ret;

	if (vpc_encap_parse(n->encap, &encap) || n->vni > VPC_VNI_MAX ||
	    parse_hostport(n->underlay, &underlay) ||
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
	if (getsockname(card->router.rx_fd, (struct sockaddr *)&underlay,
			&(socklen_t){ sizeof(underlay) }))
		return -errno;
	snprintf(card->bound, sizeof(card->bound), "%s:%u", inet_ntoa(underlay.sin_addr),
		 ntohs(underlay.sin_port));
	if (n->mapping && vpc_mapping_load(&card->router.map, n->mapping, err, sizeof(err))) {
		cv_err("eni %s: mapping table %s: %s", n->id, n->mapping, err);
		return -EINVAL;
	}
	if (n->sg && vpc_sg_load(&card->router.filter.sg, n->sg, err, sizeof(err))) {
		cv_err("eni %s: security groups %s: %s", n->id, n->sg, err);
		return -EINVAL;
	}
	snprintf(spot, sizeof(spot), "%s.spot", n->socket);
	card->spot_fd = open(spot, O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (card->spot_fd < 0) {
		ret = -errno;
		cv_err("eni %s: spot notice file %s: %s", n->id, spot, strerror(-ret));
		return ret;
	}
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
	ret = card_ctl_open(&card->ctl, n->socket, card_stats, card_cmd, card);
	if (ret)
		return ret;
	card->ctl_up = true;
	ret = ep_add(card->epfd, card->sigfd, SRC_SIGNAL);
	if (!ret)
		ret = ep_add(card->epfd, card_ctl_fd(&card->ctl), SRC_CTL);
	if (!ret)
		ret = ep_add(card->epfd, vnet_fd(&card->vnet), SRC_VNET);
	if (!ret)
		ret = ep_add(card->epfd, card->router.rx_fd, SRC_UNDERLAY);
	if (!ret)
		ret = ep_add(card->epfd, card->tick_fd, SRC_TICK);
	if (ret)
		return ret;
	cv_info("eni %s: %s in %s, vni %u, %s on %s, %zu mappings, serving %s", n->id, n->ipv4,
		n->subnet, n->vni, n->encap, card->bound, card->router.map.n, n->socket);
	return 0;
}

/*
 * One line of counters at exit: what an operator asks first.  Drops by
 * reason; then what never reached the router (malformed chains and
 * frames, by virtio-net), the connection table's use and the transmit
 * offloads done.
 */
static void card_report(struct vpc_card *card)
{
	const struct vpc_router_stats *s = &card->router.stats;
	const struct vpc_ct *ct = &card->router.filter.ct;
	const struct vpc_offload_stats *ofl = &card->vnet.offload.stats;
	char drops[1024] = "", chains[512] = "";
	size_t off = 0;

	for (int r = 1; r < VPC_DROP__COUNT; r++) {
		uint64_t n = card_drops(card, (enum vpc_drop)r);

		if (n && off < sizeof(drops))
			off += (size_t)snprintf(drops + off, sizeof(drops) - off, " %s=%llu",
						vpc_drop_name((enum vpc_drop)r),
						(unsigned long long)n);
	}
	cv_info("eni %s: from guest %llu (answered %llu, consumed %llu, encapsulated %llu), "
		"from underlay %llu, delivered %llu, undeliverable %llu; drops:%s", card->nic->id,
		(unsigned long long)s->from_guest, (unsigned long long)s->answered,
		(unsigned long long)s->consumed, (unsigned long long)s->encapsulated,
		(unsigned long long)s->from_underlay,
		(unsigned long long)s->delivered, (unsigned long long)s->undeliverable,
		off ? drops : " none");
	cv_info("eni %s: virtio-net tx_bad %llu, chains dropped:%s; conntrack %u/%u, created "
		"%llu, expired %llu, evicted %llu, full %llu; offloads: csum %llu, gso %llu "
		"(%llu segments)", card->nic->id,
		(unsigned long long)card->vnet.stats.tx_bad,
		chain_drops(&card->vnet.vu, chains, sizeof(chains)) ? chains : " none", ct->count,
		ct->max, (unsigned long long)ct->stats.created,
		(unsigned long long)ct->stats.expired, (unsigned long long)ct->stats.evicted,
		(unsigned long long)ct->stats.full, (unsigned long long)ofl->csum,
		(unsigned long long)ofl->gso, (unsigned long long)ofl->segments);
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
			case SRC_CTL:
				card_ctl_process(&card->ctl);
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

/*
 * What cv-vpc does once it serves, beyond every process's base list
 * (tools/lib/syscall_filter.c): nothing.  Its underlay sockets are bound
 * and its spot notice file is open.
 */
static const struct syscall_allow vpc_syscalls[] = {
	{ 0 }
};

int main(int argc, char **argv)
{
	static struct vpc_card card = { .epfd = -1, .sigfd = -1, .tick_fd = -1, .spot_fd = -1 };
	struct card_cli cli;
	int ret = card_cli_start(&cli, argc, argv, "cv-vpc", "nic",
				 "Serves ENI ID of the instance description FILE as a virtio-net\n"
				 "device over vhost-user (docs/vpc.md).");

	if (ret)
		return ret > 0 ? 0 : 1;
	for (unsigned i = 0; i < cli.desc.nr_nics; i++)
		if (!strcmp(cli.desc.nics[i].id, cli.id))
			card.nic = &cli.desc.nics[i];
	if (!card.nic) {
		cv_err("instance %s has no NIC %s", cli.desc.id, cli.id);
		card_cli_free(&cli);
		return 1;
	}
	ret = card_init(&card, &cli.desc);
	/* Its underlay sockets are all the network it needs from here on. */
	if (!ret)
		ret = jail_unshare(&cli.jail, JAIL_OWN_NET) ?: jail_enter(&cli.jail, NULL, 0);
	/* Jailed, it opens no file and makes no TCP connection (UDP is its own). */
	if (!ret && cli.jail.on)
		ret = landlock_restrict(&(struct landlock_policy){ 0 });
	if (!ret)
		ret = syscall_filter_install(cli.seccomp, vpc_syscalls);
	if (!ret)
		ret = card_run(&card);
	else
		cv_err("eni %s: cannot start: %s", cli.id, strerror(-ret));
	if (card.ctl_up)
		card_ctl_close(&card.ctl);
	if (card.vnet_up)
		vnet_close(&card.vnet);
	if (card.router_up)
		vpc_router_destroy(&card.router);
	if (card.spot_fd >= 0)
		close(card.spot_fd);
	card_cli_free(&cli);
	return ret ? 1 : 0;
}
