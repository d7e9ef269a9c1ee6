/* SPDX-License-Identifier: Apache-2.0 */
/* The mapping table (format and structure in mapping.h): file, updates, lookup. */
#include "cards/vpc/mapping.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cards/vpc/textfile.h"

#define MAPPING_FILE_MAX (64u << 20)
#define MAPPING_MIN_CAP 16
/* Grow past 70% load: linear probing's probe lengths climb steeply beyond. */
#define MAPPING_LOAD_NUM 7
#define MAPPING_LOAD_DEN 10

/*
 * The home slot of (@vni, @ip): MurmurHash3's 64-bit finalizer (fmix64)
 * over the 56-bit key, so every key bit moves every index bit and a run of
 * addresses in one VNI does not pile up in one run of slots.  Not keyed:
 * the entries come from the operator (file, fleet agent), never from a
 * guest, and a guest only chooses which key to look up.
 */
static size_t home(const struct vpc_mapping *m, uint32_t vni, uint32_t ip)
{
	uint64_t k = (uint64_t)vni << 32 | ip;

	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ull;
	k ^= k >> 33;
	return (size_t)k & (m->cap - 1);
}

/*
 * The slot holding (@vni, @ip), or the free slot that ends its probe
 * sequence.  The load limit keeps a free slot, so the walk ends.
 */
static size_t probe(const struct vpc_mapping *m, uint32_t vni, uint32_t ip)
{
	size_t mask = m->cap - 1, i = home(m, vni, ip);

	while (m->slot[i].port && (m->slot[i].vni != vni || m->slot[i].ip != ip))
		i = (i + 1) & mask;
	return i;
}

static int resize(struct vpc_mapping *m, size_t cap)
{
	struct vpc_mapping grown = { .slot = calloc(cap, sizeof(*grown.slot)), .cap = cap,
				     .n = m->n };

	if (!grown.slot)
		return -ENOMEM;
	for (size_t i = 0; i < m->cap; i++)
		if (m->slot[i].port)
			grown.slot[probe(&grown, m->slot[i].vni, m->slot[i].ip)] = m->slot[i];
	free(m->slot);
	*m = grown;
	return 0;
}

/*
 * Empty slot @hole, then walk the cluster after it: an entry whose probe
 * path (its home slot up to where it sits) passes the hole moves back into
 * it, and its old slot is the new hole.  So every entry stays reachable
 * from its home without tombstones (Knuth, TAOCP vol. 3, 6.4 Algorithm R).
 */
static void remove_at(struct vpc_mapping *m, size_t hole)
{
	size_t mask = m->cap - 1;

	for (size_t j = (hole + 1) & mask; m->slot[j].port; j = (j + 1) & mask) {
		size_t h = home(m, m->slot[j].vni, m->slot[j].ip);

		if (((j - h) & mask) >= ((j - hole) & mask)) {
			m->slot[hole] = m->slot[j];
			hole = j;
		}
	}
	m->slot[hole] = (struct vpc_map_entry){ 0 };
	m->n--;
}

const struct vpc_map_entry *vpc_mapping_lookup(const struct vpc_mapping *m,
					       uint32_t vni, uint32_t ip)
{
	size_t i;

	if (!m->n)
		return NULL;
	i = probe(m, vni, ip);
	return m->slot[i].port ? &m->slot[i] : NULL;
}

int vpc_mapping_set(struct vpc_mapping *m, const struct vpc_map_entry *e)
{
	size_t i;
	int ret;

	if (e->vni > VPC_VNI_MAX || !e->port ||
	    (e->encap != VPC_ENCAP_VXLAN && e->encap != VPC_ENCAP_GENEVE))
		return -EINVAL;
	if (m->cap) {
		i = probe(m, e->vni, e->ip);
		if (m->slot[i].port) {
			m->slot[i] = *e;
			return 0;
		}
	}
	if (m->n == VPC_MAPPING_MAX)
		return -E2BIG;
	if ((m->n + 1) * MAPPING_LOAD_DEN > m->cap * MAPPING_LOAD_NUM) {
		ret = resize(m, m->cap ? m->cap * 2 : MAPPING_MIN_CAP);
		if (ret)
			return ret;
	}
	m->slot[probe(m, e->vni, e->ip)] = *e;
	m->n++;
	return 0;
}

int vpc_mapping_remove(struct vpc_mapping *m, uint32_t vni, uint32_t ip)
{
	size_t i;

	if (!m->n)
		return 0;
	i = probe(m, vni, ip);
	if (!m->slot[i].port)
		return 0;
	remove_at(m, i);
	return 1;
}

size_t vpc_mapping_prune(struct vpc_mapping *m, uint64_t below)
{
	size_t removed = 0;

	/*
	 * remove_at() only moves entries backwards into the hole, so slot i
	 * is looked at again after a removal and no entry is skipped; one
	 * moved from the start of the table to its end is looked at twice.
	 */
	for (size_t i = 0; i < m->cap;) {
		if (m->slot[i].port && m->slot[i].gen < below) {
			remove_at(m, i);
			removed++;
		} else {
			i++;
		}
	}
	return removed;
}

int vpc_mapping_parse_underlay(struct vpc_map_entry *e, const char *addr,
			       const char *encap)
{
	char host[INET_ADDRSTRLEN];
	const char *colon = strchr(addr, ':');
	size_t hostlen = colon ? (size_t)(colon - addr) : strlen(addr);
	uint32_t ip, port = 0;
	enum vpc_encap kind = VPC_ENCAP_VXLAN;

	if (hostlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, addr, hostlen);
	host[hostlen] = '\0';
	if (vpc_parse_ipv4(host, &ip) ||
	    (colon && (vpc_parse_uint(colon + 1, UINT16_MAX, &port) || !port)))
		return -EINVAL;
	if (encap && vpc_encap_parse(encap, &kind))
		return -EPROTONOSUPPORT;
	e->underlay_ip = ip;
	e->port = port ? (uint16_t)port
		       : kind == VPC_ENCAP_GENEVE ? VPC_GENEVE_PORT : VPC_VXLAN_PORT;
	e->encap = kind;
	return 0;
}

static int parse_line(const struct vpc_lines *it, struct vpc_map_entry *e,
		      char *err, size_t errlen)
{
	char *const *tok = it->tok;
	int ret;

	*e = (struct vpc_map_entry){ .line = it->lineno };
	if (it->ntok < 3 || it->ntok > 4)
		return vpc_line_err(it, err, errlen,
				    "expected VNI PRIVATE_IP UNDERLAY_IP[:PORT] [vxlan|geneve]");
	if (vpc_parse_uint(tok[0], VPC_VNI_MAX, &e->vni))
		return vpc_line_err(it, err, errlen,
				    "VNI '%s' is not 0..%u", tok[0], VPC_VNI_MAX);
	if (vpc_parse_ipv4(tok[1], &e->ip))
		return vpc_line_err(it, err, errlen,
				    "bad private address '%s'", tok[1]);
	ret = vpc_mapping_parse_underlay(e, tok[2], it->ntok == 4 ? tok[3] : NULL);
	if (ret == -EPROTONOSUPPORT)
		return vpc_line_err(it, err, errlen,
				    "encapsulation '%s' is not vxlan or geneve",
				    tok[3]);
	if (ret)
		return vpc_line_err(it, err, errlen,
				    "bad underlay address '%s'", tok[2]);
	return 0;
}

/* One line's entry into @t, which must not map its (VNI, address) yet. */
static int add_line(struct vpc_mapping *t, const struct vpc_lines *it, char *err,
		    size_t errlen)
{
	const struct vpc_map_entry *dup;
	struct vpc_map_entry e;
	char ip[INET_ADDRSTRLEN];
	int ret;

	if (t->n == VPC_MAPPING_MAX) {
		vpc_line_err(it, err, errlen, "more than %u mappings", VPC_MAPPING_MAX);
		return -E2BIG;
	}
	ret = parse_line(it, &e, err, errlen);
	if (ret)
		return ret;
	dup = vpc_mapping_lookup(t, e.vni, e.ip);
	if (dup) {
		inet_ntop(AF_INET, &e.ip, ip, sizeof(ip));
		return vpc_line_err(it, err, errlen,
				    "VNI %u address %s already mapped on line %u",
				    e.vni, ip, dup->line);
	}
	return vpc_mapping_set(t, &e);
}

int vpc_mapping_parse(struct vpc_mapping *m, const char *text, size_t len,
		      char *err, size_t errlen)
{
	struct vpc_lines *it = malloc(sizeof(*it));
	struct vpc_mapping t = { 0 };
	int ret;

	if (!it)
		return -ENOMEM;
	vpc_lines_init(it, text, len);
	while ((ret = vpc_lines_next(it, err, errlen)) > 0) {
		ret = add_line(&t, it, err, errlen);
		if (ret)
			break;
	}
	free(it);
	if (ret) {
		vpc_mapping_free(&t);
		return ret;
	}
	vpc_mapping_free(m);
	*m = t;
	return 0;
}

int vpc_mapping_load(struct vpc_mapping *m, const char *path, char *err,
		     size_t errlen)
{
	char *text;
	size_t len;
	int ret;

	ret = vpc_read_file(path, MAPPING_FILE_MAX, &text, &len);
	if (ret)
		return ret;
	ret = vpc_mapping_parse(m, text, len, err, errlen);
	free(text);
	return ret;
}

void vpc_mapping_free(struct vpc_mapping *m)
{
	free(m->slot);
	*m = (struct vpc_mapping){ 0 };
}
