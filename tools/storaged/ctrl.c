/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/lib/host_epoch.h"
#include "tools/lib/log.h"
#include "tools/storaged/ctrl.h"

/* CAP as the properties table defines it: MQES, CQR, TO, CSS NVM, MPS 4 KiB. */
#define CTRL_CAP ((uint64_t)CTRL_MQES | NVME_CAP_CQR | (uint64_t)CTRL_CAP_TO << 24 | \
		  NVME_CAP_CSS_NVM)
#define CTRL_VS NVME_VS(1, 4, 0)

/* Keep Alive Timer (Base, "Feature Identifiers"): Fabrics only, so not in guest-abi. */
#define FEAT_KEEP_ALIVE_TIMER 0x0f

#define DISCOVERY_NQN "nqn.2014-08.org.nvmexpress.discovery"

/*
 * Connect Invalid Parameters names the field in DW0 (NVMe over Fabrics 1.1,
 * "Connect Response"): bits 15:00 IPO, its byte offset; bits 23:16 IATTR,
 * whose bit 0 is set when the field is in the Connect data and clear when
 * it is in the SQE.
 */
static uint16_t invalid_param(uint32_t *dw0, bool in_data, size_t offset)
{
	*dw0 = (in_data ? NVMF_CONNECT_RSP_IATTR_DATA : 0) | NVMF_CONNECT_RSP_IPO(offset);
	return NVME_SC_CONNECT_INVALID_PARAM;
}

uint16_t ctrl_connect_parse(const struct nvmf_connect_cmd *cmd,
			    const struct nvmf_connect_data *d,
			    struct connect_req *r, uint32_t *dw0)
{
	*dw0 = 0;
	if (cmd->recfmt != NVMF_CONNECT_RECFMT)
		return NVME_SC_CONNECT_FORMAT;
	/* SQSIZE is 0's based and a queue holds at least two entries. */
	if (!cmd->sqsize || cmd->sqsize > CTRL_MQES)
		return invalid_param(dw0, false, offsetof(struct nvmf_connect_cmd, sqsize));
	if (cmd->qid > CTRL_MAX_IOQ)
		return invalid_param(dw0, false, offsetof(struct nvmf_connect_cmd, qid));
	/*
	 * Keep alive is required: a controller without it outlives a host that
	 * vanished, and its volume would stay attached for ever.  (The spec
	 * lets a host turn it off; a storage node that attaches volumes to
	 * one host at a time cannot.)
	 */
	if (!cmd->qid && !cmd->kato)
		return invalid_param(dw0, false, offsetof(struct nvmf_connect_cmd, kato));
	if (strnlen(d->hostnqn, sizeof(d->hostnqn)) == sizeof(d->hostnqn) || !d->hostnqn[0] ||
	    host_epoch_parse(d->hostnqn, &r->epoch, NULL))
		return invalid_param(dw0, true, offsetof(struct nvmf_connect_data, hostnqn));
	if (volume_id_from_nqn(d->subnqn, sizeof(d->subnqn), r->volume) < 0)
		return invalid_param(dw0, true, offsetof(struct nvmf_connect_data, subnqn));
	/* Dynamic controller model: the admin queue asks for "any" controller. */
	if ((cmd->qid == 0) != (d->cntlid == NVMF_CNTLID_DYNAMIC))
		return invalid_param(dw0, true, offsetof(struct nvmf_connect_data, cntlid));
	r->qid = cmd->qid;
	r->sqsize = cmd->sqsize;
	r->cntlid = d->cntlid;
	r->kato_ms = cmd->kato;
	return NVME_SC_SUCCESS;
}

uint16_t ctrl_connect_bound(const struct nvmf_connect_data *d, const char *hostnqn,
			    const char *subnqn, uint32_t *dw0)
{
	*dw0 = 0;
	/* Both fields are NUL-terminated: ctrl_connect_parse() checked. */
	if (strcmp(d->hostnqn, hostnqn))
		return NVME_SC_CONNECT_INVALID_HOST;
	if (strcmp(d->subnqn, subnqn))
		return invalid_param(dw0, true, offsetof(struct nvmf_connect_data, subnqn));
	return NVME_SC_SUCCESS;
}

static struct ctrl *find(struct ctrl_table *t, uint16_t cntlid)
{
	for (struct ctrl *c = t->head; c; c = c->next)
		if (c->cntlid == cntlid)
			return c;
	return NULL;
}

static uint16_t next_cntlid(struct ctrl_table *t)
{
	for (unsigned tries = 0; tries < CTRL_CNTLID_MAX; tries++) {
		t->last_cntlid = t->last_cntlid % CTRL_CNTLID_MAX + 1;
		if (!find(t, t->last_cntlid))
			return t->last_cntlid;
	}
	return 0;
}

/* The same host: the Connect data's HOSTID and HOSTNQN both match. */
static bool same_host(const struct ctrl *c, const struct nvmf_connect_data *d)
{
	return !memcmp(c->hostid, d->hostid, sizeof(c->hostid)) &&
	       !strncmp(c->hostnqn, d->hostnqn, sizeof(c->hostnqn));
}

static struct attachment *attachment_get(struct ctrl_table *t, const char *volume)
{
	struct attachment *a;

	for (a = t->attachments; a; a = a->next)
		if (!strcmp(a->volume, volume))
			return a;
	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	snprintf(a->volume, sizeof(a->volume), "%s", volume);
	a->next = t->attachments;
	t->attachments = a;
	return a;
}

/* Free an attachment no controller has (any more). */
static void attachment_drop(struct ctrl_table *t, struct attachment *a)
{
	if (a->nctrl)
		return;
	for (struct attachment **p = &t->attachments; *p; p = &(*p)->next) {
		if (*p == a) {
			*p = a->next;
			break;
		}
	}
	free(a);
}

static uint16_t ctrl_create(struct ctrl_table *t, const struct connect_req *r,
			    const struct nvmf_connect_data *d, uint64_t now_ms,
			    struct ctrl **out, uint32_t *dw0)
{
	struct attachment *a = attachment_get(t, r->volume);
	uint64_t admitted;
	uint16_t cntlid;
	struct ctrl *c;
	int err;

	*out = NULL;
	if (!a)
		return NVME_SC_INTERNAL;
	/*
	 * Epochs (docs/storaged.md): a lower one than the volume has admitted
	 * is a card of an attachment that has been replaced, however alive
	 * it is.  It may never write again: Connect Invalid Host, Do Not
	 * Retry.  A missing or damaged record admits nobody.
	 */
	err = volume_epoch_get(t->dir, r->volume, &admitted);
	if (err || r->epoch < admitted) {
		attachment_drop(t, a);
		if (err)
			return NVME_SC_INTERNAL;
		cv_warn("connect to volume %s refused (Connect Invalid Host): epoch %llu, the "
			"volume has admitted epoch %llu (fenced)", r->volume,
			(unsigned long long)r->epoch, (unsigned long long)admitted);
		return NVME_SC_CONNECT_INVALID_HOST;
	}
	/*
	 * Single attachment: two hosts writing one volume would corrupt it.
	 * Another host's Connect gets Controller Busy (SCT 1h, SC 81h), "the
	 * controller is already associated with a host" (NVMe over Fabrics
	 * 1.1, "Connect Command and Response", Connect command specific
	 * status values; the same table in Base 2.0), unless it comes from a
	 * newer attachment.
	 */
	if (a->holder && a->holder->state != CTRL_FAILED && !same_host(a->holder, d) &&
	    r->epoch == admitted) {
		*out = a->holder;
		return NVME_SC_CONNECT_CTRL_BUSY;
	}
	cntlid = next_cntlid(t);
	if (!cntlid) {
		/* Controller Busy also says there is no controller available. */
		attachment_drop(t, a);
		return NVME_SC_CONNECT_CTRL_BUSY;
	}
	c = calloc(1, sizeof(*c));
	err = c ? volume_open(&c->vol, t->dir, r->volume) : -ENOMEM;
	if (err < 0) {
		free(c);
		attachment_drop(t, a);
		cv_warn("connect to %s: volume %s: %s", d->subnqn, r->volume, strerror(-err));
		/*
		 * Only a missing volume is the host's mistake; out of
		 * descriptors or a damaged file is ours, and blaming SUBNQN
		 * would send its operator looking in the wrong place.
		 */
		if (err == -ENOENT)
			return invalid_param(dw0, true, offsetof(struct nvmf_connect_data, subnqn));
		return NVME_SC_INTERNAL;
	}
	/* Recorded before anything is answered: from now on the older
	 * attachment's cards are refused, after a restart of ours too. */
	if (r->epoch > admitted) {
		err = volume_epoch_set(t->dir, r->volume, r->epoch);
		if (err) {
			cv_err("volume %s: cannot record epoch %llu: %s", r->volume,
			       (unsigned long long)r->epoch, strerror(-err));
			volume_close(&c->vol);
			free(c);
			attachment_drop(t, a);
			return NVME_SC_INTERNAL;
		}
		if (admitted || a->holder)
			cv_info("volume %s: epoch %llu supersedes epoch %llu", r->volume,
				(unsigned long long)r->epoch, (unsigned long long)admitted);
	}
	c->cntlid = cntlid;
	memcpy(c->hostid, d->hostid, sizeof(c->hostid));
	memcpy(c->hostnqn, d->hostnqn, sizeof(c->hostnqn));
	memcpy(c->subnqn, d->subnqn, sizeof(c->subnqn));
	c->nr_ioq = CTRL_MAX_IOQ;
	c->vwce = true;
	c->kato_ms = r->kato_ms;
	c->connect_ms = now_ms;
	ctrl_keep_alive(c, now_ms);
	/*
	 * The same host again (a reconnect after a lost connection, a
	 * restarted card), or anyone after the holder failed: the new
	 * association supersedes every older one of the volume, and waits
	 * for their file I/O (CTRL_FENCING).
	 */
	for (struct ctrl *o = t->head; o; o = o->next)
		if (o->att == a)
			o->state = CTRL_FAILED;
	c->state = a->nctrl ? CTRL_FENCING : CTRL_LIVE;
	c->att = a;
	c->gen = ++a->gen;
	a->holder = c;
	a->nctrl++;
	c->refs = 1;
	c->next = t->head;
	t->head = c;
	*out = c;
	*dw0 = cntlid;
	return NVME_SC_SUCCESS;
}

uint16_t ctrl_connect(struct ctrl_table *t, const struct connect_req *r,
		      const struct nvmf_connect_data *d, uint64_t now_ms,
		      struct ctrl **out, uint32_t *dw0)
{
	struct ctrl *c;

	*dw0 = 0;
	if (!r->qid)
		return ctrl_create(t, r, d, now_ms, out, dw0);
	/*
	 * An I/O queue joins a live, enabled controller of the same host and
	 * subsystem, once per QID and within what Number of Queues granted.
	 */
	c = find(t, r->cntlid);
	if (!c || c->state == CTRL_FAILED || !same_host(c, d) ||
	    strncmp(c->subnqn, d->subnqn, sizeof(c->subnqn)))
		return invalid_param(dw0, true, offsetof(struct nvmf_connect_data, cntlid));
	if (!ctrl_ready(c))
		return NVME_SC_CMD_SEQ_ERROR;
	if (r->qid > c->nr_ioq || (c->ioq_live[r->qid / 64] >> (r->qid % 64) & 1))
		return invalid_param(dw0, false, offsetof(struct nvmf_connect_cmd, qid));
	c->ioq_live[r->qid / 64] |= 1ull << (r->qid % 64);
	c->refs++;
	*out = c;
	*dw0 = c->cntlid;
	return NVME_SC_SUCCESS;
}

void ctrl_queue_gone(struct ctrl *c, uint16_t qid)
{
	if (qid)
		c->ioq_live[qid / 64] &= ~(1ull << (qid % 64));
	else
		c->state = CTRL_FAILED; /* the association ends with its admin queue */
}

struct ctrl *ctrl_put(struct ctrl_table *t, struct ctrl *c)
{
	struct attachment *a = c->att;

	if (--c->refs)
		return NULL;
	for (struct ctrl **p = &t->head; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			break;
		}
	}
	if (a->holder == c)
		a->holder = NULL;
	a->nctrl--;
	volume_close(&c->vol);
	free(c);
	if (!a->nctrl) {
		attachment_drop(t, a);
		return NULL;
	}
	if (a->nctrl > 1 || !a->holder || a->holder->state != CTRL_FENCING)
		return NULL;
	/* The holder is all that is left: no older I/O can reach the file now. */
	a->holder->state = CTRL_LIVE;
	return a->holder;
}

/* Attribute size per property: CAP is the only 8-byte one we have. */
static uint16_t prop_size_ok(uint32_t offset, uint8_t attrib)
{
	uint8_t want = offset == NVME_REG_CAP ? NVMF_PROP_ATTRIB_SIZE_8 :
		NVMF_PROP_ATTRIB_SIZE_4;

	return (attrib & 7) == want ? NVME_SC_SUCCESS : NVME_SC_INVALID_FIELD;
}

uint16_t ctrl_prop_get(const struct ctrl *c, const struct nvmf_prop_get_cmd *cmd,
		       uint64_t *value)
{
	if (prop_size_ok(cmd->offset, cmd->attrib))
		return NVME_SC_INVALID_FIELD;
	switch (cmd->offset) {
	case NVME_REG_CAP:
		*value = CTRL_CAP;
		return NVME_SC_SUCCESS;
	case NVME_REG_VS:
		*value = CTRL_VS;
		return NVME_SC_SUCCESS;
	case NVME_REG_CC:
		*value = c->cc;
		return NVME_SC_SUCCESS;
	case NVME_REG_CSTS:
		*value = c->csts;
		return NVME_SC_SUCCESS;
	default:
		return NVME_SC_INVALID_FIELD;
	}
}

uint16_t ctrl_prop_set(struct ctrl *c, const struct nvmf_prop_set_cmd *cmd)
{
	uint32_t cc = (uint32_t)cmd->value, old = c->cc;

	if (cmd->offset != NVME_REG_CC || prop_size_ok(cmd->offset, cmd->attrib))
		return NVME_SC_INVALID_FIELD;
	c->cc = cc;
	if ((cc & NVME_CC_EN) && !(old & NVME_CC_EN)) {
		/*
		 * Enabling checks what the controller cannot honour: 64-byte
		 * SQEs, 16-byte CQEs, 4 KiB pages, the NVM command set.  A
		 * mismatch is Controller Fatal Status, as on PCIe.
		 */
		if (NVME_CC_IOSQES(cc) != 6 || NVME_CC_IOCQES(cc) != 4 || NVME_CC_MPS(cc) ||
		    NVME_CC_CSS(cc))
			c->csts |= NVME_CSTS_CFS;
		else
			c->csts |= NVME_CSTS_RDY;
	} else if (!(cc & NVME_CC_EN) && (old & NVME_CC_EN)) {
		c->csts &= ~(NVME_CSTS_RDY | NVME_CSTS_CFS | NVME_CSTS_SHST_MASK);
	}
	if (NVME_CC_SHN(cc) != NVME_CC_SHN_NONE && NVME_CC_SHN(old) == NVME_CC_SHN_NONE) {
		/*
		 * Every write was acknowledged after it reached the file, so
		 * shutdown only has the page cache left to make durable (a
		 * buffered volume; with O_DIRECT this is cheap).
		 */
		if (fdatasync(c->vol.fd) < 0)
			cv_err("volume %s: fdatasync at shutdown: %s", c->vol.id, strerror(errno));
		c->csts = (c->csts & ~NVME_CSTS_SHST_MASK) | NVME_CSTS_SHST_COMPLETE;
	}
	return NVME_SC_SUCCESS;
}

uint16_t ctrl_get_features(const struct ctrl *c, const struct nvme_sqe *sqe, uint32_t *dw0)
{
	uint8_t fid = NVME_FEAT_CDW10_FID(sqe->cdw10);

	/* SEL: current, default and saved values are all the same here. */
	if (NVME_FEAT_CDW10_SEL(sqe->cdw10) == NVME_FEAT_SEL_SUPPORTED &&
	    (fid == NVME_FEAT_VOLATILE_WC || fid == NVME_FEAT_NUM_QUEUES ||
	     fid == NVME_FEAT_ASYNC_EVENT || fid == FEAT_KEEP_ALIVE_TIMER)) {
		*dw0 = NVME_FEAT_CAP_CHANGEABLE;
		return NVME_SC_SUCCESS;
	}
	switch (fid) {
	case NVME_FEAT_VOLATILE_WC:
		*dw0 = c->vwce;
		return NVME_SC_SUCCESS;
	case NVME_FEAT_NUM_QUEUES:
		*dw0 = NVME_NUMQ(c->nr_ioq - 1, c->nr_ioq - 1);
		return NVME_SC_SUCCESS;
	case NVME_FEAT_ASYNC_EVENT:
		*dw0 = c->aec;
		return NVME_SC_SUCCESS;
	case FEAT_KEEP_ALIVE_TIMER:
		*dw0 = c->kato_ms;
		return NVME_SC_SUCCESS;
	default:
		return NVME_SC_INVALID_FIELD;
	}
}

uint16_t ctrl_set_features(struct ctrl *c, const struct nvme_sqe *sqe, uint64_t now_ms,
			   uint32_t *dw0)
{
	uint32_t nsqr, ncqr;

	/* Save: nothing here survives a reset to save into. */
	if (sqe->cdw10 & NVME_FEAT_CDW10_SV)
		return NVME_SC_FEATURE_NOT_SAVEABLE;
	switch (NVME_FEAT_CDW10_FID(sqe->cdw10)) {
	case NVME_FEAT_VOLATILE_WC:
		c->vwce = sqe->cdw11 & 1;
		return NVME_SC_SUCCESS;
	case NVME_FEAT_NUM_QUEUES:
		nsqr = NVME_NUMQ_NSQ(sqe->cdw11);
		ncqr = NVME_NUMQ_NCQ(sqe->cdw11);
		if (nsqr == 0xffff || ncqr == 0xffff)
			return NVME_SC_INVALID_FIELD;
		/* Queues exist from the first I/O Connect: no changing after. */
		for (unsigned i = 0; i < sizeof(c->ioq_live) / sizeof(c->ioq_live[0]); i++)
			if (c->ioq_live[i])
				return NVME_SC_CMD_SEQ_ERROR;
		nsqr = nsqr < ncqr ? nsqr : ncqr;
		c->nr_ioq = (uint16_t)(nsqr + 1 < CTRL_MAX_IOQ ? nsqr + 1 : CTRL_MAX_IOQ);
		*dw0 = NVME_NUMQ(c->nr_ioq - 1, c->nr_ioq - 1);
		return NVME_SC_SUCCESS;
	case NVME_FEAT_ASYNC_EVENT:
		c->aec = sqe->cdw11;
		return NVME_SC_SUCCESS;
	case FEAT_KEEP_ALIVE_TIMER:
		/* Not off either (ctrl_connect_parse). */
		if (!sqe->cdw11)
			return NVME_SC_INVALID_FIELD;
		c->kato_ms = sqe->cdw11;
		ctrl_keep_alive(c, now_ms);
		return NVME_SC_SUCCESS;
	default:
		return NVME_SC_INVALID_FIELD;
	}
}

void ctrl_keep_alive(struct ctrl *c, uint64_t now_ms)
{
	/*
	 * The host sends Keep Alive within KATO; one granule (KAS) of slack
	 * covers the time the command spends on the wire.
	 */
	c->ka_deadline_ms = c->kato_ms ? now_ms + c->kato_ms + CTRL_KAS_MS : 0;
}

bool ctrl_ka_expired(const struct ctrl *c, uint64_t now_ms)
{
	return c->ka_deadline_ms && now_ms > c->ka_deadline_ms;
}
