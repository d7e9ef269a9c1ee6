/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The EBS volumes of this host, as the launcher keeps them:
 *   <state>/volumes/<id>.vol   the (sparse) file cv-storaged serves
 *   <state>/volumes/<id>.psk   cv-storaged's copy of its NVMe/TCP TLS PSK
 *                              (tools/lib/nvme_tls_key.h), mode 0600
 *   <state>/keys/<id>.key      its 64-byte AES-256-XTS key, mode 0600
 *   <state>/keys/<id>.psk      the card's copy of the PSK, mode 0600
 * The XTS keys live apart from the volume directory: the storage daemon
 * never reads them, and a copy of the volumes alone is ciphertext.  In
 * root's store the volumes directory and its files belong to the store's
 * ids (jail_store_ids), as which cv-storaged serves from its jail; keys/
 * stays root's, read by each card before its jail.
 *
 * And the host's one cv-storaged, shared by every instance so that a
 * volume outlives the instance that wrote it: started on first need,
 * found again through <rundir>/storaged/pid.
 */
#ifndef CV_VOLUME_STORE_H
#define CV_VOLUME_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VOLUME_STORE_ID_MAX 64
#define VOLUME_STORE_KEY_LEN 64
/* cv-storaged's subsystem NQN for a volume is this and the volume id. */
#define VOLUME_STORE_NQN_PREFIX "nqn.2026-11.io.cardvisor:"

/* $CARDVISOR_STATE, else /var/lib/cardvisor for root, else ~/.local/share/cardvisor. */
const char *volume_store_base(void);
/* mkdir -p <state>/@sub (mode 0700) and put its path in @path. */
int volume_store_subdir(const char *sub, char *path, size_t len);

/* What `cardvisor run --volume` asks for. */
struct volume_spec {
	char id[VOLUME_STORE_ID_MAX + 1];  /* empty: a new volume */
	uint64_t size;                     /* bytes; 0: the existing volume's */
	uint64_t iops, bps;                /* 0: unlimited */
	uint64_t burst_s;                  /* seconds of the rate a burst may use */
	uint64_t hold_s;                   /* storage unreachable: I/O waits this long */
	unsigned queues;
	bool no_tls;                       /* tls=off: plain NVMe/TCP (a target without TLS) */
	bool boot;                         /* boot: the Linux guest's root file system */
	bool virtio_blk;                   /* face=virtio-blk: not NVMe */
	uint64_t epoch;                    /* epoch=N: the attachment's (0: none) */
};

/*
 * Parse "size=1G,id=vol-…,iops=N,mbps=N,burst=SECONDS,queues=N,hold=SECONDS,tls=on|off,face=nvme|virtio-blk,epoch=N,boot" (any order,
 * size or id required).  -EINVAL with a message for the user in @err.
 */
int volume_spec_parse(const char *s, struct volume_spec *v, char *err, size_t errlen);

/* A volume id is 1 to 64 of [A-Za-z0-9_-]: it is also a file name. */
bool volume_store_id_valid(const char *id);

/*
 * Create volume @id of @size bytes (a multiple of 4096) in @dir: the file,
 * sparse, then fsync()ed.  -EEXIST if it exists.  Used by `volume create`.
 */
int volume_file_create(const char *dir, const char *id, uint64_t size);

/*
 * The TLS PSK of volume @id in @dir, <dir>/<id>.psk, made (random, 32
 * bytes, SHA-256 transform) if it does not exist yet; its path in @path.
 */
int volume_psk_prepare(const char *dir, const char *id, char *path, size_t len);

/* Whether volume @id is in the store. */
bool volume_store_exists(const char *id);

/* <state>/volumes/<id>.vol and <state>/keys/<id>.key, into @path. */
int volume_store_data_path(const char *id, char *path, size_t len);
int volume_store_key_path(const char *id, char *path, size_t len);

/*
 * Remove volume @id from the store: its file, its key and both copies of
 * its PSK.  0, or the first error other than -ENOENT (the rest is still
 * tried).
 */
int volume_store_remove(const char *id);

/*
 * Make @v exist in the store: a new id (vol- and 17 hex digits) when it
 * has none, the file and a fresh random key when the volume is new; an
 * existing one must match a given size; either way it has a TLS PSK.  The
 * paths of the key file and the card's PSK file (each of @len bytes) go
 * to @key_path and @psk_path.  0 or a negative errno after printing why on
 * stderr.
 */
int volume_store_prepare(struct volume_spec *v, char *key_path, char *psk_path, size_t len);

/*
 * The address ("127.0.0.1:4420", or $CARDVISOR_STORAGED) of the host's
 * cv-storaged, starting @binary on it when none answers there yet.  0 or a
 * negative errno after printing why on stderr.
 */
int volume_store_storaged(const char *binary, char *target, size_t len);

#endif /* CV_VOLUME_STORE_H */
