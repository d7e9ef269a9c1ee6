/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "tools/lib/log.h"
#include "tools/storaged/cmd.h"
#include "tools/storaged/exec.h"
#include "tools/storaged/identify.h"
#include "tools/storaged/server.h"

/* ---- File I/O ---- */

static uint16_t io_status(const struct cmd *cmd, int err)
{
	if (err == -ENOSPC || err == -EDQUOT)
		return NVME_SC_CAP_EXCEEDED;
	if (cmd->sqe.opc == NVME_NVM_READ)
		return NVME_SC_READ_ERROR;
	return err == -EIO ? NVME_SC_WRITE_FAULT : NVME_SC_INTERNAL;
}

static struct backend *be(const struct cmd *cmd)
{
	return &cmd->conn->sd->be;
}

static int vol_fd(const struct cmd *cmd)
{
	return cmd->conn->ctrl->vol.fd;
}

/* Writes are durable on completion when FUA asks or the cache is off. */
static int write_flags(const struct cmd *cmd)
{
	return (cmd->sqe.cdw12 & NVME_RW_FUA) || !cmd->conn->ctrl->vwce ? RWF_DSYNC : 0;
}

static void submit_rw(struct cmd *cmd)
{
	struct conn *c = cmd->conn;

	cmd->state = CMD_IO;
	c->io_inflight++;
	if (cmd->sqe.opc == NVME_NVM_READ)
		backend_read(be(cmd), &cmd->bio, vol_fd(cmd), cmd->buf + cmd->done,
			     cmd->len - cmd->done, cmd->off + cmd->done);
	else
		backend_write(be(cmd), &cmd->bio, vol_fd(cmd), cmd->buf + cmd->done,
			      cmd->len - cmd->done, cmd->off + cmd->done, write_flags(cmd));
}

static void submit_sync(struct cmd *cmd)
{
	cmd->state = CMD_IO;
	cmd->conn->io_inflight++;
	backend_fdatasync(be(cmd), &cmd->bio, vol_fd(cmd));
}

static void submit_fallocate(struct cmd *cmd, int mode, uint64_t off, uint64_t len)
{
	cmd->state = CMD_IO;
	cmd->conn->io_inflight++;
	backend_fallocate(be(cmd), &cmd->bio, vol_fd(cmd), mode | FALLOC_FL_KEEP_SIZE, off, len);
}

/* The completion of an I/O whose connection went away: just free the slot. */
static bool orphaned(struct cmd *cmd)
{
	cmd->conn->io_inflight--;
	if (!cmd->conn->dead)
		return false;
	cmd_release(cmd);
	return true;
}

/* Completions get the struct bio back: it is the command's first member. */
_Static_assert(offsetof(struct cmd, bio) == 0, "struct cmd starts with its bio");

static void rw_done(struct bio *bio, int res)
{
	struct cmd *cmd = (struct cmd *)bio;

	if (orphaned(cmd))
		return;
	if (res <= 0) {
		/* 0: a read at end of file, which the range check excludes. */
		cv_err_once("volume %s: %s at byte %llu: %s", cmd->conn->ctrl->vol.id,
			    cmd->sqe.opc == NVME_NVM_READ ? "read" : "write",
			    (unsigned long long)(cmd->off + cmd->done),
			    strerror(res ? -res : EIO));
		conn_complete(cmd, io_status(cmd, res ? res : -EIO), 0, 0);
		return;
	}
	cmd->done += (uint32_t)res;
	if (cmd->done < cmd->len) {
		submit_rw(cmd);   /* short transfer: the rest */
		return;
	}
	if (cmd->sqe.opc == NVME_NVM_READ)
		conn_complete_data(cmd);
	else
		conn_complete(cmd, NVME_SC_SUCCESS, 0, 0);
}

static void sync_done(struct bio *bio, int res)
{
	struct cmd *cmd = (struct cmd *)bio;

	if (orphaned(cmd))
		return;
	if (res < 0)
		cv_err_once("volume %s: fdatasync: %s", cmd->conn->ctrl->vol.id, strerror(-res));
	conn_complete(cmd, res < 0 ? NVME_SC_WRITE_FAULT : NVME_SC_SUCCESS, 0, 0);
}

/*
 * Write Zeroes (NVM, "Write Zeroes command"): ZERO_RANGE, or PUNCH_HOLE
 * when DEAC asks to deallocate or the file system cannot zero in place
 * (deallocated blocks read as zeros: DLFEAT).  FUA adds an fdatasync.
 */
#define WZ_DEAC (1u << 25)

static void wz_done(struct bio *bio, int res)
{
	struct cmd *cmd = (struct cmd *)bio;
	uint64_t len = (uint64_t)cmd->len;

	if (orphaned(cmd))
		return;
	if (res == -EOPNOTSUPP && cmd->step == 0) {
		cmd->step = 1;
		submit_fallocate(cmd, FALLOC_FL_PUNCH_HOLE, cmd->off, len);
		return;
	}
	if (res < 0) {
		cv_err_once("volume %s: write zeroes: %s", cmd->conn->ctrl->vol.id,
			    strerror(-res));
		conn_complete(cmd, io_status(cmd, res), 0, 0);
		return;
	}
	if (cmd->sqe.cdw12 & NVME_RW_FUA || !cmd->conn->ctrl->vwce) {
		cmd->bio.done = sync_done;
		submit_sync(cmd);
		return;
	}
	conn_complete(cmd, NVME_SC_SUCCESS, 0, 0);
}

/*
 * DSM ranges are deallocated one after the other, cmd->step counting them.
 * There are NR+1 of them at the start of the buffer, which may be longer
 * (cmd_xfer()): what follows them is not ranges.
 */
static uint32_t dsm_nr(const struct cmd *cmd)
{
	return NVME_DSM_NR(cmd->sqe.cdw10);
}

static void dsm_next(struct cmd *cmd)
{
	const struct nvme_dsm_range *r = (const struct nvme_dsm_range *)cmd->buf;
	uint32_t nr = dsm_nr(cmd);

	while (cmd->step < nr && !r[cmd->step].nlb)
		cmd->step++;
	if (cmd->step == nr) {
		conn_complete(cmd, NVME_SC_SUCCESS, 0, 0);
		return;
	}
	submit_fallocate(cmd, FALLOC_FL_PUNCH_HOLE, r[cmd->step].slba << VOLUME_LBA_SHIFT,
			 (uint64_t)r[cmd->step].nlb << VOLUME_LBA_SHIFT);
	cmd->step++;
}

static void dsm_done(struct bio *bio, int res)
{
	struct cmd *cmd = (struct cmd *)bio;

	if (orphaned(cmd))
		return;
	if (res < 0 && res != -EOPNOTSUPP) {
		cv_err_once("volume %s: deallocate: %s", cmd->conn->ctrl->vol.id, strerror(-res));
		conn_complete(cmd, NVME_SC_INTERNAL, 0, 0);
		return;
	}
	/* Deallocate is advisory: a file system without holes keeps the data. */
	dsm_next(cmd);
}

static uint16_t dsm_check(const struct cmd *cmd)
{
	const struct nvme_dsm_range *r = (const struct nvme_dsm_range *)cmd->buf;
	uint64_t nsze = cmd->conn->ctrl->vol.nsze;

	for (uint32_t i = 0; i < dsm_nr(cmd); i++)
		if (r[i].slba > nsze || r[i].nlb > nsze - r[i].slba)
			return NVME_SC_LBA_RANGE;
	return NVME_SC_SUCCESS;
}

/* ---- Commands ---- */

/* A peer's string for a log line: at most max bytes, unprintables as '?'. */
static const char *printable(const char *s, size_t max, char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < max && i + 1 < len && s[i]; i++)
		buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	buf[i] = '\0';
	return buf;
}

/* The queue is its controller's now: the Connect's response, with CNTLID. */
static void connect_answer(struct cmd *cmd)
{
	struct conn *c = cmd->conn;

	/* Until now one slot, the Connect's: the SQ is SQSIZE + 1 entries from here. */
	c->nslots = ((const struct nvmf_connect_cmd *)&cmd->sqe)->sqsize + 1;
	conn_complete(cmd, NVME_SC_SUCCESS, c->ctrl->cntlid, 0);
}

/*
 * Close every queue of the controllers a new association of the volume
 * superseded: what their hosts send from now on is never read.  Their file
 * I/O in flight still completes, and holds the new association's Connect.
 */
static void close_superseded(const struct conn *c)
{
	const struct ctrl *ctrl = c->ctrl;
	char why[80];

	snprintf(why, sizeof(why), "superseded by cntlid %u (generation %llu)", ctrl->cntlid,
		 (unsigned long long)ctrl->gen);
	for (struct conn *o = c->sd->conns; o; o = o->next)
		if (o->ctrl && o->ctrl != ctrl && o->ctrl->att == ctrl->att)
			conn_close(o, why);
}

static void exec_connect(struct cmd *cmd)
{
	struct conn *c = cmd->conn;
	const struct nvmf_connect_data *d = (const struct nvmf_connect_data *)cmd->buf;
	struct connect_req r;
	char nqn[NVMF_NQN_FIELD_LEN + 1], holder[NVMF_NQN_FIELD_LEN + 1];
	struct ctrl *ctrl = NULL;
	uint32_t dw0;
	uint16_t st;

	if (c->ctrl) {
		conn_complete(cmd, NVME_SC_CMD_SEQ_ERROR, 0, 0);
		return;
	}
	st = ctrl_connect_parse((const struct nvmf_connect_cmd *)&cmd->sqe, d, &r, &dw0);
	if (!st && c->tls) {
		const char *host, *sub;

		nvme_tls_peer(c->tls, &host, &sub);
		st = ctrl_connect_bound(d, host, sub, &dw0);
	}
	if (!st && volume_host_allowed(c->sd->ctrls.dir, r.volume, d->hostnqn)) {
		cv_warn("%s: connect to volume %s refused (Connect Invalid Host): host %s is not "
			"on its list", c->peer, r.volume,
			printable(d->hostnqn, sizeof(d->hostnqn), nqn, sizeof(nqn)));
		conn_complete(cmd, NVME_SC_CONNECT_INVALID_HOST, 0, 0);
		return;
	}
	if (!st)
		st = ctrl_connect(&c->sd->ctrls, &r, d, storaged_now_ms(), &ctrl, &dw0);
	if (st == NVME_SC_CONNECT_CTRL_BUSY && ctrl) {
		cv_warn("%s: connect to volume %s refused (Controller Busy): host %s holds it "
			"(cntlid %u, generation %llu), refused host %s", c->peer, r.volume,
			printable(ctrl->hostnqn, sizeof(ctrl->hostnqn), holder, sizeof(holder)),
			ctrl->cntlid, (unsigned long long)ctrl->gen,
			printable(d->hostnqn, sizeof(d->hostnqn), nqn, sizeof(nqn)));
		conn_complete(cmd, st, dw0, 0);
		return;
	}
	if (st) {
		cv_warn("%s: connect qid %u to %s refused: status 0x%03x (dw0 0x%08x)",
			c->peer, ((const struct nvmf_connect_cmd *)&cmd->sqe)->qid,
			printable(d->subnqn, sizeof(d->subnqn), nqn, sizeof(nqn)), st, dw0);
		conn_complete(cmd, st, dw0, 0);
		return;
	}
	c->ctrl = ctrl;
	c->qid = r.qid;
	cv_info("%s: connect qid %u sqsize %u cntlid %u subnqn %s hostnqn %s generation %llu%s",
		c->peer, r.qid, r.sqsize, ctrl->cntlid, ctrl->subnqn,
		printable(d->hostnqn, sizeof(d->hostnqn), nqn, sizeof(nqn)),
		(unsigned long long)ctrl->gen, ctrl->state == CTRL_FENCING ?
		": supersedes older controllers, answered once their file I/O is done" : "");
	if (ctrl->state != CTRL_FENCING) {
		connect_answer(cmd);
		return;
	}
	close_superseded(c);
	cmd->state = CMD_CONNECT_HELD;
}

void exec_connect_fenced(struct storaged *sd, struct ctrl *ctrl)
{
	uint64_t now = storaged_now_ms();

	/* Keep alive counts from the response: the host could send nothing before it. */
	ctrl_keep_alive(ctrl, now);
	/* A fenced controller is failed once its admin queue closes: this one has it. */
	for (struct conn *c = sd->conns; c; c = c->next) {
		if (c->ctrl != ctrl || c->dead)
			continue;
		for (unsigned i = 0; i < c->nslots; i++) {
			if (c->cmds[i].state != CMD_CONNECT_HELD)
				continue;
			cv_info("%s: cntlid %u generation %llu: connect answered after %llu ms, "
				"the superseded controllers' file I/O done", c->peer, ctrl->cntlid,
				(unsigned long long)ctrl->gen,
				(unsigned long long)(now - ctrl->connect_ms));
			connect_answer(&c->cmds[i]);
			return;
		}
	}
}

static void exec_fabrics(struct cmd *cmd)
{
	const struct nvmf_cmd *f = (const struct nvmf_cmd *)&cmd->sqe;
	struct ctrl *ctrl = cmd->conn->ctrl;
	uint64_t v = 0;
	uint16_t st;

	if (f->fctype == NVMF_FCTYPE_CONNECT) {
		exec_connect(cmd);
		return;
	}
	/* Properties belong to the controller, reached through its admin queue. */
	if (!ctrl || cmd->conn->qid) {
		conn_complete(cmd, !ctrl ? NVME_SC_CMD_SEQ_ERROR : NVME_SC_INVALID_FIELD, 0, 0);
		return;
	}
	if (f->fctype == NVMF_FCTYPE_PROP_GET)
		st = ctrl_prop_get(ctrl, (const struct nvmf_prop_get_cmd *)&cmd->sqe, &v);
	else
		st = ctrl_prop_set(ctrl, (const struct nvmf_prop_set_cmd *)&cmd->sqe);
	conn_complete(cmd, st, (uint32_t)v, (uint32_t)(v >> 32));
}

static void exec_admin(struct cmd *cmd)
{
	struct ctrl *ctrl = cmd->conn->ctrl;
	uint32_t dw0 = 0;
	uint16_t st;

	switch (cmd->sqe.opc) {
	case NVME_ADMIN_IDENTIFY:
		st = identify(ctrl, &cmd->sqe, cmd->buf);
		if (!st) {
			conn_complete_data(cmd);
			return;
		}
		break;
	case NVME_ADMIN_GET_LOG_PAGE:
		st = get_log_page(&cmd->sqe);
		if (!st) {
			conn_complete_data(cmd);
			return;
		}
		break;
	case NVME_ADMIN_GET_FEATURES:
		st = ctrl_get_features(ctrl, &cmd->sqe, &dw0);
		break;
	case NVME_ADMIN_SET_FEATURES:
		st = ctrl_set_features(ctrl, &cmd->sqe, storaged_now_ms(), &dw0);
		break;
	case NVME_ADMIN_KEEP_ALIVE:
		ctrl_keep_alive(ctrl, storaged_now_ms());
		st = NVME_SC_SUCCESS;
		break;
	case NVME_ADMIN_ASYNC_EVENT:
		/* Held: there is no event to report yet (a resize, one day). */
		if (ctrl->aer_held > CTRL_AERL) {
			st = NVME_SC_AER_LIMIT;
			break;
		}
		ctrl->aer_held++;
		cmd->state = CMD_AER;
		return;
	default:
		st = NVME_SC_INVALID_OPCODE;
		break;
	}
	conn_complete(cmd, st, dw0, 0);
}

static void exec_io(struct cmd *cmd)
{
	switch (cmd->sqe.opc) {
	case NVME_NVM_READ:
	case NVME_NVM_WRITE:
		cmd->bio.done = rw_done;
		cmd->done = 0;
		submit_rw(cmd);
		return;
	case NVME_NVM_FLUSH:
		cmd->bio.done = sync_done;
		submit_sync(cmd);
		return;
	case NVME_NVM_WRITE_ZEROES:
		cmd->bio.done = wz_done;
		cmd->step = 0;
		submit_fallocate(cmd, cmd->sqe.cdw12 & WZ_DEAC ? FALLOC_FL_PUNCH_HOLE :
				 FALLOC_FL_ZERO_RANGE, cmd->off, cmd->len);
		return;
	case NVME_NVM_DSM: {
		uint16_t st = dsm_check(cmd);

		if (st || !(cmd->sqe.cdw11 & NVME_DSM_AD)) {
			/* Without AD the ranges are only access hints. */
			conn_complete(cmd, st, 0, 0);
			return;
		}
		cmd->bio.done = dsm_done;
		cmd->step = 0;
		dsm_next(cmd);
		return;
	}
	default:
		conn_complete(cmd, NVME_SC_INVALID_OPCODE, 0, 0);
	}
}

void exec_command(struct cmd *cmd)
{
	if (cmd->sqe.opc == NVME_ADMIN_FABRICS)
		exec_fabrics(cmd);
	else if (cmd->conn->qid == 0)
		exec_admin(cmd);
	else
		exec_io(cmd);
}

uint16_t exec_precheck(struct cmd *cmd)
{
	struct conn *c = cmd->conn;
	uint64_t slba;
	uint32_t nlb;
	uint16_t st;

	if (cmd->sqe.opc == NVME_ADMIN_FABRICS)
		return NVME_SC_SUCCESS;
	/* Before Connect only Connect; before CC.EN only Fabrics commands. */
	if (!c->ctrl || !ctrl_ready(c->ctrl))
		return NVME_SC_CMD_SEQ_ERROR;
	if (c->qid == 0)
		return NVME_SC_SUCCESS;
	switch (cmd->sqe.opc) {
	case NVME_NVM_READ:
	case NVME_NVM_WRITE:
	case NVME_NVM_WRITE_ZEROES:
		if (cmd->sqe.nsid != IDENTIFY_NSID)
			return NVME_SC_INVALID_NS;
		st = cmd_lba_range(&cmd->sqe, c->ctrl->vol.nsze, &slba, &nlb);
		cmd->off = slba << VOLUME_LBA_SHIFT;
		if (cmd->sqe.opc == NVME_NVM_WRITE_ZEROES)
			cmd->len = nlb << VOLUME_LBA_SHIFT; /* no data: the range only */
		return st;
	case NVME_NVM_DSM:
		return cmd->sqe.nsid == IDENTIFY_NSID ? NVME_SC_SUCCESS : NVME_SC_INVALID_NS;
	case NVME_NVM_FLUSH:
		/* NSID 1, or all namespaces: FFFFFFFFh. */
		return cmd->sqe.nsid == IDENTIFY_NSID || cmd->sqe.nsid == NVME_NSID_BROADCAST ?
			NVME_SC_SUCCESS : NVME_SC_INVALID_NS;
	default:
		return NVME_SC_SUCCESS;
	}
}
