/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The instance description: one flattened device tree blob that the
 * launcher writes and every process of the instance reads (design.md,
 * "Machine description"), so cv-hv and the cards agree on the machine
 * without ad-hoc configuration formats.
 *
 * Layout (all strings NUL-terminated, integers big-endian as in any FDT):
 *   / {
 *       compatible = "cardvisor,instance-v1";
 *       instance-id = "i-0123456789abcdef0";
 *       instance-type = "cv.small";
 *       vcpus = <u32>;
 *       memory = <u64 bytes>;
 *       quirks = "auto";
 *       boot {
 *           kernel = "/path";  initrd = "/path";  cmdline = "...";
 *           linux;             (empty property: the kernel is Linux)
 *       };
 *       vfio-user {            (optional: PCI functions cards own)
 *           device@<slot> { socket = "/path"; pci-slot = <u32 1..31>; };
 *       };
 *       volumes {              (optional: one cv-ebs each)
 *           volume@<n> {
 *               volume-id = "vol-…";  target = "host:port";  subnqn = "nqn…";
 *               key-file = "/path";   (64-byte AES-256-XTS key; only the
 *                                      card reads it, cv-hv never holds it)
 *               socket = "/path";     (the card's vfio-user socket, or its
 *                                      vhost-user one for vhost-user-blk)
 *               face = "nvme" | "vhost-user-blk";  (optional, default nvme:
 *                                      what the guest sees, docs/ebs.md)
 *               pci-slot = <u32 1..31>;  (optional, vhost-user-blk only:
 *                                      cv-hv plugs a virtio-blk function
 *                                      there; without it a front-end such
 *                                      as QEMU's serves the guest)
 *               queues = <u32>;       iops, iops-burst, bps, bps-burst = <u64>;
 *               hold-ms = <u64>;      (I/O waits this long for the storage)
 *           };
 *       };
 *       nics {                 (optional: one cv-vpc each)
 *           nic@<n> {
 *               eni-id = "eni-…";  mac = [6 bytes];  pci-slot = <u32>;
 *               subnet = "10.0.1.0/24";  ipv4 = "10.0.1.23";  vni = <u32>;
 *               encap = "vxlan" | "geneve";  underlay = "addr:port" (bound);
 *               mapping-file = "/path";  sg-file = "/path";  (optional)
 *               conntrack = <u32>;    (tracked flows at most)
 *               socket = "/path";     (the card's vhost-user socket)
 *           };
 *       };
 *   };
 */
#ifndef CV_INSTANCE_H
#define CV_INSTANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CV_INSTANCE_COMPATIBLE "cardvisor,instance-v1"
#define CV_INSTANCE_ID_MAX 32
#define CV_INSTANCE_MAX_VFIO_USER 8
#define CV_INSTANCE_MAX_VOLUMES 8
#define CV_INSTANCE_MAX_NICS 8

/* A card that owns a PCI function, served over vfio-user (docs/vfio-user.md). */
struct instance_vfio_user {
	const char *socket;
	unsigned slot;            /* device number on bus 0, function 0 */
};

/* An EBS volume and how its card reaches it (docs/ebs.md). */
struct instance_volume {
	const char *id;
	const char *target;       /* cv-storaged, "host:port" */
	const char *subnqn;
	const char *key_file;
	const char *tls_psk_file; /* cv-storaged's TLS PSK for the volume, or NULL: no TLS */
	const char *socket;       /* where the card serves its guest-facing face */
	const char *face;         /* "nvme", "vhost-user-blk", or NULL (nvme) */
	unsigned slot;            /* vhost-user-blk: cv-hv's virtio-blk function; 0: none */
	unsigned queues;          /* I/O queues (NVMe queue pairs or virtqueues) */
	uint64_t iops, iops_burst, bps, bps_burst;  /* 0: unlimited / default */
	uint64_t hold_ms;         /* how long I/O waits for the storage; 0: 30 s */
	uint64_t epoch;           /* the attachment's epoch (tools/lib/host_epoch.h); 0: none */
};

/* An ENI: its card, and the virtio-net function cv-hv gives the guest. */
struct instance_nic {
	const char *id;
	const char *socket;       /* cv-vpc's vhost-user socket */
	const char *subnet;       /* CIDR */
	const char *ipv4;
	const char *underlay;     /* where the card's UDP socket binds */
	const char *encap;        /* "vxlan" or "geneve" */
	const char *mapping;      /* mapping table file, or NULL */
	const char *sg;           /* security group rules file, or NULL */
	uint8_t mac[6];
	unsigned vni;
	unsigned slot;            /* PCI device number of the NIC */
	unsigned conntrack;       /* connection tracking table size */
};

struct instance_desc {
	char id[CV_INSTANCE_ID_MAX];
	const char *type;
	unsigned vcpus;
	uint64_t memory;
	const char *quirks;
	const char *kernel;
	const char *initrd;
	const char *cmdline;
	bool linux_guest;
	struct instance_vfio_user vfio_user[CV_INSTANCE_MAX_VFIO_USER];
	unsigned nr_vfio_user;
	struct instance_volume volumes[CV_INSTANCE_MAX_VOLUMES];
	unsigned nr_volumes;
	struct instance_nic nics[CV_INSTANCE_MAX_NICS];
	unsigned nr_nics;
};

/* A new EC2-style id, "i-" and 17 hex digits, from the kernel's RNG. */
int instance_new_id(char id[CV_INSTANCE_ID_MAX]);
bool instance_id_valid(const char *id);

/* Serialize @desc into a freshly allocated blob (free() it). */
int instance_to_fdt(const struct instance_desc *desc, void **blob, size_t *size);
/*
 * Parse and validate a blob.  String fields of @desc point into @blob, which
 * must outlive @desc.  -EINVAL with one logged line naming what is wrong.
 */
int instance_from_fdt(const void *blob, size_t size, struct instance_desc *desc);

/* Whole-file helpers; the read one returns a malloc()ed buffer. */
int instance_write_file(const char *path, const struct instance_desc *desc);
int instance_read_file(const char *path, void **blob, size_t *size);

#endif /* CV_INSTANCE_H */
