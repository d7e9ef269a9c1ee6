/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Executing a command once its capsule and data are in: Fabrics (Connect,
 * Property Get/Set), the admin commands, and the NVM I/O commands as file
 * I/O on the daemon's io_uring.  The result goes back through
 * conn_complete() or conn_complete_data() (conn.h), from here or from the
 * I/O's completion.
 */
#ifndef CV_STORAGED_EXEC_H
#define CV_STORAGED_EXEC_H

#include <stdint.h>

#include "tools/storaged/conn.h"

/*
 * What can be checked before any data moves, so a write that cannot
 * succeed is refused before its R2T: a controller that is ready, the
 * namespace, the LBA range.  Sets cmd->off for Read, Write, Write Zeroes.
 */
uint16_t exec_precheck(struct cmd *cmd);
void exec_command(struct cmd *cmd);
/* Answer the admin Connect held while ctrl was CTRL_FENCING (ctrl_put()). */
void exec_connect_fenced(struct storaged *sd, struct ctrl *ctrl);

#endif /* CV_STORAGED_EXEC_H */
