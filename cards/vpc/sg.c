/* SPDX-License-Identifier: Apache-2.0 */
/* Security-group rules: matching and the rule-file parser (format in sg.h). */
#include "cards/vpc/sg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cards/vpc/pkt.h"
#include "cards/vpc/textfile.h"

#define SG_FILE_MAX (1u << 20)

static const struct vpc_sg_rule default_egress = {
	.dir = VPC_DIR_EGRESS, .proto = VPC_SG_ALL,
	.icmp_type = VPC_SG_ANY, .icmp_code = VPC_SG_ANY,
};

int vpc_sg_init(struct vpc_sg *sg)
{
	sg->rules = malloc(sizeof(*sg->rules));
	if (!sg->rules)
		return -ENOMEM;
	sg->rules[0] = default_egress;
	sg->n = 1;
	return 0;
}

void vpc_sg_free(struct vpc_sg *sg)
{
	free(sg->rules);
	sg->rules = NULL;
	sg->n = 0;
}

static bool rule_allows(const struct vpc_sg_rule *r, enum vpc_dir dir,
			const struct vpc_flow *fl)
{
	uint32_t remote = ntohl(dir == VPC_DIR_INGRESS ? fl->key.saddr
						       : fl->key.daddr);

	if (r->dir != dir || (remote & r->mask) != r->net)
		return false;
	switch (r->proto) {
	case VPC_SG_ALL:
		return true;
	case VPC_SG_TCP:
	case VPC_SG_UDP:
		if (fl->key.proto != (r->proto == VPC_SG_TCP ? IPPROTO_TCP_
							     : IPPROTO_UDP_))
			return false;
		return fl->key.dport >= r->port_lo && fl->key.dport <= r->port_hi;
	case VPC_SG_ICMP:
		return fl->key.proto == IPPROTO_ICMP_ &&
		       (r->icmp_type == VPC_SG_ANY || r->icmp_type == fl->icmp_type) &&
		       (r->icmp_code == VPC_SG_ANY || r->icmp_code == fl->icmp_code);
	}
	return false;
}

bool vpc_sg_allows(const struct vpc_sg *sg, enum vpc_dir dir,
		   const struct vpc_flow *fl)
{
	for (size_t i = 0; i < sg->n; i++)
		if (rule_allows(&sg->rules[i], dir, fl))
			return true;
	return false;
}

/* "22", "5000-5100" or "all" into an inclusive range. */
static int parse_ports(const char *s, struct vpc_sg_rule *r)
{
	char lo[8], *dash = strchr(s, '-');
	uint32_t a, b;

	if (!strcmp(s, "all")) {
		r->port_lo = 0;
		r->port_hi = UINT16_MAX;
		return 0;
	}
	if (!dash)
		dash = (char *)s + strlen(s);
	if ((size_t)(dash - s) >= sizeof(lo))
		return -EINVAL;
	memcpy(lo, s, (size_t)(dash - s));
	lo[dash - s] = '\0';
	if (vpc_parse_uint(lo, UINT16_MAX, &a))
		return -EINVAL;
	b = a;
	if (*dash && (vpc_parse_uint(dash + 1, UINT16_MAX, &b) || b < a))
		return -EINVAL;
	r->port_lo = (uint16_t)a;
	r->port_hi = (uint16_t)b;
	return 0;
}

/* "8", "3:4" or "all" (RFC 792 type and code). */
static int parse_icmp(const char *s, struct vpc_sg_rule *r)
{
	char type[8], *colon = strchr(s, ':');
	uint32_t t, c;

	if (!strcmp(s, "all"))
		return 0;
	if (!colon)
		colon = (char *)s + strlen(s);
	if ((size_t)(colon - s) >= sizeof(type))
		return -EINVAL;
	memcpy(type, s, (size_t)(colon - s));
	type[colon - s] = '\0';
	if (vpc_parse_uint(type, UINT8_MAX, &t))
		return -EINVAL;
	r->icmp_type = (int16_t)t;
	if (*colon) {
		if (vpc_parse_uint(colon + 1, UINT8_MAX, &c))
			return -EINVAL;
		r->icmp_code = (int16_t)c;
	}
	return 0;
}

/* "a.b.c.d/len" or "a.b.c.d"; host bits must be clear (a typo otherwise). */
static int parse_cidr(const char *s, struct vpc_sg_rule *r)
{
	char addr[16], *slash = strchr(s, '/');
	uint32_t a, len = 32;

	if (!slash)
		slash = (char *)s + strlen(s);
	if ((size_t)(slash - s) >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	if (vpc_parse_ipv4(addr, &a) ||
	    (*slash && vpc_parse_uint(slash + 1, 32, &len)))
		return -EINVAL;
	r->mask = len ? UINT32_MAX << (32 - len) : 0;
	r->net = ntohl(a);
	return (r->net & ~r->mask) ? -EDOM : 0;
}

static int parse_rule(const struct vpc_lines *it, struct vpc_sg_rule *r,
		      char *err, size_t errlen)
{
	static const char *const protos[] = {
		[VPC_SG_ALL] = "all", [VPC_SG_TCP] = "tcp",
		[VPC_SG_UDP] = "udp", [VPC_SG_ICMP] = "icmp",
	};
	char *const *tok = it->tok;
	const char *cidr;
	int p, ret;

	*r = (struct vpc_sg_rule){
		.port_hi = UINT16_MAX,
		.icmp_type = VPC_SG_ANY, .icmp_code = VPC_SG_ANY,
	};
	if (!strcmp(tok[0], "ingress"))
		r->dir = VPC_DIR_INGRESS;
	else if (!strcmp(tok[0], "egress"))
		r->dir = VPC_DIR_EGRESS;
	else
		return vpc_line_err(it, err, errlen,
				    "direction '%s' is not ingress or egress",
				    tok[0]);
	if (it->ntok < 3 || it->ntok > 4)
		return vpc_line_err(it, err, errlen,
				    "expected DIR PROTO [PORTS|TYPE] CIDR");
	for (p = 0; p < 4 && strcmp(tok[1], protos[p]); p++)
		;
	if (p == 4)
		return vpc_line_err(it, err, errlen,
				    "protocol '%s' is not tcp, udp, icmp or all",
				    tok[1]);
	r->proto = (enum vpc_sg_proto)p;
	if (it->ntok == 4) {
		if (r->proto == VPC_SG_ALL)
			return vpc_line_err(it, err, errlen,
					    "protocol all takes no ports");
		ret = r->proto == VPC_SG_ICMP ? parse_icmp(tok[2], r)
					      : parse_ports(tok[2], r);
		if (ret)
			return vpc_line_err(it, err, errlen,
					    r->proto == VPC_SG_ICMP
						    ? "bad ICMP type[:code] '%s'"
						    : "bad port range '%s'",
					    tok[2]);
	}
	cidr = tok[it->ntok - 1];
	ret = parse_cidr(cidr, r);
	if (ret == -EDOM)
		return vpc_line_err(it, err, errlen,
				    "CIDR '%s' has host bits set", cidr);
	if (ret)
		return vpc_line_err(it, err, errlen, "bad CIDR '%s'", cidr);
	return 0;
}

int vpc_sg_parse(struct vpc_sg *sg, const char *text, size_t len, char *err,
		 size_t errlen)
{
	struct vpc_lines *it = malloc(sizeof(*it));
	struct vpc_sg_rule *rules = NULL, *grown;
	size_t n = 0, cap = 0;
	int ret;

	if (!it)
		return -ENOMEM;
	vpc_lines_init(it, text, len);
	while ((ret = vpc_lines_next(it, err, errlen)) > 0) {
		if (n == VPC_SG_MAX_RULES) {
			vpc_line_err(it, err, errlen, "more than %d rules",
				     VPC_SG_MAX_RULES);
			ret = -E2BIG;
			break;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			grown = realloc(rules, cap * sizeof(*rules));
			if (!grown) {
				ret = -ENOMEM;
				break;
			}
			rules = grown;
		}
		ret = parse_rule(it, &rules[n], err, errlen);
		if (ret)
			break;
		n++;
	}
	free(it);
	if (ret) {
		free(rules);
		return ret;
	}
	free(sg->rules);
	sg->rules = rules;
	sg->n = n;
	return 0;
}

int vpc_sg_load(struct vpc_sg *sg, const char *path, char *err, size_t errlen)
{
	char *text;
	size_t len;
	int ret;

	ret = vpc_read_file(path, SG_FILE_MAX, &text, &len);
	if (ret)
		return ret;
	ret = vpc_sg_parse(sg, text, len, err, errlen);
	free(text);
	return ret;
}
