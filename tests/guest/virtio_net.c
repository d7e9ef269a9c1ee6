/* SPDX-License-Identifier: Apache-2.0 */
#include "tests/guest/virtio_net.h"

#include "tests/guest/io.h"
#include "tests/guest/lib.h"
#include "tests/guest/tsc.h"
#include "tests/guest/user.h"

#define RXQ VIRTIO_NET_RXQ(0)
#define TXQ VIRTIO_NET_TXQ(0)
#define STATUS_CHECK_MS 10
/* §5.1.6.3.1: without MRG_RXBUF (and no GUEST_TSO/UFO) every receive
 * buffer holds at least 1526 bytes: the header and a 1514-byte frame. */
#define RXBUF_MIN_PLAIN 1526u
#define RXBUF_MIN_MRG   64u
#define MTU_DEFAULT     1500u

/* Features the driver takes when offered: no checksum or segmentation
 * offload, so every frame either way is complete and checksummed. */
#define VNET_FEATURES (VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_ACCESS_PLATFORM) | \
		       VIRTIO_BIT(VIRTIO_NET_F_MAC) | VIRTIO_BIT(VIRTIO_NET_F_STATUS) | \
		       VIRTIO_BIT(VIRTIO_NET_F_MTU))

_Static_assert(sizeof(struct virtio_net_hdr_v1) == VNET_HDR_LEN, "§5.1.6 header");

static uint8_t rx_mem[VIRTQ_GUEST_MAX][VNET_BUF_MAX] __attribute__((aligned(4096)));
static uint8_t tx_mem[VNET_TX_SLOTS][VNET_BUF_MAX] __attribute__((aligned(4096)));
static bool tx_busy[VNET_TX_SLOTS];
/* A merged frame, header first, while its buffers arrive. */
static uint8_t rx_frame[VNET_HDR_LEN + VNET_FRAME_MAX];

static void report_once(bool *said, const char *what, uint32_t a, uint32_t b)
{
	if (*said)
		return;
	*said = true;
	report("cvguest: net virtio %s (%u, %u): dropped\n", what, a, b);
}

static int rx_post(struct vnet *n, unsigned int slot)
{
	struct virtq_buf b = { rx_mem[slot], n->rxbuf_len, true };

	return virtq_add(&n->vd.vq[RXQ], &b, 1, rx_mem[slot]) < 0 ? -EBUSY : 0;
}

/*
 * §5.1.4: mac, then status, then max_virtqueue_pairs and mtu.  A field
 * past the end of the device's structure is not there, whatever the
 * features say.
 */
static void read_net_config(struct vnet *n)
{
	static const uint8_t own[6] = { 0x02, 0x63, 0x76, 0x67, 0x00, 0x01 };
	struct virtio_net_config cfg = { 0 };
	uint32_t have = n->vd.device_cfg_len < sizeof(cfg) ? n->vd.device_cfg_len
							     : (uint32_t)sizeof(cfg);
	uint64_t f = n->vd.features;

	if (!have || virtio_read_config(&n->vd, 0, &cfg, have))
		have = 0;
	if (have < 6)
		f &= ~VIRTIO_BIT(VIRTIO_NET_F_MAC);
	if (have < 8)
		f &= ~VIRTIO_BIT(VIRTIO_NET_F_STATUS);
	if (have < 12)
		f &= ~VIRTIO_BIT(VIRTIO_NET_F_MTU);
	/* Without a MAC from the device, a locally administered one of ours. */
	memcpy(n->mac, f & VIRTIO_BIT(VIRTIO_NET_F_MAC) ? cfg.mac : own, 6);
	n->link_up = !(f & VIRTIO_BIT(VIRTIO_NET_F_STATUS)) || (cfg.status & VIRTIO_NET_S_LINK_UP);
	/* §5.1.4.1: mtu is at least 68; past a buffer it is of no use here. */
	n->mtu = MTU_DEFAULT;
	if ((f & VIRTIO_BIT(VIRTIO_NET_F_MTU)) && cfg.mtu >= 68 && cfg.mtu < MTU_DEFAULT)
		n->mtu = cfg.mtu;
}

static int setup(struct vnet *n)
{
	struct virtio_dev *d = &n->vd;
	uint64_t want = VNET_FEATURES;
	int err;

	if (!n->o.no_mrg)
		want |= VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF);
	err = virtio_pci_find(d, VIRTIO_ID_NET, VIRTIO_NET_PCI_TRANSITIONAL);
	if (err) {
		report("cvguest: net no virtio-net device found\n");
		return err;
	}
	err = virtio_negotiate(d, want);
	if (err)
		return err;
	n->mrg = d->features & VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF);
	n->rxbuf_len = n->o.rxbuf ? n->o.rxbuf : VNET_BUF_MAX;
	if (n->rxbuf_len > VNET_BUF_MAX)
		n->rxbuf_len = VNET_BUF_MAX;
	if (n->rxbuf_len < (n->mrg ? RXBUF_MIN_MRG : RXBUF_MIN_PLAIN))
		n->rxbuf_len = n->mrg ? RXBUF_MIN_MRG : RXBUF_MIN_PLAIN;
	read_net_config(n);

	bool irq = !n->o.poll && virtio_msix_setup(d, 2);
	uint16_t qsize = n->o.qsize ? n->o.qsize : VIRTQ_GUEST_MAX;
	err = virtio_queue_setup(d, RXQ, qsize, irq);
	if (!err)
		err = virtio_queue_setup(d, TXQ, qsize, irq);
	if (err) {
		virtio_fail(d);
		report("cvguest: net virtio queue setup failed (%d)\n", err);
		return err;
	}
	memset(tx_busy, 0, sizeof(tx_busy));
	n->rx_have = n->rx_left = 0;
	for (unsigned int i = 0; i < d->vq[RXQ].size; i++)
		rx_post(n, i);
	virtio_driver_ok(d);
	/* §3.1.1: buffers may be made available before DRIVER_OK; the kick
	 * after it tells a device that looks only on notification. */
	virtq_kick(&d->vq[RXQ]);
	if (virtio_status(d) & (VIRTIO_STATUS_FAILED | VIRTIO_STATUS_DEVICE_NEEDS_RESET)) {
		report("cvguest: net virtio device failed at DRIVER_OK status=0x%x\n",
		       virtio_status(d));
		return -EIO;
	}
	n->next_status_check = tsc_deadline_ms(STATUS_CHECK_MS);
	return 0;
}

static int init_kcall(void *arg)
{
	return setup(arg);
}

int vnet_init(struct vnet *n, const struct vnet_options *o)
{
	int err;

	n->o = *o;
	err = setup(n);
	if (err)
		return err;
	report("cvguest: net virtio 00:%02x.%u 1af4:%04x mac=%02x:%02x:%02x:%02x:%02x:%02x "
	       "mtu=%u link=%s mrg_rxbuf=%u rxbuf=%u qsize=%u/%u mode=%s\n",
	       n->vd.dev, n->vd.fn, n->vd.pci_device, n->mac[0], n->mac[1], n->mac[2],
	       n->mac[3], n->mac[4], n->mac[5], n->mtu, n->link_up ? "up" : "down", n->mrg,
	       n->rxbuf_len, n->vd.vq[RXQ].size, n->vd.vq[TXQ].size,
	       n->vd.irq ? "msix" : "poll");
	return 0;
}

int vnet_restart(struct vnet *n)
{
	int err;

	n->st.resets++;
	err = user_kcall(init_kcall, n);
	if (err)
		report("cvguest: net virtio restart failed (%d)\n", err);
	return err;
}

bool vnet_tx_reclaim(struct vnet *n, const void *watch)
{
	struct virtq *vq = &n->vd.vq[TXQ];
	bool seen = false;
	uint32_t len;
	void *token;

	for (unsigned int i = 0; i < vq->size; i++) {
		int err = virtq_get_used(vq, &len, &token);

		if (err == -EAGAIN)
			break;
		if (err)
			continue;
		if (token == watch)
			seen = true;
		uintptr_t off = (uintptr_t)token - (uintptr_t)tx_mem;
		if (token && off < sizeof(tx_mem))
			tx_busy[off / VNET_BUF_MAX] = false;
	}
	return seen;
}

int vnet_send(struct vnet *n, const void *frame, uint32_t len)
{
	unsigned int slot;

	if (len > VNET_BUF_MAX - VNET_HDR_LEN)
		return -EMSGSIZE;
	vnet_tx_reclaim(n, NULL);
	for (slot = 0; slot < VNET_TX_SLOTS && tx_busy[slot]; slot++)
		;
	if (slot == VNET_TX_SLOTS) {
		n->st.tx_busy++;
		return -EBUSY;
	}
	/* §5.1.6.2: no checksum or GSO requested, so the header is zero. */
	memset(tx_mem[slot], 0, VNET_HDR_LEN);
	memcpy(tx_mem[slot] + VNET_HDR_LEN, frame, len);
	struct virtq_buf b = { tx_mem[slot], VNET_HDR_LEN + len, false };
	if (virtq_add(&n->vd.vq[TXQ], &b, 1, tx_mem[slot]) < 0) {
		n->st.tx_busy++;
		return -EBUSY;
	}
	tx_busy[slot] = true;
	virtq_kick(&n->vd.vq[TXQ]);
	n->st.tx++;
	return 0;
}

/* Appends one used receive buffer to rx_frame; false if it is malformed. */
static bool rx_take(struct vnet *n, const uint8_t *buf, uint32_t used_len)
{
	static bool said_len, said_hdr, said_big;
	bool first = !n->rx_left;

	if (used_len > n->rxbuf_len || (first && used_len < VNET_HDR_LEN)) {
		report_once(&said_len, "used length outside the buffer", used_len,
			    n->rxbuf_len);
		return false;
	}
	if (first) {
		const struct virtio_net_hdr_v1 *h = (const void *)buf;
		/* §5.1.6.4: num_buffers counts this buffer; more than the
		 * queue holds cannot be. */
		uint16_t nb = n->mrg ? h->num_buffers : 1;

		if (!nb || nb > n->vd.vq[VIRTIO_NET_RXQ(0)].size ||
		    h->gso_type != VIRTIO_NET_HDR_GSO_NONE) {
			report_once(&said_hdr, "bad header num_buffers/gso_type", nb,
				    h->gso_type);
			return false;
		}
		n->rx_left = nb;
		n->rx_have = 0;
		n->st.rx_merged += nb > 1;
	}
	if (n->rx_have + used_len > sizeof(rx_frame)) {
		report_once(&said_big, "frame longer than the MTU allows",
			    n->rx_have + used_len, (uint32_t)sizeof(rx_frame));
		return false;
	}
	memcpy(rx_frame + n->rx_have, buf, used_len);
	n->rx_have += used_len;
	n->rx_left--;
	return true;
}

int vnet_recv(struct vnet *n, void *frame, uint32_t size, uint32_t *len)
{
	struct virtq *vq = &n->vd.vq[RXQ];
	int ret = -EAGAIN;
	bool posted = false;

	/* A frame's buffers, each handed straight back to the device. */
	for (unsigned int i = 0; i < vq->size && ret == -EAGAIN; i++) {
		uint32_t used_len;
		void *token;
		int err = virtq_get_used(vq, &used_len, &token);

		if (err == -EAGAIN)
			break;
		if (err) {
			n->st.rx_dropped++;
			continue;
		}
		bool good = rx_take(n, token, used_len);
		rx_post(n, (unsigned int)(((uint8_t *)token - rx_mem[0]) / VNET_BUF_MAX));
		posted = true;
		if (!good) {
			/* Buffers left of this frame read as headers and drop too. */
			n->rx_have = n->rx_left = 0;
			n->st.rx_dropped++;
			continue;
		}
		if (n->rx_left)
			continue;
		uint32_t flen = n->rx_have - VNET_HDR_LEN;
		if (flen > size) {
			n->st.rx_dropped++;
			continue;
		}
		memcpy(frame, rx_frame + VNET_HDR_LEN, flen);
		*len = flen;
		n->st.rx++;
		ret = 0;
	}
	if (posted)
		virtq_kick(vq);
	return ret;
}

int vnet_idle(struct vnet *n)
{
	if (n->vd.irq && !user_cpl())
		cpu_wait_irq();
	else
		cpu_relax();
	if (rdtsc() < n->next_status_check)
		return 0;
	n->next_status_check = tsc_deadline_ms(STATUS_CHECK_MS);
	if (!virtio_needs_reset(&n->vd))
		return 0;
	report("cvguest: net virtio device needs reset status=0x%x: resetting\n",
	       virtio_status(&n->vd));
	int err = vnet_restart(n);
	return err ? err : 1;
}
