/* SPDX-License-Identifier: Apache-2.0 */
#include "cards/vpc/vnet.h"

#include <errno.h>
#include <string.h>

#include "cards/vpc/pkt.h"
#include "tools/lib/log.h"

/* Chains served per kick; the rest wait for the next turn of the loop. */
#define TX_BUDGET 256

/* One transmitted chain: header, then the frame, all device-readable. */
static void tx_one(struct vnet *n, const struct virtq_elem *e)
{
	struct virtio_net_hdr_v1 hdr;
	size_t len;

	if (e->in_num || e->out_len < sizeof(hdr) + VNET_FRAME_MIN ||
	    e->out_len > sizeof(hdr) + VNET_FRAME_MAX) {
		n->stats.tx_bad++;
		cv_err_once("vnet %s: TX chain %u has %zu readable and %zu writable bytes",
			    n->vu.path, e->head, e->out_len, e->in_len);
		return;
	}
	virtq_elem_read(e, 0, &hdr, sizeof(hdr));
	len = virtq_elem_read(e, sizeof(hdr), n->frame, e->out_len - sizeof(hdr));
	n->stats.tx_frames++;
	n->stats.tx_bytes += len;
	/* §5.1.6.2: the header's offloads, as the driver negotiated them. */
	n->offload.features = n->vu.acked;
	if (vpc_offload_tx(&n->offload, &hdr, n->frame, len))
		n->stats.tx_bad++;
}

static void tx_queue(struct vnet *n, unsigned q)
{
	unsigned done = 0;
	struct virtq *vq;

	while ((vq = vu_queue(&n->vu, q))) {
		while (done < TX_BUDGET && virtq_pop(vq, &n->tx_elem) == 1) {
			tx_one(n, &n->tx_elem);
			virtq_fill(vq, n->tx_elem.head, 0);
			done++;
		}
		virtq_publish(vq);
		if (done == TX_BUDGET) {
			/* Come back through the event loop so other queues and
			 * the control socket get their turn. */
			vu_queue_rearm(&n->vu, q);
			break;
		}
		if (!virtq_enable_notify(vq))
			break;
	}
	vu_queue_flush(&n->vu, q);
}

static void kick(void *opaque, unsigned q)
{
	/* RX kicks only say buffers were added: frames are never queued
	 * waiting for them (a frame without buffers is dropped). */
	if (q % 2)
		tx_queue(opaque, q);
}

/* A flow's frames stay on one queue: hash IPv4 addresses and ports. */
static uint32_t flow_hash(const uint8_t *f, size_t len)
{
	const struct eth_hdr *eth = (const void *)f;
	const struct ipv4_hdr *ip = (const void *)(f + ETH_HLEN);
	uint32_t h = 0;
	size_t ihl;

	if (len < ETH_HLEN + sizeof(*ip) || eth->type != __builtin_bswap16(ETH_P_IPV4))
		return 0;
	h = ip->saddr ^ ip->daddr ^ ip->proto;
	ihl = (size_t)(ip->ver_ihl & 0xf) * 4;
	if ((ip->proto == IPPROTO_TCP_ || ip->proto == IPPROTO_UDP_) &&
	    !(ip->frag_off & __builtin_bswap16(IPV4_FLAG_MF | IPV4_FRAG_OFF_MASK)) &&
	    ihl >= sizeof(*ip) && len >= ETH_HLEN + ihl + 4) {
		uint32_t ports;

		memcpy(&ports, f + ETH_HLEN + ihl, sizeof(ports));
		h ^= ports;
	}
	return h * 0x9e3779b1u;
}

static int rx_queue_for(struct vnet *n, const uint8_t *f, size_t len)
{
	unsigned live[VNET_MAX_PAIRS], nlive = 0;

	for (unsigned p = 0; p < n->pairs; p++)
		if (vu_queue(&n->vu, VIRTIO_NET_RXQ(p)))
			live[nlive++] = VIRTIO_NET_RXQ(p);
	if (!nlive)
		return -ENOTCONN;
	return (int)live[(flow_hash(f, len) >> 16) % nlive];
}

struct rx_used {
	uint16_t head;
	uint32_t len;
};

int vnet_rx(struct vnet *n, const uint8_t *frame, size_t len)
{
	const size_t hlen = sizeof(struct virtio_net_hdr_v1);
	bool mrg = vu_has_feature(&n->vu, VIRTIO_NET_F_MRG_RXBUF);
	struct rx_used used[VNET_RX_MAX_BUFS];
	uint16_t bad[VNET_RX_MAX_BUFS], popped = 0;
	unsigned nused = 0, nbad = 0;
	size_t off = 0; /* frame bytes placed */
	/* §5.1.6.4: no checksum or GSO flags: no GUEST_ offload is offered. */
	struct virtio_net_hdr_v1 hdr = { .gso_type = VIRTIO_NET_HDR_GSO_NONE };
	struct virtq *vq;
	int q, r = 0;

	if (len > VNET_FRAME_MAX) {
		n->stats.rx_too_big++;
		return -EMSGSIZE;
	}
	q = rx_queue_for(n, frame, len);
	if (q < 0) {
		n->stats.rx_no_queue++;
		return q;
	}
	vq = vu_queue(&n->vu, (unsigned)q);
	while (nused == 0 || off < len) {
		struct virtq_elem *e = nused ? &n->rx_elem : &n->rx_first;
		size_t skip = nused ? 0 : hlen, chunk;

		if (nused == VNET_RX_MAX_BUFS || nbad == VNET_RX_MAX_BUFS ||
		    (nused && !mrg)) {
			n->stats.rx_too_big++;
			r = -EMSGSIZE;
			break;
		}
		if (virtq_pop(vq, e) != 1) {
			n->stats.rx_no_buffer++;
			r = -ENOBUFS;
			break;
		}
		popped++;
		/* §5.1.6.3.1: RX buffers are device-writable and hold at
		 * least the header. */
		if (e->out_num || e->in_len < hlen) {
			bad[nbad++] = e->head;
			continue;
		}
		chunk = e->in_len - skip < len - off ? e->in_len - skip : len - off;
		virtq_elem_write(e, skip, frame + off, chunk);
		used[nused++] = (struct rx_used){ .head = e->head, .len = (uint32_t)(skip + chunk) };
		off += chunk;
	}
	/* Nothing was used: the buffers wait for a smaller frame, unless a
	 * malformed chain among them keeps the ring from rewinding. */
	if (r && virtq_unpop(vq, popped) == 0)
		return r;
	if (!r) {
		hdr.num_buffers = (uint16_t)nused;
		virtq_elem_write(&n->rx_first, 0, &hdr, hlen);
	}
	/* Bad buffers go back first, empty, so the frame's buffers stay
	 * consecutive in the used ring as MRG_RXBUF needs (§5.1.6.4). */
	for (unsigned i = 0; i < nbad; i++)
		virtq_fill(vq, bad[i], 0);
	for (unsigned i = 0; i < nused; i++)
		virtq_fill(vq, used[i].head, r ? 0 : used[i].len);
	vu_queue_flush(&n->vu, (unsigned)q);
	if (nbad) {
		n->stats.rx_bad_buffer += nbad;
		cv_err_once("vnet %s: RX queue %d holds buffers that are readable or shorter than the header",
			    n->vu.path, q);
	}
	if (r)
		return r;
	n->stats.rx_frames++;
	n->stats.rx_bytes += len;
	return 0;
}

int vnet_open(struct vnet *n, const struct vnet_config *cfg)
{
	static const struct vu_ops ops = { .kick = kick };
	struct vu_config vc = {
		.features = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) |
			    VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) |
			    VIRTIO_BIT(VIRTIO_NET_F_CSUM) | VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4) |
			    VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO6),
		.rings = 2 * cfg->pairs,
		.queue_num = cfg->pairs,
	};

	if (!cfg->pairs || cfg->pairs > VNET_MAX_PAIRS || !cfg->tx)
		return -EINVAL;
	if (cfg->pairs > 1) {
		vc.features |= VIRTIO_BIT(VIRTIO_NET_F_MQ);
		vc.protocol_features |= VIRTIO_BIT(VHOST_USER_PROTOCOL_F_MQ);
	}
	memset(&n->stats, 0, sizeof(n->stats));
	n->pairs = cfg->pairs;
	n->offload = (struct vpc_offload){ .emit = cfg->tx, .opaque = cfg->opaque,
					   .name = n->vu.path };
	return vu_listen(&n->vu, cfg->path, &vc, &ops, n);
}

void vnet_close(struct vnet *n)
{
	vu_close(&n->vu);
}

int vnet_fd(const struct vnet *n)
{
	return vu_fd(&n->vu);
}

int vnet_process(struct vnet *n)
{
	return vu_process(&n->vu);
}
