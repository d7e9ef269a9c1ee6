/* SPDX-License-Identifier: Apache-2.0 */
#include "tests/guest/virtio_blk.h"

#include "guest-abi/virtio_blk.h"
#include "tests/guest/lib.h"
#include "tests/guest/serial.h"
#include "tests/guest/tsc.h"
#include "tests/guest/virtio.h"

/* PCI device IDs (§4.1.2.1): modern 0x1040 + 2, transitional 0x1001. */
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_BLK_PCI_TRANSITIONAL 0x1001

#define BLOCK 4096u
#define SECTORS_PER_BLOCK (BLOCK / VIRTIO_BLK_SECTOR_SIZE)
/* Requests in flight at once: three descriptors each. */
#define BATCH 16u
#define TIMEOUT_MS 10000u

#define VBLK_FEATURES (VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) | \
		       VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) | VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) |   \
		       VIRTIO_BIT(VIRTIO_BLK_F_SIZE_MAX))

struct vblk_req {
	struct virtio_blk_outhdr hdr;
	uint8_t status;
	bool done;
};

static struct virtio_dev dev;
static struct vblk_req reqs[BATCH];
static uint8_t data[BATCH][BLOCK] __attribute__((aligned(4096)));
static uint8_t want[BLOCK] __attribute__((aligned(4096)));
static uint8_t id[VIRTIO_BLK_ID_BYTES + 1];

bool vblk_requested(const char *cmdline)
{
	return cmdline_has_word(cmdline, "vblk");
}

/* Block @lba's contents: every 8 bytes its LBA and position, and a seed. */
static void stamp(uint8_t *b, uint64_t lba)
{
	uint64_t *w = (uint64_t *)b;

	for (unsigned i = 0; i < BLOCK / 8; i++)
		w[i] = lba << 32 | i << 8 | 0xc5;
}

/* Publish request @slot: header, then data (unless @len is 0), then the status byte. */
static int submit(struct virtq *vq, unsigned slot, uint32_t type, uint64_t sector, void *buf,
		  uint32_t len)
{
	struct vblk_req *r = &reqs[slot];
	struct virtq_buf b[3];
	unsigned n = 0;

	r->hdr = (struct virtio_blk_outhdr){ .type = type, .sector = sector };
	r->status = 0xff;
	r->done = false;
	b[n++] = (struct virtq_buf){ &r->hdr, sizeof(r->hdr), false };
	if (len)
		b[n++] = (struct virtq_buf){ buf, len, type != VIRTIO_BLK_T_OUT };
	b[n++] = (struct virtq_buf){ &r->status, 1, true };
	return virtq_add(vq, b, n, r) < 0 ? -EBUSY : 0;
}

/* Wait for @n requests (polled); -ETIMEDOUT after TIMEOUT_MS. */
static int complete(struct virtq *vq, unsigned n)
{
	uint64_t deadline = tsc_deadline_ms(TIMEOUT_MS);

	virtq_kick(vq);
	while (n) {
		uint32_t len;
		void *token;
		int err = virtq_get_used(vq, &len, &token);

		if (!err && token) {
			((struct vblk_req *)token)->done = true;
			n--;
			continue;
		}
		if (err != -EAGAIN && err)
			return err;
		if (rdtsc() > deadline)
			return -ETIMEDOUT;
		__builtin_ia32_pause();
	}
	return 0;
}

/* @count blocks from @first, written (stamped) or read and compared, BATCH at a time. */
static int transfer(struct virtq *vq, uint32_t type, uint64_t first, uint64_t count)
{
	for (uint64_t lba = first; lba < first + count;) {
		unsigned n = 0;
		int err;

		for (; n < BATCH && lba + n < first + count; n++) {
			if (type == VIRTIO_BLK_T_OUT)
				stamp(data[n], lba + n);
			else
				memset(data[n], 0, BLOCK);
			err = submit(vq, n, type, (lba + n) * SECTORS_PER_BLOCK, data[n], BLOCK);
			if (err)
				return err;
		}
		err = complete(vq, n);
		if (err)
			return err;
		for (unsigned i = 0; i < n; i++) {
			if (reqs[i].status != VIRTIO_BLK_S_OK) {
				kprintf("cvguest: vblk %s of block %lu: status %u\n",
					type == VIRTIO_BLK_T_OUT ? "write" : "read", lba + i,
					reqs[i].status);
				return -EIO;
			}
			if (type != VIRTIO_BLK_T_IN)
				continue;
			stamp(want, lba + i);
			if (memcmp(want, data[i], BLOCK)) {
				kprintf("cvguest: vblk read of block %lu: not what was written\n",
					lba + i);
				return -EIO;
			}
		}
		lba += n;
	}
	return 0;
}

/* One request alone: its status, or a negative errno. */
static int single(struct virtq *vq, uint32_t type, uint64_t sector, void *buf, uint32_t len)
{
	int err = submit(vq, 0, type, sector, buf, len);

	if (!err)
		err = complete(vq, 1);
	return err ? err : reqs[0].status;
}

int vblk_run(const char *cmdline)
{
	uint64_t blocks = cmdline_value(cmdline, "blocks", 256);
	struct virtio_blk_config cfg = { 0 };
	struct virtq *vq = &dev.vq[0];
	int err, st;

	err = virtio_pci_find(&dev, VIRTIO_ID_BLOCK, VIRTIO_BLK_PCI_TRANSITIONAL);
	if (err) {
		kprintf("cvguest: vblk no virtio-blk device found\n");
		return err;
	}
	err = virtio_negotiate(&dev, VBLK_FEATURES);
	if (!err)
		err = virtio_read_config(&dev, 0, &cfg, 24); /* capacity .. blk_size */
	if (!err)
		err = virtio_queue_setup(&dev, 0, VIRTQ_GUEST_MAX, false);
	if (err) {
		virtio_fail(&dev);
		kprintf("cvguest: vblk set-up failed (%d)\n", err);
		return err;
	}
	virtio_driver_ok(&dev);
	kprintf("cvguest: vblk device 00:%02x.%u capacity=%lu sectors blk_size=%u "
		"features=0x%lx queues=%u\n", dev.dev, dev.fn, cfg.capacity,
		(dev.features & VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE)) ? cfg.blk_size : 512,
		dev.features, dev.num_queues);
	if (blocks * SECTORS_PER_BLOCK > cfg.capacity) {
		kprintf("cvguest: vblk blocks=%lu is past the capacity\n", blocks);
		return -EINVAL;
	}

	st = single(vq, VIRTIO_BLK_T_GET_ID, 0, id, VIRTIO_BLK_ID_BYTES);
	kprintf("cvguest: vblk serial \"%s\" status=%d\n", st ? "" : (char *)id, st);
	err = transfer(vq, VIRTIO_BLK_T_OUT, 0, blocks);
	kprintf("cvguest: vblk write %s blocks=%lu\n", err ? "fail" : "ok", blocks);
	if (err)
		return err;
	if (dev.features & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH)) {
		st = single(vq, VIRTIO_BLK_T_FLUSH, 0, NULL, 0);
		kprintf("cvguest: vblk flush %s status=%d\n", st ? "fail" : "ok", st);
		if (st)
			return -EIO;
	}
	err = transfer(vq, VIRTIO_BLK_T_IN, 0, blocks);
	kprintf("cvguest: vblk read %s blocks=%lu\n", err ? "fail" : "ok", blocks);
	if (err)
		return err;
	/* §5.2.6.2: a request the device cannot serve answers IOERR, not data. */
	st = single(vq, VIRTIO_BLK_T_IN, cfg.capacity, data[0], BLOCK);
	kprintf("cvguest: vblk past-end read status=%d %s\n", st,
		st == VIRTIO_BLK_S_IOERR ? "ok" : "fail");
	return st == VIRTIO_BLK_S_IOERR ? 0 : -EIO;
}
