/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A volume: the file <dir>/<id>.vol, served as the one namespace of the
 * NVM subsystem nqn.2026-11.io.cardvisor:<id> (NVMe Base 2.0, "NVMe
 * Qualified Names": a date-qualified reverse domain, then a colon and a
 * string the owner of the domain chooses).
 */
#ifndef CV_STORAGED_VOLUME_H
#define CV_STORAGED_VOLUME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tools/lib/volume_image.h"
#include "tools/lib/volume_store.h"

/* The launcher's names: ids and NQNs are one scheme on both sides. */
#define VOLUME_NQN_PREFIX VOLUME_STORE_NQN_PREFIX
#define VOLUME_ID_MAX     VOLUME_STORE_ID_MAX
/* One logical block: 4 KiB, so O_DIRECT's alignment always holds. */
#define VOLUME_LBA_SHIFT  VOLUME_BLOCK_SHIFT
#define VOLUME_LBA_SIZE   (1u << VOLUME_LBA_SHIFT)

struct volume {
	char id[VOLUME_ID_MAX + 1];
	int fd;
	bool direct;          /* opened O_DIRECT */
	uint64_t nsze;        /* blocks: file size / 4096 */
	uint8_t nguid[16];    /* Namespace Globally Unique Identifier */
};

/*
 * The volume id an NQN names, or -EINVAL if it is not
 * VOLUME_NQN_PREFIX followed by a valid id.  nqn may lack its NUL within
 * NVMF_NQN_FIELD_LEN bytes: that is rejected too.
 */
int volume_id_from_nqn(const char *nqn, size_t field_len, char id[VOLUME_ID_MAX + 1]);

/*
 * Open <dir>/<id>.vol for I/O, O_DIRECT where the file system takes it
 * (else buffered, with a log line).  -ENOENT if there is no such volume,
 * -EINVAL if its size is not a multiple of 4096 bytes.
 */
int volume_open(struct volume *v, const char *dir, const char *id);
void volume_close(struct volume *v);

/*
 * Whether @hostnqn may connect to volume @id: yes if there is no
 * <dir>/<id>.hosts, else only if that file lists it, its epoch tag left
 * out (tools/lib/host_epoch.h; a malformed tag: not listed) (one host NQN per
 * line; blank lines and lines starting with '#' ignored; spaces around a
 * name trimmed).  0 allowed, -EACCES not listed; a list that cannot be
 * trusted or read (tools/lib/safe_file.h: a symlink, not a regular file,
 * writable by group or others, another owner than this uid or root; or
 * over 64 KiB) is -ELOOP, -EPERM, -EFBIG or the read's errno, with one log
 * line: it admits nobody.
 */
int volume_host_allowed(const char *dir, const char *id, const char *hostnqn);

/*
 * The highest attachment epoch volume @id has admitted (tools/lib/
 * host_epoch.h), kept in <dir>/<id>.epoch: 0 without the file or with an
 * empty one.  A file that is not a number is -EBADMSG (one log line): it
 * admits nobody.
 */
int volume_epoch_get(const char *dir, const char *id, uint64_t *epoch);
/* Record @epoch durably (synced and renamed into place, directory synced). */
int volume_epoch_set(const char *dir, const char *id, uint64_t epoch);

/* Bytes the volume's file occupies on disk (Identify Namespace NUSE). */
uint64_t volume_blocks_used(const struct volume *v);

#endif /* CV_STORAGED_VOLUME_H */
