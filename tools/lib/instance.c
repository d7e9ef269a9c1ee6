/* SPDX-License-Identifier: Apache-2.0 */
#include "tools/lib/instance.h"

#include <errno.h>
#include <fcntl.h>
#include <libfdt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tools/lib/log.h"

#define INSTANCE_MAX_BLOB (1u << 20)

int instance_new_id(char id[CV_INSTANCE_ID_MAX])
{
	uint8_t rnd[9];

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -errno;
	/* 17 hex digits like EC2's: the first nibble of the 9 bytes dropped. */
	snprintf(id, CV_INSTANCE_ID_MAX, "i-%01x%02x%02x%02x%02x%02x%02x%02x%02x",
		 rnd[0] & 0xf, rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7], rnd[8]);
	return 0;
}

bool instance_id_valid(const char *id)
{
	size_t n = strlen(id);

	if (n < 3 || n >= CV_INSTANCE_ID_MAX || strncmp(id, "i-", 2))
		return false;
	for (size_t i = 2; i < n; i++)
		if (!strchr("0123456789abcdef", id[i]))
			return false;
	return true;
}

static int instance_prop_opt(void *fdt, const char *name, const char *value)
{
	return value ? fdt_property_string(fdt, name, value) : 0;
}

/* Room the vfio-user nodes need (names, properties, socket paths); 0 if malformed. */
static size_t vfio_user_len(const struct instance_desc *d)
{
	size_t n = 1;

	if (d->nr_vfio_user > CV_INSTANCE_MAX_VFIO_USER)
		return 0;
	for (unsigned i = 0; i < d->nr_vfio_user; i++) {
		if (!d->vfio_user[i].socket)
			return 0;
		n += 128 + strlen(d->vfio_user[i].socket);
	}
	return n;
}

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Volumes and NICs are lists of nodes with typed properties: one table per
 * kind says which, and the same code writes, sizes and checks them all.
 */
enum field_kind {
	FIELD_STR,      /* required, non-empty */
	FIELD_STR_OPT,  /* written only when set */
	FIELD_U32,      /* required, non-zero */
	FIELD_U32_ANY,  /* required, any value */
	FIELD_U32_OPT,  /* optional, 0 when absent (and not written) */
	FIELD_U64,      /* optional, 0 when absent */
	FIELD_MAC,      /* 6 bytes */
};

struct field {
	const char *name;
	enum field_kind kind;
	size_t off;
};

struct node_list {
	const char *parent, *child;  /* "volumes", "volume" */
	const struct field *fields;
	size_t nr_fields, elem_size, max;
};

#define F(type, member, prop, kind) { prop, kind, offsetof(type, member) }

static const struct field volume_fields[] = {
	F(struct instance_volume, id, "volume-id", FIELD_STR),
	F(struct instance_volume, target, "target", FIELD_STR),
	F(struct instance_volume, subnqn, "subnqn", FIELD_STR),
	F(struct instance_volume, key_file, "key-file", FIELD_STR),
	F(struct instance_volume, tls_psk_file, "tls-psk-file", FIELD_STR_OPT),
	F(struct instance_volume, socket, "socket", FIELD_STR),
	F(struct instance_volume, face, "face", FIELD_STR_OPT),
	F(struct instance_volume, slot, "pci-slot", FIELD_U32_OPT),
	F(struct instance_volume, queues, "queues", FIELD_U32),
	F(struct instance_volume, iops, "iops", FIELD_U64),
	F(struct instance_volume, iops_burst, "iops-burst", FIELD_U64),
	F(struct instance_volume, bps, "bps", FIELD_U64),
	F(struct instance_volume, bps_burst, "bps-burst", FIELD_U64),
	F(struct instance_volume, hold_ms, "hold-ms", FIELD_U64),
	F(struct instance_volume, epoch, "epoch", FIELD_U64),
};

static const struct field nic_fields[] = {
	F(struct instance_nic, id, "eni-id", FIELD_STR),
	F(struct instance_nic, socket, "socket", FIELD_STR),
	F(struct instance_nic, subnet, "subnet", FIELD_STR),
	F(struct instance_nic, ipv4, "ipv4", FIELD_STR),
	F(struct instance_nic, underlay, "underlay", FIELD_STR),
	F(struct instance_nic, encap, "encap", FIELD_STR),
	F(struct instance_nic, mapping, "mapping-file", FIELD_STR_OPT),
	F(struct instance_nic, sg, "sg-file", FIELD_STR_OPT),
	F(struct instance_nic, mac, "mac", FIELD_MAC),
	F(struct instance_nic, vni, "vni", FIELD_U32_ANY),
	F(struct instance_nic, slot, "pci-slot", FIELD_U32),
	F(struct instance_nic, conntrack, "conntrack", FIELD_U32),
};

static const struct node_list volume_list = {
	"volumes", "volume", volume_fields, ARRAY_LEN(volume_fields),
	sizeof(struct instance_volume), CV_INSTANCE_MAX_VOLUMES,
};
static const struct node_list nic_list = {
	"nics", "nic", nic_fields, ARRAY_LEN(nic_fields),
	sizeof(struct instance_nic), CV_INSTANCE_MAX_NICS,
};

#define FIELD_PTR(obj, f, type) ((type *)((char *)(obj) + (f)->off))

/* Room @n elements of @l need; 0 if too many or a required string is unset. */
static size_t list_len(const struct node_list *l, const void *elems, unsigned n)
{
	size_t len = 1;

	if (n > l->max)
		return 0;
	for (unsigned i = 0; i < n; i++) {
		const void *e = (const char *)elems + i * l->elem_size;

		len += 64;
		for (size_t k = 0; k < l->nr_fields; k++) {
			const struct field *f = &l->fields[k];
			const char *str;

			len += strlen(f->name) + 32;
			if (f->kind != FIELD_STR && f->kind != FIELD_STR_OPT)
				continue;
			str = *FIELD_PTR(e, f, const char *);
			if (f->kind == FIELD_STR && (!str || !*str))
				return 0;
			if (str)
				len += strlen(str);
		}
	}
	return len;
}

static int list_to_fdt(void *fdt, const struct node_list *l, const void *elems, unsigned n)
{
	char node[32];
	int err = 0;

	if (!n)
		return 0;
	err = fdt_begin_node(fdt, l->parent);
	for (unsigned i = 0; !err && i < n; i++) {
		const void *e = (const char *)elems + i * l->elem_size;

		snprintf(node, sizeof(node), "%s@%x", l->child, i);
		err = fdt_begin_node(fdt, node);
		for (size_t k = 0; !err && k < l->nr_fields; k++) {
			const struct field *f = &l->fields[k];
			const char *str;

			switch (f->kind) {
			case FIELD_STR:
			case FIELD_STR_OPT:
				str = *FIELD_PTR(e, f, const char *);
				if (str)
					err = fdt_property_string(fdt, f->name, str);
				break;
			case FIELD_U32:
			case FIELD_U32_ANY:
				err = fdt_property_u32(fdt, f->name, *FIELD_PTR(e, f, unsigned));
				break;
			case FIELD_U32_OPT:
				if (*FIELD_PTR(e, f, unsigned))
					err = fdt_property_u32(fdt, f->name,
							       *FIELD_PTR(e, f, unsigned));
				break;
			case FIELD_U64:
				err = fdt_property_u64(fdt, f->name, *FIELD_PTR(e, f, uint64_t));
				break;
			case FIELD_MAC:
				err = fdt_property(fdt, f->name, FIELD_PTR(e, f, uint8_t), 6);
				break;
			}
		}
		if (!err)
			err = fdt_end_node(fdt);
	}
	return err ? err : fdt_end_node(fdt);
}

/* Keep the first libfdt error (0 or -FDT_ERR_*); later steps are skipped. */
#define FDT_STEP(call) do { if (!err) err = (call); } while (0)

int instance_to_fdt(const struct instance_desc *d, void **blob, size_t *size)
{
	size_t vfio_len = vfio_user_len(d);
	size_t vol_len = list_len(&volume_list, d->volumes, d->nr_volumes);
	size_t nic_len = list_len(&nic_list, d->nics, d->nr_nics);
	size_t cap = 4096 + (d->cmdline ? strlen(d->cmdline) : 0) +
		     (d->kernel ? strlen(d->kernel) : 0) + (d->initrd ? strlen(d->initrd) : 0) +
		     (d->type ? strlen(d->type) : 0) + (d->quirks ? strlen(d->quirks) : 0) +
		     vfio_len + vol_len + nic_len;
	char node[32];
	void *fdt;
	int err = 0;

	if (!vfio_len) {
		cv_err("instance: %u vfio-user devices, or one without a socket",
		       d->nr_vfio_user);
		return -EINVAL;
	}
	if (!vol_len || !nic_len) {
		cv_err("instance: %u volumes and %u NICs: too many, or one without all it needs",
		       d->nr_volumes, d->nr_nics);
		return -EINVAL;
	}
	fdt = malloc(cap);
	if (!fdt)
		return -ENOMEM;
	FDT_STEP(fdt_create(fdt, (int)cap));
	FDT_STEP(fdt_finish_reservemap(fdt));
	FDT_STEP(fdt_begin_node(fdt, ""));
	FDT_STEP(fdt_property_string(fdt, "compatible", CV_INSTANCE_COMPATIBLE));
	FDT_STEP(fdt_property_string(fdt, "instance-id", d->id));
	FDT_STEP(instance_prop_opt(fdt, "instance-type", d->type));
	FDT_STEP(fdt_property_u32(fdt, "vcpus", d->vcpus));
	FDT_STEP(fdt_property_u64(fdt, "memory", d->memory));
	FDT_STEP(instance_prop_opt(fdt, "quirks", d->quirks));
	FDT_STEP(fdt_begin_node(fdt, "boot"));
	FDT_STEP(instance_prop_opt(fdt, "kernel", d->kernel));
	FDT_STEP(instance_prop_opt(fdt, "initrd", d->initrd));
	FDT_STEP(instance_prop_opt(fdt, "cmdline", d->cmdline));
	if (d->linux_guest)
		FDT_STEP(fdt_property(fdt, "linux", NULL, 0));
	FDT_STEP(fdt_end_node(fdt));
	if (d->nr_vfio_user)
		FDT_STEP(fdt_begin_node(fdt, "vfio-user"));
	for (unsigned i = 0; i < d->nr_vfio_user; i++) {
		snprintf(node, sizeof(node), "device@%x", d->vfio_user[i].slot);
		FDT_STEP(fdt_begin_node(fdt, node));
		FDT_STEP(fdt_property_string(fdt, "socket", d->vfio_user[i].socket));
		FDT_STEP(fdt_property_u32(fdt, "pci-slot", d->vfio_user[i].slot));
		FDT_STEP(fdt_end_node(fdt));
	}
	if (d->nr_vfio_user)
		FDT_STEP(fdt_end_node(fdt));
	FDT_STEP(list_to_fdt(fdt, &volume_list, d->volumes, d->nr_volumes));
	FDT_STEP(list_to_fdt(fdt, &nic_list, d->nics, d->nr_nics));
	FDT_STEP(fdt_end_node(fdt));
	FDT_STEP(fdt_finish(fdt));
	if (err) {
		free(fdt);
		cv_err("instance: cannot build description: %s", fdt_strerror(err));
		return -EINVAL;
	}
	*blob = fdt;
	*size = fdt_totalsize(fdt);
	return 0;
}

static const char *instance_prop_string(const void *fdt, int node, const char *name)
{
	int len;
	const char *s = fdt_getprop(fdt, node, name, &len);

	/* A string property must hold its terminating NUL within its length. */
	if (!s || len < 1 || s[len - 1] != '\0' || strlen(s) != (size_t)len - 1)
		return NULL;
	return s;
}

/* Slot 0 is the host bridge; each card takes a slot of its own. */
static int vfio_user_from_fdt(const void *fdt, struct instance_desc *d)
{
	int parent = fdt_subnode_offset(fdt, 0, "vfio-user"), node, len;

	if (parent < 0)
		return 0;
	fdt_for_each_subnode(node, fdt, parent) {
		struct instance_vfio_user *v = &d->vfio_user[d->nr_vfio_user];
		const fdt32_t *slot = fdt_getprop(fdt, node, "pci-slot", &len);

		if (d->nr_vfio_user == CV_INSTANCE_MAX_VFIO_USER) {
			cv_err("instance: more than %d vfio-user devices", CV_INSTANCE_MAX_VFIO_USER);
			return -EINVAL;
		}
		v->socket = instance_prop_string(fdt, node, "socket");
		if (!v->socket || !*v->socket || !slot || len != sizeof(*slot) ||
		    !fdt32_ld(slot) || fdt32_ld(slot) >= 32) {
			cv_err("instance: vfio-user/%s needs a socket and a pci-slot of 1..31",
			       fdt_get_name(fdt, node, NULL));
			return -EINVAL;
		}
		v->slot = fdt32_ld(slot);
		for (unsigned i = 0; i < d->nr_vfio_user; i++) {
			if (d->vfio_user[i].slot == v->slot) {
				cv_err("instance: two vfio-user devices in PCI slot %u", v->slot);
				return -EINVAL;
			}
		}
		d->nr_vfio_user++;
	}
	return 0;
}

/* Fill @elems from the nodes under @l->parent; *@n counts them. */
static int list_from_fdt(const void *fdt, const struct node_list *l, void *elems, unsigned *n)
{
	int parent = fdt_subnode_offset(fdt, 0, l->parent), node, len;

	if (parent < 0)
		return 0;
	fdt_for_each_subnode(node, fdt, parent) {
		void *e = (char *)elems + *n * l->elem_size;
		const char *name = fdt_get_name(fdt, node, NULL);

		if (*n == l->max) {
			cv_err("instance: more than %zu %s", l->max, l->parent);
			return -EINVAL;
		}
		for (size_t k = 0; k < l->nr_fields; k++) {
			const struct field *f = &l->fields[k];
			const void *p = fdt_getprop(fdt, node, f->name, &len);
			const char *str = instance_prop_string(fdt, node, f->name);
			bool ok = true;

			switch (f->kind) {
			case FIELD_STR:
			case FIELD_STR_OPT:
				ok = str ? *str != '\0' : f->kind == FIELD_STR_OPT && !p;
				*FIELD_PTR(e, f, const char *) = str;
				break;
			case FIELD_U32:
			case FIELD_U32_ANY:
				ok = p && len == 4 && (f->kind == FIELD_U32_ANY || fdt32_ld(p));
				*FIELD_PTR(e, f, unsigned) = ok ? fdt32_ld(p) : 0;
				break;
			case FIELD_U32_OPT:
				ok = !p || len == 4;
				*FIELD_PTR(e, f, unsigned) = p && ok ? fdt32_ld(p) : 0;
				break;
			case FIELD_U64:
				ok = !p || len == 8;
				*FIELD_PTR(e, f, uint64_t) = p && ok ? fdt64_ld(p) : 0;
				break;
			case FIELD_MAC:
				ok = p && len == 6;
				if (ok)
					memcpy(FIELD_PTR(e, f, uint8_t), p, 6);
				break;
			}
			if (!ok) {
				cv_err("instance: %s/%s: %s is missing or malformed", l->parent, name,
				       f->name);
				return -EINVAL;
			}
		}
		(*n)++;
	}
	return 0;
}

/*
 * The structure block walked as libfdt walks it, every length checked
 * against what is left.  libfdt 1.6.1 (Debian 12's) adds a property's
 * length to the offset in int arithmetic: a length such as 0xfffffff4
 * lands on the same tag again and every walk of the node, fdt_check_full()
 * included, loops for ever (found by fuzzing).
 */
static bool struct_block_ok(const void *fdt, size_t size)
{
	const uint8_t *p = (const uint8_t *)fdt + fdt_off_dt_struct(fdt);
	uint32_t len = fdt_size_dt_struct(fdt), off = 0;

	if (fdt_off_dt_struct(fdt) > size || len > size - fdt_off_dt_struct(fdt))
		return false;
	while (len - off >= 4) {
		uint32_t tag = fdt32_ld((const fdt32_t *)(p + off)), plen;
		const uint8_t *nul;

		off += 4;
		switch (tag) {
		case FDT_BEGIN_NODE:
			nul = memchr(p + off, 0, len - off);
			if (!nul)
				return false;
			off = ((uint32_t)(nul - p) + 4) & ~3u;
			break;
		case FDT_PROP:
			if (len - off < 8)
				return false;
			plen = fdt32_ld((const fdt32_t *)(p + off));
			if (plen > len - off - 8)
				return false;
			off = (off + 8 + plen + 3) & ~3u;
			break;
		case FDT_END_NODE:
		case FDT_NOP:
			break;
		case FDT_END:
			return true;
		default:
			return false;
		}
		if (off > len)
			return false;
	}
	return false;
}

/*
 * A volume's pci-slot is where cv-hv plugs the virtio-blk function of a
 * vhost-user-blk face; an NVMe face's function is a vfio-user device.
 */
static int volume_slots_check(const struct instance_desc *d)
{
	for (unsigned i = 0; i < d->nr_volumes; i++) {
		const struct instance_volume *v = &d->volumes[i];
		bool vblk = v->face && !strcmp(v->face, "vhost-user-blk");

		if (v->slot && (!vblk || v->slot > 31)) {
			cv_err("instance: volumes/volume@%x: pci-slot %u needs face "
			       "\"vhost-user-blk\" and 1..31", i, v->slot);
			return -EINVAL;
		}
	}
	return 0;
}

int instance_from_fdt(const void *fdt, size_t size, struct instance_desc *d)
{
	int ret;

	const fdt32_t *v32;
	const fdt64_t *v64;
	const char *s;
	int len, boot;

	memset(d, 0, sizeof(*d));
	if (size < sizeof(struct fdt_header) || fdt_check_header(fdt) ||
	    fdt_totalsize(fdt) > size || !struct_block_ok(fdt, size)) {
		cv_err("instance: not a valid device tree blob");
		return -EINVAL;
	}
	s = instance_prop_string(fdt, 0, "compatible");
	if (!s || strcmp(s, CV_INSTANCE_COMPATIBLE)) {
		cv_err("instance: compatible is \"%s\", expected \"%s\"", s ? s : "(none)",
		       CV_INSTANCE_COMPATIBLE);
		return -EINVAL;
	}
	s = instance_prop_string(fdt, 0, "instance-id");
	if (!s || !instance_id_valid(s)) {
		cv_err("instance: missing or malformed instance-id");
		return -EINVAL;
	}
	snprintf(d->id, sizeof(d->id), "%s", s);
	d->type = instance_prop_string(fdt, 0, "instance-type");
	d->quirks = instance_prop_string(fdt, 0, "quirks");
	v32 = fdt_getprop(fdt, 0, "vcpus", &len);
	if (!v32 || len != sizeof(*v32) || !fdt32_ld(v32)) {
		cv_err("instance: vcpus must be a non-zero u32");
		return -EINVAL;
	}
	d->vcpus = fdt32_ld(v32);
	v64 = fdt_getprop(fdt, 0, "memory", &len);
	if (!v64 || len != sizeof(*v64)) {
		cv_err("instance: memory must be a u64 byte count");
		return -EINVAL;
	}
	d->memory = fdt64_ld(v64);
	boot = fdt_subnode_offset(fdt, 0, "boot");
	if (boot < 0 || !(d->kernel = instance_prop_string(fdt, boot, "kernel"))) {
		cv_err("instance: boot/kernel is missing");
		return -EINVAL;
	}
	d->initrd = instance_prop_string(fdt, boot, "initrd");
	d->cmdline = instance_prop_string(fdt, boot, "cmdline");
	d->linux_guest = fdt_getprop(fdt, boot, "linux", &len) != NULL;
	ret = vfio_user_from_fdt(fdt, d);
	if (!ret)
		ret = list_from_fdt(fdt, &volume_list, d->volumes, &d->nr_volumes);
	if (!ret)
		ret = volume_slots_check(d);
	return ret ? ret : list_from_fdt(fdt, &nic_list, d->nics, &d->nr_nics);
}

int instance_write_file(const char *path, const struct instance_desc *desc)
{
	void *blob;
	size_t size;
	int fd, ret = instance_to_fdt(desc, &blob, &size);

	if (ret)
		return ret;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, blob, size) != (ssize_t)size)
		ret = -errno;
	if (fd >= 0)
		close(fd);
	free(blob);
	if (ret)
		cv_err("instance: cannot write %s: %s", path, strerror(-ret));
	return ret;
}

int instance_read_file(const char *path, void **blob, size_t *size)
{
	struct stat st;
	void *buf = NULL;
	int ret = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	if (st.st_size <= 0 || st.st_size > INSTANCE_MAX_BLOB) {
		ret = -EFBIG;
		goto out;
	}
	buf = malloc((size_t)st.st_size);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	if (read(fd, buf, (size_t)st.st_size) != st.st_size) {
		ret = -EIO;
		goto out;
	}
	*blob = buf;
	*size = (size_t)st.st_size;
	buf = NULL;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	if (ret)
		cv_err("instance: cannot read %s: %s", path, strerror(-ret));
	return ret;
}
