/* SPDX-License-Identifier: Apache-2.0 */
/* The mapping table file (format in mapping.h) and its lookup. */
#include "cards/vpc/mapping.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cards/vpc/textfile.h"

#define MAPPING_FILE_MAX (64u << 20)

static int cmp_key(uint32_t vni_a, uint32_t ip_a, uint32_t vni_b, uint32_t ip_b)
{
	if (vni_a != vni_b)
		return vni_a < vni_b ? -1 : 1;
	ip_a = ntohl(ip_a);
	ip_b = ntohl(ip_b);
	return ip_a < ip_b ? -1 : ip_a > ip_b;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct vpc_map_entry *x = a, *y = b;

	return cmp_key(x->vni, x->ip, y->vni, y->ip);
}

/* "a.b.c.d" or "a.b.c.d:port" */
static int parse_endpoint(const char *s, struct vpc_map_entry *e)
{
	char addr[16], *colon = strchr(s, ':');
	uint32_t port;

	if (!colon)
		colon = (char *)s + strlen(s);
	if ((size_t)(colon - s) >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, s, (size_t)(colon - s));
	addr[colon - s] = '\0';
	if (vpc_parse_ipv4(addr, &e->underlay_ip))
		return -EINVAL;
	if (*colon) {
		if (vpc_parse_uint(colon + 1, UINT16_MAX, &port) || !port)
			return -EINVAL;
		e->port = (uint16_t)port;
	}
	return 0;
}

static int parse_line(const struct vpc_lines *it, struct vpc_map_entry *e,
		      char *err, size_t errlen)
{
	char *const *tok = it->tok;

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
	if (parse_endpoint(tok[2], e))
		return vpc_line_err(it, err, errlen,
				    "bad underlay address '%s'", tok[2]);
	if (it->ntok == 4 && !strcmp(tok[3], "geneve"))
		e->encap = VPC_ENCAP_GENEVE;
	else if (it->ntok == 4 && strcmp(tok[3], "vxlan"))
		return vpc_line_err(it, err, errlen,
				    "encapsulation '%s' is not vxlan or geneve",
				    tok[3]);
	if (!e->port)
		e->port = e->encap == VPC_ENCAP_GENEVE ? VPC_GENEVE_PORT
						       : VPC_VXLAN_PORT;
	return 0;
}

static int parse_all(struct vpc_lines *it, struct vpc_map_entry **out,
		     size_t *count, char *err, size_t errlen)
{
	struct vpc_map_entry *e = NULL, *grown;
	size_t n = 0, cap = 0;
	int ret;

	while ((ret = vpc_lines_next(it, err, errlen)) > 0) {
		if (n == VPC_MAPPING_MAX) {
			vpc_line_err(it, err, errlen, "more than %u mappings",
				     VPC_MAPPING_MAX);
			ret = -E2BIG;
			break;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			grown = realloc(e, cap * sizeof(*e));
			if (!grown) {
				ret = -ENOMEM;
				break;
			}
			e = grown;
		}
		ret = parse_line(it, &e[n], err, errlen);
		if (ret)
			break;
		n++;
	}
	if (ret) {
		free(e);
		return ret;
	}
	*out = e;
	*count = n;
	return 0;
}

int vpc_mapping_parse(struct vpc_mapping *m, const char *text, size_t len,
		      char *err, size_t errlen)
{
	struct vpc_lines *it = malloc(sizeof(*it));
	struct vpc_map_entry *e;
	size_t n;
	int ret;

	if (!it)
		return -ENOMEM;
	vpc_lines_init(it, text, len);
	ret = parse_all(it, &e, &n, err, errlen);
	if (ret) {
		free(it);
		return ret;
	}
	if (n)
		qsort(e, n, sizeof(*e), cmp_entry);
	for (size_t i = 1; i < n; i++) {
		if (cmp_entry(&e[i - 1], &e[i]))
			continue;
		const struct vpc_map_entry *a = &e[i - 1], *b = &e[i];
		char ip[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &a->ip, ip, sizeof(ip));
		it->lineno = a->line > b->line ? a->line : b->line;
		vpc_line_err(it, err, errlen,
			     "VNI %u address %s already mapped on line %u",
			     a->vni, ip,
			     a->line < b->line ? a->line : b->line);
		free(e);
		free(it);
		return -EINVAL;
	}
	free(it);
	free(m->e);
	m->e = e;
	m->n = n;
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
	free(m->e);
	m->e = NULL;
	m->n = 0;
}

const struct vpc_map_entry *vpc_mapping_lookup(const struct vpc_mapping *m,
					       uint32_t vni, uint32_t ip)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = cmp_key(vni, ip, m->e[mid].vni, m->e[mid].ip);

		if (!c)
			return &m->e[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}
