/* SPDX-License-Identifier: Apache-2.0 */
/* Connection tracking; states, timeouts and eviction policy in conntrack.h. */
#include "cards/vpc/conntrack.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "cards/vpc/pkt.h"

#define NIL UINT32_MAX
#define SEC 1000000000ULL
/* Oldest entries looked at for an expired one before evicting. */
#define RECLAIM_SCAN 8

enum { AGE_UNREPLIED, AGE_REPLIED, AGE_FREE };
enum ct_dir { ORIG, REPLY };

#define FIN_ORIG 0x1
#define FIN_REPLY 0x2

struct vpc_ct_entry {
	struct vpc_flow_key key;  /* original direction */
	uint64_t expires;
	uint32_t hnext;           /* bucket chain */
	uint32_t prev, next;      /* age list, or free list (next only) */
	uint8_t state;            /* enum vpc_ct_state */
	uint8_t list;             /* AGE_* */
	uint8_t fins;             /* FIN_* seen */
	uint8_t last_fin;         /* enum ct_dir of the second FIN */
};

/* nf_conntrack's defaults (net/netfilter/nf_conntrack_proto_{tcp,udp,icmp}.c). */
const struct vpc_ct_timeouts vpc_ct_default_timeouts = {
	.tcp = {
		[VPC_CT_SYN_SENT] = 120 * SEC,
		[VPC_CT_SYN_RECV] = 60 * SEC,
		[VPC_CT_ESTABLISHED] = 5 * 24 * 3600 * SEC,
		[VPC_CT_FIN_WAIT] = 120 * SEC,
		[VPC_CT_LAST_ACK] = 30 * SEC,
		[VPC_CT_TIME_WAIT] = 120 * SEC,
		[VPC_CT_CLOSE] = 10 * SEC,
	},
	.udp_unreplied = 30 * SEC,
	.udp_replied = 120 * SEC,
	.icmp = 30 * SEC,
};

int vpc_ct_init(struct vpc_ct *ct, uint32_t max,
		const struct vpc_hash_secret *secret)
{
	uint32_t nb = 1;

	if (!max || max >= NIL / 2)
		return -EINVAL;
	memset(ct, 0, sizeof(*ct));
	while (nb < max)
		nb <<= 1;
	ct->e = calloc(max, sizeof(*ct->e));
	ct->bucket = malloc(nb * sizeof(*ct->bucket));
	if (!ct->e || !ct->bucket) {
		vpc_ct_destroy(ct);
		return -ENOMEM;
	}
	if (secret)
		ct->secret = *secret;
	else if (getrandom(&ct->secret, sizeof(ct->secret), 0) !=
		 sizeof(ct->secret)) {
		vpc_ct_destroy(ct);
		return -EIO;
	}
	memset(ct->bucket, 0xff, nb * sizeof(*ct->bucket));
	ct->bucket_mask = nb - 1;
	ct->max = max;
	for (uint32_t i = 0; i < max; i++) {
		ct->e[i].list = AGE_FREE;
		ct->e[i].next = i + 1 < max ? i + 1 : NIL;
	}
	ct->free_head = 0;
	ct->age[0].head = ct->age[0].tail = NIL;
	ct->age[1].head = ct->age[1].tail = NIL;
	ct->to = vpc_ct_default_timeouts;
	return 0;
}

void vpc_ct_destroy(struct vpc_ct *ct)
{
	free(ct->e);
	free(ct->bucket);
	ct->e = NULL;
	ct->bucket = NULL;
}

bool vpc_ct_tcp_flags_valid(uint8_t flags)
{
	/* The combinations nf_conntrack's tcp_valid_flags[] accepts. */
	switch (flags & ~(TCP_PSH | TCP_URG | TCP_ECE | TCP_CWR)) {
	case TCP_SYN:
	case TCP_SYN | TCP_ACK:
	case TCP_RST:
	case TCP_RST | TCP_ACK:
	case TCP_FIN | TCP_ACK:
	case TCP_ACK:
		return true;
	default:
		return false;
	}
}

/* Both directions of a flow hash alike: one bucket holds the entry. */
static uint32_t bucket_of(const struct vpc_ct *ct, const struct vpc_flow_key *k)
{
	uint64_t a = (uint64_t)k->saddr << 16 | k->sport;
	uint64_t b = (uint64_t)k->daddr << 16 | k->dport;
	struct vpc_flow_key canon = *k;

	if (a > b)
		canon = vpc_flow_key_reverse(k);
	return (uint32_t)vpc_flow_hash(&canon, &ct->secret) & ct->bucket_mask;
}

static void age_unlink(struct vpc_ct *ct, uint32_t i)
{
	struct vpc_ct_entry *e = &ct->e[i];

	if (e->prev != NIL)
		ct->e[e->prev].next = e->next;
	else
		ct->age[e->list].head = e->next;
	if (e->next != NIL)
		ct->e[e->next].prev = e->prev;
	else
		ct->age[e->list].tail = e->prev;
}

/* Appends @i as the most recently active entry of list @list. */
static void age_append(struct vpc_ct *ct, uint32_t i, uint8_t list)
{
	struct vpc_ct_entry *e = &ct->e[i];

	e->list = list;
	e->next = NIL;
	e->prev = ct->age[list].tail;
	if (e->prev != NIL)
		ct->e[e->prev].next = i;
	else
		ct->age[list].head = i;
	ct->age[list].tail = i;
}

static void entry_free(struct vpc_ct *ct, uint32_t i)
{
	struct vpc_ct_entry *e = &ct->e[i];
	uint32_t *p = &ct->bucket[bucket_of(ct, &e->key)];

	while (*p != i)
		p = &ct->e[*p].hnext;
	*p = e->hnext;
	age_unlink(ct, i);
	e->list = AGE_FREE;
	e->next = ct->free_head;
	ct->free_head = i;
	ct->count--;
}

static bool expired(const struct vpc_ct_entry *e, uint64_t now)
{
	return now >= e->expires;
}

/* The live entry for @k in either direction; frees an expired one met. */
static uint32_t lookup(struct vpc_ct *ct, const struct vpc_flow_key *k,
		       uint64_t now, enum ct_dir *dir)
{
	struct vpc_flow_key rev = vpc_flow_key_reverse(k);
	uint32_t i = ct->bucket[bucket_of(ct, k)];

	for (; i != NIL; i = ct->e[i].hnext) {
		struct vpc_ct_entry *e = &ct->e[i];

		if (!memcmp(&e->key, k, sizeof(*k)))
			*dir = ORIG;
		else if (!memcmp(&e->key, &rev, sizeof(rev)))
			*dir = REPLY;
		else
			continue;
		if (expired(e, now)) {
			ct->stats.expired++;
			entry_free(ct, i);
			return NIL;
		}
		return i;
	}
	return NIL;
}

static uint64_t timeout_of(const struct vpc_ct *ct, const struct vpc_ct_entry *e)
{
	switch (e->key.proto) {
	case IPPROTO_TCP_:
		return ct->to.tcp[e->state];
	case IPPROTO_ICMP_:
		return ct->to.icmp;
	default:
		return e->list == AGE_REPLIED ? ct->to.udp_replied
					      : ct->to.udp_unreplied;
	}
}

/* A packet was seen: it is now the most recently active of its list. */
static void touch(struct vpc_ct *ct, uint32_t i, enum ct_dir dir, uint64_t now)
{
	struct vpc_ct_entry *e = &ct->e[i];
	uint8_t list = e->list == AGE_REPLIED || dir == REPLY ? AGE_REPLIED
							      : AGE_UNREPLIED;

	age_unlink(ct, i);
	age_append(ct, i, list);
	e->expires = now + timeout_of(ct, e);
}

/*
 * The TCP state machine, a subset of nf_conntrack's tcp_conntracks[] table
 * without sequence-number windows.  Returns false for a packet that is
 * invalid in the current state.
 */
static bool tcp_step(struct vpc_ct_entry *e, enum ct_dir dir, uint8_t flags)
{
	bool syn = flags & TCP_SYN, ack = flags & TCP_ACK, fin = flags & TCP_FIN;

	if (flags & TCP_RST) {
		e->state = VPC_CT_CLOSE;
		return true;
	}
	switch (e->state) {
	case VPC_CT_SYN_SENT:
		if (dir == ORIG)
			return syn && !ack;              /* SYN retransmitted */
		if (!(syn && ack))
			return false;
		e->state = VPC_CT_SYN_RECV;
		return true;
	case VPC_CT_TIME_WAIT:
	case VPC_CT_CLOSE:
		/* A new connection reusing the 5-tuple (RFC 9293 §3.6.1). */
		if (dir == ORIG && syn && !ack) {
			e->state = VPC_CT_SYN_SENT;
			e->fins = 0;
		}
		return true;
	case VPC_CT_SYN_RECV:
		if (syn)
			return true;                     /* handshake retransmits */
		if (dir == ORIG && ack)
			e->state = VPC_CT_ESTABLISHED;
		break;
	default:
		break;
	}
	if (syn)
		return true;    /* stray SYN on an open connection: no change */
	if (fin) {
		e->fins |= dir == ORIG ? FIN_ORIG : FIN_REPLY;
		if (e->fins == (FIN_ORIG | FIN_REPLY)) {
			e->state = VPC_CT_LAST_ACK;
			e->last_fin = (uint8_t)dir;
		} else {
			e->state = VPC_CT_FIN_WAIT;
		}
	} else if (e->state == VPC_CT_LAST_ACK && ack && dir != e->last_fin) {
		e->state = VPC_CT_TIME_WAIT;
	}
	return true;
}

static bool icmp_is_echo_of(uint8_t type, enum ct_dir dir)
{
	return type == (dir == ORIG ? ICMP_ECHO_REQUEST : ICMP_ECHO_REPLY);
}

int vpc_ct_track(struct vpc_ct *ct, const struct vpc_flow *fl, uint64_t now,
		 enum vpc_drop *reason)
{
	enum ct_dir dir;
	uint32_t i;
	bool valid = true;

	/* Only echoes have entries; other ICMP's zero "ports" could match id 0. */
	if (fl->key.proto == IPPROTO_ICMP_ && fl->icmp_type != ICMP_ECHO_REQUEST &&
	    fl->icmp_type != ICMP_ECHO_REPLY)
		return -ENOENT;
	i = lookup(ct, &fl->key, now, &dir);
	if (i == NIL)
		return -ENOENT;
	if (fl->key.proto == IPPROTO_TCP_) {
		uint8_t was = ct->e[i].state;

		valid = tcp_step(&ct->e[i], dir, fl->tcp_flags);
		/* A reopened connection has to earn its reply again. */
		if (ct->e[i].state == VPC_CT_SYN_SENT && was != VPC_CT_SYN_SENT) {
			age_unlink(ct, i);
			age_append(ct, i, AGE_UNREPLIED);
		}
	}
	else if (fl->key.proto == IPPROTO_ICMP_)
		valid = icmp_is_echo_of(fl->icmp_type, dir);
	if (!valid) {
		ct->stats.invalid++;
		*reason = VPC_DROP_CT_INVALID;
		return -EPERM;
	}
	touch(ct, i, dir, now);
	return 0;
}

/* A free slot for a new entry, by the policy in conntrack.h. */
static uint32_t entry_alloc(struct vpc_ct *ct, uint64_t now)
{
	uint32_t i;

	if (ct->free_head != NIL)
		goto take;
	for (int l = 0; l < 2; l++) {
		i = ct->age[l].head;
		for (int n = 0; n < RECLAIM_SCAN && i != NIL; n++, i = ct->e[i].next) {
			if (expired(&ct->e[i], now)) {
				ct->stats.expired++;
				entry_free(ct, i);
				goto take;
			}
		}
	}
	i = ct->age[AGE_UNREPLIED].head;
	if (i == NIL)
		return NIL;
	ct->stats.evicted++;
	entry_free(ct, i);
take:
	i = ct->free_head;
	ct->free_head = ct->e[i].next;
	ct->count++;
	return i;
}

int vpc_ct_create(struct vpc_ct *ct, const struct vpc_flow *fl, uint64_t now,
		  enum vpc_drop *reason)
{
	uint8_t state = VPC_CT_NONE;
	struct vpc_ct_entry *e;
	uint32_t i, *b;

	switch (fl->key.proto) {
	case IPPROTO_TCP_:
		if (fl->tcp_flags & TCP_RST)
			return 0;
		/*
		 * A connection met mid-stream (the card restarted) is picked
		 * up as established, like nf_conntrack_tcp_loose; it stays
		 * evictable until the other side answers.
		 */
		state = (fl->tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN
				? VPC_CT_SYN_SENT : VPC_CT_ESTABLISHED;
		break;
	case IPPROTO_ICMP_:
		if (fl->icmp_type != ICMP_ECHO_REQUEST)
			return 0;
		break;
	default:
		break;
	}
	i = entry_alloc(ct, now);
	if (i == NIL) {
		ct->stats.full++;
		*reason = VPC_DROP_CT_FULL;
		return -EPERM;
	}
	e = &ct->e[i];
	*e = (struct vpc_ct_entry){ .key = fl->key, .state = state };
	b = &ct->bucket[bucket_of(ct, &e->key)];
	e->hnext = *b;
	*b = i;
	age_append(ct, i, AGE_UNREPLIED);
	e->expires = now + timeout_of(ct, e);
	ct->stats.created++;
	return 0;
}

bool vpc_ct_related(struct vpc_ct *ct, const struct vpc_flow *fl, uint64_t now)
{
	enum ct_dir dir;

	return fl->has_inner && lookup(ct, &fl->inner, now, &dir) != NIL;
}

int vpc_ct_state(struct vpc_ct *ct, const struct vpc_flow_key *key,
		 uint64_t now, bool *replied)
{
	enum ct_dir dir;
	uint32_t i = lookup(ct, key, now, &dir);

	if (i == NIL)
		return -ENOENT;
	if (replied)
		*replied = ct->e[i].list == AGE_REPLIED;
	return ct->e[i].state;
}

uint32_t vpc_ct_expire(struct vpc_ct *ct, uint64_t now, uint32_t budget)
{
	uint32_t freed = 0;

	for (; budget; budget--) {
		uint32_t i = ct->gc_cursor;

		ct->gc_cursor = i + 1 < ct->max ? i + 1 : 0;
		if (ct->e[i].list != AGE_FREE && expired(&ct->e[i], now)) {
			entry_free(ct, i);
			ct->stats.expired++;
			freed++;
		}
	}
	return freed;
}
