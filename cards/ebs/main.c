// SPDX-License-Identifier: Apache-2.0
/*
 * cv-ebs: one EBS volume, carried through QoS and AES-256-XTS to
 * cv-storaged over NVMe/TCP, one TCP connection per queue (design.md,
 * "Storage model"; docs/ebs.md).  The guest sees it through one of two
 * faces, as the volume node's `face` property says:
 *   nvme (default)  an NVMe PCI function served to cv-hv over vfio-user
 *   vhost-user-blk  a virtio-blk device served over vhost-user, for QEMU
 *                   or Cloud Hypervisor (cards/ebs/vblk.h)
 *
 *   cv-ebs --instance FILE --volume ID [--verbose]
 *
 * Exit status: 0 after SIGTERM/SIGINT, 1 when it cannot start.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "cards/ebs/datapath.h"
#include "cards/ebs/nvme_ctrl.h"
#include "cards/ebs/nvme_pci.h"
#include "cards/ebs/nvmf_host.h"
#include "cards/ebs/vblk.h"
#include "cards/ebs/vfio_server.h"
#include "tools/lib/card_cli.h"
#include "tools/lib/card_ctl.h"
#include "tools/lib/heap.h"
#include "tools/lib/host_epoch.h"
#include "tools/lib/landlock.h"
#include "tools/lib/log.h"
#include "tools/lib/syscall_filter.h"

/* Commands in flight per NVMe/TCP queue, and the NVMe queues we allow. */
#define EBS_TCP_QUEUE_SIZE 127  /* cv-storaged queues hold 128: one stays empty */
#define EBS_MQES 1023
#define EBS_MDTS_MAX 8            /* 2^8 * 4 KiB = 1 MiB */

enum ebs_src { SRC_SIGNAL, SRC_VFIO, SRC_NVMF_ADMIN, SRC_NVMF_QUEUE, SRC_QOS,
	       SRC_IRQ_HOLD, SRC_DOORBELL, SRC_VHOST, SRC_CTL };

struct ebs_card {
	const char *instance_id;            /* with the volume id, names our host */
	const struct instance_volume *vol;
	struct nvmf_ctrl *nvmf;
	struct ebs_datapath *dp;
	struct vblk *vblk;                  /* the vhost-user-blk face, or NULL */
	/* The NVMe face. */
	struct nvme_ctrl *ctrl;
	struct vfio_server *srv;
	struct pci_config cfg;
	struct nvme_pci_layout layout;
	struct card_ctl ctl;                /* counters by query */
	int epfd, sigfd, hold_fd;
	bool hold_armed, ctl_up;
	bool restarted;                     /* --restarted: the guest's controller died */
	struct vfio_server_ioeventfd *dbs;  /* one eventfd per I/O doorbell */
	unsigned nr_dbs;
	unsigned db_first;                  /* doorbell index of dbs[0] */
};

/* "host:port", the port after the last colon (so "[::1]:4420" works). */
static int split_target(const char *target, char *host, size_t len, const char **port)
{
	const char *colon = strrchr(target, ':');
	size_t n;

	if (!colon || colon == target || !colon[1])
		return -EINVAL;
	n = (size_t)(colon - target);
	if (target[0] == '[' && colon[-1] == ']') {
		target++;
		n -= 2;
	}
	if (n >= len)
		return -EINVAL;
	memcpy(host, target, n);
	host[n] = '\0';
	*port = colon + 1;
	return 0;
}

/* The numeric port of "host:port" (cardvisor writes it so); 0 if it is not one. */
static uint16_t target_port(const char *target)
{
	const char *port;
	char host[256], *end;
	unsigned long p;

	if (split_target(target, host, sizeof(host), &port))
		return 0;
	p = strtoul(port, &end, 10);
	return *end || !p || p > 65535 ? 0 : (uint16_t)p;
}

static int nvmf_connect(struct ebs_card *card)
{
	const struct instance_volume *v = card->vol;
	char host[256], hostnqn[NVMF_NQN_MAX + 1];
	struct nvmf_opts o = {
		.subnqn = v->subnqn, .hostnqn = hostnqn, .nr_io_queues = v->queues,
		.queue_size = EBS_TCP_QUEUE_SIZE, .hdgst = true, .ddgst = true,
		.kato_ms = 10000, .connect_timeout_ms = 5000,
		.reconnect_timeout_ms = v->hold_ms ? (unsigned)v->hold_ms : 30000,
		.busy_wait_ms = 5000,
	};
	unsigned char md[SHA256_DIGEST_LENGTH];
	struct nvme_tls_key psk;
	uint8_t *u = o.hostid;
	char *name;
	int n;

	if (split_target(v->target, host, sizeof(host), &o.port)) {
		cv_err("volume %s: target \"%s\" is not host:port", v->id, v->target);
		return -EINVAL;
	}
	o.addr = host;
	/*
	 * The host this card is to cv-storaged (Base 2.0, "Host Identifier"):
	 * one per instance and volume, and the same after a restart, so a new
	 * card process takes over its own volume where another host would be
	 * refused (docs/storaged.md, "Attachment").  A name-based version 8
	 * UUID (RFC 9562, 5.8 and B.2): the first 16 bytes of SHA-256 of the
	 * name, with the version and variant bits set.
	 */
	n = asprintf(&name, "cardvisor-ebs-host:%s/%s", card->instance_id, v->id);
	if (n < 0)
		return -ENOMEM;
	SHA256((const unsigned char *)name, (size_t)n, md);
	free(name);
	memcpy(o.hostid, md, sizeof(o.hostid));
	u[6] = (u[6] & 0x0f) | 0x80;
	u[8] = (u[8] & 0x3f) | 0x80;
	/* Its NQN is the UUID's (Base 2.0, "NVMe Qualified Names"). */
	snprintf(hostnqn, sizeof(hostnqn),
		 "nqn.2014-08.org.nvmexpress:uuid:%02x%02x%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2], u[3], u[4], u[5],
		 u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
	/* The attachment's epoch, which cv-storaged fences older ones by (docs/storaged.md). */
	n = host_epoch_nqn(hostnqn, sizeof(hostnqn), strdupa(hostnqn), v->epoch);
	if (n)
		return n;
	/* TLS with the volume's PSK (docs/storaged.md, "TLS"): cv-storaged knows the same key. */
	if (v->tls_psk_file) {
		n = nvme_tls_key_load(v->tls_psk_file, &psk);
		if (n)
			return n;
		o.tls_key = &psk;
	}
	n = nvmf_ctrl_connect(&o, &card->nvmf);
	explicit_bzero(&psk, sizeof(psk));
	return n;
}

/* vfio-user regions: config space is ours; BAR0 holds registers and doorbells. */
static int region_access(void *opaque, unsigned region, uint64_t offset, void *data,
			 uint32_t len, bool is_write)
{
	struct ebs_card *card = opaque;

	if (region == VFIO_PCI_CONFIG_REGION_INDEX) {
		uint8_t *p = data;

		/* Split into accesses that stay inside one dword, as the bus makes them. */
		while (len) {
			uint32_t n = 4 - (offset & 3), v = 0;

			if (n > len)
				n = len;
			if (n == 3)
				n = 2;
			if (is_write) {
				memcpy(&v, p, n);
				pci_config_write(&card->cfg, (uint32_t)offset, n, v);
			} else {
				pci_config_read(&card->cfg, (uint32_t)offset, n, &v);
				memcpy(p, &v, n);
			}
			p += n;
			offset += n;
			len -= n;
		}
		return 0;
	}
	if (region != VFIO_PCI_BAR0_REGION_INDEX)
		return -EINVAL;
	if (offset + len <= card->layout.regs_size) {
		nvme_ctrl_mmio(card->ctrl, offset, data, len, is_write);
		return 0;
	}
	/* The MSI-X table and PBA are cv-hv's; anything else reads as zero. */
	if (!is_write)
		memset(data, 0, len);
	return 0;
}

static void card_reset(void *opaque)
{
	struct ebs_card *card = opaque;
	uint32_t cc = 0;

	/* The client is gone or reset the function: stop DMA as CC.EN = 0 does. */
	nvme_ctrl_mmio(card->ctrl, NVME_REG_CC, &cc, sizeof(cc), true);
}

/*
 * The I/O doorbells become KVM ioeventfds (values lost) only while the
 * controller can read their values from the shadow doorbells.  Before
 * Doorbell Buffer Config, and after each reset until the next one, their
 * writes come over the socket: Linux 6.1 resubmits I/O after a controller
 * reset before it sends Doorbell Buffer Config again, and waits for that
 * I/O to complete first.
 */
static bool ioeventfds_ready(void *opaque, unsigned region)
{
	const struct ebs_card *card = opaque;

	return region != VFIO_PCI_BAR0_REGION_INDEX || nvme_ctrl_doorbells_shadowed(card->ctrl);
}

static const struct vfio_server_ops server_ops = {
	.region_access = region_access,
	.reset = card_reset,
	.ioeventfds_ready = ioeventfds_ready,
};

static void *dma_ptr(void *opaque, uint64_t gpa, uint64_t len)
{
	struct ebs_card *card = opaque;

	return vfio_server_dma_ptr(card->srv, gpa, len);
}

static void raise_irq(void *opaque, unsigned vector)
{
	struct ebs_card *card = opaque;
	int ret = vfio_server_irq(card->srv, vector);

	if (ret)
		cv_err_once("volume %s: cannot signal MSI-X vector %u: %s", card->vol->id,
			    vector, strerror(-ret));
}

_Static_assert(EBS_LBA_SIZE == 1u << NVME_CTRL_LBA_SHIFT,
	       "the controller's LBA is the datapath's block");

/* An NVMe command on its way through the face-neutral datapath. */
struct nvme_face_io {
	struct ebs_io io;
	struct nvme_io *nio;
	struct ebs_card *card;
};

static void nvme_io_done(struct ebs_io *io, uint16_t status)
{
	struct nvme_face_io *f = (struct nvme_face_io *)((char *)io -
							  offsetof(struct nvme_face_io, io));

	nvme_ctrl_io_complete(f->card->ctrl, f->nio, status);
	free(f);
}

static int io_submit(void *opaque, struct nvme_io *nio)
{
	struct ebs_card *card = opaque;
	struct nvme_face_io *f = malloc(sizeof(*f));
	int ret;

	if (!f)
		return -ENOMEM;
	/* NVMe I/O queue y is NVMe/TCP queue y. */
	*f = (struct nvme_face_io){
		.io = { .queue = nio->sqid, .opcode = nio->opcode, .fua = nio->fua,
			.slba = nio->slba, .nlb = nio->nlb, .iov = nio->iov,
			.iovcnt = nio->iovcnt, .ranges = nio->ranges,
			.nr_ranges = nio->nr_ranges, .done = nvme_io_done },
		.nio = nio, .card = card,
	};
	ret = ebs_datapath_submit(card->dp, &f->io);
	if (ret)
		free(f);
	return ret;
}

static int ioq_create(void *opaque, uint16_t qid)
{
	return ebs_datapath_ioq_create(((struct ebs_card *)opaque)->dp, qid);
}

static const struct nvme_ctrl_ops ctrl_ops = {
	.dma_ptr = dma_ptr,
	.io_submit = io_submit,
	.irq = raise_irq,
	.ioq_create = ioq_create,
};

static int ep_add(int epfd, int fd, enum ebs_src src, uint32_t idx)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)src << 32 | idx };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

/* One eventfd per I/O queue doorbell, each a KVM ioeventfd in cv-hv. */
static int doorbells_init(struct ebs_card *card)
{
	uint64_t off, len;

	nvme_ctrl_ioeventfd_range(card->ctrl, &off, &len);
	card->nr_dbs = (unsigned)(len / 4);
	card->db_first = (unsigned)((off - NVME_REG_DBS) / 4);
	card->dbs = calloc(card->nr_dbs, sizeof(*card->dbs));
	if (!card->dbs)
		return -ENOMEM;
	for (unsigned i = 0; i < card->nr_dbs; i++) {
		struct vfio_server_ioeventfd *db = &card->dbs[i];

		*db = (struct vfio_server_ioeventfd){ .region = VFIO_PCI_BAR0_REGION_INDEX,
						      .offset = off + 4ull * i, .size = 4 };
		db->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (db->fd < 0 || ep_add(card->epfd, db->fd, SRC_DOORBELL, i))
			return -errno;
	}
	return 0;
}

/* The NVMe face: a controller on a PCI function cv-hv reaches over vfio-user. */
static int nvme_face_init(struct ebs_card *card, const char *serial)
{
	const struct instance_volume *v = card->vol;
	const struct nvmf_ctrl_info *in = nvmf_ctrl_info(card->nvmf);
	struct nvme_ctrl_params p = { .firmware = "cv1", .mqes = EBS_MQES };
	struct vfio_server_config sc = { .name = v->id, .ops = &server_ops, .opaque = card };
	int ret;

	snprintf(p.volume_id, sizeof(p.volume_id), "%s", serial);
	p.nsze = in->nsze;
	p.max_ioqs = (uint16_t)in->nr_io_queues;
	p.nr_vectors = p.max_ioqs + 1;
	/* No guest command larger than one NVMe/TCP command can carry. */
	for (p.mdts = EBS_MDTS_MAX; p.mdts > 1 && (4096u << p.mdts) > in->max_xfer; p.mdts--)
		;
	ret = nvme_ctrl_create(&card->ctrl, &p, &ctrl_ops, card);
	if (ret)
		return ret;
	if (card->restarted)
		nvme_ctrl_state_lost(card->ctrl);
	nvme_pci_layout(p.max_ioqs, p.nr_vectors, &card->layout);
	ret = nvme_pci_config_init(&card->cfg, &card->layout);
	if (ret)
		return ret;
	card->hold_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (card->hold_fd < 0)
		return -errno;
	ret = doorbells_init(card);
	if (ret)
		return ret;
	sc.region_size[VFIO_PCI_CONFIG_REGION_INDEX] = 4096;
	sc.region_size[VFIO_PCI_BAR0_REGION_INDEX] = card->layout.bar0_size;
	sc.ioeventfds = card->dbs;
	sc.nr_ioeventfds = card->nr_dbs;
	sc.msix_vectors = p.nr_vectors;
	ret = vfio_server_create(&card->srv, v->socket, &sc);
	if (!ret)
		ret = ep_add(card->epfd, vfio_server_fd(card->srv), SRC_VFIO, 0);
	if (!ret)
		ret = ep_add(card->epfd, card->hold_fd, SRC_IRQ_HOLD, 0);
	return ret;
}

/* The vhost-user-blk face: virtqueue i on NVMe/TCP queue i + 1. */
static int vblk_face_init(struct ebs_card *card, const char *serial)
{
	const struct nvmf_ctrl_info *in = nvmf_ctrl_info(card->nvmf);
	struct vblk_config vc = { .path = card->vol->socket, .serial = serial,
				  .blocks = in->nsze, .queues = in->nr_io_queues,
				  .max_xfer = in->max_xfer, .dp = card->dp };
	int ret = vblk_open(&card->vblk, &vc);

	if (ret) {
		cv_err("volume %s: cannot serve vhost-user-blk on %s (%u queues, at most %u): %s",
		       card->vol->id, card->vol->socket, in->nr_io_queues, VBLK_MAX_QUEUES,
		       strerror(-ret));
		return ret;
	}
	return ep_add(card->epfd, vblk_fd(card->vblk), SRC_VHOST, 0);
}

/*
 * The counters `cardvisor status` shows (card_ctl.h): the I/O the volume
 * took and how it ended, QoS waits, the storage association's state and
 * reconnects, and on the virtio-blk face the requests it refused.
 */
static void card_stats(void *opaque, struct json_object *o)
{
	struct ebs_card *card = opaque;
	struct ebs_datapath_stats ds;
	struct json_object *nvmf = json_object_new_object();

	ebs_datapath_stats(card->dp, &ds);
	json_object_object_add(o, "card", json_object_new_string("cv-ebs"));
	json_object_object_add(o, "volume", json_object_new_string(card->vol->id));
	json_object_object_add(o, "face", json_object_new_string(card->vblk ? "vhost-user-blk"
									     : "nvme"));
	card_ctl_add_u64(o, "submitted", ds.submitted);
	card_ctl_add_u64(o, "completed", ds.completed);
	card_ctl_add_u64(o, "errors", ds.errors);
	card_ctl_add_u64(o, "qos_waits", ds.qos_waits);
	json_object_object_add(nvmf, "live", json_object_new_boolean(nvmf_ctrl_live(card->nvmf)));
	card_ctl_add_u64(nvmf, "reconnects", nvmf_ctrl_info(card->nvmf)->reconnects);
	json_object_object_add(o, "nvmf", nvmf);
	if (card->vblk) {
		struct json_object *vb = json_object_new_object();
		struct vblk_stats vs;

		vblk_stats(card->vblk, &vs);
		card_ctl_add_u64(vb, "requests", vs.requests);
		card_ctl_add_u64(vb, "ioerr", vs.ioerr);
		card_ctl_add_u64(vb, "unsupp", vs.unsupp);
		card_ctl_add_u64(vb, "dropped", vs.dropped);
		card_ctl_add_u64(vb, "released", vs.released);
		json_object_object_add(o, "virtio_blk", vb);
	}
}

static int card_init(struct ebs_card *card, const char *volume_id, bool vblk_face)
{
	const struct instance_volume *v = card->vol;
	const struct nvmf_ctrl_info *in;
	struct qos_limits lim = { .iops = v->iops, .iops_burst = v->iops_burst,
				  .bps = v->bps, .bps_burst = v->bps_burst };
	char serial[NVME_CTRL_VOLID_LEN + 1] = "";
	uint8_t key[XTS_KEY_LEN];
	sigset_t sigs;
	int ret;

	ret = xts_key_file_read(v->key_file, key);
	if (ret)
		return ret;
	ret = nvmf_connect(card);
	if (!ret)
		ret = ebs_datapath_create(&card->dp, card->nvmf, key, &lim);
	explicit_bzero(key, sizeof(key));
	if (ret)
		return ret;
	in = nvmf_ctrl_info(card->nvmf);
	/* The serial number is the id without its dash, as EBS's NVMe volumes
	 * show it; the virtio-blk face answers GET_ID with the same. */
	for (size_t i = 0, n = 0; volume_id[i] && n < NVME_CTRL_VOLID_LEN; i++)
		if (volume_id[i] != '-')
			serial[n++] = volume_id[i];

	card->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (card->epfd < 0)
		return -errno;
	ret = vblk_face ? vblk_face_init(card, serial) : nvme_face_init(card, serial);
	if (ret)
		return ret;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	card->sigfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	if (card->sigfd < 0)
		return -errno;
	ret = card_ctl_open(&card->ctl, v->socket, card_stats, NULL, card);
	if (ret)
		return ret;
	card->ctl_up = true;
	ret = ep_add(card->epfd, card->sigfd, SRC_SIGNAL, 0);
	if (!ret)
		ret = ep_add(card->epfd, card_ctl_fd(&card->ctl), SRC_CTL, 0);
	if (!ret)
		ret = ep_add(card->epfd, nvmf_ctrl_fd(card->nvmf), SRC_NVMF_ADMIN, 0);
	for (unsigned i = 0; !ret && i < in->nr_io_queues; i++)
		ret = ep_add(card->epfd, nvmf_queue_fd(nvmf_ctrl_queue(card->nvmf, i)),
			     SRC_NVMF_QUEUE, i);
	if (!ret)
		ret = ep_add(card->epfd, ebs_datapath_timer_fd(card->dp), SRC_QOS, 0);
	if (ret)
		return ret;
	cv_info("volume %s: %llu blocks of 4 KiB on %s (%s), %u queues, serving %s on %s",
		v->id, (unsigned long long)in->nsze, v->target, v->subnqn, in->nr_io_queues,
		vblk_face ? "vhost-user-blk" : "NVMe", v->socket);
	return 0;
}

static void card_destroy(struct ebs_card *card)
{
	if (card->ctl_up)
		card_ctl_close(&card->ctl);
	vblk_close(card->vblk);
	vfio_server_destroy(card->srv);
	for (unsigned i = 0; card->dbs && i < card->nr_dbs; i++)
		if (card->dbs[i].fd > 0)
			close(card->dbs[i].fd);
	free(card->dbs);
	ebs_datapath_destroy(card->dp);
	nvme_ctrl_destroy(card->ctrl);
	nvmf_ctrl_free(card->nvmf);
}

/* Interrupt coalescing: completions held back get their interrupt in time. */
static void hold_timer_update(struct ebs_card *card)
{
	uint32_t us = nvme_ctrl_irq_hold_us(card->ctrl);
	struct itimerspec its = { .it_value = { .tv_sec = us / 1000000,
						 .tv_nsec = (long)(us % 1000000) * 1000 } };

	if (!us || card->hold_armed)
		return;
	if (!timerfd_settime(card->hold_fd, 0, &its, NULL))
		card->hold_armed = true;
}

static int card_run(struct ebs_card *card)
{
	struct epoll_event evs[32];
	uint64_t cnt;

	for (;;) {
		int n = epoll_wait(card->epfd, evs, 32, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		for (int i = 0; i < n; i++) {
			uint32_t idx = (uint32_t)evs[i].data.u64;

			switch ((enum ebs_src)(evs[i].data.u64 >> 32)) {
			case SRC_SIGNAL:
				cv_info("volume %s: stopping", card->vol->id);
				return 0;
			case SRC_VFIO:
				if (vfio_server_process(card->srv))
					return -EIO;
				break;
			case SRC_NVMF_ADMIN:
				nvmf_ctrl_process(card->nvmf);
				break;
			case SRC_NVMF_QUEUE:
				nvmf_queue_process(nvmf_ctrl_queue(card->nvmf, idx));
				break;
			case SRC_QOS:
				ebs_datapath_timer(card->dp);
				break;
			case SRC_IRQ_HOLD:
				if (read(card->hold_fd, &cnt, sizeof(cnt)) > 0) {
					card->hold_armed = false;
					nvme_ctrl_irq_flush(card->ctrl);
				}
				break;
			case SRC_DOORBELL:
				if (read(card->dbs[idx].fd, &cnt, sizeof(cnt)) > 0)
					nvme_ctrl_doorbell_kick(card->ctrl, card->db_first + idx);
				break;
			case SRC_VHOST:
				if (vblk_process(card->vblk))
					return -EIO;
				break;
			case SRC_CTL:
				card_ctl_process(&card->ctl);
				break;
			}
		}
		ebs_datapath_flush(card->dp);
		if (card->vblk)
			vblk_flush(card->vblk);
		else
			hold_timer_update(card);
	}
}

/*
 * What cv-ebs does once it serves, beyond every process's base list
 * (tools/lib/syscall_filter.c): the rest was done by card_init.
 */
static const struct syscall_allow ebs_syscalls[] = {
	/* A reconnect to the storage node (nvmf_host.c): TCP over IPv4 or IPv6. */
	SYSCALL_ALLOW_IF(socket, 0, 0xffffffff, AF_INET),
	SYSCALL_ALLOW_IF(socket, 0, 0xffffffff, AF_INET6),
	SYSCALL_ALLOW(connect),
	/* Queues and timers of an association, doorbells of a vfio-user client. */
	SYSCALL_ALLOW(epoll_create1), SYSCALL_ALLOW(timerfd_create), SYSCALL_ALLOW(eventfd2),
	/* vhost-user-blk GET_INFLIGHT_FD: a sealed memfd for the front-end's inflight log. */
	SYSCALL_ALLOW(memfd_create), SYSCALL_ALLOW(ftruncate),
	{ 0 }
};

int main(int argc, char **argv)
{
	struct ebs_card card = { .epfd = -1, .sigfd = -1, .hold_fd = -1 };
	struct card_cli cli;
	int ret = card_cli_start(&cli, argc, argv, "cv-ebs", "volume",
				 "Serves volume ID of the instance description FILE as an NVMe PCI\n"
				 "function over vfio-user, or as a virtio-blk device over vhost-user\n"
				 "when the volume's face is vhost-user-blk (docs/ebs.md).");
	const char *face;

	if (ret)
		return ret > 0 ? 0 : 1;
	heap_keep_io_buffers();
	for (unsigned i = 0; i < cli.desc.nr_volumes; i++)
		if (!strcmp(cli.desc.volumes[i].id, cli.id))
			card.vol = &cli.desc.volumes[i];
	card.instance_id = cli.desc.id;
	if (!card.vol) {
		cv_err("instance %s has no volume %s", cli.desc.id, cli.id);
		card_cli_free(&cli);
		return 1;
	}
	face = card.vol->face ? card.vol->face : "nvme";
	if (strcmp(face, "nvme") && strcmp(face, "vhost-user-blk")) {
		cv_err("volume %s: face \"%s\" is neither nvme nor vhost-user-blk", cli.id, face);
		card_cli_free(&cli);
		return 1;
	}
	card.restarted = cli.restarted;
	ret = card_init(&card, cli.id, !strcmp(face, "vhost-user-blk"));
	/* The host's network: the card reconnects to its storage node. */
	if (!ret)
		ret = jail_unshare(&cli.jail, 0) ?: jail_enter(&cli.jail, NULL, 0);
	/* Jailed, it connects to its storage node's port and opens no file. */
	if (!ret && cli.jail.on)
		ret = landlock_restrict(&(struct landlock_policy){
			.tcp_connect_port = target_port(card.vol->target) });
	if (!ret)
		ret = syscall_filter_install(cli.seccomp, ebs_syscalls);
	if (!ret)
		ret = card_run(&card);
	else
		cv_err("volume %s: cannot start: %s", cli.id, strerror(-ret));
	card_destroy(&card);
	card_cli_free(&cli);
	return ret ? 1 : 0;
}
