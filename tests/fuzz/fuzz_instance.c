/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The instance description parser (tools/lib/instance.c,
 * instance_from_fdt) on any blob: what every process of an instance reads
 * at start-up (docs/architecture.md).  The blob is its own exact-size heap
 * block.
 *
 * Input: the blob.
 *
 * Invariants beyond "no crash":
 *  - an accepted description has a valid instance id, non-zero vCPUs, at
 *    most the maximum of vfio-user devices, volumes and NICs, and every
 *    string it points to lies, with its NUL, inside the blob;
 *  - it survives a round trip: instance_to_fdt() writes it and
 *    instance_from_fdt() reads back the same description;
 *  - it returns: a blob libfdt 1.6.1 would walk for ever is refused
 *    (docs/fuzzing.md, "Findings").
 */
#include <libfdt.h>
#include <stdlib.h>

#include "tests/fuzz/fuzz.h"
#include "tools/lib/instance.h"

static const uint8_t *blob_at;
static size_t blob_len;

/* @s is NULL or a string inside the blob; @t is the same in the copy. */
static void same_str(const char *s, const char *t)
{
	if (s)
		FUZZ_CHECK(fuzz_inside(s, strnlen(s, blob_len) + 1, blob_at, blob_len));
	FUZZ_CHECK(!s == !t && (!s || !strcmp(s, t)));
}

static void compare(const struct instance_desc *a, const struct instance_desc *b)
{
	FUZZ_CHECK(!strcmp(a->id, b->id) && a->vcpus == b->vcpus && a->memory == b->memory &&
		   a->linux_guest == b->linux_guest);
	same_str(a->type, b->type);
	same_str(a->quirks, b->quirks);
	same_str(a->kernel, b->kernel);
	same_str(a->initrd, b->initrd);
	same_str(a->cmdline, b->cmdline);
	FUZZ_CHECK(a->nr_vfio_user == b->nr_vfio_user && a->nr_volumes == b->nr_volumes &&
		   a->nr_nics == b->nr_nics);
	for (unsigned i = 0; i < a->nr_vfio_user; i++) {
		same_str(a->vfio_user[i].socket, b->vfio_user[i].socket);
		FUZZ_CHECK(a->vfio_user[i].slot == b->vfio_user[i].slot);
	}
	for (unsigned i = 0; i < a->nr_volumes; i++) {
		const struct instance_volume *x = &a->volumes[i], *y = &b->volumes[i];

		same_str(x->id, y->id);
		same_str(x->target, y->target);
		same_str(x->subnqn, y->subnqn);
		same_str(x->key_file, y->key_file);
		same_str(x->socket, y->socket);
		same_str(x->face, y->face);
		FUZZ_CHECK(x->queues == y->queues && x->iops == y->iops &&
			   x->iops_burst == y->iops_burst && x->bps == y->bps &&
			   x->bps_burst == y->bps_burst && x->hold_ms == y->hold_ms);
	}
	for (unsigned i = 0; i < a->nr_nics; i++) {
		const struct instance_nic *x = &a->nics[i], *y = &b->nics[i];

		same_str(x->id, y->id);
		same_str(x->socket, y->socket);
		same_str(x->subnet, y->subnet);
		same_str(x->ipv4, y->ipv4);
		same_str(x->underlay, y->underlay);
		same_str(x->encap, y->encap);
		same_str(x->mapping, y->mapping);
		same_str(x->sg, y->sg);
		FUZZ_CHECK(!memcmp(x->mac, y->mac, sizeof(x->mac)) && x->vni == y->vni &&
			   x->slot == y->slot && x->conntrack == y->conntrack);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *blob = malloc(size ? size : 1);
	struct instance_desc d, again;
	void *out;
	size_t out_len;

	FUZZ_CHECK(blob);
	memcpy(blob, data, size);
	if (instance_from_fdt(blob, size, &d) == 0) {
		FUZZ_CHECK(instance_id_valid(d.id) && d.vcpus);
		FUZZ_CHECK(d.nr_vfio_user <= CV_INSTANCE_MAX_VFIO_USER &&
			   d.nr_volumes <= CV_INSTANCE_MAX_VOLUMES &&
			   d.nr_nics <= CV_INSTANCE_MAX_NICS);
		FUZZ_CHECK(instance_to_fdt(&d, &out, &out_len) == 0);
		FUZZ_CHECK(instance_from_fdt(out, out_len, &again) == 0);
		blob_at = blob;
		blob_len = size;
		compare(&d, &again);
		free(out);
	}
	free(blob);
	return 0;
}
