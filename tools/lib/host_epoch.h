/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Attachment epochs on the wire (docs/storaged.md, "Epochs"): a volume's
 * attachment is numbered, each new one higher than the last (the fleet
 * bumps it with a compare-and-swap in etcd), and the card carries its
 * attachment's number at the end of its host NQN, "<host NQN>:epoch:<N>".
 * cv-storaged remembers the highest number each volume has seen and
 * refuses an association with a lower one, so a card left behind by an
 * older attachment can never write after a newer one has connected.  The
 * host NQN is where: it is the host's own string (Base 2.0, "NVMe
 * Qualified Names"), any NVMe/TCP host (Linux's included) can send one,
 * and with TLS the PSK identity binds it to the handshake.
 */
#ifndef CV_HOST_EPOCH_H
#define CV_HOST_EPOCH_H

#include <stddef.h>
#include <stdint.h>

#define HOST_EPOCH_TAG ":epoch:"

/*
 * The epoch @hostnqn carries (0 without the tag) and, if @host_len is not
 * NULL, the length of the host's NQN before the tag; -EINVAL when the tag
 * is not followed by 1 to 20 decimal digits (no leading zero) ending the
 * NQN, or names more than UINT64_MAX.
 */
int host_epoch_parse(const char *hostnqn, uint64_t *epoch, size_t *host_len);
/*
 * @hostnqn with @epoch's tag (none for 0) into @out: -ENAMETOOLONG past
 * @len or NVMe's 223 bytes.
 */
int host_epoch_nqn(char *out, size_t len, const char *hostnqn, uint64_t epoch);

#endif /* CV_HOST_EPOCH_H */
