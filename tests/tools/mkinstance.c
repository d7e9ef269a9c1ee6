/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mkinstance FILE --kernel PATH [--nic SOCKET,SUBNET,IPV4,MAC[,UNDERLAY,MAPPING]]
 *            [--volume SOCKET,VOLUME-SPEC --storaged BINARY] [--mem BYTES]
 *
 * Writes an instance description (tools/lib/instance.h) for cards that a
 * front-end other than cv-hv drives, such as QEMU's vhost-user-net and
 * vhost-user-blk (tests/integration/boot_qemu.sh); cardvisor launches only
 * cv-hv.  Prints the new instance id, then the volume id if any.
 *
 * The ENI is "eni-0" in PCI slot 3, VXLAN VNI 1, its underlay socket on
 * 127.0.0.1 with a port the kernel picks, so parallel tests never collide,
 * unless UNDERLAY says where (with a mapping table, for a peer there).
 * The volume comes from the volume store as `cardvisor run --volume`
 * makes it (VOLUME-SPEC is the same "size=64M" or "id=vol-…", with the
 * store at $CARDVISOR_STATE), served through cv-ebs's vhost-user-blk face;
 * BINARY is the cv-storaged to start when none answers at
 * $CARDVISOR_STORAGED yet.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/lib/instance.h"
#include "tools/lib/log.h"
#include "tools/lib/volume_store.h"

struct volume {
	struct volume_spec spec;
	char target[64];
	char nqn[sizeof(VOLUME_STORE_NQN_PREFIX) + VOLUME_STORE_ID_MAX];
	char key[4096];
	char psk[4096];
};

static void usage(FILE *f)
{
	fprintf(f, "usage: mkinstance FILE --kernel PATH [--nic SOCKET,SUBNET,IPV4,MAC[,UNDERLAY,MAPPING]]\n"
		   "       [--volume SOCKET,VOLUME-SPEC --storaged BINARY] [--mem BYTES]\n");
}

/*
 * "SOCKET,SUBNET,IPV4,MAC[,UNDERLAY,MAPPING]": split in place, the MAC as
 * six hex octets; UNDERLAY (HOST:PORT) and the mapping table file for an
 * ENI that reaches a peer over the underlay.
 */
static int parse_nic(char *spec, struct instance_nic *n)
{
	char *f[6] = { 0 }, *save = NULL;
	unsigned m[6];
	int i;

	for (i = 0; i < 6; i++)
		if (!(f[i] = strtok_r(i ? NULL : spec, ",", &save)))
			break;
	if ((i != 4 && i != 6) || strtok_r(NULL, ",", &save) ||
	    sscanf(f[3], "%2x:%2x:%2x:%2x:%2x:%2x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6)
		return -EINVAL;
	*n = (struct instance_nic){ .id = "eni-0", .socket = f[0], .subnet = f[1], .ipv4 = f[2],
				    .underlay = f[4] ? f[4] : "127.0.0.1:0", .mapping = f[5],
				    .encap = "vxlan", .vni = 1, .slot = 3, .conntrack = 1024 };
	for (i = 0; i < 6; i++)
		n->mac[i] = (uint8_t)m[i];
	return 0;
}

/* The volume in the store, cv-storaged serving it, and its node. */
static int describe_volume(char *arg, const char *storaged, struct volume *v,
			   struct instance_volume *node)
{
	char *comma = strchr(arg, ','), err[256];
	int ret;

	if (!comma || !storaged) {
		usage(stderr);
		return -EINVAL;
	}
	*comma = '\0';
	if (volume_spec_parse(comma + 1, &v->spec, err, sizeof(err))) {
		fprintf(stderr, "mkinstance: --volume %s: %s\n", comma + 1, err);
		return -EINVAL;
	}
	ret = volume_store_storaged(storaged, v->target, sizeof(v->target));
	if (!ret)
		ret = volume_store_prepare(&v->spec, v->key, v->psk, sizeof(v->key));
	if (ret)
		return ret;
	snprintf(v->nqn, sizeof(v->nqn), "%s%s", VOLUME_STORE_NQN_PREFIX, v->spec.id);
	*node = (struct instance_volume){ .id = v->spec.id, .target = v->target,
					  .subnqn = v->nqn, .key_file = v->key,
					  .tls_psk_file = v->psk, .socket = arg,
					  .face = "vhost-user-blk", .queues = v->spec.queues,
					  .epoch = v->spec.epoch };
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "nic", required_argument, NULL, 'n' },
		{ "volume", required_argument, NULL, 'v' },
		{ "storaged", required_argument, NULL, 's' },
		{ "mem", required_argument, NULL, 'm' },
		{ 0 },
	};
	struct instance_desc d = { .type = "cv.custom", .vcpus = 1, .memory = 256ull << 20,
				   .quirks = "none", .linux_guest = true };
	static struct volume vol;
	char *volume = NULL, *storaged = NULL, *end;
	int opt, ret;

	cv_log_init("mkinstance", false);
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'k':
			d.kernel = optarg;
			break;
		case 'n':
			if (d.nr_nics || parse_nic(optarg, &d.nics[0])) {
				usage(stderr);
				return 1;
			}
			d.nr_nics = 1;
			break;
		case 'v':
			volume = optarg;
			break;
		case 's':
			storaged = optarg;
			break;
		case 'm':
			d.memory = strtoull(optarg, &end, 0);
			if (*end || !d.memory) {
				usage(stderr);
				return 1;
			}
			break;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc - 1 || !d.kernel) {
		usage(stderr);
		return 1;
	}
	if (volume) {
		if (describe_volume(volume, storaged, &vol, &d.volumes[0]))
			return 1;
		d.nr_volumes = 1;
	}
	ret = instance_new_id(d.id);
	if (!ret)
		ret = instance_write_file(argv[optind], &d);
	if (ret) {
		fprintf(stderr, "mkinstance: %s: %s\n", argv[optind], strerror(-ret));
		return 1;
	}
	printf("%s\n", d.id);
	if (volume)
		printf("%s\n", vol.spec.id);
	return 0;
}
