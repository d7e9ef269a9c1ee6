// SPDX-License-Identifier: Apache-2.0
#include "tools/lib/nic_spec.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define VXLAN_PORT 4789           /* RFC 7348 §5 */
#define GENEVE_PORT 6081          /* RFC 8926 §3.3 */
#define NIC_CONNTRACK_DEFAULT 65536
#define NIC_CONNTRACK_MAX (1u << 22)

static int fail(char *err, size_t len, const char *fmt, const char *what)
{
	snprintf(err, len, fmt, what);
	return -EINVAL;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned b[6];
	char tail;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	/* A unicast address: the guest's frames must be able to come from it. */
	return mac[0] & 1 ? -EINVAL : 0;
}

/* "eni-" and 17 hex digits, as AWS names an ENI. */
static bool eni_id_valid(const char *s)
{
	if (strncmp(s, "eni-", 4) || strlen(s) != 4 + 17)
		return false;
	for (s += 4; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

/* The subnet's base and size of a parsed spec (its subnet is valid). */
static void subnet_of(const struct nic_spec *n, uint32_t *base, uint32_t *size)
{
	char net[sizeof(n->subnet)], *slash;
	struct in_addr a;

	snprintf(net, sizeof(net), "%s", n->subnet);
	slash = strchr(net, '/');
	*slash = '\0';
	inet_pton(AF_INET, net, &a);
	*base = ntohl(a.s_addr);
	*size = 1u << (32 - strtoul(slash + 1, NULL, 10));
}

/* A host of the subnet AWS would hand out: never the first four or the last. */
static void pick_ip(struct nic_spec *n, uint32_t r)
{
	uint32_t base, size;
	struct in_addr a;

	subnet_of(n, &base, &size);
	a.s_addr = htonl(base + 4 + r % (size - 5));
	inet_ntop(AF_INET, &a, n->ipv4, sizeof(n->ipv4));
}

int nic_spec_pick_ip(struct nic_spec *n, bool (*taken)(void *arg, const char *ip), void *arg)
{
	uint32_t base, size;
	uint16_t r;

	if (n->ip_given)
		return -EPERM;
	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		return -EIO;
	subnet_of(n, &base, &size);
	for (uint32_t i = 0; i < size - 5; i++) {
		pick_ip(n, (uint32_t)r + i);
		if (!taken || !taken(arg, n->ipv4))
			return 0;
	}
	return -EADDRNOTAVAIL;
}

int nic_spec_format(const struct nic_spec *n, char *buf, size_t len)
{
	const uint8_t *m = n->mac;
	int k = snprintf(buf, len, "subnet=%s,ip=%s,mac=%02x:%02x:%02x:%02x:%02x:%02x,vni=%u,"
			 "encap=%s,conntrack=%u,id=%s%s%s", n->subnet, n->ipv4, m[0], m[1], m[2],
			 m[3], m[4], m[5], n->vni, n->encap, n->conntrack, n->id,
			 n->sg[0] ? ",sg=" : "", n->sg);

	return k < 0 || (size_t)k >= len ? -ENAMETOOLONG : 0;
}

/* The card may run elsewhere: an absolute path, and a file it can read. */
static int set_path(char dst[PATH_MAX], const char *src)
{
	return access(src, R_OK) || !realpath(src, dst) ? -errno : 0;
}

int nic_spec_parse(const char *s, struct nic_spec *n, char *err, size_t errlen)
{
	char buf[1024], *save = NULL, *kv, *slash;
	uint32_t base, mask, host, ip = 0, size;
	uint8_t rnd[16];
	unsigned long prefix;
	struct in_addr a;

	memset(n, 0, sizeof(*n));
	n->vni = 1;
	n->conntrack = NIC_CONNTRACK_DEFAULT;
	snprintf(n->encap, sizeof(n->encap), "vxlan");
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		return fail(err, errlen, "%s", "no random bytes");
	/* Locally administered unicast, like the 0e:/02: MACs AWS hands out. */
	n->mac[0] = 0x02;
	memcpy(n->mac + 1, rnd, 5);
	snprintf(n->id, sizeof(n->id), "eni-%01x%02x%02x%02x%02x%02x%02x%02x%02x",
		 rnd[5] & 0xf, rnd[6], rnd[7], rnd[8], rnd[9], rnd[10], rnd[11], rnd[12],
		 rnd[13]);
	if (snprintf(buf, sizeof(buf), "%s", s) >= (int)sizeof(buf))
		return fail(err, errlen, "%s", "too long");
	for (kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *val = strchr(kv, '=');

		if (!val)
			return fail(err, errlen, "\"%s\": expected key=value", kv);
		*val++ = '\0';
		if (!strcmp(kv, "subnet")) {
			if (snprintf(n->subnet, sizeof(n->subnet), "%s", val) >= (int)sizeof(n->subnet))
				return fail(err, errlen, "subnet=%s: expected A.B.C.D/N", val);
		} else if (!strcmp(kv, "ip")) {
			if (inet_pton(AF_INET, val, &a) != 1)
				return fail(err, errlen, "ip=%s: expected A.B.C.D", val);
			ip = ntohl(a.s_addr);
		} else if (!strcmp(kv, "mac")) {
			if (parse_mac(val, n->mac))
				return fail(err, errlen, "mac=%s: expected a unicast xx:xx:xx:xx:xx:xx",
					    val);
		} else if (!strcmp(kv, "vni")) {
			char *end;
			unsigned long v = strtoul(val, &end, 10);

			if (*end || !*val || v > 0xffffff)
				return fail(err, errlen, "vni=%s: 0 to 16777215 (24 bits)", val);
			n->vni = (unsigned)v;
		} else if (!strcmp(kv, "conntrack")) {
			char *end;
			unsigned long v = strtoul(val, &end, 10);

			if (*end || !*val || v < 16 || v > NIC_CONNTRACK_MAX)
				return fail(err, errlen, "conntrack=%s: 16 to 4194304 flows", val);
			n->conntrack = (unsigned)v;
		} else if (!strcmp(kv, "encap")) {
			if (strcmp(val, "vxlan") && strcmp(val, "geneve"))
				return fail(err, errlen, "encap=%s: vxlan or geneve", val);
			snprintf(n->encap, sizeof(n->encap), "%s", val);
		} else if (!strcmp(kv, "underlay")) {
			if (!strchr(val, ':') ||
			    snprintf(n->underlay, sizeof(n->underlay), "%s", val) >=
				    (int)sizeof(n->underlay))
				return fail(err, errlen, "underlay=%s: expected ADDR:PORT", val);
			n->underlay_given = true;
		} else if (!strcmp(kv, "id")) {
			if (!eni_id_valid(val))
				return fail(err, errlen, "id=%s: expected eni- and 17 hex digits", val);
			snprintf(n->id, sizeof(n->id), "%s", val);
		} else if (!strcmp(kv, "sg") || !strcmp(kv, "mapping")) {
			char *dst = !strcmp(kv, "sg") ? n->sg : n->mapping;

			if (set_path(dst, val)) {
				snprintf(err, errlen, "%s=%s: %s", kv, val, strerror(errno));
				return -EINVAL;
			}
		} else {
			return fail(err, errlen, "unknown key \"%s\" (subnet, ip, mac, vni, encap, "
				    "underlay, sg, mapping, conntrack, id)", kv);
		}
	}
	if (!n->subnet[0])
		return fail(err, errlen, "%s", "subnet= is required, e.g. subnet=10.0.1.0/24");
	slash = strchr(n->subnet, '/');
	prefix = slash ? strtoul(slash + 1, NULL, 10) : 0;
	if (!slash || prefix < 16 || prefix > 28)
		return fail(err, errlen, "subnet=%s: a VPC subnet is /16 to /28", n->subnet);
	*slash = '\0';
	if (inet_pton(AF_INET, n->subnet, &a) != 1)
		return fail(err, errlen, "subnet=%s: expected A.B.C.D/N", n->subnet);
	*slash = '/';
	base = ntohl(a.s_addr);
	mask = ~0u << (32 - prefix);
	size = ~mask + 1;
	if (base & ~mask)
		return fail(err, errlen, "subnet=%s: host bits set", n->subnet);
	if (ip) {
		host = ip - base;
		if ((ip & mask) != base || host < 4 || host == size - 1)
			return fail(err, errlen, "ip= must be in %s, not its first four or last "
				    "address (AWS reserves them)", n->subnet);
		a.s_addr = htonl(ip);
		inet_ntop(AF_INET, &a, n->ipv4, sizeof(n->ipv4));
		n->ip_given = true;
	} else {
		pick_ip(n, (uint32_t)rnd[14] << 8 | rnd[15]);
	}
	if (!n->underlay[0])
		snprintf(n->underlay, sizeof(n->underlay), "0.0.0.0:%u",
			 strcmp(n->encap, "vxlan") ? GENEVE_PORT : VXLAN_PORT);
	return 0;
}
